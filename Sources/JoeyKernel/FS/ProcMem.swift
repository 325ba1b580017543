// /proc/PID/mem: a process's memory at the file's offset, read and written as a debugger
// does (Linux's mem_rw with FOLL_FORCE): protection is ignored, private memory is copied
// on write, and a read-only shared mapping refuses writes. Opening it needs what
// PTRACE_ATTACH needs; the address space is the one the process had then (as Linux keeps
// the opener's mm), and reads 0 bytes once it is gone. /proc/PID/pagemap, which says page
// by page what backs that memory, is opened alike. Kernel lock held.
import Glibc
import JoeyABI
import JoeyPlatform

/// /proc/PID/mem and /proc/PID/pagemap.
final class ProcAddressSpaceFile: Inode {
    enum View { case memory, pagemap }
    let group: ThreadGroup
    let view: View
    init(group: ThreadGroup, view: View, fs: FileSystemID) {
        self.group = group
        self.view = view
        super.init(kind: .regular, mode: view == .memory ? 0o600 : 0o400, fs: fs)
    }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        guard let t = kernel.current, t.group === group || t.mayAttach(group) else { throw .EACCES }
        switch view {
        case .memory: return ProcMemDescription(inode: self, flags: flags, mm: group.mm)
        case .pagemap: return ProcPagemapDescription(inode: self, flags: flags, mm: group.mm, memoryFile: kernel.memoryFile)
        }
    }
}

/// A view of an address space by file offset (/proc/PID/mem, pagemap): reads at the file
/// position, which seeks set anywhere. Holds the address space the process had when opened.
class ProcAddressSpaceDescription: FileDescription {
    weak var mm: MemoryManager?

    init(inode: Inode, flags: Int32, mm: MemoryManager) {
        self.mm = mm
        super.init(inode: inode, flags: flags)
    }

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        let n = try pread(t, &dst, at: offset)
        offset &+= UInt64(n)
        return n
    }

    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 {
        switch whence {
        case SEEK_SET: offset = UInt64(bitPattern: off)
        case SEEK_CUR: offset = offset &+ UInt64(bitPattern: off)
        default: throw .EINVAL
        }
        return offset
    }
}

final class ProcMemDescription: ProcAddressSpaceDescription {

    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        let n = try pwrite(t, &src, at: offset)
        offset &+= UInt64(n)
        return n
    }

    /// Page by page: what comes before a page that cannot be reached is returned; nothing
    /// at all is EIO.
    override func pread(_ t: GuestThread, _ dst: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int {
        guard let mm else { return 0 }
        let total = min(dst.count, 1 << 20)
        var done = 0
        while done < total {
            let address = at &+ UInt64(done)
            let chunk = min(total - done, 4096 - Int(address & 0xfff))
            guard let bytes = try? mm.read(address, count: chunk, force: true) else { break }
            let n = try bytes.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in try dst.copyOut(p) }
            done += n
            if n < chunk { break }
        }
        if done == 0 && total > 0 { throw .EIO }
        return done
    }

    override func pwrite(_ t: GuestThread, _ src: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int {
        guard let mm else { return 0 }
        let total = min(src.count, 1 << 20)
        var done = 0
        var page = [UInt8](repeating: 0, count: 4096)
        while done < total {
            let address = at &+ UInt64(done)
            let chunk = min(total - done, 4096 - Int(address & 0xfff))
            let got = try page.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in
                try src.copyIn(UnsafeMutableRawBufferPointer(rebasing: p[0..<chunk]))
            }
            do { try mm.write(address, Array(page[0..<got]), force: true) } catch { break }
            done += got
            if got < chunk { break }
        }
        if done == 0 && total > 0 { throw .EIO }
        return done
    }

    /// Any address is an offset (Linux's FMODE_UNSIGNED_OFFSET): SEEK_SET and SEEK_CUR only.
}

/// /proc/PID/pagemap: 8 bytes for each page of the address space, at (address / 4096) * 8,
/// as Linux's pagemap_read gives them: bit 63 present (memory backs the page: what mincore
/// sees), 61 a file's page (any page of a file mapping, even one written privately), 56
/// mapped by this process alone (private mappings), 55 soft-dirty (always, within a
/// mapping: Joey keeps no soft-dirty state, and a page never cleaned counts as dirty), and
/// a frame number of 0, as Linux shows readers without CAP_SYS_ADMIN (the host's frames are
/// not the guest's business). Opening needs what /proc/PID/mem needs.

final class ProcPagemapDescription: ProcAddressSpaceDescription {
    private let memoryFile: MemoryFile
    static let present: UInt64 = 1 << 63, filePage: UInt64 = 1 << 61, exclusive: UInt64 = 1 << 56, softDirty: UInt64 = 1 << 55

    init(inode: Inode, flags: Int32, mm: MemoryManager, memoryFile: MemoryFile) {
        self.memoryFile = memoryFile
        super.init(inode: inode, flags: flags, mm: mm)
    }

    /// Whole entries only (EINVAL otherwise, as Linux); at most 64 Ki entries a call.
    override func pread(_ t: GuestThread, _ dst: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int {
        guard at % 8 == 0, dst.count % 8 == 0 else { throw .EINVAL }
        guard let mm, dst.count > 0 else { return 0 }
        let userEnd: UInt64 = 1 << 47
        let first = at / 8
        guard first < userEnd >> 12 else { return 0 }
        let count = min(UInt64(dst.count / 8), 65536, (userEnd >> 12) - first)
        let start = first << 12, end = start + (count << 12)
        let resident = mm.residentPages(start, end, memoryFile: memoryFile)
        var entries = [UInt64](repeating: 0, count: Int(count))
        for v in mm.vmas where v.end > start && v.start < end {
            let flags = Self.softDirty | (v.shared ? 0 : Self.exclusive) | (v.file != nil || v.pages != nil ? Self.filePage : 0)
            var page = max(v.start, start)
            while page < min(v.end, end) {
                let i = Int((page - start) >> 12)
                entries[i] = resident[i] ? Self.present | flags : Self.softDirty
                page += 0x1000
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.count * 8)
        for e in entries { withUnsafeBytes(of: e.littleEndian) { bytes += $0 } }
        return try bytes.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in try dst.copyOut(p) }
    }
}
