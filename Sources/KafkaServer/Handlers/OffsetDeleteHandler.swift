// OffsetDelete (key 47), version 0.
//
// Behavior: deletes committed offsets of a group for partitions whose topics no member subscribes to
// (any partition once the group is empty); a subscribed topic's partitions get GROUP_SUBSCRIBED_TO_TOPIC.
// Unknown groups get GROUP_ID_NOT_FOUND; a non-empty group not using the consumer protocol
// NON_EMPTY_GROUP.
// Authorization (with the ACL authorizer): DELETE on the group (else GROUP_AUTHORIZATION_FAILED) and READ on
// each topic (else TOPIC_AUTHORIZATION_FAILED for its partitions).

import AccessControl
import LogStore
import KafkaProtocol
import NIOCore

enum OffsetDeleteHandler {
    static func handle(_ request: OffsetDeleteRequest, context: RequestContext) -> StartedRequest {
        guard context.authorized(.delete, .group, request.groupId) else {
            return context.serial(OffsetDeleteResponse(errorCode: KafkaErrorCode.groupAuthorizationFailed.rawValue, throttleTimeMs: 0, topics: []))
        }
        let refused = Set(request.topics.map(\.name).filter { !context.authorized(.read, .topic, $0) })
        let partitions = request.topics.filter { !refused.contains($0.name) }.flatMap { topic in
            topic.partitions.map { TopicPartition(topic: topic.name, partition: $0.partitionIndex) }
        }
        let response = context.coordinator.deleteOffsets(groupId: request.groupId, partitions: partitions).map { groupCode, codes -> OffsetDeleteResponse in
            OffsetDeleteResponse(errorCode: groupCode.rawValue, throttleTimeMs: 0, topics: groupCode != .noError ? [] : request.topics.map { topic in
                .init(name: topic.name, partitions: topic.partitions.map { partition in
                    .init(partitionIndex: partition.partitionIndex,
                          errorCode: refused.contains(topic.name) ? KafkaErrorCode.topicAuthorizationFailed.rawValue : (codes[TopicPartition(topic: topic.name, partition: partition.partitionIndex)] ?? .noError).rawValue)
                })
            })
        }
        return context.serial(response)
    }
}
