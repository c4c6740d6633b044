import Compression
import Foundation
import KafkaProtocol
import NIOCore
import Testing

/// Request frames recorded from real clients (kcat, confluent-kafka, kafka-python) by
/// tools/capture-fixtures.sh. Every one must decode, name the API and version its file says, and
/// re-encode to exactly the bytes the client sent.
@Suite struct CapturedClientRequestTests {
    struct Fixture: CustomTestStringConvertible, Sendable {
        var client: String
        var name: String
        var bytes: [UInt8]
        var testDescription: String { "\(client)/\(name)" }
    }

    static let fixtures: [Fixture] = {
        guard let root = Bundle.module.url(forResource: "Fixtures", withExtension: nil)?.appendingPathComponent("captured") else { return [] }
        var result: [Fixture] = []
        let clients = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        for client in clients.sorted() {
            let folder = root.appendingPathComponent(client)
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted() where name.hasSuffix(".bin") {
                if let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) {
                    result.append(Fixture(client: client, name: name, bytes: Array(data)))
                }
            }
        }
        return result
    }()

    @Test func everyClientIsRepresented() {
        let clients = Set(Self.fixtures.map(\.client))
        #expect(clients == ["kcat", "confluent-kafka", "kafka-python"])
        for client in clients {
            let apis = Set(Self.fixtures.filter { $0.client == client }.map { $0.name.split(separator: "-")[1] })
            #expect(apis.isSuperset(of: ["ApiVersions", "Metadata", "Produce", "Fetch", "ListOffsets"]), "\(client): \(apis)")
        }
    }

    @Test(arguments: fixtures)
    func decodesAndReencodesExactly(_ fixture: Fixture) throws {
        var input = ByteBuffer(bytes: fixture.bytes)
        let frame = try KafkaRequestFrame.decode(from: &input)
        // "0005-Produce-v7.bin": the API name and version the client used.
        let parts = fixture.name.dropLast(4).split(separator: "-")
        #expect(frame.apiKey.name == String(parts[1]))
        #expect("v\(frame.version)" == String(parts[2]))
        var encoded = ByteBuffer()
        try frame.encode(into: &encoded)
        encoded.moveReaderIndex(forwardBy: 4)
        #expect(Array(encoded.readableBytesView) == fixture.bytes, "\(fixture.testDescription) does not re-encode to the same bytes")
        if case .produce(let produce) = frame.body {
            for topic in produce.topicData {
                for partition in topic.partitionData {
                    let batch = try RecordBatch.validateForProduce(try #require(partition.records), apiVersion: frame.version)
                    #expect(try batch.records().count == Int(batch.header.recordCount))
                }
            }
        }
    }

    /// confluent-kafka produced the same 20 records to `confluent-<codec>` with each compression type.
    @Test func confluentKafkaBatchesInEveryCodecDecode() throws {
        var seen: Set<String> = []
        for fixture in Self.fixtures where fixture.client == "confluent-kafka" && fixture.name.contains("-Produce-") {
            var input = ByteBuffer(bytes: fixture.bytes)
            let frame = try KafkaRequestFrame.decode(from: &input)
            guard case .produce(let produce) = frame.body else { continue }
            for topic in produce.topicData {
                let codecName = String(topic.name.dropFirst("confluent-".count))
                let codec = try #require(CompressionCodec(name: codecName))
                for partition in topic.partitionData {
                    let batch = try RecordBatch.validateForProduce(try #require(partition.records), apiVersion: frame.version)
                    #expect(batch.header.compression == codec, "\(topic.name) batch uses \(String(describing: batch.header.compression))")
                    for record in try batch.records() {
                        let index = Int(record.offsetDelta)
                        #expect(record.key.map { String(buffer: $0) } == "key-\(index)")
                        #expect(record.value.map { String(buffer: $0) } == String(repeating: "value-\(index) ", count: 40))
                        #expect(record.headers == [RecordHeader(key: "h", value: ByteBuffer(string: "v"))])
                        #expect(batch.header.baseTimestamp + record.timestampDelta == 1_700_000_000_000 + Int64(index))
                    }
                    seen.insert(codecName)
                }
            }
        }
        #expect(seen == ["none", "gzip", "snappy", "lz4", "zstd"])
    }
}
