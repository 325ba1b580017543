// Mounts and mount namespaces (Linux's struct mount and struct mnt_namespace): which
// filesystem root covers which inode. Path walking (PathResolution.swift) swaps a covered
// inode for the root mounted over it; /proc/PID/mounts and mountinfo list the namespace of
// the process that reads them. Mounts are keyed by the inode they cover, so a filesystem
// mounted over a directory is seen through every path to that directory, and propagation
// types are recorded and shown but mount events never propagate between namespaces.
// Kernel lock held throughout.
import JoeyABI

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
    static let noATime = MountFlags(rawValue: 1024)        // MS_NOATIME
    static let noDirATime = MountFlags(rawValue: 2048)     // MS_NODIRATIME
    static let relATime = MountFlags(rawValue: 1 << 21)    // MS_RELATIME
    static let strictATime = MountFlags(rawValue: 1 << 24) // MS_STRICTATIME
    static let lazyTime = MountFlags(rawValue: 1 << 25)    // MS_LAZYTIME
    /// What a mount keeps per mount (MNT_*); the rest belongs to the filesystem.
    static let perMount: MountFlags = [.readOnly, .noSUID, .noDev, .noExec, .noATime, .noDirATime, .relATime]

    /// The options /proc/PID/mountinfo shows for the mount ("rw,nosuid,relatime").
    var text: String {
        var o = [contains(.readOnly) ? "ro" : "rw"]
        if contains(.noSUID) { o.append("nosuid") }
        if contains(.noDev) { o.append("nodev") }
        if contains(.noExec) { o.append("noexec") }
        if contains(.noATime) { o.append("noatime") } else if contains(.relATime) { o.append("relatime") }
        if contains(.noDirATime) { o.append("nodiratime") }
        return o.joined(separator: ",")
    }

    /// statfs's f_flags: ST_* values, which differ from MS_* for relatime; ST_VALID always.
    var statfsFlags: Int64 {
        var f = Int64(rawValue & 0b1111_1111_1111) & ~0x20
        if contains(.relATime) { f |= 4096 }
        return f | 0x20
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
        case "sync": return (.synchronous, [])
        case "dirsync": return (.dirSync, [])
        case "lazytime": return (.lazyTime, [])
        case "async", "atime", "diratime", "defaults", "bind", "rbind", "private", "rprivate", "shared", "rshared",
             "slave", "rslave", "unbindable", "runbindable": return ([], [])
        default: return nil
        }
    }
}

/// How mount events spread from a mount (recorded and shown; nothing propagates).
enum MountPropagation {
    case `private`, shared(peerGroup: Int), slave, unbindable
}

/// One mount: a filesystem's root directory (or, for a bind mount, any inode in it) placed
/// over an inode of another mount.
final class Mount {
    let id: Int
    /// The mount holding the covered inode; nil for a namespace's root.
    var parent: Mount?
    let root: Inode
    /// The covered inode; held so that its identity (the key it is found by) stays its own.
    var mountpoint: Inode?
    /// Where it is mounted, as an absolute path in the namespace (for /proc/PID/mounts).
    var path: String
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

    init(id: Int, parent: Mount?, root: Inode, mountpoint: Inode?, path: String, type: String, source: String,
         rootPath: String = "/", flags: MountFlags, superOptions: String) {
        self.id = id; self.parent = parent; self.root = root; self.mountpoint = mountpoint; self.path = path
        self.type = type; self.source = source; self.rootPath = rootPath; self.flags = flags
        self.superOptions = superOptions
    }

    /// A copy for a new namespace (same filesystem and place, a new identity).
    func copy(id: Int, parent: Mount?) -> Mount {
        let m = Mount(id: id, parent: parent, root: root, mountpoint: mountpoint, path: path, type: type, source: source,
                      rootPath: rootPath, flags: flags, superOptions: superOptions)
        m.propagation = propagation
        return m
    }
}

/// A mount namespace: its mounts in the order they were made.
final class MountNamespace {
    /// The namespace's inode number (/proc/PID/ns/mnt shows "mnt:[N]").
    let ino: UInt64
    private(set) var mounts: [Mount] = []
    /// Mounts by the inode they cover: what path walking looks up at each component.
    private(set) var covering: [ObjectIdentifier: Mount] = [:]

    init(ino: UInt64, root: Mount) {
        self.ino = ino
        mounts = [root]
    }

    var root: Mount { mounts[0] }

    /// The root mounted over `inode`, following mounts stacked on mounts; nil if none is.
    @inline(__always)
    func cover(_ inode: Inode) -> Inode? {
        guard !covering.isEmpty, var m = covering[ObjectIdentifier(inode)] else { return nil }
        while let above = covering[ObjectIdentifier(m.root)] { m = above }
        return m.root
    }

    func isCovered(_ inode: Inode) -> Bool { covering[ObjectIdentifier(inode)] != nil }

    func add(_ m: Mount) {
        guard let over = m.mountpoint else { return }
        // Mounting again over the same place stacks: the new mount covers the top one's root.
        var target = over
        while let above = covering[ObjectIdentifier(target)] { target = above.root }
        if target !== over { m.mountpoint = target }
        covering[ObjectIdentifier(target)] = m
        mounts.append(m)
    }

    func remove(_ m: Mount) {
        if let over = m.mountpoint, covering[ObjectIdentifier(over)] === m {
            covering[ObjectIdentifier(over)] = nil
            // A mount stacked on this one now covers what this one covered.
            if let above = covering[ObjectIdentifier(m.root)] {
                covering[ObjectIdentifier(m.root)] = nil
                above.mountpoint = over
                above.parent = m.parent
                covering[ObjectIdentifier(over)] = above
            }
        }
        mounts.removeAll { $0 === m }
    }

    /// The mount `location` is in, and whether `location` is that mount's root.
    func mount(containing location: Location) -> (mount: Mount, isRoot: Bool) {
        var cur = location
        while let parent = cur.parent {
            if let m = mountCrossed(at: cur, from: parent) { return (m, cur === location) }
            cur = parent
        }
        return (root, cur === location)
    }

    /// The mount whose root `location` is, reached by crossing from `parent`; nil when
    /// `location` was reached without crossing a mount.
    private func mountCrossed(at location: Location, from parent: Location) -> Mount? {
        guard mounts.count > 1, mounts.contains(where: { $0.root === location.inode }),
              let covered = try? parent.inode.lookup(location.name),
              var m = covering[ObjectIdentifier(covered)] else { return nil }
        while let above = covering[ObjectIdentifier(m.root)] { m = above }
        return m.root === location.inode ? m : nil
    }

    /// Whether `location` lies in `m` or in a mount below it.
    func isInside(_ location: Location, _ m: Mount) -> Bool {
        if m === root { return true }
        var cur = location
        while let parent = cur.parent {
            if cur.inode === m.root, let crossed = mountCrossed(at: cur, from: parent) {
                var x: Mount? = crossed
                while let c = x { if c === m { return true }; x = c.parent }
            }
            cur = parent
        }
        return false
    }

    /// The mounts below `m` (its children, theirs, ...), deepest last.
    func descendants(of m: Mount) -> [Mount] {
        var out: [Mount] = []
        var frontier = [m]
        while let p = frontier.popLast() {
            for c in mounts where c.parent === p { out.append(c); frontier.append(c) }
        }
        return out
    }

    /// A copy for unshare(CLONE_NEWNS) and clone(CLONE_NEWNS): the same mounts, new identities.
    func copy(ino: UInt64, nextID: () -> Int) -> MountNamespace {
        var copies: [ObjectIdentifier: Mount] = [:]
        var result: MountNamespace?
        for m in mounts {
            let c = m.copy(id: nextID(), parent: m.parent.flatMap { copies[ObjectIdentifier($0)] })
            copies[ObjectIdentifier(m)] = c
            if let r = result { r.mounts.append(c); if let over = c.mountpoint { r.covering[ObjectIdentifier(over)] = c } }
            else { result = MountNamespace(ino: ino, root: c) }
        }
        return result!
    }

    /// /proc/PID/mounts: "source mountpoint type options 0 0".
    func mountsText() -> String {
        mounts.map { m in
            let opts = m.superOptions.isEmpty ? m.flags.text : m.flags.text + "," + m.superOptions
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
            case .unbindable: optional = " unbindable"
            case .private, .slave: break
            }
            let sb = (m.root.fs.readOnly ? "ro" : "rw") + (m.superOptions.isEmpty ? "" : "," + m.superOptions)
            return "\(m.id) \(m.parent?.id ?? m.id) \(major):\(minor) \(Mount.escape(m.rootPath)) \(Mount.escape(m.path)) "
                + "\(m.flags.text)\(optional) - \(m.type) \(Mount.escape(m.source)) \(sb)\n"
        }.joined()
    }
}

extension Mount {
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
