// Readiness (poll/select), futex, limits, usage, system information, randomness.
import CJoey
import Glibc
import JoeyABI
import JoeyPlatform

/// What identifies a futex word, as Linux's futex keys do: a word in shared memory by where
/// it lies in the MemoryFile (every process mapping it meets there); a word in private
/// memory by its address space and address (its MemoryFile place moves when copy-on-write
/// is broken, and after a fork parent and child have the same place but not the same word).
struct FutexKey: Hashable {
    let addressSpace: ObjectIdentifier?
    let offset: UInt64
}

final class FutexWaiter {
    var woken = false
    /// A PI waiter: the thread waiting (the lock is handed to it by tid) and where its word is.
    unowned(unsafe) var thread: GuestThread?
    var address: UInt64 = 0
    let bitset: UInt32
    /// The futex word it waits on now (requeue moves it).
    var key: FutexKey
    /// The sleeping thread's.
    let wakeup: Wakeup
    init(bitset: UInt32, key: FutexKey, wakeup: Wakeup) { self.bitset = bitset; self.key = key; self.wakeup = wakeup }
}

extension GuestThread {
    // MARK: poll / select

    /// Waits until `check` reports readiness or the deadline passes, woken by the wait queues
    /// of the `watched` descriptions (registered for the whole call, so no event is missed).
    private func waitReady(_ watched: [(FileDescription, EventMask)], deadline: UInt64?,
                           _ check: () throws(LinuxErrno) -> Int) throws(LinuxErrno) -> Int {
        var registered: [(WaitQueue, Waiter)] = []
        for (f, mask) in watched {
            guard let q = f.eventQueue() else { continue }
            let w = Waiter(mask: mask.union(.alwaysReported), wakeup: wakeup)
            q.add(w)
            registered.append((q, w))
        }
        defer { for (q, w) in registered { q.remove(w) } }
        while true {
            let n = try check()
            if n > 0 { return n }
            if let deadline, monotonicNanos() >= deadline { return 0 }
            do {
                try block(deadline: deadline)
            } catch {
                throw error == .ERESTARTSYS ? .ERESTARTNOHAND : error
            }
        }
    }

    private func pollCommon(_ fdsAddr: UInt64, _ nfds: UInt64, deadline: UInt64?) throws(LinuxErrno) -> UInt64 {
        guard nfds <= UInt64(group.fdTable.limit) else { throw .EINVAL }
        let raw = try mm.read(fdsAddr, count: Int(nfds) * 8)
        var entries: [(fd: Int32, events: Int16)] = []
        raw.withUnsafeBytes { p in
            for i in 0..<Int(nfds) {
                entries.append((p.load(fromByteOffset: i * 8, as: Int32.self), p.load(fromByteOffset: i * 8 + 4, as: Int16.self)))
            }
        }
        var revents = [Int16](repeating: 0, count: entries.count)
        var watched: [(FileDescription, EventMask)] = []
        for e in entries where e.fd >= 0 {
            if let f = try? group.fdTable.get(e.fd) { watched.append((f, EventMask(rawValue: UInt32(UInt16(bitPattern: e.events))))) }
        }
        let n = try waitReady(watched, deadline: deadline) { () throws(LinuxErrno) -> Int in
            var ready = 0
            for (i, e) in entries.enumerated() {
                var r: Int16 = 0
                if e.fd >= 0 {
                    if let f = try? group.fdTable.get(e.fd) {
                        let asked = EventMask(rawValue: UInt32(UInt16(bitPattern: e.events))).union(.alwaysReported)
                        r = Int16(truncatingIfNeeded: f.readiness(asked).intersection(asked).rawValue)
                    } else {
                        r = Int16(POLLNVAL)
                    }
                }
                revents[i] = r
                if r != 0 { ready += 1 }
            }
            return ready
        }
        var out = raw
        out.withUnsafeMutableBytes { p in
            for i in 0..<entries.count { p.storeBytes(of: revents[i], toByteOffset: i * 8 + 6, as: Int16.self) }
        }
        try mm.write(fdsAddr, out)
        return UInt64(n)
    }

    func sysPoll() throws(LinuxErrno) -> UInt64 {
        let timeout = Int32(truncatingIfNeeded: a2)
        let deadline: UInt64? = timeout < 0 ? nil : monotonicNanos() + UInt64(timeout) * 1_000_000
        return try poll(a0, a1, deadline: deadline)
    }

    /// poll(2), first run or restarted: a signal without a handler (a stop) has it go on
    /// through restart_syscall until the same deadline, as Linux's do_restart_poll.
    func poll(_ fdsAddr: UInt64, _ nfds: UInt64, deadline: UInt64?) throws(LinuxErrno) -> UInt64 {
        do {
            return try pollCommon(fdsAddr, nfds, deadline: deadline)
        } catch .ERESTARTNOHAND {
            restartBlock = .poll(fds: fdsAddr, count: nfds, deadline: deadline)
            throw .ERESTART_RESTARTBLOCK
        }
    }

    /// A relative timeout (ppoll, pselect6) as a deadline, and whether it was zero.
    private func relativeDeadline(_ addr: UInt64) throws(LinuxErrno) -> (deadline: UInt64, zero: Bool)? {
        guard addr != 0 else { return nil }
        let ts: timespec = try mm.readValue(addr)
        guard ts.tv_sec >= 0, ts.tv_nsec >= 0, ts.tv_nsec < 1_000_000_000 else { throw .EINVAL }
        return (monotonicDeadline(afterSeconds: Int64(ts.tv_sec), nanos: Int64(ts.tv_nsec)), ts.tv_sec == 0 && ts.tv_nsec == 0)
    }

    /// select, pselect6 and ppoll write the time left back to their timeout (a timeval at
    /// `addr` for select, a timespec otherwise; not when it was zero) whatever they return,
    /// as Linux's poll_select_finish: one run again after a stop (ERESTARTNOHAND) waits only
    /// that. When the timeout cannot be written, a restart would wait it all again: EINTR.
    private func writingBackTimeLeft(_ addr: UInt64, deadline: UInt64, timeval asTimeval: Bool,
                                     _ body: () throws(LinuxErrno) -> UInt64) throws(LinuxErrno) -> UInt64 {
        // personality's STICKY_TIMEOUTS: the timeout is left as given, so an interrupted call
        // cannot be restarted with it (poll_select_finish).
        if group.personality & 0x0400_0000 != 0 {
            do { return try body() } catch { throw error == .ERESTARTNOHAND ? .EINTR : error }
        }
        let result: Result<UInt64, LinuxErrno>
        do { result = .success(try body()) } catch { result = .failure(error) }
        let now = monotonicNanos()
        let left = deadline > now ? deadline - now : 0
        let seconds = Int(left / 1_000_000_000), nanos = Int(left % 1_000_000_000)
        do {
            if asTimeval { try mm.writeValue(addr, timeval(tv_sec: seconds, tv_usec: nanos / 1000)) }
            else { try mm.writeValue(addr, timespec(tv_sec: seconds, tv_nsec: nanos)) }
        } catch {
            if case .failure(.ERESTARTNOHAND) = result { throw .EINTR }
        }
        return try result.get()
    }

    /// ppoll/pselect's temporary signal mask.
    func withTemporaryMask<T>(_ maskAddr: UInt64, _ body: () throws(LinuxErrno) -> T) throws(LinuxErrno) -> T {
        guard maskAddr != 0 else { return try body() }
        let mask: UInt64 = try mm.readValue(maskAddr)
        let saved = signalMask
        signalMask = mask & ~(1 << 8 | 1 << 18)
        do {
            let r = try body()
            signalMask = saved
            return r
        } catch {
            if error == .ERESTARTNOHAND || error == .EINTR { savedMaskForSuspend = saved } else { signalMask = saved }
            throw error
        }
    }

    func sysPpoll() throws(LinuxErrno) -> UInt64 {
        if a2 != 0 && a4 != 8 { throw .EINVAL }
        let timeout = try relativeDeadline(a2)
        let run = { () throws(LinuxErrno) -> UInt64 in
            try self.withTemporaryMask(self.a3) { () throws(LinuxErrno) -> UInt64 in
                try self.pollCommon(self.a0, self.a1, deadline: timeout?.deadline)
            }
        }
        guard let timeout, !timeout.zero else { return try run() }
        return try writingBackTimeLeft(a2, deadline: timeout.deadline, timeval: false, run)
    }

    private func selectCommon(_ nfds: Int32, _ rAddr: UInt64, _ wAddr: UInt64, _ eAddr: UInt64, deadline: UInt64?) throws(LinuxErrno) -> UInt64 {
        guard nfds >= 0, nfds <= Int32(group.fdTable.limit) else { throw .EINVAL }
        let bytes = (Int(nfds) + 63) / 64 * 8
        func readSet(_ a: UInt64) throws(LinuxErrno) -> [UInt64] {
            guard a != 0, bytes > 0 else { return [UInt64](repeating: 0, count: bytes / 8) }
            let b = try mm.read(a, count: bytes)
            return b.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
        }
        let rIn = try readSet(rAddr), wIn = try readSet(wAddr), eIn = try readSet(eAddr)
        var rOut = rIn.map { _ in UInt64(0) }, wOut = rOut, eOut = rOut
        // Which poll events count for each set (Linux's POLLIN_SET, POLLOUT_SET, POLLEX_SET).
        let inSet: EventMask = [.readable, .readNormal, .readBand, .hangUp, .error]
        let outSet: EventMask = [.writable, .writeNormal, .writeBand, .error]
        let exSet: EventMask = [.priority]
        for fd in 0..<Int(nfds) where (rIn[fd / 64] | wIn[fd / 64] | eIn[fd / 64]) & (1 << UInt64(fd % 64)) != 0 {
            _ = try group.fdTable.get(Int32(fd))
        }
        // The events each named fd is asked for, computed once.
        var asked: [(fd: Int, mask: EventMask)] = []
        for fd in 0..<Int(nfds) {
            let bit: UInt64 = 1 << UInt64(fd % 64), w = fd / 64
            var mask: EventMask = []
            if rIn[w] & bit != 0 { mask.formUnion(inSet) }
            if wIn[w] & bit != 0 { mask.formUnion(outSet) }
            if eIn[w] & bit != 0 { mask.formUnion(exSet) }
            if !mask.isEmpty { asked.append((fd, mask)) }
        }
        let watched = asked.compactMap { a in (try? group.fdTable.get(Int32(a.fd))).map { ($0, a.mask) } }
        let n = try waitReady(watched, deadline: deadline) { () throws(LinuxErrno) -> Int in
            var count = 0
            for (fd, mask) in asked {
                guard let f = try? group.fdTable.get(Int32(fd)) else { continue }
                let ready = f.readiness(mask)
                let bit: UInt64 = 1 << UInt64(fd % 64), w = fd / 64
                if rIn[w] & bit != 0 && !ready.isDisjoint(with: inSet) { rOut[w] |= bit; count += 1 }
                if wIn[w] & bit != 0 && !ready.isDisjoint(with: outSet) { wOut[w] |= bit; count += 1 }
                if eIn[w] & bit != 0 && !ready.isDisjoint(with: exSet) { eOut[w] |= bit; count += 1 }
            }
            return count
        }
        func writeSet(_ a: UInt64, _ s: [UInt64]) throws(LinuxErrno) {
            guard a != 0, bytes > 0 else { return }
            var b = [UInt8](); for w in s { withUnsafeBytes(of: w) { b += $0 } }
            try mm.write(a, b)
        }
        try writeSet(rAddr, rOut); try writeSet(wAddr, wOut); try writeSet(eAddr, eOut)
        return UInt64(n)
    }

    func sysSelect() throws(LinuxErrno) -> UInt64 {
        var deadline: UInt64?, zero = false
        if a4 != 0 {
            let tv: timeval = try mm.readValue(a4)
            guard tv.tv_sec >= 0, tv.tv_usec >= 0, tv.tv_usec < 1_000_000 else { throw .EINVAL }
            deadline = monotonicDeadline(afterSeconds: Int64(tv.tv_sec), nanos: Int64(tv.tv_usec) * 1000)
            zero = tv.tv_sec == 0 && tv.tv_usec == 0
        }
        let run = { () throws(LinuxErrno) -> UInt64 in
            try self.selectCommon(Int32(truncatingIfNeeded: self.a0), self.a1, self.a2, self.a3, deadline: deadline)
        }
        guard let deadline, !zero else { return try run() }
        return try writingBackTimeLeft(a4, deadline: deadline, timeval: true, run)
    }

    func sysPselect6() throws(LinuxErrno) -> UInt64 {
        let timeout = try relativeDeadline(a4)
        var maskAddr: UInt64 = 0
        if a5 != 0 {
            maskAddr = try mm.readValue(a5)
            let size: UInt64 = try mm.readValue(a5 &+ 8)
            if maskAddr != 0 && size != 8 { throw .EINVAL }
        }
        let run = { () throws(LinuxErrno) -> UInt64 in
            try self.withTemporaryMask(maskAddr) { () throws(LinuxErrno) -> UInt64 in
                try self.selectCommon(Int32(truncatingIfNeeded: self.a0), self.a1, self.a2, self.a3, deadline: timeout?.deadline)
            }
        }
        guard let timeout, !timeout.zero else { return try run() }
        return try writingBackTimeLeft(a4, deadline: timeout.deadline, timeval: false, run)
    }

    // MARK: futex

    /// The futex at `addr`. A private one (FUTEX_PRIVATE_FLAG) is keyed by its address
    /// alone and its memory is not looked at, as Linux's get_futex_key; a shared one by the
    /// page behind the word, so there must be one the process can read (EFAULT otherwise:
    /// unmapped, PROT_NONE, or past the end of a mapped file).
    func futexKey(_ addr: UInt64, private: Bool = false) throws(LinuxErrno) -> FutexKey {
        guard addr & 3 == 0 else { throw .EINVAL }
        if `private` { return FutexKey(addressSpace: ObjectIdentifier(mm), offset: addr) }
        guard let v = mm.vma(containing: addr), !v.protection.isEmpty, !v.beyondEOF else { throw .EFAULT }
        if let file = v.file, v.fileOffset + (addr - v.start) >= MemoryFile.roundUp(file.inode.size) { throw .EFAULT }
        if !v.shared { return FutexKey(addressSpace: ObjectIdentifier(mm), offset: addr) }
        return FutexKey(addressSpace: nil, offset: try mm.backing(v, addr).offset)
    }

    func sysFutex() throws(LinuxErrno) -> UInt64 {
        let op = Int32(truncatingIfNeeded: a1) & 0x7f
        let isPrivate = a1 & 128 != 0
        let realtime = a1 & 256 != 0
        let val = UInt32(truncatingIfNeeded: a2)
        switch op {
        case 0, 9: // WAIT, WAIT_BITSET
            let bitset = op == 9 ? UInt32(truncatingIfNeeded: a5) : UInt32.max
            guard bitset != 0 else { throw .EINVAL }
            let key = try futexKey(a0, private: isPrivate)
            let current: UInt32 = try mm.readValue(a0)
            if current != val { throw .EAGAIN }
            var deadline: SleepDeadline?
            if a3 != 0 {
                let ts: timespec = try mm.readValue(a3)
                guard ts.tv_sec >= 0, ts.tv_nsec >= 0, ts.tv_nsec < 1_000_000_000 else { throw .EINVAL }
                let ns = saturatingNanos(seconds: Int64(ts.tv_sec), nanos: Int64(ts.tv_nsec))
                if op == 0 {
                    deadline = .monotonic(saturatingAdd(monotonicNanos(), ns))
                } else {
                    deadline = sleepDeadline(at: ns, on: realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC)
                }
            }
            try futexSleep(key, bitset: bitset, deadline: deadline)
            return 0
        case 1, 10: // WAKE, WAKE_BITSET
            let bitset = op == 10 ? UInt32(truncatingIfNeeded: a5) : UInt32.max
            guard bitset != 0 else { throw .EINVAL }
            return UInt64(wakeFutex(try futexKey(a0, private: isPrivate), count: Int(Int32(truncatingIfNeeded: a2)), bitset: bitset))
        case 3, 4: // REQUEUE, CMP_REQUEUE: wake some waiters, move others to uaddr2
            let key = try futexKey(a0, private: isPrivate), key2 = try futexKey(a4, private: isPrivate)
            let wake = Int(Int32(truncatingIfNeeded: a2)), move = Int(Int32(truncatingIfNeeded: a3))
            guard wake >= 0, move >= 0 else { throw .EINVAL }
            if op == 4 {
                let current: UInt32 = try mm.readValue(a0)
                if current != UInt32(truncatingIfNeeded: a5) { throw .EAGAIN }
            }
            return UInt64(requeueFutex(key, to: key2, wake: wake, move: move))
        case 5: // WAKE_OP: *uaddr2 = op(*uaddr2, oparg); wake uaddr; wake uaddr2 if cmp(old, cmparg)
            let key = try futexKey(a0, private: isPrivate), key2 = try futexKey(a4, private: isPrivate)
            let encoded = UInt32(truncatingIfNeeded: a5)
            var oparg = (Int32(bitPattern: (encoded >> 12) & 0xfff) << 20) >> 20 // sign-extend 12 bits
            let cmparg = (Int32(bitPattern: encoded & 0xfff) << 20) >> 20
            let opcode = (encoded >> 28) & 7, cmp = (encoded >> 24) & 15
            if (encoded >> 28) & 8 != 0 { oparg = oparg >= 0 && oparg < 32 ? 1 << oparg : 0 }
            guard opcode <= 4 else { throw .ENOSYS }
            // Atomically, as the guest's own threads may change the word meanwhile.
            var old: Int32 = try mm.readValue(a4)
            while true {
                let new: Int32 = switch opcode {
                case 0: oparg
                case 1: old &+ oparg
                case 2: old | oparg
                case 3: old & ~oparg
                default: old ^ oparg
                }
                let found = try mm.compareExchange32(a4, expected: UInt32(bitPattern: old), desired: UInt32(bitPattern: new))
                if found == UInt32(bitPattern: old) { break }
                old = Int32(bitPattern: found)
            }
            var woken = wakeFutex(key, count: Int(Int32(truncatingIfNeeded: a2)))
            let hit: Bool
            switch cmp {
            case 0: hit = old == cmparg
            case 1: hit = old != cmparg
            case 2: hit = old < cmparg
            case 3: hit = old <= cmparg
            case 4: hit = old > cmparg
            case 5: hit = old >= cmparg
            default: throw .ENOSYS
            }
            if hit { woken += wakeFutex(key2, count: Int(Int32(truncatingIfNeeded: a3))) }
            return UInt64(woken)
        case 6, 8, 13: // LOCK_PI, TRYLOCK_PI, LOCK_PI2
            var deadline: SleepDeadline?
            if op != 8 && a3 != 0 {
                // An absolute time: CLOCK_REALTIME for LOCK_PI, CLOCK_MONOTONIC (or, with
                // FUTEX_CLOCK_REALTIME, CLOCK_REALTIME) for LOCK_PI2.
                let ts: timespec = try mm.readValue(a3)
                guard ts.tv_sec >= 0, ts.tv_nsec >= 0, ts.tv_nsec < 1_000_000_000 else { throw .EINVAL }
                deadline = sleepDeadline(at: saturatingNanos(seconds: Int64(ts.tv_sec), nanos: Int64(ts.tv_nsec)),
                                         on: op == 6 || realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC)
            } else if op == 6 && realtime {
                throw .ENOSYS // FUTEX_CLOCK_REALTIME is for LOCK_PI2 only
            }
            return try lockPI(a0, trying: op == 8, deadline: deadline)
        case 7: // UNLOCK_PI
            return try unlockPI(a0)
        default:
            // WAIT_REQUEUE_PI and CMP_REQUEUE_PI (condition variables over PI mutexes).
            kernel.reportUnimplemented(202)
            throw .ENOSYS
        }
    }

    // MARK: priority-inheritance futexes

    // The word holds the owner's tid, FUTEX_WAITERS when someone waits in the kernel and
    // FUTEX_OWNER_DIED when the owner died holding it (futex(2), "Priority-inheritance
    // futexes"). The sentry changes it with compare-and-swap only: the guest's fast paths
    // change it at the same time with their own. Every guest thread has the same priority
    // to the sentry, so inheriting one changes nothing: waiters are served in order.
    static let FUTEX_WAITERS: UInt32 = 0x8000_0000, FUTEX_OWNER_DIED: UInt32 = 0x4000_0000, TID_MASK: UInt32 = 0x3fff_ffff

    private func lockPI(_ address: UInt64, trying: Bool, deadline aim: SleepDeadline?) throws(LinuxErrno) -> UInt64 {
        let key = try futexKey(address)
        let me = UInt32(bitPattern: vnr(tid)) // the futex word holds tids as the process sees them
        var value: UInt32 = try mm.readValue(address)
        while true {
            let owner = value & GuestThread.TID_MASK
            if owner == 0 {
                // Free, or its owner died: take it (keeping OWNER_DIED for the new owner to see).
                var new = me | (value & GuestThread.FUTEX_OWNER_DIED)
                if !(kernel.piWaiters[key]?.isEmpty ?? true) { new |= GuestThread.FUTEX_WAITERS }
                let found = try mm.compareExchange32(address, expected: value, desired: new)
                if found == value { return 0 }
                value = found
                continue
            }
            if owner == me { throw .EDEADLK }
            // The owner must be a live thread (else the word is garbage or the owner is gone).
            guard thread(Int32(bitPattern: owner)) != nil else { throw .ESRCH }
            if trying { throw .EAGAIN }
            if value & GuestThread.FUTEX_WAITERS == 0 {
                let found = try mm.compareExchange32(address, expected: value, desired: value | GuestThread.FUTEX_WAITERS)
                if found != value { value = found; continue }
            }
            break
        }
        // Wait for the owner to hand the lock over (unlockPI writes this thread's tid).
        let w = FutexWaiter(bitset: UInt32.max, key: key, wakeup: wakeup)
        w.thread = self
        w.address = address
        kernel.piWaiters[key, default: []].append(w)
        defer { kernel.piWaiters[key]?.removeAll { $0 === w } }
        while !w.woken {
            let deadline = current(aim)
            if let deadline, monotonicNanos() >= deadline { throw .ETIMEDOUT }
            do { try block(deadline: deadline) } catch {
                if w.woken { return 0 }
                // A signal handler runs, then the lock is tried again (ERESTARTNOINTR).
                throw error == .ERESTARTSYS ? .ERESTARTNOINTR : error
            }
        }
        return 0
    }

    /// At exit, PI futexes this thread still owns and others wait for go to their first waiter
    /// (Linux's exit_pi_state_list).
    func releasePIFutexes() {
        let me = UInt32(bitPattern: vnr(tid)) // the futex word holds tids as the process sees them
        for (key, waiters) in kernel.piWaiters {
            guard let w = waiters.first(where: { !$0.woken }), let waiter = w.thread else { continue }
            for _ in 0..<16 {
                guard let value = try? waiter.mm.readValue(w.address, as: UInt32.self), value & GuestThread.TID_MASK == me,
                      let found = try? handOverPI(key, address: w.address, from: value, ownerDied: false, in: waiter.mm),
                      found != value else { break }
            }
        }
    }

    private func unlockPI(_ address: UInt64) throws(LinuxErrno) -> UInt64 {
        let key = try futexKey(address)
        var value: UInt32 = try mm.readValue(address)
        while true {
            guard value & GuestThread.TID_MASK == UInt32(bitPattern: vnr(tid)) else { throw .EPERM }
            let found = try handOverPI(key, address: address, from: value, ownerDied: false)
            if found == value { return 0 }
            value = found
        }
    }

    /// Gives the PI futex at `address` (holding `value`) to its first waiter, or frees it;
    /// returns what the word held (the swap took place if that is `value`).
    /// `in`: the address space `address` is in (the waiter's, when a dying owner's is another).
    func handOverPI(_ key: FutexKey, address: UInt64, from value: UInt32, ownerDied: Bool,
                    in space: MemoryManager? = nil) throws(LinuxErrno) -> UInt32 {
        let space = space ?? mm
        let waiters = (kernel.piWaiters[key] ?? []).filter { !$0.woken && $0.thread != nil }
        let died = ownerDied ? GuestThread.FUTEX_OWNER_DIED : 0
        guard let next = waiters.first, let heir = next.thread else {
            return try space.compareExchange32(address, expected: value, desired: died)
        }
        let new = UInt32(bitPattern: heir.vnr(heir.tid)) | died | (waiters.count > 1 ? GuestThread.FUTEX_WAITERS : 0)
        let found = try space.compareExchange32(address, expected: value, desired: new)
        if found == value {
            next.woken = true
            next.wakeup.wake()
        }
        return found
    }

    /// sched_setaffinity: the guest's own view; it must name at least one online CPU.
    func sysSchedSetaffinity() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0)
        guard a1 > 0 else { throw .EINVAL }
        var mask: UInt64 = 0
        let n = Int(min(a1, 8))
        let bytes = try mm.read(a2, count: n) // EFAULT before the target is looked at, as Linux
        guard let t = pid == 0 ? self : thread(pid) else { throw .ESRCH }
        guard mayReschedule(t) else { throw .EPERM }
        for (i, b) in bytes.enumerated() { mask |= UInt64(b) << UInt64(i * 8) }
        guard mask & HostCPUs.mask != 0 else { throw .EINVAL }
        t.affinity = mask & HostCPUs.mask
        return 0
    }

    func sysGetRobustList() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0)
        guard let t = pid == 0 ? self : thread(pid) else { throw .ESRCH }
        // PTRACE_MODE_READ_REALCREDS: its own process, or one it could trace.
        guard t.group === group || mayAttach(t.group) else { throw .EPERM }
        try mm.writeValue(a1, t.robustList)
        try mm.writeValue(a2, UInt64(24))
        return 0
    }

    /// Sleeps on `key` until a wake whose bitset meets `bitset` (ETIMEDOUT at the deadline; a
    /// signal ends it as block does).
    func futexSleep(_ key: FutexKey, bitset: UInt32, deadline aim: SleepDeadline?) throws(LinuxErrno) {
        let w = FutexWaiter(bitset: bitset, key: key, wakeup: wakeup)
        kernel.futexWaiters[key, default: []].append(w)
        defer { kernel.futexWaiters[w.key]?.removeAll { $0 === w } }
        while !w.woken {
            let deadline = current(aim)
            if let deadline, monotonicNanos() >= deadline { throw .ETIMEDOUT }
            try block(deadline: deadline)
        }
    }

    /// Wakes up to `count` waiters of `key` whose bitset meets `bitset`. A count of 0 or less
    /// still wakes one, as Linux's loop does, except a count of 0 for futex_wake(2) (`strict`).
    func wakeFutex(_ key: FutexKey, count: Int, bitset: UInt32 = UInt32.max, strict: Bool = false) -> Int {
        var woken = 0
        let most = strict && count == 0 ? 0 : max(count, 1)
        for w in kernel.futexWaiters[key] ?? [] where woken < most && !w.woken && w.bitset & bitset != 0 {
            w.woken = true
            w.wakeup.wake()
            woken += 1
        }
        return woken
    }

    /// Wakes `wake` waiters of `key` and moves up to `move` of the others to `key2` (onto
    /// itself when the keys are one word, still counted): how many were woken or moved.
    func requeueFutex(_ key: FutexKey, to key2: FutexKey, wake: Int, move: Int) -> Int {
        let woken = wakeFutex(key, count: wake, strict: true)
        var moved = 0
        var remaining: [FutexWaiter] = []
        for w in kernel.futexWaiters[key] ?? [] {
            if !w.woken && moved < move {
                w.key = key2
                if key != key2 { kernel.futexWaiters[key2, default: []].append(w) } else { remaining.append(w) }
                moved += 1
            } else {
                remaining.append(w)
            }
        }
        kernel.futexWaiters[key] = remaining
        return woken + moved
    }

    // MARK: futex2: futex_waitv, futex_wake, futex_wait, futex_requeue

    private static let FUTEX2_SIZE_U32: UInt64 = 0x02, FUTEX2_PRIVATE: UInt64 = 0x80

    /// futex2 flags: a 32-bit word (the only size Linux takes yet), maybe private; the NUMA
    /// form is not offered.
    private func futex2Flags(_ flags: UInt64) throws(LinuxErrno) {
        guard flags & ~Self.FUTEX2_PRIVATE == Self.FUTEX2_SIZE_U32 else { throw .EINVAL }
    }

    /// An absolute futex2 timeout on CLOCK_MONOTONIC or CLOCK_REALTIME.
    private func futex2Deadline(_ address: UInt64, clock: UInt64) throws(LinuxErrno) -> SleepDeadline? {
        guard address != 0 else { return nil }
        let id = Int32(truncatingIfNeeded: clock)
        guard id == CLOCK_MONOTONIC || id == CLOCK_REALTIME else { throw .EINVAL }
        let ts: timespec = try mm.readValue(address)
        guard ts.tv_sec >= 0, ts.tv_nsec >= 0, ts.tv_nsec < 1_000_000_000 else { throw .EINVAL }
        return sleepDeadline(at: saturatingNanos(seconds: Int64(ts.tv_sec), nanos: Int64(ts.tv_nsec)), on: id)
    }

    /// struct futex_waitv entries: { u64 val; u64 uaddr; u32 flags; u32 reserved }.
    private func readWaitv(_ address: UInt64, count: Int) throws(LinuxErrno) -> [(value: UInt32, address: UInt64, flags: UInt32)] {
        let raw = try mm.read(address, count: count * 24)
        var out: [(value: UInt32, address: UInt64, flags: UInt32)] = []
        for i in 0..<count {
            let (value, addr, flags, reserved) = raw.withUnsafeBytes { p in
                (p.loadUnaligned(fromByteOffset: i * 24, as: UInt64.self), p.loadUnaligned(fromByteOffset: i * 24 + 8, as: UInt64.self),
                 p.loadUnaligned(fromByteOffset: i * 24 + 16, as: UInt32.self), p.loadUnaligned(fromByteOffset: i * 24 + 20, as: UInt32.self))
            }
            guard reserved == 0 else { throw .EINVAL }
            try futex2Flags(UInt64(flags))
            guard value >> 32 == 0 else { throw .EINVAL }
            out.append((UInt32(value), addr, flags))
        }
        return out
    }

    /// futex_waitv: sleeps on up to 128 words at once, each while it holds its value; a wake
    /// of any ends the wait, which returns that word's index.
    func sysFutexWaitv() throws(LinuxErrno) -> UInt64 {
        let count = a1 & 0xffff_ffff // nr_futexes and flags: unsigned int
        guard a2 & 0xffff_ffff == 0, count >= 1, count <= 128, a0 != 0 else { throw .EINVAL }
        let aim = try futex2Deadline(a3, clock: a4)
        let entries = try readWaitv(a0, count: Int(count))
        var waiters: [FutexWaiter] = []
        defer { for w in waiters { kernel.futexWaiters[w.key]?.removeAll { $0 === w } } }
        for e in entries {
            let w = FutexWaiter(bitset: UInt32.max, key: try futexKey(e.address), wakeup: wakeup)
            kernel.futexWaiters[w.key, default: []].append(w)
            waiters.append(w)
        }
        for e in entries {
            let current: UInt32 = try mm.readValue(e.address)
            if current != e.value { throw .EAGAIN }
        }
        while true {
            if let i = waiters.lastIndex(where: \.woken) { return UInt64(i) }
            let deadline = current(aim)
            if let deadline, monotonicNanos() >= deadline { throw .ETIMEDOUT }
            try block(deadline: deadline)
        }
    }

    /// futex_wake(uaddr, mask, nr, flags): FUTEX_WAKE_BITSET, where a count of 0 wakes none.
    func sysFutex2Wake() throws(LinuxErrno) -> UInt64 {
        try futex2Flags(a3 & 0xffff_ffff) // flags: unsigned int
        guard a1 >> 32 == 0, a1 != 0 else { throw .EINVAL }
        return UInt64(wakeFutex(try futexKey(a0), count: Int(Int32(truncatingIfNeeded: a2)), bitset: UInt32(a1), strict: true))
    }

    /// futex_wait(uaddr, val, mask, flags, timeout, clockid): FUTEX_WAIT_BITSET with an
    /// absolute timeout on the given clock.
    func sysFutex2Wait() throws(LinuxErrno) -> UInt64 {
        try futex2Flags(a3 & 0xffff_ffff) // flags: unsigned int
        guard a1 >> 32 == 0, a2 >> 32 == 0 else { throw .EINVAL }
        let deadline = try futex2Deadline(a4, clock: a5)
        guard a2 != 0 else { throw .EINVAL }
        let key = try futexKey(a0)
        let current: UInt32 = try mm.readValue(a0)
        if current != UInt32(a1) { throw .EAGAIN }
        try futexSleep(key, bitset: UInt32(a2), deadline: deadline)
        return 0
    }

    /// futex_requeue(waiters[2], flags, nr_wake, nr_requeue): FUTEX_CMP_REQUEUE from the
    /// first word (which must hold the first entry's value) to the second.
    func sysFutex2Requeue() throws(LinuxErrno) -> UInt64 {
        guard a1 & 0xffff_ffff == 0, a0 != 0 else { throw .EINVAL } // flags: unsigned int
        let entries = try readWaitv(a0, count: 2)
        guard entries[0].flags == entries[1].flags else { throw .EINVAL }
        let wake = Int(Int32(truncatingIfNeeded: a2)), move = Int(Int32(truncatingIfNeeded: a3))
        guard wake >= 0, move >= 0 else { throw .EINVAL }
        let key = try futexKey(entries[0].address), key2 = try futexKey(entries[1].address)
        let current: UInt32 = try mm.readValue(entries[0].address)
        if current != entries[0].value { throw .EAGAIN }
        return UInt64(requeueFutex(key, to: key2, wake: wake, move: move))
    }

    // MARK: limits and usage

    static let defaultLimits: [Int32: (UInt64, UInt64)] = [
        3: (8 << 20, UInt64.max),   // RLIMIT_STACK
        7: (1024, 1024 * 1024),     // RLIMIT_NOFILE
        4: (0, UInt64.max),         // RLIMIT_CORE
        8: (8 << 20, 8 << 20),      // RLIMIT_MEMLOCK
        6: (4096, 4096),            // RLIMIT_NPROC
        11: (1 << 13, 1 << 13),     // RLIMIT_SIGPENDING
        12: (819_200, 819_200),     // RLIMIT_MSGQUEUE
        13: (0, 0),                 // RLIMIT_NICE
        14: (0, 0),                 // RLIMIT_RTPRIO
    ]

    /// Resource limit `r` of `target` (default: the caller's process).
    func limit(_ r: Int32, of target: ThreadGroup? = nil) -> (UInt64, UInt64) {
        let g = target ?? group
        if r == 7 { return (UInt64(g.fdTable.limit), g.rlimits[7]?.1 ?? 1024 * 1024) }
        return g.rlimits[r] ?? GuestThread.defaultLimits[r] ?? (UInt64.max, UInt64.max)
    }

    /// Sets `target`'s limit `r`; raising the hard limit needs the caller's CAP_SYS_RESOURCE.
    func setLimit(_ r: Int32, _ v: (UInt64, UInt64), of target: ThreadGroup? = nil) throws(LinuxErrno) {
        let g = target ?? group
        guard v.0 <= v.1 else { throw .EINVAL }
        // RLIMIT_NOFILE's hard limit stays within /proc/sys/fs/nr_open, even for root.
        if r == 7 && v.1 > UInt64(kernel.tunables.nrOpen) { throw .EPERM }
        let old = limit(r, of: g)
        if v.1 > old.1 && !group.capable(24, in: .initial) { throw .EPERM }
        if r == 7 { g.fdTable.limit = Int(v.0) }
        g.rlimits[r] = v
        if r == 0 && v.0 != UInt64.max { kernel.startAlarmWatcher() } // RLIMIT_CPU is polled
    }

    func sysGetrlimit() throws(LinuxErrno) -> UInt64 {
        let r = Int32(truncatingIfNeeded: a0)
        guard r >= 0 && r < 16 else { throw .EINVAL }
        let l = limit(r)
        try mm.writeValue(a1, l.0); try mm.writeValue(a1 &+ 8, l.1)
        return 0
    }

    func sysSetrlimit() throws(LinuxErrno) -> UInt64 {
        let r = Int32(truncatingIfNeeded: a0)
        guard r >= 0 && r < 16 else { throw .EINVAL }
        let cur: UInt64 = try mm.readValue(a1), max: UInt64 = try mm.readValue(a1 &+ 8)
        try setLimit(r, (cur, max))
        return 0
    }

    func sysPrlimit64() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0), r = Int32(truncatingIfNeeded: a1)
        // Linux's order: the new limit is read, then the process found (ESRCH, EPERM), then
        // the resource checked (EINVAL).
        var new: (UInt64, UInt64)?
        if a2 != 0 { new = (try mm.readValue(a2), try mm.readValue(a2 &+ 8)) }
        guard pid >= 0, let target = pid == 0 ? group : thread(pid)?.group else { throw .ESRCH }
        // Another process's limits: the caller's real uid and gid must be all of its ids (as
        // Linux's check_prlimit_permission), or the caller must hold CAP_SYS_RESOURCE.
        if target !== group && !group.capable(24, in: target.userNS) {
            guard [target.uid, target.euid, target.suid].allSatisfy({ $0 == group.uid }),
                  [target.gid, target.egid, target.sgid].allSatisfy({ $0 == group.gid }) else { throw .EPERM }
        }
        guard r >= 0 && r < 16 else { throw .EINVAL }
        let old = limit(r, of: target)
        if let new { try setLimit(r, new, of: target) }
        if a3 != 0 { try mm.writeValue(a3, old.0); try mm.writeValue(a3 &+ 8, old.1) }
        return 0
    }

    func sysGetrusage() throws(LinuxErrno) -> UInt64 {
        let who = Int32(truncatingIfNeeded: a0)
        guard [0, -1, 1].contains(who) else { throw .EINVAL }
        var b = [UInt8](repeating: 0, count: 144)
        let times: (user: UInt64, system: UInt64), peak: UInt64
        let switches: (voluntary: UInt64, involuntary: UInt64)
        switch who {
        case 0: times = group.cpuTimes(); peak = group.peakResidentKiB(); switches = group.contextSwitches()
        case 1: times = group.cpuTimes(thread: self); peak = group.peakResidentKiB(); switches = group.contextSwitches(thread: self)
        default:
            times = group.cpuTimes(children: true); peak = group.childrenPeakResidentKiB
            switches = group.contextSwitches(children: true)
        }
        b.withUnsafeMutableBytes { p in
            for (i, ns) in [times.user, times.system].enumerated() { // ru_utime, ru_stime
                p.storeBytes(of: Int64(ns / 1_000_000_000), toByteOffset: 16 * i, as: Int64.self)
                p.storeBytes(of: Int64(ns % 1_000_000_000 / 1000), toByteOffset: 16 * i + 8, as: Int64.self)
            }
            p.storeBytes(of: Int64(peak), toByteOffset: 32, as: Int64.self) // ru_maxrss
            p.storeBytes(of: Int64(switches.voluntary), toByteOffset: 128, as: Int64.self)   // ru_nvcsw
            p.storeBytes(of: Int64(switches.involuntary), toByteOffset: 136, as: Int64.self) // ru_nivcsw
        }
        try mm.write(a1, b)
        return 0
    }

    func sysSysinfo() throws(LinuxErrno) -> UInt64 {
        var total: UInt64 = 0, free: UInt64 = 0
        joey_meminfo(&total, &free)
        var b = [UInt8](repeating: 0, count: 112)
        b.withUnsafeMutableBytes { p in
            // The uptime, as /proc/uptime shows it, rounded up as Linux's do_sysinfo.
            let up = uptimeNanos
            p.storeBytes(of: Int64((up + 999_999_999) / 1_000_000_000), toByteOffset: 0, as: Int64.self)
            p.storeBytes(of: total, toByteOffset: 32, as: UInt64.self)
            p.storeBytes(of: free, toByteOffset: 40, as: UInt64.self)
            p.storeBytes(of: UInt16(kernel.threadGroups.count), toByteOffset: 80, as: UInt16.self)
            p.storeBytes(of: UInt32(1), toByteOffset: 104, as: UInt32.self)
        }
        try mm.write(a0, b)
        return 0
    }

    func sysSchedGetaffinity() throws(LinuxErrno) -> UInt64 {
        let pid = Int32(truncatingIfNeeded: a0)
        guard let t = pid == 0 ? self : thread(pid) else { throw .ESRCH }
        guard a1 >= 8, a1 & 7 == 0 else { throw .EINVAL }
        try mm.writeValue(a2, t.affinity ?? HostCPUs.mask)
        return 8
    }

    /// getcpu: the host CPU the calling sentry thread is on (node 0).
    func sysGetcpu() throws(LinuxErrno) -> UInt64 {
        let cpu = joey_current_cpu()
        if a0 != 0 { try mm.writeValue(a0, UInt32(max(cpu, 0))) }
        if a1 != 0 { try mm.writeValue(a1, UInt32(0)) }
        return 0
    }

    func sysGetrandom() throws(LinuxErrno) -> UInt64 {
        guard a2 & ~UInt64(0x7) == 0, a2 & 0x6 != 0x6 else { throw .EINVAL }
        let n = Int(min(a1, 33_554_431))
        if n == 0 { return 0 }
        var done = 0
        try mm.forEachSegment(a0, n, write: true) { seg in
            var off = 0
            while off < seg.count {
                let r = Int(joey_getrandom(seg.baseAddress! + off, UInt64(seg.count - off)))
                if r <= 0 { break }
                off += r
            }
            done += off
        }
        return UInt64(done)
    }
}

extension Kernel {
    /// Terminal ioctls on the sandbox's terminal (a host tty the sentry owns).
    func terminalIoctl(_ t: GuestThread, hostFD: Int32, request: UInt64, argument: UInt64) throws(LinuxErrno) -> UInt64 {
        guard isatty(hostFD) != 0 else { throw .ENOTTY }
        switch request {
        case 0x5401: // TCGETS
            var buf = [UInt8](repeating: 0, count: 64)
            let r = buf.withUnsafeMutableBytes { joey_ioctl(hostFD, 0x5401, $0.baseAddress) }
            if r < 0 { throw LinuxErrno(Int32(-r)) }
            try t.mm.write(argument, Array(buf[0..<36]))
            return 0
        case 0x5402, 0x5403, 0x5404: // TCSETS, TCSETSW, TCSETSF
            var buf = try t.mm.read(argument, count: 36) + [UInt8](repeating: 0, count: 28)
            let r = buf.withUnsafeMutableBytes { joey_ioctl(hostFD, UInt(request), $0.baseAddress) }
            if r < 0 { throw LinuxErrno(Int32(-r)) }
            return 0
        case 0x5413: // TIOCGWINSZ
            var buf = [UInt8](repeating: 0, count: 8)
            let r = buf.withUnsafeMutableBytes { joey_ioctl(hostFD, 0x5413, $0.baseAddress) }
            if r < 0 { throw LinuxErrno(Int32(-r)) }
            try t.mm.write(argument, buf)
            return 0
        case 0x5414: // TIOCSWINSZ
            var buf = try t.mm.read(argument, count: 8)
            let r = buf.withUnsafeMutableBytes { joey_ioctl(hostFD, 0x5414, $0.baseAddress) }
            if r < 0 { throw LinuxErrno(Int32(-r)) }
            return 0
        case 0x540F: // TIOCGPGRP: the guest's foreground process group
            try t.mm.writeValue(argument, t.vnr(foregroundPgids[t.group.sid] ?? t.group.pgid))
            return 0
        case 0x5410: // TIOCSPGRP
            let raw: Int32 = try t.mm.readValue(argument)
            guard raw > 0 else { throw .EINVAL }
            guard let pg = t.globalPgid(raw),
                  threadGroups.values.contains(where: { $0.pgid == pg && $0.sid == t.group.sid }) else { throw .EPERM }
            foregroundPgids[t.group.sid] = pg
            return 0
        case 0x5429: // TIOCGSID
            try t.mm.writeValue(argument, t.vnr(t.group.sid))
            return 0
        case 0x540E, 0x5422: // TIOCSCTTY, TIOCNOTTY: the sandbox has one terminal
            return 0
        case 0x541B: // FIONREAD
            var n: Int32 = 0
            let r = joey_ioctl(hostFD, 0x541B, &n)
            if r < 0 { throw LinuxErrno(Int32(-r)) }
            try t.mm.writeValue(argument, n)
            return 0
        default:
            throw .ENOTTY
        }
    }
}

extension GuestThread {
    /// The sandbox kernel's log: it writes no messages, so the ring is always empty.
    static let kernelLogSize: UInt64 = 1 << 17

    /// syslog(2) (dmesg): the empty log of the sandbox's kernel. Reading or clearing it needs
    /// CAP_SYSLOG (or CAP_SYS_ADMIN), as do READ_ALL and SIZE_BUFFER while
    /// /proc/sys/kernel/dmesg_restrict is 1 (its default here, as on Debian).
    /// SYSLOG_ACTION_READ waits for a message that never comes, until a signal. The console
    /// level actions set /proc/sys/kernel/printk's first figure, as Linux's do.
    func sysSyslog() throws(LinuxErrno) -> UInt64 {
        let type = Int32(truncatingIfNeeded: a0), length = Int32(truncatingIfNeeded: a2)
        guard type >= 0, type <= 10 else { throw .EINVAL }
        if type == 0 || type == 1 { return 0 } // CLOSE, OPEN
        let unrestricted = (type == 3 || type == 10) && kernel.tunables.dmesgRestrict == 0
        guard unrestricted || group.capable(34 /* CAP_SYSLOG */, in: .initial) || group.capable(21 /* CAP_SYS_ADMIN */, in: .initial) else { throw .EPERM }
        switch type {
        case 2: // READ: blocks until the log has something
            guard a1 != 0, length >= 0 else { throw .EINVAL }
            if length == 0 { return 0 }
            while true { try block(deadline: nil) }
        case 3, 4: // READ_ALL, READ_CLEAR
            guard a1 != 0, length >= 0 else { throw .EINVAL }
            return 0
        case 5: return 0 // CLEAR
        case 6: // CONSOLE_OFF: down to the minimum, the level kept for CONSOLE_ON
            if kernel.tunables.savedConsoleLevel == nil {
                kernel.tunables.savedConsoleLevel = kernel.tunables.printk[0]
                kernel.tunables.printk[0] = kernel.tunables.printk[2]
            }
            return 0
        case 7: // CONSOLE_ON
            if let saved = kernel.tunables.savedConsoleLevel {
                kernel.tunables.printk[0] = saved
                kernel.tunables.savedConsoleLevel = nil
            }
            return 0
        case 8: // CONSOLE_LEVEL: at least the minimum; logging to the console is on again
            guard length >= 1, length <= 8 else { throw .EINVAL }
            kernel.tunables.printk[0] = max(Int(length), kernel.tunables.printk[2])
            kernel.tunables.savedConsoleLevel = nil
            return 0
        case 9: return 0 // SIZE_UNREAD
        default: return Self.kernelLogSize // SIZE_BUFFER
        }
    }
}
