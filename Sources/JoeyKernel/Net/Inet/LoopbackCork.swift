// Corking on the loopback network: MSG_MORE, TCP_CORK and UDP_CORK, as Linux's tcp_sendmsg
// and udp_sendmsg treat them. TCP holds corked data back from the peer until a send without
// MSG_MORE while TCP_CORK is off, TCP_CORK or TCP_NODELAY set, shutdown or close; a full
// segment (the loopback MSS) goes out regardless, and TCP_CORK's data at the latest 200 ms
// after it was held (the alarm watcher's). UDP builds one datagram from every corked send and
// sends it with the first send that is not (or when UDP_CORK comes off), to where the first
// one was going; past 65,507 bytes the datagram is dropped and the send is EMSGSIZE.
// Kernel lock held.
import Glibc
import JoeyABI

let MSG_MORE_FLAG: Int32 = 0x8000

extension InetSocket {
    /// The loopback MSS (65,535 less the IP, TCP and timestamp headers).
    static let loopbackMSS = 65_483
    /// Linux's ceiling on TCP_CORK.
    static let corkCeiling: UInt64 = 200_000_000

    /// TCP_CORK (level TCP) or UDP_CORK (level UDP) is on.
    var corkOption: Bool {
        ((isTCP ? options[level: IPPROTO_TCP_LEVEL, name: 3] : options[level: 17, name: 1]) ?? 0) != 0
    }

    /// A send that corks (or adds to a corked UDP datagram): how much it took; nil when the
    /// send goes out now.
    func sendCorking(_ t: GuestThread, _ src: inout IOSequence, control: inout SendControl, target: [UInt8]?, flags: Int32) throws(LinuxErrno) -> Int? {
        let cork = flags & MSG_MORE_FLAG != 0 || corkOption
        if isTCP {
            if !cork {
                pushCorked()
                return nil
            }
            // Only a connection that could send holds data; anything else fails as a send does.
            guard state == .connected, peer != nil, !peerGone, !shutdown.contains(.send), pendingError == nil,
                  src.count > 0 else { pushCorked(); return nil }
            var taken = 0
            var chunk = [UInt8](repeating: 0, count: Self.loopbackMSS)
            while src.count > 0 {
                if corked.count == Self.loopbackMSS {
                    // A full segment goes out whatever the cork, when the peer has room for it.
                    guard let p = peer, room(in: p) >= corked.count else { break }
                    pushCorked()
                    continue
                }
                let want = min(Self.loopbackMSS - corked.count, src.count)
                let got = try chunk.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in
                    try src.copyIn(UnsafeMutableRawBufferPointer(rebasing: p[0..<want]))
                }
                if got == 0 { if taken == 0 { throw .EFAULT }; break }
                corked += chunk[0..<got]
                taken += got
            }
            if taken == 0 { throw .EAGAIN }
            if corkOption && corkDeadline == nil { holdUntilCeiling() }
            return taken
        }
        guard cork || corkedDatagram else { return nil }
        if !corkedDatagram {
            // The first part says where the datagram goes (later ones' addresses are ignored,
            // as udp_sendmsg appends to pending frames without looking).
            if target == nil && remote == nil { throw .EDESTADDRREQ }
            if let target { _ = try datagramTarget(t, target) }
            corkedTarget = target
            corkedDatagram = true
        }
        let n = src.count
        guard corked.count + n <= (family == AF_INET6 ? 65_527 : 65_507) else {
            dropCorkedDatagram()
            throw .EMSGSIZE
        }
        var part = [UInt8](repeating: 0, count: n)
        let got = try part.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in try src.copyIn(p) }
        corked += part[0..<got]
        if !cork { try pushDatagram(t, control: &control) }
        return got
    }

    /// TCP: what was held goes to the peer now, whatever room it has (at most a segment more).
    func pushCorked() {
        corkDeadline = nil
        guard !corked.isEmpty else { return }
        defer { corked = [] }
        guard isTCP, let p = peer, state == .connected, !peerGone else { return }
        net.loopback.count(corked.count)
        p.receive.appendStream(corked, credentials: nil)
        p.wake(EventMask.input)
    }

    /// UDP: the datagram built from corked sends goes out as one.
    func pushDatagram(_ t: GuestThread, control: inout SendControl) throws(LinuxErrno) {
        guard corkedDatagram else { return }
        var datagram = corked
        let target = corkedTarget
        dropCorkedDatagram()
        try datagram.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) in
            var io = IOSequence.sentry(p)
            _ = try sendNow(t, &io, control: &control, target: target, flags: 0)
        }
    }

    func dropCorkedDatagram() {
        corked = []
        corkedTarget = nil
        corkedDatagram = false
    }

    /// The cork option was set to `on`: taken off, what was held goes out.
    func corkChanged(_ t: GuestThread, on: Bool) throws(LinuxErrno) {
        if on { return }
        if isTCP { pushCorked() } else {
            var control = SendControl()
            try pushDatagram(t, control: &control)
        }
    }

    private func holdUntilCeiling() {
        corkDeadline = monotonicNanos() &+ Self.corkCeiling
        kernel.corkedSockets.append(WeakInetSocket(socket: self))
        kernel.startAlarmWatcher()
    }
}

extension Kernel {
    /// TCP_CORK's ceiling: held data whose time is up goes out. Returns the next deadline.
    func pushExpiredCorks(now: UInt64) -> UInt64? {
        var next: UInt64?
        corkedSockets.removeAll { w in
            guard let s = w.socket, let d = s.corkDeadline else { return true }
            if d <= now { s.pushCorked(); return true }
            next = min(next ?? d, d)
            return false
        }
        return next
    }
}
