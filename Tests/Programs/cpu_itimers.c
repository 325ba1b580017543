// ITIMER_VIRTUAL and ITIMER_PROF fire while the process burns CPU.
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
static volatile int vt, prof;
static void on(int s) { if (s == SIGVTALRM) vt++; else prof++; }
int main(void) {
    signal(SIGVTALRM, on); signal(SIGPROF, on);
    struct itimerval it = {{0, 20000}, {0, 20000}};
    setitimer(ITIMER_VIRTUAL, &it, 0);
    setitimer(ITIMER_PROF, &it, 0);
    volatile unsigned long x = 0;
    while (vt < 3 || prof < 3) x++;
    struct itimerval cur; getitimer(ITIMER_VIRTUAL, &cur);
    printf("virtual and prof fired: %d, interval %ld us\n", vt >= 3 && prof >= 3, cur.it_interval.tv_usec);
    return 0;
}
