// OffsetFetch (key 9), versions 0-9.
//
// Behavior: the committed offsets of a group: offset, leader epoch and metadata per partition, -1 (and
// empty metadata) where nothing was committed. A null topic list (v2+) asks for every partition the group
// has committed. RequireStable (v7+) never waits: there are no pending transactional commits.
// Version notes: v0-7 one group; v8+ several groups, each with its own error code; v5+ leader epochs;
// v6+ flexible; v9 (KIP-848) adds member id and epoch, unused by classic groups.
// Authorization (with the ACL authorizer): DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED) and on
// each topic asked for (else TOPIC_AUTHORIZATION_FAILED); asked for all, topics without DESCRIBE are left out.

import AccessControl
import Coordinator
import KafkaProtocol
import LogStore
import NIOCore

enum OffsetFetchHandler {
    struct Answer {
        var name: String
        var partitions: [(index: Int32, offset: CommittedOffset?)]
        /// TOPIC_AUTHORIZATION_FAILED for a topic asked for that the principal may not DESCRIBE.
        var errorCode: Int16 = 0
    }

    static func answer(groupId: String, topics: [(String, [Int32])]?, context: RequestContext) -> [Answer] {
        let committed = context.coordinator.committedOffsets(groupId: groupId)
        if let topics {
            return topics.map { name, partitions in
                guard context.authorized(.describe, .topic, name) else {
                    return Answer(name: name, partitions: partitions.map { ($0, nil) }, errorCode: KafkaErrorCode.topicAuthorizationFailed.rawValue)
                }
                return Answer(name: name, partitions: partitions.map { ($0, committed[TopicPartition(topic: name, partition: $0)]) })
            }
        }
        let byTopic = Dictionary(grouping: committed, by: { $0.key.topic })
        return byTopic.keys.sorted().filter { context.authorized(.describe, .topic, $0, quietly: true) }.map { name in
            Answer(name: name, partitions: byTopic[name]!.sorted { $0.key.partition < $1.key.partition }.map { ($0.key.partition, $0.value) })
        }
    }

    static func handle(_ request: OffsetFetchRequest, context: RequestContext) -> StartedRequest {
        var response = OffsetFetchResponse(throttleTimeMs: 0)
        if context.version >= 8 {
            response.groups = request.groups.map { group in
                guard context.authorized(.describe, .group, group.groupId) else {
                    return OffsetFetchResponse.OffsetFetchResponseGroup(groupId: group.groupId, topics: [], errorCode: KafkaErrorCode.groupAuthorizationFailed.rawValue)
                }
                let answers = answer(groupId: group.groupId, topics: group.topics.map { $0.map { ($0.name, $0.partitionIndexes) } }, context: context)
                return OffsetFetchResponse.OffsetFetchResponseGroup(groupId: group.groupId, topics: answers.map { answer in
                    .init(name: answer.name, partitions: answer.partitions.map { index, offset in
                        .init(partitionIndex: index, committedOffset: offset?.offset ?? -1, committedLeaderEpoch: offset?.leaderEpoch ?? -1,
                              metadata: offset?.metadata ?? "", errorCode: answer.errorCode)
                    })
                }, errorCode: group.groupId.isEmpty ? KafkaErrorCode.invalidGroupId.rawValue : 0)
            }
        } else {
            let topics: [(String, [Int32])]? = request.topics.map { $0.map { ($0.name, $0.partitionIndexes) } }
            guard context.authorized(.describe, .group, request.groupId) else {
                // v2+ say it once for the group; v0-1 for each partition asked for.
                let code = KafkaErrorCode.groupAuthorizationFailed.rawValue
                if context.version >= 2 {
                    response.errorCode = code
                } else {
                    response.topics = (topics ?? []).map { name, partitions in
                        .init(name: name, partitions: partitions.map { .init(partitionIndex: $0, committedOffset: -1, committedLeaderEpoch: -1, metadata: "", errorCode: code) })
                    }
                }
                return context.serial(response)
            }
            let answers = answer(groupId: request.groupId, topics: topics, context: context)
            response.topics = answers.map { answer in
                .init(name: answer.name, partitions: answer.partitions.map { index, offset in
                    .init(partitionIndex: index, committedOffset: offset?.offset ?? -1, committedLeaderEpoch: offset?.leaderEpoch ?? -1,
                          metadata: offset?.metadata ?? "", errorCode: answer.errorCode)
                })
            }
        }
        return context.serial(response)
    }
}
