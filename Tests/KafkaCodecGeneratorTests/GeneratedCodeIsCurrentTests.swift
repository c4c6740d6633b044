import Foundation
import KafkaCodecGenerator
import Testing

/// The committed generated code must equal what the generator produces from the schemas now.
@Suite struct GeneratedCodeIsCurrentTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let protocolFolder = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/kafka-protocol")
    static let schemaFolder = protocolFolder.appendingPathComponent("messages")
    static let errorCodes = protocolFolder.appendingPathComponent("error-codes.tsv")
    static let schemasPresent = FileManager.default.fileExists(atPath: schemaFolder.path)

    @Test(
        .enabled(if: schemasPresent, "the schema folder ../shared/kafka-protocol/messages is absent; nothing to compare against")
    )
    func committedCodeMatchesAFreshRun() throws {
        let generator = CodecGenerator(schemaDirectory: Self.schemaFolder, errorCodesFile: Self.errorCodes)
        let files = try generator.generate()
        #expect(files.count > 150)
        var stale: [String] = []
        for file in files {
            let onDisk = try? String(contentsOf: Self.repositoryRoot.appendingPathComponent(file.path), encoding: .utf8)
            if onDisk != file.contents { stale.append(file.path) }
        }
        let wanted = Set(files.map(\.path))
        let extra = CodecGenerator.existingFiles(under: Self.repositoryRoot).filter { !wanted.contains($0) }
        #expect(stale.isEmpty, "generated code is out of date (run `make generate`): \(stale.prefix(10))")
        #expect(extra.isEmpty, "generated files no schema produces (run `make generate`): \(extra.prefix(10))")
    }
}
