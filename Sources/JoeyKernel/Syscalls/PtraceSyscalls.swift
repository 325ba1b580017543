// ptrace(2) requests of one guest process on another (Task/Ptrace.swift has the stops):
// TRACEME, ATTACH, CONT, SYSCALL, DETACH, KILL, PEEK/POKE of memory and the user area,
// GETREGS/SETREGS, GETFPREGS, GETREGSET/SETREGSET (NT_PRSTATUS, NT_PRFPREG), SETOPTIONS,
// GETEVENTMSG, GETSIGINFO/SETSIGINFO, GETSIGMASK/SETSIGMASK and GET_SYSCALL_INFO. SEIZE,
// INTERRUPT, LISTEN, SINGLESTEP, SYSEMU and the others fail with EIO.
import Glibc
import JoeyABI
import JoeyPlatform

extension GuestThread {
    /// struct user_regs_struct is joey_regs, field for field (PTRACE_GETREGS order).
    private static let userRegsSize = MemoryLayout<GuestRegisters>.size
    /// The kernel's struct user's size (error_code and fault_address after u_debugreg), and
    /// where its u_debugreg[8] begins and ends.
    private static let userSize: UInt64 = 928, debugRegistersOffset: UInt64 = 848, debugRegistersEnd: UInt64 = 912

    /// ptrace_may_access for process `g` (PTRACE_MODE_ATTACH): the same real uid as all of
    /// its ids (and gids), and a dumpable process; or CAP_SYS_PTRACE.
    func mayAttach(_ g: ThreadGroup) -> Bool {
        // Landlock holds whatever the capabilities (an LSM's say comes after them on Linux).
        guard landlockMayTrace(g) else { return false }
        if group.capable(Self.CAP_SYS_PTRACE, in: g.userNS) { return true }
        return [g.uid, g.euid, g.suid].allSatisfy { $0 == group.uid } && [g.gid, g.egid, g.sgid].allSatisfy { $0 == group.gid }
            && g.dumpMode == 1
    }

    func sysPtrace() throws(LinuxErrno) -> UInt64 {
        let request = a0, pid = Int32(truncatingIfNeeded: a1), addr = a2, data = a3
        switch request {
        case 0: // PTRACE_TRACEME: the parent traces this thread
            guard ptrace == nil, let parent = group.parent, parent.exitStatus == nil else { throw .EPERM }
            // Landlock (hook_ptrace_traceme): a tracer in a domain traces only from within it.
            if let tracerDomain = parent.leader?.landlockDomain, !tracerDomain.isAncestorOrSelf(of: landlockDomain) { throw .EPERM }
            ptrace = PtraceState(tracer: parent)
            return 0
        case 16: // PTRACE_ATTACH: traced, and a SIGSTOP to stop it
            guard let t = thread(pid) else { throw .ESRCH }
            guard t.group !== group, t.ptrace == nil, t.group.exitStatus == nil, mayAttach(t.group) else { throw .EPERM }
            t.ptrace = PtraceState(tracer: group)
            enqueueSignal(Signal.SIGSTOP, SignalInfo(signo: Signal.SIGSTOP, code: 0x80), mask: &t.pending, queues: &t.pendingInfo)
            // Already in a group stop: in a ptrace-stop before attach returns (Linux's
            // JOBCTL_TRAP_STOP), so the tracer may act on it at once. Asleep in the stop, it
            // is put there now (it waits out that stop when it runs: ptraceGroupStop);
            // otherwise (woken meanwhile) attach waits for it to take it, as Linux waits
            // for JOBCTL_TRAPPING to clear. A signal for the tracer ends that wait.
            if t.inGroupStop { t.ptraceEnterStop(t.group.stopSignal << 8 | 0x7f, kind: .groupStop) }
            t.interrupt()
            while t.group.stopped, t.group.exitStatus == nil, let p = t.ptrace, p.tracer === group, !p.stopped {
                do { try block(on: group.childEvents, .readable) } catch { break }
            }
            return 0
        case 0x4206, 0x4207, 0x4208, 31, 32: // SEIZE, INTERRUPT, LISTEN, SYSEMU(_SINGLESTEP)
            throw .EIO
        default:
            break
        }
        // The rest act on a tracee of this process that is stopped for it (KILL: any tracee).
        guard let t = thread(pid), let p = t.ptrace, p.tracer === group else { throw .ESRCH }
        if request == 8 { // PTRACE_KILL
            t.group.sendSignal(Signal.SIGKILL)
            return 0
        }
        guard p.stopped else { throw .ESRCH }
        switch request {
        case 7, 24, 17, 9: // PTRACE_CONT, PTRACE_SYSCALL, PTRACE_DETACH, PTRACE_SINGLESTEP
            guard data < 65 else { throw .EIO }
            let sig = Int32(data)
            p.resumeSignal = sig
            p.tracingSyscalls = request == 24
            // One instruction, then the CPU's debug trap (SIGTRAP): the trap flag is the
            // sentry's, cleared again at the next stop so the tracer never sees it.
            if request == 9 { t.regs.eflags |= PtraceState.trapFlag; p.singleStepping = true }
            if request == 17 { t.ptrace = nil }
            p.stopped = false
            t.wakeup.wake()
            return 0
        case 1, 2: // PTRACE_PEEKTEXT, PTRACE_PEEKDATA: the word goes to *data, whatever the protection
            let word: UInt64
            do { word = try t.mm.read(addr, count: 8, force: true).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } } catch { throw .EIO }
            try mm.writeValue(data, word)
            return 0
        case 4, 5: // PTRACE_POKETEXT, PTRACE_POKEDATA: private memory is written whatever its
            // protection (a breakpoint in text); a shared mapping only if mapped writable (the
            // forced write's rule).
            do { try t.mm.write(addr, withUnsafeBytes(of: data) { Array($0) }, force: true) } catch { throw .EIO }
            // A copy-on-write copy moved the word: the tracee's address space follows.
            t.group.catchUpAddressSpace()
            return 0
        case 3: // PTRACE_PEEKUSER: a register or debug register of struct user; the rest reads 0
            guard addr & 7 == 0, addr < Self.userSize else { throw .EIO }
            var word: UInt64 = 0
            if addr < UInt64(Self.userRegsSize) {
                word = withUnsafeBytes(of: t.regs) { $0.load(fromByteOffset: Int(addr), as: UInt64.self) }
            } else if addr >= Self.debugRegistersOffset && addr < Self.debugRegistersEnd {
                word = t.debugRegister(Int((addr - Self.debugRegistersOffset) / 8))
            }
            try mm.writeValue(data, word)
            return 0
        case 6: // PTRACE_POKEUSER: a register or a debug register
            guard addr & 7 == 0, addr < Self.userSize else { throw .EIO }
            if addr >= Self.debugRegistersOffset && addr < Self.debugRegistersEnd {
                try t.setDebugRegister(Int((addr - Self.debugRegistersOffset) / 8), data)
                return 0
            }
            guard addr < UInt64(Self.userRegsSize) else { throw .EIO }
            var r = t.regs
            withUnsafeMutableBytes(of: &r) { $0.storeBytes(of: data, toByteOffset: Int(addr), as: UInt64.self) }
            try t.setRegistersFromTracer(r)
            return 0
        case 12: // PTRACE_GETREGS
            try mm.write(data, withUnsafeBytes(of: t.regs) { Array($0) })
            return 0
        case 13: // PTRACE_SETREGS
            try t.setRegistersFromTracer(try readRegisters(data))
            return 0
        case 14: // PTRACE_GETFPREGS: the fxsave area
            try mm.write(data, Array((t.context?.floatingPointState() ?? [UInt8](repeating: 0, count: 512)).prefix(512)))
            return 0
        case 0x4204, 0x4205: // PTRACE_GETREGSET, PTRACE_SETREGSET: struct iovec at data
            let base: UInt64 = try mm.readValue(data), length: UInt64 = try mm.readValue(data &+ 8)
            switch addr {
            case 1: // NT_PRSTATUS
                let n = min(Int(min(length, UInt64(Int32.max))), Self.userRegsSize)
                if request == 0x4204 {
                    try mm.write(base, Array(withUnsafeBytes(of: t.regs) { Array($0) }.prefix(n)))
                } else {
                    guard n == Self.userRegsSize else { throw .EINVAL }
                    try t.setRegistersFromTracer(try readRegisters(base))
                }
                try mm.writeValue(data &+ 8, UInt64(n))
                return 0
            case 2 where request == 0x4204: // NT_PRFPREG
                let fp = Array((t.context?.floatingPointState() ?? [UInt8](repeating: 0, count: 512)).prefix(512))
                let n = min(Int(min(length, 512)), fp.count)
                try mm.write(base, Array(fp.prefix(n)))
                try mm.writeValue(data &+ 8, UInt64(n))
                return 0
            default:
                throw .EINVAL
            }
        case 0x4200: // PTRACE_SETOPTIONS
            let known: UInt64 = 0x3f_007f | PtraceState.EXITKILL | PtraceState.SUSPEND_SECCOMP
            guard data & ~known == 0 else { throw .EINVAL }
            p.options = data
            return 0
        case 0x4201: // PTRACE_GETEVENTMSG
            try mm.writeValue(data, p.eventMessage)
            return 0
        case 0x4202: // PTRACE_GETSIGINFO
            guard p.kind == .signal || p.kind == .syscallEntry || p.kind == .syscallExit || p.kind == .event else { throw .EINVAL }
            var b = [UInt8](repeating: 0, count: 128)
            let info = p.signalInfo ?? SignalInfo(signo: Signal.SIGTRAP, code: (p.report ?? 0) >> 8 & 0xffff)
            b.withUnsafeMutableBytes { info.store(as: info.signo, seenIn: group.userNS, into: $0) }
            try mm.write(data, b)
            return 0
        case 0x4203: // PTRACE_SETSIGINFO: the signal a signal-delivery-stop will deliver
            guard p.kind == .signal else { throw .EINVAL }
            let b = try mm.read(data, count: 128)
            b.withUnsafeBytes { q in
                var info = SignalInfo(signo: q.load(fromByteOffset: 0, as: Int32.self), code: q.load(fromByteOffset: 8, as: Int32.self),
                                      pid: q.load(fromByteOffset: 16, as: Int32.self), uid: q.load(fromByteOffset: 20, as: UInt32.self))
                info.value = q.load(fromByteOffset: 24, as: UInt64.self)
                p.signalInfo = info
            }
            return 0
        case 0x420a: // PTRACE_GETSIGMASK
            guard addr == 8 else { throw .EINVAL }
            try mm.writeValue(data, t.signalMask)
            return 0
        case 0x420b: // PTRACE_SETSIGMASK
            guard addr == 8 else { throw .EINVAL }
            let mask: UInt64 = try mm.readValue(data)
            t.signalMask = mask & ~Self.unblockable
            return 0
        case 0x420e: // PTRACE_GET_SYSCALL_INFO: struct ptrace_syscall_info, at most `addr` bytes
            var b = [UInt8](repeating: 0, count: 88)
            let op: UInt8 = p.kind == .syscallEntry ? 1 : p.kind == .syscallExit ? 2 : 0
            let r = t.regs
            b.withUnsafeMutableBytes { q in
                q.storeBytes(of: op, toByteOffset: 0, as: UInt8.self)
                q.storeBytes(of: Seccomp.auditArchX86_64, toByteOffset: 4, as: UInt32.self)
                q.storeBytes(of: r.rip, toByteOffset: 8, as: UInt64.self)
                q.storeBytes(of: r.rsp, toByteOffset: 16, as: UInt64.self)
                if op == 1 {
                    q.storeBytes(of: r.orig_rax, toByteOffset: 24, as: UInt64.self)
                    for (i, v) in [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9].enumerated() { q.storeBytes(of: v, toByteOffset: 32 + 8 * i, as: UInt64.self) }
                } else if op == 2 {
                    let rval = Int64(bitPattern: r.rax)
                    q.storeBytes(of: rval, toByteOffset: 24, as: Int64.self)
                    q.storeBytes(of: UInt8(rval < 0 && rval >= -4095 ? 1 : 0), toByteOffset: 32, as: UInt8.self)
                }
            }
            let size = op == 1 ? 80 : op == 2 ? 33 : 24
            if addr > 0 { try mm.write(data, Array(b.prefix(min(size, Int(min(addr, 88)))))) }
            return UInt64(size)
        default:
            throw .EIO
        }
    }

    private func readRegisters(_ address: UInt64) throws(LinuxErrno) -> GuestRegisters {
        let b = try mm.read(address, count: Self.userRegsSize)
        var r = regs
        b.withUnsafeBytes { src in withUnsafeMutableBytes(of: &r) { $0.copyMemory(from: src) } }
        return r
    }

    /// A tracer's new registers, checked as Linux's putreg checks them: segment selectors
    /// cannot change (EIO), fs/gs bases must be user addresses (EIO), and only the
    /// user-changeable flags are taken.
    func setRegistersFromTracer(_ new: GuestRegisters) throws(LinuxErrno) {
        let old = regs
        guard new.cs == old.cs, new.ss == old.ss, new.ds == old.ds, new.es == old.es, new.fs == old.fs, new.gs == old.gs,
              new.fs_base < 0x7fff_ffff_f000, new.gs_base < 0x7fff_ffff_f000 else { throw .EIO }
        let userFlags: UInt64 = 0x40dd5 // CF PF AF ZF SF TF DF OF AC
        regs = new
        regs.eflags = (old.eflags & ~userFlags) | (new.eflags & userFlags)
    }

    /// wait4's part for tracees: a ptrace-stop of a thread this process traces (matched by
    /// tid for pid > 0), or the exit of one the process's own wait will not report. Both tids
    /// are as this process sees them.
    func takePtraceReport(pid: Int32) -> (tid: Int32, status: Int32)? {
        if let i = kernel.ptraceExits.firstIndex(where: { $0.tracer === group && (pid <= 0 || $0.tid == pid) }) {
            let r = kernel.ptraceExits.remove(at: i)
            return (r.tid, r.status)
        }
        for t in kernel.threads.values {
            guard let p = t.ptrace, p.tracer === group, p.stopped, let status = p.report, pid <= 0 || vnr(t.tid) == pid else { continue }
            p.report = nil
            return (vnr(t.tid), status)
        }
        return nil
    }

    /// Whether this process traces anything wait4(`pid`) could report (so it does not say
    /// ECHILD): for pid > 0, that thread. A debugger that killed its tracee reaps each thread
    /// by tid until ECHILD says it is gone (gdb's kill_wait_callback).
    func tracesAnything(pid: Int32) -> Bool {
        kernel.ptraceExits.contains { $0.tracer === group && (pid <= 0 || $0.tid == pid) }
            || kernel.threads.values.contains { $0.ptrace?.tracer === group && (pid <= 0 || vnr($0.tid) == pid) }
    }
}
