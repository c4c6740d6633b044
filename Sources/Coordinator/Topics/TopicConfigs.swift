import Foundation
public import LogStore

/// The topic-level configs Tributary implements, with Kafka's names, types and defaults. A config not in
/// this table is refused with `INVALID_CONFIG` rather than accepted and ignored.
public struct TopicConfigDefinition: Sendable {
    /// DescribeConfigs' ConfigType values.
    public enum ValueType: Int8, Sendable {
        case boolean = 1, string = 2, int = 3, short = 4, long = 5, double = 6, list = 7
    }

    public var name: String
    public var type: ValueType
    /// The broker setting that supplies the default (DescribeConfigs synonyms).
    public var brokerSynonym: String?
    public var documentation: String
    /// Returns why `value` is unacceptable, or nil.
    public var validate: @Sendable (String) -> String?
}

public enum TopicConfigs {
    static func long(min: Int64, max: Int64 = .max) -> @Sendable (String) -> String? {
        { value in
            guard let number = Int64(value) else { return "not a number" }
            guard number >= min && number <= max else { return "must be between \(min) and \(max)" }
            return nil
        }
    }

    static func oneOf(_ allowed: [String]) -> @Sendable (String) -> String? {
        { value in allowed.contains(value) ? nil : "must be one of \(allowed.joined(separator: ", "))" }
    }

    public static let definitions: [TopicConfigDefinition] = [
        TopicConfigDefinition(name: "cleanup.policy", type: .list, brokerSynonym: "log.cleanup.policy",
                              documentation: "delete: remove old segments by time and size; compact: keep the latest record per key; or both, comma-separated.",
                              validate: { value in
                                  let parts = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                                  guard !parts.isEmpty, parts.allSatisfy({ $0 == "delete" || $0 == "compact" }) else {
                                      return "must be delete, compact, or delete,compact"
                                  }
                                  return nil
                              }),
        TopicConfigDefinition(name: "compression.type", type: .string, brokerSynonym: "compression.type",
                              documentation: "producer: batches are stored as the producer compressed them (the only mode; the broker never recompresses).",
                              validate: oneOf(["producer"])),
        TopicConfigDefinition(name: "delete.retention.ms", type: .long, brokerSynonym: "log.cleaner.delete.retention.ms",
                              documentation: "How long a tombstone survives in a compacted topic after the record it deletes was cleaned.",
                              validate: long(min: 0)),
        TopicConfigDefinition(name: "flush.messages", type: .long, brokerSynonym: "log.flush.interval.messages",
                              documentation: "1 (the default) flushes every write, with group commit; a larger value leaves flushing to flush.ms or the operating system.",
                              validate: long(min: 1)),
        TopicConfigDefinition(name: "flush.ms", type: .long, brokerSynonym: "log.flush.interval.ms",
                              documentation: "With flush.messages above 1: flush at most this often (acks=all waits for it). The maximum leaves flushing to the operating system.",
                              validate: long(min: 0)),
        TopicConfigDefinition(name: "index.interval.bytes", type: .int, brokerSynonym: "log.index.interval.bytes",
                              documentation: "Bytes of log between two offset index entries.",
                              validate: long(min: 0, max: Int64(Int32.max))),
        TopicConfigDefinition(name: "max.message.bytes", type: .int, brokerSynonym: "message.max.bytes",
                              documentation: "The largest record batch the topic accepts.",
                              validate: long(min: 0, max: Int64(Int32.max))),
        TopicConfigDefinition(name: "message.timestamp.type", type: .string, brokerSynonym: "log.message.timestamp.type",
                              documentation: "CreateTime keeps producer timestamps; LogAppendTime stamps batches with the broker's clock.",
                              validate: oneOf(["CreateTime", "LogAppendTime"])),
        TopicConfigDefinition(name: "min.compaction.lag.ms", type: .long, brokerSynonym: "log.cleaner.min.compaction.lag.ms",
                              documentation: "Records younger than this are not compacted.",
                              validate: long(min: 0)),
        TopicConfigDefinition(name: "min.insync.replicas", type: .int, brokerSynonym: "min.insync.replicas",
                              documentation: "acks=all produces need this many in-sync replicas; a single broker has one.",
                              validate: long(min: 1, max: Int64(Int32.max))),
        TopicConfigDefinition(name: "retention.bytes", type: .long, brokerSynonym: "log.retention.bytes",
                              documentation: "Largest size of a partition before old segments are deleted; -1 for no limit.",
                              validate: long(min: -1)),
        TopicConfigDefinition(name: "retention.ms", type: .long, brokerSynonym: "log.retention.ms",
                              documentation: "How long segments are kept; -1 keeps them forever.",
                              validate: long(min: -1)),
        TopicConfigDefinition(name: "segment.bytes", type: .int, brokerSynonym: "log.segment.bytes",
                              documentation: "Size at which a segment is closed and a new one started.",
                              validate: long(min: 14, max: Int64(Int32.max))),
        TopicConfigDefinition(name: "segment.ms", type: .long, brokerSynonym: "log.roll.ms",
                              documentation: "Age at which a segment is closed and a new one started.",
                              validate: long(min: 1)),
    ]

    private static let byName: [String: TopicConfigDefinition] = Dictionary(uniqueKeysWithValues: definitions.map { ($0.name, $0) })

    public static func definition(named name: String) -> TopicConfigDefinition? {
        byName[name]
    }

    /// Why a set of topic configs is unacceptable (unknown name or bad value), or nil.
    public static func problem(with configs: [String: String]) -> String? {
        for (name, value) in configs.sorted(by: { $0.key < $1.key }) {
            guard let definition = byName[name] else {
                return "Unknown topic config name: \(name)"
            }
            if let why = definition.validate(value) {
                return "Invalid value \(value) for configuration \(name): \(why)"
            }
        }
        return nil
    }

    /// The string value of every topic config as the broker defaults give it.
    public static func defaultValues(_ defaults: LogConfig, minInsyncReplicas: Int = 1) -> [String: String] {
        var values: [String: String] = [
            "cleanup.policy": cleanupPolicyText(defaults.cleanupPolicy),
            "compression.type": "producer",
            "delete.retention.ms": String(defaults.deleteRetentionMilliseconds),
            "index.interval.bytes": String(defaults.indexIntervalBytes),
            "max.message.bytes": String(defaults.maxMessageBytes),
            "message.timestamp.type": defaults.logAppendTime ? "LogAppendTime" : "CreateTime",
            "min.compaction.lag.ms": String(defaults.minCompactionLagMilliseconds),
            "min.insync.replicas": String(minInsyncReplicas),
            "retention.bytes": String(defaults.retentionBytes),
            "retention.ms": String(defaults.retentionMilliseconds),
            "segment.bytes": String(defaults.segmentBytes),
            "segment.ms": String(defaults.segmentMilliseconds),
        ]
        switch defaults.flushPolicy {
        case .everyWrite:
            values["flush.messages"] = "1"
            values["flush.ms"] = String(Int64.max)
        case .interval(let milliseconds):
            values["flush.messages"] = String(Int64.max)
            values["flush.ms"] = String(milliseconds)
        case .operatingSystem:
            values["flush.messages"] = String(Int64.max)
            values["flush.ms"] = String(Int64.max)
        }
        return values
    }

    static func cleanupPolicyText(_ policy: CleanupPolicy) -> String {
        switch policy {
        case .delete: return "delete"
        case .compact: return "compact"
        case .compactAndDelete: return "compact,delete"
        }
    }

    /// The log settings for a topic: broker defaults overridden by the topic's own configs (validated).
    public static func logConfig(overrides: [String: String], defaults: LogConfig) -> LogConfig {
        var config = defaults
        if let value = overrides["cleanup.policy"] {
            let parts = Set(value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            config.cleanupPolicy = parts == ["compact"] ? .compact : parts == ["delete"] ? .delete : .compactAndDelete
        }
        if let value = overrides["delete.retention.ms"].flatMap(Int64.init) { config.deleteRetentionMilliseconds = value }
        if let value = overrides["index.interval.bytes"].flatMap(Int.init) { config.indexIntervalBytes = value }
        if let value = overrides["max.message.bytes"].flatMap(Int.init) { config.maxMessageBytes = value }
        if let value = overrides["message.timestamp.type"] { config.logAppendTime = value == "LogAppendTime" }
        if let value = overrides["min.compaction.lag.ms"].flatMap(Int64.init) { config.minCompactionLagMilliseconds = value }
        if let value = overrides["retention.bytes"].flatMap(Int64.init) { config.retentionBytes = value }
        if let value = overrides["retention.ms"].flatMap(Int64.init) { config.retentionMilliseconds = value }
        if let value = overrides["segment.bytes"].flatMap(Int.init) { config.segmentBytes = value }
        if let value = overrides["segment.ms"].flatMap(Int64.init) { config.segmentMilliseconds = value }
        let messages = overrides["flush.messages"].flatMap(Int64.init)
        let interval = overrides["flush.ms"].flatMap(Int64.init)
        if messages != nil || interval != nil {
            if messages == 1 {
                config.flushPolicy = .everyWrite
            } else if let interval, interval < Int64.max {
                config.flushPolicy = .interval(milliseconds: interval)
            } else if messages != nil {
                config.flushPolicy = .operatingSystem
            }
        }
        return config
    }
}
