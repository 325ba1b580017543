// Moving data between descriptors without the guest's memory: sendfile, copy_file_range,
// splice, tee, and vmsplice (which moves it between a pipe and guest memory). All of it goes
// through a sentry buffer with the same blocking rules as read and write (readCommon and
// writeCommon); nothing is moved by reference, so there is nothing to keep coherent.
import Glibc
import JoeyABI

extension GuestThread {
    static let SPLICE_F_MOVE: UInt64 = 1, SPLICE_F_NONBLOCK: UInt64 = 2, SPLICE_F_MORE: UInt64 = 4, SPLICE_F_GIFT: UInt64 = 8
    static let spliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT

    /// Copies up to `count` bytes from `input` (at `inputAt`, or its file position) to `output`
    /// (likewise) in chunks. After the first chunk it goes on only while the input gives whole
    /// chunks (a pipe or socket input is read once); an error after some bytes ends the copy
    /// with what was done. `chunkLimit` bounds a single read (a pipe's free space). What a pipe
    /// gave and the output did not take goes back into the pipe (giveBack).
    func copyThroughSentry(from input: FileDescription, at inputAt: UInt64?, to output: FileDescription, at outputAt: UInt64?,
                           count: Int, chunkLimit: Int = 1 << 16, nonblockingInput: Bool = false,
                           nonblockingOutput: Bool = false) throws(LinuxErrno) -> Int {
        var buf = [UInt8](repeating: 0, count: max(1, min(count, chunkLimit, 1 << 16)))
        var total = 0
        while total < count {
            let want = min(buf.count, count - total)
            let n: Int
            do {
                n = try buf.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in
                    var dst = IOSequence.sentry(UnsafeMutableRawBufferPointer(rebasing: p[0..<want]))
                    return try readCommon(input, &dst, at: inputAt.map { $0 + UInt64(total) }, nonblocking: nonblockingInput)
                }
            } catch {
                if total > 0 { break }
                throw error
            }
            if n == 0 { break }
            let w: Int
            do {
                w = try buf.withMutableBytes { (p: UnsafeMutableRawBufferPointer) throws(LinuxErrno) -> Int in
                    var src = IOSequence.sentry(UnsafeMutableRawBufferPointer(rebasing: p[0..<n]))
                    return try writeCommon(output, &src, at: outputAt.map { $0 + UInt64(total) }, nonblocking: nonblockingOutput)
                }
            } catch {
                giveBack(buf[0..<n], to: input, readAtOffset: inputAt != nil)
                if total > 0 { break }
                throw error
            }
            if w < n { giveBack(buf[w..<n], to: input, readAtOffset: inputAt != nil) }
            total += w
            if w < n || n < want || input.inode.kind != .regular { break }
        }
        return total
    }

    /// What was read and not written (the output full, or failing) is given back for the next
    /// call, as Linux's splice consumes only what the output took: a pipe gets it back at its
    /// front, a file read at its own position moves back over it. So a splice or sendfile
    /// into a full non-blocking socket is EAGAIN or a short count, and nothing is skipped.
    private func giveBack(_ bytes: ArraySlice<UInt8>, to input: FileDescription, readAtOffset: Bool) {
        guard !bytes.isEmpty else { return }
        if let pipe = input as? PipeDescription {
            pipe.buffer.unconsumed(bytes)
            pipe.buffer.queue.notify(.input)
        } else if input.inode.kind == .regular && !readAtOffset {
            _ = try? input.seek(-Int64(bytes.count), whence: SEEK_CUR)
        }
    }

    /// An optional loff_t argument: nil for NULL, EINVAL when negative.
    private func offsetArgument(_ address: UInt64) throws(LinuxErrno) -> UInt64? {
        guard address != 0 else { return nil }
        let o: Int64 = try mm.readValue(address)
        guard o >= 0 else { throw .EINVAL }
        return UInt64(o)
    }

    /// sendfile: from a file that can be read at an offset (not a pipe or a tty).
    func sysSendfile() throws(LinuxErrno) -> UInt64 {
        let out = try writableFile(fdArg(a0))
        let input = try readableFile(fdArg(a1))
        if out.flags & O_APPEND != 0 || input.inode.kind != .regular { throw .EINVAL }
        let offset = try offsetArgument(a2)
        let total = try copyThroughSentry(from: input, at: offset, to: out, at: nil, count: clampCount(a3))
        if let offset { try mm.writeValue(a2, Int64(offset) &+ Int64(total)) }
        return UInt64(total)
    }

    /// copy_file_range: between two regular files; overlapping ranges of one file are EINVAL.
    func sysCopyFileRange() throws(LinuxErrno) -> UInt64 {
        guard a5 == 0 else { throw .EINVAL }
        let input = try readableFile(fdArg(a0))
        let out = try writableFile(fdArg(a2))
        if out.flags & O_APPEND != 0 { throw .EBADF }
        if input.inode.kind == .directory || out.inode.kind == .directory { throw .EISDIR }
        guard input.inode.kind == .regular, out.inode.kind == .regular else { throw .EINVAL }
        // A negative offset wraps in Linux's range check here: EOVERFLOW, not EINVAL.
        let inAt: UInt64?, outAt: UInt64?
        do throws(LinuxErrno) { inAt = try offsetArgument(a1); outAt = try offsetArgument(a3) } catch {
            throw error == .EINVAL ? .EOVERFLOW : error
        }
        let count = clampCount(a4)
        let from = inAt ?? input.offset, to = outAt ?? out.offset
        if input.inode === out.inode, count > 0 {
            let (fromEnd, o1) = from.addingReportingOverflow(UInt64(count)), (toEnd, o2) = to.addingReportingOverflow(UInt64(count))
            if o1 || o2 || (from < toEnd && to < fromEnd) { throw .EINVAL }
        }
        // Without an offset the description's own position is used and advanced (a host
        // file given as stdio keeps its position on the host, not in `offset`).
        let total = try copyThroughSentry(from: input, at: inAt, to: out, at: outAt, count: count)
        if let inAt { try mm.writeValue(a1, Int64(inAt) &+ Int64(total)) }
        if let outAt { try mm.writeValue(a3, Int64(outAt) &+ Int64(total)) }
        return UInt64(total)
    }

    /// splice: one end is a pipe. Into a pipe, at most what it has room for is read from the
    /// input (waiting for room unless non-blocking), so nothing read is left unwritten.
    func sysSplice() throws(LinuxErrno) -> UInt64 {
        let flags = a5
        guard flags & ~Self.spliceFlags == 0 else { throw .EINVAL }
        let input = try readableFile(fdArg(a0))
        let out = try writableFile(fdArg(a2))
        let inPipe = input as? PipeDescription, outPipe = out as? PipeDescription
        guard inPipe != nil || outPipe != nil else { throw .EINVAL }
        if let i = inPipe, let o = outPipe, i.buffer === o.buffer { throw .EINVAL }
        if inPipe != nil && a1 != 0 { throw .ESPIPE }
        if outPipe != nil && a3 != 0 { throw .ESPIPE }
        if out.flags & O_APPEND != 0 { throw .EINVAL }
        // A directory or an anonymous file (eventfd, timerfd...) has no splice_read
        // (vfs_splice_read: EINVAL), offset or not; an anonymous output no splice_write.
        if input.inode.kind == .directory || input.inode.kind == .anonymous { throw .EINVAL }
        if outPipe == nil && out.inode.kind == .anonymous { throw .EINVAL }
        let inAt = try offsetArgument(a1), outAt = try offsetArgument(a3)
        if inAt != nil && input.inode.kind != .regular { throw .ESPIPE }
        if outAt != nil && out.inode.kind != .regular { throw .ESPIPE }
        let count = clampCount(a4)
        if count == 0 { return 0 }
        let nonblocking = flags & Self.SPLICE_F_NONBLOCK != 0
        var room = Int.max
        if let o = outPipe {
            while true {
                try o.requireReader(self)
                room = o.buffer.room(forWrite: count)
                if room > 0 { break }
                if nonblocking || o.flags & O_NONBLOCK != 0 { throw .EAGAIN }
                try o.waitForEvents(self, EventMask.output)
            }
        }
        let total = try copyThroughSentry(from: input, at: inAt, to: out, at: outAt, count: min(count, room),
                                          chunkLimit: room, nonblockingInput: nonblocking && inPipe != nil,
                                          nonblockingOutput: nonblocking && outPipe != nil)
        if let inAt { try mm.writeValue(a1, Int64(inAt) &+ Int64(total)) }
        if let outAt { try mm.writeValue(a3, Int64(outAt) &+ Int64(total)) }
        return UInt64(total)
    }

    /// tee: copies from one pipe into another without consuming it.
    func sysTee() throws(LinuxErrno) -> UInt64 {
        let flags = a3
        guard flags & ~Self.spliceFlags == 0 else { throw .EINVAL }
        let input = try readableFile(fdArg(a0))
        let out = try writableFile(fdArg(a1))
        guard let i = input as? PipeDescription, let o = out as? PipeDescription, i.isReader, o.isWriter,
              i.buffer !== o.buffer else { throw .EINVAL }
        let count = clampCount(a2)
        if count == 0 { return 0 }
        let nonblocking = flags & Self.SPLICE_F_NONBLOCK != 0
        while true {
            try o.requireReader(self)
            let available = i.buffer.count
            let room = o.buffer.room(forWrite: min(count, available))
            if available > 0 && room > 0 {
                let n = min(count, room, available)
                let start = i.buffer.head
                o.buffer.append(i.buffer.data[start..<(start + n)])
                o.buffer.queue.notify(.input)
                return UInt64(n)
            }
            if available == 0 && i.buffer.writers == 0 { return 0 }
            if nonblocking { throw .EAGAIN }
            // Linux's tee waits for data in the input and room in the output.
            try (available == 0 ? i : o as FileDescription).waitForEvents(self, available == 0 ? EventMask.input.union(.hangUp) : EventMask.output)
        }
    }

    /// vmsplice: guest memory into a pipe's write end (as writev), or a read end's data into
    /// guest memory (as readv).
    func sysVmsplice() throws(LinuxErrno) -> UInt64 {
        let flags = a3
        guard flags & ~Self.spliceFlags == 0 else { throw .EINVAL }
        let f = try group.fdTable.get(fdArg(a0))
        guard let p = f as? PipeDescription else { throw .EBADF }
        let segments = Int(Int32(truncatingIfNeeded: a2))
        guard segments >= 0, segments <= 1024 else { throw .EINVAL }
        var io = IOSequence.guest(mm, ranges: try mm.ioRanges(a1, count: segments))
        let nonblocking = flags & Self.SPLICE_F_NONBLOCK != 0
        // A description open for writing is written to (an O_RDWR FIFO too), as Linux's vmsplice_type.
        if !p.isWriter {
            guard f.readable else { throw .EBADF }
            return UInt64(try readCommon(f, &io, at: nil, nonblocking: nonblocking))
        }
        guard f.writable else { throw .EBADF }
        // vmsplice_to_pipe: waits only while the pipe is full (unless SPLICE_F_NONBLOCK; the
        // pipe's own O_NONBLOCK does not count), then moves what fits and returns, where a
        // blocking write would wait to move it all.
        if io.count == 0 { return 0 }
        while true {
            do {
                return UInt64(try f.write(self, &io))
            } catch let e where e == .EAGAIN && !nonblocking {
                try f.waitForEvents(self, EventMask.output)
            }
        }
    }
}
