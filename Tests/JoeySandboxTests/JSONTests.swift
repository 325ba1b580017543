// The JSON reader config.json goes through: RFC 8259's grammar, accepted and refused.
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
}
