// AF_NETLINK, NETLINK_ROUTE: the socket's network namespace described to getifaddrs(3),
// if_nameindex, `ip addr`, `ip link` and `ip route` — the loopback interface lo with
// 127.0.0.1/8 and ::1, and the routes Linux gives it (none, and no ::1, while lo is down).
// Bringing lo up or down (RTM_NEWLINK, or SIOCSIFFLAGS) is the one change a request may
// make, with CAP_NET_ADMIN over the namespace; others are refused with EPERM in an error
// reply (the network is otherwise fixed); other netlink protocols are
// EPROTONOSUPPORT at socket(), so callers such as PAM's audit fall back. Multicast groups can
// be joined, but nothing changes, so no notification is ever sent. With `--network=host` the
// read-only requests (links, addresses, routes, neighbours, rules) are answered by the host
// kernel of the sentry's network namespace, through one netlink socket the sentry keeps;
// changes are refused all the same. Kernel lock held throughout.
import Glibc
import JoeyABI

final class RouteNetlinkSocket: Socket {
    /// nl_pid: the process's pid unless bind chose another.
    private var portID: UInt32 = 0
    private var groups: UInt32 = 0

    init(kernel: Kernel, type: SocketType, flags: Int32) {
        super.init(kernel: kernel, family: AF_NETLINK_FAMILY, type: type, proto: 0, flags: flags, capacity: 212_992)
        state = .connected
    }

    static let kernelAddress: [UInt8] = sockaddrNL(pid: 0, groups: 0)
    static func sockaddrNL(pid: UInt32, groups: UInt32) -> [UInt8] {
        var b: [UInt8] = [UInt8(AF_NETLINK_FAMILY), 0, 0, 0]
        withUnsafeBytes(of: pid) { b += $0 }
        withUnsafeBytes(of: groups) { b += $0 }
        return b
    }

    override func localName() -> [UInt8] { Self.sockaddrNL(pid: portID, groups: groups) }
    override func senderName() -> [UInt8]? { localName() }

    override func bind(_ t: GuestThread, _ address: [UInt8]) throws(LinuxErrno) {
        guard address.count >= 12 else { throw .EINVAL }
        guard Int32(UInt16(address[0]) | UInt16(address[1]) << 8) == AF_NETLINK_FAMILY else { throw .EINVAL }
        let pid = address.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }
        groups = address.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) }
        portID = pid != 0 ? pid : UInt32(bitPattern: t.vnr(t.group.pid))
    }

    override func connect(_ t: GuestThread, _ address: [UInt8]) throws(LinuxErrno) {
        guard address.count >= 12 else { throw .EINVAL }
        if portID == 0 { portID = UInt32(bitPattern: t.vnr(t.group.pid)) }
    }

    /// A request to the kernel: every message in it is answered into this socket's queue.
    override func send(_ t: GuestThread, _ src: inout IOSequence, control: inout SendControl, target: [UInt8]?, flags: Int32) throws(LinuxErrno) -> Int {
        let n = src.count
        guard n <= 65536 else { throw .EMSGSIZE }
        var request = [UInt8](repeating: 0, count: n)
        let copied = try request.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in try src.copyIn(p) }
        guard copied == n else { throw .EFAULT }
        if portID == 0 { portID = UInt32(bitPattern: t.vnr(t.group.pid)) }
        var off = 0
        while off + 16 <= request.count {
            let (len, type, msgFlags, seq) = request.withUnsafeBytes { p in
                (Int(p.loadUnaligned(fromByteOffset: off, as: UInt32.self)), p.loadUnaligned(fromByteOffset: off + 4, as: UInt16.self),
                 p.loadUnaligned(fromByteOffset: off + 6, as: UInt16.self), p.loadUnaligned(fromByteOffset: off + 8, as: UInt32.self))
            }
            guard len >= 16, len <= request.count - off else { break }
            let payload = Array(request[(off + 16)..<(off + len)])
            answer(type: type, flags: msgFlags, seq: seq, payload: payload, header: Array(request[off..<(off + len)]))
            off += (len + 3) & ~3
        }
        wake(EventMask.input)
        return n
    }

    // MARK: replies

    private static let NLMSG_ERROR: UInt16 = 2, NLMSG_DONE: UInt16 = 3
    private static let NLM_F_MULTI: UInt16 = 2, NLM_F_ACK: UInt16 = 4, NLM_F_DUMP: UInt16 = 0x300
    private static let RTM_NEWLINK: UInt16 = 16, RTM_GETLINK: UInt16 = 18, RTM_NEWADDR: UInt16 = 20, RTM_GETADDR: UInt16 = 22
    private static let RTM_NEWROUTE: UInt16 = 24, RTM_GETROUTE: UInt16 = 26

    private func message(_ type: UInt16, flags: UInt16, seq: UInt32, _ body: [UInt8]) -> [UInt8] {
        var m = [UInt8]()
        withUnsafeBytes(of: UInt32(16 + body.count)) { m += $0 }
        withUnsafeBytes(of: type) { m += $0 }
        withUnsafeBytes(of: flags) { m += $0 }
        withUnsafeBytes(of: seq) { m += $0 }
        withUnsafeBytes(of: portID) { m += $0 }
        m += body
        while m.count % 4 != 0 { m.append(0) }
        return m
    }

    /// One rtattr: length, type, data, padded to 4 bytes.
    private static func attribute(_ type: UInt16, _ data: [UInt8]) -> [UInt8] {
        var a = [UInt8]()
        withUnsafeBytes(of: UInt16(4 + data.count)) { a += $0 }
        withUnsafeBytes(of: type) { a += $0 }
        a += data
        while a.count % 4 != 0 { a.append(0) }
        return a
    }
    private static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }
    private static func cString(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

    /// A datagram from the kernel that no request asked for (an mq_notify cookie): queued
    /// as an answer is, and readers woken.
    func deliverFromKernel(_ bytes: [UInt8]) {
        queueReply(bytes)
        wake(EventMask.input)
    }

    /// Queues an answer when it fits the receive buffer; otherwise it is lost and the next
    /// receive reports ENOBUFS (netlink_overrun), so a sender that never reads cannot grow it.
    private func queueReply(_ bytes: [UInt8]) {
        guard receive.bytes + bytes.count <= receive.capacity else { pendingError = .ENOBUFS; return }
        receive.append(SocketMessage(data: bytes, source: Self.kernelAddress))
    }

    private func error(_ errno: Int32, seq: UInt32, request: [UInt8]) {
        // nlmsgerr: the error, then the request's header.
        queueReply(message(Self.NLMSG_ERROR, flags: errno == 0 ? 0x100 /* NLM_F_CAPPED */ : 0, seq: seq,
                           Self.u32(UInt32(bitPattern: -errno)) + Array(request.prefix(16))))
    }

    private func answer(type: UInt16, flags: UInt16, seq: UInt32, payload: [UInt8], header: [UInt8]) {
        // RTM_GETLINK, GETADDR, GETROUTE, GETNEIGH, GETRULE on the host's network.
        if net.onHost && [18, 22, 26, 30, 34].contains(type) {
            // A full queue takes no more answers: the host is not asked.
            guard receive.space > 0 else { pendingError = .ENOBUFS; return }
            guard let replies = kernel.hostRouteNetlink.ask(header) else { error(EOPNOTSUPP, seq: seq, request: header); return }
            for m in replies {
                var m = m
                withUnsafeBytes(of: portID) { for i in 0..<4 { m[12 + i] = $0[i] } } // nlmsg_pid: this socket
                queueReply(m)
            }
            return
        }
        let family = payload.first ?? 0
        let dump = flags & Self.NLM_F_DUMP == Self.NLM_F_DUMP
        switch type {
        case Self.RTM_GETLINK:
            if !dump {
                // ifinfomsg's index, or IFLA_IFNAME, names the link.
                let index = payload.count >= 8 ? payload.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: Int32.self) } : 0
                let named = Self.attributeValue(payload, after: 16, type: 3).map { Array($0.prefix { $0 != 0 }) }
                guard index == 1 || (index == 0 && named == Array("lo".utf8)) else { error(ENODEV, seq: seq, request: header); return }
                queueReply(message(Self.RTM_NEWLINK, flags: 0, seq: seq, Self.loopbackLink(up: net.loopbackUp, mtu: net.loopbackMTU)))
                return
            }
            queueReply(message(Self.RTM_NEWLINK, flags: Self.NLM_F_MULTI, seq: seq, Self.loopbackLink(up: net.loopbackUp, mtu: net.loopbackMTU))
                       + message(Self.NLMSG_DONE, flags: Self.NLM_F_MULTI, seq: seq, Self.u32(0)))
        case Self.RTM_GETADDR:
            var out = [UInt8]()
            if net.loopbackAddressed && (family == 0 || Int32(family) == AF_INET) {
                out += message(Self.RTM_NEWADDR, flags: Self.NLM_F_MULTI, seq: seq, Self.address4())
            }
            if net.loopbackUp && (family == 0 || Int32(family) == AF_INET6) {
                out += message(Self.RTM_NEWADDR, flags: Self.NLM_F_MULTI, seq: seq, Self.address6())
            }
            queueReply(out + message(Self.NLMSG_DONE, flags: Self.NLM_F_MULTI, seq: seq, Self.u32(0)))
        case Self.RTM_GETROUTE:
            var out = [UInt8]()
            for r in Self.routes() where net.loopbackUp && (family == 0 || r.first == family) {
                out += message(Self.RTM_NEWROUTE, flags: Self.NLM_F_MULTI, seq: seq, r)
            }
            queueReply(out + message(Self.NLMSG_DONE, flags: Self.NLM_F_MULTI, seq: seq, Self.u32(0)))
        case Self.NLMSG_DONE, 1 /* NLMSG_NOOP */:
            break
        case Self.RTM_NEWLINK where !net.onHost, 19 /* RTM_SETLINK */ where !net.onHost:
            // lo up or down: ifinfomsg's index (or IFLA_IFNAME) naming lo, and a change of
            // IFF_UP alone.
            if let e = setLink(payload) { error(e, seq: seq, request: header); return }
        case Self.RTM_NEWADDR where !net.onHost:
            if let e = addAddress(payload, exclusive: flags & 0x200 /* NLM_F_EXCL */ != 0) { error(e, seq: seq, request: header); return }
        default:
            // Changes to links, addresses, routes and everything else: the sandbox's network
            // is fixed (as in a network namespace without CAP_NET_ADMIN).
            error(type >= 16 && type % 4 == 0 ? EPERM : EOPNOTSUPP, seq: seq, request: header)
            return
        }
        if flags & Self.NLM_F_ACK != 0 && !dump { error(0, seq: seq, request: header) }
    }

    /// RTM_NEWLINK/RTM_SETLINK on lo: the errno to reply, nil when done.
    private func setLink(_ payload: [UInt8]) -> Int32? {
        guard payload.count >= 16 else { return EINVAL }
        let (index, flags, change) = payload.withUnsafeBytes { p in
            (p.loadUnaligned(fromByteOffset: 4, as: Int32.self), p.loadUnaligned(fromByteOffset: 8, as: UInt32.self),
             p.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        }
        guard let t = kernel.current, t.group.capable(12 /* CAP_NET_ADMIN */, in: net.owner) else { return EPERM }
        let named = Self.attributeValue(payload, after: 16, type: 3).map { Array($0.prefix { $0 != 0 }) }
        guard index == 1 || (index == 0 && named == Array("lo".utf8)) else { return ENODEV }
        // Only IFF_UP may change (ifi_change 0 means every flag given, as old iproute2 sends).
        let changing = change == 0 ? UInt32.max : change
        guard changing & ~UInt32(0x1) == 0 || flags & ~UInt32(0x1 | 0x8 | 0x40 | 0x10000) == 0 else { return EPERM }
        if changing & 0x1 != 0 { net.setLoopback(up: flags & 0x1 != 0) }
        return nil
    }

    /// RTM_NEWADDR on lo: lo's own addresses (127.0.0.1/8, ::1/128) only; any other is not
    /// offered (EOPNOTSUPP). EEXIST for one it has, with NLM_F_EXCL.
    private func addAddress(_ payload: [UInt8], exclusive: Bool) -> Int32? {
        guard payload.count >= 8 else { return EINVAL }
        let family = Int32(payload[0]), prefix = payload[1]
        let index = payload.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }
        guard let t = kernel.current, t.group.capable(12 /* CAP_NET_ADMIN */, in: net.owner) else { return EPERM }
        guard index == 1 else { return ENODEV }
        let address = Self.attributeValue(payload, after: 8, type: 2) ?? Self.attributeValue(payload, after: 8, type: 1) // IFA_LOCAL, IFA_ADDRESS
        switch (family, prefix, address) {
        case (AF_INET, 8, [127, 0, 0, 1]?):
            if net.loopbackAddressed && exclusive { return EEXIST }
            net.addLoopbackAddress()
        case (AF_INET6, 128, ([UInt8](repeating: 0, count: 15) + [1])?):
            if net.loopbackUp && exclusive { return EEXIST }
        default:
            return EOPNOTSUPP
        }
        return nil
    }

    /// The payload of attribute `type` among the rtattrs from `offset`.
    private static func attributeValue(_ p: [UInt8], after offset: Int, type: UInt16) -> [UInt8]? {
        var off = offset
        while off + 4 <= p.count {
            let len = Int(UInt16(p[off]) | UInt16(p[off + 1]) << 8)
            let t = UInt16(p[off + 2]) | UInt16(p[off + 3]) << 8
            guard len >= 4, off + len <= p.count else { return nil }
            if t & 0x3fff == type { return Array(p[(off + 4)..<(off + len)]) }
            off += (len + 3) & ~3
        }
        return nil
    }

    /// RTM_NEWLINK for lo: ifinfomsg (ARPHRD_LOOPBACK, index 1, UP|LOOPBACK|RUNNING|LOWER_UP,
    /// or LOOPBACK alone while down).
    private static func loopbackLink(up: Bool, mtu: Int32) -> [UInt8] {
        var b: [UInt8] = [0, 0]
        withUnsafeBytes(of: UInt16(772)) { b += $0 }
        withUnsafeBytes(of: Int32(1)) { b += $0 }
        b += u32(up ? 0x1 | 0x8 | 0x40 | 0x10000 : 0x8)
        b += u32(0)
        b += attribute(3, cString("lo"))                        // IFLA_IFNAME
        b += attribute(1, [0, 0, 0, 0, 0, 0])                   // IFLA_ADDRESS
        b += attribute(2, [0, 0, 0, 0, 0, 0])                   // IFLA_BROADCAST
        b += attribute(4, u32(UInt32(bitPattern: mtu)))         // IFLA_MTU
        b += attribute(13, u32(1000))                           // IFLA_TXQLEN
        b += attribute(16, [up ? 0 : 2])                        // IFLA_OPERSTATE: unknown, as lo reports, or down
        b += attribute(17, [0])                                 // IFLA_LINKMODE
        b += attribute(6, cString(up ? "noqueue" : "noop"))     // IFLA_QDISC
        b += attribute(27, u32(0))                              // IFLA_GROUP: default
        return b
    }

    /// ifaddrmsg + attributes: family, prefix length, IFA_F_PERMANENT, RT_SCOPE_HOST, lo.
    private static func address(family: UInt8, prefix: UInt8, address: [UInt8], label: Bool) -> [UInt8] {
        var b: [UInt8] = [family, prefix, 0x80, 254]
        b += u32(1)
        b += attribute(1, address)                              // IFA_ADDRESS
        if label {
            b += attribute(2, address)                          // IFA_LOCAL
            b += attribute(3, cString("lo"))                    // IFA_LABEL
        }
        b += attribute(8, u32(0x80))                            // IFA_FLAGS
        b += attribute(6, u32(UInt32.max) + u32(UInt32.max) + u32(0) + u32(0)) // IFA_CACHEINFO: forever
        return b
    }
    private static func address4() -> [UInt8] { address(family: UInt8(AF_INET), prefix: 8, address: [127, 0, 0, 1], label: true) }
    private static func address6() -> [UInt8] {
        address(family: UInt8(AF_INET6), prefix: 128, address: [UInt8](repeating: 0, count: 15) + [1], label: false)
    }

    /// The routes of a loopback-only network: lo's local routes, and ::1 in the main table.
    private static func routes() -> [[UInt8]] {
        func route(_ family: Int32, _ dstLen: UInt8, table: UInt8, scope: UInt8, type: UInt8, dst: [UInt8], src: [UInt8]?) -> [UInt8] {
            var b: [UInt8] = [UInt8(family), dstLen, 0, 0, table, 2 /* RTPROT_KERNEL */, scope, type]
            b += u32(0)
            b += attribute(15, u32(UInt32(table)))              // RTA_TABLE
            b += attribute(1, dst)                              // RTA_DST
            if let src { b += attribute(7, src) }               // RTA_PREFSRC
            b += attribute(4, u32(1))                           // RTA_OIF: lo
            if family == AF_INET6 && table == 254 {
                b += attribute(6, u32(256))                     // RTA_PRIORITY: metric 256
                b += attribute(20, [0])                         // RTA_PREF: medium
            }
            return b
        }
        let lo4: [UInt8] = [127, 0, 0, 1], lo6 = [UInt8](repeating: 0, count: 15) + [1]
        return [
            route(AF_INET, 8, table: 255, scope: 254, type: 2, dst: [127, 0, 0, 0], src: lo4),   // local 127.0.0.0/8
            route(AF_INET, 32, table: 255, scope: 254, type: 2, dst: lo4, src: lo4),            // local 127.0.0.1
            route(AF_INET, 32, table: 255, scope: 253, type: 3, dst: [127, 255, 255, 255], src: lo4), // broadcast
            route(AF_INET6, 128, table: 254, scope: 0, type: 1, dst: lo6, src: nil),             // ::1 dev lo
            route(AF_INET6, 128, table: 255, scope: 0, type: 2, dst: lo6, src: nil),             // local ::1
        ]
    }
}

let AF_NETLINK_FAMILY: Int32 = 16

/// The sentry's own NETLINK_ROUTE socket, for the read-only requests of `--network=host`.
final class HostRouteNetlink {
    private var fd: Int32 = -1

    private var sequence: UInt32 = 0

    /// Sends one request message and collects every reply the host makes to it (a dump to
    /// its end, an answer and its ack), in the guest's sequence number; nil when the host
    /// socket cannot be had. Replies are matched by a sequence number of the sentry's own,
    /// so nothing left over from an earlier request is ever taken for this one's answer.
    /// The sentry's host netlink socket, made on first use; nil when the host refuses one.
    func socket() -> Int32? {
        if fd < 0 { fd = Glibc.socket(AF_NETLINK_FAMILY, 3 /* SOCK_RAW */ | 0o2000000, 0) }
        return fd >= 0 ? fd : nil
    }

    func ask(_ request: [UInt8]) -> [[UInt8]]? {
        guard let fd = socket(), request.count >= 16 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        // Anything still queued belongs to no one now.
        while buffer.withUnsafeMutableBytes({ Glibc.recv(fd, $0.baseAddress, $0.count, MSG_DONTWAIT_FLAG) }) > 0 {}
        sequence &+= 1
        let mine = sequence
        let guestSequence = request.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) }
        var request = request
        request.withUnsafeMutableBytes { p in
            p.storeBytes(of: mine, toByteOffset: 8, as: UInt32.self)
            p.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self) // nlmsg_pid: the kernel's
        }
        guard request.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
        var out: [[UInt8]] = []
        var total = 0
        // The host answers during send, and continues a dump during each receive: a receive
        // that would block means the answer is complete.
        while true {
            // The next message's size first (MSG_PEEK | MSG_TRUNC), so none is cut short.
            let size = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, 0, MSG_DONTWAIT_FLAG | MSG_PEEK_FLAG | MSG_TRUNC_FLAG) }
            if size <= 0 { break }
            if size > buffer.count { buffer = [UInt8](repeating: 0, count: size) }
            let n = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, MSG_DONTWAIT_FLAG) }
            if n <= 0 { break }
            total += n
            var off = 0
            while off + 16 <= n {
                let len = Int(buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: off, as: UInt32.self) })
                let seq = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: off + 8, as: UInt32.self) }
                guard len >= 16, off + len <= n else { break }
                if seq == mine {
                    var m = Array(buffer[off..<(off + len)])
                    m.withUnsafeMutableBytes { $0.storeBytes(of: guestSequence, toByteOffset: 8, as: UInt32.self) }
                    out.append(m)
                }
                off += (len + 3) & ~3
            }
            if total > 16 << 20 {
                // A dump this large is abandoned: a fresh socket next time.
                close(fd)
                self.fd = -1
                break
            }
        }
        return out
    }
}

extension Socket {
    /// The interface ioctls (SIOCGIF*) every socket answers: on the host's network the host's
    /// interfaces (as Linux answers them on a socket of any family, unix and netlink too);
    /// otherwise about lo, the only interface.
    func interfaceIoctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64? {
        if net.onHost {
            guard let fd = t.kernel.hostRouteNetlink.socket() else { throw .ENODEV }
            return try hostInterfaceIoctl(fd: fd, t, request: request, argument: argument)
        }
        let loName = Array("lo".utf8)
        // struct ifreq: ifr_name[16], then a 24-byte union.
        func readRequest() throws(LinuxErrno) -> [UInt8] { try t.mm.read(argument, count: 40) }
        func nameIsLo(_ r: [UInt8]) -> Bool { Array(r[0..<16].prefix { $0 != 0 }) == loName }
        func reply(_ r: [UInt8], _ union: [UInt8]) throws(LinuxErrno) -> UInt64 {
            var out = Array(r[0..<16]) + union
            out += [UInt8](repeating: 0, count: 40 - out.count)
            try t.mm.write(argument, out)
            return 0
        }
        let sockaddrLo: [UInt8] = [UInt8(AF_INET), 0, 0, 0, 127, 0, 0, 1] + [UInt8](repeating: 0, count: 8)
        switch request {
        case 0x8910: // SIOCGIFNAME: index -> name
            let r = try readRequest()
            let index = r.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: Int32.self) }
            guard index == 1 else { throw .ENODEV }
            var named = loName + [UInt8](repeating: 0, count: 16 - loName.count)
            named += Array(r[16..<40])
            try t.mm.write(argument, named)
            return 0
        case 0x8933, 0x8913, 0x8915, 0x8917, 0x8919, 0x891b, 0x891d, 0x8921, 0x8927, 0x8942, 0x8970:
            // INDEX, FLAGS, ADDR, DSTADDR, BRDADDR, NETMASK, METRIC, MTU, HWADDR, TXQLEN, MAP
            let r = try readRequest()
            guard nameIsLo(r) else { throw .ENODEV }
            switch request {
            case 0x8933: return try reply(r, withUnsafeBytes(of: Int32(1)) { Array($0) })
            case 0x8913: return try reply(r, withUnsafeBytes(of: Int16(net.loopbackUp ? 0x1 | 0x8 | 0x40 : 0x8)) { Array($0) })
            case 0x8915, 0x8917: return try reply(r, sockaddrLo) // a point-to-point peer: itself
            case 0x8919: return try reply(r, [UInt8(AF_INET)] + [UInt8](repeating: 0, count: 15)) // no broadcast
            case 0x891b: return try reply(r, [UInt8(AF_INET), 0, 0, 0, 255, 0, 0, 0] + [UInt8](repeating: 0, count: 8))
            case 0x8921: return try reply(r, withUnsafeBytes(of: net.loopbackMTU) { Array($0) })
            case 0x8942: return try reply(r, withUnsafeBytes(of: Int32(1000)) { Array($0) })
            case 0x891d, 0x8970: return try reply(r, []) // metric 0; struct ifmap all zero
            default: return try reply(r, [0x04, 0x03] + [UInt8](repeating: 0, count: 14)) // ARPHRD_LOOPBACK (772), zero address
            }
        case 0x8946: // SIOCETHTOOL: lo answers ETHTOOL_GLINK (link up) and nothing else, as on Linux
            let r = try readRequest()
            guard nameIsLo(r) else { throw .ENODEV }
            let data = r.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self) }
            let cmd: UInt32 = try t.mm.readValue(data)
            guard cmd == 0x0a else { throw .EOPNOTSUPP }
            try t.mm.writeValue(data &+ 4, UInt32(1))
            return 0
        case 0x8914, 0x8916, 0x8918, 0x891a, 0x891c, 0x891e, 0x8922, 0x8923, 0x8924, 0x8943:
            // SIOCSIF{FLAGS,ADDR,DSTADDR,BRDADDR,NETMASK,METRIC,MTU,NAME,HWADDR,TXQLEN}, in
            // Linux's order: the request is read (EFAULT), CAP_NET_ADMIN (EPERM), the device.
            // Setting lo's flags to up or down (with IFF_LOOPBACK kept) and its MTU are the
            // changes that succeed.
            let r = try readRequest()
            guard t.group.capable(12 /* CAP_NET_ADMIN */, in: net.owner) else { throw .EPERM }
            guard nameIsLo(r) else { throw .ENODEV }
            if request == 0x8922 { // SIOCSIFMTU: lo takes any size but a negative one
                let mtu = r.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: Int32.self) }
                guard mtu >= 0 else { throw .EINVAL }
                net.loopbackMTU = mtu
                return 0
            }
            let flags = r.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt16.self) }
            // IFF_LOOPBACK and IFF_RUNNING are the kernel's (kept as they are); of the flags a
            // caller may change only IFF_UP does anything here.
            if request == 0x8914 && flags & ~(0x1 | 0x8 | 0x40) == 0 {
                net.setLoopback(up: flags & 0x1 != 0)
                return 0
            }
            throw .EPERM
        case 0x8912: // SIOCGIFCONF: struct ifconf { int len; char *buf }: lo's IPv4 address
            let len: Int32 = try t.mm.readValue(argument)
            let buf: UInt64 = try t.mm.readValue(argument &+ 8)
            let entry = net.loopbackUp ? loName + [UInt8](repeating: 0, count: 16 - loName.count) + sockaddrLo + [UInt8](repeating: 0, count: 8) : []
            if buf == 0 {
                try t.mm.writeValue(argument, Int32(entry.count))
                return 0
            }
            let n = len >= Int32(entry.count) ? entry.count : 0
            if n > 0 { try t.mm.write(buf, entry) }
            try t.mm.writeValue(argument, Int32(n))
            return 0
        default:
            return nil
        }
    }
}
