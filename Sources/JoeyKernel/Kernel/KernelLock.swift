// The kernel lock. The sentry runs one host thread per guest thread; kernel state (tasks,
// fd tables, filesystems, MM, wait queues) is guarded by this one lock. A thread releases it
// while its guest code runs, while it sleeps (on its own Wakeup: see Waiter/), around host
// calls that may take long (host stream reads and writes, fsync, host file reads that wait
// for the disk, writes to write-through host files, filling a file's private-mapping image,
// host lookups and listings a path walk would wait for: Kernel.unlockedHostCall), and between
// the pieces of a large read or write (files, /dev/zero) when another thread waits
// (yieldToWaiter). Lock order: KernelLock, then MemoryFile's allocator lock.
import CJoey
import Glibc
import Synchronization

public final class KernelLock: @unchecked Sendable {
    /// Allocated, not a stored property: `&property` of a class is an exclusive access the
    /// runtime checks on every use (lock's spin tests the mutex thousands of times), and a
    /// mutex must not move.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        m.initialize(to: pthread_mutex_t())
        // Adaptive: a waiter past lock()'s own spin still spins briefly before it sleeps.
        if joey_mutex_init_adaptive(m) != 0 { pthread_mutex_init(m, nil) }
        return m
    }()

    public init() {}

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Threads waiting in lock() (not counting wakeups retaking it after a sleep).
    private let waiting = Atomic<Int>(0)

    public func lock() {
        if pthread_mutex_trylock(mutex) == 0 { return }
        waiting.add(1, ordering: .relaxed)
        defer { waiting.subtract(1, ordering: .relaxed) }
        // Spin for a while before sleeping: the holder is mostly another guest thread's
        // sentry thread handling a system call on another CPU, done within microseconds,
        // while the futex wake-up a sleeping waiter needs costs 6-9 µs across CPUs here and
        // this thread's stub has nothing to run meanwhile. Two processes doing open/read/close
        // side by side: 12-15 µs a call triple (the adaptive mutex's short spin) to 8-9 µs.
        // A yield between rounds lets a holder that shares this CPU run, once the wait is
        // longer than a system call usually holds the lock: before that, a yield mostly hands
        // the CPU to this thread's own stub (pinned beside it and waiting for the reply),
        // which hands it straight back, two switches for nothing.
        let start = monotonicNanos()
        while true {
            for _ in 0..<Self.pausesPerRound {
                if joey_mutex_held(mutex) == 0 { break }
                joey_cpu_relax()
            }
            if joey_mutex_held(mutex) == 0 && pthread_mutex_trylock(mutex) == 0 { return }
            let waited = monotonicNanos() &- start
            if waited >= Self.spinNanos { break }
            if waited >= Self.quietSpinNanos { sched_yield() }
        }
        pthread_mutex_lock(mutex)
    }

    private static let spinNanos: UInt64 = 20_000
    private static let quietSpinNanos: UInt64 = 8_000
    private static let pausesPerRound = 64
    public func unlock() { pthread_mutex_unlock(mutex) }

    /// Between the pieces of long work done with the lock held (a large read): when another
    /// thread waits for the lock, lets it have the lock once before going on. A plain unlock
    /// and lock would mostly take the lock straight back, a sleeping waiter being slower to
    /// wake than the holder is to return. True when the lock was let go.
    func yieldToWaiter() -> Bool {
        let waiters = waiting.load(ordering: .relaxed)
        guard waiters > 0 else { return false }
        unlock()
        // Until a waiter has the lock (it counts itself out), for a bounded time.
        let deadline = monotonicNanos() &+ 50_000
        while waiting.load(ordering: .relaxed) >= waiters && monotonicNanos() < deadline { joey_cpu_relax() }
        lock()
        return true
    }

    /// Waits (lock held) on `condition` until signalled or the CLOCK_MONOTONIC `deadline`
    /// (ns) passes. Returns false when the deadline passed.
    func wait(on condition: UnsafeMutablePointer<pthread_cond_t>, deadline: UInt64?) -> Bool {
        guard let deadline else {
            pthread_cond_wait(condition, mutex)
            return true
        }
        var ts = timespec(tv_sec: Int(min(deadline / 1_000_000_000, UInt64(Int.max))), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(condition, mutex, &ts) != ETIMEDOUT
    }

}

/// sec * 1e9 + nsec for guest-supplied values, saturating at Int64.max (Linux's KTIME_MAX).
func saturatingNanos(seconds: Int64, nanos: Int64) -> UInt64 {
    guard seconds >= 0, nanos >= 0 else { return 0 }
    let (s, o1) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
    let (t, o2) = s.addingReportingOverflow(UInt64(nanos))
    return o1 || o2 || t > UInt64(Int64.max) ? UInt64(Int64.max) : t
}

/// a + b, saturating at UInt64.max.
func saturatingAdd(_ a: UInt64, _ b: UInt64) -> UInt64 {
    let (r, o) = a.addingReportingOverflow(b)
    return o ? UInt64.max : r
}

public func monotonicNanos() -> UInt64 { hostClockNanos(CLOCK_MONOTONIC) }

/// The monotonic deadline `seconds` and `nanos` from now (a guest's relative timeout; a
/// huge one saturates, so it never wraps into the past).
func monotonicDeadline(afterSeconds seconds: Int64, nanos: Int64) -> UInt64 {
    saturatingAdd(monotonicNanos(), saturatingNanos(seconds: seconds, nanos: nanos))
}

/// The monotonic deadline of the absolute time `nanos` on `clock` as the sandbox reads it
/// (its own wall clock for REALTIME and TAI; now, for a time already past; saturating).
func monotonicDeadline(at nanos: UInt64, on clock: clockid_t) -> UInt64 {
    let now = WallClock.sandbox(clock, host: hostClockNanos(clock))
    return saturatingAdd(monotonicNanos(), nanos > now ? nanos - now : 0)
}

/// The host's `clock` in nanoseconds.
func hostClockNanos(_ clock: clockid_t) -> UInt64 {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
