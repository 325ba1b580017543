// Out-of-band data on stream sockets (MSG_OOB): TCP's urgent byte on the loopback network
// (tcp_check_urg, tcp_recvmsg, tcp_recv_urg) and AF_UNIX's out-of-band byte
// (CONFIG_AF_UNIX_OOB: queue_oob, manage_oob, unix_stream_recv_urg). The last byte of a
// MSG_OOB send is out of band: the receiver keeps it apart (or, with SO_OOBINLINE, in the
// stream) with its mark, the count of unread bytes before it. Normal reads stop at the mark
// and go past it only from it; recv(MSG_OOB) takes the byte once and never waits; SIOCATMARK
// says whether the next byte is the mark; POLLPRI (select's exception) stands while the byte
// is unread; the socket's owner gets SIGURG when it comes. A newer byte takes the mark and
// the older one, kept apart, rejoins the stream where it was: TCP's unless the reader stood
// at its mark, AF_UNIX's unless it was read. AF_UNIX also counts the byte as readable and
// drops it, read or not, when a normal read starts at it. Kernel lock held.
import Glibc
import JoeyABI

/// The out-of-band byte a stream socket received: `ahead` unread bytes come before its mark.
struct UrgentData {
    var ahead: Int
    let byte: UInt8
    /// Kept in the stream (SO_OOBINLINE when it came).
    let inline: Bool
    /// recv(MSG_OOB) took it.
    var taken = false
}

extension Socket {
    /// SO_OOBINLINE.
    var urgentInline: Bool { (options[level: SOL_SOCKET_LEVEL, name: 10] ?? 0) != 0 }

    /// The last byte queued here is out of band.
    func urgentArrived() {
        guard !receive.isEmpty else { return }
        if let old = urgent, !old.inline, family == AF_UNIX ? !old.taken : old.ahead > 0 {
            receive.insertByte(old.byte, at: old.ahead)
        }
        let inline = urgentInline
        guard let byte = inline ? receive.lastByte : receive.removeLastByte() else { return }
        urgent = UrgentData(ahead: inline ? receive.bytes - 1 : receive.bytes, byte: byte, inline: inline)
        if asyncOwner != 0 { kernel.signalOwner(self, Signal.SIGURG, info: SignalInfo(signo: Signal.SIGURG, code: 0x80 /* SI_KERNEL */)) }
        queue.notify(EventMask.input.union(.priority))
    }

    /// recv(MSG_OOB): the out-of-band byte, never waiting.
    func receiveUrgent(_ dst: inout IOSequence, flags: Int32, into out: inout ReceivedMessage) throws(LinuxErrno) -> Int {
        if state == .listening { throw family == AF_UNIX ? .EINVAL : .ENOTCONN }
        guard let u = urgent, !u.inline, !u.taken else { throw .EINVAL }
        out.urgent = true
        guard dst.count > 0 else { out.truncated = true; return 0 }
        guard try dst.copyOut(value: u.byte) == 1 else { throw .EFAULT }
        if flags & MSG_PEEK_FLAG == 0 { urgent?.taken = true }
        out.count = 1
        out.fullLength = 1
        return 1
    }

    /// A normal read of a stream with an out-of-band byte: up to the mark, or onward from it
    /// (which leaves the byte behind). `read` reads what is queued.
    func receiveAroundMark(_ u: UrgentData, _ dst: inout IOSequence, flags: Int32,
                           read: (inout IOSequence) throws(LinuxErrno) -> Int) throws(LinuxErrno) -> Int {
        let peek = flags & MSG_PEEK_FLAG != 0
        if u.ahead > 0 {
            var before = dst.prefix(u.ahead)
            let n = try read(&before)
            dst.skip(n)
            if !peek { urgent?.ahead -= n }
            return n
        }
        // AF_UNIX drops the byte as soon as a read starts at it (manage_oob).
        if family == AF_UNIX && !u.inline && !peek { urgent = nil }
        let n = try read(&dst)
        if !peek && n > 0 { urgent = nil }
        return n
    }

    /// SIOCATMARK: the next byte to read is the mark.
    var atUrgentMark: Bool { urgent?.ahead == 0 }

    /// POLLPRI while the byte is unread.
    var urgentPending: Bool { urgent.map { !$0.taken } ?? false }
}

extension InetSocket {
    /// A MSG_OOB send: what it sends goes out at once (corked data first), its last byte
    /// urgent. A blocking send the peer's full buffer splits marks the byte that ends the
    /// whole message, in the call that sends it; a non-blocking one cut short marks nothing
    /// (Linux marks the last byte it took).
    func sendUrgent(_ t: GuestThread, _ src: inout IOSequence, control: inout SendControl, flags: Int32) throws(LinuxErrno) -> Int {
        pushCorked()
        let n = try sendNow(t, &src, control: &control, target: nil, flags: flags)
        if n > 0, src.count == 0, state == .connected, !peerGone, let p = peer as? InetSocket { p.urgentArrived() }
        return n
    }
}
