// Syscall dispatch: number -> handler. A handler reads its arguments from the registers,
// validates them, and returns the result or throws the Linux errno.
import Glibc
import JoeyABI
import JoeyPlatform

extension GuestThread {
    var a0: UInt64 { regs.rdi }
    var a1: UInt64 { regs.rsi }
    var a2: UInt64 { regs.rdx }
    var a3: UInt64 { regs.r10 }
    var a4: UInt64 { regs.r8 }
    var a5: UInt64 { regs.r9 }
    /// An fd argument: the low 32 bits, as Linux reads `int fd`.
    func fdArg(_ v: UInt64) -> Int32 { Int32(truncatingIfNeeded: v) }

    func handleSyscall() {
        let nr = Int(regs.orig_rax)
        registersReplaced = false
        kernel.current = self
        let result: Int64
        do {
            result = Int64(bitPattern: try dispatch(nr))
        } catch {
            result = -Int64(error.rawValue)
        }
        if kernel.logSyscalls {
            kernel.debugLog("[pid \(tid)] \(SyscallNames.name(nr))(\(hex(a0)), \(hex(a1)), \(hex(a2))) = \(result < 0 && result > -4096 ? "-1 \(LinuxErrno(Int32(-result)))" : hex(UInt64(bitPattern: result)))")
        }
        if !registersReplaced {
            regs.rax = UInt64(bitPattern: result)
            if result <= -512 && result >= -514 { syscallRestartable = true }
        }
    }

    private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

    func dispatch(_ nr: Int) throws(LinuxErrno) -> UInt64 {
        switch nr {
        case 0: return try sysRead()
        case 1: return try sysWrite()
        case 2: return try sysOpen()
        case 3: return try sysClose()
        case 4: return try sysStat(follow: true)
        case 5: return try sysFstat()
        case 6: return try sysStat(follow: false)
        case 7: return try sysPoll()
        case 8: return try sysLseek()
        case 9: return try sysMmap()
        case 10: return try sysMprotect()
        case 11: return try sysMunmap()
        case 12: return try sysBrk()
        case 13: return try sysRtSigaction()
        case 14: return try sysRtSigprocmask()
        case 15: try signalReturn(); return 0
        case 16: return try sysIoctl()
        case 17: return try sysPread()
        case 18: return try sysPwrite()
        case 19: return try sysReadv()
        case 20: return try sysWritev()
        case 21: return try sysAccess()
        case 22: return try sysPipe2(flagsArg: 0)
        case 23: return try sysSelect()
        case 24: return 0 // sched_yield
        case 25: return try sysMremap()
        case 26: return try sysMsync()
        case 27: return try sysMincore()
        case 28: return try sysMadvise()
        case 32: return try sysDup()
        case 33: return try sysDup2()
        case 34: return try sysPause()
        case 35: return try sysNanosleep()
        case 37: return try sysAlarm()
        case 39: return UInt64(group.pid)
        case 56: return try sysClone(flags: a0, stack: a1, parentTid: a2, childTid: a3, tls: a4)
        case 57: return try sysClone(flags: UInt64(Signal.SIGCHLD), stack: 0, parentTid: 0, childTid: 0, tls: 0)
        case 58: return try sysClone(flags: 0x4000 | 0x100 | UInt64(Signal.SIGCHLD), stack: 0, parentTid: 0, childTid: 0, tls: 0)
        case 59: return try sysExecve(dirfd: Int32(truncatingIfNeeded: -100), pathArg: a0, argvArg: a1, envpArg: a2, flags: 0)
        case 60: return try sysExit()
        case 61: return try sysWait4()
        case 62: return try sysKill()
        case 63: return try sysUname()
        case 72: return try sysFcntl()
        case 74, 75: _ = try group.fdTable.get(fdArg(a0)); return 0 // fsync, fdatasync
        case 76: return try sysTruncate()
        case 77: return try sysFtruncate()
        case 79: return try sysGetcwd()
        case 80: return try sysChdir()
        case 81: return try sysFchdir()
        case 82: return try sysRenameat2(olddir: -100, oldArg: a0, newdir: -100, newArg: a1, flags: 0)
        case 83: return try sysMkdirat(dirfd: -100, pathArg: a0, mode: a1)
        case 84: return try sysUnlinkat(dirfd: -100, pathArg: a0, flags: 0x200)
        case 85: return try sysOpenat(dirfd: -100, pathArg: a0, flags: a1 | UInt64(O_CREAT | O_WRONLY | O_TRUNC), mode: a2)
        case 86: return try sysLinkat(olddir: -100, oldArg: a0, newdir: -100, newArg: a1, flags: 0)
        case 87: return try sysUnlinkat(dirfd: -100, pathArg: a0, flags: 0)
        case 88: return try sysSymlinkat(targetArg: a0, dirfd: -100, pathArg: a1)
        case 89: return try sysReadlinkat(dirfd: -100, pathArg: a0, buf: a1, size: a2)
        case 90: return try sysFchmodat(dirfd: -100, pathArg: a0, mode: a1)
        case 91: return try sysFchmod()
        case 92: return try sysFchownat(dirfd: -100, pathArg: a0, uid: a1, gid: a2, flags: 0)
        case 93: return try sysFchown()
        case 94: return try sysFchownat(dirfd: -100, pathArg: a0, uid: a1, gid: a2, flags: 0x100)
        case 95: let old = group.fs.umask; group.fs.umask = UInt32(a0 & 0o777); return UInt64(old)
        case 96: return try sysGettimeofday()
        case 97: return try sysGetrlimit()
        case 98: return try sysGetrusage()
        case 99: return try sysSysinfo()
        case 100: return try sysTimes()
        case 102: return UInt64(group.uid)
        case 104: return UInt64(group.gid)
        case 105, 106: return try sysSetid(nr)
        case 107: return UInt64(group.euid)
        case 108: return UInt64(group.egid)
        case 109: return try sysSetpgid()
        case 110: return UInt64(group.parent?.pid ?? 0)
        case 111: return UInt64(group.pgid)
        case 112: return try sysSetsid()
        case 113, 114, 117, 119: return try sysSetid(nr)
        case 115: return try sysGetgroups()
        case 116: return try sysSetgroups()
        case 118: return try sysGetres(uid: true)
        case 120: return try sysGetres(uid: false)
        case 121: return try sysGetpgid()
        case 122, 123: return UInt64(nr == 122 ? group.euid : group.egid) // setfsuid/setfsgid report the old value
        case 124: return try sysGetsid()
        case 127: return try sysRtSigpending()
        case 130: return try sysRtSigsuspend()
        case 131: return try sysSigaltstack()
        case 132: return try sysUtimensat(dirfd: -100, pathArg: a0, times: 0, flags: 0, utimbuf: a1)
        case 133: return try sysMknodat(dirfd: -100, pathArg: a0, mode: a1, dev: a2)
        case 137, 138: return try sysStatfs(nr)
        case 157: return try sysPrctl()
        case 158: return try sysArchPrctl()
        case 160: return try sysSetrlimit()
        case 161: return try sysChroot()
        case 162: return 0 // sync
        case 170: return try sysSethostname()
        case 186: return UInt64(tid)
        case 188, 189, 190: return try sysSetxattr(nr)
        case 191, 192, 193: return try sysGetxattr(nr)
        case 194, 195, 196: return try sysListxattr(nr)
        case 197, 198, 199: return try sysRemovexattr(nr)
        case 200: return try sysTkill(tgid: nil, tid: a0, sig: a1)
        case 201: return try sysTime()
        case 202: return try sysFutex()
        case 204: return try sysSchedGetaffinity()
        case 217: return try sysGetdents64()
        case 218: clearChildTID = a0; return UInt64(tid)
        case 228: return try sysClockGettime()
        case 229: return try sysClockGetres()
        case 230: return try sysClockNanosleep()
        case 231: return try sysExitGroup()
        case 234: return try sysTkill(tgid: a0, tid: a1, sig: a2)
        case 235: return try sysUtimensat(dirfd: -100, pathArg: a0, times: 0, flags: 0, utimbuf: a1, timeval: true)
        case 247: return try sysWaitid()
        case 257: return try sysOpenat(dirfd: fdArg(a0), pathArg: a1, flags: a2, mode: a3)
        case 258: return try sysMkdirat(dirfd: fdArg(a0), pathArg: a1, mode: a2)
        case 259: return try sysMknodat(dirfd: fdArg(a0), pathArg: a1, mode: a2, dev: a3)
        case 260: return try sysFchownat(dirfd: fdArg(a0), pathArg: a1, uid: a2, gid: a3, flags: a4)
        case 262: return try sysNewfstatat()
        case 263: return try sysUnlinkat(dirfd: fdArg(a0), pathArg: a1, flags: a2)
        case 264: return try sysRenameat2(olddir: fdArg(a0), oldArg: a1, newdir: fdArg(a2), newArg: a3, flags: 0)
        case 265: return try sysLinkat(olddir: fdArg(a0), oldArg: a1, newdir: fdArg(a2), newArg: a3, flags: a4)
        case 266: return try sysSymlinkat(targetArg: a0, dirfd: fdArg(a1), pathArg: a2)
        case 267: return try sysReadlinkat(dirfd: fdArg(a0), pathArg: a1, buf: a2, size: a3)
        case 268: return try sysFchmodat(dirfd: fdArg(a0), pathArg: a1, mode: a2)
        case 269: return try sysFaccessat(dirfd: fdArg(a0), pathArg: a1, mode: a2, flags: 0)
        case 270: return try sysPselect6()
        case 271: return try sysPpoll()
        case 273: // set_robust_list: recorded; the exit-time walk of the list comes with threads
            guard a1 == 24 else { throw .EINVAL }
            robustList = a0
            return 0
        case 280: return try sysUtimensat(dirfd: fdArg(a0), pathArg: a1, times: a2, flags: a3, utimbuf: 0)
        case 292: return try sysDup3()
        case 293: return try sysPipe2(flagsArg: a1)
        case 302: return try sysPrlimit64()
        case 316: return try sysRenameat2(olddir: fdArg(a0), oldArg: a1, newdir: fdArg(a2), newArg: a3, flags: a4)
        case 318: return try sysGetrandom()
        case 322: return try sysExecve(dirfd: fdArg(a0), pathArg: a1, argvArg: a2, envpArg: a3, flags: a4)
        case 332: return try sysStatx()
        case 435: return try sysClone3()
        case 436: return try sysCloseRange()
        case 439: return try sysFaccessat(dirfd: fdArg(a0), pathArg: a1, mode: a2, flags: a3)
        default:
            kernel.reportUnimplemented(nr)
            throw .ENOSYS
        }
    }
}
