// Syscall patching (systrap): a guest `mov $N, %eax; syscall` that keeps trapping is rewritten,
// in this address space's private copy of its page, into `jmp *E` (ff 24 25 <E>), where E is
// an entry of a trap table the sentry maps at 0x60000. The entry jumps into the platform's
// code page (Platform.syscallPatchEntry), which hands the call to the sentry through shared
// memory instead of a SIGSYS and its signal frame: the same system call, the same registers
// (rcx and r11 as `syscall` leaves them), in about a third of the time here (no signal frame).
//
// An entry (48 bytes at E):
//   +0  E + 16            the cell the patched `jmp *E` loads
//   +8  site + 7          where the call returns
//   +16 lea -23(%rip), %rcx; jmp *(table)   into the code page with rcx = E
//   +29 mov $N, %eax; syscall               the trapping fallback (a guest gs of its own)
//   +36 jmp *(E + 8)
// The table's first 8 bytes hold the code page's entry address.
//
// The seven bytes are rewritten in three steps, so that another thread of the process sees
// a valid instruction stream at every moment: the `syscall`'s first byte becomes 0x06 (an
// invalid opcode in 64-bit mode, and E's third byte, since E < 0x70000), then the rest but
// the first, then the first. A thread that had already executed the `mov` then faults with
// SIGILL at site + 5: it was making the system call, and is given it (`patchedSyscallFault`).
// Restarting a patched call (rip - 2) lands there too.
//
// read (number 0) is made as `xor %eax, %eax; syscall`, four bytes: too short for the jump.
// glibc follows it with `cmp $imm32, %rax` (its error check), and the ten bytes together are
// rewritten into `jmp *E; ud2; int3`, where E's second byte is itself an invalid opcode (E
// lies in one of the table's windows for these sites). The boundaries that may still be
// reached are covered: `syscall` (a restart, or a thread that ran the `xor` before) runs into
// `and $E, %eax` and the ud2 at +7, and is given read; the `cmp` (a return from a read
// trapped before, a signal frame saved there) faults on E's second byte, and the sentry
// does the compare. The entry does the compare itself and jumps back to +10:
//   +0  E + 16, +8 E + 36, +16 as above, +29 mov $0, %eax; syscall,
//   +36 cmp $imm32, %rax; jmp *(E + 48), +48 site + 10
// The rewrite puts an invalid byte on each boundary first and takes it off last.
//
// Not patched: calls of a traced thread (a tracer's single-steps would walk the table), of
// shared or special mappings, the table's own fallbacks, sequences a REX or other prefix may
// belong to, and anything when 0x60000-0x70000 is not free. A site is patched on its second
// trap, so code that runs once does not pay for the page copy. `--no-syscall-patching` turns
// it off.
import JoeyABI
import JoeyPlatform

/// One address space's trap table and patched sites (fork copies it with the memory).
final class SyscallPatches {
    static let tableAddress: UInt64 = 0x60000
    static let tableSize: UInt64 = 0x10000
    static let firstEntry: UInt64 = 64
    static let entrySize: UInt64 = 48
    /// Traps of a site before it is patched.
    static let patchAfter: UInt8 = 2
    static let rejected: UInt8 = .max

    /// Read sites' entries: 56 bytes, four to a 256-byte window whose address byte (E's
    /// second) is an opcode invalid in 64-bit mode. Other entries stay out of these windows.
    static let readEntrySize: UInt64 = 56
    static let readWindows: [UInt64] = [0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61]
    static let readEntriesPerWindow = 4
    static let maxReadEntries = readWindows.count * readEntriesPerWindow

    /// The table is mapped; or it cannot be (the range was taken, or lost since).
    var placed = false
    var unavailable = false
    /// Where the next `mov` site's entry goes, and how many read sites' entries are used.
    var nextEntry = tableAddress + firstEntry
    var readsUsed = 0
    /// Patched sites: the entry each jumps through and its system call number.
    var sites: [UInt64: (entry: UInt64, number: UInt32)] = [:]
    /// Patched read sites: the entry and the compare's immediate.
    var readSites: [UInt64: (entry: UInt64, bound: UInt32)] = [:]
    /// Sites not patched (yet): traps seen, or `rejected`.
    var traps: [UInt64: UInt8] = [:]

    func copy() -> SyscallPatches {
        let c = SyscallPatches()
        c.placed = placed; c.unavailable = unavailable; c.nextEntry = nextEntry; c.readsUsed = readsUsed
        c.sites = sites; c.readSites = readSites; c.traps = traps
        return c
    }

    /// The next entry for a `mov` site, outside the read sites' windows; nil when full.
    func takeEntry() -> UInt64? {
        var e = nextEntry
        while e + Self.entrySize <= Self.tableAddress + Self.tableSize {
            let last = e + Self.entrySize - 1
            if Self.readWindows.contains(e >> 8 & 0xff) || Self.readWindows.contains(last >> 8 & 0xff) {
                e = (last >> 8 + 1) << 8
                continue
            }
            nextEntry = e + Self.entrySize
            return e
        }
        return nil
    }

    /// The next read site's entry; nil when full.
    func takeReadEntry() -> UInt64? {
        guard readsUsed < Self.maxReadEntries else { return nil }
        let w = Self.readWindows[readsUsed / Self.readEntriesPerWindow]
        let e = Self.tableAddress + w << 8 + UInt64(readsUsed % Self.readEntriesPerWindow) * Self.readEntrySize
        readsUsed += 1
        return e
    }

    /// The bytes a patched site holds.
    static func jump(through entry: UInt64) -> [UInt8] {
        [0xff, 0x24, 0x25, UInt8(entry & 0xff), UInt8(entry >> 8 & 0xff), UInt8(entry >> 16 & 0xff), UInt8(entry >> 24 & 0xff)]
    }

    static func entryCode(at e: UInt64, returnTo: UInt64, number: UInt32) -> [UInt8] {
        var b: [UInt8] = []
        func quad(_ v: UInt64) { for i in 0..<8 { b.append(UInt8(v >> (8 * UInt64(i)) & 0xff)) } }
        func long(_ v: UInt32) { for i in 0..<4 { b.append(UInt8(v >> (8 * UInt32(i)) & 0xff)) } }
        quad(e + 16)
        quad(returnTo)
        b += [0x48, 0x8d, 0x0d]; long(UInt32(bitPattern: -23))                          // lea -23(%rip), %rcx
        b += [0xff, 0x25]; long(UInt32(truncatingIfNeeded: Int64(tableAddress) - Int64(e + 29))) // jmp *table(%rip)
        b += [0xb8]; long(number)                                                          // mov $N, %eax
        b += [0x0f, 0x05]                                                                  // syscall
        b += [0xff, 0x25]; long(UInt32(bitPattern: -34))                                   // jmp *(E + 8)
        while UInt64(b.count) < entrySize { b.append(0xcc) }
        return b
    }

    /// A read site's entry: the call as above (number 0), then the site's compare, and back.
    static func readEntryCode(at e: UInt64, site: UInt64, bound: UInt32) -> [UInt8] {
        var b: [UInt8] = []
        func quad(_ v: UInt64) { for i in 0..<8 { b.append(UInt8(v >> (8 * UInt64(i)) & 0xff)) } }
        func long(_ v: UInt32) { for i in 0..<4 { b.append(UInt8(v >> (8 * UInt32(i)) & 0xff)) } }
        quad(e + 16)
        quad(e + 36)
        b += [0x48, 0x8d, 0x0d]; long(UInt32(bitPattern: -23))                          // lea -23(%rip), %rcx
        b += [0xff, 0x25]; long(UInt32(truncatingIfNeeded: Int64(tableAddress) - Int64(e + 29))) // jmp *table(%rip)
        b += [0xb8]; long(0)                                                               // mov $0, %eax
        b += [0x0f, 0x05]                                                                  // syscall
        b += [0x48, 0x3d]; long(bound)                                                     // cmp $bound, %rax
        b += [0xff, 0x25]; long(0)                                                         // jmp *(E + 48)
        quad(site + 10)
        return b
    }

    /// The ten bytes a patched read site holds.
    static func readJump(through entry: UInt64) -> [UInt8] {
        jump(through: entry) + [0x0f, 0x0b, 0xcc]
    }

    /// The ten bytes of a read site as the program has them.
    static func readOriginal(bound: UInt32) -> [UInt8] {
        [0x31, 0xc0, 0x0f, 0x05, 0x48, 0x3d, UInt8(bound & 0xff), UInt8(bound >> 8 & 0xff), UInt8(bound >> 16 & 0xff), UInt8(bound >> 24)]
    }

    /// Prefixes a byte before a site may be: then the site is not the instruction it looks.
    static func isPrefix(_ b: UInt8) -> Bool {
        b & 0xf0 == 0x40 || [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3].contains(b)
    }
}

extension GuestThread {
    /// After a trapped system call (registers as it entered): counts its site, and patches it
    /// once it qualifies. Kernel lock held.
    func considerPatching(entryPoint: UInt64) {
        let end = regs.rip
        let patches = mm.syscallPatches
        guard ptrace == nil, end >= 8, regs.orig_rax < 0x1000, !patches.unavailable else { return }
        // read's `xor %eax, %eax; syscall` is four bytes, a `mov $N, %eax; syscall` seven.
        let isRead = regs.orig_rax == 0 && (try? mm.read(end - 4, count: 2, force: true)) == [0x31, 0xc0]
        let site = end - (isRead ? 4 : 7)
        let seen = patches.traps[site] ?? 0
        guard seen != SyscallPatches.rejected, patches.sites[site] == nil, patches.readSites[site] == nil else { return }
        if seen + 1 < SyscallPatches.patchAfter { patches.traps[site] = seen + 1; return }
        let bound = isRead ? readSiteBound(site) : nil
        guard isRead ? bound != nil : patchable(site, number: UInt32(regs.orig_rax)) else {
            patches.traps[site] = SyscallPatches.rejected
            return
        }
        patches.traps[site] = nil
        guard placeTable(patches, entryPoint: entryPoint) else { return }
        do {
            if let bound {
                guard let e = patches.takeReadEntry() else { patches.traps[site] = SyscallPatches.rejected; return }
                try mm.write(e, SyscallPatches.readEntryCode(at: e, site: site, bound: bound), force: true)
                patches.readSites[site] = (e, bound)
                try rewriteReadSite(site, to: SyscallPatches.readJump(through: e))
            } else {
                guard let e = patches.takeEntry() else { patches.traps[site] = SyscallPatches.rejected; return }
                let number = UInt32(regs.orig_rax)
                let jump = SyscallPatches.jump(through: e)
                try mm.write(e, SyscallPatches.entryCode(at: e, returnTo: end, number: number), force: true)
                patches.sites[site] = (e, number)
                try mm.writeCode(site + 5, [0x06])
                try mm.writeCode(site + 1, Array(jump[1...]))
                try mm.writeCode(site, [jump[0]])
            }
            kernel.sitesPatched += 1
        } catch {
            kernel.debugLog("pid \(group.pid): cannot patch the system call at \(site): \(error)")
        }
        group.catchUpAddressSpace()
    }

    /// Whether `count` bytes at `site` lie in one page of a private executable mapping of the
    /// guest's (outside the table), with no prefix before them.
    private func patchableRange(_ site: UInt64, count: UInt64) -> Bool {
        guard site & ~0xfff == (site + count - 1) & ~0xfff, let v = mm.vma(containing: site), site + count <= v.end, !v.shared,
              v.pages == nil, !v.special, v.protection.contains(.exec), v.start >= SyscallPatches.tableAddress + SyscallPatches.tableSize
                || v.end <= SyscallPatches.tableAddress else { return false }
        if site > v.start, let before = try? mm.read(site - 1, count: 1, force: true), SyscallPatches.isPrefix(before[0]) { return false }
        return true
    }

    /// Whether the seven bytes at `site` are `mov $number, %eax; syscall`, patchable.
    private func patchable(_ site: UInt64, number: UInt32) -> Bool {
        guard patchableRange(site, count: 7), let code = try? mm.read(site, count: 7, force: true) else { return false }
        let imm = UInt32(code[1]) | UInt32(code[2]) << 8 | UInt32(code[3]) << 16 | UInt32(code[4]) << 24
        return code[0] == 0xb8 && imm == number && code[5] == 0x0f && code[6] == 0x05
    }

    /// The compare's immediate when the ten bytes at `site` are `xor %eax, %eax; syscall;
    /// cmp $imm32, %rax`, patchable.
    private func readSiteBound(_ site: UInt64) -> UInt32? {
        guard patchableRange(site, count: 10), let code = try? mm.read(site, count: 10, force: true),
              code[0...5].elementsEqual([0x31, 0xc0, 0x0f, 0x05, 0x48, 0x3d]) else { return nil }
        return UInt32(code[6]) | UInt32(code[7]) << 8 | UInt32(code[8]) << 16 | UInt32(code[9]) << 24
    }

    /// The trap table is where it was put (the guest has not mapped over it).
    private var tableMapped: Bool { mm.vma(containing: SyscallPatches.tableAddress)?.name == SyscallPatches.tableName }

    /// Maps the trap table on first use; false when its range is taken.
    private func placeTable(_ patches: SyscallPatches, entryPoint: UInt64) -> Bool {
        if patches.placed {
            // The guest may have mapped over it since.
            if tableMapped { return true }
            patches.unavailable = true
            return false
        }
        let start = SyscallPatches.tableAddress, end = start + SyscallPatches.tableSize
        guard mm.isFree(start, end), let block = try? MemoryBlock(file: kernel.memoryFile, length: SyscallPatches.tableSize) else {
            patches.unavailable = true
            return false
        }
        var cell = entryPoint
        guard withUnsafeBytes(of: &cell, { kernel.memoryFile.copyMakingRoom(kernel.memoryFile.pointer(block.offset), $0.baseAddress!, 8) }) == 0 else {
            return false // no memory for the table's first page now: a later trap tries again
        }
        mm.insert(VMA(start: start, end: end, protection: [.read, .exec], shared: false, block: block, blockOffset: 0,
                      name: SyscallPatches.tableName, fileOffset: 0, inodeNumber: 0, writeBack: nil))
        patches.placed = true
        // Mapped in the stub before any site jumps there.
        group.catchUpAddressSpace()
        return true
    }

    /// A SIGILL at `rip` that is a patched site's old `syscall` (the thread executed the
    /// `mov` before the rewrite, or restarts the call): the registers become that system
    /// call's, made by the caller. A `mov` read half-rewritten loaded part of the jump as its
    /// number: the site's number is meant.
    func patchedSyscallFault(at rip: UInt64) -> Bool {
        if readSiteCall(at: rip) { return true }
        guard rip >= 5, let (entry, number) = mm.syscallPatches.sites[rip - 5],
              let code = try? mm.read(rip - 5, count: 7, force: true) else { return false }
        // The site as patched, or on its way there or back (a fault taken mid-rewrite is
        // handled after it): anything else is new code at that address, and its own SIGILL.
        let jump = SyscallPatches.jump(through: entry)
        let imm = UInt32(code[1]) | UInt32(code[2]) << 8 | UInt32(code[3]) << 16 | UInt32(code[4]) << 24
        let moving = code[0] == 0xb8 && (imm == number || code[1...4].elementsEqual(jump[1...4]))
            && (code[5] == 0x06 || (code[5] == 0x0f && code[6] == 0x05))
        guard code == jump || moving else { return false }
        let torn = 0x2524 | (entry & 0xffff) << 16
        if regs.rax & 0xffff_ffff == torn { regs.rax = UInt64(number) }
        regs.orig_rax = regs.rax
        regs.rax = UInt64(bitPattern: -Int64(LinuxErrno.ENOSYS.rawValue))
        regs.rip = rip + 2
        return true
    }

    /// Writes a read site's ten bytes (patched, or the program's again) so that another
    /// thread finds an instruction or an invalid byte at each boundary it may be at (the
    /// site, its `syscall`, its compare): those become invalid first and final last.
    private func rewriteReadSite(_ site: UInt64, to bytes: [UInt8]) throws(LinuxErrno) {
        for b: UInt64 in [0, 2, 4] { try mm.writeCode(site + b, [0x06]) }
        try mm.writeCode(site + 5, Array(bytes[5...]))
        for b in [3, 1, 4, 2, 0] { try mm.writeCode(site + UInt64(b), [bytes[b]]) }
    }

    /// Whether the ten bytes at a read site are the program's, the patched ones, or on the
    /// way between (an invalid byte on a boundary).
    private func readSiteIntact(_ site: UInt64, entry: UInt64, bound: UInt32) -> Bool {
        guard let code = try? mm.read(site, count: 10, force: true) else { return false }
        let old = SyscallPatches.readOriginal(bound: bound), new = SyscallPatches.readJump(through: entry)
        return code.indices.allSatisfy { i in code[i] == old[i] || code[i] == new[i] || (code[i] == 0x06 && i % 2 == 0 && i <= 4) }
    }

    /// A SIGILL on a read site's way into its call: at the site or its old `syscall` while
    /// the rewrite runs, or at the ud2 the `and $E, %eax` that `syscall`'s place now decodes
    /// to runs into (with eax still 0, as the `xor` left it). The registers become the
    /// call's, returning to the compare's place (which finishes it: finishPatchedRead).
    private func readSiteCall(at rip: UInt64) -> Bool {
        let patches = mm.syscallPatches
        let site: UInt64
        if patches.readSites[rip] != nil {
            site = rip
        } else if rip >= 2, patches.readSites[rip - 2] != nil {
            site = rip - 2
        } else if rip >= 7, patches.readSites[rip - 7] != nil, regs.rax & 0xffff_ffff == 0 {
            site = rip - 7
        } else {
            return false
        }
        guard let (entry, bound) = patches.readSites[site], readSiteIntact(site, entry: entry, bound: bound) else { return false }
        // At the site itself the `xor` has not run yet: its zero is the number.
        regs.orig_rax = site == rip ? 0 : regs.rax
        regs.rax = UInt64(bitPattern: -Int64(LinuxErrno.ENOSYS.rawValue))
        regs.rip = site + 4
        return true
    }

    /// A SIGILL at a read site's compare (its first byte is now part of the jump): a return
    /// from a read made before the rewrite, or through a signal frame saved there. The
    /// sentry compares as `cmp $imm32, %rax` would, and the thread goes on after it.
    func finishPatchedRead(at rip: UInt64) -> Bool {
        guard rip >= 4, let (entry, bound) = mm.syscallPatches.readSites[rip - 4],
              readSiteIntact(rip - 4, entry: entry, bound: bound) else { return false }
        let a = regs.rax, b = UInt64(bitPattern: Int64(Int32(bitPattern: bound)))
        let r = a &- b
        var flags: UInt64 = 0
        if a < b { flags |= 0x1 }                                   // CF
        if (r & 0xff).nonzeroBitCount % 2 == 0 { flags |= 0x4 }     // PF
        if (a ^ b ^ r) & 0x10 != 0 { flags |= 0x10 }                // AF
        if r == 0 { flags |= 0x40 }                                 // ZF
        if r >> 63 != 0 { flags |= 0x80 }                           // SF
        if ((a ^ b) & (a ^ r)) >> 63 != 0 { flags |= 0x800 }        // OF
        regs.eflags = regs.eflags & ~0x8d5 | flags
        regs.rip = rip + 6
        return true
    }

    /// A fault at a patched site whose table is gone (the guest mapped over it): the site
    /// gets its `mov $N, %eax; syscall` back, in the reverse order, and the thread retries.
    func unpatchIfTableLost(at rip: UInt64) -> Bool {
        let patches = mm.syscallPatches
        if let (_, bound) = patches.readSites[rip] {
            if tableMapped { return false }
            patches.unavailable = true
            do { try rewriteReadSite(rip, to: SyscallPatches.readOriginal(bound: bound)) } catch { return false }
            group.catchUpAddressSpace()
            return true
        }
        guard let (_, number) = patches.sites[rip] else { return false }
        if tableMapped { return false }
        patches.unavailable = true
        do {
            try mm.writeCode(rip, [0xb8])
            try mm.writeCode(rip + 1, [UInt8(number & 0xff), UInt8(number >> 8 & 0xff), UInt8(number >> 16 & 0xff), UInt8(number >> 24)])
            try mm.writeCode(rip + 5, [0x0f, 0x05])
        } catch {
            return false
        }
        group.catchUpAddressSpace()
        return true
    }
}

extension SyscallPatches {
    /// What /proc/pid/maps shows for the table.
    static let tableName: ByteString = "[syscall-patch]"
}
