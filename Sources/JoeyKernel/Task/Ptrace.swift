// ptrace between guest processes: a traced thread's state, and the stops it makes for its
// tracer (system-call entry and exit, signal delivery, fork/vfork/clone/exec/exit events), each
// reported through the tracer's wait4/waitid and ended by its PTRACE_CONT, PTRACE_SYSCALL or
// PTRACE_DETACH. Only PTRACE_TRACEME and PTRACE_ATTACH attach (no PTRACE_SEIZE, so no
// PTRACE_EVENT_STOP or PTRACE_LISTEN); a tracee in its process's group stop is in a
// ptrace-stop reporting the stop signal, once per group stop (an attach to a stopped
// process makes that stop at once). Guest tracing guest: the host's ptrace is not
// involved. Kernel lock held throughout; a stopped tracee sleeps on its own wakeup.
import JoeyABI

enum PtraceStopKind {
    /// groupStop: the process's group stop, as a tracee takes it (no siginfo).
    case none, syscallEntry, syscallExit, signal, event, groupStop
}

final class PtraceState {
    /// The tracing process (any of its threads may make requests).
    weak var tracer: ThreadGroup?
    var options: UInt64 = 0
    /// In a ptrace-stop, waiting for the tracer.
    var stopped = false
    /// A wait status for the tracer's wait4 that it has not collected yet.
    var report: Int32?
    var kind = PtraceStopKind.none
    var eventMessage: UInt64 = 0
    /// The signal of a signal-delivery-stop (PTRACE_GETSIGINFO, PTRACE_SETSIGINFO).
    var signalInfo: SignalInfo?
    /// What the tracer resumed with: the signal to deliver, and whether to stop at calls.
    var resumeSignal: Int32 = 0
    var tracingSyscalls = false
    /// PTRACE_SINGLESTEP set the trap flag, to be taken off at the next stop.
    var singleStepping = false
    static let trapFlag: UInt64 = 0x100
    /// The group stop (ThreadGroup.stopCount) this tracee reported, and the one it was
    /// resumed from and went on past: it runs on though its process is still stopped, as a
    /// PTRACE_ATTACHed tracee does.
    var groupStopReported: UInt64 = 0
    var groupStopDone: UInt64 = 0

    init(tracer: ThreadGroup, options: UInt64 = 0) { self.tracer = tracer; self.options = options }

    static let TRACESYSGOOD: UInt64 = 1, TRACEFORK: UInt64 = 2, TRACEVFORK: UInt64 = 4, TRACECLONE: UInt64 = 8
    static let TRACEEXEC: UInt64 = 0x10, TRACEVFORKDONE: UInt64 = 0x20, TRACEEXIT: UInt64 = 0x40
    static let TRACESECCOMP: UInt64 = 0x80, EXITKILL: UInt64 = 0x100000, SUSPEND_SECCOMP: UInt64 = 0x200000
    static let EVENT_FORK: Int32 = 1, EVENT_VFORK: Int32 = 2, EVENT_CLONE: Int32 = 3, EVENT_EXEC: Int32 = 4
    static let EVENT_EXIT: Int32 = 6
}

extension GuestThread {
    /// Debug register `n` (0...7) as PTRACE_PEEKUSER reads it (DR4 and DR5 read 0).
    func debugRegister(_ n: Int) -> UInt64 { n >= 0 && n < 8 ? debugRegisters?[n] ?? 0 : 0 }

    /// PTRACE_POKEUSER of debug register `n` (ptrace_set_debugreg): DR0-DR3 take a user
    /// address, DR6 any status, DR7 the control word; DR4 and DR5 are EIO. Joey offers no
    /// hardware breakpoints or watchpoints: a DR7 that enables one (its L0-G3 bits) is EIO,
    /// so a debugger keeps to software breakpoints (gdb: `set can-use-hw-watchpoints 0`);
    /// one that enables none (gdb clears DR7 of every new thread) is kept.
    func setDebugRegister(_ n: Int, _ value: UInt64) throws(LinuxErrno) {
        switch n {
        case 0...3: guard value < Self.userAddressEnd else { throw .EINVAL }
        case 6: break
        case 7: guard value & 0xff == 0 else { throw .EIO }
        default: throw .EIO
        }
        var r = debugRegisters ?? [UInt64](repeating: 0, count: 8)
        r[n] = value
        debugRegisters = r
    }

    /// Where user addresses end (TASK_SIZE_MAX on x86-64).
    static let userAddressEnd: UInt64 = 0x7fff_ffff_f000

    /// Stops for the tracer with `status` (a wait status) until it resumes this thread (or the
    /// thread is killed, or the tracer goes; or its process starts to exit, except for the
    /// exit event itself). Returns at once when not traced.
    func ptraceStop(_ status: Int32, kind: PtraceStopKind, message: UInt64 = 0, whileExiting: Bool = false) {
        guard let p = ptrace, ptraceEnterStop(status, kind: kind, message: message) else { return }
        ptraceWait(p, whileExiting: whileExiting)
    }

    /// Records a ptrace-stop and tells the tracer (its wait4, SIGCHLD); false when there is
    /// no live tracer. A thread already asleep may be put in its stop this way (an attach to
    /// a group-stopped one), ptraceWait then waiting out the rest when it runs.
    @discardableResult
    func ptraceEnterStop(_ status: Int32, kind: PtraceStopKind, message: UInt64 = 0) -> Bool {
        guard let p = ptrace, let tracer = p.tracer, tracer.exitStatus == nil else { return false }
        if p.singleStepping { regs.eflags &= ~PtraceState.trapFlag; p.singleStepping = false }
        p.stopped = true
        p.report = status
        p.kind = kind
        if kind == .event { p.eventMessage = message }
        if kind == .groupStop { p.groupStopReported = group.stopCount }
        p.resumeSignal = 0
        tracer.childEvents.notify(.readable)
        let code: Int32 = kind == .groupStop ? 5 /* CLD_STOPPED */ : 4 /* CLD_TRAPPED */
        tracer.sendSignal(Signal.SIGCHLD, info: SignalInfo(signo: Signal.SIGCHLD, code: code, pid: tracer.pidNS.local(tid),
                                                           uid: group.uid, status: status >> 8 & 0xff))
        return true
    }

    /// Sleeps in the ptrace-stop recorded until the tracer resumes the thread (or it is
    /// killed, or the tracer goes, or its process starts to exit unless `whileExiting`).
    private func ptraceWait(_ p: PtraceState, whileExiting: Bool) {
        while p.stopped && !killed && (whileExiting || !group.exiting) && ptrace?.tracer != nil
                && (pending | group.pendingShared) & (1 << 8) == 0 { // SIGKILL ends any stop
            sleepInSentry()
        }
        p.stopped = false
        p.report = nil
        if killed || group.exiting { p.resumeSignal = 0 }
    }

    enum GroupStopOutcome {
        /// It reported this group stop and was resumed before: it runs.
        case runs
        /// Its tracer resumed it from the ptrace-stop just now: it runs, pending signals first.
        case resumed
        /// It is not traced (any more): it waits in the group stop as any thread.
        case untraced
    }

    /// A tracee in its process's group stop (runLoop): a ptrace-stop reporting the stop
    /// signal, once per group stop; resumed, it runs though the group is stopped.
    func ptraceGroupStop() -> GroupStopOutcome {
        guard let p = ptrace else { return .untraced }
        if p.groupStopDone == group.stopCount { return .runs }
        // Reported already when an attach found the thread asleep in the stop (and its
        // tracer may have resumed it before it ran).
        if p.groupStopReported != group.stopCount && !ptraceEnterStop(group.stopSignal << 8 | 0x7f, kind: .groupStop) {
            return .untraced
        }
        if p.stopped { ptraceWait(p, whileExiting: false) }
        guard ptrace === p else { return .untraced }
        p.groupStopDone = group.stopCount
        return .resumed
    }

    /// The wait status of a system-call stop.
    var ptraceSyscallStatus: Int32 {
        let trap = Signal.SIGTRAP | ((ptrace?.options ?? 0) & PtraceState.TRACESYSGOOD != 0 ? 0x80 : 0)
        return trap << 8 | 0x7f
    }

    /// An event stop (PTRACE_EVENT_*), when the tracer asked for it with `option`.
    func ptraceEvent(_ event: Int32, option: UInt64, message: UInt64) -> Bool {
        guard let p = ptrace, p.options & option != 0 else { return false }
        ptraceStop((Signal.SIGTRAP | event << 8) << 8 | 0x7f, kind: .event, message: message, whileExiting: event == PtraceState.EVENT_EXIT)
        return true
    }

    /// After a successful execve: the exec event, or (without PTRACE_O_TRACEEXEC) the SIGTRAP
    /// a traced process has always been sent.
    /// `formerTid`: the thread's id before execve, as its tracer sees it.
    func ptraceExecStop(formerTid: Int32) {
        guard ptrace != nil else { return }
        if !ptraceEvent(PtraceState.EVENT_EXEC, option: PtraceState.TRACEEXEC, message: UInt64(UInt32(bitPattern: formerTid))) {
            enqueueSignal(Signal.SIGTRAP, SignalInfo(signo: Signal.SIGTRAP, code: 0, pid: vnr(group.pid), uid: group.uid),
                          mask: &pending, queues: &pendingInfo)
        }
    }

    /// A new task made by clone/fork/vfork of a traced one, when the tracer follows it: traced
    /// by the same tracer with the same options, with a SIGSTOP to stop at first.
    func ptraceInherit(to child: GuestThread, flags: UInt64) -> (event: Int32, option: UInt64)? {
        guard let p = ptrace, let tracer = p.tracer else { return nil }
        let (event, option): (Int32, UInt64) = flags & CLONE_VFORK != 0 ? (PtraceState.EVENT_VFORK, PtraceState.TRACEVFORK)
            : flags & 0xff == UInt64(Signal.SIGCHLD) ? (PtraceState.EVENT_FORK, PtraceState.TRACEFORK)
            : (PtraceState.EVENT_CLONE, PtraceState.TRACECLONE)
        guard p.options & option != 0 else { return nil }
        child.ptrace = PtraceState(tracer: tracer, options: p.options)
        enqueueSignal(Signal.SIGSTOP, SignalInfo(signo: Signal.SIGSTOP, code: 0x80), mask: &child.pending, queues: &child.pendingInfo)
        return (event, option)
    }

    /// The tracer process ends or detaches everything: tracees go on untraced (or die, with
    /// PTRACE_O_EXITKILL).
    static func ptraceTracerGone(_ tracer: ThreadGroup, kernel: Kernel) {
        for t in kernel.threads.values where t.ptrace?.tracer === tracer {
            let kill = t.ptrace!.options & PtraceState.EXITKILL != 0
            t.ptrace = nil
            if kill { t.group.sendSignal(Signal.SIGKILL) } else { t.wakeup.wake() }
        }
    }
}
