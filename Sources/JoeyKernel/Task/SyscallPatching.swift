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
// Not patched: calls of a traced thread (a tracer's single-steps would walk the table), of
// shared or special mappings, the table's own fallbacks, sequences a REX prefix may belong
// to, and anything when 0x60000-0x70000 is not free. A site is patched on its second trap,
// so code that runs once does not pay for the page copy. `--no-syscall-patching` turns it off.
import JoeyABI
import JoeyPlatform

/// One address space's trap table and patched sites (fork copies it with the memory).
final class SyscallPatches {
    static let tableAddress: UInt64 = 0x60000
    static let tableSize: UInt64 = 0x10000
    static let firstEntry: UInt64 = 64
    static let entrySize: UInt64 = 48
    static let maxEntries = Int((tableSize - firstEntry) / entrySize)
    /// Traps of a site before it is patched.
    static let patchAfter: UInt8 = 2
    static let rejected: UInt8 = .max

    /// The table is mapped; or it cannot be (the range was taken, or lost since).
    var placed = false
    var unavailable = false
    var used = 0
    /// Patched sites: the entry each jumps through and its system call number.
    var sites: [UInt64: (entry: UInt64, number: UInt32)] = [:]
    /// Sites not patched (yet): traps seen, or `rejected`.
    var traps: [UInt64: UInt8] = [:]

    func copy() -> SyscallPatches {
        let c = SyscallPatches()
        c.placed = placed; c.unavailable = unavailable; c.used = used; c.sites = sites; c.traps = traps
        return c
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
}

extension GuestThread {
    /// After a trapped system call (registers as it entered): counts its site, and patches it
    /// once it qualifies. Kernel lock held.
    func considerPatching(entryPoint: UInt64) {
        let end = regs.rip
        let patches = mm.syscallPatches
        guard ptrace == nil, end >= 8, regs.orig_rax < 0x1000, !patches.unavailable else { return }
        let site = end - 7
        let seen = patches.traps[site] ?? 0
        guard seen != SyscallPatches.rejected, patches.sites[site] == nil else { return }
        if seen + 1 < SyscallPatches.patchAfter { patches.traps[site] = seen + 1; return }
        guard patchable(site, number: UInt32(regs.orig_rax)) else { patches.traps[site] = SyscallPatches.rejected; return }
        patches.traps[site] = nil
        guard patches.used < SyscallPatches.maxEntries, placeTable(patches, entryPoint: entryPoint) else { return }
        let e = SyscallPatches.tableAddress + SyscallPatches.firstEntry + UInt64(patches.used) * SyscallPatches.entrySize
        let number = UInt32(regs.orig_rax)
        let jump = SyscallPatches.jump(through: e)
        do {
            try mm.write(e, SyscallPatches.entryCode(at: e, returnTo: end, number: number), force: true)
            patches.used += 1
            patches.sites[site] = (e, number)
            try mm.writeCode(site + 5, [0x06])
            try mm.writeCode(site + 1, Array(jump[1...]))
            try mm.writeCode(site, [jump[0]])
        } catch {
            kernel.debugLog("pid \(group.pid): cannot patch the system call at \(site): \(error)")
        }
        group.catchUpAddressSpace()
    }

    /// Whether the seven bytes at `site` are `mov $number, %eax; syscall` in a private
    /// executable mapping of the guest's, with no REX prefix before them.
    private func patchable(_ site: UInt64, number: UInt32) -> Bool {
        guard site & ~0xfff == (site + 6) & ~0xfff, let v = mm.vma(containing: site), site + 7 <= v.end, !v.shared,
              v.pages == nil, !v.special, v.protection.contains(.exec), v.start >= SyscallPatches.tableAddress + SyscallPatches.tableSize
                || v.end <= SyscallPatches.tableAddress,
              let code = try? mm.read(site, count: 7, force: true) else { return false }
        let imm = UInt32(code[1]) | UInt32(code[2]) << 8 | UInt32(code[3]) << 16 | UInt32(code[4]) << 24
        guard code[0] == 0xb8, imm == number, code[5] == 0x0f, code[6] == 0x05 else { return false }
        if site > v.start, let before = try? mm.read(site - 1, count: 1, force: true), before[0] & 0xf0 == 0x40 { return false }
        return true
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
        mm.insert(VMA(start: start, end: end, protection: [.read, .exec], shared: false, block: block, blockOffset: 0,
                      name: SyscallPatches.tableName, fileOffset: 0, inodeNumber: 0, writeBack: nil))
        var cell = entryPoint
        withUnsafeBytes(of: &cell) { kernel.memoryFile.pointer(block.offset).copyMemory(from: $0.baseAddress!, byteCount: 8) }
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

    /// A fault at a patched site whose table is gone (the guest mapped over it): the site
    /// gets its `mov $N, %eax; syscall` back, in the reverse order, and the thread retries.
    func unpatchIfTableLost(at rip: UInt64) -> Bool {
        let patches = mm.syscallPatches
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
    static let tableName = "[syscall-patch]"
}
