// The block part of sysfs, made by the sentry from its own loop devices (FS/Loop.swift):
// /sys/devices/virtual/block/loopN with the attributes losetup, lsblk and LTP read (dev,
// size, ro, stat, queue/, and loop/ while bound), /sys/block/loopN and /sys/dev/block/7:N
// linking there. Mounted over those three directories where the sandbox has loop devices and
// the root has the directories: a sandbox has no other block device, so the host's disks are
// not listed there. The rest of /sys is what the root shows (the host's for `joey do`, an
// empty sysfs for OCI, where these are not mounted).
// Kernel lock held throughout.
import JoeyABI

enum SysBlock {
    /// The three directories and what to mount at each.
    static func mounts(_ loops: LoopDevices, fs: FileSystemID) -> [(path: String, root: Inode)] {
        let names: () -> [(String, FileKind)] = {
            loops.devices.keys.sorted().map { ("loop\($0)", FileKind.symlink) }
        }
        func number(_ name: String, prefix: String) throws(LinuxErrno) -> LoopDevice {
            guard name.hasPrefix(prefix), let n = Int(name.dropFirst(prefix.count)), String(n) == String(name.dropFirst(prefix.count)),
                  let device = loops.devices[n] else { throw .ENOENT }
            return device
        }
        let devices = DynamicDirectory(fs: fs, mode: 0o755, list: {
            names().map { ($0.0, FileKind.directory) }
        }, find: { (name: String) throws(LinuxErrno) -> Inode in
            deviceDirectory(try number(name, prefix: "loop"), fs: fs)
        })
        let block = DynamicDirectory(fs: fs, mode: 0o755, list: names, find: { (name: String) throws(LinuxErrno) -> Inode in
            let device = try number(name, prefix: "loop")
            return DynamicSymlink(fs: fs) { ByteString("../devices/virtual/block/loop\(device.number)") }
        })
        let byNumber = DynamicDirectory(fs: fs, mode: 0o755, list: {
            loops.devices.keys.sorted().map { ("\(LoopDevices.major):\($0)", FileKind.symlink) }
        }, find: { (name: String) throws(LinuxErrno) -> Inode in
            let device = try number(name, prefix: "\(LoopDevices.major):")
            return DynamicSymlink(fs: fs) { ByteString("../../devices/virtual/block/loop\(device.number)") }
        })
        return [("/sys/devices/virtual/block", devices), ("/sys/block", block), ("/sys/dev/block", byNumber)]
    }

    /// A file of one line, made when opened.
    private static func line(_ fs: FileSystemID, _ text: @escaping () -> String) -> Inode {
        GeneratedFile(fs: fs) { Array((text() + "\n").utf8) }
    }

    private static func deviceDirectory(_ d: LoopDevice, fs: FileSystemID) -> Inode {
        let attributes: [String: () -> Inode] = [
            "dev": { line(fs) { "\(LoopDevices.major):\(d.number)" } },
            "size": { line(fs) { "\(d.bytes >> 9)" } },
            "ro": { line(fs) { d.readOnly ? "1" : "0" } },
            "removable": { line(fs) { "0" } },
            "range": { line(fs) { "1" } },
            "diskseq": { line(fs) { "\(d.diskSequence)" } },
            "uevent": { GeneratedFile(fs: fs) {
                Array("MAJOR=\(LoopDevices.major)\nMINOR=\(d.number)\nDEVNAME=loop\(d.number)\nDEVTYPE=disk\nDISKSEQ=\(d.diskSequence)\n".utf8)
            } },
            // Documentation/block/stat.rst's 17 fields; the sentry counts I/Os and sectors.
            "stat": { line(fs) {
                [d.readIOs, 0, d.readSectors, 0, d.writeIOs, 0, d.writeSectors, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
                    .map { String($0).leftPadded(8, with: " ") }.joined(separator: " ")
            } },
            "queue": { queueDirectory(d, fs: fs) },
            "holders": { DynamicDirectory(fs: fs, mode: 0o755, list: { [] }, find: { (_: String) throws(LinuxErrno) -> Inode in throw .ENOENT }) },
            "slaves": { DynamicDirectory(fs: fs, mode: 0o755, list: { [] }, find: { (_: String) throws(LinuxErrno) -> Inode in throw .ENOENT }) },
        ]
        return DynamicDirectory(fs: fs, mode: 0o755, list: {
            var entries = attributes.keys.sorted().map { ($0, ["queue", "holders", "slaves"].contains($0) ? FileKind.directory : .regular) }
            if d.state != .unbound { entries.append(("loop", .directory)) }
            return entries
        }, find: { (name: String) throws(LinuxErrno) -> Inode in
            if name == "loop" {
                // Present while a file is bound, as the loop driver adds and removes it.
                guard d.state != .unbound else { throw .ENOENT }
                return loopDirectory(d, fs: fs)
            }
            guard let make = attributes[name] else { throw .ENOENT }
            return make()
        })
    }

    private static func queueDirectory(_ d: LoopDevice, fs: FileSystemID) -> Inode {
        let attributes: [String: () -> String] = [
            "logical_block_size": { "\(d.logicalBlockSize)" },
            "physical_block_size": { "\(d.logicalBlockSize)" },
            "hw_sector_size": { "\(d.logicalBlockSize)" },
            "minimum_io_size": { "\(d.logicalBlockSize)" },
            "optimal_io_size": { "0" },
            "rotational": { "1" },
            "read_ahead_kb": { "128" },
            "max_sectors_kb": { "1280" },
        ]
        return DynamicDirectory(fs: fs, mode: 0o755, list: { attributes.keys.sorted().map { ($0, FileKind.regular) } },
                                find: { (name: String) throws(LinuxErrno) -> Inode in
            guard let text = attributes[name] else { throw .ENOENT }
            return line(fs, text)
        })
    }

    /// loop/: the binding, as the loop driver's sysfs group shows it.
    private static func loopDirectory(_ d: LoopDevice, fs: FileSystemID) -> Inode {
        let attributes: [String: () -> String] = [
            "backing_file": { d.backingPath },
            "offset": { "\(d.offset)" },
            "sizelimit": { "\(d.sizeLimit)" },
            "autoclear": { d.flags & LoopDevice.autoclearFlag != 0 ? "1" : "0" },
            "partscan": { d.flags & LoopDevice.partscanFlag != 0 ? "1" : "0" },
            "dio": { d.flags & LoopDevice.directIOFlag != 0 ? "1" : "0" },
        ]
        return DynamicDirectory(fs: fs, mode: 0o755, list: { attributes.keys.sorted().map { ($0, FileKind.regular) } },
                                find: { (name: String) throws(LinuxErrno) -> Inode in
            guard let text = attributes[name] else { throw .ENOENT }
            return line(fs, text)
        })
    }
}
