/// A value a rule reads or computes: the JSON types plus bytes (a payload that is not UTF-8, or what
/// `base64_decode` / `hex_decode` return), with integers and decimals kept apart so that `7` stays `7`
/// through a rule and comes out as `7`, not `7.0`.
///
/// Objects keep their key order (the order of the payload, or of the SELECT list), because rule outputs
/// are JSON that people read and diff. Equality (`==`) is structural — `.int(1) != .double(1.0)` — which is
/// what tests want; the language's own `=` compares numbers by value (see `RuleEvaluator`).
public enum RuleValue: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case array([RuleValue])
    case object([(String, RuleValue)])

    /// The member named `key` of an object (the first one, should the JSON repeat a key); nil for a missing
    /// key and for values that are not objects.
    public subscript(key: String) -> RuleValue? {
        guard case .object(let members) = self else { return nil }
        // Comparing lengths first (O(1) for native strings) skips most full comparisons: this is the lookup
        // behind every `payload.x` of every rule.
        let length = key.utf8.count
        for index in members.indices where members[index].0.utf8.count == length && members[index].0 == key {
            return members[index].1
        }
        return nil
    }

    /// The type's name as error messages and `is_*` documentation spell it.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .bytes: "bytes"
        case .array: "array"
        case .object: "object"
        }
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension RuleValue: Equatable {
    public static func == (lhs: RuleValue, rhs: RuleValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.bytes(let a), .bytes(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }
}

/// Literals for building values in code and tests. Not `nil`: `RuleValue?` is common, and a `nil` that
/// could mean either `.none` or `.null` invites mistakes.
extension RuleValue: ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: RuleValue...) { self = .array(elements) }
    /// Keeps the literal's order, unlike a Swift dictionary.
    public init(dictionaryLiteral elements: (String, RuleValue)...) { self = .object(elements) }
}

// MARK: JSON text

extension RuleValue: CustomStringConvertible {
    public var description: String { jsonText }

    /// Compact JSON. Bytes become a base64 string (the only lossless choice for bytes that are not text;
    /// `str(...)` turns UTF-8 bytes into a string first when text is wanted). A non-finite double, which
    /// JSON cannot spell, becomes `null` (the evaluator never produces one; this only guards values built
    /// by callers).
    public var jsonText: String {
        var out = ""
        appendJSON(to: &out)
        return out
    }

    func appendJSON(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .int(let number): out += String(number)
        case .double(let number): out += number.isFinite ? Self.text(of: number) : "null"
        case .string(let text): Self.appendJSONString(text, to: &out)
        case .bytes(let bytes): Self.appendJSONString(RuleEncoding.base64Encode(bytes), to: &out)
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                element.appendJSON(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, (name, value)) in members.enumerated() {
                if index > 0 { out += "," }
                Self.appendJSONString(name, to: &out)
                out += ":"
                value.appendJSON(to: &out)
            }
            out += "}"
        }
    }

    /// Swift's shortest round-trip form, which is valid JSON (`2.5`, `100.0`, `1e+20`, `1e-07`) and keeps a
    /// decimal a decimal when parsed again.
    static func text(of number: Double) -> String { number.description }

    static func appendJSONString(_ text: String, to out: inout String) {
        out += "\""
        var pendingStart = text.utf8.startIndex
        let utf8 = text.utf8
        var index = utf8.startIndex
        // Copies runs of ordinary characters at once; only quotes, backslashes and controls are escaped.
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 {
                out += text[pendingStart..<index]
                switch byte {
                case UInt8(ascii: "\""): out += "\\\""
                case UInt8(ascii: "\\"): out += "\\\\"
                case UInt8(ascii: "\n"): out += "\\n"
                case UInt8(ascii: "\r"): out += "\\r"
                case UInt8(ascii: "\t"): out += "\\t"
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    out += "\\u00"
                    out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                    out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xf)]))
                }
                index = utf8.index(after: index)
                pendingStart = index
            } else {
                index = utf8.index(after: index)
            }
        }
        out += text[pendingStart..<utf8.endIndex]
        out += "\""
    }
}
