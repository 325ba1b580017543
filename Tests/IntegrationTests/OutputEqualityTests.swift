// `joey do` must print exactly what the program prints natively.
import Foundation
import Testing

@Suite("Output equality with native runs")
struct OutputEqualityTests {
    static let busyboxScripts: [String] = [
        "echo hello; ls /",
        "ls -l /usr/bin | head -20",
        "cat /etc/passwd",
        "cp /etc/passwd /tmp/p && mv /tmp/p /tmp/q && cat /tmp/q && rm /tmp/q && ls /tmp/q 2>&1; echo $?",
        "mkdir -p /tmp/d/e/f && find /tmp/d | sort && rm -r /tmp/d",
        "find /etc -maxdepth 1 -name 'pass*' | sort",
        "grep -c root /etc/passwd; grep -n bin /etc/passwd | head -3",
        "sed -n 's/:.*//p' /etc/passwd | sort | head -5",
        "awk -F: '{ n += $3 } END { print NR, n }' /etc/passwd",
        "sort -r /etc/passwd | head -3; wc -l /etc/passwd; wc -c < /etc/passwd",
        "cd /tmp && tar cf t.tar /etc/passwd /etc/group 2>/dev/null && tar tf t.tar && rm t.tar",
        "gzip -c /etc/passwd | gzip -dc | sha256sum",
        "sha256sum /etc/passwd /etc/group",
        "ls /usr/bin | sort | head -5",
        "cat /etc/passwd | wc -l",
        "x=0; for i in 1 2 3 4 5; do x=$((x+i)); done; echo $x",
        "(echo a; echo b) | while read l; do echo got $l; done",
        "false; echo $?; true && echo ok",
        "sleep 10 & kill %1; wait; echo wait=$?; trap 'echo trapped USR1' USR1; kill -USR1 $$; echo end",
    ]

    @Test("busybox applets and sh pipelines", .enabled(if: Host.hasBusybox, "needs busybox-static (make deps)"),
          arguments: busyboxScripts)
    func busyboxScript(_ script: String) throws {
        let native = try Host.run([Host.busybox, "sh", "-c", script], cwd: "/")
        let sandboxed = try Host.joeyDo([Host.busybox, "sh", "-c", script], cwd: "/")
        #expect(sandboxed == native)
    }

    static let dynamicCommands: [[String]] = [
        // Not /etc itself: the sandbox's /etc/hosts names its hostname (as a container's does).
        ["/bin/ls", "-la", "/etc/apt"],
        ["/bin/ls", "-l", "/usr/bin"],
        ["/bin/cat", "/etc/passwd", "/etc/group"],
        ["/bin/sh", "-c", "ls /usr/bin | sort | head -5"],
        ["/bin/sh", "-c", "cat /etc/passwd | wc -l"],
        ["/usr/bin/env", "-i", "A=1", "B=2", "/usr/bin/env"],
        // The caller's resource limits, as a program run from its shell has them.
        ["/bin/sh", "-c", "ulimit -a"],
    ]

    @Test("the host's dynamically linked programs", arguments: dynamicCommands)
    func dynamicProgram(_ args: [String]) throws {
        let native = try Host.run(args, cwd: "/")
        let sandboxed = try Host.joeyDo(args, cwd: "/")
        #expect(sandboxed == native)
    }

    @Test("env prints the caller's environment")
    func environment() throws {
        let native = try Host.run(["/usr/bin/env"])
        let sandboxed = try Host.joeyDo(["/usr/bin/env"])
        #expect(Set(sandboxed.stdout.split(separator: "\n")) == Set(native.stdout.split(separator: "\n")))
        #expect(sandboxed.status == 0)
    }
}
