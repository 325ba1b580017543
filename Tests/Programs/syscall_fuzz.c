// Hostile-input smoke test: calls syscalls with garbage arguments, each in a forked child
// so a guest crash only ends the child. The sandbox's sentry must survive all of it.
// Usage: syscall_fuzz SEED ITERATIONS
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned char buffer[1 << 16];

static uint64_t rnd(void) { return ((uint64_t)random() << 33) ^ ((uint64_t)random() << 11) ^ (uint64_t)random(); }

static uint64_t arg(void) {
    switch (random() % 12) {
    case 0: return 0;
    case 1: return (uint64_t)-1;
    case 2: return random() % 16;
    case 3: return random() % 4096;
    case 4: return (uint64_t)buffer + random() % sizeof buffer;          // valid pointer
    case 5: return (uint64_t)buffer + sizeof buffer - random() % 8;      // pointer at the edge
    case 6: return 0xffffffffff600000ULL;                                // vsyscall page
    case 7: return 0xffff800000000000ULL + (rnd() & 0xffffff);           // kernel space
    case 8: return 1ULL << (random() % 64);
    case 9: return (uint64_t)INT32_MAX + (random() % 4);
    case 10: return (uint64_t)(int64_t)INT32_MIN - (random() % 4);
    default: return rnd();
    }
}

// Calls that would end, replace or stall the fuzzer itself are left out.
static int excluded(long nr) {
    switch (nr) {
    case SYS_exit: case SYS_exit_group: case SYS_rt_sigreturn: case SYS_vfork: case SYS_clone:
    case SYS_clone3: case SYS_fork: case SYS_execve: case SYS_execveat: case SYS_pause:
    case SYS_rt_sigsuspend: case SYS_kill: case SYS_tkill: case SYS_tgkill: case SYS_nanosleep:
    case SYS_clock_nanosleep: case SYS_poll: case SYS_ppoll: case SYS_select: case SYS_pselect6:
    case SYS_futex: case SYS_alarm: case SYS_wait4: case SYS_waitid: case SYS_read: case SYS_readv:
    case SYS_pread64: case SYS_rt_sigtimedwait: case SYS_epoll_wait: case SYS_epoll_pwait:
    case SYS_setitimer: case SYS_timer_settime: case SYS_timerfd_settime:
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    srandom(argc > 1 ? atoi(argv[1]) : 1);
    int iterations = argc > 2 ? atoi(argv[2]) : 500;
    int survived = 0;
    for (int i = 0; i < iterations; i++) {
        long nr = random() % 460;
        if (excluded(nr)) continue;
        uint64_t a[6];
        for (int j = 0; j < 6; j++) a[j] = arg();
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 2; }
        if (pid == 0) {
            syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
            _exit(0);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid) { perror("waitpid"); return 3; }
        survived++;
    }
    printf("fuzz done: %d calls\n", survived);
    return 0;
}
