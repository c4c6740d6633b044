// DeleteTopics (key 20), versions 0-6.
//
// Behavior: deletes each topic and its partition directories (renamed to "-delete" first, so a crash
// midway leaves nothing half-deleted that a restart would serve). Unknown names get
// UNKNOWN_TOPIC_OR_PARTITION, unknown ids UNKNOWN_TOPIC_ID. Internal (`__`) topics hold the broker's own
// state (offsets, MQTT sessions) and are refused with INVALID_REQUEST and a message. Committed offsets of
// a deleted topic go with it (tombstones in __consumer_offsets, written by the group coordinator).
// Authorization (with the ACL authorizer): DELETE on the topic, else TOPIC_AUTHORIZATION_FAILED.
// Version notes: v0-5 name topics in TopicNames; v6 in Topics, by name or by id; v5+ error messages.

import AccessControl
import Coordinator
import KafkaProtocol
import NIOCore

enum DeleteTopicsHandler {
    static func handle(_ request: DeleteTopicsRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let coordinator = context.coordinator
        let logger = context.logger
        let version = context.version
        let response = broker.blocking(on: context.eventLoop) { () -> DeleteTopicsResponse in
            var response = DeleteTopicsResponse(throttleTimeMs: 0, responses: [])
            let wanted: [(name: String?, id: KafkaUUID)] = version >= 6 ? request.topics.map { ($0.name, $0.topicId) } : request.topicNames.map { ($0, .zero) }
            for (name, id) in wanted {
                var result = DeleteTopicsResponse.DeletableTopicResult(name: name, topicId: id, errorCode: 0)
                if let name, !context.authorized(.delete, .topic, name) {
                    result.errorCode = KafkaErrorCode.topicAuthorizationFailed.rawValue
                    response.responses.append(result)
                    continue
                }
                let topic = name.flatMap { broker.topics.topic(named: $0) } ?? (id != .zero ? broker.topics.topic(id: id) : nil)
                guard let topic else {
                    result.errorCode = (name == nil ? KafkaErrorCode.unknownTopicId : KafkaErrorCode.unknownTopicOrPartition).rawValue
                    response.responses.append(result)
                    continue
                }
                if name == nil && !context.authorized(.delete, .topic, topic.name) {
                    result.errorCode = KafkaErrorCode.topicAuthorizationFailed.rawValue
                    response.responses.append(result)
                    continue
                }
                result.name = topic.name
                result.topicId = topic.topicId
                if topic.isInternal {
                    result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                    result.errorMessage = version >= 5 ? "Internal topic \(topic.name) cannot be deleted." : nil
                    response.responses.append(result)
                    continue
                }
                do throws(TopicError) {
                    _ = try broker.deleteTopic(name: topic.name)
                    let name = topic.name
                    coordinator.removeOffsets(ofTopic: name).whenFailure { error in
                        logger.error("removing the offsets of a deleted topic failed", metadata: ["topic": "\(name)", "error": "\(error)"])
                    }
                } catch {
                    result.errorCode = error.errorCode.rawValue
                    result.errorMessage = version >= 5 ? error.description : nil
                }
                response.responses.append(result)
            }
            return response
        }
        return context.serial(response)
    }
}
