// mount(2) and umount2(2) inside the sandbox: new tmpfs, ramfs, proc, devpts and mqueue
// filesystems, bind mounts of what the sandbox already sees, remounts, moves and propagation
// types, in the caller's mount namespace (VFS/Mount.swift); statfs, ustat and sysfs. Nothing
// here reaches the host: every filesystem a guest mounts is the sentry's own. The fd-based mount
// API (fsopen, fsmount, open_tree, move_mount...) builds on these: FSContextSyscalls.swift.
import CJoey
import Glibc
import JoeyABI

private let MS_RDONLY: UInt64 = 1, MS_REMOUNT: UInt64 = 32, MS_BIND: UInt64 = 4096, MS_MOVE: UInt64 = 8192
private let MS_REC: UInt64 = 16384, MS_SILENT: UInt64 = 32768, MS_UNBINDABLE: UInt64 = 1 << 17
private let MS_PRIVATE: UInt64 = 1 << 18, MS_SLAVE: UInt64 = 1 << 19, MS_SHARED: UInt64 = 1 << 20
private let MS_NOUSER: UInt64 = 1 << 31
private let MNT_FORCE: UInt64 = 1, MNT_DETACH: UInt64 = 2, MNT_EXPIRE: UInt64 = 4, UMOUNT_NOFOLLOW: UInt64 = 8
let CAP_SYS_ADMIN = 21

extension GuestThread {
    /// A string argument of mount(2) (strndup_user: EFAULT, EINVAL past a page).
    private func mountString(_ addr: UInt64) throws(LinuxErrno) -> String? {
        guard addr != 0 else { return nil }
        do { return String(decoding: try mm.readCString(addr, max: 4096), as: UTF8.self) } catch .ENAMETOOLONG { throw .EINVAL }
    }

    func sysMount() throws(LinuxErrno) -> UInt64 {
        var flags = a3
        // The magic number old programs put in the top half (MS_MGC_VAL) means nothing.
        if flags & 0xffff_0000 == 0xc0ed_0000 { flags &= 0xffff }
        let type = try mountString(a2)
        let source = try mountString(a0)
        let data = try mountString(a4)
        let target = try lookup(AT_FDCWD, try pathArg(a1), follow: true)
        guard flags & MS_NOUSER == 0 else { throw .EINVAL }
        try landlockMount() // security_sb_mount, sb_remount
        let ns = fs.mounts
        guard group.capable(CAP_SYS_ADMIN, in: ns.owner) else { throw .EPERM }
        let propagation = flags & (MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE)
        // The per-mount flags as path_mount makes them: relatime unless noatime or strictatime.
        var mountFlags = MountFlags(rawValue: flags).intersection(.perMount)
        if flags & MountFlags.noATime.rawValue == 0 && flags & MountFlags.strictATime.rawValue == 0 { mountFlags.insert(.relATime) }

        if flags & MS_REMOUNT != 0 {
            return try remount(target, ns, flags: flags, mountFlags: mountFlags, data: data, bind: flags & MS_BIND != 0)
        }
        if flags & MS_BIND != 0 { return try bindMount(source, at: target, ns, recursive: flags & MS_REC != 0) }
        if propagation != 0 {
            // One propagation type at a time, optionally with MS_REC (and MS_SILENT).
            guard propagation.nonzeroBitCount == 1, flags & ~(propagation | MS_REC | MS_SILENT) == 0 else { throw .EINVAL }
            guard ns.isRoot(target), let m = target.mount else { throw .EINVAL }
            for x in [m] + (flags & MS_REC != 0 ? ns.descendants(of: m) : []) {
                x.propagation = MountPropagation.changed(x.propagation, to: propagation, mount: x.id)
            }
            ns.touched()
            return 0
        }
        if flags & MS_MOVE != 0 { return try moveMount(source, to: target, ns) }
        return try newMount(type: type, source: source, at: target, ns, flags: mountFlags, data: data)
    }

    /// A filesystem's own mount options, parsed: what the mount shows and does.
    struct FilesystemOptions {
        var readOnly: Bool
        var mode: UInt32 = 0o1777, uid: UInt32, gid: UInt32
        /// tmpfs's size; nil: not given; 0: no limit.
        var capacity: UInt64?
        /// devpts's ptmxmode=, mode= and gid= (Linux's defaults for a new instance).
        var ptmxMode: UInt32 = 0, ptsMode: UInt32 = 0o600, ptsGID: UInt32?
        var shown: [String] = []
    }

    /// Parses `data` for a filesystem of `type`: the generic superblock options (ro, rw,
    /// sync...) and the filesystem's own. EINVAL for what the filesystem does not take.
    func parseOptions(_ type: String, _ data: String?, readOnly: Bool) throws(LinuxErrno) -> FilesystemOptions {
        // The root belongs to the mounter unless uid= and gid= (numbers of its user
        // namespace) say otherwise.
        var o = FilesystemOptions(readOnly: readOnly, uid: group.fsuid, gid: group.fsgid)
        for option in (data ?? "").split(separator: ",") where !option.isEmpty {
            let text = String(option)
            switch text {
            case "ro": o.readOnly = true; continue
            case "rw": o.readOnly = false; continue
            case "sync", "async", "dirsync", "lazytime", "nolazytime", "mand", "nomand", "silent": continue
            default: break
            }
            let key: String, value: String?
            if let eq = text.firstIndex(of: "=") { key = String(text[..<eq]); value = String(text[text.index(after: eq)...]) }
            else { key = text; value = nil }
            switch (type, key, value) {
            case ("tmpfs", "size", let v?):
                o.capacity = try Kernel.tmpfsSize(v)
            case ("tmpfs", "nr_blocks", let v?):
                guard let n = Kernel.memparse(v) else { throw .EINVAL }
                o.capacity = n.multipliedReportingOverflow(by: 4096).overflow ? UInt64.max & ~4095 : n * 4096
            case ("tmpfs", "mode", let v?):
                guard let m = UInt32(v, radix: 8) else { throw .EINVAL }
                o.mode = m & 0o7777
            case ("tmpfs", "uid", let v?):
                guard let u = UInt32(v), let k = group.userNS.kuid(u) else { throw .EINVAL }
                o.uid = k
            case ("tmpfs", "gid", let v?):
                guard let g = UInt32(v), let k = group.userNS.kgid(g) else { throw .EINVAL }
                o.gid = k
            case ("tmpfs", "noswap", nil), ("tmpfs", "inode64", nil):
                break // nothing is swapped; inode numbers are 64-bit
            case ("ramfs", "mode", let v?):
                guard let m = UInt32(v, radix: 8) else { throw .EINVAL }
                o.mode = m & 0o7777
            case ("ramfs", _, _):
                break // ramfs has always ignored what it does not know
            case ("devpts", "newinstance", nil):
                break // every devpts mount is a new instance
            case ("devpts", "ptmxmode", let v?):
                guard let m = UInt32(v, radix: 8) else { throw .EINVAL }
                o.ptmxMode = m & 0o777
            case ("devpts", "mode", let v?):
                guard let m = UInt32(v, radix: 8) else { throw .EINVAL }
                o.ptsMode = m & 0o777
            case ("devpts", "gid", let v?):
                guard let g = UInt32(v), let k = group.userNS.kgid(g) else { throw .EINVAL }
                o.ptsGID = k
            case ("devpts", "max", let v?):
                guard UInt32(v) != nil else { throw .EINVAL } // the sandbox's own bound (4096) stays
            default:
                // nr_inodes=, huge=, mpol=, proc's hidepid= and the rest would be taken and not
                // done: refused.
                throw .EINVAL
            }
        }
        if let c = o.capacity, c > 0 { o.shown.insert("size=\(c / 1024)k", at: 0) }
        if type == "mqueue" {
            o.shown = []
        } else if type == "devpts" {
            func octal(_ v: UInt32) -> String { let s = String(v, radix: 8); return String(repeating: "0", count: max(0, 3 - s.count)) + s }
            o.shown = (o.ptsGID.map { ["gid=\($0)"] } ?? []) + ["mode=\(octal(o.ptsMode))", "ptmxmode=\(octal(o.ptmxMode))"]
        } else if type != "proc" {
            if o.mode != 0o1777 && !(type == "ramfs" && o.mode == 0o755) { o.shown.append("mode=\(String(o.mode, radix: 8))") }
            if o.uid != 0 { o.shown.append("uid=\(o.uid)") }
            if o.gid != 0 { o.shown.append("gid=\(o.gid)") }
        }
        return o
    }

    /// A new filesystem over the directory `target`.
    private func newMount(type: String?, source: String?, at target: Location, _ ns: MountNamespace,
                          flags mountFlags: MountFlags, data: String?) throws(LinuxErrno) -> UInt64 {
        guard let type else { throw .EINVAL }
        guard Kernel.filesystemTypes.contains(type) else {
            // Block devices, network filesystems, sysfs, cgroups: not offered in the sandbox.
            throw .ENODEV
        }
        let o = try parseOptions(type, data, readOnly: mountFlags.contains(.readOnly))
        guard target.inode.kind == .directory else { throw .ENOTDIR }
        let root = try makeFilesystem(type, o, data: data)
        try attach(Mount(id: kernel.allocateMountID(), root: root, type: type, source: source ?? "none",
                         flags: mountFlags, superOptions: o.shown.joined(separator: ",")), at: target, ns)
        return 0
    }

    /// A new filesystem of `type` with options `o` (parsed from `data`): its root, read-only
    /// as the options say. mount(2) and fsconfig's FSCONFIG_CMD_CREATE make them.
    func makeFilesystem(_ type: String, _ options: FilesystemOptions, data: String?) throws(LinuxErrno) -> Inode {
        var o = options
        // A /proc shows the mounter's pid namespace, an mqueue its IPC namespace: only for one
        // it has the capability in.
        if type == "proc" && !group.capable(CAP_SYS_ADMIN, in: pidNS.owner) { throw .EPERM }
        if type == "mqueue" && !group.capable(CAP_SYS_ADMIN, in: group.ipc.owner) { throw .EPERM }
        let root: Inode
        if type == "proc" {
            root = ProcFS.makeRoot(kernel: kernel, pidNS: pidNS) // the mounter's, as Linux's
        } else if type == "devpts" {
            root = kernel.makeDevPts(ptmxMode: o.ptmxMode, slaveMode: o.ptsMode, slaveGID: o.ptsGID).directory
        } else if type == "mqueue" {
            root = MqueueDirectory(namespace: group.ipc, fs: FileSystemID(dev: kernel.allocateAnonymousDevice(), name: "mqueue"))
        } else {
            if type == "ramfs" && data.map({ !$0.contains("mode=") }) ?? true { o.mode = 0o755 }
            let ctx = kernel.filesystem(dev: kernel.allocateAnonymousDevice(), name: type)
            ctx.id.capacity = o.capacity == 0 ? nil : o.capacity
            ctx.id.userNS = group.userNS
            let dir = DirectoryInode(context: ctx, mode: o.mode)
            dir.uid = o.uid; dir.gid = o.gid
            root = dir
        }
        root.fs.readOnly = o.readOnly
        return root
    }

    /// Places `m` at `target` in `ns`.
    func attach(_ m: Mount, at target: Location, _ ns: MountNamespace) throws(LinuxErrno) {
        // A target already deleted (a cwd that was rmdir'ed) cannot take a mount, nor a
        // symlink (reached through a magic link opened O_PATH|O_NOFOLLOW).
        if target.inode.nlink == 0 || target.inode.removed || target.inode.kind == .symlink { throw .ENOENT }
        // Linux's fs.mount-max: a guest cannot make the sentry hold mounts without bound.
        guard MountNamespace.liveMounts.load(ordering: .relaxed) < Kernel.mountMax else { throw .ENOSPC }
        ns.add(m, at: target)
    }

    /// MS_BIND: what `source` names, seen at `target` too; with MS_REC, with the mounts below it.
    private func bindMount(_ source: String?, at target: Location, _ ns: MountNamespace, recursive: Bool) throws(LinuxErrno) -> UInt64 {
        guard let source, !source.isEmpty else { throw .EINVAL }
        let from = try lookup(AT_FDCWD, ByteString(Array(source.utf8)), follow: true)
        guard let origin = from.mount else { throw .EINVAL }
        if case .unbindable = origin.propagation { throw .EINVAL }
        guard (from.inode.kind == .directory) == (target.inode.kind == .directory) else { throw .ENOTDIR }
        let (bind, copies) = try makeBind(of: from, ns, recursive: recursive)
        try attach(bind, at: target, ns)
        for (c, loc) in copies { ns.add(c, at: loc) }
        return 0
    }

    /// A bind mount of what `from` names, not mounted yet, with (`recursive`) copies of the
    /// mounts below it and where each goes once the bind is mounted (MS_BIND's clone_mnt and
    /// copy_tree; open_tree's OPEN_TREE_CLONE).
    func makeBind(of from: Location, _ ns: MountNamespace, recursive: Bool) throws(LinuxErrno) -> (Mount, [(Mount, Location)]) {
        guard let origin = from.mount else { throw .EINVAL }
        if case .unbindable = origin.propagation { throw .EINVAL }
        // The root of the new mount within its filesystem: the origin's root plus the names below it.
        let below = Mount.names(of: from, within: origin)
        var rootPath = origin.rootPath
        for name in below { rootPath += (rootPath.hasSuffix("/") ? "" : "/") + String(decoding: name.bytes, as: UTF8.self) }
        // Without MS_REC, not when that would uncover what a locked mount below hides.
        if !recursive && ns.descendants(of: origin).contains(where: { d in
            d.locked && (d.parent !== origin || d.mountpointNames.starts(with: below))
        }) { throw .EINVAL }
        let bind = Mount(id: kernel.allocateMountID(), root: from.inode, type: origin.type, source: origin.source,
                         rootPath: rootPath, flags: origin.flags, superOptions: origin.superOptions)
        bind.lockedFlags = origin.lockedFlags
        // A bind of a shared mount joins its peer group, of a slave receives from its master
        // (clone_mnt); of a private one is private.
        switch origin.propagation {
        case .shared, .slave: bind.propagation = origin.propagation
        default: break
        }
        // MS_REC: the mounts below the source come along (those under the bound directory).
        var copies: [(Mount, Location)] = []
        if recursive {
            var map: [ObjectIdentifier: (Mount, Location)] = [ObjectIdentifier(origin): (bind, from)]
            for d in ns.descendants(of: origin) {
                guard let p = d.parent, let (pc, pLoc) = map[ObjectIdentifier(p)] else { continue }
                // A child of the origin counts only if it is mounted under the bound directory.
                var names = d.mountpointNames
                if p === origin {
                    guard names.starts(with: below) else { continue }
                    names = Array(names.dropFirst(below.count))
                }
                if case .unbindable = d.propagation { continue }
                // Where it goes: the same names below the copy of its parent.
                var loc = Location(name: pLoc.name, parent: pLoc.parent, inode: pLoc.inode, mount: pc)
                for (i, n) in names.enumerated() {
                    let inode = i == names.count - 1 ? d.mountpoint : try? loc.inode.lookup(n)
                    guard let inode else { break }
                    loc = Location(name: n, parent: loc, inode: inode)
                }
                let c = d.copy(id: kernel.allocateMountID())
                copies.append((c, loc))
                map[ObjectIdentifier(d)] = (c, Location(name: loc.name, parent: loc.parent, inode: c.root, mount: c))
            }
        }
        guard MountNamespace.liveMounts.load(ordering: .relaxed) + copies.count < Kernel.mountMax else { throw .ENOSPC }
        return (bind, copies)
    }

    /// MS_REMOUNT: new flags for the mount and, unless `bind`, the filesystem's options
    /// (read-only, tmpfs's size; mode, uid and gid stay as they were, as on Linux).
    private func remount(_ target: Location, _ ns: MountNamespace, flags: UInt64, mountFlags: MountFlags, data: String?,
                         bind: Bool) throws(LinuxErrno) -> UInt64 {
        guard ns.isRoot(target), let m = target.mount else { throw .EINVAL }
        var newFlags = mountFlags
        // Atime flags not given stay as they were.
        if flags & (MountFlags.noATime.rawValue | MountFlags.noDirATime.rawValue | MountFlags.relATime.rawValue
                    | MountFlags.strictATime.rawValue) == 0 {
            newFlags.subtract(MountFlags.atime); newFlags.formUnion(m.flags.intersection(MountFlags.atime))
        }
        // Flags locked by a copy into this less privileged namespace stay.
        guard m.keepsLockedFlags(newFlags) else { throw .EPERM }
        var readOnly = newFlags.contains(.readOnly)
        if bind {
            // MS_BIND|MS_REMOUNT: this mount's own flags (read-only too), not the filesystem's;
            // going read-only with a file open for writing through it is EBUSY (mnt_make_readonly).
            if readOnly && !m.flags.contains(.readOnly) && kernel.hasWriters(through: m) { throw .EBUSY }
            m.flags = newFlags
            ns.touched()
            return 0
        }
        try reconfigureFilesystem(of: m, ns, readOnly: readOnly, data: data)
        m.flags = newFlags
        ns.touched()
        return 0
    }

    /// Reconfigures the filesystem `m` shows (reconfigure_super): read-only or not, and the
    /// options `data` gives (tmpfs's size; mode, uid and gid stay as they were, as on Linux).
    /// MS_REMOUNT's second half, and fspick's FSCONFIG_CMD_RECONFIGURE.
    func reconfigureFilesystem(of m: Mount, _ ns: MountNamespace, readOnly asked: Bool, data: String?) throws(LinuxErrno) {
        // The filesystem's own options: for its mounter's user namespace.
        guard group.capable(CAP_SYS_ADMIN, in: m.root.fs.userNS) else { throw .EPERM }
        var capacity: UInt64??
        let o = try parseOptions(m.root.fs.name, data, readOnly: asked)
        let readOnly = o.readOnly
        if let c = o.capacity {
            guard m.root.fs.name == "tmpfs" else { throw .EINVAL }
            // Not below what the files hold already.
            if c > 0 && c < m.root.fs.usedBytes.load(ordering: .relaxed) { throw .EINVAL }
            capacity = .some(c == 0 ? nil : c)
        }
        if readOnly != m.root.fs.readOnly {
            // A filesystem's read-only state (a remount without MS_BIND): changed only when no
            // other mount shows it (Joey keeps it once per filesystem; per mount, a bind remount
            // above sets the mount's own).
            guard !ns.sharesFilesystem(m) else { throw .EINVAL }
            if readOnly && kernel.hasWriters(on: m.root.fs) { throw .EBUSY }
        }
        m.root.fs.readOnly = readOnly
        if let capacity {
            m.root.fs.capacity = capacity
            m.superOptions = m.superOptions.split(separator: ",").filter { !$0.hasPrefix("size=") }.map(String.init)
                .joined(separator: ",")
            if let c = capacity { m.superOptions = "size=\(c / 1024)k" + (m.superOptions.isEmpty ? "" : "," + m.superOptions) }
        }
    }

    /// mount_setattr(2): flags and propagation of the mount whose root `path` names, and with
    /// AT_RECURSIVE of the mounts below it, each checked before any changes (fs/namespace.c's
    /// build_mount_kattr and do_mount_setattr). Idmapped mounts are not offered: EINVAL, as for
    /// a filesystem that cannot take them.
    func sysMountSetattr() throws(LinuxErrno) -> UInt64 {
        let atEmptyPath: UInt64 = 0x1000, atRecursive: UInt64 = 0x8000, atSymlinkNoFollow: UInt64 = 0x100, atNoAutomount: UInt64 = 0x800
        let flags = a2, size = a4
        guard flags & ~(atEmptyPath | atRecursive | atSymlinkNoFollow | atNoAutomount) == 0 else { throw .EINVAL }
        guard size <= 4096 else { throw .E2BIG }
        guard size >= 32 else { throw .EINVAL } // MOUNT_ATTR_SIZE_VER0
        let ns = fs.mounts
        guard group.capable(CAP_SYS_ADMIN, in: ns.owner) else { throw .EPERM }
        let raw = try mm.read(a3, count: Int(size))
        if raw.count > 32 && raw[32...].contains(where: { $0 != 0 }) { throw .E2BIG }
        let (set, clear, propagation) = raw.withUnsafeBytes {
            ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
             $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        }
        if set == 0 && clear == 0 && propagation == 0 { return 0 } // nothing to do: no lookup either
        guard [0, MS_SHARED, MS_PRIVATE, MS_SLAVE, MS_UNBINDABLE].contains(propagation) else { throw .EINVAL }
        // MOUNT_ATTR_*: RDONLY NOSUID NODEV NOEXEC, the _ATIME field, NODIRATIME, IDMAP, NOSYMFOLLOW.
        let atimeField: UInt64 = 0x70, valid: UInt64 = 0xf | atimeField | 0x80 | 0x10_0000 | 0x20_0000
        guard set & ~valid == 0, clear & ~valid == 0 else { throw .EINVAL }
        var setFlags = MountFlags(attributes: set), clearFlags = MountFlags(attributes: clear)
        // The atime field is a value, not bits: it changes only when cleared whole, to the
        // value set (relatime 0x0, noatime 0x10, strictatime 0x20).
        if clear & atimeField != 0 {
            guard clear & atimeField == atimeField else { throw .EINVAL }
            clearFlags.formUnion([.relATime, .noATime])
            switch set & atimeField {
            case 0x00: setFlags.insert(.relATime)
            case 0x10: setFlags.insert(.noATime)
            case 0x20: break
            default: throw .EINVAL
            }
        } else if set & atimeField != 0 {
            throw .EINVAL
        }
        if (set | clear) & 0x10_0000 != 0 { throw .EINVAL } // IDMAP
        let target = try lookup(fdArg(a0), try pathArg(a1), follow: flags & atSymlinkNoFollow == 0,
                                emptyPathAllowed: flags & atEmptyPath != 0)
        guard ns.isRoot(target), let m = target.mount else { throw .EINVAL }
        let all = [m] + (flags & atRecursive != 0 ? ns.descendants(of: m) : [])
        // Everything checked first (mount_setattr_prepare): a flag a copy into this namespace
        // locked stays (EPERM), a mount with a file open for writing through it does not go
        // read-only (EBUSY).
        for x in all {
            let new = x.flags.subtracting(clearFlags).union(setFlags)
            guard x.keepsLockedFlags(new) else { throw .EPERM }
            if new.contains(.readOnly) && !x.flags.contains(.readOnly) && kernel.hasWriters(through: x) { throw .EBUSY }
        }
        for x in all {
            x.flags = x.flags.subtracting(clearFlags).union(setFlags)
            if propagation != 0 { x.propagation = MountPropagation.changed(x.propagation, to: propagation, mount: x.id) }
        }
        ns.touched()
        return 0
    }

    /// MS_MOVE: the mount at `source` moves to `target`.
    private func moveMount(_ source: String?, to target: Location, _ ns: MountNamespace) throws(LinuxErrno) -> UInt64 {
        guard let source, !source.isEmpty else { throw .EINVAL }
        let from = try lookup(AT_FDCWD, ByteString(Array(source.utf8)), follow: true)
        try move(from, to: target, ns)
        return 0
    }

    /// MS_MOVE (do_move_mount of a mount in the namespace): the mount whose root `from` is goes
    /// to `target`.
    func move(_ from: Location, to target: Location, _ ns: MountNamespace) throws(LinuxErrno) {
        guard ns.isRoot(from), let m = from.mount, m !== ns.root, ns.mounts.contains(where: { $0 === m }), !m.locked else { throw .EINVAL }
        guard (m.root.kind == .directory) == (target.inode.kind == .directory) else { throw .ENOTDIR }
        if target.inode.kind == .symlink { throw .ENOENT }
        // Not below itself (do_move_mount: ELOOP).
        guard let destination = target.mount else { throw .EINVAL }
        if m.contains(destination) { throw .ELOOP }
        if case .shared = m.parent?.propagation { throw .EINVAL }
        ns.move(m, to: target)
    }

    func sysUmount2() throws(LinuxErrno) -> UInt64 {
        let flags = a1
        let path = try pathArg(a0)
        guard flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW) == 0 else { throw .EINVAL }
        let ns = fs.mounts
        guard group.capable(CAP_SYS_ADMIN, in: ns.owner) else { throw .EPERM }
        let target = try lookup(AT_FDCWD, path, follow: flags & UMOUNT_NOFOLLOW == 0)
        guard ns.isRoot(target), let reached = target.mount, ns.mounts.contains(where: { $0 === reached }) else { throw .EINVAL }
        try landlockMount() // security_sb_umount
        // The mount on top of what the path reached, as LOOKUP_MOUNTPOINT finds it: "." in a
        // directory something was mounted over since (pivot_root(".", ".") stacks the old
        // root on the cwd) names the mount on top.
        let m = ns.cover(target.inode, in: reached) ?? reached
        // A mount locked by a copy into this namespace goes only with what it is mounted on.
        if m.locked { throw .EINVAL }
        let busy = !ns.descendants(of: m).isEmpty || kernel.isBusy(m, ns)
        if flags & MNT_EXPIRE != 0 {
            if m === ns.root || flags & (MNT_FORCE | MNT_DETACH) != 0 { throw .EINVAL }
            if busy { throw .EBUSY }
            if !m.expiryMark { m.expiryMark = true; throw .EAGAIN }
        }
        // The namespace's root stays: lazily it is not a mount with a parent; otherwise busy.
        if m === ns.root { throw flags & MNT_DETACH != 0 ? .EINVAL : .EBUSY }
        if flags & MNT_DETACH == 0 && busy { throw .EBUSY }
        ns.remove(m)
        return 0
    }
}

extension GuestThread {
    /// pivot_root(2), with Linux's checks in its order: `new_root` (a mount point other than
    /// the root's mount, below the caller's root) becomes the root of the caller's mount
    /// namespace, and the old root is mounted at `put_old` (at or below new_root). Every
    /// process of the namespace whose root or working directory was the old root moves to
    /// the new one (chroot_fs_refs).
    func sysPivotRoot() throws(LinuxErrno) -> UInt64 {
        guard group.capable(CAP_SYS_ADMIN, in: fs.mounts.owner) else { throw .EPERM }
        let new = try lookup(AT_FDCWD, try pathArg(a0), follow: true)
        guard new.inode.kind == .directory else { throw .ENOTDIR }
        let old = try lookup(AT_FDCWD, try pathArg(a1), follow: true)
        guard old.inode.kind == .directory else { throw .ENOTDIR }
        try landlockMount() // security_sb_pivotroot
        let ns = fs.mounts, root = fs.root
        guard let newMount = new.mount, let rootMount = root.mount, let reached = old.mount else { throw .EINVAL }
        let oldMount = ns.cover(old.inode, in: reached) ?? reached // put_old's top mount (lock_mount)
        func shared(_ m: Mount?) -> Bool { if case .shared = m?.propagation { return true }; return false }
        if shared(oldMount) || shared(newMount.parent) || shared(rootMount.parent) { throw .EINVAL }
        guard ns.mounts.contains(where: { $0 === rootMount }), ns.mounts.contains(where: { $0 === newMount }) else { throw .EINVAL }
        if new.inode.removed { throw .ENOENT }
        if newMount === rootMount || oldMount === rootMount { throw .EBUSY }
        guard ns.isRoot(root), ns.isRoot(new), newMount.parent != nil,
              newMount.contains(oldMount), rootMount.contains(newMount) else { throw .EINVAL }
        ns.pivot(oldRoot: rootMount, newRoot: newMount, putOld: old)
        // The lock that kept what the old root covers hidden moves to the new root.
        if rootMount.locked { newMount.locked = true; rootMount.locked = false }
        let newRoot = Location(name: "", parent: nil, inode: newMount.root, mount: newMount)
        for g in kernel.threadGroups.values where g.fs.mounts === ns {
            if g.fs.root.inode === rootMount.root && g.fs.root.mount === rootMount { g.fs.root = newRoot }
            if g.fs.cwd.inode === rootMount.root && g.fs.cwd.mount === rootMount { g.fs.cwd = newRoot }
        }
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
            let (bytes, overflow) = (total / 100).multipliedReportingOverflow(by: percent)
            return overflow || bytes > UInt64.max - 4095 ? UInt64.max & ~4095 : (bytes + 4095) & ~4095
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
    /// The most mounts the sandbox's namespaces hold together (Linux's default fs.mount-max
    /// is per namespace).
    static let mountMax = 100_000
    /// The most mount namespaces alive at once (Linux's user.max_mnt_namespaces is larger).
    static let maxMountNamespaces = 1024

    /// A device number for a filesystem made in the sandbox (Linux's anonymous 0:N devices).
    func allocateAnonymousDevice() -> UInt64 {
        lastAnonymousDevice += 1
        let minor = lastAnonymousDevice
        return (minor & 0xff) | ((minor & 0xfff00) << 12) // major 0, in new_encode_dev's layout
    }

    /// Whether a process holds something inside `m`: an open file, a cwd or root, a mapped file.
    func isBusy(_ m: Mount, _ ns: MountNamespace) -> Bool {
        let ownFilesystem = !ns.sharesFilesystem(m)
        for g in threadGroups.values where g.exitStatus == nil && g.fs.mounts === ns {
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
    /// Whether a description open for writing was opened through mount `m`.
    func hasWriters(through m: Mount) -> Bool {
        for g in threadGroups.values where g.exitStatus == nil {
            for case let e? in g.fdTable.entries where e.file.location?.mount === m && e.file.flags & O_ACCMODE != O_RDONLY {
                return true
            }
        }
        return false
    }

    func hasWriters(on fs: FileSystemID) -> Bool {
        for g in threadGroups.values where g.exitStatus == nil {
            for case let e? in g.fdTable.entries where e.file.inode.fs === fs && e.file.flags & O_ACCMODE != O_RDONLY {
                return true
            }
        }
        return false
    }
}

extension GuestThread {
    /// ustat(2): the free blocks and inodes of the mounted filesystem whose device number is
    /// `dev` (an unsigned int, as stat's st_dev reads), from its statfs; EINVAL when no mount
    /// in the caller's namespace has it (Linux looks at every superblock; the sandbox shows
    /// only its own).
    func sysUstat() throws(LinuxErrno) -> UInt64 {
        let dev = UInt64(UInt32(truncatingIfNeeded: a0))
        guard let m = fs.mounts.mounts.first(where: { $0.root.fs.dev == dev }) else { throw .EINVAL }
        let s = kernel.statfs(m.root, flags: m.flags)
        var ustat = [UInt8](repeating: 0, count: 32) // f_fname and f_fpack stay empty
        ustat[0..<4] = s[24..<28]   // f_tfree: f_bfree, cut to an int (__kernel_daddr_t)
        ustat[8..<16] = s[48..<56]  // f_tinode: f_ffree
        try mm.write(a1, ustat)
        return 0
    }

    /// sysfs(2): the filesystem types mount(2) makes, in /proc/filesystems' order: 1 gives a
    /// name's index, 2 copies an index's name out, 3 counts them.
    func sysSysfs() throws(LinuxErrno) -> UInt64 {
        let types = Kernel.filesystemTypes
        switch a0 {
        case 1:
            let name = try mm.readCString(a1, max: 4096)
            guard let i = types.firstIndex(where: { Array($0.utf8) == name }) else { throw .EINVAL }
            return UInt64(i)
        case 2:
            guard a1 < UInt64(types.count) else { throw .EINVAL }
            try mm.write(a2, Array(types[Int(a1)].utf8) + [0])
            return 0
        case 3:
            return UInt64(types.count)
        default:
            throw .EINVAL
        }
    }
}

extension Kernel {
    /// What mount(2) makes a new filesystem of; /proc/filesystems and sysfs(2) list them.
    static let filesystemTypes = ["tmpfs", "ramfs", "proc", "devpts", "mqueue"]

    /// The bytes a filesystem of the sandbox's own holds: tmpfs's size=, or (without one)
    /// half the sandbox's memory, Linux's default; all of it for ramfs.
    func capacity(of fs: FileSystemID) -> UInt64 {
        if let c = fs.capacity { return c }
        var total: UInt64 = 0, hostFree: UInt64 = 0
        joey_meminfo(&total, &hostFree)
        let memory = memoryFile.limit.map { min($0, total) } ?? total
        return fs.name == "ramfs" ? memory : memory / 2
    }

    /// struct statfs for a file on `inode`'s filesystem. A filesystem over a host directory
    /// (the root's overlay, bind mounts) reports the host filesystem's space, as an overlay
    /// reports its upper directory's; a tmpfs reports the pages it holds against its size
    /// (half the memory, Linux's default, without one) and the sandbox's free memory. No
    /// tmpfs limits its inodes, so its inode counts are 0, as Linux's with nr_inodes=0.
    func statfs(_ inode: Inode, flags: MountFlags) -> [UInt8] {
        let fs = inode.fs
        var magic: Int64 = switch fs.name {
        case "tmpfs", "devtmpfs": 0x0102_1994
        case "ramfs": 0x8584_58f6
        case "proc": 0x9fa0
        case "devpts": 0x1cd1
        case "sysfs": 0x6265_6572
        case "mqueue": 0x1980_0202
        case "cgroup2": 0x6367_7270
        case "cgroup": 0x27_e0eb
        case "pipefs": 0x5049_5045
        case "sockfs": 0x534f_434b
        case "anon_inodefs": 0x0904_1934
        case "pidfs": 0x5049_4446
        default: 0x794c_7630 // overlay
        }
        var blocks: UInt64 = 0, free: UInt64 = 0, available: UInt64 = 0
        var files: UInt64 = 0, freeFiles: UInt64 = 0, nameMax: Int64 = 255
        let context = (inode as? DirectoryInode)?.context ?? (inode as? RegularFileInode)?.context
        var host = [UInt64](repeating: 0, count: 8)
        if let context, let tree = context.host, joey_fstatfs(tree.rootFD, &host) == 0 {
            blocks = host[0]; free = host[1]; available = host[2]
            files = host[3]; freeFiles = host[4]; nameMax = Int64(host[5])
            // A bind mount shows the host filesystem it is.
            if fs.name == "bind" { magic = Int64(bitPattern: host[6]) }
        } else if fs.name != "proc" && fs.name != "sysfs" && fs.name != "cgroup2" && fs.name != "cgroup" {
            var total: UInt64 = 0, hostFree: UInt64 = 0
            joey_meminfo(&total, &hostFree)
            let resident = memoryFile.residentBytes()
            let roomLeft = memoryFile.limit.map { $0 > resident ? $0 - resident : 0 } ?? hostFree
            let capacity = capacity(of: fs)
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
