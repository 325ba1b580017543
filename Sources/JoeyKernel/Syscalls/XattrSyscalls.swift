// Extended attributes, kept in memory on the inodes of the filesystems the sandbox holds
// (tmpfs, the overlay's upper layer, devtmpfs): the user, trusted and security namespaces,
// with Linux's permission rules (xattr_permission, commoncap's security.* check). Files
// written through to the host (bind mounts, --rootfs-writable) and the synthetic
// filesystems (proc, pipes, sockets) have none: EOPNOTSUPP. The host's own attributes of
// lower files are not shown.
import JoeyABI

private let XATTR_CREATE: UInt64 = 1, XATTR_REPLACE: UInt64 = 2
/// XATTR_SIZE_MAX and XATTR_LIST_MAX.
private let maxValue = 65536

extension Inode {
    /// Names and values one inode holds at most (ENOSPC past it), as a tmpfs inode's space.
    static let xattrSpace = 128 << 10
    /// What the sandbox's attributes hold at most together: they live in the sentry's heap.
    static let xattrBudget = 64 << 20
}

extension Inode {
    /// Whether the inode can hold extended attributes in the sandbox.
    var holdsXattrs: Bool {
        switch fs.name {
        case "tmpfs", "overlay", "devtmpfs":
            if let d = self as? DirectoryInode { return !(d.context.writeThrough && d.lowerPath != nil) }
            if let f = self as? RegularFileInode { return !(f.context.writeThrough && f.lowerPath != nil) }
            return true
        default:
            return false
        }
    }
}

extension GuestThread {
    /// The inode named by a path (follow or not) or an fd, per the xattr call variant.
    private func xattrTarget(_ nr: Int, base: Int) throws(LinuxErrno) -> Inode { try xattrLocation(nr, base: base).inode }

    /// The file and where it was reached (nil through a descriptor without a path).
    private func xattrLocation(_ nr: Int, base: Int) throws(LinuxErrno) -> (inode: Inode, at: Location?) {
        switch nr - base {
        case 0, 1:
            let loc = try lookup(AT_FDCWD, try pathArg(a0), follow: nr == base)
            return (loc.inode, loc)
        default:
            let f = try group.fdTable.get(fdArg(a0))
            return (f.inode, f.location)
        }
    }

    private func xattrName(_ addr: UInt64) throws(LinuxErrno) -> ByteString {
        let name: [UInt8]
        do { name = try mm.readCString(addr, max: 256) } catch .ENAMETOOLONG { throw .ERANGE }
        guard !name.isEmpty else { throw .ERANGE }
        return ByteString(name)
    }

    /// Linux's xattr_permission and the filesystem's namespace check, for reading
    /// (`write` false) or changing the attribute `name` of `inode`.
    private func xattrPermission(_ inode: Inode, _ name: ByteString, write: Bool) throws(LinuxErrno) {
        let s = name.bytes
        if write && (inode.isImmutable || inode.isAppendOnly) { throw .EPERM }
        func has(_ prefix: String) -> Bool { s.starts(with: Array(prefix.utf8)) }
        if has("security.") {
            // commoncap: changing security.* other than capabilities takes CAP_SYS_ADMIN;
            // security.capability takes CAP_SETFCAP.
            if write {
                let cap = s == Array("security.capability".utf8) ? 31 : 21
                guard group.capable(cap, over: inode) else { throw .EPERM }
            }
        } else if has("trusted.") {
            guard group.capable(21, in: .initial) else { throw write ? .EPERM : .ENODATA }
        } else if has("user.") {
            guard inode.kind == .regular || inode.kind == .directory else { throw write ? .EPERM : .ENODATA }
            if write && inode.kind == .directory && inode.mode & 0o1000 != 0
                && group.fsuid != inode.uid && !group.capable(3 /* CAP_FOWNER */, over: inode) { throw .EPERM }
            // A write already passed mnt_want_write (requireWritableMount) with its mount.
            try checkAccess(inode, read: !write, write: write, mount: nil)
        } else {
            // system.* (POSIX ACLs) and unknown prefixes: no handler.
            throw .EOPNOTSUPP
        }
        guard inode.holdsXattrs else { throw .EOPNOTSUPP }
    }

    func sysGetxattr(_ nr: Int) throws(LinuxErrno) -> UInt64 {
        let inode = try xattrTarget(nr, base: 191)
        let name = try xattrName(a1)
        try xattrPermission(inode, name, write: false)
        guard let value = inode.xattrs?[name] else { throw .ENODATA }
        let size = Int(min(a3, UInt64(maxValue)))
        if size == 0 { return UInt64(value.count) }
        guard value.count <= size else { throw .ERANGE }
        try mm.write(a2, value)
        return UInt64(value.count)
    }

    func sysListxattr(_ nr: Int) throws(LinuxErrno) -> UInt64 {
        let inode = try xattrTarget(nr, base: 194)
        var list: [UInt8] = []
        // trusted.* names are listed only to CAP_SYS_ADMIN.
        let privileged = group.capable(21, in: .initial)
        for name in (inode.xattrs ?? [:]).keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) })
        where privileged || !name.bytes.starts(with: Array("trusted.".utf8)) {
            list += name.bytes + [0]
        }
        let size = Int(min(a2, UInt64(maxValue)))
        if size == 0 { return UInt64(list.count) }
        guard list.count <= size else { throw .ERANGE }
        try mm.write(a1, list)
        return UInt64(list.count)
    }

    func sysSetxattr(_ nr: Int) throws(LinuxErrno) -> UInt64 {
        let (inode, loc) = try xattrLocation(nr, base: 188)
        let name = try xattrName(a1)
        let flags = a4
        guard flags & ~(XATTR_CREATE | XATTR_REPLACE) == 0 else { throw .EINVAL }
        guard a3 <= UInt64(maxValue) else { throw .E2BIG }
        let value = a3 == 0 ? [] : try mm.read(a2, count: Int(a3))
        try requireWritableMount(inode, loc?.mount)
        try xattrPermission(inode, name, write: true)
        let exists = inode.xattrs?[name] != nil
        if flags & XATTR_CREATE != 0 && exists { throw .EEXIST }
        if flags & XATTR_REPLACE != 0 && !exists { throw .ENODATA }
        let old = inode.xattrs?[name].map { name.count + $0.count } ?? 0
        let grows = name.count + value.count - old
        guard Inode.size(of: inode.xattrs) + grows <= Inode.xattrSpace,
              Inode.xattrBytes.load(ordering: .relaxed) + grows <= Inode.xattrBudget else { throw .ENOSPC }
        if inode.xattrs == nil { inode.xattrs = [:] }
        inode.xattrs![name] = value
        inode.ctime = Timespec.now()
        kernel.fsnotify(inode, at: loc, InotifyMask.attrib)
        return 0
    }

    func sysRemovexattr(_ nr: Int) throws(LinuxErrno) -> UInt64 {
        let (inode, loc) = try xattrLocation(nr, base: 197)
        let name = try xattrName(a1)
        try requireWritableMount(inode, loc?.mount)
        try xattrPermission(inode, name, write: true)
        guard inode.xattrs?.removeValue(forKey: name) != nil else { throw .ENODATA }
        inode.ctime = Timespec.now()
        kernel.fsnotify(inode, at: loc, InotifyMask.attrib)
        return 0
    }
}
