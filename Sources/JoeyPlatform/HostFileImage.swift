// HostFileImage: the pages of a host file that guest memory maps directly, with no copy in
// the MemoryFile: a program's or library's private file mappings, shared copy-on-write by
// every process of the sandbox (the host's page cache holds them once for every sandbox).
// A stub maps it from `fd`, handed over for each mapping (StubSpace); the sentry reads it
// through `base`, its own view. Both are MAP_SHARED over an fd opened read-only, so no
// mapping of it can ever be made writable (mprotect says EACCES): a guest store cannot reach
// the host file, and the kernel's copy-on-write (MemoryManager.breakCopyOnWrite) is the only
// way those pages are written. A host file that shrinks leaves pages past its end that
// fault: SIGBUS for the guest, a short safe copy for the sentry (never a sentry crash).
import Glibc

public final class HostFileImage: @unchecked Sendable {
    /// Read-only, owned.
    public let fd: Int32
    /// The image's size in bytes (page-rounded); it starts at the file's offset 0.
    public let length: UInt64
    /// The sentry's read-only view of the image.
    public let base: UnsafeMutableRawPointer

    /// An image of the first `length` bytes (page-rounded) of the file open read-only as
    /// `fd`, which it takes over (closed on failure too); nil when the view cannot be mapped.
    public init?(fd: Int32, length: UInt64) {
        let rounded = MemoryFile.roundUp(length)
        guard rounded > 0, rounded <= UInt64(Int.max),
              let view = mmap(nil, Int(rounded), PROT_READ, MAP_SHARED, fd, 0), view != MAP_FAILED else {
            close(fd)
            return nil
        }
        self.fd = fd
        self.length = rounded
        self.base = view
    }

    deinit {
        munmap(base, Int(length))
        close(fd)
    }

    /// Bytes of [offset, offset + length) taken as resident (mincore, /proc/PID/smaps): all
    /// of the image's, as the host's page cache holds what programs use. (Asking the host
    /// with mincore would put one more call on the sentry's allow-list.)
    public func residentBytes(_ offset: UInt64, length: UInt64) -> UInt64 {
        offset < self.length ? min(length, self.length - offset) : 0
    }
}
