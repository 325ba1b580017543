/* PID namespaces: clone(CLONE_NEWPID), unshare and setns of CLONE_NEWPID, clone3's set_tid
 * per level; the ids a process sees (getpid, getppid, wait, siginfo, /proc), the init of a
 * namespace (signals from inside, its exit killing the rest). */
#include "../compat.h"
#include <dirent.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>

struct clone_args_v2 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size;
};

static long clone3_(struct clone_args_v2 *a, size_t size) { return syscall(SYS_clone3, a, size); }

/* fork() into a new pid namespace: 0 in the child, as fork. */
static pid_t fork_newpid(void) {
    struct clone_args_v2 a = {.flags = CLONE_NEWPID, .exit_signal = SIGCHLD};
    return clone3_(&a, sizeof a);
}

static void ns_link(const char *path, char *out, size_t size) {
    ssize_t n = readlink(path, out, size - 1);
    out[n > 0 ? n : 0] = 0;
}

/* The NSpid line of /proc/PID/status. */
static void nspid(pid_t pid, char *out, size_t size) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    out[0] = 0;
    if (slurp(path, buf, sizeof buf) <= 0) return;
    char *line = strstr(buf, "\nNSpid:\t");
    if (!line) return;
    line += 8;
    size_t n = strcspn(line, "\n");
    if (n >= size) n = size - 1;
    memcpy(out, line, n);
    out[n] = 0;
}

CASE(clone_newpid_child_is_pid_1_and_its_children_count_from_2) {
    char outer[64];
    ns_link("/proc/self/ns/pid", outer, sizeof outer);
    int fds[2], go[2];
    EXPECT_OK(pipe(fds));
    EXPECT_OK(pipe(go));
    pid_t child = fork_newpid();
    if (child == 0) {
        if (getpid() != 1) _exit(1);
        if (getppid() != 0) _exit(2); /* the parent is outside the namespace */
        if (syscall(SYS_gettid) != 1) _exit(3);
        char inner[64];
        ns_link("/proc/self/ns/pid", inner, sizeof inner);
        if (strcmp(inner, outer) == 0) _exit(4);
        pid_t g = fork();
        if (g == 0) _exit(getpid() == 2 && getppid() == 1 ? 0 : 1);
        if (g != 2) _exit(5);
        int st;
        if (waitpid(-1, &st, 0) != 2 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) _exit(6);
        /* The ids of the namespace: kill and waitpid take them. */
        g = fork();
        if (g == 0) { pause(); _exit(0); }
        if (kill(g, SIGKILL) != 0) _exit(7);
        siginfo_t si = {0};
        if (waitid(P_PID, g, &si, WEXITED) != 0 || si.si_pid != g || si.si_code != CLD_KILLED) _exit(8);
        if (write(fds[1], "x", 1) != 1) _exit(9);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(10);
        _exit(0);
    }
    EXPECT(child > 1);
    char c;
    EXPECT_EQ(read(fds[0], &c, 1), 1);
    /* Seen from here, the child has its number in each namespace. */
    char line[128], want[128];
    nspid(child, line, sizeof line);
    snprintf(want, sizeof want, "%d\t1", child);
    EXPECT_STREQ(line, want);
    EXPECT_EQ(write(go[1], "x", 1), 1);
    EXPECT_EQ(wait_status(child), 0);
}

CASE(unshare_newpid_moves_the_children_not_the_caller) {
    pid_t p = fork();
    if (p == 0) {
        pid_t before = getpid();
        if (unshare(CLONE_NEWPID) != 0) _exit(1);
        if (getpid() != before) _exit(2);
        char pid[64], children[64];
        ns_link("/proc/self/ns/pid", pid, sizeof pid);
        ns_link("/proc/self/ns/pid_for_children", children, sizeof children);
        if (strcmp(pid, children) == 0) _exit(3);
        if (unshare(CLONE_NEWPID) == 0 || errno != EINVAL) _exit(4); /* once, until it moves */
        pid_t c = fork();
        if (c == 0) _exit(getpid() == 1 && getppid() == 0 ? 0 : 1);
        int st;
        if (c <= 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0) _exit(5);
        /* Its init is gone: no process can be made in the namespace any more. */
        if (fork() != -1 || errno != ENOMEM) _exit(6);
        _exit(0);
    }
    EXPECT_EQ(wait_status(p), 0);
}

CASE(a_namespaces_init_takes_only_signals_it_handles_from_inside) {
    int fds[2];
    EXPECT_OK(pipe(fds));
    pid_t init = fork_newpid();
    if (init == 0) {
        pid_t g = fork();
        if (g == 0) {
            /* From inside: the default actions do not apply to init. */
            if (kill(1, SIGTERM) != 0 || kill(1, SIGKILL) != 0) _exit(1);
            _exit(0);
        }
        int st;
        if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0) _exit(2);
        if (write(fds[1], "x", 1) != 1) _exit(3);
        pause(); /* until the parent's SIGKILL */
        _exit(4);
    }
    char c;
    EXPECT_EQ(read(fds[0], &c, 1), 1);
    /* From the parent namespace SIGKILL does apply. */
    EXPECT_OK(kill(init, SIGKILL));
    EXPECT_EQ(wait_status(init), 128 + SIGKILL);
}

CASE(when_a_namespaces_init_exits_the_rest_are_killed) {
    int fds[2], ready[2];
    EXPECT_OK(pipe(fds));
    EXPECT_OK(pipe(ready));
    pid_t init = fork_newpid();
    if (init == 0) {
        close(fds[0]);
        pid_t g = fork();
        if (g == 0) {
            /* Holds the pipe's write end until it is killed. */
            if (write(ready[1], "x", 1) != 1) _exit(1);
            for (;;) pause();
        }
        char c;
        if (read(ready[0], &c, 1) != 1) _exit(2);
        _exit(0);
    }
    close(fds[1]);
    EXPECT_EQ(wait_status(init), 0);
    /* The init is reported only once the rest of its namespace is gone: EOF at once. */
    EXPECT_OK(fcntl(fds[0], F_SETFL, O_NONBLOCK));
    char c;
    EXPECT_EQ(read(fds[0], &c, 1), 0);
}

CASE(setns_pid_places_the_children_below) {
    int ready[2], go[2];
    EXPECT_OK(pipe(ready));
    EXPECT_OK(pipe(go));
    pid_t init = fork_newpid();
    if (init == 0) {
        if (write(ready[1], "x", 1) != 1) _exit(1);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(2);
        _exit(0);
    }
    char c;
    EXPECT_EQ(read(ready[0], &c, 1), 1);
    pid_t joiner = fork();
    if (joiner == 0) {
        int own = open("/proc/self/ns/pid", O_RDONLY);
        int self = syscall(SYS_pidfd_open, getpid(), 0);
        if (self < 0) _exit(6);
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/pid", init);
        int fd = open(path, O_RDONLY);
        if (own < 0 || fd < 0) _exit(1);
        if (setns(fd, CLONE_NEWUTS) == 0 || errno != EINVAL) _exit(2);
        if (setns(fd, CLONE_NEWPID) != 0) _exit(3);
        pid_t k = fork();
        if (k == 0) {
            if (getpid() != 2 || getppid() != 0) _exit(1);
            /* Not back up to an ancestor namespace. */
            if (setns(own, CLONE_NEWPID) == 0 || errno != EINVAL) _exit(2);
            /* Nor may it signal a process outside through a pidfd it inherited. */
            if (syscall(SYS_pidfd_send_signal, self, 0, NULL, 0) == 0 || errno != EINVAL) _exit(3);
            _exit(0);
        }
        if (k <= 0) _exit(4);
        int st;
        if (waitpid(k, &st, 0) != k || !WIFEXITED(st) || WEXITSTATUS(st) != 0) _exit(5);
        _exit(0);
    }
    EXPECT_EQ(wait_status(joiner), 0);
    EXPECT_EQ(write(go[1], "x", 1), 1);
    EXPECT_EQ(wait_status(init), 0);
}

CASE(clone3_set_tid_gives_a_pid_per_level) {
    pid_t outer = 20000 + getpid() % 1000;
    while (kill(outer, 0) == 0 || errno != ESRCH) outer++;
    pid_t tids[2] = {1, outer};
    struct clone_args_v2 a = {.flags = CLONE_NEWPID, .exit_signal = SIGCHLD,
                              .set_tid = (uint64_t)(uintptr_t)tids, .set_tid_size = 2};
    long pid = clone3_(&a, sizeof a);
    if (pid == 0) _exit(getpid() == 1 ? 0 : 1);
    EXPECT_EQ(pid, outer);
    EXPECT_EQ(wait_status(pid), 0);
    /* A new namespace's first process is 1; no more levels than there are. */
    pid_t two[2] = {2, outer};
    struct clone_args_v2 b = {.flags = CLONE_NEWPID, .exit_signal = SIGCHLD,
                              .set_tid = (uint64_t)(uintptr_t)two, .set_tid_size = 2};
    EXPECT_ERRNO(clone3_(&b, sizeof b), EINVAL);
    pid_t three[3] = {1, outer, outer + 1};
    struct clone_args_v2 c = {.flags = CLONE_NEWPID, .exit_signal = SIGCHLD,
                              .set_tid = (uint64_t)(uintptr_t)three, .set_tid_size = 3};
    EXPECT_ERRNO(clone3_(&c, sizeof c), EINVAL);
}

CASE(a_proc_mounted_in_the_namespace_shows_its_pids) {
    pid_t init = syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
    if (init == 0) {
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) _exit(1);
        const char *dir = scratch_path("proc");
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) _exit(2);
        if (mount("proc", dir, "proc", 0, NULL) != 0) _exit(3);
        pid_t g = fork();
        if (g == 0) { pause(); _exit(0); }
        char path[600], link[64];
        snprintf(path, sizeof path, "%s/self", dir);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n != 1 || link[0] != '1') _exit(4);
        /* Only the namespace's processes are listed, by their numbers here. */
        DIR *d = opendir(dir);
        if (!d) _exit(5);
        int seen = 0, others = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            int v = atoi(e->d_name);
            if (v == 1 || v == g) seen++; else others++;
        }
        closedir(d);
        if (seen != 2 || others != 0) _exit(6);
        snprintf(path, sizeof path, "%s/%d/stat", dir, g);
        char buf[512];
        if (slurp(path, buf, sizeof buf) <= 0) _exit(7);
        int spid = 0, sppid = -1;
        char state;
        if (sscanf(buf, "%d (%*[^)]) %c %d", &spid, &state, &sppid) != 3 || spid != g || sppid != 1) _exit(8);
        kill(g, SIGKILL);
        waitpid(g, NULL, 0);
        umount(dir);
        _exit(0);
    }
    EXPECT(init > 0);
    EXPECT_EQ(wait_status(init), 0);
}

CASE(a_reaped_group_leaders_number_stays_its_groups) {
    pid_t init = fork_newpid();
    if (init == 0) {
        int report[2], go[2];
        if (pipe(report) != 0 || pipe(go) != 0) _exit(1);
        pid_t a = fork();
        if (a == 0) {
            if (setpgid(0, 0) != 0) _exit(1);
            pid_t b = fork();
            if (b == 0) {
                char c;
                if (read(go[0], &c, 1) != 1) _exit(1);
                pid_t pg = getpgrp();
                _exit(write(report[1], &pg, sizeof pg) == sizeof pg ? 0 : 1);
            }
            _exit(b > 0 ? 0 : 1);
        }
        int st;
        if (waitpid(a, &st, 0) != a || !WIFEXITED(st) || WEXITSTATUS(st) != 0) _exit(2);
        /* The leader is reaped; its number is still its group's, and not given out. */
        for (int i = 0; i < 20; i++) {
            pid_t c = fork();
            if (c == 0) _exit(0);
            if (c == a) _exit(3);
            waitpid(c, NULL, 0);
        }
        if (write(go[1], "x", 1) != 1) _exit(4);
        pid_t pg = 0;
        if (read(report[0], &pg, sizeof pg) != sizeof pg) _exit(5);
        if (pg != a) _exit(6);
        if (kill(-a, 0) != 0) _exit(7);
        _exit(0);
    }
    EXPECT_EQ(wait_status(init), 0);
}

CASE(a_namespaces_init_is_not_killed_by_sigio) {
    pid_t init = fork_newpid();
    if (init == 0) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) _exit(1);
        if (fcntl(sv[0], F_SETOWN, getpid()) != 0) _exit(2);
        if (fcntl(sv[0], F_SETFL, O_ASYNC) != 0) _exit(3);
        /* SIGIO (POLL_IN) with its default action: not one the kernel forces on init. */
        if (write(sv[1], "x", 1) != 1) _exit(4);
        char c;
        if (read(sv[0], &c, 1) != 1) _exit(5);
        usleep(100000);
        _exit(0);
    }
    EXPECT_EQ(wait_status(init), 0);
}

/* ---- reboot(2) in a pid namespace ---- */

#define REBOOT(cmd) syscall(SYS_reboot, 0xfee1dead, 672274793, (cmd), NULL)
#define CMD_RESTART 0x01234567
#define CMD_POWER_OFF 0x4321FEDC
#define CMD_CAD_ON 0x89ABCDEF

/* Runs `fn` as the init of a new pid namespace; returns its wait status. Never reboots the
 * host: `fn` runs only once it is pid 1 of the new namespace. */
static int as_namespace_init(int (*fn)(void)) {
    pid_t outer = fork();
    if (outer == 0) {
        if (unshare(CLONE_NEWPID) != 0) _exit(90);
        pid_t init = fork();
        if (init == 0) {
            if (getpid() != 1) _exit(91);
            _exit(fn());
        }
        int st;
        if (waitpid(init, &st, 0) != init) _exit(92);
        /* Report the init's status through our own exit code. */
        _exit(WIFSIGNALED(st) ? 100 + WTERMSIG(st) : WEXITSTATUS(st));
    }
    int st;
    waitpid(outer, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int power_off(void) {
    /* Not for Ctrl-Alt-Del in a namespace: EINVAL. Nor for an unprivileged user: EPERM. */
    if (REBOOT(CMD_CAD_ON) != -1 || errno != EINVAL) return 1;
    if (syscall(SYS_reboot, 0xfee1dead, 1, CMD_POWER_OFF, NULL) != -1 || errno != EINVAL) return 2; /* bad magic */
    pid_t c = fork();
    if (c == 0) {
        if (setuid(65534) != 0) _exit(1);
        _exit(REBOOT(CMD_POWER_OFF) == -1 && errno == EPERM ? 0 : 1);
    }
    int st;
    if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 3;
    REBOOT(CMD_POWER_OFF);
    return 4; /* not reached: the namespace is gone */
}

static int restart_from_a_child(void) {
    pid_t c = fork();
    if (c == 0) { REBOOT(CMD_RESTART); _exit(5); }
    for (;;) pause(); /* killed as the namespace ends */
}

CASE(reboot_ends_the_pid_namespace_its_init_dying_of_the_reason) {
    /* reboot_pid_ns: power off is SIGINT, restart SIGHUP, whoever in the namespace asks. */
    EXPECT_EQ(as_namespace_init(power_off), 100 + SIGINT);
    EXPECT_EQ(as_namespace_init(restart_from_a_child), 100 + SIGHUP);
}

static int next_pid_is_chosen(void) {
    /* As pid 1 of a namespace of its own: writing ns_last_pid picks the next pid. */
    int fd = open("/proc/sys/kernel/ns_last_pid", O_RDWR);
    if (fd < 0) return 10;
    if (write(fd, "4000", 4) != 4) return 11;
    pid_t c = fork();
    if (c == 0) _exit(0);
    if (c != 4001) return 12;
    waitpid(c, NULL, 0);
    char buf[32] = {0};
    if (pread(fd, buf, sizeof buf - 1, 0) <= 0 || atoi(buf) != 4001) return 13;
    /* Without CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE): EPERM, though anyone may open it. */
    pid_t u = fork();
    if (u == 0) {
        if (setuid(65534) != 0) _exit(1);
        int f = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
        _exit(f >= 0 && write(f, "5000", 4) == -1 && errno == EPERM ? 0 : 2);
    }
    int st;
    if (waitpid(u, &st, 0) != u || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 14;
    if (pwrite(fd, "-1", 2, 0) != -1 || errno != EINVAL) return 15;
    return 0;
}

CASE(ns_last_pid_names_the_next_pid_of_the_callers_namespace) {
    EXPECT_EQ(as_namespace_init(next_pid_is_chosen), 0);
}

static int proc_fd_of_a_reaped_process_names_no_one(void) {
    /* A /proc/PID fd is the process it showed, not its number: once that process is reaped
     * and the number given out again, pidfd_send_signal through it is ESRCH (LTP
     * pidfd_send_signal03). In a mount namespace of its own with this namespace's /proc. */
    if (unshare(CLONE_NEWNS) != 0) return 20;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return 21;
    if (mount("proc", "/proc", "proc", 0, NULL) != 0) return 22;
    pid_t a = fork();
    if (a == 0) { pause(); _exit(0); }
    char path[32];
    snprintf(path, sizeof path, "/proc/%d", a);
    int dfd = open(path, O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return 23;
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    char last[16];
    int n = snprintf(last, sizeof last, "%d", a - 1);
    int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
    if (fd < 0 || write(fd, last, n) != n) return 24;
    pid_t b = fork();
    if (b == 0) { pause(); _exit(0); }
    int r = 0;
    if (b != a) r = 25;
    else if (syscall(424 /* pidfd_send_signal */, dfd, 0, NULL, 0) != -1 || errno != ESRCH) r = 26;
    kill(b, SIGKILL);
    waitpid(b, NULL, 0);
    return r;
}

CASE(a_proc_pid_fd_names_its_process_not_a_later_one_with_its_number) {
    EXPECT_EQ(as_namespace_init(proc_fd_of_a_reaped_process_names_no_one), 0);
}

struct pidfd_info_ {
    uint64_t mask, cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
    uint32_t coredump_mask, spare;
};
#define PIDFD_GET_INFO_ _IOWR(0xFF, 11, struct pidfd_info_)
#define PIDFD_INFO_PID_ 1
#define PIDFD_INFO_CREDS_ 2
#define PIDFD_INFO_EXIT_ 8

CASE(pidfd_get_info_gives_ids_and_once_reaped_the_exit_status) {
    int go[2];
    EXPECT_OK(pipe(go));
    pid_t child = fork();
    if (child == 0) {
        char c;
        if (setresgid(7, 8, 9) != 0 || setresuid(4, 5, 6) != 0 || read(go[0], &c, 1) != 1) _exit(1);
        _exit(7);
    }
    int pidfd = syscall(SYS_pidfd_open, child, 0);
    EXPECT(pidfd >= 0);
    struct pidfd_info_ info;
    /* Running: its numbers and ids, never exit information. */
    for (int tries = 0; tries < 2000; tries++) { /* until the ids have changed */
        memset(&info, 0, sizeof info);
        info.mask = PIDFD_INFO_EXIT_;
        EXPECT_OK(ioctl(pidfd, PIDFD_GET_INFO_, &info));
        if (info.euid == 5) break;
        usleep(1000);
    }
    EXPECT_EQ(info.mask & (PIDFD_INFO_PID_ | PIDFD_INFO_CREDS_ | PIDFD_INFO_EXIT_), PIDFD_INFO_PID_ | PIDFD_INFO_CREDS_);
    EXPECT_EQ(info.pid, child);
    EXPECT_EQ(info.tgid, child);
    EXPECT_EQ(info.ppid, getpid());
    EXPECT_EQ(info.ruid, 4); EXPECT_EQ(info.euid, 5); EXPECT_EQ(info.suid, 6); EXPECT_EQ(info.fsuid, 5);
    EXPECT_EQ(info.rgid, 7); EXPECT_EQ(info.egid, 8); EXPECT_EQ(info.sgid, 9); EXPECT_EQ(info.fsgid, 8);
    EXPECT_EQ(info.exit_code, 0);
    EXPECT_EQ(write(go[1], "x", 1), 1);
    /* A zombie still has its numbers, and no exit information yet. */
    siginfo_t si;
    EXPECT_OK(waitid(P_PID, child, &si, WEXITED | WNOWAIT));
    memset(&info, 0, sizeof info);
    info.mask = PIDFD_INFO_EXIT_;
    EXPECT_OK(ioctl(pidfd, PIDFD_GET_INFO_, &info));
    EXPECT_EQ(info.mask & PIDFD_INFO_EXIT_, 0);
    EXPECT_EQ(info.pid, child);
    int status;
    EXPECT_EQ(waitpid(child, &status, 0), child);
    /* Reaped: only the exit status, and only when asked. */
    memset(&info, 0, sizeof info);
    EXPECT_ERRNO(ioctl(pidfd, PIDFD_GET_INFO_, &info), ESRCH);
    info.mask = PIDFD_INFO_EXIT_;
    EXPECT_OK(ioctl(pidfd, PIDFD_GET_INFO_, &info));
    EXPECT_EQ(info.mask & (PIDFD_INFO_PID_ | PIDFD_INFO_CREDS_ | PIDFD_INFO_EXIT_), PIDFD_INFO_EXIT_);
    EXPECT_EQ(info.exit_code, status);
    EXPECT_EQ(WEXITSTATUS(info.exit_code), 7);
    EXPECT_EQ(info.pid, 0);
    /* Bad requests. */
    EXPECT_ERRNO(ioctl(pidfd, PIDFD_GET_INFO_, NULL), EINVAL);
    int fds[2];
    EXPECT_OK(pipe(fds));
    EXPECT_ERRNO(ioctl(fds[0], PIDFD_GET_INFO_, &info), ENOTTY);
    char big[128] = {PIDFD_INFO_EXIT_};
    EXPECT_OK(ioctl(pidfd, _IOWR(0xFF, 11, char[128]), big)); /* a newer, larger struct */
    close(pidfd);
}

CASE(pidfd_get_info_of_a_process_outside_the_callers_pid_namespace_is_refused) {
    pid_t outer = fork();
    if (outer == 0) { pause(); _exit(0); }
    int pidfd = syscall(SYS_pidfd_open, outer, 0);
    EXPECT(pidfd >= 0);
    pid_t inner = fork_newpid();
    if (inner == 0) {
        struct pidfd_info_ info = {0};
        /* ESRCH; EREMOTE since Linux 6.18.14. */
        errno = 0;
        EXPECT(ioctl(pidfd, PIDFD_GET_INFO_, &info) == -1 && (errno == ESRCH || errno == EREMOTE));
        _exit(0);
    }
    EXPECT_EQ(wait_status(inner), 0);
    kill(outer, SIGKILL);
    EXPECT_EQ(wait_status(outer), 128 + SIGKILL);
}

COMPAT_MAIN()
