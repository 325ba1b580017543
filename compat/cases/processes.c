/* Processes: fork, wait, exec, spawn, process groups and sessions, names, /proc/self. */
#include "../compat.h"
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <poll.h>
#include <sys/personality.h>
#include <sys/select.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/eventfd.h>
#include <sys/times.h>
#include <time.h>

extern char **environ;

/* A pid that can never exist (above PID_MAX_LIMIT, 4194304). */
#define NO_SUCH_PID 0x3ffffff0

/* Waits for pid and returns its raw status, failing the case if waitpid fails. */
static int reap(pid_t pid) {
    int st = 0;
    pid_t r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {}
    if (r != pid) compat_fail(__FILE__, __LINE__, "waitpid(%d) returned %d: %s", pid, r, strerror(errno));
    return st;
}

/* Forks a child that exits with `code`. */
static pid_t child_exiting(int code) {
    pid_t pid = fork();
    if (pid < 0) compat_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) _exit(code);
    return pid;
}

/* Forks a child that blocks until *release_fd (the write end kept by the parent) is closed. */
static pid_t child_blocking(int *release_fd) {
    int pfd[2];
    if (pipe(pfd) != 0) compat_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(pfd[1]);
        while (read(pfd[0], &c, 1) < 0 && errno == EINTR) {}
        _exit(0);
    }
    close(pfd[0]);
    *release_fd = pfd[1];
    return pid;
}

/* Writes a file in the scratch directory with the given mode. */
static void make_file(const char *name, const char *content, size_t len, mode_t mode) {
    int fd = open(scratch_path(name), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd < 0) compat_fail(__FILE__, __LINE__, "open %s: %s", name, strerror(errno));
    if (write(fd, content, len) != (ssize_t)len) compat_fail(__FILE__, __LINE__, "write: %s", strerror(errno));
    close(fd);
    if (chmod(scratch_path(name), mode) != 0) compat_fail(__FILE__, __LINE__, "chmod: %s", strerror(errno));
}

/* Runs argv[0] with execve in a child; returns the raw wait status. A failed exec exits 200+errno. */
static int run_exec(const char *path, char *const argv[], char *const envp[]) {
    pid_t pid = fork();
    if (pid == 0) {
        execve(path, argv, envp);
        _exit(200 + (errno & 31));
    }
    return reap(pid);
}

/* ---- fork ---- */

CASE(fork_returns_zero_in_child_and_child_pid_in_parent) {
    int pfd[2];
    EXPECT_OK(pipe(pfd));
    pid_t pid = fork();
    if (pid == 0) {
        pid_t me = getpid();
        write(pfd[1], &me, sizeof me);
        _exit(0);
    }
    EXPECT(pid > 0);
    pid_t reported = 0;
    EXPECT_EQ(read(pfd[0], &reported, sizeof reported), sizeof reported);
    EXPECT_EQ(reported, pid);
    EXPECT(pid != getpid());
    reap(pid);
}

CASE(getppid_in_child_is_parent_pid) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) _exit(getppid() == parent ? 0 : 1);
    int st = reap(pid);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

/* ---- wait ---- */

CASE(waitpid_reports_exit_status) {
    pid_t pid = child_exiting(42);
    int st = reap(pid);
    EXPECT(WIFEXITED(st));
    EXPECT(!WIFSIGNALED(st));
    EXPECT_EQ(WEXITSTATUS(st), 42);
}

CASE(wait4_reports_status_and_rusage) {
    pid_t pid = child_exiting(3);
    int st = 0;
    struct rusage ru;
    memset(&ru, 0xff, sizeof ru);
    EXPECT_EQ(wait4(pid, &st, 0, &ru), pid);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 3);
    EXPECT(ru.ru_utime.tv_sec >= 0 && ru.ru_utime.tv_usec >= 0 && ru.ru_utime.tv_usec < 1000000);
}

CASE(wait_any_child_with_minus_one) {
    pid_t pid = child_exiting(9);
    int st = 0;
    EXPECT_EQ(waitpid(-1, &st, 0), pid);
    EXPECT_EQ(WEXITSTATUS(st), 9);
}

CASE(waitpid_reports_signal_termination) {
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        kill(getpid(), SIGTERM);
        _exit(0);
    }
    int st = reap(pid);
    EXPECT(WIFSIGNALED(st));
    EXPECT(!WIFEXITED(st));
    EXPECT_EQ(WTERMSIG(st), SIGTERM);
}

CASE(waitpid_reports_sigkill_from_parent) {
    int release;
    pid_t pid = child_blocking(&release);
    EXPECT_OK(kill(pid, SIGKILL));
    int st = reap(pid);
    close(release);
    EXPECT(WIFSIGNALED(st));
    EXPECT_EQ(WTERMSIG(st), SIGKILL);
}

CASE(waitpid_wuntraced_reports_stopped_child) {
    pid_t pid = fork();
    if (pid == 0) {
        raise(SIGSTOP);
        _exit(5);
    }
    int st = 0;
    EXPECT_EQ(waitpid(pid, &st, WUNTRACED), pid);
    EXPECT(WIFSTOPPED(st));
    EXPECT_EQ(WSTOPSIG(st), SIGSTOP);
    EXPECT_OK(kill(pid, SIGCONT));
    st = reap(pid);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 5);
}

CASE(waitpid_wnohang_with_running_child_returns_zero) {
    int release;
    pid_t pid = child_blocking(&release);
    int st = 0;
    EXPECT_EQ(waitpid(pid, &st, WNOHANG), 0);
    close(release);
    st = reap(pid);
    EXPECT(WIFEXITED(st));
}

CASE(waitpid_on_non_child_is_echild) {
    EXPECT_ERRNO(waitpid(1, NULL, WNOHANG), ECHILD);
    EXPECT_ERRNO(waitpid(getppid(), NULL, WNOHANG), ECHILD);
}

CASE(waitpid_without_children_is_echild) {
    EXPECT_ERRNO(waitpid(-1, NULL, 0), ECHILD);
    EXPECT_ERRNO(wait(NULL), ECHILD);
}

CASE(waitpid_on_already_reaped_child_is_echild) {
    pid_t pid = child_exiting(0);
    reap(pid);
    EXPECT_ERRNO(waitpid(pid, NULL, 0), ECHILD);
}

CASE(waitpid_invalid_options_is_einval) {
    pid_t pid = child_exiting(0);
    EXPECT_ERRNO(waitpid(pid, NULL, 0x10000000), EINVAL);
    reap(pid);
}

CASE(wait4_bad_status_pointer_is_efault) {
    pid_t pid = child_exiting(1);
    EXPECT_ERRNO(syscall(SYS_wait4, pid, (int *)1, 0, NULL), EFAULT);
}

CASE(waitid_p_pid_fills_siginfo) {
    pid_t pid = child_exiting(17);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    EXPECT_OK(waitid(P_PID, pid, &si, WEXITED));
    EXPECT_EQ(si.si_signo, SIGCHLD);
    EXPECT_EQ(si.si_pid, pid);
    EXPECT_EQ(si.si_code, CLD_EXITED);
    EXPECT_EQ(si.si_status, 17);
    EXPECT_EQ(si.si_uid, getuid());
    EXPECT_ERRNO(waitpid(pid, NULL, 0), ECHILD); /* reaped */
}

CASE(waitid_p_all_reaps_any_child) {
    pid_t pid = child_exiting(4);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    EXPECT_OK(waitid(P_ALL, 0, &si, WEXITED));
    EXPECT_EQ(si.si_pid, pid);
    EXPECT_EQ(si.si_status, 4);
}

CASE(waitid_wnowait_leaves_zombie_waitable) {
    pid_t pid = child_exiting(6);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    EXPECT_OK(waitid(P_PID, pid, &si, WEXITED | WNOWAIT));
    EXPECT_EQ(si.si_pid, pid);
    EXPECT_EQ(si.si_status, 6);
    memset(&si, 0, sizeof si);
    EXPECT_OK(waitid(P_PID, pid, &si, WEXITED | WNOWAIT));
    EXPECT_EQ(si.si_pid, pid);
    int st = reap(pid);
    EXPECT_EQ(WEXITSTATUS(st), 6);
}

CASE(waitid_reports_killed_child_as_cld_killed) {
    int release;
    pid_t pid = child_blocking(&release);
    EXPECT_OK(kill(pid, SIGKILL));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    EXPECT_OK(waitid(P_PID, pid, &si, WEXITED));
    close(release);
    EXPECT_EQ(si.si_code, CLD_KILLED);
    EXPECT_EQ(si.si_status, SIGKILL);
}

CASE(waitid_wnohang_with_running_child_zeroes_si_pid) {
    int release;
    pid_t pid = child_blocking(&release);
    siginfo_t si;
    memset(&si, 0xff, sizeof si);
    EXPECT_OK(waitid(P_PID, pid, &si, WEXITED | WNOHANG));
    EXPECT_EQ(si.si_pid, 0);
    close(release);
    reap(pid);
}

CASE(waitid_without_state_options_is_einval) {
    pid_t pid = child_exiting(0);
    siginfo_t si;
    EXPECT_ERRNO(waitid(P_PID, pid, &si, 0), EINVAL);
    reap(pid);
}

CASE(waitid_invalid_idtype_is_einval) {
    siginfo_t si;
    EXPECT_ERRNO(waitid((idtype_t)42, 0, &si, WEXITED), EINVAL);
}

CASE(waitid_on_non_child_is_echild) {
    siginfo_t si;
    EXPECT_ERRNO(waitid(P_PID, 1, &si, WEXITED | WNOHANG), ECHILD);
}

/* ---- vfork and clone ---- */

CASE(vfork_child_exit_status_reaches_parent) {
    pid_t pid = vfork();
    if (pid == 0) _exit(77);
    EXPECT(pid > 0);
    int st = reap(pid);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 77);
}

CASE(vfork_then_exec_runs_program) {
    pid_t pid = vfork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "exit 12", (char *)0);
        _exit(127);
    }
    int st = reap(pid);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 12);
}

/* clone(flags, stack) where the child stores 42 into *p and exits with 7 without touching the
 * stack (so it may share the parent's stack). Returns what clone returned in the parent. */
static long clone_store_and_exit(unsigned long flags, void *stack, volatile int *p) {
    long ret;
    register long r10 asm("r10") = 0;
    register long r8 asm("r8") = 0;
    asm volatile(
        "syscall\n\t"
        "test %%rax, %%rax\n\t"
        "jnz 1f\n\t"
        "movl $42, (%[p])\n\t"
        "mov $60, %%eax\n\t" /* SYS_exit */
        "mov $7, %%edi\n\t"
        "syscall\n\t"
        "1:\n\t"
        : "=a"(ret)
        : "a"((long)SYS_clone), "D"(flags), "S"(stack), "d"(0L), "r"(r10), "r"(r8), [p] "r"(p)
        : "rcx", "r11", "memory");
    return ret;
}

CASE(clone_vm_vfork_child_writes_parent_memory) {
    static volatile int shared;
    shared = 0;
    long pid = clone_store_and_exit(CLONE_VM | CLONE_VFORK | SIGCHLD, NULL, &shared);
    EXPECT(pid > 0);
    EXPECT_EQ(shared, 42); /* the parent resumed only after the child exited */
    int st = reap(pid);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 7);
}

CASE(clone_vm_with_own_stack_shares_memory) {
    static volatile int shared;
    shared = 0;
    char *stack = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(stack != MAP_FAILED);
    long pid = clone_store_and_exit(CLONE_VM | SIGCHLD, stack + 65536, &shared);
    EXPECT(pid > 0);
    int st = reap(pid);
    EXPECT_EQ(WEXITSTATUS(st), 7);
    EXPECT_EQ(shared, 42);
}

CASE(clone_without_vm_does_not_share_memory) {
    static volatile int shared;
    shared = 0;
    long pid = clone_store_and_exit(SIGCHLD, NULL, &shared);
    EXPECT(pid > 0);
    int st = reap(pid);
    EXPECT_EQ(WEXITSTATUS(st), 7);
    EXPECT_EQ(shared, 0);
}

CASE(clone_invalid_flag_combination_is_einval) {
    /* CLONE_SIGHAND requires CLONE_VM. */
    EXPECT_ERRNO(syscall(SYS_clone, CLONE_SIGHAND | SIGCHLD, NULL, NULL, NULL, 0), EINVAL);
}

/* ---- execve ---- */

CASE(execve_missing_file_is_enoent) {
    char *argv[] = {"missing", NULL};
    EXPECT_ERRNO(execve(scratch_path("missing"), argv, environ), ENOENT);
}

CASE(execve_path_through_regular_file_is_enotdir) {
    make_file("plain", "x", 1, 0755);
    char *argv[] = {"x", NULL};
    EXPECT_ERRNO(execve(scratch_path("plain/x"), argv, environ), ENOTDIR);
}

CASE(execve_directory_is_eacces) {
    char *argv[] = {"dir", NULL};
    EXPECT_OK(mkdir(scratch_path("dir"), 0755));
    EXPECT_ERRNO(execve(scratch_path("dir"), argv, environ), EACCES);
}

CASE(execve_file_without_exec_bit_is_eacces) {
    make_file("noexec", "#!/bin/sh\nexit 0\n", 17, 0644);
    char *argv[] = {"noexec", NULL};
    EXPECT_ERRNO(execve(scratch_path("noexec"), argv, environ), EACCES);
}

CASE(execve_bad_elf_is_enoexec) {
    char junk[128];
    memset(junk, 0x41, sizeof junk);
    memcpy(junk, "\177ELF\002\001\001", 7);
    make_file("bad.elf", junk, sizeof junk, 0755);
    char *argv[] = {"bad.elf", NULL};
    EXPECT_ERRNO(execve(scratch_path("bad.elf"), argv, environ), ENOEXEC);
}

CASE(execve_text_without_shebang_is_enoexec) {
    make_file("text", "exit 0\n", 7, 0755);
    char *argv[] = {"text", NULL};
    EXPECT_ERRNO(execve(scratch_path("text"), argv, environ), ENOEXEC);
}

CASE(execve_bad_path_pointer_is_efault) {
    char *argv[] = {"x", NULL};
    EXPECT_ERRNO(syscall(SYS_execve, (char *)1, argv, environ), EFAULT);
}

CASE(execve_bad_argv_pointer_is_efault) {
    pid_t pid = fork();
    if (pid == 0) {
        long r = syscall(SYS_execve, "/bin/true", (char **)1, environ);
        _exit(r == -1 && errno == EFAULT ? 0 : 1);
    }
    int st = reap(pid);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

CASE(execve_shebang_script_runs) {
    const char *script = "#!/bin/sh\nexit 7\n";
    make_file("script", script, strlen(script), 0755);
    char *argv[] = {"script", NULL};
    int st = run_exec(scratch_path("script"), argv, environ);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 7);
}

CASE(execve_shebang_script_receives_arguments) {
    const char *script = "#!/bin/sh\nprintf '%s|%s' \"$1\" \"$2\" > out\n";
    make_file("script", script, strlen(script), 0755);
    char *argv[] = {"script", "one", "two words", NULL};
    int st = run_exec(scratch_path("script"), argv, environ);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
    char buf[64] = {0};
    int fd = open(scratch_path("out"), O_RDONLY);
    EXPECT(fd >= 0);
    EXPECT(read(fd, buf, sizeof buf - 1) >= 0);
    EXPECT_STREQ(buf, "one|two words");
}

CASE(execve_shebang_with_missing_interpreter_is_enoent) {
    const char *script = "#!/nonexistent/interpreter\n";
    make_file("script", script, strlen(script), 0755);
    char *argv[] = {"script", NULL};
    EXPECT_ERRNO(execve(scratch_path("script"), argv, environ), ENOENT);
}

CASE(execve_argv_reaches_new_program) {
    char *argv[] = {"sh", "-c", "exit 42", NULL};
    int st = run_exec("/bin/sh", argv, environ);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 42);
}

CASE(execve_argv0_reaches_new_program) {
    char *argv[] = {"custom-name", "-c", "test \"$0\" = custom-name", NULL};
    int st = run_exec("/bin/sh", argv, environ);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

CASE(execve_envp_reaches_new_program) {
    char *argv[] = {"sh", "-c", "exit $CODE", NULL};
    char *envp[] = {"CODE=33", "PATH=/bin:/usr/bin", NULL};
    int st = run_exec("/bin/sh", argv, envp);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 33);
}

CASE(execve_empty_envp_gives_empty_environment) {
    char *argv[] = {"sh", "-c", "test -z \"$HOME$USER\"", NULL};
    char *envp[] = {NULL};
    int st = run_exec("/bin/sh", argv, envp);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

CASE(execve_keeps_pid) {
    pid_t pid = fork();
    if (pid == 0) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "test $$ = %d", (int)getpid());
        execl("/bin/sh", "sh", "-c", cmd, (char *)0);
        _exit(127);
    }
    int st = reap(pid);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

/* ---- posix_spawn ---- */

CASE(posix_spawn_runs_program_and_reports_pid) {
    pid_t pid = 0;
    char *argv[] = {"sh", "-c", "exit 21", NULL};
    EXPECT_EQ(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ), 0);
    EXPECT(pid > 0);
    int st = reap(pid);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 21);
}

CASE(posix_spawn_missing_program_returns_enoent) {
    pid_t pid = 0;
    char *argv[] = {"missing", NULL};
    EXPECT_EQ(posix_spawn(&pid, scratch_path("missing"), NULL, NULL, argv, environ), ENOENT);
    /* The failed child has been reaped by posix_spawn itself (or never ran). */
    EXPECT_ERRNO(waitpid(-1, NULL, WNOHANG), ECHILD);
}

CASE(posix_spawn_non_executable_returns_eacces) {
    make_file("noexec", "#!/bin/sh\n", 10, 0644);
    pid_t pid = 0;
    char *argv[] = {"noexec", NULL};
    EXPECT_EQ(posix_spawn(&pid, scratch_path("noexec"), NULL, NULL, argv, environ), EACCES);
}

CASE(posix_spawn_file_actions_redirect_stdout) {
    posix_spawn_file_actions_t fa;
    EXPECT_EQ(posix_spawn_file_actions_init(&fa), 0);
    EXPECT_EQ(posix_spawn_file_actions_addopen(&fa, 1, scratch_path("out"), O_WRONLY | O_CREAT | O_TRUNC, 0644), 0);
    pid_t pid = 0;
    char *argv[] = {"echo", "spawned", NULL};
    EXPECT_EQ(posix_spawn(&pid, "/bin/echo", &fa, NULL, argv, environ), 0);
    int st = reap(pid);
    EXPECT_EQ(WEXITSTATUS(st), 0);
    char buf[32] = {0};
    int fd = open(scratch_path("out"), O_RDONLY);
    EXPECT(fd >= 0);
    EXPECT(read(fd, buf, sizeof buf - 1) > 0);
    EXPECT_STREQ(buf, "spawned\n");
    posix_spawn_file_actions_destroy(&fa);
}

/* ---- exit codes ---- */

CASE(exit_codes_0_to_255_reach_parent) {
    for (int code = 0; code < 256; code += 17) {
        int st = reap(child_exiting(code));
        EXPECT(WIFEXITED(st));
        EXPECT_EQ(WEXITSTATUS(st), code);
    }
    EXPECT_EQ(WEXITSTATUS(reap(child_exiting(255))), 255);
    EXPECT_EQ(WEXITSTATUS(reap(child_exiting(128))), 128);
}

CASE(exit_code_is_truncated_to_8_bits) {
    EXPECT_EQ(WEXITSTATUS(reap(child_exiting(256))), 0);
    EXPECT_EQ(WEXITSTATUS(reap(child_exiting(257))), 1);
    EXPECT_EQ(WEXITSTATUS(reap(child_exiting(-1))), 255);
}

/* ---- process groups and sessions ---- */

CASE(getpgid_zero_is_own_group) {
    EXPECT_EQ(getpgid(0), getpgrp());
    EXPECT_EQ(getpgid(getpid()), getpgrp());
}

CASE(getpgid_nonexistent_pid_is_esrch) {
    EXPECT_ERRNO(getpgid(NO_SUCH_PID), ESRCH);
}

CASE(setpgid_zero_makes_own_group) {
    EXPECT_OK(setpgid(0, 0));
    EXPECT_EQ(getpgrp(), getpid());
    EXPECT_EQ(getpgid(0), getpid());
}

CASE(setpgid_on_child_from_parent) {
    int release;
    pid_t pid = child_blocking(&release);
    EXPECT_OK(setpgid(pid, pid));
    EXPECT_EQ(getpgid(pid), pid);
    EXPECT(getpgrp() != pid);
    close(release);
    reap(pid);
}

CASE(setpgid_negative_pgid_is_einval) {
    EXPECT_ERRNO(setpgid(0, -1), EINVAL);
}

CASE(setpgid_nonexistent_pid_is_esrch) {
    EXPECT_ERRNO(setpgid(NO_SUCH_PID, 0), ESRCH);
}

CASE(setpgid_into_other_sessions_group_is_eperm) {
    /* A child in a new session cannot join its parent's group (different session). */
    pid_t pid = fork();
    if (pid == 0) {
        pid_t parent_group = getpgrp();
        if (setsid() < 0) _exit(2);
        _exit(setpgid(0, parent_group) == -1 && errno == EPERM ? 0 : 1);
    }
    EXPECT_EQ(WEXITSTATUS(reap(pid)), 0);
}

CASE(setsid_as_group_leader_is_eperm) {
    EXPECT_OK(setpgid(0, 0)); /* become a process group leader */
    EXPECT_ERRNO(setsid(), EPERM);
}

CASE(setsid_in_child_creates_session_and_group) {
    pid_t pid = fork();
    if (pid == 0) {
        pid_t me = getpid();
        if (setsid() != me) _exit(1);
        if (getsid(0) != me) _exit(2);
        if (getpgrp() != me) _exit(3);
        _exit(0);
    }
    EXPECT_EQ(WEXITSTATUS(reap(pid)), 0);
}

CASE(getsid_of_self_and_child_match) {
    pid_t sid = getsid(0);
    /* 0 when the session leader lives outside our PID namespace (CI's container). */
    EXPECT(sid >= 0);
    EXPECT_EQ(getsid(getpid()), sid);
    int release;
    pid_t pid = child_blocking(&release);
    EXPECT_EQ(getsid(pid), sid);
    close(release);
    reap(pid);
}

CASE(getsid_nonexistent_pid_is_esrch) {
    EXPECT_ERRNO(getsid(NO_SUCH_PID), ESRCH);
}

/* ---- names and /proc/self ---- */

CASE(prctl_set_name_is_truncated_to_15_bytes) {
    EXPECT_OK(prctl(PR_SET_NAME, "abcdefghijklmnopqrstuvwxyz", 0, 0, 0));
    char name[32];
    memset(name, 'Z', sizeof name);
    EXPECT_OK(prctl(PR_GET_NAME, name, 0, 0, 0));
    EXPECT_STREQ(name, "abcdefghijklmno");
}

CASE(no_new_privs_is_inherited_by_children) {
    EXPECT_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    EXPECT_EQ(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
    pid_t pid = fork();
    if (pid == 0) _exit(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 1);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

CASE(prctl_set_name_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_prctl, PR_SET_NAME, (char *)1, 0, 0, 0), EFAULT);
}

CASE(proc_self_comm_write_sets_name) {
    int fd = open("/proc/self/comm", O_WRONLY);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, "written", 7), 7);
    close(fd);
    char name[16] = {0};
    EXPECT_OK(prctl(PR_GET_NAME, name, 0, 0, 0));
    EXPECT_STREQ(name, "written");
}

CASE(proc_self_comm_after_exec_is_binary_basename) {
    /* Shell builtins only, so that no other program replaces the shell. */
    const char *script = "#!/bin/sh\nread c < /proc/$$/comm; printf '%s\\n' \"$c\" > out\n";
    make_file("myscript", script, strlen(script), 0755);
    char *argv[] = {"whatever", NULL};
    int st = run_exec(scratch_path("myscript"), argv, environ);
    EXPECT_EQ(WEXITSTATUS(st), 0);
    /* $$ was the shell running the script, and comm is the script's file name. */
    int fd = open(scratch_path("out"), O_RDONLY);
    EXPECT(fd >= 0);
    char buf[32] = {0};
    EXPECT(read(fd, buf, sizeof buf - 1) > 0);
    char *nl = strchr(buf, '\n');
    EXPECT(nl != NULL);
    *nl = 0;
    EXPECT_STREQ(buf, "myscript");
}

CASE(proc_self_cmdline_starts_with_argv0) {
    int fd = open("/proc/self/cmdline", O_RDONLY);
    EXPECT(fd >= 0);
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    EXPECT(n > 0);
    EXPECT_EQ(buf[n - 1], '\0');
    EXPECT_STREQ(buf, program_invocation_name);
}

CASE(proc_self_cmdline_after_exec_lists_arguments) {
    /* Not the last command: dash would exec it in place of the shell. */
    char *argv[] = {"sh", "-c", "cat /proc/$$/cmdline > out; exit 0", "arg0", NULL};
    int st = run_exec("/bin/sh", argv, environ);
    EXPECT_EQ(WEXITSTATUS(st), 0);
    int fd = open(scratch_path("out"), O_RDONLY);
    EXPECT(fd >= 0);
    char buf[128];
    const char want[] = "sh\0-c\0cat /proc/$$/cmdline > out; exit 0\0arg0";
    EXPECT_EQ(read(fd, buf, sizeof buf), sizeof want);
    EXPECT(memcmp(buf, want, sizeof want) == 0);
}

CASE(proc_self_exe_links_to_running_binary) {
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    EXPECT(n > 0);
    path[n] = 0;
    EXPECT_EQ(path[0], '/');
    struct stat a, b;
    EXPECT_OK(stat(path, &a));
    EXPECT_OK(stat("/proc/self/exe", &b));
    EXPECT_EQ(a.st_dev, b.st_dev);
    EXPECT_EQ(a.st_ino, b.st_ino);
}

CASE(proc_self_exe_after_exec_is_new_binary) {
    /* Copy nothing from the host: exec /bin/sh and compare its exe with /bin/sh itself. */
    char *argv[] = {"sh", "-c", "test /proc/$$/exe -ef /bin/sh", NULL};
    int st = run_exec("/bin/sh", argv, environ);
    EXPECT(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

/* ---- resource usage ---- */

CASE(getrusage_self_and_children_succeed) {
    struct rusage ru;
    EXPECT_OK(getrusage(RUSAGE_SELF, &ru));
    EXPECT(ru.ru_maxrss > 0);
    reap(child_exiting(0));
    EXPECT_OK(getrusage(RUSAGE_CHILDREN, &ru));
}

CASE(getrusage_maxrss_reflects_touched_memory) {
    struct rusage ru;
    EXPECT_OK(getrusage(RUSAGE_SELF, &ru));
    EXPECT(ru.ru_maxrss > 0);
    pid_t pid = fork();
    if (pid == 0) {
        size_t len = 48 << 20;
        char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) _exit(1);
        for (size_t o = 0; o < len; o += 4096) p[o] = 1;
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_OK(getrusage(RUSAGE_CHILDREN, &ru));
    EXPECT(ru.ru_maxrss >= 40 * 1024); /* KiB */
}

/* Spends `ms` of this process's CPU time. */
static void burn_cpu_ms(long ms) {
    volatile unsigned long x = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    do {
        for (int i = 0; i < 100000; i++) x += i;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    } while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < ms * 1000000L);
}

CASE(getrusage_children_counts_cpu_of_reaped_children) {
    pid_t pid = fork();
    if (pid == 0) {
        burn_cpu_ms(50);
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    struct rusage ru;
    EXPECT_OK(getrusage(RUSAGE_CHILDREN, &ru));
    long us = ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec;
    EXPECT(us >= 40000);
}

CASE(getrusage_children_leaves_out_children_reaped_by_themselves) {
    signal(SIGCHLD, SIG_IGN); /* children go without a wait */
    pid_t pid = fork();
    if (pid == 0) {
        burn_cpu_ms(50);
        char *big = malloc(32 << 20);
        memset(big, 1, 32 << 20);
        _exit(0);
    }
    int st;
    EXPECT_ERRNO(waitpid(pid, &st, 0), ECHILD); /* waits for it to go, then finds none */
    struct rusage ru;
    EXPECT_OK(getrusage(RUSAGE_CHILDREN, &ru));
    EXPECT_EQ(ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec, 0);
    EXPECT(ru.ru_maxrss < 16 * 1024);
}

/* CPU time spent in the process's own code is user time; time spent in system calls that
 * do real work (opening and reading /proc files) is system time. times(), getrusage and
 * /proc/self/stat agree, and neither figure goes backwards. */
static long stat_field(int n) {
    char b[1024] = {0};
    int fd = open("/proc/self/stat", O_RDONLY);
    if (fd < 0 || read(fd, b, sizeof b - 1) <= 0) return -1;
    close(fd);
    char *p = strrchr(b, ')');
    for (int i = 2; p && i < n; i++) p = strchr(p + 1, ' ');
    return p ? atol(p + 1) : -1;
}

CASE(cpu_time_splits_into_user_and_system) {
    struct tms a, b, c;
    times(&a);
    long ustat0 = stat_field(14), sstat0 = stat_field(15);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0); /* the vDSO's: no system call in the loop */
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 100000; i++) x += i;
        clock_gettime(CLOCK_MONOTONIC, &t1);
    } while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 300);
    times(&b);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        for (int i = 0; i < 50; i++) {
            char buf[512];
            int fd = open("/proc/self/status", O_RDONLY);
            EXPECT(fd >= 0 && read(fd, buf, sizeof buf) > 0);
            close(fd);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
    } while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 500);
    times(&c);
    EXPECT(b.tms_utime - a.tms_utime >= 10);          /* 300 ms spent in user code */
    EXPECT(b.tms_stime - a.tms_stime <= 5);
    EXPECT(c.tms_stime - b.tms_stime >= 5);           /* the system calls' share */
    EXPECT(c.tms_utime >= b.tms_utime && c.tms_stime >= b.tms_stime);
    struct rusage ru;
    EXPECT_OK(getrusage(RUSAGE_SELF, &ru));
    EXPECT(ru.ru_stime.tv_sec * 100 + ru.ru_stime.tv_usec / 10000 >= c.tms_stime - 1);
    long ustat = stat_field(14), sstat = stat_field(15);
    EXPECT(ustat >= ustat0 + 10 && sstat >= sstat0 + 5);
}

CASE(getrusage_invalid_who_is_einval) {
    struct rusage ru;
    EXPECT_ERRNO(getrusage(42, &ru), EINVAL);
}

CASE(getrusage_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_getrusage, RUSAGE_SELF, (void *)1), EFAULT);
}

CASE(times_returns_success) {
    struct tms t;
    clock_t a = times(&t);
    EXPECT(a != (clock_t)-1);
    EXPECT(times(NULL) != (clock_t)-1);
}

CASE(times_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_times, (void *)1), EFAULT);
}

/* ---- personality, kcmp, ioprio, rt_tgsigqueueinfo, restart_syscall, syslog ---- */

CASE(personality_reports_and_stores_its_value) {
    int old = personality(0xffffffff);
    EXPECT_EQ(old & 0xff, 0); /* PER_LINUX */
    EXPECT_EQ(personality(old | ADDR_NO_RANDOMIZE), old);
    EXPECT_EQ(personality(0xffffffff), old | ADDR_NO_RANDOMIZE);
    pid_t c = fork();
    if (c == 0) _exit(personality(0xffffffff) == (old | ADDR_NO_RANDOMIZE) ? 0 : 3); /* inherited */
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    personality(old);
}

CASE(sticky_timeouts_keep_select_and_ppoll_from_writing_the_time_left) {
    int old = personality(0xffffffff);
    EXPECT_OK(personality(old | STICKY_TIMEOUTS));
    int fds[2];
    EXPECT_OK(pipe(fds));
    fd_set set;
    FD_ZERO(&set);
    FD_SET(fds[0], &set);
    struct timeval tv = {0, 20000};
    EXPECT_EQ(select(fds[0] + 1, &set, NULL, NULL, &tv), 0);
    EXPECT(tv.tv_sec == 0 && tv.tv_usec == 20000);
    struct pollfd p = {fds[0], POLLIN, 0};
    struct timespec ts = {0, 20000000};
    EXPECT_EQ(ppoll(&p, 1, &ts, NULL), 0);
    EXPECT(ts.tv_sec == 0 && ts.tv_nsec == 20000000);
    /* Without it, select says what is left: nothing. */
    EXPECT_OK(personality(old));
    FD_SET(fds[0], &set);
    EXPECT_EQ(select(fds[0] + 1, &set, NULL, NULL, &tv), 0);
    EXPECT(tv.tv_sec == 0 && tv.tv_usec == 0);
}

CASE(kcmp_compares_files_and_memory) {
    int fd = open("/dev/null", O_RDONLY);
    int same = dup(fd), other = open("/dev/null", O_RDONLY);
    pid_t me = getpid();
    EXPECT_EQ(syscall(SYS_kcmp, me, me, 0 /* KCMP_FILE */, fd, same), 0);
    long r = syscall(SYS_kcmp, me, me, 0, fd, other);
    EXPECT(r == 1 || r == 2);
    EXPECT_EQ(syscall(SYS_kcmp, me, me, 1 /* KCMP_VM */, 0, 0), 0);
    pid_t c = fork();
    if (c == 0) { pause(); _exit(0); }
    r = syscall(SYS_kcmp, me, c, 1, 0, 0); /* fork: another address space */
    EXPECT(r == 1 || r == 2);
    EXPECT_EQ(syscall(SYS_kcmp, me, c, 0, fd, fd), 0); /* but the same open file */
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    EXPECT_ERRNO(syscall(SYS_kcmp, me, me, 0, fd, 999), EBADF);
    EXPECT_ERRNO(syscall(SYS_kcmp, me, c, 1, 0, 0), ESRCH);
    EXPECT_ERRNO(syscall(SYS_kcmp, me, me, 99, 0, 0), EINVAL);
}

CASE(kcmp_io_and_sysvsem_follow_clone_io_and_clone_sysvsem) {
    pid_t me = getpid();
    /* with CLONE_IO and CLONE_SYSVSEM the child shares both (or neither has one: equal too) */
    long c = syscall(SYS_clone, CLONE_IO | CLONE_SYSVSEM | SIGCHLD, 0, 0, 0, 0);
    if (c == 0) {
        pid_t parent = getppid(), self = getpid();
        if (syscall(SYS_kcmp, parent, self, 5 /* KCMP_IO */, 0, 0) != 0) _exit(1);
        if (syscall(SYS_kcmp, parent, self, 6 /* KCMP_SYSVSEM */, 0, 0) != 0) _exit(2);
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT_EQ(st, 0);
    EXPECT_EQ(syscall(SYS_kcmp, me, me, 5, 0, 0), 0);
    EXPECT_EQ(syscall(SYS_kcmp, me, me, 6, 0, 0), 0);
}

CASE(ioprio_get_and_set_check_their_arguments) {
    EXPECT(syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0) >= 0);
    EXPECT_OK(syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 4)); /* best effort, level 4 */
    EXPECT_ERRNO(syscall(SYS_ioprio_set, 1, 0, 1), EINVAL); /* class NONE with a level */
    EXPECT_ERRNO(syscall(SYS_ioprio_set, 1, 0, 5 << 13), EINVAL);       /* no such class */
    EXPECT_ERRNO(syscall(SYS_ioprio_get, 9, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_ioprio_get, 1, 999999), ESRCH);
}

static volatile int tg_value;
static void on_tg(int sig, siginfo_t *si, void *uc) { (void)sig; (void)uc; tg_value = si->si_value.sival_int; }

CASE(rt_tgsigqueueinfo_to_this_thread) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_tg;
    sa.sa_flags = SA_SIGINFO;
    EXPECT_OK(sigaction(SIGUSR1, &sa, NULL));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGUSR1;
    si.si_code = SI_QUEUE;
    si.si_value.sival_int = 1234;
    EXPECT_OK(syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGUSR1, &si));
    EXPECT_EQ(tg_value, 1234);
    EXPECT_ERRNO(syscall(SYS_rt_tgsigqueueinfo, getpid(), 999999, SIGUSR1, &si), ESRCH);
    EXPECT_ERRNO(syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), 99, &si), EINVAL);
}

CASE(restart_syscall_with_nothing_to_restart_is_eintr) {
    EXPECT_ERRNO(syscall(SYS_restart_syscall), EINTR);
}

CASE(syslog_size_and_permissions) {
    char buf[64];
    if (geteuid() == 0) {
        EXPECT(syscall(SYS_syslog, 10 /* SIZE_BUFFER */, NULL, 0) > 0);
        EXPECT(syscall(SYS_syslog, 9 /* SIZE_UNREAD */, NULL, 0) >= 0);
    }
    EXPECT_ERRNO(syscall(SYS_syslog, 99, buf, sizeof buf), EINVAL);
    EXPECT_EQ(syscall(SYS_syslog, 0 /* CLOSE */, NULL, 0), 0);
    pid_t c = fork();
    if (c == 0) {
        if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0) _exit(3);
        _exit(syscall(SYS_syslog, 3 /* READ_ALL */, buf, sizeof buf) == -1 && errno == EPERM ? 0 : 4);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

CASE(setpgid_of_a_child_that_has_execed_is_eacces) {
    /* LTP setpgid03: once the child has execve'd, its parent may not move it. */
    int fds[2];
    EXPECT_OK(pipe(fds));
    pid_t c = fork();
    if (c == 0) {
        dup2(fds[0], 0);
        execl("/bin/sh", "sh", "-c", "read x", (char *)NULL);
        _exit(127);
    }
    /* Wait until the exec is done: the child's /proc/PID/exe is the shell. */
    char path[64], link[256];
    snprintf(path, sizeof path, "/proc/%d/exe", c);
    for (int i = 0; i < 2000; i++) {
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n > 0) { link[n] = 0; if (strstr(link, "sh")) break; }
        usleep(1000);
    }
    EXPECT_ERRNO(setpgid(c, c), EACCES);
    EXPECT_EQ(write(fds[1], "x\n", 2), 2);
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
}

CASE(setpriority_of_another_users_process_is_eperm_before_eacces) {
    /* LTP setpriority02: not the caller's to change (EPERM), even when raising it. */
    pid_t root = getpid();
    pid_t c = fork();
    if (c == 0) {
        if (setuid(65534) != 0) _exit(1);
        if (setpriority(PRIO_PROCESS, root, -2) == 0 || errno != EPERM) _exit(2);
        if (setpriority(PRIO_PROCESS, 0, -2) == 0 || errno != EACCES) _exit(3);
        _exit(0);
    }
    int st;
    EXPECT_EQ(waitpid(c, &st, 0), c);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

COMPAT_MAIN()

/* clone3(2) and clone(2) with CLONE_PIDFD, and clone3's set_tid. */
struct clone_args_v2 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

static long clone3_(struct clone_args_v2 *a, size_t size) { return syscall(435, a, size); }

CASE(clone3_with_clone_pidfd_gives_a_pidfd_of_the_child) {
    int pidfd = -1;
    struct clone_args_v2 a = {.flags = 0x1000 /* CLONE_PIDFD */, .pidfd = (uint64_t)(uintptr_t)&pidfd, .exit_signal = SIGCHLD};
    long pid = clone3_(&a, sizeof a);
    if (pid == 0) _exit(7);
    EXPECT(pid > 0);
    EXPECT(pidfd >= 0);
    EXPECT_EQ(fcntl(pidfd, F_GETFD), FD_CLOEXEC);
    siginfo_t si = {0};
    EXPECT_OK(waitid(3 /* P_PIDFD */, pidfd, &si, WEXITED));
    EXPECT_EQ(si.si_pid, pid);
    EXPECT_EQ(si.si_status, 7);
    close(pidfd);
}

CASE(clone_pidfd_goes_where_parent_tid_would) {
    int pidfd = -1;
    long pid = syscall(SYS_clone, 0x1000 /* CLONE_PIDFD */ | SIGCHLD, 0, &pidfd, 0, 0);
    if (pid == 0) _exit(3);
    EXPECT(pid > 0);
    EXPECT(pidfd >= 0);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    close(pidfd);
    /* Not with CLONE_PARENT_SETTID (the same argument); a bad address is EFAULT. */
    EXPECT_ERRNO(syscall(SYS_clone, 0x1000 | 0x100000 | SIGCHLD, 0, &pidfd, 0, 0), EINVAL);
    struct clone_args_v2 bad = {.flags = 0x1000, .pidfd = 8, .exit_signal = SIGCHLD};
    EXPECT_ERRNO(clone3_(&bad, sizeof bad), EFAULT);
}

CASE(clone3_set_tid_picks_the_childs_pid) {
    /* A free pid far from where pids are being given out. */
    pid_t want = 30000 + getpid() % 1000;
    while (kill(want, 0) == 0 || errno != ESRCH) want++;
    struct clone_args_v2 a = {.exit_signal = SIGCHLD, .set_tid = (uint64_t)(uintptr_t)&want, .set_tid_size = 1};
    long pid = clone3_(&a, sizeof a);
    if (pid == 0) _exit(getpid() == want ? 0 : 1);
    EXPECT_EQ(pid, want);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    pid_t mine = getpid();
    struct clone_args_v2 taken = {.exit_signal = SIGCHLD, .set_tid = (uint64_t)(uintptr_t)&mine, .set_tid_size = 1};
    EXPECT_ERRNO(clone3_(&taken, sizeof taken), EEXIST);
    struct clone_args_v2 two = {.exit_signal = SIGCHLD, .set_tid = (uint64_t)(uintptr_t)&want, .set_tid_size = 2};
    EXPECT_ERRNO(clone3_(&two, sizeof two), EINVAL);
    struct clone_args_v2 nopointer = {.exit_signal = SIGCHLD, .set_tid_size = 1};
    EXPECT_ERRNO(clone3_(&nopointer, sizeof nopointer), EINVAL);
}

CASE(clone3_checks_its_struct) {
    struct clone_args_v2 a = {.exit_signal = SIGCHLD};
    EXPECT_ERRNO(clone3_(&a, 56), EINVAL);
    struct { struct clone_args_v2 a; uint64_t extra; } big = {{.exit_signal = SIGCHLD}, 1};
    EXPECT_ERRNO(clone3_((struct clone_args_v2 *)&big, sizeof big), E2BIG);
    struct clone_args_v2 sig = {.flags = SIGCHLD};
    EXPECT_ERRNO(clone3_(&sig, sizeof sig), EINVAL); /* the signal goes in exit_signal */
    static char stack[4096];
    struct clone_args_v2 nosize = {.exit_signal = SIGCHLD, .stack = (uint64_t)(uintptr_t)stack};
    EXPECT_ERRNO(clone3_(&nosize, sizeof nosize), EINVAL);
    /* The 64-byte first version works. */
    long pid = clone3_(&a, 64);
    if (pid == 0) _exit(0);
    EXPECT(pid > 0);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
}

/* ---- who may execute what, and a running program's file ---- */

/* Copies `from` into the scratch directory as `name` with `mode`. */
static void copy_program(const char *from, const char *name, mode_t mode) {
    char buf[65536];
    int in = open(from, O_RDONLY), out = open(scratch_path(name), O_CREAT | O_WRONLY | O_TRUNC, 0700);
    if (in < 0 || out < 0) compat_fail(__FILE__, __LINE__, "copy %s: %s", from, strerror(errno));
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n) compat_fail(__FILE__, __LINE__, "write: %s", strerror(errno));
    close(in);
    close(out);
    if (chmod(scratch_path(name), mode) != 0) compat_fail(__FILE__, __LINE__, "chmod: %s", strerror(errno));
}

/* Waits (up to 2 s) until /proc/PID/exe of `pid` names a file whose path holds `name`: the
 * child has exec'd it. */
static void wait_until_running(pid_t pid, const char *name) {
    char link[64], target[600];
    snprintf(link, sizeof link, "/proc/%d/exe", pid);
    for (int tries = 0; tries < 400; tries++) {
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len > 0 && (target[len] = 0, strstr(target, name))) return;
        usleep(5000);
    }
}

CASE(execve_needs_execute_permission_for_the_caller) {
    EXPECT_OK(chmod(scratch(), 0755));
    copy_program("/bin/true", "owner-only", 0700);
    copy_program("/bin/true", "x-for-owner", 0100);
    char *argv[] = {"true", NULL};
    EXPECT_EQ(run_exec(scratch_path("owner-only"), argv, environ), 0);
    EXPECT_EQ(run_exec(scratch_path("x-for-owner"), argv, environ), 0); /* root: one x bit is enough */
    pid_t pid = fork();
    if (pid == 0) {
        if (setresuid(1000, 1000, 1000) != 0) _exit(1);
        execve(scratch_path("owner-only"), argv, environ);
        _exit(errno == EACCES ? 0 : 2);
    }
    EXPECT_EQ(reap(pid), 0);
}

CASE(a_running_program_cannot_be_written_nor_a_written_file_run) {
    /* this very program */
    EXPECT_ERRNO(open("/proc/self/exe", O_WRONLY), ETXTBSY);
    EXPECT_ERRNO(open("/proc/self/exe", O_RDWR), ETXTBSY);
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    EXPECT(n > 0);
    self[n] = 0;
    EXPECT_ERRNO(truncate(self, 0), ETXTBSY);
    int ro = open("/proc/self/exe", O_RDONLY);
    EXPECT(ro >= 0); /* reading is fine */
    /* a file open for writing cannot be executed */
    copy_program("/bin/true", "prog", 0755);
    int w = open(scratch_path("prog"), O_WRONLY);
    EXPECT(w >= 0);
    char *argv[] = {"prog", NULL};
    EXPECT_EQ(run_exec(scratch_path("prog"), argv, environ), (200 + ETXTBSY) << 8);
    EXPECT_OK(close(w));
    EXPECT_EQ(run_exec(scratch_path("prog"), argv, environ), 0);
    /* while it runs, it cannot be opened for writing; once it is gone it can */
    copy_program("/bin/sleep", "sleeper", 0755);
    pid_t pid = fork();
    if (pid == 0) {
        char *args[] = {"sleeper", "5", NULL};
        execve(scratch_path("sleeper"), args, environ);
        _exit(1);
    }
    wait_until_running(pid, "sleeper");
    EXPECT_ERRNO(open(scratch_path("sleeper"), O_WRONLY), ETXTBSY);
    int fd;
    EXPECT_OK(kill(pid, SIGKILL));
    reap(pid);
    fd = open(scratch_path("sleeper"), O_WRONLY);
    EXPECT(fd >= 0);
}

CASE(execve_with_no_arguments_gets_an_empty_argv0) {
    int in[2];
    EXPECT_OK(pipe(in));
    const char *script = "echo \"$#:[$0]\" > out\n";
    EXPECT_EQ(write(in[1], script, strlen(script)), (ssize_t)strlen(script));
    close(in[1]);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        char *argv[] = {NULL};
        execve("/bin/sh", argv, environ); /* argc 0: the shell reads its commands from stdin */
        _exit(1);
    }
    EXPECT_EQ(reap(pid), 0);
    char text[64] = {0};
    EXPECT(slurp(scratch_path("out"), text, sizeof text) > 0);
    EXPECT_STREQ(text, "0:[]\n");
}

/* getrusage counts context switches: a sleep is a voluntary one; a child's reach its parent
 * once waited for. */
CASE(getrusage_counts_voluntary_context_switches) {
    struct rusage before, after, children;
    EXPECT_OK(getrusage(RUSAGE_SELF, &before));
    for (int i = 0; i < 3; i++) usleep(1000);
    EXPECT_OK(getrusage(RUSAGE_SELF, &after));
    EXPECT(after.ru_nvcsw >= before.ru_nvcsw + 3);
    EXPECT_OK(getrusage(RUSAGE_THREAD, &after));
    EXPECT(after.ru_nvcsw >= 3);
    pid_t child = fork();
    if (child == 0) { for (int i = 0; i < 5; i++) usleep(1000); _exit(0); }
    EXPECT_EQ(wait_status(child), 0);
    EXPECT_OK(getrusage(RUSAGE_CHILDREN, &children));
    EXPECT(children.ru_nvcsw >= 5);
}

/* ---- exec through an fd (fexecve, execveat with AT_EMPTY_PATH) ---- */

/* Runs the program open at `fd` with execveat(fd, "", AT_EMPTY_PATH) in a child: its exit
 * status, or 200 + errno when the exec fails. */
static int run_fexecve(int fd, char *const argv[]) {
    pid_t pid = fork();
    if (pid == 0) {
        syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
        _exit(200 + (errno & 31));
    }
    int st = reap(pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A memfd runs through the very fd memfd_create returned, writable as it is: that fd is not
 * among the openers that make a file busy (alloc_file_pseudo). comm is the file's name and
 * /proc/PID/exe the memfd's. */
CASE(fexecve_runs_a_memfd_through_its_own_fd) {
    int m = memfd_create("sh", 0);
    EXPECT(m >= 0);
    int in = open("/bin/sh", O_RDONLY);
    EXPECT(in >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) EXPECT_EQ(write(m, buf, n), n);
    close(in);
    char *argv[] = {"sh", "-c", "read c < /proc/$$/comm; test \"$c\" = memfd:sh || exit 3;"
                    " test \"$(readlink /proc/$$/exe)\" = '/memfd:sh (deleted)' || exit 4;"
                    " test \"$(head -c4 /proc/$$/exe | tail -c3)\" = ELF || exit 5; exit 42", NULL};
    EXPECT_EQ(run_fexecve(m, argv), 42);
    /* Another writer, by reopening it, makes it busy as any file. */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", m);
    int w = open(path, O_WRONLY);
    EXPECT(w >= 0);
    EXPECT_EQ(run_fexecve(m, argv), 200 + ETXTBSY);
    close(w);
    EXPECT_EQ(run_fexecve(m, argv), 42);
}

/* The fd's own file runs, whatever its path names now: unlinked, or replaced by another. */
CASE(fexecve_runs_the_file_opened_not_its_path) {
    copy_program("/bin/sh", "prog", 0755);
    int fd = open(scratch_path("prog"), O_RDONLY);
    EXPECT(fd >= 0);
    EXPECT_OK(unlink(scratch_path("prog")));
    char *argv[] = {"sh", "-c", "read c < /proc/$$/comm; test \"$c\" = prog || exit 3; exit 42", NULL};
    EXPECT_EQ(run_fexecve(fd, argv), 42);
    make_file("prog", "#!/bin/sh\nexit 9\n", 17, 0755);
    EXPECT_EQ(run_fexecve(fd, argv), 42);
    /* Still refused when open for writing, and for what is not a regular file. */
    copy_program("/bin/true", "written", 0755);
    int w = open(scratch_path("written"), O_RDWR);
    EXPECT(w >= 0);
    EXPECT_EQ(run_fexecve(w, argv), 200 + ETXTBSY);
    int dir = open(scratch(), O_RDONLY | O_DIRECTORY), ev = eventfd(0, 0);
    EXPECT_EQ(run_fexecve(dir, argv), 200 + EACCES);
    EXPECT_EQ(run_fexecve(ev, argv), 200 + EACCES);
    EXPECT_EQ(run_fexecve(99, argv), 200 + EBADF);
}

/* A script run through an fd gets /dev/fd/N as its interpreter's argument, so a
 * close-on-exec fd cannot run one (ENOENT: the interpreter could not open it). */
CASE(fexecve_of_a_script_needs_an_fd_that_survives_exec) {
    make_file("script", "#!/bin/sh\nexit 7\n", 17, 0755);
    int fd = open(scratch_path("script"), O_RDONLY), cloexec = open(scratch_path("script"), O_RDONLY | O_CLOEXEC);
    EXPECT(fd >= 0 && cloexec >= 0);
    char *argv[] = {"script", NULL};
    EXPECT_EQ(run_fexecve(fd, argv), 7);
    EXPECT_EQ(run_fexecve(cloexec, argv), 200 + ENOENT);
}

/* /proc/PID/exe names the running program's file where it is now: renamed, then removed. */
CASE(proc_exe_follows_the_running_program_through_rename_and_unlink) {
    copy_program("/bin/sleep", "prog", 0755);
    pid_t pid = fork();
    if (pid == 0) {
        char *args[] = {"prog", "5", NULL};
        execve(scratch_path("prog"), args, environ);
        _exit(1);
    }
    wait_until_running(pid, "/prog");
    char link[64], got[600], want[600];
    snprintf(link, sizeof link, "/proc/%d/exe", pid);
    EXPECT_OK(rename(scratch_path("prog"), scratch_path("renamed")));
    ssize_t n = readlink(link, got, sizeof got - 1);
    EXPECT(n > 0);
    got[n] = 0;
    EXPECT_STREQ(got, scratch_path("renamed"));
    EXPECT_OK(unlink(scratch_path("renamed")));
    n = readlink(link, got, sizeof got - 1);
    EXPECT(n > 0);
    got[n] = 0;
    snprintf(want, sizeof want, "%s (deleted)", scratch_path("renamed"));
    EXPECT_STREQ(got, want);
    int fd = open(link, O_RDONLY); /* still reaches the file */
    EXPECT(fd >= 0);
    char elf[4];
    EXPECT_EQ(read(fd, elf, 4), 4);
    EXPECT_EQ(memcmp(elf, "\177ELF", 4), 0);
    EXPECT_OK(kill(pid, SIGKILL));
    reap(pid);
}
