// The stub factory: every stub process (one per guest address space) is forked from one
// small process that holds nothing but the stub code page, instead of from the sentry, whose
// fork copies its page tables (about a millisecond) only for the child to unmap everything
// again. The factory is started once per platform, from the thread that creates the platform
// (it dies with that thread), before the sentry confines itself; it shares the sentry's
// descriptor table, so a stub can be handed any descriptor the sentry holds at the time.
import CJoey
import Glibc

final class StubFactory: @unchecked Sendable {
    private let page: UnsafeMutablePointer<joey_factory_page>
    private let pid: pid_t
    private var lock = pthread_mutex_t()

    init(platform: String) throws(PlatformError) {
        var p: UnsafeMutablePointer<joey_factory_page>?
        let r = joey_factory_start(&p)
        guard r > 0, let p else {
            throw PlatformError("\(platform) platform: cannot start the stub factory process (errno \(-r))")
        }
        page = p
        pid = pid_t(r)
        pthread_mutex_init(&lock, nil)
    }

    /// Whether the factory, and so every stub, is registered for the host's
    /// MEMBARRIER_CMD_GLOBAL_EXPEDITED (known once it has served its first spawn, before any
    /// guest thread can run).
    var membarrierRegistered: Bool {
        joey_factory_membarrier(page) == 1
    }

    /// Forks a stub process whose control thread serves the request page at MemoryFile
    /// offset `pages`, reports on `pipeFD` and takes host files from `socketFD`: its pid, or -errno.
    func spawn(memoryFD: Int32, pipeFD: Int32, socketFD: Int32, pages: UInt64) -> Int64 {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return joey_factory_spawn(page, pid, memoryFD, pipeFD, socketFD, pages)
    }
}
