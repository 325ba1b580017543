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
                result = Int64(bitPattern: try dispatch(nr))
            } catch {
                result = -Int64(error.rawValue)
            }
        }
        if let trace, let call {
            if nr == 60 || nr == 231 { trace.noReturn(self, call) } else { trace.exit(self, call, result: result) }
        }
        if !registersReplaced {
            regs.rax = UInt64(bitPattern: result)
            if result <= -512 && result >= -514 { syscallRestartable = true }
        }
        if traced && nr != 60 && nr != 231, ptrace?.tracingSyscalls == true {
            ptraceStop(ptraceSyscallStatus, kind: .syscallExit) // the tracer may change rax
        }
    }
}
