// Syscall dispatch: number -> handler. A handler reads its arguments from the registers,
// validates them, and returns the result or throws the Linux errno.
import Glibc
import JoeyABI
import JoeyPlatform

extension GuestThread {
    var a0: UInt64 { regs.rdi }
    var a1: UInt64 { regs.rsi }
    var a2: UInt64 { regs.rdx }
    var a3: UInt64 { regs.r10 }
    var a4: UInt64 { regs.r8 }
    var a5: UInt64 { regs.r9 }
    /// An fd argument: the low 32 bits, as Linux reads `int fd`.
    func fdArg(_ v: UInt64) -> Int32 { Int32(truncatingIfNeeded: v) }

    func handleSyscall() {
        var nr = Int(truncatingIfNeeded: regs.orig_rax) // -1 and huge numbers are ENOSYS
        registersReplaced = false
        kernel.current = self
        // A guest tracer's syscall-entry stop: it may change the call, or skip it (-1).
        let traced = ptrace?.tracingSyscalls == true
        if traced {
            regs.rax = UInt64(bitPattern: -Int64(LinuxErrno.ENOSYS.rawValue))
            ptraceStop(ptraceSyscallStatus, kind: .syscallEntry)
            nr = Int(truncatingIfNeeded: regs.orig_rax)
        }
        let trace = kernel.strace
        let call = trace?.enter(self, number: nr)
        let result: Int64
        if traced && regs.orig_rax == UInt64.max {
            result = Int64(bitPattern: regs.rax) // skipped by the tracer: what it left in rax
        } else if seccompMode != 0, let verdict = seccompVerdict(nr) {
            result = verdict // the guest's own seccomp filter answered (Task/Seccomp.swift)
        } else {
            do {
                result = Int64(bitPattern: try GuestThread.mayDeferHostWaits(nr) ? dispatchDeferringHostWaits(nr) : dispatch(nr))
            } catch {
                result = -Int64(error.rawValue)
            }
        }
        if let trace, let call {
            if nr == 60 || nr == 231 { trace.noReturn(self, call) } else { trace.exit(self, call, result: result) }
        }
        if !registersReplaced {
            regs.rax = UInt64(bitPattern: result)
            if result <= -512 && result >= -516 { syscallRestartable = true }
        }
        if traced && nr != 60 && nr != 231, ptrace?.tracingSyscalls == true {
            ptraceStop(ptraceSyscallStatus, kind: .syscallExit) // the tracer may change rax
        }
    }

    /// Calls that walk paths or list directories before they change anything, so they may be
    /// made again from the start: open, creat, stat, lstat, access, getdents, chdir,
    /// readlink, getdents64, openat, newfstatat, readlinkat, faccessat, statx, openat2,
    /// faccessat2.
    static func mayDeferHostWaits(_ nr: Int) -> Bool {
        switch nr {
        case 2, 4, 6, 21, 78, 80, 85, 89, 217, 257, 262, 267, 269, 332, 437, 439: return true
        default: return false
        }
    }

    /// dispatch, for a call that may be made again: when its walk finds a host lookup or
    /// listing that may wait for the disk (`.hostWouldWait`), that host work is done with the
    /// kernel lock let go, what it found installed after relocking, and the call made again.
    /// Each round installs an entry or notes a missing path, so the rounds end; past 64
    /// (a pathological walk) the call is made with the lookups waiting under the lock.
    private func dispatchDeferringHostWaits(_ nr: Int) throws(LinuxErrno) -> UInt64 {
        defersHostWaits = true
        defer {
            defersHostWaits = false
            deferredHostWait = nil
            hostPathsMissing = []
        }
        for _ in 0..<64 {
            do {
                return try dispatch(nr)
            } catch where error == .hostWouldWait {
                guard let wait = deferredHostWait else { throw .EIO }
                deferredHostWait = nil
                kernel.unlockedHostCall { wait.unlocked() }
                wait.relocked()
            }
        }
        defersHostWaits = false
        return try dispatch(nr)
    }
}

/// A host lookup or listing a path walk left to be made with the kernel lock let go
/// (`unlocked`: host calls only, into a box of its own), and what installs its result in the
/// kernel's state after relocking.
struct DeferredHostWait {
    let unlocked: () -> Void
    let relocked: () -> Void
}

extension LinuxErrno {
    /// Kernel-internal, never seen by the guest: the call is to be made again once the host
    /// work in GuestThread.deferredHostWait is done.
    static let hostWouldWait = LinuxErrno(600)
}
