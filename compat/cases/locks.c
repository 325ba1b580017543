/* Advisory file locks: POSIX record locks (fcntl F_SETLK/F_SETLKW/F_GETLK, lockf), OFD locks,
 * flock; their owners, conflicts, splitting, release on close and exit, deadlock detection. */
#include "../compat.h"
#include <fcntl.h>
#include <sys/file.h>
#include <time.h>

static int temp_file(void) {
    char path[] = "/tmp/compat-lockXXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) compat_fail(__FILE__, __LINE__, "mkstemp: %s", strerror(errno));
    unlink(path);
    if (ftruncate(fd, 4096) != 0) compat_fail(__FILE__, __LINE__, "ftruncate: %s", strerror(errno));
    return fd;
}

/* A named temporary file (for opening twice), removed at exit of the case. */
static char named[64];
static int named_file(void) {
    strcpy(named, "/tmp/compat-lockXXXXXX");
    int fd = mkstemp(named);
    if (fd < 0) compat_fail(__FILE__, __LINE__, "mkstemp: %s", strerror(errno));
    return fd;
}

static int set_lock(int fd, int cmd, short type, off_t start, off_t len) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &fl);
}

/* In a forked child: F_GETLK for [start, start+len); returns the flock seen (exit code
 * carries the type; the caller passes expectations instead). */
static int child_sees(int fd, short type, off_t start, off_t len, short want_type, pid_t want_pid) {
    pid_t c = fork();
    if (c == 0) {
        struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
        if (fcntl(fd, F_GETLK, &fl) != 0) _exit(10);
        if (fl.l_type != want_type) _exit(11);
        if (want_type != F_UNLCK && fl.l_pid != want_pid) _exit(12);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

/* In a forked child: F_SETLK's result (0, or errno). */
static int child_tries(int fd, short type, off_t start, off_t len) {
    pid_t c = fork();
    if (c == 0) _exit(set_lock(fd, F_SETLK, type, start, len) == 0 ? 0 : errno);
    int st;
    waitpid(c, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

CASE(fcntl_write_lock_is_seen_by_another_process) {
    int fd = temp_file();
    EXPECT_OK(set_lock(fd, F_SETLK, F_WRLCK, 10, 20));
    EXPECT_EQ(child_sees(fd, F_RDLCK, 0, 0, F_WRLCK, getpid()), 0);
    EXPECT_EQ(child_sees(fd, F_RDLCK, 30, 10, F_UNLCK, 0), 0);
    EXPECT_EQ(child_tries(fd, F_RDLCK, 15, 1), EAGAIN);
    EXPECT_EQ(child_tries(fd, F_WRLCK, 30, 5), 0);
}

CASE(fcntl_getlk_reports_the_blocking_range) {
    int fd = temp_file();
    EXPECT_OK(set_lock(fd, F_SETLK, F_WRLCK, 100, 0)); /* to end of file */
    pid_t c = fork();
    if (c == 0) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        if (fcntl(fd, F_GETLK, &fl) != 0) _exit(10);
        _exit(fl.l_type == F_WRLCK && fl.l_whence == SEEK_SET && fl.l_start == 100 && fl.l_len == 0 ? 0 : 11);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

CASE(fcntl_read_locks_are_shared) {
    int fd = temp_file();
    EXPECT_OK(set_lock(fd, F_SETLK, F_RDLCK, 0, 100));
    EXPECT_EQ(child_tries(fd, F_RDLCK, 50, 10), 0);
    EXPECT_EQ(child_tries(fd, F_WRLCK, 50, 10), EAGAIN);
}

CASE(fcntl_own_locks_never_conflict_and_convert) {
    int fd = temp_file();
    EXPECT_OK(set_lock(fd, F_SETLK, F_RDLCK, 0, 100));
    EXPECT_OK(set_lock(fd, F_SETLK, F_WRLCK, 0, 100));
    EXPECT_EQ(child_sees(fd, F_RDLCK, 0, 1, F_WRLCK, getpid()), 0);
    EXPECT_OK(set_lock(fd, F_SETLK, F_RDLCK, 0, 100));
    EXPECT_EQ(child_tries(fd, F_RDLCK, 0, 1), 0);
}

CASE(fcntl_unlock_splits_a_lock) {
    int fd = temp_file();
    EXPECT_OK(set_lock(fd, F_SETLK, F_WRLCK, 0, 100));
    EXPECT_OK(set_lock(fd, F_SETLK, F_UNLCK, 40, 20));
    EXPECT_EQ(child_sees(fd, F_WRLCK, 50, 1, F_UNLCK, 0), 0);
    EXPECT_EQ(child_sees(fd, F_WRLCK, 10, 1, F_WRLCK, getpid()), 0);
    EXPECT_EQ(child_sees(fd, F_WRLCK, 70, 1, F_WRLCK, getpid()), 0);
}

CASE(fcntl_ranges_from_seek_cur_end_and_negative_lengths) {
    int fd = temp_file();
    EXPECT_EQ(lseek(fd, 200, SEEK_SET), 200);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_CUR, .l_start = 0, .l_len = -100};
    EXPECT_OK(fcntl(fd, F_SETLK, &fl)); /* [100, 199] */
    EXPECT_EQ(child_sees(fd, F_RDLCK, 150, 1, F_WRLCK, getpid()), 0);
    EXPECT_EQ(child_sees(fd, F_RDLCK, 200, 1, F_UNLCK, 0), 0);
    struct flock end = {.l_type = F_WRLCK, .l_whence = SEEK_END, .l_start = -10, .l_len = 10};
    EXPECT_OK(fcntl(fd, F_SETLK, &end)); /* [4086, 4095] */
    EXPECT_EQ(child_sees(fd, F_RDLCK, 4090, 1, F_WRLCK, getpid()), 0);
    struct flock bad = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = -10};
    EXPECT_ERRNO(fcntl(fd, F_SETLK, &bad), EINVAL);
    struct flock badtype = {.l_type = 7, .l_whence = SEEK_SET};
    EXPECT_ERRNO(fcntl(fd, F_SETLK, &badtype), EINVAL);
    struct flock badwhence = {.l_type = F_RDLCK, .l_whence = 9};
    EXPECT_ERRNO(fcntl(fd, F_SETLK, &badwhence), EINVAL);
}

CASE(fcntl_ranges_reaching_offset_max_mean_to_the_end) {
    int fd = temp_file();
    struct flock neg = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = -2, .l_len = 1};
    EXPECT_ERRNO(fcntl(fd, F_GETLK, &neg), EINVAL);
    EXPECT_ERRNO(fcntl(fd, F_SETLK, &neg), EINVAL);
    EXPECT_OK(set_lock(fd, F_SETLK, F_WRLCK, 1, INT64_MAX)); /* [1, OFFSET_MAX] */
    EXPECT_OK(set_lock(fd, F_SETLK, F_WRLCK, 0, 1));         /* merges into the whole file */
    pid_t c = fork();
    if (c == 0) {
        struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        if (fcntl(fd, F_GETLK, &fl) != 0) _exit(10);
        _exit(fl.l_type == F_WRLCK && fl.l_start == 0 && fl.l_len == 0 ? 0 : 11);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT_EQ(WEXITSTATUS(st), 0);
    EXPECT_OK(set_lock(fd, F_SETLK, F_UNLCK, 1, INT64_MAX)); /* all but byte 0 */
    EXPECT_EQ(child_tries(fd, F_WRLCK, 5, 0), 0);
    EXPECT_EQ(child_tries(fd, F_WRLCK, 0, 1), EAGAIN);
    struct flock over = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 2, .l_len = INT64_MAX};
    EXPECT_ERRNO(fcntl(fd, F_SETLK, &over), EOVERFLOW);
}

CASE(fcntl_lock_type_needs_the_matching_access_mode) {
    int fd = named_file();
    int ro = open(named, O_RDONLY);
    unlink(named);
    EXPECT(ro >= 0);
    EXPECT_ERRNO(set_lock(ro, F_SETLK, F_WRLCK, 0, 1), EBADF);
    EXPECT_OK(set_lock(ro, F_SETLK, F_RDLCK, 0, 1));
    int wo = dup(fd);
    EXPECT_OK(fcntl(wo, F_SETFL, 0));
    EXPECT_OK(set_lock(fd, F_SETLK, F_WRLCK, 10, 1));
}

CASE(closing_any_fd_of_the_file_drops_the_processes_locks) {
    int fd = named_file();
    int other = open(named, O_RDWR);
    unlink(named);
    EXPECT(other >= 0);
    EXPECT_OK(set_lock(fd, F_SETLK, F_WRLCK, 0, 10));
    EXPECT_EQ(child_tries(fd, F_WRLCK, 0, 1), EAGAIN);
    EXPECT_OK(close(other)); /* a different fd, a different description: the lock still goes */
    EXPECT_EQ(child_tries(fd, F_WRLCK, 0, 1), 0);
}

CASE(fcntl_locks_go_when_the_holder_exits) {
    int fd = temp_file();
    int ready[2], done[2];
    EXPECT_OK(pipe(ready));
    EXPECT_OK(pipe(done));
    pid_t c = fork();
    if (c == 0) {
        if (set_lock(fd, F_SETLK, F_WRLCK, 0, 0) != 0) _exit(1);
        if (write(ready[1], "r", 1) != 1) _exit(2);
        char x;
        if (read(done[0], &x, 1) != 1) _exit(3);
        _exit(0);
    }
    char x;
    EXPECT_EQ(read(ready[0], &x, 1), 1);
    EXPECT_ERRNO(set_lock(fd, F_SETLK, F_WRLCK, 0, 1), EAGAIN);
    EXPECT_EQ(write(done[1], "d", 1), 1);
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT_OK(set_lock(fd, F_SETLK, F_WRLCK, 0, 1));
}

CASE(fcntl_setlkw_waits_for_the_unlock) {
    int fd = temp_file();
    int ready[2];
    EXPECT_OK(pipe(ready));
    pid_t c = fork();
    if (c == 0) {
        if (set_lock(fd, F_SETLK, F_WRLCK, 0, 10) != 0) _exit(1);
        if (write(ready[1], "r", 1) != 1) _exit(2);
        usleep(200000);
        if (set_lock(fd, F_SETLK, F_UNLCK, 0, 10) != 0) _exit(3);
        usleep(200000);
        _exit(0);
    }
    char x;
    EXPECT_EQ(read(ready[0], &x, 1), 1);
    EXPECT_OK(set_lock(fd, F_SETLKW, F_WRLCK, 5, 1));
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

CASE(fcntl_setlkw_that_would_deadlock_is_edeadlk) {
    int fd = temp_file();
    EXPECT_OK(set_lock(fd, F_SETLK, F_WRLCK, 0, 1)); /* we hold byte 0 */
    int ready[2];
    EXPECT_OK(pipe(ready));
    pid_t c = fork();
    if (c == 0) {
        if (set_lock(fd, F_SETLK, F_WRLCK, 1, 1) != 0) _exit(1); /* the child holds byte 1 */
        if (write(ready[1], "r", 1) != 1) _exit(2);
        /* and waits for byte 0; when we get EDEADLK and unlock, it gets it. */
        _exit(set_lock(fd, F_SETLKW, F_WRLCK, 0, 1) == 0 ? 0 : 3);
    }
    char x;
    EXPECT_EQ(read(ready[0], &x, 1), 1);
    usleep(200000); /* the child is waiting */
    EXPECT_ERRNO(set_lock(fd, F_SETLKW, F_WRLCK, 1, 1), EDEADLK);
    EXPECT_OK(set_lock(fd, F_SETLK, F_UNLCK, 0, 1));
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

CASE(lockf_locks_and_tests) {
    int fd = temp_file();
    EXPECT_OK(lockf(fd, F_LOCK, 100));
    pid_t c = fork();
    if (c == 0) _exit(lockf(fd, F_TEST, 10) == -1 && (errno == EACCES || errno == EAGAIN) ? 0 : 1);
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT_EQ(WEXITSTATUS(st), 0);
    EXPECT_OK(lockf(fd, F_ULOCK, 100));
}

CASE(ofd_locks_belong_to_the_open_file_description) {
    int a = named_file();
    int b = open(named, O_RDWR);
    unlink(named);
    EXPECT(b >= 0);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    EXPECT_OK(fcntl(a, F_OFD_SETLK, &fl));
    /* The same process, another description: a conflict. */
    EXPECT_ERRNO(fcntl(b, F_OFD_SETLK, &fl), EAGAIN);
    struct flock q = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1};
    EXPECT_OK(fcntl(b, F_OFD_GETLK, &q));
    EXPECT_EQ(q.l_type, F_WRLCK);
    EXPECT_EQ(q.l_pid, -1);
    /* POSIX locks of the same process conflict with it too. */
    EXPECT_ERRNO(set_lock(b, F_SETLK, F_WRLCK, 0, 1), EAGAIN);
    /* A dup shares the description: closing it keeps the lock; closing the last goes. */
    int a2 = dup(a);
    EXPECT_OK(close(a2));
    EXPECT_ERRNO(fcntl(b, F_OFD_SETLK, &fl), EAGAIN);
    EXPECT_OK(close(a));
    EXPECT_OK(fcntl(b, F_OFD_SETLK, &fl));
    struct flock withpid = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_pid = 1};
    EXPECT_ERRNO(fcntl(b, F_OFD_SETLK, &withpid), EINVAL);
}

CASE(flock_exclusive_and_shared) {
    int a = named_file();
    int b = open(named, O_RDWR);
    unlink(named);
    EXPECT(b >= 0);
    EXPECT_OK(flock(a, LOCK_EX));
    EXPECT_ERRNO(flock(b, LOCK_SH | LOCK_NB), EWOULDBLOCK);
    int a2 = dup(a);
    EXPECT_OK(flock(a2, LOCK_EX | LOCK_NB)); /* the same description already holds it */
    EXPECT_OK(flock(a, LOCK_UN));
    EXPECT_OK(flock(b, LOCK_SH | LOCK_NB));
    EXPECT_OK(flock(a, LOCK_SH | LOCK_NB));
    EXPECT_ERRNO(flock(a, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    EXPECT_ERRNO(flock(a, 0), EINVAL);
    /* flock and fcntl locks do not see each other. */
    EXPECT_OK(set_lock(b, F_SETLK, F_WRLCK, 0, 0));
}

CASE(flock_goes_with_the_last_close_and_is_shared_across_fork) {
    int a = named_file();
    int b = open(named, O_RDWR);
    unlink(named);
    EXPECT_OK(flock(a, LOCK_EX));
    pid_t c = fork();
    if (c == 0) _exit(flock(a, LOCK_EX | LOCK_NB) == 0 ? 0 : 1); /* the inherited description holds it */
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT_EQ(WEXITSTATUS(st), 0);
    EXPECT_ERRNO(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    EXPECT_OK(close(a));
    EXPECT_OK(flock(b, LOCK_EX | LOCK_NB));
}

CASE(flock_waits_for_the_holder) {
    int a = named_file();
    int b = open(named, O_RDWR);
    unlink(named);
    EXPECT_OK(flock(a, LOCK_EX));
    pid_t c = fork();
    if (c == 0) {
        usleep(200000);
        _exit(flock(a, LOCK_UN) == 0 ? 0 : 1);
    }
    EXPECT_OK(close(a)); /* the child's copy still holds it */
    EXPECT_OK(flock(b, LOCK_EX));
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

/* ---- leases (F_SETLEASE, F_GETLEASE) ---- */

static void lease_as_nobody(void) {
    int fd = open(named, O_RDONLY);
    if (fd < 0) _exit(1);
    if (fcntl(fd, F_SETLEASE, F_RDLCK) != -1 || errno != EACCES) _exit(2);
    _exit(0);
}

CASE(leases_are_set_read_back_and_refused_as_linux_refuses_them) {
    int w = named_file();
    EXPECT_OK(fchmod(w, 0644));
    int r = open(named, O_RDONLY);
    EXPECT(r >= 0);
    /* A read lease needs nobody writing: the O_RDWR fd from mkstemp is open. */
    EXPECT_ERRNO(fcntl(r, F_SETLEASE, F_RDLCK), EAGAIN);
    EXPECT_ERRNO(fcntl(w, F_SETLEASE, F_RDLCK), EAGAIN);
    close(w);
    EXPECT_OK(fcntl(r, F_SETLEASE, F_RDLCK));
    EXPECT_EQ(fcntl(r, F_GETLEASE), F_RDLCK);
    EXPECT_ERRNO(fcntl(r, F_SETLEASE, 7), EINVAL);
    /* A write lease needs the file open by this description alone. */
    int r2 = open(named, O_RDONLY);
    EXPECT_ERRNO(fcntl(r, F_SETLEASE, F_WRLCK), EAGAIN);
    EXPECT_EQ(fcntl(r2, F_GETLEASE), F_UNLCK);
    close(r2);
    EXPECT_OK(fcntl(r, F_SETLEASE, F_WRLCK));
    EXPECT_EQ(fcntl(r, F_GETLEASE), F_WRLCK);
    EXPECT_OK(fcntl(r, F_SETLEASE, F_UNLCK));
    EXPECT_EQ(fcntl(r, F_GETLEASE), F_UNLCK);
    EXPECT_ERRNO(fcntl(r, F_SETLEASE, F_UNLCK), EAGAIN); /* none to remove */
    /* Another user's file: EACCES without CAP_LEASE. */
    AS_NOBODY(lease_as_nobody);
    /* Only regular files. */
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_ERRNO(fcntl(p[0], F_SETLEASE, F_RDLCK), EINVAL);
    int d = open("/tmp", O_RDONLY | O_DIRECTORY);
    EXPECT_ERRNO(fcntl(d, F_SETLEASE, F_RDLCK), EINVAL);
    /* The lease goes with its description. */
    EXPECT_OK(fcntl(r, F_SETLEASE, F_WRLCK));
    close(r);
    int again = open(named, O_RDWR | O_NONBLOCK);
    EXPECT(again >= 0);
    unlink(named);
}

static long ms_since(struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

CASE(an_open_breaks_a_write_lease_and_waits_for_the_holder_to_come_down) {
    int w = named_file();
    close(w);
    sigset_t io;
    sigemptyset(&io);
    sigaddset(&io, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &io, NULL);
    int fd = open(named, O_RDONLY);
    EXPECT(fd >= 0);
    EXPECT_OK(fcntl(fd, F_SETSIG, SIGRTMIN + 1));
    EXPECT_OK(fcntl(fd, F_SETLEASE, F_WRLCK));
    pid_t child = fork();
    if (child == 0) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int r = open(named, O_RDONLY); /* waits for the downgrade */
        _exit(r >= 0 && ms_since(&t0) < 20000 ? 0 : 1);
    }
    siginfo_t si;
    struct timespec limit = {.tv_sec = 10};
    EXPECT_EQ(sigtimedwait(&io, &si, &limit), SIGRTMIN + 1);
    EXPECT_EQ(si.si_code, POLL_MSG);
    EXPECT_EQ(si.si_fd, fd);
    EXPECT_EQ(fcntl(fd, F_GETLEASE), F_RDLCK); /* what it must come down to */
    EXPECT_OK(fcntl(fd, F_SETLEASE, F_RDLCK));
    int st;
    EXPECT_EQ(waitpid(child, &st, 0), child);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT_EQ(fcntl(fd, F_GETLEASE), F_RDLCK); /* a reader leaves a read lease */
    unlink(named);
}

/* A new named file opened read-only with a lease of `type` on it, the break signal `sig`
 * blocked (to be taken with sigtimedwait). */
static int leased_file(int sig, int type) {
    close(named_file());
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int fd = open(named, O_RDONLY);
    if (fd < 0 || fcntl(fd, F_SETLEASE, type) != 0) compat_fail(__FILE__, __LINE__, "lease: %s", strerror(errno));
    return fd;
}

CASE(a_writer_breaks_a_lease_and_the_holder_cannot_keep_a_read_lease) {
    int fd = leased_file(SIGIO, F_WRLCK);
    sigset_t io;
    sigemptyset(&io);
    sigaddset(&io, SIGIO);
    /* O_NONBLOCK: EWOULDBLOCK at once, and the break has begun. */
    EXPECT_ERRNO(open(named, O_WRONLY | O_NONBLOCK), EWOULDBLOCK);
    siginfo_t si;
    struct timespec limit = {.tv_sec = 10};
    EXPECT_EQ(sigtimedwait(&io, &si, &limit), SIGIO);
    EXPECT_EQ(si.si_code, SI_KERNEL); /* no F_SETSIG: a plain SIGIO */
    EXPECT_EQ(fcntl(fd, F_GETLEASE), F_UNLCK);
    pid_t child = fork();
    if (child == 0) {
        int r = open(named, O_RDWR); /* counted as a writer while it waits */
        _exit(r >= 0 ? 0 : 1);
    }
    /* The waiting writer holds the file open for writing: no read lease beside it. */
    int tries = 0;
    while (fcntl(fd, F_SETLEASE, F_RDLCK) == 0 && tries++ < 200) usleep(10000);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_OK(fcntl(fd, F_SETLEASE, F_UNLCK));
    int st;
    EXPECT_EQ(waitpid(child, &st, 0), child);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(named);
}

CASE(truncate_breaks_a_read_lease) {
    int fd = leased_file(SIGIO, F_RDLCK);
    sigset_t io;
    sigemptyset(&io);
    sigaddset(&io, SIGIO);
    pid_t child = fork();
    if (child == 0) _exit(truncate(named, 10) == 0 ? 0 : 1);
    siginfo_t si;
    struct timespec limit = {.tv_sec = 10};
    EXPECT_EQ(sigtimedwait(&io, &si, &limit), SIGIO);
    EXPECT_OK(fcntl(fd, F_SETLEASE, F_UNLCK));
    int st;
    EXPECT_EQ(waitpid(child, &st, 0), child);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct stat sb;
    EXPECT_OK(fstat(fd, &sb));
    EXPECT_EQ(sb.st_size, 10);
    unlink(named);
}

CASE(a_lease_not_let_go_goes_after_lease_break_time) {
    char old[32] = {0};
    EXPECT(slurp("/proc/sys/fs/lease-break-time", old, sizeof old) > 0);
    int p = open("/proc/sys/fs/lease-break-time", O_WRONLY);
    EXPECT(p >= 0);
    EXPECT_EQ(write(p, "1", 1), 1);
    close(p);
    int w = named_file();
    close(w);
    signal(SIGIO, SIG_IGN);
    int fd = open(named, O_RDONLY);
    EXPECT_OK(fcntl(fd, F_SETLEASE, F_RDLCK));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = open(named, O_WRONLY); /* the holder never answers: the sentry breaks it */
    long waited = ms_since(&t0);
    p = open("/proc/sys/fs/lease-break-time", O_WRONLY);
    EXPECT_EQ(write(p, old, strlen(old)), (long)strlen(old));
    close(p);
    EXPECT(r >= 0);
    EXPECT(waited >= 500 && waited < 10000);
    EXPECT_EQ(fcntl(fd, F_GETLEASE), F_UNLCK);
    unlink(named);
}

COMPAT_MAIN()

CASE(fcntl_getlk_reports_the_conflicting_lock_that_starts_first) {
    int fd = temp_file();
    /* set in this order: the write lock first, the read lock below it after */
    EXPECT_OK(set_lock(fd, F_SETLK, F_WRLCK, 10, 5));
    EXPECT_OK(set_lock(fd, F_SETLK, F_RDLCK, 1, 5));
    pid_t c = fork();
    if (c == 0) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        if (fcntl(fd, F_GETLK, &fl) != 0) _exit(10);
        _exit(fl.l_type == F_RDLCK && fl.l_start == 1 && fl.l_len == 5 ? 0 : 11);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT_EQ(WEXITSTATUS(st), 0);
}
