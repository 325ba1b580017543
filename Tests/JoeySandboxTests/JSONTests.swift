// The JSON reader config.json goes through (RFC 8259's grammar, accepted and refused), and
// the writer of state.json and the control channel's messages.
@testable import JoeyOCI
import Testing

@Suite("JSON reader")
struct JSONTests {
    func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    @Test("values, escapes and white space")
    func accepted() throws {
        #expect(try parse(" null ") == .null)
        #expect(try parse("true") == .bool(true))
        #expect(try parse("\tfalse\r\n") == .bool(false))
        #expect(try parse("0") == .number(0))
        #expect(try parse("-0.5e2") == .number(-50))
        #expect(try parse("1E+3") == .number(1000))
        #expect(try parse("9223372036854775807") == .number(9223372036854775807))
        #expect(try parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{8}\u{c}\n\r\t"))
        #expect(try parse(#""\u00e9\u20AC\ud83d\ude00 é""#) == .string("é€😀 é"))
        #expect(try parse(#""\u0000""#) == .string("\u{0}"))
        #expect(try parse("[]") == .array([]))
        #expect(try parse("{}") == .object([:]))
        #expect(try parse(#"[1, "x", [true], {"k": null}]"#) == .array([.number(1), .string("x"), .array([.bool(true)]), .object(["k": .null])]))
        #expect(try parse(#"{"a": 1, "b": {"c": [2]}, "a": 3}"#) == .object(["a": .number(3), "b": .object(["c": .array([.number(2)])])]))
        let deep = String(repeating: "[", count: JSONValue.maximumDepth) + String(repeating: "]", count: JSONValue.maximumDepth)
        #expect(throws: Never.self) { try parse(deep) }
    }

    @Test("what is not JSON is refused, with where")
    func refused() {
        for text in ["", " ", "nul", "True", "01", "-", "1.", ".5", "+1", "1e", "0x10", "1e400", "NaN",
                     "[1,]", "[1 2]", "{\"a\" 1}", "{\"a\":1,}", "{a:1}", "{\"a\":1", "[", "\"abc",
                     "\"a\u{1}b\"", #""\x""#, #""\u12""#, #""\u12G4""#, #""\ud800""#, #""\udc00x""#, #""\ud800\u0041""#,
                     "1 2", "{} x", "'a'"] {
            #expect(throws: JSONSyntaxError.self, "\(text)") { try parse(text) }
        }
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse([0x22, 0xff, 0x22]) } // not UTF-8
        let tooDeep = String(repeating: "[", count: JSONValue.maximumDepth + 1) + String(repeating: "]", count: JSONValue.maximumDepth + 1)
        #expect(throws: JSONSyntaxError.self) { try parse(tooDeep) }
        do {
            _ = try parse("{\"a\": [1, 2,, 3]}")
            Issue.record("accepted")
        } catch {
            #expect(error.offset == 12 && error.description == "unexpected character at byte 12")
        }
    }

    @Test("written text reads back as the same value; state.json as before")
    func written() throws {
        let values: [JSONValue] = [
            .null, .bool(true), .number(0), .number(-12), .integer(UInt64(1) << 53), .number(0.25), .number(-1.5e-7),
            .string("a\"b\\c\n\u{1}\u{7f}é😀"), .array([]), .object([:]),
            .object(["b": .array([.integer(Int32.min), .string("")]), "a": .object(["x": .null])]),
        ]
        for v in values { #expect(try JSONValue.parse(Array(v.text.utf8)) == v, "\(v.text)") }
        #expect(JSONValue.object(["b": .integer(2), "a": .bool(false), "c": .array([.integer(UInt32.max)])]).text
                == #"{"a":false,"b":2,"c":[4294967295]}"#)
        // A state.json as JSONEncoder (sorted keys) wrote it before, read and written again.
        let text = #"{"annotations":{"k":"v"},"bundle":"\/b","created":"2026-12-05T12:00:00.000000001Z","id":"c1","ociVersion":"1.0.2","owner":"","pid":42,"pidStartTime":123456,"rootfs":"\/b\/rootfs","status":"created"}"#
        let state = try #require(ContainerState(json: try JSONValue.parse(Array(text.utf8))))
        #expect(state.id == "c1" && state.pid == 42 && state.pidStartTime == 123456 && state.bundle == "/b" && state.annotations == ["k": "v"])
        #expect(state.json.text == text.replacingOccurrences(of: "\\/", with: "/"))
        #expect(ContainerState(json: try JSONValue.parse(Array(#"{"id":"c1"}"#.utf8))) == nil)
        #expect(ContainerState(json: try JSONValue.parse(Array(text.replacingOccurrences(of: "42", with: "4.5").utf8))) == nil)
        #expect(JSONValue.number(4.5).integer(Int32.self) == nil && JSONValue.number(-1).integer(UInt32.self) == nil)
    }
}
