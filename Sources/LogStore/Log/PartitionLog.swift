import DequeModule
public import KafkaProtocol
import Logging
public import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix

public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// `topic-N`, Kafka's partition directory name.
    public var directoryName: String { "\(topic)-\(partition)" }
    public var description: String { directoryName }

    public static func < (lhs: TopicPartition, rhs: TopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }

    /// Parses a partition directory name (the topic may itself contain '-').
    public init?(directoryName: String) {
        guard let dash = directoryName.lastIndex(of: "-"),
              let partition = Int32(directoryName[directoryName.index(after: dash)...]),
              partition >= 0, dash != directoryName.startIndex
        else { return nil }
        self.topic = String(directoryName[..<dash])
        self.partition = partition
    }
}

public enum LogError: Error, Sendable, Equatable, CustomStringConvertible {
    case storage(StorageError)
    /// The partition hit a storage error earlier and serves nothing until restarted.
    case offline(TopicPartition, StorageError)
    case closed(TopicPartition)
    case offsetOutOfRange(requested: Int64, logStartOffset: Int64, logEndOffset: Int64)
    case batchTooLarge(size: Int, limit: Int)
    case rejected(AppendRejection)

    public var description: String {
        switch self {
        case .rejected(let rejection): return rejection.description
        case .storage(let error): return "storage error: \(error)"
        case .offline(let partition, let error): return "\(partition) is offline after a storage error: \(error)"
        case .closed(let partition): return "\(partition) is closed"
        case .offsetOutOfRange(let requested, let start, let end):
            return "offset \(requested) is outside the log's range \(start)..<\(end)"
        case .batchTooLarge(let size, let limit): return "batch of \(size) bytes exceeds max.message.bytes \(limit)"
        }
    }
}

/// Why a batch from a producer with a producer id was refused (idempotence).
public enum AppendRejection: Error, Sendable, Equatable, CustomStringConvertible {
    /// The batch's epoch is older than the producer's current one: a fenced (zombie) producer.
    case invalidProducerEpoch(String)
    /// A gap or a jump in the producer's sequence numbers.
    case outOfOrderSequence(String)

    public var description: String {
        switch self {
        case .invalidProducerEpoch(let why), .outOfOrderSequence(let why): return why
        }
    }
}

/// What an append validator decides for a batch before it is written.
public enum AppendDecision: Sendable, Equatable {
    case append
    /// The same batch was appended before: answer with its offsets and write nothing.
    case duplicate(baseOffset: Int64, lastOffset: Int64)
    case reject(AppendRejection)
}

/// Sees every batch of a partition in offset order, under the partition's append lock: it may refuse a
/// batch or declare it a duplicate before the write (the idempotent producer's sequence checks), and
/// learns of each batch once written.
public protocol AppendValidator: AnyObject, Sendable {
    /// Called before `header` (offsets not yet assigned) is written.
    func decide(_ header: RecordBatchHeader, nowMilliseconds: Int64) -> AppendDecision
    /// Called after the batch was written, with its assigned offsets.
    func didAppend(_ header: RecordBatchHeader, nowMilliseconds: Int64)
}

/// Whether an append's acknowledgment waits for the flush (acks=all, QoS 1/2) or only for the write.
public enum AppendDurability: Sendable {
    case written
    case durable
}

public struct AppendResult: Sendable, Equatable {
    public var baseOffset: Int64
    public var lastOffset: Int64
    /// The broker time written into the batch for LogAppendTime topics, -1 otherwise.
    public var logAppendTime: Int64
    public var logStartOffset: Int64
}

public struct ReadResult: Sendable {
    /// Whole batches, or nil when there is nothing at or after the offset below the high watermark.
    public var records: ByteBuffer?
    public var highWatermark: Int64
    public var logStartOffset: Int64
    public var logEndOffset: Int64
}

public struct LogOffsets: Sendable, Equatable {
    public var logStartOffset: Int64
    public var highWatermark: Int64
    public var logEndOffset: Int64
    public var sizeBytes: Int64
}

/// The log of one partition: an ordered set of segments and the single serial owner of its appends.
///
/// Appends queue under the lock in arrival order and are written by one job at a time on the I/O thread
/// pool. With the `everyWrite` flush policy, a flush job fdatasyncs the dirty segments while further appends
/// keep being written; the appends that arrive during one flush are covered together by the next (group
/// commit). Durable acknowledgments and the high watermark (what readers may see) advance only after a
/// flush, so a consumer never reads a record that a crash could take back.
///
/// Sendable: every mutable property is guarded by `lock`; file I/O runs on the thread pool, outside the lock
/// for flushes and reads, and inside it only for the short positional writes of appends.
public final class PartitionLog: @unchecked Sendable {
    public let topicPartition: TopicPartition
    public let directory: String
    let threadPool: NIOThreadPool
    let logger: Logger
    let clock: @Sendable () -> Int64

    private let lock = NIOLock()
    private var config: LogConfig
    private var segments: [Segment]
    private var logStartOffset: Int64
    private var nextOffset: Int64
    private var highWatermark: Int64
    /// Everything below this offset is on stable storage.
    private var flushedOffset: Int64
    private var pending: Deque<PendingAppend> = []
    private var writerRunning = false
    private var flushRunning = false
    private var durabilityWaiters: Deque<DurabilityWaiter> = []
    /// Segments written since their last flush (the active one, and any just rolled away from).
    private var dirtySegments: [Segment] = []
    private var failure: StorageError? = nil
    private var isClosed = false
    private var listeners: [UInt64: @Sendable () -> Void] = [:]
    private var nextListenerIdentifier: UInt64 = 0
    private var lastFlushMilliseconds: Int64
    private var appendValidator: (any AppendValidator)? = nil
    /// The end of the range the last compaction pass covered.
    private var cleanedThrough: Int64 = -1
    /// When the earliest tombstone the last pass kept may go (another pass is due then).
    private var nextTombstoneExpiry: Int64 = .max

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
        let end = segments.last!.nextOffset
        self.nextOffset = end
        self.logStartOffset = min(max(logStartOffset, segments.first!.baseOffset), end)
        // Everything on disk at open time has been flushed (a recovery verified it) or was written before
        // a clean shutdown: it is all visible.
        self.highWatermark = end
        self.flushedOffset = end
        self.lastFlushMilliseconds = clock()
    }

    // MARK: Appending

    /// Queues one validated batch. Offsets are assigned in queue order; `completion` runs once the batch is
    /// written (`.written`) or flushed (`.durable`, under the `everyWrite` and `interval` policies).
    public func append(_ batch: RecordBatch, durability: AppendDurability, completion: @escaping @Sendable (Result<AppendResult, LogError>) -> Void) {
        let limit = lock.withLock { config.maxMessageBytes }
        if batch.bytes.readableBytes > limit {
            completion(.failure(.batchTooLarge(size: batch.bytes.readableBytes, limit: limit)))
            return
        }
        let startWriter: Bool = lock.withLock {
            // Even on an offline or closed log the append queues: the writer answers it in order.
            pending.append(PendingAppend(batch: batch, durability: durability, completion: completion))
            if writerRunning { return false }
            writerRunning = true
            return true
        }
        if startWriter {
            threadPool.submit { _ in self.runWriter() }
        }
    }

    /// `append` for async callers.
    public func append(_ batch: RecordBatch, durability: AppendDurability) async throws(LogError) -> AppendResult {
        let result: Result<AppendResult, LogError> = await withCheckedContinuation { continuation in
            append(batch, durability: durability) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    private func runWriter() {
        while true {
            var completions: [(@Sendable (Result<AppendResult, LogError>) -> Void, Result<AppendResult, LogError>)] = []
            var notify: [@Sendable () -> Void] = []
            var scheduleFlush = false
            let more: Bool = lock.withLock {
                if pending.isEmpty {
                    writerRunning = false
                    return false
                }
                while let item = pending.popFirst() {
                    if let failure {
                        completions.append((item.completion, .failure(.offline(topicPartition, failure))))
                        continue
                    }
                    if isClosed {
                        completions.append((item.completion, .failure(.closed(topicPartition))))
                        continue
                    }
                    let now = clock()
                    switch appendValidator?.decide(item.batch.header, nowMilliseconds: now) ?? .append {
                    case .append:
                        break
                    case .duplicate(let baseOffset, let lastOffset):
                        // The original may still be waiting for its flush; the duplicate's answer waits too.
                        let result = AppendResult(baseOffset: baseOffset, lastOffset: lastOffset, logAppendTime: -1, logStartOffset: logStartOffset)
                        if item.durability == .durable && config.flushPolicy != .operatingSystem && lastOffset >= flushedOffset {
                            durabilityWaiters.append(DurabilityWaiter(requiredOffset: lastOffset + 1, result: result, completion: item.completion))
                        } else {
                            completions.append((item.completion, .success(result)))
                        }
                        continue
                    case .reject(let rejection):
                        completions.append((item.completion, .failure(.rejected(rejection))))
                        continue
                    }
                    do throws(StorageError) {
                        let result = try writeLocked(item.batch)
                        let needsFlush = item.durability == .durable && config.flushPolicy != .operatingSystem
                        if needsFlush {
                            durabilityWaiters.append(DurabilityWaiter(requiredOffset: result.lastOffset + 1, result: result, completion: item.completion))
                        } else {
                            completions.append((item.completion, .success(result)))
                        }
                    } catch {
                        failLocked(error)
                        completions.append((item.completion, .failure(.offline(topicPartition, error))))
                    }
                }
                // Only group commit holds readers back until the flush; the other policies trade that away.
                if config.flushPolicy != .everyWrite && highWatermark < nextOffset {
                    highWatermark = nextOffset
                    notify = takeListenersLocked()
                }
                if config.flushPolicy == .everyWrite && !flushRunning && !dirtySegments.isEmpty && failure == nil {
                    flushRunning = true
                    scheduleFlush = true
                }
                return true
            }
            for (completion, result) in completions { completion(result) }
            for listener in notify { listener() }
            if scheduleFlush {
                threadPool.submit { _ in self.runFlush() }
            }
            if !more { return }
        }
    }

    /// Writes one batch at the log end. Called with the lock held.
    private func writeLocked(_ original: RecordBatch) throws(StorageError) -> AppendResult {
        var batch = original
        let now = clock()
        batch.assign(baseOffset: nextOffset, partitionLeaderEpoch: 0)
        var logAppendTime: Int64 = -1
        if config.logAppendTime {
            logAppendTime = now
            Self.stampLogAppendTime(&batch, time: now)
        }
        let header = batch.header
        var active = segments.last!
        if active.isFull(appending: batch.bytes.readableBytes, lastOffset: header.lastOffset, segmentBytes: config.segmentBytes, segmentMilliseconds: config.segmentMilliseconds, nowMilliseconds: now) {
            active = try rollLocked(now: now)
        }
        try active.append(batch.bytes, header: header)
        if !dirtySegments.contains(where: { $0 === active }) { dirtySegments.append(active) }
        nextOffset = header.lastOffset + 1
        appendValidator?.didAppend(header, nowMilliseconds: now)
        return AppendResult(baseOffset: header.baseOffset, lastOffset: header.lastOffset, logAppendTime: logAppendTime, logStartOffset: logStartOffset)
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

    private func rollLocked(now: Int64) throws(StorageError) -> Segment {
        let segment = try Segment.create(baseOffset: nextOffset, directory: directory, indexIntervalBytes: config.indexIntervalBytes, nowMilliseconds: now)
        segments.append(segment)
        logger.debug("rolled a new segment", metadata: ["baseOffset": "\(nextOffset)"])
        return segment
    }

    /// Flushes the dirty segments, then releases the waiters the flush covers. Loops while appends keep
    /// arriving under group commit, so one flush job serves a whole burst.
    private func runFlush() {
        while true {
            let (target, toFlush, active): (Int64, [Segment], Segment?) = lock.withLock {
                let snapshot = dirtySegments
                dirtySegments.removeAll()
                return (nextOffset, snapshot, segments.last)
            }
            var flushError: StorageError? = nil
            for segment in toFlush {
                do {
                    if segment === active {
                        try segment.log.synchronizeData()
                    } else {
                        // A segment that is no longer written gets its indexes flushed too.
                        try segment.flushAll()
                    }
                } catch {
                    flushError = error
                    break
                }
            }
            var completions: [(@Sendable (Result<AppendResult, LogError>) -> Void, Result<AppendResult, LogError>)] = []
            var notify: [@Sendable () -> Void] = []
            let again: Bool = lock.withLock {
                lastFlushMilliseconds = clock()
                if let flushError {
                    failLocked(flushError)
                } else {
                    flushedOffset = max(flushedOffset, target)
                    if target > highWatermark {
                        highWatermark = target
                        notify = takeListenersLocked()
                    }
                }
                while let first = durabilityWaiters.first, failure != nil || first.requiredOffset <= flushedOffset {
                    durabilityWaiters.removeFirst()
                    if let failure {
                        completions.append((first.completion, .failure(.offline(topicPartition, failure))))
                    } else {
                        completions.append((first.completion, .success(first.result)))
                    }
                }
                if failure == nil && !dirtySegments.isEmpty && (config.flushPolicy == .everyWrite || isClosed) {
                    return true
                }
                flushRunning = false
                return false
            }
            for (completion, result) in completions { completion(result) }
            for listener in notify { listener() }
            if !again { return }
        }
    }

    /// Starts a flush if one is due under the `interval` policy (the log manager calls this periodically).
    func flushIfDue(now: Int64) {
        let start: Bool = lock.withLock {
            guard case .interval(let milliseconds) = config.flushPolicy else { return false }
            guard !flushRunning, failure == nil, !dirtySegments.isEmpty, now - lastFlushMilliseconds >= milliseconds else { return false }
            flushRunning = true
            return true
        }
        if start { threadPool.submit { _ in self.runFlush() } }
    }

    private func failLocked(_ error: StorageError) {
        if failure == nil {
            failure = error
            logger.error("partition taken offline after a storage error", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Reading

    public var offsets: LogOffsets {
        lock.withLock {
            let size = segments.reduce(Int64(0)) { $0 + Int64($1.size) }
            return LogOffsets(logStartOffset: logStartOffset, highWatermark: highWatermark, logEndOffset: nextOffset, sizeBytes: size)
        }
    }

    public var currentConfig: LogConfig { lock.withLock { config } }

    public func update(config newConfig: LogConfig) {
        lock.withLock { config = newConfig }
    }

    /// Reads whole batches from `offset` below the high watermark. Blocking file I/O: call it from the I/O
    /// thread pool (`readAsync` does).
    public func read(from offset: Int64, maxBytes: Int, minimumOneBatch: Bool) throws(LogError) -> ReadResult {
        // Everything in memory (segment list, sizes, index lookups) is read under the lock; the file reads
        // that follow need none.
        let snapshot: (views: [Segment.View], first: Int, indexPosition: Int, start: Int64, high: Int64, end: Int64, failure: StorageError?) = lock.withLock {
            let first = segments.lastIndex { $0.baseOffset <= offset } ?? 0
            return (segments.map { $0.view() }, first, segments[first].indexPosition(for: offset), logStartOffset, highWatermark, nextOffset, failure)
        }
        if let failure = snapshot.failure { throw .offline(topicPartition, failure) }
        guard offset >= snapshot.start && offset <= snapshot.end else {
            throw .offsetOutOfRange(requested: offset, logStartOffset: snapshot.start, logEndOffset: snapshot.end)
        }
        var result = ReadResult(records: nil, highWatermark: snapshot.high, logStartOffset: snapshot.start, logEndOffset: snapshot.end)
        guard offset < snapshot.high else { return result }
        // The segment holding the offset, then later ones if it holds nothing at or after it (compaction
        // can leave gaps at a segment's end).
        var index = snapshot.first
        while index < snapshot.views.count {
            let view = snapshot.views[index]
            let startPosition = index == snapshot.first ? snapshot.indexPosition : 0
            do {
                if let bytes = try view.read(from: offset, indexPosition: startPosition, maxBytes: maxBytes, endOffset: snapshot.high, minimumOneBatch: minimumOneBatch) {
                    result.records = bytes
                    return result
                }
            } catch {
                throw .storage(error)
            }
            index += 1
        }
        return result
    }

    public func readAsync(from offset: Int64, maxBytes: Int, minimumOneBatch: Bool) async throws(LogError) -> ReadResult {
        let result: Result<ReadResult, LogError> = await withCheckedContinuation { continuation in
            threadPool.submit { _ in
                continuation.resume(returning: Result { () throws(LogError) in try self.read(from: offset, maxBytes: maxBytes, minimumOneBatch: minimumOneBatch) })
            }
        }
        return try result.get()
    }

    /// Calls `listener` once, the next time the high watermark advances (or the log closes). Returns an
    /// identifier for `removeListener`, or nil when the watermark already passed `offset` (call again then).
    public func onHighWatermarkAdvance(beyond offset: Int64, _ listener: @escaping @Sendable () -> Void) -> UInt64? {
        lock.withLock {
            if highWatermark > offset || isClosed { return nil }
            nextListenerIdentifier += 1
            listeners[nextListenerIdentifier] = listener
            return nextListenerIdentifier
        }
    }

    public func removeListener(_ identifier: UInt64) {
        _ = lock.withLock { listeners.removeValue(forKey: identifier) }
    }

    private func takeListenersLocked() -> [@Sendable () -> Void] {
        guard !listeners.isEmpty else { return [] }
        let taken = Array(listeners.values)
        listeners.removeAll()
        return taken
    }

    // MARK: Append validation

    /// Installs the validator that sees every later append (before any append runs, normally).
    public func setAppendValidator(_ validator: (any AppendValidator)?) {
        lock.withLock { appendValidator = validator }
    }

    /// Runs `body` with appends held back, giving it the log end offset and whether everything up to it is
    /// flushed: a consistent point for snapshots of state derived from the log.
    public func withAppendsHeld<Value>(_ body: (_ logEndOffset: Int64, _ flushed: Bool) throws -> Value) rethrows -> Value {
        try lock.withLock { try body(nextOffset, flushedOffset == nextOffset) }
    }

    /// Headers of every batch from `offset` (the batch holding it) to the log end, in order. Blocking I/O.
    public func batchHeaders(from offset: Int64) throws(LogError) -> [RecordBatchHeader] {
        let (views, positions, end) = lock.withLock {
            (segments.map { $0.view() }, segments.map { $0.indexPosition(for: offset) }, nextOffset)
        }
        var headers: [RecordBatchHeader] = []
        do {
            for (view, indexPosition) in zip(views, positions) where view.nextOffset > offset {
                guard let start = try view.position(ofBatchContaining: max(offset, view.baseOffset), from: offset >= view.baseOffset ? indexPosition : 0) else { continue }
                for (_, header) in try view.batches(from: start) where header.baseOffset < end {
                    headers.append(header)
                }
            }
        } catch {
            throw .storage(error)
        }
        return headers
    }

    // MARK: Offsets by time

    /// The earliest record with a timestamp at or after `timestamp`: its offset and timestamp, or nil.
    /// Blocking I/O: call from the thread pool.
    public func offset(forTimestamp timestamp: Int64) throws(LogError) -> (offset: Int64, timestamp: Int64)? {
        let (views, positions, start, high) = lock.withLock {
            (segments.map { $0.view() }, segments.map { $0.indexPosition(forTimestamp: timestamp) }, logStartOffset, highWatermark)
        }
        do {
            for (view, position) in zip(views, positions) where view.maxTimestamp >= timestamp {
                for (batchPosition, header) in try view.batches(from: position) {
                    if header.baseOffset >= high { return nil }
                    guard header.maxTimestamp >= timestamp, header.lastOffset >= start else { continue }
                    let batch = try view.readBatch(at: batchPosition, header: header)
                    if let found = try Self.firstRecord(in: batch, atOrAfter: timestamp, notBefore: start) {
                        return found
                    }
                }
            }
        } catch let error as StorageError {
            throw .storage(error)
        } catch {
            return nil
        }
        return nil
    }

    static func firstRecord(in batch: RecordBatch, atOrAfter timestamp: Int64, notBefore start: Int64) throws -> (offset: Int64, timestamp: Int64)? {
        if batch.header.timestampType == .logAppendTime {
            let offset = max(batch.header.baseOffset, start)
            return offset <= batch.header.lastOffset ? (offset, batch.header.maxTimestamp) : nil
        }
        for record in try batch.records() {
            let offset = batch.header.baseOffset + Int64(record.offsetDelta)
            let recordTimestamp = batch.header.baseTimestamp + record.timestampDelta
            if offset >= start && recordTimestamp >= timestamp { return (offset, recordTimestamp) }
        }
        return nil
    }

    /// The offset and timestamp of the record with the largest timestamp (ListOffsets -3), nil when empty.
    public func maxTimestampOffset() throws(LogError) -> (offset: Int64, timestamp: Int64)? {
        let (best, position, start): (Segment.View?, Int, Int64) = lock.withLock {
            let candidates = segments.filter { $0.maxTimestamp >= 0 && $0.offsetOfMaxTimestamp < highWatermark }
            guard let best = candidates.max(by: { $0.maxTimestamp < $1.maxTimestamp }) else { return (nil, 0, logStartOffset) }
            return (best.view(), best.indexPosition(for: best.offsetOfMaxTimestamp), logStartOffset)
        }
        guard let best else { return nil }
        do {
            guard let batchStart = try best.position(ofBatchContaining: best.offsetOfMaxTimestamp, from: position),
                  let (batchPosition, header) = try best.batches(from: batchStart).first else { return nil }
            let batch = try best.readBatch(at: batchPosition, header: header)
            if let found = try Self.firstRecord(in: batch, atOrAfter: best.maxTimestamp, notBefore: start) {
                return found
            }
        } catch let error as StorageError {
            throw .storage(error)
        } catch {
            return nil
        }
        return (best.offsetOfMaxTimestamp, best.maxTimestamp)
    }

    // MARK: Retention, deletion, truncation

    /// Moves the log start offset forward (DeleteRecords): whole segments below it are deleted.
    /// Returns the new low watermark.
    @discardableResult
    public func deleteRecords(before offset: Int64) throws(LogError) -> Int64 {
        let removed: [Segment] = try lock.withTypedLock { () throws(LogError) -> [Segment] in
            if let failure { throw .offline(topicPartition, failure) }
            guard offset >= 0 && offset <= highWatermark else {
                throw .offsetOutOfRange(requested: offset, logStartOffset: logStartOffset, logEndOffset: highWatermark)
            }
            if offset > logStartOffset { logStartOffset = offset }
            return removeSegmentsBelowStartLocked()
        }
        try deleteFiles(of: removed)
        return lock.withLock { logStartOffset }
    }

    /// Segments entirely below the log start offset, except the active one.
    private func removeSegmentsBelowStartLocked() -> [Segment] {
        var removed: [Segment] = []
        while segments.count > 1, segments[1].baseOffset <= logStartOffset {
            removed.append(segments.removeFirst())
        }
        return removed
    }

    private func deleteFiles(of removed: [Segment]) throws(LogError) {
        for segment in removed {
            do {
                try segment.deleteFiles()
            } catch {
                throw .storage(error)
            }
        }
    }

    /// Applies `retention.ms` and `retention.bytes`: deletes the oldest inactive segments that are past
    /// either. Returns how many were deleted.
    @discardableResult
    public func applyRetention(now: Int64) throws(LogError) -> Int {
        let removed: [Segment] = lock.withLock {
            guard config.cleanupPolicy.deletes, failure == nil else { return [] }
            var removed: [Segment] = []
            var totalBytes = segments.reduce(Int64(0)) { $0 + Int64($1.size) }
            while segments.count > 1 {
                let oldest = segments[0]
                // A segment may go only once everything in it is visible (below the high watermark).
                guard segments[1].baseOffset <= highWatermark else { break }
                let expired = config.retentionMilliseconds >= 0 && oldest.maxTimestamp >= 0 && now - oldest.maxTimestamp > config.retentionMilliseconds
                let expiredEmpty = config.retentionMilliseconds >= 0 && oldest.maxTimestamp < 0 && now - oldest.createdAtMilliseconds > config.retentionMilliseconds
                let oversized = config.retentionBytes >= 0 && totalBytes - Int64(oldest.size) >= config.retentionBytes
                guard expired || expiredEmpty || oversized else { break }
                totalBytes -= Int64(oldest.size)
                removed.append(segments.removeFirst())
                logStartOffset = max(logStartOffset, segments[0].baseOffset)
            }
            return removed
        }
        if !removed.isEmpty {
            logger.info("retention deleted segments", metadata: [
                "segments": "\(removed.map(\.baseOffset))", "logStartOffset": "\(offsets.logStartOffset)",
            ])
        }
        try deleteFiles(of: removed)
        return removed.count
    }

    /// Removes everything at or after `offset` (whole batches).
    public func truncate(to offset: Int64) throws(LogError) {
        let removed: [Segment] = try lock.withTypedLock { () throws(LogError) -> [Segment] in
            guard offset < nextOffset else { return [] }
            var removed: [Segment] = []
            while segments.count > 1, segments.last!.baseOffset >= offset {
                removed.append(segments.removeLast())
            }
            do throws(StorageError) {
                try segments.last!.truncate(toOffset: offset)
            } catch {
                failLocked(error)
                throw .storage(error)
            }
            nextOffset = segments.last!.nextOffset
            highWatermark = min(highWatermark, nextOffset)
            logStartOffset = min(logStartOffset, nextOffset)
            dirtySegments.removeAll { segment in removed.contains { $0 === segment } }
            return removed
        }
        try deleteFiles(of: removed)
    }

    // MARK: Compaction support

    /// Segments the cleaner may rewrite: inactive, entirely below the high watermark and older than
    /// min.compaction.lag.ms, and only when something was written since the last pass. Nil when the log
    /// is not compacted.
    func compactionCandidates(now: Int64) -> (views: [Segment.View], config: LogConfig)? {
        lock.withLock {
            guard config.cleanupPolicy.compacts, failure == nil, !isClosed else { return nil }
            var views: [Segment.View] = []
            for segment in segments.dropLast() {
                guard segment.nextOffset <= highWatermark else { break }
                guard segment.maxTimestamp <= now - config.minCompactionLagMilliseconds else { break }
                views.append(segment.view())
            }
            // Nothing new since the last pass and no tombstone due: a pass would change nothing.
            guard let last = views.last, last.nextOffset > cleanedThrough || now >= nextTombstoneExpiry else { return (views: [], config: config) }
            return (views, config)
        }
    }

    /// Promotes a cleaned copy and puts it in place of `original`, unless the original left the log
    /// meanwhile (retention or DeleteRecords). Under the lock, so no deletion races the rename.
    func swapInCleaned(_ cleaned: Segment, replacing original: Segment) throws(StorageError) -> Bool {
        try lock.withTypedLock { () throws(StorageError) -> Bool in
            guard let index = segments.firstIndex(where: { $0 === original }), index < segments.count - 1 else { return false }
            try cleaned.promote()
            segments[index] = cleaned
            return true
        }
    }

    func markCleaned(through offset: Int64, nextTombstoneExpiry expiry: Int64) {
        lock.withLock {
            cleanedThrough = max(cleanedThrough, offset)
            nextTombstoneExpiry = expiry
        }
    }

    // MARK: Lifecycle

    /// Waits for queued appends and flushes, flushes everything (logs and indexes), and refuses further
    /// appends. Blocking: call from the thread pool or at shutdown.
    public func close() throws(LogError) {
        lock.withLock { isClosed = true }
        // Let the writer and flusher finish what they hold.
        while lock.withLock({ writerRunning || flushRunning || !pending.isEmpty }) {
            usleepMilliseconds(1)
        }
        let (toFlush, waiters, notify): ([Segment], Deque<DurabilityWaiter>, [@Sendable () -> Void]) = lock.withLock {
            let waiters = durabilityWaiters
            durabilityWaiters.removeAll()
            return (segments, waiters, takeListenersLocked())
        }
        var closeError: StorageError? = nil
        if lock.withLock({ failure }) == nil {
            for segment in toFlush {
                do { try segment.flushAll() } catch {
                    closeError = error
                    break
                }
            }
        }
        lock.withLock {
            if closeError == nil && failure == nil {
                highWatermark = nextOffset
                flushedOffset = nextOffset
            }
        }
        for waiter in waiters {
            if let closeError {
                waiter.completion(.failure(.storage(closeError)))
            } else {
                waiter.completion(.success(waiter.result))
            }
        }
        for listener in notify { listener() }
        if let closeError { throw .storage(closeError) }
    }

    /// The offset up to which everything is flushed (the recovery point).
    public var recoveryPoint: Int64 {
        lock.withLock { flushedOffset }
    }

    var segmentCount: Int { lock.withLock { segments.count } }
}

#if canImport(Glibc)
import Glibc
#endif

func usleepMilliseconds(_ milliseconds: Int) {
    usleep(useconds_t(milliseconds * 1000))
}

extension NIOLock {
    /// `withLock` for closures with typed throws (`withLock` rethrows them as `any Error`).
    @inlinable
    public func withTypedLock<Value, Failure: Error>(_ body: () throws(Failure) -> Value) throws(Failure) -> Value {
        self.lock()
        defer { self.unlock() }
        return try body()
    }
}
