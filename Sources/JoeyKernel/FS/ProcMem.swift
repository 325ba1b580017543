// /proc/PID/mem: a process's memory at the file's offset, read and written as a debugger
// does (Linux's mem_rw with FOLL_FORCE): protection is ignored, private memory is copied
// on write, and a read-only shared mapping refuses writes. Opening it needs what
// PTRACE_ATTACH needs; the address space is the one the process had then (as Linux keeps
// the opener's mm), and reads 0 bytes once it is gone. Kernel lock held.
import Glibc
import JoeyABI

final class ProcMemFile: Inode {
    let group: ThreadGroup
    init(group: ThreadGroup, fs: FileSystemID) {
        self.group = group
        super.init(kind: .regular, mode: 0o600, fs: fs)
    }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        guard let t = kernel.current, t.group === group || t.mayAttach(group) else { throw .EACCES }
        return ProcMemDescription(inode: self, flags: flags, mm: group.mm)
    }
}

final class ProcMemDescription: FileDescription {
    private weak var mm: MemoryManager?

    init(inode: Inode, flags: Int32, mm: MemoryManager) {
        self.mm = mm
        super.init(inode: inode, flags: flags)
    }

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        let n = try pread(t, &dst, at: offset)
        offset &+= UInt64(n)
        return n
    }

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
    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 {
        switch whence {
        case SEEK_SET: offset = UInt64(bitPattern: off)
        case SEEK_CUR: offset = offset &+ UInt64(bitPattern: off)
        default: throw .EINVAL
        }
        return offset
    }
}
