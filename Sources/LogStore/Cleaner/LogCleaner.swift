import KafkaProtocol
import NIOCore

/// What one compaction pass did.
public struct CompactionReport: Sendable, Equatable {
    public var topicPartition: TopicPartition
    public var segmentsCleaned: Int
    public var bytesBefore: Int
    public var bytesAfter: Int
    public var recordsRemoved: Int
}

extension PartitionLog {
    /// Compacts the inactive segments of a `cleanup.policy=compact` log: keeps the latest record of each
    /// key (and records without a key), drops tombstones whose batch is older than `delete.retention.ms`,
    /// and never touches the active segment or anything younger than `min.compaction.lag.ms`. Batches that
    /// lose records keep their offsets (see `RecordBatch.rebuilt`). Each cleaned segment is written beside
    /// the original, flushed, then swapped in (crash-safe: see `Segment.promote` and
    /// `LogManager.completeInterruptedSwaps`). Blocking I/O. Returns nil when there was nothing to clean.
    @discardableResult
    public func compact(now: Int64) throws(LogError) -> CompactionReport? {
        guard let candidates = compactionCandidates(now: now), !candidates.views.isEmpty else { return nil }
        let config = candidates.config
        do {
            // The latest offset of every key in the cleanable range.
            var latest: [ByteBuffer: Int64] = [:]
            for view in candidates.views {
                for (position, header) in try view.batches() where !header.isControl {
                    let batch = try view.readBatch(at: position, header: header)
                    for record in try batch.records() {
                        if let key = record.key { latest[key] = header.baseOffset + Int64(record.offsetDelta) }
                    }
                }
            }
            var report = CompactionReport(topicPartition: topicPartition, segmentsCleaned: 0, bytesBefore: 0, bytesAfter: 0, recordsRemoved: 0)
            var tombstoneExpiry = Int64.max
            for view in candidates.views {
                let cleaned = try Segment.create(baseOffset: view.baseOffset, directory: directory, indexIntervalBytes: config.indexIntervalBytes,
                                                 nowMilliseconds: now, fileSuffix: ".cleaned")
                var removed = 0
                for (position, header) in try view.batches() {
                    let batch = try view.readBatch(at: position, header: header)
                    if header.isControl {
                        try cleaned.append(batch.bytes, header: header)
                        continue
                    }
                    let records = try batch.records()
                    let tombstonesExpired = header.maxTimestamp < now - config.deleteRetentionMilliseconds
                    let kept = records.filter { record in
                        guard let key = record.key else { return true }
                        guard latest[key] == header.baseOffset + Int64(record.offsetDelta) else { return false }
                        return record.value != nil || !tombstonesExpired
                    }
                    removed += records.count - kept.count
                    if kept.contains(where: { $0.value == nil }) {
                        tombstoneExpiry = min(tombstoneExpiry, header.maxTimestamp + config.deleteRetentionMilliseconds + 1)
                    }
                    if kept.count == records.count {
                        try cleaned.append(batch.bytes, header: header)
                    } else if !kept.isEmpty || header.hasProducerId {
                        // An emptied batch of an idempotent producer stays as a header: it carries the
                        // producer's last sequence.
                        var bytes = try batch.rebuilt(keeping: kept)
                        let rebuilt = try RecordBatch.read(from: &bytes)
                        try cleaned.append(rebuilt.bytes, header: rebuilt.header)
                    }
                }
                try cleaned.flushAll()
                let swapped = try swapInCleaned(cleaned, replacing: view.segment)
                if !swapped {
                    try cleaned.deleteFiles()
                    continue
                }
                report.segmentsCleaned += 1
                report.bytesBefore += view.size
                report.bytesAfter += cleaned.size
                report.recordsRemoved += removed
            }
            markCleaned(through: candidates.views.last!.nextOffset, nextTombstoneExpiry: tombstoneExpiry)
            if report.recordsRemoved > 0 {
                logger.info("compacted", metadata: [
                    "segments": "\(report.segmentsCleaned)", "recordsRemoved": "\(report.recordsRemoved)",
                    "bytesBefore": "\(report.bytesBefore)", "bytesAfter": "\(report.bytesAfter)",
                ])
            }
            return report
        } catch let error as StorageError {
            throw .storage(error)
        } catch {
            // Records that do not decode in a log that passed its checksums: leave the segment as it is.
            logger.error("compaction skipped a segment it could not read", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
