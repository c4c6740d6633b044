// DeleteRecords (key 21), versions 0-2.
//
// Behavior: moves each partition's log start offset up to the given offset (-1: the high watermark);
// whole segments below it are deleted and the new start survives restarts (log-start-offset-checkpoint).
// An offset above the high watermark gets OFFSET_OUT_OF_RANGE; the answer carries the new low watermark.
// Internal topics refuse it with INVALID_TOPIC_EXCEPTION, as Kafka's ("Cannot delete records of internal
// topic"). It works on a full disk and on a partition taken offline: it only frees space.
// Authorization (with the ACL authorizer): DELETE on the topic, else TOPIC_AUTHORIZATION_FAILED.
// Version notes: v2+ flexible.

import AccessControl
import Coordinator
import KafkaProtocol
import LogStore
import NIOCore

enum DeleteRecordsHandler {
    static func handle(_ request: DeleteRecordsRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let response = broker.blocking(on: context.eventLoop) { () -> DeleteRecordsResponse in
            var response = DeleteRecordsResponse(throttleTimeMs: 0, topics: [])
            var moved = false
            for topic in request.topics {
                var topicResult = DeleteRecordsResponse.DeleteRecordsTopicResult(name: topic.name, partitions: [])
                let allowed = context.authorized(.delete, .topic, topic.name)
                for partition in topic.partitions {
                    var result = DeleteRecordsResponse.DeleteRecordsPartitionResult(partitionIndex: partition.partitionIndex, lowWatermark: -1, errorCode: 0)
                    if !allowed {
                        result.errorCode = KafkaErrorCode.topicAuthorizationFailed.rawValue
                    } else if broker.topics.topic(named: topic.name)?.isInternal == true {
                        context.logger.info("refused DeleteRecords on an internal topic", metadata: ["topic": "\(topic.name)"])
                        result.errorCode = KafkaErrorCode.invalidTopicException.rawValue
                    } else if let log = broker.log(topic: topic.name, partition: partition.partitionIndex) {
                        let target = partition.offset == -1 ? log.offsets.highWatermark : partition.offset
                        do throws(LogError) {
                            result.lowWatermark = try log.deleteRecords(before: target)
                            moved = true
                        } catch {
                            result.errorCode = error.kafkaErrorCode.rawValue
                        }
                    } else {
                        result.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                    }
                    topicResult.partitions.append(result)
                }
                response.topics.append(topicResult)
            }
            if moved {
                do {
                    try broker.logs.checkpointLogStartOffsets()
                } catch {
                    context.logger.error("writing the log start offsets failed", metadata: ["error": "\(error)"])
                }
            }
            return response
        }
        return context.serial(response)
    }
}
