// config.json -> SandboxSpec: each applied field lands where the kernel reads it.
import Foundation
import JoeyKernel
import JoeyOCI
import JoeySandbox
import Testing

@Suite("OCI config to SandboxSpec")
struct OCISpecTests {
    /// Loads `json` as bundle/config.json of a temporary bundle.
    func load(_ json: String) throws -> OCIConfig {
        let dir = "/var/tmp/joey-spec-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir + "/rootfs", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try json.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        return try OCIConfig.load(bundle: dir)
    }

    @Test("process, root, hostname, limits, mounts and capabilities are mapped")
    func mapping() throws {
        let config = try load("""
        {"ociVersion": "1.0.2",
         "process": {"args": ["sh", "-c", "true"], "env": ["A=1"], "cwd": "/work",
                     "user": {"uid": 1000, "gid": 100, "umask": 63, "additionalGids": [5]},
                     "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}],
                     "noNewPrivileges": true,
                     "capabilities": {"effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN", "CAP_KILL"]}},
         "root": {"path": "rootfs", "readonly": true},
         "hostname": "box",
         "mounts": [{"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["mode=700"]}],
         "linux": {"resources": {"memory": {"limit": 268435456}, "pids": {"limit": 64}}}}
        """)
        let spec = try SandboxSpec(oci: config, id: "c1", preservedFDs: 2)
        #expect(spec.argv == ["sh", "-c", "true"] && spec.env == ["A=1"] && spec.cwd == "/work")
        #expect(spec.uid == 1000 && spec.gid == 100 && spec.groups == [5] && spec.umask == 0o77)
        #expect(spec.rlimits[7]?.0 == 512 && spec.rlimits[7]?.1 == 1024)
        #expect(spec.rootReadOnly && !spec.rootWritable && spec.rootPath.hasSuffix("/rootfs"))
        #expect(spec.hostname == "box")
        #expect(spec.memoryLimit == 256 << 20 && spec.maxTasks == 64 && spec.preservedFDs == 2)
        #expect(spec.mounts.map(\.destination) == ["/data"] && spec.mounts[0].options == ["mode=700"])
        #expect(spec.noNewPrivileges && spec.forwardAllSignalsToInit)
        #expect(spec.capabilities?.0 == 1 << 0 && spec.capabilities?.1 == (1 << 0 | 1 << 5))
    }

    @Test("the hostname defaults to the container id; a writable root writes through")
    func defaults() throws {
        let config = try load(#"{"ociVersion": "1.0.2", "process": {"args": ["true"], "cwd": "/"}, "root": {"path": "rootfs"}}"#)
        let spec = try SandboxSpec(oci: config, id: "my-id")
        #expect(spec.hostname == "my-id" && spec.rootWritable && !spec.rootReadOnly)
        #expect(spec.memoryLimit == nil && spec.capabilities == nil)
    }

    @Test("an unknown rlimit type is an error naming the field")
    func badRlimit() throws {
        let config = try load("""
        {"ociVersion": "1.0.2", "root": {"path": "rootfs"},
         "process": {"args": ["true"], "cwd": "/", "rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]}}
        """)
        #expect { try SandboxSpec(oci: config, id: "x", file: "b/config.json") } throws: { error in
            "\(error)" == "b/config.json: process.rlimits: unknown type RLIMIT_BOGUS"
        }
    }
}
