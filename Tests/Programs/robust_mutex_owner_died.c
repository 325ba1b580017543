// A thread dies holding a robust mutex: the next locker gets EOWNERDEAD.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <errno.h>
#include <unistd.h>
static pthread_mutex_t m;
static void *holder(void *arg) { pthread_mutex_lock(&m); return 0; } /* dies holding it */
int main(void) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&m, &a);
    pthread_t t;
    pthread_create(&t, 0, holder, 0);
    pthread_join(t, 0);
    int r = pthread_mutex_lock(&m);
    printf("lock after owner died: %s\n", r == EOWNERDEAD ? "EOWNERDEAD" : "other");
    if (r == EOWNERDEAD) pthread_mutex_consistent(&m);
    pthread_mutex_unlock(&m);
    return r == EOWNERDEAD ? 0 : 1;
}
