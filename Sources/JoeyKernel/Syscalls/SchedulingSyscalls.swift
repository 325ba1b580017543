// Scheduling calls as the guest's own view: policies, priorities and nice values are recorded
// and reported, and the host scheduler is not told (every guest thread is an ordinary host
// thread of the sentry's stubs). Real-time policies need CAP_SYS_NICE, which uid 0 has.
import Glibc
import JoeyABI

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

    private static let SCHED_DEADLINE: UInt64 = 6

    // SCHED_DEADLINE has no priorities (0 and 0), though sched_setscheduler refuses it.
    func sysSchedGetPriorityMax() throws(LinuxErrno) -> UInt64 {
        if a0 == Self.SCHED_DEADLINE { return 0 }
        guard let r = GuestThread.priorityRange(a0) else { throw .EINVAL }
        return UInt64(r.upperBound)
    }

    func sysSchedGetPriorityMin() throws(LinuxErrno) -> UInt64 {
        if a0 == Self.SCHED_DEADLINE { return 0 }
        guard let r = GuestThread.priorityRange(a0) else { throw .EINVAL }
        return UInt64(r.lowerBound)
    }

    func sysSchedGetscheduler() throws(LinuxErrno) -> UInt64 { UInt64(try schedTarget(a0).schedPolicy) }

    func sysSchedGetparam() throws(LinuxErrno) -> UInt64 {
        let t = try schedTarget(a0)
        guard a1 != 0 else { throw .EINVAL }
        try mm.writeValue(a1, t.schedPriority)
        return 0
    }

    /// Whether this process may change `t`'s scheduling (Linux's check_same_owner): the
    /// caller's effective uid is the target's real or effective one, or CAP_SYS_NICE.
    func mayReschedule(_ t: GuestThread) -> Bool {
        t.group === group || group.capable(23 /* CAP_SYS_NICE */) || group.euid == t.group.euid || group.euid == t.group.uid
    }

    private func setScheduling(_ t: GuestThread, policy: UInt64, paramAddr: UInt64) throws(LinuxErrno) {
        guard paramAddr != 0 else { throw .EINVAL }
        let priority: Int32 = try mm.readValue(paramAddr)
        guard let range = GuestThread.priorityRange(policy), range.contains(priority) else { throw .EINVAL }
        guard mayReschedule(t) else { throw .EPERM }
        if policy & ~0x4000_0000 == 1 || policy & ~0x4000_0000 == 2, group.euid != 0 { throw .EPERM }
        t.schedPolicy = Int32(policy & ~0x4000_0000)
        t.schedPriority = priority
    }

    func sysSchedSetscheduler() throws(LinuxErrno) -> UInt64 {
        try setScheduling(try schedTarget(a0), policy: a1, paramAddr: a2)
        return 0
    }

    func sysSchedSetparam() throws(LinuxErrno) -> UInt64 {
        let t = try schedTarget(a0)
        try setScheduling(t, policy: UInt64(t.schedPolicy), paramAddr: a1)
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
        case 1: guard group.capable(21) else { throw .EPERM } // RT needs CAP_SYS_ADMIN
        case 2, 3: break                                  // BE, IDLE
        default: throw .EINVAL
        }
        let targets = try prioTargets(which: a0 - 1, who: a1).filter { $0.exitStatus == nil }
        guard !targets.isEmpty else { throw .ESRCH }
        for g in targets {
            if g.uid != group.uid && g.euid != group.euid && !group.capable(23 /* CAP_SYS_NICE */) { throw .EPERM }
            g.ioPriority = value
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
            if g.uid != group.euid && g.euid != group.euid && !group.capable(23 /* CAP_SYS_NICE */) { throw .EPERM }
            if nice < g.nice && !group.capable(23) { throw .EACCES }
            g.nice = nice
        }
        return 0
    }
}
