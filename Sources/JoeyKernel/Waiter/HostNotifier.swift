// Waiter: the host-fd notifier. One sentry thread waits in a host epoll on the host fds the
// sentry owns for the guest (its standard streams, terminals, and host sockets of `--network=host`) and
// turns their readiness into WaitQueue notifications, so no thread polls in a loop.
// Lock order: the notifier takes the kernel lock only to notify, never across epoll_wait.
import CJoey
import Glibc
import JoeyABI

final class HostNotifier {
    private unowned(unsafe) let kernel: Kernel
    private let epollFD: Int32
    /// Registered host fd -> its queue (descriptions of the same host fd share it).
    private var queues: [Int32: WaitQueue] = [:]
    private var started = false

    init(kernel: Kernel) {
        self.kernel = kernel
        epollFD = joey_epoll_create()
    }

    /// The queue notified when `fd` becomes ready; registers it on first use. Kernel lock held.
    /// nil when the host cannot watch it (a regular file): it is then always ready.
    func queue(for fd: Int32) -> WaitQueue? {
        if let q = queues[fd] { return q }
        let q = WaitQueue()
        return watch(fd, notifying: q) ? q : nil
    }

    /// Notifies `queue` whenever `fd` becomes ready (a host socket's own queue). Kernel lock held.
    func watch(_ fd: Int32, notifying queue: WaitQueue) -> Bool {
        guard epollFD >= 0 else { return false }
        // Edge-triggered: a waiter checks readiness itself before it sleeps, after registering.
        let events = EventMask.input.union(.output).union([.readHangUp, .priority]).rawValue | 1 << 31 // EPOLLET
        guard joey_epoll_ctl(epollFD, 1 /* EPOLL_CTL_ADD */, fd, events, UInt64(UInt32(bitPattern: fd))) == 0 else { return false }
        queues[fd] = queue
        if !started {
            started = true
            kernel.startServiceThread { k in k.hostNotifier.run() }
        }
        return true
    }

    /// Stops watching `fd` before the sentry closes it. Kernel lock held.
    func forget(_ fd: Int32) {
        guard queues.removeValue(forKey: fd) != nil else { return }
        _ = joey_epoll_ctl(epollFD, 2 /* EPOLL_CTL_DEL */, fd, 0, 0)
    }

    private func run() {
        var data = [UInt64](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        while true {
            let n = Int(joey_epoll_wait(epollFD, &data, &events, 64, -1))
            if n < 0 { if -n == Int(EINTR) { continue }; return }
            kernel.lock.lock()
            for i in 0..<n {
                let fd = Int32(truncatingIfNeeded: data[i])
                queues[fd]?.notify(EventMask(rawValue: events[i]))
            }
            kernel.lock.unlock()
        }
    }
}
