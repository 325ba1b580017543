// A vCPU and the guest thread it runs. A vCPU is made once (KVM cannot destroy one) and
// goes back to the platform's pool when its guest thread is done.
import CJoey
import Glibc
import JoeyABI
import Synchronization

/// The model-specific registers the platform sets.
enum MSR {
    static let star: UInt32 = 0xC000_0081, lstar: UInt32 = 0xC000_0082, syscallMask: UInt32 = 0xC000_0084
    static let fsBase: UInt32 = 0xC000_0100, gsBase: UInt32 = 0xC000_0101
}

final class KVMVCPU: @unchecked Sendable {
    /// The signal that kicks a vCPU out of KVM_RUN (a real-time one nothing else uses).
    static let kickSignal: Int32 = 63

    unowned let platform: KVMPlatform
    let id: UInt32
    let fd: Int32
    let run: UnsafeMutableRawPointer
    /// In KVM_RUN (or about to be): an address-space edit must kick it out and wait.
    let running = Atomic<Bool>(false)
    /// kick() was called; the next entry returns `.interrupted` instead of running.
    let kickPending = Atomic<Bool>(false)
    /// The host thread that runs it now (for kicks).
    let thread = Atomic<Int32>(0)
    private(set) weak var space: KVMAddressSpace?
    /// The space's generation this vCPU's TLB last saw.
    var seenGeneration: UInt64 = 0
    /// It stopped in guest code (ring 3) rather than at a supervisor exit.
    var inGuestMode = false
    /// The fs and gs bases last given to the vCPU.
    var fsBase: UInt64 = 0, gsBase: UInt64 = 0

    var stackTop: UInt64 { KVMLayout.virtual(KVMLayout.stackPage(id)) + 4096 }
    var stack: UnsafeMutableRawPointer { platform.page(KVMLayout.stackPage(id)) + 4096 }

    init(platform: KVMPlatform, id: UInt32) throws(PlatformError) {
        self.platform = platform
        self.id = id
        let v = joey_kvm_create_vcpu(platform.vm, id)
        guard v >= 0 else { throw PlatformError("KVM_CREATE_VCPU failed: errno \(-v)") }
        fd = Int32(v)
        guard let r = mmap(nil, platform.runSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), r != MAP_FAILED else {
            throw PlatformError("cannot map a vCPU's run page: errno \(errno)")
        }
        run = r
        joey_kvm_sync_regs(run)
        let c = joey_kvm_set_supported_cpuid(platform.kvm, fd)
        guard c == 0 else { throw PlatformError("KVM_SET_CPUID2 failed: errno \(-c)") }
        writeDescriptorTables()
        // The selectors, the trampoline, no flags masked.
        for (msr, value) in [(MSR.star, UInt64(0x23) << 48 | UInt64(JOEY_KVM_KERNEL_CS) << 32),
                             (MSR.lstar, KVMLayout.supervisorBase + JOEY_KVM_TRAMPOLINE), (MSR.syscallMask, 0)] {
            let r = joey_kvm_set_msr(fd, msr, value)
            guard r == 0 else { throw PlatformError("KVM_SET_MSRS (\(String(msr, radix: 16))) failed: errno \(-r)") }
        }
    }

    /// This vCPU's GDT (Linux's selectors) and TSS (its ring-0 stack).
    private func writeDescriptorTables() {
        let page = platform.page(KVMLayout.gdtPage(id))
        let gdt = page.assumingMemoryBound(to: UInt64.self)
        gdt[2] = 0x00af_9b00_0000_ffff // kernel code, 64-bit
        gdt[3] = 0x00cf_9300_0000_ffff // kernel data
        gdt[4] = 0x00cf_fb00_0000_ffff // user code, 32-bit
        gdt[5] = 0x00cf_f300_0000_ffff // user data
        gdt[6] = 0x00af_fb00_0000_ffff // user code, 64-bit
        let tss = KVMLayout.virtual(KVMLayout.gdtPage(id)) + 0x80
        gdt[8] = 0x67 | (tss & 0xff_ffff) << 16 | 0x89 << 40 | ((tss >> 24) & 0xff) << 56
        gdt[9] = tss >> 32
        (page + 0x80 + 4).storeBytes(of: stackTop, as: UInt64.self)     // rsp0
        (page + 0x80 + 36).storeBytes(of: stackTop, as: UInt64.self)    // ist1 (every gate's)
        (page + 0x80 + 102).storeBytes(of: UInt16(104), as: UInt16.self) // no I/O bitmap
    }

    /// Gives the vCPU to a context of `space`: ring 0 on the space's page tables.
    func attach(to space: KVMAddressSpace) throws(PlatformError) {
        self.space = space
        let g = KVMLayout.virtual(KVMLayout.gdtPage(id))
        let r = joey_kvm_set_supervisor_state(fd, space.cr3, g, KVMLayout.virtual(KVMLayout.idtPage), g + 0x80)
        guard r == 0 else { throw PlatformError("KVM_SET_SREGS failed: errno \(-r)") }
        seenGeneration = space.generation.load(ordering: .sequentiallyConsistent)
        inGuestMode = false
        fsBase = 0; gsBase = 0
        _ = joey_kvm_set_msr(fd, MSR.fsBase, 0)
        _ = joey_kvm_set_msr(fd, MSR.gsBase, 0)
    }

    /// Out of the guest: when it is in KVM_RUN, kicked, and waited for. One signal, sent
    /// again only after a while: the kick is a real-time signal, which queues, and a thread
    /// that has one instance per loop of a waiter to take (each a handler's delivery and
    /// return) spends its time taking them and never gets back to say it left (seen: a
    /// fork waited for a spinning thread until tgkill said EAGAIN). One is enough: a vCPU
    /// in KVM_RUN leaves on it, one about to enter finds immediate_exit set.
    func leaveGuest() {
        guard running.load(ordering: .sequentiallyConsistent) else { return }
        joey_kvm_set_immediate_exit(run, 1)
        var spins = 0
        while running.load(ordering: .sequentiallyConsistent) {
            if spins % 4096 == 0 {
                let t = thread.load(ordering: .relaxed)
                if t != 0 { _ = joey_tgkill(getpid(), t, Self.kickSignal) }
            }
            spins += 1
            sched_yield()
        }
    }

    /// A kick for the guest thread this vCPU runs: KVM_RUN returns at once, or the entry
    /// about to be made is not (`kickPending`: an entry clears immediate_exit before it runs,
    /// so a kick between the kernel's unlock and KVM_RUN would otherwise be lost, and a
    /// spinning guest thread would not see its signal until its next system call).
    func kick() {
        kickPending.store(true, ordering: .sequentiallyConsistent)
        joey_kvm_set_immediate_exit(run, 1)
        let t = thread.load(ordering: .relaxed)
        if t != 0 && running.load(ordering: .sequentiallyConsistent) { _ = joey_tgkill(getpid(), t, Self.kickSignal) }
    }
}

final class KVMContext: PlatformContext {
    /// The exception vector and error code of the last exception exit (lastFaultTrap).
    private var faultTrap: (number: UInt64, error: UInt64)?
    var lastFaultTrap: (number: UInt64, error: UInt64)? { faultTrap }
    let vcpu: KVMVCPU
    let space: KVMAddressSpace
    private let hostThread: Int32
    private let dead = Atomic<Bool>(false)
    private var released = false
    /// The guest's run time: the sum of the stays in switchToGuest, and when the current one
    /// began (0: not in one). Read by other threads (CPU clocks and timers, /proc).
    private let guestTime = Mutex<(total: UInt64, since: UInt64)>((0, 0))

    init(vcpu: KVMVCPU, space: KVMAddressSpace) {
        self.vcpu = vcpu
        self.space = space
        hostThread = Int32(joey_gettid())
        vcpu.thread.store(hostThread, ordering: .relaxed)
    }

    deinit { release() }

    func initialRegisters() -> GuestRegisters {
        var r = GuestRegisters()
        r.cs = UInt64(JOEY_KVM_USER_CS)
        r.ss = UInt64(JOEY_KVM_USER_DS)
        r.eflags = 0x202
        return r
    }

    /// The flags a guest may set (Linux's FLAG_MASK), interrupts always on: iretq from ring 0
    /// would otherwise hand it IOPL.
    private static let userFlags: UInt64 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x1_0000 | 0x4_0000 | 0x20_0000

    private static let debug = getenv("JOEY_KVM_DEBUG") != nil
    private static func debugLine(_ line: String) { _ = (line + "\n").withCString { write(2, $0, strlen($0)) } }

    /// Exceptions whose frame has an error code.
    /// (8, 10-14, 17, 21, 29, 30.)
    private static func hasErrorCode(_ v: Int) -> Bool { v < 32 && (0x6022_7d00 as UInt32) >> UInt32(v) & 1 != 0 }

    /// See PlatformContext; set by each switchToGuest, read by its caller.
    private(set) var lastExitOverheadNanos: UInt64 = 0

    func switchToGuest(_ regs: inout GuestRegisters) -> PlatformEvent {
        let entered = monotonicNanos()
        guestTime.withLock { $0.since = entered }
        var next: PlatformEvent?
        repeat { next = runOnce(&regs) } while next == nil
        let event = next!
        // The round trip's own cost is the kernel's system time: the shortest stay that ended
        // in a system call (the guest entered, ran, and left), noted only from those, since
        // a stay cut short before the guest ran is no round trip.
        let stay = monotonicNanos() &- entered
        let platform = vcpu.platform
        let overhead: UInt64
        if case .syscall = event { overhead = min(stay, platform.noteRoundTrip(stay)) } else { overhead = min(stay, platform.roundTrip) }
        lastExitOverheadNanos = overhead
        guestTime.withLock { $0 = ($0.total &+ (stay - overhead), 0) }
        return event
    }

    /// One entry into the guest and its exit; nil when the platform handled the exit itself
    /// (a lazily mapped page's first touch) and the guest goes on from `regs`.
    private func runOnce(_ regs: inout GuestRegisters) -> PlatformEvent? {
        if dead.load(ordering: .relaxed) { return .died(status: SIGKILL) }
        let v = vcpu
        if regs.fs_base != v.fsBase { _ = joey_kvm_set_msr(v.fd, MSR.fsBase, regs.fs_base); v.fsBase = regs.fs_base }
        if regs.gs_base != v.gsBase { _ = joey_kvm_set_msr(v.fd, MSR.gsBase, regs.gs_base); v.gsBase = regs.gs_base }
        let r = joey_kvm_run_regs(v.run)!
        if v.inGuestMode {
            // It stopped in guest code last time: ring 0 again, for the entries below.
            guard joey_kvm_enter_supervisor(v.fd) == 0 else { return .fault(signal: SIGSEGV, code: 0x80, address: 0) }
            v.inGuestMode = false
        }
        var flush = false
        if v.platform.hasEdits {
            guard applyEdits(r) else { return .fault(signal: SIGSEGV, code: 0x80, address: 0) }
            flush = true
        }
        // The iret frame at the top of the ring-0 stack.
        let frame = v.stack - 40
        frame.storeBytes(of: regs.rip, as: UInt64.self)
        frame.storeBytes(of: UInt64(JOEY_KVM_USER_CS), toByteOffset: 8, as: UInt64.self)
        frame.storeBytes(of: regs.eflags & Self.userFlags | 0x202, toByteOffset: 16, as: UInt64.self)
        frame.storeBytes(of: regs.rsp, toByteOffset: 24, as: UInt64.self)
        frame.storeBytes(of: UInt64(JOEY_KVM_USER_DS), toByteOffset: 32, as: UInt64.self)
        r.pointee.rax = regs.rax; r.pointee.rbx = regs.rbx; r.pointee.rcx = regs.rcx; r.pointee.rdx = regs.rdx
        r.pointee.rsi = regs.rsi; r.pointee.rdi = regs.rdi; r.pointee.rbp = regs.rbp
        r.pointee.r8 = regs.r8; r.pointee.r9 = regs.r9; r.pointee.r10 = regs.r10; r.pointee.r11 = regs.r11
        r.pointee.r12 = regs.r12; r.pointee.r13 = regs.r13; r.pointee.r14 = regs.r14; r.pointee.r15 = regs.r15
        r.pointee.rflags = 2
        joey_kvm_set_immediate_exit(v.run, 0)
        v.running.store(true, ordering: .sequentiallyConsistent)
        if v.kickPending.exchange(false, ordering: .sequentiallyConsistent) {
            // Kicked since the kernel let this thread go: not entered (a kick that comes after
            // this sees `running` and sets immediate_exit, which KVM_RUN honours).
            v.running.store(false, ordering: .sequentiallyConsistent)
            return dead.load(ordering: .relaxed) ? .died(status: SIGKILL) : .interrupted
        }
        let generation = space.generation.load(ordering: .sequentiallyConsistent)
        let supervisor = KVMLayout.supervisorBase
        r.pointee.rsp = v.stackTop - 40
        if generation != v.seenGeneration || flush {
            r.pointee.rip = supervisor + JOEY_KVM_FLUSH
            v.seenGeneration = generation
        } else {
            r.pointee.rip = supervisor + JOEY_KVM_IRET
        }
        joey_kvm_mark_regs_dirty(v.run)
        while true {
            let rc = joey_kvm_run(v.fd)
            let rip = r.pointee.rip
            if rc == -Int64(EINTR) || rc == -Int64(EAGAIN) {
                if Self.debug {
                    Self.debugLine("kvm: interrupted rc \(rc) rip \(String(rip, radix: 16)) rsp \(String(r.pointee.rsp, radix: 16)) exit \(joey_kvm_exit_reason(v.run))")
                }
                if rip >= supervisor + JOEY_KVM_IRET && rip < supervisor + JOEY_KVM_FLUSH + 16 {
                    // Stopped before the guest ran: nothing changed. Back to the kernel, which
                    // looks at what the kick was for under its lock.
                    v.kickPending.store(false, ordering: .sequentiallyConsistent)
                    v.running.store(false, ordering: .sequentiallyConsistent)
                    // A flush cut short is done again.
                    if rip >= supervisor + JOEY_KVM_FLUSH { v.seenGeneration = generation &- 1 }
                    return dead.load(ordering: .relaxed) ? .died(status: SIGKILL) : .interrupted
                }
                if rip < supervisor {
                    // Stopped in guest code: its state is the guest's now, and the vCPU is in
                    // ring 3 (the next entry goes back to ring 0 first).
                    v.kickPending.store(false, ordering: .sequentiallyConsistent)
                    v.running.store(false, ordering: .sequentiallyConsistent)
                    v.inGuestMode = true
                    loadGuestRegisters(r, into: &regs, rip: rip, rsp: r.pointee.rsp, flags: r.pointee.rflags)
                    return dead.load(ordering: .relaxed) ? .died(status: SIGKILL) : .interrupted
                }
                // Inside an exception entry: let it reach its exit.
                joey_kvm_set_immediate_exit(v.run, 0)
                continue
            }
            v.running.store(false, ordering: .sequentiallyConsistent)
            if rc == -Int64(EFAULT) && rip < supervisor {
                // The host refused a MemoryFile page the guest touched (the memory limit's
                // tmpfs is full): SIGBUS BUS_ADRERR, as systrap's stub gets, for the kernel's
                // OOM path. KVM names the guest-physical page only; the instruction's
                // address, in a mapping as that path requires, stands for it.
                v.inGuestMode = true
                loadGuestRegisters(r, into: &regs, rip: rip, rsp: r.pointee.rsp, flags: r.pointee.rflags)
                return .fault(signal: SIGBUS, code: 2, address: rip)
            }
            let port = joey_kvm_exit_port(v.run)
            // JOEY_KVM_DEBUG: every exit, with the top of the ring-0 stack (for bringing the
            // platform up; the kvm platform is not finished, see KVMPlatform.swift).
            if Self.debug {
                let top = v.stack
                let slots = (1...8).map { String((top - 8 * $0).load(as: UInt64.self), radix: 16) }
                Self.debugLine("kvm: rc \(rc) exit \(joey_kvm_exit_reason(v.run)) port \(port) rip \(String(r.pointee.rip, radix: 16)) stack \(slots)")
            }
            guard rc == 0 else { return .fault(signal: SIGSEGV, code: 0x80, address: 0) }
            // An entry taken from ring 3 left exactly its frame, rax and cr2 on the stack;
            // anything else is a fault of the supervisor itself.
            guard port >= 0 && port < 32, r.pointee.rsp == v.stackTop - (Self.hasErrorCode(Int(port)) ? 64 : 56) else {
                // Anything else (a triple fault, an internal error) ends the guest as a crash.
                return .fault(signal: SIGSEGV, code: 0x80, address: 0)
            }
            return decode(vector: Int(port), r, into: &regs)
        }
    }

    /// Has the guest write again, batch by batch, the table entries the host changed while
    /// they were present (KVMAddressSpace). False when the supervisor failed.
    private func applyEdits(_ r: UnsafeMutablePointer<kvm_regs>) -> Bool {
        let v = vcpu
        let buffer = v.platform.page(KVMLayout.editPage(v.id)).assumingMemoryBound(to: UInt64.self)
        while true {
            let batch = v.platform.takeEdits(max: 512)
            if batch.isEmpty { return true }
            for (i, a) in batch.enumerated() { buffer[i] = a }
            r.pointee.rsi = KVMLayout.virtual(KVMLayout.editPage(v.id))
            r.pointee.rcx = UInt64(batch.count)
            r.pointee.rip = KVMLayout.supervisorBase + JOEY_KVM_APPLY
            r.pointee.rsp = v.stackTop - 64
            r.pointee.rflags = 2
            joey_kvm_mark_regs_dirty(v.run)
            var rc: Int64
            repeat {
                joey_kvm_set_immediate_exit(v.run, 0)
                rc = joey_kvm_run(v.fd)
            } while rc == -Int64(EINTR) || rc == -Int64(EAGAIN)
            v.platform.editsWritten()
            guard rc == 0, joey_kvm_exit_port(v.run) == JOEY_KVM_APPLY_PORT else { return false }
        }
    }

    private func loadGuestRegisters(_ r: UnsafeMutablePointer<kvm_regs>, into regs: inout GuestRegisters, rip: UInt64, rsp: UInt64, flags: UInt64) {
        regs.rax = r.pointee.rax; regs.rbx = r.pointee.rbx; regs.rcx = r.pointee.rcx; regs.rdx = r.pointee.rdx
        regs.rsi = r.pointee.rsi; regs.rdi = r.pointee.rdi; regs.rbp = r.pointee.rbp
        regs.r8 = r.pointee.r8; regs.r9 = r.pointee.r9; regs.r10 = r.pointee.r10; regs.r11 = r.pointee.r11
        regs.r12 = r.pointee.r12; regs.r13 = r.pointee.r13; regs.r14 = r.pointee.r14; regs.r15 = r.pointee.r15
        regs.rip = rip
        regs.rsp = rsp
        regs.eflags = flags
    }

    /// An exception entry's exit: the CPU's frame (and the entry's saved rax and cr2) on the
    /// ring-0 stack says where the guest was.
    private func decode(vector: Int, _ r: UnsafeMutablePointer<kvm_regs>, into regs: inout GuestRegisters) -> PlatformEvent? {
        let top = vcpu.stack
        func slot(_ i: Int) -> UInt64 { (top - 8 * i).load(as: UInt64.self) }
        // From the top: ss, rsp, rflags, cs, rip, [error code], rax, cr2.
        let rip = slot(5), flags = slot(3), rsp = slot(2)
        let withError = Self.hasErrorCode(vector)
        let error = withError ? slot(6) : 0
        let rax = slot(withError ? 7 : 6)
        let cr2 = slot(withError ? 8 : 7)
        loadGuestRegisters(r, into: &regs, rip: rip, rsp: rsp, flags: flags)
        regs.rax = rax
        let trampoline = KVMLayout.supervisorBase + JOEY_KVM_TRAMPOLINE
        if vector == 6 && rip == trampoline {
            // `syscall`: rcx holds the return address, r11 the flags.
            regs.orig_rax = rax
            regs.rip = regs.rcx
            regs.eflags = regs.r11
            return .syscall
        }
        faultTrap = (UInt64(vector), error)
        switch vector {
        case 0: return .fault(signal: SIGFPE, code: 1 /* FPE_INTDIV */, address: rip)
        case 1, 3: return .fault(signal: SIGTRAP, code: 0x80, address: 0)
        case 6: return .fault(signal: SIGILL, code: 2 /* ILL_ILLOPN */, address: rip)
        case 14:
            // A lazily mapped page's first touch: written now, and the guest retries (the
            // next entry reloads cr3: fill counts as a change).
            if error & 1 == 0 && space.fill(cr2) {
                vcpu.seenGeneration = vcpu.seenGeneration &- 1
                return nil
            }
            let code: Int32 = error & 1 != 0 || space.isMapped(cr2) ? 2 /* SEGV_ACCERR */ : 1 /* SEGV_MAPERR */
            return .fault(signal: SIGSEGV, code: code, address: cr2)
        case 16, 19: return .fault(signal: SIGFPE, code: 0, address: rip)
        case 17: return .fault(signal: SIGBUS, code: 1 /* BUS_ADRALN */, address: 0)
        default: return .fault(signal: SIGSEGV, code: 0x80 /* SI_KERNEL */, address: 0)
        }
    }

    /// The XSAVE area's size for the host's enabled features (the guest's code runs with
    /// them: its AVX registers are real), at least the legacy area and header.
    private static let xsaveSize = max(576, min(4096, Int(joey_xsave_size())))

    func floatingPointState() -> [UInt8] {
        var x = [UInt8](repeating: 0, count: Self.xsaveSize)
        if x.withUnsafeMutableBytes({ joey_kvm_get_xsave(vcpu.fd, $0.baseAddress, UInt64($0.count)) }) > 0 { return x }
        var fx = [UInt8](repeating: 0, count: 512)
        fx.withUnsafeMutableBytes { _ = joey_kvm_get_fxsave(vcpu.fd, $0.baseAddress) }
        return fx
    }

    func setFloatingPointState(_ state: [UInt8]) {
        guard state.count >= 512 else { return }
        if state.count > 512, state.withUnsafeBytes({ joey_kvm_set_xsave(vcpu.fd, $0.baseAddress, UInt64($0.count)) }) == 0 { return }
        state.withUnsafeBytes { _ = joey_kvm_set_fxsave(vcpu.fd, $0.baseAddress) }
    }

    /// The guest's time alone, as a stub thread's CPU time is on the other platforms (the
    /// kernel counts the sentry's as system time): the time spent in switchToGuest, less each
    /// stay's round trip (the shortest stay seen: an estimate, as Linux's own split is). The
    /// host thread's CPU clock would count the sentry's work too, this thread being both. Time
    /// the host gives another thread meanwhile counts, as a stub's spinning does. Only grows:
    /// a stay under way counts less its round trip, and the shortest only shrinks.
    func cpuTimeNanos() -> UInt64 {
        let now = monotonicNanos()
        let roundTrip = vcpu.platform.roundTrip
        return guestTime.withLock { t in
            guard t.since != 0, now > t.since else { return t.total }
            let running = now - t.since
            return t.total &+ (running > roundTrip ? running - roundTrip : 0)
        }
    }

    func peakResidentKiB() -> UInt64 { space.residentKiB.peak }
    /// The address space's present pages: all of it guest memory in the MemoryFile, which
    /// Linux would count as the process's anonymous (or shared) memory.
    func residentMemory() -> ResidentMemory {
        let r = space.residentKiB
        return ResidentMemory(peak: r.peak, current: r.current, anon: r.current)
    }

    func interrupt() { vcpu.kick() }

    /// The vCPU runs in this sentry thread (KVM_RUN), so the guest's affinity is the thread's:
    /// the host CPUs behind the mask's numbers (HostCPUs.ids), or all the sentry may use.
    func restrictCPUs(to mask: UInt64) {
        var cpus: [Int32] = []
        for (i, id) in HostCPUs.ids.enumerated() where mask & (1 << UInt64(id)) != 0 { cpus.append(Spinning.cpus[i]) }
        if cpus.isEmpty || mask & HostCPUs.mask == HostCPUs.mask {
            _ = joey_pin_thread(0, -1)
        } else {
            _ = joey_restrict_thread(0, cpus, Int32(cpus.count))
        }
    }

    func kill() {
        dead.store(true, ordering: .relaxed)
        vcpu.kick()
    }

    func release() {
        if released { return }
        released = true
        dead.store(true, ordering: .relaxed)
        space.detach(vcpu)
        vcpu.thread.store(0, ordering: .relaxed)
        vcpu.platform.returnVCPU(vcpu)
    }
}
