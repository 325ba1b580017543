// mount(2) and umount2(2) inside the sandbox: new tmpfs, ramfs and proc filesystems, bind
// mounts of what the sandbox already sees, remounts, moves and propagation types, in the
// caller's mount namespace (VFS/Mount.swift). Nothing here reaches the host: every
// filesystem a guest mounts is the sentry's own.
import CJoey
import Glibc
import JoeyABI

private let MS_RDONLY: UInt64 = 1, MS_REMOUNT: UInt64 = 32, MS_BIND: UInt64 = 4096, MS_MOVE: UInt64 = 8192
private let MS_REC: UInt64 = 16384, MS_SILENT: UInt64 = 32768, MS_UNBINDABLE: UInt64 = 1 << 17
private let MS_PRIVATE: UInt64 = 1 << 18, MS_SLAVE: UInt64 = 1 << 19, MS_SHARED: UInt64 = 1 << 20
private let MS_NOUSER: UInt64 = 1 << 31
private let MNT_FORCE: UInt64 = 1, MNT_DETACH: UInt64 = 2, MNT_EXPIRE: UInt64 = 4, UMOUNT_NOFOLLOW: UInt64 = 8
private let CAP_SYS_ADMIN = 21

extension GuestThread {
    func sysMount() throws(LinuxErrno) -> UInt64 {
        var flags = a3
        // The magic number old programs put in the top half (MS_MGC_VAL) means nothing.
        if flags & 0xffff_0000 == 0xc0ed_0000 { flags &= 0xffff }
        let type = a2 == 0 ? nil : String(decoding: try mm.readCString(a2, max: 4096), as: UTF8.self)
        let source = a0 == 0 ? nil : String(decoding: try mm.readCString(a0, max: 4096), as: UTF8.self)
        let targetPath = try pathArg(a1)
        let data: String?
        do { data = a4 == 0 ? nil : String(decoding: try mm.readCString(a4, max: 4096), as: UTF8.self) } catch .ENAMETOOLONG { throw .EINVAL }
        guard group.capable(CAP_SYS_ADMIN) else { throw .EPERM }
        guard flags & MS_NOUSER == 0 else { throw .EINVAL }
        let target = try lookup(AT_FDCWD, targetPath, follow: true)
        let ns = group.fs.mounts
        let propagation = flags & (MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE)
        // The per-mount flags as path_mount makes them: relatime unless noatime or strictatime.
        var mountFlags = MountFlags(rawValue: flags).intersection(.perMount)
        if flags & MountFlags.noATime.rawValue == 0 && flags & MountFlags.strictATime.rawValue == 0 { mountFlags.insert(.relATime) }

        if flags & MS_REMOUNT != 0 {
            return try remount(target, ns, flags: flags, mountFlags: mountFlags, data: data, bind: flags & MS_BIND != 0)
        }
        if flags & MS_BIND != 0 { return try bindMount(source, at: target, ns) }
        if propagation != 0 {
            // One propagation type at a time, optionally with MS_REC (and MS_SILENT).
            guard propagation.nonzeroBitCount == 1, flags & ~(propagation | MS_REC | MS_SILENT) == 0 else { throw .EINVAL }
            let (m, isRoot) = ns.mount(containing: target)
            guard isRoot else { throw .EINVAL }
            for x in [m] + (flags & MS_REC != 0 ? ns.descendants(of: m) : []) {
                switch propagation {
                case MS_SHARED: if case .shared = x.propagation {} else { x.propagation = .shared(peerGroup: x.id) }
                case MS_PRIVATE: x.propagation = .private
                case MS_SLAVE: x.propagation = .slave
                default: x.propagation = .unbindable
                }
            }
            return 0
        }
        if flags & MS_MOVE != 0 { return try moveMount(source, to: target, ns) }
        return try newMount(type: type, source: source, at: target, ns, flags: mountFlags, data: data)
    }

    /// A new filesystem over the directory `target`.
    private func newMount(type: String?, source: String?, at target: Location, _ ns: MountNamespace,
                          flags mountFlags: MountFlags, data: String?) throws(LinuxErrno) -> UInt64 {
        guard let type, !type.isEmpty else { throw .EINVAL }
        var readOnly = mountFlags.contains(.readOnly)
        // The filesystem's options: the generic superblock ones (ro, rw, sync...) and its own.
        var own: [(String, String?)] = []
        for option in (data ?? "").split(separator: ",") where !option.isEmpty {
            let text = String(option)
            switch text {
            case "ro": readOnly = true; continue
            case "rw": readOnly = false; continue
            case "sync", "async", "dirsync", "lazytime", "nolazytime", "mand", "nomand", "silent": continue
            default: break
            }
            if let eq = text.firstIndex(of: "=") { own.append((String(text[..<eq]), String(text[text.index(after: eq)...]))) }
            else { own.append((text, nil)) }
        }
        let root: Inode
        var shown: [String] = []
        switch type {
        case "tmpfs", "ramfs":
            var mode: UInt32 = 0o1777, uid: UInt32 = 0, gid: UInt32 = 0
            var capacity: UInt64?
            for (key, value) in own {
                switch (type, key, value) {
                case ("tmpfs", "size", let v?):
                    capacity = try Kernel.tmpfsSize(v)
                    if capacity! > 0 { shown.append("size=\(capacity! / 1024)k") }
                case ("tmpfs", "nr_blocks", let v?):
                    guard let n = Kernel.memparse(v) else { throw .EINVAL }
                    capacity = n.multipliedReportingOverflow(by: 4096).overflow ? UInt64.max : n * 4096
                    if n > 0 { shown.append("size=\(capacity! / 1024)k") }
                case ("tmpfs", "nr_inodes", let v?):
                    guard Kernel.memparse(v) != nil else { throw .EINVAL }
                    shown.append("nr_inodes=\(v)")
                case (_, "mode", let v?):
                    guard let m = UInt32(v, radix: 8) else { throw .EINVAL }
                    mode = m & 0o7777
                case ("tmpfs", "uid", let v?):
                    guard let u = UInt32(v), u != UInt32.max else { throw .EINVAL }
                    uid = u
                case ("tmpfs", "gid", let v?):
                    guard let g = UInt32(v), g != UInt32.max else { throw .EINVAL }
                    gid = g
                case ("tmpfs", "huge", _), ("tmpfs", "mpol", _), ("tmpfs", "noswap", nil), ("tmpfs", "inode64", nil),
                     ("tmpfs", "inode32", nil):
                    break
                default:
                    throw .EINVAL
                }
            }
            if mode != 0o1777 { shown.append("mode=\(String(mode, radix: 8))") }
            if uid != 0 { shown.append("uid=\(uid)") }
            if gid != 0 { shown.append("gid=\(gid)") }
            let ctx = kernel.filesystem(dev: kernel.allocateAnonymousDevice(), name: "tmpfs")
            ctx.id.capacity = capacity
            let dir = DirectoryInode(context: ctx, mode: mode)
            dir.uid = uid; dir.gid = gid
            root = dir
        case "proc":
            for (key, value) in own {
                switch (key, value) {
                case ("hidepid", _), ("gid", _), ("subset", "pid"): shown.append(value.map { "\(key)=\($0)" } ?? key)
                default: throw .EINVAL
                }
            }
            root = ProcFS.makeRoot(kernel: kernel)
        default:
            // Block devices, network filesystems, sysfs, cgroups: not offered in the sandbox.
            throw .ENODEV
        }
        guard target.inode.kind == .directory else { throw .ENOTDIR }
        root.fs.readOnly = readOnly
        try attach(root, at: target, ns, type: type, source: source ?? "none", flags: mountFlags,
                   superOptions: shown.joined(separator: ","))
        return 0
    }

    /// Places `root` over `target` in `ns`.
    private func attach(_ root: Inode, at target: Location, _ ns: MountNamespace, type: String, source: String,
                        rootPath: String = "/", flags: MountFlags, superOptions: String) throws(LinuxErrno) {
        // A target already deleted (a cwd that was rmdir'ed) cannot take a mount.
        if target.inode.nlink == 0 || target.inode.removed { throw .ENOENT }
        // Linux's fs.mount-max: a guest cannot make the sentry hold mounts without bound.
        guard ns.mounts.count < Kernel.mountMax else { throw .ENOSPC }
        let parent = ns.mount(containing: target).mount
        ns.add(Mount(id: kernel.allocateMountID(), parent: parent, root: root, mountpoint: target.inode,
                     path: String(decoding: target.path.bytes, as: UTF8.self), type: type, source: source,
                     rootPath: rootPath, flags: flags, superOptions: superOptions))
    }

    /// MS_BIND: what `source` names, seen at `target` too.
    private func bindMount(_ source: String?, at target: Location, _ ns: MountNamespace) throws(LinuxErrno) -> UInt64 {
        guard let source else { throw .EFAULT }
        let from = try lookup(AT_FDCWD, ByteString(Array(source.utf8)), follow: true)
        guard (from.inode.kind == .directory) == (target.inode.kind == .directory) else { throw .ENOTDIR }
        let (origin, _) = ns.mount(containing: from)
        if case .unbindable = origin.propagation { throw .EINVAL }
        // The root of the new mount within its filesystem: the origin's root plus the path below it.
        var below: [ByteString] = []
        var cur = from
        while let parent = cur.parent, !(ns.mount(containing: cur).isRoot) {
            below.append(cur.name)
            cur = parent
        }
        var rootPath = origin.rootPath
        for name in below.reversed() {
            rootPath += (rootPath.hasSuffix("/") ? "" : "/") + String(decoding: name.bytes, as: UTF8.self)
        }
        try attach(from.inode, at: target, ns, type: origin.type, source: origin.source, rootPath: rootPath,
                   flags: origin.flags, superOptions: origin.superOptions)
        return 0
    }

    /// MS_REMOUNT: new flags for the mount and, unless `bind`, the filesystem's read-only
    /// state (its other options stay as they were).
    private func remount(_ target: Location, _ ns: MountNamespace, flags: UInt64, mountFlags: MountFlags, data: String?,
                         bind: Bool) throws(LinuxErrno) -> UInt64 {
        let (m, isRoot) = ns.mount(containing: target)
        guard isRoot else { throw .EINVAL }
        var newFlags = mountFlags
        // Atime flags not given stay as they were.
        let atime: MountFlags = [.noATime, .noDirATime, .relATime]
        if flags & (MountFlags.noATime.rawValue | MountFlags.noDirATime.rawValue | MountFlags.relATime.rawValue
                    | MountFlags.strictATime.rawValue) == 0 {
            newFlags.subtract(atime); newFlags.formUnion(m.flags.intersection(atime))
        }
        var readOnly = newFlags.contains(.readOnly)
        if !bind {
            for option in (data ?? "").split(separator: ",") {
                if option == "ro" { readOnly = true } else if option == "rw" { readOnly = false }
            }
        }
        if readOnly != m.root.fs.readOnly {
            // Read-only is kept by the filesystem: a mount can change it only when no other
            // mount shows the same filesystem (Joey has no per-mount read-only state).
            let others = ns.mounts.contains { $0 !== m && $0.root.fs === m.root.fs }
                || (m !== ns.root && ns.root.root.fs === m.root.fs)
            guard !others else { throw .EINVAL }
            if readOnly && kernel.hasWriters(on: m.root.fs) { throw .EBUSY }
            m.root.fs.readOnly = readOnly
        }
        m.flags = newFlags
        return 0
    }

    /// MS_MOVE: the mount at `source` moves to `target`.
    private func moveMount(_ source: String?, to target: Location, _ ns: MountNamespace) throws(LinuxErrno) -> UInt64 {
        guard let source else { throw .EFAULT }
        let from = try lookup(AT_FDCWD, ByteString(Array(source.utf8)), follow: true)
        let (m, isRoot) = ns.mount(containing: from)
        guard isRoot, m !== ns.root else { throw .EINVAL }
        guard (m.root.kind == .directory) == (target.inode.kind == .directory) else { throw .ENOTDIR }
        // Not below itself.
        if ns.isInside(target, m) { throw .ELOOP }
        if case .shared = ns.mount(containing: from).mount.parent?.propagation { throw .EINVAL }
        ns.remove(m)
        let moved = Mount(id: m.id, parent: ns.mount(containing: target).mount, root: m.root, mountpoint: target.inode,
                          path: String(decoding: target.path.bytes, as: UTF8.self), type: m.type, source: m.source,
                          rootPath: m.rootPath, flags: m.flags, superOptions: m.superOptions)
        moved.propagation = m.propagation
        for c in ns.mounts where c.parent === m { c.parent = moved }
        ns.add(moved)
        // Mounts below the moved one keep their places relative to it.
        let oldPrefix = m.path == "/" ? "/" : m.path + "/"
        for c in ns.descendants(of: moved) where c.path.hasPrefix(oldPrefix) {
            c.path = moved.path + (moved.path.hasSuffix("/") ? "" : "/") + c.path.dropFirst(oldPrefix.count)
        }
        return 0
    }

    func sysUmount2() throws(LinuxErrno) -> UInt64 {
        let flags = a1
        let path = try pathArg(a0)
        guard group.capable(CAP_SYS_ADMIN) else { throw .EPERM }
        guard flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW) == 0 else { throw .EINVAL }
        let target = try lookup(AT_FDCWD, path, follow: flags & UMOUNT_NOFOLLOW == 0)
        let ns = group.fs.mounts
        let (m, isRoot) = ns.mount(containing: target)
        guard isRoot else { throw .EINVAL }
        if flags & MNT_EXPIRE != 0 {
            if m === ns.root || flags & (MNT_FORCE | MNT_DETACH) != 0 { throw .EINVAL }
            if !m.expiryMark { m.expiryMark = true; throw .EAGAIN }
        }
        // The namespace's root stays: lazily it is not a mount with a parent; otherwise busy.
        if m === ns.root { throw flags & MNT_DETACH != 0 ? .EINVAL : .EBUSY }
        let below = ns.descendants(of: m)
        if flags & MNT_DETACH == 0 {
            if !below.isEmpty || kernel.isBusy(m, ns) { throw .EBUSY }
        }
        for c in below.reversed() { ns.remove(c) }
        ns.remove(m)
        return 0
    }
}

extension Kernel {
    /// tmpfs's size=: bytes with an optional k/m/g/t/p/e suffix, or a percentage of memory;
    /// rounded up to whole pages. 0 means no limit.
    static func tmpfsSize(_ text: String) throws(LinuxErrno) -> UInt64 {
        if text.hasSuffix("%") {
            guard let percent = UInt64(text.dropLast()) else { throw .EINVAL }
            var total: UInt64 = 0, free: UInt64 = 0
            joey_meminfo(&total, &free)
            return (total / 100 * percent + 4095) & ~4095
        }
        guard let n = memparse(text) else { throw .EINVAL }
        return n > UInt64.max - 4095 ? UInt64.max & ~4095 : (n + 4095) & ~4095
    }

    /// A number with the kernel's memparse suffixes (k, m, g, t, p, e; either case).
    static func memparse(_ text: String) -> UInt64? {
        guard let last = text.last else { return nil }
        let shifts: [Character: UInt64] = ["k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60]
        if let s = shifts[Character(last.lowercased())] {
            guard let n = UInt64(text.dropLast()) else { return nil }
            let (v, o) = n.multipliedReportingOverflow(by: 1 << s)
            return o ? UInt64.max : v
        }
        return UInt64(text)
    }
}

extension Kernel {
    /// The most mounts a namespace holds (Linux's default fs.mount-max).
    static let mountMax = 100_000

    /// A device number for a filesystem made in the sandbox (Linux's anonymous 0:N devices).
    func allocateAnonymousDevice() -> UInt64 {
        lastAnonymousDevice += 1
        let minor = lastAnonymousDevice
        return (minor & 0xff) | ((minor & 0xfff00) << 12) // major 0, in new_encode_dev's layout
    }

    /// Whether a process holds something inside `m`: an open file, a cwd or root, a mapped file.
    func isBusy(_ m: Mount, _ ns: MountNamespace) -> Bool {
        let ownFilesystem = !ns.mounts.contains { $0 !== m && $0.root.fs === m.root.fs }
        for g in threadGroups.values where g.exitStatus == nil {
            if ns.isInside(g.fs.cwd, m) || ns.isInside(g.fs.root, m) { return true }
            for case let e? in g.fdTable.entries {
                let f = e.file
                if let loc = f.location { if ns.isInside(loc, m) { return true } }
                else if ownFilesystem && f.inode.fs === m.root.fs { return true }
            }
            if ownFilesystem && g.mm.vmas.contains(where: { $0.file?.inode.fs === m.root.fs }) { return true }
        }
        return false
    }

    /// Whether a file on `fs` is open for writing (a remount read-only then fails with EBUSY).
    func hasWriters(on fs: FileSystemID) -> Bool {
        for g in threadGroups.values where g.exitStatus == nil {
            for case let e? in g.fdTable.entries where e.file.inode.fs === fs && e.file.flags & O_ACCMODE != O_RDONLY {
                return true
            }
        }
        return false
    }
}

extension Kernel {
    /// struct statfs for a file on `inode`'s filesystem. A filesystem over a host directory
    /// (the root's overlay, bind mounts) reports the host filesystem's space, as an overlay
    /// reports its upper directory's; a tmpfs reports the pages it holds against its size
    /// (half the memory, Linux's default, without one) and the sandbox's free memory. No
    /// tmpfs limits its inodes, so its inode counts are 0, as Linux's with nr_inodes=0.
    func statfs(_ inode: Inode, flags: MountFlags) -> [UInt8] {
        let fs = inode.fs
        var magic: Int64 = switch fs.name {
        case "tmpfs", "devtmpfs": 0x0102_1994
        case "proc": 0x9fa0
        case "devpts": 0x1cd1
        case "sysfs": 0x6265_6572
        case "mqueue": 0x1980_0202
        case "cgroup2": 0x6367_7270
        case "cgroup": 0x27_e0eb
        case "pipefs": 0x5049_5045
        case "sockfs": 0x534f_434b
        case "anon_inodefs": 0x0904_1934
        default: 0x794c_7630 // overlay
        }
        var blocks: UInt64 = 0, free: UInt64 = 0, available: UInt64 = 0
        var files: UInt64 = 0, freeFiles: UInt64 = 0, nameMax: Int64 = 255
        let context = (inode as? DirectoryInode)?.context ?? (inode as? RegularFileInode)?.context
        var host = [UInt64](repeating: 0, count: 7)
        if let context, let tree = context.host, joey_fstatfs(tree.rootFD, &host) == 0 {
            blocks = host[0]; free = host[1]; available = host[2]
            files = host[3]; freeFiles = host[4]; nameMax = Int64(host[5])
            // A bind mount shows the host filesystem it is.
            if fs.name == "bind" { magic = Int64(bitPattern: host[6]) }
        } else if fs.name != "proc" && fs.name != "sysfs" && fs.name != "cgroup2" && fs.name != "cgroup" {
            var total: UInt64 = 0, hostFree: UInt64 = 0
            joey_meminfo(&total, &hostFree)
            let memory = memoryFile.limit.map { min($0, total) } ?? total
            let roomLeft = memoryFile.limit.map { $0 > memoryFile.residentBytes() ? $0 - memoryFile.residentBytes() : 0 } ?? hostFree
            let capacity = fs.capacity ?? memory / 2
            let used = fs.usedBytes.load(ordering: .relaxed)
            blocks = capacity / 4096
            free = min(capacity > used ? (capacity - used) / 4096 : 0, roomLeft / 4096)
            available = free
        }
        var b = [UInt8](repeating: 0, count: 120)
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: magic, toByteOffset: 0, as: Int64.self)
            p.storeBytes(of: Int64(4096), toByteOffset: 8, as: Int64.self)       // f_bsize
            p.storeBytes(of: Int64(bitPattern: blocks), toByteOffset: 16, as: Int64.self)
            p.storeBytes(of: Int64(bitPattern: free), toByteOffset: 24, as: Int64.self)
            p.storeBytes(of: Int64(bitPattern: available), toByteOffset: 32, as: Int64.self)
            p.storeBytes(of: Int64(bitPattern: files), toByteOffset: 40, as: Int64.self)
            p.storeBytes(of: Int64(bitPattern: freeFiles), toByteOffset: 48, as: Int64.self)
            p.storeBytes(of: nameMax, toByteOffset: 64, as: Int64.self)          // f_namelen
            p.storeBytes(of: Int64(4096), toByteOffset: 72, as: Int64.self)      // f_frsize
            p.storeBytes(of: flags.statfsFlags, toByteOffset: 80, as: Int64.self)
        }
        return b
    }
}
