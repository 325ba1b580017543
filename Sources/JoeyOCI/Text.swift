// Small path and text helpers the runtime commands need; the binary links no Foundation, so
// NSString's and String(format:)'s are not at hand.
import Glibc

/// `name` inside directory `dir` (NSString.appendingPathComponent for a relative name).
public func joinPath(_ dir: String, _ name: String) -> String {
    if dir.isEmpty { return name }
    return dir.hasSuffix("/") ? dir + name : dir + "/" + name
}

/// An absolute path with `.`, `..` and repeated slashes resolved lexically (no symlinks).
public func normalizedAbsolutePath(_ path: String) -> String {
    var parts: [Substring] = []
    for c in path.split(separator: "/", omittingEmptySubsequences: true) {
        if c == "." { continue }
        if c == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
        parts.append(c)
    }
    return "/" + parts.joined(separator: "/")
}

/// `s` padded with spaces to `width` characters, on the left (right-aligned) or the right.
public func padded(_ s: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return left ? fill + s : s + fill
}

/// `s` without leading and trailing spaces and tabs.
public func trimmed(_ s: Substring) -> String {
    String(s.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
}

    /// The time now in RFC 3339 with nanoseconds, UTC (as runc writes `created`).
public func rfc3339Now() -> String {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    var t = tm()
    var sec = ts.tv_sec
    gmtime_r(&sec, &t)
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    let nanos = String(ts.tv_nsec)
    return "\(t.tm_year + 1900)-\(two(t.tm_mon + 1))-\(two(t.tm_mday))T\(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec))."
        + String(repeating: "0", count: 9 - nanos.count) + nanos + "Z"
}
