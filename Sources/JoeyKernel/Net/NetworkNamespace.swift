// Network namespaces (CLONE_NEWNET): what a socket's addresses and names mean. The sandbox
// starts with one: its loopback network (`--network=none`) or, with `--network=host`, the
// host's network of the sentry's namespace (guest inet sockets are the sentry's host
// sockets there). Every namespace a guest makes is the sentry's own loopback network and
// never the host's: lo alone, down until brought up (SIOCSIFFLAGS, RTM_NEWLINK), with its own
// ports, abstract unix names, net.* sysctls and /proc/net. Unix sockets bound to a path are
// found through the filesystem, from any namespace, as on Linux. A socket belongs to the
// namespace it was made in. Kernel lock held throughout.
import JoeyABI
import Synchronization

final class NetworkNamespace {
    /// /proc/PID/ns/net shows "net:[N]".
    let ino: UInt64
    /// The user namespace of its creator: where CAP_NET_ADMIN, CAP_NET_BIND_SERVICE and
    /// CAP_NET_RAW are checked.
    var owner = UserNamespace.initial
    /// Inet sockets are host sockets (the sandbox's first namespace under --network=host).
    let onHost: Bool
    /// The loopback network's ports and sockets.
    let loopback = LoopbackNetwork()
    /// Bound abstract unix names.
    var unixAbstractNames: [ByteString: UnixSocket] = [:]
    /// lo is up; `loopbackAddressed`: it has been, so 127.0.0.1 is on it (::1 only while up).
    private(set) var loopbackUp: Bool
    private(set) var loopbackAddressed: Bool
    /// lo's MTU (SIOCSIFMTU); nothing is fragmented on the sentry's loopback, so it is shown
    /// and kept only.
    var loopbackMTU: Int32 = 65536
    /// net.core.somaxconn: listen(2)'s backlog is clamped to it.
    var somaxconn = Socket.somaxconn
    /// net.ipv4.ip_local_port_range: where ephemeral ports come from.
    var localPorts = (low: 32768, high: 60999)
    /// net.ipv4.ip_unprivileged_port_start: lower ports need CAP_NET_BIND_SERVICE.
    var unprivilegedPortStart = 1024
    /// net.ipv4.ping_group_range: the groups that may make ping sockets. Every group, as
    /// Docker sets it in a container (Linux's own default, 1 0, is none).
    var pingGroups: (low: UInt32, high: UInt32) = (0, 2_147_483_647)

    /// Namespaces made by the guest and alive (Linux bounds them per user with
    /// user.max_net_namespaces; each costs the sentry little, its sockets are bounded by fds).
    static let live = Atomic<Int>(0)
    static let maxMade = 1024
    private let made: Bool

    /// The sandbox's first namespace (lo up).
    init(ino: UInt64, onHost: Bool) {
        self.ino = ino; self.onHost = onHost
        loopbackUp = true; loopbackAddressed = true; made = false
    }

    /// One a guest makes: lo down.
    private init(madeWithIno ino: UInt64) {
        self.ino = ino; onHost = false
        loopbackUp = false; loopbackAddressed = false; made = true
        NetworkNamespace.live.add(1, ordering: .relaxed)
    }

    deinit { if made { NetworkNamespace.live.subtract(1, ordering: .relaxed) } }

    static func make(ino: UInt64, owner: UserNamespace) throws(LinuxErrno) -> NetworkNamespace {
        guard live.load(ordering: .relaxed) < maxMade else { throw .ENOSPC }
        let ns = NetworkNamespace(madeWithIno: ino)
        ns.owner = owner
        ns.pingGroups = (1, 0) // Linux's default for a new namespace: no group
        return ns
    }

    /// lo goes up or down (IFF_UP): once up, 127.0.0.1 stays on it.
    func setLoopback(up: Bool) {
        loopbackUp = up
        if up { loopbackAddressed = true }
    }

    /// 127.0.0.1/8 given to lo (RTM_NEWADDR, as bubblewrap does before bringing it up).
    func addLoopbackAddress() { loopbackAddressed = true }
}
