import Foundation
import KafkaProtocol
@testable import LogStore
import Logging
import NIOCore
import NIOPosix
import Testing

/// A fresh data directory and log manager per test.
final class LogFixture {
    let directory: String
    let threadPool: NIOThreadPool
    var manager: LogManager
    let clock: TestClock

    init(name: String = #function, clock: TestClock = TestClock()) throws {
        directory = NSTemporaryDirectory() + "tributary-logstore-\(UUID().uuidString)"
        threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        self.clock = clock
        manager = LogManager(dataDirectory: directory, threadPool: threadPool, logger: Logger(label: "test"), clock: { clock.now })
        try manager.start()
    }

    /// Simulates a restart: clean (shutdown first) or not (just drop the manager, as after a crash).
    func restart(clean: Bool) throws {
        if clean {
            manager.shutdown()
        } else {
            manager.releaseDirectoryLockForTesting()
        }
        let clock = self.clock
        manager = LogManager(dataDirectory: directory, threadPool: threadPool, logger: Logger(label: "test"), clock: { clock.now })
        try manager.start()
    }

    deinit {
        manager.shutdown()
        try? threadPool.syncShutdownGracefully()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var milliseconds: Int64 = 1_700_000_000_000
    var now: Int64 { lock.withLock { milliseconds } }
    func advance(_ delta: Int64) { lock.withLock { milliseconds += delta } }
}

func batch(_ values: [String], key: String? = nil, timestamp: Int64 = 1_700_000_000_000) throws -> RecordBatch {
    var builder = RecordBatchBuilder()
    for (index, value) in values.enumerated() {
        builder.append(key: key.map { ByteBuffer(string: $0) }, value: ByteBuffer(string: value), timestamp: timestamp + Int64(index))
    }
    var bytes = try builder.build()
    return try RecordBatch.read(from: &bytes)
}

func values(in records: ByteBuffer?) throws -> [(offset: Int64, value: String)] {
    guard var buffer = records else { return [] }
    var result: [(Int64, String)] = []
    for batch in try RecordBatch.validatedBatches(in: &buffer) {
        for record in try batch.records() {
            result.append((batch.header.baseOffset + Int64(record.offsetDelta), String(buffer: record.value!)))
        }
    }
    return result
}

@Suite struct PartitionLogTests {
    let partition = TopicPartition(topic: "t", partition: 0)

    @Test func appendsAssignOffsetsAndReadBack() async throws {
        let fixture = try LogFixture()
        let log = try fixture.manager.openLog(partition, config: LogConfig()).log
        let first = try await log.append(try batch(["a", "b", "c"]), durability: .durable)
        let second = try await log.append(try batch(["d"]), durability: .durable)
        #expect(first.baseOffset == 0 && first.lastOffset == 2)
        #expect(second.baseOffset == 3 && second.lastOffset == 3)
        #expect(log.offsets == LogOffsets(logStartOffset: 0, highWatermark: 4, logEndOffset: 4, sizeBytes: log.offsets.sizeBytes))
        let all = try log.read(from: 0, maxBytes: 1 << 20, minimumOneBatch: true)
        #expect(try values(in: all.records).map(\.value) == ["a", "b", "c", "d"])
        // Reading from the middle of a batch returns the whole batch, as Kafka does.
        let middle = try log.read(from: 1, maxBytes: 1 << 20, minimumOneBatch: true)
        #expect(try values(in: middle.records).map(\.offset) == [0, 1, 2, 3])
        let last = try log.read(from: 3, maxBytes: 1 << 20, minimumOneBatch: true)
        #expect(try values(in: last.records).map(\.value) == ["d"])
        #expect(try log.read(from: 4, maxBytes: 100, minimumOneBatch: true).records == nil)
        #expect(throws: LogError.offsetOutOfRange(requested: 5, logStartOffset: 0, logEndOffset: 4)) {
            _ = try log.read(from: 5, maxBytes: 100, minimumOneBatch: true)
        }
    }

    @Test func concurrentAppendsShareFlushes() async throws {
        let fixture = try LogFixture()
        let log = try fixture.manager.openLog(partition, config: LogConfig()).log
        let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
            for index in 0..<200 {
                group.addTask { try await log.append(try batch(["v\(index)"]), durability: .durable) }
            }
            var results: [AppendResult] = []
            for try await result in group { results.append(result) }
            return results
        }
        #expect(Set(results.map(\.baseOffset)) == Set(0..<200))
        let read = try log.read(from: 0, maxBytes: 1 << 20, minimumOneBatch: true)
        #expect(try values(in: read.records).count == 200)
    }

    @Test func maxBytesReturnsWholeBatchesAndAtLeastOne() async throws {
        let fixture = try LogFixture()
        let log = try fixture.manager.openLog(partition, config: LogConfig()).log
        for index in 0..<10 {
            _ = try await log.append(try batch([String(repeating: "x", count: 1000) + "\(index)"]), durability: .durable)
        }
        let small = try log.read(from: 0, maxBytes: 10, minimumOneBatch: true)
        #expect(try values(in: small.records).count == 1)
        #expect(try log.read(from: 0, maxBytes: 10, minimumOneBatch: false).records == nil)
        let some = try log.read(from: 0, maxBytes: 3500, minimumOneBatch: true)
        #expect(try values(in: some.records).count == 3)
    }

    @Test func rollsSegmentsAndReadsAcrossThem() async throws {
        let fixture = try LogFixture()
        var config = LogConfig()
        config.segmentBytes = 1000
        config.indexIntervalBytes = 200
        let log = try fixture.manager.openLog(partition, config: config).log
        for index in 0..<50 {
            _ = try await log.append(try batch(["value-\(index)", "more-\(index)"]), durability: .durable)
        }
        #expect(log.segmentCount > 3)
        var offset: Int64 = 0
        var seen: [String] = []
        while offset < 100 {
            let read = try log.read(from: offset, maxBytes: 500, minimumOneBatch: true)
            let found = try values(in: read.records)
            seen += found.map(\.value)
            offset = found.last!.offset + 1
        }
        #expect(seen.count == 100)
        #expect(seen[98] == "value-49")
        // Every offset can be looked up through the sparse index.
        for target in stride(from: Int64(0), to: 100, by: 7) {
            let read = try log.read(from: target, maxBytes: 1, minimumOneBatch: true)
            let found = try values(in: read.records)
            #expect(found.contains { $0.offset == target })
        }
    }

    @Test func cleanRestartKeepsEverything() async throws {
        let fixture = try LogFixture()
        var config = LogConfig()
        config.segmentBytes = 3000
        var log = try fixture.manager.openLog(partition, config: config).log
        for index in 0..<40 { _ = try await log.append(try batch(["v\(index)"]), durability: .durable) }
        try fixture.restart(clean: true)
        #expect(fixture.manager.previousShutdownWasClean)
        log = try fixture.manager.openLog(partition, config: config).log
        #expect(log.offsets.logEndOffset == 40)
        let appended = try await log.append(try batch(["after"]), durability: .durable)
        #expect(appended.baseOffset == 40)
    }

    @Test func uncleanRestartCutsATornTailAndKeepsTheRest() async throws {
        let fixture = try LogFixture()
        var log = try fixture.manager.openLog(partition, config: LogConfig()).log
        for index in 0..<10 { _ = try await log.append(try batch(["v\(index)"]), durability: .durable) }
        let segmentPath = fixture.directory + "/t-0/" + Segment.fileName(0, ".log")
        let goodSize = try LogFile(path: segmentPath).size()
        // A torn write: half of a valid batch, then garbage.
        var torn = try batch(["torn"]).bytes
        torn.moveWriterIndex(to: torn.readerIndex + torn.readableBytes / 2)
        let file = try LogFile(path: segmentPath)
        try file.write(torn, at: goodSize)
        try file.write(ByteBuffer(bytes: [0xDE, 0xAD]), at: goodSize + torn.readableBytes)
        try fixture.restart(clean: false)
        #expect(!fixture.manager.previousShutdownWasClean)
        let opened = try fixture.manager.openLog(partition, config: LogConfig())
        log = opened.log
        let report = try #require(opened.report)
        #expect(report.truncatedBytes == torn.readableBytes + 2)
        #expect(try LogFile(path: segmentPath).size() == goodSize)
        #expect(log.offsets.logEndOffset == 10)
        let read = try log.read(from: 0, maxBytes: 1 << 20, minimumOneBatch: true)
        #expect(try values(in: read.records).map(\.value) == (0..<10).map { "v\($0)" })
    }

    @Test func uncleanRestartCutsAtACorruptedBatch() async throws {
        let fixture = try LogFixture()
        var log = try fixture.manager.openLog(partition, config: LogConfig()).log
        var positions: [Int] = []
        for index in 0..<5 {
            positions.append(Int(log.offsets.sizeBytes))
            _ = try await log.append(try batch(["v\(index)"]), durability: .durable)
        }
        // Flip a byte inside the fourth batch's records: its CRC no longer matches.
        let segmentPath = fixture.directory + "/t-0/" + Segment.fileName(0, ".log")
        let file = try LogFile(path: segmentPath)
        var byte = try file.read(at: positions[3] + 65, length: 1)
        let value = byte.readInteger(as: UInt8.self)!
        try file.write(ByteBuffer(bytes: [value ^ 0xFF]), at: positions[3] + 65)
        try fixture.restart(clean: false)
        log = try fixture.manager.openLog(partition, config: LogConfig()).log
        #expect(log.offsets.logEndOffset == 3)
        let read = try log.read(from: 0, maxBytes: 1 << 20, minimumOneBatch: true)
        #expect(try values(in: read.records).map(\.value) == ["v0", "v1", "v2"])
    }

    @Test func uncleanRestartVerifiesFromTheRecoveryPoint() async throws {
        let fixture = try LogFixture()
        var config = LogConfig()
        config.indexIntervalBytes = 100
        var log = try fixture.manager.openLog(partition, config: config).log
        var positions: [Int] = []
        for index in 0..<20 {
            positions.append(Int(log.offsets.sizeBytes))
            _ = try await log.append(try batch(["value-\(index)"]), durability: .durable)
            if index == 9 { try fixture.manager.checkpointRecoveryPoints() }
        }
        // Corrupt a batch after the recovery point (offset 10): verification must find it.
        let segmentPath = fixture.directory + "/t-0/" + Segment.fileName(0, ".log")
        try LogFile(path: segmentPath).write(ByteBuffer(bytes: [0xFF]), at: positions[15] + 65)
        try fixture.restart(clean: false)
        let opened = try fixture.manager.openLog(partition, config: config)
        log = opened.log
        #expect(log.offsets.logEndOffset == 15)
        #expect(opened.report?.truncatedBytes ?? 0 > 0)
        let read = try log.read(from: 0, maxBytes: 1 << 20, minimumOneBatch: true)
        #expect(try values(in: read.records).map(\.value) == (0..<15).map { "value-\($0)" })
        // The rebuilt index still finds every offset.
        for target in Int64(0)..<15 {
            #expect(try values(in: log.read(from: target, maxBytes: 1, minimumOneBatch: true).records).contains { $0.offset == target })
        }
        #expect(try await log.append(try batch(["after"]), durability: .durable).baseOffset == 15)
    }

    @Test func retentionDeletesOldSegmentsAndMovesTheStart() async throws {
        let clock = TestClock()
        let fixture = try LogFixture(clock: clock)
        var config = LogConfig()
        config.segmentBytes = 500
        config.retentionMilliseconds = 60_000
        let log = try fixture.manager.openLog(partition, config: config).log
        for index in 0..<20 {
            _ = try await log.append(try batch([String(repeating: "o", count: 200) + "\(index)"], timestamp: clock.now), durability: .durable)
        }
        let segmentsBefore = log.segmentCount
        clock.advance(120_000)
        _ = try await log.append(try batch(["fresh"], timestamp: clock.now), durability: .durable)
        let deleted = log.applyRetention(now: clock.now)
        #expect(deleted == segmentsBefore - 1)
        #expect(log.offsets.logStartOffset > 0)
        #expect(throws: LogError.self) { _ = try log.read(from: 0, maxBytes: 100, minimumOneBatch: true) }

        var sized = LogConfig()
        sized.segmentBytes = 500
        sized.retentionBytes = 1000
        let other = try fixture.manager.openLog(TopicPartition(topic: "u", partition: 0), config: sized).log
        for index in 0..<20 {
            _ = try await other.append(try batch([String(repeating: "o", count: 200) + "\(index)"], timestamp: clock.now), durability: .durable)
        }
        other.applyRetention(now: clock.now)
        #expect(other.offsets.sizeBytes <= 1000 + 500)
        #expect(other.offsets.logStartOffset > 0)
    }

    @Test func deleteRecordsMovesTheStartAndSurvivesRestart() async throws {
        let fixture = try LogFixture()
        var log = try fixture.manager.openLog(partition, config: LogConfig()).log
        for index in 0..<10 { _ = try await log.append(try batch(["v\(index)"]), durability: .durable) }
        #expect(try log.deleteRecords(before: 6) == 6)
        #expect(throws: LogError.self) { _ = try log.read(from: 5, maxBytes: 100, minimumOneBatch: true) }
        #expect(try values(in: log.read(from: 6, maxBytes: 1 << 20, minimumOneBatch: true).records).first?.value == "v6")
        try fixture.manager.checkpointLogStartOffsets()
        try fixture.restart(clean: false)
        log = try fixture.manager.openLog(partition, config: LogConfig()).log
        #expect(log.offsets.logStartOffset == 6)
        #expect(throws: LogError.offsetOutOfRange(requested: 11, logStartOffset: 6, logEndOffset: 10)) {
            _ = try log.deleteRecords(before: 11)
        }
    }

    @Test func offsetsByTimestamp() async throws {
        let fixture = try LogFixture()
        var config = LogConfig()
        config.indexIntervalBytes = 100
        let log = try fixture.manager.openLog(partition, config: config).log
        for index in 0..<30 {
            _ = try await log.append(try batch(["a\(index)", "b\(index)"], timestamp: 1_000 + Int64(index) * 10), durability: .durable)
        }
        // Batch i holds timestamps 1000+10i and 1001+10i at offsets 2i and 2i+1.
        #expect(try log.offset(forTimestamp: 0)?.offset == 0)
        #expect(try log.offset(forTimestamp: 1_001)?.offset == 1)
        #expect(try log.offset(forTimestamp: 1_005)?.offset == 2)
        #expect(try log.offset(forTimestamp: 1_150)! == (30, 1_150))
        #expect(try log.offset(forTimestamp: 5_000) == nil)
        #expect(try log.maxTimestampOffset()! == (59, 1_291))
    }

    @Test func logAppendTimeStampsTheBatch() async throws {
        let clock = TestClock()
        let fixture = try LogFixture(clock: clock)
        var config = LogConfig()
        config.logAppendTime = true
        let log = try fixture.manager.openLog(partition, config: config).log
        let result = try await log.append(try batch(["x"], timestamp: 5), durability: .durable)
        #expect(result.logAppendTime == clock.now)
        var records = try #require(log.read(from: 0, maxBytes: 1000, minimumOneBatch: true).records)
        let stored = try RecordBatch.validatedBatches(in: &records)
        #expect(stored[0].header.timestampType == .logAppendTime)
        #expect(stored[0].header.maxTimestamp == clock.now)
    }

    @Test func highWatermarkListenersFireOnAppend() async throws {
        let fixture = try LogFixture()
        let log = try fixture.manager.openLog(partition, config: LogConfig()).log
        let fired = LockedFlag()
        let identifier = log.onHighWatermarkAdvance(beyond: 0) { fired.set() }
        #expect(identifier != nil)
        _ = try await log.append(try batch(["x"]), durability: .durable)
        #expect(fired.value)
        #expect(log.onHighWatermarkAdvance(beyond: 0) {} == nil)
    }

    @Test func secondManagerOnTheSameDirectoryIsRefused() throws {
        let fixture = try LogFixture()
        let second = LogManager(dataDirectory: fixture.directory, threadPool: fixture.threadPool, logger: Logger(label: "test"))
        #expect(throws: StorageError.self) { try second.start() }
    }
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    var value: Bool { lock.withLock { flag } }
    func set() { lock.withLock { flag = true } }
}
