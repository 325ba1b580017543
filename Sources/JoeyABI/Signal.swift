/// Linux signal numbers (x86-64) and their default actions.
public enum Signal {
    public static let SIGHUP: Int32 = 1, SIGINT: Int32 = 2, SIGQUIT: Int32 = 3, SIGILL: Int32 = 4
    public static let SIGTRAP: Int32 = 5, SIGABRT: Int32 = 6, SIGBUS: Int32 = 7, SIGFPE: Int32 = 8
    public static let SIGKILL: Int32 = 9, SIGUSR1: Int32 = 10, SIGSEGV: Int32 = 11, SIGUSR2: Int32 = 12
    public static let SIGPIPE: Int32 = 13, SIGALRM: Int32 = 14, SIGTERM: Int32 = 15, SIGSTKFLT: Int32 = 16
    public static let SIGCHLD: Int32 = 17, SIGCONT: Int32 = 18, SIGSTOP: Int32 = 19, SIGTSTP: Int32 = 20
    public static let SIGTTIN: Int32 = 21, SIGTTOU: Int32 = 22, SIGURG: Int32 = 23, SIGXCPU: Int32 = 24
    public static let SIGXFSZ: Int32 = 25, SIGVTALRM: Int32 = 26, SIGPROF: Int32 = 27, SIGWINCH: Int32 = 28
    public static let SIGIO: Int32 = 29, SIGPWR: Int32 = 30, SIGSYS: Int32 = 31

    public enum DefaultAction { case terminate, core, ignore, stop, `continue` }

    public static func defaultAction(_ sig: Int32) -> DefaultAction {
        switch sig {
        case SIGCHLD, SIGURG, SIGWINCH: return .ignore
        case SIGCONT: return .continue
        case SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU: return .stop
        case SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGXCPU, SIGXFSZ, SIGSYS: return .core
        default: return .terminate
        }
    }

    public static let names: [Int32: String] = [
        1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
        8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
        14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP",
        20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ",
        26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
    ]
}
