// File handles (name_to_handle_at, open_by_handle_at): a handle names an inode of a
// filesystem, and decoding it through a descriptor on that filesystem finds the inode again.
// The sandbox's filesystems have no on-disk identity to decode a handle from, so the sentry
// remembers the inodes it gave handles for, weakly (a handle does not keep its file alive):
// an inode no longer in the sentry's memory, or with no name left, decodes to ESTALE, as an
// unlinked file's handle does on Linux. Kernel lock held.
import JoeyABI

final class FileHandleTable {
    private struct Key: Hashable {
        let fs: ObjectIdentifier
        let ino: UInt64
    }

    private final class Entry {
        weak var inode: Inode?
        weak var mount: Mount?
        let path: ByteString
        init(_ loc: Location) { inode = loc.inode; mount = loc.mount; path = loc.path }
    }

    private var entries: [Key: Entry] = [:]
    /// The sentry's bound on what it remembers; past it, handles of inodes gone are dropped.
    static let limit = 1 << 16

    /// The handle's bytes: the inode number and a generation (always 0: numbers are not
    /// reused while the sandbox runs), Linux's FILEID_INO64_GEN layout.
    static let type: Int32 = 0x81
    static let size = 12

    /// Filesystems whose files have handles to open (Linux's export_operations); the others
    /// give identifiers only (AT_HANDLE_FID).
    static func exportable(_ fs: FileSystemID) -> Bool {
        !["proc", "devpts", "mqueue", "nsfs", "pipefs", "sockfs", "anon_inodefs"].contains(fs.name)
    }

    /// Remembers `loc`'s inode for decoding; its handle's bytes.
    func encode(_ loc: Location) -> [UInt8] {
        if entries.count >= Self.limit { entries = entries.filter { $0.value.inode != nil } }
        if entries.count >= Self.limit { entries.removeAll() }
        entries[Key(fs: ObjectIdentifier(loc.inode.fs), ino: loc.inode.ino)] = Entry(loc)
        var bytes: [UInt8] = []
        withUnsafeBytes(of: loc.inode.ino) { bytes += $0 }
        bytes += [0, 0, 0, 0]
        return bytes
    }

    /// The inode a handle of `type` with `bytes` names on `fs`, as a location that names
    /// itself by the path it had; nil when it is stale.
    func decode(_ type: Int32, _ bytes: [UInt8], on fs: FileSystemID) -> Location? {
        guard type == Self.type, bytes.count == Self.size, Self.exportable(fs) else { return nil }
        let ino = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        guard let entry = entries[Key(fs: ObjectIdentifier(fs), ino: ino)], let inode = entry.inode, inode.nlink > 0 else { return nil }
        return Location(name: entry.path, parent: nil, inode: inode, mount: entry.mount)
    }
}
