public import KafkaProtocol
public import LogStore

/// The idempotent producer's state for one partition, as a pure state machine: for each producer id, its
/// epoch and the last five batches' sequence ranges and offsets (the most a producer can have in flight).
///
/// Rules, as Apache Kafka applies them to non-transactional batches:
/// - an epoch older than the producer's current one is a fenced producer: INVALID_PRODUCER_EPOCH;
/// - a newer epoch must start again at sequence 0;
/// - within an epoch, a batch whose sequence range equals one of the last five is a duplicate (answered with
///   the original offsets, not written again); any other batch must start right after the last sequence
///   (wrapping after Int32.max), otherwise OUT_OF_ORDER_SEQUENCE_NUMBER;
/// - a producer id the partition has not seen must start at sequence 0.
public struct ProducerStateTable: Sendable, Equatable {
    public static let retainedBatches = 5

    public struct BatchMetadata: Sendable, Equatable {
        public var firstSequence: Int32
        public var lastSequence: Int32
        public var firstOffset: Int64
        public var lastOffset: Int64
    }

    public struct Entry: Sendable, Equatable {
        public var epoch: Int16
        /// Oldest first, at most `retainedBatches`.
        public var batches: [BatchMetadata]
        /// The max timestamp of the producer's last batch.
        public var lastTimestamp: Int64

        public var lastSequence: Int32 { batches.last?.lastSequence ?? -1 }
    }

    public private(set) var producers: [Int64: Entry] = [:]

    public init() {}

    static func sequence(after sequence: Int32) -> Int32 {
        sequence == Int32.max ? 0 : sequence + 1
    }

    public func decide(_ header: RecordBatchHeader) -> AppendDecision {
        guard header.hasProducerId else { return .append }
        let producerId = header.producerId
        guard let entry = producers[producerId] else {
            if header.baseSequence != 0 {
                return .reject(.outOfOrderSequence("Out of order sequence number for producer \(producerId): found \(header.baseSequence) for a producer this partition has no state for; expected 0"))
            }
            return .append
        }
        if header.producerEpoch < entry.epoch {
            return .reject(.invalidProducerEpoch("Epoch of producer \(producerId) at offset \(header.baseOffset) is \(header.producerEpoch), which is smaller than the last seen epoch \(entry.epoch)"))
        }
        if header.producerEpoch > entry.epoch {
            if header.baseSequence != 0 {
                return .reject(.outOfOrderSequence("Invalid sequence number for new epoch of producer \(producerId): \(header.baseSequence) (request epoch), expected 0"))
            }
            return .append
        }
        if let original = entry.batches.first(where: { $0.firstSequence == header.baseSequence && $0.lastSequence == header.lastSequence }) {
            return .duplicate(baseOffset: original.firstOffset, lastOffset: original.lastOffset)
        }
        let expected = Self.sequence(after: entry.lastSequence)
        if header.baseSequence != expected {
            return .reject(.outOfOrderSequence("Out of order sequence number for producer \(producerId) at epoch \(entry.epoch): found \(header.baseSequence), expected \(expected)"))
        }
        return .append
    }

    /// Records a written batch (offsets assigned).
    public mutating func record(_ header: RecordBatchHeader) {
        guard header.hasProducerId else { return }
        var entry = producers[header.producerId] ?? Entry(epoch: header.producerEpoch, batches: [], lastTimestamp: -1)
        if header.producerEpoch != entry.epoch {
            entry.epoch = header.producerEpoch
            entry.batches.removeAll()
        }
        entry.batches.append(BatchMetadata(firstSequence: header.baseSequence, lastSequence: header.lastSequence, firstOffset: header.baseOffset, lastOffset: header.lastOffset))
        if entry.batches.count > Self.retainedBatches { entry.batches.removeFirst(entry.batches.count - Self.retainedBatches) }
        entry.lastTimestamp = max(entry.lastTimestamp, header.maxTimestamp)
        producers[header.producerId] = entry
    }

    /// Forgets producers whose last batch is older than `expirationMilliseconds` (producer.id.expiration.ms).
    public mutating func expire(now: Int64, expirationMilliseconds: Int64) -> Int {
        let before = producers.count
        // Wrapping difference as Kafka's; a timestamp read back from a damaged snapshot cannot trap it.
        producers = producers.filter { now &- $0.value.lastTimestamp <= expirationMilliseconds }
        return before - producers.count
    }

    mutating func replace(with producers: [Int64: Entry]) {
        self.producers = producers
    }
}
