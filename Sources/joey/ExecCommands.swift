// exec, ps, events, features: the runtime commands that talk to a running container's
// sentry over its control channel (or, for features, describe Joey itself).
import ArgumentParser
import CJoey
import Glibc
import JoeyKernel
import JoeyOCI

/// The running container's state, or a runc-style error.
private func runningState(_ id: String, runtime: RuntimeOptions, verb: String) -> ContainerState {
    let state: ContainerState
    do { state = try runtime.store.load(id) } catch { runtime.fail(error.message) }
    guard state.status == "running" else { runtime.fail("cannot \(verb) a container that is not running (\(state.status))") }
    return state
}

private func connectOrFail(_ id: String, runtime: RuntimeOptions) -> Int32 {
    guard let s = ControlChannel.connect(store: runtime.store.directory(id)) else {
        runtime.fail("cannot reach the sentry of container \(id): \(String(cString: strerror(errno)))")
    }
    return s
}

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec", abstract: "Run a new process in a running container.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Option(name: [.short, .long], help: ArgumentHelp("A process.json (as config.json's process) to run.", valueName: "file"))
    var process: String?
    @Option(help: ArgumentHelp("Unix socket to send the terminal's master fd to.", valueName: "path"))
    var consoleSocket: String?
    @Option(help: "Working directory in the container.") var cwd: String?
    @Option(name: [.short, .long], help: "An environment variable (KEY=VALUE); repeatable.") var env: [String] = []
    @Flag(name: [.short, .long], help: "Give the process a terminal.") var tty = false
    @Option(name: [.short, .long], help: "uid[:gid] to run as.") var user: String?
    @Option(name: [.customShort("g"), .long], help: "Additional group id; repeatable.") var additionalGids: [UInt32] = []
    @Flag(name: [.short, .long], help: "Return once the process has started.") var detach = false
    @Option(help: ArgumentHelp("Write the pid of the process that waits for it to this file.", valueName: "file"))
    var pidFile: String?
    @Option(help: "Extra fds to pass (not supported: must be 0).") var preserveFds: Int = 0
    @Option(name: [.customShort("c"), .long], help: "Accepted for runc compatibility (the guest's capabilities are the sentry's view).")
    var cap: [String] = []
    @Option(help: "Accepted for runc compatibility.") var apparmor: String?
    @Option(help: "Accepted for runc compatibility.") var processLabel: String?
    @Flag(help: "The process runs with no_new_privs set (what PR_GET_NO_NEW_PRIVS reports).") var noNewPrivs = false
    @Flag(help: "Accepted for runc compatibility.") var ignorePaused = false
    @Option(help: "Accepted for runc compatibility.") var cgroup: String?
    @Argument(help: "The container id.") var id: String
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (without --process).")
    var command: [String] = []

    func run() throws {
        runtime.noteIgnoredFlags(debug: global.debug, [("--cap", !cap.isEmpty), ("--apparmor", apparmor != nil),
                                                       ("--process-label", processLabel != nil),
                                                       ("--ignore-paused", ignorePaused), ("--cgroup", cgroup != nil)])
        let state = runningState(id, runtime: runtime, verb: "exec in")
        var cmd = command
        if cmd.first == "--" { cmd.removeFirst() }
        // The container's own process is the base (env, user), as runc does.
        var base: OCIConfig.Process
        do {
            if let process {
                base = try OCIConfig.loadProcess(file: process)
            } else {
                guard !cmd.isEmpty else { runtime.fail("exec needs a command or --process") }
                base = try OCIConfig.load(bundle: state.bundle).process ?? OCIConfig.Process()
                base.args = cmd
                base.terminal = tty
                if let cwd { base.cwd = cwd }
            }
        } catch { runtime.fail(error.message) }
        base.env += env
        if let user {
            let parts = user.split(separator: ":")
            guard let uid = UInt32(parts[0]), parts.count <= 2, parts.count == 1 || UInt32(parts[1]) != nil else {
                runtime.fail("--user \(user): expected uid[:gid]")
            }
            base.user.uid = uid
            if parts.count == 2 { base.user.gid = UInt32(parts[1])! }
        }
        base.user.additionalGids += additionalGids
        if preserveFds != 0 { runtime.fail("--preserve-fds is not supported by exec in this build of Joey") }
        if consoleSocket != nil && !base.terminal { runtime.fail("--console-socket needs a terminal (-t, or terminal in --process)") }
        // The process's stdio: ours, or with a terminal a new pty (master to --console-socket)
        // or, in the foreground on a terminal, our own.
        var stdio: [Int32] = [0, 1, 2]
        var ttyFD: Int32 = -1
        if base.terminal {
            if let socketPath = consoleSocket {
                do { ttyFD = try sendNewTerminal(to: socketPath) } catch { runtime.fail(error.message) }
                stdio = [ttyFD, ttyFD, ttyFD]
            } else if detach || isatty(0) == 0 {
                runtime.fail("cannot allocate a terminal: use --console-socket (or run exec -t in the foreground on a terminal)")
            }
        }

        let sock = connectOrFail(id, runtime: runtime)
        var req = ControlRequest(op: "exec", args: base.args, env: base.env, cwd: base.cwd, uid: base.user.uid,
                                 gid: base.user.gid, additionalGids: base.user.additionalGids)
        req.umask = base.user.umask
        req.noNewPrivileges = base.noNewPrivileges || noNewPrivs
        if base.capabilities != nil {
            req.capabilities = [base.capabilityMask("effective"), base.capabilityMask("permitted"), base.capabilityMask("inheritable")]
        }
        req.terminal = base.terminal
        guard ControlChannel.send(sock, req, fds: stdio) else { runtime.fail("cannot send the request to the sentry") }
        guard let (reply, _) = ControlChannel.receive(sock, as: ControlReply.self) else { runtime.fail("the sentry closed the connection") }
        if let error = reply.error {
            runtime.report("error", error.hasPrefix("joey: ") ? String(error.dropFirst(6)) : error)
            Glibc.exit(reply.exitCode ?? 1)
        }
        let guestPid = reply.pid ?? 0
        if detach {
            // A host process stands for the guest process: it lives as long as it does and
            // exits with its status, so callers (conmon) can wait for it. With a terminal it
            // also owns the pty, so ^C typed there reaches the guest's foreground job.
            let waiter = spawnWaiter(sock, guestPid: guestPid, ttyFD: ttyFD)
            close(sock)
            if let pidFile { do { try writePidFile(pidFile, waiter) } catch { runtime.fail(error.message) } }
            return
        }
        if let pidFile { do { try writePidFile(pidFile, getpid()) } catch { runtime.fail(error.message) } }
        if base.terminal {
            if ttyFD >= 0 { setsid(); _ = joey_set_controlling_tty(ttyFD) }
            forwardTerminalSignals(directory: runtime.store.directory(id), guestPid: guestPid)
        }
        exitWithStatus(of: sock)
    }



    func spawnWaiter(_ sock: Int32, guestPid: Int32, ttyFD: Int32) -> pid_t {
        _ = fcntl(sock, F_SETFD, 0)
        if ttyFD >= 0 { _ = fcntl(ttyFD, F_SETFD, 0) }
        var pid: pid_t = 0
        var args = ["joey", "exec-wait", "--fd", String(sock), "--pid", String(guestPid), "--dir", runtime.store.directory(id)]
        if ttyFD >= 0 { args += ["--tty-fd", String(ttyFD)] }
        // Its stdio is /dev/null: the caller's (a shim's pipes) went to the guest process, and
        // a copy held here would keep the caller waiting for their end long after `exec`
        // returned (docker exec -it, ctr task exec -t hung so).
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
        let r = withCStringArray(args) { posix_spawn(&pid, "/proc/self/exe", &actions, nil, $0, environ) }
        guard r == 0 else { runtime.fail("cannot start the exec waiter: \(String(cString: strerror(r)))") }
        return pid
    }
}

/// Waits on the control connection for an exec'd process's status and exits with it.
func exitWithStatus(of sock: Int32) -> Never {
    guard let (reply, _) = ControlChannel.receive(sock, as: ControlReply.self), let status = reply.status else {
        writeStderr("joey: the container stopped before the process reported its status\n")
        Glibc.exit(255)
    }
    exitLikeShell(status)
}

/// Passes ^C, ^\\ and ^Z, which the host terminal turns into signals for us, on to the
/// foreground job of the exec'd process's session.
func forwardTerminalSignals(directory: String, guestPid: Int32) {
    var set = sigset_t()
    sigemptyset(&set)
    for s in [SIGINT, SIGQUIT, SIGTSTP] { sigaddset(&set, s) }
    pthread_sigmask(SIG_BLOCK, &set, nil)
    let waitSet = set
    detachThread {
        var set = waitSet
        while true {
            var sig: Int32 = 0
            guard sigwait(&set, &sig) == 0 else { continue }
            guard let s = ControlChannel.connect(store: directory) else { continue }
            _ = ControlChannel.send(s, ControlRequest(op: "signal-foreground", signal: sig, pid: guestPid))
            _ = ControlChannel.receive(s, as: ControlReply.self)
            close(s)
        }
    }
}

struct ExecWait: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec-wait", abstract: "Waits for a detached exec.", shouldDisplay: false)
    @Option var fd: Int32
    @Option var ttyFd: Int32 = -1
    @Option var pid: Int32 = 0
    @Option var dir: String = ""
    func run() throws {
        setsid()
        if ttyFd >= 0 {
            _ = joey_set_controlling_tty(ttyFd)
            close(ttyFd)
            forwardTerminalSignals(directory: dir, guestPid: pid)
        }
        exitWithStatus(of: fd)
    }
}

struct Ps: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List the processes of a container (guest pids).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Option(name: [.short, .long], help: "table or json.") var format: String = "table"
    @Argument(help: "The container id.") var id: String
    @Argument(parsing: .captureForPassthrough, help: "ps options (accepted; the table has fixed columns).")
    var psArgs: [String] = []

    func run() throws {
        let state = runningState(id, runtime: runtime, verb: "list the processes of")
        let sock = connectOrFail(id, runtime: runtime)
        defer { close(sock) }
        guard ControlChannel.send(sock, ControlRequest(op: "ps")),
              let (reply, _) = ControlChannel.receive(sock, as: ControlReply.self), let list = reply.processes else {
            runtime.fail("the sentry did not answer")
        }
        switch format {
        case "json":
            // Host pids, as runc's (docker top looks them up in the host's ps): the process
            // running each guest process, once each (threads and vfork children share one).
            let hostPids = HostPidNamespace.translate(list.map { $0.hostPid ?? 1 }, namespaceOf: state.pid)
            var seen = Set<Int32>()
            print("[" + hostPids.filter { seen.insert($0).inserted }.map(String.init).joined(separator: ",") + "]")
        case "table":
            print("UID        PID   PPID  CMD")
            for p in list {
                print(padded(String(p.uid), 8) + padded(String(p.pid), 5, left: true) + "  " + padded(String(p.ppid), 5, left: true) + "  " + p.command)
            }
        default:
            runtime.fail("invalid format option \"\(format)\": table or json")
        }
    }
}

/// Sends one request to a container's sentry and fails with its error, if any.
private func request(_ id: String, _ req: ControlRequest, runtime: RuntimeOptions) {
    let sock = connectOrFail(id, runtime: runtime)
    defer { close(sock) }
    guard ControlChannel.send(sock, req), let (reply, _) = ControlChannel.receive(sock, as: ControlReply.self) else {
        runtime.fail("the sentry of container \(id) did not answer")
    }
    if let error = reply.error { runtime.fail(error) }
}

struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Suspend every process of a running container (resume goes on).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Argument(help: "The container id.") var id: String

    func run() throws {
        let (lock, state) = runtime.lockedState(id)
        defer { withExtendedLifetime(lock) {} }
        guard state.status == "running" else { runtime.fail("container not running") }
        request(id, ControlRequest(op: "pause"), runtime: runtime)
        guard HostFile.write(runtime.store.pausedMarker(id), []) else {
            request(id, ControlRequest(op: "resume"), runtime: runtime)
            runtime.fail("cannot write \(runtime.store.pausedMarker(id)): \(String(cString: strerror(errno)))")
        }
    }
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume a paused container.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Argument(help: "The container id.") var id: String

    func run() throws {
        let (lock, state) = runtime.lockedState(id)
        defer { withExtendedLifetime(lock) {} }
        guard state.status == "paused" else { runtime.fail("container not paused") }
        request(id, ControlRequest(op: "resume"), runtime: runtime)
        unlink(runtime.store.pausedMarker(id))
    }
}

struct Update: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "update", abstract: "Change a running container's resource limits (pids; memory only to its value at create).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Option(name: [.short, .long], help: ArgumentHelp("linux.resources as JSON, from this file (- for stdin).", valueName: "file"))
    var resources: String?
    @Option(help: "The most tasks (threads) the container may have; 0 or -1: no limit.") var pidsLimit: Int64?
    @Option(help: "Memory limit in bytes (or with k, m, g).") var memory: String?
    // runc's other knobs: accepted, and said in the log to have no effect (the sentry applies
    // only the pids and memory limits; the container's cgroup gets only their backstops).
    @Option var blkioWeight: String?
    @Option var cpuPeriod: String?
    @Option var cpuQuota: String?
    @Option var cpuShare: String?
    @Option var cpuRtPeriod: String?
    @Option var cpuRtRuntime: String?
    @Option var cpusetCpus: String?
    @Option var cpusetMems: String?
    @Option var kernelMemory: String?
    @Option var kernelMemoryTcp: String?
    @Option var memoryReservation: String?
    @Option var memorySwap: String?
    @Option var l3CacheSchema: String?
    @Option var memBwSchema: String?
    @Argument(help: "The container id.") var id: String

    func run() throws {
        let state: ContainerState
        do { state = try runtime.store.load(id) } catch { runtime.fail(error.message) }
        guard state.status == "running" || state.status == "paused" || state.status == "created" else {
            runtime.fail("cannot update a container that has stopped")
        }
        var req = ControlRequest(op: "update")
        if let resources {
            let data: [UInt8]?
            if resources == "-" {
                var bytes = [UInt8]()
                var buf = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = read(0, &buf, buf.count)
                    if n > 0 { bytes += buf[0..<n]; continue }
                    if n < 0 && errno == EINTR { continue }
                    break
                }
                data = bytes
            } else {
                data = HostFile.read(resources)
            }
            guard let data, let json = try? JSONValue.parse(data), case .object(let keys) = json,
                  let pids = limit(json["pids"]), let memory = limit(json["memory"]) else {
                runtime.fail("--resources \(resources): not a JSON object of linux.resources")
            }
            req.pidsLimit = pids
            req.memoryLimit = memory
            for key in keys.keys.sorted() where key != "pids" && key != "memory" {
                runtime.report("warning", "update: \(key) is not applied by Joey", quiet: true)
            }
        }
        if let pidsLimit { req.pidsLimit = pidsLimit }
        if let memory {
            guard let bytes = parseSize(memory) else { runtime.fail("--memory \(memory): not a size") }
            req.memoryLimit = bytes
        }
        let ignored: [(String, String?)] = [("--blkio-weight", blkioWeight), ("--cpu-period", cpuPeriod), ("--cpu-quota", cpuQuota),
                                            ("--cpu-share", cpuShare), ("--cpu-rt-period", cpuRtPeriod), ("--cpu-rt-runtime", cpuRtRuntime),
                                            ("--cpuset-cpus", cpusetCpus), ("--cpuset-mems", cpusetMems), ("--kernel-memory", kernelMemory),
                                            ("--kernel-memory-tcp", kernelMemoryTcp), ("--memory-reservation", memoryReservation),
                                            ("--memory-swap", memorySwap), ("--l3-cache-schema", l3CacheSchema), ("--mem-bw-schema", memBwSchema)]
        for (flag, value) in ignored where value != nil { runtime.report("warning", "update: \(flag) is not applied by Joey", quiet: true) }
        request(id, req, runtime: runtime)
        // The sentry holds the guest to the new limit; the container's cgroup follows it.
        if let limit = req.pidsLimit, let config = try? OCIConfig.load(bundle: state.bundle),
           let path = config.cgroupsPath {
            for problem in ContainerCgroup.setPidsLimit(path, limit) { runtime.report("warning", problem, quiet: true) }
        }
    }

    /// The `limit` of linux.resources' pids or memory member, which update applies: .some(nil)
    /// when the member or its limit is missing or null, nil when they are not an object and
    /// an integer.
    private func limit(_ member: JSONValue?) -> Int64?? {
        guard let member, member != .null else { return .some(nil) }
        guard case .object = member else { return nil }
        guard let l = member["limit"], l != .null else { return .some(nil) }
        guard let n = l.integer(Int64.self) else { return nil }
        return .some(n)
    }

    /// Bytes, or with a k, m or g suffix (runc's units); nil when malformed.
    private func parseSize(_ s: String) -> Int64? {
        let lower = s.lowercased()
        let units: [(String, Int64)] = [("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30), ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("b", 1)]
        for (suffix, factor) in units where lower.hasSuffix(suffix) {
            return Int64(lower.dropLast(suffix.count)).map { $0 * factor }
        }
        return Int64(lower)
    }
}

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "Print a container's resource statistics as JSON.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Flag(help: "Print the statistics once and exit.") var stats = false
    @Option(help: "Seconds between statistics (default 5).") var interval: String = "5s"
    @Argument(help: "The container id.") var id: String

    func run() throws {
        let seconds = Double(interval.hasSuffix("s") ? String(interval.dropLast()) : interval) ?? 5
        repeat {
            _ = runningState(id, runtime: runtime, verb: "read the events of")
            let sock = connectOrFail(id, runtime: runtime)
            guard ControlChannel.send(sock, ControlRequest(op: "stats")),
                  let (reply, _) = ControlChannel.receive(sock, as: ControlReply.self) else {
                runtime.fail("the sentry did not answer")
            }
            close(sock)
            let pids = reply.processes?.count ?? 0
            writeStdout("{\"type\":\"stats\",\"id\":\(jsonString(id)),\"data\":{\"cpu\":{\"usage\":{\"total\":\(reply.cpuNanos ?? 0)}},\"pids\":{\"current\":\(pids)}}}\n")
            if stats { return }
            usleep(UInt32(max(0.1, seconds) * 1_000_000))
        } while true
    }
}

struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "features", abstract: "Describe what this runtime supports, as JSON.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions

    /// What `create` applies: the hooks it runs on the host (createContainer and
    /// startContainer would run in the container's namespaces, which are the sentry's own),
    /// the mount options Joey's mounts understand (Kernel.applyMount, MountFlags.parse), and
    /// the namespaces the guest gets (all of them the sentry's, none a host one).
    func run() throws {
        print("""
        {
          "ociVersionMin": "1.0.0",
          "ociVersionMax": "1.0.2",
          "hooks": ["prestart", "createRuntime", "poststart", "poststop"],
          "mountOptions": ["async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "lazytime", "mode",
            "noatime", "nodev", "nodiratime", "noexec", "nosuid", "private", "rbind", "relatime", "ro", "rprivate", "rshared",
            "rslave", "rw", "shared", "size", "slave", "strictatime", "suid", "sync"],
          "linux": {
            "namespaces": ["pid", "mount", "uts", "ipc", "network", "user", "cgroup"],
            "capabilities": [],
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
          },
          "annotations": {
            "io.github.joey.platforms": "systrap,ptrace,kvm (kvm where /dev/kvm is usable)",
            "io.github.joey.note": "every namespace is the guest's own, kept by the sentry (none is a host namespace); linux.resources memory and pids limits are applied by the sentry, and the cgroup at linux.cgroupsPath holds the sentry and its stubs to wider ones (the sentry's own needs beside the guest's); seccomp in config.json is not applied (the guest may install its own filters)"
          }
        }
        """)
    }
}

func writeStdout(_ s: String) {
    var bytes = Array(s.utf8)
    _ = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress, $0.count) }
}
