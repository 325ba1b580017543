// AF_INET and AF_INET6 on the sandbox's own loopback network (`--network=none`): lo with
// 127.0.0.0/8 and ::1, nothing else. TCP connections are pairs of in-sentry stream queues and
// UDP datagrams go straight to the bound receiver, so no segment or host socket exists. Ports
// are shared between the two families as on Linux (a v6 socket bound to :: without
// IPV6_V6ONLY takes the v4 port too). Kernel lock held throughout (see Net/Socket.swift).
import Glibc
import JoeyABI

/// An address on the loopback network: IPv6 form, IPv4 as v4-mapped (::ffff:a.b.c.d).
struct InetAddress: Hashable {
    var ip: [UInt8]
    var port: UInt16

    static let v4Prefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
    static func v4(_ a: [UInt8], port: UInt16) -> InetAddress { InetAddress(ip: v4Prefix + a, port: port) }

    var isV4: Bool { Array(ip[0..<12]) == Self.v4Prefix }
    var isAny: Bool { isV4 ? ip[12...].allSatisfy { $0 == 0 } : ip.allSatisfy { $0 == 0 } }
    var isLoopback: Bool { isV4 ? ip[12] == 127 : ip == [UInt8](repeating: 0, count: 15) + [1] }
    /// Where a connect to the unspecified address goes (Linux sends it to loopback).
    var connectable: InetAddress {
        guard isAny else { return self }
        return isV4 ? .v4([127, 0, 0, 1], port: port) : InetAddress(ip: [UInt8](repeating: 0, count: 15) + [1], port: port)
    }
}

/// Bound sockets by protocol and port, every live inet socket (for /proc/net), and lo's counters.
final class LoopbackNetwork {
    private var bound: [UInt32: [InetSocket]] = [:]
    private var all: [ObjectIdentifier: WeakInetSocket] = [:]
    /// Bytes and sends that crossed lo (one send counts as one packet).
    private(set) var bytes: UInt64 = 0
    private(set) var packets: UInt64 = 0

    func count(_ n: Int) { bytes &+= UInt64(n); packets &+= 1 }
    func register(_ s: InetSocket) {
        // Sockets never installed (an accepted connection its listener dropped) are not
        // released: forget the dead ones now and then.
        if all.count >= 1024 && all.count.isMultiple(of: 1024) { all = all.filter { $0.value.socket != nil } }
        all[ObjectIdentifier(s)] = WeakInetSocket(socket: s)
    }
    func unregister(_ s: InetSocket) { all[ObjectIdentifier(s)] = nil }
    /// The inet sockets still open, oldest first.
    func liveSockets() -> [InetSocket] {
        all = all.filter { $0.value.socket != nil && !$0.value.socket!.closed }
        return all.values.compactMap { $0.socket }.sorted { $0.inode.ino < $1.inode.ino }
    }
    private var nextEphemeral = UInt16.random(in: 32768...60999)
    /// Ping and raw sockets (ICMP.swift), which packets on lo reach.
    var packetSockets: [ObjectIdentifier: WeakPacketSocket] = [:]

    private static func key(_ proto: Int32, _ port: UInt16) -> UInt32 { UInt32(proto) << 16 | UInt32(port) }

    func sockets(_ proto: Int32, _ port: UInt16) -> [InetSocket] { bound[Self.key(proto, port)] ?? [] }

    func add(_ s: InetSocket) { bound[Self.key(s.proto, s.local.port), default: []].append(s) }

    func remove(_ s: InetSocket) {
        let k = Self.key(s.proto, s.local.port)
        bound[k]?.removeAll { $0 === s }
        if bound[k]?.isEmpty == true { bound[k] = nil }
    }

    /// A free port of the ephemeral range (net.ipv4.ip_local_port_range) for `s`.
    func ephemeralPort(for s: InetSocket, address: InetAddress, range: (low: Int, high: Int)) -> UInt16? {
        var p = Int(nextEphemeral)
        if p < range.low || p > range.high { p = Int.random(in: range.low...range.high) }
        for _ in range.low...range.high {
            let port = UInt16(p)
            p = p >= range.high ? range.low : p + 1
            if !conflicts(s, InetAddress(ip: address.ip, port: port)) { nextEphemeral = UInt16(p); return port }
        }
        return nil
    }

    /// Whether binding `s` to `address` collides with a socket already bound (inet_csk_bind_conflict).
    func conflicts(_ s: InetSocket, _ address: InetAddress) -> Bool {
        sockets(s.proto, address.port).contains { o in
            guard o !== s, s.overlaps(o, address) else { return false }
            if s.options.reusePort && o.options.reusePort { return false }
            if s.options.reuseAddress && o.options.reuseAddress && o.state != .listening && s.type == o.type { return false }
            return true
        }
    }
}

extension InetAddress {
    /// Parses a sockaddr_in (`family` AF_INET) or sockaddr_in6: EINVAL when short,
    /// EAFNOSUPPORT for another family (bind takes AF_UNSPEC with INADDR_ANY, for old
    /// programs: inet_bind_sk); a v4-mapped address on a v6-only socket cannot be used.
    static func parse(_ bytes: [UInt8], family: Int32, forBind: Bool, v6Only: Bool) throws(LinuxErrno) -> InetAddress {
        guard bytes.count >= 2 else { throw .EINVAL }
        let fam = Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8)
        let port = UInt16(bytes.count >= 4 ? bytes[2] : 0) << 8 | UInt16(bytes.count >= 4 ? bytes[3] : 0)
        if family == AF_INET {
            guard bytes.count >= 16 else { throw .EINVAL }
            let ip = Array(bytes[4..<8])
            if fam != AF_INET && !(forBind && fam == AF_UNSPEC && ip == [0, 0, 0, 0]) { throw .EAFNOSUPPORT }
            return .v4(ip, port: port)
        }
        guard bytes.count >= 24 else { throw .EINVAL }
        guard fam == AF_INET6 else { throw .EAFNOSUPPORT }
        let a = InetAddress(ip: Array(bytes[8..<24]), port: port)
        if a.isV4 && v6Only { throw forBind ? .EINVAL : .ENETUNREACH }
        return a
    }

    /// The sockaddr_in (for an AF_INET socket) or sockaddr_in6 naming it.
    func encoded(family: Int32) -> [UInt8] {
        if family == AF_INET {
            return [UInt8(AF_INET), 0, UInt8(port >> 8), UInt8(port & 0xff)] + Array(ip[12..<16]) + [UInt8](repeating: 0, count: 8)
        }
        return [UInt8(AF_INET6), 0, UInt8(port >> 8), UInt8(port & 0xff), 0, 0, 0, 0] + ip + [0, 0, 0, 0]
    }

    /// A socket bound to `self` receives what is addressed to `a` (either may be the wildcard).
    func covers(_ a: InetAddress) -> Bool { isAny || ip == a.ip }
}

struct WeakInetSocket { weak var socket: InetSocket? }

extension Socket {
    /// The IP-level ancillary data an inet socket asked to receive with each datagram
    /// (IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS; IP_RECVTTL, IP_RECVTOS), in Linux's order.
    func inetAncillary(_ m: ReceivedMessage) -> [(Int32, Int32, [UInt8])] {
        func on(_ level: Int32, _ name: Int32) -> Bool { (options[level: level, name: name] ?? 0) != 0 }
        func int(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }
        var out: [(Int32, Int32, [UInt8])] = []
        if family == AF_INET6 {
            if on(IPPROTO_IPV6_LEVEL, 51) { out.append((IPPROTO_IPV6_LEVEL, 52, int(m.hopLimit))) }   // IPV6_HOPLIMIT
            if on(IPPROTO_IPV6_LEVEL, 66) { out.append((IPPROTO_IPV6_LEVEL, 67, int(m.trafficClass))) } // IPV6_TCLASS
        } else {
            if on(IPPROTO_IP_LEVEL, 12) { out.append((IPPROTO_IP_LEVEL, 2, int(m.hopLimit))) }        // IP_TTL
            if on(IPPROTO_IP_LEVEL, 13) { out.append((IPPROTO_IP_LEVEL, 1, [UInt8(truncatingIfNeeded: m.trafficClass)])) } // IP_TOS
        }
        return out
    }
}

final class InetSocket: Socket {
    var local = InetAddress(ip: [UInt8](repeating: 0, count: 16), port: 0)
    var remote: InetAddress?
    var isBound = false
    var v6Only = false
    /// Where a non-blocking connect stands: the connection is made at once on loopback, but
    /// Linux reports EINPROGRESS first, and EALREADY/EISCONN to a second connect.
    var connectReported = true
    /// Sent while corked and held back (LoopbackCork.swift): TCP's data not pushed yet, or
    /// UDP's datagram being built and where it goes (nil: the connected remote).
    var corked: [UInt8] = []
    var corkedDatagram = false
    var corkedTarget: [UInt8]?
    /// TCP_CORK's ceiling: when held data goes out by itself.
    var corkDeadline: UInt64?

    init(kernel: Kernel, family: Int32, type: SocketType, proto: Int32, flags: Int32) {
        // Loopback TCP autotunes far beyond tcp_rmem's default; 1 MiB keeps bulk copies few.
        super.init(kernel: kernel, family: family, type: type, proto: proto, flags: flags,
                   capacity: type == .stream ? 1 << 20 : 212_992)
        if family == AF_INET { local = .v4([0, 0, 0, 0], port: 0) }
        net.loopback.register(self)
        options.receiveBuffer = type == .stream ? 131_072 : 212_992
        options.sendBuffer = type == .stream ? 16_384 : 212_992
    }

    var isTCP: Bool { type == .stream }

    // MARK: addresses

    /// Parses a sockaddr_in / sockaddr_in6 for this socket's family.
    func parse(_ bytes: [UInt8], forBind: Bool) throws(LinuxErrno) -> InetAddress {
        try InetAddress.parse(bytes, family: family, forBind: forBind, v6Only: v6Only)
    }

    func encode(_ a: InetAddress) -> [UInt8] { a.encoded(family: family) }

    override func localName() -> [UInt8] { encode(local) }
    override func senderName() -> [UInt8]? { encode(local) }
    func peerName() -> [UInt8]? { remote.map(encode) }
    override func peerAddress() throws(LinuxErrno) -> [UInt8] {
        guard (state == .connected && !wasReset) || (type == .datagram && remote != nil), let n = peerName() else { throw .ENOTCONN }
        return n
    }

    /// Whether this socket bound to `address` and `other` as bound could receive the same packets.
    func overlaps(_ other: InetSocket, _ address: InetAddress) -> Bool {
        // Families: a v4 socket meets v6 sockets only through a dual-stack :: binding.
        func v4Reach(_ s: InetSocket, _ a: InetAddress) -> Bool { s.family == AF_INET || (!s.v6Only && (a.isAny || a.isV4)) }
        func v6Reach(_ s: InetSocket, _ a: InetAddress) -> Bool { s.family == AF_INET6 && !a.isV4 }
        let bothV4 = v4Reach(self, address) && v4Reach(other, other.local)
        let bothV6 = v6Reach(self, address) && v6Reach(other, other.local)
        guard bothV4 || bothV6 else { return false }
        if address.isAny || other.local.isAny { return true }
        return address.ip == other.local.ip
    }

    /// Whether a packet to `a` reaches this bound socket.
    func accepts(_ a: InetAddress) -> Bool {
        if a.isV4 {
            guard family == AF_INET || (!v6Only && (local.isAny || local.isV4)) else { return false }
            if local.isAny { return true }
            return local.isV4 && local.ip == a.ip
        }
        guard family == AF_INET6, !local.isV4 else { return false }
        return local.isAny || local.ip == a.ip
    }

    override func bind(_ t: GuestThread, _ bytes: [UInt8]) throws(LinuxErrno) {
        var a = try parse(bytes, forBind: true)
        if isBound { throw .EINVAL }
        guard a.isAny || a.isLoopback else { throw .EADDRNOTAVAIL }
        try requireAddress(a)
        if a.port != 0 && Int(a.port) < net.unprivilegedPortStart && !t.group.capable(10, in: net.owner) { throw .EACCES } // CAP_NET_BIND_SERVICE
        if a.port == 0 {
            guard let p = net.loopback.ephemeralPort(for: self, address: a, range: net.localPorts) else { throw .EADDRINUSE }
            a.port = p
        } else if net.loopback.conflicts(self, a) {
            throw .EADDRINUSE
        }
        local = a
        isBound = true
        net.loopback.add(self)
    }

    /// While lo is down (a new network namespace's, until brought up) ::1 is not on it
    /// (EADDRNOTAVAIL); 127.0.0.0/8 may be bound all the same, as on Linux.
    private func requireAddress(_ a: InetAddress) throws(LinuxErrno) {
        if !a.isV4 && !a.isAny && !net.loopbackUp { throw .EADDRNOTAVAIL }
    }

    /// Nothing goes out of a lo that is down: no route (IPv4), no source address (IPv6).
    private func requireRoute(to a: InetAddress) throws(LinuxErrno) {
        guard !net.loopbackUp else { return }
        throw a.isV4 ? .ENETUNREACH : .EADDRNOTAVAIL
    }

    /// A port for a socket that sends, connects or listens before binding.
    private func autobind(for target: InetAddress?) throws(LinuxErrno) {
        guard !isBound else { return }
        var a = local
        if let target, target.isV4 { a.ip = InetAddress.v4Prefix + [127, 0, 0, 1] }
        else if let target { a.ip = target.connectable.ip }
        guard let p = net.loopback.ephemeralPort(for: self, address: a, range: net.localPorts) else { throw .EAGAIN }
        a.port = p
        local = a
        isBound = true
        net.loopback.add(self)
    }

    override func prepareListen() throws(LinuxErrno) { try autobind(for: nil) }
    override func autobindForSend() throws(LinuxErrno) { try autobind(for: nil) }
    override var notConnectedForSend: LinuxErrno { isTCP ? .EPIPE : .EDESTADDRREQ }
    override var endsStreamBeforeError: Bool { isTCP }
    override var requiresConnectionForShutdown: Bool { true }
    override var shutdownWhenPeerCloses: SocketShutdown { isTCP ? .receive : .both }

    /// What corking held goes out before the FIN (a UDP datagram still being built is dropped).
    override func shutdown(_ how: Int32) throws(LinuxErrno) {
        if how == 1 || how == 2 { pushCorked() }
        try super.shutdown(how)
    }
    override func closeConnection() {
        pushCorked()
        dropCorkedDatagram()
        super.closeConnection()
    }

    override func connect(_ t: GuestThread, _ bytes: [UInt8]) throws(LinuxErrno) {
        if bytes.count >= 2, Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8) == AF_UNSPEC {
            // AF_UNSPEC dissolves a UDP association (TCP: a connected socket would reset).
            if !isTCP { peer = nil; remote = nil }
            return
        }
        let target = try parse(bytes, forBind: false).connectable
        guard target.isLoopback else { throw .ENETUNREACH }
        try requireRoute(to: target)
        if !isTCP {
            try autobind(for: target)
            remote = target
            return
        }
        if state == .connected {
            if !connectReported { connectReported = true; return }
            throw .EISCONN
        }
        if state == .listening { throw .EINVAL }
        guard target.port != 0 else { throw .ECONNREFUSED }
        let listener = net.loopback.sockets(proto, target.port).first { $0.state == .listening && $0.accepts(target) }
        try autobind(for: target)
        guard let listener else {
            if flags & O_NONBLOCK != 0 { pendingError = .ECONNREFUSED; throw .EINPROGRESS }
            throw .ECONNREFUSED
        }
        try connectStream(to: listener, t)
        remote = target
        if let server = peer as? InetSocket {
            server.local = target
            server.remote = local
        }
        if flags & O_NONBLOCK != 0 {
            connectReported = false
            throw .EINPROGRESS
        }
    }

    /// A connected UDP socket sends to its remote address, looked up at each send.
    override func send(_ t: GuestThread, _ src: inout IOSequence, control: inout SendControl, target: [UInt8]?, flags: Int32) throws(LinuxErrno) -> Int {
        if isTCP && flags & MSG_OOB_FLAG != 0 { return try sendUrgent(t, &src, control: &control, flags: flags) }
        if let n = try sendCorking(t, &src, control: &control, target: target, flags: flags) { return n }
        return try sendNow(t, &src, control: &control, target: target, flags: flags)
    }

    /// A send that goes out at once (after what was corked, for TCP).
    func sendNow(_ t: GuestThread, _ src: inout IOSequence, control: inout SendControl, target: [UInt8]?, flags: Int32) throws(LinuxErrno) -> Int {
        // TCP after the peer closed (CLOSE_WAIT): nothing sent is 0; the first data goes out
        // and draws the peer's reset, which closes this end with EPIPE pending (tcp_reset in
        // CLOSE_WAIT), so the sends after it fail with EPIPE. A large write is cut short where
        // the reset comes back: Linux's first push, half a window, 512 KiB of a 1 MiB write
        // here; a program writing until it notices the peer is gone (Go's TestWritevError
        // writes 1 GiB) gets a short count, then EPIPE.
        if isTCP && state == .connected && peerGone && !wasReset && !shutdown.contains(.send) {
            let n = min(src.count, Self.sentBeforeReset)
            if n == 0 { return 0 }
            src.skip(n)
            shutdown = .both
            wasReset = true
            pendingError = .EPIPE
            wake(EventMask.input.union([.output, .hangUp, .error]))
            return n
        }
        // UDP's checks in udp_sendmsg's order: the length field, then MSG_OOB, then what
        // fits one IP packet (65,507 bytes in IPv4, 65,527 in IPv6).
        if !isTCP {
            if src.count > 0xffff { throw .EMSGSIZE }
            if flags & MSG_OOB_FLAG != 0 { throw .EOPNOTSUPP }
            if src.count > (family == AF_INET6 ? 65_527 : 65_507) { throw .EMSGSIZE }
        }
        let n: Int
        if !isTCP, target == nil, let remote {
            n = try super.send(t, &src, control: &control, target: encode(remote), flags: flags)
        } else {
            n = try super.send(t, &src, control: &control, target: isTCP ? nil : target, flags: flags)
        }
        net.loopback.count(n)
        return n
    }
    override var dropsDatagramsWhenFull: Bool { true }
    static let sentBeforeReset = 1 << 19

    /// TCP: data in flight is the receiver's window plus the sender's buffer. Untuned, they
    /// are far larger than Linux's defaults (bulk copies stay few); a size the program set
    /// bounds its side, the other side then counting 64 KiB of window or 1 MiB of buffer as
    /// Linux's autotuning reaches about that much here.
    override func room(in receiver: Socket) -> Int {
        guard isTCP, options.sendBufferLocked || receiver.options.receiveBufferLocked else { return super.room(in: receiver) }
        let window = receiver.options.receiveBufferLocked ? receiver.options.receiveBuffer : 65_536
        let buffer = options.sendBufferLocked ? options.sendBuffer : 1 << 20
        return max(0, min(receiver.receive.space, window + buffer - receiver.receive.bytes))
    }

    /// A datagram comes with the IP-level ancillary data the socket asked for.
    override func receive(_ t: GuestThread, _ dst: inout IOSequence, flags: Int32, into out: inout ReceivedMessage) throws(LinuxErrno) -> Int {
        let n = try super.receive(t, &dst, flags: flags, into: &out)
        if type == .datagram { out.ancillary = inetAncillary(out) }
        return n
    }

    /// The hop limit (TTL) and traffic class (TOS) a datagram leaves with unless sendmsg sets them.
    var defaultHopLimit: Int32 {
        let v = options[level: family == AF_INET6 ? IPPROTO_IPV6_LEVEL : IPPROTO_IP_LEVEL, name: family == AF_INET6 ? 16 : 2] ?? 64
        return v < 0 ? 64 : v
    }
    var defaultTrafficClass: Int32 {
        max(0, options[level: family == AF_INET6 ? IPPROTO_IPV6_LEVEL : IPPROTO_IP_LEVEL, name: family == AF_INET6 ? 67 : 1] ?? 0)
    }

    private func receiver(for a: InetAddress) -> InetSocket? {
        net.loopback.sockets(proto, a.port).first { $0.accepts(a) }
    }

    override func datagramTarget(_ t: GuestThread, _ bytes: [UInt8]) throws(LinuxErrno) -> Socket? {
        let a = try parse(bytes, forBind: false).connectable
        guard a.isLoopback else { throw .ENETUNREACH }
        guard a.port != 0 else { throw .EINVAL }
        try requireRoute(to: a)
        try autobind(for: a)
        return receiver(for: a)
    }

    override func makeAcceptedSocket() -> Socket {
        let s = InetSocket(kernel: kernel, family: family, type: type, proto: proto, flags: 0)
        s.options.noDelay = options.noDelay
        // Buffer sizes the listener was given pass to what it accepts (sk_clone_lock).
        if options.receiveBufferLocked { (s.options.receiveBuffer, s.options.receiveBufferLocked) = (options.receiveBuffer, true) }
        if options.sendBufferLocked { (s.options.sendBuffer, s.options.sendBufferLocked) = (options.sendBuffer, true) }
        s.isBound = false // shares its listener's port without holding it
        return s
    }

    override func unbind() {
        if isBound { net.loopback.remove(self) }
        isBound = false
        net.loopback.unregister(self)
    }
}
