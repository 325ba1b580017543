// The sentry's confinement: its seccomp filter (built with libseccomp), its capabilities
// (with libcap), no_new_privs, and its own pid namespace. Each function is one host
// operation (the relay is one loop); the policy (which calls, which capabilities) is data
// in Swift (JoeySandbox/Confinement.swift).
#define _GNU_SOURCE
#include "CJoey.h"
#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/capability.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>

// The filter the rules describe; NULL (errno set) when libseccomp refuses one.
static scmp_filter_ctx build_filter(const joey_seccomp_rule *rules, int count) {
    // Anything not listed traps: in the sentry that is a SIGSYS (reported, then the sentry
    // exits); a guest call in a systrap stub traps anyway, so the stubs, which inherit this
    // filter, keep working under it.
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!ctx) { errno = ENOMEM; return NULL; }
    // Calls of another ABI (int $0x80, sysenter) trap too rather than kill: a guest's reach a
    // stub's handler and become the SIGSYS Linux gives a confined process; the sentry makes none.
    int a = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
    if (a != 0) { seccomp_release(ctx); errno = -a; return NULL; }
    for (int i = 0; i < count; i++) {
        const joey_seccomp_rule *x = &rules[i];
        uint32_t action = x->errno_value ? SCMP_ACT_ERRNO((uint32_t)x->errno_value) : SCMP_ACT_ALLOW;
        int r = x->arg < 0 ? seccomp_rule_add(ctx, action, x->nr, 0)
                           : seccomp_rule_add(ctx, action, x->nr, 1,
                                              SCMP_CMP((unsigned)x->arg, SCMP_CMP_MASKED_EQ, x->mask, x->value));
        if (r != 0) { seccomp_release(ctx); errno = -r; return NULL; }
    }
    return ctx;
}

int joey_seccomp_install(const joey_seccomp_rule *rules, int count) {
    scmp_filter_ctx ctx = build_filter(rules, count);
    if (!ctx) return -errno;
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (r == 0) r = seccomp_load(ctx);
    seccomp_release(ctx);
    return r;
}

// libseccomp's version, packed as major << 16 | minor << 8 | micro (joey --version).
unsigned joey_libseccomp_version(void) {
    const struct scmp_version *v = seccomp_version();
    return v ? v->major << 16 | v->minor << 8 | v->micro : 0;
}

// The commit the binary was built from: `make release` passes it (-DJOEY_COMMIT);
// a plain `swift build` does not.
const char *joey_build_commit(void) {
#ifdef JOEY_COMMIT
    return JOEY_COMMIT;
#else
    return "unknown (not built by make)";
#endif
}

int joey_seccomp_export(const joey_seccomp_rule *rules, int count, int fd) {
    scmp_filter_ctx ctx = build_filter(rules, count);
    if (!ctx) return -errno;
    int r = seccomp_export_pfc(ctx, fd);
    seccomp_release(ctx);
    return r;
}

int joey_pivot_to_empty_root(const char **step) {
    // A mount namespace of its own, where nothing propagates back to the host.
    *step = "unshare(CLONE_NEWNS)";
    if (unshare(CLONE_NEWNS) != 0) return -errno;
    *step = "making every mount private";
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -errno;
    // An empty tmpfs (over /tmp, in this namespace only) becomes the root.
    *step = "mounting an empty tmpfs for the new root";
    if (mount("joey-sentry-root", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k,mode=0755") != 0) return -errno;
    *step = "making the old root's mount point";
    if (mkdir("/tmp/old", 0700) != 0) return -errno;
    *step = "pivot_root";
    if (syscall(SYS_pivot_root, "/tmp", "/tmp/old") != 0) return -errno;
    *step = "chdir to the new root";
    if (chdir("/") != 0) return -errno;
    *step = "detaching the host's root";
    if (umount2("/old", MNT_DETACH) != 0) return -errno;
    *step = "removing the old root's mount point";
    if (rmdir("/old") != 0) return -errno;
    *step = "making the new root read-only";
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) return -errno;
    *step = "";
    return 0;
}

int joey_caps_limit(uint64_t keep) {
    // The bounding set first (dropping from it needs CAP_SETPCAP, which goes below).
    for (int c = 0; c <= CAP_LAST_CAP; c++) {
        if (keep & (1ULL << c)) continue;
        if (CAP_IS_SUPPORTED(c) && cap_drop_bound((cap_value_t)c) != 0 && errno != EINVAL) return -errno;
    }
    if (cap_reset_ambient() != 0 && errno != EINVAL) return -errno;
    cap_t caps = cap_init();
    if (!caps) return -errno;
    for (int c = 0; c <= CAP_LAST_CAP; c++) {
        if (!(keep & (1ULL << c))) continue;
        cap_value_t v = (cap_value_t)c;
        cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET);
        cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET);
    }
    int r = cap_set_proc(caps) == 0 ? 0 : -errno;
    cap_free(caps);
    return r;
}

uint64_t joey_caps_permitted(void) {
    cap_t caps = cap_get_proc();
    if (!caps) return 0;
    uint64_t mask = 0;
    for (int c = 0; c <= CAP_LAST_CAP && c < 64; c++) {
        cap_flag_value_t v = CAP_CLEAR;
        if (cap_get_flag(caps, (cap_value_t)c, CAP_PERMITTED, &v) == 0 && v == CAP_SET) mask |= 1ULL << c;
    }
    cap_free(caps);
    return mask;
}

int64_t joey_raw_syscall(int64_t nr, const uint64_t args[6]) {
    long r = syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
    return r == -1 ? -errno : r;
}

int joey_no_new_privs(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : -errno;
}

int joey_futex_hash_global(void) {
    // PR_FUTEX_HASH (78), PR_FUTEX_HASH_SET_SLOTS (1), 0 slots: the system-wide hash.
    return prctl(78, 1, 0, 0, 0) == 0 ? 0 : -errno;
}

static void sigsys_report(int sig, siginfo_t *info, void *context) {
    (void)sig; (void)context;
    char msg[160] = "joey: the sentry made host system call ";
    size_t n = strlen(msg);
    char digits[12];
    int d = 0;
    unsigned nr = (unsigned)info->si_syscall;
    do { digits[d++] = (char)('0' + nr % 10); nr /= 10; } while (nr && d < 11);
    while (d > 0 && n < sizeof msg - 1) msg[n++] = digits[--d];
    const char *tail = ", which its seccomp allow-list does not include (rerun with --unconfined, and report it)\n";
    for (const char *t = tail; *t && n < sizeof msg - 1; t++) msg[n++] = *t;
    ssize_t w = write(2, msg, n);
    (void)w;
    _exit(70);
}

int joey_report_sigsys(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = sigsys_report;
    sa.sa_flags = SA_SIGINFO;
    sigfillset(&sa.sa_mask);
    return sigaction(SIGSYS, &sa, NULL) == 0 ? 0 : -errno;
}

// The relay `joey do` leaves in the caller's pid namespace: the sentry it forked is pid 1 of
// its own, out of reach of the host's processes and signals except through this process.
static volatile pid_t relay_child;
// The sentry's end of the pipe it reports its exit status through (-1: none).
static int relay_status_fd = -1;

static void relay_forward(int sig, siginfo_t *info, void *context) {
    (void)context;
    // The terminal signals a whole process group (SI_KERNEL): the sentry, in the same group,
    // has its own copy. Only what was sent to this process alone is passed on.
    if (info->si_code == SI_KERNEL) {
        // A background read or write of the terminal: the sentry, a namespace's init, ignores
        // the job-control stop, so the relay stops it (a SIGSTOP from the parent namespace
        // always works) and itself, and the caller's shell sees the job stopped, as natively.
        // Its `fg` sends SIGCONT to the whole group.
        if (sig == SIGTTIN || sig == SIGTTOU) {
            kill(relay_child, SIGSTOP);
            kill(getpid(), SIGSTOP);
        }
        return;
    }
    kill(relay_child, sig);
}

// `joey do`'s network namespace, made by a thread of its own while the main thread starts the
// Swift runtime and reads the command line (the kernel's work, about 0.8 ms here, mostly
// sysctl tables and the loopback device, on the critical path of every start before):
// unshare moves only the calling thread, so the thread makes the namespace and keeps a
// descriptor of it for the main thread to join (NetworkNamespace.enterForDo).
static pthread_t netns_thread;
static int netns_started;
static int netns_fd = -1;

static void *netns_make(void *unused) {
    (void)unused;
    netns_fd = unshare(CLONE_NEWNET) == 0 ? open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC) : -1;
    return NULL;
}

void joey_netns_prepare(void) {
    if (netns_started) return;
    netns_started = pthread_create(&netns_thread, NULL, netns_make, NULL) == 0;
}

// Before main: a line that looks like root's `joey do` without --network or --unconfined
// (anything else, or a guest argument that merely looks so, takes the slower way: the main
// thread makes the namespace itself). glibc hands init_array functions main's arguments.
__attribute__((constructor)) static void netns_early(int argc, char **argv, char **envp) {
    (void)envp;
    if (argc < 3 || strcmp(argv[1], "do") != 0 || getuid() != 0) return;
    for (int i = 2; i < argc; i++) {
        if (strncmp(argv[i], "--network", 9) == 0 || strcmp(argv[i], "--unconfined") == 0) return;
    }
    joey_netns_prepare();
}

int joey_netns_take(void) {
    if (!netns_started) return -1;
    pthread_join(netns_thread, NULL);
    netns_started = 0;
    int fd = netns_fd;
    netns_fd = -1;
    return fd;
}

int joey_pid_namespace_relay(void) {
    if (unshare(CLONE_NEWPID) != 0) return -errno;
    int status_pipe[2];
    if (pipe2(status_pipe, O_CLOEXEC) != 0) return -errno;
    pid_t pid = fork();
    if (pid < 0) { int e = errno; close(status_pipe[0]); close(status_pipe[1]); return -e; }
    if (pid == 0) {
        // (The parent's pid is not visible from here, so a SIGKILL to it before this line
        // goes unnoticed: the sentry then runs its program to the end on its own.)
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(status_pipe[0]);
        relay_status_fd = status_pipe[1];
        return 0;
    }
    relay_child = pid;
    // Everything but the read end of the status pipe, moved to 3.
    if (status_pipe[0] != 3) {
        if (dup3(status_pipe[0], 3, O_CLOEXEC) < 0) _exit(125);
    }
    syscall(SYS_close_range, 4, ~0U, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = relay_forward;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (int s = 1; s < 65; s++) {
        // Faults stay fatal to the relay itself; SIGCHLD tells it the sentry changed state.
        if (s == SIGKILL || s == SIGSTOP || s == SIGCHLD || s == SIGSEGV || s == SIGBUS || s == SIGILL ||
            s == SIGFPE || s == SIGTRAP || s == SIGSYS) continue;
        struct sigaction old;
        if (sigaction(s, NULL, &old) != 0) continue; // glibc's own (32, 33)
        if (old.sa_handler == SIG_IGN) continue;       // what the caller ignores stays ignored
        sigaction(s, &sa, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    // The sentry reports the exit status once its guest is done, before tearing down its
    // stubs and itself (the end of the pid namespace, about a millisecond here): the caller
    // has it at once. Without a report (the sentry died first) its wait status says.
    unsigned char code;
    ssize_t n;
    while ((n = read(3, &code, 1)) < 0 && errno == EINTR) {}
    if (n == 1) _exit(code);
    for (;;) {
        int status;
        if (waitpid(pid, &status, 0) < 0) {
            if (errno == EINTR) continue;
            _exit(125);
        }
        if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
        if (WIFSIGNALED(status)) {
            // Dies of the same signal, so its caller sees what it would have seen (no core).
            int s = WTERMSIG(status);
            struct rlimit none_core = { 0, 0 };
            setrlimit(RLIMIT_CORE, &none_core);
            signal(s, SIG_DFL);
            kill(getpid(), s);
            _exit(128 + s);
        }
    }
}

void joey_relay_report_exit(int code) {
    if (relay_status_fd < 0) return;
    unsigned char c = (unsigned char)code;
    while (write(relay_status_fd, &c, 1) < 0 && errno == EINTR) {}
    close(relay_status_fd);
    relay_status_fd = -1;
}

int64_t joey_fork_sentry(int new_pid_namespace) {
    int own = -1;
    if (new_pid_namespace) {
        own = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (own < 0) return -errno;
        if (unshare(CLONE_NEWPID) != 0) { int e = errno; close(own); return -e; }
    }
    fflush(NULL); // nothing buffered is written twice
    pid_t pid = fork();
    int err = errno;
    if (pid == 0) {
        if (own >= 0) close(own);
        for (int s = 1; s < 65; s++) {
            if (s == SIGKILL || s == SIGSTOP) continue;
            signal(s, SIG_DFL); // glibc refuses its own two (32, 33): they stay its
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        return 0;
    }
    if (own >= 0) {
        // The caller's later children (hooks) are born in its own pid namespace again.
        if (setns(own, CLONE_NEWPID) != 0 && pid > 0) {
            err = errno;
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            pid = -1;
        }
        close(own);
    }
    return pid < 0 ? -err : pid;
}

int joey_mount_own_proc(const char **step) {
    *step = "unshare(CLONE_NEWNS)";
    if (unshare(CLONE_NEWNS) != 0) return -errno;
    *step = "making every mount private";
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -errno;
    *step = "mounting proc for the sentry's pid namespace";
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) return -errno;
    *step = "";
    return 0;
}
