// dnotify (fcntl F_NOTIFY): a directory fd asks for a signal (SIGIO, or F_SETSIG's) to its
// owner when entries in the directory are accessed, modified, created, deleted, renamed or
// have their attributes changed. Events come from the same hooks as inotify's (Inotify.swift),
// so the same limits apply (changes made inside the sandbox only). A watch lasts until
// F_NOTIFY with 0, its first event (without DN_MULTISHOT), or the description's last close.
// Kernel lock held throughout.
import JoeyABI

final class DnotifyWatch {
    weak var file: FileDescription?
    var mask: UInt32
    init(file: FileDescription, mask: UInt32) { self.file = file; self.mask = mask }
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
        if m & InotifyMask.create != 0 { d |= create }
        if m & InotifyMask.delete != 0 { d |= delete }
        if m & (InotifyMask.movedFrom | InotifyMask.movedTo) != 0 { d |= rename }
        return d
    }
}

extension Kernel {
    /// F_NOTIFY on `f`, a directory: replaces its watch (mask 0 removes it).
    func dnotify(_ f: FileDescription, mask: UInt32, caller: ThreadGroup) throws(LinuxErrno) {
        guard f.inode.kind == .directory else { throw .ENOTDIR }
        let key = InodeKey(f.inode)
        var ws = (dnotifyWatches[key] ?? []).filter { $0.file != nil && $0.file !== f }
        if mask & DnotifyMask.events != 0 {
            if f.asyncOwner == 0 { f.asyncOwner = caller.pid }
            ws.append(DnotifyWatch(file: f, mask: mask))
        }
        dnotifyWatches[key] = ws.isEmpty ? nil : ws
    }

    /// An inotify-style event on an entry of `directory`: signals the directory's dnotify owners.
    func dnotifyEvent(in directory: Inode, _ inotifyMask: UInt32) {
        let key = InodeKey(directory)
        guard let ws = dnotifyWatches[key] else { return }
        let events = DnotifyMask.from(inotify: inotifyMask)
        guard events != 0 else { return }
        var kept: [DnotifyWatch] = []
        for w in ws {
            guard let f = w.file, f.references > 0 else { continue }
            if w.mask & events != 0 {
                sendAsyncSignal(f, band: EventMask.input)
                if w.mask & DnotifyMask.multishot == 0 { continue }
            }
            kept.append(w)
        }
        dnotifyWatches[key] = kept.isEmpty ? nil : kept
    }
}
