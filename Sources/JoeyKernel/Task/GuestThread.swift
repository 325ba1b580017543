// Task/ owns guest threads (GuestThread) and processes (ThreadGroup): the run loop, signal
// delivery, clone/exec loading, exit and wait, credentials and capabilities (Capabilities,
// UserNamespace), pid and time namespaces (PIDNamespace, TimeNamespace), and the rewriting
// of system call sites (SyscallPatching). Everything here runs under the kernel lock,
// released only while the guest runs, while a thread sleeps on its Wakeup, or around a
// host call that may block.
//
// GuestThread: one guest thread, run by one sentry host thread that loops
// "switch into the guest -> handle the event".
import CJoey
import Glibc
import JoeyABI
import JoeyPlatform

final class GuestThread {
    /// Strong and `let`: read on every system call, and a `let` of a live object is used
    /// as it is, where an unowned(unsafe) one is retained and released around each use
    /// (the kernel's one reference count, bouncing between the CPUs of its threads). Threads
    /// and processes leave the kernel's tables when they end, so the kernel goes with them.
    let kernel: Kernel
    /// Changes only when a non-leader thread execs and takes over the process id.
    private(set) var tid: Int32
    /// `let` for the same reason as `kernel`: used as it is, not retained at each use.
    let group: ThreadGroup
    var regs = GuestRegisters()
    var context: PlatformContext?
    var signalMask: UInt64 = 0
    var pending: UInt64 = 0
    /// siginfo of each signal pending for this thread only (faults, tkill).
    var pendingInfo = [[SignalInfo]](repeating: [], count: 65)
    var clearChildTID: UInt64 = 0
    var robustList: UInt64 = 0
    /// sched_setaffinity's mask as the guest set it (nil: all online CPUs), and the one the
    /// context was last told (the platform pins the thread within it).
    var affinity: UInt64?
    private var contextAffinity: UInt64?
    /// set_mempolicy's policy (nil: the default one).
    var memoryPolicy: MemoryPolicy?
    /// seccomp(2): 0 none, 1 strict, 2 filter; the newest filter of the thread's chain.
    var seccompMode: UInt8 = 0
    var seccompFilter: SeccompFilter?
    /// The Landlock domain this thread restricted itself to (Task/Landlock.swift), if any.
    var landlockDomain: LandlockDomain?
    /// This thread's keyring (Keys/; made on first use), and where request_key puts the keys
    /// it makes (KEYCTL_SET_REQKEY_KEYRING's KEY_REQKEY_DEFL_*): both credentials on Linux,
    /// and per thread there.
    var threadKeyring: Key? { didSet { kernel.keys.dirty = true } }
    var requestKeyDefault: Int32 = 0
    /// Set while another guest process traces this thread (Task/Ptrace.swift).
    var ptrace: PtraceState?
    /// The debug registers as a tracer wrote them (u_debugreg; nil: all 0). Task/Ptrace.swift.
    var debugRegisters: [UInt64]?
    /// Held before returning to guest code while the sandbox is over its memory limit.
    var heldForMemory = false
    /// sched_setscheduler's or sched_setattr's policy and priority, as the guest set them.
    var schedPolicy: Int32 = 0
    var schedPriority: Int32 = 0
    /// SCHED_RESET_ON_FORK: children start as SCHED_OTHER at priority 0, nice at least 0.
    var schedResetOnFork = false
    /// SCHED_DEADLINE's runtime, deadline and period in ns, and SCHED_FLAG_RECLAIM and
    /// SCHED_FLAG_DL_OVERRUN, as sched_setattr set them.
    var schedDeadline = DeadlineParameters()
    /// PR_SET_TIMERSLACK's value and the default 0 restores (the creator's slack at clone),
    /// in ns; recorded: the sentry's timers do not coalesce.
    var timerSlack: UInt64 = 50_000
    var defaultTimerSlack: UInt64 = 50_000
    /// sched_setattr's utilization clamps (0...1024; recorded, as the rest).
    var utilClamp: (min: UInt32, max: UInt32) = (0, 1024)
    /// rt_sigsuspend's caller mask, stored in the next signal frame instead of the temporary one.
    var savedMaskForSuspend: UInt64?
    var killed = false
    /// exit(2) of this thread alone.
    var threadExiting = false
    var inGuest = false
    /// System time: the sentry's time on this thread's behalf, from each platform event to
    /// the next return to the guest, less its sleeps, in Timekeeper.cycles() units
    /// (ThreadGroup.cpuTimes).
    private(set) var sentryCycles: UInt64 = 0
    /// When the current stay in the sentry began (0: not in one), moved on past each sleep.
    private var sentryEntry: UInt64 = 0
    /// Asleep in the sentry (block): /proc shows the thread as S, otherwise as R.
    var blocked = false
    /// Asleep in its process's group stop (Linux's TASK_STOPPED): what PTRACE_ATTACH traps
    /// into a ptrace-stop at once.
    var inGroupStop = false
    /// Context switches as /proc counts them: sleeps in the sentry (voluntary) and the
    /// sentry's interruptions of its guest code (involuntary).
    var voluntarySwitches: UInt64 = 0
    var involuntarySwitches: UInt64 = 0
    /// The host preempting the thread that runs its guest code counts as involuntary too:
    /// the context's count when it was made, and what earlier contexts (before an execve)
    /// counted.
    private var preemptionBase: UInt64 = 0, earlierPreemptions: UInt64 = 0
    var nonvoluntarySwitches: UInt64 {
        involuntarySwitches &+ earlierPreemptions &+ (context.map { $0.hostPreemptions() &- preemptionBase } ?? 0)
    }
    var altStack: (sp: UInt64, flags: Int32, size: UInt64) = (0, 2 /* SS_DISABLE */, 0)
    /// This thread's root, cwd, umask and mount namespace (Linux's fs_struct): its process's,
    /// shared with the threads and processes made with CLONE_FS, unless the thread has one of
    /// its own (it unshared CLONE_FS while other threads shared its process's, or was made
    /// without CLONE_FS).
    var fs: FSContext { ownFS ?? group.fs }
    var ownFS: FSContext?
    /// The last fault that became a signal, as Linux keeps it in the thread (thread.cr2,
    /// error_code, trap_nr) and writes it into every signal frame after (a handler of a later
    /// tgkill sees it still).
    var lastFault = FaultRecord()
    /// The address space this thread's context runs in (its MM's, unless an execve changed it).
    private var contextSpace: AddressSpace?
    /// The MM's version when this thread last entered guest code: a memory fault that comes
    /// back after it changed may be the old mapping's, and is retried.
    private var enteredVersion: UInt64 = 0
    /// The space lagged behind the MM when the thread last entered the guest (another
    /// thread's ops in flight), and a fault then is to wait for them before it is retried.
    private var enteredLagging = false
    private var waitForSpace = false
    private var enteringInSync = false
    /// The MM's version when the thread last came into the sentry, and the version whose
    /// changes must be made before it runs again: those made while it was in the sentry,
    /// its own among them (another thread may have handed them over and be waiting for them).
    private var sentryVersion: UInt64 = 0
    private var mustSee: UInt64 = 0
    /// Set by handlers that replace all registers (execve, rt_sigreturn).
    var registersReplaced = false
    /// The last syscall returned a restart code; decided at signal delivery.
    var syscallRestartable = false
    /// What restart_syscall goes on with after a call that returned ERESTART_RESTARTBLOCK
    /// was interrupted by a signal that ran no handler (Linux's restart_block).
    var restartBlock: RestartBlock?
    /// Asleep until a wall-clock time: a step of the clock wakes it to re-aim.
    var followsWallClock = false
    /// The running syscall may be made again from the start: its path walks and listings
    /// come before anything it changes. A host lookup or listing that may wait for the disk
    /// is then made with the kernel lock let go, and the call made again
    /// (SyscallDispatch.swift, DirectoryInode).
    var defersHostWaits = false
    /// What the walk left to do with the lock let go; taken by the dispatcher.
    var deferredHostWait: DeferredHostWait?
    /// Host paths this call's deferred lookups found missing: not asked again when the call
    /// is made again, so each time round gets further.
    var hostPathsMissing: [(tree: HostTree, path: ByteString)] = []
    /// During an MM change: the address space that was in sync before it began.
    var pendingLiveSpace: AddressSpace?
    var exitCode: Int32 = 0
    /// The MM to realize in a fresh context before the first run (fork child).
    /// FPU state a fork child starts with (read by the parent from its own stub).
    var initialFPState: [UInt8]?

    var mm: MemoryManager { group.mm }
    /// What this thread sleeps on: signals, kills and the queues it waits on wake it.
    let wakeup = Wakeup(guest: true)
    /// Its registration for single-queue waits (block(on:)).
    private(set) lazy var waiter = Waiter(wakeup: wakeup)

    init(kernel: Kernel, tid: Int32, group: ThreadGroup) {
        self.kernel = kernel
        self.tid = tid
        self.group = group
        group.threads.append(self)
    }

    /// Starts the host thread that runs this guest thread. Kernel lock held.
    func start() {
        kernel.runningThreads += 1
        let box = Unmanaged.passRetained(self)
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, 8 << 20)
        joey_attr_allowed_cpus(&attr) // not on the creator's home CPU
        var th = pthread_t()
        let r = pthread_create(&th, &attr, { arg in
            let t = Unmanaged<GuestThread>.fromOpaque(arg!).takeRetainedValue()
            t.threadMain()
            return nil
        }, box.toOpaque())
        pthread_attr_destroy(&attr)
        if r != 0 {
            box.release()
            kernel.runningThreads -= 1
            finishExit(status: Signal.SIGKILL)
        } else {
            pthread_detach(th)
        }
    }

    private func threadMain() {
        Spinning.awoke()
        defer { Spinning.sleeps() }
        kernel.lock.lock()
        defer {
            kernel.runningThreads -= 1
            if kernel.runningThreads == 0 { kernel.lastThreadExited() }
            kernel.lock.unlock()
        }
        do throws(PlatformError) {
            let ctx = try newContext()
            if let fp = initialFPState { ctx.setFloatingPointState(fp) }
            initialFPState = nil
            let base = ctx.initialRegisters()
            regs.cs = base.cs; regs.ss = base.ss; regs.ds = base.ds; regs.es = base.es
            regs.fs = base.fs; regs.gs = base.gs
        } catch {
            kernel.debugLog("cannot create a platform context: \(error)")
            finishExit(status: Signal.SIGKILL)
            return
        }
        runLoop()
        if context != nil {
            // Done, no guest code runs in its stub thread again (which the platform may keep
            // for this address space's next thread). Ending it, and reaping the stub process
            // when this was its last thread (the host tears down its address space), is not
            // the kernel's business: other threads (a joiner just woken) go on meanwhile.
            var ctx = context
            ctx?.retire()
            context = nil
            contextSpace = nil
            kernel.lock.unlock()
            ctx?.release()
            ctx = nil
            kernel.lock.lock()
        }
    }

    /// The guest thread whose sentry work runs on the calling host thread (each has one of
    /// its own), for code that is not handed it: the OOM killer asks whether its caller is
    /// already dying. Unretained: set for as long as runLoop runs.
    private static let hostThreadKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    static var onThisHostThread: GuestThread? {
        pthread_getspecific(hostThreadKey).map { Unmanaged<GuestThread>.fromOpaque($0).takeUnretainedValue() }
    }

    private func runLoop() {
        pthread_setspecific(GuestThread.hostThreadKey, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(GuestThread.hostThreadKey, nil) }
        let memory = kernel.memoryFile
        cycle: while true {
            if killed || group.exiting || threadExiting { finishExit(status: group.pendingExitStatus ?? exitCode); return }
            // A tracee takes its process's group stop (a ptrace-stop) before it looks at its
            // signals, as Linux's get_signal takes its job-control trap first.
            if ptrace != nil && group.stopped && !killed && !group.exiting && deliverableSignals() & (1 << 8) == 0,
               ptraceGroupStop() == .resumed { continue }
            deliverPendingSignals()
            // A stopped group's threads wait here until SIGCONT or SIGKILL; a traced one is in
            // a ptrace-stop instead, and runs on once its tracer resumes it.
            while group.stopped && !killed && !group.exiting && deliverableSignals() & (1 << 8) == 0 {
                if ptrace != nil {
                    let outcome = ptraceGroupStop()
                    if outcome == .resumed { continue cycle } // signals first (an attach's SIGSTOP)
                    if outcome == .runs { break }
                    // Untraced now (or its tracer is going): it waits as any thread.
                }
                inGroupStop = true
                sleepInSentry()
                inGroupStop = false
            }
            // A paused container's threads wait here until it resumes; SIGKILL still ends them.
            while kernel.frozen && !killed && !group.exiting && deliverableSignals() & (1 << 8) == 0 { sleepInSentry() }
            // Over the memory limit: wait while the watcher kills (Kernel.startMemoryWatcher).
            while kernel.memoryPressure && !killed && !group.exiting && deliverableSignals() & (1 << 8) == 0 {
                heldForMemory = true
                sleepInSentry()
                heldForMemory = false
            }
            if killed || group.exiting || threadExiting { continue }
            switch syncAddressSpace() {
            case .failed:
                exitGroup(status: Signal.SIGSEGV)
                continue
            case .letGo: continue // others ran meanwhile: their signals, stops and kills first
            case .ready: break
            }
            enteredVersion = mm.version
            enteredLagging = !enteringInSync && mm.lagging
            if affinity != contextAffinity {
                context!.restrictCPUs(to: affinity ?? 0)
                contextAffinity = affinity
            }
            if sentryEntry != 0 { sentryCycles &+= kernel.timekeeper.cycles() &- sentryEntry }
            inGuest = true
            kernel.lock.unlock()
            // Through a local: `&regs` across the platform call would be an exclusive access
            // of a class property the runtime checks on every switch.
            var guestRegs = regs
            let event = context!.switchToGuest(&guestRegs)
            regs = guestRegs
            sentryEntry = kernel.timekeeper.cycles()
            kernel.lock.lock()
            inGuest = false
            sentryVersion = mm.version
            // kvm: the VM exit and entry around the guest's code are system time, as on Linux.
            if kernel.countsExitOverhead, case let o = context!.lastExitOverheadNanos, o != 0 {
                sentryCycles &+= kernel.timekeeper.cycles(nanos: o)
            }
            switch event {
            case .syscall:
                let patched = context!.syscallWasPatched
                if let entry = kernel.syscallPatchEntry, !patched { considerPatching(entryPoint: entry) }
                if kernel.callCounts != nil { kernel.countCall(regs.orig_rax, patched: patched) }
                handleSyscall()
            case .fault(var sig, var code, let addr):
                kernel.interruptsSeen &+= 1
                kernel.faultsSeen &+= 1
                // A patched site's old `syscall` (Task/SyscallPatching.swift).
                if sig == Signal.SIGILL, kernel.syscallPatchEntry != nil {
                    if patchedSyscallFault(at: regs.rip) { handleSyscall(); continue }
                    if finishPatchedRead(at: regs.rip) { continue }
                }
                // A memory fault on a mapping another thread's change has replaced since
                // (memory made writable again, or newly mapped): retry before judging it.
                if sig == Signal.SIGSEGV || sig == Signal.SIGBUS, enteredVersion != mm.version { continue }
                // One taken while the space lagged behind the MM (another thread's ops in flight):
                // retried once they are made and the space is in sync.
                if sig == Signal.SIGSEGV || sig == Signal.SIGBUS, enteredLagging {
                    waitForSpace = true
                    continue
                }
                // A page of guest memory the host refused (the MemoryFile's tmpfs is at the
                // memory limit): the OOM killer, then the access again, as in Linux's fault path.
                // (A host file's page past the end of a file that shrank is the guest's SIGBUS.)
                if sig == Signal.SIGBUS, code == 2 /* BUS_ADRERR */, memory.enforcesLimit,
                   let v = mm.vma(containing: addr), !v.beyondEOF, !v.mapsHostFile {
                    kernel.outOfMemory(self)
                    continue
                }
                if sig == Signal.SIGSEGV, kernel.syscallPatchEntry != nil, unpatchIfTableLost(at: regs.rip) { continue }
                if sig == Signal.SIGSEGV, addr == regs.rip, emulateVsyscall() { continue }
                // A shared file mapping's page the file has grown over since: map it and retry.
                if sig == Signal.SIGSEGV, mm.refreshFileTail(at: addr) { continue }
                // Just below a MAP_GROWSDOWN mapping: it grows over the fault, which is retried.
                if sig == Signal.SIGSEGV, code == 1 /* SEGV_MAPERR */, growStack(to: addr) { continue }
                // A write to copy-on-write memory: the sharing is broken, the write retried.
                if sig == Signal.SIGSEGV, code == 2 /* SEGV_ACCERR */, mm.vma(containing: addr)?.protection.contains(.write) == true {
                    do {
                        if try mm.breakCopyOnWrite(at: addr) { continue }
                    } catch {
                        // No memory left for the copy: the OOM killer, then the write again.
                        kernel.outOfMemory(self)
                        continue
                    }
                }
                // A page of a file mapping past the file's end (never realized): SIGBUS BUS_ADRERR.
                if sig == Signal.SIGSEGV, let v = mm.vma(containing: addr), v.beyondEOF, !v.protection.isEmpty {
                    sig = Signal.SIGBUS
                    code = 2
                }
                lastFault.record(signal: sig, code: code, address: addr, trap: context?.lastFaultTrap)
                forceSignal(sig, info: SignalInfo(signo: sig, code: code, address: addr))
            case .interrupted:
                involuntarySwitches &+= 1
                kernel.interruptsSeen &+= 1
                kernel.contextSwitches &+= 1
                continue
            case .died:
                if !killed { kill() }
            }
        }
    }

    /// A call into the legacy vsyscall page that faulted (the kvm platform maps nothing in
    /// the upper half; on the others the host emulates it and the stub's filter traps the
    /// call): run as Linux's emulate_vsyscall runs it, gettimeofday at +0, time at +0x400,
    /// getcpu at +0x800, then returning to the caller. Anything else there stays a fault.
    private func emulateVsyscall() -> Bool {
        let nr: UInt64
        switch regs.rip {
        case 0xffff_ffff_ff60_0000: nr = 96
        case 0xffff_ffff_ff60_0400: nr = 201
        case 0xffff_ffff_ff60_0800: nr = 309
        default: return false
        }
        // The type named: `let x: T = try? ...` would read a T? (its tag byte from guest memory).
        guard let caller = try? mm.readValue(regs.rsp, as: UInt64.self) else { return false }
        regs.rip = caller
        regs.rsp &+= 8
        regs.orig_rax = nr
        handleSyscall()
        return true
    }

    /// A context in the MM's address space (made on the first run of the MM).
    private func newContext() throws(PlatformError) -> PlatformContext {
        let space = try mm.addressSpace(on: kernel.platform)
        let ctx = try space.newContext()
        context = ctx
        preemptionBase = ctx.hostPreemptions()
        contextSpace = space
        contextAffinity = nil
        return ctx
    }

    private enum SpaceReadiness { case ready, letGo, failed }

    /// Makes the platform match the MM before guest code runs: a context in the MM's address
    /// space (a new one after execve), and the space up to date (`.letGo`: the kernel lock was
    /// let go while a stub made changes; the caller looks again at what may have come meanwhile).
    private func syncAddressSpace() -> SpaceReadiness {
        guard let old = context else { return .failed }
        if contextSpace !== mm.space {
            earlierPreemptions &+= old.hostPreemptions() &- preemptionBase
            do throws(PlatformError) {
                old.kill()
                old.release()
                context = nil
                contextSpace = nil
                let ctx = try newContext()
                let base = ctx.initialRegisters()
                regs.cs = base.cs; regs.ss = base.ss
            } catch {
                kernel.debugLog("cannot create a platform context for pid \(group.pid): \(error)")
                return .failed
            }
        }
        if mm.version != sentryVersion {
            mustSee = mm.version
            sentryVersion = mm.version
        }
        if mustSee > mm.version { mustSee = 0 } // another MM's (an execve since)
        // A fault taken while the space lagged: retried once every change so far is made, the
        // kernel lock held throughout (others' ops in flight waited for), so that the space
        // does not lag when the thread runs again: a fault then is the guest's own.
        let inSync = waitForSpace
        waitForSpace = false
        enteringInSync = inSync
        // Changes others make while the lock is let go here are theirs: not waited for.
        do { if try mm.syncSpace(kernel: inSync ? nil : kernel) { sentryVersion = mm.version; return .letGo } } catch {
            kernel.debugLog("cannot realize the address space of pid \(group.pid): \(error)")
            return .failed
        }
        // Changes it must see were handed over by another thread and are not made yet (after
        // a sync that kept the lock, they are).
        if inSync { mustSee = 0 }
        if mm.realizedVersion < mustSee {
            while mm.opsInFlight > 0 && mm.realizedVersion < mustSee && !killed && !group.exiting {
                waiter.mask = .readable
                mm.opsMade.add(waiter)
                sleepInSentry()
                mm.opsMade.remove(waiter)
            }
            if mm.realizedVersion < mustSee && !killed && !group.exiting {
                do { try mm.syncSpace() } catch {
                    kernel.debugLog("cannot realize the address space of pid \(group.pid): \(error)")
                    return .failed
                }
            }
            sentryVersion = mm.version
            return .letGo
        }
        return .ready
    }

    /// After execve from a non-leader thread: this thread takes the process id as its tid.
    func becomeLeader() {
        kernel.threads[tid] = nil
        kernel.releasePid(tid, from: group.pidNS)
        tid = group.pid
        kernel.threads[tid] = self
    }

    /// A signal, stop or MM change for this thread: out of guest code, or out of its sleep.
    func interrupt() {
        if inGuest { context?.interrupt() }
        wakeup.wake()
        // A signal was queued: signalfd readers and pollers re-check.
        group.signalQueue.notify(EventMask.input)
    }

    func kill() {
        killed = true
        if group.pendingExitStatus == nil { group.pendingExitStatus = Signal.SIGKILL }
        if inGuest { context?.kill() }
        wakeup.wake()
    }

    /// Sleeps (kernel lock held, released while asleep) until woken: by `queue` with one of
    /// `events`, by a signal, stop or kill, or at `deadline`. Throws at once when a signal or
    /// kill is already there. The caller re-checks its condition first: a wait that became
    /// satisfiable completes even if a signal arrived meanwhile (as wait4 does on Linux).
    func block(on queue: WaitQueue? = nil, _ events: EventMask = [], deadline: UInt64? = nil) throws(LinuxErrno) {
        // A sleep until a wall-clock time (followsWallClock) is woken by a step of the clock
        // during this block only.
        defer { followsWallClock = false }
        try checkInterrupt()
        context?.willBlock()
        if let queue {
            waiter.mask = events
            queue.add(waiter)
        }
        sleepInSentry(deadline: deadline)
        if let queue { queue.remove(waiter) }
    }

    /// Sleeps on the thread's own wakeup (kernel lock held, released while asleep), counted
    /// as /proc counts a voluntary context switch, and shown as S meanwhile.
    @discardableResult
    func sleepInSentry(deadline: UInt64? = nil) -> Bool {
        // A memory call's changes are made before its thread sleeps (a ptrace stop, a group
        // stop, a frozen container): they would wait for it to run again, while its siblings do.
        if mm.hasPendingOps { try? mm.syncSpace() }
        blocked = true
        voluntarySwitches &+= 1
        kernel.contextSwitches &+= 1
        let asleep = kernel.timekeeper.cycles()
        defer {
            blocked = false
            if sentryEntry != 0 { sentryEntry &+= kernel.timekeeper.cycles() &- asleep }
        }
        let woken = wakeup.sleep(kernel.lock, deadline: deadline)
        // Others ran calls meanwhile: this thread's call goes on as its own (procfs's "self";
        // a ptrace-stop inside a call, a block() in one).
        kernel.current = self
        context?.wokenBy(home: wakeup.wakerHome)
        wakeup.wakerHome = nil
        return woken
    }

    func checkInterrupt() throws(LinuxErrno) {
        if killed || group.exiting { throw .EINTR }
        if deliverableSignals() != 0 || group.stopped { throw .ERESTARTSYS }
    }

    func deliverableSignals() -> UInt64 {
        (pending | group.pendingShared) & ~signalMask | ((pending | group.pendingShared) & (1 << 8 | 1 << 18))
    }

    // MARK: exit

    /// exit_group: every thread of the process exits with `status` (a wait status).
    func exitGroup(status: Int32) {
        if group.pendingExitStatus == nil { group.pendingExitStatus = status }
        group.exiting = true
        for t in group.threads where t !== self { t.kill() }
    }

    private func finishExit(status: Int32) {
        // PTRACE_O_TRACEEXIT: the tracer sees the thread once more, its exit status in hand.
        if !killed { _ = ptraceEvent(PtraceState.EVENT_EXIT, option: PtraceState.TRACEEXIT, message: UInt64(UInt32(bitPattern: status))) }
        releaseRobustFutexes()
        releasePIFutexes()
        if clearChildTID != 0, (try? mm.writeValue(clearChildTID, Int32(0))) != nil, let key = try? futexKey(clearChildTID) {
            // pthread_join waits on this word.
            _ = wakeFutex(key, count: 1)
        }
        group.threads.removeAll { $0 === self }
        kernel.threads[tid] = nil
        // Its tracer hears of the exit, unless reaping its own child will tell it: the
        // leader's, even when other threads are still to go (Linux reports a group leader
        // once, as the process, when the group is empty).
        if let tracer = ptrace?.tracer, tracer.exitStatus == nil {
            if !(tid == group.pid && group.parent === tracer) {
                kernel.ptraceExits.append((tracer, tracer.pidNS.local(tid), group.pendingExitStatus ?? status))
                tracer.childEvents.notify(.readable)
            }
        }
        ptrace = nil
        // A thread's number goes with it; the process's stays until it is reaped.
        if tid != group.pid { kernel.releasePid(tid, from: group.pidNS) }
        // The process keeps what its exited threads used (times, getrusage).
        group.exitCPUNanos &+= context?.cpuTimeNanos() ?? 0
        group.exitSentryCycles &+= sentryCycles
        group.exitSwitches.voluntary &+= voluntarySwitches
        group.exitSwitches.involuntary &+= nonvoluntarySwitches
        // The peak is the whole stub's, which the other threads' contexts still report: read
        // (from the host's /proc) only when the last one goes.
        if group.threads.isEmpty {
            group.exitPeakResidentKiB = max(group.exitPeakResidentKiB, context?.peakResidentKiB() ?? 0)
        }
        if group.threads.isEmpty && group.exitStatus == nil {
            kernel.strace?.exited(self, status: status)
            group.becomeZombie(status: status)
        }
        // An execve waiting for the other threads to go (de_thread) re-counts them.
        for t in group.threads { t.wakeup.wake() }
        // The last guest task is through its exit: Kernel.run may report pid 1's status.
        if kernel.threads.isEmpty { kernel.shutdownWakeup.wake() }
    }
}
