// An interactive shell on a real terminal (tmux provides the pty).
import Foundation
import Testing

@Suite("Interactive terminal", .serialized)
struct TerminalTests {
    static var hasTmux: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") }

    func tmux(_ args: String...) throws -> String {
        try Host.run(["/usr/bin/tmux", "-L", "joey-test"] + args).stdout
    }

    func waitForScreen(_ session: String, containing text: String, timeout: TimeInterval = 10) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var screen = ""
        while Date() < deadline {
            screen = try tmux("capture-pane", "-t", session, "-p")
            if screen.contains(text) { return screen }
            usleep(100_000)
        }
        return screen
    }

    /// Starts `joey do -- bash` in a fresh tmux session and waits for its prompt.
    func startSandboxedBash(_ session: String) throws {
        _ = try tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "20",
                     "\(Host.joey) do -- /bin/bash --norc --noprofile; echo sandbox-exited-$?; sleep 30")
        _ = try waitForScreen(session, containing: "#")
    }

    @Test("Ctrl-C interrupts the foreground job, not the sandbox", .enabled(if: hasTmux, "needs tmux (make deps)"))
    func controlC() throws {
        let session = "joey-\(getpid())"
        defer { _ = try? tmux("kill-session", "-t", session) }
        try startSandboxedBash(session)
        _ = try tmux("send-keys", "-t", session, "tty; echo pid=$$; sleep 20; echo after-$((1+1))", "Enter")
        var screen = try waitForScreen(session, containing: "pid=1")
        #expect(screen.contains("/dev/pts/0"), "\(screen)")
        // Until bash has made sleep the foreground job, ^C is bash's (which ignores it then).
        usleep(700_000)
        _ = try tmux("send-keys", "-t", session, "C-c")
        _ = try tmux("send-keys", "-t", session, "echo still-$((40+2))", "Enter")
        screen = try waitForScreen(session, containing: "still-42")
        #expect(screen.contains("still-42"), "\(screen)")
        #expect(!screen.contains("after-2"))
        _ = try tmux("send-keys", "-t", session, "exit 3", "Enter")
        screen = try waitForScreen(session, containing: "sandbox-exited")
        #expect(screen.contains("sandbox-exited-3"), "\(screen)")
    }

    @Test("Ctrl-Z stops the foreground job; the shell lists it and can kill it", .enabled(if: hasTmux, "needs tmux (make deps)"))
    func controlZ() throws {
        let session = "joey-z-\(getpid())"
        defer { _ = try? tmux("kill-session", "-t", session) }
        try startSandboxedBash(session)
        _ = try tmux("send-keys", "-t", session, "sleep 20", "Enter")
        usleep(700_000)
        _ = try tmux("send-keys", "-t", session, "C-z")
        var screen = try waitForScreen(session, containing: "Stopped")
        #expect(screen.contains("Stopped"), "\(screen)")
        _ = try tmux("send-keys", "-t", session, "kill %1; sleep 0.3; jobs; echo done-$((1+1))", "Enter")
        screen = try waitForScreen(session, containing: "done-2")
        #expect(screen.contains("Terminated"), "\(screen)")
    }
}
