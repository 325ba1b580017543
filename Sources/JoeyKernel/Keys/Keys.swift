// Keys/ owns the key retention service (keyrings(7), Linux's security/keys): keys and
// keyrings with their random serial numbers, each owner's quota, possession and the
// permission mask, searches, and the collector that lets go of what nothing holds.
// Processes hold keyrings (ThreadGroup's session and process keyrings, GuestThread's thread
// keyring); each user namespace holds its users' keyrings (a ".user_reg" keyring) and their
// persistent keyrings. There is no upcall: a request_key that would construct a key leaves
// a negative one, as when /sbin/request-key has no handler. Everything here runs under the
// kernel lock and takes no lock of its own. The system calls are in Syscalls/KeySyscalls.swift.
import CJoey
import Glibc
import JoeyABI

/// The key types this kernel has: Linux's "keyring", "user" and "logon". The rest (big_key,
/// asymmetric, encrypted, trusted, dns_resolver...) are not configured: add_key says ENODEV.
enum KeyType: String {
    case keyring, user, logon
    /// Readable with KEYCTL_READ (a logon key's payload never leaves the kernel).
    var readable: Bool { self != .logon }
    /// Has an update operation: add_key of an existing description and KEYCTL_UPDATE change
    /// the key in place (a keyring is replaced instead).
    var updatable: Bool { self != .keyring }
}

/// What a caller needs of a key (Linux's enum key_need_perm): a permission bit, or none.
enum KeyNeed {
    case view, read, write, search, link, setattr
    /// KEYCTL_UNLINK's key: found, nothing checked.
    case unlink
    /// Checked by the caller afterwards (KEYCTL_READ).
    case deferred

    var mask: UInt32 {
        switch self {
        case .view: 0x01
        case .read: 0x02
        case .write: 0x04
        case .search: 0x08
        case .link: 0x10
        case .setattr: 0x20
        case .unlink, .deferred: 0
        }
    }
}

final class Key {
    let serial: Int32
    /// Made before keys of a greater number (a name names the oldest keyring of that name).
    let creation: UInt64
    let type: KeyType
    let description: [UInt8]
    /// Kernel ids; the group is Key.noGroup for the keyrings of a user.
    var uid: UInt32, gid: UInt32
    /// Possessor, user, group and other rights, a byte each from the top (KEY_POS_* ...).
    var perm: UInt32
    /// A user or logon key's data.
    var payload: [UInt8] = []
    /// A keyring's links, one per type and description (Linux's index key), found by it
    /// as Linux's associative array finds them; keyrings apart, as searches descend into them.
    private(set) var leaves: [KeyIndex: Key] = [:]
    private(set) var nested: [[UInt8]: Key] = [:]
    /// Bytes of data as Linux's quota counts them: the payload, or 4 per link of a keyring.
    var dataLength = 0
    /// A negatively instantiated key's error (request_key found nothing to construct it).
    var negative: LinuxErrno?
    /// When it was revoked and when it expires, in CLOCK_REALTIME seconds (nil: not, never):
    /// the collector drops links to it gc_delay after either.
    var revokedAt: Int64?
    var expiry: Int64?
    var revoked: Bool { revokedAt != nil }
    var invalidated = false
    /// Counted in its owner's quota (KEY_FLAG_IN_QUOTA).
    let inQuota: Bool
    /// A user or user-session keyring (KEY_FLAG_UID_KEYRING).
    var userKeyring = false
    /// KEYCTL_RESTRICT_KEYRING without a type: no more links.
    var linksRejected = false
    /// Keyring names are looked up within the user namespace that made the keyring.
    weak var userNamespace: UserNamespace?
    /// The collector's mark, and the references it counted (/proc/keys' usage).
    var marked = false
    var usage = 0

    static let noGroup = UInt32.max
    static let possessorAll: UInt32 = 0x3f00_0000, userAll: UInt32 = 0x003f_0000
    static let groupAll: UInt32 = 0x0000_3f00, otherAll: UInt32 = 0x0000_003f

    init(serial: Int32, creation: UInt64, type: KeyType, description: [UInt8], uid: UInt32, gid: UInt32, perm: UInt32,
         inQuota: Bool, userNamespace: UserNamespace?) {
        self.serial = serial; self.creation = creation; self.type = type; self.description = description
        self.uid = uid; self.gid = gid; self.perm = perm; self.inQuota = inQuota
        self.userNamespace = userNamespace
    }

    /// The bytes its owner's quota holds for it (Linux's quotalen).
    var quotaBytes: Int { description.count + 1 + dataLength }

    func expired(at now: Int64) -> Bool { expiry.map { now >= $0 } ?? false }

    /// key_is_dead: links to it go (invalidated at once; expired or revoked, `delay` after).
    func dead(at now: Int64, delay: Int64) -> Bool {
        invalidated || (expiry.map { $0 + delay <= now } ?? false) || (revokedAt.map { $0 + delay <= now } ?? false)
    }

    /// key_validate: invalidated, revoked or expired keys refuse most operations.
    func validate(at now: Int64) throws(LinuxErrno) {
        if invalidated { throw .ENOKEY }
        if revoked { throw .EKEYREVOKED }
        if expired(at: now) { throw .EKEYEXPIRED }
    }

    var index: KeyIndex { KeyIndex(type: type, description: description) }

    // A keyring's links.
    var linkCount: Int { leaves.count + nested.count }
    var links: [Key] { Array(leaves.values) + Array(nested.values) }
    var nestedKeyrings: Dictionary<[UInt8], Key>.Values { nested.values }

    /// The key linked under `index`.
    func linked(_ index: KeyIndex) -> Key? {
        index.type == .keyring ? nested[index.description] : leaves[index]
    }

    func links(_ key: Key) -> Bool { linked(key.index) === key }

    /// Links `key`; the key it displaces (of the same type and description), if any.
    func setLink(_ key: Key) -> Key? {
        key.type == .keyring ? nested.updateValue(key, forKey: key.description) : leaves.updateValue(key, forKey: key.index)
    }

    func removeLink(_ key: Key) {
        if key.type == .keyring { nested[key.description] = nil } else { leaves[key.index] = nil }
    }

    func removeAllLinks() {
        leaves.removeAll()
        nested.removeAll()
    }

    /// Drops the links to keys `dead` says; how many went.
    func removeLinks(where dead: (Key) -> Bool) -> Int {
        let before = linkCount
        leaves = leaves.filter { !dead($0.value) }
        nested = nested.filter { !dead($0.value) }
        return before - linkCount
    }
}

/// A key's type and description: what a keyring holds one key of.
struct KeyIndex: Hashable {
    let type: KeyType
    let description: [UInt8]
}

/// A user's key accounting (Linux's struct key_user), by kernel uid.
final class KeyUser {
    let uid: UInt32
    var keys = 0, instantiated = 0
    var quotaKeys = 0, quotaBytes = 0
    init(uid: UInt32) { self.uid = uid }
}

/// The keyrings a user namespace holds for its users: ".user_reg" (each user's "_uid.N" and
/// "_uid_ses.N") and ".persistent_register" (their "_persistent.N").
final class NamespaceKeyrings {
    weak var namespace: UserNamespace?
    var userRegister: Key?
    var persistentRegister: Key?
    init(_ ns: UserNamespace) { namespace = ns }
}

/// The sandbox's keys: every key by serial, its users' quotas, the /proc/sys/kernel/keys
/// tunables, and the collector.
final class KeyService {
    var keys: [Int32: Key] = [:]
    var users: [UInt32: KeyUser] = [:]
    var namespaces: [ObjectIdentifier: NamespaceKeyrings] = [:]
    /// kernel.keys.*: Linux's defaults.
    var maxKeys = 200, maxBytes = 20000, rootMaxKeys = 1_000_000, rootMaxBytes = 25_000_000
    var gcDelay = 300, persistentExpiry = 3 * 24 * 3600
    /// The sentry's own bound on what all keys together may hold (they live in its memory,
    /// outside the sandbox's memory limit): EDQUOT past it, whatever the quotas allow.
    static let sentryBound = 32 << 20
    static let sentryBytesPerKey = 256
    private var sentryBytes = 0
    /// Set when a reference to a key may have gone (a link removed or displaced, a keyring of
    /// a process or thread replaced): the next key operation collects.
    var dirty = false
    /// The earliest expiry or revocation not yet gc_delay old, and the process table when
    /// the last collection ran: either changing is a reason to collect again too.
    private var nextEvent = Int64.max
    private var lastTable: (created: UInt64, threads: Int, groups: Int) = (0, 0, 0)
    private var creations: UInt64 = 0

    static func now() -> Int64 { Int64(WallClock.realtimeNanos() / 1_000_000_000) }

    func user(_ uid: UInt32) -> KeyUser {
        if let u = users[uid] { return u }
        let u = KeyUser(uid: uid)
        users[uid] = u
        return u
    }

    func limits(for uid: UInt32) -> (keys: Int, bytes: Int) {
        uid == 0 ? (rootMaxKeys, rootMaxBytes) : (maxKeys, maxBytes)
    }

    /// key_alloc: a new instantiated key owned by `uid`, charged to its quota unless
    /// `inQuota` is false; `overrun` lets it past the quota (the process keyrings).
    func allocate(_ type: KeyType, _ description: [UInt8], uid: UInt32, gid: UInt32, perm: UInt32,
                  inQuota: Bool = true, overrun: Bool = false, namespace: UserNamespace?) throws(LinuxErrno) -> Key {
        let quota = description.count + 1
        guard sentryBytes + quota + Self.sentryBytesPerKey <= Self.sentryBound else { throw .EDQUOT }
        let owner = user(uid)
        if inQuota {
            let limit = limits(for: uid)
            if !overrun && (owner.quotaKeys + 1 > limit.keys || owner.quotaBytes + quota > limit.bytes) {
                if owner.keys == 0 { users[uid] = nil }
                throw .EDQUOT
            }
            owner.quotaKeys += 1
            owner.quotaBytes += quota
        }
        owner.keys += 1
        owner.instantiated += 1
        sentryBytes += quota + Self.sentryBytesPerKey
        var serial: Int32 = 0
        while serial < 3 || keys[serial] != nil {
            var r: UInt32 = 0
            _ = withUnsafeMutableBytes(of: &r) { joey_getrandom($0.baseAddress, 4) }
            serial = Int32(bitPattern: r & 0x7fff_ffff)
        }
        creations += 1
        let key = Key(serial: serial, creation: creations, type: type, description: description, uid: uid, gid: gid, perm: perm,
                      inQuota: inQuota, userNamespace: namespace)
        keys[serial] = key
        return key
    }

    /// key_payload_reserve: the key's data becomes `length` bytes, within its owner's quota.
    func reserve(_ key: Key, _ length: Int) throws(LinuxErrno) {
        let delta = length - key.dataLength
        guard delta != 0 else { return }
        if delta > 0 {
            guard sentryBytes + delta <= Self.sentryBound else { throw .EDQUOT }
            if key.inQuota {
                let owner = user(key.uid)
                guard owner.quotaBytes + delta <= limits(for: key.uid).bytes else { throw .EDQUOT }
            }
        }
        if key.inQuota { user(key.uid).quotaBytes += delta }
        sentryBytes += delta
        key.dataLength = length
    }

    /// Moves a key's quota from its owner to `uid` (KEYCTL_CHOWN).
    func transfer(_ key: Key, to uid: UInt32) throws(LinuxErrno) {
        let from = user(key.uid), to = user(uid)
        if key.inQuota {
            let limit = limits(for: uid)
            guard to.quotaKeys + 1 <= limit.keys, to.quotaBytes + key.quotaBytes <= limit.bytes else {
                if to.keys == 0 { users[uid] = nil }
                throw .EDQUOT
            }
            to.quotaKeys += 1; to.quotaBytes += key.quotaBytes
            from.quotaKeys -= 1; from.quotaBytes -= key.quotaBytes
        }
        to.keys += 1; to.instantiated += 1
        from.keys -= 1; from.instantiated -= 1
        if from.keys == 0 && from.uid != 0 { users[from.uid] = nil }
        key.uid = uid
    }

    // MARK: Links

    /// key_link: `key` joins `keyring`, displacing a key of the same type and description.
    func link(_ key: Key, into keyring: Key) throws(LinuxErrno) {
        guard keyring.type == .keyring else { throw .ENOTDIR }
        if keyring.linksRejected { throw .EPERM }
        if key.type == .keyring { try checkCycle(linking: key, into: keyring) }
        if let old = keyring.linked(key.index) {
            if old !== key { dirty = true }
            _ = keyring.setLink(key) // in place: no more quota
            return
        }
        try reserve(keyring, keyring.dataLength + 4)
        _ = keyring.setLink(key)
    }

    /// key_unlink: ENOENT unless `keyring` links `key`.
    func unlink(_ key: Key, from keyring: Key) throws(LinuxErrno) {
        guard keyring.type == .keyring else { throw .ENOTDIR }
        guard keyring.links(key) else { throw .ENOENT }
        keyring.removeLink(key)
        dirty = true
        try? reserve(keyring, keyring.dataLength - 4)
    }

    /// Every link of a keyring goes (KEYCTL_CLEAR, revocation).
    func clear(_ keyring: Key) {
        keyring.removeAllLinks()
        dirty = true
        try? reserve(keyring, 0)
    }

    /// keyring_detect_cycle: linking keyring `key` into `keyring` must not make `keyring`
    /// reachable from itself (EDEADLK), nor nest keyrings deeper than searches go (ELOOP).
    private func checkCycle(linking key: Key, into keyring: Key) throws(LinuxErrno) {
        // Each keyring again only when reached deeper than before: a shared keyring is not
        // walked once per path to it (six visits at most).
        var deepest: [ObjectIdentifier: Int] = [:]
        if key === keyring { throw .EDEADLK }
        func walk(_ ring: Key, depth: Int) throws(LinuxErrno) {
            if let seen = deepest[ObjectIdentifier(ring)], seen >= depth { return }
            deepest[ObjectIdentifier(ring)] = depth
            // This keyring's own links first, then those below (Linux's order).
            if ring.links(keyring) { throw .EDEADLK }
            for sub in ring.nestedKeyrings {
                if depth >= Self.maxDepth { throw .ELOOP }
                try walk(sub, depth: depth + 1)
            }
        }
        try walk(key, depth: 0)
    }

    /// KEYRING_SEARCH_MAX_DEPTH: how deep searches descend (keyrings at this depth below
    /// the first are searched, not those below them).
    static let maxDepth = 6

    // MARK: Searching

    /// Linux's keyring_search_rcu from `ring`: a key of `type` and `description` (or, with
    /// `identity`, that very key), checking each nested keyring and the key found for search
    /// permission, and with `stateCheck` skipping revoked, expired and negative keys (the
    /// last such reason is the error when nothing is found; EAGAIN when there was none).
    func search(_ ring: Key, possessed: Bool, type: KeyType, description: [UInt8], identity: Key? = nil,
                stateCheck: Bool, checkPermissions: Bool = true, recurse: Bool = true,
                by group: ThreadGroup, now: Int64) -> Result<Key, LinuxErrno> {
        guard ring.type == .keyring else { return .failure(.ENOTDIR) }
        if checkPermissions && !permitted(ring, .search, possessed: possessed, by: group) { return .failure(.EACCES) }
        var result = LinuxErrno.EAGAIN
        // A candidate with the wanted index: 1 found, 0 skipped (result noted).
        func consider(_ key: Key) -> Bool {
            guard key.type == type, key.description == description else { return false }
            if stateCheck {
                if key.invalidated || key.revoked { result = .EKEYREVOKED; return false }
                if key.expired(at: now) { result = .EKEYEXPIRED; return false }
            }
            if let identity, key !== identity { return false }
            if checkPermissions && !permitted(key, .search, possessed: possessed, by: group) { result = .EACCES; return false }
            if stateCheck, let error = key.negative { result = error; return false }
            return true
        }
        // Each keyring again only when reached at a shallower depth (more left to descend).
        var shallowest: [ObjectIdentifier: Int] = [:]
        func walk(_ keyring: Key, depth: Int) -> Key? {
            if let seen = shallowest[ObjectIdentifier(keyring)], seen <= depth { return nil }
            shallowest[ObjectIdentifier(keyring)] = depth
            if let key = keyring.linked(KeyIndex(type: type, description: description)), consider(key) { return key }
            guard recurse, depth < Self.maxDepth else { return nil }
            for sub in keyring.nestedKeyrings {
                if checkPermissions && !permitted(sub, .search, possessed: possessed, by: group) { continue }
                if let found = walk(sub, depth: depth + 1) { return found }
            }
            return nil
        }
        // The top keyring itself may be what is sought.
        if consider(ring) { return .success(ring) }
        if let found = walk(ring, depth: 0) { return .success(found) }
        return .failure(result)
    }

    /// key_task_permission: the rights of the owner (fsuid), else of the group (fsgid or a
    /// supplementary group), else of others, plus the possessor's when possessed.
    func permitted(_ key: Key, _ need: KeyNeed, possessed: Bool, by group: ThreadGroup) -> Bool {
        let mask = need.mask
        guard mask != 0 else { return true }
        var rights: UInt32
        if key.uid == group.fsuid {
            rights = key.perm >> 16
        } else if key.gid != Key.noGroup && key.perm & Key.groupAll != 0
                    && (key.gid == group.fsgid || group.groups.contains(key.gid)) {
            rights = key.perm >> 8
        } else {
            rights = key.perm
        }
        if possessed { rights |= key.perm >> 24 }
        return rights & mask == mask
    }

    // MARK: Collecting

    /// A key expires or was revoked at `time`: its links go gc_delay later.
    func schedule(_ time: Int64) {
        nextEvent = min(nextEvent, time)
    }

    /// Collects if anything may have let go of a key since the last time: a key operation
    /// that removed a reference, a process or thread that ended (or was made), or a dead
    /// key's gc_delay passing. Otherwise key operations cost no walk over every key.
    func collectIfNeeded(_ kernel: Kernel) {
        guard !keys.isEmpty else { return }
        let table = (kernel.tasksCreated, kernel.threads.count, kernel.threadGroups.count)
        let eventDue = nextEvent != Int64.max && nextEvent + Int64(gcDelay) <= Self.now()
        if !dirty && table == lastTable && !eventDue { return }
        collect(kernel)
    }

    /// Lets go of keys nothing holds (Linux's key_garbage_collector, run before each key
    /// operation instead of in the background): marks from every process's and thread's
    /// keyrings and each live user namespace's registers, drops links to invalidated keys
    /// and to keys expired (or revoked) gc_delay ago, then frees the unmarked and returns
    /// their quota. Counts each key's references on the way (/proc/keys' usage).
    func collect(_ kernel: Kernel) {
        dirty = false
        lastTable = (kernel.tasksCreated, kernel.threads.count, kernel.threadGroups.count)
        nextEvent = Int64.max
        guard !keys.isEmpty else { return }
        let now = Self.now(), delay = Int64(gcDelay)
        for key in keys.values {
            key.marked = false
            key.usage = 0
            // What is still to die later (expired or revoked, not yet gc_delay ago).
            for t in [key.expiry, key.revokedAt].compactMap({ $0 }) where t + delay > now { schedule(t) }
        }
        var stack: [Key] = []
        func hold(_ key: Key?) {
            guard let key else { return }
            key.usage += 1
            if !key.marked { key.marked = true; stack.append(key) }
        }
        for g in kernel.threadGroups.values {
            hold(g.sessionKeyring); hold(g.pendingSessionKeyring); hold(g.processKeyring)
        }
        for t in kernel.threads.values { hold(t.threadKeyring) }
        for (id, rings) in namespaces {
            if rings.namespace == nil { namespaces[id] = nil; continue }
            hold(rings.userRegister); hold(rings.persistentRegister)
        }
        while let ring = stack.popLast() {
            guard ring.type == .keyring else { continue }
            if ring.removeLinks(where: { $0.dead(at: now, delay: delay) }) > 0 { try? reserve(ring, ring.linkCount * 4) }
            for key in ring.links { hold(key) }
        }
        for key in keys.values where !key.marked { destroy(key) }
    }

    private func destroy(_ key: Key) {
        keys[key.serial] = nil
        let owner = user(key.uid)
        if key.inQuota {
            owner.quotaKeys -= 1
            owner.quotaBytes -= key.quotaBytes
        }
        owner.keys -= 1
        owner.instantiated -= 1
        if owner.keys == 0 && owner.uid != 0 { users[owner.uid] = nil }
        sentryBytes -= key.quotaBytes + Self.sentryBytesPerKey
        key.removeAllLinks()
    }

    // MARK: /proc

    /// One line of /proc/keys (proc_keys_show), as `ns` numbers the owner.
    func procLine(_ key: Key, ns: UserNamespace, now: Int64) -> String {
        func hex8(_ v: UInt32) -> String { let s = String(v, radix: 16); return String(repeating: "0", count: max(0, 8 - s.count)) + s }
        func right(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
        let timeout: String
        if let expiry = key.expiry {
            let left = expiry - now
            timeout = left <= 0 ? "expd" : left < 60 ? "\(left)s" : left < 3600 ? "\(left / 60)m"
                : left < 86400 ? "\(left / 3600)h" : left < 7 * 86400 ? "\(left / 86400)d" : "\(left / (7 * 86400))w"
        } else {
            timeout = "perm"
        }
        let flags = "I" + (key.revoked ? "R" : "-") + "-" + (key.inQuota ? "Q" : "-") + "-"
            + (key.negative != nil ? "N" : "-") + (key.invalidated ? "i" : "-")
        let type = key.type.rawValue + String(repeating: " ", count: max(0, 9 - key.type.rawValue.count)) // %-9.9s
        let gid = key.gid == Key.noGroup ? UserNamespace.overflowID : ns.shownGID(key.gid)
        var line = "\(hex8(UInt32(bitPattern: key.serial))) \(flags) \(right(String(key.usage), 5)) \(right(timeout, 4)) "
            + "\(hex8(key.perm)) \(right(String(ns.shownUID(key.uid)), 5)) \(right(String(gid), 5)) \(type) "
        line += String(decoding: key.description, as: UTF8.self)
        if key.negative == nil {
            switch key.type {
            case .keyring: line += key.linkCount == 0 ? ": empty" : ": \(key.linkCount)"
            case .user, .logon: line += ": \(key.dataLength)"
            }
        }
        return line + "\n"
    }
}
