// VFS/ owns the file model: inodes, open file descriptions, fd tables, path walking, the
// host tree (the root dirfd every host path is opened under) and its bounded fd cache.
// Filesystems live in FS/. Kernel lock held throughout.
//
// Open file descriptions (struct file): what an fd points at. Defaults fail the way Linux
// does when a file has no such operation.
import Glibc
import JoeyABI

public class FileDescription {
    let inode: Inode
    /// Status flags and access mode (O_ACCMODE | O_APPEND | O_NONBLOCK ...).
    var flags: Int32
    var offset: UInt64 = 0
    /// The path the file was opened by (for /proc/pid/fd and getcwd of fchdir): `named`'s as
    /// its directories are named now (d_path), worked out when asked for.
    var path: ByteString {
        get { named?.current().path ?? storedPath }
        set { storedPath = newValue; named = nil }
    }
    private var storedPath: ByteString = ""
    /// Where `path` is to be worked out from (a Location's names never change).
    var named: Location?
    /// The directory entry it was opened through, when it has one.
    var location: Location?
    /// How many holders refer to it (fd-table slots, descriptors in flight in a socket
    /// message); at zero, its epoll interests go and release() runs.
    private(set) var references = 0
    /// F_SETOWN's process (> 0) or process group (< 0) that O_ASYNC signals go to, and
    /// F_SETSIG's signal (0: SIGIO).
    var asyncOwner: Int32 = 0
    var asyncSignal: Int32 = 0
    /// The fd its readiness signals name in si_fd: the one O_ASYNC (or F_NOTIFY) was set
    /// through, as Linux's fasync entry records it.
    var asyncFD: Int32 = -1
    /// Set for files opened by path: the kernel that reports its close to inotify.
    unowned(unsafe) var notifier: Kernel?
    /// The epoll interests watching it, dropped with the last reference (as Linux's eventpoll_release).
    var epollInterests: [EpollInterest] = []
    /// The Landlock rights its opener's domain denied it for later calls (truncate, a
    /// device's ioctls), fixed at open as Linux's landlock_file; 0 for most.
    var landlockDenied: UInt64 = 0
    /// The Landlock domain and process of whoever last set `asyncOwner` (hook_file_set_fowner):
    /// its signal scope decides whom SIGIO and SIGURG reach.
    var ownerSetter: LandlockOwnerSetter?

    init(inode: Inode, flags: Int32) {
        self.inode = inode
        self.flags = flags
    }

    /// A description with no file behind it (eventfd, epoll, timerfd...): its own anonymous
    /// inode, named in /proc/PID/fd as "anon_inode:NAME".
    init(anonymous name: String, fs: FileSystemID, flags: Int32, kind: FileKind = .anonymous) {
        inode = AnonymousInode(name: name, fs: fs, kind: kind)
        self.flags = flags
        path = ByteString("anon_inode:" + name)
    }

    var readable: Bool { flags & O_ACCMODE != O_WRONLY && flags & O_PATH == 0 }
    /// Pipes, sockets, character devices and anonymous files have no fsync (EINVAL, as Linux).
    var hasFsync: Bool { !(inode is AnonymousInode) && ![.anonymous, .fifo, .socket, .characterDevice].contains(inode.kind) }
    var writable: Bool { flags & O_ACCMODE != O_RDONLY && flags & O_PATH == 0 }

    // I/O never blocks here: a description that cannot transfer anything yet throws EAGAIN,
    // and the syscall layer (FileSyscalls' readCommon/writeCommon) waits and retries. Buffers
    // are IOSequences, translated at each copy.
    func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int { throw .EINVAL }
    func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int { throw .EINVAL }
    func pread(_ t: GuestThread, _ dst: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int { throw .ESPIPE }
    func pwrite(_ t: GuestThread, _ src: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int { throw .ESPIPE }
    func seek(_ offset: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 { throw .ESPIPE }
    /// noop_llseek, for files whose position means nothing (eventfd, epoll, signalfd, timerfd,
    /// inotify): any seek succeeds and leaves it at 0; only an unknown whence is EINVAL.
    final func seekNowhere(_ whence: Int32) throws(LinuxErrno) -> UInt64 {
        guard (0...4).contains(whence) else { throw .EINVAL }
        return offset
    }
    func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 { throw .ENOTTY }
    func getdents(into: inout [UInt8], capacity: Int) throws(LinuxErrno) { throw .ENOTDIR }
    /// The events of `mask` (plus those always reported) that hold now. Files that never
    /// block are always readable and writable.
    func readiness(_ mask: EventMask) -> EventMask { mask.intersection(EventMask.input.union(.output)) }
    /// The queue notified when the description's readiness changes; nil for files that are
    /// always ready (regular files, devices).
    func eventQueue() -> WaitQueue? { nil }
    /// Blocks until the description may have become ready for `events`, or until a signal or
    /// kill interrupts (ERESTARTSYS, EINTR); the caller then retries its operation.
    func waitForEvents(_ t: GuestThread, _ events: EventMask) throws(LinuxErrno) { try t.block(on: eventQueue(), events) }
    /// Called when the last reference goes.
    func release() {}
    /// Lines /proc/PID/fdinfo/N adds for this kind of file (inotify's watches, say).
    /// `ns`: the pid namespace of the procfs it is read through.
    func fdinfoLines(seenIn ns: PIDNamespace) -> String { "" }
    /// Called whenever an fd of it is closed, with the closing fd table (Linux's flush).
    func flush(table: ObjectIdentifier) {}

    func incRef() { references += 1 }
    func decRef() {
        references -= 1
        guard references == 0 else { return }
        for i in epollInterests { i.owner.drop(i) }
        epollInterests = []
        notifier?.fsnotify(self, writable ? InotifyMask.closeWrite : InotifyMask.closeNoWrite)
        inode.fileLocks?.releaseAll(owner: ObjectIdentifier(self)) // its OFD locks and flock
        release()
    }
}

/// The inode behind descriptions that have no file (eventfd, epoll, signalfd, sockets...).
final class AnonymousInode: Inode {
    let name: String
    init(name: String, fs: FileSystemID, kind: FileKind = .anonymous) {
        self.name = name
        super.init(kind: kind, mode: kind == .socket ? 0o777 : 0o600, fs: fs)
    }
}

/// Offset-based access to a regular file, through the overlay's copy-up rules.
final class RegularFileDescription: FileDescription {
    var file: RegularFileInode { inode as! RegularFileInode }
    /// Made with the file, as alloc_file_pseudo makes memfd_create's: not among the openers
    /// that keep it from being executed (a memfd can be fexecve'd through its own fd).
    var uncounted = false {
        didSet { if writable && uncounted != oldValue { file.openWriters += uncounted ? -1 : 1 } }
    }

    override func release() {
        if writable && !uncounted { file.openWriters -= 1 }
        if readable && !writable { file.openReaders -= 1 }
        if !file.leases.isEmpty { file.dropLease(of: self) }
    }

    /// A read at the file position is under way with the kernel lock let go (a host read
    /// waiting for the disk): reads, writes and seeks of this description wait their turn,
    /// as Linux's f_pos_lock has them wait, so each sees the position the one before left.
    private lazy var positionLock = SleepingMutex()

    private func atPosition<T>(_ t: GuestThread?, _ body: () throws(LinuxErrno) -> T) throws(LinuxErrno) -> T {
        try positionLock.holding(t, body)
    }

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        try atPosition(t) { () throws(LinuxErrno) -> Int in
            let n = try file.read(&dst, at: offset)
            offset += UInt64(n)
            accessed()
            return n
        }
    }
    override func pread(_ t: GuestThread, _ dst: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int {
        let n = try file.read(&dst, at: at)
        accessed()
        return n
    }
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        try atPosition(t) { () throws(LinuxErrno) -> Int in
            try file.excludingWrites(t) { () throws(LinuxErrno) -> Int in
                if flags & O_APPEND != 0 { offset = file.size }
                let n = try file.write(&src, at: offset)
                offset += UInt64(n)
                return n
            }
        }
    }
    override func pwrite(_ t: GuestThread, _ src: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int {
        try file.excludingWrites(t) { () throws(LinuxErrno) -> Int in
            try file.write(&src, at: flags & O_APPEND != 0 ? file.size : at)
        }
    }
    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 {
        try atPosition(GuestThread.onThisHostThread) { () throws(LinuxErrno) -> UInt64 in
            if whence == 3 || whence == 4, off >= 0, let at = try file.seekInSandbox(UInt64(off), data: whence == 3) {
                offset = at
                return at
            }
            return try seekCommon(off, whence: whence, size: file.size)
        }
    }
}

extension FileDescription {
    /// After a read or a listing (file_accessed, touch_atime): the access time, as the mount's
    /// policy says. relatime (the default) only when the access time is not after the last
    /// change or is a day old, strictatime always, noatime never, nodiratime not for
    /// directories; never through O_NOATIME, for a chattr +A file, or on a read-only mount.
    func accessed() {
        guard flags & O_NOATIME == 0 else { return }
        let inode = self.inode
        let mount = location?.mount?.flags ?? []
        if inode.attributeFlags & Inode.noATimeFlag != 0 || inode.fs.readOnly || mount.contains(.readOnly)
            || mount.contains(.noATime) || (inode.kind == .directory && mount.contains(.noDirATime)) { return }
        let now = Timespec.now()
        let a = inode.atime
        func notAfter(_ x: Timespec, _ y: Timespec) -> Bool { x.sec < y.sec || (x.sec == y.sec && x.nsec <= y.nsec) }
        if mount.contains(.relATime) && !notAfter(a, inode.mtime) && !notAfter(a, inode.ctime)
            && now.sec - a.sec < 24 * 60 * 60 { return }
        if a != now { inode.atime = now }
    }

    /// Reads from `offset` into sentry memory, or the MemoryFile, until it is full or the file
    /// ends (the ELF loader, a private file mapping's copy). Returns the bytes read.
    func readFully(_ t: GuestThread, into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(LinuxErrno) -> Int {
        var dst = IOSequence.sentry(buffer, in: t.kernel.memoryFile)
        var done = 0
        while dst.count > 0 {
            let n = try pread(t, &dst, at: offset &+ UInt64(done))
            if n <= 0 { break }
            done += n
        }
        return done
    }

    func seekCommon(_ off: Int64, whence: Int32, size: UInt64) throws(LinuxErrno) -> UInt64 {
        let base: Int64
        switch whence {
        case SEEK_SET: base = 0
        case SEEK_CUR: base = Int64(offset)
        case SEEK_END: base = Int64(size)
        case 3 /* SEEK_DATA */:
            guard off >= 0, UInt64(off) < size else { throw .ENXIO }
            offset = UInt64(off); return offset
        case 4 /* SEEK_HOLE */:
            guard off >= 0, UInt64(off) < size else { throw .ENXIO }
            offset = size; return offset
        default: throw .EINVAL
        }
        // A position past INT64_MAX wraps negative in Linux's arithmetic: EINVAL either way.
        let (n, o) = base.addingReportingOverflow(off)
        guard !o, n >= 0 else { throw .EINVAL }
        offset = UInt64(n)
        return offset
    }
}

/// Directory reading: a snapshot of the entries taken at open, walked by getdents64.
final class DirectoryDescription: FileDescription {
    private var snapshot: [DirEntry]?

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int { throw .EISDIR }
    override func pread(_ t: GuestThread, _ dst: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int { throw .EISDIR }
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int { throw .EISDIR }
    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 {
        guard whence == SEEK_SET || whence == SEEK_CUR else { throw .EINVAL }
        // A position that overflows wraps negative in Linux's dcache_dir_lseek: EINVAL.
        let (n, overflow) = whence == SEEK_SET ? (off, false) : Int64(offset).addingReportingOverflow(off)
        guard !overflow, n >= 0 else { throw .EINVAL }
        offset = UInt64(n)
        if n == 0 { snapshot = nil }
        return offset
    }

    override func getdents(into out: inout [UInt8], capacity: Int) throws(LinuxErrno) {
        // A directory rmdir removed lists nothing: ENOENT (iterate_dir's IS_DEADDIR).
        if inode.removed { throw .ENOENT }
        defer { accessed() }
        if snapshot == nil {
            let parentIno = location?.parent?.inode.ino ?? inode.ino
            snapshot = [DirEntry(name: ".", ino: inode.ino, kind: .directory),
                        DirEntry(name: "..", ino: parentIno, kind: .directory)] + (try inode.entries())
        }
        let entries = snapshot!
        while offset < UInt64(entries.count) {
            let e = entries[Int(offset)]
            let name = e.name.bytes
            let reclen = (19 + name.count + 1 + 7) & ~7
            if out.count + reclen > capacity {
                if out.isEmpty { throw .EINVAL }
                return
            }
            var rec = [UInt8](repeating: 0, count: reclen)
            rec.withUnsafeMutableBytes { p in
                p.storeBytes(of: e.ino, toByteOffset: 0, as: UInt64.self)
                p.storeBytes(of: offset + 1, toByteOffset: 8, as: UInt64.self)
                p.storeBytes(of: UInt16(reclen), toByteOffset: 16, as: UInt16.self)
                p.storeBytes(of: e.kind.direntType, toByteOffset: 18, as: UInt8.self)
                for (i, c) in name.enumerated() { p.storeBytes(of: c, toByteOffset: 19 + i, as: UInt8.self) }
            }
            out += rec
            offset += 1
        }
    }
}

/// A description whose whole content is generated at open (procfs files).
class GeneratedFileDescription: FileDescription {
    var content: [UInt8]
    init(inode: Inode, flags: Int32, content: [UInt8]) {
        self.content = content
        super.init(inode: inode, flags: flags)
    }
    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        let n = try pread(t, &dst, at: offset)
        offset += UInt64(n)
        return n
    }
    override func pread(_ t: GuestThread, _ dst: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int {
        guard at < UInt64(content.count) else { return 0 }
        return try content.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in
            try dst.copyOut(UnsafeRawBufferPointer(rebasing: p[Int(at)...]))
        }
    }
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int { throw .EACCES }
    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 {
        try seekCommon(off, whence: whence, size: UInt64(content.count))
    }
}

/// A host fd the sentry owns (a dup of a stream handed to the sandbox): closed when the last
/// inode or description using it goes, so the host end sees EOF when the guest is done.
final class OwnedHostFD {
    let fd: Int32
    private unowned(unsafe) let kernel: Kernel
    init(_ fd: Int32, kernel: Kernel) { self.fd = fd; self.kernel = kernel }
    deinit {
        // The notifier stops watching it first: the number may be reused at once.
        kernel.hostNotifier.forget(fd)
        close(fd)
    }
}

/// A host fd's poll events among `mask` (and the always-reported ones), right now.
func hostPollEvents(_ fd: Int32, _ mask: EventMask) -> EventMask {
    var pfd = pollfd(fd: fd, events: Int16(truncatingIfNeeded: mask.rawValue), revents: 0)
    _ = poll(&pfd, 1, 0)
    return EventMask(rawValue: UInt32(UInt16(bitPattern: pfd.revents)))
}

/// The inode behind a non-terminal standard stream: a pipe, file or socket of the host,
/// described by its kind and size only.
final class HostStreamInode: Inode {
    private let owner: OwnedHostFD
    var hostFD: Int32 { owner.fd }
    init(hostFD owner: OwnedHostFD, fs: FileSystemID) {
        self.owner = owner
        let hostFD = owner.fd
        var st = stat()
        let ok = fstat(hostFD, &st) == 0
        let kind: FileKind = ok ? (FileKind(hostMode: st.st_mode) ?? .fifo) : .fifo
        super.init(kind: kind == .directory ? .fifo : kind, mode: ok ? st.st_mode & 0o7777 : 0o600, fs: fs)
    }
    override var size: UInt64 {
        var st = stat()
        return kind == .regular && fstat(hostFD, &st) == 0 ? UInt64(st.st_size) : 0
    }
    /// Reopened through /proc/PID/fd (/dev/stderr): another description of the same host stream.
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        if kind == .socket { throw .ENXIO }
        return HostStreamDescription(inode: self, hostFD: owner.fd, owner: owner, flags: flags, kernel: kernel)
    }
}

/// A host file the sentry owns and reads or writes on the guest's behalf — the sandbox's
/// standard streams. The guest never holds the host fd itself.
final class HostStreamDescription: FileDescription {
    let hostFD: Int32
    /// Keeps hostFD open while the description lives (nil: the kernel's own terminal).
    private let owner: OwnedHostFD?
    let kernel: Kernel
    init(inode: Inode, hostFD: Int32, owner: OwnedHostFD?, flags: Int32, kernel: Kernel) {
        self.hostFD = hostFD
        self.owner = owner
        self.kernel = kernel
        super.init(inode: inode, flags: flags)
    }

    /// Reads what the host has now, into a sentry buffer with the kernel lock released (the
    /// host call may take its time); the bytes are copied to the guest after relocking.
    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        guard !hostPollEvents(hostFD, EventMask.input.union(.hangUp)).isDisjoint(with: [.readable, .hangUp, .error]) else { throw .EAGAIN }
        let want = min(dst.count, 1 << 16)
        var buffer = [UInt8](repeating: 0, count: want)
        let n = try kernel.unlockedHostCall { () throws(LinuxErrno) -> Int in
            let r = buffer.withUnsafeMutableBytes { Glibc.read(hostFD, $0.baseAddress, want) }
            if r < 0 { throw LinuxErrno(errno) } // taken before relocking, which makes host calls of its own
            return r
        }
        return try buffer.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in
            try dst.copyOut(UnsafeRawBufferPointer(rebasing: p[0..<n]))
        }
    }
    /// Writes through a sentry buffer, the host call made with the kernel lock released.
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        var buffer = [UInt8](repeating: 0, count: min(src.count, 1 << 16))
        var copy = src
        let have = try buffer.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in try copy.copyIn(p) }
        let n = kernel.unlockedHostCall { () -> Int in
            let r = buffer.withUnsafeBytes { Glibc.write(hostFD, $0.baseAddress, have) }
            return r >= 0 ? r : -Int(errno) // taken before relocking, which makes host calls of its own
        }
        if n < 0 {
            let e = Int32(-n)
            if e == EPIPE { t.sendSignalToSelf(Signal.SIGPIPE) }
            throw LinuxErrno(e)
        }
        src.skip(n)
        return n
    }
    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 {
        let r = lseek(hostFD, off_t(off), whence)
        if r < 0 { throw LinuxErrno(errno) }
        return UInt64(r)
    }
    override func readiness(_ mask: EventMask) -> EventMask { hostPollEvents(hostFD, mask) }
    /// The host-fd notifier's queue for this fd.
    override func eventQueue() -> WaitQueue? { kernel.hostNotifier.queue(for: hostFD) }
    override func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        try kernel.terminalIoctl(t, hostFD: hostFD, request: request, argument: argument)
    }
}
