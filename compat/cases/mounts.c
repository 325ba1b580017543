/* Mounts made inside the sandbox: mount(2) of tmpfs and proc, bind mounts, remount, MS_MOVE,
 * umount2(2), mount namespaces, and how /proc/self/mountinfo, /proc/self/mounts and statfs
 * follow. Natively each case runs as root in a private mount namespace of its own, so
 * nothing it mounts reaches the host. */
#include "../compat.h"
#include <sys/syscall.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/epoll.h>
#include <poll.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#define TMPFS_MAGIC 0x01021994

/* A mount namespace of the case's own, with nothing propagating out of it. */
static void own_namespace(void) {
    EXPECT_OK(unshare(CLONE_NEWNS));
    EXPECT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
}

/* The mountinfo line whose mount point is `path` (the last one: the top of a stack), or NULL. */
static const char *mountinfo_line(const char *path, char *buf, size_t size) {
    static char line[1024];
    if (slurp("/proc/self/mountinfo", buf, size) <= 0) return NULL;
    const char *found = NULL;
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
        char point[512];
        if (sscanf(l, "%*d %*d %*s %*s %511s", point) == 1 && strcmp(point, path) == 0) {
            snprintf(line, sizeof line, "%s", l);
            found = line;
        }
    }
    return found;
}

CASE(tmpfs_mount_with_size_and_mode_shows_in_statfs_and_mountinfo) {
    own_namespace();
    const char *m = scratch_path("m");
    EXPECT_OK(mkdir(m, 0755));
    EXPECT_OK(mount("scratchfs", m, "tmpfs", MS_NOSUID, "size=1m,mode=700"));
    struct stat st;
    EXPECT_OK(stat(m, &st));
    EXPECT_EQ(st.st_mode, S_IFDIR | 0700);
    struct statfs sf;
    EXPECT_OK(statfs(m, &sf));
    EXPECT_EQ(sf.f_type, TMPFS_MAGIC);
    EXPECT_EQ(sf.f_blocks * sf.f_bsize, 1 << 20);
    EXPECT_EQ(sf.f_bfree, sf.f_blocks);
    EXPECT(sf.f_flags & ST_NOSUID);
    EXPECT(!(sf.f_flags & ST_RDONLY));
    static char buf[1 << 16];
    const char *l = mountinfo_line(m, buf, sizeof buf);
    EXPECT(l != NULL);
    EXPECT(strstr(l, " rw,nosuid,relatime ") != NULL);
    EXPECT(strstr(l, " - tmpfs scratchfs rw,size=1024k,mode=700") != NULL);
    EXPECT(slurp("/proc/self/mounts", buf, sizeof buf) > 0);
    char want[600];
    snprintf(want, sizeof want, "scratchfs %s tmpfs rw,nosuid,relatime,size=1024k,mode=700 0 0\n", m);
    EXPECT(strstr(buf, want) != NULL);
    /* A file written there counts against the size. */
    char f[600];
    snprintf(f, sizeof f, "%s/f", m);
    char page[8192];
    memset(page, 'x', sizeof page);
    int fd = open(f, O_WRONLY | O_CREAT, 0600);
    EXPECT_EQ(write(fd, page, sizeof page), (long)sizeof page);
    close(fd);
    EXPECT_OK(statfs(m, &sf));
    EXPECT_EQ(sf.f_blocks - sf.f_bfree, 2);
    EXPECT_OK(umount2(m, 0));
    EXPECT_ERRNO(stat(f, &st), ENOENT);
    EXPECT(mountinfo_line(m, buf, sizeof buf) == NULL);
}

CASE(tmpfs_full_gives_a_short_write_then_enospc) {
    own_namespace();
    const char *m = scratch_path("m");
    EXPECT_OK(mkdir(m, 0755));
    EXPECT_OK(mount("none", m, "tmpfs", 0, "size=64k"));
    char f[600];
    snprintf(f, sizeof f, "%s/f", m);
    int fd = open(f, O_WRONLY | O_CREAT, 0600);
    EXPECT(fd >= 0);
    static char data[128 << 10];
    EXPECT_EQ(write(fd, data, sizeof data), 64 << 10);
    EXPECT_ERRNO(write(fd, data, 1), ENOSPC);
    /* Space comes back when the file goes. */
    EXPECT_OK(ftruncate(fd, 0));
    EXPECT_EQ(pwrite(fd, data, 4096, 0), 4096);
    close(fd);
    EXPECT_OK(umount2(m, 0));
}

CASE(umount_of_a_busy_mount_is_ebusy_and_detach_leaves_open_files_working) {
    own_namespace();
    const char *m = scratch_path("m");
    EXPECT_OK(mkdir(m, 0755));
    EXPECT_OK(mount("none", m, "tmpfs", 0, NULL));
    char f[600];
    snprintf(f, sizeof f, "%s/f", m);
    write_file(f, "kept");
    int fd = open(f, O_RDONLY);
    EXPECT(fd >= 0);
    EXPECT_ERRNO(umount2(m, 0), EBUSY);
    EXPECT_ERRNO(umount2(m, MNT_EXPIRE | MNT_DETACH), EINVAL);
    EXPECT_OK(umount2(m, MNT_DETACH));
    struct stat st;
    EXPECT_ERRNO(stat(f, &st), ENOENT);
    char buf[8] = {0};
    EXPECT_EQ(read(fd, buf, sizeof buf), 4);
    EXPECT_STREQ(buf, "kept");
    close(fd);
    /* A cwd inside keeps it busy too. */
    EXPECT_OK(mount("none", m, "tmpfs", 0, NULL));
    int here = open(".", O_RDONLY | O_DIRECTORY);
    EXPECT_OK(chdir(m));
    EXPECT_ERRNO(umount2(m, 0), EBUSY);
    EXPECT_OK(fchdir(here));
    EXPECT_OK(umount2(m, 0));
}

CASE(umount_and_mount_errors) {
    own_namespace();
    char d[600];
    snprintf(d, sizeof d, "%s", scratch_path("d"));
    EXPECT_OK(mkdir(d, 0755));
    EXPECT_ERRNO(umount2(d, 0), EINVAL);          /* not a mount point */
    EXPECT_ERRNO(umount2(d, 0x100), EINVAL);      /* unknown flag */
    EXPECT_ERRNO(umount2(scratch_path("none"), 0), ENOENT);
    EXPECT_ERRNO(mount("none", d, "nosuchfs", 0, NULL), ENODEV);
    EXPECT_ERRNO(mount("none", d, "tmpfs", 0, "nosuchoption"), EINVAL);
    EXPECT_ERRNO(mount("none", d, "tmpfs", 0, "size=lots"), EINVAL);
    EXPECT_ERRNO(mount("none", scratch_path("none"), "tmpfs", 0, NULL), ENOENT);
    char f[600];
    snprintf(f, sizeof f, "%s", scratch_path("f"));
    write_file(f, "x");
    EXPECT_ERRNO(mount("none", f, "tmpfs", 0, NULL), ENOTDIR);
    EXPECT_ERRNO(mount(d, f, NULL, MS_BIND, NULL), ENOTDIR);
    /* A mount point cannot be removed or renamed while mounted on. */
    EXPECT_OK(mount("none", d, "tmpfs", 0, NULL));
    EXPECT_ERRNO(rmdir(d), EBUSY);
    EXPECT_ERRNO(rename(d, scratch_path("e")), EBUSY);
    EXPECT_OK(umount2(d, 0));
    EXPECT_OK(rmdir(d));
}

CASE(bind_mount_shows_the_same_files_both_ways) {
    own_namespace();
    const char *a = scratch_path("a"), *b = scratch_path("b");
    EXPECT_OK(mkdir(a, 0755));
    EXPECT_OK(mkdir(b, 0755));
    char p[600], q[600];
    snprintf(p, sizeof p, "%s/f", a);
    write_file(p, "from a");
    EXPECT_OK(mount(a, b, NULL, MS_BIND, NULL));
    char buf[64];
    snprintf(q, sizeof q, "%s/f", b);
    EXPECT(slurp(q, buf, sizeof buf) == 6);
    EXPECT_STREQ(buf, "from a");
    snprintf(q, sizeof q, "%s/g", b);
    write_file(q, "from b");
    snprintf(p, sizeof p, "%s/g", a);
    EXPECT(slurp(p, buf, sizeof buf) == 6);
    struct stat sa, sb;
    EXPECT_OK(stat(a, &sa));
    EXPECT_OK(stat(b, &sb));
    EXPECT_EQ(sa.st_ino, sb.st_ino);
    EXPECT_EQ(sa.st_dev, sb.st_dev);
    static char info[1 << 16];
    EXPECT(mountinfo_line(b, info, sizeof info) != NULL);
    EXPECT_OK(umount2(b, 0));
    EXPECT_ERRNO(stat(q, &sb), ENOENT);
    /* A single file over a file. */
    const char *f1 = scratch_path("f1"), *f2 = scratch_path("f2");
    write_file(f1, "one");
    write_file(f2, "two");
    EXPECT_OK(mount(f1, f2, NULL, MS_BIND, NULL));
    EXPECT(slurp(f2, buf, sizeof buf) == 3);
    EXPECT_STREQ(buf, "one");
    EXPECT_OK(umount2(f2, 0));
    EXPECT(slurp(f2, buf, sizeof buf) == 3);
    EXPECT_STREQ(buf, "two");
}

CASE(remount_read_only_and_back) {
    own_namespace();
    const char *m = scratch_path("m");
    EXPECT_OK(mkdir(m, 0755));
    EXPECT_OK(mount("none", m, "tmpfs", 0, NULL));
    char f[600];
    snprintf(f, sizeof f, "%s/f", m);
    write_file(f, "data");
    int w = open(f, O_WRONLY);
    EXPECT(w >= 0);
    EXPECT_ERRNO(mount(NULL, m, NULL, MS_REMOUNT | MS_RDONLY, NULL), EBUSY); /* open for writing */
    close(w);
    EXPECT_OK(mount(NULL, m, NULL, MS_REMOUNT | MS_RDONLY, NULL));
    EXPECT_ERRNO(open(f, O_WRONLY), EROFS);
    char g[600];
    snprintf(g, sizeof g, "%s/g", m);
    EXPECT_ERRNO(mkdir(g, 0755), EROFS);
    /* EROFS comes before the permission check (LTP chown04, fchmod06): even for nobody. */
    pid_t c = fork();
    if (c == 0) {
        if (setuid(65534) != 0) _exit(1);
        if (chown(f, 0, 0) == 0 || errno != EROFS) _exit(2);
        if (chmod(f, 0600) == 0 || errno != EROFS) _exit(3);
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char buf[16];
    EXPECT(slurp(f, buf, sizeof buf) == 4);
    struct statfs sf;
    EXPECT_OK(statfs(m, &sf));
    EXPECT(sf.f_flags & ST_RDONLY);
    static char info[1 << 16];
    const char *l = mountinfo_line(m, info, sizeof info);
    EXPECT(l != NULL && strstr(l, " ro,relatime ") != NULL && strstr(l, " - tmpfs none ro") != NULL);
    EXPECT_OK(mount(NULL, m, NULL, MS_REMOUNT, NULL));
    write_file(f, "again");
    EXPECT_ERRNO(mount(NULL, scratch_path(""), NULL, MS_REMOUNT, NULL), EINVAL); /* not a mount point */
    EXPECT_OK(umount2(m, 0));
}

CASE(move_mount_and_stacked_mounts) {
    own_namespace();
    const char *a = scratch_path("a"), *b = scratch_path("b");
    EXPECT_OK(mkdir(a, 0755));
    EXPECT_OK(mkdir(b, 0755));
    EXPECT_OK(mount("none", a, "tmpfs", 0, NULL));
    char p[600];
    snprintf(p, sizeof p, "%s/f", a);
    write_file(p, "moved");
    EXPECT_OK(mount(a, b, NULL, MS_MOVE, NULL));
    struct stat st;
    EXPECT_ERRNO(stat(p, &st), ENOENT);
    snprintf(p, sizeof p, "%s/f", b);
    EXPECT_OK(stat(p, &st));
    static char info[1 << 16];
    EXPECT(mountinfo_line(a, info, sizeof info) == NULL);
    EXPECT(mountinfo_line(b, info, sizeof info) != NULL);
    /* A second mount over the same place hides the first until it goes. */
    EXPECT_OK(mount("none", b, "tmpfs", 0, NULL));
    EXPECT_ERRNO(stat(p, &st), ENOENT);
    EXPECT_OK(umount2(b, 0));
    EXPECT_OK(stat(p, &st));
    EXPECT_OK(umount2(b, 0));
    EXPECT_ERRNO(stat(p, &st), ENOENT);
}

CASE(a_mount_with_a_mount_below_is_busy_and_detach_takes_both) {
    own_namespace();
    const char *m = scratch_path("m");
    EXPECT_OK(mkdir(m, 0755));
    EXPECT_OK(mount("none", m, "tmpfs", 0, NULL));
    char sub[600];
    snprintf(sub, sizeof sub, "%s/sub", m);
    EXPECT_OK(mkdir(sub, 0755));
    EXPECT_OK(mount("none", sub, "tmpfs", 0, NULL));
    static char info[1 << 16];
    const char *l = mountinfo_line(sub, info, sizeof info);
    EXPECT(l != NULL);
    int subParent = -1, top = -2;
    sscanf(l, "%*d %d", &subParent);
    l = mountinfo_line(m, info, sizeof info);
    EXPECT(l != NULL);
    sscanf(l, "%d", &top);
    EXPECT_EQ(subParent, top);
    EXPECT_ERRNO(umount2(m, 0), EBUSY);
    EXPECT_OK(umount2(m, MNT_DETACH));
    EXPECT(mountinfo_line(sub, info, sizeof info) == NULL);
}

CASE(a_new_mount_namespace_keeps_its_mounts_to_itself) {
    own_namespace();
    const char *m = scratch_path("m");
    EXPECT_OK(mkdir(m, 0755));
    int go[2], done[2];
    EXPECT_OK(pipe(go));
    EXPECT_OK(pipe(done));
    pid_t child = fork();
    if (child == 0) {
        if (unshare(CLONE_NEWNS) != 0) _exit(1);
        if (mount("none", m, "tmpfs", 0, NULL) != 0) _exit(2);
        char f[600];
        snprintf(f, sizeof f, "%s/child", m);
        int fd = open(f, O_WRONLY | O_CREAT, 0644);
        if (fd < 0) _exit(3);
        close(fd);
        if (write(done[1], "x", 1) != 1) _exit(4);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(5);
        struct stat st;
        _exit(stat(f, &st) == 0 ? 0 : 6);
    }
    char c;
    EXPECT_EQ(read(done[0], &c, 1), 1);
    char f[600];
    snprintf(f, sizeof f, "%s/child", m);
    struct stat st;
    EXPECT_ERRNO(stat(f, &st), ENOENT);
    static char info[1 << 16];
    EXPECT(mountinfo_line(m, info, sizeof info) == NULL);
    /* The child's namespace is another: /proc/PID/ns/mnt says so. */
    char mine[64] = {0}, theirs[64] = {0}, path[64];
    EXPECT(readlink("/proc/self/ns/mnt", mine, sizeof mine - 1) > 0);
    snprintf(path, sizeof path, "/proc/%d/ns/mnt", child);
    EXPECT(readlink(path, theirs, sizeof theirs - 1) > 0);
    EXPECT(strncmp(mine, "mnt:[", 5) == 0);
    EXPECT(strcmp(mine, theirs) != 0);
    EXPECT_EQ(write(go[1], "x", 1), 1);
    int status;
    EXPECT_EQ(waitpid(child, &status, 0), child);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

CASE(propagation_types_show_in_mountinfo) {
    own_namespace();
    const char *m = scratch_path("m");
    EXPECT_OK(mkdir(m, 0755));
    EXPECT_OK(mount("none", m, "tmpfs", 0, NULL));
    static char info[1 << 16];
    const char *l = mountinfo_line(m, info, sizeof info);
    EXPECT(l != NULL && strstr(l, "shared:") == NULL);
    EXPECT_OK(mount(NULL, m, NULL, MS_SHARED, NULL));
    l = mountinfo_line(m, info, sizeof info);
    EXPECT(l != NULL && strstr(l, " shared:") != NULL);
    EXPECT_OK(mount(NULL, m, NULL, MS_PRIVATE, NULL));
    l = mountinfo_line(m, info, sizeof info);
    EXPECT(l != NULL && strstr(l, "shared:") == NULL);
    EXPECT_ERRNO(mount(NULL, m, NULL, MS_SHARED | MS_PRIVATE, NULL), EINVAL);
    EXPECT_ERRNO(mount(NULL, scratch_path(""), NULL, MS_PRIVATE, NULL), EINVAL); /* not a mount point */
    EXPECT_OK(umount2(m, 0));
}

CASE(proc_mounted_again_lists_processes) {
    own_namespace();
    const char *m = scratch_path("proc");
    EXPECT_OK(mkdir(m, 0755));
    EXPECT_OK(mount("proc", m, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
    char p[600];
    snprintf(p, sizeof p, "%s/%d/status", m, getpid());
    struct stat st;
    EXPECT_OK(stat(p, &st));
    struct statfs sf;
    EXPECT_OK(statfs(m, &sf));
    EXPECT_EQ(sf.f_type, 0x9fa0);
    EXPECT_OK(umount2(m, 0));
}

CASE(mount_and_umount_need_cap_sys_admin) {
    own_namespace();
    const char *m = scratch_path("m");
    EXPECT_OK(mkdir(m, 0755));
    EXPECT_OK(mount("none", m, "tmpfs", 0, NULL));
    pid_t child = fork();
    if (child == 0) {
        if (setuid(65534) != 0) _exit(1);
        if (mount("none", m, "tmpfs", 0, NULL) == 0 || errno != EPERM) _exit(2);
        if (umount2(m, 0) == 0 || errno != EPERM) _exit(3);
        if (unshare(CLONE_NEWNS) == 0 || errno != EPERM) _exit(4);
        _exit(0);
    }
    int status;
    EXPECT_EQ(waitpid(child, &status, 0), child);
    EXPECT(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_OK(umount2(m, 0));
}

/* Binding a directory onto itself, twice onto one place, or two places onto each other:
 * each is a new mount over the last, and paths through them still end. */
CASE(bind_mounts_onto_themselves_and_each_other) {
    own_namespace();
    char a[600], b[600], ab[600];
    snprintf(a, sizeof a, "%s", scratch_path("a"));
    snprintf(b, sizeof b, "%s", scratch_path("b"));
    snprintf(ab, sizeof ab, "%s/b", a);
    EXPECT_OK(mkdir(a, 0755));
    EXPECT_OK(mkdir(b, 0755));
    EXPECT_OK(mkdir(ab, 0755));
    EXPECT_OK(mount(a, a, NULL, MS_BIND, NULL));
    EXPECT_OK(mount(b, b, NULL, MS_BIND, NULL));
    EXPECT_OK(mount(b, b, NULL, MS_BIND, NULL));
    EXPECT_OK(mount(a, ab, NULL, MS_BIND, NULL));
    EXPECT_OK(mount(ab, a, NULL, MS_BIND, NULL));
    struct stat st;
    EXPECT_OK(stat(a, &st));
    EXPECT_OK(stat(ab, &st));
    EXPECT_OK(stat(b, &st));
    char deep[700];
    snprintf(deep, sizeof deep, "%s/b/.", a);
    EXPECT_OK(stat(deep, &st));
    EXPECT_OK(umount2(a, MNT_DETACH));
    EXPECT_OK(umount2(b, 0));
    EXPECT_OK(umount2(b, 0));
    EXPECT_ERRNO(umount2(b, 0), EINVAL);
}

/* A mount below another is not seen through a plain bind of the upper directory (only
 * MS_REC brings it along), and unmounting it there is EINVAL. */
CASE(a_bind_without_ms_rec_leaves_submounts_behind) {
    own_namespace();
    char a[600], ax[600], b[600], bx[600], c[600], cx[600], f[700];
    snprintf(a, sizeof a, "%s", scratch_path("a"));
    snprintf(b, sizeof b, "%s", scratch_path("b"));
    snprintf(c, sizeof c, "%s", scratch_path("c"));
    snprintf(ax, sizeof ax, "%s/x", a);
    snprintf(bx, sizeof bx, "%s/x", b);
    snprintf(cx, sizeof cx, "%s/x", c);
    EXPECT_OK(mkdir(a, 0755));
    EXPECT_OK(mkdir(ax, 0755));
    EXPECT_OK(mkdir(b, 0755));
    EXPECT_OK(mkdir(c, 0755));
    EXPECT_OK(mount("none", ax, "tmpfs", 0, NULL));
    snprintf(f, sizeof f, "%s/on-tmpfs", ax);
    write_file(f, "x");
    EXPECT_OK(mount(a, b, NULL, MS_BIND, NULL));
    struct stat st;
    snprintf(f, sizeof f, "%s/on-tmpfs", bx);
    EXPECT_ERRNO(stat(f, &st), ENOENT);
    EXPECT_ERRNO(umount2(bx, 0), EINVAL);
    EXPECT_OK(mount(a, c, NULL, MS_BIND | MS_REC, NULL));
    snprintf(f, sizeof f, "%s/on-tmpfs", cx);
    EXPECT_OK(stat(f, &st));
    static char info[1 << 16];
    EXPECT(mountinfo_line(cx, info, sizeof info) != NULL);
    EXPECT_ERRNO(umount2(c, 0), EBUSY);
    EXPECT_OK(umount2(cx, 0));
    EXPECT_OK(umount2(c, 0));
    EXPECT_OK(umount2(b, 0));
    EXPECT_OK(umount2(ax, 0));
}

/* A mount cannot be moved below itself, even through a bind of it. */
CASE(move_below_itself_is_eloop) {
    own_namespace();
    char a[600], ax[600], b[600], bx[600];
    snprintf(a, sizeof a, "%s", scratch_path("a"));
    snprintf(b, sizeof b, "%s", scratch_path("b"));
    snprintf(ax, sizeof ax, "%s/x", a);
    snprintf(bx, sizeof bx, "%s/x", b);
    EXPECT_OK(mkdir(a, 0755));
    EXPECT_OK(mkdir(b, 0755));
    EXPECT_OK(mount("none", a, "tmpfs", 0, NULL));
    EXPECT_OK(mkdir(ax, 0755));
    EXPECT_OK(mount("none", ax, "tmpfs", 0, NULL));
    EXPECT_OK(mount(a, b, NULL, MS_BIND | MS_REC, NULL));
    EXPECT_ERRNO(mount(a, ax, NULL, MS_MOVE, NULL), ELOOP);
    EXPECT_ERRNO(mount(b, bx, NULL, MS_MOVE, NULL), ELOOP);
    EXPECT_OK(umount2(b, MNT_DETACH));
    EXPECT_OK(umount2(a, MNT_DETACH));
}

/* A namespace copied after a move keeps the moved mount's children below it. */
CASE(a_namespace_copied_after_a_move_keeps_the_tree) {
    own_namespace();
    char a[600], ax[600], c[600], cx[600];
    snprintf(a, sizeof a, "%s", scratch_path("a"));
    snprintf(c, sizeof c, "%s", scratch_path("c"));
    snprintf(ax, sizeof ax, "%s/x", a);
    snprintf(cx, sizeof cx, "%s/x", c);
    EXPECT_OK(mkdir(a, 0755));
    EXPECT_OK(mkdir(c, 0755));
    EXPECT_OK(mount("none", a, "tmpfs", 0, NULL));
    EXPECT_OK(mkdir(ax, 0755));
    EXPECT_OK(mount("none", ax, "tmpfs", 0, NULL));
    EXPECT_OK(mount(a, c, NULL, MS_MOVE, NULL));
    EXPECT_OK(unshare(CLONE_NEWNS));
    static char info[1 << 16];
    const char *l = mountinfo_line(cx, info, sizeof info);
    EXPECT(l != NULL);
    int id = 0, parent = 0, top = -1;
    sscanf(l, "%d %d", &id, &parent);
    EXPECT(id != parent);
    l = mountinfo_line(c, info, sizeof info);
    EXPECT(l != NULL);
    sscanf(l, "%d", &top);
    EXPECT_EQ(parent, top);
    EXPECT_ERRNO(umount2(c, 0), EBUSY);
}

CASE(tmpfs_options_size_zero_remount_and_errnos) {
    own_namespace();
    char m[600], f[700];
    snprintf(m, sizeof m, "%s", scratch_path("m"));
    snprintf(f, sizeof f, "%s/f", m);
    EXPECT_OK(mkdir(m, 0755));
    /* size=0 is no limit. */
    EXPECT_OK(mount("none", m, "tmpfs", 0, "size=0"));
    write_file(f, "data");
    EXPECT_OK(umount2(m, 0));
    EXPECT_OK(mount("none", m, "tmpfs", 0, "size=64k"));
    EXPECT_OK(mount(NULL, m, NULL, MS_REMOUNT, "size=128k"));
    struct statfs sf;
    EXPECT_OK(statfs(m, &sf));
    EXPECT_EQ(sf.f_blocks * sf.f_bsize, 128 << 10);
    EXPECT_ERRNO(mount(NULL, m, NULL, MS_REMOUNT, "bogus"), EINVAL);
    EXPECT_OK(umount2(m, 0));
    EXPECT_ERRNO(mount("none", m, "", 0, NULL), ENODEV);
    EXPECT_ERRNO(mount("none", m, NULL, 0, NULL), EINVAL);
    EXPECT_ERRNO(mount(NULL, m, NULL, MS_BIND, NULL), EINVAL);
    EXPECT_ERRNO(mount("", m, NULL, MS_BIND, NULL), EINVAL);
    EXPECT_ERRNO(mount(NULL, m, NULL, MS_MOVE, NULL), EINVAL);
    EXPECT_ERRNO(mount("none", scratch_path("none"), "tmpfs", MS_NOUSER, NULL), ENOENT);
    /* MNT_EXPIRE: busy first, then marked (EAGAIN), then gone. */
    EXPECT_OK(mount("none", m, "tmpfs", 0, NULL));
    int fd = open(m, O_RDONLY | O_DIRECTORY);
    EXPECT_ERRNO(umount2(m, MNT_EXPIRE), EBUSY);
    close(fd);
    EXPECT_ERRNO(umount2(m, MNT_EXPIRE), EAGAIN);
    EXPECT_OK(umount2(m, MNT_EXPIRE));
}

/* /proc/self/mounts polls POLLPRI|POLLERR once after the mount table changes (findmnt
 * --poll, systemd), always POLLIN; read again from the start it shows the change. */
CASE(proc_mounts_polls_pri_after_a_mount_and_rereads_it_from_the_start) {
    if (geteuid() != 0) return; /* mounts need CAP_SYS_ADMIN */
    own_namespace();
    EXPECT_OK(mkdir("m", 0755));
    int fd = open("/proc/self/mounts", O_RDONLY);
    EXPECT(fd >= 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLPRI, .data.fd = fd};
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
    EXPECT_EQ(epoll_wait(ep, &ev, 1, 0), 0);
    struct pollfd p = {fd, POLLIN | POLLPRI, 0};
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_EQ(p.revents, POLLIN);
    EXPECT_OK(mount("compat-mounts-poll", "m", "tmpfs", 0, NULL));
    EXPECT_EQ(epoll_wait(ep, &ev, 1, 1000), 1);
    EXPECT(ev.events & EPOLLPRI);
    EXPECT(ev.events & EPOLLERR);
    EXPECT_EQ(epoll_wait(ep, &ev, 1, 0), 0); /* reported once */
    static char text[1 << 16];
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    ssize_t n = read(fd, text, sizeof text - 1);
    EXPECT(n > 0);
    text[n] = 0;
    EXPECT(strstr(text, "compat-mounts-poll") != NULL);
    EXPECT_OK(umount("m"));
    EXPECT_EQ(poll(&p, 1, 1000), 1);
    EXPECT_EQ(p.revents, POLLIN | POLLPRI | POLLERR);
}

CASE(nothing_mounts_on_a_magic_link_opened_with_o_path) {
    /* LTP mount08: an O_PATH|O_NOFOLLOW fd of /proc/self/fd/N is the link itself; mounting
     * over /proc/self/fd/<that fd> would mount on a symlink: ENOENT. */
    own_namespace();
    const char *foo = scratch_path("foo"), *bar = scratch_path("bar");
    write_file(foo, "foo");
    write_file(bar, "bar");
    int fd = open(foo, O_RDONLY);
    EXPECT(fd >= 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int link = open(path, O_PATH | O_NOFOLLOW);
    EXPECT(link >= 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", link);
    EXPECT_ERRNO(mount(bar, path, NULL, MS_BIND, NULL), ENOENT);
}

/* ---- pivot_root ---- */

CASE(pivot_root_makes_a_mount_the_root_and_puts_the_old_one_below_it) {
    own_namespace();
    /* Everything on a tmpfs of the case's own, whatever mount the scratch directory is on. */
    char base[600], newroot[600], putold[600], marker[600];
    snprintf(base, sizeof base, "%s/base", scratch());
    EXPECT_OK(mkdir(base, 0755));
    EXPECT_OK(mount("tmpfs", base, "tmpfs", 0, NULL));
    snprintf(newroot, sizeof newroot, "%s/newroot", base);
    EXPECT_OK(mkdir(newroot, 0755));
    snprintf(putold, sizeof putold, "%s/old", newroot);
    EXPECT_OK(mkdir(putold, 0755));
    /* new_root not a mount point: EINVAL. The root itself: EBUSY. */
    EXPECT_ERRNO(syscall(SYS_pivot_root, newroot, putold), EINVAL);
    EXPECT_ERRNO(syscall(SYS_pivot_root, "/", "/"), EBUSY);
    EXPECT_OK(mount("tmpfs", newroot, "tmpfs", 0, "mode=755"));
    EXPECT_OK(mkdir(putold, 0755));
    snprintf(marker, sizeof marker, "%s/marker", newroot);
    write_file(marker, "new");
    EXPECT_ERRNO(syscall(SYS_pivot_root, marker, putold), ENOTDIR);
    /* put_old must be at or under new_root: on the root's mount, EBUSY; elsewhere, EINVAL. */
    EXPECT_ERRNO(syscall(SYS_pivot_root, newroot, "/"), EBUSY);
    EXPECT_ERRNO(syscall(SYS_pivot_root, newroot, base), EINVAL);
    EXPECT_OK(chdir("/"));
    EXPECT_OK(syscall(SYS_pivot_root, newroot, putold));
    /* The caller's root and cwd (the old root) moved to the new root. */
    char buf[64], cwd[600];
    EXPECT(getcwd(cwd, sizeof cwd) != NULL);
    EXPECT_STREQ(cwd, "/");
    EXPECT(slurp("/marker", buf, sizeof buf) == 3);
    EXPECT_STREQ(buf, "new");
    /* The old root is at /old, whole. */
    struct stat st;
    EXPECT_OK(stat("/old/proc/self", &st));
    EXPECT_OK(umount2("/old", MNT_DETACH));
    EXPECT_ERRNO(stat("/old/proc/self", &st), ENOENT);
}

CASE(pivot_root_dot_dot_then_detaching_the_old_root) {
    /* runc's and bubblewrap's way: chdir(new_root); pivot_root(".", "."); umount2(".", MNT_DETACH). */
    own_namespace();
    char newroot[600];
    snprintf(newroot, sizeof newroot, "%s/nr", scratch());
    EXPECT_OK(mkdir(newroot, 0755));
    EXPECT_OK(mount("tmpfs", newroot, "tmpfs", 0, "mode=755"));
    char marker[700];
    snprintf(marker, sizeof marker, "%s/only-here", newroot);
    write_file(marker, "x");
    EXPECT_OK(chdir(newroot));
    EXPECT_OK(syscall(SYS_pivot_root, ".", "."));
    EXPECT_OK(umount2(".", MNT_DETACH));
    EXPECT_OK(chdir("/"));
    struct stat st;
    EXPECT_OK(stat("/only-here", &st));
    EXPECT_ERRNO(stat("/proc/self", &st), ENOENT);
    char cwd[64];
    EXPECT(getcwd(cwd, sizeof cwd) != NULL);
    EXPECT_STREQ(cwd, "/");
}

CASE(a_bind_remounted_read_only_refuses_writes_the_other_view_takes) {
    /* bwrap --ro-bind: MS_BIND|MS_REMOUNT|MS_RDONLY makes one mount read-only, not the
     * filesystem. */
    own_namespace();
    char a[600], b[600], fa[700], fb[700], db[700];
    snprintf(a, sizeof a, "%s/a", scratch());
    snprintf(b, sizeof b, "%s/b", scratch());
    EXPECT_OK(mkdir(a, 0755));
    EXPECT_OK(mkdir(b, 0755));
    EXPECT_OK(mount("tmpfs", a, "tmpfs", 0, NULL));
    snprintf(fa, sizeof fa, "%s/f", a);
    snprintf(fb, sizeof fb, "%s/f", b);
    snprintf(db, sizeof db, "%s/d", b);
    write_file(fa, "data");
    EXPECT_OK(mount(a, b, NULL, MS_BIND, NULL));
    /* A file open for writing through the mount: it cannot go read-only. */
    int w = open(fb, O_WRONLY);
    EXPECT(w >= 0);
    EXPECT_ERRNO(mount("none", b, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL), EBUSY);
    close(w);
    EXPECT_OK(mount("none", b, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL));
    EXPECT_ERRNO(open(fb, O_WRONLY), EROFS);
    EXPECT_ERRNO(open(db, O_WRONLY | O_CREAT, 0600), EROFS);
    EXPECT_ERRNO(mkdir(db, 0755), EROFS);
    EXPECT_ERRNO(unlink(fb), EROFS);
    EXPECT_ERRNO(chmod(fb, 0600), EROFS);
    EXPECT_ERRNO(truncate(fb, 0), EROFS);
    char buf[16];
    EXPECT(slurp(fb, buf, sizeof buf) == 4); /* reading is fine */
    /* The filesystem stays writable through the other mount. */
    int fd = open(fa, O_WRONLY | O_APPEND);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "!", 1), 1);
    close(fd);
    struct statvfs sv;
    EXPECT_OK(statvfs(b, &sv));
    EXPECT(sv.f_flag & ST_RDONLY);
    EXPECT_OK(statvfs(a, &sv));
    EXPECT(!(sv.f_flag & ST_RDONLY));
    /* And back. */
    EXPECT_OK(mount("none", b, NULL, MS_BIND | MS_REMOUNT, NULL));
    EXPECT_OK(unlink(fb));
}

/* ---- mount_setattr(2) ---- */

/* The first published struct mount_attr (MOUNT_ATTR_SIZE_VER0), as <sys/mount.h> has it. */
struct mount_attr_v0 { uint64_t attr_set, attr_clr, propagation, userns_fd; };
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

static long mount_setattr_(int dfd, const char *path, unsigned flags, void *attr, size_t size) {
    return syscall(SYS_mount_setattr, dfd, path, flags, attr, size);
}

/* The optional fields of `path`'s mountinfo line ("shared:N master:M" ...), between the
 * mount options and the " - " separator. */
static const char *optional_fields(const char *path) {
    static char buf[1 << 16], out[256];
    const char *l = mountinfo_line(path, buf, sizeof buf);
    if (!l) return NULL;
    char opts[256];
    int at = 0;
    if (sscanf(l, "%*d %*d %*s %*s %*s %255s %n", opts, &at) != 1) return NULL;
    const char *end = strstr(l + at, "- ");
    snprintf(out, sizeof out, "%.*s", end ? (int)(end - (l + at)) : 0, l + at);
    return out;
}

/* LTP's mount_setattr02, and the flags: a no-op is 0, a bad propagation EINVAL; MS_SHARED
 * shows shared:N, a bind of it joins the group, MS_SLAVE turns that into master:N; read-only
 * set and cleared; the atime field changes only when cleared whole. */
CASE(mount_setattr_changes_a_mounts_flags_and_propagation) {
    own_namespace();
    char m[600], slave[600]; /* scratch_path's buffers are reused */
    snprintf(m, sizeof m, "%s", scratch_path("m"));
    snprintf(slave, sizeof slave, "%s", scratch_path("m/slave"));
    EXPECT_OK(mkdir(m, 0755));
    EXPECT_OK(mount("setattrfs", m, "tmpfs", MS_NOATIME | MS_NODEV, ""));
    EXPECT_OK(mkdir(slave, 0777));
    struct mount_attr_v0 a = {0};
    EXPECT_OK(mount_setattr_(-1, m, 0, &a, sizeof a));
    EXPECT(strstr(optional_fields(m), "shared:") == NULL);
    a.propagation = (uint64_t)-1;
    EXPECT_ERRNO(mount_setattr_(-1, m, 0, &a, sizeof a), EINVAL);
    a.propagation = MS_SHARED;
    EXPECT_OK(mount_setattr_(-1, m, 0, &a, sizeof a));
    EXPECT(strstr(optional_fields(m), "shared:") != NULL);
    EXPECT_OK(mount(m, slave, NULL, MS_BIND, NULL));
    EXPECT(strstr(optional_fields(slave), "shared:") != NULL);
    a.propagation = MS_SLAVE;
    EXPECT_OK(mount_setattr_(-1, slave, 0, &a, sizeof a));
    EXPECT(strstr(optional_fields(slave), "master:") != NULL);
    EXPECT(strstr(optional_fields(slave), "shared:") == NULL);
    EXPECT(strstr(optional_fields(m), "shared:") != NULL);
    /* MS_SLAVE leaves an unbindable mount unbindable. */
    a.propagation = MS_UNBINDABLE;
    EXPECT_OK(mount_setattr_(-1, slave, 0, &a, sizeof a));
    a.propagation = MS_SLAVE;
    EXPECT_OK(mount_setattr_(-1, slave, 0, &a, sizeof a));
    EXPECT(strstr(optional_fields(slave), "unbindable") != NULL);
    /* Read-only on, and off again. */
    a = (struct mount_attr_v0){.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID};
    EXPECT_OK(mount_setattr_(-1, m, 0, &a, sizeof a));
    struct statvfs sv;
    EXPECT_OK(statvfs(m, &sv));
    EXPECT(sv.f_flag & ST_RDONLY);
    EXPECT(sv.f_flag & ST_NOSUID);
    EXPECT(sv.f_flag & ST_NODEV);
    EXPECT_ERRNO(mkdir(scratch_path("m/x"), 0755), EROFS);
    a = (struct mount_attr_v0){.attr_clr = MOUNT_ATTR_RDONLY};
    EXPECT_OK(mount_setattr_(-1, m, 0, &a, sizeof a));
    EXPECT_OK(mkdir(scratch_path("m/x"), 0755));
    /* An atime value without clearing the field is EINVAL; cleared whole, it is replaced. */
    a = (struct mount_attr_v0){.attr_set = MOUNT_ATTR_STRICTATIME};
    EXPECT_ERRNO(mount_setattr_(-1, m, 0, &a, sizeof a), EINVAL);
    a = (struct mount_attr_v0){.attr_set = MOUNT_ATTR_STRICTATIME, .attr_clr = MOUNT_ATTR_NOATIME};
    EXPECT_ERRNO(mount_setattr_(-1, m, 0, &a, sizeof a), EINVAL);
    a = (struct mount_attr_v0){.attr_set = MOUNT_ATTR_STRICTATIME, .attr_clr = MOUNT_ATTR__ATIME};
    EXPECT_OK(mount_setattr_(-1, m, 0, &a, sizeof a));
    static char buf[1 << 16];
    const char *l = mountinfo_line(m, buf, sizeof buf);
    EXPECT(l != NULL);
    EXPECT(strstr(l, " rw,nosuid,nodev ") != NULL);
    a = (struct mount_attr_v0){.attr_set = MOUNT_ATTR_NOATIME, .attr_clr = MOUNT_ATTR__ATIME};
    EXPECT_OK(mount_setattr_(-1, m, 0, &a, sizeof a));
    l = mountinfo_line(m, buf, sizeof buf);
    EXPECT(l != NULL);
    EXPECT(strstr(l, " rw,nosuid,nodev,noatime ") != NULL);
}

/* nosymfollow (MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW): no path walk follows a symlink that
 * lives on the mount (ELOOP); readlink still reads it, and links elsewhere into the mount are
 * followed. statvfs says ST_NOSYMFOLLOW, mountinfo nosymfollow (after nodiratime, relatime). */
CASE(nosymfollow_mounts_refuse_to_follow_their_symlinks) {
    own_namespace();
    char m[600], link[600], file[600], outside[600];
    snprintf(m, sizeof m, "%s", scratch_path("m"));
    snprintf(link, sizeof link, "%s/link", m);
    snprintf(file, sizeof file, "%s/file", m);
    snprintf(outside, sizeof outside, "%s", scratch_path("outside"));
    EXPECT_OK(mkdir(m, 0755));
    EXPECT_OK(mount("symfs", m, "tmpfs", MS_NOSYMFOLLOW | MS_NODIRATIME, ""));
    write_file(file, "x");
    EXPECT_OK(symlink("file", link));
    EXPECT_OK(symlink(file, outside));
    EXPECT_ERRNO(open(link, O_RDONLY), ELOOP);
    struct stat st;
    EXPECT_ERRNO(stat(link, &st), ELOOP);
    EXPECT_OK(lstat(link, &st));
    char target[64] = {0};
    EXPECT_EQ(readlink(link, target, sizeof target), 4);
    int fd = open(outside, O_RDONLY);
    EXPECT(fd >= 0);
    close(fd);
    struct statvfs sv;
    EXPECT_OK(statvfs(m, &sv));
    EXPECT(sv.f_flag & 0x2000); /* ST_NOSYMFOLLOW */
    EXPECT(sv.f_flag & ST_NODIRATIME);
    static char buf[1 << 16];
    const char *l = mountinfo_line(m, buf, sizeof buf);
    EXPECT(l != NULL);
    EXPECT(strstr(l, " rw,nodiratime,relatime,nosymfollow ") != NULL);
    /* mount_setattr clears it and sets it again. */
    struct mount_attr_v0 a = {.attr_clr = MOUNT_ATTR_NOSYMFOLLOW};
    EXPECT_OK(mount_setattr_(-1, m, 0, &a, sizeof a));
    fd = open(link, O_RDONLY);
    EXPECT(fd >= 0);
    close(fd);
    a = (struct mount_attr_v0){.attr_set = MOUNT_ATTR_NOSYMFOLLOW};
    EXPECT_OK(mount_setattr_(-1, m, 0, &a, sizeof a));
    EXPECT_ERRNO(open(link, O_RDONLY), ELOOP);
}

/* The mount API of file descriptors: fsopen, fsconfig and fsmount make a detached tmpfs that
 * takes files before it is attached; move_mount attaches it with its MOUNT_ATTR flags and
 * source; each call's errors in Linux's order. */
CASE(fsopen_fsconfig_fsmount_move_mount_attach_a_new_tmpfs) {
    own_namespace();
    char target[600], file[700];
    snprintf(target, sizeof target, "%s", scratch_path("t"));
    EXPECT_OK(mkdir(target, 0755));
    EXPECT_ERRNO(fsopen("nosuchfs", 0), ENODEV);
    EXPECT_ERRNO(fsopen("tmpfs", 2), EINVAL);
    int fc = fsopen("tmpfs", FSOPEN_CLOEXEC);
    EXPECT(fc >= 0);
    EXPECT(fcntl(fc, F_GETFD) & FD_CLOEXEC);
    EXPECT_ERRNO(fsmount(fc, 0, 0), EINVAL); /* nothing created yet */
    EXPECT_OK(fsconfig(fc, FSCONFIG_SET_STRING, "source", "newapi", 0));
    EXPECT_ERRNO(fsconfig(fc, FSCONFIG_SET_STRING, "source", "again", 0), EINVAL);
    EXPECT_OK(fsconfig(fc, FSCONFIG_SET_STRING, "size", "1m", 0));
    EXPECT_OK(fsconfig(fc, FSCONFIG_SET_FLAG, "rw", NULL, 0));
    EXPECT_ERRNO(fsconfig(fc, FSCONFIG_SET_STRING, "nosuchoption", "1", 0), EINVAL);
    EXPECT_ERRNO(fsconfig(fc, FSCONFIG_SET_STRING, "", "1", 0), EINVAL);
    EXPECT_ERRNO(fsconfig(fc, FSCONFIG_SET_STRING, "size", "lots", 0), EINVAL);
    EXPECT_ERRNO(fsconfig(fc, FSCONFIG_SET_STRING, "size", "1m", 1), EINVAL);
    EXPECT_ERRNO(fsconfig(fc, FSCONFIG_SET_FLAG, "size", "1m", 0), EINVAL);
    EXPECT_ERRNO(fsconfig(fc, 99, NULL, NULL, 0), EOPNOTSUPP);
    EXPECT_ERRNO(fsconfig(-1, FSCONFIG_CMD_CREATE, NULL, NULL, 0), EINVAL);
    EXPECT_ERRNO(fsconfig(0, FSCONFIG_CMD_CREATE, NULL, NULL, 0), EINVAL);
    EXPECT_OK(fsconfig(fc, FSCONFIG_CMD_CREATE, NULL, NULL, 0));
    EXPECT_ERRNO(fsconfig(fc, FSCONFIG_CMD_CREATE, NULL, NULL, 0), EBUSY);
    EXPECT_ERRNO(fsconfig(fc, FSCONFIG_SET_STRING, "size", "2m", 0), EBUSY);
    EXPECT_ERRNO(fsmount(fc, 2, 0), EINVAL);
    EXPECT_ERRNO(fsmount(fc, 0, 0x100), EINVAL);
    int mfd = fsmount(fc, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    EXPECT(mfd >= 0);
    EXPECT_ERRNO(fsmount(fc, 0, 0), EBUSY);
    /* Detached, it takes files already. */
    int f = openat(mfd, "early", O_CREAT | O_WRONLY, 0644);
    EXPECT(f >= 0);
    close(f);
    static char buf[1 << 16];
    EXPECT(mountinfo_line(target, buf, sizeof buf) == NULL);
    EXPECT_ERRNO(move_mount(mfd, "", AT_FDCWD, target, 0x1000), EINVAL);
    EXPECT_OK(move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH));
    const char *l = mountinfo_line(target, buf, sizeof buf);
    EXPECT(l != NULL);
    EXPECT(strstr(l, " rw,nodev,noexec,relatime ") != NULL);
    EXPECT(strstr(l, " - tmpfs newapi rw,size=1024k") != NULL);
    snprintf(file, sizeof file, "%s/early", target);
    EXPECT_OK(access(file, F_OK));
    close(mfd);
    close(fc);
    EXPECT_OK(access(file, F_OK)); /* the mount stays with the fds gone */
    EXPECT_OK(umount(target));
}

/* fspick reconfigures a mounted filesystem (read-only and back); open_tree opens a path, or
 * clones a mount for move_mount to attach elsewhere; move_mount of an attached mount moves it. */
CASE(fspick_open_tree_and_move_mount_of_mounted_trees) {
    own_namespace();
    char m[600], copy[600], moved[600], path[700];
    snprintf(m, sizeof m, "%s", scratch_path("m"));
    snprintf(copy, sizeof copy, "%s", scratch_path("copy"));
    snprintf(moved, sizeof moved, "%s", scratch_path("moved"));
    EXPECT_OK(mkdir(m, 0755));
    EXPECT_OK(mkdir(copy, 0755));
    EXPECT_OK(mkdir(moved, 0755));
    EXPECT_OK(mount("pickfs", m, "tmpfs", 0, ""));
    snprintf(path, sizeof path, "%s/f", m);
    write_file(path, "x");
    EXPECT_ERRNO(fspick(-1, "m", 0), EBADF); /* the case runs in its scratch directory */
    EXPECT_ERRNO(fspick(AT_FDCWD, scratch_path("none"), 0), ENOENT);
    EXPECT_ERRNO(fspick(AT_FDCWD, m, 0x10), EINVAL);
    EXPECT_ERRNO(fspick(AT_FDCWD, scratch(), 0), EINVAL); /* not a mount's root */
    int fc = fspick(AT_FDCWD, m, FSPICK_CLOEXEC);
    EXPECT(fc >= 0);
    EXPECT_ERRNO(fsconfig(fc, FSCONFIG_CMD_CREATE, NULL, NULL, 0), EBUSY);
    EXPECT_OK(fsconfig(fc, FSCONFIG_SET_STRING, "sync", "false", 0));
    EXPECT_OK(fsconfig(fc, FSCONFIG_SET_FLAG, "ro", NULL, 0));
    EXPECT_OK(fsconfig(fc, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0));
    struct statvfs sv;
    EXPECT_OK(statvfs(m, &sv));
    EXPECT(sv.f_flag & ST_RDONLY);
    snprintf(path, sizeof path, "%s/g", m);
    EXPECT_ERRNO(open(path, O_CREAT | O_WRONLY, 0644), EROFS);
    EXPECT_OK(fsconfig(fc, FSCONFIG_SET_FLAG, "rw", NULL, 0));
    EXPECT_OK(fsconfig(fc, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0));
    int g = open(path, O_CREAT | O_WRONLY, 0644);
    EXPECT(g >= 0);
    close(g);
    close(fc);
    /* open_tree without OPEN_TREE_CLONE: an O_PATH fd. */
    EXPECT_ERRNO(open_tree(AT_FDCWD, m, AT_RECURSIVE), EINVAL);
    EXPECT_ERRNO(open_tree(AT_FDCWD, m, 0x4), EINVAL);
    int t = open_tree(AT_FDCWD, m, OPEN_TREE_CLOEXEC);
    EXPECT(t >= 0);
    EXPECT(fcntl(t, F_GETFL) & O_PATH);
    close(t);
    /* A clone, attached elsewhere: the same files. */
    t = open_tree(AT_FDCWD, m, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    EXPECT(t >= 0);
    EXPECT_OK(move_mount(t, "", AT_FDCWD, copy, MOVE_MOUNT_F_EMPTY_PATH));
    close(t);
    snprintf(path, sizeof path, "%s/f", copy);
    EXPECT_OK(access(path, F_OK));
    /* An attached mount moves. */
    EXPECT_OK(move_mount(AT_FDCWD, copy, AT_FDCWD, moved, 0));
    snprintf(path, sizeof path, "%s/f", moved);
    EXPECT_OK(access(path, F_OK));
    snprintf(path, sizeof path, "%s/f", copy);
    EXPECT_ERRNO(access(path, F_OK), ENOENT);
    EXPECT_ERRNO(move_mount(AT_FDCWD, scratch(), AT_FDCWD, copy, 0), EINVAL); /* not a mount */
    EXPECT_ERRNO(move_mount(AT_FDCWD, moved, AT_FDCWD, copy, 0x1000), EINVAL);
    EXPECT_OK(umount(moved));
    EXPECT_OK(umount(m));
}

/* The arguments are checked in Linux's order, and the path must be a mount's root;
 * AT_RECURSIVE reaches the mounts below; a mount with a file open for writing through it
 * does not go read-only. */
CASE(mount_setattr_checks_its_arguments_and_reaches_submounts_with_at_recursive) {
    own_namespace();
    char m[600], sub[600]; /* scratch_path's buffers are reused */
    snprintf(m, sizeof m, "%s", scratch_path("m"));
    snprintf(sub, sizeof sub, "%s", scratch_path("m/sub"));
    EXPECT_OK(mkdir(m, 0755));
    EXPECT_OK(mount("setattrfs", m, "tmpfs", 0, ""));
    EXPECT_OK(mkdir(sub, 0755));
    EXPECT_OK(mount("subfs", sub, "tmpfs", 0, ""));
    struct { struct mount_attr_v0 a; uint64_t more; } big = {{.attr_set = MOUNT_ATTR_RDONLY}, 0};
    EXPECT_ERRNO(mount_setattr_(-1, m, 0x1, &big, sizeof big.a), EINVAL);          /* unknown flag */
    EXPECT_ERRNO(mount_setattr_(-1, m, 0, &big, 24), EINVAL);                      /* below VER0 */
    EXPECT_ERRNO(mount_setattr_(-1, m, 0, &big, 8192), E2BIG);                     /* above a page */
    big.more = 1;
    EXPECT_ERRNO(mount_setattr_(-1, m, 0, &big, sizeof big), E2BIG);               /* unknown fields set */
    big.more = 0;
    EXPECT_ERRNO(mount_setattr_(-1, m, 0, (void *)8, sizeof big.a), EFAULT);
    big.a.attr_set = 1ULL << 40;
    EXPECT_ERRNO(mount_setattr_(-1, m, 0, &big, sizeof big.a), EINVAL);           /* unknown attribute */
    big.a.attr_set = MOUNT_ATTR_RDONLY;
    EXPECT_ERRNO(mount_setattr_(-1, scratch_path("m/none"), 0, &big, sizeof big), ENOENT);
    EXPECT_OK(mkdir(scratch_path("m/dir"), 0755));
    EXPECT_ERRNO(mount_setattr_(-1, scratch_path("m/dir"), 0, &big, sizeof big), EINVAL); /* not a mount's root */
    int w = open(scratch_path("m/sub/f"), O_CREAT | O_WRONLY, 0644);
    EXPECT(w >= 0);
    EXPECT_ERRNO(mount_setattr_(-1, m, AT_RECURSIVE, &big, sizeof big), EBUSY);
    struct statvfs sv;
    EXPECT_OK(statvfs(m, &sv));
    EXPECT(!(sv.f_flag & ST_RDONLY)); /* checked before any change */
    close(w);
    int dir = open(m, O_PATH);
    EXPECT(dir >= 0);
    EXPECT_OK(mount_setattr_(dir, "", AT_EMPTY_PATH | AT_RECURSIVE, &big, sizeof big));
    EXPECT_OK(statvfs(m, &sv));
    EXPECT(sv.f_flag & ST_RDONLY);
    EXPECT_OK(statvfs(sub, &sv));
    EXPECT(sv.f_flag & ST_RDONLY);
    big.a = (struct mount_attr_v0){.attr_clr = MOUNT_ATTR_RDONLY};
    EXPECT_OK(mount_setattr_(-1, m, 0, &big, sizeof big));
    EXPECT_OK(statvfs(m, &sv));
    EXPECT(!(sv.f_flag & ST_RDONLY));
    EXPECT_OK(statvfs(sub, &sv));
    EXPECT(sv.f_flag & ST_RDONLY); /* not recursive: the submount stays */
}

/* rename(2) and link(2) stay within one mount: a bind mount of the same filesystem is
 * another mount (EXDEV), as mv knows, and falls back to copying. */
CASE(rename_and_link_between_two_mounts_of_one_filesystem_are_exdev) {
    own_namespace();
    EXPECT_OK(mkdir("a", 0755));
    EXPECT_OK(mkdir("b", 0755));
    EXPECT_OK(mkdir("m", 0755));
    write_file("a/f", "x");
    EXPECT_OK(mount("b", "m", NULL, MS_BIND, NULL));
    EXPECT_ERRNO(rename("a/f", "m/f"), EXDEV);
    EXPECT_ERRNO(link("a/f", "m/f"), EXDEV);
    EXPECT_OK(rename("a/f", "b/f")); /* the same directory, reached through this mount */
    EXPECT_OK(access("m/f", F_OK));
    EXPECT_OK(rename("m/f", "m/g"));  /* within the bind mount */
    EXPECT_OK(umount("m"));
}

/* `..` from a directory that a rename took out from under the root of the bind mount it
 * was reached through: ENOENT (path_connected), not the directory it came from. */
CASE(dotdot_from_a_directory_renamed_out_of_a_bind_mount_is_enoent) {
    own_namespace();
    EXPECT_OK(mkdir("a", 0755));
    EXPECT_OK(mkdir("a/sub", 0755));
    EXPECT_OK(mkdir("a/sub/d", 0755));
    EXPECT_OK(mkdir("a/sub/d/e", 0755));
    EXPECT_OK(mkdir("m", 0755));
    EXPECT_OK(mount("a/sub", "m", NULL, MS_BIND, NULL));
    int fd = open("m/d/e", O_RDONLY | O_DIRECTORY);
    EXPECT(fd >= 0);
    int up = openat(fd, "..", O_RDONLY | O_DIRECTORY);
    EXPECT(up >= 0);
    close(up);
    EXPECT_OK(rename("a/sub/d", "a/d")); /* out of the bind mount's tree */
    EXPECT_ERRNO(openat(fd, "..", O_RDONLY | O_DIRECTORY), ENOENT);
    EXPECT_OK(rename("a/d", "a/sub/d2")); /* back below it, under another name */
    up = openat(fd, "../..", O_RDONLY | O_DIRECTORY);
    EXPECT(up >= 0);
    struct stat s_up, s_m;
    EXPECT_OK(fstat(up, &s_up));
    EXPECT_OK(stat("m", &s_m));
    EXPECT_EQ(s_up.st_ino, s_m.st_ino);
    close(up);
    close(fd);
    EXPECT_OK(umount("m"));
}

COMPAT_MAIN()

CASE(noexec_mount_refuses_execve_and_executable_mappings) {
    own_namespace();
    const char *m = scratch_path("m");
    EXPECT_OK(mkdir(m, 0755));
    EXPECT_OK(mount("scratchfs", m, "tmpfs", MS_NOEXEC, "mode=755"));
    char prog[512];
    snprintf(prog, sizeof prog, "%s/true", m);
    char buf[65536];
    int in = open("/bin/true", O_RDONLY), out = open(prog, O_CREAT | O_WRONLY, 0755);
    EXPECT(in >= 0 && out >= 0);
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) EXPECT_EQ(write(out, buf, n), n);
    close(in);
    close(out);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"true", NULL};
        execve(prog, argv, NULL);
        _exit(errno == EACCES ? 0 : 1);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(st, 0);
    int fd = open(prog, O_RDONLY);
    EXPECT(mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0) == MAP_FAILED);
    EXPECT_EQ(errno, EPERM);
    EXPECT(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) != MAP_FAILED);
    /* remounted exec, it runs */
    EXPECT_OK(mount(NULL, m, NULL, MS_REMOUNT, "mode=755"));
    pid = fork();
    if (pid == 0) {
        char *argv[] = {"true", NULL};
        execve(prog, argv, NULL);
        _exit(2);
    }
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(st, 0);
}

/* sysfs(2): the filesystem types, in /proc/filesystems' order, by name and by index. */
CASE(sysfs_lists_the_filesystem_types_as_proc_filesystems) {
    long n = syscall(SYS_sysfs, 3);
    EXPECT(n > 0);
    char list[8192], *at = list;
    EXPECT(slurp("/proc/filesystems", list, sizeof list) > 0);
    for (long i = 0; i < n; i++) {
        char name[64] = "", *tab = strchr(at, '\t'), *end = tab ? strchr(tab, '\n') : NULL;
        EXPECT(end != NULL);
        if (!end) break;
        EXPECT_OK(syscall(SYS_sysfs, 2, i, name));
        EXPECT_EQ(strlen(name), end - tab - 1);
        EXPECT(strncmp(name, tab + 1, end - tab - 1) == 0);
        EXPECT_EQ(syscall(SYS_sysfs, 1, name), i);
        at = end + 1;
    }
    EXPECT_EQ(*at, 0);
    EXPECT(syscall(SYS_sysfs, 1, "tmpfs") >= 0);
    EXPECT_ERRNO(syscall(SYS_sysfs, 1, "no-such-fs"), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sysfs, 1, (char *)8), EFAULT);
    EXPECT_ERRNO(syscall(SYS_sysfs, 2, n, list), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sysfs, 2, 0, (char *)8), EFAULT);
    EXPECT_ERRNO(syscall(SYS_sysfs, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sysfs, 4), EINVAL);
}

/* ustat(2): a mounted filesystem's free blocks and inodes by its st_dev, statfs's numbers. */
CASE(ustat_reports_a_mounted_filesystems_free_blocks_by_device) {
    own_namespace();
    EXPECT_OK(mkdir("t", 0755));
    EXPECT_OK(mount("none", "t", "tmpfs", 0, "size=1m"));
    struct stat st;
    EXPECT_OK(stat("t", &st));
    struct { int tfree; unsigned long tinode; char fname[6], fpack[6]; } u;
    memset(&u, 0xff, sizeof u);
    EXPECT_OK(syscall(SYS_ustat, (unsigned)st.st_dev, &u));
    struct statfs sf;
    EXPECT_OK(statfs("t", &sf));
    EXPECT_EQ(u.tfree, sf.f_bfree);
    EXPECT_EQ(u.tinode, sf.f_ffree);
    EXPECT_EQ(u.fname[0], 0);
    EXPECT_EQ(u.fpack[5], 0);
    EXPECT_OK(stat("/", &st));
    EXPECT_OK(syscall(SYS_ustat, (unsigned)st.st_dev, &u));
    EXPECT_ERRNO(syscall(SYS_ustat, (unsigned)st.st_dev, (void *)8), EFAULT);
    EXPECT_ERRNO(syscall(SYS_ustat, -1u, &u), EINVAL);
}
