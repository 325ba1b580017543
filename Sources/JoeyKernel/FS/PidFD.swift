// pidfd: a descriptor for a process (pidfd_open(2)). It polls readable once the process has
// exited, signals it (pidfd_send_signal), copies its descriptors (pidfd_getfd) and names it
// to waitid(P_PIDFD). It refers to the process itself, so a reused pid is never confused.
// All pidfds of a process share one inode of pidfs (Linux 6.9 on): its inode number names the
// process for as long as the sandbox runs (systemd compares pidfds by it), and reopening one
// through /proc/PID/fd gives another pidfd.
import Glibc
import JoeyABI

/// A process's inode on pidfs (ThreadGroup.pidfdInode).
final class PidFSInode: Inode {
    private weak var group: ThreadGroup?
    init(group: ThreadGroup, kernel: Kernel) {
        self.group = group
        super.init(kind: .anonymous, mode: 0o700, fs: kernel.pidFS)
    }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        guard let group else { throw .ESRCH }
        return PidFDDescription(kernel: kernel, target: group, openFlags: flags)
    }
}

final class PidFDDescription: FileDescription {
    let target: ThreadGroup

    /// `flags`: pidfd_open's (O_NONBLOCK); the description is O_RDWR.
    convenience init(kernel: Kernel, target: ThreadGroup, flags: Int32) {
        self.init(kernel: kernel, target: target, openFlags: O_RDWR | flags)
    }

    init(kernel: Kernel, target: ThreadGroup, openFlags: Int32) {
        self.target = target
        super.init(inode: target.pidfdInode(kernel), flags: openFlags)
        path = "anon_inode:[pidfd]"
    }

    /// pidfd_show_fdinfo: the pid as the reader's procfs numbers it (0 outside its
    /// namespace, -1 once reaped), then in each namespace below down to the process's own.
    override func fdinfoLines(seenIn ns: PIDNamespace) -> String {
        guard !target.reaped else { return "Pid:\t-1\nNSpid:\t-1\n" }
        let nr = ns.local(target.pid)
        let nested = nr > 0 ? target.pidNS.levels(from: ns).map { String($0.local(target.pid)) }.joined(separator: "\t") : "\(nr)"
        return "Pid:\t\(nr)\nNSpid:\t\(nested)\n"
    }

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int { throw .EINVAL }
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int { throw .EINVAL }
    // A pidfs file has positions (FMODE_PREAD) but nothing to read or write at one.
    override func pread(_ t: GuestThread, _ dst: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int { throw .EINVAL }
    override func pwrite(_ t: GuestThread, _ src: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int { throw .EINVAL }
    override func eventQueue() -> WaitQueue? { target.exitQueue }
    override func readiness(_ mask: EventMask) -> EventMask {
        target.waitable ? mask.intersection(EventMask.input) : []
    }

    /// PIDFD_GET_INFO (_IOWR(0xFF, 11, struct pidfd_info), 64 bytes or more): the process's
    /// pid, thread group id and parent's as the caller's pid namespace numbers them and its
    /// ids as the caller's user namespace does (PIDFD_INFO_PID and _CREDS, always), and once
    /// it has been reaped, when asked (PIDFD_INFO_EXIT), its wait status and nothing else. Only
    /// for a process of the caller's pid namespace or one below it (ESRCH). No cgroup id:
    /// the sandbox has no cgroups.
    override func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        let size = Int((request >> 16) & 0x3fff)
        guard request >> 32 == 0, request >> 30 == 3 /* _IOC_READ|_IOC_WRITE */, request & 0xffff == 0xff0b else { throw .ENOTTY }
        guard argument != 0 else { throw .EINVAL }
        guard size >= 64 else { throw .ENOTTY }
        let asked: UInt64 = try t.mm.readValue(argument)
        guard t.group.pidNS.isAncestor(of: target.pidNS) else { throw .ESRCH }
        var mask: UInt64 = 0
        var exitCode: Int32 = 0
        if asked & 8 != 0, target.reaped, let status = target.exitStatus {
            mask |= 8
            exitCode = status
        }
        var ids = [UInt32](repeating: 0, count: 11) // pid, tgid, ppid, then the uids and gids
        if !target.reaped {
            let ns = t.group.userNS, g = target
            ids[3...] = [ns.shownUID(g.uid), ns.shownGID(g.gid), ns.shownUID(g.euid), ns.shownGID(g.egid),
                         ns.shownUID(g.suid), ns.shownGID(g.sgid), ns.shownUID(g.fsuid), ns.shownGID(g.fsgid)]
            let pid = UInt32(bitPattern: t.vnr(g.pid))
            guard pid != 0 else { throw .ESRCH }
            ids[0] = pid; ids[1] = pid
            ids[2] = UInt32(bitPattern: g.parent.map { t.vnr($0.pid) } ?? 0)
            mask |= 3
        } else if mask == 0 {
            throw .ESRCH
        }
        // struct pidfd_info (72 bytes); a larger one's tail is zeroed, a smaller one gets
        // what fits (copy_struct_to_user).
        var out = [UInt8](repeating: 0, count: max(size, 72))
        out.withUnsafeMutableBytes { p in
            p.storeBytes(of: mask, toByteOffset: 0, as: UInt64.self)
            for (i, v) in ids.enumerated() { p.storeBytes(of: v, toByteOffset: 16 + 4 * i, as: UInt32.self) }
            p.storeBytes(of: exitCode, toByteOffset: 60, as: Int32.self)
        }
        try t.mm.write(argument, Array(out.prefix(size)))
        return 0
    }
}

extension GuestThread {
    func sysPidfdOpen() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0)
        guard a1 & ~UInt64(O_NONBLOCK) == 0, pid > 0 else { throw .EINVAL }
        guard let g = threadGroup(pid) else {
            // A thread that is not its process's leader needs PIDFD_THREAD (not offered).
            throw thread(pid) != nil ? .ENOENT : .ESRCH
        }
        let d = PidFDDescription(kernel: kernel, target: g, flags: Int32(truncatingIfNeeded: a1))
        return UInt64(try group.fdTable.install(d, closeOnExec: true))
    }

    private func pidfdArg(_ fd: Int32) throws(LinuxErrno) -> ThreadGroup {
        guard let d = try group.fdTable.get(fd) as? PidFDDescription else { throw .EBADF }
        return d.target
    }

    /// pidfd_send_signal, in Linux's order: the flags, the fd, the caller's view of the
    /// process, the siginfo; then, as kill_pid_info: a reaped process (ESRCH), the signal
    /// number, the permission (maySignal). A zombie still exists: it takes the signal and
    /// drops it.
    func sysPidfdSendSignal() throws(LinuxErrno) -> UInt64 {
        guard a3 == 0 else { throw .EINVAL }
        let target: ThreadGroup
        let f = try group.fdTable.get(fdArg(a0))
        if let d = f as? PidFDDescription {
            target = d.target
        } else if let dir = f.inode as? DynamicDirectory, dir.fs.name == "proc", let loc = f.location,
                  (loc.parent?.inode as? DynamicDirectory)?.pidNamespace != nil, let pid = Int32(loc.name.description), pid > 0 {
            // A /proc/PID directory fd names its process too (the older pidfd): the one it
            // showed when opened, gone (ESRCH) even if its number was given out again.
            guard let g = dir.process else { throw .ESRCH }
            target = g
        } else {
            throw .EBADF
        }
        // A process outside the caller's pid namespace is not its to signal (a pidfd can be
        // inherited or passed across). Asked of the namespace the process lived in, as Linux
        // asks of its struct pid, which outlives it: a reaped process is ESRCH, below.
        guard pidNS.isAncestor(of: target.pidNS) else { throw .EINVAL }
        let sig = Int32(truncatingIfNeeded: a1)
        var info = SignalInfo(signo: sig, code: 0, pid: target.pidNS.local(group.pid), uid: group.uid)
        if a2 != 0 {
            let b = try mm.read(a2, count: 128)
            let (signo, code) = b.withUnsafeBytes { ($0.loadUnaligned(as: Int32.self), $0.loadUnaligned(fromByteOffset: 8, as: Int32.self)) }
            guard signo == sig else { throw .EINVAL }
            // Only the kernel may claim SI_USER or a positive code for another process.
            guard target === group || (code < 0 && code != -6 /* SI_TKILL */) else { throw .EPERM }
            info.code = code
            info.value = b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 24, as: UInt64.self) }
        }
        guard !target.reaped else { throw .ESRCH }
        guard sig >= 0, sig < 65 else { throw .EINVAL }
        guard maySignal(target, sig) else { throw .EPERM }
        if sig == 0 || target.exitStatus != nil { return 0 }
        guard signalReaches(target, sig) else { target.prepareSignal(sig); return 0 }
        target.sendSignal(sig, info: info)
        return 0
    }

    func sysPidfdGetfd() throws(LinuxErrno) -> UInt64 {
        let target = try pidfdArg(fdArg(a0))
        guard a2 == 0 else { throw .EINVAL }
        guard target.exitStatus == nil else { throw .ESRCH }
        // PTRACE_MODE_ATTACH_REALCREDS, as ptrace's attach (a process may always reach itself).
        guard target === group || mayAttach(target) else { throw .EPERM }
        let f = try target.fdTable.getRaw(fdArg(a1))
        return UInt64(try group.fdTable.install(f, closeOnExec: true))
    }
}
