// Small C programs exercising the process model print the same in Joey as natively.
import Foundation
import Testing

@Suite("C programs match native runs")
struct CProgramTests {
    static let programs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Programs").path

    @Test("program output and exit status", .enabled(if: HostileInputTests.hasCompiler, "needs gcc (make deps)"),
          arguments: ["process_signals_memory.c"])
    func program(_ name: String) throws {
        let dir = try TemporaryDirectory()
        let binary = dir.path + "/prog"
        let cc = try Host.run(["/usr/bin/gcc", "-O1", "-o", binary, Self.programs + "/" + name])
        try #require(cc.status == 0, "\(cc)")
        let native = try Host.run([binary], cwd: dir.path)
        let sandboxed = try Host.joeyDo([binary], cwd: dir.path)
        #expect(sandboxed == native)
    }
}
