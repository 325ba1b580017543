// NUMA memory policy system calls: set_mempolicy, get_mempolicy, mbind,
// set_mempolicy_home_node, and the page migration calls migrate_pages and move_pages. The
// sandbox has one node (MM/MemoryPolicy.swift), so nothing ever moves; the errno order is
// Linux's.
import JoeyABI

extension GuestThread {
    static let MPOL_F_NODE: UInt64 = 1, MPOL_F_ADDR: UInt64 = 2, MPOL_F_MEMS_ALLOWED: UInt64 = 4
    static let MPOL_MF_STRICT: UInt64 = 1, MPOL_MF_MOVE: UInt64 = 2, MPOL_MF_MOVE_ALL: UInt64 = 4
    static let CAP_SYS_NICE = 23

    /// Linux's get_nodes: the caller's mask of `maxnode - 1` bits, bits at or above
    /// MemoryPolicy.maxNodes refused when set.
    private func readNodeMask(_ address: UInt64, _ maxnode: UInt64) throws(LinuxErrno) -> [UInt64] {
        let bits = maxnode &- 1 // a maxnode of 0 wraps around, and is too large
        if bits == 0 || address == 0 { return [] }
        guard bits <= 4096 * 8 else { throw .EINVAL }
        let words = Int((bits + 63) / 64)
        let raw = try mm.read(address, count: words * 8)
        var mask = raw.withUnsafeBytes { p in (0..<words).map { p.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self) } }
        if bits % 64 != 0 { mask[words - 1] &= (1 << (bits % 64)) - 1 }
        // Nodes past nodemask_t's width must be clear.
        let kept = Int(MemoryPolicy.maxNodes / 64)
        if mask.count > kept {
            guard mask[kept...].allSatisfy({ $0 == 0 }) else { throw .EINVAL }
            mask.removeLast(mask.count - kept)
        }
        return mask
    }

    /// Linux's copy_nodes_to_user: `maxnode - 1` bits rounded up to whole longs (as C's
    /// ALIGN, wrapping), of which the first long holds the nodes (nr_node_ids is 1); the rest
    /// is zeroes.
    private func writeNodeMask(_ address: UInt64, _ maxnode: UInt64, _ nodes: UInt64) throws(LinuxErrno) {
        let bytes = ((maxnode &- 1) &+ 63) / 64 * 8
        guard bytes <= 4096 else { throw .EINVAL }
        var out = [UInt8](repeating: 0, count: Int(bytes))
        if bytes >= 8 { out.withUnsafeMutableBytes { $0.storeBytes(of: nodes, toByteOffset: 0, as: UInt64.self) } }
        try mm.write(address, out)
    }

    func sysSetMempolicy() throws(LinuxErrno) -> UInt64 {
        let (mode, flags) = try MemoryPolicy.sanitize(a0)
        memoryPolicy = try MemoryPolicy.make(mode: mode, flags: flags, mask: try readNodeMask(a1, a2))
        return 0
    }

    func sysGetMempolicy() throws(LinuxErrno) -> UInt64 {
        let (modeAt, maskAt, maxnode, address, flags) = (a0, a1, a2, a3, a4)
        guard maskAt == 0 || maxnode >= 1 else { throw .EINVAL } // nr_node_ids
        guard flags & ~(Self.MPOL_F_NODE | Self.MPOL_F_ADDR | Self.MPOL_F_MEMS_ALLOWED) == 0 else { throw .EINVAL }
        var mode: Int32 = 0
        var mask = MemoryPolicy.onlineNodes
        if flags & Self.MPOL_F_MEMS_ALLOWED != 0 {
            guard flags & (Self.MPOL_F_NODE | Self.MPOL_F_ADDR) == 0 else { throw .EINVAL }
        } else {
            if flags & Self.MPOL_F_ADDR == 0 && address != 0 { throw .EINVAL }
            let policy: MemoryPolicy?
            if flags & Self.MPOL_F_ADDR != 0 {
                // The mapping's own policy: the thread's is not its fallback here.
                guard let v = mm.vma(containing: address) else { throw .EFAULT }
                policy = v.policy
            } else {
                policy = memoryPolicy
            }
            if flags & Self.MPOL_F_NODE != 0 {
                // The node of the page at the address, or the next interleave node: node 0.
                if flags & Self.MPOL_F_ADDR == 0 {
                    guard let p = policy, p.mode == MemoryPolicy.INTERLEAVE || p.mode == MemoryPolicy.WEIGHTED_INTERLEAVE else { throw .EINVAL }
                }
                mode = 0
            } else {
                mode = policy?.reportedMode ?? 0
            }
            mask = policy?.reportedNodes ?? 0
        }
        if modeAt != 0 { try mm.writeValue(modeAt, mode) }
        if maskAt != 0 { try writeNodeMask(maskAt, maxnode, mask) }
        return 0
    }

    func sysMbind() throws(LinuxErrno) -> UInt64 {
        let (start, length, requested, maskAt, maxnode, flags) = (a0, a1, a2, a3, a4, a5 & 0xffff_ffff) // flags: unsigned int
        let (mode, modeFlags) = try MemoryPolicy.sanitize(requested)
        let mask = try readNodeMask(maskAt, maxnode)
        guard flags & ~(Self.MPOL_MF_STRICT | Self.MPOL_MF_MOVE | Self.MPOL_MF_MOVE_ALL) == 0 else { throw .EINVAL }
        if flags & Self.MPOL_MF_MOVE_ALL != 0 && !group.capable(Self.CAP_SYS_NICE, in: .initial) { throw .EPERM }
        guard start & 0xfff == 0, length <= UInt64.max - 0xfff else { throw .EINVAL }
        let (end, overflow) = start.addingReportingOverflow((length + 0xfff) & ~0xfff)
        guard !overflow else { throw .EINVAL }
        if end == start { return 0 }
        let policy = try MemoryPolicy.make(mode: mode, flags: modeFlags, mask: mask)
        guard mm.covers(start, end) else { throw .EFAULT }
        try mm.checkRoomForMappings(limit: kernel.tunables.mapCountLimit)
        mm.update(start, end) { $0.policy = policy }
        return 0
    }

    /// migrate_pages: a process's pages on the old nodes move to the new ones. Linux's checks
    /// in its order (the masks, the process, the right to look at it, the new nodes); with one
    /// node a page is already where it may go, so no page is left unmoved: 0.
    func sysMigratePages() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0), maxnode = a1
        _ = try readNodeMask(a2, maxnode)
        let new = try readNodeMask(a3, maxnode)
        let target = try pageMigrationTarget(pid)
        // Nodes outside the target's allowed ones need CAP_SYS_NICE; of the rest, one of the
        // caller's must remain.
        let outside = (new.first ?? 0) & ~MemoryPolicy.onlineNodes != 0 || new.dropFirst().contains { $0 != 0 }
        if outside && !group.capable(Self.CAP_SYS_NICE, in: .initial) { throw .EPERM }
        guard (new.first ?? 0) & MemoryPolicy.onlineNodes != 0 else { throw .EINVAL }
        guard target.exitStatus == nil else { throw .EINVAL } // no address space left
        return 0
    }

    /// The process whose pages migrate_pages and move_pages move (0: the caller's): ESRCH,
    /// or EPERM unless the caller may look at it (PTRACE_MODE_READ_REALCREDS).
    private func pageMigrationTarget(_ pid: Int32) throws(LinuxErrno) -> ThreadGroup {
        guard let t = pid == 0 ? self : thread(pid) else { throw .ESRCH }
        guard t.group === group || mayAttach(t.group) else { throw .EPERM }
        return t.group
    }

    /// move_pages: with `nodes`, moves each page to its node; without, reports each page's
    /// node. Either way each status is the page's node (0) when it is in memory, ENOENT when it
    /// is mapped but not yet in memory, EFAULT when nothing is mapped there (as Linux 6.x).
    /// Linux asks the process's page tables, which Joey does not keep per page: a file page
    /// counts once the file's data is in memory (as mincore), and an anonymous page only ever
    /// read is an ordinary page here (Linux: EFAULT, the shared zero page). Pages and statuses
    /// go in chunks, as Linux's do_pages_stat does, so a fault part way leaves the statuses
    /// before it written.
    func sysMovePages() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0), count = a1, pagesAt = a2, nodesAt = a3, statusAt = a4
        let flags = UInt64(UInt32(truncatingIfNeeded: a5)) // int flags
        guard flags & ~(Self.MPOL_MF_MOVE | Self.MPOL_MF_MOVE_ALL) == 0 else { throw .EINVAL }
        if flags & Self.MPOL_MF_MOVE_ALL != 0 && !group.capable(Self.CAP_SYS_NICE, in: .initial) { throw .EPERM }
        let target = try pageMigrationTarget(pid)
        guard target.exitStatus == nil else { throw .EINVAL } // no address space left
        func status(_ address: UInt64) -> Int32 {
            let page = address & ~0xfff
            guard target.mm.vma(containing: page) != nil else { return -Int32(LinuxErrno.EFAULT.rawValue) }
            let resident = target.mm.residentPages(page, page + 0x1000, memoryFile: kernel.memoryFile)
            return resident.first == true ? 0 : -Int32(LinuxErrno.ENOENT.rawValue)
        }
        var i: UInt64 = 0
        while i < count {
            if nodesAt == 0 {
                // do_pages_stat: 16 addresses in, 16 statuses out.
                let n = min(count - i, 16)
                var chunk = [Int32](repeating: 0, count: Int(n))
                for j in 0..<n { chunk[Int(j)] = status(try mm.readValue(pagesAt &+ (i + j) &* 8) as UInt64) }
                try mm.write(statusAt &+ i &* 4, chunk.withUnsafeBytes { [UInt8]($0) })
                i += n
            } else {
                // do_pages_move: each page's address and node read, the node checked (a bad
                // one ends the call), then its status written.
                let address: UInt64 = try mm.readValue(pagesAt &+ i &* 8)
                let node: Int32 = try mm.readValue(nodesAt &+ i &* 4)
                guard node >= 0, node < 64, MemoryPolicy.onlineNodes & (1 << UInt64(node)) != 0 else { throw .ENODEV }
                try mm.writeValue(statusAt &+ i &* 4, status(address))
                i += 1
            }
        }
        return 0
    }

    /// set_mempolicy_home_node: the VMAs in the range with a BIND or PREFERRED_MANY policy
    /// take the node; there being only node 0, nothing else changes.
    func sysSetMempolicyHomeNode() throws(LinuxErrno) -> UInt64 {
        let (start, length, node, flags) = (a0, a1, a2, a3)
        guard start & 0xfff == 0, flags == 0, node < 64, MemoryPolicy.onlineNodes & (1 << node) != 0,
              length <= UInt64.max - 0xfff else { throw .EINVAL }
        let (end, overflow) = start.addingReportingOverflow((length + 0xfff) & ~0xfff)
        guard !overflow else { throw .EINVAL }
        if end == start { return 0 }
        var found = false
        for v in mm.vmas where v.end > start && v.start < end {
            guard let p = v.policy else { continue }
            guard p.mode == MemoryPolicy.BIND || p.mode == MemoryPolicy.PREFERRED_MANY else { throw .EOPNOTSUPP }
            found = true
        }
        guard found else { throw .ENOENT }
        return 0
    }
}
