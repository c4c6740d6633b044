import KafkaProtocol
import Logging
import NIOCore

/// What one compaction pass did.
public struct CompactionReport: Sendable, Equatable {
    public var topicPartition: TopicPartition
    public var segmentsCleaned: Int
    public var bytesBefore: Int
    public var bytesAfter: Int
    public var recordsRemoved: Int
}

/// The latest offset of each key in the range being cleaned, with a bound on its memory: Kafka's
/// `log.cleaner.dedupe.buffer.size` plays the same role. When the keys of the next segment would not fit,
/// the pass cleans only the segments whose keys all went in; the rest wait for the next pass.
public struct CompactionKeyMap {
    /// Bytes the map may hold: key bytes plus a fixed estimate per entry.
    public static let defaultMaximumBytes = 64 << 20
    static let entryOverheadBytes = 64

    let maximumBytes: Int
    private(set) var latest: [ByteBuffer: Int64] = [:]
    private(set) var bytes = 0

    init(maximumBytes: Int = defaultMaximumBytes) {
        self.maximumBytes = maximumBytes
    }

    /// Adds every key of a segment; false (and the map unchanged) when they do not fit.
    mutating func add(_ keys: [(ByteBuffer, Int64)]) -> Bool {
        var added = bytes
        for (key, _) in keys where latest[key] == nil { added += key.readableBytes + Self.entryOverheadBytes }
        guard added <= maximumBytes || latest.isEmpty else { return false }
        for (key, offset) in keys { latest[key] = offset }
        bytes = added
        return true
    }

    func isLatest(_ key: ByteBuffer, at offset: Int64) -> Bool {
        latest[key] == offset
    }
}

extension SegmentedLog {
    /// Compacts the inactive segments of a `cleanup.policy=compact` log: keeps the latest record of each
    /// key (and records without a key), drops tombstones whose batch is older than `delete.retention.ms`,
    /// and never touches the active segment or anything younger than `min.compaction.lag.ms`. Batches that
    /// lose records keep their offsets (see `RecordBatch.rebuilt`). Each cleaned segment is written beside
    /// the original, flushed, then swapped in (crash-safe: see `Segment.promote` and
    /// `LogManager.completeInterruptedSwaps`). Blocking I/O. Returns nil when there was nothing to clean.
    @discardableResult
    public func compact(now: Int64, keyMapBytes: Int = CompactionKeyMap.defaultMaximumBytes) throws(LogError) -> CompactionReport? {
        guard let candidates = compactionCandidates(now: now), !candidates.views.isEmpty else { return nil }
        let config = candidates.config
        do {
            var keys = CompactionKeyMap(maximumBytes: keyMapBytes)
            var cleanable: [SegmentView] = []
            for view in candidates.views {
                var segmentKeys: [(ByteBuffer, Int64)] = []
                for (position, header) in try view.batches() where !header.isControl {
                    let batch = try view.readBatch(at: position, header: header)
                    for record in try batch.records() {
                        if let key = record.key { segmentKeys.append((key, header.baseOffset &+ Int64(record.offsetDelta))) }
                    }
                }
                guard keys.add(segmentKeys) else {
                    logger.info("compaction key map full; later segments wait for the next pass", metadata: ["segment": "\(view.baseOffset)"])
                    break
                }
                cleanable.append(view)
            }
            var report = CompactionReport(topicPartition: topicPartition, segmentsCleaned: 0, bytesBefore: 0, bytesAfter: 0, recordsRemoved: 0)
            var tombstoneExpiry = Int64.max
            for view in cleanable {
                let cleaned: Segment
                do {
                    cleaned = try Segment.create(baseOffset: view.baseOffset, directory: directory, indexIntervalBytes: config.indexIntervalBytes,
                                                 nowMilliseconds: now, fileSuffix: ".cleaned")
                } catch {
                    throw LogError.storage(error)
                }
                var removed = 0
                func keep(_ batch: RecordBatch) throws(LogError) {
                    do {
                        _ = try cleaned.append(batch.bytes, header: batch.header)
                    } catch {
                        switch error {
                        case .refused(let storageError), .damaged(let storageError): throw .storage(storageError)
                        }
                    }
                }
                for (position, header) in try view.batches() {
                    let batch = try view.readBatch(at: position, header: header)
                    if header.isControl {
                        try keep(batch)
                        continue
                    }
                    let records = try batch.records()
                    let (horizon, horizonOverflow) = now.subtractingReportingOverflow(config.deleteRetentionMilliseconds)
                    let tombstonesExpired = !horizonOverflow && header.maxTimestamp < horizon
                    let kept = records.filter { record in
                        guard let key = record.key else { return true }
                        guard keys.isLatest(key, at: header.baseOffset &+ Int64(record.offsetDelta)) else { return false }
                        return record.value != nil || !tombstonesExpired
                    }
                    removed += records.count - kept.count
                    if kept.contains(where: { $0.value == nil }) {
                        // Saturating: delete.retention.ms may be as large as Long.MAX_VALUE.
                        let (expiry, overflow) = header.maxTimestamp.addingReportingOverflow(config.deleteRetentionMilliseconds)
                        tombstoneExpiry = min(tombstoneExpiry, overflow || expiry == .max ? .max : expiry + 1)
                    }
                    if kept.count == records.count {
                        try keep(batch)
                    } else if !kept.isEmpty || header.hasProducerId {
                        // An emptied batch of an idempotent producer stays as a header: it carries the
                        // producer's last sequence.
                        var bytes = try batch.rebuilt(keeping: kept)
                        try keep(try RecordBatch.read(from: &bytes))
                    }
                }
                do {
                    try cleaned.flushAll()
                    guard try swapInCleaned(cleaned, replacing: view) else {
                        try cleaned.deleteFiles()
                        continue
                    }
                } catch {
                    try? cleaned.deleteFiles()
                    throw LogError.storage(error)
                }
                report.segmentsCleaned += 1
                report.bytesBefore += view.size
                report.bytesAfter += cleaned.size
                report.recordsRemoved += removed
            }
            if let last = cleanable.last { markCleaned(through: last.nextOffset, nextTombstoneExpiry: tombstoneExpiry) }
            if report.recordsRemoved > 0 {
                logger.info("compacted", metadata: [
                    "segments": "\(report.segmentsCleaned)", "recordsRemoved": "\(report.recordsRemoved)",
                    "bytesBefore": "\(report.bytesBefore)", "bytesAfter": "\(report.bytesAfter)",
                ])
            }
            return report
        } catch let error as LogError {
            if case .corrupt(let corruption) = error { throw reportCorruption(corruption) }
            throw error
        } catch {
            // Records that do not decode in a batch that passed its checksum: leave the segments as they are.
            logger.error("compaction skipped segments it could not read", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
