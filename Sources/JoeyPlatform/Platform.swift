// JoeyPlatform: how guest code runs and how its address space is realized.
// The kernel sees only these protocols; it never calls ptrace, seccomp or KVM itself,
// and platforms never know what a system call means. Stub processes come from the stub
// factory (StubFactory.swift), started with the platform. Locks: the MemoryFile's allocation
// lock and the factory's request lock are each held for one operation, never together.
import CJoey
import Glibc
import JoeyABI

/// The guest's general-purpose registers (x86-64 user_regs_struct, including fs_base).
public typealias GuestRegisters = joey_regs

/// What happened when the guest last ran.
public enum PlatformEvent: Sendable {
    /// The guest executed `syscall`; the number is in orig_rax, arguments in rdi..r9.
    case syscall
    /// The guest faulted on its own instruction (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP).
    case fault(signal: Int32, code: Int32, address: UInt64)
    /// The context was interrupted (the sentry asked it to stop, or a host signal arrived).
    case interrupted
    /// The host process behind the context died (killed from outside the sentry).
    case died(status: Int32)
}

/// Memory protections as mmap(2) spells them.
public struct MemoryProtection: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let read = MemoryProtection(rawValue: 1)
    public static let write = MemoryProtection(rawValue: 2)
    public static let exec = MemoryProtection(rawValue: 4)
}

/// One change to an address space (AddressSpace.apply).
public enum SpaceOp {
    case map(address: UInt64, length: UInt64, fileOffset: UInt64, protection: MemoryProtection)
    /// [address, address + length) maps `image` from `offset`, never writable (only where
    /// Platform.mapsHostFiles).
    case mapHost(address: UInt64, length: UInt64, image: HostFileImage, offset: UInt64, protection: MemoryProtection)
    case unmap(address: UInt64, length: UInt64)
    case protect(address: UInt64, length: UInt64, protection: MemoryProtection)
    case unmapAll
}

/// A guest address space: one stub process, whose threads run the guest threads that share
/// it. The platform maps ranges of the MemoryFile into it; every change takes effect for all
/// of its threads at once (they share the host page tables). It lives while the MM or a
/// context holds it. Preconditions: ranges are page-aligned, below `Platform.addressSpaceEnd`.
public protocol AddressSpace: AnyObject {
    /// The host process whose threads run this space's guest threads, as the sentry's pid
    /// namespace numbers it (a stub; on kvm the sentry itself): what `ps --format json`
    /// reports for the guest processes in it.
    var hostPid: Int32 { get }
    func map(_ address: UInt64, length: UInt64, fileOffset: UInt64, protection: MemoryProtection) throws(LinuxErrno)
    func unmap(_ address: UInt64, length: UInt64) throws(LinuxErrno)
    func protect(_ address: UInt64, length: UInt64, protection: MemoryProtection) throws(LinuxErrno)
    /// Removes every guest mapping (to realize the MM afresh).
    func unmapAll() throws(LinuxErrno)
    /// Carries out `ops` in order; their first failure is thrown. `whileWaiting` (a lock the
    /// caller lets go and takes again) is called around the wait for another process to make
    /// them, if the platform waits for one: the ops are handed over before it is let go, so
    /// ops handed over after it, by anyone, are made after these. With no ops, it returns once
    /// the ops handed over before are made.
    func apply(_ ops: [SpaceOp], whileWaiting: (letGo: () -> Void, retake: () -> Void)?) throws(LinuxErrno)
    /// A new thread in this address space for one guest thread, bound to the calling host
    /// thread.
    func newContext() throws(PlatformError) -> PlatformContext
}

extension AddressSpace {
    /// Made at once, in the calling thread (kvm: page tables the sentry edits itself).
    public func apply(_ ops: [SpaceOp], whileWaiting: (letGo: () -> Void, retake: () -> Void)?) throws(LinuxErrno) {
        for op in ops {
            switch op {
            case let .map(address, length, fileOffset, protection):
                try map(address, length: length, fileOffset: fileOffset, protection: protection)
            case .mapHost: throw .ENODEV // the kernel makes none where the platform does not map host files
            case let .unmap(address, length): try unmap(address, length: length)
            case let .protect(address, length, protection): try protect(address, length: length, protection: protection)
            case .unmapAll: try unmapAll()
            }
        }
    }
}

/// One guest thread's execution context. It must be used only from the host thread that
/// created it (ptrace ties a tracee to one tracer thread).
public protocol PlatformContext: AnyObject {
    /// Runs the guest with `registers` until the next event; `registers` then holds the
    /// guest's state at that event.
    func switchToGuest(_ registers: inout GuestRegisters) -> PlatformEvent
    /// Registers a new guest starts from (segment selectors etc. filled in by the platform).
    func initialRegisters() -> GuestRegisters
    /// The guest's FPU/SSE state in fxsave layout (512 bytes), for signal frames.
    func floatingPointState() -> [UInt8]
    func setFloatingPointState(_ state: [UInt8])
    /// CPU time the guest has used in this context, in nanoseconds.
    func cpuTimeNanos() -> UInt64
    /// How often the host's scheduler has preempted the host thread that runs this
    /// context's guest code (its involuntary context switches), counted since that thread
    /// began; 0 where the platform cannot tell.
    func hostPreemptions() -> UInt64
    /// Of the last switchToGuest, the nanoseconds that were the platform's own round trip
    /// rather than guest code (kvm: a VM exit and entry), left out of cpuTimeNanos for the
    /// kernel to count as system time, as Linux counts a system call's entry and exit; 0
    /// where the platform counts none (Platform.reportsExitOverhead).
    var lastExitOverheadNanos: UInt64 { get }
    /// The largest resident set this context's address space has had, in KiB.
    func peakResidentKiB() -> UInt64
    /// This context's address space's resident memory now (and its peak).
    func residentMemory() -> ResidentMemory
    /// Makes a running switchToGuest return `.interrupted` soon. Callable from any thread.
    func interrupt()
    /// Ends the context: switchToGuest returns `.died` from now on, and the stub thread exits
    /// as soon as it stops running guest code. Callable from any thread.
    func kill()
    /// Releases host resources (the stub thread exits). Idempotent.
    func release()
    /// Ends the context of a guest thread that is done (it exited, or was killed and is
    /// parked): as kill(), except that a platform may keep the stub thread for the next
    /// guest thread of the same address space (systrap does). Called from the context's
    /// own thread; release() follows.
    func retire()
    /// A hint that the current system call will block for a while, so the guest side
    /// should stop spinning for the answer. Called from the context's own thread.
    func willBlock()
    /// The last `.syscall` came through a patched site (not a trap).
    var syscallWasPatched: Bool { get }
    /// The x86 trap number and error code behind the last `.fault` (a signal frame's trapno
    /// and err: 14 and the page-fault code, 3 for int3...), where the platform sees them:
    /// systrap reads them from the host's signal frame, kvm from the exception's; ptrace
    /// cannot see them (nil).
    var lastFaultTrap: (number: UInt64, error: UInt64)? { get }
    /// The guest thread may run only on these CPUs (a mask of `HostCPUs.ids`; 0: any): the
    /// guest's sched_setaffinity. Called from the context's own thread.
    func restrictCPUs(to mask: UInt64)
    /// The guest thread wakes from a sleep in the sentry, woken by a guest thread that
    /// offered it `home` to join (Spinning.wakingGuestThread; nil: none offered). Called
    /// from the context's own thread.
    func wokenBy(home: Int?)
}

extension PlatformContext {
    public func hostPreemptions() -> UInt64 { 0 }
    public func restrictCPUs(to mask: UInt64) {}
    public func wokenBy(home: Int?) {}
    public func retire() { kill() }
    public func willBlock() {}
    public var syscallWasPatched: Bool { false }
    public var lastFaultTrap: (number: UInt64, error: UInt64)? { nil }
    public var lastExitOverheadNanos: UInt64 { 0 }
}

public protocol Platform: AnyObject, Sendable {
    var name: String { get }
    /// Guest addresses at and above this value are reserved for the platform.
    var addressSpaceEnd: UInt64 { get }
    /// How many guest threads one address space runs at once.
    var maxThreadsPerAddressSpace: Int { get }
    /// A new, empty address space (a stub process with its control thread).
    func newAddressSpace(memoryFile: MemoryFile) throws(PlatformError) -> AddressSpace
    /// Where a patched system call enters the platform without a trap (the code a trap-table
    /// entry jumps to, with rcx at the entry; Task/SyscallPatching.swift), or nil when this
    /// platform takes every system call by trapping.
    var syscallPatchEntry: UInt64? { get }
    /// Whether the host lets globalMemoryBarrier work.
    var hasGlobalMemoryBarrier: Bool { get }
    /// Whether guest code reads the CPU it runs on as Linux's vDSO does (`lsl` of GDT entry
    /// 15); when not, the vDSO's getcpu makes the system call.
    var guestReadsItsCPU: Bool { get }
    /// Whether contexts report lastExitOverheadNanos (the kernel reads it only then).
    var reportsExitOverhead: Bool { get }
    /// Whether an address space can map host files directly (SpaceOp.mapHost): the stub
    /// platforms; kvm's guest memory is the MemoryFile alone.
    var mapsHostFiles: Bool { get }
    /// How much address space the sandbox's MemoryFile offers: every guest mapping takes a
    /// range of it when made (not when touched), so it bounds the address space a sandbox
    /// may reserve, as a wasm runtime or a garbage collector does by the terabyte.
    var memoryFileSize: UInt64 { get }
    /// Makes every guest thread of every address space, running or not, pass a full memory
    /// barrier before this returns (the guest's membarrier(2)).
    func globalMemoryBarrier()
}

extension Platform {
    public var syscallPatchEntry: UInt64? { nil }
    public var guestReadsItsCPU: Bool { true }
    public var reportsExitOverhead: Bool { false }
    public var mapsHostFiles: Bool { false }
    /// 32 TiB: of the sentry's own 128 TiB of address space, where the file is mapped whole,
    /// a quarter (it fits below the executable as well as above the heap); Linux lets one
    /// process reserve up to 128 TiB, and LTP's fork14 reserves 16.
    public var memoryFileSize: UInt64 { 1 << 45 }

    /// The host's MEMBARRIER_CMD_GLOBAL_EXPEDITED: an interrupt to each CPU running a thread
    /// of a registered process, which every stub is (StubFactory). A guest thread in the
    /// sentry is not running guest code, and passes barriers on its way back.
    public func globalMemoryBarrier() {
        _ = joey_membarrier(2)
    }
}

/// An operator-facing failure of a platform: what failed and what to do.
public struct PlatformError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The platforms `--platform` can name, default first.
public enum PlatformKind: String, CaseIterable, Sendable {
    case systrap, ptrace, kvm

    /// Creates the platform, or says precisely why it is unavailable on this machine.
    /// `syscallPatching` lets systrap rewrite guest system call sites (off: every call traps).
    public func make(syscallPatching: Bool = true) throws(PlatformError) -> Platform {
        switch self {
        case .systrap: return try SystrapPlatform(syscallPatching: syscallPatching)
        case .ptrace: return try PtracePlatform()
        case .kvm: return try KVMPlatform()
        }
    }
}

/// What the host knows about a stub process.
enum StubProcess {
    /// Resets the peak resident size (VmHWM): a fresh stub still counts what it shared with
    /// the stub factory right after fork.
    static func resetPeakResident(_ pid: pid_t) {
        let fd = HostProc.open("\(pid)/clear_refs", O_WRONLY)
        guard fd >= 0 else { return }
        _ = write(fd, "5", 1)
        close(fd)
    }

    /// VmHWM from /proc/PID/status, in KiB (0 when unknown).
    static func peakResidentKiB(_ pid: pid_t) -> UInt64 { memory(pid).peak }

    /// The stub's memory as its host /proc/PID/status counts it: the guest's memory is mapped
    /// there at the guest's addresses, so these are the guest process's figures (plus the
    /// stub's own few pages). All zero when unknown.
    static func memory(_ pid: pid_t) -> ResidentMemory {
        let fd = HostProc.open("\(pid)/status", O_RDONLY)
        guard fd >= 0 else { return ResidentMemory() }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &buf, buf.count)
        guard n > 0 else { return ResidentMemory() }
        // "...\nVmHWM:\t    1234 kB\n...": the digits after each key.
        func value(_ name: String) -> UInt64 {
            let key = Array("\n\(name):".utf8)
            guard n > key.count, let at = (0...(n - key.count)).first(where: { buf[$0..<$0 + key.count].elementsEqual(key) }) else { return 0 }
            var value: UInt64 = 0
            var i = at + key.count
            while i < n, buf[i] == 32 || buf[i] == 9 { i += 1 }
            while i < n, buf[i] >= 48, buf[i] <= 57 { value = value &* 10 &+ UInt64(buf[i] - 48); i += 1 }
            return value
        }
        // Guest memory, anonymous or not, lives in the sentry's memory file, which the host
        // counts as shared memory: to the guest it is its anonymous memory.
        return ResidentMemory(peak: value("VmHWM"), current: value("VmRSS"), anon: value("RssAnon") &+ value("RssShmem"),
                              file: value("RssFile"), shmem: 0)
    }
}

/// A guest address space's resident memory, in KiB (as /proc/PID/status names it).
public struct ResidentMemory: Sendable {
    public var peak: UInt64 = 0, current: UInt64 = 0, anon: UInt64 = 0, file: UInt64 = 0, shmem: UInt64 = 0
    public init(peak: UInt64 = 0, current: UInt64 = 0, anon: UInt64 = 0, file: UInt64 = 0, shmem: UInt64 = 0) {
        (self.peak, self.current, self.anon, self.file, self.shmem) = (peak, current, anon, file, shmem)
    }
}

/// The host's CLOCK_MONOTONIC in nanoseconds (the platform's own; the kernel has its twin,
/// public, in Kernel/KernelLock.swift, which files that do not import JoeyPlatform use).
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// The host's /proc, opened once before the sentry gives up the host's root (its confinement
/// pivots into an empty directory): every later read of a host /proc file goes through it.
public enum HostProc {
    public static let fd: Int32 = Glibc.open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC)

    /// Opens `path` relative to the host's /proc ("self/net/tcp", "sys/net/ipv4/...").
    public static func open(_ path: String, _ flags: Int32) -> Int32 {
        openat(fd, path, flags | O_CLOEXEC)
    }

    /// The value of a "Name:<blanks>value" line of a host /proc status file, its blanks
    /// dropped ("Threads", "nonvoluntary_ctxt_switches"); nil when the file or line is absent.
    public static func statusField(_ path: String, _ name: String) -> String? {
        let key = Array((name + ":").utf8)
        return read(path).split(separator: 0x0a).first { $0.starts(with: key) }
            .map { String(decoding: $0.dropFirst(key.count).filter { $0 != 0x20 && $0 != 0x09 }, as: UTF8.self) }
    }

    /// A host /proc file's whole content (at most 16 MiB); empty when it cannot be read.
    public static func read(_ path: String) -> [UInt8] {
        let f = open(path, O_RDONLY)
        guard f >= 0 else { return [] }
        defer { close(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while out.count < 16 << 20 {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(f, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return out
    }
}
