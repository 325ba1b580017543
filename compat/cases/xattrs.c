/* Extended attributes: set, get, list and remove in the user and trusted namespaces, the
 * create/replace flags, buffer sizes, and who may do what (xattr(7)). */
#include "../compat.h"
#include <sys/xattr.h>
#include <sys/wait.h>

static void make_file(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT(fd >= 0);
    close(fd);
}

CASE(user_xattr_set_get_list_remove) {
    const char *f = scratch_path("f");
    make_file(f);
    EXPECT_OK(setxattr(f, "user.colour", "blue", 4, 0));
    EXPECT_OK(setxattr(f, "user.empty", "", 0, 0));
    char buf[64];
    EXPECT_EQ(getxattr(f, "user.colour", NULL, 0), 4);
    EXPECT_EQ(getxattr(f, "user.colour", buf, sizeof buf), 4);
    EXPECT(memcmp(buf, "blue", 4) == 0);
    EXPECT_EQ(getxattr(f, "user.empty", buf, sizeof buf), 0);
    EXPECT_ERRNO(getxattr(f, "user.colour", buf, 2), ERANGE);
    EXPECT_ERRNO(getxattr(f, "user.none", buf, sizeof buf), ENODATA);
    /* The list holds both names, each NUL-terminated. */
    ssize_t n = listxattr(f, NULL, 0);
    EXPECT_EQ(n, (long)(sizeof "user.colour" + sizeof "user.empty"));
    char list[256];
    EXPECT_EQ(listxattr(f, list, sizeof list), n);
    int seen = 0;
    for (char *p = list; p < list + n; p += strlen(p) + 1) {
        if (!strcmp(p, "user.colour") || !strcmp(p, "user.empty")) seen++;
    }
    EXPECT_EQ(seen, 2);
    EXPECT_ERRNO(listxattr(f, list, 3), ERANGE);
    /* Through an fd, the same. */
    int fd = open(f, O_RDONLY);
    EXPECT_EQ(fgetxattr(fd, "user.colour", buf, sizeof buf), 4);
    EXPECT_OK(fsetxattr(fd, "user.colour", "red", 3, XATTR_REPLACE));
    EXPECT_EQ(fgetxattr(fd, "user.colour", buf, sizeof buf), 3);
    EXPECT_OK(fremovexattr(fd, "user.colour"));
    EXPECT_ERRNO(fgetxattr(fd, "user.colour", buf, sizeof buf), ENODATA);
    EXPECT_ERRNO(fremovexattr(fd, "user.colour"), ENODATA);
    close(fd);
    EXPECT_OK(removexattr(f, "user.empty"));
    EXPECT_EQ(listxattr(f, list, sizeof list), 0);
}

CASE(xattr_create_and_replace_flags) {
    const char *f = scratch_path("f");
    make_file(f);
    EXPECT_ERRNO(setxattr(f, "user.a", "1", 1, XATTR_REPLACE), ENODATA);
    EXPECT_OK(setxattr(f, "user.a", "1", 1, XATTR_CREATE));
    EXPECT_ERRNO(setxattr(f, "user.a", "2", 1, XATTR_CREATE), EEXIST);
    EXPECT_OK(setxattr(f, "user.a", "2", 1, XATTR_REPLACE));
    EXPECT_ERRNO(setxattr(f, "user.a", "3", 1, 4), EINVAL);
    char v = 0;
    EXPECT_EQ(getxattr(f, "user.a", &v, 1), 1);
    EXPECT_EQ(v, '2');
}

CASE(xattr_name_and_size_limits) {
    const char *f = scratch_path("f");
    make_file(f);
    EXPECT_ERRNO(setxattr(f, "", "x", 1, 0), ERANGE);
    char longname[300];
    memset(longname, 'n', sizeof longname);
    memcpy(longname, "user.", 5);
    longname[sizeof longname - 1] = 0;
    EXPECT_ERRNO(setxattr(f, longname, "x", 1, 0), ERANGE);
    EXPECT_ERRNO(getxattr(f, longname, NULL, 0), ERANGE);
    static char big[65537];
    EXPECT_ERRNO(setxattr(f, "user.big", big, sizeof big, 0), E2BIG);
    EXPECT_ERRNO(setxattr(f, "nosuchprefix.a", "x", 1, 0), EOPNOTSUPP);
    EXPECT_ERRNO(getxattr(f, "nosuchprefix.a", NULL, 0), EOPNOTSUPP);
    EXPECT_ERRNO(setxattr(scratch_path("missing"), "user.a", "x", 1, 0), ENOENT);
}

CASE(user_xattrs_only_on_files_and_directories) {
    const char *d = scratch_path("d"), *l = scratch_path("l");
    EXPECT_OK(mkdir(d, 0755));
    EXPECT_OK(setxattr(d, "user.dir", "yes", 3, 0));
    EXPECT_EQ(getxattr(d, "user.dir", NULL, 0), 3);
    EXPECT_OK(symlink("d", l));
    EXPECT_ERRNO(lsetxattr(l, "user.link", "no", 2, 0), EPERM);
    EXPECT_ERRNO(lgetxattr(l, "user.link", NULL, 0), ENODATA);
    /* Following the link reaches the directory. */
    EXPECT_EQ(getxattr(l, "user.dir", NULL, 0), 3);
    EXPECT_EQ(llistxattr(l, NULL, 0), 0);
}

CASE(xattrs_follow_the_inode_across_rename_and_link) {
    const char *a = scratch_path("a"), *b = scratch_path("b"), *c = scratch_path("c");
    make_file(a);
    EXPECT_OK(setxattr(a, "user.k", "v", 1, 0));
    EXPECT_OK(rename(a, b));
    EXPECT_EQ(getxattr(b, "user.k", NULL, 0), 1);
    EXPECT_OK(link(b, c));
    EXPECT_OK(setxattr(c, "user.k2", "w", 1, 0));
    EXPECT_EQ(getxattr(b, "user.k2", NULL, 0), 1);
}

CASE(xattr_permissions_for_an_unprivileged_user) {
    const char *f = scratch_path("f"), *mine = scratch_path("mine"), *sticky = scratch_path("sticky");
    make_file(f);
    EXPECT_OK(chmod(f, 0644));
    EXPECT_OK(setxattr(f, "user.a", "1", 1, 0));
    EXPECT_OK(setxattr(f, "trusted.t", "1", 1, 0));
    make_file(mine);
    EXPECT_OK(chown(mine, 65534, 65534));
    EXPECT_OK(mkdir(sticky, 01777));
    EXPECT_OK(chmod(scratch(), 0755));
    pid_t child = fork();
    if (child == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(1);
        char v;
        if (getxattr(f, "user.a", &v, 1) != 1) _exit(2);                        /* readable */
        if (setxattr(f, "user.a", "2", 1, 0) == 0 || errno != EACCES) _exit(3); /* not writable */
        if (getxattr(f, "trusted.t", &v, 1) >= 0 || errno != ENODATA) _exit(4);
        if (setxattr(mine, "trusted.t", "1", 1, 0) == 0 || errno != EPERM) _exit(5);
        if (setxattr(mine, "security.s", "1", 1, 0) == 0 || errno != EPERM) _exit(6);
        if (setxattr(mine, "user.ok", "1", 1, 0) != 0) _exit(7);
        /* trusted.* names are not listed to the unprivileged. */
        char list[128];
        ssize_t n = listxattr(f, list, sizeof list);
        if (n != (ssize_t)sizeof "user.a" || strcmp(list, "user.a") != 0) _exit(8);
        /* A sticky directory takes user attributes only from its owner (root here). */
        if (setxattr(sticky, "user.s", "1", 1, 0) == 0 || errno != EPERM) _exit(9);
        _exit(0);
    }
    int status;
    EXPECT_EQ(waitpid(child, &status, 0), child);
    EXPECT(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    /* Root sees the trusted one in the list. */
    char list[128];
    EXPECT_EQ(listxattr(f, list, sizeof list), (long)(sizeof "user.a" + sizeof "trusted.t"));
}

COMPAT_MAIN()
