// IOSequence: the buffer of a read or write, described by address ranges and translated at
// the moment of each copy (gVisor's usermem.IOSequence). A handler never holds a pointer
// into guest memory: a thread that blocks and wakes up copies again through the MM, so a
// buffer unmapped while it slept is EFAULT, never another process's reused memory.
// Copies happen with the kernel lock held (it guards the MM).
import JoeyABI
import JoeyPlatform

/// One guest buffer: `length` bytes at `address`.
struct GuestRange {
    var address: UInt64
    var length: Int
}

struct IOSequence {
    /// MAX_RW_COUNT: the most one read or write transfers.
    static let maxCount = 0x7fff_f000
    /// Guest memory of this MM, or (nil) sentry memory whose addresses are raw pointers.
    private let mm: MemoryManager?
    /// The MemoryFile the memory may lie in, whose OOM killer makes room when the memory limit
    /// refuses a page on the way (nil: sentry memory outside it).
    private let file: MemoryFile?
    /// The range being consumed; the following ones (readv/writev) wait in `rest`.
    private var head: GuestRange
    private var rest: ArraySlice<GuestRange>
    /// Bytes left in the sequence.
    private(set) var count: Int

    private init(mm: MemoryManager?, file: MemoryFile?, ranges: ArraySlice<GuestRange>) {
        self.mm = mm
        self.file = file
        var r = ranges
        head = r.popFirst() ?? GuestRange(address: 0, length: 0)
        rest = r
        count = ranges.reduce(0) { $0 + $1.length }
        skipEmpty()
    }

    /// `length` bytes of guest memory at `address` (length already clamped by the caller).
    static func guest(_ mm: MemoryManager, address: UInt64, length: Int) -> IOSequence {
        IOSequence(mm: mm, file: mm.memoryFile, ranges: [GuestRange(address: address, length: length)][...])
    }

    /// The buffers of an iovec array, read and checked by `MemoryManager.ioVectors`.
    static func guest(_ mm: MemoryManager, ranges: [GuestRange]) -> IOSequence {
        IOSequence(mm: mm, file: mm.memoryFile, ranges: ranges[...])
    }

    /// Sentry memory (the ELF loader, mmap's file copy, sendfile's buffer): valid for as long
    /// as the caller keeps `buffer` alive, which must outlive the sequence. `file`: the
    /// MemoryFile when the buffer may lie in it.
    static func sentry(_ buffer: UnsafeMutableRawBufferPointer, in file: MemoryFile? = nil) -> IOSequence {
        let address = UInt64(UInt(bitPattern: buffer.baseAddress))
        return IOSequence(mm: nil, file: file, ranges: [GuestRange(address: address, length: buffer.count)][...])
    }

    /// Guest memory, translated at each copy: the kernel lock may be let go between copies
    /// (sentry memory may lie in a MemoryFile range only the lock keeps alive).
    var isGuestMemory: Bool { mm != nil }

    /// The first `n` bytes only (a short read of a larger buffer).
    func prefix(_ n: Int) -> IOSequence {
        var out = self
        var left = max(0, min(n, count))
        out.count = left
        if out.head.length >= left {
            out.head.length = left
            out.rest = []
        } else {
            left -= out.head.length
            var kept: [GuestRange] = []
            for r in rest where left > 0 {
                kept.append(GuestRange(address: r.address, length: min(r.length, left)))
                left -= min(r.length, left)
            }
            out.rest = kept[...]
        }
        return out
    }

    private mutating func skipEmpty() {
        while head.length == 0, let next = rest.popFirst() { head = next }
    }

    /// Consumes `n` bytes of the current range.
    private mutating func advance(_ n: Int) {
        head.address &+= UInt64(n)
        head.length -= n
        count -= n
        skipEmpty()
    }

    /// Consumes `n` bytes without copying them (what a host write already took).
    mutating func skip(_ n: Int) {
        var left = min(n, count)
        while left > 0 {
            let step = min(left, head.length)
            advance(step)
            left -= step
        }
    }

    /// Calls `body` with sentry memory for the next contiguous piece (at most `limit` bytes)
    /// and consumes what it reports done. The pointer is valid only inside `body`, which
    /// must not release the kernel lock. EFAULT when the piece is not mapped as needed.
    mutating func withNextPiece(writing: Bool, limit: Int = .max,
                                _ body: (UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int) throws(LinuxErrno) -> Int {
        guard count > 0, limit > 0 else { return 0 }
        let want = min(head.length, limit)
        let piece: UnsafeMutableRawBufferPointer
        if let mm {
            piece = try mm.translate(head.address, length: want, write: writing)
        } else {
            piece = UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: UInt(head.address)), count: want)
        }
        var done: Int
        while true {
            do throws(LinuxErrno) {
                done = try body(piece)
                break
            } catch {
                // A host call into or out of the MemoryFile (a pread into a guest buffer) finds
                // no page at the memory limit: EFAULT from the host. The OOM killer makes room
                // and the call is made again (the piece stays valid: making room moves no mapping).
                guard error == .EFAULT, let file, file.madeRoomAfterEFAULT() else { throw error }
            }
        }
        advance(done)
        return done
    }

    /// Runs `body` over the pieces of the next `total` bytes (body gets the piece and how many
    /// bytes came before it, and returns how many of the piece it did: fewer when a safe copy
    /// met a page the memory limit refuses). Returns the bytes done: fewer than `total` at a
    /// fault after some progress, EFAULT when nothing could be done (copy_{to,from}_user's rule).
    private mutating func forPieces(writing: Bool, total: Int,
                                    _ body: (UnsafeMutableRawBufferPointer, Int) -> Int) -> Result<Int, LinuxErrno> {
        var done = 0
        while done < total && count > 0 {
            var short = false
            do {
                done += try withNextPiece(writing: writing, limit: total - done) { piece in
                    let n = body(piece, done)
                    short = n < piece.count
                    return n
                }
            } catch {
                return done > 0 ? .success(done) : .failure(error)
            }
            if short { return done > 0 ? .success(done) : .failure(.EFAULT) }
        }
        return .success(done)
    }

    /// Copies `source` into the sequence (a read's data) and consumes what was copied.
    mutating func copyOut(_ source: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int {
        let file = self.file
        return try forPieces(writing: true, total: source.count) { piece, before in
            piece.count - IOSequence.copy(file, piece.baseAddress!, source.baseAddress! + before, piece.count)
        }.get()
    }

    /// A safe copy; into or out of guest memory, the OOM killer makes room when the memory
    /// limit refuses a page. The bytes not copied.
    private static func copy(_ file: MemoryFile?, _ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, _ n: Int) -> Int {
        file?.copyMakingRoom(dst, src, n) ?? MemoryFile.safeCopy(dst, src, n)
    }

    /// Copies from the sequence (a write's data) into `destination`; consumes what was copied.
    mutating func copyIn(_ destination: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int {
        let file = self.file
        return try forPieces(writing: false, total: destination.count) { piece, before in
            piece.count - IOSequence.copy(file, destination.baseAddress! + before, piece.baseAddress!, piece.count)
        }.get()
    }

    /// Copies from the sequence into fresh pages of the MemoryFile at `offset` with pwrite
    /// (MemoryFile.write); what pwrite does not take goes the safe copy's way. Consumes what
    /// was copied.
    mutating func copyIn(toMemoryFile memory: MemoryFile, at offset: UInt64, count: Int) throws(LinuxErrno) -> Int {
        let file = self.file
        return try forPieces(writing: false, total: count) { piece, before in
            piece.count - memory.write(piece.baseAddress!, count: piece.count, at: offset + UInt64(before)) {
                IOSequence.copy(file, $0, $1, $2)
            }
        }.get()
    }

    /// Consumes the next `n` bytes after checking they can be read: a datagram lost on the
    /// way still faults on a bad buffer, as Linux copies it before sending. All or EFAULT.
    mutating func discard(_ n: Int) throws(LinuxErrno) {
        guard try forPieces(writing: false, total: n, { piece, _ in piece.count }).get() == n else { throw .EFAULT }
    }

    /// Zeroes the next `n` bytes of the sequence (reads of holes and /dev/zero).
    mutating func zero(_ n: Int) throws(LinuxErrno) -> Int {
        let file = self.file
        return try forPieces(writing: true, total: n) { piece, _ in
            piece.count - (file?.zeroMakingRoom(piece.baseAddress!, piece.count) ?? MemoryFile.safeZero(piece.baseAddress!, piece.count))
        }.get()
    }

    /// Copies one value out (eventfd's counter, for instance).
    mutating func copyOut<T: BitwiseCopyable>(value: T) throws(LinuxErrno) -> Int {
        var v = value
        return try withBytes(of: &v) { (b: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in try copyOut(b) }
    }
}
