// HostTree: the sentry's handle on a host directory used as a lower layer (the sandbox's
// root). Every host path is opened relative to one directory fd with
// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so no guest path, symlink or `..`
// can reach outside it; symlinks are resolved by the sentry's own path walk.
import CJoey
import Glibc
import JoeyABI

public final class HostTree {
    public let rootFD: Int32
    public let path: String
    static let resolveInRoot: UInt64 = 0x10 | 0x02  // RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS

    public init(path: String) throws(KernelError) {
        let fd = Glibc.open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw KernelError("cannot open the root directory \(path): \(String(cString: strerror(errno)))")
        }
        rootFD = fd
        self.path = path
    }

    /// Opens `relative` (already symlink-free up to its last component) inside the tree.
    func openPath(_ relative: ByteString, flags: Int32) -> Int32 {
        let p: ByteString = relative.isEmpty ? "." : relative
        let r = p.withCString { joey_openat2(rootFD, $0, UInt64(UInt32(bitPattern: flags | O_CLOEXEC | O_NOFOLLOW)), 0, HostTree.resolveInRoot) }
        return r >= 0 ? Int32(r) : -Int32(-r)
    }

    /// lstat of a path in the tree, without following a final symlink.
    func lstat(_ relative: ByteString) -> stat? {
        let fd = openPath(relative, flags: O_PATH)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        return fstat(fd, &st) == 0 ? st : nil
    }

    /// What a lookup the host answers from its caches alone found.
    enum CachedLookup {
        case found(stat)
        case missing
        /// The host would have to read the disk (a name not in its dentry cache).
        case wouldWait
    }

    /// Cleared when the host kernel has no RESOLVE_CACHED (before 5.12): lookups then wait.
    private var cachedLookups = true

    /// lstat as `lstat`, but only from the host's dentry and inode caches (openat2's
    /// RESOLVE_CACHED, which returns EAGAIN rather than do I/O): the sentry calls it with the
    /// kernel lock held and makes the lookups that must wait with the lock let go.
    func lstatCached(_ relative: ByteString) -> CachedLookup {
        if HostTree.lookupsWait { return .wouldWait }
        guard cachedLookups else { return lstat(relative).map { .found($0) } ?? .missing }
        let p: ByteString = relative.isEmpty ? "." : relative
        let r = p.withCString {
            joey_openat2(rootFD, $0, UInt64(UInt32(bitPattern: O_PATH | O_CLOEXEC | O_NOFOLLOW)), 0, HostTree.resolveInRoot | HostTree.resolveCached)
        }
        if r == -Int64(EAGAIN) { return .wouldWait }
        if r == -Int64(EINVAL) {
            cachedLookups = false
            return lstatCached(relative)
        }
        guard r >= 0 else { return .missing }
        let fd = Int32(r)
        defer { close(fd) }
        var st = stat()
        return fstat(fd, &st) == 0 ? .found(st) : .missing
    }
    static let resolveCached: UInt64 = 0x20
    /// JOEY_HOST_LOOKUPS_WAIT=1: every host lookup is taken as one that waits for the disk,
    /// so the tests reach the unlocked path whatever the host's caches hold.
    static let lookupsWait = getenv("JOEY_HOST_LOOKUPS_WAIT").map { $0.pointee == 0x31 } ?? false

    func readlink(_ relative: ByteString) -> ByteString? {
        let fd = openPath(relative, flags: O_PATH)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlinkat(fd, "", &buf, 4096)
        guard n >= 0 else { return nil }
        return ByteString(buf[0..<n].map { UInt8(bitPattern: $0) })
    }

    /// The entries of a directory in the tree as getdents shows them: name, the host's d_ino
    /// and the kind from its d_type (an lstat only where the host file system gives no type).
    /// Host calls only: made with the kernel lock let go for getdents (see DirectoryInode).
    func list(_ relative: ByteString) -> [DirEntry] {
        let fd = openPath(relative, flags: O_RDONLY | O_DIRECTORY)
        guard fd >= 0, let dir = fdopendir(fd) else { return [] }
        defer { closedir(dir) }
        var out: [DirEntry] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                ByteString(UnsafeRawBufferPointer(start: raw.baseAddress, count: strlen(raw.bindMemory(to: CChar.self).baseAddress!)))
            }
            if name == "." || name == ".." { continue }
            var kind = FileKind(direntType: e.pointee.d_type)
            if kind == nil {
                var st = stat()
                guard name.withCString({ fstatat(dirfd(dir), $0, &st, Int32(AT_SYMLINK_NOFOLLOW)) }) == 0 else { continue }
                kind = FileKind(hostMode: st.st_mode)
            }
            out.append(DirEntry(name: name, ino: UInt64(e.pointee.d_ino), kind: kind ?? .regular))
        }
        return out
    }
}

/// An operator-facing failure of the kernel's setup: what failed and what to do.
public struct KernelError: Error, CustomStringConvertible {
    public let message: String
    /// The exit status the CLI should use (127: not found, 126: not executable, 125: setup).
    public var exitCode: Int32 = 125
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Timespec {
    init(_ t: timespec) { self.init(sec: Int64(t.tv_sec), nsec: Int64(t.tv_nsec)) }
}
