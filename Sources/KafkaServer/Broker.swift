public import Coordinator
public import KafkaProtocol
public import LogStore
public import Logging
public import AccessControl
import NIOConcurrencyHelpers
public import NIOCore
public import NIOPosix

/// Settings of the Kafka side of the server.
public struct BrokerConfiguration: Sendable {
    public var nodeId: Int32 = 0
    public var clusterId: String = ""
    /// Every Kafka listener, as `advertised.listeners` reports them (a connection is told the address of
    /// the listener it came in on).
    public var endpoints: [KafkaEndpoint] = [KafkaEndpoint(securityProtocol: .plaintext, advertisedHost: "localhost", advertisedPort: 9092)]
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
    /// The dynamic broker configs (AlterConfigs on the BROKER resource): defaults for topics without their own
    /// value, over `logDefaults`. In memory only unless the server loads them from its data directory.
    public var dynamicConfigs = DynamicBrokerConfigs()
    /// `sasl.enabled.mechanisms`: what SASL listeners offer.
    public var saslMechanisms: [String] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
    /// `connections.max.reauth.ms` (KIP-368): an authenticated SASL session lasts this long; the client must
    /// authenticate again before it ends or its connection is closed. 0: sessions do not expire.
    public var maxReauthMilliseconds: Int64 = 0
    /// `super.users`: principals (`User:name`) allowed every operation. Without the ACL authorizer, when this
    /// is set, only they may read or change the user base (AlterUserScramCredentials,
    /// DescribeUserScramCredentials); with it, they pass every check.
    public var superUsers: Set<String> = []
    /// Topics only the server writes (the MQTT events topic): a Produce to them is TOPIC_AUTHORIZATION_FAILED.
    public var serverWrittenTopics: Set<String> = []

    public init() {}
}

public struct PartitionNotFound: Error {}

/// One Kafka listener as clients see it: its security protocol (Kafka's names) and the address Metadata,
/// FindCoordinator and DescribeCluster give clients that connected through it.
public struct KafkaEndpoint: Sendable, Equatable {
    public enum SecurityProtocol: String, Sendable, CaseIterable {
        case plaintext = "PLAINTEXT"
        case ssl = "SSL"
        case saslPlaintext = "SASL_PLAINTEXT"
        case saslSSL = "SASL_SSL"

        public var usesTLS: Bool { self == .ssl || self == .saslSSL }
        public var usesSASL: Bool { self == .saslPlaintext || self == .saslSSL }
    }

    public var securityProtocol: SecurityProtocol
    public var advertisedHost: String
    public var advertisedPort: Int32

    public init(securityProtocol: SecurityProtocol, advertisedHost: String, advertisedPort: Int32) {
        self.securityProtocol = securityProtocol
        self.advertisedHost = advertisedHost
        self.advertisedPort = advertisedPort
    }

    /// Whether stored batches may go to the socket with sendfile: not through TLS, which encrypts in the process.
    public var sendsFiles: Bool { !securityProtocol.usesTLS }

    /// `PROTOCOL://host:port`, as Kafka writes listeners.
    public var description: String { "\(securityProtocol.rawValue)://\(advertisedHost):\(advertisedPort)" }
}

/// What the request handlers share: configuration, topics, logs, the I/O thread pool.
public final class Broker: Sendable {
    public let configuration: BrokerConfiguration
    public let topics: TopicRegistry
    public let logs: LogManager
    public let threadPool: NIOThreadPool
    public let logger: Logger
    public let producerIds: ProducerIdManager
    /// Serialises topic creation and deletion so that a name is created (with its logs) once.
    private let topicChanges = NIOLock()
    private let producerStates = NIOLockedValueBox<[TopicPartition: ProducerStateManager]>([:])
    private let userStore = NIOLockedValueBox<UserStore?>(nil)
    private let tokenVerifier = NIOLockedValueBox<TokenVerifier?>(nil)
    private let aclStore = NIOLockedValueBox<AclStore?>(nil)

    /// The keys OAUTHBEARER tokens are checked against, when configured.
    public var tokens: TokenVerifier? { tokenVerifier.withLockedValue { $0 } }

    public func attach(tokens: TokenVerifier) {
        tokenVerifier.withLockedValue { $0 = tokens }
    }

    /// Internal topics no client may see or read (Metadata leaves them out, Fetch refuses them): the user
    /// base and the ACLs.
    public static func isHidden(topic: String) -> Bool { topic == UserStore.topic || topic == AclStore.topic }

    /// The ACL authorizer, when enabled (`kafka-authorizer: acl`); nil lets every principal do everything,
    /// as a Kafka broker without `authorizer.class.name`.
    public var acls: AclStore? { aclStore.withLockedValue { $0 } }

    public func attach(acls: AclStore) {
        aclStore.withLockedValue { $0 = acls }
    }

    /// The user base SASL checks credentials against, once loaded (`attach(users:)`, before listeners start).
    public var users: UserStore? { userStore.withLockedValue { $0 } }

    public func attach(users: UserStore) {
        userStore.withLockedValue { $0 = users }
    }

    public init(configuration: BrokerConfiguration, topics: TopicRegistry, logs: LogManager, threadPool: NIOThreadPool, logger: Logger) {
        self.configuration = configuration
        self.topics = topics
        self.logs = logs
        self.threadPool = threadPool
        self.logger = logger
        self.producerIds = ProducerIdManager(dataDirectory: configuration.dataDirectory)
    }

    /// Loads the registry, makes it agree with the partition directories on disk (adopting what it lacks,
    /// moving aside what contradicts it, deleting nothing), then opens (and where needed recovers) every
    /// partition log. Returns what recovery found, for the start-up log.
    public func start() async throws -> [PartitionRecoveryReport] {
        try logs.start()
        try topics.load()
        try logs.removeLeftoverDeletions()
        try reconcileTopicsWithDirectories()
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
        return reports
    }

    /// Applies `TopicReconciliation`'s plan, saying what it does.
    func reconcileTopicsWithDirectories() throws {
        let directories = try logs.partitionDirectoriesOnDisk().map { PartitionDirectory(topicPartition: $0, topicId: logs.topicId(of: $0)) }
        for action in TopicReconciliation.plan(registry: topics.allTopics, directories: directories) {
            switch action {
            case .adoptTopic(let name, let topicId, let partitions):
                let topic = try topics.adopt(name: name, topicId: topicId, partitions: partitions)
                logger.warning("the topic registry did not know a topic found on disk; adopted it with its data (configs start from the broker defaults)", metadata: [
                    "topic": "\(name)", "topicId": "\(topic.topicId)", "partitions": "\(topic.partitionCount)",
                ])
                if topic.topicId != topicId {
                    for partition in 0..<topic.partitionCount where FileSystem.isDirectory(logs.dataDirectory + "/" + TopicPartition(topic: name, partition: partition).directoryName) {
                        try logs.recordTopicId(topic.topicId, of: TopicPartition(topic: name, partition: partition))
                    }
                }
            case .extendTopic(let name, let partitions):
                _ = try topics.setPartitionCount(name: name, count: partitions, validateOnly: false)
                logger.warning("partition directories beyond the registry's count were found; the topic keeps them", metadata: ["topic": "\(name)", "partitions": "\(partitions)"])
            case .recordTopicId(let partition, let topicId):
                try logs.recordTopicId(topicId, of: partition)
                logger.info("recorded the topic id in a partition directory without partition.metadata", metadata: ["partition": "\(partition)", "topicId": "\(topicId)"])
            case .moveAside(let partition, let found, let expected):
                let name = try logs.moveAside(partition, topicId: found)
                logger.error("a partition directory belongs to another topic id than the registry's; kept it aside, not served", metadata: [
                    "partition": "\(partition)", "directoryTopicId": "\(found)", "registryTopicId": "\(expected)", "keptAs": "\(name)",
                ])
            case .ignore(let partition, let reason):
                logger.error("a directory in the data directory is not a valid partition directory; left alone", metadata: ["directory": "\(partition.directoryName)", "reason": "\(reason)"])
            }
        }
    }

    /// Loads (snapshot plus replay) and attaches the producer state of a partition. Blocking I/O.
    func attachProducerState(to log: SegmentedLog) throws {
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

    /// The log settings of `topic`: its own configs over the dynamic broker defaults over the static ones.
    public func logConfig(for topic: TopicMetadata) -> LogConfig {
        let overrides = configuration.dynamicConfigs.values.topicDefaults.merging(topic.configs) { _, topicValue in topicValue }
        return TopicConfigs.logConfig(overrides: overrides, defaults: configuration.logDefaults)
    }

    /// How produced batches for `topic` are checked and shaped, from the log's current settings (its configs
    /// over the broker defaults): keys on compacted topics, the timestamp window of CreateTime topics, the
    /// codec batches are stored with (recompression, as Kafka's LogValidator does) and the batch size bound.
    public func validationRules(for topic: TopicMetadata, log: any PartitionLog) -> ProduceValidationRules {
        let config = log.currentConfig
        var rules = ProduceValidationRules()
        rules.requireKeys = config.cleanupPolicy.compacts
        rules.logAppendTime = config.logAppendTime
        rules.maximumBatchBytes = config.maxMessageBytes
        let bounds = TopicConfigs.timestampBounds(of: config)
        rules.timestampBeforeMaxMilliseconds = bounds.beforeMilliseconds
        rules.timestampAfterMaxMilliseconds = bounds.afterMilliseconds
        switch config.compression {
        case .producer: rules.compression = nil
        case .uncompressed: rules.compression = .some(.none)  // the codec "none", not "keep the producer's"
        case .gzip(let level): (rules.compression, rules.compressionLevel) = (.gzip, level)
        case .snappy: rules.compression = .snappy
        case .lz4(let level): (rules.compression, rules.compressionLevel) = (.lz4, level)
        case .zstd(let level): (rules.compression, rules.compressionLevel) = (.zstd, level)
        }
        return rules
    }

    /// Gives every open log the settings its topic now has, after the dynamic broker defaults changed (Kafka's
    /// DynamicLogConfig.updateLogsConfig: topics without their own value follow the new default at once).
    /// Call under `configuration.dynamicConfigs.withChangeLock`.
    public func applyDynamicLogDefaults() {
        for topic in topics.allTopics {
            let config = logConfig(for: topic)
            for partition in 0..<topic.partitionCount {
                log(topic: topic.name, partition: partition)?.update(config: config)
            }
        }
    }

    public func log(topic: String, partition: Int32) -> (any PartitionLog)? {
        logs.log(for: TopicPartition(topic: topic, partition: partition))
    }

    /// Creates a topic and its partition logs (blocking I/O: call from the thread pool). The logs are
    /// opened first and the topic recorded last, so nobody sees a topic whose logs are not there yet; a
    /// crash in between leaves directories the registry does not know, which the next start adopts.
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
        // Internal topics are created by their owners (with their partition counts and configs), never
        // because a client asked for metadata or produced.
        guard allowed && configuration.autoCreateTopics && !TopicMetadata.isInternal(name: name) else { return nil }
        do {
            return try createTopic(name: name, partitions: configuration.defaultPartitions, configs: [:])
        } catch .alreadyExists {
            return topics.topic(named: name)
        }
    }

    /// Deletes a topic: its directories are first renamed to `-delete` (durably), then the registry forgets
    /// the topic, then the directories are removed. A crash in between never brings deleted data back
    /// (`-delete` directories are removed at start), and a registry that cannot be written leaves the topic
    /// as it was.
    public func deleteTopic(name: String) throws(TopicError) -> TopicMetadata {
        try topicChanges.withTypedLock { () throws(TopicError) -> TopicMetadata in
            guard let topic = topics.topic(named: name) else { throw .unknownTopic(name) }
            var retired: [(TopicPartition, String)] = []
            func restore() {
                for (partition, path) in retired {
                    do {
                        try logs.unretire(path, as: partition)
                        try attachProducerState(to: try logs.openLog(partition, config: logConfig(for: topic), topicId: topic.topicId).log)
                    } catch {
                        logger.error("reopening a partition after a failed deletion failed; it is served again after a restart", metadata: ["partition": "\(partition)", "error": "\(error)"])
                    }
                }
            }
            for partition in 0..<topic.partitionCount {
                let topicPartition = TopicPartition(topic: name, partition: partition)
                do {
                    if let path = try logs.retireLog(topicPartition) { retired.append((topicPartition, path)) }
                } catch {
                    restore()
                    throw .storage("cannot delete the partition directory of \(topicPartition): \(error)")
                }
            }
            do throws(TopicError) {
                _ = try topics.delete(name: name)
            } catch {
                restore()
                throw error
            }
            for (partition, path) in retired {
                _ = producerStates.withLockedValue { $0.removeValue(forKey: partition) }
                do {
                    try FileSystem.removeTree(path)
                } catch {
                    logger.error("removing a deleted partition's directory failed; the next start removes it", metadata: ["directory": "\(path)", "error": "\(error)"])
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

    /// Gives an existing server-owned topic the configs its owner needs where they are missing (a topic
    /// adopted from disk after its registry entry was lost starts with none). Returns the topic.
    @discardableResult
    public func ensureConfigs(ofInternalTopic name: String, _ required: [String: String]) throws(TopicError) -> TopicMetadata? {
        guard let topic = topics.topic(named: name) else { return nil }
        let missing = required.filter { topic.configs[$0.key] == nil }
        guard !missing.isEmpty else { return topic }
        logger.warning("restoring the configs a server-owned topic needs", metadata: ["topic": "\(name)", "configs": "\(missing)"])
        return try setTopicConfigs(name: name, configs: topic.configs.merging(missing) { current, _ in current }, validateOnly: false)
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

extension Broker: GroupCoordinatorStorage {
    public func offsetsTopicLogs(creatingWith partitions: Int32?, configs: [String: String]) throws -> [any PartitionLog]? {
        let name = OffsetsTopicRecord.topicName
        if topics.topic(named: name) == nil {
            guard let partitions else { return nil }
            do throws(TopicError) {
                try createTopic(name: name, partitions: partitions, configs: configs)
            } catch {
                // Created concurrently is fine; anything else fails the caller.
                if case .alreadyExists = error {} else { throw error }
            }
        } else {
            try ensureConfigs(ofInternalTopic: name, configs.filter { $0.key == "cleanup.policy" })
        }
        guard let topic = topics.topic(named: name) else { return nil }
        return try (0..<topic.partitionCount).map { index in
            guard let log = log(topic: name, partition: index) else { throw PartitionNotFound() }
            return log
        }
    }

    public func hasPartition(_ partition: TopicPartition) -> Bool {
        log(topic: partition.topic, partition: partition.partition) != nil
    }
}
