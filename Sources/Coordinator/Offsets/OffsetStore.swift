public import LogStore
import NIOConcurrencyHelpers

/// Committed offsets of every group, in memory; the coordinator applies a commit here only after its
/// record is durable in `__consumer_offsets`, and rebuilds the store from those records at start.
///
/// Sendable: guarded by `lock`.
public final class OffsetStore: @unchecked Sendable {
    private let lock = NIOLock()
    private var offsets: [String: [TopicPartition: CommittedOffset]] = [:]

    public init() {}

    public func committed(group: String) -> [TopicPartition: CommittedOffset] {
        lock.withLock { offsets[group] ?? [:] }
    }

    public var groupsWithOffsets: [String] {
        lock.withLock { offsets.filter { !$0.value.isEmpty }.map(\.key).sorted() }
    }

    /// Sets (or, for nil, removes) offsets of a group.
    public func apply(group: String, _ changes: [TopicPartition: CommittedOffset?]) {
        lock.withLock {
            var current = offsets[group] ?? [:]
            for (partition, offset) in changes { current[partition] = offset }
            offsets[group] = current.isEmpty ? nil : current
        }
    }

    public func removeGroup(_ group: String) -> [TopicPartition] {
        lock.withLock { offsets.removeValue(forKey: group).map { Array($0.keys) } ?? [] }
    }

    /// Every (group, partition) whose topic is `topic` (to delete them with the topic).
    public func partitions(ofTopic topic: String) -> [(group: String, partition: TopicPartition)] {
        lock.withLock {
            offsets.flatMap { group, partitions in partitions.keys.filter { $0.topic == topic }.map { (group, $0) } }
        }
    }
}
