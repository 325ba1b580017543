// JoeySandbox: how a sandbox is described from outside. An OCI runtime config (config.json,
// read by JoeyOCI) becomes the kernel's SandboxSpec here, field by field, so the mapping is a
// library with tests rather than logic inside the CLI.
import JoeyKernel
import JoeyOCI

extension SandboxSpec {
    /// The sandbox a container's config describes. `id` is the hostname when the config has
    /// none (as runc); `preservedFDs` is `create --preserve-fds`; `newKeyring` is false for
    /// `create --no-new-keyring`. Errors name the file and field.
    public init(oci config: OCIConfig, id: String, preservedFDs: Int = 0, newKeyring: Bool = true,
                file: String = "config.json") throws(OCIError) {
        guard let process = config.process else { throw OCIError("\(file): process: required field is missing") }
        self.init(argv: process.args, env: process.env)
        rootPath = config.rootPath
        // A read-only root fails writes with EROFS; otherwise writes reach the rootfs.
        rootWritable = !config.rootReadonly
        rootReadOnly = config.rootReadonly
        cwd = process.cwd
        hostname = config.hostname ?? id
        if let d = config.domainname { domainname = d }
        uid = process.user.uid
        gid = process.user.gid
        // Exactly the listed groups, as runc's setgroups (the primary gid is not added).
        groups = process.user.additionalGids
        homeFromPasswd = true
        tmpfsAtTmp = false
        // Loop devices only for a container given /dev/loop-control (docker --privileged, or
        // --device): runc's default device list has none.
        loopDevices = config.devicePaths.contains("/dev/loop-control") ? 8 : 0
        umask = process.user.umask ?? 0o022
        noNewPrivileges = process.noNewPrivileges
        if process.capabilities != nil {
            capabilities = (process.capabilityMask("effective"), process.capabilityMask("permitted"),
                            process.capabilityMask("inheritable"))
            capabilityBounding = process.capabilityMask("bounding")
            capabilityAmbient = process.capabilityMask("ambient")
        }
        if let limit = config.pidsLimit, limit > 0 { maxTasks = Int(min(limit, 1 << 22)) }
        if let limit = config.memoryLimit, limit > 0 { memoryLimit = UInt64(limit) }
        // net.* are the container's network namespace's, set as the sentry enters it.
        sysctls = config.sysctl.filter { !OCIConfig.isNetworkSysctl($0.0) }
        self.preservedFDs = preservedFDs
        // runc's: the container's processes join a session keyring named for it.
        if newKeyring { sessionKeyring = "_ses." + id }
        mounts = config.mounts.map {
            MountSpec(destination: $0.destination, type: $0.type ?? "", source: $0.source ?? "", options: $0.options)
        }
        for l in process.rlimits {
            guard let r = SandboxSpec.rlimitNumbers[l.type] else {
                throw OCIError("\(file): process.rlimits: unknown type \(l.type)")
            }
            rlimits[r] = (l.soft, l.hard)
        }
        // The container's network is the network namespace its sentry lives in (the engine
        // sets it up: podman's netavark, docker's bridge, CNI), reached through host sockets.
        network = .host
        // Signals sent to the container's pid are meant for its init.
        forwardAllSignalsToInit = true
    }

    /// RLIMIT_* names as config.json spells them, and their numbers.
    public static let rlimitNumbers: [String: Int] = [
        "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
        "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
        "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
        "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
    ]
}
