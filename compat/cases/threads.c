/* Threads and futexes: what pthreads rely on, checked against Linux. */
#include "../compat.h"
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
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

CASE(set_robust_list_bad_length_is_einval) {
    EXPECT_ERRNO(syscall(SYS_set_robust_list, NULL, 7), EINVAL);
}

COMPAT_MAIN()
