// Advisory file locks (Linux's fs/locks.c): POSIX record locks (fcntl F_SETLK, F_SETLKW,
// F_GETLK; lockf), open-file-description locks (F_OFD_*), and flock. Each inode that was
// ever locked has one FileLocks. Owners: a POSIX lock belongs to an fd table (Linux's
// files_struct, so CLONE_FILES sharers share locks) and goes when that table closes any fd
// of the file; an OFD lock or a flock belongs to the open file description and goes with
// its last reference. POSIX and OFD locks conflict with each other; flocks only with
// flocks. Kernel lock held throughout; a blocked F_SETLKW or flock waits on `queue`.
import Glibc
import JoeyABI

final class FileLocks {
    struct Record: Equatable {
        var owner: ObjectIdentifier
        /// An OFD lock (reported with l_pid -1; never part of a deadlock check).
        var isOFD: Bool
        var pid: Int32
        var exclusive: Bool
        /// 0 ... Int64.max, as Linux's loff_t ranges.
        var start: Int64
        /// Inclusive; Int64.max (OFFSET_MAX) reaches the end of the file whatever it becomes.
        var end: Int64

        func overlaps(_ start: Int64, _ end: Int64) -> Bool { self.start <= end && start <= self.end }
    }
    private(set) var records: [Record] = []
    private var flocks: [ObjectIdentifier: Bool] = [:] // owner -> exclusive
    /// Blocked lockers wait here; every unlock or downgrade notifies it.
    let queue = WaitQueue()

    /// The first lock of another owner that keeps `r` from being taken, in Linux's list
    /// order (what F_GETLK reports): owners in the order they came, each owner's locks by
    /// their start.
    func conflict(_ r: Record) -> Record? {
        var best: (rank: Int, lock: Record)?
        var ranks: [ObjectIdentifier: Int] = [:]
        for l in records {
            let rank = ranks[l.owner] ?? ranks.count
            ranks[l.owner] = rank
            guard l.owner != r.owner, l.overlaps(r.start, r.end), l.exclusive || r.exclusive else { continue }
            if best == nil || rank < best!.rank || (rank == best!.rank && l.start < best!.lock.start) { best = (rank, l) }
        }
        return best?.lock
    }

    /// Takes `r` for its owner: the owner's locks over the range are replaced, and locks of
    /// the same type that touch it merge with it.
    func set(_ r: Record) {
        var kept: [Record] = []
        var merged = r
        for l in records {
            guard l.owner == r.owner else { kept.append(l); continue }
            let touches = l.overlaps(merged.start == 0 ? 0 : merged.start - 1, merged.end == Int64.max ? Int64.max : merged.end + 1)
            if l.exclusive == r.exclusive && touches {
                merged.start = min(merged.start, l.start)
                merged.end = max(merged.end, l.end)
                continue
            }
            kept += Self.cut(l, r.start, r.end)
        }
        kept.append(merged)
        records = kept
        queue.notify(EventMask.input)
    }

    /// F_UNLCK: the owner's locks lose the range.
    func unlock(owner: ObjectIdentifier, start: Int64, end: Int64) {
        records = records.flatMap { $0.owner == owner ? Self.cut($0, start, end) : [$0] }
        queue.notify(EventMask.input)
    }

    /// What is left of `l` outside [start, end].
    private static func cut(_ l: Record, _ start: Int64, _ end: Int64) -> [Record] {
        guard l.overlaps(start, end) else { return [l] }
        var out: [Record] = []
        if l.start < start { var a = l; a.end = start - 1; out.append(a) }
        if end < Int64.max && l.end > end { var b = l; b.start = end + 1; out.append(b) }
        return out
    }

    /// Every record lock and flock of `owner` goes (a close, the last reference).
    func releaseAll(owner: ObjectIdentifier) {
        let before = records.count
        records.removeAll { $0.owner == owner }
        let hadFlock = flocks.removeValue(forKey: owner) != nil
        if records.count != before || hadFlock { queue.notify(EventMask.input) }
    }

    // MARK: flock

    /// Whether `owner` may hold a flock of this kind now.
    func flockConflicts(owner: ObjectIdentifier, exclusive: Bool) -> Bool {
        flocks.contains { $0.key != owner && ($0.value || exclusive) }
    }
    func setFlock(owner: ObjectIdentifier, exclusive: Bool) { flocks[owner] = exclusive; queue.notify(EventMask.input) }
    func removeFlock(owner: ObjectIdentifier) {
        if flocks.removeValue(forKey: owner) != nil { queue.notify(EventMask.input) }
    }
}

extension Inode {
    /// This inode's locks, made on first use.
    var locks: FileLocks {
        if let l = fileLocks { return l }
        let l = FileLocks()
        fileLocks = l
        return l
    }
}

extension GuestThread {
    private static let F_RDLCK: Int16 = 0, F_WRLCK: Int16 = 1, F_UNLCK: Int16 = 2

    /// fcntl's F_GETLK, F_SETLK, F_SETLKW and the F_OFD_ forms, with struct flock at `address`:
    /// l_type, l_whence (int16 each), l_start, l_len (int64), l_pid (int32).
    func recordLock(_ f: FileDescription, fd: Int32, command: Int32, address: UInt64) throws(LinuxErrno) -> UInt64 {
        let ofd = command >= 36
        let get = command == F_GETLK || command == 36
        let wait = command == F_SETLKW || command == 38
        let raw = try mm.read(address, count: 32)
        let (type, whence, start, length, pid) = raw.withUnsafeBytes { p in
            (p.loadUnaligned(as: Int16.self), p.loadUnaligned(fromByteOffset: 2, as: Int16.self),
             p.loadUnaligned(fromByteOffset: 8, as: Int64.self), p.loadUnaligned(fromByteOffset: 16, as: Int64.self),
             p.loadUnaligned(fromByteOffset: 24, as: Int32.self))
        }
        guard type == Self.F_RDLCK || type == Self.F_WRLCK || type == Self.F_UNLCK else { throw .EINVAL }
        if ofd && pid != 0 { throw .EINVAL }
        // The range, as flock_to_posix_lock computes it.
        let base: Int64
        switch Int32(whence) {
        case SEEK_SET: base = 0
        case SEEK_CUR: base = Int64(clamping: f.offset)
        case SEEK_END: base = Int64(clamping: f.inode.size)
        default: throw .EINVAL
        }
        let (s0, o1) = base.addingReportingOverflow(start)
        if o1 { throw .EOVERFLOW }
        guard s0 >= 0 else { throw .EINVAL }
        var first = s0, last: Int64
        if length > 0 {
            let (e, o2) = s0.addingReportingOverflow(length - 1)
            if o2 { throw .EOVERFLOW }
            last = e
        } else if length < 0 {
            let (s, o3) = s0.addingReportingOverflow(length)
            guard !o3, s >= 0 else { throw .EINVAL }
            first = s
            last = s0 - 1
        } else {
            last = Int64.max
        }
        let owner = ofd ? ObjectIdentifier(f) : ObjectIdentifier(group.fdTable)
        let locks = f.inode.locks
        var r = FileLocks.Record(owner: owner, isOFD: ofd, pid: group.pid, exclusive: type == Self.F_WRLCK,
                                 start: first, end: last)
        if get {
            guard type != Self.F_UNLCK else { throw .EINVAL }
            var out = raw
            if let c = locks.conflict(r) {
                let len: Int64 = c.end == Int64.max ? 0 : c.end - c.start + 1
                out.withUnsafeMutableBytes { p in
                    p.storeBytes(of: c.exclusive ? Self.F_WRLCK : Self.F_RDLCK, as: Int16.self)
                    p.storeBytes(of: Int16(SEEK_SET), toByteOffset: 2, as: Int16.self)
                    p.storeBytes(of: c.start, toByteOffset: 8, as: Int64.self)
                    p.storeBytes(of: len, toByteOffset: 16, as: Int64.self)
                    p.storeBytes(of: c.isOFD ? -1 : vnr(c.pid), toByteOffset: 24, as: Int32.self)
                }
            } else {
                out.withUnsafeMutableBytes { $0.storeBytes(of: Self.F_UNLCK, as: Int16.self) }
            }
            try mm.write(address, out)
            return 0
        }
        if type == Self.F_UNLCK {
            locks.unlock(owner: owner, start: r.start, end: r.end)
            return 0
        }
        // A read lock needs the file open for reading, a write lock for writing.
        guard r.exclusive ? f.writable : f.readable else { throw .EBADF }
        while let c = locks.conflict(r) {
            guard wait else { throw .EAGAIN }
            // F_SETLKW between processes that would wait on each other forever: EDEADLK.
            if !ofd && !c.isOFD && waitsOn(c.owner, for: owner) { throw .EDEADLK }
            kernel.lockWaiters[owner] = c.owner
            defer { kernel.lockWaiters[owner] = nil }
            try block(on: locks.queue, EventMask.input)
            // The fd may have been closed meanwhile (its locks released): a lock taken now
            // would belong to no one (fcntl_setlk's close race).
            try stillOpen(fd, f)
        }
        r.pid = group.pid
        locks.set(r)
        return 0
    }

    /// After a wait: `fd` must still be `f`, or the lock is not taken.
    private func stillOpen(_ fd: Int32, _ f: FileDescription) throws(LinuxErrno) {
        guard group.fdTable.entry(fd)?.file === f, f.references > 0 else { throw .EBADF }
    }

    /// Whether `holder`, through the chain of blocked POSIX lockers, waits for `me`.
    private func waitsOn(_ holder: ObjectIdentifier, for me: ObjectIdentifier) -> Bool {
        var o = holder
        for _ in 0..<1024 {
            if o == me { return true }
            guard let next = kernel.lockWaiters[o] else { return false }
            o = next
        }
        return false
    }

    /// flock(2): LOCK_SH, LOCK_EX, LOCK_UN, with LOCK_NB; a held lock converts (dropping it first).
    func sysFlock() throws(LinuxErrno) -> UInt64 {
        let fd = fdArg(a0)
        let f = try group.fdTable.get(fd)
        let cmd = Int32(truncatingIfNeeded: a1)
        let nonBlocking = cmd & 4 != 0
        let owner = ObjectIdentifier(f)
        let locks = f.inode.locks
        switch cmd & ~4 {
        case 8: // LOCK_UN
            locks.removeFlock(owner: owner)
            return 0
        case 1, 2:
            let exclusive = cmd & ~4 == 2
            if locks.flockConflicts(owner: owner, exclusive: exclusive) {
                locks.removeFlock(owner: owner) // a conversion lets go first, as Linux's does
                if nonBlocking { throw .EAGAIN } // EWOULDBLOCK
                while locks.flockConflicts(owner: owner, exclusive: exclusive) {
                    try block(on: locks.queue, EventMask.input)
                    try stillOpen(fd, f)
                }
            }
            locks.setFlock(owner: owner, exclusive: exclusive)
            return 0
        default:
            throw .EINVAL
        }
    }
}
