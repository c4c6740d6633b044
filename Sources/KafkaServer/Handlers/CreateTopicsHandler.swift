// CreateTopics (key 19), versions 0-7.
//
// Behavior: creates each topic with its partitions (-1: num.partitions) and configs, validated as Kafka does
// over the broker's defaults (INVALID_CONFIG "Unknown topic config name: x", "Invalid value v for
// configuration n: ...", the min/max compaction lag conflict, remote.storage.enable=true refused; a null
// value "Null value not supported for topic configs: a,b"); every topic config of Kafka 3.9/4.x is
// accepted. The replication factor must be -1 or 1 (INVALID_REPLICATION_FACTOR otherwise: there is one
// broker); manual assignments must put every partition on this broker alone (INVALID_REPLICA_ASSIGNMENT).
// Existing topics get TOPIC_ALREADY_EXISTS, illegal names INVALID_TOPIC_EXCEPTION, a name twice in one
// request INVALID_REQUEST. ValidateOnly checks without creating. Topic ids are random UUIDs that stay with
// the topic across restarts. Names starting with `__` are the server's (internal topics): INVALID_REQUEST.
// Authorization (with the ACL authorizer): CREATE on the cluster or on the topic, else
// TOPIC_AUTHORIZATION_FAILED.
// Version notes: v1+ validateOnly and error messages; v5+ the response describes the created topic
// (partitions, replication factor, configs); v7+ returns the topic id.

import AccessControl
import Coordinator
import KafkaProtocol
import NIOCore

enum CreateTopicsHandler {
    static func handle(_ request: CreateTopicsRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let version = context.version
        let response = broker.blocking(on: context.eventLoop) { () -> CreateTopicsResponse in
            var counts: [String: Int] = [:]
            for topic in request.topics { counts[topic.name, default: 0] += 1 }
            var response = CreateTopicsResponse(throttleTimeMs: 0, topics: [])
            for creatable in request.topics {
                var result = CreateTopicsResponse.CreatableTopicResult(name: creatable.name, errorCode: 0, numPartitions: -1, replicationFactor: -1, configs: nil)
                func fail(_ code: KafkaErrorCode, _ message: String) {
                    result.errorCode = code.rawValue
                    result.errorMessage = version >= 1 ? message : nil
                }
                if counts[creatable.name, default: 0] > 1 {
                    fail(.invalidRequest, "Create topics request from client contains multiple entries for the same topic \(creatable.name).")
                    response.topics.append(result)
                    continue
                }
                guard context.authorizedOnCluster(.create, quietly: true) || context.authorized(.create, .topic, creatable.name) else {
                    fail(.topicAuthorizationFailed, "Authorization failed.")
                    response.topics.append(result)
                    continue
                }
                var partitions = creatable.numPartitions == -1 ? broker.configuration.defaultPartitions : creatable.numPartitions
                if !creatable.assignments.isEmpty {
                    if creatable.numPartitions != -1 || creatable.replicationFactor != -1 {
                        fail(.invalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
                        response.topics.append(result)
                        continue
                    }
                    let indexes = creatable.assignments.map(\.partitionIndex).sorted()
                    let onlyHere = creatable.assignments.allSatisfy { $0.brokerIds == [broker.configuration.nodeId] }
                    guard onlyHere, indexes == Array(0..<Int32(indexes.count)) else {
                        fail(.invalidReplicaAssignment, "Replica assignments must place partitions 0..n-1 on broker \(broker.configuration.nodeId) alone.")
                        response.topics.append(result)
                        continue
                    }
                    partitions = Int32(indexes.count)
                }
                if TopicMetadata.isInternal(name: creatable.name) {
                    fail(.invalidRequest, "Creation of internal topic \(creatable.name) is prohibited: names starting with '__' belong to the server.")
                    response.topics.append(result)
                    continue
                }
                if creatable.replicationFactor != -1 && creatable.replicationFactor != 1 {
                    fail(.invalidReplicationFactor, "Replication factor: \(creatable.replicationFactor) larger than available brokers: 1.")
                    response.topics.append(result)
                    continue
                }
                var configs: [String: String] = [:]
                var nullConfigs: [String] = []
                for config in creatable.configs {
                    if let value = config.value { configs[config.name] = value } else { nullConfigs.append(config.name) }
                }
                if !nullConfigs.isEmpty {
                    fail(.invalidConfig, "Null value not supported for topic configs: \(nullConfigs.joined(separator: ","))")
                    response.topics.append(result)
                    continue
                }
                // Kafka validates the topic's configs over the broker's defaults (the min/max compaction lag
                // rule can involve both); the registry checks the configs alone again.
                let dynamicConfigs = broker.configuration.dynamicConfigs
                if let problem = TopicConfigs.problem(with: configs, brokerDefaults: ConfigDescriptions.topicDefaults(broker)) {
                    fail(.invalidConfig, problem)
                    response.topics.append(result)
                    continue
                }
                do throws(TopicError) {
                    // Under the dynamic config lock: a broker default changing meanwhile must see the new logs.
                    let topic = try dynamicConfigs.withChangeLock { () throws(TopicError) -> TopicMetadata in
                        try broker.createTopic(name: creatable.name, partitions: partitions, configs: configs, validateOnly: request.validateOnly)
                    }
                    result.topicId = request.validateOnly ? .zero : topic.topicId
                    if version >= 5 && !context.authorized(.describeConfigs, .topic, creatable.name, quietly: true) {
                        // As Kafka: created, but its configs are not shown to who may not describe them.
                        result.numPartitions = partitions
                        result.replicationFactor = 1
                        result.topicConfigErrorCode = KafkaErrorCode.topicAuthorizationFailed.rawValue
                    } else if version >= 5 {
                        result.numPartitions = partitions
                        result.replicationFactor = 1
                        result.configs = ConfigDescriptions.topic(topic, broker: broker).map {
                            CreateTopicsResponse.CreatableTopicConfigs(name: $0.name, value: $0.value, readOnly: $0.readOnly, configSource: $0.source.rawValue, isSensitive: $0.isSensitive)
                        }
                    }
                } catch {
                    fail(error.errorCode, error.description)
                    if case .storage = error {
                        context.logger.error("creating a topic failed", metadata: ["topic": "\(creatable.name)", "error": "\(error)"])
                    }
                }
                response.topics.append(result)
            }
            return response
        }
        return context.serial(response)
    }
}
