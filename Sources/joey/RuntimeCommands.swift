// The runc-compatible commands: joey as an OCI runtime (create, start, state, kill, delete,
// list, run, spec). `create` forks the container's sentry (runContainerSentry), which loads
// the program and then waits on exec.fifo until `start`. That sentry is the container's pid:
// it lives exactly as long as the container.
import ArgumentParser
import CJoey
import Glibc
import JoeyKernel
import JoeyOCI
import JoeyPlatform
import JoeySandbox

/// Flags runc callers pass to every command.
struct RuntimeOptions: ParsableArguments {
    static let defaultRoot = "/run/joey", defaultLogFormat = "text"

    @Option(help: ArgumentHelp("Where container state lives.", valueName: "dir"))
    var root: String = RuntimeOptions.defaultRoot

    @Option(help: ArgumentHelp("Also write errors and warnings to this file.", valueName: "file"))
    var log: String?

    @Option(help: ArgumentHelp("Format of --log: text or json.", valueName: "format"))
    var logFormat: String = RuntimeOptions.defaultLogFormat

    @Flag(help: "Accepted for runc compatibility: a cgroupsPath slice:prefix:name (the systemd driver's) is the directory systemd gives that scope, made through cgroupfs, with this flag or without.")
    var systemdCgroup = false

    @Option(help: ArgumentHelp("Accepted for runc compatibility (true, false or auto).", valueName: "value"))
    var rootless: String?

    @Option(help: ArgumentHelp("Accepted for runc compatibility; checkpointing is not supported.", valueName: "path"))
    var criu: String?

    var store: ContainerStore { ContainerStore(root: root) }

    /// Writes a line to --log (text or JSON, as runc does) and, for errors, to stderr; a
    /// warning goes to stderr (unless `quiet`) only without --log: a shim's runtime stderr is
    /// the container's, and runc keeps its warnings out of it.
    func report(_ level: String, _ message: String, quiet: Bool = false) {
        RuntimeOptions.report(level, message, log: log, logFormat: logFormat, quiet: quiet)
    }

    static func report(_ level: String, _ message: String, log: String?, logFormat: String, quiet: Bool = false) {
        if level == "error" { writeStderr("joey: \(message)\n") }
        if level == "warning" && !quiet && log == nil { writeStderr("joey: warning: \(message)\n") }
        guard let log else { return }
        append(level, message, log: log, logFormat: logFormat)
    }

    /// One line in the --log file.
    static func append(_ level: String, _ message: String, log: String, logFormat: String) {
        let fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let now = rfc3339Now()
        let line = logFormat == "json"
            ? "{\"level\":\(jsonString(level)),\"msg\":\(jsonString(message)),\"time\":\(jsonString(now))}\n"
            : "time=\"\(now)\" level=\(level) msg=\(jsonString(message))\n"
        var bytes = Array(line.utf8)
        _ = write(fd, &bytes, bytes.count)
    }

    /// Notes accepted-but-ignored flags in the debug log.
    func noteIgnoredFlags(debug: Bool, _ extra: [(String, Bool)] = []) {
        guard debug else { return }
        var ignored: [String] = []
        if systemdCgroup { ignored.append("--systemd-cgroup") }
        if rootless != nil { ignored.append("--rootless") }
        if criu != nil { ignored.append("--criu") }
        ignored += extra.filter { $0.1 }.map { $0.0 }
        for flag in ignored { report("debug", "\(flag) is accepted and has no effect under Joey") }
        if !ignored.isEmpty { writeStderr("joey[debug]: ignored flags: \(ignored.joined(separator: " "))\n") }
    }

    func fail(_ message: String) -> Never {
        report("error", message)
        Glibc.exit(1)
    }

    /// Locks a container and reads its state, or fails as runc does (unknown id...). The
    /// lock is held while the returned ContainerLock lives.
    func lockedState(_ id: String) -> (ContainerLock, ContainerState) {
        do {
            let lock = try store.lock(id)
            return (lock, try store.load(id))
        } catch { fail(error.message) }
    }
}

// MARK: create / run

struct CreateOptions: ParsableArguments {
    static let defaultBundle = "."

    @Option(name: [.short, .long], help: ArgumentHelp("The bundle directory (holding config.json).", valueName: "dir"))
    var bundle: String = CreateOptions.defaultBundle

    @Option(help: ArgumentHelp("Write the container's pid (its sentry) to this file.", valueName: "file"))
    var pidFile: String?

    @Option(help: ArgumentHelp("Unix socket to send the terminal's master fd to.", valueName: "path"))
    var consoleSocket: String?

    @Flag(help: "Accepted for runc compatibility: the sentry never pivots the host root.")
    var noPivot = false

    @Flag(help: "Do not give the container's processes a session keyring of their own (runc's `_ses.<id>`).")
    var noNewKeyring = false

    @Option(help: ArgumentHelp("Pass this many extra fds (from fd 3) to the container's first process.", valueName: "n"))
    var preserveFds: Int = 0

    @Argument(help: "The container id.")
    var id: String
}

/// A created container: its sentry's pid (the container's pid) and the config it runs.
struct CreatedContainer {
    let pid: pid_t
    let config: OCIConfig
}

/// `create`: checks the bundle, makes the state, starts the sentry and waits until it has
/// loaded the program (or failed). Nothing is left behind on failure.
func createContainer(_ o: CreateOptions, runtime: RuntimeOptions, global: GlobalOptions, foreground: Bool) -> CreatedContainer {
    runtime.noteIgnoredFlags(debug: global.debug, [("--no-pivot", o.noPivot)])
    guard let bundle = realpath(o.bundle, nil).map({ p in defer { free(p) }; return String(cString: p) }) else {
        runtime.fail("bundle \(o.bundle): \(String(cString: strerror(errno)))")
    }
    let config: OCIConfig
    do { config = try OCIConfig.load(bundle: bundle) } catch { runtime.fail(error.message) }
    guard let process = config.process else { runtime.fail("\(bundle)/config.json: process: required field is missing") }
    if process.terminal && !foreground && o.consoleSocket == nil {
        runtime.fail("cannot allocate tty if joey will detach without setting console socket")
    }
    if o.consoleSocket != nil && !process.terminal {
        runtime.fail("--console-socket given, but process.terminal is false in config.json")
    }
    guard o.preserveFds >= 0 && o.preserveFds < 1024 else { runtime.fail("--preserve-fds must be between 0 and 1023") }
    for w in config.warnings { runtime.report("warning", "\(bundle)/config.json: \(w) is not supported and is ignored") }
    // These run inside the container's namespaces under runc; Joey's container has no host
    // namespaces for them to enter.
    for kind in ["createContainer", "startContainer"] where !(config.hooks[kind] ?? []).isEmpty {
        runtime.report("warning", "\(bundle)/config.json: hooks.\(kind) is not supported and is ignored")
    }

    let lock: ContainerLock
    do { lock = try runtime.store.create(o.id) } catch { runtime.fail(error.message) }
    defer { withExtendedLifetime(lock) {} } // held until created
    let store = runtime.store
    guard mkfifo(store.fifo(o.id), 0o600) == 0 else {
        store.remove(o.id)
        runtime.fail("cannot create \(store.fifo(o.id)): \(String(cString: strerror(errno)))")
    }

    // The sentry reports on a pipe placed after the preserved fds.
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { store.remove(o.id); runtime.fail("pipe: \(String(cString: strerror(errno)))") }
    _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
    _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
    let readyFD = Int32(3 + o.preserveFds)
    let launch = SentryLaunch(bundle: bundle, readyFD: readyFD, preserveFds: o.preserveFds, foreground: foreground,
                              terminal: o.consoleSocket != nil, id: o.id, newKeyring: !o.noNewKeyring)

    // A terminal container: a new pty; the master goes to --console-socket (as runc sends it),
    // the slave is the sentry's stdio and becomes its controlling terminal.
    var dups: [(from: Int32, to: Int32)] = []
    var slave: Int32 = -1
    if let socketPath = o.consoleSocket {
        do { slave = try sendNewTerminal(to: socketPath) } catch {
            store.remove(o.id)
            runtime.fail(error.message)
        }
        for target in Int32(0)...2 { dups.append((slave, target)) }
    }
    defer { if slave >= 0 { close(slave) } }
    dups.append((fds[1], readyFD))
    // The sentry starts with default signal handling and nothing blocked, as pid 1 of a pid
    // namespace of its own (unless unconfined): what runc gives a container's init. Forked,
    // not executed again: what this process has parsed and decoded is the sentry's too.
    let (pid, r) = forkSentry(dups: dups, newPidNamespace: !global.unconfined) {
        runContainerSentry(launch, config: config, global: global, runtime: runtime)
    }
    close(fds[1])
    guard r == 0 else {
        close(fds[0])
        store.remove(o.id)
        runtime.fail("cannot start the container's sentry: \(String(cString: strerror(r)))")
    }
    // "ok", or "error <exit code> <message>"; EOF without a word means it died.
    var reply = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fds[0], &buf, buf.count)
        if n > 0 { reply += buf[0..<n]; continue }
        if n < 0 && errno == EINTR { continue }
        break
    }
    close(fds[0])
    let text = String(decoding: reply, as: UTF8.self)
    guard text.hasPrefix("ok") else {
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        store.remove(o.id)
        if let path = config.cgroupsPath { ContainerCgroup.remove(path) }
        let parts = text.split(separator: " ", maxSplits: 2)
        var message = parts.count == 3 ? String(parts[2]) : "the container's sentry exited before it was ready (wait status \(status))"
        if message.hasPrefix("joey: ") { message.removeFirst(6) } // report() names joey itself
        runtime.report("error", message)
        let code = parts.count == 3 ? Int32(parts[1]) ?? 1 : 1
        Glibc.exit(code == 0 ? 1 : code)
    }
    let state = ContainerState(id: o.id, pid: pid, bundle: bundle, rootfs: config.rootPath, annotations: config.annotations)
    do { try store.save(state) } catch {
        kill(pid, SIGKILL)
        store.remove(o.id)
        runtime.fail(error.message)
    }
    // The sandbox exists and its program has not run: the runtime-namespace creation hooks.
    for kind in ["prestart", "createRuntime"] {
        if let failure = runHooks(kind, config.hooks[kind] ?? [], state: state) {
            kill(pid, SIGKILL)
            store.remove(o.id)
            runtime.fail(failure)
        }
    }
    if let pidFile = o.pidFile {
        do { try writePidFile(pidFile, pid) } catch {
            kill(pid, SIGKILL)
            store.remove(o.id)
            runtime.fail(error.message)
        }
    }
    return CreatedContainer(pid: pid, config: config)
}

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", _superCommandName: "joey", abstract: "Create a container from a bundle; `start` runs its program.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup var options: CreateOptions

    func run() throws {
        _ = createContainer(options, runtime: runtime, global: global, foreground: false)
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", _superCommandName: "joey", abstract: "Create and start a container; without --detach, wait for it and exit with its status.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup var options: CreateOptions
    @Flag(name: [.short, .long], help: "Return once the container has started.")
    var detach = false

    func run() throws {
        // Terminal signals reach the sentry directly (it shares our process group); the
        // rest are passed on to it below.
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGINT, SIGQUIT, SIGTSTP, SIGWINCH] { sigaddset(&set, s) }
        if !detach { pthread_sigmask(SIG_BLOCK, &set, nil) }
        let created = createContainer(options, runtime: runtime, global: global, foreground: !detach)
        startContainer(options.id, runtime: runtime, config: created.config)
        if detach { return }
        let pid = created.pid
        let waitSet = set
        detachThread {
            var set = waitSet
            while true {
                var sig: Int32 = 0
                guard sigwait(&set, &sig) == 0 else { continue }
                if [SIGINT, SIGQUIT, SIGTSTP, SIGWINCH].contains(sig) { continue }
                kill(pid, sig)
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if let lock = try? runtime.store.lock(options.id) {
            withExtendedLifetime(lock) {
                if let state = try? runtime.store.load(options.id) { removeContainer(state, runtime: runtime) }
            }
        }
        // The sentry already exits as a shell would report the guest.
        exitLikeShell(status)
    }
}

/// What the forked sentry is told beyond the CLI's options and the bundle's config.
struct SentryLaunch {
    let bundle: String
    /// Where it reports "ok" (the program is loaded) or "error <exit code> <message>".
    let readyFD: Int32
    let preserveFds: Int
    let foreground: Bool
    /// Its stdio is a pty of its own, to become the session's controlling terminal.
    let terminal: Bool
    let id: String
    /// Its processes get a session keyring of their own (not `create --no-new-keyring`).
    let newKeyring: Bool
}

/// The container's sentry, in the process `create` forked: sets up what a container's init
/// has, runs the sandbox, and exits as a shell would report the guest.
func runContainerSentry(_ launch: SentryLaunch, config: OCIConfig, global: GlobalOptions, runtime: RuntimeOptions) -> Never {
    let ready = launch.readyFD, id = launch.id
    // Open until the program is loaded and the sentry said "ok".
    var readyOpen = true
    func tell(_ s: String) {
        var b = Array(s.utf8)
        _ = write(ready, &b, b.count)
    }
    func failEarly(_ message: String, code: Int32 = 1) -> Never {
        tell("error \(code) \(message)")
        Glibc.exit(code)
    }
    // Detached containers get their own session: the caller's terminal signals are not theirs.
    // A terminal container's pty (our stdio) becomes that session's controlling terminal,
    // so ^C typed into it signals the sentry, which passes it to the guest's foreground job.
    // Confined, it is pid 1 of its own pid namespace (see forkSentry): its /proc first.
    if !global.unconfined {
        guard getpid() == 1 else { failEarly("cannot confine the sentry: it is not pid 1 of a pid namespace of its own (--unconfined runs without it)", code: 125) }
        if let problem = NetworkNamespace.mountOwnProc() {
            failEarly("cannot confine the sentry: \(problem) (--unconfined runs without it)", code: 125)
        }
    }
    if !launch.foreground { setsid() }
    if launch.terminal && joey_set_controlling_tty(0) != 0 {
        failEarly("cannot make the pty the container's terminal: \(String(cString: strerror(errno)))")
    }
    // Into the container's cgroup before anything is started: the stubs follow.
    if let path = config.cgroupsPath {
        let problems = ContainerCgroup.create(path, memoryLimit: config.memoryLimit, pidsLimit: config.pidsLimit)
            + ContainerCgroup.join(path)
        for p in problems { runtime.report("warning", p, quiet: true) }
    }
    let spec: SandboxSpec
    do {
        spec = try SandboxSpec(oci: config, id: id, preservedFDs: launch.preserveFds, newKeyring: launch.newKeyring,
                               file: "\(launch.bundle)/config.json")
    } catch { failEarly(error.message) }
    if let problem = NetworkNamespace.enter(config) { failEarly(problem) }
    if !global.unconfined, let problem = NetworkNamespace.enterPrivate() {
        failEarly("cannot confine the sentry: \(problem) (--unconfined runs without it)", code: 125)
    }
    signal(SIGPIPE, SIG_IGN)
    Kernel.blockForwardedSignals(all: spec.forwardAllSignalsToInit)
    let fifoPath = runtime.store.fifo(id)
    var listener: Int32 = -1
    let status = runSandbox(spec, global: global, container: true, onConfined: { kernel in
        ControlChannel.serve(listener, kernel: kernel)
    }, beforeStart: { () throws(KernelError) in
        tell("ok")
        close(ready)
        readyOpen = false
        // Blocks until `start` opens the fifo for reading.
        let fd = open(fifoPath, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw KernelError("joey: cannot open \(fifoPath): \(String(cString: strerror(errno)))") }
        var zero: UInt8 = 0x30
        _ = write(fd, &zero, 1)
        close(fd)
    }, onKernel: { kernel throws(KernelError) in
        // Every default spec has these (sysfs, mqueue...): noted in the log, not on stderr.
        for w in kernel.mountWarnings { runtime.report("warning", w, quiet: true) }
        listener = try ControlChannel.listen(directory: runtime.store.directory(id))
    }, onError: { e in
        guard readyOpen else { return false }
        tell("error \(e.exitCode) \(e.message)")
        return true
    })
    exitLikeShell(status)
}


// MARK: start / state / kill / delete / list

/// `config`: the bundle's, when the caller has it decoded already (`run`).
func startContainer(_ id: String, runtime: RuntimeOptions, config: OCIConfig? = nil) {
    let store = runtime.store
    let (lock, state) = runtime.lockedState(id)
    defer { withExtendedLifetime(lock) {} }
    switch state.status {
    case "created": break
    case "running": runtime.fail("cannot start an already running container")
    default: runtime.fail("cannot start a container that has stopped")
    }
    // The sentry holds the fifo open for writing; opening it for reading releases it.
    let fd = open(store.fifo(id), O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { runtime.fail("cannot open \(store.fifo(id)): \(String(cString: strerror(errno)))") }
    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    var byte: UInt8 = 0
    var ok = false
    for _ in 0..<100 {
        if poll(&pfd, 1, 100) > 0, read(fd, &byte, 1) == 1 { ok = true; break }
        if state.status == "created", (try? store.load(id))?.status == "stopped" { break }
    }
    close(fd)
    unlink(store.fifo(id))
    if !ok { runtime.fail("the container's sentry did not start the program") }
    // poststart failures are warnings: the container runs on (runtime spec).
    if let config = config ?? (try? OCIConfig.load(bundle: state.bundle)),
       let failure = runHooks("poststart", config.hooks["poststart"] ?? [], state: (try? store.load(id)) ?? state) {
        runtime.report("warning", failure)
    }
}

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", _superCommandName: "joey", abstract: "Run the program of a created container.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Argument(help: "The container id.") var id: String
    func run() throws { startContainer(id, runtime: runtime) }
}

struct State: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "state", _superCommandName: "joey", abstract: "Print a container's state as JSON.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Argument(help: "The container id.") var id: String
    func run() throws {
        do { print(try runtime.store.load(id).jsonForOutput()) } catch { runtime.fail(error.message) }
    }
}

/// A signal by number or name, with or without the SIG prefix.
func parseSignal(_ s: String) -> Int32? {
    if let n = Int32(s) { return n > 0 && n < 65 ? n : nil }
    var name = s.uppercased()
    if name.hasPrefix("SIG") { name.removeFirst(3) }
    let names = ["HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE",
                 "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ",
                 "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS"]
    if let i = names.firstIndex(of: name) { return Int32(i + 1) }
    if name == "IOT" { return SIGABRT }
    if name == "POLL" { return SIGIO }
    if name.hasPrefix("RTMIN") {
        let rest = name.dropFirst(5)
        if rest.isEmpty { return 34 }
        if rest.hasPrefix("+"), let k = Int32(rest.dropFirst()), 34 + k <= 64 { return 34 + k }
    }
    if name.hasPrefix("RTMAX") {
        let rest = name.dropFirst(5)
        if rest.isEmpty { return 64 }
        if rest.hasPrefix("-"), let k = Int32(rest.dropFirst()), 64 - k >= 34 { return 64 - k }
    }
    return nil
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kill", _superCommandName: "joey", abstract: "Send a signal (default SIGTERM) to a container's init.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Flag(name: [.short, .long], help: "Signal every process of the container, not only its init.")
    var all = false
    @Argument(help: "The container id.") var id: String
    @Argument(help: "The signal, by name or number.") var signal: String = Kill.defaultSignal
    static let defaultSignal = "SIGTERM"

    func run() throws {
        guard let sig = parseSignal(signal) else { runtime.fail("unknown signal \"\(signal)\"") }
        let (lock, state) = runtime.lockedState(id)
        defer { withExtendedLifetime(lock) {} }
        // A paused container's processes get the signal when it resumes (SIGKILL at once).
        guard ["created", "running", "paused"].contains(state.status) else { runtime.fail("container not running") }
        // --all: every guest process, through the sentry (SIGKILL ends the whole sandbox anyway).
        if all && sig != SIGKILL && state.status != "created",
           let sock = ControlChannel.connect(store: runtime.store.directory(id)) {
            defer { close(sock) }
            if ControlChannel.send(sock, ControlRequest(op: "kill-all", signal: sig)),
               ControlChannel.receive(sock, as: ControlReply.self) != nil { return }
        }
        // The sentry forwards what it receives to the guest's init; SIGKILL ends the sandbox.
        if Glibc.kill(state.pid, sig) != 0 { runtime.fail("kill: \(String(cString: strerror(errno)))") }
    }
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", _superCommandName: "joey", abstract: "Delete a stopped container (--force: any container).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Flag(name: [.short, .long], help: "Kill the container first if it is still running.")
    var force = false
    @Argument(help: "The container id.") var id: String

    func run() throws {
        let store = runtime.store
        let lock: ContainerLock
        do { lock = try store.lock(id) } catch {
            if force { return } // runc: deleting what does not exist with --force succeeds
            runtime.fail(error.message)
        }
        defer { withExtendedLifetime(lock) {} }
        let state: ContainerState
        do { state = try store.load(id) } catch {
            store.remove(id)
            if force { return }
            runtime.fail(error.message)
        }
        switch state.status {
        case "stopped": break
        case "created":
            stopAndWait(state)
        default:
            guard force else { runtime.fail("cannot delete container \(id) that is not stopped: \(state.status)") }
            stopAndWait(state)
        }
        removeContainer(state, runtime: runtime)
    }

    func stopAndWait(_ state: ContainerState) {
        Glibc.kill(state.pid, SIGKILL)
        for _ in 0..<500 {
            if (try? runtime.store.load(state.id))?.status == "stopped" { return }
            usleep(10_000)
        }
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List containers.", aliases: ["ps-all"])
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Option(name: [.short, .long], help: "table or json.") var format: String = "table"
    @Flag(name: [.short, .long], help: "Only the ids.") var quiet = false

    func run() throws {
        let states = runtime.store.ids().compactMap { try? runtime.store.load($0) }
        if quiet {
            for s in states { print(s.id) }
            return
        }
        switch format {
        case "json":
            print("[" + states.map { String($0.jsonForOutput().filter { $0 != "\n" }) }.joined(separator: ",") + "]")
        case "table":
            let rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]] + states.map {
                [$0.id, String($0.status == "stopped" ? 0 : $0.pid), $0.status, $0.bundle, $0.created, $0.owner.isEmpty ? "root" : $0.owner]
            }
            let widths = (0..<6).map { c in rows.map { $0[c].count }.max()! }
            for r in rows {
                print(r.enumerated().map { $0.offset == 5 ? $0.element : padded($0.element, widths[$0.offset] + 3) }.joined())
            }
        default:
            runtime.fail("invalid format option \"\(format)\": table or json")
        }
    }
}

// MARK: spec

struct Spec: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "spec", abstract: "Write a default config.json into the bundle.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("The bundle directory.", valueName: "dir"))
    var bundle: String = "."
    @Flag(help: "Accepted for runc compatibility (the sentry needs no user namespace).")
    var rootless = false

    func run() throws {
        let path = joinPath(bundle, "config.json")
        if HostFile.exists(path) {
            fail("joey: File \(path) exists. Remove it first", code: 1)
        }
        guard HostFile.write(path, Array(Self.defaultConfig.utf8)) else {
            fail("joey: cannot write \(path): \(String(cString: strerror(errno)))", code: 1)
        }
    }

    /// The same shape as `runc spec`: sh in ./rootfs, read-only root, the usual mounts.
    static let defaultConfig = """
    {
    \t"ociVersion": "1.0.2",
    \t"process": {
    \t\t"terminal": true,
    \t\t"user": {
    \t\t\t"uid": 0,
    \t\t\t"gid": 0
    \t\t},
    \t\t"args": [
    \t\t\t"sh"
    \t\t],
    \t\t"env": [
    \t\t\t"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    \t\t\t"TERM=xterm"
    \t\t],
    \t\t"cwd": "/",
    \t\t"capabilities": {
    \t\t\t"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
    \t\t\t"effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
    \t\t\t"permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
    \t\t\t"ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    \t\t},
    \t\t"rlimits": [
    \t\t\t{
    \t\t\t\t"type": "RLIMIT_NOFILE",
    \t\t\t\t"hard": 1024,
    \t\t\t\t"soft": 1024
    \t\t\t}
    \t\t],
    \t\t"noNewPrivileges": true
    \t},
    \t"root": {
    \t\t"path": "rootfs",
    \t\t"readonly": true
    \t},
    \t"hostname": "joey",
    \t"mounts": [
    \t\t{"destination": "/proc", "type": "proc", "source": "proc"},
    \t\t{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    \t\t{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    \t\t{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    \t\t{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    \t\t{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
    \t],
    \t"linux": {
    \t\t"resources": {
    \t\t\t"devices": [
    \t\t\t\t{"allow": false, "access": "rwm"}
    \t\t\t]
    \t\t},
    \t\t"namespaces": [
    \t\t\t{"type": "pid"},
    \t\t\t{"type": "network"},
    \t\t\t{"type": "ipc"},
    \t\t\t{"type": "uts"},
    \t\t\t{"type": "mount"}
    \t\t],
    \t\t"maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    \t\t\t"/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    \t\t"readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    \t}
    }

    """
}

// MARK: hooks

/// Forgets a stopped container, then runs its poststop hooks (failures are warnings).
func removeContainer(_ state: ContainerState, runtime: RuntimeOptions) {
    runtime.store.remove(state.id)
    var stopped = state
    stopped.status = "stopped"
    guard let config = try? OCIConfig.load(bundle: state.bundle) else { return }
    if let path = config.cgroupsPath { ContainerCgroup.remove(path) }
    if let failure = runHooks("poststop", config.hooks["poststop"] ?? [], state: stopped) {
        runtime.report("warning", failure)
    }
}

/// Runs the config's hooks of one kind on the host, each with the container's state as JSON
/// on stdin, as the runtime spec says. Returns the first failure.
func runHooks(_ kind: String, _ hooks: [OCIConfig.Hook], state: ContainerState) -> String? {
    for hook in hooks {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return "hook \(hook.path): pipe: \(String(cString: strerror(errno)))" }
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        var pid: pid_t = 0
        let r = withCStringArray(hook.args.isEmpty ? [hook.path] : hook.args) { argv in
            withCStringArray(hook.env) { envp in posix_spawn(&pid, hook.path, &actions, nil, argv, envp) }
        }
        posix_spawn_file_actions_destroy(&actions)
        close(fds[0])
        guard r == 0 else {
            close(fds[1])
            return "\(kind) hook \(hook.path): \(String(cString: strerror(r)))"
        }
        // A hook need not read its stdin. If it exits first, the write raises SIGPIPE, also
        // when part of the state was written (the write then returns that count, not EPIPE):
        // the signal is blocked while writing and any pending one consumed before unblocking.
        var pipeSignal = sigset_t(), saved = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &saved)
        let json = Array(state.jsonForOutput().utf8)
        json.withUnsafeBytes { bytes in
            var done = 0
            while done < bytes.count {
                let n = write(fds[1], bytes.baseAddress! + done, bytes.count - done)
                if n > 0 { done += n } else if n < 0 && errno == EINTR { continue } else { break }
            }
        }
        var none = timespec()
        while sigtimedwait(&pipeSignal, nil, &none) == SIGPIPE {}
        pthread_sigmask(SIG_SETMASK, &saved, nil)
        close(fds[1])
        var status: Int32 = 0
        let deadline = hook.timeout.map { monotonicSeconds() + Double($0) }
        while true {
            let w = waitpid(pid, &status, deadline == nil ? 0 : WNOHANG)
            if w == pid { break }
            if w < 0 && errno != EINTR { break }
            if let deadline, monotonicSeconds() > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                return "\(kind) hook \(hook.path) timed out after \(hook.timeout!) s"
            }
            if deadline != nil { usleep(10_000) }
        }
        if status != 0 {
            let how = status & 0x7f == 0 ? "exit status \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
            return "\(kind) hook \(hook.path) failed: \(how)"
        }
    }
    return nil
}

/// A new pty whose master is sent to an OCI --console-socket (with SCM_RIGHTS, as runc does);
/// returns the slave, which becomes the process's terminal.
func sendNewTerminal(to socketPath: String) throws(OCIError) -> Int32 {
    var master: Int32 = -1, slave: Int32 = -1
    let r = joey_open_pty(&master, &slave)
    guard r == 0 else { throw OCIError("cannot open a pty: \(String(cString: strerror(Int32(-r))))") }
    defer { close(master) }
    let sock = joey_unix_connect_stream(socketPath)
    guard sock >= 0 else {
        close(slave)
        throw OCIError("cannot connect to --console-socket \(socketPath): \(String(cString: strerror(Int32(-sock))))")
    }
    defer { close(Int32(sock)) }
    let name = Array("/dev/ptmx".utf8)
    let sent = name.withUnsafeBytes { b in [master].withUnsafeBufferPointer { f in
        joey_send_with_fds(Int32(sock), b.baseAddress, UInt64(b.count), f.baseAddress, 1) } }
    guard sent >= 0 else {
        close(slave)
        throw OCIError("cannot send the terminal to --console-socket \(socketPath): \(String(cString: strerror(Int32(-sent))))")
    }
    return slave
}

/// Forks the container's sentry, which runs `sentry` with `dups` applied in order and every
/// descriptor this process marked close-on-exec closed, as an execve would (the state lock,
/// the ready pipe's read end); in a new pid namespace when asked. The pid and 0, or an errno.
/// Call before any thread starts.
func forkSentry(dups: [(from: Int32, to: Int32)], newPidNamespace: Bool, _ sentry: () -> Never) -> (pid_t, Int32) {
    let r = joey_fork_sentry(newPidNamespace ? 1 : 0)
    if r < 0 { return (0, Int32(-r)) }
    if r > 0 { return (pid_t(r), 0) }
    for d in dups {
        if d.from == d.to {
            if fcntl(d.to, F_SETFD, 0) != 0 { _exit(127) }
        } else if dup2(d.from, d.to) < 0 {
            _exit(127)
        }
    }
    closeOnExecDescriptors()
    sentry()
}

/// Closes every descriptor marked close-on-exec.
private func closeOnExecDescriptors() {
    guard let dir = opendir("/proc/self/fd") else { _exit(127) }
    var found: [Int32] = []
    while let entry = readdir(dir) {
        let fd = withUnsafeBytes(of: entry.pointee.d_name) { name in
            Int32(String(decoding: name.prefix { $0 != 0 }, as: UTF8.self))
        }
        if let fd { found.append(fd) }
    }
    let own = dirfd(dir)
    closedir(dir)
    for fd in found where fd != own && fcntl(fd, F_GETFD) & FD_CLOEXEC != 0 { close(fd) }
}

/// Runs `body` with `strings` as a NULL-terminated array of C strings (argv, envp).
func withCStringArray<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    let c = strings.map { strdup($0) } + [nil]
    defer { c.forEach { free($0) } }
    return body(c)
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Writes a pid file the way runc does: whole or not at all (written aside, then renamed).
func writePidFile(_ path: String, _ pid: pid_t) throws(OCIError) {
    let tmp = path + ".tmp"
    guard HostFile.write(tmp, Array("\(pid)".utf8)), rename(tmp, path) == 0 else {
        throw OCIError("cannot write --pid-file \(path): \(String(cString: strerror(errno)))")
    }
}
