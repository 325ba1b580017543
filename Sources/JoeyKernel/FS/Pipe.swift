// Pipes and FIFOs: a bounded in-sentry buffer. Reads and writes never block here (EAGAIN);
// the syscall layer waits. Room is counted as Linux counts it, in page slots: a write fills
// the last page's tail when its sub-page remainder fits there, else whole new pages; a page
// is free again only once read to its end. So a one-page pipe half read is still full.
import Glibc
import JoeyABI

final class PipeBuffer {
    static let defaultCapacity = 65536
    static let pageSize = 4096
    /// F_GETPIPE_SZ: the slots (pages) times the page size.
    var capacity = PipeBuffer.defaultCapacity
    var data: [UInt8] = []
    var head = 0
    /// The pages in use, oldest first: the unread bytes of each, and where in its page its
    /// data ends (a later write may fill the page from there).
    private(set) var slots: [(unread: Int, end: Int)] = []
    var maxSlots: Int { capacity / PipeBuffer.pageSize }
    var isFull: Bool { slots.count >= maxSlots }

    /// How many of `count` bytes one write may put in now (pipe_write: the remainder past
    /// whole pages into the last page if it fits there, then one new page per slot free).
    func room(forWrite count: Int) -> Int {
        var room = 0
        let remainder = count % PipeBuffer.pageSize
        if remainder > 0, let last = slots.last, last.end + remainder <= PipeBuffer.pageSize { room = remainder }
        return min(count, room + max(0, maxSlots - slots.count) * PipeBuffer.pageSize)
    }

    /// Appends `bytes` as one write of them (tee's copy).
    func append(_ bytes: ArraySlice<UInt8>) {
        data.append(contentsOf: bytes)
        appended(bytes.count, ofWrite: bytes.count)
    }

    /// `n` bytes just appended to `data` by one write of `count` bytes take slots as
    /// room(forWrite:) planned.
    func appended(_ n: Int, ofWrite count: Int) {
        var left = n
        let remainder = count % PipeBuffer.pageSize
        if remainder > 0, let last = slots.last, last.end + remainder <= PipeBuffer.pageSize {
            let n = min(remainder, left)
            slots[slots.count - 1] = (last.unread + n, last.end + n)
            left -= n
        }
        while left > 0 {
            let n = min(left, PipeBuffer.pageSize)
            slots.append((n, n))
            left -= n
        }
    }

    /// `n` bytes were read from the front: the pages read to their end are free.
    func consumed(_ n: Int) {
        head += n
        var left = n, done = 0
        while left > 0 && done < slots.count {
            let take = min(left, slots[done].unread)
            slots[done].unread -= take
            left -= take
            if slots[done].unread == 0 { done += 1 }
        }
        slots.removeFirst(done)
        if head == data.count { data.removeAll(keepingCapacity: true); head = 0 }
        else if head > 32768 { data.removeFirst(head); head = 0 }
    }
    /// Puts `bytes`, just read from the front, back there: a splice whose output took only
    /// part of what it read from this pipe (Linux's splice_from_pipe consumes only what the
    /// output took). Each page of them takes a slot again, even past the capacity: writers
    /// wait until it is read.
    func unconsumed(_ bytes: ArraySlice<UInt8>) {
        guard !bytes.isEmpty else { return }
        if head >= bytes.count {
            head -= bytes.count
            data.replaceSubrange(head..<(head + bytes.count), with: bytes)
        } else {
            data.replaceSubrange(0..<head, with: bytes)
            head = 0
        }
        var pages: [(unread: Int, end: Int)] = []
        var left = bytes.count
        while left > 0 {
            let n = min(left, PipeBuffer.pageSize)
            pages.append((n, n))
            left -= n
        }
        slots.insert(contentsOf: pages, at: 0)
    }

    var readers = 0
    var writers = 0
    /// How many times each end was ever opened, so a blocked FIFO open sees even a brief peer.
    var readerOpens = 0
    var writerOpens = 0
    var count: Int { data.count - head }
    /// Readers, writers, pollers and blocked FIFO opens wait here.
    let queue = WaitQueue()
    /// The open ends, for O_ASYNC: data written signals the read ends' owners (POLL_IN), room
    /// made signals the write ends' (POLL_OUT), as Linux's kill_fasync.
    var ends: [WeakPipeEnd] = []
    /// The user whose pipe pages (fs.pipe-user-pages-*) the buffer's capacity counts against.
    private var charged: (kernel: Kernel, uid: UInt32, pages: Int)?

    /// Counts `pages` against `uid` from now on (in place of what was counted before).
    func charge(_ kernel: Kernel, uid: UInt32, pages: Int) {
        uncharge()
        kernel.pipeUserPages[uid, default: 0] += pages
        charged = (kernel, uid, pages)
    }
    var chargedPages: Int { charged?.pages ?? 0 }
    var chargedUID: UInt32? { charged?.uid }

    private func uncharge() {
        guard let (kernel, uid, pages) = charged else { return }
        kernel.pipeUserPages[uid, default: 0] -= pages
        if kernel.pipeUserPages[uid] == 0 { kernel.pipeUserPages[uid] = nil }
        charged = nil
    }

    deinit { uncharge() }
}

final class WeakPipeEnd {
    weak var end: PipeDescription?
    init(_ end: PipeDescription) { self.end = end }
}

final class PipeInode: Inode {
    let buffer = PipeBuffer()
    init(fs: FileSystemID) { super.init(kind: .fifo, mode: 0o600, fs: fs) }
    override var size: UInt64 { UInt64(buffer.count) }
    /// Reopened through /proc/PID/fd: a new end of the same pipe, opened as a FIFO is.
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        try kernel.openNamedPipe(self, flags: flags)
    }
}

final class PipeDescription: FileDescription {
    let buffer: PipeBuffer
    let kernel: Kernel
    /// Which ends this description is: one, or both for a FIFO opened O_RDWR.
    let isReader: Bool
    let isWriter: Bool

    /// `writer`: the write end too (default: the end `reader` does not name).
    init(inode: Inode, buffer: PipeBuffer, reader: Bool, writer: Bool? = nil, flags: Int32, kernel: Kernel) {
        self.buffer = buffer
        self.isReader = reader
        self.isWriter = writer ?? !reader
        self.kernel = kernel
        super.init(inode: inode, flags: flags)
        if isReader { buffer.readers += 1; buffer.readerOpens += 1 }
        if isWriter { buffer.writers += 1; buffer.writerOpens += 1 }
        buffer.ends.append(WeakPipeEnd(self))
    }

    /// SIGIO (or F_SETSIG's signal) to the owners of the ends that asked (O_ASYNC).
    private func signalAsync(readers: Bool) {
        for w in buffer.ends {
            guard let e = w.end, e.flags & O_ASYNC != 0, e.asyncOwner != 0, readers ? e.isReader : e.isWriter else { continue }
            kernel.sendAsyncSignal(e, reason: readers ? .input : .output)
        }
    }

    override func release() {
        if isReader { buffer.readers -= 1 }
        if isWriter { buffer.writers -= 1 }
        buffer.ends.removeAll { $0.end == nil || $0.end === self }
        // A FIFO whose last end closed starts empty next time (Linux frees the pipe too).
        if buffer.readers == 0 && buffer.writers == 0, let key = kernel.fifoBuffers.first(where: { $0.value === buffer })?.key {
            kernel.fifoBuffers[key] = nil
        }
        // The other end sees EOF, POLLHUP or EPIPE.
        buffer.queue.notify(EventMask.input.union(.output).union([.hangUp, .error]))
    }

    override func eventQueue() -> WaitQueue? { buffer.queue }

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        guard isReader else { throw .EBADF }
        if dst.count == 0 { return 0 }
        if buffer.count == 0 {
            if buffer.writers == 0 { return 0 }
            throw .EAGAIN
        }
        let n = try buffer.data.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in
            try dst.copyOut(UnsafeRawBufferPointer(rebasing: p[buffer.head..<p.count]))
        }
        buffer.consumed(n)
        buffer.queue.notify(.output)
        signalAsync(readers: false)
        return n
    }

    /// Writes what fits now. Writes of at most PIPE_BUF bytes are atomic: all or EAGAIN.
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        guard isWriter else { throw .EBADF }
        try requireReader(t)
        let total = src.count
        let n = buffer.room(forWrite: total)
        if n == 0 || (total <= PipeBuffer.pageSize && n < total) { throw .EAGAIN }
        let old = buffer.data.count
        buffer.data.append(contentsOf: repeatElement(0, count: n))
        let copied: Int
        do {
            copied = try buffer.data.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in
                try src.copyIn(UnsafeMutableRawBufferPointer(rebasing: p[old..<(old + n)]))
            }
        } catch {
            buffer.data.removeLast(n)
            throw error
        }
        buffer.data.removeLast(n - copied)
        buffer.appended(copied, ofWrite: total)
        buffer.queue.notify(.input)
        signalAsync(readers: true)
        return copied
    }

    /// Writing into a pipe nobody reads: SIGPIPE, and EPIPE (write, splice, tee).
    func requireReader(_ t: GuestThread) throws(LinuxErrno) {
        if buffer.readers == 0 {
            t.sendSignalToSelf(Signal.SIGPIPE)
            throw .EPIPE
        }
    }

    override func readiness(_ mask: EventMask) -> EventMask {
        var r: EventMask = []
        if isReader {
            if buffer.count > 0 { r.formUnion(.input) }
            // An empty pipe without writers is POLLHUP only (select counts that as readable).
            if buffer.writers == 0 { r.insert(.hangUp) }
        }
        if isWriter {
            if !buffer.isFull { r.formUnion(.output) }
            if buffer.readers == 0 { r.insert(.error) }
        }
        return r.intersection(mask.union(.alwaysReported))
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
    /// alloc_pipe_info's sizing: a new pipe holds 64 KiB, or fs.pipe-max-size when that is
    /// less and the creator lacks CAP_SYS_RESOURCE. Its pages count against the creator's
    /// user: past fs.pipe-user-pages-soft an unprivileged user's new pipes get two pages,
    /// past -hard none (ENFILE); CAP_SYS_RESOURCE or CAP_SYS_ADMIN lifts both.
    func sizeNewPipe(_ buffer: PipeBuffer) throws(LinuxErrno) {
        guard let g = current?.group else { return }
        if tunables.pipeMaxSize < buffer.capacity && !g.capable(24, in: .initial) { buffer.capacity = tunables.pipeMaxSize }
        var pages = buffer.capacity / 4096
        let used = pipeUserPages[g.uid, default: 0]
        let unprivileged = !g.capable(24, in: .initial) && !g.capable(21, in: .initial)
        if unprivileged && tunables.pipeUserPagesSoft != 0 && used + pages > tunables.pipeUserPagesSoft {
            pages = 2 // PIPE_MIN_DEF_BUFFERS
            buffer.capacity = pages * 4096
        }
        if unprivileged && tunables.pipeUserPagesHard != 0 && used + pages > tunables.pipeUserPagesHard { throw .ENFILE }
        buffer.charge(self, uid: g.uid, pages: pages)
    }

    /// open(2) of a FIFO: a reader waits for a writer and vice versa unless O_NONBLOCK.
    func openNamedPipe(_ inode: Inode, flags: Int32) throws(LinuxErrno) -> FileDescription {
        let key = ObjectIdentifier(inode)
        let buffer = (inode as? PipeInode)?.buffer ?? fifoBuffers[key] ?? PipeBuffer()
        if !(inode is PipeInode) && fifoBuffers[key] == nil { try sizeNewPipe(buffer); fifoBuffers[key] = buffer }
        let mode = flags & O_ACCMODE
        // A pipe reopened through /proc never waits for, or requires, the other end (fifo_open's is_pipe).
        let anonymous = inode is PipeInode
        if mode == O_WRONLY && buffer.readers == 0 && flags & O_NONBLOCK != 0 && !anonymous { throw .ENXIO }
        if mode == O_RDWR {
            // Never blocks: the opener is both a reader and a writer (fifo(7)).
            let d = PipeDescription(inode: inode, buffer: buffer, reader: true, writer: true, flags: flags, kernel: self)
            buffer.queue.notify(EventMask.input.union(.output)) // blocked opens of either end
            return d
        }
        let reader = mode == O_RDONLY
        let seen = reader ? buffer.writerOpens : buffer.readerOpens
        let d = PipeDescription(inode: inode, buffer: buffer, reader: reader, flags: flags, kernel: self)
        buffer.queue.notify(EventMask.input.union(.output)) // a blocked open of the other end
        // A blocking open waits for the other end (fifo(7)).
        if flags & O_NONBLOCK == 0, !anonymous, let t = current {
            do {
                while (reader ? buffer.writerOpens : buffer.readerOpens) == seen && (reader ? buffer.writers : buffer.readers) == 0 {
                    try t.block(on: buffer.queue, EventMask.input.union(.output))
                }
            } catch {
                d.release()
                throw error
            }
        }
        return d
    }
}
