// VDSO: Joey's own vDSO, mapped into every guest at exec (AT_SYSINFO_EHDR), so that
// clock_gettime, gettimeofday, time, getcpu and clock_getres run in the guest without a system call, as
// they do on Linux. The host's vDSO is not the guest's: its data page is the host kernel's.
//
// One sandbox-wide MemoryFile block of two pages: [vvar] (joey_vdso_data, which the
// Timekeeper keeps current) and [vdso], a one-page ELF shared object built here around the
// code compiled into CJoey (vdso.c). Every process maps both, shared and never writable,
// so fork shares them and no guest can change what another one runs. The dynamic section,
// symbol versions (LINUX_2.6) and hash table are what glibc, musl and Go look up.
import CJoey
import JoeyABI
import JoeyPlatform

final class VDSO {
    static let pageSize = Int(MemoryFile.pageSize)
    /// [vvar] then [vdso].
    let block: MemoryBlock
    /// The data page, in the sentry's mapping of the MemoryFile.
    let data: UnsafeMutablePointer<joey_vdso_data>
    /// The [vvar] of processes in a time namespace other than the sandbox's: a page of zeros,
    /// never ready, so their vDSO makes the system call, which adds the namespace's offsets.
    let timeNamespacedData: MemoryBlock

    /// Exported names, each under its __vdso_ name (global) and its plain one (weak), as
    /// Linux's x86-64 vDSO exports them; the entry index is joey_vdso_entry's.
    private static let exports: [(name: String, entry: Int32)] = [
        ("clock_gettime", 0), ("gettimeofday", 1), ("time", 2), ("getcpu", 3), ("clock_getres", 4),
    ]

    init(memoryFile: MemoryFile) throws(LinuxErrno) {
        block = try MemoryBlock(file: memoryFile, length: UInt64(2 * VDSO.pageSize), committed: true)
        timeNamespacedData = try MemoryBlock(file: memoryFile, length: UInt64(VDSO.pageSize), committed: true)
        data = memoryFile.pointer(block.offset).bindMemory(to: joey_vdso_data.self, capacity: 1)
        let image = VDSO.buildImage()
        precondition(image.count <= VDSO.pageSize, "the vDSO image outgrew its page (\(image.count) bytes)")
        image.withUnsafeBytes { memoryFile.pointer(block.offset + MemoryFile.pageSize).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// Maps [vvar][vdso] into a fresh address space; returns the image's address for
    /// AT_SYSINFO_EHDR.
    func map(into mm: MemoryManager, timeNamespaced: Bool) throws(LinuxErrno) -> UInt64 {
        let length = UInt64(2 * VDSO.pageSize)
        guard let start = mm.findFree(length: length) else { throw .ENOMEM }
        let page = UInt64(VDSO.pageSize)
        mm.insert(vvar(at: start, timeNamespaced: timeNamespaced))
        var image = VMA(start: start + page, end: start + length, protection: [.read, .exec], shared: true, block: block,
                        blockOffset: page, name: "[vdso]", fileOffset: 0, inodeNumber: 0, writeBack: nil)
        image.mayWrite = false
        image.special = true
        mm.insert(image)
        return start + page
    }

    private func vvar(at start: UInt64, timeNamespaced: Bool) -> VMA {
        var v = VMA(start: start, end: start + UInt64(VDSO.pageSize), protection: [.read], shared: true,
                    block: timeNamespaced ? timeNamespacedData : block, blockOffset: 0, name: "[vvar]", fileOffset: 0,
                    inodeNumber: 0, writeBack: nil)
        v.mayWrite = false
        v.special = true
        return v
    }

    /// The process of `mm` moved into or out of the sandbox's time namespace: its [vvar] is
    /// the other page from now on (the vDSO finds it at the same address).
    func rejoin(_ mm: MemoryManager, timeNamespaced: Bool) {
        guard let v = mm.vmas.first(where: { $0.special && $0.name == "[vvar]" }) else { return }
        mm.insert(vvar(at: v.start, timeNamespaced: timeNamespaced))
    }

    /// Nanoseconds of `clock` as the guest's vDSO reads it now, or nil when the data page does
    /// not keep that clock (or is not calibrated yet).
    func now(_ clock: Int32) -> UInt64? {
        var ns: UInt64 = 0
        return joey_vdso_clock(data, clock, &ns) == 0 ? ns : nil
    }

    // MARK: the ELF image

    /// The System V ELF hash (DT_HASH, verdef hashes).
    static func elfHash(_ s: String) -> UInt32 {
        var h: UInt32 = 0
        for c in s.utf8 {
            h = (h << 4) &+ UInt32(c)
            let g = h & 0xf000_0000
            if g != 0 { h ^= g >> 24 }
            h &= ~g
        }
        return h
    }

    /// An ET_DYN object linked at 0, one PT_LOAD covering it all (read and execute) and a
    /// PT_DYNAMIC; section headers too, for debuggers and musl's st_shndx check.
    static func buildImage() -> [UInt8] {
        var codeLength: UInt64 = 0
        let codePointer = joey_vdso_code(&codeLength)!
        let code = Array(UnsafeBufferPointer(start: codePointer, count: Int(codeLength)))

        // Strings: soname, version, then every symbol name.
        var dynstr: [UInt8] = [0]
        func addString(_ s: String) -> UInt32 {
            let at = UInt32(dynstr.count)
            dynstr += Array(s.utf8) + [0]
            return at
        }
        let soname = "linux-vdso.so.1", version = "LINUX_2.6"
        let sonameAt = addString(soname), versionAt = addString(version)
        // Symbols: (name offset, binding, entry offset in the code).
        var symbols: [(name: UInt32, bind: UInt8, offset: UInt64)] = []
        for e in exports {
            let offset = joey_vdso_entry(e.entry)
            symbols.append((addString("__vdso_" + e.name), 1 /* STB_GLOBAL */, offset))
            symbols.append((addString(e.name), 2 /* STB_WEAK */, offset))
        }
        let entryOffsets = Set(symbols.map(\.offset)).sorted()
        func size(of offset: UInt64) -> UInt64 {
            (entryOffsets.first { $0 > offset } ?? codeLength) - offset
        }
        let shstrNames = ["", ".hash", ".dynsym", ".dynstr", ".gnu.version", ".gnu.version_d", ".dynamic", ".text", ".shstrtab"]
        var shstrtab: [UInt8] = []
        var shName: [UInt32] = []
        for n in shstrNames { shName.append(UInt32(shstrtab.count)); shstrtab += Array(n.utf8) + [0] }
        let textSection: UInt16 = 7

        // Layout.
        let symCount = symbols.count + 1
        func align(_ v: Int, _ a: Int) -> Int { (v + a - 1) & ~(a - 1) }
        let phOff = 64, phNum = 2
        let hashOff = phOff + phNum * 56
        let hashSize = 4 * (2 + 1 + symCount)
        let symOff = align(hashOff + hashSize, 8)
        let strOff = symOff + 24 * symCount
        let versymOff = align(strOff + dynstr.count, 2)
        let verdefOff = align(versymOff + 2 * symCount, 4)
        let verdefSize = 2 * 28
        let dynOff = align(verdefOff + verdefSize, 8)
        let dynamic: [(UInt64, UInt64)] = [
            (14 /* DT_SONAME */, UInt64(sonameAt)), (4 /* DT_HASH */, UInt64(hashOff)),
            (5 /* DT_STRTAB */, UInt64(strOff)), (6 /* DT_SYMTAB */, UInt64(symOff)),
            (10 /* DT_STRSZ */, UInt64(dynstr.count)), (11 /* DT_SYMENT */, 24),
            (0x6fff_fff0 /* DT_VERSYM */, UInt64(versymOff)), (0x6fff_fffc /* DT_VERDEF */, UInt64(verdefOff)),
            (0x6fff_fffd /* DT_VERDEFNUM */, 2), (0 /* DT_NULL */, 0),
        ]
        let dynSize = 16 * dynamic.count
        let textOff = align(dynOff + dynSize, 16)
        let shstrOff = textOff + code.count
        let shOff = align(shstrOff + shstrtab.count, 8)
        let total = shOff + 64 * shstrNames.count

        var b = [UInt8](repeating: 0, count: total)
        func put<T: FixedWidthInteger>(_ v: T, _ at: Int) {
            withUnsafeBytes(of: v.littleEndian) { for (i, x) in $0.enumerated() { b[at + i] = x } }
        }
        // ELF header.
        b.replaceSubrange(0..<8, with: [0x7f, 0x45, 0x4c, 0x46, 2 /* 64-bit */, 1 /* LSB */, 1 /* EV_CURRENT */, 0])
        put(UInt16(3 /* ET_DYN */), 16); put(UInt16(62 /* EM_X86_64 */), 18); put(UInt32(1), 20)
        put(UInt64(0), 24); put(UInt64(phOff), 32); put(UInt64(shOff), 40); put(UInt32(0), 48)
        put(UInt16(64), 52); put(UInt16(56), 54); put(UInt16(phNum), 56)
        put(UInt16(64), 58); put(UInt16(shstrNames.count), 60); put(UInt16(shstrNames.count - 1), 62)
        // Program headers: PT_LOAD, PT_DYNAMIC.
        func phdr(_ i: Int, type: UInt32, flags: UInt32, offset: Int, size: Int, align: UInt64) {
            let at = phOff + 56 * i
            put(type, at); put(flags, at + 4); put(UInt64(offset), at + 8); put(UInt64(offset), at + 16)
            put(UInt64(offset), at + 24); put(UInt64(size), at + 32); put(UInt64(size), at + 40); put(align, at + 48)
        }
        phdr(0, type: 1, flags: 5 /* R+X */, offset: 0, size: total, align: UInt64(pageSize))
        phdr(1, type: 2, flags: 4 /* R */, offset: dynOff, size: dynSize, align: 8)
        // DT_HASH with one bucket: every symbol on one chain.
        put(UInt32(1), hashOff); put(UInt32(symCount), hashOff + 4); put(UInt32(1), hashOff + 8)
        for i in 1..<symCount { put(UInt32(i + 1 < symCount ? i + 1 : 0), hashOff + 12 + 4 * i) }
        // Symbols (index 0 is the null symbol) and their versions (2: LINUX_2.6).
        for (i, s) in symbols.enumerated() {
            let at = symOff + 24 * (i + 1)
            put(s.name, at); b[at + 4] = (s.bind << 4) | 2 /* STT_FUNC */; b[at + 5] = 0
            put(textSection, at + 6); put(UInt64(textOff) + s.offset, at + 8); put(size(of: s.offset), at + 16)
            put(UInt16(2), versymOff + 2 * (i + 1))
        }
        b.replaceSubrange(strOff..<(strOff + dynstr.count), with: dynstr)
        // Version definitions: the object itself (base), then LINUX_2.6.
        func verdef(_ i: Int, flags: UInt16, index: UInt16, name: String, nameAt: UInt32, last: Bool) {
            let at = verdefOff + 28 * i
            put(UInt16(1), at); put(flags, at + 2); put(index, at + 4); put(UInt16(1), at + 6)
            put(elfHash(name), at + 8); put(UInt32(20), at + 12); put(UInt32(last ? 0 : 28), at + 16)
            put(nameAt, at + 20); put(UInt32(0), at + 24)
        }
        verdef(0, flags: 1 /* VER_FLG_BASE */, index: 1, name: soname, nameAt: sonameAt, last: false)
        verdef(1, flags: 0, index: 2, name: version, nameAt: versionAt, last: true)
        for (i, (tag, value)) in dynamic.enumerated() { put(tag, dynOff + 16 * i); put(value, dynOff + 16 * i + 8) }
        b.replaceSubrange(textOff..<(textOff + code.count), with: code)
        b.replaceSubrange(shstrOff..<(shstrOff + shstrtab.count), with: shstrtab)
        // Section headers: name, type, flags, addr, offset, size, link, info, align, entsize.
        let sections: [(UInt32, UInt64, Int, Int, UInt32, UInt32, UInt64, UInt64)] = [
            (0, 0, 0, 0, 0, 0, 0, 0),
            (5 /* SHT_HASH */, 2, hashOff, hashSize, 2, 0, 4, 4),
            (11 /* SHT_DYNSYM */, 2, symOff, 24 * symCount, 3, 1, 8, 24),
            (3 /* SHT_STRTAB */, 2, strOff, dynstr.count, 0, 0, 1, 0),
            (0x6fff_ffff /* SHT_GNU_versym */, 2, versymOff, 2 * symCount, 2, 0, 2, 2),
            (0x6fff_fffd /* SHT_GNU_verdef */, 2, verdefOff, verdefSize, 3, 2, 4, 0),
            (6 /* SHT_DYNAMIC */, 2, dynOff, dynSize, 3, 0, 8, 16),
            (1 /* SHT_PROGBITS */, 6 /* alloc+exec */, textOff, code.count, 0, 0, 16, 0),
            (3 /* SHT_STRTAB */, 0, shstrOff, shstrtab.count, 0, 0, 1, 0),
        ]
        for (i, s) in sections.enumerated() where i > 0 {
            let at = shOff + 64 * i
            put(shName[i], at); put(s.0, at + 4); put(s.1, at + 8)
            put(UInt64(s.1 & 2 != 0 ? s.2 : 0), at + 16); put(UInt64(s.2), at + 24); put(UInt64(s.3), at + 32)
            put(s.4, at + 40); put(s.5, at + 44); put(s.6, at + 48); put(s.7, at + 56)
        }
        return b
    }
}
