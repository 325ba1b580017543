// The key retention service's system calls: add_key, request_key and keyctl (keyctl(2)),
// over Keys/Keys.swift. Checked in Linux's order (security/keys/keyctl.c), so that each bad
// argument gets the errno Linux gives it.
import Glibc
import JoeyABI

extension ThreadGroup {
    /// A session keyring a child gave with KEYCTL_SESSION_TO_PARENT becomes this process's
    /// (Linux applies it when the process next returns to user space; a process sees its
    /// session keyring only through key operations and its children, so taking it on before
    /// those is the same).
    func adoptPendingSessionKeyring() {
        guard let pending = pendingSessionKeyring else { return }
        sessionKeyring = pending
        pendingSessionKeyring = nil
    }

    /// join_session_keyring(name): the oldest keyring of that name made in this process's user
    /// namespace, not revoked or invalidated, that grants it search (possession aside), or a
    /// new one (the owner may view, read and link it); nil when it is the session keyring
    /// already.
    func joinSessionKeyring(named name: [UInt8]) throws(LinuxErrno) -> Key? {
        let keys = kernel.keys
        let found = keys.keys.values.filter {
            $0.type == .keyring && $0.description == name && $0.userNamespace === userNS && !$0.revoked && !$0.invalidated
                && keys.permitted($0, .search, possessed: false, by: self)
        }.min { $0.creation < $1.creation }
        if let found {
            if found === sessionKeyring { return nil }
            sessionKeyring = found
            return found
        }
        let keyring = try keys.allocate(.keyring, name, uid: uid, gid: gid, perm: 0x3f13_0000, namespace: userNS)
        sessionKeyring = keyring
        return keyring
    }
}

extension GuestThread {
    private var keys: KeyService { kernel.keys }

    // MARK: Arguments

    /// A key type's name (strncpy_from_user into 32 bytes): EINVAL if empty or longer, EPERM
    /// for the internal types whose names begin with a dot.
    private func keyTypeName(_ address: UInt64) throws(LinuxErrno) -> [UInt8] {
        let name: [UInt8]
        do { name = try mm.readCString(address, max: 32) } catch { throw error == .ENAMETOOLONG ? .EINVAL : error }
        guard let first = name.first else { throw .EINVAL }
        if first == UInt8(ascii: ".") { throw .EPERM }
        return name
    }

    /// strndup_user: a string shorter than `max` bytes (EINVAL otherwise).
    private func keyString(_ address: UInt64, max: Int = 4096) throws(LinuxErrno) -> [UInt8] {
        do { return try mm.readCString(address, max: max) } catch { throw error == .ENAMETOOLONG ? .EINVAL : error }
    }

    private static func keyType(_ name: [UInt8]) -> KeyType? { KeyType(rawValue: String(decoding: name, as: UTF8.self)) }

    /// The rights a key gets when its maker names none: the possessor's all but read (when the
    /// type cannot be read), the owner's view.
    private static func defaultPermissions(_ type: KeyType) -> UInt32 {
        0x3d01_0000 | (type.readable ? 0x0200_0000 : 0)
    }

    /// Collects what nothing holds and takes on a session keyring a child gave: before each
    /// key operation, as Linux's collector and task work would have run by then.
    private func beginKeyOperation() {
        group.adoptPendingSessionKeyring()
        keys.collectIfNeeded(kernel)
    }

    // MARK: Finding keys

    /// lookup_user_key: the key `id` names — a serial, or one of the caller's KEY_SPEC_*
    /// keyrings (made when `create`) — checked for `need` (negative, revoked, expired and
    /// invalidated keys fail unless `partial`); and whether the caller possesses it.
    func lookupKey(_ id: Int32, create: Bool = false, partial: Bool = false, need: KeyNeed) throws(LinuxErrno) -> (key: Key, possessed: Bool) {
        let now = KeyService.now()
        let key: Key
        var possessed = true
        switch id {
        case -1: // KEY_SPEC_THREAD_KEYRING
            if threadKeyring == nil {
                guard create else { throw .ENOKEY }
                threadKeyring = try makeOwnKeyring("_tid")
            }
            key = threadKeyring!
        case -2: // KEY_SPEC_PROCESS_KEYRING
            if group.processKeyring == nil {
                guard create else { throw .ENOKEY }
                group.processKeyring = try makeOwnKeyring("_pid")
            }
            key = group.processKeyring!
        case -3: // KEY_SPEC_SESSION_KEYRING: one is always installed on use.
            if let session = group.sessionKeyring {
                key = session.userKeyring && create ? try joinAnonymousSession() : session
            } else {
                let userSession = try userKeyrings().session
                if create {
                    key = try joinAnonymousSession()
                } else {
                    group.sessionKeyring = userSession
                    key = userSession
                }
            }
        case -4: key = try userKeyrings().user
        case -5: key = try userKeyrings().session
        case -6: throw .EINVAL // group keyrings were never implemented
        case -7, -8: throw .ENOKEY // no request_key authority is ever assumed (no upcalls)
        default:
            guard id >= 1 else { throw .EINVAL }
            guard let found = keys.keys[id] else { throw .ENOKEY }
            key = found
            possessed = possesses(found, now: now)
        }
        if need != .unlink && need != .deferred {
            if !partial, let error = key.negative { throw error }
            try key.validate(at: now)
        }
        guard keys.permitted(key, need, possessed: possessed, by: group) else { throw .EACCES }
        return (key, possessed)
    }

    /// The keyrings a thread possesses outright: its thread and process keyrings and its
    /// session keyring (its user's session keyring, if that exists, when it has none).
    private func possessionRoots() -> [Key] {
        var roots: [Key] = []
        if let t = threadKeyring { roots.append(t) }
        if let p = group.processKeyring { roots.append(p) }
        if let s = group.sessionKeyring ?? existingUserKeyrings()?.session { roots.append(s) }
        return roots
    }

    /// Possession (keyrings(7)): the key is reachable from the keyrings the thread possesses
    /// through keyrings that grant it search, and grants search itself.
    func possesses(_ key: Key, now: Int64) -> Bool {
        for ring in possessionRoots() {
            if case .success = keys.search(ring, possessed: true, type: key.type, description: key.description,
                                           identity: key, stateCheck: false, by: group, now: now) { return true }
        }
        return false
    }

    /// Every key the thread possesses, in one walk (what `possesses` answers for one key).
    private func possessedSet() -> Set<ObjectIdentifier> {
        var possessed = Set<ObjectIdentifier>()
        var shallowest: [ObjectIdentifier: Int] = [:]
        let searchable = { (key: Key) in self.keys.permitted(key, .search, possessed: true, by: self.group) }
        func walk(_ ring: Key, depth: Int) {
            if let seen = shallowest[ObjectIdentifier(ring)], seen <= depth { return }
            shallowest[ObjectIdentifier(ring)] = depth
            for key in ring.links where searchable(key) { possessed.insert(ObjectIdentifier(key)) }
            guard depth < KeyService.maxDepth else { return }
            for sub in ring.nestedKeyrings where searchable(sub) { walk(sub, depth: depth + 1) }
        }
        for root in possessionRoots() where searchable(root) {
            possessed.insert(ObjectIdentifier(root))
            walk(root, depth: 0)
        }
        return possessed
    }

    /// search_process_keyrings_rcu: a valid key of `type` and `description` in the thread's
    /// keyrings (the first found wins; a negative key's error beats "nothing", which beats
    /// another error such as EACCES).
    private func searchOwnKeyrings(_ type: KeyType, _ description: [UInt8], now: Int64) -> Result<Key, LinuxErrno> {
        var nothing: LinuxErrno?
        var other = LinuxErrno.EAGAIN
        for ring in possessionRoots() {
            switch keys.search(ring, possessed: true, type: type, description: description, stateCheck: true, by: group, now: now) {
            case .success(let key): return .success(key)
            case .failure(.ENOKEY): nothing = .ENOKEY
            case .failure(.EAGAIN): if nothing == nil { nothing = .EAGAIN }
            case .failure(let error): other = error
            }
        }
        return .failure(nothing ?? other)
    }

    // MARK: Keyrings of processes and users

    /// A thread or process keyring ("_tid", "_pid"): the caller's, all rights to the
    /// possessor, view to the owner, allowed past the quota.
    private func makeOwnKeyring(_ name: String) throws(LinuxErrno) -> Key {
        try keys.allocate(.keyring, Array(name.utf8), uid: group.uid, gid: group.gid, perm: 0x3f01_0000,
                          overrun: true, namespace: group.userNS)
    }

    /// A new thread made by one with a thread keyring gets one of its own (copy_creds).
    func inheritThreadKeyring(by child: GuestThread) {
        if threadKeyring != nil { child.threadKeyring = try? makeOwnKeyring("_tid") }
    }

    /// A new anonymous session keyring ("_ses") for the process (within the quota unless it
    /// had none).
    private func joinAnonymousSession() throws(LinuxErrno) -> Key {
        let session = try keys.allocate(.keyring, Array("_ses".utf8), uid: group.uid, gid: group.gid, perm: 0x3f03_0000,
                                        overrun: group.sessionKeyring == nil, namespace: group.userNS)
        group.sessionKeyring = session
        return session
    }

    /// The user namespace's keyrings record, made on first use.
    private func namespaceKeyrings(_ ns: UserNamespace) -> NamespaceKeyrings {
        if let rings = keys.namespaces[ObjectIdentifier(ns)], rings.namespace === ns { return rings }
        let rings = NamespaceKeyrings(ns)
        keys.namespaces[ObjectIdentifier(ns)] = rings
        return rings
    }

    /// The number a user's keyrings are named by: its uid as the namespace sees it.
    private func userKeyringNumber(_ ns: UserNamespace) -> UInt32 { ns.uid(group.uid) ?? UInt32.max }

    /// The caller's user keyrings ("_uid.N" and "_uid_ses.N", the second linking the first),
    /// if they exist.
    private func existingUserKeyrings() -> (user: Key, session: Key)? {
        let ns = group.userNS
        guard let register = keys.namespaces[ObjectIdentifier(ns)]?.userRegister else { return nil }
        let n = userKeyringNumber(ns)
        guard let user = register.linked(KeyIndex(type: .keyring, description: Array("_uid.\(n)".utf8))),
              let session = register.linked(KeyIndex(type: .keyring, description: Array("_uid_ses.\(n)".utf8)))
        else { return nil }
        return (user, session)
    }

    /// look_up_user_keyrings: the caller's user keyrings, made on first use: owned by its
    /// real uid, no group, all rights but the possessor's setattr, counted in its quota, and
    /// held by the namespace's ".user_reg" keyring (so they outlive the processes).
    private func userKeyrings() throws(LinuxErrno) -> (user: Key, session: Key) {
        let ns = group.userNS
        let rings = namespaceKeyrings(ns)
        let register: Key
        if let existing = rings.userRegister {
            register = existing
        } else {
            register = try keys.allocate(.keyring, Array(".user_reg".utf8), uid: ns.owner, gid: Key.noGroup,
                                         perm: 0x0c03_0000, namespace: ns)
            rings.userRegister = register
        }
        let n = userKeyringNumber(ns)
        func find(_ name: String) -> Key? {
            register.linked(KeyIndex(type: .keyring, description: Array(name.utf8))).flatMap { $0.revoked ? nil : $0 }
        }
        func make(_ name: String) throws(LinuxErrno) -> Key {
            let ring = try keys.allocate(.keyring, Array(name.utf8), uid: group.uid, gid: Key.noGroup, perm: 0x1f3f_0000,
                                         namespace: ns)
            ring.userKeyring = true
            return ring
        }
        let user: Key
        if let found = find("_uid.\(n)") {
            user = found
        } else {
            user = try make("_uid.\(n)")
            try anchoring(user) { () throws(LinuxErrno) in try keys.link(user, into: register) }
        }
        if let session = find("_uid_ses.\(n)") { return (user, session) }
        let session = try make("_uid_ses.\(n)")
        try anchoring(session) { () throws(LinuxErrno) in
            try keys.link(user, into: session)
            try keys.link(session, into: register)
        }
        return (user, session)
    }

    /// construct_get_dest_keyring: where request_key puts a key it makes when the caller
    /// names no keyring (KEYCTL_SET_REQKEY_KEYRING's choice, falling back in Linux's order);
    /// the caller must be able to write there.
    private func requestKeyDestination() throws(LinuxErrno) -> Key {
        var ring: Key?
        let choice = requestKeyDefault
        if [0, 1, 7].contains(choice) { ring = threadKeyring } // default, thread, requestor
        if ring == nil && [0, 1, 2, 7].contains(choice) { ring = group.processKeyring }
        if ring == nil && [0, 1, 2, 3, 7].contains(choice) { ring = group.sessionKeyring }
        if ring == nil { ring = choice == 4 ? try userKeyrings().user : try userKeyrings().session }
        guard let ring, keys.permitted(ring, .write, possessed: true, by: group) else { throw .EACCES }
        return ring
    }

    /// Runs what links a key just made; if it fails, the key, held by nothing, goes at the
    /// next key operation (and its quota with it).
    private func anchoring(_ key: Key, _ body: () throws(LinuxErrno) -> Void) throws(LinuxErrno) {
        do { try body() } catch {
            keys.dirty = true
            throw error
        }
    }

    // MARK: add_key and request_key

    func sysAddKey() throws(LinuxErrno) -> UInt64 {
        let (typeAt, descriptionAt, payloadAt, length, ringID) = (a0, a1, a2, a3, Int32(truncatingIfNeeded: a4))
        guard length <= 1024 * 1024 - 1 else { throw .EINVAL }
        let typeName = try keyTypeName(typeAt)
        var description: [UInt8]?
        if descriptionAt != 0 {
            let d = try keyString(descriptionAt)
            // Keyrings whose names begin with a dot are the kernel's.
            if d.first == UInt8(ascii: ".") && typeName.starts(with: "keyring".utf8) { throw .EPERM }
            if !d.isEmpty { description = d }
        }
        let payload = length > 0 ? try mm.read(payloadAt, count: Int(length)) : []
        beginKeyOperation()
        let (keyring, ringPossessed) = try lookupKey(ringID, create: true, need: .write)
        guard let type = Self.keyType(typeName) else { throw .ENODEV }
        guard keyring.type == .keyring else { throw .ENOTDIR }
        // The type's preparse: a keyring has no payload; user and logon data is 1...32767 bytes.
        switch type {
        case .keyring: guard payload.isEmpty else { throw .EINVAL }
        case .user, .logon: guard !payload.isEmpty, payload.count <= 32767 else { throw .EINVAL }
        }
        guard let description else { throw .EINVAL }
        // A logon key's description starts with a service name and a colon.
        if type == .logon {
            guard let colon = description.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { throw .EINVAL }
        }
        if keyring.linksRejected { throw .EPERM }
        // A key of this type and description in that keyring is updated in place.
        if type.updatable, let existing = keyring.linked(KeyIndex(type: type, description: description)),
           !existing.revoked && !existing.invalidated {
            try updateKey(existing, possessed: ringPossessed, payload)
            return UInt64(existing.serial)
        }
        let key = try keys.allocate(type, description, uid: group.fsuid, gid: group.fsgid,
                                    perm: Self.defaultPermissions(type), namespace: group.userNS)
        try anchoring(key) { () throws(LinuxErrno) in
            try keys.reserve(key, payload.count)
            key.payload = payload
            try keys.link(key, into: keyring)
        }
        return UInt64(key.serial)
    }

    /// key_update: new data for a user or logon key (its timeout cleared, as Linux's
    /// user_update does).
    private func updateKey(_ key: Key, possessed: Bool, _ payload: [UInt8]) throws(LinuxErrno) {
        guard keys.permitted(key, .write, possessed: possessed, by: group) else { throw .EACCES }
        guard key.type.updatable else { throw .EOPNOTSUPP }
        guard !payload.isEmpty, payload.count <= 32767 else { throw .EINVAL }
        try keys.reserve(key, payload.count)
        key.payload = payload
        key.negative = nil
        key.expiry = nil
    }

    func sysRequestKey() throws(LinuxErrno) -> UInt64 {
        let typeName = try keyTypeName(a0)
        let description = try keyString(a1)
        let callout = a2 != 0 ? try keyString(a2) : nil
        let destinationID = Int32(truncatingIfNeeded: a3)
        beginKeyOperation()
        let destination = destinationID != 0 ? try lookupKey(destinationID, create: true, need: .write).key : nil
        guard let type = Self.keyType(typeName) else { throw .ENOKEY }
        let now = KeyService.now()
        switch searchOwnKeyrings(type, description, now: now) {
        case .success(let key):
            if let destination {
                guard keys.permitted(key, .link, possessed: true, by: group) else { throw .EACCES }
                try keys.link(key, into: destination)
            }
            return UInt64(key.serial)
        case .failure(.EAGAIN):
            break
        case .failure(let error):
            throw error
        }
        guard callout != nil else { throw .ENOKEY }
        // Construction: a key made for /sbin/request-key to instantiate. The sandbox makes no
        // upcall; the key is negated at once for 60 s (key_negative_timeout), as when the
        // helper has nothing for it, so requests meanwhile fail at once.
        if type == .keyring { throw .EPERM }
        let ring: Key
        if let destination { ring = destination } else { ring = try requestKeyDestination() }
        let key = try keys.allocate(type, description, uid: group.fsuid, gid: group.fsgid,
                                    perm: Self.defaultPermissions(type), namespace: group.userNS)
        try anchoring(key) { () throws(LinuxErrno) in try keys.link(key, into: ring) }
        key.negative = .ENOKEY
        key.expiry = now + 60
        keys.schedule(now + 60)
        throw .ENOKEY
    }

    // MARK: keyctl

    func sysKeyctl() throws(LinuxErrno) -> UInt64 {
        let id = Int32(truncatingIfNeeded: a1)
        switch Int32(truncatingIfNeeded: a0) {
        case 0: // KEYCTL_GET_KEYRING_ID
            beginKeyOperation()
            return UInt64(try lookupKey(id, create: Int32(truncatingIfNeeded: a2) != 0, need: .search).key.serial)
        case 1: // KEYCTL_JOIN_SESSION_KEYRING
            return try joinSessionKeyring(a1)
        case 2: // KEYCTL_UPDATE
            guard a3 <= 4096 else { throw .EINVAL }
            let payload = a3 > 0 ? try mm.read(a2, count: Int(a3)) : []
            beginKeyOperation()
            let (key, possessed) = try lookupKey(id, need: .write)
            try updateKey(key, possessed: possessed, payload)
            return 0
        case 3: // KEYCTL_REVOKE: write or setattr permission
            beginKeyOperation()
            let key: Key
            do { key = try lookupKey(id, need: .write).key } catch {
                guard error == .EACCES else { throw error }
                key = try lookupKey(id, need: .setattr).key
            }
            revoke(key)
            return 0
        case 4: return try chownKey(id, a2, a3)
        case 5: // KEYCTL_SETPERM
            let perm = UInt32(truncatingIfNeeded: a2)
            guard perm & ~(Key.possessorAll | Key.userAll | Key.groupAll | Key.otherAll) == 0 else { throw .EINVAL }
            beginKeyOperation()
            let key = try lookupKey(id, create: true, partial: true, need: .setattr).key
            guard key.uid == group.fsuid || group.capable(21 /* CAP_SYS_ADMIN */, in: .initial) else { throw .EACCES }
            key.perm = perm
            return 0
        case 6: // KEYCTL_DESCRIBE: "type;uid;gid;perm;description", copied only whole
            beginKeyOperation()
            let key = try lookupKey(id, partial: true, need: .view).key
            let ns = group.userNS
            let gid = key.gid == Key.noGroup ? UserNamespace.overflowID : ns.shownGID(key.gid)
            let hex = String(key.perm, radix: 16)
            let info = "\(key.type.rawValue);\(ns.shownUID(key.uid));\(gid);\(String(repeating: "0", count: 8 - hex.count))\(hex);"
            let text = Array(info.utf8) + key.description + [0]
            if a2 != 0 && a3 >= UInt64(text.count) { try mm.write(a2, text) }
            return UInt64(text.count)
        case 7: // KEYCTL_CLEAR
            beginKeyOperation()
            let keyring = try lookupKey(id, create: true, need: .write).key
            guard keyring.type == .keyring else { throw .ENOTDIR }
            keys.clear(keyring)
            return 0
        case 8: // KEYCTL_LINK
            beginKeyOperation()
            let keyring = try lookupKey(Int32(truncatingIfNeeded: a2), create: true, need: .write).key
            let key = try lookupKey(id, create: true, need: .link).key
            try keys.link(key, into: keyring)
            return 0
        case 9: // KEYCTL_UNLINK: the keyring must be writable; the key need grant nothing
            beginKeyOperation()
            let keyring = try lookupKey(Int32(truncatingIfNeeded: a2), need: .write).key
            let key = try lookupKey(id, partial: true, need: .unlink).key
            try keys.unlink(key, from: keyring)
            return 0
        case 10: return try searchKeyring(id)
        case 11: return try readKey(id)
        case 12, 13, 19, 20: return try instantiateKey(op: Int32(truncatingIfNeeded: a0))
        case 14: return try setRequestKeyDefault(Int32(truncatingIfNeeded: a1))
        case 15: // KEYCTL_SET_TIMEOUT
            beginKeyOperation()
            let key = try lookupKey(id, create: true, partial: true, need: .setattr).key
            let seconds = UInt32(truncatingIfNeeded: a2)
            key.expiry = seconds == 0 ? nil : KeyService.now() + Int64(seconds)
            if let expiry = key.expiry { keys.schedule(expiry) }
            return 0
        case 16: // KEYCTL_ASSUME_AUTHORITY: no authorization key exists to assume
            guard id >= 0 else { throw .EINVAL }
            if id == 0 { return 0 }
            throw .ENOKEY
        case 17: // KEYCTL_GET_SECURITY: no security module labels keys
            beginKeyOperation()
            _ = try lookupKey(id, partial: true, need: .view)
            if a2 != 0 && a3 > 0 { try mm.write(a2, [0]) }
            return 1
        case 18: return try sessionToParent()
        case 21: // KEYCTL_INVALIDATE: the key and its links go at once
            beginKeyOperation()
            let key = try lookupKey(id, need: .search).key
            key.invalidated = true
            keys.collect(kernel)
            return 0
        case 22: return try persistentKeyring(uid: UInt32(truncatingIfNeeded: a1), destination: Int32(truncatingIfNeeded: a2))
        case 29: return try restrictKeyring(id)
        case 30: return try moveKey(id)
        case 31: // KEYCTL_CAPABILITIES
            // Capabilities, persistent keyrings, invalidate, restrict, move; keyring names and
            // key tags per user namespace. No Diffie-Hellman, public keys, big keys or
            // notifications.
            let caps: [UInt8] = [0x01 | 0x02 | 0x20 | 0x40 | 0x80, 0x01 | 0x02]
            if a2 > 0 { // the rest of the buffer is zeroed (bounded: the sentry builds it)
                let length = Int(min(a2, 1 << 20))
                try mm.write(a1, Array((caps + [UInt8](repeating: 0, count: max(0, length - caps.count))).prefix(length)))
            }
            return UInt64(caps.count)
        default:
            // Diffie-Hellman and public-key operations (23-28) and key notifications (32)
            // are not configured; nor is anything unknown.
            throw .EOPNOTSUPP
        }
    }

    /// key_revoke: the key refuses use from now on; a keyring loses its links, a user key
    /// its data.
    private func revoke(_ key: Key) {
        let now = KeyService.now()
        if key.revokedAt.map({ $0 > now }) ?? true { key.revokedAt = now }
        keys.schedule(now)
        switch key.type {
        case .keyring: keys.clear(key)
        case .user, .logon:
            key.payload = []
            try? keys.reserve(key, 0)
        }
    }

    private func joinSessionKeyring(_ nameAt: UInt64) throws(LinuxErrno) -> UInt64 {
        var name: [UInt8]?
        if nameAt != 0 {
            let n = try keyString(nameAt)
            if n.first == UInt8(ascii: ".") { throw .EPERM }
            name = n
        }
        beginKeyOperation()
        guard let name else { return UInt64(try joinAnonymousSession().serial) }
        return try group.joinSessionKeyring(named: name).map { UInt64($0.serial) } ?? 0
    }

    /// KEYCTL_CHOWN: -1 leaves an id; another owner, or a group the caller is not in, takes
    /// CAP_SYS_ADMIN; the key's quota moves to its new owner.
    private func chownKey(_ id: Int32, _ uidArg: UInt64, _ gidArg: UInt64) throws(LinuxErrno) -> UInt64 {
        let (uidIn, gidIn) = (UInt32(truncatingIfNeeded: uidArg), UInt32(truncatingIfNeeded: gidArg))
        let ns = group.userNS
        let uid = uidIn == UInt32.max ? nil : ns.kuid(uidIn)
        let gid = gidIn == UInt32.max ? nil : ns.kgid(gidIn)
        if (uidIn != UInt32.max && uid == nil) || (gidIn != UInt32.max && gid == nil) { throw .EINVAL }
        if uid == nil && gid == nil { return 0 }
        beginKeyOperation()
        let key = try lookupKey(id, create: true, partial: true, need: .setattr).key
        let inGroup = gid.map { $0 == group.fsgid || group.groups.contains($0) } ?? true
        if (uid.map { $0 != key.uid } ?? false) || (gid.map { $0 != key.gid } ?? false) && !inGroup {
            guard group.capable(21 /* CAP_SYS_ADMIN */, in: .initial) else { throw .EACCES }
        }
        if let uid, uid != key.uid { try keys.transfer(key, to: uid) }
        if let gid { key.gid = gid }
        return 0
    }

    /// KEYCTL_SEARCH: a key of the type and description below keyring `id`, linked into
    /// the destination keyring (arg 5) when one is named.
    private func searchKeyring(_ id: Int32) throws(LinuxErrno) -> UInt64 {
        let typeName = try keyTypeName(a2)
        let description = try keyString(a3)
        beginKeyOperation()
        let (keyring, possessed) = try lookupKey(id, need: .search)
        let destinationID = Int32(truncatingIfNeeded: a4)
        let destination = destinationID != 0 ? try lookupKey(destinationID, create: true, need: .write).key : nil
        guard let type = Self.keyType(typeName) else { throw .ENOKEY }
        let key: Key
        switch keys.search(keyring, possessed: possessed, type: type, description: description, stateCheck: true,
                           by: group, now: KeyService.now()) {
        case .success(let found): key = found
        case .failure(let error): throw error == .EAGAIN ? .ENOKEY : error
        }
        if let destination {
            guard keys.permitted(key, .link, possessed: possessed, by: group) else { throw .EACCES }
            try keys.link(key, into: destination)
        }
        return UInt64(key.serial)
    }

    /// KEYCTL_READ: a key's data or a keyring's serials, with read permission (or, for a
    /// possessed key, search); copied only if the buffer holds all of it.
    private func readKey(_ id: Int32) throws(LinuxErrno) -> UInt64 {
        beginKeyOperation()
        let key: Key, possessed: Bool
        do { (key, possessed) = try lookupKey(id, need: .deferred) } catch { throw .ENOKEY }
        if let error = key.negative { throw error }
        if !keys.permitted(key, .read, possessed: possessed, by: group) && !possessed { throw .EACCES }
        guard key.type.readable else { throw .EOPNOTSUPP }
        try key.validate(at: KeyService.now())
        var data: [UInt8]
        if key.type == .keyring {
            data = []
            data.reserveCapacity(key.linkCount * 4)
            for linked in key.links { withUnsafeBytes(of: linked.serial) { data += $0 } }
        } else {
            data = key.payload
        }
        let (bufferAt, length) = (a2, a3)
        if bufferAt != 0 && length > 0 && !data.isEmpty && UInt64(data.count) <= length { try mm.write(bufferAt, data) }
        return UInt64(data.count)
    }

    /// KEYCTL_INSTANTIATE(_IOV), NEGATE, REJECT: only the process request_key's upcall runs
    /// may, holding the authority it assumed; the sandbox makes no upcalls, so none holds it.
    private func instantiateKey(op: Int32) throws(LinuxErrno) -> UInt64 {
        switch op {
        case 12: guard a3 <= 1024 * 1024 - 1 else { throw .EINVAL }
        case 19: // the error must be one a process could be given
            let error = UInt32(truncatingIfNeeded: a3)
            guard error > 0, error < 4095, ![512, 513, 514, 516].contains(error) else { throw .EINVAL }
        case 20: // the iovec array is read first
            let count = UInt32(truncatingIfNeeded: a3)
            if a2 != 0 && count > 0 {
                guard count <= 1024 else { throw .EINVAL }
                _ = try mm.read(a2, count: Int(count) * 16)
            }
        default: break
        }
        throw .EPERM
    }

    /// KEYCTL_SET_REQKEY_KEYRING: the old choice; a thread or process keyring is made when chosen.
    private func setRequestKeyDefault(_ choice: Int32) throws(LinuxErrno) -> UInt64 {
        let old = requestKeyDefault
        if choice == -1 { return UInt64(old) }
        switch choice {
        case 1:
            beginKeyOperation()
            if threadKeyring == nil { threadKeyring = try makeOwnKeyring("_tid") }
        case 2:
            beginKeyOperation()
            if group.processKeyring == nil { group.processKeyring = try makeOwnKeyring("_pid") }
        case 0, 3, 4, 5, 7: break
        default: throw .EINVAL
        }
        requestKeyDefault = choice
        return UInt64(old)
    }

    /// KEYCTL_SESSION_TO_PARENT: the caller's session keyring becomes its parent's, if the
    /// parent is a single-threaded process of the same user. (Linux refuses the machine's
    /// init; the sandbox's is a container's init, whose global pid is not 1, and may.)
    private func sessionToParent() throws(LinuxErrno) -> UInt64 {
        beginKeyOperation()
        let session = try lookupKey(-3, need: .link).key
        guard let parent = group.parent, parent.threads.count == 1 else { throw .EPERM }
        parent.adoptPendingSessionKeyring()
        if parent.sessionKeyring === session { return 0 }
        let me = (euid: group.euid, egid: group.egid)
        guard parent.uid == me.euid, parent.euid == me.euid, parent.suid == me.euid,
              parent.gid == me.egid, parent.egid == me.egid, parent.sgid == me.egid,
              parent.sessionKeyring.map({ $0.uid == me.euid }) ?? true, session.uid == me.euid else { throw .EPERM }
        parent.pendingSessionKeyring = session
        return 0
    }

    /// KEYCTL_GET_PERSISTENT: a user's persistent keyring ("_persistent.N", made on first use
    /// and kept by its namespace's ".persistent_register"; it expires persistent_keyring_expiry
    /// after each request), linked into the destination keyring.
    private func persistentKeyring(uid uidArg: UInt32, destination destinationID: Int32) throws(LinuxErrno) -> UInt64 {
        let ns = group.userNS
        let uid: UInt32
        if uidArg == UInt32.max {
            uid = group.uid
        } else {
            guard let k = ns.kuid(uidArg) else { throw .EINVAL }
            // Only one's own, without CAP_SETUID over the namespace.
            if k != group.uid && k != group.euid && !group.capable(7 /* CAP_SETUID */, in: ns) { throw .EPERM }
            uid = k
        }
        beginKeyOperation()
        let destination = try lookupKey(destinationID, create: true, need: .write).key
        guard destination.type == .keyring else { throw .ENOTDIR }
        let rings = namespaceKeyrings(ns)
        let register: Key
        if let existing = rings.persistentRegister {
            register = existing
        } else {
            register = try keys.allocate(.keyring, Array(".persistent_register".utf8), uid: 0, gid: 0, perm: 0x0c03_0000,
                                         inQuota: false, namespace: ns)
            rings.persistentRegister = register
        }
        let name = Array("_persistent.\(ns.uid(uid) ?? UInt32.max)".utf8)
        let persistent: Key
        if let found = register.linked(KeyIndex(type: .keyring, description: name)), !found.revoked && !found.invalidated {
            persistent = found
        } else {
            persistent = try keys.allocate(.keyring, name, uid: uid, gid: Key.noGroup, perm: 0x1f03_0000, inQuota: false, namespace: ns)
            try anchoring(persistent) { () throws(LinuxErrno) in try keys.link(persistent, into: register) }
        }
        guard keys.permitted(persistent, .link, possessed: true, by: group) else { throw .EACCES }
        try keys.link(persistent, into: destination)
        persistent.expiry = KeyService.now() + Int64(keys.persistentExpiry)
        keys.schedule(persistent.expiry!)
        return UInt64(persistent.serial)
    }

    /// KEYCTL_RESTRICT_KEYRING: with no type, nothing more may be linked into the keyring;
    /// none of this kernel's key types offers a restriction to name.
    private func restrictKeyring(_ id: Int32) throws(LinuxErrno) -> UInt64 {
        beginKeyOperation()
        let keyring = try lookupKey(id, need: .setattr).key
        let (typeAt, restrictionAt) = (a2, a3)
        if typeAt != 0 {
            guard restrictionAt != 0 else { throw .EINVAL }
            let typeName = try keyTypeName(typeAt)
            _ = try keyString(restrictionAt)
            guard keyring.type == .keyring else { throw .ENOTDIR }
            guard Self.keyType(typeName) != nil else { throw .ENOKEY }
            throw .ENOENT
        }
        guard restrictionAt == 0 else { throw .EINVAL }
        guard keyring.type == .keyring else { throw .ENOTDIR }
        if keyring.linksRejected { throw .EEXIST }
        keyring.linksRejected = true
        return 0
    }

    /// KEYCTL_MOVE: the key's link moves from one keyring to another (KEYCTL_MOVE_EXCL: not
    /// over a key of the same description there).
    private func moveKey(_ id: Int32) throws(LinuxErrno) -> UInt64 {
        let flags = UInt32(truncatingIfNeeded: a4)
        guard flags & ~1 == 0 else { throw .EINVAL }
        beginKeyOperation()
        let key = try lookupKey(id, create: true, need: .link).key
        let from = try lookupKey(Int32(truncatingIfNeeded: a2), need: .write).key
        let to = try lookupKey(Int32(truncatingIfNeeded: a3), create: true, need: .write).key
        if from === to { return 0 }
        guard from.type == .keyring, to.type == .keyring else { throw .ENOTDIR }
        guard from.links(key) else { throw .ENOENT }
        if flags & 1 != 0 && to.linked(key.index) != nil { throw .EEXIST }
        try keys.link(key, into: to)
        try keys.unlink(key, from: from)
        return 0
    }

    // MARK: /proc

    /// /proc/keys: the keys this thread may view (possession counting for those whose
    /// possessor may view them) and whose owner its user namespace maps, by serial.
    func procKeys() -> String {
        // A whole collection: it counts each key's references (the usage column).
        group.adoptPendingSessionKeyring()
        keys.collect(kernel)
        let now = KeyService.now(), ns = group.userNS
        let possessedKeys = possessedSet()
        var text = ""
        for serial in keys.keys.keys.sorted() {
            guard let key = keys.keys[serial], ns.uid(key.uid) != nil else { continue }
            let possessed = possessedKeys.contains(ObjectIdentifier(key))
            guard keys.permitted(key, .view, possessed: possessed, by: group) else { continue }
            text += keys.procLine(key, ns: ns, now: now)
        }
        return text
    }

    /// /proc/key-users: each user's keys (all, instantiated), and its quota's use and limits.
    func procKeyUsers() -> String {
        beginKeyOperation()
        let ns = group.userNS
        var text = ""
        for uid in keys.users.keys.sorted() {
            guard let user = keys.users[uid], let shown = ns.uid(uid) else { continue }
            let limit = keys.limits(for: uid)
            let number = String(shown)
            text += String(repeating: " ", count: max(0, 5 - number.count)) + number + ": "
            let usage = String(user.keys + 1)
            text += String(repeating: " ", count: max(0, 5 - usage.count)) + usage
            text += " \(user.keys)/\(user.instantiated) \(user.quotaKeys)/\(limit.keys) \(user.quotaBytes)/\(limit.bytes)\n"
        }
        return text
    }
}
