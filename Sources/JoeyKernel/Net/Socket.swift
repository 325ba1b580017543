// Net/ owns sockets: the transport every family shares (this file: connected pairs, message
// queues, listeners, shutdown, readiness), socket options, streams' out-of-band byte
// (UrgentData.swift), and one folder per address family (Unix/: AF_UNIX names and
// ancillary data; Inet/: AF_INET and AF_INET6, either the sandbox's
// own loopback network (TCP, UDP, and ping and raw sockets: ICMP.swift) or, with
// `--network=host`, host sockets the sentry drives; Netlink/:
// NETLINK_ROUTE), and network namespaces (NetworkNamespace.swift: what a socket's addresses
// and names mean). The syscalls in Syscalls/SocketSyscalls.swift dispatch to a Socket's
// methods. On the loopback network no guest packet ever reaches the host: a connection is a
// pair of in-sentry queues, as an AF_UNIX one is.
//
// Lock order: the kernel lock guards every socket, queue and name table here; nothing in
// this folder takes another lock. Sockets never block: an operation that cannot go on yet
// throws EAGAIN and the syscall layer waits on the socket's queue.
import Glibc
import JoeyABI

enum SocketType: Int32 {
    case stream = 1, datagram = 2, raw = 3, seqpacket = 5
    /// Whether a send is one message the receiver reads whole (never merged with another).
    var keepsBoundaries: Bool { self != .stream }
    /// Datagram and raw sockets: no connection, each message addressed on its own.
    var isConnectionless: Bool { self == .datagram || self == .raw }
}

/// struct ucred: who sent a message, or who is at the other end (SO_PEERCRED).
struct SocketCredentials: Equatable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32
    static let nobody = SocketCredentials(pid: 0, uid: 65534, gid: 65534)
}

/// One queued send: its bytes; for datagrams the sender's address; for AF_UNIX the
/// descriptors (each holding a reference while in flight) and credentials it carries.
final class SocketMessage {
    var data: [UInt8]
    var consumed = 0
    var rights: [FileDescription]
    var credentials: SocketCredentials?
    var source: [UInt8]?
    /// IP header values a datagram carries to a receiver that asks for them (hop limit or
    /// TTL, traffic class or TOS).
    var hopLimit: Int32 = 64
    var trafficClass: Int32 = 0
    /// When it arrived (CLOCK_REALTIME ns), for a receiver that asked for timestamps
    /// (SO_TIMESTAMP...); 0: not taken, the read's time stands for it.
    var stamp: UInt64 = 0
    var remaining: Int { data.count - consumed }
    init(data: [UInt8], rights: [FileDescription] = [], credentials: SocketCredentials? = nil, source: [UInt8]? = nil) {
        self.data = data; self.rights = rights; self.credentials = credentials; self.source = source
    }
    /// Drops the descriptors it still carries (a discarded message, a truncated control buffer).
    func dropRights() {
        let r = rights
        rights = []
        for f in r { f.decRef() }
    }
}

/// A socket's receive queue: messages in order, bounded in bytes.
struct ReceiveQueue {
    private var messages: [SocketMessage] = []
    private var head = 0
    private(set) var bytes = 0
    var capacity: Int
    init(capacity: Int) { self.capacity = capacity }

    var isEmpty: Bool { head == messages.count }
    var count: Int { messages.count - head }
    var first: SocketMessage? { isEmpty ? nil : messages[head] }
    func message(_ i: Int) -> SocketMessage { messages[head + i] }
    var space: Int { max(0, capacity - bytes) }

    mutating func append(_ m: SocketMessage) {
        messages.append(m)
        bytes += m.remaining
    }
    /// Bytes taken from the front message (stream reads); it is removed once empty.
    mutating func consume(_ n: Int) {
        guard let m = first else { return }
        m.consumed += n
        bytes -= n
        if m.remaining == 0 { removeFirst() }
    }
    mutating func removeFirst() {
        guard let m = first else { return }
        bytes -= m.remaining
        messages[head] = SocketMessage(data: [])
        head += 1
        if head == messages.count { messages.removeAll(keepingCapacity: true); head = 0 }
        else if head > 64 { messages.removeFirst(head); head = 0 }
    }
    /// Stream writes append to the last message when nothing distinguishes them.
    mutating func appendStream(_ bytesIn: [UInt8], credentials: SocketCredentials?) {
        if let last = messages.last, head < messages.count, last.rights.isEmpty, last.credentials == credentials, last.data.count < 65536 {
            last.data += bytesIn
            bytes += bytesIn.count
        } else {
            append(SocketMessage(data: bytesIn, credentials: credentials))
        }
    }
    mutating func discardAll() {
        while let m = first { m.dropRights(); removeFirst() }
    }

    /// The last byte queued (a stream's out-of-band byte when it stays in line).
    var lastByte: UInt8? { isEmpty ? nil : messages[messages.count - 1].data.last }

    /// Takes the last byte queued back out (a stream's out-of-band byte, kept apart). nil when
    /// that would empty a message that carries descriptors (they go with the stream).
    mutating func removeLastByte() -> UInt8? {
        guard !isEmpty, let m = messages.last, m.remaining > (m.rights.isEmpty ? 0 : 1), let b = m.data.popLast() else { return nil }
        bytes -= 1
        if m.remaining == 0 {
            messages.removeLast()
            if head == messages.count { messages.removeAll(keepingCapacity: true); head = 0 }
        }
        return b
    }

    /// Puts `b` back into the stream after `offset` unread bytes (an out-of-band byte a newer
    /// one replaced). Past the end: at the end.
    mutating func insertByte(_ b: UInt8, at offset: Int) {
        var left = offset
        for i in head..<messages.count {
            let m = messages[i]
            if left <= m.remaining {
                m.data.insert(b, at: m.consumed + left)
                bytes += 1
                return
            }
            left -= m.remaining
        }
        appendStream([b], credentials: nil)
    }
}

struct SocketShutdown: OptionSet {
    let rawValue: Int
    static let receive = SocketShutdown(rawValue: 1)
    static let send = SocketShutdown(rawValue: 2)
    static let both: SocketShutdown = [.receive, .send]
}

/// What recvmsg reports besides the bytes.
struct ReceivedMessage {
    var count = 0
    /// The datagram's full length (MSG_TRUNC).
    var fullLength = 0
    var truncated = false
    var source: [UInt8]?
    var rights: [FileDescription] = []
    var credentials: SocketCredentials?
    var hopLimit: Int32 = 64
    var trafficClass: Int32 = 0
    /// When the (first) message read arrived, if it was stamped (SocketMessage.stamp).
    var stamp: UInt64 = 0
    /// IP-level ancillary data as (level, type, data): what an inet socket asked to receive.
    var ancillary: [(Int32, Int32, [UInt8])] = []
    /// A stream's out-of-band byte (recvmsg reports MSG_OOB).
    var urgent = false
}

/// What sendmsg carries besides the bytes (AF_UNIX ancillary data).
struct SendControl {
    var rights: [FileDescription] = []
    var credentials: SocketCredentials?
    /// IPV6_HOPLIMIT / IP_TTL and IPV6_TCLASS / IP_TOS for this datagram only.
    var hopLimit: Int32?
    var trafficClass: Int32?
}

/// A socket: the state every family shares. Families subclass it for addressing (bind,
/// connect, names) and options of their own levels.
class Socket: FileDescription {
    unowned(unsafe) let kernel: Kernel
    let family: Int32
    let type: SocketType
    let proto: Int32
    /// Readers, writers, pollers, accept and connect wait here.
    let queue = WaitQueue()
    var receive: ReceiveQueue
    enum State { case unconnected, listening, connected }
    var state = State.unconnected
    /// The other end of a connection, or a datagram socket's default destination.
    var peer: Socket?
    /// For a connection: whether the other end has gone (closed).
    var peerGone = false
    var shutdown: SocketShutdown = []
    /// SO_ERROR: reported and cleared by the next operation that checks it.
    var pendingError: LinuxErrno?
    /// The other end reset the connection (TCP: the socket is closed, no longer connected).
    var wasReset = false
    /// A stream's out-of-band byte received and not yet passed (UrgentData.swift).
    var urgent: UrgentData?
    /// The other end ended its stream in order (TCP's FIN: closed without a reset, or shut
    /// down for sending): a TCP read that finds nothing queued returns 0 before any pending
    /// error (Linux's SOCK_DONE).
    var finReceived = false
    var acceptQueue: [Socket] = []
    var backlog = 0
    var options = SocketOptions()
    /// SO_PEERCRED: the other end's credentials when the connection was made.
    var peerCredentials: SocketCredentials?
    /// Where the last datagram that found no room was going (a blocking sender waits there).
    weak var lastSendTarget: Socket?
    /// Its last reference went (a datagram socket connected to it then gets ECONNREFUSED).
    private(set) var closed = false
    /// When the last message read without a timestamp option arrived (SIOCGSTAMP); nil
    /// until one is read, 0 when it was not stamped (the time of the ioctl stands in, as
    /// Linux's sk_stamp of 0).
    var lastReadStamp: UInt64?
    /// SIOCGSTAMP was asked: arrivals are stamped from now on.
    var stampsArrivals = false
    /// The effective uid of its creator (/proc/net's uid column).
    let creatorUID: UInt32
    /// The network namespace it was made in (its creator's).
    let net: NetworkNamespace
    /// Its creator's Landlock domain (the file's f_cred): what scopes its abstract name.
    let creatorLandlockDomain: LandlockDomain?

    static let somaxconn = 4096

    init(kernel: Kernel, family: Int32, type: SocketType, proto: Int32, flags: Int32, capacity: Int) {
        self.kernel = kernel
        self.family = family
        self.type = type
        self.proto = proto
        creatorUID = kernel.current?.group.euid ?? 0
        net = kernel.current?.group.netNS ?? kernel.initialNet
        creatorLandlockDomain = kernel.current?.landlockDomain
        receive = ReceiveQueue(capacity: capacity)
        super.init(inode: AnonymousInode(name: "socket", fs: kernel.sockFS, kind: .socket), flags: O_RDWR | (flags & O_NONBLOCK))
        options.receiveBuffer = capacity
        path = ByteString("socket:[\(inode.ino)]")
    }

    // MARK: family hooks

    /// bind(2) with the raw sockaddr bytes.
    func bind(_ t: GuestThread, _ address: [UInt8]) throws(LinuxErrno) { throw .EOPNOTSUPP }
    /// connect(2); returns when connected (or throws EINPROGRESS / EAGAIN).
    func connect(_ t: GuestThread, _ address: [UInt8]) throws(LinuxErrno) { throw .EOPNOTSUPP }
    /// Takes a name for a listener that has none (inet: an ephemeral port; unix: EINVAL).
    func prepareListen() throws(LinuxErrno) {}
    /// The socket's own address (getsockname).
    func localName() -> [UInt8] { withUnsafeBytes(of: UInt16(family)) { Array($0) } }
    /// The address reported for this socket as a sender or peer: nil for none.
    func senderName() -> [UInt8]? { localName() }
    /// The socket a datagram sent to `address` goes to; nil to drop it silently.
    func datagramTarget(_ t: GuestThread, _ address: [UInt8]) throws(LinuxErrno) -> Socket? { throw .EOPNOTSUPP }
    /// Names a datagram socket that sends before binding (inet: an ephemeral port).
    func autobindForSend() throws(LinuxErrno) {}
    /// A new socket of the same kind, for the server end of an accepted connection.
    func makeAcceptedSocket() -> Socket { fatalError("abstract") }
    /// Gives the name back (the last reference went).
    func unbind() {}
    /// Where a blocking connect that threw EAGAIN waits for output; nil: it does not wait.
    var connectWaitQueue: WaitQueue? { nil }
    /// The other end's address (getpeername).
    func peerAddress() throws(LinuxErrno) -> [UInt8] {
        guard let p = peer, state == .connected || type.isConnectionless else { throw .ENOTCONN }
        return p.localName()
    }
    /// Whether stream reads fill in the sender's address (AF_UNIX does, TCP does not).
    var streamReportsSender: Bool { false }

    // MARK: connections

    /// Joins `self` and `other` as the two ends of a connection.
    func pair(with other: Socket) {
        peer = other
        other.peer = self
        state = .connected
        other.state = .connected
    }

    /// A client's connect to `listener`: the server end waits in its accept queue.
    func connectStream(to listener: Socket, _ t: GuestThread) throws(LinuxErrno) {
        guard listener.state == .listening, listener.type == type else { throw .ECONNREFUSED }
        if listener.acceptQueue.count > listener.backlog { throw .EAGAIN }
        let server = listener.makeAcceptedSocket()
        server.options.passCredentials = listener.options.passCredentials
        pair(with: server)
        server.peerCredentials = t.socketCredentials
        peerCredentials = listener.peerCredentials
        listener.acceptQueue.append(server)
        listener.wake(EventMask.input)
        queue.notify(EventMask.output)
    }

    func accept() throws(LinuxErrno) -> Socket {
        guard !type.isConnectionless else { throw .EOPNOTSUPP }
        guard state == .listening else { throw .EINVAL }
        guard !acceptQueue.isEmpty else { throw .EAGAIN }
        let s = acceptQueue.removeFirst()
        queue.notify(EventMask.output) // a connect waiting for room in the backlog
        return s
    }

    func listen(_ requested: Int32) throws(LinuxErrno) {
        guard !type.isConnectionless else { throw .EOPNOTSUPP }
        guard state != .connected else { throw .EINVAL }
        try prepareListen()
        let somaxconn = net.somaxconn
        backlog = requested < 0 || Int(requested) > somaxconn ? somaxconn : Int(requested)
        if state != .listening {
            state = .listening
            peerCredentials = kernel.current?.socketCredentials
        }
        queue.notify(EventMask.output)
    }

    func shutdown(_ how: Int32) throws(LinuxErrno) {
        let mask: SocketShutdown
        switch how {
        case 0: mask = .receive
        case 1: mask = .send
        case 2: mask = .both
        default: throw .EINVAL
        }
        if state != .connected && requiresConnectionForShutdown { throw .ENOTCONN }
        shutdown.formUnion(mask)
        if let p = peer, state == .connected, !type.isConnectionless {
            // The other end reads EOF after what is queued; AF_UNIX also tells it that this
            // end reads no more (its sends fail with EPIPE), where TCP's SHUT_RD sends nothing.
            // A datagram socketpair's shutdown stays on its own side (unix_shutdown).
            if mask.contains(.send) { p.shutdown.insert(.receive); p.finReceived = true }
            if mask.contains(.receive) && family == AF_UNIX { p.shutdown.insert(.send) }
            p.queue.notify(EventMask.input.union(.output).union([.readHangUp, .hangUp]))
        }
        if state == .listening && mask.contains(.receive) { state = .unconnected; dropPending() }
        queue.notify(EventMask.input.union(.output).union([.readHangUp, .hangUp]))
    }
    var requiresConnectionForShutdown: Bool { false }
    /// What this end can no longer do once the other end closes: AF_UNIX neither direction;
    /// TCP only receive, until its first send meets the peer's reset.
    var shutdownWhenPeerCloses: SocketShutdown { .both }

    private func dropPending() {
        let pending = acceptQueue
        acceptQueue = []
        for s in pending { s.closeConnection() }
    }

    /// This end goes away: the peer sees EOF, or a reset when this end left data unread or
    /// (TCP) lingers with a zero timeout: ECONNRESET once its queued data is read.
    func closeConnection() {
        if let p = peer, state == .connected, !peerGone, !type.isConnectionless {
            p.shutdown.formUnion(p.shutdownWhenPeerCloses)
            p.peerGone = true
            if !receive.isEmpty || (self is InetSocket && options.linger.onOff != 0 && options.linger.seconds == 0) {
                p.pendingError = .ECONNRESET
                p.wasReset = true
            } else {
                p.finReceived = true
            }
            p.queue.notify(EventMask.input.union(.output).union([.readHangUp, .hangUp, .error]))
        }
        receive.discardAll()
        peer = nil
    }

    override func release() {
        closed = true
        if state == .listening { dropPending() }
        closeConnection()
        unbind()
        queue.notify(EventMask.input.union(.output).union([.hangUp]))
    }

    // MARK: sending and receiving (never blocking)

    /// A message arriving here is stamped now when this socket asked for timestamps.
    func stampIfAsked(_ m: SocketMessage) {
        if stampsArrivals || options.timestamp != nil { m.stamp = kernel.realtimeNanos() }
    }

    /// A CLOCK_REALTIME time in ns as struct timeval (`microseconds`) or timespec: the
    /// layout of SCM_TIMESTAMP(NS) and of SIOCGSTAMP(NS), 16 bytes either way.
    static func timeValue(_ ns: UInt64, microseconds: Bool) -> (Int64, Int64) {
        (Int64(ns / 1_000_000_000), Int64(ns % 1_000_000_000) / (microseconds ? 1000 : 1))
    }

    /// Sends what fits now: the whole message for datagram kinds (or EAGAIN), a prefix for
    /// streams. `target` is a sendto address.
    func send(_ t: GuestThread, _ src: inout IOSequence, control: inout SendControl, target: [UInt8]?, flags: Int32) throws(LinuxErrno) -> Int {
        // A stream's pending error is the next send's, except on AF_UNIX, whose sends look
        // only at the peer (unix_stream_sendmsg): a reset there is for the reads.
        if let e = pendingError, !type.isConnectionless, family != AF_UNIX {
            pendingError = nil
            // A pending EPIPE is a broken pipe for the send that reports it (sk_stream_error).
            throw e == .EPIPE ? brokenPipe(t, flags) : e
        }
        let receiver: Socket
        var source: [UInt8]? = nil
        if type.isConnectionless {
            if shutdown.contains(.send) { throw brokenPipe(t, flags) }
            if let target {
                guard let r = try datagramTarget(t, target) else {
                    // No one has the address: the datagram is lost, as on a network.
                    try autobindForSend()
                    let n = src.count
                    try src.discard(n)
                    return n
                }
                receiver = r
            } else {
                guard let p = peer else { throw notConnectedForSend }
                guard !p.closed else { throw .ECONNREFUSED }
                receiver = p
            }
            try autobindForSend()
            source = senderName()
            guard src.count <= maxDatagram else { throw .EMSGSIZE }
            if dropsDatagramsWhenFull && receiver.receive.space < src.count {
                let n = src.count
                try src.discard(n)
                return n
            }
        } else {
            if target != nil && state == .connected && family == AF_UNIX { throw .EISCONN }
            guard state == .connected, let p = peer else {
                if shutdown.contains(.send) { throw brokenPipe(t, flags) }
                throw notConnectedForSend
            }
            if shutdown.contains(.send) || peerGone { throw brokenPipe(t, flags) }
            receiver = p
            if type == .seqpacket && src.count > maxDatagram { throw .EMSGSIZE }
            // A stream send of nothing queues nothing (a queued empty message would count
            // as unread data when the reader closes, turning its close into a reset).
            if type == .stream && src.count == 0 { return 0 }
        }
        // Only what a blocked unconnected datagram send waits on needs it: storing a weak
        // reference on every send would give each receiver a side table (slower retains).
        if type != .stream && peer == nil { lastSendTarget = receiver }
        let space = room(in: receiver)
        let n: Int
        if type.keepsBoundaries {
            // A message always fits an empty queue (its size was bounded above).
            if space < src.count && !receiver.receive.isEmpty { throw .EAGAIN }
            n = src.count
        } else {
            if space == 0 { throw .EAGAIN }
            n = min(space, src.count)
        }
        var data = [UInt8](repeating: 0, count: n)
        let copied = try data.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in try src.copyIn(p) }
        // copyIn consumed what it copied from the sequence.
        if copied < n { data.removeLast(n - copied) }
        if copied == 0 && n > 0 { throw .EFAULT }
        var credentials = control.credentials
        if credentials == nil && (receiver.options.passCredentials || options.passCredentials) && family == AF_UNIX {
            credentials = t.socketCredentials
        }
        if type.keepsBoundaries || !control.rights.isEmpty {
            let m = SocketMessage(data: data, rights: control.rights, credentials: credentials, source: source)
            if let inet = self as? InetSocket {
                m.hopLimit = control.hopLimit ?? inet.defaultHopLimit
                m.trafficClass = control.trafficClass ?? inet.defaultTrafficClass
            }
            receiver.stampIfAsked(m)
            receiver.receive.append(m)
            control.rights = []
        } else {
            receiver.receive.appendStream(data, credentials: credentials)
        }
        receiver.wake(EventMask.input)
        return copied
    }
    var notConnectedForSend: LinuxErrno { .ENOTCONN }
    /// Whether a read that finds the stream ended in order returns 0 before a pending error
    /// (TCP); AF_UNIX reports the error first.
    var endsStreamBeforeError: Bool { false }
    /// The largest message: a unix socket's buffer (less its overhead), UDP's 65,507 bytes.
    var maxDatagram: Int { family == AF_UNIX ? options.sendBuffer - 32 : 65_507 }
    /// UDP: a datagram that finds its receiver's buffer full is lost, never waited for.
    var dropsDatagramsWhenFull: Bool { false }

    func brokenPipe(_ t: GuestThread, _ flags: Int32) -> LinuxErrno {
        if flags & MSG_NOSIGNAL_FLAG == 0 { t.sendSignalToSelf(Signal.SIGPIPE) }
        return .EPIPE
    }

    /// Receives what is queued now into `dst` (EAGAIN when nothing is); MSG_OOB and the
    /// reads around an out-of-band byte's mark as UrgentData.swift says.
    func receive(_ t: GuestThread, _ dst: inout IOSequence, flags: Int32, into out: inout ReceivedMessage) throws(LinuxErrno) -> Int {
        if type == .stream && flags & MSG_OOB_FLAG != 0 { return try receiveUrgent(&dst, flags: flags, into: &out) }
        if type == .stream, let u = urgent {
            return try receiveAroundMark(u, &dst, flags: flags) { (d: inout IOSequence) throws(LinuxErrno) -> Int in
                try receiveQueued(t, &d, flags: flags, into: &out)
            }
        }
        return try receiveQueued(t, &dst, flags: flags, into: &out)
    }

    /// Receives what is queued now.
    private func receiveQueued(_ t: GuestThread, _ dst: inout IOSequence, flags: Int32, into out: inout ReceivedMessage) throws(LinuxErrno) -> Int {
        let peek = flags & MSG_PEEK_FLAG != 0
        guard let first = receive.first else {
            // TCP: the stream ended in order before the error came (tcp_recvmsg's SOCK_DONE).
            if finReceived && endsStreamBeforeError { return 0 }
            if let e = pendingError { pendingError = nil; throw e }
            if !type.isConnectionless && state != .connected && !shutdown.contains(.receive) {
                throw notConnectedForReceive
            }
            if shutdown.contains(.receive) || (!type.isConnectionless && peerGone) { return 0 }
            throw .EAGAIN
        }
        if type.keepsBoundaries {
            let m = first
            let want = min(dst.count, m.remaining)
            let n = try m.data.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in
                try dst.copyOut(UnsafeRawBufferPointer(rebasing: p[m.consumed..<(m.consumed + want)]))
            }
            out.count = n
            out.fullLength = m.remaining
            out.truncated = m.remaining > n
            out.source = m.source
            out.credentials = m.credentials
            out.hopLimit = m.hopLimit
            out.trafficClass = m.trafficClass
            out.stamp = m.stamp
            if peek {
                out.rights = m.rights
            } else {
                out.rights = m.rights
                m.rights = []
                receive.removeFirst()
                notifyPeerOfRoom()
            }
            return n
        }
        // A stream: read across messages; stop after one that carried descriptors, and
        // between messages whose credentials differ (as Linux's unix_stream_read_generic).
        var total = 0
        var index = 0
        var peekOffset = 0
        out.credentials = first.credentials
        out.source = first.source
        out.stamp = first.stamp
        while dst.count > 0 && index < receive.count {
            let m = peek ? receive.message(index) : receive.first!
            if total > 0 && m.credentials != out.credentials { break }
            let start = m.consumed + (peek ? peekOffset : 0)
            let avail = m.data.count - start
            if avail <= 0 { index += 1; peekOffset = 0; continue }
            let n = try m.data.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in
                try dst.copyOut(UnsafeRawBufferPointer(rebasing: p[start..<m.data.count]))
            }
            if n == 0 { break }
            total += n
            let hadRights = !m.rights.isEmpty
            if hadRights {
                out.rights += m.rights
                if !peek { m.rights = [] }
            }
            if peek {
                if n == avail { index += 1; peekOffset = 0 } else { peekOffset += n }
            } else {
                receive.consume(n)
            }
            if hadRights { break }
        }
        if total == 0 && dst.count > 0 { throw .EFAULT }
        if !peek { notifyPeerOfRoom() }
        out.count = total
        out.fullLength = total
        return total
    }
    var notConnectedForReceive: LinuxErrno { .ENOTCONN }

    /// Notifies the socket's waiters, and with O_ASYNC signals its owner (SIGIO, or F_SETSIG's).
    func wake(_ events: EventMask) {
        queue.notify(events)
        if flags & O_ASYNC != 0 && asyncOwner != 0 {
            kernel.sendAsyncSignal(self, reason: events.contains(.readable) ? .input : .output)
        }
    }

    private func notifyPeerOfRoom() {
        if let p = peer { p.queue.notify(EventMask.output) }
        queue.notify(EventMask.output)
    }

    // MARK: FileDescription

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        var out = ReceivedMessage()
        let n = try receive(t, &dst, flags: 0, into: &out)
        for f in out.rights { f.decRef() } // read(2) on a socket discards descriptors
        return n
    }

    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        var control = SendControl()
        return try send(t, &src, control: &control, target: nil, flags: 0)
    }

    override func eventQueue() -> WaitQueue? { queue }

    override func readiness(_ mask: EventMask) -> EventMask {
        var r: EventMask = []
        if pendingError != nil { r.insert(.error) }
        if shutdown == .both || (!type.isConnectionless && peerGone && shutdownWhenPeerCloses == .both) { r.insert(.hangUp) }
        // A stream socket neither connected nor listening is closed (TCP_CLOSE): hung up.
        if !type.isConnectionless && state == .unconnected { r.insert(.hangUp) }
        if shutdown.contains(.receive) { r.formUnion(EventMask.input.union(.readHangUp)) }
        if state == .listening {
            if !acceptQueue.isEmpty { r.formUnion(.input) }
            return r.intersection(mask.union(.alwaysReported))
        }
        // AF_UNIX counts an out-of-band byte as readable even when nothing else is queued.
        if !receive.isEmpty || (family == AF_UNIX && urgent != nil) { r.formUnion(.input) }
        if urgentPending { r.insert(.priority) }
        if hasRoomToSend { r.formUnion(.output) }
        return r.intersection(mask.union(.alwaysReported))
    }

    /// Room to send now (poll's POLLOUT). A socket that cannot send at all (shut down for
    /// sending, or a stream socket not connected) is writable too: the send fails at once
    /// rather than wait (tcp_poll, unix_writable).
    var hasRoomToSend: Bool {
        if shutdown.contains(.send) { return true }
        if type.isConnectionless {
            guard let p = peer else { return true }
            return p.receive.space > 0
        }
        guard state == .connected else { return true }
        guard let p = peer, !peerGone else { return true }
        return room(in: p) > 0
    }

    /// What a send from here may queue in `receiver` now.
    func room(in receiver: Socket) -> Int { receiver.receive.space }

    override func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        switch request {
        case 0x541B: // FIONREAD / SIOCINQ: a datagram socket reports its next message's size
            if state == .listening { throw .EINVAL }
            let n = type.keepsBoundaries ? (receive.first?.remaining ?? 0) : receive.bytes
            try t.mm.writeValue(argument, Int32(clamping: n))
            return 0
        case 0x5411: // TIOCOUTQ / SIOCOUTQ: what the peer has not read yet
            let n = type == .stream ? (peer?.receive.bytes ?? 0) : 0
            try t.mm.writeValue(argument, Int32(clamping: n))
            return 0
        case 0x8906, 0x8907 where family == AF_INET || family == AF_INET6:
            // SIOCGSTAMP, SIOCGSTAMPNS: when the last message read arrived (ENOENT before any).
            // From now on what arrives is stamped (sock_gettstamp enables SOCK_TIMESTAMP).
            stampsArrivals = true
            guard let stamp = lastReadStamp else { throw .ENOENT }
            let ns = stamp != 0 ? stamp : t.kernel.realtimeNanos()
            try t.mm.writeValue(argument, Socket.timeValue(ns, microseconds: request == 0x8906))
            return 0
        case 0x8905 where family == AF_UNIX || type == .stream:
            // SIOCATMARK: whether the next byte is the out-of-band byte's mark.
            try t.mm.writeValue(argument, Int32(atUrgentMark ? 1 : 0))
            return 0
        default:
            if let r = try interfaceIoctl(t, request: request, argument: argument) { return r }
            throw .ENOTTY
        }
    }
}

let MSG_OOB_FLAG: Int32 = 0x1
let MSG_PEEK_FLAG: Int32 = 0x2
let MSG_ERRQUEUE_FLAG: Int32 = 0x2000
let MSG_TRUNC_FLAG: Int32 = 0x20
let MSG_CTRUNC_FLAG: Int32 = 0x8
let MSG_DONTWAIT_FLAG: Int32 = 0x40
let MSG_WAITALL_FLAG: Int32 = 0x100
let MSG_NOSIGNAL_FLAG: Int32 = 0x4000
let MSG_CMSG_CLOEXEC_FLAG: Int32 = 0x4000_0000

extension Kernel {
    /// Why a readiness signal is sent: si_code POLL_IN, POLL_OUT, POLL_MSG.
    enum AsyncReason: Int32 {
        case input = 1, output = 2, message = 3
        /// Linux's band_table: the poll events si_band carries for each.
        var band: EventMask {
            switch self {
            case .input: return EventMask.input
            case .output: return EventMask.output.union(.writeBand)
            case .message: return EventMask.input.union(.message)
            }
        }
    }

    /// send_sigio: the owner of `f` (a process, or a process group) gets its F_SETSIG signal
    /// with si_code the reason, si_band
    /// and si_fd (`fd`, else the fd O_ASYNC was set through); or, with no F_SETSIG signal, a
    /// plain SIGIO (SI_KERNEL, no fields).
    func sendAsyncSignal(_ f: FileDescription, reason: AsyncReason, fd: Int32? = nil) {
        let sig = f.asyncSignal == 0 ? Signal.SIGIO : f.asyncSignal
        var info = SignalInfo(signo: sig, code: 0x80 /* SI_KERNEL */)
        if f.asyncSignal != 0 {
            info.code = reason.rawValue
            info.poll = (Int64(reason.band.rawValue), fd ?? f.asyncFD)
        }
        signalOwner(f, sig, info: info)
    }

    /// `sig` to the owner F_SETOWN gave `f` (a process, or a process group when negative),
    /// within the signal scope of the Landlock domain that set it (hook_file_send_sigiotask).
    func signalOwner(_ f: FileDescription, _ sig: Int32, info: SignalInfo) {
        func send(_ g: ThreadGroup) {
            if let s = f.ownerSetter, s.group !== g, !s.domain.allowsSignal(to: g) { return }
            g.sendSignal(sig, info: info)
        }
        if f.asyncOwner > 0 {
            if let g = threadGroups[f.asyncOwner] ?? threads[f.asyncOwner]?.group { send(g) }
        } else {
            for g in threadGroups.values where g.pgid == -f.asyncOwner { send(g) }
        }
    }
}

extension GuestThread {
    /// The credentials a message from this thread carries (SCM_CREDENTIALS, SO_PEERCRED).
    var socketCredentials: SocketCredentials {
        SocketCredentials(pid: group.pid, uid: group.euid, gid: group.egid)
    }
}
