// Faults with siginfo, SIGCHLD, shared memory across fork, abort, posix_spawn (vfork)
// success and failure, EPIPE, mremap: output must match a native run.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <spawn.h>
#include <errno.h>
static sigjmp_buf jb;
static volatile void *fault_addr; static volatile int fault_code;
static void onsegv(int s, siginfo_t *si, void *uc) { fault_addr = si->si_addr; fault_code = si->si_code; siglongjmp(jb, 1); }
static volatile int chld;
static void onchld(int s) { chld++; }
extern char **environ;
int main() {
  // Start from default dispositions and an empty mask whatever the parent left us.
  sigset_t none; sigemptyset(&none); sigprocmask(SIG_SETMASK, &none, 0);
  for (int s = 1; s < 32; s++) if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
  struct sigaction sa = {0}; sa.sa_sigaction = onsegv; sa.sa_flags = SA_SIGINFO; sigaction(SIGSEGV, &sa, 0);
  if (!sigsetjmp(jb, 1)) { *(volatile int*)0x1234 = 1; }
  printf("segv addr=%p code=%d\n", fault_addr, fault_code);
  char *p = mmap(0, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
  if (!sigsetjmp(jb, 1)) { p[10] = 1; }
  printf("segv on ro: %d code=%d\n", fault_addr == p + 10, fault_code);
  signal(SIGCHLD, onchld);
  pid_t c = fork(); if (!c) _exit(7);
  int st; while (waitpid(c, &st, 0) < 0 && errno == EINTR);
  printf("child exit %d chld=%d\n", WEXITSTATUS(st), chld);
  int *shared = mmap(0, 4096, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0);
  c = fork(); if (!c) { shared[0] = 42; _exit(0); } waitpid(c, &st, 0);
  printf("shared %d\n", shared[0]);
  c = fork(); if (!c) { raise(SIGABRT); _exit(0); } waitpid(c, &st, 0);
  printf("abort: signaled=%d sig=%d\n", WIFSIGNALED(st), WTERMSIG(st));
  c = fork(); if (!c) { volatile int z = 0; printf("%d", 1/z); _exit(0); } waitpid(c, &st, 0);
  printf("fpe: sig=%d\n", WTERMSIG(st));
  pid_t sp; char *argv[] = {"/nonexistent", 0};
  int r = posix_spawn(&sp, "/nonexistent", 0, 0, argv, environ);
  printf("posix_spawn missing: %d (%s)\n", r, strerror(r));
  char *argv2[] = {"/bin/echo", "spawned", 0};
  r = posix_spawn(&sp, "/bin/echo", 0, 0, argv2, environ); waitpid(sp, &st, 0);
  printf("posix_spawn ok: %d exit=%d\n", r, WEXITSTATUS(st));
  int fds[2]; pipe(fds); close(fds[0]); signal(SIGPIPE, SIG_IGN);
  printf("write to closed pipe: %zd errno=%d\n", write(fds[1], "x", 1), errno);
  char *m = mremap(p, 4096, 8192, MREMAP_MAYMOVE); printf("mremap ok=%d\n", m != MAP_FAILED);
  return 3;
}
