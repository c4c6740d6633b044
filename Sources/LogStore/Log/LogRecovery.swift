import KafkaProtocol
import Logging

/// What opening a partition's log found.
public struct PartitionRecoveryReport: Sendable {
    public var topicPartition: TopicPartition
    /// Segments where something was cut or found damaged, and those verified after an unclean stop.
    public var segments: [SegmentRecoveryReport]
    /// Whether segments were verified because the previous run did not stop cleanly.
    public var verifiedAfterUncleanStop: Bool
    /// When damage left the log ending below offsets already handed out: those offsets, now covered by
    /// empty batches so that no offset is handed out twice.
    public var skippedOffsets: Range<Int64>?
    public var truncatedBytes: Int { segments.reduce(0) { $0 + $1.truncatedBytes } }
    public var damagedBytes: Int { segments.reduce(0) { $0 + $1.damagedRegions.reduce(0) { $0 + $1.bytes } } }
}

/// Opening a partition's segments at start: which to trust, which to verify, and the end offset below
/// which the log may not go.
///
/// After a clean stop every segment is trusted except the tail of the active one, which is verified from its
/// last index entry. After an unclean stop, segments from the one holding the recovery point (the flushed
/// offset last checkpointed) on are verified, and damage after that point is cut as a torn write. Damage
/// that valid batches follow is never cut (it is kept and reads report it), and segments after a cut are
/// kept. When damage leaves the log ending below the checkpointed end (the log end at a clean stop, the
/// flushed offset otherwise), empty batches cover the missing offsets: offsets once handed out are never
/// handed out again, and consumers step over them.
enum LogRecovery {
    static func openSegments(
        topicPartition: TopicPartition, directory: String, config: LogConfig, clean: Bool, checkpointedEnd: Int64?,
        logStartOffset: Int64, nowMilliseconds now: Int64, logger: Logger
    ) throws(StorageError) -> (segments: [Segment], report: PartitionRecoveryReport?) {
        let names = try FileSystem.contentsOfDirectory(directory)
        let baseOffsets = names.compactMap(Segment.baseOffset(ofLogFile:)).sorted()
        let recoveryPoint = checkpointedEnd ?? 0
        var segments: [Segment] = []
        var report = PartitionRecoveryReport(topicPartition: topicPartition, segments: [], verifiedAfterUncleanStop: false, skippedOffsets: nil)
        for (index, baseOffset) in baseOffsets.enumerated() {
            let isLast = index == baseOffsets.count - 1
            let nextBase = isLast ? Int64.max : baseOffsets[index + 1]
            let mode: SegmentRecovery.Mode
            if clean {
                mode = isLast ? .verify(from: .max, truncateFrom: .max) : .trusted
            } else if nextBase <= recoveryPoint {
                mode = .trusted
            } else if baseOffset < recoveryPoint {
                mode = .verify(from: recoveryPoint, truncateFrom: recoveryPoint)
            } else {
                mode = .verifyAll(truncateFrom: .min)
            }
            let (segment, segmentReport) = try SegmentRecovery.open(
                baseOffset: baseOffset, directory: directory, indexIntervalBytes: config.indexIntervalBytes, nowMilliseconds: now, mode: mode)
            segments.append(segment)
            if !isLast {
                // Rebuilt index entries are synced before the files are let go (inactive segments keep only
                // their log open).
                if mode != .trusted { try segment.flushAll() }
                segment.releaseIndexFiles()
            }
            let verifiedUnclean = !clean && mode != .trusted
            report.verifiedAfterUncleanStop = report.verifiedAfterUncleanStop || verifiedUnclean
            if segmentReport.isNoteworthy || verifiedUnclean { report.segments.append(segmentReport) }
            if segmentReport.truncatedBytes > 0 {
                logger.warning("recovery cut a torn segment tail", metadata: [
                    "partition": "\(topicPartition)", "segment": "\(baseOffset)", "position": "\(segmentReport.truncatedAtPosition ?? 0)",
                    "bytes": "\(segmentReport.truncatedBytes)", "nextOffset": "\(segmentReport.nextOffset)", "problem": "\(segmentReport.problem ?? "")",
                ])
            }
            for region in segmentReport.damagedRegions {
                logger.error("recovery found a damaged region with valid batches after it; kept in place, reads of it answer a storage error", metadata: [
                    "partition": "\(topicPartition)", "segment": "\(baseOffset)", "position": "\(region.position)", "bytes": "\(region.bytes)", "problem": "\(region.reason)",
                ])
            }
        }
        let end = segments.last?.nextOffset ?? 0
        // The end the log must keep: the end at a clean stop, or the flushed offset after an unclean one.
        let floor = max(checkpointedEnd ?? 0, logStartOffset)
        if let last = segments.last, end < floor {
            // Damage took offsets that were handed out. Empty batches cover them, as compaction leaves empty
            // batches behind: consumers step over them, and the next append gets the first offset after them.
            report.skippedOffsets = end..<floor
            logger.error("damage left the log ending below offsets it had handed out; empty batches cover the lost offsets", metadata: [
                "partition": "\(topicPartition)", "end": "\(end)", "continuesAt": "\(floor)",
            ])
            var base = end
            while base < floor {
                let count = min(floor - base, Int64(Int32.max))
                guard base + count - 1 - last.baseOffset <= Int64(UInt32.max) else {
                    // Beyond what the last segment can index: a new segment starts at the floor instead.
                    segments.append(try Segment.create(baseOffset: floor, directory: directory, indexIntervalBytes: config.indexIntervalBytes, nowMilliseconds: now))
                    break
                }
                var filler = RecordBatch.empty(baseOffset: base, lastOffsetDelta: Int32(count - 1), timestamp: now)
                let header = filler.header
                do {
                    _ = try last.append(filler.bytes, header: header)
                } catch {
                    switch error {
                    case .refused(let storageError), .damaged(let storageError): throw storageError
                    }
                }
                filler.bytes.clear()
                base += count
            }
            try last.flushAll()
        } else if segments.isEmpty {
            segments.append(try Segment.create(baseOffset: floor, directory: directory, indexIntervalBytes: config.indexIntervalBytes, nowMilliseconds: now))
            try FileSystem.synchronizeDirectory(directory)
        }
        let noteworthy = report.verifiedAfterUncleanStop || !report.segments.isEmpty || report.skippedOffsets != nil
        return (segments, noteworthy ? report : nil)
    }
}
