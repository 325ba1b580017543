// AF_UNIX: names (a socket file in the VFS, an abstract name, or none) and the connection
// rules of unix(7). Kernel lock held throughout (see Net/Socket.swift).
import Glibc
import JoeyABI

/// An inode's identity, stable across lookups of the same file.
struct InodeKey: Hashable {
    let dev: UInt64
    let ino: UInt64
    init(_ inode: Inode) { dev = inode.fs.dev; ino = inode.ino }
}

final class UnixSocket: Socket {
    enum Name {
        case path(ByteString, InodeKey)
        case abstract(ByteString)
    }
    private(set) var name: Name?
    /// Set when a blocking connect must wait for room in a listener's backlog.
    var connectQueue: WaitQueue?
    override var connectWaitQueue: WaitQueue? { connectQueue }

    static let bufferSize = 212_992

    init(kernel: Kernel, type: SocketType, flags: Int32) {
        super.init(kernel: kernel, family: AF_UNIX, type: type, proto: 0, flags: flags, capacity: Self.bufferSize)
        // Released sockets leave the table in unbind; never-installed ones are swept now and then.
        if kernel.unixSockets.count >= 1024 && kernel.unixSockets.count.isMultiple(of: 1024) {
            kernel.unixSockets = kernel.unixSockets.filter { $0.value.socket != nil }
        }
        kernel.unixSockets[ObjectIdentifier(self)] = WeakUnixSocket(socket: self)
    }

    /// What a sockaddr_un names (unix_validate_addr, unix_mkname).
    enum Address {
        case unnamed
        case path(ByteString)
        case abstract(ByteString)
    }

    static func parse(_ bytes: [UInt8]) throws(LinuxErrno) -> Address {
        guard bytes.count >= 2, bytes.count <= 110 else { throw .EINVAL }
        guard UInt16(bytes[0]) | UInt16(bytes[1]) << 8 == UInt16(AF_UNIX) else { throw .EINVAL }
        if bytes.count == 2 { return .unnamed }
        if bytes[2] == 0 { return .abstract(ByteString(Array(bytes[3...]))) }
        let path = bytes[2...].prefix { $0 != 0 }
        return .path(ByteString(Array(path)))
    }

    override func localName() -> [UInt8] {
        var out: [UInt8] = [UInt8(AF_UNIX), 0]
        switch name {
        case .path(let p, _): out += p.bytes + [0]
        case .abstract(let a): out += [0] + a.bytes
        case nil: break
        }
        return out
    }

    override func senderName() -> [UInt8]? { name == nil ? nil : localName() }

    /// A stream's MSG_OOB send: its last byte is out of band at the peer (queue_oob;
    /// Net/UrgentData.swift). One a full peer cuts short marks nothing until its last part.
    override func send(_ t: GuestThread, _ src: inout IOSequence, control: inout SendControl, target: [UInt8]?, flags: Int32) throws(LinuxErrno) -> Int {
        let n = try super.send(t, &src, control: &control, target: target, flags: flags)
        if type == .stream, flags & MSG_OOB_FLAG != 0, n > 0, src.count == 0, let p = peer, !peerGone { p.urgentArrived() }
        return n
    }
    override var streamReportsSender: Bool { true }
    override var notConnectedForReceive: LinuxErrno { type == .stream ? .EINVAL : .ENOTCONN }

    override func makeAcceptedSocket() -> Socket {
        let s = UnixSocket(kernel: kernel, type: type, flags: 0)
        // An accepted socket reports its listener's name (unix_stream_connect copies it).
        s.name = name
        s.sharesName = true
        return s
    }
    /// An accepted socket's name belongs to its listener.
    private var sharesName = false

    override func bind(_ t: GuestThread, _ address: [UInt8]) throws(LinuxErrno) {
        let parsed = try Self.parse(address)
        guard name == nil else { throw .EINVAL }
        switch parsed {
        case .unnamed:
            autobind()
        case .abstract(let a):
            guard net.unixAbstractNames[a] == nil else { throw .EADDRINUSE }
            net.unixAbstractNames[a] = self
            name = .abstract(a)
        case .path(let p):
            let (parent, leaf) = try t.lookupParent(AT_FDCWD, p)
            if leaf.isEmpty || leaf == "." || leaf == ".." { throw .EADDRINUSE }
            if (try? parent.inode.lookup(leaf)) != nil { throw .EADDRINUSE }
            try t.landlockMake(.socket, in: parent)
            try t.mayCreate(in: parent)
            let inode: Inode
            do {
                inode = try parent.inode.create(leaf, kind: .socket, mode: 0o777 & ~t.fs.umask, uid: t.group.fsuid, gid: t.group.fsgid)
            } catch let e where e == .EEXIST {
                throw .EADDRINUSE
            }
            let key = InodeKey(inode)
            kernel.unixPathNames[key] = self
            name = .path(p, key)
        }
    }

    /// An abstract name of five hex digits (Linux's autobind).
    private func autobind() {
        var n = UInt32.random(in: 0..<0x100000)
        while true {
            let hex = String(n, radix: 16)
            let a = ByteString(Array((String(repeating: "0", count: 5 - hex.count) + hex).utf8))
            if net.unixAbstractNames[a] == nil {
                net.unixAbstractNames[a] = self
                name = .abstract(a)
                return
            }
            n = (n + 1) & 0xfffff
        }
    }

    override func unbind() {
        kernel.unixSockets[ObjectIdentifier(self)] = nil
        defer { name = nil }
        guard !sharesName else { return }
        switch name {
        case .abstract(let a): if net.unixAbstractNames[a] === self { net.unixAbstractNames[a] = nil }
        case .path(_, let key): if kernel.unixPathNames[key] === self { kernel.unixPathNames[key] = nil }
        case nil: break
        }
    }

    /// The socket an address names: ENOENT when a path does not exist, ECONNREFUSED when
    /// nothing is bound there, EPROTOTYPE when it is of another type.
    private func find(_ t: GuestThread, _ address: [UInt8]) throws(LinuxErrno) -> UnixSocket {
        let parsed = try Self.parse(address)
        let target: UnixSocket?
        switch parsed {
        case .unnamed: throw .EINVAL
        case .abstract(let a): target = net.unixAbstractNames[a]
        case .path(let p):
            if p.isEmpty { throw .ENOENT }
            let loc = try t.lookup(AT_FDCWD, p, follow: true)
            // Write permission on the socket file first (Linux's unix_find_bsd): EACCES.
            try t.checkAccess(loc.inode, read: false, write: true, mount: loc.mount)
            guard loc.inode.kind == .socket else { throw .ECONNREFUSED }
            target = kernel.unixPathNames[InodeKey(loc.inode)]
        }
        guard let target else { throw .ECONNREFUSED }
        guard target.type == type else { throw .EPROTOTYPE }
        // Landlock's abstract-socket scope (hook_unix_stream_connect, unix_may_send): not to a
        // socket made outside the caller's domain; a datagram socket's own peer stays reachable.
        if case .abstract = parsed, let domain = t.landlockDomain, target !== peer,
           domain.isScoped(from: target.creatorLandlockDomain, Landlock.scopeAbstractUnix) {
            throw .EPERM
        }
        return target
    }

    override func connect(_ t: GuestThread, _ address: [UInt8]) throws(LinuxErrno) {
        connectQueue = nil
        if type == .datagram {
            // AF_UNSPEC dissolves the association.
            if address.count >= 2, UInt16(address[0]) | UInt16(address[1]) << 8 == UInt16(AF_UNSPEC) {
                peer = nil
                return
            }
            guard address.count > 2 else { throw .EINVAL }
            let target = try find(t, address)
            if options.passCredentials && name == nil { autobind() }
            peer = target
            return
        }
        guard address.count > 2 else { throw .EINVAL }
        if state == .connected { throw .EISCONN }
        if state == .listening { throw .EINVAL }
        let listener = try find(t, address)
        if options.passCredentials && name == nil { autobind() }
        do {
            try connectStream(to: listener, t)
        } catch let e where e == .EAGAIN {
            connectQueue = listener.queue
            throw e
        }
    }

    override func prepareListen() throws(LinuxErrno) {
        if name == nil { throw .EINVAL }
    }

    override func datagramTarget(_ t: GuestThread, _ address: [UInt8]) throws(LinuxErrno) -> Socket? {
        let target = try find(t, address)
        // A socket connected elsewhere takes datagrams only from its peer (unix_may_send).
        if let p = target.peer, p !== self { throw .EPERM }
        return target
    }

    override func autobindForSend() throws(LinuxErrno) {
        if options.passCredentials && name == nil { autobind() }
    }

    /// SCM_CREDENTIALS a sender names must be its own unless it is privileged (scm_check_creds).
    static func checkCredentials(_ c: SocketCredentials, from t: GuestThread) throws(LinuxErrno) {
        let g = t.group
        guard c.pid == t.vnr(g.pid) || g.capable(21 /* CAP_SYS_ADMIN */, in: t.pidNS.owner),
              c.uid == g.uid || c.uid == g.euid || c.uid == g.suid || g.capable(Capabilities.setuid),
              c.gid == g.gid || c.gid == g.egid || c.gid == g.sgid || g.capable(Capabilities.setgid) else { throw .EPERM }
    }
}

struct WeakUnixSocket { weak var socket: UnixSocket? }

extension Kernel {
    /// The unix sockets still open, oldest first (/proc/net/unix).
    func liveUnixSockets() -> [UnixSocket] {
        unixSockets = unixSockets.filter { $0.value.socket != nil && !$0.value.socket!.closed }
        return unixSockets.values.compactMap { $0.socket }.sorted { $0.inode.ino < $1.inode.ino }
    }

    /// socketpair(2): two connected AF_UNIX sockets.
    func unixSocketPair(type: SocketType, flags: Int32, credentials: SocketCredentials) -> (UnixSocket, UnixSocket) {
        let a = UnixSocket(kernel: self, type: type, flags: flags)
        let b = UnixSocket(kernel: self, type: type, flags: flags)
        a.pair(with: b)
        a.peerCredentials = credentials
        b.peerCredentials = credentials
        return (a, b)
    }
}
