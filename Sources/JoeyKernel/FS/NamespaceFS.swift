// nsfs: what /proc/PID/ns/* lead to. Each link reads "mnt:[N]"; followed, it reaches an
// inode numbered N (so two processes share a namespace when stat gives the same st_ino),
// and an fd opened on it names the namespace for setns(2). Namespaces of every type come and
// go; the sandbox's first ones have Linux's numbers for the initial namespaces.

/// A UTS namespace: the names uname(2) reports.
final class UTSNamespace {
    let ino: UInt64
    /// The user namespace whose capabilities change the names (its creator's).
    var owner = UserNamespace.initial
    var hostname: String
    var domainname: String
    init(ino: UInt64, hostname: String, domainname: String) {
        self.ino = ino; self.hostname = hostname; self.domainname = domainname
    }
    func copy(ino: UInt64, owner: UserNamespace) -> UTSNamespace {
        let c = UTSNamespace(ino: ino, hostname: hostname, domainname: domainname)
        c.owner = owner
        return c
    }
}

/// A cgroup namespace: where /proc/PID/cgroup and cgroupfs would be rooted. The sandbox has
/// no cgroup hierarchy of its own (no /proc/PID/cgroup), so there is nothing to root
/// differently: the namespace is only made, joined and compared, as container tools do.
final class CgroupNamespace {
    let ino: UInt64
    /// Its creator's user namespace, where joining it is checked.
    var owner = UserNamespace.initial
    init(ino: UInt64) { self.ino = ino }
}
import Glibc
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
        NamespaceDescription(inode: self, flags: flags)
    }

    /// The CLONE_NEW* flag of its type (NS_GET_NSTYPE).
    var cloneFlag: UInt64 {
        switch type {
        case "mnt": return CLONE_NEWNS
        case "uts": return CLONE_NEWUTS
        case "ipc": return CLONE_NEWIPC
        case "pid": return CLONE_NEWPID
        case "net": return CLONE_NEWNET
        case "user": return 0x1000_0000
        case "cgroup": return CLONE_NEWCGROUP
        default: return 0x80 // CLONE_NEWTIME
        }
    }
}

/// An open nsfs file: setns(2) takes it, and it answers nsfs's ioctls (ns_ioctl).
final class NamespaceDescription: FileDescription {
    override func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        let ns = inode as! NamespaceInode
        // The user namespace that owns a namespace (a user namespace's is its parent), when it
        // is the caller's or one below it (ns_get_owner); the initial one has none.
        func owner() throws(LinuxErrno) -> UInt64 {
            let owner: UserNamespace?
            switch ns.namespace {
            case let user as UserNamespace: owner = user.parent
            case let uts as UTSNamespace: owner = uts.owner
            case let ipc as IPCNamespace: owner = ipc.owner
            case let pid as PIDNamespace: owner = pid.owner
            case let mounts as MountNamespace: owner = mounts.owner
            case let net as NetworkNamespace: owner = net.owner
            case let cgroup as CgroupNamespace: owner = cgroup.owner
            case let time as TimeNamespace: owner = time.owner
            default: owner = .initial
            }
            guard let owner, t.group.userNS.isAncestor(of: owner) else { throw .EPERM }
            return try t.installNamespace(type: "user", ino: owner.ino, namespace: owner)
        }
        switch request {
        case 0xb701: // NS_GET_USERNS
            return try owner()
        case 0xb702: // NS_GET_PARENT: hierarchical namespaces (pid, user) only, and only a
            // parent within the caller's pid (user) namespace
            switch ns.namespace {
            case let pidNS as PIDNamespace:
                guard let parent = pidNS.parent else { throw .EPERM }
                var p: PIDNamespace? = parent
                while let q = p, q !== t.group.pidNS { p = q.parent }
                guard p != nil else { throw .EPERM }
                return try t.installNamespace(type: "pid", ino: parent.ino, namespace: parent)
            case is UserNamespace:
                return try owner()
            default:
                throw .EINVAL
            }
        case 0xb703: // NS_GET_NSTYPE
            return ns.cloneFlag
        case 0xb704: // NS_GET_OWNER_UID: the uid that made a user namespace, as the caller's names it
            guard let user = ns.namespace as? UserNamespace else { throw .EINVAL }
            try t.mm.writeValue(argument, t.group.userNS.shownUID(user.owner))
            return 0
        default:
            throw .ENOTTY
        }
    }
}

extension GuestThread {
    /// A new O_RDONLY|O_CLOEXEC fd on a namespace, as open_related_ns makes.
    fileprivate func installNamespace(type: String, ino: UInt64, namespace: AnyObject?) throws(LinuxErrno) -> UInt64 {
        let inode = NamespaceInode(type: type, ino: ino, namespace: namespace, fs: kernel.nsFS)
        let d = NamespaceDescription(inode: inode, flags: O_RDONLY)
        d.path = ByteString("\(type):[\(ino)]")
        return UInt64(try group.fdTable.install(d, closeOnExec: true))
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

    /// /proc/PID/ns.
    static func namespaceDirectory(_ kernel: Kernel, _ g: ThreadGroup, _ fs: FileSystemID) -> Inode {
        let links: [String: () -> (UInt64, AnyObject?)] = [
            "mnt": { (g.fs.mounts.ino, g.fs.mounts) },
            "uts": { (g.uts.ino, g.uts) },
            "ipc": { (g.ipc.ino, g.ipc) },
            "pid": { (g.pidNS.ino, g.pidNS) },
            "pid_for_children": { (g.pidNSForChildren.ino, g.pidNSForChildren) },
            "net": { (g.netNS.ino, g.netNS) },
            "user": { (g.userNS.ino, g.userNS) },
            "cgroup": { (g.cgroupNS.ino, g.cgroupNS) },
            "time": { (g.timeNS.ino, g.timeNS) },
            "time_for_children": { (g.timeNSForChildren.ino, g.timeNSForChildren) },
        ]
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
        case let user as UserNamespace:
            guard nstype == 0 || nstype == CLONE_NEWUSER else { throw .EINVAL }
            // Not its own again (that would give back capabilities it dropped), not for one
            // thread of several or a process sharing its root and cwd (userns_install).
            guard user !== group.userNS, group.threads.count == 1,
                  !kernel.threadGroups.values.contains(where: { $0 !== group && $0.fs === fs }) else { throw .EINVAL }
            guard group.capable(21, in: user) else { throw .EPERM }
            group.enterUserNamespace(user)
        case let mounts as MountNamespace:
            guard nstype == 0 || nstype == CLONE_NEWNS else { throw .EINVAL }
            // CAP_SYS_ADMIN where it belongs, and CAP_SYS_CHROOT and CAP_SYS_ADMIN in the
            // caller's user namespace, as Linux's mntns_install.
            guard group.capable(21, in: mounts.owner), group.capable(18), group.capable(21) else { throw .EPERM }
            let root = Location(name: "", parent: nil, inode: mounts.root.root, mount: mounts.root)
            let newFS = FSContext(root: root, cwd: root, mounts: mounts)
            newFS.umask = fs.umask
            replaceFS(with: newFS)
        case let uts as UTSNamespace:
            try checkJoin(nstype, CLONE_NEWUTS, owner: uts.owner, alreadyIn: uts === group.uts)
            group.uts = uts
        case let ipc as IPCNamespace:
            try checkJoin(nstype, CLONE_NEWIPC, owner: ipc.owner, alreadyIn: ipc === group.ipc)
            enterIPCNamespace(ipc)
        case let net as NetworkNamespace:
            try checkJoin(nstype, CLONE_NEWNET, owner: net.owner, alreadyIn: net === group.netNS)
            group.netNS = net
        case let cgroup as CgroupNamespace:
            try checkJoin(nstype, CLONE_NEWCGROUP, owner: cgroup.owner, alreadyIn: cgroup === group.cgroupNS)
            group.cgroupNS = cgroup
        case let pidNS as PIDNamespace:
            guard nstype == 0 || nstype == CLONE_NEWPID else { throw .EINVAL }
            guard group.capable(21, in: pidNS.owner), group.capable(21) else { throw .EPERM }
            guard group.pidNS.isAncestor(of: pidNS) else { throw .EINVAL }
            guard group.threads.count == 1 || pidNS === group.pidNSForChildren else { throw .EINVAL }
            group.pidNSForChildren = pidNS
        case let time as TimeNamespace:
            // The caller moves at once, its children with it (timens_install): only a
            // single-threaded process (EUSERS).
            guard nstype == 0 || nstype == CLONE_NEWTIME else { throw .EINVAL }
            guard group.threads.count == 1 else { throw .EUSERS }
            guard group.capable(21, in: time.owner), group.capable(21) else { throw .EPERM }
            enterTimeNamespace(time, of: group)
            group.timeNSForChildren = time
        default:
            throw .EINVAL
        }
        return 0
    }

    /// setns's checks for a namespace of type `flag` (nstype 0 or it, EINVAL), CAP_SYS_ADMIN
    /// where it belongs and in the caller's own user namespace (EPERM), and, namespaces being
    /// per process in Joey, a single thread unless it is the one the process is in (EINVAL).
    private func checkJoin(_ nstype: UInt64, _ flag: UInt64, owner: UserNamespace, alreadyIn: Bool) throws(LinuxErrno) {
        guard nstype == 0 || nstype == flag else { throw .EINVAL }
        guard group.capable(21, in: owner), group.capable(21) else { throw .EPERM }
        guard group.threads.count == 1 || alreadyIn else { throw .EINVAL }
    }
}
