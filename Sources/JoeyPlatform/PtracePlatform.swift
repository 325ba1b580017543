// The ptrace platform: each guest thread runs in a stub process traced by its sentry
// thread with PTRACE_SYSEMU, so no guest system call ever reaches the host kernel.
// The stub's address space holds only the stub page and what the sentry maps into it
// by injecting mmap/munmap/mprotect at the stub's own `syscall; int3` site.
import CJoey
import Glibc
import JoeyABI

public final class PtracePlatform: Platform, @unchecked Sendable {
    public let name = "ptrace"
    public let stubAddress: UInt64
    public var addressSpaceEnd: UInt64 { stubAddress }
    let factory: StubFactory

    public init() throws(PlatformError) {
        let stub = joey_stub_install()
        guard stub != 0 else {
            throw PlatformError("ptrace platform: could not reserve the stub page near the top of the address space")
        }
        stubAddress = stub
        factory = try StubFactory(platform: "ptrace")
    }

    public func newContext(memoryFile: MemoryFile) throws(PlatformError) -> PlatformContext {
        try PtraceStub(platform: self, memoryFile: memoryFile)
    }
}

final class PtraceStub: PlatformContext, AddressSpace {
    let pid: pid_t
    let syscallSite: UInt64
    private var baseRegisters = GuestRegisters()
    private var released = false
    private var firstRun = true

    init(platform: PtracePlatform, memoryFile: MemoryFile) throws(PlatformError) {
        let r = platform.factory.spawn(kind: JOEY_STUB_KIND_PTRACE, memoryFD: memoryFile.fd)
        guard r > 0 else {
            if r <= -256 {
                let status = -r - 256
                let why = status == 123 ? "seccomp refused its filter" : status == 127 ? "it could not take the MemoryFile's descriptor" : "it exited with status \(status)"
                throw PlatformError("ptrace platform: the stub process did not start: \(why)")
            }
            throw PlatformError("ptrace platform: the stub factory cannot fork a stub process (errno \(-r))")
        }
        pid = pid_t(r)
        syscallSite = platform.stubAddress + joey_stub_syscall_offset()
        // The new stub is about to park (its last call, the factory page's munmap, returns
        // into the loop). Seize it and stop it; stopped before that call, it is stepped
        // through it.
        let park = platform.stubAddress + joey_stub_park_offset()
        let opts = UInt64(0x1 /* TRACESYSGOOD */ | 0x0010_0000 /* EXITKILL */)
        var status: Int32 = 0
        var why = "PTRACE_SEIZE failed"
        var parked = false
        if joey_ptrace(0x4206 /* PTRACE_SEIZE */, pid, 0, opts) == 0,
           joey_ptrace(0x4207 /* PTRACE_INTERRUPT */, pid, 0, 0) == 0 {
            why = "it did not reach its park loop"
            for _ in 0..<64 {
                guard joey_wait(pid, &status) == pid, joey_wifstopped(status) != 0 else {
                    why = joey_wifexited(status) != 0 ? "it exited with status \(joey_wexitstatus(status))" : "wait status \(status)"
                    break
                }
                guard joey_getregs(pid, &baseRegisters) == 0 else { break }
                // (An entry stop of the last call shows the same rip, before the call ran.)
                if baseRegisters.rip >= park && baseRegisters.rip < park + 4 && joey_ptrace_syscall_op(pid) != 1 {
                    parked = true
                    break
                }
                guard joey_ptrace(24 /* PTRACE_SYSCALL */, pid, 0, 0) == 0 else { break }
            }
        }
        guard parked else {
            _ = joey_kill(pid, SIGKILL)
            _ = joey_wait(pid, &status)
            throw PlatformError(
                "ptrace platform: the stub did not start (\(why)); is ptrace allowed here? (seccomp, YAMA, container policy)")
        }
        StubProcess.resetPeakResident(pid)
    }

    deinit { release() }

    var addressSpace: AddressSpace { self }

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

    func release() {
        if released { return }
        released = true
        _ = joey_kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = joey_wait(pid, &status)
    }

    func switchToGuest(_ registers: inout GuestRegisters) -> PlatformEvent {
        if firstRun {
            // The stub was stopped returning from its own system call: with a system call
            // number in orig_rax the kernel could take the guest's rax for a restart code.
            firstRun = false
            var r = registers
            r.orig_rax = UInt64.max
            if joey_setregs(pid, &r) != 0 { return .died(status: 0) }
        } else if joey_setregs(pid, &registers) != 0 { return .died(status: 0) }
        var signal: UInt64 = 0
        while true {
            if joey_ptrace(31 /* PTRACE_SYSEMU */, pid, 0, signal) != 0 { return .died(status: 0) }
            signal = 0
            var status: Int32 = 0
            if joey_wait(pid, &status) < 0 { return .died(status: 0) }
            if joey_wifexited(status) != 0 || joey_wifsignaled(status) != 0 {
                released = true
                return .died(status: status)
            }
            guard joey_wifstopped(status) != 0 else { continue }
            _ = joey_getregs(pid, &registers)
            let sig = joey_wstopsig(status)
            if sig == SIGTRAP | 0x80 {
                // int $0x80 and sysenter stop here too: Joey implements only the 64-bit ABI, so
                // the guest gets the SIGSYS a seccomp-confined process would (as on systrap).
                if joey_ptrace_syscall_arch(pid) != 0xc000_003e /* AUDIT_ARCH_X86_64 */ {
                    return .fault(signal: SIGSYS, code: 1, address: registers.rip)
                }
                return .syscall
            }
            var info = joey_siginfo()
            _ = joey_getsiginfo(pid, &info)
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

    /// Runs one system call in the stub (never the guest's: only the sentry's own).
    private func inject(_ nr: Int, _ a0: UInt64 = 0, _ a1: UInt64 = 0, _ a2: UInt64 = 0,
                        _ a3: UInt64 = 0, _ a4: UInt64 = 0, _ a5: UInt64 = 0) -> Int64 {
        var regs = baseRegisters
        regs.rax = UInt64(nr)
        regs.orig_rax = UInt64(bitPattern: -1)
        regs.rdi = a0; regs.rsi = a1; regs.rdx = a2; regs.r10 = a3; regs.r8 = a4; regs.r9 = a5
        regs.rip = syscallSite
        regs.rsp = 0
        if joey_setregs(pid, &regs) != 0 { return -Int64(ESRCH) }
        if joey_ptrace(7 /* PTRACE_CONT */, pid, 0, 0) != 0 { return -Int64(ESRCH) }
        var status: Int32 = 0
        while true {
            if joey_wait(pid, &status) < 0 { return -Int64(ESRCH) }
            if joey_wifstopped(status) == 0 { released = true; return -Int64(ESRCH) }
            let sig = joey_wstopsig(status)
            if sig == SIGTRAP { break }
            if sig == SIGSEGV || sig == SIGBUS || sig == SIGILL {
                // The stub's own code faulted: the stub is unusable.
                _ = joey_kill(pid, SIGKILL)
                return -Int64(EFAULT)
            }
            // A stray stop (an interrupt or a signal from outside): keep going, suppressing it.
            if joey_ptrace(7, pid, 0, 0) != 0 { return -Int64(ESRCH) }
        }
        if joey_getregs(pid, &regs) != 0 { return -Int64(ESRCH) }
        return Int64(bitPattern: regs.rax)
    }

    func map(_ address: UInt64, length: UInt64, fileOffset: UInt64, protection: MemoryProtection) throws(LinuxErrno) {
        let r = inject(9 /* mmap */, address, length, UInt64(protection.rawValue),
                       UInt64(MAP_SHARED | MAP_FIXED), UInt64(JOEY_STUB_MEMFD), fileOffset)
        if r < 0 && r > -4096 { throw LinuxErrno(Int32(-r)) }
    }

    func unmap(_ address: UInt64, length: UInt64) throws(LinuxErrno) {
        let r = inject(11 /* munmap */, address, length)
        if r < 0 { throw LinuxErrno(Int32(-r)) }
    }

    func protect(_ address: UInt64, length: UInt64, protection: MemoryProtection) throws(LinuxErrno) {
        let r = inject(10 /* mprotect */, address, length, UInt64(protection.rawValue))
        if r < 0 { throw LinuxErrno(Int32(-r)) }
    }

    func unmapAll() throws(LinuxErrno) {
        try unmap(0, length: syscallSite & ~0xfff)
    }

    /// The full XSAVE area when the host offers it (AVX state included), else fxsave's 512 bytes.
    func floatingPointState() -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 16384)
        let n = buf.withUnsafeMutableBytes { joey_getxstate(pid, $0.baseAddress, UInt64($0.count)) }
        if n > 512 { return Array(buf[0..<Int(n)]) }
        var fx = [UInt8](repeating: 0, count: 512)
        fx.withUnsafeMutableBytes { _ = joey_getfpregs(pid, $0.baseAddress) }
        return fx
    }

    /// Takes an XSAVE area (more than 512 bytes) or a plain fxsave image.
    func setFloatingPointState(_ state: [UInt8]) {
        if state.count > 512 {
            let r = state.withUnsafeBytes { joey_setxstate(pid, $0.baseAddress, UInt64($0.count)) }
            if r == 0 { return }
        }
        guard state.count >= 512 else { return }
        state.withUnsafeBytes { _ = joey_setfpregs(pid, $0.baseAddress) }
    }

    func cpuTimeNanos() -> UInt64 { joey_process_cpu_nanos(pid) }
    func peakResidentKiB() -> UInt64 { released ? 0 : StubProcess.peakResidentKiB(pid) }
    func interrupt() { _ = joey_kill(pid, SIGURG) }
    func kill() { _ = joey_kill(pid, SIGKILL) }

}
