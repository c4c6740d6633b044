/// The semantics of the operators, in one place:
///
/// - null in, null out: arithmetic and comparisons with a null operand are null, never true.
/// - Integers stay integers under `+ - * %` (an overflow is an error, not a wrap); a decimal operand makes
///   the result a decimal; `/` always divides exactly and gives a decimal (`7 / 2` is `3.5`, `6 / 3` is
///   `2.0`) — `int(...)`, `floor(...)` or `round(...)` turn it back. Dividing by zero is an error.
/// - `=` and `!=` compare numbers by value (`1 = 1.0`), strings and bytes by content (bytes equal the
///   string of the same UTF-8), arrays and objects member by member; values of unrelated types are simply
///   not equal. `< <= > >=` order numbers, strings (by Unicode scalar values) and bytes; anything else
///   is a type error.
enum RuleOperators {
    static func typeMismatch(_ message: String, at location: RuleSourceLocation) -> RuleEvaluationError {
        RuleEvaluationError(.typeMismatch, message, at: location)
    }

    /// A boolean's truth, nil for null; any other type is an error (a WHERE of `payload.count` is a
    /// mistake worth reporting, not a silent false).
    static func truth(_ value: RuleValue, of operation: String, at location: RuleSourceLocation) throws(RuleEvaluationError) -> Bool? {
        switch value {
        case .bool(let flag): return flag
        case .null: return nil
        default: throw typeMismatch("\(operation) needs a boolean, found \(value.typeName)", at: location)
        }
    }

    static func negate(_ value: RuleValue, at location: RuleSourceLocation) throws(RuleEvaluationError) -> RuleValue {
        switch value {
        case .null: return .null
        case .int(let number):
            guard number != .min else { throw RuleEvaluationError(.overflow, "integer overflow in unary -", at: location) }
            return .int(-number)
        case .double(let number): return .double(-number)
        default: throw typeMismatch("unary - needs a number, found \(value.typeName)", at: location)
        }
    }

    static func arithmetic(_ operation: RuleArithmeticOperator, _ left: RuleValue, _ right: RuleValue, at location: RuleSourceLocation)
        throws(RuleEvaluationError) -> RuleValue
    {
        switch (left, right) {
        case (.null, _), (_, .null):
            return .null
        case (.int(let a), .int(let b)):
            let result: (partialValue: Int64, overflow: Bool)
            switch operation {
            case .add: result = a.addingReportingOverflow(b)
            case .subtract: result = a.subtractingReportingOverflow(b)
            case .multiply: result = a.multipliedReportingOverflow(by: b)
            case .divide:
                guard b != 0 else { throw RuleEvaluationError(.divisionByZero, "division by zero", at: location) }
                return .double(Double(a) / Double(b))
            case .remainder:
                guard b != 0 else { throw RuleEvaluationError(.divisionByZero, "division by zero in %", at: location) }
                // Int64.min % -1 overflows in the machine but is 0 in arithmetic.
                result = b == -1 ? (0, false) : a.remainderReportingOverflow(dividingBy: b)
            }
            guard !result.overflow else {
                throw RuleEvaluationError(.overflow, "integer overflow in \(a) \(operation.rawValue) \(b)", at: location)
            }
            return .int(result.partialValue)
        default:
            guard let a = number(left), let b = number(right) else {
                throw typeMismatch("operator \(operation.rawValue) needs numbers, found \(left.typeName) and \(right.typeName)"
                    + (operation == .add && isText(left) && isText(right) ? " (concat joins strings)" : ""), at: location)
            }
            let result: Double
            switch operation {
            case .add: result = a + b
            case .subtract: result = a - b
            case .multiply: result = a * b
            case .divide:
                guard b != 0 else { throw RuleEvaluationError(.divisionByZero, "division by zero", at: location) }
                result = a / b
            case .remainder:
                guard b != 0 else { throw RuleEvaluationError(.divisionByZero, "division by zero in %", at: location) }
                result = a.truncatingRemainder(dividingBy: b)
            }
            guard result.isFinite else { throw RuleEvaluationError(.overflow, "the result of \(operation.rawValue) is out of range", at: location) }
            return .double(result)
        }
    }

    private static func isText(_ value: RuleValue) -> Bool {
        if case .string = value { return true }
        return false
    }

    static func number(_ value: RuleValue) -> Double? {
        switch value {
        case .int(let number): Double(number)
        case .double(let number): number
        default: nil
        }
    }

    static func compare(_ operation: RuleComparisonOperator, _ left: RuleValue, _ right: RuleValue, at location: RuleSourceLocation)
        throws(RuleEvaluationError) -> RuleValue
    {
        if left.isNull || right.isNull { return .null }
        switch operation {
        case .equal: return .bool(equal(left, right))
        case .notEqual: return .bool(!equal(left, right))
        default:
            guard let order = order(left, right) else {
                throw typeMismatch("operator \(operation.rawValue) cannot order \(left.typeName) and \(right.typeName)", at: location)
            }
            switch operation {
            case .less: return .bool(order < 0)
            case .lessOrEqual: return .bool(order <= 0)
            case .greater: return .bool(order > 0)
            default: return .bool(order >= 0)
            }
        }
    }

    /// Equality of two values as `=` sees it (neither is null at the top; nulls inside arrays or objects
    /// equal each other, as in JSON).
    static func equal(_ left: RuleValue, _ right: RuleValue) -> Bool {
        switch (left, right) {
        case (.int(let a), .int(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.int(let a), .double(let b)): return compare(a, b) == 0
        case (.double(let a), .int(let b)): return compare(b, a) == 0
        case (.double(let a), .double(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.null, .null): return true
        case (.bytes(let a), .bytes(let b)): return a == b
        case (.bytes(let a), .string(let b)), (.string(let b), .bytes(let a)): return a.elementsEqual(b.utf8)
        case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy { equal($0, $1) }
        case (.object(let a), .object(let b)):
            // Member order does not matter: {"a":1,"b":2} = {"b":2,"a":1}.
            guard a.count == b.count else { return false }
            for (key, value) in a {
                guard let other = right[key], equal(value, other) else { return false }
            }
            return true
        default: return false
        }
    }

    /// -1, 0 or 1; nil for types that have no order between them.
    static func order(_ left: RuleValue, _ right: RuleValue) -> Int? {
        switch (left, right) {
        case (.int(let a), .int(let b)): return a < b ? -1 : (a == b ? 0 : 1)
        case (.int(let a), .double(let b)): return compare(a, b)
        case (.double(let a), .int(let b)): return compare(b, a).map { -$0 }
        case (.double(let a), .double(let b)):
            if a < b { return -1 }
            if a > b { return 1 }
            return a == b ? 0 : nil
        case (.string(let a), .string(let b)): return a < b ? -1 : (a == b ? 0 : 1)
        case (.bytes(let a), .bytes(let b)):
            if a == b { return 0 }
            return a.lexicographicallyPrecedes(b) ? -1 : 1
        default: return nil
        }
    }

    /// The sign of `integer - decimal`, exactly (converting the integer to a Double would round above
    /// 2^53); nil for NaN.
    static func compare(_ integer: Int64, _ decimal: Double) -> Int? {
        if decimal.isNaN { return nil }
        if decimal >= 9_223_372_036_854_775_808.0 { return -1 }
        if decimal < -9_223_372_036_854_775_808.0 { return 1 }
        let whole = decimal.rounded(.down)
        let wholeInteger = Int64(whole)
        if integer < wholeInteger { return -1 }
        if integer > wholeInteger { return 1 }
        return decimal > whole ? -1 : 0
    }
}

/// A LIKE pattern, prepared once: `%` matches any run of characters, `_` exactly one (one Unicode scalar),
/// a backslash makes the next character literal (`'100\%'`). Case-sensitive. Matching walks the UTF-8
/// bytes with the classic one-backtrack-point wildcard algorithm: linear for patterns with one `%`,
/// O(text × pattern) at worst, never exponential.
struct RuleLikePattern: Sendable {
    private enum Element: Sendable, Equatable {
        case byte(UInt8)
        case anyScalar
        case anyRun
    }

    private let elements: [Element]

    init(_ pattern: String) {
        var elements: [Element] = []
        var escaped = false
        for scalar in pattern.unicodeScalars {
            if escaped {
                elements.append(contentsOf: UTF8.encode(scalar)!.map(Element.byte))
                escaped = false
                continue
            }
            switch scalar {
            case "\\": escaped = true
            case "%": if elements.last != .anyRun { elements.append(.anyRun) }
            case "_": elements.append(.anyScalar)
            default: elements.append(contentsOf: UTF8.encode(scalar)!.map(Element.byte))
            }
        }
        if escaped { elements.append(.byte(UInt8(ascii: "\\"))) }
        self.elements = elements
    }

    func matches(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            var patternIndex = 0
            var textIndex = 0
            var runPatternIndex = -1
            var runTextIndex = 0
            while textIndex < bytes.count {
                if patternIndex < elements.count {
                    switch elements[patternIndex] {
                    case .anyScalar:
                        textIndex = Self.nextScalar(after: textIndex, in: bytes)
                        patternIndex += 1
                        continue
                    case .byte(let byte) where byte == bytes[textIndex]:
                        textIndex += 1
                        patternIndex += 1
                        continue
                    case .anyRun:
                        runPatternIndex = patternIndex
                        runTextIndex = textIndex
                        patternIndex += 1
                        continue
                    case .byte:
                        break
                    }
                }
                // Mismatch: let the last % take one more character and retry from there.
                guard runPatternIndex >= 0 else { return false }
                runTextIndex = Self.nextScalar(after: runTextIndex, in: bytes)
                textIndex = runTextIndex
                patternIndex = runPatternIndex + 1
            }
            while patternIndex < elements.count, elements[patternIndex] == .anyRun { patternIndex += 1 }
            return patternIndex == elements.count
        }
    }

    private static func nextScalar(after index: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var next = index + 1
        while next < bytes.count, bytes[next] & 0xc0 == 0x80 { next += 1 }
        return next
    }
}
