/* openat2(2): its struct open_how checked strictly, and path walks restricted by RESOLVE_*
 * (beneath a directory, in it as root, no symlinks, no magic links, no mount crossing). */
#include "../compat.h"
#include <linux/openat2.h>
#include <sys/syscall.h>

static long openat2_(int dirfd, const char *path, unsigned long long flags, unsigned long long mode,
                     unsigned long long resolve) {
    struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
    return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* scratch/d/f, scratch/d/s/, and symlinks in s: up -> ../f, out -> ../../x, abs -> /f */
static int make_tree(void) {
    char p[600];
    snprintf(p, sizeof p, "%s/d", scratch());
    EXPECT_OK(mkdir(p, 0755));
    snprintf(p, sizeof p, "%s/d/s", scratch());
    EXPECT_OK(mkdir(p, 0755));
    snprintf(p, sizeof p, "%s/d/f", scratch());
    write_file(p, "inside");
    snprintf(p, sizeof p, "%s/x", scratch());
    write_file(p, "outside");
    snprintf(p, sizeof p, "%s/d/s/up", scratch());
    EXPECT_OK(symlink("../f", p));
    snprintf(p, sizeof p, "%s/d/s/out", scratch());
    EXPECT_OK(symlink("../../x", p));
    snprintf(p, sizeof p, "%s/d/s/abs", scratch());
    EXPECT_OK(symlink("/f", p));
    snprintf(p, sizeof p, "%s/d", scratch());
    int d = open(p, O_RDONLY | O_DIRECTORY);
    EXPECT(d >= 0);
    return d;
}

static void expect_content(long fd, const char *want) {
    EXPECT(fd >= 0);
    char buf[32] = {0};
    EXPECT_EQ(read((int)fd, buf, sizeof buf - 1), (long)strlen(want));
    EXPECT_STREQ(buf, want);
    close((int)fd);
}

CASE(openat2_opens_as_openat_and_checks_its_struct) {
    int d = make_tree();
    expect_content(openat2_(d, "f", O_RDONLY, 0, 0), "inside");
    struct {
        struct open_how how;
        unsigned long long extra;
    } big = {{.flags = O_RDONLY}, 0};
    expect_content(syscall(SYS_openat2, d, "f", &big, sizeof big), "inside");
    big.extra = 1;
    EXPECT_ERRNO(syscall(SYS_openat2, d, "f", &big, sizeof big), E2BIG);
    struct open_how how = {.flags = O_RDONLY};
    EXPECT_ERRNO(syscall(SYS_openat2, d, "f", &how, 16), EINVAL);
    EXPECT_ERRNO(syscall(SYS_openat2, d, "f", NULL, sizeof how), EFAULT);
    EXPECT_ERRNO(openat2_(d, "f", 1ULL << 40, 0, 0), EINVAL);       /* not an open flag */
    EXPECT_ERRNO(openat2_(d, "f", O_RDONLY, 0644, 0), EINVAL);      /* a mode without O_CREAT */
    EXPECT_ERRNO(openat2_(d, "g", O_CREAT | O_WRONLY, 010000, 0), EINVAL);
    EXPECT_ERRNO(openat2_(d, "f", O_RDONLY, 0, 0x40), EINVAL);       /* not a RESOLVE_ flag */
    EXPECT_ERRNO(openat2_(d, "f", O_RDONLY, 0, RESOLVE_BENEATH | RESOLVE_IN_ROOT), EINVAL);
    EXPECT_ERRNO(openat2_(d, "f", O_PATH | O_RDWR, 0, 0), EINVAL);
    EXPECT_ERRNO(openat2_(d, "g", O_CREAT | O_WRONLY, 0644, RESOLVE_CACHED), EAGAIN);
    long fd = openat2_(d, "g", O_CREAT | O_WRONLY, 0640, 0);
    EXPECT(fd >= 0);
    struct stat st;
    EXPECT_OK(fstat((int)fd, &st));
    EXPECT_EQ(st.st_mode & 0777, 0640 & ~022);
    close((int)fd);
    close(d);
}

CASE(resolve_beneath_keeps_the_walk_below_the_directory) {
    umask(022);
    int d = make_tree();
    expect_content(openat2_(d, "s/../f", O_RDONLY, 0, RESOLVE_BENEATH), "inside");
    expect_content(openat2_(d, "s/up", O_RDONLY, 0, RESOLVE_BENEATH), "inside");
    EXPECT_ERRNO(openat2_(d, "../x", O_RDONLY, 0, RESOLVE_BENEATH), EXDEV);
    EXPECT_ERRNO(openat2_(d, "s/out", O_RDONLY, 0, RESOLVE_BENEATH), EXDEV);
    EXPECT_ERRNO(openat2_(d, "s/abs", O_RDONLY, 0, RESOLVE_BENEATH), EXDEV);
    EXPECT_ERRNO(openat2_(d, "/etc/passwd", O_RDONLY, 0, RESOLVE_BENEATH), EXDEV);
    EXPECT_ERRNO(openat2_(d, "..", O_RDONLY, 0, RESOLVE_BENEATH), EXDEV);
    /* Without the flag the same paths lead out. */
    expect_content(openat2_(d, "../x", O_RDONLY, 0, 0), "outside");
    close(d);
}

CASE(resolve_in_root_treats_the_directory_as_root) {
    int d = make_tree();
    expect_content(openat2_(d, "/f", O_RDONLY, 0, RESOLVE_IN_ROOT), "inside");
    expect_content(openat2_(d, "../../../f", O_RDONLY, 0, RESOLVE_IN_ROOT), "inside");
    expect_content(openat2_(d, "s/abs", O_RDONLY, 0, RESOLVE_IN_ROOT), "inside");
    expect_content(openat2_(d, "s/up", O_RDONLY, 0, RESOLVE_IN_ROOT), "inside");
    EXPECT_ERRNO(openat2_(d, "s/out", O_RDONLY, 0, RESOLVE_IN_ROOT), ENOENT); /* ../../x is /x there */
    close(d);
}

CASE(resolve_no_symlinks_and_no_magiclinks) {
    int d = make_tree();
    EXPECT_ERRNO(openat2_(d, "s/up", O_RDONLY, 0, RESOLVE_NO_SYMLINKS), ELOOP);
    expect_content(openat2_(d, "f", O_RDONLY, 0, RESOLVE_NO_SYMLINKS), "inside");
    int f = openat(d, "f", O_RDONLY);
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", f);
    EXPECT_ERRNO(openat2_(AT_FDCWD, proc, O_RDONLY, 0, RESOLVE_NO_MAGICLINKS), ELOOP);
    expect_content(openat2_(AT_FDCWD, proc, O_RDONLY, 0, 0), "inside");
    /* /proc/self is a plain symlink; it is /proc/self/fd/N that is magic. */
    EXPECT_ERRNO(openat2_(AT_FDCWD, proc, O_RDONLY, 0, RESOLVE_NO_SYMLINKS), ELOOP);
    close(f);
    close(d);
}

CASE(resolve_no_xdev_stops_at_mount_points) {
    int d = make_tree();
    expect_content(openat2_(d, "s/../f", O_RDONLY, 0, RESOLVE_NO_XDEV), "inside");
    EXPECT_ERRNO(openat2_(AT_FDCWD, "/proc/self/status", O_RDONLY, 0, RESOLVE_NO_XDEV), EXDEV);
    int proc = open("/proc", O_RDONLY | O_DIRECTORY);
    EXPECT(proc >= 0);
    EXPECT_ERRNO(openat2_(proc, "..", O_RDONLY | O_DIRECTORY, 0, RESOLVE_NO_XDEV), EXDEV);
    long fd = openat2_(proc, "uptime", O_RDONLY, 0, RESOLVE_NO_XDEV);
    EXPECT(fd >= 0);
    close((int)fd);
    close(proc);
    close(d);
}

COMPAT_MAIN()

CASE(openat2_no_magiclinks_refuses_exe_cwd_root_and_fd_links) {
    int d = open("/", O_PATH);
    EXPECT_ERRNO(openat2_(AT_FDCWD, "/proc/self/exe", O_RDONLY, 0, RESOLVE_NO_MAGICLINKS), ELOOP);
    EXPECT_ERRNO(openat2_(AT_FDCWD, "/proc/self/cwd", O_RDONLY, 0, RESOLVE_NO_MAGICLINKS), ELOOP);
    EXPECT_ERRNO(openat2_(AT_FDCWD, "/proc/self/root", O_RDONLY, 0, RESOLVE_NO_MAGICLINKS), ELOOP);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", d);
    EXPECT_ERRNO(openat2_(AT_FDCWD, path, O_PATH, 0, RESOLVE_NO_MAGICLINKS), ELOOP);
    /* /proc/self is an ordinary link */
    int ok = openat2_(AT_FDCWD, "/proc/self/status", O_RDONLY, 0, RESOLVE_NO_MAGICLINKS);
    EXPECT(ok >= 0);
    int ok2 = openat2_(AT_FDCWD, "/proc/self/exe", O_RDONLY, 0, 0);
    EXPECT(ok2 >= 0);
}
