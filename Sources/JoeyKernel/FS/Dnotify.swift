// dnotify (fcntl F_NOTIFY): a directory fd asks for a signal (SIGIO, or F_SETSIG's) to its
// owner when entries in the directory are accessed, modified, created, deleted, renamed or
// have their attributes changed. Events come from the same hooks as inotify's (Inotify.swift),
// so the same limits apply (changes made inside the sandbox only). A watch lasts until
// F_NOTIFY with 0, its first event (without DN_MULTISHOT), or the description's last close.
// Kernel lock held throughout.
import JoeyABI

final class DnotifyWatch {
    weak var file: FileDescription?
    /// The fd F_NOTIFY was set through: its signals name it in si_fd.
    let fd: Int32
    var mask: UInt32
    init(file: FileDescription, fd: Int32, mask: UInt32) { self.file = file; self.fd = fd; self.mask = mask }
}

enum DnotifyMask {
    static let access: UInt32 = 0x1, modify: UInt32 = 0x2, create: UInt32 = 0x4, delete: UInt32 = 0x8
    static let rename: UInt32 = 0x10, attrib: UInt32 = 0x20, multishot: UInt32 = 0x8000_0000
    static let events: UInt32 = 0x3f

    /// The dnotify events an inotify event stands for.
    static func from(inotify m: UInt32) -> UInt32 {
        var d: UInt32 = 0
        if m & InotifyMask.access != 0 { d |= access }
        if m & InotifyMask.modify != 0 { d |= modify }
        if m & InotifyMask.attrib != 0 { d |= attrib }
        // A move into the directory counts as a creation, one out of it as a deletion; a
        // rename within it is DN_RENAME (dnotifyRename), as Linux's convert_arg maps them.
        if m & (InotifyMask.create | InotifyMask.movedTo) != 0 { d |= create }
        if m & (InotifyMask.delete | InotifyMask.movedFrom) != 0 { d |= delete }
        return d
    }
}

extension Kernel {
    /// F_NOTIFY on `f`, a directory: replaces its watch (mask 0 removes it).
    func dnotify(_ f: FileDescription, fd: Int32, mask: UInt32, caller: ThreadGroup) throws(LinuxErrno) {
        guard f.inode.kind == .directory else { throw .ENOTDIR }
        let key = InodeKey(f.inode)
        var ws = (dnotifyWatches[key] ?? []).filter { $0.file != nil && $0.file !== f }
        if mask & DnotifyMask.events != 0 {
            if f.asyncOwner == 0 { f.asyncOwner = caller.pid }
            ws.append(DnotifyWatch(file: f, fd: fd, mask: mask))
        }
        dnotifyWatches[key] = ws.isEmpty ? nil : ws
    }

    /// An inotify-style event on an entry of `directory`, or on the directory itself:
    /// signals the directory's dnotify owners.
    func dnotifyEvent(in directory: Inode, _ inotifyMask: UInt32) {
        dnotifySignal(in: directory, DnotifyMask.from(inotify: inotifyMask))
    }

    /// An entry of `directory` renamed within it (FS_RENAME): DN_RENAME.
    func dnotifyRename(in directory: Inode) {
        if !dnotifyWatches.isEmpty { dnotifySignal(in: directory, DnotifyMask.rename) }
    }

    private func dnotifySignal(in directory: Inode, _ events: UInt32) {
        let key = InodeKey(directory)
        guard events != 0, let ws = dnotifyWatches[key] else { return }
        var kept: [DnotifyWatch] = []
        for w in ws {
            guard let f = w.file, f.references > 0 else { continue }
            if w.mask & events != 0 {
                sendAsyncSignal(f, reason: .message, fd: w.fd)
                if w.mask & DnotifyMask.multishot == 0 { continue }
            }
            kept.append(w)
        }
        dnotifyWatches[key] = kept.isEmpty ? nil : kept
    }
}
