public import Coordinator
public import KafkaProtocol
public import LogStore
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
public import NIOPosix

/// Settings of the Kafka side of the server.
public struct BrokerConfiguration: Sendable {
    public var nodeId: Int32 = 0
    public var clusterId: String = ""
    /// The address clients are told to connect to (Metadata, DescribeCluster).
    public var advertisedHost: String = "localhost"
    public var advertisedPort: Int32 = 9092
    public var rack: String? = nil
    public var dataDirectory: String = "./data"
    /// `auto.create.topics.enable`
    public var autoCreateTopics: Bool = true
    /// `num.partitions`
    public var defaultPartitions: Int32 = 1
    /// `socket.request.max.bytes`
    public var maxRequestBytes: Int = 100 * 1024 * 1024
    /// `connections.max.idle.ms`: a connection with nothing to read for this long is closed.
    public var connectionsMaxIdleMilliseconds: Int64 = 600_000
    /// Requests read ahead on one connection while earlier ones are still being answered.
    public var maxInFlightRequestsPerConnection: Int = 256
    /// Log settings topics get unless they set their own (the `log.*` broker configs).
    public var logDefaults: LogConfig = LogConfig()
    /// `log.retention.check.interval.ms`
    public var retentionCheckIntervalMilliseconds: Int64 = 300_000

    public init() {}
}

public struct PartitionNotFound: Error {}

/// What the request handlers share: configuration, topics, logs, the I/O thread pool.
public final class Broker: Sendable {
    public let configuration: BrokerConfiguration
    public let topics: TopicRegistry
    public let logs: LogManager
    public let threadPool: NIOThreadPool
    public let logger: Logger
    /// Serialises topic creation and deletion so that a name is created (with its logs) once.
    private let topicChanges = NIOLock()

    public init(configuration: BrokerConfiguration, topics: TopicRegistry, logs: LogManager, threadPool: NIOThreadPool, logger: Logger) {
        self.configuration = configuration
        self.topics = topics
        self.logs = logs
        self.threadPool = threadPool
        self.logger = logger
    }

    /// Loads the registry, opens (and where needed recovers) every partition log, and removes partition
    /// directories no topic owns any more. Returns what recovery cut, for the start-up log.
    public func start() async throws -> [PartitionRecoveryReport] {
        try logs.start()
        try topics.load()
        try logs.removeLeftoverDeletions()
        var wanted: [(TopicPartition, LogConfig, KafkaUUID?)] = []
        for topic in topics.allTopics {
            let config = logConfig(for: topic)
            for partition in 0..<topic.partitionCount {
                wanted.append((TopicPartition(topic: topic.name, partition: partition), config, topic.topicId))
            }
        }
        let reports = try await logs.openAll(wanted)
        let known = Set(wanted.map(\.0))
        for orphan in try logs.partitionDirectoriesOnDisk() where !known.contains(orphan) {
            logger.warning("removing a partition directory no topic owns", metadata: ["directory": "\(orphan.directoryName)"])
            try logs.deleteLog(orphan)
        }
        return reports
    }

    public func logConfig(for topic: TopicMetadata) -> LogConfig {
        TopicConfigs.logConfig(overrides: topic.configs, defaults: configuration.logDefaults)
    }

    public func log(topic: String, partition: Int32) -> PartitionLog? {
        logs.log(for: TopicPartition(topic: topic, partition: partition))
    }

    /// Creates a topic and its partition logs (blocking I/O: call from the thread pool). On a storage failure
    /// the topic is removed again, so the registry never lists a topic without logs.
    @discardableResult
    public func createTopic(name: String, partitions: Int32, configs: [String: String], validateOnly: Bool = false) throws(TopicError) -> TopicMetadata {
        try topicChanges.withTypedLock { () throws(TopicError) -> TopicMetadata in
            let topic = try topics.create(name: name, partitions: partitions, configs: configs, validateOnly: validateOnly)
            if validateOnly { return topic }
            let config = logConfig(for: topic)
            do {
                for partition in 0..<partitions {
                    try logs.openLog(TopicPartition(topic: name, partition: partition), config: config, topicId: topic.topicId)
                }
            } catch {
                logger.error("creating partition logs failed; removing the topic", metadata: ["topic": "\(name)", "error": "\(error)"])
                for partition in 0..<partitions {
                    try? logs.deleteLog(TopicPartition(topic: name, partition: partition))
                }
                _ = try? topics.delete(name: name)
                throw .storage("cannot create the logs of topic \(name): \(error)")
            }
            return topic
        }
    }

    /// The topic, creating it with the default partition count when allowed (auto.create.topics.enable).
    /// Blocking: call from the thread pool. Returns nil when it does not exist and may not be created.
    public func topicCreatingIfAllowed(_ name: String, allowed: Bool) throws(TopicError) -> TopicMetadata? {
        if let topic = topics.topic(named: name) { return topic }
        guard allowed && configuration.autoCreateTopics else { return nil }
        do {
            return try createTopic(name: name, partitions: configuration.defaultPartitions, configs: [:])
        } catch .alreadyExists {
            return topics.topic(named: name)
        }
    }

    public func deleteTopic(name: String) throws(TopicError) -> TopicMetadata {
        try topicChanges.withTypedLock { () throws(TopicError) -> TopicMetadata in
            let topic = try topics.delete(name: name)
            for partition in 0..<topic.partitionCount {
                do {
                    try logs.deleteLog(TopicPartition(topic: name, partition: partition))
                } catch {
                    // The registry no longer lists the topic; the directory is an orphan removed at the next start.
                    logger.error("deleting a partition directory failed", metadata: ["topic": "\(name)", "partition": "\(partition)", "error": "\(error)"])
                }
            }
            return topic
        }
    }

    public func addPartitions(name: String, count: Int32, validateOnly: Bool) throws(TopicError) -> TopicMetadata {
        try topicChanges.withTypedLock { () throws(TopicError) -> TopicMetadata in
            let before = topics.topic(named: name)
            let topic = try topics.setPartitionCount(name: name, count: count, validateOnly: validateOnly)
            if validateOnly { return topic }
            let config = logConfig(for: topic)
            do {
                for partition in (before?.partitionCount ?? 0)..<count {
                    try logs.openLog(TopicPartition(topic: name, partition: partition), config: config, topicId: topic.topicId)
                }
            } catch {
                throw .storage("cannot create the new partition logs of \(name): \(error)")
            }
            return topic
        }
    }

    /// Replaces a topic's explicit configs and applies them to its open logs.
    public func setTopicConfigs(name: String, configs: [String: String], validateOnly: Bool) throws(TopicError) -> TopicMetadata {
        let topic = try topics.setConfigs(name: name, configs: configs, validateOnly: validateOnly)
        if !validateOnly {
            let config = logConfig(for: topic)
            for partition in 0..<topic.partitionCount {
                log(topic: name, partition: partition)?.update(config: config)
            }
        }
        return topic
    }

    /// Runs blocking work on the I/O thread pool and delivers its result on `eventLoop`.
    public func blocking<Value: Sendable>(on eventLoop: any EventLoop, _ body: @escaping @Sendable () throws -> Value) -> EventLoopFuture<Value> {
        threadPool.runIfActive(eventLoop: eventLoop, body)
    }
}
