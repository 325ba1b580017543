/* What a `mov $N, %eax; syscall` site guarantees, called often enough that a sandbox may
 * rewrite it (systrap's syscall patching): registers, flags and vector registers kept, rcx
 * and r11 as the instruction leaves them, restarts, signals, threads racing through one site,
 * a thread that unmaps its own stack before exiting, a gs base of the program's own (set
 * through a site too), a signal restorer's rt_sigreturn site, fork, signals arriving
 * without pause; read's shorter `xor %eax, %eax; syscall` followed by glibc's compare. */
#include "../compat.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <linux/futex.h>
#include <asm/prctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>

#define ROUNDS 8 /* calls of a site before it is tested: a sandbox patches on the second */

/* getpid through its own site, as glibc's wrappers make it. */
__attribute__((noinline)) static long site_getpid(void) {
    long r;
    __asm__ volatile("mov $39, %%eax\n\tsyscall" : "=a"(r) : : "rcx", "r11", "memory");
    return r;
}

CASE(syscall_site_keeps_registers_and_sets_rcx_r11) {
    for (int i = 0; i < ROUNDS; i++) {
        /* out: the twelve registers, then rcx, r11, the flags before, the next instruction. */
        uint64_t out[16];
        __asm__ volatile(
            "push %%rax\n\tpush %%rbx\n\tpush %%rbp\n\tpush %%r12\n\tpush %%r13\n\tpush %%r14\n\tpush %%r15\n\t"
            "mov $0x1111, %%rbx\n\tmov $0x2222, %%rbp\n\tmov $0x3333, %%r12\n\tmov $0x4444, %%r13\n\t"
            "mov $0x5555, %%r14\n\tmov $0x6666, %%r15\n\tmov $0x7777, %%rdi\n\tmov $0x8888, %%rsi\n\t"
            "mov $0x9999, %%rdx\n\tmov $0xaaaa, %%r10\n\tmov $0xbbbb, %%r8\n\tmov $0xcccc, %%r9\n\t"
            "pushf\n\t"
            "mov $39, %%eax\n\tsyscall\n1:\n\t"
            "mov 56(%%rsp), %%rax\n\t"
            "mov %%rcx, 96(%%rax)\n\tmov %%r11, 104(%%rax)\n\tpop %%rcx\n\tmov %%rcx, 112(%%rax)\n\t"
            "lea 1b(%%rip), %%rcx\n\tmov %%rcx, 120(%%rax)\n\t"
            "mov %%rbx, 0(%%rax)\n\tmov %%rbp, 8(%%rax)\n\tmov %%r12, 16(%%rax)\n\tmov %%r13, 24(%%rax)\n\t"
            "mov %%r14, 32(%%rax)\n\tmov %%r15, 40(%%rax)\n\tmov %%rdi, 48(%%rax)\n\tmov %%rsi, 56(%%rax)\n\t"
            "mov %%rdx, 64(%%rax)\n\tmov %%r10, 72(%%rax)\n\tmov %%r8, 80(%%rax)\n\tmov %%r9, 88(%%rax)\n\t"
            "pop %%r15\n\tpop %%r14\n\tpop %%r13\n\tpop %%r12\n\tpop %%rbp\n\tpop %%rbx\n\tpop %%rax\n\t"
            :
            : "a"(out)
            : "rcx", "rdi", "rsi", "rdx", "r8", "r9", "r10", "r11", "memory");
        uint64_t want[12] = {0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666, 0x7777, 0x8888, 0x9999, 0xaaaa, 0xbbbb, 0xcccc};
        for (int r = 0; r < 12; r++) EXPECT_EQ(out[r], want[r]);
        EXPECT_EQ(out[12], out[15]); /* rcx: the instruction after the syscall */
        EXPECT_EQ(out[13] & 0x8d5, out[14] & 0x8d5); /* r11: rflags */
    }
}

/* One site, flags set by `setup` before it, read back after it. */
#define FLAGS_AFTER(setup, out) __asm__ volatile(setup "\n\tmov $39, %%eax\n\tsyscall\n\tpushf\n\tpop %0" \
                                                 : "=r"(out) : : "rax", "rcx", "r11", "memory")

CASE(syscall_site_keeps_arithmetic_flags) {
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t f;
        FLAGS_AFTER("stc", f);
        EXPECT_EQ(f & 1, 1); /* CF */
        FLAGS_AFTER("clc", f);
        EXPECT_EQ(f & 1, 0);
        FLAGS_AFTER("xor %%eax, %%eax", f);
        EXPECT_EQ(f & 0x40, 0x40); /* ZF */
        FLAGS_AFTER("mov $0x7f, %%al\n\tadd $1, %%al", f);
        EXPECT_EQ(f & 0x880, 0x880); /* OF, SF */
        FLAGS_AFTER("mov $1, %%al\n\tadd $1, %%al", f);
        EXPECT_EQ(f & 0x8c1, 0); /* none of OF SF ZF CF */
    }
}

static volatile sig_atomic_t usr1_seen;
static void clobber_vectors(int sig) {
    (void)sig;
    usr1_seen++;
    __asm__ volatile("pcmpeqd %%xmm0, %%xmm0\n\tpcmpeqd %%xmm7, %%xmm7\n\tpcmpeqd %%xmm15, %%xmm15" : : : "xmm0", "xmm7", "xmm15");
}

/* kill(getpid(), SIGUSR1) through its own site: the handler runs as the call returns. */
__attribute__((noinline)) static long site_kill_self(long pid) {
    long r;
    __asm__ volatile("mov $62, %%eax\n\tsyscall" : "=a"(r) : "D"(pid), "S"(SIGUSR1) : "rcx", "r11", "memory");
    return r;
}

CASE(syscall_site_keeps_vector_registers_across_a_handler) {
    install(SIGUSR1, clobber_vectors, 0);
    long pid = getpid();
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t in[2] = {0x0123456789abcdefULL + i, 0xfedcba9876543210ULL}, a[2], b[2], c[2];
        long r;
        __asm__ volatile(
            "movdqu (%[in]), %%xmm0\n\tmovdqu (%[in]), %%xmm7\n\tmovdqu (%[in]), %%xmm15\n\t"
            "mov $62, %%eax\n\tsyscall\n\t"
            "movdqu %%xmm0, (%[a])\n\tmovdqu %%xmm7, (%[b])\n\tmovdqu %%xmm15, (%[c])"
            : "=a"(r)
            : [in] "r"(in), [a] "r"(a), [b] "r"(b), [c] "r"(c), "D"(pid), "S"(SIGUSR1)
            : "rcx", "r11", "xmm0", "xmm7", "xmm15", "memory");
        EXPECT_EQ(r, 0);
        EXPECT_EQ(usr1_seen, i + 1);
        EXPECT(memcmp(a, in, 16) == 0 && memcmp(b, in, 16) == 0 && memcmp(c, in, 16) == 0);
    }
}

static volatile uint64_t handler_rip;
static void note_rip(int sig, siginfo_t *si, void *ctx) {
    (void)sig; (void)si;
    handler_rip = ((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP];
}

CASE(syscall_site_signal_frame_holds_the_next_instruction) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = note_rip;
    sa.sa_flags = SA_SIGINFO;
    EXPECT_OK(sigaction(SIGUSR1, &sa, NULL));
    long pid = getpid();
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t next;
        __asm__ volatile("mov $62, %%eax\n\tsyscall\n1:\n\tlea 1b(%%rip), %0"
                         : "=r"(next) : "D"(pid), "S"(SIGUSR1) : "rax", "rcx", "r11", "memory");
        EXPECT_EQ(handler_rip, next);
    }
}

static void *hammer_getpid(void *arg) {
    long pid = (long)arg, bad = 0;
    for (int i = 0; i < 20000; i++) bad += site_getpid() != pid;
    return (void *)bad;
}

CASE(syscall_site_many_threads_through_one_site) {
    /* The site is first used by all of them at once: a rewrite happens while others run it. */
    pthread_t t[8];
    for (int i = 0; i < 8; i++) EXPECT_EQ(pthread_create(&t[i], NULL, hammer_getpid, (void *)(long)getpid()), 0);
    for (int i = 0; i < 8; i++) {
        void *bad;
        EXPECT_EQ(pthread_join(t[i], &bad), 0);
        EXPECT_EQ((long)bad, 0);
    }
}

static void noop(int sig) { (void)sig; }

/* read(fd, buf, n) through its own site. */
__attribute__((noinline)) static long site_read(int fd, void *buf, long n) {
    long r;
    __asm__ volatile("mov $0, %%eax\n\tsyscall" : "=a"(r) : "D"((long)fd), "S"(buf), "d"(n) : "rcx", "r11", "memory");
    return r;
}

/* A child that writes `c` to `fd` 300 ms from now. */
static pid_t write_later(int fd, char c) {
    pid_t child = fork();
    if (child == 0) {
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
        _exit(write(fd, &c, 1) == 1 ? 0 : 1);
    }
    return child;
}

CASE(syscall_site_restarts_after_an_sa_restart_handler) {
    int p[2];
    EXPECT_OK(pipe(p));
    char c;
    for (int i = 0; i < ROUNDS; i++) {
        EXPECT_EQ(write(p[1], "x", 1), 1);
        EXPECT_EQ(site_read(p[0], &c, 1), 1);
    }
    install(SIGALRM, noop, SA_RESTART);
    pid_t child = write_later(p[1], 'y');
    alarm(0);
    struct itimerval it = {{0, 0}, {0, 50 * 1000}};
    EXPECT_OK(setitimer(ITIMER_REAL, &it, NULL));
    EXPECT_EQ(site_read(p[0], &c, 1), 1); /* interrupted at 50 ms, restarted, then the byte */
    EXPECT_EQ(c, 'y');
    int st;
    EXPECT_EQ(waitpid(child, &st, 0), child);
}

/* read in glibc's own shape: `xor %eax, %eax; syscall; cmp $-4096, %rax`, then the flags
 * the compare set (glibc's `ja` to its error path). One site per function made with it. */
#define READ_SITE(name)                                                                        \
    __attribute__((noinline)) static long name(int fd, void *buf, long n, int *failed) {      \
        long r;                                                                                \
        unsigned char above;                                                                   \
        __asm__ volatile("nop\n\txor %%eax, %%eax\n\tsyscall\n\tcmp $-4096, %%rax\n\tseta %1"  \
                         : "=a"(r), "=qm"(above)                                               \
                         : "D"((long)fd), "S"(buf), "d"(n)                                     \
                         : "rcx", "r11", "memory", "cc");                                      \
        *failed = above;                                                                       \
        return r;                                                                              \
    }
READ_SITE(read_site)
READ_SITE(read_site_in_handler)
READ_SITE(read_site_threads)

CASE(read_site_returns_and_compares) {
    int p[2], failed = -1;
    EXPECT_OK(pipe(p));
    char c;
    for (int i = 0; i < 4 * ROUNDS; i++) {
        EXPECT_EQ(write(p[1], "x", 1), 1);
        EXPECT_EQ(read_site(p[0], &c, 1, &failed), 1);
        EXPECT_EQ(failed, 0);
        EXPECT_EQ(c, 'x');
    }
    EXPECT_EQ(read_site(-1, &c, 1, &failed), -EBADF);
    EXPECT_EQ(failed, 1);
    EXPECT_OK(close(p[1]));
    EXPECT_EQ(read_site(p[0], &c, 1, &failed), 0);
    EXPECT_EQ(failed, 0);
    EXPECT_OK(close(p[0]));
}

CASE(read_site_restarts_or_fails_with_eintr) {
    int p[2], failed = -1;
    EXPECT_OK(pipe(p));
    char c;
    for (int i = 0; i < ROUNDS; i++) {
        EXPECT_EQ(write(p[1], "x", 1), 1);
        EXPECT_EQ(read_site(p[0], &c, 1, &failed), 1);
    }
    pid_t child = write_later(p[1], 'y');
    /* SA_RESTART: interrupted at 50 ms, restarted, then the byte. */
    install(SIGALRM, noop, SA_RESTART);
    struct itimerval it = {{0, 0}, {0, 50 * 1000}};
    EXPECT_OK(setitimer(ITIMER_REAL, &it, NULL));
    EXPECT_EQ(read_site(p[0], &c, 1, &failed), 1);
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(c, 'y');
    int st;
    EXPECT_EQ(waitpid(child, &st, 0), child);
    /* Without it: EINTR, and the compare sees it. */
    install(SIGALRM, noop, 0);
    EXPECT_OK(setitimer(ITIMER_REAL, &it, NULL));
    EXPECT_EQ(read_site(p[0], &c, 1, &failed), -EINTR);
    EXPECT_EQ(failed, 1);
}

/* The handler's read is the site's second use (where a sandbox may rewrite it) while the
 * interrupted first one waits in the signal frame, to return to the compare. */
static int handler_pipe = -1, handler_failed = -1;
static long handler_got = -1;
static void read_in_handler(int sig) {
    (void)sig;
    char c;
    handler_got = read_site_in_handler(handler_pipe, &c, 1, &handler_failed);
}

CASE(read_site_first_call_interrupted_by_a_handler_that_uses_it) {
    int p[2], q[2], failed = -1;
    EXPECT_OK(pipe(p));
    EXPECT_OK(pipe(q));
    EXPECT_EQ(write(q[1], "q", 1), 1);
    handler_pipe = q[0];
    install(SIGALRM, read_in_handler, 0);
    struct itimerval it = {{0, 0}, {0, 50 * 1000}};
    EXPECT_OK(setitimer(ITIMER_REAL, &it, NULL));
    char c;
    EXPECT_EQ(read_site_in_handler(p[0], &c, 1, &failed), -EINTR);
    EXPECT_EQ(failed, 1);
    EXPECT_EQ(handler_got, 1);
    EXPECT_EQ(handler_failed, 0);
    /* And once more, patched or not. */
    EXPECT_EQ(write(p[1], "z", 1), 1);
    EXPECT_EQ(read_site_in_handler(p[0], &c, 1, &failed), 1);
    EXPECT_EQ(c, 'z');
    EXPECT_EQ(failed, 0);
}

static void *read_hammer(void *arg) {
    (void)arg;
    int p[2], failed;
    if (pipe(p) != 0) return (void *)1L;
    long bad = 0;
    char c;
    for (int i = 0; i < 5000; i++) {
        if (write(p[1], "h", 1) != 1) bad++;
        bad += read_site_threads(p[0], &c, 1, &failed) != 1 || failed != 0 || c != 'h';
    }
    close(p[0]);
    close(p[1]);
    return (void *)bad;
}

CASE(read_site_many_threads_through_one_site) {
    pthread_t t[8];
    for (int i = 0; i < 8; i++) EXPECT_EQ(pthread_create(&t[i], NULL, read_hammer, NULL), 0);
    for (int i = 0; i < 8; i++) {
        void *bad;
        EXPECT_EQ(pthread_join(t[i], &bad), 0);
        EXPECT_EQ((long)bad, 0);
    }
}

CASE(syscall_site_restarts_after_a_stop) {
    int p[2];
    EXPECT_OK(pipe(p));
    pid_t child = fork();
    if (child == 0) {
        char c;
        int q[2];
        if (pipe(q) != 0) _exit(2);
        for (int i = 0; i < ROUNDS; i++) {
            if (write(q[1], "x", 1) != 1 || site_read(q[0], &c, 1) != 1) _exit(3);
        }
        /* Blocks in the patched read; stopped and continued, it goes on waiting. */
        _exit(site_read(p[0], &c, 1) == 1 && c == 'z' ? 0 : 4);
    }
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    EXPECT_OK(kill(child, SIGSTOP));
    int st;
    EXPECT_EQ(waitpid(child, &st, WUNTRACED), child);
    EXPECT(WIFSTOPPED(st));
    EXPECT_OK(kill(child, SIGCONT));
    nanosleep(&ts, NULL);
    EXPECT_EQ(write(p[1], "z", 1), 1);
    EXPECT_EQ(waitpid(child, &st, 0), child);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A thread that unmaps its own stack and exits (musl's pthread_exit for detached threads):
 * both calls through sites of their own, the second with no stack at all. */
static long unmapping_thread(void *stack, size_t size, uint32_t *tid) {
    long r;
    register long r10 __asm__("r10") = (long)tid;
    register long r8 __asm__("r8") = 0;
    __asm__ volatile(
        "mov %[stack], %%r12\n\tmov %[size], %%r13\n\t"
        "mov $56, %%eax\n\tsyscall\n\t"
        "test %%rax, %%rax\n\tjnz 1f\n\t"
        "mov $11, %%eax\n\tmov %%r12, %%rdi\n\tmov %%r13, %%rsi\n\tsyscall\n\t"
        "mov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall\n\tud2\n"
        "1:"
        : "=a"(r)
        : "D"((long)(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                     CLONE_CHILD_CLEARTID)),
          "S"((char *)stack + size), "d"(0L), "r"(r10), "r"(r8), [stack] "r"(stack), [size] "r"(size)
        : "rcx", "r11", "r12", "r13", "memory");
    return r;
}

CASE(syscall_site_thread_exits_after_unmapping_its_stack) {
    for (int i = 0; i < ROUNDS; i++) {
        size_t size = 64 * 1024;
        void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        EXPECT(stack != MAP_FAILED);
        static uint32_t tid;
        tid = 1;
        long r = unmapping_thread(stack, size, &tid);
        EXPECT(r > 0);
        while (__atomic_load_n(&tid, __ATOMIC_ACQUIRE) != 0) syscall(SYS_futex, &tid, FUTEX_WAIT, tid, NULL, NULL, 0);
        EXPECT_EQ(msync(stack, size, 0), -1); /* gone */
    }
    EXPECT_EQ(site_getpid(), getpid());
}

CASE(syscall_site_works_with_a_gs_base_of_its_own) {
    static uint64_t block[4] = {0x5a5a5a5a5a5a5a5aULL, 2, 3, 4};
    for (int i = 0; i < ROUNDS; i++) EXPECT_EQ(site_getpid(), getpid());
    EXPECT_OK(syscall(SYS_arch_prctl, ARCH_SET_GS, (unsigned long)block));
    for (int i = 0; i < ROUNDS; i++) {
        EXPECT_EQ(site_getpid(), getpid());
        uint64_t v;
        __asm__ volatile("mov %%gs:0, %0" : "=r"(v));
        EXPECT_EQ(v, block[0]);
    }
    unsigned long got = 0;
    EXPECT_OK(syscall(SYS_arch_prctl, ARCH_GET_GS, &got));
    EXPECT_EQ(got, (unsigned long)block);
    EXPECT_OK(syscall(SYS_arch_prctl, ARCH_SET_GS, 0UL));
    EXPECT_OK(syscall(SYS_arch_prctl, ARCH_GET_GS, &got));
    EXPECT_EQ(got, 0);
    for (int i = 0; i < ROUNDS; i++) EXPECT_EQ(site_getpid(), getpid());
}

/* arch_prctl through its own site: setting gs there (the call returns with another gs base). */
__attribute__((noinline)) static long site_arch_prctl(long code, unsigned long addr) {
    long r;
    __asm__ volatile("mov $158, %%eax\n\tsyscall" : "=a"(r) : "D"(code), "S"(addr) : "rcx", "r11", "memory");
    return r;
}

CASE(syscall_site_sets_and_reads_gs_base) {
    static uint64_t blocks[4][2] = {{0x1111, 1}, {0x2222, 2}, {0x3333, 3}, {0x4444, 4}};
    for (int i = 0; i < 3 * ROUNDS; i++) {
        uint64_t *b = blocks[i % 4];
        EXPECT_EQ(site_arch_prctl(ARCH_SET_GS, (unsigned long)b), 0);
        uint64_t v;
        __asm__ volatile("mov %%gs:0, %0" : "=r"(v));
        EXPECT_EQ(v, b[0]);
        unsigned long got = 0;
        EXPECT_EQ(site_arch_prctl(ARCH_GET_GS, (unsigned long)&got), 0);
        EXPECT_EQ(got, (unsigned long)b);
    }
    EXPECT_EQ(site_arch_prctl(ARCH_SET_GS, 0), 0);
    unsigned long got = 1;
    EXPECT_EQ(site_arch_prctl(ARCH_GET_GS, (unsigned long)&got), 0);
    EXPECT_EQ(got, 0);
}

/* A signal restorer as musl writes it (`mov $15, %eax; syscall`): rt_sigreturn through a site
 * of its own brings back every flag, the direction flag too. */
extern void site_restorer(void);
__asm__(".text\n.globl site_restorer\nsite_restorer:\n\tmov $15, %eax\n\tsyscall\n\thlt\n");
struct kernel_sigaction_raw { void *handler; unsigned long flags; void *restorer; uint64_t mask; };
static volatile long alarms;
static void count_alarm(int sig) { (void)sig; alarms++; }

CASE(syscall_site_sigreturn_keeps_the_direction_flag) {
    struct kernel_sigaction_raw sa = {(void *)count_alarm, SA_RESTART | 0x04000000 /* SA_RESTORER */, (void *)site_restorer, 0};
    EXPECT_EQ(syscall(SYS_rt_sigaction, SIGALRM, &sa, NULL, 8), 0);
    struct itimerval it = {{0, 200}, {0, 200}};
    EXPECT_OK(setitimer(ITIMER_REAL, &it, NULL));
    long lost = 0, rounds = 0;
    while (alarms < 200 && rounds < 100000000) {
        uint64_t f;
        /* Most of the time with DF set: where the signals land. */
        __asm__ volatile("std\n\tmov $2000, %%ecx\n1:\n\tdec %%ecx\n\tjnz 1b\n\tpushf\n\tpop %0\n\tcld" : "=r"(f) : : "rcx", "cc");
        lost += !(f & 0x400);
        rounds++;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    EXPECT_OK(setitimer(ITIMER_REAL, &off, NULL));
    EXPECT(alarms >= 200);
    EXPECT_EQ(lost, 0);
}

/* Signals sent at a thread that calls through a site without pause: each delivery needs the
 * thread's vector state while more interrupts for it keep arriving. */
static _Atomic long storm_caught;
static _Atomic int storm_done;
static void storm_handler(int sig) { (void)sig; storm_caught++; }

static void *storm_sender(void *arg) {
    pid_t tid = (pid_t)(long)arg;
    for (int i = 0; i < 5000; i++) syscall(SYS_tgkill, getpid(), tid, SIGUSR2);
    storm_done = 1;
    return NULL;
}

CASE(syscall_site_calls_while_signals_keep_arriving) {
    struct sigaction sa = {.sa_handler = storm_handler};
    EXPECT_OK(sigaction(SIGUSR2, &sa, NULL));
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, storm_sender, (void *)(long)syscall(SYS_gettid)), 0);
    long bad = 0;
    while (!storm_done) bad += site_getpid() != getpid();
    EXPECT_EQ(pthread_join(t, NULL), 0);
    EXPECT_EQ(bad, 0);
    EXPECT(storm_caught > 0);
    signal(SIGUSR2, SIG_DFL);
}

CASE(syscall_site_used_again_in_a_forked_child) {
    for (int i = 0; i < ROUNDS; i++) EXPECT_EQ(site_getpid(), getpid());
    pid_t child = fork();
    if (child == 0) {
        for (int i = 0; i < 1000; i++) {
            if (site_getpid() != getpid()) _exit(1);
        }
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(child, &st, 0), child);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT_EQ(site_getpid(), getpid());
}

COMPAT_MAIN()
