// What makes a sandbox: its own pid namespace, uname, an isolated root, exit statuses.
import Foundation
import Testing

@Suite("The sandbox")
struct SandboxTests {
    @Test("the first process is pid 1 and uname is Joey's", .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func identity() throws {
        let r = try Host.joeyDo([Host.busybox, "sh", "-c", "echo $$; uname -r; uname -s"])
        #expect(r.status == 0)
        #expect(r.stdout == "1\n6.1.0-joey\nLinux\n")
        let native = try Host.run(["/bin/uname", "-r"])
        #expect(native.stdout != "6.1.0-joey\n")
    }

    @Test("writes to / and /etc stay in the sandbox", .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func isolation() throws {
        let name = "joey-isolation-\(UUID().uuidString)"
        let script = "echo secret > /etc/\(name) && echo top > /\(name) && cat /etc/\(name) /\(name) && rm /etc/hostname && ls /etc/hostname 2>&1; echo ok"
        let r = try Host.joeyDo([Host.busybox, "sh", "-c", script])
        #expect(r.stdout == "secret\ntop\nls: /etc/hostname: No such file or directory\nok\n")
        #expect(!FileManager.default.fileExists(atPath: "/etc/\(name)"))
        #expect(!FileManager.default.fileExists(atPath: "/\(name)"))
        #expect(FileManager.default.fileExists(atPath: "/etc/hostname"))
    }

    @Test("a changed host file is copied up, never written", .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func copyUp() throws {
        let dir = try TemporaryDirectory()
        let file = dir.path + "/data.txt"
        try "original\n".write(toFile: file, atomically: true, encoding: .utf8)
        let r = try Host.joeyDo([Host.busybox, "sh", "-c", "echo more >> \(file); cat \(file); chmod 600 \(file); stat -c %a \(file)"])
        #expect(r.stdout == "original\nmore\n600\n")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "original\n")
    }

    @Test("--rootfs-writable writes through to the host", .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func writeThrough() throws {
        let root = try TemporaryDirectory.rootfs()
        let r = try Host.joeyDo(["/bin/busybox", "sh", "-c", "echo kept > /kept.txt; mkdir /newdir; echo x > /newdir/f; rm /removeme"],
                                options: ["--rootfs", root.path, "--rootfs-writable"])
        #expect(r.status == 0, "\(r)")
        #expect(try String(contentsOfFile: root.path + "/kept.txt", encoding: .utf8) == "kept\n")
        #expect(try String(contentsOfFile: root.path + "/newdir/f", encoding: .utf8) == "x\n")
        #expect(!FileManager.default.fileExists(atPath: root.path + "/removeme"))
    }

    @Test("--rootfs-writable renames, links and chmods on the host, losing nothing",
          .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func writeThroughMetadata() throws {
        let root = try TemporaryDirectory.rootfs()
        let script = "echo data > /f1; mv /f1 /f2; mkdir /d; mv /f2 /d/f3; chmod 640 /d/f3; ln /d/f3 /hard; mv /etc /etc2; cat /etc2/motd"
        let r = try Host.joeyDo(["/bin/busybox", "sh", "-c", script], options: ["--rootfs", root.path, "--rootfs-writable"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout == "hello from the rootfs\n")
        let fm = FileManager.default
        #expect(!fm.fileExists(atPath: root.path + "/f1") && !fm.fileExists(atPath: root.path + "/f2"))
        #expect(try String(contentsOfFile: root.path + "/d/f3", encoding: .utf8) == "data\n")
        #expect(try String(contentsOfFile: root.path + "/hard", encoding: .utf8) == "data\n")
        let perms = try fm.attributesOfItem(atPath: root.path + "/d/f3")[.posixPermissions] as? Int
        #expect(perms == 0o640)
        #expect(try String(contentsOfFile: root.path + "/etc2/motd", encoding: .utf8) == "hello from the rootfs\n")
    }

    @Test("--rootfs-writable: MAP_SHARED mappings agree with read/write, each other and other processes, and reach the file",
          .enabled(if: Host.hasBusybox && HostileInputTests.hasCompiler, "needs busybox-static and gcc (make deps)"))
    func writeThroughSharedMappings() throws {
        let root = try TemporaryDirectory.rootfs()
        let native = try TemporaryDirectory()
        let program = CProgramTests.programs + "/shared_mapping_write_through.c"
        let cc = try Host.run(["/usr/bin/gcc", "-O1", "-static", "-o", root.path + "/bin/prog", program])
        try #require(cc.status == 0, "\(cc)")
        try FileManager.default.createDirectory(atPath: root.path + "/data", withIntermediateDirectories: true)
        let expected = try Host.run([root.path + "/bin/prog", native.path])
        try #require(expected.status == 0, "\(expected)")
        let r = try Host.joeyDo(["/bin/prog", "/data"], options: ["--rootfs", root.path, "--rootfs-writable"])
        #expect(r.status == 0 && r.stdout == expected.stdout, "\(r)")
        // What was stored, down to the stores made just before exit, is in the host files.
        for name in ["shared.dat", "small.dat"] {
            let want = try Data(contentsOf: URL(fileURLWithPath: native.path + "/" + name))
            let got = try Data(contentsOf: URL(fileURLWithPath: root.path + "/data/" + name))
            #expect(got == want, "\(name): \(got.count) bytes, natively \(want.count)")
        }
    }

    @Test("--rootfs runs a program from another root", .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func rootfs() throws {
        let root = try TemporaryDirectory.rootfs()
        let r = try Host.joeyDo(["/bin/busybox", "sh", "-c", "ls /; cat /etc/motd; echo hi > /new; ls /new"],
                                options: ["--rootfs", root.path])
        #expect(r.stdout == "bin\ndev\netc\nproc\nremoveme\ntmp\nhello from the rootfs\n/new\n", "\(r)")
        #expect(!FileManager.default.fileExists(atPath: root.path + "/new"))
        // Symlinks and .. cannot leave the root.
        let escape = try Host.joeyDo(["/bin/busybox", "sh", "-c", "ln -s / /l; ls /l/../../; cat /../../etc/motd"],
                                     options: ["--rootfs", root.path])
        #expect(escape.stdout == "bin\ndev\netc\nl\nproc\nremoveme\ntmp\nhello from the rootfs\n", "\(escape)")
    }

    @Test("exit statuses: the guest's, 127 not found, 126 not executable, 2 bad flags")
    func exitStatuses() throws {
        if Host.hasBusybox {
            #expect(try Host.joeyDo([Host.busybox, "sh", "-c", "exit 42"]).status == 42)
            #expect(try Host.joeyDo([Host.busybox, "sh", "-c", "/bin/busybox kill -TERM $$ & wait; sleep 1; exit 3"]).status == 3)
        }
        let missing = try Host.joeyDo(["/no/such/program"])
        #expect(missing.status == 127)
        #expect(missing.stderr.contains("/no/such/program"))
        let notExec = try Host.joeyDo(["/etc/passwd"])
        #expect(notExec.status == 126)
        let bad = try Host.run([Host.joey, "do", "--no-such-flag"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("Usage"))
    }

    @Test("a guest killed by a signal exits 128+signal", .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func killedBySignal() throws {
        // A child shell kills itself; pid 1 reports the child's fate.
        let r = try Host.joeyDo([Host.busybox, "sh", "-c", "sh -c 'kill -KILL $$'; echo $?"])
        #expect(r.stdout == "137\n")
    }

    @Test("file data lives in the page cache: 1 GiB in /tmp costs about 1 GiB of sentry memory, 100 GiB sparse costs nothing",
          .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func fileDataMemory() throws {
        let dir = try TemporaryDirectory()
        let out = dir.path + "/out"
        // The guest writes, reports, and waits while the sentry's peak resident size is read.
        let guest = "dd if=/dev/zero of=/tmp/big bs=1M count=1024 2>/dev/null; truncate -s 100G /tmp/sparse; "
            + "ls -l /tmp/big /tmp/sparse | while read m l u g size rest; do echo $size; done; echo written; sleep 5"
        let script = """
        \(Host.joey) do -- \(Host.busybox) sh -c '\(guest)' > \(out) &
        pid=$!
        for i in $(seq 600); do grep -q written \(out) 2>/dev/null && break; sleep 0.1; done
        grep VmHWM /proc/$pid/status
        kill $pid
        """
        let r = try Host.run(["/bin/sh", "-c", script], timeout: 120)
        let sizes = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(sizes == "1073741824\n107374182400\nwritten\n", "\(sizes)")
        let kib = UInt64(r.stdout.split(whereSeparator: { !$0.isNumber }).first ?? "") ?? 0
        #expect(kib > 0 && kib <= 1_153_433, "sentry peak \(kib) KiB for a 1 GiB file (at most 1.1 GiB allowed): \(r)")
    }

    @Test("reading 5,000 distinct host files under ulimit -n 256 keeps the sandbox working (host fds are cached, bounded)")
    func manyHostFiles() throws {
        let dir = try TemporaryDirectory()
        for i in 0..<5000 { try "\(i)\n".write(toFile: dir.path + "/f\(i)", atomically: false, encoding: .utf8) }
        let r = try Host.run(["/bin/sh", "-c", "ulimit -n 256; exec \(Host.joey) do -- /bin/sh -c "
                              + "'find \(dir.path) -type f | xargs cat | wc -l; /bin/echo a new process runs'"], timeout: 300)
        #expect(r.status == 0 && r.stdout == "5000\na new process runs\n", "\(r)")
    }

    @Test("names are bytes: a host file named a\\xffb is listed, and opened by an argument holding those bytes")
    func byteNames() throws {
        let dir = try TemporaryDirectory()
        let script = """
        f=$(printf '\(dir.path)/a\\377b'); printf content > "$f"
        \(Host.joey) do -- /bin/cat "$f"; echo
        \(Host.joey) do -- /bin/ls \(dir.path) | od -An -c
        """
        let r = try Host.run(["/bin/sh", "-c", script])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.hasPrefix("content\n"), "\(r)")
        #expect(r.stdout.contains("a 377   b  \\n"), "\(r)")
    }

    @Test("--memory: file writes past the limit fail with ENOSPC", .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func memoryOption() throws {
        let r = try Host.joeyDo([Host.busybox, "sh", "-c", "dd if=/dev/zero of=/tmp/big bs=1M count=200 2>&1; echo status $?"],
                                options: ["--memory", "64M"])
        #expect(r.stdout.contains("No space left on device") && r.stdout.hasSuffix("status 1\n"), "\(r)")
        let bad = try Host.joeyDo(["/bin/true"], options: ["--memory", "lots"])
        #expect(bad.status == 2 && bad.stderr.contains("--memory"), "\(bad)")
    }
}

/// A directory removed when the value is dropped.
final class TemporaryDirectory {
    let path: String
    init() throws {
        // Not under /tmp: the sandbox mounts its own tmpfs there.
        path = "/var/tmp/joey-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A tiny root filesystem: busybox-static, /etc/motd, empty /dev /proc /tmp.
    static func rootfs() throws -> TemporaryDirectory {
        let d = try TemporaryDirectory()
        let fm = FileManager.default
        for sub in ["bin", "etc", "dev", "proc", "tmp"] { try fm.createDirectory(atPath: d.path + "/" + sub, withIntermediateDirectories: true) }
        try fm.copyItem(atPath: Host.busybox, toPath: d.path + "/bin/busybox")
        try fm.createSymbolicLink(atPath: d.path + "/bin/sh", withDestinationPath: "busybox")
        try "hello from the rootfs\n".write(toFile: d.path + "/etc/motd", atomically: true, encoding: .utf8)
        try "x\n".write(toFile: d.path + "/removeme", atomically: true, encoding: .utf8)
        return d
    }
}
