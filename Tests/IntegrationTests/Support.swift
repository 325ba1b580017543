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

    static func run(_ args: [String], stdin: String? = nil, cwd: String? = nil, timeout: TimeInterval = 60) throws -> RunResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: args[0])
        p.arguments = Array(args.dropFirst())
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        // Output goes to files so a chatty child can never block on a full pipe.
        let base = NSTemporaryDirectory() + "joey-run-" + UUID().uuidString
        FileManager.default.createFile(atPath: base + ".out", contents: nil)
        FileManager.default.createFile(atPath: base + ".err", contents: nil)
        defer { try? FileManager.default.removeItem(atPath: base + ".out"); try? FileManager.default.removeItem(atPath: base + ".err") }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
        let inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        try? out.close()
        try? err.close()
        if let stdin { inp.fileHandleForWriting.write(stdin.data(using: .utf8)!) }
        try? inp.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            throw TimeoutError(command: args.joined(separator: " "))
        }
        p.waitUntilExit()
        let outData = FileManager.default.contents(atPath: base + ".out") ?? Data()
        let errData = FileManager.default.contents(atPath: base + ".err") ?? Data()
        let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
        return RunResult(status: status, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
    }

    /// `joey do [options] -- args`
    static func joeyDo(_ args: [String], options: [String] = [], stdin: String? = nil, cwd: String? = nil) throws -> RunResult {
        try run([joey, "do"] + options + ["--"] + args, stdin: stdin, cwd: cwd)
    }
}

struct TimeoutError: Error, CustomStringConvertible {
    let command: String
    var description: String { "timed out: \(command)" }
}
