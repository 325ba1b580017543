/* Pseudo-terminals: /dev/ptmx, /dev/pts/N, the line discipline (canonical lines, echo,
 * CR/NL mapping, erase, EOF, ISIG signals, flow control), termios and window-size ioctls,
 * hang-up on either side. */
#include "../compat.h"
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <termios.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

static volatile sig_atomic_t got_signal;
static void note_signal(int sig) { got_signal = sig; }

/* A new unlocked pair: master and slave (O_NOCTTY). */
static void open_pair(int *m, int *s) {
    *m = posix_openpt(O_RDWR | O_NOCTTY);
    if (*m < 0) compat_fail(__FILE__, __LINE__, "posix_openpt: %s", strerror(errno));
    if (grantpt(*m) != 0 || unlockpt(*m) != 0) compat_fail(__FILE__, __LINE__, "grantpt/unlockpt: %s", strerror(errno));
    char *name = ptsname(*m);
    if (!name) compat_fail(__FILE__, __LINE__, "ptsname: %s", strerror(errno));
    *s = open(name, O_RDWR | O_NOCTTY);
    if (*s < 0) compat_fail(__FILE__, __LINE__, "open %s: %s", name, strerror(errno));
}

/* What the fd has now (a non-blocking read after a moment for the data to arrive). */
static ssize_t read_now(int fd, char *buf, size_t n) {
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, 1000);
    return read(fd, buf, n);
}

CASE(ptmx_gives_a_numbered_slave_under_dev_pts) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    EXPECT(m >= 0);
    unsigned n = 99999;
    EXPECT_OK(ioctl(m, TIOCGPTN, &n));
    char want[32];
    snprintf(want, sizeof want, "/dev/pts/%u", n);
    EXPECT_STREQ(ptsname(m), want);
    struct stat st;
    EXPECT_OK(stat(want, &st));
    EXPECT(S_ISCHR(st.st_mode));
    EXPECT_EQ(major(st.st_rdev), 136);
    EXPECT_EQ(minor(st.st_rdev), n);
    EXPECT_OK(fstat(m, &st));
    EXPECT(S_ISCHR(st.st_mode));
    EXPECT(isatty(m));
}

CASE(a_locked_slave_cannot_be_opened) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    EXPECT(m >= 0);
    int locked = -1;
    EXPECT_OK(ioctl(m, TIOCGPTLCK, &locked));
    EXPECT_EQ(locked, 1);
    EXPECT_ERRNO(open(ptsname(m), O_RDWR | O_NOCTTY), EIO);
    EXPECT_OK(unlockpt(m));
    int s = open(ptsname(m), O_RDWR | O_NOCTTY);
    EXPECT(s >= 0);
}

CASE(tiocgptpeer_opens_the_slave) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    EXPECT(m >= 0);
    EXPECT_OK(unlockpt(m));
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    EXPECT(s >= 0);
    EXPECT(isatty(s));
    EXPECT_EQ(fcntl(s, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EXPECT_STREQ(ttyname(s), ptsname(m));
}

CASE(canonical_input_maps_cr_to_nl_and_echoes) {
    int m, s;
    open_pair(&m, &s);
    EXPECT_EQ(write(m, "abc\r", 4), 4);
    char buf[64] = {0};
    EXPECT_EQ(read(s, buf, sizeof buf), 4);
    EXPECT(memcmp(buf, "abc\n", 4) == 0);
    memset(buf, 0, sizeof buf);
    EXPECT_EQ(read_now(m, buf, sizeof buf), 5);
    EXPECT(memcmp(buf, "abc\r\n", 5) == 0);
}

CASE(canonical_read_waits_for_the_line_and_returns_one_line) {
    int m, s;
    open_pair(&m, &s);
    EXPECT_OK(fcntl(s, F_SETFL, O_NONBLOCK));
    EXPECT_EQ(write(m, "ab", 2), 2);
    char buf[64];
    EXPECT_ERRNO(read(s, buf, sizeof buf), EAGAIN);
    EXPECT_EQ(write(m, "\nxy\n", 4), 4);
    EXPECT_EQ(read(s, buf, sizeof buf), 3);
    EXPECT(memcmp(buf, "ab\n", 3) == 0);
    EXPECT_EQ(read(s, buf, 1), 1);
    EXPECT_EQ(buf[0], 'x');
    EXPECT_EQ(read(s, buf, sizeof buf), 2);
    EXPECT(memcmp(buf, "y\n", 2) == 0);
}

CASE(erase_kill_and_eof_edit_the_line) {
    int m, s;
    open_pair(&m, &s);
    EXPECT_EQ(write(m, "abx\177c\n", 6), 6);
    char buf[64];
    EXPECT_EQ(read(s, buf, sizeof buf), 4);
    EXPECT(memcmp(buf, "abc\n", 4) == 0);
    EXPECT_EQ(write(m, "junk\025ok\n", 8), 8);
    EXPECT_EQ(read(s, buf, sizeof buf), 3);
    EXPECT(memcmp(buf, "ok\n", 3) == 0);
    EXPECT_EQ(write(m, "ab\004", 3), 3);
    EXPECT_EQ(read(s, buf, sizeof buf), 2);
    EXPECT(memcmp(buf, "ab", 2) == 0);
    EXPECT_EQ(write(m, "\004", 1), 1);
    EXPECT_EQ(read(s, buf, sizeof buf), 0);
}

CASE(output_maps_nl_to_crnl_unless_opost_is_off) {
    int m, s;
    open_pair(&m, &s);
    EXPECT_EQ(write(s, "x\n", 2), 2);
    char buf[64];
    EXPECT_EQ(read_now(m, buf, sizeof buf), 3);
    EXPECT(memcmp(buf, "x\r\n", 3) == 0);
    struct termios t;
    EXPECT_OK(tcgetattr(s, &t));
    t.c_oflag &= ~OPOST;
    EXPECT_OK(tcsetattr(s, TCSANOW, &t));
    EXPECT_EQ(write(s, "y\n", 2), 2);
    EXPECT_EQ(read_now(m, buf, sizeof buf), 2);
    EXPECT(memcmp(buf, "y\n", 2) == 0);
}

CASE(raw_mode_passes_bytes_and_vmin_zero_returns_at_once) {
    int m, s;
    open_pair(&m, &s);
    struct termios t;
    EXPECT_OK(tcgetattr(s, &t));
    cfmakeraw(&t);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    EXPECT_OK(tcsetattr(s, TCSANOW, &t));
    char buf[64];
    EXPECT_EQ(read(s, buf, sizeof buf), 0);
    EXPECT_EQ(write(m, "a\r\003", 3), 3);
    EXPECT_EQ(read_now(s, buf, sizeof buf), 3);
    EXPECT(memcmp(buf, "a\r\003", 3) == 0);
    EXPECT_OK(fcntl(m, F_SETFL, O_NONBLOCK));
    EXPECT_ERRNO(read(m, buf, sizeof buf), EAGAIN); /* no echo */
}

CASE(default_termios_is_linuxs) {
    int m, s;
    open_pair(&m, &s);
    struct termios t;
    EXPECT_OK(tcgetattr(s, &t));
    EXPECT_EQ(t.c_iflag, ICRNL | IXON);
    EXPECT_EQ(t.c_oflag, OPOST | ONLCR);
    EXPECT_EQ(t.c_lflag, ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN);
    EXPECT_EQ(t.c_cc[VINTR], 3);
    EXPECT_EQ(t.c_cc[VEOF], 4);
    EXPECT_EQ(t.c_cc[VMIN], 1);
    EXPECT_EQ(cfgetospeed(&t), B38400);
}

/* struct termio of <asm/termbits.h>, the System V interface TCGETA and TCSETA use. */
struct old_termio { unsigned short iflag, oflag, cflag, lflag; unsigned char line, cc[8]; };

CASE(tcgeta_and_tcseta_read_and_change_the_low_half_of_termios) {
    int m, s;
    open_pair(&m, &s);
    struct old_termio o;
    EXPECT_OK(ioctl(s, 0x5405 /* TCGETA */, &o));
    EXPECT_EQ(o.iflag, ICRNL | IXON);
    EXPECT_EQ(o.lflag, (ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN) & 0xffff);
    EXPECT_EQ(o.cc[VINTR], 3);
    EXPECT_ERRNO(ioctl(m, 0x5405, (void *)-1), EFAULT);
    EXPECT_ERRNO(ioctl(m, 0x5405, NULL), EFAULT);
    o.lflag &= ~ECHO;
    o.cc[VINTR] = 7;
    EXPECT_OK(ioctl(s, 0x5406 /* TCSETA */, &o));
    struct termios t;
    EXPECT_OK(tcgetattr(s, &t));
    EXPECT_EQ(t.c_lflag & ECHO, 0);
    EXPECT(t.c_lflag & IEXTEN); /* the rest as it was */
    EXPECT_EQ(t.c_cc[VINTR], 7);
    int fd = open("/dev/null", O_RDONLY);
    EXPECT_ERRNO(ioctl(fd, 0x5405, &o), ENOTTY);
}

/* The pipe a session child writes to when it is ready for the parent to act. */
static int ready_fd = -1;
/* The master of a session child's terminal, for a child that opens it again. */
static int ready_fd_master = -1;

/* Forks a session leader whose controlling terminal is m's slave; it runs `body` once
 * the parent may act, and exits with body's result. Returns its pid after it is ready. */
static pid_t session_child(int m, int (*body)(int slave)) {
    int ready[2];
    if (pipe(ready) != 0) compat_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
    pid_t child = fork();
    if (child == 0) {
        setsid();
        int s = open(ptsname(m), O_RDWR); /* a session leader's first terminal: its controlling one */
        if (s < 0) _exit(10);
        if (tcgetpgrp(s) != getpid()) _exit(11);
        ready_fd = ready[1];
        _exit(body(s) ? 0 : 13);
    }
    char c;
    if (read(ready[0], &c, 1) != 1) compat_fail(__FILE__, __LINE__, "the child never got ready");
    return child;
}
static void expect_child_ok(pid_t child) {
    int status;
    EXPECT_EQ(waitpid(child, &status, 0), child);
    EXPECT(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

static int wait_for_signal(int sig) {
    for (int i = 0; i < 500 && !got_signal; i++) usleep(10000);
    return got_signal == sig;
}

static int interrupted(int s) {
    (void)s;
    install(SIGINT, note_signal, 0);
    if (write(ready_fd, "r", 1) != 1) return 0;
    return wait_for_signal(SIGINT);
}

CASE(interrupt_character_signals_the_foreground_group) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    EXPECT(m >= 0);
    EXPECT_OK(unlockpt(m));
    pid_t child = session_child(m, interrupted);
    EXPECT_EQ(write(m, "\003", 1), 1);
    expect_child_ok(child);
    char buf[8];
    EXPECT_EQ(read_now(m, buf, sizeof buf), 2); /* echoed as ^C */
    EXPECT(memcmp(buf, "^C", 2) == 0);
}

static int resized(int s) {
    install(SIGWINCH, note_signal, 0);
    if (write(ready_fd, "r", 1) != 1) return 0;
    if (!wait_for_signal(SIGWINCH)) return 0;
    struct winsize w;
    return ioctl(s, TIOCGWINSZ, &w) == 0 && w.ws_row == 40 && w.ws_col == 132;
}

CASE(window_size_round_trips_and_signals_sigwinch) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    EXPECT(m >= 0);
    EXPECT_OK(unlockpt(m));
    pid_t child = session_child(m, resized);
    struct winsize w = {.ws_row = 40, .ws_col = 132};
    EXPECT_OK(ioctl(m, TIOCSWINSZ, &w));
    expect_child_ok(child);
}

CASE(closing_the_slave_gives_the_master_eio_and_pollhup) {
    int m, s;
    open_pair(&m, &s);
    EXPECT_EQ(write(s, "z", 1), 1);
    EXPECT_OK(close(s));
    char buf[8];
    EXPECT_EQ(read_now(m, buf, sizeof buf), 1); /* what was written first */
    struct pollfd p = {m, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 1000), 1);
    EXPECT(p.revents & POLLHUP);
    EXPECT_ERRNO(read(m, buf, sizeof buf), EIO);
}

CASE(closing_the_master_hangs_up_the_slave) {
    int m, s;
    open_pair(&m, &s);
    EXPECT_OK(close(m));
    char buf[8];
    EXPECT_EQ(read(s, buf, sizeof buf), 0);
    EXPECT_ERRNO(write(s, "x", 1), EIO);
    struct pollfd p = {s, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT(p.revents & POLLHUP);
}

/* vhangup(2) by the session leader hangs up its controlling pseudo-terminal: it gets SIGHUP
 * (caught here), its slave fd reads the end and writes EIO, and the terminal opened again
 * works, as the master does. */
static int hung_up(int s) {
    install(SIGHUP, note_signal, 0);
    if (syscall(SYS_vhangup) != 0) return 0;
    if (!wait_for_signal(SIGHUP)) return 0;
    char buf[8];
    if (read(s, buf, sizeof buf) != 0) return 0;
    if (write(s, "x", 1) != -1 || errno != EIO) return 0;
    int again = open(ptsname(ready_fd_master), O_RDWR | O_NOCTTY);
    if (again < 0 || write(again, "y", 1) != 1) return 0;
    return write(ready_fd, "r", 1) == 1;
}

CASE(vhangup_hangs_up_the_callers_controlling_terminal) {
    pid_t nobody = fork();
    if (nobody == 0) {
        if (setresuid(65534, 65534, 65534) != 0) _exit(1);
        _exit(syscall(SYS_vhangup) == -1 && errno == EPERM ? 0 : 2);
    }
    EXPECT_EQ(wait_status(nobody), 0);
    pid_t alone = fork();
    if (alone == 0) { setsid(); _exit(syscall(SYS_vhangup) == 0 ? 0 : 1); } /* no terminal: nothing to do */
    EXPECT_EQ(wait_status(alone), 0);
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    EXPECT(m >= 0);
    EXPECT_OK(unlockpt(m));
    ready_fd_master = m;
    pid_t child = session_child(m, hung_up);
    expect_child_ok(child);
    char buf[8];
    EXPECT_EQ(read_now(m, buf, sizeof buf), 1);
    EXPECT_EQ(buf[0], 'y');
}

CASE(tcflow_checks_its_action_and_tcooff_stops_output) {
    int m, s;
    open_pair(&m, &s);
    EXPECT_ERRNO(tcflow(s, -1), EINVAL);
    EXPECT_ERRNO(tcflush(s, 7), EINVAL);
    EXPECT_OK(tcflow(s, TCOOFF));
    EXPECT_OK(fcntl(s, F_SETFL, O_NONBLOCK));
    EXPECT_ERRNO(write(s, "x", 1), EAGAIN);
    EXPECT_OK(tcflow(s, TCOON));
    EXPECT_EQ(write(s, "x", 1), 1);
}

CASE(fionread_counts_a_complete_line) {
    int m, s;
    open_pair(&m, &s);
    EXPECT_EQ(write(m, "hello\n", 6), 6);
    struct pollfd p = {s, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 1000), 1);
    int n = -1;
    EXPECT_OK(ioctl(s, FIONREAD, &n));
    EXPECT_EQ(n, 6);
}

CASE(terminal_ioctls_on_a_pipe_are_enotty) {
    int p[2];
    EXPECT_OK(pipe(p));
    struct termios t;
    EXPECT_ERRNO(tcgetattr(p[0], &t), ENOTTY);
    EXPECT(!isatty(p[0]));
}

/* In a mount namespace of its own (so nothing is left on the host natively). */
static void private_mounts(void) {
    EXPECT_OK(unshare(CLONE_NEWNS));
    EXPECT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
}

CASE(a_devpts_mount_is_an_instance_of_its_own_numbered_from_0) {
    pid_t child = fork();
    if (child == 0) {
        private_mounts();
        EXPECT_OK(mkdir("pts", 0755));
        EXPECT_OK(mount("devpts", "pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"));
        struct stat st;
        EXPECT_OK(stat("pts/ptmx", &st));
        EXPECT_EQ(st.st_mode, S_IFCHR | 0666);
        EXPECT_EQ(st.st_ino, 2);
        EXPECT_EQ(st.st_rdev, makedev(5, 2));
        int m = open("pts/ptmx", O_RDWR | O_NOCTTY);
        EXPECT(m >= 0);
        unsigned n = 99;
        EXPECT_OK(ioctl(m, TIOCGPTN, &n));
        EXPECT_EQ(n, 0); /* this instance's first */
        int unlock = 0;
        EXPECT_OK(ioctl(m, TIOCSPTLCK, &unlock));
        EXPECT_OK(stat("pts/0", &st));
        EXPECT_EQ(st.st_mode, S_IFCHR | 0620);
        int s = open("pts/0", O_RDWR | O_NOCTTY);
        EXPECT(s >= 0);
        EXPECT_EQ(write(m, "hi\n", 3), 3);
        char buf[8];
        EXPECT_EQ(read(s, buf, sizeof buf), 3);
        char info[16384];
        EXPECT(slurp("/proc/self/mountinfo", info, sizeof info) > 0);
        EXPECT(strstr(info, " - devpts devpts rw,mode=620,ptmxmode=666") != NULL);
        /* Without options: a ptmx no one may open, slaves for their owner alone. */
        EXPECT_OK(mkdir("pts2", 0755));
        EXPECT_OK(mount("devpts", "pts2", "devpts", 0, NULL));
        EXPECT_OK(stat("pts2/ptmx", &st));
        EXPECT_EQ(st.st_mode, S_IFCHR | 0);
        EXPECT_ERRNO(mount("devpts", "pts2", "devpts", 0, "bogus=1"), EINVAL);
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
}

COMPAT_MAIN()
