// Small C programs exercising the process model print the same in Joey as natively.
import Foundation
import Testing

@Suite("C programs match native runs")
struct CProgramTests {
    static let programs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Programs").path

    @Test("program output and exit status", .enabled(if: HostileInputTests.hasCompiler, "needs gcc (make deps)"),
          arguments: ["process_signals_memory.c", "futex_requeue_wake_op.c", "robust_mutex_owner_died.c",
                      "job_control_stop_continue.c"])
    func program(_ name: String) throws {
        let dir = try TemporaryDirectory()
        let binary = dir.path + "/prog"
        let cc = try Host.run(["/usr/bin/gcc", "-O1", "-pthread", "-o", binary, Self.programs + "/" + name])
        try #require(cc.status == 0, "\(cc)")
        let native = try Host.run([binary], cwd: dir.path)
        let sandboxed = try Host.joeyDo([binary], cwd: dir.path)
        #expect(sandboxed == native)
    }

    @Test("32 pthreads with a mutex, a condvar and a barrier", .enabled(if: HostileInputTests.hasCompiler, "needs gcc (make deps)"))
    func threads() throws {
        let dir = try TemporaryDirectory()
        let binary = dir.path + "/threads"
        let cc = try Host.run(["/usr/bin/gcc", "-O1", "-pthread", "-o", binary, Self.programs + "/pthreads_mutex_condvar_barrier.c"])
        try #require(cc.status == 0, "\(cc)")
        let r = try Host.joeyDo([binary])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout == "counter=320000 (expected 320000) pid=1\n")
    }

    static var hasPython: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") }

    @Test("python3: threads, subprocess with pipes, json", .enabled(if: hasPython, "needs /usr/bin/python3"))
    func python() throws {
        let script = """
        import threading, subprocess, json
        out = []
        lock = threading.Lock()
        def work(i):
            with lock: out.append(i * i)
        ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        [t.start() for t in ts]; [t.join() for t in ts]
        print(sorted(out))
        print(subprocess.run(["/bin/echo", "from child"], capture_output=True, text=True).stdout.strip())
        print(json.dumps({"ok": True}))
        """
        let r = try Host.joeyDo(["/usr/bin/python3", "-c", script])
        #expect(r.stdout == "[0, 1, 4, 9, 16, 25, 36, 49]\nfrom child\n{\"ok\": true}\n", "\(r)")
        #expect(r.status == 0)
    }

    @Test("a fork bomb and a thread bomb stop at the pids limit with EAGAIN", .enabled(if: HostileInputTests.hasCompiler, "needs gcc"))
    func forkBomb() throws {
        let dir = try TemporaryDirectory()
        let binary = dir.path + "/bomb"
        let cc = try Host.run(["/usr/bin/gcc", "-O1", "-pthread", "-o", binary, Self.programs + "/fork_bomb.c"])
        try #require(cc.status == 0, "\(cc)")
        let r = try Host.joeyDo([binary], options: ["--pids-limit", "48"])
        #expect(r.stdout == "fork failed with EAGAIN after many children\npthread_create failed with EAGAIN after many threads\n", "\(r)")
        #expect(r.status == 0)
    }
}
