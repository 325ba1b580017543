// The sentry's own /proc and /dev.
import Foundation
import Testing

@Suite("procfs and devfs", .enabled(if: Host.hasBusybox, "needs busybox-static"))
struct ProcAndDevTests {
    @Test("/proc/self reflects the guest")
    func procSelf() throws {
        // What only depends on the program matches a native run.
        let native = try Host.run([Host.busybox, "readlink", "/proc/self/exe"])
        #expect(try Host.joeyDo([Host.busybox, "readlink", "/proc/self/exe"]) == native)
        // The sandbox starts with exactly stdin, stdout and stderr; ls adds its directory fd.
        #expect(try Host.joeyDo([Host.busybox, "ls", "/proc/self/fd"]).stdout == "0\n1\n2\n3\n")
        let cmdline = try Host.joeyDo([Host.busybox, "cat", "/proc/self/cmdline"])
        #expect(cmdline.stdout == "/bin/busybox\0cat\0/proc/self/cmdline\0")
        let status = try Host.joeyDo([Host.busybox, "grep", "-E", "^(Pid|PPid|Name):", "/proc/self/status"])
        #expect(status.stdout == "Name:\tbusybox\nPid:\t1\nPPid:\t0\n")
        // Not the state (field 3): the shell may not be asleep in wait4 yet when cut reads it.
        let stat = try Host.joeyDo([Host.busybox, "sh", "-c", "cut -d' ' -f1,2,4,5 /proc/1/stat; cut -d' ' -f1,4 /proc/$$/stat"])
        #expect(stat.stdout == "1 (busybox) 0 1\n1 0\n", "\(stat)")
    }

    @Test("/proc/self/maps lists the program and the stack")
    func maps() throws {
        let r = try Host.joeyDo([Host.busybox, "cat", "/proc/self/maps"])
        #expect(r.stdout.contains("/bin/busybox"))
        #expect(r.stdout.contains("[stack]"))
        #expect(r.stdout.contains("[heap]"))
    }

    @Test("cpuinfo, meminfo and mounts exist")
    func systemFiles() throws {
        let r = try Host.joeyDo([Host.busybox, "sh", "-c", "grep -c processor /proc/cpuinfo; grep -c MemTotal /proc/meminfo; cut -d' ' -f2,3 /proc/mounts"])
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 9, "\(r)")
        #expect(Int(lines[0]) ?? 0 >= 1)
        #expect(lines[1] == "1")
        // The host's /sys shows through the root, its block directories the sandbox's own.
        #expect(lines[2...] == ["/ overlay", "/dev devtmpfs", "/proc proc", "/tmp tmpfs", "/sys/devices/virtual/block sysfs",
                                "/sys/block sysfs", "/sys/dev/block sysfs"])
    }

    @Test("/dev/null, /dev/zero, /dev/full and /dev/urandom behave")
    func devices() throws {
        let r = try Host.joeyDo([Host.busybox, "sh", "-c",
            "echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | od -An -tx1; head -c 16 /dev/urandom | wc -c; echo y > /dev/full || echo full-fails"])
        #expect(r.stdout == "null-ok\n 00 00 00 00\n16\nfull-fails\n", "\(r)")
    }
}
