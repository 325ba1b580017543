// A guest address space on the KVM platform: 4-level page tables in the supervisor area,
// written by the sentry from the host. Guest-physical addresses are MemoryFile offsets, so
// a mapping's PTEs point straight at the file's pages. The supervisor gigabyte (PML4 entry
// 255, PDPT entry 511) is one shared page directory, not user-accessible apart from the
// syscall trampoline. After an edit, vCPUs of the space reload cr3 before they run guest
// code again; one running meanwhile is kicked out of the guest first, and the edit returns
// only once it is out (so an unmapped page is unreachable when munmap returns).
import CJoey
import Glibc
import JoeyABI
import Synchronization

final class KVMAddressSpace: AddressSpace {
    unowned let platform: KVMPlatform
    /// The PML4's supervisor-area page index.
    let root: UInt64
    /// Bumped by every edit; a vCPU that last ran at an older one reloads cr3 first.
    let generation = Atomic<UInt64>(0)
    /// The vCPUs of this space's contexts.
    private let vcpus = Mutex<[ObjectIdentifier: KVMVCPU]>([:])

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
        freeUserTree()
        // PML4 entry 255's PDPT (its entry 511 is the shared directory, not freed).
        let pdpt = (table(root)[255] & Self.addressMask - KVMLayout.supervisorPhysical) / 4096
        platform.freeTablePage(pdpt)
        platform.freeTablePage(root)
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

    func map(_ address: UInt64, length: UInt64, fileOffset: UInt64, protection: MemoryProtection) throws(LinuxErrno) {
        let f = Self.flags(protection)
        var off: UInt64 = 0
        while off < length {
            guard let e = try entry(address + off, create: true) else { throw .ENOMEM }
            e.pointee = (fileOffset + off) | f
            off += 4096
        }
        changed()
    }

    func unmap(_ address: UInt64, length: UInt64) throws(LinuxErrno) {
        forEachEntry(address, length) { $0.pointee = 0 }
        changed()
    }

    func protect(_ address: UInt64, length: UInt64, protection: MemoryProtection) throws(LinuxErrno) {
        let f = Self.flags(protection)
        forEachEntry(address, length) { e in
            if e.pointee & Self.mapped != 0 { e.pointee = e.pointee & Self.addressMask | f }
        }
        changed()
    }

    func unmapAll() throws(LinuxErrno) {
        freeUserTree()
        changed()
    }

    func batch(_ body: () throws(LinuxErrno) -> Void) throws(LinuxErrno) { try body() }

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
        guard let e = try? entry(address & ~0xfff, create: false) else { return false }
        return e.pointee & Self.mapped != 0
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

    /// Frees every user page table (the supervisor entries stay).
    private func freeUserTree() {
        func free(_ page: UInt64, level: Int, upTo limit: Int) {
            let t = table(page)
            for i in 0..<limit where t[i] & Self.present != 0 {
                let child = pageOf(t[i])
                if level > 1 { free(child, level: level - 1, upTo: 512) }
                platform.freeTablePage(child)
                t[i] = 0
            }
        }
        free(root, level: 3, upTo: 255)
        free(pageOf(table(root)[255]), level: 2, upTo: 511)
    }

    /// After an edit: vCPUs reload cr3 before running again; a running one is kicked out first.
    private func changed() {
        generation.add(1, ordering: .sequentiallyConsistent)
        let running = vcpus.withLock { Array($0.values) }
        for v in running { v.leaveGuest() }
    }
}
