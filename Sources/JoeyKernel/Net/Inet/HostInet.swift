// AF_INET and AF_INET6 on the host's network (`--network=host`, and an OCI container's own
// network namespace): each guest socket is a host socket the sentry owns and drives, always
// non-blocking, on the guest's behalf. The guest never holds the host fd. The sentry passes on
// only the calls, message flags, options and ioctls listed here, copies every buffer through
// its own memory, applies the guest's privileges (ports below 1024, options that need
// CAP_NET_ADMIN) itself, and waits on the host-fd notifier like any other queue. Urgent data
// (MSG_OOB, POLLPRI, SIOCATMARK) is the host socket's; the owner's SIGURG is not raised (the
// notifier's edges cannot tell a new urgent byte from one still unread).
//
// Host calls are made with the kernel lock held: every one is non-blocking (microseconds),
// and holding the lock keeps a readiness edge from slipping between a try that found nothing
// and the wait that follows (the notifier needs the lock to deliver it).
import CJoey
import Glibc
import JoeyABI
import JoeyPlatform

struct WeakHostInetSocket { weak var socket: HostInetSocket? }

final class HostInetSocket: Socket {
    /// -1 once released.
    private(set) var hostFD: Int32
    /// The host socket's inode number (its /proc/net rows name it).
    private(set) var hostInode: UInt64 = 0

    private init(kernel: Kernel, family: Int32, type: SocketType, proto: Int32, flags: Int32, hostFD: Int32) {
        self.hostFD = hostFD
        super.init(kernel: kernel, family: family, type: type, proto: proto, flags: flags, capacity: 0)
        // Readiness edges of the host socket wake this socket's own queue.
        _ = kernel.hostNotifier.watch(hostFD, notifying: queue)
        var st = stat()
        if fstat(hostFD, &st) == 0 {
            hostInode = UInt64(st.st_ino)
            kernel.hostInetSockets[hostInode] = WeakHostInetSocket(socket: self)
        }
    }

    /// A new host socket for socket(2); the family, type and protocol were checked by the caller.
    static func open(kernel: Kernel, family: Int32, type: SocketType, proto: Int32, flags: Int32) throws(LinuxErrno) -> HostInetSocket {
        let fd = Self.asSocketOwner { Glibc.socket(family, type.rawValue | Self.hostTypeFlags, proto) }
        if fd < 0 { throw Self.guestErrno(errno) }
        return HostInetSocket(kernel: kernel, family: family, type: type, proto: proto, flags: flags, hostFD: fd)
    }

    private static let hostTypeFlags: Int32 = 0o4000 | 0o2000000 // SOCK_NONBLOCK | SOCK_CLOEXEC

    /// The host uid that owns the guest's host sockets. A socket's owner is the fsuid of the
    /// thread that made it; the sentry is root, and a root-owned socket would join the
    /// SO_REUSEPORT groups of the host's root services and match firewall rules for root. An
    /// unused uid of its own keeps guest sockets apart from every host user's.
    static let socketOwnerUID: UInt32 = 2_147_483_646

    /// Runs `body` (a socket() or accept()) with this thread's fsuid set to the socket owner.
    private static func asSocketOwner<R>(_ body: () -> R) -> R {
        let previous = joey_setfsuid(socketOwnerUID)
        defer { _ = joey_setfsuid(UInt32(bitPattern: previous)) }
        return body()
    }

    /// The sentry's own fd limit is not the guest's: a guest that hits it sees ENFILE (the
    /// system-wide table is full), as it would when the host ran out.
    fileprivate static func guestErrno(_ e: Int32) -> LinuxErrno { e == EMFILE ? .ENFILE : LinuxErrno(e) }

    private func check(_ r: Int) throws(LinuxErrno) -> Int {
        if r < 0 { throw Self.guestErrno(errno) }
        return r
    }

    private func live() throws(LinuxErrno) -> Int32 {
        guard hostFD >= 0 else { throw .EBADF }
        return hostFD
    }

    override func release() {
        super.release()
        closeHost()
    }
    deinit { closeHost() }
    private func closeHost() {
        guard hostFD >= 0 else { return }
        // The notifier stops watching it first: the number may be reused at once.
        kernel.hostNotifier.forget(hostFD)
        if kernel.hostInetSockets[hostInode]?.socket === self { kernel.hostInetSockets[hostInode] = nil }
        close(hostFD)
        hostFD = -1
    }

    // MARK: addresses

    /// Calls `body` with the guest's sockaddr bytes as a host sockaddr.
    private func withAddress<R>(_ bytes: [UInt8], _ body: (UnsafePointer<sockaddr>?, socklen_t) -> R) -> R {
        if bytes.isEmpty { return body(nil, 0) }
        return bytes.withUnsafeBytes { p in body(p.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(p.count)) }
    }

    /// The port a bind asks for, when the address is one of this socket's family.
    private func requestedPort(_ bytes: [UInt8]) -> UInt16? {
        guard bytes.count >= (family == AF_INET ? 16 : 24) else { return nil }
        let fam = Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8)
        guard fam == family || (family == AF_INET && fam == AF_UNSPEC) else { return nil }
        return UInt16(bytes[2]) << 8 | UInt16(bytes[3])
    }

    override func bind(_ t: GuestThread, _ bytes: [UInt8]) throws(LinuxErrno) {
        let fd = try live()
        // The sentry may bind low ports; the guest only with CAP_NET_BIND_SERVICE.
        if let port = requestedPort(bytes), port != 0, port < Self.unprivilegedPortStart(), !t.group.capable(10, in: .initial) { throw .EACCES }
        _ = try check(Int(withAddress(bytes) { Glibc.bind(fd, $0, $1) }))
    }

    override func connect(_ t: GuestThread, _ bytes: [UInt8]) throws(LinuxErrno) {
        let fd = try live()
        if withAddress(bytes, { Glibc.connect(fd, $0, $1) }) == 0 { return }
        let e = errno
        // A blocking guest waits for the connection and asks again: the host then answers
        // 0, EALREADY while it is still being made, or the error that ended it (as Linux's
        // own second connect does).
        if (e == EINPROGRESS || e == EALREADY) && flags & O_NONBLOCK == 0 { throw .EAGAIN }
        throw Self.guestErrno(e)
    }
    override var connectWaitQueue: WaitQueue? { queue }

    override func listen(_ requested: Int32) throws(LinuxErrno) {
        let fd = try live()
        _ = try check(Int(Glibc.listen(fd, max(0, min(requested, Int32(Socket.somaxconn))))))
        state = .listening
    }

    override func accept() throws(LinuxErrno) -> Socket {
        let fd = try live()
        let c = try check(Int(Self.asSocketOwner { joey_accept4(fd, Self.hostTypeFlags) }))
        return HostInetSocket(kernel: kernel, family: family, type: type, proto: proto, flags: 0, hostFD: Int32(c))
    }

    override func shutdown(_ how: Int32) throws(LinuxErrno) {
        let fd = try live()
        guard how >= 0 && how <= 2 else { throw .EINVAL }
        _ = try check(Int(Glibc.shutdown(fd, how)))
    }

    private func name(_ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) throws(LinuxErrno) -> [UInt8] {
        let fd = try live()
        var storage = [UInt8](repeating: 0, count: 128)
        var length = socklen_t(128)
        let r = storage.withUnsafeMutableBytes { p in call(fd, p.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length) }
        _ = try check(Int(r))
        return Array(storage[0..<min(Int(length), 128)])
    }

    override func localName() -> [UInt8] {
        (try? name { getsockname($0, $1, $2) }) ?? withUnsafeBytes(of: UInt16(family)) { Array($0) }
    }
    override func senderName() -> [UInt8]? { localName() }
    override func peerAddress() throws(LinuxErrno) -> [UInt8] { try name { getpeername($0, $1, $2) } }

    // MARK: sending and receiving

    /// Message flags a guest may pass on to the host; MSG_DONTWAIT and MSG_NOSIGNAL are always
    /// added (the sentry never blocks in, or takes a signal from, the host), MSG_WAITALL never
    /// (the syscall layer loops for it).
    private static let sendFlags: Int32 = 0x1 | 0x4 | 0x80 | 0x800 | 0x8000 | 0x2000_0000 // OOB DONTROUTE EOR CONFIRM MORE FASTOPEN
    private static let receiveFlags: Int32 = 0x1 | 0x2 | 0x20 | 0x2000 // OOB PEEK TRUNC ERRQUEUE

    override func send(_ t: GuestThread, _ src: inout IOSequence, control: inout SendControl, target: [UInt8]?, flags: Int32) throws(LinuxErrno) -> Int {
        let fd = try live()
        // A datagram goes whole; no UDP datagram is larger than 64 KiB.
        if type == .datagram && src.count > 65_535 { throw .EMSGSIZE }
        var data = [UInt8](repeating: 0, count: min(src.count, 1 << 18))
        var copy = src
        let have = try data.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in try copy.copyIn(p) }
        // A fault part-way: a datagram is not sent cut short; a stream sends what was there.
        if have < data.count && (type == .datagram || have == 0) { throw .EFAULT }
        var cmsgs: [UInt8] = []
        let level = family == AF_INET6 ? IPPROTO_IPV6_LEVEL : IPPROTO_IP_LEVEL
        if let v = control.hopLimit { cmsgs += Self.cmsg(level: level, type: family == AF_INET6 ? 52 : 2, withUnsafeBytes(of: v) { Array($0) }) }
        if let v = control.trafficClass { cmsgs += Self.cmsg(level: level, type: family == AF_INET6 ? 67 : 1, withUnsafeBytes(of: v) { Array($0) }) }
        let hostFlags = flags & Self.sendFlags | MSG_DONTWAIT_FLAG | MSG_NOSIGNAL_FLAG
        // A stream takes an address only to connect with its first data (MSG_FASTOPEN).
        let target = type == .datagram || flags & 0x2000_0000 != 0 ? (target ?? []) : []
        let r = data.withUnsafeMutableBytes { d in
            target.withUnsafeBytes { name in
                cmsgs.withUnsafeMutableBytes { c in
                    var iov = iovec(iov_base: d.baseAddress, iov_len: have)
                    return withUnsafeMutablePointer(to: &iov) { iovp in
                        var m = msghdr()
                        m.msg_name = name.isEmpty ? nil : UnsafeMutableRawPointer(mutating: name.baseAddress)
                        m.msg_namelen = socklen_t(name.count)
                        m.msg_iov = iovp
                        m.msg_iovlen = 1
                        m.msg_control = c.isEmpty ? nil : c.baseAddress
                        m.msg_controllen = c.count
                        return Glibc.sendmsg(fd, &m, hostFlags)
                    }
                }
            }
        }
        if r < 0 {
            if errno == EPIPE { throw brokenPipe(t, flags) }
            throw Self.guestErrno(errno)
        }
        src.skip(r)
        return r
    }

    private static func cmsg(level: Int32, type: Int32, _ data: [UInt8]) -> [UInt8] {
        var m = withUnsafeBytes(of: (UInt64(16 + data.count), level, type)) { Array($0) } + data
        while m.count % 8 != 0 { m.append(0) }
        return m
    }

    /// Ancillary data a receive may hand the guest: IP-level values (TTL, TOS, hop limit,
    /// traffic class, packet info, errors) and timestamps; nothing that names a host object.
    private func keep(level: Int32, type: Int32) -> Bool {
        switch level {
        case IPPROTO_IP_LEVEL, IPPROTO_IPV6_LEVEL: return true
        case SOL_SOCKET_LEVEL: return [29, 35, 37, 40].contains(type) // SO_TIMESTAMP(NS|ING), RXQ_OVFL
        default: return false
        }
    }

    override func receive(_ t: GuestThread, _ dst: inout IOSequence, flags: Int32, into out: inout ReceivedMessage) throws(LinuxErrno) -> Int {
        let fd = try live()
        // A datagram is never larger than 64 KiB; MSG_TRUNC makes the host report its length.
        let want = type == .datagram ? min(dst.count, 65_536) : min(dst.count, 1 << 18)
        let hostFlags = flags & Self.receiveFlags | MSG_DONTWAIT_FLAG | (type == .datagram ? MSG_TRUNC_FLAG : 0)
        var data = [UInt8](repeating: 0, count: want)
        var name = [UInt8](repeating: 0, count: 128)
        var control = [UInt8](repeating: 0, count: 512)
        var m = msghdr()
        let r = data.withUnsafeMutableBytes { d in
            name.withUnsafeMutableBytes { n in
                control.withUnsafeMutableBytes { c in
                    var iov = iovec(iov_base: d.baseAddress, iov_len: want)
                    return withUnsafeMutablePointer(to: &iov) { iovp in
                        m.msg_name = n.baseAddress
                        m.msg_namelen = socklen_t(n.count)
                        m.msg_iov = iovp
                        m.msg_iovlen = 1
                        m.msg_control = c.baseAddress
                        m.msg_controllen = c.count
                        let r = Glibc.recvmsg(fd, &m, hostFlags)
                        m.msg_name = nil; m.msg_iov = nil; m.msg_control = nil
                        return r
                    }
                }
            }
        }
        if r < 0 { throw Self.guestErrno(errno) }
        // A stream read with MSG_TRUNC discards what it counts.
        let copied = type == .stream && flags & MSG_TRUNC_FLAG != 0 ? 0 : min(r, want)
        if copied > 0 {
            let n = try data.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in
                try dst.copyOut(UnsafeRawBufferPointer(rebasing: p[0..<copied]))
            }
            if n == 0 { throw .EFAULT }
        }
        out.count = type == .stream && flags & MSG_TRUNC_FLAG != 0 ? r : copied
        out.fullLength = r
        out.truncated = m.msg_flags & MSG_TRUNC_FLAG != 0
        out.urgent = m.msg_flags & MSG_OOB_FLAG != 0
        if type == .datagram && m.msg_namelen > 0 { out.source = Array(name[0..<min(Int(m.msg_namelen), 128)]) }
        var off = 0
        let end = min(Int(m.msg_controllen), control.count)
        while off + 16 <= end {
            let (len, level, ctype) = control.withUnsafeBytes { p in
                (Int(p.loadUnaligned(fromByteOffset: off, as: UInt64.self)), p.loadUnaligned(fromByteOffset: off + 8, as: Int32.self),
                 p.loadUnaligned(fromByteOffset: off + 12, as: Int32.self))
            }
            guard len >= 16, len <= end - off else { break }
            if keep(level: level, type: ctype) { out.ancillary.append((level, ctype, Array(control[(off + 16)..<(off + len)]))) }
            off += (len + 7) & ~7
        }
        return out.count
    }

    // MARK: readiness and ioctls

    override func readiness(_ mask: EventMask) -> EventMask {
        guard hostFD >= 0 else { return [] }
        return hostPollEvents(hostFD, mask)
    }

    override func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        let fd = try live()
        switch request {
        case 0x541B, 0x5411, 0x8905, 0x894B: // FIONREAD/SIOCINQ, SIOCOUTQ, SIOCATMARK, SIOCOUTQNSD: an int out
            var v: Int32 = 0
            try checkHostIoctl(joey_ioctl(fd, UInt(request), &v))
            try t.mm.writeValue(argument, v)
            return 0
        case 0x8906, 0x8907: // SIOCGSTAMP, SIOCGSTAMPNS: a timeval or timespec out
            var v: (Int64, Int64) = (0, 0)
            try checkHostIoctl(joey_ioctl(fd, UInt(request), &v))
            try t.mm.writeValue(argument, v)
            return 0
        default:
            if let r = try hostInterfaceIoctl(fd: fd, t, request: request, argument: argument) { return r }
            throw .ENOTTY
        }
    }

    // MARK: options

    /// Options passed on to the host socket, by level. Left out: those that need a capability
    /// the sentry has and the guest may not (SO_MARK, SO_*BUFFORCE, IP_TRANSPARENT,
    /// TCP_REPAIR, IP_OPTIONS whose security and source-route options need CAP_NET_RAW),
    /// those that attach code or modules (SO_ATTACH_FILTER, TCP_ULP, UDP_ENCAP), device
    /// binding, and MCAST_MSFILTER (its get reads an argument). SO_LINGER is the sentry's own
    /// (a host close that lingers would stop the sentry); SO_PRIORITY stays within 0-6 and
    /// TCP_CONGESTION within the host's allowed list, whatever capabilities the guest holds.
    private static let passedOptions: [Int32: Set<Int32>] = [
        SOL_SOCKET_LEVEL: [2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 15, 16, 17, 18, 19, 29, 30, 35, 37, 38, 39, 40, 47, 49],
        IPPROTO_TCP_LEVEL: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 18, 23, 25, 26, 30, 33, 36],
        IPPROTO_IP_LEVEL: [1, 2, 6, 7, 8, 10, 11, 12, 13, 14, 15, 20, 21, 24, 32, 33, 34, 35, 36, 37, 38, 39, 40, 42, 43, 44, 45, 46, 47, 49],
        IPPROTO_IPV6_LEVEL: [16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 42, 43, 44, 45, 46, 47, 49, 50, 51, 52, 62, 66, 67, 72, 74],
        17: [1], // UDP_CORK
    ]

    /// A sysctl of the sentry's network namespace, as bytes (nil when it cannot be read).
    private static func sysctl(_ name: String) -> [UInt8]? {
        let text = HostProc.read("sys/net/ipv4/" + name)
        return text.isEmpty ? nil : text
    }

    /// Congestion controls an unprivileged process may choose (the host's allowed list).
    private static func allowedCongestionControl(_ name: [UInt8]) -> Bool {
        guard let text = sysctl("tcp_allowed_congestion_control") else { return false }
        return text.split(whereSeparator: { $0 == 0x20 || $0 == 0x0a }).contains { Array($0) == name }
    }

    /// net.ipv4.ping_group_range of the sentry's namespace: which guest groups may make ping
    /// sockets there (nil: unreadable, none may).
    static func pingGroups() -> (low: UInt32, high: UInt32)? {
        guard let text = sysctl("ping_group_range") else { return nil }
        let fields = text.split(whereSeparator: { $0 == 0x09 || $0 == 0x20 || $0 == 0x0a }).compactMap { UInt32(String(decoding: $0, as: UTF8.self)) }
        return fields.count == 2 ? (fields[0], fields[1]) : nil
    }

    /// The first port an unprivileged bind may take (container engines often lower it to 0).
    private static func unprivilegedPortStart() -> UInt16 {
        guard let text = sysctl("ip_unprivileged_port_start"), let v = UInt16(String(decoding: text.prefix { $0 != 0x0a }, as: UTF8.self)) else { return 1024 }
        return v
    }

    func getHostOption(level: Int32, name: Int32) throws(LinuxErrno) -> [UInt8] {
        let fd = try live()
        guard Self.passedOptions[level]?.contains(name) == true else { throw .ENOPROTOOPT }
        if level == SOL_SOCKET_LEVEL && name == 13 { return withUnsafeBytes(of: options.linger) { Array($0) } }
        var value = [UInt8](repeating: 0, count: 1024)
        var length = socklen_t(value.count)
        _ = try check(Int(value.withUnsafeMutableBytes { getsockopt(fd, level, name, $0.baseAddress, &length) }))
        return Array(value[0..<min(Int(length), value.count)])
    }

    func setHostOption(_ t: GuestThread, level: Int32, name: Int32, value: [UInt8]) throws(LinuxErrno) {
        let fd = try live()
        guard Self.passedOptions[level]?.contains(name) == true else {
            // Privileged options: EPERM as for an unprivileged caller, whatever the guest holds.
            if (level == SOL_SOCKET_LEVEL && [32, 33, 36].contains(name)) || (level == IPPROTO_TCP_LEVEL && name == 19) { throw .EPERM }
            throw .ENOPROTOOPT
        }
        func int() -> Int32? { value.count >= 4 ? value.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) } : nil }
        var value = value
        if level == SOL_SOCKET_LEVEL && name == 13 {
            // SO_LINGER: kept for the guest; the host socket gets only an abortive close
            // ({1, 0}: a reset, no wait) or none, never a close that waits.
            guard value.count >= 8 else { throw .EINVAL }
            options.linger = value.withUnsafeBytes { ($0.loadUnaligned(as: Int32.self), $0.loadUnaligned(fromByteOffset: 4, as: Int32.self)) }
            let abortive = options.linger.onOff != 0 && options.linger.seconds == 0
            value = withUnsafeBytes(of: (Int32(abortive ? 1 : 0), Int32(0))) { Array($0) }
        }
        if level == SOL_SOCKET_LEVEL && name == 12, let v = int(), v < 0 || v > 6 { throw .EPERM } // SO_PRIORITY
        if level == IPPROTO_TCP_LEVEL && name == 13 && !Self.allowedCongestionControl(Array(value.prefix { $0 != 0 })) { throw .EPERM }
        _ = try check(Int(value.withUnsafeBytes { setsockopt(fd, level, name, $0.baseAddress, socklen_t($0.count)) }))
    }
}

/// A host ioctl's result (joey_ioctl returns -errno itself) as the guest gets it.
private func checkHostIoctl(_ r: Int64) throws(LinuxErrno) {
    if r < 0 { throw HostInetSocket.guestErrno(Int32(truncatingIfNeeded: -r)) }
}

/// The interface requests (SIOCGIF*, SIOCSIF*, SIOCGIFCONF, SIOCETHTOOL) of a sandbox on the
/// host's network, answered through `fd`, a socket of the sentry's: Linux answers them on a
/// socket of any family, in its network namespace, which is the guest's here. nil: not one.
func hostInterfaceIoctl(fd: Int32, _ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64? {
    switch request {
    case 0x8910, 0x8913, 0x8915, 0x8917, 0x8919, 0x891b, 0x8921, 0x8927, 0x8933, 0x8942:
        // SIOCGIF{NAME,FLAGS,ADDR,DSTADDR,BRDADDR,NETMASK,MTU,HWADDR,INDEX,TXQLEN}: one
        // struct ifreq (40 bytes) read and written back; the host's interfaces are the guest's.
        var r = try t.mm.read(argument, count: 40)
        try checkHostIoctl(r.withUnsafeMutableBytes { joey_ioctl(fd, UInt(request), $0.baseAddress) })
        try t.mm.write(argument, r)
        return 0
    case 0x8914, 0x8916, 0x8918, 0x891a, 0x891c, 0x891e, 0x8922, 0x8923, 0x8924, 0x8943:
        // SIOCSIF*: the request is read (EFAULT first, as Linux), but the host's
        // interfaces are never the guest's to change: only setting the flags an interface
        // already has (a no-op, as `ip link set lo up`) succeeds.
        let r = try t.mm.read(argument, count: 40)
        guard request == 0x8914, t.group.capable(12 /* CAP_NET_ADMIN */, in: .initial) else { throw .EPERM }
        var current = r
        try checkHostIoctl(current.withUnsafeMutableBytes { joey_ioctl(fd, 0x8913 /* SIOCGIFFLAGS */, $0.baseAddress) })
        let want = r.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt16.self) }
        let have = current.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt16.self) }
        let kernelOwned: UInt16 = 0x40 // IFF_RUNNING
        guard want & ~kernelOwned == have & ~kernelOwned else { throw .EPERM }
        return 0
    case 0x8912: // SIOCGIFCONF: struct ifconf { int len; char *buf } with the buffer in the guest
        let length: Int32 = try t.mm.readValue(argument)
        let buffer: UInt64 = try t.mm.readValue(argument &+ 8)
        guard length >= 0 else { throw .EINVAL }
        var entries = [UInt8](repeating: 0, count: buffer == 0 ? 0 : min(Int(length), 1 << 16))
        var n = Int32(entries.count)
        try entries.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) in
            var conf = (n, UInt64(UInt(bitPattern: buffer == 0 ? nil : p.baseAddress)))
            try checkHostIoctl(joey_ioctl(fd, UInt(request), &conf))
            n = conf.0
        }
        if buffer != 0 && n > 0 { try t.mm.write(buffer, Array(entries[0..<Int(n)])) }
        try t.mm.writeValue(argument, n)
        return 0
    case 0x8946: // SIOCETHTOOL: the host's drivers are not the guest's to query
        throw .EOPNOTSUPP
    default:
        return nil
    }
}
