public import LogStore
import NIOConcurrencyHelpers

/// The bridge's way to the broker's topics, without depending on the Kafka server module.
public protocol TopicProvider: Sendable {
    /// The partition logs of `topic`, creating the topic with `partitions` and `configs` when it does not
    /// exist. Blocking (file I/O): call it from the thread pool or at start.
    func partitionLogs(of topic: String, creatingWith partitions: Int32, configs: [String: String]) throws -> [any PartitionLog]
}

/// The bridge's cache of partition logs by topic, resolved through the provider on a miss and dropped
/// when an append fails (a deleted topic is created again on the next message).
final class TopicCache: Sendable {
    private let provider: any TopicProvider
    private let cache = NIOLockedValueBox<[String: [any PartitionLog]]>([:])

    init(provider: any TopicProvider) {
        self.provider = provider
    }

    func logs(of topic: String, partitions: Int32, configs: [String: String] = [:]) throws -> [any PartitionLog] {
        if let logs = cache.withLockedValue({ $0[topic] }) { return logs }
        let logs = try provider.partitionLogs(of: topic, creatingWith: partitions, configs: configs)
        cache.withLockedValue { $0[topic] = logs }
        return logs
    }

    func invalidate(_ topic: String) {
        _ = cache.withLockedValue { $0.removeValue(forKey: topic) }
    }
}

struct NoPartitions: Error, CustomStringConvertible {
    let topic: String
    var description: String { "topic \(topic) has no partitions" }
}
