// Names are bytes. A Linux file name may hold any byte but '/' and NUL, and two names are the
// same only when their bytes are: `a\xffb` is a name, and NFC "é" is not NFD "é". Paths and
// names therefore travel through the sentry as ByteString, never as Swift String (which
// would replace invalid UTF-8 and compare by Unicode equivalence). `description` is for
// display only.
import Glibc

struct ByteString: Hashable, Comparable, ExpressibleByStringLiteral, CustomStringConvertible {
    var bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init<S: Sequence>(_ bytes: S) where S.Element == UInt8 { self.bytes = Array(bytes) }
    /// The UTF-8 bytes of a sentry-made name ("self", a pid, a mount point from the spec).
    init(_ string: String) { bytes = Array(string.utf8) }
    init(stringLiteral value: String) { bytes = Array(value.utf8) }

    static let slash = UInt8(ascii: "/")

    var isEmpty: Bool { bytes.isEmpty }
    var count: Int { bytes.count }
    var isAbsolute: Bool { bytes.first == ByteString.slash }
    var hasTrailingSlash: Bool { bytes.last == ByteString.slash }

    /// Display text (invalid UTF-8 shown as U+FFFD).
    var description: String { String(decoding: bytes, as: UTF8.self) }

    static func < (a: ByteString, b: ByteString) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
    static func + (a: ByteString, b: ByteString) -> ByteString { ByteString(a.bytes + b.bytes) }

    /// The bytes at once, not one by one as Array's hashing would (every path walk hashes
    /// each component it looks up).
    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    static func == (a: ByteString, b: ByteString) -> Bool {
        a.bytes.count == b.bytes.count && a.bytes.withUnsafeBytes { x in b.bytes.withUnsafeBytes { y in
            x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0
        } }
    }

    /// The non-empty components between slashes (one array each, and no other allocation).
    var components: [ByteString] {
        var out: [ByteString] = []
        bytes.withUnsafeBufferPointer { p in
            var i = 0
            while i < p.count {
                while i < p.count && p[i] == ByteString.slash { i += 1 }
                let start = i
                while i < p.count && p[i] != ByteString.slash { i += 1 }
                if i > start { out.append(ByteString(Array(UnsafeBufferPointer(rebasing: p[start..<i])))) }
            }
        }
        return out
    }

    /// dir + "/" + name, or name alone when dir is empty (host-relative paths).
    static func join(_ dir: ByteString, _ name: ByteString) -> ByteString {
        dir.isEmpty ? name : ByteString(dir.bytes + [slash] + name.bytes)
    }

    /// (everything before the last slash, the last component); ("", self) without a slash.
    var splitLast: (ByteString, ByteString) {
        guard let i = bytes.lastIndex(of: ByteString.slash) else { return ("", self) }
        return (ByteString(bytes[..<i]), ByteString(bytes[(i + 1)...]))
    }

    /// Calls `body` with a NUL-terminated copy, for host calls.
    func withCString<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        try (bytes + [0]).withUnsafeBufferPointer { p in
            try p.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }
}
