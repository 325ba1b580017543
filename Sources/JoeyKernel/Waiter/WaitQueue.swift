// Waiter: how a guest thread sleeps and what wakes it (gVisor's pkg/waiter is the model).
// Every waitable object (pipe, eventfd, host fd, a process's children) owns a WaitQueue; a
// thread registers a Waiter with the events it cares about and sleeps on its own Wakeup, so
// an event wakes exactly the threads waiting for it: there is no global broadcast.
//
// Lock order: the kernel lock guards every queue and wakeup here; nothing in this folder
// takes another lock. Notifying never sleeps.
import Glibc
import JoeyABI
import JoeyPlatform
import Synchronization

/// One registration on a WaitQueue: a thread to wake (or, for epoll, a callback to run)
/// when an event in `mask` is notified.
final class Waiter {
    var mask: EventMask
    let wakeup: Wakeup?
    /// Runs on each event; true when it took the event (see `exclusive`).
    let callback: ((EventMask) -> Bool)?
    /// An exclusive waiter (an EPOLLEXCLUSIVE interest): of those, an event goes to each in
    /// turn only until one takes it, as Linux's exclusive wait queue entries.
    let exclusive: Bool

    init(mask: EventMask = [], wakeup: Wakeup) {
        self.mask = mask
        self.wakeup = wakeup
        self.callback = nil
        self.exclusive = false
    }

    init(mask: EventMask, exclusive: Bool = false, callback: @escaping (EventMask) -> Bool) {
        self.mask = mask
        self.wakeup = nil
        self.callback = callback
        self.exclusive = exclusive
    }

    /// True when the waiter took the event.
    @discardableResult
    func notify(_ events: EventMask) -> Bool {
        wakeup?.wake()
        return callback?(events) ?? true
    }
}

/// The waiters of one waitable object.
final class WaitQueue {
    private var waiters: [Waiter] = []

    var isEmpty: Bool { waiters.isEmpty }

    /// Whether a thread sleeps here (not only callbacks: epolls watching this object).
    var hasSleepers: Bool { waiters.contains { $0.wakeup != nil } }

    func add(_ w: Waiter) { waiters.append(w) }

    func remove(_ w: Waiter) {
        if let i = waiters.lastIndex(where: { $0 === w }) { waiters.remove(at: i) }
    }

    /// Wakes the waiters interested in any of `events`: every ordinary one, and exclusive
    /// ones in the order they came until one takes the event (__wake_up_common with one
    /// exclusive wake-up, exclusive entries queued behind the others).
    func notify(_ events: EventMask) {
        var anyExclusive = false
        for w in waiters where !w.mask.isDisjoint(with: events) {
            if w.exclusive { anyExclusive = true } else { w.notify(events) }
        }
        guard anyExclusive else { return }
        for w in waiters where w.exclusive && !w.mask.isDisjoint(with: events) {
            if w.notify(events) { return }
        }
    }
}

/// A sleeper's own condition variable, used with the kernel lock: wake() from any thread
/// holding the lock ends the sleep. A wake that comes while it is not asleep makes the next
/// sleep return at once (sleepers re-check what they wait for, so that is harmless).
final class Wakeup {
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var pending = false

    init(guest: Bool = false) {
        self.guest = guest
        condition = .allocate(capacity: 1)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    /// A guest thread's: its sleeps are reported to the platform's spinning policy.
    private let guest: Bool
    /// Set while a guest thread sleeps here and nobody has counted it awake again: whoever
    /// clears it (the waker, or the sleeper after a deadline) does, exactly once.
    private let sleeping = Atomic<Bool>(false)

    /// The home the thread that woke this sleeper offered (Spinning.wakingGuestThread),
    /// taken by the sleeper when it runs again (GuestThread.sleepInSentry).
    var wakerHome: Int?

    /// Kernel lock held.
    func wake() {
        // The sleeper counts as awake from now (not once its host thread has run), so that
        // the waker's next spinning decision sees it.
        if guest && sleeping.exchange(false, ordering: .relaxed) {
            Spinning.awoke()
            wakerHome = Spinning.wakingGuestThread()
        }
        pending = true
        pthread_cond_signal(condition)
    }

    /// Sleeps (kernel lock held; released while asleep) until woken or the CLOCK_MONOTONIC
    /// `deadline` passes. Returns false when the deadline passed.
    @discardableResult
    func sleep(_ lock: KernelLock, deadline: UInt64? = nil) -> Bool {
        if pending {
            pending = false
            return true
        }
        if guest {
            Spinning.sleeps()
            sleeping.store(true, ordering: .relaxed)
        }
        let woken = lock.wait(on: condition, deadline: deadline)
        if guest && sleeping.exchange(false, ordering: .relaxed) { Spinning.awoke() }
        pending = false
        return woken
    }
}
