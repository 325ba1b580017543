// Helpers for end-to-end tests: run the built joey binary and native programs, capture output.
import Foundation
import Testing

struct RunResult: Equatable, CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var description: String { "status \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }
}

enum Host {
    /// The joey binary built next to this test bundle.
    static let joey: String = {
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = me.deletingLastPathComponent()
        // The test runner may live inside a .xctest bundle directory.
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("joey").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return ".build/debug/joey"
    }()

    static let busybox = "/bin/busybox"
    static var hasBusybox: Bool { FileManager.default.isExecutableFile(atPath: busybox) }

    /// Runs a program with a clean signal state (empty mask, default dispositions), as a
    /// login shell would, so native and sandboxed runs start alike whatever this test
    /// process has blocked. Output goes to files, so a chatty child never blocks on a pipe.
    static func run(_ args: [String], stdin: String? = nil, cwd: String? = nil, timeout: TimeInterval = 60) throws -> RunResult {
        let base = "/var/tmp/joey-run-" + UUID().uuidString
        let inPath = base + ".in", outPath = base + ".out", errPath = base + ".err"
        FileManager.default.createFile(atPath: inPath, contents: (stdin ?? "").data(using: .utf8))
        defer { for p in [inPath, outPath, errPath] { try? FileManager.default.removeItem(atPath: p) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        // A working directory is entered by a shell that then execs the program.
        let command = cwd.map { ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", $0] + args } ?? args
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, command[0], &actions, &attr, argv, environ)
        guard rc == 0 else { throw SpawnError(command: args[0], errno: rc) }
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { throw SpawnError(command: args[0], errno: errno) }
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw TimeoutError(command: args.joined(separator: " "))
            }
            usleep(5_000)
        }
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let out = FileManager.default.contents(atPath: outPath) ?? Data()
        let err = FileManager.default.contents(atPath: errPath) ?? Data()
        return RunResult(status: code, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }

    /// `joey do [options] -- args`
    static func joeyDo(_ args: [String], options: [String] = [], stdin: String? = nil, cwd: String? = nil) throws -> RunResult {
        try run([joey, "do"] + options + ["--"] + args, stdin: stdin, cwd: cwd)
    }
}

struct SpawnError: Error, CustomStringConvertible {
    let command: String
    let errno: Int32
    var description: String { "cannot run \(command): \(String(cString: strerror(errno)))" }
}

struct TimeoutError: Error, CustomStringConvertible {
    let command: String
    var description: String { "timed out: \(command)" }
}
