/// The parsed form of a rule, as written: names are not resolved yet (whether `reason` is allowed depends
/// on the FROM clause, which comes after the select list). `RuleCompiler` turns it into `RuleExpression`.
struct RuleSyntax {
    indirect enum Kind {
        case literal(RuleValue)
        case name(String)
        case member(RuleSyntax, String)
        case index(RuleSyntax, RuleSyntax)
        case negate(RuleSyntax)
        case not(RuleSyntax)
        case and(RuleSyntax, RuleSyntax)
        case or(RuleSyntax, RuleSyntax)
        case arithmetic(RuleArithmeticOperator, RuleSyntax, RuleSyntax)
        case comparison(RuleComparisonOperator, RuleSyntax, RuleSyntax)
        case isNull(RuleSyntax, negated: Bool)
        case inList(RuleSyntax, [RuleSyntax], negated: Bool)
        case like(RuleSyntax, RuleSyntax, negated: Bool)
        case topicMatch(RuleSyntax, RuleSyntax)
        case caseWhen(subject: RuleSyntax?, branches: [(RuleSyntax, RuleSyntax)], otherwise: RuleSyntax?)
        /// The name in lower case (function names are case-insensitive, like keywords).
        case call(String, [RuleSyntax])
    }

    var kind: Kind
    /// For an operator, where the operator is; otherwise where the expression starts.
    var location: RuleSourceLocation
    /// Levels of the tree at and below this node. Compiling, evaluating and freeing a tree all recurse
    /// once per level, so the parser bounds it (`RuleParser.heightMaximum`): a chain like `1+1+1+...`
    /// grows the tree without nesting the parser.
    let height: Int

    init(kind: Kind, location: RuleSourceLocation) {
        self.kind = kind
        self.location = location
        let children: [RuleSyntax]
        switch kind {
        case .literal, .name: children = []
        case .member(let base, _): children = [base]
        case .index(let base, let index): children = [base, index]
        case .negate(let operand), .not(let operand), .isNull(let operand, _): children = [operand]
        case .and(let left, let right), .or(let left, let right), .arithmetic(_, let left, let right), .comparison(_, let left, let right),
            .like(let left, let right, _), .topicMatch(let left, let right):
            children = [left, right]
        case .inList(let operand, let list, _): children = [operand] + list
        case .caseWhen(let subject, let branches, let otherwise):
            children = [subject, otherwise].compactMap { $0 } + branches.flatMap { [$0.0, $0.1] }
        case .call(_, let arguments): children = arguments
        }
        let below = children.map(\.height).max() ?? 0
        height = below + 1
    }
}

enum RuleArithmeticOperator: String, Sendable {
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case remainder = "%"
}

enum RuleComparisonOperator: String, Sendable {
    case equal = "="
    case notEqual = "!="
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
}

/// One item of the select list.
struct RuleColumnSyntax {
    var expression: RuleSyntax
    /// The AS name, if given.
    var alias: String?
    /// The expression as written, for naming an unnamed column.
    var text: String
    var location: RuleSourceLocation
}

struct RuleStatementSyntax {
    /// nil for `SELECT *`.
    var columns: [RuleColumnSyntax]?
    var sources: [(text: String, location: RuleSourceLocation)]
    var condition: RuleSyntax?
}
