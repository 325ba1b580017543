// epoll: an interest list on the wait queues (Linux's fs/eventpoll.c is the model). Each
// interest registers a callback waiter on its file's queue; a notification puts it on the
// ready list and wakes the epoll's own queue (epoll_wait sleepers, and outer epolls watching
// this one). epoll_wait re-checks each ready interest's readiness, so level-triggered
// interests stay listed while ready and edge-triggered ones leave until the next event.
// An interest lives until EPOLL_CTL_DEL, the last reference to its file goes, or the epoll's
// own last reference goes (release). References among the epoll, its interests and their
// waiters are strong: each of those three ends takes the waiter off its queue and drops
// the interest (drop, release), which breaks the cycles. Weak ones gave every epoll and
// interest a side table, slowing each retain and release of them, many per epoll_ctl.
// Kernel lock held throughout.
import Glibc
import JoeyABI

final class EpollInterest {
    let owner: EventPollDescription
    let fd: Int32
    let file: FileDescription
    /// The epoll_event's events (EPOLLET, EPOLLONESHOT... included) and data.
    var events: UInt32
    var data: UInt64
    var waiter: Waiter?
    /// The queue the waiter is on (asked of the file once: a signalfd's depends on who asks).
    let queue: WaitQueue
    var listed = false

    init(owner: EventPollDescription, fd: Int32, file: FileDescription, queue: WaitQueue, events: UInt32, data: UInt64) {
        self.owner = owner; self.fd = fd; self.file = file; self.queue = queue; self.events = events; self.data = data
    }

    static let edgeTriggered: UInt32 = 1 << 31
    static let oneShot: UInt32 = 1 << 30
    static let wakeUp: UInt32 = 1 << 29
    static let exclusive: UInt32 = 1 << 28
    static let controlBits = edgeTriggered | oneShot | wakeUp | exclusive

    /// The poll events it asks for; errors and hang-ups always count.
    var mask: EventMask { EventMask(rawValue: events & ~Self.controlBits).union([.error, .hangUp]) }
    /// A one-shot interest that fired, until EPOLL_CTL_MOD re-arms it.
    var disabled = false

    /// What is ready now among what it asks for.
    func current() -> EventMask {
        if disabled { return [] }
        return file.readiness(mask).intersection(mask)
    }
}

final class EventPollDescription: FileDescription {
    private struct Key: Hashable {
        let fd: Int32
        let file: ObjectIdentifier
    }
    private var interests: [Key: EpollInterest] = [:]
    private var ready: [EpollInterest] = []
    let queue = WaitQueue()

    init(kernel: Kernel, flags: Int32) {
        super.init(anonymous: "[eventpoll]", fs: kernel.anonFS, flags: O_RDWR | flags)
    }

    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 { try seekNowhere(whence) }

    /// ep_show_fdinfo: one line an interest, its events as epoll_ctl left them (EPOLLERR and
    /// EPOLLHUP always; only the flags once a one-shot interest has fired).
    override func fdinfoLines(seenIn ns: PIDNamespace) -> String {
        interests.values.sorted { $0.fd < $1.fd }.map { i in
            let events = i.disabled ? i.events & EpollInterest.controlBits : i.events | EventMask.error.rawValue | EventMask.hangUp.rawValue
            return "tfd: \(String(i.fd).leftPadded(8, with: " ")) events: \(String(events, radix: 16).leftPadded(8, with: " "))"
                + " data: \(String(i.data, radix: 16).leftPadded(16, with: " "))  pos:\(i.file.offset)"
                + " ino:\(String(i.file.inode.ino, radix: 16)) sdev:\(String(i.file.inode.fs.dev, radix: 16))\n"
        }.joined()
    }

    override func eventQueue() -> WaitQueue? { queue }

    override func readiness(_ mask: EventMask) -> EventMask {
        ready.contains { !$0.current().isEmpty } ? mask.intersection(EventMask.input) : []
    }

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int { throw .EINVAL }
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int { throw .EINVAL }

    private func markReady(_ i: EpollInterest) {
        guard !i.listed else { return }
        i.listed = true
        ready.append(i)
        queue.notify(EventMask.input)
    }

    /// Whether `target` is this epoll or watches it through nested epolls (ELOOP), and how deep.
    private func reaches(_ target: EventPollDescription, depth: Int) -> Bool {
        if target === self || depth > 5 { return true }
        return target.interests.values.contains { ($0.file as? EventPollDescription).map { reaches($0, depth: depth + 1) } ?? false }
    }

    /// The longest chain of epolls from this one down through those it watches (itself
    /// counted), or up through those watching it; each epoll is looked at once.
    private func chainLength(down: Bool, _ memo: inout [ObjectIdentifier: Int]) -> Int {
        let id = ObjectIdentifier(self)
        if let d = memo[id] { return d }
        memo[id] = 1 // what a cycle would find (add refuses cycles)
        let next: [EventPollDescription] = down ? interests.values.compactMap { $0.file as? EventPollDescription }
                                                : epollInterests.map { $0.owner }
        let d = 1 + (next.map { $0.chainLength(down: down, &memo) }.max() ?? 0)
        memo[id] = d
        return d
    }

    /// Whether an exclusive interest asking for `mask` takes an event of `happened`: input
    /// only when it asks for input, output likewise; an event of neither always; one of both
    /// never (as ep_poll_callback's switch).
    private static func exclusiveTakes(_ happened: EventMask, _ mask: EventMask) -> Bool {
        let input = happened.contains(.readable), output = happened.contains(.writable)
        switch (input, output) {
        case (true, false): return mask.contains(.readable)
        case (false, true): return mask.contains(.writable)
        case (false, false): return true
        case (true, true): return false
        }
    }

    /// Linux's EPOLL_MAX_NESTS: at most 5 epolls in a chain of nested ones.
    static let maxChain = 5

    func add(fd: Int32, file: FileDescription, events: UInt32, data: UInt64) throws(LinuxErrno) {
        let key = Key(fd: fd, file: ObjectIdentifier(file))
        guard interests[key] == nil else { throw .EEXIST }
        guard let q = file.eventQueue() else { throw .EPERM }
        if let nested = file as? EventPollDescription {
            if events & EpollInterest.exclusive != 0 { throw .EINVAL }
            if reaches(nested, depth: 1) || nested.reaches(self, depth: 1) { throw .ELOOP }
            var below: [ObjectIdentifier: Int] = [:], above: [ObjectIdentifier: Int] = [:]
            if nested.chainLength(down: true, &below) + chainLength(down: false, &above) > Self.maxChain { throw .ELOOP }
        }
        let i = EpollInterest(owner: self, fd: fd, file: file, queue: q, events: events, data: data)
        let exclusive = events & EpollInterest.exclusive != 0
        let w = Waiter(mask: i.mask, exclusive: exclusive) { [self, i] happened in
            guard i.waiter != nil else { return false } // dropped during this notification
            // ep_poll_callback: an exclusive interest takes the event only when a thread waits
            // in epoll_wait here for that direction; otherwise the next exclusive one is tried.
            let took = !exclusive || self.queue.hasSleepers && Self.exclusiveTakes(happened, i.mask)
            self.markReady(i)
            return took
        }
        i.waiter = w
        q.add(w)
        interests[key] = i
        file.epollInterests.append(i)
        if !i.current().isEmpty { markReady(i) }
    }

    func modify(fd: Int32, file: FileDescription, events: UInt32, data: UInt64) throws(LinuxErrno) {
        guard let i = interests[Key(fd: fd, file: ObjectIdentifier(file))] else { throw .ENOENT }
        if events & EpollInterest.exclusive != 0 || i.events & EpollInterest.exclusive != 0 { throw .EINVAL }
        i.events = events
        i.data = data
        i.disabled = false
        i.waiter?.mask = i.mask
        if !i.current().isEmpty { markReady(i) }
    }

    func delete(fd: Int32, file: FileDescription) throws(LinuxErrno) {
        guard let i = interests[Key(fd: fd, file: ObjectIdentifier(file))] else { throw .ENOENT }
        drop(i)
        i.file.epollInterests.removeAll { $0 === i }
    }

    /// Forgets an interest (EPOLL_CTL_DEL, or its file's last reference went).
    func drop(_ i: EpollInterest) {
        interests[Key(fd: i.fd, file: ObjectIdentifier(i.file))] = nil
        if let w = i.waiter { i.queue.remove(w) }
        i.waiter = nil
        if i.listed {
            i.listed = false
            ready.removeAll { $0 === i }
        }
    }

    /// Takes up to `max` events off the ready list (ep_send_events).
    func collect(max: Int) -> [(UInt32, UInt64)] {
        var out: [(UInt32, UInt64)] = []
        var keep: [EpollInterest] = []
        var index = 0
        let list = ready
        ready = []
        while index < list.count && out.count < max {
            let i = list[index]
            index += 1
            let r = i.current()
            if r.isEmpty { i.listed = false; continue }
            out.append((r.rawValue, i.data))
            if i.events & EpollInterest.oneShot != 0 {
                i.disabled = true
                i.waiter?.mask = []
                i.listed = false
            } else if i.events & EpollInterest.edgeTriggered != 0 {
                i.listed = false
            } else {
                keep.append(i) // level-triggered: looked at again next time
            }
        }
        // Unvisited entries stay ahead of the ones just reported (round robin, as Linux).
        ready = Array(list[index...]) + ready + keep
        return out
    }

    override func release() {
        for i in interests.values {
            if let w = i.waiter { i.queue.remove(w) }
            i.waiter = nil
            i.file.epollInterests.removeAll { $0 === i }
        }
        interests = [:]
        ready = []
    }
}

extension GuestThread {
    func sysEpollCreate1(flagsArg: UInt64) throws(LinuxErrno) -> UInt64 {
        guard flagsArg & ~UInt64(O_CLOEXEC) == 0 else { throw .EINVAL }
        let d = EventPollDescription(kernel: kernel, flags: 0)
        return UInt64(try group.fdTable.install(d, closeOnExec: flagsArg != 0))
    }

    func sysEpollCreate() throws(LinuxErrno) -> UInt64 {
        guard Int32(truncatingIfNeeded: a0) > 0 else { throw .EINVAL }
        return try sysEpollCreate1(flagsArg: 0)
    }

    func sysEpollCtl() throws(LinuxErrno) -> UInt64 {
        let epfd = fdArg(a0), op = Int32(truncatingIfNeeded: a1), fd = fdArg(a2)
        let e = try group.fdTable.get(epfd)
        let target = try group.fdTable.get(fd)
        guard let ep = e as? EventPollDescription, epfd != fd else { throw .EINVAL }
        var events: UInt32 = 0, data: UInt64 = 0
        if op == 1 || op == 3 {
            let b = try mm.read(a3, count: 12)
            b.withUnsafeBytes { events = $0.loadUnaligned(as: UInt32.self); data = $0.loadUnaligned(fromByteOffset: 4, as: UInt64.self) }
            // EPOLLWAKEUP needs CAP_BLOCK_SUSPEND and is dropped silently without it; Joey has
            // no suspend to block.
            events &= ~EpollInterest.wakeUp
            if events & EpollInterest.exclusive != 0 {
                let allowed: UInt32 = 0x1 | 0x4 | 0x8 | 0x10 | 0x40 | 0x100 | EpollInterest.edgeTriggered | EpollInterest.exclusive
                if op == 3 || events & ~allowed != 0 { throw .EINVAL }
            }
        }
        switch op {
        case 1: try ep.add(fd: fd, file: target, events: events, data: data)
        case 2: try ep.delete(fd: fd, file: target)
        case 3: try ep.modify(fd: fd, file: target, events: events, data: data)
        default: throw .EINVAL
        }
        return 0
    }

    /// epoll_wait and its variants: never restarted after a signal handler (EINTR).
    private func epollWait(_ epfd: Int32, _ eventsAddr: UInt64, _ maxArg: UInt64, deadline: UInt64?) throws(LinuxErrno) -> UInt64 {
        let maxEvents = Int32(truncatingIfNeeded: maxArg)
        guard maxEvents > 0, Int(maxEvents) <= Int(Int32.max) / 12 else { throw .EINVAL }
        guard let ep = try group.fdTable.get(epfd) as? EventPollDescription else { throw .EINVAL }
        // The buffer must be writable before anything is taken off the ready list.
        _ = try mm.translate(eventsAddr, length: 12, write: true)
        while true {
            let got = ep.collect(max: Int(maxEvents))
            if !got.isEmpty {
                var b = [UInt8](repeating: 0, count: got.count * 12)
                b.withUnsafeMutableBytes { p in
                    for (k, (ev, data)) in got.enumerated() {
                        p.storeBytes(of: ev, toByteOffset: k * 12, as: UInt32.self)
                        p.storeBytes(of: data, toByteOffset: k * 12 + 4, as: UInt64.self)
                    }
                }
                try mm.write(eventsAddr, b)
                return UInt64(got.count)
            }
            if let deadline, monotonicNanos() >= deadline { return 0 }
            do {
                try block(on: ep.queue, EventMask.input, deadline: deadline)
            } catch {
                throw error == .ERESTARTSYS ? .EINTR : error
            }
        }
    }

    private func epollDeadline(millis: Int32) -> UInt64? {
        millis < 0 ? nil : saturatingAdd(monotonicNanos(), UInt64(millis) * 1_000_000)
    }

    func sysEpollWait() throws(LinuxErrno) -> UInt64 {
        try epollWait(fdArg(a0), a1, a2, deadline: epollDeadline(millis: Int32(truncatingIfNeeded: a3)))
    }

    func sysEpollPwait() throws(LinuxErrno) -> UInt64 {
        if a4 != 0 && a5 != 8 { throw .EINVAL }
        let deadline = epollDeadline(millis: Int32(truncatingIfNeeded: a3))
        return try withTemporaryMask(a4) { () throws(LinuxErrno) -> UInt64 in try epollWait(fdArg(a0), a1, a2, deadline: deadline) }
    }

    func sysEpollPwait2() throws(LinuxErrno) -> UInt64 {
        if a4 != 0 && a5 != 8 { throw .EINVAL }
        var deadline: UInt64? = nil
        if a3 != 0 {
            let ts: timespec = try mm.readValue(a3)
            guard ts.tv_sec >= 0, ts.tv_nsec >= 0, ts.tv_nsec < 1_000_000_000 else { throw .EINVAL }
            deadline = saturatingAdd(monotonicNanos(), saturatingNanos(seconds: Int64(ts.tv_sec), nanos: Int64(ts.tv_nsec)))
        }
        return try withTemporaryMask(a4) { () throws(LinuxErrno) -> UInt64 in try epollWait(fdArg(a0), a1, a2, deadline: deadline) }
    }
}
