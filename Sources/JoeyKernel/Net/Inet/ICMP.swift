// Ping and raw IP sockets on the sandbox's loopback network (`--network=none`): ping sockets
// (SOCK_DGRAM with IPPROTO_ICMP or IPPROTO_ICMPV6, for the groups in
// net.ipv4.ping_group_range) and raw sockets (SOCK_RAW, CAP_NET_RAW). What they send is an IP
// packet on lo: each raw socket of its protocol gets a copy (IPv4 ones with the IP header),
// and an echo request is answered as Linux's icmp_echo answers it, the reply going to the raw
// sockets and to the ping socket whose identifier it carries. TCP and UDP on lo are in-sentry
// queues, never packets, so raw sockets do not see them. Kernel lock held throughout.
import Glibc
import JoeyABI

/// One IP packet on lo. Addresses in InetAddress's form (IPv4 v4-mapped), ports unused.
struct LoopbackPacket {
    var source: InetAddress
    var destination: InetAddress
    var proto: UInt8
    var ttl: UInt8 = 64
    var tos: UInt8 = 0
    /// What follows the IP header (for ICMP: the ICMP message).
    var payload: [UInt8]
    var isV4: Bool { destination.isV4 }

    /// The 20-byte IPv4 header a raw socket reads before the payload.
    func ipv4Header(id: UInt16) -> [UInt8] {
        let length = UInt16(clamping: 20 + payload.count)
        var h: [UInt8] = [0x45, tos, UInt8(length >> 8), UInt8(length & 0xff), UInt8(id >> 8), UInt8(id & 0xff),
                          0x40, 0, ttl, proto, 0, 0] + Array(source.ip[12..<16]) + Array(destination.ip[12..<16])
        let sum = inetChecksum(h)
        h[10] = UInt8(sum >> 8); h[11] = UInt8(sum & 0xff)
        return h
    }
}

/// The Internet checksum (RFC 1071) of `bytes`, after `initial` (a pseudo-header's sum).
func inetChecksum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt16 {
    var sum = initial
    var i = 0
    while i + 1 < bytes.count { sum &+= UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]); i += 2 }
    if i < bytes.count { sum &+= UInt32(bytes[i]) << 8 }
    while sum >> 16 != 0 { sum = (sum & 0xffff) &+ (sum >> 16) }
    return ~UInt16(truncatingIfNeeded: sum)
}

/// ICMPv6's checksum covers a pseudo-header of the addresses, the length and the next header.
func icmpv6Checksum(_ message: [UInt8], source: InetAddress, destination: InetAddress) -> UInt16 {
    var pseudo: UInt32 = 0
    for a in [source.ip, destination.ip] { for i in stride(from: 0, to: 16, by: 2) { pseudo &+= UInt32(a[i]) << 8 | UInt32(a[i + 1]) } }
    pseudo &+= UInt32(message.count & 0xffff) &+ UInt32(message.count >> 16) &+ 58
    return inetChecksum(message, initial: pseudo)
}

struct WeakPacketSocket { weak var socket: ICMPSocket? }

final class ICMPSocket: Socket {
    /// The bound address; a ping socket's port is its echo identifier.
    var local: InetAddress
    var remote: InetAddress?
    var isBound = false
    /// ICMP_FILTER (raw IPv4 ICMP) and ICMP6_FILTER (raw ICMPv6): a set bit drops that type.
    var icmpFilter: UInt32 = 0
    var icmp6Filter = [UInt32](repeating: 0, count: 8)

    var isPing: Bool { type == .datagram }
    var isICMP: Bool { proto == (family == AF_INET ? 1 : 58) }
    private var echoRequest: UInt8 { family == AF_INET ? 8 : 128 }

    init(kernel: Kernel, family: Int32, type: SocketType, proto: Int32, flags: Int32) {
        local = family == AF_INET ? .v4([0, 0, 0, 0], port: 0) : InetAddress(ip: [UInt8](repeating: 0, count: 16), port: 0)
        super.init(kernel: kernel, family: family, type: type, proto: proto, flags: flags, capacity: 212_992)
        if type == .raw && proto == 255 { options[level: IPPROTO_IP_LEVEL, name: 3] = 1 } // IPPROTO_RAW: IP_HDRINCL
        // Ping and raw sockets start with SO_REUSEADDR on (inet_create's INET_PROTOSW_REUSE).
        options.reuseAddress = true
        net.loopback.register(self)
    }

    /// A ping socket needs the caller's group or one of its supplementary groups in
    /// net.ipv4.ping_group_range (ping_init_sock).
    static func mayPing(_ t: GuestThread, range: (low: UInt32, high: UInt32)?) -> Bool {
        guard let range, range.low <= range.high else { return false }
        return ([t.group.egid] + t.group.groups).contains { $0 >= range.low && $0 <= range.high }
    }

    // MARK: addresses

    private func parse(_ bytes: [UInt8]) throws(LinuxErrno) -> InetAddress {
        try InetAddress.parse(bytes, family: family, forBind: false, v6Only: false)
    }

    override func localName() -> [UInt8] {
        // A raw socket's port is its protocol (inet_create sets inet_sport so).
        var a = local
        if !isPing { a.port = UInt16(proto) }
        return a.encoded(family: family)
    }
    override func senderName() -> [UInt8]? { localName() }
    override func peerAddress() throws(LinuxErrno) -> [UInt8] {
        guard let remote else { throw .ENOTCONN }
        return remote.encoded(family: family)
    }

    override func bind(_ t: GuestThread, _ bytes: [UInt8]) throws(LinuxErrno) {
        var a = try InetAddress.parse(bytes, family: family, forBind: true, v6Only: false)
        if isBound && isPing { throw .EINVAL }
        if family == AF_INET6 && a.isV4 { throw .EINVAL }
        guard a.isAny || a.isLoopback else { throw .EADDRNOTAVAIL }
        // A ping socket only an address of an interface that is up (ping_check_bind_addr):
        // unlike raw, TCP and UDP sockets, it cannot bind 127.0.0.1 while lo is down.
        if isPing && !a.isAny && !net.loopbackUp { throw .EADDRNOTAVAIL }
        if isPing {
            if a.port == 0 {
                guard let ident = net.loopback.freePingIdent(for: self) else { throw .EADDRINUSE }
                a.port = ident
            } else if net.loopback.pingIdentTaken(a.port, by: self) {
                throw .EADDRINUSE
            }
        } else {
            a.port = 0
        }
        local = a
        isBound = true
    }

    override func connect(_ t: GuestThread, _ bytes: [UInt8]) throws(LinuxErrno) {
        if bytes.count >= 2, Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8) == AF_UNSPEC { remote = nil; return }
        let target = try parse(bytes).connectable
        guard target.isLoopback else { throw .ENETUNREACH }
        try autobind()
        // The source address the route gives, as ip4_datagram_connect and
        // ip6_datagram_connect set it (getsockname, /proc/net/icmp and raw show it).
        if local.isAny { local.ip = target.isV4 ? InetAddress.v4Prefix + [127, 0, 0, 1] : target.ip }
        remote = InetAddress(ip: target.ip, port: 0)
    }

    /// A ping socket that sends before binding gets a free identifier.
    private func autobind() throws(LinuxErrno) {
        guard isPing && !isBound else { return }
        guard let ident = net.loopback.freePingIdent(for: self) else { throw .EAGAIN }
        local.port = ident
        isBound = true
    }

    override func unbind() {
        isBound = false
        net.loopback.unregister(self)
    }

    // MARK: sending

    /// ping_common_sendmsg and raw_sendmsg: the message becomes one packet on lo, at once.
    override func send(_ t: GuestThread, _ src: inout IOSequence, control: inout SendControl, target: [UInt8]?, flags: Int32) throws(LinuxErrno) -> Int {
        let length = src.count
        if length > 0xffff { throw .EMSGSIZE }
        if flags & MSG_OOB_FLAG != 0 { throw .EOPNOTSUPP }
        var data = [UInt8](repeating: 0, count: length)
        let copied = try data.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in try src.copyIn(p) }
        if copied < length { throw .EFAULT }
        if isPing {
            // An echo request, code 0, is all a ping socket sends.
            guard length >= 8 else { throw .EINVAL }
            guard data[0] == echoRequest, data[1] == 0 else { throw .EINVAL }
        }
        let destination: InetAddress
        if var target {
            // A raw IPv4 socket takes AF_UNSPEC for AF_INET (raw_sendmsg).
            if family == AF_INET && !isPing && target.count >= 2 && target[0] == 0 && target[1] == 0 { target[0] = UInt8(AF_INET) }
            destination = try parse(target).connectable
            if family == AF_INET6 && destination.isV4 { throw .EINVAL }
        } else {
            guard let remote else { throw .EDESTADDRREQ }
            destination = remote
        }
        guard destination.isLoopback else { throw .ENETUNREACH }
        guard net.loopbackUp else { throw destination.isV4 ? .ENETUNREACH : .EADDRNOTAVAIL }
        try autobind()
        let source = local.isAny ? (family == AF_INET ? InetAddress.v4([127, 0, 0, 1], port: 0) : InetAddress(ip: destination.ip, port: 0)) : InetAddress(ip: local.ip, port: 0)
        var packet = LoopbackPacket(source: source, destination: InetAddress(ip: destination.ip, port: 0), proto: UInt8(truncatingIfNeeded: proto), payload: data)
        packet.ttl = UInt8(clamping: control.hopLimit ?? defaultHopLimit)
        packet.tos = UInt8(truncatingIfNeeded: control.trafficClass ?? defaultTrafficClass)
        if family == AF_INET && !isPing && options[level: IPPROTO_IP_LEVEL, name: 3] ?? 0 != 0 {
            // IP_HDRINCL: the program wrote the header; its protocol and TTL stand.
            guard length >= 20, data[0] >> 4 == 4, data[0] & 0xf >= 5, Int(data[0] & 0xf) * 4 <= length else { throw .EINVAL }
            let headerLength = Int(data[0] & 0xf) * 4
            packet.proto = data[9]
            packet.ttl = data[8]
            packet.tos = data[1]
            if data[12..<16] != [0, 0, 0, 0] { packet.source = .v4(Array(data[12..<16]), port: 0) }
            packet.payload = Array(data[headerLength...])
        } else if isPing {
            // The identifier is the socket's; the kernel sums the message.
            packet.payload[4] = UInt8(local.port >> 8)
            packet.payload[5] = UInt8(local.port & 0xff)
            packet.payload[2] = 0; packet.payload[3] = 0
            let sum = family == AF_INET ? inetChecksum(packet.payload) : icmpv6Checksum(packet.payload, source: source, destination: packet.destination)
            packet.payload[2] = UInt8(sum >> 8); packet.payload[3] = UInt8(sum & 0xff)
        } else if family == AF_INET6 && isICMP && length >= 4 {
            // Raw ICMPv6: the kernel fills in the checksum (RFC 3542).
            packet.payload[2] = 0; packet.payload[3] = 0
            let sum = icmpv6Checksum(packet.payload, source: source, destination: packet.destination)
            packet.payload[2] = UInt8(sum >> 8); packet.payload[3] = UInt8(sum & 0xff)
        }
        net.loopback.transmit(packet)
        return length
    }

    private var defaultHopLimit: Int32 {
        let v = options[level: family == AF_INET6 ? IPPROTO_IPV6_LEVEL : IPPROTO_IP_LEVEL, name: family == AF_INET6 ? 16 : 2] ?? 64
        return v < 0 ? 64 : v
    }
    private var defaultTrafficClass: Int32 {
        max(0, options[level: family == AF_INET6 ? IPPROTO_IPV6_LEVEL : IPPROTO_IP_LEVEL, name: family == AF_INET6 ? 67 : 1] ?? 0)
    }

    // MARK: receiving

    /// Whether a raw socket takes `p` (raw_v4_match, rawv6 lookup, and the ICMP filters).
    func wantsRaw(_ p: LoopbackPacket) -> Bool {
        guard !isPing, (family == AF_INET) == p.isV4 else { return false }
        // An IPPROTO_RAW socket only sends.
        guard Int32(p.proto) == proto, proto != 255 else { return false }
        if isBound && !local.covers(p.destination) { return false }
        if let remote, remote.ip != p.source.ip { return false }
        if isICMP, let type = p.payload.first {
            if family == AF_INET { if type < 32 && icmpFilter & (1 << UInt32(type)) != 0 { return false } }
            else if icmp6Filter[Int(type >> 5)] & (1 << UInt32(type & 31)) != 0 { return false }
        }
        return true
    }

    /// Queues what a packet brings this socket, dropped when there is no room (as a
    /// datagram is).
    func deliver(_ data: [UInt8], from source: InetAddress, packet: LoopbackPacket) {
        guard receive.space >= data.count else { return }
        let m = SocketMessage(data: data, source: InetAddress(ip: source.ip, port: 0).encoded(family: family))
        m.hopLimit = Int32(packet.ttl)
        m.trafficClass = Int32(packet.tos)
        stampIfAsked(m)
        receive.append(m)
        wake(EventMask.input)
    }

    override func receive(_ t: GuestThread, _ dst: inout IOSequence, flags: Int32, into out: inout ReceivedMessage) throws(LinuxErrno) -> Int {
        let n = try super.receive(t, &dst, flags: flags, into: &out)
        out.ancillary = inetAncillary(out)
        return n
    }

    override func makeAcceptedSocket() -> Socket { fatalError("ICMP sockets do not listen") }
}

extension LoopbackNetwork {
    func register(_ s: ICMPSocket) {
        if packetSockets.count >= 256 && packetSockets.count.isMultiple(of: 256) { packetSockets = packetSockets.filter { $0.value.socket != nil } }
        packetSockets[ObjectIdentifier(s)] = WeakPacketSocket(socket: s)
    }
    func unregister(_ s: ICMPSocket) { packetSockets[ObjectIdentifier(s)] = nil }

    /// The ping and raw sockets still open, oldest first (packets reach them in that order;
    /// /proc/net/icmp and raw list them so).
    var liveICMPSockets: [ICMPSocket] {
        packetSockets.values.compactMap { $0.socket }.filter { !$0.closed }.sorted { $0.inode.ino < $1.inode.ino }
    }

    /// The identifiers other ping sockets hold, whatever their family or address: Linux keeps
    /// one table of identifiers per network namespace (ping_get_port). With `sharing`, those
    /// held by sockets that, like `s`, have SO_REUSEADDR on (as every ping socket starts)
    /// do not count.
    private func pingIdentsTaken(by s: ICMPSocket, sharing: Bool) -> Set<UInt16> {
        var taken = Set<UInt16>()
        for case let o? in packetSockets.values.map({ $0.socket }) where o !== s && !o.closed && o.isPing && o.isBound
            && !(sharing && o.options.reuseAddress && s.options.reuseAddress) {
            taken.insert(o.local.port)
        }
        return taken
    }

    /// Whether `s` may not bind identifier `ident`: another ping socket holds it, and not both
    /// have SO_REUSEADDR on.
    func pingIdentTaken(_ ident: UInt16, by s: ICMPSocket) -> Bool { pingIdentsTaken(by: s, sharing: true).contains(ident) }

    /// A free echo identifier for `s`: one no ping socket holds (ping_get_port: never 0). One
    /// pass over the sockets, then over the identifiers: a guest holding thousands of them
    /// does not make a bind scan the sockets once per identifier.
    func freePingIdent(for s: ICMPSocket) -> UInt16? {
        let taken = pingIdentsTaken(by: s, sharing: false)
        var ident = UInt16.random(in: 1...UInt16.max)
        for _ in 0..<Int(UInt16.max) {
            if !taken.contains(ident) { return ident }
            ident = ident == UInt16.max ? 1 : ident + 1
        }
        return nil
    }

    /// A packet goes out on lo and comes straight back in: a copy to each raw socket of its
    /// protocol; an ICMP echo request with a good checksum is answered (icmp_echo), an echo
    /// reply goes to the ping socket with its identifier (ping_rcv).
    func transmit(_ p: LoopbackPacket) {
        count(p.payload.count + (p.isV4 ? 20 : 40))
        let sockets = liveICMPSockets
        let id = UInt16.random(in: 0...UInt16.max)
        for s in sockets where s.wantsRaw(p) {
            s.deliver(p.isV4 ? p.ipv4Header(id: id) + p.payload : p.payload, from: p.source, packet: p)
        }
        let icmp: UInt8 = p.isV4 ? 1 : 58
        guard p.proto == icmp, p.payload.count >= 8 else { return }
        let valid = p.isV4 ? inetChecksum(p.payload) == 0 : icmpv6Checksum(p.payload, source: p.source, destination: p.destination) == 0
        guard valid else { return }
        let (request, reply): (UInt8, UInt8) = p.isV4 ? (8, 0) : (128, 129)
        if p.payload[0] == request && p.payload[1] == 0 {
            var answer = LoopbackPacket(source: p.destination, destination: p.source, proto: icmp, tos: p.tos, payload: p.payload)
            answer.payload[0] = reply
            answer.payload[2] = 0; answer.payload[3] = 0
            let sum = p.isV4 ? inetChecksum(answer.payload) : icmpv6Checksum(answer.payload, source: answer.source, destination: answer.destination)
            answer.payload[2] = UInt8(sum >> 8); answer.payload[3] = UInt8(sum & 0xff)
            transmit(answer)
        } else if p.payload[0] == reply {
            let ident = UInt16(p.payload[4]) << 8 | UInt16(p.payload[5])
            let family = p.isV4 ? AF_INET : AF_INET6
            if let s = sockets.first(where: { $0.isPing && $0.isBound && $0.family == family && $0.local.port == ident && $0.local.covers(p.destination) }) {
                s.deliver(p.payload, from: p.source, packet: p)
            }
        }
    }
}
