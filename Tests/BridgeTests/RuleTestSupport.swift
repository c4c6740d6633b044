@testable import Bridge
import NIOCore
import Testing

/// A message input with a text payload; the metadata has fixed, recognizable values.
func ruleMessage(
    _ payload: String, topic: String = "devices/d1/telemetry", clientId: String? = "d1", username: String? = "alice", qos: UInt8 = 1,
    retain: Bool = false, headers: [(name: String, value: String)] = [], userProperties: [(name: String, value: String)] = []
) -> RuleInput {
    RuleInput(
        topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain, clientId: clientId, username: username,
        timestampMilliseconds: 1_700_000_000_123, headers: headers, userProperties: userProperties)
}

/// Parses the rule, failing the test with the parse error's description when it does not parse.
func ruleStatement(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> RuleStatement? {
    do {
        return try RuleStatement(parsing: text)
    } catch {
        Issue.record("rule did not parse: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

func ruleParseError(_ text: String) -> RuleParseError? {
    do {
        _ = try RuleStatement(parsing: text)
        return nil
    } catch {
        return error
    }
}

/// The output of a rule for an input (nil: filtered out, or the rule failed — which the test records).
func ruleOutput(_ text: String, _ input: RuleInput, sourceLocation: SourceLocation = #_sourceLocation) -> RuleOutput? {
    guard let statement = ruleStatement(text, sourceLocation: sourceLocation) else { return nil }
    var input = input
    do {
        return try statement.evaluate(&input)
    } catch {
        Issue.record("rule failed: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// The value of one expression in a message rule over the payload.
func ruleValue(_ expression: String, payload: String = "{}", input: RuleInput? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> RuleValue? {
    let output = ruleOutput("SELECT \(expression) AS v FROM '#'", input ?? ruleMessage(payload), sourceLocation: sourceLocation)
    guard case .object(let members)? = output, members.count == 1 else {
        Issue.record("no single column for \(expression): \(String(describing: output))", sourceLocation: sourceLocation)
        return nil
    }
    return members[0].1
}

/// The evaluation error of one expression (nil when it evaluates).
func ruleEvaluationError(_ expression: String, payload: String = "{}", sourceLocation: SourceLocation = #_sourceLocation) -> RuleEvaluationError? {
    guard let statement = ruleStatement("SELECT \(expression) AS v FROM '#'", sourceLocation: sourceLocation) else { return nil }
    var input = ruleMessage(payload)
    do {
        _ = try statement.evaluate(&input)
        return nil
    } catch {
        return error
    }
}
