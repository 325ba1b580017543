// The control channel between runtime commands (exec, ps, events, kill --all) and a
// container's sentry: a SOCK_SEQPACKET unix socket `control.sock` in the container's state
// directory, one JSON message per packet; exec passes its stdio fds with SCM_RIGHTS.
import CJoey
import Glibc
import JoeyKernel
import JoeyOCI

/// A message on the channel: one JSON object, nil members left out.
protocol ControlMessage {
    var json: JSONValue { get }
    /// nil when a member has the wrong type.
    init?(json: JSONValue)
}

struct ControlRequest: ControlMessage {
    var op: String                   // exec, ps, kill-all, stats
    var args: [String]?
    var env: [String]?
    var cwd: String?
    var uid: UInt32?
    var gid: UInt32?
    var additionalGids: [UInt32]?
    var signal: Int32?
    /// exec: the process gets its stdio as a terminal; signal-foreground: whose session.
    var terminal: Bool?
    var pid: Int32?
    var umask: UInt32?
    var noNewPrivileges: Bool?
    /// effective, permitted, inheritable
    var capabilities: [UInt64]?
    /// update: linux.resources.pids.limit and memory.limit.
    var pidsLimit: Int64?
    var memoryLimit: Int64?

    init(op: String, args: [String]? = nil, env: [String]? = nil, cwd: String? = nil, uid: UInt32? = nil, gid: UInt32? = nil,
         additionalGids: [UInt32]? = nil, signal: Int32? = nil, terminal: Bool? = nil, pid: Int32? = nil, umask: UInt32? = nil,
         noNewPrivileges: Bool? = nil, capabilities: [UInt64]? = nil, pidsLimit: Int64? = nil, memoryLimit: Int64? = nil) {
        self.op = op; self.args = args; self.env = env; self.cwd = cwd; self.uid = uid; self.gid = gid
        self.additionalGids = additionalGids; self.signal = signal; self.terminal = terminal; self.pid = pid
        self.umask = umask; self.noNewPrivileges = noNewPrivileges; self.capabilities = capabilities
        self.pidsLimit = pidsLimit; self.memoryLimit = memoryLimit
    }

    var json: JSONValue {
        var o = JSONMembers()
        o.put("op", op); o.put("args", args); o.put("env", env); o.put("cwd", cwd); o.put("uid", uid); o.put("gid", gid)
        o.put("additionalGids", additionalGids); o.put("signal", signal); o.put("terminal", terminal); o.put("pid", pid)
        o.put("umask", umask); o.put("noNewPrivileges", noNewPrivileges); o.put("capabilities", capabilities)
        o.put("pidsLimit", pidsLimit); o.put("memoryLimit", memoryLimit)
        return o.value
    }

    init?(json: JSONValue) {
        var o = JSONMembers(json)
        guard let op = o.string("op") else { return nil }
        self.init(op: op, args: o.strings("args"), env: o.strings("env"), cwd: o.string("cwd"), uid: o.integer("uid"),
                  gid: o.integer("gid"), additionalGids: o.integers("additionalGids"), signal: o.integer("signal"),
                  terminal: o.bool("terminal"), pid: o.integer("pid"), umask: o.integer("umask"),
                  noNewPrivileges: o.bool("noNewPrivileges"), capabilities: o.integers("capabilities"),
                  pidsLimit: o.integer("pidsLimit"), memoryLimit: o.integer("memoryLimit"))
        if !o.valid { return nil }
    }
}

struct ControlProcess {
    var pid: Int32
    var ppid: Int32
    var uid: UInt32
    var command: String
    /// The host process behind it, numbered in the sentry's pid namespace.
    var hostPid: Int32?

    var json: JSONValue {
        var o = JSONMembers()
        o.put("pid", pid); o.put("ppid", ppid); o.put("uid", uid); o.put("command", command); o.put("hostPid", hostPid)
        return o.value
    }

    init(pid: Int32, ppid: Int32, uid: UInt32, command: String, hostPid: Int32?) {
        self.pid = pid; self.ppid = ppid; self.uid = uid; self.command = command; self.hostPid = hostPid
    }

    init?(json: JSONValue) {
        var o = JSONMembers(json)
        guard let pid: Int32 = o.integer("pid"), let ppid: Int32 = o.integer("ppid"), let uid: UInt32 = o.integer("uid"),
              let command = o.string("command") else { return nil }
        self.init(pid: pid, ppid: ppid, uid: uid, command: command, hostPid: o.integer("hostPid"))
        if !o.valid { return nil }
    }
}

struct ControlReply: ControlMessage {
    var error: String?
    var exitCode: Int32?
    var pid: Int32?
    /// An exec'd process ended with this wait status.
    var status: Int32?
    var processes: [ControlProcess]?
    var cpuNanos: UInt64?

    init(error: String? = nil, exitCode: Int32? = nil, pid: Int32? = nil, status: Int32? = nil,
         processes: [ControlProcess]? = nil, cpuNanos: UInt64? = nil) {
        self.error = error; self.exitCode = exitCode; self.pid = pid; self.status = status
        self.processes = processes; self.cpuNanos = cpuNanos
    }

    var json: JSONValue {
        var o = JSONMembers()
        o.put("error", error); o.put("exitCode", exitCode); o.put("pid", pid); o.put("status", status)
        if let processes { o.members["processes"] = .array(processes.map(\.json)) }
        o.put("cpuNanos", cpuNanos)
        return o.value
    }

    init?(json: JSONValue) {
        var o = JSONMembers(json)
        self.init(error: o.string("error"), exitCode: o.integer("exitCode"), pid: o.integer("pid"), status: o.integer("status"),
                  cpuNanos: o.integer("cpuNanos"))
        if let list = json["processes"], list != .null {
            guard let items = list.array else { return nil }
            var processes: [ControlProcess] = []
            for item in items {
                guard let p = ControlProcess(json: item) else { return nil }
                processes.append(p)
            }
            self.processes = processes
        }
        if !o.valid { return nil }
    }
}

/// A message's members: written leaving nil out, read treating a missing member or null as
/// nil and any other type than asked as invalid.
struct JSONMembers {
    var members: [String: JSONValue]
    private(set) var valid: Bool

    init() { members = [:]; valid = true }
    init(_ json: JSONValue) {
        if case .object(let o) = json { members = o; valid = true } else { members = [:]; valid = false }
    }

    var value: JSONValue { .object(members) }

    mutating func put(_ key: String, _ v: String?) { if let v { members[key] = .string(v) } }
    mutating func put(_ key: String, _ v: Bool?) { if let v { members[key] = .bool(v) } }
    mutating func put<T: BinaryInteger>(_ key: String, _ v: T?) { if let v { members[key] = .integer(v) } }
    mutating func put(_ key: String, _ v: [String]?) { if let v { members[key] = .array(v.map { .string($0) }) } }
    mutating func put<T: BinaryInteger>(_ key: String, _ v: [T]?) { if let v { members[key] = .array(v.map { .integer($0) }) } }

    /// The member, unless missing or null.
    private func member(_ key: String) -> JSONValue? {
        guard let v = members[key], v != .null else { return nil }
        return v
    }
    private mutating func checked<T>(_ v: T?, _ present: Bool) -> T? {
        if present && v == nil { valid = false }
        return v
    }

    mutating func string(_ key: String) -> String? { let m = member(key); return checked(m?.string, m != nil) }
    mutating func bool(_ key: String) -> Bool? { let m = member(key); return checked(m?.bool, m != nil) }
    mutating func integer<T: BinaryInteger>(_ key: String) -> T? { let m = member(key); return checked(m?.integer(T.self), m != nil) }
    mutating func strings(_ key: String) -> [String]? {
        let m = member(key)
        return checked(m?.array.flatMap { a in a.allSatisfy { $0.string != nil } ? a.map { $0.string! } : nil }, m != nil)
    }
    mutating func integers<T: BinaryInteger>(_ key: String) -> [T]? {
        let m = member(key)
        return checked(m?.array.flatMap { a in a.allSatisfy { $0.integer(T.self) != nil } ? a.map { $0.integer(T.self)! } : nil }, m != nil)
    }
}

enum ControlChannel {
    static let socketName = "control.sock"

    static func send(_ sock: Int32, _ value: some ControlMessage, fds: [Int32] = []) -> Bool {
        let data = Array(value.json.text.utf8)
        let r = data.withUnsafeBytes { b in
            fds.withUnsafeBufferPointer { f in joey_send_with_fds(sock, b.baseAddress, UInt64(b.count), f.baseAddress, Int32(f.count)) }
        }
        return r == Int64(data.count)
    }

    /// The next message (nil at EOF or on error) and any fds that came with it.
    static func receive<T: ControlMessage>(_ sock: Int32, as: T.Type) -> (T, [Int32])? {
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        var fds = [Int32](repeating: -1, count: 16)
        var n: Int32 = 0
        let r = buf.withUnsafeMutableBytes { b in joey_recv_with_fds(sock, b.baseAddress, UInt64(b.count), &fds, 16, &n) }
        let received = Array(fds.prefix(Int(n)))
        guard r > 0, let json = try? JSONValue.parse(Array(buf.prefix(Int(r)))), let v = T(json: json) else {
            received.forEach { close($0) }
            return nil
        }
        return (v, received)
    }

    /// Connects to a container's sentry.
    static func connect(store directory: String) -> Int32? {
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirfd >= 0 else { return nil }
        defer { close(dirfd) }
        let s = joey_unix_connect_at(dirfd, socketName)
        return s >= 0 ? Int32(s) : nil
    }

    /// The container directory's socket, listening (requests wait until `serve`).
    static func listen(directory: String) throws(KernelError) -> Int32 {
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirfd >= 0 else { throw KernelError("joey: cannot open \(directory): \(String(cString: strerror(errno)))") }
        defer { close(dirfd) }
        unlinkat(dirfd, socketName, 0)
        let listener = joey_unix_listen_at(dirfd, socketName)
        guard listener >= 0 else {
            throw KernelError("joey: cannot listen on \(directory)/\(socketName): \(String(cString: strerror(Int32(-listener))))")
        }
        return Int32(listener)
    }

    /// Serves requests for `kernel` on `fd`, from a thread of its own (started once the sentry
    /// is confined, so the thread shares its root).
    static func serve(_ fd: Int32, kernel: Kernel) {
        detachThread {
            while true {
                let c = joey_accept4(fd, O_CLOEXEC) // accept4: the call the confined sentry may make
                if c < 0 { if errno == EINTR || errno == ECONNABORTED { continue } else { return } }
                detachThread { handle(c, kernel: kernel) }
            }
        }
    }

    private static func processes(of kernel: Kernel) -> [ControlProcess] {
        kernel.processList().map { ControlProcess(pid: $0.pid, ppid: $0.ppid, uid: $0.uid, command: $0.command, hostPid: $0.hostPid) }
    }

    private static func handle(_ conn: Int32, kernel: Kernel) {
        guard let (req, fds) = receive(conn, as: ControlRequest.self) else { close(conn); return }
        defer { fds.forEach { close($0) } }
        switch req.op {
        case "exec":
            guard let args = req.args, !args.isEmpty, fds.count == 3 else {
                _ = send(conn, ControlReply(error: "exec needs a program and three stdio fds"))
                close(conn)
                return
            }
            var p = ProcessSpec(argv: args, env: req.env ?? [])
            p.cwd = req.cwd ?? "/"
            p.uid = req.uid ?? 0
            p.gid = req.gid ?? 0
            p.groups = req.additionalGids ?? []
            p.homeFromPasswd = true
            p.umask = req.umask ?? 0o022
            p.noNewPrivileges = req.noNewPrivileges ?? false
            if let c = req.capabilities, c.count == 3 { p.capabilities = (c[0], c[1], c[2]) }
            do {
                // The connection stays open until the process ends, then carries its status.
                let pid = try kernel.spawn(p, stdio: fds) { status in
                    _ = send(conn, ControlReply(status: status))
                    close(conn)
                }
                _ = send(conn, ControlReply(pid: pid))
            } catch {
                _ = send(conn, ControlReply(error: error.message, exitCode: error.exitCode))
                close(conn)
            }
        case "ps":
            _ = send(conn, ControlReply(processes: processes(of: kernel)))
            close(conn)
        case "signal-foreground":
            if let pid = req.pid, let sig = req.signal { kernel.signalForeground(session: pid, sig) }
            _ = send(conn, ControlReply())
            close(conn)
        case "kill-all":
            kernel.signalAll(req.signal ?? SIGTERM)
            _ = send(conn, ControlReply())
            close(conn)
        case "pause", "resume":
            if req.op == "pause" { kernel.freeze() } else { kernel.thaw() }
            _ = send(conn, ControlReply())
            close(conn)
        case "update":
            // The memory limit is the size of the sentry's MemoryFile, fixed at create.
            if let m = req.memoryLimit, m > 0, UInt64(m) != kernel.memoryLimit {
                _ = send(conn, ControlReply(error: "cannot change the memory limit of a running Joey container (it is fixed when the container is created)"))
                close(conn)
                return
            }
            if let p = req.pidsLimit { kernel.setTaskLimit(p > 0 ? Int(min(p, 1 << 22)) : 1 << 22) }
            _ = send(conn, ControlReply())
            close(conn)
        case "stats":
            _ = send(conn, ControlReply(processes: processes(of: kernel), cpuNanos: kernel.cpuNanos()))
            close(conn)
        default:
            _ = send(conn, ControlReply(error: "unknown request \(req.op)"))
            close(conn)
        }
    }
}
