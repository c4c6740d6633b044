public import KafkaProtocol
public import LogStore

/// A partition directory found on disk, with the topic id its `partition.metadata` names (nil when the file
/// is missing or unreadable).
public struct PartitionDirectory: Sendable, Equatable {
    public var topicPartition: TopicPartition
    public var topicId: KafkaUUID?

    public init(topicPartition: TopicPartition, topicId: KafkaUUID?) {
        self.topicPartition = topicPartition
        self.topicId = topicId
    }
}

/// What start-up does so that the topic registry and the partition directories agree, without deleting
/// anything: the registry is completed from the directories (their names and `partition.metadata` topic
/// ids, as Kafka keeps them), and a directory whose topic id contradicts the registry is moved aside.
public enum TopicReconciliation {
    public enum Action: Sendable, Equatable {
        /// Directories of a topic the registry does not know (a lost or stale `topics.json`, a crash during
        /// creation): the topic is recorded with the directories' id and enough partitions for all of them.
        /// Its configs are not known any more; they start from the broker defaults.
        case adoptTopic(name: String, topicId: KafkaUUID, partitions: Int32)
        /// Directories beyond the registry's partition count (a crash while adding partitions).
        case extendTopic(name: String, partitions: Int32)
        /// A directory without `partition.metadata`: it gets the registry's id.
        case recordTopicId(TopicPartition, KafkaUUID)
        /// A directory whose topic id is not the registry's: kept under another name (`-stray`), not served.
        case moveAside(TopicPartition, found: KafkaUUID, expected: KafkaUUID)
        /// A directory whose name is not a valid topic: left where it is, not served.
        case ignore(TopicPartition, reason: String)
    }

    public static func plan(registry: [TopicMetadata], directories: [PartitionDirectory], newTopicId: () -> KafkaUUID = KafkaUUID.random) -> [Action] {
        let known = Dictionary(uniqueKeysWithValues: registry.map { ($0.name, $0) })
        var byTopic: [String: [PartitionDirectory]] = [:]
        for directory in directories { byTopic[directory.topicPartition.topic, default: []].append(directory) }
        var actions: [Action] = []
        for name in byTopic.keys.sorted() {
            let found = byTopic[name]!.sorted { $0.topicPartition.partition < $1.topicPartition.partition }
            if let topic = known[name] {
                var highest = topic.partitionCount - 1
                for directory in found {
                    guard let id = directory.topicId else {
                        actions.append(.recordTopicId(directory.topicPartition, topic.topicId))
                        highest = max(highest, directory.topicPartition.partition)
                        continue
                    }
                    if id == topic.topicId {
                        highest = max(highest, directory.topicPartition.partition)
                    } else {
                        actions.append(.moveAside(directory.topicPartition, found: id, expected: topic.topicId))
                    }
                }
                if highest >= topic.partitionCount {
                    actions.append(.extendTopic(name: name, partitions: highest + 1))
                }
                continue
            }
            do {
                try TopicRegistry.validateName(name)
            } catch {
                for directory in found { actions.append(.ignore(directory.topicPartition, reason: error.description)) }
                continue
            }
            // The id most of the directories carry (the lowest partition's on a tie); a fresh one if none has any.
            let ids = found.compactMap(\.topicId)
            var counts: [KafkaUUID: Int] = [:]
            for id in ids { counts[id, default: 0] += 1 }
            var chosen: KafkaUUID? = nil
            for id in ids where chosen == nil || counts[id, default: 0] > counts[chosen!, default: 0] { chosen = id }
            let adoptedId = chosen ?? newTopicId()
            var highest: Int32 = 0
            var adopted: [Action] = []
            for directory in found {
                if let id = directory.topicId, id != adoptedId {
                    adopted.append(.moveAside(directory.topicPartition, found: id, expected: adoptedId))
                    continue
                }
                if directory.topicId == nil { adopted.append(.recordTopicId(directory.topicPartition, adoptedId)) }
                highest = max(highest, directory.topicPartition.partition)
            }
            actions.append(.adoptTopic(name: name, topicId: adoptedId, partitions: highest + 1))
            actions.append(contentsOf: adopted)
        }
        return actions
    }
}
