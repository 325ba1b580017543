/* Memory across fork: each process sees its own private memory whatever the other writes,
 * through stores, system calls that write memory (read, pread), MADV_DONTNEED, munmap,
 * mprotect and mremap; shared memory stays shared; a futex word in private memory is the
 * process's own; other threads of a forking process cannot change the child's memory. */
#include "../compat.h"
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#define BIG (8 << 20)

static void fill(unsigned char *p, size_t n, unsigned char seed) {
    for (size_t i = 0; i < n; i += 512) p[i] = (unsigned char)(seed + i / 512);
}
static int check(const unsigned char *p, size_t n, unsigned char seed) {
    for (size_t i = 0; i < n; i += 512)
        if (p[i] != (unsigned char)(seed + i / 512)) return 0;
    return 1;
}

/* The child's exit status: 0 when `fn` returned 0. */
static int in_child(int (*fn)(void *), void *arg) {
    pid_t pid = fork();
    if (pid < 0) compat_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) _exit(fn(arg));
    int status;
    if (waitpid(pid, &status, 0) != pid) compat_fail(__FILE__, __LINE__, "waitpid: %s", strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* 8 MiB of private memory filled from `seed`; `fn` runs on it in a child; the parent's copy
 * must still hold what it held. */
static void expect_parent_unchanged(int (*fn)(void *), unsigned char seed) {
    unsigned char *p = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    fill(p, BIG, seed);
    EXPECT_EQ(in_child(fn, p), 0);
    EXPECT(check(p, BIG, seed));
    munmap(p, BIG);
}

static int child_sees_then_overwrites(void *arg) {
    unsigned char *p = arg;
    if (!check(p, BIG, 1)) return 1;
    fill(p, BIG, 2);
    return check(p, BIG, 2) ? 0 : 2;
}

CASE(fork_child_writes_do_not_reach_the_parent) { expect_parent_unchanged(child_sees_then_overwrites, 1); }

/* The parent writes after fork; the child, still running, must not see it. */
CASE(fork_parent_writes_do_not_reach_the_child) {
    unsigned char *p = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    fill(p, BIG, 1);
    int go[2], done[2];
    EXPECT_OK(pipe(go));
    EXPECT_OK(pipe(done));
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        if (read(go[0], &c, 1) != 1) _exit(3);
        _exit(check(p, BIG, 1) ? 0 : 1);
    }
    fill(p, BIG, 7);
    EXPECT_EQ(write(go[1], "x", 1), 1);
    int status;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT(check(p, BIG, 7));
}

static int child_reads_into(void *arg) {
    char *buf = arg;
    int fd = open("/proc/self/comm", O_RDONLY);
    if (fd < 0) return 1;
    ssize_t n = read(fd, buf, 64);
    close(fd);
    return n > 0 && buf[0] != 'P' ? 0 : 2;
}

/* A system call writing into memory the parent shares writes the child's own copy. */
CASE(fork_child_read_into_shared_page_is_its_own) {
    static char buf[4096] __attribute__((aligned(4096)));
    memset(buf, 'P', sizeof buf);
    EXPECT_EQ(in_child(child_reads_into, buf), 0);
    for (size_t i = 0; i < sizeof buf; i++) EXPECT(buf[i] == 'P');
}

static int child_dontneed(void *arg) {
    unsigned char *p = arg;
    if (madvise(p, BIG, MADV_DONTNEED) != 0) return 1;
    for (size_t i = 0; i < BIG; i += 4096) if (p[i] != 0) return 2;
    return 0;
}

CASE(fork_child_madv_dontneed_leaves_the_parent_alone) { expect_parent_unchanged(child_dontneed, 3); }

static int child_unmaps_and_remaps(void *arg) {
    unsigned char *p = arg;
    if (munmap(p + BIG / 2, BIG / 2) != 0) return 1;
    if (mprotect(p, BIG / 2, PROT_READ) != 0) return 2;
    if (mprotect(p, BIG / 2, PROT_READ | PROT_WRITE) != 0) return 3;
    if (!check(p, BIG / 2, 4)) return 4;
    p[0] = 99;
    unsigned char *q = mremap(p, BIG / 2, BIG, MREMAP_MAYMOVE);
    if (q == MAP_FAILED) return 5;
    if (q[0] != 99 || q[512] != (unsigned char)(4 + 1)) return 6;
    q[BIG - 1] = 1;
    return 0;
}

CASE(fork_child_munmap_mprotect_mremap_leave_the_parent_alone) { expect_parent_unchanged(child_unmaps_and_remaps, 4); }

static int child_writes_shared(void *arg) {
    unsigned char *p = arg;
    fill(p, 1 << 20, 5);
    return 0;
}

CASE(fork_shared_anonymous_memory_stays_shared) {
    unsigned char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    memset(p, 0, 1 << 20);
    EXPECT_EQ(in_child(child_writes_shared, p), 0);
    EXPECT(check(p, 1 << 20, 5));
}

/* Shared memory moved by mremap in one process is still shared with the other. */
CASE(fork_shared_anonymous_memory_stays_shared_after_mremap) {
    size_t len = 1 << 20;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    unsigned char *target = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED && target != MAP_FAILED);
    memset(p, 0, len);
    int go[2];
    EXPECT_OK(pipe(go));
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        if (read(go[0], &c, 1) != 1) _exit(3);
        fill(p, len, 6);
        _exit(0);
    }
    unsigned char *q = mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    EXPECT(q == target);
    EXPECT_EQ(write(go[1], "x", 1), 1);
    int status;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT(check(q, len, 6));
}

static volatile int stop_counting;
static void *count_forever(void *arg) {
    volatile unsigned long *counter = arg;
    while (!stop_counting) (*counter)++;
    return NULL;
}

static int child_counter_is_still(void *arg) {
    volatile unsigned long *counter = arg;
    unsigned long first = *counter;
    struct timespec d = {0, 20000000};
    nanosleep(&d, NULL);
    return *counter == first ? 0 : 1;
}

/* Another thread of the parent keeps storing while it forks: the child's copy is still. */
CASE(fork_other_threads_stores_do_not_reach_the_child) {
    static volatile unsigned long counter __attribute__((aligned(4096)));
    pthread_t t;
    stop_counting = 0;
    EXPECT_EQ(pthread_create(&t, NULL, count_forever, (void *)&counter), 0);
    while (counter == 0) sched_yield();
    int status = in_child(child_counter_is_still, (void *)&counter);
    stop_counting = 1;
    EXPECT_EQ(pthread_join(t, NULL), 0);
    EXPECT_EQ(status, 0);
    EXPECT(counter > 0);
}

static int futex_word __attribute__((aligned(4096)));
static int child_wakes_its_own_word(void *arg) {
    (void)arg;
    /* The parent waits on the same address: this wakes nobody in this process. */
    return syscall(SYS_futex, &futex_word, FUTEX_WAKE, 1, NULL, NULL, 0) == 0 ? 0 : 1;
}

static void *wait_on_word(void *arg) {
    (void)arg;
    struct timespec t = {0, 300000000};
    long r = syscall(SYS_futex, &futex_word, FUTEX_WAIT, 0, &t, NULL, 0);
    return (void *)(long)(r == -1 ? errno : 0);
}

/* A FUTEX_WAKE in the child on an address of private memory does not wake the parent. */
CASE(fork_private_futex_words_are_per_process) {
    futex_word = 0;
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, wait_on_word, NULL), 0);
    struct timespec d = {0, 50000000};
    nanosleep(&d, NULL);
    EXPECT_EQ(in_child(child_wakes_its_own_word, NULL), 0);
    void *r;
    EXPECT_EQ(pthread_join(t, &r), 0);
    EXPECT_EQ((long)r, ETIMEDOUT);
}

/* A waiter wakes when its sibling writes the word (breaking sharing after a fork) and wakes it. */
CASE(fork_then_futex_wake_after_write_reaches_the_waiter) {
    futex_word = 0;
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    EXPECT_EQ(waitpid(pid, NULL, 0), pid);
    pid = fork(); /* a child alive while the parent's threads use the word */
    if (pid == 0) { struct timespec d = {0, 200000000}; nanosleep(&d, NULL); _exit(0); }
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, wait_on_word, NULL), 0);
    struct timespec d = {0, 50000000};
    nanosleep(&d, NULL);
    __atomic_store_n(&futex_word, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &futex_word, FUTEX_WAKE, 1, NULL, NULL, 0);
    void *r;
    EXPECT_EQ(pthread_join(t, &r), 0);
    EXPECT((long)r == 0 || (long)r == EAGAIN);
    EXPECT_EQ(waitpid(pid, NULL, 0), pid);
}

COMPAT_MAIN()
