import Foundation
import KafkaProtocol
@testable import LogStore
import Logging
import NIOCore
import Testing

func keyedBatch(_ entries: [(key: String, value: String?)], timestamp: Int64, producerId: Int64 = -1, sequence: Int32 = -1) throws -> RecordBatch {
    var builder = RecordBatchBuilder()
    builder.producerId = producerId
    builder.producerEpoch = producerId >= 0 ? 0 : -1
    builder.baseSequence = sequence
    for entry in entries {
        builder.append(key: ByteBuffer(string: entry.key), value: entry.value.map { ByteBuffer(string: $0) }, timestamp: timestamp)
    }
    var bytes = try builder.build()
    return try RecordBatch.read(from: &bytes)
}

func keyedValues(_ log: any PartitionLog) throws -> [(offset: Int64, key: String, value: String?)] {
    var result: [(Int64, String, String?)] = []
    var offset = log.offsets.logStartOffset
    while true {
        guard var bytes = try log.read(from: offset, maxBytes: 1 << 20, minimumOneBatch: true).records else { break }
        for batch in try RecordBatch.validatedBatches(in: &bytes) {
            offset = batch.header.lastOffset + 1
            for record in try batch.records() {
                result.append((batch.header.baseOffset + Int64(record.offsetDelta), String(buffer: record.key!), record.value.map { String(buffer: $0) }))
            }
        }
    }
    return result
}

@Suite struct CompactionTests {
    let partition = TopicPartition(topic: "compacted", partition: 0)

    func compactedConfig() -> LogConfig {
        var config = LogConfig()
        config.cleanupPolicy = .compact
        config.segmentBytes = 400
        config.deleteRetentionMilliseconds = 60_000
        return config
    }

    @Test func keepsTheLatestValuePerKey() async throws {
        let clock = TestClock()
        let fixture = try LogFixture(clock: clock)
        let log = try fixture.manager.openLog(partition, config: compactedConfig()).log
        for round in 0..<10 {
            for key in 0..<5 {
                _ = try await log.append(try keyedBatch([("k\(key)", "v\(round)")], timestamp: clock.now), durability: .durable)
            }
        }
        #expect(log.segmentCount > 3)
        let before = try keyedValues(log).count
        let report = try #require(try log.compact(now: clock.now))
        #expect(report.recordsRemoved > 0)
        let after = try keyedValues(log)
        #expect(after.count < before)
        // The latest value of each key survives, at its original offset.
        var latest: [String: (Int64, String?)] = [:]
        for entry in after { latest[entry.key] = (entry.offset, entry.value) }
        #expect(latest.mapValues(\.1) == ["k0": "v9", "k1": "v9", "k2": "v9", "k3": "v9", "k4": "v9"])
        #expect(latest["k4"]!.0 == 49)
        // Offsets still increase and new appends continue after the end.
        #expect(after.map(\.offset) == after.map(\.offset).sorted())
        // Nothing new to clean: a second pass does nothing.
        #expect(try log.compact(now: clock.now)?.segmentsCleaned ?? 0 == 0)
        #expect(try await log.append(try keyedBatch([("k0", "new")], timestamp: clock.now), durability: .durable).baseOffset == 50)
    }

    @Test func dropsTombstonesAfterTheDeleteRetention() async throws {
        let clock = TestClock()
        let fixture = try LogFixture(clock: clock)
        let log = try fixture.manager.openLog(partition, config: compactedConfig()).log
        _ = try await log.append(try keyedBatch([("gone", "value"), ("kept", "value")], timestamp: clock.now), durability: .durable)
        _ = try await log.append(try keyedBatch([("gone", nil)], timestamp: clock.now), durability: .durable)
        for index in 0..<10 {
            _ = try await log.append(try keyedBatch([("filler\(index)", String(repeating: "x", count: 100))], timestamp: clock.now), durability: .durable)
        }
        try log.compact(now: clock.now)
        var values = try keyedValues(log)
        #expect(values.contains { $0.key == "gone" && $0.value == nil }, "a fresh tombstone stays for delete.retention.ms")
        #expect(!values.contains { $0.key == "gone" && $0.value != nil })
        clock.advance(120_000)
        _ = try await log.append(try keyedBatch([("late", "x")], timestamp: clock.now), durability: .durable)
        try log.compact(now: clock.now)
        values = try keyedValues(log)
        #expect(!values.contains { $0.key == "gone" })
        #expect(values.contains { $0.key == "kept" })
    }

    @Test func keepsAnEmptiedProducerBatchAsAHeader() async throws {
        let clock = TestClock()
        let fixture = try LogFixture(clock: clock)
        let log = try fixture.manager.openLog(partition, config: compactedConfig()).log
        _ = try await log.append(try keyedBatch([("a", "1")], timestamp: clock.now, producerId: 7, sequence: 0), durability: .durable)
        for index in 0..<10 {
            _ = try await log.append(try keyedBatch([("a", "\(index)"), ("pad\(index)", String(repeating: "p", count: 60))], timestamp: clock.now), durability: .durable)
        }
        try log.compact(now: clock.now)
        let headers = try log.batchHeaders(from: 0)
        let producerBatch = try #require(headers.first { $0.producerId == 7 })
        #expect(producerBatch.recordCount == 0)
        #expect(producerBatch.baseSequence == 0 && producerBatch.lastOffset == 0)
    }

    @Test func cleanedSegmentsSurviveARestart() async throws {
        let clock = TestClock()
        let fixture = try LogFixture(clock: clock)
        var log = try fixture.manager.openLog(partition, config: compactedConfig()).log
        for round in 0..<6 {
            for key in 0..<4 {
                _ = try await log.append(try keyedBatch([("k\(key)", "v\(round)")], timestamp: clock.now), durability: .durable)
            }
        }
        try log.compact(now: clock.now)
        let compacted = try keyedValues(log).map { "\($0.offset):\($0.key)=\($0.value ?? "null")" }
        try fixture.restart(clean: false)
        log = try fixture.manager.openLog(partition, config: compactedConfig()).log
        #expect(try keyedValues(log).map { "\($0.offset):\($0.key)=\($0.value ?? "null")" } == compacted)
    }

    @Test func interruptedSwapsAreFinishedOrDiscarded() throws {
        let directory = NSTemporaryDirectory() + "tributary-swap-\(UUID().uuidString)"
        try FileSystem.createDirectory(directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let stem = directory + "/" + Segment.fileName(0, "")
        // A committed swap (the log reached .swap): finished.
        for (suffix, contents) in [(".log.swap", "new log"), (".index.swap", "new index"), (".log", "old log"), (".index", "old index")] {
            try FileSystem.writeAtomically(Array(contents.utf8), to: stem + suffix)
        }
        // An uncommitted one for another segment (only .cleaned files): discarded.
        let other = directory + "/" + Segment.fileName(100, "")
        try FileSystem.writeAtomically(Array("old".utf8), to: other + ".log")
        try FileSystem.writeAtomically(Array("half".utf8), to: other + ".log.cleaned")
        try LogManager.completeInterruptedSwaps(directory: directory)
        #expect(try FileSystem.readAll(stem + ".log") == Array("new log".utf8))
        #expect(try FileSystem.readAll(stem + ".index") == Array("new index".utf8))
        #expect(try FileSystem.readAll(other + ".log") == Array("old".utf8))
        #expect(!FileSystem.exists(other + ".log.cleaned"))
        #expect(!FileSystem.exists(stem + ".log.swap"))
    }
}
