// IPC namespaces: what System V IPC keys and ids and POSIX message queue names refer to.
// Each namespace has its own segments, semaphore sets, message queues and queue names
// (Linux's struct ipc_namespace); a process enters a new one with clone or unshare
// (CLONE_NEWIPC) or joins one with setns. What the objects cost the sentry's heap is bounded
// for the sandbox as a whole, summed over every namespace alive, so that making namespaces
// does not multiply it. Kernel lock held throughout.
import JoeyABI

final class IPCNamespace {
    /// /proc/PID/ns/ipc shows "ipc:[N]".
    let ino: UInt64
    /// The user namespace whose capabilities hold over its objects (its creator's).
    var owner = UserNamespace.initial
    let sharedMemory = SharedMemoryRegistry()
    let semaphores = SemaphoreRegistry()
    let messageQueues = MessageQueueRegistry()
    let posixMessageQueues = PosixMessageQueueRegistry()
    init(ino: UInt64) { self.ino = ino }
}

/// How one kind of System V object in a namespace is numbered (Linux's ipc_ids): ids counted
/// up cyclically past those in use, or, once, the one kernel.msg_next_id (sem_, shm_) asks
/// for, or the first free above it if that one is taken (a checkpoint restorer recreating
/// objects under their old ids).
struct IPCIDs {
    private var next: Int32 = 0
    /// The sysctl's value: -1 when nothing is asked for.
    var requested: Int32 = -1

    /// A free id; nil when every id from the requested one up is taken (ENOSPC). The caller
    /// has checked the namespace's object limit, so the cyclic search ends.
    mutating func allocate(taken: (Int32) -> Bool) -> Int32? {
        if requested >= 0 {
            var id = requested
            requested = -1
            while taken(id) {
                guard id < Int32.max else { return nil }
                id += 1
            }
            return id
        }
        while taken(next) { next = next == Int32.max ? 0 : next + 1 }
        defer { next = next == Int32.max ? 0 : next + 1 }
        return next
    }
}

/// Namespaces are held weakly: one goes when its last process, nsfs descriptor and POSIX
/// queue descriptor are gone (the last reference may drop outside the kernel lock; this list
/// only reads whether it is still there).
struct WeakIPCNamespace {
    weak var namespace: IPCNamespace?
}

extension Kernel {
    /// Linux's default for user.max_ipc_namespaces is far higher; each namespace costs the
    /// sentry little besides the objects in it, which are bounded on their own.
    static let maxIPCNamespaces = 1024

    /// Every IPC namespace alive, the initial one first.
    var liveIPCNamespaces: [IPCNamespace] { ipcNamespaces.compactMap(\.namespace) }

    /// A new, empty IPC namespace; ENOSPC past maxIPCNamespaces.
    func makeIPCNamespace(owner: UserNamespace) throws(LinuxErrno) -> IPCNamespace {
        ipcNamespaces.removeAll { $0.namespace == nil }
        guard ipcNamespaces.count < Kernel.maxIPCNamespaces else { throw .ENOSPC }
        let ns = IPCNamespace(ino: allocateNamespaceIno())
        ns.owner = owner
        ipcNamespaces.append(WeakIPCNamespace(namespace: ns))
        return ns
    }

    /// Sums `value` over every IPC namespace alive: the sandbox-wide totals the IPC bounds
    /// check (one namespace in the common case).
    func ipcTotal<T: BinaryInteger>(_ value: (IPCNamespace) -> T) -> T {
        var sum: T = 0
        for w in ipcNamespaces { if let ns = w.namespace { sum += value(ns) } }
        return sum
    }
}

extension GuestThread {
    /// The process moves to `ns` (unshare, setns): its SEM_UNDO adjustments in the namespace
    /// it leaves are applied, as Linux's exit_sem on that path.
    func enterIPCNamespace(_ ns: IPCNamespace) {
        guard ns !== group.ipc else { return }
        group.ipc.semaphores.exit(group.pid)
        group.ipc = ns
    }
}
