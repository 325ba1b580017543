// Extreme timer values, huge lengths and INT_MIN ids: Linux's answers, and the sentry survives.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    /* alarm takes an unsigned int: 1<<32 is alarm(0), which arms nothing. */
    printf("alarm(1<<32): %ld, then %u\n", syscall(SYS_alarm, 0x100000000L), alarm(0));
    timer_t t; struct sigevent ev = {0}; ev.sigev_notify = SIGEV_NONE;
    timer_create(CLOCK_REALTIME, &ev, &t);
    struct itimerspec big = {{0, 0}, {9223372037LL, 0}};
    printf("abs settime: %d\n", timer_settime(t, TIMER_ABSTIME, &big, 0));
    struct itimerspec per = {{18446744073LL, 0}, {0, 1}};
    printf("huge interval: %d\n", timer_settime(t, 0, &per, 0));
    struct itimerval iv = {{9223372036854775807LL, 999999}, {0, 1}};
    signal(SIGALRM, SIG_IGN);
    printf("setitimer huge: %d\n", setitimer(ITIMER_REAL, &iv, 0));
    usleep(50000);
    printf("mmap huge: %p\n", mmap(0, 0xFFFFFFFFFFFFF000ULL, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    printf("kill INT_MIN: %ld\n", syscall(SYS_kill, 0x80000000L, 0));
    siginfo_t si; printf("waitid pgid INT_MIN: %ld\n", syscall(SYS_waitid, 2, 0x80000000L, &si, 4, 0));
    long tv[4] = {0, 0x7fffffffffffffffL, 0, 0};
    printf("utimes huge usec: %ld\n", syscall(SYS_utimes, "/etc/hostname", tv));
    printf("alive\n");
    return 0;
}
