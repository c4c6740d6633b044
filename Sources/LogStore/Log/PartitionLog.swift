public import KafkaProtocol
public import NIOCore

/// The log of one partition as the servers see it: the seam between them and storage. `SegmentedLog` keeps
/// it in local segment files; a shared tier (object storage plus a metadata store) can implement the same.
///
/// Appends are answered through their completion in offset order. Reads never see past the high watermark,
/// which under group commit is the flushed offset: a consumer never reads what a crash could take back.
public protocol PartitionLog: AnyObject, Sendable {
    var topicPartition: TopicPartition { get }
    var offsets: LogOffsets { get }
    var currentConfig: LogConfig { get }
    func update(config: LogConfig)

    /// Queues one validated batch; offsets are assigned in queue order. `completion` runs once the batch is
    /// written (`.written`) or on stable storage (`.durable`). The answer says whether the append queue is
    /// past its bound: a caller that can wait should then wait for `whenAppendQueueHasRoom` before the next.
    @discardableResult
    func append(_ batch: RecordBatch, durability: AppendDurability, completion: @escaping @Sendable (Result<AppendResult, LogError>) -> Void) -> AppendAdmission

    /// Calls `body` once the append queue is below its bound (at once when it is).
    func whenAppendQueueHasRoom(_ body: @escaping @Sendable () -> Void)

    /// Whole batches from the one holding `offset`, up to `maxBytes` (or one whole batch when
    /// `minimumOneBatch`), none at or above the high watermark. Blocking file I/O: call from the I/O pool.
    func read(from offset: Int64, maxBytes: Int, minimumOneBatch: Bool) throws(LogError) -> ReadResult
    /// What a Kafka fetch sends: from the batch holding `offset`, up to `maxBytes` (the first batch whole when
    /// `minimumOneBatch`), below the high watermark. Verified ranges come back as a file range to send as it
    /// is (the last batch may be cut at `maxBytes`, as Kafka sends it and clients expect); ranges not yet
    /// verified are read, checked and returned as bytes. Blocking: call from the I/O pool.
    func readForSending(from offset: Int64, maxBytes: Int, minimumOneBatch: Bool) throws(LogError) -> SendableRead
    /// `read` on the log's I/O pool, for async callers.
    func readAsync(from offset: Int64, maxBytes: Int, minimumOneBatch: Bool) async throws(LogError) -> ReadResult

    /// Calls `listener` once, the next time the high watermark advances (or the log closes). Returns an
    /// identifier for `removeListener`, or nil when the watermark is already past `offset` (read again).
    func onHighWatermarkAdvance(beyond offset: Int64, _ listener: @escaping @Sendable () -> Void) -> UInt64?
    func removeListener(_ identifier: UInt64)

    /// The earliest record with a timestamp at or after `timestamp`, below the high watermark. Blocking.
    func offset(forTimestamp timestamp: Int64) throws(LogError) -> (offset: Int64, timestamp: Int64)?
    /// The record with the largest timestamp below the high watermark (ListOffsets -3). Blocking.
    func maxTimestampOffset() throws(LogError) -> (offset: Int64, timestamp: Int64)?

    /// Moves the log start offset forward (DeleteRecords); returns the new one. Blocking.
    @discardableResult
    func deleteRecords(before offset: Int64) throws(LogError) -> Int64
    /// Removes everything at or after `offset`. Blocking.
    func truncate(to offset: Int64) throws(LogError)
    /// Waits until everything appended so far is on stable storage. Blocking.
    func flush() throws(LogError)
    /// Finishes queued appends, flushes everything and refuses further appends. Blocking.
    func close() throws(LogError)
}

extension PartitionLog {
    /// `append` for async callers.
    public func append(_ batch: RecordBatch, durability: AppendDurability) async throws(LogError) -> AppendResult {
        let result: Result<AppendResult, LogError> = await withCheckedContinuation { continuation in
            append(batch, durability: durability) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }
}

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
    /// A stored batch failed its checks (damage on disk).
    case corrupt(CorruptBatch)
    /// The partition hit a storage error it cannot recover from while running (a failed flush) and takes
    /// no more appends until restarted; what was flushed stays readable.
    case offline(TopicPartition, StorageError)
    case closed(TopicPartition)
    case offsetOutOfRange(requested: Int64, logStartOffset: Int64, logEndOffset: Int64)
    case batchTooLarge(size: Int, limit: Int)
    case rejected(AppendRejection)

    public var description: String {
        switch self {
        case .rejected(let rejection): return rejection.description
        case .storage(let error): return "storage error: \(error)"
        case .corrupt(let corruption): return corruption.description
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

/// Sees every batch of a partition in offset order, from the partition's single writer: it may refuse a
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

/// Whether the append queue had room when an append was queued.
public enum AppendAdmission: Sendable, Equatable {
    case queued
    /// Queued, but the queue is now past its bound: the caller should stop sending until it has room.
    case queuedPastBound
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

/// Stored batches on their way to a socket: bytes already in memory, or a range of a segment file to send
/// with sendfile(2) (the file stays open while the value exists).
public enum StoredRecords: Sendable {
    case bytes(ByteBuffer)
    case file(LogFile, Range<Int>)

    public var count: Int {
        switch self {
        case .bytes(let bytes): return bytes.readableBytes
        case .file(_, let range): return range.count
        }
    }

    /// The bytes, read from the file when they are a file range. Blocking for a file range.
    public func load() throws(StorageError) -> ByteBuffer {
        switch self {
        case .bytes(let bytes): return bytes
        case .file(let file, let range): return try file.read(at: range.lowerBound, length: range.count)
        }
    }
}

public struct SendableRead: Sendable {
    public var records: StoredRecords?
    public var highWatermark: Int64
    public var logStartOffset: Int64
    public var logEndOffset: Int64

    public init(records: StoredRecords?, highWatermark: Int64, logStartOffset: Int64, logEndOffset: Int64) {
        self.records = records
        self.highWatermark = highWatermark
        self.logStartOffset = logStartOffset
        self.logEndOffset = logEndOffset
    }
}

public struct LogOffsets: Sendable, Equatable {
    public var logStartOffset: Int64
    public var highWatermark: Int64
    public var logEndOffset: Int64
    public var sizeBytes: Int64
}
