// Scheduling calls as the guest's own view: policies, priorities and nice values are recorded
// and reported, and the host scheduler is not told (every guest thread is an ordinary host
// thread of the sentry's stubs). Real-time policies need CAP_SYS_NICE, which uid 0 has.
import Glibc
import JoeyABI
import JoeyPlatform

extension GuestThread {
    private func schedTarget(_ raw: UInt64) throws(LinuxErrno) -> GuestThread {
        let pid = Int32(truncatingIfNeeded: raw)
        guard pid >= 0 else { throw .EINVAL }
        if pid == 0 { return self }
        guard let t = thread(pid) else { throw .ESRCH }
        return t
    }

    private static func priorityRange(_ policy: UInt64) -> ClosedRange<Int32>? {
        switch policy & ~0x4000_0000 { // SCHED_RESET_ON_FORK
        case 0, 3, 5: return 0...0   // SCHED_OTHER, SCHED_BATCH, SCHED_IDLE
        case 1, 2: return 1...99     // SCHED_FIFO, SCHED_RR
        default: return nil
        }
    }

    static let SCHED_DEADLINE: Int32 = 6
    private static let SCHED_RESET_ON_FORK: UInt64 = 0x4000_0000

    // SCHED_DEADLINE has no priorities (0 and 0), though sched_setscheduler refuses it.
    func sysSchedGetPriorityMax() throws(LinuxErrno) -> UInt64 {
        if a0 == UInt64(Self.SCHED_DEADLINE) { return 0 }
        guard let r = GuestThread.priorityRange(a0) else { throw .EINVAL }
        return UInt64(r.upperBound)
    }

    func sysSchedGetPriorityMin() throws(LinuxErrno) -> UInt64 {
        if a0 == UInt64(Self.SCHED_DEADLINE) { return 0 }
        guard let r = GuestThread.priorityRange(a0) else { throw .EINVAL }
        return UInt64(r.lowerBound)
    }

    func sysSchedGetscheduler() throws(LinuxErrno) -> UInt64 {
        let t = try schedTarget(a0)
        return UInt64(t.schedPolicy) | (t.schedResetOnFork ? Self.SCHED_RESET_ON_FORK : 0)
    }

    func sysSchedGetparam() throws(LinuxErrno) -> UInt64 {
        let t = try schedTarget(a0)
        guard a1 != 0 else { throw .EINVAL }
        try mm.writeValue(a1, t.schedPriority)
        return 0
    }

    /// Whether this process may change `t`'s scheduling (Linux's check_same_owner): the
    /// caller's effective uid is the target's real or effective one, or CAP_SYS_NICE.
    func mayReschedule(_ t: GuestThread) -> Bool {
        t.group === group || group.capable(23 /* CAP_SYS_NICE */, in: t.group.userNS) || group.euid == t.group.euid || group.euid == t.group.uid
    }

    /// sched_setscheduler and sched_setparam: sched_setattr's rules, the nice unchanged.
    private func setScheduling(_ t: GuestThread, policy: UInt64, paramAddr: UInt64) throws(LinuxErrno) {
        guard paramAddr != 0 else { throw .EINVAL }
        let priority: Int32 = try mm.readValue(paramAddr)
        guard Int32(truncatingIfNeeded: policy) >= 0 else { throw .EINVAL }
        // No deadline parameters can be given here: SCHED_DEADLINE fails its check.
        let a = SchedAttributes(policy: Int32(truncatingIfNeeded: policy & ~Self.SCHED_RESET_ON_FORK),
                                flags: policy & Self.SCHED_RESET_ON_FORK != 0 ? SchedAttributes.resetOnFork : 0,
                                nice: t.group.nice, priority: UInt32(bitPattern: priority))
        try setAttributes(t, a)
    }

    func sysSchedSetscheduler() throws(LinuxErrno) -> UInt64 {
        try setScheduling(try schedTarget(a0), policy: a1, paramAddr: a2)
        return 0
    }

    func sysSchedSetparam() throws(LinuxErrno) -> UInt64 {
        let t = try schedTarget(a0)
        guard a1 != 0 else { throw .EINVAL }
        let priority: Int32 = try mm.readValue(a1)
        var a = SchedAttributes(policy: t.schedPolicy, flags: t.schedResetOnFork ? SchedAttributes.resetOnFork : 0,
                                nice: t.group.nice, priority: UInt32(bitPattern: priority))
        a.deadline = t.schedDeadline
        try setAttributes(t, a)
        return 0
    }

    // MARK: sched_setattr, sched_getattr

    /// sched_setattr(pid, attr, flags): struct sched_attr of 48 (first version) or 56 bytes
    /// (with the utilization clamps); a larger one must be zero past what is known.
    func sysSchedSetattr() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0)
        guard a1 != 0, pid >= 0, a2 == 0 else { throw .EINVAL }
        var size: UInt32 = try mm.readValue(a1)
        if size == 0 { size = SchedAttributes.size0 }
        guard size >= SchedAttributes.size0, size <= 4096 else {
            try mm.writeValue(a1, SchedAttributes.size1)
            throw .E2BIG
        }
        let known = min(size, SchedAttributes.size1)
        var raw = try mm.read(a1, count: Int(known))
        if size > known, try mm.read(a1 + UInt64(known), count: Int(size - known)).contains(where: { $0 != 0 }) {
            try mm.writeValue(a1, SchedAttributes.size1)
            throw .E2BIG
        }
        raw += [UInt8](repeating: 0, count: Int(SchedAttributes.size1 - known))
        var a = SchedAttributes(raw)
        if a.flags & SchedAttributes.utilClamp != 0 && size < SchedAttributes.size1 { throw .EINVAL }
        a.nice = max(-20, min(19, a.nice))
        guard a.policy >= 0 else { throw .EINVAL }
        let t = try schedTarget(a0)
        if a.flags & SchedAttributes.keepPolicy != 0 { a.policy = t.schedPolicy }
        if a.flags & SchedAttributes.keepParams != 0 {
            a.priority = UInt32(bitPattern: t.schedPriority)
            a.deadline = t.schedDeadline
        }
        try setAttributes(t, a)
        return 0
    }

    /// Linux's __sched_setscheduler for a guest caller: the checks in its order, then the change.
    private func setAttributes(_ t: GuestThread, _ a: SchedAttributes) throws(LinuxErrno) {
        let policy = a.policy
        guard [0, 1, 2, 3, 5, Self.SCHED_DEADLINE].contains(policy) else { throw .EINVAL }
        guard a.flags & ~SchedAttributes.allFlags == 0 else { throw .EINVAL }
        let realtime = policy == 1 || policy == 2, deadline = policy == Self.SCHED_DEADLINE
        guard a.priority <= 99, realtime == (a.priority != 0) else { throw .EINVAL }
        if deadline && !a.deadline.isValid { throw .EINVAL }
        // What needs CAP_SYS_NICE (user_check_sched_setscheduler).
        var privileged = deadline || !mayReschedule(t)
        let fair = policy == 0 || policy == 3 || policy == 5
        if fair && a.nice < t.group.nice && 20 - a.nice > Int32(clamping: limit(13 /* RLIMIT_NICE */).0) { privileged = true }
        if realtime {
            let rtprio = limit(14 /* RLIMIT_RTPRIO */).0
            if policy != t.schedPolicy && rtprio == 0 { privileged = true }
            if Int64(a.priority) > Int64(t.schedPriority) && UInt64(a.priority) > rtprio { privileged = true }
        }
        if t.schedResetOnFork && a.flags & SchedAttributes.resetOnFork == 0 { privileged = true }
        if privileged && !group.capable(23 /* CAP_SYS_NICE */, in: .initial) { throw .EPERM }
        if a.flags & SchedAttributes.utilClamp != 0 {
            let lo = a.flags & SchedAttributes.utilClampMin != 0 ? a.utilMin : t.utilClamp.min
            let hi = a.flags & SchedAttributes.utilClampMax != 0 ? a.utilMax : t.utilClamp.max
            guard lo <= 1024, hi <= 1024, lo <= hi else { throw .EINVAL }
            t.utilClamp = (lo, hi)
        }
        // Admission: the deadline tasks' bandwidth fits in 95% of the CPUs (Linux's default
        // sched_rt_runtime_us / sched_rt_period_us), counted in Linux's 20-bit fixed point.
        if deadline {
            var used: UInt64 = 0
            for (_, other) in kernel.threads where other !== t && other.schedPolicy == Self.SCHED_DEADLINE {
                used += other.schedDeadline.bandwidth
            }
            let capacity = UInt64(HostCPUs.usable) * (95 << 20) / 100
            if used + a.deadline.bandwidth > capacity { throw .EBUSY }
        }
        t.schedPolicy = policy
        t.schedPriority = Int32(a.priority)
        t.schedResetOnFork = a.flags & SchedAttributes.resetOnFork != 0
        t.schedDeadline = deadline ? a.deadline : DeadlineParameters()
        if deadline { t.schedDeadline.flags = a.flags & (SchedAttributes.reclaim | SchedAttributes.overrun) }
        if fair { t.group.nice = a.nice }
    }

    /// sched_getattr(pid, attr, size, flags): as much of the 56-byte structure as `size`
    /// holds, its size field saying how much.
    func sysSchedGetattr() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0)
        guard a1 != 0, pid >= 0, a2 >= UInt64(SchedAttributes.size0), a2 <= 4096, a3 == 0 else { throw .EINVAL }
        let t = try schedTarget(a0)
        var a = SchedAttributes(policy: t.schedPolicy, flags: t.schedResetOnFork ? SchedAttributes.resetOnFork : 0,
                                nice: 0, priority: 0)
        switch t.schedPolicy {
        case Self.SCHED_DEADLINE:
            a.deadline = t.schedDeadline
            a.flags |= t.schedDeadline.flags
        case 1, 2: a.priority = UInt32(t.schedPriority)
        default: a.nice = t.group.nice
        }
        (a.utilMin, a.utilMax) = t.utilClamp
        let size = min(UInt32(a2), SchedAttributes.size1)
        try mm.write(a1, Array(a.bytes(size: size)))
        return 0
    }

    func sysSchedRrGetInterval() throws(LinuxErrno) -> UInt64 {
        _ = try schedTarget(a0)
        try mm.writeValue(a1, timespec(tv_sec: 0, tv_nsec: 100_000_000))
        return 0
    }

    /// The processes getpriority/setpriority name: PRIO_PROCESS, PRIO_PGRP, PRIO_USER.
    private func prioTargets() throws(LinuxErrno) -> [ThreadGroup] { try prioTargets(which: a0, who: a1) }

    private func prioTargets(which: UInt64, who whoArg: UInt64) throws(LinuxErrno) -> [ThreadGroup] {
        let who = Int32(truncatingIfNeeded: whoArg)
        switch which {
        case 0: return who == 0 ? [group] : [process(who)].compactMap { $0 }
        case 1:
            guard let pg = who == 0 ? group.pgid : globalPgid(who) else { return [] }
            return kernel.threadGroups.values.filter { $0.pgid == pg && sees($0) }
        case 2: let u = who == 0 ? group.uid : UInt32(bitPattern: who); return kernel.threadGroups.values.filter { $0.uid == u && sees($0) }
        default: throw .EINVAL
        }
    }

    /// getpriority returns 20 - nice, as the raw syscall does.
    func sysGetpriority() throws(LinuxErrno) -> UInt64 {
        let targets = try prioTargets().filter { $0.exitStatus == nil }
        guard let best = targets.map(\.nice).min() else { throw .ESRCH }
        return UInt64(20 - best)
    }

    /// ioprio_get: the highest priority among the targets (IOPRIO_WHO_PROCESS 1, PGRP 2,
    /// USER 3 name them as getpriority's 0, 1, 2 do). The sandbox's I/O is the sentry's: the
    /// value is recorded and reported, the host's I/O scheduler is not told.
    func sysIoprioGet() throws(LinuxErrno) -> UInt64 {
        guard a0 >= 1 && a0 <= 3 else { throw .EINVAL }
        let targets = try prioTargets(which: a0 - 1, who: a1).filter { $0.exitStatus == nil }
        guard !targets.isEmpty else { throw .ESRCH }
        // Lower class numbers (RT 1, BE 2, IDLE 3) and lower levels are higher priorities; unset is 0.
        let rank: (UInt16) -> UInt16 = { $0 == 0 ? UInt16.max : $0 }
        var best: UInt16 = 0
        for g in targets where best == 0 || rank(g.ioPriority) < rank(best) { best = g.ioPriority }
        return UInt64(best)
    }

    func sysIoprioSet() throws(LinuxErrno) -> UInt64 {
        guard a0 >= 1 && a0 <= 3 else { throw .EINVAL }
        // class << 13 | hints << 3 | level (3 bits, so always in range for RT and BE).
        let value = UInt16(truncatingIfNeeded: a2), cls = (value >> 13) & 7, level = value & 7
        switch cls {
        case 0: guard level == 0 else { throw .EINVAL }   // NONE
        case 1: guard group.capable(21, in: .initial) else { throw .EPERM } // RT needs CAP_SYS_ADMIN
        case 2, 3: break                                  // BE, IDLE
        default: throw .EINVAL
        }
        let targets = try prioTargets(which: a0 - 1, who: a1).filter { $0.exitStatus == nil }
        guard !targets.isEmpty else { throw .ESRCH }
        for g in targets {
            if g.uid != group.uid && g.euid != group.euid && !group.capable(23 /* CAP_SYS_NICE */, in: g.userNS) { throw .EPERM }
            g.ioPriority = value
            if g.ioContext == nil { g.ioContext = IOContext() }
        }
        return 0
    }

    func sysSetpriority() throws(LinuxErrno) -> UInt64 {
        let targets = try prioTargets().filter { $0.exitStatus == nil }
        guard !targets.isEmpty else { throw .ESRCH }
        let nice = max(-20, min(19, Int32(truncatingIfNeeded: a2)))
        for g in targets {
            // Another user's process first (EPERM), then raising a priority (EACCES), as
            // Linux's set_one_prio.
            if g.uid != group.euid && g.euid != group.euid && !group.capable(23 /* CAP_SYS_NICE */, in: g.userNS) { throw .EPERM }
            if nice < g.nice && !group.capable(23, in: .initial) { throw .EACCES }
            g.nice = nice
        }
        return 0
    }
}

/// SCHED_DEADLINE's parameters (ns).
struct DeadlineParameters {
    var runtime: UInt64 = 0, deadline: UInt64 = 0, period: UInt64 = 0
    /// SCHED_FLAG_RECLAIM and SCHED_FLAG_DL_OVERRUN as set.
    var flags: UInt64 = 0

    /// Linux's __checkparam_dl: runtime (at least 1024 ns) <= deadline <= period (the
    /// deadline when 0), the period within 100 µs ... 4.19 s, no sign bits.
    var isValid: Bool {
        guard deadline != 0, runtime >= 1 << 10, deadline >> 63 == 0, period >> 63 == 0 else { return false }
        let p = period == 0 ? deadline : period
        return p >= deadline && deadline >= runtime && p >= 100_000 && p <= 4_194_304_000
    }

    /// runtime / period in Linux's 20-bit fixed point (to_ratio).
    var bandwidth: UInt64 {
        let p = period == 0 ? deadline : period
        return p == 0 ? 0 : (runtime << 20) / p
    }
}

/// struct sched_attr (sched_setattr(2)).
struct SchedAttributes {
    static let size0: UInt32 = 48, size1: UInt32 = 56
    static let resetOnFork: UInt64 = 0x01, reclaim: UInt64 = 0x02, overrun: UInt64 = 0x04
    static let keepPolicy: UInt64 = 0x08, keepParams: UInt64 = 0x10
    static let utilClampMin: UInt64 = 0x20, utilClampMax: UInt64 = 0x40, utilClamp: UInt64 = 0x60
    static let allFlags: UInt64 = 0x7f

    var policy: Int32
    var flags: UInt64
    var nice: Int32
    var priority: UInt32
    var deadline = DeadlineParameters()
    var utilMin: UInt32 = 0, utilMax: UInt32 = 1024

    init(policy: Int32, flags: UInt64, nice: Int32, priority: UInt32) {
        (self.policy, self.flags, self.nice, self.priority) = (policy, flags, nice, priority)
    }

    /// From its 56 bytes.
    init(_ b: [UInt8]) {
        func u32(_ o: Int) -> UInt32 { b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) } }
        func u64(_ o: Int) -> UInt64 { b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt64.self) } }
        self.init(policy: Int32(bitPattern: u32(4)), flags: u64(8), nice: Int32(bitPattern: u32(16)), priority: u32(20))
        deadline = DeadlineParameters(runtime: u64(24), deadline: u64(32), period: u64(40))
        (utilMin, utilMax) = (u32(48), u32(52))
    }

    /// The first `size` bytes, the size field saying `size`.
    func bytes(size: UInt32) -> ArraySlice<UInt8> {
        var b = [UInt8](repeating: 0, count: Int(SchedAttributes.size1))
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: size, toByteOffset: 0, as: UInt32.self)
            p.storeBytes(of: UInt32(bitPattern: policy), toByteOffset: 4, as: UInt32.self)
            p.storeBytes(of: flags, toByteOffset: 8, as: UInt64.self)
            p.storeBytes(of: nice, toByteOffset: 16, as: Int32.self)
            p.storeBytes(of: priority, toByteOffset: 20, as: UInt32.self)
            p.storeBytes(of: deadline.runtime, toByteOffset: 24, as: UInt64.self)
            p.storeBytes(of: deadline.deadline, toByteOffset: 32, as: UInt64.self)
            p.storeBytes(of: deadline.period, toByteOffset: 40, as: UInt64.self)
            p.storeBytes(of: utilMin, toByteOffset: 48, as: UInt32.self)
            p.storeBytes(of: utilMax, toByteOffset: 52, as: UInt32.self)
        }
        return b[0..<Int(size)]
    }
}
