// ThreadGroup (a process) and its lifecycle: exit, zombies, reaping, signals to a process.
import Glibc
import JoeyABI
import JoeyPlatform

struct SignalAction {
    var handler: UInt64 = 0       // 0 = SIG_DFL, 1 = SIG_IGN
    var flags: UInt64 = 0
    var restorer: UInt64 = 0
    var mask: UInt64 = 0
    static let SA_SIGINFO: UInt64 = 4, SA_ONSTACK: UInt64 = 0x0800_0000, SA_RESTART: UInt64 = 0x1000_0000
    static let SA_NODEFER: UInt64 = 0x4000_0000, SA_RESETHAND: UInt64 = 0x8000_0000, SA_RESTORER: UInt64 = 0x0400_0000
}

/// What a pending signal carries into siginfo: how it was raised and by whom.
struct SignalInfo {
    var signo: Int32
    /// SI_USER 0, SI_TKILL -6, SI_KERNEL 0x80, or a signal-specific code (CLD_EXITED, SEGV_MAPERR...).
    var code: Int32 = 0
    var pid: Int32 = 0
    var uid: UInt32 = 0
    /// SIGCHLD: the exit code or signal.
    var status: Int32 = 0
    /// Fault signals: the faulting address.
    var address: UInt64? = nil
    /// sigqueue's si_value.
    var value: UInt64 = 0
    /// si_errno (a seccomp filter's SECCOMP_RET_DATA for SIGSYS).
    var errno: Int32 = 0
    /// SIGSYS from a seccomp filter: the system call's number (si_syscall; si_arch is x86-64's,
    /// si_call_addr is `address`).
    var syscall: Int32? = nil
    /// A readiness signal of F_SETSIG (SIGPOLL's layout): si_band and si_fd.
    var poll: (band: Int64, fd: Int32)? = nil

    /// siginfo_t as the guest sees it (signal frames, rt_sigtimedwait, PTRACE_GETSIGINFO),
    /// written as `sig` into the first 128 bytes of `p`, which are zero; the sender's uid as
    /// the receiver's user namespace `ns` numbers it.
    func store(as sig: Int32, seenIn ns: UserNamespace, into p: UnsafeMutableRawBufferPointer) {
        p.storeBytes(of: sig, toByteOffset: 0, as: Int32.self)
        p.storeBytes(of: errno, toByteOffset: 4, as: Int32.self)
        p.storeBytes(of: code, toByteOffset: 8, as: Int32.self)
        if let address { // faults, and SIGSYS's _sigsys (the call's number and architecture)
            p.storeBytes(of: address, toByteOffset: 16, as: UInt64.self)
            if let syscall {
                p.storeBytes(of: syscall, toByteOffset: 24, as: Int32.self)
                p.storeBytes(of: Seccomp.auditArchX86_64, toByteOffset: 28, as: UInt32.self)
            }
        } else if let poll {
            p.storeBytes(of: poll.band, toByteOffset: 16, as: Int64.self)
            p.storeBytes(of: poll.fd, toByteOffset: 24, as: Int32.self)
        } else {
            p.storeBytes(of: pid, toByteOffset: 16, as: Int32.self)
            p.storeBytes(of: ns.shownUID(uid), toByteOffset: 20, as: UInt32.self)
            p.storeBytes(of: sig == Signal.SIGCHLD ? UInt64(UInt32(bitPattern: status)) : value, toByteOffset: 24, as: UInt64.self)
        }
    }
    /// Sent from outside the sandbox (the host terminal, or the sentry on the operator's behalf):
    /// such signals reach pid 1 even with the default action, as from a parent pid namespace.
    var fromOutside = false
}

final class ThreadGroup {
    /// Strong and `let`: read on every system call, and a `let` of a live object is used
    /// as it is, where an unowned(unsafe) one is retained and released around each use
    /// (the kernel's one reference count, bouncing between the CPUs of its threads). Threads
    /// and processes leave the kernel's tables when they end, so the kernel goes with them.
    let kernel: Kernel
    let pid: Int32
    var parent: ThreadGroup?
    var children: [ThreadGroup] = []
    var threads: [GuestThread] = []
    var mm: MemoryManager
    var fdTable: FDTable
    var fs: FSContext
    var actions = [SignalAction](repeating: SignalAction(), count: 65)
    var pendingShared: UInt64 = 0
    /// Notified when the process exits (pidfd).
    let exitQueue = WaitQueue()
    /// The inode every pidfd of the process shares, made with the first.
    private var pidfsInode: PidFSInode?
    func pidfdInode(_ kernel: Kernel) -> Inode {
        if let i = pidfsInode { return i }
        let i = PidFSInode(group: self, kernel: kernel)
        pidfsInode = i
        return i
    }
    /// Notified whenever a signal is queued for the process or one of its threads (signalfd).
    let signalQueue = WaitQueue()
    /// siginfo of each signal pending for the whole process: one for a standard signal,
    /// a queue for a realtime one (SIGRTMIN and up).
    var pendingInfo = [[SignalInfo]](repeating: [], count: 65)
    var pgid: Int32
    var sid: Int32
    var uid: UInt32 = 0, gid: UInt32 = 0, euid: UInt32 = 0, egid: UInt32 = 0
    var suid: UInt32 = 0, sgid: UInt32 = 0
    /// File-system ids (setfsuid/setfsgid); they follow the effective ids on every change of those.
    var fsuid: UInt32 = 0, fsgid: UInt32 = 0
    var groups: [UInt32] = []
    /// The user namespace the ids are seen through and the capabilities count in
    /// (Task/UserNamespace.swift).
    var userNS = UserNamespace.initial
    var capabilities = Capabilities.initial(uid: 0, given: nil)
    /// PR_SET_SECUREBITS (capabilities(7)): NOROOT 0x1, NO_SETUID_FIXUP 0x4, KEEP_CAPS 0x10,
    /// NO_CAP_AMBIENT_RAISE 0x40, each with its lock bit above it. Inherited by fork.
    var securebits: UInt32 = 0
    /// PR_SET_KEEPCAPS (SECURE_KEEP_CAPS): permitted capabilities survive leaving uid 0
    /// (cleared by execve).
    var keepCapabilities: Bool {
        get { securebits & 0x10 != 0 }
        set { securebits = newValue ? securebits | 0x10 : securebits & ~0x10 }
    }
    var noNewPrivs = false
    /// Keyrings of the key retention service (Keys/): the session keyring, shared with the
    /// processes forked since it was joined; the process keyring, this process's threads'
    /// (made on first use, not inherited); and a session keyring a child gave it with
    /// KEYCTL_SESSION_TO_PARENT, taken on at its next key operation or fork.
    var sessionKeyring: Key? { didSet { kernel.keys.dirty = true } }
    var processKeyring: Key? { didSet { kernel.keys.dirty = true } }
    var pendingSessionKeyring: Key? { didSet { kernel.keys.dirty = true } }
    /// personality(2)'s value (PER_LINUX and its flags), kept across fork and execve.
    var personality: UInt32 = 0
    /// ioprio_set's value (class << 13 | data); 0 until set (IOPRIO_CLASS_NONE).
    var ioPriority: UInt16 = 0
    /// Linux's io_context, only for identity (kcmp KCMP_IO): made when an I/O priority is
    /// set, shared by CLONE_IO, copied (with the priority) by a plain fork.
    var ioContext: IOContext?
    /// Linux's dumpability (PR_GET_DUMPABLE): 1 the process's user may trace it and own its
    /// /proc files and it dumps core; 0 none of that; 2 the same as 0 but it dumps core as
    /// root. Lost when its ids change (fs.suid_dumpable says to what), regained by execve.
    var dumpMode: Int = 1
    /// /proc/PID/coredump_filter (core(5)): which memory a core holds, bit 0 private and bit
    /// 1 shared anonymous memory, 2 private and 3 shared file mappings, 4 ELF headers (Linux
    /// keeps it in the mm's flags: inherited by fork, kept by execve).
    var coredumpFilter: UInt32 = 0x33
    /// /proc/PID/oom_score_adj (-1000...1000): added, in thousandths of the memory, to the
    /// process's size when the OOM killer ranks it; -1000 never chosen. The least a process
    /// without CAP_SYS_RESOURCE may set is what a writer holding it last set
    /// (oom_score_adj_min). Both inherited by fork, kept by execve.
    var oomScoreAdj = 0, oomScoreAdjMin = 0
    /// setpriority's nice value (the guest's view).
    var nice: Int32 = 0
    /// PR_SET_CHILD_SUBREAPER: orphaned descendants are reparented here instead of to init.
    var childSubreaper = false
    /// PR_SET_THP_DISABLE: recorded (the sentry has no transparent huge pages); kept by
    /// fork and execve, as Linux's MMF_DISABLE_THP.
    var transparentHugePagesDisabled = false
    /// ITIMER_REAL (and alarm): next expiry on the monotonic clock, and the reload interval.
    var alarmDeadline: UInt64?
    var alarmInterval: UInt64 = 0
    /// ITIMER_VIRTUAL and ITIMER_PROF: deadlines on the process's CPU time, and reload intervals.
    var cpuTimers: [(deadline: UInt64?, interval: UInt64)] = [(nil, 0), (nil, 0)]
    /// The last polledCPUNanos() reading: when (monotonic) and what.
    var cpuPoll: (UInt64, UInt64)?
    /// POSIX timers by id (timer_create); they are not inherited by fork.
    var timers: [Int32: PosixTimer] = [:]
    var nextTimerID: Int32 = 0
    /// CPU time of reaped children (times, getrusage RUSAGE_CHILDREN).
    var childrenCPUNanos: UInt64 = 0
    /// The system part of childrenCPUNanos, and of exitCPUNanos, in Timekeeper.cycles() units.
    var childrenSentryCycles: UInt64 = 0
    var exitSentryCycles: UInt64 = 0
    /// CPU time of this process's exited threads (all of it once the process has exited).
    var exitCPUNanos: UInt64 = 0
    /// Peak resident size (KiB) seen by exited threads, and the largest of reaped descendants.
    var exitPeakResidentKiB: UInt64 = 0
    var childrenPeakResidentKiB: UInt64 = 0
    /// Context switches (voluntary, involuntary) of exited threads, and of reaped children.
    var exitSwitches: (voluntary: UInt64, involuntary: UInt64) = (0, 0)
    var childrenSwitches: (voluntary: UInt64, involuntary: UInt64) = (0, 0)

    /// getrusage's ru_nvcsw and ru_nivcsw: `thread`'s, the process's, or its reaped children's.
    func contextSwitches(thread: GuestThread? = nil, children: Bool = false) -> (voluntary: UInt64, involuntary: UInt64) {
        if children { return childrenSwitches }
        if let thread { return (thread.voluntarySwitches, thread.nonvoluntarySwitches) }
        return threads.reduce(exitSwitches) { ($0.voluntary &+ $1.voluntarySwitches, $0.involuntary &+ $1.nonvoluntarySwitches) }
    }
    /// commit_creds' rule, after a credential change from `old` (euid, egid, fsuid, fsgid,
    /// permitted capabilities): a change of the effective or file-system ids, or a
    /// capability the old credentials lacked, leaves the process undumpable and clears its
    /// parent-death signal.
    func credentialsChanged(from old: (euid: UInt32, egid: UInt32, fsuid: UInt32, fsgid: UInt32, permitted: UInt64)) {
        guard old.euid != euid || old.egid != egid || old.fsuid != fsuid || old.fsgid != fsgid
                || capabilities.permitted & ~old.permitted != 0 else { return }
        dumpMode = kernel.tunables.suidDumpable
        parentDeathSignal = 0
    }

    /// Who owns the process's /proc files: its effective ids while dumpable, else root (its
    /// user namespace's, when that maps one).
    var dumpOwner: (UInt32, UInt32) {
        dumpMode == 1 ? (euid, egid) : (userNS.kuid(0) ?? 0, userNS.kgid(0) ?? 0)
    }

    /// The credentials commit_creds compares.
    var dumpRelevantCredentials: (euid: UInt32, egid: UInt32, fsuid: UInt32, fsgid: UInt32, permitted: UInt64) {
        (euid, egid, fsuid, fsgid, capabilities.permitted)
    }

    /// For a process started from outside (OCI exec): told its wait status when it exits.
    var onExit: ((Int32) -> Void)?
    /// PR_SET_PDEATHSIG: the signal sent when the parent exits.
    var parentDeathSignal: Int32 = 0
    var comm = ""
    /// /proc/PID/io: bytes and calls of read and write (all of its threads, ever).
    var io = (rchar: UInt64(0), wchar: UInt64(0), syscr: UInt64(0), syscw: UInt64(0))
    var exePath: ByteString = ""
    /// The file it runs (mm->exe_file): what /proc/PID/exe reaches, renamed or unlinked since.
    var exeLocation: Location?
    var cmdline: [[UInt8]] = []
    var rlimits: [Int32: (UInt64, UInt64)] = [:]
    /// Wait status once the process has exited (a zombie until reaped).
    var exitStatus: Int32?
    var exiting = false
    /// Chosen by the OOM killer (Kernel.reclaimMemory): not chosen again while it goes.
    var oomKilled = false
    /// Job control: the group is stopped; the stop or continue not yet reported to wait.
    var stopped = false
    var stopReport: Int32?
    /// The signal of the current (or last) group stop, and how many group stops there were:
    /// a tracee reports each group stop to its tracer once (GuestThread.ptraceGroupStop).
    private(set) var stopSignal: Int32 = 0
    private(set) var stopCount: UInt64 = 0
    var continueReport = false
    /// The wait status exit_group (or a fatal signal) decided on.
    var pendingExitStatus: Int32?
    var reaped = false
    /// A nested namespace's init that has exited while others in its namespace remain.
    var awaitingNamespace = false
    /// It has execve'd since it was forked (Linux's PF_FORKNOEXEC cleared): its parent may
    /// no longer move it to another process group.
    var didExec = false
    /// Set while a vfork parent waits for this child to exec or exit.
    /// The thread that vforked this process and sleeps until it execs or exits.
    var vforkParent: GuestThread?
    var vforkParentWaiting: Bool { vforkParent != nil }
    /// Notified when a child exits, stops or continues (wait4, waitid).
    let childEvents = WaitQueue()
    var exitSignal: Int32 = Signal.SIGCHLD
    var startTime: UInt64 = monotonicNanos()

    /// The UTS namespace (hostname, domain name); Linux keeps it in nsproxy.
    var uts: UTSNamespace
    /// The IPC namespace (System V objects, POSIX message queue names).
    var ipc: IPCNamespace
    /// The network namespace (Net/NetworkNamespace.swift).
    var netNS: NetworkNamespace
    var cgroupNS: CgroupNamespace
    /// The time namespace the process reads clocks in, and the one its children enter
    /// (Task/TimeNamespace.swift).
    var timeNS: TimeNamespace
    var timeNSForChildren: TimeNamespace
    /// The pid namespace the process is in (for good), and the one its new children go to
    /// (another after unshare or setns of CLONE_NEWPID).
    let pidNS: PIDNamespace
    var pidNSForChildren: PIDNamespace
    init(kernel: Kernel, pid: Int32, parent: ThreadGroup?, mm: MemoryManager, fdTable: FDTable, fs: FSContext,
         pidNS: PIDNamespace? = nil) {
        self.kernel = kernel
        self.pid = pid
        self.pidNS = pidNS ?? kernel.rootPIDNamespace
        pidNSForChildren = self.pidNS
        self.parent = parent
        self.mm = mm
        self.fdTable = fdTable
        self.fs = fs
        uts = parent?.uts ?? kernel.initialUTS
        ipc = parent?.ipc ?? kernel.initialIPC
        netNS = parent?.netNS ?? kernel.initialNet
        cgroupNS = parent?.cgroupNS ?? kernel.initialCgroup
        timeNS = parent?.timeNS ?? kernel.initialTime
        timeNSForChildren = parent?.timeNSForChildren ?? kernel.initialTime
        pgid = parent?.pgid ?? pid
        sid = parent?.sid ?? pid
    }

    var leader: GuestThread? { threads.first }

    /// Whether `sig` sent now, to the process or to `thread`, is dropped at once (Linux's
    /// sig_ignored): it is ignored, by SIG_IGN or by default (SIGCONT's too: its job-control
    /// effect is prepareSignal's), it is not blocked (sigwait may still take a blocked one:
    /// for the process, blocked by every thread) and no tracer is there to see it. A dropped
    /// signal wakes no one: a sleep it interrupted would end early, and a program that
    /// retries it on EINTR could miss the next signal in the window that opens.
    func discards(_ sig: Int32, thread: GuestThread? = nil) -> Bool {
        guard sig != Signal.SIGKILL && sig != Signal.SIGSTOP else { return false }
        if let thread {
            guard thread.signalMask & (1 << UInt64(sig - 1)) == 0, thread.ptrace == nil else { return false }
        } else {
            guard !blocksEverywhere(sig), threads.allSatisfy({ $0.ptrace == nil }) else { return false }
        }
        let action = actions[Int(sig)]
        if action.handler == 1 { return true }
        guard action.handler == 0 else { return false }
        switch Signal.defaultAction(sig) {
        case .ignore, .continue: return true
        default: return false
        }
    }

    /// Signals queued for the process and its threads (each siginfo held).
    var queuedSignals: Int {
        threads.reduce(pendingInfo.reduce(0) { $0 + $1.count }) { n, t in n + t.pendingInfo.reduce(0) { $0 + $1.count } }
    }

    /// Queues a signal for the process and wakes a thread that can take it. Without `info`
    /// it is SI_USER from the process itself (as the kernel's SIGPIPE is).
    /// A process-directed signal. `preferring` is the thread to wake for it if it does not
    /// block it (complete_signal's first choice: a CPU timer's goes to the thread that was
    /// running, so a profiler samples the thread that used the time).
    func sendSignal(_ sig: Int32, info: SignalInfo? = nil, preferring: GuestThread? = nil) {
        guard sig > 0 && sig < 65, exitStatus == nil else { return }
        prepareSignal(sig)
        if discards(sig) { return }
        enqueueSignal(sig, info ?? SignalInfo(signo: sig, pid: pidNS.local(pid), uid: uid), mask: &pendingShared, queues: &pendingInfo)
        let bit: UInt64 = 1 << UInt64(sig - 1)
        if let preferring, preferring.signalMask & bit == 0 {
            preferring.interrupt()
            return
        }
        // One thread that can take it is woken; when every thread blocks it, all are (one of
        // them may be waiting for it in sigtimedwait).
        if let target = threads.first(where: { $0.signalMask & bit == 0 }) {
            target.interrupt()
        } else {
            for t in threads { t.interrupt() }
        }
    }

    /// Job control acts when a signal is sent, even one then ignored: SIGCONT resumes and
    /// cancels pending stops, a stop signal cancels a pending SIGCONT (Linux's prepare_signal).
    func prepareSignal(_ sig: Int32) {
        guard sig > 0 && sig < 65, exitStatus == nil else { return }
        let stopMask: UInt64 = 1 << 18 | 1 << 19 | 1 << 20 | 1 << 21 // STOP, TSTP, TTIN, TTOU
        if sig == Signal.SIGCONT {
            discardPending(stopMask)
            if stopped { resume() }
        } else if stopMask & (1 << UInt64(sig - 1)) != 0 {
            discardPending(1 << 17)
        }
    }

    /// Bytes of private mappings (what an OOM killer would reclaim by killing this process;
    /// memory still shared copy-on-write with another process counts in both).
    func privateMemoryBytes() -> UInt64 {
        mm.vmas.reduce(0) { $0 &+ ($1.shared ? 0 : $1.end - $1.start) }
    }

    /// Bytes of private memory backed by pages (what the OOM killer weighs, as Linux's
    /// oom_badness weighs RSS: a large reservation never touched is not what ran out).
    func residentPrivateBytes() -> UInt64 {
        mm.vmas.reduce(0) { total, v in
            // A host file's pages are the host's page cache, not the sandbox's memory.
            guard !v.shared, v.block != nil, v.pages == nil, !v.mapsHostFile else { return total }
            return total &+ kernel.memoryFile.residentBytes(v.fileStart, length: v.end - v.start)
        }
    }

    /// Realizes the MM's changes in its address space at once, under its running threads: a
    /// memory system call's that was not realized as it was made, or a change another process
    /// made to this one's memory (a copy-on-write copy). Kernel lock held.
    func catchUpAddressSpace(keepingPending: Bool = false) {
        do { try mm.syncSpace(keepingPending: keepingPending) } catch {
            kernel.debugLog("cannot realize the address space of pid \(pid): \(error); retried before it runs")
        }
    }

    func peakResidentKiB() -> UInt64 {
        threads.reduce(exitPeakResidentKiB) { max($0, $1.context?.peakResidentKiB() ?? 0) }
    }

    /// CPU time of the process's live threads (their stubs' run time) plus what exited threads used.
    func cpuNanos() -> UInt64 {
        threads.reduce(exitCPUNanos) { $0 &+ ($1.context?.cpuTimeNanos() ?? 0) }
    }

    /// CPU time split as Linux reports it (times, getrusage, /proc/PID/stat): user time is the
    /// threads' run time on the host (guest code, and the hand-off to the sentry while it spins
    /// for an answer), system time the sentry's own time on their behalf. Each only grows;
    /// together they can exceed cpuNanos() (the CPU-time clocks), which counts the first.
    /// `thread`: that thread's alone; `children`: the reaped children's.
    func cpuTimes(thread: GuestThread? = nil, children: Bool = false) -> (user: UInt64, system: UInt64) {
        let user: UInt64, cycles: UInt64
        if children {
            user = childrenCPUNanos; cycles = childrenSentryCycles
        } else if let thread {
            user = thread.context?.cpuTimeNanos() ?? 0; cycles = thread.sentryCycles
        } else {
            user = cpuNanos(); cycles = threads.reduce(exitSentryCycles) { $0 &+ $1.sentryCycles }
        }
        return (user, kernel.timekeeper.nanos(cycles: cycles))
    }

    /// cpuNanos() for pollers (CPU-time timers and sleeps): a reading less than 1 ms old is
    /// reused, so that many of them on one process read its threads' times once.
    func polledCPUNanos() -> UInt64 {
        let now = monotonicNanos()
        if let (at, value) = cpuPoll, now &- at < 1_000_000 { return value }
        let value = cpuNanos()
        cpuPoll = (now, value)
        return value
    }

    /// Fires expired CPU-time itimers (SIGVTALRM, SIGPROF) and applies RLIMIT_CPU; true
    /// while either needs watching (polled every cpuPoll). Both count the stubs' whole run
    /// time: user and system time are not told apart.
    func fireCPUTimers() -> Bool {
        let cpuLimit = rlimits[0] ?? (UInt64.max, UInt64.max)
        let limited = cpuLimit.0 != UInt64.max
        guard cpuTimers.contains(where: { $0.deadline != nil }) || limited, exitStatus == nil else { return false }
        let used = polledCPUNanos()
        // RLIMIT_CPU, as Linux's check_process_timers: past the hard limit SIGKILL; past the
        // soft one SIGXCPU, and the soft limit moves a second on (so once a second after).
        if limited {
            if cpuLimit.1 != UInt64.max && used / 1_000_000_000 >= cpuLimit.1 {
                sendSignal(Signal.SIGKILL)
                return false
            }
            if used / 1_000_000_000 >= cpuLimit.0 {
                sendSignal(Signal.SIGXCPU, info: SignalInfo(signo: Signal.SIGXCPU, code: 0x80))
                if cpuLimit.0 < cpuLimit.1 { rlimits[0] = (cpuLimit.0 + 1, cpuLimit.1) }
            }
        }
        for i in 0..<2 {
            guard let d = cpuTimers[i].deadline, d <= used else { continue }
            // The next expiry an interval after this one (check_cpu_itimer), not after the
            // late look: the timer keeps its rate.
            cpuTimers[i].deadline = cpuTimers[i].interval > 0 ? saturatingAdd(d, cpuTimers[i].interval) : nil
            let sig = i == 0 ? Signal.SIGVTALRM : Signal.SIGPROF
            sendSignal(sig, info: SignalInfo(signo: sig, code: 0x80), preferring: threads.first { $0.inGuest })
        }
        return cpuTimers.contains { $0.deadline != nil } || limited
    }

    /// How often CPU-time deadlines are polled (a 100 Hz tick). Each poll reads
    /// every thread's CPU clock with the kernel lock held, so it is kept coarse; the expiry
    /// schedule, not the poll, gives ITIMER_PROF its rate.
    static let cpuPoll: UInt64 = 10_000_000

    /// Drops pending instances of the signals in `bits`, process-wide and per thread.
    func discardPending(_ bits: UInt64) {
        for sig in 1...64 where bits & (1 << UInt64(sig - 1)) != 0 {
            pendingInfo[sig].removeAll()
            for t in threads { t.pendingInfo[sig].removeAll() }
        }
        pendingShared &= ~bits
        for t in threads { t.pending &= ~bits }
    }

    /// Whether every thread blocks `sig`.
    /// (Queues are per signal; realtime signals queue up to 1024 instances, standard ones merge.)
    func blocksEverywhere(_ sig: Int32) -> Bool {
        !threads.isEmpty && threads.allSatisfy { $0.signalMask & (1 << UInt64(sig - 1)) != 0 }
    }

    /// Group stop (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU with the default action).
    func stop(by sig: Int32) {
        guard !stopped else { return }
        stopped = true
        stopReport = sig
        stopSignal = sig
        stopCount &+= 1
        continueReport = false
        notifyParent(code: 5 /* CLD_STOPPED */, status: sig)
        for t in threads { t.interrupt() }
    }

    func resume() {
        stopped = false
        stopReport = nil
        continueReport = true
        notifyParent(code: 6 /* CLD_CONTINUED */, status: Signal.SIGCONT)
        for t in threads { t.interrupt() }
    }

    /// SIGCHLD for a stop or continue, unless the parent asked for none (SA_NOCLDSTOP).
    private func notifyParent(code: Int32, status: Int32) {
        parent?.childEvents.notify(.readable)
        guard let parent, parent.actions[Int(Signal.SIGCHLD)].flags & 1 == 0 else { return }
        parent.sendSignal(Signal.SIGCHLD, info: SignalInfo(signo: Signal.SIGCHLD, code: code, pid: parent.pidNS.local(pid), uid: uid, status: status))
    }

    /// The last thread is gone: become a zombie, hand children to init, tell the parent.
    func becomeZombie(status: Int32) {
        exitStatus = status
        exitQueue.notify(EventMask.input) // pidfd pollers
        releaseVforkParent() // a vfork child that exits releases its parent too
        ipc.semaphores.exit(pid) // its SEM_UNDO adjustments
        ipc = kernel.initialIPC // a zombie holds no namespace's objects alive
        GuestThread.ptraceTracerGone(self, kernel: kernel) // what it traced goes on untraced
        kernel.ptraceExits.removeAll { $0.tracer === self }
        fdTable.removeUser()
        fdTable = FDTable()
        mm.writeBackSharedFiles()
        // The sandbox's init: everything else is killed and the sentry ends with it, so its
        // memory need not go back one range at a time (MemoryFile.retire).
        if pid == 1 { kernel.memoryFile.retire() }
        mm = MemoryManager(memoryFile: kernel.memoryFile, addressSpaceEnd: kernel.platform.addressSpaceEnd)
        // The init of a nested pid namespace takes its namespace with it (Linux's
        // zap_pid_ns_processes): the rest are killed, and no process can be made there.
        if isNamespaceInit && pidNS.level > 0 {
            pidNS.dead = true
            for g in kernel.threadGroups.values where g !== self && g.exitStatus == nil && pidNS.isAncestor(of: g.pidNS) {
                g.sendSignal(Signal.SIGKILL, info: SignalInfo(signo: Signal.SIGKILL, code: 0x80 /* SI_KERNEL */))
            }
        }
        // Orphans go to the nearest living ancestor in this pid namespace that is a child
        // subreaper, else to the namespace's init; a dying namespace's are reaped when they
        // exit (their init is gone).
        var reaper = parent
        while let r = reaper, r.pidNS === pidNS, !(r.childSubreaper && r.exitStatus == nil) { reaper = r.parent }
        if reaper?.pidNS !== pidNS { reaper = nil }
        let nsInit = pidNS.dead ? nil : pidNS.initGroup
        let newParent = reaper ?? (nsInit?.exitStatus == nil ? nsInit : nil)
        for c in children {
            if c.parentDeathSignal != 0 { c.sendSignal(c.parentDeathSignal) }
            c.parent = newParent === self ? nil : newParent
            if let newParent, newParent !== self {
                newParent.children.append(c)
                // A zombie handed over is reaped by its new parent's wait (or at once if it ignores SIGCHLD).
                if c.waitable {
                    newParent.sendSignal(c.exitSignal, info: c.exitInfo(for: newParent))
                    newParent.childEvents.notify(.readable)
                }
            } else if c.waitable {
                c.reap() // no one is left to wait for it
            }
        }
        children.removeAll()
        // A nested namespace's init is reported once the rest of its namespace is gone
        // (Linux's zap_pid_ns_processes waits for them): until then its parent cannot wait
        // for it.
        if pidNS.level > 0 && isNamespaceInit && kernel.namespaceHasOthers(pidNS, besides: self) {
            awaitingNamespace = true
            kernel.initsAwaitingNamespace.append(self)
            return
        }
        announceExit(status: status)
    }

    /// Whether a wait by its parent can report this process's exit now.
    var waitable: Bool { exitStatus != nil && !awaitingNamespace }

    /// The siginfo of this process's exit signal as `parent` receives it.
    func exitInfo(for parent: ThreadGroup) -> SignalInfo {
        let status = exitStatus ?? 0
        let code: Int32 = status & 0x7f == 0 ? 1 : (status & 0x80 != 0 ? 3 : 2) // CLD_EXITED, KILLED, DUMPED
        return SignalInfo(signo: exitSignal, code: code, pid: parent.pidNS.local(pid), uid: uid,
                          status: status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f)
    }

    /// The exit is told: the parent is signalled (or the zombie reaped at once).
    func announceExit(status: Int32) {
        awaitingNamespace = false
        if let parent {
            if parent.actions[Int(Signal.SIGCHLD)].handler == 1 || parent.actions[Int(Signal.SIGCHLD)].flags & 2 /* SA_NOCLDWAIT */ != 0 {
                reap(waitedFor: false)
            } else {
                parent.sendSignal(exitSignal, info: exitInfo(for: parent))
            }
        } else {
            reap()
            onExit?(status)
            onExit = nil
        }
        parent?.childEvents.notify(.readable)
        if pid == 1 {
            kernel.initExitStatus = status
            kernel.killAll()
        }
    }

    /// The vfork parent may run again (this child exec'd or exited).
    func releaseVforkParent() {
        vforkParent?.wakeup.wake()
        vforkParent = nil
    }

    /// Removes a zombie for good. Its usage counts among its parent's children only when the
    /// parent waited for it (Linux's wait_task_zombie), not when it went by itself because
    /// the parent ignores SIGCHLD.
    func reap(waitedFor: Bool = true) {
        reaped = true
        if let parent, waitedFor {
            parent.childrenCPUNanos &+= exitCPUNanos &+ childrenCPUNanos
            parent.childrenSentryCycles &+= exitSentryCycles &+ childrenSentryCycles
            parent.childrenPeakResidentKiB = max(parent.childrenPeakResidentKiB, exitPeakResidentKiB, childrenPeakResidentKiB)
            parent.childrenSwitches.voluntary &+= exitSwitches.voluntary &+ childrenSwitches.voluntary
            parent.childrenSwitches.involuntary &+= exitSwitches.involuntary &+ childrenSwitches.involuntary
        }
        kernel.reapedCPUNanos &+= exitCPUNanos
        kernel.threadGroups[pid] = nil
        if let parent { parent.children.removeAll { $0 === self } }
        kernel.retirePid(pid, from: pidNS)
    }
}

/// Adds a pending signal: a standard signal already pending is merged, a realtime one queues.
func enqueueSignal(_ sig: Int32, _ info: SignalInfo, mask: inout UInt64, queues: inout [[SignalInfo]]) {
    let bit: UInt64 = 1 << UInt64(sig - 1)
    if sig < 32 && mask & bit != 0 { return }
    if queues[Int(sig)].count < 1024 { queues[Int(sig)].append(info) }
    mask |= bit
}

/// Takes the oldest instance of a pending signal; the bit clears when none is left.
func dequeueSignal(_ sig: Int32, mask: inout UInt64, queues: inout [[SignalInfo]]) -> SignalInfo {
    let info = queues[Int(sig)].isEmpty ? SignalInfo(signo: sig) : queues[Int(sig)].removeFirst()
    if queues[Int(sig)].isEmpty { mask &= ~(1 << UInt64(sig - 1)) }
    return info
}

/// A process's I/O context: kcmp compares these (no block I/O is scheduled by it).
final class IOContext {}
