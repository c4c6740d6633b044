import Foundation

/// Apache Kafka's message schemas are JSON with `//` line comments. This removes the comments (outside
/// string literals only: `about` texts contain URLs) and parses what remains.
enum JSONWithComments {
    static func strippingComments(_ text: String) -> String {
        var output: [UInt8] = []
        let bytes = Array(text.utf8)
        output.reserveCapacity(bytes.count)
        var index = 0
        var inString = false
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                output.append(byte)
                if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                    output.append(bytes[index + 1])
                    index += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") { inString = false }
                index += 1
                continue
            }
            if byte == UInt8(ascii: "\"") {
                inString = true
                output.append(byte)
                index += 1
                continue
            }
            if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "/") {
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
                continue
            }
            output.append(byte)
            index += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func parseObject(_ text: String, source: String) throws -> [String: Any] {
        let stripped = strippingComments(text)
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: Data(stripped.utf8), options: [])
        } catch {
            throw GeneratorError.invalidSchema(source, "not valid JSON after removing comments: \(error)")
        }
        guard let object = value as? [String: Any] else {
            throw GeneratorError.invalidSchema(source, "the top level is not a JSON object")
        }
        return object
    }
}

public enum GeneratorError: Error, CustomStringConvertible {
    case invalidSchema(String, String)
    case io(String)

    public var description: String {
        switch self {
        case .invalidSchema(let source, let why): return "\(source): \(why)"
        case .io(let why): return why
        }
    }
}
