/* seccomp(2) for the program itself: strict mode, classic-BPF filters with each action,
 * precedence between filters, inheritance across fork, TSYNC, the checks a filter must pass
 * to be installed, SIGSYS's siginfo, PR_GET_SECCOMP and /proc/self/status. Each case runs in
 * its own child, so the filters die with it. */
#include "../compat.h"
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static long install_filter(unsigned flags, struct sock_filter *f, unsigned short n) {
    struct sock_fprog prog = { .len = n, .filter = f };
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

/* A filter answering `action` for system call `nr` and allowing everything else. */
static long filter_one(int nr, unsigned action) {
    struct sock_filter f[] = {
        LOAD_NR,
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, action),
        ALLOW,
    };
    return install_filter(0, f, 4);
}

static void no_new_privs(void) { EXPECT_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)); }

/* Runs fn in a child and returns its wait status. */
static int in_child(void (*fn)(void)) {
    pid_t p = fork();
    if (p == 0) { fn(); _exit(0); }
    int st = 0;
    waitpid(p, &st, 0);
    return st;
}

static void strict_then_getpid(void) {
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL) != 0) _exit(3);
    if (write(1, "", 0) != 0) syscall(SYS_exit, 4); /* write is allowed */
    syscall(SYS_getpid);                            /* anything else: SIGKILL */
    syscall(SYS_exit, 5);
}

CASE(seccomp_strict_allows_write_and_kills_on_getpid) {
    int st = in_child(strict_then_getpid);
    EXPECT(WIFSIGNALED(st));
    EXPECT_EQ(WTERMSIG(st), SIGKILL);
}

static void filter_without_nnp_as_nobody(void) {
    if (setresuid(65534, 65534, 65534) != 0) _exit(3);
    _exit(filter_one(SYS_getppid, SECCOMP_RET_ERRNO | EPERM) == -1 && errno == EACCES ? 0 : 4);
}

CASE(seccomp_filter_needs_no_new_privs_or_cap_sys_admin) {
    if (geteuid() != 0) return; /* the check needs a process that can become nobody */
    int st = in_child(filter_without_nnp_as_nobody);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

CASE(seccomp_errno_action_fails_the_call_and_allows_the_rest) {
    no_new_privs();
    EXPECT_OK(filter_one(SYS_getppid, SECCOMP_RET_ERRNO | EPERM));
    EXPECT_ERRNO(syscall(SYS_getppid), EPERM);
    EXPECT(syscall(SYS_getpid) > 0);
    EXPECT_EQ(prctl(PR_GET_SECCOMP), 2);
}

CASE(seccomp_errno_zero_skips_the_call_returning_zero) {
    no_new_privs();
    EXPECT_OK(filter_one(SYS_getpid, SECCOMP_RET_ERRNO | 0));
    EXPECT_EQ(syscall(SYS_getpid), 0);
}

CASE(seccomp_errno_data_is_capped_at_4095) {
    no_new_privs();
    EXPECT_OK(filter_one(SYS_getppid, SECCOMP_RET_ERRNO | 0xffff));
    errno = 0;
    long r = syscall(SYS_getppid);
    EXPECT_EQ(r, -1);
    EXPECT_EQ(errno, 4095);
}

static volatile int trap_code, trap_syscall, trap_errno;
static volatile unsigned trap_arch;
static volatile long trap_rax;
static volatile void *trap_addr;
static void on_sigsys(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    trap_code = si->si_code;
    trap_syscall = si->si_syscall;
    trap_arch = si->si_arch;
    trap_errno = si->si_errno;
    trap_addr = si->si_call_addr;
    trap_rax = ((ucontext_t *)uc)->uc_mcontext.gregs[REG_RAX];
    ((ucontext_t *)uc)->uc_mcontext.gregs[REG_RAX] = 77; /* the call's result as the handler says */
}

CASE(seccomp_trap_raises_sigsys_with_the_call_in_siginfo) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    EXPECT_OK(sigaction(SIGSYS, &sa, NULL));
    no_new_privs();
    EXPECT_OK(filter_one(SYS_getppid, SECCOMP_RET_TRAP | 0x42));
    long r = syscall(SYS_getppid);
    EXPECT_EQ(r, 77);
    EXPECT_EQ(trap_code, 1); /* SYS_SECCOMP */
    EXPECT_EQ(trap_syscall, SYS_getppid);
    EXPECT_EQ(trap_arch, AUDIT_ARCH_X86_64);
    EXPECT_EQ(trap_errno, 0x42);
    EXPECT(trap_addr != NULL);
    EXPECT_EQ(trap_rax, SYS_getppid); /* the call rolled back: rax holds its number */
}

static void kill_process_on_getppid(void) {
    signal(SIGSYS, SIG_IGN); /* a process-wide kill takes no notice of the disposition */
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (filter_one(SYS_getppid, SECCOMP_RET_KILL_PROCESS) != 0) _exit(3);
    syscall(SYS_getppid);
    _exit(4);
}

CASE(seccomp_kill_process_ends_it_with_sigsys) {
    int st = in_child(kill_process_on_getppid);
    EXPECT(WIFSIGNALED(st));
    EXPECT_EQ(WTERMSIG(st), SIGSYS);
}

static void kill_thread_single(void) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (filter_one(SYS_getppid, SECCOMP_RET_KILL_THREAD) != 0) _exit(3);
    syscall(SYS_getppid);
    _exit(4);
}

CASE(seccomp_kill_thread_of_the_only_thread_ends_the_process) {
    int st = in_child(kill_thread_single);
    EXPECT(WIFSIGNALED(st));
    EXPECT_EQ(WTERMSIG(st), SIGSYS);
}

static void *getppid_thread(void *arg) {
    (void)arg;
    syscall(SYS_getppid);
    return (void *)1; /* never reached */
}

static void kill_thread_of_two(void) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (filter_one(SYS_getppid, SECCOMP_RET_KILL_THREAD) != 0) _exit(3);
    pthread_t t;
    if (pthread_create(&t, NULL, getppid_thread, NULL) != 0) _exit(4);
    void *ret = NULL;
    pthread_join(t, &ret); /* the killed thread's tid word is cleared: join returns */
    _exit(ret == NULL ? 0 : 5);
}

CASE(seccomp_kill_thread_ends_only_that_thread) {
    int st = in_child(kill_thread_of_two);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

CASE(seccomp_trace_without_a_tracer_fails_with_enosys) {
    no_new_privs();
    EXPECT_OK(filter_one(SYS_getppid, SECCOMP_RET_TRACE));
    EXPECT_ERRNO(syscall(SYS_getppid), ENOSYS);
}

CASE(seccomp_the_most_restrictive_answer_wins_newest_first_on_ties) {
    no_new_privs();
    EXPECT_OK(filter_one(SYS_getppid, SECCOMP_RET_ERRNO | EACCES));
    EXPECT_OK(filter_one(SYS_getppid, SECCOMP_RET_ALLOW));
    EXPECT_ERRNO(syscall(SYS_getppid), EACCES); /* errno beats allow */
    EXPECT_OK(filter_one(SYS_getppid, SECCOMP_RET_ERRNO | EPERM));
    EXPECT_ERRNO(syscall(SYS_getppid), EPERM); /* two errnos: the newer filter's */
}

CASE(seccomp_filters_see_arguments_and_arch) {
    no_new_privs();
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        LOAD_NR,
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_dup, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 12345, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOTTY),
        ALLOW,
    };
    EXPECT_OK(install_filter(0, f, sizeof f / sizeof f[0]));
    EXPECT_ERRNO(dup(12345), ENOTTY);
    EXPECT_ERRNO(dup(12346), EBADF);
}

CASE(seccomp_scratch_memory_and_alu) {
    no_new_privs();
    /* M[3] = nr * 2 + 1; A = M[3]; X = A; A = nr; A <<= 1; A |= 1; if A == X: errno 33. */
    struct sock_filter f[] = {
        LOAD_NR,
        BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 2),
        BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1),
        BPF_STMT(BPF_ST, 3),
        BPF_STMT(BPF_LDX | BPF_MEM, 3),
        LOAD_NR,
        BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 1),
        BPF_STMT(BPF_ALU | BPF_OR | BPF_K, 1),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 3),
        BPF_STMT(BPF_MISC | BPF_TXA, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid * 2 + 1, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EDOM),
        ALLOW,
    };
    EXPECT_OK(install_filter(0, f, sizeof f / sizeof f[0]));
    EXPECT_ERRNO(syscall(SYS_getppid), EDOM);
    EXPECT(syscall(SYS_getpid) > 0);
}

static void errno_in_child(void) {
    _exit(syscall(SYS_getppid) == -1 && errno == EPERM ? 0 : 3);
}

CASE(seccomp_filters_are_inherited_by_fork) {
    no_new_privs();
    EXPECT_OK(filter_one(SYS_getppid, SECCOMP_RET_ERRNO | EPERM));
    int st = in_child(errno_in_child);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

static volatile int tsync_go, tsync_result;
static void *tsync_thread(void *arg) {
    (void)arg;
    while (!tsync_go) usleep(1000);
    tsync_result = syscall(SYS_getppid) == -1 && errno == EPERM;
    return NULL;
}

CASE(seccomp_tsync_puts_the_filter_on_every_thread) {
    no_new_privs();
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, tsync_thread, NULL), 0);
    struct sock_filter f[] = {
        LOAD_NR,
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        ALLOW,
    };
    EXPECT_EQ(install_filter(SECCOMP_FILTER_FLAG_TSYNC, f, 4), 0);
    tsync_go = 1;
    pthread_join(t, NULL);
    EXPECT_EQ(tsync_result, 1);
}

CASE(seccomp_invalid_programs_are_einval) {
    no_new_privs();
    struct sock_filter ret_only[] = { ALLOW };
    EXPECT_ERRNO(install_filter(0, ret_only, 0), EINVAL);
    struct sock_filter no_ret[] = { LOAD_NR };
    EXPECT_ERRNO(install_filter(0, no_ret, 1), EINVAL);
    struct sock_filter past_data[] = { BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64), ALLOW };
    EXPECT_ERRNO(install_filter(0, past_data, 2), EINVAL);
    struct sock_filter unaligned[] = { BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2), ALLOW };
    EXPECT_ERRNO(install_filter(0, unaligned, 2), EINVAL);
    struct sock_filter byte_load[] = { BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0), ALLOW };
    EXPECT_ERRNO(install_filter(0, byte_load, 2), EINVAL);
    struct sock_filter jump_out[] = { BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, 0), ALLOW };
    EXPECT_ERRNO(install_filter(0, jump_out, 2), EINVAL);
    struct sock_filter unwritten[] = { BPF_STMT(BPF_LD | BPF_MEM, 0), ALLOW };
    EXPECT_ERRNO(install_filter(0, unwritten, 2), EINVAL);
    struct sock_filter div_zero[] = { BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), ALLOW };
    EXPECT_ERRNO(install_filter(0, div_zero, 2), EINVAL);
    struct sock_filter ok[] = { ALLOW };
    EXPECT_ERRNO(install_filter(0x80, ok, 1), EINVAL); /* an unknown flag */
    EXPECT_EQ(prctl(PR_GET_SECCOMP), 0);               /* nothing was installed */
}

CASE(seccomp_get_action_avail) {
    unsigned actions[] = { SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP,
                           SECCOMP_RET_ERRNO, SECCOMP_RET_TRACE, SECCOMP_RET_LOG, SECCOMP_RET_ALLOW };
    for (unsigned i = 0; i < sizeof actions / sizeof actions[0]; i++)
        EXPECT_EQ(syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &actions[i]), 0);
    unsigned bogus = 0x12340000;
    EXPECT_ERRNO(syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &bogus), EOPNOTSUPP);
}

CASE(seccomp_mode_shows_in_proc_self_status) {
    no_new_privs();
    EXPECT_OK(filter_one(SYS_getppid, SECCOMP_RET_ERRNO | EPERM));
    FILE *f = fopen("/proc/self/status", "r");
    EXPECT(f != NULL);
    char line[256];
    int mode = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Seccomp:", 8) == 0) mode = atoi(line + 8);
    fclose(f);
    EXPECT_EQ(mode, 2);
}

static void prctl_strict(void) {
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) _exit(3);
    syscall(SYS_getppid);
    syscall(SYS_exit, 4);
}

CASE(seccomp_prctl_set_seccomp_strict) {
    int st = in_child(prctl_strict);
    EXPECT(WIFSIGNALED(st));
    EXPECT_EQ(WTERMSIG(st), SIGKILL);
}

COMPAT_MAIN()
