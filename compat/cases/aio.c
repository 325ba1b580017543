/* Linux AIO through the raw system calls (as libaio makes them): io_setup's ring, io_submit's
 * reads, writes, syncs and polls, io_getevents and the ring the process reads itself,
 * io_cancel, io_destroy, eventfd notification, and their errors. */
#include "../compat.h"
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

struct ring { unsigned id, nr, head, tail, magic, compat_features, incompat_features, header_length; struct io_event events[]; };

static long setup(unsigned nr, aio_context_t *ctx) { return syscall(SYS_io_setup, nr, ctx); }
static long destroy(aio_context_t ctx) { return syscall(SYS_io_destroy, ctx); }
static long submit(aio_context_t ctx, long nr, struct iocb **iocbs) { return syscall(SYS_io_submit, ctx, nr, iocbs); }
static long getevents(aio_context_t ctx, long min, long nr, struct io_event *ev, struct timespec *ts) {
    return syscall(SYS_io_getevents, ctx, min, nr, ev, ts);
}
static long cancel(aio_context_t ctx, struct iocb *iocb, struct io_event *ev) { return syscall(SYS_io_cancel, ctx, iocb, ev); }

static struct iocb rw(int op, int fd, void *buf, size_t n, long long off, unsigned long long data) {
    struct iocb cb;
    memset(&cb, 0, sizeof cb);
    cb.aio_lio_opcode = op;
    cb.aio_fildes = fd;
    cb.aio_buf = (unsigned long)buf;
    cb.aio_nbytes = n;
    cb.aio_offset = off;
    cb.aio_data = data;
    cb.aio_key = 77; /* the kernel writes KIOCB_KEY (0) here */
    return cb;
}

static int maps_has(const char *what, unsigned long at) {
    static char buf[65536];
    EXPECT(slurp("/proc/self/maps", buf, sizeof buf) > 0);
    char start[32];
    snprintf(start, sizeof start, "%lx-", at);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, start, strlen(start)) == 0) {
            char *end = strchr(line, '\n');
            if (end) *end = 0;
            int found = strstr(line, what) != NULL;
            if (end) *end = '\n';
            return found;
        }
    }
    return 0;
}

CASE(io_setup_maps_a_ring_the_process_reads) {
    aio_context_t ctx = 0;
    EXPECT_OK(setup(1, &ctx));
    EXPECT(ctx != 0);
    struct ring *r = (struct ring *)ctx;
    EXPECT_EQ(r->magic, 0xa10a10a1);
    EXPECT_EQ(r->header_length, 32);
    EXPECT_EQ(r->incompat_features, 0);
    EXPECT(r->nr >= 2);
    EXPECT_EQ(r->head, 0);
    EXPECT_EQ(r->tail, 0);
    EXPECT(maps_has("/[aio] (deleted)", ctx));
    /* *ctxp must hold 0; a count of 0 is EINVAL, as is a context already set. */
    EXPECT_ERRNO(setup(1, &ctx), EINVAL);
    aio_context_t other = 0;
    EXPECT_ERRNO(setup(0, &other), EINVAL);
    EXPECT_ERRNO(setup(1, (aio_context_t *)8), EFAULT);
    EXPECT_OK(destroy(ctx));
    EXPECT_ERRNO(destroy(ctx), EINVAL);
    EXPECT(!maps_has("/[aio]", ctx));
    EXPECT_ERRNO(destroy(12345), EINVAL);
}

CASE(io_submit_reads_and_writes_and_io_getevents_reports_them) {
    aio_context_t ctx = 0;
    EXPECT_OK(setup(8, &ctx));
    int fd = open("data", O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT(fd >= 0);
    char out[] = "hello, aio", in[32] = "";
    struct iocb w = rw(IOCB_CMD_PWRITE, fd, out, 10, 100, 1);
    struct iocb *list[1] = { &w };
    EXPECT_EQ(submit(ctx, 1, list), 1);
    EXPECT_EQ(w.aio_key, 0);
    struct io_event ev[4];
    EXPECT_EQ(getevents(ctx, 1, 4, ev, NULL), 1);
    EXPECT_EQ(ev[0].data, 1);
    EXPECT_EQ(ev[0].obj, (unsigned long)&w);
    EXPECT_EQ(ev[0].res, 10);
    EXPECT_EQ(ev[0].res2, 0);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 110);
    struct iocb r1 = rw(IOCB_CMD_PREAD, fd, in, 5, 100, 2), r2 = rw(IOCB_CMD_PREAD, fd, in + 8, 20, 105, 3);
    struct iocb *two[2] = { &r1, &r2 };
    EXPECT_EQ(submit(ctx, 2, two), 2);
    struct timespec zero = { 0, 0 };
    EXPECT_EQ(getevents(ctx, 0, 4, ev, &zero), 2);
    EXPECT_EQ(ev[0].data, 2);
    EXPECT_EQ(ev[0].res, 5);
    EXPECT_EQ(ev[1].data, 3);
    EXPECT_EQ(ev[1].res, 5); /* short: the file ends */
    EXPECT(memcmp(in, "hello", 5) == 0 && memcmp(in + 8, ", aio", 5) == 0);
    /* Vectored, and the position of a regular file is the offset's, not the file's. */
    struct iovec iov[2] = { { in, 2 }, { in + 2, 3 } };
    struct iocb v = rw(IOCB_CMD_PREADV, fd, iov, 2, 107, 4);
    struct iocb *one[1] = { &v };
    EXPECT_EQ(submit(ctx, 1, one), 1);
    EXPECT_EQ(getevents(ctx, 1, 1, ev, NULL), 1);
    EXPECT_EQ(ev[0].res, 3);
    EXPECT(memcmp(in, "aio", 3) == 0);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 0);
    /* Nothing more: a zero timeout returns at once, a short one after it. */
    EXPECT_EQ(getevents(ctx, 1, 1, ev, &zero), 0);
    struct timespec short_wait = { 0, 20000000 };
    EXPECT_EQ(getevents(ctx, 1, 1, ev, &short_wait), 0);
    struct iocb s = rw(IOCB_CMD_FSYNC, fd, NULL, 0, 0, 5), d = rw(IOCB_CMD_FDSYNC, fd, NULL, 0, 0, 6);
    struct iocb *syncs[2] = { &s, &d };
    EXPECT_EQ(submit(ctx, 2, syncs), 2);
    EXPECT_EQ(getevents(ctx, 2, 2, ev, NULL), 2);
    /* Linux syncs on a worker: the two may complete in either order. */
    EXPECT_EQ(ev[0].data + ev[1].data, 11);
    EXPECT_EQ(ev[0].res, 0);
    EXPECT_EQ(ev[1].res, 0);
    close(fd);
    EXPECT_OK(destroy(ctx));
}

/* libaio takes events from the ring itself when it can: head and tail as the kernel left them. */
CASE(the_process_reaps_events_from_the_ring_itself) {
    aio_context_t ctx = 0;
    EXPECT_OK(setup(4, &ctx));
    struct ring *r = (struct ring *)ctx;
    int fd = open("data", O_RDWR | O_CREAT | O_TRUNC, 0600);
    char buf[4] = "abc";
    for (int i = 0; i < 3; i++) {
        struct iocb w = rw(IOCB_CMD_PWRITE, fd, buf, 3, i * 3, 10 + i);
        struct iocb *l[1] = { &w };
        EXPECT_EQ(submit(ctx, 1, l), 1);
    }
    EXPECT_EQ(r->tail - r->head, 3);
    EXPECT_EQ(r->events[r->head].data, 10);
    r->head = (r->head + 2) % r->nr; /* took two */
    struct io_event ev[4];
    EXPECT_EQ(getevents(ctx, 0, 4, ev, NULL), 1);
    EXPECT_EQ(ev[0].data, 12);
    EXPECT_EQ(r->head, r->tail);
    close(fd);
    EXPECT_OK(destroy(ctx));
}

CASE(io_submit_checks_each_iocb_and_stops_at_the_first_bad_one) {
    aio_context_t ctx = 0;
    EXPECT_OK(setup(8, &ctx));
    int fd = open("data", O_RDWR | O_CREAT | O_TRUNC, 0600);
    int ro = open("data", O_RDONLY);
    char buf[8] = "x";
    struct iocb good = rw(IOCB_CMD_PWRITE, fd, buf, 1, 0, 1), bad = rw(IOCB_CMD_PWRITE, 999, buf, 1, 0, 2);
    struct iocb *list[2] = { &good, &bad };
    EXPECT_EQ(submit(ctx, 2, list), 1); /* the good one went */
    struct iocb *first_bad[2] = { &bad, &good };
    EXPECT_ERRNO(submit(ctx, 2, first_bad), EBADF);
    EXPECT_ERRNO(submit(ctx, -1, list), EINVAL);
    EXPECT_EQ(submit(ctx, 0, list), 0);
    EXPECT_ERRNO(submit(12345, 1, list), EINVAL);
    EXPECT_ERRNO(submit(ctx, 1, (struct iocb **)8), EFAULT);
    struct iocb *nowhere[1] = { (struct iocb *)8 };
    EXPECT_ERRNO(submit(ctx, 1, nowhere), EFAULT);
    struct iocb noop = rw(IOCB_CMD_NOOP, fd, buf, 1, 0, 3);
    struct iocb *l[1] = { &noop };
    EXPECT_ERRNO(submit(ctx, 1, l), EINVAL);
    struct iocb reserved = rw(IOCB_CMD_PWRITE, fd, buf, 1, 0, 4);
    reserved.aio_reserved2 = 1;
    l[0] = &reserved;
    EXPECT_ERRNO(submit(ctx, 1, l), EINVAL);
    struct iocb wrong_mode = rw(IOCB_CMD_PWRITE, ro, buf, 1, 0, 5);
    l[0] = &wrong_mode;
    EXPECT_ERRNO(submit(ctx, 1, l), EBADF);
    struct iocb negative = rw(IOCB_CMD_PREAD, fd, buf, 1, -1, 6);
    l[0] = &negative;
    EXPECT_ERRNO(submit(ctx, 1, l), EINVAL);
    struct iocb sync_with_buffer = rw(IOCB_CMD_FSYNC, fd, buf, 1, 0, 7);
    l[0] = &sync_with_buffer;
    EXPECT_ERRNO(submit(ctx, 1, l), EINVAL);
    int p[2];
    EXPECT_OK(pipe(p));
    struct iocb pipe_sync = rw(IOCB_CMD_FSYNC, p[1], NULL, 0, 0, 8);
    l[0] = &pipe_sync;
    EXPECT_ERRNO(submit(ctx, 1, l), EINVAL);
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    struct iocb dir_read = rw(IOCB_CMD_PREAD, dir, buf, 1, 0, 9);
    l[0] = &dir_read;
    EXPECT_ERRNO(submit(ctx, 1, l), EINVAL);
    struct iocb flags = rw(IOCB_CMD_PWRITE, fd, buf, 1, 0, 10);
    flags.aio_rw_flags = 0x80000000;
    l[0] = &flags;
    EXPECT_ERRNO(submit(ctx, 1, l), EOPNOTSUPP);
    struct iocb resfd = rw(IOCB_CMD_PWRITE, fd, buf, 1, 0, 11);
    resfd.aio_flags = IOCB_FLAG_RESFD;
    resfd.aio_resfd = fd; /* not an eventfd */
    l[0] = &resfd;
    EXPECT_ERRNO(submit(ctx, 1, l), EINVAL);
    /* A failure met doing the I/O is the event's result, not io_submit's. */
    signal(SIGPIPE, SIG_IGN);
    close(p[0]);
    struct iocb epipe = rw(IOCB_CMD_PWRITE, p[1], buf, 1, 0, 12);
    l[0] = &epipe;
    EXPECT_EQ(submit(ctx, 1, l), 1);
    struct io_event ev[8];
    EXPECT_EQ(getevents(ctx, 2, 8, ev, NULL), 2);
    EXPECT_EQ(ev[0].data, 1);
    EXPECT_EQ(ev[0].res, 1);
    EXPECT_EQ(ev[1].data, 12);
    EXPECT_EQ(ev[1].res, -EPIPE);
    /* RWF_NOWAIT: a read that would wait fails with EAGAIN, in its event. */
    int q[2];
    EXPECT_OK(pipe(q));
    struct iocb nowait = rw(IOCB_CMD_PREAD, q[0], buf, 1, 0, 13);
    nowait.aio_rw_flags = RWF_NOWAIT;
    l[0] = &nowait;
    EXPECT_EQ(submit(ctx, 1, l), 1);
    EXPECT_EQ(getevents(ctx, 1, 8, ev, NULL), 1);
    EXPECT_EQ(ev[0].res, -EAGAIN);
    EXPECT_ERRNO(getevents(ctx, 2, 1, ev, NULL), EINVAL);
    EXPECT_ERRNO(getevents(ctx, -1, 1, ev, NULL), EINVAL);
    EXPECT_ERRNO(getevents(12345, 0, 1, ev, NULL), EINVAL);
    struct timespec zero = { 0, 0 };
    EXPECT_ERRNO(getevents(ctx, 0, 1, ev, (struct timespec *)8), EFAULT);
    EXPECT_EQ(getevents(ctx, 0, 1, ev, &zero), 0);
    EXPECT_OK(destroy(ctx));
}

CASE(a_poll_waits_for_its_file_and_io_cancel_ends_it) {
    aio_context_t ctx = 0;
    EXPECT_OK(setup(8, &ctx));
    int p[2];
    EXPECT_OK(pipe(p));
    struct iocb poll_in = rw(IOCB_CMD_POLL, p[0], NULL, 0, 0, 1);
    poll_in.aio_buf = POLLIN;
    struct iocb *l[1] = { &poll_in };
    EXPECT_EQ(submit(ctx, 1, l), 1);
    struct io_event ev[2];
    struct timespec zero = { 0, 0 };
    EXPECT_EQ(getevents(ctx, 0, 2, ev, &zero), 0); /* not ready yet */
    EXPECT_EQ(write(p[1], "x", 1), 1);
    EXPECT_EQ(getevents(ctx, 1, 2, ev, NULL), 1);
    EXPECT_EQ(ev[0].data, 1);
    EXPECT_EQ(ev[0].res, POLLIN | POLLRDNORM); /* the wakeup's events, all of them */
    /* Ready at once: completed at submission. */
    struct iocb ready = rw(IOCB_CMD_POLL, p[1], NULL, 0, 0, 2);
    ready.aio_buf = POLLOUT;
    l[0] = &ready;
    EXPECT_EQ(submit(ctx, 1, l), 1);
    EXPECT_EQ(getevents(ctx, 1, 2, ev, &zero), 1);
    EXPECT_EQ(ev[0].res, POLLOUT); /* what was asked, of what is ready */
    /* A waiting poll can be cancelled: EINPROGRESS, and its event (res 0) in the ring. */
    char c;
    EXPECT_EQ(read(p[0], &c, 1), 1);
    struct iocb waiting = rw(IOCB_CMD_POLL, p[0], NULL, 0, 0, 3);
    waiting.aio_buf = POLLIN;
    l[0] = &waiting;
    EXPECT_EQ(submit(ctx, 1, l), 1);
    EXPECT_ERRNO(cancel(ctx, &waiting, &ev[1]), EINPROGRESS);
    EXPECT_EQ(getevents(ctx, 1, 2, ev, NULL), 1);
    EXPECT_EQ(ev[0].data, 3);
    EXPECT_EQ(ev[0].res, 0);
    EXPECT_ERRNO(cancel(ctx, &waiting, &ev[1]), EINVAL); /* done */
    struct iocb never = rw(IOCB_CMD_POLL, p[0], NULL, 0, 0, 4);
    never.aio_key = 1;
    EXPECT_ERRNO(cancel(ctx, &never, &ev[1]), EINVAL); /* not a submitted iocb's key */
    struct iocb bad_events = rw(IOCB_CMD_POLL, p[0], NULL, 0, 0, 5);
    bad_events.aio_buf = 0x10000;
    l[0] = &bad_events;
    EXPECT_ERRNO(submit(ctx, 1, l), EINVAL);
    EXPECT_OK(destroy(ctx));
}

static int poll_pipe[2];
static void *write_later(void *arg) {
    (void)arg;
    usleep(100000);
    if (write(poll_pipe[1], "y", 1) != 1) return (void *)1;
    return NULL;
}

CASE(io_getevents_waits_for_a_completion_and_eventfd_counts_them) {
    aio_context_t ctx = 0;
    EXPECT_OK(setup(8, &ctx));
    EXPECT_OK(pipe(poll_pipe));
    int efd = eventfd(0, EFD_NONBLOCK);
    EXPECT(efd >= 0);
    struct iocb poll_in = rw(IOCB_CMD_POLL, poll_pipe[0], NULL, 0, 0, 9);
    poll_in.aio_buf = POLLIN;
    poll_in.aio_flags = IOCB_FLAG_RESFD;
    poll_in.aio_resfd = efd;
    int fd = open("data", O_RDWR | O_CREAT | O_TRUNC, 0600);
    struct iocb w = rw(IOCB_CMD_PWRITE, fd, "z", 1, 0, 8);
    w.aio_flags = IOCB_FLAG_RESFD;
    w.aio_resfd = efd;
    struct iocb *l[2] = { &w, &poll_in };
    EXPECT_EQ(submit(ctx, 2, l), 2);
    uint64_t count = 0;
    EXPECT_EQ(read(efd, &count, 8), 8);
    EXPECT_EQ(count, 1); /* the write; the poll waits */
    pthread_t t;
    pthread_create(&t, NULL, write_later, NULL);
    struct io_event ev[4];
    EXPECT_EQ(getevents(ctx, 2, 4, ev, NULL), 2);
    pthread_join(t, NULL);
    EXPECT_EQ(ev[0].data, 8);
    EXPECT_EQ(ev[1].data, 9);
    EXPECT_EQ(ev[1].res, POLLIN | POLLRDNORM);
    EXPECT_EQ(read(efd, &count, 8), 8);
    EXPECT_EQ(count, 1);
    close(fd);
    EXPECT_OK(destroy(ctx));
}

/* A completion saturates the counter at UINT64_MAX, which a write cannot reach: poll then
 * reports POLLERR (and POLLIN), a write must wait, and a read returns UINT64_MAX. */
CASE(an_aio_completion_saturates_a_full_eventfd_and_poll_reports_pollerr) {
    aio_context_t ctx = 0;
    EXPECT_OK(setup(2, &ctx));
    int efd = eventfd(0, EFD_NONBLOCK);
    EXPECT(efd >= 0);
    uint64_t max = UINT64_MAX - 1, one = 1, count = 0;
    EXPECT_EQ(write(efd, &max, 8), 8);
    EXPECT_ERRNO(write(efd, &one, 8), EAGAIN);
    struct pollfd p = { .fd = efd, .events = POLLIN | POLLOUT };
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_EQ(p.revents, POLLIN);
    int fd = open("data", O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT(fd >= 0);
    struct iocb w = rw(IOCB_CMD_PWRITE, fd, "z", 1, 0, 8);
    w.aio_flags = IOCB_FLAG_RESFD;
    w.aio_resfd = efd;
    struct iocb *l[1] = { &w };
    EXPECT_EQ(submit(ctx, 1, l), 1);
    struct io_event ev;
    EXPECT_EQ(getevents(ctx, 1, 1, &ev, NULL), 1);
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_EQ(p.revents, POLLIN | POLLERR);
    EXPECT_ERRNO(write(efd, &one, 8), EAGAIN);
    EXPECT_EQ(read(efd, &count, 8), 8);
    EXPECT_EQ(count, UINT64_MAX);
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_EQ(p.revents, POLLOUT);
    close(fd);
    close(efd);
    EXPECT_OK(destroy(ctx));
}

/* A fork's child has the ring mapped but not the context. */
CASE(a_forked_child_has_no_aio_context) {
    aio_context_t ctx = 0;
    EXPECT_OK(setup(1, &ctx));
    pid_t child = fork();
    if (child == 0) {
        struct ring *r = (struct ring *)ctx;
        if (r->magic != 0xa10a10a1) _exit(1);
        if (destroy(ctx) != -1 || errno != EINVAL) _exit(2);
        struct io_event ev;
        if (getevents(ctx, 0, 1, &ev, NULL) != -1 || errno != EINVAL) _exit(3);
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
    EXPECT_OK(destroy(ctx));
}

CASE(fs_aio_nr_counts_what_contexts_asked_for) {
    char text[32];
    EXPECT(slurp("/proc/sys/fs/aio-max-nr", text, sizeof text) > 0);
    long max = atol(text);
    EXPECT(max > 0);
    aio_context_t ctx = 0;
    EXPECT_ERRNO(setup((unsigned)max + 1, &ctx), EAGAIN);
    EXPECT_OK(setup(100, &ctx));
    EXPECT(slurp("/proc/sys/fs/aio-nr", text, sizeof text) > 0);
    EXPECT(atol(text) >= 100);
    EXPECT_OK(destroy(ctx));
}

COMPAT_MAIN()
