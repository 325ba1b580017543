// Waiter: readiness events. An EventMask holds Linux's poll(2) bits exactly, so poll,
// select and (later) epoll read and report the same values the guest passes.
import JoeyABI

struct EventMask: OptionSet, Hashable {
    let rawValue: UInt32
    static let readable = EventMask(rawValue: 0x001)        // POLLIN
    static let priority = EventMask(rawValue: 0x002)        // POLLPRI
    static let writable = EventMask(rawValue: 0x004)        // POLLOUT
    static let error = EventMask(rawValue: 0x008)           // POLLERR
    static let hangUp = EventMask(rawValue: 0x010)          // POLLHUP
    static let invalid = EventMask(rawValue: 0x020)         // POLLNVAL
    static let readNormal = EventMask(rawValue: 0x040)      // POLLRDNORM
    static let readBand = EventMask(rawValue: 0x080)        // POLLRDBAND
    static let writeNormal = EventMask(rawValue: 0x100)     // POLLWRNORM
    static let writeBand = EventMask(rawValue: 0x200)       // POLLWRBAND
    static let message = EventMask(rawValue: 0x400)         // POLLMSG
    static let readHangUp = EventMask(rawValue: 0x2000)     // POLLRDHUP

    /// Data to read, as poll and select see it.
    static let input: EventMask = [.readable, .readNormal]
    /// Room to write.
    static let output: EventMask = [.writable, .writeNormal]
    /// Reported whether or not they were asked for (poll(2)).
    static let alwaysReported: EventMask = [.error, .hangUp, .invalid]
}
