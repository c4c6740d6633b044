import KafkaProtocol
import Logging

extension SegmentedLog {
    /// Moves the log start offset forward (DeleteRecords): whole segments below it are deleted. Works on a
    /// log that is offline or on a full disk too: it only frees space. Returns the new log start offset.
    @discardableResult
    public func deleteRecords(before offset: Int64) throws(LogError) -> Int64 {
        let (removed, start) = try writerLock.withTypedLock { () throws(LogError) -> ([Segment], Int64) in
            let highWatermark = stateLock.withLock { snapshot.highWatermark }
            guard offset >= 0 && offset <= highWatermark else {
                throw .offsetOutOfRange(requested: offset, logStartOffset: logStartOffset, logEndOffset: highWatermark)
            }
            if offset > logStartOffset { logStartOffset = offset }
            let removed = removeSegmentsBelowStartLocked()
            publishLocked()
            return (removed, logStartOffset)
        }
        deleteFiles(of: removed)
        return start
    }

    /// Segments entirely below the log start offset, except the active one. Writer lock held.
    private func removeSegmentsBelowStartLocked() -> [Segment] {
        var removed: [Segment] = []
        while segments.count > 1, segments[1].baseOffset <= logStartOffset {
            removed.append(segments.removeFirst())
        }
        noteTruncatedLocked(to: .max, removedFiles: removed.map(\.log))
        return removed
    }

    /// Deletes the files of segments that already left the log. A failure is logged, not thrown: the log no
    /// longer refers to them, and the next start removes what is left below the log start offset.
    private func deleteFiles(of removed: [Segment]) {
        for segment in removed {
            do {
                try segment.deleteFiles()
            } catch {
                logger.error("deleting the files of a removed segment failed", metadata: ["segment": "\(segment.baseOffset)", "error": "\(error)"])
            }
        }
    }

    /// Applies `retention.ms` and `retention.bytes`: deletes the oldest inactive segments that are past
    /// either, never one holding records above the high watermark. Returns how many were deleted.
    @discardableResult
    public func applyRetention(now: Int64) -> Int {
        let (removed, start): ([Segment], Int64) = writerLock.withLock {
            let (config, highWatermark): (LogConfig, Int64) = stateLock.withLock { (currentConfigLocked, snapshot.highWatermark) }
            guard config.cleanupPolicy.deletes else { return ([], logStartOffset) }
            var removed: [Segment] = []
            var totalBytes = segments.reduce(Int64(0)) { $0 + Int64($1.size) }
            while segments.count > 1 {
                let oldest = segments[0]
                guard segments[1].baseOffset <= highWatermark else { break }
                let age = oldest.maxTimestamp >= 0 ? now - oldest.maxTimestamp : now - oldest.createdAtMilliseconds
                let expired = config.retentionMilliseconds >= 0 && age > config.retentionMilliseconds
                let oversized = config.retentionBytes >= 0 && totalBytes - Int64(oldest.size) >= config.retentionBytes
                guard expired || oversized else { break }
                totalBytes -= Int64(oldest.size)
                removed.append(segments.removeFirst())
                logStartOffset = max(logStartOffset, segments[0].baseOffset)
            }
            if !removed.isEmpty {
                noteTruncatedLocked(to: .max, removedFiles: removed.map(\.log))
                publishLocked()
            }
            return (removed, logStartOffset)
        }
        if !removed.isEmpty {
            logger.info("retention deleted segments", metadata: ["segments": "\(removed.map(\.baseOffset))", "logStartOffset": "\(start)"])
            deleteFiles(of: removed)
        }
        return removed.count
    }

    /// Removes everything at or after `offset` (whole batches).
    public func truncate(to offset: Int64) throws(LogError) {
        let removed = try writerLock.withTypedLock { () throws(LogError) -> [Segment] in
            guard offset < nextOffset else { return [] }
            var removed: [Segment] = []
            while segments.count > 1, segments[segments.count - 1].baseOffset >= offset {
                removed.append(segments.removeLast())
            }
            do throws(LogError) {
                try segments[segments.count - 1].truncate(toOffset: offset)
            } catch {
                if case .storage(let storageError) = error { takeOfflineLocked(storageError) }
                throw error
            }
            nextOffset = segments[segments.count - 1].nextOffset
            logStartOffset = min(logStartOffset, nextOffset)
            noteTruncatedLocked(to: nextOffset, removedFiles: removed.map(\.log))
            publishLocked(highWatermarkAtMost: nextOffset)
            return removed
        }
        deleteFiles(of: removed)
    }

    func takeOfflineLocked(_ error: StorageError) {
        stateLock.withLock {
            if failure == nil {
                failure = error
                logger.error("partition taken offline after a storage error", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: Compaction support

    /// Segments the cleaner may rewrite: inactive, entirely below the high watermark and older than
    /// min.compaction.lag.ms. A pass runs when a tombstone is due, or, as Kafka's cleaner decides
    /// (LogCleanerManager.grabFilthiestCompactedLog), when the not-yet-compacted ("dirty") bytes among them
    /// exceed min.cleanable.dirty.ratio of the compactable log, or when a dirty segment's first batch is older
    /// than max.compaction.lag.ms (LogCleanerManager.maxCompactionDelay). Otherwise the views are empty. Nil
    /// when the log is not compacted.
    func compactionCandidates(now: Int64) -> (views: [SegmentView], config: LogConfig)? {
        let (snapshot, config, offline): (LogSnapshot, LogConfig, Bool) = stateLock.withLock { (self.snapshot, currentConfigLocked, failure != nil || isClosed) }
        guard config.cleanupPolicy.compacts, !offline else { return nil }
        var views: [SegmentView] = []
        for view in snapshot.inactive {
            let (lagHorizon, overflow) = now.subtractingReportingOverflow(config.minCompactionLagMilliseconds)
            guard view.nextOffset <= snapshot.highWatermark, !overflow, view.maxTimestamp <= lagHorizon else { break }
            views.append(view)
        }
        let (cleaned, expiry) = writerLock.withLock { (cleanedThrough, nextTombstoneExpiry) }
        guard let last = views.last else { return (views: [], config: config) }
        if now >= expiry { return (views, config) }
        guard last.nextOffset > cleaned else { return (views: [], config: config) }
        // Kafka's ratio: dirty compactable bytes over clean plus dirty compactable bytes, strictly above the
        // minimum (so 0 cleans whenever anything is dirty, and NaN only by max.compaction.lag.ms).
        let cleanBytes = snapshot.inactive.reduce(0) { $0 + ($1.nextOffset <= cleaned ? $1.size : 0) }
        let dirtyBytes = views.reduce(0) { $0 + ($1.nextOffset > cleaned ? $1.size : 0) }
        let totalBytes = cleanBytes + dirtyBytes
        if totalBytes > 0, Double(dirtyBytes) / Double(totalBytes) > config.minCleanableDirtyRatio { return (views, config) }
        // max.compaction.lag.ms: some dirty inactive segment starts with a batch whose max timestamp is older
        // than the lag (Kafka reads each segment's first batch and ignores timestamps of 0 or below).
        func firstDirtyBatchIsPastMaximumLag() -> Bool {
            // The default lag is Long.MAX_VALUE, which can never be reached.
            let (cleanUntil, overflow) = now.subtractingReportingOverflow(max(0, config.maxCompactionLagMilliseconds))
            guard !overflow, cleanUntil > 0 else { return false }
            for view in snapshot.inactive where view.nextOffset > cleaned && view.size > 0 {
                // Only the header is needed: read that much, not a whole chunk.
                var walker = SegmentBatchWalker(view: view, from: 0, chunkBytes: RecordBatchHeader.size)
                guard let first = try? walker.peek() else { continue }
                if first.header.maxTimestamp > 0 && first.header.maxTimestamp < cleanUntil { return true }
            }
            return false
        }
        if dirtyBytes > 0, firstDirtyBatchIsPastMaximumLag() { return (views, config) }
        return (views: [], config: config)
    }

    /// Puts a cleaned copy in place of the segment `original` shows, unless that segment left the log
    /// meanwhile (retention or DeleteRecords). Under the writer lock, so no deletion races the rename.
    func swapInCleaned(_ cleaned: Segment, replacing original: SegmentView) throws(StorageError) -> Bool {
        try writerLock.withTypedLock { () throws(StorageError) -> Bool in
            guard let index = segments.firstIndex(where: { $0.log === original.file }), index < segments.count - 1 else { return false }
            try cleaned.promote()
            cleaned.releaseIndexFiles()
            segments[index] = cleaned
            publishLocked()
            return true
        }
    }

    func markCleaned(through offset: Int64, nextTombstoneExpiry expiry: Int64) {
        writerLock.withLock {
            cleanedThrough = max(cleanedThrough, offset)
            nextTombstoneExpiry = expiry
        }
    }
}
