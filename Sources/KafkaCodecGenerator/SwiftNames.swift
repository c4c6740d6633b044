import Foundation

/// Maps schema names (PascalCase) to Swift identifiers.
enum SwiftNames {
    static let keywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
        "inout", "internal", "let", "open", "operator", "private", "protocol", "public", "rethrows", "static",
        "struct", "subscript", "typealias", "var", "break", "case", "continue", "default", "defer", "do",
        "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return", "switch", "where", "while",
        "as", "Any", "catch", "false", "is", "nil", "super", "self", "Self", "throw", "throws", "true", "try",
        "Type", "Protocol",
    ]

    /// Names the generated code uses for its own locals and members; a schema field may not take them.
    /// (`self.` and `value.` prefixes keep fields such as `version` and `value` apart from the locals.)
    static let reserved: Set<String> = [
        "buffer", "flexible", "taggedFields", "taggedField", "taggedData", "taggedFieldCount", "previousTag",
        "unknownTaggedFields", "elementBuffer", "element", "generator", "elementGenerator", "present",
    ]

    /// `TransactionalId` → `transactionalId`; `KRaftVersion` → `kRaftVersion`.
    static func property(_ schemaName: String) -> String {
        guard let first = schemaName.first else { return schemaName }
        return first.lowercased() + schemaName.dropFirst()
    }

    /// The identifier as it may appear in a declaration or parameter list.
    static func escaped(_ identifier: String) -> String {
        keywords.contains(identifier) ? "`\(identifier)`" : identifier
    }

    /// `produce` from `ProduceRequest`; `describeTopicPartitions` from `DescribeTopicPartitionsRequest`.
    static func apiCase(_ requestName: String) -> String {
        var base = requestName
        if base.hasSuffix("Request") { base = String(base.dropLast("Request".count)) }
        return property(base)
    }

    /// `UNKNOWN_SERVER_ERROR` → `unknownServerError`.
    static func errorCase(_ upperSnake: String) -> String {
        let words = upperSnake.split(separator: "_").map { $0.lowercased() }
        guard let first = words.first else { return upperSnake }
        let rest = words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }
        return escaped(([first] + rest).joined())
    }

    static func stringLiteral(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if scalar.value < 0x20 {
                    result += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}

/// Accumulates indented source lines.
struct CodeBuilder {
    private(set) var text = ""
    private var depth = 0

    mutating func line(_ content: String = "") {
        if content.isEmpty {
            text += "\n"
        } else {
            text += String(repeating: "    ", count: depth) + content + "\n"
        }
    }

    /// Writes `header {`, the body one level deeper, then `}` plus `trailer`.
    mutating func block(_ header: String, trailer: String = "", _ body: (inout CodeBuilder) throws -> Void) rethrows {
        line(header + " {")
        depth += 1
        try body(&self)
        depth -= 1
        line("}" + trailer)
    }

    /// `if condition { ... } else { ... }`.
    mutating func ifElse(
        _ condition: String,
        then thenBody: (inout CodeBuilder) throws -> Void,
        else elseBody: (inout CodeBuilder) throws -> Void
    ) rethrows {
        line("if \(condition) {")
        depth += 1
        try thenBody(&self)
        depth -= 1
        line("} else {")
        depth += 1
        try elseBody(&self)
        depth -= 1
        line("}")
    }

    /// Appends another builder's lines at this builder's current depth.
    mutating func append(_ other: CodeBuilder) {
        let prefix = String(repeating: "    ", count: depth)
        for line in other.text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            text += line.isEmpty ? "\n" : prefix + line + "\n"
        }
    }

    mutating func indent(_ body: (inout CodeBuilder) throws -> Void) rethrows {
        depth += 1
        try body(&self)
        depth -= 1
    }

    /// Doc comment lines from an `about` text.
    mutating func doc(_ about: String) {
        let trimmed = about.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return }
        for part in trimmed.split(separator: "\n", omittingEmptySubsequences: false) {
            line("/// " + part.trimmingCharacters(in: .whitespaces))
        }
    }
}
