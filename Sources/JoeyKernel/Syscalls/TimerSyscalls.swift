// POSIX timers (timer_create and friends) on the real-time clocks and the CPU-time clocks,
// delivered by the same watcher thread as alarm(2): SIGEV_SIGNAL, SIGEV_THREAD_ID and
// SIGEV_NONE. CPU time is the stubs' run time, looked at every 10 ms while a timer on it is
// armed (Linux looks at each tick).
import Glibc
import JoeyABI

final class PosixTimer {
    let id: Int32
    let clock: Int32
    let signal: Int32
    let value: UInt64
    /// SIGEV_SIGNAL 0, SIGEV_NONE 1, SIGEV_THREAD 2 (as SIGEV_SIGNAL), SIGEV_THREAD_ID 4.
    let notify: Int32
    let targetTID: Int32
    /// On the clock's own scale: monotonic nanoseconds for the wall clocks, used CPU
    /// nanoseconds for a CPU-time clock.
    var deadline: UInt64?
    var interval: UInt64 = 0
    /// A periodic timer whose signal is pending waits, unarmed, for its delivery (Linux's
    /// requeue): this is when it expired; the delivery counts the intervals missed since
    /// (si_overrun) and arms it again.
    var expiredAt: UInt64?
    /// What timer_getoverrun reports: the overrun of the last signal delivered.
    var overrun: Int32 = 0
    /// Armed for an absolute REALTIME or TAI time: its deadline follows the wall clock's steps.
    var onWallClock = false
    /// The process or thread whose CPU time a CPU-time timer counts (weak: a timer in a
    /// process's table may count that process).
    let onCPUClock: Bool
    weak var cpuProcess: ThreadGroup?
    weak var cpuThread: GuestThread?

    init(id: Int32, clock: Int32, signal: Int32, value: UInt64, notify: Int32, targetTID: Int32, cpu: CPUClock?) {
        self.id = id; self.clock = clock; self.signal = signal; self.value = value; self.notify = notify; self.targetTID = targetTID
        onCPUClock = cpu != nil
        switch cpu {
        case .process(let g): cpuProcess = g
        case .thread(let t): cpuThread = t
        case nil: break
        }
    }

    /// The timer's clock now, on its deadline's scale; nil once a CPU clock's owner is gone.
    func now(monotonic: UInt64) -> UInt64? {
        guard onCPUClock else { return monotonic }
        let clock: CPUClock? = if let t = cpuThread { .thread(t) } else if let g = cpuProcess { .process(g) } else { nil }
        guard let clock, clock.alive else { return nil }
        return clock.polledNanos
    }
}

/// A CPU-time clock's owner (clock_gettime, clock_nanosleep, timer_create).
enum CPUClock {
    case process(ThreadGroup)
    case thread(GuestThread)

    /// The stubs' run time (exec and fork restart a stub's at zero), so the PROF, VIRT and
    /// SCHED clock types read the same.
    var nanos: UInt64 {
        switch self {
        case .process(let g): g.cpuNanos()
        case .thread(let t): t.context?.cpuTimeNanos() ?? 0
        }
    }

    /// The reading for pollers: a process's may be up to 1 ms old (ThreadGroup.polledCPUNanos).
    var polledNanos: UInt64 {
        switch self {
        case .process(let g): g.polledCPUNanos()
        case .thread(let t): t.context?.cpuTimeNanos() ?? 0
        }
    }

    var alive: Bool {
        switch self {
        case .process(let g): g.exitStatus == nil
        case .thread(let t): t.context != nil && !t.threadExiting
        }
    }
}

extension ThreadGroup {
    /// Fires expired timers; returns the next deadline. Kernel lock held.
    func firePosixTimers(now monotonic: UInt64) -> UInt64? {
        var next: UInt64?
        for t in timers.values {
            guard let d = t.deadline, let now = t.now(monotonic: monotonic) else { continue }
            if d <= now {
                if t.interval > 0 && t.notify != 1 {
                    t.expiredAt = d // rearmed when its signal is delivered
                    t.deadline = nil
                } else if t.interval > 0 {
                    t.deadline = t.nextDeadline(after: d, now: now).deadline
                } else {
                    t.deadline = nil
                }
                deliver(t)
            }
            // A CPU-time deadline is polled; the others are slept until.
            if let n = t.deadline { let at = t.onCPUClock ? saturatingAdd(monotonic, Self.cpuPoll) : n; next = min(next ?? at, at) }
        }
        return next
    }

    private func deliver(_ t: PosixTimer) {
        guard t.notify != 1 else { return }
        // SI_TIMER siginfo: si_tid at 16, si_overrun at 20, si_value at 24 (pid/uid/value
        // slots); the overrun is filled in at delivery (timerSignalDelivered).
        let info = SignalInfo(signo: t.signal, code: -2, pid: t.id, uid: 0, value: t.value)
        if t.notify == 4, let thread = kernel.threads[t.targetTID], thread.group === self {
            enqueueSignal(t.signal, info, mask: &thread.pending, queues: &thread.pendingInfo)
            thread.interrupt()
        } else {
            sendSignal(t.signal, info: info)
        }
        // Not queued (ignored, or merged into the same signal pending already): nothing will
        // deliver it, so a periodic timer goes on at once, as Linux rearms an ignored one.
        if let expired = t.expiredAt, !timerSignalQueued(t), let now = t.now(monotonic: monotonicNanos()) {
            t.deadline = t.nextDeadline(after: expired, now: now).deadline
            t.expiredAt = nil
        }
    }

    /// Whether `t`'s SI_TIMER signal waits in a pending queue of the process or a thread.
    private func timerSignalQueued(_ t: PosixTimer) -> Bool {
        let mine = { (i: SignalInfo) in i.code == -2 && i.pid == t.id }
        return pendingInfo[Int(t.signal)].contains(where: mine) || threads.contains { $0.pendingInfo[Int(t.signal)].contains(where: mine) }
    }

    /// A timer's signal is being delivered (`info` as queued): the intervals the timer
    /// missed since it expired become si_overrun and what timer_getoverrun reports (at
    /// most INT_MAX), and a periodic timer is armed again.
    func timerSignalDelivered(_ info: inout SignalInfo) {
        guard info.code == -2, let t = timers[info.pid], t.signal == info.signo else { return }
        var missed: UInt64 = 0
        if let expired = t.expiredAt, let now = t.now(monotonic: monotonicNanos()) {
            let next = t.nextDeadline(after: expired, now: now)
            missed = next.missed
            t.deadline = next.deadline
            t.expiredAt = nil
            if t.onCPUClock || t.deadline != nil { kernel.startAlarmWatcher() }
        }
        t.overrun = Int32(clamping: missed)
        info.uid = UInt32(bitPattern: t.overrun)
    }
}

extension PosixTimer {
    /// After an expiry at `expired`: the whole intervals missed by `now`, and the deadline
    /// after them.
    func nextDeadline(after expired: UInt64, now: UInt64) -> (missed: UInt64, deadline: UInt64) {
        let missed = now > expired ? (now - expired) / interval : 0
        let (step, o) = (missed + 1).multipliedReportingOverflow(by: interval)
        return (missed, o ? UInt64.max : saturatingAdd(expired, step))
    }
}

extension GuestThread {
    func timerClockOffset(_ clock: Int32) -> Int64? {
        let real: UInt64
        switch clock {
        case 0, 8: real = WallClock.realtimeNanos()                                  // REALTIME (+ _ALARM)
        case 11: real = WallClock.sandbox(CLOCK_TAI, host: hostClockNanos(CLOCK_TAI))   // TAI
        case 1, 7, 9: return group.timeNS.offset(clock)         // MONOTONIC, BOOTTIME (+ _ALARM), as the time namespace shifts them
        default: return nil
        }
        return Int64(bitPattern: real) - Int64(monotonicNanos())
    }

    func sysTimerCreate() throws(LinuxErrno) -> UInt64 {
        let clock = Int32(truncatingIfNeeded: a0)
        let cpu = try cpuClock(clock)
        guard cpu != nil || timerClockOffset(clock) != nil else { throw .EINVAL }
        // Alarm timers need a real-time clock device to wake the machine, and the sandbox
        // has none (EOPNOTSUPP, as Linux without an RTC; the alarm clocks cannot be read).
        if clock == 8 || clock == 9 { throw .EOPNOTSUPP }
        let id = group.nextTimerID
        var signal = Signal.SIGALRM, value = UInt64(id), notify: Int32 = 0, target: Int32 = 0
        if a1 != 0 {
            let b = try mm.read(a1, count: 64)
            value = b.withUnsafeBytes { $0.load(fromByteOffset: 0, as: UInt64.self) }
            signal = b.withUnsafeBytes { $0.load(fromByteOffset: 8, as: Int32.self) }
            notify = b.withUnsafeBytes { $0.load(fromByteOffset: 12, as: Int32.self) }
            target = b.withUnsafeBytes { $0.load(fromByteOffset: 16, as: Int32.self) }
            switch notify {
            // SIGEV_THREAD's thread is glibc's job (it passes SIGEV_THREAD_ID); given to the
            // kernel, it is a signal to the process as SIGEV_SIGNAL (Linux's good_sigevent).
            case 0, 2, 4: guard signal >= 1 && signal <= 64 else { throw .EINVAL }
            case 1: break
            default: throw .EINVAL
            }
            if notify == 4 {
                guard let t = thread(target), t.group === group else { throw .EINVAL }
                target = t.tid // kept by the sentry's number
            }
        }
        guard group.timers.count < 1024 else { throw .EAGAIN }
        try mm.writeValue(a2, id)
        group.timers[id] = PosixTimer(id: id, clock: clock, signal: signal, value: value, notify: notify, targetTID: target, cpu: cpu)
        group.nextTimerID += 1
        return 0
    }

    private func timer(_ raw: UInt64) throws(LinuxErrno) -> PosixTimer {
        guard let t = group.timers[Int32(truncatingIfNeeded: raw)] else { throw .EINVAL }
        return t
    }

    private func itimerspec(_ t: PosixTimer) -> [UInt8] {
        let now = t.now(monotonic: monotonicNanos()) ?? 0
        let left = t.deadline.map { $0 > now ? $0 - now : 1 } ?? 0
        var b = [UInt8](repeating: 0, count: 32)
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: Int64(t.interval / 1_000_000_000), toByteOffset: 0, as: Int64.self)
            p.storeBytes(of: Int64(t.interval % 1_000_000_000), toByteOffset: 8, as: Int64.self)
            p.storeBytes(of: Int64(left / 1_000_000_000), toByteOffset: 16, as: Int64.self)
            p.storeBytes(of: Int64(left % 1_000_000_000), toByteOffset: 24, as: Int64.self)
        }
        return b
    }

    func sysTimerSettime() throws(LinuxErrno) -> UInt64 {
        // Linux's order: no new value (EINVAL), reading it (EFAULT), its validity, the timer.
        guard a2 != 0 else { throw .EINVAL }
        let b = try mm.read(a2, count: 32)
        let f = b.withUnsafeBytes { p in (0..<4).map { p.load(fromByteOffset: $0 * 8, as: Int64.self) } }
        guard f[0] >= 0, f[2] >= 0, (0..<1_000_000_000).contains(f[1]), (0..<1_000_000_000).contains(f[3]) else { throw .EINVAL }
        let t = try timer(a0)
        guard a1 & ~UInt64(1) == 0 else { throw .EINVAL }
        if a3 != 0 { try mm.write(a3, itimerspec(t)) }
        let interval = saturatingNanos(seconds: f[0], nanos: f[1])
        let value = saturatingNanos(seconds: f[2], nanos: f[3])
        t.interval = interval
        t.expiredAt = nil // a signal still pending no longer rearms it
        t.onWallClock = a1 & 1 != 0 && value != 0 && [0, 8, 11].contains(t.clock)
        if value == 0 {
            t.deadline = nil
        } else if t.onCPUClock {
            t.deadline = a1 & 1 != 0 ? value : saturatingAdd(t.now(monotonic: 0) ?? 0, value)
        } else if a1 & 1 != 0 { // TIMER_ABSTIME on the timer's clock
            let (target, o) = Int64(value).subtractingReportingOverflow(timerClockOffset(t.clock) ?? 0)
            t.deadline = o ? UInt64(Int64.max) : UInt64(max(target, 0))
        } else {
            t.deadline = saturatingAdd(monotonicNanos(), value)
        }
        if t.deadline != nil { kernel.startAlarmWatcher() }
        return 0
    }

    func sysTimerGettime() throws(LinuxErrno) -> UInt64 {
        try mm.write(a1, itimerspec(try timer(a0)))
        return 0
    }

    func sysTimerGetoverrun() throws(LinuxErrno) -> UInt64 { UInt64(try timer(a0).overrun) }

    func sysTimerDelete() throws(LinuxErrno) -> UInt64 {
        _ = try timer(a0)
        group.timers[Int32(truncatingIfNeeded: a0)] = nil
        return 0
    }
}
