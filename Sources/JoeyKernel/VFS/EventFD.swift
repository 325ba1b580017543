// eventfd: a 64-bit counter in the sentry (eventfd(2)).
import Glibc
import JoeyABI

final class EventFDDescription: FileDescription {
    var counter: UInt64
    let semaphore: Bool
    let kernel: Kernel

    init(initial: UInt64, semaphore: Bool, flags: Int32, kernel: Kernel, fs: FileSystemID) {
        counter = initial
        self.semaphore = semaphore
        self.kernel = kernel
        super.init(inode: AnonymousInode(name: "[eventfd]", fs: fs), flags: flags)
        path = "anon_inode:[eventfd]"
    }

    override func read(_ t: GuestThread, into buf: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int {
        guard buf.count >= 8 else { throw .EINVAL }
        while counter == 0 {
            if flags & O_NONBLOCK != 0 { throw .EAGAIN }
            try t.waitInterruptibly()
        }
        let value = semaphore ? 1 : counter
        counter -= value
        buf.storeBytes(of: value, as: UInt64.self)
        kernel.lock.broadcast()
        return 8
    }

    override func write(_ t: GuestThread, from buf: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int {
        guard buf.count >= 8 else { throw .EINVAL }
        let value = buf.loadUnaligned(as: UInt64.self)
        guard value != UInt64.max else { throw .EINVAL }
        while UInt64.max - 1 - counter < value {
            if flags & O_NONBLOCK != 0 { throw .EAGAIN }
            try t.waitInterruptibly()
        }
        counter += value
        kernel.lock.broadcast()
        return 8
    }

    override func readiness() -> (Bool, Bool, Bool) { (counter > 0, counter < UInt64.max - 1, false) }
}

/// The inode behind descriptions that have no file (eventfd, and later epoll, signalfd...).
final class AnonymousInode: Inode {
    let name: String
    init(name: String, fs: FileSystemID) {
        self.name = name
        super.init(kind: .regular, mode: 0o600, fs: fs)
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
