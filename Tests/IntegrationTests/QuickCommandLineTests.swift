// The per-container commands read by hand (QuickCommandLine) must read every line they
// accept as ArgumentParser does, know every name ArgumentParser knows for them, and leave
// every other line to it.
import Foundation
import Testing

@Suite("Per-container command lines read by hand")
struct QuickCommandLineTests {
    static let commands: [String: [String]] = [
        "create": ["the-id"], "run": ["the-id"], "start": ["the-id"], "state": ["the-id"],
        "kill": ["the-id", "HUP"], "delete": ["the-id"],
    ]

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
        for (command, positionals) in Self.commands.sorted(by: { $0.key < $1.key }) {
            let dump = try Host.run([Host.joey, command, "--experimental-dump-help"])
            let json = try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any]
            let arguments = try #require((json?["command"] as? [String: Any])?["arguments"] as? [[String: Any]], "\(dump)")
            lines.append([command] + positionals)
            lines.append([command, positionals[0]]) // defaulted positionals
            for argument in arguments {
                let kind = argument["kind"] as? String
                guard kind == "option" || kind == "flag" else { continue }
                for name in argument["names"] as? [[String: String]] ?? [] {
                    guard let n = name["name"], !["help", "h", "version"].contains(n) else { continue }
                    let spelled = (name["kind"] == "short" ? "-" : "--") + n
                    if kind == "flag" {
                        lines.append([command, spelled] + positionals)
                        lines.append(["--root", "/r", command] + positionals + [spelled]) // after the id, a global first
                    } else {
                        let value = n == "preserve-fds" ? "3" : "v-\(n)"
                        lines.append([command, spelled, value] + positionals)
                        if name["kind"] == "long" { lines.append([command] + positionals + ["\(spelled)=\(value)"]) }
                    }
                }
            }
        }
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
        ]
        for (line, (quick, _)) in zip(lines, try readings(lines)) {
            #expect(quick == "quick: left to ArgumentParser", "\(line)")
        }
    }
}
