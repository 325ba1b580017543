// POSIX message queues (mq_open, mq_unlink, mq_timedsend, mq_timedreceive, mq_notify,
// mq_getsetattr): named queues of prioritized messages in the sentry, their names per IPC
// namespace. A queue is opened as a descriptor that reads back its
// status line and polls; an unlinked queue lives while a descriptor holds it. Limits are
// Linux's defaults (/proc/sys/fs/mqueue) and RLIMIT_MSGQUEUE, charged to the creator's real
// uid. SIGEV_THREAD notification is Linux's: a 32-byte cookie the sentry writes to the
// caller's netlink socket, its last byte saying woken up or removed (glibc's helper thread
// reads it and runs the function). The mqueue filesystem (FS/MqueueFS.swift) shows a
// namespace's queues as files. Kernel lock held throughout.
import Glibc
import JoeyABI

final class PosixMessageQueue {
    // Linux's hard limits (the namespace's own are PosixMessageQueueRegistry's).
    static let hardMsgMax = 65536, hardMsgsizeMax = 16 << 20, prioMax: UInt64 = 32768

    let maxMessages: Int
    let messageSize: Int
    /// Its inode number in mqueue filesystems (given when first shown there).
    var ino: UInt64?
    var mode: UInt32
    var uid: UInt32, gid: UInt32
    /// Messages by priority, each priority's oldest first.
    private var byPriority: [UInt32: [[UInt8]]] = [:]
    private(set) var count = 0
    /// Bytes of message data queued (QSIZE).
    private(set) var bytes = 0
    let queue = WaitQueue()
    /// What RLIMIT_MSGQUEUE counts for it, charged to `chargedUID` until it is freed.
    let charge: UInt64
    let chargedUID: UInt32
    /// The registered notification: its process (by its fd table and address space, so
    /// that closing a descriptor there, or an execve, drops it), how, and with what.
    weak var notifyOwner: ThreadGroup?
    weak var notifyMM: MemoryManager?
    var notifyTable: ObjectIdentifier?
    var notifyKind: Int32 = 0, notifySignal: Int32 = 0, notifyValue: UInt64 = 0
    /// SIGEV_THREAD: the netlink socket told, and the cookie it is told with.
    var notifySocket: RouteNetlinkSocket?
    var notifyCookie: [UInt8] = []
    var openDescriptions = 0
    var linked = true
    var freed = false
    /// Threads blocked in mq_timedreceive: a message they will take notifies no one.
    var receiversWaiting = 0

    init(maxMessages: Int, messageSize: Int, mode: UInt32, uid: UInt32, gid: UInt32, charge: UInt64, chargedUID: UInt32) {
        self.maxMessages = maxMessages; self.messageSize = messageSize
        self.mode = mode; self.uid = uid; self.gid = gid
        self.charge = charge; self.chargedUID = chargedUID
    }

    /// Linux's mq_bytes: the messages' room plus its per-message and per-priority bookkeeping
    /// (struct msg_msg and struct posix_msg_tree_node, 48 bytes each on x86-64).
    static func charge(maxMessages: Int, messageSize: Int) -> UInt64 {
        UInt64(maxMessages) * UInt64(messageSize) + UInt64(maxMessages) * 48 + UInt64(min(maxMessages, Int(prioMax))) * 48
    }

    var full: Bool { count >= maxMessages }

    func insert(_ data: [UInt8], priority: UInt32) {
        byPriority[priority, default: []].append(data)
        count += 1
        bytes += data.count
        queue.notify(.input)
    }

    /// Takes the oldest message of the highest priority.
    func takeFirst() -> (data: [UInt8], priority: UInt32)? {
        guard let top = byPriority.keys.max(), var list = byPriority[top], !list.isEmpty else { return nil }
        let data = list.removeFirst()
        byPriority[top] = list.isEmpty ? nil : list
        count -= 1
        bytes -= data.count
        queue.notify(.output)
        return (data, top)
    }


    /// Linux's NOTIFY_COOKIE_LEN, and what the cookie's last byte says.
    static let cookieLength = 32
    static let notifyWokenUp: UInt8 = 1, notifyRemoved: UInt8 = 2

    /// Drops the registration; a SIGEV_THREAD one hears `why` (NOTIFY_REMOVED when it is
    /// unregistered or its descriptor closed; NOTIFY_WOKENUP when it fired).
    func removeNotification(_ why: UInt8 = PosixMessageQueue.notifyRemoved) {
        if notifyKind == GuestThread.SIGEV_THREAD, let socket = notifySocket, notifyCookie.count == Self.cookieLength {
            var cookie = notifyCookie
            cookie[Self.cookieLength - 1] = why
            socket.deliverFromKernel(cookie)
        }
        notifyOwner = nil; notifyMM = nil; notifyTable = nil
        notifyKind = 0; notifySignal = 0; notifyValue = 0
        notifySocket = nil; notifyCookie = []
    }
}

/// An IPC namespace's queue names and the bytes each user's queues there hold against
/// RLIMIT_MSGQUEUE.
final class PosixMessageQueueRegistry {
    // The namespace's limits (/proc/sys/fs/mqueue/*), Linux's defaults.
    var msgMax = 10, msgsizeMax = 8192, queuesMax = 256, msgDefault = 10, msgsizeDefault = 8192
    var names: [[UInt8]: PosixMessageQueue] = [:]
    var charged: [UInt32: UInt64] = [:]
    /// All queues' charges: messages live in the sentry's heap, outside the sandbox's memory
    /// limit, so their total over every namespace is bounded whatever a privileged guest sets
    /// its RLIMIT_MSGQUEUE to (ENOMEM past maxTotal).
    var total: UInt64 = 0
    static let maxTotal: UInt64 = 64 << 20
    /// What a queue costs the sentry besides its messages (the object, its wait queue, its
    /// name), counted in `total` so many tiny queues are bounded too.
    static let overhead: UInt64 = 1024
    /// Queues alive, named or only open (queues_max counts both, as Linux's).
    var live = 0

    /// The name goes; the queue lives on while a descriptor holds it.
    func unlink(_ name: [UInt8]) {
        guard let q = names.removeValue(forKey: name) else { return }
        q.linked = false
        releaseIfUnused(q)
    }

    /// Frees the queue's charge once it is neither named nor open.
    func releaseIfUnused(_ q: PosixMessageQueue) {
        guard !q.linked, q.openDescriptions == 0, !q.freed else { return }
        q.freed = true
        live -= 1
        charged[q.chargedUID, default: 0] -= min(q.charge, charged[q.chargedUID] ?? 0)
        total -= min(q.charge + Self.overhead, total)
    }
}

/// A descriptor of a queue: reading gives its status line (at the file offset), poll its
/// room and messages.
final class MessageQueueDescription: FileDescription {
    let mq: PosixMessageQueue
    /// The queue's namespace, which an open descriptor keeps (its queue's charge with it).
    let namespace: IPCNamespace

    init(_ mq: PosixMessageQueue, name: [UInt8], flags: Int32, namespace: IPCNamespace, fs: FileSystemID) {
        self.mq = mq
        self.namespace = namespace
        super.init(anonymous: "mqueue", fs: fs, flags: flags, kind: .regular) // an mqueue inode is S_IFREG
        path = ByteString([UInt8(ascii: "/")] + name)
        mq.openDescriptions += 1
    }

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        func padded(_ v: Int, _ width: Int) -> String { let s = String(v); return s + String(repeating: " ", count: max(0, width - s.count)) }
        let registered = mq.notifyOwner != nil
        let line = "QSIZE:\(padded(mq.bytes, 10)) NOTIFY:\(padded(registered ? Int(mq.notifyKind) : 0, 5)) "
            + "SIGNO:\(padded(registered && mq.notifyKind == GuestThread.SIGEV_SIGNAL ? Int(mq.notifySignal) : 0, 5)) "
            + "NOTIFY_PID:\(padded(Int(mq.notifyOwner.map { t.vnr($0.pid) } ?? 0), 6))\n"
        let bytes = Array(line.utf8)
        guard offset < UInt64(bytes.count) else { return 0 }
        let rest = Array(bytes[Int(offset)...])
        let n = try rest.withUnsafeBytes { p in Result { () throws(LinuxErrno) -> Int in try dst.copyOut(p) } }.get()
        offset += UInt64(n)
        return n
    }

    override func readiness(_ mask: EventMask) -> EventMask {
        var r: EventMask = []
        if mq.count > 0 { r.formUnion(.input) }
        if !mq.full { r.formUnion(.output) }
        return r.intersection(mask.union(.alwaysReported))
    }

    override func eventQueue() -> WaitQueue? { mq.queue }

    /// Linux's mqueue_flush_file: the process that registered for notification drops it by
    /// closing any descriptor of the queue.
    override func flush(table: ObjectIdentifier) {
        if mq.notifyTable == table { mq.removeNotification() }
    }

    override func release() {
        mq.openDescriptions -= 1
        namespace.posixMessageQueues.releaseIfUnused(mq)
    }
}

extension GuestThread {
    static let SIGEV_SIGNAL: Int32 = 0, SIGEV_NONE: Int32 = 1, SIGEV_THREAD: Int32 = 2
    private static let SI_MESGQ: Int32 = -3

    /// A queue's name as mq_open and mq_unlink take it (glibc has dropped the leading '/'):
    /// one path component.
    private func messageQueueName(_ address: UInt64) throws(LinuxErrno) -> [UInt8] {
        let name = try mm.readCString(address)
        guard !name.isEmpty else { throw .ENOENT }
        guard name.count <= 255 else { throw .ENAMETOOLONG }
        guard !name.contains(UInt8(ascii: "/")), name != [46], name != [46, 46] else { throw .EACCES }
        return name
    }

    /// generic_permission on the queue's mode for `want` (4 read, 2 write), with the
    /// capabilities that override it.
    private func mayAccess(_ q: PosixMessageQueue, _ want: UInt32) -> Bool {
        let shift: UInt32 = q.uid == group.fsuid ? 6 : (q.gid == group.fsgid || group.groups.contains(q.gid)) ? 3 : 0
        if (q.mode >> shift) & want == want { return true }
        if want == 4 && group.capable(2) { return true } // CAP_DAC_READ_SEARCH
        return group.capable(1)                          // CAP_DAC_OVERRIDE
    }

    private func messageQueueDescription(_ fd: UInt64) throws(LinuxErrno) -> MessageQueueDescription {
        guard let d = try group.fdTable.get(fdArg(fd)) as? MessageQueueDescription else { throw .EBADF }
        return d
    }

    /// An absolute CLOCK_REALTIME timeout, following the wall clock's steps; the timespec is checked
    /// whether or not the call will wait (Linux's prepare_timeout).
    private func messageQueueDeadline(_ address: UInt64) throws(LinuxErrno) -> SleepDeadline? {
        guard address != 0 else { return nil }
        let ts: timespec = try mm.readValue(address)
        guard ts.tv_sec >= 0, ts.tv_nsec >= 0, ts.tv_nsec < 1_000_000_000 else { throw .EINVAL }
        return sleepDeadline(at: saturatingNanos(seconds: Int64(ts.tv_sec), nanos: Int64(ts.tv_nsec)), on: CLOCK_REALTIME)
    }

    /// Sleeps on the queue until it changes, the deadline passes (ETIMEDOUT) or a signal
    /// comes (restarted under SA_RESTART, as Linux's).
    private func waitOnQueue(_ q: PosixMessageQueue, _ events: EventMask, deadline aim: SleepDeadline?) throws(LinuxErrno) {
        let deadline = current(aim)
        if let deadline, monotonicNanos() >= deadline { throw .ETIMEDOUT }
        try block(on: q.queue, events, deadline: deadline)
    }

    func sysMqOpen() throws(LinuxErrno) -> UInt64 {
        let (nameAt, oflag, modeArg, attrAt) = (a0, Int32(truncatingIfNeeded: a1), UInt32(truncatingIfNeeded: a2), a3)
        var attr: (maxmsg: Int64, msgsize: Int64)?
        if attrAt != 0 {
            let raw = try mm.read(attrAt, count: 64) // struct mq_attr: flags, maxmsg, msgsize, curmsgs, reserved
            attr = raw.withUnsafeBytes { ($0.loadUnaligned(fromByteOffset: 8, as: Int64.self), $0.loadUnaligned(fromByteOffset: 16, as: Int64.self)) }
        }
        // Linux takes the descriptor first: EMFILE before anything about the name.
        guard group.fdTable.hasRoom else { throw .EMFILE }
        let name = try messageQueueName(nameAt)
        let registry = group.ipc.posixMessageQueues
        let q: PosixMessageQueue
        if let existing = registry.names[name] {
            if oflag & O_CREAT != 0 && oflag & O_EXCL != 0 { throw .EEXIST }
            guard oflag & O_ACCMODE != O_ACCMODE else { throw .EINVAL }
            let want: UInt32 = oflag & O_ACCMODE == O_RDONLY ? 4 : oflag & O_ACCMODE == O_WRONLY ? 2 : 6
            guard mayAccess(existing, want) else { throw .EACCES }
            q = existing
        } else {
            guard oflag & O_CREAT != 0 else { throw .ENOENT }
            q = try makeMessageQueue(name, in: registry, mode: modeArg & 0o7777 & ~fs.umask, attr: attr)
        }
        let flags = (oflag & O_ACCMODE == O_ACCMODE ? O_RDWR : oflag & O_ACCMODE) | (oflag & O_NONBLOCK)
        let d = MessageQueueDescription(q, name: name, flags: flags, namespace: group.ipc, fs: kernel.anonFS)
        do {
            return UInt64(try group.fdTable.install(d, closeOnExec: oflag & O_CLOEXEC != 0))
        } catch {
            d.release() // never installed: its count on the queue goes
            throw error
        }
    }

    /// A new queue named `name` in `registry` (mq_open's O_CREAT, or a file made in an mqueue
    /// filesystem), charged to the caller: `attr`'s sizes, or the namespace's defaults.
    func makeMessageQueue(_ name: [UInt8], in registry: PosixMessageQueueRegistry, mode: UInt32,
                          attr: (maxmsg: Int64, msgsize: Int64)?) throws(LinuxErrno) -> PosixMessageQueue {
        let privileged = group.capable(24, in: .initial) // CAP_SYS_RESOURCE
        var maxmsg = min(registry.msgDefault, registry.msgMax), msgsize = min(registry.msgsizeDefault, registry.msgsizeMax)
        if let attr {
            guard attr.maxmsg > 0, attr.msgsize > 0 else { throw .EINVAL }
            let limits = privileged ? (PosixMessageQueue.hardMsgMax, PosixMessageQueue.hardMsgsizeMax)
                                    : (registry.msgMax, registry.msgsizeMax)
            guard attr.maxmsg <= Int64(limits.0), attr.msgsize <= Int64(limits.1) else { throw .EINVAL }
            maxmsg = Int(attr.maxmsg); msgsize = Int(attr.msgsize)
        }
        guard registry.live < registry.queuesMax || privileged else { throw .ENOSPC }
        let charge = PosixMessageQueue.charge(maxMessages: maxmsg, messageSize: msgsize)
        // The user's queues and all queues, in every namespace (RLIMIT_MSGQUEUE is per user).
        let uid = group.uid
        let used = kernel.ipcTotal { $0.posixMessageQueues.charged[uid] ?? 0 }
        guard used + charge <= limit(12).0 else { throw .EMFILE } // RLIMIT_MSGQUEUE
        guard kernel.ipcTotal({ $0.posixMessageQueues.total }) + charge + PosixMessageQueueRegistry.overhead
                <= PosixMessageQueueRegistry.maxTotal else { throw .ENOMEM }
        let q = PosixMessageQueue(maxMessages: maxmsg, messageSize: msgsize, mode: mode,
                                  uid: group.fsuid, gid: group.fsgid, charge: charge, chargedUID: group.uid)
        registry.charged[uid, default: 0] += charge
        registry.total += charge + PosixMessageQueueRegistry.overhead
        registry.live += 1
        registry.names[name] = q
        return q
    }

    func sysMqUnlink() throws(LinuxErrno) -> UInt64 {
        let name = try messageQueueName(a0)
        let registry = group.ipc.posixMessageQueues
        guard let q = registry.names[name] else { throw .ENOENT }
        // The queues' directory is root's, mode 1777: anyone may unlink a queue they own.
        if q.uid != group.fsuid && !group.capable(3) { throw .EACCES } // CAP_FOWNER
        registry.unlink(name)
        return 0
    }

    func sysMqTimedsend() throws(LinuxErrno) -> UInt64 {
        let (fd, messageAt, length, priority) = (a0, a1, a2, a3 & 0xffff_ffff) // msg_prio: unsigned int
        let deadline = try messageQueueDeadline(a4)
        guard priority < PosixMessageQueue.prioMax else { throw .EINVAL }
        let d = try messageQueueDescription(fd)
        guard d.writable else { throw .EBADF }
        let q = d.mq
        guard length <= UInt64(q.messageSize) else { throw .EMSGSIZE }
        let data = try mm.read(messageAt, count: Int(length))
        while q.full {
            if d.flags & O_NONBLOCK != 0 { throw .EAGAIN }
            try waitOnQueue(q, .output, deadline: deadline)
        }
        let wasEmpty = q.count == 0
        q.insert(data, priority: UInt32(priority))
        // A message into an empty queue that no receiver waits for notifies the registered
        // process once (Linux's __do_notify).
        if wasEmpty, q.receiversWaiting == 0, let owner = q.notifyOwner {
            if q.notifyKind == Self.SIGEV_SIGNAL && q.notifySignal != 0 && owner.mm === q.notifyMM {
                owner.sendSignal(q.notifySignal, info: SignalInfo(signo: q.notifySignal, code: Self.SI_MESGQ, pid: owner.pidNS.local(group.pid),
                                                                  uid: group.uid, value: q.notifyValue))
            }
            q.removeNotification(PosixMessageQueue.notifyWokenUp)
        }
        return 0
    }

    func sysMqTimedreceive() throws(LinuxErrno) -> UInt64 {
        let (fd, bufferAt, length, priorityAt) = (a0, a1, a2, a3)
        let deadline = try messageQueueDeadline(a4)
        let d = try messageQueueDescription(fd)
        guard d.readable else { throw .EBADF }
        let q = d.mq
        guard length >= UInt64(q.messageSize) else { throw .EMSGSIZE }
        while q.count == 0 {
            if d.flags & O_NONBLOCK != 0 { throw .EAGAIN }
            q.receiversWaiting += 1
            defer { q.receiversWaiting -= 1 }
            try waitOnQueue(q, .input, deadline: deadline)
        }
        // Taken, then copied out: a fault loses the message, as on Linux.
        let (data, priority) = q.takeFirst()!
        if priorityAt != 0 { try mm.writeValue(priorityAt, priority) }
        try mm.write(bufferAt, data)
        return UInt64(data.count)
    }

    func sysMqNotify() throws(LinuxErrno) -> UInt64 {
        var request: (kind: Int32, signal: Int32, value: UInt64)?
        if a1 != 0 {
            let raw = try mm.read(a1, count: 64) // struct sigevent: value, signo, notify, ...
            let (value, signal, kind) = raw.withUnsafeBytes {
                ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: Int32.self),
                 $0.loadUnaligned(fromByteOffset: 12, as: Int32.self))
            }
            guard kind == Self.SIGEV_NONE || kind == Self.SIGEV_SIGNAL || kind == Self.SIGEV_THREAD else { throw .EINVAL }
            if kind == Self.SIGEV_SIGNAL && !(0...64).contains(signal) { throw .EINVAL }
            request = (kind, signal, value)
        }
        // SIGEV_THREAD: the cookie (sigev_value points at it) and the netlink socket that
        // hears it (sigev_signo), as do_mq_notify checks them before the queue.
        var socket: RouteNetlinkSocket?, cookie: [UInt8] = []
        if let request, request.kind == Self.SIGEV_THREAD {
            cookie = try mm.read(request.value, count: PosixMessageQueue.cookieLength)
            let f = try group.fdTable.get(request.signal)
            guard f is Socket else { throw .ENOTSOCK }
            guard let netlink = f as? RouteNetlinkSocket else { throw .EINVAL }
            socket = netlink
        }
        let q = try messageQueueDescription(a0).mq
        guard let request else {
            if q.notifyOwner === group { q.removeNotification() }
            return 0
        }
        guard q.notifyOwner == nil else { throw .EBUSY }
        q.notifyOwner = group
        q.notifyMM = mm
        q.notifyTable = ObjectIdentifier(group.fdTable)
        (q.notifyKind, q.notifySignal, q.notifyValue) = request
        q.notifySocket = socket
        q.notifyCookie = cookie
        return 0
    }

    func sysMqGetsetattr() throws(LinuxErrno) -> UInt64 {
        var newFlags: Int64?
        if a1 != 0 {
            let raw = try mm.read(a1, count: 64)
            let flags = raw.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: Int64.self) }
            guard flags & ~Int64(O_NONBLOCK) == 0 else { throw .EINVAL }
            newFlags = flags
        }
        let d = try messageQueueDescription(a0)
        let q = d.mq
        var out = [UInt8](repeating: 0, count: 64)
        out.withUnsafeMutableBytes { p in
            p.storeBytes(of: Int64(d.flags & O_NONBLOCK), toByteOffset: 0, as: Int64.self)
            p.storeBytes(of: Int64(q.maxMessages), toByteOffset: 8, as: Int64.self)
            p.storeBytes(of: Int64(q.messageSize), toByteOffset: 16, as: Int64.self)
            p.storeBytes(of: Int64(q.count), toByteOffset: 24, as: Int64.self)
        }
        // The new flags apply even if the old attributes then fail to reach the caller.
        if let newFlags { d.flags = (d.flags & ~O_NONBLOCK) | Int32(newFlags) }
        if a2 != 0 { try mm.write(a2, out) }
        return 0
    }
}
