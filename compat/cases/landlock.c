/* Landlock (landlock(7)): a process restricts itself to the files, TCP ports and scopes a
 * ruleset names, for good, and its children with it. Each case restricts only its own
 * forked child. The structures are written out here: the build machine's headers may
 * predate ABI 4. */
#define _GNU_SOURCE
#include "../compat.h"
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define FS_REMOVE_DIR (1ULL << 4)
#define FS_REMOVE_FILE (1ULL << 5)
#define FS_MAKE_CHAR (1ULL << 6)
#define FS_MAKE_DIR (1ULL << 7)
#define FS_MAKE_REG (1ULL << 8)
#define FS_MAKE_SOCK (1ULL << 9)
#define FS_MAKE_FIFO (1ULL << 10)
#define FS_MAKE_SYM (1ULL << 12)
#define FS_REFER (1ULL << 13)
#define FS_TRUNCATE (1ULL << 14)
#define FS_IOCTL_DEV (1ULL << 15)
#define NET_BIND_TCP (1ULL << 0)
#define NET_CONNECT_TCP (1ULL << 1)
#define SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define SCOPE_SIGNAL (1ULL << 1)

struct ruleset_attr { uint64_t fs, net, scoped; };
struct path_beneath { uint64_t access; int32_t fd; } __attribute__((packed));
struct net_port { uint64_t access, port; };

static int ruleset(uint64_t fs, uint64_t net, uint64_t scoped) {
    struct ruleset_attr a = {fs, net, scoped};
    int fd = syscall(SYS_landlock_create_ruleset, &a, sizeof a, 0);
    if (fd < 0) compat_fail(__FILE__, __LINE__, "landlock_create_ruleset: %s", strerror(errno));
    return fd;
}

static void allow_path(int rs, const char *path, uint64_t access) {
    struct path_beneath p = {access, open(path, O_PATH | O_CLOEXEC)};
    if (p.fd < 0) compat_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
    EXPECT_OK(syscall(SYS_landlock_add_rule, rs, 1, &p, 0));
    close(p.fd);
}

static void allow_port(int rs, uint64_t port, uint64_t access) {
    struct net_port n = {access, port};
    EXPECT_OK(syscall(SYS_landlock_add_rule, rs, 2, &n, 0));
}

static void enforce(int rs) {
    EXPECT_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    EXPECT_OK(syscall(SYS_landlock_restrict_self, rs, 0));
    close(rs);
}

static void make_tree(void) {
    EXPECT_OK(mkdir("a", 0755));
    EXPECT_OK(mkdir("a/sub", 0755));
    EXPECT_OK(mkdir("b", 0755));
    write_file("a/f", "data");
    write_file("a/sub/g", "data");
    write_file("b/f", "data");
}

CASE(ruleset_creation_is_checked_as_linux_checks_it) {
    EXPECT(syscall(SYS_landlock_create_ruleset, NULL, 0, 1) >= 1); /* the ABI version */
    EXPECT_ERRNO(syscall(SYS_landlock_create_ruleset, NULL, 0, 2 | 1), EINVAL);
    struct ruleset_attr a = {FS_READ_FILE, 0, 0};
    EXPECT_ERRNO(syscall(SYS_landlock_create_ruleset, &a, 8, 1), EINVAL); /* version takes no attr */
    EXPECT_ERRNO(syscall(SYS_landlock_create_ruleset, &a, 7, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_landlock_create_ruleset, NULL, 8, 0), EFAULT);
    EXPECT_ERRNO(syscall(SYS_landlock_create_ruleset, (void *)1, 8, 0), EFAULT);
    char big[4097] = {0};
    EXPECT_ERRNO(syscall(SYS_landlock_create_ruleset, big, sizeof big, 0), E2BIG);
    char tail[40] = {0};
    memcpy(tail, &a, 8);
    tail[39] = 1;
    EXPECT_ERRNO(syscall(SYS_landlock_create_ruleset, tail, sizeof tail, 0), E2BIG);
    tail[39] = 0;
    int fd = syscall(SYS_landlock_create_ruleset, tail, sizeof tail, 0); /* zeros past the end are fine */
    EXPECT(fd >= 0);
    EXPECT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    EXPECT_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
    char link[64] = {0};
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    EXPECT(readlink(proc, link, sizeof link - 1) > 0);
    EXPECT_STREQ(link, "anon_inode:[landlock-ruleset]");
    struct ruleset_attr none = {0, 0, 0};
    EXPECT_ERRNO(syscall(SYS_landlock_create_ruleset, &none, sizeof none, 0), ENOMSG);
    struct ruleset_attr unknown = {1ULL << 40, 0, 0};
    EXPECT_ERRNO(syscall(SYS_landlock_create_ruleset, &unknown, sizeof unknown, 0), EINVAL);
    struct ruleset_attr net = {0, 1ULL << 20, 0};
    EXPECT_ERRNO(syscall(SYS_landlock_create_ruleset, &net, sizeof net, 0), EINVAL);
}

static int nobody_ruleset;
static void restrict_as_nobody(void) {
    if (syscall(SYS_landlock_restrict_self, nobody_ruleset, 0) == 0 || errno != EPERM) _exit(1);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(2);
    if (syscall(SYS_landlock_restrict_self, nobody_ruleset, 0) != 0) _exit(3);
    _exit(0);
}

CASE(rules_and_restrict_self_refuse_bad_input) {
    make_tree();
    int rs = ruleset(FS_READ_FILE | FS_READ_DIR, NET_BIND_TCP, 0);
    struct path_beneath p = {FS_READ_FILE, open("a", O_PATH)};
    EXPECT_ERRNO(syscall(SYS_landlock_add_rule, rs, 1, &p, 1), EINVAL);     /* flags */
    EXPECT_ERRNO(syscall(SYS_landlock_add_rule, rs, 3, &p, 0), EINVAL);     /* rule type */
    EXPECT_ERRNO(syscall(SYS_landlock_add_rule, -1, 1, &p, 0), EBADF);
    EXPECT_ERRNO(syscall(SYS_landlock_add_rule, p.fd, 1, &p, 0), EBADF);   /* O_PATH: no file to it */
    int pipefd[2];
    EXPECT_OK(pipe(pipefd));
    EXPECT_ERRNO(syscall(SYS_landlock_add_rule, pipefd[0], 1, &p, 0), EBADFD); /* not a ruleset */
    EXPECT_ERRNO(syscall(SYS_landlock_add_rule, rs, 1, NULL, 0), EFAULT);
    struct path_beneath empty = {0, p.fd};
    EXPECT_ERRNO(syscall(SYS_landlock_add_rule, rs, 1, &empty, 0), ENOMSG);
    struct path_beneath unhandled = {FS_WRITE_FILE, p.fd};
    EXPECT_ERRNO(syscall(SYS_landlock_add_rule, rs, 1, &unhandled, 0), EINVAL);
    struct path_beneath badfd = {FS_READ_FILE, -1};
    EXPECT_ERRNO(syscall(SYS_landlock_add_rule, rs, 1, &badfd, 0), EBADF);
    struct path_beneath onpipe = {FS_READ_FILE, pipefd[0]};
    EXPECT_ERRNO(syscall(SYS_landlock_add_rule, rs, 1, &onpipe, 0), EBADFD);
    struct path_beneath file_dir_right = {FS_READ_DIR, open("a/f", O_PATH)};
    EXPECT_ERRNO(syscall(SYS_landlock_add_rule, rs, 1, &file_dir_right, 0), EINVAL); /* not a directory */
    EXPECT_OK(syscall(SYS_landlock_add_rule, rs, 1, &p, 0));
    struct net_port port = {NET_BIND_TCP, 65536};
    EXPECT_ERRNO(syscall(SYS_landlock_add_rule, rs, 2, &port, 0), EINVAL);
    port.port = 80;
    port.access = NET_CONNECT_TCP;
    EXPECT_ERRNO(syscall(SYS_landlock_add_rule, rs, 2, &port, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_landlock_restrict_self, rs, 1U << 31), EINVAL);
    EXPECT_ERRNO(syscall(SYS_landlock_restrict_self, -1, 0), EBADF);
    EXPECT_ERRNO(syscall(SYS_landlock_restrict_self, pipefd[0], 0), EBADFD);
    /* Without no_new_privs only CAP_SYS_ADMIN may restrict itself. */
    nobody_ruleset = rs;
    EXPECT_EQ(status_as_nobody(restrict_as_nobody), 0);
    /* Sixteen layers at most. */
    EXPECT_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    for (int i = 0; i < 16; i++) EXPECT_OK(syscall(SYS_landlock_restrict_self, rs, 0));
    EXPECT_ERRNO(syscall(SYS_landlock_restrict_self, rs, 0), E2BIG);
}

CASE(files_are_read_and_written_only_beneath_the_rules) {
    make_tree();
    int rs = ruleset(FS_READ_FILE | FS_WRITE_FILE | FS_READ_DIR, 0, 0);
    allow_path(rs, "a", FS_READ_FILE | FS_READ_DIR);
    allow_path(rs, "a/sub/g", FS_WRITE_FILE); /* a rule on a file itself */
    allow_path(rs, "/proc", FS_READ_FILE | FS_READ_DIR);
    int before = open("b/f", O_RDWR); /* opened before: stays usable */
    enforce(rs);
    int fd = open("a/f", O_RDONLY);
    EXPECT(fd >= 0);
    close(fd);
    fd = open("a/sub/g", O_RDWR); /* read from a, write from its own rule */
    EXPECT(fd >= 0);
    close(fd);
    EXPECT_ERRNO(open("a/f", O_WRONLY), EACCES);
    EXPECT_ERRNO(open("b/f", O_RDONLY), EACCES);
    EXPECT_ERRNO(open("b", O_RDONLY | O_DIRECTORY), EACCES);
    EXPECT_ERRNO(open(".", O_RDONLY | O_DIRECTORY), EACCES);
    fd = open("a", O_RDONLY | O_DIRECTORY);
    EXPECT(fd >= 0);
    close(fd);
    /* O_PATH, stat and the like are not restricted. */
    fd = open("b/f", O_PATH);
    EXPECT(fd >= 0);
    close(fd);
    struct stat st;
    EXPECT_OK(stat("b/f", &st));
    EXPECT_EQ(write(before, "x", 1), 1);
    /* Through /proc/self/fd the file is opened again, and checked again. */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", before);
    EXPECT_ERRNO(open(proc, O_RDONLY), EACCES);
    /* Unhandled rights stay free: creating a file is not restricted by this ruleset. */
    EXPECT_ERRNO(open("b/new", O_WRONLY | O_CREAT, 0644), EACCES); /* made, but not opened for writing */
    EXPECT_OK(access("b/new", F_OK));
}

CASE(names_are_made_and_removed_only_where_allowed) {
    make_tree();
    write_file("b/g", "x");
    EXPECT_OK(mkdir("b/d", 0755));
    int rs = ruleset(FS_MAKE_REG | FS_MAKE_DIR | FS_MAKE_SYM | FS_MAKE_FIFO | FS_MAKE_SOCK | FS_REMOVE_FILE | FS_REMOVE_DIR, 0, 0);
    allow_path(rs, "a", FS_MAKE_REG | FS_MAKE_DIR | FS_MAKE_SYM | FS_MAKE_FIFO | FS_MAKE_SOCK | FS_REMOVE_FILE | FS_REMOVE_DIR);
    enforce(rs);
    int fd = open("a/new", O_WRONLY | O_CREAT, 0644);
    EXPECT(fd >= 0);
    close(fd);
    EXPECT_OK(mkdir("a/newdir", 0755));
    EXPECT_OK(symlink("f", "a/link"));
    EXPECT_OK(mknod("a/fifo", S_IFIFO | 0644, 0));
    EXPECT_ERRNO(open("b/new", O_WRONLY | O_CREAT, 0644), EACCES);
    EXPECT_ERRNO(mkdir("b/newdir", 0755), EACCES);
    EXPECT_ERRNO(symlink("f", "b/link"), EACCES);
    EXPECT_ERRNO(mknod("b/fifo", S_IFIFO | 0644, 0), EACCES);
    EXPECT_ERRNO(mknod("b/reg", S_IFREG | 0644, 0), EACCES);
    /* A unix socket bound to a path is a file made too. */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, "b/sock");
    EXPECT_ERRNO(bind(s, (struct sockaddr *)&un, sizeof un), EACCES);
    strcpy(un.sun_path, "a/sock");
    EXPECT_OK(bind(s, (struct sockaddr *)&un, sizeof un));
    /* Existing names: an existing file opens with O_CREAT without the make right. */
    fd = open("b/f", O_RDONLY | O_CREAT, 0644);
    EXPECT(fd >= 0);
    close(fd);
    EXPECT_OK(unlink("a/new"));
    EXPECT_OK(rmdir("a/newdir"));
    EXPECT_ERRNO(unlink("b/g"), EACCES);
    EXPECT_ERRNO(rmdir("b/d"), EACCES);
    /* unlink asks for REMOVE_FILE whatever it names: a directory is still EISDIR after it. */
    EXPECT_ERRNO(unlink("a/sub"), EISDIR);
}

CASE(a_file_changes_directory_only_with_refer_and_no_new_rights) {
    make_tree();
    EXPECT_OK(mkdir("c", 0755));
    write_file("a/moving", "x");
    write_file("a/moving2", "x");
    write_file("b/stay", "x");
    uint64_t names = FS_MAKE_REG | FS_REMOVE_FILE;
    int rs = ruleset(names | FS_READ_FILE | FS_REFER, 0, 0);
    allow_path(rs, "a", names | FS_REFER | FS_READ_FILE);
    allow_path(rs, "b", names);               /* no REFER */
    allow_path(rs, "c", names | FS_REFER);    /* REFER, but reading is not granted here */
    enforce(rs);
    /* Within one directory REFER is not needed. */
    EXPECT_OK(rename("a/moving", "a/moved"));
    EXPECT_OK(rename("b/stay", "b/stayed"));
    EXPECT_OK(link("b/stayed", "b/linked"));
    /* Out of a directory without REFER: EXDEV (a program falls back to copying). */
    EXPECT_ERRNO(rename("b/stayed", "a/x"), EXDEV);
    EXPECT_ERRNO(link("b/stayed", "a/x"), EXDEV);
    /* a to c: both grant REFER, and c grants nothing a did not: allowed. */
    EXPECT_OK(rename("a/moved", "c/moved"));
    /* c to a: the file would gain READ_FILE: EXDEV. */
    EXPECT_ERRNO(rename("c/moved", "a/back"), EXDEV);
    EXPECT_ERRNO(link("c/moved", "a/back"), EXDEV);
    /* Into a directory without the right to make it: EACCES before EXDEV. */
    EXPECT_ERRNO(rename("a/moving2", "nowhere"), EACCES);
}

CASE(truncation_needs_its_right_at_open_and_by_path) {
    make_tree();
    write_file("b/t", "data");
    int rs = ruleset(FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE, 0, 0);
    allow_path(rs, "a", FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE);
    allow_path(rs, "b", FS_READ_FILE | FS_WRITE_FILE);
    int before = open("b/f", O_RDWR);
    enforce(rs);
    EXPECT_OK(truncate("a/f", 1));
    EXPECT_ERRNO(truncate("b/f", 1), EACCES);
    int fa = open("a/f", O_RDWR), fb = open("b/t", O_RDWR);
    EXPECT(fa >= 0 && fb >= 0);
    EXPECT_OK(ftruncate(fa, 0));
    EXPECT_ERRNO(ftruncate(fb, 0), EACCES); /* opened without the right */
    EXPECT_OK(ftruncate(before, 0));        /* opened before the restriction */
    EXPECT_ERRNO(open("b/t", O_WRONLY | O_TRUNC), EACCES);
    struct stat st;
    EXPECT_OK(stat("b/t", &st));
    EXPECT_EQ(st.st_size, 4);
    int fd = open("a/f", O_WRONLY | O_TRUNC);
    EXPECT(fd >= 0);
    close(fd);
}

CASE(exec_needs_execute_and_read_on_the_program) {
    static const char *sh = "/bin/sh";
    int rs = ruleset(FS_EXECUTE | FS_READ_FILE, 0, 0);
    allow_path(rs, "/", FS_READ_FILE);
    allow_path(rs, "/lib", FS_EXECUTE);
    allow_path(rs, "/lib64", FS_EXECUTE);
    allow_path(rs, "/usr/lib", FS_EXECUTE);
    enforce(rs);
    pid_t pid = fork();
    if (pid == 0) {
        execl(sh, "sh", "-c", "exit 0", (char *)0);
        _exit(errno == EACCES ? 42 : 43);
    }
    EXPECT_EQ(wait_status(pid), 42);
    EXPECT_OK(access(sh, X_OK)); /* access(2) is not Landlock's */
    /* The right once granted where the program lives: it runs (its loader lives under /lib). */
    int rs2 = ruleset(FS_EXECUTE, 0, 0);
    allow_path(rs2, "/", FS_EXECUTE);
    enforce(rs2); /* a second layer grants what the first denies: still denied */
    pid = fork();
    if (pid == 0) {
        execl(sh, "sh", "-c", "exit 0", (char *)0);
        _exit(errno == EACCES ? 42 : 43);
    }
    EXPECT_EQ(wait_status(pid), 42);
}

CASE(exec_runs_where_execute_is_granted) {
    int rs = ruleset(FS_EXECUTE, 0, 0);
    allow_path(rs, "/", FS_EXECUTE);
    enforce(rs);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "exit 7", (char *)0);
        _exit(99);
    }
    EXPECT_EQ(wait_status(pid), 7);
}

CASE(layers_stack_and_children_inherit_them) {
    make_tree();
    int rs = ruleset(FS_READ_FILE, 0, 0);
    allow_path(rs, "a", FS_READ_FILE);
    allow_path(rs, "b", FS_READ_FILE);
    enforce(rs);
    int fd = open("b/f", O_RDONLY);
    EXPECT(fd >= 0);
    close(fd);
    rs = ruleset(FS_READ_FILE, 0, 0);
    allow_path(rs, "a", FS_READ_FILE);
    enforce(rs);
    EXPECT_ERRNO(open("b/f", O_RDONLY), EACCES);
    pid_t pid = fork();
    if (pid == 0) {
        int a = open("a/f", O_RDONLY);
        int b = open("b/f", O_RDONLY);
        _exit(a >= 0 && b < 0 && errno == EACCES ? 0 : 1);
    }
    EXPECT_EQ(wait_status(pid), 0);
}

static void *open_b(void *arg) {
    (void)arg;
    int fd = open("b/f", O_RDONLY);
    if (fd >= 0) close(fd);
    return (void *)(long)(fd >= 0);
}

static void *restrict_then_open_b(void *arg) {
    int rs = *(int *)arg;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_landlock_restrict_self, rs, 0)) return (void *)2L;
    return open_b(NULL);
}

CASE(restrict_self_restricts_only_the_calling_thread) {
    make_tree();
    int rs = ruleset(FS_READ_FILE, 0, 0);
    allow_path(rs, "a", FS_READ_FILE);
    pthread_t t;
    void *r;
    EXPECT_EQ(pthread_create(&t, NULL, restrict_then_open_b, &rs), 0);
    EXPECT_EQ(pthread_join(t, &r), 0);
    EXPECT_EQ((long)r, 0); /* that thread may not */
    EXPECT_EQ((long)open_b(NULL), 1); /* this one still may */
}

CASE(tcp_ports_are_bound_and_connected_only_as_the_rules_say) {
    int server = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    EXPECT_OK(bind(server, (struct sockaddr *)&sin, sizeof sin));
    EXPECT_OK(listen(server, 4));
    socklen_t len = sizeof sin;
    EXPECT_OK(getsockname(server, (struct sockaddr *)&sin, &len));
    uint16_t open_port = ntohs(sin.sin_port);
    int rs = ruleset(0, NET_BIND_TCP | NET_CONNECT_TCP, 0);
    allow_port(rs, open_port, NET_CONNECT_TCP);
    allow_port(rs, 0, NET_BIND_TCP); /* an ephemeral port */
    enforce(rs);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_OK(connect(c, (struct sockaddr *)&sin, sizeof sin));
    close(c);
    c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in other = sin;
    other.sin_port = htons(open_port == 65535 ? 1 : open_port + 1);
    EXPECT_ERRNO(connect(c, (struct sockaddr *)&other, sizeof other), EACCES);
    EXPECT_ERRNO(bind(c, (struct sockaddr *)&other, sizeof other), EACCES);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    EXPECT_OK(bind(c, (struct sockaddr *)&any, sizeof any));
    /* A short address is EINVAL before the rules; a family unlike the socket's too. */
    int d = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_ERRNO(connect(d, (struct sockaddr *)&other, 8), EINVAL);
    struct sockaddr_in6 six = {.sin6_family = AF_INET6, .sin6_port = other.sin_port};
    EXPECT_ERRNO(connect(d, (struct sockaddr *)&six, sizeof six), EINVAL);
    /* UDP is not restricted. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    EXPECT_OK(connect(u, (struct sockaddr *)&other, sizeof other));
}

/* A child outside any domain that lives until the case's process is gone. */
static pid_t bystander(void) {
    int p[2];
    if (pipe(p) != 0) compat_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(p[1]);
        while (read(p[0], &c, 1) != 0) {}
        _exit(0);
    }
    close(p[0]);
    return pid;
}

CASE(signals_stay_within_the_domain_when_scoped) {
    pid_t outside = bystander();
    int rs = ruleset(0, 0, SCOPE_SIGNAL);
    enforce(rs);
    EXPECT_ERRNO(kill(outside, 0), EPERM);
    EXPECT_ERRNO(kill(getppid(), 0), EPERM);
    EXPECT_OK(kill(getpid(), 0)); /* its own process */
    pid_t inside = fork();
    if (inside == 0) { pause(); _exit(0); }
    EXPECT_OK(kill(inside, SIGKILL)); /* a task of the same domain */
    EXPECT_EQ(wait_status(inside), 128 + SIGKILL);
    /* A nested domain may be signalled from the outer one, not the other way. */
    pid_t nested = fork();
    if (nested == 0) {
        enforce(ruleset(0, 0, SCOPE_SIGNAL));
        _exit(kill(getppid(), 0) == -1 && errno == EPERM ? 0 : 1);
    }
    EXPECT_EQ(wait_status(nested), 0);
}

static volatile sig_atomic_t sigio_seen;
static void on_sigio(int sig) { (void)sig; sigio_seen++; }

/* A child that makes the parent the owner of a pipe's SIGIO (F_SETOWN), then writes to it;
 * `scoped`: first restricted to its own domain's signals. Exits 0 once its own SIGIO came. */
static pid_t sigio_child(int scoped) {
    pid_t pid = fork();
    if (pid == 0) {
        if (scoped) enforce(ruleset(0, 0, SCOPE_SIGNAL));
        int p[2];
        if (pipe(p) != 0 || fcntl(p[0], F_SETFL, O_ASYNC) != 0) _exit(2);
        if (fcntl(p[0], F_SETOWN, getppid()) != 0 || write(p[1], "x", 1) != 1) _exit(3);
        char c;
        if (read(p[0], &c, 1) != 1) _exit(6);
        install(SIGIO, on_sigio, 0);
        if (fcntl(p[0], F_SETOWN, getpid()) != 0 || write(p[1], "x", 1) != 1) _exit(4);
        for (int i = 0; i < 1000 && !sigio_seen; i++) usleep(1000);
        _exit(sigio_seen ? 0 : 5);
    }
    return pid;
}

CASE(sigio_reaches_only_the_owners_a_scoped_domain_may_signal) {
    install(SIGIO, on_sigio, SA_RESTART);
    EXPECT_EQ(wait_status(sigio_child(0)), 0);
    for (int i = 0; i < 1000 && !sigio_seen; i++) usleep(1000);
    EXPECT(sigio_seen > 0); /* unscoped: the parent hears of it */
    sigio_seen = 0;
    EXPECT_EQ(wait_status(sigio_child(1)), 0);
    usleep(50000);
    EXPECT_EQ(sigio_seen, 0);
}

CASE(abstract_unix_sockets_outside_the_domain_are_unreachable_when_scoped) {
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path + 1, sizeof un.sun_path - 1, "joey-landlock-%d", getpid());
    socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(un.sun_path + 1);
    int server = socket(AF_UNIX, SOCK_STREAM, 0);
    EXPECT_OK(bind(server, (struct sockaddr *)&un, len));
    EXPECT_OK(listen(server, 4));
    struct sockaddr_un dun = un;
    dun.sun_path[1] = 'J';
    int dserver = socket(AF_UNIX, SOCK_DGRAM, 0);
    EXPECT_OK(bind(dserver, (struct sockaddr *)&dun, len));
    /* Path-named and unnamed sockets are not scoped. */
    int pair[2];
    EXPECT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair));
    enforce(ruleset(0, 0, SCOPE_ABSTRACT_UNIX));
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    EXPECT_ERRNO(connect(c, (struct sockaddr *)&un, len), EPERM);
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    EXPECT_ERRNO(sendto(d, "x", 1, 0, (struct sockaddr *)&dun, len), EPERM);
    EXPECT_ERRNO(connect(d, (struct sockaddr *)&dun, len), EPERM);
    EXPECT_EQ(write(pair[0], "x", 1), 1);
    /* One made inside the domain is reachable. */
    struct sockaddr_un in = un;
    in.sun_path[1] = 'I';
    int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
    EXPECT_OK(bind(s2, (struct sockaddr *)&in, len));
    EXPECT_OK(listen(s2, 4));
    int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
    EXPECT_OK(connect(c2, (struct sockaddr *)&in, len));
}

CASE(a_landlocked_process_mounts_nothing_and_traces_only_inside) {
    EXPECT_OK(unshare(CLONE_NEWNS));
    EXPECT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
    EXPECT_OK(mkdir("m", 0755));
    pid_t outside = bystander();
    enforce(ruleset(FS_READ_FILE, 0, 0));
    EXPECT_ERRNO(mount("tmpfs", "m", "tmpfs", 0, NULL), EPERM);
    EXPECT_ERRNO(umount2("/proc", MNT_DETACH), EPERM);
    EXPECT_ERRNO(ptrace(PTRACE_ATTACH, outside, 0, 0), EPERM);
    /* What ptrace_may_access guards besides: another process's memory and kcmp. */
    char buf[8];
    struct iovec local = { buf, sizeof buf }, remote = { buf, sizeof buf };
    EXPECT_ERRNO(process_vm_readv(outside, &local, 1, &remote, 1, 0), EPERM);
    EXPECT_ERRNO(syscall(SYS_kcmp, getpid(), outside, 1 /* KCMP_VM */, 0, 0), EPERM);
    pid_t inside = fork();
    if (inside == 0) { pause(); _exit(0); }
    EXPECT_OK(ptrace(PTRACE_ATTACH, inside, 0, 0));
    int st;
    EXPECT_EQ(waitpid(inside, &st, 0), inside);
    EXPECT(WIFSTOPPED(st));
    kill(inside, SIGKILL);
}

CASE(device_ioctls_need_their_right_at_open) {
    int before = open("/dev/null", O_RDWR);
    int rs = ruleset(FS_IOCTL_DEV | FS_READ_FILE, 0, 0);
    allow_path(rs, "/dev/null", FS_READ_FILE);
    allow_path(rs, "/dev/zero", FS_READ_FILE | FS_IOCTL_DEV);
    enforce(rs);
    int n = open("/dev/null", O_RDONLY), z = open("/dev/zero", O_RDONLY);
    EXPECT(n >= 0 && z >= 0);
    char t[64];
    EXPECT_ERRNO(ioctl(n, TCGETS, t), EACCES);
    EXPECT_ERRNO(ioctl(z, TCGETS, t), ENOTTY); /* reaches the device, which has no such call */
    EXPECT_ERRNO(ioctl(before, TCGETS, t), ENOTTY);
    EXPECT_OK(ioctl(n, FIOCLEX)); /* always allowed */
    int on = 1;
    EXPECT_OK(ioctl(n, FIONBIO, &on));
}

COMPAT_MAIN()
