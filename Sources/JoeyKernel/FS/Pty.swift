// Pseudo-terminals inside the sandbox: /dev/ptmx and devpts (/dev/pts/N), with the line
// discipline in the sentry (as Linux's n_tty): canonical lines with erase/kill/EOF, echo,
// ICRNL/INLCR/IGNCR on input, OPOST/ONLCR/OCRNL on output, ISIG's ^C/^\/^Z signalling the
// terminal's foreground process group, and window sizes with SIGWINCH. The sandbox's own
// terminal (a host tty) is not one of these; see HostStreamDescription.
//
// Both ends share one termios, as gVisor's do (Linux gives the master its own, which it
// rarely consults). Non-canonical reads honour VMIN = 0 with VTIME = 0 (return at once);
// other VMIN/VTIME pairs read as VMIN = 1. Kernel lock held throughout; nothing here blocks
// (EAGAIN, and the syscall layer waits on the pty's queue).
import Glibc
import JoeyABI

/// struct termios as the kernel's TCGETS lays it out (36 bytes), plus the speeds TCGETS2 adds.
struct Termios {
    var iflag: UInt32 = 0o400 | 0o2000                                  // ICRNL IXON
    var oflag: UInt32 = 0o1 | 0o4                                       // OPOST ONLCR
    var cflag: UInt32 = 0o17 | 0o60 | 0o200                             // B38400 CS8 CREAD
    var lflag: UInt32 = 0o1 | 0o2 | 0o10 | 0o20 | 0o40 | 0o1000 | 0o4000 | 0o100000 // ISIG ICANON ECHO ECHOE ECHOK ECHOCTL ECHOKE IEXTEN
    var line: UInt8 = 0
    /// VINTR ^C, VQUIT ^\, VERASE DEL, VKILL ^U, VEOF ^D, VTIME 0, VMIN 1, VSWTC, VSTART ^Q,
    /// VSTOP ^S, VSUSP ^Z, VEOL, VREPRINT ^R, VDISCARD ^O, VWERASE ^W, VLNEXT ^V, VEOL2.
    var cc: [UInt8] = [3, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12, 0x0f, 0x17, 0x16, 0, 0, 0]
    var ispeed: UInt32 = 38400
    var ospeed: UInt32 = 38400

    func bytes(withSpeeds: Bool) -> [UInt8] {
        var b: [UInt8] = []
        for v in [iflag, oflag, cflag, lflag] { withUnsafeBytes(of: v) { b += $0 } }
        b.append(line)
        b += cc
        if withSpeeds { for v in [ispeed, ospeed] { withUnsafeBytes(of: v) { b += $0 } } }
        return b
    }
    init() {}
    init(_ b: [UInt8], current: Termios) {
        func word(_ i: Int) -> UInt32 { b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self) } }
        iflag = word(0); oflag = word(1); cflag = word(2); lflag = word(3)
        line = b[16]
        cc = Array(b[17..<36])
        ispeed = b.count >= 44 ? word(9) : current.ispeed
        ospeed = b.count >= 44 ? word(10) : current.ospeed
    }

    var canonical: Bool { lflag & 0o2 != 0 }
    var echo: Bool { lflag & 0o10 != 0 }
    var signals: Bool { lflag & 0o1 != 0 }
}

/// One pseudo-terminal pair.
final class Pty {
    let index: Int
    var termios = Termios()
    var window = [UInt8](repeating: 0, count: 8)
    var locked = true
    /// Input the slave can read: completed lines (canonical) or bytes (raw).
    private var lines: [[UInt8]] = []
    private var lineBuffer: [UInt8] = []
    private var raw: [UInt8] = []
    /// What the master reads: the slave's output and echoes, after output processing.
    private var output: [UInt8] = []
    /// Output suspended (TCOOFF, or VSTOP typed with IXON): slave writes wait.
    var outputStopped = false
    var masterOpen = true
    var slaveOpens = 0
    var slaveEverOpened = false
    /// The session it is the controlling terminal of, and that session's foreground group.
    var session: Int32?
    var foregroundPgid: Int32?
    /// Hang-ups so far (vhangup): a slave description opened before the last one is dead.
    private(set) var hangups = 0
    let slaveInode: PtySlaveInode
    /// Both ends' readers, writers and pollers wait here.
    let queue = WaitQueue()

    static let inputCapacity = 65536, outputCapacity = 65536, lineMax = 4095

    init(index: Int, owner: UInt32, fs: FileSystemID) {
        self.index = index
        slaveInode = PtySlaveInode(fs: fs)
        slaveInode.pty = self
        slaveInode.uid = owner
        slaveInode.rdev = UInt64(136) << 8 | UInt64(index & 0xff) | UInt64(index & ~0xff) << 12
    }

    /// The terminal hangs up (Linux's __tty_hangup, for vhangup): its session leader gets
    /// SIGHUP and SIGCONT, the session loses it as its controlling terminal, and every slave
    /// description open now is dead (reads see the end, writes and ioctls EIO); the master
    /// and later opens go on.
    func hangUp(kernel: Kernel) {
        hangups += 1
        if let s = session, let leader = kernel.threadGroups[s], leader.exitStatus == nil {
            leader.sendSignal(Signal.SIGHUP, info: SignalInfo(signo: Signal.SIGHUP, code: 0x80))
            leader.sendSignal(Signal.SIGCONT, info: SignalInfo(signo: Signal.SIGCONT, code: 0x80))
        }
        session = nil
        foregroundPgid = nil
        queue.notify(EventMask.input.union(.output).union([.hangUp, .error]))
    }

    // MARK: the slave's side

    var slaveReadable: Int {
        if termios.canonical { return lines.first.map { $0.isEmpty ? 1 : $0.count } ?? 0 }
        return raw.count
    }

    /// Bytes for a slave read (canonical: at most one line; an empty line is EOF, 0).
    func slaveRead(max: Int) throws(LinuxErrno) -> [UInt8] {
        if termios.canonical {
            guard var line = lines.first else {
                if !masterOpen { return [] }
                throw .EAGAIN
            }
            let n = min(max, line.count)
            let out = Array(line[0..<n])
            line.removeFirst(n)
            if line.isEmpty || n == 0 { lines.removeFirst() } else { lines[0] = line }
            queue.notify(EventMask.output)
            return out
        }
        if raw.isEmpty {
            if !masterOpen { return [] }
            if termios.cc[6] == 0 && termios.cc[5] == 0 { return [] } // VMIN 0, VTIME 0
            throw .EAGAIN
        }
        return take(&raw, max)
    }

    /// Up to `max` bytes from the front of `buffer`; the writers of it may go on.
    private func take(_ buffer: inout [UInt8], _ max: Int) -> [UInt8] {
        let n = min(max, buffer.count)
        let out = Array(buffer[0..<n])
        buffer.removeFirst(n)
        queue.notify(EventMask.output)
        return out
    }

    /// A slave write: output processing into what the master reads.
    func slaveWrite(_ bytes: [UInt8]) throws(LinuxErrno) -> Int {
        guard masterOpen else { throw .EIO }
        let room = Self.outputCapacity - output.count
        guard room > 0, !outputStopped else { throw .EAGAIN }
        let n = min(room, bytes.count)
        emit(bytes[0..<n])
        queue.notify(EventMask.input)
        return n
    }

    private func emit<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        guard termios.oflag & 0o1 != 0 else { output += bytes; return } // OPOST
        for c in bytes {
            if c == 0x0a && termios.oflag & 0o4 != 0 { output += [0x0d, 0x0a] }     // ONLCR
            else if c == 0x0d && termios.oflag & 0o10 != 0 { output.append(0x0a) } // OCRNL
            else { output.append(c) }
        }
    }

    // MARK: the master's side

    func masterRead(max: Int) throws(LinuxErrno) -> [UInt8] {
        if output.isEmpty {
            // Every slave closed after one was opened: EIO, which readers take as the end.
            if slaveEverOpened && slaveOpens == 0 { throw .EIO }
            throw .EAGAIN
        }
        return take(&output, max)
    }

    /// Queued input; each completed line counts one more (an empty EOF line takes room too).
    var inputQueued: Int { lines.reduce(0) { $0 + $1.count + 1 } + lineBuffer.count + raw.count }

    /// A master write: the input side of the line discipline, byte by byte.
    func masterWrite(_ bytes: [UInt8], kernel: Kernel) throws(LinuxErrno) -> Int {
        guard inputQueued < Self.inputCapacity else { throw .EAGAIN }
        let n = min(bytes.count, Self.inputCapacity - inputQueued)
        let t = termios
        for var c in bytes[0..<n] {
            if t.iflag & 0o40 != 0 { c &= 0x7f } // ISTRIP
            if c == 0x0d {
                if t.iflag & 0o200 != 0 { continue } // IGNCR
                if t.iflag & 0o400 != 0 { c = 0x0a } // ICRNL
            } else if c == 0x0a && t.iflag & 0o100 != 0 { c = 0x0d } // INLCR
            if t.iflag & 0o2000 != 0 && c != 0 && (c == t.cc[9] || c == t.cc[8]) { // IXON: VSTOP, VSTART
                setOutputStopped(c == t.cc[9])
                continue
            }
            let sig: Int32? = !t.signals || c == 0 ? nil : c == t.cc[0] ? Signal.SIGINT : c == t.cc[1] ? Signal.SIGQUIT : c == t.cc[10] ? Signal.SIGTSTP : nil
            if let sig {
                if t.lflag & 0o200 == 0 { lines = []; lineBuffer = []; raw = [] } // unless NOFLSH
                echo(c)
                signalForeground(sig, kernel: kernel)
                continue
            }
            guard t.canonical else {
                raw.append(c)
                echo(c)
                continue
            }
            if c != 0 && (c == t.cc[2] || c == t.cc[14]) { // VERASE, VWERASE (one character here)
                if !lineBuffer.isEmpty {
                    lineBuffer.removeLast()
                    if t.echo && t.lflag & 0o20 != 0 && roomToEcho { emit([0x08, 0x20, 0x08]) } // ECHOE
                }
                continue
            }
            if c != 0 && c == t.cc[3] { // VKILL
                lineBuffer = []
                if t.echo && roomToEcho { emit([0x0a]) }
                continue
            }
            if c != 0 && c == t.cc[4] { // VEOF: the line so far, without it
                lines.append(lineBuffer)
                lineBuffer = []
                continue
            }
            if c == 0x0a || (c != 0 && (c == t.cc[11] || c == t.cc[16])) { // NL, VEOL, VEOL2
                lineBuffer.append(c)
                lines.append(lineBuffer)
                lineBuffer = []
                if (t.echo || t.lflag & 0o100 != 0) && roomToEcho { emit([c]) } // ECHONL
                continue
            }
            // A full line takes nothing more (and echoes nothing) until it ends.
            guard lineBuffer.count < Self.lineMax else { continue }
            lineBuffer.append(c)
            echo(c)
        }
        queue.notify(EventMask.input.union(.output))
        return n
    }

    /// Echoes go to what the master reads while there is room; past it they are dropped (as
    /// n_tty's echo buffer does), so a writer that never reads cannot grow it.
    private var roomToEcho: Bool { output.count < Self.outputCapacity }

    private func echo(_ c: UInt8) {
        guard termios.echo, roomToEcho else { return }
        // ECHOCTL: control characters other than tab and newline echo as ^X.
        if termios.lflag & 0o1000 != 0 && (c < 0x20 || c == 0x7f) && c != 0x09 && c != 0x0a {
            emit([0x5e, c == 0x7f ? 0x3f : c + 0x40])
        } else {
            emit([c])
        }
    }

    /// A terminal signal (ISIG characters, SIGWINCH) to the foreground process group.
    func signalForeground(_ sig: Int32, kernel: Kernel) {
        guard let pg = foregroundPgid else { return }
        kernel.signalProcessGroup(pg, sig)
    }

    /// New termios: switching canonical mode moves what is queued between lines and bytes.
    func setTermios(_ new: Termios, flushInput: Bool) {
        let wasCanonical = termios.canonical
        termios = new
        if flushInput { lines = []; lineBuffer = []; raw = [] }
        if wasCanonical && !new.canonical {
            raw += lines.flatMap { $0 } + lineBuffer
            lines = []; lineBuffer = []
        } else if !wasCanonical && new.canonical {
            lineBuffer = raw + lineBuffer
            raw = []
        }
        queue.notify(EventMask.input.union(.output))
    }

    func setOutputStopped(_ stopped: Bool) {
        outputStopped = stopped
        if !stopped { queue.notify(EventMask.output) }
    }

    /// TCXONC: suspend or resume output, or send the STOP or START character.
    func flowControl(_ action: UInt64) throws(LinuxErrno) {
        switch action {
        case 0: setOutputStopped(true)                 // TCOOFF
        case 1: setOutputStopped(false)                // TCOON
        case 2, 3:                                     // TCIOFF, TCION
            if roomToEcho { output.append(termios.cc[action == 2 ? 9 : 8]) }
            queue.notify(EventMask.input)
        default: throw .EINVAL
        }
    }

    func flush(_ which: UInt64) throws(LinuxErrno) {
        guard which <= 2 else { throw .EINVAL }
        if which != 1 { lines = []; lineBuffer = []; raw = [] } // TCIFLUSH, TCIOFLUSH
        if which != 0 { output = [] }                           // TCOFLUSH, TCIOFLUSH
        queue.notify(EventMask.output)
    }

    var outputQueued: Int { output.count }
}

/// devpts: /dev/pts/ptmx and a node per open pseudo-terminal, numbered from 0; also the
/// host terminals the sandbox was given (the console as 0, an exec'd process's by its pid),
/// so ttyname(3) finds them. The sandbox's /dev/pts is one instance; each devpts a guest
/// mounts is another (as every devpts mount is since Linux 4.7), with its own numbers, kept
/// alive by whatever shows it: its mount's root, its ptmx, an open master.
final class DevPts {
    private(set) var ptys: [Int: Pty] = [:]
    private var hostTerminals: [Int: Inode] = [:]
    let fs: FileSystemID
    /// The mount options' ptmxmode= and mode= (the ptmx node's and each new slave's
    /// permissions) and gid= (each new slave's group; nil: its opener's).
    let ptmxMode: UInt32, slaveMode: UInt32, slaveGID: UInt32?
    private weak var directoryMade: DynamicDirectory?
    private weak var ptmxMade: PtmxInode?

    /// The root directory; the instance lives as long as it is held.
    var directory: DynamicDirectory {
        if let d = directoryMade { return d }
        let d = DynamicDirectory(fs: fs, ino: 1, mode: 0o755, list: { [self] in
            [("ptmx", FileKind.characterDevice)]
                + Set(self.ptys.keys).union(self.hostTerminals.keys).sorted().map { (String($0), FileKind.characterDevice) }
        }, find: { [self] (name: String) throws(LinuxErrno) -> Inode in
            if name == "ptmx" { return self.ptmx }
            guard let i = Int(name), String(i) == name else { throw .ENOENT }
            if let host = self.hostTerminals[i] { return host }
            guard let p = self.ptys[i] else { throw .ENOENT }
            return p.slaveInode
        })
        directoryMade = d
        return d
    }

    /// Lists a host terminal as /dev/pts/`number`.
    func attachHostTerminal(_ number: Int, _ inode: Inode) { hostTerminals[number] = inode }
    var ptmx: PtmxInode {
        if let p = ptmxMade { return p }
        let p = PtmxInode(devpts: self, fs: fs)
        p.mode = ptmxMode
        ptmxMade = p
        return p
    }

    init(fs: FileSystemID, ptmxMode: UInt32 = 0o666, slaveMode: UInt32 = 0o620, slaveGID: UInt32? = 5 /* tty */) {
        self.fs = fs
        self.ptmxMode = ptmxMode; self.slaveMode = slaveMode; self.slaveGID = slaveGID
    }

    /// A new pair for an open of /dev/ptmx: the lowest free index.
    func allocate(owner: UInt32, group: UInt32) throws(LinuxErrno) -> Pty {
        var i = 0
        while ptys[i] != nil || hostTerminals[i] != nil { i += 1 }
        guard i < 4096 else { throw .ENOSPC } // kernel.pty.max
        let p = Pty(index: i, owner: owner, fs: fs)
        p.slaveInode.mode = slaveMode
        p.slaveInode.gid = slaveGID ?? group
        ptys[i] = p
        return p
    }

    /// The master closed: /dev/pts/N goes away (open slaves stay, hung up).
    func remove(_ p: Pty) { if ptys[p.index] === p { ptys[p.index] = nil } }
}

/// /dev/ptmx (and /dev/pts/ptmx): each open makes a new pseudo-terminal and returns its master.
final class PtmxInode: Inode {
    let devpts: DevPts
    init(devpts: DevPts, fs: FileSystemID) {
        self.devpts = devpts
        super.init(kind: .characterDevice, mode: 0o666, fs: fs, ino: 2)
        rdev = 5 << 8 | 2
    }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        let p = try devpts.allocate(owner: kernel.current?.group.euid ?? 0, group: kernel.current?.group.egid ?? 0)
        let d = PtyMasterDescription(inode: self, pty: p, devpts: devpts, flags: flags, kernel: kernel)
        d.path = "/dev/ptmx"
        return d
    }
}

/// /dev/pts/N.
final class PtySlaveInode: Inode {
    weak var pty: Pty?
    init(fs: FileSystemID) { super.init(kind: .characterDevice, mode: 0o620, fs: fs) }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        guard let p = pty, p.masterOpen, !p.locked else { throw .EIO }
        let d = PtySlaveDescription(inode: self, pty: p, flags: flags)
        d.path = ByteString("/dev/pts/\(p.index)")
        // A session leader without a terminal that opens one without O_NOCTTY gets it.
        if flags & O_NOCTTY == 0, let t = kernel.current, t.group.sid == t.group.pid, p.session == nil,
           !kernel.sessionHasPty(t.group.sid) {
            p.session = t.group.sid
            p.foregroundPgid = t.group.pgid
        }
        return d
    }
}

extension Kernel {
    /// Whether a pseudo-terminal (of any devpts instance) is already session `sid`'s
    /// controlling terminal.
    func sessionHasPty(_ sid: Int32) -> Bool { controllingPty(of: sid) != nil }

    /// The pseudo-terminal (of any devpts instance) that is session `sid`'s controlling terminal.
    func controllingPty(of sid: Int32) -> Pty? {
        devPtsInstances.removeAll { $0.instance == nil }
        for d in [devPts] + devPtsInstances.compactMap(\.instance) {
            if let p = d.ptys.values.first(where: { $0.session == sid }) { return p }
        }
        return nil
    }

    /// A devpts instance for a mount (newinstance, ptmxmode=, mode=, gid=).
    func makeDevPts(ptmxMode: UInt32, slaveMode: UInt32, slaveGID: UInt32?) -> DevPts {
        let d = DevPts(fs: FileSystemID(dev: allocateAnonymousDevice(), name: "devpts"), ptmxMode: ptmxMode,
                       slaveMode: slaveMode, slaveGID: slaveGID)
        devPtsInstances.removeAll { $0.instance == nil }
        devPtsInstances.append(WeakDevPts(instance: d))
        return d
    }
}

/// What the two ends share: reads and writes go to the pty's queues, ioctls to its settings.
class PtyEndDescription: FileDescription {
    let pty: Pty
    init(inode: Inode, pty: Pty, flags: Int32) {
        self.pty = pty
        super.init(inode: inode, flags: flags)
    }
    override func eventQueue() -> WaitQueue? { pty.queue }
    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 { throw .ESPIPE }

    func copyOut(_ bytes: [UInt8], _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        if bytes.isEmpty { return 0 }
        let n = try bytes.withBytes { (p: UnsafeRawBufferPointer) throws(LinuxErrno) -> Int in try dst.copyOut(p) }
        if n == 0 { throw .EFAULT }
        return n
    }
    func copyIn(_ src: inout IOSequence, max: Int) throws(LinuxErrno) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: min(src.count, max))
        var copy = src
        let n = try bytes.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in try copy.copyIn(p) }
        if n == 0 && !bytes.isEmpty { throw .EFAULT }
        return Array(bytes[0..<n])
    }

    /// The terminal ioctls both ends answer.
    override func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        switch request {
        case 0x5401: // TCGETS
            try t.mm.write(argument, pty.termios.bytes(withSpeeds: false))
        case 0x802c542a: // TCGETS2
            try t.mm.write(argument, pty.termios.bytes(withSpeeds: true))
        case 0x5402, 0x5403, 0x5404, 0x402c542b, 0x402c542c, 0x402c542d: // TCSETS(W,F), TCSETS2(W,F)
            let two = request > 0xffff
            let b = try t.mm.read(argument, count: two ? 44 : 36)
            pty.setTermios(Termios(b, current: pty.termios), flushInput: request == 0x5404 || request == 0x402c542d)
        case 0x5405: // TCGETA: the old struct termio, each flag's low 16 bits and 8 control characters
            let tio = pty.termios
            var b: [UInt8] = []
            for v in [tio.iflag, tio.oflag, tio.cflag, tio.lflag] { withUnsafeBytes(of: UInt16(truncatingIfNeeded: v)) { b += $0 } }
            b.append(tio.line)
            b += tio.cc[0..<8]
            b.append(0) // padding to 18 bytes
            try t.mm.write(argument, b)
        case 0x5406, 0x5407, 0x5408: // TCSETA(W,F): the low 16 bits of each flag change, the rest stays
            let b = try t.mm.read(argument, count: 17)
            var tio = pty.termios
            func half(_ i: Int) -> UInt32 { UInt32(b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self) }) }
            tio.iflag = tio.iflag & 0xffff_0000 | half(0)
            tio.oflag = tio.oflag & 0xffff_0000 | half(1)
            tio.cflag = tio.cflag & 0xffff_0000 | half(2)
            tio.lflag = tio.lflag & 0xffff_0000 | half(3)
            tio.line = b[8]
            tio.cc.replaceSubrange(0..<8, with: b[9..<17])
            pty.setTermios(tio, flushInput: request == 0x5408)
        case 0x5413: // TIOCGWINSZ
            try t.mm.write(argument, pty.window)
        case 0x5414: // TIOCSWINSZ: a change signals the foreground group
            let w = try t.mm.read(argument, count: 8)
            if w != pty.window { pty.signalForeground(Signal.SIGWINCH, kernel: t.kernel) }
            pty.window = w
        case 0x541B: // FIONREAD
            try t.mm.writeValue(argument, Int32(clamping: self is PtyMasterDescription ? pty.outputQueued : pty.slaveReadable))
        case 0x5411: // TIOCOUTQ
            try t.mm.writeValue(argument, Int32(clamping: self is PtyMasterDescription ? pty.inputQueued : pty.outputQueued))
        case 0x540B: // TCFLSH
            try pty.flush(argument)
        case 0x540A: // TCXONC
            try pty.flowControl(argument)
        case 0x5409, 0x5425, 0x540C, 0x540D: // TCSBRK, TCSBRKP (no line to break), TIOCEXCL, TIOCNXCL
            break
        case 0x540E: // TIOCSCTTY: the caller's session (a leader's) takes this terminal
            guard t.group.sid == t.group.pid else { throw .EPERM }
            if pty.session == t.group.sid { return 0 }
            if t.kernel.sessionHasPty(t.group.sid) { throw .EPERM } // it has another terminal
            if let s = pty.session, s != t.group.sid, !(argument == 1 && t.group.capable(21, in: .initial)) { throw .EPERM }
            pty.session = t.group.sid
            pty.foregroundPgid = t.group.pgid
        case 0x5422: // TIOCNOTTY
            guard pty.session == t.group.sid else { throw .ENOTTY }
            if t.group.sid == t.group.pid { pty.session = nil; pty.foregroundPgid = nil }
        case 0x540F: // TIOCGPGRP
            guard pty.session == t.group.sid || self is PtyMasterDescription else { throw .ENOTTY }
            try t.mm.writeValue(argument, pty.foregroundPgid.map(t.vnr) ?? 0)
        case 0x5410: // TIOCSPGRP
            guard pty.session == t.group.sid else { throw .ENOTTY }
            let raw: Int32 = try t.mm.readValue(argument)
            guard raw > 0 else { throw .EINVAL }
            guard let pg = t.globalPgid(raw),
                  t.kernel.threadGroups.values.contains(where: { $0.pgid == pg && $0.sid == t.group.sid }) else { throw .EPERM }
            pty.foregroundPgid = pg
        case 0x5429: // TIOCGSID
            guard let s = pty.session else { throw .ENOTTY }
            try t.mm.writeValue(argument, t.vnr(s))
        default:
            throw .ENOTTY
        }
        return 0
    }
}

struct WeakDevPts { weak var instance: DevPts? }

final class PtyMasterDescription: PtyEndDescription {
    let devpts: DevPts
    /// For the hang-up signals at the last close.
    private weak var kernel: Kernel?
    init(inode: Inode, pty: Pty, devpts: DevPts, flags: Int32, kernel: Kernel) {
        self.devpts = devpts
        self.kernel = kernel
        super.init(inode: inode, pty: pty, flags: flags)
    }
    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        try copyOut(try pty.masterRead(max: min(dst.count, Pty.outputCapacity)), &dst)
    }
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        let bytes = try copyIn(&src, max: Pty.inputCapacity)
        let n = try pty.masterWrite(bytes, kernel: t.kernel)
        src.skip(n)
        return n
    }
    override func readiness(_ mask: EventMask) -> EventMask {
        var r: EventMask = []
        if pty.outputQueued > 0 { r.formUnion(.input) }
        if pty.slaveEverOpened && pty.slaveOpens == 0 { r.insert(.hangUp) }
        if pty.inputQueued < Pty.inputCapacity { r.formUnion(.output) }
        return r.intersection(mask.union(.alwaysReported))
    }
    override func release() {
        pty.masterOpen = false
        devpts.remove(pty)
        // The terminal hangs up: its session leader gets SIGHUP and SIGCONT (tty_vhangup).
        if let s = pty.session, let leader = kernel?.threadGroups[s], leader.exitStatus == nil {
            leader.sendSignal(Signal.SIGHUP, info: SignalInfo(signo: Signal.SIGHUP, code: 0x80))
            leader.sendSignal(Signal.SIGCONT, info: SignalInfo(signo: Signal.SIGCONT, code: 0x80))
        }
        pty.session = nil
        pty.foregroundPgid = nil
        // The slave side hangs up: its readers see the end, its writers EIO.
        pty.queue.notify(EventMask.input.union(.output).union([.hangUp]))
    }
    override func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        switch request {
        case 0x80045430: // TIOCGPTN
            try t.mm.writeValue(argument, UInt32(pty.index))
            return 0
        case 0x40045431: // TIOCSPTLCK
            let v: Int32 = try t.mm.readValue(argument)
            pty.locked = v != 0
            return 0
        case 0x80045439: // TIOCGPTLCK
            try t.mm.writeValue(argument, Int32(pty.locked ? 1 : 0))
            return 0
        case 0x5441: // TIOCGPTPEER: the slave, opened with these flags, as a new fd
            let flags = Int32(truncatingIfNeeded: argument)
            guard flags & ~(O_ACCMODE | O_NOCTTY | O_NONBLOCK | O_CLOEXEC) == 0 else { throw .EINVAL }
            let d = try pty.slaveInode.open(flags: flags, kernel: t.kernel)
            do {
                return UInt64(try t.group.fdTable.install(d, closeOnExec: flags & O_CLOEXEC != 0))
            } catch {
                d.incRef(); d.decRef() // its release counts the slave closed again
                throw error
            }
        default:
            return try super.ioctl(t, request: request, argument: argument)
        }
    }
}

final class PtySlaveDescription: PtyEndDescription {
    /// The terminal's hang-ups when this was opened: one since leaves it dead.
    private let generation: Int
    private var hungUp: Bool { generation != pty.hangups }
    override init(inode: Inode, pty: Pty, flags: Int32) {
        generation = pty.hangups
        super.init(inode: inode, pty: pty, flags: flags)
        pty.slaveOpens += 1
        pty.slaveEverOpened = true
    }
    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        if hungUp { return 0 }
        return try copyOut(try pty.slaveRead(max: dst.count), &dst)
    }
    override func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        if hungUp { throw request == 0x5410 /* TIOCSPGRP */ ? .ENOTTY : .EIO } // hung_up_tty_ioctl
        return try super.ioctl(t, request: request, argument: argument)
    }
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        if hungUp { throw .EIO }
        let bytes = try copyIn(&src, max: Pty.outputCapacity)
        let n = try pty.slaveWrite(bytes)
        src.skip(n)
        return n
    }
    override func readiness(_ mask: EventMask) -> EventMask {
        var r: EventMask = []
        if hungUp { return EventMask.input.union(.output).union([.hangUp, .error]).intersection(mask.union(.alwaysReported)) }
        if !pty.masterOpen { r.formUnion(EventMask.input.union(.output).union(.hangUp)) }
        if pty.slaveReadable > 0 { r.formUnion(.input) }
        if pty.outputQueued < Pty.outputCapacity && !pty.outputStopped { r.formUnion(.output) }
        return r.intersection(mask.union(.alwaysReported))
    }
    override func release() {
        pty.slaveOpens -= 1
        // The master's reader sees EIO once the last slave is gone.
        pty.queue.notify(EventMask.input.union(.hangUp))
    }
}
