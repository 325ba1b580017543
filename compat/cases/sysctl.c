/* /proc/sys: tunables read and written as files, and their effect.
 *
 * Namespaced tunables (IPC, UTS, network) are changed in a namespace of the case's own
 * (natively too), so the host's stay as they are. The others (fs.nr_open, vm.max_map_count,
 * fs.pipe-max-size, fs.inotify.*) are global natively: the case puts back the value it found
 * (in the sandbox they are the sandbox's own). Runs as root, as the suite does. */
#include "../compat.h"
#include <sys/resource.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

/* write(2) of `text` to /proc/sys/`name`: its result, errno in *err. */
static long put(const char *name, const char *text, int *err) {
    char path[256];
    snprintf(path, sizeof path, "/proc/sys/%s", name);
    int fd = open(path, O_WRONLY);
    if (fd < 0) { *err = errno; return -1; }
    errno = 0;
    long r = write(fd, text, strlen(text));
    *err = errno;
    close(fd);
    return r;
}

/* The first line of /proc/sys/`name`, without its newline. */
static const char *get(const char *name) {
    static char buf[4][256];
    static int i;
    i = (i + 1) % 4;
    char path[256];
    snprintf(path, sizeof path, "/proc/sys/%s", name);
    if (slurp(path, buf[i], sizeof buf[i]) < 0) return "(unreadable)";
    buf[i][strcspn(buf[i], "\n")] = 0;
    return buf[i];
}

#define PUT_OK(name, text) do { int _e; long _r = put(name, text, &_e);                              \
    if (_r != (long)strlen(text)) compat_fail(__FILE__, __LINE__, "write %s to %s: %ld (%s)", text, name, _r, strerror(_e)); } while (0)
#define PUT_FAILS(name, text, err) do { int _e; long _r = put(name, text, &_e);                      \
    if (_r != -1 || _e != (err)) compat_fail(__FILE__, __LINE__, "write %s to %s: %ld (%s), expected %s", text, name, _r, strerror(_e), #err); } while (0)

CASE(sysctl_writes_are_parsed_as_proc_dointvec_parses_them) {
    EXPECT_OK(unshare(CLONE_NEWIPC));
    int err;
    PUT_OK("kernel/msgmni", "100");
    EXPECT_STREQ(get("kernel/msgmni"), "100");
    PUT_OK("kernel/msgmni", "  200\n");
    EXPECT_STREQ(get("kernel/msgmni"), "200");
    PUT_OK("kernel/msgmni", "0x20"); /* strtoul's base 0 */
    EXPECT_STREQ(get("kernel/msgmni"), "32");
    PUT_OK("kernel/msgmni", "010");
    EXPECT_STREQ(get("kernel/msgmni"), "8");
    /* A number and what follows: the number and its white space are taken. */
    EXPECT_EQ(put("kernel/msgmni", "50 junk", &err), 3);
    EXPECT_STREQ(get("kernel/msgmni"), "50");
    PUT_FAILS("kernel/msgmni", "60junk", EINVAL);
    PUT_FAILS("kernel/msgmni", "abc", EINVAL);
    PUT_FAILS("kernel/msgmni", "   ", EINVAL);
    PUT_FAILS("kernel/msgmni", "-1", EINVAL);          /* below msgmni's range */
    PUT_FAILS("kernel/msgmni", "32769", EINVAL);       /* above IPCMNI */
    PUT_FAILS("kernel/msgmax", "99999999999", EINVAL); /* not an int */
    EXPECT_STREQ(get("kernel/msgmni"), "50");
    /* Writes past the start of the file are taken and ignored (sysctl_writes_strict). */
    int fd = open("/proc/sys/kernel/msgmni", O_WRONLY);
    EXPECT(fd >= 0);
    EXPECT_EQ(pwrite(fd, "9", 1, 1), 1);
    EXPECT_EQ(write(fd, "5", 1), 1);
    EXPECT_EQ(write(fd, "6", 1), 1);
    close(fd);
    EXPECT_STREQ(get("kernel/msgmni"), "5");
    /* A vector takes what is given and keeps the rest. */
    char before[256];
    snprintf(before, sizeof before, "%s", get("kernel/sem"));
    unsigned long semmns, semopm, semmni;
    EXPECT_EQ(sscanf(before, "%*lu %lu %lu %lu", &semmns, &semopm, &semmni), 3);
    PUT_OK("kernel/sem", "250");
    char want[256];
    snprintf(want, sizeof want, "250\t%lu\t%lu\t%lu", semmns, semopm, semmni);
    EXPECT_STREQ(get("kernel/sem"), want);
}

static void write_as_nobody(void) {
    if (open("/proc/sys/kernel/msgmni", O_WRONLY) != -1 || errno != EACCES) _exit(1);
    if (open("/proc/sys/kernel/msgmni", O_RDONLY) < 0) _exit(2);
}

CASE(only_root_writes_proc_sys_and_never_a_read_only_tunable) {
    AS_NOBODY(write_as_nobody);
    EXPECT_ERRNO(open("/proc/sys/kernel/osrelease", O_WRONLY), EACCES);
    EXPECT_ERRNO(open("/proc/sys/kernel/ostype", O_RDWR), EACCES);
    struct stat st;
    EXPECT_OK(stat("/proc/sys/kernel/msgmni", &st));
    EXPECT_EQ(st.st_mode & 07777, 0644);
    EXPECT_OK(stat("/proc/sys/kernel/osrelease", &st));
    EXPECT_EQ(st.st_mode & 07777, 0444);
}

CASE(proc_sys_kernel_hostname_is_the_uts_namespaces) {
    EXPECT_OK(unshare(CLONE_NEWUTS));
    PUT_OK("kernel/hostname", "via-proc-sys\n");
    PUT_OK("kernel/domainname", "example.test");
    struct utsname u;
    EXPECT_OK(uname(&u));
    EXPECT_STREQ(u.nodename, "via-proc-sys");
    EXPECT_STREQ(u.domainname, "example.test");
    EXPECT_OK(sethostname("back", 4));
    EXPECT_STREQ(get("kernel/hostname"), "back");
}

CASE(msgmni_and_shmall_bound_the_namespaces_objects) {
    char outer[64];
    snprintf(outer, sizeof outer, "%s", get("kernel/msgmni"));
    pid_t child = fork();
    if (child == 0) {
        if (unshare(CLONE_NEWIPC) != 0) _exit(1);
        int err;
        if (put("kernel/msgmni", "1", &err) != 1) _exit(2);
        if (msgget(IPC_PRIVATE, 0600) < 0) _exit(3);
        if (msgget(IPC_PRIVATE, 0600) != -1 || errno != ENOSPC) _exit(4);
        if (put("kernel/shmall", "3", &err) != 1) _exit(5);
        if (shmget(IPC_PRIVATE, 8192, 0600) < 0) _exit(6);
        if (shmget(IPC_PRIVATE, 8192, 0600) != -1 || errno != ENOSPC) _exit(7);
        if (shmget(IPC_PRIVATE, 4096, 0600) < 0) _exit(8);
        if (put("kernel/shmmax", "4096", &err) != 4) _exit(9);
        if (shmget(IPC_PRIVATE, 4097, 0600) != -1 || errno != EINVAL) _exit(10);
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(child, &st, 0), child);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
    EXPECT_STREQ(get("kernel/msgmni"), outer); /* the namespace's own */
}

static void mq_as_nobody(void) {
    struct mq_attr a = {.mq_maxmsg = 6, .mq_msgsize = 64};
    if (mq_open("/sysctl-case", O_CREAT | O_RDWR, 0600, &a) != -1 || errno != EINVAL) _exit(1);
    a.mq_maxmsg = 5;
    mqd_t q = mq_open("/sysctl-case", O_CREAT | O_RDWR, 0600, &a);
    if (q == (mqd_t)-1) _exit(2);
    mq_unlink("/sysctl-case");
}

CASE(fs_mqueue_msg_max_bounds_an_unprivileged_queue) {
    EXPECT_OK(unshare(CLONE_NEWIPC));
    PUT_OK("fs/mqueue/msg_max", "5");
    EXPECT_STREQ(get("fs/mqueue/msg_max"), "5");
    AS_NOBODY(mq_as_nobody);
    int err;
    EXPECT_EQ(put("fs/mqueue/msg_max", "0", &err), -1);
    EXPECT_EQ(err, EINVAL);
}

static int nr_open_child(void *arg) {
    (void)arg;
    int err;
    if (put("fs/nr_open", "64", &err) != 2) return 1;
    if (unshare(CLONE_FILES) != -1 || errno != EMFILE) return 2;
    return 0;
}

CASE(nr_open_bounds_copying_an_fd_table) {
    /* LTP unshare03: fd 65 open, nr_open lowered to 64: a copy of the table cannot hold it. */
    char old[64];
    snprintf(old, sizeof old, "%s", get("fs/nr_open"));
    EXPECT_OK(dup2(2, 65));
    static char stack[64 << 10];
    pid_t child = clone(nr_open_child, stack + sizeof stack, CLONE_FILES | SIGCHLD, NULL);
    EXPECT(child > 0);
    int st;
    EXPECT_EQ(waitpid(child, &st, 0), child);
    int err;
    long back = put("fs/nr_open", old, &err);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
    EXPECT_EQ(back, (long)strlen(old));
    /* RLIMIT_NOFILE's hard limit stays within nr_open. */
    struct rlimit r = {.rlim_cur = 64, .rlim_max = strtoul(old, NULL, 10) + 1};
    EXPECT_ERRNO(setrlimit(RLIMIT_NOFILE, &r), EPERM);
    PUT_FAILS("fs/nr_open", "63", EINVAL);
}

/* A vm.max_map_count 40 above the mappings the process has now: a child soon reaches it. */
static void limit_near_current_maps(char *limit, size_t size) {
    char text[8192];
    EXPECT(slurp("/proc/self/maps", text, sizeof text) > 0);
    int lines = 0;
    for (char *p = text; *p; p++) lines += *p == '\n';
    snprintf(limit, size, "%d", lines + 40);
}

/* In a child, under `limit`: maps up to `count` private ranges of `pages` pages, `stride`
 * pages apart (each a mapping of its own), until one is refused. Returns how many were made,
 * or exits the child (1-3) when setting the limit, reserving room, or a refusal other than
 * ENOMEM fails. */
static int map_apart_until_refused(const char *limit, int count, int pages, int stride, char **base) {
    int err;
    if (put("vm/max_map_count", limit, &err) < 0) _exit(1);
    size_t room = (size_t)count * stride * 4096;
    *base = mmap(NULL, room, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (*base == MAP_FAILED) _exit(2);
    munmap(*base, room);
    int made = 0;
    for (; made < count; made++) {
        if (mmap(*base + (size_t)made * stride * 4096, (size_t)pages * 4096, PROT_READ,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED) {
            if (errno != ENOMEM) _exit(3);
            break;
        }
    }
    return made;
}

CASE(max_map_count_bounds_the_mappings) {
    char old[64], limit[32];
    snprintf(old, sizeof old, "%s", get("vm/max_map_count"));
    limit_near_current_maps(limit, sizeof limit);
    pid_t child = fork();
    if (child == 0) {
        char *base;
        int made = map_apart_until_refused(limit, 200, 1, 2, &base);
        _exit(made > 0 && made < 60 ? 0 : 4);
    }
    int st;
    EXPECT_EQ(waitpid(child, &st, 0), child);
    int err;
    long back = put("vm/max_map_count", old, &err);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
    EXPECT_EQ(back, (long)strlen(old));
}

/* LTP's munmap04: at the limit, an munmap that would split a mapping in two is ENOMEM, one
 * of a whole mapping is not; the limit takes any int from 0 (a value above what the sandbox
 * can hold is taken too, and reads back as written). */
CASE(max_map_count_refuses_a_split_at_the_limit_and_takes_any_int) {
    char old[64], limit[32];
    snprintf(old, sizeof old, "%s", get("vm/max_map_count"));
    limit_near_current_maps(limit, sizeof limit);
    pid_t child = fork();
    if (child == 0) {
        /* Three pages each, a gap between: mappings that cannot merge. */
        char *base;
        int made = map_apart_until_refused(limit, 100, 3, 6, &base);
        if (made < 3 || made == 100) _exit(4);
        if (munmap(base + 6 * 4096 + 4096, 4096) != -1 || errno != ENOMEM) _exit(5);
        if (munmap(base + 6 * 4096, 3 * 4096) != 0) _exit(6);
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(child, &st, 0), child);
    int err, negative, over;
    /* Natively the host's: what was found goes back before anything is judged. */
    long high = put("vm/max_map_count", "2147483647", &err);
    char shown[64];
    snprintf(shown, sizeof shown, "%s", get("vm/max_map_count"));
    long minus = put("vm/max_map_count", "-1", &negative), past = put("vm/max_map_count", "2147483648", &over);
    long back = put("vm/max_map_count", old, &err);
    EXPECT_EQ(back, (long)strlen(old));
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
    EXPECT_EQ(high, 10);
    EXPECT_STREQ(shown, "2147483647");
    EXPECT(minus < 0 && negative == EINVAL);
    EXPECT(past < 0 && over == EINVAL);
}

static void pipe_as_nobody(void) {
    int p[2];
    if (pipe(p) != 0) _exit(1);
    if (fcntl(p[0], F_SETPIPE_SZ, 16384) != -1 || errno != EPERM) _exit(2);
    if (fcntl(p[0], F_SETPIPE_SZ, 8192) != 8192) _exit(3);
}

static void inotify_as_nobody(void) {
    if (inotify_init1(0) < 0) _exit(1);
    if (inotify_init1(0) != -1 || errno != EMFILE) _exit(2);
}

CASE(pipe_max_size_and_inotify_instances_bound_the_unprivileged) {
    char pipe_old[64], inotify_old[64];
    snprintf(pipe_old, sizeof pipe_old, "%s", get("fs/pipe-max-size"));
    snprintf(inotify_old, sizeof inotify_old, "%s", get("fs/inotify/max_user_instances"));
    PUT_OK("fs/pipe-max-size", "5000"); /* rounded up to a power-of-two number of pages */
    EXPECT_STREQ(get("fs/pipe-max-size"), "8192");
    AS_NOBODY(pipe_as_nobody);
    PUT_OK("fs/inotify/max_user_instances", "1");
    AS_NOBODY(inotify_as_nobody);
    PUT_OK("fs/pipe-max-size", pipe_old);
    PUT_OK("fs/inotify/max_user_instances", inotify_old);
}

static void bind_as_nobody(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(2001)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) _exit(1);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = htons(1999);
    if (bind(t, (struct sockaddr *)&a, sizeof a) != -1 || errno != EACCES) _exit(2);
}

static int bound_port(int type) {
    int s = socket(AF_INET, type, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) return -errno;
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    return ntohs(a.sin_port);
}

CASE(the_port_tunables_govern_binds_in_the_network_namespace) {
    /* Natively in a network namespace of the case's own; in Joey, whose sandbox network is
     * its own (CLONE_NEWNET is not offered), the sandbox's, put back afterwards. */
    if (unshare(CLONE_NEWNET) != 0) EXPECT_EQ(errno, EPERM);
    char range[64], start[64];
    snprintf(range, sizeof range, "%s", get("net/ipv4/ip_local_port_range"));
    snprintf(start, sizeof start, "%s", get("net/ipv4/ip_unprivileged_port_start"));
    PUT_OK("net/ipv4/ip_local_port_range", "40000 40001");
    EXPECT_STREQ(get("net/ipv4/ip_local_port_range"), "40000\t40001");
    int p1 = bound_port(SOCK_STREAM), p2 = bound_port(SOCK_STREAM), p3 = bound_port(SOCK_STREAM);
    PUT_FAILS("net/ipv4/ip_local_port_range", "500 400", EINVAL);
    PUT_OK("net/ipv4/ip_unprivileged_port_start", "2000");
    AS_NOBODY(bind_as_nobody);
    PUT_OK("net/ipv4/ip_local_port_range", range);
    PUT_OK("net/ipv4/ip_unprivileged_port_start", start);
    EXPECT(p1 == 40000 || p1 == 40001);
    EXPECT(p2 == 40000 || p2 == 40001);
    EXPECT(p1 != p2);
    EXPECT_EQ(p3, -EADDRINUSE);
    PUT_OK("net/core/somaxconn", get("net/core/somaxconn"));
}

CASE(syslog_console_levels_are_kernel_printks_first_figure) {
    char saved[64];
    snprintf(saved, sizeof saved, "%s", get("kernel/printk"));
    int level, message, minimum, initial;
    EXPECT_EQ(sscanf(saved, "%d %d %d %d", &level, &message, &minimum, &initial), 4);
    long r8 = syscall(SYS_syslog, 8, NULL, 3); /* SYSLOG_ACTION_CONSOLE_LEVEL */
    int after8 = atoi(get("kernel/printk"));
    long r6 = syscall(SYS_syslog, 6, NULL, 0); /* CONSOLE_OFF: down to the minimum */
    int after6 = atoi(get("kernel/printk"));
    long r7 = syscall(SYS_syslog, 7, NULL, 0); /* CONSOLE_ON: back */
    int after7 = atoi(get("kernel/printk"));
    errno = 0;
    long bad = syscall(SYS_syslog, 8, NULL, 9);
    int bad_errno = errno;
    PUT_OK("kernel/printk", saved);
    EXPECT_EQ(r8, 0);
    EXPECT_EQ(after8, minimum > 3 ? minimum : 3);
    EXPECT_EQ(r6, 0);
    EXPECT_EQ(after6, minimum);
    EXPECT_EQ(r7, 0);
    EXPECT_EQ(after7, after8);
    EXPECT_EQ(bad, -1);
    EXPECT_EQ(bad_errno, EINVAL);
    EXPECT_STREQ(get("kernel/printk"), saved);
}

static void pipes_as_nobody(void) {
    int p[4][2];
    for (int i = 0; i < 2; i++) if (pipe(p[i]) != 0 || fcntl(p[i][0], F_GETPIPE_SZ) != 65536) _exit(10 + i);
    /* Past the soft limit: two pages. */
    if (pipe(p[2]) != 0 || fcntl(p[2][0], F_GETPIPE_SZ) != 8192) _exit(12);
    /* Past the hard limit: none. */
    if (pipe(p[3]) != -1 || errno != ENFILE) _exit(13);
    /* Nor may a pipe grow past it. */
    if (fcntl(p[0][0], F_SETPIPE_SZ, 131072) != -1 || errno != EPERM) _exit(14);
    /* A pipe given back makes room. */
    close(p[2][0]);
    close(p[2][1]);
    if (pipe(p[3]) != 0 || fcntl(p[3][0], F_GETPIPE_SZ) != 8192) _exit(15);
}

CASE(pipe_user_pages_bound_an_unprivileged_users_pipes) {
    char soft[64], hard[64];
    snprintf(soft, sizeof soft, "%s", get("fs/pipe-user-pages-soft"));
    snprintf(hard, sizeof hard, "%s", get("fs/pipe-user-pages-hard"));
    PUT_OK("fs/pipe-user-pages-soft", "32");
    PUT_OK("fs/pipe-user-pages-hard", "35");
    int st = status_as_nobody(pipes_as_nobody); /* the limits go back before any verdict */
    PUT_OK("fs/pipe-user-pages-soft", soft);
    PUT_OK("fs/pipe-user-pages-hard", hard);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

COMPAT_MAIN()
