// System V shared memory (shmget, shmat, shmdt, shmctl): each segment is an anonymous tmpfs
// file in the page cache, like a memfd, and shmat maps it MAP_SHARED, so attachments in
// every process see the same pages. A segment's attach count is the number of mappings that
// start at its offset 0; IPC_RMID frees the id once nothing is attached (the pages live as
// long as a mapping holds them). Segments are never swapped, so SHM_LOCK/SHM_UNLOCK only
// check permission and set SHM_LOCKED. Kernel lock held throughout.
import Glibc
import JoeyABI
import JoeyPlatform

/// What every System V IPC object (shared memory segment, semaphore set, message queue) has
/// for its permission checks and the ipc64_perm of its IPC_STAT.
protocol IPCObject: AnyObject {
    var key: Int32 { get }
    var uid: UInt32 { get set }
    var gid: UInt32 { get set }
    var creatorUID: UInt32 { get }
    var creatorGID: UInt32 { get }
    var mode: UInt32 { get set }
}

final class SharedMemorySegment: IPCObject {
    let id: Int32
    let key: Int32
    let size: UInt64
    let file: FileDescription
    var uid: UInt32, gid: UInt32
    let creatorUID: UInt32, creatorGID: UInt32
    var mode: UInt32
    var removed = false
    let creatorPID: Int32
    var lastPID: Int32 = 0
    var attachTime: Int64 = 0, detachTime: Int64 = 0, changeTime: Int64

    init(id: Int32, key: Int32, size: UInt64, file: FileDescription, mode: UInt32, uid: UInt32, gid: UInt32, pid: Int32) {
        self.id = id; self.key = key; self.size = size; self.file = file; self.mode = mode
        self.uid = uid; self.gid = gid; creatorUID = uid; creatorGID = gid; creatorPID = pid
        changeTime = Timespec.now().sec
    }
}

/// An IPC namespace's shared memory segments.
final class SharedMemoryRegistry {
    var segments: [Int32: SharedMemorySegment] = [:]
    var ids = IPCIDs()
    // The namespace's limits (/proc/sys/kernel/shmmni, shmall, shmmax), Linux's defaults.
    var maxSegments = 4096
    /// SHMALL, in pages, over the namespace's segments.
    var maxTotalPages: UInt64 = 1 << 60
    var maxSize: UInt64 = 0x7fff_ffff_ffff_f000 // SHMMAX's default: effectively unlimited

    /// Mappings attached to `s` across every process.
    func attachments(_ s: SharedMemorySegment, in kernel: Kernel) -> Int {
        var n = 0
        var seen = Set<ObjectIdentifier>()
        for g in kernel.threadGroups.values where seen.insert(ObjectIdentifier(g.mm)).inserted {
            n += g.mm.vmas.reduce(0) { $0 + ($1.file?.inode === s.file.inode && $1.fileOffset == 0 ? 1 : 0) }
        }
        return n
    }

    /// Forgets removed segments nothing is attached to any more.
    func prune(_ kernel: Kernel) {
        for (id, s) in segments where s.removed && attachments(s, in: kernel) == 0 { segments[id] = nil }
    }
}

extension GuestThread {
    static let IPC_CREAT: UInt64 = 0o1000, IPC_EXCL: UInt64 = 0o2000, IPC_NOWAIT: UInt64 = 0o4000
    private static let SHM_RDONLY: UInt64 = 0o10000, SHM_RND: UInt64 = 0o20000, SHM_REMAP: UInt64 = 0o40000, SHM_EXEC: UInt64 = 0o100000

    /// ipcperms: the owner's, group's or others' bits of `mode` for `want` (4 read, 2 write).
    func ipcPermitted(_ s: some IPCObject, _ want: UInt32) -> Bool {
        if group.capable(15 /* CAP_IPC_OWNER */, in: group.ipc.owner) { return true }
        let shift: UInt32 = group.euid == s.uid || group.euid == s.creatorUID ? 6
            : (group.egid == s.gid || group.egid == s.creatorGID || group.groups.contains(s.gid)) ? 3 : 0
        return (s.mode >> shift) & want == want
    }

    func isOwner(_ s: some IPCObject) -> Bool {
        group.capable(21 /* CAP_SYS_ADMIN */, in: group.ipc.owner) || group.euid == s.uid || group.euid == s.creatorUID
    }

    /// IPC_SET's common part: the new owner and permission bits from the guest's ipc64_perm.
    /// The ids are the caller's user namespace's: one it has no number for is EINVAL.
    func ipcSet(_ s: some IPCObject, from address: UInt64) throws(LinuxErrno) {
        let b = try mm.read(address, count: 24)
        let (u, g, mode) = b.withUnsafeBytes { p in
            (p.loadUnaligned(fromByteOffset: 4, as: UInt32.self), p.loadUnaligned(fromByteOffset: 8, as: UInt32.self),
             p.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
        }
        guard let uid = group.userNS.kuid(u), let gid = group.userNS.kgid(g) else { throw .EINVAL }
        guard isOwner(s) else { throw .EPERM }
        s.uid = uid
        s.gid = gid
        s.mode = (s.mode & ~0o777) | (mode & 0o777)
    }

    func sysShmget() throws(LinuxErrno) -> UInt64 {
        let key = Int32(truncatingIfNeeded: a0), size = a1, flags = a2
        let registry = group.ipc.sharedMemory
        registry.prune(kernel)
        let live = registry.segments.values.filter { !$0.removed }
        if let s = try ipcLookup(live, key: key, flags: flags, thread: self, checks: { (s: SharedMemorySegment) throws(LinuxErrno) in
            guard size <= s.size else { throw .EINVAL }
        }) {
            return UInt64(s.id)
        }
        // Past MAX_LFS_FILESIZE the segment's file cannot be made, whatever SHMMAX says.
        guard size >= 1, size <= registry.maxSize, size <= 0x7fff_ffff_ffff_f000 else { throw .EINVAL }
        guard registry.segments.count < registry.maxSegments else { throw .ENOSPC }
        // SHMALL: the namespace's segments' pages, this one's included (newseg's shm_tot check).
        let pages = registry.segments.values.reduce((size + 4095) / 4096) { sum, s in
            let (total, overflow) = sum.addingReportingOverflow((s.size + 4095) / 4096)
            return overflow ? UInt64.max : total
        }
        guard pages <= registry.maxTotalPages else { throw .ENOSPC }
        let inode = RegularFileInode(context: kernel.memfdContext, mode: UInt32(flags & 0o777))
        inode.uid = group.euid
        inode.gid = group.egid
        inode.nlink = 0
        let file = try inode.open(flags: O_RDWR, kernel: kernel)
        try (file.inode as! RegularFileInode).truncate(size)
        guard let id = registry.ids.allocate(taken: { registry.segments[$0] != nil }) else { throw .ENOSPC }
        file.path = ByteString("/SYSV\(String(UInt32(bitPattern: key), radix: 16, uppercase: false).leftPadded(8)) (deleted)")
        registry.segments[id] = SharedMemorySegment(id: id, key: key, size: size, file: file, mode: UInt32(flags & 0o777),
                                                    uid: group.euid, gid: group.egid, pid: group.pid)
        return UInt64(id)
    }

    private func segment(_ raw: UInt64) throws(LinuxErrno) -> SharedMemorySegment {
        let id = Int32(truncatingIfNeeded: raw)
        guard id >= 0, let s = group.ipc.sharedMemory.segments[id] else { throw .EINVAL }
        return s
    }

    func sysShmat() throws(LinuxErrno) -> UInt64 {
        let s = try segment(a0)
        var addr = a1
        let flags = a2
        if addr & 0xfff != 0 {
            guard flags & Self.SHM_RND != 0 else { throw .EINVAL }
            addr &= ~0xfff
        }
        let readOnly = flags & Self.SHM_RDONLY != 0
        guard ipcPermitted(s, readOnly ? 4 : 6) else { throw .EACCES }
        try mm.checkRoomForMappings(limit: kernel.tunables.mapCountLimit)
        var prot: MemoryProtection = readOnly ? [.read] : [.read, .write]
        if flags & Self.SHM_EXEC != 0 { prot.insert(.exec) }
        let len = (s.size + 0xfff) & ~0xfff
        var mapFlags: UInt64 = 0
        if addr != 0 {
            // Without SHM_REMAP an attach may not replace existing mappings.
            mapFlags = flags & Self.SHM_REMAP != 0 ? MAP_FIXED_ : MAP_FIXED_NOREPLACE_
        } else if flags & Self.SHM_REMAP != 0 {
            throw .EINVAL
        }
        let start: UInt64
        do {
            start = try mapMemory(s.file, address: addr, length: len, protection: prot, shared: true, flags: mapFlags, offset: 0)
        } catch let e where e == .EEXIST {
            throw .EINVAL
        }
        s.attachTime = Timespec.now().sec
        s.lastPID = group.pid
        return start
    }

    /// shmdt, as Linux's: from `addr` up, the first mapping of a segment whose file offset is
    /// its distance from `addr` is unmapped, then every other piece of that segment within
    /// its size that lines up the same way (an attachment split by mprotect or munmap, or
    /// partly remapped: what no longer lines up stays). EINVAL when none does.
    func sysShmdt() throws(LinuxErrno) -> UInt64 {
        let addr = a0
        guard addr & 0xfff == 0 else { throw .EINVAL }
        let above = mm.vmas.filter { $0.start >= addr }
        guard let first = above.firstIndex(where: { v in
                  v.fileOffset == v.start - addr && v.file.map { attachedSegment($0.inode) != nil } ?? false }),
              let inode = above[first].file?.inode, let (registry, s) = attachedSegment(inode) else { throw .EINVAL }
        let size = (s.size + 0xfff) & ~0xfff
        for v in above[first...] where v.end - addr <= size || v.start == above[first].start {
            guard v.file?.inode === inode, v.fileOffset == v.start - addr else { continue }
            try? unmapRange(v.start, v.end - v.start) // a sealed piece stays, as Linux ignores the error
        }
        s.detachTime = Timespec.now().sec
        s.lastPID = group.pid
        registry.prune(kernel)
        return 0
    }

    /// Whether `inode` is the file of a segment IPC_RMID removed that is still attached.
    func isRemovedSegment(_ inode: Inode) -> Bool { attachedSegment(inode)?.1.removed ?? false }

    private func attachedSegment(_ inode: Inode) -> (SharedMemoryRegistry, SharedMemorySegment)? {
        for ns in [group.ipc] + kernel.liveIPCNamespaces {
            if let s = ns.sharedMemory.segments.values.first(where: { $0.file.inode === inode }) { return (ns.sharedMemory, s) }
        }
        return nil
    }

    func sysShmctl() throws(LinuxErrno) -> UInt64 {
        let cmd = Int32(truncatingIfNeeded: a1) & ~0x100 // IPC_64
        let registry = group.ipc.sharedMemory
        registry.prune(kernel)
        switch cmd {
        case 3: // IPC_INFO: struct shminfo
            if a2 != 0 {
                try mm.writeValue(a2, (registry.maxSize, UInt64(1), UInt64(registry.maxSegments),
                                       UInt64(registry.maxSegments), registry.maxTotalPages))
            }
            return UInt64(registry.segments.keys.max() ?? 0)
        case 14: // SHM_INFO: struct shm_info
            // shm_tot: pages of every segment; shm_rss: those holding data (as /proc/sysvipc/shm's rss).
            let pages = registry.segments.values.reduce(UInt64(0)) { $0 + ($1.size + 0xfff) / 0x1000 }
            let resident = registry.segments.values.reduce(UInt64(0)) {
                $0 + ((($1.file.inode as? RegularFileInode)?.residentBytes ?? 0) + 0xfff) / 0x1000
            }
            if a2 != 0 { try mm.writeValue(a2, (Int32(registry.segments.count), Int32(0), pages, resident, UInt64(0), UInt64(0), UInt64(0))) }
            return UInt64(registry.segments.keys.max() ?? 0)
        case 2, 13, 15: // IPC_STAT, SHM_STAT, SHM_STAT_ANY
            let s = try segment(a0)
            if cmd != 15 { guard ipcPermitted(s, 4) else { throw .EACCES } }
            var b = [UInt8](repeating: 0, count: 112)
            let nattch = registry.attachments(s, in: kernel)
            b.withUnsafeMutableBytes { p in
                storeIPCPerm(s, seenIn: group.userNS, into: p)
                // SHM_DEST (0o1000) marks a removed segment still attached (its key then reads 0).
                if s.removed {
                    p.storeBytes(of: Int32(0), toByteOffset: 0, as: Int32.self)
                    p.storeBytes(of: s.mode | 0o1000, toByteOffset: 20, as: UInt32.self)
                }
                p.storeBytes(of: s.size, toByteOffset: 48, as: UInt64.self)
                p.storeBytes(of: s.attachTime, toByteOffset: 56, as: Int64.self)
                p.storeBytes(of: s.detachTime, toByteOffset: 64, as: Int64.self)
                p.storeBytes(of: s.changeTime, toByteOffset: 72, as: Int64.self)
                p.storeBytes(of: vnr(s.creatorPID), toByteOffset: 80, as: Int32.self)
                p.storeBytes(of: vnr(s.lastPID), toByteOffset: 84, as: Int32.self)
                p.storeBytes(of: UInt64(nattch), toByteOffset: 88, as: UInt64.self)
            }
            try mm.write(a2, b)
            return cmd == 2 ? 0 : UInt64(s.id)
        case 1: // IPC_SET: uid, gid and the permission bits
            let s = try segment(a0)
            try ipcSet(s, from: a2)
            s.changeTime = Timespec.now().sec
            return 0
        case 0: // IPC_RMID
            let s = try segment(a0)
            guard isOwner(s) else { throw .EPERM }
            s.removed = true
            registry.prune(kernel)
            return 0
        case 11, 12: // SHM_LOCK, SHM_UNLOCK: SHM_LOCKED (0o2000) in the mode says which
            let s = try segment(a0)
            guard isOwner(s) else { throw .EPERM }
            if cmd == 11 { s.mode |= 0o2000 } else { s.mode &= ~0o2000 }
            return 0
        default:
            throw .EINVAL
        }
    }
}

/// The *get(2) lookup every System V IPC object shares, in Linux's order (ipcget_public):
/// EEXIST for IPC_CREAT|IPC_EXCL, then the object's own `checks`, then the permission the
/// mode bits in `flags` ask for. The live object for `key`, or nil when one is to be made.
func ipcLookup<T: IPCObject>(_ objects: [T], key: Int32, flags: UInt64, thread t: GuestThread,
                             checks: (T) throws(LinuxErrno) -> Void = { _ in }) throws(LinuxErrno) -> T? {
    if key != 0, let o = objects.first(where: { $0.key == key }) {
        if flags & GuestThread.IPC_CREAT != 0 && flags & GuestThread.IPC_EXCL != 0 { throw .EEXIST }
        try checks(o)
        guard t.ipcPermitted(o, UInt32(flags & 0o777) >> 6) else { throw .EACCES }
        return o
    }
    if key != 0 && flags & GuestThread.IPC_CREAT == 0 { throw .ENOENT }
    return nil
}

/// struct ipc64_perm, the first 48 bytes of every IPC_STAT structure, its ids as `ns`
/// numbers them.
func storeIPCPerm(_ s: some IPCObject, seenIn ns: UserNamespace, into p: UnsafeMutableRawBufferPointer) {
    p.storeBytes(of: s.key, toByteOffset: 0, as: Int32.self)
    p.storeBytes(of: ns.shownUID(s.uid), toByteOffset: 4, as: UInt32.self)
    p.storeBytes(of: ns.shownGID(s.gid), toByteOffset: 8, as: UInt32.self)
    p.storeBytes(of: ns.shownUID(s.creatorUID), toByteOffset: 12, as: UInt32.self)
    p.storeBytes(of: ns.shownGID(s.creatorGID), toByteOffset: 16, as: UInt32.self)
    p.storeBytes(of: s.mode, toByteOffset: 20, as: UInt32.self)
}
