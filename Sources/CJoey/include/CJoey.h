// CJoey: the only place Joey calls host interfaces Swift cannot call directly
// (variadic ptrace, raw syscalls without libc wrappers, the stub trampoline).
// One kernel operation per function; each returns the raw result or -errno.
#ifndef CJOEY_H
#define CJOEY_H

#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>
#include <sys/user.h>
#include <signal.h>
#include <linux/kvm.h>

/// The guest-visible top of the x86-64 user address space (TASK_SIZE).
#define JOEY_TASK_SIZE 0x7ffffffff000ULL
/// The fd number under which every stub process holds the MemoryFile.
#define JOEY_STUB_MEMFD 3
/// Size of the stub code page (the only page the stub may issue system calls from).
#define JOEY_STUB_SIZE 0x1000ULL
/// The stub region, the same in every stub process and reserved in the sentry:
///   below the code page, JOEY_STUB_MAX_THREADS thread areas of JOEY_STUB_AREA_SIZE (area i
///   at stub - (i + 1) * size): a thread's control page (systrap) and its signal stack;
///   stub + 0x0000 the code page; + 0x1000 the control thread's request page (read-only in
///   the stub); + 0x2000 its result page; + 0x3000 the stub factory's page (factory only).
#define JOEY_STUB_AREA_SIZE 0x10000ULL
#define JOEY_STUB_MAX_THREADS 8192ULL
#define JOEY_STUB_BELOW (JOEY_STUB_AREA_SIZE * JOEY_STUB_MAX_THREADS)
#define JOEY_STUB_ABOVE 0x4000ULL
#define JOEY_STUB_REGION_SIZE (JOEY_STUB_BELOW + JOEY_STUB_ABOVE)
#define JOEY_STUB_REQUEST_OFFSET 0x1000ULL
#define JOEY_FACTORY_PAGE_OFFSET 0x3000ULL
/// The fd under which a stub process's control thread holds the write end of its
/// completion pipe.
#define JOEY_STUB_PIPEFD 4
/// The fd under which a stub process holds its end of the seqpacket socket through which the
/// sentry hands it host files to map (one SCM_RIGHTS fd a message). A received fd takes the
/// lowest free number, always 0 (the stub holds nothing below 3): the batch that maps it
/// closes 0-2 before and after (StubSpace).
#define JOEY_STUB_SOCKFD 5

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
/// Offset of the loop a new ptrace thread spins in until its sentry thread seizes it.
uint64_t joey_stub_park_offset(void);
/// Offset right after a new ptrace thread's last setup call (its filter; rax holds the
/// result there): a thread stopped between it and the park loop is parked.
uint64_t joey_stub_parked_offset(void);
/// Offset of a systrap thread's ready point (a ud2 after its setup): a thread sent there
/// reports ready again, to run the next guest thread of its address space.
uint64_t joey_stub_ready_offset(void);
/// Offset of the patched-syscall entry: a trap-table entry jumps there with rcx at itself.
uint64_t joey_stub_patch_entry_offset(void);

/// The stub factory's page (at the same address in the sentry and the factory).
/// `request`/`done` are sequence numbers (futex words); the request is read into registers
/// before the factory forks.
typedef struct {
    uint32_t request;
    uint32_t done;
    int32_t memfd;       // the MemoryFile, in the sentry's (shared) descriptor table
    int32_t pipefd;      // the write end of the new stub's completion pipe (>= 5)
    uint64_t pages;      // MemoryFile offset of the request and result pages
    int64_t result;      // the stub's pid, or -errno
    int32_t membarrier;  // 1 once the factory is registered for MEMBARRIER_CMD_GLOBAL_EXPEDITED, else -errno
    int32_t sockfd;      // the new stub's end of its host-file socket (>= 5)
} joey_factory_page;
/// Starts the stub factory: a child of the calling thread (it dies with it: call from the
/// thread that outlives the sandbox) that shares the sentry's descriptor table and holds
/// nothing but the stub code page and its own page. Returns its pid (*page_out set) or -errno.
int64_t joey_factory_start(joey_factory_page **page_out);
/// Has the factory fork one stub process: its control thread takes requests from the page at
/// MemoryFile offset `pages` (prepared with joey_space_prepare) and reports each on `pipefd`.
/// The stub is the sentry's child. Returns its pid or -errno (-ECHILD: the factory is gone).
/// One request at a time (the caller serializes).
int64_t joey_factory_spawn(joey_factory_page *page, pid_t factory, int memfd, int pipefd, int sockfd, uint64_t pages);
/// The factory page's `membarrier` field, read with acquire ordering.
int32_t joey_factory_membarrier(joey_factory_page *page);

/// A stub process's request page, written by the sentry, read-only in the stub: each time
/// `seq` changes the control thread runs the `count` system calls in `ops` (up to the first
/// that fails), stores each result in the result page (an int64_t per op) and writes one
/// byte to its pipe. A clone
/// (nr 56, the last op of its batch) whose child starts with rsp at a thread area makes that
/// child a guest thread: it takes the area's signal stack, unblocks signals, installs `prog`
/// (its platform's guest-thread filter) and then reports ready (systrap: SIGILL to its
/// handler) or parks (ptrace).
typedef struct {
    uint64_t nr;
    uint64_t args[6];
} joey_space_op;
#define JOEY_SPACE_MAX_OPS 60
typedef struct {
    uint32_t seq;
    uint32_t kind;        // JOEY_STUB_KIND_*
    uint32_t count;
    uint32_t reserved0;
    uint64_t reserved1[6];
    uint64_t zero_mask;   // 0x40: an empty signal set
    uint64_t action[4];   // 0x48: struct kernel_sigaction for the handled signals
    uint16_t prog_len;    // 0x68: struct sock_fprog
    uint16_t reserved[3];
    uint64_t prog_filter;
    uint64_t filter[64];  // 0x78: struct sock_filter[]
    joey_space_op ops[JOEY_SPACE_MAX_OPS]; // 0x278
} joey_space_request;
/// Where in the result page the recvmsg that takes a host file from JOEY_STUB_SOCKFD finds
/// its struct msghdr (which the kernel writes back), and its iovec, byte and control buffer.
#define JOEY_SPACE_RECV_MSG 0xf00
/// Writes that recvmsg's header into the result page (`result`, the sentry's mapping of it)
/// for the stub at `stub`, before each batch that takes a host file (the page is the
/// guest's to scribble on: a guest that spoils it spoils only its own batch). Returns the
/// header's address in the stub.
uint64_t joey_space_prepare_recv(void *result, uint64_t stub);
#define JOEY_STUB_KIND_SYSTRAP 1u
#define JOEY_STUB_KIND_PTRACE 2u
/// Fills a stub process's request page (sentry mapping `page`) for `kind` before it starts.
int joey_space_prepare(joey_space_request *page, uint32_t kind, uint64_t stub);
/// Has the control thread run the `count` ops already in the request page and waits for
/// its byte on `pipefd`: 0, or -ESRCH when the stub process is gone. The results (in the
/// guest-writable result page: only ever this guest's own business) are then in `results`.
/// One batch at a time (the caller serializes). Neither side spins: the caller keeps the
/// control thread on its own CPU (StubSpace.run), where a wake-up costs no cross-CPU call.
int64_t joey_space_run(joey_space_request *req, uint32_t count, int pipefd);

/// systrap: the control page of one stub thread (the first page of its thread area). The
/// thread's signal handler finds it below its signal stack, fills `signo`, `frame` (its
/// ucontext) and `info` (its siginfo), then hands over through `state`; the sentry answers
/// RESUME, asks for one system call of the thread's own (REQUEST: exit), or DEAD (the thread
/// exits). Everything in it is guest-writable memory, so the sentry validates it all.
typedef struct {
    uint32_t state;          // JOEY_SYSTRAP_*
    uint32_t stub_waiting;   // the stub sleeps in FUTEX_WAIT on `state`
    uint32_t sentry_waiting; // the sentry sleeps in FUTEX_WAIT on `state`
    uint32_t signo;
    uint64_t frame;          // stub address of the ucontext
    uint64_t info;           // stub address of the siginfo
    uint64_t fs_base;
    uint64_t gs_base;
    uint32_t bases_dirty;    // the sentry changed fs_base/gs_base: load them before returning
    uint32_t has_fsgsbase;   // rdfsbase/wrfsbase are usable (else arch_prctl)
    uint32_t spin;           // pause iterations the stub spins before sleeping
    uint32_t sentry_blocking; // the sentry blocks in this system call: sleep at once, don't spin
    uint64_t req_nr;
    uint64_t req_args[6];
    int64_t req_result;
    uint32_t fast;           // 128: the event came through the patched-syscall entry (registers
                             //      in the register block, the FPU state still in the CPU)
    uint32_t fp_dirty;       // 132: the sentry changed the register block's FPU state: restore it
    uint64_t xsave_mask;     // 136: the XSAVE features a signal frame holds (xsave/xrstor mask)
    uint32_t bounce;         // 144: leave the patched path through a signal frame (flags or gs
                             //      the fast exit cannot restore)
    uint32_t yields;         // 148: sched_yields the stub makes after spinning, before sleeping
} joey_systrap_ctrl;

/// Where things lie in a systrap thread area (from its start): the control page with the
/// register block of patched-syscall events (a ucontext's layout, gregs at +40); the XSAVE
/// area of those events; the signal stack, up to the area's end.
#define JOEY_SYSTRAP_REGS 0x100ULL
#define JOEY_SYSTRAP_XSAVE_AREA 0x1000ULL
#define JOEY_SYSTRAP_XSAVE_SIZE 0x3000ULL
#define JOEY_SYSTRAP_SIGSTACK 0x4000ULL

#define JOEY_SYSTRAP_GUEST 0u   // the guest runs
#define JOEY_SYSTRAP_EVENT 1u   // the stub posted an event (or finished a request)
#define JOEY_SYSTRAP_RESUME 2u  // the sentry wrote the registers: return to the guest
#define JOEY_SYSTRAP_REQUEST 3u // the sentry asks for the system call in req_*
#define JOEY_SYSTRAP_DEAD 4u    // the sentry is done with the thread: it exits
#define JOEY_SYSTRAP_XSAVE 5u   // (patched-syscall events) save the FPU state to the XSAVE area

/// The sentry's side of the handshake: publish `state` and wake the stub if it sleeps.
/// Returns 1 when the stub slept (it had to be woken), else 0.
int joey_systrap_post(joey_systrap_ctrl *c, uint32_t state);
/// Waits until the stub posts EVENT (or the state becomes DEAD): spins `spin` times, yields
/// the CPU `yields` times, then sleeps up to `timeout_ns` (and sets *slept). Returns the state
/// seen, or -ETIMEDOUT.
int64_t joey_systrap_wait(joey_systrap_ctrl *c, uint32_t spin, uint32_t yields, int64_t timeout_ns, uint32_t *slept);
/// waitpid(pid, WNOHANG | __WALL): the pid when it has exited (status in *status), 0 if not.
int64_t joey_wait_nohang(pid_t pid, int *status);
/// 1 when the CPU and kernel let user code use rdfsbase/wrfsbase.
int joey_has_fsgsbase(void);
/// 1 when the kernel has enabled XSAVE for user code (CPUID.1:ECX.OSXSAVE).
int joey_has_xsave(void);
/// prctl(PR_GET_SECCOMP): the calling thread's seccomp mode, or -errno (EINVAL: no seccomp).
int64_t joey_seccomp_mode(void);

/// sendmsg with up to 16 fds as SCM_RIGHTS (MSG_NOSIGNAL). Returns bytes sent or -errno.
int64_t joey_send_with_fds(int sock, const void *buf, uint64_t len, const int *fds, int nfds);
/// recvmsg keeping up to `maxfds` received fds (close-on-exec); *nfds says how many.
int64_t joey_recv_with_fds(int sock, void *buf, uint64_t len, int *fds, int maxfds, int *nfds);
/// A listening / connected SOCK_SEQPACKET unix socket named `name` inside directory `dirfd`.
int64_t joey_unix_listen_at(int dirfd, const char *name);
int64_t joey_unix_connect_at(int dirfd, const char *name);

/// A new pty pair (master close-on-exec, neither a controlling terminal). 0 or -errno.
int64_t joey_open_pty(int *master, int *slave);
/// A SOCK_STREAM unix socket connected to `path`, or -errno.
int64_t joey_unix_connect_stream(const char *path);
/// ioctl(fd, TIOCSCTTY): fd becomes the caller's controlling terminal.
int64_t joey_set_controlling_tty(int fd);

int64_t joey_ptrace(long request, pid_t pid, uint64_t addr, uint64_t data);
/// PTRACE_GET_SYSCALL_INFO at a system-call stop: the call's AUDIT_ARCH_*, or -errno.
int64_t joey_ptrace_syscall_arch(pid_t pid);
/// PTRACE_GET_SYSCALL_INFO's op at a stop: 0 none, 1 system-call entry, 2 exit, 3 seccomp.
int64_t joey_ptrace_syscall_op(pid_t pid);
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
/// pipe2(fds, O_CLOEXEC): 0 or -errno.
int64_t joey_pipe_cloexec(int fds[2]);
/// tgkill(pid, tid, sig): 0 or -errno.
int64_t joey_tgkill(pid_t pid, pid_t tid, int sig);
/// The CPUs this process may run on (its affinity at the first call, which is kept):
/// how many, their numbers in `out` (up to `max`).
int joey_allowed_cpus(int *out, int max);
/// sched_setaffinity(tid): the thread runs on CPU `cpu` only, or, when `cpu` is negative,
/// wherever joey_allowed_cpus said. 0 or -errno.
int64_t joey_pin_thread(pid_t tid, int cpu);
/// sched_setaffinity(tid): the thread runs on the `n` host CPUs in `cpus` only. 0 or -errno.
int64_t joey_restrict_thread(pid_t tid, const int *cpus, int n);
/// Threads made with `attr` run wherever joey_allowed_cpus said (not pinned like a creator
/// that joey_pin_thread pinned), once that is known. 0 or an errno.
int joey_attr_allowed_cpus(pthread_attr_t *attr);
/// gettid().
pid_t joey_gettid(void);
/// pthread_mutex_init with PTHREAD_MUTEX_ADAPTIVE_NP (a contended lock spins briefly before
/// it sleeps). 0 or an errno.
int joey_mutex_init_adaptive(pthread_mutex_t *m);

/// Releases [offset, offset+length) of a file's pages (FALLOC_FL_PUNCH_HOLE | KEEP_SIZE).
int64_t joey_punch_hole(int fd, uint64_t offset, uint64_t length);
/// lseek(SEEK_DATA) / lseek(SEEK_HOLE).
int64_t joey_seek_data(int fd, uint64_t offset);
int64_t joey_seek_hole(int fd, uint64_t offset);
/* Host epoll for the sentry's fd notifier (struct epoll_event is packed: Swift cannot lay it out). */
int joey_epoll_create(void);
/// setns(fd, nstype) and unshare(flags) (GNU extensions Swift's Glibc module does not
/// export); 0 or -errno.
int joey_setns(int fd, int nstype);
/// In a new stub: gives up every capability (async-signal-safe).
void joey_stub_drop_capabilities(void);
/// setfsuid(uid) for the calling thread; returns the previous fsuid.
int joey_setfsuid(uint32_t uid);
int joey_unshare(int flags);
/// accept4(fd, NULL, NULL, flags) (a GNU extension Swift's Glibc module does not export);
/// -1 with errno set on failure.
int joey_accept4(int fd, int flags);
int joey_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/* Waits; fills datas[i]/events[i]; returns the count or -errno. */
int joey_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms);
int64_t joey_getrandom(void *buf, uint64_t len);
uint64_t joey_getauxval(uint64_t type);
/* Safe copies (safecopy.c): through the sentry's mapping of a MemoryFile that may refuse a
   page (SIGBUS when its tmpfs is full), they return instead of ending the sentry. */
/// Copies n bytes; returns how many were not copied (0: all).
size_t joey_safe_copy(void *dst, const void *src, size_t n);
/// Zeroes n bytes; returns how many were not zeroed (0: all).
size_t joey_safe_zero(void *dst, size_t n);
/// Atomic compare-and-swap of a 32-bit word: 0 with the value found in *old, or nonzero when
/// the word's page could not be had.
size_t joey_safe_cmpxchg32(uint32_t *word, uint32_t expected, uint32_t desired, uint32_t *old);
/// Installs the SIGBUS handler that lets the safe copies fail: 0 or -errno.
int joey_safecopy_install(void);
/// A file on a tmpfs of `limit` bytes that no mount tree holds (fsopen, fsmount, O_TMPFILE):
/// its fd, or -errno.
int64_t joey_limited_memory_file(uint64_t limit);
/// Host memory in bytes: total and free.
void joey_meminfo(uint64_t *total, uint64_t *free_);
/// fstatfs(2) of a host fd, in 4096-byte blocks: total, free and available blocks, total and
/// free inodes, the longest name, the filesystem's type, its mount flags (ST_*). 0, or -errno.
int joey_fstatfs(int fd, uint64_t out[8]);
/// statvfs's ST_NOEXEC.
#define JOEY_ST_NOEXEC 8
/// 1 when the calling process ignores `sig` (SIG_IGN), else 0.
int joey_signal_ignored(int sig);
/// The host CPU the calling thread runs on.
int joey_current_cpu(void);
/// membarrier(2) of the host with no flags: its result, or -errno.
int64_t joey_membarrier(int cmd);
int64_t joey_memfd_create(const char *name);
/// fallocate(2) on a host fd the sentry owns: 0 or -errno.
int64_t joey_fallocate(int fd, int mode, int64_t offset, int64_t length);
/// renameat2(2) of host paths the sentry owns: 0 or -errno.
int64_t joey_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
int64_t joey_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
int64_t joey_ioctl(int fd, unsigned long request, void *arg);
/// The pause instruction, for spin-waits in Swift.
static inline void joey_cpu_relax(void) { __builtin_ia32_pause(); }
// Whether a mutex is held, read without writing its cache line (a spinning waiter's test
// before it tries: glibc keeps the lock word first, nonzero while held).
static inline int joey_mutex_held(pthread_mutex_t *m) { return __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) != 0; }
/// syncfs(fd) (a GNU extension Swift's Glibc module does not export). 0 or -errno.
int joey_syncfs(int fd);
/// preadv2(fd, {buf, count}, offset, RWF_NOWAIT): what the host's page cache holds now, never
/// waiting for the disk. Bytes read, or -errno (-EAGAIN: the data must come from the disk).
int64_t joey_pread_nowait(int fd, void *buf, size_t count, int64_t offset);

// Joey's vDSO (vdso.c).
/// The data page ([vvar]) the vDSO reads; the sentry's timekeeper writes it under `seq`
/// (odd while it writes). MONOTONIC in ns is mono_base + ((tsc - tsc_base) * mult) >> 32;
/// REALTIME and BOOTTIME add their offsets; REALTIME also gains (MONOTONIC - real_anchor)
/// * real_rate >> 32 ns until real_end (the sandbox's clock being slewed:
/// Kernel/WallClock.swift). `ready` 0: every call makes the system call.
typedef struct {
    uint32_t seq;
    uint32_t ready;
    uint64_t tsc_base;
    uint64_t mult;
    uint64_t mono_base;
    int64_t realtime_offset;
    int64_t boottime_offset;
    /// Non-zero: getcpu makes the system call (the platform's guest cannot read its CPU).
    uint32_t getcpu_by_syscall;
    /// gettimeofday's struct timezone: the sandbox's (settimeofday).
    int32_t tz_minuteswest;
    int32_t tz_dsttime;
    uint64_t real_anchor;
    uint64_t real_end;
    int64_t real_rate;
} joey_vdso_data;
/// The vDSO's code (position-independent, self-contained): its bytes and their count.
const uint8_t *joey_vdso_code(uint64_t *length);
/// Offset in that code of entry `which`: 0 clock_gettime, 1 gettimeofday, 2 time,
/// 3 getcpu, 4 clock_getres; UINT64_MAX past the last.
uint64_t joey_vdso_entry(int which);
/// The sentry's read of a clock the page keeps, as the guest's vDSO reads it: 0 and `ns`,
/// or -1 when the page cannot answer.
int joey_vdso_clock(const joey_vdso_data *d, int clock, uint64_t *ns);
/// Writes new parameters into the page under its sequence count.
void joey_vdso_publish(joey_vdso_data *d, const joey_vdso_data *params);
/// The TSC, ordered after earlier loads.
uint64_t joey_rdtsc(void);
/* The TSC without ordering against earlier loads (no lfence): for intervals where a few
 * cycles of skew do not matter (system time), inlined into the caller. */
static inline uint64_t joey_rdtsc_unordered(void) { return __builtin_ia32_rdtsc(); }
/// 1 when the CPU says its TSC runs at a constant rate in every state (invariant TSC).
int joey_cpu_has_invariant_tsc(void);
/// The host's clock discipline, read (adjtimex with no modes): its state (TIME_OK...) or
/// -errno, and the fields the sandbox's discipline starts from.
typedef struct {
    int64_t freq, maxerror, esterror, constant, tick;
    int32_t status, tai;
} joey_ntp_state;
int joey_adjtimex_read(joey_ntp_state *out);

// The sentry's confinement (confine.c).
/// One seccomp rule: allow `nr` (or fail it with `errno_value` when non-zero), when `arg`
/// is -1 always, else when (argument `arg` & mask) == value.
typedef struct {
    int32_t nr;
    int32_t arg;
    uint64_t value;
    uint64_t mask;
    int32_t errno_value;
} joey_seccomp_rule;
/// Installs the filter on every thread (TSYNC): the rules, and SIGSYS for anything else.
int joey_seccomp_install(const joey_seccomp_rule *rules, int count);
/// Writes the filter the rules make, in libseccomp's pseudo-filter-code text, to `fd`.
int joey_seccomp_export(const joey_seccomp_rule *rules, int count, int fd);
/// Gives the calling thread (and the threads it makes later) a mount namespace of its own
/// whose root is an empty read-only tmpfs; the host's root is detached. Fds opened before
/// stay usable. 0, or -errno with `step` naming what failed.
int joey_pivot_to_empty_root(const char **step);
/// Keeps only the capabilities in `keep` (effective and permitted), clears the bounding set
/// of the rest and the ambient set. 0 or -errno.
int joey_caps_limit(uint64_t keep);
/// The calling thread's permitted capabilities.
uint64_t joey_caps_permitted(void);
/// prctl(PR_SET_NO_NEW_PRIVS, 1). 0 or -errno.
int joey_no_new_privs(void);
/// prctl(PR_FUTEX_HASH, PR_FUTEX_HASH_SET_SLOTS, 0): the process's private futexes hash into
/// the system-wide table instead of a table of its own (Linux 6.16 and later; EINVAL before).
/// 0 or -errno.
int joey_futex_hash_global(void);
/// syscall(nr, args...): the result or -errno (for probing the filter).
int64_t joey_raw_syscall(int64_t nr, const uint64_t args[6]);
/// A SIGSYS in the sentry (a call outside the allow-list) is reported on stderr, then exit 70.
int joey_report_sigsys(void);
unsigned joey_libseccomp_version(void);
const char *joey_build_commit(void);
/// `joey do`: starts making a new network namespace on a thread of its own (the main thread
/// goes on meanwhile), once; before main already when the command line asks for it.
void joey_netns_prepare(void);
/// Waits for that thread: a descriptor of the namespace (for setns), or -1 when none was
/// started or it could not be made. Call before any fork.
int joey_netns_take(void);
/// `joey do`: gives the sentry a pid namespace of its own. Forks; the child (returned 0) is
/// pid 1 of a new pid namespace and dies with its parent; the parent never returns: it
/// relays signals sent to it alone to the child and exits as the child does. -errno when
/// the namespace or the fork cannot be made. Call with one thread only.
int joey_pid_namespace_relay(void);
/// In the sentry `joey do` forked: hands the relay the exit code it exits with at once (the
/// sentry's own teardown goes on after). Once; nothing outside `joey do`.
void joey_relay_report_exit(int code);
/// An OCI container's sentry, forked (no second exec: the caller's decoded arguments and
/// config are the sentry's): the child (returned 0) is pid 1 of a new pid namespace when
/// asked, with no signal blocked and every handler default, as posix_spawn with
/// SETSIGMASK|SETSIGDEF gives; the caller's later children stay in its own pid namespace.
/// The child's pid, or -errno. Call with one thread only.
int64_t joey_fork_sentry(int new_pid_namespace);
/// The sentry's own view of its pid namespace: a private mount namespace with a new proc
/// mounted on /proc (the pid numbers the sentry sees are its namespace's). 0, or -errno with
/// `step` naming what failed.
int joey_mount_own_proc(const char **step);

// MARK: KVM platform (kvm.c)

struct kvm_regs;
/// Selectors of the supervisor GDT (Linux's, so a guest sees the cs/ss it would natively).
#define JOEY_KVM_KERNEL_CS 0x10
#define JOEY_KVM_KERNEL_DS 0x18
#define JOEY_KVM_USER_CS 0x33
#define JOEY_KVM_USER_DS 0x2b
#define JOEY_KVM_TSS 0x40
#define JOEY_KVM_GDT_SIZE 0x50
/// Offsets in the supervisor image: the syscall trampoline (page 0, user-executable), the
/// exception entries (16 bytes each), the iretq and the cr3-reloading iretq.
#define JOEY_KVM_TRAMPOLINE 0x0ULL
#define JOEY_KVM_VECTORS 0x1000ULL
#define JOEY_KVM_IRET 0x1200ULL
#define JOEY_KVM_FLUSH 0x1210ULL
#define JOEY_KVM_APPLY 0x1240ULL
/// The port joey_kvm_apply exits with.
#define JOEY_KVM_APPLY_PORT 32
/// The supervisor image's bytes (two pages).
const void *joey_kvm_image(uint64_t *size);
int64_t joey_kvm_open(void);
int64_t joey_kvm_api_version(int kvm);
int64_t joey_kvm_create_vm(int kvm);
int64_t joey_kvm_vcpu_mmap_size(int kvm);
int64_t joey_kvm_set_memory(int vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva);
int64_t joey_kvm_create_vcpu(int vm, uint32_t id);
/// KVM_GET_SUPPORTED_CPUID (once) then KVM_SET_CPUID2 on the vCPU.
int64_t joey_kvm_set_supported_cpuid(int kvm, int vcpu);
int64_t joey_kvm_set_supervisor_state(int vcpu, uint64_t cr3, uint64_t gdt, uint64_t idt, uint64_t tss);
int64_t joey_kvm_set_msr(int vcpu, uint32_t index, uint64_t value);
int64_t joey_kvm_run(int vcpu);
int64_t joey_kvm_get_fxsave(int vcpu, void *buf512);
int64_t joey_kvm_set_fxsave(int vcpu, const void *buf512);
void joey_kvm_sync_regs(void *run);
struct kvm_regs *joey_kvm_run_regs(void *run);
void joey_kvm_mark_regs_dirty(void *run);
uint32_t joey_kvm_exit_reason(void *run);
int32_t joey_kvm_exit_port(void *run);
void joey_kvm_set_immediate_exit(void *run, uint8_t on);
int64_t joey_kvm_install_kick_handler(int sig);
/// KVM_GET_SREGS then KVM_SET_SREGS with the supervisor's cs and ss (the rest kept).
int64_t joey_kvm_enter_supervisor(int vcpu);
int64_t joey_kvm_get_xsave(int vcpu, void *buf, uint64_t size);
int64_t joey_kvm_set_xsave(int vcpu, const void *buf, uint64_t size);
uint64_t joey_xsave_size(void);

int joey_wifexited(int s);
int joey_wexitstatus(int s);
int joey_wifsignaled(int s);
int joey_wtermsig(int s);
int joey_wifstopped(int s);
int joey_wstopsig(int s);

#endif
