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
    /// Every supported config of `topic`, with its effective value and where it comes from.
    static func topic(_ topic: TopicMetadata, broker: Broker) -> [ConfigDescription] {
        let builtIn = TopicConfigs.defaultValues(LogConfig())
        let brokerValues = TopicConfigs.defaultValues(broker.configuration.logDefaults)
        return TopicConfigs.definitions.map { definition in
            let brokerValue = brokerValues[definition.name]
            let brokerSource: ConfigSource = brokerValue == builtIn[definition.name] ? .defaultConfig : .staticBrokerConfig
            var synonyms: [(String, String?, ConfigSource)] = []
            let value: String?
            let source: ConfigSource
            if let explicit = topic.configs[definition.name] {
                value = explicit
                source = .topicConfig
                synonyms.append((definition.name, explicit, .topicConfig))
            } else {
                value = brokerValue
                source = brokerSource
            }
            if let synonym = definition.brokerSynonym {
                synonyms.append((synonym, brokerValue, brokerSource))
            }
            return ConfigDescription(name: definition.name, value: value, source: source, readOnly: false, type: definition.type.rawValue, documentation: definition.documentation, synonyms: synonyms)
        }
    }

    /// The broker's settings, all static (set at start-up).
    static func broker(_ broker: Broker) -> [ConfigDescription] {
        let configuration = broker.configuration
        let defaults = LogConfig()
        let logs = configuration.logDefaults
        func entry(_ name: String, _ value: String, _ builtIn: String, type: TopicConfigDefinition.ValueType, _ documentation: String) -> ConfigDescription {
            let source: ConfigSource = value == builtIn ? .defaultConfig : .staticBrokerConfig
            return ConfigDescription(name: name, value: value, source: source, readOnly: true, type: type.rawValue, documentation: documentation, synonyms: [(name, value, source)])
        }
        let topicValues = TopicConfigs.defaultValues(logs)
        let builtInTopicValues = TopicConfigs.defaultValues(defaults)
        var entries: [ConfigDescription] = [
            entry("node.id", String(configuration.nodeId), "0", type: .int, "This broker's id."),
            entry("broker.id", String(configuration.nodeId), "0", type: .int, "This broker's id (older name)."),
            entry("log.dirs", configuration.dataDirectory, "./data", type: .string, "The data directory."),
            entry("advertised.listeners", "PLAINTEXT://\(configuration.advertisedHost):\(configuration.advertisedPort)", "PLAINTEXT://localhost:9092", type: .list, "The address clients are told to use."),
            entry("num.partitions", String(configuration.defaultPartitions), "1", type: .int, "Partitions of auto-created topics and of CreateTopics requests that leave the count to the broker."),
            entry("auto.create.topics.enable", configuration.autoCreateTopics ? "true" : "false", "true", type: .boolean, "Whether Metadata and Produce requests create unknown topics."),
            entry("default.replication.factor", "1", "1", type: .int, "Replicas per partition; a single broker has one."),
            entry("socket.request.max.bytes", String(configuration.maxRequestBytes), String(100 * 1024 * 1024), type: .int, "The largest request accepted; larger ones close the connection."),
            entry("connections.max.idle.ms", String(configuration.connectionsMaxIdleMilliseconds), "600000", type: .long, "Connections idle this long are closed."),
            entry("log.retention.check.interval.ms", String(configuration.retentionCheckIntervalMilliseconds), "300000", type: .long, "How often retention runs."),
        ]
        for definition in TopicConfigs.definitions {
            guard let name = definition.brokerSynonym, let value = topicValues[definition.name] else { continue }
            entries.append(entry(name, value, builtInTopicValues[definition.name] ?? value, type: definition.type, definition.documentation))
        }
        return entries.sorted { $0.name < $1.name }
    }
}
