// HostFileCache: the host fds of lower-layer (host) files the guest reads. They are opened on
// demand through the root dirfd and closed least-recently-used first past `capacity`, so a
// sandbox that reads any number of distinct host files holds a bounded number of host fds
// (an inode keeps its path, not its fd). Kernel lock held throughout.
import Glibc
import JoeyABI

final class HostFileCache {
    let capacity: Int
    private struct Entry {
        var fd: Int32
        var lastUse: UInt64
    }
    private var entries: [ObjectIdentifier: Entry] = [:]
    private var clock: UInt64 = 0

    /// At most a quarter of the sentry's fd limit, and 256.
    init(capacity: Int? = nil) {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        self.capacity = capacity ?? max(16, min(256, Int(min(limit.rlim_cur, 1 << 20)) / 4))
    }

    var count: Int { entries.count }

    /// The cached fd of `owner`, or a new one from `open` (which returns an fd or -errno).
    func fd(for owner: AnyObject, open: () -> Int32) throws(LinuxErrno) -> Int32 {
        clock += 1
        let key = ObjectIdentifier(owner)
        if let e = entries[key] {
            entries[key]!.lastUse = clock
            return e.fd
        }
        let fd = open()
        guard fd >= 0 else { throw LinuxErrno(-fd) }
        if entries.count >= capacity { evict() }
        entries[key] = Entry(fd: fd, lastUse: clock)
        return fd
    }

    /// Closes `owner`'s fd, if it has one (the file was copied up, truncated, or is gone).
    func drop(_ owner: ObjectIdentifier) {
        if let e = entries.removeValue(forKey: owner) { close(e.fd) }
    }

    /// Closes the least recently used quarter, so evictions are rare and cheap on average.
    private func evict() {
        let victims = entries.sorted { $0.value.lastUse < $1.value.lastUse }.prefix(max(1, capacity / 4))
        for (key, e) in victims {
            close(e.fd)
            entries[key] = nil
        }
    }
}
