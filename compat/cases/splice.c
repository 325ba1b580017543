/* Moving data between descriptors: copy_file_range, splice, tee, vmsplice; and the hints and
 * flushes around file data (readahead, posix_fadvise, sync_file_range, syncfs, fsync). */
#include "../compat.h"
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <arpa/inet.h>

static int temp_file(const char *content) {
    char path[] = "/tmp/compat-splice-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    unlink(path);
    if (content && write(fd, content, strlen(content)) != (ssize_t)strlen(content)) return -1;
    return fd;
}

CASE(copy_file_range_copies_with_and_without_offsets) {
    int in = temp_file("hello, world");
    int out = temp_file(NULL);
    EXPECT(in >= 0 && out >= 0);
    loff_t off_in = 7, off_out = 0;
    EXPECT_EQ(copy_file_range(in, &off_in, out, &off_out, 100, 0), 5);
    EXPECT_EQ(off_in, 12);
    EXPECT_EQ(off_out, 5);
    EXPECT_EQ(lseek(in, 0, SEEK_CUR), 12); /* the offsets given were used, not the positions */
    EXPECT_EQ(lseek(in, 0, SEEK_SET), 0);
    EXPECT_EQ(lseek(out, 0, SEEK_SET), 0);
    EXPECT_EQ(copy_file_range(in, NULL, out, NULL, 5, 0), 5); /* the positions, advanced */
    EXPECT_EQ(lseek(in, 0, SEEK_CUR), 5);
    char buf[16] = {0};
    EXPECT_EQ(pread(out, buf, sizeof buf, 0), 5);
    EXPECT_STREQ(buf, "hello");
    EXPECT_EQ(copy_file_range(in, &off_in, out, NULL, 10, 0), 0); /* at the end of the input */
}

CASE(copy_file_range_errors) {
    int in = temp_file("abcdefgh");
    int out = temp_file(NULL);
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_ERRNO(copy_file_range(in, NULL, out, NULL, 4, 1), EINVAL);  /* flags */
    EXPECT_ERRNO(copy_file_range(in, NULL, p[1], NULL, 4, 0), EINVAL); /* not a regular file */
    loff_t a = 0, b = 2;
    EXPECT_ERRNO(copy_file_range(in, &a, in, &b, 4, 0), EINVAL);       /* overlapping ranges */
    int ro = open("/proc/self/exe", O_RDONLY);
    EXPECT_ERRNO(copy_file_range(in, NULL, ro, NULL, 4, 0), EBADF);    /* output not writable */
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    EXPECT_ERRNO(copy_file_range(dir, NULL, out, NULL, 4, 0), EISDIR);
    loff_t neg = -1;
    EXPECT_ERRNO(copy_file_range(in, &neg, out, NULL, 4, 0), EOVERFLOW);
}

CASE(splice_file_to_pipe_to_file) {
    int in = temp_file("0123456789");
    int out = temp_file(NULL);
    int p[2];
    EXPECT_OK(pipe(p));
    loff_t off = 2;
    EXPECT_EQ(splice(in, &off, p[1], NULL, 5, 0), 5);
    EXPECT_EQ(off, 7);
    EXPECT_EQ(lseek(in, 0, SEEK_CUR), 10); /* the file position is untouched */
    EXPECT_EQ(splice(p[0], NULL, out, NULL, 100, 0), 5); /* what the pipe holds, not more */
    char buf[16] = {0};
    EXPECT_EQ(pread(out, buf, sizeof buf, 0), 5);
    EXPECT_STREQ(buf, "23456");
}

CASE(splice_errors_and_nonblock) {
    int a = temp_file("x"), b = temp_file(NULL);
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_ERRNO(splice(a, NULL, b, NULL, 1, 0), EINVAL);       /* no pipe */
    loff_t off = 0;
    EXPECT_ERRNO(splice(p[0], &off, b, NULL, 1, 0), ESPIPE);    /* an offset on the pipe */
    EXPECT_ERRNO(splice(p[0], NULL, p[1], NULL, 1, 0), EINVAL); /* the same pipe */
    EXPECT_ERRNO(splice(p[0], NULL, b, NULL, 1, SPLICE_F_NONBLOCK), EAGAIN); /* empty */
    EXPECT_ERRNO(splice(a, NULL, p[1], NULL, 1, 0x100), EINVAL);  /* unknown flag */
    EXPECT_EQ(splice(a, NULL, p[1], NULL, 0, 0), 0);
    /* A directory has no splice_read: EINVAL, with or without an offset (splice07). */
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    EXPECT_ERRNO(splice(dir, NULL, p[1], NULL, 1, 0), EINVAL);
    EXPECT_ERRNO(splice(dir, &off, p[1], NULL, 1, 0), EINVAL);
    close(dir);
}

CASE(tee_copies_without_consuming) {
    int p[2], q[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(pipe(q));
    EXPECT_EQ(write(p[1], "abcdef", 6), 6);
    EXPECT_EQ(tee(p[0], q[1], 4, 0), 4);
    char buf[16] = {0};
    EXPECT_EQ(read(q[0], buf, sizeof buf), 4);
    EXPECT_STREQ(buf, "abcd");
    memset(buf, 0, sizeof buf);
    EXPECT_EQ(read(p[0], buf, sizeof buf), 6); /* still all there */
    EXPECT_STREQ(buf, "abcdef");
    EXPECT_ERRNO(tee(p[0], q[1], 4, SPLICE_F_NONBLOCK), EAGAIN);
    int f = temp_file("x");
    EXPECT_ERRNO(tee(f, q[1], 1, 0), EINVAL);
}

/* vmsplice into a pipe moves what fits and returns (it waits only while the pipe is full),
 * where write would wait to move it all; with SPLICE_F_NONBLOCK a full pipe is EAGAIN, and
 * the pipe's own O_NONBLOCK does not make it so. */
/* splice from a pipe into a socket that is full or takes only part of it: what the socket
 * did not take stays in the pipe for the next call (Go's net tests splice 1 MiB chunks between TCP
 * connections this way); nothing is lost or repeated. */
CASE(splice_pipe_to_full_socket_keeps_the_rest_in_the_pipe) {
    int sv[2], p[2];
    /* A loopback TCP connection: sv[0] sends, sv[1] receives. */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT(l >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    EXPECT_OK(bind(l, (struct sockaddr *)&a, sizeof a));
    EXPECT_OK(listen(l, 1));
    EXPECT_OK(getsockname(l, (struct sockaddr *)&a, &len));
    sv[0] = socket(AF_INET, SOCK_STREAM, 0);
    int small = 16384; /* buffers far smaller than a chunk */
    EXPECT_OK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small));
    EXPECT_OK(connect(sv[0], (struct sockaddr *)&a, sizeof a));
    sv[1] = accept(l, NULL, NULL);
    EXPECT(sv[1] >= 0);
    EXPECT_OK(pipe(p));
    EXPECT_OK(fcntl(sv[0], F_SETFL, O_NONBLOCK));
    EXPECT_OK(fcntl(sv[1], F_SETFL, O_NONBLOCK));
    EXPECT_OK(fcntl(p[1], F_SETFL, O_NONBLOCK));
    enum { total = 8 << 20 };
    static unsigned char chunk[65536], got[65536];
    long written = 0, spliced = 0, received = 0, full = 0;
    int mismatch = 0;
    while (received < total) {
        while (written < total) { /* refill the pipe */
            long n = total - written < (long)sizeof chunk ? total - written : (long)sizeof chunk;
            for (long i = 0; i < n; i++) chunk[i] = (unsigned char)((written + i) * 7);
            ssize_t w = write(p[1], chunk, (size_t)n);
            if (w < 0) { EXPECT_EQ(errno, EAGAIN); break; }
            written += w;
        }
        long wasFull = full;
        while (spliced < written) {
            long inPipe = written - spliced;
            ssize_t s = splice(p[0], NULL, sv[0], NULL, 65536, SPLICE_F_NONBLOCK);
            if (s < 0) {
                EXPECT_EQ(errno, EAGAIN);
                int queued = -1;
                EXPECT_OK(ioctl(p[0], FIONREAD, &queued));
                EXPECT_EQ(queued, inPipe); /* all of it still in the pipe */
                full++;
                break;
            }
            EXPECT(s > 0 && s <= inPipe);
            spliced += s;
        }
        if (full == wasFull && spliced < total) continue; /* the receiver reads only once the socket is full */
        ssize_t r;
        while ((r = read(sv[1], got, sizeof got)) > 0) {
            for (ssize_t i = 0; i < r; i++)
                if (got[i] != (unsigned char)((received + i) * 7)) mismatch++;
            received += r;
        }
        EXPECT(r < 0 && errno == EAGAIN);
        EXPECT(received <= spliced);
        /* All spliced: what is still on its way arrives within a second, or was lost. */
        struct pollfd pfd = {sv[1], POLLIN, 0};
        if (spliced == total && received < total && poll(&pfd, 1, 1000) == 0) break;
    }
    EXPECT_EQ(received, total);
    EXPECT_EQ(spliced, total);
    EXPECT_EQ(mismatch, 0);
    EXPECT(full > 0); /* the socket was full at least once */
}

/* sendfile from a file's own position into a full non-blocking socket: the position moves
 * by what the socket took, so the next call goes on from there. */
CASE(sendfile_to_full_socket_advances_by_what_was_sent) {
    int sv[2];
    EXPECT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    EXPECT_OK(fcntl(sv[0], F_SETFL, O_NONBLOCK));
    EXPECT_OK(fcntl(sv[1], F_SETFL, O_NONBLOCK));
    int f = temp_file(NULL);
    EXPECT(f >= 0);
    enum { total = 4 << 20 };
    static unsigned char chunk[65536], got[65536];
    for (long at = 0; at < total; at += sizeof chunk) {
        for (long i = 0; i < (long)sizeof chunk; i++) chunk[i] = (unsigned char)((at + i) * 13 + ((at + i) >> 16));
        EXPECT_EQ(pwrite(f, chunk, sizeof chunk, at), sizeof chunk);
    }
    EXPECT_EQ(lseek(f, 0, SEEK_SET), 0);
    long sent = 0, received = 0, full = 0;
    int mismatch = 0;
    for (int rounds = 0; received < total && rounds < 100000; rounds++) {
        ssize_t s = sendfile(sv[0], f, NULL, total - sent);
        if (s < 0) { EXPECT_EQ(errno, EAGAIN); full++; }
        else sent += s;
        EXPECT_EQ(lseek(f, 0, SEEK_CUR), sent);
        if (s >= 0 && sent < total) continue; /* the receiver reads only once the socket is full */
        ssize_t r;
        while ((r = read(sv[1], got, sizeof got)) > 0) {
            for (ssize_t i = 0; i < r; i++)
                if (got[i] != (unsigned char)((received + i) * 13 + ((received + i) >> 16))) mismatch++;
            received += r;
        }
        if (sent == total && received < total) break;
    }
    EXPECT_EQ(sent, total);
    EXPECT_EQ(received, total);
    EXPECT_EQ(mismatch, 0);
    EXPECT(full > 0);
}

CASE(vmsplice_into_a_pipe_moves_what_fits_and_returns) {
    int p[2];
    EXPECT_OK(pipe(p));
    int size = fcntl(p[1], F_GETPIPE_SZ);
    EXPECT(size > 0);
    static char buf[1 << 18] __attribute__((aligned(4096))); /* whole pages: one per pipe slot */
    memset(buf, 'v', sizeof buf);
    struct iovec v = {buf, (size_t)size * 2};
    EXPECT_EQ(vmsplice(p[1], &v, 1, 0), size);
    EXPECT_ERRNO(vmsplice(p[1], &v, 1, SPLICE_F_NONBLOCK), EAGAIN);
    char out[4096];
    EXPECT_EQ(read(p[0], out, sizeof out), (long)sizeof out);
    EXPECT_EQ(out[0], 'v');
    EXPECT_EQ(vmsplice(p[1], &v, 1, 0), (long)sizeof out);
}

CASE(vmsplice_into_and_out_of_a_pipe) {
    int p[2];
    EXPECT_OK(pipe(p));
    char a[] = "vm", b[] = "splice";
    struct iovec in[2] = { { a, 2 }, { b, 6 } };
    EXPECT_EQ(vmsplice(p[1], in, 2, 0), 8);
    char out[16] = {0};
    struct iovec o = { out, sizeof out };
    EXPECT_EQ(vmsplice(p[0], &o, 1, 0), 8);
    EXPECT_STREQ(out, "vmsplice");
    int f = temp_file("x");
    EXPECT_ERRNO(vmsplice(f, in, 1, 0), EBADF);
}

CASE(positional_io_fsync_and_readahead_need_a_file_with_positions) {
    int p[2], sv[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    int e = eventfd(0, 0);
    int null = open("/dev/null", O_RDWR);
    char b[8] = {0};
    struct iovec io = {b, sizeof b};
    /* ESPIPE comes before the access mode: a read end is ESPIPE for pwrite too */
    EXPECT_ERRNO(pwrite(p[0], b, 8, 0), ESPIPE);
    EXPECT_ERRNO(pread(p[1], b, 8, 0), ESPIPE);
    EXPECT_ERRNO(pwritev(p[0], &io, 1, 0), ESPIPE);
    EXPECT_ERRNO(preadv(sv[0], &io, 1, 0), ESPIPE);
    EXPECT_ERRNO(pread(e, b, 8, 0), ESPIPE);
    EXPECT_ERRNO(pwrite(p[0], b, 8, -1), EINVAL); /* the offset first */
    EXPECT_ERRNO(pwritev2(p[0], &io, 1, -1, 0), EBADF); /* -1: the file position, as writev */
    EXPECT_EQ(pwrite(null, b, 8, 0), 8);
    /* nothing to sync */
    EXPECT_ERRNO(fsync(p[1]), EINVAL);
    EXPECT_ERRNO(fsync(sv[0]), EINVAL);
    EXPECT_ERRNO(fdatasync(e), EINVAL);
    EXPECT_ERRNO(fdatasync(null), EINVAL);
    EXPECT_ERRNO(readahead(e, 0, 4096), EINVAL);
    EXPECT_ERRNO(readahead(sv[0], 0, 4096), EINVAL);
    int m = memfd_create("m", 0);
    EXPECT_OK(fsync(m));
    EXPECT_OK(readahead(m, 0, 4096));
}

CASE(readahead_fadvise_and_sync_hints) {
    int f = temp_file("data");
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_EQ(readahead(f, 0, 4096), 0);
    EXPECT_ERRNO(readahead(p[0], 0, 10), EINVAL);
    EXPECT_ERRNO(readahead(-1, 0, 10), EBADF);
    EXPECT_EQ(posix_fadvise(f, 0, 0, POSIX_FADV_SEQUENTIAL), 0);
    EXPECT_EQ(posix_fadvise(f, 0, 0, POSIX_FADV_DONTNEED), 0);
    EXPECT_EQ(posix_fadvise(f, 0, 0, 99), EINVAL); /* posix_fadvise returns the error */
    EXPECT_EQ(posix_fadvise(p[0], 0, 0, POSIX_FADV_NORMAL), ESPIPE);
    EXPECT_EQ(sync_file_range(f, 0, 0, SYNC_FILE_RANGE_WRITE), 0);
    EXPECT_ERRNO(sync_file_range(f, 0, 0, 8), EINVAL);
    EXPECT_ERRNO(sync_file_range(f, -1, 0, 0), EINVAL);
    EXPECT_ERRNO(sync_file_range(p[0], 0, 0, 0), ESPIPE);
    EXPECT_EQ(syncfs(f), 0);
    EXPECT_ERRNO(syncfs(-1), EBADF);
    EXPECT_EQ(fsync(f), 0);
    EXPECT_EQ(fdatasync(f), 0);
    char buf[8] = {0};
    EXPECT_EQ(pread(f, buf, sizeof buf, 0), 4); /* the data is what was written */
    EXPECT_STREQ(buf, "data");
}

COMPAT_MAIN()
