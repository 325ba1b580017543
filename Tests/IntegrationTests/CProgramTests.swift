// Small C programs exercising the process model print the same in Joey as natively.
import Foundation
import Testing

@Suite("C programs match native runs")
struct CProgramTests {
    static let programs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Programs").path

    @Test("program output and exit status", .enabled(if: HostileInputTests.hasCompiler, "needs gcc (make deps)"),
          arguments: ["process_signals_memory.c", "futex_requeue_wake_op.c", "robust_mutex_owner_died.c",
                      "job_control_stop_continue.c", "posix_timers.c", "subreaper.c", "cpu_itimers.c",
                      "hostile_timer_and_id_arguments.c"])
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

    /// Only in a sandbox (natively it would set the host's clock): the expected lines are what
    /// Linux does, each check a "yes".
    @Test("the sandbox's own wall clock: set, followed by timers and sleeps, slewed, a leap second",
          .enabled(if: HostileInputTests.hasCompiler, "needs gcc (make deps)"), arguments: [[], ["--platform", "ptrace"]])
    func wallClock(_ options: [String]) throws {
        let dir = try TemporaryDirectory()
        let binary = dir.path + "/clock"
        let cc = try Host.run(["/usr/bin/gcc", "-O1", "-pthread", "-o", binary, Self.programs + "/sandbox_wall_clock.c"])
        try #require(cc.status == 0, "\(cc)")
        let hostBefore = Date()
        let r = try Host.joeyDo([binary], options: options, cwd: dir.path)
        #expect(r.status == 0, "\(r)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 28, "\(r)")
        for line in lines { #expect(line.hasSuffix(": yes"), "\(line)") }
        // The host's clock went on as it was.
        #expect(abs(Date().timeIntervalSince(hostBefore)) < 60)
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

    @Test("python3: signal.alarm in the main thread, sigtimedwait, json.tool, compileall",
          .enabled(if: hasPython, "needs /usr/bin/python3"))
    func pythonSignalsAndModules() throws {
        let script = """
        import signal, os, time
        def h(s, f): raise KeyboardInterrupt("alarm")
        signal.signal(signal.SIGALRM, h)
        signal.alarm(1)
        try:
            time.sleep(10); print("not interrupted")
        except KeyboardInterrupt as e:
            print("raised:", e)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        os.kill(os.getpid(), signal.SIGUSR1)
        print(signal.sigtimedwait({signal.SIGUSR1}, 1).si_signo == signal.SIGUSR1, signal.sigtimedwait({signal.SIGUSR2}, 0.1))
        """
        let r = try Host.joeyDo(["/usr/bin/python3", "-c", script])
        #expect(r.stdout == "raised: alarm\nTrue None\n", "\(r)")
        let json = try Host.joeyDo(["/usr/bin/python3", "-m", "json.tool", "--sort-keys"], stdin: "{\"b\": [1], \"a\": 1}")
        #expect(json.stdout == "{\n    \"a\": 1,\n    \"b\": [\n        1\n    ]\n}\n", "\(json)")
        let dir = try TemporaryDirectory()
        try "x = 1\n".write(toFile: dir.path + "/m.py", atomically: true, encoding: .utf8)
        let compiled = try Host.joeyDo(["/bin/sh", "-c", "python3 -m compileall -q \(dir.path) && ls \(dir.path)/__pycache__ | wc -l"])
        #expect(compiled.stdout == "1\n", "\(compiled)")
        // ...and nothing reached the host.
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/__pycache__"))
    }

    @Test("gcc builds a two-file project with make -j2 and the binary runs, all inside",
          .enabled(if: HostileInputTests.hasCompiler && FileManager.default.isExecutableFile(atPath: "/usr/bin/make"), "needs gcc and make"))
    func gccProject() throws {
        let dir = try TemporaryDirectory()
        try "#include <stdio.h>\nint b(void);\nint main(void) { printf(\"sum=%d\\n\", b() + 1); return 0; }\n"
            .write(toFile: dir.path + "/a.c", atomically: true, encoding: .utf8)
        try "int b(void) { return 41; }\n".write(toFile: dir.path + "/b.c", atomically: true, encoding: .utf8)
        try "prog: a.o b.o\n\tgcc -o prog a.o b.o\n%.o: %.c\n\tgcc -c $< -o $@\n".write(toFile: dir.path + "/Makefile", atomically: true, encoding: .utf8)
        let r = try Host.joeyDo(["/bin/sh", "-c", "cd \(dir.path) && make -s -j2 && ./prog"])
        #expect(r.stdout == "sum=42\n", "\(r)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/prog"))
    }

    @Test("a host file read from the disk (the sentry's lock let go meanwhile): two threads sharing one position read each piece once; a file partly in the page cache reads whole",
          .enabled(if: HostileInputTests.hasCompiler, "needs gcc (make deps)"))
    func hostFileFromDisk() throws {
        let dir = try TemporaryDirectory()
        let binary = dir.path + "/rd", data = dir.path + "/data"
        let cc = try Host.run(["/usr/bin/gcc", "-O1", "-pthread", "-o", binary, Self.programs + "/host_file_read_from_disk.c"])
        try #require(cc.status == 0, "\(cc)")
        // 8 MiB: each 4 KiB block starts with its offset, then (block + i) % 251.
        var bytes = [UInt8](repeating: 0, count: 8 << 20)
        for block in 0..<(bytes.count / 4096) {
            for i in 0..<4096 { bytes[block * 4096 + i] = i < 8 ? UInt8(truncatingIfNeeded: (block * 4096) >> (8 * i)) : UInt8((block + i) % 251) }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: data))
        // Out of the host's page cache before each run, so the reads wait for the disk.
        func evict() {
            let fd = open(data, O_RDONLY)
            fsync(fd)
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
            close(fd)
        }
        evict()
        let native = try Host.run([binary, data])
        #expect(native.stdout.contains("128 read once, 0 more than once, content ok"), "\(native)")
        evict()
        let sandboxed = try Host.joeyDo([binary, data])
        #expect(sandboxed == native)
        // Only its first 20 KiB in the page cache (read without readahead): one pread of the
        // whole file reads it all (a non-waiting host read that stops where the cache does is
        // not at the file's end; it was taken for it, and 20480 bytes came back).
        let whole = dir.path + "/whole"
        let cc2 = try Host.run(["/usr/bin/gcc", "-O1", "-o", whole, Self.programs + "/host_file_read_partly_cached.c"])
        try #require(cc2.status == 0, "\(cc2)")
        evict()
        let fd = open(data, O_RDONLY)
        posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM)
        var head = [UInt8](repeating: 0, count: 20480)
        _ = pread(fd, &head, head.count, 0)
        close(fd)
        let partly = try Host.joeyDo([whole, data])
        #expect(partly.stdout == "read \(8 << 20) of \(8 << 20) bytes, 0 wrong\n", "\(partly)")
    }

    @Test("host lookups and listings made with the sentry's lock let go (JOEY_HOST_LOOKUPS_WAIT) give what the host has")
    func hostLookupsUnlocked() throws {
        let dir = try TemporaryDirectory()
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir.path + "/a/b/c", withIntermediateDirectories: true)
        for i in 0..<40 { try "file \(i)\n".write(toFile: dir.path + "/a/b/f\(i)", atomically: false, encoding: .utf8) }
        try "deep\n".write(toFile: dir.path + "/a/b/c/deep", atomically: false, encoding: .utf8)
        try fm.createSymbolicLink(atPath: dir.path + "/a/up", withDestinationPath: "b/c")
        try fm.createSymbolicLink(atPath: dir.path + "/a/b/dangling", withDestinationPath: "nowhere")
        try fm.createSymbolicLink(atPath: dir.path + "/abs", withDestinationPath: dir.path + "/a/up/deep")
        // A listing, every entry's lstat, symlinks followed and read, opens, and names
        // that are not there: each first lookup goes through the unlocked path.
        let script = """
            cd \(dir.path) && find . -printf '%p %y %s %l\\n' | sort && cat a/up/deep abs a/b/f7 \
            && ls a/up/ && test ! -e a/b/dangling && test ! -e a/nothing/x && test -L a/b/dangling \
            && readlink abs && cat a/b/nothing 2>&1; ls -d a/b/c/../../up/deep
            """
        let native = try Host.run(["/bin/sh", "-c", script])
        #expect(native.status == 0 && native.stdout.contains("./a/b/f39 f 8"), "\(native)")
        let sandboxed = try Host.run(["/usr/bin/env", "JOEY_HOST_LOOKUPS_WAIT=1", Host.joey, "do", "--", "/bin/sh", "-c", script])
        #expect(sandboxed == native)
    }

    @Test("writes with the sentry's lock let go (a write-through host file while the host writes; a sandbox file between pieces): appends land once and whole, a shared mapping agrees",
          .enabled(if: HostileInputTests.hasCompiler, "needs gcc (make deps)"))
    func hostFileWrites() throws {
        let root = try TemporaryDirectory.rootfs()
        try FileManager.default.createDirectory(atPath: root.path + "/data", withIntermediateDirectories: true)
        let cc = try Host.run(["/usr/bin/gcc", "-O1", "-static", "-pthread", "-o", root.path + "/bin/writes", Self.programs + "/host_file_writes.c"])
        try #require(cc.status == 0, "\(cc)")
        let scratch = try TemporaryDirectory()
        let native = try Host.run([root.path + "/bin/writes", scratch.path])
        #expect(native.status == 0 && native.stdout.contains("each once and whole"), "\(native)")
        let sandboxed = try Host.joeyDo(["/bin/writes", "/data"], options: ["--rootfs", root.path, "--rootfs-writable"])
        #expect(sandboxed == native)
        let inSandbox = try Host.joeyDo(["/bin/writes", "/tmp"], options: ["--rootfs", root.path])
        #expect(inSandbox == native)
    }

    @Test("host files copied up (with the sentry's lock let go) while other threads map and read them: the appends, mappings and reads agree",
          .enabled(if: HostileInputTests.hasCompiler, "needs gcc (make deps)"))
    func copyUpRace() throws {
        let dir = try TemporaryDirectory()
        let binary = dir.path + "/race"
        let cc = try Host.run(["/usr/bin/gcc", "-O1", "-pthread", "-o", binary, Self.programs + "/copy_up_race.c"])
        try #require(cc.status == 0, "\(cc)")
        for n in 0..<6 {
            // Byte i is (i * 7 + n) % 251, which repeats every 251 bytes.
            let period = (0..<251).map { UInt8(($0 * 7 + n) % 251) }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(8 << 20)
            while bytes.count < (8 << 20) - 200 { bytes += period }
            bytes.removeLast(bytes.count - ((8 << 20) - 200))
            try Data(bytes).write(to: URL(fileURLWithPath: dir.path + "/f\(n)"))
        }
        // The sandbox first: it changes nothing on the host (its writes stay in its upper layer).
        let sandboxed = try Host.joeyDo([binary, dir.path, "6"])
        let native = try Host.run([binary, dir.path, "6"])
        #expect(native.stdout == "6 files: the appends, mappings and reads agree\n", "\(native)")
        #expect(sandboxed == native)
    }

    @Test("execve by two threads while three map host files: one wins, its program runs alone",
          .enabled(if: HostileInputTests.hasCompiler, "needs gcc (make deps)"))
    func execveWhileThreadsMap() throws {
        let dir = try TemporaryDirectory()
        let binary = dir.path + "/race"
        let cc = try Host.run(["/usr/bin/gcc", "-O1", "-pthread", "-o", binary, Self.programs + "/execve_while_threads_map.c"])
        try #require(cc.status == 0, "\(cc)")
        for _ in 0..<5 {
            let r = try Host.joeyDo([binary])
            #expect(r.stdout == "the new program runs alone\n" && r.status == 0, "\(r)")
        }
    }

    static var hasAVX2: Bool {
        (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.contains(" avx2") ?? false
    }

    @Test("AVX registers survive a signal handler that clobbers them",
          .enabled(if: HostileInputTests.hasCompiler && hasAVX2, "needs gcc and an AVX2 CPU"))
    func avxAcrossSignal() throws {
        let dir = try TemporaryDirectory()
        let binary = dir.path + "/avx"
        let cc = try Host.run(["/usr/bin/gcc", "-O1", "-mavx2", "-o", binary, Self.programs + "/avx_state_across_signal.c"])
        try #require(cc.status == 0, "\(cc)")
        // Not as pid 1: init ignores signals it has no handler for, and this one has a handler anyway.
        let r = try Host.joeyDo(["/bin/sh", "-c", "\(binary); true"])
        #expect(r.stdout == "ymm0 after the handler: 1 2 3 4 5 6 7 8\n", "\(r)")
    }
}
