// Small calls that report or set a piece of task state: ids, tid address, umask, yield, sync.
import JoeyABI

extension GuestThread {
    // Ids as this process's pid namespace numbers them (a parent outside it is 0).
    func sysGetpid() throws(LinuxErrno) -> UInt64 { UInt64(vnr(group.pid)) }
    func sysGettid() throws(LinuxErrno) -> UInt64 { UInt64(vnr(tid)) }
    func sysGetppid() throws(LinuxErrno) -> UInt64 { UInt64(group.parent.map { vnr($0.pid) } ?? 0) }
    func sysGetpgrp() throws(LinuxErrno) -> UInt64 { UInt64(vnr(group.pgid)) }
    // Ids as the process's user namespace numbers them.
    func sysGetuid() throws(LinuxErrno) -> UInt64 { UInt64(group.userNS.shownUID(group.uid)) }
    func sysGetgid() throws(LinuxErrno) -> UInt64 { UInt64(group.userNS.shownGID(group.gid)) }
    func sysGeteuid() throws(LinuxErrno) -> UInt64 { UInt64(group.userNS.shownUID(group.euid)) }
    func sysGetegid() throws(LinuxErrno) -> UInt64 { UInt64(group.userNS.shownGID(group.egid)) }

    /// setfsuid/setfsgid: always returns the old value; changes only to a valid id (not -1)
    /// the caller may use (one of its ids, or any with CAP_SETUID/CAP_SETGID). Moving the
    /// fsuid off or onto 0 drops or restores the file-system capabilities.
    func sysSetfsid(_ nr: Int) throws(LinuxErrno) -> UInt64 {
        let raw = UInt32(truncatingIfNeeded: a0)
        let ns = group.userNS
        let before = group.dumpRelevantCredentials
        defer { group.credentialsChanged(from: before) }
        if nr == 122 {
            let old = group.fsuid
            if raw != UInt32.max, let new = ns.kuid(raw),
               group.capable(Capabilities.setuid) || [group.uid, group.euid, group.suid, group.fsuid].contains(new) {
                group.fsuid = new
                group.adjustCapabilities(oldUID: group.uid, oldEUID: group.euid, oldSUID: group.suid, oldFSUID: old)
            }
            return UInt64(ns.shownUID(old))
        }
        let old = group.fsgid
        if raw != UInt32.max, let new = ns.kgid(raw),
           group.capable(Capabilities.setgid) || [group.gid, group.egid, group.sgid, group.fsgid].contains(new) {
            group.fsgid = new
        }
        return UInt64(ns.shownGID(old))
    }

    func sysSetTidAddress() throws(LinuxErrno) -> UInt64 {
        clearChildTID = a0
        return UInt64(vnr(tid))
    }

    /// Recorded; walked when the thread dies (releaseRobustFutexes).
    func sysSetRobustList() throws(LinuxErrno) -> UInt64 {
        guard a1 == 24 else { throw .EINVAL }
        robustList = a0
        return 0
    }

    func sysUmask() throws(LinuxErrno) -> UInt64 {
        let old = fs.umask
        fs.umask = UInt32(a0 & 0o777)
        return UInt64(old)
    }

    func sysRtSigreturn() throws(LinuxErrno) -> UInt64 {
        try signalReturn()
        return 0
    }

    /// A hint; the host scheduler decides.
    func sysSchedYield() throws(LinuxErrno) -> UInt64 { 0 }

    /// fsync/fdatasync: in-memory files have nothing to flush; a write-through file (or
    /// directory) on the host is flushed to its disk with the host's fsync/fdatasync.
    func sysFsync(dataOnly: Bool) throws(LinuxErrno) -> UInt64 {
        let f = try group.fdTable.get(fdArg(a0))
        guard f.hasFsync else { throw .EINVAL }
        // A loop device's flush reaches its file (blkdev_fsync, then the loop driver's).
        if let loop = f as? LoopDescription { try loop.flushBacking(self); return 0 }
        try syncToHost(f.inode, dataOnly: dataOnly)
        return 0
    }

    func syncToHost(_ inode: Inode, dataOnly: Bool) throws(LinuxErrno) {
        if let file = inode as? RegularFileInode {
            // Stores through shared mappings first, as Linux writes back dirty pages.
            try file.writeBackHostCache()
            try file.context.sync(inode, dataOnly: dataOnly)
        }
        else if let dir = inode as? DirectoryInode { try dir.context.sync(inode, dataOnly: dataOnly) }
    }

    /// sync: every host directory the sandbox writes through to is flushed (errors are not
    /// reported, as sync(2) reports none).
    func sysSync() throws(LinuxErrno) -> UInt64 {
        for ctx in kernel.writeThroughFilesystems { try? ctx.syncAll() }
        return 0
    }

    /// syncfs: the file system holding `fd`, when it writes through to the host.
    func sysSyncfs() throws(LinuxErrno) -> UInt64 {
        let f = try group.fdTable.get(fdArg(a0))
        if let file = f.inode as? RegularFileInode { try file.context.syncAll() }
        else if let dir = f.inode as? DirectoryInode { try dir.context.syncAll() }
        return 0
    }
}

extension GuestThread {
    /// At thread death, every robust mutex the thread still holds is marked FUTEX_OWNER_DIED
    /// and one waiter is woken, as Linux's exit_robust_list does. The list is guest memory:
    /// any bad pointer ends the walk, and the walk is bounded.
    func releaseRobustFutexes() {
        guard robustList != 0,
              let first = try? mm.readValue(robustList, as: UInt64.self),
              let offset = try? mm.readValue(robustList &+ 8, as: Int64.self),
              let pending = try? mm.readValue(robustList &+ 16, as: UInt64.self) else { return }
        func release(_ entry: UInt64) {
            let word = (entry & ~1) &+ UInt64(bitPattern: offset)
            guard var value = try? mm.readValue(word, as: UInt32.self) else { return }
            // Changed by compare-and-swap: the guest's other threads may be at the word.
            for _ in 0..<16 where value & 0x3fff_ffff == UInt32(bitPattern: vnr(tid)) {
                if let key = try? futexKey(word), !(kernel.piWaiters[key]?.isEmpty ?? true) {
                    // A PI mutex: the first waiter gets it, told its owner died.
                    guard let found = try? handOverPI(key, address: word, from: value, ownerDied: true) else { return }
                    if found == value { return }
                    value = found
                    continue
                }
                guard let found = try? mm.compareExchange32(word, expected: value, desired: (value & 0x8000_0000) | 0x4000_0000) else { return }
                if found == value {
                    if value & 0x8000_0000 != 0, let key = try? futexKey(word) { _ = wakeFutex(key, count: 1) }
                    return
                }
                value = found
            }
        }
        var entry = first
        var steps = 0
        while entry != robustList && entry != 0 && steps < 2048 {
            guard let next = try? mm.readValue(entry & ~1, as: UInt64.self) else { break }
            if entry != pending { release(entry) }
            entry = next
            steps += 1
        }
        if pending != 0 { release(pending) }
        robustList = 0
    }
}
