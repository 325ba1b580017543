// File system calls: open/read/write/stat/getdents and the *at family, on the sentry's VFS.
import Glibc
import JoeyABI
import JoeyPlatform

let AT_FDCWD: Int32 = -100
let AT_SYMLINK_NOFOLLOW: UInt64 = 0x100
let AT_REMOVEDIR_FLAG: UInt64 = 0x200
let AT_SYMLINK_FOLLOW: UInt64 = 0x400
let AT_EMPTY_PATH: UInt64 = 0x1000

/// A description opened with O_PATH: it names a file but allows no I/O.
final class PathDescription: FileDescription {
    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int { throw .EBADF }
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int { throw .EBADF }
}

/// __O_TMPFILE (O_TMPFILE without its O_DIRECTORY).
let O_TMPFILE_FLAG: Int32 = 0o20000000

extension GuestThread {
    /// A path argument: bytes as the guest gave them (names are bytes, not text).
    func pathArg(_ address: UInt64) throws(LinuxErrno) -> ByteString {
        ByteString(try mm.readCString(address, max: 4096))
    }

    /// The directory a relative path starts from: cwd for AT_FDCWD, else the fd's directory.
    func startLocation(_ dirfd: Int32, _ path: ByteString) throws(LinuxErrno) -> Location {
        if path.isAbsolute || dirfd == AT_FDCWD { return fs.cwd }
        let f = try group.fdTable.getRaw(dirfd)
        guard let loc = f.location else { throw .ENOTDIR }
        guard loc.inode.kind == .directory else { throw .ENOTDIR }
        return loc
    }

    func lookup(_ dirfd: Int32, _ path: ByteString, follow: Bool, emptyPathAllowed: Bool = false,
                scope: ResolveFlags = []) throws(LinuxErrno) -> Location {
        if path.isEmpty && !emptyPathAllowed { throw .ENOENT }
        if path.isEmpty {
            if dirfd == AT_FDCWD { return fs.cwd }
            let f = try group.fdTable.getRaw(dirfd)
            return f.location ?? Location(name: f.path, parent: nil, inode: f.inode)
        }
        let (start, root) = try walkStart(dirfd, path, scope)
        return try kernel.resolve(path, from: start, root: root, mounts: fs.mounts, as: walker, followFinal: follow, scope: scope)
    }

    func lookupParent(_ dirfd: Int32, _ path: ByteString, scope: ResolveFlags = []) throws(LinuxErrno) -> (Location, ByteString) {
        let (start, root) = try walkStart(dirfd, path, scope)
        return try kernel.resolveParent(path, from: start, root: root, mounts: fs.mounts, as: walker, scope: scope)
    }

    /// Where a walk starts and what is its root: for RESOLVE_BENEATH and RESOLVE_IN_ROOT the
    /// directory dirfd names is both, even for an absolute path.
    private func walkStart(_ dirfd: Int32, _ path: ByteString, _ scope: ResolveFlags) throws(LinuxErrno) -> (Location, Location) {
        guard !scope.isDisjoint(with: [.beneath, .inRoot]) else { return (try startLocation(dirfd, path), fs.root) }
        let base = try startLocation(dirfd, "relative")
        return (base, scope.contains(.inRoot) ? base : fs.root)
    }

    /// A child's inode as path walking sees it (mounts crossed).
    func child(_ dir: Location, _ name: ByteString) throws(LinuxErrno) -> Inode {
        let c = try dir.inode.lookup(name)
        return fs.mounts.cover(c, in: dir.mount)?.root ?? c
    }

    // MARK: open / close

    func sysOpen() throws(LinuxErrno) -> UInt64 { try sysOpenat(dirfd: AT_FDCWD, pathArg: a0, flags: a1, mode: a2) }

    /// openat2(2): openat with every flag checked and the walk restricted by `how.resolve`.
    func sysOpenat2() throws(LinuxErrno) -> UInt64 {
        let size = a3
        guard size >= 24 else { throw .EINVAL }
        guard size <= 4096 else { throw .E2BIG }
        let how = try mm.read(a2, count: Int(size))
        // A larger struct from a newer program is fine if what Joey does not know is zero.
        if how[24...].contains(where: { $0 != 0 }) { throw .E2BIG }
        let field = { (i: Int) -> UInt64 in how.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) } }
        let flags = field(0), mode = field(1), resolve = ResolveFlags(rawValue: field(2))
        let valid: UInt64 = 0o37777703 // VALID_OPEN_FLAGS: the access mode and every open flag
        guard flags & ~valid == 0 else { throw .EINVAL }
        let creating = flags & UInt64(O_CREAT) != 0 || flags & UInt64(O_TMPFILE_FLAG) != 0
        guard creating ? mode & ~0o7777 == 0 : mode == 0 else { throw .EINVAL }
        guard resolve.rawValue & ~0x3f == 0, !resolve.isSuperset(of: [.beneath, .inRoot]) else { throw .EINVAL }
        // O_PATH takes only the flags that mean something to it.
        if flags & UInt64(O_PATH) != 0 && flags & ~UInt64(O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) != 0 { throw .EINVAL }
        // Everything is in memory: RESOLVE_CACHED fails only where Linux's must (it would write).
        if resolve.contains(.cached) && flags & UInt64(O_CREAT | O_TRUNC | O_TMPFILE_FLAG) != 0 { throw .EAGAIN }
        return try sysOpenat(dirfd: Int32(truncatingIfNeeded: a0), pathArg: a1, flags: flags, mode: mode, scope: resolve)
    }

    func sysOpenat(dirfd: Int32, pathArg addr: UInt64, flags rawFlags: UInt64, mode: UInt64,
                   scope: ResolveFlags = []) throws(LinuxErrno) -> UInt64 {
        let flags = Int32(truncatingIfNeeded: rawFlags)
        let path = try pathArg(addr)
        if flags & O_TMPFILE_FLAG != 0 {
            // O_TMPFILE is __O_TMPFILE with O_DIRECTORY, without O_CREAT, open for writing.
            guard flags & (O_TMPFILE_FLAG | O_DIRECTORY | O_CREAT) == O_TMPFILE_FLAG | O_DIRECTORY,
                  flags & O_ACCMODE != O_RDONLY else { throw .EINVAL }
        } else if flags & O_CREAT != 0 && flags & O_DIRECTORY != 0 {
            throw .EINVAL // Linux 6.4+
        }
        var loc: Location
        // A file this call creates is opened without a permission check (its mode may say 0).
        var created = false
        if flags & O_TMPFILE_FLAG != 0 {
            let dir = try lookup(dirfd, path, follow: true, scope: scope)
            guard dir.inode.kind == .directory else { throw .ENOTDIR }
            try checkAccess(dir.inode, read: false, write: true, exec: true, mount: dir.mount)
            guard let d = dir.inode as? DirectoryInode, !(d.context.writeThrough && d.lowerPath != nil) else { throw .EOPNOTSUPP }
            let f = RegularFileInode(context: d.context, mode: creationMode(mode, in: d))
            // In a setgid directory it takes the directory's group, as any new file there.
            f.uid = group.fsuid; f.gid = d.mode & 0o2000 != 0 ? d.gid : group.fsgid
            f.nlink = 0
            // linkat may give it a name, unless O_EXCL says it never will (I_LINKABLE).
            f.linkable = flags & O_EXCL == 0
            loc = Location(name: ByteString("#\(f.ino)"), parent: dir, inode: f)
            created = true
        } else if flags & O_CREAT != 0 {
            let (parent, name) = try lookupParent(dirfd, path, scope: scope)
            if name.isEmpty || name == "." || name == ".." || path.hasTrailingSlash { throw .EISDIR }
            if let existing = try? child(parent, name) {
                if flags & O_EXCL != 0 { throw .EEXIST }
                if existing.kind == .symlink {
                    if flags & O_NOFOLLOW != 0 || scope.contains(.noSymlinks) { throw .ELOOP }
                    do {
                        loc = try lookup(dirfd, path, follow: true, scope: scope)
                    } catch let e where e == .ENOENT {
                        // A dangling symlink: O_CREAT creates its target.
                        let target = try existing.readlink()
                        if scope.contains(.beneath) && target.isAbsolute { throw .EXDEV }
                        let (tp, tn) = try kernel.resolveParent(target, from: parent,
                                                                root: scope.contains(.inRoot) ? try walkStart(dirfd, path, scope).1 : fs.root,
                                                                mounts: fs.mounts, as: walker, scope: scope)
                        try landlockMake(.regular, in: tp)
                        try mayCreate(in: tp)
                        let node = try tp.inode.create(tn, kind: .regular, mode: creationMode(mode, in: tp.inode),
                                                       uid: group.fsuid, gid: group.fsgid)
                        loc = Location(name: tn, parent: tp, inode: node)
                        created = true
                    }
                } else {
                    loc = Location(name: name, parent: parent, inode: existing)
                }
            } else {
                try landlockMake(.regular, in: parent)
                try mayCreate(in: parent)
                let node = try parent.inode.create(name, kind: .regular, mode: creationMode(mode, in: parent.inode),
                                                   uid: group.fsuid, gid: group.fsgid)
                kernel.fsnotify(in: parent.inode, name: name, child: node, InotifyMask.create, selfToo: false)
                loc = Location(name: name, parent: parent, inode: node)
                created = true
            }
        } else {
            loc = try lookup(dirfd, path, follow: flags & O_NOFOLLOW == 0, scope: scope)
        }
        return try openResolved(loc, flags: flags, created: created)
    }

    /// The end of an open once the path is resolved (or a file handle decoded): the checks
    /// the flags call for, then a description of `loc`'s file in the lowest free fd.
    func openResolved(_ loc: Location, flags: Int32, created: Bool) throws(LinuxErrno) -> UInt64 {
        let inode = loc.inode
        if flags & O_PATH == 0 {
            if inode.kind == .symlink { throw .ELOOP }
            if flags & (O_DIRECTORY | O_TMPFILE_FLAG) == O_DIRECTORY && inode.kind != .directory { throw .ENOTDIR }
            // A device on a nodev mount is only a name (may_open_dev, before any permission).
            if inode.kind == .characterDevice || inode.kind == .blockDevice, loc.mount?.flags.contains(.noDev) == true {
                throw .EACCES
            }
            // O_TRUNC asks for write permission whatever the access mode (build_open_flags).
            let writing = flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0
            if inode.kind == .directory && (writing || flags & O_CREAT != 0) { throw .EISDIR }
            if flags & O_CREAT != 0 && !created { try mayOpenExistingInSticky(loc) }
            if !created { try checkAccess(inode, read: flags & O_ACCMODE != O_WRONLY, write: writing, mount: loc.mount) }
            // An append-only file opens for writing only to append, and is never truncated (may_open).
            if inode.isAppendOnly && ((flags & O_ACCMODE != O_RDONLY && flags & O_APPEND == 0) || flags & O_TRUNC != 0) { throw .EPERM }
            // O_NOATIME only for the file's owner (or CAP_FOWNER).
            if flags & O_NOATIME != 0 && inode.uid != group.fsuid && !group.capable(3, over: inode) { throw .EPERM }
        } else if flags & O_DIRECTORY != 0 && inode.kind != .directory {
            throw .ENOTDIR
        }
        let description: FileDescription
        if flags & O_PATH != 0 {
            description = PathDescription(inode: inode, flags: O_PATH | (flags & O_DIRECTORY))
        } else {
            // Landlock's rights for the open mode, then for truncating (hook_path_truncate).
            let denied = try landlockOpen(inode, at: loc, flags: flags)
            // A regular file is truncated even when opened read-only (handle_truncate).
            if flags & O_TRUNC != 0, !created, let f = inode as? RegularFileInode {
                if denied & Landlock.truncate != 0 { throw .EACCES }
                try f.truncate(0)
            }
            description = try inode.open(flags: flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC), kernel: kernel)
            description.landlockDenied = denied
        }
        description.named = loc
        if description.location == nil { description.location = loc }
        // 64-bit Linux opens every file with O_LARGEFILE (force_o_largefile).
        if flags & O_PATH == 0 {
            description.flags |= 0o100000
            description.notifier = kernel
            kernel.fsnotify(description, InotifyMask.open)
        }
        do {
            return UInt64(try group.fdTable.install(description, closeOnExec: flags & O_CLOEXEC != 0))
        } catch {
            // No fd for it (EMFILE): closed at once, so what its open counted (a file's
            // writers, a loop device's openers) is given back.
            description.incRef()
            description.decRef()
            throw error
        }
    }

    /// The caller's file credentials, for path walks.
    var walker: Walker {
        Walker(fsuid: group.fsuid, fsgid: group.fsgid, groups: group.groups,
               searchesAll: group.capable(1 /* CAP_DAC_OVERRIDE */) || group.capable(2 /* CAP_DAC_READ_SEARCH */),
               capabilitiesOnlyIn: group.userNS === UserNamespace.initial ? nil : group.userNS,
               protectedSymlinks: kernel.tunables.protectedSymlinks != 0)
    }

    /// EROFS when `inode` lives on a read-only filesystem or was reached through a read-only
    /// mount (a bind remounted read-only: mnt_want_write's check). `mount`: where the path
    /// walk (or the descriptor's open) reached it.
    func requireWritableMount(_ inode: Inode, _ mount: Mount?) throws(LinuxErrno) {
        if inode.fs.readOnly || mount?.flags.contains(.readOnly) == true { throw .EROFS }
    }

    /// Permission check for the guest's effective ids (root passes everything but exec).
    /// `realIDs`: access(2)'s check, made with the real uid and gid, and with the permitted
    /// capabilities if the real uid is root, none otherwise (access_override_creds).
    func checkAccess(_ inode: Inode, read: Bool, write: Bool, exec: Bool = false, realIDs: Bool = false,
                     mount: Mount?) throws(LinuxErrno) {
        // Devices, FIFOs and sockets stay writable on a read-only mount, as on Linux.
        if write && (inode.kind == .regular || inode.kind == .directory || inode.kind == .symlink) {
            try requireWritableMount(inode, mount)
        }
        // Nobody writes to an immutable file (inode_permission), whatever the mode bits.
        if write && inode.isImmutable { throw .EPERM }
        // The mode bits of the class the caller is in, then the capabilities that override
        // them (Linux's generic_permission).
        let uid = realIDs ? group.uid : group.fsuid, gid = realIDs ? group.gid : group.fsgid
        let shift: UInt32 = inode.uid == uid ? 6 : (inode.gid == gid || group.groups.contains(inode.gid)) ? 3 : 0
        let need: UInt32 = (read ? 4 : 0) | (write ? 2 : 0) | (exec ? 1 : 0)
        if (inode.mode >> shift) & need == need { return }
        // Capabilities count over a file whose owner and group the user namespace can name.
        guard group.userNS.maps(uid: inode.uid, gid: inode.gid) else { throw .EACCES }
        let caps = !realIDs ? group.capabilities.effective : group.uid == group.rootUID ? group.capabilities.permitted : 0
        let directory = inode.kind == .directory
        // CAP_DAC_READ_SEARCH: reading anything, searching directories.
        if !write && (!exec || directory) && caps & (1 << 2) != 0 { return }
        // CAP_DAC_OVERRIDE: anything but executing a file no one may execute.
        if (!exec || directory || inode.mode & 0o111 != 0) && caps & (1 << 1) != 0 { return }
        throw .EACCES
    }

    /// fs.protected_hardlinks (may_linkat): a link only to a file one owns, or to a plain file
    /// (not setuid, not setgid-executable) one may read and write, or with CAP_FOWNER over it.
    func mayLink(_ old: Location) throws(LinuxErrno) {
        guard kernel.tunables.protectedHardlinks != 0 else { return }
        let inode = old.inode
        if inode.uid == group.fsuid { return }
        let safe = inode.kind == .regular && inode.mode & 0o4000 == 0 && inode.mode & 0o2010 != 0o2010
        if safe, (try? checkAccess(inode, read: true, write: true, mount: old.mount)) != nil { return }
        if group.capable(3 /* CAP_FOWNER */, over: inode) { return }
        throw .EPERM
    }

    /// fs.protected_regular and protected_fifos (may_create_in_sticky): O_CREAT of an
    /// existing file or FIFO in a sticky directory, owned neither by the directory's owner nor
    /// by the caller, is refused when the directory is world-writable, or at level 2 when it
    /// is group-writable.
    func mayOpenExistingInSticky(_ loc: Location) throws(LinuxErrno) {
        guard let dir = loc.parent?.inode, dir.mode & 0o1000 != 0 else { return }
        let inode = loc.inode
        let level = inode.kind == .regular ? kernel.tunables.protectedRegular : inode.kind == .fifo ? kernel.tunables.protectedFifos : 0
        guard level != 0, inode.uid != dir.uid, inode.uid != group.fsuid else { return }
        if dir.mode & 0o002 != 0 || (level >= 2 && dir.mode & 0o020 != 0) { throw .EACCES }
    }

    /// May the caller make an entry in `dir` (may_create): a writable mount, write and search
    /// permission on the directory.
    func mayCreate(in dir: Location) throws(LinuxErrno) {
        try checkAccess(dir.inode, read: false, write: true, exec: true, mount: dir.mount)
    }

    /// May the caller remove (or rename away, or replace) `child` from `dir` (may_delete):
    /// write and search permission on the directory, and in a sticky directory, owning the
    /// file or the directory or holding CAP_FOWNER.
    func mayDelete(_ child: Inode, from location: Location) throws(LinuxErrno) {
        let dir = location.inode
        try checkAccess(dir, read: false, write: true, exec: true, mount: location.mount)
        // Nothing leaves an append-only directory; an immutable or append-only file keeps its names.
        if dir.isAppendOnly { throw .EPERM }
        if dir.mode & 0o1000 != 0 && child.uid != group.fsuid && dir.uid != group.fsuid && !group.capable(3, over: child) { throw .EPERM }
        if child.isAppendOnly || child.isImmutable { throw .EPERM }
    }

    func sysClose() throws(LinuxErrno) -> UInt64 {
        try group.fdTable.close(fdArg(a0))
        return 0
    }

    func sysCloseRange() throws(LinuxErrno) -> UInt64 {
        let first = UInt32(truncatingIfNeeded: a0), last = UInt32(truncatingIfNeeded: a1)
        guard first <= last, a2 & ~UInt64(0x6) == 0 else { throw .EINVAL }
        // CLOSE_RANGE_UNSHARE: a table shared with another process (CLONE_FILES) is copied
        // first, and the range closed in the copy only.
        if a2 & 0x2 != 0 && group.fdTable.users > 1 { unshareFiles() }
        for fd in group.fdTable.openFDs where UInt32(fd) >= first && UInt32(fd) <= last {
            if a2 & 0x4 != 0 { try? group.fdTable.setCloseOnExec(fd, true) } else { try? group.fdTable.close(fd) }
        }
        return 0
    }

    // MARK: read / write

    func clampCount(_ v: UInt64) -> Int { Int(min(v, 0x7fff_f000)) }

    /// read, pread, readv, preadv: the one blocking loop. A description never blocks; when it
    /// has nothing yet (EAGAIN) and the fd is blocking, the thread waits for it to become
    /// readable and tries again, with no guest pointer held across the wait.
    /// `nonblocking` makes this one call non-blocking (splice's SPLICE_F_NONBLOCK).
    func readCommon(_ f: FileDescription, _ dst: inout IOSequence, at offset: UInt64?, nonblocking: Bool = false) throws(LinuxErrno) -> Int {
        try verifyRange(f, offset, dst.count)
        group.io.syscr &+= 1
        if dst.count == 0 && f.inode.kind != .directory { return 0 }
        while true {
            do {
                let n = offset == nil ? try f.read(self, &dst) : try f.pread(self, &dst, at: offset!)
                group.io.rchar &+= UInt64(n)
                if n > 0 { kernel.fsnotify(f, InotifyMask.access) }
                return n
            } catch let e where e == .EAGAIN && f.flags & O_NONBLOCK == 0 && !nonblocking {
                try f.waitForEvents(self, EventMask.input.union(.hangUp))
            }
        }
    }

    /// write, pwrite, writev, pwritev: a blocking write goes on until everything is written
    /// (a pipe takes it in pieces), a signal interrupts (the bytes so far are returned), or an
    /// error ends it (likewise, when some bytes went already).
    func writeCommon(_ f: FileDescription, _ src: inout IOSequence, at offset: UInt64?, nonblocking: Bool = false) throws(LinuxErrno) -> Int {
        try verifyRange(f, offset, src.count)
        if src.count == 0 { group.io.syscw &+= 1; return 0 }
        // RLIMIT_FSIZE: a write that would pass it is cut short at it; one that starts there
        // fails with EFBIG and SIGXFSZ.
        let lim = f.inode.kind == .regular ? limit(1).0 : UInt64.max
        if lim != UInt64.max {
            let pos = offset ?? (f.flags & O_APPEND != 0 ? f.inode.size : f.offset)
            guard pos < lim else {
                sendSignalToSelf(Signal.SIGXFSZ)
                throw .EFBIG
            }
            if UInt64(src.count) > lim - pos {
                var part = src.prefix(Int(lim - pos))
                let n = try writeCommon(f, &part, at: offset, nonblocking: nonblocking)
                src.skip(n)
                return n
            }
        }
        group.io.syscw &+= 1
        // A socket's write is its send, with the send loop's rules (SO_SNDTIMEO, an error
        // after some bytes left pending, no SIGPIPE then).
        if offset == nil && f.inode.kind == .socket, let s = f as? Socket {
            var control = SendControl()
            let n = try sendCommon(s, &src, control: &control, target: nil, flags: nonblocking ? MSG_DONTWAIT_FLAG : 0)
            group.io.wchar &+= UInt64(n)
            return n
        }
        let blocking = f.flags & O_NONBLOCK == 0 && !nonblocking
        var total = 0
        while true {
            do {
                let n = offset == nil ? try f.write(self, &src) : try f.pwrite(self, &src, at: offset! + UInt64(total))
                group.io.wchar &+= UInt64(n)
                if n > 0 && total == 0 { kernel.fsnotify(f, InotifyMask.modify) }
                total += n
                if src.count == 0 || n == 0 || !blocking { return total }
            } catch let e where e == .EAGAIN && blocking {
                do { try f.waitForEvents(self, EventMask.output) } catch {
                    if total > 0 { return total }
                    throw error
                }
            } catch {
                if total > 0 { return total }
                throw error
            }
        }
    }

    /// rw_verify_area: a file position plus count past INT64_MAX is EINVAL (streams such as
    /// pipes have no position).
    private func verifyRange(_ f: FileDescription, _ offset: UInt64?, _ count: Int) throws(LinuxErrno) {
        guard let pos = offset ?? (f.inode.kind == .regular ? f.offset : nil) else { return }
        let (end, overflow) = pos.addingReportingOverflow(UInt64(count))
        if overflow || end > UInt64(Int64.max) { throw .EINVAL }
    }

    func guestBuffer(_ address: UInt64, _ count: UInt64) -> IOSequence {
        .guest(mm, address: address, length: clampCount(count))
    }

    func readableFile(_ fd: Int32) throws(LinuxErrno) -> FileDescription {
        let f = try group.fdTable.get(fd)
        guard f.readable else { throw .EBADF }
        return f
    }

    func writableFile(_ fd: Int32) throws(LinuxErrno) -> FileDescription {
        let f = try group.fdTable.get(fd)
        guard f.writable else { throw .EBADF }
        return f
    }

    func sysRead() throws(LinuxErrno) -> UInt64 {
        let f = try readableFile(fdArg(a0))
        var dst = guestBuffer(a1, a2)
        return UInt64(try readCommon(f, &dst, at: nil))
    }

    func sysWrite() throws(LinuxErrno) -> UInt64 {
        let f = try writableFile(fdArg(a0))
        var src = guestBuffer(a1, a2)
        return UInt64(try writeCommon(f, &src, at: nil))
    }

    /// The description for pread/pwrite and their vector forms, in Linux's order: the
    /// offset (EINVAL), the descriptor, whether it has positions at all (ESPIPE for pipes,
    /// sockets and anonymous files, even ones not open that way), then the access mode.
    private func positionalFile(_ fd: Int32, offset: Int64, writing: Bool) throws(LinuxErrno) -> FileDescription {
        guard offset >= 0 else { throw .EINVAL }
        let f = try group.fdTable.get(fd)
        if f.inode is AnonymousInode || f.inode.kind == .fifo || f.inode.kind == .socket { throw .ESPIPE }
        guard writing ? f.writable : f.readable else { throw .EBADF }
        return f
    }

    func sysPread() throws(LinuxErrno) -> UInt64 {
        let f = try positionalFile(fdArg(a0), offset: Int64(bitPattern: a3), writing: false)
        if f.inode.kind == .directory { throw .EISDIR }
        var dst = guestBuffer(a1, a2)
        return UInt64(try readCommon(f, &dst, at: a3))
    }

    func sysPwrite() throws(LinuxErrno) -> UInt64 {
        let f = try positionalFile(fdArg(a0), offset: Int64(bitPattern: a3), writing: true)
        var src = guestBuffer(a1, a2)
        return UInt64(try writeCommon(f, &src, at: a3))
    }

    func sysReadv() throws(LinuxErrno) -> UInt64 {
        let f = try readableFile(fdArg(a0))
        var dst = IOSequence.guest(mm, ranges: try mm.ioRanges(a1, count: Int(Int32(truncatingIfNeeded: a2))))
        return UInt64(try readCommon(f, &dst, at: nil))
    }

    /// preadv, preadv2: at an offset, or (preadv2 with offset -1) at the file position.
    /// RWF_* flags are hints here except unknown bits (EOPNOTSUPP) and RWF_NOWAIT on a
    /// description that would block, or on a file of a filesystem without it.
    func sysPreadv(flags: UInt64?) throws(LinuxErrno) -> UInt64 {
        let offset = Int64(bitPattern: a3)
        let current = offset == -1 && flags != nil // preadv2 at the file position: readv
        let f = current ? try readableFile(fdArg(a0)) : try positionalFile(fdArg(a0), offset: offset, writing: false)
        guard (flags ?? 0) & ~UInt64(0x1f) == 0 else { throw .EOPNOTSUPP }
        try checkNoWait(f, flags)
        var dst = IOSequence.guest(mm, ranges: try mm.ioRanges(a1, count: Int(Int32(truncatingIfNeeded: a2))))
        let noWait = (flags ?? 0) & 0x8 != 0
        if current { return UInt64(try readCommon(f, &dst, at: nil, nonblocking: noWait)) }
        if f.inode.kind == .directory { throw .EISDIR }
        return UInt64(try readCommon(f, &dst, at: UInt64(offset), nonblocking: noWait))
    }

    /// pwritev, pwritev2 (RWF_APPEND writes at the end whatever the offset).
    func sysPwritev(flags: UInt64?) throws(LinuxErrno) -> UInt64 {
        let offset = Int64(bitPattern: a3)
        let current = offset == -1 && flags != nil
        let f = current ? try writableFile(fdArg(a0)) : try positionalFile(fdArg(a0), offset: offset, writing: true)
        guard (flags ?? 0) & ~UInt64(0x1f) == 0 else { throw .EOPNOTSUPP }
        try checkNoWait(f, flags)
        var src = IOSequence.guest(mm, ranges: try mm.ioRanges(a1, count: Int(Int32(truncatingIfNeeded: a2))))
        let noWait = (flags ?? 0) & 0x8 != 0
        if current { return UInt64(try writeCommon(f, &src, at: nil, nonblocking: noWait)) }
        let at = (flags ?? 0) & 0x10 != 0 ? f.inode.size : UInt64(offset)
        return UInt64(try writeCommon(f, &src, at: at, nonblocking: noWait))
    }

    /// RWF_NOWAIT needs a file that can say EAGAIN (FMODE_NOWAIT): tmpfs's and ramfs's
    /// regular files cannot (kiocb_set_rw_flags: EOPNOTSUPP).
    private func checkNoWait(_ f: FileDescription, _ flags: UInt64?) throws(LinuxErrno) {
        guard let flags, flags & 0x8 != 0, f.inode.kind == .regular else { return }
        if ["tmpfs", "devtmpfs", "ramfs"].contains(f.inode.fs.name) { throw .EOPNOTSUPP }
    }

    func sysWritev() throws(LinuxErrno) -> UInt64 {
        let f = try writableFile(fdArg(a0))
        var src = IOSequence.guest(mm, ranges: try mm.ioRanges(a1, count: Int(Int32(truncatingIfNeeded: a2))))
        return UInt64(try writeCommon(f, &src, at: nil))
    }

    func sysLseek() throws(LinuxErrno) -> UInt64 {
        let f = try group.fdTable.get(fdArg(a0))
        return try f.seek(Int64(bitPattern: a1), whence: Int32(truncatingIfNeeded: a2))
    }

    func sysGetdents64() throws(LinuxErrno) -> UInt64 {
        let f = try group.fdTable.get(fdArg(a0))
        guard f.inode.kind == .directory else { throw .ENOTDIR }
        if defersHostWaits, let d = f.inode as? DirectoryInode { try d.listLower(deferringHostWaitsOf: self) }
        var out: [UInt8] = []
        try f.getdents(into: &out, capacity: clampCount(a2))
        try mm.write(a1, out)
        return UInt64(out.count)
    }

    /// getdents: the old record (no d_type after d_reclen; it is the record's last byte).
    /// Each record is as long as getdents64's for the same name, so the same capacity holds.
    func sysGetdents() throws(LinuxErrno) -> UInt64 {
        let f = try group.fdTable.get(fdArg(a0))
        guard f.inode.kind == .directory else { throw .ENOTDIR }
        if defersHostWaits, let d = f.inode as? DirectoryInode { try d.listLower(deferringHostWaitsOf: self) }
        var out: [UInt8] = []
        try f.getdents(into: &out, capacity: clampCount(a2))
        // linux_dirent64: ino 8, off 8, reclen 2, type 1, name. linux_dirent: ino 8, off 8,
        // reclen 2, name, then the type in the record's last byte.
        var at = 0
        while at + 19 <= out.count {
            let reclen = Int(out[at + 16]) | Int(out[at + 17]) << 8
            guard reclen >= 20, at + reclen <= out.count else { break }
            let type = out[at + 18]
            for i in (at + 18)..<(at + reclen - 1) { out[i] = out[i + 1] }
            out[at + reclen - 1] = type
            at += reclen
        }
        try mm.write(a1, out)
        return UInt64(out.count)
    }

    // MARK: hints: readahead, fadvise64, sync_file_range

    /// readahead: a hint; the descriptor must be readable and a regular file.
    func sysReadahead() throws(LinuxErrno) -> UInt64 {
        let f = try readableFile(fdArg(a0))
        guard f.inode.kind == .regular, !(f.inode is AnonymousInode) else { throw .EINVAL }
        return 0
    }

    /// posix_fadvise: advice only (Joey's page cache keeps what it has).
    func sysFadvise64() throws(LinuxErrno) -> UInt64 {
        let f = try group.fdTable.get(fdArg(a0))
        if f.inode.kind == .fifo || f is PipeDescription { throw .ESPIPE }
        guard Int64(bitPattern: a2) >= 0, a3 <= 5 else { throw .EINVAL }
        return 0
    }

    /// sync_file_range: with SYNC_FILE_RANGE_WRITE a write-through file's data is flushed
    /// (the whole file: the host call that could flush a range is not in the sentry's list).
    func sysSyncFileRange() throws(LinuxErrno) -> UInt64 {
        let offset = Int64(bitPattern: a1), length = Int64(bitPattern: a2)
        guard a3 & ~UInt64(7) == 0, offset >= 0, length >= 0, !offset.addingReportingOverflow(length).overflow else { throw .EINVAL }
        let f = try group.fdTable.get(fdArg(a0))
        guard [.regular, .directory, .symlink, .blockDevice].contains(f.inode.kind) else { throw .ESPIPE }
        if a3 & 2 != 0 { try syncToHost(f.inode, dataOnly: true) } // SYNC_FILE_RANGE_WRITE
        return 0
    }

    /// fchmodat2: fchmodat with flags; a symlink itself cannot change mode (EOPNOTSUPP).
    func sysFchmodat2() throws(LinuxErrno) -> UInt64 {
        guard a3 & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) == 0 else { throw .EINVAL }
        let loc = try lookup(fdArg(a0), try pathArg(a1), follow: a3 & AT_SYMLINK_NOFOLLOW == 0,
                             emptyPathAllowed: a3 & AT_EMPTY_PATH != 0)
        if loc.inode.kind == .symlink { throw .EOPNOTSUPP }
        try chmod(loc.inode, a2, at: loc)
        return 0
    }

    // MARK: stat

    func sysStat(follow: Bool) throws(LinuxErrno) -> UInt64 {
        let loc = try lookup(AT_FDCWD, try pathArg(a0), follow: follow)
        try mm.write(a1, loc.inode.statBytes(seenIn: group.userNS))
        return 0
    }

    func sysFstat() throws(LinuxErrno) -> UInt64 {
        let f = try group.fdTable.getRaw(fdArg(a0))
        try mm.write(a1, f.inode.statBytes(seenIn: group.userNS))
        return 0
    }

    func sysNewfstatat() throws(LinuxErrno) -> UInt64 {
        guard a3 & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800 /* NO_AUTOMOUNT */) == 0 else { throw .EINVAL }
        let loc = try lookup(fdArg(a0), try pathArg(a1), follow: a3 & AT_SYMLINK_NOFOLLOW == 0,
                             emptyPathAllowed: a3 & AT_EMPTY_PATH != 0)
        try mm.write(a2, loc.inode.statBytes(seenIn: group.userNS))
        return 0
    }

    func sysStatx() throws(LinuxErrno) -> UInt64 {
        guard a2 & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800 | 0x6000) == 0 else { throw .EINVAL }
        guard a3 & 0x8000_0000 == 0 else { throw .EINVAL } // STATX__RESERVED
        let loc = try lookup(fdArg(a0), try pathArg(a1), follow: a2 & AT_SYMLINK_NOFOLLOW == 0,
                             emptyPathAllowed: a2 & AT_EMPTY_PATH != 0)
        try mm.write(a4, loc.inode.statxBytes(seenIn: group.userNS))
        return 0
    }

    func sysStatfs(_ nr: Int) throws(LinuxErrno) -> UInt64 {
        let location: Location?, inode: Inode
        if nr == 137 {
            let loc = try lookup(AT_FDCWD, try pathArg(a0), follow: true)
            location = loc; inode = loc.inode
        } else {
            let f = try group.fdTable.getRaw(fdArg(a0))
            location = f.location; inode = f.inode
        }
        var flags: MountFlags = []
        if let m = location?.mount { flags = m.flags }
        if inode.fs.readOnly { flags.insert(.readOnly) }
        try mm.write(a1, kernel.statfs(inode, flags: flags))
        return 0
    }

    // MARK: access, links, directories

    func sysAccess() throws(LinuxErrno) -> UInt64 { try sysFaccessat(dirfd: AT_FDCWD, pathArg: a0, mode: a1, flags: 0) }

    func sysFaccessat(dirfd: Int32, pathArg addr: UInt64, mode: UInt64, flags: UInt64) throws(LinuxErrno) -> UInt64 {
        guard mode & ~7 == 0 else { throw .EINVAL }
        guard flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x200 /* AT_EACCESS */) == 0 else { throw .EINVAL }
        let loc = try lookup(dirfd, try pathArg(addr), follow: flags & AT_SYMLINK_NOFOLLOW == 0,
                             emptyPathAllowed: flags & AT_EMPTY_PATH != 0)
        try checkAccess(loc.inode, read: mode & 4 != 0, write: mode & 2 != 0, exec: mode & 1 != 0,
                        realIDs: flags & 0x200 /* AT_EACCESS */ == 0, mount: loc.mount)
        return 0
    }

    func sysMkdirat(dirfd: Int32, pathArg addr: UInt64, mode: UInt64) throws(LinuxErrno) -> UInt64 {
        let (parent, name) = try lookupParent(dirfd, try pathArg(addr))
        if name.isEmpty || name == "." || name == ".." { throw .EEXIST }
        if (try? parent.inode.lookup(name)) != nil { throw .EEXIST }
        try landlockMake(.directory, in: parent)
        try mayCreate(in: parent)
        let node = try parent.inode.create(name, kind: .directory, mode: UInt32(mode & 0o7777) & ~fs.umask,
                                           uid: group.fsuid, gid: group.fsgid)
        kernel.fsnotify(in: parent.inode, name: name, child: node, InotifyMask.create, selfToo: false)
        return 0
    }

    func sysMknodat(dirfd: Int32, pathArg addr: UInt64, mode: UInt64, dev: UInt64) throws(LinuxErrno) -> UInt64 {
        let (parent, name) = try lookupParent(dirfd, try pathArg(addr))
        if name.isEmpty || name == "." || name == ".." { throw .EEXIST }
        // mode is a umode_t: the kernel sees only its low 16 bits; dev an unsigned int, kept
        // as stat reports it (new_encode_dev's layout).
        let type = UInt32(truncatingIfNeeded: mode) & 0o170000
        let rdev = UInt64(UInt32(truncatingIfNeeded: dev))
        let kind: FileKind
        switch type {
        case 0, FileKind.regular.rawValue: kind = .regular
        case FileKind.fifo.rawValue: kind = .fifo
        case FileKind.socket.rawValue: kind = .socket
        case FileKind.characterDevice.rawValue: kind = .characterDevice
        case FileKind.blockDevice.rawValue: kind = .blockDevice
        case FileKind.directory.rawValue: throw .EPERM
        default: throw .EINVAL
        }
        if (try? parent.inode.lookup(name)) != nil { throw .EEXIST }
        // A whiteout (character 0:0) is made with MAKE_REG (Landlock erratum 4).
        try landlockMake(kind == .characterDevice && rdev == 0 ? .regular : kind, in: parent)
        try mayCreate(in: parent)
        // vfs_mknod: a device needs CAP_MKNOD, except an overlay whiteout (character 0:0).
        if (kind == .characterDevice && rdev != 0 || kind == .blockDevice) && !group.capable(27 /* CAP_MKNOD */, in: .initial) {
            throw .EPERM
        }
        let isDevice = kind == .characterDevice || kind == .blockDevice
        let node = try parent.inode.create(name, kind: kind, mode: creationMode(UInt64(mode), in: parent.inode),
                                           uid: group.fsuid, gid: group.fsgid, rdev: isDevice ? rdev : 0)
        kernel.fsnotify(in: parent.inode, name: name, child: node, InotifyMask.create, selfToo: false)
        return 0
    }

    func sysUnlinkat(dirfd: Int32, pathArg addr: UInt64, flags: UInt64) throws(LinuxErrno) -> UInt64 {
        guard flags & ~AT_REMOVEDIR_FLAG == 0 else { throw .EINVAL }
        let path = try pathArg(addr)
        let (parent, name) = try lookupParent(dirfd, path)
        let rmdir = flags & AT_REMOVEDIR_FLAG != 0
        if rmdir {
            if name == "." { throw .EINVAL }
            if name == ".." || name.isEmpty { throw .ENOTEMPTY }
        } else if name.isEmpty || name == "." || name == ".." {
            throw .EISDIR
        }
        try requireWritableMount(parent.inode, parent.mount) // before the lookup, as Linux's do_unlinkat
        let raw = try parent.inode.lookup(name)
        // Linux's order: Landlock (unlink asks to remove a file, rmdir a directory), permission
        // (may_delete), the kind, a mount on it, emptiness.
        try landlockRemove(rmdir ? .directory : .regular, from: parent)
        try mayDelete(raw, from: parent)
        if rmdir {
            guard raw.kind == .directory else { throw .ENOTDIR }
        } else {
            if raw.kind == .directory { throw .EISDIR }
            if path.hasTrailingSlash { throw .ENOTDIR }
        }
        if fs.mounts.isCovered(raw, in: parent.mount) { throw .EBUSY }
        if rmdir {
            guard let dir = raw as? DirectoryInode else { throw .ENOTDIR }
            guard dir.isEmpty else { throw .ENOTEMPTY }
        }
        try parent.inode.remove(name)
        if raw.nlink > 0 { raw.nlink -= 1 }
        if rmdir { raw.removed = true }
        raw.ctime = Timespec.now()
        // Linux's order: unlink changes the link count (IN_ATTRIB; rmdir does not), the
        // inode goes, then the directory hears of the name.
        if !rmdir { kernel.fsnotify(raw, InotifyMask.attrib) }
        if rmdir || raw.nlink == 0 { kernel.fsnotifyDeleted(raw) }
        kernel.fsnotify(in: parent.inode, name: name, child: raw, InotifyMask.delete, selfToo: false)
        return 0
    }

    func sysRenameat2(olddir: Int32, oldArg: UInt64, newdir: Int32, newArg: UInt64, flags: UInt64) throws(LinuxErrno) -> UInt64 {
        // RENAME_NOREPLACE, RENAME_EXCHANGE; RENAME_WHITEOUT (for overlay filesystems) is not
        // offered, as on a filesystem without it.
        let RENAME_NOREPLACE: UInt64 = 1, RENAME_EXCHANGE: UInt64 = 2
        guard flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) == 0, flags != RENAME_NOREPLACE | RENAME_EXCHANGE else { throw .EINVAL }
        if flags & RENAME_EXCHANGE != 0 {
            return try renameExchange(olddir: olddir, oldArg: oldArg, newdir: newdir, newArg: newArg)
        }
        let oldPath = try pathArg(oldArg), newPath = try pathArg(newArg)
        let (op, on) = try lookupParent(olddir, oldPath)
        let (np, nn) = try lookupParent(newdir, newPath)
        // Both ends in one mount, a bind of the same filesystem no more than another (do_renameat2).
        if op.mount !== np.mount { throw .EXDEV }
        if on.isEmpty || on == "." || on == ".." || nn.isEmpty || nn == "." || nn == ".." { throw .EBUSY }
        try requireWritableMount(op.inode, op.mount) // before the lookups, as Linux's do_renameat2
        let node = try op.inode.lookup(on)
        if fs.mounts.isCovered(node, in: op.mount) { throw .EBUSY }
        if op.inode.fs !== np.inode.fs { throw .EXDEV }
        if node.kind != .directory && (oldPath.hasTrailingSlash || newPath.hasTrailingSlash) { throw .ENOTDIR }
        // A directory cannot move below itself (as the tree is now: np may have been found
        // through a directory renamed since).
        if node.kind == .directory, (np.inode as? DirectoryInode)?.isWithin(node) ?? false { throw .EINVAL }
        let target = try? np.inode.lookup(nn)
        try landlockDomain?.checkRefer(node, from: op, to: np, exchanged: nil, removed: target, rename: true)
        if target === node { return 0 }
        // Permission (vfs_rename): the source may leave its directory, the target may be
        // replaced or made, and a directory that changes parent must be writable (its "..").
        try mayDelete(node, from: op)
        if let target { try mayDelete(target, from: np) } else { try mayCreate(in: np) }
        if node.kind == .directory && op.inode !== np.inode { try checkAccess(node, read: false, write: true, mount: op.mount) }
        if let existing = target {
            if flags & 1 != 0 { throw .EEXIST }
            if node.kind == .directory {
                guard let d = existing as? DirectoryInode else { throw .ENOTDIR }
                guard d.isEmpty else { throw .ENOTEMPTY }
            } else if existing.kind == .directory {
                throw .EISDIR
            }
            if fs.mounts.isCovered(existing, in: np.mount) { throw .EBUSY }
            if existing.nlink > 0 { existing.nlink -= 1 }
        }
        guard let from = op.inode as? DirectoryInode, let to = np.inode as? DirectoryInode else { throw .EXDEV }
        if !from.context.writeThrough {
            // The host path will no longer name the file: bring its content into the upper layer.
            if let f = node as? RegularFileInode, f.lowerPath != nil { try f.copyUp() }
        }
        let replaced = try? np.inode.lookup(nn)
        try from.move(on, to: to, as: nn)
        if let d = node as? DirectoryInode, !d.context.writeThrough, d.lowerPath != nil {
            d.detachFromLower()
        }
        node.ctime = Timespec.now()
        let cookie = kernel.nextRenameCookie()
        kernel.fsnotify(in: op.inode, name: on, child: node, InotifyMask.movedFrom, cookie: cookie, selfToo: false)
        kernel.fsnotify(in: np.inode, name: nn, child: node, InotifyMask.movedTo, cookie: cookie, selfToo: false)
        if op.inode === np.inode { kernel.dnotifyRename(in: op.inode) }
        if let replaced { kernel.fsnotify(replaced, InotifyMask.attrib) }
        kernel.fsnotify(node, InotifyMask.moveSelf)
        if let replaced, replaced.nlink == 0 || replaced.kind == .directory { kernel.fsnotifyDeleted(replaced) }
        return 0
    }

    /// renameat2(RENAME_EXCHANGE): both names exist, and trade places atomically.
    private func renameExchange(olddir: Int32, oldArg: UInt64, newdir: Int32, newArg: UInt64) throws(LinuxErrno) -> UInt64 {
        let oldPath = try pathArg(oldArg), newPath = try pathArg(newArg)
        let (op, on) = try lookupParent(olddir, oldPath)
        let (np, nn) = try lookupParent(newdir, newPath)
        if op.mount !== np.mount { throw .EXDEV }
        if on.isEmpty || on == "." || on == ".." || nn.isEmpty || nn == "." || nn == ".." { throw .EBUSY }
        try requireWritableMount(op.inode, op.mount)
        let a = try op.inode.lookup(on), b = try np.inode.lookup(nn)
        if op.inode.fs !== np.inode.fs { throw .EXDEV }
        if (a.kind != .directory && oldPath.hasTrailingSlash) || (b.kind != .directory && newPath.hasTrailingSlash) { throw .ENOTDIR }
        if fs.mounts.isCovered(a, in: op.mount) || fs.mounts.isCovered(b, in: np.mount) { throw .EBUSY }
        // Neither directory may end up below itself.
        for (node, into) in [(a, np), (b, op)] where node.kind == .directory {
            if (into.inode as? DirectoryInode)?.isWithin(node) ?? false { throw .EINVAL }
        }
        try landlockDomain?.checkRefer(a, from: op, to: np, exchanged: b, removed: nil, rename: true)
        if a === b { return 0 }
        try mayDelete(a, from: op)
        try mayDelete(b, from: np)
        if op.inode !== np.inode {
            if a.kind == .directory { try checkAccess(a, read: false, write: true, mount: op.mount) }
            if b.kind == .directory { try checkAccess(b, read: false, write: true, mount: np.mount) }
        }
        guard let from = op.inode as? DirectoryInode, let to = np.inode as? DirectoryInode else { throw .EXDEV }
        if !from.context.writeThrough {
            // Host paths will no longer name them: their content comes into the upper layer.
            for node in [a, b] { if let f = node as? RegularFileInode, f.lowerPath != nil { try f.copyUp() } }
        }
        try from.exchange(on, with: to, nn)
        for node in [a, b] {
            if let d = node as? DirectoryInode, !d.context.writeThrough, d.lowerPath != nil { d.detachFromLower() }
            node.ctime = Timespec.now()
        }
        for (node, fromDir, fromName, toDir, toName) in [(a, op.inode, on, np.inode, nn), (b, np.inode, nn, op.inode, on)] {
            let cookie = kernel.nextRenameCookie()
            kernel.fsnotify(in: fromDir, name: fromName, child: node, InotifyMask.movedFrom, cookie: cookie, selfToo: false)
            kernel.fsnotify(in: toDir, name: toName, child: node, InotifyMask.movedTo, cookie: cookie, selfToo: false)
            if fromDir === toDir { kernel.dnotifyRename(in: fromDir) }
            kernel.fsnotify(node, InotifyMask.moveSelf)
        }
        return 0
    }

    func sysLinkat(olddir: Int32, oldArg: UInt64, newdir: Int32, newArg: UInt64, flags: UInt64) throws(LinuxErrno) -> UInt64 {
        guard flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) == 0 else { throw .EINVAL }
        // An fd's file by AT_EMPTY_PATH takes CAP_DAC_READ_SEARCH (checked first, as Linux 6.1).
        if flags & AT_EMPTY_PATH != 0 && !group.capable(2, in: .initial) { throw .ENOENT }
        let old = try lookup(olddir, try pathArg(oldArg), follow: flags & AT_SYMLINK_FOLLOW != 0,
                             emptyPathAllowed: flags & AT_EMPTY_PATH != 0)
        if old.inode.kind == .directory { throw .EPERM }
        // A file with no name left gets one again only if it is an O_TMPFILE file made linkable.
        if old.inode.nlink == 0 && !((old.inode as? RegularFileInode)?.linkable ?? false) { throw .ENOENT }
        let (np, nn) = try lookupParent(newdir, try pathArg(newArg))
        if nn.isEmpty || nn == "." || nn == ".." { throw .EEXIST }
        // One mount for both names (do_linkat), not only one filesystem.
        if old.inode.fs !== np.inode.fs || old.mount !== np.mount { throw .EXDEV }
        try landlockDomain?.checkRefer(old.inode, from: old.parent ?? np, to: np, exchanged: nil, removed: nil, rename: false)
        try mayLink(old)
        try mayCreate(in: np)
        if old.inode.isAppendOnly || old.inode.isImmutable { throw .EPERM } // vfs_link
        if let dir = np.inode as? DirectoryInode, let oldPath = dir.context.hostPath(of: old.inode), let newDir = dir.lowerPath {
            let (op, ol) = oldPath.splitLast
            try dir.context.onHost(ByteString.join(newDir, nn)) { dfd, leaf in
                guard let host = dir.context.host else { return -1 }
                let sfd = host.openPath(op, flags: O_PATH | O_DIRECTORY)
                guard sfd >= 0 else { errno = -sfd; return -1 }
                defer { close(sfd) }
                return ol.withCString { linkat(sfd, $0, dfd, leaf, 0) }
            }
        }
        try np.inode.insert(nn, old.inode)
        if old.inode.nlink == 0 { (old.inode as? RegularFileInode)?.linkable = false }
        old.inode.nlink += 1
        old.inode.ctime = Timespec.now()
        kernel.fsnotify(in: np.inode, name: nn, child: old.inode, InotifyMask.create, selfToo: false)
        kernel.fsnotify(old.inode, InotifyMask.attrib)
        return 0
    }

    func sysSymlinkat(targetArg: UInt64, dirfd: Int32, pathArg addr: UInt64) throws(LinuxErrno) -> UInt64 {
        let target = try pathArg(targetArg)
        if target.isEmpty { throw .ENOENT }
        let (parent, name) = try lookupParent(dirfd, try pathArg(addr))
        if name.isEmpty || name == "." || name == ".." { throw .EEXIST }
        if (try? parent.inode.lookup(name)) != nil { throw .EEXIST }
        try landlockMake(.symlink, in: parent)
        try mayCreate(in: parent)
        let node = try parent.inode.create(name, kind: .symlink, mode: 0o777, uid: group.fsuid, gid: group.fsgid, target: target)
        kernel.fsnotify(in: parent.inode, name: name, child: node, InotifyMask.create, selfToo: false)
        return 0
    }

    func sysReadlinkat(dirfd: Int32, pathArg addr: UInt64, buf: UInt64, size: UInt64) throws(LinuxErrno) -> UInt64 {
        guard Int64(bitPattern: size) > 0 else { throw .EINVAL }
        let path = try pathArg(addr)
        let loc = try lookup(dirfd, path, follow: false, emptyPathAllowed: true)
        // Not a link: EINVAL, or ENOENT when the empty path named the dirfd itself (Linux).
        let target: [UInt8]
        do { target = try loc.inode.readlink().bytes } catch .EINVAL where path.isEmpty { throw .ENOENT }
        let n = min(target.count, Int(min(size, 1 << 20)))
        try mm.write(buf, Array(target[0..<n]))
        return UInt64(n)
    }

    func sysFchmodat(dirfd: Int32, pathArg addr: UInt64, mode: UInt64) throws(LinuxErrno) -> UInt64 {
        let loc = try lookup(dirfd, try pathArg(addr), follow: true)
        try chmod(loc.inode, mode, at: loc)
        return 0
    }

    func sysFchmod() throws(LinuxErrno) -> UInt64 {
        let f = try group.fdTable.get(fdArg(a0))
        try chmod(f.inode, a1, at: f.location)
        return 0
    }

    /// `loc`: where the file was reached, so its directory's watches hear of the change.
    private func chmod(_ inode: Inode, _ requested: UInt64, at loc: Location?) throws(LinuxErrno) {
        try requireWritableMount(inode, loc?.mount) // EROFS before EPERM, as Linux's mnt_want_write
        if inode.isImmutable || inode.isAppendOnly { throw .EPERM } // notify_change
        if inode.kind == .anonymous { throw .EOPNOTSUPP } // anon_inode_setattr
        guard group.fsuid == inode.uid || group.capable(3 /* CAP_FOWNER */, over: inode) else { throw .EPERM }
        var mode = requested & 0o7777
        // Setgid only for a member of the file's group (or CAP_FSETID).
        if mode & 0o2000 != 0 && !(inode.gid == group.fsgid || group.groups.contains(inode.gid)) && !group.capable(4, over: inode) {
            mode &= ~0o2000
        }
        if let ctx = (inode as? DirectoryInode)?.context ?? (inode as? RegularFileInode)?.context, let path = ctx.hostPath(of: inode) {
            try ctx.onHost(path) { dfd, leaf in fchmodat(dfd, leaf, mode_t(mode & 0o7777), 0) }
        }
        inode.mode = UInt32(mode & 0o7777)
        inode.ctime = Timespec.now()
        kernel.fsnotify(inode, at: loc, InotifyMask.attrib)
    }

    func sysFchownat(dirfd: Int32, pathArg addr: UInt64, uid: UInt64, gid: UInt64, flags: UInt64) throws(LinuxErrno) -> UInt64 {
        guard flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) == 0 else { throw .EINVAL }
        let loc = try lookup(dirfd, try pathArg(addr), follow: flags & AT_SYMLINK_NOFOLLOW == 0,
                             emptyPathAllowed: flags & AT_EMPTY_PATH != 0)
        try chown(loc.inode, uid, gid, at: loc)
        return 0
    }

    func sysFchown() throws(LinuxErrno) -> UInt64 {
        let f = try group.fdTable.get(fdArg(a0))
        try chown(f.inode, a1, a2, at: f.location)
        return 0
    }

    private func chown(_ inode: Inode, _ uid: UInt64, _ gid: UInt64, at loc: Location?) throws(LinuxErrno) {
        // The ids as the caller's user namespace numbers them (-1: unchanged); one it has no
        // number for is EINVAL.
        var u = UInt32(truncatingIfNeeded: uid), g = UInt32(truncatingIfNeeded: gid)
        if u != UInt32.max { guard let k = group.userNS.kuid(u) else { throw .EINVAL }; u = k }
        if g != UInt32.max { guard let k = group.userNS.kgid(g) else { throw .EINVAL }; g = k }
        try requireWritableMount(inode, loc?.mount) // EROFS before EPERM, as Linux's mnt_want_write
        if inode.isImmutable || inode.isAppendOnly { throw .EPERM } // notify_change
        if inode.kind == .anonymous { throw .EOPNOTSUPP } // anon_inode_setattr
        // The owner may give the file to a group it is in; anything else takes CAP_CHOWN.
        let owner = group.fsuid == inode.uid
        let uidOK = u == UInt32.max || (owner && u == inode.uid)
        let gidOK = g == UInt32.max || (owner && (g == inode.gid || g == group.fsgid || group.groups.contains(g)))
        guard (uidOK && gidOK) || group.capable(0 /* CAP_CHOWN */, over: inode) else { throw .EPERM }
        if let ctx = (inode as? DirectoryInode)?.context ?? (inode as? RegularFileInode)?.context, let path = ctx.hostPath(of: inode) {
            try ctx.onHost(path) { dfd, leaf in fchownat(dfd, leaf, u, g, Int32(AT_SYMLINK_NOFOLLOW)) }
        }
        if u != UInt32.max { inode.uid = u }
        if g != UInt32.max { inode.gid = g }
        // A file that changes hands stops being setuid, and setgid-executable (not a directory).
        if inode.kind != .directory {
            inode.mode &= ~0o4000
            if inode.mode & 0o010 != 0 { inode.mode &= ~0o2000 }
        }
        inode.ctime = Timespec.now()
        kernel.fsnotify(inode, at: loc, InotifyMask.attrib)
    }

    func sysUtimensat(dirfd: Int32, pathArg addr: UInt64, times: UInt64, flags: UInt64, utimbuf: UInt64,
                      timeval: Bool = false) throws(LinuxErrno) -> UInt64 {
        guard flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) == 0 else { throw .EINVAL }
        // The two timespecs, read once; both UTIME_OMIT: nothing to change, and Linux looks
        // at nothing else.
        let requested = times != 0 ? try mm.read(times, count: 32) : nil
        if let r = requested, r.withUnsafeBytes({ $0.load(fromByteOffset: 8, as: Int64.self) == 0x3fff_fffe
                                                  && $0.load(fromByteOffset: 24, as: Int64.self) == 0x3fff_fffe }) { return 0 }
        let inode: Inode, loc: Location?
        if addr == 0 {
            // No path names the dirfd's file, not the working directory (EFAULT there).
            guard dirfd != AT_FDCWD else { throw .EFAULT }
            let f = try group.fdTable.get(dirfd)
            (inode, loc) = (f.inode, f.location)
        } else {
            loc = try lookup(dirfd, try pathArg(addr), follow: flags & AT_SYMLINK_NOFOLLOW == 0,
                             emptyPathAllowed: flags & AT_EMPTY_PATH != 0)
            inode = loc!.inode
        }
        try requireWritableMount(inode, loc?.mount)
        let now = Timespec.now()
        var at = now, mt = now
        var setA = true, setM = true, nowBoth = false
        if let t = requested {
            t.withUnsafeBytes { p in
                at = Timespec(sec: p.load(fromByteOffset: 0, as: Int64.self), nsec: p.load(fromByteOffset: 8, as: Int64.self))
                mt = Timespec(sec: p.load(fromByteOffset: 16, as: Int64.self), nsec: p.load(fromByteOffset: 24, as: Int64.self))
            }
            for t in [at, mt] where t.nsec != 0x3fff_ffff && t.nsec != 0x3fff_fffe && (t.nsec < 0 || t.nsec > 999_999_999) {
                throw .EINVAL
            }
            nowBoth = at.nsec == 0x3fff_ffff && mt.nsec == 0x3fff_ffff
            if at.nsec == 0x3fff_ffff { at = now } // UTIME_NOW
            if mt.nsec == 0x3fff_ffff { mt = now }
            if at.nsec == 0x3fff_fffe { setA = false } // UTIME_OMIT
            if mt.nsec == 0x3fff_fffe { setM = false }
        } else if utimbuf != 0 {
            let t = try mm.read(utimbuf, count: timeval ? 32 : 16)
            if timeval {
                let usecs = t.withUnsafeBytes { [$0.load(fromByteOffset: 8, as: Int64.self), $0.load(fromByteOffset: 24, as: Int64.self)] }
                guard usecs.allSatisfy({ (0..<1_000_000).contains($0) }) else { throw .EINVAL }
            }
            t.withUnsafeBytes { p in
                if timeval {
                    at = Timespec(sec: p.load(fromByteOffset: 0, as: Int64.self), nsec: p.load(fromByteOffset: 8, as: Int64.self) * 1000)
                    mt = Timespec(sec: p.load(fromByteOffset: 16, as: Int64.self), nsec: p.load(fromByteOffset: 24, as: Int64.self) * 1000)
                } else {
                    at = Timespec(sec: p.load(fromByteOffset: 0, as: Int64.self), nsec: 0)
                    mt = Timespec(sec: p.load(fromByteOffset: 8, as: Int64.self), nsec: 0)
                }
            }
        }
        // Linux's setattr_prepare and notify_change: setting a time takes ownership (or
        // CAP_FOWNER, EPERM); touching to now (no times, or both UTIME_NOW) is also allowed
        // with write permission (EACCES).
        let touch = times == 0 && utimbuf == 0 || times != 0 && nowBoth
        // notify_change: no times set on an immutable or append-only file, not even now on an
        // immutable one.
        if inode.isImmutable || (!touch && inode.isAppendOnly) { throw .EPERM }
        if inode.kind == .anonymous { throw .EOPNOTSUPP } // anon_inode_setattr
        if group.fsuid != inode.uid && !group.capable(3 /* CAP_FOWNER */, over: inode) {
            if touch { try checkAccess(inode, read: false, write: true, mount: loc?.mount) } else { throw .EPERM }
        }
        if let ctx = (inode as? DirectoryInode)?.context ?? (inode as? RegularFileInode)?.context, let path = ctx.hostPath(of: inode) {
            var ts = [timespec(tv_sec: Int(at.sec), tv_nsec: setA ? Int(at.nsec) : 0x3fff_fffe),
                      timespec(tv_sec: Int(mt.sec), tv_nsec: setM ? Int(mt.nsec) : 0x3fff_fffe)]
            try ctx.onHost(path) { dfd, leaf in utimensat(dfd, leaf, &ts, Int32(AT_SYMLINK_NOFOLLOW)) }
        }
        if setA { inode.atime = at }
        if setM { inode.mtime = mt }
        inode.ctime = now
        kernel.fsnotify(inode, at: loc, InotifyMask.attrib)
        return 0
    }

    func sysTruncate() throws(LinuxErrno) -> UInt64 {
        let loc = try lookup(AT_FDCWD, try pathArg(a0), follow: true)
        guard Int64(bitPattern: a1) >= 0 else { throw .EINVAL }
        if loc.inode.kind == .directory { throw .EISDIR }
        guard let f = loc.inode as? RegularFileInode else { throw .EINVAL }
        try checkAccess(f, read: false, write: true, mount: loc.mount)
        if f.isAppendOnly { throw .EPERM }
        if f.executing > 0 { throw .ETXTBSY } // a running program (get_write_access)
        if !f.leases.isEmpty {
            // vfs_truncate breaks leases as an open for writing would, counted as one meanwhile.
            f.openWriters += 1
            defer { f.openWriters -= 1 }
            try f.breakLeases(writing: true, nonBlocking: false, kernel: kernel)
        }
        try landlockDomain?.check(Landlock.truncate, at: loc)
        try checkGrowth(f, to: a1)
        try f.truncate(a1)
        if let parent = loc.parent { kernel.fsnotify(in: parent.inode, name: loc.name, child: f, InotifyMask.modify) }
        else { kernel.fsnotify(f, InotifyMask.modify) }
        return 0
    }

    /// Growing a file past RLIMIT_FSIZE: SIGXFSZ and EFBIG (Linux's inode_newsize_ok).
    private func checkGrowth(_ f: Inode, to size: UInt64) throws(LinuxErrno) {
        guard size > f.size, size > limit(1).0 else { return }
        sendSignalToSelf(Signal.SIGXFSZ)
        throw .EFBIG
    }

    func sysFtruncate() throws(LinuxErrno) -> UInt64 {
        let d = try group.fdTable.get(fdArg(a0))
        guard Int64(bitPattern: a1) >= 0 else { throw .EINVAL }
        guard d.writable, let f = d.inode as? RegularFileInode else { throw .EINVAL }
        if f.isAppendOnly { throw .EPERM } // do_ftruncate
        // Landlock's truncate right as the description's opener had it (hook_file_truncate).
        if d.landlockDenied & Landlock.truncate != 0 { throw .EACCES }
        try checkGrowth(f, to: a1)
        try f.truncate(a1)
        kernel.fsnotify(d, InotifyMask.modify)
        return 0
    }

    // MARK: cwd

    func sysGetcwd() throws(LinuxErrno) -> UInt64 {
        if fs.cwd.inode.removed { throw .ENOENT }
        // Seen from the process's root; a directory outside it (after chroot) is shown
        // "(unreachable)" and absolute, as Linux does (glibc's getcwd then fails).
        let cwd = fs.cwd.current(), root = fs.root.current()
        // Shown from where it meets the root (a directory reached before a pivot_root has its
        // names from the old root), as d_path does.
        let shown = cwd.path(under: root).map { $0.bytes } ?? Array("(unreachable)".utf8) + cwd.path.bytes
        let path = shown + [0]
        guard UInt64(path.count) <= a1 else { throw .ERANGE } // a size of 0 too, as Linux's
        try mm.write(a0, path)
        return UInt64(path.count)
    }

    func sysChdir() throws(LinuxErrno) -> UInt64 {
        let loc = try lookup(AT_FDCWD, try pathArg(a0), follow: true)
        guard loc.inode.kind == .directory else { throw .ENOTDIR }
        try checkAccess(loc.inode, read: false, write: false, exec: true, mount: loc.mount)
        fs.cwd = loc
        return 0
    }

    func sysFchdir() throws(LinuxErrno) -> UInt64 {
        let f = try group.fdTable.getRaw(fdArg(a0))
        guard f.inode.kind == .directory, let loc = f.location else { throw .ENOTDIR }
        try checkAccess(loc.inode, read: false, write: false, exec: true, mount: loc.mount)
        fs.cwd = loc
        return 0
    }

    func sysChroot() throws(LinuxErrno) -> UInt64 {
        // Linux's order: the directory, search permission on it, then CAP_SYS_CHROOT.
        let loc = try lookup(AT_FDCWD, try pathArg(a0), follow: true)
        guard loc.inode.kind == .directory else { throw .ENOTDIR }
        try checkAccess(loc.inode, read: false, write: false, exec: true, mount: loc.mount)
        guard group.capable(18 /* CAP_SYS_CHROOT */) else { throw .EPERM }
        fs.root = loc
        return 0
    }

    // MARK: fds

    func sysDup() throws(LinuxErrno) -> UInt64 {
        let f = try group.fdTable.getRaw(fdArg(a0))
        return UInt64(try group.fdTable.install(f))
    }

    func sysDup2() throws(LinuxErrno) -> UInt64 {
        let old = fdArg(a0), new = fdArg(a1)
        let f = try group.fdTable.getRaw(old)
        if old == new { return UInt64(new) }
        try group.fdTable.install(f, at: new, closeOnExec: false)
        return UInt64(new)
    }

    func sysDup3() throws(LinuxErrno) -> UInt64 {
        let old = fdArg(a0), new = fdArg(a1)
        guard a2 & ~UInt64(O_CLOEXEC) == 0 else { throw .EINVAL }
        if old == new { throw .EINVAL } // before oldfd is looked at, as Linux
        let f = try group.fdTable.getRaw(old)
        try group.fdTable.install(f, at: new, closeOnExec: a2 != 0)
        return UInt64(new)
    }

    /// F_SETOWN's owner (a process, or a process group when negative) by the sentry's
    /// numbers; ESRCH for a process this one does not see.
    private func asyncOwner(_ owner: Int32) throws(LinuxErrno) -> Int32 {
        if owner == 0 { return 0 }
        guard owner != Int32.min else { throw .EINVAL }
        guard let id = pidNS.global(abs(owner)) else { throw .ESRCH }
        if owner > 0 && kernel.threadGroups[id] == nil && kernel.threads[id] == nil { throw .ESRCH }
        return owner > 0 ? id : -id
    }

    func sysFcntl() throws(LinuxErrno) -> UInt64 {
        let fd = fdArg(a0)
        let f = try group.fdTable.getRaw(fd)
        // An O_PATH descriptor takes only the descriptor commands (Linux's check_fcntl_cmd).
        if f.flags & O_PATH != 0 && ![F_DUPFD, 1030, F_GETFD, F_SETFD, F_GETFL].contains(Int32(truncatingIfNeeded: a1)) {
            throw .EBADF
        }
        switch Int32(truncatingIfNeeded: a1) {
        case F_DUPFD, 1030 /* F_DUPFD_CLOEXEC */:
            let min = Int32(truncatingIfNeeded: a2)
            guard min >= 0, Int(min) < group.fdTable.limit else { throw .EINVAL }
            return UInt64(try group.fdTable.install(f, closeOnExec: a1 == 1030, minimum: min))
        case F_GETFD:
            return group.fdTable.entry(fd)!.closeOnExec ? 1 : 0
        case F_SETFD:
            try group.fdTable.setCloseOnExec(fd, a2 & 1 != 0)
            return 0
        case F_GETFL:
            return UInt64(UInt32(bitPattern: f.flags))
        case F_SETFL:
            let settable = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME
            let new = Int32(truncatingIfNeeded: a2) & settable
            // O_APPEND stays on a file opened on an append-only inode.
            if (new ^ f.flags) & O_APPEND != 0 && f.inode.isAppendOnly { throw .EPERM }
            if new & O_ASYNC != 0 && f.flags & O_ASYNC == 0 { f.asyncFD = fd }
            f.flags = (f.flags & ~settable) | new
            return 0
        case F_SETOWN:
            f.asyncOwner = try asyncOwner(Int32(truncatingIfNeeded: a2))
            f.ownerSetter = landlockDomain.map { LandlockOwnerSetter(domain: $0, group: group) }
            return 0
        case 1024: // F_SETLEASE
            return try setLease(f, fd: fd, Int32(truncatingIfNeeded: a2))
        case 1025: // F_GETLEASE
            return getLease(f)
        case F_GETOWN:
            return UInt64(bitPattern: Int64(f.asyncOwner < 0 ? -vnr(-f.asyncOwner) : vnr(f.asyncOwner)))
        case 15: // F_SETOWN_EX: struct f_owner_ex { type (TID 0, PID 1, PGRP 2), pid }
            let (type, pid): (Int32, Int32) = try mm.readValue(a2)
            switch type {
            case 0, 1: guard pid >= 0 else { throw .ESRCH }; f.asyncOwner = try asyncOwner(pid)
            case 2: guard pid >= 0 else { throw .ESRCH }; f.asyncOwner = try asyncOwner(-pid)
            default: throw .EINVAL
            }
            f.ownerSetter = landlockDomain.map { LandlockOwnerSetter(domain: $0, group: group) }
            return 0
        case 16: // F_GETOWN_EX
            try mm.writeValue(a2, (f.asyncOwner < 0 ? Int32(2) : Int32(1), vnr(f.asyncOwner < 0 ? -f.asyncOwner : f.asyncOwner)))
            return 0
        case 10: // F_SETSIG
            let sig = Int32(truncatingIfNeeded: a2)
            guard sig >= 0, sig < 65 else { throw .EINVAL }
            f.asyncSignal = sig
            return 0
        case 11: // F_GETSIG
            return UInt64(f.asyncSignal)
        case F_GETLK, F_SETLK, F_SETLKW, 36, 37, 38: // record locks, and F_OFD_GETLK/SETLK/SETLKW
            return try recordLock(f, fd: fd, command: Int32(truncatingIfNeeded: a1), address: a2)
        case 1026: // F_NOTIFY
            try kernel.dnotify(f, fd: fd, mask: UInt32(truncatingIfNeeded: a2), caller: group)
            return 0
        case 1033: // F_ADD_SEALS
            return try addSeals(f, a2)
        case 1034: // F_GET_SEALS
            return try getSeals(f)
        case 1032: // F_GETPIPE_SZ
            guard let p = f as? PipeDescription else { throw .EBADF }
            return UInt64(p.buffer.capacity)
        case 1031: // F_SETPIPE_SZ: rounded up to a power-of-two number of pages; past
            // fs.pipe-max-size only with CAP_SYS_RESOURCE, and never past the sentry's 1 MiB
            guard let p = f as? PipeDescription else { throw .EBADF }
            let want = Int(Int32(truncatingIfNeeded: a2))
            guard want >= 0, want <= Tunables.sentryBound else { throw want < 0 ? .EINVAL : .EPERM }
            if want > kernel.tunables.pipeMaxSize && want > p.buffer.capacity && !group.capable(24, in: .initial) { throw .EPERM }
            var size = 4096
            while size < want { size <<= 1 }
            guard size / PipeBuffer.pageSize >= p.buffer.slots.count else { throw .EBUSY } // pages in use
            // Growing past its creator's fs.pipe-user-pages-hard: EPERM for the unprivileged.
            let pages = size / 4096, hard = kernel.tunables.pipeUserPagesHard, owner = p.buffer.chargedUID ?? group.uid
            if pages > p.buffer.chargedPages, hard != 0, !group.capable(24, in: .initial), !group.capable(21, in: .initial),
               kernel.pipeUserPages[owner, default: 0] - p.buffer.chargedPages + pages > hard { throw .EPERM }
            p.buffer.charge(kernel, uid: owner, pages: pages)
            p.buffer.capacity = size
            p.buffer.queue.notify(.output)
            return UInt64(size)
        default:
            throw .EINVAL
        }
    }

    func sysFallocate() throws(LinuxErrno) -> UInt64 {
        let f = try group.fdTable.get(fdArg(a0))
        let mode = Int32(truncatingIfNeeded: a1)
        let offset = Int64(bitPattern: a2), length = Int64(bitPattern: a3)
        guard offset >= 0, length > 0 else { throw .EINVAL }
        let keepSize: Int32 = 1, punch: Int32 = 2, zeroRange: Int32 = 0x10
        // COLLAPSE_RANGE, INSERT_RANGE and unknown bits are not offered (as on tmpfs).
        guard mode & ~(keepSize | punch | zeroRange) == 0 else { throw .EOPNOTSUPP }
        if mode & punch != 0 && (mode & keepSize == 0 || mode & zeroRange != 0) { throw .EOPNOTSUPP }
        guard f.writable else { throw .EBADF }
        // Only space preallocation on an append-only file; nothing on an immutable one.
        if mode & ~keepSize != 0 && f.inode.isAppendOnly { throw .EPERM }
        if f.inode.isImmutable { throw .EPERM }
        switch f.inode.kind {
        case .regular: break
        case .directory: throw .EISDIR
        case .fifo, .socket: throw .ESPIPE
        case .blockDevice:
            guard let loop = f as? LoopDescription else { throw .ENODEV }
            try loop.fallocate(self, mode: mode, offset: UInt64(offset), length: UInt64(length))
            return 0
        default: throw .ENODEV
        }
        guard length <= Int64.max - offset else { throw .EFBIG }
        guard let file = f.inode as? RegularFileInode else { throw .EOPNOTSUPP }
        // ramfs has no fallocate; tmpfs no ZERO_RANGE (shmem_fallocate).
        if file.fs.name == "ramfs" { throw .EOPNOTSUPP }
        if mode & zeroRange != 0 && (file.fs.name == "tmpfs" || file.fs.name == "devtmpfs") { throw .EOPNOTSUPP }
        if mode & keepSize == 0 { try checkGrowth(file, to: UInt64(offset + length)) }
        try file.allocate(mode: mode, offset: UInt64(offset), length: UInt64(length))
        return 0
    }

    func sysIoctl() throws(LinuxErrno) -> UInt64 {
        let fd = fdArg(a0)
        let f = try group.fdTable.get(fd)
        // Landlock's device ioctl right as the opener had it (hook_file_ioctl).
        if f.landlockDenied & Landlock.ioctlDev != 0, f.inode.kind == .characterDevice || f.inode.kind == .blockDevice,
           !Landlock.isMaskedDeviceIoctl(UInt32(truncatingIfNeeded: a1)) {
            throw .EACCES
        }
        switch a1 & 0xffff_ffff {
        case 0x5451: try group.fdTable.setCloseOnExec(fd, true); return 0   // FIOCLEX
        case 0x5450: try group.fdTable.setCloseOnExec(fd, false); return 0  // FIONCLEX
        case 0x5421: // FIONBIO
            let on: Int32 = try mm.readValue(a2)
            if on != 0 { f.flags |= O_NONBLOCK } else { f.flags &= ~O_NONBLOCK }
            return 0
        case 0x8008_6601, 0x8004_6601, 0x4008_6602, 0x4004_6602: // FS_IOC_GETFLAGS, SETFLAGS (and their 32-bit numbers)
            guard f.inode.keepsAttributeFlags else { return try f.ioctl(self, request: a1 & 0xffff_ffff, argument: a2) }
            return try inodeFlags(f, set: a1 & 0x4000_0000 != 0)
        case 0x5452: // FIOASYNC: only sockets signal readiness; elsewhere Linux's files have no fasync
            let on: Int32 = try mm.readValue(a2)
            // No change is no call to fasync, so no error (ioctl_fioasync).
            if (on != 0) == (f.flags & O_ASYNC != 0) { return 0 }
            guard f is Socket else { throw .ENOTTY }
            if on != 0 && f.flags & O_ASYNC == 0 { f.asyncFD = fd }
            if on != 0 { f.flags |= O_ASYNC } else { f.flags &= ~O_ASYNC }
            return 0
        // FIONREAD of a regular file: the bytes past the position (an anonymous inode, which
        // this kernel gives the regular kind, is not one: its own ioctl answers).
        case 0x541B where f.inode.kind == .regular && !(f.inode is AnonymousInode):
            try mm.writeValue(a2, Int32(truncatingIfNeeded: Int64(bitPattern: f.inode.size &- f.offset)))
            return 0
        case 0x4004_9409, 0x4020_940D: // FICLONE, FICLONERANGE
            return try cloneRange(into: f, request: a1 & 0xffff_ffff)
        default:
            return try f.ioctl(self, request: a1 & 0xffff_ffff, argument: a2)
        }
    }

    /// FICLONE and FICLONERANGE (ioctl_file_clone, vfs_clone_file_range): no filesystem of the
    /// sandbox shares extents between files (tmpfs has no remap_file_range; the overlay's
    /// upper layer is the sandbox's memory), so after Linux's checks the answer is EOPNOTSUPP.
    private func cloneRange(into f: FileDescription, request: UInt64) throws(LinuxErrno) -> UInt64 {
        let srcFD: Int64 = request == 0x4004_9409 ? Int64(Int32(truncatingIfNeeded: a2)) : try mm.readValue(a2)
        guard let fd = Int32(exactly: srcFD) else { throw .EBADF }
        let source = try group.fdTable.get(fd)
        if source.location?.mount !== f.location?.mount { throw .EXDEV }
        if source.inode.kind == .directory || f.inode.kind == .directory { throw .EISDIR }
        func isRegular(_ d: FileDescription) -> Bool { d.inode.kind == .regular && !(d.inode is AnonymousInode) }
        guard isRegular(source), isRegular(f) else { throw .EINVAL }
        guard source.readable, f.writable, f.flags & O_APPEND == 0 else { throw .EBADF }
        throw .EOPNOTSUPP
    }

    /// FS_IOC_GETFLAGS and FS_IOC_SETFLAGS on a sandbox file (an int, as tmpfs takes it):
    /// the flags tmpfs keeps (immutable, append-only, nodump, noatime), changed by the owner
    /// (or CAP_FOWNER) on a writable mount, immutable and append-only only with
    /// CAP_LINUX_IMMUTABLE; any other flag is EOPNOTSUPP (shmem_fileattr_set). A file of the
    /// host's layer starts with none: its host flags are the host's.
    private func inodeFlags(_ f: FileDescription, set: Bool) throws(LinuxErrno) -> UInt64 {
        let inode = f.inode
        guard set else {
            try mm.writeValue(a2, Int32(bitPattern: inode.attributeFlags))
            return 0
        }
        let new = UInt32(bitPattern: try mm.readValue(a2) as Int32)
        try requireWritableMount(inode, f.location?.mount)
        guard group.fsuid == inode.uid || group.capable(3 /* CAP_FOWNER */, over: inode) else { throw .EPERM }
        if (new ^ inode.attributeFlags) & (Inode.immutableFlag | Inode.appendFlag) != 0 && !group.capable(9 /* CAP_LINUX_IMMUTABLE */, in: .initial) {
            throw .EPERM
        }
        guard new & ~(Inode.immutableFlag | Inode.appendFlag | Inode.noDumpFlag | Inode.noATimeFlag) == 0 else { throw .EOPNOTSUPP }
        inode.attributeFlags = new
        inode.ctime = Timespec.now()
        kernel.fsnotify(inode, at: f.location, InotifyMask.attrib)
        return 0
    }

    /// The mode of a new file that is not a directory (vfs_prepare_mode): in a setgid
    /// directory, setgid-executable (as asked, before the umask) only for a member of the
    /// directory's group or one with CAP_FSETID over it (mode_strip_sgid; CVE-2018-13405: the
    /// file takes that group); then the umask.
    func creationMode(_ mode: UInt64, in dir: Inode) -> UInt32 {
        var m = UInt32(mode & 0o7777)
        if m & 0o2010 == 0o2010, dir.mode & 0o2000 != 0,
           dir.gid != group.fsgid, !group.groups.contains(dir.gid), !group.capable(4 /* CAP_FSETID */, over: dir) {
            m &= ~0o2000
        }
        return m & ~fs.umask
    }

    func sysPipe2(flagsArg: UInt64) throws(LinuxErrno) -> UInt64 {
        guard flagsArg & ~UInt64(O_CLOEXEC | O_NONBLOCK | O_DIRECT) == 0 else { throw .EINVAL }
        let flags = Int32(truncatingIfNeeded: flagsArg)
        let inode = PipeInode(fs: kernel.pipeFS)
        try kernel.sizeNewPipe(inode.buffer)
        let r = PipeDescription(inode: inode, buffer: inode.buffer, reader: true, flags: O_RDONLY | (flags & O_NONBLOCK), kernel: kernel)
        let w = PipeDescription(inode: inode, buffer: inode.buffer, reader: false, flags: O_WRONLY | (flags & O_NONBLOCK), kernel: kernel)
        r.path = ByteString("pipe:[\(inode.ino)]")
        w.path = r.path
        // Validate the destination before installing anything.
        _ = try mm.read(a0, count: 8)
        let rfd = try group.fdTable.install(r, closeOnExec: flags & O_CLOEXEC != 0)
        let wfd: Int32
        do { wfd = try group.fdTable.install(w, closeOnExec: flags & O_CLOEXEC != 0) } catch {
            try? group.fdTable.close(rfd)
            throw error
        }
        do {
            try mm.writeValue(a0, rfd)
            try mm.writeValue(a0 &+ 4, wfd)
        } catch {
            try? group.fdTable.close(rfd); try? group.fdTable.close(wfd)
            throw error
        }
        return 0
    }
}

extension DirectoryInode {
    /// After a rename the host path no longer names this directory: pull in its lower
    /// entries now so later lookups do not consult the old host path.
    func detachFromLower() {
        for e in (try? entries()) ?? [] {
            if let sub = try? lookup(e.name) {
                if let d = sub as? DirectoryInode, d.lowerPath != nil { d.detachFromLower() }
                if let f = sub as? RegularFileInode, f.lowerPath != nil { try? f.copyUp() }
            }
        }
        lowerPath = nil
    }
}
