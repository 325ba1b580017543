// Net/ pieces without a platform: receive queues, loopback addresses, and the fd table's
// lowest-free hint that socket-heavy programs lean on.
import Glibc
import JoeyABI
import Testing
@testable import JoeyKernel

@Suite("Net")
struct NetTests {
    @Test("a stream receive queue merges plain writes, keeps a message with descriptors apart, and counts bytes")
    func receiveQueue() {
        var q = ReceiveQueue(capacity: 100)
        q.appendStream([1, 2, 3], credentials: nil)
        q.appendStream([4, 5], credentials: nil)
        #expect(q.count == 1 && q.bytes == 5 && q.space == 95)
        let fs = FileSystemID(dev: 1, name: "test")
        let f = FileDescription(inode: AnonymousInode(name: "x", fs: fs), flags: O_RDWR)
        f.incRef()
        q.append(SocketMessage(data: [6], rights: [f]))
        q.appendStream([7], credentials: nil)
        #expect(q.count == 3 && q.bytes == 7)
        q.consume(5)
        #expect(q.count == 2 && q.first?.rights.count == 1)
        q.discardAll()
        #expect(q.isEmpty && q.bytes == 0 && f.references == 0)
    }

    @Test("loopback addresses: v4-mapped forms, any, and what a connect to any reaches")
    func inetAddresses() {
        let lo = InetAddress.v4([127, 0, 0, 1], port: 80)
        #expect(lo.isV4 && lo.isLoopback && !lo.isAny)
        #expect(InetAddress.v4([127, 9, 9, 9], port: 1).isLoopback) // all of 127/8 is local
        let any6 = InetAddress(ip: [UInt8](repeating: 0, count: 16), port: 8080)
        #expect(any6.isAny && !any6.isV4)
        #expect(any6.connectable.isLoopback && any6.connectable.port == 8080)
        #expect(!InetAddress.v4([192, 0, 2, 1], port: 1).isLoopback)
    }

    @Test("an fd table installs at its lowest free slot and reuses a closed low fd")
    func lowestFree() throws {
        let fs = FileSystemID(dev: 1, name: "test")
        let table = FDTable()
        table.limit = 100_000
        let f = FileDescription(inode: AnonymousInode(name: "x", fs: fs), flags: O_RDWR)
        for i in 0..<20_000 { #expect(try table.install(f) == Int32(i)) }
        try table.close(7)
        #expect(try table.install(f) == 7)
        #expect(try table.install(f) == 20_000)
        #expect(try table.install(f, minimum: 30_000) == 30_000)
        #expect(try table.install(f) == 20_001)
        try table.install(f, at: 20_002, closeOnExec: false)
        #expect(try table.install(f) == 20_003)
    }
}
