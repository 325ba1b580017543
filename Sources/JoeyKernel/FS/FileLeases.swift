// Leases (fcntl F_SETLEASE, F_GETLEASE) on the sandbox's regular files, as Linux's
// fs/locks.c keeps them. A read lease is broken by an open for writing or a truncate, a
// write lease by any open. Breaking one tells its holder (its F_SETSIG signal, SIGIO by
// default; si_code POLL_MSG, si_fd the fd the lease was set through) and gives it
// /proc/sys/fs/lease-break-time seconds to come down (a write lease to read, for a reader)
// or let go, while the opener waits, or gets EWOULDBLOCK with O_NONBLOCK; past that time the
// sentry does it for the holder. A lease goes with its description. The opener counts as
// one while it waits (Linux takes the open's read or write count first), so the holder
// cannot come down to a read lease in front of a writer. Changes made on the host under a
// bind mount break nothing. Kernel lock held.
import Glibc
import JoeyABI

/// One lease: a description's hold on its file.
final class Lease {
    /// Goes when the description's last reference does (RegularFileDescription.release).
    unowned(unsafe) let holder: FileDescription
    /// F_RDLCK or F_WRLCK.
    var type: Int32
    /// While broken: what the holder must come down to (F_RDLCK, or F_UNLCK), and the
    /// CLOCK_MONOTONIC time the sentry does it instead.
    var pending: Int32?
    var deadline: UInt64 = 0
    /// The fd F_SETLEASE was called through: si_fd of the break signal.
    let fd: Int32

    init(holder: FileDescription, type: Int32, fd: Int32) {
        self.holder = holder; self.type = type; self.fd = fd
    }
}

extension RegularFileInode {
    /// time_out_leases: the leases whose time to come down is up come down.
    func expireLeases() {
        guard leases.contains(where: { $0.pending != nil }) else { return }
        let now = monotonicNanos()
        var changed = false
        leases.removeAll { l in
            guard let target = l.pending, l.deadline <= now else { return false }
            changed = true
            if target == F_UNLCK { return true }
            l.type = F_RDLCK
            l.pending = nil
            return false
        }
        if changed { leaseQueue.notify(EventMask.input) }
    }

    /// Whether `lease` stands in the way of an open (for writing, or not).
    private func leaseConflicts(_ lease: Lease, writing: Bool) -> Bool { writing || lease.type == F_WRLCK }

    /// __break_lease, for an open (or truncate) by the current thread: the conflicting leases
    /// start coming down and the caller waits until none is left, or their time is up.
    func breakLeases(writing: Bool, nonBlocking: Bool, kernel: Kernel) throws(LinuxErrno) {
        expireLeases()
        guard leases.contains(where: { leaseConflicts($0, writing: writing) }) else { return }
        let deadline = monotonicNanos() &+ UInt64(max(0, kernel.tunables.leaseBreakTime)) * 1_000_000_000
        for l in leases where leaseConflicts(l, writing: writing) {
            if writing {
                if l.pending == F_UNLCK { continue }
                l.pending = F_UNLCK
            } else {
                if l.pending != nil { continue }
                l.pending = F_RDLCK
            }
            l.deadline = deadline
            kernel.sendAsyncSignal(l.holder, reason: .message, fd: l.fd)
        }
        if nonBlocking { throw .EAGAIN }
        guard let t = kernel.current else { return }
        while let l = leases.first(where: { leaseConflicts($0, writing: writing) }) {
            try t.block(on: leaseQueue, EventMask.input, deadline: l.deadline)
            expireLeases()
        }
    }

    /// The lease `f` holds here goes (F_UNLCK, or the description's end); openers waiting
    /// on it go on.
    func dropLease(of f: FileDescription) {
        guard let i = leases.firstIndex(where: { $0.holder === f }) else { return }
        leases.remove(at: i)
        leaseQueue.notify(EventMask.input)
    }
}

extension GuestThread {
    /// fcntl(F_SETLEASE): vfs_setlease's checks, then generic_add_lease's or the removal.
    func setLease(_ f: FileDescription, fd: Int32, _ arg: Int32) throws(LinuxErrno) -> UInt64 {
        guard arg == F_RDLCK || arg == F_WRLCK || arg == F_UNLCK else { throw .EINVAL }
        // The file's owner, or CAP_LEASE.
        guard f.inode.uid == group.fsuid || group.capable(28, in: .initial) else { throw .EACCES }
        guard let file = f.inode as? RegularFileInode, f is RegularFileDescription else { throw .EINVAL }
        file.expireLeases()
        let mine = file.leases.first { $0.holder === f }
        if arg == F_UNLCK {
            guard mine != nil else { throw .EAGAIN }
            file.dropLease(of: f)
            // lease_modify: no owner and no F_SETSIG signal are left behind.
            f.asyncOwner = 0
            f.asyncSignal = 0
            return 0
        }
        // check_conflicting_open: a read lease needs nobody writing; a write lease needs this
        // description to be the file's only open (and the file not running as a program).
        if arg == F_RDLCK {
            if file.openWriters > 0 { throw .EAGAIN }
        } else {
            let ownWrites = f.writable ? 1 : 0, ownReads = f.readable && !f.writable ? 1 : 0
            if file.openWriters != ownWrites || file.openReaders != ownReads || file.executing > 0 { throw .EAGAIN }
        }
        for l in file.leases where l !== mine {
            // No write lease beside another's; no new lease while another is being given up.
            if arg == F_WRLCK || l.pending == F_UNLCK { throw .EAGAIN }
        }
        if let mine {
            // lease_modify: coming down to a read lease ends a pending downgrade (not a
            // pending unlock); the waiting openers check again.
            mine.type = arg
            if arg == F_RDLCK && mine.pending == F_RDLCK { mine.pending = nil }
            file.leaseQueue.notify(EventMask.input)
        } else {
            guard kernel.tunables.leasesEnable != 0 else { throw .EINVAL }
            file.leases.append(Lease(holder: f, type: arg, fd: fd))
        }
        // lease_setup: the setter's process is told of a break.
        f.asyncOwner = group.pid
        return 0
    }

    /// fcntl(F_GETLEASE): the lease `f` holds, or what it must come down to while broken.
    func getLease(_ f: FileDescription) -> UInt64 {
        guard let file = f.inode as? RegularFileInode else { return UInt64(F_UNLCK) }
        file.expireLeases()
        guard let mine = file.leases.first(where: { $0.holder === f }) else { return UInt64(F_UNLCK) }
        return UInt64(mine.pending ?? mine.type)
    }
}
