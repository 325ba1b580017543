// Whole-file reads and writes, directory listings and removals on the host, for the state
// directory and the bundle: what FoundationEssentials' FileManager did here, which the binary
// no longer links (its type metadata and relocations were part of every start).
import Glibc

public enum HostFile {
    /// The file's bytes; nil when it cannot be opened or read (errno says why).
    public static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 { out += buf[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            return n == 0 ? out : nil
        }
    }

    /// The file's text (nil as for read, or when it is not UTF-8).
    public static func text(_ path: String) -> String? {
        read(path).flatMap { String(validating: $0, as: UTF8.self) }
    }

    /// Creates or truncates `path` (mode 0666 less the umask) and writes `bytes` to it.
    public static func write(_ path: String, _ bytes: [UInt8]) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
        guard fd >= 0 else { return false }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let e = errno
                close(fd)
                errno = e
                return false
            }
            done += n
        }
        return close(fd) == 0
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// The names in a directory, without . and ..; nil when it cannot be listed.
    public static func entries(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes `path` and, for a directory, everything under it (symlinks are not followed).
    public static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            for name in entries(path) ?? [] { removeTree(joinPath(path, name)) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// The working directory ("/" when it cannot be named).
    public static func currentDirectory() -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buf, buf.count) != nil else { return "/" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
