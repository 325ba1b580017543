// Joey's microbenchmarks: `micro NAME ITERATIONS` runs one operation ITERATIONS times after a
// short warm-up and prints `NAME <nanoseconds per operation>`. The same static binary runs
// natively, under Joey on each platform and under runsc, so every runner does the same work.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* Through libc's wrapper, as programs call it (`mov $39, %eax; syscall`: patched on systrap). */
static void op_getpid(long n) {
    for (long i = 0; i < n; i++) getpid();
}

/* Through syscall(2), whose `syscall` takes its number from a register: always trapped. */
static void op_getpid_syscall(long n) {
    for (long i = 0; i < n; i++) syscall(SYS_getpid);
}

/* Through libc, as programs call it: the vDSO where there is one. */
static void op_clock_gettime(long n) {
    struct timespec ts;
    for (long i = 0; i < n; i++) clock_gettime(CLOCK_MONOTONIC, &ts);
}

static const char *small_file;
static void op_open_read_close(long n) {
    char buf[256];
    for (long i = 0; i < n; i++) {
        int fd = open(small_file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) die("open");
        if (read(fd, buf, sizeof buf) < 0) die("read");
        close(fd);
    }
}

// A byte to a partner process and back through two pipes. The partner is forked during the
// warm-up call, so only round trips are timed.
static void op_pipe_pingpong(long n) {
    static int started, there[2], back[2];
    if (!started) {
        started = 1;
        if (pipe(there) || pipe(back)) die("pipe");
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) { // echoes until the parent exits (then its read sees EOF)
            close(there[1]);
            close(back[0]);
            char c;
            while (read(there[0], &c, 1) == 1 && write(back[1], &c, 1) == 1) {}
            _exit(0);
        }
        close(there[0]);
        close(back[1]);
    }
    char c = 'x';
    for (long i = 0; i < n; i++) {
        if (write(there[1], &c, 1) != 1 || read(back[0], &c, 1) != 1) die("pingpong");
    }
}

// The same ping-pong while 1,000 other threads sleep in read() on 1,000 other pipes: with
// per-object wait queues their presence costs nothing (a global broadcast would wake them all).
#define CROWD 1000
static int crowd_pipes[CROWD][2];
static int crowd_ready;
static void *crowd_member(void *arg) {
    char c;
    __atomic_add_fetch(&crowd_ready, 1, __ATOMIC_RELEASE);
    return (void *)(long)read(*(int *)arg, &c, 1);
}
static void op_pipe_pingpong_crowded(long n) {
    static int started;
    if (!started) { // during the warm-up call, so it is not timed
        started = 1;
        struct rlimit nofile;
        getrlimit(RLIMIT_NOFILE, &nofile);
        nofile.rlim_cur = nofile.rlim_max; // 2,000 pipe ends
        setrlimit(RLIMIT_NOFILE, &nofile);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 64 << 10);
        for (int i = 0; i < CROWD; i++) {
            pthread_t t;
            if (pipe(crowd_pipes[i])) die("pipe");
            if (pthread_create(&t, &attr, crowd_member, &crowd_pipes[i][0]) != 0) die("pthread_create");
        }
        // Every member runs, then a moment for the last ones to reach read() and sleep.
        while (__atomic_load_n(&crowd_ready, __ATOMIC_ACQUIRE) < CROWD) usleep(10000);
        usleep(500000);
    }
    op_pipe_pingpong(n);
}

// A byte to a partner process and back over a unix stream socket pair.
static void op_unix_pingpong(long n) {
    static int started, sv[2];
    if (!started) {
        started = 1;
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) die("socketpair");
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            close(sv[0]);
            char c;
            while (read(sv[1], &c, 1) == 1 && write(sv[1], &c, 1) == 1) {}
            _exit(0);
        }
        close(sv[1]);
    }
    char c = 'x';
    for (long i = 0; i < n; i++) {
        if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1) die("unix ping-pong");
    }
}

// A connected loopback TCP pair: the parent's end, with a forked partner at the other.
// mode 0: the partner echoes single bytes; mode 1: it reads and discards until EOF.
static int tcp_pair(int mode) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &len)) die("tcp listen");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        int c = accept(l, NULL, NULL);
        if (c < 0) die("accept");
        static char buf[1 << 16];
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (mode == 0) { while (read(c, buf, 1) == 1 && write(c, buf, 1) == 1) {} }
        else { while (read(c, buf, sizeof buf) > 0) {} }
        _exit(0);
    }
    close(l);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) die("tcp connect");
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return s;
}

static void op_tcp_pingpong(long n) {
    static int s = -1;
    if (s < 0) s = tcp_pair(0);
    char c = 'x';
    for (long i = 0; i < n; i++) {
        if (write(s, &c, 1) != 1 || read(s, &c, 1) != 1) die("tcp ping-pong");
    }
}

// 64 KiB writes into a loopback TCP connection whose partner drains it: time per 64 KiB.
static void op_tcp_64k(long n) {
    static int s = -1;
    static char buf[1 << 16];
    if (s < 0) s = tcp_pair(1);
    for (long i = 0; i < n; i++) {
        size_t done = 0;
        while (done < sizeof buf) {
            ssize_t w = write(s, buf + done, sizeof buf - done);
            if (w <= 0) die("tcp write");
            done += (size_t)w;
        }
    }
}

// Two processes calling getpid at once: the same ratio for a call that does almost nothing
// in the kernel, so it separates the platform's handoff from the kernel's locking.
static void op_getpid_2_processes(long n) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) { op_getpid(n); _exit(0); }
    op_getpid(n);
    waitpid(pid, NULL, 0);
}

// open/read/close held to one CPU (the first this process may use), as each of the two
// processes below gets one when both run: the ratio of open-read-close-2-processes to this
// is how the kernel scales with a second process, apart from what a lone process gains by
// spreading its own work over two CPUs (on systrap its stub thread and sentry thread spin on
// one each).
static void op_open_read_close_1_cpu(long n) {
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed)) die("sched_getaffinity");
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (CPU_ISSET(c, &allowed)) { CPU_SET(c, &one); break; }
    }
    if (sched_setaffinity(0, sizeof one, &one)) die("sched_setaffinity");
    op_open_read_close(n);
}

// Two processes doing open/read/close at once; the time is per operation over both, so the
// ratio to open-read-close is how much a second core adds.
static void op_open_read_close_2_processes(long n) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) { op_open_read_close(n); _exit(0); }
    op_open_read_close(n);
    waitpid(pid, NULL, 0);
}

/* getpid in a loop until child `pid` exits: the calls made meanwhile are the operations. */
static long ops_done = -1;
/* The time of the operations when an op times them itself (not its setup): -1 otherwise. */
static long timed_ns = -1;
static void getpid_until_exit(pid_t pid) {
    long calls = 0;
    do {
        for (int i = 0; i < 64; i++) syscall(SYS_getpid);
        calls += 64;
    } while (waitpid(pid, NULL, WNOHANG) == 0);
    ops_done = calls > 0 ? calls : 1;
}

/* getpid while a second process reads a large file in 1 MiB pieces (run.py passes the
 * workloads' 200 MB file, evicted from the host's page cache first): what a reader waiting
 * for the disk costs the rest of the sandbox. Times the calls made while the reader runs. */
static void op_getpid_beside_disk_reader(long n) {
    (void)n;
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        static char buf[1 << 20];
        int fd = open(small_file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) die("open");
        while (read(fd, buf, sizeof buf) > 0) {}
        _exit(0);
    }
    getpid_until_exit(pid);
}

/* getpid in one thread while another thread of the process changes a mapping's protection
 * in a loop (a JIT or a garbage collector does much of that): what a thread busy with its
 * address space costs its siblings. */
static volatile int protect_stop;
static void *protect_loop(void *arg) {
    char *p = arg;
    for (long i = 0; !protect_stop; i++)
        if (mprotect(p, 16 * 4096, (i & 1) ? PROT_READ : PROT_READ | PROT_WRITE) != 0) die("mprotect");
    return NULL;
}
static void op_getpid_beside_mprotect_loop(long n) {
    char *p = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap");
    for (long i = 0; i < n; i++) syscall(SYS_getpid); /* a thread that has been running */
    protect_stop = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, protect_loop, p) != 0) die("pthread_create");
    usleep(10000); /* the loop runs alone first, as the busy thread of a process would */
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) syscall(SYS_getpid);
    timed_ns = (long)(now_ns() - t0);
    protect_stop = 1;
    pthread_join(t, NULL);
    munmap(p, 16 * 4096);
}

/* getpid while a second process writes 1 GiB into /tmp (the sandbox's own tmpfs) in 64 MiB
 * writes: what one large copy costs the rest of the sandbox. Times the calls made meanwhile. */
static void op_getpid_beside_large_writes(long n) {
    (void)n;
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        const size_t len = 64 << 20;
        char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf == MAP_FAILED) die("mmap");
        memset(buf, 'w', len);
        char path[64];
        snprintf(path, sizeof path, "/tmp/joey-bench-writes.%d", (int)getpid());
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) die("open");
        unlink(path);
        for (int i = 0; i < 16; i++)
            if (write(fd, buf, len) != (ssize_t)len) die("write");
        _exit(0);
    }
    getpid_until_exit(pid);
}

static void op_fork_exit_wait(long n) {
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) _exit(0);
        if (waitpid(pid, NULL, 0) != pid) die("waitpid");
    }
}

/* fork of a process with 8 MiB of private memory touched: what copying (or sharing) it costs. */
static void op_fork_8MiB_exit_wait(long n) {
    const size_t len = 8 << 20;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap");
    for (size_t o = 0; o < len; o += 4096) p[o] = 1;
    op_fork_exit_wait(n);
    munmap(p, len);
}

static void op_mmap_touch_munmap(long n) {
    const size_t len = 1 << 20;
    for (long i = 0; i < n; i++) {
        char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) die("mmap");
        for (size_t o = 0; o < len; o += 4096) p[o] = 1;
        munmap(p, len);
    }
}

static void *nothing(void *arg) { return arg; }
static void op_thread_create_join(long n) {
    for (long i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) != 0) die("pthread_create");
        pthread_join(t, NULL);
    }
}

// Two threads hand a token back and forth through one futex word.
static uint32_t token;
static long pingpong_rounds;
static void futex_wait(uint32_t *w, uint32_t v) { syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0); }
static void futex_wake(uint32_t *w) { syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }
static void *futex_partner(void *arg) {
    (void)arg;
    for (long i = 0; i < pingpong_rounds; i++) {
        while (__atomic_load_n(&token, __ATOMIC_ACQUIRE) != 1) futex_wait(&token, 0);
        __atomic_store_n(&token, 0, __ATOMIC_RELEASE);
        futex_wake(&token);
    }
    return NULL;
}
static void op_futex_pingpong(long n) {
    pingpong_rounds = n;
    token = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, futex_partner, NULL) != 0) die("pthread_create");
    for (long i = 0; i < n; i++) {
        __atomic_store_n(&token, 1, __ATOMIC_RELEASE);
        futex_wake(&token);
        while (__atomic_load_n(&token, __ATOMIC_ACQUIRE) != 0) futex_wait(&token, 1);
    }
    pthread_join(t, NULL);
}

// execve: the binary re-executes itself n times; the last one prints the time per execve.
static int exec_chain(char **argv) {
    long left = atol(argv[2]);
    uint64_t start = strtoull(argv[3], NULL, 10);
    long total = atol(argv[4]);
    if (left <= 0) {
        printf("execve %.0f\n", (double)(now_ns() - start) / (double)total);
        return 0;
    }
    char l[32];
    snprintf(l, sizeof l, "%ld", left - 1);
    char *args[] = { argv[0], "exec-chain", l, argv[3], argv[4], NULL };
    execve(argv[0], args, (char *[]){ NULL });
    die("execve");
    return 1;
}

struct bench { const char *name; void (*op)(long); };
static const struct bench benches[] = {
    { "getpid", op_getpid },
    { "getpid-syscall", op_getpid_syscall },
    { "clock_gettime", op_clock_gettime },
    { "open-read-close", op_open_read_close },
    { "pipe-pingpong", op_pipe_pingpong },
    { "pipe-pingpong-1000-blocked", op_pipe_pingpong_crowded },
    { "open-read-close-1-cpu", op_open_read_close_1_cpu },
    { "open-read-close-2-processes", op_open_read_close_2_processes },
    { "getpid-2-processes", op_getpid_2_processes },
    { "getpid-beside-disk-reader", op_getpid_beside_disk_reader },
    { "getpid-beside-large-writes", op_getpid_beside_large_writes },
    { "getpid-beside-mprotect-loop", op_getpid_beside_mprotect_loop },
    { "unix-socket-pingpong", op_unix_pingpong },
    { "tcp-loopback-pingpong", op_tcp_pingpong },
    { "tcp-loopback-64KiB-write", op_tcp_64k },
    { "fork-exit-wait", op_fork_exit_wait },
    { "fork-8MiB-touched-exit-wait", op_fork_8MiB_exit_wait },
    { "mmap-touch-munmap-1MiB", op_mmap_touch_munmap },
    { "thread-create-join", op_thread_create_join },
    { "futex-pingpong", op_futex_pingpong },
};

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "exec-chain") == 0) return exec_chain(argv);
    if (argc < 3) {
        fprintf(stderr, "usage: micro NAME ITERATIONS [SMALL_FILE]\n");
        return 2;
    }
    const char *name = argv[1];
    long n = atol(argv[2]);
    small_file = argc > 3 ? argv[3] : "/etc/hostname";
    if (n <= 0) return 2;
    if (strcmp(name, "execve") == 0) {
        char start[32], count[32];
        snprintf(start, sizeof start, "%llu", (unsigned long long)now_ns());
        snprintf(count, sizeof count, "%ld", n);
        char *args[] = { argv[0], "exec-chain", count, start, count, NULL };
        execve(argv[0], args, (char *[]){ NULL });
        die("execve");
    }
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
        if (strcmp(benches[i].name, name) != 0) continue;
        benches[i].op(n / 10 > 0 ? n / 10 : 1); // warm-up
        uint64_t t0 = now_ns();
        benches[i].op(n);
        uint64_t t1 = now_ns();
        long ops = benches[i].op == op_open_read_close_2_processes || benches[i].op == op_getpid_2_processes ? 2 * n : n;
        if (ops_done >= 0) ops = ops_done;
        double ns = timed_ns >= 0 ? (double)timed_ns : (double)(t1 - t0);
        printf("%s %.0f\n", name, ns / (double)ops);
        return 0;
    }
    fprintf(stderr, "micro: unknown benchmark %s\n", name);
    return 2;
}
