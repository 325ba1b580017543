// System V message queues (msgget, msgsnd, msgrcv, msgctl): typed messages held in the
// sentry, bounded by each queue's msg_qbytes. A message is copied in before msgsnd waits for
// room, and out after msgrcv has taken it; waiters sleep on the queue's WaitQueue and
// IPC_RMID wakes them with EIDRM. Kernel lock held throughout.
import Glibc
import JoeyABI

final class MessageQueue: IPCObject {
    let id: Int32
    let key: Int32
    var uid: UInt32, gid: UInt32
    let creatorUID: UInt32, creatorGID: UInt32
    var mode: UInt32
    var messages: [(type: Int64, data: [UInt8])] = []
    var bytes = 0
    var capacity: Int
    var lastSender: Int32 = 0, lastReceiver: Int32 = 0
    var sendTime: Int64 = 0, receiveTime: Int64 = 0, changeTime: Int64
    var removed = false
    let queue = WaitQueue()

    init(id: Int32, key: Int32, mode: UInt32, uid: UInt32, gid: UInt32, capacity: Int) {
        self.capacity = capacity
        self.id = id; self.key = key; self.mode = mode
        self.uid = uid; self.gid = gid; creatorUID = uid; creatorGID = gid
        changeTime = Timespec.now().sec
    }
}

/// An IPC namespace's message queues.
final class MessageQueueRegistry {
    var queues: [Int32: MessageQueue] = [:]
    var ids = IPCIDs()
    // The namespace's limits (/proc/sys/kernel/msgmni, msgmax, msgmnb), Linux's defaults.
    var maxQueues = 32000, maxMessage = 8192, maxQueueBytes = 16384
    /// Message bytes held in this namespace's queues. They live in the sentry's heap, outside
    /// the sandbox's memory limit, and a privileged guest may raise a queue's msg_qbytes: past
    /// maxTotalBytes summed over every IPC namespace, msgsnd fails as Linux's does when it
    /// cannot allocate a message (ENOMEM).
    var totalBytes = 0
    static let maxTotalBytes = 64 << 20
}

extension GuestThread {
    private static let MSG_NOERROR: UInt64 = 0o10000, MSG_EXCEPT: UInt64 = 0o20000, MSG_COPY: UInt64 = 0o40000

    func sysMsgget() throws(LinuxErrno) -> UInt64 {
        let key = Int32(truncatingIfNeeded: a0), flags = a1
        let registry = group.ipc.messageQueues
        if let q = try ipcLookup(Array(registry.queues.values), key: key, flags: flags, thread: self) {
            return UInt64(q.id)
        }
        guard registry.queues.count < registry.maxQueues else { throw .ENOSPC }
        guard let id = registry.ids.allocate(taken: { registry.queues[$0] != nil }) else { throw .ENOSPC }
        registry.queues[id] = MessageQueue(id: id, key: key, mode: UInt32(flags & 0o777), uid: group.euid, gid: group.egid,
                                            capacity: registry.maxQueueBytes)
        return UInt64(id)
    }

    private func messageQueue(_ raw: UInt64) throws(LinuxErrno) -> MessageQueue {
        let id = Int32(truncatingIfNeeded: raw)
        guard id >= 0, let q = group.ipc.messageQueues.queues[id] else { throw .EINVAL }
        return q
    }

    /// Waits on `q` for a change; a signal is EINTR (never restarted), removal EIDRM.
    private func waitOnMessageQueue(_ q: MessageQueue) throws(LinuxErrno) {
        do { try block(on: q.queue, EventMask.input.union(.output)) } catch {
            throw error == .ERESTARTSYS ? .EINTR : error
        }
        if q.removed { throw .EIDRM }
    }

    func sysMsgsnd() throws(LinuxErrno) -> UInt64 {
        let size = Int64(bitPattern: a2), flags = a3
        let registry = group.ipc.messageQueues
        let q = try messageQueue(a0)
        guard size >= 0, size <= Int64(registry.maxMessage) else { throw .EINVAL }
        let type: Int64 = try mm.readValue(a1)
        guard type >= 1 else { throw .EINVAL }
        guard ipcPermitted(q, 2) else { throw .EACCES }
        let data = try mm.read(a1 &+ 8, count: Int(size))
        while true {
            // Room in bytes, and (as Linux counts) in messages.
            if q.bytes + data.count <= q.capacity && q.messages.count + 1 <= q.capacity {
                guard kernel.ipcTotal({ $0.messageQueues.totalBytes }) + data.count <= MessageQueueRegistry.maxTotalBytes else { throw .ENOMEM }
                q.messages.append((type, data))
                q.bytes += data.count
                registry.totalBytes += data.count
                q.lastSender = group.pid
                q.sendTime = Timespec.now().sec
                q.queue.notify(EventMask.input)
                return 0
            }
            if flags & Self.IPC_NOWAIT != 0 { throw .EAGAIN }
            try waitOnMessageQueue(q)
        }
    }

    func sysMsgrcv() throws(LinuxErrno) -> UInt64 {
        let size = Int64(bitPattern: a2), wanted = Int64(bitPattern: a3), flags = a4
        guard size >= 0 else { throw .EINVAL }
        let copy = flags & Self.MSG_COPY != 0
        if copy && (flags & Self.IPC_NOWAIT == 0 || flags & Self.MSG_EXCEPT != 0) { throw .EINVAL }
        let registry = group.ipc.messageQueues
        let q = try messageQueue(a0)
        guard ipcPermitted(q, 4) else { throw .EACCES }
        while true {
            let index: Int?
            if copy {
                index = wanted >= 0 && wanted < Int64(q.messages.count) ? Int(wanted) : nil
            } else if wanted == 0 {
                index = q.messages.isEmpty ? nil : 0
            } else if wanted > 0 {
                index = flags & Self.MSG_EXCEPT != 0 ? q.messages.firstIndex { $0.type != wanted } : q.messages.firstIndex { $0.type == wanted }
            } else {
                // The lowest type at most |msgtyp|, the first of it.
                let limit = wanted == Int64.min ? Int64.max : -wanted
                index = q.messages.indices.filter { q.messages[$0].type <= limit }.min { q.messages[$0].type < q.messages[$1].type }
            }
            if let index {
                let m = q.messages[index]
                if m.data.count > Int(size) && flags & Self.MSG_NOERROR == 0 { throw .E2BIG }
                if !copy {
                    q.messages.remove(at: index)
                    q.bytes -= m.data.count
                    registry.totalBytes -= m.data.count
                    q.lastReceiver = group.pid
                    q.receiveTime = Timespec.now().sec
                    q.queue.notify(EventMask.output)
                }
                // Taken first, then copied out (a fault loses it, as on Linux).
                let n = min(m.data.count, Int(size))
                try mm.writeValue(a1, m.type)
                try mm.write(a1 &+ 8, Array(m.data[0..<n]))
                return UInt64(n)
            }
            if flags & Self.IPC_NOWAIT != 0 { throw .ENOMSG }
            try waitOnMessageQueue(q)
        }
    }

    func sysMsgctl() throws(LinuxErrno) -> UInt64 {
        let cmd = Int32(truncatingIfNeeded: a1) & ~0x100 // IPC_64
        let registry = group.ipc.messageQueues
        switch cmd {
        case 3, 12: // IPC_INFO, MSG_INFO: struct msginfo
            let messages = registry.queues.values.reduce(0) { $0 + $1.messages.count }
            let bytes = registry.queues.values.reduce(0) { $0 + $1.bytes }
            let info: [Int32] = cmd == 12
                ? [Int32(registry.queues.count), Int32(messages), Int32(registry.maxMessage), Int32(registry.maxQueueBytes),
                   Int32(registry.maxQueues), 16, Int32(bytes)]
                : [Int32(registry.maxQueues * registry.maxQueueBytes / 1024), Int32(registry.maxQueueBytes),
                   Int32(registry.maxMessage), Int32(registry.maxQueueBytes), Int32(registry.maxQueues),
                   16, Int32(registry.maxQueueBytes)]
            if a2 != 0 {
                var b = info.withUnsafeBytes { Array($0) }
                b += withUnsafeBytes(of: UInt16(0xffff)) { Array($0) } + [0, 0] // msgseg, padding
                try mm.write(a2, b)
            }
            return UInt64(registry.queues.keys.max() ?? 0)
        default: break
        }
        let q = try messageQueue(a0)
        switch cmd {
        case 2, 11, 13: // IPC_STAT, MSG_STAT, MSG_STAT_ANY: struct msqid64_ds
            if cmd != 13 { guard ipcPermitted(q, 4) else { throw .EACCES } }
            var b = [UInt8](repeating: 0, count: 120)
            b.withUnsafeMutableBytes { p in
                storeIPCPerm(q, seenIn: group.userNS, into: p)
                p.storeBytes(of: q.sendTime, toByteOffset: 48, as: Int64.self)
                p.storeBytes(of: q.receiveTime, toByteOffset: 56, as: Int64.self)
                p.storeBytes(of: q.changeTime, toByteOffset: 64, as: Int64.self)
                p.storeBytes(of: UInt64(q.bytes), toByteOffset: 72, as: UInt64.self)
                p.storeBytes(of: UInt64(q.messages.count), toByteOffset: 80, as: UInt64.self)
                p.storeBytes(of: UInt64(q.capacity), toByteOffset: 88, as: UInt64.self)
                p.storeBytes(of: vnr(q.lastSender), toByteOffset: 96, as: Int32.self)
                p.storeBytes(of: vnr(q.lastReceiver), toByteOffset: 100, as: Int32.self)
            }
            try mm.write(a2, b)
            return cmd == 2 ? 0 : UInt64(q.id)
        case 1: // IPC_SET: the owner, mode and msg_qbytes (raising it past MSGMNB needs CAP_SYS_RESOURCE)
            let capacity: UInt64 = try mm.readValue(a2 &+ 88)
            guard isOwner(q) else { throw .EPERM }
            if capacity > UInt64(registry.maxQueueBytes) && !group.capable(24 /* CAP_SYS_RESOURCE */, in: .initial) { throw .EPERM }
            guard capacity <= UInt64(Int32.max) else { throw .EINVAL }
            try ipcSet(q, from: a2)
            q.capacity = Int(capacity)
            q.changeTime = Timespec.now().sec
            q.queue.notify(EventMask.output)
            return 0
        case 0: // IPC_RMID
            guard isOwner(q) else { throw .EPERM }
            q.removed = true
            registry.queues[q.id] = nil
            registry.totalBytes -= q.bytes // its messages go with it
            q.queue.notify(EventMask.input.union(.output))
            return 0
        default:
            throw .EINVAL
        }
    }
}
