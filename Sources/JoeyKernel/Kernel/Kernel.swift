// Kernel/ owns the sandbox as a whole: its spec, the filesystems it boots with, pid
// allocation, the process and thread tables, and the sentry's service threads (signal
// forwarder, alarm and memory watchers, host-fd notifier). Lock order, outermost first:
// KernelLock; then MemoryFile's allocator lock. Wakeups and wait queues are guarded by the
// kernel lock and take no lock of their own.
//
// JoeyKernel: the sentry. It implements the Linux system-call interface for guest programs:
// tasks (ThreadGroup, GuestThread), memory (MemoryManager over the MemoryFile), files (VFS),
// and signals. It reaches the CPU only through a JoeyPlatform Platform.
import CJoey
import Glibc
import JoeyABI
import JoeyPlatform
import Synchronization

/// How a sandbox is built.
public struct SandboxSpec {
    public var rootPath: String = "/"
    public var rootWritable = false
    /// The root is mounted read-only: the guest's changes to it fail with EROFS.
    public var rootReadOnly = false
    public var argv: [String]
    /// The arguments as the caller's exact bytes, when Strings would lose some (a file name
    /// that is not UTF-8 on `joey do`'s command line); nil: argv's UTF-8.
    public var rawArgv: [[UInt8]]?
    public var env: [String]
    public var cwd: String = "/"
    public var hostname = "joey"
    /// Give the hostname an /etc/hosts line (127.0.1.1) in the sandbox's upper layer when the
    /// root's /etc/hosts lacks one, as container engines write /etc/hosts for a container
    /// (`joey do`; an OCI engine brings its own /etc/hosts).
    public var resolvableHostname = false
    public var domainname = "(none)"
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    /// Supplementary groups; nil means just `gid`.
    public var groups: [UInt32]?
    public var maxTasks = 4096
    /// Signal mask and ignored signals pid 1 starts with (execve keeps both, so `joey do`
    /// passes on the caller's, as running the program directly would).
    public var signalMask: UInt64 = 0
    public var ignoredSignals: UInt64 = 0
    /// An OCI container: every signal the sentry receives goes to pid 1 (`kill` signals the
    /// sentry, meaning its init), except terminal signals when it has a terminal; and init
    /// ignores those it has no handler for, as a PID namespace's init does.
    public var forwardAllSignalsToInit = false
    /// Initial resource limits of pid 1 by RLIMIT_* number: (soft, hard).
    public var rlimits: [Int: (UInt64, UInt64)] = [:]
    /// Most bytes of guest memory the sandbox may hold (OCI linux.resources.memory.limit);
    /// past it the sentry kills the largest process, as the cgroup OOM killer would.
    public var memoryLimit: UInt64?
    /// Extra mounts (OCI config.json mounts), applied in order after /dev, /proc and /tmp.
    public var mounts: [MountSpec] = []
    /// A tmpfs of the sandbox's own at /tmp (`joey do`); an OCI container has exactly the
    /// mounts its config lists, so a read-only root keeps /tmp read-only, as under runc.
    public var tmpfsAtTmp = true
    /// Loop devices in /dev at start, with /dev/loop-control to add more (`joey do`: 8, as
    /// a kernel built with CONFIG_BLK_DEV_LOOP_MIN_COUNT=8); 0: no loop driver at all, as an
    /// OCI container whose config lists no /dev/loop-control sees none.
    public var loopDevices = 8
    /// Host fds 3, 4, ... passed on to pid 1 as the same numbers (OCI --preserve-fds).
    public var preservedFDs = 0
    /// The session keyring pid 1 and each exec'd process join by name (an OCI container's
    /// `_ses.<id>`, as runc makes: searchable by its owner, so later ones join the same);
    /// nil: none, so they use their user's session keyring, as Linux's init does.
    public var sessionKeyring: String?
    public var umask: UInt32 = 0o022
    /// Capability sets pid 1 sees (effective, permitted, inheritable); nil: by uid.
    public var capabilities: (UInt64, UInt64, UInt64)?
    /// The bounding and ambient sets (OCI lists them beside the others); nil: all / none.
    public var capabilityBounding: UInt64?
    public var capabilityAmbient: UInt64?
    public var noNewPrivileges = false
    /// An environment without HOME gets the user's home from the root's /etc/passwd, or
    /// "/", as runc gives an OCI process.
    public var homeFromPasswd = false
    /// Where the guest's AF_INET and AF_INET6 sockets live.
    public var network = NetworkMode.none
    /// /proc/sys tunables to set before anything runs, as (dotted name, value) in order
    /// (OCI's linux.sysctl): the sandbox's own, never the host's.
    public var sysctls: [(String, String)] = []
    public init(argv: [String], env: [String]) { self.argv = argv; self.env = env }
}

/// The sandbox's network (`--network`, runsc's spelling).
public enum NetworkMode: String, Sendable, CaseIterable {
    /// A loopback-only network inside the sentry (Net/Inet/Loopback.swift): no host socket
    /// is ever made for the guest.
    case none
    /// The network of the sentry's network namespace (the host's for `joey do`, the
    /// container's for OCI) through host sockets the sentry owns (Net/Inet/HostInet.swift).
    case host
}

/// A mount the sandbox starts with. Every filesystem is the sentry's own: tmpfs in memory,
/// bind mounts of host paths walked by the sentry (read-only ones keep writes in memory).
public struct MountSpec: Sendable {
    public var destination: String
    public var type: String
    public var source: String
    public var options: [String]
    public init(destination: String, type: String, source: String, options: [String]) {
        self.destination = destination; self.type = type; self.source = source; self.options = options
    }
    public var isBind: Bool { type == "bind" || options.contains("bind") || options.contains("rbind") }
    public var readOnly: Bool { options.contains("ro") }
}

/// A process to start in the sandbox: pid 1 from the SandboxSpec, or an `exec`.
public struct ProcessSpec: Sendable {
    public var argv: [String]
    /// As SandboxSpec.rawArgv.
    public var rawArgv: [[UInt8]]?
    public var env: [String]
    public var cwd = "/"
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var groups: [UInt32] = []
    public var signalMask: UInt64 = 0
    public var ignoredSignals: UInt64 = 0
    public var rlimits: [Int: (UInt64, UInt64)] = [:]
    public var umask: UInt32 = 0o022
    /// Capability sets the guest sees (effective, permitted, inheritable); nil: by uid.
    public var capabilities: (UInt64, UInt64, UInt64)?
    /// The bounding and ambient sets (OCI lists them beside the others); nil: all / none.
    public var capabilityBounding: UInt64?
    public var capabilityAmbient: UInt64?
    /// PR_GET_NO_NEW_PRIVS reports 1 (OCI process.noNewPrivileges).
    public var noNewPrivileges = false
    /// As SandboxSpec.homeFromPasswd.
    public var homeFromPasswd = false
    public init(argv: [String], env: [String]) { self.argv = argv; self.env = env }
}

public final class Kernel: @unchecked Sendable {
    public static let release = "6.1.0-joey"
    public static let version = "#1 SMP Joey"

    let lock = KernelLock()
    let platform: Platform
    /// Where patched system calls enter the platform; nil: none are patched.
    let syscallPatchEntry: UInt64?
    let memoryFile: MemoryFile
    let spec: SandboxSpec
    /// The pids limit: spec.maxTasks, changed by OCI `update`.
    lazy var taskLimit = spec.maxTasks
    /// Paused (OCI `pause`): guest threads wait in the sentry (GuestThread.runLoop).
    var frozen = false
    /// platform.reportsExitOverhead, read once (GuestThread.runLoop reads it per event, under
    /// the kernel lock).
    lazy var countsExitOverhead = platform.reportsExitOverhead
    /// Joey's vDSO, mapped into every guest, and what keeps its clocks current.
    let vdso: VDSO
    let timekeeper: Timekeeper
    var rootLocation: Location!
    var devRoot: DirectoryInode!
    /// reboot(2)'s LINUX_REBOOT_CMD_CAD_ON / CAD_OFF (C_A_D): recorded, with no key to act on.
    var ctrlAltDelReboots = true
    /// The loop devices (FS/Loop.swift); nil where the sandbox offers none.
    var loopDevices: LoopDevices?
    /// Blocked F_SETLKW lockers: owner -> the owner whose lock it waits for (deadlock checks).
    var lockWaiters: [ObjectIdentifier: ObjectIdentifier] = [:]
    /// /dev/pts and the sandbox's pseudo-terminals.
    let devPts = DevPts(fs: FileSystemID(dev: 0x16, name: "devpts"))
    /// devpts instances guests mounted, weakly.
    var devPtsInstances: [WeakDevPts] = []
    /// The key retention service (Keys/): every key, and its owners' quotas.
    let keys = KeyService()
    /// The inodes name_to_handle_at gave handles for (VFS/FileHandles.swift).
    let fileHandles = FileHandleTable()
    /// The mount namespace the sandbox starts with (pid 1's, and every `exec`'s).
    var initialMounts: MountNamespace!
    private var lastMountID = 0
    /// The last device number given to a filesystem a guest mounted (0:N, as Linux's anonymous ones).
    var lastAnonymousDevice: UInt64 = 0x40
    private var lastNamespaceIno: UInt64 = 0xEFFF_FFFF
    var threadGroups: [Int32: ThreadGroup] = [:]
    var threads: [Int32: GuestThread] = [:]
    private var nextPid: Int32 = 1
    /// Tasks (processes and threads) made since the sandbox started: /proc/stat's "processes".
    private(set) var tasksCreated: UInt64 = 0
    /// CPU time of processes already reaped, so /proc/stat's counters never go back.
    var reapedCPUNanos: UInt64 = 0
    var controllingTerminal: Int32?
    var fifoBuffers: [ObjectIdentifier: PipeBuffer] = [:]
    let pipeFS = FileSystemID(dev: 0xd, name: "pipefs")
    let nsFS = FileSystemID(dev: 0x4, name: "nsfs")
    let initialCgroup = CgroupNamespace(ino: 0xEFFF_FFFB) // PROC_CGROUP_INIT_INO
    let initialTime = TimeNamespace(ino: 0xEFFF_FFFA) // PROC_TIME_INIT_INO
    /// The sandbox's first network namespace (Net/NetworkNamespace.swift).
    lazy var initialNet = NetworkNamespace(ino: allocateNamespaceIno(), onHost: spec.network == .host)
    let anonFS = FileSystemID(dev: 0xe, name: "anon_inodefs")
    var eventFDIDs = SmallestFreeIDs()
    let pidFS = FileSystemID(dev: 0xf, name: "pidfs")
    let sockFS = FileSystemID(dev: 0x8, name: "sockfs")
    /// AF_UNIX sockets bound to a path, by the socket file's inode (abstract names are the
    /// network namespace's).
    var unixPathNames: [InodeKey: UnixSocket] = [:]
    /// Every unix socket, weakly (/proc/net/unix).
    var unixSockets: [ObjectIdentifier: WeakUnixSocket] = [:]
    /// inotify watches by the inode they watch.
    var inotifyWatches: [InodeKey: [InotifyWatch]] = [:]
    /// inotify instances and watches per owner (the creator's effective uid), bounded as
    /// /proc/sys/fs/inotify shows.
    var inotifyUse: [UInt32: (instances: Int, watches: Int)] = [:]
    /// The sandbox's /proc/sys tunables that are not namespaced (FS/ProcSys.swift), and the
    /// /proc/sys inodes last made for each procfs instance (held weakly).
    var tunables = Tunables()
    var sysctlInodes: [SysctlInodeKey: WeakInode] = [:]
    /// TCP sockets holding corked data under TCP_CORK's 200 ms ceiling (Net/Inet/LoopbackCork.swift).
    var corkedSockets: [WeakInetSocket] = []
    /// Pages of pipe buffers per user (real uid), for fs.pipe-user-pages-soft and -hard.
    var pipeUserPages: [UInt32: Int] = [:]
    /// F_NOTIFY watches by directory.
    var dnotifyWatches: [InodeKey: [DnotifyWatch]] = [:]
    var renameCookie: UInt32 = 0
    /// Exits of traced threads for their tracer's wait4 (those its own children's reaping
    /// would not report), each tid as the tracer sees it.
    var ptraceExits: [(tracer: ThreadGroup, tid: Int32, status: Int32)] = []
    /// The IPC namespace the sandbox starts with, and every one alive (weakly).
    let initialIPC: IPCNamespace
    var ipcNamespaces: [WeakIPCNamespace]
    /// The sandbox's pid namespace (its numbers are the sentry's keys), and every nested one
    /// alive (weakly).
    let rootPIDNamespace = PIDNamespace(parent: nil, ino: 0xEFFF_FFFC) // PROC_PID_INIT_INO
    var pidNamespaces: [WeakPIDNamespace] = []
    /// Numbers of reaped processes still in use as a process group or session id: not
    /// given out again until no process has them (Linux keeps such a struct pid), with the
    /// namespace their numbers are in.
    var heldPids: [Int32: PIDNamespace] = [:]
    /// Inits of nested pid namespaces that exited while others in their namespace remain.
    var initsAwaitingNamespace: [ThreadGroup] = []
    /// Armed timerfds, fired by the alarm watcher.
    var timerFDs: [ObjectIdentifier: TimerFDDescription] = [:]
    /// The guest's host sockets (`--network=host`) by host inode number, for /proc/net.
    var hostInetSockets: [UInt64: WeakHostInetSocket] = [:]
    private(set) lazy var hostRouteNetlink = HostRouteNetlink()
    /// What `run` sleeps on until the last guest thread is gone.
    let shutdownWakeup = Wakeup()
    /// What the alarm watcher sleeps on (woken when a timer is armed, or at shutdown).
    let alarmWakeup = Wakeup()
    /// Turns readiness of the sentry's host fds into wait-queue notifications.
    private(set) lazy var hostNotifier = HostNotifier(kernel: self)
    /// Host fds of the lower files the guest reads, bounded.
    let hostFiles = HostFileCache()
    /// The hidden tmpfs memfd_create's files live in.
    private(set) var memfdContext: OverlayContext!
    /// The UTS namespace the sandbox starts with (its hostname and domain name).
    let initialUTS: UTSNamespace
    /// /proc/sys/kernel/random/boot_id: a random UUID for the sandbox's boot.
    lazy var bootID = Kernel.randomUUID()
    var hostname: String { initialUTS.hostname }
    var runningThreads = 0
    var alarmWatcherRunning = false
    /// The sum of every step of the sandbox's wall clock: a sleep until a wall-clock time
    /// moves its monotonic deadline by how much this changed since it began.
    var wallClockShift: Int64 = 0
    /// fs.aio-nr: the events the sandbox's AIO contexts asked for (FS/AsyncIO.swift); a
    /// context's share leaves when the last reference to it does, on any thread.
    let aioEvents = Atomic<Int>(0)
    var futexWaiters: [FutexKey: [FutexWaiter]] = [:]
    /// Threads waiting in FUTEX_LOCK_PI, in order, by futex.
    var piWaiters: [FutexKey: [FutexWaiter]] = [:]
    /// The foreground process group of each session's terminal (pid 1's, and an exec'd
    /// process's own when it was given a terminal), by session id.
    var foregroundPgids: [Int32: Int32] = [:]
    /// The guest thread whose syscall is being handled (procfs's "self"); kernel lock held.
    var current: GuestThread?
    var initExitStatus: Int32?
    var unimplementedReported: Set<Int> = []
    public var debugLog: (String) -> Void = { _ in }
    /// With --debug: system calls by number, trapped and through patched sites, sites
    /// patched and faults handled, for the summary the debug log ends with.
    private(set) var callCounts: [(trapped: UInt64, patched: UInt64)]?
    var sitesPatched = 0
    var faultsSeen = 0
    /// /proc/stat's ctxt and intr: guest threads' sleeps and interruptions, and the times guest
    /// code was stopped by something other than its own system call (faults, interruptions).
    var contextSwitches: UInt64 = 0
    var interruptsSeen: UInt64 = 0
    public func countCalls() { callCounts = Array(repeating: (0, 0), count: 512) }
    func countCall(_ number: UInt64, patched: Bool) {
        guard number < 512 else { return }
        if patched { callCounts![Int(number)].patched += 1 } else { callCounts![Int(number)].trapped += 1 }
    }
    /// strace mode, when on.
    var strace: Strace?
    public func enableStrace(_ options: StraceOptions) { strace = Strace(options: options) }
    /// Boot, on CLOCK_MONOTONIC: the host's, as CLOCK_BOOTTIME (the guest reads the host's)
    /// counts from it. Uptime (/proc/uptime, sysinfo), times() and process start times count
    /// from here, so they agree with CLOCK_BOOTTIME as on Linux, time namespaces' offsets
    /// included (a sandbox that counted from its own start gave a child whose namespace
    /// takes 10 s off its boot time an uptime of 0). Held as a wrapping difference (the host's
    /// suspended time puts it below 0): read only as `monotonicNanos() &- bootTime`.
    let bootTime: UInt64 = monotonicNanos() &- hostClockNanos(CLOCK_BOOTTIME)
    /// The wall-clock second the host booted, fixed once as Linux's btime is: computed from
    /// the clocks at each read it would move by a second as their fractions drift apart, and a
    /// process's start time (btime + starttime ticks) would differ between two readers.
    let bootSeconds: UInt64 = {
        let wall = hostClockNanos(CLOCK_REALTIME), up = hostClockNanos(CLOCK_BOOTTIME)
        return wall > up ? (wall - up) / 1_000_000_000 : 0
    }()

    public init(platform: Platform, spec: SandboxSpec) throws(KernelError) {
        self.platform = platform
        syscallPatchEntry = platform.syscallPatchEntry
        self.spec = spec
        initialUTS = UTSNamespace(ino: 0xEFFF_FFFE, hostname: spec.hostname, domainname: spec.domainname)
        initialIPC = IPCNamespace(ino: 0xEFFF_FFFF) // Linux's PROC_IPC_INIT_INO
        ipcNamespaces = [WeakIPCNamespace(namespace: initialIPC)]
        WallClock.adoptHostDiscipline() // before confinement takes adjtimex away
        do {
            memoryFile = try MemoryFile(size: platform.memoryFileSize, limit: spec.memoryLimit)
        } catch {
            throw KernelError(error.description)
        }
        do {
            vdso = try VDSO(memoryFile: memoryFile)
            vdso.data.pointee.getcpu_by_syscall = platform.guestReadsItsCPU ? 0 : 1
        } catch {
            throw KernelError("cannot allocate the vDSO's pages: \(error)")
        }
        timekeeper = Timekeeper(vdso: vdso)
        memfdContext = filesystem(dev: 0x1, name: "tmpfs")
        if isatty(0) != 0 { controllingTerminal = 0 }
        // The kernel lives as long as the sentry: threads, processes, files and sockets refer
        // to it unowned(unsafe), so the hot paths do no reference counting on it.
        _ = Unmanaged.passRetained(self)
        if memoryFile.enforcesLimit { memoryFile.makeRoom = { [unowned self] in reclaimMemory() } }
        try buildFilesystems()
        for (name, value) in spec.sysctls { try setSysctl(name, value) }
    }

    private func buildFilesystems() throws(KernelError) {
        let host = try HostTree(path: spec.rootPath)
        let rootCtx = filesystem(dev: 0x801, name: "overlay", host: host, writeThrough: spec.rootWritable)
        guard let st = host.lstat(""), let rootDir = rootCtx.lowerInode(path: "", st: st) as? DirectoryInode else {
            throw KernelError("cannot stat the root directory \(spec.rootPath)")
        }
        rootCtx.id.readOnly = spec.rootReadOnly
        let rootMount = Mount(id: allocateMountID(), root: rootDir, type: "overlay", source: "overlay",
                              flags: spec.rootReadOnly ? [.readOnly, .relATime] : [.relATime], superOptions: spec.rootWritable ? "" : "lowerdir=\(spec.rootPath)")
        initialMounts = MountNamespace(ino: allocateNamespaceIno(), root: rootMount)
        rootLocation = Location(name: "", parent: nil, inode: rootDir, mount: rootMount)

        let devCtx = filesystem(dev: 0x5, name: "devtmpfs")
        devRoot = Kernel.makeDevFS(devCtx, devPts: devPts, loopControl: spec.loopDevices > 0)
        if spec.loopDevices > 0 { loopDevices = LoopDevices(count: spec.loopDevices, dev: devRoot) }
        mount(devRoot, at: "/dev", type: "devtmpfs", source: "devtmpfs", options: ["rw", "nosuid"])
        mount(ProcFS.makeRoot(kernel: self, pidNS: rootPIDNamespace), at: "/proc", type: "proc", source: "proc", options: ["rw", "nosuid", "nodev", "noexec"])
        if spec.tmpfsAtTmp {
            let tmpCtx = filesystem(dev: 0x1a, name: "tmpfs")
            mount(DirectoryInode(context: tmpCtx, mode: 0o1777), at: "/tmp", type: "tmpfs", source: "tmpfs", options: ["rw", "nosuid", "nodev"])
        }
        for m in spec.mounts { try applyMount(m) }
        if let loopDevices {
            let fs = FileSystemID(dev: 0x16, name: "sysfs")
            // Over the directories the root has (the host's /sys for `joey do`); a root without
            // them (a small rootfs, an OCI container's empty sysfs) gains none.
            for (path, root) in SysBlock.mounts(loopDevices, fs: fs)
            where (try? resolve(ByteString(path), from: rootLocation, root: rootLocation, mounts: initialMounts, as: .sentry))?.inode.kind == .directory {
                mount(root, at: path, type: "sysfs", source: "sysfs", options: ["rw", "nosuid", "nodev", "noexec"])
            }
        }
        if spec.resolvableHostname && !spec.rootWritable && !spec.rootReadOnly { addHostsEntry() }
    }

    /// Up to the first MiB of a sandbox file (/etc/hosts, /etc/passwd), read by the sentry.
    private func firstMiB(of file: RegularFileInode) -> ArraySlice<UInt8> {
        var buffer = [UInt8](repeating: 0, count: Int(min(file.size, 1 << 20)))
        let n = buffer.withUnsafeMutableBytes { p -> Int in
            var dst = IOSequence.sentry(p)
            return (try? file.read(&dst, at: 0)) ?? 0
        }
        return buffer[..<n]
    }

    /// Appends "127.0.1.1 HOSTNAME" to the sandbox's copy of /etc/hosts if no line names it.
    private func addHostsEntry() {
        guard let etc = try? rootLocation.inode.lookup("etc"), let hosts = (try? etc.lookup("hosts")) as? RegularFileInode else { return }
        let bytes = firstMiB(of: hosts)
        let text = String(decoding: bytes, as: UTF8.self)
        let named = text.split(separator: "\n").contains { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            return !line.hasPrefix("#") && fields.dropFirst().contains { $0 == Substring(hostname) }
        }
        guard !named else { return }
        var line = Array((bytes.last.map { $0 != 10 } ?? false ? "\n" : "").utf8) + Array("127.0.1.1\t\(hostname)\n".utf8)
        line.withUnsafeMutableBytes { p in
            var src = IOSequence.sentry(p)
            _ = try? hosts.write(&src, at: UInt64(bytes.count))
        }
    }

    /// A filesystem of the sandbox (overlay root, tmpfs, bind mount): its identity, the host
    /// tree below it if any, and the MemoryFile and host-fd cache every filesystem shares.
    func filesystem(dev: UInt64, name: String, host: HostTree? = nil, writeThrough: Bool = false) -> OverlayContext {
        let ctx = OverlayContext(id: FileSystemID(dev: dev, name: name), host: host, writeThrough: writeThrough,
                                 memoryFile: memoryFile, hostFiles: hostFiles, kernel: self)
        if writeThrough { writeThroughFilesystems.append(ctx) }
        return ctx
    }

    /// Filesystems whose writes reach a host directory: sync(2) flushes them.
    var writeThroughFilesystems: [OverlayContext] = []

    /// Notes on mounts that were not applied as asked, for the operator.
    public private(set) var mountWarnings: [String] = []

    private func applyMount(_ m: MountSpec) throws(KernelError) {
        let opts = m.options
        if m.isBind {
            // The source is the operator's host path: symlinks in it are followed, as runc does.
            var st = stat()
            guard let real = realpath(m.source, nil).map({ p in defer { free(p) }; return String(cString: p) }),
                  stat(real, &st) == 0 else {
                throw KernelError("mount \(m.destination): source \(m.source): \(String(cString: strerror(errno)))")
            }
            // Read-write binds write through to the host path; read-only ones fail with EROFS.
            let kind = st.st_mode & S_IFMT
            if kind == S_IFDIR {
                let host = try HostTree(path: real)
                let ctx = filesystem(dev: 0x900 + UInt64(initialMounts.mounts.count), name: "bind", host: host, writeThrough: true)
                ctx.id.readOnly = m.readOnly
                guard let hst = host.lstat(""), let dir = ctx.lowerInode(path: "", st: hst) else {
                    throw KernelError("mount \(m.destination): cannot open \(m.source)")
                }
                mount(dir, at: m.destination, type: "bind", source: m.source, options: opts)
            } else {
                // A single file: a tree rooted at its directory exposes just that entry.
                let dirPath = PathComponents(s: real).deletingLastPathComponent
                let name = PathComponents(s: real).lastPathComponent
                let host = try HostTree(path: dirPath.isEmpty ? "/" : dirPath)
                let ctx = filesystem(dev: 0x900 + UInt64(initialMounts.mounts.count), name: "bind", host: host, writeThrough: true)
                ctx.id.readOnly = m.readOnly
                guard let hst = host.lstat(ByteString(name)), let file = ctx.lowerInode(path: ByteString(name), st: hst) else {
                    throw KernelError("mount \(m.destination): cannot open \(m.source)")
                }
                mount(file, at: m.destination, type: "bind", source: m.source, options: opts)
            }
            return
        }
        switch m.type {
        case "proc":
            if m.destination != "/proc" { mount(ProcFS.makeRoot(kernel: self, pidNS: rootPIDNamespace), at: m.destination, type: "proc", source: "proc", options: opts) }
        case "tmpfs":
            // /dev stays the sentry's devfs (it holds the devices a tmpfs there would be filled with).
            if m.destination == "/dev" { return }
            var mode: UInt32 = 0o1777
            if let o = m.options.first(where: { $0.hasPrefix("mode=") }), let v = UInt32(o.dropFirst(5), radix: 8) { mode = v & 0o7777 }
            let ctx = filesystem(dev: 0x1b + UInt64(initialMounts.mounts.count), name: "tmpfs")
            ctx.id.readOnly = m.readOnly
            if let o = m.options.first(where: { $0.hasPrefix("size=") }), let size = try? Kernel.tmpfsSize(String(o.dropFirst(5))), size > 0 {
                ctx.id.capacity = size
            }
            mount(DirectoryInode(context: ctx, mode: mode), at: m.destination, type: "tmpfs", source: m.source.isEmpty ? "tmpfs" : m.source, options: opts)
        case "devpts":
            if m.destination != "/dev/pts" { mountWarnings.append("mounts: devpts at \(m.destination) (only /dev/pts exists)") }
        case "mqueue":
            // The sandbox's IPC namespace's POSIX message queues (FS/MqueueFS.swift).
            let fs = FileSystemID(dev: 0x30 + UInt64(initialMounts.mounts.count), name: "mqueue")
            fs.readOnly = m.readOnly
            mount(MqueueDirectory(namespace: initialIPC, fs: fs), at: m.destination, type: "mqueue",
                  source: m.source.isEmpty ? "mqueue" : m.source, options: opts)
        case "sysfs", "cgroup", "cgroup2":
            // Empty, so paths under them fail as on a kernel without these filesystems' content.
            let ctx = filesystem(dev: 0x30 + UInt64(initialMounts.mounts.count), name: m.type)
            ctx.id.readOnly = true
            mount(DirectoryInode(context: ctx, mode: 0o555), at: m.destination, type: m.type, source: m.source.isEmpty ? m.type : m.source, options: opts)
            mountWarnings.append("mounts: \(m.type) at \(m.destination) is an empty directory (Joey has no \(m.type) yet)")
        default:
            mountWarnings.append("mounts: type \(m.type) at \(m.destination) is not supported and is ignored")
        }
    }

    /// Creates the missing directories above `path` (as runc does for mount points).
    private func makeParentDirectories(_ path: String) {
        var prefix = ""
        for part in path.split(separator: "/").dropLast() {
            prefix += "/" + part
            if let d = try? resolve(ByteString(prefix), from: rootLocation, root: rootLocation, mounts: initialMounts, as: .sentry), d.inode.kind == .directory { continue }
            guard let (parent, name) = try? resolveParent(ByteString(prefix), from: rootLocation, root: rootLocation, mounts: initialMounts, as: .sentry),
                  (try? parent.inode.create(name, kind: .directory, mode: 0o755, uid: 0, gid: 0)) != nil else { return }
        }
    }


    /// Mounts `root` over the directory at `path` (or, for a bind of a single host file, over
    /// the file), creating it and its parents in the upper layer if the lower tree lacks them.
    func mount(_ root: Inode, at path: String, type: String, source: String, options: [String]) {
        makeParentDirectories(path)
        let wantDirectory = root.kind == .directory
        let target: Location
        if let t = try? resolve(ByteString(path), from: rootLocation, root: rootLocation, mounts: initialMounts, as: .sentry),
           (t.inode.kind == .directory) == wantDirectory {
            target = t
        } else {
            guard let (parent, name) = try? resolveParent(ByteString(path), from: rootLocation, root: rootLocation, mounts: initialMounts, as: .sentry),
                  let created = try? parent.inode.create(name, kind: wantDirectory ? .directory : .regular,
                                                         mode: wantDirectory ? 0o755 : 0o644, uid: 0, gid: 0)
            else { return }
            target = Location(name: name, parent: parent, inode: created)
        }
        // relatime unless the options say noatime or strictatime, as path_mount defaults.
        var flags: MountFlags = [.relATime]
        var superOptions: [String] = []
        for o in options {
            if let (set, clear) = MountFlags.parse(o) { flags.subtract(clear); flags.formUnion(set) } else { superOptions.append(o) }
        }
        initialMounts.add(Mount(id: allocateMountID(), root: root, type: type, source: source,
                                flags: flags.intersection(.perMount), superOptions: superOptions.joined(separator: ",")), at: target)
    }

    func allocateMountID() -> Int { lastMountID += 1; return lastMountID }
    /// Namespace inode numbers start where Linux's do (PROC_DYNAMIC_FIRST).
    func allocateNamespaceIno() -> UInt64 { lastNamespaceIno += 1; return lastNamespaceIno }

    /// `wanted`: clone3's set_tid, a pid that must be free (EEXIST).
    func allocatePid(wanted: Int32? = nil) throws(LinuxErrno) -> Int32 {
        guard threads.count < taskLimit else { throw .EAGAIN }
        if let wanted {
            guard threads[wanted] == nil && threadGroups[wanted] == nil && heldPids[wanted] == nil else { throw .EEXIST }
            tasksCreated &+= 1
            return wanted
        }
        // Past pid_max numbers wrap to 300, as Linux's (the task limit keeps one free).
        func advance() { nextPid = nextPid >= PIDNamespace.pidMax - 1 ? 300 : nextPid + 1 }
        while threads[nextPid] != nil || threadGroups[nextPid] != nil || heldPids[nextPid] != nil { advance() }
        defer { advance(); tasksCreated &+= 1 }
        return nextPid
    }

    /// /proc/sys/kernel/ns_last_pid of `ns` (the root's when nil): the last number given out.
    func lastPid(in ns: PIDNamespace?) -> Int32 {
        if let ns, ns.level > 0 { return ns.lastPid }
        return max(0, nextPid - 1)
    }

    /// Writing ns_last_pid: the next task of `ns` gets the first free number after `pid`.
    func setLastPid(_ pid: Int32, in ns: PIDNamespace?) {
        if let ns, ns.level > 0 { ns.lastPid = pid; return }
        nextPid = pid >= PIDNamespace.pidMax - 1 ? 300 : pid + 1
    }

    /// The number of a new task in `ns`, with a number of its own in `ns` and each namespace
    /// between it and the root. `setTID` is clone3's set_tid: the numbers it must get, the
    /// innermost namespace's first.
    func allocateTask(in ns: PIDNamespace, setTID: [Int32] = []) throws(LinuxErrno) -> Int32 {
        guard !ns.dead else { throw .ENOMEM } // its init is gone (Linux: no PIDNS_ADDING)
        guard setTID.count <= ns.level + 1 else { throw .EINVAL }
        // A namespace's first task is its init: set_tid may only ask for 1 there.
        if ns.level > 0, ns.initGroup == nil, let first = setTID.first, first != 1 { throw .EINVAL }
        let global = try allocatePid(wanted: setTID.count == ns.level + 1 ? setTID.last : nil)
        var n: PIDNamespace? = ns
        var i = 0
        while let each = n, each.level > 0 {
            do { _ = try each.allocate(global, wanted: i < setTID.count ? setTID[i] : nil) } catch {
                releasePid(global, from: ns)
                throw error
            }
            i += 1
            n = each.parent
        }
        return global
    }

    /// Runs the sandbox: starts pid 1 and returns its wait status once it has exited and every
    /// host thread that ran a guest task is done. `beforeStart` runs once the program is
    /// loaded, before it executes its first instruction (OCI `create` waits there for
    /// `start`); an error it throws ends the sandbox without running the guest. `confine` runs
    /// after it, as the last thing before the first guest instruction (the sentry's
    /// confinement). `guestDone` gets the status as soon as pid 1 has exited and every guest
    /// task has finished its exit (its files closed, its shared mappings written back), before
    /// the platform's teardown of their address spaces: nothing the guest does can be seen
    /// after it (python3's teardown took 5 ms here).
    public func run(beforeStart: () throws(KernelError) -> Void = { () throws(KernelError) in },
                    confine: () throws(KernelError) -> Void = { () throws(KernelError) in },
                    guestDone: (Int32) -> Void = { _ in }) throws(KernelError) -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        var process = ProcessSpec(argv: spec.argv, env: spec.env)
        process.rawArgv = spec.rawArgv
        process.cwd = spec.cwd
        process.uid = spec.uid
        process.gid = spec.gid
        process.groups = spec.groups ?? [spec.gid]
        process.signalMask = spec.signalMask
        process.ignoredSignals = spec.ignoredSignals
        process.rlimits = spec.rlimits
        process.umask = spec.umask
        process.capabilities = spec.capabilities
        process.capabilityBounding = spec.capabilityBounding
        process.capabilityAmbient = spec.capabilityAmbient
        process.noNewPrivileges = spec.noNewPrivileges
        process.homeFromPasswd = spec.homeFromPasswd
        let passed = (0..<Int32(max(0, min(spec.preservedFDs, 1021)))).map { 3 + $0 }
        let (thread, programPath) = try createProcess(process, stdio: [0, 1, 2] + passed, pid1: true)
        let pid = thread.tid
        lock.unlock()
        do { try beforeStart(); try confine() } catch {
            lock.lock()
            threadGroups[pid] = nil
            threads[pid] = nil
            throw error
        }
        lock.lock()
        strace?.execve(thread, path: programPath, argv: spec.rawArgv ?? spec.argv.map { Array($0.utf8) }, envCount: spec.env.count)
        timekeeper.update()
        thread.start()
        startTimekeeper()
        startSignalForwarder()
        if let limit = spec.memoryLimit, !memoryFile.enforcesLimit {
            debugLog("memory limit kept by watching: \(memoryFile.limitProblem ?? "")")
            startMemoryWatcher(limit: limit)
        }
        // The debug summary is written before the caller hears: `joey do` ends (and its
        // sentry with it) once told.
        var told = false
        while runningThreads > 0 {
            if !told, let status = initExitStatus, threads.isEmpty {
                told = true
                if let counts = callCounts { debugLog(callSummary(counts)) }
                lock.unlock()
                guestDone(status)
                lock.lock()
                continue
            }
            shutdownWakeup.sleep(lock)
        }
        if !told {
            if let counts = callCounts { debugLog(callSummary(counts)) }
            guestDone(initExitStatus ?? 0)
        }
        return initExitStatus ?? 0
    }

    /// "faults: F (...); system calls: T trapped, P through N patched sites; trapped most:
    /// read 12, ...".
    private func callSummary(_ counts: [(trapped: UInt64, patched: UInt64)]) -> String {
        let trapped = counts.reduce(0) { $0 + $1.trapped }, patched = counts.reduce(0) { $0 + $1.patched }
        let most = counts.indices.filter { counts[$0].trapped > 0 }.sorted { counts[$0].trapped > counts[$1].trapped }.prefix(12)
        return "faults: \(faultsSeen) (copy-on-write, patched sites, the guest's own); "
            + "system calls: \(trapped) trapped, \(patched) through \(sitesPatched) patched sites; trapped most: "
            + most.map { "\(SyscallTable.name($0)) \(counts[$0].trapped)" }.joined(separator: ", ")
    }

    /// Starts another process in the running sandbox (OCI `exec`), with `stdio` (host fds,
    /// duplicated) as its fds 0-2 and no parent: `onExit` gets its wait status. Returns its pid.
    public func spawn(_ process: ProcessSpec, stdio: [Int32], onExit: @escaping (Int32) -> Void) throws(KernelError) -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        guard initExitStatus == nil, threadGroups[1] != nil else { throw KernelError("the container is not running") }
        let (thread, programPath) = try createProcess(process, stdio: stdio, pid1: false)
        thread.group.onExit = onExit
        strace?.execve(thread, path: programPath, argv: process.argv.map { Array($0.utf8) }, envCount: process.env.count)
        thread.start()
        return thread.tid
    }

    /// The guest's processes for `ps`: pid, parent pid, uid and command name.
    /// The live guest processes; `hostPid` is the host process running each (in the sentry's
    /// pid namespace; the sentry's own before its address space first ran).
    public func processList() -> [(pid: Int32, ppid: Int32, uid: UInt32, command: String, hostPid: Int32)] {
        lock.lock()
        defer { lock.unlock() }
        return threadGroups.values.filter { $0.exitStatus == nil }.sorted { $0.pid < $1.pid }.map { g in
            (g.pid, g.parent?.pid ?? 0, g.uid, g.comm, g.mm.space?.hostPid ?? getpid())
        }
    }

    /// CPU time of every guest process, live and reaped.
    public func cpuNanos() -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return threadGroups.values.reduce(0) { $0 &+ $1.cpuNanos() &+ ($1.parent == nil ? $1.childrenCPUNanos : 0) }
    }

    /// A terminal signal (^C, ^\\, ^Z) typed on the terminal of the session `pid` leads:
    /// to that session's foreground process group.
    public func signalForeground(session pid: Int32, _ sig: Int32) {
        lock.lock()
        defer { lock.unlock() }
        guard let leader = threadGroups[pid] else { return }
        signalProcessGroup(foregroundPgids[leader.sid] ?? leader.pgid, sig)
    }

    /// A signal from the kernel (SI_KERNEL) to every live process of group `pgid`. Kernel lock held.
    func signalProcessGroup(_ pgid: Int32, _ sig: Int32) {
        let info = SignalInfo(signo: sig, code: 0x80 /* SI_KERNEL */)
        for g in threadGroups.values where g.pgid == pgid && g.exitStatus == nil { g.sendSignal(sig, info: info) }
    }

    /// OCI `pause`: every guest thread stops before its next guest instruction (one running
    /// guest code is interrupted; one asleep in the sentry sleeps on) until `thaw`, as the
    /// cgroup freezer holds runc's processes. The guest is not told: no SIGCHLD, no stop
    /// state; signals stay pending, and SIGKILL still ends a process.
    public func freeze() {
        lock.lock()
        defer { lock.unlock() }
        frozen = true
        for t in threads.values where t.inGuest { t.context?.interrupt() }
    }

    /// OCI `resume`.
    public func thaw() {
        lock.lock()
        defer { lock.unlock() }
        frozen = false
        for t in threads.values { t.wakeup.wake() }
    }

    /// OCI `update`: the most tasks the sandbox may have (linux.resources.pids.limit).
    public func setTaskLimit(_ limit: Int) {
        lock.lock()
        defer { lock.unlock() }
        taskLimit = limit
    }

    /// The memory limit the sandbox was made with (it cannot change: the MemoryFile's size).
    public var memoryLimit: UInt64? { spec.memoryLimit }

    /// Signals every guest process (OCI `kill --all`).
    public func signalAll(_ sig: Int32) {
        lock.lock()
        defer { lock.unlock() }
        // As from the container's parent PID namespace: init ignores what it has no handler for.
        let info = SignalInfo(signo: sig, code: 0x80 /* SI_KERNEL */, fromOutside: false)
        for g in threadGroups.values where g.exitStatus == nil { g.sendSignal(sig, info: info) }
    }

    /// A new process with its first thread, program loaded, not yet started; `stdio` are the
    /// host fds it gets as fds 0, 1, 2, ... Returns it with the program's path (found in the
    /// guest's PATH when the name has no slash). Kernel lock held.
    private func createProcess(_ spec: ProcessSpec, stdio: [Int32], pid1: Bool) throws(KernelError) -> (GuestThread, String) {
        var process = spec
        guard !process.argv.isEmpty else { throw KernelError("joey: no program to run", exitCode: 127) }
        if process.homeFromPasswd && !process.env.contains(where: { $0.hasPrefix("HOME=") }) {
            process.env.append("HOME=" + home(of: process.uid))
        }
        let fs = FSContext(root: rootLocation, cwd: rootLocation, mounts: initialMounts)
        fs.umask = process.umask & 0o777
        if let cwd = try? resolve(ByteString(process.cwd), from: rootLocation, root: rootLocation, mounts: initialMounts, as: .sentry), cwd.inode.kind == .directory {
            fs.cwd = cwd
        } else if !pid1 {
            throw KernelError("joey: cwd \(process.cwd): no such directory in the container", exitCode: 1)
        }
        let pid: Int32
        do { pid = try allocatePid() } catch { throw KernelError("joey: the container has no free pid (pids limit)") }
        let group = ThreadGroup(kernel: self, pid: pid, parent: nil, mm: MemoryManager(memoryFile: memoryFile, addressSpaceEnd: platform.addressSpaceEnd),
                                fdTable: FDTable(), fs: fs)
        if pid1 { rootPIDNamespace.initGroup = group }
        group.uid = process.uid; group.gid = process.gid
        group.euid = process.uid; group.egid = process.gid
        group.suid = process.uid; group.sgid = process.gid
        group.fsuid = process.uid; group.fsgid = process.gid
        group.groups = process.groups
        group.capabilities = Capabilities.initial(uid: process.uid, given: process.capabilities,
                                                  bounding: process.capabilityBounding, ambient: process.capabilityAmbient)
        group.noNewPrivs = process.noNewPrivileges
        if let name = self.spec.sessionKeyring {
            keys.collectIfNeeded(self)
            // runc's init makes it searchable to its owner (ModKeyringPerm), so that an exec
            // finds it by name.
            if (try? group.joinSessionKeyring(named: Array(name.utf8))) != nil, pid1, let session = group.sessionKeyring {
                session.perm |= 0x0008_0000 // KEY_USR_SEARCH
            }
        }
        let tty = DeviceInode(.tty, major: 136, minor: 0, fs: devPts.fs)
        if pid1, controllingTerminal != nil {
            devPts.attachHostTerminal(0, tty) // so ttyname(3) finds the sandbox's terminal
        }
        let execTTY = DeviceInode(.tty, major: 136, minor: UInt64(pid), fs: devPts.fs)
        if !pid1, stdio.contains(where: { isatty($0) != 0 }) {
            devPts.attachHostTerminal(Int(pid), execTTY) // so ttyname(3) finds the exec'd process's terminal
        }
        for (guestFD, fd) in stdio.enumerated() {
            // The guest sees the stream's real status flags (access mode, O_APPEND, O_LARGEFILE...).
            let hostFlags = fcntl(fd, F_GETFL)
            let flags = hostFlags >= 0 ? hostFlags & ~O_NONBLOCK : (guestFD == 0 ? O_RDONLY : O_WRONLY)
            let hostFD = fcntl(fd, F_DUPFD_CLOEXEC, 0)
            guard hostFD >= 0 else { continue }
            let owner = OwnedHostFD(hostFD, kernel: self)
            // The guest sees what the stream really is: a terminal, a pipe or a file. An exec'd
            // process with a terminal has its own (pts numbered by its pid).
            let isTTY = isatty(fd) != 0
            let inode: Inode = !isTTY ? HostStreamInode(hostFD: owner, fs: pipeFS)
                : pid1 ? tty : execTTY
            let d = HostStreamDescription(inode: inode, hostFD: hostFD, owner: owner, flags: flags, kernel: self)
            d.path = ByteString(!isTTY ? "pipe:[\(hostFD)]" : pid1 ? "/dev/pts/0" : "/dev/pts/\(pid)")
            _ = try? group.fdTable.install(d, at: Int32(guestFD), closeOnExec: false)
        }
        for (r, v) in process.rlimits where r >= 0 && r < 16 && v.0 <= v.1 {
            group.rlimits[Int32(r)] = v
            if r == 7 { group.fdTable.limit = Int(min(v.0, 1024 * 1024)) }
        }
        let thread = GuestThread(kernel: self, tid: pid, group: group)
        thread.signalMask = process.signalMask & ~(1 << 8 | 1 << 18)
        for sig in 1..<65 where process.ignoredSignals & (1 << UInt64(sig - 1)) != 0 && sig != 9 && sig != 19 {
            group.actions[sig].handler = 1
        }
        threadGroups[pid] = group
        threads[pid] = thread
        // Load the program before starting: a missing or non-executable program is an
        // operator error with a clear message (exit 127 / 126), not a guest crash.
        let path: String
        do {
            path = try findProgram(process.argv[0], env: process.env)
            try thread.prepareExec(path: ByteString(path), argv: process.rawArgv ?? process.argv.map { Array($0.utf8) },
                                   envp: process.env.map { Array($0.utf8) })
        } catch let e {
            threadGroups[pid] = nil
            threads[pid] = nil
            // runc's wording, which docker and containerd turn into 127 and 126.
            let name = process.argv[0]
            let why = String(cString: strerror(e.rawValue)).lowercased()
            let missing = e == .ENOENT || e == .ENOTDIR
            let message = missing && !name.contains("/") ? "executable file not found in $PATH"
                : missing ? "stat \(name): \(why)" : why
            throw KernelError("joey: exec: \"\(name)\": \(message)", exitCode: missing ? 127 : 126)
        }
        return (thread, path)
    }

    /// The home directory /etc/passwd in the sandbox's root gives `uid`, or "/" (runc's
    /// fallback) when it names none.
    func home(of uid: UInt32) -> String {
        guard let loc = try? resolve(ByteString("/etc/passwd"), from: rootLocation, root: rootLocation, mounts: initialMounts, as: .sentry),
              let file = loc.inode as? RegularFileInode else { return "/" }
        for line in firstMiB(of: file).split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            guard fields.count >= 7, let id = UInt32(String(decoding: fields[2], as: UTF8.self)), id == uid,
                  !fields[5].isEmpty else { continue }
            return String(decoding: fields[5], as: UTF8.self)
        }
        return "/"
    }

    /// A command name without a slash is looked up in the guest's PATH, as a shell would.
    func findProgram(_ name: String, env: [String]) throws(LinuxErrno) -> String {
        if name.contains("/") { return name }
        let pathVar = env.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) }
            ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in pathVar.split(separator: ":") {
            let candidate = dir + "/" + name
            if let loc = try? resolve(ByteString(candidate), from: rootLocation, root: rootLocation, mounts: initialMounts, as: .sentry), loc.inode.kind == .regular {
                return candidate
            }
        }
        throw .ENOENT
    }

    /// Signals the host sends the sentry become guest signals: terminal interrupts go to the
    /// foreground process group, termination requests to pid 1. They come from outside the
    /// sandbox, so pid 1 gets them even without a handler (as from a parent pid namespace).
    public static func blockForwardedSignals(all: Bool = false) {
        var set = forwardedSignals(all: all)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// The host signals the forwarder takes: terminal and termination signals, or (for an OCI
    /// container) every signal that is not the sentry's own business.
    static func forwardedSignals(all: Bool) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        if all {
            for s in Int32(1)...64 where ![SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS,
                                            SIGCHLD, SIGPIPE, SIGURG, SIGPROF, SIGVTALRM].contains(s) && (s < 32 || s >= 34) {
                sigaddset(&set, s)
            }
        } else {
            for s in [SIGINT, SIGQUIT, SIGTSTP, SIGTERM, SIGHUP] { sigaddset(&set, s) }
        }
        return set
    }

    private func startSignalForwarder() {
        startServiceThread { k in
            let all = k.spec.forwardAllSignalsToInit
            var set = Kernel.forwardedSignals(all: all)
            while true {
                var sig: Int32 = 0
                guard sigwait(&set, &sig) == 0 else { continue }
                k.lock.lock()
                // `joey do` ends its program on TERM/HUP whatever it handles (the user means the
                // program); an OCI container's init, like Linux's, only takes signals it handles
                // (its runtime escalates to SIGKILL, which ends the sentry).
                let info = SignalInfo(signo: sig, code: 0x80 /* SI_KERNEL */, fromOutside: !all)
                let terminalSignal = sig == SIGINT || sig == SIGQUIT || sig == SIGTSTP
                if terminalSignal && (!all || k.controllingTerminal != nil) {
                    let initSid = k.threadGroups[1]?.sid ?? 1
                    let fg = k.foregroundPgids[initSid] ?? k.threadGroups[1]?.pgid ?? 1
                    for g in k.threadGroups.values where g.pgid == fg { g.sendSignal(sig, info: info) }
                } else {
                    k.threadGroups[1]?.sendSignal(sig, info: info)
                }
                k.lock.unlock()
            }
        }
    }

    /// Keeps the vDSO's clocks current until the sandbox ends.
    private func startTimekeeper() {
        startServiceThread { k in
            while true {
                k.timekeeper.sleepUntilNext()
                k.lock.lock()
                let over = k.initExitStatus != nil
                // The sandbox's clock discipline runs its seconds; a leap second is a step of
                // the clock like any other.
                let leap = WallClock.advance()
                if leap != 0 { k.clockWasSet(by: leap) }
                k.lock.unlock()
                if over { return }
                k.timekeeper.update()
                k.debugLog("timekeeper: corrected \(k.timekeeper.lastError) ns; next update in \(k.timekeeper.interval / 1_000_000) ms")
            }
        }
    }

    /// One step of the OOM killer, for a page the memory limit refused (a guest's fault, a
    /// safe copy of the sentry's): the process with the most resident private memory not
    /// already chosen is killed, and the private memory only it holds is released at once, as
    /// Linux's oom_reaper does, so the caller can try again without waiting for it to exit.
    /// The victim's mappings stay (its threads may still run until the kill reaches them; a
    /// page they touch is a fresh zero page), so no pointer a caller holds goes stale. False
    /// when no process is left to choose, or when the caller's own process is already dying
    /// (its copy stops there: it must not go on to cost another process its life). Kernel
    /// lock held.
    func reclaimMemory() -> Bool {
        if let me = GuestThread.onThisHostThread, me.killed || me.group.oomKilled || me.group.exiting { return false }
        let victim = threadGroups.values.filter { $0.exitStatus == nil && !$0.exiting && !$0.oomKilled && $0.oomScoreAdj > -1000 }
            .map { ($0, oomBadness($0)) }.max { $0.1 < $1.1 }?.0
        guard let victim else { return false }
        debugLog("memory limit \(memoryFile.limit ?? 0) bytes reached: killing pid \(victim.pid) (out of memory)")
        victim.oomKilled = true
        victim.sendSignal(Signal.SIGKILL, info: SignalInfo(signo: Signal.SIGKILL, code: 0x80))
        // Memory another process shares (a vfork child's, CLONE_VM) is left for the exit.
        guard !threadGroups.values.contains(where: { $0 !== victim && $0.mm === victim.mm && $0.exitStatus == nil }) else { return true }
        for v in victim.mm.vmas where !v.shared && v.pages == nil {
            // Pages shared copy-on-write with another process are that process's data too.
            guard let block = v.block, block.sharers.load(ordering: .relaxed) == 1 else { continue }
            memoryFile.zero(v.fileStart, length: v.end - v.start)
        }
        return true
    }

    /// The pages the OOM killer counts the process at (oom_badness): its resident private
    /// memory, plus oom_score_adj thousandths of all the memory it could have (the limit, or
    /// the machine's).
    func oomBadness(_ g: ThreadGroup) -> Int {
        Int(g.residentPrivateBytes() / 4096) + g.oomScoreAdj * oomTotalPages / 1000
    }

    private var oomTotalPages: Int {
        if let limit = memoryFile.limit { return Int(limit / 4096) }
        var total: UInt64 = 0, free: UInt64 = 0
        joey_meminfo(&total, &free)
        return Int(total / 4096)
    }

    /// /proc/PID/oom_score: its badness scaled to 0...2000 (0 for one never chosen).
    func oomScore(_ g: ThreadGroup) -> Int {
        guard g.oomScoreAdj > -1000 else { return 0 }
        return max(0, 1000 + oomBadness(g) * 1000 / max(1, oomTotalPages))
    }

    /// A file's page cache shrank (truncate, ftruncate, O_TRUNC): in every address space, its
    /// MAP_SHARED mappings' pages wholly past the new end are unmapped at once, so any thread
    /// touching them gets SIGBUS, as Linux's truncate_pagecache gives. Kernel lock held.
    func unmapPastEnd(of pages: FilePages) {
        var done = Set<ObjectIdentifier>()
        for g in threadGroups.values where done.insert(ObjectIdentifier(g.mm)).inserted {
            if g.mm.fileShrank(pages) { g.catchUpAddressSpace() }
        }
    }

    /// A guest thread's page was refused at the memory limit: the OOM killer makes room, or,
    /// when every process has been chosen already, the thread waits (kernel lock released) up to
    /// 200 ms for one to go. Then the access is tried again. Kernel lock held.
    func outOfMemory(_ t: GuestThread) {
        if t.killed || t.group.oomKilled || t.group.exiting { return } // it goes: nothing to make room for
        if reclaimMemory() { return }
        let dying = { self.threadGroups.values.filter { $0.oomKilled && $0.exitStatus == nil }.count }
        let before = dying()
        var waited = 0
        while before > 0, waited < 200, !t.killed, !t.group.exiting, dying() >= before {
            lock.unlock()
            usleep(1_000)
            lock.lock()
            waited += 1
        }
    }

    /// Keeps the memory limit where the host cannot (MemoryFile.enforcesLimit is false): the
    /// MemoryFile's resident size is checked every 5 ms, and when it is over the limit the
    /// process with the most private memory is killed.
    private func startMemoryWatcher(limit: UInt64) {
        // Guest pages are the host's as soon as they are touched, without the sentry seeing
        // it, so the limit is kept by watching: every 5 ms (fstat of the MemoryFile is cheap).
        // Over it, every guest thread is held in the sentry (memoryPressure: none touches
        // more), the largest processes are killed, as many as the excess needs (many processes
        // allocating at once must not outrun one kill at a time), and once they are gone the
        // others go on.
        startServiceThread { k in
            while true {
                usleep(5_000)
                var used = k.memoryFile.residentBytes()
                guard used > limit else { continue }
                k.lock.lock()
                if k.initExitStatus != nil { k.lock.unlock(); return }
                k.memoryPressure = true
                for t in k.threads.values where t.inGuest { t.context?.interrupt() }
                let candidates = k.threadGroups.values.filter { $0.exitStatus == nil && !$0.exiting }
                    .map { ($0, $0.privateMemoryBytes()) }.sorted { $0.1 > $1.1 }
                var victims: [ThreadGroup] = []
                for (g, bytes) in candidates {
                    k.debugLog("memory limit \(limit) bytes exceeded (\(used) in use): killing pid \(g.pid) (out of memory)")
                    g.sendSignal(Signal.SIGKILL, info: SignalInfo(signo: Signal.SIGKILL, code: 0x80))
                    victims.append(g)
                    if bytes >= used - limit { break }
                    used -= bytes
                }
                k.lock.unlock()
                // Until the victims' memory is released (their exit frees it), at most 100 ms.
                for _ in 0..<50 {
                    usleep(2_000)
                    k.lock.lock()
                    let gone = victims.allSatisfy { $0.exitStatus != nil }
                    k.lock.unlock()
                    if gone { break }
                }
                k.lock.lock()
                k.memoryPressure = false
                for t in k.threads.values where t.heldForMemory { t.wakeup.wake() }
                k.lock.unlock()
            }
        }
    }

    /// Set by the memory watcher while the sandbox is over its limit: guest threads wait in
    /// the sentry instead of returning to guest code.
    var memoryPressure = false

    /// Runs `body` on a detached host thread of its own: the sentry's service threads (signal
    /// forwarder, timekeeper, alarm and memory watchers), which hold the kernel for as long as they run.
    func startServiceThread(_ body: @escaping (Kernel) -> Void) {
        detachThread { [self] in body(self) }
    }

    /// Ends every guest task (pid 1 exited).
    func killAll() {
        for t in threads.values { t.kill() }
    }

    /// Runs `body`, a host call that may take long (a read that waits for the disk, an
    /// fsync), with the kernel lock released so the sandbox's other threads go on; the
    /// caller is the current thread again afterwards. `body` must touch no kernel state and
    /// no guest memory: it works on host fds it owns and on sentry buffers.
    func unlockedHostCall<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let me = current
        lock.unlock()
        defer {
            lock.lock()
            current = me
        }
        return try body()
    }

    /// Between pieces of long work done with the kernel lock held: lets a thread waiting for
    /// the lock have it once (KernelLock.yieldToWaiter); the caller is the current thread again
    /// afterwards. True when the lock was let go (kernel state may have changed).
    func yieldLock() -> Bool {
        let me = current
        guard lock.yieldToWaiter() else { return false }
        current = me
        return true
    }

    /// The last guest thread is gone: the sandbox's own threads wind down. Kernel lock held.
    func lastThreadExited() {
        shutdownWakeup.wake()
        alarmWakeup.wake()
    }

    func reportUnimplemented(_ nr: Int) {
        if unimplementedReported.insert(nr).inserted {
            debugLog("unimplemented syscall \(SyscallTable.name(nr)) (\(nr)): returning ENOSYS")
        }
    }
}

extension KernelError {
    public init(_ message: String, exitCode: Int32) {
        self.init(message)
        self.exitCode = exitCode
    }
}

/// The directory and last component of a path (the kernel target does not import Foundation).
struct PathComponents {
    let s: String
    var deletingLastPathComponent: String {
        guard let i = s.lastIndex(of: "/") else { return "" }
        return i == s.startIndex ? "/" : String(s[..<i])
    }
    var lastPathComponent: String {
        guard let i = s.lastIndex(of: "/") else { return s }
        return String(s[s.index(after: i)...])
    }
}

/// Runs `body` on a new detached host thread.
public func detachThread(_ body: @escaping () -> Void) {
    final class Start {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Start(body))
    var th = pthread_t()
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    joey_attr_allowed_cpus(&attr) // not on the creator's home CPU
    pthread_create(&th, &attr, { arg in
        Unmanaged<Start>.fromOpaque(arg!).takeRetainedValue().body()
        return nil
    }, box.toOpaque())
    pthread_attr_destroy(&attr)
    pthread_detach(th)
}
