/* Signals: dispositions, masks, delivery, siginfo, alternate stacks, fault signals. */
#include "../compat.h"
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <setjmp.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/time.h>
#include <ucontext.h>

static volatile sig_atomic_t hits;
static volatile sig_atomic_t last_sig;
static siginfo_t last_info;

static void count_handler(int sig) { hits++; last_sig = sig; }
static void info_handler(int sig, siginfo_t *si, void *uc) { (void)uc; hits++; last_sig = sig; last_info = *si; }


static void install_info(int sig, int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = info_handler;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) compat_fail(__FILE__, __LINE__, "sigaction(%d): %s", sig, strerror(errno));
}

static void block_one(int sig) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    if (sigprocmask(SIG_BLOCK, &s, NULL) != 0) compat_fail(__FILE__, __LINE__, "sigprocmask: %s", strerror(errno));
}

static void unblock_one(int sig) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    if (sigprocmask(SIG_UNBLOCK, &s, NULL) != 0) compat_fail(__FILE__, __LINE__, "sigprocmask: %s", strerror(errno));
}

static int is_blocked(int sig) {
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    return sigismember(&cur, sig);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* A child that sends `sig` to the caller `count` times, every `ms` milliseconds. */
static pid_t spawn_signaller(int sig, int ms, int count) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) compat_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        for (int i = 0; i < count; i++) {
            sleep_ms(ms);
            if (kill(parent, sig) != 0) _exit(0);
        }
        _exit(0);
    }
    return pid;
}

static void reap(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
}

/* ---- sigaction: install and query ---- */

CASE(sigaction_returns_old_action) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_handler;
    sigemptyset(&sa.sa_mask);
    EXPECT_OK(sigaction(SIGUSR1, &sa, NULL));
    sa.sa_handler = SIG_IGN;
    EXPECT_OK(sigaction(SIGUSR1, &sa, &old));
    EXPECT(old.sa_handler == count_handler);
    EXPECT_OK(sigaction(SIGUSR1, NULL, &old));
    EXPECT(old.sa_handler == SIG_IGN);
}

CASE(sigaction_query_returns_flags_and_mask) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_handler;
    sa.sa_flags = SA_RESTART | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaddset(&sa.sa_mask, SIGTERM);
    EXPECT_OK(sigaction(SIGUSR1, &sa, NULL));
    memset(&old, 0, sizeof old);
    EXPECT_OK(sigaction(SIGUSR1, NULL, &old));
    EXPECT(old.sa_handler == count_handler);
    EXPECT(old.sa_flags & SA_RESTART);
    EXPECT(old.sa_flags & SA_NODEFER);
    EXPECT(!(old.sa_flags & SA_SIGINFO));
    EXPECT(sigismember(&old.sa_mask, SIGUSR2));
    EXPECT(sigismember(&old.sa_mask, SIGTERM));
    EXPECT(!sigismember(&old.sa_mask, SIGINT));
}

CASE(signal_returns_previous_handler) {
    EXPECT(signal(SIGUSR2, SIG_DFL) != SIG_ERR);
    EXPECT(signal(SIGUSR2, count_handler) == SIG_DFL);
    EXPECT(signal(SIGUSR2, SIG_IGN) == count_handler);
    EXPECT(signal(SIGUSR2, SIG_DFL) == SIG_IGN);
}

CASE(sigaction_sigkill_is_einval) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_handler;
    EXPECT_ERRNO(sigaction(SIGKILL, &sa, NULL), EINVAL);
    sa.sa_handler = SIG_IGN;
    EXPECT_ERRNO(sigaction(SIGKILL, &sa, NULL), EINVAL);
}

CASE(sigaction_sigstop_is_einval) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_handler;
    EXPECT_ERRNO(sigaction(SIGSTOP, &sa, NULL), EINVAL);
    sa.sa_handler = SIG_IGN;
    EXPECT_ERRNO(sigaction(SIGSTOP, &sa, NULL), EINVAL);
}

CASE(sigaction_query_sigkill_is_sig_dfl) {
    struct sigaction old;
    memset(&old, 0xff, sizeof old);
    EXPECT_OK(sigaction(SIGKILL, NULL, &old));
    EXPECT(old.sa_handler == SIG_DFL);
}

CASE(sigaction_invalid_signal_numbers_are_einval) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_handler;
    EXPECT_ERRNO(sigaction(0, &sa, NULL), EINVAL);
    EXPECT_ERRNO(sigaction(65, &sa, NULL), EINVAL);
    EXPECT_ERRNO(sigaction(-1, &sa, NULL), EINVAL);
    /* The raw syscall too, bypassing libc's checks. */
    struct { void *h; unsigned long flags; void *restorer; uint64_t mask; } k = {0};
    k.h = (void *)SIG_IGN;
    EXPECT_ERRNO(syscall(SYS_rt_sigaction, 65, &k, NULL, 8), EINVAL);
    EXPECT_ERRNO(syscall(SYS_rt_sigaction, 0, &k, NULL, 8), EINVAL);
}

CASE(rt_sigaction_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_rt_sigaction, SIGUSR1, (void *)1, NULL, 8), EFAULT);
    EXPECT_ERRNO(syscall(SYS_rt_sigaction, SIGUSR1, NULL, (void *)1, 8), EFAULT);
}

CASE(rt_sigaction_bad_sigset_size_is_einval) {
    EXPECT_ERRNO(syscall(SYS_rt_sigaction, SIGUSR1, NULL, NULL, 4), EINVAL);
}

/* ---- siginfo ---- */

CASE(siginfo_from_kill_is_si_user) {
    install_info(SIGUSR1, 0);
    EXPECT_OK(kill(getpid(), SIGUSR1));
    EXPECT_EQ(hits, 1);
    EXPECT_EQ(last_info.si_signo, SIGUSR1);
    EXPECT_EQ(last_info.si_code, SI_USER);
    EXPECT_EQ(last_info.si_pid, getpid());
    EXPECT_EQ(last_info.si_uid, getuid());
}

CASE(siginfo_from_tgkill_is_si_tkill) {
    install_info(SIGUSR1, 0);
    EXPECT_OK(syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1));
    EXPECT_EQ(hits, 1);
    EXPECT_EQ(last_info.si_signo, SIGUSR1);
    EXPECT_EQ(last_info.si_code, SI_TKILL);
    EXPECT_EQ(last_info.si_pid, getpid());
}

CASE(siginfo_from_raise_is_si_tkill) {
    install_info(SIGUSR2, 0);
    EXPECT_EQ(raise(SIGUSR2), 0);
    EXPECT_EQ(hits, 1);
    EXPECT_EQ(last_info.si_signo, SIGUSR2);
    EXPECT_EQ(last_info.si_code, SI_TKILL);
}

CASE(siginfo_from_sigqueue_carries_value) {
    install_info(SIGUSR1, 0);
    union sigval v = {.sival_int = 4242};
    EXPECT_OK(sigqueue(getpid(), SIGUSR1, v));
    EXPECT_EQ(hits, 1);
    EXPECT_EQ(last_info.si_code, SI_QUEUE);
    EXPECT_EQ(last_info.si_value.sival_int, 4242);
    EXPECT_EQ(last_info.si_pid, getpid());
}

/* ---- handler flags and masks ---- */

CASE(sa_resethand_restores_default_after_delivery) {
    install(SIGUSR1, count_handler, SA_RESETHAND);
    EXPECT_EQ(raise(SIGUSR1), 0);
    EXPECT_EQ(hits, 1);
    struct sigaction old;
    EXPECT_OK(sigaction(SIGUSR1, NULL, &old));
    EXPECT(old.sa_handler == SIG_DFL);
}

static volatile sig_atomic_t depth, max_depth;
static void nesting_handler(int sig) {
    depth++;
    hits++;
    if (depth > max_depth) max_depth = depth;
    if (hits == 1) raise(sig);
    depth--;
}

CASE(handler_blocks_own_signal_by_default) {
    install(SIGUSR1, nesting_handler, 0);
    EXPECT_EQ(raise(SIGUSR1), 0);
    EXPECT_EQ(hits, 2);      /* the second one ran after the first returned */
    EXPECT_EQ(max_depth, 1);
}

CASE(sa_nodefer_allows_nested_delivery) {
    install(SIGUSR1, nesting_handler, SA_NODEFER);
    EXPECT_EQ(raise(SIGUSR1), 0);
    EXPECT_EQ(hits, 2);
    EXPECT_EQ(max_depth, 2); /* the second one ran inside the first */
}

static volatile sig_atomic_t saw_usr1_blocked, saw_usr2_blocked, saw_term_blocked;
static void mask_probe_handler(int sig) {
    (void)sig;
    hits++;
    saw_usr1_blocked = is_blocked(SIGUSR1);
    saw_usr2_blocked = is_blocked(SIGUSR2);
    saw_term_blocked = is_blocked(SIGTERM);
}

CASE(handler_mask_applied_during_handler) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mask_probe_handler;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    EXPECT_OK(sigaction(SIGUSR1, &sa, NULL));
    EXPECT_EQ(raise(SIGUSR1), 0);
    EXPECT_EQ(hits, 1);
    EXPECT(saw_usr1_blocked);
    EXPECT(saw_usr2_blocked);
    EXPECT(!saw_term_blocked);
    /* The mask is restored when the handler returns. */
    EXPECT(!is_blocked(SIGUSR1));
    EXPECT(!is_blocked(SIGUSR2));
}

/* ---- sigprocmask and pending signals ---- */

CASE(sigprocmask_block_returns_old_mask) {
    sigset_t s, old;
    sigemptyset(&s);
    EXPECT_OK(sigprocmask(SIG_SETMASK, &s, NULL));
    sigaddset(&s, SIGUSR1);
    EXPECT_OK(sigprocmask(SIG_BLOCK, &s, &old));
    EXPECT(!sigismember(&old, SIGUSR1));
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    EXPECT_OK(sigprocmask(SIG_BLOCK, &s, &old));
    EXPECT(sigismember(&old, SIGUSR1));
    EXPECT(!sigismember(&old, SIGUSR2));
    EXPECT_OK(sigprocmask(SIG_UNBLOCK, &s, &old));
    EXPECT(sigismember(&old, SIGUSR2));
    EXPECT(is_blocked(SIGUSR1));
    EXPECT(!is_blocked(SIGUSR2));
}

CASE(sigprocmask_cannot_block_sigkill_or_sigstop) {
    /* Ask for every signal through the raw syscall (glibc's sigfillset leaves out its own). */
    EXPECT_OK(syscall(SYS_rt_sigprocmask, SIG_SETMASK, &(uint64_t){~0ULL}, NULL, 8));
    uint64_t cur = 0;
    EXPECT_OK(syscall(SYS_rt_sigprocmask, SIG_SETMASK, NULL, &cur, 8));
    EXPECT(!(cur & (1ULL << (SIGKILL - 1))));
    EXPECT(!(cur & (1ULL << (SIGSTOP - 1))));
    EXPECT(cur & (1ULL << (SIGUSR1 - 1)));
    EXPECT(cur & (1ULL << (SIGTERM - 1)));
}

CASE(sigprocmask_bad_how_is_einval) {
    sigset_t s;
    sigemptyset(&s);
    EXPECT_ERRNO(sigprocmask(12345, &s, NULL), EINVAL);
}

CASE(rt_sigprocmask_bad_size_is_einval) {
    uint64_t s = 1ULL << (SIGUSR1 - 1);
    EXPECT_ERRNO(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &s, NULL, 4), EINVAL);
    EXPECT_ERRNO(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &s, NULL, 16), EINVAL);
}

CASE(sigpending_shows_blocked_signal) {
    install(SIGUSR1, count_handler, 0);
    block_one(SIGUSR1);
    sigset_t p;
    EXPECT_OK(sigpending(&p));
    EXPECT(!sigismember(&p, SIGUSR1));
    EXPECT_OK(kill(getpid(), SIGUSR1));
    EXPECT_EQ(hits, 0);
    EXPECT_OK(sigpending(&p));
    EXPECT(sigismember(&p, SIGUSR1));
    EXPECT(!sigismember(&p, SIGUSR2));
}

CASE(blocked_signal_delivered_on_unblock) {
    install(SIGUSR1, count_handler, 0);
    block_one(SIGUSR1);
    EXPECT_OK(kill(getpid(), SIGUSR1));
    EXPECT_EQ(hits, 0);
    unblock_one(SIGUSR1);
    EXPECT_EQ(hits, 1);
    sigset_t p;
    EXPECT_OK(sigpending(&p));
    EXPECT(!sigismember(&p, SIGUSR1));
}

CASE(standard_signal_pending_twice_delivered_once) {
    install(SIGUSR1, count_handler, 0);
    block_one(SIGUSR1);
    EXPECT_OK(kill(getpid(), SIGUSR1));
    EXPECT_OK(kill(getpid(), SIGUSR1));
    unblock_one(SIGUSR1);
    EXPECT_EQ(hits, 1);
}

CASE(realtime_signal_pending_twice_delivered_twice) {
    install(SIGRTMIN, count_handler, 0);
    block_one(SIGRTMIN);
    EXPECT_OK(kill(getpid(), SIGRTMIN));
    EXPECT_OK(kill(getpid(), SIGRTMIN));
    unblock_one(SIGRTMIN);
    EXPECT_EQ(hits, 2);
}

CASE(sigsuspend_returns_eintr_after_handler) {
    install(SIGUSR1, count_handler, 0);
    block_one(SIGUSR1);
    EXPECT_OK(kill(getpid(), SIGUSR1));
    sigset_t empty;
    sigemptyset(&empty);
    EXPECT_ERRNO(sigsuspend(&empty), EINTR);
    EXPECT_EQ(hits, 1);
    EXPECT(is_blocked(SIGUSR1)); /* the old mask is back */
}

/* ---- kill ---- */

CASE(kill_signal_zero_to_self_succeeds) {
    EXPECT_EQ(kill(getpid(), 0), 0);
}

CASE(kill_invalid_signal_is_einval) {
    EXPECT_ERRNO(kill(getpid(), 65), EINVAL);
    EXPECT_ERRNO(kill(getpid(), -1), EINVAL);
}

CASE(kill_reaped_child_is_esrch) {
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) _exit(0);
    reap(pid);
    EXPECT_ERRNO(kill(pid, 0), ESRCH);
}

CASE(kill_zombie_child_succeeds) {
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) _exit(0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    EXPECT_OK(waitid(P_PID, pid, &si, WEXITED | WNOWAIT));
    EXPECT_EQ(si.si_pid, pid);
    EXPECT_EQ(kill(pid, 0), 0); /* still a zombie: it exists */
    reap(pid);
}

CASE(sigterm_default_action_kills_child) {
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        unblock_one(SIGTERM);
        for (;;) pause();
    }
    EXPECT_OK(kill(pid, SIGTERM));
    int st = 0;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFSIGNALED(st));
    EXPECT_EQ(WTERMSIG(st), SIGTERM);
}

/* ---- SIGCHLD ---- */

CASE(sigchld_delivered_when_child_exits) {
    install_info(SIGCHLD, 0);
    block_one(SIGCHLD);
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) _exit(7);
    sigset_t empty;
    sigemptyset(&empty);
    while (hits == 0) sigsuspend(&empty);
    EXPECT_EQ(last_info.si_signo, SIGCHLD);
    EXPECT_EQ(last_info.si_code, CLD_EXITED);
    EXPECT_EQ(last_info.si_pid, pid);
    EXPECT_EQ(last_info.si_status, 7);
    int st = 0;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 7);
}

CASE(sigchld_ignored_children_are_reaped_automatically) {
    EXPECT(signal(SIGCHLD, SIG_IGN) != SIG_ERR);
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) _exit(3);
    /* wait blocks until the child is gone, then finds nothing to report. */
    EXPECT_ERRNO(waitpid(pid, NULL, 0), ECHILD);
}

/* ---- SIGPIPE ---- */

CASE(sigpipe_kills_writer_to_closed_pipe) {
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        unblock_one(SIGPIPE);
        int p[2];
        if (pipe(p) != 0) _exit(100);
        close(p[0]);
        ssize_t w = write(p[1], "x", 1);
        (void)w;
        _exit(101);
    }
    int st = 0;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFSIGNALED(st));
    EXPECT_EQ(WTERMSIG(st), SIGPIPE);
}

CASE(write_closed_pipe_with_sigpipe_ignored_is_epipe) {
    EXPECT(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(close(p[0]));
    EXPECT_ERRNO(write(p[1], "x", 1), EPIPE);
}

CASE(write_closed_pipe_with_sigpipe_blocked_is_epipe_and_pending) {
    signal(SIGPIPE, SIG_DFL);
    block_one(SIGPIPE);
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(close(p[0]));
    EXPECT_ERRNO(write(p[1], "x", 1), EPIPE);
    sigset_t pend;
    EXPECT_OK(sigpending(&pend));
    EXPECT(sigismember(&pend, SIGPIPE));
    EXPECT(signal(SIGPIPE, SIG_IGN) != SIG_ERR); /* discard it before the case exits */
}

/* ---- interrupted system calls ---- */

CASE(sa_restart_restarts_blocking_pipe_read) {
    install(SIGUSR1, count_handler, SA_RESTART);
    int p[2];
    EXPECT_OK(pipe(p));
    pid_t parent = getpid();
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) {
        for (int i = 0; i < 3; i++) { sleep_ms(30); kill(parent, SIGUSR1); }
        sleep_ms(50);
        ssize_t w = write(p[1], "z", 1);
        (void)w;
        _exit(0);
    }
    char c = 0;
    EXPECT_EQ(read(p[0], &c, 1), 1);
    EXPECT_EQ(c, 'z');
    EXPECT(hits >= 1);
    reap(pid);
}

CASE(read_without_sa_restart_is_eintr) {
    install(SIGUSR1, count_handler, 0);
    int p[2];
    EXPECT_OK(pipe(p));
    pid_t pid = spawn_signaller(SIGUSR1, 30, 200);
    char c;
    EXPECT_ERRNO(read(p[0], &c, 1), EINTR);
    EXPECT(hits >= 1);
    kill(pid, SIGKILL);
    reap(pid);
}

/* ---- sigaltstack ---- */

CASE(sigaltstack_install_and_query) {
    stack_t ss, old;
    EXPECT_OK(sigaltstack(NULL, &old));
    EXPECT(old.ss_flags & SS_DISABLE);
    size_t size = 64 * 1024;
    void *mem = malloc(size);
    EXPECT(mem != NULL);
    ss.ss_sp = mem;
    ss.ss_size = size;
    ss.ss_flags = 0;
    EXPECT_OK(sigaltstack(&ss, NULL));
    memset(&old, 0, sizeof old);
    EXPECT_OK(sigaltstack(NULL, &old));
    EXPECT(old.ss_sp == mem);
    EXPECT_EQ(old.ss_size, size);
    EXPECT_EQ(old.ss_flags, 0);
}

CASE(sigaltstack_ss_disable_turns_it_off) {
    size_t size = 64 * 1024;
    stack_t ss = {.ss_sp = malloc(size), .ss_size = size, .ss_flags = 0}, old;
    EXPECT_OK(sigaltstack(&ss, NULL));
    stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    EXPECT_OK(sigaltstack(&off, &old));
    EXPECT(old.ss_sp == ss.ss_sp); /* the previous stack comes back */
    EXPECT_OK(sigaltstack(NULL, &old));
    EXPECT(old.ss_flags & SS_DISABLE);
}

CASE(sigaltstack_too_small_is_enomem) {
    static char small[1024];
    stack_t ss = {.ss_sp = small, .ss_size = sizeof small, .ss_flags = 0};
    EXPECT_ERRNO(sigaltstack(&ss, NULL), ENOMEM);
}

CASE(sigaltstack_bad_flags_is_einval) {
    size_t size = 64 * 1024;
    stack_t ss = {.ss_sp = malloc(size), .ss_size = size, .ss_flags = 0x1234};
    EXPECT_ERRNO(sigaltstack(&ss, NULL), EINVAL);
}

static volatile uintptr_t handler_local_addr;
static volatile int handler_saw_onstack;
static void altstack_handler(int sig) {
    (void)sig;
    volatile char local = 0;
    handler_local_addr = (uintptr_t)&local;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0) handler_saw_onstack = (cur.ss_flags & SS_ONSTACK) != 0;
    hits++;
}

CASE(sa_onstack_handler_runs_on_alternate_stack) {
    size_t size = 64 * 1024;
    char *mem = malloc(size);
    EXPECT(mem != NULL);
    stack_t ss = {.ss_sp = mem, .ss_size = size, .ss_flags = 0};
    EXPECT_OK(sigaltstack(&ss, NULL));
    install(SIGUSR1, altstack_handler, SA_ONSTACK);
    EXPECT_EQ(raise(SIGUSR1), 0);
    EXPECT_EQ(hits, 1);
    EXPECT(handler_local_addr >= (uintptr_t)mem);
    EXPECT(handler_local_addr < (uintptr_t)mem + size);
    EXPECT(handler_saw_onstack);
    /* Outside the handler we are no longer on it. */
    stack_t cur;
    EXPECT_OK(sigaltstack(NULL, &cur));
    EXPECT(!(cur.ss_flags & SS_ONSTACK));
}

CASE(handler_without_sa_onstack_uses_normal_stack) {
    size_t size = 64 * 1024;
    char *mem = malloc(size);
    stack_t ss = {.ss_sp = mem, .ss_size = size, .ss_flags = 0};
    EXPECT_OK(sigaltstack(&ss, NULL));
    install(SIGUSR1, altstack_handler, 0);
    EXPECT_EQ(raise(SIGUSR1), 0);
    EXPECT_EQ(hits, 1);
    EXPECT(handler_local_addr < (uintptr_t)mem || handler_local_addr >= (uintptr_t)mem + size);
    EXPECT(!handler_saw_onstack);
}

/* ---- fault signals ---- */

static sigjmp_buf fault_jb;
static siginfo_t fault_info;
static void fault_handler(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    fault_info = *si;
    siglongjmp(fault_jb, 1);
}
static void install_fault(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) compat_fail(__FILE__, __LINE__, "sigaction: %s", strerror(errno));
}

CASE(sigsegv_on_null_write_reports_si_addr) {
    install_fault(SIGSEGV);
    volatile int *volatile p = NULL;
    if (sigsetjmp(fault_jb, 1) == 0) {
        *p = 1;
        compat_fail(__FILE__, __LINE__, "the write did not fault");
    }
    EXPECT_EQ(fault_info.si_signo, SIGSEGV);
    EXPECT_EQ(fault_info.si_code, SEGV_MAPERR);
    EXPECT(fault_info.si_addr == NULL);
    EXPECT(!is_blocked(SIGSEGV)); /* siglongjmp restored the mask */
}

CASE(sigsegv_on_readonly_mapping_write_is_segv_accerr) {
    install_fault(SIGSEGV);
    volatile char *volatile page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(page != MAP_FAILED);
    if (sigsetjmp(fault_jb, 1) == 0) {
        page[100] = 1;
        compat_fail(__FILE__, __LINE__, "the write did not fault");
    }
    EXPECT_EQ(fault_info.si_signo, SIGSEGV);
    EXPECT_EQ(fault_info.si_code, SEGV_ACCERR);
    EXPECT(fault_info.si_addr == page + 100);
}

extern char compat_idiv_insn[], compat_ud2_insn[];

CASE(sigfpe_on_integer_division_by_zero) {
    install_fault(SIGFPE);
    volatile int zero = 0;
    if (sigsetjmp(fault_jb, 1) == 0) {
        int a = 1, d = 0, z = zero;
        __asm__ volatile("compat_idiv_insn: idivl %2" : "+a"(a), "+d"(d) : "r"(z));
        compat_fail(__FILE__, __LINE__, "the division did not fault (%d)", a);
    }
    EXPECT_EQ(fault_info.si_signo, SIGFPE);
    EXPECT_EQ(fault_info.si_code, FPE_INTDIV);
    EXPECT(fault_info.si_addr == (void *)compat_idiv_insn);
}

CASE(sigfpe_on_c_division_by_volatile_zero) {
    install_fault(SIGFPE);
    volatile int zero = 0, one = 1, out;
    if (sigsetjmp(fault_jb, 1) == 0) {
        out = one / zero;
        compat_fail(__FILE__, __LINE__, "the division did not fault (%d)", out);
    }
    EXPECT_EQ(fault_info.si_signo, SIGFPE);
    EXPECT_EQ(fault_info.si_code, FPE_INTDIV);
}

CASE(sigill_on_ud2) {
    install_fault(SIGILL);
    if (sigsetjmp(fault_jb, 1) == 0) {
        __asm__ volatile("compat_ud2_insn: ud2");
        compat_fail(__FILE__, __LINE__, "ud2 did not fault");
    }
    EXPECT_EQ(fault_info.si_signo, SIGILL);
    EXPECT_EQ(fault_info.si_code, ILL_ILLOPN);
    EXPECT(fault_info.si_addr == (void *)compat_ud2_insn);
}

CASE(sigtrap_on_int3_resumes_after_it) {
    install_info(SIGTRAP, 0);
    __asm__ volatile("int3");
    /* int3 is a trap: returning from the handler continues after the instruction. */
    EXPECT_EQ(hits, 1);
    EXPECT_EQ(last_info.si_signo, SIGTRAP);
    EXPECT_EQ(last_info.si_code, SI_KERNEL);
}

CASE(sigbus_past_end_of_truncated_file_mapping) {
    long pg = sysconf(_SC_PAGESIZE);
    int fd = open(scratch_path("f"), O_CREAT | O_RDWR, 0644);
    EXPECT(fd >= 0);
    EXPECT_OK(ftruncate(fd, 2 * pg));
    volatile char *volatile m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT(m != MAP_FAILED);
    m[0] = 'a';
    m[pg] = 'b';
    EXPECT_OK(ftruncate(fd, pg));
    install_fault(SIGBUS);
    if (sigsetjmp(fault_jb, 1) == 0) {
        volatile char c = m[pg + 10];
        compat_fail(__FILE__, __LINE__, "the access did not fault (%d)", c);
    }
    EXPECT_EQ(fault_info.si_signo, SIGBUS);
    EXPECT_EQ(fault_info.si_code, BUS_ADRERR);
    EXPECT(fault_info.si_addr == m + pg + 10);
    EXPECT_EQ(m[0], 'a'); /* the first page is still there */
}

CASE(uncaught_sigsegv_kills_child) {
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        prctl(PR_SET_DUMPABLE, 0); /* no core file */
        volatile int *volatile p = NULL;
        *p = 1;
        _exit(0);
    }
    int st = 0;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFSIGNALED(st));
    EXPECT_EQ(WTERMSIG(st), SIGSEGV);
}

static void *sleep_forever(void *arg) { (void)arg; for (;;) pause(); return NULL; }

CASE(signals_need_permission_and_find_any_thread) {
    /* An unprivileged user may not signal root's processes (LTP kill05): EPERM, for the
     * probe signal 0 too; kill(-1) with no one else to signal is ESRCH. */
    pid_t root = getpid();
    pid_t child = fork();
    if (child == 0) {
        if (setuid(65534) != 0) _exit(1);
        if (kill(root, SIGUSR1) == 0 || errno != EPERM) _exit(2);
        if (kill(root, 0) == 0 || errno != EPERM) _exit(3);
        if (syscall(SYS_tgkill, root, root, 0) == 0 || errno != EPERM) _exit(4);
        siginfo_t si = {.si_code = SI_QUEUE};
        if (syscall(SYS_rt_sigqueueinfo, root, SIGUSR1, &si) == 0 || errno != EPERM) _exit(5);
        if (kill(getpid(), 0) != 0) _exit(6);
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(child, &st, 0), child);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
    /* rt_sigqueueinfo takes any thread id of a process (LTP rt_sigqueueinfo01). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    EXPECT_OK(sigprocmask(SIG_BLOCK, &set, NULL)); /* in both threads */
    pthread_t th;
    static volatile pid_t tid;
    EXPECT_OK(pthread_create(&th, NULL, sleep_forever, NULL) == 0 ? 0 : -1);
    tid = 0;
    for (int i = 0; i < 200 && !tid; i++) {
        DIR *d = opendir("/proc/self/task");
        struct dirent *e;
        while (d && (e = readdir(d))) if (atoi(e->d_name) > 0 && atoi(e->d_name) != getpid()) tid = atoi(e->d_name);
        if (d) closedir(d);
        if (!tid) usleep(1000);
    }
    EXPECT(tid > 0);
    siginfo_t si = {.si_signo = SIGUSR2, .si_code = SI_QUEUE, .si_pid = getpid(), .si_uid = getuid()};
    EXPECT_OK(syscall(SYS_rt_sigqueueinfo, tid, SIGUSR2, &si));
    struct timespec ts = {5, 0};
    EXPECT_EQ(sigtimedwait(&set, NULL, &ts), SIGUSR2);
}

static volatile int resethand_flags_kept;
static void resethand_siginfo_handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    struct sigaction now;
    sigaction(sig, NULL, &now);
    /* Reset to SIG_DFL, the flags kept (LTP sigaction01). */
    resethand_flags_kept = si != NULL && now.sa_handler == SIG_DFL && (now.sa_flags & SA_SIGINFO) != 0;
}

CASE(sa_resethand_resets_the_handler_but_keeps_the_flags) {
    struct sigaction sa = {0};
    sa.sa_sigaction = resethand_siginfo_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    EXPECT_OK(sigaction(SIGUSR1, &sa, NULL));
    EXPECT_OK(raise(SIGUSR1));
    EXPECT(resethand_flags_kept);
}

COMPAT_MAIN()

/* ---- core dumps ---- */

#include <elf.h>
#include <sys/resource.h>

static char core_marker[64] = "joey core dump marker";

/* The core pattern is "core" on the sandbox (and on most hosts); anything else (a pipe to a
 * crash collector) takes the core elsewhere, and only the status can be checked. */
static int core_goes_to_cwd(void) {
    char pattern[256] = {0};
    FILE *f = fopen("/proc/sys/kernel/core_pattern", "r");
    if (!f) return 0;
    int ok = fgets(pattern, sizeof pattern, f) && strcmp(pattern, "core\n") == 0;
    fclose(f);
    return ok;
}

CASE(abort_with_a_core_limit_writes_an_elf_core_and_sets_wcoredump) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/coredir", scratch());
    EXPECT_OK(mkdir(dir, 0755));
    pid_t c = fork();
    if (c == 0) {
        struct rlimit r = { RLIM_INFINITY, RLIM_INFINITY };
        if (setrlimit(RLIMIT_CORE, &r) != 0 || chdir(dir) != 0) _exit(3);
        strcpy(core_marker, "written by the child before abort");
        abort();
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    EXPECT(WCOREDUMP(st));
    if (!core_goes_to_cwd()) return;
    char path[600];
    snprintf(path, sizeof path, "%s/core", dir);
    int fd = open(path, O_RDONLY);
    EXPECT(fd >= 0);
    struct stat sb;
    EXPECT_OK(fstat(fd, &sb));
    EXPECT_EQ(sb.st_mode & 0777, 0600 & ~umask(022));
    Elf64_Ehdr eh;
    EXPECT_EQ(pread(fd, &eh, sizeof eh, 0), (long)sizeof eh);
    EXPECT(memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0);
    EXPECT_EQ(eh.e_type, ET_CORE);
    EXPECT_EQ(eh.e_machine, EM_X86_64);
    /* The notes name the signal; a loaded segment holds the child's marker as it left it. */
    int notes = 0, found = 0;
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        EXPECT_EQ(pread(fd, &ph, sizeof ph, eh.e_phoff + i * sizeof ph), (long)sizeof ph);
        if (ph.p_type == PT_NOTE) {
            char *n = malloc(ph.p_filesz);
            EXPECT_EQ(pread(fd, n, ph.p_filesz, ph.p_offset), (long)ph.p_filesz);
            Elf64_Nhdr *first = (Elf64_Nhdr *)n;
            EXPECT_EQ(first->n_type, NT_PRSTATUS);
            EXPECT(memcmp(n + sizeof *first, "CORE", 5) == 0);
            EXPECT_EQ(*(int *)(n + sizeof *first + 8), SIGABRT); /* pr_info.si_signo */
            free(n);
            notes++;
        }
        uintptr_t at = (uintptr_t)core_marker;
        if (ph.p_type == PT_LOAD && at >= ph.p_vaddr && at + sizeof core_marker <= ph.p_vaddr + ph.p_filesz) {
            char got[64];
            EXPECT_EQ(pread(fd, got, sizeof got, ph.p_offset + (at - ph.p_vaddr)), (long)sizeof got);
            EXPECT_STREQ(got, "written by the child before abort");
            found = 1;
        }
    }
    EXPECT_EQ(notes, 1);
    EXPECT(found);
    close(fd);
    unlink(path);
}

CASE(core_limit_counts_written_bytes_not_untouched_memory) {
    /* LTP abort01: RLIMIT_CORE of 512 KiB; 64 MiB mapped but never touched are holes in
     * the core, not bytes against the limit, so the core is whole and WCOREDUMP is set. */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/coredir2", scratch());
    EXPECT_OK(mkdir(dir, 0755));
    pid_t c = fork();
    if (c == 0) {
        struct rlimit r = { 512 * 1024, 512 * 1024 };
        if (setrlimit(RLIMIT_CORE, &r) != 0 || chdir(dir) != 0) _exit(3);
        char *big = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (big == MAP_FAILED) _exit(4);
        big[0] = 1; /* one page of it touched */
        abort();
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    EXPECT(WCOREDUMP(st));
    char path[600];
    snprintf(path, sizeof path, "%s/core", dir);
    unlink(path);
}

/* A core limit too small for the whole core cuts it short at the limit and still sets
 * WCOREDUMP (LTP waitpid01's one page); a limit below a page dumps nothing. */
static int abort_with_core_limit(const char *dir, rlim_t limit) {
    EXPECT_OK(mkdir(dir, 0755));
    pid_t c = fork();
    if (c == 0) {
        struct rlimit r = { limit, RLIM_INFINITY };
        if (setrlimit(RLIMIT_CORE, &r) != 0 || chdir(dir) != 0) _exit(3);
        abort();
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    return st;
}

CASE(a_core_cut_short_at_its_limit_still_sets_wcoredump) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/onepage", scratch());
    int st = abort_with_core_limit(dir, 4096);
    EXPECT(WCOREDUMP(st));
    snprintf(path, sizeof path, "%s/core", dir);
    if (core_goes_to_cwd()) {
        struct stat sb;
        EXPECT_OK(stat(path, &sb));
        EXPECT(sb.st_size > 0 && sb.st_size <= 4096);
        unlink(path);
    }
    snprintf(dir, sizeof dir, "%s/lesspage", scratch());
    st = abort_with_core_limit(dir, 4095);
    EXPECT(!WCOREDUMP(st));
    snprintf(path, sizeof path, "%s/core", dir);
    EXPECT_ERRNO(access(path, F_OK), ENOENT);
}

CASE(no_core_without_a_core_limit_or_when_not_dumpable) {
    for (int variant = 0; variant < 2; variant++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/nocore%d", scratch(), variant);
        EXPECT_OK(mkdir(dir, 0755));
        pid_t c = fork();
        if (c == 0) {
            struct rlimit r = { variant == 0 ? 0 : RLIM_INFINITY, RLIM_INFINITY };
            if (setrlimit(RLIMIT_CORE, &r) != 0 || chdir(dir) != 0) _exit(3);
            if (variant == 1 && prctl(PR_SET_DUMPABLE, 0) != 0) _exit(4);
            /* A shell without job control starts background jobs with SIGQUIT ignored. */
            signal(SIGQUIT, SIG_DFL);
            sigset_t quit;
            sigemptyset(&quit);
            sigaddset(&quit, SIGQUIT);
            sigprocmask(SIG_UNBLOCK, &quit, NULL);
            raise(SIGQUIT);
            _exit(5);
        }
        int st;
        EXPECT_EQ(waitpid(c, &st, 0), c);
        EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGQUIT);
        EXPECT(!WCOREDUMP(st));
        char path[600];
        snprintf(path, sizeof path, "%s/core", dir);
        EXPECT_ERRNO(access(path, F_OK), ENOENT);
    }
}

/* ---- the queue limit ---- */

static void fill_signal_queue(void) {
    struct rlimit r = { 20, 20 };
    if (setrlimit(RLIMIT_SIGPENDING, &r) != 0) _exit(3);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &s, NULL);
    int n = 0;
    union sigval v = { 0 };
    while (n < 1000 && sigqueue(getpid(), SIGRTMIN, v) == 0) n++;
    /* The user's other queued signals count too (natively, the whole machine's). */
    if (n < 1 || n > 20 || errno != EAGAIN) _exit(4);
    if (syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGRTMIN) != -1 || errno != EAGAIN) _exit(5);
    /* Taking one makes room for one. */
    struct timespec zero = { 0, 0 };
    if (sigtimedwait(&s, NULL, &zero) != SIGRTMIN) _exit(7);
    if (sigqueue(getpid(), SIGRTMIN, v) != 0) _exit(8);
    if (kill(getpid(), SIGRTMIN) != 0) _exit(6); /* kill's SI_USER goes past the limit */
    _exit(0);
}

CASE(realtime_signals_queue_up_to_rlimit_sigpending_then_eagain) {
    pid_t c = fork();
    if (c == 0) fill_signal_queue();
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

/* ---- signals that are ignored are dropped when sent, and a sleep a stop interrupts goes on ---- */

static long long monotonic_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* A child that sends the caller each of `sigs` (0-terminated), `ms` milliseconds apart. */
static pid_t spawn_sequence(const int *sigs, int ms) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) compat_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        for (; *sigs; sigs++) {
            sleep_ms(ms);
            kill(parent, *sigs);
        }
        _exit(0);
    }
    return pid;
}

CASE(ignored_signals_do_not_interrupt_nanosleep) {
    /* SIGCONT, SIGCHLD, SIGWINCH and SIGURG are ignored by default, SIGUSR1 by SIG_IGN: Linux
     * drops each when it is sent (sig_ignored), so a sleep never sees them. A program that
     * retries its sleep on EINTR could otherwise miss a signal that arrives just after. */
    signal(SIGUSR1, SIG_IGN);
    static const int sigs[] = {SIGCONT, SIGCHLD, SIGWINCH, SIGURG, SIGUSR1, 0};
    pid_t c = spawn_sequence(sigs, 20);
    struct timespec ts = {0, 400 * 1000000L}, rem = {0, 0};
    EXPECT_EQ(syscall(SYS_nanosleep, &ts, &rem), 0);
    EXPECT_EQ(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, &rem), 0);
    reap(c);
}

CASE(ignored_signal_sent_is_not_pending_even_to_a_sleeper) {
    static const int sigs[] = {SIGCONT, SIGWINCH, 0};
    pid_t c = spawn_sequence(sigs, 20);
    sleep_ms(200);
    reap(c);
    sigset_t p;
    sigpending(&p);
    EXPECT(!sigismember(&p, SIGCONT));
    EXPECT(!sigismember(&p, SIGWINCH));
}

CASE(nanosleep_stopped_and_continued_sleeps_only_what_was_left) {
    /* A stop and SIGCONT without a handler: Linux restarts the sleep through restart_syscall
     * with the time that was left (ERESTART_RESTARTBLOCK), so the caller sees no EINTR and
     * the whole sleep takes what was asked, not the stop on top of it. */
    static const int sigs[] = {SIGSTOP, SIGCONT, 0};
    pid_t c = spawn_sequence(sigs, 150);
    long long t0 = monotonic_ms();
    struct timespec ts = {0, 700 * 1000000L}, rem = {0, 0};
    EXPECT_EQ(syscall(SYS_nanosleep, &ts, &rem), 0);
    long long took = monotonic_ms() - t0;
    EXPECT(took >= 700);
    EXPECT(took < 820);
    reap(c);
}

CASE(clock_nanosleep_stopped_and_continued_sleeps_only_what_was_left) {
    static const int sigs[] = {SIGSTOP, SIGCONT, 0};
    pid_t c = spawn_sequence(sigs, 150);
    long long t0 = monotonic_ms();
    struct timespec ts = {0, 700 * 1000000L};
    EXPECT_EQ(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL), 0);
    long long took = monotonic_ms() - t0;
    EXPECT(took >= 700);
    EXPECT(took < 820);
    reap(c);
}

CASE(clock_nanosleep_absolute_stopped_and_continued_ends_at_its_deadline) {
    static const int sigs[] = {SIGSTOP, SIGCONT, 0};
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    long long t0 = monotonic_ms();
    dl.tv_nsec += 700 * 1000000L;
    if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
    pid_t c = spawn_sequence(sigs, 150);
    EXPECT_EQ(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &dl, NULL), 0);
    long long took = monotonic_ms() - t0;
    EXPECT(took >= 699);
    EXPECT(took < 820);
    reap(c);
}

/* poll and the selects are restarted after a stop too (no EINTR without a handler): poll
 * through restart_syscall (ERESTART_RESTARTBLOCK) until its first deadline; select, pselect6
 * and ppoll run again (ERESTARTNOHAND) with the time that was left when the stop came, which
 * Linux writes back to their timeout (so the stop adds to their wait, about 850 ms here; with
 * the whole timeout again it would be 1000). Each times out on a pipe nobody writes. */
static long long wait_through_a_stop(int which) {
    static const int sigs[] = {SIGSTOP, SIGCONT, 0};
    int p[2];
    if (pipe(p) != 0) compat_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
    pid_t c = spawn_sequence(sigs, 150);
    long long t0 = monotonic_ms();
    struct pollfd pfd = {p[0], POLLIN, 0};
    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timeval tv = {0, 700000};
    struct timespec ts = {0, 700 * 1000000L};
    long n = which == 0 ? syscall(SYS_poll, &pfd, 1, 700)
           : which == 1 ? syscall(SYS_select, p[0] + 1, &r, NULL, NULL, &tv)
           : which == 2 ? syscall(SYS_pselect6, p[0] + 1, &r, NULL, NULL, &ts, NULL)
           : syscall(SYS_ppoll, &pfd, 1, &ts, NULL, 8);
    long long took = monotonic_ms() - t0;
    EXPECT_EQ(n, 0);
    reap(c);
    close(p[0]);
    close(p[1]);
    if (which == 1) EXPECT(tv.tv_sec == 0 && tv.tv_usec == 0); /* nothing left, written back */
    if (which >= 2) EXPECT(ts.tv_sec == 0 && ts.tv_nsec == 0);
    EXPECT(took >= 699);
    return took;
}

CASE(poll_stopped_and_continued_waits_only_what_was_left) {
    EXPECT(wait_through_a_stop(0) < 820);
}

CASE(select_stopped_and_continued_times_out_without_eintr) {
    wait_through_a_stop(1);
}

CASE(pselect6_stopped_and_continued_times_out_without_eintr) {
    wait_through_a_stop(2);
}

CASE(ppoll_stopped_and_continued_times_out_without_eintr) {
    wait_through_a_stop(3);
}

/* A handler interrupts a 700 ms select, pselect6 or ppoll after 150 ms: EINTR, and the
 * timeout holds what was left. */
static void interrupted_by_a_handler(int which) {
    install_info(SIGUSR1, 0);
    static const int sigs[] = {SIGUSR1, 0};
    pid_t c = spawn_sequence(sigs, 150);
    struct timeval tv = {0, 700000};
    struct timespec ts = {0, 700 * 1000000L};
    long n = which == 1 ? syscall(SYS_select, 0, NULL, NULL, NULL, &tv)
           : which == 2 ? syscall(SYS_pselect6, 0, NULL, NULL, NULL, &ts, NULL)
           : syscall(SYS_ppoll, NULL, 0, &ts, NULL, 8);
    EXPECT_EQ(n, -1);
    EXPECT_EQ(errno, EINTR);
    reap(c);
    long left_ms = which == 1 ? tv.tv_sec * 1000 + tv.tv_usec / 1000 : ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    EXPECT(left_ms > 100);
    EXPECT(left_ms < 600);
}

CASE(select_interrupted_by_a_handler_writes_back_the_time_left) { interrupted_by_a_handler(1); }
CASE(pselect6_interrupted_by_a_handler_writes_back_the_time_left) { interrupted_by_a_handler(2); }
CASE(ppoll_interrupted_by_a_handler_writes_back_the_time_left) { interrupted_by_a_handler(3); }

CASE(epoll_wait_stopped_and_continued_is_eintr) {
    /* signal(7): epoll_wait is among the calls a stop and SIGCONT end with EINTR even
     * without a handler; it is never restarted (here it would wait for ever). */
    static const int sigs[] = {SIGSTOP, SIGCONT, 0};
    int ep = epoll_create1(EPOLL_CLOEXEC);
    EXPECT(ep >= 0);
    pid_t c = spawn_sequence(sigs, 150);
    struct epoll_event ev;
    EXPECT_EQ(epoll_wait(ep, &ev, 1, -1), -1);
    EXPECT_EQ(errno, EINTR);
    reap(c);
    close(ep);
}

/* ---- privileged instructions from user mode ---- */

/* Each is a #GP from ring 3, which Linux turns into SIGSEGV with si_code SI_KERNEL and no
 * address; the program goes on after the handler. On Joey's kvm platform guest code runs in
 * a VM whose ring 0 is the platform's: none of these may reach it. */
static int privileged_faults(void (*op)(void)) {
    install_fault(SIGSEGV);
    memset(&fault_info, 0, sizeof fault_info);
    if (sigsetjmp(fault_jb, 1) == 0) {
        op();
        return 0;
    }
    return fault_info.si_signo == SIGSEGV && fault_info.si_code == SI_KERNEL && fault_info.si_addr == NULL;
}
static void op_hlt(void) { __asm__ volatile("hlt"); }
static void op_cli(void) { __asm__ volatile("cli"); }
static void op_in(void) { unsigned char v; __asm__ volatile("inb $0x80, %0" : "=a"(v)); }
static void op_out(void) { __asm__ volatile("outb %0, $0x80" : : "a"((unsigned char)0)); }
static void op_rdmsr(void) { unsigned lo, hi; __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xC0000082u)); }
static void op_wrmsr(void) { __asm__ volatile("wrmsr" : : "a"(0), "d"(0), "c"(0xC0000082u)); }
static void op_read_cr3(void) { unsigned long v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); }
static void op_write_cr3(void) { __asm__ volatile("mov %0, %%cr3" : : "r"(0UL)); }
static void op_lidt(void) { static struct { unsigned short limit; unsigned long base; } __attribute__((packed)) d; __asm__ volatile("lidt %0" : : "m"(d)); }
static void op_invlpg(void) { static char page[64]; __asm__ volatile("invlpg %0" : : "m"(page[0])); }

CASE(privileged_instructions_raise_sigsegv_si_kernel) {
    struct { const char *name; void (*op)(void); } ops[] = {
        {"hlt", op_hlt}, {"cli", op_cli}, {"in", op_in}, {"out", op_out}, {"rdmsr", op_rdmsr}, {"wrmsr", op_wrmsr},
        {"mov from cr3", op_read_cr3}, {"mov to cr3", op_write_cr3}, {"lidt", op_lidt}, {"invlpg", op_invlpg},
    };
    for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!privileged_faults(ops[i].op))
            compat_fail(__FILE__, __LINE__, "%s: signal %d code %d addr %p", ops[i].name, fault_info.si_signo,
                        fault_info.si_code, fault_info.si_addr);
}

/* /proc/PID/coredump_filter: which memory a core holds (core(5)); inherited by fork. */
CASE(coredump_filter_reads_and_takes_its_bits) {
    char buf[32];
    EXPECT(slurp("/proc/self/coredump_filter", buf, sizeof buf) > 0);
    EXPECT_STREQ(buf, "00000033\n");
    write_file("/proc/self/coredump_filter", "0x1ff3\n");
    EXPECT(slurp("/proc/self/coredump_filter", buf, sizeof buf) > 0);
    EXPECT_STREQ(buf, "000001f3\n"); /* nine bits */
    write_file("/proc/self/coredump_filter", "17");
    EXPECT(slurp("/proc/self/coredump_filter", buf, sizeof buf) > 0);
    EXPECT_STREQ(buf, "00000011\n");
    pid_t c = fork();
    if (c == 0) {
        char mine[32] = {0};
        _exit(slurp("/proc/self/coredump_filter", mine, sizeof mine) > 0 && strcmp(mine, "00000011\n") == 0 ? 0 : 1);
    }
    EXPECT_EQ(wait_status(c), 0);
    int fd = open("/proc/self/coredump_filter", O_WRONLY);
    EXPECT(fd >= 0);
    EXPECT_ERRNO(write(fd, "junk", 4), EINVAL);
    close(fd);
}

/* The file segment of a core holding `at`: its program header's file size (0: described,
 * not dumped), or -1 when no segment covers it. */
static long dumped_size_at(const char *path, uintptr_t at) {
    int fd = open(path, O_RDONLY);
    EXPECT(fd >= 0);
    Elf64_Ehdr eh;
    EXPECT_EQ(pread(fd, &eh, sizeof eh, 0), (long)sizeof eh);
    long size = -1;
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        EXPECT_EQ(pread(fd, &ph, sizeof ph, eh.e_phoff + i * sizeof ph), (long)sizeof ph);
        if (ph.p_type == PT_LOAD && at >= ph.p_vaddr && at < ph.p_vaddr + ph.p_memsz) size = (long)ph.p_filesz;
    }
    close(fd);
    return size;
}

/* Maps two anonymous pages (the first marked MADV_DONTDUMP when `inherited_dontdump`), then
 * forks a child that writes them, applies `advice` to the first (or none), sets its
 * coredump_filter to `filter` (or leaves it) and aborts with a core in `dir`; returns the
 * first page's address. */
static uintptr_t abort_with_two_pages(const char *dir, int inherited_dontdump, int advice, const char *filter) {
    EXPECT_OK(mkdir(dir, 0755));
    char *pages = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(pages != MAP_FAILED);
    if (inherited_dontdump) EXPECT_OK(madvise(pages, 4096, MADV_DONTDUMP));
    pid_t c = fork();
    if (c == 0) {
        struct rlimit r = { RLIM_INFINITY, RLIM_INFINITY };
        if (setrlimit(RLIMIT_CORE, &r) != 0 || chdir(dir) != 0) _exit(3);
        memset(pages, 'p', 8192);
        if (advice >= 0 && madvise(pages, 4096, advice) != 0) _exit(4);
        if (filter) write_file("/proc/self/coredump_filter", filter);
        abort();
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFSIGNALED(st) && WCOREDUMP(st));
    return (uintptr_t)pages;
}

CASE(madv_dontdump_and_the_filter_leave_memory_out_of_the_core) {
    if (!core_goes_to_cwd()) return;
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/dontdump", scratch());
    uintptr_t at = abort_with_two_pages(dir, 0, MADV_DONTDUMP, NULL);
    snprintf(path, sizeof path, "%s/core", dir);
    EXPECT_EQ(dumped_size_at(path, at), 0);
    EXPECT(dumped_size_at(path, at + 4096) >= 4096);
    unlink(path);
    /* The mark is inherited by fork; MADV_DODUMP undoes it. */
    snprintf(dir, sizeof dir, "%s/inherited", scratch());
    at = abort_with_two_pages(dir, 1, -1, NULL);
    snprintf(path, sizeof path, "%s/core", dir);
    EXPECT_EQ(dumped_size_at(path, at), 0);
    unlink(path);
    snprintf(dir, sizeof dir, "%s/dodump", scratch());
    at = abort_with_two_pages(dir, 1, MADV_DODUMP, NULL);
    snprintf(path, sizeof path, "%s/core", dir);
    EXPECT(dumped_size_at(path, at) >= 4096);
    unlink(path);
    /* Without bit 0 of the filter, private anonymous memory stays out. */
    snprintf(dir, sizeof dir, "%s/filtered", scratch());
    at = abort_with_two_pages(dir, 0, -1, "0x32");
    snprintf(path, sizeof path, "%s/core", dir);
    EXPECT_EQ(dumped_size_at(path, at), 0);
    unlink(path);
    EXPECT_ERRNO(madvise((void *)at, 4096, 99), EINVAL);
}

/* kernel.core_pattern names the core: %p the pid, %e the command, %s the signal, %% a
 * percent. (A global setting: put back at once.) */
CASE(core_pattern_names_the_core_file) {
    if (!core_goes_to_cwd()) return;
    char dir[512], pattern[700], path[700];
    snprintf(dir, sizeof dir, "%s/patterned", scratch());
    EXPECT_OK(mkdir(dir, 0755));
    snprintf(pattern, sizeof pattern, "%s/core.%%e.%%p.%%s.%%%%\n", dir);
    write_file("/proc/sys/kernel/core_pattern", pattern);
    pid_t c = fork();
    if (c == 0) {
        struct rlimit r = { RLIM_INFINITY, RLIM_INFINITY };
        prctl(PR_SET_NAME, "dumper");
        if (setrlimit(RLIMIT_CORE, &r) == 0) abort();
        _exit(3);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    write_file("/proc/sys/kernel/core_pattern", "core\n");
    EXPECT(WIFSIGNALED(st) && WCOREDUMP(st));
    snprintf(path, sizeof path, "%s/core.dumper.%d.%d.%%", dir, c, SIGABRT);
    struct stat sb;
    EXPECT_OK(stat(path, &sb));
    unlink(path);
}

/* The signal frame's mcontext as Linux lays it out (struct sigcontext): fpregs points at the
 * FPU state (Go's runtime and crash reporters read it there), cr2 holds the address of the
 * last page fault, trapno the trap behind the signal, oldmask the mask the handler returns to.
 * The fault record stays with the thread: a later tgkill's frame repeats its cr2. */
static volatile struct { /* volatile: written by the handler behind raise()'s back */
    int sig;
    void *addr;
    int have_fpregs;
    unsigned mxcsr;
    unsigned long long cr2, trapno, err, oldmask;
} frame_seen;
static sigjmp_buf frame_jump;

static void frame_handler(int sig, siginfo_t *si, void *ucv) {
    ucontext_t *uc = ucv;
    mcontext_t *m = &uc->uc_mcontext;
    frame_seen.sig = sig;
    frame_seen.addr = si->si_addr;
    frame_seen.have_fpregs = m->fpregs != NULL;
    frame_seen.mxcsr = m->fpregs ? m->fpregs->mxcsr : 0;
    frame_seen.cr2 = (unsigned long long)m->gregs[REG_CR2];
    frame_seen.trapno = (unsigned long long)m->gregs[REG_TRAPNO];
    frame_seen.err = (unsigned long long)m->gregs[REG_ERR];
    frame_seen.oldmask = (unsigned long long)m->gregs[REG_OLDMASK];
    if (sig != SIGUSR1) siglongjmp(frame_jump, 1);
}

static void install_frame_handler(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = frame_handler;
    sa.sa_flags = SA_SIGINFO;
    EXPECT_OK(sigaction(sig, &sa, NULL));
}

CASE(signal_frame_mcontext_has_fpregs_cr2_trapno_and_oldmask) {
    install_frame_handler(SIGUSR1);
    install_frame_handler(SIGSEGV);
    install_frame_handler(SIGTRAP);
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    EXPECT_OK(sigprocmask(SIG_BLOCK, &usr2, NULL));
    EXPECT_OK(raise(SIGUSR1));
    EXPECT_EQ(frame_seen.sig, SIGUSR1);
    EXPECT(frame_seen.have_fpregs);
    EXPECT_EQ(frame_seen.mxcsr & 0xffc0, 0x1f80 & 0xffc0); /* the exception masks, as set at start */
    EXPECT_EQ(frame_seen.oldmask, 1ULL << (SIGUSR2 - 1));
    char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    if (!sigsetjmp(frame_jump, 1)) *(volatile char *)(p + 16) = 1;
    EXPECT_EQ(frame_seen.sig, SIGSEGV);
    EXPECT(frame_seen.have_fpregs);
    EXPECT_EQ(frame_seen.cr2, (unsigned long long)(p + 16));
    EXPECT_EQ(frame_seen.trapno, 14);
    if (!sigsetjmp(frame_jump, 1)) (void)*(volatile char *)0x1234;
    EXPECT_EQ(frame_seen.cr2, 0x1234);
    EXPECT_EQ(frame_seen.trapno, 14);
    if (!sigsetjmp(frame_jump, 1)) __asm__ volatile("int3");
    EXPECT_EQ(frame_seen.sig, SIGTRAP);
    EXPECT_EQ(frame_seen.trapno, 3);
    EXPECT_EQ(frame_seen.cr2, 0x1234); /* the last page fault's, still */
    EXPECT_OK(raise(SIGUSR1));
    EXPECT_EQ(frame_seen.sig, SIGUSR1);
    EXPECT_EQ(frame_seen.cr2, 0x1234);
    EXPECT_OK(munmap(p, 4096));
}

/* err is the page fault's error code: bit 1 set for a write, clear for a read; bit 2 for
 * user mode. (Only the hardware knows it: Joey's systrap reads it from the host's frame, kvm
 * from the exception's; ptrace reports 0.) */
CASE(signal_frame_err_tells_a_write_fault_from_a_read) {
    install_frame_handler(SIGSEGV);
    if (!sigsetjmp(frame_jump, 1)) (void)*(volatile char *)0x1234;
    EXPECT_EQ(frame_seen.err & 6, 4);
    if (!sigsetjmp(frame_jump, 1)) *(volatile char *)0x1238 = 1;
    EXPECT_EQ(frame_seen.err & 6, 6);
}

/* ITIMER_PROF goes off at its rate of the process's CPU time, and its SIGPROF goes to the
 * thread that was running (Linux's check_cpu_itimer signals from that thread's tick): a
 * profiler such as Go's pprof samples the thread that used the time. */
static volatile int prof_hits, prof_hog_hits;
static volatile pid_t prof_hog_tid;
static void prof_handler(int sig) {
    (void)sig;
    prof_hits++;
    if (syscall(SYS_gettid) == prof_hog_tid) prof_hog_hits++;
}

static double thread_cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void *prof_hog(void *arg) {
    (void)arg;
    prof_hog_tid = syscall(SYS_gettid);
    double start = thread_cpu_seconds();
    volatile unsigned long x = 0;
    while (thread_cpu_seconds() - start < 1.0)
        for (int i = 0; i < 100000; i++) x += i;
    return NULL;
}

CASE(itimer_prof_keeps_its_rate_and_signals_the_running_thread) {
    signal(SIGPROF, prof_handler);
    struct itimerval it = {{0, 10000}, {0, 10000}};
    EXPECT_OK(setitimer(ITIMER_PROF, &it, NULL));
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, prof_hog, NULL), 0);
    EXPECT_EQ(pthread_join(t, NULL), 0);
    struct itimerval off = {{0, 0}, {0, 0}};
    EXPECT_OK(setitimer(ITIMER_PROF, &off, NULL));
    /* A second of CPU time at 100 Hz: about 100 (some may merge while one is pending). */
    EXPECT(prof_hits >= 70);
    EXPECT(prof_hog_hits >= prof_hits * 9 / 10);
}

/* SIGPIPE (and SIGXFSZ) go to the thread that wrote (send_sig(..., current)), not to the
 * process: a writer that blocks it finds it pending on itself while a sibling that would
 * take it runs no handler. */
static volatile int sigpipe_handled;
static void note_sigpipe(int sig) { (void)sig; sigpipe_handled = 1; }
static int broken_pipe_fds[2];
static void *write_with_sigpipe_blocked(void *arg) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    long result = write(broken_pipe_fds[1], "x", 1) == -1 && errno == EPIPE ? 1 : 0;
    sigset_t pending;
    sigpending(&pending);
    if (!sigismember(&pending, SIGPIPE)) result = 0;
    int sig;
    if (sigwait(&set, &sig) != 0 || sig != SIGPIPE) result = 0;
    return (void *)result;
}
CASE(sigpipe_goes_to_the_writing_thread) {
    signal(SIGPIPE, note_sigpipe);
    EXPECT_OK(pipe(broken_pipe_fds));
    EXPECT_OK(close(broken_pipe_fds[0]));
    pthread_t th;
    EXPECT_EQ(pthread_create(&th, NULL, write_with_sigpipe_blocked, NULL), 0);
    void *ok;
    EXPECT_EQ(pthread_join(th, &ok), 0);
    EXPECT_EQ((long)ok, 1);
    usleep(20000);
    EXPECT_EQ(sigpipe_handled, 0);
    sigset_t pending;
    sigpending(&pending);
    EXPECT(!sigismember(&pending, SIGPIPE));
}
