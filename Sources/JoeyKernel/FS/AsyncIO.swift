// Linux AIO (fs/aio.c): io_setup, io_submit, io_getevents, io_pgetevents, io_cancel,
// io_destroy. A context is a ring of completion events in a shared mapping of the process
// ("/[aio] (deleted)" in its maps), which libaio reads without a system call; its address is
// the context's id. Reads, writes and syncs are done when submitted, as Linux does buffered
// ones (a pipe or socket makes the submitter wait as read(2) would, and a signal then makes
// that request's result EINTR); IOCB_CMD_POLL waits on the file's queue and completes when
// the file is ready or the request is cancelled. IOCB_FLAG_RESFD adds one to an eventfd per
// completion. The ring's pages are the sandbox's memory (a memfd the MemoryFile holds), so
// fs.aio-max-nr is the only bound. A child of fork keeps the ring mapped but not the
// context, as on Linux. Kernel lock held throughout.
import Glibc
import JoeyABI
import JoeyPlatform

/// One context (Linux's kioctx).
final class AIOContext {
    /// The ring's address in the process: what io_setup returned and the calls name.
    let id: UInt64
    /// Its slot among the process's contexts (ring->id, which lookups check as Linux's does).
    let index: UInt32
    let ring: RegularFileInode
    let size: UInt64
    /// Events the ring holds (ring->nr); what io_setup asked for, counted in fs.aio-nr.
    let capacity: UInt32
    let asked: UInt32
    /// The kernel's own tail: the ring's copy is the process's to read (and overwrite).
    var tail: UInt32 = 0
    /// Poll requests waiting, by the iocb's address.
    var polls: [UInt64: AIOPoll] = [:]
    /// io_getevents sleepers.
    let queue = WaitQueue()
    var dead = false
    unowned(unsafe) let kernel: Kernel

    static let magic: UInt32 = 0xa10a_10a1
    static let headerLength: UInt64 = 32, eventSize: UInt64 = 32

    init(id: UInt64, index: UInt32, ring: RegularFileInode, size: UInt64, asked: UInt32, kernel: Kernel) {
        self.id = id; self.index = index; self.ring = ring; self.size = size; self.asked = asked
        self.kernel = kernel
        capacity = UInt32((size - Self.headerLength) / Self.eventSize)
    }

    // MARK: the ring, read and written through its file (the process's mapping shows it)

    private func readRing(_ offset: UInt64, _ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { p in
            var seq = IOSequence.sentry(p, in: kernel.memoryFile)
            _ = try? ring.read(&seq, at: offset)
        }
        return bytes
    }

    private func writeRing(_ offset: UInt64, _ bytes: [UInt8]) {
        var copy = bytes
        copy.withUnsafeMutableBytes { p in
            var seq = IOSequence.sentry(p, in: kernel.memoryFile)
            _ = try? ring.write(&seq, at: offset)
        }
    }

    private func word(_ offset: UInt64) -> UInt32 {
        readRing(offset, 4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
    }

    private func setWord(_ offset: UInt64, _ v: UInt32) { writeRing(offset, withUnsafeBytes(of: v) { Array($0) }) }

    /// struct aio_ring: id, nr, head, tail, magic, compat_features, incompat_features,
    /// header_length.
    func writeHeader() {
        var h = [UInt8]()
        for v in [index, capacity, 0, 0, Self.magic, 1, 0, UInt32(Self.headerLength)] { withUnsafeBytes(of: v) { h += $0 } }
        writeRing(0, h)
    }

    /// Events in the ring not yet taken, from the head the process left.
    var unreaped: UInt32 {
        let head = word(8) % capacity
        return tail >= head ? tail - head : tail + capacity - head
    }

    /// Requests that may still be submitted: one slot always stays free (head == tail is
    /// empty), and each waiting poll holds one.
    var available: Int { Int(capacity) - 1 - Int(unreaped) - polls.count }

    /// Puts an event (struct io_event: data, obj, res, res2) in the ring, signals the
    /// eventfd, wakes io_getevents (aio_complete).
    func complete(data: UInt64, obj: UInt64, result: Int64, eventFD: EventFDDescription?) {
        var e = [UInt8]()
        for v in [data, obj, UInt64(bitPattern: result), 0] { withUnsafeBytes(of: v) { e += $0 } }
        writeRing(Self.headerLength + UInt64(tail) * Self.eventSize, e)
        tail = (tail + 1) % capacity
        setWord(12, tail)
        eventFD?.signal(1)
        queue.notify(EventMask.input)
    }

    /// Takes up to `count` events from the head (aio_read_events_ring): their bytes, and the
    /// head moved past them. Both head and tail are read from the ring, as Linux reads them.
    func take(_ count: Int) -> [UInt8] {
        var head = word(8)
        let ringTail = word(12)
        guard head != ringTail, count > 0 else { return [] }
        head %= capacity
        let end = ringTail % capacity
        var out = [UInt8]()
        var taken = 0
        while taken < count && head != end {
            let run = min(Int((head <= end ? end : capacity) - head), count - taken)
            out += readRing(Self.headerLength + UInt64(head) * Self.eventSize, run * Int(Self.eventSize))
            taken += run
            head = (head + UInt32(run)) % capacity
        }
        setWord(8, head)
        return out
    }

    /// Ends the context (io_destroy, the process's exec or exit): waiting polls are dropped
    /// from their files' queues (Linux cancels them; their events go nowhere), sleepers wake.
    func kill() {
        dead = true
        for p in polls.values { p.detach() }
        polls = [:]
        queue.notify(EventMask.input)
    }

    /// What it asked for leaves fs.aio-nr when nothing holds it any more (io_destroy, or
    /// the address space gone: an exec, the process's exit), whichever thread drops it last.
    deinit { kernel.aioEvents.subtract(Int(asked), ordering: .relaxed) }
}

final class WeakWaiter { weak var waiter: Waiter? }

/// An IOCB_CMD_POLL request waiting for its file (Linux's poll_iocb).
final class AIOPoll {
    let obj: UInt64, data: UInt64
    let events: EventMask
    let file: FileDescription
    let eventFD: EventFDDescription?
    weak var context: AIOContext?
    var waiter: Waiter?

    init(obj: UInt64, data: UInt64, events: EventMask, file: FileDescription, eventFD: EventFDDescription?, context: AIOContext) {
        self.obj = obj; self.data = data; self.events = events; self.file = file; self.eventFD = eventFD; self.context = context
    }

    func detach() {
        if let waiter { file.eventQueue()?.remove(waiter) }
        waiter = nil
    }

    /// Completes with the events that are ready now (none: cancelled), once.
    func finish(_ ready: EventMask) {
        detach()
        guard let ctx = context, ctx.polls.removeValue(forKey: obj) != nil else { return }
        ctx.complete(data: data, obj: obj, result: Int64(ready.rawValue), eventFD: eventFD)
    }
}

extension GuestThread {
    private static let IOCB_CMD_PREAD: UInt16 = 0, IOCB_CMD_PWRITE: UInt16 = 1, IOCB_CMD_FSYNC: UInt16 = 2
    private static let IOCB_CMD_FDSYNC: UInt16 = 3, IOCB_CMD_POLL: UInt16 = 5, IOCB_CMD_PREADV: UInt16 = 7
    private static let IOCB_CMD_PWRITEV: UInt16 = 8
    private static let IOCB_FLAG_RESFD: UInt32 = 1, IOCB_FLAG_IOPRIO: UInt32 = 2

    /// The context `id` names (lookup_ioctx): its ring must still be readable at `id` and
    /// name the context's slot; EINVAL otherwise.
    private func aioContext(_ id: UInt64) throws(LinuxErrno) -> AIOContext {
        guard let slot = try? mm.readValue(id, as: UInt32.self), let ctx = mm.aioContexts[id], !ctx.dead, ctx.index == slot else {
            throw .EINVAL
        }
        return ctx
    }

    /// io_setup: a context for at least `nr_events` requests at once, its id written to
    /// *ctxp (which must hold 0).
    func sysIoSetup() throws(LinuxErrno) -> UInt64 {
        let asked = UInt32(truncatingIfNeeded: a0)
        let current: UInt64 = try mm.readValue(a1)
        guard current == 0, asked != 0 else { throw .EINVAL }
        // As ioctx_alloc sizes it: doubled for Linux's per-CPU slot caches, two more for the
        // ring's empty slot, then whatever fills the last page.
        let cpus = UInt64((HostCPUs.ids.max() ?? 0) + 1)
        let events = max(UInt64(asked), cpus * 4) * 2
        guard events <= 0x1000_0000 / AIOContext.eventSize else { throw .EINVAL }
        let maxNr = kernel.tunables.aioMaxNr
        guard UInt64(asked) <= UInt64(maxNr), kernel.aioEvents.load(ordering: .relaxed) + Int(asked) <= maxNr else { throw .EAGAIN }
        let size = (AIOContext.headerLength + (events + 2) * AIOContext.eventSize + 0xfff) & ~UInt64(0xfff)
        let inode = RegularFileInode(context: kernel.memfdContext, mode: 0o600)
        inode.nlink = 0
        let file = try inode.open(flags: O_RDWR, kernel: kernel)
        try inode.truncate(size)
        file.path = ByteString("/[aio] (deleted)")
        let index = (0...).first { i in !mm.aioContexts.values.contains { $0.index == UInt32(i) } }!
        let start: UInt64
        do {
            try mm.checkRoomForMappings(limit: kernel.tunables.mapCountLimit)
            start = try mapMemory(file, address: 0, length: size, protection: [.read, .write], shared: true, flags: 0, offset: 0)
        } catch {
            throw .ENOMEM
        }
        let ctx = AIOContext(id: start, index: UInt32(index), ring: inode, size: size, asked: asked, kernel: kernel)
        ctx.writeHeader()
        mm.aioContexts[start] = ctx
        kernel.aioEvents.add(Int(asked), ordering: .relaxed)
        do { try mm.writeValue(a1, start) } catch {
            destroy(ctx)
            throw error
        }
        return 0
    }

    /// io_destroy: the context ends, its ring is unmapped.
    func sysIoDestroy() throws(LinuxErrno) -> UInt64 {
        destroy(try aioContext(a0))
        return 0
    }

    private func destroy(_ ctx: AIOContext) {
        ctx.kill()
        mm.aioContexts[ctx.id] = nil
        // The ring goes only where it is still the ring (the process may have unmapped it).
        if let v = mm.vma(containing: ctx.id), v.file?.inode === ctx.ring {
            var end = ctx.id
            while end < ctx.id + ctx.size, let w = mm.vma(containing: end), w.file?.inode === ctx.ring { end = w.end }
            try? unmapRange(ctx.id, end - ctx.id)
        }
    }

    /// io_submit: submits up to `nr` iocbs in order; returns how many were, or the error of
    /// the first when none was.
    func sysIoSubmit() throws(LinuxErrno) -> UInt64 {
        let nr = Int64(bitPattern: a1)
        guard nr >= 0 else { throw .EINVAL }
        let ctx = try aioContext(a0)
        let count = min(nr, Int64(ctx.capacity))
        var done: Int64 = 0
        while done < count {
            do {
                let iocb: UInt64 = try mm.readValue(a2 &+ UInt64(done) * 8)
                try submit(ctx, iocb)
            } catch {
                if done > 0 { break }
                throw error
            }
            done += 1
        }
        return UInt64(done)
    }

    /// io_submit_one: struct iocb is aio_data, aio_key, aio_rw_flags, aio_lio_opcode,
    /// aio_reqprio, aio_fildes, aio_buf, aio_nbytes, aio_offset, aio_reserved2, aio_flags,
    /// aio_resfd (64 bytes).
    private func submit(_ ctx: AIOContext, _ address: UInt64) throws(LinuxErrno) {
        let b = try mm.read(address, count: 64)
        func u64(_ at: Int) -> UInt64 { b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt64.self) } }
        func u32(_ at: Int) -> UInt32 { b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) } }
        let data = u64(0), rwFlags = u32(12), opcode = UInt16(truncatingIfNeeded: u32(16))
        let fd = Int32(bitPattern: u32(20)), buffer = u64(24), length = u64(32), offset = Int64(bitPattern: u64(40))
        let flags = u32(56), resfd = Int32(bitPattern: u32(60))
        guard u64(48) == 0 else { throw .EINVAL }                  // aio_reserved2
        guard Int64(bitPattern: length) >= 0 else { throw .EINVAL }
        guard ctx.available > 0 else { throw .EAGAIN }
        let f = try group.fdTable.get(fd)
        var eventFD: EventFDDescription?
        if flags & Self.IOCB_FLAG_RESFD != 0 {
            guard let e = try group.fdTable.get(resfd) as? EventFDDescription else { throw .EINVAL }
            eventFD = e
        }
        try mm.writeValue(address &+ 8, UInt32(0)) // aio_key: KIOCB_KEY
        switch opcode {
        case Self.IOCB_CMD_PREAD, Self.IOCB_CMD_PREADV, Self.IOCB_CMD_PWRITE, Self.IOCB_CMD_PWRITEV:
            let writing = opcode == Self.IOCB_CMD_PWRITE || opcode == Self.IOCB_CMD_PWRITEV
            if flags & Self.IOCB_FLAG_IOPRIO != 0 { try checkIOPriority(UInt16(truncatingIfNeeded: u32(16) >> 16)) }
            guard rwFlags & ~UInt32(0x7f) == 0 else { throw .EOPNOTSUPP } // the RWF_* Linux knows
            guard writing ? f.writable : f.readable else { throw .EBADF }
            // A directory has no read_iter or write_iter.
            guard f.inode.kind != .directory else { throw .EINVAL }
            var io: IOSequence
            if opcode == Self.IOCB_CMD_PREADV || opcode == Self.IOCB_CMD_PWRITEV {
                io = .guest(mm, ranges: try mm.ioRanges(buffer, count: Int(min(length, 1025))))
            } else {
                io = guestBuffer(buffer, length)
            }
            // A stream (pipe, socket, anonymous file) has no position: the offset is unused.
            let stream = f.inode is AnonymousInode || f.inode.kind == .fifo || f.inode.kind == .socket
            let at: UInt64? = stream ? nil : (rwFlags & 0x10 != 0 && writing ? f.inode.size : UInt64(bitPattern: offset))
            // rw_verify_area's checks fail the submission; what the I/O meets is its result.
            if let at {
                let (end, overflow) = at.addingReportingOverflow(UInt64(io.count))
                guard Int64(bitPattern: at) >= 0, !overflow, end <= UInt64(Int64.max) else { throw .EINVAL }
            }
            var result: Int64
            do {
                // RWF_NOWAIT: what would wait is EAGAIN instead.
                let nowait = rwFlags & 0x8 != 0
                result = Int64(writing ? try writeCommon(f, &io, at: at, nonblocking: nowait)
                                       : try readCommon(f, &io, at: at, nonblocking: nowait))
            } catch let e where [.ERESTARTSYS, .ERESTARTNOINTR, .ERESTARTNOHAND, .ERESTART_RESTARTBLOCK].contains(e) {
                // Other requests may have run: not restarted, this one fails (aio_rw_done).
                result = -Int64(LinuxErrno.EINTR.rawValue)
            } catch {
                result = -Int64(error.rawValue)
            }
            ctx.complete(data: data, obj: address, result: result, eventFD: eventFD)
        case Self.IOCB_CMD_FSYNC, Self.IOCB_CMD_FDSYNC:
            guard buffer == 0, offset == 0, length == 0, rwFlags == 0 else { throw .EINVAL }
            guard f.hasFsync else { throw .EINVAL }
            var result: Int64 = 0
            do { try syncToHost(f.inode, dataOnly: opcode == Self.IOCB_CMD_FDSYNC) } catch { result = -Int64(error.rawValue) }
            ctx.complete(data: data, obj: address, result: result, eventFD: eventFD)
        case Self.IOCB_CMD_POLL:
            guard buffer >> 16 == 0, offset == 0, length == 0, rwFlags == 0 else { throw .EINVAL }
            let events = EventMask(rawValue: UInt32(buffer)).union([.error, .hangUp])
            let ready = f.readiness(events).intersection(events)
            if !ready.isEmpty {
                ctx.complete(data: data, obj: address, result: Int64(ready.rawValue), eventFD: eventFD)
                return
            }
            // A file that cannot be waited on (no queue) and is not ready: no poll support.
            guard let queue = f.eventQueue() else { throw .EINVAL }
            let poll = AIOPoll(obj: address, data: data, events: events, file: f, eventFD: eventFD, context: ctx)
            // A poll whose context went with its address space takes its waiter off the
            // file's queue at the next event.
            let own = WeakWaiter()
            // Woken, it completes with the events of the wakeup, all of them (aio_poll_wake).
            let waiter = Waiter(mask: events) { [weak poll, weak queue] woken in
                guard let poll else {
                    if let w = own.waiter { queue?.remove(w) }
                    return false
                }
                guard !woken.isDisjoint(with: poll.events) else { return false }
                poll.finish(woken)
                return true
            }
            own.waiter = waiter
            poll.waiter = waiter
            ctx.polls[address] = poll
            queue.add(waiter)
        default:
            throw .EINVAL
        }
    }

    /// ioprio_check_cap for IOCB_FLAG_IOPRIO: a known class and level; the real-time class
    /// takes CAP_SYS_ADMIN or CAP_SYS_NICE.
    private func checkIOPriority(_ prio: UInt16) throws(LinuxErrno) {
        let cls = prio >> 13, level = prio & 0x1fff
        switch cls {
        case 1: // IOPRIO_CLASS_RT
            guard group.capable(21, in: .initial) || group.capable(23, in: .initial) else { throw .EPERM }
            guard level < 8 else { throw .EINVAL }
        case 2: guard level < 8 else { throw .EINVAL }    // BE
        case 3, 0: break                                     // IDLE, NONE
        default: throw .EINVAL
        }
    }

    /// io_cancel: only a waiting poll can be; its event (res 0) still comes through the ring,
    /// so this returns EINPROGRESS, as Linux. Anything else is EINVAL.
    func sysIoCancel() throws(LinuxErrno) -> UInt64 {
        let key: UInt32 = try mm.readValue(a1 &+ 8)
        guard key == 0 else { throw .EINVAL }
        let ctx = try aioContext(a0)
        guard let poll = ctx.polls[a1] else { throw .EINVAL }
        poll.finish([])
        throw .EINPROGRESS
    }

    func sysIoGetevents() throws(LinuxErrno) -> UInt64 {
        let deadline = try eventsDeadline(a4)
        do { return try getEvents(deadline: deadline) } catch let e where e == .ERESTARTSYS { throw .EINTR }
    }

    /// io_pgetevents: io_getevents with the signal mask of struct __aio_sigset (the mask's
    /// address and size) in place while it waits; interrupted with nothing read, restarted
    /// unless a handler runs (ERESTARTNOHAND).
    func sysIoPgetevents() throws(LinuxErrno) -> UInt64 {
        let deadline = try eventsDeadline(a4)
        var maskAddress: UInt64 = 0
        if a5 != 0 {
            let (address, size): (UInt64, UInt64) = try mm.readValue(a5)
            if address != 0 && size != 8 { throw .EINVAL }
            maskAddress = address
        }
        return try withTemporaryMask(maskAddress) { () throws(LinuxErrno) -> UInt64 in
            do throws(LinuxErrno) { return try self.getEvents(deadline: deadline) } catch {
                throw error == .ERESTARTSYS ? .ERESTARTNOHAND : error
            }
        }
    }

    /// The relative timeout: nil none (wait for ever), 0 no wait. A negative or zero time is
    /// no wait; nothing else is checked (timespec64_to_ktime).
    private func eventsDeadline(_ address: UInt64) throws(LinuxErrno) -> UInt64? {
        guard address != 0 else { return nil }
        let ts: timespec = try mm.readValue(address)
        if ts.tv_sec < 0 || (ts.tv_sec == 0 && ts.tv_nsec <= 0) { return 0 }
        return saturatingAdd(monotonicNanos(), saturatingNanos(seconds: Int64(ts.tv_sec), nanos: Int64(ts.tv_nsec)))
    }

    /// Reads at least `min_nr` and at most `nr` events into `events`, waiting until the
    /// deadline; what was read by then is returned. A signal with nothing read is ERESTARTSYS.
    private func getEvents(deadline: UInt64?) throws(LinuxErrno) -> UInt64 {
        let minNr = Int64(bitPattern: a1), nr = Int64(bitPattern: a2), out = a3
        let ctx = try aioContext(a0)
        guard minNr >= 0, nr >= 0, minNr <= nr else { throw .EINVAL }
        var got: Int64 = 0
        while true {
            let bytes = ctx.take(Int(min(nr - got, Int64(ctx.capacity))))
            if !bytes.isEmpty {
                do { try mm.write(out &+ UInt64(got) * AIOContext.eventSize, bytes) } catch {
                    if got == 0 { throw error }
                    return UInt64(got)
                }
                got += Int64(bytes.count) / Int64(AIOContext.eventSize)
            }
            if ctx.dead && got == 0 { throw .EINVAL }
            if ctx.dead || got >= minNr || deadline == 0 { return UInt64(got) }
            if let deadline, monotonicNanos() >= deadline { return UInt64(got) }
            do { try block(on: ctx.queue, EventMask.input, deadline: deadline) } catch {
                if got > 0 { return UInt64(got) }
                throw error
            }
        }
    }
}
