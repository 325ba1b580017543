// nsfs: what /proc/PID/ns/* lead to. Each link reads "mnt:[N]"; followed, it reaches an
// inode numbered N (so two processes share a namespace when stat gives the same st_ino),
// and an fd opened on it names the namespace for setns(2). Mount, UTS, IPC and pid namespaces
// come and go in Joey; the others are the sandbox's one each, with Linux's numbers for the
// initial ones.

/// A UTS namespace: the names uname(2) reports.
final class UTSNamespace {
    let ino: UInt64
    var hostname: String
    var domainname: String
    init(ino: UInt64, hostname: String, domainname: String) {
        self.ino = ino; self.hostname = hostname; self.domainname = domainname
    }
    func copy(ino: UInt64) -> UTSNamespace { UTSNamespace(ino: ino, hostname: hostname, domainname: domainname) }
}
import JoeyABI

/// The namespace inode a /proc/PID/ns link leads to.
final class NamespaceInode: Inode {
    let type: String
    /// The namespace itself, for the types a process can join (MountNamespace, UTSNamespace,
    /// IPCNamespace, PIDNamespace).
    let namespace: AnyObject?
    init(type: String, ino: UInt64, namespace: AnyObject?, fs: FileSystemID) {
        self.type = type; self.namespace = namespace
        super.init(kind: .regular, mode: 0o444, fs: fs, ino: ino)
    }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        FileDescription(inode: self, flags: flags)
    }
}

/// /proc/PID/ns/TYPE: a magic link to the process's namespace of that type.
final class NamespaceLink: Inode {
    let type: String
    let target: () -> (UInt64, AnyObject?)
    let nsfs: FileSystemID
    init(type: String, fs: FileSystemID, nsfs: FileSystemID, _ target: @escaping () -> (UInt64, AnyObject?)) {
        self.type = type; self.target = target; self.nsfs = nsfs
        super.init(kind: .symlink, mode: 0o777, fs: fs)
    }
    override func readlink() throws(LinuxErrno) -> ByteString { ByteString("\(type):[\(target().0)]") }
    override func magicTarget() -> Location? {
        let (ino, namespace) = target()
        return Location(name: ByteString("\(type):[\(ino)]"), parent: nil,
                        inode: NamespaceInode(type: type, ino: ino, namespace: namespace, fs: nsfs))
    }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription { throw .ELOOP }
}

extension ProcFS {
    /// Linux's numbers for its initial namespaces (PROC_*_INIT_INO); the network namespace's
    /// is allocated like a mount namespace's.
    static let initialNamespaces: [(String, UInt64)] = [
        ("cgroup", 0xEFFF_FFFB),
        ("time", 0xEFFF_FFFA), ("time_for_children", 0xEFFF_FFFA), ("user", 0xEFFF_FFFD),
    ]

    /// /proc/PID/ns.
    static func namespaceDirectory(_ kernel: Kernel, _ g: ThreadGroup, _ fs: FileSystemID) -> Inode {
        var links: [String: () -> (UInt64, AnyObject?)] = [
            "mnt": { (g.fs.mounts.ino, g.fs.mounts) },
            "uts": { (g.uts.ino, g.uts) },
            "ipc": { (g.ipc.ino, g.ipc) },
            "pid": { (g.pidNS.ino, g.pidNS) },
            "pid_for_children": { (g.pidNSForChildren.ino, g.pidNSForChildren) },
            "net": { (kernel.netNamespaceIno, nil) },
        ]
        for (type, ino) in initialNamespaces { links[type] = { (ino, nil) } }
        return DynamicDirectory(fs: fs, list: { links.keys.sorted().map { ($0, .symlink) } },
                                find: { (n: String) throws(LinuxErrno) -> Inode in
            guard let target = links[n] else { throw .ENOENT }
            return NamespaceLink(type: n.hasPrefix("pid") ? "pid" : n.hasPrefix("time") ? "time" : n, fs: fs,
                                 nsfs: kernel.nsFS, target)
        })
    }
}

extension GuestThread {
    /// setns(2): joins the mount namespace (with its root as root and cwd), the UTS or the IPC
    /// namespace an nsfs fd names, or makes a pid namespace (its own or one below it) where
    /// the caller's children go. Joey's other namespaces are one each.
    func sysSetns() throws(LinuxErrno) -> UInt64 {
        let f = try group.fdTable.get(fdArg(a0))
        let nstype = a1
        guard let ns = f.inode as? NamespaceInode else { throw .EINVAL }
        switch ns.namespace {
        case let mounts as MountNamespace:
            guard nstype == 0 || nstype == CLONE_NEWNS else { throw .EINVAL }
            // CAP_SYS_ADMIN and CAP_SYS_CHROOT, as Linux's mntns_install.
            guard group.capable(21), group.capable(18) else { throw .EPERM }
            let root = Location(name: "", parent: nil, inode: mounts.root.root, mount: mounts.root)
            let fs = FSContext(root: root, cwd: root, mounts: mounts)
            fs.umask = group.fs.umask
            group.fs = fs
        case let uts as UTSNamespace:
            guard nstype == 0 || nstype == CLONE_NEWUTS else { throw .EINVAL }
            guard group.capable(21) else { throw .EPERM }
            // Per process in Joey: one thread of several cannot join alone (see unshare).
            guard group.threads.count == 1 || uts === group.uts else { throw .EINVAL }
            group.uts = uts
        case let ipc as IPCNamespace:
            guard nstype == 0 || nstype == CLONE_NEWIPC else { throw .EINVAL }
            guard group.capable(21) else { throw .EPERM }
            guard group.threads.count == 1 || ipc === group.ipc else { throw .EINVAL }
            enterIPCNamespace(ipc)
        case let pidNS as PIDNamespace:
            guard nstype == 0 || nstype == CLONE_NEWPID else { throw .EINVAL }
            guard group.capable(21) else { throw .EPERM }
            guard group.pidNS.isAncestor(of: pidNS) else { throw .EINVAL }
            guard group.threads.count == 1 || pidNS === group.pidNSForChildren else { throw .EINVAL }
            group.pidNSForChildren = pidNS
        default:
            // The sandbox's only one of its type, which the caller is in: joining it changes
            // nothing (a user namespace cannot be joined again: EINVAL, as on Linux).
            let types: [String: UInt64] = ["net": 0x4000_0000,
                                           "cgroup": 0x0200_0000, "time": 0x80]
            guard let flag = types[ns.type], nstype == 0 || nstype == flag else { throw .EINVAL }
            guard group.capable(21) else { throw .EPERM }
        }
        return 0
    }
}
