import KafkaProtocol
public import LogStore
import MQTTBroker
import NIOConcurrencyHelpers
import NIOCore

/// The bridge's way to the broker's topics, without depending on the Kafka server module.
public protocol TopicProvider: Sendable {
    /// The partition logs of `topic`, creating the topic with `partitions` and `configs` when it does not
    /// exist. Blocking (file I/O): call it from the thread pool or at start.
    func partitionLogs(of topic: String, creatingWith partitions: Int32, configs: [String: String]) throws -> [any PartitionLog]

    /// The partition logs of `topic` when it exists, nil when it does not; never creates it. No file I/O.
    func existingPartitionLogs(of topic: String) -> [any PartitionLog]?
}

/// The bridge's cache of partition logs by topic, resolved through the provider on a miss and dropped
/// when an append fails (a deleted topic is created again on the next message written to it).
final class TopicCache: Sendable {
    private let provider: any TopicProvider
    private let cache = NIOLockedValueBox<[String: [any PartitionLog]]>([:])

    init(provider: any TopicProvider) {
        self.provider = provider
    }

    /// For writing: the cached logs, or the topic's logs (created when missing).
    func logs(of topic: String, partitions: Int32, configs: [String: String] = [:]) throws -> [any PartitionLog] {
        if let logs = cache.withLockedValue({ $0[topic] }) { return logs }
        let logs = try provider.partitionLogs(of: topic, creatingWith: partitions, configs: configs)
        cache.withLockedValue { $0[topic] = logs }
        return logs
    }

    /// For reading: the topic's logs as the broker has them now (a deleted topic is gone, whatever the
    /// cache still holds); nil when it does not exist. Never creates it.
    func existingLogs(of topic: String) -> [any PartitionLog]? {
        provider.existingPartitionLogs(of: topic)
    }

    func invalidate(_ topic: String) {
        _ = cache.withLockedValue { $0.removeValue(forKey: topic) }
    }
}

/// The one way the bridge writes keyed records to topics (MQTT ingress, rules, device events): the topic's
/// partition logs from the cache (the topic created when missing), the partition chosen from the key as a
/// Kafka producer's default partitioner does, and the record gathered by the batching appender.
final class KeyedRecordWriter: Sendable {
    let topics: TopicCache
    private let appender: BatchingAppender

    init(provider: any TopicProvider) {
        let topics = TopicCache(provider: provider)
        self.topics = topics
        appender = BatchingAppender { partition in topics.invalidate(partition.topic) }
    }

    /// Creates `topic` when it does not exist (blocking: at start).
    func prepare(_ topic: String, partitions: Int32, configs: [String: String] = [:]) throws {
        _ = try topics.logs(of: topic, partitions: partitions, configs: configs)
    }

    /// Appends one record; `completion` gets its position or why it was not stored. Returns the partition
    /// the key chose (partition 0 of the topic when its logs could not be had).
    @discardableResult
    func write(
        to topic: String, creatingWith partitions: Int32, key: String, value: ByteBuffer?, headers: [RecordHeader], timestamp: Int64,
        durable: Bool, completion: @escaping @Sendable (Result<LogPosition, any Error>) -> Void
    ) -> PartitionKey {
        let logs: [any PartitionLog]
        do {
            logs = try topics.logs(of: topic, partitions: partitions)
            guard !logs.isEmpty else { throw NoPartitions(topic: topic) }
        } catch {
            completion(.failure(error))
            return PartitionKey(topic: topic, partition: 0)
        }
        let partition = KafkaPartitioner.partition(forKey: key.utf8, partitions: Int32(logs.count))
        let partitionKey = PartitionKey(topic: topic, partition: partition)
        let record = BatchingAppender.Pending(key: ByteBuffer(string: key), value: value, headers: headers, timestamp: timestamp) { result in
            completion(result.map { LogPosition(partition: partitionKey, offset: $0) })
        }
        appender.append(record, durable: durable, to: logs[Int(partition)], partition: partitionKey)
        return partitionKey
    }
}

struct NoPartitions: Error, CustomStringConvertible {
    let topic: String
    var description: String { "topic \(topic) has no partitions" }
}
