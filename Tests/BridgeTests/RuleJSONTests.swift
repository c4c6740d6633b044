@testable import Bridge
import Foundation
import Testing

@Suite struct RuleJSONTests {
    private func parse(_ text: String) -> RuleValue? { RuleValue.parseJSON(Array(text.utf8)) }

    @Test func scalarsKeepIntegersApartFromDecimals() {
        #expect(parse("1") == .int(1))
        #expect(parse("1.0") == .double(1.0))
        #expect(parse("1e2") == .double(100))
        #expect(parse("-0") == .int(0))
        #expect(parse("-0.0") == .double(-0.0))
        #expect(parse("9223372036854775807") == .int(.max))
        #expect(parse("-9223372036854775808") == .int(.min))
        #expect(parse("9223372036854775808") == .double(9_223_372_036_854_775_808.0))
        #expect(parse("123456789012345678901234567890") == .double(1.2345678901234568e29))
        #expect(parse("true") == .bool(true))
        #expect(parse("false") == .bool(false))
        #expect(parse("null") == .null)
        #expect(parse(" \t\r\n \"x\" \n") == .string("x"))
    }

    @Test func numbersWithFractionsAndExponentsAreCorrectlyRounded() {
        let cases: [(String, Double)] = [
            ("0.1", 0.1), ("0.30000000000000004", 0.1 + 0.2), ("1E+3", 1000), ("2.5e-3", 0.0025), ("-12.75", -12.75),
            ("1.7976931348623157e308", .greatestFiniteMagnitude), ("5e-324", .leastNonzeroMagnitude), ("0.000001", 1e-6),
            ("3.141592653589793238462643383279", 3.141592653589793), ("1e22", 1e22), ("1e23", 1e23), ("0e10", 0),
        ]
        for (text, expected) in cases {
            #expect(parse(text) == .double(expected), "\(text)")
        }
        #expect(parse("9007199254740993") == .int(9_007_199_254_740_993), "above 2^53 and still exact")
        #expect(parse("1e400") == nil, "beyond Double: no value can hold it")
    }

    @Test func stringEscapes() {
        #expect(parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{08}\u{0c}\n\r\t"))
        #expect(parse(#""caf\u00e9 \u00E9""#) == .string("café é"))
        #expect(parse(#""\ud83d\ude00!""#) == .string("😀!"))
        #expect(parse("\"ünïcødé 😀\"") == .string("ünïcødé 😀"))
        #expect(parse(#""\u0000""#) == .string("\u{0}"))
        // Unpaired surrogates are not text.
        #expect(parse(#""\ud83d""#) == nil)
        #expect(parse(#""\ud83dx""#) == nil)
        #expect(parse(#""\ud83d\u0041""#) == nil)
        #expect(parse(#""\ude00""#) == nil)
        #expect(parse(#""\u12""#) == nil)
        #expect(parse(#""\x""#) == nil)
        #expect(parse("\"tab\there\"") == nil, "a raw control character")
        #expect(RuleValue.parseJSON([0x22, 0xff, 0x22]) == nil, "invalid UTF-8")
        #expect(RuleValue.parseJSON([0x22, 0x5c, 0x6e, 0xc3, 0x22]) == nil, "invalid UTF-8 after an escape")
    }

    @Test func containersKeepOrderAndFirstKeyWins() throws {
        let value = try #require(parse(#"{"b": [1, 2.5, "x", null, {}], "a": {"c": true}, "b": 3}"#))
        guard case .object(let members) = value else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.0) == ["b", "a", "b"])
        #expect(value["b"] == [1, 2.5, "x", .null, .object([])])
        #expect(value["a"]?["c"] == .bool(true))
        #expect(parse("[]") == .array([]))
        #expect(parse("{}") == .object([]))
    }

    @Test func invalidTextIsNil() {
        let invalid = [
            "", " ", "01", "-01", "1.", ".5", "+1", "-", "1e", "1e+", "[1,]", "[,1]", #"{"a":1,}"#, "{a:1}", "'x'", "[1 2]", "nul", "tru",
            "\"abc", "1 2", "NaN", "Infinity", "[", "{", #"{"a"}"#, #"{"a":}"#, "]", "[1]]", "\u{feff}1", "0x10", "1_000",
        ]
        for text in invalid {
            #expect(parse(text) == nil, "\(text)")
        }
    }

    @Test func nestingIsBounded() {
        let limit = RuleValue.jsonNestingMaximum
        #expect(limit == 64)
        #expect(parse(String(repeating: "[", count: limit) + String(repeating: "]", count: limit)) != nil)
        #expect(parse(String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)) == nil)
        #expect(parse(String(repeating: #"{"a":"#, count: limit) + "1" + String(repeating: "}", count: limit)) != nil)
        #expect(parse(String(repeating: #"{"a":"#, count: limit + 1) + "1" + String(repeating: "}", count: limit + 1)) == nil)
        // Far deeper than the stack could take, were the parser not bounded.
        #expect(parse(String(repeating: "[", count: 1_000_000)) == nil)
    }

    @Test func jsonTextRoundTrips() throws {
        let text = #"{"s":"q\"b\\n\n\u0001 é 😀","i":-7,"d":2.5,"e":1e-7,"w":100.0,"b":[true,false,null],"o":{}}"#
        let value = try #require(parse(text))
        #expect(value.jsonText == #"{"s":"q\"b\\n\n\u0001 é 😀","i":-7,"d":2.5,"e":1e-07,"w":100.0,"b":[true,false,null],"o":{}}"#)
        #expect(parse(value.jsonText) == value)
        // Foundation reads what we write.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(value.jsonText.utf8)) as? [String: Any])
        #expect(object["s"] as? String == "q\"b\\n\n\u{1} é 😀")
        #expect(RuleValue.bytes([0, 1, 255]).jsonText == #""AAH/""#)
        #expect(RuleValue.double(.infinity).jsonText == "null")
    }

    @Test func arbitraryBytesNeverCrashTheParser() {
        var generator = SplitMix64(seed: 42)
        let alphabet = Array(#"{}[]",:\\u0123456789.eE+-truefalsn xyz"#.utf8) + [0x00, 0x1f, 0x80, 0xc3, 0xff]
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 24)
            let bytes = (0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            if let value = RuleValue.parseJSON(bytes) {
                // Whatever parses survives a round trip through the encoder.
                #expect(RuleValue.parseJSON(Array(value.jsonText.utf8)) == value, "\(bytes)")
            }
        }
    }
}

/// A small deterministic generator (Vigna's SplitMix64), so that a failure reproduces.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
