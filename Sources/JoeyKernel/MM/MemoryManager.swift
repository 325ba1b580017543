// MM/ owns guest memory: address spaces (MemoryManager), IO sequences that copy to and from
// them at copy time, and the page cache (FilePages) of files that live in the sandbox, all
// in the one MemoryFile. Guarded by the kernel lock; MemoryFile's allocator lock is taken
// inside it, never the other way round.
//
// MemoryManager: one guest address space as a sorted list of VMAs over MemoryFile blocks
// (anonymous and private memory) or over a file's page cache (MAP_SHARED file mappings).
// Its platform AddressSpace (one stub process) is shared by every thread that runs in it:
// a change realized there takes effect for all of them at once. Changes are realized as they
// are made when the space was in sync (MemorySyscalls); otherwise `syncSpace` catches up
// from `realizedVersion`, re-realizing only the ranges the change log names, before the
// kernel lock is let go by the thread that made the change or before any thread runs.
//
// A change is realized by ops handed to the platform in the order they were worked out (under
// the kernel lock); a stub makes them while the kernel lock is let go (`flush`, `syncSpace`
// with a kernel), so a thread's mmap or mprotect does not stop the sandbox's other threads for
// the stub's round trip. Meanwhile the space lags behind the MM: threads running in it see the
// old mappings (as if the change had not happened yet), a fault they take then is retried once
// the ops are made (GuestThread), and blocks removed from the MM are not freed before the ops
// that unmap them have been made (`retired`, by version).
//
// fork is copy-on-write: parent and child keep the same private blocks, realized without
// write permission; a write fault (or a sentry write) copies the chunk it touches, or, when
// no other address space holds the block any more, just makes it writable again.
import DequeModule
import JoeyABI
import JoeyPlatform
import Synchronization

/// A MemoryFile allocation, freed when the last VMA referencing it goes away; or a host
/// file's pages (`host`), mapped directly and never written.
final class MemoryBlock {
    let file: MemoryFile
    /// Where the block lies in the MemoryFile; meaningless for a host file's block.
    let offset: UInt64
    let length: UInt64
    /// A host file's pages instead of MemoryFile memory: a private file mapping's image.
    let host: HostFileImage?
    /// How many address spaces hold private mappings of it (fork adds the child). Above 1
    /// nobody writes it in place. Changed under the kernel lock, except by a departing
    /// MemoryManager's deinit, which may run outside it: hence atomic.
    let sharers: Atomic<Int>
    /// `committed`: the pages are had now (memory the sentry writes directly, not through a
    /// safe copy); ENOMEM when the memory limit leaves no room.
    init(file: MemoryFile, length: UInt64, committed: Bool = false) throws(LinuxErrno) {
        self.file = file
        self.length = MemoryFile.roundUp(length)
        self.offset = try file.allocate(length, committed: committed)
        host = nil
        sharers = Atomic(1)
    }
    /// A host file's image. Its sharers never fall to 1 (the host file is always one of
    /// them): every path that writes or zeroes a block in place when only one address space
    /// holds it (copy-on-write, MADV_DONTNEED, the OOM killer, munmap) copies instead.
    init(file: MemoryFile, host: HostFileImage) {
        self.file = file
        offset = 0
        length = host.length
        self.host = host
        sharers = Atomic(Int.max / 2)
    }
    deinit { if host == nil { file.free(offset, length: length) } }

    /// The sentry's pointer to byte `at` of the block (reads only, for a host file's).
    func pointer(_ at: UInt64) -> UnsafeMutableRawPointer {
        if let host { return host.base + Int(at) }
        return file.pointer(offset + at)
    }

    /// Bytes of [at, at + length) backed by pages (a host file's: all of them).
    func residentBytes(_ at: UInt64, length: UInt64) -> UInt64 {
        if let host { return host.residentBytes(at, length: length) }
        return file.residentBytes(offset + at, length: length)
    }
}

struct VMA {
    var start: UInt64
    var end: UInt64
    var protection: MemoryProtection
    /// MAP_SHARED: anonymous shared memory, or a file's page cache (`pages`).
    var shared: Bool
    /// Anonymous and private memory (nil for a mapping of a file's page cache).
    var block: MemoryBlock?
    /// Offset of `start` inside `block`.
    var blockOffset: UInt64
    /// What /proc/pid/maps shows: a path, "[heap]", "[stack]" or "".
    var name: ByteString
    /// File offset of `start` for file mappings (maps' offset column).
    var fileOffset: UInt64
    var inodeNumber: UInt64
    /// A writable MAP_SHARED file mapping: written back to the file on unmap/msync.
    var writeBack: FileDescription?
    var growsDown = false
    /// Pages of a file mapping wholly past the file's end when it was mapped: never realized
    /// in the platform, so a guest access faults and becomes SIGBUS, as on Linux.
    var beyondEOF = false
    /// A MAP_SHARED mapping of a file in the page cache: `fileOffset` is where `start` lies in
    /// it; every mapping of the file, and read/write, use the same MemoryFile pages.
    var pages: FilePages?
    /// The file a file mapping maps (private ones re-read it after MADV_DONTNEED).
    var file: FileDescription?
    /// PROT_WRITE may be added (a shared mapping of a file opened read-only: no; VM_MAYWRITE).
    var mayWrite = true
    /// A mapping the kernel installs ([vvar], [vdso]): shared by every process, but shown
    /// private in /proc/pid/maps, as Linux shows its special mappings.
    var special = false
    /// Copy-on-write: the block may be shared with another address space since a fork, so it
    /// is realized without write permission until a write breaks the sharing.
    var cow = false
    /// madvise's fork controls: MADV_DONTFORK (the child does not get the mapping) and
    /// MADV_WIPEONFORK (the child gets zeroes there, and keeps the advice).
    var dontFork = false
    var wipeOnFork = false
    /// MADV_DONTDUMP (VM_DONTDUMP): left out of core dumps; MADV_DODUMP clears it.
    var dontDump = false
    /// mseal(2) (VM_SEALED): the mapping can no longer be unmapped, moved, resized, mapped
    /// over or given another protection, nor, read-only and anonymous, have its pages
    /// discarded; for the life of the address space (fork's child inherits it).
    var sealed = false
    /// The guest asked for write or exec without read: x86 pages cannot be write- or
    /// exec-only, so `protection` holds read too, but /proc shows what was asked.
    var readImplied = false
    /// mlock: counted against RLIMIT_MEMLOCK and shown as VmLck (VM_LOCKED). Not inherited by fork.
    var locked = false
    /// mbind's policy for this range (nil: the default policy).
    var policy: MemoryPolicy?
    /// Private anonymous memory a fork's child got from its parent. Linux merges a new
    /// mapping into a neighbour only while the neighbour's anon_vma chain is its own (not
    /// after a fork gave it the parent's), so such pieces join only pieces of the mapping
    /// they came from. Kept by splits; each fork sets it in its child.
    var inherited = false

    init(start: UInt64, end: UInt64, protection: MemoryProtection, shared: Bool, block: MemoryBlock?,
         blockOffset: UInt64, name: ByteString, fileOffset: UInt64, inodeNumber: UInt64, writeBack: FileDescription?,
         growsDown: Bool = false, pages: FilePages? = nil) {
        self.start = start; self.end = end; self.protection = protection; self.shared = shared
        self.block = block; self.blockOffset = blockOffset; self.name = name; self.fileOffset = fileOffset
        self.inodeNumber = inodeNumber; self.writeBack = writeBack; self.growsDown = growsDown; self.pages = pages
    }

    /// MemoryFile offset of `start` for block-backed VMAs (not a host file's: `pointer`).
    var fileStart: UInt64 { block!.offset + blockOffset }

    /// The sentry's pointer to `address` of a block-backed VMA.
    func pointer(_ address: UInt64) -> UnsafeMutableRawPointer { block!.pointer(blockOffset + (address - start)) }

    /// Whether its memory is a host file's pages (read-only, copy-on-write for good).
    var mapsHostFile: Bool { block?.host != nil }

    /// Whether `next` starts where this ends as a piece of the same mapping, split from it
    /// only by where their memory lies (a copy-on-write copy of part of it): the guest sees
    /// one mapping (/proc/pid/maps, mremap), as on Linux, whose VMAs are not split by that.
    func continues(into next: VMA) -> Bool {
        next.start == end && next.protection == protection && next.shared == shared && next.name == name
            && next.inodeNumber == inodeNumber && next.file === file && next.pages === pages
            && (isPrivateAnonymous && !inherited ? next.isPrivateAnonymous && !next.inherited
                : next.fileOffset == fileOffset + (end - start) && next.inherited == inherited)
            && (shared && pages == nil ? next.block === block : true) // each shared anonymous mapping is a file of its own
            && next.growsDown == growsDown && next.beyondEOF == beyondEOF && next.mayWrite == mayWrite
            && next.locked == locked && next.policy == policy && next.special == special && next.writeBack === writeBack
            && next.readImplied == readImplied && next.dontFork == dontFork && next.wipeOnFork == wipeOnFork
            && next.dontDump == dontDump && next.sealed == sealed
    }

    /// Private memory of no file (not the kernel's [vvar] and [vdso]). Linux merges two such
    /// neighbours whose flags agree into one mapping (their page offsets are their addresses;
    /// see `inherited` for the exception), so Joey's separate pieces, each with its own block,
    /// show and count as one; its offset in /proc/PID/maps is 0.
    var isPrivateAnonymous: Bool { !shared && file == nil && pages == nil && inodeNumber == 0 && !special }

    /// `next` is the rest of the same mapping, the file's end aside: where a shared file
    /// mapping's pages past a shrunk file's end are split off (`beyondEOF`), Linux keeps one
    /// VMA and checks the end at each fault, so mremap, msync and /proc/PID/maps see one.
    func sameMapping(continuedBy next: VMA) -> Bool {
        var n = next
        n.beyondEOF = beyondEOF
        return continues(into: n)
    }

    /// The protection the platform maps it with: without write while copy-on-write.
    var realizedProtection: MemoryProtection { cow || mapsHostFile ? protection.subtracting(.write) : protection }
}

public final class MemoryManager {
    let memoryFile: MemoryFile
    /// Sorted by address. A deque, because mmap places mappings top-down, below those made
    /// before and above the program's own: an array inserted each one near its front by
    /// moving every mapping above (75% of an mmap's time with 20000 of them); a deque moves
    /// the shorter side.
    private(set) var vmas: Deque<VMA> = []
    /// Bumped on every mapping change; contexts compare it to know they are stale.
    private(set) var version: UInt64 = 0
    /// The ranges the latest changes touched, oldest first: (the version the change made,
    /// start, end). A context that realized version v needs only the entries after v, when
    /// the log still reaches back to v + 1.
    private var changes: [(version: UInt64, start: UInt64, end: UInt64)] = []
    private static let changeLogLength = 128
    /// The platform address space realizing this MM, made by its first thread to run.
    private(set) var space: AddressSpace?
    /// The version `space` reflects, unless it must be realized afresh: `.fresh` (nothing in
    /// it yet) or `.stale` (a change failed half-way).
    private(set) var realizedVersion: UInt64 = 0
    private var spaceState = SpaceState.fresh
    private enum SpaceState { case fresh, stale, realized }
    /// What backed pieces removed since the space was last in sync (a block, or a file's page
    /// cache), with the version of the change that removed them: the stub may still map them
    /// (and other threads use them), so their MemoryFile ranges are not freed for reuse before
    /// ops built after the removal are made, even when making them fails. A block this MM
    /// stopped sharing keeps its count among the block's sharers until then too
    /// (`releasesSharer`): another process must not write it in place while a stale mapping
    /// here still shows it.
    private struct Retired {
        let version: UInt64
        let backing: AnyObject
        var releasesSharer = false
    }
    private var retired: [Retired] = []
    /// Ops realizing the latest changes as they were made (a memory call's own, the space
    /// being in sync before it), not handed to the platform yet, and the version they bring
    /// the space to: handed over before any other ops (`flush`).
    private var pendingOps: [SpaceOp] = []
    private var pendingVersion: UInt64 = 0
    var hasPendingOps: Bool { !pendingOps.isEmpty }
    /// Ops handed to the platform and not made yet (the kernel lock let go meanwhile), and
    /// the latest version handed over (made, or in flight).
    private(set) var opsInFlight = 0
    private var handedVersion: UInt64 = 0
    /// Woken whenever ops in flight are made (or fail).
    let opsMade = WaitQueue()
    /// Platform failures so far: ops handed over before one cannot count as realized.
    private var failures: UInt64 = 0
    var brkStart: UInt64 = 0
    var brkEnd: UInt64 = 0
    let mmapTop: UInt64
    let mmapBottom: UInt64 = 0x10000
    /// Every address in [freeAreaFloor, mmapTop) is mapped, so findFree's top-down search for
    /// a gap starts here rather than walking every mapping from mmapTop (Linux keeps gap
    /// sizes in its tree; a sorted array walked from the top cost each mmap O(mappings)).
    /// removeRange raises it over a hole it opens; searches and insertions that extend the
    /// mapped run below it lower it.
    /// (.max before the first search: the same as mmapTop.)
    private var freeAreaFloor: UInt64 = .max
    let stackTop: UInt64
    var argStart: UInt64 = 0, argEnd: UInt64 = 0, envStart: UInt64 = 0, envEnd: UInt64 = 0
    /// The auxiliary vector the loader built, for /proc/pid/auxv.
    var auxv: [(UInt64, UInt64)] = []
    /// Its trap table and patched system call sites (Task/SyscallPatching.swift).
    var syscallPatches = SyscallPatches()
    /// membarrier(2) registrations (the MEMBARRIER_CMD_REGISTER_* bits): kept by fork, not by execve.
    var membarrierRegistrations: UInt32 = 0
    /// The address space's AIO contexts by id (FS/AsyncIO.swift): a new address space
    /// (exec, fork's child) has none.
    var aioContexts: [UInt64: AIOContext] = [:]
    /// The program this address space runs (Linux's mm->exe_file): no one may open it for
    /// writing while it does (ETXTBSY).
    var executable: RegularFileInode? {
        didSet {
            oldValue?.executing -= 1
            executable?.executing += 1
        }
    }

    init(memoryFile: MemoryFile, addressSpaceEnd: UInt64) {
        self.memoryFile = memoryFile
        stackTop = (addressSpaceEnd - 0x10000) & ~0xfffff
        mmapTop = stackTop - (8 << 20) - (128 << 20)
    }

    // MARK: lookups

    /// Index of the first VMA whose end is above `address`.
    private func firstIndex(endingAbove address: UInt64) -> Int {
        var lo = 0, hi = vmas.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if vmas[mid].end <= address { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    func vma(containing address: UInt64) -> VMA? {
        let i = firstIndex(endingAbove: address)
        return i < vmas.count && vmas[i].start <= address ? vmas[i] : nil
    }

    /// Linux's stack_guard_gap: a stack grows no nearer than this to the mapping below it.
    static let stackGuardGap: UInt64 = 256 << 12

    /// The anonymous memory a fault at unmapped `address` grows a MAP_GROWSDOWN mapping by
    /// (expand_downwards): from the page of `address` up to the mapping, when that keeps the
    /// whole mapping within `limit` (RLIMIT_STACK) bytes and the guard gap above the mapping
    /// below it (unless that one grows down too, or is inaccessible); nil otherwise.
    func stackGrowth(to address: UInt64, limit: UInt64) -> VMA? {
        let i = firstIndex(endingAbove: address)
        guard i < vmas.count, vmas[i].start > address else { return nil }
        let above = vmas[i]
        guard above.growsDown, !above.shared, above.file == nil, above.inodeNumber == 0, above.pages == nil else { return nil }
        // The stack's whole size counts: the pieces earlier growth added sit below it as
        // VMAs of their own, each starting where the next one up ends.
        var top = above.end, j = i + 1
        while j < vmas.count && vmas[j].start == top && vmas[j].growsDown && !vmas[j].shared { top = vmas[j].end; j += 1 }
        let start = address & ~0xfff
        guard start >= mmapBottom, top - start <= limit else { return nil }
        if i > 0 {
            let below = vmas[i - 1]
            if !below.growsDown && !below.protection.isEmpty && start - below.end < Self.stackGuardGap { return nil }
        }
        var v = VMA(start: start, end: above.start, protection: above.protection, shared: false, block: nil,
                    blockOffset: 0, name: above.name, fileOffset: 0, inodeNumber: 0, writeBack: nil, growsDown: true)
        v.readImplied = above.readImplied
        v.locked = above.locked
        v.policy = above.policy
        return v
    }

    /// The MemoryFile range behind `address` (inside `v`): its offset and how many bytes are
    /// contiguous from there, up to the VMA's end. A page-cache chunk is allocated on demand;
    /// failing that (the sandbox's memory limit) the access is EFAULT.
    /// Not for a host file's block (no MemoryFile range: EFAULT); see `pointer`.
    func backing(_ v: VMA, _ address: UInt64, writing: UInt64 = 0) throws(LinuxErrno) -> (offset: UInt64, length: UInt64) {
        if v.mapsHostFile { throw .EFAULT }
        if let pages = v.pages {
            do {
                let (o, l) = try pages.backing(v.fileOffset + (address - v.start), writing: writing)
                return (o, min(l, v.end - address))
            } catch {
                throw .EFAULT
            }
        }
        return (v.fileStart + (address - v.start), v.end - address)
    }

    /// Writes [from, to) of `v`, a MAP_SHARED mapping of a write-through host file, back to
    /// the file, never past its end (a 10-byte file stays 10 bytes). Nothing for other VMAs.
    static func writeBack(_ v: VMA, from: UInt64, to: UInt64) throws(LinuxErrno) {
        guard v.writeBack != nil, let file = v.file?.inode as? RegularFileInode else { return }
        let offset = v.fileOffset + (from - v.start)
        try file.writeBackHostCache(from: offset, to: offset + (to - from))
    }

    /// Every MAP_SHARED mapping of a write-through host file written back (exit, exec): the
    /// stores made through them reach the host file even if the program never unmaps them.
    func writeBackSharedFiles() {
        for v in vmas { try? MemoryManager.writeBack(v, from: v.start, to: v.end) }
    }

    /// The sentry's pointer to `address` in `v` and how many bytes from there are contiguous
    /// (up to the VMA's end), as `backing` says for MemoryFile memory.
    func pointer(_ v: VMA, _ address: UInt64, writing: UInt64 = 0) throws(LinuxErrno) -> (pointer: UnsafeMutableRawPointer, length: UInt64) {
        if let block = v.block, block.host != nil {
            // Never past the image (the view ends there; the sentry's other memory may follow).
            let at = v.blockOffset + (address - v.start)
            guard at < block.length else { throw .EFAULT }
            return (block.pointer(at), min(v.end - address, block.length - at))
        }
        let (offset, length) = try backing(v, address, writing: writing)
        return (memoryFile.pointer(offset), length)
    }

    /// Maps [from, to) of `v` into `space`, piece by contiguous MemoryFile piece.
    func realize(_ v: VMA, from: UInt64, to: UInt64, in space: SpaceEdits) throws(LinuxErrno) {
        if let block = v.block, let image = block.host {
            space.mapHost(from, length: to - from, image: image, offset: v.blockOffset + (from - v.start), protection: v.realizedProtection)
            return
        }
        var cursor = from
        while cursor < to {
            var (offset, length) = try backing(v, cursor)
            length = min(length, to - cursor)
            // Chunks that happen to be adjacent in the MemoryFile are mapped at once.
            while cursor + length < to {
                let (next, nextLength) = try backing(v, cursor + length)
                guard next == offset + length else { break }
                length += min(nextLength, to - cursor - length)
            }
            space.map(cursor, length: length, fileOffset: offset, protection: v.realizedProtection)
            cursor += length
        }
    }

    /// A MAP_SHARED file mapping whose pages were past the file's end when it was mapped:
    /// once the file has grown over `address`, those pages become mapped (the platform syncs
    /// on the version bump) instead of faulting with SIGBUS. Returns true when that happened.
    func refreshFileTail(at address: UInt64) -> Bool {
        guard var v = vma(containing: address), v.beyondEOF, let pages = v.pages else { return false }
        let offset = v.fileOffset + (address - v.start)
        guard offset < pages.size else { return false }
        let coveredEnd = v.start + MemoryFile.roundUp(pages.size - v.fileOffset)
        v.end = min(v.end, coveredEnd)
        v.beyondEOF = false
        insert(v)
        return true
    }

    /// The file behind `pages` shrank: the pages of its MAP_SHARED mappings here that lie
    /// wholly past its new end become `beyondEOF` (unrealized: a touch is SIGBUS, as after
    /// Linux's unmap_mapping_range), the reverse of refreshFileTail. The caller syncs the
    /// space. Returns whether anything changed.
    func fileShrank(_ pages: FilePages) -> Bool {
        var tails: [VMA] = []
        for v in vmas where v.pages === pages && !v.beyondEOF {
            let kept = pages.size > v.fileOffset ? MemoryFile.roundUp(pages.size - v.fileOffset) : 0
            guard kept < v.end - v.start else { continue }
            var tail = v
            tail.start += kept
            tail.fileOffset += kept
            tail.beyondEOF = true
            tails.append(tail)
        }
        for t in tails { insert(t) }
        return !tails.isEmpty
    }

    /// Finds a free range of `length` bytes, top-down below mmapTop (or at `hint` if free).
    func findFree(length: UInt64, hint: UInt64 = 0) -> UInt64? {
        guard length <= mmapTop - mmapBottom else { return nil }
        if hint != 0, hint >= mmapBottom, !hint.addingReportingOverflow(length).overflow, hint + length <= stackTop,
           isFree(hint, hint + length) { return hint }
        var top = min(mmapTop, freeAreaFloor)
        // Whether [top, mmapTop) is all mapped, so that the floor may follow `top` down.
        var unbroken = true
        var i = firstIndex(endingAbove: top) - 1
        if i + 1 < vmas.count, vmas[i + 1].start < top {
            top = vmas[i + 1].start
            freeAreaFloor = top
        }
        while top >= length + mmapBottom {
            let lowest = i >= 0 ? vmas[i].end : mmapBottom
            if top - lowest >= length { return top - length }
            if lowest != top { unbroken = false } // a hole too small: the floor stays above it
            guard i >= 0 else { return nil }
            top = vmas[i].start
            if unbroken { freeAreaFloor = top }
            i -= 1
        }
        return nil
    }

    /// The VMAs that make up the one mapping [start, end) lies in (pieces that continue each
    /// other), clipped to it; nil when the range leaves that mapping.
    func mappingPieces(_ start: UInt64, _ end: UInt64) -> [VMA]? {
        var i = firstIndex(endingAbove: start)
        guard i < vmas.count, vmas[i].start <= start else { return nil }
        var out: [VMA] = []
        while true {
            var v = vmas[i]
            if v.start < start {
                v.blockOffset += start - v.start; v.fileOffset += start - v.start; v.start = start
            }
            let reachesEnd = v.end >= end
            if reachesEnd { v.end = end }
            out.append(v)
            if reachesEnd { return out }
            guard i + 1 < vmas.count, vmas[i].sameMapping(continuedBy: vmas[i + 1]) else { return nil }
            i += 1
        }
    }

    func isFree(_ start: UInt64, _ end: UInt64) -> Bool {
        let i = firstIndex(endingAbove: start)
        return i >= vmas.count || vmas[i].start >= end
    }

    // MARK: changes (the caller realizes them in its AddressSpace through `realize`)

    /// Removes [start, end) from the VMA list; returns the removed pieces.
    @discardableResult
    func removeRange(_ start: UInt64, _ end: UInt64) -> [VMA] {
        var removed: [VMA] = []
        var i = firstIndex(endingAbove: start)
        while i < vmas.count && vmas[i].start < end {
            let v = vmas[i]
            vmas.remove(at: i)
            var insertAt = i
            if v.start < start {
                var left = v
                left.end = start
                vmas.insert(left, at: insertAt)
                insertAt += 1
            }
            if v.end > end {
                var right = v
                right.blockOffset += end - v.start
                right.fileOffset += end - v.start
                right.start = end
                vmas.insert(right, at: insertAt)
                insertAt += 1
            }
            var mid = v
            let s = max(v.start, start), e = min(v.end, end)
            mid.blockOffset += s - v.start
            mid.fileOffset += s - v.start
            mid.start = s
            mid.end = e
            if space != nil, let backing: AnyObject = mid.block ?? mid.pages { retired.append(Retired(version: version &+ 1, backing: backing)) }
            removed.append(mid)
            i = insertAt
        }
        if end > freeAreaFloor { freeAreaFloor = max(freeAreaFloor, min(end, mmapTop)) }
        changed(start, end)
        return removed
    }

    func insert(_ v: VMA) {
        removeRange(v.start, v.end)
        let i = firstIndex(endingAbove: v.start)
        vmas.insert(v, at: i)
        if v.start < freeAreaFloor && v.end >= freeAreaFloor { freeAreaFloor = v.start }
    }

    /// Records that [start, end) changed: a new version.
    private func changed(_ start: UInt64, _ end: UInt64) {
        version &+= 1
        if changes.count == MemoryManager.changeLogLength { changes.removeFirst(changes.count / 2) }
        changes.append((version, start, end))
    }

    /// The ranges changed since `realized`, merged; nil when the log no longer reaches back
    /// that far (the whole address space must be realized again).
    func changedRanges(since realized: UInt64) -> [(UInt64, UInt64)]? {
        guard realized != version else { return [] }
        guard let first = changes.first, first.version <= realized &+ 1, realized < version else { return nil }
        let ranges = changes.filter { $0.version > realized }.map { ($0.start, $0.end) }.sorted { $0.0 < $1.0 }
        var merged: [(UInt64, UInt64)] = []
        for r in ranges {
            if let last = merged.last, r.0 <= last.1 { merged[merged.count - 1].1 = max(last.1, r.1) } else { merged.append(r) }
        }
        return merged
    }

    /// Realizes whatever the MM maps in [start, end) (the caller unmapped it first).
    func realizeRange(_ start: UInt64, _ end: UInt64, in space: SpaceEdits) throws(LinuxErrno) {
        var i = firstIndex(endingAbove: start)
        while i < vmas.count && vmas[i].start < end {
            let v = vmas[i]
            if !v.beyondEOF { try realize(v, from: max(v.start, start), to: min(v.end, end), in: space) }
            i += 1
        }
    }

    /// The parts of [start, end) that are realized in platform address spaces, each with the
    /// protection it is realized with.
    func realizedPieces(_ start: UInt64, _ end: UInt64) -> [(start: UInt64, end: UInt64, protection: MemoryProtection)] {
        var out: [(start: UInt64, end: UInt64, protection: MemoryProtection)] = []
        var i = firstIndex(endingAbove: start)
        while i < vmas.count && vmas[i].start < end {
            let v = vmas[i]
            if !v.beyondEOF {
                let s = max(v.start, start), e = min(v.end, end), p = v.realizedProtection
                if let last = out.last, last.end == s, last.protection == p { out[out.count - 1].end = e } else { out.append((s, e, p)) }
            }
            i += 1
        }
        return out
    }

    /// Changes protection of [start, end); every page must be mapped (else ENOMEM).
    func changeProtection(_ start: UInt64, _ end: UInt64, _ prot: MemoryProtection, readImplied: Bool = false) throws(LinuxErrno) {
        var cursor = start
        var i = firstIndex(endingAbove: start)
        while cursor < end {
            guard i < vmas.count, vmas[i].start <= cursor else { throw .ENOMEM }
            if prot.contains(.write) && !vmas[i].mayWrite { throw .EACCES }
            cursor = vmas[i].end
            i += 1
        }
        let pieces = removeRange(start, end)
        for var p in pieces {
            p.protection = prot
            p.readImplied = readImplied
            let j = firstIndex(endingAbove: p.start)
            vmas.insert(p, at: j)
        }
    }

    /// mlock/munlock: marks [start, end) locked or not; every page must be mapped (ENOMEM).
    /// The mappings themselves do not change, so platform address spaces stay as realized
    /// (the version is kept).
    func setLocked(_ start: UInt64, _ end: UInt64, _ locked: Bool) throws(LinuxErrno) {
        guard covers(start, end) else { throw .ENOMEM }
        update(start, end) { $0.locked = locked }
    }

    /// The most VMAs an address space may hold, whatever /proc/sys/vm/max_map_count is set to
    /// (each costs the sentry's own memory; Tunables.mapCountCeiling). Joey keeps apart
    /// pieces Linux would merge (neighbouring anonymous mappings, each with a block of its
    /// own): Linux's default of 65530 is raised to what programs that need many mappings are
    /// told to set (Elasticsearch asks for 262144), while bounding what the sentry keeps.
    static let maxMappings = 262_144

    /// ENOMEM once the mappings are past `limit` (vm.max_map_count), as do_mmap checks
    /// map_count before a change that may add some (the host's bound leaves room for the one
    /// or two it adds: Tunables.mapCountCeiling). The mappings are counted as Linux counts
    /// them, pieces that continue each other once; the pieces themselves stay within what the
    /// host's stub and the sentry hold.
    func checkRoomForMappings(limit: Int) throws(LinuxErrno) {
        if vmas.count <= limit { return }
        guard vmas.count <= Tunables.mapCountCeiling, mappingCount() <= limit else { throw .ENOMEM }
    }

    /// The mappings as Linux counts them (and /proc/PID/maps lists them): runs of pieces that
    /// continue each other count once.
    func mappingCount() -> Int {
        var count = 0
        for i in vmas.indices where i == 0 || !vmas[i - 1].continues(into: vmas[i]) { count += 1 }
        return count
    }

    /// ENOMEM when unmapping [start, end) would split one mapping in two with `limit`
    /// (vm.max_map_count) mappings already made (do_vmi_align_munmap): an unmap that only
    /// trims or removes mappings may go ahead at the limit, to free what it can.
    func checkRoomForUnmap(_ start: UInt64, _ end: UInt64, limit: Int) throws(LinuxErrno) {
        guard let v = vma(containing: start), v.start < start, end < v.end, vmas.count >= limit else { return }
        if vmas.count < Tunables.mapCountCeiling && mappingCount() < limit { return }
        throw .ENOMEM
    }

    /// For each page of [start, end) (page-aligned), whether memory backs it: a page the
    /// MemoryFile holds for the mapping there (mincore's answer, and pagemap's present bit).
    /// Only what is already allocated counts: looking allocates nothing.
    func residentPages(_ start: UInt64, _ end: UInt64, memoryFile: MemoryFile) -> [Bool] {
        var vector = [Bool](repeating: false, count: Int((end - start) >> 12))
        func mark(_ address: UInt64, _ from: UInt64, _ to: UInt64, at backing: UInt64) {
            // [from, to) is resident in the MemoryFile; `backing` is where `address` lies.
            var page = (address + (from - backing)) & ~0xfff
            let last = address + (to - backing)
            while page < last {
                if page >= start && page < end { vector[Int((page - start) >> 12)] = true }
                page += 0x1000
            }
        }
        for v in vmas where v.end > start && v.start < end && !v.beyondEOF {
            let from = max(v.start, start), to = min(v.end, end)
            if let pages = v.pages {
                var at = from
                while at < to {
                    let fileOffset = v.fileOffset + (at - v.start)
                    let n = min(FilePages.chunkSize - fileOffset % FilePages.chunkSize, to - at)
                    if pages.residentBytes(from: fileOffset, to: fileOffset + n) > 0, let (o, _) = try? backing(v, at) {
                        memoryFile.forEachResidentRange(o, length: n) { mark(at, $0, $1, at: o) }
                    }
                    at += n
                }
            } else if v.mapsHostFile {
                // A host file's pages count as resident (HostFileImage.residentBytes).
                for page in stride(from: from, to: to, by: Int(MemoryFile.pageSize)) { vector[Int((page - start) >> 12)] = true }
            } else if let block = v.block {
                let o = v.fileStart + (from - v.start)
                block.file.forEachResidentRange(o, length: to - from) { mark(from, $0, $1, at: o) }
            }
        }
        return vector
    }

    /// Whether VMAs cover [start, end) without a hole.
    func covers(_ start: UInt64, _ end: UInt64) -> Bool {
        var cursor = start
        var i = firstIndex(endingAbove: start)
        while cursor < end {
            guard i < vmas.count, vmas[i].start <= cursor else { return false }
            cursor = vmas[i].end
            i += 1
        }
        return true
    }

    /// Whether every page of [start, end) is mapped.
    func isMapped(_ start: UInt64, _ end: UInt64) -> Bool {
        var cursor = start
        while cursor < end {
            guard let v = vma(containing: cursor) else { return false }
            cursor = v.end
        }
        return true
    }

    /// Whether a VMA meeting [start, end) is sealed (can_modify_mm).
    func anySealed(_ start: UInt64, _ end: UInt64) -> Bool {
        var i = firstIndex(endingAbove: start)
        while i < vmas.count && vmas[i].start < end {
            if vmas[i].sealed { return true }
            i += 1
        }
        return false
    }

    /// Changes an attribute the platform does not see (mlock, a memory policy) on the VMAs in
    /// [start, end), splitting them at its ends; nothing is realized again.
    func update(_ start: UInt64, _ end: UInt64, _ change: (inout VMA) -> Void) {
        let keep = (version, changes, retired.count)
        for var p in removeRange(start, end) {
            change(&p)
            vmas.insert(p, at: firstIndex(endingAbove: p.start))
        }
        (version, changes) = (keep.0, keep.1)
        retired.removeLast(retired.count - keep.2)
    }

    /// Locked bytes in [start, end) (all of them by default).
    func lockedBytes(_ start: UInt64 = 0, _ end: UInt64 = .max) -> UInt64 {
        var total: UInt64 = 0
        var i = firstIndex(endingAbove: start)
        while i < vmas.count && vmas[i].start < end {
            if vmas[i].locked { total += min(vmas[i].end, end) - max(vmas[i].start, start) }
            i += 1
        }
        return total
    }

    /// The child's address space for fork: shared memory is shared; private memory too, but
    /// copy-on-write in both (nothing is copied now). The parent's changed ranges are logged,
    /// so its contexts drop write permission before they run again.
    func fork() throws(LinuxErrno) -> MemoryManager {
        // Fresh memory for MADV_WIPEONFORK ranges first: nothing changes here if there is none.
        var wiped: [Int: MemoryBlock] = [:]
        for i in vmas.indices where vmas[i].wipeOnFork && !vmas[i].dontFork {
            wiped[i] = try MemoryBlock(file: memoryFile, length: vmas[i].end - vmas[i].start)
        }
        let child = MemoryManager(memoryFile: memoryFile, stackTop: stackTop, mmapTop: mmapTop)
        child.brkStart = brkStart; child.brkEnd = brkEnd
        child.argStart = argStart; child.argEnd = argEnd; child.envStart = envStart; child.envEnd = envEnd
        child.auxv = auxv
        child.syscallPatches = syscallPatches.copy()
        child.membarrierRegistrations = membarrierRegistrations
        child.executable = executable
        var counted = Set<ObjectIdentifier>()
        for i in vmas.indices {
            if vmas[i].dontFork { continue }
            if let fresh = wiped[i] {
                var c = vmas[i]
                (c.block, c.blockOffset, c.cow, c.locked) = (fresh, 0, false, false)
                child.vmas.append(c)
                continue
            }
            if !vmas[i].shared, let block = vmas[i].block {
                if counted.insert(ObjectIdentifier(block)).inserted { block.sharers.add(1, ordering: .relaxed) }
                if !vmas[i].cow {
                    vmas[i].cow = true
                    if vmas[i].protection.contains(.write) { changed(vmas[i].start, vmas[i].end) }
                }
            }
            var c = vmas[i]
            c.locked = false
            c.inherited = c.isPrivateAnonymous
            child.vmas.append(c)
        }
        return child
    }

    deinit {
        executable?.executing -= 1
        var counted = Set<ObjectIdentifier>()
        for v in vmas where !v.shared {
            if let block = v.block, counted.insert(ObjectIdentifier(block)).inserted { block.sharers.subtract(1, ordering: .relaxed) }
        }
        for r in retired where r.releasesSharer { (r.backing as? MemoryBlock)?.sharers.subtract(1, ordering: .relaxed) }
    }

    /// This MM starts counting among the sharers of `block` (a file's image it is about to
    /// map copy-on-write), unless a VMA of it already maps the block.
    func share(_ block: MemoryBlock) {
        if !vmas.contains(where: { $0.block === block }) { block.sharers.add(1, ordering: .relaxed) }
    }

    /// This MM stops counting among the sharers of `block`, which others still share, once
    /// no VMA of it maps any of the block (when the space no longer shows it: `retired`).
    /// True when it did.
    @discardableResult
    private func stopSharing(_ block: MemoryBlock) -> Bool {
        guard block.sharers.load(ordering: .relaxed) > 1, !vmas.contains(where: { $0.block === block }) else { return false }
        // Each call stands for one count this MM held (a block mapped again since counts anew).
        if space == nil {
            block.sharers.subtract(1, ordering: .relaxed)
        } else {
            retired.append(Retired(version: version, backing: block, releasesSharer: true))
        }
        return true
    }

    /// Pieces that left this MM (munmap, mremap, brk, a mapping over them): private memory
    /// only this MM used is zeroed, releasing its host pages (other VMAs may still hold the
    /// block); memory other address spaces share is left to them, and this MM stops
    /// counting among a block's sharers once it maps none of it.
    func release(_ pieces: [VMA]) {
        var dropped = Set<ObjectIdentifier>()
        for p in pieces where !p.shared {
            guard let block = p.block, !dropped.contains(ObjectIdentifier(block)) else { continue }
            if block.sharers.load(ordering: .relaxed) > 1 {
                if stopSharing(block) { dropped.insert(ObjectIdentifier(block)) }
            } else {
                memoryFile.zero(p.fileStart, length: p.end - p.start)
            }
        }
    }

    /// Copy-on-write break granularity: the aligned chunk around a write is copied.
    static let copyChunk: UInt64 = 64 << 10

    /// Makes the private memory at `address` writable for this MM alone, when it is
    /// copy-on-write: if no other address space holds its block, every VMA of this MM on that
    /// block is simply no longer copy-on-write; otherwise the `chunk` around `address` (the
    /// whole VMA when small and the chunk the default) is copied to a new block. False when `address` is not in a
    /// copy-on-write VMA (or in a part past a file's end). ENOMEM when no memory is left.
    @discardableResult
    func breakCopyOnWrite(at address: UInt64, chunk: UInt64 = MemoryManager.copyChunk) throws(LinuxErrno) -> Bool {
        let i = firstIndex(endingAbove: address)
        guard i < vmas.count, vmas[i].start <= address, vmas[i].cow, !vmas[i].beyondEOF, let block = vmas[i].block else { return false }
        if block.sharers.load(ordering: .relaxed) <= 1 {
            for j in vmas.indices where vmas[j].cow && vmas[j].block === block {
                vmas[j].cow = false
                if vmas[j].protection.contains(.write) && !vmas[j].beyondEOF { changed(vmas[j].start, vmas[j].end) }
            }
            return true
        }
        let v = vmas[i]
        var start = max(v.start, address & ~(chunk - 1))
        var end = min(v.end, start + chunk)
        if chunk == MemoryManager.copyChunk, v.end - v.start <= 4 * chunk { start = v.start; end = v.end }
        try privatize(v, start, end, copy: true)
        return true
    }

    /// Copies `length` bytes of block-backed `v` from `address` to MemoryFile offset `to`
    /// (fresh memory). From a host file's view, pages past the end of a file that shrank
    /// since stay zeroes (Linux would have the writing thread take SIGBUS).
    func copyBlockMemory(_ v: VMA, from address: UInt64, length: UInt64, to offset: UInt64) throws(LinuxErrno) {
        if v.mapsHostFile {
            _ = memoryFile.copyMakingRoom(memoryFile.pointer(offset), v.pointer(address), Int(length))
        } else {
            try memoryFile.copy(from: v.fileStart + (address - v.start), to: offset, length: length)
        }
    }

    /// Gives [start, end) of `v` (a private VMA) a new block of its own, holding a copy of
    /// its data or zeros; no longer copy-on-write.
    func privatize(_ v: VMA, _ start: UInt64, _ end: UInt64, copy: Bool) throws(LinuxErrno) {
        let fresh = try MemoryBlock(file: memoryFile, length: end - start)
        if copy { try copyBlockMemory(v, from: start, length: end - start, to: fresh.offset) }
        var piece = v
        piece.start = start; piece.end = end
        piece.block = fresh; piece.blockOffset = 0
        piece.fileOffset = v.fileOffset + (start - v.start)
        piece.cow = false
        insert(piece)
        if let old = v.block { stopSharing(old) }
    }

    private init(memoryFile: MemoryFile, stackTop: UInt64, mmapTop: UInt64) {
        self.memoryFile = memoryFile
        self.stackTop = stackTop
        self.mmapTop = mmapTop
    }

    /// The address space, made on `platform` the first time.
    func addressSpace(on platform: Platform) throws(PlatformError) -> AddressSpace {
        if let space { return space }
        let s = try platform.newAddressSpace(memoryFile: memoryFile)
        space = s
        spaceState = .fresh
        return s
    }

    /// Takes over `other`'s address space (execve), to be realized afresh.
    func adoptSpace(from other: MemoryManager) {
        guard space == nil, let s = other.space else { return }
        other.space = nil
        space = s
        spaceState = .stale
        // The stub maps the old MM's memory until this MM's first sync (whose ops are made
        // after any of the old MM's still in flight). Its ops not handed over are moot.
        retired = other.retired.map { Retired(version: 0, backing: $0.backing, releasesSharer: $0.releasesSharer) }
            + other.vmas.compactMap { v -> AnyObject? in v.block ?? v.pages }.map { Retired(version: 0, backing: $0) }
        other.retired = []
        other.pendingOps = []
    }

    /// The space, when it reflects every change so far or will once the pending ops are
    /// made (a change can then be realized by ops of its own: `addOps`).
    var liveSpace: AddressSpace? {
        spaceState == .realized && (pendingOps.isEmpty ? realizedVersion : pendingVersion) == version && opsInFlight == 0 ? space : nil
    }

    /// The ops realizing the latest change, worked out while the space was live: handed to the
    /// platform before any others (at the latest, before a thread of the space runs again).
    func addOps(_ ops: [SpaceOp]) {
        pendingOps += ops
        pendingVersion = version
    }

    /// Whether ops are still to be handed over or made: a thread that entered the guest
    /// meanwhile may fault on a change not realized yet.
    var lagging: Bool { !pendingOps.isEmpty || opsInFlight > 0 || realizedVersion != version || spaceState != .realized }

    /// Hands `ops` to the platform and, once made, counts the space as realized up to `target`
    /// (unless a platform failure came in between). With `kernel`, its lock is let go while a
    /// stub makes them; returns whether it was.
    private func apply(_ ops: [SpaceOp], to space: AddressSpace, target: UInt64, kernel: Kernel?, full: Bool) throws(LinuxErrno) -> Bool {
        let failuresBefore = failures
        handedVersion = max(handedVersion, target)
        opsInFlight += 1
        defer {
            opsInFlight -= 1
            opsMade.notify(.readable)
        }
        var letGo = false
        do {
            if let kernel {
                var me: GuestThread?
                try space.apply(ops, whileWaiting: (letGo: { me = kernel.current; letGo = true; kernel.lock.unlock() },
                                                    retake: { kernel.lock.lock(); kernel.current = me }))
            } else {
                try space.apply(ops, whileWaiting: nil)
            }
        } catch {
            failures &+= 1
            spaceState = .stale
            throw error
        }
        guard failures == failuresBefore, full || spaceState == .realized else { return letGo }
        spaceState = .realized
        realizedVersion = max(realizedVersion, target)
        retired.removeAll { r in
            guard r.version <= target else { return false }
            if r.releasesSharer { (r.backing as? MemoryBlock)?.sharers.subtract(1, ordering: .relaxed) }
            return true
        }
        return letGo
    }

    /// Hands the pending ops to the platform (see `apply`).
    private func flush(kernel: Kernel?) throws(LinuxErrno) -> Bool {
        guard !pendingOps.isEmpty, let space else { return false }
        let ops = pendingOps
        pendingOps = []
        return try apply(ops, to: space, target: pendingVersion, kernel: kernel, full: false)
    }

    /// Brings the space up to date with the MM: every thread running in it sees the changes
    /// from here on (once ops another thread handed over are made: see `lagging`). A failure
    /// leaves it to be realized afresh at the next call. With `kernel`, its lock is let go
    /// while a stub makes the ops (the caller holds no kernel state across the call).
    /// `keepingPending`: pending ops that cover every change are left for the thread that
    /// made them to hand over before it runs. Without `kernel`, ops another thread handed
    /// over are made before it returns too. Returns whether the kernel lock was let go.
    @discardableResult
    func syncSpace(kernel: Kernel? = nil, keepingPending: Bool = false) throws(LinuxErrno) -> Bool {
        guard let space else { return false }
        if spaceState == .realized {
            if pendingOps.isEmpty && realizedVersion == version { return false }
            if pendingOps.isEmpty && handedVersion == version {
                // In flight: a caller keeping the lock waits for them (the space's own lock
                // is had only once they are made); one letting it go runs meanwhile.
                if kernel == nil { try? space.apply([], whileWaiting: nil) }
                return false
            }
            if keepingPending && pendingVersion == version { return false }
        }
        // Ops worked out earlier go first.
        let flushed = try flush(kernel: kernel)
        guard spaceState != .realized || (realizedVersion != version && handedVersion != version) else { return flushed }
        let state = spaceState
        let target = version
        // A whole realization in flight: another one meanwhile must empty the space first.
        if state == .fresh { spaceState = .stale }
        let edits = SpaceEdits()
        do {
            if state == .realized, let ranges = changedRanges(since: realizedVersion) {
                for (start, end) in ranges {
                    edits.unmap(start, length: end - start)
                    try realizeRange(start, end, in: edits)
                }
            } else {
                if state != .fresh { edits.unmapAll() }
                try realizeAll(in: edits)
            }
        } catch {
            failures &+= 1
            spaceState = .stale
            throw error
        }
        return try apply(edits.ops, to: space, target: target, kernel: kernel, full: state != .realized) || flushed
    }

    /// Maps every VMA into an address space that holds nothing yet.
    func realizeAll(in space: SpaceEdits) throws(LinuxErrno) {
        for v in vmas where !v.beyondEOF {
            try realize(v, from: v.start, to: v.end, in: space)
        }
    }
}

/// Changes to a platform address space, worked out under the kernel lock and handed over
/// together afterwards (MemoryManager.addOps, syncSpace), in this order.
final class SpaceEdits {
    private(set) var ops: [SpaceOp] = []
    func map(_ address: UInt64, length: UInt64, fileOffset: UInt64, protection: MemoryProtection) {
        ops.append(.map(address: address, length: length, fileOffset: fileOffset, protection: protection))
    }
    func unmap(_ address: UInt64, length: UInt64) { ops.append(.unmap(address: address, length: length)) }
    func protect(_ address: UInt64, length: UInt64, protection: MemoryProtection) {
        ops.append(.protect(address: address, length: length, protection: protection))
    }
    func unmapAll() { ops.append(.unmapAll) }
    func mapHost(_ address: UInt64, length: UInt64, image: HostFileImage, offset: UInt64, protection: MemoryProtection) {
        ops.append(.mapHost(address: address, length: length, image: image, offset: offset, protection: protection))
    }
}
