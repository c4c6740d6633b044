import Foundation
import MQTTProtocol

/// Why a rule could not be evaluated for one input (the input is skipped; the caller counts and logs).
/// `line` and `column` point at the operator or function in the rule's text.
public struct RuleEvaluationError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// An operand or argument of the wrong type: `'a' * 2`, `upper(5)`, a WHERE that is not a boolean.
        case typeMismatch
        /// `/` or `%` by zero.
        case divisionByZero
        /// An integer result beyond Int64, or a decimal result beyond Double.
        case overflow
        /// A value of the right type that a function cannot take: `sqrt(-1)`, `int('x')`, bad base64.
        case invalidArgument
    }

    public var kind: Kind
    public var message: String
    public var line: Int
    public var column: Int

    init(_ kind: Kind, _ message: String, at location: RuleSourceLocation) {
        self.kind = kind
        self.message = message
        self.line = location.line
        self.column = location.column
    }

    public var description: String { "line \(line), column \(column): \(message)" }
}

/// The message metadata a name resolves to when the rule is compiled, so evaluation does not look names up.
enum RuleMetadata: String, Sendable, CaseIterable {
    case topic
    case clientId = "clientid"
    case username
    case qos
    case retain
    case timestamp
    case headers
    case userProperties = "user_properties"
}

/// A step into a value: a member, an array element (0-based; negative counts from the end), or either,
/// decided by what an expression yields.
enum RulePathStep: Sendable {
    case key(String)
    case index(Int)
    case computed(RuleExpression, RuleSourceLocation)
}

/// A compiled expression: names are resolved, literal patterns (LIKE, regex, topic filters) are prepared,
/// constant parts are folded. Evaluated by walking the tree with the input.
indirect enum RuleExpression: Sendable {
    case constant(RuleValue)
    /// For a message: the metadata (nil when the name is not one, which only an event rule allows: it is
    /// null for a message). For an event: the event's member of that name.
    case name(String, RuleMetadata?)
    /// `payload` and the steps into it.
    case payload([RulePathStep])
    /// `headers.'name'` and `user_properties.'name'`, read without building an object.
    case header(String)
    case userProperty(String)
    /// Steps into any other value.
    case access(RuleExpression, [RulePathStep])
    /// `topic_level(n)`, 1-based.
    case topicLevel(Int)
    case negate(RuleExpression, RuleSourceLocation)
    case not(RuleExpression, RuleSourceLocation)
    case and(RuleExpression, RuleExpression, RuleSourceLocation)
    case or(RuleExpression, RuleExpression, RuleSourceLocation)
    case arithmetic(RuleArithmeticOperator, RuleExpression, RuleExpression, RuleSourceLocation)
    case comparison(RuleComparisonOperator, RuleExpression, RuleExpression, RuleSourceLocation)
    case isNull(RuleExpression, negated: Bool)
    case inList(RuleExpression, [RuleExpression], negated: Bool)
    case like(RuleExpression, RuleLikePattern, negated: Bool, RuleSourceLocation)
    case likeComputed(RuleExpression, RuleExpression, negated: Bool, RuleSourceLocation)
    case topicMatch(RuleExpression, filter: String, RuleSourceLocation)
    case topicMatchComputed(RuleExpression, RuleExpression, RuleSourceLocation)
    case caseWhen(subject: RuleExpression?, branches: [(RuleExpression, RuleExpression)], otherwise: RuleExpression, RuleSourceLocation)
    case call(RuleFunction, [RuleExpression], RuleSourceLocation)
    case regexMatch(RuleExpression, NSRegularExpression, RuleSourceLocation)

    var constantValue: RuleValue? {
        if case .constant(let value) = self { return value }
        return nil
    }

    func evaluate(_ input: inout RuleInput) throws(RuleEvaluationError) -> RuleValue {
        switch self {
        case .constant(let value):
            return value
        case .name(let name, let metadata):
            if input.isEvent { return input.eventField(name) }
            guard let metadata else { return .null }
            return Self.value(of: metadata, in: input)
        case .payload(let steps):
            let root = input.isEvent ? input.eventField("payload") : input.payloadValue()
            return try Self.follow(steps, from: root, &input)
        case .header(let name):
            if input.isEvent { return input.eventField("headers")[name] ?? .null }
            for header in input.headers where header.name == name { return .string(header.value) }
            return .null
        case .userProperty(let name):
            if input.isEvent { return input.eventField("user_properties")[name] ?? .null }
            for property in input.userProperties where property.name == name { return .string(property.value) }
            return .null
        case .access(let base, let steps):
            return try Self.follow(steps, from: try base.evaluate(&input), &input)
        case .topicLevel(let level):
            let topic: String
            if input.isEvent {
                guard case .string(let text) = input.eventField("topic") else { return .null }
                topic = text
            } else {
                topic = input.topic
            }
            return Self.level(level, of: topic).map(RuleValue.string) ?? .null
        case .negate(let operand, let location):
            return try RuleOperators.negate(try operand.evaluate(&input), at: location)
        case .not(let operand, let location):
            switch try RuleOperators.truth(try operand.evaluate(&input), of: "NOT", at: location) {
            case true?: return .bool(false)
            case false?: return .bool(true)
            case nil: return .null
            }
        case .and(let left, let right, let location):
            // false AND anything is false, whatever the right side would do (even fail).
            let leftTruth = try RuleOperators.truth(try left.evaluate(&input), of: "AND", at: location)
            if leftTruth == false { return .bool(false) }
            let rightTruth = try RuleOperators.truth(try right.evaluate(&input), of: "AND", at: location)
            if rightTruth == false { return .bool(false) }
            return leftTruth == nil || rightTruth == nil ? .null : .bool(true)
        case .or(let left, let right, let location):
            let leftTruth = try RuleOperators.truth(try left.evaluate(&input), of: "OR", at: location)
            if leftTruth == true { return .bool(true) }
            let rightTruth = try RuleOperators.truth(try right.evaluate(&input), of: "OR", at: location)
            if rightTruth == true { return .bool(true) }
            return leftTruth == nil || rightTruth == nil ? .null : .bool(false)
        case .arithmetic(let operation, let left, let right, let location):
            return try RuleOperators.arithmetic(operation, try left.evaluate(&input), try right.evaluate(&input), at: location)
        case .comparison(let operation, let left, let right, let location):
            return try RuleOperators.compare(operation, try left.evaluate(&input), try right.evaluate(&input), at: location)
        case .isNull(let operand, let negated):
            return .bool(try operand.evaluate(&input).isNull != negated)
        case .inList(let operand, let list, let negated):
            // SQL: true when some element equals; otherwise null when the operand or an element is null.
            let value = try operand.evaluate(&input)
            if value.isNull { return .null }
            var sawNull = false
            for element in list {
                let candidate = try element.evaluate(&input)
                if candidate.isNull {
                    sawNull = true
                } else if RuleOperators.equal(value, candidate) {
                    return .bool(!negated)
                }
            }
            return sawNull ? .null : .bool(negated)
        case .like(let operand, let pattern, let negated, let location):
            let value = try operand.evaluate(&input)
            guard case .string(let text) = value else {
                if value.isNull { return .null }
                throw RuleOperators.typeMismatch("LIKE needs a string, found \(value.typeName)", at: location)
            }
            return .bool(pattern.matches(text) != negated)
        case .likeComputed(let operand, let patternExpression, let negated, let location):
            let value = try operand.evaluate(&input)
            let patternValue = try patternExpression.evaluate(&input)
            if value.isNull || patternValue.isNull { return .null }
            guard case .string(let text) = value, case .string(let pattern) = patternValue else {
                throw RuleOperators.typeMismatch("LIKE needs strings, found \(value.typeName) and \(patternValue.typeName)", at: location)
            }
            return .bool(RuleLikePattern(pattern).matches(text) != negated)
        case .topicMatch(let operand, let filter, let location):
            let value = try operand.evaluate(&input)
            guard case .string(let topic) = value else {
                if value.isNull { return .null }
                throw RuleOperators.typeMismatch("=~ needs a topic string on its left, found \(value.typeName)", at: location)
            }
            return .bool(MQTTTopic.matches(filter: filter, topic: topic))
        case .topicMatchComputed(let operand, let filterExpression, let location):
            let value = try operand.evaluate(&input)
            let filterValue = try filterExpression.evaluate(&input)
            if value.isNull || filterValue.isNull { return .null }
            guard case .string(let topic) = value, case .string(let filter) = filterValue else {
                throw RuleOperators.typeMismatch("=~ needs a topic and a filter string, found \(value.typeName) and \(filterValue.typeName)", at: location)
            }
            return .bool(MQTTTopic.matches(filter: filter, topic: topic))
        case .caseWhen(let subject, let branches, let otherwise, let location):
            if let subject {
                let value = try subject.evaluate(&input)
                if !value.isNull {
                    for (candidate, result) in branches {
                        let candidateValue = try candidate.evaluate(&input)
                        if !candidateValue.isNull && RuleOperators.equal(value, candidateValue) { return try result.evaluate(&input) }
                    }
                }
            } else {
                // A WHEN that is null or false does not match; one that is not a boolean is an error.
                for (condition, result) in branches {
                    if try RuleOperators.truth(try condition.evaluate(&input), of: "WHEN", at: location) == true {
                        return try result.evaluate(&input)
                    }
                }
            }
            return try otherwise.evaluate(&input)
        case .call(let function, let arguments, let location):
            var values: [RuleValue] = []
            values.reserveCapacity(arguments.count)
            for argument in arguments { values.append(try argument.evaluate(&input)) }
            return try function.apply(to: values, at: location)
        case .regexMatch(let operand, let regex, let location):
            let value = try operand.evaluate(&input)
            guard case .string(let text) = value else {
                if value.isNull { return .null }
                throw RuleOperators.typeMismatch("regex_match needs a string, found \(value.typeName)", at: location)
            }
            return .bool(regex.firstMatch(in: text, range: NSRange(location: 0, length: text.utf16.count)) != nil)
        }
    }

    private static func value(of metadata: RuleMetadata, in input: RuleInput) -> RuleValue {
        switch metadata {
        case .topic: .string(input.topic)
        case .clientId: input.clientId.map(RuleValue.string) ?? .null
        case .username: input.username.map(RuleValue.string) ?? .null
        case .qos: .int(Int64(input.qos))
        case .retain: .bool(input.retain)
        case .timestamp: .int(input.timestampMilliseconds)
        case .headers: .object(input.headers.map { ($0.name, .string($0.value)) })
        case .userProperties: .object(input.userProperties.map { ($0.name, .string($0.value)) })
        }
    }

    /// A step into something that is not an object or array, or past its end, is null: `payload.a.b` of a
    /// payload that is not JSON is null, as is `payload.list[9]` of a shorter list.
    private static func follow(_ steps: [RulePathStep], from root: RuleValue, _ input: inout RuleInput) throws(RuleEvaluationError) -> RuleValue {
        var value = root
        for step in steps {
            switch step {
            case .key(let key):
                value = value[key] ?? .null
            case .index(let index):
                value = element(index, of: value)
            case .computed(let expression, let location):
                let selector = try expression.evaluate(&input)
                switch selector {
                case .int(let index): value = element(Int(truncatingIfNeeded: index), of: value)
                case .string(let key): value = value[key] ?? .null
                case .null: return .null
                default: throw RuleOperators.typeMismatch("an index must be an integer or a string, found \(selector.typeName)", at: location)
                }
            }
            if value.isNull { return .null }
        }
        return value
    }

    private static func element(_ index: Int, of value: RuleValue) -> RuleValue {
        guard case .array(let elements) = value else { return .null }
        let position = index < 0 ? elements.count + index : index
        return position >= 0 && position < elements.count ? elements[position] : .null
    }

    /// The topic's `level`th level (1-based) without splitting the whole topic; nil past the last level.
    static func level(_ level: Int, of topic: String) -> String? {
        let utf8 = topic.utf8
        var current = 1
        var start = utf8.startIndex
        var index = utf8.startIndex
        while index != utf8.endIndex {
            if utf8[index] == UInt8(ascii: "/") {
                if current == level { return String(topic[start..<index]) }
                current += 1
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        return current == level ? String(topic[start..<index]) : nil
    }
}
