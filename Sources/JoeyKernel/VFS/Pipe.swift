// Pipes and FIFOs: a bounded in-sentry buffer; blocking waits on the kernel lock's
// condition and wakes for guest signals.
import Glibc
import JoeyABI

final class PipeBuffer {
    static let defaultCapacity = 65536
    var capacity = PipeBuffer.defaultCapacity
    var data: [UInt8] = []
    var head = 0
    var readers = 0
    var writers = 0
    /// How many times each end was ever opened, so a blocked FIFO open sees even a brief peer.
    var readerOpens = 0
    var writerOpens = 0
    var count: Int { data.count - head }
}

final class PipeInode: Inode {
    let buffer = PipeBuffer()
    init(fs: FileSystemID) { super.init(kind: .fifo, mode: 0o600, fs: fs) }
    override var size: UInt64 { UInt64(buffer.count) }
}

final class PipeDescription: FileDescription {
    let buffer: PipeBuffer
    let kernel: Kernel
    let isReader: Bool

    init(inode: Inode, buffer: PipeBuffer, reader: Bool, flags: Int32, kernel: Kernel) {
        self.buffer = buffer
        self.isReader = reader
        self.kernel = kernel
        super.init(inode: inode, flags: flags)
        if reader { buffer.readers += 1; buffer.readerOpens += 1 } else { buffer.writers += 1; buffer.writerOpens += 1 }
    }

    override func release() {
        if isReader { buffer.readers -= 1 } else { buffer.writers -= 1 }
        // A FIFO whose last end closed starts empty next time (Linux frees the pipe too).
        if buffer.readers == 0 && buffer.writers == 0, let key = kernel.fifoBuffers.first(where: { $0.value === buffer })?.key {
            kernel.fifoBuffers[key] = nil
        }
        kernel.lock.broadcast()
    }

    override func read(_ t: GuestThread, into buf: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int {
        guard isReader else { throw .EBADF }
        if buf.count == 0 { return 0 }
        while buffer.count == 0 {
            if buffer.writers == 0 { return 0 }
            if flags & O_NONBLOCK != 0 { throw .EAGAIN }
            try t.waitInterruptibly()
        }
        let n = min(buf.count, buffer.count)
        buffer.data.withUnsafeBytes { buf.baseAddress!.copyMemory(from: $0.baseAddress! + buffer.head, byteCount: n) }
        buffer.head += n
        if buffer.head == buffer.data.count { buffer.data.removeAll(keepingCapacity: true); buffer.head = 0 }
        else if buffer.head > 32768 { buffer.data.removeFirst(buffer.head); buffer.head = 0 }
        kernel.lock.broadcast()
        return n
    }

    override func write(_ t: GuestThread, from buf: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int {
        guard !isReader else { throw .EBADF }
        var written = 0
        while written < buf.count {
            if buffer.readers == 0 {
                t.group.sendSignal(Signal.SIGPIPE)
                if written > 0 { return written }
                throw .EPIPE
            }
            let space = buffer.capacity - buffer.count
            // Writes up to PIPE_BUF are atomic.
            if space == 0 || (buf.count - written <= 4096 && space < buf.count - written) {
                if flags & O_NONBLOCK != 0 { if written > 0 { return written }; throw .EAGAIN }
                do { try t.waitInterruptibly() } catch { if written > 0 { return written }; throw error }
                continue
            }
            let n = min(space, buf.count - written)
            buffer.data.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[written..<(written + n)]))
            written += n
            kernel.lock.broadcast()
        }
        return written
    }

    override func readiness() -> (Bool, Bool, Bool) {
        // An empty pipe without writers is POLLHUP only (select counts that as readable).
        if isReader { return (buffer.count > 0, false, buffer.writers == 0) }
        return (false, buffer.readers == 0 || buffer.count < buffer.capacity, buffer.readers == 0)
    }

    override func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        if request == 0x541B /* FIONREAD */ {
            try t.mm.writeValue(argument, Int32(buffer.count))
            return 0
        }
        throw .ENOTTY
    }
}

extension Kernel {
    /// open(2) of a FIFO: a reader waits for a writer and vice versa unless O_NONBLOCK.
    func openNamedPipe(_ inode: Inode, flags: Int32) throws(LinuxErrno) -> FileDescription {
        let key = ObjectIdentifier(inode)
        let buffer = fifoBuffers[key] ?? PipeBuffer()
        fifoBuffers[key] = buffer
        let mode = flags & O_ACCMODE
        if mode == O_WRONLY && buffer.readers == 0 && flags & O_NONBLOCK != 0 { throw .ENXIO }
        if mode == O_RDWR {
            // Never blocks. The description is the write end only: reading through an O_RDWR
            // FIFO fd is not supported yet (EBADF).
            return PipeDescription(inode: inode, buffer: buffer, reader: false, flags: flags, kernel: self)
        }
        let reader = mode == O_RDONLY
        let seen = reader ? buffer.writerOpens : buffer.readerOpens
        let d = PipeDescription(inode: inode, buffer: buffer, reader: reader, flags: flags, kernel: self)
        lock.broadcast()
        // A blocking open waits for the other end (fifo(7)).
        if flags & O_NONBLOCK == 0, let t = current {
            do {
                while (reader ? buffer.writerOpens : buffer.readerOpens) == seen && (reader ? buffer.writers : buffer.readers) == 0 {
                    try t.waitInterruptibly()
                }
            } catch {
                d.release()
                throw error
            }
        }
        return d
    }
}
