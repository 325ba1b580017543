// Memory system calls: mmap, munmap, mprotect, brk, mremap, madvise, msync, mincore.
// An MM change made while the platform address space was in sync is realized by ops of its
// own, handed to the platform before the thread runs again (its stub makes them with the
// kernel lock let go: MemoryManager.syncSpace); otherwise the whole lag is caught up then.
import Glibc
import JoeyABI
import JoeyPlatform

let MAP_SHARED_: UInt64 = 0x01, MAP_PRIVATE_: UInt64 = 0x02, MAP_SHARED_VALIDATE: UInt64 = 0x03
let MAP_FIXED_: UInt64 = 0x10, MAP_ANONYMOUS_: UInt64 = 0x20, MAP_FIXED_NOREPLACE_: UInt64 = 0x100000
let MAP_LOCKED_: UInt64 = 0x2000, MAP_POPULATE_: UInt64 = 0x8000, MAP_NONBLOCK_: UInt64 = 0x10000, MAP_GROWSDOWN_: UInt64 = 0x100

extension GuestThread {
    private func realize(_ body: (SpaceEdits) throws(LinuxErrno) -> Void) {
        guard pendingLiveSpace != nil else { return }
        let edits = SpaceEdits()
        do { try body(edits) } catch {
            kernel.debugLog("cannot work out how to realize a mapping change: \(error); resynchronizing")
            return
        }
        mm.addOps(edits.ops)
    }

    /// [start, start + length rounded up to pages), or nil when that overflows.
    private func pageRange(_ start: UInt64, _ length: UInt64) -> (UInt64, UInt64)? {
        guard length <= UInt64.max - 0xfff else { return nil }
        let len = (length + 0xfff) & ~0xfff
        let (end, o) = start.addingReportingOverflow(len)
        return o ? nil : (len, end)
    }

    private func protection(_ p: UInt64) throws(LinuxErrno) -> MemoryProtection {
        guard p & ~UInt64(0x7 | 0x0100_0000 | 0x0200_0000) == 0 else { throw .EINVAL }
        var r = MemoryProtection(rawValue: Int32(p & 7))
        // x86 cannot express write-only or exec-only pages: both imply read.
        if !r.isEmpty { r.insert(.read) }
        return r
    }

    /// `p` asks for access but not PROT_READ (read comes with it on x86).
    private func readImplied(_ p: UInt64) -> Bool { p & 1 == 0 && p & 6 != 0 }

    /// Begins an MM change: remembers whether the address space was in sync before it.
    private func beginChange() { pendingLiveSpace = mm.liveSpace }
    /// A change not realized by ops of its own (the space was behind, or working them out
    /// failed) is caught up now: the threads running in the space must not go on with
    /// mappings that no longer exist.
    private func endChange() {
        pendingLiveSpace = nil
        group.catchUpAddressSpace(keepingPending: true)
    }

    func sysMmap() throws(LinuxErrno) -> UInt64 {
        let addr = a0, flags = a3, off = a5
        // Linux's order: the offset's alignment, then the descriptor, then the length.
        guard off & 0xfff == 0 else { throw .EINVAL }
        let anonymous = flags & MAP_ANONYMOUS_ != 0
        let f = anonymous ? nil : try group.fdTable.get(fdArg(a4))
        guard a1 > 0 else { throw .EINVAL }
        let type = flags & 0x0f
        guard type == MAP_SHARED_ || type == MAP_PRIVATE_ || type == MAP_SHARED_VALIDATE else { throw .EINVAL }
        if type == MAP_SHARED_VALIDATE {
            // Only for files, and every flag must be one Linux knows (its LEGACY_MAP_MASK and
            // the huge page size bits; no file here offers MAP_SYNC).
            guard !anonymous else { throw .EINVAL }
            guard flags & ~Self.validatedMapFlags == 0 else { throw .EOPNOTSUPP }
        }
        try mm.checkRoomForMappings(limit: kernel.tunables.mapCountLimit)
        let prot = try protection(a2)
        let (lenRaw, o) = a1.addingReportingOverflow(0xfff)
        guard !o else { throw .ENOMEM }
        let len = lenRaw & ~0xfff
        if flags & MAP_LOCKED_ != 0 && !group.capable(GuestThread.CAP_IPC_LOCK, in: .initial) {
            // Locked memory counts against RLIMIT_MEMLOCK (Linux's mlock_future_ok: EAGAIN).
            let limit = self.limit(8).0
            if limit == 0 { throw .EPERM }
            if mm.lockedBytes() + len > limit { throw .EAGAIN }
        }
        let shared = type != MAP_PRIVATE_
        var file: FileDescription?
        // PROT_WRITE can be added later only where it could have been asked now (VM_MAYWRITE):
        // not on a shared mapping of a read-only descriptor or of a write-sealed memfd.
        var mayWrite = true
        if let f {
            guard f.readable else { throw .EACCES }
            // A file on a noexec mount is never mapped executable.
            if prot.contains(.exec) && f.location?.mount?.flags.contains(.noExec) == true { throw .EPERM }
            if shared && prot.contains(.write) && !f.writable { throw .EACCES }
            // No shared mapping through a writable descriptor of an append-only file (do_mmap).
            if shared && f.writable && f.inode.isAppendOnly { throw .EACCES }
            // A memfd sealed against writes cannot be mapped shared and writable.
            if shared && prot.contains(.write), let seals = (f.inode as? RegularFileInode)?.seals,
               !seals.isDisjoint(with: .anyWrite) { throw .EPERM }
            if shared && (!f.writable || (f.inode as? RegularFileInode)?.seals?.isDisjoint(with: .anyWrite) == false) {
                mayWrite = false
            }
            switch f.inode.kind {
            case .regular: file = f
            case .characterDevice where (f as? DeviceDescription)?.device == .zero: file = nil
            case .directory: throw .ENODEV
            default: throw .ENODEV
            }
            guard off.addingReportingOverflow(len).overflow == false else { throw .EOVERFLOW }
        }
        // MAP_GROWSDOWN: a private mapping that faults below its start grow down (growStack);
        // shared anonymous memory cannot grow (EINVAL).
        let growsDown = flags & MAP_GROWSDOWN_ != 0
        if growsDown && shared && anonymous { throw .EINVAL }
        let start = try mapMemory(file, address: addr, length: len, protection: prot, shared: shared, flags: flags, offset: off)
        let implied = readImplied(a2)
        let locked = flags & MAP_LOCKED_ != 0
        if implied || !mayWrite || locked || (growsDown && !shared) {
            mm.update(start, start + len) { v in
                v.readImplied = implied
                v.mayWrite = v.mayWrite && mayWrite
                v.locked = v.locked || locked
                v.growsDown = v.growsDown || (growsDown && !shared)
            }
        }
        // MAP_LOCKED and MAP_POPULATE fault the range in now (MAP_NONBLOCK: not).
        if (locked || flags & MAP_POPULATE_ != 0) && flags & MAP_NONBLOCK_ == 0 { populate(start, start + len) }
        return start
    }

    /// MAP_SHARED_VALIDATE's known flags: Linux's LEGACY_MAP_MASK (SHARED, PRIVATE, FIXED,
    /// ANONYMOUS, DENYWRITE, EXECUTABLE, UNINITIALIZED, GROWSDOWN, LOCKED, NORESERVE, POPULATE,
    /// NONBLOCK, STACK, HUGETLB) and the huge page size bits.
    private static let validatedMapFlags: UInt64 = 0x3 | 0x10 | 0x20 | 0x100 | 0x800 | 0x1000 | 0x2000 | 0x4000
        | 0x8000 | 0x10000 | 0x20000 | 0x40000 | 0x3f << 26

    /// Maps `length` bytes (page-rounded) of `file` from `offset`, or anonymous memory, at
    /// `addr` (MAP_FIXED / MAP_FIXED_NOREPLACE in `flags`) or where there is room; mmap and
    /// shmat share it.
    func mapMemory(_ file: FileDescription?, address addr: UInt64, length len: UInt64, protection prot: MemoryProtection,
                   shared: Bool, flags: UInt64, offset off: UInt64) throws(LinuxErrno) -> UInt64 {
        // A private mapping of a host file shares the file's image of that range, copy-on-write.
        // Made first: filling it lets the kernel lock go, and the address is chosen after.
        // A shared mapping of a host file maps its page cache: the file is copied up first,
        // for the same reason.
        var image: (block: MemoryBlock, offset: UInt64)?
        if let regular = file?.inode as? RegularFileInode {
            if !shared {
                // The part of the range the file holds (ld.so maps a library's whole span,
                // bss included, over the file first).
                let size = MemoryFile.roundUp(regular.size)
                if off < size { image = try regular.privateImage(offset: off, length: min(len, size - off)) }
            } else {
                try regular.copyUp(mayUnlock: true)
            }
            // Meanwhile another thread may have begun an execve (its new MM is the group's now,
            // and this thread is marked to die) or exit_group: map nothing.
            if killed || group.exiting { throw .EINTR }
        }
        let end = kernel.platform.addressSpaceEnd
        var start: UInt64
        if flags & (MAP_FIXED_ | MAP_FIXED_NOREPLACE_) != 0 {
            guard addr & 0xfff == 0 else { throw .EINVAL }
            guard addr >= 0x1000, addr.addingReportingOverflow(len).overflow == false,
                  addr + len <= kernel.platform.addressSpaceEnd else { throw .ENOMEM }
            if flags & MAP_FIXED_ == 0 && !mm.isFree(addr, addr + len) { throw .EEXIST }
            if mm.anySealed(addr, addr + len) { throw .EPERM } // a sealed mapping is not replaced
            start = addr
        } else {
            let hint = addr & ~0xfff
            let hintFits = !hint.addingReportingOverflow(len).overflow && hint + len <= end
            guard let s = mm.findFree(length: len, hint: hintFits ? hint : 0) else { throw .ENOMEM }
            start = s
        }
        // A MAP_SHARED mapping of a file maps its page cache (a write-through host file's
        // host cache): coherent with read/write and with every other mapping. A private
        // mapping gets its own block holding a copy of the file, or shares an image of it.
        var pages: FilePages?
        if shared, let regular = file?.inode as? RegularFileInode { pages = try regular.pagesForSharedMapping() }
        var block: MemoryBlock? = image?.block
        if pages == nil && block == nil { block = try MemoryBlock(file: kernel.memoryFile, length: len) }
        // Pages wholly past the end of the file are not backed: touching them is SIGBUS.
        var backed = len
        if let file {
            let size = file.inode.size
            backed = off >= size ? 0 : min(len, MemoryFile.roundUp(size - off))
            if let block, image == nil, off < size { try copyFile(file, at: off, count: min(len, size - off), to: block.offset) }
        }
        let writesThrough = (file?.inode as? RegularFileInode)?.writesThrough == true
        let writeBack = (shared && writesThrough && file?.writable == true) ? file : nil
        beginChange(); defer { endChange() }
        let removed = mm.removeRange(start, start + len)
        flushAndRelease(removed)
        var whole = VMA(start: start, end: start + len, protection: prot, shared: shared && (file == nil || pages != nil),
                        block: block, blockOffset: image?.offset ?? 0, name: file?.path ?? (shared ? "/dev/zero (deleted)" : ""),
                        fileOffset: file == nil ? 0 : off, inodeNumber: file?.inode.ino ?? 0, writeBack: writeBack, pages: pages)
        whole.file = file
        whole.mayWrite = !shared || file?.writable != false
        if let image {
            whole.cow = true
            mm.share(image.block)
        }
        var head = whole
        head.end = start + backed
        if backed > 0 { mm.insert(head) }
        if backed < len {
            var tail = whole
            tail.start = start + backed
            tail.blockOffset = whole.blockOffset + backed
            // A file's image ends with the file: the tail (never realized) gets memory of its own.
            if image != nil {
                tail.block = try MemoryBlock(file: kernel.memoryFile, length: len - backed)
                tail.blockOffset = 0
            }
            tail.fileOffset = whole.fileOffset + backed
            tail.beyondEOF = true
            mm.insert(tail)
        }
        let memory = mm
        realize { space throws(LinuxErrno) in
            if backed < len { space.unmap(start + backed, length: len - backed) }
            if backed > 0 { try memory.realize(head, from: start, to: start + backed, in: space) }
        }
        return start
    }

    /// A fault at unmapped `address` just below a MAP_GROWSDOWN mapping: the mapping grows
    /// down over it (within RLIMIT_STACK and the guard gap), and the access is retried. False
    /// when it may not grow: the fault is the guest's.
    func growStack(to address: UInt64) -> Bool {
        guard var v = mm.stackGrowth(to: address, limit: limit(3).0) else { return false }
        guard let block = try? MemoryBlock(file: kernel.memoryFile, length: v.end - v.start) else { return false }
        v.block = block
        beginChange(); defer { endChange() }
        mm.insert(v)
        let memory = mm
        realize { space throws(LinuxErrno) in try memory.realize(v, from: v.start, to: v.end, in: space) }
        return true
    }

    /// Fills zeroed private memory at MemoryFile offset `destination` with the file's bytes
    /// from `offset` (a private file mapping, at mmap and after MADV_DONTNEED). A file in the
    /// page cache is copied chunk by chunk, its holes left as holes.
    private func copyFile(_ file: FileDescription, at offset: UInt64, count: UInt64, to destination: UInt64) throws(LinuxErrno) {
        if let cache = (file.inode as? RegularFileInode)?.cachedPages {
            try cache.copy(at: offset, count: count, toMemoryFile: destination)
        } else {
            let dst = UnsafeMutableRawBufferPointer(start: kernel.memoryFile.pointer(destination), count: Int(count))
            _ = try file.readFully(self, into: dst, at: offset)
        }
    }

    /// Writes back MAP_SHARED pieces of write-through files and releases private pages that
    /// left the MM. A failed write-back is not reported (munmap has no errno for it).
    private func flushAndRelease(_ pieces: [VMA]) {
        for p in pieces { try? MemoryManager.writeBack(p, from: p.start, to: p.end) }
        mm.release(pieces)
    }

    func sysMunmap() throws(LinuxErrno) -> UInt64 {
        try unmapRange(a0, a1)
        return 0
    }

    /// munmap's work (shmdt's too): page-aligned start, length rounded up to pages.
    func unmapRange(_ start: UInt64, _ length: UInt64) throws(LinuxErrno) {
        guard start & 0xfff == 0, length > 0, let (len, end) = pageRange(start, length), end <= kernel.platform.addressSpaceEnd else { throw .EINVAL }
        if mm.anySealed(start, end) { throw .EPERM }
        try mm.checkRoomForUnmap(start, start + len, limit: kernel.tunables.mapCountLimit)
        beginChange(); defer { endChange() }
        let removed = mm.removeRange(start, start + len)
        flushAndRelease(removed)
        realize { space throws(LinuxErrno) in space.unmap(start, length: len) }
    }

    func sysMprotect() throws(LinuxErrno) -> UInt64 {
        guard a0 & 0xfff == 0 else { throw .EINVAL }
        let prot = try protection(a2)
        guard let (len, _) = pageRange(a0, a1) else { throw .ENOMEM }
        if len == 0 { return 0 }
        if mm.anySealed(a0, a0 + len) { throw .EPERM }
        try mm.checkRoomForMappings(limit: kernel.tunables.mapCountLimit)
        beginChange(); defer { endChange() }
        try mm.changeProtection(a0, a0 + len, prot, readImplied: readImplied(a2))
        // Copy-on-write pieces stay without write permission until written.
        let pieces = mm.realizedPieces(a0, a0 + len)
        realize { space throws(LinuxErrno) in
            for p in pieces { space.protect(p.start, length: p.end - p.start, protection: p.protection) }
        }
        return 0
    }

    func sysBrk() throws(LinuxErrno) -> UInt64 {
        let want = a0
        if want < mm.brkStart || want > mm.mmapTop { return mm.brkEnd }
        let oldTop = MemoryFile.roundUp(mm.brkEnd)
        let newTop = MemoryFile.roundUp(want)
        guard newTop <= mm.mmapTop else { return mm.brkEnd }
        beginChange(); defer { endChange() }
        if newTop > oldTop {
            guard mm.isFree(oldTop, newTop), (try? mm.checkRoomForMappings(limit: kernel.tunables.mapCountLimit)) != nil, let block = try? MemoryBlock(file: kernel.memoryFile, length: newTop - oldTop)
            else { return mm.brkEnd }
            mm.insert(VMA(start: oldTop, end: newTop, protection: [.read, .write], shared: false, block: block,
                          blockOffset: 0, name: "[heap]", fileOffset: 0, inodeNumber: 0, writeBack: nil))
            realize { space throws(LinuxErrno) in
                space.map(oldTop, length: newTop - oldTop, fileOffset: block.offset, protection: [.read, .write])
            }
        } else if newTop < oldTop {
            if mm.anySealed(newTop, oldTop) { return mm.brkEnd }
            flushAndRelease(mm.removeRange(newTop, oldTop))
            realize { space throws(LinuxErrno) in space.unmap(newTop, length: oldTop - newTop) }
        }
        mm.brkEnd = want
        return want
    }

    func sysMremap() throws(LinuxErrno) -> UInt64 {
        let old = a0, flags = a3
        guard old & 0xfff == 0, flags & ~UInt64(7) == 0 else { throw .EINVAL }
        guard let (oldLen, _) = pageRange(old, a1), let (newLen, _) = pageRange(old, a2), newLen > 0 else { throw .EINVAL }
        // MREMAP_DONTUNMAP is a move to a new address (a4, a hint without MREMAP_FIXED, checked
        // either way) of the same size; the old range stays mapped, without its private pages.
        let dontUnmap = flags & 4 != 0
        if flags & 2 != 0 || dontUnmap {
            guard a4 & 0xfff == 0, let (_, end) = pageRange(a4, newLen), end <= kernel.platform.addressSpaceEnd else { throw .EINVAL }
        }
        if flags & 6 != 0 && flags & 1 == 0 { throw .EINVAL } // FIXED and DONTUNMAP need MAYMOVE
        if dontUnmap && a1 != a2 { throw .EINVAL }
        // Neither a sealed mapping nor what a fixed move would replace may change.
        if mm.anySealed(old, old + max(oldLen, 1)) || (flags & 2 != 0 && mm.anySealed(a4, a4 + newLen)) { throw .EPERM }
        try mm.checkRoomForMappings(limit: kernel.tunables.mapCountLimit)
        // The range must lie in one mapping, which may be several VMAs (copy-on-write pieces).
        guard let pieces = mm.mappingPieces(old, old + max(oldLen, 1)), let v = mm.vma(containing: old),
              let last = mm.vma(containing: old + max(oldLen, 1) - 1) else { throw .EFAULT }
        // An old size of 0 makes a second mapping of a shared mapping's pages ("duplicate shm
        // area"); a private mapping has none to share.
        if oldLen == 0 && !v.shared { throw .EINVAL }
        beginChange(); defer { endChange() }
        if flags & 2 == 0 && !dontUnmap {
            if newLen <= oldLen {
                if newLen < oldLen {
                    flushAndRelease(mm.removeRange(old + newLen, old + oldLen))
                    realize { space throws(LinuxErrno) in space.unmap(old + newLen, length: oldLen - newLen) }
                }
                return old
            }
            // Grow in place when the pages after it are free.
            if old + oldLen == last.end, old + newLen <= mm.stackTop - (8 << 20), mm.isFree(old + oldLen, old + newLen) {
                var ext = last
                ext.start = old + oldLen; ext.end = old + newLen
                ext.fileOffset = last.fileOffset + (old + oldLen - last.start)
                if v.pages == nil {
                    ext.block = try MemoryBlock(file: kernel.memoryFile, length: newLen - oldLen)
                    ext.blockOffset = 0
                    ext.cow = false
                }
                mm.insert(ext)
                let memory = mm
                realize { space throws(LinuxErrno) in
                    if !ext.beyondEOF { try memory.realize(ext, from: ext.start, to: ext.end, in: space) }
                }
                return old
            }
            guard flags & 1 != 0 else { throw .ENOMEM }
        }
        // Move: a new block, the old content copied, the old range unmapped.
        var dest: UInt64
        if flags & 2 != 0 {
            dest = a4
            if dest < old + oldLen && old < dest + newLen { throw .EINVAL }
        } else {
            guard let d = mm.findFree(length: newLen) else { throw .ENOMEM }
            dest = d
        }
        // A page-cache mapping moves over the same pages, and so does shared anonymous memory
        // that its block still covers (other processes keep sharing it); other memory is
        // copied to a new block.
        var moved = v
        moved.start = dest; moved.end = dest + newLen
        moved.fileOffset = v.fileOffset + (old - v.start)
        if v.shared, v.pages == nil, let block = v.block, pieces.allSatisfy({ $0.block === block }),
           v.blockOffset + (old - v.start) + newLen <= block.length {
            moved.blockOffset = v.blockOffset + (old - v.start)
        } else if v.pages == nil {
            let block = try MemoryBlock(file: kernel.memoryFile, length: newLen)
            for p in pieces where p.start < old + min(oldLen, newLen) {
                try mm.copyBlockMemory(p, from: p.start, length: min(p.end, old + newLen) - p.start, to: block.offset + (p.start - old))
            }
            moved.block = block; moved.blockOffset = 0
            moved.cow = false
        }
        let unmapOld = oldLen > 0 && !dontUnmap
        if unmapOld { mm.release(mm.removeRange(old, old + oldLen)) }
        flushAndRelease(mm.removeRange(dest, dest + newLen))
        // A file mapping moves whole: what lies past the file's end is past it at the new
        // address too (the old range may have been split there).
        if moved.pages != nil { moved.beyondEOF = false }
        mm.insert(moved)
        if let pages = moved.pages { _ = mm.fileShrank(pages) }
        let memory = mm
        // A page-cache mapping may now end in pages past the file's end, and a private file
        // mapping's piece past it moves as it was: those stay unmapped (SIGBUS when touched).
        let pastEnd = moved.pages != nil || moved.beyondEOF
        realize { space throws(LinuxErrno) in
            if unmapOld { space.unmap(old, length: oldLen) }
            if pastEnd {
                space.unmap(dest, length: newLen)
                try memory.realizeRange(dest, dest + newLen, in: space)
            } else {
                try memory.realize(moved, from: dest, to: dest + newLen, in: space)
            }
        }
        // The pages went with the move: the old range's private memory starts again.
        if dontUnmap { try discardPrivatePages(old, old + oldLen) }
        return dest
    }

    /// MADV_DONTNEED's work on [start, end) (every page mapped; room for a split checked):
    /// private memory is dropped, so anonymous pages read back as zeroes and a private file
    /// mapping's as the file's, as fresh faults would. Shared memory is left alone.
    private func discardPrivatePages(_ start: UInt64, _ end: UInt64) throws(LinuxErrno) {
        var cursor = start
        while cursor < end {
            guard let v = mm.vma(containing: cursor) else { throw .ENOMEM }
            let e = min(v.end, end)
            // A host file's pages are the file's already.
            if !v.shared && v.writeBack == nil && !v.mapsHostFile {
                // Memory another process still shares is not zeroed: this one gets new pages.
                if v.cow, let block = v.block, block.sharers.load(ordering: .relaxed) > 1 {
                    try mm.privatize(v, cursor, e, copy: false)
                } else {
                    kernel.memoryFile.zero(v.fileStart + (cursor - v.start), length: e - cursor)
                }
                guard let v = mm.vma(containing: cursor) else { throw .ENOMEM }
                // A private file mapping's pages come back from the file, as a new fault would read them.
                if let file = v.file, !v.beyondEOF {
                    try? copyFile(file, at: v.fileOffset + (cursor - v.start), count: e - cursor,
                                  to: v.fileStart + (cursor - v.start))
                }
            }
            cursor = e
        }
    }

    func sysMadvise() throws(LinuxErrno) -> UInt64 {
        guard a0 & 0xfff == 0, let (len, _) = pageRange(a0, a1) else { throw .EINVAL }
        let end = a0 + len
        /// Each VMA of the range, checked first (a hole: ENOMEM).
        func eachVMA(_ check: (VMA) throws(LinuxErrno) -> Void) throws(LinuxErrno) {
            var cursor = a0
            while cursor < end {
                guard let v = mm.vma(containing: cursor) else { throw .ENOMEM }
                try check(v)
                cursor = v.end
            }
        }
        // Advice that discards pages or changes what a fork gets is refused on a sealed
        // read-only private anonymous mapping (is_madv_discard, is_ro_anon).
        if [4, 8, 9, 10, 18, 24, 102].contains(a2) {
            try eachVMA { v throws(LinuxErrno) in
                if v.sealed && v.file == nil && !v.shared && !v.protection.contains(.write) { throw .EPERM }
            }
        }
        switch a2 {
        case 4, 8: // MADV_DONTNEED, MADV_FREE: private anonymous pages read back as zeroes
            // Not on locked memory; MADV_FREE only on private anonymous memory.
            try eachVMA { v throws(LinuxErrno) in
                if v.locked || (a2 == 8 && (v.shared || v.file != nil)) { throw .EINVAL }
            }
            try mm.checkRoomForMappings(limit: kernel.tunables.mapCountLimit) // a copy-on-write range given pages of its own splits off
            try discardPrivatePages(a0, end)
            return 0
        case 9: // MADV_REMOVE: a shared mapping's memory is freed, its file punched
            try eachVMA { v throws(LinuxErrno) in
                if v.locked || !v.shared { throw .EINVAL }
                if !v.mayWrite { throw .EACCES }
            }
            var cursor = a0
            while cursor < end {
                guard let v = mm.vma(containing: cursor) else { throw .ENOMEM }
                let e = min(v.end, end)
                // The file's range is punched (FALLOC_FL_PUNCH_HOLE | KEEP_SIZE, as Linux's
                // madvise_remove); a mapping with a block of its own (shared anonymous memory,
                // a write-through file's copy) is zeroed too.
                if let regular = v.file?.inode as? RegularFileInode {
                    try regular.allocate(mode: 3, offset: v.fileOffset + (cursor - v.start), length: e - cursor)
                }
                if v.block != nil { kernel.memoryFile.zero(v.fileStart + (cursor - v.start), length: e - cursor) }
                cursor = e
            }
            return 0
        case 10, 11, 18, 19: // MADV_DONTFORK, MADV_DOFORK, MADV_WIPEONFORK, MADV_KEEPONFORK
            // Wiping is for private anonymous memory only.
            try eachVMA { v throws(LinuxErrno) in if a2 == 18 && (v.shared || v.file != nil) { throw .EINVAL } }
            mm.update(a0, end) { v in
                switch a2 {
                case 10: v.dontFork = true
                case 11: v.dontFork = false
                case 18: v.wipeOnFork = true
                default: v.wipeOnFork = false
                }
            }
            return 0
        case 16, 17: // MADV_DONTDUMP, MADV_DODUMP: what a core dump leaves out
            // The kernel's own mappings ([vvar], [vdso]) stay as they are (VM_SPECIAL).
            try eachVMA { v throws(LinuxErrno) in if a2 == 17 && v.special { throw .EINVAL } }
            mm.update(a0, end) { v in v.dontDump = a2 == 16 }
            return 0
        case 0, 1, 2, 3, 12, 13, 14, 15, 20, 21, 22, 23:
            try eachVMA { _ throws(LinuxErrno) in }
            // Hints about paging (NORMAL, RANDOM, SEQUENTIAL, WILLNEED, merge and hugepage
            // controls, COLD, PAGEOUT, POPULATE_*): the MemoryFile keeps everything resident,
            // so there is nothing to do.
            return 0
        default:
            throw .EINVAL
        }
    }

    func sysMsync() throws(LinuxErrno) -> UInt64 {
        guard a0 & 0xfff == 0, a2 & ~UInt64(7) == 0, a2 & 5 != 5 else { throw .EINVAL }
        guard let (len, _) = pageRange(a0, a1) else { throw .ENOMEM }
        var cursor = a0
        while cursor < a0 + len {
            guard let v = mm.vma(containing: cursor) else { throw .ENOMEM }
            // MS_INVALIDATE cannot drop locked pages.
            if a2 & 2 != 0 && v.locked { throw .EBUSY }
            let e = min(v.end, a0 + len)
            do { try MemoryManager.writeBack(v, from: cursor, to: e) } catch { throw .EIO }
            cursor = e
        }
        return 0
    }

    /// mincore: a page is resident when MemoryFile pages back it (touched, or a file's page
    /// cache); pages never touched, or beyond a file's end, are not.
    func sysMincore() throws(LinuxErrno) -> UInt64 {
        guard a0 & 0xfff == 0 else { throw .EINVAL }
        guard let (len, end) = pageRange(a0, a1), len >> 12 < 1 << 24 else { throw .ENOMEM }
        guard mm.covers(a0, end) else { throw .ENOMEM }
        let resident = mm.residentPages(a0, end, memoryFile: kernel.memoryFile)
        try mm.write(a2, resident.map { $0 ? 1 : 0 })
        return 0
    }
}

// MARK: locking, protection keys, other processes' memory

extension GuestThread {
    static let CAP_IPC_LOCK = 14, CAP_SYS_PTRACE = 19

    /// mlock, mlock2 (MLOCK_ONFAULT): the range must be mapped; newly locked bytes count
    /// against RLIMIT_MEMLOCK unless CAP_IPC_LOCK. The sandbox's memory is the sentry's
    /// MemoryFile, which the host could still swap: locking is accounted, not enforced on
    /// the host.
    func sysMlock(flags: UInt64) throws(LinuxErrno) -> UInt64 {
        guard flags & ~UInt64(1) == 0 else { throw .EINVAL }
        let start = a0 & ~0xfff
        guard let (len, end) = pageRange(start, a1 &+ (a0 & 0xfff)) else { throw .ENOMEM }
        if len == 0 { return 0 }
        let limit = self.limit(8).0
        let privileged = group.capable(Self.CAP_IPC_LOCK, in: .initial)
        if limit == 0 && !privileged { throw .EPERM }
        try mm.checkRoomForMappings(limit: kernel.tunables.mapCountLimit)
        let newly = len - mm.lockedBytes(start, end)
        if !privileged && mm.lockedBytes() + newly > limit { throw .ENOMEM }
        try mm.setLocked(start, end, true)
        if flags & 1 == 0 { populate(start, end) } // MLOCK_ONFAULT waits for the faults
        return 0
    }

    /// Makes the memory of [start, end) resident, as Linux's mlock and MAP_POPULATE fault it
    /// in: holes in anonymous memory and private copies become zeroed pages (what they read
    /// as anyway), and a shared mapping's file pages up to the file's end come into its page
    /// cache (a hole as a zeroed page, as a read fault on tmpfs gives one). Memory the guest
    /// cannot access is left alone. false when the memory limit left no room for all of it.
    @discardableResult
    func populate(_ start: UInt64, _ end: UInt64) -> Bool {
        let memory = kernel.memoryFile
        var complete = true
        func fillHoles(_ from: UInt64, _ to: UInt64) {
            var hole = from
            memory.forEachResidentRange(from, length: to - from) { data, dataEnd in
                if data > hole, memory.zeroMakingRoom(memory.pointer(hole), Int(data - hole)) != 0 { complete = false }
                hole = dataEnd
            }
            if to > hole, memory.zeroMakingRoom(memory.pointer(hole), Int(to - hole)) != 0 { complete = false }
        }
        var cursor = start
        while cursor < end, let v = mm.vma(containing: cursor) {
            let e = min(v.end, end)
            let accessible = !v.beyondEOF && !v.protection.isEmpty
            if accessible, let pages = v.pages {
                let fileEnd = MemoryFile.roundUp(pages.size)
                var at = cursor
                while at < e && v.fileOffset + (at - v.start) < fileEnd {
                    guard let (o, n) = try? pages.backing(v.fileOffset + (at - v.start)) else { return false }
                    let length = min(n, e - at, fileEnd - (v.fileOffset + (at - v.start)))
                    fillHoles(o, o + length)
                    at += length
                }
            } else if accessible, v.block != nil, !v.mapsHostFile { // a host file's pages come from the host
                fillHoles(v.fileStart + (cursor - v.start), v.fileStart + (e - v.start))
            }
            if !complete { return false }
            cursor = e
        }
        return true
    }

    func sysMunlock() throws(LinuxErrno) -> UInt64 {
        let start = a0 & ~0xfff
        guard let (len, end) = pageRange(start, a1 &+ (a0 & 0xfff)) else { throw .ENOMEM }
        if len == 0 { return 0 }
        try mm.checkRoomForMappings(limit: kernel.tunables.mapCountLimit)
        try mm.setLocked(start, end, false)
        return 0
    }

    /// mlockall: MCL_CURRENT locks every mapping now; MCL_FUTURE is accepted but mappings
    /// made later are not locked (noted in syscalls/).
    func sysMlockall() throws(LinuxErrno) -> UInt64 {
        let MCL_CURRENT: UInt64 = 1, MCL_FUTURE: UInt64 = 2, MCL_ONFAULT: UInt64 = 4
        guard a0 != 0, a0 & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0, a0 != MCL_ONFAULT else { throw .EINVAL }
        let limit = self.limit(8).0
        let privileged = group.capable(Self.CAP_IPC_LOCK, in: .initial)
        if limit == 0 && !privileged { throw .EPERM }
        if a0 & MCL_CURRENT != 0 {
            let total = mm.vmas.reduce(UInt64(0)) { $0 + ($1.end - $1.start) }
            if !privileged && total > limit { throw .ENOMEM }
            let ranges = mm.vmas.map { ($0.start, $0.end) }
            for (s, e) in ranges { try mm.setLocked(s, e, true) }
            if a0 & MCL_ONFAULT == 0 { for (s, e) in ranges { populate(s, e) } }
        }
        return 0
    }

    func sysMunlockall() throws(LinuxErrno) -> UInt64 {
        for (s, e) in mm.vmas.filter(\.locked).map({ ($0.start, $0.end) }) { try mm.setLocked(s, e, false) }
        return 0
    }

    /// pkey_mprotect: without protection keys (none can be allocated) only pkey -1 is valid,
    /// and it is mprotect.
    /// remap_file_pages: what Linux has made of it since 4.0, a MAP_FIXED | MAP_SHARED mmap of
    /// the mapping's file at the new offset over [start, start + size), with the mapping's
    /// protection. The range must lie in shared mappings of one file; prot must be 0.
    func sysRemapFilePages() throws(LinuxErrno) -> UInt64 {
        guard a2 == 0 else { throw .EINVAL }
        let start = a0 & ~UInt64(0xfff), size = a1 & ~UInt64(0xfff), pgoff = a3
        let (end, overflow) = start.addingReportingOverflow(size)
        guard !overflow, end > start else { throw .EINVAL }
        guard !pgoff.addingReportingOverflow(size >> 12).overflow, pgoff <= UInt64.max >> 12 else { throw .EINVAL }
        guard let v = mm.vma(containing: start), v.shared, let file = v.file else { throw .EINVAL }
        var cursor = v.end
        while cursor < end {
            guard let next = mm.vma(containing: cursor), next.start == cursor, next.shared,
                  next.file?.inode === file.inode, next.protection == v.protection else { throw .EINVAL }
            cursor = next.end
        }
        // A SysV segment removed (IPC_RMID) while attached maps no more: its id is gone, so
        // shm_mmap's lookup fails (EINVAL).
        if isRemovedSegment(file.inode) { throw .EINVAL }
        _ = try mapMemory(file, address: start, length: size, protection: v.protection, shared: true, flags: MAP_FIXED_, offset: pgoff << 12)
        return 0
    }

    /// mseal: seals every mapping of [start, start + len) (len rounded up to pages; flags
    /// must be 0): all mapped or none sealed (ENOMEM for a hole).
    func sysMseal() throws(LinuxErrno) -> UInt64 {
        guard a2 == 0, a0 & 0xfff == 0 else { throw .EINVAL }
        let (len, overflow) = a1.addingReportingOverflow(0xfff)
        guard !overflow || a1 == 0 else { throw .EINVAL } // rounded up from near 2^64 to 0
        let length = len & ~UInt64(0xfff)
        let (end, past) = a0.addingReportingOverflow(length)
        guard !past else { throw .EINVAL }
        if end == a0 { return 0 }
        guard mm.isMapped(a0, end) else { throw .ENOMEM }
        try mm.checkRoomForMappings(limit: kernel.tunables.mapCountLimit)
        mm.update(a0, end) { $0.sealed = true }
        return 0
    }

    func sysPkeyMprotect() throws(LinuxErrno) -> UInt64 {
        guard Int32(truncatingIfNeeded: a3) == -1 else { throw .EINVAL }
        return try sysMprotect()
    }

    /// pkey_alloc: the sandbox offers no protection keys (as a CPU without PKU): ENOSPC.
    func sysPkeyAlloc() throws(LinuxErrno) -> UInt64 {
        guard a0 == 0, a1 & ~UInt64(3) == 0 else { throw .EINVAL }
        throw .ENOSPC
    }

    /// pkey_free: no key was ever allocated.
    func sysPkeyFree() throws(LinuxErrno) -> UInt64 { throw .EINVAL }

    /// process_vm_readv/writev: copies between this process and another one it may trace
    /// (ptrace_may_access: the same real ids, a dumpable target and Landlock's consent, or
    /// CAP_SYS_PTRACE). A transfer stops at the first fault; the bytes moved until then are
    /// the result.
    func sysProcessVM(write: Bool) throws(LinuxErrno) -> UInt64 {
        guard a5 == 0 else { throw .EINVAL }
        let local = try mm.ioRanges(a1, count: Int(Int32(truncatingIfNeeded: a2)))
        let remote = try mm.ioRanges(a3, count: Int(Int32(truncatingIfNeeded: a4)))
        let pid = Int32(truncatingIfNeeded: a0)
        guard pid > 0, let target = thread(pid)?.group else { throw .ESRCH }
        guard target === group || mayAttach(target) else { throw .EPERM }
        var here = IOSequence.guest(mm, ranges: local)
        var there = IOSequence.guest(target.mm, ranges: remote)
        let total = min(here.count, there.count)
        var buf = [UInt8](repeating: 0, count: min(max(total, 1), 1 << 16))
        var done = 0
        while done < total {
            let want = min(buf.count, total - done)
            let n = try buf.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in
                let chunk = UnsafeMutableRawBufferPointer(rebasing: p[0..<want])
                do throws(LinuxErrno) {
                    let got = write ? try here.copyIn(chunk) : try there.copyIn(chunk)
                    if got == 0 { return 0 }
                    let put = UnsafeRawBufferPointer(rebasing: chunk[0..<got])
                    return write ? try there.copyOut(put) : try here.copyOut(put)
                } catch {
                    if done > 0 { return 0 }
                    throw error
                }
            }
            if n == 0 { break }
            done += n
            if n < want { break }
        }
        // A copy-on-write copy may have moved what was written: the target's running threads catch up.
        if write && target !== group { target.catchUpAddressSpace() }
        return UInt64(done)
    }
}

// MARK: membarrier

extension GuestThread {
    static let MEMBARRIER_CMD_GLOBAL: UInt32 = 1, MEMBARRIER_CMD_GLOBAL_EXPEDITED: UInt32 = 2,
               MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: UInt32 = 4, MEMBARRIER_CMD_PRIVATE_EXPEDITED: UInt32 = 8,
               MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: UInt32 = 16, MEMBARRIER_CMD_GET_REGISTRATIONS: UInt32 = 512

    /// membarrier: every barrier is the platform's global one, which reaches every guest
    /// thread (a superset of what the private and expedited commands promise). The SYNC_CORE
    /// and RSEQ commands are not offered (rseq is not; a core-serializing return to guest code
    /// is not promised by every way back from the sentry): QUERY leaves them out, as Linux does
    /// on an architecture without them, and they are EINVAL.
    func sysMembarrier() throws(LinuxErrno) -> UInt64 {
        let cmd = UInt32(truncatingIfNeeded: a0), flags = UInt32(truncatingIfNeeded: a1)
        guard flags == 0 else { throw .EINVAL }
        let barriers = Self.MEMBARRIER_CMD_GLOBAL | Self.MEMBARRIER_CMD_GLOBAL_EXPEDITED | Self.MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED
            | Self.MEMBARRIER_CMD_PRIVATE_EXPEDITED | Self.MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED
        let supported = (kernel.platform.hasGlobalMemoryBarrier ? barriers : 0) | Self.MEMBARRIER_CMD_GET_REGISTRATIONS
        if cmd == 0 { return UInt64(supported) } // MEMBARRIER_CMD_QUERY
        guard cmd.nonzeroBitCount == 1, cmd & supported != 0 else { throw .EINVAL }
        switch cmd {
        case Self.MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, Self.MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED:
            mm.membarrierRegistrations |= cmd
        case Self.MEMBARRIER_CMD_GET_REGISTRATIONS:
            return UInt64(mm.membarrierRegistrations)
        case Self.MEMBARRIER_CMD_PRIVATE_EXPEDITED:
            guard mm.membarrierRegistrations & Self.MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED != 0 else { throw .EPERM }
            kernel.platform.globalMemoryBarrier()
        default:
            kernel.platform.globalMemoryBarrier()
        }
        return 0
    }
}
