// Signal system calls: rt_sigaction, rt_sigprocmask, rt_sigpending, rt_sigsuspend,
// sigaltstack, pause.
import Glibc
import JoeyABI

extension GuestThread {
    static let unblockable: UInt64 = 1 << 8 | 1 << 18 // SIGKILL, SIGSTOP

    func sysRtSigaction() throws(LinuxErrno) -> UInt64 {
        let sig = Int32(truncatingIfNeeded: a0)
        guard a3 == 8 else { throw .EINVAL }
        guard sig >= 1 && sig <= 64 else { throw .EINVAL }
        var newAction: SignalAction?
        if a1 != 0 {
            let b = try mm.read(a1, count: 32)
            newAction = b.withUnsafeBytes { p in
                SignalAction(handler: p.load(fromByteOffset: 0, as: UInt64.self), flags: p.load(fromByteOffset: 8, as: UInt64.self),
                             restorer: p.load(fromByteOffset: 16, as: UInt64.self),
                             mask: p.load(fromByteOffset: 24, as: UInt64.self) & ~GuestThread.unblockable)
            }
            if sig == Signal.SIGKILL || sig == Signal.SIGSTOP { throw .EINVAL }
        }
        if a2 != 0 {
            let o = group.actions[Int(sig)]
            var b = [UInt8](repeating: 0, count: 32)
            b.withUnsafeMutableBytes { p in
                p.storeBytes(of: o.handler, toByteOffset: 0, as: UInt64.self)
                p.storeBytes(of: o.flags, toByteOffset: 8, as: UInt64.self)
                p.storeBytes(of: o.restorer, toByteOffset: 16, as: UInt64.self)
                p.storeBytes(of: o.mask, toByteOffset: 24, as: UInt64.self)
            }
            try mm.write(a2, b)
        }
        if let newAction {
            group.actions[Int(sig)] = newAction
            // Setting a signal to ignored discards it if pending (POSIX).
            let bit: UInt64 = 1 << UInt64(sig - 1)
            if newAction.handler == 1 || (newAction.handler == 0 && Signal.defaultAction(sig) == .ignore) {
                group.discardPending(bit)
            }
        }
        return 0
    }

    func sysRtSigprocmask() throws(LinuxErrno) -> UInt64 {
        guard a3 == 8 else { throw .EINVAL }
        let old = signalMask
        if a1 != 0 {
            let set: UInt64 = try mm.readValue(a1)
            switch a0 {
            case 0: signalMask |= set
            case 1: signalMask &= ~set
            case 2: signalMask = set
            default: throw .EINVAL
            }
            signalMask &= ~GuestThread.unblockable
        }
        if a2 != 0 { try mm.writeValue(a2, old) }
        return 0
    }

    func sysRtSigpending() throws(LinuxErrno) -> UInt64 {
        guard a1 <= 8 else { throw .EINVAL }
        let set = (pending | group.pendingShared) & signalMask
        var b = [UInt8](repeating: 0, count: 8)
        b.withUnsafeMutableBytes { $0.storeBytes(of: set, as: UInt64.self) }
        try mm.write(a0, Array(b[0..<Int(a1)]))
        return 0
    }

    func sysRtSigsuspend() throws(LinuxErrno) -> UInt64 {
        guard a1 == 8 else { throw .EINVAL }
        let mask: UInt64 = try mm.readValue(a0)
        let saved = signalMask
        signalMask = mask & ~GuestThread.unblockable
        context?.willBlock()
        while deliverableSignals() == 0 && !killed && !group.exiting { sleepInSentry() }
        // The handler runs with the temporary mask; rt_sigreturn restores the saved one.
        savedMaskForSuspend = saved
        throw .EINTR
    }

    func sysPause() throws(LinuxErrno) -> UInt64 {
        context?.willBlock()
        while deliverableSignals() == 0 && !killed && !group.exiting { sleepInSentry() }
        throw .EINTR
    }

    /// Linux's queue limit for a signal sent with a negative si_code (sigqueue, tgkill): a
    /// realtime signal that finds the target's user holding RLIMIT_SIGPENDING (the target's)
    /// queued signals is EAGAIN. kill's (SI_USER) go past it, as on Linux.
    func checkSignalQueueRoom(_ sig: Int32, code: Int32, target: ThreadGroup) throws(LinuxErrno) {
        guard sig >= 32, code < 0, !target.discards(sig) else { return }
        let queued = kernel.threadGroups.values.reduce(0) { $1.uid == target.uid ? $0 + $1.queuedSignals : $0 }
        if UInt64(queued) >= limit(11, of: target).0 { throw .EAGAIN }
    }

    /// rt_sigqueueinfo: a signal with the caller's siginfo (si_code and si_value).
    func sysRtSigqueueinfo() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0), sig = Int32(truncatingIfNeeded: a1)
        guard sig >= 0, sig < 65 else { throw .EINVAL }
        let raw = try mm.read(a2, count: 48)
        let code = raw.withUnsafeBytes { $0.load(fromByteOffset: 8, as: Int32.self) }
        let value = raw.withUnsafeBytes { $0.load(fromByteOffset: 24, as: UInt64.self) }
        // Any of the process's thread ids names it, as for kill.
        guard let target = process(pid) else { throw .ESRCH } // a zombie too (it takes nothing)
        guard maySignal(target, sig) else { throw .EPERM }
        // Only the kernel may claim kernel codes; others must be negative (SI_QUEUE...) unless to oneself.
        if (code >= 0 || code == -6) && target !== group { throw .EPERM }
        if sig == 0 { return 0 }
        guard signalReaches(target, sig) else { target.prepareSignal(sig); return 0 }
        try checkSignalQueueRoom(sig, code: code, target: target)
        target.sendSignal(sig, info: SignalInfo(signo: sig, code: code, pid: target.pidNS.local(group.pid), uid: group.uid, value: value))
        return 0
    }

    /// rt_tgsigqueueinfo: rt_sigqueueinfo aimed at one thread of a process.
    func sysRtTgsigqueueinfo() throws(LinuxErrno) -> UInt64 {
        let tgid = Int32(truncatingIfNeeded: a0), tid = Int32(truncatingIfNeeded: a1), sig = Int32(truncatingIfNeeded: a2)
        guard tgid > 0, tid > 0, sig >= 0, sig < 65 else { throw .EINVAL }
        let raw = try mm.read(a3, count: 48)
        let code = raw.withUnsafeBytes { $0.load(fromByteOffset: 8, as: Int32.self) }
        let value = raw.withUnsafeBytes { $0.load(fromByteOffset: 24, as: UInt64.self) }
        guard let t = thread(tid), vnr(t.group.pid) == tgid else { throw .ESRCH }
        guard maySignal(t.group, sig, thread: t) else { throw .EPERM }
        if (code >= 0 || code == -6) && t !== self { throw .EPERM }
        if sig == 0 { return 0 }
        guard signalReaches(t.group, sig) else { return 0 }
        t.group.prepareSignal(sig)
        if t.group.discards(sig, thread: t) { return 0 }
        try checkSignalQueueRoom(sig, code: code, target: t.group)
        enqueueSignal(sig, SignalInfo(signo: sig, code: code, pid: t.pidNS.local(group.pid), uid: group.uid, value: value),
                      mask: &t.pending, queues: &t.pendingInfo)
        t.interrupt()
        return 0
    }

    /// rt_sigtimedwait: takes a pending signal of `set` without running its handler.
    func sysRtSigtimedwait() throws(LinuxErrno) -> UInt64 {
        guard a3 == 8 else { throw .EINVAL }
        let set: UInt64 = try mm.readValue(a0) & ~GuestThread.unblockable
        var deadline: UInt64?
        if a2 != 0 {
            let ts: timespec = try mm.readValue(a2)
            guard ts.tv_sec >= 0, ts.tv_nsec >= 0, ts.tv_nsec < 1_000_000_000 else { throw .EINVAL }
            deadline = monotonicDeadline(afterSeconds: Int64(ts.tv_sec), nanos: Int64(ts.tv_nsec))
        }
        while true {
            let ready = (pending | group.pendingShared) & set
            if ready != 0 {
                let sig = Int32(ready.trailingZeroBitCount + 1)
                let info = dequeueSignal(sig)
                if a1 != 0 {
                    var b = [UInt8](repeating: 0, count: 128)
                    b.withUnsafeMutableBytes { info.store(as: sig, seenIn: group.userNS, into: $0) }
                    try mm.write(a1, b)
                }
                return UInt64(sig)
            }
            if let deadline, monotonicNanos() >= deadline { throw .EAGAIN }
            // Signals outside the set that are deliverable interrupt the wait (EINTR).
            do { try block(deadline: deadline) } catch { throw error == .ERESTARTSYS ? .EINTR : error }
        }
    }

    func sysSigaltstack() throws(LinuxErrno) -> UInt64 {
        let onStack = altStack.size > 0 && regs.rsp > altStack.sp && regs.rsp <= altStack.sp &+ altStack.size
        if a1 != 0 {
            var b = [UInt8](repeating: 0, count: 24)
            b.withUnsafeMutableBytes { p in
                p.storeBytes(of: altStack.sp, toByteOffset: 0, as: UInt64.self)
                p.storeBytes(of: altStack.flags | (onStack ? 1 : 0), toByteOffset: 8, as: Int32.self)
                p.storeBytes(of: altStack.size, toByteOffset: 16, as: UInt64.self)
            }
            try mm.write(a1, b)
        }
        if a0 != 0 {
            let b = try mm.read(a0, count: 24)
            let sp = b.withUnsafeBytes { $0.load(fromByteOffset: 0, as: UInt64.self) }
            let flags = b.withUnsafeBytes { $0.load(fromByteOffset: 8, as: Int32.self) }
            let size = b.withUnsafeBytes { $0.load(fromByteOffset: 16, as: UInt64.self) }
            if onStack { throw .EPERM }
            guard flags & ~Int32(2 | Int32(bitPattern: 0x8000_0000)) == 0 else { throw .EINVAL }
            if flags & 2 != 0 {
                altStack = (0, 2, 0)
            } else {
                guard size >= 2048 else { throw .ENOMEM }
                altStack = (sp, 0, size)
            }
        }
        return 0
    }
}
