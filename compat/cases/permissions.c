/* File permissions for a process without privileges (path_resolution(7), inode(7)): search
 * permission on every directory walked, write and search permission to add or remove an
 * entry, sticky directories, who may chown and chmod, setgid directories, O_NOATIME. Root
 * sets each scene up; a child that became nobody (65534) acts in it. */
#include "../compat.h"
#include <sys/statvfs.h>
#include <sys/prctl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/un.h>

#define NOBODY 65534

/* Runs `fn` as nobody (compat.h's AS_NOBODY) in the case's scratch directory, opened to all. */
static void as_nobody(void (*fn)(void)) {
    EXPECT_OK(chmod(scratch(), 0755));
    AS_NOBODY(fn);
}

static char P[8][600];
static const char *path(int i, const char *name) {
    snprintf(P[i], sizeof P[i], "%s/%s", scratch(), name);
    return P[i];
}

static void closed_dir_child(void) {
    struct stat st;
    EXPECT_ERRNO(open(path(0, "closed/f"), O_RDONLY), EACCES);
    EXPECT_ERRNO(stat(path(0, "closed/f"), &st), EACCES);
    EXPECT_ERRNO(chdir(path(0, "closed")), EACCES);
    EXPECT_ERRNO(open(path(0, "closed/sub/../f"), O_RDONLY), EACCES);
    /* Search without read: names known can be reached, the directory not listed. */
    EXPECT_OK(stat(path(0, "searchonly/f"), &st));
    EXPECT_ERRNO(open(path(0, "searchonly"), O_RDONLY | O_DIRECTORY), EACCES);
}

CASE(walking_a_directory_needs_search_permission) {
    EXPECT_OK(mkdir(path(0, "closed"), 0700));
    EXPECT_OK(mkdir(path(0, "closed/sub"), 0755));
    write_file(path(0, "closed/f"), "x");
    EXPECT_OK(mkdir(path(0, "searchonly"), 0711));
    write_file(path(0, "searchonly/f"), "x");
    as_nobody(closed_dir_child);
}

static void create_child(void) {
    EXPECT_ERRNO(open(path(0, "ro/new"), O_CREAT | O_WRONLY, 0644), EACCES);
    EXPECT_ERRNO(mkdir(path(0, "ro/d"), 0755), EACCES);
    EXPECT_ERRNO(symlink("x", path(0, "ro/l")), EACCES);
    EXPECT_ERRNO(mkfifo(path(0, "ro/p"), 0644), EACCES);
    EXPECT_ERRNO(link(path(0, "open/mine"), path(1, "ro/link")), EACCES);
    EXPECT_ERRNO(rename(path(0, "open/mine"), path(1, "ro/moved")), EACCES);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path(0, "ro/sock"));
    EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, sizeof a), EACCES);
    close(s);
    /* What exists already is EEXIST before it is EACCES. */
    EXPECT_ERRNO(mkdir(path(0, "ro/there"), 0755), EEXIST);
    /* Removing needs write permission on the directory, whoever owns the file. */
    EXPECT_ERRNO(unlink(path(0, "ro/nobodys")), EACCES);
    EXPECT_ERRNO(rmdir(path(0, "ro/there")), EACCES);
    EXPECT_ERRNO(rename(path(0, "ro/nobodys"), path(1, "open/taken")), EACCES);
    /* In a directory it may write, all of it works. */
    EXPECT_OK(mkdir(path(0, "open/d"), 0755));
    EXPECT_OK(rename(path(0, "open/mine"), path(1, "open/d/mine")));
    EXPECT_OK(unlink(path(0, "open/d/mine")));
    EXPECT_OK(rmdir(path(0, "open/d")));
}

CASE(adding_and_removing_entries_needs_write_permission_on_the_directory) {
    EXPECT_OK(mkdir(path(0, "ro"), 0755));
    EXPECT_OK(mkdir(path(0, "ro/there"), 0755));
    write_file(path(0, "ro/nobodys"), "x");
    EXPECT_OK(chown(path(0, "ro/nobodys"), NOBODY, NOBODY));
    EXPECT_OK(mkdir(path(0, "open"), 0777));
    EXPECT_OK(chmod(path(0, "open"), 0777));
    write_file(path(0, "open/mine"), "x");
    EXPECT_OK(chown(path(0, "open/mine"), NOBODY, NOBODY));
    as_nobody(create_child);
}

static void sticky_child(void) {
    EXPECT_ERRNO(unlink(path(0, "sticky/roots")), EPERM);
    EXPECT_ERRNO(rename(path(0, "sticky/roots"), path(1, "sticky/other")), EPERM);
    /* A file it may write is still not its to remove. */
    int fd = open(path(0, "sticky/roots"), O_WRONLY);
    EXPECT(fd >= 0);
    close(fd);
    write_file(path(0, "sticky/mine"), "x");
    EXPECT_OK(rename(path(0, "sticky/mine"), path(1, "sticky/mine2")));
    EXPECT_OK(unlink(path(0, "sticky/mine2")));
}

CASE(a_sticky_directory_lets_only_owners_remove) {
    EXPECT_OK(mkdir(path(0, "sticky"), 0777));
    EXPECT_OK(chmod(path(0, "sticky"), 01777));
    write_file(path(0, "sticky/roots"), "x");
    EXPECT_OK(chmod(path(0, "sticky/roots"), 0666));
    as_nobody(sticky_child);
}

static void chown_child(void) {
    EXPECT_ERRNO(chown(path(0, "mine"), 0, -1), EPERM);
    EXPECT_ERRNO(chown(path(0, "mine"), -1, 0), EPERM);
    EXPECT_OK(chown(path(0, "mine"), NOBODY, NOBODY));   /* to itself: fine */
    EXPECT_OK(chown(path(0, "mine"), -1, -1));
    EXPECT_ERRNO(chown(path(0, "roots"), NOBODY, -1), EPERM);
    EXPECT_ERRNO(chmod(path(0, "roots"), 0777), EPERM);
    EXPECT_OK(chmod(path(0, "mine"), 0640));
    /* Setgid on a file of a group it is not in is dropped without an error. */
    EXPECT_OK(chmod(path(0, "mine-root-group"), 02755));
    struct stat st;
    EXPECT_OK(stat(path(0, "mine-root-group"), &st));
    EXPECT_EQ(st.st_mode & 07777, 0755);
}

CASE(chown_and_chmod_belong_to_the_owner) {
    write_file(path(0, "mine"), "x");
    EXPECT_OK(chown(path(0, "mine"), NOBODY, NOBODY));
    write_file(path(0, "roots"), "x");
    write_file(path(0, "mine-root-group"), "x");
    EXPECT_OK(chown(path(0, "mine-root-group"), NOBODY, 0));
    as_nobody(chown_child);
}

CASE(chown_clears_setuid_and_group_executable_setgid) {
    struct stat st;
    write_file(path(0, "suid"), "x");
    EXPECT_OK(chmod(path(0, "suid"), 06755));
    EXPECT_OK(chown(path(0, "suid"), 1, 1));
    EXPECT_OK(stat(path(0, "suid"), &st));
    EXPECT_EQ(st.st_mode & 07777, 0755);
    write_file(path(0, "sgid"), "x");
    EXPECT_OK(chmod(path(0, "sgid"), 02745));      /* setgid without group execute: mandatory locking */
    EXPECT_OK(chown(path(0, "sgid"), 1, 1));
    EXPECT_OK(stat(path(0, "sgid"), &st));
    EXPECT_EQ(st.st_mode & 07777, 02745);
    EXPECT_OK(mkdir(path(0, "dir"), 0755));
    EXPECT_OK(chmod(path(0, "dir"), 06755));
    EXPECT_OK(chown(path(0, "dir"), 1, 1));
    EXPECT_OK(stat(path(0, "dir"), &st));
    EXPECT_EQ(st.st_mode & 07777, 06755);
}

static void setgid_dir_child(void) {
    write_file(path(0, "shared/f"), "x");
    EXPECT_OK(mkdir(path(0, "shared/sub"), 0755));
    struct stat st;
    EXPECT_OK(stat(path(0, "shared/f"), &st));
    EXPECT_EQ(st.st_gid, 1234);
    EXPECT_OK(stat(path(0, "shared/sub"), &st));
    EXPECT_EQ(st.st_gid, 1234);
    EXPECT(st.st_mode & S_ISGID);
}

CASE(a_setgid_directory_gives_its_group_to_new_entries) {
    EXPECT_OK(mkdir(path(0, "shared"), 0777));
    EXPECT_OK(chown(path(0, "shared"), 0, 1234));
    EXPECT_OK(chmod(path(0, "shared"), 02777));
    as_nobody(setgid_dir_child);
}

/* CVE-2018-13405: a non-member creating a setgid-executable file in a setgid directory gets
 * the directory's group but not the setgid bit (mode_strip_sgid), whatever the umask; a
 * directory keeps it; a file without group execute keeps it (mandatory-locking style). */
static void setgid_strip_child(void) {
    struct stat st;
    umask(0);
    int fd = creat(path(0, "shared/creat"), 02777);
    EXPECT(fd >= 0);
    close(fd);
    EXPECT_OK(stat(path(0, "shared/creat"), &st));
    EXPECT_EQ(st.st_gid, 1234);
    EXPECT_EQ(st.st_mode & 07777, 0777);
    umask(022);
    fd = open(path(0, "shared/open"), O_CREAT | O_EXCL | O_RDWR, 02777);
    EXPECT(fd >= 0);
    close(fd);
    EXPECT_OK(stat(path(0, "shared/open"), &st));
    EXPECT_EQ(st.st_mode & 07777, 0755);
    EXPECT_OK(mknod(path(0, "shared/fifo"), S_IFIFO | 02777, 0));
    EXPECT_OK(stat(path(0, "shared/fifo"), &st));
    EXPECT_EQ(st.st_mode & 07777, 0755);
    fd = open(path(0, "shared"), O_TMPFILE | O_RDWR, 02777);
    EXPECT(fd >= 0);
    EXPECT_OK(fstat(fd, &st));
    EXPECT_EQ(st.st_gid, 1234);
    EXPECT_EQ(st.st_mode & 07777, 0755);
    close(fd);
    /* Stripped as asked, before the umask takes group execute away. */
    umask(S_IXGRP);
    fd = open(path(0, "shared/masked"), O_CREAT | O_EXCL | O_RDWR, 02777);
    EXPECT(fd >= 0);
    close(fd);
    EXPECT_OK(stat(path(0, "shared/masked"), &st));
    EXPECT_EQ(st.st_mode & 07777, 0767);
    umask(022);
    fd = open(path(0, "shared/nox"), O_CREAT | O_EXCL | O_RDWR, 02644);
    EXPECT(fd >= 0);
    close(fd);
    EXPECT_OK(stat(path(0, "shared/nox"), &st));
    EXPECT_EQ(st.st_mode & 07777, 02644);
    EXPECT_OK(mkdir(path(0, "shared/dir"), 02777));
    EXPECT_OK(stat(path(0, "shared/dir"), &st));
    EXPECT_EQ(st.st_mode & 07777, 02755);
}

CASE(setgid_directory_strips_setgid_from_a_non_members_files) {
    EXPECT_OK(mkdir(path(0, "shared"), 0777));
    EXPECT_OK(chown(path(0, "shared"), 0, 1234));
    EXPECT_OK(chmod(path(0, "shared"), 02777));
    as_nobody(setgid_strip_child);
    /* Root (CAP_FSETID) keeps it. */
    umask(0);
    int fd = creat(path(0, "shared/roots"), 02777);
    EXPECT(fd >= 0);
    close(fd);
    struct stat st;
    EXPECT_OK(stat(path(0, "shared/roots"), &st));
    EXPECT_EQ(st.st_mode & 07777, 02777);
}

static void noatime_child(void) {
    EXPECT_ERRNO(open(path(0, "roots"), O_RDONLY | O_NOATIME), EPERM);
    write_file(path(0, "open/mine"), "x");
    int fd = open(path(0, "open/mine"), O_RDONLY | O_NOATIME);
    EXPECT(fd >= 0);
    close(fd);
}

CASE(o_noatime_is_for_the_owner) {
    write_file(path(0, "roots"), "x");
    EXPECT_OK(mkdir(path(0, "open"), 0777));
    EXPECT_OK(chmod(path(0, "open"), 0777));
    as_nobody(noatime_child);
}

/* access(2) answers for the real ids (what a setuid program asks before acting for its user). */
CASE(access_checks_the_real_ids_and_at_eaccess_the_effective_ones) {
    write_file(path(0, "secret"), "x");
    EXPECT_OK(chmod(path(0, "secret"), 0600));
    EXPECT_OK(chmod(scratch(), 0755));
    pid_t child = fork();
    if (child == 0) {
        if (setresuid(NOBODY, 0, 0) != 0) _exit(100);
        EXPECT_ERRNO(access(path(0, "secret"), R_OK), EACCES);
        EXPECT_OK(faccessat(AT_FDCWD, path(0, "secret"), R_OK, AT_EACCESS));
        int fd = open(path(0, "secret"), O_RDONLY);
        EXPECT(fd >= 0);
        close(fd);
        _exit(0);
    }
    int status;
    EXPECT_EQ(waitpid(child, &status, 0), child);
    EXPECT(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

/* fs.protected_*: the sysctls are global, so each case sets the one it tests for the span of
 * a child and puts the old value back. */
static int fs_sysctl(const char *name) {
    char p[80], b[16] = {0};
    snprintf(p, sizeof p, "/proc/sys/fs/%s", name);
    EXPECT(slurp(p, b, sizeof b) > 0);
    return atoi(b);
}

static void set_fs_sysctl(const char *name, int value) {
    char p[80], b[16];
    snprintf(p, sizeof p, "/proc/sys/fs/%s", name);
    snprintf(b, sizeof b, "%d\n", value);
    write_file(p, b);
}

/* Runs `body` in a child while fs.NAME is `value`. */
static void with_fs_sysctl(const char *name, int value, void (*body)(void)) {
    int old = fs_sysctl(name);
    set_fs_sysctl(name, value);
    pid_t child = fork();
    if (child == 0) { body(); _exit(0); }
    int status = wait_status(child);
    set_fs_sysctl(name, old);
    EXPECT_EQ(status, 0);
}

/* Runs `fn` as uid and gid 1000 (a user other than nobody). */
static void as_user_1000(void (*fn)(void)) {
    pid_t child = fork();
    if (child == 0) {
        if (setgroups(0, NULL) != 0 || setgid(1000) != 0 || setuid(1000) != 0) _exit(99);
        fn();
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
}

/* A sticky world-writable directory (as /tmp), and an ordinary world-writable one. */
static void make_shared_dirs(void) {
    EXPECT_OK(chmod(scratch(), 0755));
    EXPECT_OK(mkdir(path(0, "sticky"), 0));
    EXPECT_OK(chmod(path(0, "sticky"), 01777));
    EXPECT_OK(mkdir(path(0, "open"), 0));
    EXPECT_OK(chmod(path(0, "open"), 0777));
    write_file(path(0, "target"), "data");
    EXPECT_OK(chmod(path(0, "target"), 0644));
}

static void user_1000_makes_links(void) {
    EXPECT_OK(symlink(path(0, "target"), path(1, "sticky/theirs")));
    EXPECT_OK(symlink(path(0, "target"), path(1, "open/theirs")));
    EXPECT_OK(symlink(path(0, "open"), path(1, "sticky/theirs-dir")));
    write_file(path(0, "open/f"), "x");
}

static void user_1000_follows_its_link(void) {
    int fd = open(path(0, "sticky/theirs"), O_RDONLY);
    EXPECT(fd >= 0);
    close(fd);
}

static void symlinks_protected(void) {
    struct stat st;
    char buf[600] = {0};
    /* Another user's link in a sticky world-writable directory is not followed (root's
     * walks included); the link itself is still seen. */
    EXPECT_ERRNO(open(path(0, "sticky/theirs"), O_RDONLY), EACCES);
    EXPECT_ERRNO(stat(path(0, "sticky/theirs"), &st), EACCES);
    EXPECT_OK(lstat(path(0, "sticky/theirs"), &st));
    /* Only a trailing link is checked, not one the path goes through. */
    EXPECT_OK(stat(path(0, "sticky/theirs-dir/f"), &st));
    EXPECT(readlink(path(0, "sticky/theirs"), buf, sizeof buf - 1) > 0);
    /* Its owner follows it; a link whose owner owns the directory is followed; so is one in
     * a directory that is not sticky. */
    as_user_1000(user_1000_follows_its_link);
    EXPECT_OK(symlink(path(0, "target"), path(1, "sticky/mine")));
    EXPECT_OK(stat(path(0, "sticky/mine"), &st));
    EXPECT_OK(stat(path(0, "open/theirs"), &st));
}

static void symlinks_unprotected(void) {
    struct stat st;
    EXPECT_OK(stat(path(0, "sticky/theirs"), &st));
}

CASE(protected_symlinks_are_not_followed_across_owners_in_sticky_world_writable_directories) {
    make_shared_dirs();
    as_user_1000(user_1000_makes_links);
    with_fs_sysctl("protected_symlinks", 1, symlinks_protected);
    with_fs_sysctl("protected_symlinks", 0, symlinks_unprotected);
}

static void nobody_links_protected(void) {
    /* Only a file one owns, or a plain file one may read and write. */
    EXPECT_ERRNO(link(path(0, "sticky/root-private"), path(1, "sticky/l1")), EPERM);
    EXPECT_OK(link(path(0, "sticky/root-shared"), path(1, "sticky/l2")));
    EXPECT_ERRNO(link(path(0, "sticky/root-setuid"), path(1, "sticky/l3")), EPERM);
    write_file(path(0, "sticky/own"), "x");
    EXPECT_OK(link(path(0, "sticky/own"), path(1, "sticky/l4")));
}

static void hardlinks_protected(void) {
    AS_NOBODY(nobody_links_protected);
    /* CAP_FOWNER links anything. */
    EXPECT_OK(link(path(0, "sticky/root-private"), path(1, "sticky/l5")));
}

static void nobody_links_unprotected(void) {
    EXPECT_OK(link(path(0, "sticky/root-private"), path(1, "sticky/l6")));
}

static void hardlinks_unprotected(void) {
    AS_NOBODY(nobody_links_unprotected);
}

CASE(protected_hardlinks_need_ownership_or_read_and_write_permission) {
    make_shared_dirs();
    write_file(path(0, "sticky/root-private"), "x");
    EXPECT_OK(chmod(path(0, "sticky/root-private"), 0600));
    write_file(path(0, "sticky/root-shared"), "x");
    EXPECT_OK(chmod(path(0, "sticky/root-shared"), 0666));
    write_file(path(0, "sticky/root-setuid"), "x");
    EXPECT_OK(chmod(path(0, "sticky/root-setuid"), 04666));
    with_fs_sysctl("protected_hardlinks", 1, hardlinks_protected);
    with_fs_sysctl("protected_hardlinks", 0, hardlinks_unprotected);
}

static void user_1000_makes_files(void) {
    write_file(path(0, "sticky/theirs"), "x");
    EXPECT_OK(chmod(path(0, "sticky/theirs"), 0666));
    EXPECT_OK(mkfifo(path(0, "sticky/fifo"), 0666));
    write_file(path(0, "group/theirs"), "x");
    EXPECT_OK(chmod(path(0, "group/theirs"), 0666));
}

static void regular_protected(void) {
    /* O_CREAT of another user's existing file in a sticky world-writable directory. */
    EXPECT_ERRNO(open(path(0, "sticky/theirs"), O_RDWR | O_CREAT, 0666), EACCES);
    int fd = open(path(0, "sticky/theirs"), O_RDWR);
    EXPECT(fd >= 0);
    close(fd);
    /* In a sticky group-writable one only at level 2. */
    fd = open(path(0, "group/theirs"), O_RDWR | O_CREAT, 0666);
    EXPECT(fd >= 0);
    close(fd);
}

static void regular_protected_2(void) {
    EXPECT_ERRNO(open(path(0, "group/theirs"), O_RDWR | O_CREAT, 0666), EACCES);
}

static void fifos_protected(void) {
    EXPECT_ERRNO(open(path(0, "sticky/fifo"), O_RDWR | O_CREAT, 0666), EACCES);
    int fd = open(path(0, "sticky/theirs"), O_RDWR | O_CREAT, 0666);
    EXPECT(fd >= 0);
    close(fd);
}

static void nothing_protected(void) {
    int fd = open(path(0, "sticky/theirs"), O_RDWR | O_CREAT, 0666);
    EXPECT(fd >= 0);
    close(fd);
    fd = open(path(0, "sticky/fifo"), O_RDWR | O_CREAT, 0666);
    EXPECT(fd >= 0);
    close(fd);
}

CASE(protected_regular_and_fifos_refuse_o_creat_of_others_files_in_sticky_directories) {
    make_shared_dirs();
    EXPECT_OK(mkdir(path(0, "group"), 0));
    EXPECT_OK(chown(path(0, "group"), 0, 1000));
    EXPECT_OK(chmod(path(0, "group"), 01770));
    as_user_1000(user_1000_makes_files);
    int regular = fs_sysctl("protected_regular");
    set_fs_sysctl("protected_regular", 0);
    with_fs_sysctl("protected_fifos", 0, nothing_protected);
    with_fs_sysctl("protected_fifos", 1, fifos_protected);
    set_fs_sysctl("protected_regular", regular);
    with_fs_sysctl("protected_regular", 1, regular_protected);
    with_fs_sysctl("protected_regular", 2, regular_protected_2);
}

/* Set-user-ID and set-group-ID programs (execve(2)): the effective ids become the file's
 * owner and group, the saved ones follow, the process is told AT_SECURE; not on a nosuid
 * mount, nor under no_new_privs. `id` reports what it runs as. */
static char setuid_id[600];

static void nobody_runs_setuid_id(void) {
    int out[2];
    EXPECT_OK(pipe(out));
    pid_t c = fork();
    if (c == 0) {
        dup2(out[1], 1);
        execl(setuid_id, "id", (char *)0);
        _exit(127);
    }
    close(out[1]);
    char got[512] = {0};
    ssize_t n = 0, r;
    while ((r = read(out[0], got + n, sizeof got - 1 - n)) > 0) n += r;
    close(out[0]);
    EXPECT_EQ(wait_status(c), 0);
    struct statvfs vfs;
    EXPECT_OK(statvfs(setuid_id, &vfs));
    int honoured = !(vfs.f_flag & ST_NOSUID) && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0;
    EXPECT(strstr(got, "uid=65534") == got);
    EXPECT_EQ(strstr(got, " euid=0(") != NULL, honoured);
    EXPECT_EQ(strstr(got, " egid=0(") != NULL, honoured);
}

static void nobody_runs_it_without_new_privileges(void) {
    EXPECT_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    nobody_runs_setuid_id();
}

static void copy_setuid_id(const char *dir) {
    snprintf(setuid_id, sizeof setuid_id, "%s/setuid-id", dir);
    copy_file("/usr/bin/id", setuid_id, 0755);
    EXPECT_OK(chown(setuid_id, 0, 0));
    EXPECT_OK(chmod(setuid_id, 06755));
}

CASE(set_user_id_programs_run_as_their_owner_unless_the_mount_is_nosuid) {
    EXPECT_OK(chmod(scratch(), 0755));
    /* The scratch directory's mount (often nosuid, as /tmp is) and one that is not. */
    copy_setuid_id(scratch());
    AS_NOBODY(nobody_runs_setuid_id);
    char dir[64];
    snprintf(dir, sizeof dir, "/var/tmp/compat-setuid-%d", getpid());
    EXPECT_OK(mkdir(dir, 0755));
    copy_setuid_id(dir);
    AS_NOBODY(nobody_runs_setuid_id);
    AS_NOBODY(nobody_runs_it_without_new_privileges);
    unlink(setuid_id);
    rmdir(dir);
}

COMPAT_MAIN()
