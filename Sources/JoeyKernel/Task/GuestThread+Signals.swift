// Signal delivery: default actions, and handler frames (rt_sigframe) built on the guest
// stack exactly as x86-64 Linux lays them out, undone by rt_sigreturn.
import Glibc
import JoeyABI
import JoeyPlatform

extension GuestThread {
    /// A signal raised by the guest's own instruction: it cannot be blocked or ignored.
    func forceSignal(_ sig: Int32, info: SignalInfo) {
        let bit: UInt64 = 1 << UInt64(sig - 1)
        if signalMask & bit != 0 || group.actions[Int(sig)].handler == 1 {
            group.actions[Int(sig)].handler = 0
            signalMask &= ~bit
        }
        enqueueSignal(sig, info, mask: &pending, queues: &pendingInfo)
    }

    /// A signal the kernel sends the calling thread for what it just did (Linux's
    /// send_sig(sig, current, 0): SIGPIPE, SIGXFSZ): pending on this thread, SI_USER from
    /// its own process, so a sibling that would take it does not.
    func sendSignalToSelf(_ sig: Int32) {
        group.prepareSignal(sig)
        if group.discards(sig, thread: self) { return }
        enqueueSignal(sig, SignalInfo(signo: sig, pid: group.pidNS.local(group.pid), uid: group.uid), mask: &pending, queues: &pendingInfo)
        interrupt()
    }

    func deliverPendingSignals() {
        while true {
            let ready = deliverableSignals()
            if ready == 0 {
                if let m = savedMaskForSuspend { signalMask = m; savedMaskForSuspend = nil }
                restartInterruptedSyscall(handlerFlags: nil)
                return
            }
            var sig = Int32(ready.trailingZeroBitCount + 1)
            var info = dequeueSignal(sig)
            // A traced thread stops for its tracer, which decides what, if anything, is delivered.
            if let p = ptrace, sig != Signal.SIGKILL {
                p.signalInfo = info
                ptraceStop(sig << 8 | 0x7f, kind: .signal)
                let chosen = p.resumeSignal
                if chosen == 0 || killed { p.signalInfo = nil; continue }
                info = p.signalInfo?.signo == chosen ? p.signalInfo! : SignalInfo(signo: chosen, code: 0, pid: p.tracer.map { group.pidNS.local($0.pid) } ?? 0, uid: group.uid)
                p.signalInfo = nil
                sig = chosen
                // A SIGSTOP the tracer passes on does not start a group stop: it is dropped
                // (syscalls/ notes it under ptrace). A group stop started otherwise is a
                // ptrace-stop for a tracee (runLoop, ptraceGroupStop).
                if sig == Signal.SIGSTOP && ptrace != nil { continue }
            }
            let action = group.actions[Int(sig)]
            kernel.strace?.signal(self, info)
            if sig == Signal.SIGKILL || action.handler == 0 {
                // A pid namespace's init (the sandbox's too) is not killed or stopped by default
                // actions of signals raised inside it (even ones queued while blocked); what the
                // kernel forces (faults, SIGSYS, traps: a positive code), and SIGKILL or SIGSTOP
                // from an ancestor namespace, still apply. SIGIO's POLL_* codes are not forced.
                let forced = info.address != nil || (info.code > 0 && info.code != 0x80 && sig != Signal.SIGIO)
                if group.isNamespaceInit && sig != Signal.SIGKILL && sig != Signal.SIGSTOP && !info.fromOutside && !forced {
                    continue
                }
                switch Signal.defaultAction(sig) {
                case .ignore, .continue:
                    continue
                case .stop:
                    group.stop(by: sig)
                    continue
                case .terminate:
                    exitGroup(status: sig)
                    return
                case .core:
                    // WCOREDUMP when a core file was written whole (Task/CoreDump.swift).
                    exitGroup(status: sig | (dumpCore(sig, info) ? 0x80 : 0))
                    return
                }
            }
            if action.handler == 1 { continue }
            restartInterruptedSyscall(handlerFlags: action.flags)
            if !setupFrame(sig: sig, action: action, info: info) {
                // Linux's force_sigsegv: SIGSEGV with its default action, which dumps core.
                let segv = SignalInfo(signo: Signal.SIGSEGV, code: 0x80)
                exitGroup(status: Signal.SIGSEGV | (dumpCore(Signal.SIGSEGV, segv) ? 0x80 : 0))
                return
            }
            // SA_RESETHAND resets the handler only: the flags stay (Linux's SA_ONESHOT).
            if action.flags & SignalAction.SA_RESETHAND != 0 { group.actions[Int(sig)].handler = 0 }
            return
        }
    }

    /// Takes `sig` off this thread's pending set, or else the process's, with its siginfo.
    func dequeueSignal(_ sig: Int32) -> SignalInfo {
        var info = pending & (1 << UInt64(sig - 1)) != 0
            ? JoeyKernel.dequeueSignal(sig, mask: &pending, queues: &pendingInfo)
            : JoeyKernel.dequeueSignal(sig, mask: &group.pendingShared, queues: &group.pendingInfo)
        if info.code == -2 { group.timerSignalDelivered(&info) } // SI_TIMER
        return info
    }

    /// After a syscall returned a restart code, as x86-64 Linux decides it: ERESTARTSYS
    /// restarts unless a handler without SA_RESTART runs first, ERESTARTNOHAND and
    /// ERESTART_RESTARTBLOCK unless any handler runs, ERESTARTNOINTR always; the guest sees
    /// EINTR otherwise. ERESTART_RESTARTBLOCK goes on as restart_syscall (its restartBlock).
    private func restartInterruptedSyscall(handlerFlags: UInt64?) {
        guard syscallRestartable else { return }
        syscallRestartable = false
        let rax = Int64(bitPattern: regs.rax)
        guard rax == -512 || rax == -513 || rax == -514 || rax == -516 else { return }
        let eintr = UInt64(bitPattern: -Int64(LinuxErrno.EINTR.rawValue))
        if let flags = handlerFlags, rax == -514 || rax == -516 || (rax == -512 && flags & SignalAction.SA_RESTART == 0) {
            regs.rax = eintr
        } else if rax == -516 {
            regs.rax = 219 // restart_syscall
            regs.rip -= 2
        } else {
            regs.rax = regs.orig_rax
            regs.rip -= 2
        }
    }

    /// Where struct sigcontext (the ucontext's mcontext) holds its fpstate pointer.
    private static let fpstateOffset = 184

    private func setupFrame(sig: Int32, action: SignalAction, info: SignalInfo) -> Bool {
        var sp = regs.rsp
        if action.flags & SignalAction.SA_ONSTACK != 0, altStack.flags & 2 == 0, altStack.size > 0,
           !(sp > altStack.sp && sp <= altStack.sp &+ altStack.size) {
            sp = altStack.sp &+ altStack.size
        } else {
            sp &-= 128 // red zone
        }
        var fp = context?.floatingPointState() ?? [UInt8](repeating: 0, count: 512)
        if fp.count > 512 {
            // An XSAVE frame as Linux writes it: fx_sw_bytes in the fxsave reserved area
            // (magic1, extended size, xfeatures, xstate size) and magic2 right after the area.
            let size = UInt32(fp.count)
            let xfeatures = fp.withUnsafeBytes { $0.load(fromByteOffset: 512, as: UInt64.self) }
            fp.withUnsafeMutableBytes { p in
                p.storeBytes(of: UInt32(0x4650_5853), toByteOffset: 464, as: UInt32.self)
                p.storeBytes(of: size + 4, toByteOffset: 468, as: UInt32.self)
                p.storeBytes(of: xfeatures, toByteOffset: 472, as: UInt64.self)
                p.storeBytes(of: size, toByteOffset: 480, as: UInt32.self)
            }
            withUnsafeBytes(of: UInt32(0x4650_5845)) { fp += $0 }
        }
        sp = (sp &- UInt64(fp.count)) & ~63
        let fpAddr = sp
        sp &-= 440 // pretcode + ucontext (304) + siginfo (128)
        sp = (sp & ~15) &- 8
        var frame = [UInt8](repeating: 0, count: 440)
        frame.withUnsafeMutableBytes { p in
            p.storeBytes(of: action.restorer, toByteOffset: 0, as: UInt64.self)
            // ucontext at 8: uc_flags, uc_link, uc_stack, mcontext at 8+40, sigmask at 8+296
            p.storeBytes(of: UInt64(fp.count > 512 ? 1 : 0), toByteOffset: 8, as: UInt64.self) // uc_flags: UC_FP_XSTATE
            p.storeBytes(of: altStack.sp, toByteOffset: 24, as: UInt64.self)
            p.storeBytes(of: altStack.flags, toByteOffset: 32, as: Int32.self)
            p.storeBytes(of: altStack.size, toByteOffset: 40, as: UInt64.self)
            let m = 48
            let gregs: [UInt64] = [regs.r8, regs.r9, regs.r10, regs.r11, regs.r12, regs.r13, regs.r14, regs.r15,
                                   regs.rdi, regs.rsi, regs.rbp, regs.rbx, regs.rdx, regs.rax, regs.rcx, regs.rsp,
                                   regs.rip, regs.eflags]
            for (i, v) in gregs.enumerated() { p.storeBytes(of: v, toByteOffset: m + i * 8, as: UInt64.self) }
            p.storeBytes(of: UInt16(truncatingIfNeeded: regs.cs), toByteOffset: m + 144, as: UInt16.self)
            p.storeBytes(of: UInt16(truncatingIfNeeded: regs.ss), toByteOffset: m + 150, as: UInt16.self)
            // struct sigcontext after the selectors: err, trapno, oldmask, cr2, fpstate.
            let mask = savedMaskForSuspend ?? signalMask
            p.storeBytes(of: lastFault.error, toByteOffset: m + 152, as: UInt64.self)
            p.storeBytes(of: lastFault.trap, toByteOffset: m + 160, as: UInt64.self)
            p.storeBytes(of: mask, toByteOffset: m + 168, as: UInt64.self)
            p.storeBytes(of: lastFault.address, toByteOffset: m + 176, as: UInt64.self)
            p.storeBytes(of: fpAddr, toByteOffset: m + Self.fpstateOffset, as: UInt64.self)
            p.storeBytes(of: mask, toByteOffset: 8 + 296, as: UInt64.self)
            info.store(as: sig, seenIn: group.userNS, into: UnsafeMutableRawBufferPointer(rebasing: p[312..<440])) // the siginfo
        }
        do {
            try mm.write(fpAddr, fp)
            try mm.write(sp, frame)
        } catch {
            return false
        }
        savedMaskForSuspend = nil
        regs.rsp = sp
        regs.rip = action.handler
        regs.rdi = UInt64(sig)
        regs.rsi = sp &+ 312
        regs.rdx = sp &+ 8
        regs.rax = 0
        var newMask = signalMask | action.mask
        if action.flags & SignalAction.SA_NODEFER == 0 { newMask |= 1 << UInt64(sig - 1) }
        signalMask = newMask & ~(1 << 8 | 1 << 18)
        return true
    }

    /// rt_sigreturn: restores the registers, mask and FPU state saved by setupFrame.
    func signalReturn() throws(LinuxErrno) {
        let frame = regs.rsp &- 8
        let bytes = try mm.read(frame, count: 440)
        bytes.withUnsafeBytes { p in
            let m = 48
            func g(_ i: Int) -> UInt64 { p.load(fromByteOffset: m + i * 8, as: UInt64.self) }
            regs.r8 = g(0); regs.r9 = g(1); regs.r10 = g(2); regs.r11 = g(3); regs.r12 = g(4)
            regs.r13 = g(5); regs.r14 = g(6); regs.r15 = g(7); regs.rdi = g(8); regs.rsi = g(9)
            regs.rbp = g(10); regs.rbx = g(11); regs.rdx = g(12); regs.rax = g(13); regs.rcx = g(14)
            regs.rsp = g(15); regs.rip = g(16)
            // Only the user-changeable flags (CF PF AF ZF SF TF DF OF AC) come back.
            let userFlags: UInt64 = 0x40dd5
            regs.eflags = (regs.eflags & ~userFlags) | (g(17) & userFlags)
            regs.orig_rax = UInt64(bitPattern: -1)
            restartBlock = nil // what a handler's return resumes is never a restart (Linux too)
            signalMask = p.load(fromByteOffset: 8 + 296, as: UInt64.self) & ~(1 << 8 | 1 << 18)
            let fpAddr = p.load(fromByteOffset: m + Self.fpstateOffset, as: UInt64.self)
            if fpAddr != 0, let fx = try? mm.read(fpAddr, count: 512) {
                // A full XSAVE area when the frame says so (magic1 and a sane size), else fxsave only.
                let magic = fx.withUnsafeBytes { $0.load(fromByteOffset: 464, as: UInt32.self) }
                let size = fx.withUnsafeBytes { $0.load(fromByteOffset: 480, as: UInt32.self) }
                if magic == 0x4650_5853, size > 512, size <= 16384, let full = try? mm.read(fpAddr, count: Int(size)) {
                    context?.setFloatingPointState(full)
                } else {
                    context?.setFloatingPointState(fx)
                }
            }
        }
        registersReplaced = true
    }
}

/// A fault's account in a signal frame: cr2 (the address of the last page fault), err (the
/// trap's error code) and trapno.
struct FaultRecord {
    private(set) var address: UInt64 = 0
    private(set) var error: UInt64 = 0
    private(set) var trap: UInt64 = 0

    /// A fault about to become `signal` (`code`, at `address`). `trap` is the platform's trap
    /// number and error code when it sees them; otherwise the trap is the one Linux raises
    /// that signal for, and the error code, which only the hardware knows, is 0.
    mutating func record(signal: Int32, code: Int32, address faultAddress: UInt64, trap known: (number: UInt64, error: UInt64)?) {
        if let known {
            trap = known.number
            error = known.error
        } else {
            trap = Self.trapNumber(signal: signal, code: code)
            error = 0
        }
        if trap == Self.pageFault { address = faultAddress } // cr2 changes on page faults only
    }

    static let pageFault: UInt64 = 14

    /// x86's trap behind a fault signal: a page fault for SEGV_MAPERR/ACCERR and SIGBUS, a
    /// general protection fault for SIGSEGV's SI_KERNEL, int3 (3) or a debug trap (1) for
    /// SIGTRAP, a divide error (0) or SIMD exception (19) for SIGFPE, invalid opcode (6).
    private static func trapNumber(signal: Int32, code: Int32) -> UInt64 {
        switch signal {
        case Signal.SIGSEGV: return code == 0x80 ? 13 : pageFault
        case Signal.SIGBUS: return pageFault
        case Signal.SIGTRAP: return code == 0x80 ? 3 : 1
        case Signal.SIGFPE: return code == 1 ? 0 : 19 // FPE_INTDIV
        case Signal.SIGILL: return 6
        default: return 0
        }
    }
}
