// A guest address space on the KVM platform: 4-level page tables in the supervisor area,
// written by the sentry from the host. Guest-physical addresses are MemoryFile offsets, so
// a mapping's PTEs point straight at the file's pages. This hypervisor shadows the tables
// and does not see the host change an entry that was present (a right taken away goes
// unnoticed: found by probing), so each such entry is written again by the guest itself
// (the supervisor's apply loop, CJoey/kvm.c) before any vCPU of the space runs guest code:
// a guest write the shadow MMU tracks. The supervisor gigabyte (PML4 entry
// 255, PDPT entry 511) is one shared page directory, not user-accessible apart from the
// syscall trampoline. After an edit that changed a present entry, vCPUs of the space reload
// cr3 before they run guest code again; one running meanwhile is kicked out of the guest
// first, and the edit returns only once it is out (so an unmapped page is unreachable when
// munmap returns).
import CJoey
import Glibc
import JoeyABI
import Synchronization

final class KVMAddressSpace: AddressSpace {
    unowned let platform: KVMPlatform
    /// Guest threads run on the sentry's own threads (vCPUs).
    var hostPid: Int32 { getpid() }
    /// The PML4's supervisor-area page index.
    let root: UInt64
    /// Bumped by every edit; a vCPU that last ran at an older one reloads cr3 first.
    let generation = Atomic<UInt64>(0)
    /// The vCPUs of this space's contexts.
    private let vcpus = Mutex<[ObjectIdentifier: KVMVCPU]>([:])

    /// The guest address of a table entry.
    private func guestAddress(_ e: UnsafeMutablePointer<UInt64>) -> UInt64 {
        KVMLayout.supervisorBase + UInt64(UInt(bitPattern: e) - UInt(bitPattern: platform.supervisor))
    }

    /// Present leaf pages now and at most (the resident set /proc and getrusage report; under
    /// the edit lock).
    private var residentPages = 0, peakPages = 0

    /// Stores `value` in entry `e`, noting it for the guest when it was present. `leaf`: a
    /// PTE (counted as resident while present).
    private func store(_ e: UnsafeMutablePointer<UInt64>, _ value: UInt64, _ edits: inout KVMPlatform.Edits, leaf: Bool = true) {
        let old = e.pointee
        guard old != value else { return }
        e.pointee = value
        if old & Self.present != 0 { edits.addresses.append(guestAddress(e)) }
        if leaf { countResident(old, value) }
    }

    private func countResident(_ old: UInt64, _ new: UInt64) {
        let was = old & Self.present != 0, now = new & Self.present != 0
        if now && !was { residentPages += 1; peakPages = max(peakPages, residentPages) }
        if was && !now { residentPages -= 1 }
    }

    /// Resident and peak, in KiB.
    var residentKiB: (current: UInt64, peak: UInt64) {
        (try? editing { (_: inout KVMPlatform.Edits) throws(LinuxErrno) in (UInt64(residentPages) * 4, UInt64(peakPages) * 4) }) ?? (0, 0)
    }

    private func editing<T>(_ body: (inout KVMPlatform.Edits) throws(LinuxErrno) -> T) throws(LinuxErrno) -> T {
        try platform.editing(body)
    }

    /// An edit of this space's tables; when it changed an entry that was present, the vCPUs
    /// that may use the old one are told (changed). An entry made present needs nothing: a
    /// vCPU that still sees it absent faults, and fill finds it present and lets it retry.
    private func edit(_ body: (inout KVMPlatform.Edits) throws(LinuxErrno) -> Void) throws(LinuxErrno) {
        let touched = try editing { (e: inout KVMPlatform.Edits) throws(LinuxErrno) -> Bool in
            let before = e.addresses.count
            try body(&e)
            return e.addresses.count != before
        }
        if touched { changed() }
    }

    static let present: UInt64 = 1, writable: UInt64 = 2, user: UInt64 = 4
    static let noExecute: UInt64 = 1 << 63
    /// Software bit (ignored by the CPU): a page of a mapping, present or not (PROT_NONE).
    static let mapped: UInt64 = 1 << 9
    static let addressMask: UInt64 = 0x000f_ffff_ffff_f000

    init(platform: KVMPlatform) throws(PlatformError) {
        self.platform = platform
        root = try platform.allocateTablePage()
        // The user half's last gigabytes and the supervisor area share PML4 entry 255.
        let pdpt = try platform.allocateTablePage()
        table(root)[255] = KVMLayout.physical(pdpt) | Self.present | Self.writable | Self.user
        table(pdpt)[511] = KVMLayout.physical(try platform.supervisorDirectory()) | Self.present | Self.writable | Self.user
    }

    deinit {
        try? editing { (touched: inout KVMPlatform.Edits) throws(LinuxErrno) in
            freeUserTree(&touched)
            // PML4 entry 255's PDPT (its entry 511, the shared directory, stays), then the PML4.
            let pdpt = pageOf(table(root)[255])
            retire(pdpt, &touched)
            retire(root, &touched)
        }
    }

    var cr3: UInt64 { KVMLayout.physical(root) }

    private func table(_ page: UInt64) -> UnsafeMutablePointer<UInt64> {
        platform.page(page).assumingMemoryBound(to: UInt64.self)
    }

    private func pageOf(_ entry: UInt64) -> UInt64 { ((entry & Self.addressMask) - KVMLayout.supervisorPhysical) / 4096 }

    /// The PTE for `address`, making the tables on the way when `create`.
    private func entry(_ address: UInt64, create: Bool) throws(LinuxErrno) -> UnsafeMutablePointer<UInt64>? {
        var t = root
        for level in stride(from: 3, through: 1, by: -1) {
            let i = Int((address >> (12 + 9 * UInt64(level))) & 511)
            let e = table(t)[i]
            if e & Self.present == 0 {
                guard create else { return nil }
                guard let page = try? platform.allocateTablePage() else { throw .ENOMEM }
                table(t)[i] = KVMLayout.physical(page) | Self.present | Self.writable | Self.user
                t = page
            } else {
                t = pageOf(e)
            }
        }
        return table(t) + Int((address >> 12) & 511)
    }

    private static func flags(_ p: MemoryProtection) -> UInt64 {
        guard !p.isEmpty else { return mapped }
        return mapped | present | user | (p.contains(.write) ? writable : 0) | (p.contains(.exec) ? 0 : noExecute)
    }

    /// A mapping whose PTEs are written when the guest first touches it (fill), a chunk at a
    /// time: a large mapping (a 100 GiB reservation, a library) costs nothing until used.
    /// Guarded, like the tables, by the platform's edit lock.
    private struct LazyRange {
        var start: UInt64, end: UInt64, fileOffset: UInt64, flags: UInt64
    }
    private var lazy: [LazyRange] = []
    /// Mappings up to this size are written at once.
    private static let eagerLimit: UInt64 = 1 << 20
    /// What a first touch writes: the aligned 64 KiB around it, within its mapping.
    private static let fillChunk: UInt64 = 64 << 10

    /// Removes [start, end) from the lazy ranges (splitting those it cuts); `update` gives
    /// the overlapping parts new flags instead.
    private func cutLazy(_ start: UInt64, _ end: UInt64, update: UInt64? = nil) {
        var out: [LazyRange] = []
        for r in lazy {
            guard r.start < end && start < r.end else { out.append(r); continue }
            if r.start < start { out.append(LazyRange(start: r.start, end: start, fileOffset: r.fileOffset, flags: r.flags)) }
            if let update {
                let a = max(start, r.start), b = min(end, r.end)
                out.append(LazyRange(start: a, end: b, fileOffset: r.fileOffset + (a - r.start), flags: update))
            }
            if end < r.end { out.append(LazyRange(start: end, end: r.end, fileOffset: r.fileOffset + (end - r.start), flags: r.flags)) }
        }
        lazy = out
    }

    func map(_ address: UInt64, length: UInt64, fileOffset: UInt64, protection: MemoryProtection) throws(LinuxErrno) {
        try platform.ensureGuestMemory(to: fileOffset + length)
        let f = Self.flags(protection)
        try edit { (touched: inout KVMPlatform.Edits) throws(LinuxErrno) in
            cutLazy(address, address + length)
            guard length <= Self.eagerLimit else {
                forEachEntry(address, length) { store($0, 0, &touched) }
                let r = LazyRange(start: address, end: address + length, fileOffset: fileOffset, flags: f)
                lazy.insert(r, at: lazy.firstIndex { $0.start > address } ?? lazy.count)
                return
            }
            var off: UInt64 = 0
            while off < length {
                guard let e = try entry(address + off, create: true) else { throw .ENOMEM }
                store(e, (fileOffset + off) | f, &touched)
                off += 4096
            }
        }
    }

    func unmap(_ address: UInt64, length: UInt64) throws(LinuxErrno) {
        try edit { (touched: inout KVMPlatform.Edits) throws(LinuxErrno) in
            cutLazy(address, address + length)
            forEachEntry(address, length) { store($0, 0, &touched) }
        }
    }

    func protect(_ address: UInt64, length: UInt64, protection: MemoryProtection) throws(LinuxErrno) {
        let f = Self.flags(protection)
        try edit { (touched: inout KVMPlatform.Edits) throws(LinuxErrno) in
            cutLazy(address, address + length, update: f)
            forEachEntry(address, length) { e in
                if e.pointee & Self.mapped != 0 { store(e, e.pointee & Self.addressMask | f, &touched) }
            }
        }
    }

    func unmapAll() throws(LinuxErrno) {
        try edit { (touched: inout KVMPlatform.Edits) throws(LinuxErrno) in
            lazy.removeAll()
            freeUserTree(&touched)
        }
    }

    /// A not-present fault at `address`: when it lies in a lazy mapping the guest may use,
    /// its chunk's PTEs are written (no other vCPU needs telling: nothing was present) and
    /// the guest retries. True then, and when another vCPU filled it meanwhile.
    func fill(_ address: UInt64) -> Bool {
        let page = address & ~0xfff
        return (try? editing { (_: inout KVMPlatform.Edits) throws(LinuxErrno) -> Bool in
            if let e = try entry(page, create: false), e.pointee & Self.present != 0 { return true }
            guard let r = lazy.first(where: { $0.start <= page && page < $0.end }), r.flags & Self.present != 0 else { return false }
            let from = max(r.start, page & ~(Self.fillChunk - 1)), to = min(r.end, (page & ~(Self.fillChunk - 1)) + Self.fillChunk)
            var a = from
            while a < to {
                guard let e = try entry(a, create: true) else { throw .ENOMEM }
                if e.pointee == 0 {
                    e.pointee = (r.fileOffset + (a - r.start)) | r.flags
                    countResident(0, e.pointee)
                }
                a += 4096
            }
            return true
        }) ?? false
    }

    func newContext() throws(PlatformError) -> PlatformContext {
        let v = try platform.takeVCPU()
        try v.attach(to: self)
        vcpus.withLock { $0[ObjectIdentifier(v)] = v }
        return KVMContext(vcpu: v, space: self)
    }

    func detach(_ v: KVMVCPU) { _ = vcpus.withLock { $0.removeValue(forKey: ObjectIdentifier(v)) } }

    /// Whether `address` lies in a mapping (PROT_NONE included): a fault there is an access
    /// error, elsewhere a missing mapping.
    func isMapped(_ address: UInt64) -> Bool {
        (try? editing { (_: inout KVMPlatform.Edits) throws(LinuxErrno) -> Bool in
            if let e = try entry(address & ~0xfff, create: false), e.pointee & Self.mapped != 0 { return true }
            return lazy.contains { $0.start <= address && address < $0.end }
        }) ?? false
    }

    /// The existing PTEs of a range (tables are not made for it).
    private func forEachEntry(_ address: UInt64, _ length: UInt64, _ body: (UnsafeMutablePointer<UInt64>) -> Void) {
        var off: UInt64 = 0
        while off < length {
            if let e = try? entry(address + off, create: false) {
                body(e)
                off += 4096
            } else {
                // No table here: skip to the next page table's range.
                let next = ((address + off) | 0x1f_ffff) + 1
                off = next - address
            }
        }
    }

    /// Frees every user page table (the supervisor entries stay). A table's page goes back
    /// to the pool only once the guest has written its cleared entries (the hypervisor may
    /// still shadow it): retired until then.
    private func freeUserTree(_ edits: inout KVMPlatform.Edits) {
        func free(_ page: UInt64, level: Int, upTo limit: Int) {
            let t = table(page)
            for i in 0..<limit where t[i] & Self.present != 0 {
                let child = pageOf(t[i])
                if level > 1 { free(child, level: level - 1, upTo: 512) }
                retire(child, &edits, leaves: level == 1)
                store(t + i, 0, &edits, leaf: false)
            }
        }
        free(root, level: 3, upTo: 255)
        free(pageOf(table(root)[255]), level: 2, upTo: 511)
    }

    /// Clears a table page (its present entries noted for the guest) and retires it.
    private func retire(_ page: UInt64, _ edits: inout KVMPlatform.Edits, leaves: Bool = false) {
        let t = table(page)
        for i in 0..<512 where t[i] != 0 { store(t + i, 0, &edits, leaf: leaves) }
        edits.retired.append(page)
    }

    /// After an edit: vCPUs reload cr3 before running again; a running one is kicked out first.
    private func changed() {
        generation.add(1, ordering: .sequentiallyConsistent)
        let running = vcpus.withLock { Array($0.values) }
        for v in running { v.leaveGuest() }
    }
}
