// Classic BPF as seccomp(2) takes it: the instruction subset Linux's seccomp_check_filter
// accepts, checked the way the kernel checks it before a filter is installed (forward jumps
// in range, a RET last, no read of scratch memory before a write on every path, no constant
// division by zero or shift by 32 and more), and an interpreter over the 64-byte
// seccomp_data. Nothing here touches guest memory: the program is copied in first.
import JoeyABI

/// One instruction: `struct sock_filter` (code, jt, jf, k).
struct BPFInstruction: Sendable {
    var code: UInt16
    var jt: UInt8
    var jf: UInt8
    var k: UInt32
}

struct ClassicBPF: Sendable {
    let instructions: [BPFInstruction]

    /// BPF_MAXINSNS.
    static let maxInstructions = 4096
    /// sizeof(struct seccomp_data).
    static let dataSize: UInt32 = 64

    // Instruction classes, sizes, modes, operations and sources (linux/bpf_common.h).
    static let LD: UInt16 = 0x00, LDX: UInt16 = 0x01, ST: UInt16 = 0x02, STX: UInt16 = 0x03
    static let ALU: UInt16 = 0x04, JMP: UInt16 = 0x05, RET: UInt16 = 0x06, MISC: UInt16 = 0x07
    static let W: UInt16 = 0x00, IMM: UInt16 = 0x00, ABS: UInt16 = 0x20, MEM: UInt16 = 0x60, LEN: UInt16 = 0x80
    static let ADD: UInt16 = 0x00, SUB: UInt16 = 0x10, MUL: UInt16 = 0x20, DIV: UInt16 = 0x30, OR: UInt16 = 0x40
    static let AND: UInt16 = 0x50, LSH: UInt16 = 0x60, RSH: UInt16 = 0x70, NEG: UInt16 = 0x80, XOR: UInt16 = 0xa0
    static let JA: UInt16 = 0x00, JEQ: UInt16 = 0x10, JGT: UInt16 = 0x20, JGE: UInt16 = 0x30, JSET: UInt16 = 0x40
    static let K: UInt16 = 0x00, X: UInt16 = 0x08, A: UInt16 = 0x10
    static let TAX: UInt16 = 0x00, TXA: UInt16 = 0x80

    /// Checks a program as seccomp(2) does; EINVAL for anything Linux refuses.
    init(seccomp program: [BPFInstruction]) throws(LinuxErrno) {
        let n = program.count
        guard n > 0, n <= Self.maxInstructions else { throw .EINVAL }
        // Scratch cells known written on every path into each instruction (Linux's
        // check_load_and_stores): all ones until a path reaches it.
        var written = [UInt16](repeating: 0xffff, count: n)
        written[0] = 0
        for pc in 0..<n {
            let i = program[pc]
            var out = written[pc]
            let cls = i.code & 0x07
            switch i.code {
            case Self.LD | Self.W | Self.ABS:
                guard i.k < Self.dataSize, i.k & 3 == 0 else { throw .EINVAL }
            case Self.LD | Self.W | Self.LEN, Self.LDX | Self.W | Self.LEN, Self.LD | Self.IMM, Self.LDX | Self.IMM,
                 Self.MISC | Self.TAX, Self.MISC | Self.TXA, Self.RET | Self.K, Self.RET | Self.A,
                 Self.ALU | Self.NEG:
                break
            case Self.LD | Self.MEM, Self.LDX | Self.MEM:
                guard i.k < 16, written[pc] & (1 << UInt16(i.k)) != 0 else { throw .EINVAL }
            case Self.ST, Self.STX:
                guard i.k < 16 else { throw .EINVAL }
                out |= 1 << UInt16(i.k)
            case _ where cls == Self.ALU:
                let op = i.code & 0xf0
                guard [Self.ADD, Self.SUB, Self.MUL, Self.DIV, Self.AND, Self.OR, Self.XOR, Self.LSH, Self.RSH].contains(op),
                      i.code & ~0xf8 == Self.ALU else { throw .EINVAL }
                if i.code & Self.X == 0 {
                    if op == Self.DIV && i.k == 0 { throw .EINVAL }
                    if (op == Self.LSH || op == Self.RSH) && i.k >= 32 { throw .EINVAL }
                }
            case Self.JMP | Self.JA:
                // The target is pc + 1 + k, and must be inside the program.
                guard UInt64(i.k) < UInt64(n - pc - 1) else { throw .EINVAL }
            case _ where cls == Self.JMP:
                let op = i.code & 0xf0
                guard [Self.JEQ, Self.JGT, Self.JGE, Self.JSET].contains(op), i.code & ~0xf8 == Self.JMP else { throw .EINVAL }
                guard pc + 1 + Int(i.jt) < n, pc + 1 + Int(i.jf) < n else { throw .EINVAL }
            default:
                throw .EINVAL
            }
            // What each successor may rely on: the meet over the paths into it.
            if cls == Self.RET { continue }
            if i.code == Self.JMP | Self.JA {
                let t = pc + 1 + Int(i.k)
                written[t] &= out
            } else if cls == Self.JMP {
                written[pc + 1 + Int(i.jt)] &= out
                written[pc + 1 + Int(i.jf)] &= out
            } else {
                guard pc + 1 < n else { throw .EINVAL } // falls off the end
                written[pc + 1] &= out
            }
        }
        guard program[n - 1].code & 0x07 == Self.RET else { throw .EINVAL }
        instructions = program
    }

    /// Runs the program over `data` (the 64 bytes of a seccomp_data); its return value.
    func run(_ data: UnsafeRawBufferPointer) -> UInt32 {
        var a: UInt32 = 0, x: UInt32 = 0
        var m = (UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0),
                 UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0))
        return withUnsafeMutableBytes(of: &m) { scratch -> UInt32 in
            var pc = 0
            // Checked at install: every jump goes forward and stays inside, the last is a RET.
            while true {
                let i = instructions[pc]
                pc += 1
                switch i.code {
                case Self.LD | Self.W | Self.ABS: a = data.load(fromByteOffset: Int(i.k), as: UInt32.self)
                case Self.LD | Self.W | Self.LEN: a = Self.dataSize
                case Self.LDX | Self.W | Self.LEN: x = Self.dataSize
                case Self.LD | Self.IMM: a = i.k
                case Self.LDX | Self.IMM: x = i.k
                case Self.LD | Self.MEM: a = scratch.load(fromByteOffset: Int(i.k) * 4, as: UInt32.self)
                case Self.LDX | Self.MEM: x = scratch.load(fromByteOffset: Int(i.k) * 4, as: UInt32.self)
                case Self.ST: scratch.storeBytes(of: a, toByteOffset: Int(i.k) * 4, as: UInt32.self)
                case Self.STX: scratch.storeBytes(of: x, toByteOffset: Int(i.k) * 4, as: UInt32.self)
                case Self.MISC | Self.TAX: x = a
                case Self.MISC | Self.TXA: a = x
                case Self.RET | Self.K: return i.k
                case Self.RET | Self.A: return a
                case Self.ALU | Self.NEG: a = 0 &- a
                case Self.JMP | Self.JA: pc += Int(i.k)
                default:
                    let operand = i.code & Self.X != 0 ? x : i.k
                    if i.code & 0x07 == Self.ALU {
                        switch i.code & 0xf0 {
                        case Self.ADD: a = a &+ operand
                        case Self.SUB: a = a &- operand
                        case Self.MUL: a = a &* operand
                        case Self.DIV:
                            if operand == 0 { return 0 } // as Linux: a division by X = 0 ends the program with 0
                            a = a / operand
                        case Self.AND: a &= operand
                        case Self.OR: a |= operand
                        case Self.XOR: a ^= operand
                        case Self.LSH: a = a << (operand & 31)
                        default: a = a >> (operand & 31) // RSH
                        }
                    } else {
                        let taken: Bool
                        switch i.code & 0xf0 {
                        case Self.JEQ: taken = a == operand
                        case Self.JGT: taken = a > operand
                        case Self.JGE: taken = a >= operand
                        default: taken = a & operand != 0 // JSET
                        }
                        pc += Int(taken ? i.jt : i.jf)
                    }
                }
            }
        }
    }
}
