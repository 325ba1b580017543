// The systrap platform: a guest thread runs as a thread of its address space's stub process
// (StubSpace), under a seccomp filter that turns every guest system call into SIGSYS
// (SECCOMP_RET_TRAP). The thread's handler, on a signal stack in its thread area (memory
// the sentry also maps), hands the signal frame to the sentry through the area's control
// page (futex + spin) and returns with rt_sigreturn once the sentry has rewritten the
// frame's registers. Faults travel the same way; nothing uses ptrace.
//
// What the guest can reach: the code page and the thread areas are inside its address space
// (above `addressSpaceEnd`, so its own mmap/munmap/mprotect cannot touch them), and it can
// jump into the code page or store into the areas and the control thread's result page.
// Neither helps it: from the code page a guest thread's filter allows only rt_sigreturn,
// futex wait/wake, arch_prctl(SET_FS/GS) and exit; the control thread's requests are in a
// page the stub maps read-only and its completions come through a pipe; and everything the
// sentry reads from an area is validated and only ever becomes that guest thread's own
// registers (a thread may scribble on a sibling's area: they are one guest process).
//
// Patched system calls (Task/SyscallPatching.swift) enter the code page by a jump instead of
// SIGSYS: the thread's gs base is its thread area while the guest's own is 0, the entry
// stores the registers in the area's register block and hands over the same way, and the
// FPU state stays in the CPU unless the sentry asks for it (JOEY_SYSTRAP_XSAVE). The entry
// checks gs before it uses it, so a guest that loads its own gs base (wrgsbase) only loses
// the fast path; it sees the area's address if it reads its gs base with rdgsbase while the
// base it set (arch_prctl) is 0.
import CJoey
import Glibc
import JoeyABI

public final class SystrapPlatform: Platform, @unchecked Sendable {
    public let name = "systrap"
    public var mapsHostFiles: Bool { true }
    public let stubAddress: UInt64
    public var addressSpaceEnd: UInt64 { stubAddress - JOEY_STUB_BELOW }
    /// Half the stub's thread areas: the rest leaves room for threads still exiting, whose
    /// areas are reused once they are gone.
    public var maxThreadsPerAddressSpace: Int { Int(JOEY_STUB_MAX_THREADS / 2) }
    let hasFSGSBase: Bool
    let factory: StubFactory
    public var hasGlobalMemoryBarrier: Bool { factory.membarrierRegistered }
    public let syscallPatchEntry: UInt64?

    public init(syscallPatching: Bool = true) throws(PlatformError) {
        _ = Spinning.cpus // the affinity to come back to, before any thread is pinned
        // PR_GET_SECCOMP fails with EINVAL when the kernel has no seccomp at all.
        let mode = joey_seccomp_mode()
        if mode < 0 {
            throw PlatformError("systrap platform: this kernel has no seccomp (prctl(PR_GET_SECCOMP) failed with errno \(-mode)); use --platform=ptrace")
        }
        let stub = joey_stub_install()
        guard stub != 0 else {
            throw PlatformError("systrap platform: could not reserve the stub region near the top of the address space")
        }
        stubAddress = stub
        hasFSGSBase = joey_has_fsgsbase() != 0
        // The patched path reads gs with rdgsbase and saves the FPU state with xsave.
        syscallPatchEntry = syscallPatching && hasFSGSBase && joey_has_xsave() != 0 ? stub + joey_stub_patch_entry_offset() : nil
        factory = try StubFactory(platform: "systrap")
    }

    public func newAddressSpace(memoryFile: MemoryFile) throws(PlatformError) -> AddressSpace {
        try StubSpace(kind: JOEY_STUB_KIND_SYSTRAP, stubAddress: stubAddress, factory: factory,
                      memoryFile: memoryFile, hasFSGSBase: hasFSGSBase, syscallPatching: syscallPatchEntry != nil)
    }
}

final class SystrapThread: PlatformContext {
    /// Pause iterations each side spins before sleeping on the futex: long enough to cover a
    /// short system call's round trip, short enough not to burn a core while the other side works.
    static let sentrySpin: UInt32 = 700
    static let stubSpin: UInt32 = 700
    /// sched_yields each side makes before sleeping when it does not spin (the halves share
    /// a CPU, or the CPUs are busy): a yield hands a shared CPU to the other half with no
    /// futex wake-up on either side. The stub waits for a system call's handling, which is
    /// mostly short; the sentry waits for guest code, which may run for long, and each
    /// yield then costs a switch to it and back: a few only (64 made `make -j2` of gcc 5%
    /// slower, 4 made it 5% faster; two processes calling getpid: 2.9 to 2.3 µs a call,
    /// pipe ping-pong 62-82 to 41-49 µs).
    static let stubYields: UInt32 = 64
    static let sentryYields: UInt32 = 4
    /// How long the sentry sleeps before checking that the stub is still alive.
    static let livenessCheckNanos: Int64 = 50_000_000
    static let longRunWatchMax: UInt64 = 1_600_000

    private let space: StubSpace
    private let slot: Int
    /// Where this thread's halves run, and whether they spin this time.
    private var pairing = Pairing()
    private var spinning = true
    /// The system call being answered blocked (the stub was told to sleep at once).
    private var blocked = false
    /// Handoffs of the current run that found the other half asleep (see Pairing.spun).
    private var handoffMisses = 0
    /// The sentry thread that made (and drives) this context.
    private let sentryThread = joey_gettid()
    /// The thread's host tid (as its stub reported it: only ever used to signal it).
    private let tid: pid_t
    private let hasFSGSBase: Bool
    /// The sentry's mapping of the thread area, and where the stub sees it.
    private let area: UnsafeMutableRawPointer
    private let areaAddress: UInt64
    private var ctrl: UnsafeMutablePointer<joey_systrap_ctrl> { area.assumingMemoryBound(to: joey_systrap_ctrl.self) }
    /// The sentry's pointer to the ucontext of the event the thread is parked in.
    private var ucontext: UnsafeMutableRawPointer?
    private var baseSelectors = GuestRegisters()
    /// The bases the thread's CPU state holds (gs: its area while the guest's is 0 and
    /// system calls may be patched).
    private var knownFSBase: UInt64 = 0
    private var knownGSBase: UInt64 = 0
    private var basesKnown = false
    private var released = false
    private let patching: Bool
    /// The thread's host CPU time when this context took it (a kept thread's earlier lives),
    /// and at the last reading (cpuTimeNanos).
    private let cpuBase: UInt64
    private var lastCPUNanos: UInt64?
    /// The thread waits for the sentry's answer to the event it reported (decoded, not
    /// yet answered): where a kept thread is sent back to its ready point from.
    private var parked = false
    /// The parked event came through the patched path: its registers are in the register
    /// block, its FPU state in the CPU until saved to the XSAVE area on request.
    private var fastEvent = false
    /// The trap number and error code of the last fault event (lastFaultTrap).
    private var faultTrap: (number: UInt64, error: UInt64)?
    var lastFaultTrap: (number: UInt64, error: UInt64)? { faultTrap }
    private var fastFPSaved = false
    /// What the thread's signal frames hold of the FPU state (the XSAVE area's size).
    private var xsaveSize = 576

    // ucontext layout: uc_stack at 16, mcontext gregs at 40 (r8 ... rip, eflags, csgsfs),
    // fpstate pointer at 224, uc_sigmask at 296.
    private static let gregs = 40, fpstatePointer = 224, sigmask = 296, ucontextSize = 304

    /// A new stub thread.
    convenience init(space: StubSpace) throws(PlatformError) {
        let a = try space.takeArea()
        let c = a.pointer.assumingMemoryBound(to: joey_systrap_ctrl.self)
        c.pointee.has_fsgsbase = space.hasFSGSBase ? 1 : 0
        c.pointee.spin = Self.stubSpin
        let t = space.startThread(slot: a.slot, address: a.address)
        guard t > 0 else {
            space.letGo(slot: a.slot)
            throw PlatformError("systrap platform: the stub process cannot start a thread (errno \(-t))")
        }
        try self.init(space: space, slot: a.slot, area: a.pointer, areaAddress: a.address, tid: t, cpuBase: 0, kept: false)
    }

    /// The stub thread of a guest thread that ended, kept by the space (StubSpace.takeKept).
    convenience init(space: StubSpace, kept: (slot: Int, address: UInt64, pointer: UnsafeMutableRawPointer, tid: pid_t, cpuBase: UInt64)) throws(PlatformError) {
        try self.init(space: space, slot: kept.slot, area: kept.pointer, areaAddress: kept.address, tid: kept.tid,
                      cpuBase: kept.cpuBase, kept: true)
    }

    private init(space: StubSpace, slot: Int, area: UnsafeMutableRawPointer, areaAddress: UInt64, tid: pid_t,
                 cpuBase: UInt64, kept: Bool) throws(PlatformError) {
        self.space = space
        hasFSGSBase = space.hasFSGSBase
        patching = space.syscallPatching
        self.slot = slot
        self.area = area
        self.areaAddress = areaAddress
        self.tid = tid
        self.cpuBase = cpuBase
        let c = area.assumingMemoryBound(to: joey_systrap_ctrl.self)
        // The thread reports ready with SIGILL from its setup code. A kept one may first take
        // a signal sent to it in its last life (an interrupt): it is let go on to the ready
        // point. The sentry waits for it with the kernel lock held, and its guest could have
        // scribbled over its area while it was kept: it is given up after 100 ms.
        var regs = GuestRegisters()
        let patience = kept ? 2 : Int.max
        var ready = awaitEvent(&regs, patience: patience)
        var interrupts = 0
        while kept, case .interrupted = ready, interrupts < 8 {
            interrupts += 1
            ready = switchToGuest(&regs, patience: patience)
        }
        guard case .fault(let sig, _, _) = ready, sig == SIGILL, !kept || regs.rip == space.stubAddress + joey_stub_ready_offset(),
              let uc = ucontext else {
            var why = "it reported \(ready) instead of ready"
            if case .died(let status) = ready {
                if joey_wifexited(status) != 0 {
                    switch joey_wexitstatus(status) {
                    case 121: why = "it could not take its signal stack"
                    case 123: why = "seccomp refused its filter"
                    default: why = "its stub exited with status \(joey_wexitstatus(status))"
                    }
                } else {
                    why = "it died (wait status \(status))"
                }
            }
            release()
            throw PlatformError("systrap platform: the stub thread did not start: \(why); try --platform=ptrace")
        }
        let csgsfs = uc.loadUnaligned(fromByteOffset: Self.gregs + 18 * 8, as: UInt64.self)
        baseSelectors.cs = csgsfs & 0xffff
        baseSelectors.ss = (csgsfs >> 48) & 0xffff
        // The patched path saves what the kernel's signal frames save (their software bytes
        // say which features, and how much).
        var mask: UInt64 = 3
        let fpAddress = uc.load(fromByteOffset: Self.fpstatePointer, as: UInt64.self)
        if let fp = stackPointer(fpAddress, 512), fp.load(fromByteOffset: 464, as: UInt32.self) == 0x4650_5853 {
            let size = Int(fp.load(fromByteOffset: 480, as: UInt32.self))
            if size > 576, size <= Int(JOEY_SYSTRAP_XSAVE_SIZE) {
                mask = fp.load(fromByteOffset: 472, as: UInt64.self)
                xsaveSize = size
            }
        }
        c.pointee.xsave_mask = mask
    }

    deinit { release() }

    func initialRegisters() -> GuestRegisters {
        var r = GuestRegisters()
        r.cs = baseSelectors.cs
        r.ss = baseSelectors.ss
        r.eflags = 0x202
        return r
    }

    /// A thread parked at an event goes back to its ready point, a new thread's state (all
    /// registers but the selectors zero, the bases too, signals unblocked) to be kept for
    /// the space's next context (the kernel gives that one its FPU state); any other is
    /// killed. Its host CPU time so far is the next context's base.
    func retire() {
        guard !released, parked, let uc = ucontext, ctrl.pointee.state != JOEY_SYSTRAP_DEAD, space.mayKeep() else { return kill() }
        let base = lastCPUNanos ?? space.threadCPUNanos(tid)
        var r = initialRegisters()
        r.rip = space.stubAddress + joey_stub_ready_offset()
        r.rsp = areaAddress
        storeRegisters(r, into: uc)
        ctrl.pointee.sentry_blocking = 0
        ctrl.pointee.spin = Self.stubSpin
        ctrl.pointee.yields = 0
        ucontext = nil
        parked = false
        released = true
        pairing.end(onSentryThread: joey_gettid() == sentryThread, keptStub: tid)
        joey_systrap_post(ctrl, JOEY_SYSTRAP_RESUME)
        // The last touch of the area by this context.
        space.keep(slot: slot, cpuBase: base)
    }

    /// Lets the thread go: told DEAD, it exits as soon as it is in its handler (at once when
    /// parked there); its area is reused once it is gone.
    func release() {
        ucontext = nil
        if released { return }
        released = true
        pairing.end(onSentryThread: joey_gettid() == sentryThread)
        joey_systrap_post(ctrl, JOEY_SYSTRAP_DEAD)
        _ = joey_tgkill(space.pid, tid, SIGURG)
        // The last touch of the area: kill() and the waits check `released` first.
        space.letGo(slot: slot)
    }

    /// The sentry's pointer to `length` bytes at stub address `address`, when they lie in
    /// the signal stack part of the thread area (where the kernel writes signal frames).
    private func stackPointer(_ address: UInt64, _ length: Int) -> UnsafeMutableRawPointer? {
        let lo = areaAddress + JOEY_SYSTRAP_SIGSTACK, hi = areaAddress + JOEY_STUB_AREA_SIZE
        guard address >= lo, address <= hi, UInt64(length) <= hi - address, address & 7 == 0 else { return nil }
        return area + Int(address - areaAddress)
    }

    /// Waits until the thread posts an event: nil then, or a wait status once it is gone
    /// (told DEAD, or its stub process dead, noticed at the periodic liveness check).
    /// `patience`: liveness checks to make (each after livenessCheckNanos without an event)
    /// before giving the thread up as gone.
    private func waitForStub(patience: Int = .max) -> Int32? {
        var checks = 0
        // A joined pair looks again after each watch, twice as long each time up to
        // longRunWatchMax (a guest computing alone costs ~600 wake-ups a second; the other
        // pair may begin to compute only later).
        var watch = Pairing.longRunNanos
        var watched: Int64 = 0
        var first = true
        while true {
            var slept: UInt32 = 0
            let watching = pairing.watchesLongRuns
            let timeout = watching ? Int64(watch) : Self.livenessCheckNanos
            // Spins or yields only before the first sleep: after one the guest runs long.
            let r = joey_systrap_wait(ctrl, spinning && first ? Self.sentrySpin : 0, spinning || !first ? 0 : Self.sentryYields, timeout, &slept)
            first = false
            if slept != 0 { handoffMisses += 1 }
            if r == Int64(JOEY_SYSTRAP_EVENT) { return nil }
            if r == Int64(JOEY_SYSTRAP_DEAD) { release(); return Int32(SIGKILL) }
            if watching {
                if !pairing.guestRunsLong(stub: tid) { watch = min(watch * 2, Self.longRunWatchMax) }
                // The liveness check still comes every livenessCheckNanos.
                watched += timeout
                if watched < Self.livenessCheckNanos { continue }
                watched = 0
            }
            checks += 1
            if !space.alive() || joey_tgkill(space.pid, tid, 0) == -Int64(ESRCH) || checks >= patience {
                release()
                return Int32(SIGKILL)
            }
        }
    }

    /// Waits for the stub's next event and decodes it into `registers`.
    private func awaitEvent(_ registers: inout GuestRegisters, patience: Int = .max) -> PlatformEvent {
        if let status = waitForStub(patience: patience) { return .died(status: status) }
        if let event = decodeEvent(&registers) { parked = true; return event }
        // The guest scribbled over its own thread's state: it cannot be resumed safely.
        release()
        return .died(status: Int32(SIGKILL))
    }

    private func decodeEvent(_ registers: inout GuestRegisters) -> PlatformEvent? {
        let c = ctrl.pointee
        let uc: UnsafeMutableRawPointer
        var info: UnsafeMutableRawPointer?
        fastEvent = c.fast != 0
        fastFPSaved = false
        if fastEvent {
            uc = area + Int(JOEY_SYSTRAP_REGS)
        } else {
            guard let frame = stackPointer(c.frame, Self.ucontextSize), let i = stackPointer(c.info, 128) else { return nil }
            uc = frame
            info = i
        }
        ucontext = uc
        func g(_ i: Int) -> UInt64 { uc.load(fromByteOffset: Self.gregs + i * 8, as: UInt64.self) }
        registers.r8 = g(0); registers.r9 = g(1); registers.r10 = g(2); registers.r11 = g(3)
        registers.r12 = g(4); registers.r13 = g(5); registers.r14 = g(6); registers.r15 = g(7)
        registers.rdi = g(8); registers.rsi = g(9); registers.rbp = g(10); registers.rbx = g(11)
        registers.rdx = g(12); registers.rax = g(13); registers.rcx = g(14); registers.rsp = g(15)
        registers.rip = g(16); registers.eflags = g(17)
        registers.cs = baseSelectors.cs; registers.ss = baseSelectors.ss
        registers.orig_rax = UInt64(bitPattern: -1)
        if hasFSGSBase {
            knownFSBase = c.fs_base
            knownGSBase = c.gs_base
            basesKnown = true
        }
        if basesKnown {
            registers.fs_base = knownFSBase
            registers.gs_base = patching && knownGSBase == areaAddress ? 0 : knownGSBase
        }
        if fastEvent {
            registers.orig_rax = registers.rax
            registers.rax = UInt64(bitPattern: -Int64(ENOSYS))
            return .syscall
        }
        // The patched path's exit was interrupted before it restored the FPU state the
        // sentry gave it: that state goes into this frame instead.
        if c.fp_dirty != 0 {
            ctrl.pointee.fp_dirty = 0
            let pending = [UInt8](UnsafeRawBufferPointer(start: area + Int(JOEY_SYSTRAP_XSAVE_AREA), count: xsaveSize))
            setFloatingPointState(pending)
        }
        guard let info else { return nil }
        let signo = Int32(bitPattern: c.signo)
        let code = info.load(fromByteOffset: 8, as: Int32.self)
        let address = info.load(fromByteOffset: 16, as: UInt64.self)
        switch signo {
        case SIGSYS:
            guard code == 1 /* SYS_SECCOMP */ else { return .interrupted }
            let arch = info.load(fromByteOffset: 28, as: UInt32.self)
            guard arch == 0xc000_003e /* AUDIT_ARCH_X86_64 */ else {
                // A 32-bit system call (int $0x80 or compat mode): Joey implements only the
                // 64-bit ABI, so the guest gets the SIGSYS a seccomp-confined process would.
                return .fault(signal: SIGSYS, code: 1, address: address)
            }
            // The kernel rolled the registers back: rax holds the system call number.
            registers.orig_rax = registers.rax
            registers.rax = UInt64(bitPattern: -Int64(ENOSYS))
            return .syscall
        case SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP:
            if code > 0 || signo == SIGTRAP {
                // REG_ERR and REG_TRAPNO of the host's frame: the hardware's own account.
                faultTrap = (g(20), g(19))
                return .fault(signal: signo, code: code, address: address)
            }
            return .interrupted
        default:
            return .interrupted
        }
    }

    /// Writes `registers` into the parked frame; rt_sigreturn loads them into the CPU.
    private func storeRegisters(_ registers: GuestRegisters, into uc: UnsafeMutableRawPointer) {
        func s(_ i: Int, _ v: UInt64) { uc.storeBytes(of: v, toByteOffset: Self.gregs + i * 8, as: UInt64.self) }
        s(0, registers.r8); s(1, registers.r9); s(2, registers.r10); s(3, registers.r11)
        s(4, registers.r12); s(5, registers.r13); s(6, registers.r14); s(7, registers.r15)
        s(8, registers.rdi); s(9, registers.rsi); s(10, registers.rbp); s(11, registers.rbx)
        s(12, registers.rdx); s(13, registers.rax); s(14, registers.rcx); s(15, registers.rsp)
        s(16, registers.rip); s(17, registers.eflags)
        // The thread's own signal stack and an empty host signal mask, whatever the frame says.
        uc.storeBytes(of: areaAddress + JOEY_SYSTRAP_SIGSTACK, toByteOffset: 16, as: UInt64.self)
        uc.storeBytes(of: Int32(0), toByteOffset: 24, as: Int32.self)
        uc.storeBytes(of: JOEY_STUB_AREA_SIZE - JOEY_SYSTRAP_SIGSTACK, toByteOffset: 32, as: UInt64.self)
        uc.storeBytes(of: UInt64(0), toByteOffset: Self.sigmask, as: UInt64.self)
        let gs = patching && registers.gs_base == 0 ? areaAddress : registers.gs_base
        if !basesKnown || registers.fs_base != knownFSBase || gs != knownGSBase {
            ctrl.pointee.fs_base = registers.fs_base
            ctrl.pointee.gs_base = gs
            ctrl.pointee.bases_dirty = 1
            knownFSBase = registers.fs_base
            knownGSBase = gs
            basesKnown = true
        }
        // The fast exit restores the arithmetic flags only, and addresses the register block
        // through gs: anything else leaves through a signal frame.
        if fastEvent { ctrl.pointee.bounce = gs == areaAddress && registers.eflags & ~0x8d5 == 0x202 ? 0 : 1 }
    }

    func switchToGuest(_ registers: inout GuestRegisters) -> PlatformEvent {
        switchToGuest(&registers, patience: .max)
    }

    private func switchToGuest(_ registers: inout GuestRegisters, patience: Int) -> PlatformEvent {
        guard !released, let uc = ucontext else { return .died(status: 0) }
        if ctrl.pointee.state == JOEY_SYSTRAP_DEAD { release(); return .died(status: Int32(SIGKILL)) }
        storeRegisters(registers, into: uc)
        ctrl.pointee.sentry_blocking = 0
        // The stub waited for this answer as the last run told it to; one that slept though
        // told to spin (and not told the call blocks) missed its handoff.
        let stubWasToldToSpin = spinning && !blocked
        blocked = false
        spinning = pairing.beforeRun(stub: tid)
        ctrl.pointee.spin = spinning ? Self.stubSpin : 0
        ctrl.pointee.yields = spinning ? 0 : Self.stubYields
        parked = false
        handoffMisses = joey_systrap_post(ctrl, JOEY_SYSTRAP_RESUME) != 0 && stubWasToldToSpin ? 1 : 0
        let event = awaitEvent(&registers, patience: patience)
        if spinning { pairing.spun(missed: handoffMisses) }
        return event
    }

    /// The parked event's FPU state and how many bytes of it may be used: the frame's
    /// XSAVE area (the kernel wrote the guest's state there), or for a patched-path event the
    /// area's, which the thread fills on request (formatted as a signal frame's).
    private func fpState() -> (pointer: UnsafeMutableRawPointer, room: Int)? {
        guard let uc = ucontext else { return nil }
        if fastEvent {
            let fp = area + Int(JOEY_SYSTRAP_XSAVE_AREA)
            if !fastFPSaved {
                joey_systrap_post(ctrl, JOEY_SYSTRAP_XSAVE)
                guard waitForStub() == nil else { return nil }
                fp.storeBytes(of: UInt32(0x4650_5853), toByteOffset: 464, as: UInt32.self)
                fp.storeBytes(of: UInt32(xsaveSize + 4), toByteOffset: 468, as: UInt32.self)
                fp.storeBytes(of: ctrl.pointee.xsave_mask, toByteOffset: 472, as: UInt64.self)
                fp.storeBytes(of: UInt32(xsaveSize), toByteOffset: 480, as: UInt32.self)
                fastFPSaved = true
            }
            return (fp, xsaveSize)
        }
        let fpAddress = uc.load(fromByteOffset: Self.fpstatePointer, as: UInt64.self)
        guard let fp = stackPointer(fpAddress, 512) else { return nil }
        var room = 512
        if fp.load(fromByteOffset: 464, as: UInt32.self) == 0x4650_5853 {
            let xsize = Int(fp.load(fromByteOffset: 480, as: UInt32.self))
            if xsize > 576, stackPointer(fpAddress, xsize) != nil { room = xsize }
        }
        return (fp, room)
    }

    func floatingPointState() -> [UInt8] {
        guard let (fp, size) = fpState() else { return [UInt8](repeating: 0, count: 512) }
        return [UInt8](UnsafeRawBufferPointer(start: fp, count: size))
    }

    /// Takes an XSAVE area or a plain fxsave image and merges it into the parked frame,
    /// keeping the kernel's own bookkeeping (software bytes, header format) so that
    /// rt_sigreturn accepts it.
    func setFloatingPointState(_ state: [UInt8]) {
        guard state.count >= 512, let (fp, room) = fpState() else { return }
        if fastEvent { ctrl.pointee.fp_dirty = 1 }
        state.withUnsafeBytes { src in
            let frameMask = fp.load(fromByteOffset: 28, as: UInt32.self)
            let mask = frameMask == 0 ? 0xffbf : frameMask
            fp.copyMemory(from: src.baseAddress!, byteCount: 464)
            fp.storeBytes(of: src.load(fromByteOffset: 24, as: UInt32.self) & mask, toByteOffset: 24, as: UInt32.self)
            fp.storeBytes(of: frameMask, toByteOffset: 28, as: UInt32.self)
            guard fp.load(fromByteOffset: 464, as: UInt32.self) == 0x4650_5853 else { return }
            let xsize = Int(fp.load(fromByteOffset: 480, as: UInt32.self))
            guard xsize > 576, xsize <= room else { return }
            let features = fp.load(fromByteOffset: 472, as: UInt64.self)
            var bv = fp.load(fromByteOffset: 512, as: UInt64.self) | 3
            if state.count > 576 {
                bv = src.load(fromByteOffset: 512, as: UInt64.self) & features
                let n = min(state.count, xsize) - 576
                (fp + 576).copyMemory(from: src.baseAddress! + 576, byteCount: n)
            }
            fp.storeBytes(of: bv, toByteOffset: 512, as: UInt64.self)
            fp.storeBytes(of: UInt64(0), toByteOffset: 520, as: UInt64.self)
            for o in stride(from: 528, to: 576, by: 8) { fp.storeBytes(of: UInt64(0), toByteOffset: o, as: UInt64.self) }
        }
    }

    func willBlock() {
        blocked = true
        if !released { ctrl.pointee.sentry_blocking = 1 }
        pairing.willSleep()
    }

    var syscallWasPatched: Bool { fastEvent }
    func restrictCPUs(to mask: UInt64) { pairing.restrict(to: mask) }
    func wokenBy(home: Int?) { pairing.wokenBy(home: home) }

    func cpuTimeNanos() -> UInt64 {
        let total = space.threadCPUNanos(tid)
        lastCPUNanos = total
        return total > cpuBase ? total - cpuBase : 0
    }
    func hostPreemptions() -> UInt64 { space.threadPreemptions(tid) }
    func peakResidentKiB() -> UInt64 { space.peakResidentKiB() }
    func residentMemory() -> ResidentMemory { space.residentMemory() }
    func interrupt() { if !released { _ = joey_tgkill(space.pid, tid, SIGURG) } }

    func kill() {
        if released { return }
        // The sentry's wait returns at once; the thread exits when it next enters its handler.
        joey_systrap_post(ctrl, JOEY_SYSTRAP_DEAD)
        _ = joey_tgkill(space.pid, tid, SIGURG)
    }
}
