@testable import Coordinator
import KafkaProtocol
import LogStore
import NIOCore
import Testing

@Suite struct ProducerStateTests {
    func header(producer: Int64 = 1, epoch: Int16 = 0, sequence: Int32, count: Int32 = 1, offset: Int64 = 0) -> RecordBatchHeader {
        RecordBatchHeader(baseOffset: offset, lastOffsetDelta: count - 1, producerId: producer, producerEpoch: epoch, baseSequence: sequence, recordCount: count)
    }

    @Test func sequencesMustFollowOnAndDuplicatesAreRecognised() {
        var table = ProducerStateTable()
        #expect(table.decide(header(sequence: 0, count: 3)) == .append)
        table.record(header(sequence: 0, count: 3, offset: 10))
        #expect(table.decide(header(sequence: 3)) == .append)
        table.record(header(sequence: 3, offset: 13))
        #expect(table.decide(header(sequence: 0, count: 3)) == .duplicate(baseOffset: 10, lastOffset: 12))
        #expect(table.decide(header(sequence: 3)) == .duplicate(baseOffset: 13, lastOffset: 13))
        guard case .reject(.outOfOrderSequence) = table.decide(header(sequence: 5)) else {
            Issue.record("a gap must be refused")
            return
        }
    }

    @Test func onlyTheLastFiveBatchesAreRemembered() {
        var table = ProducerStateTable()
        for index in 0..<7 { table.record(header(sequence: Int32(index), offset: Int64(index))) }
        #expect(table.producers[1]?.batches.count == 5)
        #expect(table.decide(header(sequence: 6)) == .duplicate(baseOffset: 6, lastOffset: 6))
        guard case .reject(.outOfOrderSequence) = table.decide(header(sequence: 0)) else {
            Issue.record("a batch older than the last five is out of order")
            return
        }
    }

    @Test func epochsFenceAndRestartSequences() {
        var table = ProducerStateTable()
        table.record(header(epoch: 1, sequence: 0))
        guard case .reject(.invalidProducerEpoch) = table.decide(header(epoch: 0, sequence: 1)) else {
            Issue.record("an older epoch is fenced")
            return
        }
        guard case .reject(.outOfOrderSequence) = table.decide(header(epoch: 2, sequence: 5)) else {
            Issue.record("a new epoch starts at 0")
            return
        }
        #expect(table.decide(header(epoch: 2, sequence: 0)) == .append)
    }

    @Test func unknownProducersStartAtZeroAndSequencesWrap() {
        var table = ProducerStateTable()
        guard case .reject(.outOfOrderSequence) = table.decide(header(producer: 9, sequence: 4)) else {
            Issue.record("an unknown producer must start at 0")
            return
        }
        table.record(header(sequence: Int32.max - 1, count: 2))
        #expect(table.decide(header(sequence: 0)) == .append)
        #expect(table.decide(header(producer: -1, sequence: -1)) == .append, "batches without a producer id are not checked")
    }

    @Test func snapshotsRoundTrip() throws {
        var table = ProducerStateTable()
        table.record(header(producer: 3, epoch: 2, sequence: 0, count: 4, offset: 100))
        table.record(header(producer: 5, sequence: 0, offset: 104))
        let bytes = ProducerStateManager.encode(table.producers, offset: 105)
        let path = "/tmp/producer-\(UInt64.random(in: 0...UInt64.max)).snapshot"
        try FileSystem.writeAtomically(bytes, to: path)
        defer { try? FileSystem.remove(path) }
        #expect(try ProducerStateManager.read(path, expectedOffset: 105) == table.producers)
        var corrupted = bytes
        corrupted[10] ^= 0xFF
        try FileSystem.writeAtomically(corrupted, to: path)
        #expect(throws: (any Error).self) { _ = try ProducerStateManager.read(path, expectedOffset: 105) }
    }
}

