// CreatePartitions (key 37), versions 0-3.
//
// Behavior: raises a topic's partition count (never lowers it: INVALID_PARTITIONS). Manual assignments,
// when given, must place each new partition on this broker alone (INVALID_REPLICA_ASSIGNMENT).
// ValidateOnly checks without changing anything. A topic named twice gets INVALID_REQUEST; so do the
// internal topics, whose partition counts the server chose (their keys are placed by them).
// Authorization (with the ACL authorizer): ALTER on the topic, else TOPIC_AUTHORIZATION_FAILED.
// Version notes: v2+ flexible.

import AccessControl
import Coordinator
import KafkaProtocol
import NIOCore

enum CreatePartitionsHandler {
    static func handle(_ request: CreatePartitionsRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let response = broker.blocking(on: context.eventLoop) { () -> CreatePartitionsResponse in
            var counts: [String: Int] = [:]
            for topic in request.topics { counts[topic.name, default: 0] += 1 }
            var response = CreatePartitionsResponse(throttleTimeMs: 0, results: [])
            for topic in request.topics {
                var result = CreatePartitionsResponse.CreatePartitionsTopicResult(name: topic.name, errorCode: 0, errorMessage: nil)
                if counts[topic.name, default: 0] > 1 {
                    result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                    result.errorMessage = "Duplicate topic in request."
                } else if !context.authorized(.alter, .topic, topic.name) {
                    result.errorCode = KafkaErrorCode.topicAuthorizationFailed.rawValue
                    result.errorMessage = "Authorization failed."
                } else if broker.topics.topic(named: topic.name)?.isInternal == true {
                    result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                    result.errorMessage = "Cannot add partitions to internal topic \(topic.name)."
                } else if let existing = broker.topics.topic(named: topic.name), topic.count <= existing.partitionCount {
                    result.errorCode = KafkaErrorCode.invalidPartitions.rawValue
                    result.errorMessage = "Topic currently has \(existing.partitionCount) partitions, which is higher than the requested \(topic.count)."
                } else if let assignments = topic.assignments, !assignments.allSatisfy({ $0.brokerIds == [broker.configuration.nodeId] }) {
                    result.errorCode = KafkaErrorCode.invalidReplicaAssignment.rawValue
                    result.errorMessage = "Every new partition must be placed on broker \(broker.configuration.nodeId) alone."
                } else if let existing = broker.topics.topic(named: topic.name), let assignments = topic.assignments, assignments.count != Int(topic.count) - Int(existing.partitionCount) {
                    result.errorCode = KafkaErrorCode.invalidReplicaAssignment.rawValue
                    result.errorMessage = "Increasing the number of partitions by \(Int(topic.count) - Int(existing.partitionCount)) but \(assignments.count) assignments provided."
                } else {
                    do throws(TopicError) {
                        _ = try broker.addPartitions(name: topic.name, count: topic.count, validateOnly: request.validateOnly)
                    } catch {
                        result.errorCode = error.errorCode.rawValue
                        result.errorMessage = error.description
                    }
                }
                response.results.append(result)
            }
            return response
        }
        return context.serial(response)
    }
}
