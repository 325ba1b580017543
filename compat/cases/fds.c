/* File descriptors: dup family, fcntl, close and close_range, bad descriptors, lowest-free
 * allocation, RLIMIT_NOFILE, shared and independent file offsets, pipes. */
#include "../compat.h"
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int open_file(const char *name, const char *text) {
    int fd = open(name, O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd < 0) compat_fail(__FILE__, __LINE__, "cannot create %s: %s", name, strerror(errno));
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) compat_fail(__FILE__, __LINE__, "cannot write %s", name);
    if (lseek(fd, 0, SEEK_SET) != 0) compat_fail(__FILE__, __LINE__, "cannot rewind %s", name);
    return fd;
}

static int is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

/* Runs /bin/sh with `fd` checked for being open after exec; returns the shell's status. */
static int fd_open_after_exec(int fd) {
    char script[64];
    snprintf(script, sizeof script, "exec 2>/dev/null; : <&%d", fd);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", script, (char *)0);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid) compat_fail(__FILE__, __LINE__, "waitpid failed");
    if (!WIFEXITED(st) || WEXITSTATUS(st) == 127) compat_fail(__FILE__, __LINE__, "cannot run /bin/sh");
    return WEXITSTATUS(st) == 0;
}

/* ---- dup / dup2 / dup3 ---- */

CASE(dup_returns_lowest_free_fd) {
    int fd = open("/dev/null", O_RDONLY);
    EXPECT(fd >= 0);
    for (int i = 0; i < fd; i++) EXPECT(is_open(i)); /* open took the lowest free slot */
    int d = dup(fd);
    for (int i = 0; i < d; i++) EXPECT(is_open(i));
    EXPECT_OK(close(1));
    EXPECT_EQ(dup(fd), 1);
    EXPECT_EQ(dup2(fd, 70), 70);
    EXPECT_EQ(dup2(fd, 72), 72);
    EXPECT_EQ(fcntl(fd, F_DUPFD, 70), 71);
}

CASE(dup_bad_fd_is_ebadf) {
    EXPECT_ERRNO(dup(-1), EBADF);
    EXPECT_ERRNO(dup(9999), EBADF);
}

CASE(dup2_onto_itself_returns_fd_and_bad_is_ebadf) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    EXPECT_EQ(dup2(fd, fd), fd);
    EXPECT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC); /* unchanged */
    EXPECT_ERRNO(dup2(9999, 9999), EBADF);
    EXPECT_ERRNO(dup2(-1, 10), EBADF);
}

CASE(dup2_replaces_an_open_target) {
    int a = open_file("a", "AAAA");
    int b = open_file("b", "BB");
    EXPECT_EQ(dup2(a, b), b);
    struct stat sa, sb;
    EXPECT_OK(fstat(a, &sa));
    EXPECT_OK(fstat(b, &sb));
    EXPECT_EQ(sa.st_ino, sb.st_ino);
    EXPECT_EQ(sb.st_size, 4);
}

CASE(dup2_clears_cloexec_on_the_new_fd) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    EXPECT_EQ(dup2(fd, 20), 20);
    EXPECT_EQ(fcntl(20, F_GETFD), 0);
    EXPECT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
}

CASE(dup2_target_out_of_range_is_ebadf) {
    int fd = open("/dev/null", O_RDONLY);
    struct rlimit rl;
    EXPECT_OK(getrlimit(RLIMIT_NOFILE, &rl));
    EXPECT_ERRNO(dup2(fd, -1), EBADF);
    EXPECT_ERRNO(dup2(fd, (int)rl.rlim_cur), EBADF);
    EXPECT_ERRNO(dup2(fd, INT_MAX), EBADF);
}

CASE(dup3_same_fd_is_einval) {
    int fd = open("/dev/null", O_RDONLY);
    EXPECT_ERRNO(dup3(fd, fd, 0), EINVAL);
    EXPECT_ERRNO(dup3(fd, fd, O_CLOEXEC), EINVAL);
}

CASE(dup3_bad_flags_is_einval) {
    int fd = open("/dev/null", O_RDONLY);
    EXPECT_ERRNO(dup3(fd, 20, O_NONBLOCK), EINVAL);
    EXPECT_ERRNO(dup3(fd, 20, 0x1), EINVAL);
    EXPECT(!is_open(20));
}

CASE(dup3_o_cloexec_sets_the_flag) {
    int fd = open("/dev/null", O_RDONLY);
    EXPECT_EQ(dup3(fd, 20, O_CLOEXEC), 20);
    EXPECT_EQ(fcntl(20, F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(dup3(fd, 21, 0), 21);
    EXPECT_EQ(fcntl(21, F_GETFD), 0);
}

/* ---- fcntl ---- */

CASE(fcntl_dupfd_returns_lowest_at_or_above_arg) {
    int fd = open("/dev/null", O_RDONLY);
    EXPECT_EQ(fcntl(fd, F_DUPFD, 30), 30);
    EXPECT_EQ(fcntl(fd, F_DUPFD, 30), 31);
    EXPECT_OK(close(30));
    EXPECT_EQ(fcntl(fd, F_DUPFD, 30), 30);
    EXPECT_EQ(fcntl(30, F_GETFD), 0);
}

CASE(fcntl_dupfd_cloexec_sets_the_flag) {
    int fd = open("/dev/null", O_RDONLY);
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 40);
    EXPECT_EQ(d, 40);
    EXPECT_EQ(fcntl(d, F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(fcntl(fd, F_GETFD), 0);
}

CASE(fcntl_dupfd_negative_or_over_limit_is_einval) {
    int fd = open("/dev/null", O_RDONLY);
    struct rlimit rl;
    EXPECT_OK(getrlimit(RLIMIT_NOFILE, &rl));
    EXPECT_ERRNO(fcntl(fd, F_DUPFD, -1), EINVAL);
    EXPECT_ERRNO(fcntl(fd, F_DUPFD, (int)rl.rlim_cur), EINVAL);
    EXPECT_ERRNO(fcntl(fd, F_DUPFD_CLOEXEC, INT_MAX), EINVAL);
}

CASE(fcntl_getfd_setfd_roundtrip) {
    int fd = open("/dev/null", O_RDONLY);
    EXPECT_EQ(fcntl(fd, F_GETFD), 0);
    EXPECT_OK(fcntl(fd, F_SETFD, FD_CLOEXEC));
    EXPECT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
    EXPECT_OK(fcntl(fd, F_SETFD, 0));
    EXPECT_EQ(fcntl(fd, F_GETFD), 0);
}

CASE(fcntl_getfl_reports_access_mode_and_flags) {
    int r = open("/dev/null", O_RDONLY);
    int w = open("/dev/null", O_WRONLY | O_APPEND);
    int rw = open("/dev/null", O_RDWR | O_NONBLOCK);
    EXPECT_EQ(fcntl(r, F_GETFL) & O_ACCMODE, O_RDONLY);
    EXPECT_EQ(fcntl(w, F_GETFL) & O_ACCMODE, O_WRONLY);
    EXPECT(fcntl(w, F_GETFL) & O_APPEND);
    EXPECT_EQ(fcntl(rw, F_GETFL) & O_ACCMODE, O_RDWR);
    EXPECT(fcntl(rw, F_GETFL) & O_NONBLOCK);
    EXPECT(!(fcntl(r, F_GETFL) & (O_APPEND | O_NONBLOCK)));
}

CASE(fcntl_getfl_on_o_path_fd_reports_o_path) {
    int fd = open(".", O_PATH);
    EXPECT(fd >= 0);
    EXPECT(fcntl(fd, F_GETFL) & O_PATH);
}

CASE(fcntl_getfl_hides_creation_flags) {
    int fd = open("f", O_CREAT | O_EXCL | O_TRUNC | O_RDWR, 0644);
    EXPECT(fd >= 0);
    EXPECT_EQ(fcntl(fd, F_GETFL) & (O_CREAT | O_EXCL | O_TRUNC), 0);
}

CASE(fcntl_setfl_o_append_makes_writes_append) {
    int fd = open_file("f", "abc");
    EXPECT_OK(fcntl(fd, F_SETFL, O_APPEND));
    EXPECT(fcntl(fd, F_GETFL) & O_APPEND);
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    EXPECT_EQ(write(fd, "d", 1), 1);
    char buf[8] = {0};
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 4);
    EXPECT_STREQ(buf, "abcd");
    EXPECT_OK(fcntl(fd, F_SETFL, 0));
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    EXPECT_EQ(write(fd, "X", 1), 1);
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 4);
    EXPECT_STREQ(buf, "Xbcd");
}

CASE(fcntl_setfl_o_nonblock_makes_empty_pipe_read_eagain) {
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(fcntl(p[0], F_SETFL, O_NONBLOCK));
    EXPECT(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    char c;
    EXPECT_ERRNO(read(p[0], &c, 1), EAGAIN);
    EXPECT_EQ(write(p[1], "z", 1), 1);
    EXPECT_EQ(read(p[0], &c, 1), 1);
    EXPECT_EQ(c, 'z');
}

CASE(fcntl_setfl_cannot_change_access_mode) {
    int fd = open_file("f", "abc");
    close(fd);
    fd = open("f", O_RDONLY);
    EXPECT_OK(fcntl(fd, F_SETFL, O_RDWR | O_APPEND));
    EXPECT_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    EXPECT_ERRNO(write(fd, "x", 1), EBADF);
}

CASE(fcntl_unknown_cmd_is_einval) {
    int fd = open("/dev/null", O_RDONLY);
    EXPECT_ERRNO(fcntl(fd, 12345, 0), EINVAL);
}

CASE(fcntl_bad_fd_is_ebadf) {
    EXPECT_ERRNO(fcntl(-1, F_GETFD), EBADF);
    EXPECT_ERRNO(fcntl(9999, F_GETFL), EBADF);
    EXPECT_ERRNO(fcntl(9999, F_DUPFD, 0), EBADF);
    EXPECT_ERRNO(fcntl(9999, F_SETFD, FD_CLOEXEC), EBADF);
}

/* ---- close / close_range ---- */

CASE(close_twice_is_ebadf) {
    int fd = open("/dev/null", O_RDONLY);
    EXPECT_OK(close(fd));
    EXPECT_ERRNO(close(fd), EBADF);
    EXPECT_ERRNO(close(-1), EBADF);
}

CASE(close_range_closes_only_the_range) {
    int fd = open("/dev/null", O_RDONLY);
    for (int i = 50; i <= 55; i++) EXPECT_EQ(dup2(fd, i), i);
    EXPECT_OK(syscall(SYS_close_range, 51, 54, 0));
    EXPECT(is_open(50));
    for (int i = 51; i <= 54; i++) EXPECT(!is_open(i));
    EXPECT(is_open(55));
    EXPECT_OK(syscall(SYS_close_range, 50, ~0U, 0));
    EXPECT(!is_open(50));
    EXPECT(!is_open(55));
    EXPECT(is_open(fd));
}

CASE(close_range_cloexec_marks_instead_of_closing) {
    int fd = open("/dev/null", O_RDONLY);
    EXPECT_EQ(dup2(fd, 60), 60);
    EXPECT_EQ(dup2(fd, 61), 61);
    EXPECT_OK(syscall(SYS_close_range, 60, 61, CLOSE_RANGE_CLOEXEC));
    EXPECT_EQ(fcntl(60, F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(fcntl(61, F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(fcntl(fd, F_GETFD), 0);
}

CASE(close_range_bad_flags_or_reversed_range_is_einval) {
    int fd = open("/dev/null", O_RDONLY);
    EXPECT_ERRNO(syscall(SYS_close_range, 10, 5, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_close_range, fd, fd, 0x80), EINVAL);
    EXPECT(is_open(fd));
}

/* ---- bad descriptors ---- */

CASE(operations_on_fd_minus_one_are_ebadf) {
    char buf[4];
    struct stat st;
    EXPECT_ERRNO(read(-1, buf, 1), EBADF);
    EXPECT_ERRNO(write(-1, "x", 1), EBADF);
    EXPECT_ERRNO(fstat(-1, &st), EBADF);
    EXPECT_ERRNO(lseek(-1, 0, SEEK_SET), EBADF);
    EXPECT_ERRNO(pread(-1, buf, 1, 0), EBADF);
    EXPECT_ERRNO(fsync(-1), EBADF);
}

CASE(operations_on_huge_fd_are_ebadf) {
    char buf[4];
    struct stat st;
    int fds[] = {1000000, INT_MAX};
    for (int i = 0; i < 2; i++) {
        int fd = fds[i];
        EXPECT_ERRNO(read(fd, buf, 1), EBADF);
        EXPECT_ERRNO(write(fd, "x", 1), EBADF);
        EXPECT_ERRNO(fstat(fd, &st), EBADF);
        EXPECT_ERRNO(lseek(fd, 0, SEEK_SET), EBADF);
        EXPECT_ERRNO(close(fd), EBADF);
    }
}

CASE(write_to_read_only_fd_is_ebadf) {
    int fd = open_file("f", "abc");
    close(fd);
    fd = open("f", O_RDONLY);
    EXPECT_ERRNO(write(fd, "x", 1), EBADF);
    EXPECT_ERRNO(pwrite(fd, "x", 1, 0), EBADF);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 3);
}

CASE(read_from_write_only_fd_is_ebadf) {
    int fd = open_file("f", "abc");
    close(fd);
    fd = open("f", O_WRONLY);
    char c;
    EXPECT_ERRNO(read(fd, &c, 1), EBADF);
    EXPECT_ERRNO(pread(fd, &c, 1, 0), EBADF);
}

CASE(bad_fd_checked_before_bad_buffer) {
    EXPECT_ERRNO(syscall(SYS_read, 9999, (void *)1, 1), EBADF);
    EXPECT_ERRNO(syscall(SYS_fstat, 9999, (void *)1), EBADF);
}

/* ---- allocation and limits ---- */

CASE(lowest_free_fd_is_reused_after_close) {
    int a = open("/dev/null", O_RDONLY);
    int b = open("/dev/null", O_RDONLY);
    EXPECT_OK(close(a));
    EXPECT_EQ(open("/dev/null", O_RDONLY), a);
    EXPECT_OK(close(0));
    EXPECT_EQ(open("/dev/null", O_RDONLY), 0);
    int p[2];
    EXPECT_OK(close(a));
    EXPECT_OK(close(b));
    EXPECT_OK(pipe(p));
    EXPECT_EQ(p[0], a);
    EXPECT_EQ(p[1], b);
}

CASE(open_beyond_lowered_rlimit_nofile_is_emfile) {
    struct rlimit rl = {64, 64};
    EXPECT_OK(setrlimit(RLIMIT_NOFILE, &rl));
    int last = -1, fd;
    while ((fd = open("/dev/null", O_RDONLY)) >= 0) last = fd;
    EXPECT_EQ(errno, EMFILE);
    EXPECT_EQ(last, 63);
    int p[2];
    EXPECT_ERRNO(pipe(p), EMFILE);
    EXPECT_ERRNO(dup(0), EMFILE);
    EXPECT_ERRNO(fcntl(0, F_DUPFD, 0), EMFILE);
    EXPECT_ERRNO(dup2(0, 64), EBADF);
    EXPECT_OK(close(last));
    EXPECT_EQ(dup(0), last);
}

/* ---- offsets ---- */

CASE(dup_shares_the_file_offset) {
    int fd = open_file("f", "0123456789");
    int d = dup(fd);
    EXPECT_EQ(lseek(fd, 4, SEEK_SET), 4);
    EXPECT_EQ(lseek(d, 0, SEEK_CUR), 4);
    char c;
    EXPECT_EQ(read(d, &c, 1), 1);
    EXPECT_EQ(c, '4');
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 5);
}

CASE(dup_shares_status_flags_but_not_cloexec) {
    int fd = open_file("f", "abc");
    int d = dup(fd);
    EXPECT_OK(fcntl(fd, F_SETFL, O_APPEND));
    EXPECT(fcntl(d, F_GETFL) & O_APPEND);
    EXPECT_OK(fcntl(fd, F_SETFD, FD_CLOEXEC));
    EXPECT_EQ(fcntl(d, F_GETFD), 0);
}

CASE(two_opens_have_independent_offsets) {
    int fd = open_file("f", "0123456789");
    int g = open("f", O_RDONLY);
    EXPECT_EQ(lseek(fd, 6, SEEK_SET), 6);
    EXPECT_EQ(lseek(g, 0, SEEK_CUR), 0);
    char c;
    EXPECT_EQ(read(g, &c, 1), 1);
    EXPECT_EQ(c, '0');
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 6);
}

CASE(fork_child_shares_the_file_offset) {
    int fd = open_file("f", "0123456789");
    pid_t pid = fork();
    if (pid == 0) {
        char buf[3];
        _exit(read(fd, buf, 3) == 3 ? 0 : 1);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 3);
}

/* ---- pipes ---- */

CASE(pipe_fds_reject_seeking_with_espipe) {
    int p[2];
    EXPECT_OK(pipe(p));
    char c;
    EXPECT_ERRNO(lseek(p[0], 0, SEEK_SET), ESPIPE);
    EXPECT_ERRNO(lseek(p[1], 0, SEEK_CUR), ESPIPE);
    EXPECT_ERRNO(pread(p[0], &c, 1, 0), ESPIPE);
    EXPECT_ERRNO(pwrite(p[1], "x", 1, 0), ESPIPE);
}

CASE(pipe_ends_have_the_right_access_modes) {
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_EQ(fcntl(p[0], F_GETFL) & O_ACCMODE, O_RDONLY);
    EXPECT_EQ(fcntl(p[1], F_GETFL) & O_ACCMODE, O_WRONLY);
    char c;
    EXPECT_ERRNO(write(p[0], "x", 1), EBADF);
    EXPECT_ERRNO(read(p[1], &c, 1), EBADF);
}

CASE(pipe2_flags_and_bad_flags) {
    int p[2];
    EXPECT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
    EXPECT_EQ(fcntl(p[0], F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(fcntl(p[1], F_GETFD), FD_CLOEXEC);
    EXPECT(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    EXPECT_ERRNO(pipe2(p, O_APPEND), EINVAL);
    EXPECT_ERRNO(pipe2(p, 0x1), EINVAL);
}

CASE(pipe_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_pipe2, (int *)1, 0), EFAULT);
    void *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(page != MAP_FAILED);
    EXPECT_ERRNO(syscall(SYS_pipe2, page, 0), EFAULT);
}

/* ---- exec ---- */

CASE(cloexec_fd_is_closed_across_exec) {
    int fd = open("/dev/null", O_RDONLY);
    EXPECT_EQ(dup3(fd, 9, O_CLOEXEC), 9);
    EXPECT_EQ(fd_open_after_exec(9), 0);
}

CASE(fd_without_cloexec_survives_exec) {
    int fd = open("/dev/null", O_RDONLY);
    EXPECT_EQ(dup2(fd, 9), 9);
    EXPECT_EQ(fd_open_after_exec(9), 1);
}

/* ---- CLONE_FILES and CLONE_FS ----
 * A child made by clone() (no CLONE_VM: it runs on its copy of a static stack) shares the
 * descriptor table with CLONE_FILES and the cwd and umask with CLONE_FS, and only then. */

static char clone_stack[128 * 1024] __attribute__((aligned(16)));

/* Runs fn(arg) in a clone(flags | SIGCHLD) child; returns its exit status. */
static int run_clone(int flags, int (*fn)(void *), void *arg) {
    pid_t pid = clone(fn, clone_stack + sizeof clone_stack, flags | SIGCHLD, arg);
    if (pid < 0) compat_fail(__FILE__, __LINE__, "clone: %s", strerror(errno));
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) compat_fail(__FILE__, __LINE__, "waitpid: %s", strerror(errno));
    if (!WIFEXITED(st)) compat_fail(__FILE__, __LINE__, "the clone child died of signal %d", WTERMSIG(st));
    return WEXITSTATUS(st);
}

static int do_nothing(void *arg) { (void)arg; return 0; }

/* Opens "f" and closes *arg; exits with the new descriptor's number (255 on failure). */
static int open_f_and_close_arg(void *arg) {
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    if (fd < 0 || close(*(int *)arg) != 0) return 255;
    return fd;
}

CASE(clone_files_child_exit_leaves_parent_fds_open) {
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_EQ(run_clone(CLONE_FILES, do_nothing, NULL), 0);
    EXPECT_OK(fcntl(1, F_GETFD));
    EXPECT(is_open(p[0]));
    EXPECT_EQ(write(p[1], "x", 1), 1);
    char c;
    EXPECT_EQ(read(p[0], &c, 1), 1);
    EXPECT_EQ(c, 'x');
}

CASE(clone_files_child_open_and_close_are_seen_by_parent) {
    int p[2];
    EXPECT_OK(pipe(p));
    int fd = run_clone(CLONE_FILES, open_f_and_close_arg, &p[1]);
    EXPECT(fd >= 0 && fd < 255);
    EXPECT(is_open(fd));
    struct stat a, b;
    EXPECT_OK(fstat(fd, &a));
    EXPECT_OK(stat("f", &b));
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_ERRNO(fcntl(p[1], F_GETFD), EBADF);
    char c;
    EXPECT_EQ(read(p[0], &c, 1), 0); /* the only write end is gone */
}

CASE(clone_without_clone_files_child_open_and_close_stay_private) {
    int p[2];
    EXPECT_OK(pipe(p));
    int fd = run_clone(0, open_f_and_close_arg, &p[1]);
    EXPECT(fd >= 0 && fd < 255);
    EXPECT(!is_open(fd));
    EXPECT(is_open(p[1]));
    EXPECT_EQ(write(p[1], "x", 1), 1);
}

/* Closes fds[0] in the shared table, unshares it, closes fds[1] and opens "f" in its own copy;
 * exits with the new descriptor's number (250 and up on failure). */
static int close_unshare_close(void *arg) {
    int *fds = arg;
    if (close(fds[0]) != 0) return 250;
    if (unshare(CLONE_FILES) != 0) return 251;
    if (close(fds[1]) != 0) return 252;
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    return fd < 0 ? 253 : fd;
}

CASE(unshare_clone_files_gives_the_child_its_own_table) {
    int p[2];
    EXPECT_OK(pipe(p));
    int fds[2] = {dup(p[1]), dup(p[1])};
    EXPECT(fds[0] >= 0 && fds[1] >= 0);
    int fd = run_clone(CLONE_FILES, close_unshare_close, fds);
    EXPECT(fd < 250);
    EXPECT(!is_open(fds[0])); /* closed while shared */
    EXPECT(is_open(fds[1]));  /* closed after unshare */
    EXPECT(!is_open(fd));     /* opened after unshare */
    EXPECT_EQ(write(fds[1], "x", 1), 1);
}

static int chdir_sub_and_umask(void *arg) {
    (void)arg;
    if (chdir("sub") != 0) return 1;
    umask(027);
    return 0;
}

CASE(clone_fs_child_chdir_and_umask_are_seen_by_parent) {
    EXPECT_OK(mkdir("sub", 0755));
    struct stat sub, cwd;
    EXPECT_OK(stat("sub", &sub));
    umask(022);
    EXPECT_EQ(run_clone(CLONE_FS, chdir_sub_and_umask, NULL), 0);
    EXPECT_OK(stat(".", &cwd));
    EXPECT_EQ(cwd.st_ino, sub.st_ino);
    char buf[PATH_MAX];
    EXPECT(getcwd(buf, sizeof buf) != NULL);
    EXPECT_STREQ(strrchr(buf, '/'), "/sub");
    EXPECT_EQ(umask(022), 027);
}

CASE(clone_without_clone_fs_child_chdir_and_umask_stay_private) {
    EXPECT_OK(mkdir("sub", 0755));
    struct stat here, cwd;
    EXPECT_OK(stat(".", &here));
    umask(022);
    EXPECT_EQ(run_clone(0, chdir_sub_and_umask, NULL), 0);
    EXPECT_OK(stat(".", &cwd));
    EXPECT_EQ(cwd.st_ino, here.st_ino);
    EXPECT_EQ(umask(022), 022);
}

/* unshare(CLONE_FS) in one thread of several gives that thread alone its own cwd and umask
 * (Go's LockOSThread pattern; Go's runtime tests check a new thread does not inherit it). */
static struct stat fs_thread_cwd;
static mode_t fs_thread_umask;
static void *unshare_fs_and_chdir(void *arg) {
    (void)arg;
    if (unshare(CLONE_FS) != 0) return (void *)1;
    if (chdir("sub") != 0) return (void *)2;
    umask(077);
    if (stat(".", &fs_thread_cwd) != 0) return (void *)3;
    fs_thread_umask = umask(077);
    return NULL;
}

static void *report_cwd(void *arg) {
    return stat(".", (struct stat *)arg) == 0 ? NULL : (void *)1;
}

CASE(unshare_clone_fs_in_a_thread_keeps_its_cwd_and_umask_to_itself) {
    EXPECT_OK(mkdir("sub", 0755));
    struct stat here, sub, cwd, seen;
    EXPECT_OK(stat(".", &here));
    EXPECT_OK(stat("sub", &sub));
    umask(022);
    pthread_t t;
    void *r = (void *)-1;
    EXPECT_EQ(pthread_create(&t, NULL, unshare_fs_and_chdir, NULL), 0);
    EXPECT_EQ(pthread_join(t, &r), 0);
    EXPECT(r == NULL);
    EXPECT_EQ(fs_thread_cwd.st_ino, sub.st_ino); /* the thread moved */
    EXPECT_EQ(fs_thread_umask, 077);
    EXPECT_OK(stat(".", &cwd));
    EXPECT_EQ(cwd.st_ino, here.st_ino); /* the process did not */
    EXPECT_EQ(umask(022), 022);
    EXPECT_EQ(pthread_create(&t, NULL, report_cwd, &seen), 0); /* nor does a new thread */
    EXPECT_EQ(pthread_join(t, &r), 0);
    EXPECT(r == NULL);
    EXPECT_EQ(seen.st_ino, here.st_ino);
}

CASE(proc_self_fd_reopens_a_pipe_end) {
    int p[2];
    EXPECT_OK(pipe(p));
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
    int w = open(path, O_WRONLY);
    EXPECT(w >= 0);
    EXPECT_EQ(write(w, "z", 1), 1);
    char c;
    EXPECT_EQ(read(p[0], &c, 1), 1);
    EXPECT_EQ(c, 'z');
    EXPECT_OK(close(p[1]));
    EXPECT_OK(close(w));
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    int r = open(path, O_RDONLY); /* a pipe without writers: no wait, EOF */
    EXPECT(r >= 0);
    EXPECT_EQ(read(r, &c, 1), 0);
}

CASE(proc_self_fd_reopens_an_unlinked_file) {
    int fd = open("/tmp/compat-unlinked", O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT_EQ(write(fd, "kept", 4), 4);
    EXPECT_OK(unlink("/tmp/compat-unlinked"));
    char path[64], buf[8] = {0};
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int again = open(path, O_RDONLY);
    EXPECT(again >= 0);
    EXPECT_EQ(read(again, buf, sizeof buf), 4);
    EXPECT_STREQ(buf, "kept");
}

CASE(proc_self_fd_of_a_socket_is_enxio) {
    int sv[2];
    EXPECT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", sv[0]);
    EXPECT_ERRNO(open(path, O_RDWR), ENXIO);
}

CASE(dup3_same_fd_is_einval_before_the_fd_is_looked_at) {
    /* Linux compares the numbers first: EINVAL even for a closed descriptor (LTP dup3_02). */
    EXPECT_ERRNO(dup3(900, 900, 0), EINVAL);
    EXPECT_ERRNO(dup3(900, 900, O_CLOEXEC), EINVAL);
}

COMPAT_MAIN()

CASE(close_range_unshare_closes_in_a_copy_of_a_shared_table) {
    int fd = open("/", O_PATH);
    int other = open("/", O_RDONLY);
    EXPECT(fd >= 0 && other >= 0);
    /* a fork-like child that shares the descriptor table (CLONE_FILES) */
    long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        if (syscall(SYS_close_range, fd, fd, CLOSE_RANGE_UNSHARE) != 0) _exit(1);
        if (fcntl(fd, F_GETFD) != -1) _exit(2); /* closed in its own copy */
        close(other); /* and now its table is its own: the parent keeps this one too */
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(st, 0);
    EXPECT_OK(fcntl(fd, F_GETFD));
    EXPECT_OK(fcntl(other, F_GETFD));
}
