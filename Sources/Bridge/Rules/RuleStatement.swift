import MQTTProtocol

/// What a rule reads: messages on topics that match an MQTT filter, or device events of one name.
public enum RuleSource: Sendable, Equatable {
    case topicFilter(String)
    /// The event name after `$events/`, e.g. `client.disconnected`.
    case event(String)
}

/// What a rule produced for an input that passed its WHERE.
public enum RuleOutput: Sendable, Equatable {
    /// The selected columns, in SELECT-list order; for `SELECT *`, the members of a JSON object payload (or
    /// of the event).
    case object([(String, RuleValue)])
    /// `SELECT *` of a payload that is not a JSON object (not JSON at all, or a JSON array or scalar):
    /// forward the original message as it is.
    case original

    /// The output as a JSON object value; nil for `.original`.
    public var value: RuleValue? {
        if case .object(let members) = self { return .object(members) }
        return nil
    }

    public static func == (lhs: RuleOutput, rhs: RuleOutput) -> Bool {
        switch (lhs, rhs) {
        case (.original, .original): return true
        case (.object(let a), .object(let b)): return RuleValue.object(a) == RuleValue.object(b)
        default: return false
        }
    }
}

/// A rule of the SQL-like language, parsed and compiled once:
///
///     SELECT <expression> [AS name], ... | *
///     FROM '<mqtt topic filter>' | '$events/<event name>' [, ...]
///     [WHERE <condition>]
///
/// An input passes when the condition is exactly true (null and false skip it). Expressions read the
/// JSON payload (`payload.a.b`, `payload.list[0]`, `payload.'odd key'`, `payload["odd key"]`), the message's
/// `topic`, `clientid`, `username`, `qos`, `retain`, `timestamp`, `headers.'name'`,
/// `user_properties.'name'` and `topic_level(n)`; in an event rule every member of the event is a plain
/// name (`reason`, `peer`, ...). Anything missing is null. See `RuleOperators` for what operators do with
/// types and nulls, and `RuleFunction` for the functions.
///
/// A column without AS is named after its last field name (`payload.temperature` → `temperature`,
/// `clientid` → `clientid`, `headers.'x'` and `payload["x"]` → `x`); any other expression is named by its text as written
/// (`upper(clientid)`, `payload.list[0]`, `qos + 1`). Two columns of one name are a parse error.
public struct RuleStatement: Sendable {
    /// The rule's text as given.
    public let text: String
    public let sources: [RuleSource]
    /// The output names in order; nil for `SELECT *`.
    public let columnNames: [String]?

    private let columns: [RuleExpression]
    private let condition: RuleExpression?
    private let conditionLocation: RuleSourceLocation

    private static let eventPrefix = "$events/"

    public init(parsing text: String) throws(RuleParseError) {
        var parser = try RuleParser(text: text)
        let syntax = try parser.parseStatement()
        var sources: [RuleSource] = []
        for (source, location) in syntax.sources {
            if source.hasPrefix(Self.eventPrefix) {
                let name = String(source.dropFirst(Self.eventPrefix.count))
                guard !name.isEmpty else { throw RuleParseError(at: location, "'\(source)' names no event (write '$events/client.connected', ...)") }
                sources.append(.event(name))
            } else {
                guard MQTTTopic.validateFilter(source), MQTTTopic.sharedSubscription(source) == nil else {
                    throw RuleParseError(at: location, "'\(source)' is not a valid MQTT topic filter")
                }
                sources.append(.topicFilter(source))
            }
        }
        let compiler = RuleCompiler(eventNamesAllowed: sources.contains { if case .event = $0 { true } else { false } })
        if let columnSyntax = syntax.columns {
            var names: [String] = []
            var columns: [RuleExpression] = []
            for column in columnSyntax {
                let name = column.alias ?? Self.defaultName(of: column)
                guard !names.contains(name) else {
                    throw RuleParseError(at: column.location, "a second column named '\(name)'; give one of them another name with AS")
                }
                names.append(name)
                columns.append(try compiler.compile(column.expression))
            }
            self.columnNames = names
            self.columns = columns
        } else {
            self.columnNames = nil
            self.columns = []
        }
        self.condition = try syntax.condition.map { (condition) throws(RuleParseError) in try compiler.compile(condition) }
        self.conditionLocation = syntax.condition?.location ?? RuleSourceLocation(line: 1, column: 1)
        self.text = text
        self.sources = sources
    }

    private static func defaultName(of column: RuleColumnSyntax) -> String {
        switch column.expression.kind {
        case .name(let name), .member(_, let name): name
        case .index(_, let index):
            if case .literal(.string(let key)) = index.kind { key } else { column.text }
        default: column.text
        }
    }

    /// Whether a message published on `topic` is for this rule.
    public func matches(topic: String) -> Bool {
        for source in sources {
            if case .topicFilter(let filter) = source, MQTTTopic.matches(filter: filter, topic: topic) { return true }
        }
        return false
    }

    /// Whether a device event of this name (`client.disconnected`) is for this rule.
    public func matches(event name: String) -> Bool {
        sources.contains(.event(name))
    }

    /// The output for the input, or nil when the WHERE condition is not true. Does not check the sources
    /// (the caller dispatched the input by `matches`). `input` is inout only so that its payload is parsed
    /// once across the rules that read it.
    public func evaluate(_ input: inout RuleInput) throws(RuleEvaluationError) -> RuleOutput? {
        if let condition {
            switch try condition.evaluate(&input) {
            case .bool(true): break
            case .bool(false), .null: return nil
            case let other:
                throw RuleEvaluationError(.typeMismatch, "WHERE needs a boolean, found \(other.typeName)", at: conditionLocation)
            }
        }
        guard !columns.isEmpty, let columnNames else {
            if input.isEvent { return .object(input.eventFields) }
            if case .object(let members)? = input.payloadJSON() { return .object(members) }
            return .original
        }
        var output: [(String, RuleValue)] = []
        output.reserveCapacity(columns.count)
        for (name, column) in zip(columnNames, columns) {
            output.append((name, try column.evaluate(&input)))
        }
        return .object(output)
    }
}
