// MM/ owns guest memory: address spaces (MemoryManager), IO sequences that copy to and from
// them at copy time, and the page cache (FilePages) of files that live in the sandbox, all
// in the one MemoryFile. Guarded by the kernel lock; MemoryFile's allocator lock is taken
// inside it, never the other way round.
//
// MemoryManager: one guest address space as a sorted list of VMAs over MemoryFile blocks
// (anonymous and private memory) or over a file's page cache (MAP_SHARED file mappings).
// Every change is realized immediately in the calling thread's platform AddressSpace;
// other contexts sharing this MM resynchronize from `version` before they next run.
import JoeyABI
import JoeyPlatform

/// A MemoryFile allocation, freed when the last VMA referencing it goes away.
final class MemoryBlock {
    let file: MemoryFile
    let offset: UInt64
    let length: UInt64
    init(file: MemoryFile, length: UInt64) throws(LinuxErrno) {
        self.file = file
        self.length = MemoryFile.roundUp(length)
        self.offset = try file.allocate(length)
    }
    deinit { file.free(offset, length: length) }
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
    var name: String
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
    /// mlock: counted against RLIMIT_MEMLOCK and shown as VmLck (VM_LOCKED). Not inherited by fork.
    var locked = false

    init(start: UInt64, end: UInt64, protection: MemoryProtection, shared: Bool, block: MemoryBlock?,
         blockOffset: UInt64, name: String, fileOffset: UInt64, inodeNumber: UInt64, writeBack: FileDescription?,
         growsDown: Bool = false, pages: FilePages? = nil) {
        self.start = start; self.end = end; self.protection = protection; self.shared = shared
        self.block = block; self.blockOffset = blockOffset; self.name = name; self.fileOffset = fileOffset
        self.inodeNumber = inodeNumber; self.writeBack = writeBack; self.growsDown = growsDown; self.pages = pages
    }

    /// MemoryFile offset of `start` for block-backed VMAs.
    var fileStart: UInt64 { block!.offset + blockOffset }
}

public final class MemoryManager {
    let memoryFile: MemoryFile
    private(set) var vmas: [VMA] = []
    /// Bumped on every mapping change; contexts compare it to know they are stale.
    private(set) var version: UInt64 = 0
    var brkStart: UInt64 = 0
    var brkEnd: UInt64 = 0
    let mmapTop: UInt64
    let mmapBottom: UInt64 = 0x10000
    let stackTop: UInt64
    var argStart: UInt64 = 0, argEnd: UInt64 = 0, envStart: UInt64 = 0, envEnd: UInt64 = 0
    /// The auxiliary vector the loader built, for /proc/pid/auxv.
    var auxv: [(UInt64, UInt64)] = []

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

    /// The MemoryFile range behind `address` (inside `v`): its offset and how many bytes are
    /// contiguous from there, up to the VMA's end. A page-cache chunk is allocated on demand;
    /// failing that (the sandbox's memory limit) the access is EFAULT.
    func backing(_ v: VMA, _ address: UInt64, writing: UInt64 = 0) throws(LinuxErrno) -> (offset: UInt64, length: UInt64) {
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

    /// Maps [from, to) of `v` into `space`, piece by contiguous MemoryFile piece.
    func realize(_ v: VMA, from: UInt64, to: UInt64, in space: AddressSpace) throws(LinuxErrno) {
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
            try space.map(cursor, length: length, fileOffset: offset, protection: v.protection)
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

    /// Finds a free range of `length` bytes, top-down below mmapTop (or at `hint` if free).
    func findFree(length: UInt64, hint: UInt64 = 0) -> UInt64? {
        guard length <= mmapTop - mmapBottom else { return nil }
        if hint != 0, hint >= mmapBottom, !hint.addingReportingOverflow(length).overflow, hint + length <= stackTop,
           isFree(hint, hint + length) { return hint }
        var top = mmapTop
        var i = firstIndex(endingAbove: top) - 1
        if i + 1 < vmas.count, vmas[i + 1].start < top { top = min(top, vmas[i + 1].start) }
        while top >= length + mmapBottom {
            let lowest = i >= 0 ? vmas[i].end : mmapBottom
            if top - lowest >= length { return top - length }
            guard i >= 0 else { return nil }
            top = vmas[i].start
            i -= 1
        }
        return nil
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
            removed.append(mid)
            i = insertAt
        }
        version &+= 1
        return removed
    }

    func insert(_ v: VMA) {
        removeRange(v.start, v.end)
        let i = firstIndex(endingAbove: v.start)
        vmas.insert(v, at: i)
        version &+= 1
    }

    /// The parts of [start, end) that are realized in platform address spaces.
    func realizedRanges(_ start: UInt64, _ end: UInt64) -> [(UInt64, UInt64)] {
        var out: [(UInt64, UInt64)] = []
        var i = firstIndex(endingAbove: start)
        while i < vmas.count && vmas[i].start < end {
            let v = vmas[i]
            if !v.beyondEOF {
                let s = max(v.start, start), e = min(v.end, end)
                if let last = out.last, last.1 == s { out[out.count - 1].1 = e } else { out.append((s, e)) }
            }
            i += 1
        }
        return out
    }

    /// Changes protection of [start, end); every page must be mapped (else ENOMEM).
    func changeProtection(_ start: UInt64, _ end: UInt64, _ prot: MemoryProtection) throws(LinuxErrno) {
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
            let j = firstIndex(endingAbove: p.start)
            vmas.insert(p, at: j)
        }
        version &+= 1
    }

    /// mlock/munlock: marks [start, end) locked or not; every page must be mapped (ENOMEM).
    /// The mappings themselves do not change, so platform address spaces stay as realized
    /// (the version is kept).
    func setLocked(_ start: UInt64, _ end: UInt64, _ locked: Bool) throws(LinuxErrno) {
        var cursor = start
        var i = firstIndex(endingAbove: start)
        while cursor < end {
            guard i < vmas.count, vmas[i].start <= cursor else { throw .ENOMEM }
            cursor = vmas[i].end
            i += 1
        }
        let keep = version
        for var p in removeRange(start, end) {
            p.locked = locked
            vmas.insert(p, at: firstIndex(endingAbove: p.start))
        }
        version = keep
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

    /// A copy for fork: private memory is copied eagerly (holes skipped), shared memory shared.
    func fork() throws(LinuxErrno) -> MemoryManager {
        let child = MemoryManager(memoryFile: memoryFile, stackTop: stackTop, mmapTop: mmapTop)
        child.brkStart = brkStart; child.brkEnd = brkEnd
        child.argStart = argStart; child.argEnd = argEnd; child.envStart = envStart; child.envEnd = envEnd
        child.auxv = auxv
        var copies: [ObjectIdentifier: MemoryBlock] = [:]
        for v in vmas {
            var c = v
            c.locked = false
            if !v.shared {
                // Blocks split among several VMAs are copied once.
                let key = ObjectIdentifier(v.block!)
                let block: MemoryBlock
                if let b = copies[key] {
                    block = b
                } else {
                    block = try MemoryBlock(file: memoryFile, length: v.block!.length)
                    copies[key] = block
                }
                memoryFile.copy(from: v.fileStart, to: block.offset + v.blockOffset, length: v.end - v.start)
                c.block = block
            }
            child.vmas.append(c)
        }
        return child
    }

    private init(memoryFile: MemoryFile, stackTop: UInt64, mmapTop: UInt64) {
        self.memoryFile = memoryFile
        self.stackTop = stackTop
        self.mmapTop = mmapTop
    }

    /// Maps every VMA into an address space that holds nothing yet.
    func realizeAll(in space: AddressSpace) throws(LinuxErrno) {
        for v in vmas where !v.beyondEOF {
            try realize(v, from: v.start, to: v.end, in: space)
        }
    }
}
