// FilePages: the page cache of one file that lives in the sandbox (tmpfs, the overlay's
// upper layer, /dev/shm, copied-up files). Its data sits in MemoryFile chunks allocated when
// first written or mapped, so holes cost nothing and a 100 GiB sparse file costs no memory.
// read/write and every MAP_SHARED mapping use the same chunks: a store through a mapping
// is what read() returns, in every process. Kernel lock held throughout, except while a
// copy-up fills a cache nobody else sees yet (fill, RegularFileInode.copyUp).
//
// A write-through host file that has MAP_SHARED mappings gets one too, with a `host`
// loader: there a chunk not allocated yet holds what the host file holds, and is read from
// it when first needed; the owner writes changed ranges back (RegularFileInode).
import Glibc
import JoeyABI
import JoeyPlatform

final class FilePages {
    /// Chunks are contiguous in the MemoryFile; a mapping is realized chunk by chunk.
    static let chunkSize: UInt64 = 64 << 10
    /// What file data leaves free under a memory limit for the processes to go on.
    static let processRoom: UInt64 = 2 << 20
    /// The largest file (Linux's tmpfs limit, MAX_LFS_FILESIZE).
    static let maxSize = UInt64(Int64.max)

    let memoryFile: MemoryFile
    /// The filesystem the file is on: its pages count there (statfs, tmpfs's size=).
    let fs: FileSystemID?
    /// The file's size; data past it reads as nothing.
    private(set) var size: UInt64 = 0
    private struct Chunk {
        /// Where the chunk lies in the MemoryFile.
        var offset: UInt64
        /// Pages written through read/write or a sentry copy (st_blocks); stores through a
        /// guest mapping are not seen, so this can under-count, never over-count.
        var written: UInt16
    }
    private var chunks: [UInt64: Chunk] = [:]
    /// Reads `count` bytes of the host file at an offset into a pointer, returning how many
    /// (short at its end); nil for files that live in the sandbox, whose missing chunks are holes.
    typealias HostLoader = (_ offset: UInt64, _ into: UnsafeMutableRawPointer, _ count: Int) throws(LinuxErrno) -> Int
    private let host: HostLoader?

    init(memoryFile: MemoryFile, fs: FileSystemID?) { self.memoryFile = memoryFile; self.fs = fs; host = nil }

    /// The cache of a host file of `size` bytes, filled from `host` chunk by chunk.
    init(memoryFile: MemoryFile, hostFileOfSize size: UInt64, host: @escaping HostLoader) {
        self.memoryFile = memoryFile; fs = nil; self.size = size; self.host = host
    }

    deinit {
        for (_, c) in chunks { memoryFile.free(c.offset, length: FilePages.chunkSize) }
        uncharge(chunks.values.reduce(0) { $0 + UInt64($1.written.nonzeroBitCount) })
    }

    private func uncharge(_ pages: UInt64) {
        if let fs, pages > 0 { fs.usedBytes.subtract(pages * MemoryFile.pageSize, ordering: .relaxed) }
    }

    /// How many of the `count` bytes at `offset` (within one chunk) fit in the filesystem's
    /// size: pages already written are free, each new one costs a page. ENOSPC if none fit.
    private func room(_ offset: UInt64, _ count: Int) throws(LinuxErrno) -> Int {
        guard let fs, let capacity = fs.capacity, count > 0 else { return count }
        let used = fs.usedBytes.load(ordering: .relaxed)
        var free = capacity > used ? (capacity - used) / MemoryFile.pageSize : 0
        let written = chunks[offset / FilePages.chunkSize]?.written ?? 0
        var pos = offset
        let end = offset + UInt64(count)
        while pos < end {
            let page = (pos % FilePages.chunkSize) / MemoryFile.pageSize
            if written & (1 << UInt16(page)) == 0 {
                if free == 0 { break }
                free -= 1
            }
            pos = (pos / MemoryFile.pageSize + 1) * MemoryFile.pageSize
        }
        let fits = Int(min(pos, end) - offset)
        if fits == 0 { throw .ENOSPC }
        return fits
    }

    /// The chunks held in file range [from, to), in file order. A file may be 2^63 - 1 bytes
    /// long and hold one chunk, so a long range is answered from what is held, never walked.
    private func held(from: UInt64, to: UInt64) -> [(index: UInt64, chunk: Chunk)] {
        guard from < to else { return [] }
        let first = from / FilePages.chunkSize, last = (to - 1) / FilePages.chunkSize
        if last - first < UInt64(chunks.count) {
            return (first...last).compactMap { i in chunks[i].map { (i, $0) } }
        }
        return chunks.filter { $0.key >= first && $0.key <= last }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Bytes of file range [from, to) backed by MemoryFile pages, allocating nothing.
    func residentBytes(from: UInt64, to: UInt64) -> UInt64 {
        var total: UInt64 = 0
        for (index, c) in held(from: from, to: to) {
            let start = index * FilePages.chunkSize
            let lo = max(from, start), hi = min(to, start + FilePages.chunkSize)
            total += memoryFile.residentBytes(c.offset + (lo - start), length: hi - lo)
        }
        return total
    }

    /// SEEK_DATA (`data`) or SEEK_HOLE as Linux's tmpfs answers them (mapping_seek_hole_data):
    /// data is what MemoryFile pages hold (written, or stored through a mapping; fallocate's
    /// unwritten pages are holes, as the MemoryFile's are); the first data or hole at or after
    /// `from`, the end counting as a hole. nil: `from` is at or past the end, or no data
    /// follows (ENXIO). A range no chunk holds is a hole, or in a host file's cache the host's
    /// data not loaded yet.
    func seek(from: UInt64, data: Bool) -> UInt64? {
        guard from < size else { return nil }
        let unheldIsData = host != nil
        var pos = from
        for (index, c) in held(from: from, to: size) {
            let start = index * FilePages.chunkSize
            if pos < start {
                if unheldIsData == data { return pos }
                pos = start
            }
            let end = min(start + FilePages.chunkSize, size)
            // The first run of pages held in [pos, end), as file offsets.
            var run: (start: UInt64, end: UInt64)?
            memoryFile.forEachResidentRange(c.offset + (pos - start), length: end - pos) { s, e in
                if run == nil { run = (s - c.offset + start, e - c.offset + start) }
            }
            if data {
                if let run { return run.start }
            } else {
                guard let run, run.start == pos else { return pos }
                if run.end < end { return run.end }
            }
            pos = end
        }
        if pos < size && unheldIsData == data { return pos }
        return data ? nil : size
    }

    /// st_blocks: 512-byte blocks of the pages written.
    var blocks: UInt64 { chunks.values.reduce(0) { $0 + UInt64($1.written.nonzeroBitCount) } * (MemoryFile.pageSize / 512) }

    /// The MemoryFile offset of chunk `index`, allocating it (zeroed) when `allocate`.
    /// ENOSPC when the sandbox's memory limit is reached.
    private func chunk(_ index: UInt64, allocate: Bool) throws(LinuxErrno) -> UInt64? {
        if let c = chunks[index] { return c.offset }
        guard allocate else { return nil }
        // File data stops short of the limit, so it alone never sets off the OOM killer: it
        // leaves the processes room to go on (a heap that grows, pages a fork shares that one
        // of them writes and so copies), up to 2 MiB.
        if let limit = memoryFile.limit,
           memoryFile.residentBytes() + FilePages.chunkSize + min(limit / 32, FilePages.processRoom) > limit { throw .ENOSPC }
        let c = try memoryFile.allocate(FilePages.chunkSize)
        if let host {
            let start = index * FilePages.chunkSize
            var done = 0
            let want = Int(min(FilePages.chunkSize, size > start ? size - start : 0))
            do throws(LinuxErrno) {
                while done < want {
                    let n: Int
                    do throws(LinuxErrno) {
                        n = try host(start + UInt64(done), memoryFile.pointer(c + UInt64(done)), want - done)
                    } catch {
                        // No page for the host to read into, at the memory limit: the OOM killer.
                        if error == .EFAULT, memoryFile.madeRoomAfterEFAULT() { continue }
                        throw error
                    }
                    if n == 0 { break }
                    done += n
                }
            } catch {
                memoryFile.free(c, length: FilePages.chunkSize)
                throw error
            }
        }
        chunks[index] = Chunk(offset: c, written: 0)
        return c
    }

    /// The MemoryFile range behind file offset `offset`: its start and how many bytes are
    /// contiguous from there (to the end of the chunk). Allocates the chunk; the first
    /// `writing` bytes (within the chunk) are marked written.
    func backing(_ offset: UInt64, writing: UInt64 = 0) throws(LinuxErrno) -> (offset: UInt64, length: UInt64) {
        let index = offset / FilePages.chunkSize
        let within = offset % FilePages.chunkSize
        let c = try chunk(index, allocate: true)!
        let length = FilePages.chunkSize - within
        if writing > 0 { markWritten(offset, offset + min(writing, length)) }
        return (c + within, length)
    }

    /// Writes of at least this much into pages not written yet go through pwrite
    /// (IOSequence.copyIn(toMemoryFile:)); smaller ones, and overwrites, are plain copies.
    static let pwriteMinimum = 8192

    /// Whether the page holding file offset `offset` has been written.
    private func isWritten(_ offset: UInt64) -> Bool {
        let page = (offset % FilePages.chunkSize) / MemoryFile.pageSize
        return (chunks[offset / FilePages.chunkSize]?.written ?? 0) & (1 << UInt16(page)) != 0
    }

    /// Marks the pages of [from, to) inside one chunk written.
    private func markWritten(_ from: UInt64, _ to: UInt64) {
        guard to > from else { return }
        let index = from / FilePages.chunkSize
        let first = (from % FilePages.chunkSize) / MemoryFile.pageSize
        let last = ((to - 1) % FilePages.chunkSize) / MemoryFile.pageSize
        guard let before = chunks[index]?.written else { return }
        var after = before
        for page in first...last { after |= 1 << UInt16(page) }
        chunks[index]!.written = after
        if let fs, after != before {
            fs.usedBytes.add(UInt64(after.nonzeroBitCount - before.nonzeroBitCount) * MemoryFile.pageSize, ordering: .relaxed)
        }
    }

    /// read(2) at `offset`: copies [offset, size) into `dst`; holes read as zeros.
    func read(_ dst: inout IOSequence, at offset: UInt64) throws(LinuxErrno) -> Int {
        guard offset < size else { return 0 }
        let total = Int(min(UInt64(dst.count), size - offset))
        var done = 0
        while done < total {
            let pos = offset + UInt64(done)
            let within = pos % FilePages.chunkSize
            let n = min(total - done, Int(FilePages.chunkSize - within))
            let copied: Int
            do {
                if let c = try chunk(pos / FilePages.chunkSize, allocate: host != nil) {
                    if host == nil {
                        copied = try copyOut(chunk: pos / FilePages.chunkSize, at: c, within: within, count: n, into: &dst)
                    } else {
                        copied = try dst.copyOut(UnsafeRawBufferPointer(start: memoryFile.pointer(c + within), count: n))
                    }
                } else {
                    copied = try dst.zero(n)
                }
            } catch {
                if done > 0 { return done }
                throw error
            }
            done += copied
            if copied < n { break }
        }
        return done
    }

    /// Copies `count` bytes from `within` chunk `index` (at `c` in the MemoryFile) into `dst`
    /// without touching a page nothing was stored to: read through the sentry's shared
    /// mapping, a hole would make the host allocate a page (reading a sparse file would fill
    /// memory, and SEEK_DATA then find data in its holes: LTP's lseek11). Pages written
    /// through write(2) are copied straight; the others only where the MemoryFile holds data
    /// (a store through a mapping), the rest read as zeros.
    private func copyOut(chunk index: UInt64, at c: UInt64, within: UInt64, count: Int, into dst: inout IOSequence) throws(LinuxErrno) -> Int {
        let written = chunks[index]?.written ?? 0
        func isWritten(_ offset: UInt64) -> Bool { written & (1 << UInt16(offset / MemoryFile.pageSize)) != 0 }
        let end = within + UInt64(count)
        var pos = within, done = 0
        func put(_ from: UInt64, _ to: UInt64, data: Bool) throws(LinuxErrno) -> Bool {
            guard to > from else { return true }
            let n = Int(to - from)
            let k = data ? try dst.copyOut(UnsafeRawBufferPointer(start: memoryFile.pointer(c + from), count: n)) : try dst.zero(n)
            done += k
            return k == n
        }
        while pos < end {
            // A run of pages alike: all written, or none.
            let kind = isWritten(pos)
            var runEnd = min(MemoryFile.roundDown(pos) + MemoryFile.pageSize, end)
            while runEnd < end && isWritten(runEnd) == kind { runEnd = min(runEnd + MemoryFile.pageSize, end) }
            if kind {
                guard try put(pos, runEnd, data: true) else { return done }
            } else {
                var held: [(UInt64, UInt64)] = []
                memoryFile.forEachResidentRange(c + pos, length: runEnd - pos) { held.append(($0 - c, $1 - c)) }
                var at = pos
                for (s, e) in held {
                    guard try put(at, s, data: false), try put(s, e, data: true) else { return done }
                    at = e
                }
                guard try put(at, runEnd, data: false) else { return done }
            }
            pos = runEnd
        }
        return done
    }

    /// write(2) at `offset`: copies `src` in, growing the file. EFBIG past the largest size;
    /// ENOSPC when the sandbox's memory limit is reached.
    func write(_ src: inout IOSequence, at offset: UInt64) throws(LinuxErrno) -> Int {
        guard offset < FilePages.maxSize else { throw .EFBIG }
        let total = Int(min(UInt64(src.count), FilePages.maxSize - offset))
        var done = 0
        while done < total {
            let pos = offset + UInt64(done)
            let copied: Int
            do {
                // The room is checked before the chunk is allocated: a write the size refuses
                // leaves nothing behind.
                let within = Int(FilePages.chunkSize - pos % FilePages.chunkSize)
                let n = try room(pos, min(total - done, within))
                let (c, _) = try backing(pos)
                if n >= FilePages.pwriteMinimum && !isWritten(pos) {
                    copied = try src.copyIn(toMemoryFile: memoryFile, at: c, count: n)
                } else {
                    copied = try src.copyIn(UnsafeMutableRawBufferPointer(start: memoryFile.pointer(c), count: n))
                }
                markWritten(pos, pos + UInt64(copied))
                done += copied
                if copied < n { break }
            } catch {
                if done > 0 { break }
                throw error
            }
        }
        size = max(size, offset + UInt64(done))
        return done
    }

    /// Copies [offset, offset+count) into zeroed MemoryFile memory at `destination` (a private
    /// mapping's copy), skipping holes, so mapping a sparse file privately costs nothing.
    func copy(at offset: UInt64, count: UInt64, toMemoryFile destination: UInt64) throws(LinuxErrno) {
        let end = min(offset + count, size)
        if host == nil {
            for (index, c) in held(from: offset, to: end) {
                let start = index * FilePages.chunkSize
                let lo = max(offset, start), hi = min(end, start + FilePages.chunkSize)
                try memoryFile.copy(from: c.offset + (lo - start), to: destination + (lo - offset), length: hi - lo)
            }
            return
        }
        var pos = offset
        while pos < end {
            let within = pos % FilePages.chunkSize
            let n = min(FilePages.chunkSize - within, end - pos)
            if let c = try chunk(pos / FilePages.chunkSize, allocate: host != nil) {
                try memoryFile.copy(from: c + within, to: destination + (pos - offset), length: n)
            }
            pos += n
        }
    }

    /// Copies bytes [start, count) of a host file into the cache (the overlay's copy-up).
    /// Returns how far it got, and whether it stopped for want of a page at the memory limit:
    /// with `makingRoom` the OOM killer (which needs the kernel lock) makes room and the copy
    /// goes on; without, the caller makes room and calls again. Changes nothing outside this
    /// cache, so a cache nobody else sees yet may be filled with the kernel lock let go.
    /// The host file is read through a populated read-only view of it, FilePages.fillWindow at
    /// a time, written into the cache with pwrite: the host kernel allocates each page as it
    /// copies into it (a pread through the sentry's mapping faulted and zeroed each first:
    /// 200 MB took 0.8 ms/MB). A file that cannot be mapped is read with pread.
    func fill(fromHost fd: Int32, count: UInt64, from start: UInt64 = 0, makingRoom: Bool = true) throws(LinuxErrno) -> (done: UInt64, full: Bool) {
        var pos = start
        defer { size = max(size, pos) }
        var window: (start: UInt64, length: Int, view: UnsafeMutableRawPointer)?
        defer { if let window { munmap(window.view, window.length) } }
        while pos < count {
            let (c, contiguous) = try backing(pos)
            let want = Int(min(contiguous, count - pos))
            if window == nil || pos >= window!.start + UInt64(window!.length) {
                if let old = window { munmap(old.view, old.length); window = nil }
                let from = pos & ~(FilePages.fillWindow - 1)
                let length = Int(min(FilePages.fillWindow, (count + MemoryFile.pageSize - 1) / MemoryFile.pageSize * MemoryFile.pageSize - from))
                if let v = mmap(nil, length, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, off_t(from)), v != MAP_FAILED {
                    window = (from, length, v)
                }
            }
            let n: Int
            var e: Int32 = 0
            if let w = window {
                // Within the window: a chunk's piece never crosses a window's end (both are
                // multiples of the chunk size); a host file that shrank gives a short write
                // here, never a SIGBUS in the sentry.
                n = pwrite(memoryFile.fd, w.view + Int(pos - w.start), want, off_t(c))
                e = errno
                if n < 0, e == ENOSPC { // no page
                    if !makingRoom { return (pos, true) }
                    if memoryFile.madeRoomAfterEFAULT() { continue }
                }
                if n < 0 && e == EFAULT { break } // shrank
            } else {
                n = pread(fd, memoryFile.pointer(c), want, off_t(pos))
                e = errno
                if n < 0, e == EFAULT { // no page
                    if !makingRoom { return (pos, true) }
                    if memoryFile.madeRoomAfterEFAULT() { continue }
                }
            }
            if n < 0 { throw LinuxErrno(e) }
            if n == 0 { break }
            // A short write goes on: the next says why it stopped (ENOSPC: room is made;
            // EFAULT: the file shrank).
            markWritten(pos, pos + UInt64(n))
            pos += UInt64(n)
        }
        return (pos, false)
    }
    static let fillWindow: UInt64 = 2 << 20

    /// Writes file range [from, to), up to the size, to the host file `fd`: the chunks this
    /// cache holds (the others are what the host file holds already).
    func writeBack(toHost fd: Int32, from: UInt64 = 0, to: UInt64 = .max) throws(LinuxErrno) {
        let end = min(to, size)
        for (index, c) in held(from: from, to: end) {
            let start = index * FilePages.chunkSize
            let pos = max(from, start), within = pos - start
            let n = Int(min(start + FilePages.chunkSize, end) - pos)
            var done = 0
            while done < n {
                let w = pwrite(fd, memoryFile.pointer(c.offset + within + UInt64(done)), n - done, off_t(pos + UInt64(done)))
                if w < 0 { throw LinuxErrno(errno) }
                if w == 0 { throw .EIO }
                done += w
            }
        }
    }

    /// fallocate's preallocation (shmem_fallocate): the pages of [from, to) not held yet are
    /// allocated and counted (st_blocks, statfs's used) at once, so writes into them later
    /// cannot fail for space. ENOSPC, with nothing taken, when they do not all fit in the
    /// `capacity` bytes the filesystem holds. Past the file's size too (KEEP_SIZE). The pages
    /// stay holes to SEEK_DATA until written, as tmpfs's unwritten pages are.
    func preallocate(from: UInt64, to: UInt64, capacity: UInt64) throws(LinuxErrno) {
        guard from < to else { return }
        let page = MemoryFile.pageSize
        let first = from / page, end = (to - 1) / page + 1
        var needed = end - first
        for (index, c) in held(from: from, to: to) {
            let start = index * FilePages.chunkSize
            for p in 0..<UInt64(16) where c.written & (1 << UInt16(p)) != 0 {
                let at = (start + p * page) / page
                if at >= first && at < end { needed -= 1 }
            }
        }
        let used = fs?.usedBytes.load(ordering: .relaxed) ?? 0
        guard needed <= (capacity > used ? capacity - used : 0) / page else { throw .ENOSPC }
        var index = from / FilePages.chunkSize
        while index * FilePages.chunkSize < to {
            _ = try chunk(index, allocate: true)
            let start = index * FilePages.chunkSize
            markWritten(max(from, start), min(to, start + FilePages.chunkSize))
            index += 1
        }
    }

    /// FALLOC_FL_PUNCH_HOLE (shmem_truncate_range over the range, past the size too): the
    /// whole pages of [from, to) are zeroed and given back (no longer counted; a chunk wholly
    /// inside is freed unless `mapped`: a shared mapping may still map it), partial pages
    /// zeroed in place.
    func punchHole(from: UInt64, to: UInt64, mapped: Bool) {
        guard from < to else { return }
        let page = MemoryFile.pageSize
        for (index, c) in held(from: from, to: to) {
            let start = index * FilePages.chunkSize
            let lo = max(from, start), hi = min(to, start + FilePages.chunkSize)
            memoryFile.zero(c.offset + (lo - start), length: hi - lo)
            let firstWhole = (lo - start + page - 1) / page, endWhole = (hi - start) / page
            guard firstWhole < endWhole else { continue }
            var mask: UInt16 = 0
            for p in firstWhole..<endWhole { mask |= 1 << UInt16(p) }
            let kept = c.written & ~mask
            uncharge(UInt64(c.written.nonzeroBitCount - kept.nonzeroBitCount))
            if !mapped && lo == start && hi == start + FilePages.chunkSize {
                memoryFile.free(c.offset, length: FilePages.chunkSize)
                chunks[index] = nil
            } else {
                chunks[index]!.written = kept
            }
        }
    }

    /// Zeroes [from, to) within the file (ZERO_RANGE: the pages stay counted).
    func zero(from: UInt64, to: UInt64) {
        let end = min(to, size)
        guard from < end else { return }
        for (index, c) in chunks {
            let start = index * FilePages.chunkSize
            let lo = max(from, start), hi = min(end, start + FilePages.chunkSize)
            if lo < hi { memoryFile.zero(c.offset + (lo - start), length: hi - lo) }
        }
    }

    /// truncate(2): the new size; data past it is dropped, so growing again reads zeros.
    /// `mapped`: some MAP_SHARED mapping may still map the chunks, so they are zeroed but kept
    /// (their MemoryFile ranges must not be reused under a live mapping).
    func truncate(_ newSize: UInt64, mapped: Bool) throws(LinuxErrno) {
        guard newSize <= FilePages.maxSize else { throw .EFBIG }
        if newSize < size {
            for (index, c) in chunks {
                let start = index * FilePages.chunkSize
                if start >= newSize {
                    uncharge(UInt64(c.written.nonzeroBitCount))
                    if mapped {
                        memoryFile.zero(c.offset, length: FilePages.chunkSize)
                        chunks[index]!.written = 0
                    } else {
                        memoryFile.free(c.offset, length: FilePages.chunkSize)
                        chunks[index] = nil
                    }
                } else if start + FilePages.chunkSize > newSize {
                    // Punching a hole zeroes the partial page too.
                    let keep = newSize - start
                    memoryFile.zero(c.offset + keep, length: FilePages.chunkSize - keep)
                    let pagesKept = (keep + MemoryFile.pageSize - 1) / MemoryFile.pageSize
                    let kept = c.written & UInt16(truncatingIfNeeded: (1 << pagesKept) - 1)
                    uncharge(UInt64(c.written.nonzeroBitCount - kept.nonzeroBitCount))
                    chunks[index]!.written = kept
                }
            }
        }
        size = newSize
    }
}
