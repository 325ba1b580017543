// JoeyOCI: the OCI runtime side of Joey — bundles (config.json), container state in the
// state directory, and what `joey create/start/state/kill/delete/list` share. It knows
// nothing of how the sentry runs; the CLI turns an OCIConfig into a SandboxSpec.
import Glibc

/// An error in a bundle: names the file and the field, as an operator needs to fix it.
public struct OCIError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The parts of an OCI runtime config (runtime-spec 1.x, config.json) that Joey uses.
public struct OCIConfig: Sendable {
    public struct User: Sendable {
        public var uid: UInt32 = 0
        public var gid: UInt32 = 0
        public var umask: UInt32?
        public var additionalGids: [UInt32] = []
    }
    public struct Rlimit: Sendable {
        public var type: String
        public var soft: UInt64
        public var hard: UInt64
    }
    public struct Process: Sendable {
        public var terminal = false
        public var user = User()
        public var args: [String] = []
        public var env: [String] = []
        public var cwd = "/"
        public var rlimits: [Rlimit] = []
        public var noNewPrivileges = false
        /// Capability sets by name (bounding, effective, permitted, inheritable, ambient).
        public var capabilities: [String: [String]]?
        public init() {}
    }
    public struct Mount: Sendable {
        public var destination: String
        public var type: String?
        public var source: String?
        public var options: [String] = []
    }
    public struct Hook: Sendable {
        public var path: String
        public var args: [String] = []
        public var env: [String] = []
        public var timeout: Int?
    }

    public var ociVersion = ""
    public var process: Process?
    public var rootPath = ""
    public var rootReadonly = false
    public var hostname: String?
    public var domainname: String?
    public var mounts: [Mount] = []
    public var annotations: [String: String] = [:]
    public var hooks: [String: [Hook]] = [:]
    public var namespaces: [String] = []
    /// Namespaces to join rather than create, by type (linux.namespaces[].path).
    public var namespacePaths: [String: String] = [:]
    public var memoryLimit: Int64?
    public var pidsLimit: Int64?
    /// linux.cgroupsPath: the cgroup the sentry and its stubs live in (runc's cgroupfs form,
    /// "/a/b"; the systemd driver's "slice:prefix:name" is not supported).
    public var cgroupsPath: String?
    /// linux.sysctl: tunables set in the sandbox (its own /proc/sys, never the host's); the
    /// net.* ones in the container's network namespace, where its sockets live.
    public var sysctl: [(String, String)] = []
    /// linux.devices' paths: the device nodes the container is to have.
    public var devicePaths: [String] = []
    /// Whether a linux.sysctl key is a network namespace's (net.*).
    public static func isNetworkSysctl(_ name: String) -> Bool { name.hasPrefix("net.") || name.hasPrefix("net/") }
    /// Fields present in the file that Joey does not apply, by their JSON path.
    public var warnings: [String] = []

    public static let hookKinds = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]

    /// Reads and checks `bundle/config.json`. The root path is made absolute against the bundle.
    public static func load(bundle: String) throws(OCIError) -> OCIConfig {
        let file = joinPath(bundle, "config.json")
        guard let data = HostFile.read(file) else {
            throw OCIError("cannot read \(file): \(String(cString: strerror(errno)))")
        }
        let object: JSONValue
        do { object = try JSONValue.parse(data) } catch {
            throw OCIError("\(file): malformed JSON: \(error)")
        }
        var config = try OCIConfig(json: object, file: file)
        if !config.rootPath.hasPrefix("/") {
            let base = bundle.hasPrefix("/") ? bundle : joinPath(HostFile.currentDirectory(), bundle)
            config.rootPath = normalizedAbsolutePath(joinPath(base, config.rootPath))
        }
        return config
    }

    static func parseProcess(_ p: JSONObject, file: String, warnings: inout [String]) throws(OCIError) -> Process {
        var process = Process()
        process.terminal = try p.bool("terminal") ?? false
        process.args = try p.strings("args", required: true)!
        guard !process.args.isEmpty else { throw OCIError("\(file): process.args: must name the program to run") }
        process.env = try p.strings("env") ?? []
        process.cwd = try p.string("cwd", required: true)!
        guard process.cwd.hasPrefix("/") else { throw OCIError("\(file): process.cwd: must be an absolute path") }
        if let u = try p.object("user") {
            process.user.uid = try u.uint32("uid", required: true)!
            process.user.gid = try u.uint32("gid", required: true)!
            process.user.umask = try u.uint32("umask")
            process.user.additionalGids = try u.array("additionalGids")?.enumerated().map { (i, v) throws(OCIError) in
                guard case .number(let n) = v, let g = UInt32(exactly: n) else {
                    throw OCIError("\(file): process.user.additionalGids[\(i)]: must be a group id")
                }
                return g
            } ?? []
            u.unknownKeys(known: ["uid", "gid", "umask", "additionalGids"], into: &warnings)
        }
        if let limits = try p.array("rlimits") {
            for (i, l) in limits.enumerated() {
                let o = try JSONObject(l, path: "process.rlimits[\(i)]", file: file)
                process.rlimits.append(Rlimit(type: try o.string("type", required: true)!,
                                              soft: try o.uint64("soft", required: true)!,
                                              hard: try o.uint64("hard", required: true)!))
            }
        }
        process.noNewPrivileges = try p.bool("noNewPrivileges") ?? false
        if let caps = try p.object("capabilities") {
            var sets: [String: [String]] = [:]
            for kind in ["bounding", "effective", "permitted", "inheritable", "ambient"] {
                guard let names = try caps.strings(kind) else { continue }
                for name in names where capabilityNumbers[name] == nil {
                    throw OCIError("\(file): process.capabilities.\(kind): unknown capability \(name)")
                }
                sets[kind] = names
            }
            process.capabilities = sets
        }
        // Kept as the guest's view or meaningless inside the sentry: accepted silently.
        p.unknownKeys(known: ["terminal", "consoleSize", "user", "args", "env", "cwd", "rlimits",
                              "noNewPrivileges", "capabilities", "apparmorProfile", "oomScoreAdj",
                              "selinuxLabel"], into: &warnings)
        return process
    }

    /// A process.json as `exec --process` takes it: the same object as config.json's process.
    public static func loadProcess(file: String) throws(OCIError) -> Process {
        guard let data = HostFile.read(file) else {
            throw OCIError("cannot read \(file): \(String(cString: strerror(errno)))")
        }
        let object: JSONValue
        do { object = try JSONValue.parse(data) } catch {
            throw OCIError("\(file): malformed JSON: \(error)")
        }
        var ignored: [String] = []
        return try parseProcess(try JSONObject(object, path: "", file: file), file: file, warnings: &ignored)
    }

    init(json: JSONValue, file: String) throws(OCIError) {
        let top = try JSONObject(json, path: "", file: file)
        ociVersion = try top.string("ociVersion", required: true)!
        if let root = try top.object("root") {
            rootPath = try root.string("path", required: true)!
            rootReadonly = try root.bool("readonly") ?? false
            root.unknownKeys(known: ["path", "readonly"], into: &warnings)
        } else {
            throw OCIError("\(file): root: required field is missing")
        }
        if let p = try top.object("process") {
            process = try Self.parseProcess(p, file: file, warnings: &warnings)
        }
        hostname = try top.string("hostname")
        domainname = try top.string("domainname")
        if let ms = try top.array("mounts") {
            for (i, m) in ms.enumerated() {
                let o = try JSONObject(m, path: "mounts[\(i)]", file: file)
                let dest = try o.string("destination", required: true)!
                guard dest.hasPrefix("/") else { throw OCIError("\(file): mounts[\(i)].destination: must be an absolute path") }
                mounts.append(Mount(destination: dest, type: try o.string("type"), source: try o.string("source"),
                                    options: try o.strings("options") ?? []))
                o.unknownKeys(known: ["destination", "type", "source", "options", "uidMappings", "gidMappings"], into: &warnings)
            }
        }
        if let a = try top.object("annotations") {
            for key in a.dict.keys.sorted() {
                guard case .string(let v) = a.dict[key]! else { throw OCIError("\(file): annotations.\(key): must be a string") }
                annotations[key] = v
            }
        }
        if let h = try top.object("hooks") {
            for kind in Self.hookKinds {
                guard let list = try h.array(kind) else { continue }
                hooks[kind] = try list.enumerated().map { (i, v) throws(OCIError) in
                    let o = try JSONObject(v, path: "hooks.\(kind)[\(i)]", file: file)
                    return Hook(path: try o.string("path", required: true)!, args: try o.strings("args") ?? [],
                                env: try o.strings("env") ?? [], timeout: try o.int("timeout"))
                }
            }
            h.unknownKeys(known: Set(Self.hookKinds), into: &warnings)
        }
        if let linux = try top.object("linux") {
            if let ns = try linux.array("namespaces") {
                for (i, n) in ns.enumerated() {
                    let o = try JSONObject(n, path: "linux.namespaces[\(i)]", file: file)
                    let type = try o.string("type", required: true)!
                    namespaces.append(type)
                    // The sentry joins a network namespace (its host sockets are the guest's);
                    // the guest's other namespaces are the sentry's own.
                    if let path = try o.string("path") {
                        if type == "network" { namespacePaths[type] = path }
                        else { warnings.append("linux.namespaces[\(i)].path (joining a host namespace)") }
                    }
                }
            }
            if let r = try linux.object("resources") {
                if let m = try r.object("memory") {
                    memoryLimit = try m.int64("limit")
                    m.unknownKeys(known: ["limit"], into: &warnings)
                }
                if let p = try r.object("pids") { pidsLimit = try p.int64("limit") }
                // The sentry is the container's only host process: cgroup device rules and
                // CPU/IO weights have nothing to act on; they are noted, not applied.
                r.unknownKeys(known: ["memory", "pids", "devices"], into: &warnings)
            }
            cgroupsPath = try linux.string("cgroupsPath")
            if let devices = try linux.array("devices") {
                for (i, d) in devices.enumerated() {
                    let o = try JSONObject(d, path: "linux.devices[\(i)]", file: file)
                    if let path = try o.string("path") { devicePaths.append(path) }
                }
            }
            if let s = try linux.object("sysctl") {
                for key in s.dict.keys.sorted() { sysctl.append((key, try s.string(key, required: true)!)) }
            }
            // Handled by the sentry's own design (masked/readonly paths are not host paths,
            // the sentry has its own seccomp), or irrelevant to a sentry: accepted silently.
            linux.unknownKeys(known: ["namespaces", "resources", "uidMappings", "gidMappings", "maskedPaths",
                                      "readonlyPaths", "cgroupsPath", "devices", "rootfsPropagation",
                                      "mountLabel", "seccomp", "sysctl"], into: &warnings)
        }
        top.unknownKeys(known: ["ociVersion", "process", "root", "hostname", "domainname", "mounts",
                                "annotations", "hooks", "linux"], into: &warnings)
    }
}

/// A JSON object with the path it was found at, for error messages that name the field.
struct JSONObject {
    let dict: [String: JSONValue]
    let path: String
    let file: String

    init(_ value: JSONValue, path: String, file: String) throws(OCIError) {
        guard case .object(let d) = value else {
            throw OCIError("\(file): \(path.isEmpty ? "the top level" : path): must be a JSON object")
        }
        dict = d
        self.path = path
        self.file = file
    }

    private func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    private func missing(_ key: String) -> OCIError { OCIError("\(file): \(name(key)): required field is missing") }
    private func wrong(_ key: String, _ what: String) -> OCIError { OCIError("\(file): \(name(key)): must be \(what)") }

    private func value(_ key: String, required: Bool) throws(OCIError) -> JSONValue? {
        guard let v = dict[key] else {
            if required { throw missing(key) }
            return nil
        }
        if case .null = v {
            if required { throw missing(key) }
            return nil
        }
        return v
    }

    func object(_ key: String) throws(OCIError) -> JSONObject? {
        guard let v = try value(key, required: false) else { return nil }
        return try JSONObject(v, path: name(key), file: file)
    }

    func array(_ key: String, required: Bool = false) throws(OCIError) -> [JSONValue]? {
        guard let v = try value(key, required: required) else { return nil }
        guard case .array(let a) = v else { throw wrong(key, "an array") }
        return a
    }

    func string(_ key: String, required: Bool = false) throws(OCIError) -> String? {
        guard let v = try value(key, required: required) else { return nil }
        guard case .string(let s) = v else { throw wrong(key, "a string") }
        return s
    }

    func strings(_ key: String, required: Bool = false) throws(OCIError) -> [String]? {
        guard let a = try array(key, required: required) else { return nil }
        var out: [String] = []
        for v in a {
            guard case .string(let s) = v else { throw wrong(key, "an array of strings") }
            out.append(s)
        }
        return out
    }

    func bool(_ key: String) throws(OCIError) -> Bool? {
        guard let v = try value(key, required: false) else { return nil }
        guard case .bool(let b) = v else { throw wrong(key, "true or false") }
        return b
    }

    private func number(_ key: String, required: Bool) throws(OCIError) -> Double? {
        guard let v = try value(key, required: required) else { return nil }
        guard case .number(let n) = v else { throw wrong(key, "a number") }
        return n
    }

    func int(_ key: String, required: Bool = false) throws(OCIError) -> Int? {
        guard let n = try number(key, required: required) else { return nil }
        guard let i = Int(exactly: n) else { throw wrong(key, "an integer") }
        return i
    }

    func int64(_ key: String, required: Bool = false) throws(OCIError) -> Int64? {
        guard let n = try number(key, required: required) else { return nil }
        guard let i = Int64(exactly: n) else { throw wrong(key, "an integer") }
        return i
    }

    func uint32(_ key: String, required: Bool = false) throws(OCIError) -> UInt32? {
        guard let n = try number(key, required: required) else { return nil }
        guard let u = UInt32(exactly: n) else { throw wrong(key, "an integer from 0 to 4294967295") }
        return u
    }

    /// Non-negative integers; values past 2^63 (RLIM_INFINITY is written as 18446744073709551615)
    /// lose precision as JSON numbers, so anything that large means "unlimited".
    func uint64(_ key: String, required: Bool = false) throws(OCIError) -> UInt64? {
        guard let n = try number(key, required: required) else { return nil }
        guard n >= 0, n.rounded() == n else { throw wrong(key, "a non-negative integer") }
        return n >= 9.2e18 ? UInt64.max : UInt64(n)
    }

    /// Keys present here that Joey does not know, as warnings naming their full path.
    func unknownKeys(known: Set<String>, into warnings: inout [String]) {
        for key in dict.keys.sorted() where !known.contains(key) { warnings.append(name(key)) }
    }
}

/// Linux capability numbers by name (capability.h).
public let capabilityNumbers: [String: Int] = {
    let names = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
                 "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
                 "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
                 "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
                 "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
                 "CHECKPOINT_RESTORE"]
    var m: [String: Int] = [:]
    for (i, n) in names.enumerated() { m["CAP_" + n] = i }
    return m
}()

extension OCIConfig.Process {
    /// A capability set as a bit mask (0 when the set is absent).
    public func capabilityMask(_ kind: String) -> UInt64 {
        // A name this Linux does not know grants nothing.
        (capabilities?[kind] ?? []).reduce(0) { $0 | (capabilityNumbers[$1].map { 1 << UInt64($0) } ?? 0) }
    }
}
