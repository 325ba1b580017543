// Time namespaces (time_namespaces(7)): offsets added to CLOCK_MONOTONIC (and its coarse and
// raw forms) and CLOCK_BOOTTIME (and its alarm form) as a process reads them. unshare
// (CLONE_NEWTIME) makes the namespace the caller's later children, and the caller's next
// program (execve), enter; clone3 with CLONE_NEWTIME puts the child in a new one; setns
// moves a single-threaded caller. Offsets are written to /proc/PID/timens_offsets (the namespace the
// process's children go to) until a process has entered it. What reads the clocks adds the
// offsets (clock_gettime), what takes an absolute time of them subtracts them
// (clock_nanosleep, timer_settime and timerfd_settime with TIMER_ABSTIME), and uptime
// (/proc/uptime, sysinfo) is the namespace's boot time. A process in a namespace other than
// the sandbox's maps a [vvar] page that is never ready, so its vDSO makes the system call
// for every clock (Linux gives such processes a vvar page of their own too). Kernel lock held.
import Glibc
import JoeyABI

final class TimeNamespace {
    /// /proc/PID/ns/time shows "time:[N]".
    let ino: UInt64
    /// Its creator's user namespace: CAP_SYS_TIME there sets the offsets, CAP_SYS_ADMIN
    /// there joins it.
    var owner = UserNamespace.initial
    /// Nanoseconds added to the monotonic and boot-time clocks.
    private(set) var monotonicOffset: Int64 = 0
    private(set) var boottimeOffset: Int64 = 0
    /// A process has entered it: the offsets stay as they are.
    var entered = false

    init(ino: UInt64) { self.ino = ino }

    /// The offset of `clock` (0 for the clocks a time namespace does not shift).
    func offset(_ clock: Int32) -> Int64 {
        switch clock {
        case CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE: return monotonicOffset
        case CLOCK_BOOTTIME, 9 /* CLOCK_BOOTTIME_ALARM */: return boottimeOffset
        default: return 0
        }
    }

    /// `nanos` of `clock` read on the host, as a process here reads it.
    func shifted(_ nanos: UInt64, _ clock: Int32) -> UInt64 {
        let o = offset(clock)
        return o >= 0 ? saturatingAdd(nanos, UInt64(o)) : nanos &- min(nanos, o.magnitude)
    }

    /// proc_timens_set_offset: each named clock checked first (EINVAL for one a namespace
    /// does not shift, ERANGE when the clock would go below 0 or past KTIME_SEC_MAX / 2),
    /// EACCES once entered; then all are set.
    func setOffsets(_ offsets: [(clock: Int32, nanos: Int64, seconds: Int64)]) throws(LinuxErrno) {
        let secondsMax: Int64 = Int64.max / 1_000_000_000
        for o in offsets {
            guard o.clock == CLOCK_MONOTONIC || o.clock == CLOCK_BOOTTIME else { throw .EINVAL }
            guard o.seconds <= secondsMax, o.seconds >= -secondsMax else { throw .ERANGE }
            // The host's clock now, plus the offset, in whole seconds.
            let now = Int64(hostClockNanos(o.clock) / 1_000_000_000)
            let (s, over) = now.addingReportingOverflow(o.seconds)
            guard !over, s >= 0, s <= secondsMax / 2 else { throw .ERANGE }
        }
        guard !entered else { throw .EACCES }
        for o in offsets {
            let v = o.seconds &* 1_000_000_000 &+ o.nanos // in range: checked above
            if o.clock == CLOCK_MONOTONIC { monotonicOffset = v } else { boottimeOffset = v }
        }
    }

    /// timens_offsets' text: "%-10s %10lld %9ld\n" for the monotonic and boot-time clocks.
    var offsetsText: String {
        func line(_ name: String, _ v: Int64) -> String {
            // Whole seconds toward minus infinity, nanoseconds in [0, 1e9), as a timespec.
            var s = v / 1_000_000_000, ns = v % 1_000_000_000
            if ns < 0 { s -= 1; ns += 1_000_000_000 }
            func pad(_ t: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - t.count)) + t }
            return name + String(repeating: " ", count: max(0, 10 - name.count)) + " " + pad(String(s), 10) + " " + pad(String(ns), 9) + "\n"
        }
        return line("monotonic", monotonicOffset) + line("boottime", boottimeOffset)
    }
}

extension GuestThread {
    /// CLOCK_BOOTTIME as this process's time namespace shows it (/proc/uptime, sysinfo).
    var uptimeNanos: UInt64 { group.timeNS.shifted(monotonicNanos() &- kernel.bootTime, CLOCK_BOOTTIME) }

    /// The process enters `ns` (setns, or a child made in it): its offsets are fixed from
    /// now on, and the process's vDSO reads clocks through the system call unless `ns` is the
    /// sandbox's.
    func enterTimeNamespace(_ ns: TimeNamespace, of g: ThreadGroup) {
        ns.entered = true
        let wasShifted = g.timeNS !== kernel.initialTime
        g.timeNS = ns
        if wasShifted != (ns !== kernel.initialTime) { kernel.vdso.rejoin(g.mm, timeNamespaced: ns !== kernel.initialTime) }
    }
}

/// /proc/PID/timens_offsets: the offsets of the namespace the process's children enter.
final class TimeOffsetsFile: ProcessFile {
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        TimeOffsetsDescription(inode: self, flags: flags, content: Array(group.timeNSForChildren.offsetsText.utf8),
                               opener: GuestThread.onThisHostThread.map { OpenerCredentials($0.group) })
    }
}

final class TimeOffsetsDescription: OpenerCheckedDescription {
    /// Lines of "<clock> <seconds> <nanoseconds>", the clock by name (monotonic, boottime)
    /// or number; at most two are taken.
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        let ns = (inode as! TimeOffsetsFile).group.timeNSForChildren
        let text = try wholeWrite(&src)
        var offsets: [(clock: Int32, nanos: Int64, seconds: Int64)] = []
        var used = 0
        for line in text.split(separator: 0x0a, omittingEmptySubsequences: false) where offsets.count < 2 {
            used += line.count + 1
            if line.isEmpty { continue }
            let f = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).map { String(decoding: $0, as: UTF8.self) }
            guard f.count == 3, let seconds = Int64(f[1]), let nanos = UInt64(f[2]), nanos < 1_000_000_000 else { throw .EINVAL }
            let clock: Int32
            switch f[0] {
            case "monotonic": clock = CLOCK_MONOTONIC
            case "boottime": clock = CLOCK_BOOTTIME
            default:
                guard let n = Int32(f[0]) else { throw .EINVAL }
                clock = n
            }
            offsets.append((clock, Int64(nanos), seconds))
        }
        guard let opener, opener.capable(25 /* CAP_SYS_TIME */, in: ns.owner) else { throw .EPERM }
        try ns.setOffsets(offsets)
        return min(used, text.count)
    }
}
