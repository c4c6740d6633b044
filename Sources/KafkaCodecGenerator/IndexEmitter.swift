/// Emits the API key table (`KafkaApiKey`) and the request/response sum types that dispatch decoding by key.
struct IndexEmitter {
    struct Api {
        var request: MessageSpec
        var response: MessageSpec
        var caseName: String { SwiftNames.apiCase(request.name) }
        var displayName: String { String(request.name.dropLast("Request".count)) }
    }

    let apis: [Api]

    func emitApiKeys() -> String {
        var builder = CodeBuilder()
        builder.line(GeneratedHeader.text)
        builder.line("/// Every API key whose schema lists the `broker` listener, with its versions and header rules.")
        builder.block("public enum KafkaApiKey: Int16, CaseIterable, Sendable, CustomStringConvertible") { builder in
            for api in apis {
                builder.line("case \(SwiftNames.escaped(api.caseName)) = \(api.request.apiKey!)")
            }
            builder.line()
            builder.line("/// The API's name as Apache Kafka spells it, e.g. `Produce`.")
            builder.block("public var name: String") { builder in
                builder.line("switch self {")
                for api in apis {
                    builder.line("case .\(api.caseName): return \(SwiftNames.stringLiteral(api.displayName))")
                }
                builder.line("}")
            }
            builder.line()
            builder.line("public var description: String { name }")
            builder.line()
            builder.line("/// Every version the codec reads and writes (the schema's `validVersions`).")
            builder.block("public var validVersions: ClosedRange<Int16>") { builder in
                builder.line("switch self {")
                for api in apis {
                    builder.line("case .\(api.caseName): return \(api.request.lowestVersion)...\(api.request.highestVersion)")
                }
                builder.line("}")
            }
            builder.line()
            builder.line("/// True when the schema marks the highest valid version as unstable (still under development).")
            builder.block("public var latestVersionIsUnstable: Bool") { builder in
                builder.line("switch self {")
                for api in apis {
                    builder.line("case .\(api.caseName): return \(api.request.latestVersionUnstable)")
                }
                builder.line("}")
            }
            builder.line()
            builder.line("/// The first request version with the flexible encoding, nil if none.")
            builder.block("public var firstFlexibleVersion: Int16?") { builder in
                builder.line("switch self {")
                for api in apis {
                    let text = api.request.flexibleVersions.isEmpty ? "nil" : String(api.request.flexibleVersions.lower)
                    builder.line("case .\(api.caseName): return \(text)")
                }
                builder.line("}")
            }
            builder.line()
            builder.line("/// Whether `version` uses the flexible encoding; versions above the known range count as flexible")
            builder.line("/// when the API has become flexible (so a newer client's header can still be read).")
            builder.block("public func isFlexible(version: Int16) -> Bool") { builder in
                builder.line("guard let first = firstFlexibleVersion else { return false }")
                builder.line("return version >= first")
            }
            builder.line()
            builder.line("/// Request header v2 for flexible versions, v1 otherwise; ControlledShutdown v0 uses v0.")
            builder.block("public func requestHeaderVersion(for version: Int16) -> Int16") { builder in
                builder.line("if self.rawValue == 7 && version == 0 { return 0 }")
                builder.line("return isFlexible(version: version) ? 2 : 1")
            }
            builder.line()
            builder.line("/// Response header v1 for flexible versions, v0 otherwise; ApiVersions responses always use v0 so that a")
            builder.line("/// client can read them before it knows what the broker supports.")
            builder.block("public func responseHeaderVersion(for version: Int16) -> Int16") { builder in
                builder.line("if self == .apiVersions { return 0 }")
                builder.line("return isFlexible(version: version) ? 1 : 0")
            }
            builder.line()
            builder.block("public var requestType: any KafkaRequestMessage.Type") { builder in
                builder.line("switch self {")
                for api in apis {
                    builder.line("case .\(api.caseName): return \(api.request.name).self")
                }
                builder.line("}")
            }
            builder.line()
            builder.block("public var responseType: any KafkaResponseMessage.Type") { builder in
                builder.line("switch self {")
                for api in apis {
                    builder.line("case .\(api.caseName): return \(api.response.name).self")
                }
                builder.line("}")
            }
        }
        return builder.text
    }

    func emitSumType(kind: String) -> String {
        let typeName = "Kafka\(kind)"
        var builder = CodeBuilder()
        builder.line(GeneratedHeader.text)
        builder.line("public import NIOCore")
        builder.line()
        builder.line("/// A decoded \(kind.lowercased()) body of any API; handlers switch over it.")
        builder.block("public enum \(typeName): Sendable, Equatable") { builder in
            for api in apis {
                let message = kind == "Request" ? api.request : api.response
                builder.line("case \(SwiftNames.escaped(api.caseName))(\(message.name))")
            }
            builder.line()
            builder.block("public var apiKey: KafkaApiKey") { builder in
                builder.line("switch self {")
                for api in apis {
                    builder.line("case .\(api.caseName): return .\(api.caseName)")
                }
                builder.line("}")
            }
            builder.line()
            builder.block("public var message: any Kafka\(kind)Message") { builder in
                builder.line("switch self {")
                for api in apis {
                    builder.line("case .\(api.caseName)(let body): return body")
                }
                builder.line("}")
            }
            builder.line()
            builder.line("/// Decodes a body of `apiKey` at `version`; errors carry the API key and version.")
            builder.block("public static func decode(apiKey: KafkaApiKey, version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodingError) -> \(typeName)") { builder in
                builder.line("do {")
                builder.indent { builder in
                    builder.line("switch apiKey {")
                    for api in apis {
                        let message = kind == "Request" ? api.request : api.response
                        builder.line("case .\(api.caseName): return .\(api.caseName)(try \(message.name)(from: &buffer, version: version))")
                    }
                    builder.line("}")
                }
                builder.line("} catch {")
                builder.indent { builder in
                    builder.line("var annotated: KafkaDecodingError = error")
                    builder.line("annotated.apiKey = apiKey.rawValue")
                    builder.line("annotated.version = version")
                    builder.line("throw annotated")
                }
                builder.line("}")
            }
            builder.line()
            builder.block("public func encode(into buffer: inout ByteBuffer, version: Int16) throws(KafkaEncodingError)") { builder in
                builder.line("switch self {")
                for api in apis {
                    builder.line("case .\(api.caseName)(let body): try body.encode(into: &buffer, version: version)")
                }
                builder.line("}")
            }
        }
        return builder.text
    }
}

/// Emits `KafkaErrorCode` from the error-code table (code, name, retriable, description; tab-separated).
struct ErrorCodeEmitter {
    struct Entry {
        var code: Int16
        var name: String
        var retriable: Bool
        var description: String
    }

    let entries: [Entry]

    init(tableText: String, source: String) throws {
        var entries: [Entry] = []
        for (index, line) in tableText.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let columns = line.split(separator: "\t", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
            if index == 0 && columns.first == "code" { continue }
            guard columns.count >= 3, let code = Int16(columns[0]) else {
                throw GeneratorError.invalidSchema(source, "line \(index + 1) is not 'code<TAB>name<TAB>retriable<TAB>description'")
            }
            guard columns[2] == "true" || columns[2] == "false" else {
                throw GeneratorError.invalidSchema(source, "line \(index + 1): retriable must be true or false")
            }
            entries.append(Entry(code: code, name: columns[1], retriable: columns[2] == "true", description: columns.count > 3 ? columns[3] : ""))
        }
        self.entries = entries
    }

    static func caseName(_ name: String) -> String {
        // `none` would be ambiguous with Optional.none wherever an optional error code is expected.
        name == "NONE" ? "noError" : SwiftNames.errorCase(name)
    }

    func emit() -> String {
        var builder = CodeBuilder()
        builder.line("// Generated by `make generate` (Sources/generate-kafka-codec) from the Kafka error-code table.")
        builder.line("// Do not edit.")
        builder.line()
        builder.line("/// A Kafka protocol error code. Codes this table does not know are still representable, because a")
        builder.line("/// newer peer may send them.")
        builder.block("public struct KafkaErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible") { builder in
            builder.line("public var rawValue: Int16")
            builder.line()
            builder.line("public init(rawValue: Int16) {")
            builder.indent { $0.line("self.rawValue = rawValue") }
            builder.line("}")
            builder.line()
            for entry in entries {
                builder.doc(entry.description)
                builder.line("public static let \(Self.caseName(entry.name)) = KafkaErrorCode(rawValue: \(entry.code))")
            }
            builder.line()
            builder.line("/// Every code in the table, in table order.")
            builder.line("public static let allKnown: [KafkaErrorCode] = [")
            builder.indent { builder in
                for entry in entries {
                    builder.line(".\(Self.caseName(entry.name)),")
                }
            }
            builder.line("]")
            builder.line()
            builder.line("/// The protocol name, e.g. `UNKNOWN_TOPIC_OR_PARTITION`; nil for a code the table does not know.")
            builder.block("public var name: String?") { builder in
                builder.line("switch rawValue {")
                for entry in entries {
                    builder.line("case \(entry.code): return \(SwiftNames.stringLiteral(entry.name))")
                }
                builder.line("default: return nil")
                builder.line("}")
            }
            builder.line()
            builder.line("/// Whether a client may retry the request that got this error.")
            builder.block("public var isRetriable: Bool") { builder in
                builder.line("switch rawValue {")
                let retriable = entries.filter(\.retriable).map { String($0.code) }
                builder.line("case \(retriable.joined(separator: ", ")): return true")
                builder.line("default: return false")
                builder.line("}")
            }
            builder.line()
            builder.line("/// Apache Kafka's description of the error.")
            builder.block("public var message: String") { builder in
                builder.line("switch rawValue {")
                for entry in entries {
                    builder.line("case \(entry.code): return \(SwiftNames.stringLiteral(entry.description))")
                }
                builder.line("default: return \"unknown error code\"")
                builder.line("}")
            }
            builder.line()
            builder.line("public var description: String { name.map { \"\\($0) (\\(rawValue))\" } ?? \"error code \\(rawValue)\" }")
        }
        return builder.text
    }
}
