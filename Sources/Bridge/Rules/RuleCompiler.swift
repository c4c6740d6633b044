import Foundation
import MQTTProtocol
import NIOCore

/// Turns parsed syntax into `RuleExpression`s once, so evaluation never looks up a name, a function or a
/// pattern: names become metadata or payload paths, literal LIKE patterns, regexes and topic filters are
/// prepared (and refused here when invalid), and operations on constants are computed.
struct RuleCompiler {
    /// The rule reads events, where any plain name is a member of the event; a rule over messages only
    /// accepts the message's names, so a forgotten `payload.` is caught when the rule is loaded.
    var eventNamesAllowed: Bool

    func compile(_ syntax: RuleSyntax) throws(RuleParseError) -> RuleExpression {
        let location = syntax.location
        switch syntax.kind {
        case .literal(let value):
            return .constant(value)
        case .name(let name):
            if name == "payload" { return .payload([]) }
            let metadata = RuleMetadata(rawValue: name)
            guard metadata != nil || eventNamesAllowed else {
                throw RuleParseError(at: location, "unknown name '\(name)': a message has payload, "
                    + RuleMetadata.allCases.map(\.rawValue).joined(separator: ", ")
                    + " (payload fields are read as payload.\(name))")
            }
            return .name(name, metadata)
        case .member, .index:
            return try compilePath(syntax)
        case .negate(let operand):
            let compiled = try compile(operand)
            return try folded(.negate(compiled, location), [compiled])
        case .not(let operand):
            let compiled = try compile(operand)
            return try folded(.not(compiled, location), [compiled])
        case .and(let left, let right):
            let (compiledLeft, compiledRight) = (try compile(left), try compile(right))
            return try folded(.and(compiledLeft, compiledRight, location), [compiledLeft, compiledRight])
        case .or(let left, let right):
            let (compiledLeft, compiledRight) = (try compile(left), try compile(right))
            return try folded(.or(compiledLeft, compiledRight, location), [compiledLeft, compiledRight])
        case .arithmetic(let operation, let left, let right):
            let (compiledLeft, compiledRight) = (try compile(left), try compile(right))
            return try folded(.arithmetic(operation, compiledLeft, compiledRight, location), [compiledLeft, compiledRight])
        case .comparison(let operation, let left, let right):
            let (compiledLeft, compiledRight) = (try compile(left), try compile(right))
            return try folded(.comparison(operation, compiledLeft, compiledRight, location), [compiledLeft, compiledRight])
        case .isNull(let operand, let negated):
            let compiled = try compile(operand)
            return try folded(.isNull(compiled, negated: negated), [compiled])
        case .inList(let operand, let list, let negated):
            let compiledOperand = try compile(operand)
            var compiledList: [RuleExpression] = []
            for element in list { compiledList.append(try compile(element)) }
            return try folded(.inList(compiledOperand, compiledList, negated: negated), [compiledOperand] + compiledList)
        case .like(let operand, let pattern, let negated):
            let compiledOperand = try compile(operand)
            let compiledPattern = try compile(pattern)
            switch compiledPattern.constantValue {
            case .string(let text)?:
                return try folded(.like(compiledOperand, RuleLikePattern(text), negated: negated, location), [compiledOperand])
            case let value? where !value.isNull:
                throw RuleParseError(at: pattern.location, "LIKE needs a string pattern, found \(value.typeName)")
            default:
                return try folded(.likeComputed(compiledOperand, compiledPattern, negated: negated, location), [compiledOperand, compiledPattern])
            }
        case .topicMatch(let operand, let filter):
            let compiledOperand = try compile(operand)
            let compiledFilter = try compile(filter)
            switch compiledFilter.constantValue {
            case .string(let text)?:
                guard MQTTTopic.validateFilter(text), MQTTTopic.sharedSubscription(text) == nil else {
                    throw RuleParseError(at: filter.location, "'\(text)' is not a valid MQTT topic filter")
                }
                return try folded(.topicMatch(compiledOperand, filter: text, location), [compiledOperand])
            case let value? where !value.isNull:
                throw RuleParseError(at: filter.location, "=~ needs a topic filter string, found \(value.typeName)")
            default:
                return try folded(.topicMatchComputed(compiledOperand, compiledFilter, location), [compiledOperand, compiledFilter])
            }
        case .caseWhen(let subject, let branches, let otherwise):
            let compiledSubject: RuleExpression? = if let subject { try compile(subject) } else { nil }
            var compiledBranches: [(RuleExpression, RuleExpression)] = []
            for (condition, result) in branches { compiledBranches.append((try compile(condition), try compile(result))) }
            let compiledOtherwise: RuleExpression = if let otherwise { try compile(otherwise) } else { .constant(.null) }
            return .caseWhen(subject: compiledSubject, branches: compiledBranches, otherwise: compiledOtherwise, location)
        case .call(let name, let arguments):
            return try compileCall(name, arguments, at: location)
        }
    }

    // MARK: Paths

    /// `a.b[0].c` is parsed inside out; here it becomes a base and a list of steps, and the bases with a
    /// fast form (`payload`, `headers.x`, `user_properties.x`) take it.
    private func compilePath(_ syntax: RuleSyntax) throws(RuleParseError) -> RuleExpression {
        var steps: [RulePathStep] = []
        var base = syntax
        while true {
            switch base.kind {
            case .member(let inner, let key):
                steps.append(.key(key))
                base = inner
                continue
            case .index(let inner, let index):
                steps.append(try step(for: index))
                base = inner
                continue
            default:
                break
            }
            break
        }
        steps.reverse()
        if case .name(let name) = base.kind {
            switch name {
            case "payload":
                return .payload(steps)
            case RuleMetadata.headers.rawValue, RuleMetadata.userProperties.rawValue:
                if case .key(let key) = steps[0] {
                    let lookup: RuleExpression = name == RuleMetadata.headers.rawValue ? .header(key) : .userProperty(key)
                    return steps.count == 1 ? lookup : .access(lookup, Array(steps.dropFirst()))
                }
            default:
                break
            }
        }
        return .access(try compile(base), steps)
    }

    private func step(for index: RuleSyntax) throws(RuleParseError) -> RulePathStep {
        let compiled = try compile(index)
        switch compiled.constantValue {
        case .int(let position)?: return .index(Int(truncatingIfNeeded: position))
        case .string(let key)?: return .key(key)
        case let value? where !value.isNull:
            throw RuleParseError(at: index.location, "an index must be an integer or a string, found \(value.typeName)")
        default: return .computed(compiled, index.location)
        }
    }

    // MARK: Calls

    private func compileCall(_ name: String, _ arguments: [RuleSyntax], at location: RuleSourceLocation) throws(RuleParseError) -> RuleExpression {
        switch name {
        case "topic_level":
            guard arguments.count == 1 else { throw RuleParseError(at: location, "topic_level takes 1 argument, found \(arguments.count)") }
            guard case .int(let level)? = try compile(arguments[0]).constantValue, level >= 1 else {
                throw RuleParseError(at: arguments[0].location, "topic_level needs a level number of 1 or more")
            }
            return .topicLevel(Int(truncatingIfNeeded: level))
        case "regex_match":
            guard arguments.count == 2 else { throw RuleParseError(at: location, "regex_match takes 2 arguments, found \(arguments.count)") }
            // The pattern is compiled here, once, for every message the rule sees; so it must be a literal.
            guard case .string(let pattern)? = try compile(arguments[1]).constantValue else {
                throw RuleParseError(at: arguments[1].location, "regex_match needs the pattern as a string literal")
            }
            let regex: NSRegularExpression
            do {
                regex = try NSRegularExpression(pattern: pattern)
            } catch {
                throw RuleParseError(at: arguments[1].location, "invalid regular expression '\(pattern)'")
            }
            let text = try compile(arguments[0])
            return try folded(.regexMatch(text, regex, location), [text])
        default:
            break
        }
        guard let function = RuleFunction(rawValue: name) else {
            throw RuleParseError(at: location, "unknown function '\(name)'")
        }
        let (minimum, maximum) = function.arity
        if arguments.count < minimum || maximum.map({ arguments.count > $0 }) == true {
            let expected: String
            switch maximum {
            case nil: expected = "at least \(minimum) argument\(minimum == 1 ? "" : "s")"
            case minimum?: expected = "\(minimum) argument\(minimum == 1 ? "" : "s")"
            case let maximum?: expected = "\(minimum) to \(maximum) arguments"
            }
            throw RuleParseError(at: location, "\(name) takes \(expected), found \(arguments.count)")
        }
        var compiled: [RuleExpression] = []
        for argument in arguments { compiled.append(try compile(argument)) }
        let call = RuleExpression.call(function, compiled, location)
        return function.isDeterministic ? try folded(call, compiled) : call
    }

    // MARK: Constants

    /// The expression's value when all its operands are literals (only operations without side inputs are
    /// passed here). One that always fails is refused now rather than on every message.
    private func folded(_ expression: RuleExpression, _ operands: [RuleExpression]) throws(RuleParseError) -> RuleExpression {
        for operand in operands {
            guard case .constant = operand else { return expression }
        }
        var input = RuleInput(topic: "", payload: ByteBuffer())
        do {
            return .constant(try expression.evaluate(&input))
        } catch {
            throw RuleParseError(line: error.line, column: error.column, message: error.message)
        }
    }
}
