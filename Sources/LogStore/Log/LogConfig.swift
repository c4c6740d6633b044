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

    public var deletes: Bool { self != .compact }
    public var compacts: Bool { self != .delete }
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
    /// `index.interval.bytes`
    public var indexIntervalBytes: Int = 4096
    /// `max.message.bytes`: the largest batch accepted.
    public var maxMessageBytes: Int = 1_048_588
    /// `message.timestamp.type`: LogAppendTime rewrites nothing in the batch (the CRC covers timestamps);
    /// it is reported in produce responses and honoured by readers through the batch attribute.
    public var logAppendTime: Bool = false
    /// `flush.messages` / `flush.ms`
    public var flushPolicy: FlushPolicy = .everyWrite

    public init() {}
}
