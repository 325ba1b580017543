// timerfd: a timer read as a counter of expirations (timerfd_create(2)), fired by the same
// watcher thread as alarm(2) and POSIX timers. Deadlines are kept on the monotonic clock;
// an absolute CLOCK_REALTIME time is converted when it is set, and moved when the sandbox's
// wall clock is (Kernel.clockWasSet), which also cancels a TFD_TIMER_CANCEL_ON_SET timer.
import Glibc
import JoeyABI

final class TimerFDDescription: FileDescription {
    let clock: Int32
    let queue = WaitQueue()
    var deadline: UInt64?
    var interval: UInt64 = 0
    var expirations: UInt64 = 0
    /// Armed for an absolute wall-clock time: its deadline follows the clock's steps.
    var onWallClock = false
    /// TFD_TIMER_CANCEL_ON_SET on an absolute REALTIME setting; `cancelled` once the clock
    /// has been set since (the next read is ECANCELED).
    var cancelOnSet = false, cancelled = false
    /// The flags of the last timerfd_settime (TFD_TIMER_ABSTIME, CANCEL_ON_SET), for fdinfo.
    var settimeFlags: UInt64 = 0
    unowned(unsafe) let kernel: Kernel

    init(kernel: Kernel, clock: Int32, flags: Int32) {
        self.kernel = kernel
        self.clock = clock
        super.init(anonymous: "[timerfd]", fs: kernel.anonFS, flags: O_RDWR | flags)
    }

    /// Counts the expirations up to `now`; returns the next deadline. Kernel lock held.
    func fire(now: UInt64) -> UInt64? {
        guard let d = deadline else { return nil }
        guard d <= now else { return d }
        var count: UInt64 = 1
        if interval > 0 {
            let missed = (now - d) / interval
            count = missed &+ 1
            let (step, o) = count.multipliedReportingOverflow(by: interval)
            deadline = o ? nil : saturatingAdd(d, step)
        } else {
            deadline = nil
        }
        expirations = saturatingAdd(expirations, count)
        queue.notify(EventMask.input)
        return deadline
    }

    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 { try seekNowhere(whence) }

    override func fdinfoLines(seenIn ns: PIDNamespace) -> String {
        _ = fire(now: monotonicNanos())
        let (interval, left) = current()
        let second: UInt64 = 1_000_000_000
        return "clockid: \(clock)\nticks: \(expirations)\nsettime flags: 0\(String(settimeFlags, radix: 8))\n"
            + "it_value: (\(left / second), \(left % second))\nit_interval: (\(interval / second), \(interval % second))\n"
    }

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        guard dst.count >= 8 else { throw .EINVAL }
        if cancelled {
            cancelled = false
            expirations = 0
            throw .ECANCELED
        }
        _ = fire(now: monotonicNanos())
        guard expirations > 0 else { throw .EAGAIN }
        var out = dst.prefix(8)
        guard try out.copyOut(value: expirations) == 8 else { throw .EFAULT }
        dst.skip(8)
        expirations = 0
        return 8
    }

    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int { throw .EINVAL }

    /// TFD_IOC_SET_TICKS (CHECKPOINT_RESTORE): a restorer sets the expirations a read returns.
    override func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        guard request == 0x4008_5400 else { throw .ENOTTY }
        let ticks: UInt64 = try t.mm.readValue(argument)
        guard ticks != 0 else { throw .EINVAL }
        if cancelled { cancelled = false; throw .ECANCELED }
        expirations = ticks
        queue.notify(EventMask.input)
        return 0
    }
    override func eventQueue() -> WaitQueue? { queue }
    override func readiness(_ mask: EventMask) -> EventMask {
        _ = fire(now: monotonicNanos())
        return expirations > 0 || cancelled ? mask.intersection(EventMask.input) : []
    }

    override func release() {
        deadline = nil
        kernel.timerFDs[ObjectIdentifier(self)] = nil
    }

    /// struct itimerspec of what is left and the interval.
    func current() -> (interval: UInt64, left: UInt64) {
        let now = monotonicNanos()
        return (interval, deadline.map { $0 > now ? $0 - now : 1 } ?? 0)
    }
}

extension Kernel {
    /// Fires expired timerfds; returns the next deadline. Kernel lock held.
    func fireTimerFDs(now: UInt64) -> UInt64? {
        var next: UInt64?
        for t in timerFDs.values {
            if let n = t.fire(now: now) { next = min(next ?? n, n) }
        }
        return next
    }
}

extension GuestThread {
    func sysTimerfdCreate() throws(LinuxErrno) -> UInt64 {
        let clock = Int32(truncatingIfNeeded: a0)
        guard a1 & ~UInt64(O_NONBLOCK | O_CLOEXEC) == 0 else { throw .EINVAL }
        switch clock {
        case 0, 1, 7: break // REALTIME, MONOTONIC, BOOTTIME
        case 8, 9: guard group.capable(35, in: .initial) else { throw .EPERM } // the _ALARM clocks need CAP_WAKE_ALARM
        default: throw .EINVAL
        }
        let flags = Int32(truncatingIfNeeded: a1)
        let d = TimerFDDescription(kernel: kernel, clock: clock, flags: flags & O_NONBLOCK)
        return UInt64(try group.fdTable.install(d, closeOnExec: flags & O_CLOEXEC != 0))
    }

    private func timerFD(_ fd: Int32) throws(LinuxErrno) -> TimerFDDescription {
        guard let t = try group.fdTable.get(fd) as? TimerFDDescription else { throw .EINVAL }
        return t
    }

    private func writeItimerspec(_ addr: UInt64, _ v: (interval: UInt64, left: UInt64)) throws(LinuxErrno) {
        try mm.writeValue(addr, (Int64(v.interval / 1_000_000_000), Int64(v.interval % 1_000_000_000),
                                 Int64(v.left / 1_000_000_000), Int64(v.left % 1_000_000_000)))
    }

    func sysTimerfdSettime() throws(LinuxErrno) -> UInt64 {
        let t = try timerFD(fdArg(a0))
        let flags = a1
        guard flags & ~UInt64(3) == 0 else { throw .EINVAL }
        // TFD_TIMER_CANCEL_ON_SET matters only for an absolute real-time timer, and is
        // ignored otherwise (timerfd_setup_cancel).
        let f: (Int64, Int64, Int64, Int64) = try mm.readValue(a2)
        guard f.0 >= 0, f.2 >= 0, (0..<1_000_000_000).contains(f.1), (0..<1_000_000_000).contains(f.3) else { throw .EINVAL }
        if a3 != 0 { try writeItimerspec(a3, t.current()) }
        let interval = saturatingNanos(seconds: f.0, nanos: f.1)
        let value = saturatingNanos(seconds: f.2, nanos: f.3)
        t.interval = interval
        t.settimeFlags = flags
        t.expirations = 0
        let wallClock = flags & 1 != 0 && (t.clock == 0 || t.clock == 8) // ABSTIME on REALTIME (+ _ALARM)
        t.cancelOnSet = wallClock && flags & 2 != 0
        t.cancelled = false
        t.onWallClock = wallClock && value != 0
        if value == 0 {
            t.deadline = nil
        } else if flags & 1 != 0 {
            let (target, o) = Int64(value).subtractingReportingOverflow(timerClockOffset(t.clock) ?? 0)
            t.deadline = o ? UInt64(Int64.max) : UInt64(max(target, 0))
        } else {
            t.deadline = saturatingAdd(monotonicNanos(), value)
        }
        if t.deadline != nil || t.cancelOnSet {
            kernel.timerFDs[ObjectIdentifier(t)] = t
            kernel.startAlarmWatcher()
        } else {
            kernel.timerFDs[ObjectIdentifier(t)] = nil
        }
        return 0
    }

    func sysTimerfdGettime() throws(LinuxErrno) -> UInt64 {
        let t = try timerFD(fdArg(a0))
        _ = t.fire(now: monotonicNanos())
        try writeItimerspec(a1, t.current())
        return 0
    }
}
