// The sentry's namespaces. `joey do`: new ipc and uts namespaces, and for --network=none a
// new, empty network namespace, so the sentry itself can reach no network; a sentry not run
// by root first makes a user namespace (its own uid and gid mapped to themselves) to hold
// them. Then a new pid namespace: `joey do` forks, the child is the sentry as its pid 1 (with
// its own /proc), and the caller's process stays as a relay of signals and exit status (the
// sentry reports the status through a pipe as soon as its guest is done, and tears down its
// stubs and the namespace after the relay has exited with it). An OCI container's sentry is
// started as pid 1 of a new pid namespace by `joey create`. All of it happens on the main
// thread before any other thread exists (unshare moves only the calling thread), but for
// root's `joey do` network namespace: a thread started before main makes it (CJoey's
// joey_netns_prepare) and is joined before the main thread enters it with setns.
//
// The network namespace of an OCI container's sentry. The guest's inet sockets are host
// sockets the sentry makes (`--network=host` inside the namespace), so the sentry itself must
// live in the container's network namespace: the one config.json names (podman, CNI), or a
// new one it asks for (docker's bridge hook then configures /proc/PID/ns/net, PID being the
// sentry). Without a network namespace in config.json the container shares the host's
// network, as under runc.
import CJoey
import Glibc
import JoeyKernel
import JoeyOCI

enum NetworkNamespace {
    private static let CLONE_NEWNET: Int32 = 0x4000_0000
    private static let CLONE_NEWIPC: Int32 = 0x0800_0000, CLONE_NEWUTS: Int32 = 0x0400_0000, CLONE_NEWUSER: Int32 = 0x1000_0000

    /// An OCI container's sentry: new ipc and uts namespaces (the guest's are the sentry's own).
    static func enterPrivate() -> String? {
        let r = joey_unshare(CLONE_NEWIPC | CLONE_NEWUTS)
        return r == 0 ? nil : "cannot create the sentry's ipc and uts namespaces: \(String(cString: strerror(-r)))"
    }

    /// A namespace made before main (CJoey's joey_netns_prepare) that is not wanted after all.
    static func dropPrepared() {
        let fd = joey_netns_take()
        if fd >= 0 { close(fd) }
    }

    /// `joey do`'s namespaces. Returns an error message naming the step that failed, or nil.
    static func enterForDo(network: NetworkMode) -> String? {
        let uid = getuid(), gid = getgid()
        if uid != 0 {
            let r = joey_unshare(CLONE_NEWUSER)
            guard r == 0 else { return "cannot create a user namespace to hold the sentry's namespaces: \(String(cString: strerror(-r)))" }
            for (file, text) in [("setgroups", "deny"), ("uid_map", "\(uid) \(uid) 1"), ("gid_map", "\(gid) \(gid) 1")] {
                let fd = open("/proc/self/" + file, O_WRONLY | O_CLOEXEC)
                var bytes = Array(text.utf8)
                guard fd >= 0, write(fd, &bytes, bytes.count) == bytes.count else {
                    let e = errno
                    if fd >= 0 { close(fd) }
                    return "cannot write /proc/self/\(file) of the sentry's user namespace: \(String(cString: strerror(e)))"
                }
                close(fd)
            }
        }
        var flags = CLONE_NEWIPC | CLONE_NEWUTS
        let prepared = joey_netns_take()
        if network == .none, prepared >= 0, joey_setns(prepared, CLONE_NEWNET) == 0 {
            close(prepared)
        } else {
            if prepared >= 0 { close(prepared) }
            if network == .none { flags |= CLONE_NEWNET }
        }
        let r = joey_unshare(flags)
        guard r == 0 else { return "cannot create the sentry's \(network == .none ? "network, " : "")ipc and uts namespaces: \(String(cString: strerror(-r)))" }
        // From here on this code runs in the sentry; the caller's process stays behind as
        // its relay (signals in, exit status out) and never returns.
        let relay = joey_pid_namespace_relay()
        guard relay == 0 else { return "cannot create the sentry's pid namespace: \(String(cString: strerror(-relay)))" }
        return mountOwnProc()
    }

    /// The sentry is pid 1 of a pid namespace of its own: the /proc it reads (HostProc, its
    /// stubs' status) must be that namespace's. Call before anything opens /proc.
    static func mountOwnProc() -> String? {
        var step: UnsafePointer<CChar>? = nil
        let r = joey_mount_own_proc(&step)
        guard r == 0 else { return "\(step.map { String(cString: $0) } ?? "?") failed: \(String(cString: strerror(-r)))" }
        return nil
    }

    /// Moves the calling thread (the sentry's main thread, before any other starts) into the
    /// container's network namespace. Returns an error message for the operator, or nil.
    static func enter(_ config: OCIConfig) -> String? {
        let netSysctls = config.sysctl.filter { OCIConfig.isNetworkSysctl($0.0) }
        guard config.namespaces.contains("network") else {
            // As runc: the host's network namespace is not the container's to tune.
            if let (name, _) = netSysctls.first { return "sysctl \(name): not allowed in the host's network namespace (config.json gives the container none of its own)" }
            return nil
        }
        if let path = config.namespacePaths["network"] {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return "cannot open the network namespace \(path): \(String(cString: strerror(errno)))" }
            defer { close(fd) }
            let r = joey_setns(fd, CLONE_NEWNET)
            guard r == 0 else { return "cannot join the network namespace \(path): \(String(cString: strerror(-r)))" }
        } else {
            let r = joey_unshare(CLONE_NEWNET)
            guard r == 0 else { return "cannot create a network namespace for the container: \(String(cString: strerror(-r)))" }
            if let problem = loopbackUp() { return problem }
        }
        // The guest's sockets are host sockets in this namespace: its net.* tunables are the
        // namespace's own, set here as runc sets them (the sandbox's other ones are the
        // sentry's, set by the kernel).
        for (name, value) in netSysctls {
            let path = "/proc/sys/" + (name.contains("/") ? name : name.split(separator: ".").joined(separator: "/"))
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { return "sysctl \(name): cannot open \(path): \(String(cString: strerror(errno)))" }
            defer { close(fd) }
            let n = value.withCString { write(fd, $0, strlen($0)) }
            guard n >= 0 else { return "sysctl \(name)=\(value): \(String(cString: strerror(errno)))" }
        }
        return nil
    }


    /// A new network namespace has lo down; runc's containers find it up.
    private static func loopbackUp() -> String? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | 0o2000000, 0)
        guard fd >= 0 else { return "cannot make a socket to bring up lo: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        // struct ifreq: the name, then ifr_flags.
        var request = [UInt8](repeating: 0, count: 40)
        request[0] = UInt8(ascii: "l"); request[1] = UInt8(ascii: "o")
        let get = request.withUnsafeMutableBytes { joey_ioctl(fd, 0x8913 /* SIOCGIFFLAGS */, $0.baseAddress) }
        guard get == 0 else { return "cannot read lo's flags: \(String(cString: strerror(Int32(-get))))" }
        request[16] |= 0x1 | 0x40 // IFF_UP, IFF_RUNNING
        let set = request.withUnsafeMutableBytes { joey_ioctl(fd, 0x8914 /* SIOCSIFFLAGS */, $0.baseAddress) }
        guard set == 0 else { return "cannot bring up lo: \(String(cString: strerror(Int32(-set))))" }
        return nil
    }
}

/// Pids of a container's sentry namespace as the host sees them (`ps --format json`).
enum HostPidNamespace {
    /// `pids` numbered in the pid namespace of `sentry` (a host pid), in the caller's
    /// numbering: each found among the host's processes in that namespace (/proc/N/status's
    /// NSpid ends with the inner number). A pid not found is left out. The same namespace as
    /// ours (an --unconfined sentry): unchanged.
    static func translate(_ pids: [Int32], namespaceOf sentry: Int32) -> [Int32] {
        guard let target = link("/proc/\(sentry)/ns/pid") else { return [] }
        if target == link("/proc/self/ns/pid") { return pids }
        var inner: [Int32: Int32] = [:]
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let host = Int32(name), link("/proc/\(host)/ns/pid") == target,
                  let status = HostFile.text("/proc/\(host)/status") else { continue }
            for line in status.split(separator: "\n") where line.hasPrefix("NSpid:") {
                if let last = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).last, let n = Int32(last) { inner[n] = host }
            }
        }
        return pids.compactMap { inner[$0] }
    }

    private static func link(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 256)
        let n = readlink(path, &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
