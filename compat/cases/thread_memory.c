/* Threads share one address space: a mapping change one thread makes is in force for the
 * others as soon as the call returns (munmap, mprotect), memory one maps the others use at
 * once, many threads live at the same time, and threads that map and unmap while their
 * process forks keep their data. */
#include "../compat.h"
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <sys/mman.h>

static _Thread_local sigjmp_buf fault_jump;
static void on_fault(int sig) { (void)sig; siglongjmp(fault_jump, 1); }

/* 1 when reading (or writing) `p` faults in the calling thread. */
static int faults(volatile unsigned char *p, int write) {
    if (sigsetjmp(fault_jump, 1)) return 1;
    if (write) *p = 1; else (void)*p;
    return 0;
}

struct probe {
    volatile unsigned char *page;
    int write;
    atomic_int step; /* 1: the thread touched the page once; 2: the main thread changed it */
    int faulted_before, faulted_after;
};

static void *prober(void *arg) {
    struct probe *pr = arg;
    pr->faulted_before = faults(pr->page, pr->write);
    atomic_store(&pr->step, 1);
    while (atomic_load(&pr->step) != 2) {}
    pr->faulted_after = faults(pr->page, pr->write);
    return NULL;
}

/* Another thread touches a page, then this one changes it with `change`, then the other
 * touches it again: the change must be in force for it. */
static void expect_change_seen_by_other_thread(int write, int (*change)(void *)) {
    struct sigaction sa = { .sa_handler = on_fault, .sa_flags = SA_NODEFER };
    sigaction(SIGSEGV, &sa, NULL);
    unsigned char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    p[0] = 7;
    struct probe pr = { .page = p, .write = write };
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, prober, &pr), 0);
    while (atomic_load(&pr.step) != 1) {}
    EXPECT_EQ(change(p), 0);
    atomic_store(&pr.step, 2);
    pthread_join(t, NULL);
    EXPECT_EQ(pr.faulted_before, 0);
    EXPECT_EQ(pr.faulted_after, 1);
}

static int unmap_page(void *p) { return munmap(p, 4096); }
static int read_only_page(void *p) { return mprotect(p, 4096, PROT_READ); }

CASE(threads_munmap_in_one_thread_is_in_force_for_another) { expect_change_seen_by_other_thread(0, unmap_page); }
CASE(threads_mprotect_in_one_thread_is_in_force_for_another) { expect_change_seen_by_other_thread(1, read_only_page); }

static unsigned char *volatile shared_page;
static atomic_int mapped;
static void *mapper(void *arg) {
    (void)arg;
    unsigned char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return (void *)1;
    memset(p, 0x5a, 1 << 20);
    shared_page = p;
    atomic_store(&mapped, 1);
    return NULL;
}

CASE(threads_use_memory_another_thread_mapped_at_once) {
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, mapper, NULL), 0);
    while (!atomic_load(&mapped)) {}
    for (size_t i = 0; i < (1 << 20); i += 4096) EXPECT_EQ(shared_page[i], 0x5a);
    shared_page[4096] = 1;
    void *r;
    pthread_join(t, &r);
    EXPECT(r == NULL);
    EXPECT_EQ(munmap(shared_page, 1 << 20), 0);
}

#define MANY 1100
static pthread_barrier_t many_barrier;
static void *wait_for_all(void *arg) { (void)arg; pthread_barrier_wait(&many_barrier); return NULL; }

CASE(threads_more_than_a_thousand_at_once) {
    static pthread_t t[MANY];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 << 10);
    EXPECT_EQ(pthread_barrier_init(&many_barrier, NULL, MANY + 1), 0);
    for (int i = 0; i < MANY; i++) EXPECT_EQ(pthread_create(&t[i], &attr, wait_for_all, NULL), 0);
    pthread_barrier_wait(&many_barrier);
    for (int i = 0; i < MANY; i++) EXPECT_EQ(pthread_join(t[i], NULL), 0);
}

static atomic_int stop_churn;
static void *churn(void *arg) {
    long seed = (long)arg;
    while (!atomic_load(&stop_churn)) {
        unsigned char *p = mmap(NULL, 64 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return (void *)1;
        memset(p, (int)seed, 64 << 10);
        if (mprotect(p, 4096, PROT_READ) != 0) return (void *)2;
        for (size_t i = 0; i < (64 << 10); i += 512)
            if (p[i] != (unsigned char)seed) return (void *)3;
        if (munmap(p, 64 << 10) != 0) return (void *)4;
        seed++;
    }
    return NULL;
}

CASE(threads_map_and_unmap_while_their_process_forks) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++) EXPECT_EQ(pthread_create(&t[i], NULL, churn, (void *)(i * 50)), 0);
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        EXPECT(pid >= 0);
        if (pid == 0) _exit(0);
        int status;
        EXPECT_EQ(waitpid(pid, &status, 0), pid);
        EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    atomic_store(&stop_churn, 1);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        EXPECT(r == NULL);
    }
}

COMPAT_MAIN()
