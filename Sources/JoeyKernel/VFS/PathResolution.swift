// Path walking: the sentry resolves every guest path itself, component by component,
// following symlinks within the sandbox's root and crossing mount points. Kernel lock held;
// in a call that may be made again (GuestThread.defersHostWaits) a host lookup that would
// wait for the disk is left to be made with the lock let go, and the call made again.
import JoeyABI

/// A resolved directory entry: an inode plus how it was reached, and the mount it is in
/// (Linux's struct path: vfsmount and dentry). The names and parents are those of the walk;
/// a directory renamed since is followed through its inode's parent (dotdot, current).
final class Location {
    let name: ByteString
    let parent: Location?
    let inode: Inode
    /// nil for a detached location (a pipe reached through /proc/PID/fd).
    let mount: Mount?
    /// `mount`: the parent's unless given (a location reached by crossing into a mount).
    init(name: ByteString, parent: Location?, inode: Inode, mount: Mount? = nil) {
        self.name = name; self.parent = parent; self.inode = inode; self.mount = mount ?? parent?.mount
    }

    /// `..` as the tree is now (Linux's follow_dotdot): a directory's parent since renames,
    /// not where a walk once came from; at a mount's root, the directory holding its
    /// mountpoint. ENOENT when a rename took the directory out from under the root of the
    /// bind mount it is reached through (path_connected). nil at the top.
    func dotdot() throws(LinuxErrno) -> Location? {
        guard let p = parent else { return nil }
        guard let d = inode as? DirectoryInode, let m = mount, inode !== m.root, let real = d.parentDirectory else { return p }
        // Through a bind mount of a subdirectory, only what is still below its root.
        if let r = m.root as? DirectoryInode, r.parentDirectory != nil, !real.isWithin(r) { throw .ENOENT }
        if p.inode === real && p.mount === m { return p }
        return try place(real, in: m)
    }

    /// The place of directory `dir` in mount `m`, built from the mount's root down through the
    /// parents `dir` has now; the mount's root is found on this location's way up.
    private func place(_ dir: DirectoryInode, in m: Mount) throws(LinuxErrno) -> Location {
        var base: Location? = self
        while let b = base, !(b.inode === m.root && b.mount === m) { base = b.parent }
        guard let top = base else { throw .ENOENT }
        var names: [(ByteString, DirectoryInode)] = []
        var cur = dir
        while cur !== m.root {
            guard let up = cur.parentDirectory else { throw .ENOENT } // outside the mount's tree
            names.append((cur.nameInParent, cur))
            cur = up
        }
        var loc = top.current()
        for (name, d) in names.reversed() { loc = Location(name: name, parent: loc, inode: d, mount: m) }
        return loc
    }

    /// This place with its names and parents as they are now: a directory renamed (or one
    /// above it) since the walk that found it reports its new path, and so does a file rename
    /// moved (Inode.lastRename), within its mount. Itself when nothing moved.
    func current() -> Location {
        guard let p = parent else { return self }
        if let d = inode as? DirectoryInode, let m = mount, inode !== m.root, let real = d.parentDirectory {
            if p.inode === real && p.mount === m {
                let fresh = p.current()
                return fresh === p && d.nameInParent == name ? self
                    : Location(name: d.nameInParent, parent: fresh, inode: inode, mount: m)
            }
            if let up = try? place(real, in: m) { return Location(name: d.nameInParent, parent: up, inode: inode, mount: m) }
            return self
        }
        let fresh = p.current()
        if let here = p.inode as? DirectoryInode, let moved = here.renamedEntry(of: inode, was: name) {
            if moved.dir === here { return Location(name: moved.name, parent: fresh, inode: inode, mount: mount) }
            if let m = mount, let up = try? place(moved.dir, in: m) { return Location(name: moved.name, parent: up, inode: inode, mount: m) }
        }
        return fresh === p ? self : Location(name: name, parent: fresh, inode: inode, mount: mount)
    }

    /// The same place in another namespace's copies of the mounts (unshare(CLONE_NEWNS)).
    func translated(_ map: [ObjectIdentifier: Mount]) -> Location {
        Location(name: name, parent: parent?.translated(map), inode: inode,
                 mount: mount.flatMap { map[ObjectIdentifier($0)] } ?? mount)
    }
    var path: ByteString {
        // A detached location (a file reached through /proc/PID/fd) names itself: "pipe:[7]".
        if parent == nil && !name.isEmpty { return name }
        var parts: [ByteString] = []
        var cur: Location? = self
        while let c = cur, let p = c.parent { parts.append(c.name); cur = p }
        var out: [UInt8] = []
        for part in parts.reversed() { out.append(ByteString.slash); out += part.bytes }
        return out.isEmpty ? "/" : ByteString(out)
    }

    /// The path as a process whose root is `root` sees it (Linux's d_path): nil when this
    /// place is not under that root (a chroot the working directory is outside of).
    func path(under root: Location) -> ByteString? {
        var parts: [ByteString] = []
        var cur: Location? = self
        while let c = cur {
            if c.inode === root.inode && c.mount === root.mount {
                var out: [UInt8] = []
                for part in parts.reversed() { out.append(ByteString.slash); out += part.bytes }
                return out.isEmpty ? "/" : ByteString(out)
            }
            guard let p = c.parent else { return nil }
            parts.append(c.name)
            cur = p
        }
        return nil
    }
}

/// FS context of a process (struct fs_struct): root, cwd, umask, and the mount namespace
/// its paths are walked in (Linux keeps that in nsproxy; it lives here because unsharing it
/// unshares root and cwd too).
final class FSContext {
    var root: Location
    var cwd: Location
    var umask: UInt32 = 0o022
    var mounts: MountNamespace
    init(root: Location, cwd: Location, mounts: MountNamespace) { self.root = root; self.cwd = cwd; self.mounts = mounts }
    func copy() -> FSContext { let c = FSContext(root: root, cwd: cwd, mounts: mounts); c.umask = umask; return c }

    /// The root is not the namespace's (what is mounted topmost at its "/"): chroot moved it
    /// (Linux's current_chrooted).
    var isChrooted: Bool {
        let base = mounts.root
        let top = mounts.cover(base.root, in: base) ?? base
        return root.mount !== top || root.inode !== top.root
    }
}

/// openat2's RESOLVE_* restrictions on a walk.
struct ResolveFlags: OptionSet {
    let rawValue: UInt64
    static let noXDev = ResolveFlags(rawValue: 0x01)
    static let noMagicLinks = ResolveFlags(rawValue: 0x02)
    static let noSymlinks = ResolveFlags(rawValue: 0x04)
    static let beneath = ResolveFlags(rawValue: 0x08)
    static let inRoot = ResolveFlags(rawValue: 0x10)
    static let cached = ResolveFlags(rawValue: 0x20)
}

/// Who walks a path: every directory looked up in needs their search permission (may_lookup).
struct Walker {
    let fsuid: UInt32
    let fsgid: UInt32
    let groups: [UInt32]
    /// CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH: any directory may be searched...
    let searchesAll: Bool
    /// ...whose owner and group this user namespace can name (nil: the initial one, which
    /// names all).
    var capabilitiesOnlyIn: UserNamespace? = nil
    /// fs.protected_symlinks: a trailing symlink in a sticky world-writable directory is
    /// followed only by its owner, or when the directory's owner owns it (may_follow_link).
    var protectedSymlinks = false
    /// The sentry's own walks (setting up the sandbox's mounts, finding pid 1's program).
    static let sentry = Walker(fsuid: 0, fsgid: 0, groups: [], searchesAll: true)

    @inline(__always)
    func maySearch(_ dir: Inode) throws(LinuxErrno) {
        if searchesAll && capabilitiesOnlyIn == nil { return }
        let shift: UInt32 = dir.uid == fsuid ? 6 : (dir.gid == fsgid || groups.contains(dir.gid)) ? 3 : 0
        if (dir.mode >> shift) & 1 != 0 { return }
        if searchesAll, let ns = capabilitiesOnlyIn, ns.maps(uid: dir.uid, gid: dir.gid) { return }
        throw .EACCES
    }
}

extension Kernel {
    static let maxSymlinks = 40

    /// Resolves `path` starting at `start` (for relative paths), crossing the mounts of `mounts`.
    /// `scope`: openat2's restrictions; with `.beneath`, `start` is the directory the walk
    /// may not leave (with `.inRoot`, the caller passes it as `root`).
    func resolve(_ path: ByteString, from start: Location, root: Location, mounts: MountNamespace, as walker: Walker,
                 followFinal: Bool = true, scope: ResolveFlags = []) throws(LinuxErrno) -> Location {
        var budget = Kernel.maxSymlinks
        // A guest call that may be made again lets lookups that wait for the disk go unlocked.
        var deferrer = GuestThread.onThisHostThread
        if deferrer?.defersHostWaits != true { deferrer = nil }
        return try walk(path, from: start, root: root, mounts: mounts, walker: walker, followFinal: followFinal, budget: &budget,
                        scope: scope, anchor: scope.contains(.beneath) ? start.inode : nil, deferrer: deferrer, trailing: true)
    }

    /// `trailing`: the path's last component is the whole walk's (Linux's WALK_TRAILING: the
    /// path's own, or that of a trailing symlink's body).
    private func walk(_ path: ByteString, from start: Location, root: Location, mounts: MountNamespace, walker: Walker,
                      followFinal: Bool, budget: inout Int, scope: ResolveFlags, anchor: Inode?,
                      deferrer: GuestThread?, trailing: Bool) throws(LinuxErrno) -> Location {
        guard !path.isEmpty else { throw .ENOENT }
        guard path.count < 4096 else { throw .ENAMETOOLONG }
        if anchor != nil && path.isAbsolute { throw .EXDEV }
        var cur = path.isAbsolute ? root : start
        let parts = path.components
        let trailingSlash = path.hasTrailingSlash
        for (i, part) in parts.enumerated() {
            let last = i == parts.count - 1
            guard cur.inode.kind == .directory else { throw .ENOTDIR }
            try walker.maySearch(cur.inode)
            if part == "." { continue }
            if part == ".." {
                if let anchor, cur.inode === anchor { throw .EXDEV }
                if cur.inode !== root.inode, let p = try cur.dotdot() {
                    if scope.contains(.noXDev) && p.mount !== cur.mount { throw .EXDEV }
                    cur = p
                }
                continue
            }
            guard part.count <= 255 else { throw .ENAMETOOLONG }
            var child: Inode
            if let deferrer { child = try cur.inode.lookup(part, deferringHostWaitsOf: deferrer) } else { child = try cur.inode.lookup(part) }
            var childMount = cur.mount
            if let mounted = mounts.cover(child, in: cur.mount) {
                if scope.contains(.noXDev) { throw .EXDEV }
                child = mounted.root
                childMount = mounted
            }
            if child.kind == .symlink && (!last || followFinal || trailingSlash) {
                budget -= 1
                guard budget >= 0 else { throw .ELOOP }
                // RESOLVE_NO_SYMLINKS, or a symlink on a nosymfollow mount (pick_link).
                if scope.contains(.noSymlinks) || childMount?.flags.contains(.noSymFollow) == true { throw .ELOOP }
                if walker.protectedSymlinks && last && trailing && child.uid != walker.fsuid
                    && cur.inode.mode & 0o1002 == 0o1002 && cur.inode.uid != child.uid { throw .EACCES }
                // /proc/PID/fd/N leads to the open file itself, not to its name (a magic link).
                if let target = child.magicTarget() {
                    if scope.contains(.noMagicLinks) { throw .ELOOP }
                    if !scope.isDisjoint(with: [.beneath, .inRoot]) { throw .EXDEV }
                    if scope.contains(.noXDev) && target.mount !== cur.mount { throw .EXDEV }
                    cur = target
                    continue
                }
                if child.isMagicLink && scope.contains(.noMagicLinks) { throw .ELOOP }
                let target = try child.readlink()
                cur = try walk(target, from: cur, root: root, mounts: mounts, walker: walker, followFinal: true,
                               budget: &budget, scope: scope, anchor: anchor, deferrer: deferrer, trailing: last && trailing)
                continue
            }
            cur = Location(name: part, parent: cur, inode: child, mount: childMount)
        }
        if trailingSlash && cur.inode.kind != .directory { throw .ENOTDIR }
        return cur
    }

    /// Resolves all but the last component: (parent directory, last name).
    /// The name is "." or ".." when the path ends that way; "" for "/".
    /// The parent must be searchable by `walker` (the last name is looked up in it).
    func resolveParent(_ path: ByteString, from start: Location, root: Location, mounts: MountNamespace, as walker: Walker,
                       scope: ResolveFlags = []) throws(LinuxErrno) -> (Location, ByteString) {
        guard !path.isEmpty else { throw .ENOENT }
        guard path.count < 4096 else { throw .ENAMETOOLONG }
        var trimmed = path.bytes[...]
        while trimmed.count > 1 && trimmed.last == ByteString.slash { trimmed = trimmed.dropLast() }
        if trimmed.count == 1 && trimmed.first == ByteString.slash { return (root, "") }
        let dirPart: ByteString
        let name: ByteString
        if let slash = trimmed.lastIndex(of: ByteString.slash) {
            dirPart = slash == trimmed.startIndex ? "/" : ByteString(trimmed[..<slash])
            name = ByteString(trimmed[(slash + 1)...])
        } else {
            dirPart = "."
            name = ByteString(trimmed)
        }
        guard name.count <= 255 else { throw .ENAMETOOLONG }
        // Under RESOLVE_BENEATH the last name may not climb out either.
        if scope.contains(.beneath) && (name == ".." || path.isAbsolute) {
            _ = try resolve(ByteString(trimmed), from: start, root: root, mounts: mounts, as: walker, scope: scope)
        }
        let parent = try resolve(dirPart, from: start, root: root, mounts: mounts, as: walker, scope: scope)
        guard parent.inode.kind == .directory else { throw .ENOTDIR }
        try walker.maySearch(parent.inode)
        return (parent, name)
    }
}
