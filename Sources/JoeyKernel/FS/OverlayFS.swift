// FS/ holds the filesystems and special files: the overlay root and tmpfs, procfs, devfs,
// devpts, mqueue, nsfs, pipes and FIFOs, eventfd, memfd, IPC. Kernel lock held throughout, except around host calls that
// may take long (disk reads, writes through to the host, fsync, image fills, lookups and
// listings the host has not cached: Kernel.unlockedHostCall), which work on fds and buffers
// of their own; blocking happens only in the syscall layer, on wait queues (and a file's
// write turn, RegularFileInode.excludingWrites).
//
// The sandbox's root filesystem, and tmpfs. A directory or regular file may have a
// *lower* host counterpart (read through HostTree); every change goes to the in-memory
// upper layer: data is copied up on first write, deletions are recorded as whiteouts.
// A directory with no lower path is plain tmpfs. With write-through, changes to lower
// files go to the host instead (the user's explicit --rootfs-writable).
import CJoey
import Glibc
import JoeyABI
import JoeyPlatform
import Synchronization

final class OverlayContext {
    let id: FileSystemID
    let host: HostTree?
    let writeThrough: Bool
    /// Where files that live in the sandbox keep their data.
    let memoryFile: MemoryFile
    /// The open host fds of lower files (shared by every mount of the sandbox).
    let hostFiles: HostFileCache
    /// Bytes held by the private-mapping images of lower files (RegularFileInode.privateImage).
    /// Atomic: an inode's deinit (which drops its images) may run outside the kernel lock.
    let imageBytes = Atomic<UInt64>(0)
    /// At most this much (a quarter of a memory limit, if smaller) is held in images: past
    /// it, a private mapping gets its own copy of the file as before.
    static let imageBudget: UInt64 = 256 << 20
    /// Images that map a host file directly (each holds a read-only host fd and a view of
    /// the file in the sentry, no MemoryFile memory), where the platform maps host files.
    let hostImages = Atomic<Int>(0)
    /// At most an eighth of the sentry's fd limit, and 1024: past it, images are copies.
    static let hostImageLimit: Int = {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return max(16, min(1024, Int(min(limit.rlim_cur, 1 << 20)) / 8))
    }()
    /// Files with a host cache (RegularFileInode.hostCache), for sync and syncfs.
    var hostCachedFiles: [WeakRegularFileInode] = []
    /// The host cannot read without waiting (no RWF_NOWAIT here): reads of host files are
    /// made with the kernel lock held, as plain preads.
    var hostReadsWait = false
    /// For host calls made with the kernel lock released (Kernel.unlockedHostCall). The
    /// kernel holds its filesystems, and outlives them.
    unowned let kernel: Kernel
    init(id: FileSystemID, host: HostTree?, writeThrough: Bool, memoryFile: MemoryFile, hostFiles: HostFileCache, kernel: Kernel) {
        self.id = id; self.host = host; self.writeThrough = writeThrough; self.memoryFile = memoryFile
        self.hostFiles = hostFiles; self.kernel = kernel
    }

    /// Builds the inode for a host entry (a symlink's target, if not given, is read).
    func lowerInode(path: ByteString, st: stat, target: ByteString? = nil) -> Inode? {
        let kind = FileKind(hostMode: st.st_mode) ?? .regular
        let node: Inode
        switch kind {
        case .directory:
            node = DirectoryInode(context: self, mode: st.st_mode, lowerPath: path, ino: UInt64(st.st_ino))
        case .regular:
            let f = RegularFileInode(context: self, mode: st.st_mode, ino: UInt64(st.st_ino))
            f.lowerPath = path
            f.lowerSize = UInt64(st.st_size)
            node = f
        case .symlink:
            guard let target = target ?? host?.readlink(path) else { return nil }
            node = SymlinkInode(target: target, fs: id, ino: UInt64(st.st_ino))
        default:
            // Host devices, fifos and sockets are shown but cannot be opened: the guest
            // reaches devices only through the sentry's /dev.
            node = SpecialInode(kind: kind, mode: st.st_mode, fs: id, ino: UInt64(st.st_ino))
            node.rdev = UInt64(st.st_rdev)
        }
        node.uid = st.st_uid
        node.gid = st.st_gid
        node.nlink = UInt64(st.st_nlink)
        node.hostBlocks = UInt64(st.st_blocks)
        if kind == .directory { node.hostSize = UInt64(st.st_size) }
        node.atime = Timespec(st.st_atim)
        node.mtime = Timespec(st.st_mtim)
        node.ctime = Timespec(st.st_ctim)
        return node
    }
}

extension OverlayContext {
    /// Write-through: runs `body` with the host parent directory of `path` and its last name.
    func onHost(_ path: ByteString, _ body: (Int32, UnsafePointer<CChar>) -> Int32) throws(LinuxErrno) {
        guard let host else { throw .EIO }
        let (parent, leaf) = path.splitLast
        let dfd = host.openPath(parent, flags: O_PATH | O_DIRECTORY)
        guard dfd >= 0 else { throw LinuxErrno(-dfd) }
        defer { close(dfd) }
        if leaf.withCString({ body(dfd, $0) }) != 0 { throw LinuxErrno(errno) }
    }

    /// The host path of an inode that write-through mode keeps on the host.
    func hostPath(of inode: Inode) -> ByteString? {
        guard writeThrough else { return nil }
        if let d = inode as? DirectoryInode { return d.lowerPath }
        if let f = inode as? RegularFileInode { return f.lowerPath }
        return nil
    }

    /// fsync, fdatasync, sync_file_range: a write-through file's (or directory's) host copy
    /// is flushed to the disk; sandbox files live in memory and have nothing to flush.
    func sync(_ inode: Inode, dataOnly: Bool) throws(LinuxErrno) {
        guard let host, let path = hostPath(of: inode) else { return }
        let fd = host.openPath(path, flags: inode.kind == .directory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
        guard fd >= 0 else { throw LinuxErrno(-fd) }
        defer { close(fd) }
        // A flush can wait for the disk for long: the fd is this call's own.
        try kernel.unlockedHostCall { () throws(LinuxErrno) in
            if (dataOnly ? fdatasync(fd) : fsync(fd)) != 0 { throw LinuxErrno(errno) }
        }
    }

    /// sync, syncfs: the host file system under a write-through tree is flushed.
    func syncAll() throws(LinuxErrno) {
        guard writeThrough, let host else { return }
        hostCachedFiles.removeAll { $0.inode == nil }
        for f in hostCachedFiles { try f.inode?.writeBackHostCache() }
        let fd = host.openPath("", flags: O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw LinuxErrno(-fd) }
        defer { close(fd) }
        let r = try kernel.unlockedHostCall { () throws(LinuxErrno) in joey_syncfs(fd) }
        if r != 0 { throw LinuxErrno(Int32(-r)) }
    }
}

/// A host special file seen through the overlay, one mknod made, or a loop device's node: a
/// device number opens the sandbox's own device of that number, if it has one.
final class SpecialInode: Inode {
    override init(kind: FileKind, mode: UInt32, fs: FileSystemID, ino: UInt64?) {
        super.init(kind: kind, mode: mode, fs: fs, ino: ino)
    }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        switch kind {
        case .fifo: return try kernel.openNamedPipe(self, flags: flags)
        // A device node made with mknod (or found on the host) opens the sandbox's own device
        // of that number, as those /dev has; any other device has no driver here.
        case .characterDevice:
            guard let device = DeviceInode.Device(major: rdev >> 8 & 0xfff, minor: rdev & 0xff | rdev >> 12 & 0xfff00) else { throw .ENXIO }
            return try DeviceInode.open(device, inode: self, flags: flags, kernel: kernel)
        // A block device is a loop device of the sandbox's, or has no driver.
        case .blockDevice:
            let major = rdev >> 8 & 0xfff, minor = rdev & 0xff | rdev >> 12 & 0xfff00
            guard major == LoopDevices.major, let loops = kernel.loopDevices else { throw .ENXIO }
            return try loops.open(minor: Int(minor), inode: self, flags: flags)
        default: throw .ENXIO
        }
    }
}

/// A non-directory's entry after a rename (Inode.lastRename).
final class RenamedEntry {
    private(set) weak var directory: DirectoryInode?
    let name: ByteString
    init(_ directory: DirectoryInode, _ name: ByteString) { self.directory = directory; self.name = name }
}

final class DirectoryInode: Inode {
    let context: OverlayContext
    /// The host directory below this one, if any.
    var lowerPath: ByteString?
    fileprivate var children: [ByteString: Inode] = [:]
    /// The directory this one is an entry of now, and its name there (a dentry's d_parent and
    /// d_name): kept through renames, so `..`, getcwd and the check that a directory never
    /// moves below itself follow the tree as it is, not as a path once walked found it.
    /// nil for a filesystem's root. A removed directory keeps its last parent, as Linux's.
    private(set) weak var parentDirectory: DirectoryInode?
    private(set) var nameInParent: ByteString = ""
    private var whiteouts: Set<ByteString> = []
    private var lowerListed = false
    /// Once the host directory is listed: its entries that no call has named yet, as getdents
    /// shows them (the host's d_ino and d_type). Looked up on the host (lstat, a symlink's
    /// target) only when named: a listing costs one host getdents, not a lookup per entry
    /// (python3's start lists directories of 50-200 entries and opens a few of them). Never
    /// holds a name that is in `children` or `whiteouts`.
    private var unlooked: [ByteString: DirEntry] = [:]

    init(context: OverlayContext, mode: UInt32, lowerPath: ByteString? = nil, ino: UInt64? = nil) {
        self.context = context
        self.lowerPath = lowerPath
        super.init(kind: .directory, mode: mode, fs: context.id, ino: ino)
        nlink = 2
    }

    override var size: UInt64 { hostSize ?? 4096 }

    /// Puts `node` in `children` as `name`, and a directory under this one.
    private func adopt(_ node: Inode, as name: ByteString) {
        children[name] = node
        if let d = node as? DirectoryInode { d.parentDirectory = self; d.nameInParent = name }
    }

    /// Where `node`, once this directory's `name`, is now, when rename moved it and that entry
    /// still holds it (a rotated log), or it was unlinked there (nlink 0); nil when `name`
    /// still holds it or nothing says where it went.
    func renamedEntry(of node: Inode, was name: ByteString) -> (dir: DirectoryInode, name: ByteString)? {
        guard children[name] !== node, let moved = node.lastRename, let dir = moved.directory,
              dir.children[moved.name] === node || node.nlink == 0 else { return nil }
        return (dir, moved.name)
    }

    /// Whether this directory is `other` or below it, as the tree is now (d_ancestor).
    func isWithin(_ other: Inode) -> Bool {
        var cur: DirectoryInode? = self
        while let c = cur {
            if c === other { return true }
            cur = c.parentDirectory
        }
        return false
    }

    override func lookup(_ name: ByteString) throws(LinuxErrno) -> Inode {
        if let c = children[name] { return c }
        guard mayBeLower(name), let lowerPath, let host = context.host else { throw .ENOENT }
        let path = ByteString.join(lowerPath, name)
        unlooked[name] = nil // named now: from here on in `children`, or gone from the host
        guard let st = host.lstat(path), let node = context.lowerInode(path: path, st: st) else { throw .ENOENT }
        adopt(node, as: name)
        return node
    }

    /// Whether `name`, not in `children`, may be a host entry: not hidden, and listed when
    /// the directory has been.
    private func mayBeLower(_ name: ByteString) -> Bool {
        lowerPath != nil && !whiteouts.contains(name) && (!lowerListed || unlooked[name] != nil)
    }

    /// The host is asked from its caches alone with the kernel lock held; a name it would
    /// have to read from the disk is looked up with the lock let go, the entry installed after
    /// relocking, and the call made again (it then finds the entry here).
    override func lookup(_ name: ByteString, deferringHostWaitsOf t: GuestThread) throws(LinuxErrno) -> Inode {
        if let c = children[name] { return c }
        guard mayBeLower(name), let lowerPath, let host = context.host else { throw .ENOENT }
        let path = ByteString.join(lowerPath, name)
        if t.hostPathsMissing.contains(where: { $0.tree === host && $0.path == path }) { throw .ENOENT }
        switch host.lstatCached(path) {
        case .found(let st):
            unlooked[name] = nil
            guard let node = context.lowerInode(path: path, st: st) else { throw .ENOENT }
            adopt(node, as: name)
            return node
        case .missing:
            unlooked[name] = nil
            throw .ENOENT
        case .wouldWait:
            let entry = LowerEntry()
            t.deferredHostWait = DeferredHostWait(unlocked: { entry.read(host, path) }, relocked: { [self] in
                guard let st = entry.st else {
                    t.hostPathsMissing.append((host, path)) // not asked again by this call
                    if self.lowerPath == lowerPath { unlooked[name] = nil }
                    return
                }
                guard children[name] == nil, self.lowerPath == lowerPath, mayBeLower(name),
                      let node = context.lowerInode(path: path, st: st, target: entry.target) else { return }
                unlooked[name] = nil
                adopt(node, as: name)
            })
            throw .hostWouldWait
        }
    }

    private func listLower() {
        guard !lowerListed, let lowerPath, let host = context.host else { return }
        installLower(host.list(lowerPath), listed: lowerPath)
    }

    /// getdents, in a call that may be made again: the host directory is listed with the
    /// kernel lock let go (it may wait for the disk), the entries installed after relocking,
    /// and the call made again.
    func listLower(deferringHostWaitsOf t: GuestThread) throws(LinuxErrno) {
        guard !lowerListed, let lowerPath, let host = context.host else { return }
        let listing = LowerListing()
        t.deferredHostWait = DeferredHostWait(unlocked: { listing.entries = host.list(lowerPath) },
                                              relocked: { [self] in installLower(listing.entries, listed: lowerPath) })
        throw .hostWouldWait
    }

    /// Records the host entries listed from `path` that the upper layer neither has nor
    /// hides, unless the directory was listed or moved meanwhile.
    private func installLower(_ entries: [DirEntry], listed path: ByteString) {
        guard !lowerListed, lowerPath == path else { return }
        for e in entries where children[e.name] == nil && !whiteouts.contains(e.name) { unlooked[e.name] = e }
        lowerListed = true
    }

    override func entries() throws(LinuxErrno) -> [DirEntry] {
        listLower()
        var out = children.map { DirEntry(name: $0.key, ino: $0.value.ino, kind: $0.value.kind) }
        out.append(contentsOf: unlooked.values)
        out.sort { $0.name < $1.name }
        return out
    }

    var isEmpty: Bool { listLower(); return children.isEmpty && unlooked.isEmpty }

    override func create(_ name: ByteString, kind: FileKind, mode: UInt32, uid: UInt32, gid: UInt32,
                         target: ByteString? = nil, rdev: UInt64 = 0) throws(LinuxErrno) -> Inode {
        if removed { throw .ENOENT }
        if (try? lookup(name)) != nil { throw .EEXIST }
        // The guest's device nodes live in the sandbox only: none is made on the host, where
        // the sentry has no CAP_MKNOD to make one (as root in a user namespace, EPERM).
        if kind == .characterDevice || kind == .blockDevice, context.writeThrough, lowerPath != nil { throw .EPERM }
        let node: Inode
        switch kind {
        case .directory:
            node = DirectoryInode(context: context, mode: mode)
            nlink += 1
        case .regular:
            node = RegularFileInode(context: context, mode: mode)
        case .symlink:
            node = SymlinkInode(target: target ?? "", fs: context.id)
        default:
            node = SpecialInode(kind: kind, mode: mode, fs: context.id, ino: nil)
            node.rdev = rdev
        }
        node.uid = uid
        node.gid = gid
        // In a setgid directory new entries take its group, and new directories its setgid bit.
        if self.mode & 0o2000 != 0 {
            node.gid = self.gid
            if kind == .directory { node.mode |= 0o2000 }
        }
        if context.writeThrough, let lowerPath, let host = context.host {
            try hostCreate(host: host, path: ByteString.join(lowerPath, name), node: node, target: target)
        }
        adopt(node, as: name)
        whiteouts.remove(name)
        touchModified()
        return node
    }

    private func hostCreate(host: HostTree, path: ByteString, node: Inode, target: ByteString?) throws(LinuxErrno) {
        let (parent, leaf) = path.splitLast
        let dfd = host.openPath(parent, flags: O_PATH | O_DIRECTORY)
        guard dfd >= 0 else { throw LinuxErrno(-dfd) }
        defer { close(dfd) }
        let r = leaf.withCString { leaf -> Int32 in
            switch node.kind {
            case .directory: return mkdirat(dfd, leaf, node.mode)
            case .regular:
                let fd = openat(dfd, leaf, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, node.mode)
                if fd >= 0 { close(fd); return 0 }
                return fd
            case .symlink: return (target ?? "").withCString { symlinkat($0, dfd, leaf) }
            default: return mknodat(dfd, leaf, node.fullMode, 0)
            }
        }
        guard r == 0 else { throw LinuxErrno(errno) }
        if let d = node as? DirectoryInode { d.lowerPath = path }
        if let f = node as? RegularFileInode { f.lowerPath = path; f.lowerSize = 0 }
    }

    override func insert(_ name: ByteString, _ inode: Inode) throws(LinuxErrno) {
        if (try? lookup(name)) != nil { throw .EEXIST }
        adopt(inode, as: name)
        whiteouts.remove(name)
        if inode.kind == .directory { nlink += 1 }
        touchModified()
    }

    override func remove(_ name: ByteString) throws(LinuxErrno) {
        guard let node = try? lookup(name) else { throw .ENOENT }
        if context.writeThrough, let lowerPath, let host = context.host {
            let (parent, leaf) = ByteString.join(lowerPath, name).splitLast
            let dfd = host.openPath(parent, flags: O_PATH | O_DIRECTORY)
            if dfd >= 0 {
                let r = leaf.withCString { unlinkat(dfd, $0, node.kind == .directory ? AT_REMOVEDIR : 0) }
                let e = errno
                close(dfd)
                if r != 0 && e != ENOENT { throw LinuxErrno(e) }
            }
        }
        children[name] = nil
        if lowerPath != nil { whiteouts.insert(name) }
        if node.kind == .directory { nlink -= 1 }
        touchModified()
    }

    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        DirectoryDescription(inode: self, flags: flags)
    }

    /// rename(2) within the merged view. With write-through both directories are on the host
    /// and the host rename happens first, so the host never loses the file.
    func move(_ name: ByteString, to dest: DirectoryInode, as newName: ByteString) throws(LinuxErrno) {
        let node = try lookup(name)
        defer { if node.kind != .directory && dest.children[newName] === node { node.lastRename = RenamedEntry(dest, newName) } }
        if context.writeThrough, let from = lowerPath, let to = dest.lowerPath, let host = context.host {
            try Self.hostRename(host, ByteString.join(from, name), ByteString.join(to, newName), flags: 0)
            children[name] = nil
            if node.kind == .directory { nlink -= 1; dest.nlink += 1 }
            dest.adopt(node, as: newName)
            dest.unlooked[newName] = nil
            let newPath = ByteString.join(to, newName)
            if let d = node as? DirectoryInode { d.rebase(to: newPath) }
            if let f = node as? RegularFileInode, f.lowerPath != nil { f.lowerPath = newPath }
            touchModified(); dest.touchModified()
            return
        }
        try remove(name)
        if (try? dest.lookup(newName)) != nil { try dest.remove(newName) }
        try dest.insert(newName, node)
    }

    /// renameat2 of two host paths, each through its parent directory opened under the root.
    private static func hostRename(_ host: HostTree, _ from: ByteString, _ to: ByteString, flags: UInt32) throws(LinuxErrno) {
        let (fp, fl) = from.splitLast, (tp, tl) = to.splitLast
        let sfd = host.openPath(fp, flags: O_PATH | O_DIRECTORY)
        guard sfd >= 0 else { throw LinuxErrno(-sfd) }
        defer { close(sfd) }
        let dfd = host.openPath(tp, flags: O_PATH | O_DIRECTORY)
        guard dfd >= 0 else { throw LinuxErrno(-dfd) }
        defer { close(dfd) }
        let r = fl.withCString { f in tl.withCString { joey_renameat2(sfd, f, dfd, $0, flags) } }
        guard r == 0 else { throw LinuxErrno(Int32(-r)) }
    }

    /// renameat2(RENAME_EXCHANGE): this directory's `name` and `dest`'s `otherName` trade
    /// places, on the host too when both are written through.
    func exchange(_ name: ByteString, with dest: DirectoryInode, _ otherName: ByteString) throws(LinuxErrno) {
        let a = try lookup(name), b = try dest.lookup(otherName)
        let hostPaths: (ByteString, ByteString)?
        if context.writeThrough, let from = lowerPath, let to = dest.lowerPath, let host = context.host {
            try Self.hostRename(host, ByteString.join(from, name), ByteString.join(to, otherName), flags: 2 /* RENAME_EXCHANGE */)
            hostPaths = (ByteString.join(to, otherName), ByteString.join(from, name))
        } else {
            hostPaths = nil
        }
        adopt(b, as: name)
        dest.adopt(a, as: otherName)
        if b.kind != .directory { b.lastRename = RenamedEntry(self, name) }
        if a.kind != .directory { a.lastRename = RenamedEntry(dest, otherName) }
        if self !== dest {
            // A directory's ".." names its new parent.
            if a.kind == .directory { nlink -= 1; dest.nlink += 1 }
            if b.kind == .directory { dest.nlink -= 1; nlink += 1 }
        }
        if let (aPath, bPath) = hostPaths {
            for (node, path) in [(a, aPath), (b, bPath)] {
                if let d = node as? DirectoryInode { d.rebase(to: path) }
                if let f = node as? RegularFileInode, f.lowerPath != nil { f.lowerPath = path }
            }
        }
        touchModified(); dest.touchModified()
    }

    /// After a write-through rename: this directory and everything cached below it now
    /// live under `path` on the host.
    func rebase(to path: ByteString) {
        lowerPath = path
        for (name, child) in children {
            let childPath = ByteString.join(path, name)
            if let d = child as? DirectoryInode, d.lowerPath != nil { d.rebase(to: childPath) }
            if let f = child as? RegularFileInode, f.lowerPath != nil { f.lowerPath = childPath }
        }
    }
}

struct WeakRegularFileInode { weak var inode: RegularFileInode? }

/// A host entry read with the kernel lock let go: its lstat (nil: missing), a symlink's target.
private final class LowerEntry {
    var st: stat?
    var target: ByteString?
    func read(_ host: HostTree, _ path: ByteString) {
        st = host.lstat(path)
        if let st, st.st_mode & S_IFMT == S_IFLNK { target = host.readlink(path) }
    }
}

/// A host directory listed with the kernel lock let go.
private final class LowerListing {
    var entries: [DirEntry] = []
}

final class RegularFileInode: Inode {
    let context: OverlayContext
    /// Set while the content still lives on the host (not copied up, or write-through).
    var lowerPath: ByteString?
    /// An O_TMPFILE file linkat may still name (Linux's I_LINKABLE).
    var linkable = false
    /// Descriptions open for writing, and address spaces running the file as their program:
    /// the two exclude each other (ETXTBSY), as Linux's i_writecount.
    var openWriters = 0
    var executing = 0
    /// Descriptions open for reading only (Linux's i_readcount): a write lease needs none
    /// but its own.
    var openReaders = 0
    /// Leases held on the file (FS/FileLeases.swift), and the openers waiting for them.
    var leases: [Lease] = []
    lazy var leaseQueue = WaitQueue()
    var lowerSize: UInt64 = 0
    /// The content once it lives in the sandbox: MemoryFile pages (the page cache).
    private(set) var pages: FilePages?
    /// A write-through file's page cache while MAP_SHARED mappings of it exist: every mapping,
    /// read and write go through it, so they agree; write() also writes through at once, and
    /// stores through a mapping reach the host file on msync, munmap, fsync, exec and exit.
    /// Dropped (all written back) once no mapping holds it, so reads see the host file again.
    /// Changes made to the host file from outside the sandbox meanwhile are not seen.
    private var hostCache: FilePages?
    /// The bytes of the file's page cache the MemoryFile holds (/proc/sysvipc/shm's rss).
    var residentBytes: UInt64 { pages?.residentBytes(from: 0, to: MemoryFile.roundUp(size)) ?? 0 }
    /// A memfd's seals (nil: the file cannot be sealed).
    var seals: FileSeals?

    init(context: OverlayContext, mode: UInt32, ino: UInt64? = nil) {
        self.context = context
        super.init(kind: .regular, mode: mode, fs: context.id, ino: ino)
    }

    deinit {
        context.hostFiles.drop(ObjectIdentifier(self))
        dropImages()
    }

    /// The images of this host file that private mappings share, by file range. Where the
    /// platform maps host files, one image is the whole file, mapped straight from the host
    /// (MemoryBlock.host: nothing copied, read-only for good). Otherwise each is filled from
    /// the host once and mapped copy-on-write by every private mapping of that range (ld.so
    /// maps a library's segments with the same offsets and lengths in every process); the
    /// image counts as one of its block's sharers, so nobody writes it in place. Dropped
    /// when the file changes through the sandbox (touchModified), when it is copied up, and
    /// when the host file's size, mtime or ctime no longer match what was read (mappings
    /// made keep theirs).
    private var images: [(offset: UInt64, length: UInt64, block: MemoryBlock)] = []
    private struct HostStamp: Equatable {
        let size: Int, mtime: Int, mtimeNanos: Int, ctime: Int, ctimeNanos: Int
        init(_ st: stat) {
            size = Int(st.st_size); mtime = st.st_mtim.tv_sec; mtimeNanos = st.st_mtim.tv_nsec
            ctime = st.st_ctim.tv_sec; ctimeNanos = st.st_ctim.tv_nsec
        }
    }
    private var imageStamp: HostStamp?

    /// The shared image holding [offset, offset + length) of the host file and where that
    /// range starts in it (an image of the whole file serves the segments ld.so maps over
    /// it), or nil when the file lives in the sandbox or the image budget is spent (the
    /// caller copies instead).
    /// A new image is filled with the kernel lock let go (it may wait for the disk, and takes
    /// milliseconds for a large program even from the page cache): the caller holds no kernel
    /// state across the call (mmap picks its address afterwards).
    func privateImage(offset: UInt64, length: UInt64) throws(LinuxErrno) -> (block: MemoryBlock, offset: UInt64)? {
        settleHostCache()
        guard lowerPath != nil, hostCache == nil, offset < lowerSize else { return nil }
        let fd = try lowerFD()
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        if let stamp = imageStamp, stamp != HostStamp(st) { dropImages() }
        if let i = image(covering: offset, length) { return i }
        if context.kernel.platform.mapsHostFiles, let i = hostImage(st, offset: offset, length: length) { return i }
        var budget = OverlayContext.imageBudget
        if let limit = context.memoryFile.limit { budget = min(budget, limit / 4) }
        let rounded = MemoryFile.roundUp(length)
        guard context.imageBytes.load(ordering: .relaxed) + rounded <= budget else { return nil }
        // A block nobody else sees until it is filled: it may be filled without the lock,
        // through an fd of this call's own (the cached one may be closed meanwhile).
        let image = try MemoryBlock(file: context.memoryFile, length: length)
        let count = Int(min(length, UInt64(st.st_size) - min(offset, UInt64(st.st_size))))
        let own = try ownCopy(of: fd)
        defer { close(own) }
        let generation = contentGeneration
        var done = 0
        while true {
            let (n, full) = try context.kernel.unlockedHostCall { () throws(LinuxErrno) -> (Int, Bool) in
                try fillImage(image, from: own, offset: offset, count: count, done: done)
            }
            done = n
            // The MemoryFile's tmpfs full at the memory limit: the OOM killer (which needs
            // the lock) makes room, and the copy goes on.
            guard full, let makeRoom = context.memoryFile.makeRoom, makeRoom() else { break }
        }
        // Meanwhile the file may have been copied up, mapped shared or changed on the host
        // (the caller then copies it as it is now), or another thread made the same image.
        settleHostCache()
        var now = stat()
        guard lowerPath != nil, hostCache == nil, contentGeneration == generation, fstat(own, &now) == 0,
              HostStamp(now) == HostStamp(st) else { return nil }
        if let stamp = imageStamp, stamp != HostStamp(st) { dropImages() }
        if let i = self.image(covering: offset, length) { return i }
        images.append((offset, length, image))
        imageStamp = HostStamp(st)
        context.imageBytes.add(rounded, ordering: .relaxed)
        return (image, 0)
    }

    /// An image of the whole host file (`st` its fstat now) mapped from the host, when it
    /// holds [offset, offset + length): nil past its end, past the image limit, or when the
    /// file cannot be opened read-only as the same file.
    private func hostImage(_ st: stat, offset: UInt64, length: UInt64) -> (block: MemoryBlock, offset: UInt64)? {
        let size = MemoryFile.roundUp(UInt64(st.st_size))
        guard let lowerPath, let host = context.host, length <= size, offset <= size - length,
              context.hostImages.load(ordering: .relaxed) < OverlayContext.hostImageLimit else { return nil }
        // Its own fd, read-only (the cached one may be read-write, and may be evicted).
        let fd = host.openPath(lowerPath, flags: O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var now = stat()
        var fs = [UInt64](repeating: 0, count: 8)
        // Not from a noexec host mount: a stub could not map it executable (the guest's view of
        // the mount may allow it; a copy in the MemoryFile serves then, as before).
        guard fstat(fd, &now) == 0, now.st_dev == st.st_dev, now.st_ino == st.st_ino, HostStamp(now) == HostStamp(st),
              joey_fstatfs(fd, &fs) == 0, fs[7] & UInt64(JOEY_ST_NOEXEC) == 0 else {
            close(fd)
            return nil
        }
        guard let image = HostFileImage(fd: fd, length: UInt64(st.st_size)) else { return nil }
        let block = MemoryBlock(file: context.memoryFile, host: image)
        images.append((0, image.length, block))
        imageStamp = HostStamp(st)
        context.hostImages.add(1, ordering: .relaxed)
        return (block, offset)
    }

    /// The image that holds [offset, offset + length), and where that range starts in it.
    private func image(covering offset: UInt64, _ length: UInt64) -> (block: MemoryBlock, offset: UInt64)? {
        guard let i = images.first(where: { $0.offset <= offset && offset + length <= $0.offset + $0.length }) else { return nil }
        return (i.block, offset - i.offset)
    }

    /// A duplicate of the cached host fd, for a host call made with the kernel lock let go
    /// (the cached one may be evicted and its number reused meanwhile).
    private func ownCopy(of fd: Int32) throws(LinuxErrno) -> Int32 {
        let own = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard own >= 0 else { throw LinuxErrno(errno) }
        return own
    }

    /// Copies `count` bytes of host file `fd` from `offset` into `image`, from byte `done` on.
    /// Returns the bytes done and whether it stopped because the MemoryFile is full (the
    /// memory limit: the caller makes room and calls again). Makes host calls only.
    private func fillImage(_ image: MemoryBlock, from fd: Int32, offset: UInt64, count: Int, done start: Int) throws(LinuxErrno) -> (Int, Bool) {
        let memoryFD = context.memoryFile.fd
        var done = start
        // pwrite into the MemoryFile: it allocates the pages as it is written, instead of
        // the sentry faulting them in one at a time through its own mapping (where they
        // would also stay mapped). From a read-only view of the host file, populated: one
        // copy, in the host kernel, which also takes any fault there (a host file that
        // shrank since: a short write, never a SIGBUS in the sentry). python3's 6.8 MB:
        // 3.4-6.2 ms through a bounce buffer, 2.8-3.0 this way.
        let base = done & ~0xfff // offset is page-aligned, the view's must be too
        if done < count, let view = mmap(nil, count - base, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, off_t(offset + UInt64(base))),
           view != MAP_FAILED {
            defer { munmap(view, count - base) }
            while done < count {
                let w = pwrite(memoryFD, view + (done - base), count - done, off_t(image.offset + UInt64(done)))
                if w < 0, errno == ENOSPC { return (done, true) }
                if w <= 0 { break }
                done += w
            }
        }
        // Anything left (a file that cannot be mapped, or shrank) through a bounce buffer.
        var buffer = [UInt8](repeating: 0, count: min(count - done, 1 << 16))
        while done < count {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, min($0.count, count - done), off_t(offset + UInt64(done))) }
            if n < 0 { throw LinuxErrno(errno) }
            if n == 0 { break }
            var written = 0
            while written < n {
                let w = buffer.withUnsafeBytes {
                    pwrite(memoryFD, $0.baseAddress! + written, n - written, off_t(image.offset + UInt64(done + written)))
                }
                if w < 0, errno == ENOSPC { return (done + written, true) }
                if w <= 0 { throw w < 0 ? LinuxErrno(errno) : .EIO }
                written += w
            }
            done += n
        }
        return (done, false)
    }

    /// Every change to the content (write, fallocate, truncate) comes through here: the
    /// images of what the file held go.
    override func touchModified() {
        contentGeneration &+= 1
        dropImages()
        super.touchModified()
    }

    /// Moves on at every change of the content through the sandbox (and as a host write made
    /// with the lock let go begins): an image filled meanwhile is not kept.
    private var contentGeneration: UInt64 = 0

    /// Forgets the images (mappings that hold one keep it, as their own).
    private func dropImages() {
        for image in images {
            image.block.sharers.subtract(1, ordering: .relaxed)
            if image.block.host != nil {
                context.hostImages.subtract(1, ordering: .relaxed)
            } else {
                context.imageBytes.subtract(image.block.length, ordering: .relaxed)
            }
        }
        images = []
        imageStamp = nil
    }

    override var size: UInt64 { lowerPath != nil ? lowerSize : pages?.size ?? 0 }

    /// SEEK_DATA (`data`) or SEEK_HOLE from `from` for a file that lives in the sandbox (tmpfs,
    /// a copied-up file): where its pages say (FilePages.seek); ENXIO at or past the end, or
    /// when no data follows. nil for a file that is still the host's: the generic answer
    /// (all data, the end a hole) is then the caller's.
    func seekInSandbox(_ from: UInt64, data: Bool) throws(LinuxErrno) -> UInt64? {
        guard lowerPath == nil else { return nil }
        guard let pages, let at = pages.seek(from: from, data: data) else { throw .ENXIO }
        return at
    }
    override var blocks: UInt64 {
        if lowerPath != nil { return hostBlocks ?? (size + 511) / 512 }
        return pages?.blocks ?? 0
    }

    /// The host fd of the lower file, from the sandbox's bounded cache (reopened on demand).
    private func lowerFD(writable: Bool = false) throws(LinuxErrno) -> Int32 {
        guard let lowerPath, let host = context.host else { throw .EIO }
        return try context.hostFiles.fd(for: self) {
            let fd = host.openPath(lowerPath, flags: writable || context.writeThrough ? O_RDWR : O_RDONLY)
            return fd >= 0 ? fd : host.openPath(lowerPath, flags: O_RDONLY)
        }
    }

    private func dropLowerFD() { context.hostFiles.drop(ObjectIdentifier(self)) }

    /// The page cache, created empty for a file that has none yet.
    private func cache() -> FilePages {
        if let pages { return pages }
        let p = FilePages(memoryFile: context.memoryFile, fs: context.id)
        pages = p
        return p
    }

    /// Copies the host content into the page cache; from now on the file is the upper layer's.
    /// `mayUnlock`: the caller holds no kernel state across the call (a write, truncate or
    /// fallocate; an mmap before it picks its address), so a file of more than a piece is
    /// copied with the kernel lock let go, into a cache nobody sees until it is installed,
    /// through an fd of the call's own. If the file was copied up (or truncated to nothing)
    /// meanwhile, what is there stays.
    func copyUp(mayUnlock: Bool = false) throws(LinuxErrno) {
        guard lowerPath != nil, !context.writeThrough else { return }
        let fd = try lowerFD()
        let p = FilePages(memoryFile: context.memoryFile, fs: context.id)
        if mayUnlock && lowerSize > UInt64(Self.lockedPiece) {
            let own = try ownCopy(of: fd)
            defer { close(own) }
            let count = lowerSize
            var done: UInt64 = 0
            while true {
                let (n, full) = try context.kernel.unlockedHostCall { () throws(LinuxErrno) -> (done: UInt64, full: Bool) in
                    try p.fill(fromHost: own, count: count, from: done, makingRoom: false)
                }
                done = n
                guard full else { break }
                // The memory limit: the OOM killer (which needs the lock) makes room, or the
                // write fails as file writes past the limit do.
                guard let makeRoom = context.memoryFile.makeRoom, makeRoom() else { throw .ENOSPC }
            }
            guard lowerPath != nil else { return }
        } else {
            _ = try p.fill(fromHost: fd, count: lowerSize)
        }
        pages = p
        lowerPath = nil
        hostBlocks = nil
        dropLowerFD()
        dropImages()
    }

    /// The page cache for a MAP_SHARED mapping: files on the host are copied up first; a
    /// write-through file gets its host cache.
    func pagesForSharedMapping() throws(LinuxErrno) -> FilePages {
        if lowerPath != nil {
            if context.writeThrough { return try sharedHostCache() }
            try copyUp()
        }
        return cache()
    }

    /// The content lives on the host and changes are written to it.
    var writesThrough: Bool { lowerPath != nil && context.writeThrough }

    /// The page cache that holds the content, if one does (nil while it is on the host alone).
    var cachedPages: FilePages? {
        settleHostCache()
        return lowerPath == nil ? pages : hostCache
    }

    private func sharedHostCache() throws(LinuxErrno) -> FilePages {
        settleHostCache()
        if let hostCache { return hostCache }
        // The host file's size now, in case it changed outside the sandbox.
        var st = stat()
        if fstat(try lowerFD(), &st) == 0 { lowerSize = UInt64(st.st_size) }
        let cache = FilePages(memoryFile: context.memoryFile, hostFileOfSize: lowerSize) { [weak self] (offset, into, count) throws(LinuxErrno) -> Int in
            guard let self else { throw .EIO }
            let n = pread(try self.lowerFD(), into, count, off_t(offset))
            if n < 0 { throw LinuxErrno(errno) }
            return n
        }
        hostCache = cache
        context.hostCachedFiles.removeAll { $0.inode == nil || $0.inode === self }
        context.hostCachedFiles.append(WeakRegularFileInode(inode: self))
        dropImages()
        return cache
    }

    /// Drops the host cache once no mapping holds it: every mapping wrote its range back as it
    /// went, and write() wrote through, so the host file holds everything.
    private func settleHostCache() {
        if hostCache != nil && isKnownUniquelyReferenced(&hostCache!) { hostCache = nil }
    }

    /// Writes the host cache's file range [from, to) back to the host file (a mapping's range
    /// on msync/munmap/exit, everything on fsync). Nothing to do without one.
    func writeBackHostCache(from: UInt64 = 0, to: UInt64 = .max) throws(LinuxErrno) {
        guard let hostCache, lowerPath != nil else { return }
        try hostCache.writeBack(toHost: try lowerFD(writable: true), from: from, to: to)
        hostBlocks = nil
    }

    /// read(2). A large read lets the kernel lock go between its pieces (to a waiting thread,
    /// or around a host read that waits for the disk); the file may then have been copied up,
    /// mapped shared or truncated meanwhile, and the rest is read from where its data is now.
    func read(_ dst: inout IOSequence, at offset: UInt64) throws(LinuxErrno) -> Int {
        guard offset <= UInt64(Int64.max) else { return 0 }
        var done = 0
        while true {
            settleHostCache()
            let pos = offset + UInt64(done)
            let n: Int, yielded: Bool
            do {
                if lowerPath != nil && hostCache == nil {
                    (n, yielded) = try readHost(&dst, at: pos)
                } else if let cache = lowerPath != nil ? hostCache : pages {
                    (n, yielded) = try pieces(of: dst) { (piece: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int in
                        try cache.read(&piece, at: pos + at)
                    }
                    dst.skip(n)
                } else {
                    (n, yielded) = (0, false)
                }
            } catch {
                if done > 0 { return done }
                throw error
            }
            done += n
            guard yielded, dst.count > 0 else { return done }
        }
    }

    /// Largest piece copied between guest memory and the page cache, or read from the host,
    /// with the kernel lock held: between pieces a thread waiting for the lock has it
    /// (Kernel.yieldLock, Linux's cond_resched), so one large read or write does not hold up
    /// the sandbox's others.
    private static let lockedPiece = 1 << 16

    /// Runs `copy` on consecutive pieces of `io` (not consumed: the caller skips what was
    /// done) while each is done whole, stopping after a piece when the kernel lock was let go
    /// to a waiting thread. Returns the bytes done and whether the lock was let go. Sentry
    /// memory is done in one piece.
    private func pieces(of io: IOSequence, _ copy: (inout IOSequence, UInt64) throws(LinuxErrno) -> Int) throws(LinuxErrno) -> (Int, Bool) {
        guard io.isGuestMemory, io.count > Self.lockedPiece else {
            var all = io
            return (try copy(&all, 0), false)
        }
        var rest = io
        var done = 0
        while rest.count > 0 {
            if done > 0 && context.kernel.yieldLock() { return (done, true) }
            var piece = rest.prefix(Self.lockedPiece)
            let want = piece.count
            let n: Int
            do { n = try copy(&piece, UInt64(done)) } catch {
                if done > 0 { return (done, false) }
                throw error
            }
            rest.skip(n)
            done += n
            if n < want { break }
        }
        return (done, false)
    }

    /// read(2) of the host file. What the host has in its page cache is read straight into
    /// guest memory with the kernel lock held (preadv2 with RWF_NOWAIT, which never waits for
    /// the disk); what must come from the disk is read with the lock released, into a sentry
    /// buffer, and copied out after relocking: no guest pointer is held while the lock is
    /// free. Sentry memory (the ELF loader's, mmap's copy) is read with the lock held.
    /// Returns the bytes read and whether the lock was let go (the caller reads the rest).
    private func readHost(_ dst: inout IOSequence, at offset: UInt64) throws(LinuxErrno) -> (Int, Bool) {
        let mayUnlock = dst.isGuestMemory
        var done = 0
        while dst.count > 0 {
            if done > 0 && mayUnlock && context.kernel.yieldLock() { return (done, true) }
            let fd = try lowerFD()
            let pos = offset + UInt64(done)
            let wait = context.hostReadsWait || !mayUnlock
            var fromDisk = false
            var asked = 0
            var n: Int
            do throws(LinuxErrno) {
                n = try dst.withNextPiece(writing: true, limit: mayUnlock ? Self.lockedPiece : .max) { (piece: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in
                    asked = piece.count
                    if wait {
                        let r = pread(fd, piece.baseAddress, piece.count, off_t(pos))
                        if r < 0 { throw LinuxErrno(errno) }
                        return r
                    }
                    let r = joey_pread_nowait(fd, piece.baseAddress, piece.count, Int64(pos))
                    if r >= 0 { return Int(r) }
                    fromDisk = true
                    // A kernel or file system without RWF_NOWAIT: plain reads from now on.
                    if r == -Int64(EOPNOTSUPP) || r == -Int64(ENOSYS) || r == -Int64(EINVAL) { context.hostReadsWait = true }
                    else if r != -Int64(EAGAIN) { throw LinuxErrno(Int32(-r)) }
                    return 0
                }
                if fromDisk {
                    n = try readHostUnlocked(fd, &dst, at: pos)
                    return (done + n, n > 0)
                }
            } catch {
                if done > 0 { return (done, false) }
                throw error
            }
            done += n
            // A short read is the end of the file (as it is to Linux's filemap_read): asking
            // again would cost a host call, and a yield of the kernel lock when a thread waits.
            // Not a short RWF_NOWAIT read before the end: it stops where the page cache does,
            // or at a page marked for readahead, and the rest is read on (from the disk).
            if n < asked && (wait || n == 0 || pos + UInt64(n) >= lowerSize) { break }
        }
        return (done, false)
    }

    /// One piece of a read that waits for the disk, made with the kernel lock released.
    private func readHostUnlocked(_ fd: Int32, _ dst: inout IOSequence, at pos: UInt64) throws(LinuxErrno) -> Int {
        let own = try ownCopy(of: fd)
        defer { close(own) }
        var buffer = [UInt8](repeating: 0, count: min(dst.count, Self.lockedPiece))
        let n = try context.kernel.unlockedHostCall { () throws(LinuxErrno) -> Int in
            let r = buffer.withUnsafeMutableBytes { pread(own, $0.baseAddress, $0.count, off_t(pos)) }
            if r < 0 { throw LinuxErrno(errno) }
            return r
        }
        return try buffer.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in
            try dst.copyOut(UnsafeRawBufferPointer(rebasing: p[0..<n]))
        }
    }

    /// EPERM when a memfd's seals refuse writing `count` bytes at `offset`.
    private func checkSeals(writing count: Int, at offset: UInt64) throws(LinuxErrno) {
        guard let seals else { return }
        if !seals.isDisjoint(with: .anyWrite) { throw .EPERM }
        if seals.contains(.grow) && offset + UInt64(count) > size { throw .EPERM }
    }

    /// write(2). The caller holds the file's write turn (excludingWrites), so a large write,
    /// which lets the kernel lock go between its pieces, is not interleaved with another.
    func write(_ src: inout IOSequence, at offset: UInt64) throws(LinuxErrno) -> Int {
        guard offset <= UInt64(Int64.max) else { throw .EFBIG }
        try checkSeals(writing: src.count, at: offset)
        settleHostCache()
        if writesThrough {
            let fd = try lowerFD(writable: true)
            var done = 0
            if let hostCache {
                // Into the cache the mappings see, then from there to the host file.
                done = try hostCache.write(&src, at: offset)
                try hostCache.writeBack(toHost: fd, from: offset, to: offset + UInt64(done))
            } else if src.isGuestMemory && src.count >= Self.unlockedWriteMinimum {
                done = try writeHostUnlocked(fd, &src, at: offset)
            } else {
                while src.count > 0 {
                    let n: Int
                    do {
                        n = try src.withNextPiece(writing: false) { (piece: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in
                            let r = pwrite(fd, piece.baseAddress, piece.count, off_t(offset + UInt64(done)))
                            if r < 0 { throw LinuxErrno(errno) }
                            return r
                        }
                    } catch {
                        if done > 0 { break }
                        throw error
                    }
                    done += n
                    if n == 0 { break }
                }
            }
            lowerSize = max(lowerSize, offset + UInt64(done))
            hostBlocks = nil
            touchModified()
            return done
        }
        try copyUp(mayUnlock: true)
        var done = 0
        while true {
            let at = offset + UInt64(done)
            let n: Int, yielded: Bool
            do {
                (n, yielded) = try pieces(of: src) { (piece: inout IOSequence, within: UInt64) throws(LinuxErrno) -> Int in
                    try cache().write(&piece, at: at + within)
                }
            } catch {
                if done > 0 { break }
                throw error
            }
            src.skip(n)
            done += n
            guard yielded, src.count > 0 else { break }
            // Sealed meanwhile (F_ADD_SEALS): the rest is refused.
            do { try checkSeals(writing: src.count, at: offset + UInt64(done)) } catch { break }
        }
        touchModified()
        return done
    }

    /// Smaller writes are made with the lock held, which they hold for a few µs: letting it
    /// go (a bounce copy, an fd of the call's own) made 100-byte writes a third slower here.
    private static let unlockedWriteMinimum = 4096

    /// write(2) of a write-through host file, from guest memory: each piece is copied into a
    /// sentry buffer with the kernel lock held and written to the host with it let go (the
    /// host may hold a writer for long: dirty-page throttling, a journal commit; ext4 has no
    /// RWF_NOWAIT for buffered writes). The file's writers, truncates and fallocates wait
    /// their turn meanwhile (excludingWrites, Linux's i_rwsem); readers see the host file
    /// as it is, as on Linux.
    private func writeHostUnlocked(_ fd: Int32, _ src: inout IOSequence, at offset: UInt64) throws(LinuxErrno) -> Int {
        let own = try ownCopy(of: fd)
        defer { close(own) }
        var buffer = [UInt8](repeating: 0, count: min(src.count, Self.lockedPiece))
        var done = 0
        while src.count > 0 {
            var copy = src
            let have: Int
            do {
                have = try buffer.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in try copy.copyIn(p) }
            } catch {
                if done > 0 { break }
                throw error
            }
            let pos = offset + UInt64(done)
            // An image being filled meanwhile may hold part of this write: it is not kept.
            contentGeneration &+= 1
            let n = context.kernel.unlockedHostCall { () -> Int in
                let r = buffer.withUnsafeBytes { Glibc.pwrite(own, $0.baseAddress, have, off_t(pos)) }
                return r >= 0 ? r : -Int(errno) // taken before relocking, which makes host calls of its own
            }
            if n < 0 {
                if done > 0 { break }
                throw LinuxErrno(Int32(-n))
            }
            src.skip(n)
            // Mapped shared meanwhile: the cache the mappings see (filled from the host file,
            // perhaps before these bytes reached it) gets them too.
            settleHostCache()
            if let hostCache, n > 0 {
                try buffer.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) in
                    var bytes = IOSequence.sentry(UnsafeMutableRawBufferPointer(rebasing: p[0..<n]))
                    _ = try hostCache.write(&bytes, at: pos)
                }
            }
            done += n
            if n < have { break }
        }
        return done
    }

    /// A write is under way with the kernel lock let go (between its pieces, or while the
    /// host writes a write-through file): the file's other writes, truncates and fallocates
    /// wait their turn (an O_APPEND write takes the size after the one before it), as
    /// Linux's i_rwsem has them wait.
    private lazy var writeLock = SleepingMutex()

    /// `t`: the calling guest thread (nil: found from the host thread, for callers not handed it).
    func excludingWrites<T>(_ t: GuestThread? = GuestThread.onThisHostThread, _ body: () throws(LinuxErrno) -> T) throws(LinuxErrno) -> T {
        try writeLock.holding(t, body)
    }

    /// fallocate(2) modes Joey offers: 0 (grow to cover the range), KEEP_SIZE (1),
    /// PUNCH_HOLE (2, with KEEP_SIZE) and ZERO_RANGE (0x10). Page-cache files are sparse, so
    /// allocating reserves nothing; write-through files ask the host for the same mode.
    func allocate(mode: Int32, offset: UInt64, length: UInt64) throws(LinuxErrno) {
        try excludingWrites { () throws(LinuxErrno) in try allocateAfterWrites(mode: mode, offset: offset, length: length) }
    }

    private func allocateAfterWrites(mode: Int32, offset: UInt64, length: UInt64) throws(LinuxErrno) {
        let end = offset + length
        let keepSize = mode & 1 != 0, punch = mode & 2 != 0, zeroRange = mode & 0x10 != 0
        if let seals {
            if (punch || zeroRange) && !seals.isDisjoint(with: .anyWrite) { throw .EPERM }
            if !keepSize && end > size && seals.contains(.grow) { throw .EPERM }
        }
        if writesThrough { return try allocateOnHost(mode: mode, offset: offset, length: length) }
        try copyUp(mayUnlock: true)
        if punch {
            // A cache that mappings still hold keeps its MemoryFile ranges (see FilePages.truncate).
            let mapped = pages != nil && !isKnownUniquelyReferenced(&pages!)
            cache().punchHole(from: offset, to: end, mapped: mapped)
        } else if zeroRange {
            cache().zero(from: offset, to: end)
        } else {
            try cache().preallocate(from: offset, to: end, capacity: context.kernel.capacity(of: context.id))
        }
        if !keepSize && end > size { try setSize(end) } else if punch || zeroRange { touchModified() }
    }

    /// fallocate of a write-through file: the host does it, the host cache follows.
    private func allocateOnHost(mode: Int32, offset: UInt64, length: UInt64) throws(LinuxErrno) {
        let end = offset + length
        let keepSize = mode & 1 != 0, punch = mode & 2 != 0, zeroRange = mode & 0x10 != 0
        let fd = try lowerFD(writable: true)
        let r = joey_fallocate(fd, mode, Int64(offset), Int64(length))
        if r < 0 { throw LinuxErrno(Int32(-r)) }
        settleHostCache()
        if let hostCache {
            if punch || zeroRange { hostCache.zero(from: offset, to: end) }
            if !keepSize && end > hostCache.size { try hostCache.truncate(end, mapped: true) }
        }
        if !keepSize { lowerSize = max(lowerSize, end) }
        hostBlocks = nil
        touchModified()
    }

    /// truncate(2), ftruncate(2): after the file's writes under way (excludingWrites).
    func truncate(_ length: UInt64) throws(LinuxErrno) {
        try excludingWrites { () throws(LinuxErrno) in try setSize(length) }
    }

    private func setSize(_ length: UInt64) throws(LinuxErrno) {
        guard length <= FilePages.maxSize else { throw .EFBIG }
        if let seals {
            if seals.contains(.shrink) && length < size { throw .EPERM }
            if seals.contains(.grow) && length > size { throw .EPERM }
        }
        if writesThrough {
            let fd = try lowerFD(writable: true)
            if ftruncate(fd, off_t(length)) != 0 { throw LinuxErrno(errno) }
            settleHostCache()
            if let hostCache {
                let shrinks = length < hostCache.size
                try hostCache.truncate(length, mapped: true)
                if shrinks { context.kernel.unmapPastEnd(of: hostCache) }
            }
            lowerSize = length
            touchModified()
            return
        }
        if lowerPath != nil {
            if length == 0 { lowerPath = nil; dropLowerFD() }
            else { try copyUp(mayUnlock: true) }
        }
        // A cache that mappings still hold keeps its MemoryFile ranges (see FilePages.truncate).
        let mapped = pages != nil && !isKnownUniquelyReferenced(&pages!)
        let shrinks = length < size
        try cache().truncate(length, mapped: mapped)
        if mapped && shrinks { context.kernel.unmapPastEnd(of: pages!) }
        touchModified()
    }

    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        let writing = flags & O_ACCMODE != O_RDONLY && flags & O_PATH == 0
        let readingOnly = flags & O_ACCMODE == O_RDONLY && flags & O_PATH == 0
        if writing && executing > 0 { throw .ETXTBSY }
        // The open counts before it breaks leases (do_dentry_open's order).
        if writing { openWriters += 1 }
        if readingOnly { openReaders += 1 }
        if !leases.isEmpty && flags & O_PATH == 0 {
            do {
                try breakLeases(writing: writing, nonBlocking: flags & O_NONBLOCK != 0, kernel: kernel)
            } catch {
                if writing { openWriters -= 1 }
                if readingOnly { openReaders -= 1 }
                throw error
            }
        }
        return RegularFileDescription(inode: self, flags: flags)
    }
}
