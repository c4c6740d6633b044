public import Coordinator
import KafkaProtocol
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
    /// `producer.id.expiration.ms`: producer state of producers silent this long is dropped.
    public var producerIdExpirationMilliseconds: Int64 = 86_400_000

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
    public let producerIds: ProducerIdManager
    /// Consumer groups and committed offsets; created with the broker, started by `start`.
    /// `nonisolated(unsafe)`: assigned exactly once, in `init`, before the broker is shared.
    public nonisolated(unsafe) private(set) var groupCoordinator: GroupCoordinator! = nil
    /// Serialises topic creation and deletion so that a name is created (with its logs) once.
    private let topicChanges = NIOLock()
    private let producerStates = NIOLockedValueBox<[TopicPartition: ProducerStateManager]>([:])

    public init(
        configuration: BrokerConfiguration, topics: TopicRegistry, logs: LogManager, threadPool: NIOThreadPool,
        coordinatorEventLoop: any EventLoop, groupSettings: GroupCoordinator.Settings = .init(), logger: Logger
    ) {
        self.configuration = configuration
        self.topics = topics
        self.logs = logs
        self.threadPool = threadPool
        self.logger = logger
        self.producerIds = ProducerIdManager(dataDirectory: configuration.dataDirectory)
        self.groupCoordinator = GroupCoordinator(broker: self, eventLoop: coordinatorEventLoop, settings: groupSettings, logger: logger)
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
        try producerIds.load()
        for (partition, _, _) in wanted {
            if let log = logs.log(for: partition) { try attachProducerState(to: log) }
        }
        let known = Set(wanted.map(\.0))
        for orphan in try logs.partitionDirectoriesOnDisk() where !known.contains(orphan) {
            logger.warning("removing a partition directory no topic owns", metadata: ["directory": "\(orphan.directoryName)"])
            try logs.deleteLog(orphan)
        }
        try await groupCoordinator.start()
        return reports
    }

    /// Loads (snapshot plus replay) and attaches the producer state of a partition. Blocking I/O.
    func attachProducerState(to log: PartitionLog) throws {
        let manager = ProducerStateManager(topicPartition: log.topicPartition, directory: log.directory)
        try manager.load(from: log)
        producerStates.withLockedValue { $0[log.topicPartition] = manager }
    }

    public func producerState(topic: String, partition: Int32) -> ProducerStateManager? {
        producerStates.withLockedValue { $0[TopicPartition(topic: topic, partition: partition)] }
    }

    /// Periodic work beyond the logs' own: producer state snapshots and expiry. Blocking I/O.
    public func runMaintenance(retention: Bool) {
        logs.runMaintenance(retention: retention)
        let now = LogManager.wallClockMilliseconds()
        let managers = producerStates.withLockedValue { Array($0) }
        for (partition, manager) in managers {
            guard let log = logs.log(for: partition) else { continue }
            let expired = manager.expire(now: now, expirationMilliseconds: configuration.producerIdExpirationMilliseconds)
            if expired > 0 {
                logger.debug("expired producer state", metadata: ["partition": "\(partition)", "producers": "\(expired)"])
            }
            do {
                try manager.snapshotIfIdle(log)
            } catch {
                logger.error("writing a producer state snapshot failed", metadata: ["partition": "\(partition)", "error": "\(error)"])
            }
        }
    }

    /// Flushes and closes every log, then snapshots the producer states at the logs' ends.
    public func shutdown() async {
        await groupCoordinator.stop()
        let logsByPartition = Dictionary(uniqueKeysWithValues: logs.allLogs.map { ($0.topicPartition, $0) })
        logs.shutdown()
        for (partition, manager) in producerStates.withLockedValue({ Array($0) }) {
            guard let log = logsByPartition[partition] else { continue }
            do {
                try manager.snapshotIfIdle(log)
            } catch {
                logger.error("writing a producer state snapshot failed", metadata: ["partition": "\(partition)", "error": "\(error)"])
            }
        }
    }

    public func logConfig(for topic: TopicMetadata) -> LogConfig {
        TopicConfigs.logConfig(overrides: topic.configs, defaults: configuration.logDefaults)
    }

    public func log(topic: String, partition: Int32) -> PartitionLog? {
        logs.log(for: TopicPartition(topic: topic, partition: partition))
    }

    /// Creates a topic and its partition logs (blocking I/O: call from the thread pool). The logs are
    /// opened first and the topic recorded last, so nobody sees a topic whose logs are not there yet; a
    /// crash in between leaves directories no topic owns, which the next start removes.
    @discardableResult
    public func createTopic(name: String, partitions: Int32, configs: [String: String], validateOnly: Bool = false) throws(TopicError) -> TopicMetadata {
        try topicChanges.withTypedLock { () throws(TopicError) -> TopicMetadata in
            let proposed = try topics.create(name: name, partitions: partitions, configs: configs, validateOnly: true)
            if validateOnly { return proposed }
            let config = logConfig(for: proposed)
            do {
                for partition in 0..<partitions {
                    let (log, _) = try logs.openLog(TopicPartition(topic: name, partition: partition), config: config, topicId: proposed.topicId)
                    try attachProducerState(to: log)
                }
            } catch {
                logger.error("creating partition logs failed", metadata: ["topic": "\(name)", "error": "\(error)"])
                removeLogs(of: name, partitions: 0..<partitions)
                throw .storage("cannot create the logs of topic \(name): \(error)")
            }
            do throws(TopicError) {
                return try topics.create(name: name, partitions: partitions, configs: configs, topicId: proposed.topicId)
            } catch {
                removeLogs(of: name, partitions: 0..<partitions)
                throw error
            }
        }
    }

    private func removeLogs(of topic: String, partitions: Range<Int32>) {
        for partition in partitions {
            let topicPartition = TopicPartition(topic: topic, partition: partition)
            _ = producerStates.withLockedValue { $0.removeValue(forKey: topicPartition) }
            try? logs.deleteLog(topicPartition)
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
            // Committed offsets of the topic go with it (tombstones in __consumer_offsets).
            groupCoordinator.removeOffsets(ofTopic: name).whenFailure { error in
                self.logger.error("removing the offsets of a deleted topic failed", metadata: ["topic": "\(name)", "error": "\(error)"])
            }
            for partition in 0..<topic.partitionCount {
                _ = producerStates.withLockedValue { $0.removeValue(forKey: TopicPartition(topic: name, partition: partition)) }
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

    /// Adds partitions: the new logs are opened before the higher count is recorded (see `createTopic`).
    public func addPartitions(name: String, count: Int32, validateOnly: Bool) throws(TopicError) -> TopicMetadata {
        try topicChanges.withTypedLock { () throws(TopicError) -> TopicMetadata in
            let current = topics.topic(named: name)
            let proposed = try topics.setPartitionCount(name: name, count: count, validateOnly: true)
            if validateOnly { return proposed }
            let existing = current?.partitionCount ?? 0
            let config = logConfig(for: proposed)
            do {
                for partition in existing..<count {
                    let (log, _) = try logs.openLog(TopicPartition(topic: name, partition: partition), config: config, topicId: proposed.topicId)
                    try attachProducerState(to: log)
                }
            } catch {
                removeLogs(of: name, partitions: existing..<count)
                throw .storage("cannot create the new partition logs of \(name): \(error)")
            }
            do throws(TopicError) {
                return try topics.setPartitionCount(name: name, count: count, validateOnly: false)
            } catch {
                removeLogs(of: name, partitions: existing..<count)
                throw error
            }
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
