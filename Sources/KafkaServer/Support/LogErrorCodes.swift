import KafkaProtocol
import LogStore

extension LogError {
    /// The Kafka error code a client gets for a storage-layer failure.
    var kafkaErrorCode: KafkaErrorCode {
        switch self {
        case .batchTooLarge: return .messageTooLarge
        // A closing log belongs to a broker that is shutting down: the client retries elsewhere or later.
        case .closed: return .notLeaderOrFollower
        case .offline, .storage, .corrupt: return .kafkaStorageError
        case .offsetOutOfRange: return .offsetOutOfRange
        case .rejected(.invalidProducerEpoch): return .invalidProducerEpoch
        case .rejected(.outOfOrderSequence): return .outOfOrderSequenceNumber
        }
    }
}
