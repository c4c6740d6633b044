import DequeModule
#if canImport(Glibc)
import Glibc
#endif
public import KafkaProtocol
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
public import NIOPosix

/// What readers see of a log: immutable values, replaced as a whole by the writer and the flusher.
struct LogSnapshot: Sendable {
    /// The segments before the active one; a new array after a roll, retention, compaction or truncation.
    var inactive: [SegmentView]
    var active: SegmentView
    /// Bytes of the inactive segments.
    var inactiveBytes: Int64
    var logStartOffset: Int64
    /// What readers may see: the flushed offset under group commit, the written end otherwise.
    private(set) var highWatermark: Int64
    /// Where the high watermark lies in the files: the segment (by base offset) and the byte position in it
    /// after the last visible batch. Readers that send file ranges stop there.
    private(set) var highWatermarkSegment: Int64
    private(set) var highWatermarkPosition: Int
    /// The offset after the last written batch.
    var logEndOffset: Int64

    init(inactive: [SegmentView], active: SegmentView, logStartOffset: Int64) {
        self.inactive = inactive
        self.active = active
        self.inactiveBytes = inactive.reduce(0) { $0 + Int64($1.size) }
        self.logStartOffset = logStartOffset
        self.logEndOffset = active.nextOffset
        self.highWatermark = active.nextOffset
        self.highWatermarkSegment = active.baseOffset
        self.highWatermarkPosition = active.size
    }

    /// Everything written is visible.
    mutating func exposeAll() {
        highWatermark = logEndOffset
        highWatermarkSegment = active.baseOffset
        highWatermarkPosition = active.size
    }

    /// Makes `offset` the high watermark, ending at `position` of segment `segment` (captured together with
    /// it); never past the log end.
    mutating func setHighWatermark(_ offset: Int64, segment: Int64, position: Int) {
        if offset >= logEndOffset {
            exposeAll()
        } else {
            highWatermark = offset
            highWatermarkSegment = segment
            highWatermarkPosition = position
        }
    }

    /// Keeps the high watermark (from `previous`) unless the log now ends below it.
    mutating func keepHighWatermark(of previous: LogSnapshot, atMost ceiling: Int64 = .max) {
        let offset = min(previous.highWatermark, ceiling)
        if offset >= logEndOffset {
            exposeAll()
        } else if offset == previous.highWatermark {
            highWatermark = previous.highWatermark
            highWatermarkSegment = previous.highWatermarkSegment
            highWatermarkPosition = previous.highWatermarkPosition
        } else {
            // Lowered below what was visible (truncation): the byte position is found by the offset alone.
            highWatermark = offset
            highWatermarkSegment = .min
            highWatermarkPosition = 0
        }
    }

    /// The bytes of `view` that readers may send as they are: up to the high watermark.
    func visibleSize(of view: SegmentView) -> Int? {
        if view.baseOffset < highWatermarkSegment { return view.size }
        if view.baseOffset == highWatermarkSegment { return min(view.size, highWatermarkPosition) }
        return highWatermarkSegment == .min ? nil : 0
    }

    var segmentCount: Int { inactive.count + 1 }

    subscript(index: Int) -> SegmentView {
        index < inactive.count ? inactive[index] : active
    }

    /// The last segment whose base offset is at or below `offset` (the first when none is).
    func segmentIndex(containing offset: Int64) -> Int {
        guard offset >= active.baseOffset else {
            var low = 0
            var high = inactive.count - 1
            var found = 0
            while low <= high {
                let middle = low + (high - low) / 2
                if inactive[middle].baseOffset <= offset {
                    found = middle
                    low = middle + 1
                } else {
                    high = middle - 1
                }
            }
            return found
        }
        return inactive.count
    }

    var sizeBytes: Int64 { inactiveBytes + Int64(active.size) }
}

/// A partition log in local segment files, with one writer that owns the segments.
///
/// Threads and what they own:
/// - Callers (event loops among them) only queue appends and read `snapshot`, under `stateLock`, which is
///   held for a few assignments at a time and never across I/O. They never wait on disk.
/// - The writer (a job on the I/O thread pool, at most one at a time per log) owns the `Segment`s and the
///   write position under `writerLock`: it takes queued appends in chunks, validates and writes them, and
///   publishes a new snapshot. Truncation, retention, DeleteRecords and compaction swaps take `writerLock`
///   too, from pool threads. Lock order: `writerLock`, then `stateLock`.
/// - The flusher (a job on the pool, at most one at a time) fdatasyncs what the writer wrote while the
///   writer goes on; the appends written during one flush are covered together by the next (group commit).
///   Durable acknowledgments and the high watermark advance only after a flush.
///
/// Bounds: the append queue holds up to `maximumQueuedBytes` before callers are told to wait (it overshoots
/// by at most what callers queue before they look at the answer: one request per Kafka connection); the
/// writer stops taking appends while `maximumUnflushedBytes` await a flush; durability waiters are one per
/// append in that window.
///
/// Sendable: mutable state is guarded by `stateLock` (shared) or `writerLock` (writer-owned), as above.
public final class SegmentedLog: PartitionLog, @unchecked Sendable {
    /// Pending appends a log takes before it asks callers to wait.
    public static let maximumQueuedBytes = 32 << 20
    /// Written but not yet flushed bytes past which the writer waits for the flusher.
    public static let maximumUnflushedBytes = 64 << 20
    /// What the writer takes from the queue per pass, so that the flusher can start on the first part.
    static let writerChunkBytes = 4 << 20
    static let writerChunkAppends = 2048

    public let topicPartition: TopicPartition
    public let directory: String
    let threadPool: NIOThreadPool
    let logger: Logger
    let clock: @Sendable () -> Int64

    // MARK: Shared state (stateLock; the other files of the log use `snapshot`, `flushedOffset`, `failure`, `isClosed`)

    struct PendingAppend {
        var batch: RecordBatch
        var durability: AppendDurability
        var completion: @Sendable (Result<AppendResult, LogError>) -> Void
    }

    struct DurabilityWaiter {
        var requiredOffset: Int64
        var result: AppendResult
        var completion: @Sendable (Result<AppendResult, LogError>) -> Void
    }

    let stateLock = NIOLock()
    var snapshot: LogSnapshot
    private var config: LogConfig
    private var queue: Deque<PendingAppend> = []
    private var queuedBytes = 0
    private var writerScheduled = false
    private var writerWaitingForFlush = false
    private var flushScheduled = false
    var flushedOffset: Int64
    private var unflushedFiles: [LogFile] = []
    private var unflushedBytes = 0
    private var directoryNeedsSync = false
    private var durabilityWaiters: Deque<DurabilityWaiter> = []
    private var roomWaiters: [@Sendable () -> Void] = []
    private var listeners: [UInt64: @Sendable () -> Void] = [:]
    private var nextListenerIdentifier: UInt64 = 0
    var failure: StorageError? = nil
    var isClosed = false
    private var lastFlushMilliseconds: Int64
    private var reportedCorruptions: Set<String> = []

    // MARK: Writer-owned state (writerLock; retention, truncation and compaction use it while holding the lock)

    let writerLock = NIOLock()
    var segments: [Segment]
    var nextOffset: Int64
    var logStartOffset: Int64
    private var appendValidator: (any AppendValidator)? = nil
    /// The end of the range the last compaction pass covered.
    var cleanedThrough: Int64 = -1
    /// When the earliest tombstone the last pass kept may go (another pass is due then).
    var nextTombstoneExpiry: Int64 = .max
    private var indexFailureReported = false

    init(
        topicPartition: TopicPartition, directory: String, config: LogConfig, segments: [Segment], logStartOffset: Int64,
        threadPool: NIOThreadPool, logger: Logger, clock: @escaping @Sendable () -> Int64
    ) {
        precondition(!segments.isEmpty, "a partition log always has an active segment")
        self.topicPartition = topicPartition
        self.directory = directory
        self.config = config
        self.segments = segments
        self.threadPool = threadPool
        self.clock = clock
        var logger = logger
        logger[metadataKey: "partition"] = "\(topicPartition)"
        self.logger = logger
        let end = segments[segments.count - 1].nextOffset
        self.nextOffset = end
        self.logStartOffset = min(max(logStartOffset, segments[0].baseOffset), end)
        // Everything on disk at open time was verified by recovery or written before a clean stop: visible.
        self.flushedOffset = end
        self.lastFlushMilliseconds = clock()
        self.snapshot = LogSnapshot(inactive: segments.dropLast().map { $0.view() }, active: segments[segments.count - 1].view(), logStartOffset: self.logStartOffset)
    }

    // MARK: Reading state

    var currentSnapshot: LogSnapshot { stateLock.withLock { snapshot } }

    public var offsets: LogOffsets {
        let snapshot = currentSnapshot
        return LogOffsets(logStartOffset: snapshot.logStartOffset, highWatermark: snapshot.highWatermark, logEndOffset: snapshot.logEndOffset, sizeBytes: snapshot.sizeBytes)
    }

    public var currentConfig: LogConfig { stateLock.withLock { config } }
    /// The config, for code already holding the state lock.
    var currentConfigLocked: LogConfig { config }

    public func update(config newConfig: LogConfig) {
        stateLock.withLock { config = newConfig }
    }

    /// The offset up to which everything is flushed (the recovery point).
    public var recoveryPoint: Int64 { stateLock.withLock { flushedOffset } }

    var segmentCount: Int { currentSnapshot.segmentCount }

    // MARK: Appending

    @discardableResult
    public func append(_ batch: RecordBatch, durability: AppendDurability, completion: @escaping @Sendable (Result<AppendResult, LogError>) -> Void) -> AppendAdmission {
        let size = batch.bytes.readableBytes
        let (tooLarge, limit, admission, schedule): (Bool, Int, AppendAdmission, Bool) = stateLock.withLock {
            let limit = config.maxMessageBytes
            if size > limit { return (true, limit, .queued, false) }
            // Even on an offline or closed log the append queues: the writer answers it in order.
            queue.append(PendingAppend(batch: batch, durability: durability, completion: completion))
            queuedBytes += size
            let admission: AppendAdmission = queuedBytes > Self.maximumQueuedBytes ? .queuedPastBound : .queued
            let schedule = !writerScheduled && !writerWaitingForFlush
            if schedule { writerScheduled = true }
            return (false, limit, admission, schedule)
        }
        if tooLarge {
            completion(.failure(.batchTooLarge(size: size, limit: limit)))
            return .queued
        }
        if schedule { threadPool.submit { _ in self.runWriter() } }
        return admission
    }

    public func whenAppendQueueHasRoom(_ body: @escaping @Sendable () -> Void) {
        let now: Bool = stateLock.withLock {
            if queuedBytes <= Self.maximumQueuedBytes || isClosed { return true }
            roomWaiters.append(body)
            return false
        }
        if now { body() }
    }

    /// Installs the validator that sees every later append (before any append runs, normally).
    public func setAppendValidator(_ validator: (any AppendValidator)?) {
        writerLock.withLock { appendValidator = validator }
    }

    /// Runs `body` with appends held back, giving it the log end offset and whether everything up to it is
    /// flushed: a consistent point for snapshots of state derived from the log. Blocking (waits for the
    /// writer's current pass).
    public func withAppendsHeld<Value>(_ body: (_ logEndOffset: Int64, _ flushed: Bool) throws -> Value) rethrows -> Value {
        try writerLock.withLock {
            let flushed = stateLock.withLock { flushedOffset }
            return try body(nextOffset, flushed == nextOffset)
        }
    }

    private typealias Completion = (@Sendable (Result<AppendResult, LogError>) -> Void, Result<AppendResult, LogError>)

    /// The writer: takes queued appends in chunks, writes them, publishes, and hands the flush to the flusher.
    private func runWriter() {
        while true {
            let taken: (items: [PendingAppend], config: LogConfig, failure: StorageError?, closed: Bool, room: [@Sendable () -> Void])? = stateLock.withLock {
                let mustWaitForFlush = config.flushPolicy != .operatingSystem && unflushedBytes >= Self.maximumUnflushedBytes && failure == nil && !isClosed
                if queue.isEmpty || mustWaitForFlush {
                    writerScheduled = false
                    if mustWaitForFlush && !queue.isEmpty { writerWaitingForFlush = true }
                    return nil
                }
                var items: [PendingAppend] = []
                var bytes = 0
                while let first = queue.first, items.count < Self.writerChunkAppends, bytes < Self.writerChunkBytes {
                    queue.removeFirst()
                    bytes += first.batch.bytes.readableBytes
                    items.append(first)
                }
                let wasPastBound = queuedBytes > Self.maximumQueuedBytes
                queuedBytes -= bytes
                var room: [@Sendable () -> Void] = []
                if wasPastBound && queuedBytes <= Self.maximumQueuedBytes {
                    room = roomWaiters
                    roomWaiters.removeAll()
                }
                return (items, config, failure, isClosed, room)
            }
            guard let taken else {
                // A flush may be owed for what an earlier pass wrote (the writer waited for it).
                startFlushIfNeeded()
                return
            }
            for body in taken.room { body() }
            var completions: [Completion] = []
            var waiters: [DurabilityWaiter] = []
            var duplicates: [DurabilityWaiter] = []
            var writtenBytes = 0
            var flushFiles: [LogFile] = []
            var createdSegment = false
            var becameOffline: StorageError? = nil
            let published: LogSnapshot = writerLock.withLock {
                let now = clock()
                let needsFlush = taken.config.flushPolicy != .operatingSystem
                var rolled = false
                for item in taken.items {
                    if let failure = taken.failure ?? becameOffline {
                        completions.append((item.completion, .failure(.offline(topicPartition, failure))))
                        continue
                    }
                    if taken.closed {
                        completions.append((item.completion, .failure(.closed(topicPartition))))
                        continue
                    }
                    switch appendValidator?.decide(item.batch.header, nowMilliseconds: now) ?? .append {
                    case .append:
                        break
                    case .duplicate(let baseOffset, let lastOffset):
                        // The original may still be waiting for its flush; the duplicate's answer waits too.
                        let result = AppendResult(baseOffset: baseOffset, lastOffset: lastOffset, logAppendTime: -1, logStartOffset: logStartOffset)
                        if item.durability == .durable && needsFlush {
                            duplicates.append(DurabilityWaiter(requiredOffset: lastOffset + 1, result: result, completion: item.completion))
                        } else {
                            completions.append((item.completion, .success(result)))
                        }
                        continue
                    case .reject(let rejection):
                        completions.append((item.completion, .failure(.rejected(rejection))))
                        continue
                    }
                    switch write(item.batch, config: taken.config, now: now, rolled: &rolled, flushFiles: &flushFiles, createdSegment: &createdSegment) {
                    case .success(let result):
                        writtenBytes += item.batch.bytes.readableBytes
                        if item.durability == .durable && needsFlush {
                            waiters.append(DurabilityWaiter(requiredOffset: result.lastOffset + 1, result: result, completion: item.completion))
                        } else {
                            completions.append((item.completion, .success(result)))
                        }
                    case .failure(.damaged(let error)):
                        becameOffline = error
                        completions.append((item.completion, .failure(.offline(topicPartition, error))))
                    case .failure(.refused(let error)):
                        logger.warning("append refused by storage", metadata: ["error": "\(error)"])
                        completions.append((item.completion, .failure(.storage(error))))
                    }
                }
                return makeSnapshotLocked(rolled: rolled)
            }
            if writtenBytes > 0, !flushFiles.contains(where: { $0 === published.active.file }) {
                flushFiles.append(published.active.file)
            }
            var notify: [@Sendable () -> Void] = []
            var startFlush = false
            stateLock.withLock {
                if let becameOffline, failure == nil {
                    failure = becameOffline
                    logger.error("partition taken offline: a failed append could not be removed again; what was flushed stays readable", metadata: ["error": "\(becameOffline)"])
                }
                let previous = snapshot
                snapshot = published
                if config.flushPolicy == .everyWrite {
                    // Only a flush moves what readers see (finishFlush).
                    snapshot.keepHighWatermark(of: previous)
                } else {
                    snapshot.exposeAll()
                }
                if snapshot.highWatermark > previous.highWatermark {
                    notify = takeListenersLocked()
                }
                for file in flushFiles where !unflushedFiles.contains(where: { $0 === file }) { unflushedFiles.append(file) }
                unflushedBytes += writtenBytes
                directoryNeedsSync = directoryNeedsSync || createdSegment
                for waiter in waiters { durabilityWaiters.append(waiter) }
                for duplicate in duplicates {
                    if duplicate.requiredOffset <= flushedOffset {
                        completions.append((duplicate.completion, .success(duplicate.result)))
                    } else {
                        durabilityWaiters.append(duplicate)
                    }
                }
                if failure != nil {
                    completions.append(contentsOf: failWaitersLocked())
                }
                startFlush = shouldStartFlushLocked()
            }
            for (completion, result) in completions { completion(result) }
            for listener in notify { listener() }
            if startFlush { threadPool.submit { _ in self.runFlush() } }
        }
    }

    /// Writes one batch at the log end (writer lock held), rolling first when the active segment is full.
    private func write(_ original: RecordBatch, config: LogConfig, now: Int64, rolled: inout Bool, flushFiles: inout [LogFile], createdSegment: inout Bool) -> Result<AppendResult, Segment.AppendFailure> {
        guard nextOffset <= Segment.maximumBaseOffset else {
            // Offsets are exhausted (a log end near Int64.max can only come from a damaged checkpoint).
            return .failure(.refused(StorageError(operation: "assign offsets after \(nextOffset) in", path: directory, errorNumber: EOVERFLOW)))
        }
        var batch = original
        // The offsets go into the header only: the bytes keep theirs, and the segment writes the new prefix
        // in front of them (no copy of a buffer shared with the request).
        batch.header.baseOffset = nextOffset
        batch.header.partitionLeaderEpoch = 0
        var logAppendTime: Int64 = -1
        if config.logAppendTime {
            logAppendTime = now
            // The stamp lies inside the CRC: the bytes are changed (and copied) in this case.
            batch.assign(baseOffset: nextOffset, partitionLeaderEpoch: 0)
            Self.stampLogAppendTime(&batch, time: now)
        }
        let header = batch.header
        var active = segments[segments.count - 1]
        if active.isFull(appending: batch.bytes.readableBytes, lastOffset: header.lastOffset, segmentBytes: config.segmentBytes, segmentMilliseconds: config.segmentMilliseconds, nowMilliseconds: now) {
            do {
                let next = try Segment.create(baseOffset: nextOffset, directory: directory, indexIntervalBytes: config.indexIntervalBytes, nowMilliseconds: now)
                // The segment rolled away from gets its indexes synced with its last data.
                flushFiles.append(active.log)
                flushFiles.append(contentsOf: active.openIndexFiles)
                active.releaseIndexFiles()
                segments.append(next)
                active = next
                rolled = true
                createdSegment = true
                logger.debug("rolled a new segment", metadata: ["baseOffset": "\(nextOffset)"])
            } catch {
                return .failure(.refused(error))
            }
        }
        do {
            if let indexFailure = try active.append(batch.bytes, header: header, rewritingPrefix: true), !indexFailureReported {
                indexFailureReported = true
                logger.warning("an index file could not be written; it is rebuilt at the next start", metadata: ["error": "\(indexFailure)"])
            }
        } catch {
            return .failure(error)
        }
        nextOffset = header.lastOffset + 1
        appendValidator?.didAppend(header, nowMilliseconds: now)
        return .success(AppendResult(baseOffset: header.baseOffset, lastOffset: header.lastOffset, logAppendTime: logAppendTime, logStartOffset: logStartOffset))
    }

    /// LogAppendTime topics: the broker's clock becomes the batch's max timestamp and the timestamp type
    /// bit is set; both lie in the range the CRC covers, so it is recomputed.
    static func stampLogAppendTime(_ batch: inout RecordBatch, time: Int64) {
        let start = batch.bytes.readerIndex
        let attributes = batch.header.attributes | 0x08
        batch.bytes.setInteger(attributes, at: start + RecordBatchHeader.attributesOffset)
        batch.bytes.setInteger(time, at: start + 35)
        batch.header.attributes = attributes
        batch.header.maxTimestamp = time
        let crc = batch.computedChecksum
        batch.bytes.setInteger(crc, at: start + RecordBatchHeader.crcOffset)
        batch.header.crc = crc
    }

    /// A snapshot of the writer's segments (writer lock held); the high watermark is set by the caller.
    func makeSnapshotLocked(rolled: Bool) -> LogSnapshot {
        var next = stateLock.withLock { snapshot }
        if rolled || next.inactive.count != segments.count - 1 {
            next.inactive = segments.dropLast().map { $0.view() }
            next.inactiveBytes = next.inactive.reduce(0) { $0 + Int64($1.size) }
        }
        next.active = segments[segments.count - 1].view()
        next.logEndOffset = nextOffset
        next.logStartOffset = logStartOffset
        return next
    }

    /// Publishes the writer's segments after a structural change (retention, truncation, compaction).
    /// Writer lock held.
    func publishLocked(highWatermarkAtMost ceiling: Int64 = .max) {
        let published = makeSnapshotLocked(rolled: true)
        stateLock.withLock {
            let previous = snapshot
            snapshot = published
            snapshot.keepHighWatermark(of: previous, atMost: ceiling)
        }
    }

    // MARK: Flushing

    private func shouldStartFlushLocked() -> Bool {
        guard !flushScheduled, failure == nil, !unflushedFiles.isEmpty || directoryNeedsSync else { return false }
        let due = config.flushPolicy == .everyWrite || isClosed || unflushedBytes >= Self.maximumUnflushedBytes
        guard due else { return false }
        flushScheduled = true
        return true
    }

    private func startFlushIfNeeded() {
        let start = stateLock.withLock { shouldStartFlushLocked() }
        if start { threadPool.submit { _ in self.runFlush() } }
    }

    /// The flusher: syncs what was written, then releases the waiters it covers and advances the high
    /// watermark. Loops while appends keep arriving, so one job serves a whole burst.
    private func runFlush() {
        while true {
            let pass = stateLock.withLock { takeFlushPassLocked(target: snapshot.logEndOffset, boundary: (snapshot.active.baseOffset, snapshot.active.size)) }
            if !carryOut(pass).again { return }
        }
    }

    /// What one flush covers: everything written up to `target`, which ends at `boundary` in the files.
    private struct FlushPass {
        var target: Int64
        var boundary: (segment: Int64, position: Int)
        var files: [LogFile]
        var bytes: Int
        var syncDirectory: Bool
    }

    /// Takes the files written since the last flush (state lock held).
    private func takeFlushPassLocked(target: Int64, boundary: (Int64, Int)) -> FlushPass {
        defer {
            unflushedFiles.removeAll()
            directoryNeedsSync = false
        }
        return FlushPass(target: target, boundary: boundary, files: unflushedFiles, bytes: unflushedBytes, syncDirectory: directoryNeedsSync)
    }

    /// Syncs a pass's files (and `wholeSegments` with their indexes), then releases what it covers: durable
    /// acknowledgments, the high watermark, a writer waiting for room. Returns whether another pass is due
    /// and the error, if the sync failed (the partition is then offline).
    private func carryOut(_ pass: FlushPass, wholeSegments: [Segment] = []) -> (again: Bool, error: StorageError?) {
        var flushError: StorageError? = nil
        do throws(StorageError) {
            for file in pass.files { try file.synchronizeData() }
            for segment in wholeSegments { try segment.flushAll() }
            if pass.syncDirectory { try FileSystem.synchronizeDirectory(directory) }
        } catch {
            flushError = error
        }
        let (completions, notify, again, resumeWriter) = finishFlush(target: pass.target, boundary: pass.boundary, bytes: pass.bytes, error: flushError)
        for (completion, result) in completions { completion(result) }
        for listener in notify { listener() }
        if resumeWriter { threadPool.submit { _ in self.runWriter() } }
        return (again, flushError)
    }

    private func finishFlush(target: Int64, boundary: (segment: Int64, position: Int), bytes: Int, error: StorageError?) -> (completions: [Completion], notify: [@Sendable () -> Void], again: Bool, resumeWriter: Bool) {
        stateLock.withLock {
            var completions: [Completion] = []
            var notify: [@Sendable () -> Void] = []
            lastFlushMilliseconds = clock()
            unflushedBytes = max(0, unflushedBytes - bytes)
            if let error {
                if failure == nil {
                    failure = error
                    logger.error("partition taken offline after a failed flush; what was flushed before stays readable", metadata: ["error": "\(error)"])
                }
                completions = failWaitersLocked()
            } else {
                flushedOffset = max(flushedOffset, target)
                if config.flushPolicy == .everyWrite && target > snapshot.highWatermark {
                    snapshot.setHighWatermark(target, segment: boundary.segment, position: boundary.position)
                    notify = takeListenersLocked()
                }
                while let first = durabilityWaiters.first, first.requiredOffset <= flushedOffset {
                    durabilityWaiters.removeFirst()
                    completions.append((first.completion, .success(first.result)))
                }
            }
            var resumeWriter = false
            if writerWaitingForFlush && (unflushedBytes < Self.maximumUnflushedBytes || failure != nil) {
                writerWaitingForFlush = false
                if !queue.isEmpty && !writerScheduled {
                    writerScheduled = true
                    resumeWriter = true
                }
            }
            let again = failure == nil && (!unflushedFiles.isEmpty || directoryNeedsSync)
                && (config.flushPolicy == .everyWrite || isClosed || !durabilityWaiters.isEmpty || unflushedBytes >= Self.maximumUnflushedBytes)
            if !again { flushScheduled = false }
            return (completions, notify, again, resumeWriter)
        }
    }

    private func failWaitersLocked() -> [Completion] {
        guard let failure else { return [] }
        var completions: [Completion] = []
        while let waiter = durabilityWaiters.popFirst() {
            completions.append((waiter.completion, .failure(.offline(topicPartition, failure))))
        }
        return completions
    }

    /// Starts a flush if one is due under the `interval` policy (the log manager calls this periodically).
    func flushIfDue(now: Int64) {
        let start: Bool = stateLock.withLock {
            guard case .interval(let milliseconds) = config.flushPolicy else { return false }
            guard !flushScheduled, failure == nil, !unflushedFiles.isEmpty || directoryNeedsSync, now - lastFlushMilliseconds >= milliseconds else { return false }
            flushScheduled = true
            return true
        }
        if start { threadPool.submit { _ in self.runFlush() } }
    }

    /// Waits until everything appended before the call is on stable storage.
    public func flush() throws(LogError) {
        try writerLock.withTypedLock { () throws(LogError) in
            let active = segments[segments.count - 1]
            let (pass, failed): (FlushPass, StorageError?) = stateLock.withLock {
                (takeFlushPassLocked(target: nextOffset, boundary: (active.baseOffset, active.size)), failure)
            }
            if let failed { throw .offline(topicPartition, failed) }
            if let error = carryOut(pass, wholeSegments: segments).error { throw .storage(error) }
        }
    }

    // MARK: High watermark listeners

    public func onHighWatermarkAdvance(beyond offset: Int64, _ listener: @escaping @Sendable () -> Void) -> UInt64? {
        stateLock.withLock {
            if snapshot.highWatermark > offset || isClosed { return nil }
            nextListenerIdentifier += 1
            listeners[nextListenerIdentifier] = listener
            return nextListenerIdentifier
        }
    }

    public func removeListener(_ identifier: UInt64) {
        _ = stateLock.withLock { listeners.removeValue(forKey: identifier) }
    }

    private func takeListenersLocked() -> [@Sendable () -> Void] {
        guard !listeners.isEmpty else { return [] }
        let taken = Array(listeners.values)
        listeners.removeAll()
        return taken
    }

    /// Logs a corrupt batch once per place, and returns the error for the caller to answer with.
    func reportCorruption(_ corruption: CorruptBatch) -> LogError {
        let key = "\(corruption.path)@\(corruption.position)"
        let first = stateLock.withLock { reportedCorruptions.count < 1024 && reportedCorruptions.insert(key).inserted }
        if first {
            logger.error("a read met a corrupt record batch; the partition answers a storage error there", metadata: [
                "file": "\(corruption.path)", "position": "\(corruption.position)", "reason": "\(corruption.reason)",
            ])
        }
        return .corrupt(corruption)
    }

    // MARK: Lifecycle

    /// Waits for queued appends and flushes, flushes everything (logs and indexes), and refuses further
    /// appends. Blocking.
    public func close() throws(LogError) {
        stateLock.withLock { isClosed = true }
        // Let the writer answer what is queued, and the flusher finish.
        while stateLock.withLock({ writerScheduled || flushScheduled || !queue.isEmpty }) {
            usleep(1000)
        }
        let notify: [@Sendable () -> Void] = stateLock.withLock {
            let room = roomWaiters
            roomWaiters.removeAll()
            return room + takeListenersLocked()
        }
        defer { for listener in notify { listener() } }
        let failed = stateLock.withLock { failure }
        if let failed { throw .offline(topicPartition, failed) }
        try flush()
    }

    /// After a truncation: nothing beyond `offset` is flushed or visible any more, and files dropped from
    /// the log need no sync. Writer lock held.
    func noteTruncatedLocked(to offset: Int64, removedFiles: [LogFile]) {
        stateLock.withLock {
            flushedOffset = min(flushedOffset, offset)
            unflushedFiles.removeAll { file in removedFiles.contains { $0 === file } }
        }
    }
}
