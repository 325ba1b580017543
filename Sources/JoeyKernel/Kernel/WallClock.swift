// The sandbox's wall clock. CLOCK_REALTIME (with its coarse and alarm variants, and TAI) is
// the host's plus what the sandbox has done to it: settimeofday, clock_settime and
// adjtimex(ADJ_SETOFFSET) step it, and adjtimex's tick, frequency, phase-offset (PLL, FLL) and
// adjtime modes slew it, computed once a second as Linux's NTP discipline (kernel/time/ntp.c)
// computes its next second; a leap second the sandbox schedules (STA_INS, STA_DEL) is
// inserted or deleted at UTC midnight. The host's clock is never changed by any of it: the
// host's own discipline goes on underneath. The sandbox's NTP state starts as the host's (read
// before the sentry is confined) and its tick and frequency count from the host's.
//
// One sandbox per sentry process, so the clock is the process's: file times, key expiry and
// core file names read it with no kernel at hand. The guest's vDSO reads the same line from
// its data page (Timekeeper publishes `line`). Lock order: the kernel lock, then this mutex.
import CJoey
import Glibc
import JoeyABI
import Synchronization

enum WallClock {
    /// struct timex's status bits and adjtimex's modes and results (uapi/linux/timex.h).
    static let STA_PLL: Int32 = 0x1, STA_PPSFREQ: Int32 = 0x2, STA_PPSTIME: Int32 = 0x4, STA_FLL: Int32 = 0x8
    static let STA_INS: Int32 = 0x10, STA_DEL: Int32 = 0x20, STA_UNSYNC: Int32 = 0x40, STA_FREQHOLD: Int32 = 0x80
    static let STA_PPSSIGNAL: Int32 = 0x100, STA_PPSJITTER: Int32 = 0x200, STA_PPSWANDER: Int32 = 0x400
    static let STA_PPSERROR: Int32 = 0x800, STA_CLOCKERR: Int32 = 0x1000, STA_NANO: Int32 = 0x2000
    static let STA_MODE: Int32 = 0x4000, STA_RONLY: Int32 = 0xff00 // set by the kernel only
    static let ADJ_OFFSET: UInt32 = 0x1, ADJ_FREQUENCY: UInt32 = 0x2, ADJ_MAXERROR: UInt32 = 0x4
    static let ADJ_ESTERROR: UInt32 = 0x8, ADJ_STATUS: UInt32 = 0x10, ADJ_TIMECONST: UInt32 = 0x20
    static let ADJ_TAI: UInt32 = 0x80, ADJ_SETOFFSET: UInt32 = 0x100, ADJ_MICRO: UInt32 = 0x1000
    static let ADJ_NANO: UInt32 = 0x2000, ADJ_TICK: UInt32 = 0x4000, ADJ_ADJTIME: UInt32 = 0x8000
    static let ADJ_OFFSET_SINGLESHOT: UInt32 = 0x8001, ADJ_OFFSET_READONLY: UInt32 = 0x2000
    static let TIME_OK: Int32 = 0, TIME_INS: Int32 = 1, TIME_DEL: Int32 = 2, TIME_OOP: Int32 = 3
    static let TIME_WAIT: Int32 = 4, TIME_ERROR: Int32 = 5

    // ntp.c's scales: frequencies are ns per second << 32 (NTP_SCALE_SHIFT); the user's
    // frequency is ppm << 16.
    static let MAXPHASE: Int64 = 500_000_000, MAXFREQ: Int64 = 500_000
    static let MAXFREQ_SCALED = MAXFREQ << 32
    static let NTP_PHASE_LIMIT: Int64 = (500_000_000 / 1000) << 5
    static let PPM_SCALE: Int64 = 1000 << 16
    static let PPM_SCALE_INV: Int64 = (1 << 51) / PPM_SCALE + 1 // PPM_SCALE_INV_SHIFT 19
    static let SHIFT_PLL: Int64 = 2, SHIFT_FLL: Int64 = 2, MAXTC: Int64 = 10, MINSEC: Int64 = 256, MAXSEC: Int64 = 2048
    /// adjtime's slew: at most 500 µs a second.
    static let MAX_TICKADJ: Int64 = 500
    static let MAX_TAI_OFFSET: Int64 = 100_000
    /// USER_HZ: the tick is microseconds per 1/100 s, within ±10% of 10000.
    static let tickRange: ClosedRange<Int64> = 9000...11000
    /// The latest time settimeofday takes (TIME_SETTOD_SEC_MAX: KTIME_SEC_MAX less 30 years).
    static let maxSettableSeconds: Int64 = Int64.max / 1_000_000_000 - 30 * 365 * 86400

    /// What the discipline keeps (Linux's variables by their names there).
    struct Discipline {
        var status: Int32 = STA_UNSYNC
        var state: Int32 = TIME_OK
        var maxerror: Int64 = NTP_PHASE_LIMIT, esterror: Int64 = NTP_PHASE_LIMIT
        var constant: Int64 = 2
        var tick: Int64 = 10000
        /// ns per second << 32.
        var freq: Int64 = 0
        /// The phase offset still to slew, ns << 32 (Linux keeps it per tick; this per second).
        var offset: Int64 = 0
        /// adjtime's offset still to slew, µs.
        var adjust: Int64 = 0
        var tai: Int64 = 0
        var reftime: Int64 = 0
        var nextLeap: Int64 = .max
    }

    /// The line the clock follows: `offset` ns ahead of the host's REALTIME at `anchor` (host
    /// MONOTONIC ns), gaining `rate` (ns per ns, << 32) from there until `end`, where the
    /// discipline's current second ends and the timekeeper lays the next.
    struct Line {
        var offset: Int64 = 0
        var anchor: UInt64 = 0
        var end: UInt64 = 0
        var rate: Int64 = 0
    }

    struct State {
        var line = Line()
        var ntp = Discipline()
        /// The host's tick and frequency, which the sandbox's count from.
        var hostTick: Int64 = 10000, hostFreq: Int64 = 0
        /// The TAI offset applied to CLOCK_TAI: the host's until the sandbox sets its own.
        var taiOffset: Int64 = 0
        /// Whether the sandbox has ever set the discipline: until then nothing ages it.
        var owned = false
        /// The kernel's timezone (settimeofday's struct timezone): minutes west, DST type.
        var timezone: (Int32, Int32) = (0, 0)
        /// The current second's PLL and adjtime shares (ns << 32), taken at its start.
        var secondShares: Int64 = 0
    }

    private static let state = Mutex(State())
    /// `line.offset` and whether the line slews, for readers that take no mutex.
    private static let plainOffset = Atomic<Int64>(0)
    private static let slewing = Atomic<Bool>(false)

    /// Takes the host's discipline as the sandbox's: once, before the sentry is confined
    /// (adjtimex is not on its allow-list).
    static func adoptHostDiscipline() {
        var tx = joey_ntp_state()
        let result = joey_adjtimex_read(&tx)
        guard result >= 0 else { return }
        state.withLock { s in
            guard !s.owned else { return }
            s.ntp.status = tx.status
            s.ntp.state = result == TIME_ERROR ? TIME_OK : result
            s.ntp.maxerror = tx.maxerror; s.ntp.esterror = tx.esterror
            s.ntp.constant = tx.constant
            s.ntp.tick = tx.tick; s.hostTick = tx.tick
            s.ntp.freq = userFreqToScaled(tx.freq); s.hostFreq = s.ntp.freq
            s.ntp.tai = Int64(tx.tai); s.taiOffset = Int64(tx.tai)
        }
    }

    // MARK: reading

    /// The sandbox's CLOCK_REALTIME in nanoseconds.
    static func realtimeNanos() -> UInt64 { sandbox(CLOCK_REALTIME, host: hostClockNanos(CLOCK_REALTIME)) }

    /// The sandbox's reading of `clock` (REALTIME, its coarse and alarm variants, TAI) from the
    /// host's reading `host` of it.
    static func sandbox(_ clock: clockid_t, host: UInt64) -> UInt64 {
        switch clock {
        case CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_REALTIME_ALARM, CLOCK_TAI:
            var delta: Int64
            if slewing.load(ordering: .acquiring) {
                let line = state.withLock { $0.line }
                delta = offset(line, at: hostClockNanos(CLOCK_MONOTONIC))
            } else {
                delta = plainOffset.load(ordering: .acquiring)
            }
            // The host's TAI counts the host's TAI offset; the sandbox's counts its own.
            if clock == CLOCK_TAI { delta &+= state.withLock { ($0.ntp.tai - $0.taiOffset) * 1_000_000_000 } }
            return apply(delta, to: host)
        default:
            return host
        }
    }

    /// The line's offset from the host's REALTIME at host MONOTONIC `mono`; the slew stops at
    /// the end of the second, until the timekeeper lays the next second's line.
    static func offset(_ line: Line, at mono: UInt64) -> Int64 {
        guard line.rate != 0 else { return line.offset }
        let elapsed = mono > line.anchor ? min(mono, line.end) &- min(line.anchor, line.end) : 0
        return line.offset &+ gained(elapsed, line.rate)
    }

    private static func gained(_ elapsed: UInt64, _ rate: Int64) -> Int64 {
        let product = Int64(elapsed).multipliedFullWidth(by: rate)
        // The 128-bit product shifted right by 32, as the vDSO's (int128 * rate) >> 32.
        return Int64(truncatingIfNeeded: (UInt64(bitPattern: product.high) << 32) | (product.low >> 32))
    }

    private static func apply(_ offset: Int64, to host: UInt64) -> UInt64 {
        offset >= 0 ? host &+ UInt64(offset) : host &- min(host, offset.magnitude)
    }

    /// The line to publish in the vDSO's data page.
    static var line: Line { state.withLock { $0.line } }

    static var timezone: (minutesWest: Int32, dstTime: Int32) {
        let tz = state.withLock { $0.timezone }
        return (tz.0, tz.1)
    }

    // MARK: setting

    /// Steps the clock to `target` ns (settimeofday, clock_settime): EINVAL past the latest
    /// settable time or before the sandbox's MONOTONIC (the clock may not go back past boot).
    /// Returns by how much it moved.
    static func set(to target: UInt64) throws(LinuxErrno) -> Int64 {
        guard target / 1_000_000_000 <= UInt64(maxSettableSeconds) else { throw .EINVAL }
        let mono = hostClockNanos(CLOCK_MONOTONIC)
        guard target >= mono else { throw .EINVAL }
        let now = realtimeNanos()
        let delta = target >= now ? Int64(target - now) : -Int64(now - target)
        step(by: delta)
        return delta
    }

    /// Moves the clock by `delta` ns (adjtimex ADJ_SETOFFSET): EINVAL when it would leave the
    /// settable range.
    static func shift(by delta: Int64) throws(LinuxErrno) -> Int64 {
        let now = realtimeNanos()
        let (target, overflow) = Int64(bitPattern: now).addingReportingOverflow(delta)
        guard !overflow, target >= 0 else { throw .EINVAL }
        return try set(to: UInt64(target))
    }

    private static func step(by delta: Int64) {
        state.withLock { s in
            s.line.offset &+= delta
            plainOffset.store(s.line.offset, ordering: .releasing)
        }
    }

    static func setTimezone(minutesWest: Int32, dstTime: Int32) throws(LinuxErrno) {
        guard (-15 * 60)...(15 * 60) ~= minutesWest else { throw .EINVAL }
        state.withLock { $0.timezone = (minutesWest, dstTime) }
    }

    // MARK: adjtimex

    /// struct timex, the fields adjtimex reads and writes (x86-64 offsets).
    struct Timex {
        var bytes: [UInt8]
        func int(_ at: Int) -> Int32 { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: Int32.self) } }
        func long(_ at: Int) -> Int64 { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: Int64.self) } }
        mutating func set(_ at: Int, int v: Int32) { bytes.withUnsafeMutableBytes { $0.storeBytes(of: v, toByteOffset: at, as: Int32.self) } }
        mutating func set(_ at: Int, long v: Int64) { bytes.withUnsafeMutableBytes { $0.storeBytes(of: v, toByteOffset: at, as: Int64.self) } }
        static let size = 208
        static let modes = 0, offset = 8, freq = 16, maxerror = 24, esterror = 32, status = 40, constant = 48
        static let precision = 56, tolerance = 64, timeSec = 72, timeUsec = 80, tick = 88, ppsfreq = 96, jitter = 104
        static let shift = 112, stabil = 120, jitcnt = 128, calcnt = 136, errcnt = 144, stbcnt = 152, tai = 160
    }

    /// adjtimex(2) on the sandbox's clock, Linux's do_adjtimex: the modes checked (EPERM
    /// without `mayAdjust` for any change, EINVAL for a bad mode, tick or offset), the time
    /// injected, the discipline updated; `tx` is filled in and the clock's state returned.
    static func adjust(_ tx: inout Timex, mayAdjust: Bool) throws(LinuxErrno) -> (result: Int32, stepped: Int64) {
        let modes = UInt32(bitPattern: tx.int(Timex.modes))
        if modes & ADJ_ADJTIME != 0 {
            // adjtime(3)'s mode, alone.
            guard modes & ADJ_OFFSET_SINGLESHOT == ADJ_OFFSET_SINGLESHOT else { throw .EINVAL }
            guard modes & ADJ_OFFSET_READONLY != 0 || mayAdjust else { throw .EPERM }
        } else {
            guard modes == 0 || mayAdjust else { throw .EPERM }
            if modes & ADJ_TICK != 0 && !tickRange.contains(tx.long(Timex.tick)) { throw .EINVAL }
        }
        if modes & ADJ_SETOFFSET != 0 {
            guard mayAdjust else { throw .EPERM }
            let usec = tx.long(Timex.timeUsec)
            guard usec >= 0, usec < (modes & ADJ_NANO != 0 ? 1_000_000_000 : 1_000_000) else { throw .EINVAL }
        }
        if modes & ADJ_FREQUENCY != 0 {
            // The scaled frequency must not overflow (64-bit Linux checks the same).
            let f = tx.long(Timex.freq)
            guard f >= Int64.min / PPM_SCALE, f <= Int64.max / PPM_SCALE else { throw .EINVAL }
        }
        var stepped: Int64 = 0
        if modes & ADJ_SETOFFSET != 0 {
            let sec = tx.long(Timex.timeSec), sub = tx.long(Timex.timeUsec)
            let nanos = modes & ADJ_NANO != 0 ? sub : sub * 1000
            let (s, o1) = sec.multipliedReportingOverflow(by: 1_000_000_000)
            let (delta, o2) = s.addingReportingOverflow(nanos)
            guard !o1, !o2 else { throw .EINVAL }
            stepped = try shift(by: delta)
        }
        let now = realtimeNanos()
        let nowSeconds = Int64(now / 1_000_000_000)
        return state.withLock { (s: inout State) -> (result: Int32, stepped: Int64) in
            var result: Int32
            if modes & ADJ_ADJTIME != 0 {
                let saved = s.ntp.adjust
                if modes & ADJ_OFFSET_READONLY == 0 {
                    s.ntp.adjust = tx.long(Timex.offset)
                    s.owned = true
                    relay(&s)
                }
                tx.set(Timex.offset, long: saved)
            } else {
                if modes != 0 {
                    s.owned = true
                    apply(modes, tx, &s, nowSeconds: nowSeconds)
                    relay(&s)
                }
                var reported = shiftRight(s.ntp.offset, 32)
                if s.ntp.status & STA_NANO == 0 { reported = Int64(UInt32(truncatingIfNeeded: reported) / 1000) }
                tx.set(Timex.offset, long: reported)
            }
            result = isError(s.ntp.status) ? TIME_ERROR : s.ntp.state
            tx.set(Timex.freq, long: shiftRight((s.ntp.freq >> 19) &* PPM_SCALE_INV, 32))
            tx.set(Timex.maxerror, long: s.ntp.maxerror)
            tx.set(Timex.esterror, long: s.ntp.esterror)
            tx.set(Timex.status, int: s.ntp.status)
            tx.set(Timex.constant, long: s.ntp.constant)
            tx.set(Timex.precision, long: 1)
            tx.set(Timex.tolerance, long: MAXFREQ_SCALED / PPM_SCALE)
            tx.set(Timex.tick, long: s.ntp.tick)
            tx.set(Timex.tai, int: Int32(truncatingIfNeeded: s.ntp.tai))
            // No PPS signal: its fields are zero, as Linux's without CONFIG_NTP_PPS.
            for field in [Timex.ppsfreq, Timex.jitter, Timex.stabil, Timex.jitcnt, Timex.calcnt, Timex.errcnt, Timex.stbcnt] {
                tx.set(field, long: 0)
            }
            tx.set(Timex.shift, int: 0)
            var sec = nowSeconds, sub = Int64(now % 1_000_000_000)
            if s.ntp.status & STA_NANO == 0 { sub /= 1000 }
            // A leap second due but not yet made shows as made (Linux's __do_adjtimex).
            if sec >= s.ntp.nextLeap {
                if s.ntp.state == TIME_INS && s.ntp.status & STA_INS != 0 {
                    result = TIME_OOP; tx.set(Timex.tai, int: Int32(truncatingIfNeeded: s.ntp.tai + 1)); sec -= 1
                }
                if s.ntp.state == TIME_DEL && s.ntp.status & STA_DEL != 0 {
                    result = TIME_WAIT; tx.set(Timex.tai, int: Int32(truncatingIfNeeded: s.ntp.tai - 1)); sec += 1
                }
                if s.ntp.state == TIME_OOP && sec == s.ntp.nextLeap { result = TIME_WAIT }
            }
            tx.set(Timex.timeSec, long: sec)
            tx.set(Timex.timeUsec, long: sub)
            return (result, stepped)
        }
    }

    /// process_adjtimex_modes.
    private static func apply(_ modes: UInt32, _ tx: Timex, _ s: inout State, nowSeconds: Int64) {
        if modes & ADJ_STATUS != 0 {
            let new = tx.int(Timex.status)
            if s.ntp.status & STA_PLL != 0 && new & STA_PLL == 0 {
                s.ntp.state = TIME_OK
                s.ntp.status = STA_UNSYNC
                s.ntp.nextLeap = .max
            }
            // Turning the PLL on starts its reference time now.
            if s.ntp.status & STA_PLL == 0 && new & STA_PLL != 0 { s.ntp.reftime = nowSeconds }
            s.ntp.status &= STA_RONLY
            s.ntp.status |= new & ~STA_RONLY
        }
        if modes & ADJ_NANO != 0 { s.ntp.status |= STA_NANO }
        if modes & ADJ_MICRO != 0 { s.ntp.status &= ~STA_NANO }
        if modes & ADJ_FREQUENCY != 0 {
            s.ntp.freq = max(-MAXFREQ_SCALED, min(MAXFREQ_SCALED, tx.long(Timex.freq) &* PPM_SCALE))
        }
        if modes & ADJ_MAXERROR != 0 { s.ntp.maxerror = max(0, min(NTP_PHASE_LIMIT, tx.long(Timex.maxerror))) }
        if modes & ADJ_ESTERROR != 0 { s.ntp.esterror = max(0, min(NTP_PHASE_LIMIT, tx.long(Timex.esterror))) }
        if modes & ADJ_TIMECONST != 0 {
            var c = max(0, min(MAXTC, tx.long(Timex.constant)))
            if s.ntp.status & STA_NANO == 0 { c += 4 }
            s.ntp.constant = max(0, min(MAXTC, c))
        }
        if modes & ADJ_TAI != 0 {
            let c = tx.long(Timex.constant)
            if c >= 0 && c <= MAX_TAI_OFFSET { s.ntp.tai = c }
        }
        if modes & ADJ_OFFSET != 0 { updateOffset(tx.long(Timex.offset), &s, nowSeconds: nowSeconds) }
        if modes & ADJ_TICK != 0 { s.ntp.tick = tx.long(Timex.tick) }
    }

    /// ntp_update_offset: a measured phase offset feeds the PLL (or, with long intervals or
    /// STA_FLL, the FLL): part corrects the frequency, the rest is slewed over the seconds to come.
    private static func updateOffset(_ raw: Int64, _ s: inout State, nowSeconds: Int64) {
        guard s.ntp.status & STA_PLL != 0 else { return }
        var offset = raw
        if s.ntp.status & STA_NANO == 0 { offset = max(-1_000_000, min(1_000_000, offset)) * 1000 }
        offset = max(-MAXPHASE, min(MAXPHASE, offset))
        var secs = nowSeconds - s.ntp.reftime
        if s.ntp.status & STA_FREQHOLD != 0 { secs = 0 }
        s.ntp.reftime = nowSeconds
        // ntp_update_offset_fll
        var freqAdjust: Int64 = 0
        s.ntp.status &= ~STA_MODE
        if secs >= MINSEC && (s.ntp.status & STA_FLL != 0 || secs > MAXSEC) {
            s.ntp.status |= STA_MODE
            freqAdjust = (offset << (32 - SHIFT_FLL)) / secs
        }
        secs = min(secs, 1 << (SHIFT_PLL + 1 + s.ntp.constant))
        freqAdjust &+= (offset &* secs) << (32 - 2 * (SHIFT_PLL + 2 + s.ntp.constant))
        s.ntp.freq = max(-MAXFREQ_SCALED, min(MAXFREQ_SCALED, freqAdjust &+ s.ntp.freq))
        s.ntp.offset = offset << 32
    }

    private static func isError(_ status: Int32) -> Bool {
        status & (STA_UNSYNC | STA_CLOCKERR) != 0
            || (status & (STA_PPSFREQ | STA_PPSTIME) != 0 && status & STA_PPSSIGNAL == 0)
            || status & (STA_PPSTIME | STA_PPSJITTER) == (STA_PPSTIME | STA_PPSJITTER)
            || (status & STA_PPSFREQ != 0 && status & (STA_PPSWANDER | STA_PPSERROR) != 0)
    }

    private static func shiftRight(_ v: Int64, _ n: Int64) -> Int64 { v < 0 ? -((-v) >> n) : v >> n }

    /// The frequency adjtimex reports (ppm << 16) as ns per second << 32.
    private static func userFreqToScaled(_ f: Int64) -> Int64 { max(-MAXFREQ_SCALED, min(MAXFREQ_SCALED, f &* PPM_SCALE)) }

    // MARK: the second

    /// Lays the current second's line again after a change to the tick or frequency: the
    /// rest of the second slews at the new rate, the phase and adjtime shares it already
    /// took kept (Linux's ntp_update_frequency).
    private static func relay(_ s: inout State) {
        let mono = hostClockNanos(CLOCK_MONOTONIC)
        s.line.offset = offset(s.line, at: mono)
        s.line.anchor = mono
        if s.line.end <= mono { s.line.end = mono &+ 1_000_000_000 }
        s.line.rate = (baseGain(s) &+ s.secondShares) / 1_000_000_000
        publishPlain(s)
    }

    /// The ns (<< 32) a second gains over the host's clock from the tick's and frequency's
    /// difference from the host's.
    private static func baseGain(_ s: State) -> Int64 {
        (((s.ntp.tick - s.hostTick) &* 100_000) << 32) &+ (s.ntp.freq &- s.hostFreq)
    }

    /// The next second's shares of what is left to slew, taken from it (second_overflow): the
    /// PLL's part of the phase offset, and adjtime's offset at most 500 µs.
    private static func takeShares(_ s: inout State) {
        let chunk = shiftRight(s.ntp.offset, SHIFT_PLL + s.ntp.constant)
        s.ntp.offset &-= chunk
        var shares = chunk
        if s.ntp.adjust != 0 {
            let step = max(-MAX_TICKADJ, min(MAX_TICKADJ, s.ntp.adjust))
            s.ntp.adjust -= step
            shares &+= (step * 1000) << 32
        }
        s.secondShares = shares
    }

    /// Whether the discipline has anything to do at the next second: then the timekeeper
    /// wakes for it.
    static var active: Bool {
        state.withLock { s in
            s.line.rate != 0 || s.ntp.offset != 0 || s.ntp.adjust != 0 || s.ntp.status & (STA_INS | STA_DEL) != 0
                || s.ntp.state != TIME_OK || (s.owned && s.ntp.maxerror < NTP_PHASE_LIMIT)
        }
    }

    /// Host MONOTONIC ns when the discipline next has work: the end of the current second,
    /// or a leap second due before it.
    static var nextEvent: UInt64 {
        state.withLock { s in
            var next = s.line.end
            if s.ntp.nextLeap != .max, s.ntp.state == TIME_INS || s.ntp.state == TIME_DEL {
                let mono = hostClockNanos(CLOCK_MONOTONIC)
                let now = apply(offset(s.line, at: mono), to: hostClockNanos(CLOCK_REALTIME))
                let leap = UInt64(max(0, s.ntp.nextLeap)) &* 1_000_000_000
                next = min(next, leap > now ? mono &+ (leap - now) : mono)
            }
            return next
        }
    }

    /// Runs the discipline's second for every whole second since the line was laid (Linux's
    /// second_overflow): folds the second's slew into the offset, ages maxerror, moves the
    /// leap second state, and lays the next second's line; and makes a leap second that is
    /// due. Returns the step a leap second made (0 for none): the caller re-arms what waits
    /// on the clock. Called by the timekeeper.
    static func advance() -> Int64 {
        let mono = hostClockNanos(CLOCK_MONOTONIC)
        return state.withLock { s in
            guard s.line.rate != 0 || s.owned || s.ntp.status & (STA_INS | STA_DEL) != 0 || s.ntp.state != TIME_OK else {
                s.line.anchor = mono
                s.line.end = mono &+ 1_000_000_000
                return 0
            }
            // Never laid, or after a long stop: the seconds missed are run as one (nothing
            // is gained past it; maxerror ages by all of them).
            if s.line.end == 0 || mono > s.line.end &+ 3600 * 1_000_000_000 {
                if s.owned && s.line.end != 0 {
                    let missed = Int64((mono - s.line.end) / 1_000_000_000)
                    s.ntp.maxerror = min(NTP_PHASE_LIMIT, s.ntp.maxerror &+ missed &* (MAXFREQ / 1000))
                }
                s.line.offset = offset(s.line, at: mono)
                s.line.anchor = mono
                s.line.end = mono
            }
            while mono >= s.line.end {
                s.line.offset = offset(s.line, at: s.line.end)
                s.line.anchor = s.line.end
                s.line.end &+= 1_000_000_000
                secondBegun(&s, second: realtimeSecond(s, mono: s.line.anchor))
                if s.owned {
                    s.ntp.maxerror &+= MAXFREQ / 1000
                    if s.ntp.maxerror > NTP_PHASE_LIMIT { s.ntp.maxerror = NTP_PHASE_LIMIT; s.ntp.status |= STA_UNSYNC }
                }
                takeShares(&s)
                s.line.rate = (baseGain(s) &+ s.secondShares) / 1_000_000_000
            }
            // A leap second is made when the clock reaches it, not at the next whole second.
            var step: Int64 = 0
            if s.ntp.nextLeap != .max && realtimeSecond(s, mono: mono) >= s.ntp.nextLeap {
                if s.ntp.state == TIME_INS {
                    step = -1_000_000_000; s.ntp.tai += 1; s.ntp.state = TIME_OOP
                } else if s.ntp.state == TIME_DEL {
                    step = 1_000_000_000; s.ntp.tai -= 1; s.ntp.nextLeap = .max; s.ntp.state = TIME_WAIT
                }
                s.line.offset &+= step
            }
            publishPlain(s)
            return step
        }
    }

    /// The sandbox's REALTIME second at host MONOTONIC `mono` (now, or just past).
    private static func realtimeSecond(_ s: State, mono: UInt64) -> Int64 {
        let now = hostClockNanos(CLOCK_MONOTONIC)
        let host = hostClockNanos(CLOCK_REALTIME) &+ (mono > now ? mono - now : 0)
        return Int64(apply(offset(s.line, at: mono), to: host) / 1_000_000_000)
    }

    /// The leap second state machine at the start of `second` (second_overflow's): a leap
    /// second asked for is scheduled for the coming UTC midnight (a deletion, for the second
    /// before it); one made passes through TIME_OOP and TIME_WAIT back to TIME_OK.
    private static func secondBegun(_ s: inout State, second: Int64) {
        switch s.ntp.state {
        case TIME_OK:
            if s.ntp.status & STA_INS != 0 {
                s.ntp.state = TIME_INS
                s.ntp.nextLeap = second + 86400 - ((second % 86400) + 86400) % 86400
            } else if s.ntp.status & STA_DEL != 0 {
                s.ntp.state = TIME_DEL
                s.ntp.nextLeap = second + 86400 - (((second + 1) % 86400) + 86400) % 86400
            }
        case TIME_INS:
            if s.ntp.status & STA_INS == 0 { s.ntp.nextLeap = .max; s.ntp.state = TIME_OK }
        case TIME_DEL:
            if s.ntp.status & STA_DEL == 0 { s.ntp.nextLeap = .max; s.ntp.state = TIME_OK }
        case TIME_OOP:
            s.ntp.nextLeap = .max; s.ntp.state = TIME_WAIT
        default: // TIME_WAIT
            if s.ntp.status & (STA_INS | STA_DEL) == 0 { s.ntp.state = TIME_OK }
        }
    }

    private static func publishPlain(_ s: State) {
        plainOffset.store(s.line.offset, ordering: .releasing)
        slewing.store(s.line.rate != 0, ordering: .releasing)
    }
}
