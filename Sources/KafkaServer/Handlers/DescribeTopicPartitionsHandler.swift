// DescribeTopicPartitions (key 75), version 0 (KIP-966).
//
// Behavior: like Metadata for the named topics (all topics when none are named), sorted by name, paged:
// at most ResponsePartitionLimit partitions (capped at 2000) per answer, continuing from the request's
// cursor and returning the next cursor when more remain. Eligible leader replicas are this broker.
// Unknown topics get UNKNOWN_TOPIC_OR_PARTITION. A listing of all topics leaves out the hidden internal ones
// and (with the ACL authorizer) those the principal may not DESCRIBE; named ones get
// TOPIC_AUTHORIZATION_FAILED. Authorized operations are the principal's.

import AccessControl
import KafkaProtocol
import NIOCore

enum DescribeTopicPartitionsHandler {
    static func handle(_ request: DescribeTopicPartitionsRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let node = broker.configuration.nodeId
        var response = DescribeTopicPartitionsResponse(throttleTimeMs: 0, topics: [], nextCursor: nil)
        var names = request.topics.isEmpty
            ? broker.topics.allTopics.map(\.name).filter { !Broker.isHidden(topic: $0) && context.authorized(.describe, .topic, $0, quietly: true) }
            : request.topics.map(\.name)
        names = Array(Set(names)).sorted()
        if let cursor = request.cursor {
            names = names.filter { $0 >= cursor.topicName }
        }
        var budget = Int(min(max(request.responsePartitionLimit, 1), 2000))
        for name in names {
            guard !Broker.isHidden(topic: name) && context.authorized(.describe, .topic, name) else {
                response.topics.append(.init(errorCode: KafkaErrorCode.topicAuthorizationFailed.rawValue, name: name, topicId: .zero, isInternal: false, partitions: [], topicAuthorizedOperations: Int32.min))
                continue
            }
            guard let topic = broker.topics.topic(named: name) else {
                response.topics.append(.init(errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue, name: name, topicId: .zero, isInternal: false, partitions: [], topicAuthorizedOperations: Int32.min))
                continue
            }
            let first = request.cursor?.topicName == name ? max(0, request.cursor!.partitionIndex) : 0
            var entry = DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponseTopic(
                errorCode: 0, name: name, topicId: topic.topicId, isInternal: topic.isInternal, partitions: [],
                topicAuthorizedOperations: broker.acls == nil ? MetadataHandler.allTopicOperations
                    : context.authorizedOperations(.topic, name, candidates: AclOperation.topicOperations))
            var partition = first
            while partition < topic.partitionCount {
                if budget == 0 {
                    response.nextCursor = .init(topicName: name, partitionIndex: partition)
                    break
                }
                let online = broker.log(topic: name, partition: partition) != nil
                entry.partitions.append(.init(
                    errorCode: online ? 0 : KafkaErrorCode.kafkaStorageError.rawValue, partitionIndex: partition,
                    leaderId: online ? node : -1, leaderEpoch: 0, replicaNodes: [node], isrNodes: online ? [node] : [],
                    eligibleLeaderReplicas: [], lastKnownElr: [], offlineReplicas: online ? [] : [node]))
                budget -= 1
                partition += 1
            }
            response.topics.append(entry)
            if response.nextCursor != nil { break }
        }
        return context.serial(response)
    }
}
