// inotify: file-system events for changes made inside the sandbox (inotify(7)). The VFS
// syscalls report each change once through Kernel.fsnotify; watches are keyed by inode
// identity, so every path to a file reaches the same watch. Changes a host process makes
// under a bind mount or in the host-backed root are not seen (Joey does not watch the host).
// IN_DELETE_SELF is reported when the last link goes (Linux waits for the last open fd too).
// Kernel lock held throughout.
import Glibc
import JoeyABI

struct InotifyMask {
    static let access: UInt32 = 0x1, modify: UInt32 = 0x2, attrib: UInt32 = 0x4, closeWrite: UInt32 = 0x8
    static let closeNoWrite: UInt32 = 0x10, open: UInt32 = 0x20, movedFrom: UInt32 = 0x40, movedTo: UInt32 = 0x80
    static let create: UInt32 = 0x100, delete: UInt32 = 0x200, deleteSelf: UInt32 = 0x400, moveSelf: UInt32 = 0x800
    static let allEvents: UInt32 = 0xfff
    static let unmount: UInt32 = 0x2000, overflow: UInt32 = 0x4000, ignored: UInt32 = 0x8000
    static let onlyDir: UInt32 = 0x0100_0000, dontFollow: UInt32 = 0x0200_0000, exclUnlink: UInt32 = 0x0400_0000
    static let maskCreate: UInt32 = 0x1000_0000, maskAdd: UInt32 = 0x2000_0000, isDir: UInt32 = 0x4000_0000
    static let oneShot: UInt32 = 0x8000_0000
}

final class InotifyWatch {
    unowned let owner: InotifyDescription
    let wd: Int32
    let key: InodeKey
    var mask: UInt32
    init(owner: InotifyDescription, wd: Int32, key: InodeKey, mask: UInt32) {
        self.owner = owner; self.wd = wd; self.key = key; self.mask = mask
    }
}

final class InotifyDescription: FileDescription {
    unowned(unsafe) let kernel: Kernel
    let queue = WaitQueue()
    private var events: [[UInt8]] = []
    private var queuedBytes = 0
    private var watches: [Int32: InotifyWatch] = [:]
    private var nextWD: Int32 = 1
    // Instances and watches count per user, against /proc/sys/fs/inotify's limits
    // (Kernel.tunables); events per instance.
    /// Whose instance this is: its watches count against this user too.
    let owner: UInt32

    /// EMFILE when `owner` has all the instances it may.
    init(kernel: Kernel, flags: Int32, owner: UInt32) throws(LinuxErrno) {
        guard (kernel.inotifyUse[owner]?.instances ?? 0) < kernel.tunables.inotifyMaxUserInstances else { throw .EMFILE }
        self.kernel = kernel
        self.owner = owner
        super.init(anonymous: "inotify", fs: kernel.anonFS, flags: O_RDONLY | flags)
        kernel.inotifyUse[owner, default: (0, 0)].instances += 1
    }

    func addWatch(_ inode: Inode, mask: UInt32) throws(LinuxErrno) -> Int32 {
        let key = InodeKey(inode)
        if let w = watches.values.first(where: { $0.key == key }) {
            if mask & InotifyMask.maskCreate != 0 { throw .EEXIST }
            w.mask = mask & InotifyMask.maskAdd != 0 ? w.mask | mask : mask
            return w.wd
        }
        guard (kernel.inotifyUse[owner]?.watches ?? 0) < kernel.tunables.inotifyMaxUserWatches else { throw .ENOSPC }
        kernel.inotifyUse[owner, default: (0, 0)].watches += 1
        let w = InotifyWatch(owner: self, wd: nextWD, key: key, mask: mask)
        nextWD = nextWD == Int32.max ? 1 : nextWD + 1
        watches[w.wd] = w
        kernel.inotifyWatches[key, default: []].append(w)
        return w.wd
    }

    func removeWatch(_ wd: Int32) throws(LinuxErrno) {
        guard let w = watches[wd] else { throw .EINVAL }
        drop(w)
        enqueue(wd: wd, mask: InotifyMask.ignored, cookie: 0, name: nil)
    }

    fileprivate func drop(_ w: InotifyWatch) {
        guard watches.removeValue(forKey: w.wd) != nil else { return }
        kernel.inotifyUse[owner]?.watches -= 1
        kernel.inotifyWatches[w.key]?.removeAll { $0 === w }
        if kernel.inotifyWatches[w.key]?.isEmpty == true { kernel.inotifyWatches[w.key] = nil }
    }

    /// Queues struct inotify_event; an event identical to the last one queued is merged.
    fileprivate func enqueue(wd: Int32, mask: UInt32, cookie: UInt32, name: ByteString?) {
        var e = [UInt8]()
        var nameBytes = name?.bytes ?? []
        if !nameBytes.isEmpty {
            nameBytes.append(0)
            while nameBytes.count % 16 != 0 { nameBytes.append(0) } // padded as Linux does
        }
        withUnsafeBytes(of: wd) { e += $0 }
        withUnsafeBytes(of: mask) { e += $0 }
        withUnsafeBytes(of: cookie) { e += $0 }
        withUnsafeBytes(of: UInt32(nameBytes.count)) { e += $0 }
        e += nameBytes
        if events.last == e { return }
        if events.count >= kernel.tunables.inotifyMaxQueuedEvents {
            let overflow = [UInt8](repeating: 0xff, count: 4) + withUnsafeBytes(of: InotifyMask.overflow) { Array($0) } + [UInt8](repeating: 0, count: 8)
            if events.last != overflow { events.append(overflow); queuedBytes += overflow.count }
        } else {
            events.append(e)
            queuedBytes += e.count
        }
        queue.notify(EventMask.input)
    }

    fileprivate func deliver(_ w: InotifyWatch, mask: UInt32, cookie: UInt32, name: ByteString?) {
        enqueue(wd: w.wd, mask: mask, cookie: cookie, name: name)
        if w.mask & InotifyMask.oneShot != 0 {
            drop(w)
            enqueue(wd: w.wd, mask: InotifyMask.ignored, cookie: 0, name: nil)
        }
    }

    fileprivate func watchGone(_ w: InotifyWatch) {
        drop(w)
        enqueue(wd: w.wd, mask: InotifyMask.ignored, cookie: 0, name: nil)
    }

    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 { try seekNowhere(whence) }

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        guard let first = events.first else { throw .EAGAIN }
        guard dst.count >= first.count else { throw .EINVAL }
        var done = 0
        while let e = events.first, dst.count >= e.count {
            let n = try e.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in try dst.copyOut(p) }
            guard n == e.count else { if done > 0 { break }; throw .EFAULT }
            events.removeFirst()
            queuedBytes -= e.count
            done += n
        }
        return done
    }

    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int { throw .EINVAL }
    override func eventQueue() -> WaitQueue? { queue }
    override func readiness(_ mask: EventMask) -> EventMask { events.isEmpty ? [] : mask.intersection(EventMask.input) }
    override func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        guard request == 0x541B else { throw .ENOTTY } // FIONREAD
        try t.mm.writeValue(argument, Int32(queuedBytes))
        return 0
    }

    /// One line per watch, as Linux's inotify_fdinfo (no file handle: Joey has none to give).
    override func fdinfoLines(seenIn ns: PIDNamespace) -> String {
        watches.values.sorted { $0.wd < $1.wd }.map { w in
            "inotify wd:\(String(w.wd, radix: 16)) ino:\(String(w.key.ino, radix: 16)) sdev:\(String(w.key.dev, radix: 16))"
                + " mask:\(String(w.mask & ~(InotifyMask.maskAdd | InotifyMask.maskCreate | InotifyMask.onlyDir | InotifyMask.dontFollow), radix: 16)) ignored_mask:0\n"
        }.joined()
    }

    override func release() {
        for w in watches.values { drop(w) }
        kernel.inotifyUse[owner]?.instances -= 1
        if let use = kernel.inotifyUse[owner], use.instances == 0 && use.watches == 0 { kernel.inotifyUse[owner] = nil }
    }
}

extension Kernel {
    /// Reports `mask` on `inode`'s own watches.
    func fsnotify(_ inode: Inode, _ mask: UInt32, cookie: UInt32 = 0) {
        // A directory's dnotify watch hears what is done to the directory itself too.
        if !dnotifyWatches.isEmpty && inode.kind == .directory { dnotifyEvent(in: inode, mask) }
        guard !inotifyWatches.isEmpty, let ws = inotifyWatches[InodeKey(inode)] else { return }
        // A directory's own IN_MOVE_SELF and IN_DELETE_SELF carry no IN_ISDIR (its IN_ATTRIB,
        // IN_OPEN and the like do), as on Linux.
        let selfOnly = InotifyMask.moveSelf | InotifyMask.deleteSelf
        let flag = inode.kind == .directory && mask & selfOnly == 0 ? InotifyMask.isDir : 0
        for w in ws where w.mask & mask != 0 { w.owner.deliver(w, mask: mask | flag, cookie: cookie, name: nil) }
    }

    /// Reports `mask` for the entry `name` (of kind `kind`) on its directory's watches, and
    /// (unless `selfToo` is false) on the entry's own inode.
    func fsnotify(in directory: Inode, name: ByteString, child: Inode?, _ mask: UInt32, cookie: UInt32 = 0, selfToo: Bool = true) {
        if !dnotifyWatches.isEmpty {
            dnotifyEvent(in: directory, mask)
            // The child's own: a watched subdirectory's dnotify hears it, inotify or not.
            if inotifyWatches.isEmpty, selfToo, let child { fsnotify(child, mask, cookie: cookie) }
        }
        guard !inotifyWatches.isEmpty else { return }
        let flag = child?.kind == .directory ? InotifyMask.isDir : 0
        // IN_EXCL_UNLINK: a watch that asks so hears nothing more of what is done to a child
        // (its events on the child, not the directory's own create, delete and moves) once it
        // is unlinked from the directory: a file still open after its unlink, say.
        let onChild = InotifyMask.access | InotifyMask.modify | InotifyMask.attrib | InotifyMask.closeWrite
            | InotifyMask.closeNoWrite | InotifyMask.open
        var unlinked: Bool?
        for w in inotifyWatches[InodeKey(directory)] ?? [] where w.mask & mask != 0 {
            if w.mask & InotifyMask.exclUnlink != 0, mask & onChild != 0, let child {
                if unlinked == nil { unlinked = (try? directory.lookup(name)) !== child }
                if unlinked == true { continue }
            }
            w.owner.deliver(w, mask: mask | flag, cookie: cookie, name: name)
        }
        if selfToo, let child { fsnotify(child, mask, cookie: cookie) }
    }

    /// The file's last link went: its watches see IN_DELETE_SELF, then IN_IGNORED.
    func fsnotifyDeleted(_ inode: Inode) {
        guard !inotifyWatches.isEmpty, let ws = inotifyWatches[InodeKey(inode)] else { return }
        fsnotify(inode, InotifyMask.deleteSelf)
        for w in ws { w.owner.watchGone(w) }
    }

    /// A description's change or access, reported on the file and its directory.
    func fsnotify(_ f: FileDescription, _ mask: UInt32) { fsnotify(f.inode, at: f.location, mask) }

    /// A change to `inode`, reached at `loc` (nil: without a path), reported on its
    /// directory with its name, then on the file itself, as Linux's fsnotify_parent.
    func fsnotify(_ inode: Inode, at loc: Location?, _ mask: UInt32) {
        guard !inotifyWatches.isEmpty || !dnotifyWatches.isEmpty else { return }
        if let loc, let parent = loc.parent {
            fsnotify(in: parent.inode, name: loc.name, child: inode, mask)
        } else {
            fsnotify(inode, mask)
        }
    }

    func nextRenameCookie() -> UInt32 {
        renameCookie &+= 1
        return renameCookie
    }
}

extension GuestThread {
    func sysInotifyInit1(flagsArg: UInt64) throws(LinuxErrno) -> UInt64 {
        guard flagsArg & ~UInt64(O_NONBLOCK | O_CLOEXEC) == 0 else { throw .EINVAL }
        let flags = Int32(truncatingIfNeeded: flagsArg)
        guard group.fdTable.hasRoom else { throw .EMFILE }
        let d = try InotifyDescription(kernel: kernel, flags: flags & O_NONBLOCK, owner: group.euid)
        return UInt64(try group.fdTable.install(d, closeOnExec: flags & O_CLOEXEC != 0))
    }

    func sysInotifyAddWatch() throws(LinuxErrno) -> UInt64 {
        let f = try group.fdTable.get(fdArg(a0))
        let mask = UInt32(truncatingIfNeeded: a2)
        guard let d = f as? InotifyDescription else { throw .EINVAL }
        guard mask & InotifyMask.allEvents != 0 else { throw .EINVAL }
        if mask & InotifyMask.maskAdd != 0 && mask & InotifyMask.maskCreate != 0 { throw .EINVAL }
        let loc = try lookup(AT_FDCWD, try pathArg(a1), follow: mask & InotifyMask.dontFollow == 0)
        if mask & InotifyMask.onlyDir != 0 && loc.inode.kind != .directory { throw .ENOTDIR }
        try checkAccess(loc.inode, read: true, write: false, mount: loc.mount)
        return UInt64(try d.addWatch(loc.inode, mask: mask))
    }

    func sysInotifyRmWatch() throws(LinuxErrno) -> UInt64 {
        guard let d = try group.fdTable.get(fdArg(a0)) as? InotifyDescription else { throw .EINVAL }
        try d.removeWatch(Int32(truncatingIfNeeded: a1))
        return 0
    }
}
