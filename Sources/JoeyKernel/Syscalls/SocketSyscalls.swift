// Socket system calls: argument checks, sockaddr/msghdr/cmsg layouts, and the blocking loops
// (sockets themselves never block; see Net/Socket.swift).
import Glibc
import JoeyABI

extension GuestThread {
    private static let typeFlags: Int32 = O_NONBLOCK | O_CLOEXEC // SOCK_NONBLOCK, SOCK_CLOEXEC

    func socketArg(_ fd: Int32) throws(LinuxErrno) -> Socket {
        guard let s = try group.fdTable.get(fd) as? Socket else { throw .ENOTSOCK }
        return s
    }

    private func socketKind(_ typeArg: UInt64) throws(LinuxErrno) -> (Int32, Int32) {
        let raw = Int32(truncatingIfNeeded: typeArg)
        let base = raw & 0xf
        guard raw & ~(0xf | Self.typeFlags) == 0 else { throw .EINVAL }
        return (base, raw & Self.typeFlags)
    }

    func makeSocket(family: Int32, type base: Int32, protocol proto: Int32, flags: Int32) throws(LinuxErrno) -> Socket {
        switch family {
        case AF_UNIX:
            guard let type = SocketType(rawValue: base), type != .raw else { throw .ESOCKTNOSUPPORT }
            guard proto == 0 || proto == AF_UNIX else { throw .EPROTONOSUPPORT }
            return UnixSocket(kernel: kernel, type: type, flags: flags)
        case AF_NETLINK_FAMILY:
            guard base == SocketType.raw.rawValue || base == SocketType.datagram.rawValue else { throw .ESOCKTNOSUPPORT }
            // NETLINK_ROUTE only; audit, uevents and the rest are not offered.
            guard proto == 0 else { throw .EPROTONOSUPPORT }
            return RouteNetlinkSocket(kernel: kernel, type: SocketType(rawValue: base)!, flags: flags)
        case AF_INET, AF_INET6:
            switch base {
            case SocketType.stream.rawValue:
                guard proto == 0 || proto == 6 else { throw .EPROTONOSUPPORT }
                if group.netNS.onHost { return try HostInetSocket.open(kernel: kernel, family: family, type: .stream, proto: 6, flags: flags) }
                return InetSocket(kernel: kernel, family: family, type: .stream, proto: 6, flags: flags)
            case SocketType.datagram.rawValue where proto == (family == AF_INET ? 1 : 58):
                // A ping socket (ICMP or ICMPv6 echo), for the groups of net.ipv4.ping_group_range
                // (the host's, for a host socket).
                if group.netNS.onHost {
                    guard ICMPSocket.mayPing(self, range: HostInetSocket.pingGroups()) else { throw .EACCES }
                    return try HostInetSocket.open(kernel: kernel, family: family, type: .datagram, proto: proto, flags: flags)
                }
                guard ICMPSocket.mayPing(self, range: group.netNS.pingGroups) else { throw .EACCES }
                return ICMPSocket(kernel: kernel, family: family, type: .datagram, proto: proto, flags: flags)
            case SocketType.datagram.rawValue:
                // UDP, or UDP-Lite (its own port space; checksum coverage is moot on loopback).
                guard proto == 0 || proto == 17 || proto == 136 else { throw .EPROTONOSUPPORT }
                if group.netNS.onHost { return try HostInetSocket.open(kernel: kernel, family: family, type: .datagram, proto: proto == 0 ? 17 : proto, flags: flags) }
                return InetSocket(kernel: kernel, family: family, type: .datagram, proto: proto == 0 ? 17 : proto, flags: flags)
            case SocketType.seqpacket.rawValue:
                throw .EPROTONOSUPPORT
            case 3: // SOCK_RAW: protocol 0 matches nothing (as Linux's inet_create); raw
                // sockets need CAP_NET_RAW. On the loopback network they are the sentry's
                // (ICMP.swift); host raw sockets are not offered (ESOCKTNOSUPPORT).
                guard proto >= 0, proto < 263 /* IPPROTO_MAX */ else { throw .EINVAL }
                if proto == 0 { throw .EPROTONOSUPPORT }
                guard group.capable(13 /* CAP_NET_RAW */, in: group.netNS.owner) else { throw .EPERM }
                if group.netNS.onHost || proto > 255 { throw .ESOCKTNOSUPPORT }
                return ICMPSocket(kernel: kernel, family: family, type: .raw, proto: proto, flags: flags)
            case 4 /* SOCK_RDM */, 10 /* SOCK_PACKET */:
                throw .ESOCKTNOSUPPORT
            default:
                throw .EINVAL
            }
        default:
            throw .EAFNOSUPPORT
        }
    }

    func sysSocket() throws(LinuxErrno) -> UInt64 {
        let family = Int32(truncatingIfNeeded: a0)
        let (base, flags) = try socketKind(a1)
        let s = try makeSocket(family: family, type: base, protocol: Int32(truncatingIfNeeded: a2), flags: flags)
        return UInt64(try group.fdTable.install(s, closeOnExec: flags & O_CLOEXEC != 0))
    }

    func sysSocketpair() throws(LinuxErrno) -> UInt64 {
        let family = Int32(truncatingIfNeeded: a0)
        let (base, flags) = try socketKind(a1)
        let proto = Int32(truncatingIfNeeded: a2)
        switch family {
        case AF_UNIX: break
        case AF_INET, AF_INET6, AF_NETLINK_FAMILY:
            _ = try makeSocket(family: family, type: base, protocol: proto, flags: flags)
            throw .EOPNOTSUPP
        default: throw .EAFNOSUPPORT
        }
        guard let type = SocketType(rawValue: base), type != .raw else { throw .ESOCKTNOSUPPORT }
        guard proto == 0 || proto == AF_UNIX else { throw .EPROTONOSUPPORT }
        let (a, b) = kernel.unixSocketPair(type: type, flags: flags, credentials: socketCredentials)
        let cloexec = flags & O_CLOEXEC != 0
        let fa = try group.fdTable.install(a, closeOnExec: cloexec)
        let fb: Int32
        do { fb = try group.fdTable.install(b, closeOnExec: cloexec) } catch {
            try? group.fdTable.close(fa)
            throw error
        }
        do { try mm.writeValue(a3, (fa, fb)) } catch {
            try? group.fdTable.close(fa); try? group.fdTable.close(fb)
            throw error
        }
        return 0
    }

    /// A sockaddr the guest passes: at most sizeof(struct sockaddr_storage).
    private func sockaddrArg(_ addr: UInt64, _ lenArg: UInt64) throws(LinuxErrno) -> [UInt8] {
        let len = Int32(truncatingIfNeeded: lenArg)
        guard len >= 0, len <= 128 else { throw .EINVAL }
        if len == 0 { return [] }
        return try mm.read(addr, count: Int(len))
    }

    /// Writes an address where the guest asked (addr, *addrlen in/out): the bytes that fit,
    /// and the full length. accept and recvfrom write none for a null `addr`; getsockname
    /// and getpeername (`always`) need both pointers, as Linux's move_addr_to_user (EFAULT).
    private func writeSockaddr(_ bytes: [UInt8], to addr: UInt64, length lenAddr: UInt64, always: Bool = false) throws(LinuxErrno) {
        guard always || addr != 0 else { return }
        let len: Int32 = try mm.readValue(lenAddr)
        guard len >= 0 else { throw .EINVAL }
        let n = min(Int(len), bytes.count)
        if n > 0 { try mm.write(addr, Array(bytes[0..<n])) }
        try mm.writeValue(lenAddr, Int32(bytes.count))
    }

    func sysBind() throws(LinuxErrno) -> UInt64 {
        let s = try socketArg(fdArg(a0))
        let address = try sockaddrArg(a1, a2)
        try landlockSocket(s, address, Landlock.bindTCP)
        try s.bind(self, address)
        return 0
    }

    func sysListen() throws(LinuxErrno) -> UInt64 {
        let s = try socketArg(fdArg(a0))
        try s.listen(Int32(truncatingIfNeeded: a1))
        return 0
    }

    /// A wait of a socket call: until `events` on `queue`, a signal, or the socket timeout.
    /// Throws EAGAIN when the timeout passed; EINTR rather than a restart when one is set
    /// (sock_intr_errno).
    private func socketWait(_ queue: WaitQueue, _ events: EventMask, deadline: UInt64?) throws(LinuxErrno) {
        if let deadline, monotonicNanos() >= deadline { throw .EAGAIN }
        do {
            try block(on: queue, events.union(.alwaysReported), deadline: deadline)
        } catch {
            throw error == .ERESTARTSYS && deadline != nil ? .EINTR : error
        }
    }

    private func deadline(_ timeout: UInt64) -> UInt64? { timeout == 0 ? nil : saturatingAdd(monotonicNanos(), timeout) }

    func sysConnect() throws(LinuxErrno) -> UInt64 {
        let s = try socketArg(fdArg(a0))
        let address = try sockaddrArg(a1, a2)
        try landlockSocket(s, address, Landlock.connectTCP)
        let until = deadline(s.options.sendTimeout)
        while true {
            do {
                try s.connect(self, address)
                return 0
            } catch let e where e == .EAGAIN && s.flags & O_NONBLOCK == 0 {
                guard let q = s.connectWaitQueue else { throw e }
                do { try socketWait(q, .output, deadline: until) } catch let w where w == .EAGAIN { throw .EINPROGRESS }
            }
        }
    }

    func sysAccept4(flagsArg: UInt64) throws(LinuxErrno) -> UInt64 {
        let s = try socketArg(fdArg(a0))
        guard flagsArg & ~UInt64(UInt32(Self.typeFlags)) == 0 else { throw .EINVAL }
        let flags = Int32(truncatingIfNeeded: flagsArg)
        if a1 != 0 && a2 != 0 {
            let len: Int32 = try mm.readValue(a2)
            guard len >= 0 else { throw .EINVAL }
        }
        let until = deadline(s.options.receiveTimeout)
        var accepted: Socket
        while true {
            do {
                accepted = try s.accept()
                break
            } catch let e where e == .EAGAIN && s.flags & O_NONBLOCK == 0 {
                try socketWait(s.queue, .input, deadline: until)
            }
        }
        accepted.flags = O_RDWR | (flags & O_NONBLOCK)
        // The client's address in the listener's family (a v4 client of a v6 listener is v4-mapped).
        let peerName = (try? accepted.peerAddress()) ?? [UInt8(s.family), 0]
        if a1 != 0 {
            do { try writeSockaddr(peerName, to: a1, length: a2) } catch {
                accepted.incRef(); accepted.decRef() // the connection closes, as Linux's would
                throw error
            }
        }
        return UInt64(try group.fdTable.install(accepted, closeOnExec: flags & O_CLOEXEC != 0))
    }

    func sysGetsockname() throws(LinuxErrno) -> UInt64 {
        let s = try socketArg(fdArg(a0))
        try writeSockaddr(s.localName(), to: a1, length: a2, always: true)
        return 0
    }

    func sysGetpeername() throws(LinuxErrno) -> UInt64 {
        let s = try socketArg(fdArg(a0))
        let name = try s.peerAddress()
        try writeSockaddr(name, to: a1, length: a2, always: true)
        return 0
    }

    func sysShutdown() throws(LinuxErrno) -> UInt64 {
        try socketArg(fdArg(a0)).shutdown(Int32(truncatingIfNeeded: a1))
        return 0
    }

    func sysSetsockopt() throws(LinuxErrno) -> UInt64 {
        let s = try socketArg(fdArg(a0))
        let len = Int32(truncatingIfNeeded: a4)
        guard len >= 0 else { throw .EINVAL }
        let value = len == 0 ? [] : try mm.read(a3, count: Int(min(len, 4096)))
        try s.setOption(self, level: Int32(truncatingIfNeeded: a1), name: Int32(truncatingIfNeeded: a2), value: value)
        return 0
    }

    func sysGetsockopt() throws(LinuxErrno) -> UInt64 {
        let s = try socketArg(fdArg(a0))
        let len: Int32 = try mm.readValue(a4)
        guard len >= 0 else { throw .EINVAL }
        let value = try s.getOption(self, level: Int32(truncatingIfNeeded: a1), name: Int32(truncatingIfNeeded: a2))
        let n = min(Int(len), value.count)
        if n > 0 { try mm.write(a3, Array(value[0..<n])) }
        try mm.writeValue(a4, Int32(n))
        return 0
    }

    // MARK: sending

    /// The send loop: a blocking stream send goes on until everything is queued, a signal
    /// comes (the bytes so far are returned) or the send timeout passes. Once some bytes
    /// went, an error ends the loop with their count: an error the socket holds stays
    /// pending for the next call (SO_ERROR, POLLERR), and EPIPE raises no SIGPIPE (Linux's
    /// stream sends return what they copied before the error).
    func sendCommon(_ s: Socket, _ src: inout IOSequence, control: inout SendControl, target: [UInt8]?, flags: Int32) throws(LinuxErrno) -> Int {
        // Unix datagram and seqpacket sockets have no out-of-band data (unix_dgram_sendmsg);
        // streams do (Net/UrgentData.swift).
        if flags & MSG_OOB_FLAG != 0 && s.family == AF_UNIX && s.type != .stream { throw .EOPNOTSUPP }
        let blocking = s.flags & O_NONBLOCK == 0 && flags & MSG_DONTWAIT_FLAG == 0
        let until = deadline(s.options.sendTimeout)
        var total = 0
        while true {
            // TCP leaves the error for the next call (a host socket's send would take it, so
            // none is made); AF_UNIX takes it as it waits for room (sock_alloc_send_pskb).
            if total > 0 && s.readiness(EventMask.error).contains(.error) {
                if s.family == AF_UNIX { s.pendingError = nil }
                return total
            }
            do {
                let n = try s.send(self, &src, control: &control, target: target, flags: total > 0 ? flags | MSG_NOSIGNAL_FLAG : flags)
                total += n
                if src.count == 0 || !blocking || s.type.keepsBoundaries { return total }
            } catch let e where e == .EAGAIN && blocking {
                let q = s.type == .stream || s.peer != nil ? s.queue : (s.lastSendTarget?.queue ?? s.queue)
                do { try socketWait(q, .output, deadline: until) } catch {
                    if total > 0 { return total }
                    throw error
                }
            } catch {
                if total > 0 { return total }
                throw error
            }
        }
    }

    func sysSendto() throws(LinuxErrno) -> UInt64 {
        let s = try socketArg(fdArg(a0))
        var src = guestBuffer(a1, a2)
        let target = a4 == 0 ? nil : try sockaddrArg(a4, a5)
        var control = SendControl()
        return UInt64(try sendCommon(s, &src, control: &control, target: target?.isEmpty == true ? nil : target, flags: Int32(truncatingIfNeeded: a3)))
    }

    /// struct msghdr: name, namelen, iov, iovlen, control, controllen, flags (56 bytes).
    private struct MessageHeader {
        var name: UInt64, nameLength: UInt32, iov: UInt64, iovCount: UInt64, control: UInt64, controlLength: UInt64, flags: Int32
    }

    /// MSG_CMSG_COMPAT is the kernel's own flag for 32-bit callers: EINVAL from a 64-bit
    /// one, before the descriptor is looked at.
    private func refuseCompatFlag(_ flags: UInt64) throws(LinuxErrno) {
        if UInt32(truncatingIfNeeded: flags) & 0x8000_0000 != 0 { throw .EINVAL }
    }

    private func readMessageHeader(_ addr: UInt64) throws(LinuxErrno) -> MessageHeader {
        let b = try mm.read(addr, count: 56)
        // msg_namelen is an int: negative is EINVAL.
        guard b.withUnsafeBytes({ $0.loadUnaligned(fromByteOffset: 8, as: Int32.self) }) >= 0 else { throw .EINVAL }
        return b.withUnsafeBytes { p in
            MessageHeader(name: p.loadUnaligned(as: UInt64.self), nameLength: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self),
                          iov: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self), iovCount: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self),
                          control: p.loadUnaligned(fromByteOffset: 32, as: UInt64.self), controlLength: p.loadUnaligned(fromByteOffset: 40, as: UInt64.self),
                          flags: p.loadUnaligned(fromByteOffset: 48, as: Int32.self))
        }
    }

    private func messageBuffers(_ h: MessageHeader) throws(LinuxErrno) -> IOSequence {
        guard h.iovCount <= 1024 else { throw .EMSGSIZE }
        return .guest(mm, ranges: try mm.ioRanges(h.iov, count: Int(h.iovCount)))
    }

    /// The ancillary data of a sendmsg: SCM_RIGHTS and SCM_CREDENTIALS for AF_UNIX. Each
    /// descriptor taken holds a reference until it is queued or the send fails.
    private func parseControl(_ s: Socket, _ h: MessageHeader) throws(LinuxErrno) -> SendControl {
        var control = SendControl()
        guard h.controlLength > 0 else { return control }
        guard h.controlLength <= 20480 else { throw .ENOBUFS }
        let bytes = try mm.read(h.control, count: Int(h.controlLength))
        var off = 0
        do throws(LinuxErrno) {
            while off + 16 <= bytes.count {
                let (len, level, type) = bytes.withUnsafeBytes { p in
                    (p.loadUnaligned(fromByteOffset: off, as: UInt64.self), p.loadUnaligned(fromByteOffset: off + 8, as: Int32.self),
                     p.loadUnaligned(fromByteOffset: off + 12, as: Int32.self))
                }
                guard len >= 16, len <= UInt64(bytes.count - off) else { throw LinuxErrno.EINVAL }
                let data = Array(bytes[(off + 16)..<(off + Int(len))])
                if (level == IPPROTO_IPV6_LEVEL && s.family == AF_INET6) || (level == IPPROTO_IP_LEVEL && (s.family == AF_INET || s.family == AF_INET6)) {
                    // Per-datagram hop limit / TTL and traffic class / TOS: one int each
                    // (IP_TOS may be a byte), -1 meaning the socket's default.
                    let hop: Int32 = level == IPPROTO_IPV6_LEVEL ? 52 : 2, tclass: Int32 = level == IPPROTO_IPV6_LEVEL ? 67 : 1
                    if type == hop || type == tclass {
                        guard data.count == 4 || (level == IPPROTO_IP_LEVEL && type == 1 && data.count == 1) else { throw LinuxErrno.EINVAL }
                        let v = data.count == 4 ? data.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) } : Int32(data[0])
                        guard v >= -1, v <= 255, !(type == 2 && v == 0) else { throw LinuxErrno.EINVAL }
                        if type == hop { control.hopLimit = v < 0 ? nil : v } else { control.trafficClass = v < 0 ? nil : v }
                    }
                } else if level == SOL_SOCKET_LEVEL {
                    guard s.family == AF_UNIX else { throw LinuxErrno.EINVAL }
                    switch type {
                    case 1: // SCM_RIGHTS
                        let n = data.count / 4
                        guard control.rights.count + n <= 253 else { throw LinuxErrno.EINVAL }
                        for i in 0..<n {
                            let fd = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i * 4, as: Int32.self) }
                            let f = try group.fdTable.getRaw(fd)
                            f.incRef()
                            control.rights.append(f)
                        }
                    case 2: // SCM_CREDENTIALS
                        guard data.count == 12 else { throw LinuxErrno.EINVAL }
                        // The ids are the sender's user namespace's (EINVAL if it has no such number).
                        let raw = data.withUnsafeBytes {
                            SocketCredentials(pid: $0.loadUnaligned(as: Int32.self), uid: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self),
                                              gid: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
                        }
                        guard let kuid = group.userNS.kuid(raw.uid), let kgid = group.userNS.kgid(raw.gid) else { throw LinuxErrno.EINVAL }
                        let c = SocketCredentials(pid: raw.pid, uid: kuid, gid: kgid)
                        try UnixSocket.checkCredentials(c, from: self)
                        // Carried with the sentry's number for the pid (ESRCH if none is seen).
                        guard let pid = pidNS.global(c.pid), kernel.threadGroups[pid] != nil || kernel.threads[pid] != nil
                        else { throw LinuxErrno.ESRCH }
                        control.credentials = SocketCredentials(pid: pid, uid: c.uid, gid: c.gid)
                    default:
                        throw LinuxErrno.EINVAL
                    }
                }
                off += (Int(len) + 7) & ~7
            }
        } catch {
            for f in control.rights { f.decRef() }
            throw error
        }
        return control
    }

    private func sendMessage(_ s: Socket, _ addr: UInt64, flags: Int32) throws(LinuxErrno) -> Int {
        let h = try readMessageHeader(addr)
        var src = try messageBuffers(h)
        let target: [UInt8]? = h.name == 0 || h.nameLength == 0 ? nil : try sockaddrArg(h.name, UInt64(h.nameLength))
        var control = try parseControl(s, h)
        defer { for f in control.rights { f.decRef() } }
        return try sendCommon(s, &src, control: &control, target: target, flags: flags)
    }

    func sysSendmsg() throws(LinuxErrno) -> UInt64 {
        try refuseCompatFlag(a2)
        let s = try socketArg(fdArg(a0))
        return UInt64(try sendMessage(s, a1, flags: Int32(truncatingIfNeeded: a2)))
    }

    func sysSendmmsg() throws(LinuxErrno) -> UInt64 {
        try refuseCompatFlag(a3)
        let s = try socketArg(fdArg(a0))
        let count = min(Int(UInt32(truncatingIfNeeded: a2)), 1024)
        let flags = Int32(truncatingIfNeeded: a3)
        var sent = 0
        while sent < count {
            let entry = a1 &+ UInt64(sent) &* 64
            do {
                let n = try sendMessage(s, entry, flags: flags)
                try mm.writeValue(entry &+ 56, UInt32(truncatingIfNeeded: n))
            } catch {
                if sent > 0 { break }
                throw error
            }
            sent += 1
        }
        return UInt64(sent)
    }

    // MARK: receiving

    /// The receive loop: waits while nothing is queued (blocking sockets), and for
    /// MSG_WAITALL on a stream until the buffer is full, the stream ends or a signal comes.
    private func receiveCommon(_ s: Socket, _ dst: inout IOSequence, flags: Int32) throws(LinuxErrno) -> ReceivedMessage {
        if !(s is HostInetSocket) {
            // MSG_OOB: a stream reads its out-of-band byte (Net/UrgentData.swift); unix datagram
            // sockets have no such thing (EOPNOTSUPP); UDP ignores the flag.
            // MSG_ERRQUEUE: an inet socket's error queue is always empty (EAGAIN); unix
            // sockets ignore the flag.
            let inet = s.family == AF_INET || s.family == AF_INET6
            if flags & MSG_ERRQUEUE_FLAG != 0 && inet { throw .EAGAIN }
            if flags & MSG_OOB_FLAG != 0 && !inet && s.type != .stream { throw .EOPNOTSUPP }
        }
        let blocking = s.flags & O_NONBLOCK == 0 && flags & MSG_DONTWAIT_FLAG == 0
        let waitAll = flags & MSG_WAITALL_FLAG != 0 && flags & MSG_PEEK_FLAG == 0 && s.type == .stream
        let until = deadline(s.options.receiveTimeout)
        var result = ReceivedMessage()
        var total = 0
        while true {
            do {
                var out = ReceivedMessage()
                let n = try s.receive(self, &dst, flags: flags, into: &out)
                if total == 0 {
                    result = out
                    // SIOCGSTAMP's: the control message reports it instead when one is asked for.
                    if s.options.timestamp == nil { s.lastReadStamp = out.stamp }
                } else {
                    result.rights += out.rights
                }
                total += n
                result.count = total
                if !waitAll || n == 0 || dst.count == 0 || !blocking || !out.rights.isEmpty { return result }
            } catch let e where e == .EAGAIN && blocking {
                do { try socketWait(s.queue, EventMask.input.union([.readHangUp, .hangUp]), deadline: until) } catch {
                    if total > 0 { return result }
                    throw error
                }
            } catch {
                if total > 0 { return result }
                throw error
            }
        }
    }

    func sysRecvfrom() throws(LinuxErrno) -> UInt64 {
        let s = try socketArg(fdArg(a0))
        var dst = guestBuffer(a1, a2)
        let flags = Int32(truncatingIfNeeded: a3)
        let out = try receiveCommon(s, &dst, flags: flags)
        if flags & MSG_PEEK_FLAG == 0 { for f in out.rights { f.decRef() } }
        if a4 != 0 { try writeSockaddr(out.source ?? [], to: a4, length: a5) }
        return UInt64(flags & MSG_TRUNC_FLAG != 0 && s.type != .stream ? out.fullLength : out.count)
    }

    private func receiveMessage(_ s: Socket, _ addr: UInt64, flags: Int32) throws(LinuxErrno) -> Int {
        let h = try readMessageHeader(addr)
        var dst = try messageBuffers(h)
        let out = try receiveCommon(s, &dst, flags: flags)
        // MSG_CMSG_CLOEXEC comes back as passed (____sys_recvmsg starts msg_flags from it).
        var outFlags: Int32 = (flags & MSG_CMSG_CLOEXEC_FLAG) | (out.truncated ? MSG_TRUNC_FLAG : 0) | (out.urgent ? MSG_OOB_FLAG : 0)
        // The sender's address.
        var nameLength: UInt32 = 0
        if h.name != 0, let source = out.source {
            let n = min(Int(h.nameLength), source.count)
            if n > 0 { try mm.write(h.name, Array(source[0..<n])) }
            nameLength = UInt32(source.count)
        }
        // Ancillary data, laid out as Linux's put_cmsg and scm_detach_fds do: the timestamp,
        // IP-level data (hop limit, traffic class, TTL, TOS), then credentials, then descriptors.
        var control = ControlWriter(room: Int(min(h.controlLength, 1 << 20)))
        if let option = s.options.timestamp, out.count > 0 || out.fullLength > 0 || s.type != .stream {
            // SCM_TIMESTAMP (a timeval) or SCM_TIMESTAMPNS (a timespec), old or new number.
            let value = Socket.timeValue(out.stamp != 0 ? out.stamp : kernel.realtimeNanos(), microseconds: option == 29 || option == 63)
            control.put(level: SOL_SOCKET_LEVEL, type: option, withUnsafeBytes(of: value) { Array($0) })
        }
        for (level, type, value) in out.ancillary { control.put(level: level, type: type, value) }
        if s.options.passCredentials && s.family == AF_UNIX {
            let c = out.credentials ?? .nobody
            let ns = group.userNS
            control.put(level: SOL_SOCKET_LEVEL, type: 2, withUnsafeBytes(of: (vnr(c.pid), ns.shownUID(c.uid), ns.shownGID(c.gid))) { Array($0) })
        }
        if !out.rights.isEmpty {
            let peek = flags & MSG_PEEK_FLAG != 0
            let fit = control.room > 16 ? min(out.rights.count, (control.room - 16) / 4) : 0
            var fds: [Int32] = []
            for f in out.rights.prefix(fit) {
                guard let fd = try? group.fdTable.install(f, closeOnExec: flags & MSG_CMSG_CLOEXEC_FLAG != 0) else { break }
                fds.append(fd)
            }
            if !peek { for f in out.rights { f.decRef() } }
            if !fds.isEmpty { control.put(level: SOL_SOCKET_LEVEL, type: 1, fds.flatMap { fd in withUnsafeBytes(of: fd) { Array($0) } }) }
            if fds.count < out.rights.count { control.truncated = true }
        }
        if control.truncated { outFlags |= MSG_CTRUNC_FLAG }
        let controlBytes = control.bytes
        if !controlBytes.isEmpty { try mm.write(h.control, controlBytes) }
        try mm.writeValue(addr &+ 8, nameLength)
        try mm.writeValue(addr &+ 40, UInt64(controlBytes.count))
        try mm.writeValue(addr &+ 48, outFlags)
        return flags & MSG_TRUNC_FLAG != 0 && s.type != .stream ? out.fullLength : out.count
    }

    /// The control buffer recvmsg fills, one message at a time (put_cmsg): a message that does
    /// not fit is cut at the buffer's end, cmsg_len saying how much of it is there, and
    /// MSG_CTRUNC is set; each message takes CMSG_SPACE as far as the buffer goes.
    private struct ControlWriter {
        private(set) var bytes: [UInt8] = []
        private(set) var room: Int
        var truncated = false
        init(room: Int) { self.room = room }

        mutating func put(level: Int32, type: Int32, _ data: [UInt8]) {
            guard room >= 16 else { truncated = true; return }
            var length = 16 + data.count
            if room < length { truncated = true; length = room }
            var m = withUnsafeBytes(of: (UInt64(length), level, type)) { Array($0) }
            m += data.prefix(length - 16)
            let space = min((16 + data.count + 7) & ~7, room)
            while m.count < space { m.append(0) }
            bytes += m
            room -= space
        }
    }

    func sysRecvmsg() throws(LinuxErrno) -> UInt64 {
        try refuseCompatFlag(a2)
        let s = try socketArg(fdArg(a0))
        return UInt64(try receiveMessage(s, a1, flags: Int32(truncatingIfNeeded: a2)))
    }

    func sysRecvmmsg() throws(LinuxErrno) -> UInt64 {
        try refuseCompatFlag(a3)
        let s = try socketArg(fdArg(a0))
        let count = min(Int(UInt32(truncatingIfNeeded: a2)), 1024)
        var flags = Int32(truncatingIfNeeded: a3)
        let until: UInt64?
        if a4 != 0 {
            let ts: timespec = try mm.readValue(a4)
            guard ts.tv_sec >= 0, ts.tv_nsec >= 0, ts.tv_nsec < 1_000_000_000 else { throw .EINVAL }
            until = saturatingAdd(monotonicNanos(), saturatingNanos(seconds: Int64(ts.tv_sec), nanos: Int64(ts.tv_nsec)))
        } else {
            until = nil
        }
        var received = 0
        while received < count {
            let entry = a1 &+ UInt64(received) &* 64
            do {
                let n = try receiveMessage(s, entry, flags: flags)
                try mm.writeValue(entry &+ 56, UInt32(truncatingIfNeeded: n))
            } catch {
                if received > 0 { break }
                throw error
            }
            received += 1
            if flags & 0x10000 != 0 { flags |= MSG_DONTWAIT_FLAG } // MSG_WAITFORONE
            if let until, monotonicNanos() >= until { break }
        }
        return UInt64(received)
    }
}
