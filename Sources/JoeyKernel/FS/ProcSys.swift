// /proc/sys: the tunables (Linux's sysctl tables) of the kernel the guest runs on, the
// sentry's. Each file reads as Linux shows it. Those whose value the sentry applies take a
// write from the sandbox's root: proc_sys_permission's rule is the writer's euid 0, not a
// capability; a write is parsed as proc_dointvec/proc_dostring parse it (at file position 0
// only, as with sysctl_writes_strict), with Linux's ranges and EINVAL outside them. Where a
// value bounds what the sentry keeps in its own memory (outside the sandbox's memory limit),
// raising it past the sentry's default is EINVAL too.
//
// Whose value: IPC and UTS tunables are the writer's namespace's, as on Linux; the rest are
// the sandbox's own (Kernel.tunables: Linux's globals and its one network namespace), so no
// write ever reaches the host. Under --network=host the net files show the host's values
// (the guest's sockets are host sockets) and are read-only. OCI's linux.sysctl sets them
// through the same table at start (Kernel.setSysctl). Kernel lock held.
import Glibc
import JoeyABI
import JoeyPlatform

/// The sandbox's tunables that are not namespaced (Linux's globals; the network's are each
/// network namespace's, Net/NetworkNamespace.swift).
struct Tunables {
    /// fs.nr_open: the most fds a table may hold (RLIMIT_NOFILE's ceiling); 1 << 20 is also
    /// the sentry's bound (an fd table is an array).
    var nrOpen = 1 << 20
    /// fs.pipe-max-size: the largest F_SETPIPE_SZ without CAP_SYS_RESOURCE (1 MiB is also the
    /// sentry's bound for anyone).
    var pipeMaxSize = 1 << 20
    /// fs.pipe-user-pages-soft and -hard: pipe pages a user may hold (0: no limit).
    var pipeUserPagesSoft = 16384, pipeUserPagesHard = 0
    /// vm.max_map_count as written (any int from 0, as Linux takes it), and the limit applied:
    /// at most mapCountCeiling. A guest that asks for more (LTP's munmap04 sets 65530,
    /// Elasticsearch's bootstrap check wants 262144) is not refused, and meets ENOMEM at the
    /// ceiling as it would at a lower value.
    var maxMapCount = Tunables.mapCountCeiling
    var mapCountLimit: Int { min(maxMapCount, Tunables.mapCountCeiling) }
    /// fs.inotify.*: Linux's defaults (max_user_watches is RAM-dependent there); the sentry's
    /// bound on watches and queued events is 1 << 20.
    var inotifyMaxUserInstances = 128, inotifyMaxUserWatches = 65536, inotifyMaxQueuedEvents = 16384
    /// fs.lease-break-time: seconds a lease holder has to let go (FS/FileLeases.swift);
    /// fs.leases-enable: 0 refuses new leases.
    var leaseBreakTime = 45, leasesEnable = 1
    /// kernel.printk: the console log level, the default message level, the least console
    /// level and the default console level (Linux's built-in defaults); syslog(2)'s console
    /// actions change the first (CONSOLE_OFF keeps it in savedConsoleLevel).
    var printk = [7, 4, 1, 7]
    /// kernel.core_pattern and kernel.core_uses_pid: how a core file is named (Task/CoreDump.swift).
    var corePattern = "core", coreUsesPID = 0
    var savedConsoleLevel: Int?
    /// kernel.dmesg_restrict: 1 reserves reading the kernel log to CAP_SYSLOG.
    var dmesgRestrict = 1
    /// fs.protected_symlinks, _hardlinks, _regular, _fifos: what path walks, linkat and O_CREAT
    /// opens refuse in sticky world-writable directories (VFS/PathResolution.swift,
    /// Syscalls/FileSyscalls.swift). The host's values at start: a container sees those.
    var protectedSymlinks = Tunables.host("fs/protected_symlinks"), protectedHardlinks = Tunables.host("fs/protected_hardlinks")
    var protectedRegular = Tunables.host("fs/protected_regular"), protectedFifos = Tunables.host("fs/protected_fifos")
    /// fs.suid_dumpable: what a process becomes when its ids change or it runs a set-user-ID
    /// or unreadable program (0 not dumpable, 2 dumpable by root only); the host's at start.
    var suidDumpable = Tunables.host("fs/suid_dumpable")
    /// user.max_user_namespaces: user namespaces alive below the initial one (Linux counts
    /// them per user and namespace; the sandbox counts them all, within the sentry's bound).
    var maxUserNamespaces = Tunables.userNamespaceCeiling
    /// fs.aio-max-nr: the most AIO events the sandbox's contexts may ask for at once (Linux's
    /// default); their rings are the sandbox's memory.
    var aioMaxNr = 65536
    static let userNamespaceCeiling = 1024

    /// A host tunable's number (0 if unreadable).
    static func host(_ name: String) -> Int {
        Int(String(decoding: HostProc.read("sys/" + name), as: UTF8.self).prefix { $0 != "\n" }) ?? 0
    }

    /// The sentry's bound on tunables that size what it keeps in its own memory.
    static let sentryBound = 1 << 20

    /// The most mappings an address space may hold: the sentry's bound (MemoryManager.maxMappings),
    /// and below the host's own vm.max_map_count, which bounds the stub process that realizes
    /// each guest mapping as one of its own (256 left for the stub's code, request pages and
    /// stacks). Past the host's limit the host refuses a change the sentry already made, and
    /// the process could not run; below it the guest gets mmap's ENOMEM, as on Linux.
    static let mapCountCeiling: Int = {
        let text = String(decoding: HostProc.read("sys/vm/max_map_count"), as: UTF8.self)
        guard let host = Int(text.prefix { $0 != "\n" }) else { return MemoryManager.maxMappings }
        return max(1024, min(MemoryManager.maxMappings, host - 256))
    }()
}

/// One /proc/sys file: what it shows, and for a tunable the sentry applies, how a write sets it.
struct Sysctl {
    enum Setter {
        /// proc_dointvec and friends: up to `count` numbers (a shorter write leaves the rest).
        case numbers(count: Int, (Kernel, ThreadGroup?, [Sysctl.Number]) throws(LinuxErrno) -> Void)
        /// proc_dostring: the text up to the first newline, cut at `max` bytes.
        case text(max: Int, (Kernel, ThreadGroup?, String) throws(LinuxErrno) -> Void)
    }
    /// A number as written: its sign apart (proc_get_long), to be converted by the setter.
    struct Number {
        let negative: Bool
        let magnitude: UInt64
        /// An int (do_proc_dointvec_conv: EINVAL outside Int32).
        func int() throws(LinuxErrno) -> Int {
            if negative { guard magnitude <= UInt64(Int32.max) + 1 else { throw .EINVAL }; return -Int(magnitude) }
            guard magnitude <= UInt64(Int32.max) else { throw .EINVAL }
            return Int(magnitude)
        }
        /// An int within [low, high] (proc_dointvec_minmax).
        func int(_ low: Int, _ high: Int) throws(LinuxErrno) -> Int {
            let v = try int()
            guard v >= low, v <= high else { throw .EINVAL }
            return v
        }
    }

    let show: (Kernel, ThreadGroup?) -> String
    let set: Setter?
    /// Mode 0666: anyone opens it for writing, and the setter checks a capability instead
    /// (ns_last_pid's checkpoint_restore_ns_capable).
    var openToAll = false
    /// Who else may open it for writing though its mode says 0444 (ipc_permissions: the
    /// IPC namespace's checkpoint restorers for the next-id files).
    var writers: ((Kernel, ThreadGroup) -> Bool)?

    init(_ show: @escaping (Kernel, ThreadGroup?) -> String, set: Setter? = nil, openToAll: Bool = false,
         writers: ((Kernel, ThreadGroup) -> Bool)? = nil) {
        self.show = show; self.set = set; self.openToAll = openToAll; self.writers = writers
    }

    /// A read-only file showing a fixed or computed number.
    static func value(_ v: @escaping (Kernel) -> Int) -> Sysctl { Sysctl({ k, _ in "\(v(k))\n" }) }

    /// An int tunable of the sandbox within [low, high].
    static func int(_ key: WritableKeyPath<Tunables, Int>, _ low: Int, _ high: Int) -> Sysctl {
        Sysctl({ k, _ in "\(k.tunables[keyPath: key])\n" }, set: .numbers(count: 1) { k, _, n throws(LinuxErrno) in
            k.tunables[keyPath: key] = try n[0].int(low, high)
        })
    }

    /// Applies a write's bytes: numbers parsed as proc_get_long does (C's strtoul, base 0,
    /// an optional minus; each followed by white space or the end), text up to a newline.
    /// Returns the bytes taken: all of a text; of numbers, up to the white space after the
    /// last one read (what follows is left, as __do_proc_dointvec leaves it).
    func write(_ bytes: [UInt8], kernel: Kernel, group: ThreadGroup?) throws(LinuxErrno) -> Int {
        guard let set else { throw .EACCES }
        switch set {
        case .text(let max, let apply):
            let line = bytes.prefix { $0 != 0x0a && $0 != 0 }.prefix(max)
            try apply(kernel, group, String(decoding: line, as: UTF8.self))
            return bytes.count
        case .numbers(let count, let apply):
            var numbers: [Number] = []
            var i = 0
            let space: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0a }
            while numbers.count < count {
                while i < bytes.count && space(bytes[i]) { i += 1 }
                guard i < bytes.count else { break }
                numbers.append(try Self.number(bytes, &i))
                guard i == bytes.count || space(bytes[i]) else { throw .EINVAL }
            }
            guard !numbers.isEmpty else { throw .EINVAL }
            while i < bytes.count && space(bytes[i]) { i += 1 }
            try apply(kernel, group, numbers)
            return i
        }
    }

    /// One number at `i` (strtoul's base 0: 0x hexadecimal, a leading 0 octal); EINVAL when
    /// there is none or it does not fit 64 bits.
    static func number(_ b: [UInt8], _ i: inout Int) throws(LinuxErrno) -> Number {
        var negative = false
        if b[i] == 0x2d { negative = true; i += 1 }
        var base: UInt64 = 10
        if i < b.count && b[i] == 0x30 {
            base = 8
            if i + 2 < b.count && (b[i + 1] | 0x20) == 0x78 && hexDigit(b[i + 2]) != nil { base = 16; i += 2 }
        }
        var value: UInt64 = 0, digits = 0
        while i < b.count, let d = hexDigit(b[i]), d < base {
            let (m, o1) = value.multipliedReportingOverflow(by: base)
            let (s, o2) = m.addingReportingOverflow(d)
            guard !o1 && !o2 else { throw .EINVAL }
            value = s; digits += 1; i += 1
        }
        guard digits > 0 else { throw .EINVAL }
        return Number(negative: negative, magnitude: value)
    }

    private static func hexDigit(_ c: UInt8) -> UInt64? {
        switch c {
        case 0x30...0x39: return UInt64(c - 0x30)
        case 0x61...0x66: return UInt64(c - 0x61 + 10)
        case 0x41...0x46: return UInt64(c - 0x41 + 10)
        default: return nil
        }
    }
}

extension Sysctl {
    /// Every /proc/sys file, by its path under /proc/sys.
    nonisolated(unsafe) static let table: [String: Sysctl] = {
        var t: [String: Sysctl] = [:]
        let uts = { (k: Kernel, g: ThreadGroup?) in g?.uts ?? k.initialUTS }
        let ipc = { (k: Kernel, g: ThreadGroup?) in g?.ipc ?? k.initialIPC }
        // __NEW_UTS_LEN: a longer name is cut, as proc_dostring cuts it.
        t["kernel/hostname"] = Sysctl({ k, g in uts(k, g).hostname + "\n" }, set: .text(max: 64) { k, g, s in uts(k, g).hostname = s })
        t["kernel/domainname"] = Sysctl({ k, g in uts(k, g).domainname + "\n" }, set: .text(max: 64) { k, g, s in uts(k, g).domainname = s })
        t["kernel/osrelease"] = Sysctl({ _, _ in Kernel.release + "\n" })
        t["kernel/ostype"] = Sysctl({ _, _ in "Linux\n" })
        t["kernel/version"] = Sysctl({ _, _ in Kernel.version + "\n" }) // uname's version
        t["kernel/pid_max"] = Sysctl.value { _ in 4_194_304 }
        t["kernel/ngroups_max"] = Sysctl.value { _ in 65536 }
        // The caller's pid namespace's last pid: written (with CAP_SYS_ADMIN or
        // CAP_CHECKPOINT_RESTORE), the next task there gets the first free number after it.
        t["kernel/ns_last_pid"] = Sysctl({ k, g in "\(k.lastPid(in: g?.pidNS))\n" }, set: .numbers(count: 1) { k, g, n throws(LinuxErrno) in
            if let g, !g.capable(21, in: g.pidNS.owner), !g.capable(40, in: g.pidNS.owner) { throw .EPERM }
            let pid = try n[0].int(0, Int(PIDNamespace.pidMax))
            k.setLastPid(Int32(pid), in: g?.pidNS)
        }, openToAll: true)
        // The ids an id with no number in a user namespace shows as there (read-only here).
        for name in ["kernel/overflowuid", "kernel/overflowgid", "fs/overflowuid", "fs/overflowgid"] {
            t[name] = Sysctl.value { _ in Int(UserNamespace.overflowID) }
        }
        t["kernel/cap_last_cap"] = Sysctl.value { _ in Int(Capabilities.lastCap) }
        t["user/max_user_namespaces"] = .int(\.maxUserNamespaces, 0, Tunables.userNamespaceCeiling)
        t["kernel/printk"] = Sysctl({ k, _ in k.tunables.printk.map(String.init).joined(separator: "\t") + "\n" },
                                    set: .numbers(count: 4) { k, _, n throws(LinuxErrno) in
            var v = k.tunables.printk
            for i in n.indices { v[i] = try n[i].int() }
            k.tunables.printk = v
        })
        // proc_dointvec_minmax_sysadmin: 0 or 1, and only with CAP_SYS_ADMIN.
        t["kernel/dmesg_restrict"] = Sysctl({ k, _ in "\(k.tunables.dmesgRestrict)\n" }, set: .numbers(count: 1) { k, g, n throws(LinuxErrno) in
            guard g?.capable(21, in: .initial) ?? true else { throw .EPERM }
            k.tunables.dmesgRestrict = try n[0].int(0, 1)
        })
        // Where core dumps go (Task/CoreDump.swift): "core" in the working directory.
        // CORENAME_MAX_SIZE: 128 bytes with the NUL.
        t["kernel/core_pattern"] = Sysctl({ k, _ in k.tunables.corePattern + "\n" }, set: .text(max: 127) { k, _, s in k.tunables.corePattern = s })
        t["kernel/core_uses_pid"] = Sysctl.int(\.coreUsesPID, Int(Int32.min), Int(Int32.max))
        t["kernel/tainted"] = Sysctl.value { _ in 0 }

        // System V IPC limits of the namespace (FS/SysV*.swift), with proc_ipc's ranges;
        // IPCMNI bounds the counts of objects.
        let ipcmni = 32768
        t["kernel/shmmax"] = Sysctl({ k, g in "\(ipc(k, g).sharedMemory.maxSize)\n" }, set: .numbers(count: 1) { k, g, n in
            if !n[0].negative { ipc(k, g).sharedMemory.maxSize = n[0].magnitude } // proc_doulongvec skips negatives
        })
        t["kernel/shmall"] = Sysctl({ k, g in "\(ipc(k, g).sharedMemory.maxTotalPages)\n" }, set: .numbers(count: 1) { k, g, n in
            if !n[0].negative { ipc(k, g).sharedMemory.maxTotalPages = n[0].magnitude }
        })
        t["kernel/shmmni"] = Sysctl({ k, g in "\(ipc(k, g).sharedMemory.maxSegments)\n" }, set: .numbers(count: 1) { k, g, n throws(LinuxErrno) in
            ipc(k, g).sharedMemory.maxSegments = try n[0].int(0, ipcmni)
        })
        t["kernel/msgmax"] = Sysctl({ k, g in "\(ipc(k, g).messageQueues.maxMessage)\n" }, set: .numbers(count: 1) { k, g, n throws(LinuxErrno) in
            ipc(k, g).messageQueues.maxMessage = try n[0].int(0, Int(Int32.max))
        })
        t["kernel/msgmnb"] = Sysctl({ k, g in "\(ipc(k, g).messageQueues.maxQueueBytes)\n" }, set: .numbers(count: 1) { k, g, n throws(LinuxErrno) in
            ipc(k, g).messageQueues.maxQueueBytes = try n[0].int(0, Int(Int32.max))
        })
        t["kernel/msgmni"] = Sysctl({ k, g in "\(ipc(k, g).messageQueues.maxQueues)\n" }, set: .numbers(count: 1) { k, g, n throws(LinuxErrno) in
            ipc(k, g).messageQueues.maxQueues = try n[0].int(0, ipcmni)
        })
        // The id the namespace's next msgget (semget, shmget) gives, once (CHECKPOINT_RESTORE):
        // -1 for none; writable by CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE over the namespace.
        let nextID = { (name: String, ids: ReferenceWritableKeyPath<IPCNamespace, IPCIDs>) in
            t["kernel/" + name] = Sysctl({ k, g in "\(ipc(k, g)[keyPath: ids].requested)\n" }, set: .numbers(count: 1) { k, g, n throws(LinuxErrno) in
                ipc(k, g)[keyPath: ids].requested = Int32(try n[0].int(-1, Int(Int32.max)))
            }, writers: { k, g in let owner = ipc(k, g).owner; return g.capable(21, in: owner) || g.capable(40, in: owner) })
        }
        nextID("msg_next_id", \.messageQueues.ids); nextID("sem_next_id", \.semaphores.ids); nextID("shm_next_id", \.sharedMemory.ids)
        // SEMMSL SEMMNS SEMOPM SEMMNI; SEMMNS past the sandbox's bound on semaphores is EINVAL.
        t["kernel/sem"] = Sysctl({ k, g in
            let s = ipc(k, g).semaphores
            return "\(s.maxPerSet)\t\(s.maxCells)\t\(s.maxOps)\t\(s.maxSets)\n"
        }, set: .numbers(count: 4) { k, g, n throws(LinuxErrno) in
            let s = ipc(k, g).semaphores
            var v = [s.maxPerSet, s.maxCells, s.maxOps, s.maxSets]
            for i in n.indices { v[i] = try n[i].int() }
            guard v[3] >= 0, v[3] <= ipcmni, v[1] <= SemaphoreRegistry.maxTotalCells else { throw .EINVAL }
            (s.maxPerSet, s.maxCells, s.maxOps, s.maxSets) = (v[0], v[1], v[2], v[3])
        })
        // The random driver's: boot_id fixed for the sandbox, uuid new at each open; the pool
        // figures are what Linux 5.18 and later always show (the pool is the host's, ready).
        t["kernel/random/boot_id"] = Sysctl({ k, _ in k.bootID + "\n" })
        t["kernel/random/uuid"] = Sysctl({ _, _ in Kernel.randomUUID() + "\n" })
        t["kernel/random/entropy_avail"] = Sysctl.value { _ in DeviceDescription.entropyBits }
        t["kernel/random/poolsize"] = Sysctl.value { _ in DeviceDescription.entropyBits }
        t["kernel/random/write_wakeup_threshold"] = Sysctl.value { _ in 256 }
        t["kernel/random/urandom_min_reseed_secs"] = Sysctl.value { _ in 60 }

        // POSIX message queue limits of the namespace, with mq_sysctl's ranges.
        let mq = { (k: Kernel, g: ThreadGroup?) in ipc(k, g).posixMessageQueues }
        t["fs/mqueue/queues_max"] = Sysctl({ k, g in "\(mq(k, g).queuesMax)\n" }, set: .numbers(count: 1) { k, g, n throws(LinuxErrno) in
            mq(k, g).queuesMax = try n[0].int(0, 1024) // HARD_QUEUESMAX
        })
        t["fs/mqueue/msg_max"] = Sysctl({ k, g in "\(mq(k, g).msgMax)\n" }, set: .numbers(count: 1) { k, g, n throws(LinuxErrno) in
            mq(k, g).msgMax = try n[0].int(1, PosixMessageQueue.hardMsgMax)
        })
        t["fs/mqueue/msgsize_max"] = Sysctl({ k, g in "\(mq(k, g).msgsizeMax)\n" }, set: .numbers(count: 1) { k, g, n throws(LinuxErrno) in
            mq(k, g).msgsizeMax = try n[0].int(128, PosixMessageQueue.hardMsgsizeMax)
        })
        t["fs/mqueue/msg_default"] = Sysctl({ k, g in "\(mq(k, g).msgDefault)\n" }, set: .numbers(count: 1) { k, g, n throws(LinuxErrno) in
            mq(k, g).msgDefault = try n[0].int(1, PosixMessageQueue.hardMsgMax)
        })
        t["fs/mqueue/msgsize_default"] = Sysctl({ k, g in "\(mq(k, g).msgsizeDefault)\n" }, set: .numbers(count: 1) { k, g, n throws(LinuxErrno) in
            mq(k, g).msgsizeDefault = try n[0].int(128, PosixMessageQueue.hardMsgsizeMax)
        })

        // The key retention service's quotas and timings (Keys/), each within 0...INT_MAX.
        let keys = { (name: String, key: ReferenceWritableKeyPath<KeyService, Int>) in
            t["kernel/keys/" + name] = Sysctl({ k, _ in "\(k.keys[keyPath: key])\n" }, set: .numbers(count: 1) { k, _, n throws(LinuxErrno) in
                k.keys[keyPath: key] = try n[0].int(0, Int(Int32.max))
            })
        }
        keys("maxkeys", \.maxKeys); keys("maxbytes", \.maxBytes)
        keys("root_maxkeys", \.rootMaxKeys); keys("root_maxbytes", \.rootMaxBytes)
        keys("gc_delay", \.gcDelay); keys("persistent_keyring_expiry", \.persistentExpiry)

        // The sandbox's: sysctl_nr_open_min is BITS_PER_LONG.
        t["fs/nr_open"] = Sysctl.int(\.nrOpen, 64, Tunables.sentryBound)
        // round_pipe_size: a power-of-two number of pages, at least one.
        t["fs/pipe-max-size"] = Sysctl({ k, _ in "\(k.tunables.pipeMaxSize)\n" }, set: .numbers(count: 1) { k, _, n throws(LinuxErrno) in
            let want = try n[0].int(0, Int(Int32.max))
            var size = 4096
            while size < want { size <<= 1 }
            guard size <= Tunables.sentryBound else { throw .EINVAL }
            k.tunables.pipeMaxSize = size
        })
        t["fs/lease-break-time"] = Sysctl.int(\.leaseBreakTime, Int(Int32.min), Int(Int32.max))
        t["fs/leases-enable"] = Sysctl.int(\.leasesEnable, Int(Int32.min), Int(Int32.max))
        t["fs/pipe-user-pages-soft"] = Sysctl.int(\.pipeUserPagesSoft, 0, Int(Int32.max))
        t["fs/pipe-user-pages-hard"] = Sysctl.int(\.pipeUserPagesHard, 0, Int(Int32.max))
        t["fs/inotify/max_user_instances"] = Sysctl.int(\.inotifyMaxUserInstances, 0, Int(Int32.max))
        t["fs/inotify/max_user_watches"] = Sysctl.int(\.inotifyMaxUserWatches, 0, Tunables.sentryBound)
        t["fs/inotify/max_queued_events"] = Sysctl.int(\.inotifyMaxQueuedEvents, 0, Tunables.sentryBound)
        t["vm/max_map_count"] = Sysctl.int(\.maxMapCount, 0, Int(Int32.max))
        t["fs/protected_symlinks"] = Sysctl.int(\.protectedSymlinks, 0, 1)
        t["fs/protected_hardlinks"] = Sysctl.int(\.protectedHardlinks, 0, 1)
        t["fs/protected_regular"] = Sysctl.int(\.protectedRegular, 0, 2)
        t["fs/protected_fifos"] = Sysctl.int(\.protectedFifos, 0, 2)
        t["fs/suid_dumpable"] = Sysctl.int(\.suidDumpable, 0, 2)
        t["fs/aio-max-nr"] = Sysctl.int(\.aioMaxNr, 0, Int(Int64.max))
        t["fs/aio-nr"] = Sysctl.value { k in k.aioEvents.load(ordering: .relaxed) }

        // The reader's network namespace's: its loopback network's, or the host's
        // (read-only) for the first namespace under --network=host, read from the sentry's
        // network namespace.
        let netNS = { (k: Kernel, g: ThreadGroup?) in g?.netNS ?? k.initialNet }
        let net = { (name: String, own: @escaping (NetworkNamespace) -> String, set: @escaping (NetworkNamespace, [Sysctl.Number]) throws(LinuxErrno) -> Void, count: Int) -> Sysctl in
            Sysctl({ k, g in
                let ns = netNS(k, g)
                guard ns.onHost else { return own(ns) }
                return String(decoding: HostProc.read("sys/net/" + name), as: UTF8.self)
            }, set: .numbers(count: count) { k, g, n throws(LinuxErrno) in
                let ns = netNS(k, g)
                guard !ns.onHost else { throw .EACCES }
                try set(ns, n)
            })
        }
        t["net/core/somaxconn"] = net("core/somaxconn", { "\($0.somaxconn)\n" }, { ns, n throws(LinuxErrno) in
            ns.somaxconn = try n[0].int(0, Int(Int32.max))
        }, 1)
        t["net/ipv4/ip_local_port_range"] = net("ipv4/ip_local_port_range", { "\($0.localPorts.low)\t\($0.localPorts.high)\n" }, { ns, n throws(LinuxErrno) in
            let low = try n[0].int(), high = n.count > 1 ? try n[1].int() : ns.localPorts.high
            guard low >= 1, high <= 65535, low <= high else { throw .EINVAL }
            ns.localPorts = (low, high)
        }, 2)
        t["net/ipv4/ip_unprivileged_port_start"] = net("ipv4/ip_unprivileged_port_start", { "\($0.unprivilegedPortStart)\n" }, { ns, n throws(LinuxErrno) in
            ns.unprivilegedPortStart = try n[0].int(0, 65535)
        }, 1)
        // An empty range (low above high) reads back as Linux's "1 0".
        t["net/ipv4/ping_group_range"] = net("ipv4/ping_group_range", { "\($0.pingGroups.low)\t\($0.pingGroups.high)\n" }, { ns, n throws(LinuxErrno) in
            guard n.count == 2 else { throw .EINVAL }
            let low = UInt32(try n[0].int(0, 4_294_967_294)), high = UInt32(try n[1].int(0, 4_294_967_294))
            ns.pingGroups = low <= high ? (low, high) : (1, 0)
        }, 2)
        return t
    }()

    /// The directory at `prefix` ("" for /proc/sys): the next component of every path under it.
    /// A directory or file is made again only once nothing holds the last one made, so a
    /// mount over one (bwrap binds /proc/sys over itself to make it read-only: the mount holds
    /// what it covers) is found at the next lookup.
    static func directory(_ kernel: Kernel, _ fs: FileSystemID, prefix: String) -> Inode {
        let key = SysctlInodeKey(fs: ObjectIdentifier(fs), path: prefix)
        if let made = kernel.sysctlInodes[key]?.inode { return made }
        let children: [String: Bool] = {
            var c: [String: Bool] = [:] // name -> is a directory
            for path in table.keys where path.hasPrefix(prefix) {
                let rest = path.dropFirst(prefix.count)
                if let slash = rest.firstIndex(of: "/") { c[String(rest[..<slash])] = true } else { c[String(rest)] = false }
            }
            return c
        }()
        let dir = DynamicDirectory(fs: fs, list: { children.keys.sorted().map { ($0, children[$0]! ? .directory : .regular) } },
                                   find: { [unowned(unsafe) kernel] (name: String) throws(LinuxErrno) -> Inode in
            guard let isDirectory = children[name] else { throw .ENOENT }
            if isDirectory { return directory(kernel, fs, prefix: prefix + name + "/") }
            let fileKey = SysctlInodeKey(fs: ObjectIdentifier(fs), path: prefix + name)
            if let made = kernel.sysctlInodes[fileKey]?.inode { return made }
            let file = SysctlFile(kernel: kernel, sysctl: table[prefix + name]!, fs: fs)
            kernel.rememberSysctlInode(file, fileKey)
            return file
        })
        kernel.rememberSysctlInode(dir, key)
        return dir
    }
}

extension Kernel {
    fileprivate func rememberSysctlInode(_ inode: Inode, _ key: SysctlInodeKey) {
        if sysctlInodes.count >= 4096 { sysctlInodes = sysctlInodes.filter { $0.value.inode != nil } }
        sysctlInodes[key] = WeakInode(inode: inode)
    }
}

struct WeakInode { weak var inode: Inode? }

/// A /proc/sys inode of one procfs instance, by its path under /proc/sys.
struct SysctlInodeKey: Hashable {
    let fs: ObjectIdentifier
    let path: String
}

extension Sysctl {
}

/// A /proc/sys file: 0644 when the sentry applies it, else 0444.
final class SysctlFile: Inode {
    unowned(unsafe) let kernel: Kernel
    let sysctl: Sysctl
    init(kernel: Kernel, sysctl: Sysctl, fs: FileSystemID) {
        self.kernel = kernel
        self.sysctl = sysctl
        super.init(kind: .regular, mode: sysctl.set == nil || sysctl.writers != nil ? 0o444 : sysctl.openToAll ? 0o666 : 0o644, fs: fs)
    }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        let group = kernel.current?.group
        if flags & O_ACCMODE != O_RDONLY {
            // test_perm: the owner's bits for euid 0, the others' for anyone else.
            guard sysctl.set != nil else { throw .EACCES }
            if let writers = sysctl.writers {
                if let group, !writers(kernel, group) { throw .EACCES }
            } else {
                guard sysctl.openToAll || group?.euid ?? 0 == 0 else { throw .EACCES }
            }
        }
        return SysctlDescription(inode: self, flags: flags, content: Array(sysctl.show(kernel, group).utf8))
    }
}

final class SysctlDescription: GeneratedFileDescription {
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        let n = try pwrite(t, &src, at: offset)
        offset += UInt64(n)
        return n
    }
    override func pwrite(_ t: GuestThread, _ src: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int {
        let total = src.count
        // sysctl_writes_strict: a write past the start is taken and ignored.
        guard at == 0 else { src.skip(total); return total }
        var bytes = [UInt8](repeating: 0, count: min(total, 4096))
        let got = try bytes.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in try src.copyIn(p) }
        bytes.removeLast(bytes.count - got)
        let file = inode as! SysctlFile
        let taken = try file.sysctl.write(bytes, kernel: file.kernel, group: t.group)
        return taken == got ? total : taken
    }
    /// A read from the start shows the value as it is now, as Linux generates it at each read.
    override func pread(_ t: GuestThread, _ dst: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int {
        if at == 0 {
            let file = inode as! SysctlFile
            content = Array(file.sysctl.show(file.kernel, t.group).utf8)
        }
        return try super.pread(t, &dst, at: at)
    }
}

extension Kernel {
    /// Sets the tunable NAME (dotted, as sysctl(8) and OCI's linux.sysctl spell it, or a path
    /// under /proc/sys) to `value` in the sandbox's initial namespaces, before anything runs.
    public func setSysctl(_ name: String, _ value: String) throws(KernelError) {
        let path = name.contains("/") ? name : name.split(separator: ".").joined(separator: "/")
        guard let s = Sysctl.table[path] else { throw KernelError("sysctl \(name): Joey has no such tunable") }
        guard s.set != nil else { throw KernelError("sysctl \(name): read-only in Joey (the sentry does not apply it)") }
        do {
            _ = try s.write(Array(value.utf8), kernel: self, group: nil)
        } catch {
            throw KernelError("sysctl \(name)=\(value): \(error) (out of range or not a number)")
        }
    }
}
