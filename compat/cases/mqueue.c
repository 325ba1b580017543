/* POSIX message queues: names, attributes and limits, priority order, blocking and timeouts,
 * the descriptor (read, poll, O_NONBLOCK through mq_setattr), notification by signal,
 * permissions and RLIMIT_MSGQUEUE. Queue names carry the pid: cases may run in parallel. */
#include "../compat.h"
#include <sched.h>
#include <sys/mount.h>
#include <mqueue.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <semaphore.h>
#include <sys/socket.h>
#include <linux/netlink.h>

static const char *qname(const char *tag) {
    static char name[64];
    snprintf(name, sizeof name, "/joey-%s-%d", tag, (int)getpid());
    return name;
}

CASE(mq_open_creates_finds_and_refuses) {
    const char *n = qname("open");
    mq_unlink(n);
    EXPECT_ERRNO(mq_open(n, O_RDWR), ENOENT);
    mqd_t q = mq_open(n, O_RDWR | O_CREAT | O_EXCL, 0600, NULL);
    EXPECT(q >= 0);
    struct mq_attr a;
    EXPECT_OK(mq_getattr(q, &a));
    EXPECT_EQ(a.mq_maxmsg, 10);      /* msg_default */
    EXPECT_EQ(a.mq_msgsize, 8192);   /* msgsize_default */
    EXPECT_EQ(a.mq_curmsgs, 0);
    EXPECT_EQ(a.mq_flags, 0);
    EXPECT_ERRNO(mq_open(n, O_RDWR | O_CREAT | O_EXCL, 0600, NULL), EEXIST);
    mqd_t again = mq_open(n, O_WRONLY);
    EXPECT(again >= 0);
    EXPECT_ERRNO(syscall(SYS_mq_open, n + 1, O_RDWR | O_WRONLY, 0, NULL), EINVAL); /* both access modes */
    EXPECT_OK(mq_close(again));
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(n));
    EXPECT_ERRNO(mq_unlink(n), ENOENT);

    /* Attributes of a new queue. */
    struct mq_attr bad = { .mq_maxmsg = 0, .mq_msgsize = 16 };
    EXPECT_ERRNO(mq_open(n, O_RDWR | O_CREAT, 0600, &bad), EINVAL);
    bad.mq_maxmsg = 4; bad.mq_msgsize = 0;
    EXPECT_ERRNO(mq_open(n, O_RDWR | O_CREAT, 0600, &bad), EINVAL);
    bad.mq_maxmsg = 65537; bad.mq_msgsize = 16;  /* past the hard limit, even for root */
    EXPECT_ERRNO(mq_open(n, O_RDWR | O_CREAT, 0600, &bad), EINVAL);
    EXPECT_ERRNO(syscall(SYS_mq_open, n + 1, O_RDWR | O_CREAT, 0600, (void *)8), EFAULT);
    struct mq_attr small = { .mq_maxmsg = 3, .mq_msgsize = 32, .mq_flags = O_NONBLOCK };
    q = mq_open(n, O_RDWR | O_CREAT, 0600, &small);
    EXPECT(q >= 0);
    EXPECT_OK(mq_getattr(q, &a));
    EXPECT_EQ(a.mq_maxmsg, 3);
    EXPECT_EQ(a.mq_msgsize, 32);
    EXPECT_EQ(a.mq_flags, 0);         /* mq_flags of mq_open's attr is ignored */
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(n));

    /* Names: one component, not empty, at most NAME_MAX bytes. */
    EXPECT_ERRNO(syscall(SYS_mq_open, "a/b", O_RDWR | O_CREAT, 0600, NULL), EACCES);
    EXPECT_ERRNO(syscall(SYS_mq_open, "", O_RDWR | O_CREAT, 0600, NULL), ENOENT);
    char longname[300];
    memset(longname, 'x', sizeof longname);
    longname[256] = 0;
    EXPECT_ERRNO(syscall(SYS_mq_open, longname, O_RDWR | O_CREAT, 0600, NULL), ENAMETOOLONG);
    EXPECT_ERRNO(syscall(SYS_mq_open, (void *)8, O_RDWR, 0, NULL), EFAULT);
    EXPECT_ERRNO(syscall(SYS_mq_unlink, ""), ENOENT);
}

CASE(mq_send_and_receive_by_priority_then_age) {
    const char *n = qname("prio");
    struct mq_attr at = { .mq_maxmsg = 4, .mq_msgsize = 16 };
    mqd_t q = mq_open(n, O_RDWR | O_CREAT | O_NONBLOCK, 0600, &at);
    EXPECT(q >= 0);
    mq_unlink(n);
    EXPECT_OK(mq_send(q, "low", 3, 1));
    EXPECT_OK(mq_send(q, "high-a", 6, 5));
    EXPECT_OK(mq_send(q, "zero", 4, 0));
    EXPECT_OK(mq_send(q, "high-b", 6, 5));
    EXPECT_ERRNO(mq_send(q, "full", 4, 0), EAGAIN);
    struct mq_attr a;
    EXPECT_OK(mq_getattr(q, &a));
    EXPECT_EQ(a.mq_curmsgs, 4);
    EXPECT_EQ(a.mq_flags, O_NONBLOCK);
    char buf[16];
    unsigned prio = 99;
    char small[8];
    EXPECT_ERRNO(mq_receive(q, small, sizeof small, &prio), EMSGSIZE); /* smaller than mq_msgsize */
    const char *order[] = { "high-a", "high-b", "low", "zero" };
    unsigned prios[] = { 5, 5, 1, 0 };
    for (int i = 0; i < 4; i++) {
        memset(buf, 0, sizeof buf);
        EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), (long)strlen(order[i]));
        EXPECT_STREQ(buf, order[i]);
        EXPECT_EQ(prio, prios[i]);
    }
    EXPECT_ERRNO(mq_receive(q, buf, sizeof buf, NULL), EAGAIN);
    EXPECT_ERRNO(mq_send(q, "0123456789abcdefg", 17, 0), EMSGSIZE);
    EXPECT_ERRNO(mq_send(q, "x", 1, 32768), EINVAL);                  /* MQ_PRIO_MAX */
    EXPECT_OK(mq_send(q, "", 0, 32767));                              /* empty messages are messages */
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 0);
    EXPECT_EQ(prio, 32767);
    EXPECT_ERRNO(syscall(SYS_mq_timedsend, q, (void *)8, 4, 0, NULL), EFAULT);
    EXPECT_ERRNO(mq_send(0, "x", 1, 0), EBADF);                       /* not a queue */
    EXPECT_ERRNO(mq_send(999, "x", 1, 0), EBADF);
    EXPECT_OK(mq_close(q));
}

CASE(mq_access_mode_and_timeouts) {
    const char *n = qname("mode");
    struct mq_attr at = { .mq_maxmsg = 1, .mq_msgsize = 8 };
    mqd_t w = mq_open(n, O_WRONLY | O_CREAT, 0600, &at);
    EXPECT(w >= 0);
    mqd_t r = mq_open(n, O_RDONLY);
    EXPECT(r >= 0);
    mq_unlink(n);
    char buf[8];
    EXPECT_ERRNO(mq_receive(w, buf, sizeof buf, NULL), EBADF);
    EXPECT_ERRNO(mq_send(r, "x", 1, 0), EBADF);
    struct timespec past = { 1, 0 };
    EXPECT_ERRNO(mq_timedreceive(r, buf, sizeof buf, NULL, &past), ETIMEDOUT);
    EXPECT_OK(mq_timedsend(w, "a", 1, 0, &past));                    /* room: the time is not looked at */
    EXPECT_ERRNO(mq_timedsend(w, "b", 1, 0, &past), ETIMEDOUT);
    struct timespec bad = { 0, 1000000000 };
    EXPECT_ERRNO(mq_timedreceive(r, buf, sizeof buf, NULL, &bad), EINVAL); /* checked first */
    struct timespec soon;
    clock_gettime(CLOCK_REALTIME, &soon);
    soon.tv_nsec += 50 * 1000 * 1000;
    if (soon.tv_nsec >= 1000000000) { soon.tv_sec++; soon.tv_nsec -= 1000000000; }
    EXPECT_ERRNO(mq_timedsend(w, "b", 1, 0, &soon), ETIMEDOUT);
    EXPECT_EQ(mq_timedreceive(r, buf, sizeof buf, NULL, &soon), 1);
    EXPECT_OK(mq_close(w));
    EXPECT_OK(mq_close(r));
}

CASE(mq_blocked_receiver_is_woken_by_another_process) {
    const char *n = qname("wake");
    mqd_t q = mq_open(n, O_RDWR | O_CREAT, 0600, NULL);
    EXPECT(q >= 0);
    pid_t c = fork();
    if (c == 0) {
        mqd_t s = mq_open(n, O_WRONLY);
        usleep(100 * 1000);
        _exit(s >= 0 && mq_send(s, "hello", 5, 3) == 0 ? 0 : 3);
    }
    char buf[8192];
    unsigned prio = 0;
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 5);
    EXPECT(memcmp(buf, "hello", 5) == 0);
    EXPECT_EQ(prio, 3);
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT_OK(mq_unlink(n));
    EXPECT_OK(mq_close(q));
}

CASE(mq_descriptor_reads_its_status_and_polls) {
    const char *n = qname("fd");
    struct mq_attr at = { .mq_maxmsg = 2, .mq_msgsize = 16 };
    mqd_t q = mq_open(n, O_RDWR | O_CREAT, 0600, &at);
    EXPECT(q >= 0);
    mq_unlink(n);
    struct pollfd p = { q, POLLIN | POLLOUT, 0 };
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_EQ(p.revents, POLLOUT);
    EXPECT_OK(mq_send(q, "abc", 3, 0));
    EXPECT_OK(mq_send(q, "defgh", 5, 0));
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_EQ(p.revents, POLLIN);
    char line[128] = {0};
    long got = read(q, line, sizeof line - 1);
    EXPECT(got > 0);
    EXPECT_STREQ(line, "QSIZE:8          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n");
    EXPECT_EQ(read(q, line, sizeof line), 0);                       /* the offset moved */
    EXPECT_ERRNO(write(q, "x", 1), EINVAL);
    /* O_NONBLOCK through mq_setattr, only that flag. */
    struct mq_attr set = { .mq_flags = O_NONBLOCK }, old;
    EXPECT_OK(mq_setattr(q, &set, &old));
    EXPECT_EQ(old.mq_flags, 0);
    EXPECT_EQ(old.mq_curmsgs, 2);
    EXPECT_EQ(fcntl(q, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    EXPECT_ERRNO(mq_send(q, "x", 1, 0), EAGAIN);
    set.mq_flags = O_NONBLOCK | O_APPEND;
    EXPECT_ERRNO(mq_setattr(q, &set, NULL), EINVAL);
    EXPECT_ERRNO(mq_getattr(0, &old), EBADF);
    EXPECT_OK(mq_close(q));
}

static volatile siginfo_t mq_info;
static volatile int mq_signals;
static void on_mq_signal(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    mq_info = *si;
    mq_signals++;
}

CASE(mq_notify_signals_when_an_empty_queue_gets_a_message) {
    const char *n = qname("notify");
    mqd_t q = mq_open(n, O_RDWR | O_CREAT | O_NONBLOCK, 0600, NULL);
    EXPECT(q >= 0);
    struct sigaction sa = { 0 };
    sa.sa_sigaction = on_mq_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART; /* the signal may come while we wait for the sender */
    EXPECT_OK(sigaction(SIGUSR1, &sa, NULL));
    struct sigevent ev = { 0 };
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_value.sival_int = 1234;
    EXPECT_OK(mq_notify(q, &ev));
    EXPECT_ERRNO(mq_notify(q, &ev), EBUSY);                         /* one registration per queue */
    char line[128] = {0};
    EXPECT(read(q, line, sizeof line - 1) > 0);
    char want[128];
    snprintf(want, sizeof want, "QSIZE:0          NOTIFY:0     SIGNO:%-5d NOTIFY_PID:%-6d\n", SIGUSR1, (int)getpid());
    EXPECT_STREQ(line, want);
    pid_t c = fork();
    if (c == 0) {
        struct sigevent other = { 0 };
        other.sigev_notify = SIGEV_NONE;
        if (mq_notify(q, &other) != -1 || errno != EBUSY) _exit(3);
        _exit(mq_send(q, "x", 1, 0) == 0 ? 0 : 4);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (int i = 0; i < 100 && mq_signals == 0; i++) usleep(10000);
    EXPECT_EQ(mq_signals, 1);
    EXPECT_EQ(mq_info.si_signo, SIGUSR1);
    EXPECT_EQ(mq_info.si_code, SI_MESGQ);
    EXPECT_EQ(mq_info.si_value.sival_int, 1234);
    EXPECT_EQ(mq_info.si_pid, c);
    /* One notification, then the registration is gone; a second message into a queue that
     * is not empty notifies nobody. */
    EXPECT_OK(mq_send(q, "y", 1, 0));
    EXPECT_OK(mq_notify(q, &ev));
    EXPECT_OK(mq_send(q, "z", 1, 0));
    usleep(20000);
    EXPECT_EQ(mq_signals, 1);
    EXPECT_OK(mq_notify(q, NULL));                                  /* unregisters */
    EXPECT_OK(mq_notify(q, NULL));                                  /* nothing to unregister */
    ev.sigev_notify = 77;
    EXPECT_ERRNO(mq_notify(q, &ev), EINVAL);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = 65;
    EXPECT_ERRNO(mq_notify(q, &ev), EINVAL);
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(n));
}

static void mq_as_nobody(const char *n) {
    if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0) _exit(2);
    if (mq_open(n, O_RDONLY) != (mqd_t)-1 || errno != EACCES) _exit(3);
    if (mq_unlink(n) != -1 || errno != EACCES) _exit(4);
    /* Over RLIMIT_MSGQUEUE: the queue's bytes are counted against its creator's limit. */
    struct rlimit r = { 1000, 1000 };
    if (setrlimit(RLIMIT_MSGQUEUE, &r) != 0) _exit(5);
    char mine[64];
    snprintf(mine, sizeof mine, "%s-mine", n);
    struct mq_attr at = { .mq_maxmsg = 10, .mq_msgsize = 128 };
    if (mq_open(mine, O_RDWR | O_CREAT, 0600, &at) != (mqd_t)-1 || errno != EMFILE) _exit(6);
    at.mq_maxmsg = 1; at.mq_msgsize = 64;
    mqd_t q = mq_open(mine, O_RDWR | O_CREAT, 0600, &at);
    if (q == (mqd_t)-1) _exit(7);
    /* Past msg_max without CAP_SYS_RESOURCE. */
    struct mq_attr many = { .mq_maxmsg = 11, .mq_msgsize = 64 };
    snprintf(mine, sizeof mine, "%s-many", n);
    if (mq_open(mine, O_RDWR | O_CREAT, 0600, &many) != (mqd_t)-1 || errno != EINVAL) _exit(8);
    snprintf(mine, sizeof mine, "%s-mine", n);
    if (mq_unlink(mine) != 0) _exit(9);
    _exit(0);
}

CASE(mq_permissions_and_rlimit_msgqueue) {
    const char *n = qname("perm");
    mqd_t q = mq_open(n, O_RDWR | O_CREAT, 0600, NULL);
    EXPECT(q >= 0);
    pid_t c = fork();
    if (c == 0) mq_as_nobody(n);
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(n));
}

CASE(mq_unlinked_queue_lives_while_open) {
    const char *n = qname("unlinked");
    mqd_t q = mq_open(n, O_RDWR | O_CREAT | O_NONBLOCK, 0600, NULL);
    EXPECT(q >= 0);
    EXPECT_OK(mq_send(q, "kept", 4, 0));
    EXPECT_OK(mq_unlink(n));
    mqd_t fresh = mq_open(n, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, NULL);
    EXPECT(fresh >= 0);                                             /* the name is free again */
    char buf[8192];
    EXPECT_ERRNO(mq_receive(fresh, buf, sizeof buf, NULL), EAGAIN);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 4);
    int d = dup(q);                                                  /* a dup shares the description */
    EXPECT(d >= 0);
    struct mq_attr a;
    EXPECT_OK(mq_getattr(d, &a));
    EXPECT_EQ(a.mq_flags, O_NONBLOCK);
    EXPECT_OK(close(d));
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_close(fresh));
    EXPECT_OK(mq_unlink(n));
}

static long proc_sys_value(const char *path) {
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) { if (fscanf(f, "%ld", &v) != 1) v = -1; fclose(f); }
    return v;
}

CASE(mq_defaults_are_those_of_proc_sys_fs_mqueue) {
    long msg_default = proc_sys_value("/proc/sys/fs/mqueue/msg_default");
    long msgsize_default = proc_sys_value("/proc/sys/fs/mqueue/msgsize_default");
    long msg_max = proc_sys_value("/proc/sys/fs/mqueue/msg_max");
    EXPECT(msg_default > 0 && msgsize_default > 0 && msg_max > 0);
    EXPECT(proc_sys_value("/proc/sys/fs/mqueue/queues_max") > 0);
    EXPECT(proc_sys_value("/proc/sys/fs/mqueue/msgsize_max") >= 128);
    const char *n = qname("defaults");
    mqd_t q = mq_open(n, O_RDWR | O_CREAT, 0600, NULL);
    EXPECT(q >= 0);
    mq_unlink(n);
    struct mq_attr a;
    EXPECT_OK(mq_getattr(q, &a));
    EXPECT_EQ(a.mq_maxmsg, msg_default < msg_max ? msg_default : msg_max);
    EXPECT_EQ(a.mq_msgsize, msgsize_default);
    EXPECT_OK(mq_close(q));
}

/* SIGEV_THREAD as the kernel does it: the caller's netlink socket hears the 32-byte cookie
 * sigev_value points at, its last byte NOTIFY_WOKENUP (1) when a message came and
 * NOTIFY_REMOVED (2) when the registration is dropped; the socket must be a netlink one. */
CASE(mq_notify_sigev_thread_writes_the_cookie_to_the_netlink_socket) {
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 16};
    const char *n = qname("thread");
    mqd_t q = mq_open(n, O_CREAT | O_RDWR, 0600, &attr);
    EXPECT(q >= 0);
    mq_unlink(n);
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT(nl >= 0);
    unsigned char cookie[32], got[64];
    for (int i = 0; i < 32; i++) cookie[i] = (unsigned char)(0x40 + i);
    struct sigevent ev = {0};
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_signo = nl;
    ev.sigev_value.sival_ptr = cookie;
    EXPECT_OK(syscall(SYS_mq_notify, q, &ev));
    EXPECT_OK(mq_send(q, "m", 1, 0));
    struct pollfd p = {nl, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 2000), 1);
    EXPECT_EQ(recv(nl, got, sizeof got, MSG_DONTWAIT), 32);
    EXPECT(memcmp(got, cookie, 31) == 0);
    EXPECT_EQ(got[31], 1);
    EXPECT_OK(syscall(SYS_mq_notify, q, &ev));          /* fired, so free again */
    EXPECT_OK(syscall(SYS_mq_notify, q, NULL));
    EXPECT_EQ(recv(nl, got, sizeof got, MSG_DONTWAIT), 32);
    EXPECT_EQ(got[31], 2);
    EXPECT_ERRNO(recv(nl, got, sizeof got, MSG_DONTWAIT), EAGAIN);
    int sv[2];
    EXPECT_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    ev.sigev_signo = sv[0];
    EXPECT_ERRNO(syscall(SYS_mq_notify, q, &ev), EINVAL);   /* not a netlink socket */
    ev.sigev_signo = q;
    EXPECT_ERRNO(syscall(SYS_mq_notify, q, &ev), ENOTSOCK);
    ev.sigev_signo = nl;
    ev.sigev_value.sival_ptr = (void *)8;
    EXPECT_ERRNO(syscall(SYS_mq_notify, q, &ev), EFAULT);
}

/* glibc's SIGEV_THREAD (its helper thread reads the cookie): the function runs in a thread
 * once per registration, also after a registration was dropped and made again (LTP
 * mq_notify03). */
static sem_t mq_thread_ran;
static void mq_thread_function(union sigval v) { (void)v; sem_post(&mq_thread_ran); }

CASE(mq_notify_sigev_thread_runs_the_function_in_a_thread) {
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 16};
    const char *n = qname("glibc-thread");
    char buf[16];
    mqd_t q = mq_open(n, O_CREAT | O_RDWR, 0600, &attr);
    EXPECT(q >= 0);
    mq_unlink(n);
    EXPECT_OK(sem_init(&mq_thread_ran, 0, 0));
    struct sigevent ev = {0};
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = mq_thread_function;
    EXPECT_OK(mq_notify(q, &ev));
    EXPECT_OK(mq_notify(q, NULL));
    EXPECT_OK(mq_notify(q, &ev));
    EXPECT_OK(mq_send(q, "m", 1, 0));
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    EXPECT_OK(sem_timedwait(&mq_thread_ran, &until));
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
}

CASE(an_mqueue_filesystem_shows_the_ipc_namespaces_queues_as_files) {
    pid_t child = fork();
    if (child == 0) {
        EXPECT_OK(unshare(CLONE_NEWNS | CLONE_NEWIPC));
        EXPECT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
        EXPECT_OK(mkdir("mq", 0755));
        EXPECT_OK(mount("mqueue", "mq", "mqueue", 0, NULL));
        struct stat st;
        EXPECT_OK(stat("mq", &st));
        EXPECT_EQ(st.st_mode, S_IFDIR | 01777);
        mqd_t q = mq_open("/q1", O_CREAT | O_RDWR, 0640, NULL);
        EXPECT(q != (mqd_t)-1);
        EXPECT_OK(stat("mq/q1", &st));
        EXPECT_EQ(st.st_mode, S_IFREG | 0640);
        EXPECT_OK(mq_send(q, "hello", 5, 1));
        char buf[128];
        EXPECT(slurp("mq/q1", buf, sizeof buf) > 0);
        EXPECT(strncmp(buf, "QSIZE:5 ", 8) == 0);
        /* A file made there is a queue; one removed there is unlinked. */
        int fd = creat("mq/q2", 0600);
        EXPECT(fd >= 0);
        close(fd);
        mqd_t q2 = mq_open("/q2", O_RDWR);
        EXPECT(q2 != (mqd_t)-1);
        EXPECT_OK(chmod("mq/q2", 0604));
        EXPECT_OK(stat("mq/q2", &st));
        EXPECT_EQ(st.st_mode, S_IFREG | 0604);
        EXPECT_OK(unlink("mq/q1"));
        EXPECT_ERRNO(mq_open("/q1", O_RDWR), ENOENT);
        EXPECT_OK(mq_send(q, "still", 5, 1)); /* an open queue lives on */
        EXPECT_ERRNO(mkdir("mq/d", 0755), EPERM);
        /* A second mount of the same namespace shows the same queue. */
        EXPECT_OK(mkdir("mq2", 0755));
        EXPECT_OK(mount("mqueue", "mq2", "mqueue", 0, NULL));
        EXPECT_OK(access("mq2/q2", F_OK));
        EXPECT_OK(mq_unlink("/q2"));
        EXPECT_ERRNO(access("mq/q2", F_OK), ENOENT);
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
}

COMPAT_MAIN()
