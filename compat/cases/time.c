/* Time: clocks, sleeps, alarms, interval timers, process times. */
#include "../compat.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <signal.h>
#include <poll.h>
#include <sys/ipc.h>
#include <sys/select.h>
#include <sys/sem.h>

static volatile sig_atomic_t hits;
static void count_handler(int sig) { (void)sig; hits++; }


static int64_t ns_of(struct timespec t) { return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec; }
static int64_t now_ns(clockid_t c) {
    struct timespec t;
    if (clock_gettime(c, &t) != 0) compat_fail(__FILE__, __LINE__, "clock_gettime: %s", strerror(errno));
    return ns_of(t);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void check_clock(clockid_t c) {
    struct timespec t = {-1, -1};
    errno = 0;
    if (clock_gettime(c, &t) != 0) compat_fail(__FILE__, __LINE__, "clock_gettime(%d): %s", (int)c, strerror(errno));
    if (t.tv_sec < 0 || t.tv_nsec < 0 || t.tv_nsec >= 1000000000L)
        compat_fail(__FILE__, __LINE__, "clock %d gave {%lld, %ld}", (int)c, (long long)t.tv_sec, t.tv_nsec);
}

/* ---- clock_gettime ---- */

CASE(clock_gettime_realtime_succeeds) {
    check_clock(CLOCK_REALTIME);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    EXPECT(t.tv_sec > 1600000000); /* after September 2020 */
}
CASE(clock_gettime_monotonic_succeeds) { check_clock(CLOCK_MONOTONIC); }
CASE(clock_gettime_monotonic_raw_succeeds) { check_clock(CLOCK_MONOTONIC_RAW); }
CASE(clock_gettime_realtime_coarse_succeeds) { check_clock(CLOCK_REALTIME_COARSE); }
CASE(clock_gettime_monotonic_coarse_succeeds) { check_clock(CLOCK_MONOTONIC_COARSE); }
CASE(clock_gettime_boottime_succeeds) { check_clock(CLOCK_BOOTTIME); }
CASE(clock_gettime_process_cputime_succeeds) { check_clock(CLOCK_PROCESS_CPUTIME_ID); }
CASE(clock_gettime_thread_cputime_succeeds) { check_clock(CLOCK_THREAD_CPUTIME_ID); }

CASE(clock_monotonic_never_goes_backwards) {
    int64_t prev = now_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < 20000; i++) {
        int64_t t = now_ns(CLOCK_MONOTONIC);
        EXPECT(t >= prev);
        prev = t;
    }
}

CASE(clock_boottime_not_behind_monotonic) {
    int64_t m = now_ns(CLOCK_MONOTONIC);
    int64_t b = now_ns(CLOCK_BOOTTIME);
    EXPECT(b >= m);
}

CASE(clock_process_cputime_advances_with_work) {
    int64_t t0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    int64_t start = now_ns(CLOCK_MONOTONIC);
    volatile uint64_t x = 0;
    /* Spin for about 20 ms of wall time. */
    while (now_ns(CLOCK_MONOTONIC) - start < 20000000LL)
        for (int i = 0; i < 1000; i++) x += i;
    int64_t t1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    EXPECT(t1 > t0);
}

CASE(clock_gettime_invalid_clock_is_einval) {
    struct timespec t;
    EXPECT_ERRNO(clock_gettime((clockid_t)1000, &t), EINVAL);
    EXPECT_ERRNO(syscall(SYS_clock_gettime, 1000, &t), EINVAL);
}

CASE(clock_gettime_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)1), EFAULT);
    EXPECT_ERRNO(syscall(SYS_clock_gettime, CLOCK_REALTIME, (void *)1), EFAULT);
}

/* ---- clock_getres ---- */

CASE(clock_getres_monotonic_is_positive_and_small) {
    struct timespec r = {-1, -1};
    EXPECT_OK(clock_getres(CLOCK_MONOTONIC, &r));
    EXPECT_EQ(r.tv_sec, 0);
    EXPECT(r.tv_nsec > 0);
    EXPECT(r.tv_nsec < 1000000000L);
    EXPECT_OK(clock_getres(CLOCK_REALTIME, NULL)); /* a NULL result is allowed */
}

CASE(clock_getres_coarse_not_finer_than_monotonic) {
    struct timespec fine, coarse;
    EXPECT_OK(clock_getres(CLOCK_MONOTONIC, &fine));
    EXPECT_OK(clock_getres(CLOCK_MONOTONIC_COARSE, &coarse));
    EXPECT(ns_of(coarse) >= ns_of(fine));
    EXPECT(ns_of(coarse) < 1000000000LL);
}

/* The coarse clocks advance once a tick (1 to 10 ms for HZ 1000 to 100) and say so. */
CASE(clock_getres_coarse_clocks_report_a_tick) {
    struct timespec r;
    EXPECT_OK(clock_getres(CLOCK_REALTIME_COARSE, &r));
    EXPECT(r.tv_sec == 0 && r.tv_nsec >= 1000000 && r.tv_nsec <= 10000000);
    EXPECT_OK(clock_getres(CLOCK_MONOTONIC_COARSE, &r));
    EXPECT(r.tv_sec == 0 && r.tv_nsec >= 1000000 && r.tv_nsec <= 10000000);
}

CASE(clock_tai_reads_and_is_not_behind_realtime) {
    struct timespec r;
    EXPECT_OK(clock_getres(CLOCK_TAI, &r));
    EXPECT_EQ(r.tv_nsec, 1);
    int64_t real = now_ns(CLOCK_REALTIME);
    int64_t tai = now_ns(CLOCK_TAI);
    /* TAI is REALTIME plus the kernel's TAI offset (0 until set, 37 s on a host that sets it). */
    EXPECT(tai >= real && tai - real < 60 * 1000000000LL);
}

CASE(clock_getres_invalid_clock_is_einval) {
    struct timespec r;
    EXPECT_ERRNO(clock_getres((clockid_t)1000, &r), EINVAL);
}

/* ---- gettimeofday and time ---- */

CASE(gettimeofday_agrees_with_clock_realtime) {
    struct timeval tv;
    EXPECT_OK(gettimeofday(&tv, NULL));
    EXPECT(tv.tv_usec >= 0 && tv.tv_usec < 1000000);
    int64_t g = (int64_t)tv.tv_sec * 1000000000LL + (int64_t)tv.tv_usec * 1000;
    int64_t r = now_ns(CLOCK_REALTIME);
    EXPECT(r - g > -1000000000LL && r - g < 1000000000LL);
}

CASE(time_agrees_with_clock_realtime) {
    time_t stored = 0;
    time_t t = time(&stored);
    EXPECT(t != (time_t)-1);
    EXPECT_EQ(stored, t);
    struct timespec r;
    EXPECT_OK(clock_gettime(CLOCK_REALTIME, &r));
    EXPECT(r.tv_sec - t >= -1 && r.tv_sec - t <= 1);
    EXPECT(time(NULL) >= t);
}

/* ---- nanosleep and clock_nanosleep ---- */

CASE(nanosleep_sleeps_at_least_requested_time) {
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    struct timespec req = {0, 50000000L};
    EXPECT_OK(nanosleep(&req, NULL));
    int64_t dt = now_ns(CLOCK_MONOTONIC) - t0;
    EXPECT(dt >= 50000000LL);
    EXPECT(dt < 5000000000LL);
}

CASE(nanosleep_zero_returns_at_once) {
    struct timespec req = {0, 0};
    EXPECT_EQ(nanosleep(&req, NULL), 0);
}

CASE(nanosleep_nsec_too_large_is_einval) {
    struct timespec req = {0, 1000000000L};
    EXPECT_ERRNO(nanosleep(&req, NULL), EINVAL);
}

CASE(nanosleep_negative_nsec_is_einval) {
    struct timespec req = {0, -1};
    EXPECT_ERRNO(nanosleep(&req, NULL), EINVAL);
}

CASE(nanosleep_negative_sec_is_einval) {
    struct timespec req = {-1, 0};
    EXPECT_ERRNO(nanosleep(&req, NULL), EINVAL);
}

CASE(nanosleep_interrupted_returns_eintr_and_remaining_time) {
    install(SIGUSR1, count_handler, SA_RESTART); /* nanosleep is not restarted even so */
    pid_t parent = getpid();
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) {
        for (int i = 0; i < 200; i++) {
            sleep_ms(30);
            if (kill(parent, SIGUSR1) != 0) break;
        }
        _exit(0);
    }
    struct timespec req = {5, 0}, rem = {-1, -1};
    EXPECT_ERRNO(nanosleep(&req, &rem), EINTR);
    EXPECT(hits >= 1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    EXPECT(rem.tv_sec >= 2 && rem.tv_sec <= 5);
    EXPECT(rem.tv_nsec >= 0 && rem.tv_nsec < 1000000000L);
    EXPECT(ns_of(rem) < ns_of(req));
}

CASE(clock_nanosleep_abstime_sleeps_until_deadline) {
    struct timespec t;
    EXPECT_OK(clock_gettime(CLOCK_MONOTONIC, &t));
    int64_t deadline = ns_of(t) + 50000000LL;
    t.tv_sec = deadline / 1000000000LL;
    t.tv_nsec = deadline % 1000000000LL;
    EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL), 0);
    EXPECT(now_ns(CLOCK_MONOTONIC) >= deadline);
}

CASE(clock_nanosleep_abstime_in_past_returns_at_once) {
    struct timespec t = {1, 0}; /* long ago */
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL), 0);
    EXPECT(now_ns(CLOCK_MONOTONIC) - t0 < 3000000000LL);
}

CASE(clock_nanosleep_relative_realtime) {
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    struct timespec req = {0, 20000000L};
    EXPECT_EQ(clock_nanosleep(CLOCK_REALTIME, 0, &req, NULL), 0);
    EXPECT(now_ns(CLOCK_MONOTONIC) - t0 >= 20000000LL);
}

CASE(clock_nanosleep_errors_are_returned_not_errno) {
    struct timespec bad = {0, 1000000000L}, ok = {0, 1000};
    EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL), EINVAL);
    EXPECT_EQ(clock_nanosleep((clockid_t)1000, 0, &ok, NULL), EINVAL);
    EXPECT_EQ(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ok, NULL), EINVAL); /* glibc's word for it */
    /* The system call: clocks without a sleep are EOPNOTSUPP (before the time is read), the
     * caller's own thread clock EINVAL; flag bits past TIMER_ABSTIME are ignored. */
    EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &ok, NULL), EOPNOTSUPP);
    EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, (void *)8, NULL), EOPNOTSUPP);
    EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC_RAW, 0, &ok, NULL), EOPNOTSUPP);
    EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_REALTIME_COARSE, 0, &ok, NULL), EOPNOTSUPP);
    EXPECT_ERRNO(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC_COARSE, 0, &ok, NULL), EOPNOTSUPP);
    clockid_t own;
    EXPECT_EQ(pthread_getcpuclockid(pthread_self(), &own), 0);
    EXPECT_ERRNO(syscall(SYS_clock_nanosleep, own, 0, &ok, NULL), EINVAL);
    EXPECT_OK(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 2, &ok, NULL));
    EXPECT_OK(syscall(SYS_clock_nanosleep, CLOCK_TAI, 0, &ok, NULL));
    struct timespec tai;
    EXPECT_OK(clock_gettime(CLOCK_TAI, &tai));
    EXPECT_OK(syscall(SYS_clock_nanosleep, CLOCK_TAI, TIMER_ABSTIME, &tai, NULL)); /* already past */
}

/* ---- alarm ---- */

CASE(alarm_returns_previous_remaining_seconds) {
    alarm(0); /* drop the harness's timeout */
    EXPECT_EQ(alarm(100), 0);
    unsigned prev = alarm(50);
    EXPECT(prev >= 99 && prev <= 100);
    prev = alarm(0);
    EXPECT(prev >= 49 && prev <= 50);
    EXPECT_EQ(alarm(0), 0);
    alarm(10);
}

CASE(alarm_delivers_sigalrm) {
    install(SIGALRM, count_handler, 0);
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    alarm(1);
    while (hits == 0) {
        if (now_ns(CLOCK_MONOTONIC) - t0 > 5000000000LL) compat_fail(__FILE__, __LINE__, "no SIGALRM within 5 s");
        pause();
    }
    EXPECT(now_ns(CLOCK_MONOTONIC) - t0 >= 900000000LL);
    EXPECT_EQ(alarm(0), 0); /* it is spent */
    alarm(10);
}

CASE(alarm_default_action_kills_child) {
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) {
        signal(SIGALRM, SIG_DFL);
        alarm(1);
        for (;;) pause();
    }
    int st = 0;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFSIGNALED(st));
    EXPECT_EQ(WTERMSIG(st), SIGALRM);
}

/* ---- times ---- */

CASE(times_returns_increasing_tick_count) {
    long hz = sysconf(_SC_CLK_TCK);
    EXPECT(hz > 0);
    struct tms a, b;
    clock_t t0 = times(&a);
    EXPECT(t0 != (clock_t)-1);
    sleep_ms(100);
    clock_t t1 = times(&b);
    EXPECT(t1 != (clock_t)-1);
    EXPECT(t1 > t0);
    EXPECT(b.tms_utime >= a.tms_utime);
    EXPECT(b.tms_stime >= a.tms_stime);
    EXPECT(times(NULL) != (clock_t)-1);
}

CASE(times_counts_reaped_children) {
    pid_t pid = fork();
    EXPECT(pid >= 0);
    if (pid == 0) {
        struct timespec s, n;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &s);
        volatile uint64_t x = 0;
        do {
            for (int i = 0; i < 10000; i++) x += i;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &n);
        } while (ns_of(n) - ns_of(s) < 100000000LL); /* 100 ms of CPU */
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    struct tms t;
    EXPECT(times(&t) != (clock_t)-1);
    EXPECT(t.tms_cutime + t.tms_cstime > 0);
}

/* ---- interval timers ---- */

CASE(getitimer_real_reflects_alarm) {
    alarm(5);
    struct itimerval v;
    EXPECT_OK(getitimer(ITIMER_REAL, &v));
    EXPECT(v.it_value.tv_sec >= 3 && v.it_value.tv_sec <= 5);
    EXPECT_EQ(v.it_interval.tv_sec, 0);
    EXPECT_EQ(v.it_interval.tv_usec, 0);
    alarm(10);
}

CASE(getitimer_virtual_is_initially_zero) {
    struct itimerval v;
    memset(&v, 0xff, sizeof v);
    EXPECT_OK(getitimer(ITIMER_VIRTUAL, &v));
    EXPECT_EQ(v.it_value.tv_sec, 0);
    EXPECT_EQ(v.it_value.tv_usec, 0);
}

CASE(setitimer_real_delivers_sigalrm) {
    install(SIGALRM, count_handler, 0);
    struct itimerval v = {{0, 0}, {0, 50000}};
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    EXPECT_OK(setitimer(ITIMER_REAL, &v, NULL));
    struct itimerval cur;
    EXPECT_OK(getitimer(ITIMER_REAL, &cur));
    EXPECT_EQ(cur.it_value.tv_sec, 0);
    EXPECT(cur.it_value.tv_usec > 0 && cur.it_value.tv_usec <= 50000);
    while (hits == 0) {
        if (now_ns(CLOCK_MONOTONIC) - t0 > 5000000000LL) compat_fail(__FILE__, __LINE__, "no SIGALRM within 5 s");
        pause();
    }
    EXPECT(now_ns(CLOCK_MONOTONIC) - t0 >= 45000000LL);
    EXPECT_OK(getitimer(ITIMER_REAL, &cur));
    EXPECT_EQ(cur.it_value.tv_sec, 0);
    EXPECT_EQ(cur.it_value.tv_usec, 0);
    alarm(10);
}

CASE(setitimer_real_interval_repeats) {
    install(SIGALRM, count_handler, 0);
    struct itimerval v = {{0, 20000}, {0, 20000}};
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    EXPECT_OK(setitimer(ITIMER_REAL, &v, NULL));
    while (hits < 3) {
        if (now_ns(CLOCK_MONOTONIC) - t0 > 5000000000LL) compat_fail(__FILE__, __LINE__, "only %d SIGALRMs in 5 s", (int)hits);
        pause();
    }
    struct itimerval off = {{0, 0}, {0, 0}}, old;
    EXPECT_OK(setitimer(ITIMER_REAL, &off, &old));
    EXPECT_EQ(old.it_interval.tv_sec, 0);
    EXPECT_EQ(old.it_interval.tv_usec, 20000);
    EXPECT(now_ns(CLOCK_MONOTONIC) - t0 >= 55000000LL);
    alarm(10);
}

CASE(setitimer_returns_old_value) {
    alarm(0);
    struct itimerval v = {{0, 0}, {100, 0}}, old;
    EXPECT_OK(setitimer(ITIMER_REAL, &v, &old));
    EXPECT_EQ(old.it_value.tv_sec, 0);
    EXPECT_EQ(old.it_value.tv_usec, 0);
    struct itimerval w = {{0, 0}, {200, 0}};
    EXPECT_OK(setitimer(ITIMER_REAL, &w, &old));
    EXPECT(old.it_value.tv_sec >= 98 && old.it_value.tv_sec <= 100);
    alarm(10);
}

CASE(setitimer_invalid_arguments_are_einval) {
    struct itimerval v = {{0, 0}, {0, 1000000}}; /* tv_usec out of range */
    EXPECT_ERRNO(setitimer(ITIMER_REAL, &v, NULL), EINVAL);
    struct itimerval ok = {{0, 0}, {0, 0}};
    EXPECT_ERRNO(setitimer((__itimer_which_t)99, &ok, NULL), EINVAL);
    struct itimerval cur;
    EXPECT_ERRNO(getitimer((__itimer_which_t)99, &cur), EINVAL);
}

/* CPU-time clocks by id: the process's and a thread's (pthread_getcpuclockid), and another
 * process's (clock_getcpuclockid); a thread of another process has none. */
static void *burn_cpu(void *arg) {
    (void)arg;
    volatile unsigned long x = 0;
    for (unsigned long i = 0; i < 20000000UL; i++) x += i;
    return NULL;
}

CASE(cpu_clocks_by_id_for_processes_and_threads) {
    burn_cpu(NULL);
    clockid_t me, thread;
    EXPECT_EQ(clock_getcpuclockid(0, &me), 0);
    struct timespec a, b;
    EXPECT_OK(clock_gettime(me, &a));
    EXPECT(a.tv_sec > 0 || a.tv_nsec > 0);
    EXPECT_EQ(pthread_getcpuclockid(pthread_self(), &thread), 0);
    EXPECT_OK(clock_gettime(thread, &b));
    EXPECT(b.tv_sec > 0 || b.tv_nsec > 0);
    EXPECT_OK(clock_getres(thread, &b));
    pid_t c = fork();
    if (c == 0) { pause(); _exit(0); }
    clockid_t other;
    EXPECT_EQ(clock_getcpuclockid(c, &other), 0);
    EXPECT_OK(clock_gettime(other, &a));
    /* A thread clock naming the child's thread is not ours to read. */
    clockid_t foreign = (clockid_t)((~(unsigned)c << 3) | 4 | 2);
    EXPECT_ERRNO(clock_gettime(foreign, &a), EINVAL);
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    EXPECT_ERRNO(clock_gettime((clockid_t)((~0u << 3) | 3), &a), EINVAL); /* no such clock type */
}

/* clock_settime: the clocks that cannot be set are EINVAL, as is a bad time. */
CASE(clock_settime_of_clocks_that_cannot_be_set_is_einval) {
    struct timespec ts = { 1, 0 };
    EXPECT_ERRNO(clock_settime(CLOCK_MONOTONIC, &ts), EINVAL);
    EXPECT_ERRNO(clock_settime(CLOCK_BOOTTIME, &ts), EINVAL);
    EXPECT_ERRNO(clock_settime(CLOCK_PROCESS_CPUTIME_ID, &ts), EINVAL);
    EXPECT_ERRNO(clock_settime(99, &ts), EINVAL);
    struct timespec bad = { 1, 2000000000 };
    EXPECT_ERRNO(clock_settime(CLOCK_REALTIME, &bad), EINVAL);
    EXPECT_ERRNO(syscall(SYS_clock_settime, CLOCK_REALTIME, (void *)8), EFAULT);
}

/* ---- POSIX timers and sleeps on CPU-time clocks ---- */

static long long cpu_ns(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static volatile int cpu_timer_fired;
static volatile long long cpu_at_signal;
static void on_cpu_timer(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    if (si->si_code == SI_TIMER && si->si_value.sival_int == 77) {
        cpu_at_signal = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
        cpu_timer_fired++;
    }
}

static void cpu_timer_case(clockid_t clock) {
    struct sigaction sa = { 0 };
    sa.sa_sigaction = on_cpu_timer;
    sa.sa_flags = SA_SIGINFO;
    EXPECT_OK(sigaction(SIGUSR2, &sa, NULL));
    struct sigevent ev = { 0 };
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR2;
    ev.sigev_value.sival_int = 77;
    timer_t t;
    EXPECT_OK(timer_create(clock, &ev, &t));
    long long start = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
    struct itimerspec its = { { 0, 0 }, { 0, 60 * 1000 * 1000 } };
    EXPECT_OK(timer_settime(t, 0, &its, NULL));
    struct itimerspec left;
    EXPECT_OK(timer_gettime(t, &left));
    EXPECT(left.it_value.tv_sec == 0 && left.it_value.tv_nsec > 0 && left.it_value.tv_nsec <= 60 * 1000 * 1000);
    /* Sleeping uses no CPU time: the timer does not fire. */
    usleep(150 * 1000);
    EXPECT_EQ(cpu_timer_fired, 0);
    /* Work does; give up after 20 s of wall time. */
    struct timespec w0, w;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    volatile unsigned long spin = 0;
    while (!cpu_timer_fired) {
        for (int i = 0; i < 100000; i++) spin++;
        clock_gettime(CLOCK_MONOTONIC, &w);
        if (w.tv_sec - w0.tv_sec > 20) break;
    }
    EXPECT_EQ(cpu_timer_fired, 1);
    EXPECT(cpu_at_signal - start >= 60 * 1000 * 1000);
    EXPECT_OK(timer_gettime(t, &left));
    EXPECT(left.it_value.tv_sec == 0 && left.it_value.tv_nsec == 0); /* one-shot: disarmed */
    EXPECT_OK(timer_delete(t));
    signal(SIGUSR2, SIG_DFL);
}

CASE(timer_on_the_process_cpu_clock_fires_after_cpu_time_not_wall_time) {
    cpu_timer_case(CLOCK_PROCESS_CPUTIME_ID);
}

CASE(timer_on_the_thread_cpu_clock_fires_after_cpu_time_not_wall_time) {
    cpu_timer_case(CLOCK_THREAD_CPUTIME_ID);
}

static void *burn_cpu_until(void *arg) {
    volatile int *stop = arg;
    volatile unsigned long spin = 0;
    while (!*stop) spin++;
    return NULL;
}

CASE(clock_nanosleep_on_the_process_cpu_clock_waits_for_cpu_time) {
    volatile int stop = 0;
    pthread_t t;
    EXPECT_EQ(pthread_create(&t, NULL, burn_cpu_until, (void *)&stop), 0);
    long long before = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
    struct timespec d = { 0, 50 * 1000 * 1000 };
    EXPECT_EQ(clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 0, &d, NULL), 0);
    EXPECT(cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - before >= 50 * 1000 * 1000);
    /* An absolute time already passed returns at once. */
    struct timespec past = { 0, 1 };
    EXPECT_EQ(clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, TIMER_ABSTIME, &past, NULL), 0);
    stop = 1;
    EXPECT_EQ(pthread_join(t, NULL), 0);
    struct timespec bad = { 0, 1000000000L };
    EXPECT_EQ(clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 0, &bad, NULL), EINVAL);
}

static void interrupt_in_100ms(void) {
    struct sigaction sa = {0};
    sa.sa_handler = count_handler; /* no SA_RESTART: the call ends with EINTR */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

CASE(huge_relative_timeouts_wait_until_interrupted) {
    /* A timeout of ~292 years is valid and must not wrap into one already past. */
    struct timespec huge = {0x7fffffffffffffffL, 0};
    struct timeval hugetv = {0x7fffffffffffffffL, 0};
    interrupt_in_100ms();
    EXPECT_ERRNO(select(0, NULL, NULL, NULL, &hugetv), EINTR);
    interrupt_in_100ms();
    EXPECT_ERRNO(ppoll(NULL, 0, &huge, NULL), EINTR);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    interrupt_in_100ms();
    EXPECT_ERRNO(sigtimedwait(&set, NULL, &huge), EINTR);
    int sem = semget(IPC_PRIVATE, 1, 0600);
    EXPECT(sem >= 0);
    struct sembuf down = {0, -1, 0};
    interrupt_in_100ms();
    EXPECT_ERRNO(semtimedop(sem, &down, 1, &huge), EINTR);
    EXPECT_OK(semctl(sem, 0, IPC_RMID));
}

static void settimeofday_as_nobody(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (syscall(SYS_settimeofday, &tv, NULL) != -1 || errno != EPERM) _exit(1);
    struct timezone tz = {0, 0};
    if (syscall(SYS_settimeofday, NULL, &tz) != -1 || errno != EPERM) _exit(2);
}

CASE(settimeofday_checks_its_arguments_then_needs_cap_sys_time) {
    /* Only calls that fail: natively a root caller would set the host's clock. */
    struct timeval bad = {.tv_sec = 1, .tv_usec = 2000000};
    EXPECT_ERRNO(syscall(SYS_settimeofday, &bad, NULL), EINVAL);
    bad.tv_sec = -1;
    bad.tv_usec = 0;
    EXPECT_ERRNO(syscall(SYS_settimeofday, &bad, NULL), EINVAL);
    EXPECT_ERRNO(syscall(SYS_settimeofday, (void *)8, NULL), EFAULT);
    AS_NOBODY(settimeofday_as_nobody);
}

COMPAT_MAIN()

/* ---- POSIX timers: overruns, SIGEV_THREAD given to the kernel, timer_settime's checks ---- */

static volatile int overrun_seen = -2;
static timer_t overrun_timer;
static void record_overrun(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    if (overrun_seen == -2) overrun_seen = si->si_overrun == timer_getoverrun(overrun_timer) ? si->si_overrun : -3;
    struct itimerspec off = {{0, 0}, {0, 0}};
    timer_settime(overrun_timer, 0, &off, NULL); /* a 1 ns period would flood the process */
}

CASE(timer_overrun_counts_missed_intervals_and_saturates) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = record_overrun;
    sa.sa_flags = SA_SIGINFO;
    EXPECT_OK(sigaction(SIGUSR1, &sa, NULL));
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    EXPECT_OK(timer_create(CLOCK_MONOTONIC, &ev, &overrun_timer));
    /* expired 3 s ago, every nanosecond: billions of intervals missed, reported as INT_MAX */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct itimerspec its = {{0, 1}, {now.tv_sec - 3, now.tv_nsec}};
    EXPECT_OK(timer_settime(overrun_timer, TIMER_ABSTIME, &its, NULL));
    for (int i = 0; i < 200 && overrun_seen == -2; i++) sleep_ms(5);
    EXPECT_OK(timer_delete(overrun_timer));
    EXPECT_EQ(overrun_seen, 2147483647);
    /* 10 ms intervals, the signal blocked for ~100 ms: the one signal reports the others */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    EXPECT_OK(sigprocmask(SIG_BLOCK, &block, NULL));
    timer_t t;
    EXPECT_OK(timer_create(CLOCK_MONOTONIC, &ev, &t));
    struct itimerspec every = {{0, 10000000}, {0, 10000000}};
    EXPECT_OK(timer_settime(t, 0, &every, NULL));
    sleep_ms(105);
    siginfo_t si;
    struct timespec zero = {0, 0};
    EXPECT_EQ(sigtimedwait(&block, &si, &zero), SIGUSR1);
    EXPECT_EQ(si.si_code, SI_TIMER);
    EXPECT(si.si_overrun >= 5 && si.si_overrun <= 12);
    EXPECT_EQ(timer_getoverrun(t), si.si_overrun);
    /* and the timer goes on after it */
    EXPECT_EQ(sigtimedwait(&block, &si, &(struct timespec){1, 0}), SIGUSR1);
    EXPECT(si.si_overrun <= 2);
    EXPECT_OK(timer_delete(t));
}

CASE(timer_create_sigev_thread_is_a_signal_and_settime_checks_in_order) {
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD; /* the raw call: glibc would make its own thread */
    ev.sigev_signo = SIGALRM;
    int id = -1;
    EXPECT_OK(syscall(SYS_timer_create, CLOCK_REALTIME, &ev, &id));
    EXPECT_OK(syscall(SYS_timer_delete, id));
    ev.sigev_signo = 0;
    EXPECT_ERRNO(syscall(SYS_timer_create, CLOCK_REALTIME, &ev, &id), EINVAL);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGALRM;
    EXPECT_OK(syscall(SYS_timer_create, CLOCK_TAI, &ev, &id));
    struct itimerspec old;
    EXPECT_ERRNO(syscall(SYS_timer_settime, id, 0, NULL, &old), EINVAL); /* before anything */
    EXPECT_ERRNO(syscall(SYS_timer_settime, id, 0, (void *)8, &old), EFAULT);
    struct itimerspec bad = {{0, 0}, {0, 1000000000}};
    EXPECT_ERRNO(syscall(SYS_timer_settime, 9999, 0, &bad, NULL), EINVAL);
    struct itimerspec fine = {{0, 0}, {100, 0}};
    EXPECT_ERRNO(syscall(SYS_timer_settime, 9999, 0, &fine, NULL), EINVAL);
    EXPECT_OK(syscall(SYS_timer_settime, id, 0, &fine, NULL));
    EXPECT_OK(syscall(SYS_timer_delete, id));
}

CASE(alarm_clocks_and_timers_are_absent_without_a_real_time_clock_device) {
    /* Linux without an RTC, as this sandbox: the alarm clocks cannot be read or armed */
    struct timespec b;
    if (access("/dev/rtc0", F_OK) == 0 || access("/dev/rtc", F_OK) == 0) {
        EXPECT_OK(clock_gettime(CLOCK_BOOTTIME_ALARM, &b)); /* a machine that has one */
        return;
    }
    EXPECT_ERRNO(clock_gettime(CLOCK_REALTIME_ALARM, &b), EINVAL);
    EXPECT_ERRNO(clock_gettime(CLOCK_BOOTTIME_ALARM, &b), EINVAL);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_NONE;
    timer_t t;
    EXPECT_ERRNO(timer_create(CLOCK_REALTIME_ALARM, &ev, &t), EOPNOTSUPP);
    EXPECT_ERRNO(timer_create(CLOCK_BOOTTIME_ALARM, &ev, &t), EOPNOTSUPP);
}

/* ---- the clock discipline: adjtimex, clock_adjtime (only calls that change nothing: natively
 * a root caller would change the host's clock) ---- */
#include <sys/timex.h>

CASE(adjtimex_reads_the_clock_discipline) {
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    int64_t before = now_ns(CLOCK_REALTIME);
    int state = adjtimex(&tx);
    int64_t after = now_ns(CLOCK_REALTIME);
    EXPECT(state >= TIME_OK && state <= TIME_ERROR);
    EXPECT_EQ(tx.precision, 1);
    EXPECT_EQ(tx.tolerance, 500L << 16); /* 500 ppm */
    EXPECT(tx.tick >= 9000 && tx.tick <= 11000);
    EXPECT(tx.constant >= 0 && tx.constant <= 10);
    EXPECT(tx.maxerror >= 0 && tx.maxerror <= 16000000);
    EXPECT_EQ(tx.status & STA_UNSYNC ? TIME_ERROR : state, state);
    /* The time it reports is the clock's, in micro- or nanoseconds as STA_NANO says. */
    int64_t at = (int64_t)tx.time.tv_sec * 1000000000LL + tx.time.tv_usec * (tx.status & STA_NANO ? 1 : 1000);
    EXPECT(at >= before - 1000 && at <= after);
    /* adjtime(3)'s read: the offset still to slew, nothing changed. */
    struct timex ss = { .modes = ADJ_OFFSET_SS_READ };
    EXPECT(adjtimex(&ss) >= 0);
    /* clock_adjtime on CLOCK_REALTIME is adjtimex. */
    struct timex ct;
    memset(&ct, 0, sizeof ct);
    EXPECT_EQ(clock_adjtime(CLOCK_REALTIME, &ct), state);
    EXPECT_EQ(ct.tick, tx.tick);
    EXPECT_EQ(ct.status, tx.status);
}

static void adjtimex_as_nobody(void) {
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    if (adjtimex(&tx) < 0) _exit(1);          /* reading needs nothing */
    tx.modes = ADJ_MAXERROR;
    if (adjtimex(&tx) != -1 || errno != EPERM) _exit(2);
    tx.modes = ADJ_OFFSET_SINGLESHOT;
    if (adjtimex(&tx) != -1 || errno != EPERM) _exit(3);
    tx.modes = ADJ_OFFSET_SS_READ;             /* adjtime(NULL, &old) */
    if (adjtimex(&tx) < 0) _exit(4);
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_SETOFFSET;
    if (adjtimex(&tx) != -1 || errno != EPERM) _exit(5);
    memset(&tx, 0, sizeof tx);
    if (clock_adjtime(CLOCK_REALTIME, &tx) < 0) _exit(6);
}

CASE(adjtimex_checks_its_modes_then_needs_cap_sys_time) {
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    tx.modes = 0x8000; /* ADJ_ADJTIME without ADJ_OFFSET: not a mode */
    EXPECT_ERRNO(adjtimex(&tx), EINVAL);
    EXPECT_EQ(tx.tai, 0); /* written back as given: nothing of the kernel's leaks */
    EXPECT_EQ(tx.modes, 0x8000);
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_TICK;
    tx.tick = 8999;
    EXPECT_ERRNO(adjtimex(&tx), EINVAL);
    tx.tick = 11001;
    EXPECT_ERRNO(adjtimex(&tx), EINVAL);
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_SETOFFSET;
    tx.time.tv_usec = 1000000;
    EXPECT_ERRNO(adjtimex(&tx), EINVAL);
    tx.modes = ADJ_SETOFFSET | ADJ_NANO;
    tx.time.tv_usec = -1;
    EXPECT_ERRNO(adjtimex(&tx), EINVAL);
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_FREQUENCY;
    tx.freq = (long)(0x7fffffffffffffffLL / 65536000 + 1);
    EXPECT_ERRNO(adjtimex(&tx), EINVAL);
    EXPECT_ERRNO(syscall(SYS_adjtimex, (void *)8), EFAULT);
    AS_NOBODY(adjtimex_as_nobody);
}

CASE(clock_adjtime_adjusts_only_the_realtime_clock) {
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    EXPECT_ERRNO(clock_adjtime(CLOCK_MONOTONIC, &tx), EOPNOTSUPP);
    EXPECT_ERRNO(clock_adjtime(CLOCK_BOOTTIME, &tx), EOPNOTSUPP);
    EXPECT_ERRNO(clock_adjtime(CLOCK_PROCESS_CPUTIME_ID, &tx), EOPNOTSUPP);
    EXPECT_ERRNO(clock_adjtime(10, &tx), EINVAL);
    EXPECT_ERRNO(clock_adjtime(99, &tx), EINVAL);
    EXPECT_ERRNO(syscall(SYS_clock_adjtime, CLOCK_REALTIME, (void *)8), EFAULT);
    EXPECT_ERRNO(syscall(SYS_clock_adjtime, CLOCK_MONOTONIC, (void *)8), EFAULT);
}
