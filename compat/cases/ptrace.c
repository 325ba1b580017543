/* ptrace between the program's own processes: TRACEME and ATTACH, syscall stops (with
 * PTRACE_GET_SYSCALL_INFO, a skipped call, a changed result), signal-delivery stops, fork and
 * exec events, PEEK/POKE, registers, single-stepping, DETACH, and the errors. */
#include "../compat.h"
#include <linux/audit.h>
#include <stddef.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>

/* A child that is traced and stopped (SIGSTOP) before it runs `body`; returns its pid. */
static pid_t traced_child(void (*body)(void)) {
    pid_t c = fork();
    if (c == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0) _exit(90);
        kill(getpid(), SIGSTOP);
        body();
        _exit(0);
    }
    int st;
    if (waitpid(c, &st, 0) != c || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) return -1;
    return c;
}

static int finish(pid_t c) {
    int st;
    while (waitpid(c, &st, 0) == c) {
        if (WIFEXITED(st)) return WEXITSTATUS(st);
        if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
        ptrace(PTRACE_CONT, c, 0, WIFSTOPPED(st) && WSTOPSIG(st) != SIGTRAP && WSTOPSIG(st) != SIGSTOP ? WSTOPSIG(st) : 0);
    }
    return -1;
}

static void just_exit(void) { _exit(7); }

CASE(ptrace_traceme_stop_and_continue) {
    pid_t c = traced_child(just_exit);
    EXPECT(c > 0);
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    EXPECT_EQ(finish(c), 7);
}

static void call_getppid(void) { _exit(syscall(SYS_getppid) == 4242 ? 0 : 3); }

CASE(ptrace_syscall_stops_show_entry_and_exit) {
    pid_t c = traced_child(call_getppid);
    EXPECT(c > 0);
    EXPECT_OK(ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACESYSGOOD));
    int st, entries = 0, exits = 0;
    for (;;) {
        EXPECT_OK(ptrace(PTRACE_SYSCALL, c, 0, 0));
        EXPECT_EQ(waitpid(c, &st, 0), c);
        if (!WIFSTOPPED(st)) break;
        EXPECT_EQ(WSTOPSIG(st), SIGTRAP | 0x80);
        struct __ptrace_syscall_info info;
        memset(&info, 0, sizeof info);
        long n = ptrace(PTRACE_GET_SYSCALL_INFO, c, sizeof info, &info);
        EXPECT(n > 0);
        if (info.op == PTRACE_SYSCALL_INFO_ENTRY && info.entry.nr == SYS_getppid) {
            entries++;
            EXPECT_EQ(info.arch, AUDIT_ARCH_X86_64);
        }
        if (info.op == PTRACE_SYSCALL_INFO_EXIT && entries == 1 && exits == 0) {
            exits++;
            EXPECT_EQ(info.exit.rval, getpid());
            /* The tracer changes the result the child sees. */
            struct user_regs_struct r;
            EXPECT_OK(ptrace(PTRACE_GETREGS, c, 0, &r));
            EXPECT_EQ(r.rax, (unsigned long long)getpid());
            r.rax = 4242;
            EXPECT_OK(ptrace(PTRACE_SETREGS, c, 0, &r));
        }
    }
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
    EXPECT_EQ(entries, 1);
    EXPECT_EQ(exits, 1);
}

static void skipped_getpid(void) { _exit(syscall(SYS_getpid) == 99 ? 0 : 3); }

CASE(ptrace_tracer_skips_a_call) {
    pid_t c = traced_child(skipped_getpid);
    EXPECT(c > 0);
    int st;
    for (;;) {
        EXPECT_OK(ptrace(PTRACE_SYSCALL, c, 0, 0));
        EXPECT_EQ(waitpid(c, &st, 0), c);
        if (!WIFSTOPPED(st)) break;
        struct user_regs_struct r;
        EXPECT_OK(ptrace(PTRACE_GETREGS, c, 0, &r));
        if (r.orig_rax == SYS_getpid && r.rax == (unsigned long long)-ENOSYS) { /* entry */
            r.orig_rax = -1; /* skip it; the child gets what rax holds */
            r.rax = 99;
            EXPECT_OK(ptrace(PTRACE_SETREGS, c, 0, &r));
        }
    }
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

static volatile long shared_word = 0x1111;
static void check_word(void) { _exit(shared_word == 0x2222 ? 0 : 3); }

CASE(ptrace_peekdata_and_pokedata) {
    pid_t c = traced_child(check_word);
    EXPECT(c > 0);
    errno = 0;
    long w = ptrace(PTRACE_PEEKDATA, c, (void *)&shared_word, 0);
    EXPECT_EQ(errno, 0);
    EXPECT_EQ(w, 0x1111);
    EXPECT_OK(ptrace(PTRACE_POKEDATA, c, (void *)&shared_word, (void *)0x2222));
    EXPECT_ERRNO(ptrace(PTRACE_PEEKDATA, c, (void *)8, 0), EIO);
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    EXPECT_EQ(finish(c), 0);
}

/* Mapped before the fork, so the child has them at the same addresses. */
static char *ro_shared, *ro_private;
static void just_wait(void) { _exit(0); }

CASE(ptrace_pokedata_cannot_write_a_read_only_shared_mapping) {
    int fd = open(scratch_path("f"), O_RDWR | O_CREAT | O_TRUNC, 0600);
    char page[4096];
    memset(page, 'f', sizeof page);
    EXPECT_EQ(write(fd, page, sizeof page), 4096);
    ro_shared = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    ro_private = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    EXPECT(ro_shared != MAP_FAILED && ro_private != MAP_FAILED);
    pid_t c = traced_child(just_wait);
    EXPECT(c > 0);
    /* a debugger may write private memory whatever its protection (a copy of its own) */
    EXPECT_OK(ptrace(PTRACE_POKEDATA, c, ro_private, (void *)0x4141414141414141));
    /* but not through a shared mapping the tracee may not write: the file would change */
    EXPECT_ERRNO(ptrace(PTRACE_POKEDATA, c, ro_shared, (void *)0x4242424242424242), EIO);
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    EXPECT_EQ(finish(c), 0);
    char back[8];
    EXPECT_EQ(pread(fd, back, 8, 0), 8);
    EXPECT(memcmp(back, "ffffffff", 8) == 0);
}

static volatile int usr1_handled;
static void on_usr1(int s) { (void)s; usr1_handled++; }
static void raise_usr1(void) {
    signal(SIGUSR1, on_usr1);
    raise(SIGUSR1);
    _exit(usr1_handled == 0 ? 0 : 3); /* the tracer suppressed it */
}

CASE(ptrace_signal_delivery_stop_can_suppress) {
    pid_t c = traced_child(raise_usr1);
    EXPECT(c > 0);
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFSTOPPED(st));
    EXPECT_EQ(WSTOPSIG(st), SIGUSR1);
    siginfo_t si;
    EXPECT_OK(ptrace(PTRACE_GETSIGINFO, c, 0, &si));
    EXPECT_EQ(si.si_signo, SIGUSR1);
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    EXPECT_EQ(finish(c), 0);
}

static void fork_once(void) {
    pid_t g = fork();
    if (g == 0) _exit(5);
    int st;
    waitpid(g, &st, 0);
    _exit(WIFEXITED(st) && WEXITSTATUS(st) == 5 ? 0 : 3);
}

CASE(ptrace_fork_event_attaches_the_new_child) {
    pid_t c = traced_child(fork_once);
    EXPECT(c > 0);
    EXPECT_OK(ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACEFORK));
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFSTOPPED(st));
    EXPECT_EQ(st >> 8, SIGTRAP | (PTRACE_EVENT_FORK << 8));
    unsigned long grandchild = 0;
    EXPECT_OK(ptrace(PTRACE_GETEVENTMSG, c, 0, &grandchild));
    EXPECT(grandchild > 0);
    EXPECT_EQ(waitpid((pid_t)grandchild, &st, __WALL), (pid_t)grandchild); /* stopped at its start */
    EXPECT(WIFSTOPPED(st));
    EXPECT_EQ(WSTOPSIG(st), SIGSTOP);
    EXPECT_OK(ptrace(PTRACE_CONT, (pid_t)grandchild, 0, 0));
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    EXPECT_EQ(waitpid((pid_t)grandchild, &st, __WALL), (pid_t)grandchild);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(finish(c), 0);
}

static void exec_true(void) {
    char *argv[] = { "true", NULL };
    execv("/bin/true", argv);
    _exit(3);
}

CASE(ptrace_exec_event_and_legacy_sigtrap) {
    pid_t c = traced_child(exec_true);
    EXPECT(c > 0);
    EXPECT_OK(ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACEEXEC));
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT_EQ(st >> 8, SIGTRAP | (PTRACE_EVENT_EXEC << 8));
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    EXPECT_EQ(finish(c), 0);
    /* Without the option, a traced exec is followed by a plain SIGTRAP. */
    c = traced_child(exec_true);
    EXPECT(c > 0);
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFSTOPPED(st));
    EXPECT_EQ(WSTOPSIG(st), SIGTRAP);
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    EXPECT_EQ(finish(c), 0);
}

static void spin_a_little(void) {
    volatile int x = 0;
    for (int i = 0; i < 1000; i++) x += i;
    _exit(0);
}

CASE(ptrace_singlestep_traps_after_one_instruction) {
    pid_t c = traced_child(spin_a_little);
    EXPECT(c > 0);
    struct user_regs_struct before, after;
    EXPECT_OK(ptrace(PTRACE_GETREGS, c, 0, &before));
    EXPECT_OK(ptrace(PTRACE_SINGLESTEP, c, 0, 0));
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFSTOPPED(st));
    EXPECT_EQ(WSTOPSIG(st), SIGTRAP);
    EXPECT_OK(ptrace(PTRACE_GETREGS, c, 0, &after));
    EXPECT(after.rip != before.rip);
    EXPECT_EQ(after.eflags & 0x100, 0); /* the trap flag is not the tracee's */
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    EXPECT_EQ(finish(c), 0);
}

CASE(ptrace_attach_and_detach) {
    int p[2];
    EXPECT_OK(pipe(p));
    pid_t c = fork();
    if (c == 0) {
        char b;
        ssize_t r = read(p[0], &b, 1);
        _exit(r == 1 ? 0 : 3);
    }
    EXPECT_OK(ptrace(PTRACE_ATTACH, c, 0, 0));
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFSTOPPED(st));
    EXPECT_EQ(WSTOPSIG(st), SIGSTOP);
    EXPECT_ERRNO(ptrace(PTRACE_ATTACH, c, 0, 0), EPERM); /* already traced */
    EXPECT_OK(ptrace(PTRACE_DETACH, c, 0, 0));
    EXPECT_ERRNO(ptrace(PTRACE_CONT, c, 0, 0), ESRCH);   /* not traced any more */
    EXPECT_EQ(write(p[1], "x", 1), 1);
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void traceme_twice(void) { _exit(ptrace(PTRACE_TRACEME, 0, 0, 0) == -1 && errno == EPERM ? 0 : 3); }

CASE(ptrace_errors) {
    EXPECT_ERRNO(ptrace(PTRACE_CONT, getpid(), 0, 0), ESRCH);
    EXPECT_ERRNO(ptrace(PTRACE_ATTACH, getpid(), 0, 0), EPERM);
    EXPECT_ERRNO(ptrace(PTRACE_ATTACH, 999999, 0, 0), ESRCH);
    pid_t c = traced_child(traceme_twice);
    EXPECT(c > 0);
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    EXPECT_EQ(finish(c), 0);
}

COMPAT_MAIN()

/* The debug registers in struct user (u_debugreg): a debugger clears DR7 of every new thread
 * (gdb does, and stops with "Couldn't write debug register" when it cannot) and reads back
 * what it wrote; DR4 and DR5 cannot be written. */
CASE(ptrace_debug_registers_read_back_and_dr7_clears) {
    pid_t c = traced_child(just_exit);
    EXPECT(c > 0);
    long dr = offsetof(struct user, u_debugreg);
    errno = 0;
    EXPECT_EQ(ptrace(PTRACE_PEEKUSER, c, dr + 7 * 8, 0), 0);
    EXPECT_EQ(errno, 0);
    EXPECT_OK(ptrace(PTRACE_POKEUSER, c, dr + 7 * 8, 0));
    EXPECT_OK(ptrace(PTRACE_POKEUSER, c, dr + 0 * 8, 0x401000));
    EXPECT_EQ(ptrace(PTRACE_PEEKUSER, c, dr + 0 * 8, 0), 0x401000);
    EXPECT_ERRNO(ptrace(PTRACE_POKEUSER, c, dr + 4 * 8, 0), EIO);
    EXPECT_ERRNO(ptrace(PTRACE_POKEUSER, c, dr + 8 * 8, 0), EIO); /* error_code: read-only */
    errno = 0;
    EXPECT_EQ(ptrace(PTRACE_PEEKUSER, c, dr + 8 * 8, 0), 0);
    EXPECT_EQ(errno, 0);
    EXPECT_ERRNO(ptrace(PTRACE_PEEKUSER, c, dr + 10 * 8, 0), EIO); /* past the kernel's struct user */
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    EXPECT_EQ(finish(c), 7);
}

static void *pause_forever(void *arg) {
    for (;;) pause();
    return arg;
}

static void start_two_threads_and_pause(void) {
    pthread_t th;
    pthread_create(&th, NULL, pause_forever, NULL);
    pthread_create(&th, NULL, pause_forever, NULL);
    pause_forever(NULL);
}

/* A debugger that kills its multi-threaded tracee reaps each traced thread by tid: its death
 * once, then ECHILD while the other threads' deaths are still unreaped, as gdb's kill does
 * (it waits for each thread until ECHILD). */
CASE(ptrace_killed_tracee_threads_are_reaped_by_tid_then_echild) {
    pid_t c = traced_child(start_two_threads_and_pause);
    EXPECT(c > 0);
    EXPECT_OK(ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACECLONE));
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    pid_t tids[2] = {0, 0};
    int st, clones = 0, started = 0;
    while (clones < 2 || started < 2) { /* each clone event and each new thread's SIGSTOP */
        pid_t w = waitpid(-1, &st, __WALL);
        EXPECT(w > 0 && WIFSTOPPED(st));
        if (w == c) {
            EXPECT_EQ(st >> 8, SIGTRAP | PTRACE_EVENT_CLONE << 8);
            unsigned long m = 0;
            EXPECT_OK(ptrace(PTRACE_GETEVENTMSG, c, 0, &m));
            EXPECT(clones < 2);
            tids[clones++] = (pid_t)m;
            EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
        } else {
            EXPECT_EQ(WSTOPSIG(st), SIGSTOP);
            started++;
        }
    }
    EXPECT_OK(syscall(SYS_tkill, tids[0], SIGKILL));
    for (int i = 0; i < 2; i++) {
        EXPECT_EQ(waitpid(tids[i], &st, __WALL), tids[i]);
        EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        EXPECT_ERRNO(waitpid(tids[i], &st, __WALL), ECHILD);
    }
    EXPECT_EQ(waitpid(c, &st, __WALL), c);
    EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    EXPECT_ERRNO(waitpid(c, &st, __WALL), ECHILD);
}

/* A letter from /proc/PID/stat's state field ('T' stopped, 't' tracing stop). */
static char proc_state(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (slurp(path, buf, sizeof buf) <= 0) return '?';
    const char *close = strrchr(buf, ')');
    return close && close[1] == ' ' ? close[2] : '?';
}

/* A child that stops itself with SIGSTOP (and exits 7 when it goes on), once its parent has
 * seen it stop. */
static pid_t stopped_child(void) {
    pid_t c = fork();
    if (c == 0) {
        raise(SIGSTOP);
        _exit(7);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, WUNTRACED), c);
    EXPECT(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP);
    return c;
}

/* PTRACE_ATTACH to a process in a group stop traps it into a ptrace-stop before attach
 * returns (Linux's JOBCTL_TRAP_STOP): the tracer may read and write its user area at once,
 * and its wait reports the stop signal; a group-stop has no siginfo (GETSIGINFO EINVAL).
 * Detached, the process is back in its group stop until SIGCONT. */
CASE(ptrace_attach_to_a_stopped_process_traps_it_at_once) {
    pid_t c = stopped_child();
    int st;
    EXPECT_OK(ptrace(PTRACE_ATTACH, c, 0, 0));
    EXPECT_OK(ptrace(PTRACE_POKEUSER, c, offsetof(struct user, u_debugreg[0]), 1));
    EXPECT_OK(ptrace(PTRACE_POKEUSER, c, offsetof(struct user, u_debugreg[0]), 2));
    errno = 0;
    EXPECT_EQ(ptrace(PTRACE_PEEKUSER, c, offsetof(struct user, u_debugreg[0]), 0), 2);
    EXPECT_EQ(errno, 0);
    EXPECT_EQ(proc_state(c), 't');
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP);
    siginfo_t si;
    EXPECT_ERRNO(ptrace(PTRACE_GETSIGINFO, c, 0, &si), EINVAL);
    EXPECT_OK(ptrace(PTRACE_DETACH, c, 0, 0));
    usleep(50000);
    EXPECT_EQ(proc_state(c), 'T');
    EXPECT_EQ(waitpid(c, &st, WNOHANG), 0);
    EXPECT_OK(kill(c, SIGCONT));
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 7);
}

/* Resumed by its tracer, a tracee attached in a group stop runs though its process is
 * still stopped: it next stops for the SIGSTOP the attach sent (a signal-delivery-stop,
 * with siginfo), and suppressed, that signal stops nothing. */
CASE(ptrace_tracee_attached_in_a_group_stop_runs_when_continued) {
    pid_t c = stopped_child();
    int st;
    EXPECT_OK(ptrace(PTRACE_ATTACH, c, 0, 0));
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP);
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP);
    siginfo_t si;
    EXPECT_OK(ptrace(PTRACE_GETSIGINFO, c, 0, &si));
    EXPECT_EQ(si.si_signo, SIGSTOP);
    EXPECT_OK(ptrace(PTRACE_CONT, c, 0, 0));
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 7);
}

/* Reads its own pid from /proc/self/stat (the open is stopped at by its tracer). */
static void own_stat_names_me(void) {
    char buf[256];
    int fd = open("/proc/self/stat", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (n <= 0) _exit(2);
    buf[n] = 0;
    _exit(atoi(buf) == getpid() ? 0 : 3);
}

/* A call a tracer stopped at is still the tracee's own when it goes on: /proc/self is the
 * tracee, though the tracer made calls (waitpid, ptrace) while it was stopped. */
CASE(ptrace_stopped_call_goes_on_as_the_tracee) {
    pid_t c = traced_child(own_stat_names_me);
    EXPECT(c > 0);
    int st;
    for (int i = 0; i < 400; i++) {
        EXPECT_OK(ptrace(PTRACE_SYSCALL, c, 0, 0));
        EXPECT_EQ(waitpid(c, &st, 0), c);
        if (!WIFSTOPPED(st)) break;
    }
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}
