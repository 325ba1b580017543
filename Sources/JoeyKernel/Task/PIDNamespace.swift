// PID namespaces: the numbers a process sees other processes by. The sentry keys every task
// by its number in the sandbox's root namespace (kernel.threads, kernel.threadGroups, a
// group's pgid and sid); a task made in a nested namespace (clone or clone3 with
// CLONE_NEWPID, or after unshare/setns of CLONE_NEWPID) also gets a number in that namespace
// and in each one between it and the root, and every pid a guest passes or is told is
// translated at the system call boundary with the caller's namespace (Linux's pid_vnr and
// find_vpid). The root namespace translates to itself, so the common case costs a compare.
// A namespace's first process is its init: orphans there are reparented to it, it takes from
// inside its namespace only the signals it handles, and when it exits every other process in
// the namespace is killed and no new one can be made there (ENOMEM). Kernel lock held.
import JoeyABI

final class PIDNamespace {
    let parent: PIDNamespace?
    /// 0 for the root; Linux allows 32 levels (MAX_PID_NS_LEVEL).
    let level: Int
    /// /proc/PID/ns/pid shows "pid:[N]".
    let ino: UInt64
    /// The user namespace of its creator, where signalling its init, rebooting it and
    /// mounting its /proc are checked.
    var owner = UserNamespace.initial
    /// Root-namespace number -> number here, and back (empty for the root, which is identity).
    private var toLocal: [Int32: Int32] = [:]
    private var toGlobal: [Int32: Int32] = [:]
    /// The last number given out (/proc/sys/kernel/ns_last_pid); the next is the first free
    /// one after it.
    var lastPid: Int32 = 0
    /// The namespace's init (its pid 1), from the first process made in it.
    weak var initGroup: ThreadGroup?
    /// Its init has exited: no process can be made in it any more.
    var dead = false

    /// Linux's MAX_PID_NS_LEVEL: 32 namespaces below the root.
    static let maxLevel = 32
    /// /proc/sys/kernel/pid_max; numbers wrap from it to 300 (Linux's RESERVED_PIDS).
    static let pidMax: Int32 = 4_194_304

    init(parent: PIDNamespace?, ino: UInt64) {
        self.parent = parent
        level = (parent?.level ?? -1) + 1
        self.ino = ino
    }

    /// A task of this namespace numbers itself in `top` and each namespace below it down to
    /// this one (NSpid in /proc/PID/status and a pidfd's fdinfo): those namespaces, `top` first.
    func levels(from top: PIDNamespace) -> [PIDNamespace] {
        var levels: [PIDNamespace] = []
        var n: PIDNamespace? = self
        while let each = n, each.level >= top.level { levels.insert(each, at: 0); n = each.parent }
        return levels
    }

    /// The number of the task `global` here; 0 when it is not in this namespace or below
    /// (as Linux reports a process outside the caller's namespace).
    @inline(__always)
    func local(_ global: Int32) -> Int32 { level == 0 ? global : toLocal[global] ?? 0 }

    /// The root-namespace number of the task numbered `local` here, if there is one.
    @inline(__always)
    func global(_ local: Int32) -> Int32? { level == 0 ? local : toGlobal[local] }

    /// Whether the task `global` is in this namespace or one below it.
    @inline(__always)
    func contains(_ global: Int32) -> Bool { level == 0 || toLocal[global] != nil }

    /// Whether `other` is this namespace or one below it.
    func isAncestor(of other: PIDNamespace) -> Bool {
        var ns: PIDNamespace? = other
        while let n = ns, n.level >= level {
            if n === self { return true }
            ns = n.parent
        }
        return false
    }

    /// Gives the task `global` a number here: `wanted` (clone3's set_tid; EEXIST if taken)
    /// or the next free one.
    func allocate(_ global: Int32, wanted: Int32?) throws(LinuxErrno) -> Int32 {
        precondition(level > 0)
        var n: Int32
        if let wanted {
            guard toGlobal[wanted] == nil else { throw .EEXIST }
            n = wanted
        } else {
            n = lastPid
            repeat {
                n = n >= Self.pidMax - 1 ? 300 : n + 1
                if n == 300 && toGlobal.count >= Int(Self.pidMax) - 300 { throw .EAGAIN }
            } while toGlobal[n] != nil
            lastPid = n
        }
        toLocal[global] = n
        toGlobal[n] = global
        return n
    }

    /// The number `global` had here is free again.
    func release(_ global: Int32) {
        guard level > 0, let n = toLocal.removeValue(forKey: global) else { return }
        toGlobal[n] = nil
        // A first task undone (clone failed later): the next one is still pid 1.
        if initGroup == nil && toGlobal.isEmpty { lastPid = 0 }
    }

    /// Every task number this namespace has (root-namespace numbers), for listing.
    var members: Dictionary<Int32, Int32>.Keys { toLocal.keys }
}

extension Kernel {
    /// Linux bounds pid namespaces by the user's ucounts; each costs the sentry little, and
    /// its tasks are bounded by the sandbox's task limit.
    static let maxPIDNamespaces = 1024

    /// A new namespace below `parent`: ENOSPC past 32 levels or maxPIDNamespaces alive.
    func makePIDNamespace(below parent: PIDNamespace, owner: UserNamespace) throws(LinuxErrno) -> PIDNamespace {
        guard parent.level < PIDNamespace.maxLevel else { throw .ENOSPC }
        pidNamespaces.removeAll { $0.namespace == nil }
        guard pidNamespaces.count < Kernel.maxPIDNamespaces else { throw .ENOSPC }
        let ns = PIDNamespace(parent: parent, ino: allocateNamespaceIno())
        ns.owner = owner
        pidNamespaces.append(WeakPIDNamespace(namespace: ns))
        return ns
    }

    /// The task `global` is gone from `ns` and every namespace above it.
    func releasePid(_ global: Int32, from ns: PIDNamespace) {
        var n: PIDNamespace? = ns
        while let each = n, each.level > 0 { each.release(global); n = each.parent }
    }

    /// The process `global` has been reaped: its number is freed, or held while a process
    /// group or session still has it. Whatever that frees is looked at again, and inits
    /// waiting for their namespace to empty are told.
    func retirePid(_ global: Int32, from ns: PIDNamespace) {
        if threadGroups.values.contains(where: { $0.pgid == global || $0.sid == global }) {
            heldPids[global] = ns
        } else {
            releasePid(global, from: ns)
        }
        releaseUnusedHeldPids()
        guard !initsAwaitingNamespace.isEmpty else { return }
        let ready = initsAwaitingNamespace.filter { !namespaceHasOthers($0.pidNS, besides: $0) }
        initsAwaitingNamespace.removeAll { g in ready.contains { $0 === g } }
        for g in ready { g.announceExit(status: g.exitStatus ?? 0) }
    }

    /// Frees held numbers no process group or session has any more (after a reap, setpgid
    /// or setsid).
    func releaseUnusedHeldPids() {
        guard !heldPids.isEmpty else { return }
        var inUse = Set<Int32>()
        for g in threadGroups.values { inUse.insert(g.pgid); inUse.insert(g.sid) }
        for (p, ns) in heldPids where !inUse.contains(p) {
            heldPids[p] = nil
            releasePid(p, from: ns)
        }
    }

    /// Whether a process other than `g` is in `ns` or below (a zombie included).
    func namespaceHasOthers(_ ns: PIDNamespace, besides g: ThreadGroup) -> Bool {
        threadGroups.values.contains { $0 !== g && ns.isAncestor(of: $0.pidNS) }
    }
}

struct WeakPIDNamespace {
    weak var namespace: PIDNamespace?
}

extension ThreadGroup {
    /// The init of its pid namespace (the sandbox's pid 1, or a nested namespace's).
    var isNamespaceInit: Bool { pidNS.initGroup === self }
}

extension GuestThread {
    /// The caller's pid namespace: what it sees other tasks by.
    var pidNS: PIDNamespace { group.pidNS }

    /// `global`'s number as this task sees it (0 when outside its namespace).
    @inline(__always)
    func vnr(_ global: Int32) -> Int32 { group.pidNS.local(global) }

    /// `global` as this task's tracer sees it (PTRACE_GETEVENTMSG's new pid).
    func tracerView(of global: Int32) -> Int32 { (ptrace?.tracer?.pidNS ?? pidNS).local(global) }

    /// The task the guest calls `vtid`, in this task's namespace.
    func thread(_ vtid: Int32) -> GuestThread? {
        guard vtid > 0, let g = pidNS.global(vtid) else { return nil }
        return kernel.threads[g]
    }

    /// The process the guest calls `vpid` (a zombie included), in this task's namespace.
    func threadGroup(_ vpid: Int32) -> ThreadGroup? {
        guard vpid > 0, let g = pidNS.global(vpid) else { return nil }
        return kernel.threadGroups[g]
    }

    /// The process of `vid`, a process id or any of its threads' ids (kill, sched_*, prlimit).
    func process(_ vid: Int32) -> ThreadGroup? {
        guard vid > 0, let g = pidNS.global(vid) else { return nil }
        return kernel.threadGroups[g] ?? kernel.threads[g]?.group
    }

    /// The root-namespace number of the process group (or session) the guest calls `vpgid`;
    /// nil when no such number is seen here.
    func globalPgid(_ vpgid: Int32) -> Int32? {
        guard vpgid > 0 else { return nil }
        return pidNS.global(vpgid)
    }

    /// Whether the process `g` is seen from this task's namespace.
    func sees(_ g: ThreadGroup) -> Bool { pidNS.contains(g.pid) }

    /// Whether this process may signal `target` (Linux's check_kill_permission): its own,
    /// a real or effective uid matching the target's real or saved one, CAP_KILL, or SIGCONT
    /// within its session; and Landlock's signal scope (`thread`: the one a tgkill aims at).
    func maySignal(_ target: ThreadGroup, _ sig: Int32, thread: GuestThread? = nil) -> Bool {
        guard landlockMaySignal(target, thread: thread) else { return false }
        if target === group || group.capable(5 /* CAP_KILL */, in: target.userNS) { return true }
        if sig == Signal.SIGCONT && target.sid == group.sid { return true }
        let senders = [group.uid, group.euid], targets = [target.uid, target.suid]
        return senders.contains { targets.contains($0) }
    }

    /// Whether a signal `sig` from this task reaches `target` (Linux's sig_task_ignored for
    /// a namespace's init, SIGNAL_UNKILLABLE): an init takes from its own namespace only
    /// the signals it handles or blocks; from an ancestor namespace also SIGKILL and SIGSTOP;
    /// a traced one everything but SIGKILL (its tracer sees it first). A signal that does not
    /// reach still has its job-control effect (ThreadGroup.prepareSignal).
    func signalReaches(_ target: ThreadGroup, _ sig: Int32) -> Bool {
        guard target.isNamespaceInit, sig != 0,
              target.actions[Int(sig)].handler == 0, !target.blocksEverywhere(sig) else { return true }
        if sig != Signal.SIGKILL && target.threads.contains(where: { $0.ptrace != nil }) { return true }
        let fromAncestor = !target.pidNS.contains(group.pid)
        return fromAncestor && (sig == Signal.SIGKILL || sig == Signal.SIGSTOP)
    }
}
