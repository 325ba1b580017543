/* File permissions for a process without privileges (path_resolution(7), inode(7)): search
 * permission on every directory walked, write and search permission to add or remove an
 * entry, sticky directories, who may chown and chmod, setgid directories, O_NOATIME. Root
 * sets each scene up; a child that became nobody (65534) acts in it. */
#include "../compat.h"
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

COMPAT_MAIN()
