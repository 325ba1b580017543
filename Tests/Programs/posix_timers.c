// POSIX timers: a periodic SIGEV_SIGNAL timer (si_code SI_TIMER, si_value), timer_gettime,
// an absolute one-shot, SIGEV_THREAD (glibc's helper thread), and delete.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static volatile int hits, good;
static void on_timer(int sig, siginfo_t *si, void *uc) { hits++; if (si->si_code == SI_TIMER && si->si_value.sival_int == 42) good++; }
static volatile int thread_hits;
static void on_thread(union sigval v) { if (v.sival_int == 7) thread_hits++; }
int main(void) {
    struct sigaction sa; memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_timer; sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGUSR1, &sa, 0);
    struct sigevent ev; memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL; ev.sigev_signo = SIGUSR1; ev.sigev_value.sival_int = 42;
    timer_t t;
    if (timer_create(CLOCK_MONOTONIC, &ev, &t)) { perror("timer_create"); return 1; }
    struct itimerspec its = {{0, 20000000}, {0, 20000000}};
    timer_settime(t, 0, &its, 0);
    while (hits < 5) pause();
    struct itimerspec cur; timer_gettime(t, &cur);
    printf("periodic: %d good, interval %ld ns\n", good >= 5, cur.it_interval.tv_nsec);
    timer_delete(t);
    printf("deleted: %d\n", timer_gettime(t, &cur) == -1);
    struct timespec now; clock_gettime(CLOCK_REALTIME, &now);
    timer_t a; ev.sigev_value.sival_int = 42;
    timer_create(CLOCK_REALTIME, &ev, &a);
    struct itimerspec abs = {{0, 0}, {now.tv_sec, now.tv_nsec + 0}};
    abs.it_value.tv_nsec += 50000000; if (abs.it_value.tv_nsec >= 1000000000) { abs.it_value.tv_sec++; abs.it_value.tv_nsec -= 1000000000; }
    int before = hits;
    timer_settime(a, TIMER_ABSTIME, &abs, 0);
    while (hits == before) pause();
    printf("absolute one-shot fired: %d\n", hits == before + 1);
    timer_t th; memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD; ev.sigev_notify_function = on_thread; ev.sigev_value.sival_int = 7;
    timer_create(CLOCK_MONOTONIC, &ev, &th);
    struct itimerspec once = {{0, 0}, {0, 30000000}};
    timer_settime(th, 0, &once, 0);
    for (int i = 0; i < 200 && !thread_hits; i++) usleep(10000);
    printf("SIGEV_THREAD ran: %d\n", thread_hits == 1);
    return 0;
}
