// PR_SET_CHILD_SUBREAPER: a grandchild orphaned by its parent is reparented to us and reaped here.
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
static int scenario(void) {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    int flag = 0;
    prctl(PR_GET_CHILD_SUBREAPER, &flag);
    int p[2]; pipe(p);
    pid_t c = fork();
    if (c == 0) {
        pid_t g = fork();
        if (g == 0) { char b; close(p[1]); read(p[0], &b, 1); _exit(5); } /* waits until orphaned */
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    close(p[0]); close(p[1]);                 /* lets the grandchild exit */
    pid_t r = wait(&st);
    printf("subreaper flag %d, reaped the orphan: %d, status %d\n", flag, r > 0 && r != c, WEXITSTATUS(st));
    return 0;
}

/* The scenario runs in a child, so the subreaper is not the sandbox's pid 1 (which reaps orphans anyway). */
int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t s = fork();
    if (s == 0) _exit(scenario());
    int st;
    waitpid(s, &st, 0);
    return WEXITSTATUS(st);
}
