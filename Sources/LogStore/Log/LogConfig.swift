/// When appended data is forced to disk.
public enum FlushPolicy: Sendable, Equatable {
    /// fdatasync after every write, shared by the writes that arrive while one is in progress (group commit).
    /// Acknowledgments that ask for durability complete after it. The default.
    case everyWrite
    /// fdatasync at most this often; durable acknowledgments wait for the next one.
    case interval(milliseconds: Int64)
    /// Leave it to the operating system; "durable" acknowledgments complete after the write alone.
    case operatingSystem
}

public enum CleanupPolicy: Sendable, Equatable {
    case delete
    case compact
    case compactAndDelete
    /// An empty `cleanup.policy` (Kafka accepts the empty list): neither retention nor compaction removes
    /// anything; only DeleteRecords moves the log start.
    case neither

    public var deletes: Bool { self == .delete || self == .compactAndDelete }
    public var compacts: Bool { self == .compact || self == .compactAndDelete }
}

/// `compression.type` with the level its codec uses (`compression.gzip.level`, `compression.lz4.level`,
/// `compression.zstd.level`): what the broker stores produced batches as. LogStore itself never compresses;
/// the produce path reads this to recompress batches before they are appended.
public enum TopicCompression: Sendable, Equatable {
    /// Batches are stored with the producer's codec (Kafka's `producer`).
    case producer
    case uncompressed
    /// zlib level 1...9, or -1 for zlib's default.
    case gzip(level: Int32)
    case snappy
    /// LZ4 frame compression level 1...17 (levels above the library's maximum act as its maximum).
    case lz4(level: Int32)
    /// Zstandard level -131072...22.
    case zstd(level: Int32)
}

/// Per-partition log settings, named after the Kafka topic configs they implement.
public struct LogConfig: Sendable, Equatable {
    /// `segment.bytes`
    public var segmentBytes: Int = 1 << 30
    /// `segment.ms`
    public var segmentMilliseconds: Int64 = 7 * 24 * 3_600_000
    /// `retention.ms`; -1 keeps forever.
    public var retentionMilliseconds: Int64 = 7 * 24 * 3_600_000
    /// `retention.bytes`; -1 means no size limit.
    public var retentionBytes: Int64 = -1
    /// `cleanup.policy`
    public var cleanupPolicy: CleanupPolicy = .delete
    /// `delete.retention.ms`: how long tombstones survive compaction.
    public var deleteRetentionMilliseconds: Int64 = 24 * 3_600_000
    /// `min.compaction.lag.ms`
    public var minCompactionLagMilliseconds: Int64 = 0
    /// `max.compaction.lag.ms`: a dirty segment whose first batch is older than this is compacted even when
    /// the dirty ratio is below `minCleanableDirtyRatio`.
    public var maxCompactionLagMilliseconds: Int64 = .max
    /// `min.cleanable.dirty.ratio`: compaction waits until the not-yet-compacted bytes exceed this share of
    /// the compactable log (Kafka's default 0.5).
    public var minCleanableDirtyRatio: Double = 0.5
    /// `index.interval.bytes`
    public var indexIntervalBytes: Int = 4096
    /// `max.message.bytes`: the largest batch accepted.
    public var maxMessageBytes: Int = 1_048_588
    /// `message.timestamp.type`: LogAppendTime rewrites nothing in the batch (the CRC covers timestamps);
    /// it is reported in produce responses and honoured by readers through the batch attribute.
    public var logAppendTime: Bool = false
    /// `flush.messages` / `flush.ms`
    public var flushPolicy: FlushPolicy = .everyWrite
    /// `min.insync.replicas`: this broker is the only replica, so acks=all produces need this to be 1 (the
    /// produce path answers NOT_ENOUGH_REPLICAS otherwise).
    public var minInsyncReplicas: Int = 1
    /// `compression.type` and its codec's level.
    public var compression: TopicCompression = .producer
    /// `message.timestamp.before.max.ms`: how far in the past of the broker's clock a CreateTime record may be.
    public var messageTimestampBeforeMaxMilliseconds: Int64 = .max
    /// `message.timestamp.after.max.ms`: how far in the future of the broker's clock a CreateTime record may be
    /// (Kafka 3.9's default: no bound; 4.x defaults to one hour).
    public var messageTimestampAfterMaxMilliseconds: Int64 = .max
    /// `message.timestamp.difference.max.ms` (Kafka 3.x, deprecated): the bound used for before/after while
    /// they are still unbounded.
    public var messageTimestampDifferenceMaxMilliseconds: Int64 = .max

    public init() {}
}
