// joey: the command line. `joey do` runs a program in a fresh sandbox; the runc-compatible
// commands (RuntimeCommands.swift) run OCI bundles.
import ArgumentParser
import CJoey
import Glibc
import JoeyABI
import JoeyKernel
import JoeyOCI
import JoeyPlatform
import JoeySandbox

// Every command names itself (commandName): ArgumentParser would otherwise derive each name
// with String(describing:) while building the command tree, a scan of every protocol
// conformance in the binary that cost about a millisecond of every start-up.
@main
struct Joey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "joey",
        abstract: "An application kernel for Linux: runs programs in a sandbox where the sentry answers every system call.",
        version: versionText,
        subcommands: [Do.self, Spec.self, Create.self, Start.self, State.self, Kill.self, Delete.self, List.self, Run.self, Exec.self, Ps.self, Events.self, Pause.self, Resume.self, Update.self, Features.self, Syscalls.self, DebugCommand.self, ExecWait.self])

    /// `joey --version`, in runc's shape (callers such as containerd log it).
    static var versionText: String {
        let seccomp = joey_libseccomp_version()
        return """
        joey version 0.1.0
        commit: \(String(cString: joey_build_commit()))
        spec: 1.0.2
        platforms: systrap, ptrace, kvm
        libseccomp: \(seccomp >> 16).\((seccomp >> 8) & 0xff).\(seccomp & 0xff)
        """
    }

    /// Each names `joey` as its `_superCommandName`: parsed as the root, it then skips
    /// ArgumentParser's completion-script check (two more parsers built per start); help and
    /// errors come from the full tree, whose root is Joey, so they read as before.
    static let startPath: [String: ParsableCommand.Type] = [
        "do": Do.self, "create": Create.self, "start": Start.self, "run": Run.self,
        "state": State.self, "delete": Delete.self, "kill": Kill.self,
    ]

    /// Usage errors exit with 2 (as runc and most Unix tools do), not sysexits' 64.
    static func main() {
        let args = GlobalOptions.movedAfterSubcommand(Array(CommandLine.arguments.dropFirst()))
        // The commands each sandbox's start goes through (`do` and what a container engine
        // calls per container) parse their own arguments only: building the whole command
        // tree reflects on every command's options, milliseconds of each start. The plainest
        // lines of the per-container commands are read by hand (QuickCommandLine). Anything
        // such a command does not parse cleanly (help, a usage error) goes the full way, for
        // the full message.
        if let name = args.first, var command = QuickCommandLine.parse(args)
            ?? startPath[name].flatMap({ try? $0.parseAsRoot(Array(args.dropFirst())) }) {
            do { try command.run() } catch { exit(withError: error) }
            return
        }
        do {
            var command = try parseAsRoot(args)
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code.rawValue == 64 {
                let message = fullMessage(for: error)
                writeStderr(message + "\n")
                // A shim reads the error from --log: this one, not an older line there.
                if let log = optionValue("--log", in: args) {
                    var first = message.split(separator: "\n").first.map(String.init) ?? message
                    if first.hasPrefix("Error: ") { first.removeFirst(7) }
                    RuntimeOptions.append("error", first, log: log, logFormat: optionValue("--log-format", in: args) ?? "text")
                }
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// The value of `--name value` or `--name=value` in arguments that did not parse.
private func optionValue(_ name: String, in args: [String]) -> String? {
    for (i, a) in args.enumerated() {
        if a == "--" { return nil }
        if a == name { return i + 1 < args.count ? args[i + 1] : nil }
        if a.hasPrefix(name + "=") { return String(a.dropFirst(name.count + 1)) }
    }
    return nil
}

/// Options every command that runs a sandbox takes. They may also be written before the
/// subcommand (`joey --debug do ...`), as runc and runsc accept.
struct GlobalOptions: ParsableArguments {
    /// Options that take a value, so `--platform X` moves as a pair.
    static let valued: Set<String> = ["--platform", "--strace-syscalls", "--strace-log", "--root", "--log", "--log-format", "--rootless", "--criu"]

    /// Moves global options written before the subcommand name to just after it.
    static func movedAfterSubcommand(_ args: [String]) -> [String] {
        var leading: [String] = []
        var i = 0
        while i < args.count, args[i].hasPrefix("-"), args[i] != "--", args[i] != "-h", args[i] != "--help", args[i] != "--version" {
            leading.append(args[i])
            if valued.contains(args[i]), i + 1 < args.count { leading.append(args[i + 1]); i += 1 }
            i += 1
        }
        guard i < args.count, !leading.isEmpty else { return args }
        return [args[i]] + leading + Array(args[(i + 1)...])
    }

    @Option(help: "How guest system calls are caught: systrap (default), ptrace or kvm. The environment variable JOEY_PLATFORM sets the default.")
    var platform: String = ProcessEnvironment.platformDefault

    @Flag(help: "Write the sentry's debug log (unimplemented syscalls, platform events, and at the end how many system calls trapped and how many went through patched sites) to stderr.")
    var debug = false

    @Flag(help: "Run the sentry without its confinement (namespaces, an empty root, the seccomp allow-list, reduced capabilities, no_new_privs): for diagnosing only.")
    var unconfined = false

    @Flag(inversion: .prefixedNo, help: "Let systrap rewrite a guest's `mov $N, %eax; syscall` sequences into jumps that enter the sentry without a signal (--no-syscall-patching: every call traps, for debugging). JOEY_SYSCALL_PATCHING=0 turns it off too.")
    var syscallPatching = ProcessEnvironment.syscallPatchingDefault

    @Flag(help: "Print every guest system call in strace's format (to stderr, or --strace-log).")
    var strace = false

    @Option(help: ArgumentHelp("With --strace: only these syscalls (comma-separated names).", valueName: "names"))
    var straceSyscalls: String?

    @Option(help: ArgumentHelp("With --strace: write the trace to this file.", valueName: "file"))
    var straceLog: String?

    @Flag(help: "With --strace: show the time spent in each call, like strace -T.")
    var straceTiming = false

    /// The strace settings these flags ask for, or nil when tracing is off.
    func straceOptions() throws -> StraceOptions? {
        guard strace || straceSyscalls != nil || straceLog != nil || straceTiming else { return nil }
        var o = StraceOptions()
        o.timing = straceTiming
        if let list = straceSyscalls {
            let names = Set(list.split(separator: ",").map { trimmed($0) })
            let known = Set(SyscallTable.entries.compactMap { $0?.name })
            if let bad = names.first(where: { !known.contains($0) }) {
                throw ValidationError("--strace-syscalls: '\(bad)' is not a Linux x86-64 syscall name.")
            }
            o.syscalls = names
        }
        if let path = straceLog {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw ValidationError("--strace-log: cannot open \(path): \(String(cString: strerror(errno)))") }
            o.fd = fd
        }
        return o
    }
}

struct Do: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "do", _superCommandName: "joey",
        abstract: "Run a program in a fresh sandbox whose root is the host's / (or --rootfs) behind an in-memory upper layer.")

    @OptionGroup var global: GlobalOptions

    static let defaultRootfs = "/", defaultHostname = "joey", defaultNetwork = "none", defaultPidsLimit = 4096

    @Option(help: ArgumentHelp("Directory to use as the sandbox's root.", valueName: "dir"))
    var rootfs: String = Do.defaultRootfs

    @Flag(help: "Let the guest write through to the root directory on the host (default: changes stay in memory).")
    var rootfsWritable = false

    @Option(help: "The sandbox's hostname.")
    var hostname: String = Do.defaultHostname

    @Option(help: ArgumentHelp("The sandbox's network: 'none' is a loopback-only network inside the sentry (lo, 127.0.0.0/8, ::1), where no host socket is ever made for the guest; 'host' is the host's network, through host sockets the sentry owns and drives for the guest.", valueName: "mode"))
    var network: String = Do.defaultNetwork

    @Option(help: ArgumentHelp("Most tasks (processes and threads) the sandbox may hold; more fail with EAGAIN.", valueName: "n"))
    var pidsLimit: Int = Do.defaultPidsLimit

    @Option(help: ArgumentHelp("Most guest memory (anonymous memory and file data in /tmp, /dev/shm and other in-sandbox files) the sandbox may hold, in bytes or with a K, M or G suffix; past it, file writes fail with ENOSPC and the largest process is killed.", valueName: "size"))
    var memory: String?

    @Argument(parsing: .captureForPassthrough, help: "The program and its arguments.")
    var command: [String] = []

    mutating func validate() throws {
        // The command captures everything after the options, `--help` included.
        if let first = command.first, first == "--help" || first == "-h" { throw CleanExit.helpRequest(Self.self) }
        if let first = command.first, first != "--", first.hasPrefix("-") {
            throw ValidationError("Unknown option '\(first)'.")
        }
        if command.first == "--" { command.removeFirst() }
        guard !command.isEmpty else { throw ValidationError("Missing the program to run.") }
        guard pidsLimit >= 1 else { throw ValidationError("--pids-limit must be at least 1.") }
        guard NetworkMode(rawValue: network) != nil else {
            throw ValidationError("Unknown network '\(network)': choose none or host.")
        }
        if let memory, Do.parseSize(memory) == nil {
            throw ValidationError("--memory '\(memory)': give a size in bytes, or with a K, M or G suffix (e.g. 512M).")
        }
        guard PlatformKind(rawValue: global.platform) != nil else {
            throw ValidationError("Unknown platform '\(global.platform)': choose one of \(PlatformKind.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
    }

    func run() throws {
        // What the program would inherit if the caller ran it directly.
        var mask = sigset_t()
        pthread_sigmask(SIG_SETMASK, nil, &mask)
        var callerMask: UInt64 = 0, callerIgnored: UInt64 = 0
        for sig in Int32(1)...64 {
            if sigismember(&mask, sig) == 1 { callerMask |= 1 << UInt64(sig - 1) }
            if joey_signal_ignored(sig) != 0 { callerIgnored |= 1 << UInt64(sig - 1) }
        }
        // The sentry's namespaces, before any thread exists (see Namespaces.swift).
        if global.unconfined {
            NetworkNamespace.dropPrepared()
        } else if let problem = NetworkNamespace.enterForDo(network: NetworkMode(rawValue: network) ?? .none) {
            fail("joey: cannot confine the sentry: \(problem) (--unconfined runs without it)", code: 125)
        }
        signal(SIGPIPE, SIG_IGN)
        Kernel.blockForwardedSignals() // before any sentry thread exists, so all inherit it
        var env: [String] = []
        var p = environ
        while let e = p.pointee { env.append(String(cString: e)); p += 1 }
        var spec = SandboxSpec(argv: command, env: env)
        spec.rawArgv = Do.rawArguments(matching: command)
        spec.rootPath = rootfs
        spec.rootWritable = rootfsWritable
        spec.hostname = hostname
        spec.resolvableHostname = true
        spec.maxTasks = pidsLimit
        spec.network = NetworkMode(rawValue: network) ?? .none
        spec.memoryLimit = memory.flatMap(Do.parseSize)
        spec.signalMask = callerMask
        spec.ignoredSignals = callerIgnored
        spec.cwd = rootfs == "/" ? currentDirectory() : "/"
        // The guest starts with the caller's identity, as `runsc do` does.
        spec.uid = getuid()
        spec.gid = getgid()
        var groups = [gid_t](repeating: 0, count: 256)
        let n = getgroups(Int32(groups.count), &groups)
        spec.groups = n >= 0 ? Array(groups[0..<Int(n)]) : []
        // And with the caller's resource limits, as a program run from its shell (`ulimit -n`
        // says inside what it says outside).
        for r in 0..<16 {
            var l = rlimit()
            let resource = __rlimit_resource_t(UInt32(r))
            if getrlimit(resource, &l) == 0 { spec.rlimits[r] = (UInt64(l.rlim_cur), UInt64(l.rlim_max)) }
        }
        // Once the guest is done the relay exits with its status, while this process tears
        // down the stubs and the pid namespace.
        let status = runSandbox(spec, global: global, guestDone: { joey_relay_report_exit(shellExitCode($0)) })
        exitLikeShell(status)
    }

    /// The program's arguments as the bytes the caller passed: they are the tail of the
    /// process's own argv (CommandLine.arguments would have replaced bytes that are not UTF-8).
    static func rawArguments(matching command: [String]) -> [[UInt8]]? {
        let argc = Int(CommandLine.argc)
        guard command.count <= argc else { return nil }
        let raw = (argc - command.count..<argc).map { i -> [UInt8] in
            guard let p = CommandLine.unsafeArgv[i] else { return [] }
            return Array(UnsafeRawBufferPointer(start: p, count: strlen(p)))
        }
        // Only when they really are the command (the same text once decoded).
        guard zip(raw, command).allSatisfy({ String(decoding: $0, as: UTF8.self) == $1 }) else { return nil }
        return raw
    }

    /// "512M" -> 536870912; nil for anything that is not a positive size.
    static func parseSize(_ text: String) -> UInt64? {
        let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = Substring(text)
        var unit: UInt64 = 1
        if let last = digits.last?.uppercased().first, let u = units[last] { unit = u; digits = digits.dropLast() }
        guard let n = UInt64(digits), n > 0 else { return nil }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: unit)
        return overflow ? nil : bytes
    }

    func currentDirectory() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return "/" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

}

func fail(_ message: String, code: Int32) -> Never {
    writeStderr(message + "\n")
    Glibc.exit(code)
}

/// Builds the platform and the sentry for `spec` and runs it to the end: pid 1's wait status.
/// `beforeStart` runs once the program is loaded (see Kernel.run). Operator errors exit here.
/// `onConfined` runs once the sentry is confined, before the guest starts: threads of its own
/// (which must be made after the confinement, so they share its root) start there.
func runSandbox(_ spec: SandboxSpec, global: GlobalOptions, container: Bool = false,
                onConfined: (Kernel) -> Void = { _ in },
                beforeStart: () throws(KernelError) -> Void = { () throws(KernelError) in },
                onKernel: (Kernel) throws(KernelError) -> Void = { _ throws(KernelError) in },
                onError: (KernelError) -> Bool = { _ in false },
                guestDone: (Int32) -> Void = { _ in }) -> Int32 {
    // Since Linux 6.16 a process's private futexes hash into a table of its own, sized by
    // the CPUs (16 buckets on 2): with a sentry thread asleep per blocked guest thread, every
    // wake-up walked chains of dozens (pipe ping-pong beside 1,000 blocked threads: 1.11x the
    // time of one beside none). The system-wide table is sized for the whole host.
    _ = joey_futex_hash_global()
    let platform: Platform
    do {
        platform = try PlatformKind(rawValue: global.platform)!.make(syscallPatching: global.syscallPatching)
    } catch {
        let e = KernelError("joey: \(error)", exitCode: 125)
        if onError(e) { Glibc.exit(e.exitCode) }
        fail(e.message, code: e.exitCode)
    }
    do {
        let kernel = try Kernel(platform: platform, spec: spec)
        if let trace = try global.straceOptions() { kernel.enableStrace(trace) }
        if global.debug {
            kernel.debugLog = { msg in
                writeStderr("joey[debug]: \(msg)\n")
            }
            kernel.countCalls()
        }
        try onKernel(kernel)
        return try kernel.run(beforeStart: beforeStart, confine: { () throws(KernelError) in
            if !global.unconfined {
                do throws(ConfinementError) { try ConfinementPolicy(spec: spec, platform: global.platform, container: container).apply() } catch {
                    throw KernelError("joey: cannot confine the sentry: \(error.message) (--unconfined runs without it)", exitCode: 125)
                }
            }
            onConfined(kernel)
        }, guestDone: guestDone)
    } catch let e as KernelError {
        // Reported by whoever started this sentry (a container's create): said once, there.
        if onError(e) { Glibc.exit(e.exitCode) }
        fail(e.message, code: e.exitCode)
    } catch {
        fail("joey: \(error)", code: 2)
    }
}

/// Exit status as a shell reports it: the exit code, or 128 + the fatal signal.
func exitLikeShell(_ status: Int32) -> Never {
    Glibc.exit(shellExitCode(status))
}

func shellExitCode(_ status: Int32) -> Int32 {
    status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

enum ProcessEnvironment {
    static var platformDefault: String {
        if let p = getenv("JOEY_PLATFORM"), p.pointee != 0 { return String(cString: p) }
        return PlatformKind.systrap.rawValue
    }

    static var syscallPatchingDefault: Bool {
        guard let p = getenv("JOEY_SYSCALL_PATCHING") else { return true }
        return !["0", "off", "no", "false"].contains(String(cString: p))
    }
}

func writeStderr(_ s: String) {
    var bytes = Array(s.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}
