// Extended attributes. Sandbox filesystems store none (host xattrs such as security.* are
// not exposed), so reads find nothing and writes are refused as unsupported.
import JoeyABI

extension GuestThread {
    /// The inode named by a path (follow or not) or an fd, per the xattr call variant.
    private func xattrTarget(_ nr: Int, base: Int) throws(LinuxErrno) -> Inode {
        switch nr - base {
        case 0: return try lookup(AT_FDCWD, try pathArg(a0), follow: true).inode
        case 1: return try lookup(AT_FDCWD, try pathArg(a0), follow: false).inode
        default: return try group.fdTable.get(fdArg(a0)).inode
        }
    }

    private func xattrName(_ addr: UInt64) throws(LinuxErrno) -> String {
        let name = try mm.readCString(addr, max: 256)
        guard !name.isEmpty else { throw .ERANGE }
        return String(decoding: name, as: UTF8.self)
    }

    func sysGetxattr(_ nr: Int) throws(LinuxErrno) -> UInt64 {
        _ = try xattrTarget(nr, base: 191)
        _ = try xattrName(a1)
        throw .ENODATA
    }

    func sysListxattr(_ nr: Int) throws(LinuxErrno) -> UInt64 {
        _ = try xattrTarget(nr, base: 194)
        return 0
    }

    func sysSetxattr(_ nr: Int) throws(LinuxErrno) -> UInt64 {
        try requireWritableMount(try xattrTarget(nr, base: 188))
        _ = try xattrName(a1)
        guard a4 & ~UInt64(3) == 0 else { throw .EINVAL }
        throw .EOPNOTSUPP
    }

    func sysRemovexattr(_ nr: Int) throws(LinuxErrno) -> UInt64 {
        try requireWritableMount(try xattrTarget(nr, base: 197))
        _ = try xattrName(a1)
        throw .ENODATA
    }
}
