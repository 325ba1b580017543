// SleepingMutex: a turn that guest threads take across a release of the kernel lock (a host
// call made with it let go, a yield between the pieces of a large copy), waiting
// interruptibly on a queue for the one holding it, as Linux's sleeping locks (f_pos_lock,
// i_rwsem) have them wait. Kernel lock held.
import JoeyABI

final class SleepingMutex {
    /// The thread holding the turn.
    private var holder: GuestThread?
    private var queue: WaitQueue?

    /// Runs `body` holding the turn; `t` waits for it first (ERESTARTSYS if a signal comes
    /// meanwhile). The holder may take it again (a truncate inside a write's turn). Without a
    /// guest thread (a call of the sentry's own) nobody can wait: `body` just runs.
    func holding<T>(_ t: GuestThread?, _ body: () throws(LinuxErrno) -> T) throws(LinuxErrno) -> T {
        guard let t, holder !== t else { return try body() }
        while holder != nil {
            if queue == nil { queue = WaitQueue() }
            try t.block(on: queue, .writable)
        }
        holder = t
        defer {
            holder = nil
            queue?.notify(.writable)
        }
        return try body()
    }
}
