// exec, ps, events, features: the runtime commands that talk to a running container's
// sentry over its control channel (or, for features, describe Joey itself).
import ArgumentParser
import CJoey
import FoundationEssentials
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
        let r = withCStringArray(args) { posix_spawn(&pid, "/proc/self/exe", nil, nil, $0, environ) }
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
        _ = runningState(id, runtime: runtime, verb: "list the processes of")
        let sock = connectOrFail(id, runtime: runtime)
        defer { close(sock) }
        guard ControlChannel.send(sock, ControlRequest(op: "ps")),
              let (reply, _) = ControlChannel.receive(sock, as: ControlReply.self), let list = reply.processes else {
            runtime.fail("the sentry did not answer")
        }
        switch format {
        case "json":
            print("[" + list.map { String($0.pid) }.joined(separator: ",") + "]")
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
            "cgroup": {"v1": false, "v2": false, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
          },
          "annotations": {
            "io.github.joey.platforms": "systrap,ptrace,kvm (kvm where /dev/kvm is usable)",
            "io.github.joey.note": "every namespace is the guest's own, kept by the sentry (none is a host namespace); linux.resources memory and pids limits are applied by the sentry, not through cgroups; seccomp in config.json is not applied (the guest may install its own filters)"
          }
        }
        """)
    }
}

func writeStdout(_ s: String) {
    var bytes = Array(s.utf8)
    _ = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress, $0.count) }
}
