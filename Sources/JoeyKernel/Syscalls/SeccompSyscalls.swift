// seccomp(2) (and prctl's PR_SET_SECCOMP): the guest installs its own filters, which the
// sentry runs (Task/Seccomp.swift). User notification (SECCOMP_FILTER_FLAG_NEW_LISTENER,
// SECCOMP_GET_NOTIF_SIZES, SECCOMP_RET_USER_NOTIF) is not offered: EINVAL, as from a kernel
// without it.
import JoeyABI

extension GuestThread {
    static let SECCOMP_SET_MODE_STRICT: UInt64 = 0, SECCOMP_SET_MODE_FILTER: UInt64 = 1, SECCOMP_GET_ACTION_AVAIL: UInt64 = 2
    static let FILTER_FLAG_TSYNC: UInt64 = 1, FILTER_FLAG_LOG: UInt64 = 2, FILTER_FLAG_SPEC_ALLOW: UInt64 = 4
    static let FILTER_FLAG_NEW_LISTENER: UInt64 = 8, FILTER_FLAG_TSYNC_ESRCH: UInt64 = 16, FILTER_FLAG_WAIT_KILLABLE_RECV: UInt64 = 32

    func sysSeccomp() throws(LinuxErrno) -> UInt64 {
        switch a0 {
        case Self.SECCOMP_SET_MODE_STRICT:
            return try seccompSetStrict(flags: a1, arguments: a2)
        case Self.SECCOMP_SET_MODE_FILTER:
            return try seccompSetFilter(flags: a1, program: a2)
        case Self.SECCOMP_GET_ACTION_AVAIL:
            guard a1 == 0 else { throw .EINVAL }
            let action: UInt32 = try mm.readValue(a2)
            switch action {
            case Seccomp.KILL_PROCESS, Seccomp.KILL_THREAD, Seccomp.TRAP, Seccomp.ERRNO, Seccomp.TRACE, Seccomp.LOG, Seccomp.ALLOW:
                return 0
            default:
                throw .EOPNOTSUPP // SECCOMP_RET_USER_NOTIF among them: no listener can be made
            }
        default:
            throw .EINVAL
        }
    }

    func seccompSetStrict(flags: UInt64, arguments: UInt64) throws(LinuxErrno) -> UInt64 {
        guard flags == 0, arguments == 0 else { throw .EINVAL }
        guard seccompMode == 0 || seccompMode == 1 else { throw .EINVAL }
        seccompMode = 1
        return 0
    }

    func seccompSetFilter(flags: UInt64, program address: UInt64) throws(LinuxErrno) -> UInt64 {
        let known = Self.FILTER_FLAG_TSYNC | Self.FILTER_FLAG_LOG | Self.FILTER_FLAG_SPEC_ALLOW | Self.FILTER_FLAG_NEW_LISTENER
            | Self.FILTER_FLAG_TSYNC_ESRCH | Self.FILTER_FLAG_WAIT_KILLABLE_RECV
        guard flags & ~known == 0, flags & Self.FILTER_FLAG_NEW_LISTENER == 0,
              flags & Self.FILTER_FLAG_WAIT_KILLABLE_RECV == 0 else { throw .EINVAL }
        // struct sock_fprog: an unsigned short length, then the instructions' address.
        let length: UInt16 = try mm.readValue(address)
        let instructionsAddress: UInt64 = try mm.readValue(address &+ 8)
        guard length > 0, Int(length) <= ClassicBPF.maxInstructions else { throw .EINVAL }
        // Without no_new_privs only a process with CAP_SYS_ADMIN may filter (it could otherwise
        // confuse a set-id program it executes).
        guard group.noNewPrivs || group.capable(21 /* CAP_SYS_ADMIN */) else { throw .EACCES }
        let bytes = try mm.read(instructionsAddress, count: Int(length) * 8)
        let raw = bytes.withUnsafeBytes { p in
            (0..<Int(length)).map { i in
                BPFInstruction(code: p.loadUnaligned(fromByteOffset: i * 8, as: UInt16.self),
                               jt: p[i * 8 + 2], jf: p[i * 8 + 3],
                               k: p.loadUnaligned(fromByteOffset: i * 8 + 4, as: UInt32.self))
            }
        }
        let program = try ClassicBPF(seccomp: raw)
        guard seccompMode == 0 || seccompMode == 2 else { throw .EINVAL }
        let filter = try SeccompFilter(program: program, previous: seccompFilter, log: flags & Self.FILTER_FLAG_LOG != 0)
        if flags & Self.FILTER_FLAG_TSYNC != 0 {
            // Every other thread must be unfiltered or run filters this one builds on.
            let others = group.threads.filter { $0 !== self && !$0.threadExiting }
            if let bad = others.first(where: { $0.seccompMode == 1 || !(seccompFilter?.descends(from: $0.seccompFilter) ?? ($0.seccompFilter == nil)) }) {
                if flags & Self.FILTER_FLAG_TSYNC_ESRCH != 0 { throw .ESRCH }
                return UInt64(vnr(bad.tid))
            }
            for t in others { t.seccompFilter = filter; t.seccompMode = 2 }
        }
        seccompFilter = filter
        seccompMode = 2
        return 0
    }
}
