// Forks (and spawns threads) until the sandbox's task limit answers EAGAIN, then cleans up.
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
static void *idle(void *a) { pause(); return 0; }
int main(void) {
    pid_t kids[100000];
    int n = 0, err = 0;
    for (;;) {
        pid_t c = fork();
        if (c < 0) { err = errno; break; }
        if (c == 0) { pause(); _exit(0); }
        kids[n++] = c;
    }
    printf("fork failed with %s after %s children\n", err == EAGAIN ? "EAGAIN" : "another error", n > 10 ? "many" : "few");
    for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
    for (int i = 0; i < n; i++) waitpid(kids[i], 0, 0);
    pthread_t t;
    int threads = 0, r;
    while ((r = pthread_create(&t, 0, idle, 0)) == 0) threads++;
    printf("pthread_create failed with %s after %s threads\n", r == EAGAIN ? "EAGAIN" : "another error", threads > 10 ? "many" : "few");
    return 0;
}
