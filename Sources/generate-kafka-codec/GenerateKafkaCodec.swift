import ArgumentParser
import Foundation
import KafkaCodecGenerator

/// `swift run generate-kafka-codec --schemas DIR --error-codes FILE` (what `make generate` runs).
@main
struct GenerateKafkaCodec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate-kafka-codec",
        abstract: "Generates the Swift Kafka codec from Apache Kafka's message schemas."
    )

    @Option(help: "Folder of Apache Kafka message schemas (clients/src/main/resources/common/message).")
    var schemas: String

    @Option(name: .customLong("error-codes"), help: "Tab-separated error-code table: code, name, retriable, description.")
    var errorCodes: String

    @Option(help: "Repository root to write into.")
    var output: String = "."

    mutating func run() throws {
        let generator = CodecGenerator(
            schemaDirectory: URL(fileURLWithPath: schemas),
            errorCodesFile: URL(fileURLWithPath: errorCodes)
        )
        let files = try generator.generate()
        let root = URL(fileURLWithPath: output)
        let wanted = Set(files.map(\.path))
        var removed = 0
        for stale in CodecGenerator.existingFiles(under: root) where !wanted.contains(stale) {
            try FileManager.default.removeItem(at: root.appendingPathComponent(stale))
            removed += 1
        }
        var written = 0
        for file in files {
            let url = root.appendingPathComponent(file.path)
            if let current = try? String(contentsOf: url, encoding: .utf8), current == file.contents { continue }
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try file.contents.write(to: url, atomically: true, encoding: .utf8)
            written += 1
        }
        print("generate-kafka-codec: \(files.count) files, \(written) written, \(removed) stale removed")
    }
}
