// Guest memory access through the sentry's own mapping of the MemoryFile (or its read-only
// view of a host file a private mapping maps directly): a guest address becomes a pointer
// by VMA lookup. Access is checked against the VMA's protection the way
// copy_{to,from}_user is: a hole or a missing permission is EFAULT. Bytes are moved only by
// MemoryFile's safe copies: a page the memory limit refuses is EFAULT too (the thread then
// meets the OOM killer, GuestThread.runLoop), never a SIGBUS in the sentry.
import CJoey
import Glibc
import JoeyABI
import JoeyPlatform

extension MemoryManager {
    /// Calls `body` with sentry pointers covering [address, address+length), piece by
    /// contiguous piece; all or nothing: EFAULT before any call when a part is not mapped.
    func forEachSegment(_ address: UInt64, _ length: Int, write: Bool,
                        _ body: (UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Void) throws(LinuxErrno) {
        guard length > 0 else { return }
        let (end, overflow) = address.addingReportingOverflow(UInt64(length))
        guard !overflow else { throw .EFAULT }
        // Most buffers lie in one contiguous piece: no array for them.
        let first = try translate(address, length: length, write: write)
        if first.count == length { return try body(first) }
        var pieces = [first]
        var cursor = address + UInt64(first.count)
        while cursor < end {
            let piece = try translate(cursor, length: Int(end - cursor), write: write)
            pieces.append(piece)
            cursor += UInt64(piece.count)
        }
        for p in pieces { try body(p) }
    }

    /// Like forEachSegment, but ignoring protection (the loader and ptrace-like access); a
    /// write breaks copy-on-write sharing first. A forced write reaches only private memory or
    /// memory mapped writable (Linux's FOLL_FORCE): a read-only shared mapping is EFAULT, or a
    /// debugger could write a file its tracee may only read.
    func forEachSegmentForced(_ address: UInt64, _ length: Int, write: Bool,
                              _ body: (UnsafeMutableRawBufferPointer) -> Void) throws(LinuxErrno) {
        guard length > 0 else { return }
        var cursor = address
        let (end, overflow) = address.addingReportingOverflow(UInt64(length))
        guard !overflow else { throw .EFAULT }
        while cursor < end {
            guard var v = vma(containing: cursor) else { throw .EFAULT }
            if write && (v.shared || v.writeBack != nil) && !v.protection.contains(.write) { throw .EFAULT }
            if write && v.cow {
                try breakCopyOnWrite(at: cursor)
                guard let broken = vma(containing: cursor) else { throw .EFAULT }
                v = broken
            }
            let (p, contiguous) = try pointer(v, cursor)
            let n = min(end - cursor, contiguous)
            body(UnsafeMutableRawBufferPointer(start: p, count: Int(n)))
            cursor += n
        }
    }

    /// Writes into the guest's code ignoring protection; a copy-on-write page is copied alone
    /// (its neighbours stay shared with the file's image and other processes).
    func writeCode(_ address: UInt64, _ bytes: [UInt8]) throws(LinuxErrno) {
        if let v = vma(containing: address), v.cow { try breakCopyOnWrite(at: address, chunk: MemoryFile.pageSize) }
        try write(address, bytes, force: true)
    }

    /// `count` bytes at `address`; `force` ignores protection (the guest's code, for syscall
    /// patching), as write's does.
    func read(_ address: UInt64, count: Int, force: Bool = false) throws(LinuxErrno) -> [UInt8] {
        guard count >= 0 else { throw .EINVAL }
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        try out.withMutableBytes { (dst: UnsafeMutableRawBufferPointer) throws(LinuxErrno) in
            var complete = true
            let copy = { (seg: UnsafeMutableRawBufferPointer) in
                if self.memoryFile.copyMakingRoom(dst.baseAddress! + filled, seg.baseAddress!, seg.count) != 0 { complete = false }
                filled += seg.count
            }
            if force { try forEachSegmentForced(address, count, write: false, copy) } else { try forEachSegment(address, count, write: false, copy) }
            if !complete { throw .EFAULT }
        }
        return out
    }

    func write(_ address: UInt64, _ bytes: UnsafeRawBufferPointer, force: Bool = false) throws(LinuxErrno) {
        var done = 0
        var complete = true
        let copy = { (seg: UnsafeMutableRawBufferPointer) in
            if self.memoryFile.copyMakingRoom(seg.baseAddress!, bytes.baseAddress! + done, seg.count) != 0 { complete = false }
            done += seg.count
        }
        if force { try forEachSegmentForced(address, bytes.count, write: true, copy) } else { try forEachSegment(address, bytes.count, write: true, copy) }
        if !complete { throw .EFAULT }
    }

    func write(_ address: UInt64, _ bytes: [UInt8], force: Bool = false) throws(LinuxErrno) {
        try bytes.withBytes { (b: UnsafeRawBufferPointer) throws(LinuxErrno) in try write(address, b, force: force) }
    }

    func readValue<T: BitwiseCopyable>(_ address: UInt64, as: T.Type = T.self) throws(LinuxErrno) -> T {
        // Into an Optional (a `var x: T?` assigned from here), its tag byte would come from
        // guest memory: read the wrapped type. Checked in debug builds (the tests).
        assert(!(T.self is any ExpressibleByNilLiteral.Type), "readValue into an Optional")
        // Fast path: the value lies in one readable VMA.
        if MemoryLayout<T>.size <= 32, let v = vma(containing: address), v.protection.contains(.read), !v.beyondEOF,
           v.pages == nil, address + UInt64(MemoryLayout<T>.size) <= v.end {
            var raw: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            let missed = withUnsafeMutableBytes(of: &raw) {
                memoryFile.copyMakingRoom($0.baseAddress!, v.pointer(address), MemoryLayout<T>.size)
            }
            if missed != 0 { throw .EFAULT }
            return withUnsafeBytes(of: raw) { $0.loadUnaligned(as: T.self) }
        }
        let bytes = try read(address, count: MemoryLayout<T>.size)
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    /// Atomically replaces the aligned 32-bit word at `address` with `desired` if it holds
    /// `expected`; returns what it held. Futex words change under the guest's own atomics too.
    func compareExchange32(_ address: UInt64, expected: UInt32, desired: UInt32) throws(LinuxErrno) -> UInt32 {
        guard address & 3 == 0 else { throw .EINVAL }
        let piece = try translate(address, length: 4, write: true)
        guard piece.count >= 4, let p = piece.baseAddress else { throw .EFAULT }
        var old: UInt32 = 0
        while joey_safe_cmpxchg32(p.assumingMemoryBound(to: UInt32.self), expected, desired, &old) != 0 {
            guard let makeRoom = memoryFile.makeRoom, makeRoom() else { throw .EFAULT }
        }
        return old
    }

    func writeValue<T: BitwiseCopyable>(_ address: UInt64, _ value: T) throws(LinuxErrno) {
        var v = value
        try withBytes(of: &v) { (b: UnsafeRawBufferPointer) throws(LinuxErrno) in try write(address, b) }
    }

    /// A NUL-terminated string of at most `max` bytes (ENAMETOOLONG beyond).
    func readCString(_ address: UInt64, max: Int = 4096) throws(LinuxErrno) -> [UInt8] {
        var out: [UInt8] = []
        var cursor = address
        // Through a small buffer, 256 bytes at a time (a safe copy each): the string's end is
        // not known before it is read.
        var chunk = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                     UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                     UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                     UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while true {
            let piece = try translate(cursor, length: MemoryLayout.size(ofValue: chunk), write: false)
            let found: Bool? = withUnsafeMutableBytes(of: &chunk) { buffer in
                guard memoryFile.copyMakingRoom(buffer.baseAddress!, piece.baseAddress!, piece.count) == 0 else { return nil }
                let end = memchr(buffer.baseAddress!, 0, piece.count).map { $0 - buffer.baseAddress! }
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<(end ?? piece.count)]))
                return end != nil
            }
            guard let found else { throw .EFAULT }
            if out.count >= max { throw .ENAMETOOLONG }
            if found { return out }
            cursor += UInt64(piece.count)
        }
    }

    /// Reads a NULL-terminated array of string pointers (argv, envp).
    func readStringArray(_ address: UInt64) throws(LinuxErrno) -> [[UInt8]] {
        guard address != 0 else { return [] }
        var out: [[UInt8]] = []
        var total = 0
        var p = address
        while true {
            let ptr: UInt64 = try readValue(p)
            if ptr == 0 { break }
            let s = try readCString(ptr, max: 131072)
            total += s.count + 1
            if total > 2 << 20 || out.count > 100_000 { throw .E2BIG }
            out.append(s)
            p &+= 8
        }
        return out
    }

    /// The sentry memory behind the start of [address, address+length): the longest
    /// contiguous piece (non-empty, at most `length` bytes) the MM maps there with the needed
    /// access, as copy_{to,from}_user checks it. Valid until the kernel lock is released.
    func translate(_ address: UInt64, length: Int, write: Bool) throws(LinuxErrno) -> UnsafeMutableRawBufferPointer {
        guard length > 0 else { return UnsafeMutableRawBufferPointer(start: nil, count: 0) }
        guard var v = vma(containing: address) else { throw .EFAULT }
        if v.beyondEOF {
            guard refreshFileTail(at: address), let grown = vma(containing: address) else { throw .EFAULT }
            v = grown
        }
        if write ? !v.protection.contains(.write) : !v.protection.contains(.read) { throw .EFAULT }
        if write && v.cow {
            try breakCopyOnWrite(at: address)
            guard let broken = vma(containing: address) else { throw .EFAULT }
            v = broken
        }
        let (p, contiguous) = try pointer(v, address, writing: write ? UInt64(length) : 0)
        let n = Int(min(UInt64(length), contiguous))
        return UnsafeMutableRawBufferPointer(start: p, count: n)
    }

    /// The buffers of the iovec array at `iov` (readv, writev, preadv...): EINVAL for more than
    /// UIO_MAXIOV entries or a length that is negative as a ssize_t; the total is cut at
    /// MAX_RW_COUNT, as Linux's import_iovec does. Buffers are checked when copied.
    func ioRanges(_ iov: UInt64, count: Int) throws(LinuxErrno) -> [GuestRange] {
        guard count >= 0, count <= 1024 else { throw .EINVAL }
        var out: [GuestRange] = []
        out.reserveCapacity(count)
        var total = 0
        for i in 0..<count {
            let base: UInt64 = try readValue(iov &+ UInt64(i) &* 16)
            let len: UInt64 = try readValue(iov &+ UInt64(i) &* 16 &+ 8)
            guard len <= UInt64(Int64.max) else { throw .EINVAL }
            let take = Int(min(len, UInt64(IOSequence.maxCount - total)))
            total += take
            out.append(GuestRange(address: base, length: take))
        }
        return out
    }
}

extension Array where Element == UInt8 {
    /// withUnsafeMutableBytes, keeping the body's typed LinuxErrno.
    mutating func withMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> R) throws(LinuxErrno) -> R {
        try withUnsafeMutableBytes { p in Result { () throws(LinuxErrno) -> R in try body(p) } }.get()
    }

    /// withUnsafeBytes, keeping the body's typed LinuxErrno.
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(LinuxErrno) -> R) throws(LinuxErrno) -> R {
        try withUnsafeBytes { p in Result { () throws(LinuxErrno) -> R in try body(p) } }.get()
    }
}

/// withUnsafeBytes(of:), keeping the body's typed LinuxErrno.
func withBytes<T, R>(of value: inout T, _ body: (UnsafeRawBufferPointer) throws(LinuxErrno) -> R) throws(LinuxErrno) -> R {
    try withUnsafeBytes(of: &value) { p in Result { () throws(LinuxErrno) -> R in try body(p) } }.get()
}
