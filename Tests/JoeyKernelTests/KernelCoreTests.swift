// The kernel core without a platform: IO sequences translated at copy time, the page cache,
// wait queues and wakeups, and shared fd tables.
import Glibc
import JoeyABI
import JoeyPlatform
import Testing
@testable import JoeyKernel

@Suite("IOSequence")
struct IOSequenceTests {
    let file: MemoryFile
    let mm: MemoryManager
    init() throws {
        file = try MemoryFile(size: 1 << 30)
        mm = MemoryManager(memoryFile: file, addressSpaceEnd: 0x7fff_0000_0000)
    }

    func map(_ start: UInt64, _ len: UInt64, _ prot: MemoryProtection = [.read, .write]) throws {
        let block = try MemoryBlock(file: file, length: len)
        mm.insert(VMA(start: start, end: start + len, protection: prot, shared: false, block: block,
                      blockOffset: 0, name: "", fileOffset: 0, inodeNumber: 0, writeBack: nil))
    }

    @Test("a copy spans VMAs and iovecs, and reads back what was written")
    func copyAcross() throws {
        try map(0x10000, 0x1000)
        try map(0x11000, 0x1000)
        var out = IOSequence.guest(mm, ranges: [GuestRange(address: 0x10ff0, length: 32), GuestRange(address: 0x11800, length: 8)])
        let data = [UInt8](0..<40)
        let n = try data.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in try out.copyOut(p) }
        #expect(n == 40 && out.count == 0)
        #expect(try mm.read(0x10ff0, count: 32) == Array(0..<32))
        #expect(try mm.read(0x11800, count: 8) == Array(32..<40))
    }

    @Test("memory unmapped after the sequence was made is EFAULT at copy time, not a stale pointer")
    func unmappedAtCopyTime() throws {
        try map(0x20000, 0x2000)
        var seq = IOSequence.guest(mm, address: 0x20000, length: 0x2000)
        _ = mm.removeRange(0x20000, 0x22000)
        try map(0x40000, 0x2000) // the freed MemoryFile range may be handed out again
        var buf = [UInt8](repeating: 0xA5, count: 0x2000)
        #expect(throws: LinuxErrno.EFAULT) {
            try buf.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in try seq.copyOut(p) }
        }
        #expect(try mm.read(0x40000, count: 16) == [UInt8](repeating: 0, count: 16))
        buf[0] = 0
    }

    @Test("a fault after some bytes gives a short count; a read-only page refuses a copy out")
    func partial() throws {
        try map(0x30000, 0x1000)
        try map(0x31000, 0x1000, [.read])
        var seq = IOSequence.guest(mm, address: 0x30f00, length: 0x200)
        let data = [UInt8](repeating: 7, count: 0x200)
        let n = try data.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in try seq.copyOut(p) }
        #expect(n == 0x100)
        var ro = IOSequence.guest(mm, address: 0x31000, length: 8)
        #expect(throws: LinuxErrno.EFAULT) { try ro.copyOut(value: UInt64(1)) }
    }
}

@Suite("FilePages")
struct FilePagesTests {
    let file: MemoryFile
    init() throws { file = try MemoryFile(size: 1 << 30) }

    func write(_ pages: FilePages, _ bytes: [UInt8], at offset: UInt64) throws -> Int {
        var b = bytes
        return try b.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in
            var src = IOSequence.sentry(p)
            return try pages.write(&src, at: offset)
        }
    }

    func read(_ pages: FilePages, _ count: Int, at offset: UInt64) throws -> [UInt8] {
        var b = [UInt8](repeating: 0xff, count: count)
        let n = try b.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in
            var dst = IOSequence.sentry(p)
            return try pages.read(&dst, at: offset)
        }
        return Array(b[0..<n])
    }

    @Test("writes across chunks read back; holes read as zeros; blocks count only written pages")
    func sparse() throws {
        let pages = FilePages(memoryFile: file, fs: nil)
        let far: UInt64 = 50 << 30
        #expect(try write(pages, [1, 2, 3], at: FilePages.chunkSize - 1) == 3)
        #expect(try write(pages, [9], at: far) == 1)
        #expect(pages.size == far + 1)
        #expect(try read(pages, 4, at: FilePages.chunkSize - 2) == [0, 1, 2, 3])
        #expect(try read(pages, 2, at: 1 << 30) == [0, 0])
        #expect(pages.blocks == 3 * 8) // three 4 KiB pages
        #expect(file.residentBytes() <= 4 * 4096 * 2)
    }

    @Test("truncate drops data past the new end: growing again reads zeros")
    func truncate() throws {
        let pages = FilePages(memoryFile: file, fs: nil)
        _ = try write(pages, [UInt8](repeating: 7, count: 100), at: 0)
        try pages.truncate(10, mapped: false)
        try pages.truncate(100, mapped: false)
        #expect(try read(pages, 12, at: 0) == [UInt8](repeating: 7, count: 10) + [0, 0])
        #expect(throws: LinuxErrno.EFBIG) { try pages.truncate(UInt64.max, mapped: false) }
    }

    @Test("a filesystem counts the pages written, within its size: a write past it is cut short, then ENOSPC")
    func sizeLimit() throws {
        let fs = FileSystemID(dev: 0x40, name: "tmpfs")
        fs.capacity = 3 * 4096
        let pages = FilePages(memoryFile: file, fs: fs)
        #expect(try write(pages, [UInt8](repeating: 1, count: 4096), at: 0) == 4096)
        #expect(fs.usedBytes.load(ordering: .relaxed) == 4096)
        // Rewriting a page costs nothing more; two new pages fit, the third does not.
        #expect(try write(pages, [UInt8](repeating: 2, count: 5 * 4096), at: 0) == 3 * 4096)
        #expect(throws: LinuxErrno.ENOSPC) { try write(pages, [3], at: 3 * 4096) }
        try pages.truncate(4096, mapped: false)
        #expect(fs.usedBytes.load(ordering: .relaxed) == 4096)
        try pages.truncate(0, mapped: false)
        #expect(fs.usedBytes.load(ordering: .relaxed) == 0)
    }

    @Test("the backing of an offset is the same MemoryFile memory read and write use")
    func sharedBacking() throws {
        let pages = FilePages(memoryFile: file, fs: nil)
        let (offset, length) = try pages.backing(5000)
        #expect(length == FilePages.chunkSize - 5000)
        file.pointer(offset).storeBytes(of: 0x42, as: UInt8.self)
        _ = try write(pages, [], at: 0)
        try pages.truncate(6000, mapped: true)
        #expect(try read(pages, 1, at: 5000) == [0x42])
    }
}

@Suite("WaitQueue")
struct WaitQueueTests {
    @Test("notify wakes only the waiters whose mask matches")
    func masks() {
        let q = WaitQueue()
        var seen: [String] = []
        let reader = Waiter(mask: .input) { _ in seen.append("reader"); return true }
        let writer = Waiter(mask: .output) { _ in seen.append("writer"); return true }
        q.add(reader)
        q.add(writer)
        q.notify(.readable)
        #expect(seen == ["reader"])
        q.notify([.writable, .hangUp])
        #expect(seen == ["reader", "writer"])
        q.remove(reader)
        q.notify(.readable)
        #expect(seen == ["reader", "writer"])
    }

    @Test("an event goes to every ordinary waiter and to exclusive ones until one takes it")
    func exclusive() {
        let q = WaitQueue()
        var seen: [String] = []
        var firstTakes = false
        let first = Waiter(mask: .input, exclusive: true) { _ in seen.append("first"); return firstTakes }
        let second = Waiter(mask: .input, exclusive: true) { _ in seen.append("second"); return true }
        let third = Waiter(mask: .input, exclusive: true) { _ in seen.append("third"); return true }
        let ordinary = Waiter(mask: .input) { _ in seen.append("ordinary"); return false }
        let writer = Waiter(mask: .output, exclusive: true) { _ in seen.append("writer"); return true }
        for w in [first, second, third, ordinary, writer] { q.add(w) }
        q.notify(.readable)
        #expect(seen == ["ordinary", "first", "second"])
        seen = []
        firstTakes = true
        q.notify(.readable)
        #expect(seen == ["ordinary", "first"])
        seen = []
        q.remove(first)
        q.notify([.readable, .writable])
        #expect(seen == ["ordinary", "second"])
    }

    @Test("a wakeup before the sleep is not lost; a sleep without one times out")
    func wakeup() {
        let lock = KernelLock()
        let w = Wakeup()
        lock.lock()
        w.wake()
        #expect(w.sleep(lock, deadline: monotonicNanos() + 1_000_000_000))
        #expect(!w.sleep(lock, deadline: monotonicNanos() + 1_000_000))
        lock.unlock()
    }
}

@Suite("FDTable")
struct FDTableTests {
    final class Counted: FileDescription {
        var released = 0
        override func release() { released += 1 }
    }

    @Test("a table shared by CLONE_FILES closes its files only when its last user goes")
    func sharedTable() throws {
        let fs = FileSystemID(dev: 1, name: "test")
        let f = Counted(inode: AnonymousInode(name: "x", fs: fs), flags: O_RDWR)
        let table = FDTable()
        let fd = try table.install(f)
        let shared = table.addUser()
        shared.removeUser()
        #expect(f.released == 0)
        #expect(try table.get(fd) === f)
        table.removeUser()
        #expect(f.released == 1)
    }

    @Test("a copy holds its own references")
    func copy() throws {
        let fs = FileSystemID(dev: 1, name: "test")
        let f = Counted(inode: AnonymousInode(name: "x", fs: fs), flags: O_RDWR)
        let table = FDTable()
        _ = try table.install(f)
        let forked = table.copy()
        table.removeUser()
        #expect(f.released == 0)
        forked.removeUser()
        #expect(f.released == 1)
    }
}

@Suite("KernelConfig")
struct KernelConfigTests {
    @Test("CRC-32 is gzip's (the check value of \"123456789\")")
    func crc() {
        #expect(KernelConfig.crc32(Array("123456789".utf8)) == 0xcbf4_3926)
        #expect(KernelConfig.crc32([]) == 0)
    }

    @Test("config.gz is one gzip member of stored blocks holding the text, with its CRC and size")
    func gzip() {
        let text = Array(KernelConfig.text.utf8)
        let gz = KernelConfig.gzip
        #expect(Array(gz.prefix(4)) == [0x1f, 0x8b, 8, 0])
        // Walk the stored blocks back into the text.
        var at = 10, out: [UInt8] = [], final = false
        while !final && at + 5 <= gz.count {
            final = gz[at] & 1 == 1
            #expect(gz[at] & 6 == 0)
            let n = Int(gz[at + 1]) | Int(gz[at + 2]) << 8
            #expect(Int(gz[at + 3]) | Int(gz[at + 4]) << 8 == ~n & 0xffff)
            out += gz[at + 5..<at + 5 + n]
            at += 5 + n
        }
        #expect(final && out == text)
        let trailer = Array(gz[at...])
        #expect(trailer.count == 8)
        let crc = UInt32(trailer[0]) | UInt32(trailer[1]) << 8 | UInt32(trailer[2]) << 16 | UInt32(trailer[3]) << 24
        #expect(crc == KernelConfig.crc32(text))
        #expect(Int(trailer[4]) | Int(trailer[5]) << 8 == text.count & 0xffff)
        #expect(KernelConfig.text.contains("CONFIG_IKCONFIG_PROC=y\n"))
    }
}

