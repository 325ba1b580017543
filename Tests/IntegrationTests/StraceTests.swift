// strace mode prints what the host's real strace prints for the same program, up to
// addresses, pids and the documented differences below.
import Foundation
import Testing

@Suite("strace mode matches strace -f")
struct StraceTests {
    static var hasStrace: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/strace") }

    /// Calls whose presence legitimately differs, each with the reason.
    static let knownDifferences: [(name: String, why: String)] = [
        ("rseq", "Joey does not offer restartable sequences (ENOSYS); glibc falls back"),
    ]

    /// Trace lines per process (processes numbered in order of appearance), normalised.
    static func normalise(_ text: String) -> [[String]] {
        var processes: [Int: [String]] = [:]
        var order: [Int] = []
        var unfinished: [Int: String] = [:]
        let pidPrefix = try! NSRegularExpression(pattern: #"^(?:\[pid +(\d+)\] |(\d+) +)"#)
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) {
            if raw.hasPrefix("strace: ") { continue }
            var line = raw
            var pid = 0
            if let m = pidPrefix.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) {
                let r = m.range(at: 1).location != NSNotFound ? m.range(at: 1) : m.range(at: 2)
                pid = Int((line as NSString).substring(with: r)) ?? 0
                line = (line as NSString).substring(from: m.range.length)
            }
            if line.hasSuffix(" <unfinished ...>") {
                unfinished[pid] = String(line.dropLast(" <unfinished ...>".count))
                continue
            }
            if line.hasPrefix("<... "), let end = line.range(of: " resumed>") {
                line = (unfinished.removeValue(forKey: pid) ?? "") + line[end.upperBound...]
            }
            if processes[pid] == nil { order.append(pid); processes[pid] = [] }
            processes[pid]!.append(line)
        }
        func fix(_ l: String) -> String? {
            let name = String(l.prefix { $0 != "(" })
            if knownDifferences.contains(where: { $0.name == name }) { return nil }
            var s = l.replacingOccurrences(of: #"0x[0-9a-f]+"#, with: "0xX", options: .regularExpression)
            s = s.replacingOccurrences(of: #"\s+= "#, with: " = ", options: .regularExpression)
            s = s.replacingOccurrences(of: #"getrandom\("[^"]*""#, with: "getrandom(RANDOM", options: .regularExpression)
            s = s.replacingOccurrences(of: #"si_pid=\d+"#, with: "si_pid=PID", options: .regularExpression)
            // Key serial numbers are random.
            if ["set_tid_address", "getpid", "getppid", "gettid", "clone", "fork", "vfork", "wait4", "rt_sigreturn",
                "add_key", "request_key", "keyctl"].contains(name) {
                s = s.replacingOccurrences(of: #" = \d+$"#, with: " = PID", options: .regularExpression)
            }
            return s
        }
        return order.map { pid in processes[pid]!.compactMap(fix) }
    }

    func traces(_ args: [String]) throws -> (native: [[String]], joey: [[String]]) {
        let dir = try TemporaryDirectory()
        let nativeLog = dir.path + "/native.txt", joeyLog = dir.path + "/joey.txt"
        let native = try Host.run(["/usr/bin/strace", "-f", "-o", nativeLog] + args, cwd: "/")
        let hostname = try Host.run(["/bin/hostname"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let joey = try Host.run([Host.joey, "--strace", "--strace-log=\(joeyLog)", "do", "--hostname", hostname, "--"] + args, cwd: "/")
        #expect(joey.stdout == native.stdout)
        #expect(joey.status == native.status)
        return (Self.normalise(try String(contentsOfFile: nativeLog, encoding: .utf8)),
                Self.normalise(try String(contentsOfFile: joeyLog, encoding: .utf8)))
    }

    @Test("single-process programs: the same calls in the same order",
          .enabled(if: hasStrace && Host.hasBusybox, "needs strace and busybox-static (make deps)"),
          arguments: [["/bin/busybox", "ls", "/etc/hostname", "/etc/passwd"], ["/bin/busybox", "cat", "/etc/hostname"]])
    func singleProcess(_ args: [String]) throws {
        let t = try traces(args)
        #expect(t.native.count == 1 && t.native[0].count > 10, "the native trace is too short to compare")
        #expect(t.joey == t.native)
    }

    @Test("a C program whose open fails", .enabled(if: hasStrace && HostileInputTests.hasCompiler, "needs strace and gcc"))
    func failingOpen() throws {
        let dir = try TemporaryDirectory()
        let src = dir.path + "/failopen.c", bin = dir.path + "/failopen"
        try """
        #include <fcntl.h>
        #include <stdio.h>
        int main(void) {
            int fd = open("/nonexistent/joey-file", O_RDONLY);
            if (fd < 0) { perror("open"); return 3; }
            return 0;
        }
        """.write(toFile: src, atomically: true, encoding: .utf8)
        // Static, so no dynamic loader's vDSO-dependent allocations differ.
        let cc = try Host.run(["/usr/bin/gcc", "-static", "-O1", "-o", bin, src])
        try #require(cc.status == 0, "\(cc)")
        let t = try traces([bin])
        #expect(t.joey == t.native)
        #expect(t.joey.first?.contains("openat(AT_FDCWD, \"/nonexistent/joey-file\", O_RDONLY) = -1 ENOENT (No such file or directory)") == true)
    }

    @Test("a C program using keyrings: add_key, request_key and keyctl decoded as strace does",
          .enabled(if: hasStrace && HostileInputTests.hasCompiler, "needs strace and gcc"))
    func keyrings() throws {
        let dir = try TemporaryDirectory()
        let src = dir.path + "/keys.c", bin = dir.path + "/keys"
        try """
        #include <linux/keyctl.h>
        #include <sys/syscall.h>
        #include <unistd.h>
        int main(void) {
            char buf[64];
            syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, 0);
            syscall(SYS_add_key, "user", "joey:test", "hello", 5, KEY_SPEC_SESSION_KEYRING);
            syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", "joey:test", 0);
            syscall(SYS_keyctl, KEYCTL_DESCRIBE, KEY_SPEC_SESSION_KEYRING, buf, sizeof buf);
            syscall(SYS_keyctl, KEYCTL_SETPERM, KEY_SPEC_SESSION_KEYRING, 0x3f1b0000);
            syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 0);
            syscall(SYS_keyctl, KEYCTL_SET_REQKEY_KEYRING, KEY_REQKEY_DEFL_NO_CHANGE);
            syscall(SYS_request_key, "user", "joey:missing", 0, 0);
            syscall(SYS_keyctl, KEYCTL_CHOWN, KEY_SPEC_SESSION_KEYRING, -1, -1);
            syscall(SYS_keyctl, KEYCTL_SET_TIMEOUT, KEY_SPEC_SESSION_KEYRING, 600);
            syscall(SYS_keyctl, KEYCTL_MOVE, KEY_SPEC_SESSION_KEYRING, KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING, 2);
            syscall(SYS_keyctl, KEYCTL_READ, KEY_SPEC_THREAD_KEYRING, buf, sizeof buf);
            syscall(SYS_keyctl, 9999, 0, 0, 0, 0);
            return 0;
        }
        """.write(toFile: src, atomically: true, encoding: .utf8)
        let cc = try Host.run(["/usr/bin/gcc", "-static", "-O1", "-o", bin, src])
        try #require(cc.status == 0, "\(cc)")
        let t = try traces([bin])
        #expect(t.joey == t.native)
        #expect(t.joey.first?.contains("keyctl(KEYCTL_DESCRIBE, KEY_SPEC_SESSION_KEYRING, \"keyring;0;0;3f030000;_ses\", 64) = PID") == true)
    }

    @Test("sh -c with a pipe: each process makes the same calls",
          .enabled(if: hasStrace && Host.hasBusybox, "needs strace and busybox-static (make deps)"))
    func pipeline() throws {
        let t = try traces(["/bin/busybox", "sh", "-c", "echo hi | cat"])
        #expect(t.native.count == 3)
        // Which child runs first and when signals land vary run to run, so each process's
        // calls are compared as a multiset, and the processes as a set. Whether the two
        // children's SIGCHLDs arrive as one delivery or two is timing too (natively as well):
        // signal deliveries and their sigreturns count once.
        func canonical(_ procs: [[String]]) -> [[String]] {
            procs.map { lines -> [String] in
                var seen = Set<String>()
                return lines.filter { l in
                    // A call a signal interrupted and the kernel restarted (fork racing the
                    // first child's SIGCHLD natively) is the same call made again.
                    !l.hasSuffix("ERESTARTNOINTR (To be restarted)")
                        && (!(l.hasPrefix("--- SIG") || l.hasPrefix("rt_sigreturn(")) || seen.insert(l).inserted)
                }.sorted()
            }.sorted { $0.joined() < $1.joined() }
        }
        #expect(canonical(t.joey) == canonical(t.native))
    }
}
