// Process system calls: clone/fork/vfork, execve, exit, wait, ids, sessions, uname, prctl.
import Glibc
import JoeyABI
import JoeyPlatform

let CLONE_VM: UInt64 = 0x100, CLONE_FS: UInt64 = 0x200, CLONE_FILES: UInt64 = 0x400, CLONE_NEWNS: UInt64 = 0x20000, CLONE_NEWUTS: UInt64 = 0x0400_0000
let CLONE_NEWIPC: UInt64 = 0x0800_0000, CLONE_SYSVSEM: UInt64 = 0x40000, CLONE_NEWPID: UInt64 = 0x2000_0000
let CLONE_NEWUSER: UInt64 = 0x1000_0000, CLONE_NEWNET: UInt64 = 0x4000_0000, CLONE_NEWCGROUP: UInt64 = 0x0200_0000
/// unshare's and clone3's (clone(2) has the exit signal in that byte).
let CLONE_NEWTIME: UInt64 = 0x80
/// The namespaces a process may make: mount, UTS, IPC, pid, network and cgroup (and time,
/// for unshare and clone3) with CAP_SYS_ADMIN in its user namespace, or in a new one it makes
/// with them; user, by anyone.
let CLONE_NEW_PRIVILEGED = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP
let CLONE_NEW_OFFERED = CLONE_NEW_PRIVILEGED | CLONE_NEWUSER
let CLONE_SIGHAND: UInt64 = 0x800, CLONE_PIDFD: UInt64 = 0x1000, CLONE_VFORK: UInt64 = 0x4000
let CLONE_PARENT: UInt64 = 0x8000, CLONE_THREAD: UInt64 = 0x10000, CLONE_SETTLS: UInt64 = 0x80000
let CLONE_PARENT_SETTID: UInt64 = 0x100000, CLONE_CHILD_CLEARTID: UInt64 = 0x200000
let CLONE_CHILD_SETTID: UInt64 = 0x1000000

extension GuestThread {
    /// `pidfd`: where CLONE_PIDFD's descriptor goes (clone's parent_tid, clone3's pidfd);
    /// `setTID`: clone3's set_tid, the pids the child must get (its own namespace's first).
    /// `newTime`: clone3's CLONE_NEWTIME (clone(2) has no room for it).
    func sysClone(flags: UInt64, stack: UInt64, parentTid: UInt64, childTid: UInt64, tls: UInt64,
                  pidfd pidfdAddress: UInt64? = nil, setTID: [Int32] = [], newTime: Bool = false) throws(LinuxErrno) -> UInt64 {
        if flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0 { throw .EINVAL }
        // CLONE_PIDFD: a pidfd for a process (not a thread); clone(2) takes its address where
        // CLONE_PARENT_SETTID would put the tid, so not both.
        let wantsPidfd = flags & CLONE_PIDFD != 0
        if wantsPidfd {
            if flags & CLONE_THREAD != 0 { throw .EINVAL }
            if pidfdAddress == nil && flags & CLONE_PARENT_SETTID != 0 { throw .EINVAL }
        }
        if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0 { throw .EINVAL }
        // A SCHED_DEADLINE task cannot fork: its bandwidth would be shared (sched_fork).
        if schedPolicy == GuestThread.SCHED_DEADLINE && !schedResetOnFork { throw .EAGAIN }
        if flags & CLONE_NEWNS != 0 && flags & CLONE_FS != 0 { throw .EINVAL }
        // A new user namespace's credentials cannot share a root and cwd with the old ones,
        // nor a parent (copy_process).
        if flags & CLONE_NEWUSER != 0 && flags & (CLONE_FS | CLONE_PARENT) != 0 { throw .EINVAL }
        // A new IPC namespace cannot share the creator's semaphore undo list.
        if flags & CLONE_NEWIPC != 0 && flags & CLONE_SYSVSEM != 0 { throw .EINVAL }
        // Namespaces are per process in Joey: a thread cannot have its own.
        if flags & CLONE_THREAD != 0 && flags & CLONE_NEW_OFFERED != 0 { throw .EINVAL }
        if (flags & CLONE_NEW_PRIVILEGED != 0 || newTime) && flags & CLONE_NEWUSER == 0 && !group.capable(21 /* CAP_SYS_ADMIN */) { throw .EPERM }
        if flags & CLONE_THREAD != 0 && newTime { throw .EINVAL }
        // A thread is in its process's pid namespace: not after unshare(CLONE_NEWPID) moved
        // where children go. A namespace's init cannot make siblings (they would be outside it).
        if flags & CLONE_THREAD != 0 && group.pidNSForChildren !== group.pidNS { throw .EINVAL }
        if flags & CLONE_PARENT != 0 && group.isNamespaceInit { throw .EINVAL }
        if flags & CLONE_THREAD != 0 { return try cloneThread(flags: flags, stack: stack, parentTid: parentTid, childTid: childTid, tls: tls) }
        let shareVM = flags & CLONE_VM != 0
        if shareVM { try checkRoomInAddressSpace() }
        if flags & CLONE_FILES == 0 { try group.fdTable.checkCopyable(nrOpen: kernel.tunables.nrOpen) }
        // The pidfd's place and a free fd are checked before anything is made.
        let pidfdAt = pidfdAddress ?? parentTid
        if wantsPidfd {
            guard group.fdTable.hasRoom else { throw .EMFILE }
            try mm.writeValue(pidfdAt, Int32(-1))
        }
        if !setTID.isEmpty && !group.capable(21 /* CAP_SYS_ADMIN */) { throw .EPERM }
        // The user namespace first: it owns the others made with it.
        let userNS = flags & CLONE_NEWUSER != 0 ? try makeUserNamespace() : nil
        let owner = userNS ?? group.userNS
        let newFS: FSContext? = flags & CLONE_NEWNS != 0 ? try newMountNamespace(for: fs, owner: owner) : nil
        let ipc = flags & CLONE_NEWIPC != 0 ? try kernel.makeIPCNamespace(owner: owner) : group.ipc
        let net = flags & CLONE_NEWNET != 0 ? try NetworkNamespace.make(ino: kernel.allocateNamespaceIno(), owner: owner) : group.netNS
        // A new pid namespace goes below the caller's own (not after unshare or setns moved
        // where its children go: EINVAL, as Linux's copy_pid_ns).
        if flags & CLONE_NEWPID != 0 && group.pidNSForChildren !== group.pidNS { throw .EINVAL }
        let pidNS = flags & CLONE_NEWPID != 0 ? try kernel.makePIDNamespace(below: group.pidNS, owner: owner) : group.pidNSForChildren
        let pid = try kernel.allocateTask(in: pidNS, setTID: setTID)
        let childMM: MemoryManager
        do { childMM = shareVM ? mm : try mm.fork() } catch {
            kernel.releasePid(pid, from: pidNS)
            throw error
        }
        // The parent's threads lose write permission on what is now shared before the child
        // can run (they share one address space: at once for all of them); until then they
        // could still change the child's memory.
        if !shareVM {
            do { try mm.syncSpace() } catch {
                // The child's memory would not be its own: no child (the parent's memory stays
                // copy-on-write, made writable again at its next write).
                kernel.debugLog("cannot realize the address space of pid \(group.pid): \(error)")
                kernel.releasePid(pid, from: pidNS)
                throw .ENOMEM
            }
        }
        let parentGroup = flags & CLONE_PARENT != 0 ? (group.parent ?? group) : group
        let g = ThreadGroup(kernel: kernel, pid: pid, parent: parentGroup, mm: childMM,
                            fdTable: flags & CLONE_FILES != 0 ? group.fdTable.addUser() : group.fdTable.copy(),
                            fs: newFS ?? (flags & CLONE_FS != 0 ? fs : fs.copy()), pidNS: pidNS)
        if pidNS.initGroup == nil && pidNS.local(pid) == 1 { pidNS.initGroup = g }
        g.uts = flags & CLONE_NEWUTS != 0 ? group.uts.copy(ino: kernel.allocateNamespaceIno(), owner: owner) : group.uts
        g.ipc = ipc
        g.netNS = net
        // The child enters the namespace its parent's children go to (a new one with
        // CLONE_NEWTIME), unless it shares the parent's memory (and so its [vvar]).
        g.timeNSForChildren = newTime ? TimeNamespace(ino: kernel.allocateNamespaceIno()) : group.timeNSForChildren
        if newTime { g.timeNSForChildren.owner = owner }
        g.timeNS = group.timeNS
        if !shareVM && g.timeNSForChildren !== g.timeNS { enterTimeNamespace(g.timeNSForChildren, of: g) }
        if flags & CLONE_NEWCGROUP != 0 {
            g.cgroupNS = CgroupNamespace(ino: kernel.allocateNamespaceIno())
            g.cgroupNS.owner = owner
        } else {
            g.cgroupNS = group.cgroupNS
        }
        g.actions = group.actions
        g.uid = group.uid; g.gid = group.gid; g.euid = group.euid; g.egid = group.egid
        g.suid = group.suid; g.sgid = group.sgid; g.groups = group.groups
        g.capabilities = group.capabilities
        g.securebits = group.securebits
        g.userNS = group.userNS
        if let userNS { g.enterUserNamespace(userNS) }
        // The session keyring is shared; the process keyring is not inherited (copy_creds).
        group.adoptPendingSessionKeyring()
        g.sessionKeyring = group.sessionKeyring
        g.noNewPrivs = group.noNewPrivs // inherited across fork (and kept by execve)
        g.personality = group.personality; g.ioPriority = group.ioPriority
        g.transparentHugePagesDisabled = group.transparentHugePagesDisabled
        // CLONE_IO shares the I/O context; otherwise one with a priority set is copied.
        if let io = group.ioContext { g.ioContext = flags & 0x8000_0000 /* CLONE_IO */ != 0 ? io : IOContext() }
        g.fsuid = group.fsuid; g.fsgid = group.fsgid; g.dumpMode = group.dumpMode
        g.coredumpFilter = group.coredumpFilter
        (g.oomScoreAdj, g.oomScoreAdjMin) = (group.oomScoreAdj, group.oomScoreAdjMin)
        g.nice = schedResetOnFork ? max(0, group.nice) : group.nice
        g.pgid = group.pgid; g.sid = group.sid
        g.comm = group.comm; g.exePath = group.exePath; g.exeLocation = group.exeLocation; g.cmdline = group.cmdline; g.rlimits = group.rlimits
        g.exitSignal = Int32(flags & 0xff)
        let child = GuestThread(kernel: kernel, tid: pid, group: g)
        prepareCloned(child, flags: flags, stack: stack, parentTid: parentTid, childTid: childTid, tls: tls)
        child.altStack = altStack
        parentGroup.children.append(g)
        kernel.threadGroups[pid] = g
        kernel.threads[pid] = child
        if flags & CLONE_VFORK != 0 { g.vforkParent = self }
        if wantsPidfd, let fd = try? group.fdTable.install(PidFDDescription(kernel: kernel, target: g, flags: 0), closeOnExec: true) {
            try? mm.writeValue(pidfdAt, fd)
        }
        let followed = ptraceInherit(to: child, flags: flags)
        child.start()
        if let followed { _ = ptraceEvent(followed.event, option: followed.option, message: UInt64(UInt32(bitPattern: tracerView(of: pid)))) }
        if flags & CLONE_VFORK != 0 {
            // The parent sleeps (uninterruptibly, as on Linux) until the child execs or exits.
            while g.vforkParentWaiting && !killed { sleepInSentry() }
        }
        return UInt64(vnr(pid))
    }

    /// What a new task inherits from its creator, as clone's flags say: registers (with rax 0,
    /// the new stack and TLS), the signal mask, FPU state, and the tid words.
    private func prepareCloned(_ child: GuestThread, flags: UInt64, stack: UInt64, parentTid: UInt64, childTid: UInt64, tls: UInt64) {
        child.regs = regs
        child.regs.rax = 0
        if stack != 0 { child.regs.rsp = stack }
        if flags & CLONE_SETTLS != 0 { child.regs.fs_base = tls }
        child.signalMask = signalMask
        child.seccompMode = seccompMode
        child.seccompFilter = seccompFilter
        child.landlockDomain = landlockDomain
        child.affinity = affinity
        child.memoryPolicy = memoryPolicy
        // Linux's sched_fork: the policy is inherited, but SCHED_RESET_ON_FORK puts a real-time
        // or deadline one back to SCHED_OTHER (SCHED_BATCH and SCHED_IDLE stay).
        let realTime = schedPolicy == 1 || schedPolicy == 2 || schedPolicy == GuestThread.SCHED_DEADLINE // FIFO RR
        if !schedResetOnFork || !realTime {
            (child.schedPolicy, child.schedPriority, child.schedDeadline) = (schedPolicy, schedPriority, schedDeadline)
        }
        child.utilClamp = utilClamp
        child.requestKeyDefault = requestKeyDefault
        (child.timerSlack, child.defaultTimerSlack) = (timerSlack, timerSlack)
        child.initialFPState = context?.floatingPointState()
        if flags & CLONE_CHILD_CLEARTID != 0 { child.clearChildTID = childTid }
        // The parent's word gets the tid it sees, the child's the one the child sees.
        if flags & CLONE_PARENT_SETTID != 0 { try? mm.writeValue(parentTid, vnr(child.tid)) }
        if flags & CLONE_CHILD_SETTID != 0 { try? child.mm.writeValue(childTid, child.vnr(child.tid)) }
    }

    /// A new thread in this process: it shares the MM (its own stub maps the same MemoryFile
    /// ranges), fd table, fs context and signal actions; it has its own registers and mask.
    private func cloneThread(flags: UInt64, stack: UInt64, parentTid: UInt64, childTid: UInt64, tls: UInt64) throws(LinuxErrno) -> UInt64 {
        guard flags & CLONE_VM != 0, flags & CLONE_VFORK == 0 else { throw .EINVAL }
        try checkRoomInAddressSpace()
        let tid = try kernel.allocateTask(in: group.pidNS)
        let child = GuestThread(kernel: kernel, tid: tid, group: group)
        // A thread made without CLONE_FS gets a copy of its creator's root, cwd and umask.
        child.ownFS = flags & CLONE_FS != 0 ? ownFS : fs.copy()
        prepareCloned(child, flags: flags, stack: stack, parentTid: parentTid, childTid: childTid, tls: tls)
        inheritThreadKeyring(by: child)
        kernel.threads[tid] = child
        let followed = ptraceInherit(to: child, flags: flags)
        child.start()
        if let followed { _ = ptraceEvent(followed.event, option: followed.option, message: UInt64(UInt32(bitPattern: tracerView(of: tid)))) }
        return UInt64(vnr(tid))
    }

    /// EAGAIN (Linux's answer at its task limits) when the address space already runs as many
    /// tasks as the platform can; past that the new task could not start.
    private func checkRoomInAddressSpace() throws(LinuxErrno) {
        let limit = kernel.platform.maxThreadsPerAddressSpace
        guard kernel.threads.count >= limit else { return }
        var tasks = 0
        for g in kernel.threadGroups.values where g.mm === mm { tasks += g.threads.count }
        guard tasks < limit else { throw .EAGAIN }
    }

    /// This thread's root, cwd and umask become `newFS` (unshare, setns): the process's when
    /// the thread is its only one, else the thread's own (the other threads keep theirs).
    func replaceFS(with newFS: FSContext) {
        if ownFS == nil && group.threads.count == 1 { group.fs = newFS } else { ownFS = newFS }
    }

    /// This process gets its own copy of a descriptor table it shared (CLONE_FILES).
    func unshareFiles() {
        let own = group.fdTable.copy()
        group.fdTable.removeUser()
        group.fdTable = own
    }

    /// unshare(2) of what clone shares, and of every namespace type. A new pid or time
    /// namespace is where the caller's children go (and, for time, its next program); the
    /// caller stays where it is.
    func sysUnshare() throws(LinuxErrno) -> UInt64 {
        var flags = a0
        let known = CLONE_FILES | CLONE_FS | CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM
            | CLONE_NEW_OFFERED | CLONE_NEWTIME
        guard flags & ~known == 0 else { throw .EINVAL }
        // A new user namespace is for a single-threaded process with a root and cwd of its own.
        if flags & CLONE_NEWUSER != 0 { flags |= CLONE_THREAD | CLONE_FS }
        // Unsharing the thread group, signal handlers or address space is allowed only when
        // nothing shares them: a single-threaded process, as Linux checks. Namespaces are per
        // process in Joey, so one thread of several cannot take a new UTS or IPC namespace
        // (Linux would give it to that thread alone): EINVAL rather than moving them all.
        if flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME) != 0 && group.threads.count > 1 { throw .EINVAL }
        if flags & (CLONE_NEW_PRIVILEGED | CLONE_NEWTIME) != 0 && flags & CLONE_NEWUSER == 0 && !group.capable(21 /* CAP_SYS_ADMIN */) { throw .EPERM }
        // What can fail is made first, so a failed unshare changes nothing; the user
        // namespace before the namespaces it owns.
        if flags & CLONE_FILES != 0 && group.fdTable.users > 1 { try group.fdTable.checkCopyable(nrOpen: kernel.tunables.nrOpen) }
        let userNS = flags & CLONE_NEWUSER != 0 ? try makeUserNamespace() : nil
        let owner = userNS ?? group.userNS
        let ipc = flags & CLONE_NEWIPC != 0 ? try kernel.makeIPCNamespace(owner: owner) : nil
        let net = flags & CLONE_NEWNET != 0 ? try NetworkNamespace.make(ino: kernel.allocateNamespaceIno(), owner: owner) : nil
        // Once per namespace the caller is in: a second unshare before moving is EINVAL.
        if flags & CLONE_NEWPID != 0 && group.pidNSForChildren !== group.pidNS { throw .EINVAL }
        let pidNS = flags & CLONE_NEWPID != 0 ? try kernel.makePIDNamespace(below: group.pidNS, owner: owner) : nil
        // A new mount namespace comes with its own root and cwd (CLONE_NEWNS implies CLONE_FS).
        let newFS = flags & CLONE_NEWNS != 0 ? try newMountNamespace(for: fs, owner: owner)
               : flags & CLONE_FS != 0 ? fs.copy() : nil
        if flags & CLONE_FILES != 0 && group.fdTable.users > 1 { unshareFiles() }
        if let newFS { replaceFS(with: newFS) }
        if let userNS { group.enterUserNamespace(userNS) }
        if flags & CLONE_NEWUTS != 0 { group.uts = group.uts.copy(ino: kernel.allocateNamespaceIno(), owner: owner) }
        // CLONE_NEWIPC implies CLONE_SYSVSEM: the undo list of the namespace left is applied.
        if let ipc { enterIPCNamespace(ipc) }
        if let pidNS { group.pidNSForChildren = pidNS }
        if let net { group.netNS = net }
        if flags & CLONE_NEWCGROUP != 0 {
            group.cgroupNS = CgroupNamespace(ino: kernel.allocateNamespaceIno())
            group.cgroupNS.owner = owner
        }
        // The caller stays in its time namespace; its children from now on go to the new one.
        if flags & CLONE_NEWTIME != 0 {
            group.timeNSForChildren = TimeNamespace(ino: kernel.allocateNamespaceIno())
            group.timeNSForChildren.owner = owner
        }
        return 0
    }

    /// `fs` in a copy of its mount namespace (CLONE_NEWNS): its root and cwd are the same
    /// places in the new namespace's mounts.
    func newMountNamespace(for fs: FSContext, owner: UserNamespace) throws(LinuxErrno) -> FSContext {
        // Linux's max_mnt_namespaces and fs.mount-max bound what copies cost (summed here).
        guard MountNamespace.live.load(ordering: .relaxed) < Kernel.maxMountNamespaces,
              MountNamespace.liveMounts.load(ordering: .relaxed) + fs.mounts.mounts.count <= Kernel.mountMax else { throw .ENOSPC }
        let (ns, map) = fs.mounts.copy(ino: kernel.allocateNamespaceIno(), owner: owner, nextID: { kernel.allocateMountID() })
        let copy = FSContext(root: fs.root.translated(map), cwd: fs.cwd.translated(map), mounts: ns)
        copy.umask = fs.umask
        return copy
    }

    /// clone3(2): struct clone_args of 64 (VER0), 80 (set_tid) or 88 bytes (cgroup); a
    /// larger one from a newer program is fine if what Joey does not know is zero.
    func sysClone3() throws(LinuxErrno) -> UInt64 {
        let size = a1
        guard size >= 64 else { throw .EINVAL }
        guard size <= 4096 else { throw .E2BIG }
        let raw = try mm.read(a0, count: Int(size))
        if raw.count > 88 && raw[88...].contains(where: { $0 != 0 }) { throw .E2BIG }
        let args = raw + [UInt8](repeating: 0, count: max(0, 88 - raw.count))
        func f(_ i: Int) -> UInt64 { args.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) } }
        let flags = f(0), exitSignal = f(4), stack = f(5), stackSize = f(6), tls = f(7)
        let setTIDs = f(8), setTIDCount = f(9)
        // 0x80 is CLONE_NEWTIME here (clone(2) has the exit signal there).
        guard flags & 0x7f == 0, exitSignal <= 64 else { throw .EINVAL }
        // A stack is an address and a size, or neither.
        guard (stack == 0) == (stackSize == 0) else { throw .EINVAL }
        // set_tid: the pid the child gets in its namespace, then in each one above it, as
        // far as it goes (at most one per level: allocateTask checks the child's level).
        guard (setTIDs == 0) == (setTIDCount == 0), setTIDCount <= UInt64(PIDNamespace.maxLevel) else { throw .EINVAL }
        var setTID: [Int32] = []
        for i in 0..<Int(setTIDCount) {
            let t: Int32 = try mm.readValue(setTIDs &+ UInt64(i * 4))
            guard t > 0, t < PIDNamespace.pidMax else { throw .EINVAL }
            setTID.append(t)
        }
        // CLONE_INTO_CGROUP: the sandbox has no cgroups to put a child in.
        if flags & 0x2_0000_0000 != 0 { throw .EINVAL }
        guard flags >> 32 == 0 else { throw .EINVAL }
        let top = stack != 0 ? stack &+ stackSize : 0
        return try sysClone(flags: flags & ~CLONE_NEWTIME | exitSignal, stack: top, parentTid: f(3), childTid: f(2), tls: tls,
                            pidfd: f(1), setTID: setTID, newTime: flags & CLONE_NEWTIME != 0)
    }

    func sysExecve(dirfd: Int32, pathArg addr: UInt64, argvArg: UInt64, envpArg: UInt64, flags: UInt64) throws(LinuxErrno) -> UInt64 {
        guard flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 else { throw .EINVAL }
        var path = try pathArg(addr)
        var argv = try mm.readStringArray(argvArg)
        let envp = try mm.readStringArray(envpArg)
        // No arguments at all: the program gets an empty argv[0] (Linux since 5.18), so
        // that argv[1] is never its first environment string.
        if argv.isEmpty { argv = [[]] }
        var given: (file: FileDescription, closeOnExec: Bool)?
        if path.isEmpty {
            guard flags & AT_EMPTY_PATH != 0 else { throw .ENOENT }
            // The fd's own file, not whatever its path names now (do_open_execat on its f_path).
            guard let entry = group.fdTable.entry(dirfd) else { throw .EBADF }
            given = (entry.file, entry.closeOnExec)
            path = ByteString("/dev/fd/\(dirfd)")
        } else if !path.isAbsolute && dirfd != AT_FDCWD {
            path = ByteString.join(try startLocation(dirfd, path).path, path)
        }
        if given == nil, flags & AT_SYMLINK_NOFOLLOW != 0, try lookup(AT_FDCWD, path, follow: false).inode.kind == .symlink { throw .ELOOP }
        try prepareExec(path: path, given: given, argv: argv, envp: envp)
        // Point of no return. Other threads die before the new image runs (de_thread).
        for t in group.threads where t !== self { t.killed = true; t.context?.kill(); t.interrupt() }
        while group.threads.count > 1 { sleepInSentry() }
        let formerTid = tracerView(of: tid)
        if tid != group.pid { becomeLeader() }
        // The one thread left: its own root and cwd, if it had them, are the process's now.
        if let own = ownFS { group.fs = own; ownFS = nil }
        // A table shared with another process is unshared first (unshare_files in execve).
        if group.fdTable.users > 1 { unshareFiles() }
        group.fdTable.closeOnExec()
        group.didExec = true
        if group.timeNS !== group.timeNSForChildren {
            group.timeNSForChildren.entered = true
            group.timeNS = group.timeNSForChildren
        }
        group.execCapabilities()
        for i in 1..<65 where group.actions[i].handler > 1 { group.actions[i] = SignalAction() }
        altStack = (0, 2, 0)
        group.timers.removeAll() // POSIX timers do not survive exec; ITIMER_REAL does
        // The thread and process keyrings do not either; the session keyring does.
        threadKeyring = nil
        group.processKeyring = nil
        clearChildTID = 0
        robustList = 0
        group.releaseVforkParent()
        ptraceExecStop(formerTid: formerTid)
        return 0
    }

    /// exit: this thread only; the last thread's exit ends the process with its status.
    func sysExit() throws(LinuxErrno) -> UInt64 {
        exitCode = Int32(a0 & 0xff) << 8
        threadExiting = true
        registersReplaced = true
        return 0
    }

    /// vhangup(2): with CAP_SYS_TTY_CONFIG, the caller's controlling terminal hangs up when
    /// it is a pseudo-terminal of the sandbox's (Pty.hangUp); without one it does nothing. The
    /// host terminal the sandbox was started on is the user's, not the guest's: left as it is.
    func sysVhangup() throws(LinuxErrno) -> UInt64 {
        guard group.capable(26 /* CAP_SYS_TTY_CONFIG */, in: .initial) else { throw .EPERM }
        kernel.controllingPty(of: group.sid)?.hangUp(kernel: kernel)
        return 0
    }

    /// reboot(2), as in a pid namespace below the host's (reboot_pid_ns): restart and power
    /// off end the caller's pid namespace, whose init dies of SIGHUP (restart) or SIGINT
    /// (halt, power off), the status a container engine sees, and everyone in it with it; the
    /// caller exits. The others (Ctrl-Alt-Del, kexec, suspend) are EINVAL, as in a container.
    func sysReboot() throws(LinuxErrno) -> UInt64 {
        guard group.capable(22 /* CAP_SYS_BOOT */, in: pidNS.owner) else { throw .EPERM }
        let magic1 = UInt32(truncatingIfNeeded: a0), magic2 = UInt32(truncatingIfNeeded: a1)
        guard magic1 == 0xfee1_dead, [0x2812_1969, 0x0512_1996, 0x1604_1998, 0x2011_2000].contains(magic2) else { throw .EINVAL }
        let reason: Int32
        switch UInt32(truncatingIfNeeded: a2) {
        case 0x0123_4567, 0xa1b2_c3d4: reason = Signal.SIGHUP // RESTART, RESTART2
        case 0x4321_fedc, 0xcdef_0123: reason = Signal.SIGINT // POWER_OFF, HALT
        case 0x89ab_cdef, 0: // CAD_ON, CAD_OFF: the sandbox's own pid namespace is the kernel's
            // first (there is no Ctrl-Alt-Del here to act on); a namespace below it has no such
            // switch (reboot_pid_ns: EINVAL).
            guard pidNS === kernel.rootPIDNamespace else { throw .EINVAL }
            kernel.ctrlAltDelReboots = UInt32(truncatingIfNeeded: a2) != 0
            return 0
        default: throw .EINVAL
        }
        guard let initGroup = pidNS.initGroup, !pidNS.dead else { throw .EINVAL }
        if initGroup.pendingExitStatus == nil { initGroup.pendingExitStatus = reason }
        initGroup.sendSignal(Signal.SIGKILL)
        threadExiting = true
        registersReplaced = true
        return 0
    }

    func sysExitGroup() throws(LinuxErrno) -> UInt64 {
        exitGroup(status: Int32(a0 & 0xff) << 8)
        registersReplaced = true
        return 0
    }

    // MARK: wait

    /// Which children a wait is for, by the sentry's numbers.
    private enum WaitSelector { case any, pid(Int32), pgid(Int32) }

    /// wait4's pid argument (> 0 a pid, 0 the caller's group, -1 any, < -1 a group) with its
    /// id turned from this process's pid namespace into the sentry's numbers; an id not seen
    /// here matches no one.
    private func waitSelector(_ pid: Int32) -> WaitSelector {
        let none = Int32.max // above pid_max: no process has it
        if pid == -1 { return .any }
        if pid == 0 { return .pgid(group.pgid) }
        if pid > 0 { return .pid(pidNS.global(pid) ?? none) }
        return .pgid(pid == Int32.min ? none : pidNS.global(-pid) ?? none)
    }

    private func matches(_ c: ThreadGroup, _ selector: WaitSelector, options: UInt64) -> Bool {
        switch selector {
        case .any: break
        case .pid(let p): if c.pid != p { return false }
        case .pgid(let p): if c.pgid != p { return false }
        }
        // __WALL/__WCLONE select by exit signal; default waits for SIGCHLD children only.
        if options & 0x4000_0000 != 0 { return true }
        let clone = c.exitSignal != Signal.SIGCHLD
        return options & 0x8000_0000 != 0 ? clone : !clone
    }

    func sysWait4() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0)
        let options = a2
        let known: UInt64 = 0xE000_000B // WNOHANG WUNTRACED WCONTINUED __WNOTHREAD __WALL __WCLONE
        guard options & ~known == 0 else { throw .EINVAL }
        if pid == Int32.min { throw .ESRCH }
        let selector = waitSelector(pid)
        while true {
            // Stops and exits of the threads this process traces come first.
            if let r = takePtraceReport(pid: pid) {
                if a1 != 0 { try mm.writeValue(a1, r.status) }
                if a3 != 0 { try mm.write(a3, [UInt8](repeating: 0, count: 144)) }
                return UInt64(r.tid)
            }
            let candidates = group.children.filter { matches($0, selector, options: options) }
            if candidates.isEmpty && !tracesAnything(pid: pid) { throw .ECHILD }
            if let z = candidates.first(where: { $0.waitable }) {
                if a1 != 0 { try mm.writeValue(a1, z.exitStatus!) }
                if a3 != 0 { try mm.write(a3, [UInt8](repeating: 0, count: 144)) }
                let zpid = vnr(z.pid)
                z.reap()
                return UInt64(zpid)
            }
            if options & 2 != 0, let s = candidates.first(where: { $0.stopReport != nil }) { // WUNTRACED
                if a1 != 0 { try mm.writeValue(a1, (s.stopReport! << 8) | 0x7f) }
                if a3 != 0 { try mm.write(a3, [UInt8](repeating: 0, count: 144)) }
                s.stopReport = nil
                return UInt64(vnr(s.pid))
            }
            if options & 8 != 0, let c = candidates.first(where: { $0.continueReport }) { // WCONTINUED
                if a1 != 0 { try mm.writeValue(a1, Int32(0xffff)) }
                if a3 != 0 { try mm.write(a3, [UInt8](repeating: 0, count: 144)) }
                c.continueReport = false
                return UInt64(vnr(c.pid))
            }
            if options & 1 != 0 { return 0 } // WNOHANG
            try block(on: group.childEvents, .readable)
        }
    }

    func sysWaitid() throws(LinuxErrno) -> UInt64 {
        let idtype = a0, id = Int32(truncatingIfNeeded: a1), options = a3
        let known: UInt64 = 0xE100_000F // WNOHANG WUNTRACED WEXITED WCONTINUED WNOWAIT __WNOTHREAD __WALL __WCLONE
        guard options & ~known == 0, options & 0xe != 0 else { throw .EINVAL }
        let selector: WaitSelector
        var nonblockingPidfd = false
        switch idtype {
        case 0: selector = .any // P_ALL
        case 1: guard id > 0 else { throw .EINVAL }; selector = waitSelector(id)  // P_PID
        case 2: guard id >= 0 else { throw .EINVAL }; selector = id == 0 ? .pgid(group.pgid) : .pgid(pidNS.global(id) ?? Int32.max) // P_PGID
        case 3: // P_PIDFD
            guard let d = try group.fdTable.get(id) as? PidFDDescription else { throw .EBADF }
            selector = .pid(d.target.pid)
            nonblockingPidfd = d.flags & O_NONBLOCK != 0
        default: throw .EINVAL
        }
        while true {
            let candidates = group.children.filter { matches($0, selector, options: options) }
            if candidates.isEmpty { throw .ECHILD }
            // WSTOPPED (2) and WCONTINUED (8) events, reported through siginfo.
            let stoppedChild = options & 2 != 0 ? candidates.first(where: { $0.stopReport != nil }) : nil
            let continuedChild = options & 8 != 0 ? candidates.first(where: { $0.continueReport }) : nil
            if options & 4 == 0 || !candidates.contains(where: { $0.waitable }), let c = stoppedChild ?? continuedChild {
                var info = [UInt8](repeating: 0, count: 128)
                let stoppedEvent = c === stoppedChild
                info.withUnsafeMutableBytes { p in
                    p.storeBytes(of: Signal.SIGCHLD, toByteOffset: 0, as: Int32.self)
                    p.storeBytes(of: Int32(stoppedEvent ? 5 : 6), toByteOffset: 8, as: Int32.self)
                    p.storeBytes(of: vnr(c.pid), toByteOffset: 16, as: Int32.self)
                    p.storeBytes(of: group.userNS.shownUID(c.uid), toByteOffset: 20, as: UInt32.self)
                    p.storeBytes(of: stoppedEvent ? c.stopReport! : Signal.SIGCONT, toByteOffset: 24, as: Int32.self)
                }
                if a2 != 0 { try mm.write(a2, info) }
                if options & 0x0100_0000 == 0 { if stoppedEvent { c.stopReport = nil } else { c.continueReport = false } }
                return 0
            }
            if options & 4 != 0, let z = candidates.first(where: { $0.waitable }) {
                let st = z.exitStatus!
                var info = [UInt8](repeating: 0, count: 128)
                let exited = st & 0x7f == 0
                info.withUnsafeMutableBytes { p in
                    p.storeBytes(of: Signal.SIGCHLD, toByteOffset: 0, as: Int32.self)
                    p.storeBytes(of: Int32(exited ? 1 : (st & 0x80 != 0 ? 3 : 2)), toByteOffset: 8, as: Int32.self)
                    p.storeBytes(of: vnr(z.pid), toByteOffset: 16, as: Int32.self)
                    p.storeBytes(of: z.uid, toByteOffset: 20, as: UInt32.self)
                    p.storeBytes(of: exited ? (st >> 8) & 0xff : st & 0x7f, toByteOffset: 24, as: Int32.self)
                }
                if a2 != 0 { try mm.write(a2, info) }
                if options & 0x0100_0000 == 0 { z.reap() } // WNOWAIT keeps it
                return 0
            }
            // A PIDFD_NONBLOCK pidfd does not wait: EAGAIN, unless WNOHANG asked for a 0.
            if nonblockingPidfd && options & 1 == 0 { throw .EAGAIN }
            if options & 1 != 0 {
                if a2 != 0 { try mm.write(a2, [UInt8](repeating: 0, count: 128)) }
                return 0
            }
            try block(on: group.childEvents, .readable)
        }
    }

    // MARK: signals to others

    func sysKill() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0), sig = Int32(truncatingIfNeeded: a1)
        guard sig >= 0 && sig < 65 else { throw .EINVAL }
        let targets: [ThreadGroup]
        if pid > 0 {
            guard let g = process(pid) else { throw .ESRCH }
            targets = g.exitStatus == nil ? [g] : [] // a zombie exists but takes no signals
        } else if pid == -1 {
            // Every process this one sees but itself and its namespace's init.
            targets = kernel.threadGroups.values.filter { $0 !== group && $0.exitStatus == nil && sees($0) && vnr($0.pid) != 1 }
            if targets.isEmpty { throw .ESRCH }
        } else {
            if pid == Int32.min { throw .ESRCH }
            guard let pg = pid == 0 ? group.pgid : globalPgid(-pid) else { throw .ESRCH }
            // A group of zombies still exists (kill succeeds, as Linux's): none takes the signal.
            let members = kernel.threadGroups.values.filter { $0.pgid == pg && sees($0) }
            if members.isEmpty { throw .ESRCH }
            targets = members.filter { $0.exitStatus == nil }
        }
        // Only those it may signal: EPERM when that leaves none, as Linux's kill_pid_info
        // and __kill_pgrp_info report (kill(-1) reports no EPERM).
        let permitted = targets.filter { maySignal($0, sig) }
        if permitted.isEmpty && !targets.isEmpty && pid != -1 { throw .EPERM }
        if sig == 0 { return 0 }
        // A namespace's init (the sandbox's too) gets only signals it handles or blocks.
        for t in permitted {
            guard signalReaches(t, sig) else { t.prepareSignal(sig); continue }
            t.sendSignal(sig, info: SignalInfo(signo: sig, code: 0, pid: t.pidNS.local(group.pid), uid: group.uid))
        }
        return 0
    }

    func sysTkill(tgid: UInt64?, tid: UInt64, sig: UInt64) throws(LinuxErrno) -> UInt64 {
        let id = Int32(truncatingIfNeeded: tid), s = Int32(truncatingIfNeeded: sig)
        guard id > 0, s >= 0, s < 65 else { throw .EINVAL }
        if let tgid { guard Int32(truncatingIfNeeded: tgid) > 0 else { throw .EINVAL } }
        guard let t = thread(id), tgid == nil || vnr(t.group.pid) == Int32(truncatingIfNeeded: tgid!) else { throw .ESRCH }
        guard maySignal(t.group, s, thread: t) else { throw .EPERM }
        if s == 0 { return 0 }
        guard signalReaches(t.group, s) else { return 0 }
        t.group.prepareSignal(s)
        if t.group.discards(s, thread: t) { return 0 }
        try checkSignalQueueRoom(s, code: -6, target: t.group)
        enqueueSignal(s, SignalInfo(signo: s, code: -6 /* SI_TKILL */, pid: t.pidNS.local(group.pid), uid: group.uid),
                      mask: &t.pending, queues: &t.pendingInfo)
        t.interrupt()
        return 0
    }

    /// personality: 0xffffffff asks; anything else is stored (Linux checks no value). The
    /// flags change nothing else in the sandbox (ADDR_NO_RANDOMIZE included: the sentry's
    /// layout of a new program does not depend on it).
    func sysPersonality() throws(LinuxErrno) -> UInt64 {
        let old = group.personality
        let v = UInt32(truncatingIfNeeded: a0)
        if v != 0xffff_ffff { group.personality = v }
        return UInt64(old)
    }

    /// kcmp: whether two processes share a kernel object (0 equal, 1 or 2 ordered unequal).
    /// KCMP_EPOLL_TFD is not offered (EINVAL).
    func sysKcmp() throws(LinuxErrno) -> UInt64 {
        guard let t1 = thread(Int32(truncatingIfNeeded: a0)), let t2 = thread(Int32(truncatingIfNeeded: a1)) else { throw .ESRCH }
        // ptrace_may_access (PTRACE_MODE_READ_REALCREDS) on each.
        for t in [t1, t2] where t.group !== group && !mayAttach(t.group) { throw .EPERM }
        // Linux compares the kernel's pointers; an object a task never made (no I/O context,
        // no semaphore undo list) is a null pointer, equal to another's.
        let o1: AnyObject?, o2: AnyObject?
        func undoList(_ t: GuestThread) -> AnyObject? {
            t.group.ipc.semaphores.undo[t.group.pid] != nil ? t.group : nil
        }
        switch a2 {
        case 0: // KCMP_FILE
            o1 = try t1.group.fdTable.getRaw(Int32(truncatingIfNeeded: a3))
            o2 = try t2.group.fdTable.getRaw(Int32(truncatingIfNeeded: a4))
        case 1: o1 = t1.mm; o2 = t2.mm                       // KCMP_VM
        case 2: o1 = t1.group.fdTable; o2 = t2.group.fdTable // KCMP_FILES
        case 3: o1 = t1.fs; o2 = t2.fs                       // KCMP_FS
        case 4: o1 = t1.group; o2 = t2.group                 // KCMP_SIGHAND: per process here
        case 5: o1 = t1.group.ioContext; o2 = t2.group.ioContext // KCMP_IO
        case 6: o1 = undoList(t1); o2 = undoList(t2)         // KCMP_SYSVSEM: per process here
        default: throw .EINVAL
        }
        if o1 === o2 { return 0 }
        // An order that is stable for the sandbox's life and says nothing of sentry addresses.
        func rank(_ o: AnyObject?) -> UInt { o.map { UInt(bitPattern: ObjectIdentifier($0).hashValue) } ?? 0 }
        return rank(o1) < rank(o2) ? 1 : 2
    }

    // MARK: identity

    func sysUname() throws(LinuxErrno) -> UInt64 {
        var b = [UInt8](repeating: 0, count: 390)
        let fields = ["Linux", group.uts.hostname, Kernel.release, Kernel.version, "x86_64", group.uts.domainname]
        for (i, f) in fields.enumerated() {
            for (j, c) in f.utf8.prefix(64).enumerated() { b[i * 65 + j] = c }
        }
        try mm.write(a0, b)
        return 0
    }

    func sysSethostname() throws(LinuxErrno) -> UInt64 {
        guard a1 <= 64 else { throw .EINVAL }
        guard group.capable(21 /* CAP_SYS_ADMIN */, in: group.uts.owner) else { throw .EPERM }
        group.uts.hostname = String(decoding: try mm.read(a0, count: Int(a1)), as: UTF8.self)
        return 0
    }

    func sysSetdomainname() throws(LinuxErrno) -> UInt64 {
        guard a1 <= 64 else { throw .EINVAL }
        guard group.capable(21 /* CAP_SYS_ADMIN */, in: group.uts.owner) else { throw .EPERM }
        group.uts.domainname = String(decoding: try mm.read(a0, count: Int(a1)), as: UTF8.self)
        return 0
    }

    func sysSetid(_ nr: Int) throws(LinuxErrno) -> UInt64 {
        let oldUID = group.uid, oldEUID = group.euid, oldSUID = group.suid, oldFSUID = group.fsuid
        let old = group.dumpRelevantCredentials
        defer {
            if nr == 105 || nr == 113 || nr == 117 {
                group.adjustCapabilities(oldUID: oldUID, oldEUID: oldEUID, oldSUID: oldSUID, oldFSUID: oldFSUID)
            }
            group.credentialsChanged(from: old)
        }
        let isUID = nr == 105 || nr == 113 || nr == 117
        let root = group.capable(isUID ? Capabilities.setuid : Capabilities.setgid)
        // -1 (leave as is, for the re/res calls) is nil; an id the user namespace has no
        // number for is EINVAL.
        func id(_ v: UInt64) throws(LinuxErrno) -> UInt32? {
            let x = UInt32(truncatingIfNeeded: v)
            guard x != UInt32.max else { return nil }
            guard let k = isUID ? group.userNS.kuid(x) : group.userNS.kgid(x) else { throw .EINVAL }
            return k
        }
        switch nr {
        case 105: // setuid
            guard let u = try id(a0) else { throw .EINVAL }
            if root { group.uid = u; group.euid = u; group.suid = u }
            else if u == group.uid || u == group.suid { group.euid = u } else { throw .EPERM }
            group.fsuid = group.euid
        case 106: // setgid
            guard let g = try id(a0) else { throw .EINVAL }
            if root { group.gid = g; group.egid = g; group.sgid = g }
            else if g == group.gid || g == group.sgid { group.egid = g } else { throw .EPERM }
            group.fsgid = group.egid
        case 113, 117: // setreuid, setresuid
            let r = try id(a0), e = try id(a1), s = nr == 117 ? try id(a2) : nil
            let allowed = [group.uid, group.euid, group.suid]
            if !root { for v in [r, e, s].compactMap({ $0 }) where !allowed.contains(v) { throw .EPERM } }
            if let r { group.uid = r }
            if let e { group.euid = e }
            if let s { group.suid = s }
            // setreuid: the saved id follows the new effective id when the real id is set or
            // the effective id changes to something other than the old real id.
            if nr == 113, r != nil || (e != nil && e! != oldUID) { group.suid = group.euid }
            group.fsuid = group.euid
        case 114, 119: // setregid, setresgid
            let r = try id(a0), e = try id(a1), s = nr == 119 ? try id(a2) : nil
            let allowed = [group.gid, group.egid, group.sgid]
            if !root { for v in [r, e, s].compactMap({ $0 }) where !allowed.contains(v) { throw .EPERM } }
            let oldGID = group.gid
            if let r { group.gid = r }
            if let e { group.egid = e }
            if let s { group.sgid = s }
            if nr == 114, r != nil || (e != nil && e! != oldGID) { group.sgid = group.egid }
            group.fsgid = group.egid
        default: throw .ENOSYS
        }
        return 0
    }

    func sysGetres(uid: Bool) throws(LinuxErrno) -> UInt64 {
        let ns = group.userNS
        let v = uid ? [group.uid, group.euid, group.suid].map(ns.shownUID) : [group.gid, group.egid, group.sgid].map(ns.shownGID)
        try mm.writeValue(a0, v[0]); try mm.writeValue(a1, v[1]); try mm.writeValue(a2, v[2])
        return 0
    }

    func sysGetgroups() throws(LinuxErrno) -> UInt64 {
        let n = Int32(truncatingIfNeeded: a0)
        guard n >= 0 else { throw .EINVAL }
        if n == 0 { return UInt64(group.groups.count) }
        guard Int(n) >= group.groups.count else { throw .EINVAL }
        for (i, g) in group.groups.enumerated() { try mm.writeValue(a1 &+ UInt64(i * 4), group.userNS.shownGID(g)) }
        return UInt64(group.groups.count)
    }

    /// In a user namespace only once its gid map is written and unless setgroups is denied
    /// there (may_setgroups).
    func sysSetgroups() throws(LinuxErrno) -> UInt64 {
        let ns = group.userNS
        guard group.capable(Capabilities.setgid), ns.gidMap != nil, ns.setgroupsAllowed else { throw .EPERM }
        guard a0 <= 65536 else { throw .EINVAL }
        var gs: [UInt32] = []
        for i in 0..<Int(a0) {
            guard let k = ns.kgid(try mm.readValue(a1 &+ UInt64(i * 4))) else { throw .EINVAL }
            gs.append(k)
        }
        group.groups = gs
        return 0
    }

    func sysSetpgid() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0), pg = Int32(truncatingIfNeeded: a1)
        guard pg >= 0 else { throw .EINVAL }
        let target: ThreadGroup
        if pid == 0 || pid == vnr(group.pid) { target = group }
        else {
            guard let t = threadGroup(pid), t.parent === group else { throw .ESRCH }
            target = t
        }
        if target.sid != group.sid { throw .EPERM }
        if target !== group && target.didExec { throw .EACCES } // a child that has execve'd
        if target.sid == target.pid { throw .EPERM }
        guard let newPg = pg == 0 ? target.pid : globalPgid(pg) else { throw .EPERM }
        if newPg != target.pid && !kernel.threadGroups.values.contains(where: { $0.pgid == newPg && $0.sid == group.sid }) {
            throw .EPERM
        }
        target.pgid = newPg
        kernel.releaseUnusedHeldPids()
        return 0
    }

    func sysGetpgid() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0)
        if pid == 0 { return UInt64(vnr(group.pgid)) }
        guard let g = threadGroup(pid) else { throw .ESRCH }
        return UInt64(vnr(g.pgid))
    }

    func sysGetsid() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0)
        if pid == 0 { return UInt64(vnr(group.sid)) }
        guard let g = threadGroup(pid) else { throw .ESRCH }
        return UInt64(vnr(g.sid))
    }

    func sysSetsid() throws(LinuxErrno) -> UInt64 {
        if kernel.threadGroups.values.contains(where: { $0.pgid == group.pid }) && group.pgid == group.pid { throw .EPERM }
        if kernel.threadGroups.values.contains(where: { $0.pgid == group.pid && $0 !== group }) { throw .EPERM }
        group.sid = group.pid
        group.pgid = group.pid
        kernel.releaseUnusedHeldPids()
        return UInt64(vnr(group.pid))
    }

    func sysPrctl() throws(LinuxErrno) -> UInt64 {
        switch a0 {
        case 15: // PR_SET_NAME
            let name = try mm.readCString(a1, max: 1 << 20)
            group.comm = String(decoding: name.prefix(15), as: UTF8.self)
            return 0
        case 16: // PR_GET_NAME
            var b = Array(group.comm.utf8.prefix(15))
            b += [UInt8](repeating: 0, count: 16 - b.count)
            try mm.write(a1, b)
            return 0
        case 38: // PR_SET_NO_NEW_PRIVS
            guard a1 == 1, a2 == 0, a3 == 0, a4 == 0 else { throw .EINVAL }
            group.noNewPrivs = true
            return 0
        case 39: // PR_GET_NO_NEW_PRIVS
            guard a1 == 0, a2 == 0, a3 == 0, a4 == 0 else { throw .EINVAL }
            return group.noNewPrivs ? 1 : 0
        case 29: // PR_SET_TIMERSLACK: 0 restores the default
            timerSlack = a1 == 0 ? defaultTimerSlack : a1
            return 0
        case 30: return timerSlack // PR_GET_TIMERSLACK
        case 41: // PR_SET_THP_DISABLE
            guard a2 == 0, a3 == 0, a4 == 0 else { throw .EINVAL }
            group.transparentHugePagesDisabled = a1 != 0
            return 0
        case 42: // PR_GET_THP_DISABLE
            guard a1 == 0, a2 == 0, a3 == 0, a4 == 0 else { throw .EINVAL }
            return group.transparentHugePagesDisabled ? 1 : 0
        case 13: return 0 // PR_GET_TIMING: PR_TIMING_STATISTICAL, the only kind there is
        case 14: guard a1 == 0 else { throw .EINVAL }; return 0 // PR_SET_TIMING
        case 31, 32: return 0 // PR_TASK_PERF_EVENTS_DISABLE/ENABLE: there are no perf events
        case 3: return UInt64(group.dumpMode) // PR_GET_DUMPABLE
        case 4: // PR_SET_DUMPABLE
            guard a1 <= 1 else { throw .EINVAL }
            group.dumpMode = Int(a1)
            return 0
        case 36: // PR_SET_CHILD_SUBREAPER
            group.childSubreaper = a1 != 0
            return 0
        case 37: // PR_GET_CHILD_SUBREAPER
            try mm.writeValue(a1, Int32(group.childSubreaper ? 1 : 0))
            return 0
        case 1: // PR_SET_PDEATHSIG
            guard a1 <= 64 else { throw .EINVAL }
            group.parentDeathSignal = Int32(a1)
            return 0
        case 2: // PR_GET_PDEATHSIG
            try mm.writeValue(a1, group.parentDeathSignal)
            return 0
        case 7, 8, 23, 24, 27, 28, 47:
            return try capabilityPrctl(a0)
        case 21: return UInt64(seccompMode) // PR_GET_SECCOMP
        case 22: // PR_SET_SECCOMP: seccomp(2)'s strict or filter mode
            switch a1 {
            case 1: return try seccompSetStrict(flags: 0, arguments: 0)
            case 2: return try seccompSetFilter(flags: 0, program: a2)
            default: throw .EINVAL
            }
        default:
            throw .EINVAL
        }
    }

    func sysArchPrctl() throws(LinuxErrno) -> UInt64 {
        switch a0 {
        case 0x1002: // ARCH_SET_FS
            guard a1 < 0x8000_0000_0000 else { throw .EPERM }
            regs.fs_base = a1
            return 0
        case 0x1001: // ARCH_SET_GS
            guard a1 < 0x8000_0000_0000 else { throw .EPERM }
            regs.gs_base = a1
            return 0
        case 0x1003: try mm.writeValue(a1, regs.fs_base); return 0 // ARCH_GET_FS
        case 0x1004: try mm.writeValue(a1, regs.gs_base); return 0 // ARCH_GET_GS
        case 0x1011: return 1 // ARCH_GET_CPUID: cpuid is enabled (it does not fault)
        case 0x1012: throw .ENODEV // ARCH_SET_CPUID: faulting cpuid is not offered
        default: throw .EINVAL
        }
    }
}
