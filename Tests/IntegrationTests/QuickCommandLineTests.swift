// The per-container commands and `joey do`, read by hand (QuickCommandLine), must read
// every line they accept as ArgumentParser does, know every name ArgumentParser knows for
// them, and leave every other line to it.
import Foundation
import Testing

@Suite("Per-container command lines read by hand")
struct QuickCommandLineTests {
    static let commands: [String: [String]] = [
        "create": ["the-id"], "run": ["the-id"], "start": ["the-id"], "state": ["the-id"],
        "kill": ["the-id", "HUP"], "delete": ["the-id"], "do": ["prog", "-x", "--debug"],
    ]
    /// Values `do` checks (the runtime commands take any text).
    static let values = ["preserve-fds": "3", "pids-limit": "7", "memory": "64M", "network": "host", "platform": "ptrace"]

    /// Each line as `joey debug quick-parse` reads it: (quick, full).
    func readings(_ lines: [[String]]) throws -> [(String, String)] {
        let r = try Host.run([Host.joey, "debug", "quick-parse"], stdin: lines.map { $0.joined(separator: "\t") }.joined(separator: "\n") + "\n")
        let out = r.stdout.split(separator: "\n").map(String.init)
        try #require(r.status == 0 && out.count == 2 * lines.count, "\(r)")
        return stride(from: 0, to: out.count, by: 2).map { (out[$0], out[$0 + 1]) }
    }

    @Test("every name ArgumentParser knows, in each form, is read alike")
    func everyName() throws {
        var lines: [[String]] = []
        // The whole tree's (`do` would take the option as its program's).
        let dump = try Host.run([Host.joey, "--experimental-dump-help"])
        let json = try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any]
        let subcommands = try #require((json?["command"] as? [String: Any])?["subcommands"] as? [[String: Any]], "\(dump)")
        for (command, positionals) in Self.commands.sorted(by: { $0.key < $1.key }) {
            let entry = subcommands.first { $0["commandName"] as? String == command }
            let arguments = try #require(entry?["arguments"] as? [[String: Any]], "\(command) in \(dump)")
            lines.append([command] + positionals)
            if command != "do" { lines.append([command, positionals[0]]) } // defaulted positionals
            for argument in arguments {
                let kind = argument["kind"] as? String
                guard kind == "option" || kind == "flag" else { continue }
                for name in argument["names"] as? [[String: String]] ?? [] {
                    guard let n = name["name"], !["help", "h", "version"].contains(n) else { continue }
                    let spelled = (name["kind"] == "short" ? "-" : "--") + n
                    if kind == "flag" {
                        lines.append([command, spelled] + positionals)
                        if command == "do" {
                            lines.append(["--platform", "ptrace", command, spelled] + positionals) // a global first
                        } else {
                            lines.append(["--root", "/r", command] + positionals + [spelled]) // after the id, a global first
                        }
                    } else {
                        let value = (command == "do" || n == "preserve-fds" ? Self.values[n] : nil) ?? "v-\(n)"
                        lines.append([command, spelled, value] + positionals)
                        if name["kind"] == "long" { lines.append([command] + positionals + ["\(spelled)=\(value)"]) }
                    }
                }
            }
        }
        // `do`'s program is everything from its first word or from `--` on, options included.
        lines += [["do", "ls", "--debug", "--help"], ["do", "--", "-x"], ["do", "--debug", "--", "ls", "--", "a"],
                  ["--debug", "do", "--hostname", "h", "ls"], ["do", "--", "--help"], ["do", "--network=host", "--", "--"]]
        for (line, (quick, full)) in zip(lines, try readings(lines)) {
            #expect(quick != "quick: left to ArgumentParser", "\(line)")
            #expect(quick.dropFirst(7) == full.dropFirst(6), "\(line)")
        }
    }

    @Test("anything else is left to ArgumentParser")
    func leftAlone() throws {
        let lines: [[String]] = [
            ["run", "--bundle", "a", "--bundle", "b", "the-id"], // repeated
            ["run", "the-id", "extra"], ["delete"], ["kill", "a", "b", "c"], // positionals
            ["run", "-db", "x", "the-id"], ["run", "--preserve-fds", "x", "the-id"], ["run", "--log", "-x", "the-id"],
            ["kill", "the-id", "-9"], ["state", "--", "the-id"], ["run", "--help"], ["start", "-h", "x"],
            ["delete", "--force=yes", "the-id"], ["run", "--syscall-patching", "--no-syscall-patching", "the-id"],
            ["create", "--frobnicate", "the-id"], ["exec", "the-id", "true"],
            ["do"], ["do", "--"], ["do", "--debug"], ["do", "--frob", "ls"], ["do", "-x", "ls"], ["do", "--help"], ["do", "-h", "ls"],
            ["do", "--pids-limit", "x", "ls"], ["do", "--pids-limit", "0", "ls"], ["do", "--memory", "12Q", "ls"],
            ["do", "--network", "bogus", "ls"], ["do", "--platform", "nope", "ls"], ["do", "--rootfs-writable=1", "ls"],
            ["do", "--hostname", "a", "--hostname", "b", "ls"],
        ]
        for (line, (quick, _)) in zip(lines, try readings(lines)) {
            #expect(quick == "quick: left to ArgumentParser", "\(line)")
        }
    }
}
