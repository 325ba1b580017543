// Time system calls: clocks, sleeps, alarm, times; setting and disciplining the sandbox's wall
// clock (Kernel/WallClock.swift).
import Glibc
import JoeyABI

extension GuestThread {
    private func hostClock(_ id: UInt64) throws(LinuxErrno) -> clockid_t {
        switch Int32(truncatingIfNeeded: id) {
        case 0...7, 11: return clockid_t(Int32(truncatingIfNeeded: id)) // REALTIME ... BOOTTIME, TAI; 2, 3 only for getres
        default: throw .EINVAL
        }
    }

    /// A CPU-time clock: CLOCK_PROCESS_CPUTIME_ID (2), CLOCK_THREAD_CPUTIME_ID (3), or an id
    /// clock_getcpuclockid/pthread_getcpuclockid made (~pid << 3, 4 for a thread, the type in
    /// the low bits). nil: not a CPU-time clock.
    func cpuClock(_ id: Int32) throws(LinuxErrno) -> CPUClock? {
        if id == 2 { return .process(group) }
        if id == 3 { return .thread(self) }
        guard id < 0 else { return nil }
        guard id & 3 != 3 else { throw .EINVAL }
        let pid = ~(id >> 3)
        if id & 4 != 0 {
            // A thread's clock: only of a thread of the caller's own process, as on Linux.
            guard let t = pid == 0 ? self : thread(pid), t.group === group else { throw .EINVAL }
            return .thread(t)
        }
        guard let g = pid == 0 ? group : threadGroup(pid), g.exitStatus == nil else { throw .EINVAL }
        return .process(g)
    }

    private func cpuClockNanos(_ id: Int32) throws(LinuxErrno) -> UInt64? { try cpuClock(id)?.nanos }

    func sysClockGettime() throws(LinuxErrno) -> UInt64 {
        var ts = timespec()
        // The clocks the vDSO keeps are read as it reads them, so a guest mixing the two never
        // sees time go back.
        let clock = Int32(truncatingIfNeeded: a0)
        var ns = kernel.vdso.now(clock)
        if ns == nil { ns = try cpuClockNanos(clock) }
        if ns == nil {
            let host = try hostClock(a0)
            clock_gettime(host, &ts)
            ns = WallClock.sandbox(host, host: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
        }
        // As the process's time namespace shows the monotonic and boot-time clocks.
        if group.timeNS !== kernel.initialTime, let n = ns { ns = group.timeNS.shifted(n, clock) }
        if let ns { ts.tv_sec = Int(ns / 1_000_000_000); ts.tv_nsec = Int(ns % 1_000_000_000) }
        try mm.writeValue(a1, ts)
        return 0
    }

    /// Every clock counts in nanoseconds, the coarse ones included (they are read as the
    /// precise ones are); those report the host's tick, as Linux does.
    func sysClockGetres() throws(LinuxErrno) -> UInt64 {
        var res = timespec(tv_sec: 0, tv_nsec: 1)
        if try cpuClockNanos(Int32(truncatingIfNeeded: a0)) == nil {
            let clock = try hostClock(a0)
            if clock == CLOCK_REALTIME_COARSE || clock == CLOCK_MONOTONIC_COARSE { clock_getres(clock, &res) }
        }
        if a1 != 0 { try mm.writeValue(a1, res) }
        return 0
    }

    /// Setting the sandbox's clock takes CAP_SYS_TIME over the initial user namespace, as
    /// Linux's capable(CAP_SYS_TIME); it moves only the sandbox's clock.
    private var maySetClock: Bool { group.capable(25 /* CAP_SYS_TIME */, in: .initial) }

    /// clock_settime: only CLOCK_REALTIME can be set (the others are EINVAL, as on Linux).
    /// The time is checked before the capability, as do_sys_settimeofday64 checks it.
    func sysClockSettime() throws(LinuxErrno) -> UInt64 {
        let id = Int32(truncatingIfNeeded: a0)
        guard id == 0 else { throw .EINVAL }
        let ts: timespec = try mm.readValue(a1)
        guard ts.tv_sec >= 0, Int64(ts.tv_sec) <= WallClock.maxSettableSeconds, ts.tv_nsec >= 0, ts.tv_nsec < 1_000_000_000 else { throw .EINVAL }
        guard maySetClock else { throw .EPERM }
        kernel.clockWasSet(by: try WallClock.set(to: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)))
        return 0
    }

    /// settimeofday: the time and the kernel's timezone (minutes west within ±15 h), either
    /// or both; checked as Linux checks them (EFAULT, EINVAL for a time out of range, then
    /// EPERM without CAP_SYS_TIME, then EINVAL for the zone).
    func sysSettimeofday() throws(LinuxErrno) -> UInt64 {
        var target: UInt64?
        if a0 != 0 {
            let tv: timeval = try mm.readValue(a0)
            guard tv.tv_usec >= 0, tv.tv_usec < 1_000_000, tv.tv_sec >= 0, Int64(tv.tv_sec) <= WallClock.maxSettableSeconds else { throw .EINVAL }
            target = UInt64(tv.tv_sec) * 1_000_000_000 + UInt64(tv.tv_usec) * 1000
        }
        var zone: (Int32, Int32)?
        if a1 != 0 { let z: (Int32, Int32) = try mm.readValue(a1); zone = z } // struct timezone
        guard maySetClock else { throw .EPERM }
        if let zone {
            try WallClock.setTimezone(minutesWest: zone.0, dstTime: zone.1)
            kernel.timekeeper.publishWallClock()
        }
        if let target { kernel.clockWasSet(by: try WallClock.set(to: target)) }
        return 0
    }

    func sysGettimeofday() throws(LinuxErrno) -> UInt64 {
        if a0 != 0 {
            let ns = realtimeNanos()
            try mm.writeValue(a0, timeval(tv_sec: Int(ns / 1_000_000_000), tv_usec: Int(ns % 1_000_000_000 / 1000)))
        }
        if a1 != 0 {
            let tz = WallClock.timezone
            try mm.writeValue(a1, (tz.minutesWest, tz.dstTime))
        }
        return 0
    }

    /// adjtimex: reads the sandbox's clock discipline and, with CAP_SYS_TIME, sets it
    /// (WallClock.adjust). The struct is written back whole, as Linux writes it, even when
    /// the call fails.
    func sysAdjtimex() throws(LinuxErrno) -> UInt64 { try adjtimex(at: a0, writeBackOnError: true) }

    /// clock_adjtime: adjtimex on CLOCK_REALTIME, written back only on success; the other
    /// clocks cannot be adjusted (EOPNOTSUPP), an unknown one is EINVAL.
    func sysClockAdjtime() throws(LinuxErrno) -> UInt64 {
        let clock = Int32(truncatingIfNeeded: a0)
        if clock != 0 {
            _ = try mm.read(a1, count: WallClock.Timex.size)
            if try cpuClock(clock) != nil { throw .EOPNOTSUPP }
            guard (1...11).contains(clock), clock != 10 else { throw .EINVAL }
            throw .EOPNOTSUPP
        }
        return try adjtimex(at: a1, writeBackOnError: false)
    }

    private func adjtimex(at address: UInt64, writeBackOnError: Bool) throws(LinuxErrno) -> UInt64 {
        var tx = WallClock.Timex(bytes: try mm.read(address, count: WallClock.Timex.size))
        let outcome: Result<(result: Int32, stepped: Int64), LinuxErrno>
        do { outcome = .success(try WallClock.adjust(&tx, mayAdjust: maySetClock)) } catch { outcome = .failure(error) }
        if case .success(let r) = outcome {
            // The clock moved or its slew changed: what waits on it, and the vDSO, follow now.
            if r.stepped != 0 { kernel.clockWasSet(by: r.stepped) } else if tx.int(WallClock.Timex.modes) != 0 { kernel.timekeeper.publishWallClock() }
        }
        if case .success = outcome { try mm.write(address, tx.bytes) } else if writeBackOnError { try mm.write(address, tx.bytes) }
        return UInt64(try outcome.get().result)
    }

    func sysTime() throws(LinuxErrno) -> UInt64 {
        let sec = realtimeNanos() / 1_000_000_000
        if a0 != 0 { try mm.writeValue(a0, Int64(sec)) }
        return sec
    }

    /// `deadline`, made from a wall-clock time when the clock's steps summed `since`, moved by
    /// the steps made since (each wakes a thread that follows the wall clock).
    func wallClockDeadline(_ deadline: UInt64, since: Int64) -> UInt64 {
        moved(deadline, by: kernel.wallClockShift &- since)
    }

    /// A deadline for the next block: a wall-clock one as the clock's steps have moved it,
    /// the thread marked as following the clock until that block ends.
    func current(_ d: SleepDeadline?) -> UInt64? {
        guard let d else { return nil }
        guard let since = d.since else { return d.aimed }
        followsWallClock = true
        return wallClockDeadline(d.aimed, since: since)
    }

    /// A deadline at the absolute time `nanos` on `clock`: one on REALTIME follows the wall
    /// clock's steps.
    func sleepDeadline(at nanos: UInt64, on clock: clockid_t) -> SleepDeadline {
        SleepDeadline(aimed: monotonicDeadline(at: nanos, on: clock), since: clock == CLOCK_MONOTONIC ? nil : kernel.wallClockShift)
    }

    private func realtimeNanos() -> UInt64 { kernel.realtimeNanos() }

    private func readTimespec(_ addr: UInt64) throws(LinuxErrno) -> UInt64 {
        let ts: timespec = try mm.readValue(addr)
        guard ts.tv_sec >= 0, ts.tv_nsec >= 0, ts.tv_nsec < 1_000_000_000 else { throw .EINVAL }
        let (ns, o) = UInt64(ts.tv_sec).multipliedReportingOverflow(by: 1_000_000_000)
        return o || ns > UInt64.max / 2 ? UInt64.max / 2 : ns + UInt64(ts.tv_nsec)
    }

    /// Sleeps until the monotonic deadline. Interrupted by a signal, a relative sleep writes
    /// the time left to `remainder` (when not 0) and returns ERESTART_RESTARTBLOCK: a handler
    /// makes that EINTR, a signal without one (a stop and SIGCONT) goes on with the time
    /// left through restart_syscall, as Linux's hrtimer_nanosleep does. An absolute sleep
    /// (`relative` false) returns ERESTARTNOHAND: made again with the same deadline.
    /// A deadline made from a wall-clock time (`wallClock`) follows the clock's steps.
    private func sleep(until deadline: UInt64, remainder: UInt64, relative: Bool, wallClock: Bool = false) throws(LinuxErrno) -> UInt64 {
        let since = kernel.wallClockShift
        let aimed = deadline
        var deadline = deadline
        while monotonicNanos() < deadline {
            do {
                followsWallClock = wallClock // for this block, which clears it
                try block(deadline: deadline)
                if wallClock { deadline = wallClockDeadline(aimed, since: since) }
            } catch {
                let now = monotonicNanos()
                throw try interrupted(error, relative: relative, left: deadline > now ? deadline - now : 0, remainder: remainder,
                                      resume: .sleep(deadline: deadline, remainder: remainder))
            }
        }
        return 0
    }

    func sysNanosleep() throws(LinuxErrno) -> UInt64 {
        let ns = try readTimespec(a0)
        return try sleep(until: monotonicNanos() &+ ns, remainder: a1, relative: true)
    }

    func sysClockNanosleep() throws(LinuxErrno) -> UInt64 {
        let clock = Int32(truncatingIfNeeded: a0)
        let absolute = a1 & 1 != 0 // TIMER_ABSTIME; Linux ignores the other bits
        // Clocks Linux cannot sleep on: CLOCK_THREAD_CPUTIME_ID, MONOTONIC_RAW and the coarse
        // ones have no nsleep; the alarm clocks none without a real-time clock device.
        if [3, 4, 5, 6, 8, 9].contains(clock) { throw .EOPNOTSUPP }
        if let cpu = try cpuClock(clock) {
            if case .thread(let t) = cpu, t === self { throw .EINVAL } // it would never move
            let ns = try readTimespec(a2)
            return try sleep(on: cpu, until: absolute ? ns : saturatingAdd(cpu.nanos, ns), remainder: absolute ? 0 : a3, relative: !absolute)
        }
        guard [0, 1, 7, 11].contains(clock) else { throw .EINVAL }
        let ns = try readTimespec(a2)
        if absolute {
            // A monotonic or boot-time deadline of the process's time namespace, as the host's.
            let monotonic = clock == 1 || clock == 7
            let offset = group.timeNS.offset(clock)
            let host = offset >= 0 ? ns &- min(ns, UInt64(offset)) : saturatingAdd(ns, offset.magnitude)
            let deadline = monotonicDeadline(at: host, on: monotonic ? CLOCK_MONOTONIC : clock == 11 ? CLOCK_TAI : CLOCK_REALTIME)
            return try sleep(until: deadline, remainder: 0, relative: false, wallClock: !monotonic)
        }
        return try sleep(until: monotonicNanos() &+ ns, remainder: a3, relative: true)
    }

    /// clock_nanosleep on a CPU-time clock: until its process or thread has used the time,
    /// which is looked at every 10 ms. Interrupted, as sleep(until:) is.
    private func sleep(on cpu: CPUClock, until target: UInt64, remainder: UInt64, relative: Bool) throws(LinuxErrno) -> UInt64 {
        while cpu.polledNanos < target && cpu.alive {
            do {
                try block(deadline: monotonicNanos() + 10_000_000)
            } catch {
                throw try interrupted(error, relative: relative, left: target - min(target, cpu.nanos), remainder: remainder,
                                      resume: .cpuSleep(cpu, target: target, remainder: remainder))
            }
        }
        return 0
    }

    /// What a sleep that `error` ended returns: a signal (ERESTARTSYS) ends an absolute one
    /// with ERESTARTNOHAND, a relative one with ERESTART_RESTARTBLOCK after writing the time
    /// `left` to `remainder` (when not 0) and keeping `resume` for restart_syscall.
    private func interrupted(_ error: LinuxErrno, relative: Bool, left: UInt64, remainder: UInt64,
                             resume: RestartBlock) throws(LinuxErrno) -> LinuxErrno {
        guard error == .ERESTARTSYS else { return error }
        guard relative else { return .ERESTARTNOHAND }
        if remainder != 0 {
            try mm.writeValue(remainder, timespec(tv_sec: Int(left / 1_000_000_000), tv_nsec: Int(left % 1_000_000_000)))
        }
        restartBlock = resume
        return .ERESTART_RESTARTBLOCK
    }

    /// restart_syscall: goes on with the sleep a signal without a handler interrupted. Called
    /// by the program itself with nothing to go on with, it is EINTR, as on Linux.
    func sysRestartSyscall() throws(LinuxErrno) -> UInt64 {
        guard let block = restartBlock else { throw .EINTR }
        restartBlock = nil
        switch block {
        case .sleep(let deadline, let remainder):
            return try sleep(until: deadline, remainder: remainder, relative: true)
        case .cpuSleep(let cpu, let target, let remainder):
            return try sleep(on: cpu, until: target, remainder: remainder, relative: true)
        case .poll(let fds, let count, let deadline):
            return try poll(fds, count, deadline: deadline)
        }
    }

    func sysAlarm() throws(LinuxErrno) -> UInt64 {
        let now = monotonicNanos()
        let old = group.alarmDeadline.map { $0 > now ? ($0 - now + 999_999_999) / 1_000_000_000 : 0 } ?? 0
        let seconds = UInt32(truncatingIfNeeded: a0) // alarm takes an unsigned int
        group.alarmDeadline = seconds == 0 ? nil : now + UInt64(seconds) * 1_000_000_000
        group.alarmInterval = 0
        if seconds != 0 { kernel.startAlarmWatcher() }
        return old
    }

    /// struct itimerval {it_interval, it_value} as two timevals.
    private func itimerval(interval: UInt64, value: UInt64) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 32)
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: Int64(interval / 1_000_000_000), toByteOffset: 0, as: Int64.self)
            p.storeBytes(of: Int64(interval % 1_000_000_000 / 1000), toByteOffset: 8, as: Int64.self)
            p.storeBytes(of: Int64(value / 1_000_000_000), toByteOffset: 16, as: Int64.self)
            p.storeBytes(of: Int64(value % 1_000_000_000 / 1000), toByteOffset: 24, as: Int64.self)
        }
        return b
    }

    private func currentRealTimer() -> (UInt64, UInt64) {
        let now = monotonicNanos()
        let left = group.alarmDeadline.map { $0 > now ? $0 - now : 1000 } ?? 0
        return (group.alarmInterval, left)
    }

    func sysGetitimer() throws(LinuxErrno) -> UInt64 {
        switch a0 {
        case 0:
            let (i, v) = currentRealTimer()
            try mm.write(a1, itimerval(interval: i, value: v))
        case 1, 2: // ITIMER_VIRTUAL, ITIMER_PROF: on the process's CPU time
            let timer = group.cpuTimers[Int(a0) - 1]
            let used = group.cpuNanos()
            let left = timer.deadline.map { $0 > used ? $0 - used : 1000 } ?? 0
            try mm.write(a1, itimerval(interval: timer.interval, value: left))
        default: throw .EINVAL
        }
        return 0
    }

    func sysSetitimer() throws(LinuxErrno) -> UInt64 {
        guard a0 <= 2 else { throw .EINVAL }
        var interval: UInt64 = 0, value: UInt64 = 0
        if a1 != 0 {
            let b = try mm.read(a1, count: 32)
            let f = b.withUnsafeBytes { p in (0..<4).map { p.load(fromByteOffset: $0 * 8, as: Int64.self) } }
            guard f[0] >= 0, f[2] >= 0, (0..<1_000_000).contains(f[1]), (0..<1_000_000).contains(f[3]) else { throw .EINVAL }
            interval = saturatingNanos(seconds: f[0], nanos: f[1] * 1000)
            value = saturatingNanos(seconds: f[2], nanos: f[3] * 1000)
        }
        if a0 != 0 {
            let i = Int(a0) - 1
            let used = group.cpuNanos()
            let old = group.cpuTimers[i]
            if a2 != 0 {
                let left = old.deadline.map { $0 > used ? $0 - used : 1000 } ?? 0
                try mm.write(a2, itimerval(interval: old.interval, value: left))
            }
            group.cpuTimers[i] = (value == 0 ? nil : saturatingAdd(used, value), value == 0 ? 0 : interval)
            if value != 0 { kernel.startAlarmWatcher() }
            return 0
        }
        let (oldInterval, oldValue) = currentRealTimer()
        if a2 != 0 { try mm.write(a2, itimerval(interval: oldInterval, value: oldValue)) }
        group.alarmDeadline = value == 0 ? nil : saturatingAdd(monotonicNanos(), value)
        group.alarmInterval = value == 0 ? 0 : interval
        if value != 0 { kernel.startAlarmWatcher() }
        return 0
    }

    func sysTimes() throws(LinuxErrno) -> UInt64 {
        let ticks = (monotonicNanos() &- kernel.bootTime) / 10_000_000
        if a0 != 0 {
            let own = group.cpuTimes(), children = group.cpuTimes(children: true)
            var b = [UInt8](repeating: 0, count: 32)
            b.withUnsafeMutableBytes { p in
                for (i, ns) in [own.user, own.system, children.user, children.system].enumerated() {
                    p.storeBytes(of: ns / 10_000_000, toByteOffset: 8 * i, as: UInt64.self)
                }
            }
            try mm.write(a0, b)
        }
        return ticks
    }
}

extension Kernel {
    /// alarm(2): one watcher thread raises SIGALRM for processes whose deadline passed.
    /// After the sandbox's wall clock moved by `delta` ns (set, ADJ_SETOFFSET, a leap second),
    /// as Linux's clock_was_set: what waits for a wall-clock time is re-aimed at it (absolute
    /// REALTIME and TAI timers, timerfds and sleeps), timerfds armed with
    /// TFD_TIMER_CANCEL_ON_SET are cancelled, and the vDSO shows the new time.
    func clockWasSet(by delta: Int64) {
        timekeeper.publishWallClock()
        guard delta != 0 else { return }
        wallClockShift &+= delta
        var armed = false
        for t in timerFDs.values {
            if t.onWallClock, let d = t.deadline { t.deadline = moved(d, by: delta); armed = true }
            if t.cancelOnSet { t.cancelled = true; t.queue.notify(EventMask.input) }
        }
        for g in threadGroups.values {
            for t in g.timers.values where t.onWallClock {
                if let d = t.deadline { t.deadline = moved(d, by: delta); armed = true }
            }
        }
        for t in threads.values where t.followsWallClock { t.wakeup.wake() }
        if armed { startAlarmWatcher() }
    }

    func startAlarmWatcher() {
        // A running watcher re-computes its next deadline (the new timer may come first).
        if alarmWatcherRunning { alarmWakeup.wake(); return }
        alarmWatcherRunning = true
        startServiceThread { k in
            k.lock.lock()
            while k.runningThreads > 0 {
                let now = monotonicNanos()
                var next: UInt64?
                if let n = k.fireTimerFDs(now: now) { next = min(next ?? n, n) }
                if let n = k.pushExpiredCorks(now: now) { next = min(next ?? n, n) }
                for g in k.threadGroups.values {
                    if let n = g.firePosixTimers(now: now) { next = min(next ?? n, n) }
                    if g.fireCPUTimers() { next = min(next ?? now + ThreadGroup.cpuPoll, now + ThreadGroup.cpuPoll) } // polled
                    guard let d = g.alarmDeadline else { continue }
                    if d <= now {
                        g.alarmDeadline = g.alarmInterval > 0 ? saturatingAdd(now, g.alarmInterval) : nil
                        g.sendSignal(Signal.SIGALRM, info: SignalInfo(signo: Signal.SIGALRM, code: 0x80))
                        if let n = g.alarmDeadline { next = min(next ?? n, n) }
                    }
                    else { next = min(next ?? d, d) }
                }
                k.alarmWakeup.sleep(k.lock, deadline: next ?? now + 100_000_000)
            }
            k.alarmWatcherRunning = false
            k.lock.unlock()
        }
    }
}

/// The monotonic deadline of a wall-clock time after the clock stepped by `delta` ns: earlier
/// for a step forward (not before 0), later for one back (saturating).
func moved(_ deadline: UInt64, by delta: Int64) -> UInt64 {
    delta >= 0 ? deadline - min(deadline, UInt64(delta)) : saturatingAdd(deadline, delta.magnitude)
}

/// A sleep's monotonic deadline; one aimed at a wall-clock time (`since`: the clock's steps
/// summed then) moves with the clock's later steps (Kernel.clockWasSet).
struct SleepDeadline {
    let aimed: UInt64
    let since: Int64?
    static func monotonic(_ d: UInt64) -> SleepDeadline { SleepDeadline(aimed: d, since: nil) }
}

/// A sleep or poll that a signal without a handler interrupted, to go on with in
/// restart_syscall (Linux's restart_block).
enum RestartBlock {
    /// poll(2): the same descriptors, until the same deadline (nil: none).
    case poll(fds: UInt64, count: UInt64, deadline: UInt64?)
    /// nanosleep or a relative clock_nanosleep: until a monotonic deadline.
    case sleep(deadline: UInt64, remainder: UInt64)
    /// A relative clock_nanosleep on a CPU-time clock: until it reads `target`.
    case cpuSleep(CPUClock, target: UInt64, remainder: UInt64)
}

extension Kernel {
    /// CLOCK_REALTIME as the vDSO reads it (computed as it is until the page is calibrated).
    func realtimeNanos() -> UInt64 { vdso.now(CLOCK_REALTIME) ?? WallClock.realtimeNanos() }
}
