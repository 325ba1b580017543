// CJoey: the only place Joey calls host interfaces Swift cannot call directly
// (variadic ptrace, raw syscalls without libc wrappers, the stub trampoline).
// One kernel operation per function; each returns the raw result or -errno.
#ifndef CJOEY_H
#define CJOEY_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>
#include <signal.h>

/// The guest-visible top of the x86-64 user address space (TASK_SIZE).
#define JOEY_TASK_SIZE 0x7ffffffff000ULL
/// The fd number under which every stub process holds the MemoryFile.
#define JOEY_STUB_MEMFD 3
/// Size of the stub region reserved at the top of every guest address space.
#define JOEY_STUB_SIZE 0x1000ULL

typedef struct user_regs_struct joey_regs;

typedef struct {
    int32_t signo;
    int32_t code;
    int32_t errno_;
    int32_t pid;
    uint64_t addr;
    int32_t status;
    int32_t uid;
} joey_siginfo;

/// Installs the stub code page in the sentry's own address space (inherited by forks).
/// Returns the page address, or 0 on failure. Idempotent.
uint64_t joey_stub_install(void);
/// Offset of the `syscall; int3` site inside the stub page.
uint64_t joey_stub_syscall_offset(void);
/// Forks a stub process traced by the calling thread. The child keeps only `memfd`
/// (as JOEY_STUB_MEMFD), unmaps everything but the stub page and stops with SIGTRAP.
/// Returns the pid or -errno.
int64_t joey_stub_spawn(int memfd);

int64_t joey_ptrace(long request, pid_t pid, uint64_t addr, uint64_t data);
int64_t joey_getregs(pid_t pid, joey_regs *regs);
int64_t joey_setregs(pid_t pid, const joey_regs *regs);
int64_t joey_getfpregs(pid_t pid, void *buf512);
int64_t joey_setfpregs(pid_t pid, const void *buf512);
int64_t joey_getsiginfo(pid_t pid, joey_siginfo *out);
/// The full XSAVE area (NT_X86_XSTATE regset): returns its size or -errno.
int64_t joey_getxstate(pid_t pid, void *buf, uint64_t size);
int64_t joey_setxstate(pid_t pid, const void *buf, uint64_t size);
/// waitpid(pid, __WALL), retried on EINTR. Returns the pid or -errno; status in *status.
int64_t joey_wait(pid_t pid, int *status);
int64_t joey_kill(pid_t pid, int sig);

/// CPU time consumed by a host process, in nanoseconds (0 if unknown).
uint64_t joey_process_cpu_nanos(pid_t pid);
/// Releases [offset, offset+length) of a file's pages (FALLOC_FL_PUNCH_HOLE | KEEP_SIZE).
int64_t joey_punch_hole(int fd, uint64_t offset, uint64_t length);
/// lseek(SEEK_DATA) / lseek(SEEK_HOLE).
int64_t joey_seek_data(int fd, uint64_t offset);
int64_t joey_seek_hole(int fd, uint64_t offset);
int64_t joey_getrandom(void *buf, uint64_t len);
uint64_t joey_getauxval(uint64_t type);
/// Host memory in bytes: total and free.
void joey_meminfo(uint64_t *total, uint64_t *free_);
/// 1 when the calling process ignores `sig` (SIG_IGN), else 0.
int joey_signal_ignored(int sig);
/// The host CPU the calling thread runs on.
int joey_current_cpu(void);
int64_t joey_memfd_create(const char *name);
int64_t joey_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
int64_t joey_ioctl(int fd, unsigned long request, void *arg);

int joey_wifexited(int s);
int joey_wexitstatus(int s);
int joey_wifsignaled(int s);
int joey_wtermsig(int s);
int joey_wifstopped(int s);
int joey_wstopsig(int s);

#endif
