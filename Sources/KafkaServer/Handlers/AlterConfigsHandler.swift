// AlterConfigs (key 33), versions 0-2.
//
// Behavior: replaces the whole set of configs of a resource with the ones given (configs left out return to
// their defaults); ValidateOnly checks only. Request shape first, as Kafka's broker does: a resource named
// twice gets INVALID_REQUEST ("Each resource must appear at most once."), a key named twice or a null value
// INVALID_REQUEST ("Error due to duplicate config keys", "Null value not supported for : a, b").
// Topics (type 2): a missing topic gets UNKNOWN_TOPIC_OR_PARTITION ("The topic 'x' does not exist.") before
// its configs are looked at; internal topics' configs belong to the server (INVALID_REQUEST); then Kafka's
// validation of every topic config of 3.9/4.x (INVALID_CONFIG "Unknown topic config name: x", "Invalid value
// v for configuration n: ...", min/max compaction lag conflict, remote.storage.enable=true refused).
// Brokers (type 4): the dynamic broker configs, as Kafka's DynamicBrokerConfig: the resource name is this
// broker's id (its own values) or empty (the cluster default); any other name INVALID_REQUEST ("Node id must
// be an integer, but it is: x", "Unexpected broker id, expected 0, but received 3"). Read-only configs get
// INVALID_REQUEST "Cannot update these configs dynamically: Set(a, b)"; bad values INVALID_REQUEST with
// Kafka's value message; names Kafka does not define are stored as custom configs. Accepted values are stored
// in the data directory, survive restarts and at once become the defaults of topics without their own value.
// Listener, TLS and SASL configs (per-broker in Kafka) are read-only here: this broker has none to reconfigure.
// Other resource types: INVALID_REQUEST. Authorization (with the ACL authorizer): ALTER_CONFIGS on the topic
// (TOPIC_AUTHORIZATION_FAILED) or the cluster (CLUSTER_AUTHORIZATION_FAILED).
// Version notes: v2 flexible.

import AccessControl
import Coordinator
import KafkaProtocol
import NIOCore

enum AlterConfigsHandler {
    static func handle(_ request: AlterConfigsRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let response = broker.blocking(on: context.eventLoop) { () -> AlterConfigsResponse in
            var response = AlterConfigsResponse(throttleTimeMs: 0, responses: [])
            let repeated = ConfigChanges.repeatedResources(request.resources.map { ($0.resourceType, $0.resourceName) })
            for (index, resource) in request.resources.enumerated() {
                var result = AlterConfigsResponse.AlterConfigsResourceResponse(errorCode: 0, errorMessage: nil, resourceType: resource.resourceType, resourceName: resource.resourceName)
                let failure = ConfigChanges.refusal(resourceType: resource.resourceType, name: resource.resourceName, operation: .alterConfigs, context: context)
                    ?? outcome(of: resource, repeated: repeated.contains(index), validateOnly: request.validateOnly, broker: broker)
                if let failure {
                    result.errorCode = failure.code.rawValue
                    result.errorMessage = failure.message
                }
                response.responses.append(result)
            }
            return response
        }
        return context.serial(response)
    }

    static func outcome(of resource: AlterConfigsRequest.AlterConfigsResource, repeated: Bool, validateOnly: Bool, broker: Broker) -> ConfigChangeFailure? {
        if repeated { return ConfigChanges.repeatedResourceFailure }
        if let problem = ConfigChanges.shapeProblem(names: resource.configs.map(\.name), nullNames: resource.configs.filter { $0.value == nil }.map(\.name)) {
            return problem
        }
        var configs: [String: String] = [:]
        for config in resource.configs {
            if let value = config.value { configs[config.name] = value }
        }
        switch resource.resourceType {
        case DescribeConfigsHandler.topicResource:
            return ConfigChanges.alterTopic(broker, name: resource.resourceName, validateOnly: validateOnly) { _ in configs }
        case DescribeConfigsHandler.brokerResource:
            return ConfigChanges.alterBroker(broker, resourceName: resource.resourceName, validateOnly: validateOnly) { _ in configs }
        default:
            return ConfigChangeFailure(.invalidRequest, "Unknown resource type \(resource.resourceType)")
        }
    }
}
