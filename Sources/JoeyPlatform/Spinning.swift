// Where and how a guest thread's two halves (its stub thread and its sentry thread) wait for
// each other. Measured here (2 vCPUs, nested virtualization): a futex wake-up across CPUs
// costs 6-9 µs, one on the same CPU about 2 µs, and a spinning waiter sees the other side at
// once. So:
// - while the awake guest threads fit twice on the CPUs (each half can have its own), the
//   halves run where the host puts them and spin before they sleep;
// - beyond that a spinner would take the CPU the other half needs: both halves are pinned
//   to one home CPU (the one with the fewest awake pairs at home) and hand over without
//   spinning, by sched_yield (which runs the other half at once, with no wake-up to pay,
//   as both are in one autogroup: stub.c keeps stubs in the sentry's session; a yield
//   round trip costs about 2.6 µs here, a futex one 4.5 µs) and then by futex, so each
//   pair costs one CPU and pairs spread over the CPUs.
// A sandbox counts only its own threads: the CPUs it thinks spare may be busy with another
// sandbox's or the host's work. So a spinning pair also watches what spinning achieves: when
// more than a quarter of its handoffs in a window of runs find the other half asleep (it
// gave up spinning: measured, a window almost always has none alone and 40-47 of 64 beside a
// second sandbox), the pair is pinned and does not spin for a while, twice as long after
// each window that failed again (two sandboxes doing open/read/close side by side went from
// 107 to 29-35 µs a call triple each, as fast as with each sandbox held to a CPU of its own).
// On ptrace the tracer sleeps in waitpid at every stop, so its pairs are always pinned.
// Where pinned pairs go: a thread woken by a guest thread that lately sleeps right after it
// wakes another (a pipe, socket or futex ping-pong) joins the waker's home when the waker is
// alone there, as Linux places a synchronous wake-up's wakee on the waker's CPU: a wake-up
// across CPUs costs 6-9 µs here against ~2 µs on one (pipe ping-pong with both processes on
// one CPU: 17 µs a round trip, on two: 78 µs). A waker that goes on running (one handing
// out work) is not joined. Two pairs that stay awake together on one CPU while another CPU
// has none, with no pair leaving it meanwhile, part again when the guests compute: runs of
// `longRunNanos` or more on average over `crowdedAfter` runs, or (systrap, whose sentry
// thread can look while its guest runs) one run that long. A thread parted that way neither
// joins nor is joined for a while (twice as long after each parting, as `spun` backs off).
// Measured (2 vCPUs): pipe, unix and TCP ping-pong 56-61 to 17-18 µs a round trip, futex
// ping-pong 16-18 to 8 µs; a pipe ping-pong that then computes 20 ms on both sides, 20 times
// over: 0.68 to 0.74 s (the price: each compute phase starts on one CPU).
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
    /// Per entry of `cpus`: the awake pinned pairs at home, and how often a pair left (slept
    /// or moved).
    private struct Homes {
        var awake = [Int](repeating: 0, count: cpus.count)
        var departures = [UInt64](repeating: 0, count: cpus.count)
    }
    private static let homes = Mutex(Homes())
    /// Per sentry thread: the home its pair offers to threads it wakes (an index into
    /// `cpus`, plus one; 0: none), and how many guest threads it woke since its pair last
    /// looked (Pairing.noteRun).
    private static let offeredKey = newKey()
    private static let wakesKey = newKey()
    private static func newKey() -> pthread_key_t {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }

    /// The calling thread wakes a sleeping guest thread: counted, and the home the woken
    /// thread may join (Pairing.wokenBy); nil when the caller offers none (its pair is not
    /// pinned, or does not sleep right after waking, or it is no guest thread's).
    public static func wakingGuestThread() -> Int? {
        let wakes = Int(bitPattern: pthread_getspecific(wakesKey))
        pthread_setspecific(wakesKey, UnsafeRawPointer(bitPattern: wakes &+ 1))
        let v = Int(bitPattern: pthread_getspecific(offeredKey))
        return v > 0 ? v - 1 : nil
    }

    /// The guest threads the calling thread woke since the last call.
    fileprivate static func takeWakes() -> Int {
        let wakes = Int(bitPattern: pthread_getspecific(wakesKey))
        if wakes != 0 { pthread_setspecific(wakesKey, nil) }
        return wakes
    }

    fileprivate static func offer(_ home: Int?) {
        pthread_setspecific(offeredKey, UnsafeRawPointer(bitPattern: home.map { $0 + 1 } ?? 0))
    }

    /// A guest thread started, or woke from a sleep in the sentry.
    @inline(__always) public static func awoke() { awake.add(1, ordering: .relaxed) }
    /// A guest thread goes to sleep in the sentry, or ends.
    @inline(__always) public static func sleeps() { awake.subtract(1, ordering: .relaxed) }
    /// Whether each awake guest thread can have a CPU per half.
    @inline(__always) static var spare: Bool { awake.load(ordering: .relaxed) * 2 <= cpus.count }

    /// The entry of `cpus` with the fewest awake pairs at home (`preferred` on a tie),
    /// counted as one more; `joining` instead when at most one pair is awake there.
    static func takeHome(preferring preferred: Int, joining: Int? = nil, within allowed: UInt64 = 0) -> Int {
        func ok(_ i: Int) -> Bool { allowed == 0 || (i < HostCPUs.ids.count && allowed & 1 << UInt64(HostCPUs.ids[i]) != 0) }
        return homes.withLock { h in
            if let joining, joining >= 0, joining < h.awake.count, h.awake[joining] <= 1, ok(joining) {
                h.awake[joining] += 1
                return joining
            }
            var best = preferred >= 0 && preferred < h.awake.count && ok(preferred) ? preferred : (h.awake.indices.first(where: ok) ?? 0)
            for i in h.awake.indices where h.awake[i] < h.awake[best] && ok(i) { best = i }
            h.awake[best] += 1
            return best
        }
    }

    /// Whether more than one pair is awake at `home` while some CPU has none, and the
    /// departures from `home` so far.
    static func crowded(_ home: Int) -> (Bool, UInt64) {
        homes.withLock { h in (h.awake[home] > 1 && h.awake.contains(0), h.departures[home]) }
    }

    static func leaveHome(_ i: Int) {
        homes.withLock { h in
            h.awake[i] -= 1
            h.departures[i] &+= 1
        }
    }
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
    /// The home the guest thread that woke this one from its last sleep offered.
    private var wakerHome: Int?
    /// How often this thread lately slept right after waking another (up to 4; 2 or more:
    /// it offers its home to the threads it wakes), and runs since it last woke one
    /// without sleeping since (nil: none pending).
    private var syncWakes = 0
    private var runsSinceWake: Int?
    /// Runs in a row at a crowded home (see Spinning.crowded) that no pair left meanwhile
    /// (pairs taking turns, one sleeping while the other runs, share a CPU well: a ping-pong
    /// where one side always finds its data there), counted at every `crowdedCheck`th run;
    /// a sleep starts the count again.
    private var crowdedRuns = 0
    private var departuresSeen: UInt64 = 0
    /// When the current crowded stretch was first seen, and the run length (wall time per
    /// run) from which a crowded pair is parted.
    private var crowdedSince: UInt64 = 0
    static let longRunNanos: UInt64 = 100_000
    private static let crowdedCheck = 4
    private static let crowdedAfter = 32
    /// Runs to go without joining a waker after a parting, and how many partings came lately
    /// (each doubles the wait, up to 2^maxFailures windows).
    private var noJoinRuns = 0
    private var partings = 0
    /// The current home was taken (or kept) to join a waker.
    private var joined = false

    /// A guest thread that offered `home` woke this one (called before its next run).
    mutating func wokenBy(home: Int?) {
        wakerHome = noJoinRuns == 0 ? home : nil
    }

    /// At the start of each run: whether the last ones woke a thread and did not sleep, and
    /// what home this thread offers meanwhile.
    private mutating func noteRun() {
        if Spinning.takeWakes() > 0 {
            runsSinceWake = 0
        } else if let r = runsSinceWake {
            if r >= 2 {
                syncWakes = max(syncWakes - 2, 0)
                runsSinceWake = nil
            } else {
                runsSinceWake = r + 1
            }
        }
        if noJoinRuns > 0 { noJoinRuns -= 1 }
    }

    /// After placing the halves: the home this thread offers to those it wakes this run.
    private func offerHome() {
        Spinning.offer(atHome && syncWakes >= 2 && noJoinRuns == 0 ? home : nil)
    }

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
        noteRun()
        let spin = place(stub)
        offerHome()
        return spin
    }

    private mutating func place(_ stub: pid_t) -> Bool {
        if placeWithinMask(stub) { return false }
        if quietRuns > 0 { quietRuns -= 1 }
        if Spinning.spare && quietRuns == 0 {
            guard let home else { return true }
            spareRuns += 1
            if spareRuns < Self.unpinAfter {
                if !atHome { pin(stub, preferring: home, joining: wakerHome) }
                return false
            }
            unpin(stub)
            return true
        }
        spareRuns = 0
        placePinned(stub)
        return false
    }

    /// Before the guest runs again, for a platform whose halves never spin (ptrace: the
    /// tracer sleeps in waitpid): the halves always share a home CPU.
    mutating func beforeRunWithoutSpinning(stub: pid_t) {
        noteRun()
        if !placeWithinMask(stub) { placePinned(stub) }
        offerHome()
    }

    /// A run of pinned halves: placed after a sleep (with the waker when it is alone), and
    /// parted from a pair that shares their home too long while another CPU has none.
    private mutating func placePinned(_ stub: pid_t) {
        guard atHome, let home else {
            pinWhenSettled(stub)
            return
        }
        crowdedRuns += 1
        guard crowdedRuns % Self.crowdedCheck == 0 else { return }
        let (crowded, departures) = Spinning.crowded(home)
        guard crowded, departures == departuresSeen || crowdedRuns == Self.crowdedCheck else {
            departuresSeen = departures
            crowdedRuns = 0
            return
        }
        departuresSeen = departures
        if crowdedRuns == Self.crowdedCheck { crowdedSince = monotonicNanos() }
        guard crowdedRuns >= Self.crowdedAfter else { return }
        // Short runs (a ping-pong whose sides always find their data there, neither
        // sleeping) take turns on the CPU: only guests that compute are parted.
        let perRun = (monotonicNanos() &- crowdedSince) / UInt64(crowdedRuns - Self.crowdedCheck)
        crowdedRuns = 0
        guard perRun >= Self.longRunNanos else { return }
        part(stub, from: home)
    }

    /// Whether the sentry thread, waiting for its guest, should look again after
    /// `longRunNanos` (guestRunsLong): the pair joined a waker, so it may share a CPU with a
    /// guest that computes too, and a guest that computes makes no system call to part at.
    var watchesLongRuns: Bool { joined && atHome }

    /// The guest has run `longRunNanos` or more without a system call: a pair that joined a
    /// waker and still shares its home while some CPU has none moves there (true then).
    /// Called from the sentry thread while the guest runs (moving a running stub thread
    /// migrates it).
    mutating func guestRunsLong(stub: pid_t) -> Bool {
        guard joined, atHome, let home, Spinning.crowded(home).0 else { return false }
        part(stub, from: home)
        return true
    }

    private mutating func part(_ stub: pid_t, from home: Int) {
        crowdedRuns = 0
        noJoinRuns = Self.window << partings
        partings = min(partings + 1, Self.maxFailures)
        joined = false
        Spinning.leaveHome(home)
        atHome = false
        pin(stub, preferring: home, joining: nil)
    }

    private mutating func pinWhenSettled(_ stub: pid_t) {
        if runs < Self.pinAfter { runs += 1; return }
        pin(stub, preferring: home ?? Self.currentIndex(), joining: wakerHome)
    }

    /// The sentry thread is about to sleep (its stub thread sleeps too): it leaves its home's
    /// count until it runs again.
    mutating func willSleep() {
        if atHome, let home { Spinning.leaveHome(home); atHome = false }
        // Slept before it was parted from the waker it joined: joining paid (a ping-pong).
        if joined { partings = max(partings - 1, 0); joined = false }
        if Spinning.takeWakes() > 0 || runsSinceWake != nil { syncWakes = min(syncWakes + 1, 4) }
        runsSinceWake = nil
        crowdedRuns = 0
        wakerHome = nil
    }

    /// The guest thread is done: uncounted, and the sentry thread, when it is the caller,
    /// unpinned (it may run another guest thread, after execve). A stub thread kept for the
    /// next guest thread (`keptStub`) is unpinned too; any other exits.
    mutating func end(onSentryThread: Bool, keptStub: pid_t? = nil) {
        willSleep()
        if home != nil && onSentryThread { _ = joey_pin_thread(0, -1) }
        if onSentryThread { Spinning.offer(nil) }
        if let keptStub, home != nil || allowed != 0 { _ = joey_pin_thread(keptStub, -1) }
        home = nil
    }

    private mutating func pin(_ stub: pid_t, preferring preferred: Int, joining: Int? = nil) {
        let i = Spinning.takeHome(preferring: preferred, joining: joining, within: allowed)
        atHome = true
        joined = joining != nil && i == joining
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
