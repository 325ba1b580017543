// Mounts and mount namespaces (Linux's struct mount and struct mnt_namespace): a tree of
// mounts per namespace, each found by the mount it is in and the inode it covers there, as
// Linux's mount hash is keyed. A Location carries the mount it was reached through, so path
// walking (PathResolution.swift) swaps a covered inode for the root mounted over it only in
// that mount. /proc/PID/mounts and mountinfo list the namespace of the process that reads
// them. Propagation types are recorded and shown, but mount events never propagate between
// namespaces. The path shown for a mount is made of the names it was mounted by: renaming a
// directory above a mount point does not change it. Kernel lock held throughout.
import JoeyABI
import Synchronization

/// The per-mount flags of mount(2) (MS_*), kept as Linux's mount(2) spells them.
struct MountFlags: OptionSet {
    let rawValue: UInt64
    static let readOnly = MountFlags(rawValue: 1)          // MS_RDONLY
    static let noSUID = MountFlags(rawValue: 2)            // MS_NOSUID
    static let noDev = MountFlags(rawValue: 4)             // MS_NODEV
    static let noExec = MountFlags(rawValue: 8)            // MS_NOEXEC
    static let synchronous = MountFlags(rawValue: 16)      // MS_SYNCHRONOUS
    static let mandatoryLocks = MountFlags(rawValue: 64)   // MS_MANDLOCK
    static let dirSync = MountFlags(rawValue: 128)         // MS_DIRSYNC
    static let noSymFollow = MountFlags(rawValue: 256)     // MS_NOSYMFOLLOW
    static let noATime = MountFlags(rawValue: 1024)        // MS_NOATIME
    static let noDirATime = MountFlags(rawValue: 2048)     // MS_NODIRATIME
    static let relATime = MountFlags(rawValue: 1 << 21)    // MS_RELATIME
    static let strictATime = MountFlags(rawValue: 1 << 24) // MS_STRICTATIME
    static let lazyTime = MountFlags(rawValue: 1 << 25)    // MS_LAZYTIME
    /// What a mount keeps per mount (MNT_*); the rest belongs to the filesystem.
    static let perMount: MountFlags = [.readOnly, .noSUID, .noDev, .noExec, .noATime, .noDirATime, .relATime, .noSymFollow]
    /// What a mount copied into a less privileged namespace keeps (MNT_LOCK_*).
    static let lockable: MountFlags = [.readOnly, .noSUID, .noDev, .noExec, .noATime, .noDirATime, .relATime]
    /// The atime flags, locked as one (MNT_LOCK_ATIME).
    static let atime: MountFlags = [.noATime, .noDirATime, .relATime]

    /// The options /proc/PID/mountinfo shows for the mount ("rw,nosuid,relatime").
    var text: String {
        var o = [contains(.readOnly) ? "ro" : "rw"]
        if contains(.noSUID) { o.append("nosuid") }
        if contains(.noDev) { o.append("nodev") }
        if contains(.noExec) { o.append("noexec") }
        // show_mnt_opts's order.
        if contains(.noATime) { o.append("noatime") }
        if contains(.noDirATime) { o.append("nodiratime") }
        if contains(.relATime) && !contains(.noATime) { o.append("relatime") }
        if contains(.noSymFollow) { o.append("nosymfollow") }
        return o.joined(separator: ",")
    }

    /// statfs's f_flags (flags_by_mnt, flags_by_sb): ST_* values, which differ from MS_* for
    /// relatime and nosymfollow; ST_VALID always.
    var statfsFlags: Int64 {
        let same: [MountFlags] = [.readOnly, .noSUID, .noDev, .noExec, .synchronous, .mandatoryLocks, .noATime, .noDirATime]
        var f: Int64 = 0x20
        for flag in same where contains(flag) { f |= Int64(flag.rawValue) }
        if contains(.relATime) { f |= 0x1000 }
        if contains(.noSymFollow) { f |= 0x2000 }
        return f
    }

    /// Parses one option of an operator's mount list ("nosuid"); nil when it is not a mount flag.
    static func parse(_ option: String) -> (set: MountFlags, clear: MountFlags)? {
        switch option {
        case "ro": return (.readOnly, [])
        case "rw": return ([], .readOnly)
        case "nosuid": return (.noSUID, [])
        case "suid": return ([], .noSUID)
        case "nodev": return (.noDev, [])
        case "dev": return ([], .noDev)
        case "noexec": return (.noExec, [])
        case "exec": return ([], .noExec)
        case "noatime": return (.noATime, .relATime)
        case "relatime": return (.relATime, .noATime)
        case "strictatime": return ([], [.noATime, .relATime])
        case "nodiratime": return (.noDirATime, [])
        case "nosymfollow": return (.noSymFollow, [])
        case "symfollow": return ([], .noSymFollow)
        case "sync": return (.synchronous, [])
        case "dirsync": return (.dirSync, [])
        case "lazytime": return (.lazyTime, [])
        case "async", "atime", "diratime", "defaults", "bind", "rbind", "private", "rprivate", "shared", "rshared",
             "slave", "rslave", "unbindable", "runbindable": return ([], [])
        default: return nil
        }
    }
}

/// How mount events spread from a mount (recorded and shown; nothing propagates). A slave
/// names the peer group it receives from (mountinfo's master:N).
enum MountPropagation {
    case `private`, shared(peerGroup: Int), slave(master: Int), unbindable

    /// What MS_SHARED, MS_PRIVATE, MS_SLAVE or MS_UNBINDABLE (`type`) makes of `current`
    /// for mount `id` (change_mnt_propagation). A shared mount made a slave receives from its
    /// peer group; a private one stays private, having no peers to receive from, and an
    /// unbindable one unbindable (MS_SLAVE leaves MNT_UNBINDABLE as it is).
    static func changed(_ current: MountPropagation, to type: UInt64, mount id: Int) -> MountPropagation {
        switch type {
        case 1 << 20: if case .shared = current { return current }; return .shared(peerGroup: id)
        case 1 << 18: return .private
        case 1 << 19:
            switch current {
            case .shared(let group): return .slave(master: group)
            case .slave, .unbindable: return current
            default: return .private
            }
        default: return .unbindable
        }
    }
}

extension MountFlags {
    /// The flags of MOUNT_ATTR_* bits (mount_setattr, fsmount): RDONLY, NOSUID, NODEV,
    /// NOEXEC, NODIRATIME, NOSYMFOLLOW; the atime value is the caller's.
    init(attributes a: UInt64) {
        self = []
        if a & 0x1 != 0 { insert(.readOnly) }
        if a & 0x2 != 0 { insert(.noSUID) }
        if a & 0x4 != 0 { insert(.noDev) }
        if a & 0x8 != 0 { insert(.noExec) }
        if a & 0x80 != 0 { insert(.noDirATime) }
        if a & 0x20_0000 != 0 { insert(.noSymFollow) }
    }
}

/// One mount: a filesystem's root directory (or, for a bind mount, any inode in it) placed
/// over an inode of its parent mount.
final class Mount {
    let id: Int
    /// The mount it is mounted in; nil for a namespace's root (and once unmounted).
    weak var parent: Mount?
    /// The mounts mounted in this one.
    var children: [Mount] = []
    let root: Inode
    /// The covered inode, in `parent`; held so that its identity (half of the key the mount
    /// is found by) stays its own.
    var mountpoint: Inode?
    /// The names from the parent's root to the mount point (for its path).
    var mountpointNames: [ByteString]
    let type: String
    let source: String
    /// The path of `root` within its filesystem ("/" unless a bind mount of a subtree).
    let rootPath: String
    var flags: MountFlags
    /// The filesystem's own options (tmpfs's size=, mode=), for mountinfo's last field.
    var superOptions: String
    var propagation = MountPropagation.private
    /// Set by a first umount2(MNT_EXPIRE); a second one unmounts.
    var expiryMark = false
    /// Copied into a namespace of a less privileged user namespace: it cannot be unmounted
    /// alone (EINVAL), and the flags it had then (`lockedFlags`, nil when not locked) cannot
    /// be cleared, nor its atime flags changed (EPERM).
    var locked = false
    var lockedFlags: MountFlags?
    /// Made by fsmount or open_tree(OPEN_TREE_CLONE) and in no namespace yet: only the fds
    /// that name it hold it, and move_mount attaches it, with the copies of the mounts that
    /// were below its source (`pendingBelow`, where each goes). Until then it and they count
    /// in MountNamespace.liveMounts, so fds cannot hold mounts past the sandbox's bound.
    private(set) var detached = false
    private(set) var pendingBelow: [(Mount, Location)] = []

    /// Makes it a detached tree: ENOSPC past the sandbox's bound on mounts.
    func detach(with below: [(Mount, Location)]) throws(LinuxErrno) {
        let count = 1 + below.count
        guard MountNamespace.liveMounts.load(ordering: .relaxed) + count <= Kernel.mountMax else { throw .ENOSPC }
        MountNamespace.liveMounts.add(count, ordering: .relaxed)
        detached = true
        pendingBelow = below
    }

    /// No longer detached (move_mount attaches it): the copies below, for the caller to mount.
    func attached() -> [(Mount, Location)] {
        guard detached else { return [] }
        MountNamespace.liveMounts.subtract(1 + pendingBelow.count, ordering: .relaxed)
        detached = false
        defer { pendingBelow = [] }
        return pendingBelow
    }

    deinit {
        if detached { MountNamespace.liveMounts.subtract(1 + pendingBelow.count, ordering: .relaxed) }
    }

    init(id: Int, root: Inode, type: String, source: String, rootPath: String = "/", flags: MountFlags, superOptions: String) {
        self.id = id; self.root = root; self.mountpointNames = []
        self.type = type; self.source = source; self.rootPath = rootPath; self.flags = flags
        self.superOptions = superOptions
    }

    /// Whether `new` flags keep what a copy into a less privileged namespace locked
    /// (can_change_locked_flags): no locked flag cleared, the atime flags as they were.
    func keepsLockedFlags(_ new: MountFlags) -> Bool {
        guard let locked = lockedFlags else { return true }
        return locked.subtracting(MountFlags.atime).isSubset(of: new) && locked.intersection(MountFlags.atime) == new.intersection(MountFlags.atime)
    }

    /// A copy with a new identity, not yet mounted anywhere.
    func copy(id: Int) -> Mount {
        let m = Mount(id: id, root: root, type: type, source: source, rootPath: rootPath, flags: flags, superOptions: superOptions)
        m.propagation = propagation
        m.locked = locked
        m.lockedFlags = lockedFlags
        return m
    }

    /// Where it is mounted, as an absolute path in its namespace.
    var path: String {
        var names: [ByteString] = []
        var m: Mount? = self
        while let c = m, c.parent != nil { names.insert(contentsOf: c.mountpointNames, at: 0); m = c.parent }
        if names.isEmpty { return "/" }
        return names.map { "/" + String(decoding: $0.bytes, as: UTF8.self) }.joined()
    }

    /// Whether `other` is this mount or below it.
    func contains(_ other: Mount) -> Bool {
        var m: Mount? = other
        while let c = m { if c === self { return true }; m = c.parent }
        return false
    }
}

/// What a mount is found by: the mount it is in and the inode it covers there (Linux's
/// mount hash of parent vfsmount and dentry).
struct MountKey: Hashable {
    let parent: ObjectIdentifier
    let inode: ObjectIdentifier
    init(_ parent: Mount, _ inode: Inode) { self.parent = ObjectIdentifier(parent); self.inode = ObjectIdentifier(inode) }
}

/// A mount namespace: its mounts in the order they were made.
final class MountNamespace {
    /// The namespace's inode number (/proc/PID/ns/mnt shows "mnt:[N]").
    let ino: UInt64
    /// The user namespace whose CAP_SYS_ADMIN mounts and unmounts here (its creator's).
    var owner = UserNamespace.initial
    private(set) var mounts: [Mount] = []
    /// Mounts by where they are: what path walking looks up at each component.
    private var covering: [MountKey: Mount] = [:]
    /// Namespaces alive and the mounts they hold, summed: what the guest may grow is bounded
    /// (Kernel.maxMountNamespaces, Kernel.mountMax). Atomic: the last reference to a
    /// namespace may go outside the kernel lock.
    static let live = Atomic<Int>(0)
    static let liveMounts = Atomic<Int>(0)

    /// Counts changes to the mount table (mount, unmount, move, remount): a /proc mounts file
    /// opened before the last one polls POLLPRI|POLLERR once (Linux's ns->event).
    private(set) var event: UInt64 = 0
    /// Pollers of the namespace's /proc mounts files.
    let changes = WaitQueue()

    /// The mount table changed.
    func touched() {
        event &+= 1
        changes.notify([.priority, .error])
    }

    init(ino: UInt64, root: Mount) {
        self.ino = ino
        mounts = [root]
        MountNamespace.live.add(1, ordering: .relaxed)
        MountNamespace.liveMounts.add(1, ordering: .relaxed)
    }

    deinit {
        MountNamespace.live.subtract(1, ordering: .relaxed)
        MountNamespace.liveMounts.subtract(mounts.count, ordering: .relaxed)
    }

    var root: Mount { mounts[0] }

    /// The mount over `inode` of `mount`, following mounts stacked on mounts (each is a child
    /// of the one below, so the chain ends); nil if none is.
    @inline(__always)
    func cover(_ inode: Inode, in mount: Mount?) -> Mount? {
        guard inode.mountedOn, let mount, var m = covering[MountKey(mount, inode)] else { return nil }
        while m.root.mountedOn, let above = covering[MountKey(m, m.root)] { m = above }
        return m
    }

    func isCovered(_ inode: Inode, in mount: Mount?) -> Bool { cover(inode, in: mount) != nil }

    /// Mounts `m` at `location` (the top of whatever is mounted there already).
    func add(_ m: Mount, at location: Location) {
        guard let (parent, inode, names) = place(location) else { return }
        attach(m, parent: parent, over: inode, names: names)
        mounts.append(m)
        MountNamespace.liveMounts.add(1, ordering: .relaxed)
        touched()
    }

    private func attach(_ m: Mount, parent: Mount, over inode: Inode, names: [ByteString]) {
        m.parent = parent
        m.mountpoint = inode
        m.mountpointNames = names
        parent.children.append(m)
        inode.mountedOn = true
        covering[MountKey(parent, inode)] = m
    }

    private func detach(_ m: Mount) {
        if let parent = m.parent, let over = m.mountpoint {
            if covering[MountKey(parent, over)] === m { covering[MountKey(parent, over)] = nil }
            parent.children.removeAll { $0 === m }
        }
        m.parent = nil
    }

    /// Unmounts `m` and everything below it.
    func remove(_ m: Mount) {
        let gone = [m] + descendants(of: m)
        for x in gone.reversed() { detach(x) }
        let ids = Set(gone.map(ObjectIdentifier.init))
        mounts.removeAll { ids.contains(ObjectIdentifier($0)) }
        MountNamespace.liveMounts.subtract(gone.count, ordering: .relaxed)
        touched()
    }

    /// Moves `m` (not the root) to `location`, which is not below it.
    func move(_ m: Mount, to location: Location) {
        guard let (parent, inode, names) = place(location) else { return }
        detach(m)
        attach(m, parent: parent, over: inode, names: names)
        touched()
    }

    /// pivot_root: `newRoot` takes `oldRoot`'s place (the namespace's root, or where oldRoot
    /// was mounted) and `oldRoot` is mounted at `putOld`, which lies at or below newRoot.
    func pivot(oldRoot: Mount, newRoot: Mount, putOld: Location) {
        let rootParent = oldRoot.parent, rootMountpoint = oldRoot.mountpoint, rootNames = oldRoot.mountpointNames
        detach(newRoot)
        if rootParent != nil { detach(oldRoot) }
        if let rootParent, let rootMountpoint {
            attach(newRoot, parent: rootParent, over: rootMountpoint, names: rootNames)
        } else {
            newRoot.mountpoint = nil
            newRoot.mountpointNames = []
            mounts.removeAll { $0 === newRoot }
            mounts.insert(newRoot, at: 0) // the namespace's root is mounts[0]
        }
        if let (parent, inode, names) = place(putOld) { attach(oldRoot, parent: parent, over: inode, names: names) }
        touched()
    }

    /// Where a mount made at `location` goes: there, or on the top of the mounts already
    /// covering it (a location reached before they were made: an old cwd).
    private func place(_ location: Location) -> (Mount, Inode, [ByteString])? {
        guard let parent = location.mount else { return nil }
        if let top = cover(location.inode, in: parent) { return (top, top.root, []) }
        return (parent, location.inode, Mount.names(of: location, within: parent))
    }

    /// Whether another mount shows `m`'s filesystem (a bind of it, or it of another).
    func sharesFilesystem(_ m: Mount) -> Bool { mounts.contains { $0 !== m && $0.root.fs === m.root.fs } }

    /// Whether `location` is `m`'s root (reached through `m`).
    func isRoot(_ location: Location) -> Bool {
        guard let m = location.mount else { return false }
        return m.root === location.inode
    }

    /// Whether `location` lies in `m` or in a mount below it.
    func isInside(_ location: Location, _ m: Mount) -> Bool {
        guard let l = location.mount else { return false }
        return m.contains(l)
    }

    /// The mounts below `m` (its children, theirs, ...), parents before children.
    func descendants(of m: Mount) -> [Mount] {
        var out: [Mount] = []
        var i = 0
        out.append(contentsOf: m.children)
        while i < out.count { out.append(contentsOf: out[i].children); i += 1 }
        return out
    }

    /// A copy for unshare(CLONE_NEWNS) and clone(CLONE_NEWNS): the same mounts, new
    /// identities, and a map from old mounts to new (to move a process's root and cwd over).
    /// A copy for a namespace owned by `owner`: when that is not this one's owner, the
    /// copies are locked (Linux's MNT_LOCKED and the MNT_LOCK_* flags): a less privileged
    /// namespace cannot unmount one alone to see what it covers, nor lift its read-only,
    /// nosuid, nodev, noexec or atime flags.
    func copy(ino: UInt64, owner: UserNamespace, nextID: () -> Int) -> (MountNamespace, [ObjectIdentifier: Mount]) {
        var map: [ObjectIdentifier: Mount] = [:]
        let lock = owner !== self.owner
        for m in mounts {
            let c = m.copy(id: nextID())
            // lock_mnt_tree: the root hides nothing, so only its flags are locked.
            if lock { c.locked = m !== root; c.lockedFlags = c.flags.intersection(MountFlags.lockable) }
            map[ObjectIdentifier(m)] = c
        }
        let ns = MountNamespace(ino: ino, root: map[ObjectIdentifier(root)]!)
        ns.owner = owner
        for m in mounts.dropFirst() {
            let c = map[ObjectIdentifier(m)]!
            if let p = m.parent, let cp = map[ObjectIdentifier(p)], let over = m.mountpoint {
                ns.attach(c, parent: cp, over: over, names: m.mountpointNames)
            }
            ns.mounts.append(c)
        }
        MountNamespace.liveMounts.add(mounts.count - 1, ordering: .relaxed)
        return (ns, map)
    }

    /// /proc/PID/mounts: "source mountpoint type options 0 0".
    func mountsText() -> String {
        mounts.map { m in
            // Read-only if the mount or its filesystem is (__mnt_is_readonly).
            let flags = m.root.fs.readOnly ? m.flags.union(.readOnly) : m.flags
            let opts = m.superOptions.isEmpty ? flags.text : flags.text + "," + m.superOptions
            return "\(Mount.escape(m.source)) \(Mount.escape(m.path)) \(m.type) \(opts) 0 0\n"
        }.joined()
    }

    /// /proc/PID/mountinfo (proc(5)): id, parent id, major:minor, root, mount point, mount
    /// options, optional fields, "-", type, source, superblock options.
    func mountInfoText() -> String {
        mounts.map { m in
            let dev = m.root.fs.dev
            let major = (dev >> 8) & 0xfff, minor = (dev & 0xff) | ((dev >> 12) & 0xfff00)
            var optional = ""
            switch m.propagation {
            case .shared(let group): optional = " shared:\(group)"
            case .slave(let master): optional = " master:\(master)"
            case .unbindable: optional = " unbindable"
            case .private: break
            }
            let sb = (m.root.fs.readOnly ? "ro" : "rw") + (m.superOptions.isEmpty ? "" : "," + m.superOptions)
            return "\(m.id) \(m.parent?.id ?? m.id) \(major):\(minor) \(Mount.escape(m.rootPath)) \(Mount.escape(m.path)) "
                + "\(m.flags.text)\(optional) - \(m.type) \(Mount.escape(m.source)) \(sb)\n"
        }.joined()
    }
}

extension Mount {
    /// The names from `mount`'s root down to `location` (which lies in it).
    static func names(of location: Location, within mount: Mount) -> [ByteString] {
        var names: [ByteString] = []
        var cur = location
        while cur.mount === mount, cur.inode !== mount.root, let p = cur.parent {
            names.append(cur.name)
            cur = p
        }
        return names.reversed()
    }

    /// Spaces, tabs, newlines and backslashes as octal escapes, as the kernel's seq_file shows them.
    static func escape(_ s: String) -> String {
        var out: [UInt8] = []
        for u in s.utf8 {
            switch u {
            case 0x20, 0x09, 0x0a, 0x5c: out += Array("\\\(u >> 6)\((u >> 3) & 7)\(u & 7)".utf8)
            default: out.append(u)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
