public import KafkaProtocol
public import LogStore
import NIOConcurrencyHelpers
import NIOCore

/// The producer state of one partition, attached to its log as the append validator, with snapshots so
/// that deduplication holds across restarts and crashes.
///
/// Snapshots (`<offset>.snapshot` in the partition directory) hold the table as of an offset whose data
/// was flushed; at start the newest snapshot at or below the log end is loaded and the batch headers after
/// it are replayed, so a crash loses nothing the log still has, and state for records a crash cut off
/// is never restored.
///
/// Sendable: the table is guarded by `lock`. `decide` and `didAppend` also run under the partition's
/// append lock, which orders them with the log.
public final class ProducerStateManager: AppendValidator, @unchecked Sendable {
    static let snapshotSuffix = ".snapshot"
    static let magic: UInt32 = 0x5452_5053  // "TRPS"

    public let topicPartition: TopicPartition
    let directory: String
    private let lock = NIOLock()
    private var table = ProducerStateTable()
    private var lastSnapshotOffset: Int64 = -1

    public init(topicPartition: TopicPartition, directory: String) {
        self.topicPartition = topicPartition
        self.directory = directory
    }

    public func decide(_ header: RecordBatchHeader, nowMilliseconds: Int64) -> AppendDecision {
        lock.withLock { table.decide(header) }
    }

    public func didAppend(_ header: RecordBatchHeader, nowMilliseconds: Int64) {
        lock.withLock { table.record(header) }
    }

    public var producers: [Int64: ProducerStateTable.Entry] {
        lock.withLock { table.producers }
    }

    /// Loads the newest usable snapshot and replays the log after it, then attaches to `log`. Blocking I/O.
    public func load(from log: SegmentedLog) throws {
        let end = log.offsets.logEndOffset
        var loaded = ProducerStateTable()
        var from: Int64 = log.offsets.logStartOffset
        for offset in try snapshotOffsets().sorted(by: >) {
            if offset > end {
                // Written before a crash cut the log back: it describes records that no longer exist.
                try FileSystem.remove(path(for: offset))
                continue
            }
            if let producers = try? Self.read(path(for: offset), expectedOffset: offset) {
                loaded.replace(with: producers)
                from = offset
                break
            }
        }
        if from < end {
            for header in try log.batchHeaders(from: from) where header.baseOffset >= from && !header.isControl {
                loaded.record(header)
            }
        }
        lock.withLock {
            table = loaded
            lastSnapshotOffset = from
        }
        log.setAppendValidator(self)
    }

    /// Writes a snapshot when the log is flushed to its end and has changed since the last one. Returns
    /// whether one was written. Keeps the two newest snapshots.
    @discardableResult
    public func snapshotIfIdle(_ log: SegmentedLog) throws -> Bool {
        let captured: (Int64, [UInt8])? = log.withAppendsHeld { end, flushed in
            lock.withLock {
                guard flushed, end != lastSnapshotOffset else { return nil }
                return (end, Self.encode(table.producers, offset: end))
            }
        }
        guard let (offset, bytes) = captured else { return false }
        try FileSystem.writeAtomically(bytes, to: path(for: offset))
        lock.withLock { lastSnapshotOffset = max(lastSnapshotOffset, offset) }
        for old in try snapshotOffsets().sorted(by: >).dropFirst(2) {
            try FileSystem.remove(path(for: old))
        }
        return true
    }

    public func expire(now: Int64, expirationMilliseconds: Int64) -> Int {
        lock.withLock { table.expire(now: now, expirationMilliseconds: expirationMilliseconds) }
    }

    func path(for offset: Int64) -> String {
        let digits = String(offset)
        return directory + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + Self.snapshotSuffix
    }

    func snapshotOffsets() throws -> [Int64] {
        try FileSystem.contentsOfDirectory(directory).compactMap { name in
            guard name.hasSuffix(Self.snapshotSuffix) else { return nil }
            return Int64(name.dropLast(Self.snapshotSuffix.count))
        }
    }

    /// magic, version, offset, count, entries (producer id, epoch, last timestamp, batch count, batches),
    /// then a CRC-32C of everything before it.
    static func encode(_ producers: [Int64: ProducerStateTable.Entry], offset: Int64) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeInteger(magic)
        buffer.writeInteger(UInt16(1))
        buffer.writeInteger(offset)
        buffer.writeInteger(UInt32(producers.count))
        for (producerId, entry) in producers.sorted(by: { $0.key < $1.key }) {
            buffer.writeInteger(producerId)
            buffer.writeInteger(entry.epoch)
            buffer.writeInteger(entry.lastTimestamp)
            buffer.writeInteger(UInt8(entry.batches.count))
            for batch in entry.batches {
                buffer.writeInteger(batch.firstSequence)
                buffer.writeInteger(batch.lastSequence)
                buffer.writeInteger(batch.firstOffset)
                buffer.writeInteger(batch.lastOffset)
            }
        }
        buffer.writeInteger(CRC32C.checksum(buffer))
        return Array(buffer.readableBytesView)
    }

    struct CorruptSnapshot: Error {}

    static func read(_ path: String, expectedOffset: Int64) throws -> [Int64: ProducerStateTable.Entry] {
        var buffer = ByteBuffer(bytes: try FileSystem.readAll(path))
        guard buffer.readableBytes >= 4 else { throw CorruptSnapshot() }
        let body = buffer.getSlice(at: buffer.readerIndex, length: buffer.readableBytes - 4)!
        guard CRC32C.checksum(body) == buffer.getInteger(at: buffer.writerIndex - 4, as: UInt32.self) else { throw CorruptSnapshot() }
        guard buffer.readInteger(as: UInt32.self) == magic, buffer.readInteger(as: UInt16.self) == 1,
              buffer.readInteger(as: Int64.self) == expectedOffset, let count = buffer.readInteger(as: UInt32.self)
        else { throw CorruptSnapshot() }
        var producers: [Int64: ProducerStateTable.Entry] = [:]
        for _ in 0..<count {
            guard let producerId = buffer.readInteger(as: Int64.self), let epoch = buffer.readInteger(as: Int16.self),
                  let lastTimestamp = buffer.readInteger(as: Int64.self), let batchCount = buffer.readInteger(as: UInt8.self)
            else { throw CorruptSnapshot() }
            var batches: [ProducerStateTable.BatchMetadata] = []
            for _ in 0..<batchCount {
                guard let first = buffer.readInteger(as: Int32.self), let last = buffer.readInteger(as: Int32.self),
                      let firstOffset = buffer.readInteger(as: Int64.self), let lastOffset = buffer.readInteger(as: Int64.self)
                else { throw CorruptSnapshot() }
                batches.append(.init(firstSequence: first, lastSequence: last, firstOffset: firstOffset, lastOffset: lastOffset))
            }
            producers[producerId] = .init(epoch: epoch, batches: batches, lastTimestamp: lastTimestamp)
        }
        return producers
    }
}
