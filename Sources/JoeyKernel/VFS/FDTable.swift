// The fd table of a process: small integers -> open file descriptions, with FD_CLOEXEC.
// Processes made with CLONE_FILES share one table (Linux's files_struct); it closes its
// descriptors only when the last process using it lets go. Kernel lock held throughout.
import JoeyABI

final class FDTable {
    struct Entry {
        var file: FileDescription
        var closeOnExec: Bool
    }
    private(set) var entries: [Entry?] = []
    var limit = 1024
    /// No fd below this is free (Linux's next_fd): installs start here, not at 0, so a
    /// process holding thousands of fds does not rescan them on each open.
    private var lowestFree = 0
    /// Processes using this table (CLONE_FILES shares it).
    private(set) var users = 1

    /// Another process shares the table (clone with CLONE_FILES).
    func addUser() -> FDTable { users += 1; return self }

    /// A process stops using the table (exit, execve or unshare(CLONE_FILES) of a sharer);
    /// the last one closes every descriptor.
    func removeUser() {
        users -= 1
        if users == 0 { closeAll() }
    }

    /// The description at `fd` for an operation on its file: an O_PATH one allows none
    /// (EBADF, as Linux's fdget).
    func get(_ fd: Int32) throws(LinuxErrno) -> FileDescription {
        let f = try getRaw(fd)
        if f.flags & O_PATH != 0 { throw .EBADF }
        return f
    }

    /// The description at `fd`, O_PATH ones too (Linux's fdget_raw): for what only names a
    /// file — dup, fcntl's descriptor commands, fstat, fstatfs, fchdir, a dirfd, execveat,
    /// kcmp, SCM_RIGHTS, /proc/PID/fd.
    func getRaw(_ fd: Int32) throws(LinuxErrno) -> FileDescription {
        guard fd >= 0, Int(fd) < entries.count, let e = entries[Int(fd)] else { throw .EBADF }
        return e.file
    }

    func entry(_ fd: Int32) -> Entry? {
        guard fd >= 0, Int(fd) < entries.count else { return nil }
        return entries[Int(fd)]
    }

    /// Whether an install would find a free fd (not EMFILE).
    var hasRoom: Bool {
        var fd = lowestFree
        while fd < entries.count && isUsed(fd) { fd += 1 }
        return fd < limit
    }

    /// Installs at the lowest free fd >= minimum.
    func install(_ file: FileDescription, closeOnExec: Bool = false, minimum: Int32 = 0) throws(LinuxErrno) -> Int32 {
        var fd = max(Int(minimum), lowestFree)
        while fd < entries.count && isUsed(fd) { fd += 1 }
        guard fd < limit else { throw .EMFILE }
        if fd >= entries.count { entries.append(contentsOf: repeatElement(nil, count: fd - entries.count + 1)) }
        entries[fd] = Entry(file: file, closeOnExec: closeOnExec)
        if Int(minimum) <= lowestFree { lowestFree = fd + 1 }
        retain(file)
        return Int32(fd)
    }

    private func isUsed(_ fd: Int) -> Bool {
        if case .none = entries[fd] { return false }
        return true
    }

    /// A slot became free: installs may use it again.
    private func freed(_ fd: Int) { lowestFree = min(lowestFree, fd) }

    /// Installs at exactly `fd`, closing what was there (dup2/dup3).
    func install(_ file: FileDescription, at fd: Int32, closeOnExec: Bool) throws(LinuxErrno) {
        guard fd >= 0, Int(fd) < limit else { throw .EBADF }
        if Int(fd) >= entries.count { entries.append(contentsOf: repeatElement(nil, count: Int(fd) - entries.count + 1)) }
        retain(file)
        if let old = entries[Int(fd)] { releaseRef(old.file) }
        entries[Int(fd)] = Entry(file: file, closeOnExec: closeOnExec)
        if Int(fd) == lowestFree { lowestFree += 1 }
    }

    func setCloseOnExec(_ fd: Int32, _ value: Bool) throws(LinuxErrno) {
        guard fd >= 0, Int(fd) < entries.count, entries[Int(fd)] != nil else { throw .EBADF }
        entries[Int(fd)]!.closeOnExec = value
    }

    func close(_ fd: Int32) throws(LinuxErrno) {
        guard fd >= 0, Int(fd) < entries.count, let e = entries[Int(fd)] else { throw .EBADF }
        entries[Int(fd)] = nil
        freed(Int(fd))
        releaseRef(e.file)
    }

    private func closeAll() {
        for i in entries.indices { if let e = entries[i] { entries[i] = nil; releaseRef(e.file) } }
        lowestFree = 0
    }

    func closeOnExec() {
        for i in entries.indices { if let e = entries[i], e.closeOnExec { entries[i] = nil; freed(i); releaseRef(e.file) } }
    }

    /// EMFILE when a copy could not hold this table's fds under fs.nr_open (dup_fd's check:
    /// the copy spans the open fds rounded up to 64, and at most nr_open rounded likewise).
    func checkCopyable(nrOpen: Int) throws(LinuxErrno) {
        guard let last = entries.lastIndex(where: { $0 != nil }) else { return }
        if (last + 64) / 64 > (nrOpen + 63) / 64 { throw .EMFILE }
    }

    func copy() -> FDTable {
        let t = FDTable()
        t.limit = limit
        t.entries = entries
        t.lowestFree = lowestFree
        for e in entries { if let e { retain(e.file) } }
        return t
    }

    var openFDs: [Int32] { entries.indices.compactMap { entries[$0] != nil ? Int32($0) : nil } }

    // Descriptions count their references so pipes and sockets see their last close.
    private func retain(_ f: FileDescription) { f.incRef() }
    /// Closing any fd of a file drops the POSIX locks this table holds on it (as Linux's
    /// locks_remove_posix), whatever other fds still refer to it.
    private func releaseRef(_ f: FileDescription) {
        f.inode.fileLocks?.releaseAll(owner: ObjectIdentifier(self))
        f.flush(table: ObjectIdentifier(self))
        f.decRef()
    }
}
