// Guest memory access through the sentry's own mapping of the MemoryFile: a guest address
// becomes a pointer by VMA lookup. Access is checked against the VMA's protection the way
// copy_{to,from}_user is: a hole or a missing permission is EFAULT.
import Glibc
import JoeyABI
import JoeyPlatform

extension MemoryManager {
    /// Calls `body` with sentry pointers covering [address, address+length), VMA by VMA.
    func forEachSegment(_ address: UInt64, _ length: Int, write: Bool,
                        _ body: (UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Void) throws(LinuxErrno) {
        guard length > 0 else { return }
        let (end, overflow) = address.addingReportingOverflow(UInt64(length))
        guard !overflow else { throw .EFAULT }
        var cursor = address
        while cursor < end {
            guard let v = vma(containing: cursor), !v.beyondEOF else { throw .EFAULT }
            if write ? !v.protection.contains(.write) : !v.protection.contains(.read) { throw .EFAULT }
            let segEnd = min(end, v.end)
            let p = memoryFile.pointer(v.fileStart + (cursor - v.start))
            try body(UnsafeMutableRawBufferPointer(start: p, count: Int(segEnd - cursor)))
            cursor = segEnd
        }
    }

    /// Like forEachSegment, but ignoring protection (the loader and ptrace-like access).
    func forEachSegmentForced(_ address: UInt64, _ length: Int,
                              _ body: (UnsafeMutableRawBufferPointer) -> Void) throws(LinuxErrno) {
        guard length > 0 else { return }
        var cursor = address
        let (end, overflow) = address.addingReportingOverflow(UInt64(length))
        guard !overflow else { throw .EFAULT }
        while cursor < end {
            guard let v = vma(containing: cursor) else { throw .EFAULT }
            let segEnd = min(end, v.end)
            body(UnsafeMutableRawBufferPointer(start: memoryFile.pointer(v.fileStart + (cursor - v.start)),
                                               count: Int(segEnd - cursor)))
            cursor = segEnd
        }
    }

    func read(_ address: UInt64, count: Int) throws(LinuxErrno) -> [UInt8] {
        guard count >= 0 else { throw .EINVAL }
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        try out.withMutableBytes { (dst: UnsafeMutableRawBufferPointer) throws(LinuxErrno) in
            try forEachSegment(address, count, write: false) { seg in
                memcpy(dst.baseAddress! + filled, seg.baseAddress!, seg.count)
                filled += seg.count
            }
        }
        return out
    }

    func write(_ address: UInt64, _ bytes: UnsafeRawBufferPointer, force: Bool = false) throws(LinuxErrno) {
        var done = 0
        if force {
            try forEachSegmentForced(address, bytes.count) { seg in
                memcpy(seg.baseAddress!, bytes.baseAddress! + done, seg.count)
                done += seg.count
            }
        } else {
            try forEachSegment(address, bytes.count, write: true) { seg in
                memcpy(seg.baseAddress!, bytes.baseAddress! + done, seg.count)
                done += seg.count
            }
        }
    }

    func write(_ address: UInt64, _ bytes: [UInt8], force: Bool = false) throws(LinuxErrno) {
        try bytes.withBytes { (b: UnsafeRawBufferPointer) throws(LinuxErrno) in try write(address, b, force: force) }
    }

    func readValue<T: BitwiseCopyable>(_ address: UInt64, as: T.Type = T.self) throws(LinuxErrno) -> T {
        // Fast path: the value lies in one readable VMA.
        if let v = vma(containing: address), v.protection.contains(.read), !v.beyondEOF,
           address + UInt64(MemoryLayout<T>.size) <= v.end {
            return memoryFile.pointer(v.fileStart + (address - v.start)).loadUnaligned(as: T.self)
        }
        let bytes = try read(address, count: MemoryLayout<T>.size)
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    func writeValue<T: BitwiseCopyable>(_ address: UInt64, _ value: T) throws(LinuxErrno) {
        var v = value
        try withBytes(of: &v) { (b: UnsafeRawBufferPointer) throws(LinuxErrno) in try write(address, b) }
    }

    /// A NUL-terminated string of at most `max` bytes (ENAMETOOLONG beyond).
    func readCString(_ address: UInt64, max: Int = 4096) throws(LinuxErrno) -> [UInt8] {
        var out: [UInt8] = []
        var cursor = address
        while true {
            guard let v = vma(containing: cursor), v.protection.contains(.read), !v.beyondEOF else { throw .EFAULT }
            let p = memoryFile.pointer(v.fileStart + (cursor - v.start)).assumingMemoryBound(to: UInt8.self)
            let avail = Int(v.end - cursor)
            for i in 0..<avail {
                if p[i] == 0 { return out }
                out.append(p[i])
                if out.count >= max { throw .ENAMETOOLONG }
            }
            cursor = v.end
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

    /// Zero-copy I/O vectors over guest memory for the iovec array at `iov`.
    func ioVectors(_ iov: UInt64, count: Int, write: Bool) throws(LinuxErrno) -> [UnsafeMutableRawBufferPointer] {
        guard count >= 0, count <= 1024 else { throw .EINVAL }
        var out: [UnsafeMutableRawBufferPointer] = []
        var total: UInt64 = 0
        for i in 0..<count {
            let base: UInt64 = try readValue(iov &+ UInt64(i) &* 16)
            let len: UInt64 = try readValue(iov &+ UInt64(i) &* 16 &+ 8)
            guard len <= UInt64(Int.max) else { throw .EINVAL }
            total &+= len
            guard total <= 0x7fff_f000 else { throw .EINVAL }
            try forEachSegment(base, Int(len), write: write) { out.append($0) }
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
