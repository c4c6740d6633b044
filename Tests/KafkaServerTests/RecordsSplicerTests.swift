import Foundation
import KafkaProtocol
@testable import KafkaServer
import LogStore
import NIOCore
import Testing

/// Fetch responses whose records are sent from files: once the file ranges are read back in place, the
/// bytes must equal the response encoded with the records in memory, for old and flexible versions.
@Suite struct RecordsSplicerTests {
    @Test(arguments: [Int16(4), 11, 12, 16])
    func splicedResponsesEqualTheInMemoryOnes(version: Int16) throws {
        let path = NSTemporaryDirectory() + "splice-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try LogFile(path: path)
        var content = ByteBuffer()
        for index in 0..<300 { content.writeString("record bytes \(index) ") }
        try file.write(content, at: 0)
        let ranges = [0..<1000, 1500..<1500, 2000..<(content.readableBytes)]

        func response(records: [ByteBuffer?]) -> FetchResponse {
            var response = FetchResponse(throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: [])
            var topic = FetchResponse.FetchableTopicResponse(topic: "t", topicId: .zero, partitions: [])
            for (index, records) in records.enumerated() {
                topic.partitions.append(FetchResponse.PartitionData(
                    partitionIndex: Int32(index), errorCode: 0, highWatermark: 10, lastStableOffset: 10, logStartOffset: 0,
                    abortedTransactions: nil, preferredReadReplica: -1, records: records))
            }
            response.responses = [topic]
            return response
        }

        var splicer = RecordsSplicer()
        let placeholders = ranges.map { splicer.placeholder(for: file, $0) } as [ByteBuffer?]
        var encoded = ByteBuffer()
        try KafkaResponseFrame.encode(response(records: placeholders + [ByteBuffer(string: "in memory")]), correlationId: 9, version: version, into: &encoded)
        let spliced = try splicer.splice(encoded, compact: version >= 12)
        var rebuilt = ByteBuffer()
        for part in spliced.parts {
            switch part {
            case .bytes(let bytes): rebuilt.writeImmutableBuffer(bytes)
            case .file(let file, let range): rebuilt.writeImmutableBuffer(try file.read(at: range.lowerBound, length: range.count))
            }
        }
        let real = ranges.map { content.getSlice(at: $0.lowerBound, length: $0.count)! } as [ByteBuffer?]
        var expected = ByteBuffer()
        try KafkaResponseFrame.encode(response(records: real + [ByteBuffer(string: "in memory")]), correlationId: 9, version: version, into: &expected)
        #expect(rebuilt == expected)
    }
}
