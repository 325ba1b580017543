// Guest input is hostile: random arguments to every syscall must never crash the sentry.
import Foundation
import Testing

@Suite("Hostile guest input")
struct HostileInputTests {
    static let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Programs/syscall_fuzz.c").path

    static var hasCompiler: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc") }

    @Test("random syscall arguments", .enabled(if: hasCompiler, "needs gcc (make deps)"), arguments: 1...4)
    func fuzz(seed: Int) throws {
        // Built outside /tmp, which is the sandbox's own tmpfs.
        let dir = try TemporaryDirectory()
        let binary = dir.path + "/syscall_fuzz"
        let cc = try Host.run(["/usr/bin/gcc", "-O1", "-o", binary, Self.source])
        try #require(cc.status == 0, "\(cc)")
        let r = try Host.joeyDo([binary, String(seed), "300"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.hasPrefix("fuzz done"), "\(r)")
        #expect(!r.stderr.contains("Fatal error"), "\(r)")
    }
}

@Suite("Hostile guest input against the platform stub")
struct StubEscapeTests {
    static let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Programs/stub_escape.c").path

    @Test("mapping over, scribbling on and jumping into the stub reach nothing on the host",
          .enabled(if: HostileInputTests.hasCompiler, "needs gcc (make deps)"))
    func stubEscape() throws {
        let dir = try TemporaryDirectory()
        let binary = dir.path + "/stub_escape"
        let cc = try Host.run(["/usr/bin/gcc", "-O1", "-o", binary, Self.source])
        try #require(cc.status == 0, "\(cc)")
        let target = dir.path + "/escaped"
        let r = try Host.joeyDo([binary, target])
        #expect(r.status == 0, "\(r)")
        // The attack must have found its target, or it proves nothing.
        #expect(r.stdout.contains("stub region found"), "\(r)")
        for attempt in ["mmap MAP_FIXED over it", "munmap it", "mprotect it"] {
            #expect(r.stdout.contains("\(attempt): refused"), "\(r)")
        }
        #expect(r.stdout.contains("getpid still works: yes"), "\(r)")
        if r.stdout.contains("supervisor pages") { // kvm: nothing of ring 0 but the trampoline page
            #expect(r.stdout.contains("supervisor pages readable: 0, writable: 0"), "\(r)")
        }
        #expect(!r.stdout.contains("jumped to 0 syscall sites"), "\(r)")
        #expect(r.stdout.contains("sentry alive"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: target), "a guest system call reached the host: \(target) exists")
        #expect(!r.stderr.contains("Fatal error"), "\(r)")
    }
}
