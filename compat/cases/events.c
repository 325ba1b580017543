/* Event files: epoll (level and edge triggered, one-shot, nesting, interest lifetime,
 * errors) over pipes, eventfds and sockets; eventfd, timerfd, signalfd, inotify and pidfd;
 * what every anonymous file is, and what their fdinfo says. */
#include "../compat.h"
#include <sys/resource.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/sendfile.h>
#include <sys/xattr.h>
#include <sys/vfs.h>
#include <time.h>

static int add(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event e = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

CASE(epoll_create1_bad_flags_is_einval) {
    EXPECT_ERRNO(epoll_create1(1), EINVAL);
}

CASE(epoll_create_size_zero_is_einval) {
    EXPECT_ERRNO(epoll_create(0), EINVAL);
    int ep = epoll_create(1);
    EXPECT(ep >= 0);
}

CASE(epoll_level_triggered_reports_until_drained) {
    int ep = epoll_create1(EPOLL_CLOEXEC), p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(add(ep, p[0], EPOLLIN, 0x1122334455667788ULL));
    struct epoll_event ev[4];
    EXPECT_EQ(epoll_wait(ep, ev, 4, 0), 0);
    EXPECT_EQ(write(p[1], "ab", 2), 2);
    EXPECT_EQ(epoll_wait(ep, ev, 4, 1000), 1);
    EXPECT_EQ(ev[0].events, EPOLLIN);
    EXPECT_EQ(ev[0].data.u64, 0x1122334455667788ULL);
    EXPECT_EQ(epoll_wait(ep, ev, 4, 0), 1); /* still readable */
    char b[2];
    EXPECT_EQ(read(p[0], b, 2), 2);
    EXPECT_EQ(epoll_wait(ep, ev, 4, 0), 0);
}

CASE(epoll_edge_triggered_reports_once_per_event) {
    int ep = epoll_create1(0), p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(add(ep, p[0], EPOLLIN | EPOLLET, 7));
    struct epoll_event ev[2];
    EXPECT_EQ(write(p[1], "a", 1), 1);
    EXPECT_EQ(epoll_wait(ep, ev, 2, 1000), 1);
    EXPECT_EQ(epoll_wait(ep, ev, 2, 0), 0); /* not again without a new write */
    EXPECT_EQ(write(p[1], "b", 1), 1);
    EXPECT_EQ(epoll_wait(ep, ev, 2, 1000), 1);
    EXPECT_EQ(ev[0].data.u64, 7);
}

CASE(epoll_oneshot_disables_until_rearmed_with_mod) {
    int ep = epoll_create1(0), p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(add(ep, p[0], EPOLLIN | EPOLLONESHOT, 1));
    EXPECT_EQ(write(p[1], "a", 1), 1);
    struct epoll_event ev[2];
    EXPECT_EQ(epoll_wait(ep, ev, 2, 1000), 1);
    EXPECT_EQ(epoll_wait(ep, ev, 2, 0), 0);
    EXPECT_EQ(write(p[1], "b", 1), 1);
    EXPECT_EQ(epoll_wait(ep, ev, 2, 0), 0);
    struct epoll_event e = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 2};
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e));
    EXPECT_EQ(epoll_wait(ep, ev, 2, 0), 1);
    EXPECT_EQ(ev[0].data.u64, 2);
}

CASE(epoll_ctl_errors_follow_linux) {
    int ep = epoll_create1(0), p[2];
    EXPECT_OK(pipe(p));
    struct epoll_event e = {.events = EPOLLIN};
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e));
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e), EEXIST);
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &e), ENOENT);
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_DEL, p[1], &e), ENOENT);
    EXPECT_ERRNO(epoll_ctl(ep, 99, p[0], &e), EINVAL);
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &e), EINVAL);
    EXPECT_ERRNO(epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &e), EINVAL);
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_ADD, 999, &e), EBADF);
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_ADD, p[1], (void *)8), EFAULT);
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
}

CASE(epoll_ctl_regular_file_is_eperm) {
    int ep = epoll_create1(0);
    int fd = open("/proc/self/exe", O_RDONLY);
    EXPECT(fd >= 0);
    struct epoll_event e = {.events = EPOLLIN};
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e), EPERM);
}

CASE(epoll_exclusive_cannot_be_modified) {
    int ep = epoll_create1(0), p[2];
    EXPECT_OK(pipe(p));
    struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE};
    EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e));
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e), EINVAL);
    e.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT;
    EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &e), EINVAL);
}

/* Four processes each wait in epoll_wait on an epoll of their own with an EPOLLEXCLUSIVE
 * interest in one pipe: a write wakes exactly one of them (and the next write another). */
CASE(epoll_exclusive_interests_of_separate_epolls_wake_one_waiter_per_event) {
    enum { N = 4 };
    int p[2];
    EXPECT_OK(pipe(p));
    int *woken = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT(woken != MAP_FAILED);
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            int ep = epoll_create1(0);
            if (add(ep, p[0], EPOLLIN | EPOLLET | EPOLLEXCLUSIVE, 0) != 0) _exit(2);
            struct epoll_event ev;
            if (epoll_wait(ep, &ev, 1, 5000) == 1) __atomic_add_fetch(woken, 1, __ATOMIC_SEQ_CST);
            _exit(0);
        }
        EXPECT(kids[i] > 0);
    }
    for (int i = 0; i < N; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)kids[i]);
        wait_until_asleep(path);
    }
    usleep(50000);
    EXPECT_EQ(write(p[1], "x", 1), 1);
    for (int i = 0; i < 200 && __atomic_load_n(woken, __ATOMIC_SEQ_CST) == 0; i++) usleep(1000);
    usleep(100000);
    EXPECT_EQ(__atomic_load_n(woken, __ATOMIC_SEQ_CST), 1);
    char c;
    EXPECT_EQ(read(p[0], &c, 1), 1);
    EXPECT_EQ(write(p[1], "y", 1), 1);
    for (int i = 0; i < 200 && __atomic_load_n(woken, __ATOMIC_SEQ_CST) == 1; i++) usleep(1000);
    usleep(100000);
    EXPECT_EQ(__atomic_load_n(woken, __ATOMIC_SEQ_CST), 2);
    for (int i = 0; i < N; i++) kill(kids[i], SIGKILL);
    for (int i = 0; i < N; i++) waitpid(kids[i], NULL, 0);
}

CASE(epoll_wait_bad_arguments_are_einval) {
    int ep = epoll_create1(0), p[2];
    EXPECT_OK(pipe(p));
    struct epoll_event ev[1];
    EXPECT_ERRNO(epoll_wait(ep, ev, 0, 0), EINVAL);
    EXPECT_ERRNO(epoll_wait(ep, ev, -1, 0), EINVAL);
    EXPECT_ERRNO(epoll_wait(p[0], ev, 1, 0), EINVAL);
    EXPECT_ERRNO(epoll_wait(999, ev, 1, 0), EBADF);
}

CASE(epoll_wait_times_out_with_zero) {
    int ep = epoll_create1(0), p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(add(ep, p[0], EPOLLIN, 0));
    struct epoll_event ev[1];
    EXPECT_EQ(epoll_wait(ep, ev, 1, 50), 0);
}

CASE(epoll_reports_hangup_without_asking) {
    int ep = epoll_create1(0), p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(add(ep, p[0], 0, 3));
    EXPECT_OK(close(p[1]));
    struct epoll_event ev[1];
    EXPECT_EQ(epoll_wait(ep, ev, 1, 1000), 1);
    EXPECT_EQ(ev[0].events, EPOLLHUP);
}

CASE(epoll_interest_outlives_close_of_one_of_two_fds) {
    int ep = epoll_create1(0), p[2];
    EXPECT_OK(pipe(p));
    int d = dup(p[0]);
    EXPECT_OK(add(ep, p[0], EPOLLIN, 9));
    EXPECT_OK(close(p[0])); /* the description lives on through d */
    EXPECT_EQ(write(p[1], "x", 1), 1);
    struct epoll_event ev[1];
    EXPECT_EQ(epoll_wait(ep, ev, 1, 1000), 1);
    EXPECT_EQ(ev[0].data.u64, 9);
    EXPECT_OK(close(d)); /* the last reference: the interest goes */
    EXPECT_EQ(epoll_wait(ep, ev, 1, 0), 0);
    int q[2];
    EXPECT_OK(pipe(q)); /* may reuse the old number: adding it again works */
    EXPECT_OK(add(ep, q[0], EPOLLIN, 10));
}

CASE(epoll_nested_reports_inner_readiness) {
    int outer = epoll_create1(0), inner = epoll_create1(0), p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(add(inner, p[0], EPOLLIN, 1));
    EXPECT_OK(add(outer, inner, EPOLLIN, 2));
    struct epoll_event ev[1];
    EXPECT_EQ(epoll_wait(outer, ev, 1, 0), 0);
    EXPECT_EQ(write(p[1], "x", 1), 1);
    EXPECT_EQ(epoll_wait(outer, ev, 1, 1000), 1);
    EXPECT_EQ(ev[0].data.u64, 2);
    EXPECT_EQ(ev[0].events, EPOLLIN);
    struct pollfd pf = {inner, POLLIN, 0};
    EXPECT_EQ(poll(&pf, 1, 0), 1);
}

CASE(epoll_loop_is_eloop) {
    int a = epoll_create1(0), b = epoll_create1(0);
    EXPECT_OK(add(a, b, EPOLLIN, 0));
    EXPECT_ERRNO(add(b, a, EPOLLIN, 0), ELOOP);
}

CASE(epoll_eventfd_readable_after_write) {
    int ep = epoll_create1(0), e = eventfd(0, EFD_NONBLOCK);
    EXPECT_OK(add(ep, e, EPOLLIN | EPOLLOUT, 5));
    struct epoll_event ev[1];
    EXPECT_EQ(epoll_wait(ep, ev, 1, 0), 1);
    EXPECT_EQ(ev[0].events, EPOLLOUT);
    uint64_t one = 1;
    EXPECT_EQ(write(e, &one, 8), 8);
    EXPECT_EQ(epoll_wait(ep, ev, 1, 0), 1);
    EXPECT_EQ(ev[0].events, EPOLLIN | EPOLLOUT);
}

CASE(epoll_socket_peer_shutdown_is_rdhup) {
    int ep = epoll_create1(0), sv[2];
    EXPECT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    EXPECT_OK(add(ep, sv[0], EPOLLIN | EPOLLRDHUP | EPOLLET, 0));
    EXPECT_OK(shutdown(sv[1], SHUT_WR));
    struct epoll_event ev[1];
    EXPECT_EQ(epoll_wait(ep, ev, 1, 1000), 1);
    EXPECT_EQ(ev[0].events, EPOLLIN | EPOLLRDHUP);
}

CASE(epoll_maxevents_takes_turns) {
    int ep = epoll_create1(0), p[3][2];
    for (int i = 0; i < 3; i++) {
        EXPECT_OK(pipe(p[i]));
        EXPECT_EQ(write(p[i][1], "x", 1), 1);
        EXPECT_OK(add(ep, p[i][0], EPOLLIN, (uint64_t)i));
    }
    int seen = 0;
    for (int round = 0; round < 3; round++) {
        struct epoll_event ev[1];
        EXPECT_EQ(epoll_wait(ep, ev, 1, 0), 1);
        seen |= 1 << ev[0].data.u64;
    }
    EXPECT_EQ(seen, 7);
}

static void on_alarm(int sig) { (void)sig; }

CASE(epoll_wait_interrupted_by_handler_is_eintr_even_with_sa_restart) {
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    EXPECT_OK(sigaction(SIGALRM, &sa, NULL));
    int ep = epoll_create1(0), p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(add(ep, p[0], EPOLLIN, 0));
    alarm(1);
    struct epoll_event ev[1];
    EXPECT_ERRNO(epoll_wait(ep, ev, 1, 5000), EINTR);
}

CASE(epoll_instance_is_shared_with_forked_child) {
    int ep = epoll_create1(0), p[2];
    EXPECT_OK(pipe(p));
    pid_t pid = fork();
    if (pid == 0) {
        _exit(add(ep, p[0], EPOLLIN, 42) == 0 ? 0 : 1);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT_EQ(write(p[1], "x", 1), 1);
    struct epoll_event ev[1];
    EXPECT_EQ(epoll_wait(ep, ev, 1, 1000), 1);
    EXPECT_EQ(ev[0].data.u64, 42);
}

CASE(epoll_wait_wakes_when_another_process_writes) {
    int ep = epoll_create1(0), p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(add(ep, p[0], EPOLLIN, 1));
    pid_t pid = fork();
    if (pid == 0) {
        usleep(50000);
        _exit(write(p[1], "x", 1) == 1 ? 0 : 1);
    }
    struct epoll_event ev[1];
    EXPECT_EQ(epoll_wait(ep, ev, 1, 5000), 1);
    EXPECT_EQ(ev[0].events, EPOLLIN);
    waitpid(pid, NULL, 0);
}

CASE(epoll_pwait_with_mask_and_pwait2_timeout) {
    int ep = epoll_create1(0), p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(add(ep, p[0], EPOLLIN, 1));
    sigset_t m;
    sigemptyset(&m);
    struct epoll_event ev[1];
    EXPECT_EQ(epoll_pwait(ep, ev, 1, 10, &m), 0);
    struct timespec ts = {0, 10 * 1000 * 1000};
    EXPECT_EQ(syscall(441 /* epoll_pwait2 */, ep, ev, 1, &ts, NULL, 8), 0);
    EXPECT_EQ(write(p[1], "x", 1), 1);
    EXPECT_EQ(syscall(441, ep, ev, 1, NULL, NULL, 8), 1);
}

/* ---- timerfd ---- */

CASE(timerfd_create_bad_clock_and_flags_are_einval) {
    EXPECT_ERRNO(timerfd_create(12345, 0), EINVAL);
    EXPECT_ERRNO(timerfd_create(CLOCK_MONOTONIC, 0x10), EINVAL);
    EXPECT_ERRNO(timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0), EINVAL);
}

CASE(timerfd_expires_and_read_counts_then_resets) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    EXPECT(fd >= 0);
    struct itimerspec its = {{0, 0}, {0, 20 * 1000 * 1000}};
    EXPECT_OK(timerfd_settime(fd, 0, &its, NULL));
    uint64_t n = 0;
    EXPECT_EQ(read(fd, &n, 8), 8); /* blocks until it fires */
    EXPECT_EQ(n, 1);
    struct itimerspec cur;
    EXPECT_OK(timerfd_gettime(fd, &cur));
    EXPECT_EQ(cur.it_value.tv_sec, 0);
    EXPECT_EQ(cur.it_value.tv_nsec, 0); /* disarmed after a one-shot expiry */
}

CASE(timerfd_interval_accumulates_expirations) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec its = {{0, 10 * 1000 * 1000}, {0, 10 * 1000 * 1000}};
    EXPECT_OK(timerfd_settime(fd, 0, &its, NULL));
    uint64_t n = 0;
    EXPECT_ERRNO(read(fd, &n, 8), EAGAIN);
    usleep(55 * 1000);
    EXPECT_EQ(read(fd, &n, 8), 8);
    EXPECT(n >= 3);
}

CASE(timerfd_abstime_in_the_past_fires_at_once) {
    int fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
    struct itimerspec its = {{0, 0}, {1, 0}};
    EXPECT_OK(timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL));
    struct pollfd p = {fd, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 1000), 1);
    uint64_t n = 0;
    EXPECT_EQ(read(fd, &n, 8), 8);
    EXPECT_EQ(n, 1);
}

CASE(timerfd_settime_errors_follow_linux) {
    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec its = {{0, 0}, {0, 2000 * 1000 * 1000L}};
    EXPECT_ERRNO(timerfd_settime(fd, 0, &its, NULL), EINVAL);
    its.it_value.tv_nsec = 1;
    EXPECT_ERRNO(timerfd_settime(fd, 0x100, &its, NULL), EINVAL);
    EXPECT_OK(timerfd_settime(fd, TFD_TIMER_CANCEL_ON_SET, &its, NULL)); /* ignored without ABSTIME */
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_ERRNO(timerfd_settime(p[0], 0, &its, NULL), EINVAL);
    uint32_t small;
    EXPECT_ERRNO(read(fd, &small, 4), EINVAL);
}

CASE(timerfd_old_value_reports_remaining_time) {
    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec its = {{5, 0}, {10, 0}}, old;
    EXPECT_OK(timerfd_settime(fd, 0, &its, NULL));
    struct itimerspec zero = {{0, 0}, {0, 0}};
    EXPECT_OK(timerfd_settime(fd, 0, &zero, &old));
    EXPECT_EQ(old.it_interval.tv_sec, 5);
    EXPECT(old.it_value.tv_sec >= 9 && old.it_value.tv_sec <= 10);
}

CASE(timerfd_in_epoll_wakes_the_waiter) {
    int ep = epoll_create1(0), fd = timerfd_create(CLOCK_MONOTONIC, 0);
    EXPECT_OK(add(ep, fd, EPOLLIN, 77));
    struct itimerspec its = {{0, 0}, {0, 20 * 1000 * 1000}};
    EXPECT_OK(timerfd_settime(fd, 0, &its, NULL));
    struct epoll_event ev[1];
    EXPECT_EQ(epoll_wait(ep, ev, 1, 2000), 1);
    EXPECT_EQ(ev[0].data.u64, 77);
}

/* ---- signalfd ---- */

CASE(signalfd_reads_blocked_signal_with_sender) {
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    EXPECT_OK(sigprocmask(SIG_BLOCK, &m, NULL));
    int fd = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC);
    EXPECT(fd >= 0);
    struct signalfd_siginfo si;
    EXPECT_ERRNO(read(fd, &si, sizeof si), EAGAIN);
    EXPECT_OK(kill(getpid(), SIGUSR1));
    EXPECT_EQ(read(fd, &si, sizeof si), sizeof si);
    EXPECT_EQ(si.ssi_signo, SIGUSR1);
    EXPECT_EQ(si.ssi_pid, getpid());
    EXPECT_EQ(si.ssi_code, SI_USER);
    sigset_t pend;
    EXPECT_OK(sigpending(&pend));
    EXPECT(!sigismember(&pend, SIGUSR1)); /* consumed */
}

CASE(signalfd_errors_and_mask_update) {
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR2);
    EXPECT_ERRNO(syscall(289 /* signalfd4 */, -1, &m, 4, 0), EINVAL);
    EXPECT_ERRNO(signalfd(-1, &m, 0x1), EINVAL);
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_ERRNO(signalfd(p[0], &m, 0), EINVAL);
    int fd = signalfd(-1, &m, SFD_NONBLOCK);
    EXPECT_EQ(signalfd(fd, &m, 0), fd);
    struct signalfd_siginfo si;
    EXPECT_ERRNO(read(fd, &si, 8), EINVAL);
}

CASE(signalfd_sigqueue_value_and_poll) {
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGRTMIN);
    EXPECT_OK(sigprocmask(SIG_BLOCK, &m, NULL));
    int fd = signalfd(-1, &m, 0);
    struct pollfd p = {fd, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 0);
    union sigval v = {.sival_int = 1234};
    EXPECT_OK(sigqueue(getpid(), SIGRTMIN, v));
    EXPECT_EQ(poll(&p, 1, 1000), 1);
    struct signalfd_siginfo si;
    EXPECT_EQ(read(fd, &si, sizeof si), sizeof si);
    EXPECT_EQ(si.ssi_signo, SIGRTMIN);
    EXPECT_EQ(si.ssi_code, SI_QUEUE);
    EXPECT_EQ(si.ssi_int, 1234);
}

CASE(signalfd_child_exit_reported_through_epoll) {
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGCHLD);
    EXPECT_OK(sigprocmask(SIG_BLOCK, &m, NULL));
    int fd = signalfd(-1, &m, SFD_NONBLOCK), ep = epoll_create1(0);
    EXPECT_OK(add(ep, fd, EPOLLIN, 1));
    pid_t pid = fork();
    if (pid == 0) _exit(7);
    struct epoll_event ev[1];
    EXPECT_EQ(epoll_wait(ep, ev, 1, 5000), 1);
    struct signalfd_siginfo si;
    EXPECT_EQ(read(fd, &si, sizeof si), sizeof si);
    EXPECT_EQ(si.ssi_signo, SIGCHLD);
    EXPECT_EQ(si.ssi_pid, pid);
    EXPECT_EQ(si.ssi_code, CLD_EXITED);
    EXPECT_EQ(si.ssi_status, 7);
    waitpid(pid, NULL, 0);
}

CASE(signalfd_interest_dropped_by_another_process_leaves_no_stale_watcher) {
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    EXPECT_OK(sigprocmask(SIG_BLOCK, &m, NULL));
    int sfd = signalfd(-1, &m, SFD_NONBLOCK), ep = epoll_create1(0);
    EXPECT_OK(add(ep, sfd, EPOLLIN, 1));
    pid_t pid = fork();
    if (pid == 0) { usleep(100000); _exit(0); } /* its exit drops the last reference */
    EXPECT_OK(close(sfd));
    EXPECT_EQ(waitpid(pid, NULL, 0), pid);
    EXPECT_OK(kill(getpid(), SIGUSR1)); /* wakes the process's signal queue */
    struct epoll_event ev[1];
    EXPECT_EQ(epoll_wait(ep, ev, 1, 50), 0);
}

/* ---- pidfd ---- */

static int pidfd_open_(pid_t pid, unsigned flags) { return (int)syscall(434, pid, flags); }

CASE(pidfd_polls_readable_when_child_exits_and_waitid_takes_it) {
    pid_t pid = fork();
    if (pid == 0) { usleep(50000); _exit(5); }
    int pfd = pidfd_open_(pid, 0);
    EXPECT(pfd >= 0);
    EXPECT(fcntl(pfd, F_GETFD) & FD_CLOEXEC);
    struct pollfd p = {pfd, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 0);
    EXPECT_EQ(poll(&p, 1, 5000), 1);
    EXPECT_EQ(p.revents, POLLIN);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    EXPECT_OK(waitid(P_PIDFD, pfd, &si, WEXITED));
    EXPECT_EQ(si.si_pid, pid);
    EXPECT_EQ(si.si_status, 5);
}

CASE(pidfd_send_signal_kills_the_process) {
    pid_t pid = fork();
    if (pid == 0) { pause(); _exit(0); }
    int pfd = pidfd_open_(pid, 0);
    EXPECT_OK(syscall(424 /* pidfd_send_signal */, pfd, SIGKILL, NULL, 0));
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    EXPECT_ERRNO(syscall(424, pfd, SIGKILL, NULL, 0), ESRCH);
    EXPECT_ERRNO(syscall(424, pfd, SIGKILL, NULL, 0x80), EINVAL); /* no such flag */
}

/* pidfd_send_signal checks as kill does, after the siginfo: a zombie still takes (and drops)
 * a signal, a reaped process is ESRCH; a bad signal number is EINVAL only once the siginfo
 * was read (EFAULT first); another user's process takes SIGCONT from its own session only. */
CASE(pidfd_send_signal_checks_its_target_as_kill_does) {
    pid_t pid = fork();
    if (pid == 0) _exit(3);
    int pfd = pidfd_open_(pid, 0);
    EXPECT(pfd >= 0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    EXPECT_OK(waitid(P_PID, pid, &si, WEXITED | WNOWAIT)); /* a zombie now */
    EXPECT_OK(syscall(424, pfd, SIGTERM, NULL, 0));
    EXPECT_OK(syscall(424, pfd, 0, NULL, 0));
    EXPECT_ERRNO(syscall(424, pfd, 99, (void *)8, 0), EFAULT);
    EXPECT_ERRNO(syscall(424, pfd, 99, NULL, 0), EINVAL);
    EXPECT_ERRNO(syscall(424, pfd, -1, NULL, 0), EINVAL);
    EXPECT_EQ(wait_status(pid), 3);
    EXPECT_ERRNO(syscall(424, pfd, 0, NULL, 0), ESRCH);
    EXPECT_ERRNO(syscall(424, pfd, 99, NULL, 0), ESRCH); /* the process first */
    close(pfd);

    /* A root process in this session, signalled by a process of another user. */
    int sync[2];
    EXPECT_OK(pipe(sync));
    pid_t root = fork();
    if (root == 0) {
        char b;
        signal(SIGCONT, SIG_IGN);
        ssize_t r = read(sync[0], &b, 1);
        (void)r;
        _exit(0);
    }
    int rfd = pidfd_open_(root, 0);
    pid_t other = fork();
    if (other == 0) {
        if (setresuid(65534, 65534, 65534) != 0) _exit(1);
        if (syscall(424, rfd, SIGTERM, NULL, 0) != -1 || errno != EPERM) _exit(2);
        if (syscall(424, rfd, 0, NULL, 0) != -1 || errno != EPERM) _exit(3);
        if (syscall(424, rfd, SIGCONT, NULL, 0) != 0) _exit(4);
        int self = (int)syscall(434, getpid(), 0);
        if (syscall(424, self, 0, NULL, 0) != 0) _exit(5);
        if (setsid() < 0) _exit(6);
        if (syscall(424, rfd, SIGCONT, NULL, 0) != -1 || errno != EPERM) _exit(7); /* another session now */
        _exit(0);
    }
    EXPECT_EQ(wait_status(other), 0);
    EXPECT_EQ(write(sync[1], "x", 1), 1);
    EXPECT_EQ(wait_status(root), 0);
}

CASE(pidfd_send_signal_accepts_a_proc_pid_directory_fd) {
    pid_t pid = fork();
    if (pid == 0) { pause(); _exit(0); }
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", pid);
    int dfd = open(path, O_DIRECTORY | O_RDONLY);
    EXPECT(dfd >= 0);
    EXPECT_OK(syscall(424 /* pidfd_send_signal */, dfd, SIGKILL, NULL, 0));
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    int other = open("/proc", O_DIRECTORY | O_RDONLY);
    EXPECT_ERRNO(syscall(424, other, SIGKILL, NULL, 0), EBADF);
}

CASE(pidfd_getfd_copies_a_descriptor_of_the_target) {
    int p[2];
    EXPECT_OK(pipe(p));
    int pfd = pidfd_open_(getpid(), 0);
    int copy = (int)syscall(438 /* pidfd_getfd */, pfd, p[1], 0);
    EXPECT(copy >= 0);
    EXPECT(fcntl(copy, F_GETFD) & FD_CLOEXEC);
    EXPECT_EQ(write(copy, "g", 1), 1);
    char c;
    EXPECT_EQ(read(p[0], &c, 1), 1);
    EXPECT_ERRNO(syscall(438, pfd, 999, 0), EBADF);
    EXPECT_ERRNO(syscall(438, pfd, p[1], 1), EINVAL);
}

CASE(pidfd_open_errors_follow_linux) {
    EXPECT_ERRNO(pidfd_open_(0, 0), EINVAL);
    EXPECT_ERRNO(pidfd_open_(getpid(), 0x1), EINVAL);
    EXPECT_ERRNO(pidfd_open_(4000000, 0), ESRCH);
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_ERRNO(syscall(424, p[0], SIGKILL, NULL, 0), EBADF);
}

/* ---- inotify ---- */

/* Reads events into buf until none is left; returns the bytes read. */
static ssize_t drain(int fd, char *buf, size_t size) {
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t total = 0;
    while (poll(&p, 1, 200) == 1) {
        ssize_t n = read(fd, buf + total, size - total);
        if (n <= 0) break;
        total += n;
    }
    return total;
}

/* The masks of the events in buf, in order, as a string like "100:a 2:a 8:a". */
static void describe(char *out, size_t outsize, const char *buf, ssize_t n) {
    out[0] = 0;
    for (ssize_t off = 0; off < n;) {
        const struct inotify_event *e = (const void *)(buf + off);
        char one[96];
        snprintf(one, sizeof one, "%s%x:%s", out[0] ? " " : "", e->mask, e->len ? e->name : "");
        strncat(out, one, outsize - strlen(out) - 1);
        off += sizeof *e + e->len;
    }
}

CASE(inotify_reports_create_modify_close_and_delete_in_a_directory) {
    mkdir("/tmp/compat-inotify", 0700);
    int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    EXPECT(fd >= 0);
    int wd = inotify_add_watch(fd, "/tmp/compat-inotify", IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE);
    EXPECT(wd > 0);
    int f = open("/tmp/compat-inotify/a", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    EXPECT_EQ(write(f, "x", 1), 1);
    EXPECT_OK(close(f));
    EXPECT_OK(unlink("/tmp/compat-inotify/a"));
    char buf[4096], text[512];
    ssize_t n = drain(fd, buf, sizeof buf);
    describe(text, sizeof text, buf, n);
    EXPECT_STREQ(text, "100:a 2:a 8:a 200:a");
    rmdir("/tmp/compat-inotify");
}

/* A directory watch with IN_EXCL_UNLINK hears nothing more of a child once it is unlinked
 * (a write through an fd still open), though it hears the unlink itself; one without it
 * goes on hearing the child. */
CASE(inotify_excl_unlink_drops_events_of_an_unlinked_child) {
    int plain = inotify_init1(IN_NONBLOCK), excl = inotify_init1(IN_NONBLOCK);
    EXPECT(inotify_add_watch(plain, ".", IN_MODIFY | IN_DELETE) > 0);
    EXPECT(inotify_add_watch(excl, ".", IN_MODIFY | IN_DELETE | IN_EXCL_UNLINK) > 0);
    int f = open("child", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    EXPECT_EQ(write(f, "1", 1), 1);
    EXPECT_OK(unlink("child"));
    EXPECT_EQ(write(f, "2", 1), 1);
    EXPECT_OK(close(f));
    char buf[4096], text[512];
    describe(text, sizeof text, buf, drain(plain, buf, sizeof buf));
    EXPECT_STREQ(text, "2:child 200:child 2:child");
    describe(text, sizeof text, buf, drain(excl, buf, sizeof buf));
    EXPECT_STREQ(text, "2:child 200:child");
}

CASE(inotify_rename_pairs_moved_from_and_to_by_cookie) {
    mkdir("/tmp/compat-inotify-mv", 0700);
    int fd = inotify_init1(IN_NONBLOCK);
    EXPECT(inotify_add_watch(fd, "/tmp/compat-inotify-mv", IN_MOVE) > 0);
    close(open("/tmp/compat-inotify-mv/old", O_WRONLY | O_CREAT, 0600));
    EXPECT_OK(rename("/tmp/compat-inotify-mv/old", "/tmp/compat-inotify-mv/new"));
    char buf[4096];
    ssize_t n = drain(fd, buf, sizeof buf);
    EXPECT(n > 0);
    struct inotify_event *a = (void *)buf;
    struct inotify_event *b = (void *)(buf + sizeof *a + a->len);
    EXPECT_EQ(a->mask, IN_MOVED_FROM);
    EXPECT_STREQ(a->name, "old");
    EXPECT_EQ(b->mask, IN_MOVED_TO);
    EXPECT_STREQ(b->name, "new");
    EXPECT(a->cookie != 0 && a->cookie == b->cookie);
    unlink("/tmp/compat-inotify-mv/new");
    rmdir("/tmp/compat-inotify-mv");
}

CASE(inotify_watch_on_file_sees_attrib_and_delete_self_then_ignored) {
    int f = open("/tmp/compat-inotify-f", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    close(f);
    int fd = inotify_init1(IN_NONBLOCK);
    int wd = inotify_add_watch(fd, "/tmp/compat-inotify-f", IN_ATTRIB | IN_DELETE_SELF);
    EXPECT_OK(chmod("/tmp/compat-inotify-f", 0644));
    EXPECT_OK(unlink("/tmp/compat-inotify-f"));
    char buf[4096], text[512];
    ssize_t n = drain(fd, buf, sizeof buf);
    describe(text, sizeof text, buf, n);
    /* chmod's and unlink's IN_ATTRIB (merged: identical and consecutive), the inode going,
     * then the watch removed */
    EXPECT_STREQ(text, "4: 400: 8000:");
    EXPECT_ERRNO(inotify_rm_watch(fd, wd), EINVAL);
}

CASE(inotify_directory_self_events_mark_isdir_only_on_attrib) {
    mkdir("/tmp/compat-inotify-d", 0700);
    mkdir("/tmp/compat-inotify-d/sub", 0700);
    close(open("/tmp/compat-inotify-d/f", O_WRONLY | O_CREAT | O_TRUNC, 0600));
    close(open("/tmp/compat-inotify-d/g", O_WRONLY | O_CREAT | O_TRUNC, 0600));
    int fd = inotify_init1(IN_NONBLOCK);
    EXPECT(inotify_add_watch(fd, "/tmp/compat-inotify-d/sub", IN_ALL_EVENTS) > 0);
    EXPECT(inotify_add_watch(fd, "/tmp/compat-inotify-d/g", IN_ALL_EVENTS) > 0);
    EXPECT_OK(chmod("/tmp/compat-inotify-d/sub", 0755));
    EXPECT_OK(rename("/tmp/compat-inotify-d/sub", "/tmp/compat-inotify-d/sub2"));
    EXPECT_OK(rmdir("/tmp/compat-inotify-d/sub2"));
    /* g is replaced by a rename: its link count changes, then it goes */
    EXPECT_OK(rename("/tmp/compat-inotify-d/f", "/tmp/compat-inotify-d/g"));
    char buf[4096], text[512];
    ssize_t n = drain(fd, buf, sizeof buf);
    describe(text, sizeof text, buf, n);
    /* IN_ISDIR on the directory's own IN_ATTRIB, not on IN_MOVE_SELF or IN_DELETE_SELF;
     * rmdir reports no IN_ATTRIB */
    EXPECT_STREQ(text, "40000004: 800: 400: 8000: 4: 400: 8000:");
    unlink("/tmp/compat-inotify-d/g");
    rmdir("/tmp/compat-inotify-d");
}

CASE(inotify_unlink_reports_attrib_and_delete_self_before_the_directory_sees_delete) {
    mkdir("/tmp/compat-inotify-u", 0700);
    close(open("/tmp/compat-inotify-u/f", O_WRONLY | O_CREAT | O_TRUNC, 0600));
    int fd = inotify_init1(IN_NONBLOCK);
    EXPECT(inotify_add_watch(fd, "/tmp/compat-inotify-u/f", IN_ATTRIB | IN_DELETE_SELF) > 0);
    EXPECT(inotify_add_watch(fd, "/tmp/compat-inotify-u", IN_DELETE) > 0);
    EXPECT_OK(unlink("/tmp/compat-inotify-u/f"));
    char buf[4096], text[512];
    ssize_t n = drain(fd, buf, sizeof buf);
    describe(text, sizeof text, buf, n);
    /* Linux's d_delete: the inode goes before the directory hears of it */
    EXPECT_STREQ(text, "4: 400: 8000: 200:f");
    rmdir("/tmp/compat-inotify-u");
}

CASE(inotify_attrib_changes_reach_the_directory_with_the_name) {
    mkdir("/tmp/compat-inotify-p", 0700);
    mkdir("/tmp/compat-inotify-p/sub", 0700);
    close(open("/tmp/compat-inotify-p/f", O_WRONLY | O_CREAT | O_TRUNC, 0600));
    int fd = inotify_init1(IN_NONBLOCK);
    EXPECT(inotify_add_watch(fd, "/tmp/compat-inotify-p", IN_ATTRIB) > 0);
    EXPECT(inotify_add_watch(fd, "/tmp/compat-inotify-p/f", IN_ATTRIB) > 0);
    EXPECT_OK(chmod("/tmp/compat-inotify-p/sub", 0755));
    EXPECT_OK(chmod("/tmp/compat-inotify-p/f", 0644));
    int f = open("/tmp/compat-inotify-p/f", O_RDONLY);
    EXPECT_OK(fchown(f, getuid(), getgid()));
    EXPECT_OK(futimens(f, NULL));
    char buf[4096], text[512];
    ssize_t n = drain(fd, buf, sizeof buf);
    describe(text, sizeof text, buf, n);
    /* the directory hears first, with the name, then the file's own watch; through a
     * descriptor too (events merge only with the queue's last, so none do here) */
    EXPECT_STREQ(text, "40000004:sub 4:f 4: 4:f 4: 4:f 4:");
    close(f);
    unlink("/tmp/compat-inotify-p/f");
    rmdir("/tmp/compat-inotify-p/sub");
    rmdir("/tmp/compat-inotify-p");
}

CASE(inotify_errors_and_same_inode_same_wd) {
    int fd = inotify_init1(0);
    EXPECT_ERRNO(inotify_init1(0x1), EINVAL);
    EXPECT_ERRNO(inotify_add_watch(fd, "/tmp", 0), EINVAL);
    EXPECT_ERRNO(inotify_add_watch(fd, "/nonexistent-path", IN_ALL_EVENTS), ENOENT);
    EXPECT_ERRNO(inotify_add_watch(fd, "/proc/self/exe", IN_ALL_EVENTS | IN_ONLYDIR), ENOTDIR);
    int w1 = inotify_add_watch(fd, "/tmp", IN_CREATE);
    int w2 = inotify_add_watch(fd, "/tmp/.", IN_DELETE);
    EXPECT_EQ(w1, w2);
    EXPECT_ERRNO(inotify_add_watch(fd, "/tmp", IN_CREATE | IN_MASK_CREATE), EEXIST);
    EXPECT_OK(inotify_rm_watch(fd, w1));
    EXPECT_ERRNO(inotify_rm_watch(fd, w1), EINVAL);
    char small[4];
    int nb = inotify_init1(IN_NONBLOCK);
    EXPECT_ERRNO(read(nb, small, sizeof small), EAGAIN);
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_ERRNO(inotify_add_watch(p[0], "/tmp", IN_CREATE), EINVAL);
}

CASE(inotify_blocking_read_wakes_on_event_from_another_process) {
    mkdir("/tmp/compat-inotify-b", 0700);
    int fd = inotify_init1(0);
    EXPECT(inotify_add_watch(fd, "/tmp/compat-inotify-b", IN_CREATE) > 0);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(50000);
        close(open("/tmp/compat-inotify-b/made", O_WRONLY | O_CREAT, 0600));
        _exit(0);
    }
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf);
    EXPECT(n >= (ssize_t)sizeof(struct inotify_event));
    struct inotify_event *e = (void *)buf;
    EXPECT_EQ(e->mask, IN_CREATE);
    EXPECT_STREQ(e->name, "made");
    int q = 0;
    EXPECT_OK(ioctl(fd, FIONREAD, &q));
    EXPECT_EQ(q, 0);
    waitpid(pid, NULL, 0);
    unlink("/tmp/compat-inotify-b/made");
    rmdir("/tmp/compat-inotify-b");
}

/* ---- dnotify (fcntl F_NOTIFY) ---- */

static volatile sig_atomic_t dnotify_hits;
static void dnotify_handler(int sig) { (void)sig; dnotify_hits++; }

CASE(f_notify_signals_sigio_for_changes_in_the_directory) {
    char dir[] = "/tmp/compat-dnotifyXXXXXX";
    EXPECT(mkdtemp(dir) != NULL);
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    EXPECT(d >= 0);
    install(SIGIO, dnotify_handler, 0);
    /* The 64-bit DN_MULTISHOT flag must be accepted (it does not fit an int). */
    EXPECT_OK(fcntl(d, F_NOTIFY, DN_CREATE | DN_DELETE | DN_MULTISHOT));
    char path[64];
    snprintf(path, sizeof path, "%s/f", dir);
    int f = open(path, O_CREAT | O_WRONLY, 0600);
    EXPECT(f >= 0);
    for (int i = 0; i < 100 && dnotify_hits == 0; i++) usleep(10000);
    EXPECT(dnotify_hits >= 1);
    int before = dnotify_hits;
    EXPECT_OK(unlink(path));
    for (int i = 0; i < 100 && dnotify_hits == before; i++) usleep(10000);
    EXPECT(dnotify_hits > before);
    EXPECT_OK(rmdir(dir));
    int reg = open("/proc/self/exe", O_RDONLY);
    EXPECT_ERRNO(fcntl(reg, F_NOTIFY, DN_CREATE), ENOTDIR);
}

/* With F_SETSIG, each watch's signal names its own fd in si_fd, with si_code POLL_MSG and
 * si_band POLLIN|POLLRDNORM|POLLMSG: a change to a subdirectory reaches a watch on it and
 * one on its parent (LTP fcntl38). */
CASE(f_notify_with_f_setsig_names_each_watchs_fd_in_si_fd) {
    EXPECT_OK(mkdir("sub", 0700));
    int parent = open(".", O_RDONLY | O_DIRECTORY), sub = open("sub", O_RDONLY | O_DIRECTORY);
    EXPECT(parent >= 0 && sub >= 0);
    sigset_t rt;
    sigemptyset(&rt);
    sigaddset(&rt, SIGRTMIN + 1);
    EXPECT_OK(sigprocmask(SIG_BLOCK, &rt, NULL));
    for (int i = 0; i < 2; i++) {
        int fd = i ? sub : parent;
        EXPECT_OK(fcntl(fd, F_SETSIG, SIGRTMIN + 1));
        EXPECT_OK(fcntl(fd, F_NOTIFY, DN_ATTRIB | DN_MULTISHOT));
    }
    EXPECT_OK(chmod("sub", 0755));
    int seen_parent = 0, seen_sub = 0;
    struct timespec wait = {2, 0};
    for (int i = 0; i < 2; i++) {
        siginfo_t si;
        EXPECT_EQ(sigtimedwait(&rt, &si, &wait), SIGRTMIN + 1);
        EXPECT_EQ(si.si_code, POLL_MSG);
        EXPECT_EQ(si.si_band, POLLIN | POLLRDNORM | POLLMSG);
        if (si.si_fd == parent) seen_parent++;
        else if (si.si_fd == sub) seen_sub++;
        else EXPECT(!"si_fd names neither watched fd");
    }
    EXPECT_EQ(seen_parent, 1);
    EXPECT_EQ(seen_sub, 1);
}

/* DN_RENAME is a rename within the directory; a move from one watched directory to another
 * is a deletion from the first and a creation in the second (LTP fcntl39). */
static int dnotify_fd_signalled(sigset_t *set) {
    siginfo_t si;
    struct timespec wait = {0, 200000000};
    return sigtimedwait(set, &si, &wait) < 0 ? -1 : si.si_fd;
}

CASE(f_notify_rename_is_within_the_directory_and_a_move_is_delete_and_create) {
    EXPECT_OK(mkdir("sub", 0700));
    close(open("f", O_CREAT | O_WRONLY, 0600));
    int parent = open(".", O_RDONLY | O_DIRECTORY), sub = open("sub", O_RDONLY | O_DIRECTORY);
    sigset_t rt;
    sigemptyset(&rt);
    sigaddset(&rt, SIGRTMIN + 2);
    EXPECT_OK(sigprocmask(SIG_BLOCK, &rt, NULL));
    for (int i = 0; i < 2; i++) {
        EXPECT_OK(fcntl(i ? sub : parent, F_SETSIG, SIGRTMIN + 2));
        EXPECT_OK(fcntl(i ? sub : parent, F_NOTIFY, DN_RENAME | DN_MULTISHOT));
    }
    EXPECT_OK(rename("f", "sub/f"));            /* out of one, into the other: no DN_RENAME */
    EXPECT_EQ(dnotify_fd_signalled(&rt), -1);
    EXPECT_OK(rename("sub/f", "sub/g"));        /* within sub */
    EXPECT_EQ(dnotify_fd_signalled(&rt), sub);
    EXPECT_EQ(dnotify_fd_signalled(&rt), -1);
    EXPECT_OK(rename("sub", "sub2"));           /* sub itself, within the parent */
    EXPECT_EQ(dnotify_fd_signalled(&rt), parent);
    EXPECT_EQ(dnotify_fd_signalled(&rt), -1);
    EXPECT_OK(fcntl(parent, F_NOTIFY, DN_CREATE | DN_DELETE | DN_MULTISHOT));
    EXPECT_OK(fcntl(sub, F_NOTIFY, DN_CREATE | DN_MULTISHOT));
    EXPECT_OK(rename("sub2/g", "g"));           /* a move out of sub: a creation here */
    EXPECT_EQ(dnotify_fd_signalled(&rt), parent);
    EXPECT_EQ(dnotify_fd_signalled(&rt), -1);   /* sub asked for creations only */
}

CASE(epoll_nests_at_most_five_deep) {
    /* Linux's EPOLL_MAX_NESTS: a chain of five epolls over a pipe is fine, a sixth ELOOP. */
    int p[2];
    EXPECT_OK(pipe(p));
    int inner = p[0], eps[6];
    for (int i = 0; i < 5; i++) {
        eps[i] = epoll_create1(0);
        struct epoll_event e = {.events = EPOLLIN, .data.fd = inner};
        EXPECT_OK(epoll_ctl(eps[i], EPOLL_CTL_ADD, inner, &e));
        inner = eps[i];
    }
    eps[5] = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = inner};
    EXPECT_ERRNO(epoll_ctl(eps[5], EPOLL_CTL_ADD, inner, &e), ELOOP);
    /* The epolls above count too: y watches x, and x over four of the chain makes six. */
    int x = epoll_create1(0), y = epoll_create1(0);
    struct epoll_event ex = {.events = EPOLLIN, .data.fd = x};
    EXPECT_OK(epoll_ctl(y, EPOLL_CTL_ADD, x, &ex));
    struct epoll_event e3 = {.events = EPOLLIN, .data.fd = eps[3]};
    EXPECT_ERRNO(epoll_ctl(x, EPOLL_CTL_ADD, eps[3], &e3), ELOOP);
    struct epoll_event e2 = {.events = EPOLLIN, .data.fd = eps[2]};
    EXPECT_OK(epoll_ctl(x, EPOLL_CTL_ADD, eps[2], &e2)); /* five */
}

/* ---- what every anonymous file is (anon_inodefs) ---- */

/* One of each event file, non-blocking, and a name for the failure message. */
static int anonymous_files(int fds[5]) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    fds[0] = eventfd(0, EFD_NONBLOCK);
    fds[1] = epoll_create1(0);
    fds[2] = signalfd(-1, &s, SFD_NONBLOCK);
    fds[3] = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    fds[4] = inotify_init1(IN_NONBLOCK);
    for (int i = 0; i < 5; i++) EXPECT(fds[i] >= 0);
    return 5;
}

CASE(anonymous_files_have_no_file_type) {
    int fds[5], n = anonymous_files(fds);
    for (int i = 0; i < n; i++) {
        struct stat st;
        EXPECT_OK(fstat(fds[i], &st));
        EXPECT_EQ(st.st_mode, 0600); /* no S_IFMT bits at all */
        EXPECT_EQ(st.st_nlink, 1);
        EXPECT_EQ(st.st_size, 0);
    }
}

/* anon_inode_setattr (Linux 6.15 on): nothing changes an anonymous inode's attributes,
 * which all event files share; user.* attributes are only for files and directories. */
CASE(anonymous_files_refuse_attribute_changes) {
    int fds[5], n = anonymous_files(fds);
    for (int i = 0; i < n; i++) {
        EXPECT_ERRNO(fchmod(fds[i], 0644), EOPNOTSUPP);
        EXPECT_ERRNO(fchown(fds[i], 0, 0), EOPNOTSUPP);
        EXPECT_ERRNO(futimens(fds[i], NULL), EOPNOTSUPP);
        EXPECT_ERRNO(fsetxattr(fds[i], "user.x", "a", 1, 0), EPERM);
        EXPECT_ERRNO(fgetxattr(fds[i], "user.x", NULL, 0), ENODATA);
        struct stat st;
        EXPECT_OK(fstat(fds[i], &st));
        EXPECT_EQ(st.st_mode, 0600);
    }
}

/* noop_llseek: a seek succeeds and goes nowhere; nothing maps, preallocates or syncs. */
CASE(anonymous_files_seek_nowhere_and_cannot_be_mapped) {
    int fds[5], n = anonymous_files(fds);
    for (int i = 0; i < n; i++) {
        EXPECT_EQ(lseek(fds[i], 5, SEEK_SET), 0);
        EXPECT_EQ(lseek(fds[i], 0, SEEK_END), 0);
        EXPECT_ERRNO(lseek(fds[i], 0, 7), EINVAL);
        char b[8];
        EXPECT_ERRNO(pread(fds[i], b, 8, 0), ESPIPE);
        EXPECT(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fds[i], 0) == MAP_FAILED);
        EXPECT_EQ(errno, ENODEV);
        EXPECT(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fds[i], 0) == MAP_FAILED);
        EXPECT_EQ(errno, ENODEV);
        EXPECT_ERRNO(sync_file_range(fds[i], 0, 0, 0), ESPIPE);
        EXPECT_ERRNO(ftruncate(fds[i], 10), EINVAL);
        EXPECT_ERRNO(fsync(fds[i]), EINVAL);
    }
    /* The eventfd is writable: fallocate gets past EBADF to the file's type. */
    EXPECT_ERRNO(fallocate(fds[0], 0, 0, 10), ENODEV);
    EXPECT_ERRNO(fallocate(fds[4], 0, 0, 10), EBADF); /* inotify is read-only */
}

/* No event file has splice_read or splice_write: EINVAL, even when data is there. */
CASE(event_files_cannot_be_spliced_or_sent) {
    int ev = eventfd(3, EFD_NONBLOCK), p[2];
    EXPECT(ev >= 0);
    EXPECT_OK(pipe(p));
    EXPECT_ERRNO(splice(ev, NULL, p[1], NULL, 8, SPLICE_F_NONBLOCK), EINVAL);
    EXPECT_ERRNO(sendfile(p[1], ev, NULL, 8), EINVAL);
    uint64_t one = 1;
    EXPECT_EQ(write(p[1], &one, 8), 8);
    EXPECT_ERRNO(splice(p[0], NULL, ev, NULL, 8, SPLICE_F_NONBLOCK), EINVAL);
    uint64_t got = 0;
    EXPECT_EQ(read(ev, &got, 8), 8);
    EXPECT_EQ(got, 3);
}

/* The lines after ino: in /proc/self/fdinfo/N, which CRIU and lsof read. */
static void fdinfo_tail(int fd, char *out, size_t size) {
    char path[64], text[2048];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    EXPECT(slurp(path, text, sizeof text) > 0);
    char *ino = strstr(text, "\nino:");
    EXPECT(ino != NULL);
    char *rest = strchr(ino + 1, '\n');
    EXPECT(rest != NULL);
    snprintf(out, size, "%s", rest + 1);
}

CASE(event_files_describe_themselves_in_fdinfo) {
    char got[2048], want[512];
    int ev = eventfd(26, EFD_SEMAPHORE);
    EXPECT(ev >= 0);
    fdinfo_tail(ev, got, sizeof got);
    int id = -1;
    EXPECT_EQ(sscanf(got, "eventfd-count:                1a\neventfd-id: %d\neventfd-semaphore: 1\n", &id), 1);
    EXPECT(id >= 0);

    int ep = epoll_create1(0);
    EXPECT_OK(add(ep, ev, EPOLLIN | EPOLLET, 0xabcdef));
    struct stat st;
    EXPECT_OK(fstat(ev, &st));
    fdinfo_tail(ep, got, sizeof got);
    snprintf(want, sizeof want, "tfd: %8d events: %8x data: %16llx  pos:0 ino:%lx sdev:",
             ev, EPOLLIN | EPOLLET | EPOLLERR | EPOLLHUP, 0xabcdefULL, (unsigned long)st.st_ino);
    EXPECT(strncmp(got, want, strlen(want)) == 0);

    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec its = {.it_interval = {3, 500}, .it_value = {100, 0}};
    EXPECT_OK(timerfd_settime(tfd, 0, &its, NULL));
    fdinfo_tail(tfd, got, sizeof got);
    long long vs, vn, is, in;
    EXPECT_EQ(sscanf(got, "clockid: 1\nticks: 0\nsettime flags: 00\nit_value: (%lld, %lld)\nit_interval: (%lld, %lld)\n",
                     &vs, &vn, &is, &in), 4);
    EXPECT(vs == 99 || vs == 100);
    EXPECT_EQ(is, 3);
    EXPECT_EQ(in, 500);

    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGRTMIN + 1);
    int sfd = signalfd(-1, &s, 0);
    fdinfo_tail(sfd, got, sizeof got);
    snprintf(want, sizeof want, "sigmask:\t%016llx\n", (1ULL << (SIGUSR1 - 1)) | (1ULL << (SIGRTMIN + 1 - 1)));
    EXPECT_STREQ(got, want);

    int pfd = syscall(SYS_pidfd_open, getpid(), 0);
    EXPECT(pfd >= 0);
    fdinfo_tail(pfd, got, sizeof got);
    snprintf(want, sizeof want, "Pid:\t%d\nNSpid:\t%d\n", getpid(), getpid());
    EXPECT_STREQ(got, want);
}

/* pidfs (Linux 6.9 on): every pidfd of a process is one inode, whose number names the
 * process even after it is reaped; reopening a pidfd through /proc gives another. */
#ifndef PIDFS_MAGIC
#define PIDFS_MAGIC 0x50494446
#endif
CASE(pidfds_of_one_process_share_an_inode_on_pidfs) {
    int a = syscall(SYS_pidfd_open, getpid(), 0), b = syscall(SYS_pidfd_open, getpid(), 0);
    EXPECT(a >= 0 && b >= 0);
    pid_t child = fork();
    if (child == 0) { pause(); _exit(0); }
    int c = syscall(SYS_pidfd_open, child, 0);
    EXPECT(c >= 0);
    struct stat sa, sb, sc;
    EXPECT_OK(fstat(a, &sa));
    EXPECT_OK(fstat(b, &sb));
    EXPECT_OK(fstat(c, &sc));
    EXPECT_EQ(sa.st_ino, sb.st_ino);
    EXPECT(sa.st_ino != sc.st_ino);
    EXPECT_EQ(sa.st_dev, sc.st_dev);
    EXPECT_EQ(sa.st_mode, 0700);
    struct statfs fs;
    EXPECT_OK(fstatfs(a, &fs));
    EXPECT_EQ(fs.f_type, PIDFS_MAGIC);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", c);
    int again = open(path, O_RDWR);
    EXPECT(again >= 0);
    struct stat sr;
    EXPECT_OK(fstat(again, &sr));
    EXPECT_EQ(sr.st_ino, sc.st_ino);
    EXPECT_OK(syscall(SYS_pidfd_send_signal, again, SIGKILL, NULL, 0));
    EXPECT_EQ(waitpid(child, NULL, 0), child);
    EXPECT_OK(fstat(c, &sr));
    EXPECT_EQ(sr.st_ino, sc.st_ino);
}

COMPAT_MAIN()

CASE(inotify_instances_are_bounded_per_user_as_proc_says) {
    char text[32];
    EXPECT(slurp("/proc/sys/fs/inotify/max_user_instances", text, sizeof text) > 0);
    int limit = atoi(text);
    EXPECT(limit > 0 && limit < 100000);
    EXPECT(slurp("/proc/sys/fs/inotify/max_user_watches", text, sizeof text) > 0);
    EXPECT(atoi(text) >= 8192);
    struct rlimit rl = {limit + 64, limit + 64};
    EXPECT_OK(setrlimit(RLIMIT_NOFILE, &rl));
    int made = 0, fd;
    while ((fd = inotify_init1(IN_CLOEXEC)) >= 0) made++;
    EXPECT_EQ(errno, EMFILE);
    EXPECT(made >= 1 && made <= limit); /* other processes of this user may hold some */
}

CASE(pidfd_nonblock_makes_waitid_eagain_while_the_child_runs) {
    int go[2];
    EXPECT_OK(pipe(go));
    pid_t pid = fork();
    if (pid == 0) { char c; close(go[1]); read(go[0], &c, 1); _exit(7); }
    int pfd = pidfd_open_(pid, O_NONBLOCK /* PIDFD_NONBLOCK */);
    EXPECT(pfd >= 0);
    siginfo_t si;
    EXPECT_ERRNO(waitid(P_PIDFD, pfd, &si, WEXITED), EAGAIN);
    EXPECT_OK(waitid(P_PIDFD, pfd, &si, WEXITED | WNOHANG)); /* asked not to wait: 0 */
    EXPECT_EQ(write(go[1], "x", 1), 1);
    struct pollfd p = {pfd, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 5000), 1);
    memset(&si, 0, sizeof si);
    EXPECT_OK(waitid(P_PIDFD, pfd, &si, WEXITED));
    EXPECT_EQ(si.si_status, 7);
}

/* A directory of its own: a one-shot watch on /tmp itself ends (and leaves fdinfo) as soon
 * as anything else on the machine changes a file there. */
CASE(inotify_fdinfo_lists_each_watch) {
    char dir[] = "/tmp/compat-fdinfo-XXXXXX";
    EXPECT(mkdtemp(dir) != NULL);
    int fd = inotify_init1(0);
    int wd = inotify_add_watch(fd, dir, IN_MODIFY | IN_ONESHOT | IN_ONLYDIR);
    EXPECT(wd > 0);
    struct stat st;
    EXPECT_OK(stat(dir, &st));
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    EXPECT(slurp(path, text, sizeof text) > 0);
    char *line = strstr(text, "inotify wd:");
    EXPECT(line != NULL);
    unsigned w, mask;
    unsigned long ino;
    EXPECT_EQ(sscanf(line, "inotify wd:%x ino:%lx sdev:%*x mask:%x", &w, &ino, &mask), 3);
    EXPECT_EQ(w, wd);
    EXPECT_EQ(ino, st.st_ino);
    EXPECT_EQ(mask, IN_MODIFY | IN_ONESHOT);
    close(fd);
    EXPECT_OK(rmdir(dir));
}

/* TFD_IOC_SET_TICKS (CHECKPOINT_RESTORE): a restorer sets the count the next read returns. */
#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t) /* linux/timerfd.h, not in glibc's */
#endif
CASE(timerfd_set_ticks_sets_what_the_next_read_returns) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    EXPECT(fd >= 0);
    uint64_t ticks = 5, got = 0;
    EXPECT_OK(ioctl(fd, TFD_IOC_SET_TICKS, &ticks));
    struct pollfd p = { fd, POLLIN, 0 };
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_EQ(read(fd, &got, sizeof got), 8);
    EXPECT_EQ(got, 5);
    EXPECT_ERRNO(read(fd, &got, sizeof got), EAGAIN);
    ticks = 0;
    EXPECT_ERRNO(ioctl(fd, TFD_IOC_SET_TICKS, &ticks), EINVAL);
    EXPECT_ERRNO(ioctl(fd, TFD_IOC_SET_TICKS, (void *)8), EFAULT);
    EXPECT_ERRNO(ioctl(fd, FIONREAD, &ticks), ENOTTY);
    close(fd);
}
