// systrap: the sentry's side of the shared-memory handshake with a stub thread's handler
// (hand-written assembly in stub.c's code page, as is the thread's setup).
#define _GNU_SOURCE
#include "CJoey.h"
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <string.h>
#include <cpuid.h>


static long futex(uint32_t *addr, int op, uint32_t val, const struct timespec *ts) {
    return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

int joey_systrap_post(joey_systrap_ctrl *c, uint32_t state) {
    __atomic_exchange_n(&c->state, state, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&c->stub_waiting, __ATOMIC_SEQ_CST)) return 0;
    futex(&c->state, FUTEX_WAKE, 1, NULL);
    return 1;
}

int64_t joey_systrap_wait(joey_systrap_ctrl *c, uint32_t spin, uint32_t yields, int64_t timeout_ns, uint32_t *slept) {
    for (;;) {
        for (uint32_t i = 0; i < spin; i++) {
            uint32_t s = __atomic_load_n(&c->state, __ATOMIC_ACQUIRE);
            if (s == JOEY_SYSTRAP_EVENT || s == JOEY_SYSTRAP_DEAD) return s;
            __builtin_ia32_pause();
        }
        // Not marked waiting, the stub posts without a futex wake-up; on a shared CPU the
        // yield runs it at once.
        for (uint32_t i = 0; i < yields; i++) {
            uint32_t s = __atomic_load_n(&c->state, __ATOMIC_ACQUIRE);
            if (s == JOEY_SYSTRAP_EVENT || s == JOEY_SYSTRAP_DEAD) return s;
            sched_yield();
        }
        __atomic_exchange_n(&c->sentry_waiting, 1, __ATOMIC_SEQ_CST);
        uint32_t s = __atomic_load_n(&c->state, __ATOMIC_SEQ_CST);
        if (s == JOEY_SYSTRAP_EVENT || s == JOEY_SYSTRAP_DEAD) {
            __atomic_store_n(&c->sentry_waiting, 0, __ATOMIC_RELAXED);
            return s;
        }
        struct timespec ts = { .tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000 };
        *slept = 1;
        long r = futex(&c->state, FUTEX_WAIT, s, &ts);
        int err = r < 0 ? errno : 0;
        __atomic_store_n(&c->sentry_waiting, 0, __ATOMIC_RELAXED);
        if (err == ETIMEDOUT) {
            s = __atomic_load_n(&c->state, __ATOMIC_ACQUIRE);
            if (s == JOEY_SYSTRAP_EVENT || s == JOEY_SYSTRAP_DEAD) return s;
            return -ETIMEDOUT;
        }
    }
}

int64_t joey_wait_nohang(pid_t pid, int *status) {
    pid_t r = waitpid(pid, status, WNOHANG | __WALL);
    return r >= 0 ? r : -errno;
}

int joey_has_xsave(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c >> 27) & 1;
}

int joey_has_fsgsbase(void) {
    return (getauxval(AT_HWCAP2) & 2 /* HWCAP2_FSGSBASE */) != 0;
}

int64_t joey_seccomp_mode(void) {
    int r = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
    return r >= 0 ? r : -errno;
}

// ---- unix-socket helpers for the OCI control channel (SCM_RIGHTS needs cmsg macros) ----
#include <sys/socket.h>
#include <sys/un.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <string.h>

int64_t joey_send_with_fds(int sock, const void *buf, uint64_t len, const int *fds, int nfds) {
    if (nfds < 0 || nfds > 16) return -EINVAL;
    struct iovec iov = { (void *)buf, len };
    union { char b[CMSG_SPACE(16 * sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds > 0) {
        memset(&u, 0, sizeof u);
        msg.msg_control = u.b;
        msg.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
    }
    ssize_t r;
    do { r = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (r < 0 && errno == EINTR);
    return r >= 0 ? r : -errno;
}

int64_t joey_recv_with_fds(int sock, void *buf, uint64_t len, int *fds, int maxfds, int *nfds) {
    struct iovec iov = { buf, len };
    union { char b[CMSG_SPACE(16 * sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
    *nfds = 0;
    ssize_t r;
    do { r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (r < 0 && errno == EINTR);
    if (r < 0) return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *in = (int *)CMSG_DATA(c);
        for (int i = 0; i < n; i++) {
            if (*nfds < maxfds) fds[(*nfds)++] = in[i];
            else close(in[i]);
        }
    }
    return r;
}

// Binds or connects a SOCK_SEQPACKET unix socket at `path` (relative to `dirfd`'s directory,
// so long state-directory paths still fit sun_path). Returns the socket or -errno.
static int64_t unix_socket_at(int dirfd, const char *name, int listening) {
    char path[64];
    if (strlen(name) >= sizeof(((struct sockaddr_un *)0)->sun_path) - 24) return -ENAMETOOLONG;
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    // /proc/self/fd/N/name resolves through the directory without its (possibly long) path.
    snprintf(path, sizeof path, "/proc/self/fd/%d/", dirfd);
    if (strlen(path) + strlen(name) >= sizeof a.sun_path) { close(s); return -ENAMETOOLONG; }
    strcpy(a.sun_path, path);
    strcat(a.sun_path, name);
    int r = listening ? bind(s, (struct sockaddr *)&a, sizeof a) : connect(s, (struct sockaddr *)&a, sizeof a);
    if (r == 0 && listening) r = listen(s, 16);
    if (r != 0) { int e = errno; close(s); return -e; }
    return s;
}
int64_t joey_unix_listen_at(int dirfd, const char *name) { return unix_socket_at(dirfd, name, 1); }
int64_t joey_unix_connect_at(int dirfd, const char *name) { return unix_socket_at(dirfd, name, 0); }

// A new pty pair: the master (close-on-exec) and the slave, opened without becoming anyone's
// controlling terminal. Returns 0 or -errno.
int64_t joey_open_pty(int *master, int *slave) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return -errno;
    char name[128];
    if (grantpt(m) != 0 || unlockpt(m) != 0 || ptsname_r(m, name, sizeof name) != 0) { int e = errno; close(m); return -e; }
    int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) { int e = errno; close(m); return -e; }
    *master = m;
    *slave = s;
    return 0;
}

// Connects a SOCK_STREAM unix socket to `path` (an OCI --console-socket). Returns it or -errno.
int64_t joey_unix_connect_stream(const char *path) {
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof a.sun_path) return -ENAMETOOLONG;
    strcpy(a.sun_path, path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) { int e = errno; close(s); return -e; }
    return s;
}

// Makes fd the calling process's controlling terminal (after setsid).
int64_t joey_set_controlling_tty(int fd) {
    return ioctl(fd, TIOCSCTTY, 0) == 0 ? 0 : -errno;
}
