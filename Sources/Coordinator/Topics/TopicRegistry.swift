import Foundation
public import KafkaProtocol
import LogStore
public import Logging
import NIOConcurrencyHelpers

/// A topic as the broker knows it: a stable id, a partition count and the configs set on it.
public struct TopicMetadata: Sendable, Equatable {
    public var name: String
    public var topicId: KafkaUUID
    public var partitionCount: Int32
    /// Only the configs set explicitly on the topic; the rest come from broker defaults.
    public var configs: [String: String]

    public init(name: String, topicId: KafkaUUID, partitionCount: Int32, configs: [String: String]) {
        self.name = name
        self.topicId = topicId
        self.partitionCount = partitionCount
        self.configs = configs
    }

    /// Kafka treats `__`-prefixed topics (offsets, transactions, and here MQTT state) as internal: only the
    /// server writes them, creates them or changes their structure and configs.
    public var isInternal: Bool { Self.isInternal(name: name) }

    public static func isInternal(name: String) -> Bool { name.hasPrefix("__") }
}

public enum TopicError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidName(String, reason: String)
    case alreadyExists(String)
    case unknownTopic(String)
    case invalidPartitions(String)
    case invalidReplicationFactor(String)
    case invalidConfig(String)
    case storage(String)

    public var errorCode: KafkaErrorCode {
        switch self {
        case .invalidName: return .invalidTopicException
        case .alreadyExists: return .topicAlreadyExists
        case .unknownTopic: return .unknownTopicOrPartition
        case .invalidPartitions: return .invalidPartitions
        case .invalidReplicationFactor: return .invalidReplicationFactor
        case .invalidConfig: return .invalidConfig
        case .storage: return .kafkaStorageError
        }
    }

    public var description: String {
        switch self {
        case .invalidName(let name, let reason): return "Topic name '\(name)' is illegal: \(reason)"
        case .alreadyExists(let name): return "Topic '\(name)' already exists."
        case .unknownTopic(let name): return "Topic '\(name)' does not exist."
        case .invalidPartitions(let why): return why
        case .invalidReplicationFactor(let why): return why
        case .invalidConfig(let why): return why
        case .storage(let why): return why
        }
    }
}

/// The topics of this broker, persisted in `topics.json` in the data directory (written atomically).
///
/// Sendable: state is guarded by `lock`; writes to the file happen under it, so the file always matches
/// some state the registry held.
public final class TopicRegistry: @unchecked Sendable {
    public static let fileName = "topics.json"
    public static let maximumNameLength = 249

    let path: String
    let logger: Logger
    private let lock = NIOLock()
    private var topicsByName: [String: TopicMetadata] = [:]
    private var namesById: [KafkaUUID: String] = [:]

    public init(dataDirectory: String, logger: Logger) {
        self.path = dataDirectory + "/" + Self.fileName
        self.logger = logger
    }

    struct Stored: Codable {
        struct Topic: Codable {
            var name: String
            var id: String
            var partitions: Int32
            var configs: [String: String]
        }

        var version: Int
        var topics: [Topic]
    }

    /// What loading found besides the topics: entries it could not use, or a file it could not read
    /// (kept beside under another name). Start-up completes the registry from the partition directories.
    public struct LoadProblems: Sendable {
        public var damagedFileKeptAs: String? = nil
        public var skippedEntries: [String] = []
        public var droppedConfigs: [String] = []
    }

    /// Reads the registry. A missing file is an empty registry; a file that does not parse is renamed
    /// (`topics.json.damaged-<time>`) and the registry starts empty; entries with an invalid name, id or
    /// partition count are skipped and config values that fail validation are dropped. Nothing is lost:
    /// start-up rebuilds what is missing from the partition directories.
    @discardableResult
    public func load() throws(TopicError) -> LoadProblems {
        var problems = LoadProblems()
        let stored: Stored
        do throws(StorageError) {
            switch try StateFile.load(Stored.self, from: path) {
            case .missing:
                return problems
            case .loaded(let value):
                stored = value
            case .damaged(let kept, let error):
                logger.error("the topic registry is damaged; kept it beside and rebuilding it from the partition directories", metadata: [
                    "file": "\(path)", "keptAs": "\(kept)", "error": "\(error)",
                ])
                problems.damagedFileKeptAs = kept
                return problems
            }
        } catch {
            throw .storage("cannot read \(path): \(error)")
        }
        var byName: [String: TopicMetadata] = [:]
        var byId: [KafkaUUID: String] = [:]
        for topic in stored.topics {
            guard let id = KafkaUUID(topic.id), byId[id] == nil, (try? Self.validateName(topic.name)) != nil,
                  topic.partitions > 0, topic.partitions <= 100_000, byName[topic.name] == nil
            else {
                problems.skippedEntries.append(topic.name)
                logger.error("skipped an invalid topic registry entry; its directories are adopted again if they exist", metadata: [
                    "topic": "\(topic.name)", "id": "\(topic.id)", "partitions": "\(topic.partitions)",
                ])
                continue
            }
            var configs = topic.configs
            for (name, value) in topic.configs where TopicConfigs.problem(with: [name: value]) != nil {
                configs[name] = nil
                problems.droppedConfigs.append("\(topic.name): \(name)=\(value)")
                logger.error("dropped an invalid config from the topic registry", metadata: ["topic": "\(topic.name)", "config": "\(name)", "value": "\(value)"])
            }
            byName[topic.name] = TopicMetadata(name: topic.name, topicId: id, partitionCount: topic.partitions, configs: configs)
            byId[id] = topic.name
        }
        lock.withLock {
            topicsByName = byName
            namesById = byId
        }
        return problems
    }

    /// Adds a topic and persists the registry; on a failed write the registry is as before. Lock held.
    private func insertLocked(_ topic: TopicMetadata) throws(TopicError) {
        topicsByName[topic.name] = topic
        namesById[topic.topicId] = topic.name
        do throws(TopicError) {
            try persistLocked()
        } catch {
            topicsByName[topic.name] = nil
            namesById[topic.topicId] = nil
            throw error
        }
    }

    /// Records a topic found on disk that the registry did not know, under the id its directories carry.
    /// No name or config checks beyond the name's validity: the data is already there.
    public func adopt(name: String, topicId: KafkaUUID, partitions: Int32) throws(TopicError) -> TopicMetadata {
        try Self.validateName(name)
        return try lock.withTypedLock { () throws(TopicError) -> TopicMetadata in
            if let existing = topicsByName[name] { return existing }
            var id = topicId
            if namesById[id] != nil { id = KafkaUUID.random() }
            let topic = TopicMetadata(name: name, topicId: id, partitionCount: max(1, partitions), configs: [:])
            try insertLocked(topic)
            return topic
        }
    }

    private func persistLocked() throws(TopicError) {
        let stored = Stored(version: 1, topics: topicsByName.values.sorted { $0.name < $1.name }.map {
            Stored.Topic(name: $0.name, id: $0.topicId.description, partitions: $0.partitionCount, configs: $0.configs)
        })
        do {
            try StateFile.save(stored, to: path)
        } catch {
            throw .storage("cannot write \(path): \(error)")
        }
    }

    public var allTopics: [TopicMetadata] {
        lock.withLock { topicsByName.values.sorted { $0.name < $1.name } }
    }

    public func topic(named name: String) -> TopicMetadata? {
        lock.withLock { topicsByName[name] }
    }

    public func topic(id: KafkaUUID) -> TopicMetadata? {
        lock.withLock { namesById[id].flatMap { topicsByName[$0] } }
    }

    /// Kafka's rules: 1 to 249 characters of ASCII letters, digits, '.', '_' and '-', and not "." or "..".
    public static func validateName(_ name: String) throws(TopicError) {
        if name.isEmpty { throw .invalidName(name, reason: "the empty string is not allowed") }
        if name == "." || name == ".." { throw .invalidName(name, reason: "'.' and '..' are not allowed") }
        if name.utf8.count > maximumNameLength {
            throw .invalidName(name, reason: "it is longer than \(maximumNameLength) characters")
        }
        for scalar in name.unicodeScalars {
            let ok = (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
                || scalar == "." || scalar == "_" || scalar == "-"
            if !ok { throw .invalidName(name, reason: "it contains a character other than ASCII alphanumerics, '.', '_' and '-'") }
        }
    }

    /// Records a new topic. Validates the name (including Kafka's '.'/'_' collision rule), partitions and
    /// configs; `validateOnly` checks without recording (and proposes a fresh topic id, which a later call
    /// may pass back as `topicId` to record the topic under it).
    public func create(name: String, partitions: Int32, configs: [String: String], validateOnly: Bool = false, topicId proposedId: KafkaUUID? = nil) throws(TopicError) -> TopicMetadata {
        try Self.validateName(name)
        guard partitions > 0 else { throw .invalidPartitions("Number of partitions must be larger than 0.") }
        guard partitions <= 100_000 else { throw .invalidPartitions("Number of partitions \(partitions) exceeds the limit of 100000.") }
        if let problem = TopicConfigs.problem(with: configs) { throw .invalidConfig(problem) }
        return try lock.withTypedLock { () throws(TopicError) -> TopicMetadata in
            if topicsByName[name] != nil { throw .alreadyExists(name) }
            let normalized = name.replacingOccurrences(of: ".", with: "_")
            if let clash = topicsByName.keys.first(where: { $0.replacingOccurrences(of: ".", with: "_") == normalized }) {
                throw .invalidName(name, reason: "it collides with existing topic \(clash) ('.' and '_' may collide in metric names)")
            }
            var id = proposedId ?? KafkaUUID.random()
            while namesById[id] != nil { id = KafkaUUID.random() }
            let topic = TopicMetadata(name: name, topicId: id, partitionCount: partitions, configs: configs)
            if validateOnly { return topic }
            try insertLocked(topic)
            logger.info("created topic", metadata: ["topic": "\(name)", "partitions": "\(partitions)", "topicId": "\(id)"])
            return topic
        }
    }

    public func delete(name: String) throws(TopicError) -> TopicMetadata {
        try lock.withTypedLock { () throws(TopicError) -> TopicMetadata in
            guard let topic = topicsByName.removeValue(forKey: name) else { throw .unknownTopic(name) }
            namesById[topic.topicId] = nil
            do throws(TopicError) {
                try persistLocked()
            } catch {
                topicsByName[name] = topic
                namesById[topic.topicId] = name
                throw error
            }
            logger.info("deleted topic", metadata: ["topic": "\(name)", "topicId": "\(topic.topicId)"])
            return topic
        }
    }

    public func setPartitionCount(name: String, count: Int32, validateOnly: Bool) throws(TopicError) -> TopicMetadata {
        let topic = try update(name: name, validateOnly: validateOnly) { (topic: inout TopicMetadata) throws(TopicError) in
            guard count > topic.partitionCount else {
                throw .invalidPartitions("Topic currently has \(topic.partitionCount) partitions, which is higher than the requested \(count).")
            }
            guard count <= 100_000 else { throw .invalidPartitions("Number of partitions \(count) exceeds the limit of 100000.") }
            topic.partitionCount = count
        }
        if !validateOnly {
            logger.info("added partitions", metadata: ["topic": "\(name)", "partitions": "\(count)"])
        }
        return topic
    }

    /// Replaces a topic's explicit configs.
    public func setConfigs(name: String, configs: [String: String], validateOnly: Bool) throws(TopicError) -> TopicMetadata {
        if let problem = TopicConfigs.problem(with: configs) { throw .invalidConfig(problem) }
        return try update(name: name, validateOnly: validateOnly) { (topic: inout TopicMetadata) throws(TopicError) in
            topic.configs = configs
        }
    }

    /// Applies `change` to a topic and persists it, restoring the previous state if the write fails.
    private func update(name: String, validateOnly: Bool, _ change: (inout TopicMetadata) throws(TopicError) -> Void) throws(TopicError) -> TopicMetadata {
        try lock.withTypedLock { () throws(TopicError) -> TopicMetadata in
            guard var topic = topicsByName[name] else { throw .unknownTopic(name) }
            let previous = topic
            try change(&topic)
            if validateOnly { return topic }
            topicsByName[name] = topic
            do throws(TopicError) {
                try persistLocked()
            } catch {
                topicsByName[name] = previous
                throw error
            }
            return topic
        }
    }
}
