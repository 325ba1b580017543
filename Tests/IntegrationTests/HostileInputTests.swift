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
