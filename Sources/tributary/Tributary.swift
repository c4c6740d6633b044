import ArgumentParser
import Foundation
import KafkaProtocol
import Logging
import TributaryServer

@main
struct Tributary: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tributary",
        abstract: "A Kafka-wire-compatible log server with an MQTT broker alongside.",
        version: "0.1.0",
        subcommands: [Serve.self, ApiKeys.self],
        defaultSubcommand: Serve.self
    )
}

/// `tributary serve`: every setting can come from a flag, an environment variable (TRIBUTARY_ + the flag
/// name in capitals, dashes as underscores) or the YAML file given with --config; flags win, then the
/// environment, then the file.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the server.",
        discussion: ServerConfiguration.settings.map { "  \($0.name): \($0.help)" }.joined(separator: "\n")
    )

    @Option(help: "YAML config file whose keys are the flag names (environment: TRIBUTARY_CONFIG).")
    var config: String?

    @Option(help: "Data directory.") var data: String?
    @Option(name: .customLong("kafka-listen"), help: "Kafka listener, HOST:PORT.") var kafkaListen: String?
    @Option(help: "Kafka address advertised to clients, HOST:PORT.") var advertised: String?
    @Option(name: .customLong("node-id"), help: "Broker id.") var nodeId: String?
    @Option(name: .customLong("default-partitions"), help: "Partitions of auto-created topics.") var defaultPartitions: String?
    @Option(name: .customLong("auto-create-topics"), help: "true or false.") var autoCreateTopics: String?
    @Option(name: .customLong("max-request-bytes"), help: "Largest Kafka request.") var maxRequestBytes: String?
    @Option(name: .customLong("connections-max-idle-ms"), help: "Idle connection timeout.") var connectionsMaxIdleMs: String?
    @Option(name: .customLong("log-level"), help: "trace ... critical.") var logLevel: String?
    @Option(name: .customLong("flush-policy"), help: "every-write, interval:MS or os.") var flushPolicy: String?
    @Option(name: .customLong("log-segment-bytes"), help: "Segment size.") var logSegmentBytes: String?
    @Option(name: .customLong("log-segment-ms"), help: "Segment age before rolling.") var logSegmentMs: String?
    @Option(name: .customLong("log-retention-ms"), help: "Retention time (-1: forever).") var logRetentionMs: String?
    @Option(name: .customLong("log-retention-bytes"), help: "Retention size per partition (-1: none).") var logRetentionBytes: String?
    @Option(name: .customLong("log-retention-check-interval-ms"), help: "How often retention runs.") var logRetentionCheckIntervalMs: String?
    @Option(name: .customLong("checkpoint-interval-ms"), help: "How often recovery points are checkpointed.") var checkpointIntervalMs: String?
    @Option(name: .customLong("group-min-session-timeout-ms"), help: "Smallest session timeout accepted.") var groupMinSessionTimeoutMs: String?
    @Option(name: .customLong("group-max-session-timeout-ms"), help: "Largest session timeout accepted.") var groupMaxSessionTimeoutMs: String?
    @Option(name: .customLong("group-initial-rebalance-delay-ms"), help: "Initial rebalance delay of new groups.") var groupInitialRebalanceDelayMs: String?
    @Option(name: .customLong("offsets-topic-partitions"), help: "Partitions of __consumer_offsets.") var offsetsTopicPartitions: String?
    @Option(name: .customLong("offsets-retention-minutes"), help: "Retention of offsets of empty groups.") var offsetsRetentionMinutes: String?

    var flags: [String: String] {
        let pairs: [(String, String?)] = [
            ("data", data), ("kafka-listen", kafkaListen), ("advertised", advertised), ("node-id", nodeId),
            ("default-partitions", defaultPartitions), ("auto-create-topics", autoCreateTopics),
            ("max-request-bytes", maxRequestBytes), ("connections-max-idle-ms", connectionsMaxIdleMs),
            ("log-level", logLevel), ("flush-policy", flushPolicy), ("log-segment-bytes", logSegmentBytes),
            ("log-segment-ms", logSegmentMs), ("log-retention-ms", logRetentionMs), ("log-retention-bytes", logRetentionBytes),
            ("log-retention-check-interval-ms", logRetentionCheckIntervalMs), ("checkpoint-interval-ms", checkpointIntervalMs),
            ("group-min-session-timeout-ms", groupMinSessionTimeoutMs), ("group-max-session-timeout-ms", groupMaxSessionTimeoutMs),
            ("group-initial-rebalance-delay-ms", groupInitialRebalanceDelayMs), ("offsets-topic-partitions", offsetsTopicPartitions),
            ("offsets-retention-minutes", offsetsRetentionMinutes),
        ]
        var result: [String: String] = [:]
        for (name, value) in pairs { if let value { result[name] = value } }
        return result
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration: ServerConfiguration
        do {
            configuration = try ServerConfiguration.resolve(configFile: config ?? environment["TRIBUTARY_CONFIG"], environment: environment, flags: flags)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "tributary")
        do {
            try await TributaryServer.run(configuration: configuration, logger: logger)
        } catch {
            logger.critical("tributary failed", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}

/// Lists the API keys and versions the codec reads and writes.
struct ApiKeys: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "api-keys", abstract: "List the Kafka API keys the codec supports.")

    func run() {
        for key in KafkaApiKey.allCases {
            let versions = key.validVersions
            print("\(key.rawValue)\t\(key.name)\t\(versions.lowerBound)-\(versions.upperBound)")
        }
    }
}
