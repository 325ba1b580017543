// The KVM platform: guest code runs at CPL3 in a virtual machine the sentry drives, with no
// guest kernel. One VM per sandbox. Guest physical memory is the MemoryFile (at guest-physical
// 0, in memslots 0, 2, 3... added as it is used) and the supervisor area (memslot 1): the supervisor image, the IDT,
// each vCPU's GDT, TSS and ring-0 stack, and the page tables the sentry builds for each
// address space (KVMAddressSpace). Every system call and every fault leaves the VM (an `out`
// from the supervisor's exception entries, CJoey/kvm.c) and comes back with an iretq; the
// sentry never runs inside the guest (gVisor's KVM platform runs its sentry in guest ring 0
// instead, and takes no exit per system call).
//
// This machine's /dev/kvm is kvm_pvm (software nested virtualization). What it does, found
// by trying (the design rests on it, and KVMPlatform.init checks nothing else):
// - long mode is entered by KVM_SET_SREGS with a ring-0 64-bit code segment;
// - exceptions from ring 3 enter ring 0 through the IDT and TSS as on hardware;
// - `syscall` from ring 3 jumps to MSR_LSTAR without leaving ring 3 (hence the ud2
//   trampoline there, on a user-executable page);
// - iretq from ring 0 returns to ring 3; page-table edits the sentry makes from the host are
//   seen once the guest reloads cr3.
// A round trip (system call to the sentry and back) costs about 60 µs here.
//
// - the host taking a right away from a present PTE is not seen by the hypervisor's shadow
//   (mprotect read-only, then a write goes through), whatever the guest then does with cr3;
//   the guest writing the entry again is. Hence KVMAddressSpace's edits, which the
//   supervisor writes again before any vCPU runs guest code.
//
// State: `make test` runs the Swift tests and the compat suite on it (2144/2152, systrap
// 2148; README says which cases differ and why). Developed and tested on kvm_pvm only: the
// IDT's IST makes the trampoline safe where `syscall` enters ring 0 (hardware), untried.
// Not done: more guest threads than KVM's 1024 vCPUs (contexts would have to share vCPUs).
// The legacy vsyscall page is not mapped (upper half): the kernel emulates a call there
// from the fault (GuestThread.emulateVsyscall).
//
// Locks: the platform's lock guards the vCPU pool and the page-table page allocator; an
// address space's edits happen under the kernel lock (as on the other platforms).
import CJoey
import Glibc
import JoeyABI
import Synchronization

public final class KVMPlatform: Platform, @unchecked Sendable {
    public var name: String { "kvm" }
    /// The top gigabyte of the lower half holds the supervisor area.
    public var addressSpaceEnd: UInt64 { KVMLayout.supervisorBase }
    public var maxThreadsPerAddressSpace: Int { 1024 }
    public var hasGlobalMemoryBarrier: Bool { true }
    /// Guest ring 3 under kvm_pvm does not read the vCPU's GDT for `lsl` (tried: entry 15
    /// written with the host CPU, and the GDT loaded again, still gave 0 on either CPU), so
    /// getcpu goes to the sentry, which answers the host CPU.
    public var guestReadsItsCPU: Bool { false }
    public var reportsExitOverhead: Bool { true }
    /// The shortest round trip through KVM_RUN seen (a guest that made a system call at
    /// once): what each stay in the guest costs beyond the guest's own code.
    private let shortestRoundTrip = Atomic<UInt64>(.max)

    /// Notes a stay's length; returns the shortest yet.
    func noteRoundTrip(_ nanos: UInt64) -> UInt64 {
        var current = shortestRoundTrip.load(ordering: .relaxed)
        while nanos < current {
            let (exchanged, now) = shortestRoundTrip.compareExchange(expected: current, desired: nanos, ordering: .relaxed)
            if exchanged { return nanos }
            current = now
        }
        return current
    }

    /// The shortest round trip yet (0 before the first).
    var roundTrip: UInt64 { let r = shortestRoundTrip.load(ordering: .relaxed); return r == .max ? 0 : r }
    /// A barrier on every vCPU: each one in the guest is kicked out (a VM exit serializes)
    /// and waited for; one not in the guest passes a barrier on its way back in.
    public func globalMemoryBarrier() {
        for v in lock.withLock({ $0.allVCPUs }) { v.leaveGuest() }
    }

    let kvm: Int32
    let vm: Int32
    let runSize: Int
    /// The host's mapping of memslot 1.
    let supervisor: UnsafeMutableRawPointer
    private let lock = Mutex<State>(State())
    /// The MemoryFile (memoryFileSize) is guest memory from offset 0 up to here, in memslots
    /// added as mappings reach further: 0 for the first 256 MiB, then 2, 3, ... each as
    /// large as all before it. One slot for the whole reservation cost KVM seconds and
    /// gigabytes of per-page metadata (kvm_pvm shadows every page) before the guest ran.
    private let guestMemoryEnd = Atomic<UInt64>(0)
    private let slotLock = Mutex<(memoryFile: MemoryFile?, slots: UInt32)>((nil, 0))
    static let firstSlotSize: UInt64 = 256 << 20
    /// 1 TiB, as before the other platforms grew theirs: KVM keeps per-page metadata for every
    /// memslot page (an rmap entry each; kvm_pvm shadows them too), so guest memory reaching
    /// offset N costs the host kernel memory in proportion to N, and one slot may hold at most
    /// 2^31 - 1 pages (KVM_MEM_MAX_NR_PAGES: a slot of 8 TiB is refused).
    public var memoryFileSize: UInt64 { 1 << 40 }
    /// The page directory of the supervisor gigabyte, shared by every address space.
    private var directory: UInt64 = 0
    func supervisorDirectory() throws(PlatformError) -> UInt64 { directory }

    struct State {
        /// Page-table pages handed back (indexes into the supervisor area).
        var freeTablePages: [UInt64] = []
        var nextTablePage = KVMLayout.firstTablePage
        /// vCPUs whose context ended, ready for the next one.
        var idleVCPUs: [KVMVCPU] = []
        var allVCPUs: [KVMVCPU] = []
        var vcpuCount: UInt32 = 0
    }

    public init() throws(PlatformError) {
        let fd = joey_kvm_open()
        guard fd >= 0 else {
            throw PlatformError("the kvm platform is unavailable: /dev/kvm cannot be opened (errno \(-fd)); use --platform=systrap or --platform=ptrace")
        }
        kvm = Int32(fd)
        guard joey_kvm_api_version(kvm) == 12 else {
            close(kvm)
            throw PlatformError("the kvm platform is unavailable: /dev/kvm speaks an unknown API version; use --platform=systrap or --platform=ptrace")
        }
        let v = joey_kvm_create_vm(kvm)
        guard v >= 0 else {
            close(kvm)
            throw PlatformError("the kvm platform is unavailable: KVM_CREATE_VM failed (errno \(-v)); use --platform=systrap or --platform=ptrace")
        }
        vm = Int32(v)
        runSize = Int(joey_kvm_vcpu_mmap_size(kvm))
        guard let p = mmap(nil, Int(KVMLayout.supervisorSize), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              p != MAP_FAILED else {
            throw PlatformError("cannot reserve the KVM supervisor area: errno \(errno)")
        }
        supervisor = p
        var imageSize: UInt64 = 0
        let image = joey_kvm_image(&imageSize)!
        memcpy(p, image, Int(imageSize))
        // The offsets CJoey.h names: iretq (48 cf), the flush's push rax (50), the apply
        // loop's test rcx (48 85 c9).
        let bytes = p.assumingMemoryBound(to: UInt8.self)
        func at(_ o: UInt64, _ b: [UInt8]) -> Bool { b.indices.allSatisfy { bytes[Int(o) + $0] == b[$0] } }
        precondition(at(JOEY_KVM_IRET, [0x48, 0xcf]) && at(JOEY_KVM_FLUSH, [0x50]) && at(JOEY_KVM_APPLY, [0x48, 0x85, 0xc9]),
                     "the KVM supervisor image's layout")
        writeIDT()
        directory = try Self.buildDirectory(supervisor: p, lock: lock)
        let r = joey_kvm_set_memory(vm, 1, KVMLayout.supervisorPhysical, KVMLayout.supervisorSize, p)
        guard r == 0 else {
            throw PlatformError("the kvm platform is unavailable: the supervisor memslot was refused (errno \(-r)); use --platform=systrap or --platform=ptrace")
        }
        _ = joey_kvm_install_kick_handler(KVMVCPU.kickSignal)
    }

    /// The IDT: 32 interrupt gates into the supervisor's exception entries, ring 0 only (a
    /// guest `int N` is a #GP, as under Linux, except int3, which Linux allows: its gate
    /// takes ring 3 too). Each gate switches to IST 1, the vCPU's ring-0 stack, even from
    /// ring 0: where `syscall` enters ring 0 (hardware KVM does; this machine's kvm_pvm
    /// stays in ring 3) the trampoline's #UD is taken at CPL 0 with the guest's rsp, which
    /// must never be where ring 0 writes its frame.
    private func writeIDT() {
        let idt = supervisor + Int(KVMLayout.idtPage * 4096)
        for v in 0..<32 {
            let handler = KVMLayout.supervisorBase + JOEY_KVM_VECTORS + UInt64(v * 16)
            let dpl: UInt64 = v == 3 || v == 4 ? 3 : 0
            let low = (handler & 0xffff) | UInt64(JOEY_KVM_KERNEL_CS) << 16 | 1 << 32 | (0x8E | dpl << 5) << 40
                | ((handler >> 16) & 0xffff) << 48
            idt.storeBytes(of: low, toByteOffset: v * 16, as: UInt64.self)
            idt.storeBytes(of: handler >> 32, toByteOffset: v * 16 + 8, as: UInt64.self)
        }
    }

    /// The supervisor gigabyte's page directory: the trampoline user-executable, the
    /// exception entries supervisor-executable, the rest (IDT, GDTs, TSSs, stacks, page
    /// tables) supervisor data.
    private static func buildDirectory(supervisor: UnsafeMutableRawPointer, lock: borrowing Mutex<State>) throws(PlatformError) -> UInt64 {
        func take() -> UInt64 {
            lock.withLock { s in s.nextTablePage += 1; return s.nextTablePage - 1 }
        }
        func table(_ i: UInt64) -> UnsafeMutablePointer<UInt64> { (supervisor + Int(i * 4096)).assumingMemoryBound(to: UInt64.self) }
        let (p, w, u, nx) = (KVMAddressSpace.present, KVMAddressSpace.writable, KVMAddressSpace.user, KVMAddressSpace.noExecute)
        let pd = take()
        memset(table(pd), 0, 4096)
        var page: UInt64 = 0
        while page < KVMLayout.mappedPages {
            let pt = take()
            memset(table(pt), 0, 4096)
            table(pd)[Int(page / 512)] = KVMLayout.physical(pt) | p | w | u
            for i in 0..<UInt64(512) where page + i < KVMLayout.mappedPages {
                let n = page + i
                let flags: UInt64 = n == 0 ? p | u : n == 1 ? p : n == KVMLayout.idtPage ? p | nx : n >= 16 ? p | w | nx : 0
                if flags != 0 { table(pt)[Int(i)] = KVMLayout.physical(n) | flags }
            }
            page += 512
        }
        return pd
    }

    public func newAddressSpace(memoryFile: MemoryFile) throws(PlatformError) -> AddressSpace {
        slotLock.withLock { if $0.memoryFile == nil { $0.memoryFile = memoryFile } }
        do { try ensureGuestMemory(to: 1) } catch {
            throw PlatformError("KVM refused the MemoryFile as guest memory: \(error)")
        }
        return try KVMAddressSpace(platform: self)
    }

    /// Makes MemoryFile offsets below `end` guest memory (before a page table names them).
    func ensureGuestMemory(to end: UInt64) throws(LinuxErrno) {
        if guestMemoryEnd.load(ordering: .acquiring) >= end { return }
        try slotLock.withLock { (s: inout (memoryFile: MemoryFile?, slots: UInt32)) throws(LinuxErrno) in
            guard let file = s.memoryFile else { throw .EFAULT }
            var covered = guestMemoryEnd.load(ordering: .relaxed)
            while covered < end && covered < file.size {
                let size = min(covered == 0 ? Self.firstSlotSize : covered, file.size - covered)
                let slot = s.slots == 0 ? 0 : s.slots + 1 // 1 is the supervisor's
                let r = joey_kvm_set_memory(vm, slot, covered, size, file.base + Int(covered))
                guard r == 0 else { throw LinuxErrno(Int32(-r)) }
                s.slots += 1
                covered += size
                guestMemoryEnd.store(covered, ordering: .releasing)
            }
            if covered < end { throw .EFAULT }
        }
    }

    // MARK: supervisor area

    /// The host address of a supervisor page.
    func page(_ index: UInt64) -> UnsafeMutableRawPointer { supervisor + Int(index * 4096) }

    /// A zeroed page-table page: its index in the supervisor area.
    func allocateTablePage() throws(PlatformError) -> UInt64 {
        let index: UInt64? = lock.withLock { s in
            if let i = s.freeTablePages.popLast() { return i }
            guard s.nextTablePage < KVMLayout.supervisorSize / 4096 else { return nil }
            s.nextTablePage += 1
            return s.nextTablePage - 1
        }
        guard let index else { throw PlatformError("the KVM page-table area is full") }
        memset(page(index), 0, 4096)
        return index
    }

    // MARK: page-table edits the guest writes again

    /// Guest addresses of table entries the host changed while they were present, for a vCPU
    /// to write again before guest code runs (KVMAddressSpace says why); batches being
    /// written now; table pages waiting for their entries to be written before reuse. One
    /// list for the VM: the entries are reached through the supervisor mapping, the same in
    /// every address space, so any vCPU may write any of them.
    struct Edits {
        var addresses: [UInt64] = []
        var inFlight = 0
        var retired: [UInt64] = []
    }
    private let edits = Mutex<Edits>(Edits())

    /// Runs a host edit of page tables once no vCPU is writing entries again (a guest's
    /// read-and-write-back racing a host edit would undo it).
    func editing<T>(_ body: (inout Edits) throws(LinuxErrno) -> T) throws(LinuxErrno) -> T {
        while true {
            let r: Result<T, LinuxErrno>? = edits.withLock { e in
                guard e.inFlight == 0 else { return nil }
                do throws(LinuxErrno) { return .success(try body(&e)) } catch { return .failure(error) }
            }
            switch r {
            case .success(let v)?: return v
            case .failure(let err)?: throw err
            case nil: sched_yield()
            }
        }
    }

    /// Up to `max` entries for a vCPU to write again, in flight until editsWritten(); empty
    /// once none are left and none are in flight elsewhere.
    func takeEdits(max: Int) -> [UInt64] {
        while true {
            let r: [UInt64]? = edits.withLock { e in
                if !e.addresses.isEmpty {
                    let batch = Array(e.addresses.suffix(max))
                    e.addresses.removeLast(batch.count)
                    e.inFlight += 1
                    return batch
                }
                return e.inFlight == 0 ? [] : nil
            }
            if let r { return r }
            sched_yield()
        }
    }

    /// A batch is written; when it was the last, the retired table pages are free.
    func editsWritten() {
        let freed: [UInt64] = edits.withLock { e in
            e.inFlight -= 1
            guard e.inFlight == 0 && e.addresses.isEmpty else { return [] }
            defer { e.retired.removeAll() }
            return e.retired
        }
        if !freed.isEmpty { lock.withLock { $0.freeTablePages += freed } }
    }

    var hasEdits: Bool { edits.withLock { !$0.addresses.isEmpty || $0.inFlight > 0 } }

    // MARK: vCPUs

    func takeVCPU() throws(PlatformError) -> KVMVCPU {
        let reuse: KVMVCPU? = lock.withLock { $0.idleVCPUs.popLast() }
        if let reuse { return reuse }
        let id: UInt32? = lock.withLock { s in
            guard s.vcpuCount < UInt32(KVMLayout.maxVCPUs) else { return nil }
            s.vcpuCount += 1
            return s.vcpuCount - 1
        }
        guard let id else { throw PlatformError("the sandbox has as many vCPUs as KVM allows (\(KVMLayout.maxVCPUs))") }
        let v = try KVMVCPU(platform: self, id: id)
        lock.withLock { $0.allVCPUs.append(v) }
        return v
    }

    func returnVCPU(_ v: KVMVCPU) { lock.withLock { $0.idleVCPUs.append(v) } }
}

/// Where things are in guest memory.
enum KVMLayout {
    /// Guest-virtual base of the supervisor area: the top gigabyte of the lower half (this
    /// hypervisor gives a guest the lower half only).
    static let supervisorBase: UInt64 = 0x7fff_c000_0000
    static let supervisorSize: UInt64 = 1 << 30
    /// Guest-physical base of memslot 1: far above the MemoryFile (memoryFileSize at 0).
    static let supervisorPhysical: UInt64 = 1 << 46
    /// Supervisor pages: 0 the trampoline, 1 the exception entries (the image), 2 the IDT,
    /// then three per vCPU (GDT+TSS, ring-0 stack, the addresses of PTEs to write again)
    /// from 16; page tables after them. All of it is mapped (the supervisor writes PTEs).
    static let idtPage: UInt64 = 2
    static let maxVCPUs = 1024
    static func gdtPage(_ vcpu: UInt32) -> UInt64 { 16 + 3 * UInt64(vcpu) }
    static func stackPage(_ vcpu: UInt32) -> UInt64 { 17 + 3 * UInt64(vcpu) }
    static func editPage(_ vcpu: UInt32) -> UInt64 { 18 + 3 * UInt64(vcpu) }
    static let firstTablePage: UInt64 = 16 + 3 * UInt64(maxVCPUs)
    static let mappedPages: UInt64 = supervisorSize / 4096
    static func virtual(_ page: UInt64) -> UInt64 { supervisorBase + page * 4096 }
    static func physical(_ page: UInt64) -> UInt64 { supervisorPhysical + page * 4096 }
}
