// Path walking: the sentry resolves every guest path itself, component by component,
// following symlinks within the sandbox's root and crossing mount points.
import JoeyABI

/// A resolved directory entry: an inode plus how it was reached (for `..` and getcwd).
final class Location {
    let name: ByteString
    let parent: Location?
    let inode: Inode
    init(name: ByteString, parent: Location?, inode: Inode) {
        self.name = name; self.parent = parent; self.inode = inode
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

extension Kernel {
    static let maxSymlinks = 40

    /// Resolves `path` starting at `start` (for relative paths), crossing the mounts of `mounts`.
    /// `scope`: openat2's restrictions; with `.beneath`, `start` is the directory the walk
    /// may not leave (with `.inRoot`, the caller passes it as `root`).
    func resolve(_ path: ByteString, from start: Location, root: Location, mounts: MountNamespace,
                 followFinal: Bool = true, scope: ResolveFlags = []) throws(LinuxErrno) -> Location {
        var budget = Kernel.maxSymlinks
        return try walk(path, from: start, root: root, mounts: mounts, followFinal: followFinal, budget: &budget,
                        scope: scope, anchor: scope.contains(.beneath) ? start.inode : nil)
    }

    private func walk(_ path: ByteString, from start: Location, root: Location, mounts: MountNamespace, followFinal: Bool,
                      budget: inout Int, scope: ResolveFlags, anchor: Inode?) throws(LinuxErrno) -> Location {
        guard !path.isEmpty else { throw .ENOENT }
        guard path.count < 4096 else { throw .ENAMETOOLONG }
        if anchor != nil && path.isAbsolute { throw .EXDEV }
        var cur = path.isAbsolute ? root : start
        let parts = path.components
        let trailingSlash = path.hasTrailingSlash
        for (i, part) in parts.enumerated() {
            let last = i == parts.count - 1
            guard cur.inode.kind == .directory else { throw .ENOTDIR }
            if part == "." { continue }
            if part == ".." {
                if let anchor, cur.inode === anchor { throw .EXDEV }
                if cur.inode !== root.inode, let p = cur.parent {
                    if scope.contains(.noXDev), mounts.mounts.contains(where: { $0.root === cur.inode }) { throw .EXDEV }
                    cur = p
                }
                continue
            }
            guard part.count <= 255 else { throw .ENAMETOOLONG }
            var child = try cur.inode.lookup(part)
            if let mounted = mounts.cover(child) {
                if scope.contains(.noXDev) { throw .EXDEV }
                child = mounted
            }
            if child.kind == .symlink && (!last || followFinal || trailingSlash) {
                budget -= 1
                guard budget >= 0 else { throw .ELOOP }
                if scope.contains(.noSymlinks) { throw .ELOOP }
                // /proc/PID/fd/N leads to the open file itself, not to its name (a magic link).
                if let target = child.magicTarget() {
                    if scope.contains(.noMagicLinks) { throw .ELOOP }
                    if !scope.isDisjoint(with: [.beneath, .inRoot]) { throw .EXDEV }
                    if scope.contains(.noXDev) && target.inode.fs !== cur.inode.fs { throw .EXDEV }
                    cur = target
                    continue
                }
                let target = try child.readlink()
                cur = try walk(target, from: cur, root: root, mounts: mounts, followFinal: true, budget: &budget,
                               scope: scope, anchor: anchor)
                continue
            }
            cur = Location(name: part, parent: cur, inode: child)
        }
        if trailingSlash && cur.inode.kind != .directory { throw .ENOTDIR }
        return cur
    }

    /// Resolves all but the last component: (parent directory, last name).
    /// The name is "." or ".." when the path ends that way; "" for "/".
    func resolveParent(_ path: ByteString, from start: Location, root: Location, mounts: MountNamespace,
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
            _ = try resolve(ByteString(trimmed), from: start, root: root, mounts: mounts, scope: scope)
        }
        let parent = try resolve(dirPart, from: start, root: root, mounts: mounts, scope: scope)
        guard parent.inode.kind == .directory else { throw .ENOTDIR }
        return (parent, name)
    }
}
