/* The sandbox's own wall clock, as root in the sandbox (CAP_SYS_TIME): settimeofday,
 * clock_settime and adjtimex move it; what waits for a wall-clock time follows; adjtime and
 * the frequency slew it; a leap second is inserted at midnight. Run only in a sandbox: on
 * the host it would set the host's clock. Each check prints one line; the expected output
 * is what Linux does (kernel/time/ntp.c, timekeeping.c, timerfd.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

static int64_t ns(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* REALTIME minus MONOTONIC: what only a change of the wall clock moves. */
static int64_t wall_offset(void) {
    int64_t m0 = ns(CLOCK_MONOTONIC), r = ns(CLOCK_REALTIME), m1 = ns(CLOCK_MONOTONIC);
    return r - (m0 + (m1 - m0) / 2);
}

static void set_realtime(int64_t t) {
    struct timespec ts = { t / 1000000000LL, t % 1000000000LL };
    if (clock_settime(CLOCK_REALTIME, &ts) != 0) { printf("clock_settime: %s\n", strerror(errno)); exit(1); }
}

static void check(const char *what, int ok) { printf("%s: %s\n", what, ok ? "yes" : "NO"); }

static void *sleeper(void *arg) {
    struct timespec *until = arg;
    clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, until, NULL);
    return NULL;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static void *cond_waiter(void *arg) {
    struct timespec *until = arg;
    pthread_mutex_lock(&lock);
    int r = pthread_cond_timedwait(&cond, &lock, until); /* CLOCK_REALTIME by default */
    pthread_mutex_unlock(&lock);
    return (void *)(intptr_t)r;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A step: every reader of REALTIME sees it, MONOTONIC does not move. */
    int64_t off0 = wall_offset(), mono0 = ns(CLOCK_MONOTONIC);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    tv.tv_sec += 1000;
    check("settimeofday as root", settimeofday(&tv, NULL) == 0);
    int64_t stepped = wall_offset() - off0;
    check("REALTIME moved 1000 s", stepped > 999000000000LL && stepped < 1001000000000LL);
    check("MONOTONIC did not", ns(CLOCK_MONOTONIC) - mono0 < 1000000000LL);
    gettimeofday(&tv, NULL);
    check("gettimeofday and time agree", llabs((int64_t)tv.tv_sec - (int64_t)time(NULL)) <= 1 &&
                                         llabs((int64_t)tv.tv_sec - ns(CLOCK_REALTIME) / 1000000000LL) <= 1);
    check("the system call agrees with the vDSO",
          llabs(syscall(SYS_time, NULL) - (long)time(NULL)) <= 1);
    FILE *f = fopen("stamp", "w");
    fclose(f);
    struct stat st;
    stat("stamp", &st);
    check("a new file's time is the new time", llabs((int64_t)st.st_mtime - ns(CLOCK_REALTIME) / 1000000000LL) <= 1);
    struct timezone tz = { -60, 0 }, got;
    check("settimeofday sets the timezone", settimeofday(NULL, &tz) == 0);
    gettimeofday(&tv, &got);
    check("gettimeofday shows it", got.tz_minuteswest == -60 && got.tz_dsttime == 0);
    syscall(SYS_gettimeofday, &tv, &got);
    check("so does the system call", got.tz_minuteswest == -60);
    tz.tz_minuteswest = 15 * 60 + 1;
    check("a zone past 15 h is EINVAL", settimeofday(NULL, &tz) == -1 && errno == EINVAL);
    struct timespec early = { 0, 0 };
    check("a time before boot is EINVAL", clock_settime(CLOCK_REALTIME, &early) == -1 && errno == EINVAL);

    /* An absolute REALTIME timerfd follows the clock; CANCEL_ON_SET reads ECANCELED once. */
    int tfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
    int cfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
    int64_t now = ns(CLOCK_REALTIME);
    struct itimerspec at = { { 0, 0 }, { (now + 2000000000LL) / 1000000000LL, (now + 2000000000LL) % 1000000000LL } };
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &at, NULL);
    struct itimerspec far = { { 0, 0 }, { now / 1000000000LL + 100000, 0 } };
    timerfd_settime(cfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &far, NULL);
    set_realtime(ns(CLOCK_REALTIME) - 100000000000LL); /* back 100 s */
    struct pollfd p = { tfd, POLLIN, 0 };
    check("back 100 s: the timerfd does not fire in 3 s", poll(&p, 1, 3000) == 0);
    uint64_t count;
    check("the CANCEL_ON_SET timerfd reads ECANCELED", read(cfd, &count, 8) == -1 && errno == ECANCELED);
    check("then EAGAIN", read(cfd, &count, 8) == -1 && errno == EAGAIN);
    set_realtime(ns(CLOCK_REALTIME) + 100000000000LL);
    check("forward again: it fires at once", poll(&p, 1, 1000) == 1 && read(tfd, &count, 8) == 8 && count == 1);

    /* A sleep and a condition wait until a wall-clock time end when the clock reaches it. */
    now = ns(CLOCK_REALTIME);
    struct timespec until = { now / 1000000000LL + 600, 0 };
    pthread_t a, b;
    pthread_create(&a, NULL, sleeper, &until);
    pthread_create(&b, NULL, cond_waiter, &until);
    usleep(300000);
    set_realtime((int64_t)until.tv_sec * 1000000000LL - 100000000000LL); /* nearer, not there */
    usleep(300000);
    int64_t before = ns(CLOCK_MONOTONIC);
    set_realtime((int64_t)until.tv_sec * 1000000000LL + 1000000);
    void *r;
    pthread_join(a, NULL);
    pthread_join(b, &r);
    check("clock_nanosleep(TIMER_ABSTIME) and pthread_cond_timedwait wake when the clock is set past them",
          ns(CLOCK_MONOTONIC) - before < 2000000000LL && (intptr_t)r == ETIMEDOUT);

    /* ADJ_SETOFFSET steps by the offset given. */
    int64_t o = wall_offset();
    struct timex tx = { .modes = ADJ_SETOFFSET | ADJ_NANO };
    tx.time.tv_sec = 5;
    tx.time.tv_usec = 500000000;
    check("adjtimex(ADJ_SETOFFSET)", adjtimex(&tx) >= 0);
    int64_t d = wall_offset() - o;
    check("moved the clock 5.5 s", d > 5490000000LL && d < 5510000000LL);

    /* adjtime slews at 500 µs a second; the frequency moves the clock's rate. */
    o = wall_offset();
    struct timeval delta = { 0, 800 }, left;
    check("adjtime(800 µs)", adjtime(&delta, NULL) == 0);
    usleep(3500000); /* from the next second on, 500 µs a second */
    d = wall_offset() - o;
    check("slewed by it within 3.5 s", d > 700000 && d < 900000);
    adjtime(NULL, &left);
    check("none left", left.tv_sec == 0 && left.tv_usec == 0);
    memset(&tx, 0, sizeof tx);
    adjtimex(&tx);
    long freq = tx.freq;
    o = wall_offset();
    tx.modes = ADJ_FREQUENCY;
    tx.freq = freq + (200L << 16); /* 200 ppm faster */
    check("adjtimex(ADJ_FREQUENCY)", adjtimex(&tx) >= 0);
    usleep(3000000);
    d = wall_offset() - o;
    check("the clock gains 200 µs a second", d > 450000 && d < 750000);
    tx.freq = freq;
    adjtimex(&tx);
    memset(&tx, 0, sizeof tx);
    adjtimex(&tx);
    check("and reports the frequency set", tx.freq == freq);

    /* A leap second: 23:59:60 is 23:59:59 again; the state goes INS, OOP, WAIT. */
    memset(&tx, 0, sizeof tx);
    adjtimex(&tx);
    int tai = tx.tai;
    now = ns(CLOCK_REALTIME) / 1000000000LL;
    int64_t midnight = now + 86400 - now % 86400;
    set_realtime((midnight - 2) * 1000000000LL);
    tx.modes = ADJ_STATUS;
    tx.status = STA_PLL;
    adjtimex(&tx);
    tx.status = 0;
    adjtimex(&tx); /* the PLL off: state TIME_OK, status STA_UNSYNC */
    tx.status = STA_INS;
    int state = adjtimex(&tx);
    check("STA_INS set", state == TIME_ERROR || state == TIME_OK || state == TIME_INS);
    o = wall_offset();
    int seen_ins = 0, seen_oop = 0;
    for (int i = 0; i < 40; i++) {
        memset(&tx, 0, sizeof tx);
        tx.modes = ADJ_STATUS;
        tx.status = STA_INS;
        state = adjtimex(&tx);
        if (state == TIME_INS) seen_ins = 1;
        if (state == TIME_OOP) seen_oop = 1;
        if (tx.time.tv_sec >= midnight + 1) break;
        usleep(100000);
    }
    d = wall_offset() - o;
    check("TIME_INS before midnight, TIME_OOP in the leap second", seen_ins && seen_oop);
    check("the clock went back a second", d < -900000000LL && d > -1100000000LL);
    memset(&tx, 0, sizeof tx);
    adjtimex(&tx);
    check("TAI is a second further from UTC", tx.tai == tai + 1);
    return 0;
}
