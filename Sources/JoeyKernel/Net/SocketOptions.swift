// Socket options (getsockopt/setsockopt) at SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP and
// IPPROTO_IPV6, and raw ICMP sockets' filters (SOL_RAW, IPPROTO_ICMPV6). Options Joey's
// transport acts on are fields; the rest are stored and read back as Linux would report
// them. An option Linux does not have is ENOPROTOOPT.
import Glibc
import JoeyABI

struct SocketOptions {
    var reuseAddress = false
    var reusePort = false
    var passCredentials = false
    var noDelay = false
    var receiveBuffer = 212_992
    var sendBuffer = 212_992
    /// SO_RCVBUF / SO_SNDBUF were set: the size is the program's, no longer tuned (Linux's
    /// SOCK_RCVBUF_LOCK, SOCK_SNDBUF_LOCK); loopback TCP then bounds the data in flight by it.
    var receiveBufferLocked = false
    var sendBufferLocked = false
    var linger: (onOff: Int32, seconds: Int32) = (0, 0)
    /// SO_RCVTIMEO / SO_SNDTIMEO in nanoseconds; 0 waits forever.
    var receiveTimeout: UInt64 = 0
    var sendTimeout: UInt64 = 0
    /// Which of SO_TIMESTAMP(_OLD/_NEW) and SO_TIMESTAMPNS(_OLD/_NEW) is on, if one is: they
    /// are one setting (sock_set_timestamp), and recvmsg reports the stamp under its number.
    var timestamp: Int32?
    static let timestampNames: [Int32] = [29, 35, 63, 64]
    /// Plain integer options by level << 32 | name, when set.
    var values: [Int64: Int32] = [:]
    /// The plain integer option `name` of `level`, as set (nil: never set).
    subscript(level level: Int32, name name: Int32) -> Int32? {
        get { values[Int64(level) << 32 | Int64(name)] }
        set { values[Int64(level) << 32 | Int64(name)] = newValue }
    }
}

let SOL_SOCKET_LEVEL: Int32 = 1
let IPPROTO_TCP_LEVEL: Int32 = 6
let IPPROTO_IP_LEVEL: Int32 = 0
let IPPROTO_IPV6_LEVEL: Int32 = 41
let IPPROTO_ICMPV6_LEVEL: Int32 = 58
let SOL_RAW_LEVEL: Int32 = 255

extension Socket {
    /// The plain integer options each level knows, with Linux's defaults.
    private func plainDefault(_ level: Int32, _ name: Int32) -> Int32? {
        switch level {
        case SOL_SOCKET_LEVEL:
            switch name {
            case 1, 5, 6, 9, 10, 11, 12, 29, 34, 35, 36, 40, 46, 49, 60, 63, 64: return 0 // DEBUG DONTROUTE BROADCAST KEEPALIVE OOBINLINE NO_CHECK PRIORITY TIMESTAMP_OLD PASSSEC TIMESTAMPNS_OLD MARK RXQ_OVFL BUSY_POLL INCOMING_CPU ZEROCOPY TIMESTAMP_NEW TIMESTAMPNS_NEW
            case 18, 19: return 1 // RCVLOWAT SNDLOWAT
            case 42: return -1 // PEEK_OFF
            default: return nil
            }
        case IPPROTO_TCP_LEVEL where self is InetSocket && type == .stream:
            switch name {
            case 2: return state == .connected ? 65483 : 536 // MAXSEG
            case 3, 9, 10, 18, 23, 25: return 0 // CORK DEFER_ACCEPT WINDOW_CLAMP USER_TIMEOUT FASTOPEN NOTSENT_LOWAT
            case 4: return 7200 // KEEPIDLE
            case 5: return 75 // KEEPINTVL
            case 6: return 9 // KEEPCNT
            case 7: return 6 // SYNCNT
            case 8: return 60 // LINGER2
            case 12: return 1 // QUICKACK
            default: return nil
            }
        case IPPROTO_IP_LEVEL where self is InetSocket || self is ICMPSocket:
            switch name {
            case 1, 3, 6, 7, 8, 11, 12, 13, 15, 24: return 0 // TOS HDRINCL RECVOPTS RETOPTS PKTINFO RECVERR RECVTTL RECVTOS FREEBIND BIND_ADDRESS_NO_PORT
            case 2: return 64 // TTL
            case 10: return type == .stream ? 1 : 1 // MTU_DISCOVER: IP_PMTUDISC_WANT
            case 33, 34: return 1 // MULTICAST_TTL MULTICAST_LOOP
            default: return nil
            }
        case 17 where self is InetSocket && type == .datagram && proto != 136:
            switch name {
            case 1: return 0 // UDP_CORK
            default: return nil
            }
        case 136 where proto == 136:
            switch name {
            case 10, 11: return 0 // UDPLITE_SEND_CSCOV, UDPLITE_RECV_CSCOV
            default: return nil
            }
        case IPPROTO_IPV6_LEVEL where family == AF_INET6:
            switch name {
            case 16: return 64 // UNICAST_HOPS
            case 18, 19: return 1 // MULTICAST_HOPS MULTICAST_LOOP
            case 25, 49, 51, 66, 67: return 0 // RECVERR RECVPKTINFO RECVHOPLIMIT RECVTCLASS TCLASS
            default: return nil
            }
        default:
            return nil
        }
    }

    /// A level this socket has at all (unix sockets have SOL_SOCKET only). An inet socket
    /// has IP, its protocol's level (TCP; or UDP and UDP-Lite) and, for IPv6, IPV6; any other
    /// level falls through to Linux's ip_getsockopt (EOPNOTSUPP) or ip_setsockopt and
    /// ipv6's (ENOPROTOOPT).
    private func checkLevel(_ level: Int32, getting: Bool) throws(LinuxErrno) {
        if level == SOL_SOCKET_LEVEL { return }
        if family == AF_UNIX { throw .EOPNOTSUPP }
        switch level {
        case IPPROTO_IP_LEVEL: return
        case IPPROTO_TCP_LEVEL where type == .stream: return
        case 17 /* IPPROTO_UDP */ where type == .datagram, 136 /* IPPROTO_UDPLITE */ where type == .datagram: return
        case IPPROTO_IPV6_LEVEL where family == AF_INET6: return
        case SOL_RAW_LEVEL where self is ICMPSocket && type == .raw && family == AF_INET: return
        case IPPROTO_ICMPV6_LEVEL where self is ICMPSocket && type == .raw && family == AF_INET6: return
        default: throw family == AF_INET && getting ? .EOPNOTSUPP : .ENOPROTOOPT
        }
    }

    func getOption(_ t: GuestThread, level: Int32, name: Int32) throws(LinuxErrno) -> [UInt8] {
        try checkLevel(level, getting: true)
        // A host socket keeps its options; only the timeouts are the sentry's (it waits).
        if let h = self as? HostInetSocket, !(level == SOL_SOCKET_LEVEL && (name == 20 || name == 21)) {
            return try h.getHostOption(level: level, name: name)
        }
        func int(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }
        func timeval(_ ns: UInt64) -> [UInt8] {
            withUnsafeBytes(of: (Int64(ns / 1_000_000_000), Int64(ns % 1_000_000_000 / 1000))) { Array($0) }
        }
        if level == SOL_SOCKET_LEVEL {
            switch name {
            case 2: return int(options.reuseAddress ? 1 : 0)
            case 3: return int(type.rawValue)
            case 4:
                let e = pendingError
                pendingError = nil
                return int(e?.rawValue ?? 0)
            case 7: return int(Int32(clamping: options.sendBuffer))
            case 8: return int(Int32(clamping: options.receiveBuffer))
            case 13: return withUnsafeBytes(of: options.linger) { Array($0) }
            case 15: return int(options.reusePort ? 1 : 0)
            case 16: return int(options.passCredentials ? 1 : 0)
            case 17: // SO_PEERCRED
                let c = peerCredentials ?? SocketCredentials(pid: 0, uid: 65534, gid: 65534)
                let ns = t.group.userNS
                return withUnsafeBytes(of: (t.vnr(c.pid), ns.shownUID(c.uid), ns.shownGID(c.gid))) { Array($0) }
            case 20: return timeval(options.receiveTimeout)
            case 21: return timeval(options.sendTimeout)
            case 25: return [] // SO_BINDTODEVICE: not bound to a device
            case 30: return int(state == .listening ? 1 : 0)
            case 38: return int(proto)
            case 39: return int(family)
            default: break
            }
        }
        if level == IPPROTO_TCP_LEVEL {
            switch name {
            case 1: return int(options.noDelay ? 1 : 0)
            case 11: // TCP_INFO: the state byte; counters stay zero
                var info = [UInt8](repeating: 0, count: 232)
                info[0] = state == .connected && !wasReset ? (peerGone ? 8 /* CLOSE_WAIT */ : 1 /* ESTABLISHED */) : state == .listening ? 10 : 7
                return info
            case 13: return Array("cubic".utf8) + [0]
            default: break
            }
        }
        if level == IPPROTO_IPV6_LEVEL && name == 26, let s = self as? InetSocket { return int(s.v6Only ? 1 : 0) }
        if level == SOL_SOCKET_LEVEL && SocketOptions.timestampNames.contains(name) { return int(options.timestamp == name ? 1 : 0) }
        if level == SOL_RAW_LEVEL || level == IPPROTO_ICMPV6_LEVEL, let s = self as? ICMPSocket {
            // ICMP_FILTER, ICMPV6_FILTER: a raw ICMP socket's (raw_geticmpfilter).
            guard s.isICMP else { throw .EOPNOTSUPP }
            guard name == 1 else { throw .ENOPROTOOPT }
            return level == SOL_RAW_LEVEL ? withUnsafeBytes(of: s.icmpFilter) { Array($0) } : s.icmp6Filter.withUnsafeBytes { Array($0) }
        }
        guard let d = plainDefault(level, name) else { throw .ENOPROTOOPT }
        return int(options[level: level, name: name] ?? d)
    }

    func setOption(_ t: GuestThread, level: Int32, name: Int32, value: [UInt8]) throws(LinuxErrno) {
        try checkLevel(level, getting: false)
        if let h = self as? HostInetSocket, !(level == SOL_SOCKET_LEVEL && (name == 20 || name == 21)) {
            return try h.setHostOption(t, level: level, name: name, value: value)
        }
        func int() throws(LinuxErrno) -> Int32 {
            guard value.count >= 4 else { throw .EINVAL }
            return value.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        }
        func timeout() throws(LinuxErrno) -> UInt64 {
            guard value.count >= 16 else { throw .EINVAL }
            let (sec, usec) = value.withUnsafeBytes { ($0.loadUnaligned(as: Int64.self), $0.loadUnaligned(fromByteOffset: 8, as: Int64.self)) }
            guard usec >= 0, usec < 1_000_000 else { throw .EDOM }
            if sec < 0 { return 0 }
            return saturatingNanos(seconds: sec, nanos: usec * 1000)
        }
        if level == SOL_SOCKET_LEVEL {
            switch name {
            case 2: options.reuseAddress = try int() != 0; return
            case 3, 4, 17, 30, 38, 39: throw .ENOPROTOOPT
            case 7, 32: // SO_SNDBUF, SO_SNDBUFFORCE: doubled for bookkeeping, as Linux reports it
                let v = Int(try int())
                options.sendBuffer = max(4608, min(max(v, 0), name == 7 ? 212_992 : Int(Int32.max / 2)) * 2)
                options.sendBufferLocked = true
                return
            case 8, 33: // SO_RCVBUF, SO_RCVBUFFORCE
                let v = Int(try int())
                options.receiveBuffer = max(2304, min(max(v, 0), name == 8 ? 212_992 : Int(Int32.max / 2)) * 2)
                options.receiveBufferLocked = true
                if type.isConnectionless { receive.capacity = options.receiveBuffer }
                return
            case 13:
                guard value.count >= 8 else { throw .EINVAL }
                options.linger = value.withUnsafeBytes { ($0.loadUnaligned(as: Int32.self), $0.loadUnaligned(fromByteOffset: 4, as: Int32.self)) }
                return
            case 15: options.reusePort = try int() != 0; return
            case 16: options.passCredentials = try int() != 0; return
            case 20: options.receiveTimeout = try timeout(); return
            case 21: options.sendTimeout = try timeout(); return
            case 25: // SO_BINDTODEVICE: only lo exists
                let name = value.prefix { $0 != 0 }
                guard name.isEmpty || Array(name) == Array("lo".utf8) else { throw .ENODEV }
                return
            default: break
            }
        }
        if level == IPPROTO_TCP_LEVEL && name == 1 {
            options.noDelay = try int() != 0
            // TCP_NODELAY pushes what corking held (tcp_push_pending_frames).
            if options.noDelay, let s = self as? InetSocket { s.pushCorked() }
            return
        }
        if level == IPPROTO_TCP_LEVEL && name == 13 {
            let cc = Array(value.prefix { $0 != 0 })
            guard cc == Array("cubic".utf8) || cc == Array("reno".utf8) else { throw .ENOENT }
            return
        }
        if level == IPPROTO_IPV6_LEVEL && name == 26, let s = self as? InetSocket {
            let v = try int()
            if s.isBound { throw .EINVAL }
            s.v6Only = v != 0
            return
        }
        if level == SOL_RAW_LEVEL || level == IPPROTO_ICMPV6_LEVEL, let s = self as? ICMPSocket {
            guard s.isICMP else { throw .EOPNOTSUPP }
            guard name == 1 else { throw .ENOPROTOOPT }
            // A shorter filter sets its first bytes (raw_seticmpfilter copies what is given).
            if level == SOL_RAW_LEVEL {
                withUnsafeMutableBytes(of: &s.icmpFilter) { d in for (i, b) in value.prefix(4).enumerated() { d[i] = b } }
            } else {
                s.icmp6Filter.withUnsafeMutableBytes { d in for (i, b) in value.prefix(32).enumerated() { d[i] = b } }
            }
            return
        }
        if level == IPPROTO_IP_LEVEL && name == 3 && type != .raw { throw .ENOPROTOOPT } // IP_HDRINCL
        guard plainDefault(level, name) != nil else { throw .ENOPROTOOPT }
        var v = try int()
        // The timestamp options are one setting: the last set wins, and any turned off turns
        // them all off (sock_set_timestamp).
        if level == SOL_SOCKET_LEVEL && SocketOptions.timestampNames.contains(name) {
            options.timestamp = v != 0 ? name : nil
            return
        }
        // Options Linux reads as booleans report 1 whatever non-zero value was set.
        if level == SOL_SOCKET_LEVEL && [1, 5, 6, 9, 10, 11, 29, 34, 35, 40].contains(name) { v = v != 0 ? 1 : 0 }
        if level == IPPROTO_IP_LEVEL && name == 2 && (v < -1 || v == 0 || v > 255) { throw .EINVAL }
        if level == IPPROTO_IP_LEVEL && name == 2 && v == -1 { v = 64 }
        options[level: level, name: name] = v
        if let s = self as? InetSocket, (level == IPPROTO_TCP_LEVEL && name == 3) || (level == 17 && name == 1) {
            try s.corkChanged(t, on: v != 0)
        }
    }
}
