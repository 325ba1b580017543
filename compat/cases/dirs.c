/* Directories: mkdir/rmdir, listing with getdents64 and readdir, the working directory,
 * dirfd-relative lookups, renaming directories, unlinkat, and path resolution limits. */
#include "../compat.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/syscall.h>

struct dirent64_raw {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static void touch(const char *path) {
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    if (fd < 0) compat_fail(__FILE__, __LINE__, "cannot create %s: %s", path, strerror(errno));
    close(fd);
}

static void *noaccess_page(void) {
    void *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) compat_fail(__FILE__, __LINE__, "mmap failed");
    return p;
}

/* Lists `dirfd` with getdents64 in buffers of `bufsize`; returns the number of entries and
 * calls `seen(name, type)` for each. */
static int list_dir(int dirfd, size_t bufsize, void (*seen)(const char *, int, void *), void *ctx) {
    char buf[8192];
    if (bufsize > sizeof buf) bufsize = sizeof buf;
    int count = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, dirfd, buf, bufsize);
        if (n < 0) compat_fail(__FILE__, __LINE__, "getdents64 failed: %s", strerror(errno));
        if (n == 0) break;
        for (long off = 0; off < n;) {
            struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
            if (d->d_reclen == 0) compat_fail(__FILE__, __LINE__, "zero d_reclen");
            if (seen) seen(d->d_name, d->d_type, ctx);
            count++;
            off += d->d_reclen;
        }
    }
    return count;
}

struct expect_types { int dot, dotdot, file, dir, link, fifo, other; };
static void classify(const char *name, int type, void *ctx) {
    struct expect_types *e = ctx;
    if (!strcmp(name, ".")) { e->dot++; if (type != DT_DIR) e->other++; }
    else if (!strcmp(name, "..")) { e->dotdot++; if (type != DT_DIR) e->other++; }
    else if (!strcmp(name, "file")) { e->file++; if (type != DT_REG) e->other++; }
    else if (!strcmp(name, "sub")) { e->dir++; if (type != DT_DIR) e->other++; }
    else if (!strcmp(name, "link")) { e->link++; if (type != DT_LNK) e->other++; }
    else if (!strcmp(name, "fifo")) { e->fifo++; if (type != DT_FIFO) e->other++; }
    else e->other++;
}

/* ---- mkdir / mkdirat ---- */

CASE(mkdir_creates_directory_with_mode) {
    umask(0);
    EXPECT_OK(mkdir("d", 0751));
    struct stat st;
    EXPECT_OK(stat("d", &st));
    EXPECT(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0751);
    EXPECT_EQ(st.st_nlink, 2);
}

CASE(mkdir_subdirectory_increments_parent_nlink) {
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_OK(mkdir("d/a", 0755));
    EXPECT_OK(mkdir("d/b", 0755));
    touch("d/f");
    struct stat st;
    EXPECT_OK(stat("d", &st));
    EXPECT_EQ(st.st_nlink, 4);
    EXPECT_OK(rmdir("d/a"));
    EXPECT_OK(stat("d", &st));
    EXPECT_EQ(st.st_nlink, 3);
}

CASE(mkdir_existing_is_eexist) {
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_ERRNO(mkdir("d", 0755), EEXIST);
    touch("f");
    EXPECT_ERRNO(mkdir("f", 0755), EEXIST);
    EXPECT_ERRNO(mkdir(".", 0755), EEXIST);
}

CASE(mkdir_on_dangling_symlink_is_eexist) {
    EXPECT_OK(symlink("target", "link"));
    EXPECT_ERRNO(mkdir("link", 0755), EEXIST);
    EXPECT_ERRNO(access("target", F_OK), ENOENT);
}

CASE(mkdir_missing_parent_is_enoent) {
    EXPECT_ERRNO(mkdir("no/such", 0755), ENOENT);
}

CASE(mkdir_under_a_file_is_enotdir) {
    touch("f");
    EXPECT_ERRNO(mkdir("f/sub", 0755), ENOTDIR);
}

CASE(mkdir_with_trailing_slash_succeeds) {
    EXPECT_OK(mkdir("d/", 0755));
    struct stat st;
    EXPECT_OK(stat("d", &st));
    EXPECT(S_ISDIR(st.st_mode));
}

CASE(mkdirat_relative_to_dirfd) {
    EXPECT_OK(mkdir("d", 0755));
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    EXPECT(dfd >= 0);
    EXPECT_OK(mkdirat(dfd, "sub", 0755));
    struct stat st;
    EXPECT_OK(stat("d/sub", &st));
    EXPECT(S_ISDIR(st.st_mode));
}

CASE(mkdirat_bad_dirfd_is_ebadf_and_file_dirfd_is_enotdir) {
    EXPECT_ERRNO(mkdirat(9999, "sub", 0755), EBADF);
    touch("f");
    int fd = open("f", O_RDONLY);
    EXPECT_ERRNO(mkdirat(fd, "sub", 0755), ENOTDIR);
}

CASE(mkdir_bad_path_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_mkdirat, AT_FDCWD, (char *)1, 0755), EFAULT);
    EXPECT_ERRNO(syscall(SYS_mkdir, noaccess_page(), 0755), EFAULT);
}

/* ---- rmdir ---- */

CASE(rmdir_removes_empty_directory) {
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_OK(rmdir("d"));
    EXPECT_ERRNO(access("d", F_OK), ENOENT);
    EXPECT_ERRNO(rmdir("d"), ENOENT);
}

CASE(rmdir_nonempty_is_enotempty) {
    EXPECT_OK(mkdir("d", 0755));
    touch("d/f");
    EXPECT_ERRNO(rmdir("d"), ENOTEMPTY);
}

CASE(rmdir_dot_is_einval_and_dotdot_is_enotempty) {
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_ERRNO(rmdir("."), EINVAL);
    EXPECT_ERRNO(rmdir("d/."), EINVAL);
    EXPECT_ERRNO(rmdir("d/.."), ENOTEMPTY);
}

CASE(rmdir_on_file_or_symlink_is_enotdir) {
    touch("f");
    EXPECT_ERRNO(rmdir("f"), ENOTDIR);
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_OK(symlink("d", "link"));
    EXPECT_ERRNO(rmdir("link"), ENOTDIR);
}

/* ---- getdents64 / readdir ---- */

/* A directory removed while open lists nothing: ENOENT (getdents02). */
CASE(getdents_of_a_removed_directory_is_enoent) {
    EXPECT_OK(mkdir(scratch_path("gone"), 0755));
    int fd = open(scratch_path("gone"), O_RDONLY | O_DIRECTORY);
    EXPECT(fd >= 0);
    EXPECT_OK(rmdir(scratch_path("gone")));
    char buf[4096];
    EXPECT_ERRNO(syscall(SYS_getdents64, fd, buf, sizeof buf), ENOENT);
    close(fd);
}

CASE(getdents64_lists_dot_dotdot_entries_and_types) {
    EXPECT_OK(mkdir("d", 0755));
    touch("d/file");
    EXPECT_OK(mkdir("d/sub", 0755));
    EXPECT_OK(symlink("file", "d/link"));
    EXPECT_OK(mkfifo("d/fifo", 0644));
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    struct expect_types e = {0};
    EXPECT_EQ(list_dir(dfd, 8192, classify, &e), 6);
    EXPECT_EQ(e.dot, 1);
    EXPECT_EQ(e.dotdot, 1);
    EXPECT_EQ(e.file, 1);
    EXPECT_EQ(e.dir, 1);
    EXPECT_EQ(e.link, 1);
    EXPECT_EQ(e.fifo, 1);
    EXPECT_EQ(e.other, 0);
}

/* Each entry of a directory the sandbox did not make (the host's /usr/bin under Joey's
 * overlay, listed before any entry is looked up) has the inode number and type its lstat
 * gives. */
CASE(getdents64_of_a_system_directory_matches_lstat) {
    int dfd = open("/usr/bin", O_RDONLY | O_DIRECTORY);
    EXPECT(dfd >= 0);
    char buf[4096];
    int entries = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
        EXPECT(n >= 0);
        if (n == 0) break;
        for (long off = 0; off < n;) {
            struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
            off += d->d_reclen;
            if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, "..")) continue;
            struct stat st;
            EXPECT_OK(fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW));
            EXPECT_EQ(d->d_ino, st.st_ino);
            EXPECT_EQ(d->d_type, (st.st_mode & S_IFMT) >> 12);
            entries++;
        }
    }
    EXPECT(entries > 10);
    close(dfd);
}

CASE(getdents64_empty_directory_has_only_dot_and_dotdot) {
    EXPECT_OK(mkdir("d", 0755));
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    struct expect_types e = {0};
    EXPECT_EQ(list_dir(dfd, 8192, classify, &e), 2);
    EXPECT_EQ(e.dot + e.dotdot, 2);
}

static void count_names(const char *name, int type, void *ctx) {
    int *seen = ctx;
    int i;
    if (sscanf(name, "n%d", &i) == 1 && i >= 0 && i < 300) seen[i]++;
}

CASE(getdents64_small_buffer_lists_each_entry_once) {
    EXPECT_OK(mkdir("d", 0755));
    char name[32];
    for (int i = 0; i < 300; i++) { snprintf(name, sizeof name, "d/n%d", i); touch(name); }
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    int seen[300] = {0};
    EXPECT_EQ(list_dir(dfd, 100, count_names, seen), 302);
    for (int i = 0; i < 300; i++) EXPECT_EQ(seen[i], 1);
}

CASE(getdents64_after_lseek_zero_lists_again) {
    EXPECT_OK(mkdir("d", 0755));
    touch("d/a");
    touch("d/b");
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    EXPECT_EQ(list_dir(dfd, 8192, NULL, NULL), 4);
    EXPECT_EQ(list_dir(dfd, 8192, NULL, NULL), 0);
    EXPECT_EQ(lseek(dfd, 0, SEEK_SET), 0);
    EXPECT_EQ(list_dir(dfd, 8192, NULL, NULL), 4);
}

CASE(getdents64_buffer_too_small_is_einval) {
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    char buf[8];
    EXPECT_ERRNO(syscall(SYS_getdents64, dfd, buf, 1), EINVAL);
}

CASE(getdents64_on_file_is_enotdir_and_bad_fd_is_ebadf) {
    touch("f");
    int fd = open("f", O_RDONLY);
    char buf[1024];
    EXPECT_ERRNO(syscall(SYS_getdents64, fd, buf, sizeof buf), ENOTDIR);
    EXPECT_ERRNO(syscall(SYS_getdents64, -1, buf, sizeof buf), EBADF);
    EXPECT_ERRNO(syscall(SYS_getdents64, 9999, buf, sizeof buf), EBADF);
}

CASE(getdents64_bad_buffer_is_efault) {
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    EXPECT_ERRNO(syscall(SYS_getdents64, dfd, (void *)1, 1024), EFAULT);
}

CASE(readdir_and_rewinddir_see_the_same_entries) {
    EXPECT_OK(mkdir("d", 0755));
    touch("d/x");
    touch("d/y");
    DIR *dir = opendir("d");
    EXPECT(dir != NULL);
    int n1 = 0, xy = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        n1++;
        if (!strcmp(de->d_name, "x") || !strcmp(de->d_name, "y")) xy++;
    }
    EXPECT_EQ(n1, 4);
    EXPECT_EQ(xy, 2);
    rewinddir(dir);
    int n2 = 0;
    while ((de = readdir(dir)) != NULL) n2++;
    EXPECT_EQ(n2, 4);
    EXPECT_OK(closedir(dir));
}

CASE(opendir_on_file_is_enotdir) {
    touch("f");
    errno = 0;
    EXPECT(opendir("f") == NULL);
    EXPECT_EQ(errno, ENOTDIR);
}

CASE(directory_fd_read_is_eisdir) {
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    char buf[16];
    EXPECT_ERRNO(read(dfd, buf, sizeof buf), EISDIR);
}

/* ---- chdir / fchdir / getcwd ---- */

CASE(chdir_then_getcwd_reports_new_directory) {
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_OK(chdir("d"));
    char want[600], buf[PATH_MAX];
    snprintf(want, sizeof want, "%s/d", scratch());
    EXPECT(getcwd(buf, sizeof buf) != NULL);
    EXPECT_STREQ(buf, want);
    EXPECT_OK(chdir(".."));
    EXPECT(getcwd(buf, sizeof buf) != NULL);
    EXPECT_STREQ(buf, scratch());
}

CASE(chdir_through_symlink_getcwd_reports_real_path) {
    EXPECT_OK(mkdir("real", 0755));
    EXPECT_OK(symlink("real", "link"));
    EXPECT_OK(chdir("link"));
    char want[600], buf[PATH_MAX];
    snprintf(want, sizeof want, "%s/real", scratch());
    EXPECT(getcwd(buf, sizeof buf) != NULL);
    EXPECT_STREQ(buf, want);
}

CASE(fchdir_then_getcwd_reports_new_directory) {
    EXPECT_OK(mkdir("d", 0755));
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    EXPECT_OK(chdir("/"));
    EXPECT_OK(fchdir(dfd));
    char want[600], buf[PATH_MAX];
    snprintf(want, sizeof want, "%s/d", scratch());
    EXPECT(getcwd(buf, sizeof buf) != NULL);
    EXPECT_STREQ(buf, want);
}

CASE(fchdir_on_file_is_enotdir_and_bad_fd_is_ebadf) {
    touch("f");
    int fd = open("f", O_RDONLY);
    EXPECT_ERRNO(fchdir(fd), ENOTDIR);
    EXPECT_ERRNO(fchdir(-1), EBADF);
    EXPECT_ERRNO(fchdir(9999), EBADF);
}

CASE(chdir_missing_is_enoent_and_file_is_enotdir) {
    touch("f");
    EXPECT_ERRNO(chdir("missing"), ENOENT);
    EXPECT_ERRNO(chdir("f"), ENOTDIR);
    EXPECT_ERRNO(syscall(SYS_chdir, (char *)1), EFAULT);
}

CASE(getcwd_small_buffer_is_erange) {
    char buf[PATH_MAX];
    EXPECT_ERRNO(getcwd(buf, 2) ? 0 : -1, ERANGE);
    size_t need = strlen(scratch()) + 1;
    EXPECT_ERRNO(syscall(SYS_getcwd, buf, need - 1), ERANGE);
    EXPECT_EQ(syscall(SYS_getcwd, buf, need), need);
    EXPECT_STREQ(buf, scratch());
}

CASE(getcwd_bad_buffer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_getcwd, (char *)1, 4096), EFAULT);
}

CASE(getcwd_after_cwd_removed_is_enoent) {
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_OK(chdir("d"));
    EXPECT_OK(rmdir("../d"));
    char buf[PATH_MAX];
    EXPECT_ERRNO(syscall(SYS_getcwd, buf, sizeof buf), ENOENT);
    EXPECT_ERRNO(open("newfile", O_CREAT | O_RDWR, 0644), ENOENT);
}

/* ---- dirfd-relative lookups ---- */

CASE(openat_relative_to_dirfd_follows_the_directory_after_rename) {
    EXPECT_OK(mkdir("d", 0755));
    int fd = open("d/f", O_CREAT | O_WRONLY, 0644);
    EXPECT_EQ(write(fd, "abc", 3), 3);
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    EXPECT_OK(rename("d", "e"));
    int f2 = openat(dfd, "f", O_RDONLY);
    EXPECT(f2 >= 0);
    char buf[4] = {0};
    EXPECT_EQ(read(f2, buf, 3), 3);
    EXPECT_STREQ(buf, "abc");
    EXPECT_OK(mkdirat(dfd, "sub", 0755));
    EXPECT_OK(access("e/sub", F_OK));
}

CASE(openat_dotdot_from_dirfd_reaches_parent) {
    EXPECT_OK(mkdir("d", 0755));
    touch("top");
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    int fd = openat(dfd, "../top", O_RDONLY);
    EXPECT(fd >= 0);
}

CASE(open_o_path_directory_works_as_dirfd) {
    EXPECT_OK(mkdir("d", 0755));
    touch("d/f");
    int dfd = open("d", O_PATH | O_DIRECTORY);
    EXPECT(dfd >= 0);
    int fd = openat(dfd, "f", O_RDONLY);
    EXPECT(fd >= 0);
    char buf[64];
    EXPECT_ERRNO(syscall(SYS_getdents64, dfd, buf, sizeof buf), EBADF);
}

/* ---- rename of directories ---- */

CASE(rename_directory_into_own_subdirectory_is_einval) {
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_OK(mkdir("d/sub", 0755));
    EXPECT_ERRNO(rename("d", "d/sub/x"), EINVAL);
    EXPECT_ERRNO(rename("d", "d/x"), EINVAL);
}

CASE(rename_directory_over_empty_directory_replaces_it) {
    EXPECT_OK(mkdir("a", 0755));
    touch("a/f");
    EXPECT_OK(mkdir("b", 0755));
    EXPECT_OK(rename("a", "b"));
    EXPECT_OK(access("b/f", F_OK));
    EXPECT_ERRNO(access("a", F_OK), ENOENT);
}

CASE(rename_directory_over_nonempty_directory_is_enotempty) {
    EXPECT_OK(mkdir("a", 0755));
    EXPECT_OK(mkdir("b", 0755));
    touch("b/f");
    EXPECT_ERRNO(rename("a", "b"), ENOTEMPTY);
}

CASE(rename_directory_over_file_is_enotdir_and_file_over_directory_is_eisdir) {
    EXPECT_OK(mkdir("d", 0755));
    touch("f");
    EXPECT_ERRNO(rename("d", "f"), ENOTDIR);
    EXPECT_ERRNO(rename("f", "d"), EISDIR);
}

CASE(rename_directory_updates_dotdot_and_nlink) {
    EXPECT_OK(mkdir("a", 0755));
    EXPECT_OK(mkdir("b", 0755));
    EXPECT_OK(mkdir("a/sub", 0755));
    EXPECT_OK(rename("a/sub", "b/sub"));
    struct stat sa, sb, dd;
    EXPECT_OK(stat("a", &sa));
    EXPECT_OK(stat("b", &sb));
    EXPECT_EQ(sa.st_nlink, 2);
    EXPECT_EQ(sb.st_nlink, 3);
    EXPECT_OK(stat("b/sub/..", &dd));
    EXPECT_EQ(dd.st_ino, sb.st_ino);
}

/* ---- unlinkat ---- */

CASE(unlinkat_removedir_removes_directory) {
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_OK(mkdir("d/sub", 0755));
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    EXPECT_OK(unlinkat(dfd, "sub", AT_REMOVEDIR));
    EXPECT_ERRNO(access("d/sub", F_OK), ENOENT);
}

CASE(unlinkat_directory_without_removedir_is_eisdir) {
    EXPECT_OK(mkdir("d", 0755));
    EXPECT_ERRNO(unlinkat(AT_FDCWD, "d", 0), EISDIR);
    touch("f");
    EXPECT_ERRNO(unlinkat(AT_FDCWD, "f", AT_REMOVEDIR), ENOTDIR);
}

CASE(unlinkat_bad_flags_is_einval_and_bad_dirfd_is_ebadf) {
    touch("f");
    EXPECT_ERRNO(unlinkat(AT_FDCWD, "f", 0x1), EINVAL);
    EXPECT_ERRNO(unlinkat(9999, "f", 0), EBADF);
    EXPECT_OK(access("f", F_OK));
}

/* ---- path resolution limits ---- */

CASE(symlink_loop_is_eloop) {
    EXPECT_OK(symlink("b", "a"));
    EXPECT_OK(symlink("a", "b"));
    EXPECT_OK(symlink("self", "self"));
    struct stat st;
    EXPECT_ERRNO(open("a", O_RDONLY), ELOOP);
    EXPECT_ERRNO(stat("self", &st), ELOOP);
    EXPECT_ERRNO(chdir("a"), ELOOP);
    EXPECT_ERRNO(open("self/x", O_RDONLY), ELOOP);
    EXPECT_OK(lstat("self", &st));
}

CASE(symlink_chain_of_forty_resolves_and_forty_one_is_eloop) {
    touch("l0");
    char from[16], to[16];
    for (int i = 1; i <= 41; i++) {
        snprintf(to, sizeof to, "l%d", i - 1);
        snprintf(from, sizeof from, "l%d", i);
        EXPECT_OK(symlink(to, from));
    }
    int fd = open("l40", O_RDONLY);
    EXPECT(fd >= 0);
    EXPECT_ERRNO(open("l41", O_RDONLY), ELOOP);
}

CASE(path_component_longer_than_name_max_is_enametoolong) {
    char name[NAME_MAX + 2];
    memset(name, 'x', NAME_MAX + 1);
    name[NAME_MAX + 1] = 0;
    struct stat st;
    EXPECT_ERRNO(mkdir(name, 0755), ENAMETOOLONG);
    EXPECT_ERRNO(stat(name, &st), ENAMETOOLONG);
    EXPECT_ERRNO(chdir(name), ENAMETOOLONG);
}

CASE(path_longer_than_path_max_is_enametoolong) {
    static char path[PATH_MAX + 16];
    for (int i = 0; i < PATH_MAX + 8; i += 2) { path[i] = '.'; path[i + 1] = '/'; }
    path[PATH_MAX + 8] = 0;
    struct stat st;
    EXPECT_ERRNO(stat(path, &st), ENAMETOOLONG);
    EXPECT_ERRNO(mkdir(path, 0755), ENAMETOOLONG);
    EXPECT_ERRNO(chdir(path), ENAMETOOLONG);
}

CASE(path_just_under_path_max_resolves) {
    static char path[PATH_MAX];
    int n = 0;
    while (n < PATH_MAX - 8) { path[n++] = '.'; path[n++] = '/'; }
    strcpy(path + n, "f");
    touch("f");
    struct stat st;
    EXPECT_OK(stat(path, &st));
}

CASE(trailing_slash_on_file_is_enotdir) {
    touch("f");
    struct stat st;
    EXPECT_ERRNO(stat("f/", &st), ENOTDIR);
    EXPECT_ERRNO(open("f/", O_RDONLY), ENOTDIR);
    EXPECT_ERRNO(unlink("f/"), ENOTDIR);
    EXPECT_ERRNO(rename("f", "g/"), ENOTDIR);
    EXPECT_ERRNO(open("new/", O_CREAT | O_RDWR, 0644), EISDIR);
}

CASE(dotdot_of_root_is_root) {
    struct stat a, b;
    EXPECT_OK(stat("/", &a));
    EXPECT_OK(stat("/../../..", &b));
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(a.st_dev, b.st_dev);
}

/* ---- hostile offsets on directories ---- */

CASE(lseek_directory_to_int64_max_then_one_more_is_einval) {
    EXPECT_OK(mkdir("d", 0755));
    int fd = open("d", O_RDONLY | O_DIRECTORY);
    EXPECT(fd >= 0);
    EXPECT_EQ(lseek(fd, INT64_MAX, SEEK_SET), INT64_MAX);
    EXPECT_ERRNO(lseek(fd, 1, SEEK_CUR), EINVAL);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), INT64_MAX);
    char buf[4096];
    EXPECT_EQ(syscall(SYS_getdents64, fd, buf, sizeof buf), 0);
    EXPECT_ERRNO(lseek(fd, -1, SEEK_SET), EINVAL);
}

/* ---- names are bytes ----
 * A name is any bytes but '/' and NUL; nothing is decoded, so bytes that are not UTF-8 come
 * back exactly and distinct bytes stay distinct names. */

struct byte_names { const char *want[3]; int found[3]; int others; };
static void match_byte_names(const char *name, int type, void *ctx) {
    struct byte_names *b = ctx;
    (void)type;
    if (!strcmp(name, ".") || !strcmp(name, "..")) return;
    for (int i = 0; i < 3; i++)
        if (b->want[i] && !strcmp(name, b->want[i])) { b->found[i]++; return; }
    b->others++;
}

CASE(getdents64_returns_non_utf8_names_byte_for_byte) {
    touch("a\xff" "b");
    touch("\x80\x81");
    touch("a\xfe" "b");
    int fd = open(".", O_RDONLY | O_DIRECTORY);
    EXPECT(fd >= 0);
    struct byte_names b = {{"a\xff" "b", "\x80\x81", "a\xfe" "b"}};
    EXPECT_EQ(list_dir(fd, 4096, match_byte_names, &b), 5);
    EXPECT_EQ(b.found[0], 1);
    EXPECT_EQ(b.found[1], 1);
    EXPECT_EQ(b.found[2], 1);
    EXPECT_EQ(b.others, 0);
}

CASE(stat_and_rename_of_non_utf8_names) {
    touch("a\xff" "b");
    struct stat a, other, renamed;
    EXPECT_OK(stat("a\xff" "b", &a));
    EXPECT(S_ISREG(a.st_mode));
    EXPECT_ERRNO(stat("a\xfe" "b", &other), ENOENT); /* a different byte is a different name */
    EXPECT_ERRNO(stat("a\xef\xbf\xbd" "b", &other), ENOENT); /* not U+FFFD either */
    EXPECT_OK(rename("a\xff" "b", "\xc0\xaf"));          /* an overlong '/' is just two bytes */
    EXPECT_ERRNO(stat("a\xff" "b", &other), ENOENT);
    EXPECT_OK(stat("\xc0\xaf", &renamed));
    EXPECT_EQ(renamed.st_ino, a.st_ino);
}

CASE(readlink_returns_non_utf8_target_byte_for_byte) {
    EXPECT_OK(symlink("t\xfe", "l"));
    EXPECT_OK(symlink("x", "l\xff"));
    char buf[16];
    memset(buf, 0, sizeof buf);
    EXPECT_EQ(readlink("l", buf, sizeof buf), 2);
    EXPECT(memcmp(buf, "t\xfe", 2) == 0);
    struct stat st;
    EXPECT_OK(lstat("l", &st));
    EXPECT_EQ(st.st_size, 2);
    EXPECT_EQ(readlink("l\xff", buf, sizeof buf), 1);
    EXPECT_EQ(buf[0], 'x');
}

CASE(getcwd_returns_non_utf8_directory_name_byte_for_byte) {
    EXPECT_OK(mkdir("d\xff\x80", 0755));
    EXPECT_OK(chdir("d\xff\x80"));
    char buf[PATH_MAX];
    EXPECT(getcwd(buf, sizeof buf) != NULL);
    const char *last = strrchr(buf, '/');
    if (!last || strcmp(last, "/d\xff\x80") != 0) {
        char hex[64] = "";
        for (int i = 0; last && last[i] && i < 16; i++) snprintf(hex + 3 * i, 4, " %02x", (unsigned char)last[i]);
        compat_fail(__FILE__, __LINE__, "getcwd ends in bytes%s, expected 2f 64 ff 80", hex);
    }
}

CASE(getcwd_of_size_0_is_erange) {
    /* The system call (not glibc's getcwd, which allocates for size 0): LTP getcwd01. */
    char buf[16];
    EXPECT_ERRNO(syscall(SYS_getcwd, buf, 0), ERANGE);
    EXPECT_ERRNO(syscall(SYS_getcwd, NULL, 1), ERANGE);
    EXPECT_ERRNO(syscall(SYS_getcwd, NULL, (size_t)-1), EFAULT);
}

/* A directory renamed after it was opened (or became the working directory): `..`, getcwd
 * and /proc/self/fd follow it to where it is now (dentries are renamed in place). */
CASE(dotdot_getcwd_and_fd_links_follow_a_directory_renamed_since_it_was_opened) {
    EXPECT_OK(mkdir("a", 0755));
    EXPECT_OK(mkdir("a/b", 0755));
    EXPECT_OK(mkdir("c", 0755));
    EXPECT_OK(mkdir("top", 0755));
    int fd = open("a/b", O_RDONLY | O_DIRECTORY);
    EXPECT(fd >= 0);
    EXPECT_OK(rename("a/b", "c/b"));
    int up = openat(fd, "..", O_RDONLY | O_DIRECTORY);
    EXPECT(up >= 0);
    struct stat s_up, s_c;
    EXPECT_OK(fstat(up, &s_up));
    EXPECT_OK(stat("c", &s_c));
    EXPECT_EQ(s_up.st_ino, s_c.st_ino);
    /* A name made through `..` lands in the new parent. */
    int f = openat(fd, "../made", O_WRONLY | O_CREAT, 0644);
    EXPECT(f >= 0);
    close(f);
    EXPECT_OK(access("c/made", F_OK));
    EXPECT_ERRNO(access("a/made", F_OK), ENOENT);
    /* A directory above it renamed too. */
    EXPECT_OK(rename("c", "top/c2"));
    char link[PATH_MAX], proc[64], cwd[PATH_MAX];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, link, sizeof link - 1);
    EXPECT(n > 0);
    link[n] = 0;
    const char *tail = "/top/c2/b";
    EXPECT(n >= (ssize_t)strlen(tail) && strcmp(link + n - strlen(tail), tail) == 0);
    EXPECT_OK(fchdir(fd));
    EXPECT(getcwd(cwd, sizeof cwd) != NULL);
    EXPECT(strlen(cwd) >= strlen(tail) && strcmp(cwd + strlen(cwd) - strlen(tail), tail) == 0);
    EXPECT(strcmp(cwd, link) == 0);
    EXPECT_OK(access("../../c2/made", F_OK));
}

/* The check that a directory does not move below itself follows the tree as it is, even
 * through a descriptor for a directory renamed since (it found a path that no longer is). */
CASE(a_directory_never_moves_below_itself_through_a_stale_dirfd) {
    EXPECT_OK(mkdir("a", 0755));
    EXPECT_OK(mkdir("a/b", 0755));
    EXPECT_OK(mkdir("c", 0755));
    int fd = open("a/b", O_RDONLY | O_DIRECTORY);
    EXPECT(fd >= 0);
    EXPECT_OK(rename("a/b", "c/b"));
    EXPECT_ERRNO(renameat(AT_FDCWD, "c", fd, "x"), EINVAL);
    EXPECT_OK(mkdir("c/b/y", 0755));
    EXPECT_ERRNO(syscall(SYS_renameat2, AT_FDCWD, "c", fd, "y", 2 /* RENAME_EXCHANGE */), EINVAL);
    EXPECT_OK(renameat(AT_FDCWD, "a", fd, "x")); /* a is not above it any more */
    EXPECT_OK(access("c/b/x", F_OK));
}

COMPAT_MAIN()

CASE(chroot_and_fchdir_check_search_permission_and_getcwd_sees_the_new_root) {
    EXPECT_OK(chmod(scratch(), 0755));
    EXPECT_OK(mkdir(scratch_path("jail"), 0755));
    EXPECT_OK(mkdir(scratch_path("jail/sub"), 0755));
    EXPECT_OK(mkdir(scratch_path("locked"), 0600));
    int locked = open(scratch_path("locked"), O_RDONLY | O_DIRECTORY);
    EXPECT(locked >= 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (setresuid(1000, 1000, 1000) != 0) _exit(1);
        if (chroot(scratch_path("locked")) != -1 || errno != EACCES) _exit(2); /* before EPERM */
        if (chroot(scratch_path("jail")) != -1 || errno != EPERM) _exit(3);
        if (fchdir(locked) != -1 || errno != EACCES) _exit(4);
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(st, 0);
    pid = fork();
    if (pid == 0) {
        char buf[512];
        if (chdir(scratch_path("jail/sub")) != 0 || chroot(scratch_path("jail")) != 0) _exit(1);
        if (syscall(SYS_getcwd, buf, sizeof buf) < 0 || strcmp(buf, "/sub") != 0) _exit(2);
        if (chdir(scratch()) == 0) _exit(3); /* outside the root: not reachable by name */
        if (fchdir(locked) != 0) _exit(4); /* but by a descriptor from before */
        if (syscall(SYS_getcwd, buf, sizeof buf) < 0 || strncmp(buf, "(unreachable)/", 14) != 0) _exit(5);
        if (getcwd(buf, sizeof buf) != NULL || errno != ENOENT) _exit(6); /* glibc refuses it */
        _exit(0);
    }
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(st, 0);
}
