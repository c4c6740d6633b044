import KafkaProtocol
import NIOCore

/// What opening or recovering a segment found.
public struct SegmentRecoveryReport: Sendable, Equatable {
    public struct DamagedRegion: Sendable, Equatable {
        public var position: Int
        public var bytes: Int
        public var reason: String
    }

    public var baseOffset: Int64
    public var validBatches: Int
    /// Bytes cut from the end of the file (a torn tail).
    public var truncatedBytes: Int
    public var truncatedAtPosition: Int?
    public var nextOffset: Int64
    /// Why the tail was cut.
    public var problem: String?
    /// Damaged bytes kept because valid batches follow them: reads that reach them answer a storage error.
    public var damagedRegions: [DamagedRegion] = []

    var isNoteworthy: Bool { truncatedBytes > 0 || !damagedRegions.isEmpty }
}

/// Opening segments at start: how much of each to read and verify, and what to do about damage.
///
/// Damage is cut only where it can be a torn write (data after the flushed point of an unclean stop, or a
/// tail no valid batch follows). Damage with valid batches after it is kept in place and reported; reads
/// that reach it answer a storage error. So recovery never removes an intact batch.
enum SegmentRecovery {
    enum Mode: Equatable {
        /// Trusted (a clean stop, or entirely below the recovery point): only the batch headers after the
        /// last index entry are read, to find the end. Nothing is cut.
        case trusted
        /// Verify checksums from the batch holding `offset` to the end. Damage at or after `truncateFrom`
        /// (data that was never flushed) is cut; earlier damage is kept if valid batches follow it.
        /// `from: .max` with `truncateFrom: .max` checks the tail from the last index entry (the active
        /// segment after a clean stop).
        case verify(from: Int64, truncateFrom: Int64)
        /// No usable index or nothing flushed: verify everything, cutting at damage at or after `truncateFrom`.
        case verifyAll(truncateFrom: Int64)
    }

    /// How far past damage to look for the next valid batch.
    static let resynchronizationWindowBytes = 16 << 20

    static func open(baseOffset: Int64, directory: String, indexIntervalBytes: Int, nowMilliseconds: Int64, mode: Mode) throws(StorageError) -> (segment: Segment, report: SegmentRecoveryReport) {
        let segment = try Segment.openFiles(baseOffset: baseOffset, directory: directory, indexIntervalBytes: indexIntervalBytes, nowMilliseconds: nowMilliseconds)
        let fileSize = try segment.log.size()
        switch mode {
        case .verifyAll(let truncateFrom):
            return (segment, try scanAll(segment, fileSize: fileSize, truncateFrom: truncateFrom))
        case .trusted:
            try segment.offsetIndex.load(logSize: fileSize)
            try segment.timeIndex.load(maximumRelativeOffset: nil)
            segment.restoreMaximumTimestampFromIndex()
            let last = segment.offsetIndex.last
            let start = Int(last?.position ?? 0)
            // The batch at the last entry ends at base + its relative offset: should it be damaged, the
            // segment still covers the offsets before it.
            segment.resetTail(size: start, nextOffset: last.map { baseOffset + Int64($0.relativeOffset) } ?? baseOffset)
            return (segment, try scan(segment, from: start, fileSize: fileSize, verify: false, rebuildIndexes: false, truncateFrom: .max))
        case .verify(let offset, let truncateFrom):
            try segment.offsetIndex.load(logSize: fileSize)
            try segment.timeIndex.load(maximumRelativeOffset: nil)
            // Start at the latest index entry at or below `offset` whose batch is really there and valid;
            // entries after it are rebuilt by the scan.
            let entries = segment.offsetIndex.entries.entries
            let limit = UInt32(clamping: max(0, offset - baseOffset))
            var candidate = entries.lastIndex { $0.relativeOffset <= limit }
            while let index = candidate {
                let entry = entries[index]
                if try batchIsIntact(segment, at: Int(entry.position), fileSize: fileSize, lastOffset: baseOffset + Int64(entry.relativeOffset)) {
                    break
                }
                candidate = index > 0 ? index - 1 : nil
            }
            guard let index = candidate else {
                return (segment, try scanAll(segment, fileSize: fileSize, truncateFrom: truncateFrom))
            }
            let entry = entries[index]
            let start = Int(entry.position)
            try segment.offsetIndex.truncate(toPosition: start + 1)
            try segment.timeIndex.truncate(toRelativeOffset: entry.relativeOffset)
            segment.integrity.forget(from: 0)
            segment.restoreMaximumTimestampFromIndex()
            segment.resetTail(size: start, nextOffset: baseOffset)
            return (segment, try scan(segment, from: start, fileSize: fileSize, verify: true, rebuildIndexes: true, truncateFrom: truncateFrom))
        }
    }

    /// Verifies every batch from the start and rebuilds both indexes.
    static func scanAll(_ segment: Segment, fileSize: Int, truncateFrom: Int64 = Int64.min) throws(StorageError) -> SegmentRecoveryReport {
        try segment.offsetIndex.reset()
        try segment.timeIndex.reset()
        segment.integrity.forget(from: 0)
        segment.resetTimestamps()
        segment.resetTail(size: 0, nextOffset: segment.baseOffset)
        return try scan(segment, from: 0, fileSize: fileSize, verify: true, rebuildIndexes: true, truncateFrom: truncateFrom)
    }

    /// Whether a valid batch (header, checksum) with last offset `lastOffset` starts at `position`.
    private static func batchIsIntact(_ segment: Segment, at position: Int, fileSize: Int, lastOffset: Int64) throws(StorageError) -> Bool {
        var walker = SegmentBatchWalker(file: segment.log, segmentBaseOffset: segment.baseOffset, from: position, limit: fileSize)
        do {
            guard let (_, header) = try walker.peek(), header.lastOffset == lastOffset else { return false }
            try walker.verify(header)
            return true
        } catch .storage(let error) {
            throw error
        } catch {
            return false
        }
    }

    /// Reads batches from `start` to the end of the file, keeping the segment's tail state current. On
    /// damage: cut there if it may be a torn write (at or after `truncateFrom`) or if no valid batch follows
    /// within the resynchronization window; otherwise keep the damaged bytes and go on from the next valid
    /// batch. When not verifying (a trusted segment), nothing is cut: the damaged rest stays for reads to report.
    static func scan(_ segment: Segment, from start: Int, fileSize: Int, verify: Bool, rebuildIndexes: Bool, truncateFrom: Int64) throws(StorageError) -> SegmentRecoveryReport {
        var report = SegmentRecoveryReport(baseOffset: segment.baseOffset, validBatches: 0, truncatedBytes: 0, truncatedAtPosition: nil, nextOffset: segment.nextOffset, problem: nil)
        var walker = SegmentBatchWalker(file: segment.log, segmentBaseOffset: segment.baseOffset, from: start, limit: fileSize, chunkBytes: 1 << 20)
        var verifiedStart = start
        while true {
            let damage: CorruptBatch
            do {
                guard let (position, header) = try walker.next(verifying: verify) else { break }
                segment.noteAppended(header: header, position: position, updateIndexes: rebuildIndexes)
                report.validBatches += 1
                continue
            } catch .storage(let error) {
                throw error
            } catch .corrupt(let corruption) {
                damage = corruption
            } catch {
                throw StorageError(operation: "scan", path: segment.log.path, errorNumber: 5)
            }
            if verify { segment.integrity.markVerified(verifiedStart..<damage.position) }
            if !verify {
                // A trusted segment is not cut: its remaining bytes stay, and reads report (or get past) the damage.
                report.damagedRegions.append(.init(position: damage.position, bytes: fileSize - damage.position, reason: damage.reason))
                segment.extend(toSize: fileSize)
                break
            }
            let previousLastOffset = report.validBatches > 0 || segment.nextOffset > segment.baseOffset ? segment.nextOffset - 1 : nil
            if segment.nextOffset < truncateFrom,
               let resumed = try findNextValidBatch(in: segment.log, segmentBaseOffset: segment.baseOffset, after: damage.position, limit: fileSize, previousLastOffset: previousLastOffset) {
                report.damagedRegions.append(.init(position: damage.position, bytes: resumed.position - damage.position, reason: damage.reason))
                segment.integrity.recordDamage(DamagedRange(
                    positions: damage.position..<resumed.position, firstOffset: segment.nextOffset, resumeOffset: resumed.header.baseOffset, reason: damage.reason))
                walker = SegmentBatchWalker(file: segment.log, segmentBaseOffset: segment.baseOffset, from: resumed.position, limit: fileSize,
                                            previousLastOffset: resumed.header.baseOffset - 1, chunkBytes: 1 << 20)
                segment.extend(toSize: resumed.position)
                verifiedStart = resumed.position
                continue
            }
            report.truncatedBytes = fileSize - damage.position
            report.truncatedAtPosition = damage.position
            report.problem = damage.reason
            try segment.log.truncate(to: damage.position)
            try segment.offsetIndex.truncate(toPosition: damage.position)
            segment.integrity.forget(from: damage.position)
            break
        }
        if verify, report.truncatedAtPosition == nil { segment.integrity.markVerified(verifiedStart..<walker.position) }
        report.nextOffset = segment.nextOffset
        return report
    }
}
