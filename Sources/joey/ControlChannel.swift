// The control channel between runtime commands (exec, ps, events, kill --all) and a
// container's sentry: a SOCK_SEQPACKET unix socket `control.sock` in the container's state
// directory, one JSON message per packet; exec passes its stdio fds with SCM_RIGHTS.
import CJoey
import FoundationEssentials
import Glibc
import JoeyKernel

struct ControlRequest: Codable {
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
}

struct ControlProcess: Codable {
    var pid: Int32
    var ppid: Int32
    var uid: UInt32
    var command: String
    /// The host process behind it, numbered in the sentry's pid namespace.
    var hostPid: Int32?
}

struct ControlReply: Codable {
    var error: String?
    var exitCode: Int32?
    var pid: Int32?
    /// An exec'd process ended with this wait status.
    var status: Int32?
    var processes: [ControlProcess]?
    var cpuNanos: UInt64?
}

enum ControlChannel {
    static let socketName = "control.sock"

    static func send<T: Encodable>(_ sock: Int32, _ value: T, fds: [Int32] = []) -> Bool {
        guard let data = try? JSONEncoder().encode(value) else { return false }
        let r = data.withUnsafeBytes { b in
            fds.withUnsafeBufferPointer { f in joey_send_with_fds(sock, b.baseAddress, UInt64(b.count), f.baseAddress, Int32(f.count)) }
        }
        return r == Int64(data.count)
    }

    /// The next message (nil at EOF or on error) and any fds that came with it.
    static func receive<T: Decodable>(_ sock: Int32, as: T.Type) -> (T, [Int32])? {
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        var fds = [Int32](repeating: -1, count: 16)
        var n: Int32 = 0
        let r = buf.withUnsafeMutableBytes { b in joey_recv_with_fds(sock, b.baseAddress, UInt64(b.count), &fds, 16, &n) }
        let received = Array(fds.prefix(Int(n)))
        guard r > 0, let v = try? JSONDecoder().decode(T.self, from: Data(buf.prefix(Int(r)))) else {
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
