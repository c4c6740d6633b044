import Foundation

/// The functions a rule may call. Names are case-insensitive.
///
/// A null argument makes the result null, except for the functions that are about null: the `is_*`
/// tests, `coalesce`, `json_encode` (which writes `null`) and `concat` (which skips nulls, as SQL's
/// `concat` does). `topic_level(n)` and `regex_match(text, 'pattern')` are compiled specially (see
/// `RuleCompiler`) and are not cases here.
enum RuleFunction: String, Sendable, CaseIterable {
    // Math.
    case abs, round, floor, ceil, sqrt, min, max
    // Strings.
    case lower, upper, trim, concat, substr, split, replace, length
    // Types.
    case isNum = "is_num", isStr = "is_str", isNull = "is_null", isBool = "is_bool", isArray = "is_array", isObject = "is_object"
    case str, int, float, bool, coalesce
    // JSON.
    case jsonDecode = "json_decode", jsonEncode = "json_encode"
    // Time.
    case nowMilliseconds = "now_ms", formatDate = "format_date"
    // Encodings.
    case base64Encode = "base64_encode", base64Decode = "base64_decode", hexEncode = "hex_encode", hexDecode = "hex_decode"

    /// How many arguments the function takes (an upper bound of nil: any number).
    var arity: (minimum: Int, maximum: Int?) {
        switch self {
        case .nowMilliseconds: (0, 0)
        case .round, .formatDate: (1, 2)
        case .substr: (2, 3)
        case .split: (2, 2)
        case .replace: (3, 3)
        case .min, .max, .concat, .coalesce: (1, nil)
        default: (1, 1)
        }
    }

    private var propagatesNull: Bool {
        switch self {
        case .isNum, .isStr, .isNull, .isBool, .isArray, .isObject, .coalesce, .jsonEncode, .concat: false
        default: true
        }
    }

    /// Whether the compiler may compute a call with constant arguments once (everything but the clock).
    var isDeterministic: Bool { self != .nowMilliseconds }

    func apply(to arguments: [RuleValue], at location: RuleSourceLocation) throws(RuleEvaluationError) -> RuleValue {
        if propagatesNull && arguments.contains(where: \.isNull) { return .null }
        let name = rawValue
        func mismatch(_ expected: String, _ value: RuleValue) -> RuleEvaluationError {
            RuleEvaluationError(.typeMismatch, "\(name) needs \(expected), found \(value.typeName)", at: location)
        }
        func invalid(_ message: String) -> RuleEvaluationError {
            RuleEvaluationError(.invalidArgument, "\(name): \(message)", at: location)
        }
        func text(_ value: RuleValue) throws(RuleEvaluationError) -> String {
            guard case .string(let text) = value else { throw mismatch("a string", value) }
            return text
        }
        func integer(_ value: RuleValue) throws(RuleEvaluationError) -> Int64 {
            guard case .int(let number) = value else { throw mismatch("an integer", value) }
            return number
        }
        func bytes(_ value: RuleValue) throws(RuleEvaluationError) -> [UInt8] {
            switch value {
            case .string(let text): return Array(text.utf8)
            case .bytes(let bytes): return bytes
            default: throw mismatch("a string or bytes", value)
            }
        }

        switch self {
        case .abs:
            switch arguments[0] {
            case .int(let number):
                guard number != .min else { throw RuleEvaluationError(.overflow, "integer overflow in abs", at: location) }
                return .int(Swift.abs(number))
            case .double(let number): return .double(Swift.abs(number))
            default: throw mismatch("a number", arguments[0])
            }
        case .round, .floor, .ceil:
            let rule: FloatingPointRoundingRule = self == .floor ? .down : (self == .ceil ? .up : .toNearestOrAwayFromZero)
            let digits = arguments.count > 1 ? try integer(arguments[1]) : 0
            guard (0...15).contains(digits) else { throw invalid("the number of decimals must be 0 to 15, found \(digits)") }
            switch arguments[0] {
            case .int: return arguments[0]
            case .double(let number):
                if digits > 0 {
                    let scale = pow(10, Double(digits))
                    let scaled = (number * scale).rounded(rule) / scale
                    return .double(scaled.isFinite ? scaled : number)
                }
                return Self.integral(number.rounded(rule))
            default: throw mismatch("a number", arguments[0])
            }
        case .sqrt:
            guard let number = RuleOperators.number(arguments[0]) else { throw mismatch("a number", arguments[0]) }
            guard number >= 0 else { throw invalid("the square root of a negative number") }
            return .double(number.squareRoot())
        case .min, .max:
            var best = arguments[0]
            for candidate in arguments.dropFirst() {
                guard let order = RuleOperators.order(candidate, best) else {
                    throw RuleEvaluationError(.typeMismatch, "\(name) cannot order \(candidate.typeName) and \(best.typeName)", at: location)
                }
                if self == .min ? order < 0 : order > 0 { best = candidate }
            }
            guard RuleOperators.order(best, best) != nil else { throw mismatch("numbers or strings", best) }
            return best

        case .lower: return .string(try text(arguments[0]).lowercased())
        case .upper: return .string(try text(arguments[0]).uppercased())
        case .trim: return .string(try text(arguments[0]).trimmingCharacters(in: .whitespacesAndNewlines))
        case .concat:
            var result = ""
            for argument in arguments where !argument.isNull {
                result += try Self.string(argument, location: location)
            }
            return .string(result)
        case .substr:
            // SQL: 1-based, in characters; the window [start, start + length) is cut to the string.
            let characters = Array(try text(arguments[0]))
            let start = try integer(arguments[1])
            var end = Int64(characters.count) + 1
            if arguments.count > 2 {
                let length = try integer(arguments[2])
                guard length >= 0 else { throw invalid("the length must not be negative, found \(length)") }
                let (sum, overflow) = start.addingReportingOverflow(length)
                end = Swift.min(end, overflow ? .max : sum)
            }
            let from = Swift.max(start, 1)
            guard from < end else { return .string("") }
            return .string(String(characters[Int(from - 1)..<Int(end - 1)]))
        case .split:
            let separator = try text(arguments[1])
            guard !separator.isEmpty else { throw invalid("the separator must not be empty") }
            return .array(try text(arguments[0]).split(separator: separator, omittingEmptySubsequences: false).map { .string(String($0)) })
        case .replace:
            let original = try text(arguments[0])
            let target = try text(arguments[1])
            guard !target.isEmpty else { return .string(original) }
            return .string(original.replacingOccurrences(of: target, with: try text(arguments[2])))
        case .length:
            switch arguments[0] {
            case .string(let text): return .int(Int64(text.count))
            case .bytes(let bytes): return .int(Int64(bytes.count))
            case .array(let elements): return .int(Int64(elements.count))
            case .object(let members): return .int(Int64(members.count))
            default: throw mismatch("a string, bytes, an array or an object", arguments[0])
            }

        case .isNum:
            switch arguments[0] {
            case .int, .double: return .bool(true)
            default: return .bool(false)
            }
        case .isStr:
            if case .string = arguments[0] { return .bool(true) }
            return .bool(false)
        case .isNull: return .bool(arguments[0].isNull)
        case .isBool:
            if case .bool = arguments[0] { return .bool(true) }
            return .bool(false)
        case .isArray:
            if case .array = arguments[0] { return .bool(true) }
            return .bool(false)
        case .isObject:
            if case .object = arguments[0] { return .bool(true) }
            return .bool(false)
        case .coalesce:
            return arguments.first { !$0.isNull } ?? .null
        case .str:
            return .string(try Self.string(arguments[0], location: location))
        case .int:
            switch arguments[0] {
            case .int: return arguments[0]
            case .double(let number): return try Self.truncated(number, location: location)
            case .bool(let flag): return .int(flag ? 1 : 0)
            case .string(let text):
                let trimmed = text.trimmingCharacters(in: .whitespaces)
                if let number = Int64(trimmed) { return .int(number) }
                guard let number = Self.decimal(trimmed) else { throw invalid("'\(trimmed)' is not a number") }
                return try Self.truncated(number, location: location)
            default: throw mismatch("a number, string or boolean", arguments[0])
            }
        case .float:
            switch arguments[0] {
            case .int(let number): return .double(Double(number))
            case .double: return arguments[0]
            case .bool(let flag): return .double(flag ? 1 : 0)
            case .string(let text):
                let trimmed = text.trimmingCharacters(in: .whitespaces)
                guard let number = Self.decimal(trimmed) else { throw invalid("'\(trimmed)' is not a number") }
                return .double(number)
            default: throw mismatch("a number, string or boolean", arguments[0])
            }
        case .bool:
            switch arguments[0] {
            case .bool: return arguments[0]
            case .int(let number) where number == 0 || number == 1: return .bool(number == 1)
            case .double(let number) where number == 0 || number == 1: return .bool(number == 1)
            case .string(let text) where text.lowercased() == "true": return .bool(true)
            case .string(let text) where text.lowercased() == "false": return .bool(false)
            case .int, .double, .string: throw invalid("\(arguments[0].jsonText) is not true, false, 1 or 0")
            default: throw mismatch("a boolean, number or string", arguments[0])
            }

        case .jsonDecode:
            guard let value = RuleValue.parseJSON(try bytes(arguments[0])) else { throw invalid("not valid JSON") }
            return value
        case .jsonEncode:
            return .string(arguments[0].jsonText)

        case .nowMilliseconds:
            return .int(Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
        case .formatDate:
            let milliseconds: Int64
            switch arguments[0] {
            case .int(let number): milliseconds = number
            case .double(let number):
                guard case .int(let whole) = try Self.truncated(number, location: location) else { throw mismatch("a number", arguments[0]) }
                milliseconds = whole
            default: throw mismatch("milliseconds (a number)", arguments[0])
            }
            let format = arguments.count > 1 ? try text(arguments[1]) : "iso8601"
            do {
                return .string(try RuleDateFormat.format(milliseconds: milliseconds, format))
            } catch {
                throw invalid(error.message)
            }

        case .base64Encode: return .string(RuleEncoding.base64Encode(try bytes(arguments[0])))
        case .base64Decode:
            guard let decoded = RuleEncoding.base64Decode(try text(arguments[0])) else { throw invalid("not valid base64") }
            return .bytes(decoded)
        case .hexEncode: return .string(RuleEncoding.hexEncode(try bytes(arguments[0])))
        case .hexDecode:
            guard let decoded = RuleEncoding.hexDecode(try text(arguments[0])) else { throw invalid("not valid hex") }
            return .bytes(decoded)
        }
    }

    /// A whole-number double as an integer when it fits (so `floor(2.7)` is `2`, not `2.0`), else itself.
    private static func integral(_ number: Double) -> RuleValue {
        if number >= -9_223_372_036_854_775_808.0 && number < 9_223_372_036_854_775_808.0 { return .int(Int64(number)) }
        return .double(number)
    }

    private static func truncated(_ number: Double, location: RuleSourceLocation) throws(RuleEvaluationError) -> RuleValue {
        let whole = number.rounded(.towardZero)
        guard whole >= -9_223_372_036_854_775_808.0 && whole < 9_223_372_036_854_775_808.0 else {
            throw RuleEvaluationError(.overflow, "\(number) does not fit an integer", at: location)
        }
        return .int(Int64(whole))
    }

    /// A finite decimal in JSON-like notation (Swift's parser also takes "nan", "inf" and hex, refused here).
    private static func decimal(_ text: String) -> Double? {
        guard !text.isEmpty, text.utf8.allSatisfy({ byte in
            (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e")
                || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
        }), let number = Double(text), number.isFinite else { return nil }
        return number
    }

    /// The text of a value, as `str` and `concat` make it: a string as it is, numbers and booleans as
    /// written in JSON, bytes as UTF-8 text (an error when they are not UTF-8), arrays and objects as JSON.
    static func string(_ value: RuleValue, location: RuleSourceLocation) throws(RuleEvaluationError) -> String {
        switch value {
        case .string(let text): return text
        case .bytes(let bytes):
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw RuleEvaluationError(.invalidArgument, "bytes that are not UTF-8 have no text (hex_encode or base64_encode them)", at: location)
            }
            return text
        case .null: return "null"
        default: return value.jsonText
        }
    }
}

/// `format_date(ms, format)`, always in UTC. `'iso8601'` (the default) and `'rfc3339'` give
/// `2024-05-01T12:30:45.123Z`; any other format is text with strftime-like directives: `%Y` year, `%m`
/// month, `%d` day, `%H` hour, `%M` minute, `%S` second (two digits each, year four), `%L` milliseconds
/// (three digits), `%j` day of the year (three), `%s` seconds since the epoch, `%z` `+0000`, `%Z` `Z`,
/// `%%` a percent sign. The civil calendar is computed here (days to y/m/d), so no Foundation calendar
/// or locale is involved.
enum RuleDateFormat {
    struct FormatError: Error {
        var message: String
    }

    static func format(milliseconds: Int64, _ format: String) throws(FormatError) -> String {
        let (seconds, millisecond) = floorDivide(milliseconds, 1000)
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civil(fromDays: days)
        let hour = secondOfDay / 3600
        let minute = secondOfDay % 3600 / 60
        let second = secondOfDay % 60
        func padded(_ value: Int64, _ width: Int) -> String {
            let digits = String(Swift.abs(value))
            let sign = value < 0 ? "-" : ""
            return sign + String(repeating: "0", count: Swift.max(0, width - digits.count)) + digits
        }
        switch format.lowercased() {
        case "iso8601", "rfc3339":
            return "\(padded(year, 4))-\(padded(month, 2))-\(padded(day, 2))T\(padded(hour, 2)):\(padded(minute, 2)):\(padded(second, 2)).\(padded(millisecond, 3))Z"
        default:
            break
        }
        var result = ""
        var directive = false
        for character in format {
            guard directive else {
                if character == "%" { directive = true } else { result.append(character) }
                continue
            }
            directive = false
            switch character {
            case "Y": result += padded(year, 4)
            case "m": result += padded(month, 2)
            case "d": result += padded(day, 2)
            case "H": result += padded(hour, 2)
            case "M": result += padded(minute, 2)
            case "S": result += padded(second, 2)
            case "L": result += padded(millisecond, 3)
            case "j": result += padded(days - self.days(fromCivil: year, 1, 1) + 1, 3)
            case "s": result += String(seconds)
            case "z": result += "+0000"
            case "Z": result += "Z"
            case "%": result += "%"
            default: throw FormatError(message: "unknown directive %\(character) in the date format")
            }
        }
        if directive { throw FormatError(message: "the date format ends with a lone %") }
        return result
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        var quotient = value / divisor
        var remainder = value % divisor
        if remainder < 0 {
            quotient -= 1
            remainder += divisor
        }
        return (quotient, remainder)
    }

    /// Howard Hinnant's `civil_from_days`: proleptic Gregorian date of a day count since 1970-01-01.
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Hinnant's `days_from_civil`, the inverse.
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
