// System V semaphores (semget, semop, semtimedop, semctl): sets of counters in the sentry,
// changed all-or-nothing by semop, with SEM_UNDO adjustments applied when a process exits.
// A blocked semop waits on its set's queue and tries the whole operation again when any
// value changes; IPC_RMID wakes it with EIDRM. The guest's operations are copied in before
// any wait. Kernel lock held throughout.
import Glibc
import JoeyABI

final class SemaphoreSet: IPCObject {
    let id: Int32
    let key: Int32
    var uid: UInt32, gid: UInt32
    let creatorUID: UInt32, creatorGID: UInt32
    var mode: UInt32
    var values: [UInt16]
    /// The last process to operate on each semaphore (GETPID).
    var pids: [Int32]
    /// Processes waiting for a semaphore to grow (GETNCNT) or to be zero (GETZCNT).
    var waitingIncrease: [Int], waitingZero: [Int]
    var operationTime: Int64 = 0, changeTime: Int64
    var removed = false
    let queue = WaitQueue()

    init(id: Int32, key: Int32, count: Int, mode: UInt32, uid: UInt32, gid: UInt32) {
        self.id = id; self.key = key; self.mode = mode
        self.uid = uid; self.gid = gid; creatorUID = uid; creatorGID = gid
        values = [UInt16](repeating: 0, count: count)
        pids = [Int32](repeating: 0, count: count)
        waitingIncrease = [Int](repeating: 0, count: count)
        waitingZero = [Int](repeating: 0, count: count)
        changeTime = Timespec.now().sec
    }
}

/// An IPC namespace's semaphore sets, and each process's SEM_UNDO adjustments there.
final class SemaphoreRegistry {
    var sets: [Int32: SemaphoreSet] = [:]
    var ids = IPCIDs()
    /// pid -> set id -> the adjustment of each semaphore, applied when the process exits.
    var undo: [Int32: [Int32: [Int]]] = [:]
    /// Semaphores in this namespace's sets plus the adjustments its undo lists hold: what
    /// they cost the sentry's heap (some 24 and 8 bytes each), outside the memory limit.
    var cells = 0

    // Linux's defaults (ipc/sem.c, include/uapi/linux/sem.h).
    static let maxValue = 32767
    // The namespace's limits (/proc/sys/kernel/sem: SEMMSL, SEMMNS, SEMOPM, SEMMNI).
    var maxPerSet = 32000, maxCells = SemaphoreRegistry.maxTotalCells, maxOps = 500, maxSets = 32000
    /// Linux's SEMMNS allows 1,024,000,000 semaphores, far more than the sentry's heap
    /// should hold for a guest: past this many cells summed over every IPC namespace semget
    /// is ENOSPC (as past SEMMNS) and a new undo list ENOMEM (a failed allocation).
    static let maxTotalCells = 3 << 20

    /// The process `pid` is gone: its SEM_UNDO adjustments are applied (clamped to 0...SEMVMX).
    func exit(_ pid: Int32) {
        guard let adjustments = undo.removeValue(forKey: pid) else { return }
        for (id, adj) in adjustments {
            cells -= adj.count
            guard let set = sets[id] else { continue }
            for (i, a) in adj.enumerated() where a != 0 && i < set.values.count {
                set.values[i] = UInt16(max(0, min(Self.maxValue, Int(set.values[i]) + a)))
                set.pids[i] = pid
            }
            set.queue.notify(EventMask.input)
        }
    }
}

extension GuestThread {
    private static let SEM_UNDO: UInt16 = 0x1000

    func sysSemget() throws(LinuxErrno) -> UInt64 {
        let key = Int32(truncatingIfNeeded: a0), count = Int64(bitPattern: a1), flags = a2
        let registry = group.ipc.semaphores
        if let s = try ipcLookup(Array(registry.sets.values), key: key, flags: flags, thread: self, checks: { (s: SemaphoreSet) throws(LinuxErrno) in
            guard count <= Int64(s.values.count) else { throw .EINVAL }
        }) {
            return UInt64(s.id)
        }
        guard count >= 1, count <= Int64(registry.maxPerSet) else { throw .EINVAL }
        guard registry.sets.count < registry.maxSets, registry.cells + Int(count) <= registry.maxCells,
              kernel.ipcTotal({ $0.semaphores.cells }) + Int(count) <= SemaphoreRegistry.maxTotalCells else { throw .ENOSPC }
        guard let id = registry.ids.allocate(taken: { registry.sets[$0] != nil }) else { throw .ENOSPC }
        registry.cells += Int(count)
        registry.sets[id] = SemaphoreSet(id: id, key: key, count: Int(count), mode: UInt32(flags & 0o777), uid: group.euid, gid: group.egid)
        return UInt64(id)
    }

    private func semaphoreSet(_ raw: UInt64) throws(LinuxErrno) -> SemaphoreSet {
        let id = Int32(truncatingIfNeeded: raw)
        guard id >= 0, let s = group.ipc.semaphores.sets[id] else { throw .EINVAL }
        return s
    }

    /// semop, semtimedop (a relative timeout; EAGAIN when it passes). Never restarted after a
    /// signal: EINTR, as Linux.
    func sysSemtimedop(timeout: UInt64) throws(LinuxErrno) -> UInt64 {
        guard a2 >= 1 else { throw .EINVAL }
        guard a2 <= UInt64(group.ipc.semaphores.maxOps) else { throw .E2BIG }
        let count = Int(a2)
        let raw = try mm.read(a1, count: count * 6)
        let ops: [(num: Int, op: Int, flags: UInt16)] = raw.withUnsafeBytes { p in
            (0..<count).map { i in
                (Int(p.loadUnaligned(fromByteOffset: i * 6, as: UInt16.self)),
                 Int(p.loadUnaligned(fromByteOffset: i * 6 + 2, as: Int16.self)),
                 p.loadUnaligned(fromByteOffset: i * 6 + 4, as: UInt16.self))
            }
        }
        var deadline: UInt64?
        if timeout != 0 {
            let ts: timespec = try mm.readValue(timeout)
            guard ts.tv_sec >= 0, ts.tv_nsec >= 0, ts.tv_nsec < 1_000_000_000 else { throw .EINVAL }
            deadline = monotonicDeadline(afterSeconds: Int64(ts.tv_sec), nanos: Int64(ts.tv_nsec))
        }
        let registry = group.ipc.semaphores
        let set = try semaphoreSet(a0)
        guard ops.allSatisfy({ $0.num < set.values.count }) else { throw .EFBIG }
        guard ipcPermitted(set, ops.contains { $0.op != 0 } ? 2 : 4) else { throw .EACCES }
        while true {
            // All or nothing: on a copy of the values.
            var values = set.values.map(Int.init)
            var blocker: (num: Int, zero: Bool)?
            for o in ops {
                let v = values[o.num]
                if o.op > 0 {
                    guard v + o.op <= SemaphoreRegistry.maxValue else { throw .ERANGE }
                    values[o.num] = v + o.op
                } else if o.op == 0 && v != 0 || o.op < 0 && v + o.op < 0 {
                    if o.flags & UInt16(Self.IPC_NOWAIT) != 0 { throw .EAGAIN }
                    blocker = (o.num, o.op == 0)
                    break
                } else {
                    values[o.num] = v + o.op
                }
            }
            guard let (num, zero) = blocker else {
                // The undo list this operation needs, made (or refused) before anything changes.
                let undoes = ops.contains { $0.flags & Self.SEM_UNDO != 0 && $0.op != 0 }
                if undoes && registry.undo[group.pid]?[set.id] == nil {
                    guard kernel.ipcTotal({ $0.semaphores.cells }) + set.values.count <= SemaphoreRegistry.maxTotalCells else { throw .ENOMEM }
                    registry.undo[group.pid, default: [:]][set.id] = [Int](repeating: 0, count: set.values.count)
                    registry.cells += set.values.count
                }
                for o in ops {
                    set.values[o.num] = UInt16(values[o.num])
                    set.pids[o.num] = group.pid
                    if o.flags & Self.SEM_UNDO != 0 && o.op != 0 { registry.undo[group.pid]![set.id]![o.num] -= o.op }
                }
                set.operationTime = Timespec.now().sec
                set.queue.notify(EventMask.input)
                return 0
            }
            if let deadline, monotonicNanos() >= deadline { throw .EAGAIN }
            if zero { set.waitingZero[num] += 1 } else { set.waitingIncrease[num] += 1 }
            defer { if zero { set.waitingZero[num] -= 1 } else { set.waitingIncrease[num] -= 1 } }
            do { try block(on: set.queue, EventMask.input, deadline: deadline) } catch {
                throw error == .ERESTARTSYS ? .EINTR : error
            }
            if set.removed { throw .EIDRM }
        }
    }

    func sysSemctl() throws(LinuxErrno) -> UInt64 {
        let cmd = Int32(truncatingIfNeeded: a2) & ~0x100 // IPC_64
        let registry = group.ipc.semaphores
        switch cmd {
        case 3, 19: // IPC_INFO, SEM_INFO: struct seminfo
            let inUse = Int32(registry.sets.count), semaphores = Int32(registry.sets.values.reduce(0) { $0 + $1.values.count })
            let info: [Int32] = [32000, Int32(registry.maxSets), Int32(registry.maxCells), 32000, Int32(registry.maxPerSet),
                                 Int32(registry.maxOps), 500, cmd == 19 ? inUse : 20, Int32(SemaphoreRegistry.maxValue),
                                 cmd == 19 ? semaphores : 32767]
            if a3 != 0 { try mm.write(a3, info.withUnsafeBytes { Array($0) }) }
            return UInt64(registry.sets.keys.max() ?? 0)
        default: break
        }
        let s = try semaphoreSet(a0)
        let num = Int(Int32(truncatingIfNeeded: a1))
        func semaphoreIndex() throws(LinuxErrno) -> Int {
            guard num >= 0, num < s.values.count else { throw .EINVAL }
            return num
        }
        switch cmd {
        case 2, 18, 20: // IPC_STAT, SEM_STAT, SEM_STAT_ANY: struct semid64_ds
            if cmd != 20 { guard ipcPermitted(s, 4) else { throw .EACCES } }
            var b = [UInt8](repeating: 0, count: 104)
            b.withUnsafeMutableBytes { p in
                storeIPCPerm(s, seenIn: group.userNS, into: p)
                p.storeBytes(of: s.operationTime, toByteOffset: 48, as: Int64.self)
                p.storeBytes(of: s.changeTime, toByteOffset: 64, as: Int64.self)
                p.storeBytes(of: UInt64(s.values.count), toByteOffset: 80, as: UInt64.self)
            }
            try mm.write(a3, b)
            return cmd == 2 ? 0 : UInt64(s.id)
        case 1: // IPC_SET
            try ipcSet(s, from: a3)
            s.changeTime = Timespec.now().sec
            return 0
        case 0: // IPC_RMID: waiters see EIDRM
            guard isOwner(s) else { throw .EPERM }
            s.removed = true
            registry.sets[s.id] = nil
            registry.cells -= s.values.count
            for (pid, var sets) in registry.undo {
                guard let adj = sets.removeValue(forKey: s.id) else { continue }
                registry.cells -= adj.count
                registry.undo[pid] = sets.isEmpty ? nil : sets
            }
            s.queue.notify(EventMask.input)
            return 0
        case 11, 12, 14, 15: // GETPID, GETVAL, GETNCNT, GETZCNT
            guard ipcPermitted(s, 4) else { throw .EACCES }
            let i = try semaphoreIndex()
            switch cmd {
            case 11: return UInt64(vnr(s.pids[i]))
            case 12: return UInt64(s.values[i])
            case 14: return UInt64(s.waitingIncrease[i])
            default: return UInt64(s.waitingZero[i])
            }
        case 13: // GETALL
            guard ipcPermitted(s, 4) else { throw .EACCES }
            try mm.write(a3, s.values.withUnsafeBytes { Array($0) })
            return 0
        case 16: // SETVAL: the value is the int in semun
            let i = try semaphoreIndex()
            guard ipcPermitted(s, 2) else { throw .EACCES }
            let v = Int32(truncatingIfNeeded: a3)
            guard v >= 0, v <= Int32(SemaphoreRegistry.maxValue) else { throw .ERANGE }
            s.values[i] = UInt16(v)
            s.pids[i] = group.pid
            clearUndo(s, only: i)
            s.changeTime = Timespec.now().sec
            s.queue.notify(EventMask.input)
            return 0
        case 17: // SETALL
            guard ipcPermitted(s, 2) else { throw .EACCES }
            let raw = try mm.read(a3, count: s.values.count * 2)
            let values = raw.withUnsafeBytes { p in (0..<s.values.count).map { p.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self) } }
            guard values.allSatisfy({ Int($0) <= SemaphoreRegistry.maxValue }) else { throw .ERANGE }
            s.values = values
            for i in s.pids.indices { s.pids[i] = group.pid }
            clearUndo(s, only: nil)
            s.changeTime = Timespec.now().sec
            s.queue.notify(EventMask.input)
            return 0
        default:
            throw .EINVAL
        }
    }

    /// SETVAL and SETALL cancel every process's SEM_UNDO adjustments of what they set.
    private func clearUndo(_ s: SemaphoreSet, only index: Int?) {
        let registry = group.ipc.semaphores
        for (pid, var sets) in registry.undo {
            guard var adj = sets[s.id] else { continue }
            if let index { adj[index] = 0 } else { adj = adj.map { _ in 0 } }
            sets[s.id] = adj
            registry.undo[pid] = sets
        }
    }
}
