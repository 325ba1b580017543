// 32 pthreads hammer a mutex, signal a condvar and meet at a barrier; the count must be exact.
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
#define N 32
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t b;
static long counter, ready;
static void *work(void *arg) {
    pthread_barrier_wait(&b);
    for (int i = 0; i < 10000; i++) { pthread_mutex_lock(&m); counter++; pthread_mutex_unlock(&m); }
    pthread_mutex_lock(&m); ready++; pthread_cond_broadcast(&c); pthread_mutex_unlock(&m);
    return (void *)(long)syscall(SYS_gettid);
}
int main(void) {
    pthread_t t[N];
    pthread_barrier_init(&b, NULL, N);
    for (int i = 0; i < N; i++) if (pthread_create(&t[i], NULL, work, NULL)) { perror("pthread_create"); return 1; }
    pthread_mutex_lock(&m); while (ready < N) pthread_cond_wait(&c, &m); pthread_mutex_unlock(&m);
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    printf("counter=%ld (expected %d) pid=%d\n", counter, N * 10000, getpid());
    return counter == N * 10000 ? 0 : 2;
}
