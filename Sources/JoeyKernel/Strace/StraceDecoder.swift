// Argument decoding for strace mode: numbers, strings (quoted and cut at 32 bytes like
// strace), flag sets and enums by name, and the common structs.
import Glibc
import JoeyABI
import JoeyPlatform

struct StraceDecoder {
    let thread: GuestThread
    var syscall = ""
    var mm: MemoryManager { thread.mm }
    var regs: GuestRegisters { thread.regs }

    func raw(_ i: Int) -> UInt64 {
        switch i {
        case 0: return regs.rdi
        case 1: return regs.rsi
        case 2: return regs.rdx
        case 3: return regs.r10
        case 4: return regs.r8
        default: return regs.r9
        }
    }

    static func pointer(_ v: UInt64) -> String { v == 0 ? "NULL" : "0x" + String(v, radix: 16) }

    /// A C-style quoted string; `limit` bytes at most, then "..." (strace -s 32).
    /// Non-printable bytes become octal escapes, as short as the next character allows
    /// (strace's default); `hex` escapes every byte (strace does so for random data).
    static func quote(_ bytes: [UInt8], limit: Int?, complete: Bool = true, hex: Bool = false) -> String {
        let shown = limit.map { Array(bytes.prefix($0)) } ?? bytes
        var s = "\""
        for (i, c) in shown.enumerated() {
            if hex { s += "\\x" + String(c, radix: 16).leftPadded(2); continue }
            switch c {
            case 0x22: s += "\\\""
            case 0x5c: s += "\\\\"
            case 0x0a: s += "\\n"
            case 0x09: s += "\\t"
            case 0x0d: s += "\\r"
            case 0x0c: s += "\\f"
            case 0x0b: s += "\\v"
            case 0x20...0x7e: s += String(UnicodeScalar(c))
            default:
                let nextIsDigit = i + 1 < shown.count && (0x30...0x37).contains(shown[i + 1])
                s += "\\" + (nextIsDigit ? String(c, radix: 8).leftPadded(3) : String(c, radix: 8))
            }
        }
        s += "\""
        if let limit, bytes.count > limit || !complete { s += "..." }
        return s
    }

    func string(_ addr: UInt64, limit: Int?) -> String {
        guard addr != 0 else { return "NULL" }
        guard let bytes = try? mm.readCString(addr, max: 4096) else { return StraceDecoder.pointer(addr) }
        return StraceDecoder.quote(bytes, limit: limit)
    }

    func buffer(_ addr: UInt64, count: Int) -> String {
        guard count >= 0, addr != 0 else { return StraceDecoder.pointer(addr) }
        guard let bytes = try? mm.read(addr, count: min(count, 32)) else { return StraceDecoder.pointer(addr) }
        return StraceDecoder.quote(bytes, limit: 32, complete: count <= 32, hex: syscall == "getrandom")
    }

    func decode(_ kind: ArgKind, index: Int, args: [(name: String, kind: ArgKind)], result: Int64?) -> String {
        let v = raw(index)
        let failed = result.map { $0 < 0 && $0 > -4096 } ?? false
        switch kind {
        case .fd, .int, .pid: return String(Int32(truncatingIfNeeded: v))
        case .dirfd:
            let fd = Int32(truncatingIfNeeded: v)
            return fd == -100 ? "AT_FDCWD" : String(fd)
        case .uid, .gid:
            let x = UInt32(truncatingIfNeeded: v)
            return x == UInt32.max ? "-1" : String(x)
        case .path: return string(v, limit: nil)
        case .str: return string(v, limit: 32)
        case .bufIn(let n): return buffer(v, count: Int(clamping: Int64(bitPattern: raw(n))))
        case .bufOut:
            guard let result, !failed else { return StraceDecoder.pointer(v) }
            if syscall == "getcwd" { return string(v, limit: nil) }
            return buffer(v, count: Int(result))
        case .uint: return String(UInt32(truncatingIfNeeded: v))
        case .long, .off: return String(Int64(bitPattern: v))
        case .ulong, .size: return String(v)
        case .ptr: return StraceDecoder.pointer(v)
        case .hex: return v == 0 ? "0" : "0x" + String(v, radix: 16)
        case .mode: return StraceDecoder.mode(UInt32(truncatingIfNeeded: v))
        case .flags(let set): return StraceFlags.flags(set, v)
        case .enumeration("sockopt"):
            let byLevel: [UInt64: String] = [0: "sockopt_ip", 6: "sockopt_tcp", 17: "sockopt_udp", 41: "sockopt_ipv6", 58: "sockopt_icmpv6", 255: "sockopt_raw"]
            return StraceFlags.enumeration(byLevel[raw(1) & 0xffff_ffff] ?? "sockopt", v)
        case .enumeration(let set): return StraceFlags.enumeration(set, v)
        case .signal: return Signal.names[Int32(truncatingIfNeeded: v)] ?? String(Int32(truncatingIfNeeded: v))
        case .sigset: return v == 0 ? "NULL" : sigset(v)
        case .argv: return argv(v)
        case .envp:
            let n = (try? mm.readStringArray(v).count) ?? 0
            return "\(StraceDecoder.pointer(v)) /* \(n) vars */"
        case .input(let s, let n):
            return structure(s, v, count: n.map { Int(clamping: Int64(bitPattern: raw($0))) }, written: false)
        case .output(let s, let n), .inputOutput(let s, let n):
            // wait4 writes the status only when it reaped a child.
            if failed || v == 0 || (syscall == "wait4" && result == 0) { return StraceDecoder.pointer(v) }
            var count = n.map { Int(clamping: Int64(bitPattern: raw($0))) }
            if s == "dirents" || s == "epoll_events" { count = Int(result ?? 0) }
            return structure(s, v, count: count, written: true, result: result)
        }
    }

    static func arguments(_ info: SyscallInfo?) -> [(name: String, kind: ArgKind)] {
        info?.args ?? (0..<6).map { (name: "arg\($0)", kind: ArgKind.hex) }
    }

    /// Calls strace prints in a shape of their own (decoded at entry).
    func specialEntry(_ number: Int) -> String? {
        switch number {
        case 56: // clone(child_stack=..., flags=..., parent_tid=..., child_tidptr=..., tls=...)
            let flags = raw(0)
            var parts = ["child_stack=\(StraceDecoder.pointer(raw(1)))", "flags=\(StraceFlags.flags("clone", flags))"]
            if flags & 0x100000 != 0 { parts.append("parent_tid=\(StraceDecoder.pointer(raw(2)))") }
            if flags & 0x1200000 != 0 { parts.append("child_tidptr=\(StraceDecoder.pointer(raw(3)))") }
            if flags & 0x80000 != 0 { parts.append("tls=\(StraceDecoder.pointer(raw(4)))") }
            return parts.joined(separator: ", ")
        case 15: // rt_sigreturn({mask=[...]}): the mask saved in the frame being returned from
            let mask = try? mm.readValue(regs.rsp &- 8 &+ 304, as: UInt64.self)
            return "{mask=\(mask.map(StraceDecoder.sigsetText) ?? "?")}"
        case 2, 257: // open/openat show the mode only when one is used
            let at = number == 257
            let flags = raw(at ? 2 : 1)
            var parts = at ? [decode(.dirfd, index: 0, args: [], result: nil)] : []
            parts += [string(raw(at ? 1 : 0), limit: nil), StraceFlags.flags("open", flags)]
            if flags & 0o100 != 0 || flags & 0o20200000 == 0o20200000 { parts.append(StraceDecoder.mode(UInt32(truncatingIfNeeded: raw(at ? 3 : 2)))) }
            return parts.joined(separator: ", ")
        case 72: // fcntl: the third argument only for commands that take one
            let cmd = Int32(truncatingIfNeeded: raw(1))
            var text = "\(Int32(truncatingIfNeeded: raw(0))), \(StraceFlags.enumeration("fcntl", raw(1)))"
            switch cmd {
            case 0, 1030, 1031: text += ", \(Int32(truncatingIfNeeded: raw(2)))"
            case 2: text += ", " + (raw(2) & 1 != 0 ? "FD_CLOEXEC" : "0")
            case 4: text += ", " + StraceFlags.statusFlags(raw(2))
            case 5, 6, 7, 36, 37, 38: text += ", " + StraceDecoder.pointer(raw(2))
            default: break
            }
            return text
        case 157 where raw(0) == 15: // prctl(PR_SET_NAME, "name")
            return "PR_SET_NAME, " + string(raw(1), limit: 16)
        case 157 where raw(0) == 16: // prctl(PR_GET_NAME, ...) is completed at exit
            return "PR_GET_NAME, "
        case 250:
            return keyctlEntry()
        default:
            return nil
        }
    }

    /// The rest of a specially shaped call, decoded at exit.
    func specialExit(_ number: Int, result: Int64) -> String? {
        if number == 250 { return keyctlExit(result: result) }
        guard number == 157, raw(0) == 16 else { return nil }
        return result < 0 ? StraceDecoder.pointer(raw(1)) : string(raw(1), limit: 16)
    }

    /// A key serial, or the KEY_SPEC_* name of a special one.
    private func keySerial(_ i: Int) -> String { StraceFlags.enumeration("key_spec", raw(i)) }

    /// keyctl's arguments as each operation takes them (strace's keyctl.c); those the kernel
    /// writes (READ, DESCRIBE, GET_SECURITY, CAPABILITIES) come at exit.
    private func keyctlEntry() -> String {
        let op = Int32(truncatingIfNeeded: raw(0))
        var parts = [StraceFlags.enumeration("keyctl", raw(0))]
        let uint = { (i: Int) in String(UInt32(truncatingIfNeeded: self.raw(i))) }
        let id = { (i: Int) in
            let x = UInt32(truncatingIfNeeded: self.raw(i))
            return x == UInt32.max ? "-1" : String(x)
        }
        switch op {
        case 0: parts += [keySerial(1), String(Int32(truncatingIfNeeded: raw(2)))]
        case 1: parts += [string(raw(1), limit: 32)]
        case 2: parts += [keySerial(1), buffer(raw(2), count: Int(clamping: raw(3))), String(raw(3))]
        case 3, 7, 16, 21: parts += [keySerial(1)]
        case 4: parts += [keySerial(1), id(2), id(3)]
        case 5: parts += [keySerial(1), StraceFlags.flags("key_perm", raw(2) & 0xffff_ffff)]
        case 6, 11, 17: return (parts + [keySerial(1), ""]).joined(separator: ", ")
        case 8, 9: parts += [keySerial(1), keySerial(2)]
        case 10: parts += [keySerial(1), string(raw(2), limit: 32), string(raw(3), limit: 32), keySerial(4)]
        case 12: parts += [keySerial(1), buffer(raw(2), count: Int(clamping: raw(3))), String(raw(3)), keySerial(4)]
        case 13: parts += [keySerial(1), uint(2), keySerial(3)]
        case 14: parts += [StraceFlags.enumeration("reqkey", raw(1))]
        case 15: parts += [keySerial(1), uint(2)]
        case 18: break
        case 19:
            let error = LinuxErrno(Int32(truncatingIfNeeded: raw(3)))
            parts += [keySerial(1), uint(2), error.description, keySerial(4)]
        case 20: parts += [keySerial(1), StraceDecoder.pointer(raw(2)), uint(3), keySerial(4)]
        case 22: parts += [id(1), keySerial(2)]
        case 29: parts += [keySerial(1), string(raw(2), limit: 32), string(raw(3), limit: 32)]
        case 30:
            let flags = raw(4) & 0xffff_ffff
            var shown = flags & 1 != 0 ? ["KEYCTL_MOVE_EXCL"] : []
            if flags & ~1 != 0 { shown.append("0x\(String(flags & ~1, radix: 16)) /* KEYCTL_MOVE_??? */") }
            parts += [keySerial(1), keySerial(2), keySerial(3), shown.isEmpty ? "0" : shown.joined(separator: "|")]
        case 31: return parts[0] + ", "
        default: parts += (1...4).map { String(raw($0)) }
        }
        return parts.joined(separator: ", ")
    }

    private func keyctlExit(result: Int64) -> String? {
        let op = Int32(truncatingIfNeeded: raw(0))
        let failed = result < 0 && result > -4096
        switch op {
        case 6, 11, 17:
            let (address, length) = (raw(2), raw(3))
            if failed || address == 0 { return "\(StraceDecoder.pointer(address)), \(length)" }
            let shown = Int(min(UInt64(result), length))
            if op == 11 { return "\(buffer(address, count: shown)), \(length)" }
            guard let bytes = try? mm.read(address, count: min(shown, 4096)) else { return "\(StraceDecoder.pointer(address)), \(length)" }
            return "\(StraceDecoder.quote(Array(bytes.prefix { $0 != 0 }), limit: 32)), \(length)"
        case 31:
            let (address, length) = (raw(1), raw(2))
            if failed || address == 0 || length == 0 { return "\(StraceDecoder.pointer(address)), \(length)" }
            guard let bytes = try? mm.read(address, count: Int(min(length, 2))) else { return "\(StraceDecoder.pointer(address)), \(length)" }
            let sets = bytes.enumerated().map { StraceFlags.flags("keyctl_caps\($0.offset)", UInt64($0.element)) }
            return "[\(sets.joined(separator: ", "))], \(length)"
        default:
            return nil
        }
    }

    static func mode(_ m: UInt32) -> String {
        var parts: [String] = []
        if m & 0o4000 != 0 { parts.append("S_ISUID") }
        if m & 0o2000 != 0 { parts.append("S_ISGID") }
        if m & 0o1000 != 0 { parts.append("S_ISVTX") }
        let perm = m & 0o777
        parts.append(perm == 0 && !parts.isEmpty ? "0" : "0" + String(perm, radix: 8).leftPadded(3))
        if m & ~0o7777 != 0 { return "0" + String(m, radix: 8) }
        return parts.joined(separator: "|")
    }

    static func fileMode(_ m: UInt32) -> String {
        let types: [UInt32: String] = [0o140000: "S_IFSOCK", 0o120000: "S_IFLNK", 0o100000: "S_IFREG", 0o60000: "S_IFBLK",
                                       0o40000: "S_IFDIR", 0o20000: "S_IFCHR", 0o10000: "S_IFIFO"]
        // No type bits (an anonymous inode): the permissions alone, as strace prints them.
        if m & 0o170000 == 0 { return mode(m & 0o7777) }
        let t = types[m & 0o170000] ?? "0" + String(m & 0o170000, radix: 8)
        return t + "|" + mode(m & 0o7777)
    }

    func sigset(_ addr: UInt64) -> String {
        guard let set = try? mm.readValue(addr, as: UInt64.self) else { return StraceDecoder.pointer(addr) }
        return StraceDecoder.sigsetText(set)
    }

    static func sigsetText(_ set: UInt64) -> String {
        func names(_ s: UInt64) -> String {
            (1...64).filter { s & (1 << UInt64($0 - 1)) != 0 }.map { sig -> String in
                if sig == 32 { return "RTMIN" }
                if sig > 32 { return "RT_\(sig - 32)" }
                return String((Signal.names[Int32(sig)] ?? "\(sig)").dropFirst(3))
            }.joined(separator: " ")
        }
        // strace shows a mostly full set as its complement.
        if set.nonzeroBitCount > 32 { return "~[" + names(~set) + "]" }
        return "[" + names(set) + "]"
    }

    func argv(_ addr: UInt64) -> String {
        guard let items = try? mm.readStringArray(addr) else { return StraceDecoder.pointer(addr) }
        return "[" + items.map { StraceDecoder.quote($0, limit: 32) }.joined(separator: ", ") + "]"
    }

    /// fcntl's F_GETFL and F_GETFD results, decoded as strace does.
    func specialResult(_ number: Int, _ r: Int64) -> String? {
        guard number == 72, r >= 0 else { return nil }
        switch Int32(truncatingIfNeeded: raw(1)) {
        case 3: return "0x\(String(r, radix: 16)) (flags \(StraceFlags.flags("open", UInt64(r))))"
        case 1: return "0x\(String(r, radix: 16)) (flags \(r & 1 != 0 ? "FD_CLOEXEC" : "0"))"
        default: return nil
        }
    }

    func result(_ r: Int64, kind: ReturnKind) -> String {
        if r < 0 && r > -4096 {
            let e = Int32(-r)
            let name = LinuxErrno(e).description
            switch e {
            case 512: return "? ERESTARTSYS (To be restarted if SA_RESTART is set)"
            case 513: return "? ERESTARTNOINTR (To be restarted)"
            case 514: return "? ERESTARTNOHAND (To be restarted if no handler)"
            case 516: return "? ERESTART_RESTARTBLOCK (Interrupted by signal)"
            default: return "-1 \(name) (\(String(cString: strerror(e))))"
            }
        }
        switch kind {
        case .hex: return "0x" + String(UInt64(bitPattern: r), radix: 16)
        case .mode: return "0" + String(r, radix: 8).leftPadded(3)
        case .none: return "?"
        default: return String(r)
        }
    }

    static func siCode(_ sig: Int32, _ code: Int32) -> String {
        switch (sig, code) {
        case (_, 0): return "SI_USER"
        case (_, -6): return "SI_TKILL"
        case (_, 0x80): return "SI_KERNEL"
        case (Signal.SIGSEGV, 1): return "SEGV_MAPERR"
        case (Signal.SIGSEGV, 2): return "SEGV_ACCERR"
        case (Signal.SIGCHLD, 1): return "CLD_EXITED"
        case (Signal.SIGCHLD, 2): return "CLD_KILLED"
        case (Signal.SIGCHLD, 3): return "CLD_DUMPED"
        case (Signal.SIGCHLD, 5): return "CLD_STOPPED"
        case (Signal.SIGCHLD, 6): return "CLD_CONTINUED"
        case (Signal.SIGFPE, 1): return "FPE_INTDIV"
        case (Signal.SIGBUS, 2): return "BUS_ADRERR"
        case (Signal.SIGILL, 2): return "ILL_ILLOPN"
        case (Signal.SIGTRAP, 1): return "TRAP_BRKPT"
        default: return String(code)
        }
    }
}
