// MM bookkeeping without a platform: VMAs split, merge back, and find free space.
import JoeyABI
import JoeyPlatform
import Testing
@testable import JoeyKernel

@Suite("MemoryManager")
struct MemoryManagerTests {
    let file: MemoryFile
    init() throws { file = try MemoryFile(size: 1 << 30) }

    func anon(_ mm: MemoryManager, _ start: UInt64, _ len: UInt64) throws {
        let block = try MemoryBlock(file: file, length: len)
        mm.insert(VMA(start: start, end: start + len, protection: [.read, .write], shared: false, block: block,
                      blockOffset: 0, name: "", fileOffset: 0, inodeNumber: 0, writeBack: nil))
    }

    @Test("munmap in the middle splits a VMA in two")
    func split() throws {
        let mm = MemoryManager(memoryFile: file, addressSpaceEnd: 0x7fff_0000_0000)
        try anon(mm, 0x10000, 0x10000)
        let removed = mm.removeRange(0x14000, 0x18000)
        #expect(removed.count == 1)
        #expect(mm.vmas.map { [$0.start, $0.end] } == [[0x10000, 0x14000], [0x18000, 0x20000]])
        #expect(mm.vmas[1].blockOffset == 0x8000)
    }

    @Test("mprotect of part of a VMA changes only that part")
    func protect() throws {
        let mm = MemoryManager(memoryFile: file, addressSpaceEnd: 0x7fff_0000_0000)
        try anon(mm, 0x10000, 0x4000)
        try mm.changeProtection(0x11000, 0x12000, [.read])
        #expect(mm.vmas.map(\.protection) == [[.read, .write], [.read], [.read, .write]])
        #expect(throws: (any Error).self) { try mm.changeProtection(0x13000, 0x16000, [.read]) }
    }

    @Test("free space is found top-down below the mmap base")
    func findFree() throws {
        let mm = MemoryManager(memoryFile: file, addressSpaceEnd: 0x7fff_0000_0000)
        let a = try #require(mm.findFree(length: 0x2000))
        #expect(a + 0x2000 == mm.mmapTop)
        try anon(mm, a, 0x2000)
        let b = try #require(mm.findFree(length: 0x1000))
        #expect(b + 0x1000 == a)
        #expect(mm.findFree(length: 0x1000, hint: 0x40_0000) == 0x40_0000)
    }

    @Test("guest memory reads and writes honour protections")
    func access() throws {
        let mm = MemoryManager(memoryFile: file, addressSpaceEnd: 0x7fff_0000_0000)
        try anon(mm, 0x10000, 0x2000)
        try mm.write(0x10ffe, [1, 2, 3, 4])
        #expect(try mm.read(0x10ffe, count: 4) == [1, 2, 3, 4])
        #expect(throws: LinuxErrno.EFAULT) { _ = try mm.read(0x11ffe, count: 4) }
        try mm.changeProtection(0x10000, 0x11000, [.read])
        #expect(throws: LinuxErrno.EFAULT) { try mm.write(0x10000, [9]) }
    }

    @Test("fork copies private memory")
    func fork() throws {
        let mm = MemoryManager(memoryFile: file, addressSpaceEnd: 0x7fff_0000_0000)
        try anon(mm, 0x10000, 0x1000)
        try mm.write(0x10000, [7])
        let child = try mm.fork()
        try mm.write(0x10000, [8])
        #expect(try child.read(0x10000, count: 1) == [7])
    }
}
