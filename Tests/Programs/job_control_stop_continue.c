// Job control: SIGSTOP stops a child (WUNTRACED sees it), SIGCONT resumes it (WCONTINUED),
// waitid reports both, and a stopped child still dies of SIGKILL.
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    signal(SIGCHLD, SIG_DFL);
    sigset_t none; sigemptyset(&none); sigprocmask(SIG_SETMASK, &none, 0);
    int p[2]; pipe(p);
    pid_t c = fork();
    if (c == 0) { close(p[0]); for (;;) { if (write(p[1], "x", 1) != 1) _exit(9); usleep(20000); } }
    close(p[1]);
    char b; read(p[0], &b, 1);
    int st;
    kill(c, SIGSTOP);
    printf("stopped: %d\n", waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP);
    kill(c, SIGCONT);
    printf("continued: %d\n", waitpid(c, &st, WCONTINUED) == c && WIFCONTINUED(st));
    kill(c, SIGTSTP);
    siginfo_t si;
    printf("waitid stopped: %d\n", waitid(P_PID, c, &si, WSTOPPED) == 0 && si.si_code == CLD_STOPPED && si.si_status == SIGTSTP);
    kill(c, SIGKILL);
    printf("killed while stopped: %d\n", waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    return 0;
}
