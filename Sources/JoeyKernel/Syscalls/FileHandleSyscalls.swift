// name_to_handle_at and open_by_handle_at (open_by_handle_at(2)), over VFS/FileHandles.swift,
// checked in Linux's order (fs/fhandle.c).
import Glibc
import JoeyABI

extension GuestThread {
    private static let AT_HANDLE_FID: UInt64 = 0x200, AT_HANDLE_MNT_ID_UNIQUE: UInt64 = 0x1
    private static let AT_HANDLE_CONNECTABLE: UInt64 = 0x2
    /// MAX_HANDLE_SZ.
    private static let maxHandleBytes: UInt32 = 128

    func sysNameToHandleAt() throws(LinuxErrno) -> UInt64 {
        let (dirfd, pathAt, handleAt, mountIDAt, flags) = (Int32(truncatingIfNeeded: a0), a1, a2, a3, a4)
        let known = UInt64(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) | Self.AT_HANDLE_FID | Self.AT_HANDLE_MNT_ID_UNIQUE
            | Self.AT_HANDLE_CONNECTABLE
        guard flags & ~known == 0 else { throw .EINVAL }
        if flags & Self.AT_HANDLE_FID != 0 && flags & Self.AT_HANDLE_CONNECTABLE != 0 { throw .EINVAL }
        let loc = try lookup(dirfd, try pathArg(pathAt), follow: flags & UInt64(AT_SYMLINK_FOLLOW) != 0,
                             emptyPathAllowed: flags & UInt64(AT_EMPTY_PATH) != 0)
        // A handle to open needs a filesystem that can decode one; an identifier does not.
        if flags & Self.AT_HANDLE_FID == 0 && !FileHandleTable.exportable(loc.inode.fs) { throw .EOPNOTSUPP }
        let room: UInt32 = try mm.readValue(handleAt)
        guard room <= Self.maxHandleBytes else { throw .EINVAL }
        // The handle's room in whole 32-bit words, as the encoder takes it.
        let fits = Int(room) / 4 * 4 >= FileHandleTable.size
        let bytes = fits ? kernel.fileHandles.encode(loc) : []
        let mountID = loc.mount?.id ?? 0
        do {
            if flags & Self.AT_HANDLE_MNT_ID_UNIQUE != 0 { try mm.writeValue(mountIDAt, UInt64(mountID)) }
            else { try mm.writeValue(mountIDAt, Int32(truncatingIfNeeded: mountID)) }
        } catch { throw .EFAULT }
        // struct file_handle: its size, its type (FILEID_INVALID when it did not fit), the bytes.
        var header: [UInt8] = []
        withUnsafeBytes(of: UInt32(FileHandleTable.size)) { header += $0 }
        withUnsafeBytes(of: fits ? FileHandleTable.type : Int32(255)) { header += $0 }
        try mm.write(handleAt, header + bytes)
        if !fits { throw .EOVERFLOW }
        return 0
    }

    func sysOpenByHandleAt() throws(LinuxErrno) -> UInt64 {
        let (mountFD, handleAt, flags) = (Int32(truncatingIfNeeded: a0), a1, Int32(truncatingIfNeeded: a2))
        guard group.capable(2 /* CAP_DAC_READ_SEARCH */, in: .initial) else { throw .EPERM }
        let size: UInt32 = try mm.readValue(handleAt)
        let type: Int32 = try mm.readValue(handleAt &+ 4)
        guard size > 0, size <= Self.maxHandleBytes else { throw .EINVAL }
        let bytes = try mm.read(handleAt &+ 8, count: Int(size))
        // The filesystem the handle is decoded on: the descriptor's, or the working directory's.
        let filesystem = mountFD == AT_FDCWD ? fs.cwd.inode.fs : try group.fdTable.get(mountFD).inode.fs
        guard let loc = kernel.fileHandles.decode(type, bytes, on: filesystem) else { throw .ESTALE }
        // O_CREAT, O_EXCL and O_TRUNC-less: a handle names a file that exists.
        return try openResolved(loc, flags: flags & ~(O_CREAT | O_EXCL), created: false)
    }
}
