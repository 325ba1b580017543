// Copies the sentry makes through its mapping of the MemoryFile, made to survive a SIGBUS
// (gVisor's safecopy). With a memory limit the MemoryFile lives on a tmpfs of that size, and
// touching a page the tmpfs has no room for raises SIGBUS in whoever touches it: a guest
// thread (the platform reports the fault) or the sentry. In the sentry the handler below moves
// the faulting instruction's thread to a landing that returns how many bytes were not done,
// so the copy fails like copy_to_user instead of killing the sandbox.
//
// Each routine's one memory-touching instruction is listed in `faulting_sites`; a SIGBUS
// anywhere else goes on to the handler that was there before (or the default action).
#define _GNU_SOURCE
#include "CJoey.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <ucontext.h>
#include <sys/syscall.h>
#include <linux/mount.h>

__asm__(
    ".text\n"
    ".globl joey_safe_copy\n"
    ".globl joey_safe_zero\n"
    ".globl joey_safe_cmpxchg32\n"
    // size_t joey_safe_copy(void *dst, const void *src, size_t n): bytes not copied.
    "joey_safe_copy:\n"
    "  mov %rdx, %rcx\n"
    "joey_safe_copy_site:\n"
    "  rep movsb\n"
    "  xor %eax, %eax\n"
    "  ret\n"
    // size_t joey_safe_zero(void *dst, size_t n): bytes not zeroed.
    "joey_safe_zero:\n"
    "  mov %rsi, %rcx\n"
    "  xor %eax, %eax\n"
    "joey_safe_zero_site:\n"
    "  rep stosb\n"
    "  ret\n"
    // size_t joey_safe_cmpxchg32(uint32_t *word, uint32_t expected, uint32_t desired,
    // uint32_t *old): 0, with what the word held in *old; nonzero when the word faulted.
    "joey_safe_cmpxchg32:\n"
    "  mov %rcx, %r8\n"
    "  mov $4, %ecx\n"
    "  mov %esi, %eax\n"
    "joey_safe_cmpxchg_site:\n"
    "  lock cmpxchg %edx, (%rdi)\n"
    "  mov %eax, (%r8)\n"
    "  xor %eax, %eax\n"
    "  ret\n"
    // Where the handler resumes a faulted routine: %rcx holds the bytes not done (a string
    // instruction leaves its count there when it faults).
    "joey_safe_landing:\n"
    "  mov %rcx, %rax\n"
    "  ret\n");

extern char joey_safe_copy_site[], joey_safe_zero_site[], joey_safe_cmpxchg_site[], joey_safe_landing[];

static struct sigaction previous_sigbus;

static void on_sigbus(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = context;
    greg_t ip = uc->uc_mcontext.gregs[REG_RIP];
    if (ip == (greg_t)joey_safe_copy_site || ip == (greg_t)joey_safe_zero_site || ip == (greg_t)joey_safe_cmpxchg_site) {
        uc->uc_mcontext.gregs[REG_RIP] = (greg_t)joey_safe_landing;
        return;
    }
    // Not a safe copy's: what would have happened without this handler.
    if ((previous_sigbus.sa_flags & SA_SIGINFO) && previous_sigbus.sa_sigaction) {
        previous_sigbus.sa_sigaction(sig, info, context);
        return;
    }
    if (previous_sigbus.sa_handler != SIG_DFL && previous_sigbus.sa_handler != SIG_IGN) {
        previous_sigbus.sa_handler(sig);
        return;
    }
    signal(SIGBUS, SIG_DFL); // the instruction runs again and the default action ends the sentry
}

int joey_safecopy_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGBUS, &sa, &previous_sigbus) == 0 ? 0 : -errno;
}

int64_t joey_limited_memory_file(uint64_t limit) {
    // A tmpfs of its own, never attached to any mount tree (fsmount's detached mount): the
    // file made in it is the only way to reach it, and the host refuses pages past `limit`.
    int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0) return -errno;
    char size[32];
    snprintf(size, sizeof size, "%llu", (unsigned long long)limit);
    int64_t r = 0;
    if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "size", size, 0) != 0 ||
        syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "huge", "never", 0) != 0 ||
        syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0) {
        r = -errno;
        close(fs);
        return r;
    }
    int mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
    r = mnt < 0 ? -errno : 0;
    close(fs);
    if (mnt < 0) return r;
    int fd = openat(mnt, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    r = fd < 0 ? -errno : fd;
    close(mnt);
    return r;
}
