// A process's capability sets and how uid changes and execve transform them
// (capabilities(7)). Permission checks in the VFS still test euid 0; the sets decide the
// id-changing calls (setuid family, setgroups), capset, the bounding set and ambient caps.
import JoeyABI

struct Capabilities {
    var effective: UInt64
    var permitted: UInt64
    var inheritable: UInt64
    var bounding: UInt64
    var ambient: UInt64

    /// CAP_LAST_CAP of the Linux version Joey reports (6.1: CAP_CHECKPOINT_RESTORE).
    static let lastCap = 40
    static let all: UInt64 = (1 << 41) - 1
    static let setgid = 6, setuid = 7, setpcap = 8
    /// The file-system capabilities that follow fsuid 0 (cap_fs_mask).
    static let fileSystem: UInt64 = 1 << 0 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 9 | 1 << 27 | 1 << 32

    /// A process's sets at sandbox start: what the OCI config gave, else everything for
    /// uid 0 and nothing for other users.
    /// An OCI config that lists capabilities gives the bounding set too: what it does not list
    /// is dropped (as runc does), so a later execve as root gains nothing beyond it.
    static func initial(uid: UInt32, given: (UInt64, UInt64, UInt64)?, bounding: UInt64? = nil, ambient: UInt64? = nil) -> Capabilities {
        if let (e, p, i) = given {
            return Capabilities(effective: e, permitted: p, inheritable: i, bounding: bounding ?? 0, ambient: (ambient ?? 0) & p & i)
        }
        let s: UInt64 = uid == 0 ? all : 0
        return Capabilities(effective: s, permitted: s, inheritable: 0, bounding: bounding ?? all, ambient: 0)
    }
}

extension ThreadGroup {
    func capable(_ cap: Int) -> Bool { capabilities.effective & (1 << UInt64(cap)) != 0 }

    /// After the uids changed (capabilities(7), "Effect of user ID changes on capabilities"):
    /// root is uid 0 of the process's user namespace (none when 0 is not mapped there).
    func adjustCapabilities(oldUID: UInt32, oldEUID: UInt32, oldSUID: UInt32, oldFSUID: UInt32) {
        if securebits & 0x4 != 0 { return } // SECURE_NO_SETUID_FIXUP
        var c = capabilities
        let root = rootUID
        let hadRoot = oldUID == root || oldEUID == root || oldSUID == root
        if hadRoot && uid != root && euid != root && suid != root && !keepCapabilities {
            c.permitted = 0
            c.effective = 0
            c.ambient = 0
        }
        if oldEUID == root && euid != root { c.effective = 0 }
        if oldEUID != root && euid == root { c.effective = c.permitted }
        if oldFSUID == root && fsuid != root { c.effective &= ~Capabilities.fileSystem }
        if oldFSUID != root && fsuid == root { c.effective |= c.permitted & Capabilities.fileSystem }
        capabilities = c
    }

    /// execve of a program without file capabilities: root (of the process's user
    /// namespace) gains its bounding set, other users keep only their ambient set
    /// (cap_bprm_creds_from_file).
    func execCapabilities() {
        var c = capabilities
        let root = rootUID
        if securebits & 0x1 == 0 && (euid == root || uid == root) { // unless SECURE_NOROOT
            c.permitted = c.inheritable | c.bounding
            // no_new_privs: an execve never adds to what the process had.
            if noNewPrivs { c.permitted &= capabilities.permitted }
            c.effective = euid == root ? c.permitted : 0
            c.ambient = 0
        } else {
            c.permitted = c.ambient
            c.effective = c.ambient
        }
        capabilities = c
        keepCapabilities = false
    }
}

extension GuestThread {
    /// capget/capset's header: the number of 32-bit words per set, and the target pid.
    private func capabilityHeader() throws(LinuxErrno) -> (words: Int, pid: Int32) {
        let version: UInt32 = try mm.readValue(a0)
        let pid: Int32 = try mm.readValue(a0 &+ 4)
        switch version {
        case 0x1998_0330: return (1, pid)              // _LINUX_CAPABILITY_VERSION_1
        case 0x2007_1026, 0x2008_0522: return (2, pid) // versions 2 and 3
        default:
            try mm.writeValue(a0, UInt32(0x2008_0522))
            throw .EINVAL
        }
    }

    func sysCapget() throws(LinuxErrno) -> UInt64 {
        let header: (words: Int, pid: Int32)
        do { header = try capabilityHeader() } catch {
            // A probe with no data pointer learns the preferred version and succeeds.
            if error == .EINVAL && a1 == 0 { return 0 }
            throw error
        }
        guard header.pid >= 0 else { throw .EINVAL }
        guard let target = header.pid == 0 ? group : process(header.pid) else { throw .ESRCH }
        guard a1 != 0 else { return 0 }
        let c = target.capabilities
        var b = [UInt8]()
        for w in 0..<header.words {
            for set in [c.effective, c.permitted, c.inheritable] {
                withUnsafeBytes(of: UInt32(truncatingIfNeeded: set >> (32 * UInt64(w)))) { b += $0 }
            }
        }
        try mm.write(a1, b)
        return 0
    }

    func sysCapset() throws(LinuxErrno) -> UInt64 {
        let header = try capabilityHeader()
        guard header.pid == 0 || header.pid == vnr(tid) || header.pid == vnr(group.pid) else { throw .EPERM }
        let raw = try mm.read(a1, count: 12 * header.words)
        var e: UInt64 = 0, p: UInt64 = 0, i: UInt64 = 0
        raw.withUnsafeBytes { b in
            for w in 0..<header.words {
                let shift = UInt64(32 * w)
                e |= UInt64(b.loadUnaligned(fromByteOffset: w * 12, as: UInt32.self)) << shift
                p |= UInt64(b.loadUnaligned(fromByteOffset: w * 12 + 4, as: UInt32.self)) << shift
                i |= UInt64(b.loadUnaligned(fromByteOffset: w * 12 + 8, as: UInt32.self)) << shift
            }
        }
        var c = group.capabilities
        let inheritableLimit = group.capable(Capabilities.setpcap) ? c.inheritable | c.bounding : c.inheritable | c.permitted
        guard i & ~inheritableLimit == 0, p & ~c.permitted == 0, e & ~p == 0 else { throw .EPERM }
        c.effective = e & Capabilities.all
        c.permitted = p & Capabilities.all
        c.inheritable = i & Capabilities.all
        c.ambient &= c.permitted & c.inheritable
        group.capabilities = c
        return 0
    }

    /// The capability prctls: bounding set, keep-caps, ambient set, securebits.
    func capabilityPrctl(_ option: UInt64) throws(LinuxErrno) -> UInt64 {
        func cap(_ v: UInt64) throws(LinuxErrno) -> UInt64 {
            guard v <= UInt64(Capabilities.lastCap) else { throw .EINVAL }
            return 1 << v
        }
        switch option {
        case 7: return group.keepCapabilities ? 1 : 0 // PR_GET_KEEPCAPS
        case 8: // PR_SET_KEEPCAPS
            guard a1 <= 1 else { throw .EINVAL }
            guard group.securebits & 0x20 == 0 else { throw .EPERM } // SECURE_KEEP_CAPS_LOCKED
            group.keepCapabilities = a1 == 1
            return 0
        case 23: return group.capabilities.bounding & (try cap(a1)) != 0 ? 1 : 0 // PR_CAPBSET_READ
        case 24: // PR_CAPBSET_DROP
            let bit = try cap(a1)
            guard group.capable(Capabilities.setpcap) else { throw .EPERM }
            group.capabilities.bounding &= ~bit
            return 0
        case 27: return UInt64(group.securebits) // PR_GET_SECUREBITS
        case 28: // PR_SET_SECUREBITS: no locked bit changed, no lock undone, only known bits
            let old = UInt64(group.securebits), allBits: UInt64 = 0x55, allLocks: UInt64 = 0xaa
            if ((old & allLocks) >> 1) & (old ^ a1) != 0 || old & allLocks & ~a1 != 0
                || a1 & ~(allBits | allLocks) != 0 || !group.capable(Capabilities.setpcap) { throw .EPERM }
            group.securebits = UInt32(a1)
            return 0
        case 47: // PR_CAP_AMBIENT
            guard a3 == 0, a4 == 0 else { throw .EINVAL }
            switch a1 {
            case 1: return group.capabilities.ambient & (try cap(a2)) != 0 ? 1 : 0 // IS_SET
            case 2: // RAISE: only what is permitted and inheritable
                let bit = try cap(a2)
                let c = group.capabilities
                guard c.permitted & bit != 0, c.inheritable & bit != 0,
                      group.securebits & 0x40 == 0 /* SECURE_NO_CAP_AMBIENT_RAISE */ else { throw .EPERM }
                group.capabilities.ambient |= bit
                return 0
            case 3: group.capabilities.ambient &= ~(try cap(a2)); return 0 // LOWER
            case 4: // CLEAR_ALL
                guard a2 == 0 else { throw .EINVAL }
                group.capabilities.ambient = 0
                return 0
            default: throw .EINVAL
            }
        default:
            throw .EINVAL
        }
    }
}
