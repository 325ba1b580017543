/* User namespaces (user_namespaces(7)): clone and unshare of CLONE_NEWUSER by anyone, the
 * capabilities a process has in the namespace it made, /proc/PID/uid_map, gid_map and
 * setgroups, ids seen through the maps (getuid, stat, /proc/PID/status), ids set through
 * them (setuid, chown), capabilities that stop at unmapped files, namespaces owned by a user
 * namespace (hostname, mounts), setns and the nsfs ioctls, the nesting limit. */
#include "../compat.h"
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>

#define NS_GET_USERNS_ 0xb701
#define NS_GET_PARENT_ 0xb702
#define NS_GET_OWNER_UID_ 0xb704

/* Writes `text` to `path` in one write at offset 0: 0, or the errno. */
static int write_proc(const char *path, const char *text) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) return errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = n < 0 ? errno : n == (ssize_t)strlen(text) ? 0 : EIO;
    close(fd);
    return e;
}

/* After setuid a process is not dumpable, and its /proc/PID files belong to root, which a
 * new user namespace cannot map: tools that write their own maps make themselves dumpable. */
static void unshare_user_dumpable(void) {
    EXPECT_OK(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
    EXPECT_OK(unshare(CLONE_NEWUSER));
}

/* As nobody: a new user namespace where nobody is root (uid and gid 0 map to 65534). */
static void become_root_of_own_namespace(void) {
    unshare_user_dumpable();
    EXPECT_EQ(write_proc("/proc/self/uid_map", "0 65534 1"), 0);
    EXPECT_EQ(write_proc("/proc/self/setgroups", "deny"), 0);
    EXPECT_EQ(write_proc("/proc/self/gid_map", "0 65534 1\n"), 0);
}

static ino_t ino_of_path(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? st.st_ino : 0;
}

static ino_t ino_of_fd(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/* The value of a "Name:\t..." line of /proc/self/status (up to the newline). */
static void status_line(const char *name, char *out, size_t size) {
    char buf[4096], key[64];
    out[0] = 0;
    if (slurp("/proc/self/status", buf, sizeof buf) <= 0) return;
    snprintf(key, sizeof key, "\n%s:\t", name);
    char *line = strstr(buf, key);
    if (!line) return;
    line += strlen(key);
    size_t n = strcspn(line, "\n");
    if (n >= size) n = size - 1;
    memcpy(out, line, n);
    out[n] = 0;
}

static void unmapped_until_a_map_is_written(void) {
    char outer[64] = {0}, inner[64];
    EXPECT(readlink("/proc/self/ns/user", outer, sizeof outer - 1) > 0);
    EXPECT_OK(unshare(CLONE_NEWUSER));
    memset(inner, 0, sizeof inner);
    EXPECT(readlink("/proc/self/ns/user", inner, sizeof inner) > 0);
    EXPECT(strcmp(outer, inner) != 0);
    EXPECT_EQ(getuid(), 65534); /* overflowuid: 65534 has no number here yet */
    EXPECT_EQ(geteuid(), 65534);
    EXPECT_EQ(getgid(), 65534);
    char buf[256];
    EXPECT_EQ(slurp("/proc/self/uid_map", buf, sizeof buf), 0);
    EXPECT_EQ(slurp("/proc/self/gid_map", buf, sizeof buf), 0);
    slurp("/proc/self/setgroups", buf, sizeof buf);
    EXPECT_STREQ(buf, "allow\n");
    /* Every capability, in the new namespace. */
    status_line("CapEff", buf, sizeof buf);
    EXPECT_STREQ(buf, "000001ffffffffff");
    status_line("CapBnd", buf, sizeof buf);
    EXPECT_STREQ(buf, "000001ffffffffff");
    struct stat st;
    EXPECT_OK(stat("/", &st));
    EXPECT_EQ(st.st_uid, 65534);
    EXPECT_EQ(st.st_gid, 65534);
}

CASE(unshare_user_by_anyone_gives_every_capability_and_unmapped_ids) {
    AS_NOBODY(unmapped_until_a_map_is_written);
}

static void own_map_makes_nobody_root(void) {
    int fd = open("owned", O_CREAT | O_WRONLY, 0600);
    EXPECT(fd >= 0);
    close(fd);
    become_root_of_own_namespace();
    EXPECT_EQ(getuid(), 0);
    EXPECT_EQ(geteuid(), 0);
    EXPECT_EQ(getgid(), 0);
    char buf[256];
    slurp("/proc/self/uid_map", buf, sizeof buf);
    EXPECT_STREQ(buf, "         0      65534          1\n");
    slurp("/proc/self/setgroups", buf, sizeof buf);
    EXPECT_STREQ(buf, "deny\n");
    status_line("Uid", buf, sizeof buf);
    EXPECT_STREQ(buf, "0\t0\t0\t0");
    struct stat st;
    EXPECT_OK(stat("owned", &st));
    EXPECT_EQ(st.st_uid, 0); /* nobody's file, seen through the map */
    EXPECT_OK(stat("/", &st));
    EXPECT_EQ(st.st_uid, 65534); /* the real root has no number here */
    /* Ids outside the maps cannot be taken or given. */
    EXPECT_ERRNO(setuid(1), EINVAL);
    EXPECT_ERRNO(setgid(1), EINVAL);
    EXPECT_ERRNO(chown("owned", 1, -1), EINVAL);
    EXPECT_OK(chown("owned", 0, 0));
    EXPECT_OK(setuid(0));
    /* setgroups was denied, so that a group the map drops cannot be shed. */
    gid_t none[1] = {0};
    EXPECT_ERRNO(setgroups(0, NULL), EPERM);
    EXPECT_ERRNO(setgroups(1, none), EPERM);
    /* Each map is written once. */
    EXPECT_EQ(write_proc("/proc/self/uid_map", "0 65534 1"), EPERM);
    EXPECT_EQ(write_proc("/proc/self/setgroups", "allow"), EPERM);
}

CASE(writing_own_map_makes_the_creator_root_in_its_namespace) {
    EXPECT_OK(chmod(scratch(), 0777));
    AS_NOBODY(own_map_makes_nobody_root);
}

static void bad_maps_are_refused(void) {
    unshare_user_dumpable();
    EXPECT_EQ(write_proc("/proc/self/uid_map", "0 65534 0"), EINVAL);
    EXPECT_EQ(write_proc("/proc/self/uid_map", "0 65534"), EINVAL);
    EXPECT_EQ(write_proc("/proc/self/uid_map", "zero 65534 1"), EINVAL);
    EXPECT_EQ(write_proc("/proc/self/uid_map", "4294967295 65534 1"), EINVAL);
    EXPECT_EQ(write_proc("/proc/self/uid_map", "0 65534 1 x"), EINVAL);
    /* Without CAP_SETUID above: only one's own id, once. */
    EXPECT_EQ(write_proc("/proc/self/uid_map", "0 0 1"), EPERM);
    EXPECT_EQ(write_proc("/proc/self/uid_map", "0 65534 2"), EPERM);
    EXPECT_EQ(write_proc("/proc/self/uid_map", "0 65534 1\n1 65533 1\n"), EPERM);
    /* A gid map needs setgroups denied first. */
    EXPECT_EQ(write_proc("/proc/self/gid_map", "0 65534 1"), EPERM);
    int fd = open("/proc/self/uid_map", O_WRONLY);
    EXPECT(fd >= 0);
    EXPECT_EQ(lseek(fd, 1, SEEK_SET), 1);
    EXPECT_ERRNO(write(fd, "0 65534 1", 9), EINVAL); /* only at the start */
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    EXPECT_EQ(write(fd, "0 65534 1", 9), 9);
    close(fd);
    EXPECT_EQ(getuid(), 0);
}

CASE(uid_map_refuses_malformed_and_unprivileged_maps) {
    AS_NOBODY(bad_maps_are_refused);
}

CASE(uid_map_refuses_overlapping_extents) {
    pid_t child = fork();
    if (child == 0) {
        EXPECT_OK(unshare(CLONE_NEWUSER));
        /* Privileged (root outside): several extents, but not overlapping ones. */
        EXPECT_EQ(write_proc("/proc/self/uid_map", "0 1000 10\n5 2000 10\n"), EINVAL);
        EXPECT_EQ(write_proc("/proc/self/uid_map", "0 1000 10\n10 1000 10\n"), EINVAL);
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
}

static void capabilities_stop_at_unmapped_files(void) {
    become_root_of_own_namespace();
    /* Root here has CAP_DAC_OVERRIDE, but not over files whose owner it cannot name. */
    EXPECT_ERRNO(open("rootfile", O_RDONLY), EACCES);
    EXPECT_ERRNO(open("rootfile", O_WRONLY), EACCES);
    EXPECT_ERRNO(chmod("rootfile", 0644), EPERM);
    int fd = open("nobodyfile", O_RDWR); /* mode 0, but its owner is root here */
    EXPECT(fd >= 0);
    close(fd);
    EXPECT_ERRNO(mknod("dev", S_IFCHR | 0600, makedev(1, 3)), EPERM);
}

CASE(capabilities_in_a_user_namespace_stop_at_files_it_cannot_map) {
    EXPECT_OK(chmod(scratch(), 0777));
    write_file("rootfile", "secret");
    EXPECT_OK(chmod("rootfile", 0600));
    write_file("nobodyfile", "mine");
    EXPECT_OK(chown("nobodyfile", 65534, 65534));
    EXPECT_OK(chmod("nobodyfile", 0));
    AS_NOBODY(capabilities_stop_at_unmapped_files);
}

static void namespaces_owned_by_the_user_namespace(void) {
    EXPECT_ERRNO(unshare(CLONE_NEWUTS), EPERM);
    EXPECT_ERRNO(sethostname("x", 1), EPERM);
    become_root_of_own_namespace();
    EXPECT_ERRNO(sethostname("x", 1), EPERM); /* the UTS namespace is still the outer one's */
    EXPECT_OK(unshare(CLONE_NEWUTS | CLONE_NEWNS));
    EXPECT_OK(sethostname("inside", 6));
    struct utsname u;
    EXPECT_OK(uname(&u));
    EXPECT_STREQ(u.nodename, "inside");
    EXPECT_OK(mkdir("mnt", 0755));
    EXPECT_OK(mount("none", "mnt", "tmpfs", 0, NULL));
    write_file("mnt/f", "x");
    EXPECT_OK(umount("mnt"));
    EXPECT_ERRNO(access("mnt/f", F_OK), ENOENT);
}

CASE(root_of_a_user_namespace_names_and_mounts_in_namespaces_it_owns) {
    struct utsname before, after;
    EXPECT_OK(uname(&before));
    EXPECT_OK(chmod(scratch(), 0777));
    AS_NOBODY(namespaces_owned_by_the_user_namespace);
    EXPECT_OK(uname(&after));
    EXPECT_STREQ(after.nodename, before.nodename);
}

CASE(parent_writes_the_map_of_a_clone_newuser_child) {
    int go[2], ready[2], done[2];
    EXPECT_OK(pipe(go));
    EXPECT_OK(pipe(ready));
    EXPECT_OK(pipe(done));
    pid_t child = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    EXPECT(child >= 0);
    if (child == 0) {
        char c;
        if (read(go[0], &c, 1) != 1) _exit(1);
        EXPECT_EQ(getuid(), 0);
        EXPECT_EQ(getgid(), 5);
        char buf[256];
        slurp("/proc/self/uid_map", buf, sizeof buf);
        EXPECT_STREQ(buf, "         0          0          1\n         1       1000         10\n");
        status_line("Gid", buf, sizeof buf);
        EXPECT_STREQ(buf, "5\t5\t5\t5");
        EXPECT_OK(setuid(3));
        EXPECT_EQ(getuid(), 3);
        if (write(ready[1], "r", 1) != 1 || read(done[0], &c, 1) != 1) _exit(1);
        _exit(0);
    }
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/uid_map", child);
    EXPECT_EQ(write_proc(path, "0 0 1\n1 1000 10\n"), 0);
    EXPECT_EQ(write_proc(path, "0 0 1"), EPERM);
    snprintf(path, sizeof path, "/proc/%d/gid_map", child);
    EXPECT_EQ(write_proc(path, "0 1000 1\n5 0 1\n"), 0); /* root may map anything, setgroups allowed */
    slurp(path, buf, sizeof buf);
    EXPECT_STREQ(buf, "         0       1000          1\n         5          0          1\n");
    EXPECT_EQ(write(go[1], "x", 1), 1);
    char c;
    EXPECT_EQ(read(ready[0], &c, 1), 1);
    snprintf(path, sizeof path, "/proc/%d/status", child);
    slurp(path, buf, sizeof buf);
    EXPECT(strstr(buf, "\nUid:\t1002\t1002\t1002\t1002\n") != NULL);
    EXPECT(strstr(buf, "\nGid:\t0\t0\t0\t0\n") != NULL);
    EXPECT_EQ(write(done[1], "x", 1), 1);
    EXPECT_EQ(wait_status(child), 0);
}

CASE(nsfs_ioctls_name_a_child_user_namespace_its_parent_and_owner) {
    int ready[2], go[2];
    EXPECT_OK(pipe(ready));
    EXPECT_OK(pipe(go));
    pid_t child = fork();
    if (child == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(99);
        if (unshare(CLONE_NEWUSER | CLONE_NEWUTS) != 0) _exit(98);
        char c = 'r';
        if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1) _exit(97);
        _exit(0);
    }
    char c;
    EXPECT_EQ(read(ready[0], &c, 1), 1);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", child);
    int user = open(path, O_RDONLY);
    EXPECT(user >= 0);
    EXPECT(ino_of_fd(user) != ino_of_path("/proc/self/ns/user"));
    uid_t owner = 1;
    EXPECT_OK(ioctl(user, NS_GET_OWNER_UID_, &owner));
    EXPECT_EQ(owner, 65534);
    int parent = ioctl(user, NS_GET_PARENT_);
    EXPECT(parent >= 0);
    EXPECT_EQ(ino_of_fd(parent), ino_of_path("/proc/self/ns/user"));
    snprintf(path, sizeof path, "/proc/%d/ns/uts", child);
    int uts = open(path, O_RDONLY);
    EXPECT(uts >= 0);
    int owning = ioctl(uts, NS_GET_USERNS_);
    EXPECT(owning >= 0);
    EXPECT_EQ(ino_of_fd(owning), ino_of_fd(user));
    /* Root outside may join it (all capabilities there); joining one's own is EINVAL. */
    pid_t joiner = fork();
    if (joiner == 0) {
        EXPECT_OK(setns(user, CLONE_NEWUSER));
        EXPECT_EQ(getuid(), 65534); /* no map was written */
        int own = open("/proc/self/ns/user", O_RDONLY);
        EXPECT_ERRNO(setns(own, CLONE_NEWUSER), EINVAL);
        EXPECT_OK(setns(uts, CLONE_NEWUTS)); /* owned by the namespace it is now in */
        _exit(0);
    }
    EXPECT_EQ(wait_status(joiner), 0);
    /* Another unprivileged user owns nothing there. */
    pid_t stranger = fork();
    if (stranger == 0) {
        if (setgid(1) != 0 || setuid(1) != 0) _exit(99);
        EXPECT_ERRNO(setns(user, CLONE_NEWUSER), EPERM);
        _exit(0);
    }
    EXPECT_EQ(wait_status(stranger), 0);
    EXPECT_EQ(write(go[1], "x", 1), 1);
    EXPECT_EQ(wait_status(child), 0);
}

static void exec_keeps_capabilities_only_for_root(void) {
    unshare_user_dumpable();
    /* No uid 0 here: execve gives no capabilities. */
    pid_t child = fork();
    if (child == 0) {
        execl("/bin/grep", "grep", "-q", "^CapEff:.0000000000000000$", "/proc/self/status", (char *)NULL);
        _exit(127);
    }
    EXPECT_EQ(wait_status(child), 0);
    EXPECT_EQ(write_proc("/proc/self/uid_map", "0 65534 1"), 0);
    child = fork();
    if (child == 0) {
        execl("/bin/grep", "grep", "-q", "^CapEff:.000001ffffffffff$", "/proc/self/status", (char *)NULL);
        _exit(127);
    }
    EXPECT_EQ(wait_status(child), 0);
}

CASE(execve_in_a_user_namespace_gives_capabilities_to_its_root_only) {
    AS_NOBODY(exec_keeps_capabilities_only_for_root);
}

CASE(user_namespaces_nest_33_deep) {
    pid_t child = fork();
    if (child == 0) {
        /* Each level maps its creator's ids (which the next level's creator needs). */
        int made = 0;
        while (made < 40 && unshare(CLONE_NEWUSER) == 0) {
            made++;
            EXPECT_EQ(write_proc("/proc/self/uid_map", "0 0 1"), 0);
            EXPECT_EQ(write_proc("/proc/self/setgroups", "deny"), 0);
            EXPECT_EQ(write_proc("/proc/self/gid_map", "0 0 1"), 0);
        }
        int e = errno;
        /* The initial namespace is level 0; one at level 33 is the deepest (its creator's
         * namespace was at 32). */
        EXPECT_EQ(made, 33);
        EXPECT_EQ(e, ENOSPC); /* EUSERS before Linux 4.9 */
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
}

CASE(threads_cannot_unshare_user_namespace_with_clone_fs_or_alone) {
    EXPECT_ERRNO(syscall(SYS_clone, CLONE_NEWUSER | CLONE_FS | SIGCHLD, 0, 0, 0, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_clone, CLONE_NEWUSER | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM, 0, 0, 0, 0), EINVAL);
}

static void locked_mounts_stay(void) {
    become_root_of_own_namespace();
    EXPECT_OK(unshare(CLONE_NEWNS));
    /* Copied from a more privileged namespace: not unmounted alone, read-only kept. */
    EXPECT_ERRNO(umount2("m", MNT_DETACH), EINVAL);
    EXPECT_ERRNO(mount(NULL, "m", NULL, MS_REMOUNT | MS_BIND, NULL), EPERM);
    EXPECT_OK(mount(NULL, "m", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
    /* What it mounts itself is its own. */
    EXPECT_OK(mount("none", "m", "tmpfs", 0, NULL));
    write_file("m/f", "x");
    EXPECT_OK(umount("m"));
    EXPECT_ERRNO(access("m/f", F_OK), ENOENT);
}

CASE(mounts_copied_into_a_user_namespaces_mount_namespace_are_locked) {
    pid_t child = fork();
    if (child == 0) {
        EXPECT_OK(unshare(CLONE_NEWNS));
        EXPECT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
        EXPECT_OK(chmod(scratch(), 0777));
        EXPECT_OK(mkdir("m", 0777));
        EXPECT_OK(mount("none", "m", "tmpfs", 0, "mode=0777"));
        EXPECT_OK(mount(NULL, "m", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
        AS_NOBODY(locked_mounts_stay);
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
}

CASE(cgroup_namespaces_are_made_joined_and_owned) {
    char outer[64] = {0}, inner[64];
    EXPECT(readlink("/proc/self/ns/cgroup", outer, sizeof outer - 1) > 0);
    pid_t child = fork();
    if (child == 0) {
        EXPECT_OK(unshare(CLONE_NEWCGROUP));
        memset(inner, 0, sizeof inner);
        EXPECT(readlink("/proc/self/ns/cgroup", inner, sizeof inner) > 0);
        EXPECT(strcmp(inner, outer) != 0);
        int fd = open("/proc/1/ns/cgroup", O_RDONLY);
        if (fd >= 0) { EXPECT_OK(setns(fd, CLONE_NEWCGROUP)); }
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
}

static void cgroup_namespace_needs_a_user_namespace(void) {
    EXPECT_ERRNO(unshare(CLONE_NEWCGROUP), EPERM);
    EXPECT_OK(unshare(CLONE_NEWUSER | CLONE_NEWCGROUP));
}

CASE(unprivileged_cgroup_namespace_comes_with_a_user_namespace) {
    AS_NOBODY(cgroup_namespace_needs_a_user_namespace);
}

COMPAT_MAIN()
