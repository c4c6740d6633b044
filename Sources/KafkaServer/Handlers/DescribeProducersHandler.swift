// DescribeProducers (key 61), version 0.
//
// Behavior: for each requested partition, the producers with state there: id, epoch, last sequence and
// the timestamp of their last batch. Coordinator epoch and transaction start are -1 (no transactions).
// Unknown partitions get UNKNOWN_TOPIC_OR_PARTITION.
// Authorization (with the ACL authorizer): READ on the topic, else TOPIC_AUTHORIZATION_FAILED.

import AccessControl
import KafkaProtocol
import NIOCore

enum DescribeProducersHandler {
    static func handle(_ request: DescribeProducersRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        var response = DescribeProducersResponse(throttleTimeMs: 0, topics: [])
        for topic in request.topics {
            var topicResponse = DescribeProducersResponse.TopicResponse(name: topic.name, partitions: [])
            for index in topic.partitionIndexes {
                var partition = DescribeProducersResponse.PartitionResponse(partitionIndex: index, errorCode: 0, errorMessage: nil, activeProducers: [])
                if !context.authorized(.read, .topic, topic.name) {
                    partition.errorCode = KafkaErrorCode.topicAuthorizationFailed.rawValue
                } else if let state = broker.producerState(topic: topic.name, partition: index) {
                    partition.activeProducers = state.producers.sorted { $0.key < $1.key }.map { producerId, entry in
                        DescribeProducersResponse.ProducerState(
                            producerId: producerId, producerEpoch: Int32(entry.epoch), lastSequence: entry.lastSequence,
                            lastTimestamp: entry.lastTimestamp, coordinatorEpoch: -1, currentTxnStartOffset: -1)
                    }
                } else {
                    partition.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                    partition.errorMessage = "\(topic.name)-\(index) does not exist"
                }
                topicResponse.partitions.append(partition)
            }
            response.topics.append(topicResponse)
        }
        return context.serial(response)
    }
}
