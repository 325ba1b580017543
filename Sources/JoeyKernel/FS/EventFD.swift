// eventfd: a 64-bit counter in the sentry (eventfd(2)).
import Glibc
import JoeyABI

final class EventFDDescription: FileDescription {
    var counter: UInt64
    let semaphore: Bool
    let queue = WaitQueue()
    let kernel: Kernel
    /// eventfd-id in fdinfo: the smallest number no other live eventfd has (ida_alloc).
    let id: Int32

    init(initial: UInt64, semaphore: Bool, flags: Int32, kernel: Kernel, fs: FileSystemID) {
        counter = initial
        self.semaphore = semaphore
        self.kernel = kernel
        id = kernel.eventFDIDs.take()
        super.init(anonymous: "[eventfd]", fs: fs, flags: flags)
    }

    override func release() { kernel.eventFDIDs.give(id) }

    override func fdinfoLines(seenIn ns: PIDNamespace) -> String {
        "eventfd-count: \(String(counter, radix: 16).leftPadded(16, with: " "))\neventfd-id: \(id)\neventfd-semaphore: \(semaphore ? 1 : 0)\n"
    }

    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 { try seekNowhere(whence) }

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        guard dst.count >= 8 else { throw .EINVAL }
        if counter == 0 { throw .EAGAIN }
        let value = semaphore ? 1 : counter
        // The counter changes only once the value reached the guest (EFAULT leaves it).
        var out = dst.prefix(8)
        guard try out.copyOut(value: value) == 8 else { throw .EFAULT }
        dst.skip(8)
        counter -= value
        queue.notify(.output)
        return 8
    }

    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        guard src.count >= 8 else { throw .EINVAL }
        // Read without consuming: a write that must wait reads the value again when retried.
        var value: UInt64 = 0
        var peek = src
        let n = try withUnsafeMutableBytes(of: &value) { p in Result { () throws(LinuxErrno) -> Int in try peek.copyIn(p) } }.get()
        guard n == 8 else { throw .EFAULT }
        guard value != UInt64.max else { throw .EINVAL }
        // Room for value below UInt64.max - 1 (a kernel producer may have filled it to max).
        if value >= UInt64.max - counter { throw .EAGAIN }
        src.skip(8)
        counter += value
        queue.notify(.input)
        return 8
    }

    override func eventQueue() -> WaitQueue? { queue }

    /// A kernel producer's addition (eventfd_signal: AIO completions): saturating at
    /// UInt64.max, which a write can never reach and poll reports as POLLERR; never blocking.
    func signal(_ n: UInt64) {
        counter += min(n, UInt64.max - counter)
        queue.notify(.input)
    }

    override func readiness(_ mask: EventMask) -> EventMask {
        var r: EventMask = []
        if counter > 0 { r.formUnion(.input) }
        if counter < UInt64.max - 1 { r.formUnion(.output) }
        if counter == UInt64.max { r.formUnion(.error) }
        return r.intersection(mask.union(.alwaysReported))
    }
}

extension GuestThread {
    func sysEventfd2(flagsArg: UInt64) throws(LinuxErrno) -> UInt64 {
        let known = UInt64(1 | O_NONBLOCK | O_CLOEXEC) // EFD_SEMAPHORE, EFD_NONBLOCK, EFD_CLOEXEC
        guard flagsArg & ~known == 0 else { throw .EINVAL }
        let flags = Int32(truncatingIfNeeded: flagsArg)
        let d = EventFDDescription(initial: UInt64(UInt32(truncatingIfNeeded: a0)), semaphore: flags & 1 != 0,
                                   flags: O_RDWR | (flags & O_NONBLOCK), kernel: kernel, fs: kernel.anonFS)
        return UInt64(try group.fdTable.install(d, closeOnExec: flags & O_CLOEXEC != 0))
    }
}

/// Numbers handed out smallest first and given back for reuse (Linux's IDA).
struct SmallestFreeIDs {
    private var next: Int32 = 0
    private var free: [Int32] = [] // sorted
    mutating func take() -> Int32 {
        if !free.isEmpty { return free.removeFirst() }
        defer { next += 1 }
        return next
    }
    mutating func give(_ id: Int32) {
        var lo = 0, hi = free.count
        while lo < hi { let mid = (lo + hi) / 2; if free[mid] < id { lo = mid + 1 } else { hi = mid } }
        free.insert(id, at: lo)
    }
}
