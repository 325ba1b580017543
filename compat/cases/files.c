/* Regular files: open flags, I/O, seeking, truncation, stat family, permissions, times,
 * rename, links, symlinks and FIFOs. */
#include "../compat.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/xattr.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/resource.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sched.h>
#include <linux/fs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <utime.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* Creates `name` in the scratch directory holding `text`; returns its path. */
static const char *make_file(const char *name, const char *text) {
    const char *p = scratch_path(name);
    int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) compat_fail(__FILE__, __LINE__, "cannot create %s: %s", p, strerror(errno));
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) compat_fail(__FILE__, __LINE__, "cannot write %s", p);
    close(fd);
    return p;
}

/* A page the process may not touch. */
static void *noaccess_page(void) {
    void *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) compat_fail(__FILE__, __LINE__, "mmap failed");
    return p;
}

/* ---- open / openat ---- */

CASE(open_o_creat_creates_file_with_mode) {
    umask(0);
    int fd = open("f", O_CREAT | O_WRONLY, 0640);
    EXPECT(fd >= 0);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0640);
    EXPECT_EQ(st.st_size, 0);
}

CASE(open_o_creat_applies_umask) {
    umask(022);
    int fd = open("f", O_CREAT | O_WRONLY, 0666);
    EXPECT(fd >= 0);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_mode & 07777, 0644);
}

CASE(open_missing_without_o_creat_is_enoent) {
    EXPECT_ERRNO(open("nothere", O_RDWR), ENOENT);
}

CASE(open_o_excl_existing_is_eexist) {
    make_file("f", "x");
    EXPECT_ERRNO(open("f", O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST);
}

CASE(open_o_excl_on_dangling_symlink_is_eexist) {
    EXPECT_OK(symlink("target-missing", "link"));
    EXPECT_ERRNO(open("link", O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST);
    EXPECT_ERRNO(access("target-missing", F_OK), ENOENT);
}

CASE(open_o_creat_through_dangling_symlink_creates_target) {
    EXPECT_OK(symlink("target", "link"));
    int fd = open("link", O_CREAT | O_WRONLY, 0644);
    EXPECT(fd >= 0);
    EXPECT_OK(access("target", F_OK));
}

CASE(open_o_trunc_empties_file) {
    make_file("f", "hello world");
    int fd = open("f", O_RDWR | O_TRUNC);
    EXPECT(fd >= 0);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 0);
}

CASE(open_o_append_writes_at_end) {
    make_file("f", "abc");
    int fd = open("f", O_RDWR | O_APPEND);
    EXPECT(fd >= 0);
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    EXPECT_EQ(write(fd, "de", 2), 2);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 5);
    char buf[8] = {0};
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 5);
    EXPECT_STREQ(buf, "abcde");
}

CASE(open_o_directory_on_file_is_enotdir) {
    make_file("f", "x");
    EXPECT_ERRNO(open("f", O_RDONLY | O_DIRECTORY), ENOTDIR);
}

CASE(open_o_creat_with_o_directory_is_einval) {
    EXPECT_ERRNO(open("newdir", O_CREAT | O_DIRECTORY | O_RDONLY, 0755), EINVAL);
}

CASE(open_directory_for_writing_is_eisdir) {
    EXPECT_ERRNO(open(".", O_WRONLY), EISDIR);
    EXPECT_ERRNO(open(".", O_RDWR), EISDIR);
}

CASE(open_o_nofollow_on_symlink_is_eloop) {
    make_file("f", "x");
    EXPECT_OK(symlink("f", "link"));
    EXPECT_ERRNO(open("link", O_RDONLY | O_NOFOLLOW), ELOOP);
}

CASE(open_o_path_fd_allows_fstat_but_not_read) {
    make_file("f", "hello");
    int fd = open("f", O_PATH);
    EXPECT(fd >= 0);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 5);
    char c;
    EXPECT_ERRNO(read(fd, &c, 1), EBADF);
    EXPECT_ERRNO(write(fd, "x", 1), EBADF);
}

CASE(open_o_path_fd_names_a_file_and_allows_nothing_else) {
    make_file("f", "hello");
    EXPECT_OK(mkdir("d", 0755));
    int fd = open("f", O_PATH);
    int dfd = open("d", O_PATH | O_DIRECTORY);
    EXPECT(fd >= 0 && dfd >= 0);
    /* what only names the file works */
    int d2 = dup(fd);
    EXPECT(d2 >= 0);
    EXPECT_OK(fcntl(fd, F_SETFD, FD_CLOEXEC));
    EXPECT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
    EXPECT(fcntl(fd, F_DUPFD_CLOEXEC, 10) >= 10);
    struct statfs sfs;
    EXPECT_OK(fstatfs(fd, &sfs));
    int in = openat(dfd, "..", O_RDONLY | O_DIRECTORY);
    EXPECT(in >= 0);
    EXPECT_OK(fchdir(dfd));
    EXPECT_OK(fchdir(in));
    char buf[64];
    snprintf(buf, sizeof buf, "/proc/self/fd/%d", fd);
    int reopened = open(buf, O_RDONLY); /* a real open of the same file */
    EXPECT(reopened >= 0);
    EXPECT_EQ(read(reopened, buf, 5), 5);
    /* anything that touches the file itself is EBADF */
    EXPECT_ERRNO(fchmod(fd, 0600), EBADF);
    EXPECT_ERRNO(fchown(fd, 0, 0), EBADF);
    EXPECT_ERRNO(ftruncate(fd, 0), EBADF);
    EXPECT_ERRNO(fsync(fd), EBADF);
    EXPECT_ERRNO(lseek(fd, 0, SEEK_SET), EBADF);
    EXPECT_ERRNO(ioctl(fd, FIONREAD, &in), EBADF);
    EXPECT_ERRNO(fgetxattr(fd, "user.x", NULL, 0), EBADF);
    EXPECT_ERRNO(futimens(fd, NULL), EBADF);
    EXPECT_ERRNO(flock(fd, LOCK_SH), EBADF);
    EXPECT_ERRNO(fcntl(fd, F_SETFL, O_NONBLOCK), EBADF);
    EXPECT_ERRNO(fcntl(fd, F_GETLK, &(struct flock){.l_type = F_RDLCK}), EBADF);
    EXPECT(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EBADF);
    EXPECT_ERRNO(getdents64(dfd, buf, sizeof buf), EBADF);
    EXPECT_ERRNO(accept(fd, NULL, NULL), EBADF);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), EBADF);
    struct pollfd p = {fd, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_EQ(p.revents, POLLNVAL);
}

CASE(open_o_path_o_nofollow_opens_symlink_itself) {
    EXPECT_OK(symlink("nowhere", "link"));
    int fd = open("link", O_PATH | O_NOFOLLOW);
    EXPECT(fd >= 0);
    struct stat st;
    EXPECT_OK(fstatat(fd, "", &st, AT_EMPTY_PATH));
    EXPECT(S_ISLNK(st.st_mode));
}

CASE(open_o_cloexec_sets_fd_cloexec) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    EXPECT(fd >= 0);
    EXPECT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
    int fd2 = open("/dev/null", O_RDONLY);
    EXPECT(fd2 >= 0);
    EXPECT_EQ(fcntl(fd2, F_GETFD), 0);
}

CASE(open_bad_path_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_openat, AT_FDCWD, (char *)1, O_RDONLY), EFAULT);
    EXPECT_ERRNO(syscall(SYS_openat, AT_FDCWD, (char *)noaccess_page(), O_RDONLY), EFAULT);
}

CASE(open_empty_path_is_enoent) {
    EXPECT_ERRNO(open("", O_RDONLY), ENOENT);
}

CASE(open_name_longer_than_name_max_is_enametoolong) {
    char name[NAME_MAX + 2];
    memset(name, 'a', NAME_MAX + 1);
    name[NAME_MAX + 1] = 0;
    EXPECT_ERRNO(open(name, O_CREAT | O_RDWR, 0644), ENAMETOOLONG);
    name[NAME_MAX] = 0; /* exactly NAME_MAX is fine */
    int fd = open(name, O_CREAT | O_RDWR, 0644);
    EXPECT(fd >= 0);
}

CASE(open_path_longer_than_path_max_is_enametoolong) {
    static char path[PATH_MAX + 16];
    for (int i = 0; i < PATH_MAX + 8; i += 2) { path[i] = 'a'; path[i + 1] = '/'; }
    path[PATH_MAX + 8] = 0;
    EXPECT_ERRNO(open(path, O_RDONLY), ENAMETOOLONG);
}

CASE(openat_bad_dirfd_is_ebadf) {
    EXPECT_ERRNO(openat(9999, "f", O_RDONLY), EBADF);
    EXPECT_ERRNO(openat(-5, "f", O_RDONLY), EBADF);
}

CASE(openat_dirfd_on_file_is_enotdir) {
    make_file("f", "x");
    int fd = open("f", O_RDONLY);
    EXPECT(fd >= 0);
    EXPECT_ERRNO(openat(fd, "g", O_RDONLY), ENOTDIR);
}

CASE(openat_absolute_path_ignores_dirfd) {
    int fd = openat(9999, "/dev/null", O_RDONLY);
    EXPECT(fd >= 0);
}

/* ---- read / write / pread / pwrite / readv / writev ---- */

CASE(pwrite_and_pread_do_not_move_offset) {
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "0123456789", 10), 10);
    EXPECT_EQ(lseek(fd, 2, SEEK_SET), 2);
    EXPECT_EQ(pwrite(fd, "XY", 2, 6), 2);
    char buf[4] = {0};
    EXPECT_EQ(pread(fd, buf, 3, 5), 3);
    EXPECT_STREQ(buf, "5XY");
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 2);
    EXPECT_EQ(read(fd, buf, 1), 1);
    EXPECT_EQ(buf[0], '2');
}

CASE(pread_negative_offset_is_einval) {
    make_file("f", "abc");
    int fd = open("f", O_RDWR);
    char c;
    EXPECT_ERRNO(pread(fd, &c, 1, -1), EINVAL);
    EXPECT_ERRNO(pwrite(fd, &c, 1, -1), EINVAL);
}

CASE(read_at_eof_returns_zero) {
    make_file("f", "abc");
    int fd = open("f", O_RDONLY);
    char buf[8];
    EXPECT_EQ(read(fd, buf, sizeof buf), 3);
    EXPECT_EQ(read(fd, buf, sizeof buf), 0);
    EXPECT_EQ(pread(fd, buf, sizeof buf, 100), 0);
}

CASE(read_zero_bytes_returns_zero) {
    make_file("f", "abc");
    int fd = open("f", O_RDONLY);
    char c;
    EXPECT_EQ(read(fd, &c, 0), 0);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 0);
}

CASE(pwrite_on_o_append_file_appends) {
    make_file("f", "abc");
    int fd = open("f", O_WRONLY | O_APPEND);
    EXPECT_EQ(pwrite(fd, "Z", 1, 0), 1);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 4);
}

CASE(readv_scatters_into_iovecs) {
    make_file("f", "abcdefgh");
    int fd = open("f", O_RDONLY);
    char a[3] = {0}, b[6] = {0};
    struct iovec iov[2] = {{a, 2}, {b, 5}};
    EXPECT_EQ(readv(fd, iov, 2), 7);
    EXPECT_STREQ(a, "ab");
    EXPECT_STREQ(b, "cdefg");
}

CASE(writev_gathers_iovecs) {
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    struct iovec iov[3] = {{"he", 2}, {"", 0}, {"llo", 3}};
    EXPECT_EQ(writev(fd, iov, 3), 5);
    char buf[8] = {0};
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 5);
    EXPECT_STREQ(buf, "hello");
}

CASE(writev_iovcnt_over_iov_max_is_einval) {
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    static struct iovec iov[1025];
    for (int i = 0; i < 1025; i++) { iov[i].iov_base = "x"; iov[i].iov_len = 1; }
    EXPECT_ERRNO(writev(fd, iov, 1025), EINVAL);
    EXPECT_ERRNO(writev(fd, iov, -1), EINVAL);
}

CASE(readv_bad_iovec_pointer_is_efault) {
    make_file("f", "abc");
    int fd = open("f", O_RDONLY);
    EXPECT_ERRNO(syscall(SYS_readv, fd, (struct iovec *)1, 1), EFAULT);
}

CASE(read_into_bad_buffer_is_efault) {
    make_file("f", "abc");
    int fd = open("f", O_RDONLY);
    EXPECT_ERRNO(syscall(SYS_read, fd, (void *)1, 3), EFAULT);
    EXPECT_ERRNO(syscall(SYS_read, fd, noaccess_page(), 3), EFAULT);
}

CASE(write_from_bad_buffer_is_efault) {
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    EXPECT_ERRNO(syscall(SYS_write, fd, (void *)1, 3), EFAULT);
    EXPECT_ERRNO(syscall(SYS_write, fd, noaccess_page(), 3), EFAULT);
}

/* A large write into a new file stops where its buffer does: the bytes before the first
 * page it cannot read are written (and only they), a buffer it cannot read at all is EFAULT. */
CASE(large_write_from_a_partly_bad_buffer_writes_up_to_the_bad_page) {
    char *buf = mmap(NULL, 64 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(buf != MAP_FAILED);
    for (int i = 0; i < (64 << 10); i++) buf[i] = (char)(i * 7 + 1);
    EXPECT_OK(mprotect(buf + (48 << 10), 16 << 10, PROT_NONE));
    int fd = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644);
    EXPECT_EQ(write(fd, buf, 64 << 10), 48 << 10);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 48 << 10);
    char *back = malloc(48 << 10);
    EXPECT_EQ(pread(fd, back, 48 << 10, 0), 48 << 10);
    EXPECT_EQ(memcmp(back, buf, 48 << 10), 0);
    EXPECT_ERRNO(write(fd, buf + (48 << 10), 16 << 10), EFAULT);
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 48 << 10);
    free(back);
    close(fd);
}

/* ---- lseek ---- */

CASE(lseek_set_cur_end) {
    make_file("f", "0123456789");
    int fd = open("f", O_RDONLY);
    EXPECT_EQ(lseek(fd, 4, SEEK_SET), 4);
    EXPECT_EQ(lseek(fd, 3, SEEK_CUR), 7);
    EXPECT_EQ(lseek(fd, -2, SEEK_CUR), 5);
    EXPECT_EQ(lseek(fd, -1, SEEK_END), 9);
    char c;
    EXPECT_EQ(read(fd, &c, 1), 1);
    EXPECT_EQ(c, '9');
    EXPECT_EQ(lseek(fd, 5, SEEK_END), 15);
}

CASE(lseek_negative_result_is_einval) {
    make_file("f", "0123456789");
    int fd = open("f", O_RDONLY);
    EXPECT_EQ(lseek(fd, 3, SEEK_SET), 3);
    EXPECT_ERRNO(lseek(fd, -1, SEEK_SET), EINVAL);
    EXPECT_ERRNO(lseek(fd, -4, SEEK_CUR), EINVAL);
    EXPECT_ERRNO(lseek(fd, -11, SEEK_END), EINVAL);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 3);
}

CASE(lseek_bad_whence_is_einval) {
    make_file("f", "abc");
    int fd = open("f", O_RDONLY);
    EXPECT_ERRNO(lseek(fd, 0, 42), EINVAL);
}

CASE(write_past_eof_leaves_zero_filled_gap) {
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    EXPECT_EQ(lseek(fd, 100, SEEK_SET), 100);
    EXPECT_EQ(write(fd, "x", 1), 1);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 101);
    char buf[100];
    memset(buf, 'q', sizeof buf);
    EXPECT_EQ(pread(fd, buf, 100, 0), 100);
    for (int i = 0; i < 100; i++) EXPECT_EQ(buf[i], 0);
}

CASE(lseek_seek_data_and_seek_hole_on_dense_file) {
    make_file("f", "0123456789");
    int fd = open("f", O_RDONLY);
    EXPECT_EQ(lseek(fd, 0, SEEK_DATA), 0);
    EXPECT_EQ(lseek(fd, 3, SEEK_DATA), 3);
    EXPECT_EQ(lseek(fd, 0, SEEK_HOLE), 10);
}

CASE(lseek_seek_data_at_or_past_eof_is_enxio) {
    make_file("f", "0123456789");
    int fd = open("f", O_RDONLY);
    EXPECT_ERRNO(lseek(fd, 10, SEEK_DATA), ENXIO);
    EXPECT_ERRNO(lseek(fd, 50, SEEK_HOLE), ENXIO);
}

/* ---- truncate / ftruncate ---- */

CASE(truncate_shrinks_and_extends_with_zeros) {
    make_file("f", "0123456789");
    EXPECT_OK(truncate("f", 4));
    struct stat st;
    EXPECT_OK(stat("f", &st));
    EXPECT_EQ(st.st_size, 4);
    EXPECT_OK(truncate("f", 8));
    EXPECT_OK(stat("f", &st));
    EXPECT_EQ(st.st_size, 8);
    int fd = open("f", O_RDONLY);
    char buf[8];
    EXPECT_EQ(read(fd, buf, 8), 8);
    EXPECT(memcmp(buf, "0123\0\0\0\0", 8) == 0);
}

CASE(ftruncate_keeps_file_offset) {
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    EXPECT_EQ(write(fd, "0123456789", 10), 10);
    EXPECT_OK(ftruncate(fd, 2));
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 10);
    EXPECT_EQ(write(fd, "z", 1), 1);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 11);
}

CASE(ftruncate_negative_length_is_einval) {
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    EXPECT_ERRNO(ftruncate(fd, -1), EINVAL);
    EXPECT_ERRNO(truncate("f", -1), EINVAL);
}

CASE(ftruncate_on_read_only_fd_is_einval) {
    make_file("f", "abc");
    int fd = open("f", O_RDONLY);
    EXPECT_ERRNO(ftruncate(fd, 0), EINVAL);
}

CASE(truncate_on_directory_is_eisdir) {
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_ERRNO(truncate("d", 0), EISDIR);
}

CASE(ftruncate_bad_fd_is_ebadf) {
    EXPECT_ERRNO(ftruncate(-1, 0), EBADF);
    EXPECT_ERRNO(ftruncate(9999, 0), EBADF);
}

/* ---- stat family ---- */

CASE(stat_reports_size_mode_and_nlink) {
    umask(0);
    int fd = open("f", O_CREAT | O_WRONLY, 0604);
    EXPECT_EQ(write(fd, "12345", 5), 5);
    struct stat st;
    EXPECT_OK(stat("f", &st));
    EXPECT(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0604);
    EXPECT_EQ(st.st_size, 5);
    EXPECT_EQ(st.st_nlink, 1);
    EXPECT_EQ(st.st_uid, geteuid());
    struct stat st2;
    EXPECT_OK(fstat(fd, &st2));
    EXPECT_EQ(st2.st_ino, st.st_ino);
    EXPECT_EQ(st2.st_dev, st.st_dev);
}

CASE(lstat_on_symlink_reports_the_link) {
    make_file("f", "12345");
    EXPECT_OK(symlink("f", "link"));
    struct stat st;
    EXPECT_OK(lstat("link", &st));
    EXPECT(S_ISLNK(st.st_mode));
    EXPECT_EQ(st.st_size, 1); /* length of the target "f" */
    EXPECT_OK(stat("link", &st));
    EXPECT(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_size, 5);
}

CASE(fstatat_at_empty_path_stats_the_fd) {
    make_file("f", "abcd");
    int fd = open("f", O_RDONLY);
    struct stat st;
    EXPECT_OK(fstatat(fd, "", &st, AT_EMPTY_PATH));
    EXPECT_EQ(st.st_size, 4);
    EXPECT_ERRNO(fstatat(fd, "", &st, 0), ENOENT);
}

CASE(fstatat_symlink_nofollow_stats_the_link) {
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_OK(symlink("missing", "d/link"));
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    struct stat st;
    EXPECT_OK(fstatat(dfd, "link", &st, AT_SYMLINK_NOFOLLOW));
    EXPECT(S_ISLNK(st.st_mode));
    EXPECT_ERRNO(fstatat(dfd, "link", &st, 0), ENOENT);
}

CASE(fstatat_bad_flags_is_einval) {
    struct stat st;
    EXPECT_ERRNO(syscall(SYS_newfstatat, AT_FDCWD, ".", &st, 0x40000000), EINVAL);
}

CASE(statx_reports_size_mode_and_nlink) {
    umask(0);
    int fd = open("f", O_CREAT | O_WRONLY, 0640);
    EXPECT_EQ(write(fd, "1234567", 7), 7);
    EXPECT_OK(link("f", "g"));
    struct statx sx;
    memset(&sx, 0, sizeof sx);
    EXPECT_OK(statx(AT_FDCWD, "f", 0, STATX_BASIC_STATS, &sx));
    EXPECT((sx.stx_mask & (STATX_SIZE | STATX_MODE | STATX_NLINK | STATX_TYPE)) ==
           (STATX_SIZE | STATX_MODE | STATX_NLINK | STATX_TYPE));
    EXPECT_EQ(sx.stx_size, 7);
    EXPECT(S_ISREG(sx.stx_mode));
    EXPECT_EQ(sx.stx_mode & 07777, 0640);
    EXPECT_EQ(sx.stx_nlink, 2);
    struct stat st;
    EXPECT_OK(stat("f", &st));
    EXPECT_EQ(sx.stx_ino, st.st_ino);
}

CASE(statx_reserved_mask_bit_is_einval) {
    struct statx sx;
    EXPECT_ERRNO(syscall(SYS_statx, AT_FDCWD, ".", 0, 0x80000000u, &sx), EINVAL);
}

CASE(stat_bad_buffer_is_efault) {
    make_file("f", "x");
    EXPECT_ERRNO(syscall(SYS_newfstatat, AT_FDCWD, "f", (void *)1, 0), EFAULT);
    int fd = open("f", O_RDONLY);
    EXPECT_ERRNO(syscall(SYS_fstat, fd, noaccess_page()), EFAULT);
}

CASE(stat_missing_is_enoent_and_under_file_is_enotdir) {
    make_file("f", "x");
    struct stat st;
    EXPECT_ERRNO(stat("missing", &st), ENOENT);
    EXPECT_ERRNO(stat("f/x", &st), ENOTDIR);
}

/* ---- access / faccessat ---- */

CASE(access_existing_and_missing) {
    make_file("f", "x");
    EXPECT_OK(access("f", F_OK));
    EXPECT_OK(access("f", R_OK | W_OK));
    EXPECT_ERRNO(access("missing", F_OK), ENOENT);
}

CASE(access_x_ok_without_exec_bits_is_eacces_for_root) {
    if (geteuid() != 0) return; /* checks root's rule only */
    make_file("f", "x");
    EXPECT_OK(chmod("f", 0644));
    EXPECT_ERRNO(access("f", X_OK), EACCES);
    EXPECT_OK(chmod("f", 0744));
    EXPECT_OK(access("f", X_OK));
    EXPECT_OK(chmod("f", 0));
    EXPECT_OK(access("f", R_OK | W_OK)); /* root reads and writes regardless */
}

CASE(faccessat_bad_mode_is_einval) {
    EXPECT_ERRNO(syscall(SYS_faccessat, AT_FDCWD, ".", 8), EINVAL);
}

CASE(faccessat2_bad_flags_is_einval) {
    EXPECT_ERRNO(syscall(SYS_faccessat2, AT_FDCWD, ".", F_OK, 0x1), EINVAL);
}

CASE(faccessat_relative_to_dirfd) {
    EXPECT_OK(mkdir("d", 0755));
    make_file("d/f", "x");
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    EXPECT_OK(faccessat(dfd, "f", R_OK, 0));
    EXPECT_ERRNO(faccessat(dfd, "g", R_OK, 0), ENOENT);
}

/* ---- chmod / fchmod ---- */

CASE(chmod_and_fchmod_change_mode) {
    make_file("f", "x");
    EXPECT_OK(chmod("f", 0600));
    struct stat st;
    EXPECT_OK(stat("f", &st));
    EXPECT_EQ(st.st_mode & 07777, 0600);
    int fd = open("f", O_RDONLY);
    EXPECT_OK(fchmod(fd, 04751));
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_mode & 07777, 04751);
    EXPECT(S_ISREG(st.st_mode));
}

CASE(chmod_missing_is_enoent_and_bad_fd_is_ebadf) {
    EXPECT_ERRNO(chmod("missing", 0644), ENOENT);
    EXPECT_ERRNO(fchmod(-1, 0644), EBADF);
    EXPECT_ERRNO(fchmod(9999, 0644), EBADF);
}

CASE(chmod_bad_path_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_chmod, (char *)1, 0644), EFAULT);
}

/* ---- utimensat ---- */

CASE(utimensat_sets_explicit_times) {
    make_file("f", "x");
    struct timespec ts[2] = {{1000000000, 123}, {1100000000, 456}};
    EXPECT_OK(utimensat(AT_FDCWD, "f", ts, 0));
    struct stat st;
    EXPECT_OK(stat("f", &st));
    EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
    EXPECT_EQ(st.st_atim.tv_nsec, 123);
    EXPECT_EQ(st.st_mtim.tv_sec, 1100000000);
    EXPECT_EQ(st.st_mtim.tv_nsec, 456);
}

CASE(utimensat_utime_omit_and_utime_now) {
    make_file("f", "x");
    struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
    EXPECT_OK(utimensat(AT_FDCWD, "f", ts, 0));
    struct timespec t2[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    time_t before = time(NULL);
    EXPECT_OK(utimensat(AT_FDCWD, "f", t2, 0));
    struct stat st;
    EXPECT_OK(stat("f", &st));
    EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
    EXPECT(st.st_mtim.tv_sec >= before - 1 && st.st_mtim.tv_sec <= time(NULL) + 1);
}

CASE(utimensat_permissions_for_owner_writer_and_others) {
    EXPECT_OK(chmod(scratch(), 0777));
    make_file("shared", "x");
    make_file("private", "x");
    EXPECT_OK(chmod("shared", 0666));
    EXPECT_OK(chmod("private", 0644));
    EXPECT_OK(setresuid(1000, 1000, 1000)); /* and so no capabilities */
    struct timespec now2[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    struct timespec omit2[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    struct timespec mixed[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    struct timespec set[2] = {{1000000000, 0}, {1000000000, 0}};
    /* touching to now needs write permission when not the owner */
    EXPECT_OK(utimensat(AT_FDCWD, "shared", NULL, 0));
    EXPECT_OK(utimensat(AT_FDCWD, "shared", now2, 0));
    EXPECT_OK(utime("shared", NULL));
    EXPECT_ERRNO(utimensat(AT_FDCWD, "private", NULL, 0), EACCES);
    EXPECT_ERRNO(utimensat(AT_FDCWD, "private", now2, 0), EACCES);
    EXPECT_ERRNO(utimes("private", NULL), EACCES);
    /* any explicit time (even one UTIME_OMIT beside UTIME_NOW) needs ownership */
    EXPECT_ERRNO(utimensat(AT_FDCWD, "shared", set, 0), EPERM);
    EXPECT_ERRNO(utimensat(AT_FDCWD, "shared", mixed, 0), EPERM);
    EXPECT_ERRNO(utimensat(AT_FDCWD, "private", set, 0), EPERM);
    errno = 0;
    long omitted = utimensat(AT_FDCWD, "private", omit2, 0);
    EXPECT_EQ(omitted, 0); /* nothing to change: nothing checked */
    int fd = open("shared", O_RDONLY);
    EXPECT_OK(futimens(fd, NULL));
    EXPECT_ERRNO(futimens(fd, set), EPERM);
    /* the owner may set anything */
    make_file("mine", "x");
    EXPECT_OK(chmod("mine", 0444));
    EXPECT_OK(utimensat(AT_FDCWD, "mine", set, 0));
    EXPECT_OK(utimensat(AT_FDCWD, "mine", NULL, 0));
}

CASE(utimensat_bad_nsec_is_einval) {
    make_file("f", "x");
    struct timespec ts[2] = {{0, 1000000000}, {0, 0}};
    EXPECT_ERRNO(utimensat(AT_FDCWD, "f", ts, 0), EINVAL);
}

CASE(utimensat_bad_flags_is_einval) {
    make_file("f", "x");
    EXPECT_ERRNO(syscall(SYS_utimensat, AT_FDCWD, "f", NULL, 0x1), EINVAL);
}

CASE(utimensat_symlink_nofollow_changes_link_only) {
    make_file("f", "x");
    EXPECT_OK(symlink("f", "link"));
    struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
    EXPECT_OK(utimensat(AT_FDCWD, "f", ts, 0));
    struct timespec t2[2] = {{1200000000, 0}, {1200000000, 0}};
    EXPECT_OK(utimensat(AT_FDCWD, "link", t2, AT_SYMLINK_NOFOLLOW));
    struct stat st;
    EXPECT_OK(lstat("link", &st));
    EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
    EXPECT_OK(stat("f", &st));
    EXPECT_EQ(st.st_mtim.tv_sec, 1000000000);
}

/* ---- rename / renameat2 ---- */

CASE(rename_replaces_existing_target) {
    make_file("a", "AAA");
    make_file("b", "B");
    struct stat sa;
    EXPECT_OK(stat("a", &sa));
    EXPECT_OK(rename("a", "b"));
    EXPECT_ERRNO(access("a", F_OK), ENOENT);
    struct stat sb;
    EXPECT_OK(stat("b", &sb));
    EXPECT_EQ(sb.st_ino, sa.st_ino);
    EXPECT_EQ(sb.st_size, 3);
}

CASE(rename_missing_source_is_enoent) {
    EXPECT_ERRNO(rename("missing", "b"), ENOENT);
}

CASE(rename_onto_hard_link_of_itself_is_noop) {
    make_file("a", "x");
    EXPECT_OK(link("a", "b"));
    EXPECT_OK(rename("a", "b"));
    EXPECT_OK(access("a", F_OK));
    EXPECT_OK(access("b", F_OK));
}

CASE(renameat2_noreplace_existing_is_eexist) {
    make_file("a", "x");
    make_file("b", "y");
    EXPECT_ERRNO(renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_NOREPLACE), EEXIST);
    EXPECT_OK(renameat2(AT_FDCWD, "a", AT_FDCWD, "c", RENAME_NOREPLACE));
    EXPECT_ERRNO(access("a", F_OK), ENOENT);
}

CASE(renameat2_exchange_swaps_entries) {
    make_file("a", "AA");
    make_file("b", "BBB");
    EXPECT_OK(renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_EXCHANGE));
    struct stat st;
    EXPECT_OK(stat("a", &st));
    EXPECT_EQ(st.st_size, 3);
    EXPECT_OK(stat("b", &st));
    EXPECT_EQ(st.st_size, 2);
}

CASE(renameat2_exchange_of_a_directory_and_a_file_in_two_directories) {
    EXPECT_OK(mkdir("p", 0755));
    EXPECT_OK(mkdir("q", 0755));
    EXPECT_OK(mkdir("p/d", 0755));
    make_file("p/d/inside", "i");
    make_file("q/f", "ffff");
    struct stat p0, q0, st;
    EXPECT_OK(stat("p", &p0));
    EXPECT_OK(stat("q", &q0));
    EXPECT_OK(renameat2(AT_FDCWD, "p/d", AT_FDCWD, "q/f", RENAME_EXCHANGE));
    EXPECT_OK(stat("p/d", &st));
    EXPECT(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_size, 4);
    EXPECT_OK(stat("q/f/inside", &st));
    /* The directory's ".." moved from p to q. */
    EXPECT_OK(stat("p", &st));
    EXPECT_EQ(st.st_nlink, p0.st_nlink - 1);
    EXPECT_OK(stat("q", &st));
    EXPECT_EQ(st.st_nlink, q0.st_nlink + 1);
    EXPECT_ERRNO(renameat2(AT_FDCWD, "p/d", AT_FDCWD, "q/missing", RENAME_EXCHANGE), ENOENT);
    EXPECT_ERRNO(renameat2(AT_FDCWD, "p/missing", AT_FDCWD, "q/f", RENAME_EXCHANGE), ENOENT);
    /* A directory may not trade places with something inside itself. */
    EXPECT_ERRNO(renameat2(AT_FDCWD, "q/f", AT_FDCWD, "q/f/inside", RENAME_EXCHANGE), EINVAL);
    EXPECT_ERRNO(renameat2(AT_FDCWD, "q/f/inside", AT_FDCWD, "q/f", RENAME_EXCHANGE), EINVAL);
    EXPECT_ERRNO(renameat2(AT_FDCWD, "p/d/", AT_FDCWD, "q/f", RENAME_EXCHANGE), ENOTDIR);
    EXPECT_OK(renameat2(AT_FDCWD, "q/f/", AT_FDCWD, "p/d", RENAME_EXCHANGE)); /* back again */
    EXPECT_OK(stat("p/d/inside", &st));
    EXPECT_OK(stat("p", &st));
    EXPECT_EQ(st.st_nlink, p0.st_nlink);
    /* Hard links of one file: nothing to do. */
    EXPECT_OK(link("q/f", "q/g"));
    EXPECT_OK(renameat2(AT_FDCWD, "q/f", AT_FDCWD, "q/g", RENAME_EXCHANGE));
    EXPECT_OK(access("q/f", F_OK));
    EXPECT_OK(access("q/g", F_OK));
}

CASE(renameat2_bad_flags_is_einval) {
    make_file("a", "x");
    make_file("b", "y");
    EXPECT_ERRNO(renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_NOREPLACE | RENAME_EXCHANGE), EINVAL);
    EXPECT_ERRNO(renameat2(AT_FDCWD, "a", AT_FDCWD, "b", 0x100), EINVAL);
}

/* ---- link / unlink ---- */

CASE(link_shares_inode_and_counts_links) {
    make_file("a", "hello");
    EXPECT_OK(link("a", "b"));
    struct stat sa, sb;
    EXPECT_OK(stat("a", &sa));
    EXPECT_OK(stat("b", &sb));
    EXPECT_EQ(sa.st_ino, sb.st_ino);
    EXPECT_EQ(sa.st_nlink, 2);
    EXPECT_OK(unlink("a"));
    EXPECT_OK(stat("b", &sb));
    EXPECT_EQ(sb.st_nlink, 1);
}

CASE(link_to_existing_name_is_eexist) {
    make_file("a", "x");
    make_file("b", "y");
    EXPECT_ERRNO(link("a", "b"), EEXIST);
    EXPECT_ERRNO(link("missing", "c"), ENOENT);
}

CASE(link_on_directory_is_eperm) {
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_ERRNO(link("d", "e"), EPERM);
}

CASE(unlink_keeps_open_file_readable) {
    make_file("f", "data");
    int fd = open("f", O_RDONLY);
    EXPECT_OK(unlink("f"));
    EXPECT_ERRNO(access("f", F_OK), ENOENT);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_nlink, 0);
    char buf[8] = {0};
    EXPECT_EQ(read(fd, buf, sizeof buf), 4);
    EXPECT_STREQ(buf, "data");
}

CASE(unlink_directory_is_eisdir) {
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_ERRNO(unlink("d"), EISDIR);
    EXPECT_ERRNO(unlink("missing"), ENOENT);
}

/* ---- symlink / readlink ---- */

CASE(symlink_and_readlink_roundtrip) {
    EXPECT_OK(symlink("some/where/else", "link"));
    char buf[64];
    memset(buf, 0, sizeof buf);
    EXPECT_EQ(readlink("link", buf, sizeof buf), 15);
    EXPECT_STREQ(buf, "some/where/else");
}

CASE(readlink_truncates_without_nul) {
    EXPECT_OK(symlink("abcdefgh", "link"));
    char buf[8];
    memset(buf, '#', sizeof buf);
    EXPECT_EQ(readlink("link", buf, 3), 3);
    EXPECT(memcmp(buf, "abc#", 4) == 0);
}

CASE(readlink_on_regular_file_is_einval) {
    make_file("f", "x");
    char buf[16];
    EXPECT_ERRNO(readlink("f", buf, sizeof buf), EINVAL);
    EXPECT_ERRNO(readlink("missing", buf, sizeof buf), ENOENT);
}

CASE(readlink_zero_size_is_einval) {
    EXPECT_OK(symlink("abc", "link"));
    char buf[4];
    EXPECT_ERRNO(syscall(SYS_readlinkat, AT_FDCWD, "link", buf, 0), EINVAL);
}

CASE(readlink_bad_buffer_is_efault) {
    EXPECT_OK(symlink("abc", "link"));
    EXPECT_ERRNO(syscall(SYS_readlinkat, AT_FDCWD, "link", (char *)1, 16), EFAULT);
}

CASE(symlink_existing_name_is_eexist_and_empty_target_is_enoent) {
    make_file("f", "x");
    EXPECT_ERRNO(symlink("anything", "f"), EEXIST);
    EXPECT_ERRNO(symlink("", "link"), ENOENT);
}

/* ---- mknod ---- */

CASE(mknod_fifo_creates_fifo) {
    EXPECT_OK(mknod("fifo", S_IFIFO | 0644, 0));
    struct stat st;
    EXPECT_OK(stat("fifo", &st));
    EXPECT(S_ISFIFO(st.st_mode));
    int r = open("fifo", O_RDONLY | O_NONBLOCK);
    EXPECT(r >= 0);
    int w = open("fifo", O_WRONLY | O_NONBLOCK);
    EXPECT(w >= 0);
    EXPECT_EQ(write(w, "hi", 2), 2);
    char buf[4] = {0};
    EXPECT_EQ(read(r, buf, sizeof buf), 2);
    EXPECT_STREQ(buf, "hi");
    EXPECT_ERRNO(lseek(r, 0, SEEK_SET), ESPIPE);
}

CASE(mknod_fifo_write_only_nonblock_without_reader_is_enxio) {
    EXPECT_OK(mkfifo("fifo", 0644));
    EXPECT_ERRNO(open("fifo", O_WRONLY | O_NONBLOCK), ENXIO);
}

CASE(mknod_existing_is_eexist_and_bad_type_is_einval) {
    make_file("f", "x");
    EXPECT_ERRNO(mknod("f", S_IFIFO | 0644, 0), EEXIST);
    EXPECT_ERRNO(mknod("g", 0170000 | 0644, 0), EINVAL);
}

/* A tmpfs of the case's own, in its own mount namespace, mounted with `flags`; the case
 * moves into it. */
static void into_own_tmpfs(const char *name, unsigned long flags) {
    EXPECT_OK(unshare(CLONE_NEWNS));
    EXPECT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
    EXPECT_OK(mkdir(scratch_path(name), 0755));
    EXPECT_OK(mount(name, scratch_path(name), "tmpfs", flags, ""));
    EXPECT_OK(chdir(scratch_path(name)));
}

/* On a nodev mount a device node stays a name: opening it is EACCES before any permission
 * check or driver (may_open_dev); O_PATH still opens it. */
CASE(device_nodes_on_a_nodev_mount_do_not_open) {
    into_own_tmpfs("nodevs", MS_NODEV);
    EXPECT_OK(mknod("null", S_IFCHR | 0666, makedev(1, 3)));
    EXPECT_OK(mknod("nodriver", S_IFBLK | 0600, makedev(4094, 3)));
    EXPECT_ERRNO(open("null", O_RDWR), EACCES);
    EXPECT_ERRNO(open("nodriver", O_RDONLY), EACCES);
    int fd = open("null", O_PATH);
    EXPECT(fd >= 0);
    close(fd);
    struct statvfs sv;
    EXPECT_OK(statvfs(".", &sv));
    EXPECT(sv.f_flag & ST_NODEV);
}

/* Sets `path`'s atime and mtime to now plus the given seconds. */
static void set_times(const char *path, long atime_from_now, long mtime_from_now) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct timespec t[2] = {{now.tv_sec + atime_from_now, 0}, {now.tv_sec + mtime_from_now, 0}};
    EXPECT_OK(utimensat(AT_FDCWD, path, t, 0));
}

static time_t atime_of(const char *path) {
    struct stat st;
    EXPECT_OK(stat(path, &st));
    return st.st_atime;
}

/* Reads one byte of `path` (through a descriptor opened with `flags`). */
static void read_one(const char *path, int flags) {
    int fd = open(path, O_RDONLY | flags);
    EXPECT(fd >= 0);
    char c;
    EXPECT_EQ(read(fd, &c, 1), 1);
    close(fd);
}

/* Reading updates the access time as the mount says (touch_atime): relatime, the default,
 * only when atime is not after the last change or is a day old; strictatime always;
 * noatime never; nodiratime not for directory listings; O_NOATIME not for its reads. */
CASE(reads_update_atime_as_the_mount_says) {
    into_own_tmpfs("atimes", 0);
    write_file("f", "x");
    EXPECT_OK(mkdir("d", 0755));
    time_t now = time(NULL);
    set_times("f", -100, -50);      /* atime before mtime: updated */
    read_one("f", 0);
    EXPECT(atime_of("f") >= now);
    set_times("f", 3600, -50);      /* after every change, not a day old: kept */
    time_t kept = atime_of("f");
    read_one("f", 0);
    EXPECT_EQ(atime_of("f"), kept);
    set_times("f", -100, -50);
    read_one("f", O_NOATIME);
    EXPECT(atime_of("f") < now);
    set_times("d", -100, -50);      /* a listing is a read of the directory */
    DIR *dir = opendir("d");
    EXPECT(dir != NULL);
    while (readdir(dir)) {}
    closedir(dir);
    EXPECT(atime_of("d") >= now);
    /* strictatime: always. */
    EXPECT_OK(mount(NULL, ".", NULL, MS_REMOUNT | MS_STRICTATIME, ""));
    set_times("f", 3600, -50);
    read_one("f", 0);
    EXPECT(atime_of("f") < now + 3000);
    /* noatime, nodiratime. */
    EXPECT_OK(mount(NULL, ".", NULL, MS_REMOUNT | MS_NOATIME, ""));
    set_times("f", -100, -50);
    read_one("f", 0);
    EXPECT(atime_of("f") < now);
    EXPECT_OK(mount(NULL, ".", NULL, MS_REMOUNT | MS_NODIRATIME, ""));
    set_times("d", -100, -50);
    dir = opendir("d");
    while (readdir(dir)) {}
    closedir(dir);
    EXPECT(atime_of("d") < now);
    set_times("f", -100, -50);
    read_one("f", 0);
    EXPECT(atime_of("f") >= now);
}

CASE(mknod_of_a_directory_is_eperm) {
    EXPECT_ERRNO(mknod("d", S_IFDIR | 0755, 0), EPERM);
}

/* Root makes device nodes (CAP_MKNOD); the numbers read back as given, and a node opens the
 * device of its number: the memory devices of /dev, or ENXIO for a number with no driver. */
CASE(mknod_device_nodes_keep_their_numbers_and_open_their_device) {
    if (geteuid() != 0) return; /* needs CAP_MKNOD */
    /* On a mount that allows devices (the scratch directory's may be nodev, as a /tmp is). */
    into_own_tmpfs("devs", 0);
    umask(022);
    EXPECT_OK(mknod("null", S_IFCHR | 0666, makedev(1, 3)));
    EXPECT_OK(mknod("zero", S_IFCHR | 0666, makedev(1, 5)));
    EXPECT_OK(mknod("nodriver", S_IFCHR | 0600, makedev(4095, 7)));
    EXPECT_OK(mknod("block", S_IFBLK | 0600, makedev(4094, 3)));
    EXPECT_OK(mknod("bigminor", S_IFCHR | 0600, makedev(1, 0x12345)));
    struct stat st;
    EXPECT_OK(stat("null", &st));
    EXPECT(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0644);
    EXPECT_EQ(major(st.st_rdev), 1);
    EXPECT_EQ(minor(st.st_rdev), 3);
    EXPECT_OK(stat("block", &st));
    EXPECT(S_ISBLK(st.st_mode));
    EXPECT_EQ(major(st.st_rdev), 4094);
    EXPECT_EQ(minor(st.st_rdev), 3);
    EXPECT_OK(stat("bigminor", &st));
    EXPECT_EQ(major(st.st_rdev), 1);
    EXPECT_EQ(minor(st.st_rdev), 0x12345);
    struct statx sx;
    EXPECT_OK(statx(AT_FDCWD, "block", 0, STATX_BASIC_STATS, &sx));
    EXPECT_EQ(sx.stx_rdev_major, 4094);
    EXPECT_EQ(sx.stx_rdev_minor, 3);
    int fd = open("null", O_RDWR);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "gone", 4), 4);
    char buf[8] = {1};
    EXPECT_EQ(read(fd, buf, sizeof buf), 0);
    close(fd);
    fd = open("zero", O_RDONLY);
    EXPECT(fd >= 0);
    EXPECT_EQ(read(fd, buf, sizeof buf), (long)sizeof buf);
    EXPECT_EQ(buf[0] | buf[7], 0);
    close(fd);
    EXPECT_ERRNO(open("nodriver", O_RDONLY), ENXIO);
    EXPECT_ERRNO(open("block", O_RDONLY), ENXIO);
    EXPECT_ERRNO(mknod("null", S_IFCHR | 0666, makedev(1, 3)), EEXIST);
}

/* Without CAP_MKNOD a device node is EPERM, but an overlay whiteout (character 0:0) is not. */
CASE(mknod_device_without_cap_mknod_is_eperm_but_a_whiteout_is_made) {
    if (geteuid() != 0) return; /* checks what dropping root's CAP_MKNOD does */
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    EXPECT_OK(syscall(SYS_capget, &h, d));
    d[0].effective &= ~(1u << CAP_MKNOD);
    EXPECT_OK(syscall(SYS_capset, &h, d));
    EXPECT_ERRNO(mknod("null", S_IFCHR | 0666, makedev(1, 3)), EPERM);
    EXPECT_ERRNO(mknod("block", S_IFBLK | 0600, makedev(7, 0)), EPERM);
    EXPECT_OK(mknod("whiteout", S_IFCHR | 0600, 0));
    struct stat st;
    EXPECT_OK(stat("whiteout", &st));
    EXPECT(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, 0);
    EXPECT_OK(mknod("fifo", S_IFIFO | 0600, 0));
}

/* ---- hostile integers ----
 * Sizes, offsets and modes at the edges of their types: the kernel truncates modes to 16 bits,
 * rejects offsets that overflow, and keeps huge sparse files cheap. */

CASE(mknodat_mode_bits_above_sixteen_are_ignored) {
    umask(022);
    EXPECT_EQ(syscall(SYS_mknodat, AT_FDCWD, "n", 0x100000000UL | S_IFREG | 0644, 0), 0);
    struct stat st;
    EXPECT_OK(stat("n", &st));
    EXPECT_EQ(st.st_mode, S_IFREG | 0644);
    EXPECT_EQ(syscall(SYS_mknodat, AT_FDCWD, "p", 0xffffffffffff0000UL | S_IFIFO | 0600, 0xffffffff00000000UL), 0);
    EXPECT_OK(stat("p", &st));
    EXPECT_EQ(st.st_mode, S_IFIFO | 0600);
}

CASE(open_mkdir_and_chmod_mode_bits_above_sixteen_are_ignored) {
    umask(022);
    int fd = syscall(SYS_openat, AT_FDCWD, "f", O_CREAT | O_RDWR, 0xffffffff00000000UL | 0640);
    EXPECT(fd >= 0);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_mode, S_IFREG | 0640);
    EXPECT_EQ(syscall(SYS_fchmodat, AT_FDCWD, "f", 0x100000000UL | 0600), 0);
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_mode, S_IFREG | 0600);
    EXPECT_EQ(syscall(SYS_mkdirat, AT_FDCWD, "d", 0x100000000UL | 0755), 0);
    EXPECT_OK(stat("d", &st));
    EXPECT_EQ(st.st_mode, S_IFDIR | 0755);
}

CASE(lseek_offsets_that_overflow_are_einval) {
    make_file("f", "0123456789");
    int fd = open("f", O_RDWR);
    EXPECT(fd >= 0);
    EXPECT_EQ(lseek(fd, 10, SEEK_SET), 10);
    EXPECT_ERRNO(lseek(fd, INT64_MAX, SEEK_CUR), EINVAL);
    EXPECT_ERRNO(lseek(fd, INT64_MAX, SEEK_END), EINVAL);
    EXPECT_ERRNO(lseek(fd, INT64_MIN, SEEK_CUR), EINVAL);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 10);
}

CASE(pread_and_pwrite_ranges_that_overflow_are_einval) {
    make_file("f", "0123456789");
    int fd = open("f", O_RDWR);
    EXPECT(fd >= 0);
    char buf[10];
    EXPECT_ERRNO(pread(fd, buf, 10, INT64_MAX - 5), EINVAL);
    EXPECT_ERRNO(pwrite(fd, buf, 10, INT64_MAX - 5), EINVAL);
    EXPECT_EQ(pread(fd, buf, 10, INT64_MAX - 20), 0);
}

CASE(ftruncate_to_100_gib_makes_a_sparse_file_that_reads_zeros) {
    const off_t big = 100LL << 30;
    int fd = open("big", O_CREAT | O_RDWR | O_TRUNC, 0644);
    EXPECT(fd >= 0);
    EXPECT_OK(ftruncate(fd, big));
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, big);
    if (st.st_blocks > 64) compat_fail(__FILE__, __LINE__, "st_blocks == %lld, expected at most 64", (long long)st.st_blocks);
    static char buf[4096];
    memset(buf, 1, sizeof buf);
    EXPECT_EQ(pread(fd, buf, sizeof buf, 50LL << 30), sizeof buf);
    for (size_t i = 0; i < sizeof buf; i++) EXPECT_EQ(buf[i], 0);
    EXPECT_EQ(pwrite(fd, "x", 1, 50LL << 30), 1);
    EXPECT_EQ(pread(fd, buf, 2, 50LL << 30), 2);
    EXPECT(buf[0] == 'x' && buf[1] == 0);
    EXPECT_OK(fstat(fd, &st));
    if (st.st_blocks > 64) compat_fail(__FILE__, __LINE__, "st_blocks == %lld, expected at most 64", (long long)st.st_blocks);
    EXPECT_EQ(lseek(fd, 0, SEEK_END), big);
    EXPECT_EQ(read(fd, buf, 1), 0);
    EXPECT_EQ(pread(fd, buf, 100, big - 10), 10);
    EXPECT_OK(truncate("big", 0));
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 0);
    EXPECT_EQ(pread(fd, buf, 1, 50LL << 30), 0);
}

/* ---- fallocate, preadv/pwritev ---- */

CASE(fallocate_grows_file_and_keep_size_does_not) {
    int fd = open("/tmp/compat-falloc", O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT(fd >= 0);
    EXPECT_OK(fallocate(fd, 0, 0, 10000));
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 10000);
    EXPECT_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 50000));
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 10000);
    unlink("/tmp/compat-falloc");
}

CASE(fallocate_punch_hole_zeroes_and_keeps_size) {
    int fd = open("/tmp/compat-punch", O_RDWR | O_CREAT | O_TRUNC, 0600);
    char buf[8192];
    memset(buf, 'x', sizeof buf);
    EXPECT_EQ(write(fd, buf, sizeof buf), sizeof buf);
    EXPECT_ERRNO(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP); /* needs KEEP_SIZE */
    EXPECT_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 200));
    char back[8192];
    EXPECT_EQ(pread(fd, back, sizeof back, 0), sizeof back);
    EXPECT_EQ(back[99], 'x');
    EXPECT_EQ(back[100], 0);
    EXPECT_EQ(back[299], 0);
    EXPECT_EQ(back[300], 'x');
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 8192);
    /* ZERO_RANGE where the filesystem has it (ext4, overlay on it); tmpfs has not. */
    struct statfs sf;
    EXPECT_OK(fstatfs(fd, &sf));
    if (sf.f_type == 0x01021994) {
        EXPECT_ERRNO(fallocate(fd, FALLOC_FL_ZERO_RANGE, 8000, 1000), EOPNOTSUPP);
    } else {
        EXPECT_OK(fallocate(fd, FALLOC_FL_ZERO_RANGE, 8000, 1000));
        EXPECT_OK(fstat(fd, &st));
        EXPECT_EQ(st.st_size, 9000);
    }
    unlink("/tmp/compat-punch");
}

/* tmpfs's fallocate (shmem_fallocate): the pages are allocated and counted at once (st_blocks,
 * statfs), within the filesystem's size (ENOSPC, nothing allocated, when they do not all fit),
 * so later writes into them cannot fail for space; a punched hole gives its whole pages back;
 * ZERO_RANGE is not offered. */
CASE(tmpfs_fallocate_reserves_space_and_punching_returns_it) {
    const char *dir = scratch_path("fallocfs");
    EXPECT_OK(unshare(CLONE_NEWNS));
    EXPECT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
    EXPECT_OK(mkdir(dir, 0777));
    EXPECT_OK(mount("fallocfs", dir, "tmpfs", 0, "size=1m"));
    char path[700], other[700];
    snprintf(path, sizeof path, "%s/f", dir);
    snprintf(other, sizeof other, "%s/g", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    EXPECT(fd >= 0);
    struct statfs before, after;
    EXPECT_OK(fstatfs(fd, &before));
    EXPECT_OK(fallocate(fd, 0, 0, 65536));
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 65536);
    EXPECT_EQ(st.st_blocks, 128);
    EXPECT_OK(fstatfs(fd, &after));
    EXPECT_EQ(before.f_bfree - after.f_bfree, 16);
    /* Beyond the end with KEEP_SIZE: counted, the size unchanged. */
    EXPECT_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 65536, 8192));
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 65536);
    EXPECT_EQ(st.st_blocks, 144);
    /* A punched hole's whole pages go; a partial page stays. */
    EXPECT_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192 + 100));
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_blocks, 128);
    EXPECT_ERRNO(fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, 4096), EOPNOTSUPP);
    /* More than the filesystem holds: ENOSPC, and nothing was taken. */
    EXPECT_ERRNO(fallocate(fd, 0, 0, 2 << 20), ENOSPC);
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 65536);
    EXPECT_EQ(st.st_blocks, 128);
    /* Another file fills the rest; the reserved pages still take writes. */
    int g = open(other, O_RDWR | O_CREAT, 0600);
    EXPECT(g >= 0);
    static char buf[65536];
    memset(buf, 'g', sizeof buf);
    while (write(g, buf, sizeof buf) > 0) {}
    EXPECT_EQ(errno, ENOSPC);
    memset(buf, 'f', sizeof buf);
    EXPECT_EQ(pwrite(fd, buf, 16384, 16384), 16384);
    EXPECT_EQ(pwrite(fd, buf, 8192, 65536), 8192);
    /* The punched pages are gone to the other file. */
    EXPECT_ERRNO(pwrite(fd, buf, 4096, 4096), ENOSPC);
    close(g);
    close(fd);
    EXPECT_OK(umount(dir));
}

/* The VFS's own ioctls on a regular file: FIONREAD is the bytes past the position; FIOASYNC
 * that changes nothing succeeds even where the file has no async notice; FICLONE and
 * FICLONERANGE are refused where no extents are shared (tmpfs, ext4), after their checks. */
CASE(vfs_ioctls_on_regular_files) {
    int fd = open(scratch_path("f"), O_RDWR | O_CREAT, 0600);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "0123456789", 10), 10);
    int n = -1;
    EXPECT_OK(ioctl(fd, FIONREAD, &n));
    EXPECT_EQ(n, 0);
    EXPECT_EQ(lseek(fd, 3, SEEK_SET), 3);
    EXPECT_OK(ioctl(fd, FIONREAD, &n));
    EXPECT_EQ(n, 7);
    int zero = open("/dev/zero", O_RDONLY);
    int off = 0, on = 1;
    EXPECT_OK(ioctl(zero, FIOASYNC, &off));
    EXPECT_ERRNO(ioctl(zero, FIOASYNC, &on), ENOTTY);
    close(zero);
    int g = open(scratch_path("g"), O_RDWR | O_CREAT, 0600);
    EXPECT(g >= 0);
    EXPECT_ERRNO(ioctl(g, FICLONE, fd), EOPNOTSUPP);
    struct file_clone_range range = { .src_fd = fd, .src_offset = 0, .src_length = 4096, .dest_offset = 0 };
    EXPECT_ERRNO(ioctl(g, FICLONERANGE, &range), EOPNOTSUPP);
    EXPECT_ERRNO(ioctl(g, FICLONE, 9999), EBADF);
    EXPECT_ERRNO(ioctl(g, FICLONERANGE, (void *)8), EFAULT);
    int dir = open(scratch(), O_RDONLY | O_DIRECTORY);
    EXPECT_ERRNO(ioctl(g, FICLONE, dir), EISDIR);
    close(dir);
    int ro = open(scratch_path("g"), O_RDONLY);
    EXPECT_ERRNO(ioctl(ro, FICLONE, fd), EBADF);
    close(ro);
    char shm[64];
    snprintf(shm, sizeof shm, "/dev/shm/compat-clone-%d", getpid());
    int other = open(shm, O_RDWR | O_CREAT, 0600);
    EXPECT(other >= 0);
    unlink(shm);
    EXPECT_ERRNO(ioctl(g, FICLONE, other), EXDEV);
    close(other);
    close(g);
    close(fd);
}

/* An open that finds no free fd (EMFILE) leaves nothing open behind: a program opened for
 * writing then still runs (no ETXTBSY), as on Linux, where the fd is taken first. */
CASE(an_open_refused_for_want_of_an_fd_leaves_no_writer_behind) {
    const char *prog = scratch_path("true");
    copy_file("/bin/true", prog, 0755);
    pid_t c = fork();
    if (c == 0) {
        struct rlimit rl = {16, 16};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(1);
        while (open("/dev/null", O_RDONLY) >= 0) {}
        if (errno != EMFILE) _exit(2);
        if (open(prog, O_WRONLY) != -1 || errno != EMFILE) _exit(3);
        for (int fd = 3; fd < 16; fd++) close(fd);
        execl(prog, "true", (char *)0);
        _exit(errno == ETXTBSY ? 4 : 5);
    }
    EXPECT_EQ(wait_status(c), 0);
}

CASE(fallocate_errors_follow_linux) {
    int fd = open("/tmp/compat-falloc-err", O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT_ERRNO(fallocate(fd, 0, -1, 10), EINVAL);
    EXPECT_ERRNO(fallocate(fd, 0, 0, 0), EINVAL);
    EXPECT_ERRNO(fallocate(fd, 0, LLONG_MAX, 10), EFBIG);
    int ro = open("/tmp/compat-falloc-err", O_RDONLY);
    EXPECT_ERRNO(fallocate(ro, 0, 0, 10), EBADF);
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_ERRNO(fallocate(p[1], 0, 0, 10), ESPIPE);
    unlink("/tmp/compat-falloc-err");
}

CASE(pwritev_preadv_at_offset_leave_position) {
    int fd = open("/tmp/compat-pv", O_RDWR | O_CREAT | O_TRUNC, 0600);
    char a[] = "hello ", b[] = "world";
    struct iovec w[2] = {{a, 6}, {b, 5}};
    EXPECT_EQ(pwritev(fd, w, 2, 10), 11);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 0);
    char x[6] = {0}, y[6] = {0};
    struct iovec r[2] = {{x, 5}, {y, 5}};
    EXPECT_EQ(preadv(fd, r, 2, 11), 10);
    EXPECT_STREQ(x, "ello ");
    EXPECT_STREQ(y, "world");
    EXPECT_ERRNO(preadv(fd, r, 2, -5), EINVAL);
    /* preadv2 with offset -1 uses and moves the file position */
    EXPECT_EQ(lseek(fd, 10, SEEK_SET), 10);
    EXPECT_EQ(preadv2(fd, r, 1, -1, 0), 5);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 15);
    EXPECT_ERRNO(preadv2(fd, r, 1, 0, 0x10000), EOPNOTSUPP);
    unlink("/tmp/compat-pv");
}

/* RWF_NOWAIT: EAGAIN where the read would wait (an empty pipe); a tmpfs file has no such
 * mode (EOPNOTSUPP, preadv203's TCONF on tmpfs). */
CASE(rwf_nowait_where_files_can_say_eagain) {
    char buf[4];
    struct iovec v = {buf, sizeof buf};
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_ERRNO(preadv2(p[0], &v, 1, -1, RWF_NOWAIT), EAGAIN);
    close(p[0]);
    close(p[1]);
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/compat-nowait-%d", getpid());
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    EXPECT(fd >= 0);
    unlink(path);
    EXPECT_ERRNO(preadv2(fd, &v, 1, 0, RWF_NOWAIT), EOPNOTSUPP);
    EXPECT_ERRNO(pwritev2(fd, &v, 1, 0, RWF_NOWAIT), EOPNOTSUPP);
    EXPECT_EQ(pwritev2(fd, &v, 1, 0, 0), 4);
    close(fd);
}

/* creat(path, mode) is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode): the mode, less the umask. */
CASE(creat_honours_its_mode_and_the_umask) {
    char path[] = "/tmp/compat-creatXXXXXX";
    int t = mkstemp(path);
    EXPECT(t >= 0);
    close(t);
    unlink(path);
    mode_t old = umask(022);
    int fd = creat(path, 0666);
    umask(old);
    EXPECT(fd >= 0);
    EXPECT_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_WRONLY);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_mode & 07777, 0644);
    EXPECT_EQ(write(fd, "x", 1), 1);
    EXPECT_OK(unlink(path));
}

/* /proc/self and what is in it belong to the process's effective ids. */
CASE(proc_self_fd_belongs_to_the_process) {
    struct stat st;
    EXPECT_OK(stat("/proc/self/fd", &st));
    EXPECT_EQ(st.st_uid, geteuid());
    EXPECT_EQ(st.st_gid, getegid());
    EXPECT_OK(lstat("/proc/self/status", &st));
    EXPECT_EQ(st.st_uid, geteuid());
}

/* getdents (the old record): the same names as getdents64, d_type in the last byte. */
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
struct old_dirent { unsigned long d_ino; unsigned long d_off; unsigned short d_reclen; char d_name[]; };
CASE(getdents_old_record_lists_names_and_types) {
    int fd = open("/", O_RDONLY | O_DIRECTORY);
    EXPECT(fd >= 0);
    char buf[8192];
    long n = syscall(SYS_getdents, fd, buf, sizeof buf);
    EXPECT(n > 0);
    int dot = 0, dir = 0;
    for (long at = 0; at < n;) {
        struct old_dirent *d = (struct old_dirent *)(buf + at);
        EXPECT(d->d_reclen > 0 && at + d->d_reclen <= n);
        unsigned char type = buf[at + d->d_reclen - 1];
        if (strcmp(d->d_name, ".") == 0) { dot = 1; EXPECT_EQ(type, DT_DIR); }
        if (type == DT_DIR) dir++;
        at += d->d_reclen;
    }
    EXPECT(dot && dir >= 2);
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    EXPECT_ERRNO(syscall(SYS_getdents, fd, buf, 4), EINVAL); /* too small for one record */
}

CASE(fchmodat2_and_futimesat) {
    char path[] = "/tmp/compat-fchmodat2-XXXXXX";
    int fd = mkstemp(path);
    EXPECT(fd >= 0);
    EXPECT_OK(syscall(SYS_fchmodat2, AT_FDCWD, path, 0640, 0));
    struct stat st;
    EXPECT_OK(stat(path, &st));
    EXPECT_EQ(st.st_mode & 07777, 0640);
    EXPECT_OK(syscall(SYS_fchmodat2, fd, "", 0600, AT_EMPTY_PATH));
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_mode & 07777, 0600);
    char link[] = "/tmp/compat-fchmodat2-link";
    unlink(link);
    EXPECT_OK(symlink(path, link));
    EXPECT_ERRNO(syscall(SYS_fchmodat2, AT_FDCWD, link, 0600, AT_SYMLINK_NOFOLLOW), EOPNOTSUPP);
    EXPECT_ERRNO(syscall(SYS_fchmodat2, AT_FDCWD, path, 0600, 0x1), EINVAL);
    struct timeval tv[2] = { { 1000, 0 }, { 2000, 0 } };
    EXPECT_OK(syscall(SYS_futimesat, AT_FDCWD, path, tv));
    EXPECT_OK(stat(path, &st));
    EXPECT_EQ(st.st_mtime, 2000);
    EXPECT_EQ(st.st_atime, 1000);
    unlink(link);
    unlink(path);
}

/* File handles (open_by_handle_at(2)): name_to_handle_at names a file by a handle that
 * open_by_handle_at opens again through any descriptor on its filesystem, given
 * CAP_DAC_READ_SEARCH; the handle of a file unlinked since is stale. */
#ifndef AT_HANDLE_FID
#define AT_HANDLE_FID 0x200
#endif

struct handle128 {
    unsigned int handle_bytes;
    int handle_type;
    unsigned char f_handle[128];
};

static struct handle128 handle_of(const char *path, int flags) {
    struct handle128 h;
    memset(&h, 0, sizeof h);
    int mount_id = -1;
    /* No room: EOVERFLOW, with the size it needs. */
    EXPECT_ERRNO(syscall(SYS_name_to_handle_at, AT_FDCWD, path, &h, &mount_id, flags), EOVERFLOW);
    EXPECT(h.handle_bytes > 0 && h.handle_bytes <= 128);
    EXPECT(mount_id > 0);
    h.handle_bytes = 128;
    EXPECT_OK(syscall(SYS_name_to_handle_at, AT_FDCWD, path, &h, &mount_id, flags));
    return h;
}

static struct handle128 fid_handle;

static void nobody_opens_by_handle(void) {
    EXPECT_ERRNO(syscall(SYS_open_by_handle_at, AT_FDCWD, &fid_handle, O_RDONLY), EPERM);
}

CASE(file_handles_reopen_a_file_until_it_is_unlinked) {
    write_file("f", "handled");
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_OK(symlink("f", "link"));
    struct handle128 file = handle_of("f", 0), dir = handle_of("d", 0), link = handle_of("link", 0);
    int fd = syscall(SYS_open_by_handle_at, AT_FDCWD, &file, O_RDONLY);
    EXPECT(fd >= 0);
    char buf[16] = {0};
    EXPECT_EQ(read(fd, buf, sizeof buf), 7);
    EXPECT_STREQ(buf, "handled");
    struct stat a, b;
    EXPECT_OK(fstat(fd, &a));
    EXPECT_OK(stat("f", &b));
    EXPECT(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    close(fd);
    /* Through a descriptor of the directory, as through the working directory. */
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    EXPECT(dfd >= 0);
    fd = syscall(SYS_open_by_handle_at, dfd, &dir, O_RDONLY | O_DIRECTORY);
    EXPECT(fd >= 0);
    close(fd);
    EXPECT_ERRNO(syscall(SYS_open_by_handle_at, dfd, &dir, O_RDWR), EISDIR);
    EXPECT_ERRNO(syscall(SYS_open_by_handle_at, dfd, &link, O_RDONLY), ELOOP);
    /* A descriptor on another filesystem cannot decode it. */
    int proc = open("/proc/self/status", O_RDONLY);
    EXPECT_ERRNO(syscall(SYS_open_by_handle_at, proc, &file, O_RDONLY), ESTALE);
    close(proc);
    EXPECT_ERRNO(syscall(SYS_open_by_handle_at, -1, &file, O_RDONLY), EBADF);
    /* Without CAP_DAC_READ_SEARCH, nothing opens. */
    fid_handle = file;
    EXPECT_OK(chmod(scratch(), 0755));
    AS_NOBODY(nobody_opens_by_handle);
    /* Bad sizes and flags. */
    struct handle128 bad = file;
    bad.handle_bytes = 0;
    EXPECT_ERRNO(syscall(SYS_open_by_handle_at, AT_FDCWD, &bad, O_RDONLY), EINVAL);
    bad.handle_bytes = 129;
    EXPECT_ERRNO(syscall(SYS_open_by_handle_at, AT_FDCWD, &bad, O_RDONLY), EINVAL);
    int mount_id;
    EXPECT_ERRNO(syscall(SYS_name_to_handle_at, AT_FDCWD, "f", &bad, &mount_id, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_name_to_handle_at, AT_FDCWD, "f", &file, &mount_id, -1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_name_to_handle_at, AT_FDCWD, "f", &file, (int *)8, 0), EFAULT);
    EXPECT_ERRNO(syscall(SYS_name_to_handle_at, AT_FDCWD, "", &file, &mount_id, 0), ENOENT);
    /* procfs files have identifiers, not handles. */
    struct handle128 status;
    memset(&status, 0, sizeof status);
    status.handle_bytes = 128;
    EXPECT_ERRNO(syscall(SYS_name_to_handle_at, AT_FDCWD, "/proc/self/status", &status, &mount_id, 0), EOPNOTSUPP);
    EXPECT_OK(syscall(SYS_name_to_handle_at, AT_FDCWD, "/proc/self/status", &status, &mount_id, AT_HANDLE_FID));
    /* Unlinked: stale. */
    EXPECT_OK(unlink("f"));
    EXPECT_ERRNO(syscall(SYS_open_by_handle_at, AT_FDCWD, &file, O_RDONLY), ESTALE);
    close(dfd);
}

/* ---- inode flags (FS_IOC_GETFLAGS / FS_IOC_SETFLAGS: chattr, lsattr) on tmpfs ---- */

/* A tmpfs of the case's own, in a mount namespace of its own (natively too: an immutable file
 * a failed case leaves behind goes with it). Returns its path. */
static const char *flags_tmpfs(void) {
    static char dir[600];
    snprintf(dir, sizeof dir, "%s", scratch_path("flagsfs"));
    EXPECT_OK(unshare(CLONE_NEWNS));
    EXPECT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
    EXPECT_OK(mkdir(dir, 0777));
    EXPECT_OK(mount("flagsfs", dir, "tmpfs", 0, ""));
    return dir;
}

static int get_flags(int fd) { int f = -1; return ioctl(fd, FS_IOC_GETFLAGS, &f) == 0 ? f : -1; }
static int set_flags(int fd, int f) { return ioctl(fd, FS_IOC_SETFLAGS, &f); }

CASE(inode_flags_are_kept_checked_and_shown_by_statx) {
    const char *dir = flags_tmpfs();
    char path[700];
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    EXPECT(fd >= 0);
    EXPECT_EQ(get_flags(fd), 0);
    EXPECT_OK(set_flags(fd, FS_NODUMP_FL | FS_NOATIME_FL));
    EXPECT_EQ(get_flags(fd), FS_NODUMP_FL | FS_NOATIME_FL);
    struct statx sx;
    EXPECT_OK(statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &sx));
    EXPECT_EQ(sx.stx_attributes_mask & 0x70, 0x70); /* immutable, append, nodump */
    EXPECT_EQ(sx.stx_attributes & 0x70, STATX_ATTR_NODUMP);
    EXPECT_ERRNO(set_flags(fd, FS_COMPR_FL), EOPNOTSUPP);
    EXPECT_ERRNO(ioctl(fd, FS_IOC_GETFLAGS, (void *)8), EFAULT);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    EXPECT(dfd >= 0);
    EXPECT_EQ(get_flags(dfd), 0);
    int p[2];
    EXPECT_OK(pipe(p));
    int f = 0;
    EXPECT_ERRNO(ioctl(p[0], FS_IOC_GETFLAGS, &f), ENOTTY);
    EXPECT_OK(fchmod(fd, 0666));
    pid_t child = fork();
    if (child == 0) {
        /* Not the owner: EPERM; the owner without CAP_LINUX_IMMUTABLE: nodump yes, immutable no. */
        if (setresuid(1000, 1000, 1000) != 0) _exit(1);
        if (set_flags(fd, 0) != -1 || errno != EPERM) _exit(2);
        if (get_flags(fd) != (FS_NODUMP_FL | FS_NOATIME_FL)) _exit(3);
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
    EXPECT_OK(fchown(fd, 1000, 1000));
    child = fork();
    if (child == 0) {
        if (setresuid(1000, 1000, 1000) != 0) _exit(1);
        if (set_flags(fd, FS_NODUMP_FL) != 0) _exit(2);
        if (set_flags(fd, FS_IMMUTABLE_FL) != -1 || errno != EPERM) _exit(3);
        if (set_flags(fd, FS_APPEND_FL) != -1 || errno != EPERM) _exit(4);
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
    EXPECT_EQ(get_flags(fd), FS_NODUMP_FL);
}

/* An immutable file refuses every change, to root too: writing opens, truncation, its names
 * (unlink, rename, link), mode, owner, times, extended attributes; an immutable directory
 * takes no new entries. Reading goes on, and clearing the flag lifts it all. */
CASE(an_immutable_file_refuses_every_change_even_to_root) {
    const char *dir = flags_tmpfs();
    char path[700], other[700], sub[700], inside[760];
    snprintf(path, sizeof path, "%s/f", dir);
    snprintf(other, sizeof other, "%s/g", dir);
    snprintf(sub, sizeof sub, "%s/d", dir);
    snprintf(inside, sizeof inside, "%s/d/x", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "data", 4), 4);
    EXPECT_OK(set_flags(fd, FS_IMMUTABLE_FL));
    EXPECT_ERRNO(open(path, O_WRONLY), EPERM);
    EXPECT_ERRNO(open(path, O_RDONLY | O_TRUNC), EPERM);
    int r = open(path, O_RDONLY);
    EXPECT(r >= 0);
    char buf[8];
    EXPECT_EQ(read(r, buf, sizeof buf), 4);
    EXPECT_ERRNO(truncate(path, 0), EPERM);
    EXPECT_ERRNO(unlink(path), EPERM);
    EXPECT_ERRNO(rename(path, other), EPERM);
    EXPECT_ERRNO(link(path, other), EPERM);
    EXPECT_ERRNO(chmod(path, 0600), EPERM);
    EXPECT_ERRNO(chown(path, 1, 1), EPERM);
    EXPECT_ERRNO(utimes(path, NULL), EPERM);
    EXPECT_ERRNO(setxattr(path, "user.x", "1", 1, 0), EPERM);
    EXPECT_ERRNO(fallocate(fd, 0, 0, 4096), EPERM);
    struct statx sx;
    EXPECT_OK(statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &sx));
    EXPECT_EQ(sx.stx_attributes & 0x70, STATX_ATTR_IMMUTABLE);
    EXPECT_OK(mkdir(sub, 0755));
    int d = open(sub, O_RDONLY | O_DIRECTORY);
    EXPECT(d >= 0);
    EXPECT_OK(set_flags(d, FS_IMMUTABLE_FL));
    EXPECT_ERRNO(open(inside, O_WRONLY | O_CREAT, 0644), EPERM);
    EXPECT_ERRNO(mkdir(inside, 0755), EPERM);
    EXPECT_OK(set_flags(d, 0));
    EXPECT_OK(set_flags(fd, 0));
    EXPECT_OK(chmod(path, 0600));
    EXPECT_OK(rename(path, other));
    EXPECT_OK(unlink(other));
}

/* An append-only file opens for writing only with O_APPEND and only grows at its end: no
 * O_TRUNC, no truncation, no dropping O_APPEND, no hole punched (preallocation is allowed), no
 * shared mapping through a writable descriptor; its names, mode and times stay, but it may
 * be touched to now. */
CASE(an_append_only_file_only_grows_at_its_end) {
    const char *dir = flags_tmpfs();
    char path[700], other[700];
    snprintf(path, sizeof path, "%s/f", dir);
    snprintf(other, sizeof other, "%s/g", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "head", 4), 4);
    EXPECT_OK(set_flags(fd, FS_APPEND_FL));
    EXPECT_ERRNO(open(path, O_WRONLY), EPERM);
    EXPECT_ERRNO(open(path, O_WRONLY | O_APPEND | O_TRUNC), EPERM);
    int a = open(path, O_WRONLY | O_APPEND);
    EXPECT(a >= 0);
    EXPECT_EQ(pwrite(a, "tail", 4, 0), 4); /* O_APPEND: at the end, whatever the offset */
    char buf[16] = {0};
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 8);
    EXPECT_STREQ(buf, "headtail");
    EXPECT_ERRNO(ftruncate(a, 0), EPERM);
    EXPECT_ERRNO(truncate(path, 0), EPERM);
    EXPECT_ERRNO(fcntl(a, F_SETFL, 0), EPERM);
    EXPECT_ERRNO(fallocate(a, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4), EPERM);
    EXPECT_OK(fallocate(a, FALLOC_FL_KEEP_SIZE, 0, 8192));
    EXPECT(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED && errno == EACCES);
    int ro = open(path, O_RDONLY);
    EXPECT(ro >= 0);
    void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
    EXPECT(m != MAP_FAILED);
    EXPECT_ERRNO(unlink(path), EPERM);
    EXPECT_ERRNO(rename(path, other), EPERM);
    EXPECT_ERRNO(chmod(path, 0600), EPERM);
    struct timeval tv[2] = {{1, 0}, {1, 0}};
    EXPECT_ERRNO(utimes(path, tv), EPERM);
    EXPECT_OK(utimes(path, NULL));
    EXPECT_OK(set_flags(fd, 0));
    EXPECT_OK(ftruncate(a, 0));
    EXPECT_OK(unlink(path));
}

/* O_TRUNC asks for write permission whatever the access mode, and truncates a regular file
 * opened read-only too (Linux's build_open_flags and handle_truncate); a directory is EISDIR. */
CASE(o_trunc_with_o_rdonly_needs_write_permission_and_truncates) {
    char path[600];
    snprintf(path, sizeof path, "%s", scratch_path("trunc-rdonly"));
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "abcd", 4), 4);
    EXPECT_OK(fchmod(fd, 0444));
    pid_t child = fork();
    if (child == 0) {
        if (setresuid(1000, 1000, 1000) != 0) _exit(1);
        _exit(open(path, O_RDONLY | O_TRUNC) == -1 && errno == EACCES ? 0 : 2);
    }
    EXPECT_EQ(wait_status(child), 0);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 4);
    int r = open(path, O_RDONLY | O_TRUNC);
    EXPECT(r >= 0);
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_size, 0);
    EXPECT_ERRNO(open(compat_tmp, O_RDONLY | O_TRUNC), EISDIR);
    EXPECT_OK(unlink(path));
}

/* O_APPEND on the descriptor is not the append-only flag: a hole may be punched through it. */
CASE(fallocate_punches_a_hole_through_an_o_append_descriptor) {
    char path[600];
    snprintf(path, sizeof path, "%s", scratch_path("punch-append"));
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND, 0644);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "abcdefgh", 8), 8);
    EXPECT_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4));
    char buf[8];
    EXPECT_EQ(pread(fd, buf, 8, 0), 8);
    EXPECT(memcmp(buf, "\0\0\0\0efgh", 8) == 0);
    EXPECT_OK(unlink(path));
}

COMPAT_MAIN()

/* O_TMPFILE: a file with no name, linkable into the directory later unless O_EXCL. */
CASE(o_tmpfile_is_nameless_until_linkat_names_it) {
    int fd = open(scratch(), O_TMPFILE | O_RDWR, 0600);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "tmp", 3), 3);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_nlink, 0);
    EXPECT(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600);
    DIR *d = opendir(scratch());
    int entries = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) entries++;
    closedir(d);
    EXPECT_EQ(entries, 0);
    EXPECT_OK(linkat(fd, "", AT_FDCWD, scratch_path("named"), AT_EMPTY_PATH));
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_nlink, 1);
    char buf[8] = {0};
    EXPECT(slurp(scratch_path("named"), buf, sizeof buf) == 3);
    EXPECT_STREQ(buf, "tmp");
    close(fd);
}

CASE(o_tmpfile_with_o_excl_and_unlinked_files_cannot_be_linked) {
    int fd = open(scratch(), O_TMPFILE | O_WRONLY | O_EXCL, 0600);
    EXPECT(fd >= 0);
    EXPECT_ERRNO(linkat(fd, "", AT_FDCWD, scratch_path("a"), AT_EMPTY_PATH), ENOENT);
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    EXPECT_ERRNO(linkat(AT_FDCWD, proc, AT_FDCWD, scratch_path("b"), AT_SYMLINK_FOLLOW), ENOENT);
    close(fd);
    int g = open(scratch_path("gone"), O_CREAT | O_RDWR, 0600);
    EXPECT(g >= 0);
    EXPECT_OK(unlink(scratch_path("gone")));
    EXPECT_ERRNO(linkat(g, "", AT_FDCWD, scratch_path("c"), AT_EMPTY_PATH), ENOENT);
    close(g);
}

CASE(o_tmpfile_flag_errors) {
    EXPECT_ERRNO(open(scratch(), O_TMPFILE | O_RDONLY, 0600), EINVAL);
    EXPECT_ERRNO(open(scratch(), O_TMPFILE | O_RDWR | O_CREAT, 0600), EINVAL);
    EXPECT_ERRNO(open(scratch(), 020000000 | O_RDWR, 0600), EINVAL); /* __O_TMPFILE alone */
    int f = open(scratch_path("f"), O_CREAT | O_WRONLY, 0600);
    close(f);
    EXPECT_ERRNO(open(scratch_path("f"), O_TMPFILE | O_RDWR, 0600), ENOTDIR);
    EXPECT_ERRNO(open(scratch_path("none"), O_TMPFILE | O_RDWR, 0600), ENOENT);
}

/* The call that creates a file opens it whatever mode it gives the file (may_open is skipped). */
CASE(a_file_created_read_only_opens_for_writing_once) {
    EXPECT_OK(chmod(scratch(), 0777));
    pid_t child = fork();
    if (child == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(1);
        int fd = open(scratch_path("ro"), O_CREAT | O_RDWR | O_EXCL, 0444);
        if (fd < 0) _exit(2);
        if (write(fd, "x", 1) != 1) _exit(3);
        close(fd);
        if (open(scratch_path("ro"), O_RDWR) >= 0 || errno != EACCES) _exit(4);
        fd = open(scratch(), O_TMPFILE | O_RDWR, 0);
        if (fd < 0) _exit(5);
        if (write(fd, "y", 1) != 1) _exit(6);
        _exit(0);
    }
    int status;
    EXPECT_EQ(waitpid(child, &status, 0), child);
    EXPECT(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

/* tmpfs knows its holes: SEEK_DATA finds the pages written (through write or a shared
 * mapping), SEEK_HOLE the first page that is not, or the end; fallocate's pages, never
 * written, are holes too (shmem_file_llseek). */
CASE(lseek_finds_the_data_and_holes_of_a_sparse_tmpfs_file) {
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/compat-sparse-%d", getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT(fd >= 0);
    EXPECT_OK(unlink(path));
    enum { K = 65536 };
    EXPECT_OK(ftruncate(fd, 4 * K));
    EXPECT_ERRNO(lseek(fd, 0, SEEK_DATA), ENXIO);
    EXPECT_EQ(lseek(fd, 100, SEEK_HOLE), 100);
    EXPECT_EQ(pwrite(fd, "x", 1, 4096 + 10), 1);
    EXPECT_EQ(lseek(fd, 0, SEEK_DATA), 4096);
    EXPECT_EQ(lseek(fd, 4096, SEEK_DATA), 4096);
    EXPECT_EQ(lseek(fd, 5000, SEEK_DATA), 5000);
    EXPECT_EQ(lseek(fd, 0, SEEK_HOLE), 0);
    EXPECT_EQ(lseek(fd, 4096, SEEK_HOLE), 8192);
    EXPECT_ERRNO(lseek(fd, 8192, SEEK_DATA), ENXIO);
    char *m = mmap(NULL, 4 * K, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT(m != MAP_FAILED);
    m[2 * K + 1] = 'y';
    EXPECT_EQ(lseek(fd, 8192, SEEK_DATA), 2 * K);
    EXPECT_EQ(lseek(fd, 2 * K, SEEK_HOLE), 2 * K + 4096);
    EXPECT_OK(fallocate(fd, 0, 3 * K, 4096));
    EXPECT_ERRNO(lseek(fd, 3 * K, SEEK_DATA), ENXIO);
    EXPECT_EQ(pwrite(fd, "z", 1, 4 * K - 1), 1);
    EXPECT_EQ(lseek(fd, 3 * K + 5, SEEK_DATA), 4 * K - 4096);
    EXPECT_EQ(lseek(fd, 4 * K - 4096, SEEK_HOLE), 4 * K);
    EXPECT_ERRNO(lseek(fd, 4 * K, SEEK_HOLE), ENXIO);
    /* the position moves to the answer */
    EXPECT_EQ(lseek(fd, 0, SEEK_DATA), 4096);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 4096);
    EXPECT_OK(munmap(m, 4 * K));
}

/* Reading a tmpfs file's holes reads zeros and leaves them holes (shmem reads them from the
 * zero page): SEEK_DATA still skips them, st_blocks does not grow, and the pages stored
 * through write or a shared mapping read back among them (LTP's lseek11 reads its holes
 * before seeking). */
CASE(reading_the_holes_of_a_sparse_tmpfs_file_leaves_them_holes) {
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/compat-holes-%d", getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT(fd >= 0);
    EXPECT_OK(unlink(path));
    enum { K = 65536 };
    EXPECT_OK(ftruncate(fd, 4 * K));
    EXPECT_EQ(pwrite(fd, "written", 7, 10), 7);
    char *m = mmap(NULL, 4 * K, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT(m != MAP_FAILED);
    memcpy(m + 3 * 4096 + 5, "mapped", 6);
    struct stat before, after;
    EXPECT_OK(fstat(fd, &before));
    static char buf[4 * 65536];
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 4 * K);
    EXPECT(memcmp(buf + 10, "written", 7) == 0);
    EXPECT(memcmp(buf + 3 * 4096 + 5, "mapped", 6) == 0);
    for (int i = 4096; i < 3 * 4096; i++) if (buf[i]) EXPECT(!"a hole read as zeros");
    for (int i = 4 * 4096; i < 4 * K; i++) if (buf[i]) EXPECT(!"a hole read as zeros");
    EXPECT_OK(fstat(fd, &after));
    EXPECT_EQ(after.st_blocks, before.st_blocks);
    EXPECT_EQ(lseek(fd, 4096, SEEK_DATA), 3 * 4096);
    EXPECT_EQ(lseek(fd, 4 * 4096, SEEK_HOLE), 4 * 4096);
    EXPECT_ERRNO(lseek(fd, 4 * 4096, SEEK_DATA), ENXIO);
    EXPECT_OK(munmap(m, 4 * K));
}

/* A tmpfs file may be as long as 2^63 - 1 and hold one page: SEEK_DATA and SEEK_HOLE answer
 * at once, from what is held, not by walking the length (trinity ftruncates memfds so). */
CASE(lseek_on_a_huge_sparse_memfd_answers_from_the_pages_held) {
    int fd = memfd_create("compat-huge", 0);
    EXPECT(fd >= 0);
    EXPECT_OK(ftruncate(fd, 0x7fffffffffffffffLL));
    EXPECT_ERRNO(lseek(fd, 1LL << 40, SEEK_DATA), ENXIO);
    EXPECT_EQ(lseek(fd, 1LL << 40, SEEK_HOLE), 1LL << 40);
    EXPECT_EQ(pwrite(fd, "x", 1, (1LL << 61) + 10), 1);
    EXPECT_EQ(lseek(fd, 5, SEEK_DATA), 1LL << 61);
    EXPECT_EQ(lseek(fd, 1LL << 61, SEEK_HOLE), (1LL << 61) + 4096);
    EXPECT_ERRNO(lseek(fd, (1LL << 61) + 4096, SEEK_DATA), ENXIO);
    EXPECT_EQ(lseek(fd, 0x7ffffffffffffff0LL, SEEK_HOLE), 0x7ffffffffffffff0LL);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_blocks, 8);
    EXPECT_OK(close(fd));
}
