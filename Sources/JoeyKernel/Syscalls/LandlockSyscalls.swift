// landlock_create_ruleset, landlock_add_rule, landlock_restrict_self (security/landlock/
// syscalls.c), their checks in Linux's order. The rules themselves: Task/Landlock.swift.
import JoeyABI

extension GuestThread {
    private static let createRulesetVersion: UInt64 = 1 << 0, createRulesetErrata: UInt64 = 1 << 1
    private static let rulePathBeneath: UInt64 = 1, ruleNetPort: UInt64 = 2

    func sysLandlockCreateRuleset() throws(LinuxErrno) -> UInt64 {
        let attr = a0, size = a1, flags = UInt32(truncatingIfNeeded: a2)
        if flags != 0 {
            guard attr == 0 && size == 0 else { throw .EINVAL }
            if UInt64(flags) == Self.createRulesetVersion { return Landlock.abiVersion }
            if UInt64(flags) == Self.createRulesetErrata { return Landlock.errata }
            throw .EINVAL
        }
        // struct landlock_ruleset_attr: handled_access_fs, handled_access_net, scoped; at
        // least the first (copy_min_struct_from_user), bytes past what is known all zero.
        guard attr != 0 else { throw .EFAULT }
        guard size >= 8 else { throw .EINVAL }
        guard size <= 4096 else { throw .E2BIG }
        let raw = try mm.read(attr, count: Int(size))
        if raw.count > 24 && raw[24...].contains(where: { $0 != 0 }) { throw .E2BIG }
        var fields = [UInt64](repeating: 0, count: 3)
        raw.withUnsafeBytes { b in
            for i in 0..<min(3, raw.count / 8) { fields[i] = b.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) }
        }
        let (fsAccess, netAccess, scoped) = (fields[0], fields[1], fields[2])
        guard fsAccess & ~Landlock.fsAll == 0, netAccess & ~Landlock.netAll == 0, scoped & ~Landlock.scopeAll == 0 else {
            throw .EINVAL
        }
        guard fsAccess | netAccess | scoped != 0 else { throw .ENOMSG }
        let d = LandlockRulesetDescription(LandlockRuleset(handledFS: fsAccess, handledNet: netAccess, scoped: scoped),
                                           fs: kernel.anonFS)
        return UInt64(try group.fdTable.install(d, closeOnExec: true))
    }

    /// The ruleset behind `fd` (get_ruleset_from_fd): EBADF (an O_PATH fd too, as fdget
    /// passes over them), EBADFD for another file, EPERM without the access mode asked for.
    private func ruleset(_ fd: UInt64, writing: Bool) throws(LinuxErrno) -> LandlockRuleset {
        guard let f = try group.fdTable.get(Int32(truncatingIfNeeded: fd)) as? LandlockRulesetDescription else { throw .EBADFD }
        guard writing ? f.writable : f.readable else { throw .EPERM }
        return f.ruleset
    }

    func sysLandlockAddRule() throws(LinuxErrno) -> UInt64 {
        let type = a1, attr = a2
        guard UInt32(truncatingIfNeeded: a3) == 0 else { throw .EINVAL }
        let r = try ruleset(a0, writing: true)
        switch type {
        case Self.rulePathBeneath:
            // struct landlock_path_beneath_attr (packed, 12 bytes): allowed_access, parent_fd.
            let (access, fd): (UInt64, Int32) = try mm.readValue(attr)
            guard access != 0 else { throw .ENOMSG }
            guard access | r.handledFS == r.handledFS else { throw .EINVAL }
            // Any fd of a file in a mounted filesystem, O_PATH ones too; not a ruleset, a pipe,
            // a socket or another file no path reaches (get_path_from_fd).
            let f = try group.fdTable.getRaw(fd)
            guard !(f is LandlockRulesetDescription), !(f.inode is AnonymousInode), f.location?.mount != nil else {
                throw .EBADFD
            }
            if f.inode.kind != .directory && access & ~Landlock.fileRights != 0 { throw .EINVAL }
            let key = ObjectIdentifier(f.inode)
            r.fsRules[key] = (f.inode, (r.fsRules[key]?.access ?? 0) | access)
        case Self.ruleNetPort:
            // struct landlock_net_port_attr: allowed_access, port (host order).
            let (access, port): (UInt64, UInt64) = try mm.readValue(attr)
            guard access != 0 else { throw .ENOMSG }
            guard access | r.handledNet == r.handledNet else { throw .EINVAL }
            guard port <= 0xffff else { throw .EINVAL }
            r.netRules[UInt16(port), default: 0] |= access
        default:
            throw .EINVAL
        }
        return 0
    }

    func sysLandlockRestrictSelf() throws(LinuxErrno) -> UInt64 {
        // As for seccomp: without no_new_privs only CAP_SYS_ADMIN may (a set-id program
        // it ran could otherwise be confused); checked before the flags.
        guard group.noNewPrivs || group.capable(21 /* CAP_SYS_ADMIN */) else { throw .EPERM }
        guard UInt32(truncatingIfNeeded: a1) == 0 else { throw .EINVAL }
        let r = try ruleset(a0, writing: false)
        guard (landlockDomain?.depth ?? 0) < Landlock.maxLayers else { throw .E2BIG }
        landlockDomain = LandlockDomain(r, on: landlockDomain)
        return 0
    }
}
