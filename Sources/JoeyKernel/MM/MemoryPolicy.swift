// NUMA memory policies (set_mempolicy, mbind): the sandbox has one memory node, 0, so a
// policy decides no placement; it is validated and kept as Linux keeps it, so that
// get_mempolicy reports it back. The rules follow Linux's mm/mempolicy.c.
import JoeyABI

/// A policy as Linux stores one: its mode, its mode flags, the nodes it allows (the nodes
/// asked for, within the online ones) and, for MPOL_F_STATIC_NODES/RELATIVE_NODES, the mask
/// as the caller gave it, which is what get_mempolicy reports.
struct MemoryPolicy: Equatable {
    static let DEFAULT: UInt16 = 0, PREFERRED: UInt16 = 1, BIND: UInt16 = 2, INTERLEAVE: UInt16 = 3,
               LOCAL: UInt16 = 4, PREFERRED_MANY: UInt16 = 5, WEIGHTED_INTERLEAVE: UInt16 = 6, MAX: UInt16 = 7
    static let F_NUMA_BALANCING: UInt16 = 1 << 13, F_RELATIVE_NODES: UInt16 = 1 << 14, F_STATIC_NODES: UInt16 = 1 << 15
    static let modeFlags = F_NUMA_BALANCING | F_RELATIVE_NODES | F_STATIC_NODES
    /// MAX_NUMNODES of a Debian kernel (CONFIG_NODES_SHIFT=10): the width of a nodemask_t.
    static let maxNodes: UInt64 = 1024
    /// The sandbox's online nodes: node 0 only.
    static let onlineNodes: UInt64 = 1

    var mode: UInt16
    var flags: UInt16
    /// Bits 0..63 of the node mask; a higher node is never online, so never kept.
    var nodes: UInt64
    /// The mask's first long as given, kept for MPOL_F_STATIC_NODES/RELATIVE_NODES (the
    /// only part get_mempolicy reports with one node).
    var userNodes: UInt64

    /// What get_mempolicy's mode reports: the mode and the flags the caller gave.
    var reportedMode: Int32 { Int32(mode | flags) }
    /// What get_mempolicy's node mask reports.
    var reportedNodes: UInt64 {
        flags & (Self.F_STATIC_NODES | Self.F_RELATIVE_NODES) != 0 ? userNodes : (mode == Self.LOCAL ? 0 : nodes)
    }

    /// Linux's sanitize_mpol_flags: the mode (an int) split into mode and mode flags.
    static func sanitize(_ requested: UInt64) throws(LinuxErrno) -> (mode: UInt16, flags: UInt16) {
        let value = UInt32(truncatingIfNeeded: requested)
        let flags = UInt16(truncatingIfNeeded: value) & modeFlags
        guard value & ~UInt32(modeFlags) < UInt32(MAX) else { throw .EINVAL }
        let mode = UInt16(truncatingIfNeeded: value) & ~modeFlags
        if flags & F_STATIC_NODES != 0 && flags & F_RELATIVE_NODES != 0 { throw .EINVAL }
        if flags & F_NUMA_BALANCING != 0 && mode != BIND && mode != PREFERRED_MANY { throw .EINVAL }
        return (mode, flags)
    }

    /// Linux's mpol_new: nil for MPOL_DEFAULT (no policy). `mask` is the node mask read from
    /// the caller (get_nodes), up to maxNodes bits.
    static func make(mode: UInt16, flags: UInt16, mask: [UInt64]) throws(LinuxErrno) -> MemoryPolicy? {
        let nodes = mask.first ?? 0, anyNode = mask.contains { $0 != 0 }
        if mode == DEFAULT {
            guard !anyNode else { throw .EINVAL }
            return nil
        }
        if !anyNode {
            // An empty mask: "local" for PREFERRED (and LOCAL itself), without node flags.
            guard mode == PREFERRED || mode == LOCAL, flags & (F_STATIC_NODES | F_RELATIVE_NODES) == 0 else { throw .EINVAL }
            return MemoryPolicy(mode: LOCAL, flags: flags, nodes: 0, userNodes: 0)
        }
        if mode == LOCAL { throw .EINVAL }
        // RELATIVE_NODES folds the mask onto the online nodes (any node is the first online
        // one here); otherwise the mask is cut to the online nodes and may not end up empty.
        let effective = flags & F_RELATIVE_NODES != 0 ? onlineNodes : nodes & onlineNodes
        guard effective != 0 else { throw .EINVAL }
        let user = flags & (F_STATIC_NODES | F_RELATIVE_NODES) != 0 ? nodes : 0
        return MemoryPolicy(mode: mode, flags: flags, nodes: effective, userNodes: user)
    }
}
