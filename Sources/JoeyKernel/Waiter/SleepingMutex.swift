// SleepingMutex: a turn that guest threads take across a release of the kernel lock (a host
// call made with it let go), waiting interruptibly on a queue for the one holding it, as
// Linux's sleeping locks (f_pos_lock, i_rwsem) have them wait. Kernel lock held.
import JoeyABI

final class SleepingMutex {
    private var busy = false
    private var queue: WaitQueue?

    /// Runs `body` holding the turn; `t` waits for it first (ERESTARTSYS if a signal comes
    /// meanwhile). Without a guest thread (a call of the sentry's own) nobody can wait: `body`
    /// just runs.
    func holding<T>(_ t: GuestThread?, _ body: () throws(LinuxErrno) -> T) throws(LinuxErrno) -> T {
        guard let t else { return try body() }
        while busy {
            if queue == nil { queue = WaitQueue() }
            try t.block(on: queue, .writable)
        }
        busy = true
        defer {
            busy = false
            queue?.notify(.writable)
        }
        return try body()
    }
}
