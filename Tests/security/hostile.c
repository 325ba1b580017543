/* A hostile guest: each attempt prints "ok NAME" when the sandbox held, "FAIL NAME: why"
 * when it did not. Run by security-test.sh inside `joey do --rootfs ROOT` where ROOT holds
 * no file called `marker`, while the host has MARKER (argv[1]) outside ROOT; the script also
 * checks on the host that nothing named ESCAPE (argv[2]) was created. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int failed;
static void result(const char *name, int held, const char *why) {
    if (held) printf("ok %s\n", name);
    else { printf("FAIL %s: %s\n", name, why); failed++; }
    fflush(stdout);
}

/* Whether `path` opens and reads the host's marker text. */
static int reads_marker(const char *path, const char *text) {
    char buf[256] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 && strstr(buf, text) != NULL;
}

/* Runs `fn` in a child; returns its wait status (the child may be killed). */
static int in_child(void (*fn)(const char *), const char *arg) {
    pid_t p = fork();
    if (p == 0) { fn(arg); _exit(0); }
    int st = 0;
    waitpid(p, &st, 0);
    return st;
}

static void int80_mkdir(const char *path) {
    long r;
    /* i386 mkdir is 39: made through the 32-bit entry, it must never reach the host. */
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(39), "b"((long)(uintptr_t)path), "c"(0755) : "memory");
    _exit(r == 0 ? 3 : 0);
}

static void x32_mkdir(const char *path) {
    long r = syscall(0x40000000 | 83 /* x32 mkdir */, path, 0755);
    _exit(r == 0 ? 3 : 0);
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: hostile MARKER-PATH MARKER-TEXT ESCAPE-PATH\n"); return 2; }
    const char *marker = argv[1], *text = argv[2], *escape = argv[3];
    char path[4096];

    /* 1. Paths that climb out of the root. */
    snprintf(path, sizeof path, "/../../../../..%s", marker);
    result("dotdot_from_root", !reads_marker(path, text), path);
    snprintf(path, sizeof path, "/proc/self/root/../../..%s", marker);
    result("proc_self_root", !reads_marker(path, text), path);
    snprintf(path, sizeof path, "/proc/1/root%s", marker);
    result("proc_1_root", !reads_marker(path, text), path);
    snprintf(path, sizeof path, "/proc/self/cwd/../../../..%s", marker);
    result("proc_self_cwd", !reads_marker(path, text), path);

    /* 2. Symlinks made in the sandbox, absolute and relative. */
    mkdir("/tmp/esc", 0755);
    symlink(marker, "/tmp/esc/abs");
    snprintf(path, sizeof path, "../../../../../../..%s", marker);
    symlink(path, "/tmp/esc/rel");
    result("absolute_symlink", !reads_marker("/tmp/esc/abs", text), "an absolute symlink reached the host");
    result("relative_symlink", !reads_marker("/tmp/esc/rel", text), "a relative symlink reached the host");

    /* 3. chroot into a subdirectory, then fchdir to an fd opened outside it and climb. */
    int outside = open("/", O_RDONLY | O_DIRECTORY);
    mkdir("/tmp/jail", 0755);
    if (chroot("/tmp/jail") == 0 && fchdir(outside) == 0) {
        for (int i = 0; i < 20; i++) if (chdir("..") != 0) break;
        snprintf(path, sizeof path, ".%s", marker);
        result("chroot_fchdir", !reads_marker(path, text), "climbed out of chroot to the host");
        chroot(".");
    } else {
        result("chroot_fchdir", 1, "");
    }

    /* 4. System calls through other ABIs: never executed by the host. */
    int st = in_child(int80_mkdir, escape);
    result("int80_is_not_passed_through", !(WIFEXITED(st) && WEXITSTATUS(st) == 3), "int 0x80 mkdir succeeded");
    st = in_child(x32_mkdir, escape);
    result("x32_is_not_passed_through", !(WIFEXITED(st) && WEXITSTATUS(st) == 3), "x32 mkdir succeeded");

    /* 5. Host processes: the guest sees only its own. */
    int seen_host = 0;
    for (int pid = 2; pid < 4096; pid++) {
        snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
        if (reads_marker(path, "joey")) seen_host = 1;
    }
    result("no_host_process_in_proc", !seen_host, "a joey process appears in the guest's /proc");
    result("no_host_fd_in_proc_self_fd", readlink("/proc/self/fd/100", path, sizeof path) < 0, "an unexpected fd 100");

    /* 6. Exhaustion stops at the limits, and the sentry answers afterwards. */
    struct rlimit nofile = {64, 64};
    setrlimit(RLIMIT_NOFILE, &nofile);
    int opened = 0, last = -1;
    while ((last = open("/", O_RDONLY)) >= 0) opened++;
    result("fd_exhaustion_is_emfile", errno == EMFILE && opened < 64, "fds beyond RLIMIT_NOFILE");
    for (int fd = 3; fd < 64; fd++) close(fd);
    int forked = 0;
    pid_t kids[4096];
    while (forked < 4096) {
        pid_t p = fork();
        if (p < 0) break;
        if (p == 0) { pause(); _exit(0); }
        kids[forked++] = p;
    }
    int stopped = forked < 4096 && errno == EAGAIN;
    for (int i = 0; i < forked; i++) kill(kids[i], SIGKILL);
    for (int i = 0; i < forked; i++) waitpid(kids[i], NULL, 0);
    result("fork_bomb_stops_at_the_pids_limit", stopped, "fork never failed with EAGAIN");
    result("sentry_answers_after", getpid() > 0 && access("/", F_OK) == 0, "");

    printf("%d failed\n", failed);
    return failed != 0;
}
