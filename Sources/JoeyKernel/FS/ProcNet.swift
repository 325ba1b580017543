// /proc/PID/net (and /proc/net, the reader's): the sockets and loopback interface of the
// process's network namespace, in the formats ss, netstat and ifconfig-style tools parse
// (Linux's net/ipv4/tcp_ipv4.c, udp.c, af_unix.c, dev.c). For the first namespace under
// `--network=host` the inet tables and interfaces are those of the sentry's network
// namespace (the guest shares that network), with the guest's own sockets named by their
// guest inode and owner.
import Glibc
import JoeyABI
import JoeyPlatform

extension ProcFS {
    static func netDirectory(_ kernel: Kernel, _ net: NetworkNamespace, _ fs: FileSystemID) -> Inode {
        var files: [String: () -> [UInt8]] = [
            "dev": { Array(netDev(net).utf8) },
            "if_inet6": { net.loopbackUp ? Array("00000000000000000000000000000001 01 80 10 80       lo\n".utf8) : [] },
            // No IPv4 route leaves lo: the main table is empty (lo's routes are in the local table).
            "route": { Array("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n".utf8) },
            "tcp": { Array(inet(net, v6: false, tcp: true).utf8) },
            "tcp6": { Array(inet(net, v6: true, tcp: true).utf8) },
            "udp": { Array(inet(net, v6: false, tcp: false).utf8) },
            "udp6": { Array(inet(net, v6: true, tcp: false).utf8) },
            "unix": { unix(kernel, net) },
            "icmp": { Array(packet(net, v6: false, ping: true).utf8) },
            "icmp6": { Array(packet(net, v6: true, ping: true).utf8) },
            "raw": { Array(packet(net, v6: false, ping: false).utf8) },
            "raw6": { Array(packet(net, v6: true, ping: false).utf8) },
        ]
        if net.onHost {
            for name in ["dev", "if_inet6", "route"] { files[name] = { Array(hostTable(name).utf8) } }
            for name in ["tcp", "tcp6", "udp", "udp6", "icmp", "icmp6", "raw", "raw6"] {
                files[name] = { Array(hostInetTable(kernel, name).utf8) }
            }
        }
        return DynamicDirectory(fs: fs, list: { files.keys.sorted().map { ($0, .regular) } },
                                find: { (n: String) throws(LinuxErrno) -> Inode in
            guard let f = files[n] else { throw .ENOENT }
            return GeneratedFile(fs: fs) { f() }
        })
    }

    /// The sentry's own /proc/net/NAME (its network namespace's).
    private static func hostTable(_ name: String) -> String {
        String(decoding: HostProc.read("self/net/" + name), as: UTF8.self)
    }

    /// A host inet table whose rows for the guest's sockets carry the guest's inode and uid.
    private static func hostInetTable(_ kernel: Kernel, _ name: String) -> String {
        var lines = hostTable(name).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
        for i in lines.indices.dropFirst() {
            // sl local rem st tx:rx tr:when retrnsmt | uid timeout inode ...
            let fields = lines[i].split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 9, let ino = UInt64(fields[9]), ino != 0,
                  let s = kernel.hostInetSockets[ino]?.socket else { continue }
            let head = lines[i][..<fields[6].endIndex]
            lines[i] = head + " " + pad(String(s.creatorUID), 5) + " " + pad(String(fields[8]), 8) + " " + String(s.inode.ino) + " "
                + fields[10...].joined(separator: " ")
        }
        return lines.joined(separator: "\n")
    }

    private static func netDev(_ net: NetworkNamespace) -> String {
        let l = net.loopback
        func col(_ v: UInt64, _ w: Int) -> String { let s = String(v); return String(repeating: " ", count: max(0, w - s.count)) + s }
        return "Inter-|   Receive                                                |  Transmit\n"
            + " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
            + "    lo: " + col(l.bytes, 7) + " " + col(l.packets, 7) + "    0    0    0     0          0         0 "
            + col(l.bytes, 8) + " " + col(l.packets, 7) + "    0    0    0     0       0          0\n"
    }

    /// A v4 address as /proc/net prints it: the network-order word in hex, host byte order.
    private static func hexAddress(_ a: InetAddress, v6: Bool) -> String {
        let bytes = v6 ? a.ip : Array(a.ip[12..<16])
        var out = ""
        for word in stride(from: 0, to: bytes.count, by: 4) {
            for i in (0..<4).reversed() { out += hex(UInt64(bytes[word + i]), 2).uppercased() }
        }
        return out + ":" + hex(UInt64(a.port), 4).uppercased()
    }

    private static func inet(_ net: NetworkNamespace, v6: Bool, tcp: Bool) -> String {
        var out = tcp
            ? "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
            : "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
        if v6 {
            out = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        }
        var n = 0
        for s in net.loopback.liveSockets() where s.isTCP == tcp && (s.family == AF_INET6) == v6 {
            if tcp && s.state == .unconnected { continue }
            let zero = InetAddress(ip: [UInt8](repeating: 0, count: 16), port: 0)
            let st: UInt64 = tcp ? (s.state == .listening ? 0x0A : s.peerGone ? 0x08 : 0x01) : (s.remote != nil ? 0x01 : 0x07)
            let tx = UInt64(s.peer?.receive.bytes ?? 0), rx = UInt64(s.receive.bytes)
            let slot = String(n)
            out += String(repeating: " ", count: max(0, 4 - slot.count)) + slot + ": "
            out += hexAddress(s.local, v6: v6) + " " + hexAddress(s.remote ?? zero, v6: v6) + " " + hex(st, 2).uppercased() + " "
            out += hex(tx, 8).uppercased() + ":" + hex(rx, 8).uppercased() + " 00:00000000 00000000 "
            let uid = String(s.creatorUID)
            out += String(repeating: " ", count: max(0, 5 - uid.count)) + uid + "        0 \(s.inode.ino) 1 0000000000000000\n"
            n += 1
        }
        return out
    }

    /// Ping sockets that hold an identifier (Linux hashes one only when it binds: icmp,
    /// icmp6) or raw sockets, their protocol in the port column (raw, raw6), as Linux's
    /// ping_v4_seq_show, ip6_dgram_sock_seq_show and raw_sock_seq_show print them.
    private static func packet(_ net: NetworkNamespace, v6: Bool, ping: Bool) -> String {
        func col(_ v: UInt64, _ w: Int) -> String { let s = String(v); return String(repeating: " ", count: max(0, w - s.count)) + s }
        // IPv4 ping pads each line to 127 columns (seq_setwidth, seq_pad).
        func line(_ s: String) -> String { ping && !v6 ? s + String(repeating: " ", count: max(0, 127 - s.count)) : s }
        var out = line(v6 ? "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops"
                          : "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops") + "\n"
        let zero = InetAddress(ip: [UInt8](repeating: 0, count: 16), port: 0)
        var n: UInt64 = 0
        for s in net.loopback.liveICMPSockets where s.isPing == ping && (s.family == AF_INET6) == v6 && (!ping || s.isBound) {
            let local = ping ? s.local : InetAddress(ip: s.local.ip, port: UInt16(truncatingIfNeeded: s.proto))
            let remote = s.remote.map { InetAddress(ip: $0.ip, port: 0) } ?? zero
            let st: UInt64 = s.remote != nil ? 0x01 : 0x07
            var row = col(n, ping || v6 ? 5 : 4) + ": " + hexAddress(local, v6: v6) + " " + hexAddress(remote, v6: v6) + " "
            row += hex(st, 2).uppercased() + " 00000000:" + hex(UInt64(s.receive.bytes), 8).uppercased() + " 00:00000000 00000000 "
            row += col(UInt64(s.creatorUID), 5) + "        0 \(s.inode.ino) 2 0000000000000000 0"
            out += line(row) + "\n"
            n += 1
        }
        return out
    }

    /// Names are written byte for byte (a socket path need not be UTF-8).
    private static func unix(_ kernel: Kernel, _ net: NetworkNamespace) -> [UInt8] {
        var out = Array("Num       RefCount Protocol Flags    Type St Inode Path\n".utf8)
        for s in kernel.liveUnixSockets() where s.net === net {
            let flags: UInt64 = s.state == .listening ? 0x10000 : 0
            let st: UInt64 = s.state == .connected ? 3 : 1
            var line = "0000000000000000: " + hex(UInt64(max(s.references, 1) + 1), 8).uppercased() + " 00000000 " + hex(flags, 8).uppercased()
            line += " " + hex(UInt64(s.type.rawValue), 4).uppercased() + " " + hex(st, 2).uppercased() + " \(s.inode.ino)"
            out += Array(line.utf8)
            switch s.name {
            case .path(let p, _): out += [0x20] + p.bytes
            case .abstract(let a): out += [0x20, 0x40] + a.bytes
            case nil: break
            }
            out.append(0x0a)
        }
        return out
    }
}
