// memfd_create(2): an anonymous tmpfs file whose data is in the page cache like any other
// sandbox file, with file seals (F_ADD_SEALS / F_GET_SEALS).
import Glibc
import JoeyABI

/// fcntl(2) file seals.
struct FileSeals: OptionSet {
    let rawValue: UInt32
    static let seal = FileSeals(rawValue: 0x1)          // F_SEAL_SEAL
    static let shrink = FileSeals(rawValue: 0x2)        // F_SEAL_SHRINK
    static let grow = FileSeals(rawValue: 0x4)          // F_SEAL_GROW
    static let write = FileSeals(rawValue: 0x8)         // F_SEAL_WRITE
    static let futureWrite = FileSeals(rawValue: 0x10)  // F_SEAL_FUTURE_WRITE
    static let exec = FileSeals(rawValue: 0x20)         // F_SEAL_EXEC
    static let all: FileSeals = [.seal, .shrink, .grow, .write, .futureWrite, .exec]
    /// Seals that forbid writing data.
    static let anyWrite: FileSeals = [.write, .futureWrite]
}

extension GuestThread {
    func sysMemfdCreate() throws(LinuxErrno) -> UInt64 {
        let cloexec: UInt64 = 0x1, allowSealing: UInt64 = 0x2, hugeTLB: UInt64 = 0x4
        let noExecSeal: UInt64 = 0x8, exec: UInt64 = 0x10
        let flags = a1
        guard flags & ~(cloexec | allowSealing | hugeTLB | noExecSeal | exec | (0x3f << 26)) == 0 else { throw .EINVAL }
        // Huge pages are not offered (as on a kernel without hugetlbfs pages).
        if flags & hugeTLB != 0 || flags & (0x3f << 26) != 0 { throw .EINVAL }
        if flags & noExecSeal != 0 && flags & exec != 0 { throw .EINVAL }
        // The name shows in /proc/self/fd as "/memfd:NAME (deleted)"; at most 249 bytes.
        let name: [UInt8]
        do { name = try mm.readCString(a0, max: 250) } catch let e where e == .ENAMETOOLONG { throw .EINVAL }
        let inode = RegularFileInode(context: kernel.memfdContext, mode: flags & noExecSeal != 0 ? 0o666 : 0o777)
        inode.uid = group.fsuid
        inode.gid = group.fsgid
        inode.nlink = 0
        var seals: FileSeals = flags & allowSealing != 0 ? [] : [.seal]
        if flags & noExecSeal != 0 { seals.formUnion([.exec]) }
        inode.seals = seals
        let d = try inode.open(flags: O_RDWR | 0o100000 /* O_LARGEFILE */, kernel: kernel)
        (d as? RegularFileDescription)?.uncounted = true
        d.path = "/memfd:" + ByteString(name) + " (deleted)"
        return UInt64(try group.fdTable.install(d, closeOnExec: flags & cloexec != 0))
    }

    /// F_ADD_SEALS: EPERM once F_SEAL_SEAL is set; only memfds can be sealed (EINVAL).
    func addSeals(_ f: FileDescription, _ raw: UInt64) throws(LinuxErrno) -> UInt64 {
        guard let inode = f.inode as? RegularFileInode, let current = inode.seals else { throw .EINVAL }
        guard raw & ~UInt64(FileSeals.all.rawValue) == 0 else { throw .EINVAL }
        guard f.writable else { throw .EPERM }
        if current.contains(.seal) { throw .EPERM }
        // mapping_deny_writable: no write seal while a shared mapping may write the file.
        if raw & UInt64(FileSeals.write.rawValue) != 0 && !current.contains(.write), let pages = inode.pages,
           kernel.hasWritableSharedMapping(of: pages) { throw .EBUSY }
        inode.seals = current.union(FileSeals(rawValue: UInt32(raw)))
        return 0
    }

    func getSeals(_ f: FileDescription) throws(LinuxErrno) -> UInt64 {
        guard let inode = f.inode as? RegularFileInode, let seals = inode.seals else { throw .EINVAL }
        return UInt64(seals.rawValue)
    }
}

extension Kernel {
    /// Whether some process maps `pages` MAP_SHARED with write allowed (VM_SHARED and
    /// VM_MAYWRITE: from an fd opened for writing, whatever its protection now). Looks at
    /// every address space: sealing is rare.
    func hasWritableSharedMapping(of pages: FilePages) -> Bool {
        var seen = Set<ObjectIdentifier>()
        for group in threadGroups.values where seen.insert(ObjectIdentifier(group.mm)).inserted {
            if group.mm.vmas.contains(where: { $0.shared && $0.mayWrite && $0.pages === pages }) { return true }
        }
        return false
    }
}
