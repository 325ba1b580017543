// Core dumps: a process killed by a signal whose default action dumps core writes an ELF core
// file named by kernel.core_pattern ("core" in its working directory unless the sandbox's root
// set another), when RLIMIT_CORE allows and the process is dumpable, as Linux's do_coredump
// and elf_core_dump do: notes (registers, process and signal information, auxv, the mapped
// files, FPU state), then the memory its coredump_filter keeps, less MADV_DONTDUMP ranges.
// A pattern that pipes the core to a program ("|...") is not run: no core is written, as
// on Linux when the helper cannot start. Threads running guest code when it happens are left
// out of the notes (their registers live in their stubs). Kernel lock held.
import Glibc
import JoeyABI
import JoeyPlatform

extension GuestThread {
    private static let NT_PRSTATUS: UInt32 = 1, NT_FPREGSET: UInt32 = 2, NT_PRPSINFO: UInt32 = 3, NT_AUXV: UInt32 = 6
    private static let NT_SIGINFO: UInt32 = 0x5349_4749, NT_FILE: UInt32 = 0x4649_4c45

    /// Writes the core file for death by `sig`; true when it was made, whole or cut short at
    /// RLIMIT_CORE (the status then has WCOREDUMP, as Linux's once elf_core_dump began).
    func dumpCore(_ sig: Int32, _ info: SignalInfo) -> Bool {
        let limit = self.limit(4).0
        // binfmt_elf's min_coredump: a limit below a page dumps nothing.
        guard limit >= 4096, group.dumpMode != 0 else { return false }
        // A pipe to a helper program: the sandbox runs none.
        guard !kernel.tunables.corePattern.hasPrefix("|") else { return false }
        // An ELF header counts at most 65535 program headers (one is the notes').
        let vmas = Array(mm.vmas.prefix(65534))
        var notes: [UInt8] = []
        // The dumping thread first, as Linux orders them; then the others whose registers
        // the sentry holds.
        let others = group.threads.filter { $0 !== self && !$0.inGuest }
        for (i, t) in ([self] + others).enumerated() {
            Self.note(&notes, Self.NT_PRSTATUS, t.prstatus(sig: sig))
            if i == 0 {
                Self.note(&notes, Self.NT_PRPSINFO, prpsinfo())
                var siginfo = [UInt8](repeating: 0, count: 128)
                siginfo.withUnsafeMutableBytes { info.store(as: sig, seenIn: group.userNS, into: $0) }
                Self.note(&notes, Self.NT_SIGINFO, siginfo)
                var auxv: [UInt8] = []
                for (k, v) in mm.auxv + [(0, 0)] { withUnsafeBytes(of: k) { auxv += $0 }; withUnsafeBytes(of: v) { auxv += $0 } }
                Self.note(&notes, Self.NT_AUXV, auxv)
                Self.note(&notes, Self.NT_FILE, Self.mappedFiles(vmas))
            }
            let fp = t.context?.floatingPointState() ?? []
            if fp.count >= 512 { Self.note(&notes, Self.NT_FPREGSET, Array(fp[0..<512])) }
        }
        // Layout: ELF header, program headers (the notes, then one per mapping), the notes,
        // then each mapping's dumped bytes at a page boundary.
        let headers = 64 + 56 * (1 + vmas.count)
        var offset = UInt64(MemoryFile.roundUp(UInt64(headers + notes.count)))
        var file = Self.elfHeader(programHeaders: 1 + vmas.count)
        file += Self.programHeader(type: 4, flags: 4, offset: UInt64(headers), vaddr: 0, fileSize: UInt64(notes.count), memSize: 0, align: 4)
        var dumped: [(VMA, UInt64)] = []
        for v in vmas {
            let size = Self.dumpSize(v, filter: group.coredumpFilter)
            let flags: UInt32 = (v.protection.contains(.read) ? 4 : 0) | (v.protection.contains(.write) ? 2 : 0) | (v.protection.contains(.exec) ? 1 : 0)
            file += Self.programHeader(type: 1, flags: flags, offset: offset, vaddr: v.start, fileSize: size, memSize: v.end - v.start, align: 4096)
            dumped.append((v, size))
            offset += size
        }
        file += notes
        file += [UInt8](repeating: 0, count: Int(MemoryFile.roundUp(UInt64(file.count))) - file.count)
        guard let out = try? openCoreFile(sig) else { return false }
        out.incRef()
        defer { out.decRef() } // closed as a file is: inotify hears it

        // Written at explicit positions: pages never touched are skipped, leaving holes (a
        // sparse file, as Linux's dump_skip), and the size set at the end. RLIMIT_CORE bounds
        // the bytes written, not the holes (Linux's __dump_emit counts `written`); past it
        // Linux stops, leaving a cut file, and still reports a core dumped (measured on 6.18:
        // a limit of 4096 leaves the headers and notes, WCOREDUMP set).
        var position: UInt64 = 0, written: UInt64 = 0
        func emit(_ bytes: [UInt8]) -> Bool {
            let room = limit > written ? limit - written : 0
            let fits = UInt64(bytes.count) <= room
            var chunk = fits ? bytes : Array(bytes[0..<Int(room)]) // room < bytes.count here
            let n = chunk.withUnsafeMutableBytes { p -> Int in
                var src = IOSequence.sentry(p)
                return (try? out.pwrite(self, &src, at: position)) ?? -1
            }
            guard n == chunk.count else { return false }
            position += UInt64(n)
            written += UInt64(n)
            return fits
        }
        guard emit(file) else { return written > 0 }
        for (v, size) in dumped where size > 0 {
            var at = v.start
            while at < v.start + size {
                let n = min(v.start + size - at, 1 << 20)
                // Pages never touched are holes; in a chunk that has some, page by page.
                let resident = v.block.map { $0.residentBytes(v.blockOffset + (at - v.start), length: n) }
                if resident == 0 {
                    position += n
                } else if let block = v.block, let r = resident, r < n {
                    var page = at
                    while page < at + n {
                        let m = min(at + n - page, 4096)
                        if block.residentBytes(v.blockOffset + (page - v.start), length: m) == 0 {
                            position += m
                        } else {
                            guard let bytes = try? mm.read(page, count: Int(m), force: true), emit(bytes) else { return written > 0 }
                        }
                        page += m
                    }
                } else {
                    guard let bytes = try? mm.read(at, count: Int(n), force: true), emit(bytes) else { return written > 0 }
                }
                at += n
            }
        }
        if let f = out.inode as? RegularFileInode, f.size < position { try? f.truncate(position) }
        return true
    }

    /// What `filter` (coredump_filter) keeps of a mapping, as Linux's vma_dump_size: the
    /// vDSO always; nothing marked MADV_DONTDUMP or never readable; shared memory by bit 1
    /// (anonymous, or a file with no name left: memfd, shmem) or bit 3 (a file's); private
    /// memory written to (anonymous, or a private file mapping that is writable) by bit 0;
    /// other private file mappings by bit 2, else their first page by bit 4 when mapped from
    /// the file's start (an ELF header, for debuggers).
    private static func dumpSize(_ v: VMA, filter: UInt32) -> UInt64 {
        let whole = v.end - v.start
        if v.special { return v.name == "[vdso]" ? whole : 0 }
        guard v.protection.contains(.read), !v.beyondEOF, !v.dontDump else { return 0 }
        // The sentry's syscall trap table is none of the program's memory.
        if v.name == SyscallPatches.tableName { return 0 }
        if v.shared {
            let unnamed = v.pages == nil || (v.file?.inode.nlink ?? 1) == 0
            return filter & (unnamed ? 0x2 : 0x8) != 0 ? whole : 0
        }
        // A file mapping: one with a description, or a segment the ELF loader mapped (it
        // keeps only the inode's number).
        let fileBacked = v.file != nil || v.inodeNumber != 0
        if (!fileBacked || v.protection.contains(.write)) && filter & 0x1 != 0 { return whole }
        guard fileBacked else { return 0 }
        if filter & 0x4 != 0 { return whole }
        return filter & 0x10 != 0 && v.fileOffset == 0 ? min(4096, whole) : 0
    }

    /// kernel.core_pattern with its % specifiers replaced (format_corename): %p/%P the
    /// process id (as the process sees it / the sandbox's), %i/%I the thread's, %u/%g the
    /// real ids, %s the signal, %t the time, %h the host name, %e the command and %E the
    /// program's path ('/' as '!'), %c RLIMIT_CORE, %d the dump mode, %% a percent; others
    /// are dropped. Without %p, kernel.core_uses_pid adds ".PID".
    private func coreName(_ sig: Int32) -> ByteString {
        var out: [UInt8] = []
        var pidInPattern = false
        let pattern = Array(kernel.tunables.corePattern.utf8)
        var i = 0
        func add(_ s: String) { out += Array(s.utf8) }
        while i < pattern.count {
            let c = pattern[i]
            i += 1
            guard c == UInt8(ascii: "%") else { out.append(c); continue }
            guard i < pattern.count else { break }
            let spec = pattern[i]
            i += 1
            switch spec {
            case UInt8(ascii: "%"): add("%")
            case UInt8(ascii: "p"): pidInPattern = true; add(String(vnr(group.pid)))
            case UInt8(ascii: "P"): add(String(group.pid))
            case UInt8(ascii: "i"): add(String(vnr(tid)))
            case UInt8(ascii: "I"): add(String(tid))
            case UInt8(ascii: "u"): add(String(group.userNS.shownUID(group.uid)))
            case UInt8(ascii: "g"): add(String(group.userNS.shownGID(group.gid)))
            case UInt8(ascii: "d"): add("1")
            case UInt8(ascii: "s"): add(String(sig))
            case UInt8(ascii: "t"): add(String(WallClock.realtimeNanos() / 1_000_000_000))
            case UInt8(ascii: "h"): add(group.uts.hostname)
            case UInt8(ascii: "e"): add(group.comm.replacingSlashes)
            case UInt8(ascii: "E"): add(String(decoding: group.exePath.bytes, as: UTF8.self).replacingSlashes)
            case UInt8(ascii: "c"): add(String(self.limit(4).0))
            default: break
            }
        }
        if !pidInPattern && kernel.tunables.coreUsesPID != 0 { add(".\(vnr(group.pid))") }
        return ByteString(out)
    }

    /// Linux's filp_open of the core: an existing file of that name is unlinked first, then
    /// a new one made exclusively, mode 0600 less the umask.
    private func openCoreFile(_ sig: Int32) throws(LinuxErrno) -> FileDescription {
        let coreName = coreName(sig)
        // Dumpable by root only (fs.suid_dumpable 2): to an absolute path the administrator
        // named, as root.
        let asRoot = group.dumpMode == 2
        if asRoot && !coreName.isAbsolute { throw .EPERM }
        let (parent, name) = try lookupParent(AT_FDCWD, coreName)
        if let existing = try? parent.inode.lookup(name) {
            guard existing.kind == .regular else { throw .EEXIST }
            if !asRoot { try mayDelete(existing, from: parent) }
            try parent.inode.remove(name)
            if existing.nlink > 0 { existing.nlink -= 1 }
        }
        if !asRoot { try mayCreate(in: parent) }
        let owner = asRoot ? (UInt32(0), UInt32(0)) : (group.fsuid, group.fsgid)
        let node = try parent.inode.create(name, kind: .regular, mode: 0o600 & ~fs.umask, uid: owner.0, gid: owner.1)
        let d = try node.open(flags: O_WRONLY, kernel: kernel)
        d.path = ByteString.join(parent.path, name)
        return d
    }

    /// struct elf_prstatus (336 bytes): the signal, pending and blocked signals, ids, times,
    /// and the registers as user_regs_struct.
    private func prstatus(sig: Int32) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 336)
        let cpu = context?.cpuTimeNanos() ?? 0
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: sig, toByteOffset: 0, as: Int32.self)
            p.storeBytes(of: Int16(truncatingIfNeeded: sig), toByteOffset: 12, as: Int16.self)
            p.storeBytes(of: pending | group.pendingShared, toByteOffset: 16, as: UInt64.self)
            p.storeBytes(of: signalMask, toByteOffset: 24, as: UInt64.self)
            p.storeBytes(of: vnr(tid), toByteOffset: 32, as: Int32.self)
            p.storeBytes(of: group.parent.map { vnr($0.pid) } ?? 0, toByteOffset: 36, as: Int32.self)
            p.storeBytes(of: vnr(group.pgid), toByteOffset: 40, as: Int32.self)
            p.storeBytes(of: vnr(group.sid), toByteOffset: 44, as: Int32.self)
            p.storeBytes(of: Int64(cpu / 1_000_000_000), toByteOffset: 48, as: Int64.self) // pr_utime
            p.storeBytes(of: Int64(cpu % 1_000_000_000 / 1000), toByteOffset: 56, as: Int64.self)
            withUnsafeBytes(of: regs) { r in
                p.baseAddress!.advanced(by: 112).copyMemory(from: r.baseAddress!, byteCount: min(r.count, 216))
            }
            p.storeBytes(of: Int32(1), toByteOffset: 328, as: Int32.self) // pr_fpvalid
        }
        return b
    }

    /// struct elf_prpsinfo (136 bytes): state, ids, the command's name and arguments.
    private func prpsinfo() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 136)
        let name = Array(group.comm.utf8.prefix(15))
        var args = Array(group.cmdline.map { $0 }.joined(separator: [32]).prefix(79))
        if args.isEmpty { args = name }
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: UInt8(ascii: "R"), toByteOffset: 1, as: UInt8.self) // pr_sname
            p.storeBytes(of: Int8(truncatingIfNeeded: group.nice), toByteOffset: 3, as: Int8.self)
            p.storeBytes(of: group.uid, toByteOffset: 16, as: UInt32.self)
            p.storeBytes(of: group.gid, toByteOffset: 20, as: UInt32.self)
            p.storeBytes(of: vnr(group.pid), toByteOffset: 24, as: Int32.self)
            p.storeBytes(of: group.parent.map { vnr($0.pid) } ?? 0, toByteOffset: 28, as: Int32.self)
            p.storeBytes(of: vnr(group.pgid), toByteOffset: 32, as: Int32.self)
            p.storeBytes(of: vnr(group.sid), toByteOffset: 36, as: Int32.self)
            for (i, c) in name.enumerated() { p.storeBytes(of: c, toByteOffset: 40 + i, as: UInt8.self) }
            for (i, c) in args.enumerated() { p.storeBytes(of: c, toByteOffset: 56 + i, as: UInt8.self) }
        }
        return b
    }

    /// NT_FILE: the count, the page size, each file mapping's start, end and offset in pages,
    /// then their paths.
    private static func mappedFiles(_ vmas: [VMA]) -> [UInt8] {
        let files = vmas.filter { $0.file != nil || $0.pages != nil }.filter { $0.name.isAbsolute }
        var b: [UInt8] = []
        func put(_ v: UInt64) { withUnsafeBytes(of: v) { b += $0 } }
        put(UInt64(files.count)); put(4096)
        for v in files { put(v.start); put(v.end); put(v.fileOffset / 4096) }
        for v in files { b += v.name.bytes + [0] }
        return b
    }

    private static func note(_ out: inout [UInt8], _ type: UInt32, _ desc: [UInt8]) {
        func put(_ v: UInt32) { withUnsafeBytes(of: v) { out += $0 } }
        put(5); put(UInt32(desc.count)); put(type)
        out += Array("CORE".utf8) + [0, 0, 0, 0] // "CORE\0" padded to 8
        out += desc + [UInt8](repeating: 0, count: (4 - desc.count % 4) % 4)
    }

    private static func elfHeader(programHeaders: Int) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 64)
        b.withUnsafeMutableBytes { p in
            for (i, c) in [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1].enumerated() { p.storeBytes(of: UInt8(c), toByteOffset: i, as: UInt8.self) }
            p.storeBytes(of: UInt16(4), toByteOffset: 16, as: UInt16.self)  // ET_CORE
            p.storeBytes(of: UInt16(62), toByteOffset: 18, as: UInt16.self) // EM_X86_64
            p.storeBytes(of: UInt32(1), toByteOffset: 20, as: UInt32.self)  // EV_CURRENT
            p.storeBytes(of: UInt64(64), toByteOffset: 32, as: UInt64.self) // e_phoff
            p.storeBytes(of: UInt16(64), toByteOffset: 52, as: UInt16.self) // e_ehsize
            p.storeBytes(of: UInt16(56), toByteOffset: 54, as: UInt16.self) // e_phentsize
            p.storeBytes(of: UInt16(truncatingIfNeeded: min(programHeaders, 0xffff)), toByteOffset: 56, as: UInt16.self)
            p.storeBytes(of: UInt16(64), toByteOffset: 58, as: UInt16.self) // e_shentsize
        }
        return b
    }

    private static func programHeader(type: UInt32, flags: UInt32, offset: UInt64, vaddr: UInt64, fileSize: UInt64,
                                      memSize: UInt64, align: UInt64) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 56)
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: type, toByteOffset: 0, as: UInt32.self)
            p.storeBytes(of: flags, toByteOffset: 4, as: UInt32.self)
            p.storeBytes(of: offset, toByteOffset: 8, as: UInt64.self)
            p.storeBytes(of: vaddr, toByteOffset: 16, as: UInt64.self)
            p.storeBytes(of: fileSize, toByteOffset: 32, as: UInt64.self)
            p.storeBytes(of: memSize, toByteOffset: 40, as: UInt64.self)
            p.storeBytes(of: align, toByteOffset: 48, as: UInt64.self)
        }
        return b
    }
}

private extension String {
    /// '/' as '!', as a core name's %e and %E show them.
    var replacingSlashes: String { String(map { $0 == "/" ? "!" : $0 }) }
}
