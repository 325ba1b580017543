/// How one syscall argument is read, for strace-style decoding. Generated tables
/// (SyscallTable.swift) describe every x86-64 syscall with these; see syscalls/README.md.
public enum ArgKind: Sendable, Equatable {
    case fd, dirfd, path, str
    /// Bytes the kernel reads; the length is in argument N.
    case bufIn(Int)
    /// Bytes the kernel writes; the length is the return value.
    case bufOut(Int)
    case int, uint, long, ulong, size, off, hex, ptr, mode
    case flags(String)
    case enumeration(String)
    case signal, pid, uid, gid
    /// A sigset_t pointer; the size is in argument N when there is one.
    case sigset(Int?)
    case argv, envp
    /// A pointer to a struct the kernel reads (input), writes (output) or both; the Int is a
    /// count or length argument index where the struct needs one (iovec:N, sockaddr:N).
    case input(String, Int?)
    case output(String, Int?)
    case inputOutput(String, Int?)

    /// Whether the value is only known after the call returns.
    public var isOutput: Bool {
        switch self {
        case .bufOut, .output, .inputOutput: return true
        default: return false
        }
    }
}

public enum ReturnKind: Sendable, Equatable {
    case int, fd, pid, hex, size, none, uid, gid, mode
}

/// Joey's support level for a syscall.
public enum SupportStatus: String, Sendable {
    case supported, partial, unsupported
}

public struct SyscallInfo: Sendable {
    public let number: Int
    public let name: String
    public let args: [(name: String, kind: ArgKind)]
    public let ret: ReturnKind
    public let status: SupportStatus
    public let note: String

    public init(_ number: Int, _ name: String, _ args: [(name: String, kind: ArgKind)], _ ret: ReturnKind,
                _ status: SupportStatus, _ note: String) {
        self.number = number; self.name = name; self.args = args; self.ret = ret; self.status = status; self.note = note
    }
}
