/* Namespaces a process can make and join: UTS (hostname, domain name) and mount namespaces
 * through unshare(2), clone(2) and setns(2), and what /proc/PID/ns shows of them. */
#include "../compat.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <sys/wait.h>

static void ns_link(pid_t pid, const char *type, char *out, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/%s", pid, type);
    ssize_t n = readlink(path, out, size - 1);
    out[n > 0 ? n : 0] = 0;
}

CASE(unshare_uts_gives_a_hostname_of_its_own) {
    char before[65];
    EXPECT_OK(gethostname(before, sizeof before));
    char ns0[64], ns1[64];
    ns_link(getpid(), "uts", ns0, sizeof ns0);
    EXPECT(strncmp(ns0, "uts:[", 5) == 0);
    int done[2];
    EXPECT_OK(pipe(done));
    pid_t child = fork();
    if (child == 0) {
        if (unshare(CLONE_NEWUTS) != 0) _exit(1);
        if (sethostname("inner", 5) != 0) _exit(2);
        if (setdomainname("inner.example", 13) != 0) _exit(3);
        struct utsname u;
        if (uname(&u) != 0 || strcmp(u.nodename, "inner") != 0 || strcmp(u.domainname, "inner.example") != 0) _exit(4);
        char buf[64];
        if (slurp("/proc/sys/kernel/hostname", buf, sizeof buf) != 6 || strcmp(buf, "inner\n") != 0) _exit(5);
        _exit(0);
    }
    int status;
    EXPECT_EQ(waitpid(child, &status, 0), child);
    EXPECT(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    char after[65];
    EXPECT_OK(gethostname(after, sizeof after));
    EXPECT_STREQ(after, before);
    ns_link(getpid(), "uts", ns1, sizeof ns1);
    EXPECT_STREQ(ns1, ns0);
}

static int child_fn(void *arg) {
    (void)arg;
    return sethostname("cloned", 6) == 0 ? 0 : 1;
}

CASE(clone_newuts_child_names_itself_alone) {
    char before[65];
    EXPECT_OK(gethostname(before, sizeof before));
    static char stack[64 << 10];
    pid_t child = clone(child_fn, stack + sizeof stack, CLONE_NEWUTS | SIGCHLD, NULL);
    EXPECT(child > 0);
    int status;
    EXPECT_EQ(waitpid(child, &status, 0), child);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char after[65];
    EXPECT_OK(gethostname(after, sizeof after));
    EXPECT_STREQ(after, before);
}

CASE(setns_joins_another_processes_uts_and_mount_namespaces) {
    int ready[2], go[2];
    EXPECT_OK(pipe(ready));
    EXPECT_OK(pipe(go));
    const char *m = scratch_path("m");
    EXPECT_OK(mkdir(m, 0755));
    pid_t child = fork();
    if (child == 0) {
        if (unshare(CLONE_NEWUTS | CLONE_NEWNS) != 0) _exit(1);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) _exit(2);
        if (sethostname("joined", 6) != 0) _exit(3);
        if (mount("none", m, "tmpfs", 0, NULL) != 0) _exit(4);
        char f[600];
        snprintf(f, sizeof f, "%s/mark", m);
        int fd = open(f, O_CREAT | O_WRONLY, 0644);
        if (fd < 0) _exit(5);
        close(fd);
        if (write(ready[1], "x", 1) != 1) _exit(6);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(7);
        _exit(0);
    }
    char c;
    EXPECT_EQ(read(ready[0], &c, 1), 1);
    /* Joining happens in a grandchild, so this process keeps its own namespaces. */
    pid_t joiner = fork();
    if (joiner == 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/uts", child);
        int uts = open(path, O_RDONLY);
        snprintf(path, sizeof path, "/proc/%d/ns/mnt", child);
        int mnt = open(path, O_RDONLY);
        if (uts < 0 || mnt < 0) _exit(10);
        if (setns(uts, CLONE_NEWNS) == 0 || errno != EINVAL) _exit(11); /* the wrong type */
        if (setns(uts, CLONE_NEWUTS) != 0) _exit(12);
        char name[65];
        if (gethostname(name, sizeof name) != 0 || strcmp(name, "joined") != 0) _exit(13);
        if (setns(mnt, 0) != 0) _exit(14);
        char f[600];
        snprintf(f, sizeof f, "%s/mark", m);
        struct stat st;
        if (stat(f, &st) != 0) _exit(15);
        if (setns(0, 0) == 0 || errno != EINVAL) _exit(16); /* not a namespace */
        _exit(0);
    }
    int status;
    EXPECT_EQ(waitpid(joiner, &status, 0), joiner);
    EXPECT(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(write(go[1], "x", 1), 1);
    EXPECT_EQ(waitpid(child, &status, 0), child);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

CASE(ns_links_lead_to_inodes_numbered_as_they_read) {
    char link[64];
    ns_link(getpid(), "mnt", link, sizeof link);
    unsigned long long want = 0;
    EXPECT(sscanf(link, "mnt:[%llu]", &want) == 1);
    struct stat st;
    EXPECT_OK(stat("/proc/self/ns/mnt", &st));
    EXPECT_EQ(st.st_ino, want);
    EXPECT(S_ISREG(st.st_mode));
    struct stat a, b;
    EXPECT_OK(stat("/proc/self/ns/uts", &a));
    char parent[64];
    snprintf(parent, sizeof parent, "/proc/%d/ns/uts", getppid());
    EXPECT_OK(stat(parent, &b));
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(a.st_dev, b.st_dev);
    EXPECT_OK(lstat("/proc/self/ns/net", &st));
    EXPECT(S_ISLNK(st.st_mode));
}

CASE(namespaces_need_cap_sys_admin) {
    pid_t child = fork();
    if (child == 0) {
        if (setuid(65534) != 0) _exit(1);
        if (unshare(CLONE_NEWUTS) == 0 || errno != EPERM) _exit(2);
        if (sethostname("x", 1) == 0 || errno != EPERM) _exit(3);
        int fd = open("/proc/self/ns/uts", O_RDONLY);
        if (fd < 0) _exit(4);
        if (setns(fd, CLONE_NEWUTS) == 0 || errno != EPERM) _exit(5);
        _exit(0);
    }
    int status;
    EXPECT_EQ(waitpid(child, &status, 0), child);
    EXPECT(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

COMPAT_MAIN()
