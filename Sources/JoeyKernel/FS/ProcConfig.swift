// /proc/config.gz (IKCONFIG_PROC): the configuration of the kernel the guest runs on, which is
// the sentry. It names the options whose features the sentry implements, and marks "is not
// set" those a program or test suite commonly asks about that it does not; it says nothing of
// the host's kernel. Tools read it to learn what they may use (LTP's tst_kconfig, container
// engines' check-config scripts). Kept with the code: an option is listed here only once its
// feature works, and leaves when the feature does.

enum KernelConfig {
    /// Options the sentry implements, each with what it stands for.
    static let set: [(String, String)] = [
        ("64BIT", "x86-64 guests"), ("X86_64", "x86-64 guests"), ("MMU", "virtual memory"),
        ("MULTIUSER", "user and group ids"), ("BINFMT_ELF", "ELF programs"), ("BINFMT_SCRIPT", "#! scripts"),
        ("COREDUMP", "core dumps (Task/CoreDump.swift)"), ("ELF_CORE", "ELF core files"),
        ("FUTEX", "futexes, PI and robust ones"), ("POSIX_TIMERS", "timer_create and friends"),
        ("EPOLL", "epoll"), ("SIGNALFD", "signalfd"), ("TIMERFD", "timerfd"), ("EVENTFD", "eventfd"),
        ("SHMEM", "shared memory"), ("TMPFS", "tmpfs"), ("MEMFD_CREATE", "memfd_create and seals"),
        ("ADVISE_SYSCALLS", "madvise, fadvise"), ("MEMBARRIER", "membarrier"),
        ("CROSS_MEMORY_ATTACH", "process_vm_readv/writev"), ("FILE_LOCKING", "flock, POSIX and OFD locks"),
        ("SYSVIPC", "System V IPC"), ("POSIX_MQUEUE", "POSIX message queues"),
        ("NAMESPACES", "namespaces"), ("UTS_NS", "UTS namespaces"), ("IPC_NS", "IPC namespaces"),
        ("PID_NS", "PID namespaces"), ("USER_NS", "user namespaces"), ("NET_NS", "network namespaces"), ("TIME_NS", "time namespaces"), ("SECCOMP", "seccomp"), ("SECCOMP_FILTER", "seccomp BPF filters"),
        ("INOTIFY_USER", "inotify"), ("DNOTIFY", "F_NOTIFY"), ("PROC_FS", "/proc"),
        ("NET", "sockets"), ("INET", "IPv4"), ("IPV6", "IPv6"), ("UNIX", "unix sockets"),
        ("FHANDLE", "name_to_handle_at, open_by_handle_at"),
        ("KEYS", "keyrings: add_key, request_key, keyctl (Keys/)"), ("PERSISTENT_KEYRINGS", "KEYCTL_GET_PERSISTENT"),
        ("CHECKPOINT_RESTORE", "kernel.msg_next_id/sem_next_id/shm_next_id, MSG_COPY, ns_last_pid, /proc/PID/timers, TFD_IOC_SET_TICKS, kcmp (no PR_SET_MM, no /proc/PID/map_files)"),
        ("KCMP", "kcmp"), ("AIO", "io_setup and friends (FS/AsyncIO.swift)"), ("IKCONFIG", "this file"), ("IKCONFIG_PROC", "this file"),
        ("BLK_DEV", "block devices: loop devices only"), ("BLK_DEV_LOOP", "loop devices (FS/Loop.swift)"),
    ]

    /// Options asked about that the sentry does not implement.
    static let unset: [String] = [
        "IO_URING", "USERFAULTFD",
        "BPF_SYSCALL", "PERF_EVENTS", "BIG_KEYS", "KEY_DH_OPERATIONS", "ENCRYPTED_KEYS", "TRUSTED_KEYS",
        "ASYMMETRIC_KEY_TYPE", "KEY_NOTIFICATIONS", "USER_DECRYPTED_DATA", "FANOTIFY", "RSEQ", "BSD_PROCESS_ACCT",
        "HUGETLBFS", "MODULES", "KEXEC", "AUDIT", "SECURITY_LANDLOCK",
    ]

    static var text: String {
        var s = "#\n# Automatically generated file; DO NOT EDIT.\n"
        s += "# Linux/x86_64 \(Kernel.release) Kernel Configuration (Joey's sentry)\n#\n"
        for (name, _) in set { s += "CONFIG_\(name)=y\n" }
        for name in unset { s += "# CONFIG_\(name) is not set\n" }
        return s
    }

    /// `text` gzipped (RFC 1952), its deflate data in stored blocks: what gunzip and zlib
    /// read, with no compressor to carry.
    static var gzip: [UInt8] {
        let data = Array(text.utf8)
        var out: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3] // magic, deflate, no flags or time, Unix
        var at = 0
        repeat {
            let n = min(data.count - at, 0xffff)
            let final: UInt8 = at + n == data.count ? 1 : 0
            out.append(final) // BFINAL, BTYPE 00 (stored), then byte-aligned
            out += [UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
            out += data[at..<at + n]
            at += n
        } while at < data.count
        for v in [crc32(data), UInt32(truncatingIfNeeded: data.count)] {
            out += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)]
        }
        return out
    }

    /// CRC-32 (ISO 3309, reflected, as gzip's trailer has it).
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
