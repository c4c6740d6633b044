// OffsetCommit (key 8), versions 0-9.
//
// Behavior: stores committed offsets in __consumer_offsets and answers once the record is durable.
// Members of a group must give their member id and current generation (UNKNOWN_MEMBER_ID,
// ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS while the group completes a rebalance); a commit with
// generation -1 and no member id stores offsets for an empty group (simple consumers, admin tools).
// Metadata longer than offset.metadata.max.bytes gets OFFSET_METADATA_TOO_LARGE; partitions that do not
// exist UNKNOWN_TOPIC_OR_PARTITION.
// Version notes: v1 carries a commit timestamp per partition and v2-4 a retention time, both ignored as
// by Kafka 2.1+ (offsets of empty groups expire after offsets.retention.minutes); v6+ leader epoch;
// v7+ group instance id; v8+ flexible; v9 names the generation "generation id or member epoch".
// Authorization (with the ACL authorizer): READ on the group (else GROUP_AUTHORIZATION_FAILED for every
// partition) and READ on each topic (else TOPIC_AUTHORIZATION_FAILED for its partitions, which are not committed).

import AccessControl
import Coordinator
import KafkaProtocol
import LogStore
import NIOCore

enum OffsetCommitHandler {
    static func handle(_ request: OffsetCommitRequest, context: RequestContext) -> StartedRequest {
        let now = LogManager.wallClockMilliseconds()
        func everyPartition(_ code: KafkaErrorCode) -> OffsetCommitResponse {
            OffsetCommitResponse(throttleTimeMs: 0, topics: request.topics.map { topic in
                .init(name: topic.name, partitions: topic.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: code.rawValue) })
            })
        }
        guard context.authorized(.read, .group, request.groupId) else {
            return context.serial(everyPartition(.groupAuthorizationFailed))
        }
        var offsets: [TopicPartition: CommittedOffset] = [:]
        let refused = Set(request.topics.map(\.name).filter { !context.authorized(.read, .topic, $0) })
        for topic in request.topics where !refused.contains(topic.name) {
            for partition in topic.partitions {
                offsets[TopicPartition(topic: topic.name, partition: partition.partitionIndex)] = CommittedOffset(
                    offset: partition.committedOffset, leaderEpoch: partition.committedLeaderEpoch,
                    metadata: partition.committedMetadata ?? "", commitTimestamp: now)
            }
        }
        let generation = context.version == 0 ? -1 : request.generationIdOrMemberEpoch
        let commit = GroupCoordinator.CommitRequest(memberId: request.memberId, generationId: generation, groupInstanceId: request.groupInstanceId, offsets: offsets)
        let response = context.coordinator.commit(groupId: request.groupId, commit).map { codes -> OffsetCommitResponse in
            OffsetCommitResponse(throttleTimeMs: 0, topics: request.topics.map { topic in
                .init(name: topic.name, partitions: topic.partitions.map { partition in
                    .init(partitionIndex: partition.partitionIndex,
                          errorCode: refused.contains(topic.name) ? KafkaErrorCode.topicAuthorizationFailed.rawValue : (codes[TopicPartition(topic: topic.name, partition: partition.partitionIndex)] ?? .unknownServerError).rawValue)
                })
            })
        }
        return context.serial(response)
    }
}
