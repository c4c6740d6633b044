// Metadata (key 3), versions 0-12.
//
// Behavior: one broker (this one, at the advertised address) leads every partition with leader epoch 0
// and is its only replica and in-sync replica. Unknown topics are created with the default partition
// count when auto.create.topics.enable is on and the request allows it (always before v4; the
// AllowAutoTopicCreation flag from v4); otherwise UNKNOWN_TOPIC_OR_PARTITION. Invalid names get
// INVALID_TOPIC_EXCEPTION. Topics named by id (v10+) that do not exist get UNKNOWN_TOPIC_ID.
// Version notes: v0 asks for all topics with an empty list; v1+ with null (and an empty list means none).
// Authorization (with the ACL authorizer): a listing of all topics leaves out those the principal may not
// DESCRIBE; a topic asked for by name or id without DESCRIBE gets TOPIC_AUTHORIZATION_FAILED, and so does an
// unknown one that would be auto-created when the principal may CREATE neither on the cluster nor on that
// topic. Authorized operations (v8+) are the operations the principal may do (all without an authorizer).

import AccessControl
import Coordinator
import KafkaProtocol
import NIOCore

enum MetadataHandler {
    /// Kafka's AclOperation bit field (bit n for operation code n) with every operation that applies to a
    /// topic (READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS), since there is
    /// no authorizer.
    static let allTopicOperations: Int32 = [3, 4, 5, 6, 7, 8, 10, 11].reduce(0) { $0 | (1 << $1) }
    /// CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE,
    /// CREATE_TOKENS, DESCRIBE_TOKENS.
    static let allClusterOperations: Int32 = [5, 7, 8, 9, 10, 11, 12, 13, 14].reduce(0) { $0 | (1 << $1) }

    static func handle(_ request: MetadataRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let version = context.version
        let allowAutoCreate = version < 4 || request.allowAutoTopicCreation
        let requested = request.topics
        let response = broker.blocking(on: context.eventLoop) { () -> MetadataResponse in
            var response = MetadataResponse()
            response.throttleTimeMs = 0
            response.brokers = [brokerEntry(broker, context: context)]
            response.clusterId = broker.configuration.clusterId
            response.controllerId = broker.configuration.nodeId
            response.clusterAuthorizedOperations = !request.includeClusterAuthorizedOperations ? Int32.min
                : broker.acls == nil ? allClusterOperations : context.authorizedOperations(.cluster, kafkaClusterResourceName, candidates: AclOperation.clusterOperations)
            let wantsAll = requested == nil || (version == 0 && requested!.isEmpty)
            if wantsAll {
                response.topics = broker.topics.allTopics.filter { !Broker.isHidden(topic: $0.name) && context.authorized(.describe, .topic, $0.name, quietly: true) }
                    .map { topicEntry($0, broker: broker, request: request, context: context) }
                return response
            }
            func refused(_ name: String?, id: KafkaUUID = .zero) -> MetadataResponse.MetadataResponseTopic {
                MetadataResponse.MetadataResponseTopic(
                    errorCode: KafkaErrorCode.topicAuthorizationFailed.rawValue, name: name, topicId: id, topicAuthorizedOperations: Int32.min)
            }
            for wanted in requested ?? [] {
                if let name = wanted.name, Broker.isHidden(topic: name) || !context.authorized(.describe, .topic, name) {
                    response.topics.append(refused(name))
                } else if let name = wanted.name {
                    let mayCreate = broker.topics.topic(named: name) != nil || !allowAutoCreate || !broker.configuration.autoCreateTopics
                        || context.authorizedOnCluster(.create, quietly: true) || context.authorized(.create, .topic, name)
                    response.topics.append(mayCreate
                        ? resolve(name: name, allowAutoCreate: allowAutoCreate, broker: broker, request: request, context: context) : refused(name))
                } else if let topic = broker.topics.topic(id: wanted.topicId), !Broker.isHidden(topic: topic.name) {
                    response.topics.append(context.authorized(.describe, .topic, topic.name)
                        ? topicEntry(topic, broker: broker, request: request, context: context) : refused(nil, id: wanted.topicId))
                } else {
                    response.topics.append(MetadataResponse.MetadataResponseTopic(
                        errorCode: KafkaErrorCode.unknownTopicId.rawValue, name: nil, topicId: wanted.topicId,
                        topicAuthorizedOperations: Int32.min))
                }
            }
            return response
        }
        return context.serial(response)
    }

    static func resolve(name: String, allowAutoCreate: Bool, broker: Broker, request: MetadataRequest, context: RequestContext) -> MetadataResponse.MetadataResponseTopic {
        do throws(TopicError) {
            try TopicRegistry.validateName(name)
            if let topic = try broker.topicCreatingIfAllowed(name, allowed: allowAutoCreate) {
                return topicEntry(topic, broker: broker, request: request, context: context)
            }
            return MetadataResponse.MetadataResponseTopic(errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue, name: name, topicAuthorizedOperations: Int32.min)
        } catch {
            if case .storage = error {
                context.logger.error("auto-creating a topic failed", metadata: ["topic": "\(name)", "error": "\(error)"])
            }
            return MetadataResponse.MetadataResponseTopic(errorCode: error.errorCode.rawValue, name: name, topicAuthorizedOperations: Int32.min)
        }
    }

    static func brokerEntry(_ broker: Broker, context: RequestContext) -> MetadataResponse.MetadataResponseBroker {
        MetadataResponse.MetadataResponseBroker(
            nodeId: broker.configuration.nodeId, host: context.endpoint.advertisedHost,
            port: context.endpoint.advertisedPort, rack: broker.configuration.rack)
    }

    static func topicEntry(_ topic: TopicMetadata, broker: Broker, request: MetadataRequest, context: RequestContext) -> MetadataResponse.MetadataResponseTopic {
        let node = broker.configuration.nodeId
        let partitions = (0..<topic.partitionCount).map { index -> MetadataResponse.MetadataResponsePartition in
            let online = broker.log(topic: topic.name, partition: index) != nil
            return MetadataResponse.MetadataResponsePartition(
                errorCode: online ? KafkaErrorCode.noError.rawValue : KafkaErrorCode.kafkaStorageError.rawValue,
                partitionIndex: index, leaderId: online ? node : -1, leaderEpoch: 0,
                replicaNodes: [node], isrNodes: online ? [node] : [], offlineReplicas: online ? [] : [node])
        }
        return MetadataResponse.MetadataResponseTopic(
            errorCode: KafkaErrorCode.noError.rawValue, name: topic.name, topicId: topic.topicId, isInternal: topic.isInternal,
            partitions: partitions,
            topicAuthorizedOperations: !request.includeTopicAuthorizedOperations ? Int32.min
                : broker.acls == nil ? allTopicOperations : context.authorizedOperations(.topic, topic.name, candidates: AclOperation.topicOperations))
    }
}
