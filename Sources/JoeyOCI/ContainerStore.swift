// The state directory (`--root`, default /run/joey): one directory per container holding
// state.json and, between create and start, exec.fifo. A flock on the container's directory
// serializes commands on the same id.
import Glibc

/// What `joey state` prints (the runtime spec's state, with runc's extra fields).
public struct ContainerState: Sendable {
    public var ociVersion: String
    public var id: String
    public var pid: Int32
    public var status: String
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var owner: String
    public var annotations: [String: String]?
    /// The sentry's start time (clock ticks since boot), so a recycled pid is not mistaken for it.
    public var pidStartTime: UInt64

    public init(id: String, pid: Int32, bundle: String, rootfs: String, annotations: [String: String]) {
        ociVersion = "1.0.2"
        self.id = id
        self.pid = pid
        status = "created"
        self.bundle = bundle
        self.rootfs = rootfs
        created = rfc3339Now()
        owner = ""
        self.annotations = annotations.isEmpty ? nil : annotations
        pidStartTime = ContainerStore.startTime(of: pid) ?? 0
    }

    /// state.json's object (JSONEncoder's, sorted keys, as written before).
    var json: JSONValue {
        var o: [String: JSONValue] = [
            "ociVersion": .string(ociVersion), "id": .string(id), "pid": .integer(pid), "status": .string(status),
            "bundle": .string(bundle), "rootfs": .string(rootfs), "created": .string(created), "owner": .string(owner),
            "pidStartTime": .integer(pidStartTime),
        ]
        if let annotations { o["annotations"] = .object(annotations.mapValues { .string($0) }) }
        return .object(o)
    }

    init?(json: JSONValue) {
        guard let ociVersion = json["ociVersion"]?.string, let id = json["id"]?.string,
              let pid = json["pid"]?.integer(Int32.self), let status = json["status"]?.string,
              let bundle = json["bundle"]?.string, let rootfs = json["rootfs"]?.string,
              let created = json["created"]?.string, let owner = json["owner"]?.string,
              let pidStartTime = json["pidStartTime"]?.integer(UInt64.self) else { return nil }
        self.ociVersion = ociVersion; self.id = id; self.pid = pid; self.status = status
        self.bundle = bundle; self.rootfs = rootfs; self.created = created; self.owner = owner
        self.pidStartTime = pidStartTime
        if case .object(let a)? = json["annotations"] {
            var annotations: [String: String] = [:]
            for (k, v) in a {
                guard let v = v.string else { return nil }
                annotations[k] = v
            }
            self.annotations = annotations
        }
    }

    /// The state as the spec prints it: pid 0 once stopped.
    public func jsonForOutput() -> String {
        var out: [String] = ["  \"ociVersion\": \(jsonString(ociVersion))", "  \"id\": \(jsonString(id))",
                             "  \"pid\": \(status == "stopped" ? 0 : pid)", "  \"status\": \(jsonString(status))",
                             "  \"bundle\": \(jsonString(bundle))", "  \"rootfs\": \(jsonString(rootfs))",
                             "  \"created\": \(jsonString(created))", "  \"owner\": \(jsonString(owner))"]
        if let a = annotations, !a.isEmpty {
            let items = a.keys.sorted().map { "    \(jsonString($0)): \(jsonString(a[$0]!))" }
            out.append("  \"annotations\": {\n" + items.joined(separator: ",\n") + "\n  }")
        }
        return "{\n" + out.joined(separator: ",\n") + "\n}"
    }
}

public func jsonString(_ s: String) -> String {
    var r = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": r += "\\\""
        case "\\": r += "\\\\"
        case "\n": r += "\\n"
        case "\r": r += "\\r"
        case "\t": r += "\\t"
        case _ where u.value < 0x20:
            let hex = String(u.value, radix: 16)
            r += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: r.unicodeScalars.append(u)
        }
    }
    return r + "\""
}

public struct ContainerStore: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    /// runc's rule for ids: letters, digits, `_+-.`, and not `.` or `..`.
    public static func validate(id: String) throws(OCIError) {
        let ok = !id.isEmpty && id != "." && id != ".." && id.utf8.count <= 1024 &&
            id.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) || "_+-.".unicodeScalars.contains($0) }
        if !ok { throw OCIError("invalid container ID format: \(id)") }
    }

    public func directory(_ id: String) -> String { root + "/" + id }
    public func fifo(_ id: String) -> String { directory(id) + "/exec.fifo" }
    private func stateFile(_ id: String) -> String { directory(id) + "/state.json" }

    /// Creates the container's directory (failing if the id is taken) and locks it.
    public func create(_ id: String) throws(OCIError) -> ContainerLock {
        try ContainerStore.validate(id: id)
        // Its parents too, as runc's MkdirAll (dockerd's --exec-root may be new).
        var prefix = root.hasPrefix("/") ? "" : "."
        for part in root.split(separator: "/").dropLast() {
            prefix += "/" + part
            if mkdir(prefix, 0o711) != 0 && errno != EEXIST {
                throw OCIError("cannot create the state directory \(root): \(prefix): \(String(cString: strerror(errno)))")
            }
        }
        if mkdir(root, 0o711) != 0 && errno != EEXIST {
            throw OCIError("cannot create the state directory \(root): \(String(cString: strerror(errno)))")
        }
        if mkdir(directory(id), 0o711) != 0 {
            if errno == EEXIST { throw OCIError("container with given ID already exists: \(id)") }
            throw OCIError("cannot create \(directory(id)): \(String(cString: strerror(errno)))")
        }
        return try lock(id)
    }

    /// Locks an existing container's directory (waiting for other commands on it).
    public func lock(_ id: String) throws(OCIError) -> ContainerLock {
        try ContainerStore.validate(id: id)
        let fd = open(directory(id), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw OCIError("container does not exist: \(id)") }
        while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        // Deleted while we waited for the lock.
        if access(directory(id), F_OK) != 0 {
            close(fd)
            throw OCIError("container does not exist: \(id)")
        }
        return ContainerLock(fd: fd)
    }

    public func save(_ state: ContainerState) throws(OCIError) {
        let tmp = stateFile(state.id) + ".tmp"
        guard HostFile.write(tmp, Array(state.json.text.utf8)), rename(tmp, stateFile(state.id)) == 0 else {
            throw OCIError("cannot write \(stateFile(state.id)): \(String(cString: strerror(errno)))")
        }
    }

    /// The saved state with its status brought up to date.
    public func load(_ id: String) throws(OCIError) -> ContainerState {
        try ContainerStore.validate(id: id)
        guard let data = HostFile.read(stateFile(id)), let json = try? JSONValue.parse(data),
              var state = ContainerState(json: json) else {
            throw OCIError("container does not exist: \(id)")
        }
        state.status = status(of: state)
        return state
    }

    public func ids() -> [String] {
        (HostFile.entries(root) ?? []).filter { HostFile.exists(stateFile($0)) }.sorted()
    }

    public func remove(_ id: String) {
        HostFile.removeTree(directory(id))
    }

    /// created until `start` consumed exec.fifo, running while the sentry lives (paused
    /// between `pause` and `resume`), then stopped.
    func status(of state: ContainerState) -> String {
        guard state.pid > 0, ContainerStore.isAlive(state.pid, startTime: state.pidStartTime) else { return "stopped" }
        if access(fifo(state.id), F_OK) == 0 { return "created" }
        return access(pausedMarker(state.id), F_OK) == 0 ? "paused" : "running"
    }

    /// Present while the container is paused.
    public func pausedMarker(_ id: String) -> String { directory(id) + "/paused" }

    /// Field 22 of /proc/PID/stat: when the process started.
    static func startTime(of pid: Int32) -> UInt64? {
        guard let s = HostFile.text("/proc/\(pid)/stat"),
              let close = s.lastIndex(of: ")") else { return nil }
        let fields = s[s.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, so starttime (22) is index 19 here.
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    static func isAlive(_ pid: Int32, startTime: UInt64) -> Bool {
        guard let s = HostFile.text("/proc/\(pid)/stat"),
              let close = s.lastIndex(of: ")") else { return false }
        let fields = s[s.index(after: close)...].split(separator: " ")
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return false }
        return startTime == 0 || UInt64(fields[19]) == startTime
    }
}

/// Held while a command works on one container; released on deinit.
public final class ContainerLock {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }
}
