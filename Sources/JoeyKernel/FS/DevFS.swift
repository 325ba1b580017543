// devfs: the only devices a guest can reach: null, zero, full, random, urandom, tty, the
// pseudo-terminals of ptmx and pts (FS/Pty.swift), and where the sandbox offers them the loop
// devices and loop-control (FS/Loop.swift).
import CJoey
import Glibc
import JoeyABI

final class DeviceInode: Inode {
    enum Device { case null, zero, full, random, tty, loopControl }
    let device: Device
    init(_ device: Device, major: UInt64, minor: UInt64, mode: UInt32 = 0o666, fs: FileSystemID) {
        self.device = device
        super.init(kind: .characterDevice, mode: mode, fs: fs)
        rdev = (major << 8) | minor
    }
    override func open(flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        try Self.open(device, inode: self, flags: flags, kernel: kernel)
    }

    /// Opens `device` through `inode` (this one, or a device node a guest made).
    static func open(_ device: Device, inode: Inode, flags: Int32, kernel: Kernel) throws(LinuxErrno) -> FileDescription {
        if device == .tty {
            guard let tty = kernel.controllingTerminal else { throw .ENXIO }
            return HostStreamDescription(inode: inode, hostFD: tty, owner: nil, flags: flags, kernel: kernel)
        }
        if device == .loopControl {
            guard kernel.loopDevices != nil else { throw .ENXIO }
            return LoopControlDescription(inode: inode, flags: flags)
        }
        return DeviceDescription(inode: inode, device: device, flags: flags)
    }
}

extension DeviceInode.Device {
    /// The device of a character device number, as /dev has them (memory devices 1:3, 1:5,
    /// 1:7, 1:8, 1:9, the controlling terminal 5:0, loop-control 10:237), or nil.
    init?(major: UInt64, minor: UInt64) {
        switch (major, minor) {
        case (1, 3): self = .null
        case (1, 5): self = .zero
        case (1, 7): self = .full
        case (1, 8), (1, 9): self = .random
        case (5, 0): self = .tty
        case (10, 237): self = .loopControl
        default: return nil
        }
    }
}

final class DeviceDescription: FileDescription {
    let device: DeviceInode.Device

    init(inode: Inode, device: DeviceInode.Device, flags: Int32) {
        self.device = device
        super.init(inode: inode, flags: flags)
    }
    /// Most bytes zeroed or made random with the kernel lock held at a time.
    private static let piece = 1 << 16

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        switch device {
        case .null: return 0
        case .zero, .full:
            // In pieces, a thread waiting for the kernel lock having it between them.
            var done = 0
            while dst.count > 0 {
                if done > 0 { _ = t.kernel.yieldLock() }
                let want = min(dst.count, Self.piece)
                let n: Int
                do { n = try dst.zero(want) } catch {
                    if done > 0 { break }
                    throw error
                }
                done += n
                if n < want { break }
            }
            return done
        case .random:
            // Linux hands out at most 32 MiB of randomness per read.
            var done = 0
            let want = min(dst.count, 32 << 20)
            while done < want {
                if done > 0 { _ = t.kernel.yieldLock() }
                let n = try dst.withNextPiece(writing: true, limit: min(want - done, Self.piece)) { (piece: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in
                    let r = Int(joey_getrandom(piece.baseAddress!, UInt64(piece.count)))
                    if r < 0 { throw LinuxErrno(Int32(-r)) }
                    return r
                }
                if n == 0 { break }
                done += n
            }
            return done
        case .tty, .loopControl: throw .EIO
        }
    }
    override func pread(_ t: GuestThread, _ dst: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int {
        try read(t, &dst)
    }
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        if device == .full { throw .ENOSPC }
        let n = src.count
        src.skip(n)
        return n
    }
    override func pwrite(_ t: GuestThread, _ src: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int {
        try write(t, &src)
    }
    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 { offset = 0; return 0 }

    /// The entropy count Linux 5.18 and later report once the pool is ready: always, here.
    static let entropyBits = 256

    /// random(4)'s ioctls: RNDGETENTCNT reads the count; those that would credit, add to or
    /// clear the pool (the host's) are refused, as to a process without CAP_SYS_ADMIN.
    override func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        guard device == .random else { throw .ENOTTY }
        switch request {
        case 0x8004_5200: // RNDGETENTCNT
            try t.mm.writeValue(argument, Int32(Self.entropyBits))
            return 0
        case 0x4004_5201, 0x4008_5203, 0x5204, 0x5206, 0x5207: // RNDADDTOENTCNT, RNDADDENTROPY, RNDZAPENTCNT, RNDCLEARPOOL, RNDRESEEDCRNG
            throw .EPERM
        default:
            throw .EINVAL // random_ioctl's answer to anything else
        }
    }
}

extension Kernel {
    /// A random (version 4) UUID as Linux's random driver writes one: lowercase, dashed.
    static func randomUUID() -> String {
        var b = [UInt8](repeating: 0, count: 16)
        _ = b.withUnsafeMutableBytes { joey_getrandom($0.baseAddress, 16) }
        b[6] = b[6] & 0x0f | 0x40
        b[8] = b[8] & 0x3f | 0x80
        let hex = Array("0123456789abcdef")
        var s = ""
        for (i, byte) in b.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { s.append("-") }
            s.append(hex[Int(byte >> 4)])
            s.append(hex[Int(byte & 0xf)])
        }
        return s
    }
}

extension Kernel {
    static func makeDevFS(_ ctx: OverlayContext, devPts: DevPts, loopControl: Bool) -> DirectoryInode {
        let dev = DirectoryInode(context: ctx, mode: 0o755)
        let fs = ctx.id
        let nodes: [(ByteString, DeviceInode)] = [
            ("null", DeviceInode(.null, major: 1, minor: 3, fs: fs)),
            ("zero", DeviceInode(.zero, major: 1, minor: 5, fs: fs)),
            ("full", DeviceInode(.full, major: 1, minor: 7, fs: fs)),
            ("random", DeviceInode(.random, major: 1, minor: 8, fs: fs)),
            ("urandom", DeviceInode(.random, major: 1, minor: 9, fs: fs)),
            ("tty", DeviceInode(.tty, major: 5, minor: 0, fs: fs)),
        ]
        for (name, node) in nodes { try? dev.insert(name, node) }
        if loopControl {
            // 0600 root:root, as devtmpfs makes it where no udev rule changes it.
            try? dev.insert("loop-control", DeviceInode(.loopControl, major: 10, minor: 237, mode: 0o600, fs: fs))
        }
        try? dev.insert("ptmx", devPts.ptmx)
        try? dev.insert("pts", devPts.directory)
        let links: [(ByteString, ByteString)] = [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                                                 ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")]
        for (name, target) in links {
            _ = try? dev.create(name, kind: .symlink, mode: 0o777, uid: 0, gid: 0, target: target)
        }
        _ = try? dev.create("shm", kind: .directory, mode: 0o1777, uid: 0, gid: 0)
        return dev
    }
}
