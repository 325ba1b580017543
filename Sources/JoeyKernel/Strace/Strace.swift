// Strace: a decorator on syscall dispatch that prints one line per guest syscall in
// strace's format, driven by the same generated table as dispatch (SyscallTable).
// Off, it costs one nil check per syscall. All output happens under the kernel lock.
import Glibc
import JoeyABI

public struct StraceOptions: Sendable {
    /// Only these syscalls are shown (nil: all).
    public var syscalls: Set<String>?
    /// Where lines go (a host fd the sentry owns; stderr by default).
    public var fd: Int32 = 2
    /// Append the time spent in each call, like strace -T.
    public var timing = false
    public init() {}
}

final class Strace {
    let options: StraceOptions
    /// The thread whose entry half-line is on screen without a newline yet.
    private var openLineOwner: Int32?
    private var lineLength = 0

    init(options: StraceOptions) { self.options = options }

    struct Call {
        let number: Int
        let info: SyscallInfo?
        let start: UInt64
        /// Whether --strace-syscalls lets this call through.
        let shown: Bool
    }

    func wants(_ number: Int) -> Bool {
        guard let filter = options.syscalls else { return true }
        return filter.contains(SyscallTable.name(number))
    }

    private func emit(_ s: String) {
        var bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(options.fd, $0.baseAddress! + off, $0.count - off) }
            if n <= 0 { break }
            off += n
        }
        if let nl = s.lastIndex(of: "\n") { lineLength = s.distance(from: nl, to: s.endIndex) - 1 } else { lineLength += s.count }
    }

    /// Ends another thread's half-printed entry line before a new line starts.
    private func breakOpenLine(for tid: Int32) {
        if let owner = openLineOwner, owner != tid {
            emit(" <unfinished ...>\n")
            openLineOwner = nil
        }
    }

    private func prefix(_ t: GuestThread) -> String { "[pid \(t.tid)] " }

    func enter(_ t: GuestThread, number: Int) -> Call {
        let info = SyscallTable.info(number)
        let call = Call(number: number, info: info, start: monotonicNanos(), shown: wants(number))
        guard call.shown else { return call }
        breakOpenLine(for: t.tid)
        let decoder = StraceDecoder(thread: t, syscall: info?.name ?? "")
        var text = prefix(t) + (info?.name ?? "syscall_\(number)") + "("
        if let special = decoder.specialEntry(number) {
            text += special
        } else {
            let args = StraceDecoder.arguments(info)
            for (i, a) in args.enumerated() {
                if a.kind.isOutput { text += i > 0 ? ", " : ""; break }
                if i > 0 { text += ", " }
                text += decoder.decode(a.kind, index: i, args: args, result: nil)
            }
        }
        emit(text)
        openLineOwner = t.tid
        return call
    }

    func exit(_ t: GuestThread, _ call: Call, result: Int64) {
        guard call.shown else { return }
        let name = call.info?.name ?? "syscall_\(call.number)"
        let decoder = StraceDecoder(thread: t, syscall: name)
        var text = ""
        if openLineOwner != t.tid {
            breakOpenLine(for: t.tid)
            text = prefix(t) + "<... \(name) resumed>"
        }
        let args = decoder.specialEntry(call.number) != nil ? [] : StraceDecoder.arguments(call.info)
        let firstOut = args.firstIndex { $0.kind.isOutput } ?? args.count
        if let special = decoder.specialExit(call.number, result: result) {
            text += special
        } else if firstOut < args.count {
            for i in firstOut..<args.count {
                if i > firstOut { text += ", " }
                text += decoder.decode(args[i].kind, index: i, args: args, result: result)
            }
        }
        text += ")"
        let pad = max(1, 40 - (lineLength + text.count))
        let shown = call.number == 15 ? Int64(bitPattern: t.regs.rax) : result // rt_sigreturn restores rax
        text += String(repeating: " ", count: pad) + "= " + (decoder.specialResult(call.number, shown) ?? decoder.result(shown, kind: call.info?.ret ?? .int))
        if options.timing {
            let ns = monotonicNanos() - call.start
            text += " <\(ns / 1_000_000_000).\(String(ns / 1000 % 1_000_000).leftPadded(6))>"
        }
        emit(text + "\n")
        openLineOwner = nil
    }

    /// exit and exit_group never return: strace shows "= ?".
    func noReturn(_ t: GuestThread, _ call: Call) {
        guard call.shown else { return }
        if openLineOwner != t.tid {
            breakOpenLine(for: t.tid)
            emit(prefix(t) + "<... \(call.info?.name ?? "exit") resumed>")
        }
        emit(")" + String(repeating: " ", count: max(1, 40 - lineLength - 1)) + "= ?\n")
        openLineOwner = nil
    }

    func execve(_ t: GuestThread, path: String, argv: [[UInt8]], envCount: Int) {
        guard wants(59) else { return }
        breakOpenLine(for: t.tid)
        let args = argv.map { StraceDecoder.quote($0, limit: 32) }.joined(separator: ", ")
        let text = prefix(t) + "execve(\(StraceDecoder.quote(Array(path.utf8), limit: nil)), [\(args)], 0x7ffffffff000 /* \(envCount) vars */)"
        emit(text + String(repeating: " ", count: max(1, 40 - text.count)) + "= 0\n")
    }

    func signal(_ t: GuestThread, _ info: SignalInfo) {
        breakOpenLine(for: t.tid)
        let sig = info.signo
        let name = Signal.names[sig] ?? "SIG\(sig)"
        var fields = "si_signo=\(name), si_code=\(StraceDecoder.siCode(sig, info.code))"
        if let address = info.address {
            fields += ", si_addr=\(StraceDecoder.pointer(address))"
        } else if sig == Signal.SIGCHLD && info.code > 0 {
            fields += ", si_pid=\(info.pid), si_uid=\(info.uid), si_status=\(info.code == 1 ? String(info.status) : (Signal.names[info.status] ?? String(info.status))), si_utime=0, si_stime=0"
        } else {
            fields += ", si_pid=\(info.pid), si_uid=\(info.uid)"
        }
        emit(prefix(t) + "--- \(name) {\(fields)} ---\n")
    }

    func exited(_ t: GuestThread, status: Int32) {
        breakOpenLine(for: t.tid)
        if status & 0x7f == 0 {
            emit(prefix(t) + "+++ exited with \((status >> 8) & 0xff) +++\n")
        } else {
            let sig = status & 0x7f
            emit(prefix(t) + "+++ killed by \(Signal.names[sig] ?? "SIG\(sig)")\(status & 0x80 != 0 ? " (core dumped)" : "") +++\n")
        }
    }
}

extension String {
    func leftPadded(_ width: Int, with c: Character = "0") -> String {
        count >= width ? self : String(repeating: c, count: width - count) + self
    }
}
