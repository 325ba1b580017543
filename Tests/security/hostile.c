/* A hostile guest: each attempt prints "ok NAME" when the sandbox held, "FAIL NAME: why"
 * when it did not. Run by security-test.sh inside `joey do --rootfs ROOT` where ROOT holds
 * no file called `marker`, while the host has MARKER (argv[1]) outside ROOT; the script also
 * checks on the host that nothing named ESCAPE (argv[3]) or ESCAPE-* was created (run once
 * with the sentry confined and once --unconfined, where the stub is the only wall between a
 * stray host call and the host's root).
 *
 *   hostile MARKER-PATH MARKER-TEXT ESCAPE-PATH
 *     1. paths that climb out of the root (.., /proc/self/root, /proc/1/root, /proc/self/cwd)
 *     2. symlinks made in the sandbox, absolute and relative
 *     3. chroot into a subdirectory, fchdir to an fd opened outside it, climb
 *     4. system calls through other ABIs: int 0x80 and sysenter (i386 mkdir on a pointer
 *        below 4 GiB, and the 64-bit registers), x32; the legacy vsyscall page
 *        (gettimeofday, time) runs as on Linux or faults with SIGSEGV
 *     5. a `syscall` on a page the guest wrote (JIT): a guest call (getpid, mkdir)
 *     6. jumps into the platform's stub page (found at Joey's fixed address) at every byte
 *        of its code and every syscall/int 0x80/sysenter byte pair in it, with mkdir's
 *        registers, each from a fresh child (killed after 20 ms if still running)
 *     7. host processes and fds in /proc
 *     8. fd, fork and thread exhaustion stop at the limits (--pids-limit 64)
 *
 *   hostile memory LIMIT-MIB       (run under `joey do --memory LIMIT-MIB M`)
 *     anonymous memory (1 MiB mallocs, and one big mapping touched a page at a time), eight
 *     processes together, reads into fresh memory (the sentry's copies) and a file in /tmp
 *     written 1 MiB at a time stop at the limit (the hog is killed as by an OOM kill, or
 *     sees ENOMEM/ENOSPC); a read beside a process holding the memory completes (the holder
 *     is killed); afterwards the memory is the sandbox's again.
 *
 * Run natively (no sandbox) the ABI checks of 4 fail: there the host does run the i386
 * calls, which is what they detect. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
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

static int exists(const char *path) { struct stat st; return lstat(path, &st) == 0; }

/* How a child ended, for messages. */
static const char *fate(int st) {
    static char buf[64];
    if (WIFEXITED(st)) snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) snprintf(buf, sizeof buf, "killed by signal %d", WTERMSIG(st));
    else snprintf(buf, sizeof buf, "status %#x", st);
    return buf;
}

/* Runs `fn` in a child; returns its wait status (the child may be killed). */
static int in_child(void (*fn)(const char *), const char *arg) {
    pid_t p = fork();
    if (p == 0) { fn(arg); _exit(0); }
    int st = 0;
    waitpid(p, &st, 0);
    return st;
}

/* i386 system calls take 32-bit pointers: the paths they get live in .bss, below 4 GiB in
 * this static, non-PIE program (a stack pointer would be truncated and only fault). */
static char low_path[512], low_path64[512];
static char low_stack[8192] __attribute__((aligned(16)));
static int low_ok(void) { return (uintptr_t)low_path < 0xfffff000u && (uintptr_t)low_stack < 0xfffff000u; }

static void int80_mkdir(const char *path) {
    long r;
    /* i386 mkdir is 39: made through the 32-bit entry, it must never reach the host. */
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(39), "b"((long)(uintptr_t)path), "c"(0755) : "memory");
    _exit(r == 0 ? 3 : 0);
}

static void int80_as_64bit_mkdir(const char *path) {
    long r;
    /* The 64-bit registers for mkdir (83, rdi, rsi). As i386 call 83 (symlink(ebx=0, ecx=0))
     * Linux fails it with EFAULT; run as a 64-bit call it would make `path`. */
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(83), "D"(path), "S"(0755), "b"(0), "c"(0) : "memory");
    _exit(r == 0 ? 3 : 0);
}

/* sysenter from 64-bit code: Linux (on Intel) runs it as an i386 call, fetching ebp from the
 * 32-bit stack pointer and returning to a landing pad that is not there, so the caller dies;
 * the call itself is made when esp points at readable memory, as here. */
static void sysenter_mkdir(const char *path) {
    __asm__ volatile("mov %0, %%rsp\n\tmov %%rsp, %%rbp\n\tsysenter\n\tud2"
                     : : "r"(low_stack + sizeof low_stack / 2), "a"(39L), "b"((long)(uintptr_t)path), "c"(0755L)
                     : "memory");
    _exit(0);
}

static void sysenter_as_64bit_mkdir(const char *path) {
    __asm__ volatile("mov %0, %%rsp\n\tmov %%rsp, %%rbp\n\tsysenter\n\tud2"
                     : : "r"(low_stack + sizeof low_stack / 2), "a"(83L), "D"(path), "S"(0755L), "b"(0L), "c"(0L)
                     : "memory");
    _exit(0);
}

static void x32_mkdir(const char *path) {
    long r = syscall(0x40000000 | 83 /* x32 mkdir */, path, 0755);
    _exit(r == 0 ? 3 : 0);
}

/* The legacy vsyscall page: gettimeofday at +0, time at +0x400. Linux (vsyscall=emulate or
 * xonly) runs them; with vsyscall=none the call faults with SIGSEGV. Exits 0 when both gave
 * the time the libc calls give, 1 when they did not. */
static void vsyscall_time(const char *unused) {
    (void)unused;
    struct timeval tv = {0, 0};
    long (*vgettimeofday)(struct timeval *, void *) = (void *)0xffffffffff600000UL;
    long (*vtime)(long *) = (void *)0xffffffffff600400UL;
    long r = vgettimeofday(&tv, NULL);
    long now = (long)time(NULL);
    long t = 0, rt = vtime(&t);
    int good = r == 0 && labs(tv.tv_sec - now) <= 5 && rt == t && labs(t - now) <= 5;
    _exit(good ? 0 : 1);
}

/* A page the guest wrote itself: `mov rdi, rax; mov rsi, rdi; mov rdx, rsi; syscall; ret`,
 * i.e. long jit(long nr, long a0, long a1). */
typedef long (*jit_fn)(long, long, long);
static jit_fn make_jit(int rwx) {
    static const unsigned char code[] = {0x48, 0x89, 0xf8, 0x48, 0x89, 0xf7, 0x48, 0x89, 0xd6, 0x0f, 0x05, 0xc3};
    int prot = PROT_READ | PROT_WRITE | (rwx ? PROT_EXEC : 0);
    unsigned char *p = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    memcpy(p + 64, code, sizeof code);
    if (!rwx && mprotect(p, 4096, PROT_READ | PROT_EXEC) != 0) return NULL;
    return (jit_fn)(p + 64);
}

/* Signal-guarded reads of memory that may not be mapped or readable. */
static sigjmp_buf probe_jump;
static void on_probe_fault(int sig) { (void)sig; siglongjmp(probe_jump, 1); }
static int read_guarded(const volatile uint8_t *p, uint8_t *out) {
    struct sigaction sa = {.sa_handler = on_probe_fault, .sa_flags = SA_NODEFER}, old_segv, old_bus;
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    int ok = 0;
    if (sigsetjmp(probe_jump, 1) == 0) { *out = *p; ok = 1; }
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    return ok;
}

/* Jumps to `site` with the registers of mkdir(path, 0755), rbx at the stub's control page
 * (where its signal handler keeps it) and r12 at a readable stack (its rt_sigreturn frame). */
static void jump_with_mkdir(uintptr_t site, const char *path, uintptr_t rbx) {
    __asm__ volatile("mov %2, %%rbx\n\tmov %%rsp, %%r12\n\txor %%edx, %%edx\n\txor %%r10d, %%r10d\n\t"
                     "xor %%r8d, %%r8d\n\txor %%r9d, %%r9d\n\tmov $83, %%eax\n\tmov %0, %%rdi\n\t"
                     "mov $0755, %%esi\n\tjmp *%1"
                     : : "r"(path), "r"(site), "r"(rbx)
                     : "rax", "rbx", "rdi", "rsi", "rdx", "r8", "r9", "r10", "r12", "memory");
}

/* Waits up to `ms` for the `n` children in `pids`, then SIGKILLs those left and reaps them;
 * each reaped child's pid becomes 0 and its status lands in `st`. Returns how many could not
 * be reaped within 5 s even after SIGKILL. */
static void on_alarm(int sig) { (void)sig; }
static int reap_within(pid_t *pids, int n, int ms, int *st) {
    struct timespec tick = {0, 1000000};
    int left = n;
    for (int t = 0; t <= ms && left; t++) {
        for (int i = 0; i < n; i++)
            if (pids[i] > 0 && waitpid(pids[i], &st[i], WNOHANG) == pids[i]) { pids[i] = 0; left--; }
        if (left && t < ms) nanosleep(&tick, NULL);
    }
    if (!left) return 0;
    for (int i = 0; i < n; i++) if (pids[i] > 0) kill(pids[i], SIGKILL);
    struct sigaction sa = {.sa_handler = on_alarm}, old; /* no SA_RESTART: waitpid gets EINTR */
    sigaction(SIGALRM, &sa, &old);
    alarm(5);
    for (int i = 0; i < n; i++)
        if (pids[i] > 0 && waitpid(pids[i], &st[i], 0) == pids[i]) { pids[i] = 0; left--; }
    alarm(0);
    sigaction(SIGALRM, &old, NULL);
    return left;
}

/* Where Joey puts the stub region: Sources/CJoey/stub.c, joey_stub_install's candidates
 * (the first free one; the guest's address space ends below it). The code page is
 * readable and executable; the systrap control page follows it. */
static const uintptr_t stub_candidates[] = {0x7fffffffe000UL - 0x1000UL * 16, 0x7ffb00000000UL, 0x7ff000000000UL, 0x7f0000000000UL};

static void stub_jumps(const char *escape) {
    uintptr_t page = 0;
    uint8_t code[4096];
    for (unsigned i = 0; i < sizeof stub_candidates / sizeof stub_candidates[0] && !page; i++)
        if (read_guarded((const uint8_t *)stub_candidates[i], &code[0])) page = stub_candidates[i];
    int readable = page != 0, len = 0;
    if (!page) page = stub_candidates[0];
    for (int i = 0; readable && i < 4096; i++) {
        if (!read_guarded((const uint8_t *)page + i, &code[i])) { readable = 0; break; }
        if (code[i]) len = i + 1;
    }
    /* Every byte of the code (16 past its end), every syscall/int 0x80/sysenter pair in the
     * page; every byte of the page when it cannot be read. */
    static char target[4096];
    int n = 0;
    for (int off = 0; off < 4096; off++) {
        int pair = readable && off + 1 < 4096 &&
                   ((code[off] == 0x0f && (code[off + 1] == 0x05 || code[off + 1] == 0x34)) || (code[off] == 0xcd && code[off + 1] == 0x80));
        target[off] = !readable || off < len + 16 || pair;
        n += target[off];
    }
    /* Eight children at a time (a stub killed by its own filter is noticed by the sentry
     * only at its next liveness check), each given 20 ms after its jump. */
    int ended = 0, hung = 0, off = 0;
    char why[256] = "";
    while (!why[0]) {
        pid_t batch[8];
        int offs[8], nb = 0;
        for (; off < 4096 && nb < 8; off++) {
            if (!target[off]) continue;
            int ready[2];
            if (pipe(ready) != 0) { snprintf(why, sizeof why, "pipe: %s", strerror(errno)); break; }
            pid_t p = fork();
            if (p < 0) { snprintf(why, sizeof why, "fork failed at offset %#x: %s", off, strerror(errno)); close(ready[0]); close(ready[1]); break; }
            if (p == 0) {
                close(ready[0]);
                if (write(ready[1], "j", 1) != 1) _exit(1);
                jump_with_mkdir(page + off, escape, page + 0x1000);
                _exit(0);
            }
            close(ready[1]);
            char c;
            if (read(ready[0], &c, 1) != 1) snprintf(why, sizeof why, "the child for offset %#x died before jumping", off);
            close(ready[0]);
            batch[nb] = p;
            offs[nb++] = off;
        }
        if (nb == 0) break;
        int statuses[8];
        reap_within(batch, nb, 20, statuses);
        for (int i = 0; i < nb; i++) {
            if (batch[i] > 0) {
                if (!why[0]) snprintf(why, sizeof why, "the child that jumped to +%#x survived SIGKILL", offs[i]);
                continue;
            }
            ended++;
            if (WIFSIGNALED(statuses[i]) && WTERMSIG(statuses[i]) == SIGKILL) hung++;
        }
    }
    int alive = getpid() > 0 && getpid() == syscall(SYS_getpid) && access("/", F_OK) == 0;
    if (!why[0] && !alive) snprintf(why, sizeof why, "the sandbox stopped answering");
    if (!why[0] && ended != n) snprintf(why, sizeof why, "only %d of %d jumps ran", ended, n);
    char name[128];
    snprintf(name, sizeof name, "stub_page_jumps_reach_nothing (%s page at %#lx, %d offsets, %d killed or looping)",
             readable ? "readable" : "unreadable", (unsigned long)page, n, hung);
    result(name, !why[0] && alive, why);
}

/* A guest that forges what the stub's handler trusts in guest-writable memory: the word at
 * +128 of each thread's control page (a patched event in hand: the handler ignores an
 * interrupt while it is set), and a control page of its own making (state RUNNING, the sentry
 * "waiting") that it jumps into the handler's wait loop with. SIGKILL must still end it. */
static uint32_t forged_ctrl[1024] __attribute__((aligned(4096)));
static void forged_control_page(void) {
    uintptr_t page = 0;
    uint8_t code[4096];
    for (unsigned i = 0; i < sizeof stub_candidates / sizeof stub_candidates[0] && !page; i++)
        if (read_guarded((const uint8_t *)stub_candidates[i], &code[0])) page = stub_candidates[i];
    int loop = -1;
    for (int i = 0; page && i + 5 <= 4096; i++) {
        if (!read_guarded((const uint8_t *)page + i, &code[i])) break;
        /* mov (%rbx), %eax; cmp $1, %eax: the handler reading its control page's state */
        if (i >= 4 && !memcmp(code + i - 4, "\x8b\x03\x83\xf8\x01", 5)) { loop = i - 4; break; }
    }
    if (loop < 0) {
        result("forged_control_page_still_killable (no stub wait loop readable here: nothing to forge)", 1, "");
        return;
    }
    pid_t p = fork();
    if (p == 0) {
        for (int slot = 0; slot < 8; slot++) {
            uint8_t probe;
            volatile uint32_t *flag = (uint32_t *)(page - (uintptr_t)(slot + 1) * 0x10000 + 128);
            if (read_guarded((const uint8_t *)flag, &probe)) *flag = 1;
        }
        forged_ctrl[0] = 1;                 /* state: RUNNING */
        forged_ctrl[56 / 4] = 0xffffffff;   /* spin as long as it may */
        forged_ctrl[60 / 4] = 0;
        forged_ctrl[148 / 4] = 0xffffffff;
        __asm__ volatile("mov %0, %%rbx\n\tjmp *%1" : : "r"(forged_ctrl), "r"(page + loop) : "rbx", "memory");
        _exit(0);
    }
    char why[160] = "";
    pid_t pids[1] = {p};
    int st[1];
    int left = reap_within(pids, 1, 100, st);
    if (left) snprintf(why, sizeof why, "the child in the handler's wait loop at +%#x survived SIGKILL", loop);
    result("forged_control_page_still_killable", left == 0, why);
}

/* Threads that block until the pipe closes. */
static void *blocked_thread(void *arg) {
    char c;
    while (read(*(int *)arg, &c, 1) < 0 && errno == EINTR) {}
    return NULL;
}

static void thread_bomb(void) {
    int p[2];
    if (pipe(p) != 0) { result("thread_bomb_stops_at_the_pids_limit", 0, "pipe failed"); return; }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    static pthread_t threads[4096];
    int made = 0, err = 0;
    while (made < 4096) {
        err = pthread_create(&threads[made], &attr, blocked_thread, &p[0]);
        if (err) break;
        made++;
    }
    close(p[1]);
    for (int i = 0; i < made; i++) pthread_join(threads[i], NULL);
    close(p[0]);
    char why[128];
    snprintf(why, sizeof why, "%d threads, then %s", made, err ? strerror(err) : "no failure");
    result("thread_bomb_stops_at_the_pids_limit", made < 4096 && err == EAGAIN, why);
}

/* A child that touches anonymous memory until it is stopped: 1 MiB mallocs (big_mapping 0)
 * or one mapping of `cap` MiB touched a page at a time (1). It must be stopped at the limit:
 * killed (SIGKILL, as by an OOM kill) or told ENOMEM, having touched no more than the limit.
 * Joey's MemoryFile lives on a tmpfs of the limit's size, so the host refuses the page past
 * it and the sentry's OOM killer runs before the access is tried again. */
static void anonymous_hog(const char *name, int big_mapping, long limit_mib, long cap) {
    volatile long *touched = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (touched == MAP_FAILED) { result(name, 0, "mmap of a shared page failed"); return; }
    *touched = 0;
    pid_t pid = fork();
    if (pid == 0) {
        if (big_mapping) {
            char *m = mmap(NULL, cap << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (m == MAP_FAILED) _exit(12);
            for (long i = 0; i < cap << 20; i += 4096) {
                m[i] = 0x5a;
                if (((i + 4096) & 0xfffff) == 0) *touched = (i + 4096) >> 20;
            }
        } else {
            for (long n = 0; n < cap; n++) {
                char *m = malloc(1 << 20);
                if (!m) _exit(12);
                memset(m, 0x5a, 1 << 20);
                *touched = n + 1;
            }
        }
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    int stopped = (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) || (WIFEXITED(st) && WEXITSTATUS(st) == 12);
    char why[256], line[160];
    snprintf(why, sizeof why, "the hog touched %ld MiB of a %ld MiB limit and %s", *touched, limit_mib, fate(st));
    snprintf(line, sizeof line, "%s (%ld MiB touched, limit %ld MiB)", name, *touched, limit_mib);
    result(line, stopped && *touched <= limit_mib, why);
    munmap((void *)touched, 4096);
}

/* Eight processes touch half the limit each, then wait: together they would hold four times
 * the limit. Those still alive once all have finished or died must hold no more than the
 * limit between them (natively, with no limit, all eight live: this fails). */
static void many_hogs(long limit_mib) {
    enum { N = 8 };
    volatile long *touched = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (touched == MAP_FAILED) { result("many_processes_together_stay_within_the_limit", 0, "mmap failed"); return; }
    int done_pipe[2], go_pipe[2];
    if (pipe(done_pipe) || pipe(go_pipe)) { result("many_processes_together_stay_within_the_limit", 0, "pipe failed"); return; }
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        touched[i] = 0;
        pids[i] = fork();
        if (pids[i] == 0) {
            close(done_pipe[0]);
            close(go_pipe[1]);
            long each = limit_mib / 2;
            char *m = mmap(NULL, each << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED) _exit(12);
            for (long j = 0; j < each << 20; j += 4096) {
                m[j] = 1;
                if (((j + 4096) & 0xfffff) == 0) touched[i] = (j + 4096) >> 20;
            }
            char c = 'd';
            if (write(done_pipe[1], &c, 1) != 1) _exit(1);
            close(done_pipe[1]);
            if (read(go_pipe[0], &c, 1) < 0) _exit(1); /* hold the memory until told to go */
            _exit(0);
        }
    }
    close(done_pipe[1]);
    close(go_pipe[0]);
    /* Each child either writes its byte (all touched) or dies; EOF once all are one or the other. */
    char c;
    while (read(done_pipe[0], &c, 1) == 1) {}
    long held = 0;
    int alive = 0, killed = 0;
    for (int i = 0; i < N; i++) {
        int st;
        if (waitpid(pids[i], &st, WNOHANG) == 0) { held += touched[i]; alive++; }
        else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) killed++;
    }
    close(go_pipe[1]);
    for (int i = 0; i < N; i++) waitpid(pids[i], NULL, 0);
    char why[160];
    snprintf(why, sizeof why, "%d processes alive holding %ld MiB (limit %ld MiB), %d killed", alive, held, limit_mib, killed);
    result("many_processes_together_stay_within_the_limit", held <= limit_mib && killed > 0, why);
    close(done_pipe[0]);
    munmap((void *)touched, 4096);
}

/* The sentry's own copies meet the limit: read() into a large buffer never touched before
 * (from /dev/zero, then from a pipe) makes the sentry take the pages. The reader must be
 * stopped (OOM-killed, or its read fails or comes back short) and the sentry live on. */
static void sentry_copy_hog(const char *name, int from_pipe, long limit_mib) {
    pid_t pid = fork();
    if (pid == 0) {
        long size = (2 * limit_mib) << 20;
        char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) _exit(12);
        int fd;
        if (from_pipe) {
            int p[2];
            if (pipe(p)) _exit(1);
            fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
            if (fork() == 0) {
                static char ones[1 << 16];
                memset(ones, 1, sizeof ones);
                close(p[0]);
                while (write(p[1], ones, sizeof ones) > 0) {}
                _exit(0);
            }
            close(p[1]);
            fd = p[0];
        } else {
            fd = open("/dev/zero", O_RDONLY);
        }
        for (long off = 0; off < size;) {
            ssize_t n = read(fd, m + off, size - off);
            if (n < 0) _exit(errno == EFAULT ? 14 : 1);
            if (n == 0) _exit(2);
            off += n;
        }
        _exit(0); /* read all of it: twice the limit */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    int stopped = (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) || (WIFEXITED(st) && WEXITSTATUS(st) == 14);
    result(name, stopped, fate(st));
}

/* A process holds all but 16 MiB of the limit; another then reads 32 MiB from /dev/zero
 * into memory it never touched. As under a memory cgroup, the holder (the larger) is
 * OOM-killed and the read completes: the sentry's copy waits for no exit and fails nothing. */
static void reader_beside_a_hog(const char *name, const char *source, long limit_mib) {
    int ready[2];
    if (pipe(ready)) { result(name, 0, "pipe failed"); return; }
    pid_t hog = fork();
    if (hog == 0) {
        long size = (limit_mib - 16) << 20;
        char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) _exit(12);
        memset(m, 1, size);
        if (write(ready[1], "r", 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char c;
    int got = read(ready[0], &c, 1) == 1;
    close(ready[0]);
    pid_t reader = fork();
    if (reader == 0) {
        long size = 32L << 20;
        char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int fd = open(source, O_RDONLY);
        if (m == MAP_FAILED || fd < 0) _exit(12);
        /* The whole of the source, again and again from its start, until the buffer is full. */
        for (long off = 0; off < size;) {
            ssize_t n = pread(fd, m + off, size - off, 0);
            if (n <= 0) _exit(n < 0 ? 14 : 2);
            off += n;
        }
        _exit(0);
    }
    int rst = 0, hst = 0;
    waitpid(reader, &rst, 0);
    kill(hog, SIGTERM);
    waitpid(hog, &hst, 0);
    char why[160];
    snprintf(why, sizeof why, "the holder %s; the reader %s", got ? fate(hst) : "never got ready", fate(rst));
    int hog_killed = WIFSIGNALED(hst) && WTERMSIG(hst) == SIGKILL;
    result(name, got && hog_killed && WIFEXITED(rst) && WEXITSTATUS(rst) == 0, why);
}

/* `hostile memory LIMIT`: run with `joey do --memory LIMIT M`. */
static int memory_attacks(long limit_mib) {
    const long cap = 8 * limit_mib; /* natively nothing stops the hogs: they stop here */
    char why[256];
    anonymous_hog("anonymous_memory_in_1mib_mallocs_stops_at_the_limit", 0, limit_mib, cap);
    anonymous_hog("anonymous_memory_in_one_mapping_stops_at_the_limit", 1, limit_mib, cap);
    many_hogs(limit_mib);
    sentry_copy_hog("read_from_dev_zero_into_fresh_memory_stops_at_the_limit", 0, limit_mib);
    sentry_copy_hog("read_from_a_pipe_into_fresh_memory_stops_at_the_limit", 1, limit_mib);
    reader_beside_a_hog("a_read_completes_when_another_process_holds_the_memory", "/dev/zero", limit_mib);
    /* The same from a file of the root (a host file read through the sentry's page cache). */
    reader_beside_a_hog("a_file_read_completes_when_another_process_holds_the_memory", "/proc/self/exe", limit_mib);

    /* A file in /tmp (memory too), 1 MiB at a time. */
    static char buf[1 << 20];
    memset(buf, 0xa5, sizeof buf);
    int fd = open("/tmp/hog", O_CREAT | O_WRONLY | O_TRUNC, 0600);
    long written = 0;
    ssize_t w = 0;
    int err = 0;
    while (fd >= 0 && written < cap << 20) {
        w = write(fd, buf, sizeof buf);
        if (w <= 0) { err = w < 0 ? errno : 0; break; }
        written += w;
    }
    snprintf(why, sizeof why, "%ld MiB written to /tmp (limit %ld MiB), then %s", written >> 20, limit_mib,
             err ? strerror(err) : "no error");
    result("tmp_file_stops_with_enospc", fd >= 0 && err == ENOSPC && written <= limit_mib << 20, why);
    if (fd >= 0) close(fd);
    unlink("/tmp/hog");

    /* The hogs are gone: their memory is the sandbox's again. */
    fd = open("/tmp/after", O_CREAT | O_WRONLY | O_TRUNC, 0600);
    long again = 0;
    while (fd >= 0 && again < (limit_mib / 2) << 20 && (w = write(fd, buf, sizeof buf)) > 0) again += w;
    snprintf(why, sizeof why, "only %ld MiB could be written after the hogs were gone", again >> 20);
    result("memory_comes_back_after", again >= (limit_mib / 2) << 20, why);
    if (fd >= 0) close(fd);
    unlink("/tmp/after");
    result("sentry_answers_after", getpid() > 0 && access("/", F_OK) == 0, "");
    printf("%d failed\n", failed);
    return failed != 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "memory") == 0) return memory_attacks(atol(argv[2]));
    if (argc < 4) {
        fprintf(stderr, "usage: hostile MARKER-PATH MARKER-TEXT ESCAPE-PATH | hostile memory LIMIT-MIB\n");
        return 2;
    }
    const char *marker = argv[1], *text = argv[2], *escape = argv[3];
    char path[4096], why[512];

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

    /* 4. System calls through other ABIs: never executed by the host, nor taken for 64-bit
     * calls. Each i386 attempt has an ESCAPE-* path of its own, below 4 GiB; each 64-bit
     * register set names a path the guest could make (/tmp/abi-*), so a 64-bit reading of
     * the call would show. */
    if (!low_ok()) result("abi_paths_below_4gib", 0, "this build of hostile is not a static non-PIE program");
    snprintf(low_path, sizeof low_path, "%s-int80", escape);
    int st = in_child(int80_mkdir, low_path);
    snprintf(why, sizeof why, "int 0x80 mkdir %s; the child %s", exists(low_path) ? "made its directory" : "succeeded", fate(st));
    result("int80_is_not_passed_through", !(WIFEXITED(st) && WEXITSTATUS(st) == 3) && !exists(low_path), why);
    snprintf(low_path64, sizeof low_path64, "/tmp/abi-int80");
    st = in_child(int80_as_64bit_mkdir, low_path64);
    snprintf(why, sizeof why, "int 0x80 with rax=83 ran as the 64-bit mkdir (%s made; the child %s)", low_path64, fate(st));
    result("int80_is_not_a_64bit_call", !exists(low_path64) && !(WIFEXITED(st) && WEXITSTATUS(st) == 3), why);
    snprintf(low_path, sizeof low_path, "%s-sysenter", escape);
    st = in_child(sysenter_mkdir, low_path);
    snprintf(why, sizeof why, "sysenter ran the i386 mkdir (the child %s)", fate(st));
    result("sysenter_is_not_passed_through", !exists(low_path), why);
    snprintf(low_path64, sizeof low_path64, "/tmp/abi-sysenter");
    st = in_child(sysenter_as_64bit_mkdir, low_path64);
    snprintf(why, sizeof why, "sysenter with rax=83 ran as the 64-bit mkdir (%s made; the child %s)", low_path64, fate(st));
    result("sysenter_is_not_a_64bit_call", !exists(low_path64), why);
    snprintf(path, sizeof path, "%s-x32", escape);
    st = in_child(x32_mkdir, path);
    result("x32_is_not_passed_through", !(WIFEXITED(st) && WEXITSTATUS(st) == 3) && !exists(path), "x32 mkdir succeeded");
    st = in_child(vsyscall_time, NULL);
    snprintf(why, sizeof why, "the child calling the vsyscall page %s (Linux: exit 0 with the time, or SIGSEGV)", fate(st));
    result("vsyscall_page_is_linux_or_sigsegv",
           (WIFEXITED(st) && WEXITSTATUS(st) == 0) || (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV), why);

    /* 5. A syscall instruction on a page the guest wrote is a guest call like any other. */
    jit_fn rwx = make_jit(1), rx = make_jit(0);
    if (!rwx || !rx) {
        result("jit_syscall_is_a_guest_call", 0, "cannot map a JIT page");
    } else {
        long jpid = rwx(SYS_getpid, 0, 0), jpid2 = rx(SYS_getpid, 0, 0);
        snprintf(why, sizeof why, "getpid through the JIT pages: %ld and %ld, through libc %ld", jpid, jpid2, (long)getpid());
        result("jit_syscall_getpid_is_the_guest_pid", jpid == getpid() && jpid2 == getpid(), why);
        rmdir("/tmp/jit-made");
        long r = rx(SYS_mkdir, (long)"/tmp/jit-made", 0755);
        struct stat sb;
        int made = stat("/tmp/jit-made", &sb) == 0 && S_ISDIR(sb.st_mode);
        snprintf(why, sizeof why, "mkdir /tmp/jit-made through the JIT page returned %ld; the guest %s it", r, made ? "sees" : "does not see");
        result("jit_syscall_mkdir_is_a_guest_call", r == 0 && made, why);
        snprintf(path, sizeof path, "%s-jit", escape);
        r = rwx(SYS_mkdir, (long)path, 0755);
        /* Linux makes it; in the sandbox the host path's parents are not in the guest's root. */
        int seen = exists(path);
        snprintf(why, sizeof why, "mkdir %s through the JIT page returned %ld, but the guest %s it", path, r, seen ? "sees" : "does not see");
        result("jit_syscall_mkdir_stays_in_the_guest", (r == 0 || r == -EEXIST) == seen, why);
    }

    /* 6. Jumps into the platform's stub page. */
    snprintf(path, sizeof path, "%s-stub", escape);
    stub_jumps(path);
    forged_control_page();

    /* 7. Host processes: the guest sees only its own. */
    int seen_host = 0;
    for (int pid = 2; pid < 4096; pid++) {
        snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
        if (reads_marker(path, "joey")) seen_host = 1;
    }
    result("no_host_process_in_proc", !seen_host, "a joey process appears in the guest's /proc");
    result("no_host_fd_in_proc_self_fd", readlink("/proc/self/fd/100", path, sizeof path) < 0, "an unexpected fd 100");

    /* 8. Exhaustion stops at the limits, and the sentry answers afterwards. */
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
    thread_bomb();
    result("sentry_answers_after", getpid() > 0 && access("/", F_OK) == 0, "");

    printf("%d failed\n", failed);
    return failed != 0;
}
