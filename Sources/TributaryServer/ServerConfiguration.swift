import Foundation
public import KafkaServer
public import LogStore
public import Logging
import Yams

/// `host:port`.
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(parsing text: String) {
        // "[::1]:9092", "localhost:9092", ":9092"
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let colon = trimmed.lastIndex(of: ":"), let port = Int(trimmed[trimmed.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(trimmed[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Everything `tributary serve` can be told. Each setting has one name used three ways: the flag
/// `--kafka-listen`, the environment variable `TRIBUTARY_KAFKA_LISTEN`, and the YAML key `kafka-listen`.
/// Flags win over the environment, which wins over the file, which wins over the defaults.
public struct ServerConfiguration: Sendable {
    public var dataDirectory = "./data"
    public var kafkaListen = HostPort(host: "0.0.0.0", port: 9092)
    /// What clients are told to connect to; by default the listener's address, with "localhost" for a
    /// wildcard host.
    public var advertised: HostPort? = nil
    public var nodeId: Int32 = 0
    public var defaultPartitions: Int32 = 1
    public var autoCreateTopics = true
    public var maxRequestBytes = 100 * 1024 * 1024
    public var connectionsMaxIdleMilliseconds: Int64 = 600_000
    public var logLevel: Logger.Level = .info
    public var logDefaults = LogConfig()
    public var retentionCheckIntervalMilliseconds: Int64 = 300_000
    /// How often recovery points and log start offsets are checkpointed.
    public var checkpointIntervalMilliseconds: Int64 = 10_000
    public var groupSettings = GroupCoordinator.Settings()

    public init() {}

    /// The settings, their meaning, and how each is parsed. Names are the flag names without dashes.
    public static let settings: [(name: String, help: String)] = [
        ("data", "Data directory (default ./data)."),
        ("kafka-listen", "Kafka listener, HOST:PORT (default 0.0.0.0:9092)."),
        ("advertised", "Kafka address advertised to clients, HOST:PORT (default: the listener, localhost for 0.0.0.0)."),
        ("node-id", "Broker id (default 0)."),
        ("default-partitions", "Partitions of auto-created topics, num.partitions (default 1)."),
        ("auto-create-topics", "Create unknown topics on Metadata and Produce, true or false (default true)."),
        ("max-request-bytes", "Largest Kafka request, socket.request.max.bytes (default 104857600)."),
        ("connections-max-idle-ms", "Close Kafka connections idle this long (default 600000)."),
        ("log-level", "trace, debug, info, notice, warning, error or critical (default info)."),
        ("flush-policy", "every-write (group commit, the default), interval:MILLISECONDS, or os."),
        ("log-segment-bytes", "Segment size, log.segment.bytes (default 1073741824)."),
        ("log-segment-ms", "Segment age before rolling, log.roll.ms (default 604800000)."),
        ("log-retention-ms", "Retention time, log.retention.ms; -1 keeps forever (default 604800000)."),
        ("log-retention-bytes", "Retention size per partition, log.retention.bytes; -1 for none (default -1)."),
        ("log-retention-check-interval-ms", "How often retention runs (default 300000)."),
        ("checkpoint-interval-ms", "How often recovery points are checkpointed (default 10000)."),
        ("group-min-session-timeout-ms", "Smallest consumer session timeout accepted, group.min.session.timeout.ms (default 6000)."),
        ("group-max-session-timeout-ms", "Largest consumer session timeout accepted, group.max.session.timeout.ms (default 1800000)."),
        ("group-initial-rebalance-delay-ms", "How long a new group's first rebalance waits for more members (default 3000)."),
        ("offsets-topic-partitions", "Partitions of __consumer_offsets, offsets.topic.num.partitions (default 50)."),
        ("offsets-retention-minutes", "How long offsets of empty groups are kept, offsets.retention.minutes (default 10080)."),
    ]

    /// Builds the configuration from a YAML file (optional), environment variables and flags, each a map
    /// from setting name to text.
    public static func resolve(configFile: String?, environment: [String: String], flags: [String: String]) throws -> ServerConfiguration {
        var values: [String: String] = [:]
        if let configFile {
            for (key, value) in try readFile(configFile) { values[key] = value }
        }
        for (name, _) in settings {
            let variable = "TRIBUTARY_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
            if let value = environment[variable] { values[name] = value }
        }
        for (key, value) in flags { values[key] = value }
        var configuration = ServerConfiguration()
        try configuration.apply(values)
        return configuration
    }

    /// Reads the scalar settings of a YAML config file. Unknown keys are errors (a typo should not be
    /// silently ignored).
    static func readFile(_ path: String) throws -> [String: String] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError("cannot read the config file \(path): \(error.localizedDescription)")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationError("the config file \(path) is not valid YAML: \(error)")
        }
        guard let node else { return [:] }
        guard let mapping = node.mapping else {
            throw ConfigurationError("the config file \(path) must be a mapping of settings")
        }
        let known = Set(settings.map(\.name))
        var values: [String: String] = [:]
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.string else { throw ConfigurationError("\(path): a key that is not a string") }
            guard known.contains(key) else {
                throw ConfigurationError("\(path): unknown setting '\(key)'; known settings: \(settings.map(\.name).joined(separator: ", "))")
            }
            guard let scalar = valueNode.scalar else {
                throw ConfigurationError("\(path): setting '\(key)' must be a single value")
            }
            values[key] = scalar.string
        }
        return values
    }

    mutating func apply(_ values: [String: String]) throws {
        func integer<T: FixedWidthInteger>(_ name: String, _ text: String, min: T) throws -> T {
            guard let value = T(text.trimmingCharacters(in: .whitespaces)), value >= min else {
                throw ConfigurationError("\(name) must be an integer of at least \(min), not '\(text)'")
            }
            return value
        }
        for (name, text) in values {
            switch name {
            case "data":
                guard !text.isEmpty else { throw ConfigurationError("data must not be empty") }
                dataDirectory = text
            case "kafka-listen":
                guard let address = HostPort(parsing: text) else { throw ConfigurationError("kafka-listen must be HOST:PORT, not '\(text)'") }
                kafkaListen = address
            case "advertised":
                guard let address = HostPort(parsing: text), address.port > 0 else { throw ConfigurationError("advertised must be HOST:PORT, not '\(text)'") }
                advertised = address
            case "node-id": nodeId = try integer(name, text, min: 0)
            case "default-partitions": defaultPartitions = try integer(name, text, min: 1)
            case "auto-create-topics":
                switch text.lowercased() {
                case "true", "yes", "1": autoCreateTopics = true
                case "false", "no", "0": autoCreateTopics = false
                default: throw ConfigurationError("auto-create-topics must be true or false, not '\(text)'")
                }
            case "max-request-bytes": maxRequestBytes = try integer(name, text, min: 1024)
            case "connections-max-idle-ms": connectionsMaxIdleMilliseconds = try integer(name, text, min: 1)
            case "log-level":
                guard let level = Logger.Level(rawValue: text.lowercased()) else {
                    throw ConfigurationError("log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
                }
                logLevel = level
            case "flush-policy":
                if text == "every-write" {
                    logDefaults.flushPolicy = .everyWrite
                } else if text == "os" {
                    logDefaults.flushPolicy = .operatingSystem
                } else if text.hasPrefix("interval:"), let milliseconds = Int64(text.dropFirst("interval:".count)), milliseconds > 0 {
                    logDefaults.flushPolicy = .interval(milliseconds: milliseconds)
                } else {
                    throw ConfigurationError("flush-policy must be every-write, interval:MILLISECONDS or os, not '\(text)'")
                }
            case "log-segment-bytes": logDefaults.segmentBytes = try integer(name, text, min: 1024)
            case "log-segment-ms": logDefaults.segmentMilliseconds = try integer(name, text, min: 1)
            case "log-retention-ms": logDefaults.retentionMilliseconds = try integer(name, text, min: -1)
            case "log-retention-bytes": logDefaults.retentionBytes = try integer(name, text, min: -1)
            case "log-retention-check-interval-ms": retentionCheckIntervalMilliseconds = try integer(name, text, min: 1)
            case "checkpoint-interval-ms": checkpointIntervalMilliseconds = try integer(name, text, min: 1)
            case "group-min-session-timeout-ms": groupSettings.groups.minSessionTimeoutMilliseconds = try integer(name, text, min: 1)
            case "group-max-session-timeout-ms": groupSettings.groups.maxSessionTimeoutMilliseconds = try integer(name, text, min: 1)
            case "group-initial-rebalance-delay-ms": groupSettings.groups.initialRebalanceDelayMilliseconds = try integer(name, text, min: 0)
            case "offsets-topic-partitions": groupSettings.offsetsTopicPartitions = try integer(name, text, min: 1)
            case "offsets-retention-minutes": groupSettings.offsetsRetentionMilliseconds = try integer(name, text, min: 1) * 60_000
            default:
                throw ConfigurationError("unknown setting '\(name)'")
            }
        }
    }

    public var advertisedAddress: HostPort {
        if let advertised { return advertised }
        let wildcard = kafkaListen.host == "0.0.0.0" || kafkaListen.host == "::"
        return HostPort(host: wildcard ? "localhost" : kafkaListen.host, port: kafkaListen.port)
    }

    public var summary: Logger.Metadata {
        [
            "data": "\(dataDirectory)", "kafkaListen": "\(kafkaListen)", "advertised": "\(advertisedAddress)",
            "nodeId": "\(nodeId)", "defaultPartitions": "\(defaultPartitions)", "autoCreateTopics": "\(autoCreateTopics)",
            "flushPolicy": "\(logDefaults.flushPolicy)", "segmentBytes": "\(logDefaults.segmentBytes)",
            "retentionMs": "\(logDefaults.retentionMilliseconds)", "retentionBytes": "\(logDefaults.retentionBytes)",
        ]
    }
}
