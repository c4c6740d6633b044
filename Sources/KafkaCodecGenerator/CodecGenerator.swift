public import Foundation

/// One file the generator writes, relative to the repository root.
public struct GeneratedFile: Equatable, Sendable {
    public var path: String
    public var contents: String
}

/// Reads Apache Kafka's message schemas and the error-code table and produces the Swift codec.
///
/// - `Sources/KafkaProtocol/Generated/Messages/<Name>.swift`: one value type per request, response and header;
/// - `Sources/KafkaProtocol/Generated/KafkaApiKey.swift`, `KafkaRequest.swift`, `KafkaResponse.swift`;
/// - `Sources/KafkaProtocol/Generated/KafkaErrorCode.swift`;
/// - `Tests/KafkaProtocolTests/Generated/Arbitrary+<Name>.swift`: random values for the round-trip test.
///
/// Only APIs whose request lists the `broker` listener are generated.
public struct CodecGenerator {
    public static let libraryDirectory = "Sources/KafkaProtocol/Generated"
    public static let testsDirectory = "Tests/KafkaProtocolTests/Generated"

    public let schemaDirectory: URL
    public let errorCodesFile: URL

    public init(schemaDirectory: URL, errorCodesFile: URL) {
        self.schemaDirectory = schemaDirectory
        self.errorCodesFile = errorCodesFile
    }

    public func generate() throws -> [GeneratedFile] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: schemaDirectory.path)
                .filter { $0.hasSuffix(".json") }
                .sorted()
        } catch {
            throw GeneratorError.io("cannot list the schema folder \(schemaDirectory.path): \(error)")
        }
        var messages: [String: MessageSpec] = [:]
        for name in names {
            let url = schemaDirectory.appendingPathComponent(name)
            let text: String
            do {
                text = try String(contentsOf: url, encoding: .utf8)
            } catch {
                throw GeneratorError.io("cannot read \(url.path): \(error)")
            }
            let object = try JSONWithComments.parseObject(text, source: name)
            let message = try MessageSpec(parsing: object, source: name)
            messages[message.name] = message
        }

        var apis: [IndexEmitter.Api] = []
        for message in messages.values where message.kind == .request && message.listeners.contains("broker") {
            let responseName = String(message.name.dropLast("Request".count)) + "Response"
            guard let response = messages[responseName] else {
                throw GeneratorError.invalidSchema(message.name, "no \(responseName) schema")
            }
            guard response.apiKey == message.apiKey, response.validVersions == message.validVersions else {
                throw GeneratorError.invalidSchema(message.name, "\(responseName) disagrees on api key or versions")
            }
            apis.append(IndexEmitter.Api(request: message, response: response))
        }
        apis.sort { $0.request.apiKey! < $1.request.apiKey! }
        guard !apis.isEmpty else {
            throw GeneratorError.invalidSchema(schemaDirectory.path, "no request schema lists the broker listener")
        }

        var selected: [MessageSpec] = apis.flatMap { [$0.request, $0.response] }
        for headerName in ["RequestHeader", "ResponseHeader"] {
            guard let header = messages[headerName] else {
                throw GeneratorError.invalidSchema(schemaDirectory.path, "no \(headerName) schema")
            }
            selected.append(header)
        }

        var files: [GeneratedFile] = []
        for message in selected {
            files.append(GeneratedFile(
                path: "\(Self.libraryDirectory)/Messages/\(message.name).swift",
                contents: try MessageEmitter(message: message).emitFile()
            ))
            files.append(GeneratedFile(
                path: "\(Self.testsDirectory)/Arbitrary+\(message.name).swift",
                contents: try ArbitraryEmitter(message: message).emitFile()
            ))
        }
        let index = IndexEmitter(apis: apis)
        files.append(GeneratedFile(path: "\(Self.libraryDirectory)/KafkaApiKey.swift", contents: index.emitApiKeys()))
        files.append(GeneratedFile(path: "\(Self.libraryDirectory)/KafkaRequest.swift", contents: index.emitSumType(kind: "Request")))
        files.append(GeneratedFile(path: "\(Self.libraryDirectory)/KafkaResponse.swift", contents: index.emitSumType(kind: "Response")))

        let errorTable: String
        do {
            errorTable = try String(contentsOf: errorCodesFile, encoding: .utf8)
        } catch {
            throw GeneratorError.io("cannot read \(errorCodesFile.path): \(error)")
        }
        let errors = try ErrorCodeEmitter(tableText: errorTable, source: errorCodesFile.lastPathComponent)
        files.append(GeneratedFile(path: "\(Self.libraryDirectory)/KafkaErrorCode.swift", contents: errors.emit()))
        return files.sorted { $0.path < $1.path }
    }

    /// The generated files currently on disk under `root`, for comparison and clean-up.
    public static func existingFiles(under root: URL) -> [String] {
        var paths: [String] = []
        for directory in [libraryDirectory, testsDirectory] {
            let base = root.appendingPathComponent(directory)
            guard let enumerator = FileManager.default.enumerator(atPath: base.path) else { continue }
            while let relative = enumerator.nextObject() as? String {
                if relative.hasSuffix(".swift") {
                    paths.append("\(directory)/\(relative)")
                }
            }
        }
        return paths.sorted()
    }
}
