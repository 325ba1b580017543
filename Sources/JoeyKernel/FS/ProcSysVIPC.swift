// /proc/sysvipc/{shm,sem,msg}: the System V objects of the reader's IPC namespace, one line
// each in Linux's columns (what ipcs(1) reads), pids numbered in the procfs's pid namespace.
// Kernel lock held (procfs files are generated under it).
import Glibc

extension ProcFS {
    static func sysvipcDirectory(_ kernel: Kernel, _ fs: FileSystemID, _ ns: PIDNamespace) -> Inode {
        let text: (@escaping () -> String) -> GeneratedFile = { gen in GeneratedFile(fs: fs) { Array(gen().utf8) } }
        func ipc() -> IPCNamespace { kernel.current?.group.ipc ?? kernel.initialIPC }
        func pid(_ global: Int32) -> Int32 { ns.contains(global) ? ns.local(global) : 0 }
        return directory([
            "shm": { text {
                let registry = ipc().sharedMemory
                registry.prune(kernel)
                var out = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid"
                    + "      atime      dtime      ctime                   rss                  swap\n"
                for s in registry.segments.values.sorted(by: { $0.id < $1.id }) {
                    let rss = (s.file.inode as? RegularFileInode)?.residentBytes ?? 0
                    out += column(s.removed ? 0 : s.key, 10) + " " + column(s.id, 10) + "  " + octal(s.mode | (s.removed ? 0o1000 : 0))
                        + " " + column(s.size, 21) + " " + column(pid(s.creatorPID), 5) + " " + column(pid(s.lastPID), 5) + "  "
                        + column(registry.attachments(s, in: kernel), 5) + ids(s)
                        + " " + column(s.attachTime, 10) + " " + column(s.detachTime, 10) + " " + column(s.changeTime, 10)
                        + " " + column(rss, 21) + " " + column(0, 21) + "\n"
                }
                return out
            } },
            "sem": { text {
                var out = "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n"
                for s in ipc().semaphores.sets.values.sorted(by: { $0.id < $1.id }) where !s.removed {
                    out += column(s.key, 10) + " " + column(s.id, 10) + "  " + octal(s.mode) + " " + column(s.values.count, 10)
                        + ids(s) + " " + column(s.operationTime, 10) + " " + column(s.changeTime, 10) + "\n"
                }
                return out
            } },
            "msg": { text {
                var out = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid"
                    + "      stime      rtime      ctime\n"
                for q in ipc().messageQueues.queues.values.sorted(by: { $0.id < $1.id }) where !q.removed {
                    out += column(q.key, 10) + " " + column(q.id, 10) + "  " + octal(q.mode) + "  " + column(q.bytes, 10)
                        + " " + column(q.messages.count, 10) + " " + column(pid(q.lastSender), 5) + " " + column(pid(q.lastReceiver), 5)
                        + ids(q) + " " + column(q.sendTime, 10) + " " + column(q.receiveTime, 10) + " " + column(q.changeTime, 10) + "\n"
                }
                return out
            } },
        ], fs)
    }

    /// `v` right-aligned in `width` columns (printf's %Nd).
    private static func column<T: BinaryInteger>(_ v: T, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: " ", count: max(0, width - s.count)) + s
    }

    /// The mode as %4o.
    private static func octal(_ mode: UInt32) -> String {
        let s = String(mode, radix: 8)
        return String(repeating: " ", count: max(0, 4 - s.count)) + s
    }

    /// The owner and creator columns every file has: " uid gid cuid cgid", each %5u.
    private static func ids(_ o: some IPCObject) -> String {
        [o.uid, o.gid, o.creatorUID, o.creatorGID].map { " " + column($0, 5) }.joined()
    }
}
