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

/// FS context of a process (struct fs_struct): root, cwd, umask.
final class FSContext {
    var root: Location
    var cwd: Location
    var umask: UInt32 = 0o022
    init(root: Location, cwd: Location) { self.root = root; self.cwd = cwd }
    func copy() -> FSContext { let c = FSContext(root: root, cwd: cwd); c.umask = umask; return c }
}

extension Kernel {
    static let maxSymlinks = 40

    /// Resolves `path` starting at `start` (for relative paths).
    func resolve(_ path: ByteString, from start: Location, root: Location, followFinal: Bool = true) throws(LinuxErrno) -> Location {
        var budget = Kernel.maxSymlinks
        return try walk(path, from: start, root: root, followFinal: followFinal, budget: &budget)
    }

    private func walk(_ path: ByteString, from start: Location, root: Location, followFinal: Bool,
                      budget: inout Int) throws(LinuxErrno) -> Location {
        guard !path.isEmpty else { throw .ENOENT }
        guard path.count < 4096 else { throw .ENAMETOOLONG }
        var cur = path.isAbsolute ? root : start
        let parts = path.components
        let trailingSlash = path.hasTrailingSlash
        for (i, part) in parts.enumerated() {
            let last = i == parts.count - 1
            guard cur.inode.kind == .directory else { throw .ENOTDIR }
            if part == "." { continue }
            if part == ".." {
                if cur.inode !== root.inode, let p = cur.parent { cur = p }
                continue
            }
            guard part.count <= 255 else { throw .ENAMETOOLONG }
            var child = try cur.inode.lookup(part)
            if let mounted = mounts[ObjectIdentifier(child)] { child = mounted }
            if child.kind == .symlink && (!last || followFinal || trailingSlash) {
                budget -= 1
                guard budget >= 0 else { throw .ELOOP }
                // /proc/PID/fd/N leads to the open file itself, not to its name (a magic link).
                if let target = child.magicTarget() {
                    cur = target
                    continue
                }
                let target = try child.readlink()
                cur = try walk(target, from: cur, root: root, followFinal: true, budget: &budget)
                continue
            }
            cur = Location(name: part, parent: cur, inode: child)
        }
        if trailingSlash && cur.inode.kind != .directory { throw .ENOTDIR }
        return cur
    }

    /// Resolves all but the last component: (parent directory, last name).
    /// The name is "." or ".." when the path ends that way; "" for "/".
    func resolveParent(_ path: ByteString, from start: Location, root: Location) throws(LinuxErrno) -> (Location, ByteString) {
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
        let parent = try resolve(dirPart, from: start, root: root)
        guard parent.inode.kind == .directory else { throw .ENOTDIR }
        return (parent, name)
    }
}
