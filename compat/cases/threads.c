/* Threads and futexes: what pthreads rely on, checked against Linux. */
#include "../compat.h"
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

static long futex(uint32_t *a, int op, uint32_t v, const struct timespec *t, uint32_t *a2, uint32_t v3) {
    return syscall(SYS_futex, a, op, v, t, a2, v3);
}

static void *return_tid(void *arg) { (void)arg; return (void *)(long)syscall(SYS_gettid); }

CASE(thread_has_own_tid_and_shares_pid) {
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, return_tid, NULL), 0);
    void *r;
    EXPECT_EQ(pthread_join(t, &r), 0);
    EXPECT((long)r != getpid());
    EXPECT_EQ(syscall(SYS_gettid), getpid());
}

static long counter;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *add(void *arg) {
    for (int i = 0; i < 1000; i++) { pthread_mutex_lock(&lock); counter++; pthread_mutex_unlock(&lock); }
    return arg;
}

CASE(eight_threads_share_memory_under_a_mutex) {
    pthread_t t[8];
    for (int i = 0; i < 8; i++) EXPECT_EQ(pthread_create(&t[i], NULL, add, NULL), 0);
    for (int i = 0; i < 8; i++) EXPECT_EQ(pthread_join(t[i], NULL), 0);
    EXPECT_EQ(counter, 8000);
}

static void *exit_thread(void *arg) { pthread_exit(arg); }

CASE(pthread_exit_ends_only_that_thread) {
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, exit_thread, (void *)42), 0);
    void *r;
    EXPECT_EQ(pthread_join(t, &r), 0);
    EXPECT_EQ((long)r, 42);
}

CASE(futex_wait_value_mismatch_is_eagain) {
    uint32_t w = 1;
    EXPECT_ERRNO(futex(&w, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0), EAGAIN);
}

CASE(futex_wait_times_out_with_etimedout) {
    uint32_t w = 0;
    struct timespec t = {0, 20000000};
    EXPECT_ERRNO(futex(&w, FUTEX_WAIT_PRIVATE, 0, &t, NULL, 0), ETIMEDOUT);
}

CASE(futex_wake_without_waiters_returns_zero) {
    uint32_t w = 0;
    EXPECT_EQ(futex(&w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), 0);
}

CASE(futex_unaligned_address_is_einval) {
    char buf[8] = {0};
    EXPECT_ERRNO(futex((uint32_t *)(buf + 1), FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), EINVAL);
}

CASE(futex_bad_address_is_efault) {
    EXPECT_ERRNO(futex((uint32_t *)8, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0), EFAULT);
}

CASE(futex_shared_wake_and_requeue_fault_on_unusable_words) {
    long ps = sysconf(_SC_PAGESIZE);
    uint32_t *gone = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_OK(munmap(gone, ps));
    uint32_t *none = mmap(NULL, ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int fd = open(scratch_path("f"), O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT_OK(ftruncate(fd, ps));
    uint32_t *past = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT_OK(ftruncate(fd, 0));
    uint32_t w = 0;
    /* A shared futex is keyed by the page behind the word: none is there */
    EXPECT_ERRNO(futex(gone, FUTEX_WAKE, 1, NULL, NULL, 0), EFAULT);
    EXPECT_ERRNO(futex(none, FUTEX_WAKE, 1, NULL, NULL, 0), EFAULT);
    EXPECT_ERRNO(futex(past, FUTEX_WAKE, 1, NULL, NULL, 0), EFAULT);
    EXPECT_ERRNO(futex(&w, FUTEX_CMP_REQUEUE, 1, (void *)1, gone, 0), EFAULT);
    EXPECT_ERRNO(futex(&w, FUTEX_CMP_REQUEUE, 1, (void *)1, none, 0), EFAULT);
    /* A private one is keyed by the address alone: waking nobody there is no error */
    EXPECT_EQ(futex(gone, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), 0);
    EXPECT_EQ(futex(none, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), 0);
}

CASE(futex_wait_bitset_zero_mask_is_einval) {
    uint32_t w = 0;
    EXPECT_ERRNO(futex(&w, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, 0), EINVAL);
}

static uint32_t word;
static void *waker(void *arg) {
    (void)arg;
    struct timespec d = {0, 30000000};
    nanosleep(&d, NULL);
    __atomic_store_n(&word, 1, __ATOMIC_SEQ_CST);
    futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    return NULL;
}

CASE(futex_wake_releases_a_waiting_thread) {
    word = 0;
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, waker, NULL), 0);
    while (__atomic_load_n(&word, __ATOMIC_SEQ_CST) == 0) {
        long r = futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
        EXPECT(r == 0 || errno == EAGAIN || errno == EINTR);
    }
    EXPECT_EQ(pthread_join(t, NULL), 0);
}

static volatile sig_atomic_t got_tid;
static void on_usr1(int s) { (void)s; got_tid = syscall(SYS_gettid); }
static void *wait_for_signal(void *arg) {
    (void)arg;
    while (!got_tid) { struct timespec d = {0, 1000000}; nanosleep(&d, NULL); }
    return NULL;
}

CASE(tgkill_targets_one_thread) {
    install(SIGUSR1, on_usr1, 0);
    got_tid = 0;
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, wait_for_signal, NULL), 0);
    struct timespec d = {0, 20000000};
    nanosleep(&d, NULL);
    /* The thread's tid is not known to the parent directly: signal it through pthread_kill. */
    EXPECT_EQ(pthread_kill(t, SIGUSR1), 0);
    EXPECT_EQ(pthread_join(t, NULL), 0);
    EXPECT(got_tid != getpid());
}

CASE(tgkill_wrong_tgid_is_esrch) {
    EXPECT_ERRNO(syscall(SYS_tgkill, 999999, syscall(SYS_gettid), 0), ESRCH);
}

CASE(get_robust_list_returns_the_registered_head) {
    void *head;
    size_t len;
    EXPECT_OK(syscall(SYS_get_robust_list, 0, &head, &len));
    EXPECT_EQ(len, 24);
    EXPECT(head != NULL);
}

/* Another process's robust list: ESRCH for no such process, EPERM for one the caller may
 * not trace (a user other than the target's), readable for one it may. */
CASE(get_robust_list_of_another_users_process_is_eperm) {
    if (geteuid() != 0) return; /* needs a second user */
    struct robust_list_head *head;
    size_t len;
    EXPECT_ERRNO(syscall(SYS_get_robust_list, 999999, &head, &len), ESRCH);
    pid_t owner = fork();
    if (owner == 0) { pause(); _exit(0); }
    EXPECT_OK(syscall(SYS_get_robust_list, owner, &head, &len));
    pid_t other = fork();
    if (other == 0) {
        if (setresuid(65534, 65534, 65534) != 0) _exit(2);
        errno = 0;
        long r = syscall(SYS_get_robust_list, owner, &head, &len);
        _exit(r == -1 && errno == EPERM ? 0 : 1);
    }
    int status;
    EXPECT_EQ(waitpid(other, &status, 0), other);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    kill(owner, SIGKILL);
    waitpid(owner, NULL, 0);
}

CASE(set_robust_list_bad_length_is_einval) {
    EXPECT_ERRNO(syscall(SYS_set_robust_list, NULL, 7), EINVAL);
}

COMPAT_MAIN()

/* Priority-inheritance futexes: the word holds the owner's tid; the kernel hands it over. */
static long futex_pi(uint32_t *w, int op, const struct timespec *t) { return syscall(SYS_futex, w, op, 0, t, NULL, 0); }

static uint32_t pi_word;
static volatile int pi_holder_done;

static void *pi_contender(void *arg) {
    (void)arg;
    /* Slow path: the lock is held, so the kernel queues this thread. */
    if (futex_pi(&pi_word, FUTEX_LOCK_PI, NULL) != 0) return (void *)1;
    uint32_t tid = (uint32_t)syscall(SYS_gettid);
    if ((pi_word & FUTEX_TID_MASK) != tid) return (void *)2;
    if (!pi_holder_done) return (void *)3; /* it got the lock only once the holder let go */
    if (futex_pi(&pi_word, FUTEX_UNLOCK_PI, NULL) != 0) return (void *)4;
    return NULL;
}

CASE(futex_lock_pi_hands_the_lock_to_the_waiter) {
    uint32_t me = (uint32_t)syscall(SYS_gettid);
    pi_word = 0;
    EXPECT_OK(futex_pi(&pi_word, FUTEX_LOCK_PI, NULL));
    EXPECT_EQ(pi_word, me);
    EXPECT_ERRNO(futex_pi(&pi_word, FUTEX_LOCK_PI, NULL), EDEADLK);
    pthread_t t;
    EXPECT_OK(pthread_create(&t, NULL, pi_contender, NULL) == 0 ? 0 : -1);
    /* Wait until the contender is queued: FUTEX_WAITERS shows up in the word. */
    for (int i = 0; i < 2000 && !(__atomic_load_n(&pi_word, __ATOMIC_SEQ_CST) & FUTEX_WAITERS); i++) usleep(1000);
    EXPECT(pi_word & FUTEX_WAITERS);
    EXPECT_EQ(pi_word & FUTEX_TID_MASK, me);
    pi_holder_done = 1;
    EXPECT_OK(futex_pi(&pi_word, FUTEX_UNLOCK_PI, NULL));
    void *r;
    EXPECT_OK(pthread_join(t, &r) == 0 ? 0 : -1);
    EXPECT(r == NULL);
    EXPECT_EQ(pi_word, 0);
}

CASE(futex_trylock_pi_and_unlock_pi_errors) {
    uint32_t w = 0;
    uint32_t me = (uint32_t)syscall(SYS_gettid);
    EXPECT_OK(futex_pi(&w, FUTEX_TRYLOCK_PI, NULL));
    EXPECT_EQ(w, me);
    EXPECT_ERRNO(futex_pi(&w, FUTEX_TRYLOCK_PI, NULL), EDEADLK);
    EXPECT_OK(futex_pi(&w, FUTEX_UNLOCK_PI, NULL));
    EXPECT_EQ(w, 0);
    EXPECT_ERRNO(futex_pi(&w, FUTEX_UNLOCK_PI, NULL), EPERM); /* not the owner */
    /* Owned by a thread that does not exist. */
    w = 0x3ffffff0;
    EXPECT_ERRNO(futex_pi(&w, FUTEX_TRYLOCK_PI, NULL), ESRCH);
    struct timespec past = {0, 0};
    EXPECT_ERRNO(futex_pi(&w, FUTEX_LOCK_PI, &past), ESRCH);
    uint32_t *odd = (uint32_t *)((char *)&w + 1);
    EXPECT_ERRNO(futex_pi(odd, FUTEX_LOCK_PI, NULL), EINVAL);
}

static uint32_t timed_word;
static volatile int timed_release;
static void *timed_holder(void *arg) {
    (void)arg;
    if (futex_pi(&timed_word, FUTEX_LOCK_PI, NULL) != 0) return (void *)1;
    while (!timed_release) usleep(1000);
    if (futex_pi(&timed_word, FUTEX_UNLOCK_PI, NULL) != 0) return (void *)2;
    return NULL;
}

CASE(futex_lock_pi_times_out_at_an_absolute_realtime) {
    timed_word = 0;
    pthread_t holder;
    EXPECT_EQ(pthread_create(&holder, NULL, timed_holder, NULL), 0);
    for (int i = 0; i < 2000 && timed_word == 0; i++) usleep(1000);
    EXPECT(timed_word != 0);
    EXPECT_ERRNO(futex_pi(&timed_word, FUTEX_TRYLOCK_PI, NULL), EAGAIN);
    struct timespec at;
    clock_gettime(CLOCK_REALTIME, &at);
    at.tv_nsec += 50 * 1000 * 1000;
    if (at.tv_nsec >= 1000000000) { at.tv_sec++; at.tv_nsec -= 1000000000; }
    EXPECT_ERRNO(futex_pi(&timed_word, FUTEX_LOCK_PI, &at), ETIMEDOUT);
    timed_release = 1;
    void *r;
    EXPECT_EQ(pthread_join(holder, &r), 0);
    EXPECT(r == NULL);
    EXPECT_EQ(timed_word, 0);
}

/* A robust PI mutex whose owner dies goes to the waiter, told so by FUTEX_OWNER_DIED. */
static pthread_mutex_t robust_pi;
static void *robust_owner(void *arg) {
    (void)arg;
    pthread_mutex_lock(&robust_pi);
    return NULL; /* exits holding it */
}

CASE(a_robust_pi_mutex_of_a_dead_owner_is_eownerdead_for_the_next) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
    EXPECT_EQ(pthread_mutex_init(&robust_pi, &a), 0);
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, robust_owner, NULL), 0);
    EXPECT_EQ(pthread_join(t, NULL), 0);
    EXPECT_EQ(pthread_mutex_lock(&robust_pi), EOWNERDEAD);
    EXPECT_EQ(pthread_mutex_consistent(&robust_pi), 0);
    EXPECT_EQ(pthread_mutex_unlock(&robust_pi), 0);
    EXPECT_EQ(pthread_mutex_lock(&robust_pi), 0);
    EXPECT_EQ(pthread_mutex_unlock(&robust_pi), 0);
}

/* PTHREAD_PRIO_INHERIT mutexes under contention: counts add up. */
static pthread_mutex_t pi_mutex;
static long pi_count;
static void *pi_adder(void *arg) {
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&pi_mutex);
        pi_count++;
        pthread_mutex_unlock(&pi_mutex);
    }
    return NULL;
}

CASE(prio_inherit_mutexes_exclude_under_contention) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    EXPECT_EQ(pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT), 0);
    EXPECT_EQ(pthread_mutex_init(&pi_mutex, &a), 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) EXPECT_EQ(pthread_create(&t[i], NULL, pi_adder, NULL), 0);
    for (int i = 0; i < 4; i++) EXPECT_EQ(pthread_join(t[i], NULL), 0);
    EXPECT_EQ(pi_count, 8000);
}

/* ---- futex wake counts; futex2: futex_waitv, futex_wake, futex_wait, futex_requeue ---- */

static uint32_t fw_word, fw_other;
static volatile int fw_started;
static void *fw_waiter(void *arg) {
    (void)arg;
    __atomic_add_fetch(&fw_started, 1, __ATOMIC_SEQ_CST);
    futex(&fw_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return NULL;
}

/* Waits until `n` threads sleep on fw_word: each wake below then finds them there. */
static void fw_start(pthread_t *t, int n) {
    fw_started = 0;
    for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, fw_waiter, NULL);
    while (fw_started < n) usleep(1000);
    usleep(50 * 1000);
}

CASE(futex_wake_of_zero_still_wakes_one) {
    pthread_t t[2];
    fw_word = 0;
    fw_start(t, 2);
    EXPECT_EQ(futex(&fw_word, FUTEX_WAKE_PRIVATE, 0, NULL, NULL, 0), 1);  /* Linux's loop wakes one */
    EXPECT_EQ(futex(&fw_word, FUTEX_WAKE_PRIVATE, 5, NULL, NULL, 0), 1);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
}

struct fw_waitv { uint64_t val, uaddr; uint32_t flags, reserved; };
#define FW_U32_PRIVATE (0x02 | 0x80)

static volatile long fw_waitv_result = -2;
static void *fw_waitv_thread(void *arg) {
    struct fw_waitv *v = arg;
    __atomic_add_fetch(&fw_started, 1, __ATOMIC_SEQ_CST);
    fw_waitv_result = syscall(449, v, 2, 0, NULL, 0);
    return NULL;
}

CASE(futex_waitv_wakes_on_any_word_and_says_which) {
    fw_word = 1; fw_other = 2;
    struct fw_waitv v[2] = { { 1, (uintptr_t)&fw_word, FW_U32_PRIVATE, 0 }, { 2, (uintptr_t)&fw_other, FW_U32_PRIVATE, 0 } };
    pthread_t t;
    fw_started = 0;
    EXPECT_EQ(pthread_create(&t, NULL, fw_waitv_thread, v), 0);
    while (!fw_started) usleep(1000);
    usleep(50 * 1000);
    EXPECT_EQ(futex(&fw_other, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), 1);
    EXPECT_EQ(pthread_join(t, NULL), 0);
    EXPECT_EQ(fw_waitv_result, 1);                                   /* the second word woke it */

    v[1].val = 3;
    EXPECT_ERRNO(syscall(449, v, 2, 0, NULL, 0), EAGAIN);           /* a word no longer holds its value */
    v[1].val = 2;
    struct timespec soon;
    clock_gettime(CLOCK_MONOTONIC, &soon);
    soon.tv_nsec += 20 * 1000 * 1000;
    if (soon.tv_nsec >= 1000000000) { soon.tv_sec++; soon.tv_nsec -= 1000000000; }
    EXPECT_ERRNO(syscall(449, v, 2, 0, &soon, CLOCK_MONOTONIC), ETIMEDOUT);
    EXPECT_ERRNO(syscall(449, v, 2, 0, &soon, CLOCK_BOOTTIME), EINVAL);
    EXPECT_ERRNO(syscall(449, v, 2, 1, NULL, 0), EINVAL);           /* flags */
    EXPECT_ERRNO(syscall(449, v, 0, 0, NULL, 0), EINVAL);
    EXPECT_ERRNO(syscall(449, v, 129, 0, NULL, 0), EINVAL);
    EXPECT_ERRNO(syscall(449, NULL, 1, 0, NULL, 0), EINVAL);
    v[0].reserved = 1;
    EXPECT_ERRNO(syscall(449, v, 2, 0, NULL, 0), EINVAL);
    v[0].reserved = 0; v[0].flags = 0x03;                            /* a 64-bit word */
    EXPECT_ERRNO(syscall(449, v, 2, 0, NULL, 0), EINVAL);
    v[0].flags = FW_U32_PRIVATE; v[0].val = 1ULL << 32 | 1;          /* a value wider than the word */
    EXPECT_ERRNO(syscall(449, v, 2, 0, NULL, 0), EINVAL);
    v[0].val = 1; v[0].uaddr = (uintptr_t)&fw_word + 1;
    EXPECT_ERRNO(syscall(449, v, 2, 0, NULL, 0), EINVAL);
    v[0].uaddr = 8;
    EXPECT_ERRNO(syscall(449, v, 2, 0, NULL, 0), EFAULT);
}

CASE(futex2_wake_wait_and_requeue) {
    pthread_t t[3];
    fw_word = 0;
    fw_start(t, 3);
    EXPECT_EQ(syscall(454, &fw_word, 0xffffffffUL, 0, FW_U32_PRIVATE), 0);   /* futex_wake of 0 wakes none */
    EXPECT_ERRNO(syscall(454, &fw_word, 0UL, 1, FW_U32_PRIVATE), EINVAL);    /* an empty mask */
    EXPECT_ERRNO(syscall(454, &fw_word, 1UL, 1, 0x03), EINVAL);              /* a 64-bit word */
    /* futex_requeue: wake one, move one onto the other word, with the first word's value checked. */
    struct fw_waitv v[2] = { { 0, (uintptr_t)&fw_word, FW_U32_PRIVATE, 0 }, { 0, (uintptr_t)&fw_other, FW_U32_PRIVATE, 0 } };
    EXPECT_ERRNO(syscall(456, v, 1, 1, 1), EINVAL);                          /* flags */
    v[0].val = 9;
    EXPECT_ERRNO(syscall(456, v, 0, 1, 1), EAGAIN);
    v[0].val = 0; v[1].flags = 0x02;
    EXPECT_ERRNO(syscall(456, v, 0, 1, 1), EINVAL);                          /* entries' flags differ */
    v[1].flags = FW_U32_PRIVATE;
    EXPECT_EQ(syscall(456, v, 0, 1, 1), 2);
    EXPECT_EQ(syscall(454, &fw_word, 0xffffffffUL, 5, FW_U32_PRIVATE), 1);   /* one was left on the first word */
    EXPECT_EQ(syscall(454, &fw_other, 0xffffffffUL, 5, FW_U32_PRIVATE), 1);  /* the one moved */
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    /* futex_wait: the value, the mask, an absolute timeout. */
    EXPECT_ERRNO(syscall(455, &fw_word, 5UL, 0xffffffffUL, FW_U32_PRIVATE, NULL, 0), EAGAIN);
    struct timespec soon;
    clock_gettime(CLOCK_REALTIME, &soon);
    soon.tv_nsec += 20 * 1000 * 1000;
    if (soon.tv_nsec >= 1000000000) { soon.tv_sec++; soon.tv_nsec -= 1000000000; }
    EXPECT_ERRNO(syscall(455, &fw_word, 0UL, 0xffffffffUL, FW_U32_PRIVATE, &soon, CLOCK_REALTIME), ETIMEDOUT);
    EXPECT_ERRNO(syscall(455, &fw_word, 0UL, 0UL, FW_U32_PRIVATE, &soon, CLOCK_REALTIME), EINVAL);
    EXPECT_ERRNO(syscall(455, &fw_word, 1UL << 32, 1UL, FW_U32_PRIVATE, NULL, 0), EINVAL);
}

/* A thread made after others ended starts as a new thread does, whatever they left behind
 * (Joey's systrap platform runs it on a stub thread one of them used): its CPU clock near
 * zero, its creator's FPU control state and signal mask, its own TLS. */
static volatile int sink;
static void *burn_and_change(void *arg) {
    (void)arg;
    struct timespec t0, t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    do {
        for (int i = 0; i < 100000; i++) sink += i;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 60000000L);
    unsigned int mxcsr = 0x7f80; /* round toward zero, all exceptions masked */
    __asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
    unsigned short fcw = 0x0c7f; /* x87: round toward zero */
    __asm__ volatile("fldcw %0" : : "m"(fcw));
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    return NULL;
}
static __thread long tls_value = 7;
struct fresh { long cpu_ns; unsigned int mxcsr; unsigned short fcw; int usr2_blocked; long tls; };
static void *report_fresh(void *arg) {
    struct fresh *f = arg;
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    f->cpu_ns = t.tv_sec * 1000000000L + t.tv_nsec;
    __asm__ volatile("stmxcsr %0" : "=m"(f->mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(f->fcw));
    sigset_t s;
    pthread_sigmask(SIG_BLOCK, NULL, &s);
    f->usr2_blocked = sigismember(&s, SIGUSR2);
    f->tls = tls_value;
    tls_value = 99;
    return NULL;
}
CASE(a_thread_made_after_others_ended_starts_afresh) {
    unsigned int mxcsr;
    unsigned short fcw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fcw));
    for (int round = 0; round < 3; round++) {
        pthread_t t;
        EXPECT_EQ(pthread_create(&t, NULL, burn_and_change, NULL), 0);
        EXPECT_EQ(pthread_join(t, NULL), 0);
        struct fresh f = {0};
        EXPECT_EQ(pthread_create(&t, NULL, report_fresh, &f), 0);
        EXPECT_EQ(pthread_join(t, NULL), 0);
        EXPECT(f.cpu_ns < 30000000L); /* the other burned 60 ms */
        EXPECT_EQ(f.mxcsr, mxcsr);
        EXPECT_EQ(f.fcw, fcw);
        EXPECT_EQ(f.usr2_blocked, 0);
        EXPECT_EQ(f.tls, 7);
    }
}
