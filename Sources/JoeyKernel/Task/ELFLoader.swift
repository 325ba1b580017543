// The ELF loader: static and dynamic (PT_INTERP loaded from the sandbox's own filesystem),
// PIE and non-PIE, `#!` scripts, and the initial stack with argv, envp and auxv.
import CJoey
import Glibc
import JoeyABI
import JoeyPlatform

struct LoadedImage {
    var entry: UInt64
    var base: UInt64      // load bias
    var phdrAddress: UInt64
    var phnum: UInt64
    var end: UInt64       // highest mapped address (for brk)
    var interpreter: ByteString?
}

struct ELFLoader {
    /// The file's shared image of a range, filled with the kernel lock let go (the MM being
    /// built is this execve's own). Meanwhile another thread may have begun its own execve (the
    /// group's MM is that one's now, and this thread is marked to die) or exit_group: this
    /// execve goes no further.
    private func filledImage(of file: RegularFileInode, offset: UInt64, length: UInt64) throws(LinuxErrno) -> (block: MemoryBlock, offset: UInt64)? {
        let image = try file.privateImage(offset: offset, length: length)
        if thread.killed || thread.group.exiting { throw .EINTR }
        return image
    }

    let kernel: Kernel
    let mm: MemoryManager
    let thread: GuestThread

    static let etDynBase: UInt64 = 0x5555_5555_4000

    func readAt(_ file: FileDescription, _ offset: UInt64, _ count: Int) throws(LinuxErrno) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        let done = try buf.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in
            try file.readFully(thread, into: p, at: offset)
        }
        return Array(buf[0..<done])
    }

    /// Maps one ELF image. `isInterpreter` places ET_DYN images top-down like ld.so.
    func load(_ file: FileDescription, isInterpreter: Bool) throws(LinuxErrno) -> LoadedImage {
        let eh = try readAt(file, 0, 64)
        guard eh.count == 64, eh[0] == 0x7f, eh[1] == 0x45, eh[2] == 0x4c, eh[3] == 0x46 else { throw .ENOEXEC }
        guard eh[4] == 2, eh[5] == 1 else { throw .ENOEXEC } // ELFCLASS64, little endian
        func u16(_ b: [UInt8], _ o: Int) -> UInt64 { UInt64(b[o]) | UInt64(b[o + 1]) << 8 }
        func u32(_ b: [UInt8], _ o: Int) -> UInt64 { u16(b, o) | u16(b, o + 2) << 16 }
        func u64(_ b: [UInt8], _ o: Int) -> UInt64 { u32(b, o) | u32(b, o + 4) << 32 }
        let type = u16(eh, 16), machine = u16(eh, 18)
        guard machine == 62, type == 2 || type == 3 else { throw .ENOEXEC } // EM_X86_64; EXEC or DYN
        let entry = u64(eh, 24), phoff = u64(eh, 32), phentsize = u16(eh, 54), phnum = u16(eh, 56)
        guard phentsize == 56, phnum > 0, phnum <= 512 else { throw .ENOEXEC }
        let ph = try readAt(file, phoff, Int(phnum * 56))
        guard ph.count == Int(phnum * 56) else { throw .ENOEXEC }

        struct Segment { var vaddr, memsz, filesz, offset: UInt64; var flags: UInt64 }
        var segments: [Segment] = []
        var interp: ByteString?
        var phdrVaddr: UInt64?
        for i in 0..<Int(phnum) {
            let o = i * 56
            let pType = u32(ph, o)
            switch pType {
            case 1: // PT_LOAD
                let s = Segment(vaddr: u64(ph, o + 16), memsz: u64(ph, o + 40), filesz: u64(ph, o + 32),
                                offset: u64(ph, o + 8), flags: u32(ph, o + 4))
                guard s.filesz <= s.memsz, !s.vaddr.addingReportingOverflow(s.memsz).overflow,
                      s.offset <= UInt64(Int64.max) / 2, s.filesz <= UInt64(Int64.max) / 2,
                      (s.vaddr & 0xfff) == (s.offset & 0xfff) else { throw .ENOEXEC }
                segments.append(s)
            case 3: // PT_INTERP
                let off = u64(ph, o + 8), size = u64(ph, o + 32)
                guard size > 1, size < 4096 else { throw .ENOEXEC }
                var bytes = try readAt(file, off, Int(size))
                while bytes.last == 0 { bytes.removeLast() }
                interp = ByteString(bytes)
            case 6: // PT_PHDR
                phdrVaddr = u64(ph, o + 16)
            default:
                break
            }
        }
        guard !segments.isEmpty else { throw .ENOEXEC }
        let low = MemoryFile.roundDown(segments.map(\.vaddr).min()!)
        let high = MemoryFile.roundUp(segments.map { $0.vaddr + $0.memsz }.max()!)
        guard high > low, high - low < (1 << 40) else { throw .ENOEXEC }
        var bias: UInt64 = 0
        if type == 3 {
            if isInterpreter || interp == nil && low != 0 {
                guard let at = mm.findFree(length: high - low) else { throw .ENOMEM }
                bias = at &- low
            } else {
                guard low < ELFLoader.etDynBase else { throw .ENOEXEC }
                bias = ELFLoader.etDynBase - low
            }
        }
        // The bias may be "negative" (wrapping): check the placed range itself.
        let lowBiased = low &+ bias
        let (highBiased, o) = lowBiased.addingReportingOverflow(high - low)
        guard !o, lowBiased >= mm.mmapBottom, highBiased <= mm.stackTop else { throw .ENOMEM }
        guard entry &+ bias >= low &+ bias, entry &+ bias < highBiased else { throw .ENOEXEC }
        for s in segments {
            let start = MemoryFile.roundDown(s.vaddr &+ bias)
            let end = MemoryFile.roundUp(s.vaddr &+ s.memsz &+ bias)
            guard end > start else { continue }
            var prot = MemoryProtection()
            if s.flags & 4 != 0 { prot.insert(.read) }
            if s.flags & 2 != 0 { prot.insert(.write) }
            if s.flags & 1 != 0 { prot.insert(.exec) }
            // Like mmap of the file: the page-aligned file range, then zeroes past filesz.
            let fileStart = s.offset - ((s.vaddr &+ bias) - start)
            let fileBytes = (s.vaddr &+ bias - start) + s.filesz
            let filePages = min(end - start, MemoryFile.roundUp(fileBytes))
            // A host file's pages are its private-mapping image, shared copy-on-write as
            // ld.so's mmaps share it (one copy per sandbox, not one per execve: 33 MB for
            // each of gcc's cc1 runs); the rest, zeroes of their own.
            if fileBytes > 0, let regular = file.inode as? RegularFileInode,
               let image = try filledImage(of: regular, offset: fileStart, length: filePages) {
                var v = VMA(start: start, end: start + filePages, protection: prot, shared: false, block: image.block,
                            blockOffset: image.offset, name: file.path, fileOffset: fileStart,
                            inodeNumber: file.inode.ino, writeBack: nil)
                v.cow = true
                mm.share(image.block)
                mm.insert(v)
                if start + filePages < end {
                    let zeros = try MemoryBlock(file: kernel.memoryFile, length: end - start - filePages)
                    mm.insert(VMA(start: start + filePages, end: end, protection: prot, shared: false, block: zeros, blockOffset: 0,
                                  name: "", fileOffset: 0, inodeNumber: 0, writeBack: nil))
                }
                // The file's bytes past filesz in its last page are bss: zeroes (Linux's
                // padzero), in a copy of that page.
                let fileEnd = s.vaddr &+ bias &+ s.filesz
                if s.memsz > s.filesz, fileEnd < start + filePages {
                    _ = try mm.breakCopyOnWrite(at: fileEnd, chunk: MemoryFile.pageSize)
                    try mm.write(fileEnd, [UInt8](repeating: 0, count: Int(start + filePages - fileEnd)), force: true)
                }
                continue
            }
            let block = try MemoryBlock(file: kernel.memoryFile, length: end - start)
            if fileBytes > 0 {
                let dst = UnsafeMutableRawBufferPointer(start: kernel.memoryFile.pointer(block.offset), count: Int(fileBytes))
                _ = try file.readFully(thread, into: dst, at: fileStart)
            }
            mm.insert(VMA(start: start, end: end, protection: prot, shared: false, block: block, blockOffset: 0,
                          name: file.path, fileOffset: MemoryFile.roundDown(s.offset), inodeNumber: file.inode.ino,
                          writeBack: nil))
        }
        // The program headers' address: PT_PHDR, or inside the first segment that maps them.
        var phdr = phdrVaddr.map { $0 &+ bias } ?? 0
        if phdr == 0, let s = segments.first(where: { $0.offset <= phoff && phoff < $0.offset + $0.filesz }) {
            phdr = s.vaddr &+ (phoff - s.offset) &+ bias
        }
        return LoadedImage(entry: entry &+ bias, base: bias, phdrAddress: phdr, phnum: phnum,
                           end: high + bias, interpreter: interp)
    }
}

extension GuestThread {
    /// Opens an executable for exec: must be a regular file with an execute bit.
    func openExecutable(_ path: ByteString) throws(LinuxErrno) -> FileDescription {
        let loc = try kernel.resolve(path, from: fs.cwd, root: fs.root, mounts: fs.mounts, as: walker)
        try checkExecutable(loc.inode, at: loc)
        let f = try loc.inode.open(flags: O_RDONLY, kernel: kernel)
        f.named = loc
        f.location = loc
        return f
    }

    /// The file an fd holds, opened anew for exec (execveat with AT_EMPTY_PATH, fexecve): the
    /// same inode however it was renamed or unlinked since, or a memfd that has no name at
    /// all, with the checks an exec by path makes.
    func openExecutable(of given: FileDescription) throws(LinuxErrno) -> FileDescription {
        try checkExecutable(given.inode, at: given.location)
        let f = try given.inode.open(flags: O_RDONLY, kernel: kernel)
        f.path = given.path
        f.named = given.named
        f.location = given.location
        return f
    }

    /// do_open_execat's checks: a regular file, on a mount with exec, that the caller may
    /// execute (even root needs some x bit), that Landlock lets it execute, and that no one
    /// has open for writing (ETXTBSY).
    private func checkExecutable(_ inode: Inode, at loc: Location?) throws(LinuxErrno) {
        guard inode.kind == .regular else { throw .EACCES }
        if loc?.mount?.flags.contains(.noExec) == true { throw .EACCES }
        try checkAccess(inode, read: false, write: false, exec: true, mount: loc?.mount)
        // A file with no place in a tree (a memfd) is on an internal mount Landlock leaves alone.
        if let loc { _ = try landlockOpen(inode, at: loc, flags: O_RDONLY, exec: true) }
        if (inode as? RegularFileInode)?.openWriters ?? 0 > 0 { throw .ETXTBSY }
    }

    /// Loads a program into a fresh MM and sets the registers; the old image stays untouched
    /// until everything that can fail has succeeded. The caller installs the new MM.
    /// `given`: the open file execveat named by its fd alone; `path` is then "/dev/fd/N", the
    /// name Linux gives the program (AT_EXECFN, a script's interpreter argument).
    func prepareExec(path: ByteString, given: (file: FileDescription, closeOnExec: Bool)? = nil, argv: [[UInt8]],
                     envp: [[UInt8]], depth: Int = 0, commName: [UInt8]? = nil, unreadable: Bool = false) throws(LinuxErrno) {
        guard depth < 5 else { throw .ELOOP }
        let file = if let given { try openExecutable(of: given.file) } else { try openExecutable(path) }
        let loaderFile = file
        // comm is the name of the file exec'd (a script's, not its interpreter's); for an fd,
        // the name of its file (Linux 6.14 on), not "N" of /dev/fd/N.
        let comm = commName ?? (given.map { Self.entryName(of: $0.file) } ?? path.components.last?.bytes ?? [])
        // would_dump: a program the caller may not read leaves it undumpable, so its memory
        // cannot be read through ptrace or a core.
        var unreadable = unreadable || !mayRead(file)
        // `#!interpreter [arg]` scripts.
        let head = try ELFLoader(kernel: kernel, mm: mm, thread: self).readAt(file, 0, 256)
        if head.count >= 2 && head[0] == 0x23 && head[1] == 0x21 {
            var line = head.dropFirst(2).prefix { $0 != 0x0a }
            while let f = line.first, f == 0x20 || f == 0x09 { line = line.dropFirst() }
            while let l = line.last, l == 0x20 || l == 0x09 || l == 0x0d { line = line.dropLast() }
            guard !line.isEmpty else { throw .ENOEXEC }
            // A script run through a close-on-exec fd could not open itself as /dev/fd/N
            // once exec'd (BINPRM_FLAGS_PATH_INACCESSIBLE).
            if given?.closeOnExec == true { throw .ENOENT }
            let split = line.firstIndex { $0 == 0x20 || $0 == 0x09 }
            let interp = Array(line[..<(split ?? line.endIndex)])
            var newArgv = [interp]
            if let split {
                let arg = line[split...].drop { $0 == 0x20 || $0 == 0x09 }
                if !arg.isEmpty { newArgv.append(Array(arg)) }
            }
            newArgv.append(path.bytes)
            newArgv += argv.dropFirst()
            try prepareExec(path: ByteString(interp), argv: newArgv, envp: envp, depth: depth + 1,
                            commName: comm, unreadable: unreadable)
            return
        }
        let newMM = MemoryManager(memoryFile: kernel.memoryFile, addressSpaceEnd: kernel.platform.addressSpaceEnd)
        newMM.executable = loaderFile.inode as? RegularFileInode
        let loader = ELFLoader(kernel: kernel, mm: newMM, thread: self)
        let image = try loader.load(loaderFile, isInterpreter: false)
        var interpImage: LoadedImage?
        if let interpPath = image.interpreter {
            let interpFile: FileDescription
            do { interpFile = try openExecutableForInterp(interpPath) } catch { throw error == .ENOENT ? .ENOENT : error }
            interpImage = try loader.load(interpFile, isInterpreter: true)
            unreadable = unreadable || !mayRead(interpFile)
        }
        let ids = execIDs(for: loaderFile)
        // The program runs in the time namespace made for the caller's children, if there is
        // one (exec_task_namespaces): entered at the point of no return (sysExecve).
        let vdsoAddress = try kernel.vdso.map(into: newMM, timeNamespaced: group.timeNSForChildren !== kernel.initialTime)
        newMM.brkStart = MemoryFile.roundUp(image.end)
        newMM.brkEnd = newMM.brkStart

        // The stack.
        let stackSize: UInt64 = 8 << 20
        let stackBlock = try MemoryBlock(file: kernel.memoryFile, length: stackSize)
        newMM.insert(VMA(start: newMM.stackTop - stackSize, end: newMM.stackTop, protection: [.read, .write],
                         shared: false, block: stackBlock, blockOffset: 0, name: "[stack]", fileOffset: 0,
                         inodeNumber: 0, writeBack: nil, growsDown: true))
        var sp = newMM.stackTop
        func push(_ bytes: [UInt8]) throws(LinuxErrno) -> UInt64 {
            sp -= UInt64(bytes.count)
            try newMM.write(sp, bytes, force: true)
            return sp
        }
        let execfn = try push(path.bytes + [0])
        var envPtrs: [UInt64] = []
        for e in envp.reversed() { envPtrs.append(try push(e + [0])) }
        envPtrs.reverse()
        let envEnd = execfn
        var argPtrs: [UInt64] = []
        for a in argv.reversed() { argPtrs.append(try push(a + [0])) }
        argPtrs.reverse()
        let platformStr = try push(Array("x86_64".utf8) + [0])
        var random = [UInt8](repeating: 0, count: 16)
        _ = random.withUnsafeMutableBytes { joey_getrandom($0.baseAddress, 16) }
        let randomPtr = try push(random)
        sp &= ~15
        let auxv: [(UInt64, UInt64)] = [
            (33 /* AT_SYSINFO_EHDR */, vdsoAddress), (3, image.phdrAddress), (4, 56), (5, image.phnum), (6, 4096),
            (7, interpImage?.base ?? 0), (8, 0), (9, image.entry),
            (11, UInt64(group.userNS.shownUID(group.uid))), (12, UInt64(group.userNS.shownUID(ids.euid))),
            (13, UInt64(group.userNS.shownGID(group.gid))), (14, UInt64(group.userNS.shownGID(ids.egid))),
            (23 /* AT_SECURE */, ids.euid != group.uid || ids.egid != group.gid ? 1 : 0),
            (16, joey_getauxval(16)), (26, joey_getauxval(26)), (17, 100),
            (15, platformStr), (25, randomPtr), (31, execfn), (51, joey_getauxval(51)), (0, 0),
        ]
        var words: [UInt64] = [UInt64(argv.count)] + argPtrs + [0] + envPtrs + [0]
        for (k, v) in auxv { words += [k, v] }
        if (words.count % 2) != 0 { sp -= 8 }
        sp -= UInt64(words.count * 8)
        var raw = [UInt8]()
        raw.reserveCapacity(words.count * 8)
        for w in words { withUnsafeBytes(of: w) { raw += $0 } }
        try newMM.write(sp, raw, force: true)
        newMM.argStart = argPtrs.first ?? platformStr
        newMM.argEnd = argPtrs.isEmpty ? platformStr : (argPtrs.last! + UInt64(argv.last!.count) + 1)
        newMM.envStart = envPtrs.first ?? envEnd
        newMM.envEnd = envEnd
        newMM.auxv = auxv

        // Commit: nothing below can fail.
        // The old address space goes on as the new one's when nothing else runs in it (no
        // vfork parent shares the MM; de_thread ended this process's other threads): its stub
        // is emptied instead of a new one made and the old one killed.
        let oldMM = group.mm
        oldMM.writeBackSharedFiles()
        if !kernel.threadGroups.values.contains(where: { $0 !== group && $0.mm === oldMM }) {
            newMM.adoptSpace(from: oldMM)
        }
        group.mm = newMM
        group.exePath = file.path
        group.exeLocation = file.location ?? Location(name: file.path, parent: nil, inode: file.inode)
        // The new credentials (cap_bprm_creds_from_file): the saved and file-system ids follow
        // the effective ones, which a set-ID program set; then dumpability (setup_new_exec):
        // regained unless the ids differ or a program was unreadable.
        let old = group.dumpRelevantCredentials
        if ids.euid != group.euid || ids.egid != group.egid {
            group.personality &= ~0x0074_0000 // PER_CLEAR_ON_SETID
        }
        (group.euid, group.suid, group.fsuid) = (ids.euid, ids.euid, ids.euid)
        (group.egid, group.sgid, group.fsgid) = (ids.egid, ids.egid, ids.egid)
        group.credentialsChanged(from: old)
        group.dumpMode = unreadable || group.euid != group.uid || group.egid != group.gid ? kernel.tunables.suidDumpable : 1
        group.comm = String(String(decoding: comm.prefix(15), as: UTF8.self))
        group.cmdline = argv
        var r = context?.initialRegisters() ?? GuestRegisters()
        if context == nil { r.cs = regs.cs; r.ss = regs.ss }
        r.rip = interpImage?.entry ?? image.entry
        r.rsp = sp
        r.eflags = 0x202
        regs = r
        registersReplaced = true
    }

    /// The name of the directory entry an open file was reached through ("memfd:NAME" for a
    /// memfd), without the " (deleted)" its path shows once unlinked.
    private static func entryName(of f: FileDescription) -> [UInt8] {
        if let loc = f.location, loc.parent != nil { return loc.name.bytes }
        var last = f.path.components.last?.bytes ?? [] // a detached file names itself
        let deleted = ProcFS.deleted
        if last.count > deleted.count && last.suffix(deleted.count).elementsEqual(deleted) { last.removeLast(deleted.count) }
        return last
    }

    /// Whether the caller may read `file` (inode_permission MAY_READ).
    private func mayRead(_ file: FileDescription) -> Bool {
        (try? checkAccess(file.inode, read: true, write: false, mount: file.location?.mount)) != nil
    }

    /// The effective ids a program runs with (bprm_fill_uid): the file's owner for a
    /// set-user-ID file, its group for a set-group-ID one (group-executable), unless its
    /// mount is nosuid, no_new_privs is set, the owner or group has no number in the process's
    /// user namespace, the process shares its filesystem context with another, or a tracer
    /// without CAP_SYS_PTRACE over it traces it.
    private func execIDs(for file: FileDescription) -> (euid: UInt32, egid: UInt32) {
        let unchanged = (group.euid, group.egid)
        let inode = file.inode
        guard inode.mode & 0o4000 != 0 || inode.mode & 0o2010 == 0o2010 else { return unchanged }
        if file.location?.mount?.flags.contains(.noSUID) == true || group.noNewPrivs { return unchanged }
        guard group.userNS.maps(uid: inode.uid, gid: inode.gid) else { return unchanged }
        if kernel.threadGroups.values.contains(where: { $0 !== group && $0.fs === fs }) { return unchanged }
        if let tracer = ptrace?.tracer, !tracer.capable(Self.CAP_SYS_PTRACE, in: group.userNS) { return unchanged }
        return (inode.mode & 0o4000 != 0 ? inode.uid : group.euid, inode.mode & 0o2010 == 0o2010 ? inode.gid : group.egid)
    }

    private func openExecutableForInterp(_ path: ByteString) throws(LinuxErrno) -> FileDescription {
        let loc = try kernel.resolve(path, from: fs.root, root: fs.root, mounts: fs.mounts, as: walker)
        guard loc.inode.kind == .regular else { throw .ELIBBAD }
        if loc.mount?.flags.contains(.noExec) == true { throw .EACCES }
        try checkAccess(loc.inode, read: false, write: false, exec: true, mount: loc.mount)
        _ = try landlockOpen(loc.inode, at: loc, flags: O_RDONLY, exec: true)
        let f = try loc.inode.open(flags: O_RDONLY, kernel: kernel)
        f.named = loc
        return f
    }
}
