/* Time namespaces (time_namespaces(7)): unshare(CLONE_NEWTIME) makes the namespace the
 * caller's children enter, whose CLOCK_MONOTONIC and CLOCK_BOOTTIME offsets are written to
 * /proc/PID/timens_offsets until a process enters it; clock_gettime (the vDSO's too),
 * absolute sleeps and timers, /proc/uptime and sysinfo see the namespace's clocks; setns
 * moves the caller. */
#include "../compat.h"
#include <sched.h>
#include <sys/prctl.h>
#include <sys/sysinfo.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif

/* Writes `text` to /proc/self/timens_offsets in one write: 0, or the errno. */
static int set_offsets(const char *text) {
    int fd = open("/proc/self/timens_offsets", O_WRONLY);
    if (fd < 0) return errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = n < 0 ? errno : 0;
    close(fd);
    return e;
}

static long long seconds(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec;
}

static long long raw_seconds(clockid_t c) {
    struct timespec t;
    syscall(SYS_clock_gettime, c, &t);
    return t.tv_sec;
}

CASE(children_of_an_unshare_see_the_offsets_written_before_they_entered) {
    pid_t child = fork();
    if (child == 0) {
        char before[64] = {0}, after[64], children[64];
        EXPECT(readlink("/proc/self/ns/time", before, sizeof before - 1) > 0);
        EXPECT_OK(unshare(CLONE_NEWTIME));
        memset(after, 0, sizeof after);
        memset(children, 0, sizeof children);
        EXPECT(readlink("/proc/self/ns/time", after, sizeof after) > 0);
        EXPECT(readlink("/proc/self/ns/time_for_children", children, sizeof children) > 0);
        EXPECT_STREQ(after, before); /* the caller stays */
        EXPECT(strcmp(children, before) != 0);
        char buf[256];
        slurp("/proc/self/timens_offsets", buf, sizeof buf);
        EXPECT_STREQ(buf, "monotonic           0         0\nboottime            0         0\n");
        EXPECT_EQ(set_offsets("monotonic 86400 0\nboottime 172800 5\n"), 0);
        slurp("/proc/self/timens_offsets", buf, sizeof buf);
        EXPECT_STREQ(buf, "monotonic       86400         0\nboottime       172800         5\n");
        long long mono = seconds(CLOCK_MONOTONIC), boot = seconds(CLOCK_BOOTTIME), real = seconds(CLOCK_REALTIME);
        int fds[2];
        EXPECT_OK(pipe(fds));
        pid_t inside = fork();
        if (inside == 0) {
            long long v[6] = {seconds(CLOCK_MONOTONIC), seconds(CLOCK_BOOTTIME), seconds(CLOCK_REALTIME),
                              raw_seconds(CLOCK_MONOTONIC), raw_seconds(CLOCK_BOOTTIME), seconds(CLOCK_MONOTONIC_COARSE)};
            char ns[64] = {0};
            EXPECT(readlink("/proc/self/ns/time", ns, sizeof ns) > 0);
            EXPECT_STREQ(ns, children);
            if (write(fds[1], v, sizeof v) != sizeof v) _exit(1);
            _exit(0);
        }
        long long v[6];
        EXPECT_EQ(read(fds[0], v, sizeof v), sizeof v);
        EXPECT_EQ(wait_status(inside), 0);
        EXPECT(v[0] - mono >= 86400 && v[0] - mono <= 86402);
        EXPECT(v[1] - boot >= 172800 && v[1] - boot <= 172802);
        EXPECT(v[2] - real >= 0 && v[2] - real <= 2);
        EXPECT(v[3] - mono >= 86400 && v[3] - mono <= 86402); /* the system call's too */
        EXPECT(v[4] - boot >= 172800 && v[4] - boot <= 172802);
        EXPECT(v[5] - mono >= 86399 && v[5] - mono <= 86402);
        /* Entered: the offsets stay. */
        EXPECT_EQ(set_offsets("monotonic 1 0"), EACCES);
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
}

CASE(timens_offsets_take_names_or_numbers_and_refuse_bad_values) {
    pid_t child = fork();
    if (child == 0) {
        EXPECT_OK(unshare(CLONE_NEWTIME));
        EXPECT_EQ(set_offsets("realtime 1 0"), EINVAL);
        EXPECT_EQ(set_offsets("monotonic 1 1000000000"), EINVAL);
        EXPECT_EQ(set_offsets("monotonic 1 -1"), EINVAL);
        EXPECT_EQ(set_offsets("monotonic 99999999999999 0"), ERANGE);
        EXPECT_EQ(set_offsets("monotonic -99999999999 0"), ERANGE); /* the clock would be negative */
        EXPECT_EQ(set_offsets("1 -1 0"), 0);                        /* CLOCK_MONOTONIC by number */
        EXPECT_EQ(set_offsets("7 3 0"), 0);                         /* CLOCK_BOOTTIME */
        char buf[256];
        slurp("/proc/self/timens_offsets", buf, sizeof buf);
        EXPECT_STREQ(buf, "monotonic          -1         0\nboottime            3         0\n");
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
}

CASE(absolute_sleeps_and_timers_count_in_the_namespaces_clock) {
    pid_t child = fork();
    if (child == 0) {
        EXPECT_OK(unshare(CLONE_NEWTIME));
        EXPECT_EQ(set_offsets("monotonic 864000 0\nboottime 864000 0"), 0);
        pid_t inside = fork();
        if (inside == 0) {
            struct timespec t, a, b;
            clock_gettime(CLOCK_MONOTONIC, &t);
            t.tv_nsec += 50000000;
            if (t.tv_nsec >= 1000000000) { t.tv_sec++; t.tv_nsec -= 1000000000; }
            clock_gettime(CLOCK_REALTIME, &a);
            EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL), 0);
            clock_gettime(CLOCK_REALTIME, &b);
            long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
            EXPECT(ms >= 40 && ms < 2000);
            /* A timerfd armed at an absolute time of the namespace's clock. */
            int tfd = timerfd_create(CLOCK_BOOTTIME, 0);
            EXPECT(tfd >= 0);
            struct itimerspec its = {0};
            clock_gettime(CLOCK_BOOTTIME, &its.it_value);
            its.it_value.tv_nsec += 50000000;
            if (its.it_value.tv_nsec >= 1000000000) { its.it_value.tv_sec++; its.it_value.tv_nsec -= 1000000000; }
            EXPECT_OK(timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL));
            struct itimerspec left;
            EXPECT_OK(timerfd_gettime(tfd, &left));
            EXPECT(left.it_value.tv_sec == 0); /* relative: what is left, not the offset */
            uint64_t n;
            EXPECT_EQ(read(tfd, &n, sizeof n), sizeof n);
            EXPECT_EQ(n, 1);
            /* Uptime is the namespace's boot time. */
            struct sysinfo si;
            EXPECT_OK(sysinfo(&si));
            EXPECT(si.uptime >= 864000);
            char buf[128];
            EXPECT(slurp("/proc/uptime", buf, sizeof buf) > 0);
            EXPECT(atof(buf) >= 864000);
            _exit(0);
        }
        EXPECT_EQ(wait_status(inside), 0);
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
}

CASE(setns_moves_the_caller_into_a_time_namespace) {
    int ready[2], done[2];
    EXPECT_OK(pipe(ready));
    EXPECT_OK(pipe(done));
    pid_t owner = fork();
    if (owner == 0) {
        EXPECT_OK(unshare(CLONE_NEWTIME));
        EXPECT_EQ(set_offsets("monotonic 500000 0"), 0);
        pid_t inside = fork();
        if (inside == 0) {
            char c;
            if (write(ready[1], "r", 1) != 1 || read(done[0], &c, 1) != 1) _exit(1);
            _exit(0);
        }
        EXPECT_EQ(wait_status(inside), 0);
        _exit(0);
    }
    char c;
    EXPECT_EQ(read(ready[0], &c, 1), 1);
    pid_t joiner = fork();
    if (joiner == 0) {
        /* The namespace of the owner's child (the owner itself stayed outside). */
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task/%d/children", owner, owner);
        char kids[64] = {0};
        EXPECT(slurp(path, kids, sizeof kids) > 0);
        snprintf(path, sizeof path, "/proc/%d/ns/time", atoi(kids));
        int fd = open(path, O_RDONLY);
        EXPECT(fd >= 0);
        long long before = seconds(CLOCK_MONOTONIC);
        EXPECT_OK(setns(fd, CLONE_NEWTIME));
        long long after = seconds(CLOCK_MONOTONIC);
        EXPECT(after - before >= 500000 && after - before <= 500002);
        _exit(0);
    }
    EXPECT_EQ(wait_status(joiner), 0);
    EXPECT_EQ(write(done[1], "x", 1), 1);
    EXPECT_EQ(wait_status(owner), 0);
}

static void time_namespace_with_user_namespace(void) {
    EXPECT_ERRNO(unshare(CLONE_NEWTIME), EPERM);
    EXPECT_OK(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
    EXPECT_OK(unshare(CLONE_NEWUSER | CLONE_NEWTIME));
    EXPECT_EQ(set_offsets("boottime 60 0"), 0); /* CAP_SYS_TIME over the namespace it owns */
}

CASE(an_unprivileged_time_namespace_comes_with_a_user_namespace) {
    AS_NOBODY(time_namespace_with_user_namespace);
}

CASE(execve_enters_the_time_namespace_made_for_children) {
    int fds[2];
    EXPECT_OK(pipe(fds));
    char children[64] = {0};
    pid_t child = fork();
    if (child == 0) {
        EXPECT_OK(unshare(CLONE_NEWTIME));
        EXPECT(readlink("/proc/self/ns/time_for_children", children, sizeof children - 1) > 0);
        if (write(fds[1], children, sizeof children) != sizeof children) _exit(1);
        EXPECT_EQ(set_offsets("boottime 864000 0"), 0);
        dup2(fds[1], 1);
        execl("/bin/sh", "sh", "-c", "readlink /proc/self/ns/time; cat /proc/uptime", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    EXPECT_EQ(read(fds[0], children, sizeof children), sizeof children);
    char out[256] = {0};
    size_t n = 0;
    for (ssize_t r; (r = read(fds[0], out + n, sizeof out - 1 - n)) > 0;) n += r;
    EXPECT_EQ(wait_status(child), 0);
    char *nl = strchr(out, '\n');
    EXPECT(nl != NULL);
    *nl = 0;
    EXPECT_STREQ(out, children); /* the exec'd program (and its children) are in it */
    EXPECT(atof(nl + 1) >= 864000);
}

/* Uptime is CLOCK_BOOTTIME as the reader's namespace shows it (do_sysinfo and /proc/uptime
 * read the boot-time clock), so a negative boot-time offset takes exactly that much off a
 * child's uptime (LTP's sysinfo03): the sandbox's uptime may not start at the sandbox's own
 * start while its CLOCK_BOOTTIME is the host's. */
CASE(uptime_is_the_boot_time_clock_and_moves_with_its_offset) {
    struct sysinfo si;
    EXPECT_OK(sysinfo(&si));
    long long boot = seconds(CLOCK_BOOTTIME);
    EXPECT(si.uptime >= boot && si.uptime <= boot + 2);
    pid_t child = fork();
    if (child == 0) {
        EXPECT_OK(unshare(CLONE_NEWTIME));
        EXPECT_EQ(set_offsets("boottime -10 0"), 0);
        struct sysinfo before;
        EXPECT_OK(sysinfo(&before));
        pid_t inside = fork();
        if (inside == 0) {
            struct sysinfo after;
            EXPECT_OK(sysinfo(&after));
            long diff = after.uptime - before.uptime;
            EXPECT(diff >= -10 && diff <= -9);
            char buf[128];
            EXPECT(slurp("/proc/uptime", buf, sizeof buf) > 0);
            long proc = (long)atof(buf);
            EXPECT(after.uptime >= proc && after.uptime <= proc + 1);
            _exit(0);
        }
        EXPECT_EQ(wait_status(inside), 0);
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
}

COMPAT_MAIN()
