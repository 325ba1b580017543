// Landlock for the guest (Linux's security/landlock/, ABI 6): a thread restricts itself, and
// every task it creates after, to the files, TCP ports and scopes a ruleset names. A domain is
// a stack of layers, one per landlock_restrict_self, each a frozen ruleset; an access is
// allowed when every layer that handles it grants it through a rule on the file or on one of
// the directories above it (walked up through mounts to the root). Rules are kept by inode
// (an Inode object: the same file however it is reached, bind mounts included), and hold it.
// Domains are per thread (a credential, as Linux's), inherited by clone and fork, kept by
// execve. Kernel lock held throughout.
//
// Not covered: rules on files a filesystem makes afresh at each lookup (/proc/PID entries)
// hold only for the inode looked up; audit logging (ABI 7) is not offered.
import Glibc
import JoeyABI

/// Access rights and scopes (include/uapi/linux/landlock.h).
enum Landlock {
    static let abiVersion: UInt64 = 6
    /// LANDLOCK_CREATE_RULESET_ERRATA: the fixed issues this implementation behaves as fixed
    /// (a bit per erratum number less one): 1, only TCP sockets are restricted; 2, signals
    /// within one process are never scoped; 4, an overlay whiteout is made with MAKE_REG.
    /// Not 3 (a directory moved out of a bind mount's reach): Joey's `..` is not Linux's there.
    static let errata: UInt64 = 1 << 0 | 1 << 1 | 1 << 3

    static let execute: UInt64 = 1 << 0, writeFile: UInt64 = 1 << 1, readFile: UInt64 = 1 << 2
    static let readDir: UInt64 = 1 << 3, removeDir: UInt64 = 1 << 4, removeFile: UInt64 = 1 << 5
    static let makeChar: UInt64 = 1 << 6, makeDir: UInt64 = 1 << 7, makeReg: UInt64 = 1 << 8
    static let makeSock: UInt64 = 1 << 9, makeFifo: UInt64 = 1 << 10, makeBlock: UInt64 = 1 << 11
    static let makeSym: UInt64 = 1 << 12, refer: UInt64 = 1 << 13, truncate: UInt64 = 1 << 14
    static let ioctlDev: UInt64 = 1 << 15
    static let fsAll: UInt64 = (1 << 16) - 1
    /// The rights that make sense on a file that is not a directory (ACCESS_FILE).
    static let fileRights: UInt64 = execute | writeFile | readFile | truncate | ioctlDev

    static let bindTCP: UInt64 = 1 << 0, connectTCP: UInt64 = 1 << 1
    static let netAll: UInt64 = bindTCP | connectTCP

    static let scopeAbstractUnix: UInt64 = 1 << 0, scopeSignal: UInt64 = 1 << 1
    static let scopeAll: UInt64 = scopeAbstractUnix | scopeSignal

    /// LANDLOCK_MAX_NUM_LAYERS.
    static let maxLayers = 16

    /// The right that makes a file of `kind` (get_mode_access).
    static func make(_ kind: FileKind) -> UInt64 {
        switch kind {
        case .regular: return makeReg
        case .directory: return makeDir
        case .characterDevice: return makeChar
        case .blockDevice: return makeBlock
        case .fifo: return makeFifo
        case .symlink: return makeSym
        case .socket: return makeSock
        case .anonymous: return 0 // never made in a directory
        }
    }

    /// The right that removes a file of `kind` (maybe_remove).
    static func remove(_ kind: FileKind) -> UInt64 { kind == .directory ? removeDir : removeFile }

    /// Device ioctls every opener may make whatever IOCTL_DEV says (is_masked_device_ioctl):
    /// fd flags, and questions about the filesystem rather than the device.
    static func isMaskedDeviceIoctl(_ request: UInt32) -> Bool {
        switch request {
        case 0x5451, 0x5450, 0x5421, 0x5452, // FIOCLEX FIONCLEX FIONBIO FIOASYNC
             0x5460,                          // FIOQSIZE
             0xC004_5877, 0xC004_5878,        // FIFREEZE FITHAW
             0xC020_660B, 2,                  // FS_IOC_FIEMAP FIGETBSZ
             0x4004_9409, 0x4020_940D, 0xC018_9436, // FICLONE FICLONERANGE FIDEDUPERANGE
             0x8011_1500, 0x8081_1501:        // FS_IOC_GETFSUUID FS_IOC_GETFSSYSFSPATH
            return true
        default:
            return false
        }
    }
}

/// A ruleset being built: landlock_create_ruleset's fd.
final class LandlockRuleset {
    let handledFS: UInt64, handledNet: UInt64, scoped: UInt64
    var fsRules: [ObjectIdentifier: (inode: Inode, access: UInt64)] = [:]
    var netRules: [UInt16: UInt64] = [:]
    init(handledFS: UInt64, handledNet: UInt64, scoped: UInt64) {
        self.handledFS = handledFS; self.handledNet = handledNet; self.scoped = scoped
    }
}

/// The description behind a ruleset fd ("anon_inode:[landlock-ruleset]").
final class LandlockRulesetDescription: FileDescription {
    let ruleset: LandlockRuleset
    init(_ ruleset: LandlockRuleset, fs: FileSystemID) {
        self.ruleset = ruleset
        super.init(anonymous: "[landlock-ruleset]", fs: fs, flags: O_RDWR)
    }
}

/// One layer of a domain, and the layers below it (Linux's landlock_hierarchy).
final class LandlockDomain {
    /// REFER is handled by every layer: one that does not name it grants it nowhere, so it
    /// never lets a file change directory.
    let handledFS: UInt64
    let handledNet: UInt64
    let scoped: UInt64
    private let fsRules: [ObjectIdentifier: UInt64]
    /// The rules' inodes, held so that no other inode takes an identifier a rule names.
    private let inodes: [Inode]
    private let netRules: [UInt16: UInt64]
    let parent: LandlockDomain?
    let depth: Int

    init(_ r: LandlockRuleset, on parent: LandlockDomain?) {
        handledFS = r.handledFS | Landlock.refer
        handledNet = r.handledNet
        scoped = r.scoped
        fsRules = r.fsRules.mapValues { $0.access }
        inodes = r.fsRules.values.map { $0.inode }
        netRules = r.netRules
        self.parent = parent
        depth = (parent?.depth ?? 0) + 1
    }

    private var layers: UnfoldSequence<LandlockDomain, (LandlockDomain?, Bool)> {
        sequence(first: self) { $0.parent }
    }

    // MARK: files

    /// The rights of `request` each layer (top first) still denies after the rules on `start`
    /// and every directory above it; `child`'s own rules count first when given. A place
    /// outside every mount (a pipe, a socket, an anonymous file) is never restricted.
    func denials(_ request: UInt64, at place: Location, child: Inode? = nil) -> [UInt64] {
        guard place.mount != nil else { return layers.map { _ in 0 } }
        let start = place.current() // the directories above it now, renamed ones included
        return layers.map { layer in
            var need = request & layer.handledFS
            if need != 0, let c = child, let a = layer.fsRules[ObjectIdentifier(c)] { need &= ~a }
            var cur: Location? = start
            while need != 0, let c = cur {
                if let a = layer.fsRules[ObjectIdentifier(c.inode)] { need &= ~a }
                cur = c.parent
            }
            return need
        }
    }

    /// EACCES unless every layer grants `request` at `location` (a file: its own rules count;
    /// a directory entry to make or remove: its directory).
    func check(_ request: UInt64, at location: Location) throws(LinuxErrno) {
        if denials(request, at: location).contains(where: { $0 != 0 }) { throw .EACCES }
    }

    /// A link, or a rename (`removed`: the entry a rename replaces; `exchanged`: the other
    /// entry of RENAME_EXCHANGE), checked as Linux's current_check_refer_path: within one
    /// directory, the rights to make and remove; across directories also REFER on both
    /// sides, and the file may gain no right by moving (what the destination grants, the
    /// source granted it too). EACCES when a right other than REFER is missing, else EXDEV.
    func checkRefer(_ moved: Inode, from oldDir: Location, to newDir: Location, exchanged: Inode?, removed: Inode?,
                    rename: Bool) throws(LinuxErrno) {
        var request1: UInt64 = 0, request2 = Landlock.make(moved.kind)
        if let exchanged { request1 |= Landlock.make(exchanged.kind) }
        if rename {
            request1 |= Landlock.remove(moved.kind)
            if let r = exchanged ?? removed { request2 |= Landlock.remove(r.kind) }
        }
        if oldDir.inode === newDir.inode && oldDir.mount === newDir.mount {
            try check(request1 | request2, at: newDir)
            return
        }
        request1 |= Landlock.refer
        request2 |= Landlock.refer
        // Whole-domain denials on each side, then the children's own rules.
        let parent1 = denials(Landlock.fsAll, at: oldDir), parent2 = denials(Landlock.fsAll, at: newDir)
        let child1 = denials(Landlock.fsAll, at: oldDir, child: moved)
        let child2 = exchanged.map { denials(Landlock.fsAll, at: newDir, child: $0) }
        var noMoreAccess = true
        for bit in 0..<16 {
            let right: UInt64 = 1 << UInt64(bit)
            for i in child1.indices { // one per layer
                if moved.kind == .directory || right & Landlock.fileRights != 0 {
                    // Denied at the source for the file, so denied at the destination too.
                    if child1[i] & right != 0 && parent2[i] & right == 0 { noMoreAccess = false }
                }
                if let child2, let e = exchanged, e.kind == .directory || right & Landlock.fileRights != 0 {
                    if child2[i] & right != 0 && parent1[i] & right == 0 { noMoreAccess = false }
                }
            }
        }
        let granted1 = !parent1.contains { $0 & request1 != 0 }, granted2 = !parent2.contains { $0 & request2 != 0 }
        if noMoreAccess && granted1 && granted2 { return }
        let eacces = parent1.contains { $0 & request1 & ~Landlock.refer != 0 } || parent2.contains { $0 & request2 & ~Landlock.refer != 0 }
        throw eacces ? .EACCES : .EXDEV
    }

    // MARK: TCP ports

    /// EACCES unless every layer handling `access` has a rule granting it on `port`.
    func checkPort(_ port: UInt16, _ access: UInt64) throws(LinuxErrno) {
        for layer in layers where layer.handledNet & access != 0 {
            guard let a = layer.netRules[port], a & access == access else { throw .EACCES }
        }
    }

    // MARK: scopes

    /// Whether `other`'s domain is this one or one nested in it (domain_scope_le).
    func isAncestorOrSelf(of other: LandlockDomain?) -> Bool {
        var cur = other
        while let c = cur {
            if c === self { return true }
            cur = c.parent
        }
        return false
    }

    /// Whether a task in this domain is kept by `scope` from reaching something of a task in
    /// `server`'s (domain_is_scoped): a layer with the scope that `server` is not inside.
    func isScoped(from server: LandlockDomain?, _ scope: UInt64) -> Bool {
        layers.contains { $0.scoped & scope != 0 && !$0.isAncestorOrSelf(of: server) }
    }

    /// Whether the signal scope lets this domain signal `target` (`thread`: the one a tgkill
    /// aims at, else its leader). Callers let a process signal itself first.
    func allowsSignal(to target: ThreadGroup, thread: GuestThread? = nil) -> Bool {
        !isScoped(from: (thread ?? target.leader)?.landlockDomain, Landlock.scopeSignal)
    }
}

/// Who set a description's signal owner while in a domain (landlock_file's fown_subject);
/// the process held weakly, so that a later one cannot pass for it.
struct LandlockOwnerSetter {
    let domain: LandlockDomain
    weak var group: ThreadGroup?
}

extension GuestThread {
    /// open(2)'s check (hook_file_open): EACCES unless the rights the open mode asks for are
    /// granted; returns which of those later calls on the description need (truncate, a
    /// device's ioctls) are not, for its landlockDenied.
    func landlockOpen(_ inode: Inode, at location: Location, flags: Int32, exec: Bool = false) throws(LinuxErrno) -> UInt64 {
        guard let domain = landlockDomain else { return 0 }
        var request: UInt64 = 0
        let kind = inode.kind
        let mode = flags & O_ACCMODE // 3: neither read nor write (ioctl only)
        if mode == O_RDONLY || mode == O_RDWR { request |= kind == .directory ? Landlock.readDir : Landlock.readFile }
        if mode == O_WRONLY || mode == O_RDWR { request |= Landlock.writeFile }
        if exec { request |= Landlock.execute }
        var optional = Landlock.truncate
        if kind == .characterDevice || kind == .blockDevice { optional |= Landlock.ioctlDev }
        let denied = domain.denials(request | optional, at: location).reduce(0, |)
        if denied & request != 0 { throw .EACCES }
        return denied & optional
    }

    /// A name made in `dir` (hook_path_mknod, mkdir, symlink).
    func landlockMake(_ kind: FileKind, in dir: Location) throws(LinuxErrno) {
        try landlockDomain?.check(Landlock.make(kind), at: dir)
    }

    /// A name removed from `dir` (hook_path_unlink, rmdir).
    func landlockRemove(_ kind: FileKind, from dir: Location) throws(LinuxErrno) {
        try landlockDomain?.check(Landlock.remove(kind), at: dir)
    }

    /// A landlocked task mounts, unmounts, moves no mount and changes no root (hook_sb_mount,
    /// move_mount, sb_umount, sb_remount, sb_pivotroot): a new mount would hide the rules.
    func landlockMount() throws(LinuxErrno) {
        if landlockDomain != nil { throw .EPERM }
    }

    /// ptrace and what ptrace_may_access guards (hook_ptrace_access_check): only tasks in this
    /// domain or one nested in it.
    func landlockMayTrace(_ target: ThreadGroup) -> Bool {
        guard let domain = landlockDomain else { return true }
        return domain.isAncestorOrSelf(of: target.leader?.landlockDomain)
    }

    /// A signal to `target` (hook_task_kill); always to one's own process.
    func landlockMaySignal(_ target: ThreadGroup, thread: GuestThread? = nil) -> Bool {
        guard let domain = landlockDomain, target !== group else { return true }
        return domain.allowsSignal(to: target, thread: thread)
    }

    /// bind(2) and connect(2) of a TCP socket (current_check_access_socket): the port must be
    /// granted; AF_UNSPEC disconnects freely, and binds only INADDR_ANY of an IPv4 socket.
    func landlockSocket(_ s: Socket, _ address: [UInt8], _ access: UInt64) throws(LinuxErrno) {
        guard let domain = landlockDomain, s.family == AF_INET || s.family == AF_INET6, s.type == .stream,
              s.proto == 0 || s.proto == 6 else { return }
        guard address.count >= 2 else { throw .EINVAL }
        let family = Int32(UInt16(address[0]) | UInt16(address[1]) << 8)
        switch family {
        case AF_UNSPEC, AF_INET: guard address.count >= 16 else { throw .EINVAL }
        case AF_INET6: guard address.count >= 24 else { throw .EINVAL } // SIN6_LEN_RFC2133
        default: return
        }
        if family == AF_UNSPEC {
            if access == Landlock.connectTCP { return }
            guard s.family == AF_INET else { throw .EINVAL }
            guard address[4..<8].allSatisfy({ $0 == 0 }) else { throw .EAFNOSUPPORT }
        } else if family != s.family {
            throw .EINVAL
        }
        try domain.checkPort(UInt16(address[2]) << 8 | UInt16(address[3]), access)
    }
}
