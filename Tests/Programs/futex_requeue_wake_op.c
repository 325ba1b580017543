// FUTEX_CMP_REQUEUE (and its EAGAIN), FUTEX_WAKE_OP, then every waiter is woken and joined.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>
static uint32_t f1, f2;
static long fx(uint32_t *a, int op, uint32_t v, long v2, uint32_t *a2, uint32_t v3) { return syscall(SYS_futex, a, op, v, v2, a2, v3); }
static void *waiter(void *arg) { fx(&f1, FUTEX_WAIT_PRIVATE, 0, 0, 0, 0); return 0; }
int main(void) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], 0, waiter, 0);
    usleep(200000);
    long r = fx(&f1, FUTEX_CMP_REQUEUE_PRIVATE, 1, 2, &f2, 0);   /* wake 1, move 2 */
    printf("cmp_requeue=%ld\n", r);
    r = fx(&f1, FUTEX_CMP_REQUEUE_PRIVATE, 1, 2, &f2, 7);
    printf("cmp_requeue bad val=%ld errno=%d\n", r, errno);
    r = fx(&f1, FUTEX_WAKE_OP_PRIVATE, 1, 5, &f2, FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_EQ, 0));
    printf("wake_op=%ld f2=%u\n", r, f2);
    for (int i = 0; i < 3; i++) pthread_join(t[i], 0);
    printf("joined\n");
    return 0;
}
