// The command lines a container engine runs for every container (create, start, run, state,
// kill, delete), and `joey do`'s, read without ArgumentParser. Its reflection over the
// option structs (metadata for every wrapped property, protocol conformance scans of the
// whole binary) was a seventh of the CPU a `run --detach` costs the machine; this reads the
// plain forms only: `--name value`, `--name=value`, the flags and the short names these
// commands define, each at most once, then the positionals (for `do`: the program and its
// arguments, as they are). Anything else (help, an unknown or repeated name, a value that
// starts with '-', a number that does not parse, too many positionals) is left to
// ArgumentParser, for its full message. `joey debug quick-parse` prints both readings of a
// command line, which the tests compare, names included.
import ArgumentParser

enum QuickCommandLine {
    /// The command `args` (the subcommand first) ask for, every property set; nil leaves it
    /// to ArgumentParser.
    static func parse(_ args: [String]) -> ParsableCommand? {
        guard let name = args.first, let form = forms[name],
              let line = Line(args.dropFirst(), form: form) else { return nil }
        return form.build(line)
    }

    /// What a command line holds, by long name.
    struct Line {
        var values: [String: String] = [:]
        var flags: Set<String> = []
        var positionals: [String] = []

        init?(_ args: ArraySlice<String>, form: Form) {
            var i = args.startIndex
            while i < args.endIndex {
                // `do`'s program: everything from its first word (or from `--`) on.
                if form.passthrough, args[i] == "--" || !args[i].hasPrefix("-") {
                    positionals = Array(args[i...])
                    break
                }
                let arg = form.short[args[i]] ?? args[i]
                i += 1
                guard arg.hasPrefix("-") else {
                    positionals.append(arg)
                    continue
                }
                var name = arg
                var value: String?
                if let eq = arg.firstIndex(of: "=") {
                    name = String(arg[..<eq])
                    value = String(arg[arg.index(after: eq)...])
                }
                if form.valued.contains(name) {
                    if value == nil {
                        guard i < args.endIndex, !args[i].hasPrefix("-") else { return nil }
                        value = args[i]
                        i += 1
                    }
                    guard values.updateValue(value!, forKey: name) == nil else { return nil }
                } else if form.flags.contains(name), value == nil {
                    guard flags.insert(name).inserted else { return nil }
                } else {
                    return nil
                }
            }
            guard positionals.count >= form.positionals.lowerBound, positionals.count <= form.positionals.upperBound,
                  !(flags.contains("--syscall-patching") && flags.contains("--no-syscall-patching")) else { return nil }
        }
    }

    /// One command's names: long options taking a value, flags, short names (to their long
    /// ones), how many positionals, and how the command is made from a line.
    struct Form: Sendable {
        var valued: Set<String>
        var flags: Set<String>
        var short: [String: String] = [:]
        var positionals: ClosedRange<Int>
        /// The first positional and all after it are one argument's, options included.
        var passthrough = false
        var build: @Sendable (Line) -> ParsableCommand?
    }

    static let globalValued: Set<String> = ["--platform", "--strace-syscalls", "--strace-log"]
    static let globalFlags: Set<String> = ["--debug", "--unconfined", "--syscall-patching", "--no-syscall-patching", "--strace", "--strace-timing"]
    static let runtimeValued: Set<String> = ["--root", "--log", "--log-format", "--rootless", "--criu"]
    static let runtimeFlags: Set<String> = ["--systemd-cgroup"]
    static let createValued: Set<String> = ["--bundle", "--pid-file", "--console-socket", "--preserve-fds"]
    static let createFlags: Set<String> = ["--no-pivot", "--no-new-keyring"]

    static let doValued: Set<String> = ["--rootfs", "--hostname", "--network", "--pids-limit", "--memory"]

    static let forms: [String: Form] = [
        "do": Form(valued: globalValued.union(doValued), flags: globalFlags.union(["--rootfs-writable"]),
                   positionals: 0...Int.max, passthrough: true) { line in
            var c = Do()
            c.global = global(line)
            c.rootfs = line.values["--rootfs"] ?? Do.defaultRootfs
            c.rootfsWritable = line.flags.contains("--rootfs-writable")
            c.hostname = line.values["--hostname"] ?? Do.defaultHostname
            c.network = line.values["--network"] ?? Do.defaultNetwork
            if let n = line.values["--pids-limit"] {
                guard let n = Int(n) else { return nil }
                c.pidsLimit = n
            } else {
                c.pidsLimit = Do.defaultPidsLimit
            }
            c.memory = line.values["--memory"]
            c.command = line.positionals
            // What ArgumentParser would refuse (no program, a bad size) it also says best.
            do { try c.validate() } catch { return nil }
            return c
        },
        "create": Form(valued: globalValued.union(runtimeValued).union(createValued), flags: globalFlags.union(runtimeFlags).union(createFlags),
                       short: ["-b": "--bundle"], positionals: 1...1) { line in
            var c: Create = command(line)
            guard let o = create(line) else { return nil }
            c.options = o
            return c
        },
        "run": Form(valued: globalValued.union(runtimeValued).union(createValued), flags: globalFlags.union(runtimeFlags).union(createFlags).union(["--detach"]),
                    short: ["-b": "--bundle", "-d": "--detach"], positionals: 1...1) { line in
            var c: Run = command(line)
            guard let o = create(line) else { return nil }
            c.options = o
            c.detach = line.flags.contains("--detach")
            return c
        },
        "start": Form(valued: globalValued.union(runtimeValued), flags: globalFlags.union(runtimeFlags), positionals: 1...1) { line in
            var c: Start = command(line)
            c.id = line.positionals[0]
            return c
        },
        "state": Form(valued: globalValued.union(runtimeValued), flags: globalFlags.union(runtimeFlags), positionals: 1...1) { line in
            var c: State = command(line)
            c.id = line.positionals[0]
            return c
        },
        "kill": Form(valued: globalValued.union(runtimeValued), flags: globalFlags.union(runtimeFlags).union(["--all"]),
                     short: ["-a": "--all"], positionals: 1...2) { line in
            var c: Kill = command(line)
            c.all = line.flags.contains("--all")
            c.id = line.positionals[0]
            c.signal = line.positionals.count > 1 ? line.positionals[1] : Kill.defaultSignal
            return c
        },
        "delete": Form(valued: globalValued.union(runtimeValued), flags: globalFlags.union(runtimeFlags).union(["--force"]),
                       short: ["-f": "--force"], positionals: 1...1) { line in
            var c: Delete = command(line)
            c.force = line.flags.contains("--force")
            c.id = line.positionals[0]
            return c
        },
    ]

    /// A command with the options every runtime command takes set from `line`.
    static func command<C: RuntimeCommand>(_ line: Line) -> C {
        var c = C()
        c.global = global(line)
        c.runtime = runtime(line)
        return c
    }

    static func global(_ line: Line) -> GlobalOptions {
        var g = GlobalOptions()
        g.platform = line.values["--platform"] ?? ProcessEnvironment.platformDefault
        g.debug = line.flags.contains("--debug")
        g.unconfined = line.flags.contains("--unconfined")
        g.syscallPatching = line.flags.contains("--syscall-patching") ? true
            : line.flags.contains("--no-syscall-patching") ? false : ProcessEnvironment.syscallPatchingDefault
        g.strace = line.flags.contains("--strace")
        g.straceSyscalls = line.values["--strace-syscalls"]
        g.straceLog = line.values["--strace-log"]
        g.straceTiming = line.flags.contains("--strace-timing")
        return g
    }

    static func runtime(_ line: Line) -> RuntimeOptions {
        var r = RuntimeOptions()
        r.root = line.values["--root"] ?? RuntimeOptions.defaultRoot
        r.log = line.values["--log"]
        r.logFormat = line.values["--log-format"] ?? RuntimeOptions.defaultLogFormat
        r.systemdCgroup = line.flags.contains("--systemd-cgroup")
        r.rootless = line.values["--rootless"]
        r.criu = line.values["--criu"]
        return r
    }

    static func create(_ line: Line) -> CreateOptions? {
        var o = CreateOptions()
        o.bundle = line.values["--bundle"] ?? CreateOptions.defaultBundle
        o.pidFile = line.values["--pid-file"]
        o.consoleSocket = line.values["--console-socket"]
        o.noPivot = line.flags.contains("--no-pivot")
        o.noNewKeyring = line.flags.contains("--no-new-keyring")
        if let n = line.values["--preserve-fds"] {
            guard let n = Int(n) else { return nil }
            o.preserveFds = n
        } else {
            o.preserveFds = 0
        }
        o.id = line.positionals[0]
        return o
    }
}

/// The commands that take the global and the runtime options.
protocol RuntimeCommand: ParsableCommand {
    var global: GlobalOptions { get set }
    var runtime: RuntimeOptions { get set }
}

extension Create: RuntimeCommand {}
extension Run: RuntimeCommand {}
extension Start: RuntimeCommand {}
extension State: RuntimeCommand {}
extension Kill: RuntimeCommand {}
extension Delete: RuntimeCommand {}
