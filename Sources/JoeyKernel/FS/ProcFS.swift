// procfs: generated from the sentry's own state (never the host's /proc, except cpuinfo's
// CPU description). Files are generated when opened.
import CJoey
import Glibc
import JoeyABI
import JoeyPlatform

/// A directory whose entries are computed on each lookup or listing.
final class DynamicDirectory: Inode {
    let list: () -> [(String, FileKind)]
    let find: (String) throws(LinuxErrno) -> Inode
    /// For a procfs root: the pid namespace its numbers are in (the mounter's).
    let pidNamespace: PIDNamespace?
    /// For /proc/PID: the process it shows (an fd of it names that process to
    /// pidfd_send_signal, never a later one given the same number).
    weak var process: ThreadGroup?
    init(fs: FileSystemID, ino: UInt64? = nil, mode: UInt32 = 0o555, pidNamespace: PIDNamespace? = nil,
         list: @escaping () -> [(String, FileKind)], find: @escaping (String) throws(LinuxErrno) -> Inode) {
        self.list = list
        self.find = find
        self.pidNamespace = pidNamespace
        super.init(kind: .directory, mode: mode, fs: fs, ino: ino)
        nlink = 2
    }
    override func lookup(_ name: ByteString) throws(LinuxErrno) -> Inode { try find(name.description) }
    override func entries() throws(LinuxErrno) -> [DirEntry] {
        list().map { DirEntry(name: ByteString($0.0), ino: 0x1000 + UInt64(abs($0.0.hashValue % 100_000)), kind: $0.1) }
    }
    override func create(_ name: ByteString, kind: FileKind, mode: UInt32, uid: UInt32, gid: UInt32,
                         target: ByteString? = nil, rdev: UInt64 = 0) throws(LinuxErrno) -> Inode { throw .EACCES }
    override func insert(_ name: ByteString, _ inode: Inode) throws(LinuxErrno) { throw .EACCES }
    override func remove(_ name: ByteString) throws(LinuxErrno) { throw .EACCES }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        DirectoryDescription(inode: self, flags: flags)
    }
}

/// A read-only file whose content is generated at open.
final class GeneratedFile: Inode {
    let generate: () throws(LinuxErrno) -> [UInt8]
    /// The process whose memory it shows (environ, auxv): opening it needs what ptrace
    /// would (mm_access), its owner's mode bits not being enough.
    weak var inspected: ThreadGroup?
    init(fs: FileSystemID, mode: UInt32 = 0o444, inspecting: ThreadGroup? = nil, _ generate: @escaping () throws(LinuxErrno) -> [UInt8]) {
        self.generate = generate
        inspected = inspecting
        super.init(kind: .regular, mode: mode, fs: fs)
    }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        if flags & O_ACCMODE != O_RDONLY { throw .EACCES }
        if let g = inspected, let t = kernel.current, t.group !== g, !t.mayAttach(g) { throw .EACCES }
        return GeneratedFileDescription(inode: self, flags: flags, content: try generate())
    }
}

/// /proc/pid/mounts and mountinfo: the process's mount table, read again from the start
/// after a seek there (a seq_file is generated as it is read), and pollable: POLLPRI|POLLERR
/// once after the table changed (mount, umount, move, remount), as findmnt --poll and
/// systemd wait for; always readable.
final class MountTableFile: Inode {
    let group: ThreadGroup
    let generate: (MountNamespace) -> String
    init(fs: FileSystemID, group: ThreadGroup, _ generate: @escaping (MountNamespace) -> String) {
        self.group = group
        self.generate = generate
        super.init(kind: .regular, mode: 0o444, fs: fs)
    }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        if flags & O_ACCMODE != O_RDONLY { throw .EACCES }
        return MountTableDescription(inode: self, flags: flags, namespace: group.fs.mounts, generate: generate)
    }
}

final class MountTableDescription: GeneratedFileDescription {
    let namespace: MountNamespace
    let generate: (MountNamespace) -> String
    /// The namespace's event last reported (or when opened).
    private var seen: UInt64

    init(inode: Inode, flags: Int32, namespace: MountNamespace, generate: @escaping (MountNamespace) -> String) {
        self.namespace = namespace
        self.generate = generate
        seen = namespace.event
        super.init(inode: inode, flags: flags, content: Array(generate(namespace).utf8))
    }

    override func eventQueue() -> WaitQueue? { namespace.changes }

    /// mounts_poll: readable always; a change since the last report is reported once.
    override func readiness(_ mask: EventMask) -> EventMask {
        var r = EventMask.input
        if namespace.event != seen {
            seen = namespace.event
            r.formUnion([.priority, .error])
        }
        return r.intersection(mask.union(EventMask.alwaysReported))
    }

    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 {
        let at = try super.seek(off, whence: whence)
        if at == 0 { content = Array(generate(namespace).utf8) }
        return at
    }
}

/// /proc/pid/comm: reads the name, and a write sets it (truncated to 15 bytes).
/// A /proc/PID file that a write may change (comm, coredump_filter, uid_map, gid_map,
/// setgroups, timens_offsets): the process it is about; its subclass says what an open reads
/// and what a write does.
class ProcessFile: Inode {
    let group: ThreadGroup
    init(group: ThreadGroup, fs: FileSystemID) {
        self.group = group
        super.init(kind: .regular, mode: 0o644, fs: fs)
    }
}

final class CommFile: ProcessFile {
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        CommDescription(inode: self, flags: flags, content: Array((group.comm + "\n").utf8))
    }
}

final class CommDescription: GeneratedFileDescription {
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        let g = (inode as! CommFile).group
        guard g === t.group else { throw .EINVAL }
        let total = src.count
        var name = [UInt8](repeating: 0, count: min(total, 15))
        let got = try name.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in try src.copyIn(p) }
        name.removeLast(name.count - got)
        src.skip(total)
        if let nl = name.firstIndex(of: 0x0a) { name.removeSubrange(nl...) }
        g.comm = String(decoding: name, as: UTF8.self)
        return total
    }
}

/// /proc/PID/coredump_filter: the filter as eight hex digits; a write (a number, hex with
/// 0x, octal with 0, else decimal, as kstrtouint reads it) sets its nine bits.
final class CoredumpFilterFile: ProcessFile {
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        let hex = String(group.coredumpFilter, radix: 16)
        return CoredumpFilterDescription(inode: self, flags: flags,
                                         content: Array((String(repeating: "0", count: max(0, 8 - hex.count)) + hex + "\n").utf8))
    }
}

final class CoredumpFilterDescription: GeneratedFileDescription {
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        let g = (inode as! CoredumpFilterFile).group
        let total = src.count
        // kstrtouint_from_user reads at most 34 bytes.
        var text = [UInt8](repeating: 0, count: min(total, 34))
        let got = try text.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in try src.copyIn(p) }
        text.removeLast(text.count - got)
        src.skip(total)
        guard let value = Self.parseUInt32(text) else { throw .EINVAL }
        guard g.exitStatus == nil else { throw .ESRCH }
        g.coredumpFilter = value & 0x1ff // MMF_DUMP_FILTER_BITS
        return total
    }

    /// kstrtouint with base 0 (Sysctl's reading of a number: 0x-hex, 0-octal, decimal), an
    /// optional "+" first and newline last; nil for anything else or more than 32 bits.
    static func parseUInt32(_ bytes: [UInt8]) -> UInt32? {
        var text = bytes[...]
        if text.last == 0x0a { text = text.dropLast() }
        if text.first == UInt8(ascii: "+") { text = text.dropFirst() }
        let digits = Array(text)
        var i = 0
        guard !digits.isEmpty, let n = try? Sysctl.number(digits, &i), i == digits.count, !n.negative,
              n.magnitude <= UInt64(UInt32.max) else { return nil }
        return UInt32(n.magnitude)
    }
}

/// /proc/PID/oom_score_adj (-1000...1000), or its legacy form oom_adj (-17...15, scaled by
/// 1000/17): the process's adjustment for the OOM killer. Lowering it takes CAP_SYS_RESOURCE
/// below oom_score_adj_min (oom_adj: below the current value); a writer holding it sets the
/// minimum. Processes sharing the address space (vfork) change together.
final class OOMScoreAdjustFile: ProcessFile {
    let legacy: Bool
    init(group: ThreadGroup, legacy: Bool, fs: FileSystemID) {
        self.legacy = legacy
        super.init(group: group, fs: fs)
    }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        let adj = group.oomScoreAdj
        let shown = !legacy ? adj : adj == 1000 ? 15 : adj * 17 / 1000
        return OOMScoreAdjustDescription(inode: self, flags: flags, content: Array("\(shown)\n".utf8))
    }
}

final class OOMScoreAdjustDescription: GeneratedFileDescription {
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        let file = inode as! OOMScoreAdjustFile
        let g = file.group
        let total = src.count
        var text = [UInt8](repeating: 0, count: min(total, 23))
        let got = try text.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in try src.copyIn(p) }
        text.removeLast(text.count - got)
        src.skip(total)
        // kstrtoint, base 10, an optional sign and newline.
        var s = text[...]
        while let l = s.last, l == 0x0a || l == 0x20 { s = s.dropLast() }
        guard let value = Int(String(decoding: s, as: UTF8.self)), value >= Int(Int32.min), value <= Int(Int32.max) else { throw .EINVAL }
        var adj: Int
        if file.legacy {
            guard (-17...15).contains(value) else { throw .EINVAL }
            adj = value == 15 ? 1000 : value * 1000 / 17
        } else {
            guard (-1000...1000).contains(value) else { throw .EINVAL }
            adj = value
        }
        guard g.exitStatus == nil else { throw .ESRCH }
        let privileged = t.group.capable(24 /* CAP_SYS_RESOURCE */, in: .initial)
        if !privileged && adj < (file.legacy ? g.oomScoreAdj : g.oomScoreAdjMin) { throw .EACCES }
        for p in t.kernel.threadGroups.values where p === g || (p.mm === g.mm && p.exitStatus == nil) {
            p.oomScoreAdj = adj
            if !file.legacy && privileged { p.oomScoreAdjMin = adj }
        }
        return total
    }
}

/// A symlink whose target is computed when read.
final class DynamicSymlink: Inode {
    let target: () throws(LinuxErrno) -> ByteString
    let magic: Bool
    let place: (() -> Location?)?
    /// `magic`: a link to a process's own file (exe, cwd, root), not a name to look up;
    /// `place`: that file itself, when it can be reached without its name.
    init(fs: FileSystemID, magic: Bool = false, place: (() -> Location?)? = nil,
         _ target: @escaping () throws(LinuxErrno) -> ByteString) {
        self.target = target
        self.magic = magic
        self.place = place
        super.init(kind: .symlink, mode: 0o777, fs: fs)
    }
    override var isMagicLink: Bool { magic }
    override func magicTarget() -> Location? { place?() }
    override func readlink() throws(LinuxErrno) -> ByteString { try target() }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription { throw .ELOOP }
}

/// /proc/PID/fd/N: reads as the file's path, and following it reaches the open file itself
/// (so a pipe or an unlinked file can be reopened, as on Linux). Its mode tells how the file
/// is open: r-x for reading, -wx for writing, none for O_PATH.
final class FDLink: Inode {
    let file: FileDescription
    init(fs: FileSystemID, file: FileDescription) {
        self.file = file
        super.init(kind: .symlink, mode: (file.readable ? 0o500 : 0) | (file.writable ? 0o300 : 0), fs: fs)
    }
    override func readlink() throws(LinuxErrno) -> ByteString { ProcFS.shownPath(file.path, of: file.inode) }
    override func magicTarget() -> Location? { file.location ?? Location(name: file.path, parent: nil, inode: file.inode) }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription { throw .ELOOP }
}

enum ProcFS {
    /// A file's path as d_path shows it: " (deleted)" once its last name is gone or it is a
    /// removed directory (a memfd's path says so already).
    static func shownPath(_ path: ByteString, of inode: Inode) -> ByteString {
        guard inode.nlink == 0 || inode.removed, inode.kind != .anonymous, !path.bytes.isEmpty, path.bytes.first == UInt8(ascii: "/"),
              !path.bytes.suffix(deleted.count).elementsEqual(deleted) else { return path }
        return path + " (deleted)"
    }
    static let deleted = Array(" (deleted)".utf8)

    /// A procfs whose pid directories and the ids in them are numbered in `ns` (Linux's
    /// procfs belongs to the pid namespace of whoever mounted it).
    static func makeRoot(kernel: Kernel, pidNS ns: PIDNamespace) -> Inode {
        let fs = FileSystemID(dev: 0x17, name: "proc")
        let text: (@escaping () -> String) -> GeneratedFile = { gen in GeneratedFile(fs: fs) { Array(gen().utf8) } }
        let fixed: [String: () -> Inode] = [
            "self": { DynamicSymlink(fs: fs) { () throws(LinuxErrno) -> ByteString in
                guard let c = kernel.current, ns.contains(c.group.pid) else { throw .ENOENT }
                return ByteString(String(ns.local(c.group.pid)))
            } },
            "thread-self": { DynamicSymlink(fs: fs) { () throws(LinuxErrno) -> ByteString in
                guard let c = kernel.current, ns.contains(c.group.pid) else { throw .ENOENT }
                return ByteString("\(ns.local(c.group.pid))/task/\(ns.local(c.tid))")
            } },
            "cpuinfo": { text { String(decoding: HostProc.read("cpuinfo"), as: UTF8.self) } },
            "meminfo": { text { meminfo() } },
            "mounts": { DynamicSymlink(fs: fs) { () throws(LinuxErrno) -> ByteString in "self/mounts" } },
            "filesystems": { text { filesystems } },
            "config.gz": { GeneratedFile(fs: fs) { KernelConfig.gzip } },
            "uptime": { text {
                // Uptime in the reader's time namespace; idle time (the uptime, as the sandbox
                // counts no idle of its own) is not shifted, as on Linux.
                let idle = monotonicNanos() &- kernel.bootTime
                let up = GuestThread.onThisHostThread?.uptimeNanos ?? idle
                func text(_ ns: UInt64) -> String { let cs = ns / 10_000_000; return "\(cs / 100).\(zeroPad(cs % 100, 2))" }
                return "\(text(up)) \(text(idle))\n"
            } },
            "stat": { text { systemStat(kernel) } },
            "vmstat": { text { vmstat(kernel) } },
            "loadavg": { text { "0.00 0.00 0.00 1/\(kernel.threads.count) \(kernel.threads.keys.lazy.map(ns.local).max() ?? 1)\n" } },
            "version": { text { "Linux version \(Kernel.release) (joey) \(Kernel.version)\n" } },
            "keys": { text { GuestThread.onThisHostThread?.procKeys() ?? "" } },
            "key-users": { text { GuestThread.onThisHostThread?.procKeyUsers() ?? "" } },
            "sys": { Sysctl.directory(kernel, fs, prefix: "") },
            "sysvipc": { sysvipcDirectory(kernel, fs, ns) },
            "net": { DynamicSymlink(fs: fs) { () throws(LinuxErrno) -> ByteString in "self/net" } },
        ]
        return DynamicDirectory(fs: fs, ino: 1, pidNamespace: ns, list: {
            fixed.keys.sorted().map { ($0, ["self", "thread-self", "net"].contains($0) ? FileKind.symlink : ["sys", "sysvipc"].contains($0) ? .directory : .regular) }
                + kernel.threadGroups.keys.filter(ns.contains).map(ns.local).sorted().map { (String($0), FileKind.directory) }
        }, find: { (name: String) throws(LinuxErrno) -> Inode in
            if let f = fixed[name] { return f() }
            guard let local = Int32(name), local > 0, let pid = ns.global(local) else { throw .ENOENT }
            if let g = kernel.threadGroups[pid] { return processDirectory(kernel, g, fs, ns) }
            // A thread's own id reaches its process's directory too (not listed, as on Linux).
            guard let t = kernel.threads[pid] else { throw .ENOENT }
            return processDirectory(kernel, t.group, fs, ns)
        })
    }

    /// /proc/stat: the sandbox's CPU time (guest processes' run time, all counted as user
    /// time here; per process, times and /proc/PID/stat split it), idle as the rest of its uptime
    /// on every CPU, the boot time (ps needs it), and the tasks made since it started. intr
    /// counts the times guest code was stopped other than by its own system call (faults, the
    /// sentry's interruptions), ctxt the guest threads' sleeps and interruptions; the sandbox
    /// counts no blocked tasks or soft interrupts.
    static func systemStat(_ kernel: Kernel) -> String {
        let cpus = HostCPUs.usable
        let uptime = monotonicNanos() &- kernel.bootTime
        let used = kernel.threadGroups.values.reduce(kernel.reapedCPUNanos) { $0 &+ $1.cpuNanos() }
        let tick: UInt64 = 10_000_000 // USER_HZ 100
        let userTicks = used / tick
        let idleTicks = (uptime / tick) &* UInt64(cpus) > userTicks ? (uptime / tick) &* UInt64(cpus) - userTicks : 0
        func line(_ name: String, _ user: UInt64, _ idle: UInt64) -> String { "\(name) \(user) 0 0 \(idle) 0 0 0 0 0 0\n" }
        var out = line("cpu ", userTicks, idleTicks)
        // Every CPU up to the highest the sandbox may use, as under taskset natively; the
        // time is shared among the usable ones.
        for c in 0...(HostCPUs.ids.max() ?? 0) {
            let usable = HostCPUs.ids.contains(c)
            out += line("cpu\(c)", usable ? userTicks / UInt64(cpus) : 0, usable ? idleTicks / UInt64(cpus) : 0)
        }
        let btime = kernel.bootSeconds
        let running = kernel.threads.count
        out += "intr \(kernel.interruptsSeen)\nctxt \(kernel.contextSwitches)\nbtime \(btime)\nprocesses \(kernel.tasksCreated)\nprocs_running \(running)\nprocs_blocked 0\n"
        out += "softirq 0 0 0 0 0 0 0 0 0 0 0\n"
        return out
    }

    static func meminfo() -> String {
        var totalBytes: UInt64 = 0, freeBytes: UInt64 = 0
        joey_meminfo(&totalBytes, &freeBytes)
        let total = totalBytes / 1024, free = freeBytes / 1024
        return """
        MemTotal:       \(pad(total)) kB
        MemFree:        \(pad(free)) kB
        MemAvailable:   \(pad(free)) kB
        Buffers:               0 kB
        Cached:                0 kB
        SwapCached:            0 kB
        Active:         \(pad(total - free)) kB
        Inactive:              0 kB
        SwapTotal:             0 kB
        SwapFree:              0 kB
        Dirty:                 0 kB
        Shmem:                 0 kB
        Slab:                  0 kB
        SReclaimable:          0 kB

        """
    }

    /// /proc/vmstat: the page counts meminfo gives (all memory in use counted as active), and
    /// the guest faults the sentry handled; the sandbox pages nothing in or out and swaps nothing.
    static func vmstat(_ kernel: Kernel) -> String {
        var totalBytes: UInt64 = 0, freeBytes: UInt64 = 0
        joey_meminfo(&totalBytes, &freeBytes)
        let free = freeBytes / 4096, used = (totalBytes - min(freeBytes, totalBytes)) / 4096
        return "nr_free_pages \(free)\nnr_inactive_anon 0\nnr_active_anon \(used)\nnr_inactive_file 0\nnr_active_file 0\n"
            + "nr_mapped 0\nnr_dirty 0\nnr_writeback 0\npgpgin 0\npgpgout 0\npswpin 0\npswpout 0\n"
            + "pgfault \(kernel.faultsSeen)\npgmajfault 0\n"
    }

    static func zeroPad(_ v: UInt64, _ width: Int, radix: Int = 10) -> String {
        let s = String(v, radix: radix)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    static func hex(_ v: UInt64, _ width: Int) -> String { zeroPad(v, width, radix: 16) }

    static func pad(_ v: UInt64) -> String {
        let s = String(v)
        return String(repeating: " ", count: max(0, 8 - s.count)) + s
    }

    /// /proc/filesystems: the types mount(2) takes in the sandbox ("nodev": no block device).
    static let filesystems = Kernel.filesystemTypes.map { "nodev\t\($0)\n" }.joined()

    /// A directory of fixed names, each made when looked up.
    static func directory(_ entries: [String: () -> Inode], _ fs: FileSystemID) -> Inode {
        DynamicDirectory(fs: fs, list: { entries.keys.sorted().map { ($0, entries[$0]!() is DynamicDirectory ? .directory : .regular) } },
                         find: { (n: String) throws(LinuxErrno) -> Inode in
            guard let f = entries[n] else { throw .ENOENT }
            return f()
        })
    }

    /// /proc/PID, or /proc/PID/task/TID when `thread` is given (its stat and status are the
    /// thread's; it has no task directory of its own).
    static func processDirectory(_ kernel: Kernel, _ g: ThreadGroup, _ fs: FileSystemID, _ ns: PIDNamespace,
                                 thread: GuestThread? = nil) -> Inode {
        let text: (@escaping () -> String) -> GeneratedFile = { gen in GeneratedFile(fs: fs) { Array(gen().utf8) } }
        var entries: [String: () -> Inode] = [
            "exe": { DynamicSymlink(fs: fs, magic: true, place: { g.exeLocation }) { () throws(LinuxErrno) -> ByteString in
                guard let exe = g.exeLocation else { return g.exePath }
                return shownPath(exe.current().path, of: exe.inode) // followed through renames
            } },
            "cwd": { DynamicSymlink(fs: fs, magic: true) { () throws(LinuxErrno) -> ByteString in
                shownPath(g.fs.cwd.current().path, of: g.fs.cwd.inode)
            } },
            "root": { DynamicSymlink(fs: fs, magic: true) { () throws(LinuxErrno) -> ByteString in g.fs.root.current().path } },
            "cmdline": { GeneratedFile(fs: fs) { g.exitStatus != nil ? [] : g.cmdline.flatMap { $0 + [0] } } },
            "comm": { CommFile(group: g, fs: fs) },
            "coredump_filter": { CoredumpFilterFile(group: g, fs: fs) },
            "oom_score_adj": { OOMScoreAdjustFile(group: g, legacy: false, fs: fs) },
            "oom_adj": { OOMScoreAdjustFile(group: g, legacy: true, fs: fs) },
            "oom_score": { text { "\(kernel.oomScore(g))\n" } },
            "mem": { ProcAddressSpaceFile(group: g, view: .memory, fs: fs) },
            "pagemap": { ProcAddressSpaceFile(group: g, view: .pagemap, fs: fs) },
            "environ": { GeneratedFile(fs: fs, mode: 0o400, inspecting: g) { () throws(LinuxErrno) -> [UInt8] in
                let mm = g.mm
                guard mm.envEnd > mm.envStart else { return [] }
                return try mm.read(mm.envStart, count: Int(mm.envEnd - mm.envStart))
            } },
            "auxv": { GeneratedFile(fs: fs, mode: 0o400, inspecting: g) {
                var b = [UInt8]()
                for (k, v) in g.mm.auxv { withUnsafeBytes(of: k) { b += $0 }; withUnsafeBytes(of: v) { b += $0 } }
                return b
            } },
            "maps": { GeneratedFile(fs: fs) { maps(g) } },
            "smaps": { GeneratedFile(fs: fs) { smaps(g) } },
            "smaps_rollup": { text { smapsRollup(g) } },
            "stat": { text { stat(kernel, g, ns, thread) } },
            "statm": { text { statm(g) } },
            "status": { text { status(kernel, g, ns, thread) } },
            "io": { GeneratedFile(fs: fs, mode: 0o400) { Array(io(g).utf8) } },
            "mounts": { MountTableFile(fs: fs, group: g) { $0.mountsText() } },
            "mountinfo": { MountTableFile(fs: fs, group: g) { $0.mountInfoText() } },
            "ns": { namespaceDirectory(kernel, g, fs) },
            "fd": { fdDirectory(g, fs) },
            "fdinfo": { fdInfoDirectory(g, fs, ns) },
            "net": { netDirectory(kernel, g.netNS, fs) },
            "uid_map": { IDMapFile(group: g, uid: true, fs: fs) },
            "gid_map": { IDMapFile(group: g, uid: false, fs: fs) },
            "setgroups": { SetgroupsFile(group: g, fs: fs) },
            "timens_offsets": { TimeOffsetsFile(group: g, fs: fs) },
        ]
        if thread == nil {
            entries["task"] = { taskDirectory(kernel, g, fs, ns) }
            entries["timers"] = { text { timers(g, ns) } }
        }
        // /proc/PID/task/TID/children: the children's pids, each followed by a space. Joey
        // keeps a process's children, not which of its threads made each: the main thread's
        // file lists them all, the others' none.
        if let thread {
            entries["children"] = { text {
                guard thread.tid == g.pid else { return "" }
                return g.children.compactMap { c in ns.local(c.pid) > 0 ? "\(ns.local(c.pid)) " : nil }.joined()
            } }
        }
        let directories: Set<String> = ["fd", "fdinfo", "net", "ns", "task"]
        let dir = DynamicDirectory(fs: fs, list: {
            entries.keys.sorted().map { ($0, ["exe", "cwd", "root"].contains($0) ? .symlink : directories.contains($0) ? .directory : .regular) }
        }, find: { (n: String) throws(LinuxErrno) -> Inode in
            guard let f = entries[n] else { throw .ENOENT }
            // Everything under /proc/PID belongs to the process's effective ids, so an
            // unprivileged process can list its own fds; an undumpable process's files (not
            // the directories anyone may list) are root's (task_dump_owner).
            let inode = f()
            (inode.uid, inode.gid) = inode.kind == .directory && inode.mode & 0o777 == 0o555 ? (g.euid, g.egid) : g.dumpOwner
            return inode
        })
        dir.uid = g.euid
        dir.gid = g.egid
        if thread == nil { dir.process = g }
        return dir
    }

    /// /proc/PID/timers (CHECKPOINT_RESTORE): the process's POSIX timers, newest first, each
    /// with its signal, sigev_value, how it notifies whom (in the reader's pid namespace) and
    /// its clock, as show_timer prints them.
    static func timers(_ g: ThreadGroup, _ ns: PIDNamespace) -> String {
        var s = ""
        for t in g.timers.values.sorted(by: { $0.id > $1.id }) {
            let how = ["signal", "none", "thread"][Int(t.notify & 3)]
            let value = String(t.value, radix: 16).leftPadded(16)
            let whom = t.notify == 4 ? "tid.\(ns.local(t.targetTID))" : "pid.\(ns.local(g.pid))"
            s += "ID: \(t.id)\nsignal: \(t.signal)/\(value)\nnotify: \(how)/\(whom)\nClockID: \(t.clock)\n"
        }
        return s
    }

    /// /proc/PID/task: a directory per thread.
    static func taskDirectory(_ kernel: Kernel, _ g: ThreadGroup, _ fs: FileSystemID, _ ns: PIDNamespace) -> Inode {
        DynamicDirectory(fs: fs, list: { g.threads.map { (String(ns.local($0.tid)), .directory) } },
                         find: { (n: String) throws(LinuxErrno) -> Inode in
            guard let tid = Int32(n), tid > 0, let t = g.threads.first(where: { ns.local($0.tid) == tid }) else { throw .ENOENT }
            return processDirectory(kernel, g, fs, ns, thread: t)
        })
    }

    static func fdDirectory(_ g: ThreadGroup, _ fs: FileSystemID) -> Inode {
        DynamicDirectory(fs: fs, mode: 0o500, list: { g.fdTable.openFDs.map { (String($0), .symlink) } },
                         find: { (n: String) throws(LinuxErrno) -> Inode in
            guard let fd = Int32(n), let f = try? g.fdTable.getRaw(fd) else { throw .ENOENT }
            return FDLink(fs: fs, file: f)
        })
    }

    /// /proc/PID/fdinfo/N: the description's position and flags (close-on-exec included, as
    /// Linux shows it), its file system and inode number.
    static func fdInfoDirectory(_ g: ThreadGroup, _ fs: FileSystemID, _ ns: PIDNamespace) -> Inode {
        DynamicDirectory(fs: fs, mode: 0o500, list: { g.fdTable.openFDs.map { (String($0), .regular) } },
                         find: { (n: String) throws(LinuxErrno) -> Inode in
            guard let fd = Int32(n), let e = g.fdTable.entry(fd) else { throw .ENOENT }
            let f = e.file
            let flags = UInt32(bitPattern: f.flags) | (e.closeOnExec ? UInt32(O_CLOEXEC) : 0)
            let text = "pos:\t\(f.offset)\nflags:\t0\(String(flags, radix: 8))\nmnt_id:\t\(f.inode.fs.dev)\nino:\t\(f.inode.ino)\n"
                + f.fdinfoLines(seenIn: ns)
            return GeneratedFile(fs: fs, mode: 0o400) { Array(text.utf8) }
        })
    }

    /// The process's mappings as Linux lists them: pieces of one mapping (split by
    /// copy-on-write copies, or by a shrunk file's end) together.
    static func mappings(_ g: ThreadGroup) -> [[VMA]] {
        var merged: [[VMA]] = []
        for v in g.mm.vmas {
            if let last = merged.last?.last, last.sameMapping(continuedBy: v) { merged[merged.count - 1].append(v) } else { merged.append([v]) }
        }
        return merged
    }

    /// /proc/PID/maps, as bytes: a mapping's name is its file's path, which need not be UTF-8.
    static func maps(_ g: ThreadGroup) -> [UInt8] {
        mappings(g).flatMap { mapsLine($0) + [0x0a] } + vsyscallLine + [0x0a]
    }

    /// The legacy vsyscall page, last in every 64-bit process's maps and smaps as Linux
    /// lists it with vsyscall=xonly (its default): execute-only, not in the VMA list
    /// (GuestThread.emulateVsyscall answers calls there where the platform does not).
    static let vsyscallLine = named("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 ", "[vsyscall]")

    /// A mapping's line in /proc/PID/maps (and smaps): range, permissions, offset, device,
    /// inode, and its name from column 73.
    static func mapsLine(_ pieces: [VMA]) -> [UInt8] {
        let v = pieces[0]
        let perms = (v.protection.contains(.read) && !v.readImplied ? "r" : "-") + (v.protection.contains(.write) ? "w" : "-")
            + (v.protection.contains(.exec) ? "x" : "-") + (v.shared && !v.special ? "s" : "p")
        let dev = v.inodeNumber == 0 ? "00:00" : "08:01"
        let line = "\(hex(v.start, 8))-\(hex(pieces[pieces.count - 1].end, 8)) \(perms) \(hex(v.isPrivateAnonymous ? 0 : v.fileOffset, 8)) \(dev) \(v.inodeNumber) "
        return named(line, v.name)
    }

    private static func named(_ line: String, _ name: ByteString) -> [UInt8] {
        name.isEmpty ? Array(line.utf8) : Array((line + String(repeating: " ", count: max(1, 73 - line.count))).utf8) + name.bytes
    }

    /// One mapping's memory as /proc/PID/smaps counts it, in bytes. Resident means backed by
    /// MemoryFile pages; private pages a fork shares are shared (Pss divides them by the
    /// sharers), other anonymous pages private (Linux counts the processes mapping each page;
    /// a MAP_SHARED mapping's other mappers are not counted here); a file's page cache is
    /// shared and clean (the file holds it); nothing is ever swapped.
    struct MappingUsage {
        var size: UInt64 = 0, rss: UInt64 = 0, pss: UInt64 = 0
        var sharedClean: UInt64 = 0, sharedDirty: UInt64 = 0, privateDirty: UInt64 = 0
        var anonymous: UInt64 = 0, locked: UInt64 = 0
        var pssAnon: UInt64 = 0, pssFile: UInt64 = 0, pssShmem: UInt64 = 0

        static func += (a: inout MappingUsage, b: MappingUsage) {
            a.size += b.size; a.rss += b.rss; a.pss += b.pss
            a.sharedClean += b.sharedClean; a.sharedDirty += b.sharedDirty; a.privateDirty += b.privateDirty
            a.anonymous += b.anonymous; a.locked += b.locked
            a.pssAnon += b.pssAnon; a.pssFile += b.pssFile; a.pssShmem += b.pssShmem
        }
    }

    static func usage(_ v: VMA) -> MappingUsage {
        var u = MappingUsage(size: v.end - v.start)
        if v.beyondEOF { return u }
        if let pages = v.pages {
            u.rss = pages.residentBytes(from: v.fileOffset, to: v.fileOffset + u.size)
            u.sharedClean = u.rss
            u.pss = u.rss
            u.pssFile = u.rss
        } else if let block = v.block, block.host != nil {
            // A host file's pages, shared with the host's page cache: counted as a file
            // mapping's clean pages, whole (how many others map them is not known here).
            u.rss = block.residentBytes(v.blockOffset, length: u.size)
            u.sharedClean = u.rss
            u.pss = u.rss
            u.pssFile = u.rss
        } else if let block = v.block {
            u.rss = block.file.residentBytes(v.fileStart, length: u.size)
            let sharers = UInt64(max(block.sharers.load(ordering: .relaxed), 1))
            if sharers > 1 { u.sharedDirty = u.rss } else { u.privateDirty = u.rss }
            u.pss = u.rss / sharers
            if v.shared { u.pssShmem = u.pss } else { u.anonymous = u.rss; u.pssAnon = u.pss }
        }
        if v.locked { u.locked = u.rss }
        return u
    }

    private static func kB(_ name: String, _ bytes: UInt64) -> String {
        let n = String(bytes / 1024)
        return name + String(repeating: " ", count: max(1, 24 - name.count - n.count)) + n + " kB\n"
    }

    private static func usageLines(_ u: MappingUsage, rollup: Bool) -> String {
        var out = rollup ? "" : kB("Size:", u.size) + kB("KernelPageSize:", 4096) + kB("MMUPageSize:", 4096)
        out += kB("Rss:", u.rss) + kB("Pss:", u.pss) + kB("Pss_Dirty:", u.pssAnon + u.pssShmem)
        if rollup { out += kB("Pss_Anon:", u.pssAnon) + kB("Pss_File:", u.pssFile) + kB("Pss_Shmem:", u.pssShmem) }
        out += kB("Shared_Clean:", u.sharedClean) + kB("Shared_Dirty:", u.sharedDirty)
            + kB("Private_Clean:", 0) + kB("Private_Dirty:", u.privateDirty) + kB("Referenced:", u.rss)
            + kB("Anonymous:", u.anonymous) + kB("KSM:", 0) + kB("LazyFree:", 0) + kB("AnonHugePages:", 0)
            + kB("ShmemPmdMapped:", 0) + kB("FilePmdMapped:", 0) + kB("Shared_Hugetlb:", 0) + kB("Private_Hugetlb:", 0)
            + kB("Swap:", 0) + kB("SwapPss:", 0) + kB("Locked:", u.locked)
        return out
    }

    /// /proc/PID/smaps: each line of maps, then its memory and flags.
    static func smaps(_ g: ThreadGroup) -> [UInt8] {
        var out: [UInt8] = []
        for pieces in mappings(g) {
            let line = mapsLine(pieces)
            var u = MappingUsage()
            for v in pieces { u += usage(v) }
            let v = pieces[0]
            var flags = (v.protection.contains(.read) && !v.readImplied ? "rd " : "") + (v.protection.contains(.write) ? "wr " : "")
                + (v.protection.contains(.exec) ? "ex " : "") + (v.shared ? "sh " : "") + "mr " + (v.mayWrite ? "mw " : "") + "me "
            if v.shared { flags += "ms " }
            if v.growsDown { flags += "gd " }
            if v.locked { flags += "lo " }
            if !v.shared && v.protection.contains(.write) { flags += "ac " }
            if v.dontFork { flags += "dc " }
            if v.dontDump { flags += "dd " }
            if v.sealed { flags += "sl " }
            out += line + Array(("\n" + usageLines(u, rollup: false) + "THPeligible:           0\nVmFlags: " + flags + "\n").utf8)
        }
        return out + vsyscallLine + Array(("\n" + usageLines(MappingUsage(size: 4096), rollup: false) + "THPeligible:           0\nVmFlags: ex \n").utf8)
    }

    /// /proc/PID/smaps_rollup: smaps' figures summed over every mapping.
    static func smapsRollup(_ g: ThreadGroup) -> String {
        let vmas = g.mm.vmas
        guard let first = vmas.first, let last = vmas.last else { return "" }
        var u = MappingUsage()
        for v in vmas { u += usage(v) }
        return String(decoding: named("\(hex(first.start, 8))-\(hex(last.end, 8)) ---p 00000000 00:00 0 ", "[rollup]"), as: UTF8.self)
            + "\n" + usageLines(u, rollup: true)
    }

    /// Linux's task state: a zombie, stopped, running (not asleep in the sentry: in guest
    /// code or in a system call), or sleeping. A process's own files show its leader thread
    /// (all its threads once the leader is gone).
    static func state(_ g: ThreadGroup, _ thread: GuestThread? = nil) -> (letter: String, name: String) {
        if g.exitStatus != nil { return ("Z", "zombie") }
        // A tracee in a ptrace-stop is traced-stopped even within its process's group stop.
        if (thread ?? g.leader)?.ptrace?.stopped == true { return ("t", "tracing stop") }
        if g.stopped { return ("T", "stopped") }
        let threads = (thread ?? g.leader).map { [$0] } ?? g.threads
        return threads.contains(where: { !$0.blocked }) ? ("R", "running") : ("S", "sleeping")
    }

    /// The mappings' sizes summed, in bytes: all, writable private data, the stack, the
    /// executable's code and other code.
    static func vmSizes(_ g: ThreadGroup) -> (total: UInt64, data: UInt64, stack: UInt64, exe: UInt64, lib: UInt64) {
        var r: (total: UInt64, data: UInt64, stack: UInt64, exe: UInt64, lib: UInt64) = (0, 0, 0, 0, 0)
        let exe = g.exePath
        for v in g.mm.vmas {
            let size = v.end - v.start
            r.total += size
            if v.name == "[stack]" { r.stack += size }
            else if v.protection.contains(.exec) { if v.name == exe { r.exe += size } else if !v.name.isEmpty { r.lib += size } }
            else if v.protection.contains(.write) && !v.shared { r.data += size }
        }
        return r
    }

    /// The process's resident memory, as its address space's host side counts it.
    static func resident(_ g: ThreadGroup) -> ResidentMemory {
        g.threads.lazy.compactMap { $0.context }.first?.residentMemory() ?? ResidentMemory()
    }

    static func stat(_ kernel: Kernel, _ g: ThreadGroup, _ ns: PIDNamespace, _ thread: GuestThread? = nil) -> String {
        let ppid = g.parent.map { ns.local($0.pid) } ?? 0
        let start = (g.startTime &- kernel.bootTime) / 10_000_000
        let vsize = vmSizes(g).total
        let rss = resident(g).current / 4
        // utime, stime, cutime, cstime: its threads' and its reaped children's (ThreadGroup.cpuTimes).
        let own = g.cpuTimes(thread: thread), children = thread == nil ? g.cpuTimes(children: true) : (user: 0, system: 0)
        let (utime, stime) = (own.user / 10_000_000, own.system / 10_000_000)
        let (cutime, cstime) = (children.user / 10_000_000, children.system / 10_000_000)
        var f: [String] = ["\(ns.local(thread?.tid ?? g.pid))", "(\(g.comm))", state(g, thread).letter, "\(ppid)", "\(ns.local(g.pgid))",
                           "\(ns.local(g.sid))", "0", "-1",
                           "4194560", "0", "0", "0", "0", "\(utime)", "\(stime)", "\(cutime)", "\(cstime)", "20", "0", "\(max(1, g.threads.count))", "0",
                           "\(start)", "\(vsize)", "\(rss)", "18446744073709551615"]
        f += ["0", "0", "\(g.mm.stackTop)", "0", "0", "0", "0", "0", "0", "0", "0", "0", "17", "0", "0", "0", "0", "0",
              "0", "0", "\(g.mm.argStart)", "\(g.mm.argEnd)", "\(g.mm.envStart)", "\(g.mm.envEnd)", "0"]
        return f.joined(separator: " ") + "\n"
    }

    /// /proc/PID/statm, in pages: size, resident, shared (file and shared memory), text, lib
    /// (always 0 since Linux 2.6), data and stack, dirty (always 0).
    static func statm(_ g: ThreadGroup) -> String {
        let v = vmSizes(g), r = resident(g)
        return "\(v.total / 4096) \(r.current / 4) \((r.file + r.shmem) / 4) \(v.exe / 4096) 0 \((v.data + v.stack) / 4096) 0\n"
    }

    /// /proc/PID/io: characters read and written through read/write-family calls and their
    /// counts; the sandbox has no block device of its own, so no storage bytes are counted.
    static func io(_ g: ThreadGroup) -> String {
        "rchar: \(g.io.rchar)\nwchar: \(g.io.wchar)\nsyscr: \(g.io.syscr)\nsyscw: \(g.io.syscw)\n"
            + "read_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n"
    }

    /// A CPU mask as /proc/PID/status writes it (hex, in 32-bit groups) and as a list ("0-1").
    static func cpuMask(_ mask: UInt64) -> (hex: String, list: String) {
        var ranges: [String] = []
        var cpu = 0
        while cpu < 64 {
            guard mask & (1 << UInt64(cpu)) != 0 else { cpu += 1; continue }
            var last = cpu
            while last + 1 < 64, mask & (1 << UInt64(last + 1)) != 0 { last += 1 }
            ranges.append(last == cpu ? "\(cpu)" : "\(cpu)-\(last)")
            cpu = last + 1
        }
        let hex = mask >> 32 != 0 ? "\(String(mask >> 32, radix: 16)),\(hex(mask & 0xffff_ffff, 8))" : String(mask, radix: 16)
        return (hex, ranges.joined(separator: ","))
    }

    static func status(_ kernel: Kernel, _ g: ThreadGroup, _ ns: PIDNamespace, _ thread: GuestThread? = nil) -> String {
        let v = vmSizes(g), r = resident(g)
        let t = thread ?? g.leader
        let allowed = cpuMask(t?.affinity ?? HostCPUs.mask)
        let st = state(g, thread)
        let ignored = (1..<65).filter { g.actions[$0].handler == 1 }.reduce(UInt64(0)) { $0 | 1 << UInt64($1 - 1) }
        let caught = (1..<65).filter { g.actions[$0].handler > 1 }.reduce(UInt64(0)) { $0 | 1 << UInt64($1 - 1) }
        let blocked = t?.signalMask ?? 0
        // An id in the procfs's namespace and each one below it down to the process's own.
        let levels = g.pidNS.levels(from: ns)
        func nested(_ id: Int32) -> String { levels.map { String($0.local(id)) }.joined(separator: "\t") }
        // Ids as the reader's user namespace numbers them.
        let reader = GuestThread.onThisHostThread?.group.userNS ?? .initial
        func uids(_ ids: UInt32...) -> String { ids.map { String(reader.shownUID($0)) }.joined(separator: "\t") }
        func gids(_ ids: UInt32...) -> String { ids.map { String(reader.shownGID($0)) }.joined(separator: "\t") }
        return """
        Name:\t\(g.comm)
        Umask:\t\(zeroPad(UInt64(g.fs.umask), 4, radix: 8))
        State:\t\(st.letter) (\(st.name))
        Tgid:\t\(ns.local(g.pid))
        Ngid:\t0
        Pid:\t\(ns.local(t?.tid ?? g.pid))
        PPid:\t\(g.parent.map { ns.local($0.pid) } ?? 0)
        TracerPid:\t\(g.leader?.ptrace?.tracer.map { ns.local($0.pid) } ?? 0)
        Uid:\t\(uids(g.uid, g.euid, g.suid, g.fsuid))
        Gid:\t\(gids(g.gid, g.egid, g.sgid, g.fsgid))
        FDSize:\t\(max(64, g.fdTable.entries.count))
        Groups:\t\(g.groups.map { String(reader.shownGID($0)) }.joined(separator: " "))
        NStgid:\t\(nested(g.pid))
        NSpid:\t\(nested(t?.tid ?? g.pid))
        NSpgid:\t\(nested(g.pgid))
        NSsid:\t\(nested(g.sid))
        VmSize:\t\(pad(v.total / 1024)) kB
        VmLck:\t\(pad(g.mm.lockedBytes() / 1024)) kB
        VmHWM:\t\(pad(r.peak)) kB
        VmRSS:\t\(pad(r.current)) kB
        RssAnon:\t\(pad(r.anon)) kB
        RssFile:\t\(pad(r.file)) kB
        RssShmem:\t\(pad(r.shmem)) kB
        VmData:\t\(pad(v.data / 1024)) kB
        VmStk:\t\(pad(v.stack / 1024)) kB
        VmExe:\t\(pad(v.exe / 1024)) kB
        VmLib:\t\(pad(v.lib / 1024)) kB
        VmSwap:\t       0 kB
        Threads:\t\(max(1, g.threads.count))
        SigPnd:\t\(hex(t?.pending ?? 0, 16))
        ShdPnd:\t\(hex(g.pendingShared, 16))
        SigBlk:\t\(hex(blocked, 16))
        SigIgn:\t\(hex(ignored, 16))
        SigCgt:\t\(hex(caught, 16))
        CapInh:\t\(hex(g.capabilities.inheritable, 16))
        CapPrm:\t\(hex(g.capabilities.permitted, 16))
        CapEff:\t\(hex(g.capabilities.effective, 16))
        CapBnd:\t\(hex(g.capabilities.bounding, 16))
        CapAmb:\t\(hex(g.capabilities.ambient, 16))
        NoNewPrivs:\t\(g.noNewPrivs ? 1 : 0)
        Seccomp:\t\(g.leader?.seccompMode ?? 0)
        Seccomp_filters:\t\(g.leader?.seccompFilter?.depth ?? 0)
        Cpus_allowed:\t\(allowed.hex)
        Cpus_allowed_list:\t\(allowed.list)
        Mems_allowed:\t1
        Mems_allowed_list:\t0
        voluntary_ctxt_switches:\t\(t?.voluntarySwitches ?? 0)
        nonvoluntary_ctxt_switches:\t\(t?.nonvoluntarySwitches ?? 0)

        """
    }
}
