// `joey debug`: what the sentry would do, printed for an operator.
import ArgumentParser
import CJoey
import Glibc
import JoeyABI
import JoeyKernel
import JoeyOCI
import JoeySandbox

struct DebugCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug",
        abstract: "Show how the sentry is built and confined.",
        subcommands: [Seccomp.self, QuickParse.self])

    /// For the tests: a per-container command line as QuickCommandLine reads it and as
    /// ArgumentParser does; they must print the same.
    struct QuickParse: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "quick-parse", shouldDisplay: false)
        @Argument(parsing: .captureForPassthrough, help: "The command line, the subcommand first (without one: tab-separated lines on stdin, each read in turn).")
        var line: [String] = []

        func run() throws {
            if !line.isEmpty { return show(line) }
            while let text = readLine() { show(text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)) }
        }

        private func show(_ line: [String]) {
            let line = GlobalOptions.movedAfterSubcommand(line)
            let quick = QuickCommandLine.parse(line).map { String(describing: $0) } ?? "left to ArgumentParser"
            print("quick: \(quick)")
            do { print("full: \(String(describing: try Joey.parseAsRoot(line)))") } catch {
                print("full: \(Joey.message(for: error).split(separator: "\n").joined(separator: " / "))")
            }
        }
    }

    struct Seccomp: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "seccomp",
            abstract: "Print the sentry's seccomp allow-list (the host system calls it may make) and the capabilities it keeps.")

        @Option(help: "The platform: systrap, ptrace or kvm.")
        var platform: String = "systrap"
        @Option(help: "The network mode: none or host.")
        var network: String = "none"
        @Flag(help: "With a writable host directory (--rootfs-writable, a read-write bind mount).")
        var writable = false
        @Flag(help: "For an OCI container's sentry.")
        var container = false
        @Flag(help: "Print the filter itself (libseccomp's pseudo-filter code) instead.")
        var filter = false
        @Option(help: ArgumentHelp("Confine this process with the policy, then make this system call and say whether it was allowed: a call outside the list ends the process as it would end the sentry.", valueName: "name"))
        var probe: String?
        @Option(help: ArgumentHelp("With --probe: the call's arguments, comma-separated (decimal, or hex with 0x; -1 allowed); missing ones are 0.", valueName: "a,b,..."))
        var probeArguments: String = ""

        func run() throws {
            guard let mode = NetworkMode(rawValue: network) else { throw ValidationError("Unknown network '\(network)': choose none or host.") }
            let policy = ConfinementPolicy(platform: platform, network: mode, writableHost: writable, container: container)
            if let probe {
                guard let nr = SyscallTable.entries.first(where: { $0?.name == probe })??.number else {
                    throw ValidationError("No system call named \(probe).")
                }
                var args = [UInt64](repeating: 0, count: 6)
                for (i, text) in probeArguments.split(separator: ",").enumerated() {
                    let t = String(text.filter { $0 != " " })
                    let value = t.hasPrefix("0x") ? UInt64(t.dropFirst(2), radix: 16) : Int64(t).map { UInt64(bitPattern: $0) }
                    guard i < 6, let value else { throw ValidationError("--probe-arguments: '\(t)' is not argument \(i + 1) of at most 6 numbers.") }
                    args[i] = value
                }
                do { try policy.apply() } catch { throw ValidationError(error.message) }
                let r = joey_raw_syscall(Int64(nr), args)
                print("\(probe): allowed (returned \(r))")
                return
            }
            if filter {
                do { try policy.exportFilter(to: 1) } catch { throw ValidationError(error.message) }
                return
            }
            print("# platform \(platform), network \(network)\(writable ? ", writable host directories" : "")\(container ? ", OCI container" : "")")
            print("# \(policy.allowedCount) system calls allowed; anything else is SIGSYS (the sentry reports it and exits)")
            for r in policy.rules {
                var line = r.name
                let shown = r.values.map { $0 >= 0x100 ? "0x" + String($0, radix: 16) : String($0) }.joined(separator: ", ")
                if let a = r.argument, r.mask < 0xffff_ffff {
                    line += " (argument \(a) & 0x\(String(r.mask, radix: 16)) in \(shown))" // a bit test (mmap's PROT_EXEC)
                } else if let a = r.argument {
                    line += " (argument \(a) in \(shown))"
                }
                if r.errno != 0 { line += " -> fails with errno \(r.errno)" }
                print(padded(line, 40) + "  " + r.why)
            }
            print("# capabilities kept (all others dropped, also from the bounding set):")
            for (_, why) in policy.capabilities { print(why) }
        }
    }
}

/// `joey syscalls`: Joey's system call table (syscalls/linux_amd64.tsv, as generated into
/// SyscallTable), in runsc's `syscalls` formats.
struct Syscalls: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "syscalls",
        abstract: "Print every Linux x86-64 system call and how Joey supports it (table, json or csv).")

    @Option(help: "The output format: table, json or csv.")
    var format: String = "table"

    func run() throws {
        let rows = SyscallTable.entries.compactMap { $0 }
        switch format {
        case "table":
            let width = rows.map(\.name.count).max() ?? 4
            func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
            var out = pad("NUM", 5) + pad("NAME", width + 2) + pad("SUPPORT", 13) + "NOTE\n"
            for r in rows { out += pad(String(r.number), 5) + pad(r.name, width + 2) + pad("\(r.status)", 13) + r.note + "\n" }
            writeStdout(out)
        case "csv":
            func field(_ s: String) -> String {
                guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return s }
                return "\"" + s.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
            }
            var out = "os,arch,num,name,support,note\n"
            for r in rows { out += "linux,amd64,\(r.number),\(r.name),\(r.status),\(field(r.note))\n" }
            writeStdout(out)
        case "json":
            let items = rows.map { r in
                "{\"os\":\"linux\",\"arch\":\"amd64\",\"num\":\(r.number),\"name\":\(jsonString(r.name)),\"support\":\"\(r.status)\",\"note\":\(jsonString(r.note))}"
            }
            writeStdout("[\n" + items.joined(separator: ",\n") + "\n]\n")
        default:
            throw ValidationError("Unknown format '\(format)': choose table, json or csv.")
        }
    }
}
