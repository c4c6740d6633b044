/// Why a rule's text was refused, and where: `line` and `column` are 1-based and count characters
/// (Unicode scalars), so an editor can jump to the spot.
public struct RuleParseError: Error, CustomStringConvertible, Sendable, Equatable {
    public var line: Int
    public var column: Int
    /// What was expected and what was found, e.g. "expected FROM after the select list, found 'WHERE'".
    public var message: String

    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    init(at location: RuleSourceLocation, _ message: String) {
        self.init(line: location.line, column: location.column, message: message)
    }

    public var description: String { "line \(line), column \(column): \(message)" }
}

/// A place in the rule's text, kept by compiled nodes that can fail so that an evaluation error names
/// the operator or function that failed.
struct RuleSourceLocation: Sendable, Equatable {
    var line: Int
    var column: Int
}

struct RuleToken: Equatable {
    enum Kind: Equatable {
        /// An unquoted word: a keyword, a name or a function name (which one is the parser's call, so a
        /// keyword can still be a key after a dot: `payload.end`).
        case word(String)
        /// `"text"`: a name, never a keyword (`""` inside is one quote).
        case quotedName(String)
        /// `'text'`: a string literal (`''` inside is one quote).
        case string(String)
        /// Digits with an optional fraction and exponent, as written; the parser decides integer or decimal.
        case number(String)
        /// Punctuation and operators: `( ) , . [ ] * + - / % = != <> < <= > >= =~`.
        case symbol(String)
        case end
    }

    var kind: Kind
    var location: RuleSourceLocation
    /// Offsets in the text's Unicode scalars, [start, end): lets the parser quote an expression's text.
    var start: Int
    var end: Int

    func isKeyword(_ keyword: String) -> Bool {
        if case .word(let word) = kind { return word.uppercased() == keyword }
        return false
    }

    func isSymbol(_ symbol: String) -> Bool {
        if case .symbol(let text) = kind { return text == symbol }
        return false
    }

    /// How an error message shows the token.
    var quoted: String {
        switch kind {
        case .word(let text), .number(let text), .symbol(let text): "'\(text)'"
        case .quotedName(let text): "\"\(text)\""
        case .string(let text): "string '\(text)'"
        case .end: "end of input"
        }
    }
}

/// Splits rule text into tokens. Whitespace separates tokens; `--` starts a comment to the end of the line
/// (rules live in YAML configuration, where a note beside a condition helps).
struct RuleLexer {
    /// Bounds the work for a rule's text; real rules are a few hundred characters.
    static let textScalarsMaximum = 65_536

    private let scalars: [Unicode.Scalar]
    private var index = 0
    private var line = 1
    private var lineStart = 0

    init(_ text: String) {
        scalars = Array(text.unicodeScalars)
    }

    static func tokens(of text: String) throws(RuleParseError) -> [RuleToken] {
        var lexer = RuleLexer(text)
        guard lexer.scalars.count <= textScalarsMaximum else {
            throw RuleParseError(line: 1, column: 1, message: "the rule is longer than \(textScalarsMaximum) characters")
        }
        var tokens: [RuleToken] = []
        while true {
            let token = try lexer.next()
            tokens.append(token)
            if token.kind == .end { return tokens }
        }
    }

    private var location: RuleSourceLocation { RuleSourceLocation(line: line, column: index - lineStart + 1) }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        index + offset < scalars.count ? scalars[index + offset] : nil
    }

    private mutating func advance() {
        if scalars[index] == "\n" {
            line += 1
            lineStart = index + 1
        }
        index += 1
    }

    private mutating func skipSpaceAndComments() {
        while let scalar = peek() {
            if scalar.properties.isWhitespace {
                advance()
            } else if scalar == "-", peek(1) == "-" {
                while let next = peek(), next != "\n" { advance() }
            } else {
                return
            }
        }
    }

    private mutating func next() throws(RuleParseError) -> RuleToken {
        skipSpaceAndComments()
        let start = index
        let startLocation = location
        func token(_ kind: RuleToken.Kind) -> RuleToken {
            RuleToken(kind: kind, location: startLocation, start: start, end: index)
        }
        guard let scalar = peek() else { return token(.end) }
        if Self.isWordStart(scalar) {
            while let next = peek(), Self.isWordPart(next) { advance() }
            return token(.word(text(start..<index)))
        }
        if Self.isDigit(scalar) {
            return token(.number(try number()))
        }
        switch scalar {
        case "'":
            return token(.string(try quoted(by: "'", what: "string")))
        case "\"":
            return token(.quotedName(try quoted(by: "\"", what: "quoted name")))
        case "(", ")", ",", ".", "[", "]", "*", "+", "-", "/", "%":
            advance()
            return token(.symbol(String(scalar)))
        case "=":
            advance()
            if peek() == "~" {
                advance()
                return token(.symbol("=~"))
            }
            return token(.symbol("="))
        case "!":
            advance()
            guard peek() == "=" else { throw RuleParseError(at: startLocation, "unexpected character '!' (did you mean '!='?)") }
            advance()
            return token(.symbol("!="))
        case "<":
            advance()
            if peek() == "=" || peek() == ">" {
                let second = peek()!
                advance()
                return token(.symbol("<" + String(second)))
            }
            return token(.symbol("<"))
        case ">":
            advance()
            if peek() == "=" {
                advance()
                return token(.symbol(">="))
            }
            return token(.symbol(">"))
        default:
            throw RuleParseError(at: startLocation, "unexpected character '\(scalar)'")
        }
    }

    private func text(_ range: Range<Int>) -> String {
        var result = ""
        result.unicodeScalars.append(contentsOf: scalars[range])
        return result
    }

    /// `12`, `12.5`, `1e3`, `2.5E-3`. A dot not followed by a digit is left alone (it is member access).
    private mutating func number() throws(RuleParseError) -> String {
        let start = index
        while let next = peek(), Self.isDigit(next) { advance() }
        if peek() == ".", let after = peek(1), Self.isDigit(after) {
            advance()
            while let next = peek(), Self.isDigit(next) { advance() }
        }
        if peek() == "e" || peek() == "E" {
            let exponentLocation = location
            advance()
            if peek() == "+" || peek() == "-" { advance() }
            guard let digit = peek(), Self.isDigit(digit) else {
                throw RuleParseError(at: exponentLocation, "expected digits in the exponent of a number")
            }
            while let next = peek(), Self.isDigit(next) { advance() }
        }
        if let next = peek(), Self.isWordPart(next) {
            throw RuleParseError(at: location, "unexpected character '\(next)' after a number")
        }
        return text(start..<index)
    }

    /// At the opening quote; the same quote twice is the quote itself.
    private mutating func quoted(by quote: Unicode.Scalar, what: String) throws(RuleParseError) -> String {
        let startLocation = location
        advance()
        var result = ""
        while true {
            guard let scalar = peek() else {
                throw RuleParseError(at: startLocation, "unterminated \(what): no closing \(quote)")
            }
            advance()
            if scalar == quote {
                guard peek() == quote else { return result }
                advance()
            }
            result.unicodeScalars.append(scalar)
        }
    }

    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar >= "0" && scalar <= "9" }

    private static func isWordStart(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z")
    }

    private static func isWordPart(_ scalar: Unicode.Scalar) -> Bool { isWordStart(scalar) || isDigit(scalar) }
}
