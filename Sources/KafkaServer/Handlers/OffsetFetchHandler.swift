// OffsetFetch (key 9), versions 0-9.
//
// Behavior: the committed offsets of a group: offset, leader epoch and metadata per partition, -1 (and
// empty metadata) where nothing was committed. A null topic list (v2+) asks for every partition the group
// has committed. RequireStable (v7+) never waits: there are no pending transactional commits.
// Version notes: v0-7 one group; v8+ several groups, each with its own error code; v5+ leader epochs;
// v6+ flexible; v9 (KIP-848) adds member id and epoch, unused by classic groups.

import Coordinator
import KafkaProtocol
import LogStore
import NIOCore

enum OffsetFetchHandler {
    struct Answer {
        var name: String
        var partitions: [(index: Int32, offset: CommittedOffset?)]
    }

    static func answer(groupId: String, topics: [(String, [Int32])]?, coordinator: GroupCoordinator) -> [Answer] {
        let committed = coordinator.committedOffsets(groupId: groupId)
        if let topics {
            return topics.map { name, partitions in
                Answer(name: name, partitions: partitions.map { ($0, committed[TopicPartition(topic: name, partition: $0)]) })
            }
        }
        let byTopic = Dictionary(grouping: committed, by: { $0.key.topic })
        return byTopic.keys.sorted().map { name in
            Answer(name: name, partitions: byTopic[name]!.sorted { $0.key.partition < $1.key.partition }.map { ($0.key.partition, $0.value) })
        }
    }

    static func handle(_ request: OffsetFetchRequest, context: RequestContext) -> StartedRequest {
        let coordinator = context.coordinator
        var response = OffsetFetchResponse(throttleTimeMs: 0)
        if context.version >= 8 {
            response.groups = request.groups.map { group in
                let answers = answer(groupId: group.groupId, topics: group.topics.map { $0.map { ($0.name, $0.partitionIndexes) } }, coordinator: coordinator)
                return OffsetFetchResponse.OffsetFetchResponseGroup(groupId: group.groupId, topics: answers.map { answer in
                    .init(name: answer.name, partitions: answer.partitions.map { index, offset in
                        .init(partitionIndex: index, committedOffset: offset?.offset ?? -1, committedLeaderEpoch: offset?.leaderEpoch ?? -1,
                              metadata: offset?.metadata ?? "", errorCode: 0)
                    })
                }, errorCode: group.groupId.isEmpty ? KafkaErrorCode.invalidGroupId.rawValue : 0)
            }
        } else {
            let topics: [(String, [Int32])]? = request.topics.map { $0.map { ($0.name, $0.partitionIndexes) } }
            let answers = answer(groupId: request.groupId, topics: topics, coordinator: coordinator)
            response.topics = answers.map { answer in
                .init(name: answer.name, partitions: answer.partitions.map { index, offset in
                    .init(partitionIndex: index, committedOffset: offset?.offset ?? -1, committedLeaderEpoch: offset?.leaderEpoch ?? -1,
                          metadata: offset?.metadata ?? "", errorCode: 0)
                })
            }
        }
        return context.serial(response)
    }
}
