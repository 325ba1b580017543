// The mount API of file descriptors (Linux 5.2's fs/fsopen.c and fs/namespace.c): fsopen
// and fspick make a filesystem context, fsconfig sets its parameters and creates or
// reconfigures the filesystem, fsmount makes a detached mount of it, open_tree opens (or
// clones) a mount tree, move_mount attaches a detached mount or moves an attached one. The
// filesystems are mount(2)'s (MountSyscalls.swift), their options parsed by the same code.
// Not offered: FSCONFIG_SET_BINARY's and SET_FD's values for a filesystem's own parameters
// (no sandbox filesystem takes them: EINVAL), MOVE_MOUNT_SET_GROUP and MOVE_MOUNT_BENEATH
// (EINVAL), and the context's message log (read: ENODATA).
// Kernel lock held throughout.
import Glibc
import JoeyABI

/// A filesystem context (struct fs_context behind an "[fscontext]" fd).
final class FSContextDescription: FileDescription {
    enum Phase { case createParams, awaitingMount, awaitingReconfigure, reconfigureParams, failed }
    let type: String
    var phase: Phase
    /// The filesystem's own parameters given so far, as mount(2)'s data would list them.
    var options: [String] = []
    var source: String?
    /// "ro" or "rw" given (SB_RDONLY set or cleared); nil: neither.
    var readOnly: Bool?
    /// After FSCONFIG_CMD_CREATE: the new filesystem's root and the options it shows.
    var root: Inode?
    var shownOptions = ""
    /// fspick's mount: the filesystem reconfigured.
    let picked: Location?

    init(type: String, picked: Location?, kernel: Kernel, flags: Int32) {
        self.type = type
        self.picked = picked
        phase = picked == nil ? .createParams : .reconfigureParams
        super.init(anonymous: "[fscontext]", fs: kernel.anonFS, flags: O_RDWR | flags)
    }

    /// The context's messages (fscontext_read): none are kept.
    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int { throw .ENODATA }
}

extension GuestThread {
    private static let fsopenCloexec: UInt64 = 1
    /// The superblock flags any filesystem takes as parameters (vfs_parse_sb_flag): set, cleared.
    private static let sbFlagsSet: Set<String> = ["dirsync", "lazytime", "mand", "posixacl", "ro", "sync", "silent"]
    private static let sbFlagsCleared: Set<String> = ["async", "nolazytime", "nomand", "rw"]

    /// fsopen(2): a context for a new filesystem of the type named.
    func sysFsopen() throws(LinuxErrno) -> UInt64 {
        guard group.capable(CAP_SYS_ADMIN, in: fs.mounts.owner) else { throw .EPERM }
        guard a1 & ~Self.fsopenCloexec == 0 else { throw .EINVAL }
        let name = String(decoding: try mm.readCString(a0, max: 4096), as: UTF8.self)
        guard Kernel.filesystemTypes.contains(name) else { throw .ENODEV }
        let context = FSContextDescription(type: name, picked: nil, kernel: kernel, flags: 0)
        return UInt64(try group.fdTable.install(context, closeOnExec: a1 & Self.fsopenCloexec != 0))
    }

    /// fspick(2): a context to reconfigure the filesystem of the mount whose root `path` is.
    func sysFspick() throws(LinuxErrno) -> UInt64 {
        let cloexec: UInt64 = 1, noFollow: UInt64 = 2, noAutomount: UInt64 = 4, emptyPath: UInt64 = 8
        guard group.capable(CAP_SYS_ADMIN, in: fs.mounts.owner) else { throw .EPERM }
        guard a2 & ~(cloexec | noFollow | noAutomount | emptyPath) == 0 else { throw .EINVAL }
        let target = try lookup(fdArg(a0), try pathArg(a1), follow: a2 & noFollow == 0, emptyPathAllowed: a2 & emptyPath != 0)
        guard let m = target.mount, m.root === target.inode else { throw .EINVAL }
        let context = FSContextDescription(type: m.root.fs.name, picked: target, kernel: kernel, flags: 0)
        return UInt64(try group.fdTable.install(context, closeOnExec: a2 & cloexec != 0))
    }

    /// fsconfig(2): one parameter, or create / reconfigure, with Linux's checks in its order.
    func sysFsconfig() throws(LinuxErrno) -> UInt64 {
        let setFlag: UInt64 = 0, setString: UInt64 = 1, setBinary: UInt64 = 2, setPath: UInt64 = 3,
            setPathEmpty: UInt64 = 4, setFD: UInt64 = 5, create: UInt64 = 6, reconfigure: UInt64 = 7, createExcl: UInt64 = 8
        let fd = Int32(truncatingIfNeeded: a0), cmd = a1, key = a2, value = a3, aux = Int32(truncatingIfNeeded: a4)
        guard fd >= 0 else { throw .EINVAL }
        switch cmd {
        case setFlag: guard key != 0, value == 0, aux == 0 else { throw .EINVAL }
        case setString: guard key != 0, value != 0, aux == 0 else { throw .EINVAL }
        case setBinary: guard key != 0, value != 0, aux > 0, aux <= 1 << 20 else { throw .EINVAL }
        case setPath, setPathEmpty: guard key != 0, value != 0, aux == AT_FDCWD || aux >= 0 else { throw .EINVAL }
        case setFD: guard key != 0, value == 0, aux >= 0 else { throw .EINVAL }
        case create, reconfigure, createExcl: guard key == 0, value == 0, aux == 0 else { throw .EINVAL }
        default: throw .EOPNOTSUPP
        }
        guard let context = try group.fdTable.get(fd) as? FSContextDescription else { throw .EINVAL }
        // The key and value as strndup_user takes them: at most 256 bytes with the NUL.
        func string(_ address: UInt64) throws(LinuxErrno) -> String {
            let bytes = try mm.readCString(address, max: 4096)
            guard bytes.count < 256 else { throw .EINVAL }
            return String(decoding: bytes, as: UTF8.self)
        }
        let name = key == 0 ? nil : try string(key)
        var text: String?
        switch cmd {
        case setString: text = try string(value)
        case setBinary: _ = try mm.read(value, count: Int(aux))
        case setPath, setPathEmpty: _ = try lookup(aux, try pathArg(value), follow: true, emptyPathAllowed: cmd == setPathEmpty)
        case setFD: _ = try group.fdTable.get(aux)
        default: break
        }
        switch cmd {
        case create, createExcl:
            guard context.phase == .createParams else { throw .EBUSY }
            do {
                let data = context.options.joined(separator: ",")
                let o = try parseOptions(context.type, data, readOnly: context.readOnly ?? false)
                context.root = try makeFilesystem(context.type, o, data: data)
                context.shownOptions = o.shown.joined(separator: ",")
                context.phase = .awaitingMount
            } catch {
                context.phase = .failed
                throw error
            }
            return 0
        case reconfigure:
            guard context.phase == .reconfigureParams, let target = context.picked, let m = target.mount else { throw .EBUSY }
            let ns = fs.mounts
            try reconfigureFilesystem(of: m, ns, readOnly: context.readOnly ?? m.root.fs.readOnly,
                                      data: context.options.joined(separator: ","))
            ns.touched()
            context.options = []
            context.readOnly = nil
            return 0
        default:
            guard context.phase == .createParams || context.phase == .reconfigureParams else { throw .EBUSY }
            guard let name, !name.isEmpty else { throw .EINVAL }
            if Self.sbFlagsSet.contains(name) || Self.sbFlagsCleared.contains(name) {
                if name == "ro" { context.readOnly = true } else if name == "rw" { context.readOnly = false }
                return 0
            }
            if name == "source" {
                guard cmd == setString, let text else { throw .EINVAL }
                guard context.source == nil else { throw .EINVAL }
                context.source = text
                return 0
            }
            // The filesystem's own: a flag or a string (no sandbox filesystem takes a path, a
            // file or a blob), one parameter, checked as mount(2) would check it.
            guard cmd == setFlag || cmd == setString, !name.contains(","), !name.contains("="),
                  !(text?.contains(",") ?? false) else { throw .EINVAL }
            let option = text.map { name + "=" + $0 } ?? name
            _ = try parseOptions(context.type, option, readOnly: false)
            context.options.append(option)
            return 0
        }
    }

    /// fsmount(2): a detached mount of the context's new filesystem, as an O_PATH fd of its root.
    func sysFsmount() throws(LinuxErrno) -> UInt64 {
        let cloexec: UInt64 = 1
        guard group.capable(CAP_SYS_ADMIN, in: fs.mounts.owner) else { throw .EPERM }
        guard a1 & ~cloexec == 0 else { throw .EINVAL }
        var mountFlags = try Self.mountAttributes(a2)
        guard let context = try group.fdTable.get(Int32(truncatingIfNeeded: a0)) as? FSContextDescription else { throw .EINVAL }
        guard let root = context.root else { throw .EINVAL }
        guard context.phase == .awaitingMount else { throw .EBUSY }
        if root.fs.readOnly { mountFlags.insert(.readOnly) }
        let m = Mount(id: kernel.allocateMountID(), root: root, type: context.type, source: context.source ?? "none",
                      flags: mountFlags, superOptions: context.shownOptions)
        try m.detach(with: [])
        context.phase = .awaitingReconfigure
        return try installMountFD(m, cloexec: a1 & cloexec != 0)
    }

    /// fsmount's MOUNT_ATTR_* (RDONLY NOSUID NODEV NOEXEC, the atime value, NODIRATIME,
    /// NOSYMFOLLOW) as a mount's flags; EINVAL for any other bit or atime value.
    private static func mountAttributes(_ attributes: UInt64) throws(LinuxErrno) -> MountFlags {
        guard attributes & ~UInt64(0xf | 0x70 | 0x80 | 0x20_0000) == 0 else { throw .EINVAL }
        var f = MountFlags(attributes: attributes)
        switch attributes & 0x70 {
        case 0x00: f.insert(.relATime)
        case 0x10: f.insert(.noATime)
        case 0x20: break // strictatime
        default: throw .EINVAL
        }
        return f
    }

    /// An O_PATH fd of mount `m`'s root.
    private func installMountFD(_ m: Mount, cloexec: Bool) throws(LinuxErrno) -> UInt64 {
        let d = PathDescription(inode: m.root, flags: O_PATH | (m.root.kind == .directory ? O_DIRECTORY : 0))
        d.location = Location(name: "/", parent: nil, inode: m.root, mount: m)
        d.path = "/"
        return UInt64(try group.fdTable.install(d, closeOnExec: cloexec))
    }

    /// open_tree(2): an O_PATH fd of `path`, or (OPEN_TREE_CLONE) of a detached bind mount of
    /// it, with (AT_RECURSIVE) the mounts below.
    func sysOpenTree() throws(LinuxErrno) -> UInt64 {
        let clone: UInt64 = 1, cloexec = UInt64(O_CLOEXEC), emptyPath: UInt64 = 0x1000, noAutomount: UInt64 = 0x800,
            recursive: UInt64 = 0x8000, noFollow: UInt64 = 0x100
        let flags = a2
        guard flags & ~(emptyPath | noAutomount | recursive | noFollow | clone | cloexec) == 0 else { throw .EINVAL }
        guard flags & (recursive | clone) != recursive else { throw .EINVAL }
        let cloning = flags & clone != 0
        let ns = fs.mounts
        if cloning && !group.capable(CAP_SYS_ADMIN, in: ns.owner) { throw .EPERM }
        let loc = try lookup(fdArg(a0), try pathArg(a1), follow: flags & noFollow == 0, emptyPathAllowed: flags & emptyPath != 0)
        guard cloning else {
            let d = PathDescription(inode: loc.inode, flags: O_PATH | (loc.inode.kind == .directory ? O_DIRECTORY : 0))
            d.location = loc
            d.named = loc
            return UInt64(try group.fdTable.install(d, closeOnExec: flags & cloexec != 0))
        }
        // Only a tree of the caller's namespace (or one already detached) is cloned.
        guard let origin = loc.mount, origin.detached || ns.mounts.contains(where: { $0 === origin }) else { throw .EINVAL }
        let (bind, copies) = try makeBind(of: loc, ns, recursive: flags & recursive != 0)
        try bind.detach(with: copies)
        return try installMountFD(bind, cloexec: flags & cloexec != 0)
    }

    /// move_mount(2): a detached mount (fsmount's, open_tree's clone) is attached at the
    /// target; an attached one moves there, as MS_MOVE.
    func sysMoveMount() throws(LinuxErrno) -> UInt64 {
        let fSymlinks: UInt64 = 0x1, fEmptyPath: UInt64 = 0x4, tSymlinks: UInt64 = 0x10, tEmptyPath: UInt64 = 0x40,
            setGroup: UInt64 = 0x100, beneath: UInt64 = 0x200
        let flags = a4
        guard group.capable(CAP_SYS_ADMIN, in: fs.mounts.owner) else { throw .EPERM }
        guard flags & ~UInt64(0x377) == 0 else { throw .EINVAL }
        guard flags & (setGroup | beneath) == 0 else { throw .EINVAL }
        let from = try lookup(fdArg(a0), try pathArg(a1), follow: flags & fSymlinks != 0, emptyPathAllowed: flags & fEmptyPath != 0)
        let to = try lookup(fdArg(a2), try pathArg(a3), follow: flags & tSymlinks != 0, emptyPathAllowed: flags & tEmptyPath != 0)
        let ns = fs.mounts
        guard let m = from.mount, m.root === from.inode else { throw .EINVAL }
        guard m.detached else {
            try move(from, to: to, ns)
            return 0
        }
        guard (m.root.kind == .directory) == (to.inode.kind == .directory) else { throw .ENOTDIR }
        guard let destination = to.mount, ns.mounts.contains(where: { $0 === destination }) else { throw .EINVAL }
        let below = m.attached()
        do {
            try attach(m, at: to, ns)
        } catch {
            try? m.detach(with: below) // as it was: its count was just given back
            throw error
        }
        for (c, loc) in below { ns.add(c, at: loc) }
        return 0
    }
}
