// Struct decoding for strace mode, in strace's abbreviated style ("{st_mode=..., ...}").
import JoeyABI

extension StraceDecoder {
    func structure(_ s: String, _ addr: UInt64, count: Int?, written: Bool, result: Int64? = nil) -> String {
        guard addr != 0 else { return "NULL" }
        let p = StraceDecoder.pointer(addr)
        func bytes(_ n: Int) -> [UInt8]? { try? mm.read(addr, count: n) }
        func u64(_ b: [UInt8], _ o: Int) -> UInt64 { b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt64.self) } }
        func i64(_ b: [UInt8], _ o: Int) -> Int64 { Int64(bitPattern: u64(b, o)) }
        func u32(_ b: [UInt8], _ o: Int) -> UInt32 { b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) } }
        func i32(_ b: [UInt8], _ o: Int) -> Int32 { Int32(bitPattern: u32(b, o)) }
        switch s {
        case "stat":
            guard let b = bytes(144) else { return p }
            let mode = u32(b, 24)
            let type = mode & 0o170000
            if type == 0o20000 || type == 0o60000 {
                let rdev = u64(b, 40)
                return "{st_mode=\(StraceDecoder.fileMode(mode)), st_rdev=makedev(0x\(String((rdev >> 8) & 0xfff, radix: 16)), 0x\(String(rdev & 0xff, radix: 16))), ...}"
            }
            return "{st_mode=\(StraceDecoder.fileMode(mode)), st_size=\(i64(b, 48)), ...}"
        case "statx":
            guard let b = bytes(256) else { return p }
            return "{stx_mask=\(StraceFlags.flags("statx_mask", UInt64(u32(b, 0)))), stx_attributes=0, stx_mode=\(StraceDecoder.fileMode(UInt32(b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 28, as: UInt16.self) }))), stx_size=\(u64(b, 40)), ...}"
        case "file_handle": // name_to_handle_at writes it (its room becomes its size); open_by_handle_at reads it
            guard let b = bytes(8) else { return p }
            let size = u32(b, 0)
            var text = "{handle_bytes=\(size), handle_type=\(i32(b, 4))"
            if size <= 128, let data = try? mm.read(addr &+ 8, count: Int(size)), result.map({ $0 >= 0 }) ?? true {
                text += ", f_handle=" + StraceDecoder.quote(data, limit: 128, hex: true)
            }
            return text + "}"
        case "timespec":
            guard let b = bytes(16) else { return p }
            return "{tv_sec=\(i64(b, 0)), tv_nsec=\(i64(b, 8))}"
        case "timeval":
            guard let b = bytes(16) else { return p }
            return "{tv_sec=\(i64(b, 0)), tv_usec=\(i64(b, 8))}"
        case "timespec2":
            guard let b = bytes(32) else { return p }
            return "[{tv_sec=\(i64(b, 0)), tv_nsec=\(i64(b, 8))}, {tv_sec=\(i64(b, 16)), tv_nsec=\(i64(b, 24))}]"
        case "mount_attr": // mount_setattr's: the first published fields
            guard let count, count >= 32, let b = bytes(32) else { return p }
            let propagation = u64(b, 16)
            let named: [UInt64: String] = [0: "0", 1 << 17: "MS_UNBINDABLE", 1 << 18: "MS_PRIVATE", 1 << 19: "MS_SLAVE", 1 << 20: "MS_SHARED"]
            return "{attr_set=\(StraceFlags.flags("mount_attr", u64(b, 0))), attr_clr=\(StraceFlags.flags("mount_attr", u64(b, 8))), "
                + "propagation=\(named[propagation] ?? "0x" + String(propagation, radix: 16)), userns_fd=\(u64(b, 24))}"
        case "landlock_ruleset_attr": // strace 6.1 knows its first field; `count`: the size passed
            guard let count, count >= 8, let b = bytes(8) else { return p }
            return "{handled_access_fs=\(StraceFlags.flags("landlock_access_fs", u64(b, 0)))\(count > 8 ? ", ..." : "")}"
        case "landlock_rule": // `count`: the rule type; strace 6.1 decodes path-beneath rules
            guard count == 1, let b = bytes(12) else { return p }
            return "{allowed_access=\(StraceFlags.flags("landlock_access_fs", u64(b, 0))), parent_fd=\(i32(b, 8))}"
        case "rlimit":
            guard let b = bytes(16) else { return p }
            func lim(_ v: UInt64) -> String {
                if v == UInt64.max { return "RLIM64_INFINITY" }
                if v > 0 && v % 1024 == 0 { return "\(v / 1024)*1024" }
                return String(v)
            }
            return "{rlim_cur=\(lim(u64(b, 0))), rlim_max=\(lim(u64(b, 8)))}"
        case "sigaction":
            guard let b = bytes(32) else { return p }
            let h = u64(b, 0), flags = u64(b, 8)
            let handler = h == 0 ? "SIG_DFL" : h == 1 ? "SIG_IGN" : StraceDecoder.pointer(h)
            var out = "{sa_handler=\(handler), sa_mask=\(StraceDecoder.sigsetText(u64(b, 24))), sa_flags=\(StraceFlags.flags("sa", flags))"
            if flags & 0x0400_0000 != 0 { out += ", sa_restorer=\(StraceDecoder.pointer(u64(b, 16)))" }
            return out + "}"
        case "sockopt_value": // setsockopt's: an int as [N], as strace shows it; other sizes as bytes
            guard let count, count >= 0, let b = bytes(min(count, 32)) else { return p }
            if count == 4 { return "[\(i32(b, 0))]" }
            return StraceDecoder.quote(b, limit: 32, hex: false)
        case "sigset": // one the kernel writes (rt_sigprocmask's old mask, rt_sigpending)
            guard let b = bytes(8) else { return p }
            return StraceDecoder.sigsetText(u64(b, 0))
        case "stack":
            guard let b = bytes(24) else { return p }
            return "{ss_sp=\(StraceDecoder.pointer(u64(b, 0))), ss_flags=\(i32(b, 8) & 2 != 0 ? "SS_DISABLE" : i32(b, 8) & 1 != 0 ? "SS_ONSTACK" : "0"), ss_size=\(u64(b, 16))}"
        case "utsname":
            guard let b = bytes(390) else { return p }
            func field(_ i: Int) -> String {
                let f = b[(i * 65)..<(i * 65 + 65)].prefix { $0 != 0 }
                return StraceDecoder.quote(Array(f), limit: nil)
            }
            return "{sysname=\(field(0)), nodename=\(field(1)), ...}"
        case "fdpair":
            guard let b = bytes(8) else { return p }
            return "[\(i32(b, 0)), \(i32(b, 4))]"
        case "int":
            guard let b = bytes(4) else { return p }
            let v = i32(b, 0)
            if syscall == "wait4" { return "[" + StraceDecoder.waitStatus(v) + "]" }
            return "[\(v)]"
        case "iovec":
            guard let n = count, n >= 0, n <= 1024 else { return p }
            var parts: [String] = []
            var remaining = written ? Int(result ?? 0) : Int.max
            for i in 0..<min(n, 8) {
                guard let b = try? mm.read(addr &+ UInt64(i * 16), count: 16) else { return p }
                let base = u64(b, 0), len = Int(clamping: u64(b, 8))
                let shown = min(len, remaining)
                remaining -= shown
                parts.append("{iov_base=\(buffer(base, count: shown)), iov_len=\(len)}")
            }
            return "[" + parts.joined(separator: ", ") + (n > 8 ? ", ..." : "") + "]"
        case "pollfd":
            guard let n = count, n >= 0, n <= 1024 else { return p }
            var parts: [String] = []
            for i in 0..<min(n, 16) {
                guard let b = try? mm.read(addr &+ UInt64(i * 8), count: 8) else { return p }
                let events = b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt16.self) }
                let revents = b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 6, as: UInt16.self) }
                parts.append(written ? (revents == 0 ? nil : "{fd=\(i32(b, 0)), revents=\(StraceFlags.flags("poll_events", UInt64(revents)))}") ?? ""
                             : "{fd=\(i32(b, 0)), events=\(StraceFlags.flags("poll_events", UInt64(events)))}")
            }
            return "[" + parts.filter { !$0.isEmpty }.joined(separator: ", ") + "]"
        case "socklen":
            guard let b = bytes(4) else { return p }
            return "[\(i32(b, 0))]"
        case "epoll_event":
            guard let b = bytes(12) else { return p }
            let d = u64(b, 4)
            return "{events=\(StraceFlags.flags("epoll_events", UInt64(u32(b, 0)))), data=\(StraceDecoder.pointer(d))}"
        case "epoll_events":
            guard let n = count, n >= 0, n <= 1024 else { return p }
            var parts: [String] = []
            for i in 0..<min(n, 16) {
                guard let b = try? mm.read(addr &+ UInt64(i * 12), count: 12) else { return p }
                parts.append("{events=\(StraceFlags.flags("epoll_events", UInt64(u32(b, 0)))), data=\(StraceDecoder.pointer(u64(b, 4)))}")
            }
            return "[" + parts.joined(separator: ", ") + (n > 16 ? ", ..." : "") + "]"
        case "itimerspec":
            guard let b = bytes(32) else { return p }
            return "{it_interval={tv_sec=\(i64(b, 0)), tv_nsec=\(i64(b, 8))}, it_value={tv_sec=\(i64(b, 16)), tv_nsec=\(i64(b, 24))}}"
        case "msghdr", "mmsghdr":
            guard let b = bytes(56) else { return p }
            let name = u64(b, 0), namelen = u32(b, 8), iovlen = u64(b, 24), controllen = u64(b, 40)
            let nameText = name == 0 ? "NULL" : structure("sockaddr", name, count: nil, written: written)
            let iov = structure("iovec", u64(b, 16), count: Int(clamping: iovlen), written: written, result: result)
            var out = "{msg_name=\(nameText), msg_namelen=\(namelen), msg_iov=\(iov), msg_iovlen=\(iovlen)"
            if controllen > 0 { out += ", msg_control=\(StraceDecoder.pointer(u64(b, 32))), msg_controllen=\(controllen)" }
            out += ", msg_flags=\(StraceFlags.flags("msg", UInt64(u32(b, 48))))}"
            return s == "mmsghdr" ? "[{msg_hdr=\(out), msg_len=\(u32(bytes(64) ?? b + [0, 0, 0, 0, 0, 0, 0, 0], 56))}, ...]" : out
        case "dirents":
            return "\(p) /* \(direntCount(addr, bytes: Int(result ?? 0))) entries */"
        case "sockaddr":
            guard let b = bytes(2) else { return p }
            let family = b.withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) }
            if family == 1, let path = try? mm.readCString(addr &+ 2, max: 108) {
                return "{sa_family=AF_UNIX, sun_path=\(StraceDecoder.quote(path, limit: nil))}"
            }
            if family == 2, let b = bytes(8) {
                let port = UInt16(b[2]) << 8 | UInt16(b[3])
                return "{sa_family=AF_INET, sin_port=htons(\(port)), sin_addr=inet_addr(\"\(b[4]).\(b[5]).\(b[6]).\(b[7])\")}"
            }
            if family == 10, let b = bytes(24) {
                let port = UInt16(b[2]) << 8 | UInt16(b[3])
                let groups = stride(from: 8, to: 24, by: 2).map { String(UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]), radix: 16) }
                return "{sa_family=AF_INET6, sin6_port=htons(\(port)), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, \"\(groups.joined(separator: ":"))\"), sin6_scope_id=0}"
            }
            return "{sa_family=\(StraceFlags.enumeration("family", UInt64(family))), ...}"
        default:
            return p
        }
    }

    func direntCount(_ addr: UInt64, bytes total: Int) -> Int {
        var off = 0, n = 0
        while off + 19 <= total {
            guard let len = try? mm.readValue(addr &+ UInt64(off) &+ 16, as: UInt16.self), len > 0 else { break }
            off += Int(len)
            n += 1
        }
        return n
    }

    static func waitStatus(_ s: Int32) -> String {
        if s & 0x7f == 0 { return "{WIFEXITED(s) && WEXITSTATUS(s) == \((s >> 8) & 0xff)}" }
        if s & 0xff == 0x7f { return "{WIFSTOPPED(s) && WSTOPSIG(s) == \(Signal.names[(s >> 8) & 0xff] ?? "\((s >> 8) & 0xff)")}" }
        let sig = s & 0x7f
        return "{WIFSIGNALED(s) && WTERMSIG(s) == \(Signal.names[sig] ?? "\(sig)")\(s & 0x80 != 0 ? " && WCOREDUMP(s)" : "")}"
    }
}
