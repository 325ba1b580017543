// loop(4): block devices over sandbox files, as Linux's drivers/block/loop.c has them.
// /dev/loop-control (10:237) adds, removes and finds free devices; /dev/loopN (7:N), once
// bound to a file (LOOP_SET_FD, LOOP_CONFIGURE), reads and writes that file from its offset,
// within its size limit. Every byte goes through the backing file's own open description, so
// the device and the file never disagree (Linux's device page cache meets the file only at
// writeback; reading both sooner is allowed to differ there, and is the same here). A block
// device is never mounted: no filesystem of the sandbox lives on one (mount(2) says ENODEV),
// so what a loop device is for here is what tools do with one (losetup, mkfs, dd, LTP's
// test devices). mmap of a device is not offered (ENODEV).
// Kernel lock held throughout.
import Glibc
import JoeyABI

/// One loop device: what it is bound to and how (struct loop_device).
final class LoopDevice {
    enum State { case unbound, bound, rundown }
    /// lo_flags bits.
    static let readOnlyFlag: UInt32 = 1, autoclearFlag: UInt32 = 4, partscanFlag: UInt32 = 8, directIOFlag: UInt32 = 16
    /// What LOOP_CONFIGURE may set; what LOOP_SET_STATUS sets and clears.
    static let configurable = readOnlyFlag | autoclearFlag | partscanFlag | directIOFlag
    static let statusSettable = autoclearFlag | partscanFlag, statusClearable = autoclearFlag

    let number: Int
    /// Its node in the sandbox's /dev.
    let node: SpecialInode
    var state = State.unbound
    /// The file it reads and writes, one reference held while bound.
    private(set) var backing: FileDescription?
    var offset: UInt64 = 0
    var sizeLimit: UInt64 = 0
    var flags: UInt32 = 0
    /// lo_file_name: what LOOP_SET_STATUS last named (losetup's and LTP's record of the path).
    var fileName = [UInt8](repeating: 0, count: 64)
    /// The logical block (sector) size tools read with BLKSSZGET.
    var logicalBlockSize: UInt32 = 512
    /// The block size of the device's buffer I/O (BLKBSZGET, BLKBSZSET).
    var bufferBlockSize: UInt32 = 4096
    /// BLKROSET's read-only policy, apart from the read-only flag of a binding.
    var policyReadOnly = false
    /// Size in 512-byte sectors, worked out at binding, LOOP_SET_STATUS and LOOP_SET_CAPACITY
    /// only (a file growing is seen at LOOP_SET_CAPACITY, as on Linux).
    private(set) var sectors: UInt64 = 0
    /// Open descriptions of the device (disk_openers).
    var openers = 0
    /// BLKGETDISKSEQ: a new number each time a file is bound.
    var diskSequence: UInt64 = 0
    /// I/O statistics for /sys/block/loopN/stat: transfers and 512-byte sectors each way.
    var readIOs: UInt64 = 0, readSectors: UInt64 = 0, writeIOs: UInt64 = 0, writeSectors: UInt64 = 0

    init(number: Int, node: SpecialInode) { self.number = number; self.node = node }

    var bytes: UInt64 { sectors << 9 }
    var readOnly: Bool { policyReadOnly || flags & Self.readOnlyFlag != 0 }

    /// Size in sectors of `file` from `offset`, within `limit` (get_size): 0 when the offset
    /// lies past the file's end.
    static func sectors(of file: FileDescription, offset: UInt64, limit: UInt64) -> UInt64 {
        let size = (file as? LoopDescription)?.device.bytes ?? file.inode.size
        var bytes = size > offset ? size - offset : 0
        if limit > 0 && limit < bytes { bytes = limit }
        return bytes >> 9
    }

    func resize() {
        guard let backing else { sectors = 0; return }
        sectors = Self.sectors(of: backing, offset: offset, limit: sizeLimit)
    }

    /// Binds `file` (loop_configure; the caller has checked the state and the file).
    func bind(_ file: FileDescription, sequence: UInt64) {
        file.incRef()
        backing = file
        state = .bound
        diskSequence = sequence
        resize()
        if flags & Self.directIOFlag != 0 && !canUseDirectIO { flags &= ~Self.directIOFlag }
    }

    /// Swaps the file of a bound device (LOOP_CHANGE_FD).
    func rebind(_ file: FileDescription) {
        file.incRef()
        let old = backing
        backing = file
        old?.decRef()
    }

    /// Unbinds, back to a fresh device (__loop_clr_fd).
    func clear() {
        let old = backing
        backing = nil
        state = .unbound
        offset = 0; sizeLimit = 0; flags = 0
        fileName = [UInt8](repeating: 0, count: 64)
        logicalBlockSize = 512
        sectors = 0
        old?.decRef()
    }

    /// The bound file's path, as loop/backing_file shows it (d_path: " (deleted)" once unlinked).
    var backingPath: String {
        guard let backing else { return "" }
        let path = String(decoding: backing.path.bytes, as: UTF8.self)
        return backing.inode.nlink == 0 ? path + " (deleted)" : path
    }

    /// Direct I/O needs an offset the backing file's blocks align with (lo_can_use_dio): a
    /// multiple of 512 here, every sandbox file taking O_DIRECT at that alignment.
    var canUseDirectIO: Bool { offset % 512 == 0 && backing?.inode.kind == .regular }
}

/// The sandbox's loop devices by number (loop_index_idr) and the /dev their nodes live in.
final class LoopDevices {
    static let major: UInt64 = 7
    /// The most a sandbox holds at once: each costs the sentry a little memory.
    static let most = 256
    /// Numbers are minors: below 2^20 (MINORBITS).
    static let numbers = 1 << 20
    private(set) var devices: [Int: LoopDevice] = [:]
    private let dev: DirectoryInode
    private var sequence: UInt64 = 0

    /// Makes devices 0..<count, as a kernel with CONFIG_BLK_DEV_LOOP_MIN_COUNT does.
    init(count: Int, dev: DirectoryInode) {
        self.dev = dev
        for n in 0..<min(count, Self.most) { _ = try? add(n) }
    }

    /// The device number a node's rdev names (new_encode_dev's layout).
    static func rdev(minor n: Int) -> UInt64 {
        let m = UInt64(n)
        return (m & 0xff) | major << 8 | (m & ~0xff) << 12
    }

    /// LOOP_CTL_ADD: device `n`, or (n < 0) the lowest free number; returns its number.
    func add(_ n: Int) throws(LinuxErrno) -> Int {
        guard n < Self.numbers else { throw .EINVAL }
        if n >= 0 && devices[n] != nil { throw .EEXIST }
        guard devices.count < Self.most else { throw .ENOSPC }
        var number = n
        if n < 0 {
            number = 0
            while devices[number] != nil { number += 1 }
        }
        let node = SpecialInode(kind: .blockDevice, mode: 0o600, fs: dev.fs, ino: nil)
        node.rdev = Self.rdev(minor: number)
        devices[number] = LoopDevice(number: number, node: node)
        // devtmpfs makes the node; a name the guest already used there keeps what it holds.
        try? dev.insert(ByteString("loop\(number)"), node)
        return number
    }

    /// LOOP_CTL_REMOVE: only a device nobody has open and nothing is bound to.
    func remove(_ n: Int) throws(LinuxErrno) {
        guard n >= 0 else { throw .EINVAL }
        guard let device = devices[n] else { throw .ENODEV }
        guard device.state == .unbound, device.openers == 0 else { throw .EBUSY }
        devices[n] = nil
        let name = ByteString("loop\(n)")
        if let present = try? dev.lookup(name), present === device.node { try? dev.remove(name) }
    }

    /// LOOP_CTL_GET_FREE: the lowest-numbered unbound device, or a new one.
    func firstFree() throws(LinuxErrno) -> Int {
        if let free = devices.values.filter({ $0.state == .unbound }).min(by: { $0.number < $1.number }) { return free.number }
        return try add(-1)
    }

    func nextSequence() -> UInt64 { sequence += 1; return sequence }

    /// Opens the device whose minor is `n` through `inode` (its /dev node or one mknod made).
    func open(minor n: Int, inode: Inode, flags: Int32) throws(LinuxErrno) -> FileDescription {
        // A device running down after LOOP_CLR_FD takes no new openers (lo_open).
        guard let device = devices[n], device.state != .rundown else { throw .ENXIO }
        device.openers += 1
        return LoopDescription(inode: inode, device: device, flags: flags)
    }
}

/// An open loop device: block-device reads, writes and seeks within its size, and the loop
/// and block ioctls.
final class LoopDescription: FileDescription {
    let device: LoopDevice

    init(inode: Inode, device: LoopDevice, flags: Int32) {
        self.device = device
        super.init(inode: inode, flags: flags)
    }

    /// The last close of a device marked autoclear (or LOOP_CLR_FD'd) unbinds it (lo_release).
    override func release() {
        device.openers -= 1
        if device.openers == 0, device.flags & LoopDevice.autoclearFlag != 0, device.state != .unbound {
            device.clear()
        }
    }

    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int {
        let n = try pread(t, &dst, at: offset)
        offset += UInt64(n)
        return n
    }
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int {
        let n = try pwrite(t, &src, at: offset)
        offset += UInt64(n)
        return n
    }

    /// O_DIRECT transfers whole logical blocks.
    private func checkDirect(_ at: UInt64, _ count: Int) throws(LinuxErrno) {
        let block = UInt64(device.logicalBlockSize)
        if flags & O_DIRECT != 0, at % block != 0 || UInt64(count) % block != 0 { throw .EINVAL }
    }

    /// blkdev_read_iter: nothing at or past the end, a read across it cut short. What the file
    /// lacks (it shrank after binding) reads as zeros, as the loop driver fills it.
    override func pread(_ t: GuestThread, _ dst: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int {
        try checkDirect(at, dst.count)
        let size = device.bytes
        guard at < size, dst.count > 0, let backing = device.backing else { return 0 }
        let want = Int(min(UInt64(dst.count), size - at))
        var piece = dst.prefix(want)
        var done = 0
        while done < want {
            let n = try backing.pread(t, &piece, at: device.offset + at + UInt64(done))
            if n <= 0 { break }
            done += n
        }
        if done < want { done += try piece.zero(want - done) }
        dst.skip(done)
        device.readIOs += 1
        device.readSectors += UInt64(done + 511) >> 9
        return done
    }

    /// blkdev_write_iter: EPERM on a read-only device, ENOSPC at its end, a write across the
    /// end cut short.
    override func pwrite(_ t: GuestThread, _ src: inout IOSequence, at: UInt64) throws(LinuxErrno) -> Int {
        if device.readOnly { throw .EPERM }
        guard src.count > 0 else { return 0 }
        let size = device.bytes
        guard at < size, let backing = device.backing else { throw .ENOSPC }
        try checkDirect(at, src.count)
        let want = Int(min(UInt64(src.count), size - at))
        var piece = src.prefix(want)
        var done = 0
        while done < want {
            let n = try backing.pwrite(t, &piece, at: device.offset + at + UInt64(done))
            if n <= 0 { break }
            done += n
        }
        src.skip(done)
        device.writeIOs += 1
        device.writeSectors += UInt64(done + 511) >> 9
        return done
    }

    /// fixed_size_llseek: SEEK_SET, SEEK_CUR and SEEK_END within the device's size (EINVAL
    /// past it); no SEEK_DATA or SEEK_HOLE on a block device.
    override func seek(_ off: Int64, whence: Int32) throws(LinuxErrno) -> UInt64 {
        guard whence == SEEK_SET || whence == SEEK_CUR || whence == SEEK_END else { throw .EINVAL }
        if whence == SEEK_CUR && off == 0 { return offset }
        let base: Int64 = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? Int64(offset) : Int64(device.bytes)
        let (n, overflow) = base.addingReportingOverflow(off)
        guard !overflow, n >= 0, UInt64(n) <= device.bytes else { throw .EINVAL }
        offset = UInt64(n)
        return offset
    }

    /// fsync of the device flushes its file (a loop device's REQ_OP_FLUSH is vfs_fsync).
    var backingInode: Inode? { device.backing?.inode }

    override func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        let admin = t.group.capable(21 /* CAP_SYS_ADMIN */, in: .initial)
        let mm = t.mm
        switch request {
        case 0x4C00: // LOOP_SET_FD: LOOP_CONFIGURE with only the fd
            try configure(t, fd: Int32(truncatingIfNeeded: argument), blockSize: 0, info: LoopInfo())
            return 0
        case 0x4C0A: // LOOP_CONFIGURE
            let bytes = try mm.read(argument, count: 304)
            let fd = bytes.withUnsafeBytes { Int32(bitPattern: $0.load(fromByteOffset: 0, as: UInt32.self)) }
            let blockSize = bytes.withUnsafeBytes { $0.load(fromByteOffset: 4, as: UInt32.self) }
            try configure(t, fd: fd, blockSize: blockSize, info: LoopInfo(info64: bytes[8..<240]))
            return 0
        case 0x4C01: // LOOP_CLR_FD: marks the device; the last close unbinds it
            guard device.state == .bound else { throw .ENXIO }
            device.flags |= LoopDevice.autoclearFlag
            if device.openers == 1 { device.state = .rundown }
            return 0
        case 0x4C02, 0x4C04: // LOOP_SET_STATUS, LOOP_SET_STATUS64
            guard writable || admin else { throw .EPERM }
            let info = request == 0x4C02 ? LoopInfo(old: try mm.read(argument, count: 168)[...])
                                         : LoopInfo(info64: try mm.read(argument, count: 232)[...])
            guard device.state == .bound else { throw .ENXIO }
            try setStatus(info)
            return 0
        case 0x4C03, 0x4C05: // LOOP_GET_STATUS, LOOP_GET_STATUS64
            guard argument != 0 else { throw .EINVAL }
            guard device.state == .bound, let backing = device.backing else { throw .ENXIO }
            if request == 0x4C05 {
                try mm.write(argument, status64(backing))
            } else {
                guard device.offset <= UInt64(Int32.max) else { throw .EOVERFLOW }
                try mm.write(argument, statusOld(backing))
            }
            return 0
        case 0x4C06: // LOOP_CHANGE_FD: a read-only device's file for another of its size
            let file = try t.group.fdTable.get(Int32(truncatingIfNeeded: argument))
            guard device.state == .bound, let old = device.backing else { throw .ENXIO }
            guard device.flags & LoopDevice.readOnlyFlag != 0 else { throw .EINVAL }
            try validate(file)
            guard LoopDevice.sectors(of: file, offset: device.offset, limit: device.sizeLimit)
                    == LoopDevice.sectors(of: old, offset: device.offset, limit: device.sizeLimit) else { throw .EINVAL }
            device.rebind(file)
            return 0
        case 0x4C07, 0x4C08, 0x4C09: // LOOP_SET_CAPACITY, LOOP_SET_DIRECT_IO, LOOP_SET_BLOCK_SIZE
            guard writable || admin else { throw .EPERM }
            guard device.state == .bound else { throw .ENXIO }
            switch request {
            case 0x4C07:
                device.resize()
            case 0x4C08:
                let on = argument != 0
                if on == (device.flags & LoopDevice.directIOFlag != 0) { return 0 }
                if on {
                    guard device.canUseDirectIO else { throw .EINVAL }
                    device.flags |= LoopDevice.directIOFlag
                } else {
                    device.flags &= ~LoopDevice.directIOFlag
                }
            default:
                if UInt64(device.logicalBlockSize) == argument { return 0 }
                guard let size = Self.validBlockSize(argument) else { throw .EINVAL }
                device.logicalBlockSize = size
                if device.bufferBlockSize < size { device.bufferBlockSize = size }
            }
            return 0
        default:
            return try blockIoctl(t, request: request, argument: argument, admin: admin)
        }
    }

    /// blk_validate_block_size: a power of two from 512 to 64 KiB.
    static func validBlockSize(_ size: UInt64) -> UInt32? {
        guard size >= 512, size <= 65536, size & (size - 1) == 0 else { return nil }
        return UInt32(size)
    }

    /// loop_validate_file: a regular file or a block device, not a chain of loop devices that
    /// comes back to this one (EBADF) or ends at an unbound one (EINVAL).
    private func validate(_ file: FileDescription) throws(LinuxErrno) {
        var f = file
        while let loop = f as? LoopDescription {
            if loop.device === device { throw .EBADF }
            guard loop.device.state == .bound, let next = loop.device.backing else { throw .EINVAL }
            f = next
        }
        guard f.inode.kind == .regular || f.inode.kind == .blockDevice else { throw .EINVAL }
    }

    /// loop_configure, its checks in Linux's order.
    private func configure(_ t: GuestThread, fd: Int32, blockSize: UInt32, info: LoopInfo) throws(LinuxErrno) {
        let file = try t.group.fdTable.get(fd)
        guard device.state == .unbound else { throw .EBUSY }
        try validate(file)
        guard info.flags & ~LoopDevice.configurable == 0 else { throw .EINVAL }
        try info.check()
        var size: UInt32 = 512
        if blockSize != 0 {
            guard let s = Self.validBlockSize(UInt64(blockSize)) else { throw .EINVAL }
            size = s
        }
        device.offset = info.offset
        device.sizeLimit = info.sizeLimit
        device.fileName = info.fileName
        device.flags = info.flags
        // A file or a device open only for reading makes a read-only device.
        if !file.writable || !writable { device.flags |= LoopDevice.readOnlyFlag }
        if file.flags & O_DIRECT != 0 { device.flags |= LoopDevice.directIOFlag }
        device.logicalBlockSize = size
        device.bufferBlockSize = max(4096, size)
        device.bind(file, sequence: t.kernel.loopDevices?.nextSequence() ?? 0)
    }

    /// loop_set_status: offset, size limit and name, autoclear and partscan; the size follows.
    private func setStatus(_ info: LoopInfo) throws(LinuxErrno) {
        try info.check()
        let resized = info.offset != device.offset || info.sizeLimit != device.sizeLimit
        device.offset = info.offset
        device.sizeLimit = info.sizeLimit
        device.fileName = info.fileName
        device.flags &= ~LoopDevice.statusClearable
        device.flags |= info.flags & LoopDevice.statusSettable
        if resized { device.resize() }
        if !device.canUseDirectIO { device.flags &= ~LoopDevice.directIOFlag }
    }

    /// struct loop_info64 (232 bytes) of a bound device.
    private func status64(_ backing: FileDescription) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 232)
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: backing.inode.fs.dev, toByteOffset: 0, as: UInt64.self)
            p.storeBytes(of: backing.inode.ino, toByteOffset: 8, as: UInt64.self)
            p.storeBytes(of: backing.inode.rdev, toByteOffset: 16, as: UInt64.self)
            p.storeBytes(of: device.offset, toByteOffset: 24, as: UInt64.self)
            p.storeBytes(of: device.sizeLimit, toByteOffset: 32, as: UInt64.self)
            p.storeBytes(of: UInt32(device.number), toByteOffset: 40, as: UInt32.self)
            p.storeBytes(of: device.flags, toByteOffset: 52, as: UInt32.self)
        }
        b.replaceSubrange(56..<120, with: device.fileName)
        return b
    }

    /// struct loop_info (168 bytes on x86-64): the same in the old layout.
    private func statusOld(_ backing: FileDescription) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 168)
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: Int32(device.number), toByteOffset: 0, as: Int32.self)
            p.storeBytes(of: backing.inode.fs.dev, toByteOffset: 8, as: UInt64.self)
            p.storeBytes(of: backing.inode.ino, toByteOffset: 16, as: UInt64.self)
            p.storeBytes(of: backing.inode.rdev, toByteOffset: 24, as: UInt64.self)
            p.storeBytes(of: Int32(device.offset), toByteOffset: 32, as: Int32.self)
            p.storeBytes(of: device.flags, toByteOffset: 44, as: UInt32.self)
        }
        b.replaceSubrange(48..<112, with: device.fileName)
        return b
    }

    /// The generic block-device ioctls (blkdev_common_ioctl, blkdev_ioctl) as a loop device
    /// answers them; anything else is the loop driver's EINVAL.
    private func blockIoctl(_ t: GuestThread, request: UInt64, argument: UInt64, admin: Bool) throws(LinuxErrno) -> UInt64 {
        let mm = t.mm
        switch request {
        case 0x125E: try mm.writeValue(argument, Int32(device.readOnly ? 1 : 0))           // BLKROGET
        case 0x125D:                                                                      // BLKROSET
            guard admin else { throw .EACCES }
            device.policyReadOnly = try mm.readValue(argument, as: Int32.self) != 0
        case 0x1260: try mm.writeValue(argument, device.bytes >> 9)                        // BLKGETSIZE
        case 0x8008_1272: try mm.writeValue(argument, device.bytes)                         // BLKGETSIZE64
        case 0x1268: try mm.writeValue(argument, Int32(device.logicalBlockSize))            // BLKSSZGET
        case 0x127B, 0x1278: try mm.writeValue(argument, device.logicalBlockSize)           // BLKPBSZGET, BLKIOMIN
        case 0x1279, 0x127C: try mm.writeValue(argument, UInt32(0))                         // BLKIOOPT, BLKDISCARDZEROES
        case 0x127A: try mm.writeValue(argument, Int32(0))                                  // BLKALIGNOFF
        case 0x127E: try mm.writeValue(argument, UInt16(1))                                 // BLKROTATIONAL: as file-backed loop devices say
        case 0x1267: try mm.writeValue(argument, UInt16(2560))                              // BLKSECTGET: BLK_DEF_MAX_SECTORS_CAP
        case 0x8008_1280: try mm.writeValue(argument, device.diskSequence)                 // BLKGETDISKSEQ
        case 0x1263, 0x1265:                                                              // BLKRAGET, BLKFRAGET: 128 KiB
            guard argument != 0 else { throw .EINVAL }
            try mm.writeValue(argument, Int64(256))
        case 0x1262, 0x1264:                                                              // BLKRASET, BLKFRASET
            guard admin else { throw .EACCES }
        case 0x8008_1270: try mm.writeValue(argument, Int32(device.bufferBlockSize))        // BLKBSZGET
        case 0x4008_1271:                                                                 // BLKBSZSET
            guard admin else { throw .EACCES }
            let size = try mm.readValue(argument, as: Int32.self)
            guard size > 0, let s = Self.validBlockSize(UInt64(size)), s >= device.logicalBlockSize else { throw .EINVAL }
            device.bufferBlockSize = s
        case 0x1261:                                                                      // BLKFLSBUF
            guard admin else { throw .EACCES }
            try flushBacking(t)
        case 0x125F:                                                                      // BLKRRPART: no partition scanning
            guard admin else { throw .EACCES }
            throw .EINVAL
        case 0x0301:                                                                      // HDIO_GETGEO: loop has no geometry
            guard argument != 0 else { throw .EINVAL }
            throw .ENOTTY
        case 0x1277, 0x127F:                                                              // BLKDISCARD, BLKZEROOUT
            guard writable else { throw .EBADF }
            if device.readOnly { throw .EPERM }
            let range: (UInt64, UInt64) = (try mm.readValue(argument), try mm.readValue(argument + 8))
            try zero(t, from: range.0, count: range.1)
        case 0x127D:                                                                      // BLKSECDISCARD
            throw .EOPNOTSUPP
        default:
            throw .EINVAL
        }
        return 0
    }

    /// fallocate of the device (blkdev_fallocate): PUNCH_HOLE|KEEP_SIZE and ZERO_RANGE zero
    /// whole blocks within it (KEEP_SIZE cuts a range past the end short); nothing allocates.
    func fallocate(_ t: GuestThread, mode: Int32, offset: UInt64, length: UInt64) throws(LinuxErrno) {
        let keepSize: Int32 = 1, punch: Int32 = 2, zeroRange: Int32 = 0x10
        let size = device.bytes
        guard offset < size else { throw .EINVAL }
        var count = length
        if offset + length > size {
            guard mode & keepSize != 0 else { throw .EINVAL }
            count = size - offset
        }
        guard (offset | count) & UInt64(device.logicalBlockSize - 1) == 0 else { throw .EINVAL }
        guard mode == punch | keepSize || mode & ~keepSize == zeroRange else { throw .EOPNOTSUPP }
        if device.readOnly { throw .EPERM }
        try zero(t, from: offset, count: count)
    }

    /// BLKDISCARD and BLKZEROOUT: whole blocks within the device, written as zeros through the
    /// file (what a discarded range of a file-backed loop device reads back as).
    private func zero(_ t: GuestThread, from start: UInt64, count: UInt64) throws(LinuxErrno) {
        let mask = UInt64(device.logicalBlockSize) - 1
        let (end, overflow) = start.addingReportingOverflow(count)
        guard (start | count) & mask == 0, !overflow, end <= device.bytes else { throw .EINVAL }
        guard let backing = device.backing, count > 0 else { return }
        let zeros = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 4096)
        defer { zeros.deallocate() }
        zeros.initializeMemory(as: UInt8.self, repeating: 0)
        var at = start
        while at < end {
            if at > start { _ = t.kernel.yieldLock() }
            let n = Int(min(UInt64(zeros.count), end - at))
            var src = IOSequence.sentry(UnsafeMutableRawBufferPointer(rebasing: zeros[..<n]))
            let written = try backing.pwrite(t, &src, at: device.offset + at)
            guard written > 0 else { throw .EIO }
            at += UInt64(written)
        }
    }

    /// Flushes the file to the host's disk when it writes through to one.
    func flushBacking(_ t: GuestThread) throws(LinuxErrno) {
        if let inode = device.backing?.inode { try t.syncToHost(inode, dataOnly: false) }
    }
}

/// /dev/loop-control: only its three requests.
final class LoopControlDescription: FileDescription {
    override func read(_ t: GuestThread, _ dst: inout IOSequence) throws(LinuxErrno) -> Int { throw .EINVAL }
    override func write(_ t: GuestThread, _ src: inout IOSequence) throws(LinuxErrno) -> Int { throw .EINVAL }

    override func ioctl(_ t: GuestThread, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        guard let loops = t.kernel.loopDevices else { throw .ENODEV }
        // The number is an int in Linux's loop_control_ioctl: -1 asks for any.
        let n = Int(Int32(truncatingIfNeeded: argument))
        switch request {
        case 0x4C80: return UInt64(try loops.add(n))        // LOOP_CTL_ADD
        case 0x4C81: try loops.remove(n); return 0          // LOOP_CTL_REMOVE
        case 0x4C82: return UInt64(try loops.firstFree())   // LOOP_CTL_GET_FREE
        default: throw .ENOSYS
        }
    }
}

/// What LOOP_SET_STATUS, LOOP_SET_STATUS64 and LOOP_CONFIGURE give: the settable fields.
struct LoopInfo {
    var offset: UInt64 = 0
    var sizeLimit: UInt64 = 0
    var encryptType: UInt32 = 0
    var keySize: UInt32 = 0
    var flags: UInt32 = 0
    var fileName = [UInt8](repeating: 0, count: 64)

    init() {}

    /// struct loop_info64.
    init(info64 b: ArraySlice<UInt8>) {
        let s = Array(b)
        s.withUnsafeBytes { p in
            offset = p.load(fromByteOffset: 24, as: UInt64.self)
            sizeLimit = p.load(fromByteOffset: 32, as: UInt64.self)
            encryptType = p.load(fromByteOffset: 44, as: UInt32.self)
            keySize = p.load(fromByteOffset: 48, as: UInt32.self)
            flags = p.load(fromByteOffset: 52, as: UInt32.self)
        }
        fileName = Array(s[56..<120])
        fileName[63] = 0
    }

    /// struct loop_info (loop_info64_from_old: the int offset sign-extends, no size limit).
    init(old b: ArraySlice<UInt8>) {
        let s = Array(b)
        s.withUnsafeBytes { p in
            offset = UInt64(bitPattern: Int64(p.load(fromByteOffset: 32, as: Int32.self)))
            encryptType = p.load(fromByteOffset: 36, as: UInt32.self)
            keySize = p.load(fromByteOffset: 40, as: UInt32.self)
            flags = p.load(fromByteOffset: 44, as: UInt32.self)
        }
        fileName = Array(s[48..<112])
        fileName[63] = 0
    }

    /// loop_set_status_from_info: no key longer than LO_KEY_SIZE, no transformation (Linux
    /// removed xor and cryptoloop), offsets Linux can hold.
    func check() throws(LinuxErrno) {
        guard keySize <= 32, encryptType == 0 else { throw .EINVAL }
        guard offset <= UInt64(Int64.max), sizeLimit <= UInt64(Int64.max) else { throw .EOVERFLOW }
    }
}
