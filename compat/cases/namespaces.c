/* Namespaces a process can make and join: UTS (hostname, domain name), mount and IPC
 * namespaces through unshare(2), clone(2) and setns(2), and what /proc/PID/ns shows of them. */
#include "../compat.h"
#include <mqueue.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
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
        if (unshare(CLONE_NEWIPC) == 0 || errno != EPERM) _exit(6);
        _exit(0);
    }
    int status;
    EXPECT_EQ(waitpid(child, &status, 0), child);
    EXPECT(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

static int wait_child(pid_t child) {
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

CASE(unshare_ipc_gives_sysv_keys_and_mqueue_names_of_their_own) {
    key_t key = 0x4a1c0000 + getpid();
    int msq = msgget(key, IPC_CREAT | 0600), sem = semget(key, 1, IPC_CREAT | 0600);
    int shm = shmget(key, 4096, IPC_CREAT | 0600);
    EXPECT(msq >= 0 && sem >= 0 && shm >= 0);
    char name[64];
    snprintf(name, sizeof name, "/joey-ipcns-%d", getpid());
    mqd_t mq = mq_open(name, O_CREAT | O_RDWR, 0600, NULL);
    EXPECT(mq != (mqd_t)-1);
    char ns0[64];
    ns_link(getpid(), "ipc", ns0, sizeof ns0);
    EXPECT(strncmp(ns0, "ipc:[", 5) == 0);
    pid_t child = fork();
    if (child == 0) {
        char *p = shmat(shm, NULL, 0);
        if (p == (void *)-1) _exit(1);
        if (unshare(CLONE_NEWIPC) != 0) _exit(2);
        char ns1[64];
        ns_link(getpid(), "ipc", ns1, sizeof ns1);
        if (strcmp(ns0, ns1) == 0) _exit(3);
        struct stat st;
        unsigned long long ino = 0;
        if (stat("/proc/self/ns/ipc", &st) != 0 || sscanf(ns1, "ipc:[%llu]", &ino) != 1 || st.st_ino != ino) _exit(4);
        /* Keys, ids and names of the namespace left are not seen here. */
        if (msgget(key, 0) != -1 || errno != ENOENT) _exit(5);
        if (semget(key, 0, 0) != -1 || errno != ENOENT) _exit(6);
        if (shmget(key, 0, 0) != -1 || errno != ENOENT) _exit(7);
        if (msgctl(msq, IPC_STAT, &(struct msqid_ds){0}) != -1 || errno != EINVAL) _exit(8);
        if (mq_open(name, O_RDONLY) != (mqd_t)-1 || errno != ENOENT) _exit(9);
        /* The same key and name make new objects, the namespace's own. */
        int own = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
        if (own < 0) _exit(10);
        mqd_t m = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, NULL);
        if (m == (mqd_t)-1) _exit(11);
        /* The old queue descriptor still works; an attachment made before still detaches. */
        if (mq_send(mq, "hi", 2, 0) != 0) _exit(12);
        p[0] = 'x';
        if (shmdt(p) != 0) _exit(13);
        if (msgctl(own, IPC_RMID, NULL) != 0 || mq_unlink(name) != 0) _exit(14);
        _exit(0);
    }
    EXPECT_EQ(wait_child(child), 0);
    /* This namespace's objects are untouched. */
    EXPECT_EQ(msgget(key, 0), msq);
    EXPECT_EQ(semget(key, 0, 0), sem);
    EXPECT_EQ(shmget(key, 0, 0), shm);
    struct mq_attr attr;
    EXPECT_OK(mq_getattr(mq, &attr));
    EXPECT_EQ(attr.mq_curmsgs, 1);
    char *p = shmat(shm, NULL, SHM_RDONLY);
    EXPECT(p != (void *)-1);
    EXPECT_EQ(p[0], 'x');
    EXPECT_OK(shmdt(p));
    EXPECT_OK(mq_unlink(name));
    EXPECT_OK(msgctl(msq, IPC_RMID, NULL));
    EXPECT_OK(semctl(sem, 0, IPC_RMID));
    EXPECT_OK(shmctl(shm, IPC_RMID, NULL));
}

CASE(unshare_ipc_applies_the_semaphore_undo_list_it_leaves) {
    int sem = semget(IPC_PRIVATE, 1, 0600);
    EXPECT(sem >= 0);
    int ready[2], go[2];
    EXPECT_OK(pipe(ready));
    EXPECT_OK(pipe(go));
    pid_t child = fork();
    if (child == 0) {
        struct sembuf up = {0, 2, SEM_UNDO};
        if (semop(sem, &up, 1) != 0) _exit(1);
        if (semctl(sem, 0, GETVAL) != 2) _exit(2);
        if (unshare(CLONE_NEWIPC) != 0) _exit(3);
        if (write(ready[1], "x", 1) != 1) _exit(4);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(5);
        _exit(0);
    }
    char c;
    EXPECT_EQ(read(ready[0], &c, 1), 1);
    /* Undone when the child left the namespace, not when it exits. */
    EXPECT_EQ(semctl(sem, 0, GETVAL), 0);
    EXPECT_EQ(write(go[1], "x", 1), 1);
    EXPECT_EQ(wait_child(child), 0);
    EXPECT_OK(semctl(sem, 0, IPC_RMID));
}

static int ipc_child_fn(void *arg) {
    int *fds = arg;
    key_t key = 0x4a1d0000 + getppid();
    int q = msgget(key, IPC_CREAT | 0600);
    if (q < 0) return 1;
    if (write(fds[1], "x", 1) != 1) return 2;
    char c;
    if (read(fds[2], &c, 1) != 1) return 3;
    return msgctl(q, IPC_RMID, NULL) == 0 ? 0 : 4;
}

CASE(clone_newipc_and_setns_join_a_namespace) {
    static char stack[64 << 10];
    int ready[2], go[2];
    EXPECT_OK(pipe(ready));
    EXPECT_OK(pipe(go));
    int fds[3] = {ready[0], ready[1], go[0]};
    EXPECT_ERRNO(clone(ipc_child_fn, stack + sizeof stack, CLONE_NEWIPC | CLONE_SYSVSEM | SIGCHLD, fds), EINVAL);
    pid_t child = clone(ipc_child_fn, stack + sizeof stack, CLONE_NEWIPC | SIGCHLD, fds);
    EXPECT(child > 0);
    char c;
    EXPECT_EQ(read(ready[0], &c, 1), 1);
    key_t key = 0x4a1d0000 + getpid();
    EXPECT_ERRNO(msgget(key, 0), ENOENT);
    pid_t joiner = fork();
    if (joiner == 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/ipc", child);
        int fd = open(path, O_RDONLY);
        if (fd < 0) _exit(1);
        if (setns(fd, CLONE_NEWUTS) == 0 || errno != EINVAL) _exit(2); /* the wrong type */
        if (setns(fd, CLONE_NEWIPC) != 0) _exit(3);
        if (msgget(key, 0) < 0) _exit(4);
        struct stat a, b;
        if (stat("/proc/self/ns/ipc", &a) != 0 || stat(path, &b) != 0 || a.st_ino != b.st_ino) _exit(5);
        _exit(0);
    }
    EXPECT_EQ(wait_child(joiner), 0);
    EXPECT_EQ(write(go[1], "x", 1), 1);
    EXPECT_EQ(wait_child(child), 0);
}

/* ---- nsfs ioctls ---- */

#define NSIO 0xb7
#define NS_GET_USERNS_ _IO(NSIO, 0x1)
#define NS_GET_PARENT_ _IO(NSIO, 0x2)
#define NS_GET_NSTYPE_ _IO(NSIO, 0x3)
#define NS_GET_OWNER_UID_ _IO(NSIO, 0x4)

static ino_t ino_of_fd(int fd) { struct stat st; return fstat(fd, &st) == 0 ? st.st_ino : 0; }
static ino_t ino_of_path(const char *p) { struct stat st; return stat(p, &st) == 0 ? st.st_ino : 0; }

CASE(nsfs_ioctls_give_type_parent_owner_and_user_namespace) {
    int uts = open("/proc/self/ns/uts", O_RDONLY);
    EXPECT(uts >= 0);
    EXPECT_EQ(ioctl(uts, NS_GET_NSTYPE_), CLONE_NEWUTS);
    EXPECT_ERRNO(ioctl(uts, NS_GET_PARENT_), EINVAL);     /* not hierarchical */
    uid_t owner = 12345;
    EXPECT_ERRNO(ioctl(uts, NS_GET_OWNER_UID_, &owner), EINVAL); /* not a user namespace */
    int user = ioctl(uts, NS_GET_USERNS_);
    EXPECT(user >= 0);
    EXPECT_EQ(ino_of_fd(user), ino_of_path("/proc/self/ns/user"));
    EXPECT_EQ(fcntl(user, F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(ioctl(user, NS_GET_NSTYPE_), CLONE_NEWUSER);
    EXPECT_OK(ioctl(user, NS_GET_OWNER_UID_, &owner));
    EXPECT_EQ(owner, 0);
    EXPECT_ERRNO(ioctl(user, NS_GET_USERNS_), EPERM); /* the initial one's owner is nobody's to see */
    EXPECT_ERRNO(ioctl(user, NS_GET_PARENT_), EPERM);
    int pid = open("/proc/self/ns/pid", O_RDONLY);
    EXPECT_EQ(ioctl(pid, NS_GET_NSTYPE_), CLONE_NEWPID);
    EXPECT_ERRNO(ioctl(pid, NS_GET_PARENT_), EPERM); /* the caller's own has none it may see */
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_ERRNO(ioctl(p[0], NS_GET_NSTYPE_), ENOTTY);
    /* A child's pid namespace: its parent is ours. */
    int sync[2];
    EXPECT_OK(pipe(sync));
    pid_t outer = fork();
    if (outer == 0) {
        if (unshare(CLONE_NEWPID) != 0) _exit(1);
        pid_t inner = fork();
        if (inner == 0) { char c; close(sync[1]); read(sync[0], &c, 1); _exit(0); }
        close(sync[1]);
        int st;
        waitpid(inner, &st, 0);
        _exit(0);
    }
    /* The grandchild is the inner namespace's init: find it through the outer child's children. */
    char path[64];
    int child_ns = -1;
    for (int i = 0; i < 500 && child_ns < 0; i++) {
        snprintf(path, sizeof path, "/proc/%d/task/%d/children", outer, outer);
        char text[64] = {0};
        if (slurp(path, text, sizeof text) > 0 && atoi(text) > 0) {
            snprintf(path, sizeof path, "/proc/%d/ns/pid", atoi(text));
            child_ns = open(path, O_RDONLY);
        }
        if (child_ns < 0) usleep(10000);
    }
    EXPECT(child_ns >= 0);
    int parent = ioctl(child_ns, NS_GET_PARENT_);
    close(sync[1]);
    int st;
    waitpid(outer, &st, 0);
    EXPECT(parent >= 0);
    EXPECT_EQ(ino_of_fd(parent), ino_of_path("/proc/self/ns/pid"));
    EXPECT(ino_of_fd(child_ns) != ino_of_fd(parent));
}

COMPAT_MAIN()
