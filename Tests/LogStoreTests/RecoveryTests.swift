import Foundation
import KafkaProtocol
@testable import LogStore
import NIOCore
import Testing

/// A batch as some clients (sarama) send it: the header's max timestamp is -1, the records have none.
func batchWithoutMaxTimestamp(_ values: [String]) throws -> RecordBatch {
    var batch = try batch(values)
    let start = batch.bytes.readerIndex
    batch.bytes.setInteger(Int64(-1), at: start + 35)
    batch.header.maxTimestamp = -1
    let crc = batch.computedChecksum
    batch.bytes.setInteger(crc, at: start + RecordBatchHeader.crcOffset)
    batch.header.crc = crc
    return batch
}

/// Recovery and reads on damaged files: nothing intact is lost, no offset is handed out twice, and damage
/// is answered with an error instead of an empty read.
@Suite struct RecoveryTests {
    let partition = TopicPartition(topic: "t", partition: 0)

    var segmentPath: (LogFixture) -> String {
        { fixture in fixture.directory + "/t-0/" + Segment.fileName(0, ".log") }
    }

    @Test func batchesWithoutTimestampsPastTheIndexIntervalAndRestarts() async throws {
        let fixture = try LogFixture()
        var log = try fixture.manager.openLog(partition, config: LogConfig()).log
        // Well past 4 KiB, so index entries (and time index entries) are due.
        for index in 0..<200 {
            _ = try await log.append(try batchWithoutMaxTimestamp(["record-\(index)-" + String(repeating: "x", count: 40)]), durability: .durable)
        }
        #expect(log.offsets.logEndOffset == 200)
        #expect(try log.maxTimestampOffset() == nil)
        for clean in [true, false] {
            try fixture.restart(clean: clean)
            log = try fixture.manager.openLog(partition, config: LogConfig()).log
            #expect(log.offsets.logEndOffset == 200)
            #expect(try values(in: log.read(from: 150, maxBytes: 1 << 20, minimumOneBatch: true).records).first?.offset == 150)
        }
    }

    @Test func aTornTailAfterACleanStopKeepsEverythingBeforeItAndNeverReusesOffsets() async throws {
        let fixture = try LogFixture()
        var log = try fixture.manager.openLog(partition, config: LogConfig()).log
        // 200 batches of 99 records: 19,800 records, index entries every 4 KiB.
        for index in 0..<200 {
            _ = try await log.append(try batch((0..<99).map { "b\(index)-r\($0)" }), durability: .durable)
        }
        try fixture.restart(clean: true)
        let file = try LogFile(path: segmentPath(fixture))
        let size = try file.size()
        try file.truncate(to: size - 37)
        try fixture.restart(clean: true)
        let opened = try fixture.manager.openLog(partition, config: LogConfig())
        log = opened.log
        #expect(opened.report?.truncatedBytes ?? 0 > 0)
        // The last batch (offsets 19,701-19,799) is gone; everything before it is there.
        var all: [Int64] = []
        var offset: Int64 = 0
        while var records = try log.read(from: offset, maxBytes: 1 << 20, minimumOneBatch: true).records {
            all += try values(in: records).map(\.offset)
            offset = try RecordBatch.validatedBatches(in: &records).last!.header.lastOffset + 1
        }
        // The lost batch's offsets are covered by an empty batch, so readers step over them.
        #expect(all == Array(0..<19_701))
        #expect(offset == 19_800)
        // Offsets handed out before the stop are not handed out again.
        #expect(log.offsets.logEndOffset == 19_800)
        let appended = try await log.append(try batch(["after"]), durability: .durable)
        #expect(appended.baseOffset == 19_800)
        #expect(try values(in: log.read(from: 19_701, maxBytes: 1 << 20, minimumOneBatch: true).records).map(\.value) == ["after"])
    }

    @Test func aCorruptBatchInTheMiddleAfterACleanStopIsReportedNotSkipped() async throws {
        let fixture = try LogFixture()
        var config = LogConfig()
        config.indexIntervalBytes = 200
        var log = try fixture.manager.openLog(partition, config: config).log
        var positions: [Int] = []
        for index in 0..<50 {
            positions.append(Int(log.offsets.sizeBytes))
            _ = try await log.append(try batch(["value-\(index)"]), durability: .durable)
        }
        try fixture.restart(clean: true)
        // Flip a record byte of batch 20 (its checksum fails) and give batch 30 an absurd length.
        let file = try LogFile(path: segmentPath(fixture))
        var byte = try file.read(at: positions[20] + 65, length: 1)
        try file.write(ByteBuffer(bytes: [byte.readInteger(as: UInt8.self)! ^ 0xFF]), at: positions[20] + 65)
        var length = ByteBuffer()
        length.writeInteger(Int32(0x7fff_fff0))
        try file.write(length, at: positions[30] + 8)
        try fixture.restart(clean: true)
        log = try fixture.manager.openLog(partition, config: config).log
        #expect(log.offsets.logEndOffset == 50)
        // Reads before the damage stop at it; reads at it fail; reads after it work.
        let before = try values(in: log.read(from: 0, maxBytes: 1 << 20, minimumOneBatch: true).records)
        #expect(before.map(\.offset) == Array(0..<20))
        #expect(throws: LogError.self) { _ = try log.read(from: 20, maxBytes: 1 << 20, minimumOneBatch: true) }
        #expect(try values(in: log.read(from: 21, maxBytes: 1 << 20, minimumOneBatch: true).records).map(\.offset) == Array(21..<30))
        #expect(throws: LogError.self) { _ = try log.read(from: 30, maxBytes: 1 << 20, minimumOneBatch: true) }
        #expect(try values(in: log.read(from: 31, maxBytes: 1 << 20, minimumOneBatch: true).records).map(\.offset) == Array(31..<50))
        #expect(try await log.append(try batch(["after"]), durability: .durable).baseOffset == 50)
    }

    @Test func damageInTheActiveTailWithValidBatchesAfterItIsKept() async throws {
        let fixture = try LogFixture()
        var log = try fixture.manager.openLog(partition, config: LogConfig()).log
        var positions: [Int] = []
        for index in 0..<10 {
            positions.append(Int(log.offsets.sizeBytes))
            _ = try await log.append(try batch(["v\(index)"]), durability: .durable)
        }
        try fixture.restart(clean: true)
        let file = try LogFile(path: segmentPath(fixture))
        let sizeBefore = try file.size()
        // Garble the header of batch 4: the start check cannot read it, but batches 5-9 are intact.
        try file.write(ByteBuffer(bytes: Array(repeating: 0xAB, count: 20)), at: positions[4] + 8)
        try fixture.restart(clean: true)
        let opened = try fixture.manager.openLog(partition, config: LogConfig())
        log = opened.log
        #expect(try file.size() == sizeBefore)
        #expect(opened.report?.damagedBytes ?? 0 > 0)
        #expect(log.offsets.logEndOffset == 10)
        #expect(try values(in: log.read(from: 5, maxBytes: 1 << 20, minimumOneBatch: true).records).map(\.value) == (5..<10).map { "v\($0)" })
        #expect(throws: LogError.self) { _ = try log.read(from: 4, maxBytes: 1 << 20, minimumOneBatch: true) }
    }

    @Test func aLostActiveSegmentNeverHandsItsOffsetsOutAgain() async throws {
        let fixture = try LogFixture()
        var config = LogConfig()
        config.segmentBytes = 600
        var log = try fixture.manager.openLog(partition, config: config).log
        for index in 0..<30 { _ = try await log.append(try batch(["value-\(index)"]), durability: .durable) }
        let end = log.offsets.logEndOffset
        try fixture.restart(clean: true)
        // The newest segment file disappears.
        let directory = fixture.directory + "/t-0"
        let newest = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".log") }.sorted().last!
        try FileManager.default.removeItem(atPath: directory + "/" + newest)
        try fixture.restart(clean: true)
        let opened = try fixture.manager.openLog(partition, config: config)
        log = opened.log
        #expect(opened.report?.skippedOffsets?.upperBound == end)
        #expect(log.offsets.logEndOffset == end)
        #expect(try await log.append(try batch(["after"]), durability: .durable).baseOffset == end)
    }

    @Test func aDamagedOffsetIndexIsNotTrusted() async throws {
        let fixture = try LogFixture()
        var config = LogConfig()
        config.indexIntervalBytes = 100
        var log = try fixture.manager.openLog(partition, config: config).log
        for index in 0..<40 { _ = try await log.append(try batch(["value-\(index)"]), durability: .durable) }
        try fixture.restart(clean: true)
        // Point an index entry into the middle of a batch (positions stay increasing).
        let index = try LogFile(path: fixture.directory + "/t-0/" + Segment.fileName(0, ".index"))
        var entry = try index.read(at: 8, length: 8)
        let relative = entry.readInteger(as: UInt32.self)!
        let position = entry.readInteger(as: UInt32.self)!
        var bad = ByteBuffer()
        bad.writeInteger(relative)
        bad.writeInteger(position + 3)
        try index.write(bad, at: 8)
        try fixture.restart(clean: true)
        log = try fixture.manager.openLog(partition, config: config).log
        for target in Int64(0)..<40 {
            #expect(try values(in: log.read(from: target, maxBytes: 1, minimumOneBatch: true).records).first?.offset == target)
        }
    }
}

/// The append queue's bound: past it the caller is told to wait, and told again when there is room.
@Suite struct AppendBackPressureTests {
    @Test func aFullAppendQueueAsksCallersToWaitAndSaysWhenThereIsRoom() async throws {
        let fixture = try LogFixture()
        let log = try fixture.manager.openLog(TopicPartition(topic: "crowded", partition: 0), config: LogConfig()).log
        let big = try batch([String(repeating: "x", count: 900_000)])
        let room = LockedFlag()
        let completed = LockedCounter()
        var admissions: [AppendAdmission] = []
        // The writer is held (as by a snapshot of the producer state): at most one pass of appends leaves the
        // queue, the rest (about 50 MiB) stays in it.
        log.withAppendsHeld { _, _ in
            for _ in 0..<60 { admissions.append(log.append(big, durability: .written) { _ in completed.increment() }) }
            log.whenAppendQueueHasRoom { room.set() }
            #expect(!room.value)
        }
        #expect(admissions.first == .queued)
        #expect(admissions.last == .queuedPastBound)
        for _ in 0..<500 where completed.value < 60 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(room.value)
        #expect(completed.value == 60)
        #expect(log.offsets.logEndOffset == 60)
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func increment() { lock.withLock { count += 1 } }
}
