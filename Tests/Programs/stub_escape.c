// A guest that attacks the platform's stub: it looks for the stub region at the top of its
// address space, tries to map, unmap and protect over it, scribbles over any writable page
// there, and jumps to every `syscall` instruction it finds with registers set up for
// mkdir(argv[1]). None of it may create argv[1] on the host or crash the sentry; the
// process doing it may die. Prints what happened to each attempt.
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static sigjmp_buf probe_jump;
static void on_fault(int sig) { (void)sig; siglongjmp(probe_jump, 1); }

static int readable(const volatile uint8_t *p) {
    if (sigsetjmp(probe_jump, 1)) return 0;
    (void)*p;
    return 1;
}

static int writable(volatile uint8_t *p) {
    if (sigsetjmp(probe_jump, 1)) return 0;
    uint8_t v = *p;
    *p = v;
    return 1;
}

static const char *fate(int status) {
    static char buf[64];
    if (WIFEXITED(status)) snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(status));
    else snprintf(buf, sizeof buf, "killed by signal %d", WTERMSIG(status));
    return buf;
}

// Jumps to `site` with rax = mkdir, rdi = path, rsi = 0755.
static void jump_to_syscall(uintptr_t site, const char *path) {
    __asm__ volatile(
        "mov $83, %%eax\n"
        "mov %0, %%rdi\n"
        "mov $0755, %%esi\n"
        "jmp *%1\n"
        :
        : "r"(path), "r"(site)
        : "rax", "rdi", "rsi", "memory");
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *path = argv[1];
    struct sigaction sa = { .sa_handler = on_fault, .sa_flags = SA_NODEFER };
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    // Systrap's and ptrace's stub code page (by layout), and the kvm platform's supervisor
    // area (its first page, the syscall trampoline, is the only one a guest can read).
    static const uintptr_t candidates[] = { 0x7ffffffee000, 0x7ffb00000000, 0x7ff000000000, 0x7f0000000000, 0x7fffc0000000 };
    uintptr_t region = 0;
    for (unsigned i = 0; i < sizeof candidates / sizeof candidates[0] && !region; i++) {
        if (readable((const uint8_t *)candidates[i])) region = candidates[i];
    }
    printf("stub region %s\n", region ? "found" : "not found");
    if (!region) region = candidates[0];

    // The region is not the guest's to change: Linux's errors for addresses it cannot use.
    void *m = mmap((void *)region, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("mmap MAP_FIXED over it: %s\n", m == MAP_FAILED ? "refused" : "ALLOWED");
    printf("munmap it: %s\n", munmap((void *)region, 0x11000) != 0 ? "refused" : "ALLOWED");
    printf("mprotect it: %s\n", mprotect((void *)region, 0x1000, PROT_READ | PROT_WRITE | PROT_EXEC) != 0 ? "refused" : "ALLOWED");
    printf("getpid still works: %s\n", getpid() == syscall(SYS_getpid) ? "yes" : "no");
    fflush(stdout);

    // Scribble over every writable page in the region, then make a system call.
    pid_t pid = fork();
    if (pid == 0) {
        for (uintptr_t p = region; p < region + 0x11000; p += 0x1000) {
            if (writable((uint8_t *)p)) memset((void *)p, 0x5a, 0x1000);
        }
        syscall(SYS_getpid);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("scribbler: %s\n", fate(status));

    // On kvm, the rest of the supervisor's gigabyte: the exception entries, the IDT, each
    // vCPU's GDT, TSS and ring-0 stack, and the page tables of every address space (from
    // page 3088, KVMLayout.firstTablePage). None of it may be readable or writable from the
    // guest, and a write to a page table would be the way out: probe the first pages, the
    // first 256 table pages and one page in every 256 beyond.
    if (region == 0x7fffc0000000) {
        int readablePages = 0, writablePages = 0;
        for (uintptr_t page = 1; page < (1u << 18); page = page < 3088 + 256 ? page + 1 : page + 256) {
            volatile uint8_t *q = (volatile uint8_t *)(region + page * 0x1000);
            if (readable(q)) readablePages++;
            if (writable(q)) writablePages++;
        }
        printf("supervisor pages readable: %d, writable: %d\n", readablePages, writablePages);
    }

    // Jump to each `syscall` instruction in the code page, each from a fresh child. On kvm
    // the trampoline's ud2 is where a guest's `syscall` goes: a site too.
    int sites = 0;
    int kvm = region == 0x7fffc0000000;
    for (uintptr_t p = region; p + 1 < region + 0x1000 && readable((uint8_t *)p); p++) {
        uint8_t op = ((uint8_t *)p)[1];
        if (((uint8_t *)p)[0] != 0x0f || !(op == 0x05 || (kvm && op == 0x0b))) continue;
        sites++;
        pid = fork();
        if (pid == 0) {
            jump_to_syscall(p, path);
            _exit(0);
        }
        // Code after a site may loop (the stub's own wait loops, under ptrace where the
        // jump's system call is the guest's own): a child still running is let go after a
        // moment; what matters is only that nothing reached the host.
        for (int i = 0; i < 30 && waitpid(pid, &status, WNOHANG) == 0; i++) usleep(10000);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    printf("jumped to %d syscall sites\n", sites);
    printf("sentry alive\n");
    return 0;
}
