// StubSpace: one guest address space, realized as one stub process. Its control thread
// (which never runs guest code) makes every change to the address space, so a change takes
// effect for all the guest threads at once: they are the stub's other threads and share its
// host page tables. The sentry writes each request into a page the stub maps read-only and
// learns of its completion from a byte on a pipe only the control thread may write (a guest
// thread's filter kills write): nothing a guest thread stores can fake a completion, whose
// absence would let the sentry reuse memory the stub still maps. Shared by both platforms;
// they differ only in how a guest thread runs (SystrapThread, PtraceThread).
//
// Thread areas: JOEY_STUB_MAX_THREADS slots of 64 KiB below the code page, each the
// MemoryFile memory of one thread's control page and signal stack. A slot is reused only
// once its thread is gone (tgkill(pid, tid, 0) says ESRCH: nothing the guest can forge), or
// with its thread, kept (systrap, at most `maxKept`): a guest thread that ended leaves its
// stub thread on its way back to the ready point, and the next new guest thread of the
// space takes it there. That spares the clone, the thread's seccomp filter (whose
// installation alone costs about 85 µs here) and its exit.
//
// Host files (SpaceOp.mapHost) reach the stub through a seqpacket socket, one fd a message
// (SCM_RIGHTS), sent just before the batch that maps it: there the control thread closes
// 0-2, receives the fd (the lowest free number: 0), maps it and closes 0-2 again, so the
// stub holds no host file but through its mappings. Messages a failed batch left unread
// are drained first (the sentry keeps the stub's end too), so a batch never maps a file
// meant for another.
// Lock: `lock` guards the request page and the slots. Taken inside the kernel lock, which
// `apply` lets go while it holds `lock` and the stub works; `lock` is let go before the
// kernel lock is taken again.
import CJoey
import Glibc
import JoeyABI

final class StubSpace: AddressSpace, @unchecked Sendable {
    let kind: UInt32
    let stubAddress: UInt64
    let pid: pid_t
    var hostPid: Int32 { pid }
    let memoryFile: MemoryFile
    /// systrap: the CPU and kernel let a thread use rdfsbase/wrfsbase.
    let hasFSGSBase: Bool
    /// systrap: patched system calls may enter through the code page (SystrapPlatform).
    let syscallPatching: Bool
    private let pages: UInt64
    private let request: UnsafeMutablePointer<joey_space_request>
    private let result: UnsafeMutablePointer<Int64>
    private let pipe: Int32
    /// The host-file socket: the sentry's end, and its copy of the stub's (to drain).
    private let hostFiles: (send: Int32, drain: Int32)
    /// `apply`'s system calls, kept (under `lock`) so that a batch allocates nothing.
    private var expanded: [StubOp] = []
    /// Where the stub finds the header of the recvmsg that takes a host file (result page).
    private let recvMessage: UInt64
    private var lock = pthread_mutex_t()
    /// The slots: the MemoryFile offset of the area there (0: none yet), whether the stub has
    /// it mapped, the host tid of the thread that used it last (0: free; -1: taken, its
    /// thread not started yet), and whether its context may still write the area (a slot is
    /// reused only once both its thread and its context are done with it).
    /// A kept slot's thread is alive and heading to (or waiting at) its ready point, free
    /// for the next context; `cpuBase` is the CPU time it had used by then.
    private var slots: [(offset: UInt64, tid: pid_t, mapped: Bool, held: Bool, kept: Bool, cpuBase: UInt64)] = []
    /// Kept threads hold host tasks the guest no longer counts: a few only.
    static let maxKept = 4
    private var reaped = false

    init(kind: UInt32, stubAddress: UInt64, factory: StubFactory, memoryFile: MemoryFile, hasFSGSBase: Bool = false,
         syscallPatching: Bool = false) throws(PlatformError) {
        let platform = kind == JOEY_STUB_KIND_PTRACE ? "ptrace" : "systrap"
        self.kind = kind
        self.stubAddress = stubAddress
        self.memoryFile = memoryFile
        self.hasFSGSBase = hasFSGSBase
        self.syscallPatching = syscallPatching
        do { pages = try memoryFile.allocate(0x2000, committed: true) } catch {
            throw PlatformError("\(platform) platform: no memory for a stub's request pages (\(error))")
        }
        request = memoryFile.pointer(pages).assumingMemoryBound(to: joey_space_request.self)
        result = memoryFile.pointer(pages + 0x1000).assumingMemoryBound(to: Int64.self)
        var fds: [Int32] = [-1, -1]
        let piped = fds.withUnsafeMutableBufferPointer { joey_pipe_cloexec($0.baseAddress) }
        guard piped == 0, joey_space_prepare(request, kind, stubAddress) == 0 else {
            if piped == 0 { close(fds[0]); close(fds[1]) }
            memoryFile.free(pages, length: 0x2000)
            throw PlatformError("\(platform) platform: cannot prepare a stub process (errno \(-piped))")
        }
        var sockets: [Int32] = [-1, -1]
        // Seqpacket: a recvmsg takes one message and its fd, and the queue is bounded by bytes
        // (a datagram socket's by 10 messages: a batch mapping more files would block).
        // Nonblocking: the sentry's copy of the stub's end drains without waiting.
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
                         0, &sockets) == 0 else {
            let e = errno
            close(fds[0]); close(fds[1])
            memoryFile.free(pages, length: 0x2000)
            throw PlatformError("\(platform) platform: cannot make a stub's host-file socket (errno \(e))")
        }
        // The stub takes the write end at JOEY_STUB_PIPEFD and its socket at JOEY_STUB_SOCKFD:
        // both are handed over from 5 up so that moving the MemoryFile to JOEY_STUB_MEMFD and
        // the pipe to JOEY_STUB_PIPEFD first cannot clobber them.
        let writeEnd = fcntl(fds[1], F_DUPFD_CLOEXEC, 5)
        close(fds[1])
        let stubSocket = fcntl(sockets[1], F_DUPFD_CLOEXEC, 5)
        let r = writeEnd < 0 || stubSocket < 0 ? -Int64(errno)
            : factory.spawn(memoryFD: memoryFile.fd, pipeFD: writeEnd, socketFD: stubSocket, pages: pages)
        if writeEnd >= 0 { close(writeEnd) }
        if stubSocket >= 0 { close(stubSocket) }
        guard r > 0 else {
            close(fds[0]); close(sockets[0]); close(sockets[1])
            memoryFile.free(pages, length: 0x2000)
            throw PlatformError("\(platform) platform: the stub factory cannot fork a stub process (errno \(-r))")
        }
        pid = pid_t(r)
        pipe = fds[0]
        hostFiles = (sockets[0], sockets[1])
        recvMessage = joey_space_prepare_recv(result, stubAddress)
        pthread_mutex_init(&lock, nil)
        StubProcess.resetPeakResident(pid)
    }

    deinit {
        terminate()
        close(pipe)
        close(hostFiles.send); close(hostFiles.drain)
        for s in slots where s.offset != 0 { memoryFile.free(s.offset, length: JOEY_STUB_AREA_SIZE) }
        memoryFile.free(pages, length: 0x2000)
    }

    /// Kills and reaps the stub process (once).
    private func terminate() {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        if reaped { return }
        reaped = true
        _ = joey_kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = joey_wait(pid, &status)
    }

    /// Whether the stub process still runs (reaping it when it died).
    func alive() -> Bool {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        if reaped { return false }
        var status: Int32 = 0
        let w = joey_wait_nohang(pid, &status)
        if w == Int64(pid) || w == -Int64(ECHILD) { reaped = true }
        return !reaped
    }

    /// Runs the ops queued in the request page; their results are in `result`. Lock held.
    /// The control thread is first moved to the caller's CPU: the caller then sleeps on the
    /// pipe and the control thread, woken on that CPU, runs at once, and so does the caller
    /// when the byte comes. Across CPUs each of those wake-ups is an interrupt to a CPU that
    /// may be idle, ~20 µs here (nested virtualization); a batch round trip measured 45-60
    /// µs so (python3 -c pass makes 70 of them, /bin/true 19), 7-8 µs on one CPU. Neither
    /// side spins: on one CPU a spinner only delays the other.
    /// A batch that starts a thread (`pinning` false) runs with the control thread unpinned:
    /// the clone inherits its affinity, and a new thread waits for its sentry thread spinning
    /// (ptrace: until seized), which on the sentry thread's own CPU kept that thread off it for
    /// a time slice (thread create+join on ptrace: 3.75 ms against 0.82).
    private func run(_ count: Int, pinning: Bool = true) -> Bool {
        if reaped { return false }
        // The stub is the sentry's child, so its pid is not reused before `reaped`.
        if pinning {
            let cpu = joey_current_cpu()
            if cpu != controlCPU, cpu >= 0, joey_pin_thread(pid, cpu) == 0 { controlCPU = cpu }
        } else if controlCPU >= 0, joey_pin_thread(pid, -1) == 0 {
            controlCPU = -1
        }
        return joey_space_run(request, UInt32(count), pipe) == 0
    }

    /// The CPU the control thread (the stub's first thread: its tid is the pid) is pinned
    /// to; -1: none (not yet, or let go for a batch that starts a thread).
    private var controlCPU: Int32 = -1

    /// mmap of the MemoryFile at `offset` over [address, address + length).
    private static func mapOp(_ address: UInt64, _ length: UInt64, _ offset: UInt64, _ protection: Int32) -> joey_space_op {
        joey_space_op(nr: 9, args: (address, length, UInt64(protection), UInt64(MAP_SHARED | MAP_FIXED), UInt64(JOEY_STUB_MEMFD), offset))
    }

    /// One system call of a batch; `send`: the fd to hand over before the batch runs (-1:
    /// none); `groupStart`: the first of a host file's four.
    private typealias StubOp = (op: joey_space_op, send: Int32, groupStart: Bool)

    /// The stub's system calls for `op`: one, or four for a host file (its fd then to be sent).
    private func stubOps(_ op: SpaceOp, into out: inout [StubOp]) {
        switch op {
        case let .map(address, length, fileOffset, protection):
            out.append((Self.mapOp(address, length, fileOffset, protection.rawValue), -1, false))
        case let .mapHost(address, length, image, offset, protection):
            // Never writable, whatever the caller says: the fd is read-only, so the kernel
            // would refuse it anyway (EACCES), failing the batch.
            let prot = UInt64(protection.subtracting(.write).rawValue)
            let closeLow = joey_space_op(nr: 436, args: (0, 2, 0, 0, 0, 0))
            out.append((closeLow, -1, true))
            out.append((joey_space_op(nr: 47, args: (UInt64(JOEY_STUB_SOCKFD), recvMessage, UInt64(MSG_DONTWAIT), 0, 0, 0)), image.fd, false))
            out.append((joey_space_op(nr: 9, args: (address, length, prot, UInt64(MAP_SHARED | MAP_FIXED), 0, offset)), -1, false))
            out.append((closeLow, -1, false))
        case let .unmap(address, length): out.append((joey_space_op(nr: 11, args: (address, length, 0, 0, 0, 0)), -1, false))
        case let .protect(address, length, protection):
            out.append((joey_space_op(nr: 10, args: (address, length, UInt64(protection.rawValue), 0, 0, 0)), -1, false))
        case .unmapAll: out.append((joey_space_op(nr: 11, args: (0, stubAddress - JOEY_STUB_BELOW, 0, 0, 0, 0)), -1, false))
        }
    }

    /// Drops the host files a failed batch left unread in the stub's socket: a read takes a
    /// message and discards its fd (the kernel closes it), and needs no recvmsg in the
    /// sentry's allow-list.
    private func drainHostFiles() {
        var byte: UInt8 = 0
        while read(hostFiles.drain, &byte, 1) >= 0 {}
    }

    /// `ops` written to the request page and run, a page of them per round trip, with the
    /// space's lock held throughout (nobody else's ops or thread starts come between) and
    /// the caller's lock let go while the stub works. No ops: returns once ops handed over
    /// before are made.
    func apply(_ ops: [SpaceOp], whileWaiting: (letGo: () -> Void, retake: () -> Void)?) throws(LinuxErrno) {
        pthread_mutex_lock(&lock)
        whileWaiting?.letGo()
        expanded.removeAll(keepingCapacity: true)
        for op in ops { stubOps(op, into: &expanded) }
        var failure: LinuxErrno?
        var i = 0
        while i < expanded.count && failure == nil {
            var n = min(expanded.count - i, Int(JOEY_SPACE_MAX_OPS))
            // A host file's four ops stay in one batch.
            if i + n < expanded.count, let k = (n - 3..<n).last(where: { expanded[i + $0].groupStart }) { n = k }
            var sending = false
            withUnsafeMutableBytes(of: &request.pointee.ops) { page in
                for j in 0..<n {
                    page.storeBytes(of: expanded[i + j].op, toByteOffset: j * MemoryLayout<joey_space_op>.stride, as: joey_space_op.self)
                    sending = sending || expanded[i + j].send >= 0
                }
            }
            // What an earlier failed batch left unread goes first; then this batch's files, in
            // the order its recvmsgs take them. One that cannot be sent fails its recvmsg (EAGAIN).
            if sending {
                _ = joey_space_prepare_recv(result, stubAddress) // the guest may have written over it
                drainHostFiles()
                for j in 0..<n where expanded[i + j].send >= 0 {
                    var byte: UInt8 = 0
                    var fd = expanded[i + j].send
                    _ = joey_send_with_fds(hostFiles.send, &byte, 1, &fd, 1)
                }
            }
            if run(n) {
                for j in 0..<n where failure == nil {
                    let r = result[j]
                    if r < 0 && r > -4096 { failure = LinuxErrno(Int32(-r)) }
                }
            } else {
                failure = .ESRCH
            }
            i += n
        }
        pthread_mutex_unlock(&lock)
        whileWaiting?.retake()
        if let failure { throw failure }
    }

    func map(_ address: UInt64, length: UInt64, fileOffset: UInt64, protection: MemoryProtection) throws(LinuxErrno) {
        try apply([.map(address: address, length: length, fileOffset: fileOffset, protection: protection)], whileWaiting: nil)
    }

    func unmap(_ address: UInt64, length: UInt64) throws(LinuxErrno) {
        try apply([.unmap(address: address, length: length)], whileWaiting: nil)
    }

    func protect(_ address: UInt64, length: UInt64, protection: MemoryProtection) throws(LinuxErrno) {
        try apply([.protect(address: address, length: length, protection: protection)], whileWaiting: nil)
    }

    func unmapAll() throws(LinuxErrno) { try apply([.unmapAll], whileWaiting: nil) }

    func newContext() throws(PlatformError) -> PlatformContext {
        if kind == JOEY_STUB_KIND_PTRACE { return try PtraceThread(space: self) }
        // A kept thread when there is one; should it not report ready (its guest scribbled
        // over its area meanwhile), it is let go and a new one started.
        if let kept = takeKept(), let t = try? SystrapThread(space: self, kept: kept) { return t }
        return try SystrapThread(space: self)
    }

    /// A thread area: its slot, its address in the stub, and the sentry's pointer to it.
    /// Its control page is zeroed.
    func takeArea() throws(PlatformError) -> (slot: Int, address: UInt64, pointer: UnsafeMutableRawPointer) {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        var slot = slots.firstIndex { $0.tid == 0 && !$0.held }
        if slot == nil {
            // A slot whose thread is gone for certain.
            slot = slots.firstIndex { !$0.held && joey_tgkill(pid, $0.tid, 0) == -Int64(ESRCH) }
        }
        if slot == nil && slots.count < Int(JOEY_STUB_MAX_THREADS) {
            slots.append((0, 0, false, false, false, 0))
            slot = slots.count - 1
        }
        guard let slot else { throw PlatformError("a stub process has no room for another thread (\(JOEY_STUB_MAX_THREADS) at most)") }
        let address = stubAddress - UInt64(slot + 1) * JOEY_STUB_AREA_SIZE
        if slots[slot].offset == 0 {
            // Mapped in the stub together with the thread's start (startThread).
            do { slots[slot].offset = try memoryFile.allocate(JOEY_STUB_AREA_SIZE, committed: true) } catch {
                throw PlatformError("no memory for a stub thread's area (\(error))")
            }
            slots[slot].mapped = false
        }
        // Taken: not handed out again before its thread has come and gone and its context
        // has let go of it (`letGo`).
        slots[slot].tid = -1
        slots[slot].held = true
        slots[slot].kept = false
        let pointer = memoryFile.pointer(slots[slot].offset)
        memset(pointer, 0, 0x1000)
        return (slot, address, pointer)
    }

    /// A kept slot, taken: its area (left as its thread writes it), the thread's host tid
    /// and the CPU time it had used when kept.
    func takeKept() -> (slot: Int, address: UInt64, pointer: UnsafeMutableRawPointer, tid: pid_t, cpuBase: UInt64)? {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        guard !reaped, let slot = slots.firstIndex(where: { $0.kept && !$0.held }) else { return nil }
        slots[slot].kept = false
        slots[slot].held = true
        let address = stubAddress - UInt64(slot + 1) * JOEY_STUB_AREA_SIZE
        return (slot, address, memoryFile.pointer(slots[slot].offset), slots[slot].tid, slots[slot].cpuBase)
    }

    /// Whether another thread may be kept.
    func mayKeep() -> Bool {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return !reaped && slots.reduce(0) { $0 + ($1.kept ? 1 : 0) } < Self.maxKept
    }

    /// Keeps the slot's thread, sent back to its ready point, for the next context; its
    /// context lets go of the slot.
    func keep(slot: Int, cpuBase: UInt64) {
        pthread_mutex_lock(&lock)
        slots[slot].kept = true
        slots[slot].cpuBase = cpuBase
        slots[slot].held = false
        pthread_mutex_unlock(&lock)
    }

    /// Starts a guest thread in the area at `address` (mapping the area first, in the same
    /// round trip, when it is new): its host tid, or -errno.
    func startThread(slot: Int, address: UInt64) -> pid_t {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        var n = 0
        let mapping = !slots[slot].mapped
        if mapping {
            request.pointee.ops.0 = Self.mapOp(address, JOEY_STUB_AREA_SIZE, slots[slot].offset, PROT_READ | PROT_WRITE)
            n = 1
        }
        // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM; the child starts with rsp at its area.
        let clone = joey_space_op(nr: 56, args: (0x50f00, address, 0, 0, 0, 0))
        if n == 0 { request.pointee.ops.0 = clone } else { request.pointee.ops.1 = clone }
        guard run(n + 1, pinning: false) else { return -ESRCH }
        if mapping {
            guard result[0] == Int64(address) else { return -ENOMEM }
            slots[slot].mapped = true
        }
        let r = result[n]
        guard r > 0, r <= Int64(Int32.max) else { return r < 0 && r > -4096 ? pid_t(r) : -EAGAIN }
        slots[slot].tid = pid_t(r)
        return pid_t(r)
    }

    /// The context of the slot's thread no longer touches its area: the slot can be reused
    /// once the thread is gone (at once if it never started).
    func letGo(slot: Int) {
        pthread_mutex_lock(&lock)
        if slots[slot].tid == -1 { slots[slot].tid = 0 }
        slots[slot].held = false
        pthread_mutex_unlock(&lock)
    }

    /// CPU time of one of the stub's threads, from the host's /proc.
    func threadCPUNanos(_ tid: pid_t) -> UInt64 {
        let text = HostProc.read("\(pid)/task/\(tid)/schedstat")
        guard let end = text.firstIndex(of: 32) else { return 0 }
        return UInt64(String(decoding: text[..<end], as: UTF8.self)) ?? 0
    }

    /// A stub thread's involuntary context switches (nonvoluntary_ctxt_switches in its host
    /// /proc status): its voluntary ones are its waits for the sentry, not the guest's.
    func threadPreemptions(_ tid: pid_t) -> UInt64 {
        UInt64(HostProc.statusField("\(pid)/task/\(tid)/status", "nonvoluntary_ctxt_switches") ?? "") ?? 0
    }

    func peakResidentKiB() -> UInt64 { alive() ? StubProcess.peakResidentKiB(pid) : 0 }
    func residentMemory() -> ResidentMemory { alive() ? StubProcess.memory(pid) : ResidentMemory() }
}
