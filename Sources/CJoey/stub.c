// The stub: the code a stub process runs. It is copied to a fixed page near the top of
// the sentry's address space so every forked stub has it at the same address, then the
// stub unmaps everything else. Only the sentry (through ptrace) ever makes it run code.
#define _GNU_SOURCE
#include "CJoey.h"
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/epoll.h>
#include <sys/auxv.h>
#include <sys/sysinfo.h>
#include <sys/rseq.h>
#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <linux/capability.h>
#include <sys/socket.h>


// systrap. The control page sits right after the code page; offsets match joey_systrap_ctrl.
_Static_assert(offsetof(joey_systrap_ctrl, state) == 0, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, stub_waiting) == 4, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, sentry_waiting) == 8, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, signo) == 12, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, frame) == 16, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, info) == 24, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, fs_base) == 32, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, gs_base) == 40, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, bases_dirty) == 48, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, has_fsgsbase) == 52, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, spin) == 56, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, sentry_blocking) == 60, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, req_nr) == 64, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, req_args) == 72, "ctrl layout");
_Static_assert(offsetof(joey_systrap_ctrl, req_result) == 120, "ctrl layout");

// joey_systrap_start (rdi = secret): unmap everything but the stub region, then ud2, which
// the handler reports as the ready event.
// joey_systrap_handler: every signal the stub catches. It records the frame, hands over to
// the sentry, and then either runs the sentry's request or returns to the guest with
// rt_sigreturn. It never uses the (guest-reachable) stack for control flow: no call, no ret.
#define SYSTRAP_ASM \
    ".globl joey_systrap_start\n" \
    ".globl joey_systrap_handler\n" \
    "joey_systrap_start:\n" \
    "  mov %rdi, %r15\n" \
    "  xor %edi, %edi\n" \
    "  lea joey_stub_code_start(%rip), %rsi\n" \
    "  mov %r15, %r9\n" \
    "  mov $11, %eax\n" \
    "  syscall\n" \
    "  lea joey_stub_code_start(%rip), %rdi\n" \
    "  add $0x11000, %rdi\n" \
    "  movabs $0x7ffffffff000, %rsi\n" \
    "  sub %rdi, %rsi\n" \
    "  mov %r15, %r9\n" \
    "  mov $11, %eax\n" \
    "  syscall\n" \
    "  xor %r15d, %r15d\n" \
    "  xor %r9d, %r9d\n" \
    "  ud2\n" \
    "joey_systrap_handler:\n" \
    "  lea joey_stub_code_start+0x1000(%rip), %rbx\n" \
    "  mov %rdx, %r12\n" \
    "  mov %edi, 12(%rbx)\n" \
    "  mov %rdx, 16(%rbx)\n" \
    "  mov %rsi, 24(%rbx)\n" \
    "  cmpl $0, 52(%rbx)\n" \
    "  je .Ljs_post\n" \
    "  rdfsbase %rax\n" \
    "  mov %rax, 32(%rbx)\n" \
    "  rdgsbase %rax\n" \
    "  mov %rax, 40(%rbx)\n" \
    ".Ljs_post:\n" \
    "  mov $1, %eax\n" \
    "  xchg %eax, 0(%rbx)\n" \
    "  cmpl $0, 8(%rbx)\n" \
    "  je .Ljs_wait\n" \
    "  mov $202, %eax\n" \
    "  lea 0(%rbx), %rdi\n" \
    "  mov $1, %esi\n" \
    "  mov $1, %edx\n" \
    "  syscall\n" \
    ".Ljs_wait:\n" \
    "  mov 56(%rbx), %ecx\n" \
    ".Ljs_spin:\n" \
    "  mov 0(%rbx), %eax\n" \
    "  cmp $1, %eax\n" \
    "  jne .Ljs_got\n" \
    "  cmpl $0, 60(%rbx)\n" \
    "  jne .Ljs_sleep\n" \
    "  test %ecx, %ecx\n" \
    "  jz .Ljs_sleep\n" \
    "  pause\n" \
    "  dec %ecx\n" \
    "  jmp .Ljs_spin\n" \
    ".Ljs_sleep:\n" \
    "  mov $1, %eax\n" \
    "  xchg %eax, 4(%rbx)\n" \
    "  cmpl $1, 0(%rbx)\n" \
    "  jne .Ljs_woke\n" \
    "  mov $202, %eax\n" \
    "  lea 0(%rbx), %rdi\n" \
    "  xor %esi, %esi\n" \
    "  mov $1, %edx\n" \
    "  xor %r10d, %r10d\n" \
    "  syscall\n" \
    ".Ljs_woke:\n" \
    "  movl $0, 4(%rbx)\n" \
    "  jmp .Ljs_wait\n" \
    ".Ljs_got:\n" \
    "  cmp $3, %eax\n" \
    "  je .Ljs_request\n" \
    "  cmp $2, %eax\n" \
    "  jne .Ljs_bad\n" \
    "  cmpl $0, 48(%rbx)\n" \
    "  je .Ljs_return\n" \
    "  movl $0, 48(%rbx)\n" \
    "  cmpl $0, 52(%rbx)\n" \
    "  je .Ljs_prctl\n" \
    "  mov 32(%rbx), %rax\n" \
    "  wrfsbase %rax\n" \
    "  mov 40(%rbx), %rax\n" \
    "  wrgsbase %rax\n" \
    "  jmp .Ljs_return\n" \
    ".Ljs_prctl:\n" \
    "  mov $158, %eax\n" \
    "  mov $0x1002, %edi\n" \
    "  mov 32(%rbx), %rsi\n" \
    "  syscall\n" \
    "  mov $158, %eax\n" \
    "  mov $0x1001, %edi\n" \
    "  mov 40(%rbx), %rsi\n" \
    "  syscall\n" \
    ".Ljs_return:\n" \
    "  movl $0, 0(%rbx)\n" \
    "  mov %r12, %rsp\n" \
    "  mov $15, %eax\n" \
    "  syscall\n" \
    ".Ljs_bad:\n" \
    "  ud2\n" \
    ".Ljs_request:\n" \
    "  mov 64(%rbx), %rax\n" \
    "  mov 72(%rbx), %rdi\n" \
    "  mov 80(%rbx), %rsi\n" \
    "  mov 88(%rbx), %rdx\n" \
    "  mov 96(%rbx), %r10\n" \
    "  mov 104(%rbx), %r8\n" \
    "  mov 112(%rbx), %r9\n" \
    "  syscall\n" \
    "  mov %rax, 120(%rbx)\n" \
    "  xor %r8d, %r8d\n" \
    "  xor %r9d, %r9d\n" \
    "  xor %r10d, %r10d\n" \
    "  jmp .Ljs_post\n"

extern char joey_stub_code_start[], joey_stub_code_end[], joey_stub_syscall_site[];

// Position independent: munmap [0, stub) and [stub+size, TASK_SIZE), report with int3,
// then `syscall; int3` is the site where the sentry injects system calls.
__asm__(
    ".text\n"
    ".globl joey_stub_code_start\n"
    ".globl joey_stub_code_end\n"
    ".globl joey_stub_syscall_site\n"
    ".p2align 12\n"
    "joey_stub_code_start:\n"
    "  xor %edi, %edi\n"
    "  lea joey_stub_code_start(%rip), %rsi\n"
    "  mov $11, %eax\n"
    "  syscall\n"
    "  lea joey_stub_code_start(%rip), %rdi\n"
    "  add $0x1000, %rdi\n"
    "  movabs $0x7ffffffff000, %rsi\n"
    "  sub %rdi, %rsi\n"
    "  mov $11, %eax\n"
    "  syscall\n"
    "  int3\n"
    "joey_stub_syscall_site:\n"
    "  syscall\n"
    "  int3\n"
    "  jmp joey_stub_syscall_site\n"
    SYSTRAP_ASM
    "joey_stub_code_end:\n"
);

static uint64_t stub_page;

uint64_t joey_stub_install(void) {
    if (stub_page) return stub_page;
    // Highest free candidate; the guest's layout is derived from wherever it lands.
    static const uint64_t candidates[] = {
        0x7fffffffe000ULL - 0x1000ULL * 16, 0x7ffb00000000ULL, 0x7ff000000000ULL, 0x7f0000000000ULL,
    };
    for (unsigned i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        // The whole region is reserved so nothing of the sentry's lands there; only the code
        // page is accessible (the systrap shared area is mapped over the rest in each stub).
        void *p = mmap((void *)candidates[i], JOEY_STUB_REGION_SIZE, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == MAP_FAILED) continue;
        if ((uint64_t)p != candidates[i]) { munmap(p, JOEY_STUB_REGION_SIZE); continue; }
        size_t n = (size_t)(joey_stub_code_end - joey_stub_code_start);
        if (n > JOEY_STUB_SIZE || mprotect(p, JOEY_STUB_SIZE, PROT_READ | PROT_WRITE) != 0) {
            munmap(p, JOEY_STUB_REGION_SIZE);
            continue;
        }
        memcpy(p, joey_stub_code_start, n);
        if (mprotect(p, JOEY_STUB_SIZE, PROT_READ | PROT_EXEC) != 0) { munmap(p, JOEY_STUB_REGION_SIZE); continue; }
        stub_page = (uint64_t)p;
        return stub_page;
    }
    return 0;
}

uint64_t joey_stub_syscall_offset(void) {
    return (uint64_t)(joey_stub_syscall_site - joey_stub_code_start);
}

// Allows system calls only when issued from the stub page [stub, stub + JOEY_STUB_SIZE).
// A guest call through the vsyscall page (which the kernel emulates with a seccomp check but
// no PTRACE_SYSEMU stop) traps instead: the sentry takes the SIGSYS as the guest's call.
static int install_stub_filter(uint64_t stub) {
    uint32_t hi = (uint32_t)(stub >> 32), lo = (uint32_t)stub, end = lo + (uint32_t)JOEY_STUB_SIZE;
    if (end < lo) return -1; // the page must not straddle a 4 GiB boundary
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer) + 4),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffU, 0, 5),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0xff600000U, 0, 2),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0xff601000U, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP), // the vsyscall page
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, end, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

void joey_stub_drop_capabilities(void) {
    // Version 3 headers take two data words (64 capabilities); all zero: none held.
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    syscall(SYS_capset, &hdr, data);
}

int64_t joey_stub_spawn(int memfd) {
    uint64_t stub = joey_stub_install();
    if (!stub) return -ENOMEM;
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid == 0) {
        // Child: only async-signal-safe calls from here on.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        joey_stub_drop_capabilities(); // a stub holds nothing the guest could use
        setsid(); // terminal signals go to the sentry, never straight to a stub
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int s = 1; s < 65; s++) {
            if (s == SIGKILL || s == SIGSTOP) continue;
            signal(s, SIG_DFL);
        }
        if (memfd != JOEY_STUB_MEMFD) {
            if (dup2(memfd, JOEY_STUB_MEMFD) < 0) _exit(127);
        }
        syscall(SYS_close_range, 0, JOEY_STUB_MEMFD - 1, 0);
        syscall(SYS_close_range, JOEY_STUB_MEMFD + 1, ~0U, 0);
        // glibc registered rseq for the forking thread; its area is about to be unmapped, and
        // the kernel would fault the stub on its next return to user mode.
        if (__rseq_size > 0) {
            // Registered with the full 32-byte struct rseq whatever __rseq_size says.
            syscall(SYS_rseq, (char *)__builtin_thread_pointer() + __rseq_offset, 32, 1 /* UNREGISTER */, 0x53053053);
        }
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0) _exit(126);
        // Defense in depth: guest syscalls are stopped by PTRACE_SYSEMU before seccomp runs;
        // anything that would reach the host from outside the stub page kills the stub.
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(124);
        if (install_stub_filter(stub) != 0) _exit(123);
        ((void (*)(void))stub)();
        _exit(125);
    }
    return pid;
}

int64_t joey_ptrace(long request, pid_t pid, uint64_t addr, uint64_t data) {
    errno = 0;
    long r = ptrace((enum __ptrace_request)request, pid, (void *)addr, (void *)data);
    if (r == -1 && errno) return -errno;
    return r;
}

int64_t joey_ptrace_syscall_arch(pid_t pid) {
    // struct ptrace_syscall_info: op (u8), 3 bytes of padding, arch (u32), ...
    unsigned char info[88];
    memset(info, 0, sizeof info);
    if (ptrace((enum __ptrace_request)0x420e /* PTRACE_GET_SYSCALL_INFO */, pid, (void *)sizeof info, info) < 0) return -errno;
    uint32_t arch;
    memcpy(&arch, info + 4, sizeof arch);
    return arch;
}

int64_t joey_getregs(pid_t pid, joey_regs *regs) {
    return ptrace(PTRACE_GETREGS, pid, 0, regs) == 0 ? 0 : -errno;
}
int64_t joey_setregs(pid_t pid, const joey_regs *regs) {
    return ptrace(PTRACE_SETREGS, pid, 0, (void *)regs) == 0 ? 0 : -errno;
}
int64_t joey_getfpregs(pid_t pid, void *buf) {
    return ptrace(PTRACE_GETFPREGS, pid, 0, buf) == 0 ? 0 : -errno;
}
int64_t joey_setfpregs(pid_t pid, const void *buf) {
    return ptrace(PTRACE_SETFPREGS, pid, 0, (void *)buf) == 0 ? 0 : -errno;
}
int64_t joey_getxstate(pid_t pid, void *buf, uint64_t size) {
    struct iovec iov = { buf, size };
    if (ptrace(PTRACE_GETREGSET, pid, (void *)0x202 /* NT_X86_XSTATE */, &iov) != 0) return -errno;
    return (int64_t)iov.iov_len;
}
int64_t joey_setxstate(pid_t pid, const void *buf, uint64_t size) {
    struct iovec iov = { (void *)buf, size };
    return ptrace(PTRACE_SETREGSET, pid, (void *)0x202, &iov) == 0 ? 0 : -errno;
}

int64_t joey_getsiginfo(pid_t pid, joey_siginfo *out) {
    siginfo_t si;
    if (ptrace(PTRACE_GETSIGINFO, pid, 0, &si) != 0) return -errno;
    out->signo = si.si_signo;
    out->code = si.si_code;
    out->errno_ = si.si_errno;
    out->pid = si.si_pid;
    out->addr = (uint64_t)si.si_addr;
    out->status = si.si_status;
    out->uid = (int32_t)si.si_uid;
    return 0;
}
int64_t joey_wait(pid_t pid, int *status) {
    for (;;) {
        pid_t r = waitpid(pid, status, __WALL);
        if (r >= 0) return r;
        if (errno != EINTR) return -errno;
    }
}
int64_t joey_kill(pid_t pid, int sig) { return kill(pid, sig) == 0 ? 0 : -errno; }

uint64_t joey_process_cpu_nanos(pid_t pid) {
    clockid_t cid;
    struct timespec ts;
    if (clock_getcpuclockid(pid, &cid) != 0 || clock_gettime(cid, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int64_t joey_punch_hole(int fd, uint64_t offset, uint64_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length) == 0 ? 0 : -errno;
}
int64_t joey_seek_data(int fd, uint64_t offset) {
    off_t r = lseek(fd, (off_t)offset, SEEK_DATA);
    return r >= 0 ? r : -errno;
}
int64_t joey_seek_hole(int fd, uint64_t offset) {
    off_t r = lseek(fd, (off_t)offset, SEEK_HOLE);
    return r >= 0 ? r : -errno;
}

int joey_setfsuid(uint32_t uid) {
    return (int)syscall(SYS_setfsuid, uid);
}

int joey_setns(int fd, int nstype) {
    return setns(fd, nstype) == 0 ? 0 : -errno;
}

int joey_unshare(int flags) {
    return unshare(flags) == 0 ? 0 : -errno;
}

int joey_accept4(int fd, int flags) {
    return accept4(fd, NULL, NULL, flags);
}

int joey_epoll_create(void) {
    int r = epoll_create1(EPOLL_CLOEXEC);
    return r >= 0 ? r : -errno;
}

int joey_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(epfd, op, fd, &ev) == 0 ? 0 : -errno;
}

int joey_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) { datas[i] = evs[i].data.u64; events[i] = evs[i].events; }
    return n;
}

int64_t joey_getrandom(void *buf, uint64_t len) {
    ssize_t r = getrandom(buf, len, 0);
    return r >= 0 ? r : -errno;
}
uint64_t joey_getauxval(uint64_t type) { return getauxval(type); }
void joey_meminfo(uint64_t *total, uint64_t *free_) {
    struct sysinfo si;
    if (sysinfo(&si) != 0) { *total = 0; *free_ = 0; return; }
    *total = (uint64_t)si.totalram * si.mem_unit;
    *free_ = (uint64_t)si.freeram * si.mem_unit;
}

int joey_signal_ignored(int sig) {
    struct sigaction old;
    return sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN;
}

int joey_current_cpu(void) { return sched_getcpu(); }

int64_t joey_memfd_create(const char *name) {
    int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

int64_t joey_fallocate(int fd, int mode, int64_t offset, int64_t length) {
    return fallocate(fd, mode, offset, length) == 0 ? 0 : -errno;
}

struct joey_open_how { uint64_t flags, mode, resolve; };
int64_t joey_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct joey_open_how how = { flags, mode, resolve };
    long fd = syscall(437 /* SYS_openat2 */, dirfd, path, &how, sizeof how);
    return fd >= 0 ? fd : -errno;
}
int joey_syncfs(int fd) {
    return syncfs(fd) == 0 ? 0 : -errno;
}

int64_t joey_ioctl(int fd, unsigned long request, void *arg) {
    int r = ioctl(fd, request, arg);
    return r >= 0 ? r : -errno;
}

int joey_wifexited(int s) { return WIFEXITED(s); }
int joey_wexitstatus(int s) { return WEXITSTATUS(s); }
int joey_wifsignaled(int s) { return WIFSIGNALED(s); }
int joey_wtermsig(int s) { return WTERMSIG(s); }
int joey_wifstopped(int s) { return WIFSTOPPED(s); }
int joey_wstopsig(int s) { return WSTOPSIG(s); }
