// The kernel lock. The sentry runs one host thread per guest thread; every piece of kernel
// state (tasks, fd tables, filesystems, MM) is guarded by this one lock, which is released
// only while a thread runs guest code or waits. Lock order: KernelLock, then MemoryFile.
import Glibc

public final class KernelLock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()

    public init() {
        pthread_mutex_init(&mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(&cond, &attr)
    }

    public func lock() { pthread_mutex_lock(&mutex) }
    public func unlock() { pthread_mutex_unlock(&mutex) }

    /// Wakes every waiter; they re-check their own condition.
    public func broadcast() { pthread_cond_broadcast(&cond) }

    /// Waits (lock held) until woken or `deadline` (CLOCK_MONOTONIC ns) passes.
    /// Returns false when the deadline passed.
    @discardableResult
    public func wait(deadline: UInt64? = nil) -> Bool {
        guard let deadline else {
            pthread_cond_wait(&cond, &mutex)
            return true
        }
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(&cond, &mutex, &ts) != ETIMEDOUT
    }

    /// Runs `body` with the lock released (for host calls that may block).
    public func unlocked<T>(_ body: () throws -> T) rethrows -> T {
        unlock()
        defer { lock() }
        return try body()
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

public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
