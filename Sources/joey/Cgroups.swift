// The container's cgroup (config.json's linux.cgroupsPath), made as runc's cgroupfs driver
// makes it, on cgroup v1 (one directory per controller) or v2 (one directory). A systemd
// driver's path (slice:prefix:name) is the directory systemd would give that scope
// (CgroupPath), made the same way: Joey asks systemd for no unit. `create`
// makes it and sets its limits; the sentry joins it before it starts anything, so its stubs
// and threads are there too: the host accounts for the container (docker stats, ctr task
// metrics read these files) and holds it to a backstop of its limits. Joey enforces the
// guest's limits itself; the host's are wider by the sentry's own needs: its memory beside
// the guest's, and a host thread or two per guest thread. `delete` removes it.
import Glibc
import JoeyOCI

enum ContainerCgroup {
    static let root = "/sys/fs/cgroup"
    /// What the sentry itself may use beside the guest's memory limit.
    static let sentryMemory: Int64 = 64 << 20

    static var unified: Bool { access(root + "/cgroup.controllers", F_OK) == 0 }

    /// The v1 controllers a container's processes join (those mounted here).
    static let controllers = ["memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "devices", "freezer"]

    /// The directory below each hierarchy's root ("/a/b"); nil for a path Joey does not use.
    static func relative(_ path: String) -> String? { CgroupPath.directory(path) }

    /// The container's directories: one per mounted v1 controller, or the v2 one.
    static func directories(_ rel: String) -> [String] {
        if unified { return [root + rel] }
        return controllers.filter { access(root + "/" + $0, F_OK) == 0 }.map { root + "/" + $0 + rel }
    }

    /// Makes the cgroup (and its missing ancestors) and writes its limits. Returns what
    /// could not be done, for the log: an unprivileged runtime, say, runs without it.
    static func create(_ path: String, memoryLimit: Int64?, pidsLimit: Int64?) -> [String] {
        guard let rel = relative(path) else { return ["linux.cgroupsPath \(path): neither a cgroupfs path (/a/b) nor a systemd slice:prefix:name; the container joins no cgroup"] }
        var problems: [String] = []
        for dir in directories(rel) {
            let base = String(dir.dropLast(rel.count))
            var prefix = base
            for part in rel.split(separator: "/") {
                let parent = prefix
                prefix += "/" + part
                if mkdir(prefix, 0o755) == 0 {
                    // v1 cpuset: a new cgroup has no CPUs or memory nodes until given its parent's.
                    if base.hasSuffix("/cpuset") {
                        for f in ["cpuset.cpus", "cpuset.mems"] { _ = write(prefix + "/" + f, read(parent + "/" + f) ?? "") }
                    }
                    // v2: the parent hands its controllers down (each alone: one the parent lacks
                    // would fail the others' write too).
                    if unified { for c in ["memory", "pids", "cpu", "io"] { _ = write(parent + "/cgroup.subtree_control", "+" + c) } }
                } else if errno != EEXIST {
                    problems.append("cgroup \(prefix): \(String(cString: strerror(errno)))")
                    break
                }
            }
        }
        if let m = memoryLimit, m > 0 {
            let value = String(m + sentryMemory)
            let file = unified ? root + rel + "/memory.max" : root + "/memory" + rel + "/memory.limit_in_bytes"
            if let e = write(file, value) { problems.append("\(file): \(e)") }
        }
        if let p = pidsLimit, p > 0 { problems += setPidsLimit(path, p) }
        return problems
    }

    /// The host's backstop for a guest limit of `limit` tasks (0 or below: none): twice the
    /// guest's (a stub thread per guest thread) and the sentry's own threads. What could not
    /// be written, for the log; nothing when the cgroup has no pids controller.
    static func setPidsLimit(_ path: String, _ limit: Int64) -> [String] {
        guard let rel = relative(path) else { return [] }
        let file = unified ? root + rel + "/pids.max" : root + "/pids" + rel + "/pids.max"
        guard access(file, F_OK) == 0 else { return [] }
        return write(file, limit > 0 ? String(2 * limit + 64) : "max").map { ["\(file): \($0)"] } ?? []
    }

    /// The calling process moves into the cgroup (its future children and threads follow).
    static func join(_ path: String) -> [String] {
        guard let rel = relative(path) else { return [] }
        return directories(rel).compactMap { dir in write(dir + "/cgroup.procs", "0").map { "cgroup \(dir): \($0)" } }
    }

    /// Removes the container's directories (not its ancestors, which others may share). The
    /// sentry's last threads may still be leaving it (its leader is a zombie first, and a kvm
    /// sentry's VM is torn down on the way out): EBUSY is retried for up to 2 s, as runc does.
    static func remove(_ path: String) {
        guard let rel = relative(path) else { return }
        for dir in directories(rel) {
            for _ in 0..<200 where rmdir(dir) != 0 && errno == EBUSY { usleep(10_000) }
        }
    }

    /// Writes `value`; the error, or nil.
    private static func write(_ file: String, _ value: String) -> String? {
        let fd = open(file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        var bytes = Array(value.utf8)
        return Glibc.write(fd, &bytes, bytes.count) == bytes.count ? nil : String(cString: strerror(errno))
    }

    private static func read(_ file: String) -> String? {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = Glibc.read(fd, &buf, buf.count)
        guard n > 0 else { return nil }
        return String(decoding: buf[..<n], as: UTF8.self).trimmingTrailingNewline
    }
}

private extension String {
    var trimmingTrailingNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}
