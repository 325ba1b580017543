// VFS core: inodes. An Inode is a file of any kind in any sentry filesystem; its default
// operations fail the way Linux does when a filesystem lacks the operation.
import Glibc
import JoeyABI
import Synchronization

public enum FileKind: UInt32, Sendable {
    case fifo = 0o010000, characterDevice = 0o020000, directory = 0o040000, blockDevice = 0o060000
    case regular = 0o100000, symlink = 0o120000, socket = 0o140000
    /// An anonymous inode (eventfd, epoll, timerfd, signalfd, inotify, pidfd...): Linux's
    /// anon_inodefs shows no file type bits at all in st_mode.
    case anonymous = 0

    /// d_type for getdents64.
    var direntType: UInt8 {
        switch self {
        case .fifo: return 1
        case .characterDevice: return 2
        case .directory: return 4
        case .blockDevice: return 6
        case .regular: return 8
        case .symlink: return 10
        case .socket: return 12
        case .anonymous: return 0
        }
    }

    /// The kind a host's st_mode names; nil when it has no type bits (a host anonymous inode).
    init?(hostMode mode: UInt32) {
        guard mode & 0o170000 != 0, let kind = FileKind(rawValue: mode & 0o170000) else { return nil }
        self = kind
    }

    /// The kind a host's getdents d_type names (DT_x is S_IFx >> 12); nil for DT_UNKNOWN.
    init?(direntType: UInt8) {
        guard direntType != 0, let kind = FileKind(rawValue: UInt32(direntType) << 12) else { return nil }
        self = kind
    }
}

public struct Timespec: Sendable, Equatable {
    public var sec: Int64
    public var nsec: Int64
    /// The sandbox's wall clock (Kernel/WallClock.swift).
    public static func now() -> Timespec {
        let ns = WallClock.realtimeNanos()
        return Timespec(sec: Int64(ns / 1_000_000_000), nsec: Int64(ns % 1_000_000_000))
    }
}

struct DirEntry {
    var name: ByteString
    var ino: UInt64
    var kind: FileKind
}

/// Per-filesystem identity (st_dev) and inode numbering.
public final class FileSystemID {
    public let dev: UInt64
    public let name: String
    private var nextIno: UInt64 = 1_000_000
    /// Mounted read-only: changing anything in it fails with EROFS (files and directories;
    /// devices, FIFOs and sockets on it stay usable, as on Linux).
    public var readOnly = false
    /// The user namespace of the process that mounted it (Linux's s_user_ns): its
    /// CAP_SYS_ADMIN changes the filesystem's own options.
    var userNS = UserNamespace.initial
    /// tmpfs's size=: pages written past it fail with ENOSPC; nil: no limit of its own.
    var capacity: UInt64?
    /// Bytes of file pages written in the MemoryFile (FilePages): what statfs counts as used.
    /// Atomic: a file's page cache may go (its inode's deinit) outside the kernel lock.
    let usedBytes = Atomic<UInt64>(0)
    public init(dev: UInt64, name: String) { self.dev = dev; self.name = name }
    func allocateIno() -> UInt64 { nextIno += 1; return nextIno }
}

public class Inode {
    public let kind: FileKind
    public var mode: UInt32      // permission bits (07777)
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var nlink: UInt64 = 1
    public var ino: UInt64
    public let fs: FileSystemID
    public var rdev: UInt64 = 0
    public var atime: Timespec
    public var mtime: Timespec
    public var ctime: Timespec
    public var blockSize: Int64 = 4096
    /// A directory that rmdir removed (getcwd then fails with ENOENT).
    public var removed = false
    /// Where rename last put a file that is not a directory (a directory knows its parent
    /// itself): so the path of a description opened before shows its new name, as d_path.
    var lastRename: RenamedEntry?
    /// The inode flags FS_IOC_SETFLAGS sets (chattr): FS_IMMUTABLE_FL, FS_APPEND_FL,
    /// FS_NODUMP_FL, FS_NOATIME_FL, as tmpfs keeps them. Immutable: no change of data, name,
    /// link or attribute, even by root; append-only: data only added, at the end.
    var attributeFlags: UInt32 = 0
    static let immutableFlag: UInt32 = 0x10, appendFlag: UInt32 = 0x20, noDumpFlag: UInt32 = 0x40, noATimeFlag: UInt32 = 0x80
    /// Whether the file keeps such flags: tmpfs's and the overlay's files and directories.
    var keepsAttributeFlags: Bool { self is RegularFileInode || self is DirectoryInode }
    var isImmutable: Bool { attributeFlags & Inode.immutableFlag != 0 }
    var isAppendOnly: Bool { attributeFlags & Inode.appendFlag != 0 }
    /// Extended attributes (Syscalls/XattrSyscalls.swift); nil until one is set.
    var xattrs: [ByteString: [UInt8]]? {
        didSet { Inode.xattrBytes.add(Inode.size(of: xattrs) - Inode.size(of: oldValue), ordering: .relaxed) }
    }
    /// What every inode's attributes hold, summed (bounded by Inode.xattrBudget). Atomic: an
    /// inode may go outside the kernel lock.
    static let xattrBytes = Atomic<Int>(0)
    static func size(of xattrs: [ByteString: [UInt8]]?) -> Int { xattrs?.reduce(0) { $0 + $1.key.count + $1.value.count } ?? 0 }
    /// Advisory locks, once any was taken (FS/FileLocks.swift).
    var fileLocks: FileLocks?
    /// Something was mounted on it, in some namespace (Linux's DCACHE_MOUNTED): a path walk
    /// asks the mount table about no other inode. Never cleared (a namespace may go outside
    /// the kernel lock): a stale mark costs only that lookup.
    var mountedOn = false

    deinit {
        if let xattrs { Inode.xattrBytes.subtract(Inode.size(of: xattrs), ordering: .relaxed) }
    }

    init(kind: FileKind, mode: UInt32, fs: FileSystemID, ino: UInt64? = nil) {
        self.kind = kind
        self.mode = mode & 0o7777
        self.fs = fs
        self.ino = ino ?? fs.allocateIno()
        let now = Timespec.now()
        atime = now; mtime = now; ctime = now
    }

    /// Size and block count as the host reported them, for lower-layer files not changed since.
    var hostSize: UInt64?
    var hostBlocks: UInt64?

    var size: UInt64 { hostSize ?? 0 }
    var blocks: UInt64 { hostBlocks ?? (size + 511) / 512 }

    // Directory operations (ENOTDIR unless a directory implements them).
    func lookup(_ name: ByteString) throws(LinuxErrno) -> Inode { throw .ENOTDIR }
    /// lookup, from a path walk of a call that may be made again from the start
    /// (GuestThread.defersHostWaits): a lookup that would wait for the host's disk is made
    /// with the kernel lock let go instead, and `.hostWouldWait` thrown (DirectoryInode).
    func lookup(_ name: ByteString, deferringHostWaitsOf t: GuestThread) throws(LinuxErrno) -> Inode { try lookup(name) }
    func entries() throws(LinuxErrno) -> [DirEntry] { throw .ENOTDIR }
    /// Creates a new child; EEXIST if the name exists.
    func create(_ name: ByteString, kind: FileKind, mode: UInt32, uid: UInt32, gid: UInt32,
                target: ByteString? = nil, rdev: UInt64 = 0) throws(LinuxErrno) -> Inode { throw .ENOTDIR }
    /// Adds an existing inode under `name` (link, rename); replaces nothing.
    func insert(_ name: ByteString, _ inode: Inode) throws(LinuxErrno) { throw .ENOTDIR }
    /// Removes the entry `name` (the caller has checked its kind).
    func remove(_ name: ByteString) throws(LinuxErrno) { throw .ENOTDIR }

    func readlink() throws(LinuxErrno) -> ByteString { throw .EINVAL }
    /// Where following this symlink leads when that is not a path (procfs's fd links).
    func magicTarget() -> Location? { nil }
    /// A procfs link to a process's own files (fd, exe, cwd, root): openat2's
    /// RESOLVE_NO_MAGICLINKS refuses to follow it.
    var isMagicLink: Bool { magicTarget() != nil }
    /// Opens the file; the description's read/write decide what I/O does.
    func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        throw .ENXIO
    }

    func touchModified() {
        let now = Timespec.now()
        mtime = now; ctime = now
    }

    var fullMode: UInt32 { kind.rawValue | mode }

    /// struct stat as x86-64 Linux lays it out (144 bytes), the owner and group as `userNS`
    /// numbers them.
    func statBytes(seenIn userNS: UserNamespace) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 144)
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: fs.dev, toByteOffset: 0, as: UInt64.self)
            p.storeBytes(of: ino, toByteOffset: 8, as: UInt64.self)
            p.storeBytes(of: nlink, toByteOffset: 16, as: UInt64.self)
            p.storeBytes(of: fullMode, toByteOffset: 24, as: UInt32.self)
            p.storeBytes(of: userNS.shownUID(uid), toByteOffset: 28, as: UInt32.self)
            p.storeBytes(of: userNS.shownGID(gid), toByteOffset: 32, as: UInt32.self)
            p.storeBytes(of: rdev, toByteOffset: 40, as: UInt64.self)
            p.storeBytes(of: Int64(size), toByteOffset: 48, as: Int64.self)
            p.storeBytes(of: blockSize, toByteOffset: 56, as: Int64.self)
            p.storeBytes(of: Int64(blocks), toByteOffset: 64, as: Int64.self)
            p.storeBytes(of: atime.sec, toByteOffset: 72, as: Int64.self)
            p.storeBytes(of: atime.nsec, toByteOffset: 80, as: Int64.self)
            p.storeBytes(of: mtime.sec, toByteOffset: 88, as: Int64.self)
            p.storeBytes(of: mtime.nsec, toByteOffset: 96, as: Int64.self)
            p.storeBytes(of: ctime.sec, toByteOffset: 104, as: Int64.self)
            p.storeBytes(of: ctime.nsec, toByteOffset: 112, as: Int64.self)
        }
        return b
    }

    /// struct statx (256 bytes) with the basic fields.
    func statxBytes(seenIn userNS: UserNamespace) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 256)
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: UInt32(0x7ff), toByteOffset: 0, as: UInt32.self) // STATX_BASIC_STATS
            p.storeBytes(of: UInt32(blockSize), toByteOffset: 4, as: UInt32.self)
            p.storeBytes(of: UInt32(truncatingIfNeeded: nlink), toByteOffset: 16, as: UInt32.self)
            p.storeBytes(of: userNS.shownUID(uid), toByteOffset: 20, as: UInt32.self)
            p.storeBytes(of: userNS.shownGID(gid), toByteOffset: 24, as: UInt32.self)
            p.storeBytes(of: UInt16(truncatingIfNeeded: fullMode), toByteOffset: 28, as: UInt16.self)
            p.storeBytes(of: ino, toByteOffset: 32, as: UInt64.self)
            p.storeBytes(of: size, toByteOffset: 40, as: UInt64.self)
            p.storeBytes(of: blocks, toByteOffset: 48, as: UInt64.self)
            for (off, t) in [(64, atime), (96, ctime), (112, mtime)] {
                p.storeBytes(of: t.sec, toByteOffset: off, as: Int64.self)
                p.storeBytes(of: UInt32(t.nsec), toByteOffset: off + 8, as: UInt32.self)
            }
            p.storeBytes(of: UInt32((rdev >> 8) & 0xfff), toByteOffset: 128, as: UInt32.self)
            p.storeBytes(of: UInt32((rdev & 0xff) | ((rdev >> 12) & 0xfff00)), toByteOffset: 132, as: UInt32.self)
            p.storeBytes(of: UInt32((fs.dev >> 8) & 0xfff), toByteOffset: 136, as: UInt32.self)
            p.storeBytes(of: UInt32(fs.dev & 0xff), toByteOffset: 140, as: UInt32.self)
            // stx_attributes and their mask: the inode flags that have a statx bit (immutable,
            // append-only, nodump: the same bits), where the file keeps them (shmem_getattr).
            if keepsAttributeFlags {
                p.storeBytes(of: UInt64(attributeFlags & 0x70), toByteOffset: 8, as: UInt64.self)
                p.storeBytes(of: UInt64(0x70), toByteOffset: 56, as: UInt64.self)
            }
        }
        return b
    }
}

/// A symbolic link whose target is held in memory.
final class SymlinkInode: Inode {
    let target: ByteString
    init(target: ByteString, fs: FileSystemID, ino: UInt64? = nil) {
        self.target = target
        super.init(kind: .symlink, mode: 0o777, fs: fs, ino: ino)
    }
    override var size: UInt64 { UInt64(target.count) }
    override func readlink() throws(LinuxErrno) -> ByteString { target }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription { throw .ELOOP }
}
