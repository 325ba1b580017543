// Joey as an OCI runtime: the runc command set on bundles made by `joey spec`.
import Foundation
import Testing

/// A bundle with a busybox-static rootfs, its config.json made by `joey spec` and then edited.
struct Bundle {
    let dir: TemporaryDirectory
    let state: String
    var path: String { dir.path + "/bundle" }
    var rootfs: String { path + "/rootfs" }

    init(args: [String], readonly: Bool = false, edit: (inout [String: Any]) -> Void = { _ in }) throws {
        dir = try TemporaryDirectory()
        state = dir.path + "/state"
        let fm = FileManager.default
        try fm.createDirectory(atPath: rootfs + "/bin", withIntermediateDirectories: true)
        // /tmp as images have it: the container has no tmpfs there unless config.json mounts one.
        try fm.createDirectory(atPath: rootfs + "/tmp", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o1777])
        try fm.copyItem(atPath: Host.busybox, toPath: rootfs + "/bin/busybox")
        for applet in ["sh", "echo", "cat", "sleep", "ls", "hostname", "id"] {
            try fm.createSymbolicLink(atPath: rootfs + "/bin/" + applet, withDestinationPath: "busybox")
        }
        let r = try Host.run([Host.joey, "spec", "--bundle", path])
        #expect(r.status == 0, "\(r)")
        let file = path + "/config.json"
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
        var process = config["process"] as! [String: Any]
        process["args"] = args
        process["terminal"] = false
        config["process"] = process
        var root = config["root"] as! [String: Any]
        root["readonly"] = readonly
        config["root"] = root
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: file))
    }

    /// `joey --root STATE args...`
    func joey(_ args: String...) throws -> RunResult {
        try Host.run([Host.joey, "--root", state] + args, cwd: path)
    }

    func status(_ id: String) throws -> String? {
        let r = try joey("state", id)
        guard r.status == 0, let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else { return nil }
        return obj["status"] as? String
    }

    func waitForStatus(_ id: String, _ want: String) throws -> Bool {
        for _ in 0..<200 {
            if try status(id) == want { return true }
            usleep(50_000)
        }
        return false
    }
}

@Suite("OCI runtime commands", .serialized)
struct OCIRuntimeTests {
    @Test("create, state, start, kill, delete: the lifecycle and its state JSON", .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func lifecycle() throws {
        let b = try Bundle(args: ["sh", "-c", "trap 'exit 3' TERM; echo started-$(hostname) > /started; while true; do sleep 1; done"])
        let pidFile = b.dir.path + "/pid"
        var r = try b.joey("create", "--bundle", b.path, "--pid-file", pidFile, "c1")
        #expect(r.status == 0, "\(r)")
        let state = try JSONSerialization.jsonObject(with: Data(try b.joey("state", "c1").stdout.utf8)) as! [String: Any]
        #expect(state["status"] as? String == "created")
        #expect(state["id"] as? String == "c1")
        #expect(state["bundle"] as? String == b.path)
        let pid = state["pid"] as? Int ?? 0
        #expect(pid > 0 && kill(pid_t(pid), 0) == 0, "the reported pid is a live host process")
        #expect((try? String(contentsOfFile: pidFile, encoding: .utf8)) == String(pid))
        // Created: the program has not run yet.
        #expect(!FileManager.default.fileExists(atPath: b.rootfs + "/started"))

        r = try b.joey("start", "c1")
        #expect(r.status == 0, "\(r)")
        #expect(try b.waitForStatus("c1", "running"))
        var started = ""
        for _ in 0..<100 where started.isEmpty {
            started = (try? String(contentsOfFile: b.rootfs + "/started", encoding: .utf8)) ?? ""
            usleep(50_000)
        }
        // A writable root: the guest's write reached the bundle, with the config's hostname.
        #expect(started == "started-joey\n")

        r = try b.joey("start", "c1")
        #expect(r.status == 1 && r.stderr.contains("already running"), "\(r)")
        r = try b.joey("delete", "c1")
        #expect(r.status == 1 && r.stderr.contains("not stopped"), "\(r)")

        r = try b.joey("kill", "c1", "TERM")
        #expect(r.status == 0, "\(r)")
        #expect(try b.waitForStatus("c1", "stopped"))
        let stopped = try JSONSerialization.jsonObject(with: Data(try b.joey("state", "c1").stdout.utf8)) as! [String: Any]
        #expect(stopped["pid"] as? Int == 0)
        r = try b.joey("kill", "c1", "TERM")
        #expect(r.status == 1 && r.stderr.contains("not running"), "\(r)")
        r = try b.joey("delete", "c1")
        #expect(r.status == 0, "\(r)")
        r = try b.joey("state", "c1")
        #expect(r.status == 1 && r.stderr.contains("does not exist"), "\(r)")
    }

    @Test("run waits and exits with the container's status; run -d, list and delete --force", .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func runAndList() throws {
        let b = try Bundle(args: ["sh", "-c", "echo out; echo err >&2; exit 7"])
        var r = try b.joey("run", "--bundle", b.path, "r1")
        #expect(r.status == 7, "\(r)")
        #expect(r.stdout == "out\n")
        #expect(r.stderr == "err\n")
        #expect(try b.joey("list", "-q").stdout == "", "run removes the container after it exits")

        let d = try Bundle(args: ["sleep", "30"])
        r = try d.joey("run", "-d", "--bundle", d.path, "r2")
        #expect(r.status == 0, "\(r)")
        #expect(try d.waitForStatus("r2", "running"))
        r = try d.joey("list", "--format", "json")
        let list = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]
        #expect(list?.first?["id"] as? String == "r2", "\(r)")
        #expect(try d.joey("list").stdout.contains("r2"))
        r = try d.joey("delete", "--force", "r2")
        #expect(r.status == 0, "\(r)")
        #expect(try d.joey("list", "-q").stdout == "")
        r = try d.joey("delete", "--force", "r2")
        #expect(r.status == 0, "deleting what does not exist with --force succeeds, as in runc")
    }

    @Test("the container's processes share a session keyring named _ses.<id>, as runc's; with --no-new-keyring they have none until one is used",
          .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func sessionKeyring() throws {
        let b = try Bundle(args: ["cat", "/proc/keys"])
        var r = try b.joey("run", "--bundle", b.path, "k1")
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains(" perm 3f1b0000     0     0 keyring   _ses.k1: empty\n"), "\(r.stdout)")
        r = try b.joey("run", "--no-new-keyring", "--bundle", b.path, "k2")
        #expect(r.status == 0, "\(r)")
        // No keyring at all until a key operation asks for one, as for Linux's init.
        #expect(r.stdout == "", "\(r.stdout)")

        let d = try Bundle(args: ["sleep", "30"])
        r = try d.joey("run", "-d", "--bundle", d.path, "k3")
        #expect(r.status == 0, "\(r)")
        #expect(try d.waitForStatus("k3", "running"))
        r = try d.joey("exec", "k3", "cat", "/proc/keys")
        #expect(r.status == 0, "\(r)")
        // Held by init and by the exec'd process: one keyring, not two of the name.
        #expect(r.stdout.components(separatedBy: "_ses.k3").count == 2, "\(r.stdout)")
        #expect(r.stdout.contains(" I--Q---     2 perm 3f1b0000     0     0 keyring   _ses.k3: empty\n"), "\(r.stdout)")
        #expect(try d.joey("delete", "--force", "k3").status == 0)
    }

    @Test("errors: duplicate id, unknown id, bad id, bad config: the message names the field; nothing is created",
          .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func errors() throws {
        let b = try Bundle(args: ["sleep", "30"])
        var r = try b.joey("create", "--bundle", b.path, "e1")
        #expect(r.status == 0, "\(r)")
        r = try b.joey("create", "--bundle", b.path, "e1")
        #expect(r.status == 1 && r.stderr.contains("container with given ID already exists"), "\(r)")
        r = try b.joey("start", "nope")
        #expect(r.status == 1 && r.stderr.contains("does not exist"), "\(r)")
        r = try b.joey("create", "--bundle", b.path, "../x")
        #expect(r.status == 1 && r.stderr.contains("invalid container ID format"), "\(r)")
        r = try b.joey("delete", "e1")
        #expect(r.status == 0, "a created container can be deleted: \(r)")

        let missing = try Bundle(args: ["sleep", "1"]) { config in
            var p = config["process"] as! [String: Any]
            p["args"] = nil
            config["process"] = p
        }
        r = try missing.joey("create", "--bundle", missing.path, "e2")
        #expect(r.status == 1 && r.stderr.contains("config.json: process.args: required field is missing"), "\(r)")
        #expect(try missing.joey("list", "-q").stdout == "")

        let wrongType = try Bundle(args: ["sleep", "1"]) { config in config["hostname"] = 42 }
        r = try wrongType.joey("create", "--bundle", wrongType.path, "e3")
        #expect(r.status == 1 && r.stderr.contains("hostname: must be a string"), "\(r)")

        try "{ not json".write(toFile: wrongType.path + "/config.json", atomically: true, encoding: .utf8)
        r = try wrongType.joey("create", "--bundle", wrongType.path, "e4")
        #expect(r.status == 1 && r.stderr.contains("config.json: malformed JSON"), "\(r)")
        #expect(try wrongType.joey("list", "-q").stdout == "")

        let noProgram = try Bundle(args: ["/bin/nonexistent"])
        r = try noProgram.joey("create", "--bundle", noProgram.path, "e5")
        #expect(r.status != 0 && r.stderr.contains("/bin/nonexistent"), "\(r)")
        #expect(try noProgram.joey("list", "-q").stdout == "")

        let unknown = try Bundle(args: ["sh", "-c", "exit 0"]) { config in config["vm"] = ["hypervisor": ["path": "/x"]] }
        r = try unknown.joey("run", "--bundle", unknown.path, "e6")
        #expect(r.status == 0 && r.stderr.contains("vm is not supported"), "\(r)")
    }

    @Test("--preserve-fds passes the caller's fd 3 on to the container's process", .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func preserveFds() throws {
        let b = try Bundle(args: ["sh", "-c", "echo via-fd3 >&3"])
        let out = b.dir.path + "/fd3.txt"
        let r = try Host.run(["/bin/sh", "-c", "exec 3>\(out); exec \(Host.joey) --root \(b.state) run --preserve-fds 1 --bundle \(b.path) p1"])
        #expect(r.status == 0, "\(r)")
        #expect((try? String(contentsOfFile: out, encoding: .utf8)) == "via-fd3\n")
    }

    @Test("a read-only root keeps the bundle untouched; rlimits and user reach the guest", .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func configApplied() throws {
        let b = try Bundle(args: ["sh", "-c", "echo x > /written || echo refused; mkdir /d 2>&1 | grep -c Read-only; echo tmp > /tmp/ok || echo tmp-refused; echo t > /scratch/ok && cat /scratch/ok; id -u; id -g; id -G; echo $HOME; ulimit -n"], readonly: true) { config in
            var p = config["process"] as! [String: Any]
            p["user"] = ["uid": 1000, "gid": 1001, "additionalGids": [7]]
            p["rlimits"] = [["type": "RLIMIT_NOFILE", "soft": 512, "hard": 512]]
            p["env"] = ["PATH=/bin"]
            config["process"] = p
            config["mounts"] = (config["mounts"] as? [[String: Any]] ?? []) + [["destination": "/scratch", "type": "tmpfs", "source": "tmpfs"]]
        }
        let r = try b.joey("run", "--bundle", b.path, "ro")
        #expect(r.status == 0, "\(r)")
        // A read-only root: EROFS, as a read-only mount gives, /tmp included (as under runc, the
        // container has exactly the mounts its config lists: here a tmpfs at /scratch). The
        // groups are the primary and exactly the listed ones; HOME, unset, is "/" (no passwd).
        #expect(r.stdout == "refused\n1\ntmp-refused\nt\n1000\n1001\n1001 7\n/\n512\n", "\(r)")
        #expect(r.stderr.contains("Read-only file system"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: b.rootfs + "/written"))
    }

    @Test("linux.sysctl: the tunables are the sandbox's own /proc/sys, set before the process runs; an unknown one is an error naming it",
          .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func sysctl() throws {
        let hostPorts = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        let b = try Bundle(args: ["sh", "-c", "cat /proc/sys/kernel/msgmni /proc/sys/net/ipv4/ip_local_port_range /proc/sys/net/core/somaxconn"]) { config in
            var linux = config["linux"] as! [String: Any]
            linux["sysctl"] = ["kernel.msgmni": "77", "net.ipv4.ip_local_port_range": "40000 40100", "net/core/somaxconn": "1000"]
            config["linux"] = linux
        }
        var r = try b.joey("run", "--bundle", b.path, "s1")
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout == "77\n40000\t40100\n1000\n", "\(r)")
        #expect(try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8) == hostPorts)
        // An unknown tunable and a value that is not a number: errors naming them.
        for (name, value) in [("kernel.no_such_tunable", "1"), ("kernel.msgmni", "lots")] {
            let bad = try Bundle(args: ["sh", "-c", "true"]) { config in
                var linux = config["linux"] as! [String: Any]
                linux["sysctl"] = [name: value]
                config["linux"] = linux
            }
            r = try bad.joey("run", "--bundle", bad.path, "s2")
            #expect(r.status != 0 && r.stderr.contains("sysctl \(name)"), "\(r)")
            _ = try? bad.joey("delete", "--force", "s2")
        }
    }
}

@Suite("OCI runtime: exec, ps, events, features", .serialized)
struct OCIExecTests {
    @Test("exec runs a process in the running sandbox; ps lists it; kill --all reaches every process",
          .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func exec() throws {
        let b = try Bundle(args: ["sh", "-c", "echo shared > /tmp/from-init; sleep 30"])
        var r = try b.joey("run", "-d", "--bundle", b.path, "x1")
        #expect(r.status == 0, "\(r)")
        #expect(try b.waitForStatus("x1", "running"))
        // The same sandbox: the exec'd process sees init's tmpfs and its pid namespace.
        var seen = ""
        for _ in 0..<50 where !seen.contains("shared") {
            seen = try b.joey("exec", "x1", "cat", "/tmp/from-init").stdout
            usleep(50_000)
        }
        #expect(seen == "shared\n")
        r = try b.joey("exec", "--env", "GREETING=hi", "--cwd", "/bin", "x1", "sh", "-c", "echo $GREETING $(pwd) $$; exit 5")
        #expect(r.status == 5, "\(r)")
        #expect(r.stdout.hasPrefix("hi /bin "), "\(r)")
        r = try b.joey("exec", "x1", "/bin/nonexistent")
        #expect(r.status == 127 && r.stderr.contains("/bin/nonexistent"), "\(r)")

        // A caller reading the exec's output through a pipe it closes afterwards (command
        // substitution, `| head -1`) sees EOF when the process is done, and the container lives on.
        let joey = "\(Host.joey) --root \(b.state)"
        let piped = try Host.run(["/bin/sh", "-c", "x=$(\(joey) exec x1 echo sub); echo \"[$x]\"; \(joey) exec x1 sh -c 'while echo y; do :; done' | head -1"],
                                 timeout: 30)
        #expect(piped.status == 0 && piped.stdout == "[sub]\ny\n", "\(piped)")
        #expect(try b.status("x1") == "running")

        let pidFile = b.dir.path + "/exec.pid"
        r = try b.joey("exec", "-d", "--pid-file", pidFile, "x1", "sleep", "30")
        #expect(r.status == 0, "\(r)")
        let waiter = pid_t((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "") ?? 0
        // The pid file names a live (not zombie) host process standing for the exec.
        let stat = (try? String(contentsOfFile: "/proc/\(waiter)/stat", encoding: .utf8)) ?? ""
        let stateField = stat.split(separator: ")").last?.split(separator: " ").first ?? ""
        #expect(waiter > 0 && !stat.isEmpty && stateField != "Z", "waiter \(waiter): \(stat)")

        r = try b.joey("ps", "x1")
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.components(separatedBy: "\n").filter { $0.hasSuffix("sleep") }.count == 2, "\(r)")
        // JSON: host pids, as runc's (docker top looks them up in the host's ps): the
        // processes running the guest's, each in the container's pid namespace.
        r = try b.joey("ps", "--format", "json", "x1")
        let hostPids = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [Int]) ?? []
        let sentry = try JSONSerialization.jsonObject(with: Data(b.joey("state", "x1").stdout.utf8)) as? [String: Any]
        let namespace = { (pid: Int) in try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/pid") }
        #expect(!hostPids.isEmpty && hostPids.allSatisfy { namespace($0) != nil && namespace($0) == namespace(sentry?["pid"] as? Int ?? 0) }, "\(r)")
        r = try b.joey("events", "--stats", "x1")
        #expect(r.stdout.contains("\"type\":\"stats\"") && r.stdout.contains("\"pids\":{\"current\":2}"), "\(r)")

        // Like a PID namespace's init, the container's init ignores a signal it has no handler
        // for; the exec'd sleep dies of it.
        r = try b.joey("kill", "--all", "x1", "TERM")
        #expect(r.status == 0, "\(r)")
        var left = 0
        for _ in 0..<100 {
            left = try b.joey("ps", "x1").stdout.components(separatedBy: "\n").filter { !$0.isEmpty }.count - 1
            if left == 1 { break }
            usleep(50_000)
        }
        #expect(left == 1)
        #expect(try b.status("x1") == "running")
        r = try b.joey("kill", "x1", "KILL")
        #expect(r.status == 0, "\(r)")
        #expect(try b.waitForStatus("x1", "stopped"))
        r = try b.joey("exec", "x1", "true")
        #expect(r.status == 1 && r.stderr.contains("not running"), "\(r)")
        r = try b.joey("delete", "x1")
        #expect(r.status == 0, "\(r)")
    }

    @Test("pause holds every process until resume, and state says so; update changes the pids limit",
          .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func pauseResumeUpdate() throws {
        // Appended, not rewritten: a pause between a truncation and its write would read as 0.
        let b = try Bundle(args: ["sh", "-c", "while true; do echo x >> /tmp/count; sleep 0.05; done"])
        var r = try b.joey("run", "-d", "--bundle", b.path, "p1")
        #expect(r.status == 0, "\(r)")
        #expect(try b.waitForStatus("p1", "running"))
        let count = { ((try? String(contentsOfFile: b.rootfs + "/tmp/count", encoding: .utf8)) ?? "").filter { $0 == "\n" }.count }
        for _ in 0..<400 where count() < 2 { usleep(50_000) }
        r = try b.joey("pause", "p1")
        #expect(r.status == 0, "\(r)")
        #expect(try b.status("p1") == "paused")
        usleep(200_000)
        let held = count()
        usleep(500_000)
        #expect(held > 0 && count() == held, "the count went on while paused: \(held) then \(count())")
        r = try b.joey("pause", "p1")
        #expect(r.status == 1 && r.stderr.contains("not running"), "\(r)")
        r = try b.joey("resume", "p1")
        #expect(r.status == 0, "\(r)")
        #expect(try b.status("p1") == "running")
        for _ in 0..<400 where count() <= held { usleep(50_000) }
        #expect(count() > held)
        r = try b.joey("resume", "p1")
        #expect(r.status == 1 && r.stderr.contains("not paused"), "\(r)")
        // SIGKILL ends a paused container, as the freezer lets it.
        r = try b.joey("pause", "p1")
        #expect(r.status == 0, "\(r)")
        r = try b.joey("kill", "p1", "KILL")
        #expect(r.status == 0, "\(r)")
        #expect(try b.waitForStatus("p1", "stopped"))
        r = try b.joey("delete", "p1")
        #expect(r.status == 0, "\(r)")

        // The pids limit: at 1 task (the container's one sleep) nothing more starts; raised,
        // an exec runs again.
        let s = try Bundle(args: ["sleep", "30"])
        r = try s.joey("run", "-d", "--bundle", s.path, "p2")
        #expect(r.status == 0, "\(r)")
        #expect(try s.waitForStatus("p2", "running"))
        r = try s.joey("update", "--pids-limit", "1", "p2")
        #expect(r.status == 0, "\(r)")
        r = try s.joey("exec", "p2", "echo")
        #expect(r.status != 0 && r.stderr.contains("pids limit"), "\(r)")
        r = try s.joey("update", "--pids-limit", "64", "p2")
        #expect(r.status == 0, "\(r)")
        r = try s.joey("exec", "p2", "echo")
        #expect(r.status == 0, "\(r)")
        // The memory limit is fixed at create: a change is refused, saying so.
        r = try s.joey("update", "--memory", "1g", "p2")
        #expect(r.status == 1 && r.stderr.contains("memory limit"), "\(r)")
        r = try s.joey("delete", "--force", "p2")
        #expect(r.status == 0, "\(r)")
    }

    /// The forms of cgroupsPath the test below gives, each with the directory it names and
    /// the ancestors the test made (delete leaves ancestors, which others may share).
    static let cgroupForms: [(form: String, path: String, ancestors: [String])] = [
        ("/joey-test-\(getpid())/c1", "/joey-test-\(getpid())/c1", ["/joey-test-\(getpid())"]),
        // The systemd driver's: the scope's directory in its slice, a slice in its parent.
        ("joeytest-\(getpid()).slice:joey:c1", "/joeytest.slice/joeytest-\(getpid()).slice/joey-c1.scope",
         ["/joeytest.slice/joeytest-\(getpid()).slice", "/joeytest.slice"]),
    ]

    @Test("linux.cgroupsPath: the sentry and its stubs live in the container's cgroup, with its limits; delete removes it",
          .enabled(if: Host.hasBusybox && getuid() == 0, "needs busybox-static and root"), arguments: [0, 1])
    func cgroup(form: Int) throws {
        let (cgroupsPath, path, ancestors) = Self.cgroupForms[form]
        let b = try Bundle(args: ["sleep", "30"]) { config in
            var linux = config["linux"] as! [String: Any]
            linux["cgroupsPath"] = cgroupsPath
            linux["resources"] = ["memory": ["limit": 128 << 20], "pids": ["limit": 32]]
            config["linux"] = linux
        }
        var r = try b.joey("run", "-d", "--bundle", b.path, "g1")
        #expect(r.status == 0, "\(r)")
        #expect(try b.waitForStatus("g1", "running"))
        let state = try JSONSerialization.jsonObject(with: Data(b.joey("state", "g1").stdout.utf8)) as? [String: Any]
        let sentry = state?["pid"] as? Int ?? 0
        let unified = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")
        let memoryDir = unified ? "/sys/fs/cgroup" + path : "/sys/fs/cgroup/memory" + path
        let pidsDir = unified ? "/sys/fs/cgroup" + path : "/sys/fs/cgroup/pids" + path
        // The sentry, and every host process of the container (its stubs), are in it.
        let procs = ((try? String(contentsOfFile: memoryDir + "/cgroup.procs", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int($0) }
        #expect(procs.contains(sentry), "sentry \(sentry) not among \(procs)")
        r = try b.joey("ps", "--format", "json", "g1")
        let hosts = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [Int]) ?? []
        #expect(!hosts.isEmpty && hosts.allSatisfy { procs.contains($0) }, "\(r) \(procs)")
        // The host's limits: the guest's and the sentry's own beside them.
        let memory = (try? String(contentsOfFile: memoryDir + (unified ? "/memory.max" : "/memory.limit_in_bytes"), encoding: .utf8)) ?? ""
        #expect(memory == "\((128 << 20) + (64 << 20))\n", "\(memory)")
        let pids = (try? String(contentsOfFile: pidsDir + "/pids.max", encoding: .utf8)) ?? ""
        #expect(pids == "\(2 * 32 + 64)\n", "\(pids)")
        r = try b.joey("delete", "--force", "g1")
        #expect(r.status == 0, "\(r)")
        #expect(!FileManager.default.fileExists(atPath: memoryDir), "\(memoryDir) is left")
        let hierarchies = unified ? [""] : ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? []).map { "/" + $0 }
        for h in hierarchies { for d in [path] + ancestors { rmdir("/sys/fs/cgroup" + h + d) } }
    }

    @Test("linux.cgroupsPath on cgroup v2 where the host mounts v1 (a cgroup2 mount over /sys/fs/cgroup in a mount namespace of the test's own): the sentry joins the container's directory, whose limits are set where the hierarchy has the controller; delete removes it",
          .enabled(if: Host.hasBusybox && getuid() == 0 && !FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")
                   && FileManager.default.fileExists(atPath: "/usr/bin/unshare"),
                   "needs busybox-static, root, unshare and a v1 host (on a v2 host the test above runs on v2)"))
    func cgroupV2() throws {
        let parent = "/joey-test-v2-\(getpid())"
        let dir = "/sys/fs/cgroup" + parent + "/c1"
        let b = try Bundle(args: ["sleep", "30"]) { config in
            var linux = config["linux"] as! [String: Any]
            linux["cgroupsPath"] = parent + "/c1"
            linux["resources"] = ["memory": ["limit": 128 << 20], "pids": ["limit": 32]]
            config["linux"] = linux
        }
        let joey = "\(Host.joey) --root \(b.state)"
        // The whole life of the container in the namespace: the sentry stays in it, and
        // only there is /sys/fs/cgroup the v2 hierarchy.
        let script = """
            mount -t cgroup2 none /sys/fs/cgroup || exit 3
            \(joey) run -d --bundle \(b.path) v2 || exit 4
            echo "sentry=$(\(joey) state v2 | tr -d ' \\n' | sed -n 's/.*"pid":\\([0-9]*\\).*/\\1/p')"
            echo "procs=$(tr '\\n' ' ' < \(dir)/cgroup.procs)"
            echo "controllers=$(cat /sys/fs/cgroup/cgroup.controllers)"
            echo "memory.max=$(cat \(dir)/memory.max 2>/dev/null)"
            echo "pids.max=$(cat \(dir)/pids.max 2>/dev/null)"
            \(joey) delete --force v2
            [ -d \(dir) ] && echo "left=yes" || echo "left=no"
            rmdir /sys/fs/cgroup\(parent)
            true
            """
        let r = try Host.run(["/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script], cwd: b.path)
        #expect(r.status == 0, "\(r)")
        var got: [String: String] = [:]
        for line in r.stdout.split(separator: "\n") {
            let kv = line.split(separator: "=", maxSplits: 1)
            got[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
        }
        let sentry = got["sentry"] ?? ""
        #expect(!sentry.isEmpty && (got["procs"] ?? "").split(separator: " ").contains(Substring(sentry)), "\(r)")
        // A hierarchy that has the controller gets the limit (the guest's and the sentry's own).
        let controllers = (got["controllers"] ?? "").split(separator: " ")
        if controllers.contains("memory") { #expect(got["memory.max"] == "\((128 << 20) + (64 << 20))", "\(r)") }
        if controllers.contains("pids") { #expect(got["pids.max"] == "\(2 * 32 + 64)", "\(r)") }
        #expect(got["left"] == "no", "\(r)")
    }

    @Test("features describes the runtime as JSON")
    func features() throws {
        let r = try Host.run([Host.joey, "features"])
        #expect(r.status == 0, "\(r)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(obj?["ociVersionMax"] as? String == "1.0.2", "\(r)")
    }
}

@Suite("OCI runtime: init and signals", .serialized)
struct OCISignalTests {
    @Test("kill TERM: ignored by an init without a handler, as Linux's PID-namespace init; SIGKILL always ends it",
          .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func initSignals() throws {
        let b = try Bundle(args: ["sleep", "30"])
        var r = try b.joey("run", "-d", "--bundle", b.path, "s1")
        #expect(r.status == 0, "\(r)")
        #expect(try b.waitForStatus("s1", "running"))
        r = try b.joey("kill", "s1", "TERM")
        #expect(r.status == 0, "\(r)")
        usleep(300_000)
        #expect(try b.status("s1") == "running")
        r = try b.joey("kill", "s1", "9")
        #expect(r.status == 0, "\(r)")
        #expect(try b.waitForStatus("s1", "stopped"))
        #expect(try b.joey("delete", "s1").status == 0)
    }
}

@Suite("OCI runtime: hooks and process settings", .serialized)
struct OCIHookTests {
    @Test("prestart, createRuntime, poststart and poststop hooks run on the host with the state on stdin",
          .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func hooks() throws {
        let dirHolder = try TemporaryDirectory()
        let log = dirHolder.path + "/hooks.log"
        func hook(_ kind: String) -> [String: Any] {
            ["path": "/bin/sh", "args": ["sh", "-c", "echo \(kind) $(cat | tr -d ' \\n' | sed 's/.*\"status\":\"\\([a-z]*\\)\".*/\\1/') >> \(log)"]]
        }
        let b = try Bundle(args: ["sleep", "30"]) { config in
            config["hooks"] = ["prestart": [hook("prestart")], "createRuntime": [hook("createRuntime")],
                               "poststart": [hook("poststart")], "poststop": [hook("poststop")]]
        }
        var r = try b.joey("create", "--bundle", b.path, "h1")
        #expect(r.status == 0, "\(r)")
        #expect((try? String(contentsOfFile: log, encoding: .utf8)) == "prestart created\ncreateRuntime created\n")
        r = try b.joey("start", "h1")
        #expect(r.status == 0, "\(r)")
        r = try b.joey("delete", "--force", "h1")
        #expect(r.status == 0, "\(r)")
        #expect((try? String(contentsOfFile: log, encoding: .utf8)) ==
                "prestart created\ncreateRuntime created\npoststart running\npoststop stopped\n")

        // A failing creation hook fails create, and nothing is left. The state it is given
        // (with a large annotation) overfills a pipe, so the hook exits without reading it all:
        // create must see the failure, not die of SIGPIPE.
        let bad = try Bundle(args: ["sleep", "30"]) { config in
            config["hooks"] = ["createRuntime": [["path": "/bin/false"]]]
            config["annotations"] = ["large": String(repeating: "x", count: 200_000)]
        }
        r = try bad.joey("create", "--bundle", bad.path, "h2")
        #expect(r.status == 1 && r.stderr.contains("createRuntime hook /bin/false failed"), "\(r)")
        #expect(try bad.joey("list", "-q").stdout == "")
    }

    @Test("umask and capabilities from process reach the guest",
          .enabled(if: Host.hasBusybox && HostileInputTests.hasCompiler, "needs busybox-static and gcc"))
    func umaskAndCapabilities() throws {
        let b = try Bundle(args: ["sh", "-c", "umask; /bin/capeff"]) { config in
            var p = config["process"] as! [String: Any]
            var u = p["user"] as! [String: Any]
            u["umask"] = 0o027
            p["user"] = u
            // The bounding set decides what root keeps across sh's execve (as under runc).
            p["capabilities"] = ["effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"], "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                                 "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"]]
            p["noNewPrivileges"] = true
            config["process"] = p
            config["domainname"] = "example.org"
        }
        let src = b.dir.path + "/capeff.c"
        try """
        #define _GNU_SOURCE
        #include <stdio.h>
        #include <linux/capability.h>
        #include <sys/prctl.h>
        #include <sys/syscall.h>
        #include <sys/utsname.h>
        #include <unistd.h>
        int main(void) {
            struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
            struct __user_cap_data_struct d[2];
            if (syscall(SYS_capget, &h, d) != 0) return 1;
            struct utsname u;
            uname(&u);
            printf("%08x%08x %d %s\\n", d[1].effective, d[0].effective, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), u.domainname);
            return 0;
        }
        """.write(toFile: src, atomically: true, encoding: .utf8)
        let cc = try Host.run(["/usr/bin/gcc", "-static", "-O1", "-o", b.rootfs + "/bin/capeff", src])
        try #require(cc.status == 0, "\(cc)")
        let r = try b.joey("run", "--bundle", b.path, "u1")
        #expect(r.status == 0, "\(r)")
        // umask 027; CAP_KILL (5) and CAP_NET_BIND_SERVICE (10): 0x420; no_new_privs; domainname.
        #expect(r.stdout == "0027\n0000000000000420 1 example.org\n", "\(r)")
    }
}

@Suite("OCI runtime: mounts", .serialized)
struct OCIMountTests {
    @Test("bind mounts of host directories and files (read-write and read-only), tmpfs with a mode",
          .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func mounts() throws {
        let host = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: host.path + "/data", withIntermediateDirectories: true)
        try "from-host\n".write(toFile: host.path + "/data/in.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: host.path + "/ro", withIntermediateDirectories: true)
        try "keep\n".write(toFile: host.path + "/ro/file", atomically: true, encoding: .utf8)
        try "10.0.0.1 joeyhost\n".write(toFile: host.path + "/hosts", atomically: true, encoding: .utf8)
        let script = """
        cat /data/in.txt; echo written > /data/out.txt; cat /etc/hosts; \
        echo changed > /ro/file || echo refused; cat /ro/file; ls -ld /scratch | cut -c1-10; grep -c ' /data bind' /proc/mounts
        """
        let b = try Bundle(args: ["sh", "-c", script]) { config in
            var mounts = config["mounts"] as! [[String: Any]]
            mounts += [
                ["destination": "/data", "type": "bind", "source": host.path + "/data", "options": ["rbind", "rw"]],
                ["destination": "/ro", "type": "bind", "source": host.path + "/ro", "options": ["rbind", "ro"]],
                ["destination": "/etc/hosts", "type": "bind", "source": host.path + "/hosts", "options": ["bind", "ro"]],
                ["destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["mode=700"]],
            ]
            config["mounts"] = mounts
        }
        let log = b.dir.path + "/joey.log"
        let r = try b.joey("--log", log, "--log-format", "json", "run", "--bundle", b.path, "m1")
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout == "from-host\n10.0.0.1 joeyhost\nrefused\nkeep\ndrwx------\n1\n", "\(r)")
        // The read-write bind reached the host; the read-only one did not.
        #expect((try? String(contentsOfFile: host.path + "/data/out.txt", encoding: .utf8)) == "written\n")
        #expect((try? String(contentsOfFile: host.path + "/ro/file", encoding: .utf8)) == "keep\n")
        let logged = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(logged.contains("\"level\":\"warning\"") && logged.contains("sysfs at \\/sys is an empty directory")
                || logged.contains("sysfs at /sys is an empty directory"), "the spec's sysfs mount is noted in the log: \(logged)")
        #expect(r.stderr.contains("Read-only file system") && !r.stderr.contains("warning"), "\(r)")
    }
}

@Suite("OCI runtime: resource limits", .serialized)
struct OCILimitTests {
    @Test("linux.resources.memory.limit: a process that touches more is killed, as by the OOM killer",
          .enabled(if: Host.hasBusybox && HostileInputTests.hasCompiler, "needs busybox-static and gcc"))
    func memoryLimit() throws {
        let b = try Bundle(args: ["/bin/hog"]) { config in
            var linux = config["linux"] as! [String: Any]
            var resources = linux["resources"] as? [String: Any] ?? [:]
            resources["memory"] = ["limit": 64 << 20]
            linux["resources"] = resources
            config["linux"] = linux
        }
        let src = b.dir.path + "/hog.c"
        try """
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <unistd.h>
        int main(void) {
            for (int i = 1; i <= 32; i++) {          /* up to 512 MiB, 16 MiB at a time */
                char *p = malloc(16 << 20);
                if (!p) { puts("malloc failed"); return 1; }
                memset(p, i, 16 << 20);
                usleep(20000);
            }
            puts("survived");
            return 0;
        }
        """.write(toFile: src, atomically: true, encoding: .utf8)
        let cc = try Host.run(["/usr/bin/gcc", "-static", "-O1", "-o", b.rootfs + "/bin/hog", src])
        try #require(cc.status == 0, "\(cc)")
        var r = try b.joey("run", "--bundle", b.path, "oom")
        #expect(r.status == 128 + 9, "killed by SIGKILL: \(r)")
        #expect(!r.stdout.contains("survived"), "\(r)")
        // Under a limit it stays within, the same program finishes.
        let file = b.path + "/config.json"
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
        var linux = config["linux"] as! [String: Any]
        linux["resources"] = ["memory": ["limit": 2 << 30]]
        config["linux"] = linux
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: file))
        r = try b.joey("run", "--bundle", b.path, "oom2")
        #expect(r.status == 0 && r.stdout == "survived\n", "\(r)")

        // File data counts too: a 1 GiB file in a tmpfs at /tmp (docker's --tmpfs /tmp) does not
        // fit under a 256 MiB limit. The write fails with ENOSPC and the container goes on.
        try FileManager.default.createSymbolicLink(atPath: b.rootfs + "/bin/dd", withDestinationPath: "busybox")
        config["mounts"] = (config["mounts"] as? [[String: Any]] ?? []) + [["destination": "/tmp", "type": "tmpfs", "source": "tmpfs"]]
        linux["resources"] = ["memory": ["limit": 256 << 20]]
        config["linux"] = linux
        var process = config["process"] as! [String: Any]
        process["args"] = ["sh", "-c", "dd if=/dev/zero of=/tmp/big bs=1M count=1024 2>&1; echo status $?"]
        config["process"] = process
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: file))
        r = try b.joey("run", "--bundle", b.path, "oom3")
        #expect(r.status == 0 && r.stdout.contains("No space left on device") && r.stdout.hasSuffix("status 1\n"), "\(r)")
    }
}

@Suite("OCI runtime: terminals and concurrency", .serialized)
struct OCITerminalTests {
    static let receiver = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Programs/console_socket.c").path

    @Test("create --console-socket: the pty master goes to the socket; the container's shell runs on the terminal",
          .enabled(if: Host.hasBusybox && HostileInputTests.hasCompiler, "needs busybox-static and gcc"))
    func consoleSocket() throws {
        let b = try Bundle(args: ["sh"]) { config in
            var p = config["process"] as! [String: Any]
            p["terminal"] = true
            config["process"] = p
        }
        let bin = b.dir.path + "/console_socket"
        let cc = try Host.run(["/usr/bin/gcc", "-O1", "-o", bin, Self.receiver])
        try #require(cc.status == 0, "\(cc)")
        let socket = b.dir.path + "/console.sock"
        let peer = Process()
        peer.executableURL = URL(fileURLWithPath: bin)
        peer.arguments = [socket, "tty; echo on-the-$((1+1))-terminal; exit\n"]
        let out = Pipe()
        peer.standardOutput = out
        try peer.run()
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) { usleep(20_000) }
        var r = try b.joey("create", "--bundle", b.path, "--console-socket", socket, "t1")
        #expect(r.status == 0, "\(r)")
        r = try b.joey("start", "t1")
        #expect(r.status == 0, "\(r)")
        peer.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("received /dev/ptmx"), "\(text)")
        #expect(text.contains("/dev/pts/0"), "the shell's stdin is a terminal: \(text)")
        #expect(text.contains("on-the-2-terminal"), "\(text)")
        #expect(try b.waitForStatus("t1", "stopped"))
        #expect(try b.joey("delete", "t1").status == 0)

        // Detached with a terminal but no socket: runc's error, and nothing is created.
        r = try b.joey("create", "--bundle", b.path, "t2")
        #expect(r.status == 1 && r.stderr.contains("cannot allocate tty"), "\(r)")
        #expect(try b.joey("list", "-q").stdout == "")
    }

    @Test("concurrent creates of one id: exactly one succeeds", .enabled(if: Host.hasBusybox, "needs busybox-static"))
    func concurrentCreate() throws {
        let b = try Bundle(args: ["sleep", "30"])
        let results = LockedResults()
        let (joey, state, bundle) = (Host.joey, b.state, b.path)
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            if let r = try? Host.run([joey, "--root", state, "create", "--bundle", bundle, "same"], cwd: bundle) { results.add(r.status) }
        }
        #expect(results.statuses.sorted() == [0, 1, 1, 1, 1, 1], "\(results.statuses)")
        #expect(try b.joey("delete", "--force", "same").status == 0)
    }
}

final class LockedResults: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var statuses: [Int32] = []
    func add(_ s: Int32) { lock.lock(); statuses.append(s); lock.unlock() }
}
