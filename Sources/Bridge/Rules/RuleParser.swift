/// Recursive descent over the tokens, one function per precedence level, lowest first:
///
///     OR < AND < NOT < comparison, =~, IS [NOT] NULL, [NOT] IN, [NOT] LIKE < + - < * / % < unary - < . [ ]
///
/// Comparisons do not chain (`a < b < c` is an error, not `(a < b) < c`). Keywords are case-insensitive;
/// names are not (they are JSON keys and MQTT names).
struct RuleParser {
    /// Bounds the recursion of nested expressions (parentheses, NOT chains, CASE inside CASE), so that a
    /// pathological rule fails to parse instead of exhausting the stack.
    static let nestingMaximum = 128
    /// Bounds the height of an expression's tree (see `RuleSyntax.height`).
    static let heightMaximum = 256

    static let keywords: Set<String> = [
        "SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "CASE", "WHEN", "THEN", "ELSE", "END",
        "TRUE", "FALSE",
    ]

    private let tokens: [RuleToken]
    private let scalars: [Unicode.Scalar]
    private var position = 0
    private var depth = 0

    init(text: String) throws(RuleParseError) {
        tokens = try RuleLexer.tokens(of: text)
        scalars = Array(text.unicodeScalars)
    }

    private var current: RuleToken { tokens[position] }
    private var previous: RuleToken { tokens[max(position - 1, 0)] }

    private mutating func advance() { if position < tokens.count - 1 { position += 1 } }

    private mutating func acceptKeyword(_ keyword: String) -> Bool {
        guard current.isKeyword(keyword) else { return false }
        advance()
        return true
    }

    private mutating func acceptSymbol(_ symbol: String) -> Bool {
        guard current.isSymbol(symbol) else { return false }
        advance()
        return true
    }

    private func node(kind: RuleSyntax.Kind, location: RuleSourceLocation) throws(RuleParseError) -> RuleSyntax {
        let syntax = RuleSyntax(kind: kind, location: location)
        guard syntax.height <= Self.heightMaximum else {
            throw RuleParseError(at: location, "the expression is too deep: more than \(Self.heightMaximum) operations inside one another")
        }
        return syntax
    }

    private func failure(_ expectation: String) -> RuleParseError {
        RuleParseError(at: current.location, "\(expectation), found \(current.quoted)")
    }

    // MARK: Statement

    mutating func parseStatement() throws(RuleParseError) -> RuleStatementSyntax {
        guard acceptKeyword("SELECT") else { throw failure("expected SELECT at the start of the rule") }
        var columns: [RuleColumnSyntax]? = nil
        if acceptSymbol("*") {
            if current.isSymbol(",") {
                throw RuleParseError(at: current.location, "'*' must be the whole select list; list the fields instead")
            }
        } else {
            var list: [RuleColumnSyntax] = []
            repeat {
                list.append(try parseColumn())
            } while acceptSymbol(",")
            columns = list
        }
        guard acceptKeyword("FROM") else { throw failure("expected FROM after the select list") }
        var sources: [(String, RuleSourceLocation)] = []
        repeat {
            guard case .string(let text) = current.kind else {
                throw failure("expected a quoted MQTT topic filter or '$events/<name>' after FROM")
            }
            sources.append((text, current.location))
            advance()
        } while acceptSymbol(",")
        var condition: RuleSyntax? = nil
        if acceptKeyword("WHERE") {
            condition = try parseExpression()
            guard current.kind == .end else { throw failure("expected the end of the rule after the WHERE condition") }
        } else if current.kind != .end {
            throw failure("expected WHERE or the end of the rule after the FROM sources")
        }
        return RuleStatementSyntax(columns: columns, sources: sources, condition: condition)
    }

    private mutating func parseColumn() throws(RuleParseError) -> RuleColumnSyntax {
        let first = current
        let expression = try parseExpression()
        let text = source(from: first.start, to: previous.end)
        var alias: String? = nil
        if acceptKeyword("AS") {
            switch current.kind {
            case .word(let name) where !Self.keywords.contains(name.uppercased()):
                alias = name
            case .quotedName(let name) where !name.isEmpty, .string(let name) where !name.isEmpty:
                alias = name
            default:
                throw failure("expected a name after AS")
            }
            advance()
        }
        return RuleColumnSyntax(expression: expression, alias: alias, text: text, location: first.location)
    }

    private func source(from start: Int, to end: Int) -> String {
        var text = ""
        text.unicodeScalars.append(contentsOf: scalars[start..<max(start, end)])
        return text
    }

    // MARK: Expressions

    mutating func parseExpression() throws(RuleParseError) -> RuleSyntax {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.nestingMaximum else {
            throw RuleParseError(at: current.location, "expressions nest deeper than \(Self.nestingMaximum) levels")
        }
        return try parseOr()
    }

    private mutating func parseOr() throws(RuleParseError) -> RuleSyntax {
        var left = try parseAnd()
        while current.isKeyword("OR") {
            let location = current.location
            advance()
            left = try node(kind: .or(left, try parseAnd()), location: location)
        }
        return left
    }

    private mutating func parseAnd() throws(RuleParseError) -> RuleSyntax {
        var left = try parseNot()
        while current.isKeyword("AND") {
            let location = current.location
            advance()
            left = try node(kind: .and(left, try parseNot()), location: location)
        }
        return left
    }

    private mutating func parseNot() throws(RuleParseError) -> RuleSyntax {
        guard current.isKeyword("NOT") else { return try parsePredicate() }
        let location = current.location
        advance()
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.nestingMaximum else {
            throw RuleParseError(at: location, "expressions nest deeper than \(Self.nestingMaximum) levels")
        }
        return try node(kind: .not(try parseNot()), location: location)
    }

    private static let comparisons: [String: RuleComparisonOperator] = [
        "=": .equal, "!=": .notEqual, "<>": .notEqual, "<": .less, "<=": .lessOrEqual, ">": .greater, ">=": .greaterOrEqual,
    ]

    private mutating func parsePredicate() throws(RuleParseError) -> RuleSyntax {
        let left = try parseAdditive()
        let location = current.location
        if case .symbol(let symbol) = current.kind {
            if let comparison = Self.comparisons[symbol] {
                advance()
                return try node(kind: .comparison(comparison, left, try parseAdditive()), location: location)
            }
            if symbol == "=~" {
                advance()
                return try node(kind: .topicMatch(left, try parseAdditive()), location: location)
            }
            return left
        }
        if acceptKeyword("IS") {
            let negated = acceptKeyword("NOT")
            guard acceptKeyword("NULL") else { throw failure(negated ? "expected NULL after IS NOT" : "expected NULL or NOT NULL after IS") }
            return try node(kind: .isNull(left, negated: negated), location: location)
        }
        var negated = false
        if current.isKeyword("NOT") {
            advance()
            negated = true
            guard current.isKeyword("IN") || current.isKeyword("LIKE") else { throw failure("expected IN or LIKE after NOT") }
        }
        if acceptKeyword("IN") {
            guard acceptSymbol("(") else { throw failure("expected '(' after IN") }
            var list: [RuleSyntax] = []
            repeat {
                list.append(try parseExpression())
            } while acceptSymbol(",")
            guard acceptSymbol(")") else { throw failure("expected ',' or ')' in the IN list") }
            return try node(kind: .inList(left, list, negated: negated), location: location)
        }
        if acceptKeyword("LIKE") {
            return try node(kind: .like(left, try parseAdditive(), negated: negated), location: location)
        }
        return left
    }

    private mutating func parseAdditive() throws(RuleParseError) -> RuleSyntax {
        var left = try parseMultiplicative()
        while true {
            let location = current.location
            let operation: RuleArithmeticOperator
            if acceptSymbol("+") {
                operation = .add
            } else if acceptSymbol("-") {
                operation = .subtract
            } else {
                return left
            }
            left = try node(kind: .arithmetic(operation, left, try parseMultiplicative()), location: location)
        }
    }

    private mutating func parseMultiplicative() throws(RuleParseError) -> RuleSyntax {
        var left = try parseUnary()
        while true {
            let location = current.location
            let operation: RuleArithmeticOperator
            if acceptSymbol("*") {
                operation = .multiply
            } else if acceptSymbol("/") {
                operation = .divide
            } else if acceptSymbol("%") {
                operation = .remainder
            } else {
                return left
            }
            left = try node(kind: .arithmetic(operation, left, try parseUnary()), location: location)
        }
    }

    /// A minus directly before a number is part of the literal, so `-9223372036854775808` is Int64.min.
    private mutating func parseUnary() throws(RuleParseError) -> RuleSyntax {
        let location = current.location
        if acceptSymbol("-") {
            if case .number(let digits) = current.kind {
                advance()
                return try parsePostfix(try node(kind: .literal(try Self.number("-" + digits, at: location)), location: location))
            }
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.nestingMaximum else {
                throw RuleParseError(at: location, "expressions nest deeper than \(Self.nestingMaximum) levels")
            }
            return try node(kind: .negate(try parseUnary()), location: location)
        }
        if acceptSymbol("+") {
            return try parseUnary()
        }
        return try parsePostfix(try parsePrimary())
    }

    /// `.name`, `.'odd key'`, `."odd key"`, `[expression]`, `["odd key"]` — a keyword is fine as a key right
    /// after a dot.
    private mutating func parsePostfix(_ base: RuleSyntax) throws(RuleParseError) -> RuleSyntax {
        var result = base
        while true {
            // A path is placed where it starts (`payload.a.b` at `payload`), which is where errors point.
            let location = result.location
            if acceptSymbol(".") {
                switch current.kind {
                case .word(let key) where Self.keywords.contains(key.uppercased()) && current.start != previous.end:
                    // `payload.end` is a key, but in `SELECT payload. FROM` the dot was left dangling.
                    throw failure("expected a field name after '.'")
                case .word(let key), .quotedName(let key), .string(let key):
                    advance()
                    result = try node(kind: .member(result, key), location: location)
                default:
                    throw failure("expected a field name after '.'")
                }
            } else if acceptSymbol("[") {
                // `["odd key"]` names a key, as `['odd key']` does (elsewhere "..." is a quoted name).
                var index: RuleSyntax
                if case .quotedName(let key) = current.kind, tokens[position + 1].isSymbol("]") {
                    index = try node(kind: .literal(.string(key)), location: current.location)
                    advance()
                } else {
                    index = try parseExpression()
                }
                guard acceptSymbol("]") else { throw failure("expected ']' after the index") }
                result = try node(kind: .index(result, index), location: location)
            } else {
                return result
            }
        }
    }

    private mutating func parsePrimary() throws(RuleParseError) -> RuleSyntax {
        let token = current
        switch token.kind {
        case .number(let digits):
            advance()
            return try node(kind: .literal(try Self.number(digits, at: token.location)), location: token.location)
        case .string(let text):
            advance()
            return try node(kind: .literal(.string(text)), location: token.location)
        case .quotedName(let name):
            advance()
            return try node(kind: .name(name), location: token.location)
        case .symbol("("):
            advance()
            let inner = try parseExpression()
            guard acceptSymbol(")") else { throw failure("expected ')'") }
            return inner
        case .word(let word):
            switch word.uppercased() {
            case "TRUE":
                advance()
                return try node(kind: .literal(.bool(true)), location: token.location)
            case "FALSE":
                advance()
                return try node(kind: .literal(.bool(false)), location: token.location)
            case "NULL":
                advance()
                return try node(kind: .literal(.null), location: token.location)
            case "CASE":
                return try parseCase()
            case let keyword where Self.keywords.contains(keyword):
                throw failure("expected an expression")
            default:
                advance()
                if acceptSymbol("(") {
                    var arguments: [RuleSyntax] = []
                    if !acceptSymbol(")") {
                        repeat {
                            arguments.append(try parseExpression())
                        } while acceptSymbol(",")
                        guard acceptSymbol(")") else { throw failure("expected ',' or ')' after a function argument") }
                    }
                    return try node(kind: .call(word.lowercased(), arguments), location: token.location)
                }
                return try node(kind: .name(word), location: token.location)
            }
        default:
            throw failure("expected an expression")
        }
    }

    /// `CASE WHEN c THEN v ... [ELSE e] END`, or `CASE x WHEN v THEN r ... [ELSE e] END` (compares x = v).
    private mutating func parseCase() throws(RuleParseError) -> RuleSyntax {
        let location = current.location
        advance()  // CASE
        let subject: RuleSyntax? = current.isKeyword("WHEN") ? nil : try parseExpression()
        var branches: [(RuleSyntax, RuleSyntax)] = []
        while acceptKeyword("WHEN") {
            let condition = try parseExpression()
            guard acceptKeyword("THEN") else { throw failure("expected THEN after the WHEN condition") }
            branches.append((condition, try parseExpression()))
        }
        guard !branches.isEmpty else { throw failure("expected WHEN after CASE") }
        let otherwise: RuleSyntax? = acceptKeyword("ELSE") ? try parseExpression() : nil
        guard acceptKeyword("END") else { throw failure(otherwise == nil ? "expected WHEN, ELSE or END in CASE" : "expected END after ELSE") }
        return try node(kind: .caseWhen(subject: subject, branches: branches, otherwise: otherwise), location: location)
    }

    /// An integer literal that fits an Int64 is an integer; every other number is a decimal.
    static func number(_ text: String, at location: RuleSourceLocation) throws(RuleParseError) -> RuleValue {
        if !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let integer = Int64(text) { return .int(integer) }
        // The lexer only lets JSON-like numbers through, which Double parses, overflowing to infinity.
        guard let value = Double(text), value.isFinite else {
            throw RuleParseError(at: location, "the number \(text) is out of range")
        }
        return .double(value)
    }
}
