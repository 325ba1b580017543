// MemoryFile: the one file that backs all guest memory. The sentry maps it whole into its
// own address space, so guest memory is reached by pointer arithmetic, and platforms map
// ranges of it into guest address spaces. Without a memory limit it is a memfd; with one it
// is a file on a tmpfs of the limit's size, so the host refuses every page past the limit
// (SIGBUS to whoever touches it): the sentry reaches such memory only through the safe
// copies below, which fail instead of faulting.
import CJoey
import Glibc
import JoeyABI
import Synchronization

public final class MemoryFile: @unchecked Sendable {
    public static let pageSize: UInt64 = 4096
    public let fd: Int32
    public let size: UInt64
    /// The sentry's own mapping of the whole file.
    public let base: UnsafeMutableRawPointer
    private var freeRanges: [(offset: UInt64, length: UInt64)]
    /// The sandbox's memory limit, when it has one: file data stops growing there (ENOSPC).
    public let limit: UInt64?
    /// The host holds the file to `limit` page by page (a tmpfs of that size). False without a
    /// limit, or when the tmpfs could not be made (`limitProblem` says why).
    public let enforcesLimit: Bool
    public let limitProblem: String?
    private var lock = pthread_mutex_t()
    /// The sandbox is ending (its init exited; the file goes with the sentry): what is freed
    /// from now on stays as it is, never reused, instead of being punched out one range at
    /// a time.
    private let retiring = Atomic<Bool>(false)
    public func retire() { retiring.store(true, ordering: .relaxed) }

    /// `size` bytes of address space (Platform.memoryFileSize): it is sparse (pages exist only
    /// where guest memory or file data does), and every mapping, fork copy and page-cache
    /// chunk takes a range of it.
    public init(size: UInt64, limit: UInt64? = nil) throws(PlatformError) {
        // Sentry threads touch this memory only through the safe copies, which need the handler.
        let installed = joey_safecopy_install()
        guard installed == 0 else { throw PlatformError("cannot install the sentry's SIGBUS handler: errno \(-installed)") }
        var fd: Int64 = -1
        var problem: String?
        if let limit {
            fd = joey_limited_memory_file(MemoryFile.roundUp(limit))
            if fd < 0 { problem = "a tmpfs of the limit's size could not be made (fsopen/fsmount: errno \(-fd))" }
        }
        self.limit = limit
        enforcesLimit = fd >= 0
        limitProblem = problem
        if fd < 0 { fd = joey_memfd_create("joey-memory") }
        guard fd >= 0 else { throw PlatformError("memfd_create failed: errno \(-fd)") }
        self.fd = Int32(fd)
        guard ftruncate(self.fd, off_t(size)) == 0 else {
            throw PlatformError("cannot size the MemoryFile to \(size) bytes: errno \(errno)")
        }
        guard let p = mmap(nil, Int(size), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, self.fd, 0),
              p != MAP_FAILED else {
            throw PlatformError("cannot map the MemoryFile into the sentry: errno \(errno)")
        }
        self.base = p
        self.size = size
        // Offset 0 is never handed out so that 0 can mean "none".
        self.freeRanges = [(MemoryFile.pageSize, size - MemoryFile.pageSize)]
        pthread_mutex_init(&lock, nil)
    }

    /// Allocates `length` bytes (page-rounded) of zeroed memory; returns the file offset.
    /// `committed`: its pages are had now (ENOMEM past the limit), for memory the sentry or a
    /// stub touches directly, never through a safe copy.
    public func allocate(_ length: UInt64, committed: Bool = false) throws(LinuxErrno) -> UInt64 {
        let len = MemoryFile.roundUp(length)
        let off = try take(len)
        if committed && joey_fallocate(fd, 1 /* FALLOC_FL_KEEP_SIZE */, Int64(off), Int64(len)) != 0 {
            free(off, length: len)
            throw .ENOMEM
        }
        return off
    }

    private func take(_ len: UInt64) throws(LinuxErrno) -> UInt64 {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        for i in freeRanges.indices where freeRanges[i].length >= len {
            let off = freeRanges[i].offset
            if freeRanges[i].length == len {
                freeRanges.remove(at: i)
            } else {
                freeRanges[i] = (off + len, freeRanges[i].length - len)
            }
            return off
        }
        throw .ENOMEM
    }

    /// Returns memory to the file: its pages are released to the host immediately.
    public func free(_ offset: UInt64, length: UInt64) {
        let len = MemoryFile.roundUp(length)
        guard len > 0, !retiring.load(ordering: .relaxed) else { return }
        _ = joey_punch_hole(fd, offset, len)
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        // Insert sorted, coalescing neighbours.
        var i = 0
        while i < freeRanges.count && freeRanges[i].offset < offset { i += 1 }
        freeRanges.insert((offset, len), at: i)
        if i + 1 < freeRanges.count && freeRanges[i].offset + freeRanges[i].length == freeRanges[i + 1].offset {
            freeRanges[i].length += freeRanges[i + 1].length
            freeRanges.remove(at: i + 1)
        }
        if i > 0 && freeRanges[i - 1].offset + freeRanges[i - 1].length == freeRanges[i].offset {
            freeRanges[i - 1].length += freeRanges[i].length
            freeRanges.remove(at: i)
        }
    }

    /// Zeroes a range (releasing its pages).
    public func zero(_ offset: UInt64, length: UInt64) {
        _ = joey_punch_hole(fd, offset, length)
    }

    /// Copies a range, skipping holes, so copying a sparse reservation costs nothing. ENOMEM
    /// when the limit leaves no room for the copy. Kernel lock held.
    public func copy(from src: UInt64, to dst: UInt64, length: UInt64) throws(LinuxErrno) {
        var complete = true
        forEachResidentRange(src, length: length) { start, end in
            if complete && write(base + Int(start), count: Int(end - start), at: dst + (start - src), rest: copyMakingRoom) != 0 {
                complete = false
            }
        }
        if !complete { throw .ENOMEM }
    }

    /// Writes `count` bytes from `src` (sentry memory, or guest memory through the sentry's
    /// mapping of this file) at `offset` with pwrite, for pages not written yet: the host
    /// allocates them as it copies, where a copy through the sentry's mapping takes a fault
    /// for each and has it zeroed first (four fifths of a large write into fresh file pages).
    /// What pwrite does not take (the limit, a bad source) goes through `rest`, a safe copy
    /// that returns the bytes it did not copy. The bytes not written.
    public func write(_ src: UnsafeRawPointer, count: Int, at offset: UInt64,
                      rest: (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Int) -> Int {
        let written = max(0, pwrite(fd, src, count, off_t(Int64(bitPattern: offset))))
        return written < count ? rest(pointer(offset) + written, src + written, count - written) : 0
    }

    /// memcpy that survives a page the limit refuses: the bytes not copied (0: all were).
    @inline(__always)
    public static func safeCopy(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, _ count: Int) -> Int {
        count > 0 ? Int(joey_safe_copy(dst, src, count)) : 0
    }

    /// memset(0) that survives a page the limit refuses: the bytes not zeroed.
    @inline(__always)
    public static func safeZero(_ dst: UnsafeMutableRawPointer, _ count: Int) -> Int {
        count > 0 ? Int(joey_safe_zero(dst, count)) : 0
    }

    /// The OOM killer's one step, set by the kernel: a process killed and its memory released
    /// at once; true when there is room to try again. Called with the kernel lock held.
    public var makeRoom: (() -> Bool)?

    /// safeCopy that, when the limit refuses a page, has the OOM killer make room and goes on,
    /// as a page fault under a memory cgroup does: the bytes not copied (0 unless no process
    /// was left to kill). Kernel lock held.
    /// A source outside the MemoryFile that cannot be read (a host file's view past the
    /// file's end: HostFileImage) is not the limit's doing: the bytes left are left.
    public func copyMakingRoom(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, _ count: Int) -> Int {
        var left = MemoryFile.safeCopy(dst, src, count)
        while left > 0, !unreadableHostBytes(src + (count - left)), let makeRoom, makeRoom() {
            let done = count - left
            left = MemoryFile.safeCopy(dst + done, src + done, left)
        }
        return left
    }

    /// safeZero that makes room as copyMakingRoom does: the bytes not zeroed.
    public func zeroMakingRoom(_ dst: UnsafeMutableRawPointer, _ count: Int) -> Int {
        var left = MemoryFile.safeZero(dst, count)
        while left > 0, let makeRoom, makeRoom() {
            left = MemoryFile.safeZero(dst + (count - left), left)
        }
        return left
    }

    public func pointer(_ offset: UInt64) -> UnsafeMutableRawPointer { base + Int(offset) }

    /// Whether `p` lies outside the MemoryFile's mapping and cannot be read.
    private func unreadableHostBytes(_ p: UnsafeRawPointer) -> Bool {
        if p >= UnsafeRawPointer(base) && p < UnsafeRawPointer(base + Int(size)) { return false }
        var byte: UInt8 = 0
        return MemoryFile.safeCopy(&byte, p, 1) != 0
    }

    /// Bytes of [offset, offset + length) backed by pages (not holes).
    public func residentBytes(_ offset: UInt64, length: UInt64) -> UInt64 {
        var total: UInt64 = 0
        forEachResidentRange(offset, length: length) { total += $1 - $0 }
        return total
    }

    /// Calls `body` with each [start, end) inside [offset, offset + length) backed by pages.
    public func forEachResidentRange(_ offset: UInt64, length: UInt64, _ body: (UInt64, UInt64) -> Void) {
        var pos = offset
        let end = offset + length
        while pos < end {
            let data = joey_seek_data(fd, pos)
            if data < 0 || UInt64(data) >= end { break }
            let h = joey_seek_hole(fd, UInt64(data))
            let hole = h < 0 ? end : min(UInt64(h), end)
            body(UInt64(data), hole)
            pos = hole
        }
    }

    /// A host call that reads into a mapping of the MemoryFile (a pread into guest memory)
    /// failed with EFAULT. When that was the limit refusing a page (the file is within 1 MiB
    /// of it), the OOM killer makes room and the call may be made again: true. Any other
    /// EFAULT is the caller's to return. Kernel lock held.
    public func madeRoomAfterEFAULT() -> Bool {
        guard let limit, enforcesLimit, let makeRoom,
              residentBytes() + 0x10_0000 > MemoryFile.roundUp(limit) else { return false }
        return makeRoom()
    }

    /// Bytes of guest memory actually backed by pages (the memfd's allocated blocks).
    public func residentBytes() -> UInt64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return 0 }
        return UInt64(st.st_blocks) * 512
    }

    /// Rounds up to a page; saturates instead of overflowing (callers then reject the size).
    public static func roundUp(_ v: UInt64) -> UInt64 { v > UInt64.max - (pageSize - 1) ? UInt64.max & ~(pageSize - 1) : (v + pageSize - 1) & ~(pageSize - 1) }
    public static func roundDown(_ v: UInt64) -> UInt64 { v & ~(pageSize - 1) }
}
