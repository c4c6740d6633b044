// OffsetForLeaderEpoch (key 23), versions 0-4.
//
// Behavior: every partition has had one leader epoch, 0, since it was created. For a requested epoch of
// 0 or more the answer is epoch 0 ending at the log end offset (consumers use this to detect log
// truncation; there is none). A current leader epoch above 0 in the request gets UNKNOWN_LEADER_EPOCH
// (the client knows a newer leader than exists), one below -1 is ignored as "not given".
// Version notes: v1+ return the leader epoch; v2+ carry the current leader epoch; v3+ the replica id;
// v4 flexible.
// Authorization (with the ACL authorizer): DESCRIBE on the topic, else TOPIC_AUTHORIZATION_FAILED.

import AccessControl
import KafkaProtocol
import NIOCore

enum OffsetForLeaderEpochHandler {
    static func handle(_ request: OffsetForLeaderEpochRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        var response = OffsetForLeaderEpochResponse(throttleTimeMs: 0, topics: [])
        for topic in request.topics {
            var result = OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult(topic: topic.topic, partitions: [])
            for partition in topic.partitions {
                var entry = OffsetForLeaderEpochResponse.EpochEndOffset(errorCode: 0, partition: partition.partition, leaderEpoch: -1, endOffset: -1)
                if !context.authorized(.describe, .topic, topic.topic) {
                    entry.errorCode = KafkaErrorCode.topicAuthorizationFailed.rawValue
                } else if let log = broker.log(topic: topic.topic, partition: partition.partition) {
                    if partition.currentLeaderEpoch > 0 {
                        entry.errorCode = KafkaErrorCode.unknownLeaderEpoch.rawValue
                    } else if partition.leaderEpoch >= 0 {
                        entry.leaderEpoch = 0
                        entry.endOffset = log.offsets.logEndOffset
                    }
                } else {
                    entry.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                }
                result.partitions.append(entry)
            }
            response.topics.append(result)
        }
        return context.serial(response)
    }
}
