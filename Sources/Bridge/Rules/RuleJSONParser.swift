extension RuleValue {
    /// How deep arrays and objects may nest in a parsed document. The parser recurses once per level, so the
    /// bound is what keeps a hostile payload (`[[[[...`) from exhausting an event loop's stack; 64 is far
    /// beyond what devices send. A deeper document is not JSON to a rule: its payload is the raw string.
    public static let jsonNestingMaximum = 64

    /// Parses one JSON text (RFC 8259: any value, surrounded by optional whitespace) — nil when the bytes
    /// are not JSON: bad syntax, invalid UTF-8, an unpaired UTF-16 surrogate escape, nesting deeper than
    /// `jsonNestingMaximum`, or a number beyond Double's range (`1e400`, which no value here can hold).
    ///
    /// Numbers without a fraction or exponent that fit an Int64 become `.int`; every other number becomes
    /// `.double` (an integer too large for Int64 too). Repeated object keys are kept as they are; lookups
    /// see the first.
    public static func parseJSON(_ bytes: some Collection<UInt8>) -> RuleValue? {
        if let result = bytes.withContiguousStorageIfAvailable({ buffer in parseJSON(buffer: buffer) }) {
            return result
        }
        return Array(bytes).withUnsafeBufferPointer { parseJSON(buffer: $0) }
    }

    static func parseJSON(buffer: UnsafeBufferPointer<UInt8>) -> RuleValue? {
        var parser = JSONParser(bytes: buffer)
        parser.skipWhitespace()
        guard let value = parser.parseValue(depth: 0) else { return nil }
        parser.skipWhitespace()
        guard parser.position == buffer.count else { return nil }
        return value
    }
}

/// A recursive-descent parser over contiguous bytes: no Foundation, no intermediate tokens, and strings
/// without escapes are made straight from the input slice.
private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0a, 0x0d: position += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) -> RuleValue? {
        guard position < bytes.count else { return nil }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            guard depth < RuleValue.jsonNestingMaximum else { return nil }
            return parseObject(depth: depth + 1)
        case UInt8(ascii: "["):
            guard depth < RuleValue.jsonNestingMaximum else { return nil }
            return parseArray(depth: depth + 1)
        case UInt8(ascii: "\""):
            return parseString().map(RuleValue.string)
        case UInt8(ascii: "t"):
            return literal("true", .bool(true))
        case UInt8(ascii: "f"):
            return literal("false", .bool(false))
        case UInt8(ascii: "n"):
            return literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return parseNumber()
        default:
            return nil
        }
    }

    private mutating func literal(_ word: StaticString, _ value: RuleValue) -> RuleValue? {
        let count = word.utf8CodeUnitCount
        guard bytes.count - position >= count else { return nil }
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: count)
        for offset in 0..<count where bytes[position + offset] != expected[offset] { return nil }
        position += count
        return value
    }

    private mutating func parseObject(depth: Int) -> RuleValue? {
        position += 1  // {
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object([])
        }
        // Room for a typical device message up front: growing 1, 2, 4, 8 costs more than the spare slots.
        var members: [(String, RuleValue)] = []
        members.reserveCapacity(8)
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\""), let key = parseString() else { return nil }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return nil }
            position += 1
            skipWhitespace()
            guard let value = parseValue(depth: depth) else { return nil }
            members.append((key, value))
            skipWhitespace()
            guard position < bytes.count else { return nil }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return .object(members)
            default: return nil
            }
        }
    }

    private mutating func parseArray(depth: Int) -> RuleValue? {
        position += 1  // [
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array([])
        }
        var elements: [RuleValue] = []
        elements.reserveCapacity(4)
        while true {
            skipWhitespace()
            guard let value = parseValue(depth: depth) else { return nil }
            elements.append(value)
            skipWhitespace()
            guard position < bytes.count else { return nil }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                return .array(elements)
            default: return nil
            }
        }
    }

    // MARK: Strings

    /// At the opening quote. The common case — no escapes — is one scan and one String; escapes go through
    /// a byte buffer. Either way the result must be valid UTF-8.
    private mutating func parseString() -> String? {
        position += 1  // "
        let start = position
        var ascii = true
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<position])
                position += 1
                return ascii ? String(decoding: slice, as: UTF8.self) : String(validating: slice, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") { return parseEscapedString(from: start) }
            if byte < 0x20 { return nil }
            if byte >= 0x80 { ascii = false }
            position += 1
        }
        return nil
    }

    private mutating func parseEscapedString(from start: Int) -> String? {
        var text = Array(bytes[start..<position])
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return String(validating: text, as: UTF8.self)
            case UInt8(ascii: "\\"):
                position += 1
                guard position < bytes.count else { return nil }
                let escaped = bytes[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(escaped)
                case UInt8(ascii: "b"): text.append(0x08)
                case UInt8(ascii: "f"): text.append(0x0c)
                case UInt8(ascii: "n"): text.append(0x0a)
                case UInt8(ascii: "r"): text.append(0x0d)
                case UInt8(ascii: "t"): text.append(0x09)
                case UInt8(ascii: "u"):
                    guard let scalar = parseUnicodeEscape() else { return nil }
                    text.append(contentsOf: UTF8.encode(scalar)!)
                default: return nil
                }
            default:
                if byte < 0x20 { return nil }
                text.append(byte)
                position += 1
            }
        }
        return nil
    }

    /// After `\u`: four hex digits, and for a high surrogate the `\uDC00`–`\uDFFF` that must follow it.
    private mutating func parseUnicodeEscape() -> Unicode.Scalar? {
        guard let first = parseHex4() else { return nil }
        switch first {
        case 0xd800...0xdbff:
            guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else { return nil }
            position += 2
            guard let second = parseHex4(), (0xdc00...0xdfff).contains(second) else { return nil }
            return Unicode.Scalar(0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00))
        case 0xdc00...0xdfff:
            return nil
        default:
            return Unicode.Scalar(first)
        }
    }

    private mutating func parseHex4() -> UInt32? {
        guard bytes.count - position >= 4 else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = RuleEncoding.hexDigitValue(bytes[position]) else { return nil }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    // MARK: Numbers

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. Integers accumulate directly; a decimal whose
    /// digits fit 2^53 with a small power of ten is computed exactly (one correctly rounded operation on two
    /// exact doubles); anything else goes to the standard library's correctly rounded text conversion.
    private mutating func parseNumber() -> RuleValue? {
        let start = position
        var negative = false
        if bytes[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        guard position < bytes.count, isDigit(bytes[position]) else { return nil }
        var mantissa: UInt64 = 0
        var significantDigits = 0
        var mantissaOverflow = false
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            guard position >= bytes.count || !isDigit(bytes[position]) else { return nil }  // no leading zeros
        } else {
            while position < bytes.count, isDigit(bytes[position]) {
                accumulate(bytes[position], into: &mantissa, digits: &significantDigits, overflow: &mantissaOverflow)
                position += 1
            }
        }
        var decimalExponent = 0
        var isInteger = true
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard position < bytes.count, isDigit(bytes[position]) else { return nil }
            while position < bytes.count, isDigit(bytes[position]) {
                accumulate(bytes[position], into: &mantissa, digits: &significantDigits, overflow: &mantissaOverflow)
                decimalExponent -= 1
                position += 1
            }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            var exponentNegative = false
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                exponentNegative = bytes[position] == UInt8(ascii: "-")
                position += 1
            }
            guard position < bytes.count, isDigit(bytes[position]) else { return nil }
            var exponent = 0
            while position < bytes.count, isDigit(bytes[position]) {
                // Clamped: an exponent past ±100000 is infinite or zero whatever the digits are.
                if exponent < 100_000 { exponent = exponent * 10 + Int(bytes[position] - UInt8(ascii: "0")) }
                position += 1
            }
            decimalExponent += exponentNegative ? -exponent : exponent
        }
        if isInteger && !mantissaOverflow {
            if negative {
                if mantissa <= UInt64(Int64.max) { return .int(-Int64(mantissa)) }
                if mantissa == UInt64(Int64.max) + 1 { return .int(Int64.min) }
            } else if mantissa <= UInt64(Int64.max) {
                return .int(Int64(mantissa))
            }
        }
        if !mantissaOverflow, mantissa < 1 << 53, (-22...22).contains(decimalExponent) {
            var value = Double(mantissa)
            let scale = Self.powersOfTen[abs(decimalExponent)]
            value = decimalExponent < 0 ? value / scale : value * scale
            return .double(negative ? -value : value)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { return nil }
        return .double(value)
    }

    /// Only the first 19 significant digits fit; past them the fast path is off (`overflow`), and the slow
    /// path reparses the text.
    private func accumulate(_ digit: UInt8, into mantissa: inout UInt64, digits: inout Int, overflow: inout Bool) {
        if digits == 0 && digit == UInt8(ascii: "0") { return }  // leading zeros of a fraction
        digits += 1
        let (times10, overflow1) = mantissa.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
        if overflow1 || overflow2 { overflow = true } else { mantissa = sum }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// Exactly representable powers of ten (10^22 is the largest).
    private static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]
}
