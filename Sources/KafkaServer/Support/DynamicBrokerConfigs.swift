public import Coordinator
import KafkaProtocol
public import LogStore
public import Logging
import NIOConcurrencyHelpers

// Kafka's dynamic broker configs (KIP-226): the broker configs Kafka can change at runtime, set through
// AlterConfigs / IncrementalAlterConfigs on a BROKER resource, either for one broker (resource name = its id,
// DYNAMIC_BROKER_CONFIG) or as the cluster default (empty name, DYNAMIC_DEFAULT_BROKER_CONFIG). Which configs
// are dynamic and in what mode follows Kafka 3.9's broker config table ("Update Mode"); the rules and messages
// follow DynamicBrokerConfig.validateConfigs and ConfigAdminManager (apache/kafka core/.../server).

/// How Kafka lets a broker config change (its "Update Mode").
public enum BrokerConfigMode: Sendable, Equatable {
    /// Needs a restart: refused with "Cannot update these configs dynamically".
    case readOnly
    /// Per broker only (listeners, TLS, SASL). This broker has no dynamic listeners, TLS or SASL, so it
    /// refuses them as read-only once the broker id is given.
    case perBroker
    /// Per broker or as the cluster default.
    case clusterWide
}

/// A dynamic broker config this broker knows, with Kafka's type, default and validation.
public struct BrokerConfigDefinition: Sendable {
    public var name: String
    public var type: TopicConfigDefinition.ValueType
    /// Kafka's default as DescribeConfigs prints it.
    public var kafkaDefault: String
    /// The topic config whose default this is (log.retention.ms → retention.ms), nil for the others.
    public var topicConfig: String?
    public var documentation: String
    public var validate: @Sendable (String) -> ConfigRejection?
}

public enum BrokerConfigs {
    /// Said of dynamic configs that are stored and reported but steer nothing here.
    static let acceptedOnly = " Accepted, stored and reported for compatibility; it has no effect on this broker."

    /// The cluster-wide configs of Kafka 3.9: the first broker synonym of every topic config
    /// (DynamicLogConfig.ReconfigurableConfigs; log.message.format.version is excluded in 3.x) and the other
    /// reconfigurable settings (cleaner, thread pools, connection limits, quotas, producer ids, tiered storage).
    public static let dynamicDefinitions: [BrokerConfigDefinition] = {
        var definitions: [BrokerConfigDefinition] = TopicConfigs.definitions.compactMap { topic in
            guard let synonym = topic.brokerSynonym, synonym != "log.message.format.version" else { return nil }
            let documentation = "Default of the topic config \(topic.name) for topics without their own value: \(topic.documentation)"
            // The topic's validator, with the broker config's name in its messages: a default must be a value
            // the topic config itself accepts.
            return BrokerConfigDefinition(name: synonym, type: topic.type, kafkaDefault: topic.kafkaDefault, topicConfig: topic.name,
                                          documentation: documentation, validate: topic.validate)
        }
        func other(_ name: String, _ type: TopicConfigDefinition.ValueType, _ kafkaDefault: String, _ documentation: String,
                   _ validate: @escaping KafkaConfigValidators.Validator) -> BrokerConfigDefinition {
            BrokerConfigDefinition(name: name, type: type, kafkaDefault: kafkaDefault, topicConfig: nil, documentation: documentation + acceptedOnly, validate: validate)
        }
        let longMax = String(Int64.max)
        let intMax = String(Int32.max)
        definitions += [
            other("background.threads", .int, "10", "Threads for background tasks.", KafkaConfigValidators.int(atLeast: 1)),
            other("num.io.threads", .int, "8", "Request handler threads.", KafkaConfigValidators.int(atLeast: 1)),
            other("num.network.threads", .int, "3", "Network threads per listener.", KafkaConfigValidators.int(atLeast: 1)),
            other("num.recovery.threads.per.data.dir", .int, "1", "Recovery threads per data directory.", KafkaConfigValidators.int(atLeast: 1)),
            other("num.replica.fetchers", .int, "1", "Replica fetcher threads.", KafkaConfigValidators.int()),
            other("log.cleaner.backoff.ms", .long, "15000", "Cleaner sleep when there is nothing to clean.", KafkaConfigValidators.long(atLeast: 0)),
            other("log.cleaner.dedupe.buffer.size", .long, "134217728", "Memory of the cleaner's key map.", KafkaConfigValidators.long()),
            other("log.cleaner.io.buffer.load.factor", .double, "0.9", "Load factor of the cleaner's key map.", KafkaConfigValidators.double()),
            other("log.cleaner.io.buffer.size", .int, "524288", "Memory of the cleaner's I/O buffers.", KafkaConfigValidators.int(atLeast: 0)),
            other("log.cleaner.io.max.bytes.per.second", .double, "1.7976931348623157E308", "Cleaner I/O throttle.", KafkaConfigValidators.double()),
            other("log.cleaner.threads", .int, "1", "Cleaner threads.", KafkaConfigValidators.int(atLeast: 0)),
            other("max.connection.creation.rate", .int, intMax, "Connections accepted per second.", KafkaConfigValidators.int(atLeast: 0)),
            other("max.connections", .int, intMax, "Connections allowed at once.", KafkaConfigValidators.int(atLeast: 0)),
            other("max.connections.per.ip", .int, intMax, "Connections allowed from one address.", KafkaConfigValidators.int(atLeast: 0)),
            other("max.connections.per.ip.overrides", .string, "", "Per-address connection limits.", KafkaConfigValidators.anyString()),
            other("metric.reporters", .list, "", "Metrics reporter classes.", KafkaConfigValidators.anyList()),
            other("producer.id.expiration.ms", .int, "86400000", "Producer state of silent producers is dropped after this long (this broker uses its start-up setting).",
                  KafkaConfigValidators.int(atLeast: 1)),
            other("transaction.partition.verification.enable", .boolean, "true", "Transactional partition verification.", KafkaConfigValidators.boolean()),
            other("remote.fetch.max.wait.ms", .int, "500", "Tiered storage fetch wait.", KafkaConfigValidators.int(atLeast: 1)),
            other("remote.log.manager.copy.max.bytes.per.second", .long, longMax, "Tiered storage copy throttle.", KafkaConfigValidators.long(atLeast: 1)),
            other("remote.log.manager.fetch.max.bytes.per.second", .long, longMax, "Tiered storage fetch throttle.", KafkaConfigValidators.long(atLeast: 1)),
            other("remote.log.index.file.cache.total.size.bytes", .long, "1073741824", "Tiered storage index cache size.", KafkaConfigValidators.long(atLeast: 1)),
            // Dynamic-only configs (DynamicConfig.Broker): they exist only as dynamic values.
            other("leader.replication.throttled.rate", .long, longMax, "Leader replication throttle.", KafkaConfigValidators.long(atLeast: 0)),
            other("follower.replication.throttled.rate", .long, longMax, "Follower replication throttle.", KafkaConfigValidators.long(atLeast: 0)),
            other("replica.alter.log.dirs.io.max.bytes.per.second", .long, longMax, "Log directory move throttle.", KafkaConfigValidators.long(atLeast: 0)),
        ]
        return definitions
    }()

    private static let dynamicByName: [String: BrokerConfigDefinition] = Dictionary(uniqueKeysWithValues: dynamicDefinitions.map { ($0.name, $0) })

    public static func dynamicDefinition(named name: String) -> BrokerConfigDefinition? { dynamicByName[name] }

    /// Kafka 3.9's per-broker configs: listeners, TLS and SASL settings.
    static let perBrokerNames: Set<String> = [
        "advertised.listeners", "listeners", "listener.security.protocol.map", "principal.builder.class",
        "sasl.enabled.mechanisms", "sasl.jaas.config", "sasl.kerberos.kinit.cmd", "sasl.kerberos.min.time.before.relogin",
        "sasl.kerberos.principal.to.local.rules", "sasl.kerberos.service.name", "sasl.kerberos.ticket.renew.jitter",
        "sasl.kerberos.ticket.renew.window.factor", "sasl.login.refresh.buffer.seconds", "sasl.login.refresh.min.period.seconds",
        "sasl.login.refresh.window.factor", "sasl.login.refresh.window.jitter", "sasl.mechanism.inter.broker.protocol",
        "ssl.cipher.suites", "ssl.client.auth", "ssl.enabled.protocols", "ssl.key.password", "ssl.keymanager.algorithm",
        "ssl.keystore.certificate.chain", "ssl.keystore.key", "ssl.keystore.location", "ssl.keystore.password", "ssl.keystore.type",
        "ssl.protocol", "ssl.provider", "ssl.trustmanager.algorithm", "ssl.truststore.certificates", "ssl.truststore.location",
        "ssl.truststore.password", "ssl.truststore.type", "ssl.endpoint.identification.algorithm", "ssl.engine.factory.class",
        "ssl.secure.random.implementation",
    ]

    /// The key and trust store settings Kafka reconfigures per listener only (SslConfigs.RECONFIGURABLE_CONFIGS).
    static let listenerSecurityNames: Set<String> = [
        "ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password", "ssl.key.password", "ssl.truststore.type",
        "ssl.truststore.location", "ssl.truststore.password", "ssl.keystore.certificate.chain", "ssl.keystore.key",
        "ssl.truststore.certificates",
    ]

    /// Kafka 3.9's read-only broker configs (its broker config table), plus log.message.format.version, which
    /// 3.x excludes from the dynamic log configs. A name outside every list is a custom config, which Kafka
    /// accepts and stores.
    static let readOnlyNames: Set<String> = [
        "auto.create.topics.enable", "auto.leader.rebalance.enable", "broker.id", "control.plane.listener.name",
        "controller.listener.names", "controller.quorum.bootstrap.servers", "controller.quorum.election.backoff.max.ms",
        "controller.quorum.election.timeout.ms", "controller.quorum.fetch.timeout.ms", "controller.quorum.voters",
        "delete.topic.enable", "early.start.listeners", "eligible.leader.replicas.enable", "leader.imbalance.check.interval.seconds",
        "leader.imbalance.per.broker.percentage", "log.dir", "log.dirs", "log.flush.offset.checkpoint.interval.ms",
        "log.flush.scheduler.interval.ms", "log.flush.start.offset.checkpoint.interval.ms", "log.retention.hours",
        "log.retention.minutes", "log.roll.hours", "log.roll.jitter.hours", "metadata.log.dir",
        "metadata.log.max.record.bytes.between.snapshots", "metadata.log.max.snapshot.interval.ms", "metadata.log.segment.bytes",
        "metadata.log.segment.ms", "metadata.max.retention.bytes", "metadata.max.retention.ms", "node.id",
        "num.replica.alter.log.dirs.threads", "offset.metadata.max.bytes", "offsets.commit.required.acks", "offsets.commit.timeout.ms",
        "offsets.load.buffer.size", "offsets.retention.check.interval.ms", "offsets.retention.minutes", "offsets.topic.compression.codec",
        "offsets.topic.num.partitions", "offsets.topic.replication.factor", "offsets.topic.segment.bytes", "process.roles",
        "queued.max.requests", "replica.fetch.min.bytes", "replica.fetch.wait.max.ms", "replica.high.watermark.checkpoint.interval.ms",
        "replica.lag.time.max.ms", "replica.socket.receive.buffer.bytes", "replica.socket.timeout.ms", "request.timeout.ms",
        "sasl.mechanism.controller.protocol", "socket.receive.buffer.bytes", "socket.request.max.bytes", "socket.send.buffer.bytes",
        "transaction.max.timeout.ms", "transaction.state.log.load.buffer.size", "transaction.state.log.min.isr",
        "transaction.state.log.num.partitions", "transaction.state.log.replication.factor", "transaction.state.log.segment.bytes",
        "transactional.id.expiration.ms", "zookeeper.connect", "zookeeper.connection.timeout.ms", "zookeeper.max.in.flight.requests",
        "zookeeper.metadata.migration.enable", "zookeeper.session.timeout.ms", "zookeeper.set.acl", "broker.heartbeat.interval.ms",
        "broker.id.generation.enable", "broker.rack", "broker.session.timeout.ms", "connections.max.idle.ms", "connections.max.reauth.ms",
        "controlled.shutdown.enable", "controlled.shutdown.max.retries", "controlled.shutdown.retry.backoff.ms",
        "controller.quorum.append.linger.ms", "controller.quorum.request.timeout.ms", "controller.socket.timeout.ms",
        "default.replication.factor", "delegation.token.expiry.time.ms", "delegation.token.master.key", "delegation.token.max.lifetime.ms",
        "delegation.token.secret.key", "delete.records.purgatory.purge.interval.requests", "fetch.max.bytes",
        "fetch.purgatory.purge.interval.requests", "group.consumer.assignors", "group.consumer.heartbeat.interval.ms",
        "group.consumer.max.heartbeat.interval.ms", "group.consumer.max.session.timeout.ms", "group.consumer.max.size",
        "group.consumer.min.heartbeat.interval.ms", "group.consumer.min.session.timeout.ms", "group.consumer.session.timeout.ms",
        "group.coordinator.append.linger.ms", "group.coordinator.rebalance.protocols", "group.coordinator.threads",
        "group.initial.rebalance.delay.ms", "group.max.session.timeout.ms", "group.max.size", "group.min.session.timeout.ms",
        "group.share.delivery.count.limit", "group.share.heartbeat.interval.ms", "group.share.max.groups",
        "group.share.max.heartbeat.interval.ms", "group.share.max.record.lock.duration.ms", "group.share.max.session.timeout.ms",
        "group.share.max.size", "group.share.min.heartbeat.interval.ms", "group.share.min.record.lock.duration.ms",
        "group.share.min.session.timeout.ms", "group.share.partition.max.record.locks", "group.share.record.lock.duration.ms",
        "group.share.session.timeout.ms", "initial.broker.registration.timeout.ms", "inter.broker.listener.name",
        "inter.broker.protocol.version", "log.cleaner.enable", "log.message.format.version", "log.retention.check.interval.ms",
        "max.incremental.fetch.session.cache.slots", "max.request.partition.size.limit", "num.partitions", "password.encoder.old.secret",
        "password.encoder.secret", "producer.purgatory.purge.interval.requests", "queued.max.request.bytes",
        "remote.log.manager.copier.thread.pool.size", "remote.log.manager.copy.quota.window.num",
        "remote.log.manager.copy.quota.window.size.seconds", "remote.log.manager.expiration.thread.pool.size",
        "remote.log.manager.fetch.quota.window.num", "remote.log.manager.fetch.quota.window.size.seconds",
        "remote.log.manager.thread.pool.size", "remote.log.metadata.manager.class.name", "remote.log.metadata.manager.class.path",
        "remote.log.metadata.manager.impl.prefix", "remote.log.metadata.manager.listener.name", "remote.log.reader.max.pending.tasks",
        "remote.log.reader.threads", "remote.log.storage.manager.class.name", "remote.log.storage.manager.class.path",
        "remote.log.storage.manager.impl.prefix", "remote.log.storage.system.enable", "replica.fetch.backoff.ms", "replica.fetch.max.bytes",
        "replica.fetch.response.max.bytes", "replica.selector.class", "reserved.broker.max.id", "sasl.client.callback.handler.class",
        "sasl.login.callback.handler.class", "sasl.login.class", "sasl.oauthbearer.jwks.endpoint.url", "sasl.oauthbearer.token.endpoint.url",
        "sasl.server.callback.handler.class", "sasl.server.max.receive.size", "security.inter.broker.protocol",
        "socket.connection.setup.timeout.max.ms", "socket.connection.setup.timeout.ms", "socket.listen.backlog.size",
        "zookeeper.clientCnxnSocket", "zookeeper.ssl.client.enable", "zookeeper.ssl.keystore.location", "zookeeper.ssl.keystore.password",
        "zookeeper.ssl.keystore.type", "zookeeper.ssl.truststore.location", "zookeeper.ssl.truststore.password",
        "zookeeper.ssl.truststore.type", "alter.config.policy.class.name", "alter.config.policy.kraft.compatibility.enable",
        "alter.log.dirs.replication.quota.window.num", "alter.log.dirs.replication.quota.window.size.seconds", "authorizer.class.name",
        "auto.include.jmx.reporter", "client.quota.callback.class", "connection.failed.authentication.delay.ms",
        "controller.quorum.retry.backoff.ms", "controller.quota.window.num", "controller.quota.window.size.seconds",
        "create.topic.policy.class.name", "delegation.token.expiry.check.interval.ms", "kafka.metrics.polling.interval.secs",
        "kafka.metrics.reporters", "log.dir.failure.timeout.ms", "metadata.max.idle.interval.ms", "metrics.num.samples",
        "metrics.recording.level", "metrics.sample.window.ms", "password.encoder.cipher.algorithm", "password.encoder.iterations",
        "password.encoder.key.length", "password.encoder.keyfactory.algorithm", "quota.window.num", "quota.window.size.seconds",
        "remote.log.manager.task.interval.ms", "remote.log.metadata.custom.metadata.max.bytes", "replication.quota.window.num",
        "replication.quota.window.size.seconds", "sasl.login.connect.timeout.ms", "sasl.login.read.timeout.ms",
        "sasl.login.retry.backoff.max.ms", "sasl.login.retry.backoff.ms", "sasl.oauthbearer.clock.skew.seconds",
        "sasl.oauthbearer.expected.audience", "sasl.oauthbearer.expected.issuer", "sasl.oauthbearer.jwks.endpoint.refresh.ms",
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
        "sasl.oauthbearer.scope.claim.name", "sasl.oauthbearer.sub.claim.name", "security.providers", "ssl.allow.dn.changes",
        "ssl.allow.san.changes", "ssl.principal.mapping.rules", "telemetry.max.bytes",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms", "transaction.remove.expired.transaction.cleanup.interval.ms",
        "zookeeper.ssl.cipher.suites", "zookeeper.ssl.crl.enable", "zookeeper.ssl.enabled.protocols",
        "zookeeper.ssl.endpoint.identification.algorithm", "zookeeper.ssl.ocsp.enable", "zookeeper.ssl.protocol",
    ]

    /// Kafka's update mode of `name`; nil for a name Kafka does not define (a custom config).
    public static func mode(of name: String) -> BrokerConfigMode? {
        if dynamicByName[name] != nil { return .clusterWide }
        if perBrokerNames.contains(name) { return .perBroker }
        if readOnlyNames.contains(name) { return .readOnly }
        return nil
    }

    /// Whether DescribeConfigs calls a broker config read-only: Kafka's `!AllDynamicConfigs.contains(name)`,
    /// except that this broker also cannot change its per-broker (listener, TLS, SASL) configs.
    public static func isReadOnly(_ name: String) -> Bool { mode(of: name) != .clusterWide }

    /// Scala's rendering of a set of names in Kafka's messages.
    static func scalaSet(_ names: [String]) -> String { "Set(" + names.sorted().joined(separator: ", ") + ")" }

    /// Why the dynamic configs `configs` (the whole resulting set of one resource) cannot be stored, or nil;
    /// every answer is INVALID_REQUEST, checked in Kafka's order (DynamicBrokerConfig.validateConfigs):
    /// configs that are not dynamic, key and trust store settings without a listener prefix, bad values, then
    /// per-broker configs at the cluster level.
    public static func problem(with configs: [String: String], perBroker: Bool) -> String? {
        let names = configs.keys
        var notDynamic = names.filter { mode(of: $0) == .readOnly }
        if perBroker {
            // Kafka would reconfigure listeners, TLS or SASL here; this broker has none of that to reconfigure.
            notDynamic += names.filter { mode(of: $0) == .perBroker && !listenerSecurityNames.contains($0) }
        }
        if !notDynamic.isEmpty { return "Cannot update these configs dynamically: \(scalaSet(notDynamic))" }
        let security = names.filter(listenerSecurityNames.contains)
        if !security.isEmpty {
            return "These security configs can be dynamically updated only per-listener using the listener prefix: \(scalaSet(security))"
        }
        for name in names.sorted() {
            guard let definition = dynamicByName[name], let value = configs[name] else { continue }
            if let rejection = definition.validate(value) { return rejection.message(configName: name) }
        }
        if !perBroker {
            let perBrokerOnly = names.filter { mode(of: $0) == .perBroker }
            if !perBrokerOnly.isEmpty {
                return "Cannot update these configs at default cluster level, broker id must be specified: \(scalaSet(perBrokerOnly))"
            }
        }
        return nil
    }
}

/// Why the dynamic broker configs could not be read or written.
public enum DynamicBrokerConfigsError: Error, Sendable, CustomStringConvertible {
    case storage(StorageError)
    case encoding(String)

    public var description: String {
        switch self {
        case .storage(let error): return "\(error)"
        case .encoding(let why): return "cannot encode the dynamic broker configs: \(why)"
        }
    }
}

/// The dynamic broker configs in force: the cluster defaults and this broker's own values, kept in
/// `dynamic-broker-configs.json` in the data directory (written atomically) so that they survive a restart.
/// Changing them goes through `withChangeLock`, which also serialises the topic config changes that read them
/// (see `Broker.applyDynamicLogDefaults`).
public final class DynamicBrokerConfigs: Sendable {
    public struct Values: Sendable, Equatable, Codable {
        /// Set with the empty resource name: DYNAMIC_DEFAULT_BROKER_CONFIG.
        public var clusterDefaults: [String: String] = [:]
        /// Set with this broker's id: DYNAMIC_BROKER_CONFIG; wins over the cluster defaults.
        public var broker: [String: String] = [:]

        public init(clusterDefaults: [String: String] = [:], broker: [String: String] = [:]) {
            self.clusterDefaults = clusterDefaults
            self.broker = broker
        }

        /// The topic configs these values give defaults for, by topic config name (per-broker values win).
        public var topicDefaults: [String: String] {
            var defaults: [String: String] = [:]
            for scope in [clusterDefaults, broker] {
                for (name, value) in scope {
                    if let topicConfig = BrokerConfigs.dynamicDefinition(named: name)?.topicConfig { defaults[topicConfig] = value }
                }
            }
            return defaults
        }
    }

    struct Stored: Codable {
        var version: Int
        var clusterDefaults: [String: String]
        var broker: [String: String]
    }

    public static let fileName = "dynamic-broker-configs.json"
    /// nil keeps the values in memory only (tests, and a broker built without a data directory).
    let path: String?
    private let state: NIOLockedValueBox<Values>
    private let changeLock = NIOLock()

    /// Values kept in memory only.
    public init(values: Values = Values()) {
        path = nil
        state = NIOLockedValueBox(values)
    }

    private init(path: String, values: Values) {
        self.path = path
        state = NIOLockedValueBox(values)
    }

    /// Reads the stored values of a data directory. A missing file means none; a file that does not parse is
    /// renamed `<file>.damaged-<time>` and the broker starts without dynamic values (logged); stored values
    /// that are no longer acceptable (read-only or invalid) are dropped and logged.
    public static func load(dataDirectory: String, logger: Logger) throws(DynamicBrokerConfigsError) -> DynamicBrokerConfigs {
        let path = dataDirectory + "/" + fileName
        let stored: Stored
        do throws(StorageError) {
            switch try StateFile.load(Stored.self, from: path) {
            case .missing:
                return DynamicBrokerConfigs(path: path, values: Values())
            case .loaded(let value):
                stored = value
            case .damaged(let kept, let error):
                logger.error("the dynamic broker configs are damaged; kept them aside and starting without them", metadata: [
                    "file": "\(path)", "keptAs": "\(kept)", "error": "\(error)",
                ])
                return DynamicBrokerConfigs(path: path, values: Values())
            }
        } catch {
            throw .storage(error)
        }
        func acceptable(_ configs: [String: String], perBroker: Bool) -> [String: String] {
            var kept: [String: String] = [:]
            for (name, value) in configs {
                if let problem = BrokerConfigs.problem(with: [name: value], perBroker: perBroker) {
                    logger.error("dropped a stored dynamic broker config", metadata: ["config": "\(name)", "value": "\(value)", "reason": "\(problem)"])
                } else {
                    kept[name] = value
                }
            }
            return kept
        }
        let values = Values(clusterDefaults: acceptable(stored.clusterDefaults, perBroker: false), broker: acceptable(stored.broker, perBroker: true))
        return DynamicBrokerConfigs(path: path, values: values)
    }

    public var values: Values { state.withLockedValue { $0 } }

    /// Runs `body` with changes of the dynamic values (and of topic configs, whose callers take it too)
    /// excluded, so that the logs end up configured from the latest values of both.
    public func withChangeLock<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        changeLock.lock()
        defer { changeLock.unlock() }
        return try body()
    }

    /// Replaces the values of one scope (the cluster defaults or this broker's), on disk first, then in memory:
    /// a value that cannot be written is not in force either.
    public func replace(_ configs: [String: String], perBroker: Bool) throws(DynamicBrokerConfigsError) {
        var next = values
        if perBroker { next.broker = configs } else { next.clusterDefaults = configs }
        if let path {
            do {
                try StateFile.save(Stored(version: 1, clusterDefaults: next.clusterDefaults, broker: next.broker), to: path)
            } catch {
                switch error {
                case .encoding(let why): throw .encoding(why)
                case .storage(let storageError): throw .storage(storageError)
                }
            }
        }
        state.withLockedValue { $0 = next }
    }
}

// MARK: - Carrying out AlterConfigs and IncrementalAlterConfigs

/// Why a resource's config change was refused: the error code and message of its result.
struct ConfigChangeFailure: Error {
    var code: KafkaErrorCode
    var message: String

    init(_ code: KafkaErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// The steps both config-altering APIs share, in Kafka's order (ConfigAdminManager.preprocess on the broker,
/// then ConfigurationControlManager on the controller).
enum ConfigChanges {
    /// Indexes of resources named more than once in a request: each gets INVALID_REQUEST.
    static func repeatedResources(_ resources: [(type: Int8, name: String)]) -> Set<Int> {
        var seen: [String: [Int]] = [:]
        for (index, resource) in resources.enumerated() { seen["\(resource.type)/\(resource.name)", default: []].append(index) }
        return Set(seen.values.filter { $0.count > 1 }.flatMap { $0 })
    }

    static var repeatedResourceFailure: ConfigChangeFailure { ConfigChangeFailure(.invalidRequest, "Each resource must appear at most once.") }

    /// Request-shape errors Kafka answers before anything else: a key named twice, a value missing where one
    /// is needed (`nullNames`: names whose operation needs a value but has none).
    static func shapeProblem(names: [String], nullNames: [String]) -> ConfigChangeFailure? {
        if Set(names).count != names.count { return ConfigChangeFailure(.invalidRequest, "Error due to duplicate config keys") }
        if !nullNames.isEmpty { return ConfigChangeFailure(.invalidRequest, "Null value not supported for : " + nullNames.joined(separator: ", ")) }
        return nil
    }

    /// Changes a topic's configs: the topic must exist (UNKNOWN_TOPIC_OR_PARTITION, checked before the configs
    /// are), must not be internal (its configs are the server's: INVALID_REQUEST), and the resulting set must
    /// pass Kafka's validation over the broker defaults (INVALID_CONFIG). `change` turns the current configs
    /// into the new ones. Blocking: call from the thread pool.
    static func alterTopic(
        _ broker: Broker, name: String, validateOnly: Bool,
        change: ([String: String]) throws(ConfigChangeFailure) -> [String: String]
    ) -> ConfigChangeFailure? {
        if name.isEmpty { return ConfigChangeFailure(.invalidRequest, "Default topic resources are not allowed.") }
        let dynamic = broker.configuration.dynamicConfigs
        return dynamic.withChangeLock { () -> ConfigChangeFailure? in
            guard let topic = broker.topics.topic(named: name) else {
                return ConfigChangeFailure(.unknownTopicOrPartition, "The topic '\(name)' does not exist.")
            }
            if topic.isInternal {
                return ConfigChangeFailure(.invalidRequest, "The configs of internal topic \(name) belong to the server.")
            }
            let configs: [String: String]
            do throws(ConfigChangeFailure) {
                configs = try change(topic.configs)
            } catch {
                return error
            }
            if let problem = TopicConfigs.problem(with: configs, brokerDefaults: ConfigDescriptions.topicDefaults(broker)) {
                return ConfigChangeFailure(.invalidConfig, problem)
            }
            do throws(TopicError) {
                _ = try broker.setTopicConfigs(name: name, configs: configs, validateOnly: validateOnly)
            } catch {
                return ConfigChangeFailure(error.errorCode, error.description)
            }
            return nil
        }
    }

    /// Changes the dynamic broker configs of one scope: `resourceName` is this broker's id (its own values) or
    /// empty (the cluster defaults); `change` turns the scope's current values into the new ones. The whole
    /// resulting set is validated (INVALID_REQUEST, as Kafka's broker answers), stored durably, then applied to
    /// every open log. Blocking: call from the thread pool.
    static func alterBroker(
        _ broker: Broker, resourceName: String, validateOnly: Bool,
        change: ([String: String]) throws(ConfigChangeFailure) -> [String: String]
    ) -> ConfigChangeFailure? {
        let perBroker = !resourceName.isEmpty
        if perBroker {
            guard let id = Int32(resourceName) else {
                return ConfigChangeFailure(.invalidRequest, "Node id must be an integer, but it is: \(resourceName)")
            }
            guard id == broker.configuration.nodeId else {
                return ConfigChangeFailure(.invalidRequest, "Unexpected broker id, expected \(broker.configuration.nodeId), but received \(resourceName)")
            }
        }
        let dynamic = broker.configuration.dynamicConfigs
        return dynamic.withChangeLock { () -> ConfigChangeFailure? in
            let current = perBroker ? dynamic.values.broker : dynamic.values.clusterDefaults
            let configs: [String: String]
            do throws(ConfigChangeFailure) {
                configs = try change(current)
            } catch {
                return error
            }
            if let problem = BrokerConfigs.problem(with: configs, perBroker: perBroker) {
                return ConfigChangeFailure(.invalidRequest, problem)
            }
            guard !validateOnly else { return nil }
            do {
                try dynamic.replace(configs, perBroker: perBroker)
            } catch {
                broker.logger.error("storing the dynamic broker configs failed", metadata: ["error": "\(error)"])
                return ConfigChangeFailure(.kafkaStorageError, "Cannot store the dynamic broker configs: \(error)")
            }
            broker.logger.info("dynamic broker configs changed", metadata: [
                "scope": "\(perBroker ? "broker \(resourceName)" : "cluster default")", "configs": "\(configs.keys.sorted())",
            ])
            broker.applyDynamicLogDefaults()
            return nil
        }
    }

    /// Applies IncrementalAlterConfigs operations to the configs of a broker resource, as Kafka's broker does
    /// (ConfigAdminManager.prepareIncrementalConfigs): APPEND adds the given elements to the current value (or
    /// the default), SUBTRACT removes them; both only for LIST configs.
    static func applyBrokerOperations(_ operations: [(name: String, operation: Int8, value: String?)], to current: [String: String]) throws(ConfigChangeFailure) -> [String: String] {
        var configs = current
        for (name, operation, value) in operations {
            switch operation {
            case 0:
                configs[name] = value
            case 1:
                configs[name] = nil
            case 2, 3:
                let verb = operation == 2 ? "append" : "subtract"
                guard let definition = BrokerConfigs.dynamicDefinition(named: name) else {
                    if BrokerConfigs.mode(of: name) == nil { throw ConfigChangeFailure(.invalidConfig, "Unknown config name: \(name)") }
                    throw ConfigChangeFailure(.invalidRequest, "Config value \(verb) is not allowed for config key: \(name)")
                }
                guard definition.type == .list else {
                    throw ConfigChangeFailure(.invalidRequest, "Config value \(verb) is not allowed for config key: \(name)")
                }
                let old = KafkaConfigParsing.list(configs[name] ?? definition.kafkaDefault).filter { !$0.isEmpty }
                let given = KafkaConfigParsing.list(value ?? "").filter { !$0.isEmpty }
                configs[name] = (operation == 2 ? old + given : old.filter { !given.contains($0) }).joined(separator: ",")
            default:
                throw ConfigChangeFailure(.invalidRequest, "Unknown operations type \(operation)")
            }
        }
        return configs
    }
}
