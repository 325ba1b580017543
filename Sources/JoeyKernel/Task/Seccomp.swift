// seccomp for the guest: each thread's chain of classic-BPF filters (inherited by clone and
// fork, kept by execve), run by the sentry on every system call the thread makes before it is
// dispatched, with Linux's precedence between the filters' answers and Linux's actions (kill
// the process or the thread, SIGSYS, an errno, ENOSYS for trace and user-notify with nobody
// listening, log, allow). Strict mode allows read, write, exit and rt_sigreturn. Guest
// filters have nothing to do with the sentry's own host filter (JoeySandbox/Confinement).
import JoeyABI

/// One installed filter and the ones installed before it (which it cannot change).
final class SeccompFilter: Sendable {
    let program: ClassicBPF
    let previous: SeccompFilter?
    /// SECCOMP_FILTER_FLAG_LOG: actions other than allow are logged (to the debug log here).
    let log: Bool
    /// Instructions along the chain as Linux counts them (each filter's length plus 4).
    let pathLength: Int
    let depth: Int

    /// MAX_INSNS_PER_PATH.
    static let maxPathLength = 32768

    init(program: ClassicBPF, previous: SeccompFilter?, log: Bool) throws(LinuxErrno) {
        let length = program.instructions.count + (previous.map { $0.pathLength + 4 } ?? 0)
        guard length <= Self.maxPathLength else { throw .ENOMEM }
        self.program = program; self.previous = previous; self.log = log
        pathLength = length
        depth = (previous?.depth ?? 0) + 1
    }

    /// True when `other` is this filter or one installed before it.
    func descends(from other: SeccompFilter?) -> Bool {
        guard let other else { return true }
        var f: SeccompFilter? = self
        while let x = f { if x === other { return true }; f = x.previous }
        return false
    }
}

enum Seccomp {
    // Actions (the top 16 bits of a filter's answer) and the data mask.
    static let KILL_PROCESS: UInt32 = 0x8000_0000, KILL_THREAD: UInt32 = 0, TRAP: UInt32 = 0x0003_0000
    static let ERRNO: UInt32 = 0x0005_0000, USER_NOTIF: UInt32 = 0x7fc0_0000, TRACE: UInt32 = 0x7ff0_0000
    static let LOG: UInt32 = 0x7ffc_0000, ALLOW: UInt32 = 0x7fff_0000
    static let actionMask: UInt32 = 0xffff_0000, dataMask: UInt32 = 0xffff
    static let auditArchX86_64: UInt32 = 0xC000_003E
    /// siginfo's si_code for a SIGSYS raised by a filter.
    static let SYS_SECCOMP: Int32 = 1

    /// Linux's order: the most restrictive action wins, compared as signed values.
    static func morePrecedent(_ a: UInt32, than b: UInt32) -> Bool {
        Int32(bitPattern: a & actionMask) < Int32(bitPattern: b & actionMask)
    }
}

extension GuestThread {
    /// What the thread's seccomp mode says about the system call about to be dispatched: nil
    /// to dispatch it, or the value rax gets instead (the thread may have been killed or sent
    /// SIGSYS). Runs under the kernel lock; reads only registers.
    func seccompVerdict(_ nr: Int) -> Int64? {
        if seccompMode == 1 {
            // Strict mode: read, write, exit and rt_sigreturn; anything else kills the thread.
            if [0, 1, 60, 15].contains(nr) { return nil }
            seccompKill(thread: true, signal: Signal.SIGKILL, nr: nr, data: 0)
            return 0
        }
        guard let newest = seccompFilter else { return nil }
        var answer = Seccomp.ALLOW
        var matched = newest
        withUnsafeTemporaryAllocation(byteCount: Int(ClassicBPF.dataSize), alignment: 8) { data in
            // struct seccomp_data: nr, arch, instruction_pointer, args[6].
            data.storeBytes(of: Int32(truncatingIfNeeded: regs.orig_rax), toByteOffset: 0, as: Int32.self)
            data.storeBytes(of: Seccomp.auditArchX86_64, toByteOffset: 4, as: UInt32.self)
            data.storeBytes(of: regs.rip, toByteOffset: 8, as: UInt64.self)
            for (i, v) in [a0, a1, a2, a3, a4, a5].enumerated() { data.storeBytes(of: v, toByteOffset: 16 + 8 * i, as: UInt64.self) }
            let view = UnsafeRawBufferPointer(data)
            var f: SeccompFilter? = newest
            while let filter = f {
                let r = filter.program.run(view)
                if Seccomp.morePrecedent(r, than: answer) { answer = r; matched = filter }
                f = filter.previous
            }
        }
        let action = answer & Seccomp.actionMask, data = answer & Seccomp.dataMask
        if matched.log && action != Seccomp.ALLOW {
            kernel.debugLog("seccomp: pid \(group.pid) tid \(tid) syscall \(nr): action 0x\(String(action, radix: 16)) data \(data)")
        }
        switch action {
        case Seccomp.ALLOW, Seccomp.LOG:
            return nil
        case Seccomp.ERRNO:
            return -Int64(min(data, 4095))
        case Seccomp.TRACE, Seccomp.USER_NOTIF:
            // No tracer that asked for seccomp events, no listener: the call fails with ENOSYS.
            return -Int64(LinuxErrno.ENOSYS.rawValue)
        case Seccomp.TRAP:
            // The call is skipped and rolled back (rax holds its number again), then SIGSYS.
            regs.rax = regs.orig_rax
            registersReplaced = true
            forceSignal(Signal.SIGSYS, info: seccompSignalInfo(nr: nr, data: data))
            return 0
        default: // KILL_THREAD, KILL_PROCESS, and any action Linux does not know
            seccompKill(thread: action == Seccomp.KILL_THREAD, signal: Signal.SIGSYS, nr: nr, data: data)
            return 0
        }
    }

    private func seccompSignalInfo(nr: Int, data: UInt32) -> SignalInfo {
        var info = SignalInfo(signo: Signal.SIGSYS, code: Seccomp.SYS_SECCOMP, address: regs.rip)
        info.errno = Int32(data)
        info.syscall = Int32(truncatingIfNeeded: nr)
        return info
    }

    /// Ends the thread (another thread of its process still runs) or the whole process, as
    /// if killed by `signal`: a process-wide kill is SIGSYS whatever handler it set.
    private func seccompKill(thread: Bool, signal: Int32, nr: Int, data: UInt32) {
        registersReplaced = true
        let others = group.threads.contains { $0 !== self && !$0.threadExiting }
        if thread && others {
            exitCode = signal
            threadExiting = true
        } else if signal == Signal.SIGSYS {
            group.actions[Int(Signal.SIGSYS)].handler = 0
            forceSignal(Signal.SIGSYS, info: seccompSignalInfo(nr: nr, data: data))
        } else {
            exitGroup(status: signal)
        }
    }
}
