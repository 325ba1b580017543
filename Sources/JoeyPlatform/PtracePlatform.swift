// The ptrace platform: a guest thread runs as a thread of its address space's stub process
// (StubSpace), traced by its sentry thread with PTRACE_SYSEMU, so no guest system call ever
// reaches the host kernel. The stub's address space holds only the code page, its thread
// areas and what the control thread maps into it; a thread's own exit is injected at the
// code page's `syscall; int3` site.
import CJoey
import Glibc
import JoeyABI

public final class PtracePlatform: Platform, @unchecked Sendable {
    public let name = "ptrace"
    public var mapsHostFiles: Bool { true }
    public let stubAddress: UInt64
    public var addressSpaceEnd: UInt64 { stubAddress - JOEY_STUB_BELOW }
    /// Half the stub's thread areas: the rest leaves room for threads still exiting, whose
    /// areas are reused once they are gone.
    public var maxThreadsPerAddressSpace: Int { Int(JOEY_STUB_MAX_THREADS / 2) }
    let factory: StubFactory
    public var hasGlobalMemoryBarrier: Bool { factory.membarrierRegistered }

    public init() throws(PlatformError) {
        _ = Spinning.cpus // the affinity to come back to, before any thread is pinned
        let stub = joey_stub_install()
        guard stub != 0 else {
            throw PlatformError("ptrace platform: could not reserve the stub region near the top of the address space")
        }
        stubAddress = stub
        factory = try StubFactory(platform: "ptrace")
    }

    public func newAddressSpace(memoryFile: MemoryFile) throws(PlatformError) -> AddressSpace {
        try StubSpace(kind: JOEY_STUB_KIND_PTRACE, stubAddress: stubAddress, factory: factory, memoryFile: memoryFile)
    }
}

final class PtraceThread: PlatformContext {
    private let space: StubSpace
    /// Its thread area (the ptrace platform only needs the area's signal stack reserved).
    private let slot: Int
    /// The stub thread this sentry thread traces.
    let tid: pid_t
    let syscallSite: UInt64
    private var baseRegisters = GuestRegisters()
    private var released = false
    private var firstRun = true
    /// Set by kill() from any thread; the tracer sees it at the thread's next stop.
    private var dying = false
    /// Tracer and tracee share a home CPU (Spinning.swift).
    private var pairing = Pairing()
    private let sentryThread = joey_gettid()

    init(space: StubSpace) throws(PlatformError) {
        self.space = space
        let a = try space.takeArea()
        slot = a.slot
        let t = space.startThread(slot: a.slot, address: a.address)
        guard t > 0 else {
            space.letGo(slot: a.slot)
            throw PlatformError("ptrace platform: the stub process cannot start a thread (errno \(-t))")
        }
        tid = t
        syscallSite = space.stubAddress + joey_stub_syscall_offset()
        // The new thread sets itself up and parks. Seize it and stop it; stopped before its
        // last setup call returned, it is stepped from call to call until it has.
        let parked = space.stubAddress + joey_stub_parked_offset()
        let park = space.stubAddress + joey_stub_park_offset()
        let opts = UInt64(0x1 /* TRACESYSGOOD */)
        var status: Int32 = 0
        var why = "PTRACE_SEIZE failed"
        var ok = false
        let seized = joey_ptrace(0x4206 /* PTRACE_SEIZE */, tid, 0, opts)
        if seized != 0 { why = "PTRACE_SEIZE failed (errno \(-seized))" }
        if seized == 0, joey_ptrace(0x4207 /* PTRACE_INTERRUPT */, tid, 0, 0) == 0 {
            why = "it did not reach its park loop"
            for _ in 0..<64 {
                guard joey_wait(tid, &status) == tid, joey_wifstopped(status) != 0 else {
                    why = "wait status \(status)"
                    break
                }
                guard joey_getregs(tid, &baseRegisters) == 0 else { break }
                let rip = baseRegisters.rip
                // (An entry stop of the filter call shows the same rip, before the call ran.)
                if rip >= parked && rip < park + 4 && joey_ptrace_syscall_op(tid) != 1 {
                    if baseRegisters.rax != 0 { why = "seccomp refused its filter"; break }
                    ok = true
                    break
                }
                guard joey_ptrace(24 /* PTRACE_SYSCALL */, tid, 0, 0) == 0 else { break }
            }
        }
        guard ok else {
            released = true
            _ = joey_tgkill(space.pid, tid, SIGKILL) // the whole stub: it misbehaved
            throw PlatformError(
                "ptrace platform: the stub thread did not start (\(why)); is ptrace allowed here? (seccomp, YAMA, container policy)")
        }
    }

    deinit {
        release()
        space.letGo(slot: slot)
    }

    func initialRegisters() -> GuestRegisters {
        var r = GuestRegisters()
        r.cs = baseRegisters.cs
        r.ss = baseRegisters.ss
        r.ds = baseRegisters.ds
        r.es = baseRegisters.es
        r.fs = baseRegisters.fs
        r.gs = baseRegisters.gs
        r.eflags = 0x202
        return r
    }

    /// Ends the stub thread: the tracer (this thread) makes it call exit.
    func release() {
        if released { return }
        released = true
        pairing.end(onSentryThread: joey_gettid() == sentryThread)
        var regs = baseRegisters
        regs.rax = 60
        regs.orig_rax = UInt64.max
        regs.rdi = 0
        regs.rip = syscallSite
        regs.rsp = 0
        var status: Int32 = 0
        guard joey_setregs(tid, &regs) == 0, joey_ptrace(7 /* PTRACE_CONT */, tid, 0, 0) == 0 else { return }
        // Its exit is reported to the tracer; anything else on the way is let go.
        while joey_wait(tid, &status) == tid, joey_wifstopped(status) != 0 {
            if joey_ptrace(7, tid, 0, 0) != 0 { break }
        }
    }

    func switchToGuest(_ registers: inout GuestRegisters) -> PlatformEvent {
        if firstRun {
            // The stub was stopped returning from its own system call: with a system call
            // number in orig_rax the kernel could take the guest's rax for a restart code.
            firstRun = false
            var r = registers
            r.orig_rax = UInt64.max
            if joey_setregs(tid, &r) != 0 { return .died(status: 0) }
        } else if joey_setregs(tid, &registers) != 0 { return .died(status: 0) }
        pairing.beforeRunWithoutSpinning(stub: tid)
        var signal: UInt64 = 0
        while true {
            if joey_ptrace(31 /* PTRACE_SYSEMU */, tid, 0, signal) != 0 { return .died(status: 0) }
            signal = 0
            var status: Int32 = 0
            if joey_wait(tid, &status) < 0 { return .died(status: 0) }
            if joey_wifexited(status) != 0 || joey_wifsignaled(status) != 0 {
                released = true
                return .died(status: status)
            }
            guard joey_wifstopped(status) != 0 else { continue }
            if dying { return .died(status: Int32(SIGKILL)) }
            _ = joey_getregs(tid, &registers)
            let sig = joey_wstopsig(status)
            if sig == SIGTRAP | 0x80 {
                // int $0x80 and sysenter stop here too: Joey implements only the 64-bit ABI, so
                // the guest gets the SIGSYS a seccomp-confined process would (as on systrap).
                if joey_ptrace_syscall_arch(tid) != 0xc000_003e /* AUDIT_ARCH_X86_64 */ {
                    return .fault(signal: SIGSYS, code: 1, address: registers.rip)
                }
                return .syscall
            }
            var info = joey_siginfo()
            _ = joey_getsiginfo(tid, &info)
            switch sig {
            case SIGSYS where info.code == 1 /* SYS_SECCOMP */ && info.addr >> 12 == 0xffff_ffff_ff600:
                // A call through the vsyscall page, trapped by the stub's filter: the kernel
                // emulated the return already (rip is the caller) and rolled rax back to the
                // call's number.
                registers.orig_rax = registers.rax
                registers.rax = UInt64(bitPattern: -Int64(ENOSYS))
                return .syscall
            case SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP:
                // si_code > 0 means the kernel raised it for the guest's own instruction.
                if info.code > 0 || sig == SIGTRAP {
                    return .fault(signal: sig, code: info.code, address: info.addr)
                }
                continue
            default:
                // Anything else was sent from outside; the guest's signals come only from
                // the sentry, so it is swallowed and the sentry decides.
                return .interrupted
            }
        }
    }

    /// The full XSAVE area when the host offers it (AVX state included), else fxsave's 512 bytes.
    func floatingPointState() -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 16384)
        let n = buf.withUnsafeMutableBytes { joey_getxstate(tid, $0.baseAddress, UInt64($0.count)) }
        if n > 512 { return Array(buf[0..<Int(n)]) }
        var fx = [UInt8](repeating: 0, count: 512)
        fx.withUnsafeMutableBytes { _ = joey_getfpregs(tid, $0.baseAddress) }
        return fx
    }

    /// Takes an XSAVE area (more than 512 bytes) or a plain fxsave image.
    func setFloatingPointState(_ state: [UInt8]) {
        if state.count > 512 {
            let r = state.withUnsafeBytes { joey_setxstate(tid, $0.baseAddress, UInt64($0.count)) }
            if r == 0 { return }
        }
        guard state.count >= 512 else { return }
        state.withUnsafeBytes { _ = joey_setfpregs(tid, $0.baseAddress) }
    }

    func willBlock() { pairing.willSleep() }
    func restrictCPUs(to mask: UInt64) { pairing.restrict(to: mask) }
    func wokenBy(home: Int?) { pairing.wokenBy(home: home) }

    func cpuTimeNanos() -> UInt64 { space.threadCPUNanos(tid) }
    func hostPreemptions() -> UInt64 { space.threadPreemptions(tid) }
    func peakResidentKiB() -> UInt64 { space.peakResidentKiB() }
    func residentMemory() -> ResidentMemory { space.residentMemory() }
    func interrupt() { if !released { _ = joey_tgkill(space.pid, tid, SIGURG) } }

    /// The tracer's wait returns at the stop SIGURG causes (a guest cannot block it: its
    /// system calls never reach the host), and switchToGuest reports the death.
    func kill() {
        if released { return }
        dying = true
        _ = joey_tgkill(space.pid, tid, SIGURG)
    }
}
