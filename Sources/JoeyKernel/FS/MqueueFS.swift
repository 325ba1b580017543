// The mqueue filesystem (mount -t mqueue, /dev/mqueue): the POSIX message queues of the
// mounter's IPC namespace as files of one directory (mode 1777). A file there is a queue:
// opened, it is a queue descriptor (its read is the status line); created (open O_CREAT,
// creat), a new queue with the namespace's default sizes; removed, the queue's name goes
// (mq_unlink). Two mounts of the same namespace show the same queues. Once no process is in
// the namespace any more, its queues are still shown but no new one is made there (EACCES,
// as Linux's mount whose namespace has gone). Kernel lock held.
import Glibc
import JoeyABI

final class MqueueDirectory: Inode {
    let namespace: IPCNamespace
    init(namespace: IPCNamespace, fs: FileSystemID) {
        self.namespace = namespace
        super.init(kind: .directory, mode: 0o1777, fs: fs, ino: 1)
        nlink = 2
    }

    private var registry: PosixMessageQueueRegistry { namespace.posixMessageQueues }

    private func file(_ name: [UInt8], _ q: PosixMessageQueue) -> Inode {
        if q.ino == nil { q.ino = fs.allocateIno() }
        let f = MqueueFile(queue: q, name: name, namespace: namespace, fs: fs, ino: q.ino!)
        return f
    }

    override func lookup(_ name: ByteString) throws(LinuxErrno) -> Inode {
        guard let q = registry.names[name.bytes] else { throw .ENOENT }
        return file(name.bytes, q)
    }

    override func entries() throws(LinuxErrno) -> [DirEntry] {
        registry.names.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { name in
            DirEntry(name: ByteString(name), ino: registry.names[name].map { q in
                if q.ino == nil { q.ino = fs.allocateIno() }
                return q.ino!
            } ?? 0, kind: .regular)
        }
    }

    /// Only queues are made here (a regular file: a queue with the default sizes).
    override func create(_ name: ByteString, kind: FileKind, mode: UInt32, uid: UInt32, gid: UInt32,
                         target: ByteString?, rdev: UInt64) throws(LinuxErrno) -> Inode {
        guard kind == .regular else { throw .EPERM }
        guard registry.names[name.bytes] == nil else { throw .EEXIST }
        guard let t = GuestThread.onThisHostThread else { throw .EPERM }
        guard t.kernel.threadGroups.values.contains(where: { $0.ipc === namespace }) else { throw .EACCES }
        let q = try t.makeMessageQueue(name.bytes, in: registry, mode: mode & 0o7777, attr: nil)
        touchModified()
        return file(name.bytes, q)
    }

    override func insert(_ name: ByteString, _ inode: Inode) throws(LinuxErrno) { throw .EPERM }

    override func remove(_ name: ByteString) throws(LinuxErrno) {
        guard registry.names[name.bytes] != nil else { throw .ENOENT }
        registry.unlink(name.bytes)
        touchModified()
    }
}

/// One queue, as a file of an mqueue filesystem.
final class MqueueFile: Inode {
    let queue: PosixMessageQueue
    let name: [UInt8]
    let namespace: IPCNamespace
    init(queue: PosixMessageQueue, name: [UInt8], namespace: IPCNamespace, fs: FileSystemID, ino: UInt64) {
        self.queue = queue; self.name = name; self.namespace = namespace
        super.init(kind: .regular, mode: queue.mode, fs: fs, ino: ino)
        uid = queue.uid
        gid = queue.gid
    }

    // chmod and chown of the file are the queue's.
    override var mode: UInt32 { didSet { queue.mode = mode } }
    override var uid: UInt32 { didSet { queue.uid = uid } }
    override var gid: UInt32 { didSet { queue.gid = gid } }

    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        let accmode = flags & O_ACCMODE == O_ACCMODE ? O_RDWR : flags & O_ACCMODE
        return MessageQueueDescription(queue, name: name, flags: accmode | (flags & O_NONBLOCK), namespace: namespace, fs: fs)
    }
}
