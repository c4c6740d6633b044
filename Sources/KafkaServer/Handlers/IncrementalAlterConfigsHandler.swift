// IncrementalAlterConfigs (key 44), versions 0-1.
//
// Behavior: applies SET (0), DELETE (1), APPEND (2) and SUBTRACT (3) to the configs of a resource; the
// resulting set is validated as a whole before it is stored (nothing is applied when one change fails);
// ValidateOnly checks only. Request shape first, as Kafka's broker does: a resource named twice gets
// INVALID_REQUEST ("Each resource must appear at most once."), a key named twice or a null value for an
// operation other than DELETE INVALID_REQUEST ("Error due to duplicate config keys", "Null value not
// supported for : a, b"); an unknown operation INVALID_REQUEST.
// Topics (type 2): a missing topic gets UNKNOWN_TOPIC_OR_PARTITION ("The topic 'x' does not exist.") before
// its configs are looked at; internal topics' configs belong to the server (INVALID_REQUEST). APPEND and
// SUBTRACT only apply to LIST configs (cleanup.policy and the throttled replica lists): otherwise
// INVALID_CONFIG "Can't APPEND to key x because its type is not LIST." (Kafka's controller); they start from
// the topic's value or, without one, the broker's default. Then Kafka's validation of every topic config of
// 3.9/4.x (INVALID_CONFIG "Unknown topic config name: x", "Invalid value v for configuration n: ...", the
// min/max compaction lag conflict, remote.storage.enable=true refused).
// Brokers (type 4): the dynamic broker configs, as in AlterConfigs (this broker's id or the empty name for
// the cluster default, read-only configs "Cannot update these configs dynamically: Set(a)", bad values and
// wrong broker ids INVALID_REQUEST, custom names stored, values persisted and applied to open logs at once);
// APPEND/SUBTRACT on a non-LIST broker config gets INVALID_REQUEST "Config value append is not allowed for
// config key: x" (Kafka's broker).
// Other resource types: INVALID_REQUEST. Authorization (with the ACL authorizer): ALTER_CONFIGS on the topic
// (TOPIC_AUTHORIZATION_FAILED) or the cluster (CLUSTER_AUTHORIZATION_FAILED).
// Version notes: v1 flexible.

import AccessControl
import Coordinator
import KafkaProtocol
import NIOCore

enum IncrementalAlterConfigsHandler {
    static func handle(_ request: IncrementalAlterConfigsRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let response = broker.blocking(on: context.eventLoop) { () -> IncrementalAlterConfigsResponse in
            var response = IncrementalAlterConfigsResponse(throttleTimeMs: 0, responses: [])
            let repeated = ConfigChanges.repeatedResources(request.resources.map { ($0.resourceType, $0.resourceName) })
            for (index, resource) in request.resources.enumerated() {
                var result = IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(errorCode: 0, errorMessage: nil, resourceType: resource.resourceType, resourceName: resource.resourceName)
                if let failure = ConfigChanges.refusal(resourceType: resource.resourceType, name: resource.resourceName, operation: .alterConfigs, context: context)
                    ?? outcome(of: resource, repeated: repeated.contains(index), validateOnly: request.validateOnly, broker: broker)
                {
                    result.errorCode = failure.code.rawValue
                    result.errorMessage = failure.message
                }
                response.responses.append(result)
            }
            return response
        }
        return context.serial(response)
    }

    static let deleteOperation: Int8 = 1

    static func outcome(of resource: IncrementalAlterConfigsRequest.AlterConfigsResource, repeated: Bool, validateOnly: Bool, broker: Broker) -> ConfigChangeFailure? {
        if repeated { return ConfigChanges.repeatedResourceFailure }
        let nullNames = resource.configs.filter { $0.configOperation != deleteOperation && $0.value == nil }.map(\.name)
        if let problem = ConfigChanges.shapeProblem(names: resource.configs.map(\.name), nullNames: nullNames) { return problem }
        let operations = resource.configs.map { (name: $0.name, operation: $0.configOperation, value: $0.value) }
        switch resource.resourceType {
        case DescribeConfigsHandler.topicResource:
            return ConfigChanges.alterTopic(broker, name: resource.resourceName, validateOnly: validateOnly) { (current) throws(ConfigChangeFailure) in
                try applyTopicOperations(operations, to: current, defaults: ConfigDescriptions.topicDefaults(broker))
            }
        case DescribeConfigsHandler.brokerResource:
            return ConfigChanges.alterBroker(broker, resourceName: resource.resourceName, validateOnly: validateOnly) { (current) throws(ConfigChangeFailure) in
                try ConfigChanges.applyBrokerOperations(operations, to: current)
            }
        default:
            return ConfigChangeFailure(.invalidRequest, "Unknown resource type \(resource.resourceType)")
        }
    }

    /// Applies the operations to a topic's configs as Kafka's controller does
    /// (ConfigurationControlManager.incrementalAlterConfigResource): APPEND adds the elements not yet there,
    /// SUBTRACT removes them, starting from the topic's value or the broker's default.
    static func applyTopicOperations(_ operations: [(name: String, operation: Int8, value: String?)], to current: [String: String],
                                     defaults: [String: String]) throws(ConfigChangeFailure) -> [String: String] {
        var configs = current
        for (name, operation, value) in operations {
            switch operation {
            case 0:
                configs[name] = value
            case 1:
                configs[name] = nil
            case 2, 3:
                guard TopicConfigs.definition(named: name)?.type == .list else {
                    throw ConfigChangeFailure(.invalidConfig, "Can't \(operation == 2 ? "APPEND" : "SUBTRACT") to key \(name) because its type is not LIST.")
                }
                var items = KafkaConfigParsing.list(configs[name] ?? defaults[name] ?? "").filter { !$0.isEmpty }
                let given = KafkaConfigParsing.list(value ?? "").filter { !$0.isEmpty }
                if operation == 2 {
                    for item in given where !items.contains(item) { items.append(item) }
                } else {
                    items.removeAll { given.contains($0) }
                }
                configs[name] = items.joined(separator: ",")
            default:
                throw ConfigChangeFailure(.invalidRequest, "Unknown operations type \(operation)")
            }
        }
        return configs
    }
}
