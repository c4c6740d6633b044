import AccessControl
import Bridge
import Coordinator
import Foundation
import KafkaProtocol
import KafkaServer
import LogStore
public import Logging
import MQTTBroker
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// The whole server: storage, topics, the Kafka listener and background maintenance, run until SIGINT or
/// SIGTERM, then shut down cleanly (listeners closed, logs flushed, clean-shutdown marker written).
public enum TributaryServer {
    public static let version = "0.1.0"

    public static func run(configuration: ServerConfiguration, logger: Logger) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        // Blocking file I/O (appends, flushes, reads) runs here, never on the event loops.
        let threadPool = NIOThreadPool(numberOfThreads: max(4, System.coreCount * 2))
        threadPool.start()
        do {
            try await serve(configuration: configuration, group: group, threadPool: threadPool, logger: logger)
        } catch {
            try? await threadPool.shutdownGracefully()
            try? await group.shutdownGracefully()
            throw error
        }
        try? await threadPool.shutdownGracefully()
        try? await group.shutdownGracefully()
    }

    static func serve(configuration: ServerConfiguration, group: MultiThreadedEventLoopGroup, threadPool: NIOThreadPool, logger: Logger) async throws {
        let descriptors = DescriptorBudget(limit: DescriptorBudget.raiseLimit(logger: logger), logger: logger)
        logger.info("descriptor budget", metadata: [
            "limit": "\(descriptors.limit)", "reserve": "\(descriptors.reserve)", "kafkaShare": "\(descriptors.kafkaShare)",
        ])
        let clusterId = try ClusterIdentity.load(dataDirectory: configuration.dataDirectory, nodeId: configuration.nodeId, logger: logger)
        let logs = LogManager(dataDirectory: configuration.dataDirectory, threadPool: threadPool, logger: logger)
        let topics = TopicRegistry(dataDirectory: configuration.dataDirectory, logger: logger)
        var brokerConfiguration = BrokerConfiguration()
        brokerConfiguration.nodeId = configuration.nodeId
        brokerConfiguration.clusterId = clusterId
        brokerConfiguration.endpoints = configuration.kafkaEndpoints.map(\.endpoint)
        brokerConfiguration.dataDirectory = configuration.dataDirectory
        brokerConfiguration.autoCreateTopics = configuration.autoCreateTopics
        brokerConfiguration.defaultPartitions = configuration.defaultPartitions
        brokerConfiguration.maxRequestBytes = configuration.maxRequestBytes
        brokerConfiguration.connectionsMaxIdleMilliseconds = configuration.connectionsMaxIdleMilliseconds
        brokerConfiguration.logDefaults = configuration.logDefaults
        brokerConfiguration.retentionCheckIntervalMilliseconds = configuration.retentionCheckIntervalMilliseconds
        // OAUTHBEARER is offered only with keys to check tokens against.
        let hasTokenKeys = configuration.jwtJWKSFile != nil || configuration.jwtHMACSecretFile != nil
        brokerConfiguration.saslMechanisms = configuration.saslMechanisms.filter { $0 != "OAUTHBEARER" || hasTokenKeys }
        brokerConfiguration.maxReauthMilliseconds = configuration.maxReauthMilliseconds
        brokerConfiguration.superUsers = configuration.superUsers
        brokerConfiguration.serverWrittenTopics = [configuration.eventsTopic]
        // Dynamic broker configs (AlterConfigs on the broker) persist in the data directory; load them before
        // the logs open so that topics start with the defaults in force.
        brokerConfiguration.dynamicConfigs = try DynamicBrokerConfigs.load(dataDirectory: configuration.dataDirectory, logger: logger)
        let broker = Broker(configuration: brokerConfiguration, topics: topics, logs: logs, threadPool: threadPool, logger: logger)
        let coordinator = GroupCoordinator(storage: broker, eventLoop: group.next(), settings: configuration.groupSettings, logger: logger)
        /// Groups stop before the logs they write to close.
        func shutdown() async {
            await coordinator.stop()
            await broker.shutdown()
        }

        logger.info("starting tributary", metadata: configuration.summary)
        let startedAt = ContinuousClock.now
        let reports = try await broker.start()
        do {
            try await coordinator.start()
        } catch {
            await broker.shutdown()
            throw error
        }
        for report in reports {
            var metadata: Logger.Metadata = [
                "partition": "\(report.topicPartition)", "segmentsChecked": "\(report.segments.count)",
                "truncatedBytes": "\(report.truncatedBytes)", "damagedBytes": "\(report.damagedBytes)",
            ]
            if let skipped = report.skippedOffsets { metadata["skippedOffsets"] = "\(skipped.lowerBound)..<\(skipped.upperBound)" }
            logger.info("recovered partition", metadata: metadata)
        }
        let partitionCount = logs.allLogs.count
        logger.info("logs loaded", metadata: [
            "partitions": "\(partitionCount)", "topics": "\(topics.allTopics.count)",
            "previousShutdown": "\(logs.previousShutdownWasClean ? "clean" : "unclean")",
            "milliseconds": "\((ContinuousClock.now - startedAt).milliseconds)",
        ])

        do {
            broker.attach(users: try await loadUsers(configuration: configuration, broker: broker, logger: logger))
            if configuration.aclAuthorizer {
                broker.attach(acls: try await loadAcls(configuration: configuration, broker: broker, logger: logger))
            }
            if configuration.jwtJWKSFile != nil || configuration.jwtHMACSecretFile != nil {
                // JWTs: MQTT passwords and Kafka's OAUTHBEARER.
                do {
                    broker.attach(tokens: try await TokenVerifier(
                        jwksFile: configuration.jwtJWKSFile, hmacSecretFile: configuration.jwtHMACSecretFile, issuer: configuration.jwtIssuer,
                        audience: configuration.jwtAudience))
                } catch {
                    throw ConfigurationError("\(error)")
                }
            }
        } catch {
            await shutdown()
            throw error
        }

        warnAboutOpenAccess(configuration: configuration, logger: logger)

        let tls: TLSContexts?
        do {
            tls = configuration.usesTLS ? try TLSContexts(settings: configuration.tls, logger: logger) : nil
        } catch {
            await shutdown()
            throw error
        }
        let listeners = configuration.kafkaEndpoints.map { listen, endpoint in
            (listen, KafkaListener(broker: broker, coordinator: coordinator, endpoint: endpoint, group: group, logger: logger))
        }
        let kafka = KafkaService(listeners: listeners, tls: tls, descriptors: descriptors)
        let maintenance = MaintenanceService(broker: broker, configuration: configuration, logger: logger)
        var serviceList: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: kafka), .init(service: maintenance)]
        if let tls { serviceList.append(.init(service: TLSReloadService(contexts: tls))) }
        if configuration.mqttListen != nil || configuration.mqttWebSocketListen != nil || configuration.mqttTLSListen != nil
            || configuration.mqttSecureWebSocketListen != nil
        {
            let mqtt: MQTTService
            do {
                mqtt = try await MQTTService.prepare(
                    configuration: configuration, broker: broker, group: group, tls: tls, descriptors: descriptors, logger: logger)
            } catch {
                await shutdown()
                throw error
            }
            serviceList.append(.init(service: mqtt))
        }
        let services = ServiceGroup(
            configuration: .init(
                services: serviceList,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await services.run()
        } catch {
            logger.error("a service failed; shutting down", metadata: ["error": "\(error)"])
            for (_, listener) in listeners { await listener.stop() }
            await shutdown()
            throw error
        }
        await shutdown()
        logger.info("tributary stopped")
    }
}

/// The MQTT authenticators: every configured one by name, the default chain (`mqtt-authenticators`, or all
/// configured in the order JWT, certificates, signed passwords, the user base, the HTTP service) and the
/// chains of listeners that have their own. The HTTP authenticator is returned too: its client is shut
/// down with the MQTT service.
struct MQTTAuthenticatorSetup {
    var chain: [any MQTTAuthenticator] = []
    var perListener: [MQTTListenerKind: [any MQTTAuthenticator]] = [:]
    var http: HTTPAuthenticator? = nil
    /// Whether an authenticator other than the user base is configured: then a client with a user name that
    /// no authenticator vouches for (all ignored it: unknown, or the HTTP service unreachable) is refused,
    /// as EMQX refuses what a chain ends without deciding, even while the user base is empty.
    var checksIdentities = false

    static let order = ["jwt", "cert", "signed", "users", "http"]

    init(configuration: ServerConfiguration, broker: Broker, group: any EventLoopGroup, logger: Logger) throws {
        var available: [String: any MQTTAuthenticator] = [:]
        if let tokens = broker.tokens { available["jwt"] = JWTAuthenticator(verifier: tokens) }
        if let username = CertificateAuthenticator.Field(rawValue: configuration.mqttCertificateAsUsername), username != .off {
            available["cert"] = CertificateAuthenticator(
                username: username, clientId: CertificateAuthenticator.Field(rawValue: configuration.mqttCertificateAsClientId) ?? .off)
        }
        if let path = configuration.mqttDeviceSecretsFile {
            available["signed"] = SignedPasswordAuthenticator(
                secrets: try SignedPasswordAuthenticator.readSecrets(path), maximumSkewMilliseconds: configuration.mqttSignedPasswordMaxSkewMilliseconds,
                clock: { Int64(Date().timeIntervalSince1970 * 1000) })
        }
        if let users = broker.users { available["users"] = UserBaseAuthenticator(users: users, threadPool: broker.threadPool) }
        if let url = configuration.mqttAuthHTTPURL {
            let http = HTTPAuthenticator(
                url: url, timeout: .milliseconds(configuration.mqttAuthHTTPTimeoutMilliseconds),
                cacheTTL: .milliseconds(configuration.mqttAuthHTTPCacheTTLMilliseconds), group: group, logger: logger)
            self.http = http
            available["http"] = http
        }
        func resolve(_ names: [String], _ setting: String) throws -> [any MQTTAuthenticator] {
            try names.map { name in
                guard let authenticator = available[name] else {
                    throw ConfigurationError("\(setting) names \(name), which is not configured")
                }
                return authenticator
            }
        }
        checksIdentities = available.keys.contains { $0 != "users" }
        chain = try configuration.mqttAuthenticators.map { try resolve($0, "mqtt-authenticators") } ?? Self.order.compactMap { available[$0] }
        for (kind, names) in configuration.mqttListenerAuthenticators {
            perListener[kind] = try resolve(names, "mqtt-authenticators-\(kind.rawValue)")
        }
    }
}

/// One warning line per way in that asks nobody who they are: the embedded defaults (`make run`) are
/// unauthenticated, and the log says so.
func warnAboutOpenAccess(configuration: ServerConfiguration, logger: Logger) {
    for (listen, endpoint) in configuration.kafkaEndpoints where !endpoint.securityProtocol.usesSASL {
        let certificates = endpoint.securityProtocol.usesTLS && configuration.tls.clientAuthentication == .require
        if !certificates {
            logger.warning("UNAUTHENTICATED: the Kafka listener \(listen) (\(endpoint.securityProtocol.rawValue)) lets anyone who reaches it read and write every topic; see README, Securing Tributary")
        }
    }
    let mqttOn = configuration.mqttListen != nil || configuration.mqttWebSocketListen != nil || configuration.mqttTLSListen != nil
        || configuration.mqttSecureWebSocketListen != nil
    if mqttOn && configuration.mqtt.allowAnonymous {
        logger.warning("UNAUTHENTICATED: MQTT clients without a user name are accepted (mqtt-allow-anonymous: true); see README, Securing Tributary")
    }
}

/// Opens the Kafka ACLs (`__acls`) for the authorizer.
func loadAcls(configuration: ServerConfiguration, broker: Broker, logger: Logger) async throws -> AclStore {
    let provider = BrokerTopicProvider(broker: broker)
    guard let log = try provider.partitionLogs(of: AclStore.topic, creatingWith: 1, configs: AclStore.topicConfigs).first else {
        throw ConfigurationError("\(AclStore.topic) has no partition")
    }
    let policy = AclPolicy(superUsers: configuration.superUsers, allowEveryoneIfNoAclFound: configuration.allowEveryoneIfNoAclFound)
    let acls = try await AclStore.load(from: log, policy: policy, logger: logger)
    logger.info("Kafka ACL authorizer on", metadata: [
        "acls": "\(acls.bindings.count)", "superUsers": "\(configuration.superUsers.sorted().joined(separator: ";"))",
        "allowEveryoneIfNoAclFound": "\(configuration.allowEveryoneIfNoAclFound)",
    ])
    if acls.bindings.isEmpty && configuration.superUsers.isEmpty && !configuration.allowEveryoneIfNoAclFound {
        logger.warning("the Kafka ACL authorizer is on with no ACLs and no super-users: no Kafka client may do anything until ACLs exist")
    }
    return acls
}

/// Opens the user base (`__users`) and adds what the users file and `mqtt-users` hold that it lacks.
func loadUsers(configuration: ServerConfiguration, broker: Broker, logger: Logger) async throws -> UserStore {
    let provider = BrokerTopicProvider(broker: broker)
    guard let log = try provider.partitionLogs(of: UserStore.topic, creatingWith: 1, configs: UserStore.topicConfigs).first else {
        throw ConfigurationError("\(UserStore.topic) has no partition")
    }
    let users = try await UserStore.load(from: log, logger: logger)
    var entries: [UsersFile.Entry] = []
    if let path = configuration.usersFile {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError("users-file \(path) cannot be read: \(error.localizedDescription)")
        }
        entries += try UsersFile.parse(text, source: path)
    }
    entries += configuration.plaintextUsers.map { UsersFile.Entry.plaintext(user: $0.user, password: $0.password) }
    if entries.contains(where: { if case .plaintext = $0 { return true } else { return false } }) {
        logger.warning("plaintext passwords given (users-file PLAIN lines or mqtt-users): they are stored hashed; replace them with the lines of `tributary users hash`")
    }
    let wanted = entries
    let changes = try await broker.threadPool.runIfActive { try UsersFile.missingChanges(wanted, in: users) }
    if !changes.isEmpty {
        try await users.apply(changes)
        logger.info("users imported into the user base", metadata: ["users": "\(Set(changes.map(\.user)).sorted().joined(separator: ","))"])
    }
    logger.info("user base loaded", metadata: ["users": "\(users.users.count)"])
    return users
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

/// Runs the Kafka listeners (plaintext and TLS) until graceful shutdown.
struct KafkaService: Service {
    let listeners: [(address: HostPort, listener: KafkaListener)]
    let tls: TLSContexts?
    let descriptors: DescriptorBudget

    func run() async throws {
        let descriptors = self.descriptors
        do {
            for (address, listener) in listeners {
                var connectionSetup: (@Sendable (any Channel) throws -> Void)? = nil
                if listener.endpoint.securityProtocol.usesTLS {
                    guard let tls else { throw ConfigurationError("the Kafka TLS listener has no TLS settings") }
                    let name = "kafka \(address)"
                    connectionSetup = {
                        try tls.install(on: $0, listener: name) { identity in KafkaPeerCertificate(subject: identity.subject) }
                    }
                }
                _ = try await listener.start(
                    host: address.host, port: address.port, serverChannelSetup: { try descriptors.installGate(on: $0, for: .kafka) },
                    connectionSetup: connectionSetup)
            }
        } catch {
            for (_, listener) in listeners { await listener.stop() }
            throw error
        }
        // Serve until the service group asks to stop, then close the listeners and their connections.
        try? await gracefulShutdown()
        for (_, listener) in listeners { await listener.stop() }
    }
}

/// The MQTT broker over the log: ingress routes, sessions and retained messages in internal topics,
/// device events; its listeners run until graceful shutdown, then every client is disconnected and every
/// persistent session written before the logs close.
struct MQTTService: Service {
    let core: MQTTBrokerCore
    let rules: RuleEngine
    let downlinks: DownlinkService
    let httpAuthenticator: HTTPAuthenticator?
    let configuration: ServerConfiguration
    let group: any EventLoopGroup
    let tls: TLSContexts?
    let descriptors: DescriptorBudget
    let logger: Logger

    /// TLS for an MQTT connection: the handshake, then the client certificate's identity for the authenticators.
    static func tlsSetup(_ tls: TLSContexts, listener: String) -> @Sendable (any Channel) throws -> Void {
        { channel in
            try tls.install(on: channel, listener: listener) { identity in
                MQTTPeerCertificate(subject: identity.subject, commonName: identity.commonName, dnsNames: identity.dnsNames)
            }
        }
    }

    static func prepare(
        configuration: ServerConfiguration, broker: Broker, group: any EventLoopGroup, tls: TLSContexts?, descriptors: DescriptorBudget, logger: Logger
    ) async throws -> MQTTService {
        let routes: RouteTable
        do {
            routes = try RouteTable(configuration.routes)
        } catch {
            throw ConfigurationError(error.description)
        }
        let clock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
        let provider = BrokerTopicProvider(broker: broker)
        let messageLog = LogMessageLog(routes: routes, provider: provider)
        let stateStore = LogStateStore(provider: provider, logger: logger)
        let eventTopic = EventTopicSink(topic: configuration.eventsTopic, events: configuration.mqtt.enabledEvents, provider: provider, logger: logger)
        let rules = RuleEngine(rules: configuration.rules, eventLoop: group.next(), provider: provider, logger: logger, clock: clock)
        // Topic creation is file I/O: off the event loops.
        try await broker.threadPool.runIfActive {
            try messageLog.prepareTopics()
            try eventTopic.prepareTopic()
            try rules.prepareTopics()
        }
        var mqttConfiguration = configuration.mqtt
        mqttConfiguration.serverVersion = "tributary \(TributaryServer.version)"
        if mqttConfiguration.maximumConnections > descriptors.mqttConnectionCeiling {
            // The descriptor limit decides how many devices can be connected; beyond it they are refused at accept.
            logger.info("mqtt connections limited by the descriptor limit", metadata: [
                "configured": "\(mqttConfiguration.maximumConnections)", "limit": "\(descriptors.mqttConnectionCeiling)", "descriptors": "\(descriptors.limit)",
            ])
            mqttConfiguration.maximumConnections = descriptors.mqttConnectionCeiling
        }
        // The broker emits the events the topic wants and those rules read; the topic keeps its own list.
        mqttConfiguration.enabledEvents = configuration.mqtt.enabledEvents.union(rules.eventNames)
        let authenticators = try MQTTAuthenticatorSetup(configuration: configuration, broker: broker, group: group, logger: logger)
        let core = MQTTBrokerCore(
            eventLoop: group.next(), configuration: mqttConfiguration, messageLog: messageLog, stateStore: stateStore,
            events: RuleEventTap(sink: eventTopic, engine: rules), logger: logger, clock: clock,
            authenticators: authenticators.chain, listenerAuthenticators: authenticators.perListener,
            hasUsers: { [checksIdentities = authenticators.checksIdentities] in checksIdentities || !(broker.users?.isEmpty ?? true) })
        core.observeRoutedMessages { message in rules.routed(message) }
        rules.attach(core)
        try await core.start()
        let downlinks = DownlinkService(provider: provider, core: core, logger: logger, clock: clock)
        try await downlinks.loadPositions()
        return MQTTService(
            core: core, rules: rules, downlinks: downlinks, httpAuthenticator: authenticators.http, configuration: configuration, group: group, tls: tls,
            descriptors: descriptors, logger: logger)
    }

    func run() async throws {
        var channels: [any Channel] = []
        do {
            if let address = configuration.mqttListen {
                let descriptors = self.descriptors
                channels.append(try await MQTTListener.bindTCP(host: address.host, port: address.port, group: group, core: core) {
                    try descriptors.installGate(on: $0, for: .mqtt)
                })
                logger.info("mqtt listening", metadata: ["address": "\(address)"])
            }
            if let address = configuration.mqttWebSocketListen {
                let descriptors = self.descriptors
                channels.append(try await MQTTListener.bindWebSocket(host: address.host, port: address.port, group: group, core: core, listener: .webSocket) {
                    try descriptors.installGate(on: $0, for: .mqtt)
                })
                logger.info("mqtt over websocket listening", metadata: ["address": "\(address)", "path": "/mqtt"])
            }
            if let address = configuration.mqttTLSListen {
                guard let tls else { throw ConfigurationError("mqtt-tls-listen has no TLS settings") }
                let descriptors = self.descriptors
                let name = "mqtt \(address)"
                channels.append(try await MQTTListener.bindTCP(
                    host: address.host, port: address.port, group: group, core: core, listener: .tls,
                    serverChannelSetup: { try descriptors.installGate(on: $0, for: .mqtt) }, connectionSetup: Self.tlsSetup(tls, listener: name)))
                logger.info("mqtt over tls listening", metadata: ["address": "\(address)"])
            }
            if let address = configuration.mqttSecureWebSocketListen {
                guard let tls else { throw ConfigurationError("mqtt-wss-listen has no TLS settings") }
                let descriptors = self.descriptors
                let name = "mqtt-wss \(address)"
                channels.append(try await MQTTListener.bindWebSocket(
                    host: address.host, port: address.port, group: group, core: core, listener: .secureWebSocket,
                    serverChannelSetup: { try descriptors.installGate(on: $0, for: .mqtt) }, connectionSetup: Self.tlsSetup(tls, listener: name)))
                logger.info("mqtt over secure websocket listening", metadata: ["address": "\(address)", "path": "/mqtt"])
            }
        } catch {
            for channel in channels { try? await channel.close() }
            await core.stop()
            await httpAuthenticator?.shutdown()
            throw error
        }
        downlinks.apply(configuration.downlinks)
        if !configuration.rules.isEmpty {
            logger.info("rules loaded", metadata: ["rules": "\(configuration.rules.map(\.name).joined(separator: ", "))"])
        }
        let reloads = Task { await self.reloadOnHangup() }
        let statistics = Task { await self.logStatistics() }
        try? await gracefulShutdown()
        reloads.cancel()
        statistics.cancel()
        for channel in channels { try? await channel.close() }
        await downlinks.stop()
        await core.stop()
        await httpAuthenticator?.shutdown()
        for rule in rules.statistics { logger.info("\(rule)") }
    }

    /// SIGHUP reads the rules and downlinks from the config file again; a file with an error changes
    /// nothing (the error, with its line and column for a rule, is logged).
    private func reloadOnHangup() async {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals {
            guard !Task.isCancelled else { return }
            reload()
        }
    }

    func reload() {
        guard let path = configuration.configFile else {
            // With TLS the signal still reloads the certificates (TLSReloadService).
            logger.log(level: tls == nil ? .warning : .debug, "SIGHUP: no config file was given, no rules or downlinks to reload")
            return
        }
        do {
            let (newRules, newDownlinks) = try ServerConfiguration.readRulesAndDownlinks(path)
            let authorizer = try ServerConfiguration.readMQTTAuthorizer(path)
            core.setAuthorizer(authorizer)
            logger.info("mqtt topic rules reloaded", metadata: ["rules": "\(authorizer.rules.count)", "noMatch": "\(authorizer.noMatchAllows ? "allow" : "deny")"])
            rules.replaceRules(newRules)
            core.setEmittedEvents(configuration.mqtt.enabledEvents.union(rules.eventNames))
            downlinks.apply(newDownlinks)
            logger.info("rules and downlinks reloaded", metadata: [
                "rules": "\(newRules.map(\.name).joined(separator: ", "))", "downlinks": "\(newDownlinks.map(\.name).joined(separator: ", "))",
            ])
        } catch {
            logger.error("reload refused; the previous rules and downlinks stay active", metadata: ["error": "\(error)"])
        }
    }

    /// Per-rule counters and evaluation times, logged once a minute while rules see traffic.
    private func logStatistics() async {
        var last: [String: Int64] = [:]
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(60))
            for rule in rules.statistics where last[rule.name] != rule.matched {
                last[rule.name] = rule.matched
                logger.info("\(rule)", metadata: [
                    "p50us": "\(rule.evaluationPercentileMicroseconds(0.5))", "p99us": "\(rule.evaluationPercentileMicroseconds(0.99))",
                ])
            }
        }
    }
}

/// The bridge's access to topics: existing ones, or (for writing) created with the given partitions and configs.
struct BrokerTopicProvider: TopicProvider {
    let broker: Broker

    func partitionLogs(of topic: String, creatingWith partitions: Int32, configs: [String: String]) throws -> [any PartitionLog] {
        var metadata = broker.topics.topic(named: topic)
        if metadata?.isInternal == true {
            metadata = try broker.ensureConfigs(ofInternalTopic: topic, configs)
        }
        if metadata == nil {
            do {
                metadata = try broker.createTopic(name: topic, partitions: partitions, configs: configs)
                broker.logger.info("created topic for mqtt", metadata: ["topic": "\(topic)", "partitions": "\(partitions)"])
            } catch .alreadyExists {
                metadata = broker.topics.topic(named: topic)
            }
        }
        guard let metadata else { throw ConfigurationError("topic \(topic) could not be created") }
        guard let logs = logs(of: metadata) else { throw ConfigurationError("topic \(topic) lacks the log of a partition") }
        return logs
    }

    func existingPartitionLogs(of topic: String) -> [any PartitionLog]? {
        broker.topics.topic(named: topic).flatMap(logs(of:))
    }

    /// Every partition's log, or nil when one is missing (the topic is being created or deleted right now).
    private func logs(of metadata: TopicMetadata) -> [any PartitionLog]? {
        var logs: [any PartitionLog] = []
        for partition in 0..<metadata.partitionCount {
            guard let log = broker.log(topic: metadata.name, partition: partition) else { return nil }
            logs.append(log)
        }
        return logs
    }
}

/// Periodic log maintenance: interval flushes, checkpoints, and retention.
struct MaintenanceService: Service {
    let broker: Broker
    let configuration: ServerConfiguration
    let logger: Logger

    func run() async throws {
        let tick: Int64 = 1_000
        var sinceRetention: Int64 = 0
        var sinceCheckpoint: Int64 = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(tick)) }
            } catch {
                break
            }
            sinceRetention += tick
            sinceCheckpoint += tick
            let retention = sinceRetention >= configuration.retentionCheckIntervalMilliseconds
            if retention { sinceRetention = 0 }
            if retention || sinceCheckpoint >= configuration.checkpointIntervalMilliseconds {
                sinceCheckpoint = 0
                let broker = self.broker
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    broker.threadPool.submit { _ in
                        broker.runMaintenance(retention: retention)
                        continuation.resume()
                    }
                }
            } else {
                broker.logs.runIntervalFlushes()
            }
        }
    }
}

/// The cluster id, created on first start and kept in `meta.properties` as Kafka keeps it.
enum ClusterIdentity {
    static func load(dataDirectory: String, nodeId: Int32, logger: Logger) throws -> String {
        try FileSystem.createDirectory(dataDirectory)
        let path = dataDirectory + "/meta.properties"
        if FileSystem.exists(path) {
            let text = String(decoding: try FileSystem.readAll(path), as: UTF8.self)
            var properties: [String: String] = [:]
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                let parts = line.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { properties[String(parts[0])] = String(parts[1]) }
            }
            guard let clusterId = properties["cluster.id"], !clusterId.isEmpty else {
                throw ConfigurationError("\(path) has no cluster.id")
            }
            if let stored = properties["node.id"], stored != String(nodeId) {
                throw ConfigurationError("\(path) belongs to node \(stored), but this server is node \(nodeId)")
            }
            return clusterId
        }
        let clusterId = KafkaUUID.random().description
        let contents = "#Written by tributary on first start\nversion=1\ncluster.id=\(clusterId)\nnode.id=\(nodeId)\n"
        try FileSystem.writeAtomically(Array(contents.utf8), to: path)
        logger.info("new data directory", metadata: ["clusterId": "\(clusterId)", "path": "\(dataDirectory)"])
        return clusterId
    }
}
