// Where a container's linux.cgroupsPath puts it in a cgroup hierarchy, read as runc reads it:
// a cgroupfs path ("/a/b", or "a/b" below the root), or the systemd driver's
// "slice:prefix:name" (docker's "system.slice:docker:ID", podman's "machine.slice:libpod:ID"),
// which names the scope unit prefix-name.scope in that slice, and so the directory systemd
// gives it: a slice's name spells its ancestors (a-b.slice lives in a.slice), so
// system.slice:docker:ID is /system.slice/docker-ID.scope.

public enum CgroupPath {
    /// The directory below a hierarchy's root ("/a/b"), or nil for a path Joey does not use:
    /// one that climbs out (".."), an empty one, or a systemd form runc refuses too.
    public static func directory(_ cgroupsPath: String) -> String? {
        let fields = cgroupsPath.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard fields.count > 1 else { return cgroupfs(cgroupsPath) }
        guard fields.count == 3, !fields[2].isEmpty, !fields[2].contains("/"),
              let slice = expand(fields[0].isEmpty ? "system.slice" : fields[0]) else { return nil }
        // A slice of its own when the name says so; otherwise a scope (runc's getUnitName).
        let unit = fields[2].hasSuffix(".slice") ? fields[2] : fields[1] + "-" + fields[2] + ".scope"
        return cgroupfs((slice == "/" ? "" : slice) + "/" + unit)
    }

    /// "/a/b" for a cgroupfs path, nil for one that is empty or climbs out.
    private static func cgroupfs(_ path: String) -> String? {
        let parts = path.split(separator: "/")
        guard !parts.isEmpty, !parts.contains("..") else { return nil }
        return "/" + parts.joined(separator: "/")
    }

    /// The directory of a systemd slice: "-.slice" is the root, "a-b.slice" is
    /// /a.slice/a-b.slice; nil for a name that is no slice's (an empty component, a "/").
    private static func expand(_ slice: String) -> String? {
        let suffix = ".slice"
        guard slice.hasSuffix(suffix), slice.count > suffix.count, !slice.contains("/") else { return nil }
        let name = String(slice.dropLast(suffix.count))
        if name == "-" { return "/" }
        var path = "", prefix = ""
        for component in name.split(separator: "-", omittingEmptySubsequences: false) {
            guard !component.isEmpty else { return nil }
            path += "/" + prefix + component + suffix
            prefix += component + "-"
        }
        return path
    }
}
