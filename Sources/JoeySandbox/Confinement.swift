// The sentry's confinement, applied once setup is done and before the first guest
// instruction runs: an empty root (a mount namespace of its own, pivoted into an empty
// tmpfs), a seccomp allow-list of the host system calls it still makes (built with
// libseccomp; anything else is SIGSYS, reported), its capabilities cut to the few it uses,
// and no_new_privs. The allow-list is data here, per platform, network mode, writable host
// directories and OCI; `joey debug seccomp` prints it. The sentry's other namespaces are made
// earlier, before its first thread (joey/Namespaces.swift).
import CJoey
import Glibc
import JoeyABI
import JoeyKernel
import JoeyPlatform

public struct ConfinementPolicy: Sendable {
    public var platform: String
    public var network: NetworkMode
    /// Some host directory is writable (--rootfs-writable, a read-write bind mount).
    public var writableHost: Bool
    /// An OCI container's sentry (it serves `exec` on its control socket).
    public var container: Bool

    public init(platform: String, network: NetworkMode, writableHost: Bool, container: Bool) {
        self.platform = platform; self.network = network; self.writableHost = writableHost; self.container = container
    }

    /// One allowed call: its name, and (for calls filtered on an argument) the argument's
    /// index and the values allowed; `errno` makes the call fail instead.
    public struct Rule: Sendable {
        public let name: String
        public let argument: Int?
        public let values: [UInt64]
        /// The bits of the argument compared (ioctl's request is an int to the kernel).
        public let mask: UInt64
        public let errno: Int32
        public let why: String
        init(_ name: String, _ why: String, argument: Int? = nil, values: [UInt64] = [], mask: UInt64 = .max, errno: Int32 = 0) {
            self.name = name; self.argument = argument; self.values = values; self.mask = mask; self.errno = errno; self.why = why
        }
    }

    /// The terminal requests the sentry makes on the sandbox's terminal and host streams:
    /// TCGETS (isatty too), TCSETS/TCSETSW/TCSETSF, TIOCGWINSZ, TIOCSWINSZ, FIONREAD.
    static let terminalIoctls: [UInt64] = [0x5401, 0x5402, 0x5403, 0x5404, 0x5413, 0x5414, 0x541B]
    /// The socket requests host inet sockets pass through (HostInet.ioctl): SIOCOUTQ,
    /// SIOCATMARK, SIOCOUTQNSD, SIOCGSTAMP(NS), SIOCGIFCONF and the SIOCGIF* queries of one
    /// interface.
    static let socketIoctls: [UInt64] = [0x5411, 0x8905, 0x894B, 0x8906, 0x8907, 0x8912,
                                         0x8910, 0x8913, 0x8915, 0x8917, 0x8919, 0x891b, 0x8921, 0x8927, 0x8933, 0x8942]

    /// The KVM requests the kvm platform makes once the sentry is confined (vCPUs are made as
    /// guest threads start; the MemoryFile becomes guest memory with the first address
    /// space): KVM_RUN, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_SET_MSRS, KVM_GET_FPU,
    /// KVM_SET_FPU, KVM_GET_XSAVE, KVM_SET_XSAVE, KVM_SET_CPUID2, KVM_GET_SUPPORTED_CPUID,
    /// KVM_CREATE_VCPU, KVM_SET_USER_MEMORY_REGION. Not KVM_CREATE_VM: the VM is made before.
    static let kvmIoctls: [UInt64] = [0xae80, 0x4090ae82, 0x8138ae83, 0x4138ae84, 0x4008ae89, 0x81a0ae8c, 0x41a0ae8d,
                                      0x9000aea4, 0x5000aea5, 0x4008ae90, 0xc008ae05, 0xae41, 0x4020ae46]

    /// The rules, in the order `joey debug seccomp` prints them.
    public var rules: [Rule] {
        var r: [Rule] = [
            // Files of the host tree (the root, bind mounts, /proc of the sentry itself).
            Rule("read", "guest I/O on host files, pipes, terminals; the MemoryFile"),
            Rule("write", "guest I/O on host files, pipes, terminals; diagnostics"),
            Rule("pread64", "reads of host-backed files"),
            Rule("preadv2", "reads of host-backed files from the host's page cache, never waiting for the disk (RWF_NOWAIT only)",
                 argument: 5, values: [8 /* RWF_NOWAIT; the raw call splits the offset in two */]),
            Rule("pwrite64", "write-back of host-backed files and shared mappings"),
            Rule("lseek", "SEEK_DATA/SEEK_HOLE and offsets of host streams"),
            Rule("close", "host fds the sentry lets go"),
            Rule("openat", "host files opened under the root's dirfd; /proc/self"),
            Rule("openat2", "host files opened with RESOLVE_BENEATH under the root's dirfd"),
            Rule("newfstatat", "stat of host files"),
            Rule("fstatfs", "statfs of a bind mount or a written-through root: the host filesystem's space"),
            Rule("getdents64", "directory listings of host directories"),
            Rule("readlinkat", "symlinks of the host tree"),
            Rule("fcntl", "F_GETFL and F_SETFD (fdopendir of host directories, a guest's stdio flags), F_DUPFD_CLOEXEC (stdio taken over)",
                 argument: 1, values: [2 /* F_SETFD */, 3 /* F_GETFL */, 1030 /* F_DUPFD_CLOEXEC */]),
            Rule("poll", "readiness of a host stream or socket, at once (timeout 0)"),
            Rule("epoll_create1", "the host-fd notifier"),
            Rule("epoll_ctl", "the host-fd notifier"),
            Rule("epoll_wait", "the host-fd notifier"),
            // Memory: the MemoryFile and the sentry's own heap.
            Rule("memfd_create", "the MemoryFile, memfd-backed guest memory"),
            Rule("ftruncate", "growing the MemoryFile; truncating host files"),
            Rule("fallocate", "punching holes in the MemoryFile, guest fallocate on host files"),
            // Never PROT_EXEC: the sentry runs no code it did not start with. Guest code is
            // mapped by stubs, which come from the stub factory, started before this filter.
            Rule("mmap", "the sentry's heap, views of the MemoryFile, of stubs' shared areas and of host files (private mapping images: read-only views, or copied into the MemoryFile); never PROT_EXEC",
                 argument: 2, values: [0], mask: UInt64(PROT_EXEC)),
            Rule("munmap", "the sentry's heap, views"),
            Rule("mprotect", "the sentry's heap (thread stacks' guard pages); never PROT_EXEC",
                 argument: 2, values: [0], mask: UInt64(PROT_EXEC)),
            Rule("madvise", "returning memory to the host"),
            Rule("mremap", "large heap reallocations"),
            Rule("brk", "glibc's malloc growing the main heap"),
            // Threads and time. Stub processes come from the stub factory, which was started
            // before this filter: the sentry itself makes threads only.
            Rule("futex", "locks and wake-ups; requests to the stub factory and to stubs' control threads"),
            Rule("restart_syscall", "a timed futex wait or sleep resumed after a signal interrupted it (the kernel's own restart of an allowed call)"),
            Rule("pipe2", "each stub process's completion pipe (its control thread's only way to say a change is done)"),
            Rule("clone", "sentry threads (glibc's pthread_create flags exactly)", argument: 0, values: [0x3d0f00]),
            Rule("clone3", "refused: glibc falls back to clone, whose flags are visible", errno: ENOSYS),
            Rule("exit", "sentry threads ending"),
            Rule("exit_group", "the sentry ending"),
            Rule("set_robust_list", "new threads (glibc)"),
            Rule("rseq", "new threads (glibc)"),
            Rule("gettid", "thread identity"),
            Rule("getpid", "process identity"),
            Rule("wait4", "reaping stubs"),
            Rule("waitid", "reaping stubs"),
            Rule("kill", "killing stubs, signalling the sentry's own threads"),
            Rule("tgkill", "interrupting a sentry thread"),
            Rule("rt_sigaction", "signal dispositions of the sentry's threads"),
            Rule("rt_sigprocmask", "signal masks of the sentry's threads"),
            Rule("rt_sigreturn", "returning from a signal handler"),
            Rule("rt_sigtimedwait", "the signal forwarder (signals for the guest's init)"),
            Rule("clock_gettime", "time (when not through the vDSO)"),
            Rule("clock_getres", "clock resolution for the guest"),
            Rule("clock_nanosleep", "timed sleeps"),
            Rule("nanosleep", "timed sleeps"),
            Rule("sched_yield", "spinning waits"),
            Rule("membarrier", "the guest's membarrier: a barrier on every stub thread (MEMBARRIER_CMD_GLOBAL_EXPEDITED)",
                 argument: 0, values: [2]),
            Rule("sched_getaffinity", "the CPUs the guest sees; the CPUs the sentry may use"),
            Rule("sched_setaffinity", "a guest thread's sentry thread and stub thread pinned to one CPU under load (Spinning.swift)"),
            Rule("getrandom", "randomness for the guest (getrandom, /dev/urandom, AT_RANDOM)"),
            Rule("sysinfo", "memory figures for the guest"),
            Rule("prctl", "thread names (PR_SET/GET_NAME), PR_GET_SECCOMP, PR_CAPBSET_READ", argument: 0, values: [15, 16, 21, 23]),
        ]
        r.append(Rule("ioctl", (network == .host ? "the sandbox's terminal, FIONREAD on host streams; socket queue and interface queries"
                                                  : "the sandbox's terminal and FIONREAD on host streams")
                                 + (platform == "kvm" ? "; the kvm platform's vCPUs" : ""),
                      argument: 1, values: Self.terminalIoctls + (network == .host ? Self.socketIoctls : []) + (platform == "kvm" ? Self.kvmIoctls : []),
                      mask: 0xffff_ffff))
        if platform == "ptrace" {
            r.append(Rule("ptrace", "the ptrace platform drives its stubs"))
        }
        if platform != "kvm" {
            r += [
                Rule("socketpair", "each stub process's socket for the host files it maps (private file mappings)",
                     argument: 0, values: [UInt64(AF_UNIX)]),
                Rule("sendmsg", "host files handed to a stub to map (SCM_RIGHTS)"),
            ]
        }
        if writableHost {
            r += [
                Rule("mkdirat", "writable host directories"),
                Rule("unlinkat", "writable host directories"),
                Rule("renameat2", "writable host directories"),
                Rule("renameat", "writable host directories"),
                Rule("linkat", "writable host directories"),
                Rule("symlinkat", "writable host directories"),
                Rule("fchmodat", "writable host directories"),
                Rule("fchownat", "writable host directories"),
                Rule("utimensat", "writable host directories"),
                Rule("fsync", "data the guest asked to persist"),
                Rule("fdatasync", "data the guest asked to persist"),
                Rule("syncfs", "sync(2) and syncfs(2) of the guest"),
            ]
        }
        if network == .host {
            r += [
                Rule("socket", "guest inet sockets (AF_INET, AF_INET6) and the route netlink socket", argument: 0,
                     values: [UInt64(AF_INET), UInt64(AF_INET6), 16 /* AF_NETLINK */]),
                Rule("bind", "guest inet sockets"),
                Rule("connect", "guest inet sockets"),
                Rule("listen", "guest inet sockets"),
                Rule("accept4", "guest inet sockets"),
                Rule("sendmsg", "guest inet sockets"),
                Rule("recvmsg", "guest inet sockets"),
                Rule("sendto", "the route netlink socket"),
                Rule("recvfrom", "the route netlink socket"),
                Rule("getsockopt", "guest inet sockets (listed options)"),
                Rule("setsockopt", "guest inet sockets (listed options)"),
                Rule("getsockname", "guest inet sockets"),
                Rule("getpeername", "guest inet sockets"),
                Rule("shutdown", "guest inet sockets"),
                Rule("setfsuid", "guest sockets are made as their own uid"),
            ]
        }
        if container {
            r += [
                Rule("accept4", "exec requests on the control socket"),
                Rule("recvmsg", "exec requests and their stdio fds"),
                Rule("sendmsg", "exec replies"),
            ]
        }
        // A call listed twice (a container on the host network) is one rule.
        var seen = Set<String>()
        return r.filter { seen.insert($0.name + "/\($0.argument ?? -1)").inserted }
    }

    /// The distinct system calls the filter allows.
    public var allowedCount: Int { Set(rules.filter { $0.errno == 0 }.map(\.name)).count }

    /// The C rules libseccomp takes.
    func compiled() throws(ConfinementError) -> [joey_seccomp_rule] {
        var out: [joey_seccomp_rule] = []
        for rule in rules {
            guard let nr = SyscallTable.entries.first(where: { $0?.name == rule.name })??.number else {
                throw ConfinementError("seccomp: no system call named \(rule.name)")
            }
            if let arg = rule.argument {
                for v in rule.values {
                    out.append(joey_seccomp_rule(nr: Int32(nr), arg: Int32(arg), value: v, mask: rule.mask, errno_value: rule.errno))
                }
            } else {
                out.append(joey_seccomp_rule(nr: Int32(nr), arg: -1, value: 0, mask: 0, errno_value: rule.errno))
            }
        }
        return out
    }

    /// Capabilities the sentry keeps, and why.
    public var capabilities: [(Int, String)] {
        var c: [(Int, String)] = [
            (1, "CAP_DAC_OVERRIDE: host files the guest's root may read or write whatever their mode"),
            (2, "CAP_DAC_READ_SEARCH: host directories the guest's root may list"),
        ]
        if writableHost {
            c += [(0, "CAP_CHOWN: chown on writable host directories"),
                  (3, "CAP_FOWNER: chmod and utimes of host files the sentry does not own"),
                  (4, "CAP_FSETID: set-id bits kept on writes to writable host directories")]
        }
        if network == .host {
            c += [(10, "CAP_NET_BIND_SERVICE: guest root binding ports below 1024"),
                  (7, "CAP_SETUID: setfsuid to the guest sockets' own uid")]
        }
        return c
    }

    /// Applies it to the calling process (every thread). Throws naming the step that failed.
    public func apply() throws(ConfinementError) {
        let compiled = try compiled()
        // The mount namespace covers the calling thread and those it makes from now on: the
        // sentry must not have others yet.
        let threads = HostProc.statusField("self/status", "Threads")
        if let threads, threads != "1" { throw ConfinementError("the sentry already runs \(threads) threads; its new root would not cover them") }
        _ = HostProc.fd // opened before the host's /proc goes out of reach
        var step: UnsafePointer<CChar>? = nil
        let p = joey_pivot_to_empty_root(&step)
        if p != 0 {
            throw ConfinementError("empty root: \(step.map { String(cString: $0) } ?? "?") failed (\(String(cString: strerror(-p))))")
        }
        let have = joey_caps_permitted()
        var keep: UInt64 = 0
        for (cap, _) in capabilities { keep |= 1 << UInt64(cap) }
        keep &= have
        // Dropping bounding capabilities needs CAP_SETPCAP: only when it is there.
        if have != 0 {
            let r = joey_caps_limit(keep)
            if r != 0 { throw ConfinementError("capabilities: cannot limit them with libcap (\(String(cString: strerror(-r))))") }
        }
        var r = joey_no_new_privs()
        if r != 0 { throw ConfinementError("no_new_privs: prctl failed (\(String(cString: strerror(-r))))") }
        r = joey_report_sigsys()
        if r != 0 { throw ConfinementError("seccomp: cannot install the SIGSYS reporter (\(String(cString: strerror(-r))))") }
        r = compiled.withUnsafeBufferPointer { joey_seccomp_install($0.baseAddress, Int32($0.count)) }
        if r != 0 { throw ConfinementError("seccomp: libseccomp could not install the filter (\(String(cString: strerror(-r))))") }
    }

    /// The filter as libseccomp's pseudo-filter code, for `joey debug seccomp --filter`.
    public func exportFilter(to fd: Int32) throws(ConfinementError) {
        let compiled = try compiled()
        let r = compiled.withUnsafeBufferPointer { joey_seccomp_export($0.baseAddress, Int32($0.count), fd) }
        if r != 0 { throw ConfinementError("seccomp: libseccomp could not export the filter (\(String(cString: strerror(-r))))") }
    }
}

public struct ConfinementError: Error, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

extension ConfinementPolicy {
    /// The policy for a sandbox: writable host directories come from the root and the mounts.
    public init(spec: SandboxSpec, platform: String, container: Bool) {
        let writable = spec.rootWritable || spec.mounts.contains { $0.isBind && !$0.readOnly }
        self.init(platform: platform, network: spec.network, writableHost: writable, container: container)
    }
}
