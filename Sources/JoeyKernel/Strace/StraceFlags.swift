// Names of flag bits and enum values, as strace prints them.
import JoeyABI

enum StraceFlags {
    static let bitSets: [String: [(UInt64, String)]] = [
        "key_perm": [
                     (0x1000000, "KEY_POS_VIEW"), (0x2000000, "KEY_POS_READ"), (0x4000000, "KEY_POS_WRITE"), (0x8000000, "KEY_POS_SEARCH"), (0x10000000, "KEY_POS_LINK"), (0x20000000, "KEY_POS_SETATTR"),
                     (0x10000, "KEY_USR_VIEW"), (0x20000, "KEY_USR_READ"), (0x40000, "KEY_USR_WRITE"), (0x80000, "KEY_USR_SEARCH"), (0x100000, "KEY_USR_LINK"), (0x200000, "KEY_USR_SETATTR"),
                     (0x100, "KEY_GRP_VIEW"), (0x200, "KEY_GRP_READ"), (0x400, "KEY_GRP_WRITE"), (0x800, "KEY_GRP_SEARCH"), (0x1000, "KEY_GRP_LINK"), (0x2000, "KEY_GRP_SETATTR"),
                     (0x1, "KEY_OTH_VIEW"), (0x2, "KEY_OTH_READ"), (0x4, "KEY_OTH_WRITE"), (0x8, "KEY_OTH_SEARCH"), (0x10, "KEY_OTH_LINK"), (0x20, "KEY_OTH_SETATTR"),
        ],
        "keyctl_caps0": [(0x01, "KEYCTL_CAPS0_CAPABILITIES"), (0x02, "KEYCTL_CAPS0_PERSISTENT_KEYRINGS"),
                         (0x04, "KEYCTL_CAPS0_DIFFIE_HELLMAN"), (0x08, "KEYCTL_CAPS0_PUBLIC_KEY"), (0x10, "KEYCTL_CAPS0_BIG_KEY"),
                         (0x20, "KEYCTL_CAPS0_INVALIDATE"), (0x40, "KEYCTL_CAPS0_RESTRICT_KEYRING"), (0x80, "KEYCTL_CAPS0_MOVE")],
        "keyctl_caps1": [(0x01, "KEYCTL_CAPS1_NS_KEYRING_NAME"), (0x02, "KEYCTL_CAPS1_NS_KEY_TAG"), (0x04, "KEYCTL_CAPS1_NOTIFICATIONS")],
        "open": [(0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"), (0o2000, "O_APPEND"),
                 (0o4000, "O_NONBLOCK"), (0o10000, "O_DSYNC"), (0o20000, "O_ASYNC"), (0o40000, "O_DIRECT"),
                 (0o100000, "O_LARGEFILE"), (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"), (0o1000000, "O_NOATIME"),
                 (0o2000000, "O_CLOEXEC"), (0o4010000, "O_SYNC"), (0o10000000, "O_PATH"), (0o20200000, "O_TMPFILE")],
        "at": [(0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_REMOVEDIR"), (0x400, "AT_SYMLINK_FOLLOW"),
               (0x800, "AT_NO_AUTOMOUNT"), (0x1000, "AT_EMPTY_PATH"), (0x2000, "AT_STATX_FORCE_SYNC"),
               (0x4000, "AT_STATX_DONT_SYNC"), (0x8000, "AT_RECURSIVE")],
        "mount_attr": [(0x1, "MOUNT_ATTR_RDONLY"), (0x2, "MOUNT_ATTR_NOSUID"), (0x4, "MOUNT_ATTR_NODEV"),
                       (0x8, "MOUNT_ATTR_NOEXEC"), (0x10, "MOUNT_ATTR_NOATIME"), (0x20, "MOUNT_ATTR_STRICTATIME"),
                       (0x80, "MOUNT_ATTR_NODIRATIME"), (0x10_0000, "MOUNT_ATTR_IDMAP"), (0x20_0000, "MOUNT_ATTR_NOSYMFOLLOW")],
        // strace 6.1 names the rights of Landlock ABI 1 and 2; later bits print as hex.
        "landlock_access_fs": ["EXECUTE", "WRITE_FILE", "READ_FILE", "READ_DIR", "REMOVE_DIR", "REMOVE_FILE", "MAKE_CHAR",
                               "MAKE_DIR", "MAKE_REG", "MAKE_SOCK", "MAKE_FIFO", "MAKE_BLOCK", "MAKE_SYM", "REFER"]
            .enumerated().map { (UInt64(1) << UInt64($0.offset), "LANDLOCK_ACCESS_FS_" + $0.element) },
        "landlock_create": [(1, "LANDLOCK_CREATE_RULESET_VERSION")],
        "prot": [(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC"), (0x0100_0000, "PROT_GROWSDOWN"), (0x0200_0000, "PROT_GROWSUP")],
        "mmap": [(0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"), (0x40, "MAP_32BIT"), (0x100, "MAP_GROWSDOWN"),
                 (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"), (0x2000, "MAP_LOCKED"), (0x4000, "MAP_NORESERVE"),
                 (0x8000, "MAP_POPULATE"), (0x10000, "MAP_NONBLOCK"), (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"),
                 (0x80000, "MAP_SYNC"), (0x100000, "MAP_FIXED_NOREPLACE")],
        "mremap": [(1, "MREMAP_MAYMOVE"), (2, "MREMAP_FIXED"), (4, "MREMAP_DONTUNMAP")],
        "msync": [(1, "MS_ASYNC"), (2, "MS_INVALIDATE"), (4, "MS_SYNC")],
        "clone": [(0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"), (0x800, "CLONE_SIGHAND"),
                  (0x1000, "CLONE_PIDFD"), (0x2000, "CLONE_PTRACE"), (0x4000, "CLONE_VFORK"), (0x8000, "CLONE_PARENT"),
                  (0x10000, "CLONE_THREAD"), (0x20000, "CLONE_NEWNS"), (0x40000, "CLONE_SYSVSEM"), (0x80000, "CLONE_SETTLS"),
                  (0x100000, "CLONE_PARENT_SETTID"), (0x200000, "CLONE_CHILD_CLEARTID"), (0x400000, "CLONE_DETACHED"),
                  (0x800000, "CLONE_UNTRACED"), (0x1000000, "CLONE_CHILD_SETTID"), (0x2000000, "CLONE_NEWCGROUP"),
                  (0x4000000, "CLONE_NEWUTS"), (0x8000000, "CLONE_NEWIPC"), (0x10000000, "CLONE_NEWUSER"),
                  (0x20000000, "CLONE_NEWPID"), (0x40000000, "CLONE_NEWNET"), (0x80000000, "CLONE_IO")],
        // unshare and setns: clone's namespace and sharing flags, and CLONE_NEWTIME where
        // clone has its exit signal.
        "unshare": [(0x80, "CLONE_NEWTIME"), (0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"),
                    (0x800, "CLONE_SIGHAND"), (0x10000, "CLONE_THREAD"), (0x20000, "CLONE_NEWNS"), (0x40000, "CLONE_SYSVSEM"),
                    (0x2000000, "CLONE_NEWCGROUP"), (0x4000000, "CLONE_NEWUTS"), (0x8000000, "CLONE_NEWIPC"),
                    (0x10000000, "CLONE_NEWUSER"), (0x20000000, "CLONE_NEWPID"), (0x40000000, "CLONE_NEWNET")],
        "wait": [(1, "WNOHANG"), (2, "WUNTRACED"), (4, "WEXITED"), (8, "WCONTINUED"), (0x0100_0000, "WNOWAIT"),
                 (0x2000_0000, "__WNOTHREAD"), (0x4000_0000, "__WALL"), (0x8000_0000, "__WCLONE")],
        "access": [(4, "R_OK"), (2, "W_OK"), (1, "X_OK")],
        "rename": [(1, "RENAME_NOREPLACE"), (2, "RENAME_EXCHANGE"), (4, "RENAME_WHITEOUT")],
        "getrandom": [(1, "GRND_NONBLOCK"), (2, "GRND_RANDOM"), (4, "GRND_INSECURE")],
        "pipe2": [(0o4000, "O_NONBLOCK"), (0o40000, "O_DIRECT"), (0o2000000, "O_CLOEXEC")],
        "dup3": [(0o2000000, "O_CLOEXEC")],
        "poll_events": [(1, "POLLIN"), (2, "POLLPRI"), (4, "POLLOUT"), (8, "POLLERR"), (0x10, "POLLHUP"), (0x20, "POLLNVAL"),
                        (0x40, "POLLRDNORM"), (0x80, "POLLRDBAND"), (0x100, "POLLWRNORM"), (0x200, "POLLWRBAND"), (0x2000, "POLLRDHUP")],
        "statx_mask": [(0x1, "STATX_TYPE"), (0x2, "STATX_MODE"), (0x4, "STATX_NLINK"), (0x8, "STATX_UID"), (0x10, "STATX_GID"),
                       (0x20, "STATX_ATIME"), (0x40, "STATX_MTIME"), (0x80, "STATX_CTIME"), (0x100, "STATX_INO"),
                       (0x200, "STATX_SIZE"), (0x400, "STATX_BLOCKS"), (0x800, "STATX_BTIME"), (0x1000, "STATX_MNT_ID")],
        "close_range": [(2, "CLOSE_RANGE_UNSHARE"), (4, "CLOSE_RANGE_CLOEXEC")],
        "timer": [(1, "TIMER_ABSTIME")],
        "sa": [(1, "SA_NOCLDSTOP"), (2, "SA_NOCLDWAIT"), (4, "SA_SIGINFO"), (0x0400_0000, "SA_RESTORER"),
               (0x0800_0000, "SA_ONSTACK"), (0x1000_0000, "SA_RESTART"), (0x4000_0000, "SA_NODEFER"), (0x8000_0000, "SA_RESETHAND")],
        "socket_type": [(0o4000, "SOCK_NONBLOCK"), (0o2000000, "SOCK_CLOEXEC")],
        "msg": [(1, "MSG_OOB"), (2, "MSG_PEEK"), (4, "MSG_DONTROUTE"), (0x8, "MSG_CTRUNC"), (0x20, "MSG_TRUNC"),
                (0x40, "MSG_DONTWAIT"), (0x80, "MSG_EOR"), (0x100, "MSG_WAITALL"), (0x4000, "MSG_NOSIGNAL"),
                (0x4000_0000, "MSG_CMSG_CLOEXEC")],
        "memfd": [(1, "MFD_CLOEXEC"), (2, "MFD_ALLOW_SEALING"), (4, "MFD_HUGETLB")],
        "eventfd": [(1, "EFD_SEMAPHORE"), (0o4000, "EFD_NONBLOCK"), (0o2000000, "EFD_CLOEXEC")],
        "epoll_create": [(0o2000000, "EPOLL_CLOEXEC")],
        "epoll_events": [(1, "EPOLLIN"), (2, "EPOLLPRI"), (4, "EPOLLOUT"), (8, "EPOLLERR"), (0x10, "EPOLLHUP"),
                         (0x40, "EPOLLRDNORM"), (0x80, "EPOLLRDBAND"), (0x100, "EPOLLWRNORM"), (0x200, "EPOLLWRBAND"),
                         (0x400, "EPOLLMSG"), (0x2000, "EPOLLRDHUP"), (1 << 28, "EPOLLEXCLUSIVE"), (1 << 29, "EPOLLWAKEUP"),
                         (1 << 30, "EPOLLONESHOT"), (1 << 31, "EPOLLET")],
        "timerfd": [(0o4000, "TFD_NONBLOCK"), (0o2000000, "TFD_CLOEXEC")],
        "timerfd_settime": [(1, "TFD_TIMER_ABSTIME"), (2, "TFD_TIMER_CANCEL_ON_SET")],
        "signalfd": [(0o4000, "SFD_NONBLOCK"), (0o2000000, "SFD_CLOEXEC")],
        "inotify": [(0o4000, "IN_NONBLOCK"), (0o2000000, "IN_CLOEXEC")],
        "xattr": [(1, "XATTR_CREATE"), (2, "XATTR_REPLACE")],
        "mlock": [(1, "MLOCK_ONFAULT")],
        "fallocate": [(1, "FALLOC_FL_KEEP_SIZE"), (2, "FALLOC_FL_PUNCH_HOLE")],
    ]

    static func flags(_ set: String, _ v: UInt64) -> String {
        var value = v
        var parts: [String] = []
        switch set {
        case "open":
            let acc = ["O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"][Int(value & 3)]
            parts.append(acc)
            value &= ~3
            if value & 0o20200000 == 0o20200000 { parts.append("O_TMPFILE"); value &= ~0o20200000 }
            if value & 0o4010000 == 0o4010000 { parts.append("O_SYNC"); value &= ~0o4010000 }
        case "prot" where v == 0: return "PROT_NONE"
        case "mmap":
            let type = value & 0xf
            parts.append([0: "0", 1: "MAP_SHARED", 2: "MAP_PRIVATE", 3: "MAP_SHARED_VALIDATE"][type] ?? "0x\(String(type, radix: 16))")
            value &= ~0xf
        case "clone":
            let sig = Int32(value & 0xff)
            value &= ~0xff
            let named = names(set, &value)
            if sig != 0 { return (named + [Signal.names[sig] ?? String(sig)]).joined(separator: "|") }
            return named.isEmpty ? "0" : named.joined(separator: "|")
        case "access" where v == 0: return "F_OK"
        case "socket_type":
            let type = value & 0xf
            parts.append([1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM", 5: "SOCK_SEQPACKET", 10: "SOCK_PACKET"][type] ?? String(type))
            value &= ~0xf
        default: break
        }
        parts += names(set, &value)
        if value != 0 { parts.append("0x" + String(value, radix: 16)) }
        return parts.isEmpty ? "0" : parts.joined(separator: "|")
    }

    /// File status flags without an access mode (fcntl F_SETFL).
    static func statusFlags(_ v: UInt64) -> String {
        var value = v & ~3
        let parts = names("open", &value) + (value != 0 ? ["0x" + String(value, radix: 16)] : [])
        return parts.isEmpty ? "0" : parts.joined(separator: "|")
    }

    private static func names(_ set: String, _ value: inout UInt64) -> [String] {
        var parts: [String] = []
        for (bit, name) in bitSets[set] ?? [] where value & bit == bit && bit != 0 {
            parts.append(name)
            value &= ~bit
        }
        return parts
    }

    static let enums: [String: [UInt64: String]] = [
        "landlock_rule_type": [1: "LANDLOCK_RULE_PATH_BENEATH"],
        "keyctl": [
                   0: "KEYCTL_GET_KEYRING_ID", 1: "KEYCTL_JOIN_SESSION_KEYRING", 2: "KEYCTL_UPDATE", 3: "KEYCTL_REVOKE", 4: "KEYCTL_CHOWN",
                   5: "KEYCTL_SETPERM", 6: "KEYCTL_DESCRIBE", 7: "KEYCTL_CLEAR", 8: "KEYCTL_LINK", 9: "KEYCTL_UNLINK",
                   10: "KEYCTL_SEARCH", 11: "KEYCTL_READ", 12: "KEYCTL_INSTANTIATE", 13: "KEYCTL_NEGATE", 14: "KEYCTL_SET_REQKEY_KEYRING",
                   15: "KEYCTL_SET_TIMEOUT", 16: "KEYCTL_ASSUME_AUTHORITY", 17: "KEYCTL_GET_SECURITY", 18: "KEYCTL_SESSION_TO_PARENT", 19: "KEYCTL_REJECT",
                   20: "KEYCTL_INSTANTIATE_IOV", 21: "KEYCTL_INVALIDATE", 22: "KEYCTL_GET_PERSISTENT", 23: "KEYCTL_DH_COMPUTE", 24: "KEYCTL_PKEY_QUERY",
                   25: "KEYCTL_PKEY_ENCRYPT", 26: "KEYCTL_PKEY_DECRYPT", 27: "KEYCTL_PKEY_SIGN", 28: "KEYCTL_PKEY_VERIFY", 29: "KEYCTL_RESTRICT_KEYRING",
                   30: "KEYCTL_MOVE", 31: "KEYCTL_CAPABILITIES", 32: "KEYCTL_WATCH_KEY",
        ],
        "key_spec": [0xffffffff: "KEY_SPEC_THREAD_KEYRING", 0xfffffffe: "KEY_SPEC_PROCESS_KEYRING", 0xfffffffd: "KEY_SPEC_SESSION_KEYRING", 0xfffffffc: "KEY_SPEC_USER_KEYRING",
                     0xfffffffb: "KEY_SPEC_USER_SESSION_KEYRING", 0xfffffffa: "KEY_SPEC_GROUP_KEYRING", 0xfffffff9: "KEY_SPEC_REQKEY_AUTH_KEY", 0xfffffff8: "KEY_SPEC_REQUESTOR_KEYRING"],
        "reqkey": [0xffffffff: "KEY_REQKEY_DEFL_NO_CHANGE", 0: "KEY_REQKEY_DEFL_DEFAULT", 1: "KEY_REQKEY_DEFL_THREAD_KEYRING", 2: "KEY_REQKEY_DEFL_PROCESS_KEYRING",
                   3: "KEY_REQKEY_DEFL_SESSION_KEYRING", 4: "KEY_REQKEY_DEFL_USER_KEYRING", 5: "KEY_REQKEY_DEFL_USER_SESSION_KEYRING", 6: "KEY_REQKEY_DEFL_GROUP_KEYRING", 7: "KEY_REQKEY_DEFL_REQUESTOR_KEYRING"],
        "whence": [0: "SEEK_SET", 1: "SEEK_CUR", 2: "SEEK_END", 3: "SEEK_DATA", 4: "SEEK_HOLE"],
        "fcntl": [0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL", 5: "F_GETLK", 6: "F_SETLK",
                  7: "F_SETLKW", 8: "F_SETOWN", 9: "F_GETOWN", 10: "F_SETSIG", 11: "F_GETSIG", 15: "F_SETOWN_EX",
                  16: "F_GETOWN_EX", 36: "F_OFD_GETLK", 37: "F_OFD_SETLK", 38: "F_OFD_SETLKW", 1024: "F_SETLEASE",
                  1025: "F_GETLEASE", 1026: "F_NOTIFY", 1030: "F_DUPFD_CLOEXEC", 1031: "F_SETPIPE_SZ", 1032: "F_GETPIPE_SZ",
                  1033: "F_ADD_SEALS", 1034: "F_GET_SEALS"],
        "clock": [0: "CLOCK_REALTIME", 1: "CLOCK_MONOTONIC", 2: "CLOCK_PROCESS_CPUTIME_ID", 3: "CLOCK_THREAD_CPUTIME_ID",
                  4: "CLOCK_MONOTONIC_RAW", 5: "CLOCK_REALTIME_COARSE", 6: "CLOCK_MONOTONIC_COARSE", 7: "CLOCK_BOOTTIME"],
        "arch_prctl": [0x1001: "ARCH_SET_GS", 0x1002: "ARCH_SET_FS", 0x1003: "ARCH_GET_FS", 0x1004: "ARCH_GET_GS",
                       0x1011: "ARCH_GET_CPUID", 0x1012: "ARCH_SET_CPUID"],
        "prctl": [1: "PR_SET_PDEATHSIG", 2: "PR_GET_PDEATHSIG", 3: "PR_GET_DUMPABLE", 4: "PR_SET_DUMPABLE", 15: "PR_SET_NAME",
                  16: "PR_GET_NAME", 36: "PR_SET_CHILD_SUBREAPER", 37: "PR_GET_CHILD_SUBREAPER", 38: "PR_SET_NO_NEW_PRIVS",
                  39: "PR_GET_NO_NEW_PRIVS", 22: "PR_SET_SECCOMP", 21: "PR_GET_SECCOMP"],
        "rlimit": [0: "RLIMIT_CPU", 1: "RLIMIT_FSIZE", 2: "RLIMIT_DATA", 3: "RLIMIT_STACK", 4: "RLIMIT_CORE", 5: "RLIMIT_RSS",
                   6: "RLIMIT_NPROC", 7: "RLIMIT_NOFILE", 8: "RLIMIT_MEMLOCK", 9: "RLIMIT_AS", 10: "RLIMIT_LOCKS",
                   11: "RLIMIT_SIGPENDING", 12: "RLIMIT_MSGQUEUE", 13: "RLIMIT_NICE", 14: "RLIMIT_RTPRIO", 15: "RLIMIT_RTTIME"],
        "madvise": [0: "MADV_NORMAL", 1: "MADV_RANDOM", 2: "MADV_SEQUENTIAL", 3: "MADV_WILLNEED", 4: "MADV_DONTNEED",
                    8: "MADV_FREE", 9: "MADV_REMOVE", 10: "MADV_DONTFORK", 11: "MADV_DOFORK", 12: "MADV_MERGEABLE",
                    14: "MADV_HUGEPAGE", 15: "MADV_NOHUGEPAGE"],
        "sighow": [0: "SIG_BLOCK", 1: "SIG_UNBLOCK", 2: "SIG_SETMASK"],
        "futex_op": [0: "FUTEX_WAIT", 1: "FUTEX_WAKE", 3: "FUTEX_REQUEUE", 4: "FUTEX_CMP_REQUEUE", 5: "FUTEX_WAKE_OP",
                     9: "FUTEX_WAIT_BITSET", 10: "FUTEX_WAKE_BITSET", 128: "FUTEX_WAIT_PRIVATE", 129: "FUTEX_WAKE_PRIVATE",
                     137: "FUTEX_WAIT_BITSET_PRIVATE", 138: "FUTEX_WAKE_BITSET_PRIVATE"],
        "ioctl": [0x5401: "TCGETS", 0x5402: "TCSETS", 0x5403: "TCSETSW", 0x5404: "TCSETSF", 0x540E: "TIOCSCTTY",
                  0x540F: "TIOCGPGRP", 0x5410: "TIOCSPGRP", 0x5413: "TIOCGWINSZ", 0x5414: "TIOCSWINSZ", 0x541B: "FIONREAD",
                  0x5421: "FIONBIO", 0x5422: "TIOCNOTTY", 0x5429: "TIOCGSID", 0x5450: "FIONCLEX", 0x5451: "FIOCLEX",
                  0x5409: "TCSBRK", 0x540A: "TCXONC", 0x540B: "TCFLSH", 0x5411: "TIOCOUTQ", 0x5441: "TIOCGPTPEER",
                  0x802c542a: "TCGETS2", 0x402c542b: "TCSETS2", 0x80045430: "TIOCGPTN", 0x40045431: "TIOCSPTLCK",
                  0x80045439: "TIOCGPTLCK", 0x8905: "SIOCATMARK", 0x8912: "SIOCGIFCONF", 0x8913: "SIOCGIFFLAGS",
                  0x8915: "SIOCGIFADDR", 0x8933: "SIOCGIFINDEX", 0x80086601: "FS_IOC_GETFLAGS", 0x40086602: "FS_IOC_SETFLAGS",
                  0x40049409: "FICLONE", 0x4020940d: "FICLONERANGE", 0x5452: "FIOASYNC",
                  0x4C00: "LOOP_SET_FD", 0x4C01: "LOOP_CLR_FD", 0x4C02: "LOOP_SET_STATUS", 0x4C03: "LOOP_GET_STATUS",
                  0x4C04: "LOOP_SET_STATUS64", 0x4C05: "LOOP_GET_STATUS64", 0x4C06: "LOOP_CHANGE_FD",
                  0x4C07: "LOOP_SET_CAPACITY", 0x4C08: "LOOP_SET_DIRECT_IO", 0x4C09: "LOOP_SET_BLOCK_SIZE",
                  0x4C0A: "LOOP_CONFIGURE", 0x4C80: "LOOP_CTL_ADD", 0x4C81: "LOOP_CTL_REMOVE", 0x4C82: "LOOP_CTL_GET_FREE",
                  0x125D: "BLKROSET", 0x125E: "BLKROGET", 0x125F: "BLKRRPART", 0x1260: "BLKGETSIZE", 0x1261: "BLKFLSBUF",
                  0x1262: "BLKRASET", 0x1263: "BLKRAGET", 0x1267: "BLKSECTGET", 0x1268: "BLKSSZGET",
                  0x80081270: "BLKBSZGET", 0x40081271: "BLKBSZSET", 0x80081272: "BLKGETSIZE64", 0x1277: "BLKDISCARD",
                  0x1278: "BLKIOMIN", 0x1279: "BLKIOOPT", 0x127A: "BLKALIGNOFF", 0x127B: "BLKPBSZGET",
                  0x127C: "BLKDISCARDZEROES", 0x127D: "BLKSECDISCARD", 0x127E: "BLKROTATIONAL", 0x127F: "BLKZEROOUT",
                  0x80081280: "BLKGETDISKSEQ"],
        "family": [0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET"],
        "itimer": [0: "ITIMER_REAL", 1: "ITIMER_VIRTUAL", 2: "ITIMER_PROF"],
        "idtype": [0: "P_ALL", 1: "P_PID", 2: "P_PGID", 3: "P_PIDFD"],
        "shutdown": [0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"],
        "epoll_ctl": [1: "EPOLL_CTL_ADD", 2: "EPOLL_CTL_DEL", 3: "EPOLL_CTL_MOD"],
        "sockopt_level": [0: "SOL_IP", 1: "SOL_SOCKET", 6: "SOL_TCP", 17: "SOL_UDP", 41: "SOL_IPV6", 58: "SOL_ICMPV6",
                          136: "SOL_UDPLITE", 255: "SOL_RAW", 270: "SOL_NETLINK"],
        // An option's name is its level's (setsockopt and getsockopt pick the table by level).
        "sockopt_ip": [1: "IP_TOS", 2: "IP_TTL", 3: "IP_HDRINCL", 4: "IP_OPTIONS", 6: "IP_RECVOPTS", 7: "IP_RETOPTS",
                       8: "IP_PKTINFO", 10: "IP_MTU_DISCOVER", 11: "IP_RECVERR", 12: "IP_RECVTTL", 13: "IP_RECVTOS",
                       14: "IP_MTU", 15: "IP_FREEBIND", 19: "IP_TRANSPARENT", 24: "IP_BIND_ADDRESS_NO_PORT",
                       32: "IP_MULTICAST_IF", 33: "IP_MULTICAST_TTL", 34: "IP_MULTICAST_LOOP",
                       35: "IP_ADD_MEMBERSHIP", 36: "IP_DROP_MEMBERSHIP"],
        "sockopt_tcp": [1: "TCP_NODELAY", 2: "TCP_MAXSEG", 3: "TCP_CORK", 4: "TCP_KEEPIDLE", 5: "TCP_KEEPINTVL",
                        6: "TCP_KEEPCNT", 7: "TCP_SYNCNT", 8: "TCP_LINGER2", 9: "TCP_DEFER_ACCEPT", 10: "TCP_WINDOW_CLAMP",
                        11: "TCP_INFO", 12: "TCP_QUICKACK", 13: "TCP_CONGESTION", 18: "TCP_USER_TIMEOUT",
                        23: "TCP_FASTOPEN", 25: "TCP_NOTSENT_LOWAT", 30: "TCP_FASTOPEN_CONNECT", 36: "TCP_INQ"],
        "sockopt_ipv6": [16: "IPV6_UNICAST_HOPS", 17: "IPV6_MULTICAST_IF", 18: "IPV6_MULTICAST_HOPS",
                         19: "IPV6_MULTICAST_LOOP", 20: "IPV6_ADD_MEMBERSHIP", 21: "IPV6_DROP_MEMBERSHIP",
                         23: "IPV6_MTU_DISCOVER", 24: "IPV6_MTU", 25: "IPV6_RECVERR", 26: "IPV6_V6ONLY",
                         49: "IPV6_RECVPKTINFO", 50: "IPV6_PKTINFO", 51: "IPV6_RECVHOPLIMIT", 52: "IPV6_HOPLIMIT",
                         66: "IPV6_RECVTCLASS", 67: "IPV6_TCLASS"],
        "sockopt_udp": [1: "UDP_CORK", 100: "UDP_ENCAP", 103: "UDP_SEGMENT", 104: "UDP_GRO"],
        "sockopt_raw": [1: "ICMP_FILTER"],
        "sockopt_icmpv6": [1: "ICMP6_FILTER"],
        "sockopt": [1: "SO_DEBUG", 2: "SO_REUSEADDR", 3: "SO_TYPE", 4: "SO_ERROR", 5: "SO_DONTROUTE", 6: "SO_BROADCAST",
                    7: "SO_SNDBUF", 8: "SO_RCVBUF", 9: "SO_KEEPALIVE", 10: "SO_OOBINLINE", 12: "SO_PRIORITY", 13: "SO_LINGER",
                    15: "SO_REUSEPORT", 16: "SO_PASSCRED", 17: "SO_PEERCRED", 18: "SO_RCVLOWAT", 19: "SO_SNDLOWAT",
                    20: "SO_RCVTIMEO_OLD", 21: "SO_SNDTIMEO_OLD", 25: "SO_BINDTODEVICE", 26: "SO_ATTACH_FILTER",
                    27: "SO_DETACH_FILTER", 28: "SO_PEERNAME", 29: "SO_TIMESTAMP_OLD", 30: "SO_ACCEPTCONN",
                    32: "SO_SNDBUFFORCE", 33: "SO_RCVBUFFORCE", 35: "SO_TIMESTAMPNS_OLD", 36: "SO_MARK",
                    38: "SO_PROTOCOL", 39: "SO_DOMAIN", 42: "SO_PEEK_OFF", 46: "SO_BUSY_POLL", 49: "SO_INCOMING_CPU",
                    60: "SO_ZEROCOPY"],
    ]

    static func enumeration(_ set: String, _ v: UInt64) -> String {
        var value = v
        if set == "futex_op" { value &= 0x7f | 128 }
        if set != "ioctl" && set != "prctl" && set != "arch_prctl" { value = UInt64(UInt32(truncatingIfNeeded: value)) }
        if let name = enums[set]?[value] {
            if set == "futex_op" && v & 256 != 0 { return name + "|FUTEX_CLOCK_REALTIME" }
            return name
        }
        if set == "ioctl" { return "0x" + String(v, radix: 16) }
        if let prefix = ["landlock_rule_type": "LANDLOCK_RULE", "arch_prctl": "ARCH", "prctl": "PR", "fcntl": "F", "madvise": "MADV", "rlimit": "RLIMIT", "keyctl": "KEYCTL"][set] {
            return "0x\(String(value, radix: 16)) /* \(prefix)_??? */"
        }
        if set == "reqkey" { return "\(Int32(truncatingIfNeeded: v)) /* KEY_REQKEY_DEFL_??? */" }
        return String(Int32(truncatingIfNeeded: v))
    }
}
