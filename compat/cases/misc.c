/* Miscellaneous process and system calls: getrandom, sysinfo, resource limits,
 * arch_prctl, prctl, scheduling, /proc and /dev files, unknown syscalls, cwd, ioctl. */
#include "../compat.h"
#include <asm/prctl.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <termios.h>

/* A system call that touches neither errno nor anything else in TLS: returns -errno. */
static inline long raw_syscall2(long n, long a, long b) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return r;
}

static int all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

/* Reads a whole (small) file into buf, NUL-terminated; returns the length. */

/* ---- getrandom ---- */

CASE(getrandom_fills_requested_sizes) {
    unsigned char buf[4096];
    memset(buf, 0, sizeof buf);
    EXPECT_EQ(getrandom(buf, 16, 0), 16);
    EXPECT(!all_zero(buf, 16));
    EXPECT(all_zero(buf + 16, sizeof buf - 16)); /* nothing past the request */
    EXPECT_EQ(getrandom(buf, sizeof buf, 0), sizeof buf);
    EXPECT_EQ(getrandom(buf, 1, 0), 1);
}

CASE(getrandom_zero_length_returns_zero) {
    unsigned char b;
    EXPECT_EQ(getrandom(&b, 0, 0), 0);
}

CASE(getrandom_two_calls_differ) {
    unsigned char a[32], b[32];
    EXPECT_EQ(getrandom(a, sizeof a, 0), 32);
    EXPECT_EQ(getrandom(b, sizeof b, 0), 32);
    EXPECT(memcmp(a, b, sizeof a) != 0);
}

CASE(getrandom_nonblock_succeeds_once_seeded) {
    unsigned char buf[64];
    EXPECT_EQ(getrandom(buf, sizeof buf, GRND_NONBLOCK), 64);
    EXPECT_EQ(getrandom(buf, sizeof buf, GRND_NONBLOCK | GRND_RANDOM) > 0, 1);
}

CASE(getrandom_invalid_flags_is_einval) {
    unsigned char buf[8];
    EXPECT_ERRNO(getrandom(buf, sizeof buf, 0x100), EINVAL);
    EXPECT_ERRNO(getrandom(buf, sizeof buf, GRND_RANDOM | GRND_INSECURE), EINVAL);
}

CASE(getrandom_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_getrandom, (void *)1, 16, 0), EFAULT);
}

/* ---- sysinfo ---- */

CASE(sysinfo_reports_memory_and_uptime) {
    struct sysinfo si;
    memset(&si, 0, sizeof si);
    EXPECT_OK(sysinfo(&si));
    EXPECT(si.totalram > 0);
    EXPECT(si.freeram <= si.totalram);
    EXPECT(si.mem_unit >= 1);
    EXPECT(si.uptime > 0);
    EXPECT(si.procs >= 1);
    /* the same clock as /proc/uptime's (seconds there, rounded up here) */
    char text[128];
    EXPECT(slurp("/proc/uptime", text, sizeof text) > 0);
    long proc = atol(text);
    EXPECT(si.uptime >= proc && si.uptime - proc <= 2);
}

CASE(sysinfo_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_sysinfo, (void *)1), EFAULT);
}

/* ---- resource limits ---- */

CASE(getrlimit_soft_not_above_hard) {
    struct rlimit r;
    EXPECT_OK(getrlimit(RLIMIT_NOFILE, &r));
    EXPECT(r.rlim_cur <= r.rlim_max);
    EXPECT(r.rlim_cur >= 3);
    EXPECT_OK(getrlimit(RLIMIT_STACK, &r));
    EXPECT(r.rlim_cur == RLIM_INFINITY || r.rlim_cur <= r.rlim_max);
}

CASE(setrlimit_lowered_nofile_soft_limit_applies) {
    struct rlimit r;
    EXPECT_OK(getrlimit(RLIMIT_NOFILE, &r));
    struct rlimit low = {16, r.rlim_max};
    EXPECT_OK(setrlimit(RLIMIT_NOFILE, &low));
    struct rlimit got;
    EXPECT_OK(getrlimit(RLIMIT_NOFILE, &got));
    EXPECT_EQ(got.rlim_cur, 16);
    EXPECT_EQ(got.rlim_max, r.rlim_max);
    EXPECT_ERRNO(dup2(0, 16), EBADF); /* at or above the limit */
    EXPECT_ERRNO(fcntl(0, F_DUPFD, 16), EINVAL);
    int last = -1, fd;
    while ((fd = open("/dev/null", O_RDONLY)) >= 0) last = fd;
    EXPECT_EQ(errno, EMFILE);
    EXPECT_EQ(last, 15);
}

CASE(setrlimit_soft_above_hard_is_einval) {
    struct rlimit r = {200, 100};
    EXPECT_ERRNO(setrlimit(RLIMIT_NOFILE, &r), EINVAL);
}

CASE(getrlimit_bad_resource_is_einval) {
    struct rlimit r;
    EXPECT_ERRNO(syscall(SYS_getrlimit, 999, &r), EINVAL);
    EXPECT_ERRNO(syscall(SYS_setrlimit, 999, &r), EINVAL);
    EXPECT_ERRNO(syscall(SYS_prlimit64, 0, 999, NULL, &r), EINVAL);
}

/* The process is looked up before the resource is checked (CPython's test_prlimit). */
CASE(prlimit64_of_no_such_process_is_esrch_before_einval) {
    struct rlimit r;
    EXPECT_ERRNO(syscall(SYS_prlimit64, -1, RLIMIT_AS, NULL, &r), ESRCH);
    EXPECT_ERRNO(syscall(SYS_prlimit64, -1, 999, NULL, &r), ESRCH);
    EXPECT_ERRNO(syscall(SYS_prlimit64, 999999, 999, NULL, &r), ESRCH);
    EXPECT_ERRNO(syscall(SYS_prlimit64, 0, RLIMIT_AS, (void *)8, &r), EFAULT);
}

CASE(prlimit64_sets_new_and_returns_old) {
    struct rlimit cur;
    EXPECT_OK(getrlimit(RLIMIT_CORE, &cur));
    struct rlimit want = {0, cur.rlim_max}, old = {1, 1};
    EXPECT_OK(syscall(SYS_prlimit64, 0, RLIMIT_CORE, &want, &old));
    EXPECT_EQ(old.rlim_cur, cur.rlim_cur);
    EXPECT_EQ(old.rlim_max, cur.rlim_max);
    struct rlimit now;
    EXPECT_OK(syscall(SYS_prlimit64, getpid(), RLIMIT_CORE, NULL, &now));
    EXPECT_EQ(now.rlim_cur, 0);
    EXPECT_EQ(now.rlim_max, cur.rlim_max);
}

CASE(unprivileged_raise_of_hard_limit_is_eperm) {
    struct rlimit r = {32, 64};
    EXPECT_OK(setrlimit(RLIMIT_NOFILE, &r));
    EXPECT_OK(setresuid(1000, 1000, 1000));
    struct rlimit up = {32, 65};
    EXPECT_ERRNO(setrlimit(RLIMIT_NOFILE, &up), EPERM);
    struct rlimit soft_up = {64, 64}; /* the soft limit may rise to the hard one */
    EXPECT_OK(setrlimit(RLIMIT_NOFILE, &soft_up));
}

/* ---- arch_prctl ---- */

CASE(arch_prctl_get_fs_is_the_thread_pointer) {
    unsigned long fs = 0, self;
    EXPECT_OK(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs));
    EXPECT(fs != 0);
    __asm__ volatile("mov %%fs:0, %0" : "=r"(self)); /* the TCB's pointer to itself */
    EXPECT_EQ(fs, self);
    EXPECT_EQ(fs, (unsigned long)pthread_self());
}

static unsigned long fake_tcb[64] __attribute__((aligned(64)));

CASE(arch_prctl_set_fs_round_trip_restores_tls) {
    unsigned long old = 0;
    EXPECT_EQ(raw_syscall2(SYS_arch_prctl, ARCH_GET_FS, (long)&old), 0);
    /* A copy of the real TCB (so the stack guard at %fs:0x28 still matches),
     * pointing to itself, with a marker we can read through %fs. */
    memcpy(fake_tcb, (void *)old, sizeof fake_tcb);
    fake_tcb[0] = (unsigned long)fake_tcb;
    fake_tcb[2] = 0x5eed5eedUL;
    unsigned long seen = 0, self = 0, marker = 0;
    /* No libc between the two SET_FS calls: errno lives in TLS. */
    long r1 = raw_syscall2(SYS_arch_prctl, ARCH_SET_FS, (long)fake_tcb);
    long r2 = raw_syscall2(SYS_arch_prctl, ARCH_GET_FS, (long)&seen);
    __asm__ volatile("mov %%fs:0, %0" : "=r"(self));
    __asm__ volatile("mov %%fs:16, %0" : "=r"(marker));
    long r3 = raw_syscall2(SYS_arch_prctl, ARCH_SET_FS, (long)old);
    EXPECT_EQ(r3, 0);
    EXPECT_EQ(r1, 0);
    EXPECT_EQ(r2, 0);
    EXPECT_EQ(seen, (unsigned long)fake_tcb);
    EXPECT_EQ(self, (unsigned long)fake_tcb);
    EXPECT_EQ(marker, 0x5eed5eedUL);
    unsigned long back = 0;
    EXPECT_OK(syscall(SYS_arch_prctl, ARCH_GET_FS, &back));
    EXPECT_EQ(back, old);
    errno = 0; /* TLS works again */
    EXPECT_EQ(errno, 0);
}

CASE(arch_prctl_invalid_code_is_einval) {
    unsigned long v;
    EXPECT_ERRNO(syscall(SYS_arch_prctl, 0x9999, &v), EINVAL);
}

CASE(arch_prctl_set_fs_noncanonical_is_eperm) {
    /* A non-canonical address is refused before it could fault on return to user mode. */
    EXPECT_EQ(raw_syscall2(SYS_arch_prctl, ARCH_SET_FS, (long)0x8000000000000000UL), -EPERM);
}

/* ---- prctl ---- */

CASE(prctl_no_new_privs_set_then_get) {
    int before = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    EXPECT(before == 0 || before == 1);
    EXPECT_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    EXPECT_EQ(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
    EXPECT_ERRNO(prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0), EINVAL); /* it cannot be cleared */
    EXPECT_EQ(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
}

CASE(prctl_set_dumpable_bad_value_is_einval) {
    EXPECT_ERRNO(prctl(PR_SET_DUMPABLE, 2, 0, 0, 0), EINVAL);
    EXPECT_ERRNO(prctl(PR_SET_DUMPABLE, 7, 0, 0, 0), EINVAL);
}

CASE(prctl_dumpable_round_trip) {
    EXPECT_OK(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    EXPECT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    EXPECT_OK(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
    EXPECT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
}

/* A change of effective or file-system ids makes a process undumpable (fs.suid_dumpable says
 * how: 0 here), so its /proc files become root's, it dumps no core and a process of its new
 * user may not trace it; its parent-death signal is cleared. execve of a program it may read,
 * with its real and effective ids equal, makes it dumpable again. */
static int suid_dumpable(void) {
    char b[8] = {0};
    EXPECT(slurp("/proc/sys/fs/suid_dumpable", b, sizeof b) > 0);
    return atoi(b);
}

static void nobody_cannot_trace(void) {
    pid_t target = (pid_t)atoi(getenv("COMPAT_TARGET"));
    EXPECT_ERRNO(ptrace(PTRACE_ATTACH, target, 0, 0), EPERM);
}

CASE(changing_ids_makes_a_process_undumpable_until_it_execs) {
    int mode = suid_dumpable();
    int out[2];
    EXPECT_OK(pipe(out));
    pid_t c = fork();
    if (c == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGUSR1) != 0) _exit(2);
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
        int sig = -1;
        prctl(PR_GET_PDEATHSIG, &sig);
        struct stat st;
        if (prctl(PR_GET_DUMPABLE) != mode || sig != 0 || stat("/proc/self/status", &st) != 0) _exit(4);
        if (mode != 1 && st.st_uid != 0) _exit(5);
        /* Directories anyone may list stay the effective user's (task_dump_owner). */
        if (stat("/proc/self", &st) != 0 || st.st_uid != 65534) _exit(6);
        /* After exec, dumpable and its own again. */
        dup2(out[1], 1);
        execl("/bin/sh", "sh", "-c", "stat -c %u /proc/self/status", (char *)0);
        _exit(7);
    }
    close(out[1]);
    char got[32] = {0};
    ssize_t n = read(out[0], got, sizeof got - 1);
    close(out[0]);
    EXPECT_EQ(wait_status(c), 0);
    EXPECT(n > 0);
    EXPECT_STREQ(got, "65534\n");
}

CASE(an_undumpable_process_is_not_traced_by_its_own_user) {
    if (suid_dumpable() == 1) return;
    int ready[2];
    EXPECT_OK(pipe(ready));
    pid_t target = fork();
    if (target == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
        if (write(ready[1], "x", 1) != 1) _exit(4);
        pause();
        _exit(0);
    }
    char x;
    EXPECT_EQ(read(ready[0], &x, 1), 1);
    char number[16];
    snprintf(number, sizeof number, "%d", target);
    setenv("COMPAT_TARGET", number, 1);
    AS_NOBODY(nobody_cannot_trace);
    kill(target, SIGKILL);
    waitpid(target, NULL, 0);
}

CASE(prctl_set_name_shows_in_get_name_and_comm) {
    EXPECT_OK(prctl(PR_SET_NAME, "compat-renamed-and-too-long", 0, 0, 0));
    char name[32] = {0};
    EXPECT_OK(prctl(PR_GET_NAME, name, 0, 0, 0));
    EXPECT_STREQ(name, "compat-renamed-"); /* 15 characters kept */
    char comm[64];
    EXPECT(slurp("/proc/self/comm", comm, sizeof comm) > 0);
    EXPECT_STREQ(comm, "compat-renamed-\n");
}

CASE(prctl_pdeathsig_round_trip) {
    int sig = -1;
    EXPECT_OK(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0));
    EXPECT_EQ(sig, 0);
    EXPECT_OK(prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0));
    EXPECT_OK(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0));
    EXPECT_EQ(sig, SIGUSR1);
    EXPECT_ERRNO(prctl(PR_SET_PDEATHSIG, 1000, 0, 0, 0), EINVAL);
}

CASE(prctl_unknown_option_is_einval) {
    EXPECT_ERRNO(prctl(0x7fff1234, 0, 0, 0, 0), EINVAL);
}

/* ---- scheduling ---- */

CASE(sched_yield_returns_zero) {
    EXPECT_EQ(sched_yield(), 0);
    EXPECT_EQ(syscall(SYS_sched_yield), 0);
}

CASE(sched_getaffinity_has_current_cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    EXPECT_OK(sched_getaffinity(0, sizeof set, &set));
    EXPECT(CPU_COUNT(&set) >= 1);
    int cpu = sched_getcpu();
    EXPECT(cpu >= 0);
    EXPECT(CPU_ISSET(cpu, &set));
    /* The raw call returns how many bytes of mask it wrote. */
    long n = syscall(SYS_sched_getaffinity, 0, sizeof set, &set);
    EXPECT(n > 0 && n <= (long)sizeof set && n % sizeof(long) == 0);
}

static void *affinity_of_thread(void *arg) {
    cpu_set_t *set = arg;
    return (void *)(long)sched_getaffinity(0, sizeof *set, set);
}

CASE(sched_setaffinity_is_inherited_by_fork_and_threads) {
    cpu_set_t one, got;
    CPU_ZERO(&one);
    EXPECT_OK(sched_getaffinity(0, sizeof got, &got));
    int first = 0;
    while (!CPU_ISSET(first, &got)) first++;
    CPU_SET(first, &one);
    EXPECT_OK(sched_setaffinity(0, sizeof one, &one));
    pid_t c = fork();
    if (c == 0) {
        cpu_set_t s;
        CPU_ZERO(&s);
        _exit(sched_getaffinity(0, sizeof s, &s) == 0 && CPU_EQUAL(&s, &one) ? 0 : 3);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    pthread_t t;
    void *r;
    CPU_ZERO(&got);
    EXPECT_EQ(pthread_create(&t, NULL, affinity_of_thread, &got), 0);
    EXPECT_EQ(pthread_join(t, &r), 0);
    EXPECT_EQ((long)r, 0);
    EXPECT(CPU_EQUAL(&got, &one));
}

/* A thread limited to one CPU runs there: getcpu (libc's, through the vDSO, and the raw
 * call) names it, for each CPU the thread may use, in the thread and in a forked child. */
CASE(getcpu_reports_the_one_cpu_sched_setaffinity_allows) {
    cpu_set_t all, one;
    CPU_ZERO(&all);
    EXPECT_OK(sched_getaffinity(0, sizeof all, &all));
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &all)) continue;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        EXPECT_OK(sched_setaffinity(0, sizeof one, &one));
        for (int i = 0; i < 50; i++) {
            unsigned c = 99999;
            EXPECT_EQ(sched_getcpu(), cpu);
            EXPECT_OK(syscall(SYS_getcpu, &c, NULL, NULL));
            EXPECT_EQ((int)c, cpu);
            if (i % 10 == 0) sched_yield();
        }
        pid_t child = fork();
        if (child == 0) _exit(sched_getcpu() == cpu ? 0 : 3);
        int st;
        EXPECT_EQ(waitpid(child, &st, 0), child);
        EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    EXPECT_OK(sched_setaffinity(0, sizeof all, &all));
}

CASE(sched_getaffinity_unaligned_size_is_einval) {
    cpu_set_t set;
    EXPECT_ERRNO(syscall(SYS_sched_getaffinity, 0, 4, &set), EINVAL);
}

CASE(getcpu_reports_a_cpu_and_node) {
    unsigned cpu = ~0u, node = ~0u;
    EXPECT_OK(syscall(SYS_getcpu, &cpu, &node, NULL));
    EXPECT(cpu < CPU_SETSIZE);
    EXPECT(node < 1024);
    EXPECT(sched_getcpu() >= 0);
}

/* ---- /proc ---- */

CASE(proc_self_status_has_pid_and_name_lines) {
    char buf[8192];
    EXPECT(slurp("/proc/self/status", buf, sizeof buf) > 0);
    EXPECT(strncmp(buf, "Name:\t", 6) == 0);
    char want[64];
    snprintf(want, sizeof want, "\nPid:\t%d\n", getpid());
    EXPECT(strstr(buf, want) != NULL);
    snprintf(want, sizeof want, "\nPPid:\t%d\n", getppid());
    EXPECT(strstr(buf, want) != NULL);
    /* The Name line matches /proc/self/comm. */
    char comm[64];
    EXPECT(slurp("/proc/self/comm", comm, sizeof comm) > 1);
    EXPECT(strncmp(buf + 6, comm, strlen(comm)) == 0);
}

CASE(proc_self_fd_lists_an_opened_fd) {
    int fd = open(scratch_path("listed"), O_CREAT | O_RDWR, 0644);
    EXPECT(fd >= 0);
    DIR *d = opendir("/proc/self/fd");
    EXPECT(d != NULL);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (atoi(e->d_name) == fd && e->d_name[0] != '.') found = 1;
    closedir(d);
    EXPECT(found);
    char link[64], target[512] = {0};
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    EXPECT(readlink(link, target, sizeof target - 1) > 0);
    char real[512];
    EXPECT(realpath(scratch_path("listed"), real) != NULL);
    EXPECT_STREQ(target, real);
}

CASE(proc_self_maps_is_non_empty_with_executable_mapping) {
    static char buf[1 << 16];
    EXPECT(slurp("/proc/self/maps", buf, sizeof buf) > 0);
    EXPECT(strstr(buf, "r-xp") != NULL);
    EXPECT(strstr(buf, "[stack]") != NULL);
}

CASE(proc_self_is_own_pid) {
    char target[32] = {0}, want[32];
    EXPECT(readlink("/proc/self", target, sizeof target - 1) > 0);
    snprintf(want, sizeof want, "%d", getpid());
    EXPECT_STREQ(target, want);
}

CASE(proc_cpuinfo_and_meminfo_are_readable) {
    static char buf[1 << 16];
    EXPECT(slurp("/proc/cpuinfo", buf, sizeof buf) > 0);
    EXPECT(strncmp(buf, "processor", 9) == 0);
    EXPECT(slurp("/proc/meminfo", buf, sizeof buf) > 0);
    EXPECT(strncmp(buf, "MemTotal:", 9) == 0);
}

/* /proc/stat: a cpu line of ten counters per CPU and in total, and a boot time that is
 * the wall clock minus the uptime (ps and top need both). */
CASE(proc_stat_has_cpu_lines_and_boot_time) {
    static char buf[1 << 16];
    EXPECT(slurp("/proc/stat", buf, sizeof buf) > 0);
    unsigned long long v[10];
    EXPECT(sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                  &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) == 10);
    EXPECT(strstr(buf, "\ncpu0 ") != NULL);
    char *b = strstr(buf, "\nbtime ");
    EXPECT(b != NULL);
    long long btime = b ? atoll(b + 7) : 0;
    char up[128];
    EXPECT(slurp("/proc/uptime", up, sizeof up) > 0);
    double uptime = atof(up);
    long long expect = (long long)time(NULL) - (long long)uptime;
    EXPECT(btime >= expect - 2 && btime <= expect + 2);
    char *p = strstr(buf, "\nprocesses ");
    EXPECT(p != NULL && atoll(p + 11) >= 1);
}

/* ---- /dev ---- */

CASE(dev_null_reads_eof_and_swallows_writes) {
    int fd = open("/dev/null", O_RDWR);
    EXPECT(fd >= 0);
    char buf[16];
    EXPECT_EQ(read(fd, buf, sizeof buf), 0);
    EXPECT_EQ(write(fd, "gone", 4), 4);
    EXPECT_EQ(read(fd, buf, sizeof buf), 0);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT(S_ISCHR(st.st_mode));
    EXPECT_EQ(major(st.st_rdev), 1);
    EXPECT_EQ(minor(st.st_rdev), 3);
}

CASE(dev_zero_reads_zeros) {
    int fd = open("/dev/zero", O_RDWR);
    EXPECT(fd >= 0);
    unsigned char buf[1000];
    memset(buf, 0xaa, sizeof buf);
    EXPECT_EQ(read(fd, buf, sizeof buf), sizeof buf);
    EXPECT(all_zero(buf, sizeof buf));
    EXPECT_EQ(write(fd, buf, 10), 10);
}

CASE(dev_full_write_is_enospc_and_reads_zeros) {
    int fd = open("/dev/full", O_RDWR);
    EXPECT(fd >= 0);
    EXPECT_ERRNO(write(fd, "x", 1), ENOSPC);
    unsigned char buf[64];
    memset(buf, 0xaa, sizeof buf);
    EXPECT_EQ(read(fd, buf, sizeof buf), sizeof buf);
    EXPECT(all_zero(buf, sizeof buf));
}

CASE(dev_urandom_reads_random_bytes) {
    int fd = open("/dev/urandom", O_RDONLY);
    EXPECT(fd >= 0);
    unsigned char a[64], b[64];
    EXPECT_EQ(read(fd, a, sizeof a), 64);
    EXPECT_EQ(read(fd, b, sizeof b), 64);
    EXPECT(!all_zero(a, sizeof a));
    EXPECT(memcmp(a, b, sizeof a) != 0);
}

/* ---- unknown syscalls, cwd, ioctl ---- */

CASE(unknown_syscall_number_is_enosys) {
    EXPECT_ERRNO(syscall(10000), ENOSYS);
}

CASE(getcwd_chdir_root_round_trip) {
    char start[512], now[512];
    EXPECT(getcwd(start, sizeof start) != NULL);
    struct stat a, b;
    EXPECT_OK(stat(start, &a));
    EXPECT_OK(stat(".", &b));
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(a.st_dev, b.st_dev);
    EXPECT_OK(chdir("/"));
    EXPECT(getcwd(now, sizeof now) != NULL);
    EXPECT_STREQ(now, "/");
    EXPECT_OK(chdir(start));
    EXPECT(getcwd(now, sizeof now) != NULL);
    EXPECT_STREQ(now, start);
}

CASE(getcwd_syscall_returns_length_and_erange_when_small) {
    char buf[512];
    EXPECT_OK(chdir("/"));
    EXPECT_EQ(syscall(SYS_getcwd, buf, sizeof buf), 2); /* "/" and its NUL */
    EXPECT_STREQ(buf, "/");
    EXPECT_ERRNO(syscall(SYS_getcwd, buf, 1), ERANGE);
}

CASE(chdir_errors) {
    int fd = open(scratch_path("file"), O_CREAT | O_WRONLY, 0644);
    EXPECT(fd >= 0);
    EXPECT_ERRNO(chdir(scratch_path("file")), ENOTDIR);
    EXPECT_ERRNO(chdir(scratch_path("missing")), ENOENT);
    EXPECT_ERRNO(fchdir(fd), ENOTDIR);
}

CASE(ioctl_tcgets_on_regular_file_is_enotty) {
    int fd = open(scratch_path("plain"), O_CREAT | O_RDWR, 0644);
    EXPECT(fd >= 0);
    struct termios t;
    EXPECT_ERRNO(ioctl(fd, TCGETS, &t), ENOTTY);
    EXPECT_ERRNO(isatty(fd) ? 0 : -1, ENOTTY);
    int devnull = open("/dev/null", O_RDWR);
    EXPECT_ERRNO(ioctl(devnull, TCGETS, &t), ENOTTY);
}

CASE(ioctl_on_bad_fd_is_ebadf) {
    struct termios t;
    EXPECT_ERRNO(ioctl(-1, TCGETS, &t), EBADF);
    EXPECT_ERRNO(ioctl(9999, FIONREAD, &t), EBADF);
}

CASE(ioctl_fionread_on_pipe_counts_bytes) {
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_EQ(write(p[1], "12345", 5), 5);
    int n = -1;
    EXPECT_OK(ioctl(p[0], FIONREAD, &n));
    EXPECT_EQ(n, 5);
}

/* Last in the file: a kernel that mishandles it may take the whole run down. */
CASE(syscall_number_minus_one_is_enosys) {
    EXPECT_ERRNO(syscall(-1L), ENOSYS);
}

CASE(truncate_and_fallocate_past_rlimit_fsize_are_efbig_with_sigxfsz) {
    signal(SIGXFSZ, SIG_IGN);
    int fd = open(scratch_path("grow"), O_CREAT | O_TRUNC | O_RDWR, 0644);
    EXPECT_OK(ftruncate(fd, 8192));
    struct rlimit lim = {4096, RLIM_INFINITY};
    EXPECT(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    EXPECT_ERRNO(ftruncate(fd, 16384), EFBIG);
    EXPECT_ERRNO(truncate(scratch_path("grow"), 16384), EFBIG);
    EXPECT_ERRNO(fallocate(fd, 0, 0, 16384), EFBIG);
    EXPECT_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 16384)); /* does not grow it */
    EXPECT_OK(ftruncate(fd, 6000)); /* shrinking is fine, even above the limit */
    EXPECT_OK(ftruncate(fd, 1000));
    EXPECT_ERRNO(ftruncate(fd, 5000), EFBIG);
    pid_t child = fork();
    if (child == 0) { signal(SIGXFSZ, SIG_DFL); (void)!ftruncate(fd, 5000); _exit(0); }
    int status;
    EXPECT(waitpid(child, &status, 0) == child);
    EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ);
}

CASE(write_past_rlimit_fsize_is_cut_short_then_efbig_with_sigxfsz) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {1024, RLIM_INFINITY};
    EXPECT(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    int fd = open(scratch_path("fsize"), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    EXPECT(fd >= 0);
    char data[1500] = {0};
    EXPECT(write(fd, data, 1000) == 1000);
    EXPECT(write(fd, data, 100) == 24); /* cut at the limit */
    EXPECT_ERRNO(write(fd, data, 1), EFBIG);
    EXPECT_ERRNO(pwrite(fd, data, 1, 4096), EFBIG);
    EXPECT(pwrite(fd, data, 10, 10) == 10); /* below the limit, fine */
    struct stat st;
    EXPECT(fstat(fd, &st) == 0 && st.st_size == 1024);
    /* With the default action, the signal ends the process. */
    pid_t child = fork();
    if (child == 0) { signal(SIGXFSZ, SIG_DFL); (void)!write(fd, data, 1); _exit(0); }
    int status;
    EXPECT(waitpid(child, &status, 0) == child);
    EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ);
    close(fd);
}

CASE(prlimit_reads_and_sets_a_child_processes_limit) {
    pid_t child = fork();
    if (child == 0) { pause(); _exit(0); }
    struct rlimit set = {5, 5}, got;
    EXPECT(prlimit(child, RLIMIT_NOFILE, &set, NULL) == 0);
    EXPECT(prlimit(child, RLIMIT_NOFILE, NULL, &got) == 0);
    EXPECT(got.rlim_cur == 5 && got.rlim_max == 5);
    /* The caller's own limit is untouched. */
    EXPECT(getrlimit(RLIMIT_NOFILE, &got) == 0 && got.rlim_cur != 5);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    EXPECT_ERRNO(prlimit(child, RLIMIT_NOFILE, NULL, &got), ESRCH);
}

CASE(siocethtool_on_lo_answers_link_and_refuses_settings) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    EXPECT(s >= 0);
    struct { uint32_t cmd; uint32_t data; } value = {0x0000000a /* ETHTOOL_GLINK */, 0};
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    ifr.ifr_data = (void *)&value;
    EXPECT(ioctl(s, 0x8946 /* SIOCETHTOOL */, &ifr) == 0);
    EXPECT(value.data == 1);
    uint32_t gset[11] = {0x00000001 /* ETHTOOL_GSET */};
    ifr.ifr_data = (void *)gset;
    EXPECT_ERRNO(ioctl(s, 0x8946, &ifr), EOPNOTSUPP);
    strcpy(ifr.ifr_name, "nosuchif0");
    EXPECT_ERRNO(ioctl(s, 0x8946, &ifr), ENODEV);
    close(s);
}

CASE(scheduling_of_another_users_process_needs_permission) {
    /* LTP sched_setparam05, sched_setaffinity01: EPERM; SCHED_DEADLINE priorities are 0. */
    EXPECT_EQ(sched_get_priority_max(6 /* SCHED_DEADLINE */), 0);
    EXPECT_EQ(sched_get_priority_min(6), 0);
    pid_t root = getpid();
    pid_t child = fork();
    if (child == 0) {
        if (setuid(65534) != 0) _exit(1);
        struct sched_param p = {0};
        if (sched_setparam(root, &p) == 0 || errno != EPERM) _exit(2);
        if (sched_setscheduler(root, SCHED_OTHER, &p) == 0 || errno != EPERM) _exit(3);
        cpu_set_t m;
        CPU_ZERO(&m);
        CPU_SET(0, &m);
        if (sched_setaffinity(root, sizeof m, &m) == 0 || errno != EPERM) _exit(4);
        if (sched_setparam(0, &p) != 0) _exit(5);
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(child, &st, 0), child);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

CASE(proc_sys_kernel_version_is_unames) {
    struct utsname u;
    EXPECT_OK(uname(&u));
    char buf[256], want[256];
    EXPECT(slurp("/proc/sys/kernel/version", buf, sizeof buf) > 0);
    snprintf(want, sizeof want, "%s\n", u.version);
    EXPECT_STREQ(buf, want);
}

CASE(proc_sys_kernel_shows_the_sysv_limits) {
    /* LTP shmctl03 and friends read them. */
    char buf[128];
    const char *files[] = {"shmmax", "shmall", "shmmni", "msgmax", "msgmnb", "msgmni", "sem", "tainted"};
    for (unsigned i = 0; i < sizeof files / sizeof *files; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/sys/kernel/%s", files[i]);
        EXPECT(slurp(path, buf, sizeof buf) > 1);
    }
    EXPECT(slurp("/proc/sys/kernel/msgmax", buf, sizeof buf) > 0 && atol(buf) == 8192);
}

COMPAT_MAIN()

/* ---- sched_setattr / sched_getattr ---- */

struct compat_sched_attr {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
    uint32_t util_min, util_max;
};

static long setattr(pid_t pid, struct compat_sched_attr *a, unsigned flags) {
    return syscall(SYS_sched_setattr, pid, a, flags);
}
static long getattr(pid_t pid, struct compat_sched_attr *a, unsigned size, unsigned flags) {
    return syscall(SYS_sched_getattr, pid, a, size, flags);
}

CASE(sched_setattr_and_getattr_round_trip_each_policy) {
    struct compat_sched_attr a;
    memset(&a, 0xff, sizeof a);
    EXPECT_OK(getattr(0, &a, sizeof a, 0));
    EXPECT_EQ(a.size, 56);
    EXPECT_EQ(a.policy, SCHED_OTHER);
    EXPECT_EQ(a.flags, 0);
    EXPECT_EQ(a.priority, 0);
    /* (a fair task's runtime is its slice since Linux 6.6; not checked) */
    /* a 48-byte (first version) reader gets 48 bytes and is told so */
    memset(&a, 0xff, sizeof a);
    EXPECT_OK(getattr(0, &a, 48, 0));
    EXPECT_EQ(a.size, 48);
    EXPECT_EQ(a.util_min, 0xffffffffu);
    /* SCHED_OTHER with a nice value: the nice is applied */
    memset(&a, 0, sizeof a);
    a.size = 48;
    a.policy = SCHED_OTHER;
    a.nice = 5;
    EXPECT_OK(setattr(0, &a, 0));
    EXPECT_EQ(getpriority(PRIO_PROCESS, 0), 5);
    memset(&a, 0, sizeof a);
    EXPECT_OK(getattr(0, &a, 48, 0));
    EXPECT_EQ(a.nice, 5);
    /* SCHED_FIFO at 10, reset on fork */
    memset(&a, 0, sizeof a);
    a.size = 48;
    a.policy = SCHED_FIFO;
    a.priority = 10;
    a.flags = 1; /* SCHED_FLAG_RESET_ON_FORK */
    EXPECT_OK(setattr(0, &a, 0));
    EXPECT_EQ(sched_getscheduler(0), SCHED_FIFO | SCHED_RESET_ON_FORK);
    memset(&a, 0, sizeof a);
    EXPECT_OK(getattr(0, &a, 48, 0));
    EXPECT_EQ(a.policy, SCHED_FIFO);
    EXPECT_EQ(a.priority, 10);
    EXPECT_EQ(a.flags, 1);
    EXPECT_EQ(a.nice, 0); /* a real-time policy reports no nice */
    pid_t pid = fork();
    if (pid == 0) _exit(sched_getscheduler(0) == SCHED_OTHER ? 0 : 1);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(st, 0);
    /* SCHED_DEADLINE: 10 ms every 30 ms */
    memset(&a, 0, sizeof a);
    a.size = 48;
    a.policy = 6;
    a.runtime = 10000000;
    a.deadline = 30000000;
    a.period = 30000000;
    EXPECT_OK(setattr(0, &a, 0));
    EXPECT_EQ(sched_getscheduler(0), 6);
    memset(&a, 0, sizeof a);
    EXPECT_OK(getattr(0, &a, 48, 0));
    EXPECT_EQ(a.policy, 6);
    EXPECT_EQ(a.runtime, 10000000);
    EXPECT_EQ(a.deadline, 30000000);
    EXPECT_EQ(a.period, 30000000);
    /* a deadline task may not fork */
    EXPECT_ERRNO(fork(), EAGAIN);
    /* back to normal; keeping the policy while changing the nice */
    memset(&a, 0, sizeof a);
    a.size = 48;
    a.policy = SCHED_BATCH;
    EXPECT_OK(setattr(0, &a, 0));
    EXPECT_EQ(sched_getscheduler(0), SCHED_BATCH);
    memset(&a, 0, sizeof a);
    a.size = 48;
    a.policy = SCHED_FIFO; /* ignored: */
    a.flags = 8; /* SCHED_FLAG_KEEP_POLICY */
    a.nice = 3;
    EXPECT_OK(setattr(0, &a, 0));
    EXPECT_EQ(sched_getscheduler(0), SCHED_BATCH);
    EXPECT_EQ(getpriority(PRIO_PROCESS, 0), 3);
}

CASE(sched_setattr_and_getattr_errors) {
    struct compat_sched_attr a;
    memset(&a, 0, sizeof a);
    a.size = 48;
    EXPECT_ERRNO(setattr(0, NULL, 0), EINVAL);
    EXPECT_ERRNO(setattr(-1, &a, 0), EINVAL);
    EXPECT_ERRNO(setattr(0, &a, 1), EINVAL);
    EXPECT_ERRNO(setattr(4194304, &a, 0), ESRCH);
    EXPECT_ERRNO(setattr(0, (void *)8, 0), EFAULT);
    /* a size too small or too big is E2BIG, and the kernel's size is written back */
    a.size = 40;
    EXPECT_ERRNO(setattr(0, &a, 0), E2BIG);
    EXPECT_EQ(a.size, 56);
    char big[128];
    memset(big, 0, sizeof big);
    ((struct compat_sched_attr *)big)->size = 128;
    EXPECT_OK(setattr(0, (void *)big, 0)); /* larger, but zeros past what Linux knows */
    big[100] = 1;
    EXPECT_ERRNO(setattr(0, (void *)big, 0), E2BIG);
    /* size 0 means the first version */
    memset(&a, 0, sizeof a);
    EXPECT_OK(setattr(0, &a, 0));
    a.size = 48;
    a.policy = 7;
    EXPECT_ERRNO(setattr(0, &a, 0), EINVAL);
    a.policy = SCHED_OTHER;
    a.flags = 0x80;
    EXPECT_ERRNO(setattr(0, &a, 0), EINVAL);
    a.flags = 0;
    a.priority = 1;
    EXPECT_ERRNO(setattr(0, &a, 0), EINVAL); /* priority only for real-time policies */
    a.policy = SCHED_RR;
    a.priority = 0;
    EXPECT_ERRNO(setattr(0, &a, 0), EINVAL);
    a.priority = 100;
    EXPECT_ERRNO(setattr(0, &a, 0), EINVAL);
    /* deadline parameters: runtime <= deadline <= period, runtime >= 1024 ns */
    a.policy = 6;
    a.priority = 0;
    a.runtime = 20000000; a.deadline = 10000000; a.period = 30000000;
    EXPECT_ERRNO(setattr(0, &a, 0), EINVAL);
    a.runtime = 100; a.deadline = 10000000;
    EXPECT_ERRNO(setattr(0, &a, 0), EINVAL);
    a.runtime = 1000000; a.deadline = 0;
    EXPECT_ERRNO(setattr(0, &a, 0), EINVAL);
    /* more than the CPUs can give */
    a.runtime = 30000000; a.deadline = 30000000; a.period = 30000000;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n == 1) EXPECT_ERRNO(setattr(0, &a, 0), EBUSY);
    /* getattr */
    EXPECT_ERRNO(getattr(0, &a, 47, 0), EINVAL);
    EXPECT_ERRNO(getattr(0, &a, 8192, 0), EINVAL);
    EXPECT_ERRNO(getattr(0, &a, 48, 1), EINVAL);
    EXPECT_ERRNO(getattr(0, NULL, 48, 0), EINVAL);
    EXPECT_ERRNO(getattr(4194304, &a, 48, 0), ESRCH);
    EXPECT_ERRNO(getattr(0, (void *)8, 48, 0), EFAULT);
}

CASE(sched_setattr_needs_cap_sys_nice_for_deadline_and_raising) {
    EXPECT_OK(setresuid(1000, 1000, 1000));
    struct compat_sched_attr a;
    memset(&a, 0, sizeof a);
    a.size = 48;
    a.policy = 6;
    a.runtime = 1000000; a.deadline = 30000000; a.period = 30000000;
    EXPECT_ERRNO(setattr(0, &a, 0), EPERM);
    memset(&a, 0, sizeof a);
    a.size = 48;
    a.policy = SCHED_FIFO;
    a.priority = 1;
    EXPECT_ERRNO(setattr(0, &a, 0), EPERM); /* RLIMIT_RTPRIO is 0 */
    a.policy = SCHED_OTHER;
    a.priority = 0;
    a.nice = 4;
    EXPECT_OK(setattr(0, &a, 0));
    a.nice = 2;
    EXPECT_ERRNO(setattr(0, &a, 0), EPERM); /* lowering the nice needs RLIMIT_NICE */
}

CASE(prctl_timerslack_thp_timing_and_argument_checks) {
    EXPECT_EQ(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), 50000);
    EXPECT_OK(prctl(PR_SET_TIMERSLACK, 200000, 0, 0, 0));
    EXPECT_EQ(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), 200000);
    pid_t pid = fork();
    if (pid == 0) {
        /* a child starts with its parent's slack, which is also its default */
        if (prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0) != 200000) _exit(1);
        prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0);
        prctl(PR_SET_TIMERSLACK, 0, 0, 0, 0);
        _exit(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0) == 200000 ? 0 : 2);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(st, 0);
    EXPECT_OK(prctl(PR_SET_TIMERSLACK, 0, 0, 0, 0));
    EXPECT_EQ(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), 50000);
    EXPECT_EQ(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0), 0);
    EXPECT_OK(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0));
    EXPECT_EQ(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0), 1);
    EXPECT_ERRNO(prctl(PR_SET_THP_DISABLE, 1, 1, 0, 0), EINVAL);
    EXPECT_ERRNO(prctl(PR_GET_THP_DISABLE, 1, 0, 0, 0), EINVAL);
    EXPECT_ERRNO(prctl(PR_GET_NO_NEW_PRIVS, 1, 0, 0, 0), EINVAL);
    EXPECT_EQ(prctl(PR_GET_TIMING, 0, 0, 0, 0), PR_TIMING_STATISTICAL);
    EXPECT_ERRNO(prctl(PR_SET_TIMING, PR_TIMING_TIMESTAMP, 0, 0, 0), EINVAL);
    EXPECT_EQ(syscall(SYS_arch_prctl, 0x1011 /* ARCH_GET_CPUID */, 0), 1);
}

CASE(setrlimit_nofile_hard_limit_stays_within_nr_open) {
    char text[32];
    EXPECT(slurp("/proc/sys/fs/nr_open", text, sizeof text) > 0);
    rlim_t nr_open = strtoul(text, NULL, 10);
    struct rlimit rl = {1024, nr_open + 1};
    EXPECT_ERRNO(setrlimit(RLIMIT_NOFILE, &rl), EPERM); /* even for root */
    struct rlimit now;
    EXPECT_OK(getrlimit(RLIMIT_NOFILE, &now));
    EXPECT_OK(setrlimit(RLIMIT_NOFILE, &now));
    rl.rlim_cur = nr_open + 2;
    EXPECT_ERRNO(setrlimit(RLIMIT_NOFILE, &rl), EINVAL); /* soft above hard first */
}

/* What trinity's children did to trinity: another process of the same user sets a
 * process's RLIMIT_CPU to 0 with prlimit64, and the hard limit kills it (SIGKILL) once it
 * has run at all. */
CASE(prlimit_cpu_zero_from_another_process_kills_it) {
    int ready[2];
    EXPECT_OK(pipe(ready));
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        (void)!write(ready[1], "r", 1);
        for (volatile unsigned long x = 0;; x++) {}
    }
    close(ready[1]);
    char c;
    EXPECT_EQ(read(ready[0], &c, 1), 1);
    struct rlimit zero = {0, 0}, old;
    EXPECT_OK(prlimit(pid, RLIMIT_CPU, &zero, &old));
    EXPECT_EQ(old.rlim_max, RLIM_INFINITY);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFSIGNALED(st));
    EXPECT_EQ(WTERMSIG(st), SIGKILL);
}

static volatile int xcpu_seen;
static void on_xcpu(int sig) { (void)sig; xcpu_seen++; }

CASE(rlimit_cpu_sends_sigxcpu_at_the_soft_limit_and_sigkill_at_the_hard_one) {
    int seen[2];
    EXPECT_OK(pipe(seen));
    pid_t pid = fork();
    if (pid == 0) {
        close(seen[0]);
        signal(SIGXCPU, on_xcpu);
        struct rlimit rl = {1, 2};
        if (setrlimit(RLIMIT_CPU, &rl) != 0) _exit(1);
        int told = 0;
        for (volatile unsigned long x = 0;; x++) {
            if (xcpu_seen && !told) {
                struct rlimit now;
                getrlimit(RLIMIT_CPU, &now);
                char c = now.rlim_cur == 2 ? 'y' : 'n'; /* the soft limit moved a second on */
                (void)!write(seen[1], &c, 1);
                told = 1;
            }
        }
    }
    close(seen[1]);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFSIGNALED(st));
    EXPECT_EQ(WTERMSIG(st), SIGKILL);
    char c = 0;
    EXPECT_EQ(read(seen[0], &c, 1), 1);
    EXPECT_EQ(c, 'y');
}

/* SCHED_RESET_ON_FORK takes a child back from a real-time policy, and from a negative nice;
 * SCHED_BATCH and SCHED_IDLE, and a positive nice, it keeps (sched_fork). */
static int child_policy_after_fork(int policy, int nice_value) {
    struct sched_param p = {.sched_priority = policy == SCHED_FIFO || policy == SCHED_RR ? 1 : 0};
    EXPECT_OK(sched_setscheduler(0, policy | SCHED_RESET_ON_FORK, &p));
    if (policy == SCHED_OTHER || policy == SCHED_BATCH) EXPECT_OK(setpriority(PRIO_PROCESS, 0, nice_value));
    int fds[2];
    EXPECT_OK(pipe(fds));
    pid_t pid = fork();
    if (pid == 0) {
        int got[3] = {sched_getscheduler(0), getpriority(PRIO_PROCESS, 0), 0};
        _exit(write(fds[1], got, sizeof got) == sizeof got ? 0 : 1);
    }
    int got[3] = {-1, -1, 0}, st;
    EXPECT_EQ(read(fds[0], got, sizeof got), (ssize_t)sizeof got);
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    close(fds[0]);
    close(fds[1]);
    struct sched_param zero = {0};
    EXPECT_OK(sched_setscheduler(0, SCHED_OTHER, &zero));
    EXPECT_OK(setpriority(PRIO_PROCESS, 0, 0));
    return got[0] | got[1] << 8;
}

CASE(sched_reset_on_fork_resets_only_real_time_policies_and_negative_nice) {
    EXPECT_EQ(child_policy_after_fork(SCHED_FIFO, 0), SCHED_OTHER);
    EXPECT_EQ(child_policy_after_fork(SCHED_RR, 0), SCHED_OTHER);
    EXPECT_EQ(child_policy_after_fork(SCHED_BATCH, 0), SCHED_BATCH);
    EXPECT_EQ(child_policy_after_fork(SCHED_IDLE, 0), SCHED_IDLE);
    EXPECT_EQ(child_policy_after_fork(SCHED_OTHER, -5), SCHED_OTHER);       /* nice back to 0 */
    EXPECT_EQ(child_policy_after_fork(SCHED_OTHER, 5), SCHED_OTHER | 5 << 8); /* kept */
}
