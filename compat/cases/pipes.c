/* Pipes, FIFOs and readiness: pipe/pipe2, poll, select, ppoll, pselect, epoll, eventfd. */
#include "../compat.h"
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

static volatile sig_atomic_t hits;
static void count_handler(int sig) { (void)sig; hits++; }


static int64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void make_pipe(int p[2], int flags) {
    if (pipe2(p, flags) != 0) compat_fail(__FILE__, __LINE__, "pipe2: %s", strerror(errno));
}

/* Read exactly n bytes (a pipe may return less per call). */
static ssize_t read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return got ? (ssize_t)got : r;
        got += r;
    }
    return got;
}

/* ---- pipe and pipe2 ---- */

CASE(pipe_gives_read_and_write_ends) {
    int p[2] = {-1, -1};
    EXPECT_OK(pipe(p));
    EXPECT(p[0] >= 0 && p[1] >= 0 && p[0] != p[1]);
    EXPECT_EQ(fcntl(p[0], F_GETFL) & O_ACCMODE, O_RDONLY);
    EXPECT_EQ(fcntl(p[1], F_GETFL) & O_ACCMODE, O_WRONLY);
    EXPECT_EQ(fcntl(p[0], F_GETFD) & FD_CLOEXEC, 0);
    struct stat st;
    EXPECT_OK(fstat(p[0], &st));
    EXPECT(S_ISFIFO(st.st_mode));
}

CASE(pipe2_o_cloexec_sets_fd_cloexec) {
    int p[2];
    EXPECT_OK(pipe2(p, O_CLOEXEC));
    EXPECT(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
    EXPECT(fcntl(p[1], F_GETFD) & FD_CLOEXEC);
    EXPECT(!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
}

CASE(pipe2_o_nonblock_sets_both_ends) {
    int p[2];
    EXPECT_OK(pipe2(p, O_NONBLOCK));
    EXPECT(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    EXPECT(fcntl(p[1], F_GETFL) & O_NONBLOCK);
    EXPECT(!(fcntl(p[0], F_GETFD) & FD_CLOEXEC));
}

CASE(pipe2_bad_flags_is_einval) {
    int p[2];
    EXPECT_ERRNO(pipe2(p, O_APPEND), EINVAL);
    EXPECT_ERRNO(pipe2(p, O_RDWR), EINVAL);
}

CASE(pipe_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_pipe2, (void *)1, 0), EFAULT);
    EXPECT_ERRNO(syscall(SYS_pipe, (void *)1), EFAULT);
}

CASE(pipe_data_round_trip) {
    int p[2];
    make_pipe(p, 0);
    EXPECT_EQ(write(p[1], "hello, pipe", 11), 11);
    char buf[32] = {0};
    EXPECT_EQ(read(p[0], buf, sizeof buf), 11);
    EXPECT_STREQ(buf, "hello, pipe");
}

CASE(pipe_preserves_order_across_writes) {
    int p[2];
    make_pipe(p, 0);
    EXPECT_EQ(write(p[1], "abc", 3), 3);
    EXPECT_EQ(write(p[1], "def", 3), 3);
    char buf[8] = {0};
    EXPECT_EQ(read(p[0], buf, 2), 2);
    EXPECT_STREQ(buf, "ab");
    memset(buf, 0, sizeof buf);
    EXPECT_EQ(read_full(p[0], buf, 4), 4);
    EXPECT_STREQ(buf, "cdef");
}

CASE(pipe_read_gives_eof_after_writer_closes) {
    int p[2];
    make_pipe(p, 0);
    EXPECT_EQ(write(p[1], "xyz", 3), 3);
    EXPECT_OK(close(p[1]));
    char buf[8];
    EXPECT_EQ(read(p[0], buf, sizeof buf), 3); /* data first */
    EXPECT_EQ(read(p[0], buf, sizeof buf), 0); /* then end of file */
    EXPECT_EQ(read(p[0], buf, sizeof buf), 0);
}

CASE(pipe_read_blocks_until_child_writes) {
    int p[2];
    make_pipe(p, 0);
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) {
        sleep_ms(50);
        ssize_t w = write(p[1], "late", 4);
        _exit(w == 4 ? 0 : 1);
    }
    char buf[8] = {0};
    EXPECT_EQ(read(p[0], buf, sizeof buf), 4);
    EXPECT_STREQ(buf, "late");
    waitpid(pid, NULL, 0);
}

CASE(nonblocking_read_of_empty_pipe_is_eagain) {
    int p[2];
    make_pipe(p, O_NONBLOCK);
    char c;
    EXPECT_ERRNO(read(p[0], &c, 1), EAGAIN);
}

CASE(nonblocking_write_to_full_pipe_is_eagain) {
    int p[2];
    make_pipe(p, O_NONBLOCK);
    int size = fcntl(p[1], F_GETPIPE_SZ);
    EXPECT(size >= PIPE_BUF);
    static char chunk[4096];
    long total = 0;
    for (;;) {
        ssize_t w = write(p[1], chunk, sizeof chunk);
        if (w < 0) { EXPECT_EQ(errno, EAGAIN); break; }
        total += w;
        EXPECT(total <= 16L * 1024 * 1024);
    }
    EXPECT_EQ(total, size);
    EXPECT_ERRNO(write(p[1], "x", 1), EAGAIN);
    /* Draining makes room again. */
    EXPECT_EQ(read(p[0], chunk, sizeof chunk), (long)sizeof chunk);
    EXPECT_EQ(write(p[1], "x", 1), 1);
}

CASE(nonblocking_write_of_pipe_buf_is_all_or_nothing) {
    int p[2];
    make_pipe(p, O_NONBLOCK);
    int size = fcntl(p[1], F_GETPIPE_SZ);
    EXPECT(size >= 2 * PIPE_BUF);
    char *buf = calloc(1, size);
    /* Leave 100 bytes of room: too little for a PIPE_BUF-sized write. */
    EXPECT_EQ(write(p[1], buf, size - 100), size - 100);
    EXPECT_ERRNO(write(p[1], buf, PIPE_BUF), EAGAIN);
    int avail = -1;
    EXPECT_OK(ioctl(p[0], FIONREAD, &avail));
    EXPECT_EQ(avail, size - 100); /* nothing of it went in */
}

CASE(pipe_buf_writes_are_not_interleaved) {
    int p[2];
    make_pipe(p, 0);
    enum { WRITERS = 2, RECORDS = 64 };
    pid_t kids[WRITERS];
    for (int k = 0; k < WRITERS; k++) {
        kids[k] = fork();
        EXPECT(kids[k] >= 0);
        if (kids[k] == 0) {
            close(p[0]);
            char rec[PIPE_BUF];
            memset(rec, 'A' + k, sizeof rec);
            for (int i = 0; i < RECORDS; i++)
                if (write(p[1], rec, sizeof rec) != (ssize_t)sizeof rec) _exit(1);
            _exit(0);
        }
    }
    close(p[1]);
    char rec[PIPE_BUF];
    int count[WRITERS] = {0};
    for (;;) {
        ssize_t n = read_full(p[0], rec, sizeof rec);
        if (n == 0) break;
        EXPECT_EQ(n, PIPE_BUF);
        for (int i = 1; i < PIPE_BUF; i++)
            if (rec[i] != rec[0]) compat_fail(__FILE__, __LINE__, "record mixes '%c' and '%c' at %d", rec[0], rec[i], i);
        EXPECT(rec[0] == 'A' || rec[0] == 'B');
        count[rec[0] - 'A']++;
    }
    EXPECT_EQ(count[0], RECORDS);
    EXPECT_EQ(count[1], RECORDS);
    for (int k = 0; k < WRITERS; k++) waitpid(kids[k], NULL, 0);
}

CASE(fionread_reports_bytes_available) {
    int p[2];
    make_pipe(p, 0);
    int n = -1;
    EXPECT_OK(ioctl(p[0], FIONREAD, &n));
    EXPECT_EQ(n, 0);
    EXPECT_EQ(write(p[1], "12345", 5), 5);
    EXPECT_OK(ioctl(p[0], FIONREAD, &n));
    EXPECT_EQ(n, 5);
    char b[2];
    EXPECT_EQ(read(p[0], b, 2), 2);
    EXPECT_OK(ioctl(p[0], FIONREAD, &n));
    EXPECT_EQ(n, 3);
}

CASE(f_getpipe_sz_and_f_setpipe_sz) {
    int p[2];
    make_pipe(p, 0);
    long pg = sysconf(_SC_PAGESIZE);
    int size = fcntl(p[0], F_GETPIPE_SZ);
    EXPECT(size >= pg);
    EXPECT_EQ(fcntl(p[1], F_GETPIPE_SZ), size); /* both ends share the buffer */
    /* Sizes are rounded up to a power-of-two number of pages. */
    int got = fcntl(p[1], F_SETPIPE_SZ, (int)(pg + 1));
    EXPECT_EQ(got, 2 * pg);
    EXPECT_EQ(fcntl(p[0], F_GETPIPE_SZ), 2 * pg);
}

CASE(f_setpipe_sz_below_contents_is_ebusy) {
    int p[2];
    make_pipe(p, 0);
    long pg = sysconf(_SC_PAGESIZE);
    char *buf = calloc(1, 2 * pg);
    EXPECT_EQ(write(p[1], buf, 2 * pg), 2 * pg);
    EXPECT_ERRNO(fcntl(p[1], F_SETPIPE_SZ, (int)pg), EBUSY);
}

/* ---- poll ---- */

CASE(poll_pipe_pollin_when_data) {
    int p[2];
    make_pipe(p, 0);
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    EXPECT_EQ(poll(&pf, 1, 0), 0);
    EXPECT_EQ(pf.revents, 0);
    EXPECT_EQ(write(p[1], "x", 1), 1);
    EXPECT_EQ(poll(&pf, 1, 0), 1);
    EXPECT_EQ(pf.revents, POLLIN);
}

CASE(poll_pipe_pollhup_after_writer_closes) {
    int p[2];
    make_pipe(p, 0);
    EXPECT_OK(close(p[1]));
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    EXPECT_EQ(poll(&pf, 1, 1000), 1);
    EXPECT(pf.revents & POLLHUP);
    EXPECT(!(pf.revents & POLLIN)); /* nothing left to read */
}

CASE(poll_pipe_writer_has_pollout) {
    int p[2];
    make_pipe(p, 0);
    struct pollfd pf = {.fd = p[1], .events = POLLOUT | POLLIN};
    EXPECT_EQ(poll(&pf, 1, 0), 1);
    EXPECT_EQ(pf.revents, POLLOUT);
}

CASE(poll_pipe_writer_pollerr_after_reader_closes) {
    int p[2];
    make_pipe(p, 0);
    EXPECT_OK(close(p[0]));
    struct pollfd pf = {.fd = p[1], .events = POLLOUT};
    EXPECT_EQ(poll(&pf, 1, 0), 1);
    EXPECT(pf.revents & POLLERR);
}

CASE(poll_bad_fd_is_pollnval) {
    int p[2];
    make_pipe(p, 0);
    int fd = dup(p[0]);
    EXPECT(fd >= 0);
    EXPECT_OK(close(fd));
    struct pollfd pf[2] = {{.fd = fd, .events = POLLIN}, {.fd = -1, .events = POLLIN}};
    EXPECT_EQ(poll(pf, 2, 0), 1);
    EXPECT_EQ(pf[0].revents, POLLNVAL);
    EXPECT_EQ(pf[1].revents, 0); /* negative fds are skipped */
}

CASE(poll_timeout_elapses_with_zero) {
    int p[2];
    make_pipe(p, 0);
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    int64_t t0 = now_ms();
    EXPECT_EQ(poll(&pf, 1, 60), 0);
    EXPECT(now_ms() - t0 >= 55);
    EXPECT_EQ(pf.revents, 0);
}

CASE(poll_wakes_when_child_writes) {
    int p[2];
    make_pipe(p, 0);
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) {
        sleep_ms(50);
        ssize_t w = write(p[1], "x", 1);
        _exit(w == 1 ? 0 : 1);
    }
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    EXPECT_EQ(poll(&pf, 1, 5000), 1);
    EXPECT(pf.revents & POLLIN);
    waitpid(pid, NULL, 0);
}

/* ---- select ---- */

CASE(select_reports_readable_pipe) {
    int p[2];
    make_pipe(p, 0);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timeval tv = {0, 0};
    EXPECT_EQ(select(p[0] + 1, &r, NULL, NULL, &tv), 0);
    EXPECT(!FD_ISSET(p[0], &r));
    EXPECT_EQ(write(p[1], "x", 1), 1);
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    tv = (struct timeval){1, 0};
    EXPECT_EQ(select(p[0] + 1, &r, NULL, NULL, &tv), 1);
    EXPECT(FD_ISSET(p[0], &r));
}

CASE(select_reports_writable_pipe) {
    int p[2];
    make_pipe(p, 0);
    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(p[0], &r);
    FD_SET(p[1], &w);
    int maxfd = p[0] > p[1] ? p[0] : p[1];
    struct timeval tv = {0, 0};
    EXPECT_EQ(select(maxfd + 1, &r, &w, NULL, &tv), 1);
    EXPECT(FD_ISSET(p[1], &w));
    EXPECT(!FD_ISSET(p[0], &r));
}

CASE(select_timeout_elapses_and_updates_timeval) {
    int p[2];
    make_pipe(p, 0);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timeval tv = {0, 60000};
    int64_t t0 = now_ms();
    EXPECT_EQ(select(p[0] + 1, &r, NULL, NULL, &tv), 0);
    EXPECT(now_ms() - t0 >= 55);
    EXPECT(!FD_ISSET(p[0], &r));
    EXPECT_EQ(tv.tv_sec, 0); /* Linux writes back the time left */
    EXPECT_EQ(tv.tv_usec, 0);
}

CASE(select_closed_fd_is_ebadf) {
    int p[2];
    make_pipe(p, 0);
    int fd = dup(p[0]);
    EXPECT_OK(close(fd));
    fd_set r;
    FD_ZERO(&r);
    FD_SET(fd, &r);
    struct timeval tv = {0, 0};
    EXPECT_ERRNO(select(fd + 1, &r, NULL, NULL, &tv), EBADF);
}

/* ---- ppoll and pselect ---- */

CASE(ppoll_reports_data_and_times_out) {
    int p[2];
    make_pipe(p, 0);
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    struct timespec ts = {0, 0};
    EXPECT_EQ(ppoll(&pf, 1, &ts, NULL), 0);
    EXPECT_EQ(write(p[1], "x", 1), 1);
    ts = (struct timespec){1, 0};
    EXPECT_EQ(ppoll(&pf, 1, &ts, NULL), 1);
    EXPECT_EQ(pf.revents, POLLIN);
}

CASE(ppoll_sigmask_unblocks_pending_signal) {
    install(SIGUSR1, count_handler, 0);
    sigset_t b, empty;
    sigemptyset(&b);
    sigaddset(&b, SIGUSR1);
    sigemptyset(&empty);
    EXPECT_OK(sigprocmask(SIG_BLOCK, &b, NULL));
    EXPECT_OK(kill(getpid(), SIGUSR1));
    EXPECT_EQ(hits, 0);
    int p[2];
    make_pipe(p, 0);
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    struct timespec ts = {5, 0};
    EXPECT_ERRNO(ppoll(&pf, 1, &ts, &empty), EINTR);
    EXPECT_EQ(hits, 1);
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    EXPECT(sigismember(&cur, SIGUSR1)); /* the old mask is back */
}

CASE(pselect_reports_data_and_times_out) {
    int p[2];
    make_pipe(p, 0);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timespec ts = {0, 30000000L};
    int64_t t0 = now_ms();
    EXPECT_EQ(pselect(p[0] + 1, &r, NULL, NULL, &ts, NULL), 0);
    EXPECT(now_ms() - t0 >= 25);
    EXPECT_EQ(write(p[1], "x", 1), 1);
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    ts = (struct timespec){1, 0};
    EXPECT_EQ(pselect(p[0] + 1, &r, NULL, NULL, &ts, NULL), 1);
    EXPECT(FD_ISSET(p[0], &r));
}

CASE(pselect_sigmask_unblocks_pending_signal) {
    install(SIGUSR1, count_handler, 0);
    sigset_t b, empty;
    sigemptyset(&b);
    sigaddset(&b, SIGUSR1);
    sigemptyset(&empty);
    EXPECT_OK(sigprocmask(SIG_BLOCK, &b, NULL));
    EXPECT_OK(kill(getpid(), SIGUSR1));
    int p[2];
    make_pipe(p, 0);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timespec ts = {5, 0};
    EXPECT_ERRNO(pselect(p[0] + 1, &r, NULL, NULL, &ts, &empty), EINTR);
    EXPECT_EQ(hits, 1);
}

/* ---- epoll ---- */

CASE(epoll_create1_and_bad_arguments) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    EXPECT(ep >= 0);
    EXPECT(fcntl(ep, F_GETFD) & FD_CLOEXEC);
    EXPECT_ERRNO(epoll_create1(0x1234), EINVAL);
    EXPECT_ERRNO(epoll_create(0), EINVAL);
    int ep2 = epoll_create(1);
    EXPECT(ep2 >= 0);
    EXPECT(!(fcntl(ep2, F_GETFD) & FD_CLOEXEC));
}

CASE(epoll_wait_returns_ready_event) {
    int p[2];
    make_pipe(p, 0);
    int ep = epoll_create1(0);
    EXPECT(ep >= 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ULL};
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    struct epoll_event out[4];
    EXPECT_EQ(epoll_wait(ep, out, 4, 0), 0);
    EXPECT_EQ(write(p[1], "x", 1), 1);
    memset(out, 0, sizeof out);
    EXPECT_EQ(epoll_wait(ep, out, 4, 1000), 1);
    EXPECT_EQ(out[0].events, EPOLLIN);
    EXPECT(out[0].data.u64 == 0x1122334455667788ULL);
    /* Level-triggered: still reported while the data is there. */
    EXPECT_EQ(epoll_wait(ep, out, 4, 0), 1);
}

CASE(epoll_wait_timeout_returns_zero) {
    int p[2];
    make_pipe(p, 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]};
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    struct epoll_event out[1];
    int64_t t0 = now_ms();
    EXPECT_EQ(epoll_wait(ep, out, 1, 60), 0);
    EXPECT(now_ms() - t0 >= 55);
}

CASE(epoll_wait_wakes_when_child_writes) {
    int p[2];
    make_pipe(p, 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]};
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) {
        sleep_ms(50);
        ssize_t w = write(p[1], "x", 1);
        _exit(w == 1 ? 0 : 1);
    }
    struct epoll_event out[1];
    EXPECT_EQ(epoll_wait(ep, out, 1, 5000), 1);
    EXPECT_EQ(out[0].data.fd, p[0]);
    waitpid(pid, NULL, 0);
}

CASE(epoll_pollhup_after_writer_closes) {
    int p[2];
    make_pipe(p, 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]};
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    EXPECT_OK(close(p[1]));
    struct epoll_event out[1];
    EXPECT_EQ(epoll_wait(ep, out, 1, 1000), 1);
    EXPECT(out[0].events & EPOLLHUP); /* reported even though not asked for */
}

CASE(epoll_ctl_add_twice_is_eexist) {
    int p[2];
    make_pipe(p, 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), EEXIST);
}

CASE(epoll_ctl_del_or_mod_missing_is_enoent) {
    int p[2];
    make_pipe(p, 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], &ev), ENOENT);
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev), ENOENT);
}

CASE(epoll_ctl_mod_changes_interest) {
    int p[2];
    make_pipe(p, 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 1};
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev)); /* a write end is never readable */
    struct epoll_event out[1];
    EXPECT_EQ(epoll_wait(ep, out, 1, 0), 0);
    ev.events = EPOLLOUT;
    ev.data.u32 = 2;
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev));
    EXPECT_EQ(epoll_wait(ep, out, 1, 0), 1);
    EXPECT_EQ(out[0].events, EPOLLOUT);
    EXPECT_EQ(out[0].data.u32, 2);
}

CASE(epoll_ctl_del_stops_reporting) {
    int p[2];
    make_pipe(p, 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    EXPECT_EQ(write(p[1], "x", 1), 1);
    struct epoll_event out[1];
    EXPECT_EQ(epoll_wait(ep, out, 1, 0), 1);
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    EXPECT_EQ(epoll_wait(ep, out, 1, 0), 0);
}

CASE(epoll_ctl_bad_targets) {
    int p[2];
    make_pipe(p, 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    int fd = dup(p[0]);
    EXPECT_OK(close(fd));
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), EBADF);
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);   /* itself */
    EXPECT_ERRNO(epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &ev), EINVAL); /* not an epoll fd */
    int f = open(scratch_path("regular"), O_CREAT | O_RDWR, 0644);
    EXPECT(f >= 0);
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev), EPERM); /* regular files cannot be polled */
}

CASE(epoll_edge_triggered_reports_once) {
    int p[2];
    make_pipe(p, 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    EXPECT_EQ(write(p[1], "x", 1), 1);
    struct epoll_event out[1];
    EXPECT_EQ(epoll_wait(ep, out, 1, 0), 1);
    EXPECT_EQ(epoll_wait(ep, out, 1, 0), 0); /* no new edge */
    EXPECT_EQ(write(p[1], "y", 1), 1);
    EXPECT_EQ(epoll_wait(ep, out, 1, 0), 1);
}

/* ---- eventfd ---- */

CASE(eventfd_counter_sums_writes_and_read_resets) {
    int fd = eventfd(0, EFD_NONBLOCK);
    EXPECT(fd >= 0);
    uint64_t v = 3;
    EXPECT_EQ(write(fd, &v, 8), 8);
    v = 4;
    EXPECT_EQ(write(fd, &v, 8), 8);
    v = 0;
    EXPECT_EQ(read(fd, &v, 8), 8);
    EXPECT_EQ(v, 7);
    EXPECT_ERRNO(read(fd, &v, 8), EAGAIN);
}

CASE(eventfd_initial_value_is_readable) {
    int fd = eventfd(5, 0);
    EXPECT(fd >= 0);
    uint64_t v = 0;
    EXPECT_EQ(read(fd, &v, sizeof v), 8);
    EXPECT_EQ(v, 5);
}

CASE(eventfd_semaphore_reads_one_at_a_time) {
    int fd = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
    EXPECT(fd >= 0);
    uint64_t v = 0;
    EXPECT_EQ(read(fd, &v, 8), 8);
    EXPECT_EQ(v, 1);
    EXPECT_EQ(read(fd, &v, 8), 8);
    EXPECT_EQ(v, 1);
    EXPECT_ERRNO(read(fd, &v, 8), EAGAIN);
}

CASE(eventfd_nonblocking_read_at_zero_is_eagain) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    EXPECT(fd >= 0);
    EXPECT(fcntl(fd, F_GETFL) & O_NONBLOCK);
    EXPECT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    uint64_t v;
    EXPECT_ERRNO(read(fd, &v, 8), EAGAIN);
}

CASE(eventfd_bad_sizes_and_values_are_einval) {
    int fd = eventfd(1, EFD_NONBLOCK);
    EXPECT(fd >= 0);
    uint64_t v = 1;
    char small[4];
    EXPECT_ERRNO(read(fd, small, sizeof small), EINVAL);
    EXPECT_ERRNO(write(fd, small, sizeof small), EINVAL);
    v = UINT64_MAX;
    EXPECT_ERRNO(write(fd, &v, 8), EINVAL);
    EXPECT_ERRNO(eventfd(0, 0x1234), EINVAL);
}

CASE(eventfd_poll_readiness) {
    int fd = eventfd(0, EFD_NONBLOCK);
    EXPECT(fd >= 0);
    struct pollfd pf = {.fd = fd, .events = POLLIN | POLLOUT};
    EXPECT_EQ(poll(&pf, 1, 0), 1);
    EXPECT_EQ(pf.revents, POLLOUT);
    uint64_t v = 1;
    EXPECT_EQ(write(fd, &v, 8), 8);
    EXPECT_EQ(poll(&pf, 1, 0), 1);
    EXPECT_EQ(pf.revents, POLLIN | POLLOUT);
}

/* ---- named FIFOs ---- */

CASE(mkfifo_creates_a_fifo) {
    EXPECT_OK(mkfifo(scratch_path("fifo"), 0600));
    struct stat st;
    EXPECT_OK(stat(scratch_path("fifo"), &st));
    EXPECT(S_ISFIFO(st.st_mode));
    EXPECT_ERRNO(mkfifo(scratch_path("fifo"), 0600), EEXIST);
}

CASE(fifo_nonblocking_open_for_read_succeeds_without_writer) {
    EXPECT_OK(mkfifo("fifo", 0600));
    int r = open("fifo", O_RDONLY | O_NONBLOCK);
    EXPECT(r >= 0);
    char c;
    EXPECT_EQ(read(r, &c, 1), 0); /* no writer: end of file, not EAGAIN */
}

CASE(fifo_nonblocking_open_for_write_without_reader_is_enxio) {
    EXPECT_OK(mkfifo("fifo", 0600));
    EXPECT_ERRNO(open("fifo", O_WRONLY | O_NONBLOCK), ENXIO);
}

CASE(fifo_round_trip_with_reader_open) {
    EXPECT_OK(mkfifo("fifo", 0600));
    int r = open("fifo", O_RDONLY | O_NONBLOCK);
    EXPECT(r >= 0);
    int w = open("fifo", O_WRONLY | O_NONBLOCK);
    EXPECT(w >= 0);
    EXPECT_EQ(write(w, "fifo!", 5), 5);
    char buf[8] = {0};
    EXPECT_EQ(read(r, buf, sizeof buf), 5);
    EXPECT_STREQ(buf, "fifo!");
    EXPECT_ERRNO(read(r, buf, sizeof buf), EAGAIN); /* a writer is open: empty is EAGAIN */
}

CASE(fifo_opened_read_write_is_both_ends) {
    EXPECT_OK(mkfifo("fifo", 0600));
    int fd = open("fifo", O_RDWR); /* never blocks */
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "x", 1), 1); /* it is a reader: no SIGPIPE */
    fd_set r, w;
    FD_ZERO(&r); FD_ZERO(&w);
    FD_SET(fd, &r); FD_SET(fd, &w);
    struct timeval tv = {0, 0};
    EXPECT_EQ(select(fd + 1, &r, &w, NULL, &tv), 2);
    char c = 0;
    EXPECT_EQ(read(fd, &c, 1), 1);
    EXPECT_EQ(c, 'x');
    /* a blocking open of either end finds it */
    int rd = open("fifo", O_RDONLY);
    int wr = open("fifo", O_WRONLY);
    EXPECT(rd >= 0 && wr >= 0);
    EXPECT_EQ(write(wr, "y", 1), 1);
    EXPECT_EQ(read(rd, &c, 1), 1);
    EXPECT_EQ(c, 'y');
    /* the other ends closed, it still keeps the pipe open both ways */
    close(rd); close(wr);
    EXPECT_EQ(write(fd, "z", 1), 1);
    EXPECT_EQ(read(fd, &c, 1), 1);
    EXPECT_EQ(c, 'z');
}

CASE(fifo_blocking_open_waits_for_the_other_end) {
    EXPECT_OK(mkfifo("fifo", 0600));
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) {
        sleep_ms(30);
        int w = open("fifo", O_WRONLY);
        if (w < 0) _exit(1);
        ssize_t n = write(w, "hi", 2);
        _exit(n == 2 ? 0 : 2);
    }
    int r = open("fifo", O_RDONLY); /* blocks until the child opens for writing */
    EXPECT(r >= 0);
    char buf[4] = {0};
    EXPECT_EQ(read_full(r, buf, 2), 2);
    EXPECT_STREQ(buf, "hi");
    int st = 0;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- descriptors ---- */

CASE(dup_of_write_end_keeps_pipe_open) {
    int p[2];
    make_pipe(p, O_NONBLOCK);
    int w2 = dup(p[1]);
    EXPECT(w2 >= 0);
    EXPECT_OK(close(p[1]));
    char c;
    EXPECT_ERRNO(read(p[0], &c, 1), EAGAIN); /* not EOF: a writer remains */
    EXPECT_EQ(write(w2, "d", 1), 1);
    EXPECT_EQ(read(p[0], &c, 1), 1);
    EXPECT_EQ(c, 'd');
    EXPECT_OK(close(w2));
    EXPECT_EQ(read(p[0], &c, 1), 0);
}

CASE(dup_of_read_end_keeps_writes_working) {
    EXPECT(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
    int p[2];
    make_pipe(p, 0);
    int r2 = dup(p[0]);
    EXPECT(r2 >= 0);
    EXPECT_OK(close(p[0]));
    EXPECT_EQ(write(p[1], "x", 1), 1);
    EXPECT_OK(close(r2));
    EXPECT_ERRNO(write(p[1], "x", 1), EPIPE);
}

CASE(lseek_on_pipe_is_espipe) {
    int p[2];
    make_pipe(p, 0);
    EXPECT_ERRNO(lseek(p[0], 0, SEEK_SET), ESPIPE);
    EXPECT_ERRNO(lseek(p[1], 0, SEEK_CUR), ESPIPE);
    char c;
    EXPECT_ERRNO(pread(p[0], &c, 1, 0), ESPIPE);
    EXPECT_ERRNO(pwrite(p[1], "x", 1, 0), ESPIPE);
}

CASE(read_from_write_end_is_ebadf) {
    int p[2];
    make_pipe(p, 0);
    char c;
    EXPECT_ERRNO(read(p[1], &c, 1), EBADF);
    EXPECT_ERRNO(write(p[0], "x", 1), EBADF);
}

/* ---- a buffer unmapped while a call blocks on it ----
 * A thread blocks in a call on a buffer B it mapped; the main thread unmaps B; a forked child
 * (sharing no memory) maps fresh memory of the same size and fills it with 0xA5; then the call
 * is let go. It must fail with EFAULT (or, for a write that already moved bytes, stop short),
 * and must never reach the child's memory. */

struct blocked_call {
    int fd;
    char *buf;
    size_t len;
    struct iovec iov[2];
    int use_readv, use_write;
    volatile pid_t tid;
    volatile int entered, done;
    long ret;
    int err;
};

static void *blocked_call_thread(void *arg) {
    struct blocked_call *b = arg;
    b->tid = (pid_t)syscall(SYS_gettid);
    b->entered = 1;
    errno = 0;
    if (b->use_readv) b->ret = readv(b->fd, b->iov, 2);
    else if (b->use_write) b->ret = write(b->fd, b->buf, b->len);
    else b->ret = read(b->fd, b->buf, b->len);
    b->err = errno;
    b->done = 1;
    return NULL;
}

static void start_blocked_call(pthread_t *t, struct blocked_call *b) {
    if (pthread_create(t, NULL, blocked_call_thread, b) != 0) compat_fail(__FILE__, __LINE__, "pthread_create failed");
    while (!b->entered) sleep_ms(1);
    /* Wait for the thread to sleep (state S in /proc), then a little more. */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)b->tid);
    wait_until_asleep(path);
    sleep_ms(50);
}

static char *map_filled(size_t len, int c) {
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) compat_fail(__FILE__, __LINE__, "mmap: %s", strerror(errno));
    memset(p, c, len);
    return p;
}

/* Forks the victim: it closes `close_a`/`close_b`, maps `len` fresh bytes of 0xA5 and says so;
 * returns once it has. It checks its memory when a byte arrives on *go. */
static pid_t spawn_victim(size_t len, int close_a, int close_b, int *go) {
    int ready[2], g[2];
    make_pipe(ready, 0);
    make_pipe(g, 0);
    pid_t pid = fork();
    if (pid < 0) compat_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(ready[0]);
        close(g[1]);
        if (close_a >= 0) close(close_a);
        if (close_b >= 0) close(close_b);
        unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) _exit(2);
        memset(m, 0xA5, len);
        if (write(ready[1], "r", 1) != 1) _exit(3);
        char c;
        if (read(g[0], &c, 1) != 1) _exit(4);
        for (size_t i = 0; i < len; i++)
            if (m[i] != 0xA5) _exit(1);
        _exit(0);
    }
    close(ready[1]);
    close(g[0]);
    char c;
    if (read(ready[0], &c, 1) != 1) compat_fail(__FILE__, __LINE__, "the victim did not start");
    close(ready[0]);
    *go = g[1];
    return pid;
}

/* Lets the victim check its memory: 0 if intact, 1 if the blocked call wrote into it. */
static int victim_status(pid_t pid, int go) {
    if (write(go, "g", 1) != 1) compat_fail(__FILE__, __LINE__, "cannot wake the victim");
    close(go);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void expect_pipe_holds(int fd, size_t n, int c) {
    int avail = -1;
    EXPECT_OK(ioctl(fd, FIONREAD, &avail));
    EXPECT_EQ(avail, n);
    unsigned char buf[4096];
    EXPECT_EQ(read_full(fd, buf, n), n);
    for (size_t i = 0; i < n; i++) EXPECT_EQ(buf[i], c);
}

CASE(read_into_buffer_unmapped_while_blocked_is_efault_and_spares_other_memory) {
    int p[2];
    make_pipe(p, 0);
    struct blocked_call b = {.fd = p[0], .len = 4096};
    b.buf = map_filled(4096, 0);
    pthread_t t;
    start_blocked_call(&t, &b);
    EXPECT_OK(munmap(b.buf, 4096));
    int go;
    pid_t victim = spawn_victim(4096, p[0], p[1], &go);
    char data[4096];
    memset(data, 0x5A, sizeof data);
    EXPECT_EQ(write(p[1], data, sizeof data), 4096);
    EXPECT_EQ(pthread_join(t, NULL), 0);
    EXPECT_EQ(victim_status(victim, go), 0);
    EXPECT_EQ(b.ret, -1);
    EXPECT_EQ(b.err, EFAULT);
    expect_pipe_holds(p[0], 4096, 0x5A); /* the failed read consumed nothing */
}

CASE(readv_into_buffer_unmapped_while_blocked_is_efault_and_spares_other_memory) {
    int p[2];
    make_pipe(p, 0);
    struct blocked_call b = {.fd = p[0], .use_readv = 1};
    b.buf = map_filled(8192, 0);
    b.iov[0] = (struct iovec){b.buf, 2048};
    b.iov[1] = (struct iovec){b.buf + 4096, 2048};
    pthread_t t;
    start_blocked_call(&t, &b);
    EXPECT_OK(munmap(b.buf, 8192));
    int go;
    pid_t victim = spawn_victim(8192, p[0], p[1], &go);
    char data[4096];
    memset(data, 0x5A, sizeof data);
    EXPECT_EQ(write(p[1], data, sizeof data), 4096);
    EXPECT_EQ(pthread_join(t, NULL), 0);
    EXPECT_EQ(victim_status(victim, go), 0);
    EXPECT_EQ(b.ret, -1);
    EXPECT_EQ(b.err, EFAULT);
    expect_pipe_holds(p[0], 4096, 0x5A);
}

CASE(eventfd_read_into_buffer_unmapped_while_blocked_is_efault_and_spares_other_memory) {
    int efd = eventfd(0, 0);
    EXPECT(efd >= 0);
    struct blocked_call b = {.fd = efd, .len = 8};
    b.buf = map_filled(4096, 0);
    pthread_t t;
    start_blocked_call(&t, &b);
    EXPECT_OK(munmap(b.buf, 4096));
    int go;
    pid_t victim = spawn_victim(4096, efd, -1, &go);
    uint64_t one = 1;
    EXPECT_EQ(write(efd, &one, 8), 8);
    EXPECT_EQ(pthread_join(t, NULL), 0);
    EXPECT_EQ(victim_status(victim, go), 0);
    EXPECT_EQ(b.ret, -1);
    EXPECT_EQ(b.err, EFAULT);
}

CASE(write_from_buffer_unmapped_while_blocked_stops_short_and_leaks_no_other_memory) {
    EXPECT(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
    const size_t len = 1 << 20;
    int p[2];
    make_pipe(p, 0);
    long cap = fcntl(p[0], F_GETPIPE_SZ);
    EXPECT(cap > 0 && cap < (long)len);
    struct blocked_call b = {.fd = p[1], .len = len, .use_write = 1};
    b.buf = map_filled(len, 0x11); /* fills the pipe, then blocks */
    pthread_t t;
    start_blocked_call(&t, &b);
    EXPECT_OK(munmap(b.buf, len));
    int go;
    pid_t victim = spawn_victim(len, p[0], p[1], &go);
    /* Drain until the writer has returned and the pipe is empty. */
    EXPECT_OK(fcntl(p[0], F_SETFL, O_NONBLOCK));
    static unsigned char buf[65536];
    long total = 0, secret = 0, other = 0;
    for (;;) {
        int finished = b.done;
        ssize_t n = read(p[0], buf, sizeof buf);
        if (n > 0) {
            for (ssize_t i = 0; i < n; i++) {
                if (buf[i] == 0xA5) secret++;
                else if (buf[i] != 0x11) other++;
            }
            total += n;
            if (total > 2 * (long)len) break;
            continue;
        }
        EXPECT(n < 0 && errno == EAGAIN);
        if (finished) break;
        sleep_ms(1);
    }
    EXPECT_EQ(pthread_join(t, NULL), 0);
    EXPECT_EQ(victim_status(victim, go), 0);
    EXPECT_EQ(secret, 0);
    EXPECT_EQ(other, 0);
    EXPECT_EQ(b.ret, cap); /* what fit before the writer blocked */
    EXPECT_EQ(total, cap);
}

CASE(pipe_room_is_counted_in_pages_as_linux_counts_it) {
    /* LTP epoll_wait06: a one-page pipe half read is still full; read to the page's end it
     * is writable again. */
    int p[2];
    EXPECT_OK(pipe2(p, O_NONBLOCK));
    EXPECT_EQ(fcntl(p[1], F_SETPIPE_SZ, 4096), 4096);
    char buf[8192];
    memset(buf, 'a', sizeof buf);
    EXPECT_EQ(write(p[1], buf, 4096), 4096);
    EXPECT_ERRNO(write(p[1], buf, 1), EAGAIN);
    EXPECT_EQ(read(p[0], buf, 2048), 2048);
    struct pollfd w = {.fd = p[1], .events = POLLOUT};
    EXPECT_EQ(poll(&w, 1, 0), 0);
    EXPECT_ERRNO(write(p[1], buf, 1), EAGAIN);
    EXPECT_EQ(read(p[0], buf, 2048), 2048);
    EXPECT_EQ(poll(&w, 1, 0), 1);
    EXPECT_EQ(fcntl(p[1], F_SETPIPE_SZ, 65536), 65536);
    /* Small writes share a page: 16 bytes at a time fill 64 KiB. */
    int total = 0;
    while (write(p[1], buf, 16) == 16) total += 16;
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(total, 65536);
    /* A page-sized write takes a page of its own: after one byte, fifteen pages fit. */
    int q[2];
    EXPECT_OK(pipe2(q, O_NONBLOCK));
    EXPECT_EQ(write(q[1], buf, 1), 1);
    total = 1;
    long n;
    while ((n = write(q[1], buf, 4096)) > 0) total += n;
    EXPECT_EQ(total, 1 + 15 * 4096);
    /* Shrinking below the pages in use is EBUSY, whatever bytes they hold. */
    EXPECT_ERRNO(fcntl(q[1], F_SETPIPE_SZ, 8192), EBUSY);
}

COMPAT_MAIN()

CASE(o_async_pipe_signals_its_owner_when_data_comes_and_room_is_made) {
    int p[2];
    EXPECT_OK(pipe(p));
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigaddset(&usr1, SIGIO);
    EXPECT_OK(sigprocmask(SIG_BLOCK, &usr1, NULL));
    EXPECT_OK(fcntl(p[0], F_SETOWN, getpid()));
    EXPECT_OK(fcntl(p[0], F_SETSIG, SIGUSR1));
    EXPECT_OK(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_ASYNC));
    pid_t pid = fork();
    if (pid == 0) { (void)!write(p[1], "x", 1); _exit(0); }
    siginfo_t si;
    struct timespec wait = {5, 0};
    EXPECT_EQ(sigtimedwait(&usr1, &si, &wait), SIGUSR1);
    EXPECT_EQ(si.si_code, POLL_IN);
    EXPECT_EQ(si.si_fd, p[0]); /* the fd O_ASYNC was set through */
    EXPECT_EQ(si.si_band, POLLIN | POLLRDNORM);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    /* the write end asks to hear of room: reading makes some */
    EXPECT_OK(fcntl(p[1], F_SETOWN, getpid()));
    EXPECT_OK(fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_ASYNC));
    char c;
    EXPECT_EQ(read(p[0], &c, 1), 1);
    EXPECT_EQ(sigtimedwait(&usr1, &si, &wait), SIGIO); /* no F_SETSIG there: SIGIO */
    EXPECT_EQ(si.si_code, SI_KERNEL);
    /* without O_ASYNC, nothing */
    EXPECT_OK(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) & ~O_ASYNC));
    EXPECT_OK(fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) & ~O_ASYNC));
    EXPECT_EQ(write(p[1], "y", 1), 1);
    struct timespec none = {0, 50000000};
    EXPECT_ERRNO(sigtimedwait(&usr1, &si, &none), EAGAIN);
}
