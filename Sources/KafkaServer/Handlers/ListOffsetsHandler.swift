// ListOffsets (key 2), versions 0-9.
//
// Behavior: per partition, the offset for a timestamp: -1 latest (the high watermark, which is also the
// last stable offset while there are no transactions), -2 earliest (log start offset), -3 the record with
// the largest timestamp (v7+), -4 earliest local (v8+; equal to earliest without tiered storage),
// -5 latest tiered (v9+; nothing is tiered, so offset and timestamp -1). A timestamp >= 0 gives the first
// record at or after it, or offset -1 when there is none.
// Authorization: DESCRIBE on the topic (with the ACL authorizer), else TOPIC_AUTHORIZATION_FAILED; the
// hidden internal topics (the user base, the ACLs) always answer it.
// Version notes: v0 answers with OldStyleOffsets (a list holding that one offset); v4+ report leader
// epoch 0; v6+ flexible.

import AccessControl
import KafkaProtocol
import LogStore
import NIOCore

enum ListOffsetsHandler {
    static func handle(_ request: ListOffsetsRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let version = context.version
        let response = broker.blocking(on: context.eventLoop) { () -> ListOffsetsResponse in
            var response = ListOffsetsResponse(throttleTimeMs: 0, topics: [])
            for topic in request.topics {
                var topicResponse = ListOffsetsResponse.ListOffsetsTopicResponse(name: topic.name, partitions: [])
                let allowed = !Broker.isHidden(topic: topic.name) && context.authorized(.describe, .topic, topic.name)
                for partition in topic.partitions {
                    guard allowed else {
                        topicResponse.partitions.append(.init(
                            partitionIndex: partition.partitionIndex, errorCode: KafkaErrorCode.topicAuthorizationFailed.rawValue, oldStyleOffsets: [],
                            timestamp: -1, offset: -1, leaderEpoch: -1))
                        continue
                    }
                    topicResponse.partitions.append(answer(topic: topic.name, partition: partition, version: version, broker: broker))
                }
                response.topics.append(topicResponse)
            }
            return response
        }
        return context.serial(response)
    }

    static func answer(topic: String, partition: ListOffsetsRequest.ListOffsetsPartition, version: Int16, broker: Broker) -> ListOffsetsResponse.ListOffsetsPartitionResponse {
        var result = ListOffsetsResponse.ListOffsetsPartitionResponse(partitionIndex: partition.partitionIndex, errorCode: 0, oldStyleOffsets: [], timestamp: -1, offset: -1, leaderEpoch: -1)
        guard let log = broker.log(topic: topic, partition: partition.partitionIndex) else {
            result.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
            return result
        }
        if partition.currentLeaderEpoch > 0 {
            result.errorCode = KafkaErrorCode.unknownLeaderEpoch.rawValue
            return result
        }
        let offsets = log.offsets
        do {
            switch partition.timestamp {
            case -1:
                result.offset = offsets.highWatermark
            case -2, -4:
                result.offset = offsets.logStartOffset
            case -3:
                if let found = try log.maxTimestampOffset() {
                    result.offset = found.offset
                    result.timestamp = found.timestamp
                }
            case -5:
                break
            default:
                if partition.timestamp < 0 {
                    result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                } else if let found = try log.offset(forTimestamp: partition.timestamp) {
                    result.offset = found.offset
                    result.timestamp = found.timestamp
                }
            }
        } catch {
            result.errorCode = KafkaErrorCode.kafkaStorageError.rawValue
            return result
        }
        if version == 0 {
            result.oldStyleOffsets = result.offset >= 0 ? [result.offset] : []
            result.offset = -1
            result.timestamp = -1
        } else if version >= 4 && result.offset >= 0 {
            result.leaderEpoch = 0
        }
        return result
    }
}
