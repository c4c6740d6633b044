import Coordinator
import LogStore

/// Values and sources of configs as DescribeConfigs and CreateTopics report them.
enum ConfigSource: Int8 {
    case unknown = 0
    case topicConfig = 1
    case dynamicBrokerConfig = 2
    case dynamicDefaultBrokerConfig = 3
    case staticBrokerConfig = 4
    case defaultConfig = 5
}

struct ConfigDescription {
    var name: String
    var value: String?
    var source: ConfigSource
    var readOnly: Bool
    var isSensitive: Bool = false
    var type: Int8
    var documentation: String?
    /// Lower-precedence values, most specific first (DescribeConfigs v1+ synonyms).
    var synonyms: [(name: String, value: String?, source: ConfigSource)]
}

enum ConfigDescriptions {
    /// What topics without their own value get, by topic config name: the broker's static log settings (over
    /// Kafka's defaults) overridden by the dynamic broker defaults.
    static func topicDefaults(_ broker: Broker) -> [String: String] {
        TopicConfigs.defaultValues(broker.configuration.logDefaults)
            .merging(broker.configuration.dynamicConfigs.values.topicDefaults) { _, dynamic in dynamic }
    }

    /// The values of one broker config, most specific first, as Kafka lists synonyms (ConfigHelper
    /// configSynonyms): this broker's dynamic value, the cluster-wide dynamic default, the static setting
    /// (when it differs from the built-in one; this broker cannot tell an explicit setting that repeats the
    /// default), the built-in default.
    static func brokerSynonyms(_ name: String, staticValue: String?, builtIn: String?, dynamic: DynamicBrokerConfigs.Values) -> [(name: String, value: String?, source: ConfigSource)] {
        var synonyms: [(name: String, value: String?, source: ConfigSource)] = []
        if let value = dynamic.broker[name] { synonyms.append((name, value, .dynamicBrokerConfig)) }
        if let value = dynamic.clusterDefaults[name] { synonyms.append((name, value, .dynamicDefaultBrokerConfig)) }
        if let staticValue, staticValue != builtIn { synonyms.append((name, staticValue, .staticBrokerConfig)) }
        if let builtIn { synonyms.append((name, builtIn, .defaultConfig)) }
        return synonyms
    }

    /// Every topic config of `topic` (Kafka 3.9's set), with its effective value and where it comes from:
    /// TOPIC_CONFIG when set on the topic, else the source of the broker config that supplies its default,
    /// else DEFAULT_CONFIG. Topic configs are never read-only.
    static func topic(_ topic: TopicMetadata, broker: Broker) -> [ConfigDescription] {
        let builtIn = TopicConfigs.defaultValues(LogConfig())
        let staticValues = TopicConfigs.defaultValues(broker.configuration.logDefaults)
        let dynamic = broker.configuration.dynamicConfigs.values
        return TopicConfigs.definitions.map { definition in
            var synonyms: [(name: String, value: String?, source: ConfigSource)] = []
            if let explicit = topic.configs[definition.name] {
                synonyms.append((definition.name, explicit, .topicConfig))
            }
            if let synonym = definition.brokerSynonym {
                synonyms += brokerSynonyms(synonym, staticValue: staticValues[definition.name], builtIn: builtIn[definition.name], dynamic: dynamic)
            }
            let value = synonyms.first?.value ?? builtIn[definition.name] ?? definition.kafkaDefault
            let source = synonyms.first?.source ?? .defaultConfig
            return ConfigDescription(name: definition.name, value: value, source: source, readOnly: false, type: definition.type.rawValue,
                                     documentation: definition.documentation, synonyms: synonyms)
        }
    }

    /// The broker's configs, as Kafka describes a BROKER resource (ConfigHelper): with this broker's id, every
    /// setting with its effective value; with the empty name (the cluster default), only the dynamic cluster
    /// defaults. Dynamic (cluster-wide) configs are not read-only; the start-up settings are.
    static func broker(_ broker: Broker, clusterDefault: Bool) -> [ConfigDescription] {
        let configuration = broker.configuration
        let dynamic = configuration.dynamicConfigs.values
        if clusterDefault {
            return dynamic.clusterDefaults.keys.sorted().map { name in
                let value = dynamic.clusterDefaults[name]
                let definition = BrokerConfigs.dynamicDefinition(named: name)
                return ConfigDescription(name: name, value: value, source: .dynamicDefaultBrokerConfig, readOnly: BrokerConfigs.isReadOnly(name),
                                         type: (definition?.type ?? .string).rawValue, documentation: definition?.documentation,
                                         synonyms: [(name, value, .dynamicDefaultBrokerConfig)])
            }
        }
        func entry(_ name: String, staticValue: String?, builtIn: String?, type: TopicConfigDefinition.ValueType, _ documentation: String?) -> ConfigDescription {
            let synonyms = brokerSynonyms(name, staticValue: staticValue, builtIn: builtIn, dynamic: dynamic)
            return ConfigDescription(name: name, value: synonyms.first?.value ?? nil, source: synonyms.first?.source ?? .defaultConfig,
                                     readOnly: BrokerConfigs.isReadOnly(name), type: type.rawValue, documentation: documentation, synonyms: synonyms)
        }
        var entries: [ConfigDescription] = [
            entry("node.id", staticValue: String(configuration.nodeId), builtIn: "0", type: .int, "This broker's id."),
            entry("broker.id", staticValue: String(configuration.nodeId), builtIn: "0", type: .int, "This broker's id (older name)."),
            entry("log.dirs", staticValue: configuration.dataDirectory, builtIn: "./data", type: .string, "The data directory."),
            entry("advertised.listeners", staticValue: configuration.endpoints.map(\.description).joined(separator: ","),
                  builtIn: "PLAINTEXT://localhost:9092", type: .string, "The address clients are told to use (set at start-up)."),
            entry("num.partitions", staticValue: String(configuration.defaultPartitions), builtIn: "1", type: .int,
                  "Partitions of auto-created topics and of CreateTopics requests that leave the count to the broker."),
            entry("auto.create.topics.enable", staticValue: configuration.autoCreateTopics ? "true" : "false", builtIn: "true", type: .boolean,
                  "Whether Metadata and Produce requests create unknown topics."),
            entry("default.replication.factor", staticValue: "1", builtIn: "1", type: .int, "Replicas per partition; a single broker has one."),
            entry("socket.request.max.bytes", staticValue: String(configuration.maxRequestBytes), builtIn: String(100 * 1024 * 1024), type: .int,
                  "The largest request accepted; larger ones close the connection."),
            entry("connections.max.idle.ms", staticValue: String(configuration.connectionsMaxIdleMilliseconds), builtIn: "600000", type: .long,
                  "Connections idle this long are closed."),
            entry("log.retention.check.interval.ms", staticValue: String(configuration.retentionCheckIntervalMilliseconds), builtIn: "300000", type: .long,
                  "How often retention and compaction run."),
        ]
        let builtInTopicValues = TopicConfigs.defaultValues(LogConfig())
        let staticTopicValues = TopicConfigs.defaultValues(configuration.logDefaults)
        for definition in TopicConfigs.definitions {
            guard let name = definition.brokerSynonym else { continue }
            let documentation = BrokerConfigs.dynamicDefinition(named: name)?.documentation
                ?? "Default of the topic config \(definition.name) (read-only). \(definition.documentation)"
            entries.append(entry(name, staticValue: staticTopicValues[definition.name], builtIn: builtInTopicValues[definition.name],
                                 type: definition.type, documentation))
        }
        var listed = Set(entries.map(\.name))
        for definition in BrokerConfigs.dynamicDefinitions where !listed.contains(definition.name) {
            let staticValue = definition.name == "producer.id.expiration.ms" ? String(configuration.producerIdExpirationMilliseconds) : definition.kafkaDefault
            entries.append(entry(definition.name, staticValue: staticValue, builtIn: definition.kafkaDefault, type: definition.type, definition.documentation))
        }
        listed.formUnion(entries.map(\.name))
        // Names Kafka does not define are custom configs: stored and reported, read-only as Kafka reports them.
        for name in Set(dynamic.broker.keys).union(dynamic.clusterDefaults.keys) where !listed.contains(name) {
            entries.append(entry(name, staticValue: nil, builtIn: nil, type: .string, "A custom config, stored as given."))
        }
        return entries.sorted { $0.name < $1.name }
    }
}
