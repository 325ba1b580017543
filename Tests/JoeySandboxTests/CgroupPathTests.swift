// linux.cgroupsPath read as runc reads it: cgroupfs paths, and the systemd driver's
// slice:prefix:name as the directory systemd gives that unit.
import JoeyOCI
import Testing

@Suite("cgroupsPath forms")
struct CgroupPathTests {
    @Test("cgroupfs paths: absolute or relative to the root; nothing that climbs out or is empty")
    func cgroupfs() {
        #expect(CgroupPath.directory("/a/b") == "/a/b")
        #expect(CgroupPath.directory("a/b/") == "/a/b")
        #expect(CgroupPath.directory("/docker/0123abcd") == "/docker/0123abcd")
        #expect(CgroupPath.directory("/a/../../etc") == nil)
        #expect(CgroupPath.directory("") == nil)
        #expect(CgroupPath.directory("/") == nil)
    }

    @Test("systemd slice:prefix:name: a scope in its slice, whose name spells its ancestors")
    func systemd() {
        #expect(CgroupPath.directory("system.slice:docker:0123abcd") == "/system.slice/docker-0123abcd.scope")
        #expect(CgroupPath.directory("machine.slice:libpod:f00") == "/machine.slice/libpod-f00.scope")
        #expect(CgroupPath.directory("user-1000.slice:cri:x") == "/user.slice/user-1000.slice/cri-x.scope")
        #expect(CgroupPath.directory("a-b-c.slice:p:n") == "/a.slice/a-b.slice/a-b-c.slice/p-n.scope")
        // An empty slice is runc's default, system.slice; the root slice is "-.slice".
        #expect(CgroupPath.directory(":docker:id") == "/system.slice/docker-id.scope")
        #expect(CgroupPath.directory("-.slice:p:n") == "/p-n.scope")
        // A name that is a slice is that slice, not a scope.
        #expect(CgroupPath.directory("system.slice:p:mine.slice") == "/system.slice/mine.slice")
    }

    @Test("systemd forms runc refuses are refused")
    func refused() {
        for bad in ["system.slice:docker", "a:b:c:d", "system.slice:p:", "notaslice:p:n", ".slice:p:n",
                    "a--b.slice:p:n", "-a.slice:p:n", "a/b.slice:p:n", "system.slice:p:a/b"] {
            #expect(CgroupPath.directory(bad) == nil, "\(bad)")
        }
    }
}
