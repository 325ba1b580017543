// A JSON reader (RFC 8259) and writer, for config.json, process.json, state.json and the
// control channel's messages. Every container start reads its config, and Foundation's
// JSONDecoder, reached through Decodable, spent about a millisecond of each on type metadata
// and the errors of its trial decodes; this reads the bytes once into JSONValue, which keeps
// booleans and numbers apart as the field checks need. (The binary links no Foundation.)
import Glibc

/// A parsed JSON value. Numbers are doubles, as JavaScript's: integers beyond 2^53 lose
/// their last digits.
public enum JSONValue: Equatable, Sendable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])
}

/// Why a text is not JSON, with the byte offset where that was seen.
public struct JSONSyntaxError: Error, CustomStringConvertible {
    let reason: String
    let offset: Int
    public var description: String { "\(reason) at byte \(offset)" }
}

extension JSONValue {
    /// Nesting deeper than this is refused (the parser recurses once per level).
    static let maximumDepth = 512

    /// An integer, exactly as long as it is within 2^53.
    public static func integer<T: BinaryInteger>(_ v: T) -> JSONValue { .number(Double(v)) }

    /// The member `key` of an object (nil for a missing one, or when this is no object).
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    /// A number that is an integer of type T (nil for any other value).
    public func integer<T: BinaryInteger>(_: T.Type = T.self) -> T? {
        if case .number(let n) = self, n.rounded() == n { return T(exactly: n) }
        return nil
    }

    /// The value as compact JSON text, object members sorted by key.
    public var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n):
            if n.rounded() == n, abs(n) < 9.2e18 { out += String(Int64(n)) } else { out += "\(n)" }
        case .string(let s): out += jsonString(s)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                v.write(to: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, k) in o.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                out += jsonString(k)
                out += ":"
                o[k]!.write(to: &out)
            }
            out += "}"
        }
    }

    /// The one JSON value `bytes` hold, surrounded by nothing but white space. A repeated
    /// key keeps its last value.
    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        var reader = JSONReader(bytes: bytes)
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.at == bytes.count else { throw reader.error("unexpected text after the value") }
        return value
    }
}

private struct JSONReader {
    let bytes: [UInt8]
    var at = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func error(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(reason: reason, offset: at) }

    mutating func skipSpace() {
        while at < bytes.count {
            switch bytes[at] {
            case 0x20, 0x09, 0x0a, 0x0d: at += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard at < bytes.count else { throw error("unexpected end of text") }
        switch bytes[at] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        guard at + n <= bytes.count else { throw error("unexpected end of text") }
        for i in 0..<n where bytes[at + i] != word.utf8Start[i] { throw error("unexpected character") }
        at += n
    }

    mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= JSONValue.maximumDepth else { throw error("nested too deeply") }
        at += 1
        var members: [String: JSONValue] = [:]
        skipSpace()
        if at < bytes.count && bytes[at] == UInt8(ascii: "}") { at += 1; return .object(members) }
        while true {
            skipSpace()
            guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let key = try string()
            skipSpace()
            guard at < bytes.count, bytes[at] == UInt8(ascii: ":") else { throw error("expected ':'") }
            at += 1
            skipSpace()
            members[key] = try value(depth: depth)
            skipSpace()
            guard at < bytes.count else { throw error("unexpected end of text") }
            if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
            guard bytes[at] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
            at += 1
            return .object(members)
        }
    }

    mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= JSONValue.maximumDepth else { throw error("nested too deeply") }
        at += 1
        var elements: [JSONValue] = []
        skipSpace()
        if at < bytes.count && bytes[at] == UInt8(ascii: "]") { at += 1; return .array(elements) }
        while true {
            skipSpace()
            elements.append(try value(depth: depth))
            skipSpace()
            guard at < bytes.count else { throw error("unexpected end of text") }
            if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
            guard bytes[at] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
            at += 1
            return .array(elements)
        }
    }

    /// A string, `at` on its opening quote.
    mutating func string() throws(JSONSyntaxError) -> String {
        at += 1
        var out: [UInt8] = []
        var runStart = at
        while true {
            guard at < bytes.count else { throw error("unterminated string") }
            let c = bytes[at]
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw error("control character in a string") }
            guard c == UInt8(ascii: "\\") else { at += 1; continue }
            out += bytes[runStart..<at]
            at += 1
            guard at < bytes.count else { throw error("unterminated string") }
            let e = bytes[at]
            at += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xd800..<0xdc00).contains(scalar) {
                    // A high surrogate: only with the low one after it is it a character.
                    guard at + 1 < bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate in a \\u escape")
                    }
                    at += 2
                    let low = try hex4()
                    guard (0xdc00..<0xe000).contains(low) else { throw error("unpaired surrogate in a \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                } else if (0xdc00..<0xe000).contains(scalar) {
                    throw error("unpaired surrogate in a \\u escape")
                }
                out += Array(String(Unicode.Scalar(scalar)!).utf8)
            default:
                at -= 1
                throw error("unknown escape")
            }
            runStart = at
        }
        out += bytes[runStart..<at]
        at += 1
        guard let s = String(validating: out, as: UTF8.self) else { throw error("a string is not UTF-8") }
        return s
    }

    mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard at + 4 <= bytes.count else { throw error("unexpected end of text") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[at]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw error("bad hex digit in a \\u escape")
            }
            v = v << 4 | UInt32(d)
            at += 1
        }
        return v
    }

    /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    mutating func number() throws(JSONSyntaxError) -> Double {
        let start = at
        func digits(_ r: inout JSONReader) -> Int {
            let from = r.at
            while r.at < r.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(r.bytes[r.at]) { r.at += 1 }
            return r.at - from
        }
        if bytes[at] == UInt8(ascii: "-") { at += 1 }
        guard at < bytes.count else { throw error("unexpected end of text") }
        if bytes[at] == UInt8(ascii: "0") {
            at += 1
        } else if digits(&self) == 0 {
            throw error("expected a digit")
        }
        if at < bytes.count && bytes[at] == UInt8(ascii: ".") {
            at += 1
            guard digits(&self) > 0 else { throw error("expected a digit") }
        }
        if at < bytes.count && (bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E")) {
            at += 1
            if at < bytes.count && (bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-")) { at += 1 }
            guard digits(&self) > 0 else { throw error("expected a digit") }
        }
        guard let v = Double(String(decoding: bytes[start..<at], as: UTF8.self)), v.isFinite else {
            at = start
            throw error("number out of range")
        }
        return v
    }
}
