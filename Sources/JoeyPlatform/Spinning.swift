// Where and how a guest thread's two halves (its stub thread and its sentry thread) wait for
// each other. Measured here (2 vCPUs, nested virtualization): a futex wake-up across CPUs
// costs 6-9 µs, one on the same CPU about 2 µs, and a spinning waiter sees the other side at
// once. So:
// - while the awake guest threads fit twice on the CPUs (each half can have its own), the
//   halves run where the host puts them and spin before they sleep;
// - beyond that a spinner would take the CPU the other half needs: both halves are pinned
//   to one home CPU (the one with the fewest awake pairs at home) and hand over without
//   spinning, by sched_yield (which runs the other half at once, with no wake-up to pay;
//   a yield round trip costs about 2.6 µs here, a futex one 4.5 µs) and then by futex, so
//   each pair costs one CPU and pairs spread over the CPUs.
// A sandbox counts only its own threads: the CPUs it thinks spare may be busy with another
// sandbox's or the host's work. So a spinning pair also watches what spinning achieves: when
// more than a quarter of its handoffs in a window of runs find the other half asleep (it
// gave up spinning: measured, a window almost always has none alone and 40-47 of 64 beside a
// second sandbox), the pair is pinned and does not spin for a while, twice as long after
// each window that failed again (two sandboxes doing open/read/close side by side went from
// 107 to 29-35 µs a call triple each, as fast as with each sandbox held to a CPU of its own).
// On ptrace the tracer sleeps in waitpid at every stop, so its pairs are always pinned.
// The kernel reports its guest threads' sleeps (`awoke`, `sleeps`). The affinity the sentry
// started with (the user's taskset or a container's cpuset) bounds every pin.
import CJoey
import Glibc
import Synchronization

/// How many host CPUs the sandbox may use: the sentry's affinity when it started (glibc's
/// sysconf counts the calling thread's affinity, which is one CPU on a pinned sentry thread).
public enum HostCPUs {
    public static var usable: Int { Spinning.cpus.count }
    /// The numbers the guest knows them by: the host's (getcpu, the vDSO's too, reports the
    /// host CPU a thread runs on), as a program under `taskset` sees natively; the first
    /// `usable` numbers instead when some host number does not fit the 64-bit masks the
    /// sentry keeps.
    public static let ids: [Int] = {
        let host = Spinning.cpus.map { Int($0) }
        return host.allSatisfy({ $0 >= 0 && $0 < 64 }) ? host : Array(0..<min(host.count, 64))
    }()
    /// `ids` as a CPU mask (sched_getaffinity's, /proc's Cpus_allowed).
    public static let mask: UInt64 = ids.reduce(0) { $0 | 1 << UInt64($1) }
}

public enum Spinning {
    private static let awake = Atomic<Int>(0)
    /// The CPUs the sentry may run on (taken when the platform starts, before any pin).
    static let cpus: [Int32] = {
        var out = [Int32](repeating: 0, count: 1024)
        let n = out.withUnsafeMutableBufferPointer { joey_allowed_cpus($0.baseAddress, 1024) }
        return n > 0 ? Array(out.prefix(Int(min(n, 1024)))) : [0]
    }()
    /// Awake pinned pairs per entry of `cpus`.
    private static let atHome = Mutex<[Int]>([Int](repeating: 0, count: cpus.count))

    /// A guest thread started, or woke from a sleep in the sentry.
    @inline(__always) public static func awoke() { awake.add(1, ordering: .relaxed) }
    /// A guest thread goes to sleep in the sentry, or ends.
    @inline(__always) public static func sleeps() { awake.subtract(1, ordering: .relaxed) }
    /// Whether each awake guest thread can have a CPU per half.
    @inline(__always) static var spare: Bool { awake.load(ordering: .relaxed) * 2 <= cpus.count }

    /// The entry of `cpus` with the fewest awake pairs at home (`preferred` on a tie),
    /// counted as one more.
    static func takeHome(preferring preferred: Int, within allowed: UInt64 = 0) -> Int {
        func ok(_ i: Int) -> Bool { allowed == 0 || (i < HostCPUs.ids.count && allowed & 1 << UInt64(HostCPUs.ids[i]) != 0) }
        return atHome.withLock { counts in
            var best = preferred >= 0 && preferred < counts.count && ok(preferred) ? preferred : (counts.indices.first(where: ok) ?? 0)
            for i in counts.indices where counts[i] < counts[best] && ok(i) { best = i }
            counts[best] += 1
            return best
        }
    }

    static func leaveHome(_ i: Int) { atHome.withLock { $0[i] -= 1 } }
}

/// One guest thread's placement (used by its sentry thread only).
struct Pairing {
    /// Index into `Spinning.cpus` both halves are pinned to; nil: not pinned.
    private var home: Int?
    /// Counted at home (awake); a sleep leaves, the next run re-chooses.
    private var atHome = false
    /// Runs in a row that found CPUs to spare while pinned.
    private var spareRuns = 0
    /// Runs so far, up to `pinAfter`: a thread is pinned only once it has run that often, so
    /// a short-lived one never pays for the move (moving a thread that another CPU runs is
    /// a cross-CPU call of its own).
    private var runs = 0
    private static let pinAfter = 16
    /// Pinned pairs unpin only after this many runs with CPUs to spare in a row, so that a
    /// load that comes and goes (ping-pong) does not move threads back and forth.
    private static let unpinAfter = 256
    /// The guest's own affinity (a mask of HostCPUs.ids; 0: any CPU): while set, both halves
    /// are always pinned to one of those CPUs and never spin.
    private var allowed: UInt64 = 0
    /// The mask changed: the halves are unpinned and placed anew at the next run.
    private var replace = false

    /// The guest set its thread's affinity to `mask`.
    mutating func restrict(to mask: UInt64) {
        let new = mask & HostCPUs.mask == HostCPUs.mask ? 0 : mask
        guard new != allowed else { return }
        allowed = new
        replace = true
        runs = Self.pinAfter
    }

    /// A changed mask unpins the halves; under a mask they are pinned within it. True while
    /// a mask holds (the halves do not spin).
    private mutating func placeWithinMask(_ stub: pid_t) -> Bool {
        if replace { replace = false; unpin(stub) }
        guard allowed != 0 else { return false }
        if !atHome { pin(stub, preferring: home ?? Self.currentIndex()) }
        return true
    }

    /// Spinning runs in the current window, and their handoffs that found the other half
    /// asleep (it gave up spinning: it lost its CPU, or the other side took long).
    private var windowRuns = 0
    private var misses = 0
    /// Runs to go without spinning after a window that missed too often, and how many such
    /// windows came lately (each doubles the wait, up to 2^maxFailures windows).
    private var quietRuns = 0
    private var failures = 0
    private static let window = 32
    private static let maxFailures = 8

    /// A spinning run ended; `missed` of its two handoffs found the other half asleep. More
    /// than a quarter missed in a window: spinning does not pay (the CPUs this sandbox counts
    /// as spare are busy with other sandboxes' or the host's work, and a spinner there only
    /// delays the thread it waits for), so the halves share a CPU for a while and try again.
    mutating func spun(missed: Int) {
        windowRuns += 1
        misses += missed
        guard windowRuns == Self.window else { return }
        if misses * 4 > Self.window * 2 {
            quietRuns = Self.window << failures
            failures = min(failures + 1, Self.maxFailures)
        } else {
            failures = max(failures - 1, 0)
        }
        windowRuns = 0
        misses = 0
    }

    /// Before the guest runs again: places the halves, and says whether they may spin.
    mutating func beforeRun(stub: pid_t) -> Bool {
        if placeWithinMask(stub) { return false }
        if quietRuns > 0 { quietRuns -= 1 }
        if Spinning.spare && quietRuns == 0 {
            guard let home else { return true }
            spareRuns += 1
            if spareRuns < Self.unpinAfter {
                if !atHome { pin(stub, preferring: home) }
                return false
            }
            unpin(stub)
            return true
        }
        spareRuns = 0
        if !atHome { pinWhenSettled(stub) }
        return false
    }

    /// Before the guest runs again, for a platform whose halves never spin (ptrace: the
    /// tracer sleeps in waitpid): the halves always share a home CPU.
    mutating func beforeRunWithoutSpinning(stub: pid_t) {
        if !placeWithinMask(stub) && !atHome { pinWhenSettled(stub) }
    }

    private mutating func pinWhenSettled(_ stub: pid_t) {
        if runs < Self.pinAfter { runs += 1; return }
        pin(stub, preferring: home ?? Self.currentIndex())
    }

    /// The sentry thread is about to sleep (its stub thread sleeps too): it leaves its home's
    /// count until it runs again.
    mutating func willSleep() {
        if atHome, let home { Spinning.leaveHome(home); atHome = false }
    }

    /// The guest thread is done: uncounted, and the sentry thread, when it is the caller,
    /// unpinned (it may run another guest thread, after execve). A stub thread kept for the
    /// next guest thread (`keptStub`) is unpinned too; any other exits.
    mutating func end(onSentryThread: Bool, keptStub: pid_t? = nil) {
        willSleep()
        if home != nil && onSentryThread { _ = joey_pin_thread(0, -1) }
        if let keptStub, home != nil || allowed != 0 { _ = joey_pin_thread(keptStub, -1) }
        home = nil
    }

    private mutating func pin(_ stub: pid_t, preferring preferred: Int) {
        let i = Spinning.takeHome(preferring: preferred, within: allowed)
        atHome = true
        guard i != home else { return }
        home = i
        _ = joey_pin_thread(0, Spinning.cpus[i])
        _ = joey_pin_thread(stub, Spinning.cpus[i])
    }

    private mutating func unpin(_ stub: pid_t) {
        willSleep()
        home = nil
        spareRuns = 0
        _ = joey_pin_thread(0, -1)
        _ = joey_pin_thread(stub, -1)
    }

    private static func currentIndex() -> Int {
        let cpu = joey_current_cpu()
        return Spinning.cpus.firstIndex(of: cpu) ?? 0
    }
}
