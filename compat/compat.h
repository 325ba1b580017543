/* Joey's syscall compatibility suite: the harness every case file uses.
 *
 * A file holds cases written against real Linux behaviour:
 *
 *     CASE(open_missing_file_is_enoent) {
 *         EXPECT_ERRNO(open("/nonexistent", O_RDONLY), ENOENT);
 *     }
 *
 * and ends with `COMPAT_MAIN()`. Each case runs in its own forked child (a crash or a
 * hang fails only that case), prints one line `ok NAME` or `FAIL NAME: why`, and the
 * program closes with `N passed, N failed`. `compat/run.py` runs every file natively
 * (all cases must pass there), under Joey, and under runsc when installed.
 */
#ifndef JOEY_COMPAT_H
#define JOEY_COMPAT_H
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdarg.h>
#include <fcntl.h>
#include <grp.h>

typedef void (*compat_fn)(void);
struct compat_case { const char *name; compat_fn fn; };

#define COMPAT_MAX_CASES 512
static struct compat_case compat_cases[COMPAT_MAX_CASES];
static int compat_ncases;
static int compat_failed_here; /* in the child: did an expectation fail? */

#define CASE(name)                                                                  \
    static void case_##name(void);                                                  \
    __attribute__((constructor)) static void register_##name(void) {               \
        if (compat_ncases < COMPAT_MAX_CASES)                                       \
            compat_cases[compat_ncases++] = (struct compat_case){#name, case_##name}; \
    }                                                                               \
    static void case_##name(void)

/* The first failed expectation is reported on stderr's sibling pipe and ends the case. */
static int compat_report_fd = -1;
static void compat_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
static void compat_fail(const char *file, int line, const char *fmt, ...) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s:%d: ", strrchr(file, '/') ? strrchr(file, '/') + 1 : file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof buf - n, fmt, ap);
    va_end(ap);
    /* A process the case forked may have reported first: the pipe's reader is then gone. */
    signal(SIGPIPE, SIG_IGN);
    if (compat_report_fd >= 0) { ssize_t w = write(compat_report_fd, buf, strlen(buf)); (void)w; }
    _exit(1);
}

/* EXPECT(cond): cond must be true. */
#define EXPECT(cond) do { if (!(cond)) compat_fail(__FILE__, __LINE__, "expected %s", #cond); } while (0)
/* EXPECT_OK(call): call must not return -1 (errno is reported otherwise). */
#define EXPECT_OK(call) do { errno = 0; long _r = (long)(call);                           \
    if (_r == -1) compat_fail(__FILE__, __LINE__, "%s failed: %s", #call, strerror(errno)); } while (0)
/* EXPECT_EQ(a, b): two integers are equal. */
#define EXPECT_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b);             \
    if (_a != _b) compat_fail(__FILE__, __LINE__, "%s == %lld, expected %lld", #a, _a, _b); } while (0)
/* EXPECT_ERRNO(call, err): call must return -1 with errno err. */
#define EXPECT_ERRNO(call, err) do { errno = 0; long _r = (long)(call); int _e = errno;      \
    if (_r != -1) compat_fail(__FILE__, __LINE__, "%s returned %ld, expected -1 %s", #call, _r, #err); \
    if (_e != (err)) compat_fail(__FILE__, __LINE__, "%s: errno %s, expected %s", #call, strerrorname_np(_e) ? strerrorname_np(_e) : "?", #err); \
} while (0)
/* EXPECT_STREQ(a, b): two C strings are equal. */
#define EXPECT_STREQ(a, b) do { const char *_a = (a), *_b = (b);                            \
    if (!_a || !_b || strcmp(_a, _b)) compat_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, _a ? _a : "(null)", _b ? _b : "(null)"); } while (0)

/* Installs a plain handler (or SIG_IGN/SIG_DFL) with an empty mask; fails the case on error. */
static void install(int sig, void (*fn)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) compat_fail(__FILE__, __LINE__, "sigaction(%d): %s", sig, strerror(errno));
}

/* A scratch directory for the case (not under /tmp's root: created per case). */
static char compat_tmp[256];
static const char *scratch(void) { return compat_tmp; }
static const char *scratch_path(const char *name) {
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", compat_tmp, name);
    return buf[i];
}

/* A small file's whole content (at most size - 1 bytes, NUL-terminated); -1 if it cannot be opened. */
__attribute__((unused)) static ssize_t slurp(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r <= 0) break;
        n += r;
        if (n == size - 1) break;
    }
    buf[n] = 0;
    close(fd);
    return (ssize_t)n;
}

/* Waits (up to about 2 s) until the task whose /proc stat file is `stat_path` is asleep
 * (state S): it has entered a blocking call. */
__attribute__((unused)) static void wait_until_asleep(const char *stat_path) {
    char stat[512];
    for (int i = 0; i < 2000; i++) {
        if (slurp(stat_path, stat, sizeof stat) <= 0) return;
        char *paren = strrchr(stat, ')');
        if (paren && paren[1] == ' ' && paren[2] == 'S') return;
        usleep(1000);
    }
}

/* Runs `fn` in a child that is nobody (65534) with no supplementary groups; returns the
 * child's wait status (exit 0 when `fn` returns, 99 when the ids could not be dropped). */
__attribute__((unused)) static int status_as_nobody(void (*fn)(void)) {
    pid_t child = fork();
    if (child == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(99);
        fn();
        _exit(0);
    }
    int status = 0;
    if (waitpid(child, &status, 0) != child) compat_fail(__FILE__, __LINE__, "waitpid: %s", strerror(errno));
    return status;
}

/* As status_as_nobody; the case fails unless the child exits 0. */
#define AS_NOBODY(fn) do { int _st = status_as_nobody(fn);                                 \
    if (!WIFEXITED(_st) || WEXITSTATUS(_st) != 0) compat_fail(__FILE__, __LINE__, "%s as nobody: wait status 0x%x", #fn, _st); } while (0)

/* Copies the file `from` to a new (or truncated) file `to` of mode `mode`. */
__attribute__((unused)) static void copy_file(const char *from, const char *to, mode_t mode) {
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (in < 0 || out < 0) compat_fail(__FILE__, __LINE__, "copy %s to %s: %s", from, to, strerror(errno));
    static char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n) compat_fail(__FILE__, __LINE__, "copy to %s: %s", to, strerror(errno));
    close(in);
    close(out);
}

/* Waits for the child `pid`: its exit code, 128 + the signal that ended it, or -1. */
__attribute__((unused)) static int wait_status(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Writes `text` to a new (or truncated) file at `path`, mode 0644. */
__attribute__((unused)) static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, text, strlen(text)), (long)strlen(text));
    close(fd);
}

static int compat_run_one(struct compat_case *c, int timeout) {
    int pfd[2];
    if (pipe(pfd) != 0) return 0;
    snprintf(compat_tmp, sizeof compat_tmp, "/tmp/compat-%d-%s", getpid(), c->name);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        compat_report_fd = pfd[1];
        alarm(timeout);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "%s", compat_tmp);
        if (mkdir(cmd, 0755) != 0) compat_fail(__FILE__, __LINE__, "cannot create scratch %s", cmd);
        if (chdir(cmd) != 0) compat_fail(__FILE__, __LINE__, "cannot enter scratch");
        c->fn();
        _exit(0);
    }
    close(pfd[1]);
    char why[512] = {0};
    ssize_t n = read(pfd[0], why, sizeof why - 1);
    (void)n;
    close(pfd[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    /* Clean the scratch directory with the shell's rm (cases may leave anything). */
    pid_t rm = fork();
    if (rm == 0) { execl("/bin/rm", "rm", "-rf", compat_tmp, (char *)0); _exit(127); }
    int rst; while (waitpid(rm, &rst, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) { printf("ok %s\n", c->name); return 1; }
    if (WIFSIGNALED(st))
        printf("FAIL %s: killed by signal %d%s\n", c->name, WTERMSIG(st), WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
    else
        printf("FAIL %s: %s\n", c->name, why[0] ? why : "exited with an error");
    return 0;
}

#define COMPAT_MAIN()                                                              \
    int main(int argc, char **argv) {                                              \
        setvbuf(stdout, NULL, _IOLBF, 0);                                          \
        int passed = 0, failed = 0;                                                \
        for (int i = 0; i < compat_ncases; i++) {                                  \
            if (argc > 1 && strcmp(argv[1], compat_cases[i].name)) continue;       \
            if (compat_run_one(&compat_cases[i], 10)) passed++; else failed++;     \
        }                                                                          \
        printf("%d passed, %d failed\n", passed, failed);                          \
        return failed ? 1 : 0;                                                     \
    }

#endif
