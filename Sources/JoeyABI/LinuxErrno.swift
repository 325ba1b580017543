// JoeyABI: the Linux x86-64 ABI as the guest sees it — errno values, syscall numbers,
// flags and struct layouts. No behaviour lives here.

/// A guest-facing error: a Linux errno value (including the kernel-internal restart codes).
public struct LinuxErrno: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(_ raw: Int32) { rawValue = raw }

    public static let EPERM = LinuxErrno(1)
    public static let ENOENT = LinuxErrno(2)
    public static let ESRCH = LinuxErrno(3)
    public static let EINTR = LinuxErrno(4)
    public static let EIO = LinuxErrno(5)
    public static let ENXIO = LinuxErrno(6)
    public static let E2BIG = LinuxErrno(7)
    public static let ENOEXEC = LinuxErrno(8)
    public static let EBADF = LinuxErrno(9)
    public static let ECHILD = LinuxErrno(10)
    public static let EAGAIN = LinuxErrno(11)
    public static let ENOMEM = LinuxErrno(12)
    public static let EACCES = LinuxErrno(13)
    public static let EFAULT = LinuxErrno(14)
    public static let EBUSY = LinuxErrno(16)
    public static let EEXIST = LinuxErrno(17)
    public static let EXDEV = LinuxErrno(18)
    public static let ENODEV = LinuxErrno(19)
    public static let ENOTDIR = LinuxErrno(20)
    public static let EISDIR = LinuxErrno(21)
    public static let EINVAL = LinuxErrno(22)
    public static let ENFILE = LinuxErrno(23)
    public static let EMFILE = LinuxErrno(24)
    public static let ENOTTY = LinuxErrno(25)
    public static let ETXTBSY = LinuxErrno(26)
    public static let EFBIG = LinuxErrno(27)
    public static let ENOSPC = LinuxErrno(28)
    public static let ESPIPE = LinuxErrno(29)
    public static let EROFS = LinuxErrno(30)
    public static let EMLINK = LinuxErrno(31)
    public static let EPIPE = LinuxErrno(32)
    public static let EDOM = LinuxErrno(33)
    public static let ERANGE = LinuxErrno(34)
    public static let EDEADLK = LinuxErrno(35)
    public static let ENAMETOOLONG = LinuxErrno(36)
    public static let ENOLCK = LinuxErrno(37)
    public static let ENOSYS = LinuxErrno(38)
    public static let ENOTEMPTY = LinuxErrno(39)
    public static let ELOOP = LinuxErrno(40)
    public static let ENOMSG = LinuxErrno(42)
    public static let EIDRM = LinuxErrno(43)
    public static let ENODATA = LinuxErrno(61)
    public static let ELIBBAD = LinuxErrno(80)
    public static let EOVERFLOW = LinuxErrno(75)
    public static let EBADFD = LinuxErrno(77)
    public static let EUSERS = LinuxErrno(87)
    public static let ENOTSOCK = LinuxErrno(88)
    public static let EOPNOTSUPP = LinuxErrno(95)
    public static let EAFNOSUPPORT = LinuxErrno(97)
    public static let ETIMEDOUT = LinuxErrno(110)
    public static let EDESTADDRREQ = LinuxErrno(89)
    public static let EMSGSIZE = LinuxErrno(90)
    public static let EPROTOTYPE = LinuxErrno(91)
    public static let ENOPROTOOPT = LinuxErrno(92)
    public static let EPROTONOSUPPORT = LinuxErrno(93)
    public static let ESOCKTNOSUPPORT = LinuxErrno(94)
    public static let EADDRINUSE = LinuxErrno(98)
    public static let EADDRNOTAVAIL = LinuxErrno(99)
    public static let ENETUNREACH = LinuxErrno(101)
    public static let ECONNRESET = LinuxErrno(104)
    public static let ENOBUFS = LinuxErrno(105)
    public static let EISCONN = LinuxErrno(106)
    public static let ENOTCONN = LinuxErrno(107)
    public static let ECONNREFUSED = LinuxErrno(111)
    public static let EALREADY = LinuxErrno(114)
    public static let EINPROGRESS = LinuxErrno(115)
    public static let ESTALE = LinuxErrno(116)
    public static let EDQUOT = LinuxErrno(122)
    public static let ECANCELED = LinuxErrno(125)
    // The key retention service's.
    public static let ENOKEY = LinuxErrno(126)
    public static let EKEYEXPIRED = LinuxErrno(127)
    public static let EKEYREVOKED = LinuxErrno(128)
    // Kernel-internal restart codes; never seen by the guest.
    public static let ERESTARTSYS = LinuxErrno(512)
    public static let ERESTARTNOINTR = LinuxErrno(513)
    public static let ERESTARTNOHAND = LinuxErrno(514)
    /// Made again as restart_syscall (GuestThread.restartBlock) unless a handler runs.
    public static let ERESTART_RESTARTBLOCK = LinuxErrno(516)

    public var description: String { Self.names[rawValue] ?? "E\(rawValue)" }

    static let names: [Int32: String] = [
        1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG",
        8: "ENOEXEC", 9: "EBADF", 10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES",
        14: "EFAULT", 16: "EBUSY", 17: "EEXIST", 18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR",
        21: "EISDIR", 22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 25: "ENOTTY", 26: "ETXTBSY",
        27: "EFBIG", 28: "ENOSPC", 29: "ESPIPE", 30: "EROFS", 31: "EMLINK", 32: "EPIPE",
        33: "EDOM", 34: "ERANGE", 35: "EDEADLK", 36: "ENAMETOOLONG", 37: "ENOLCK", 38: "ENOSYS",
        39: "ENOTEMPTY", 40: "ELOOP", 42: "ENOMSG", 43: "EIDRM", 61: "ENODATA", 80: "ELIBBAD", 75: "EOVERFLOW", 77: "EBADFD", 87: "EUSERS", 88: "ENOTSOCK",
        89: "EDESTADDRREQ", 90: "EMSGSIZE", 91: "EPROTOTYPE", 92: "ENOPROTOOPT", 93: "EPROTONOSUPPORT",
        94: "ESOCKTNOSUPPORT", 95: "EOPNOTSUPP", 97: "EAFNOSUPPORT", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL",
        101: "ENETUNREACH", 104: "ECONNRESET", 105: "ENOBUFS", 106: "EISCONN", 107: "ENOTCONN",
        110: "ETIMEDOUT", 111: "ECONNREFUSED", 114: "EALREADY", 115: "EINPROGRESS",
        116: "ESTALE", 122: "EDQUOT", 125: "ECANCELED", 126: "ENOKEY", 127: "EKEYEXPIRED", 128: "EKEYREVOKED",
        512: "ERESTARTSYS", 513: "ERESTARTNOINTR", 514: "ERESTARTNOHAND", 516: "ERESTART_RESTARTBLOCK",
    ]
}
