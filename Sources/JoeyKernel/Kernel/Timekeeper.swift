// Timekeeper: keeps the vDSO's data page current. The guest computes CLOCK_MONOTONIC as a
// line over the TSC (mono_base + (tsc - tsc_base) * rate); this thread measures that line
// against the host's clock and lays a new one from where the old one is, so readings never
// go back: the error left is slewed away over the next interval (at most 0.1% faster or
// slower), or, when the line is more than a millisecond behind (a host suspend, a stopped
// sentry), stepped forward. REALTIME and BOOTTIME are MONOTONIC plus offsets taken from the
// host, changed only when the host's clock is stepped.
//
// The rate is the TSC's over all the samples since the sandbox started, so it gets better
// with time; updates start every 10 ms and back off to one a second. Without an invariant
// TSC the page is never marked ready and every vDSO call makes the system call.
//
// REALTIME is the sandbox's own (Kernel/WallClock.swift): its offset from the host's and its
// slew are published with the line, at each update and at once when a guest sets the clock.
//
// Writers of the page (this thread, `run` before it starts, a guest's clock change) take
// `writer`; readers (the guest's vDSO, the sentry's clock_gettime) follow its sequence count.
// No kernel lock is needed; one held is taken before `writer`.
import CJoey
import Glibc
import Synchronization

final class Timekeeper {
    private let vdso: VDSO
    private let usable = joey_cpu_has_invariant_tsc() != 0
    /// The first sample: the rate is measured from it.
    private let origin: Sample
    private var params = joey_vdso_data()
    private var published = false
    /// REALTIME minus MONOTONIC on the host, as last measured.
    private var hostRealtimeOffset: Int64 = 0
    private let writer = Mutex<Void>(())
    private(set) var interval: UInt64 = 10_000_000
    static let maxInterval: UInt64 = 1_000_000_000
    /// Errors beyond this are stepped (forward only), not slewed.
    private static let maxSlew: Int64 = 1_000_000
    /// The largest error the last publish corrected, for the debug log.
    private(set) var lastError: Int64 = 0

    struct Sample {
        var tsc: UInt64
        var mono: UInt64
    }

    init(vdso: VDSO) {
        self.vdso = vdso
        origin = Timekeeper.sample()
    }

    /// A cheap timestamp for measuring short intervals on a hot path (system time): the TSC,
    /// or the monotonic clock in nanoseconds without a usable one. Any thread.
    @inline(__always) func cycles() -> UInt64 { usable ? joey_rdtsc_unordered() : monotonicNanos() }

    /// A sum of `cycles()` differences in nanoseconds, at the TSC's rate measured since the
    /// sandbox started. Any thread.
    func nanos(cycles: UInt64) -> UInt64 {
        guard usable else { return cycles }
        let tsc = joey_rdtsc(), mono = monotonicNanos()
        guard tsc > origin.tsc, mono > origin.mono else { return 0 }
        return UInt64(Double(cycles) * (Double(mono - origin.mono) / Double(tsc - origin.tsc)))
    }

    /// Nanoseconds as `cycles()` units (the inverse of nanos(cycles:)). Any thread.
    func cycles(nanos: UInt64) -> UInt64 {
        guard usable else { return nanos }
        let tsc = joey_rdtsc(), mono = monotonicNanos()
        guard tsc > origin.tsc, mono > origin.mono else { return 0 }
        return UInt64(Double(nanos) * (Double(tsc - origin.tsc) / Double(mono - origin.mono)))
    }

    /// The host's MONOTONIC and the TSC at (nearly) the same instant: the tightest of a few
    /// bracketed reads, the TSC taken as the middle of the bracket.
    static func sample() -> Sample {
        var best = Sample(tsc: 0, mono: 0)
        var width = UInt64.max
        for _ in 0..<3 {
            let t0 = joey_rdtsc()
            let mono = hostClockNanos(CLOCK_MONOTONIC)
            let t1 = joey_rdtsc()
            if t1 &- t0 < width { width = t1 &- t0; best = Sample(tsc: t0 &+ (t1 &- t0) / 2, mono: mono) }
        }
        return best
    }

    /// `clock` minus MONOTONIC on the host, read between two MONOTONIC reads.
    private static func offset(_ clock: clockid_t) -> Int64 {
        let m0 = hostClockNanos(CLOCK_MONOTONIC)
        let c = hostClockNanos(clock)
        let m1 = hostClockNanos(CLOCK_MONOTONIC)
        return Int64(bitPattern: c &- (m0 &+ (m1 &- m0) / 2))
    }

    /// The published line at `tsc`.
    private func line(_ tsc: UInt64) -> UInt64 {
        let delta = tsc >= params.tsc_base ? tsc - params.tsc_base : 0
        let p = delta.multipliedFullWidth(by: params.mult)
        return params.mono_base &+ (p.high << 32 | p.low >> 32)
    }

    /// Measures and publishes a new line; false (and nothing published) while too little
    /// time has passed since the origin to measure the rate, or without a usable TSC.
    @discardableResult
    func update() -> Bool {
        writer.withLock { _ in updateLocked() }
    }

    /// Publishes the sandbox's wall clock (its offset, slew and timezone) after a change to
    /// it, keeping the rest of the line.
    func publishWallClock() {
        writer.withLock { _ in
            var p = params
            setWallClock(&p)
            params = p
            joey_vdso_publish(vdso.data, &params)
        }
    }

    private func setWallClock(_ p: inout joey_vdso_data) {
        let line = WallClock.line
        p.realtime_offset = hostRealtimeOffset &+ line.offset
        p.real_anchor = line.anchor
        p.real_end = line.end
        p.real_rate = line.rate
        let tz = WallClock.timezone
        p.tz_minuteswest = tz.minutesWest
        p.tz_dsttime = tz.dstTime
    }

    private func updateLocked() -> Bool {
        guard usable else { return false }
        let s = Timekeeper.sample()
        guard s.tsc > origin.tsc, s.mono > origin.mono + 500_000 else { return false }
        var rate = Double(s.mono - origin.mono) / Double(s.tsc - origin.tsc)
        var base = s.mono
        if published {
            let current = line(s.tsc)
            let error = Int64(bitPattern: s.mono &- current)
            lastError = error
            if error <= Timekeeper.maxSlew {
                // Continue from the old line and close the gap over the next interval.
                base = current
                let correction = max(-0.001, min(0.001, Double(error) / Double(interval)))
                rate *= 1 + correction
            }
        }
        var p = params
        p.tsc_base = s.tsc
        p.mono_base = base
        p.mult = UInt64(rate * 4_294_967_296)
        // BOOTTIME is MONOTONIC plus the time suspended: never behind it, whatever the noise
        // of the reading (tens of ns either way) says.
        let realtime = Timekeeper.offset(CLOCK_REALTIME), boottime = max(0, Timekeeper.offset(CLOCK_BOOTTIME))
        // Reading noise is tens of ns; a host clock step is far more.
        if !published || abs(realtime - hostRealtimeOffset) > 1_000 { hostRealtimeOffset = realtime }
        setWallClock(&p)
        if !published || abs(boottime - p.boottime_offset) > 1_000 { p.boottime_offset = boottime }
        p.ready = 1
        params = p
        joey_vdso_publish(vdso.data, &params)
        published = true
        return true
    }

    /// Waits for the next update: the interval doubles up to a second; sooner when the
    /// sandbox's clock discipline has a second to run or a leap second to make.
    func sleepUntilNext() {
        var wait = interval
        if WallClock.active {
            let now = hostClockNanos(CLOCK_MONOTONIC), next = WallClock.nextEvent
            wait = min(wait, next > now ? next - now : 0)
        }
        if wait > 0 { usleep(useconds_t(max(1, wait / 1_000))) }
        interval = min(interval * 2, Timekeeper.maxInterval)
    }
}
