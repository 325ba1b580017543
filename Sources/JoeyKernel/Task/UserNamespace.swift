// User namespaces (user_namespaces(7)). Every id the sentry keeps (a process's uids and
// gids, an inode's owner, an IPC object's) is the sandbox's initial namespace's number for
// it, as Linux keeps kuid_t; a process in another user namespace sees ids and gives them
// through its namespace's maps at the system-call boundary: an id with no number there shows
// as the overflow id (65534), and one given that maps to nothing is EINVAL. A process's
// capabilities count in its own user namespace and the ones below it (in those its
// namespace's creator made, all of them), never above: capable(_:in:) is Linux's
// ns_capable, capable(_:in: .initial) its capable(), capable(_:over:) its
// capable_wrt_inode_uidgid. Mount, UTS, IPC and pid namespaces each belong to the user
// namespace that made them, where their privileged operations are checked. The sandbox has
// one network namespace, owned by the initial user namespace. Kernel lock held throughout.
import Glibc
import JoeyABI
import Synchronization

/// uid_map or gid_map: ranges of ids of a namespace and the ids they stand for.
struct IDMap: Equatable {
    struct Extent: Equatable {
        let first: UInt32
        let lowerFirst: UInt32
        let count: UInt32
    }
    let extents: [Extent]

    /// Linux's UID_GID_MAP_MAX_EXTENTS.
    static let maxExtents = 340
    /// Every id as itself but -1: the initial namespace's map ("0 0 4294967295").
    static let identity = IDMap(extents: [Extent(first: 0, lowerFirst: 0, count: UInt32.max)])

    /// The id `id` of the namespace stands for, if the map has it.
    func down(_ id: UInt32) -> UInt32? {
        for e in extents where id &- e.first < e.count { return e.lowerFirst &+ (id &- e.first) }
        return nil
    }
    /// The namespace's number for the lower id `id`, if it has one.
    func up(_ id: UInt32) -> UInt32? {
        for e in extents where id &- e.lowerFirst < e.count { return e.first &+ (id &- e.lowerFirst) }
        return nil
    }

    /// The map a write to uid_map or gid_map gives: lines of "first lower count" (decimal,
    /// blank-separated). EINVAL for anything else, an empty or overflowing range, an id of
    /// -1, ranges of the namespace that overlap or ones below that do, or too many lines.
    static func parse(_ text: [UInt8]) throws(LinuxErrno) -> IDMap {
        var extents: [Extent] = []
        var lines = text.split(separator: 0x0a, omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() } // the final newline
        for line in lines {
            guard extents.count < maxExtents else { throw .EINVAL }
            // Three decimal numbers between blanks, nothing else.
            let fields = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 })
            guard fields.count == 3 else { throw .EINVAL }
            var n: [UInt32] = []
            for f in fields {
                guard f.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), f.count <= 10,
                      let v = UInt64(String(decoding: f, as: UTF8.self)), v <= UInt64(UInt32.max) else { throw .EINVAL }
                n.append(UInt32(v))
            }
            let e = Extent(first: n[0], lowerFirst: n[1], count: n[2])
            guard e.first != UInt32.max, e.lowerFirst != UInt32.max, e.count != 0 else { throw .EINVAL }
            // A range may not wrap (nor end at 2^32, which would take in -1).
            let (end, o1) = e.first.addingReportingOverflow(e.count)
            let (lowerEnd, o2) = e.lowerFirst.addingReportingOverflow(e.count)
            guard !o1, !o2 else { throw .EINVAL }
            for x in extents {
                if e.first < x.first &+ x.count && x.first < end { throw .EINVAL }
                if e.lowerFirst < x.lowerFirst &+ x.count && x.lowerFirst < lowerEnd { throw .EINVAL }
            }
            extents.append(e)
        }
        guard !extents.isEmpty else { throw .EINVAL }
        return IDMap(extents: extents)
    }

    /// The map read back: "%10u %10u %10u\n" per range, the lower ids as `lower` names them
    /// (-1 for one it cannot).
    func text(lower: (UInt32) -> UInt32?) -> String {
        extents.map { e in
            let l = lower(e.lowerFirst) ?? UInt32.max
            return [e.first, l, e.count].map { v in
                let s = String(v)
                return String(repeating: " ", count: max(0, 10 - s.count)) + s
            }.joined(separator: " ") + "\n"
        }.joined()
    }
}

final class UserNamespace: @unchecked Sendable {
    let parent: UserNamespace?
    /// 0 for the initial namespace; Linux allows one 33 deep (its creator's at 32).
    let level: Int
    /// The effective uid of its creator (NS_GET_OWNER_UID): a process of the parent with it
    /// holds every capability here.
    let owner: UInt32
    /// /proc/PID/ns/user shows "user:[N]".
    let ino: UInt64
    /// Each written once, with the lower ids as the initial namespace's; nil until then.
    private(set) var uidMap: IDMap?
    private(set) var gidMap: IDMap?
    /// /proc/PID/setgroups: "deny" keeps setgroups(2) from every process here (so that an
    /// unprivileged gid map cannot be used to drop a group that denies access), and is
    /// inherited by namespaces made below.
    var setgroupsAllowed: Bool
    /// Its creator held CAP_SETFCAP: a map of its own may then name the initial root.
    let parentCouldSetfcap: Bool

    static let overflowID: UInt32 = 65534
    /// The creator's namespace may be at most this deep (Linux's check of level > 32).
    static let maxParentLevel = 32
    /// Namespaces alive below the initial one, for user.max_user_namespaces.
    static let live = Atomic<Int>(0)

    static let initial = UserNamespace()

    private init() {
        parent = nil; level = 0; owner = 0; ino = 0xEFFF_FFFD // PROC_USER_INIT_INO
        uidMap = .identity; gidMap = .identity
        setgroupsAllowed = true; parentCouldSetfcap = true
    }

    init(parent: UserNamespace, owner: UInt32, ino: UInt64, couldSetfcap: Bool) {
        self.parent = parent
        level = parent.level + 1
        self.owner = owner
        self.ino = ino
        setgroupsAllowed = parent.setgroupsAllowed
        parentCouldSetfcap = couldSetfcap
        UserNamespace.live.add(1, ordering: .relaxed)
    }

    deinit { if parent != nil { UserNamespace.live.subtract(1, ordering: .relaxed) } }

    // The ids of the initial namespace that ids here stand for, and back.
    func kuid(_ uid: UInt32) -> UInt32? { uidMap?.down(uid) }
    func kgid(_ gid: UInt32) -> UInt32? { gidMap?.down(gid) }
    func uid(_ kuid: UInt32) -> UInt32? { uidMap?.up(kuid) }
    func gid(_ kgid: UInt32) -> UInt32? { gidMap?.up(kgid) }
    /// As shown to a process here: the overflow id when there is no number (from_kuid_munged).
    func shownUID(_ kuid: UInt32) -> UInt32 { uid(kuid) ?? UserNamespace.overflowID }
    func shownGID(_ kgid: UInt32) -> UInt32 { gid(kgid) ?? UserNamespace.overflowID }

    /// Whether a file owned by `uid`:`gid` (initial ids) is one whose owner can be named here
    /// (privileged_wrt_inode_uidgid): capabilities here apply to it only then.
    func maps(uid: UInt32, gid: UInt32) -> Bool { self.uid(uid) != nil && self.gid(gid) != nil }

    /// Whether a process in `member` with effective uid `euid` and effective capabilities
    /// `effective` holds `cap` here (cap_capable's walk up from this namespace).
    func grants(_ cap: Int, toMemberOf member: UserNamespace, euid: UInt32, effective: UInt64) -> Bool {
        var n = self
        while true {
            if n === member { return effective & (1 << UInt64(cap)) != 0 }
            guard n.level > member.level, let parent = n.parent else { return false }
            if parent === member && n.owner == euid { return true }
            n = parent
        }
    }

    /// `self` is `other` or above it.
    func isAncestor(of other: UserNamespace) -> Bool {
        var n: UserNamespace? = other
        while let each = n {
            if each === self { return true }
            n = each.parent
        }
        return false
    }

    /// Sets the map once written (map files check everything first).
    fileprivate func setMap(_ map: IDMap, uid: Bool) {
        if uid { uidMap = map } else { gidMap = map }
    }
}

extension ThreadGroup {
    /// Linux's ns_capable: `cap` in `ns`. A process has its effective set in its own user
    /// namespace, and every capability in a namespace below it whose creator had its
    /// effective uid and whose parent is its namespace (or in one below such a namespace).
    func capable(_ cap: Int, in ns: UserNamespace) -> Bool {
        ns.grants(cap, toMemberOf: userNS, euid: euid, effective: capabilities.effective)
    }

    /// `cap` in the caller's own namespace, over a file: only when the file's owner and group
    /// have numbers there (capable_wrt_inode_uidgid).
    func capable(_ cap: Int, over inode: Inode) -> Bool {
        capable(cap) && userNS.maps(uid: inode.uid, gid: inode.gid)
    }

    /// The initial-namespace uid that is root in the process's user namespace, if mapped:
    /// who gains capabilities at execve and loses them when leaving it.
    var rootUID: UInt32? { userNS.kuid(0) }

    /// Credentials in `ns`, as a process that makes it or joins it gets them (Linux's
    /// set_cred_user_ns): every capability there, none to pass on.
    func enterUserNamespace(_ ns: UserNamespace) {
        userNS = ns
        securebits = 0
        capabilities = Capabilities(effective: Capabilities.all, permitted: Capabilities.all, inheritable: 0,
                                    bounding: Capabilities.all, ambient: 0)
    }
}

extension GuestThread {
    /// A new user namespace below the caller's (clone or unshare of CLONE_NEWUSER): anyone
    /// may make one, but not from a chroot, not with ids its namespace cannot name, not
    /// deeper than Linux allows, and not past user.max_user_namespaces.
    func makeUserNamespace() throws(LinuxErrno) -> UserNamespace {
        let parent = group.userNS
        guard parent.level <= UserNamespace.maxParentLevel,
              UserNamespace.live.load(ordering: .relaxed) < kernel.tunables.maxUserNamespaces else { throw .ENOSPC }
        guard !fs.isChrooted else { throw .EPERM }
        guard parent.uid(group.euid) != nil, parent.gid(group.egid) != nil else { throw .EPERM }
        return UserNamespace(parent: parent, owner: group.euid, ino: kernel.allocateNamespaceIno(),
                             couldSetfcap: group.capable(31 /* CAP_SETFCAP */))
    }
}

/// /proc/PID/uid_map and gid_map: the process's user namespace's map, read as the opener's
/// namespace names the lower ids; written once, in one write from the start (map_write).
final class IDMapFile: ProcessFile {
    /// uid_map (else gid_map).
    let isUID: Bool
    init(group: ThreadGroup, uid: Bool, fs: FileSystemID) {
        isUID = uid
        super.init(group: group, fs: fs)
    }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        let ns = group.userNS
        let opener = GuestThread.onThisHostThread?.group
        // Read by a process in the namespace itself, the lower ids are its parent's.
        var lowerNS = opener?.userNS ?? UserNamespace.initial
        if lowerNS === ns, let parent = ns.parent { lowerNS = parent }
        let isUID = self.isUID
        let map = isUID ? ns.uidMap : ns.gidMap
        let text = map?.text(lower: { id in isUID ? lowerNS.uid(id) : lowerNS.gid(id) }) ?? ""
        return IDMapDescription(inode: self, flags: flags, content: Array(text.utf8), opener: opener.map(OpenerCredentials.init))
    }
}

/// What the opener of a map file could do when it opened it (Linux checks the file's
/// credentials as well as the writer's: a privileged writer cannot be tricked into writing
/// to a file an unprivileged process opened).
struct OpenerCredentials {
    let userNS: UserNamespace
    let euid: UInt32, egid: UInt32
    let capabilities: UInt64
    init(_ g: ThreadGroup) {
        userNS = g.userNS; euid = g.euid; egid = g.egid; capabilities = g.capabilities.effective
    }
    /// file_ns_capable.
    func capable(_ cap: Int, in ns: UserNamespace) -> Bool {
        ns.grants(cap, toMemberOf: userNS, euid: euid, effective: capabilities)
    }
}

/// A /proc file whose writes are checked against its opener's credentials as well.
class OpenerCheckedDescription: GeneratedFileDescription {
    let opener: OpenerCredentials?
    init(inode: Inode, flags: Int32, content: [UInt8], opener: OpenerCredentials?) {
        self.opener = opener
        super.init(inode: inode, flags: flags, content: content)
    }

    /// What one write gives, whole: at the start of the file and under a page (EINVAL).
    func wholeWrite(_ src: inout IOSequence) throws(LinuxErrno) -> [UInt8] {
        let total = src.count
        guard offset == 0, total < 4096 else { throw .EINVAL }
        var text = [UInt8](repeating: 0, count: total)
        let got = try text.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in try src.copyIn(p) }
        guard got == total else { throw .EFAULT }
        return text
    }
}

final class IDMapDescription: OpenerCheckedDescription {
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        let file = inode as! IDMapFile
        let ns = file.group.userNS
        let writer = t.group
        guard let parent = ns.parent, let opener else { throw .EPERM }
        // The opener in the namespace or its parent, with CAP_SYS_ADMIN in it; the map not
        // written yet.
        guard opener.userNS === ns || opener.userNS === parent else { throw .EPERM }
        guard (file.isUID ? ns.uidMap : ns.gidMap) == nil else { throw .EPERM }
        guard opener.capable(21 /* CAP_SYS_ADMIN */, in: ns) else { throw .EPERM }
        let text = try wholeWrite(&src)
        let map = try IDMap.parse(text)
        guard permitted(map, ns: ns, parent: parent, writer: writer, opener: opener) else { throw .EPERM }
        // The lower ids are the parent's: stored as the initial namespace's.
        var stored: [IDMap.Extent] = []
        for e in map.extents {
            guard let low = file.isUID ? parent.kuid(e.lowerFirst) : parent.kgid(e.lowerFirst),
                  e.count == 1 || (file.isUID ? parent.kuid(e.lowerFirst &+ e.count &- 1) : parent.kgid(e.lowerFirst &+ e.count &- 1)) == low &+ e.count &- 1
            else { throw .EPERM }
            stored.append(IDMap.Extent(first: e.first, lowerFirst: low, count: e.count))
        }
        // Once only, even if another write got in while this one copied its text.
        guard (file.isUID ? ns.uidMap : ns.gidMap) == nil else { throw .EPERM }
        ns.setMap(IDMap(extents: stored), uid: file.isUID)
        offset = UInt64(text.count)
        return text.count
    }

    /// new_idmap_permitted and verify_root_map: one's own id alone (a gid only once setgroups
    /// is denied) needs nothing; anything else CAP_SETUID (CAP_SETGID) over the parent, in
    /// the writer and in the opener; a uid map naming the parent's root needs CAP_SETFCAP.
    private func permitted(_ map: IDMap, ns: UserNamespace, parent: UserNamespace, writer: ThreadGroup,
                           opener: OpenerCredentials) -> Bool {
        let uid = (inode as! IDMapFile).isUID
        if uid, map.extents.contains(where: { $0.lowerFirst == 0 }) {
            if opener.userNS === ns {
                if !ns.parentCouldSetfcap { return false }
            } else if !opener.capable(31 /* CAP_SETFCAP */, in: parent) {
                return false
            }
        }
        if map.extents.count == 1, map.extents[0].count == 1, ns.owner == writer.euid {
            let id = map.extents[0].lowerFirst
            if uid, parent.kuid(id) == writer.euid { return true }
            if !uid, !ns.setgroupsAllowed, parent.kgid(id) == writer.egid { return true }
        }
        let cap = uid ? Capabilities.setuid : Capabilities.setgid
        return writer.capable(cap, in: parent) && opener.capable(cap, in: parent)
    }
}

/// /proc/PID/setgroups: "allow" or "deny"; "deny" may be written until the gid map is, and
/// "allow" only while nothing was denied.
final class SetgroupsFile: ProcessFile {
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        let opener = GuestThread.onThisHostThread?.group
        return SetgroupsDescription(inode: self, flags: flags, content: Array((group.userNS.setgroupsAllowed ? "allow\n" : "deny\n").utf8),
                                    opener: opener.map(OpenerCredentials.init))
    }
}

final class SetgroupsDescription: OpenerCheckedDescription {
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        let ns = (inode as! SetgroupsFile).group.userNS
        let text = try wholeWrite(&src)
        // A word, then blanks or a newline (proc_setgroups_write).
        var word = text[...]
        while let last = word.last, last == 0x0a || last == 0x20 || last == 0x09 { word.removeLast() }
        let allow: Bool
        switch String(decoding: word, as: UTF8.self) {
        case "allow": allow = true
        case "deny": allow = false
        default: throw .EINVAL
        }
        // The opener needs CAP_SYS_ADMIN in the namespace (file_ns_capable).
        guard let opener, opener.capable(21, in: ns) else { throw .EPERM }
        if allow {
            guard ns.setgroupsAllowed else { throw .EPERM }
        } else {
            guard ns.gidMap == nil else { throw .EPERM }
            ns.setgroupsAllowed = false
        }
        offset = UInt64(text.count)
        return text.count
    }
}
