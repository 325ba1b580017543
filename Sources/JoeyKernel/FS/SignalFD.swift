// signalfd: pending signals read as signalfd_siginfo records (signalfd(2)). A read takes the
// reading thread's pending signals in the mask, then its process's; readiness is the
// calling thread's view, as on Linux. Every signal queued wakes the process's signal queue.
import Glibc
import JoeyABI

final class SignalFDDescription: FileDescription {
    var mask: UInt64
    unowned(unsafe) let kernel: Kernel

    init(kernel: Kernel, mask: UInt64, flags: Int32) {
        self.kernel = kernel
        self.mask = mask
        super.init(anonymous: "[signalfd]", fs: kernel.anonFS, flags: O_RDWR | flags)
    }

    private func pendingHere(_ t: GuestThread) -> UInt64 { (t.pending | t.group.pendingShared) & mask }

    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 { try seekNowhere(whence) }

    override func fdinfoLines(seenIn ns: PIDNamespace) -> String { "sigmask:\t\(ProcFS.hex(mask, 16))\n" }

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        guard dst.count >= 128 else { throw .EINVAL }
        var done = 0
        while dst.count >= 128 {
            let p = pendingHere(t)
            guard p != 0 else { break }
            let sig = Int32(p.trailingZeroBitCount + 1)
            let info = t.dequeueSignal(sig)
            var rec = [UInt8](repeating: 0, count: 128)
            let ns = t.group.userNS
            rec.withUnsafeMutableBytes { b in
                b.storeBytes(of: UInt32(sig), toByteOffset: 0, as: UInt32.self)
                b.storeBytes(of: info.code, toByteOffset: 8, as: Int32.self)
                b.storeBytes(of: UInt32(bitPattern: info.pid), toByteOffset: 12, as: UInt32.self)
                b.storeBytes(of: ns.shownUID(info.uid), toByteOffset: 16, as: UInt32.self)
                if info.code == -2 { // SI_TIMER: timer id and overrun
                    b.storeBytes(of: UInt32(bitPattern: info.pid), toByteOffset: 24, as: UInt32.self)
                    b.storeBytes(of: info.uid, toByteOffset: 32, as: UInt32.self)
                    b.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
                    b.storeBytes(of: UInt32(0), toByteOffset: 16, as: UInt32.self)
                }
                b.storeBytes(of: info.status, toByteOffset: 40, as: Int32.self)
                b.storeBytes(of: Int32(truncatingIfNeeded: info.value), toByteOffset: 44, as: Int32.self)
                b.storeBytes(of: info.value, toByteOffset: 48, as: UInt64.self)
                b.storeBytes(of: info.address ?? 0, toByteOffset: 72, as: UInt64.self)
                b.storeBytes(of: info.errno, toByteOffset: 4, as: Int32.self)
                if let nr = info.syscall { // ssi_syscall, ssi_call_addr, ssi_arch
                    b.storeBytes(of: nr, toByteOffset: 84, as: Int32.self)
                    b.storeBytes(of: info.address ?? 0, toByteOffset: 88, as: UInt64.self)
                    b.storeBytes(of: Seccomp.auditArchX86_64, toByteOffset: 96, as: UInt32.self)
                }
            }
            let n = try rec.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in try dst.copyOut(p) }
            guard n == 128 else { throw .EFAULT }
            done += 128
        }
        if done == 0 { throw .EAGAIN }
        return done
    }

    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int { throw .EINVAL }
    override func eventQueue() -> WaitQueue? { kernel.current?.group.signalQueue }
    override func readiness(_ mask: EventMask) -> EventMask {
        guard let t = kernel.current else { return [] }
        return pendingHere(t) != 0 ? mask.intersection(EventMask.input) : []
    }
}

extension GuestThread {
    func sysSignalfd4(flagsArg: UInt64) throws(LinuxErrno) -> UInt64 {
        guard a2 == 8 else { throw .EINVAL }
        guard flagsArg & ~UInt64(O_NONBLOCK | O_CLOEXEC) == 0 else { throw .EINVAL }
        let raw: UInt64 = try mm.readValue(a1)
        let mask = raw & ~(1 << 8 | 1 << 18) // SIGKILL and SIGSTOP are never read this way
        let fd = fdArg(a0)
        if fd != -1 {
            guard let existing = try group.fdTable.get(fd) as? SignalFDDescription else { throw .EINVAL }
            existing.mask = mask
            group.signalQueue.notify(EventMask.input)
            return UInt64(fd)
        }
        let flags = Int32(truncatingIfNeeded: flagsArg)
        let d = SignalFDDescription(kernel: kernel, mask: mask, flags: flags & O_NONBLOCK)
        return UInt64(try group.fdTable.install(d, closeOnExec: flags & O_CLOEXEC != 0))
    }
}
