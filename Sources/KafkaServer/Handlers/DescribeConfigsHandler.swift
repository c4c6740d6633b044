// DescribeConfigs (key 32), versions 0-4.
//
// Behavior: topic resources (type 2) list every topic config of Kafka 3.9 (the 4.x set plus the three 3.9-only
// ones) with its effective value and source: TOPIC_CONFIG when set on the topic, else the source of the
// broker config that supplies its default (DYNAMIC_BROKER_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG,
// STATIC_BROKER_CONFIG) or DEFAULT_CONFIG; synonyms list every layer that has a value, most specific first.
// Broker resources (type 4): with this node's id, the broker's settings, the dynamic (cluster-wide) ones
// not read-only, start-up settings read-only; with the empty name, only the dynamic cluster defaults, as
// Kafka answers. Another broker id gets INVALID_REQUEST. Named keys limit the answer to those keys (unknown
// ones are left out, as Kafka does). Unknown topics get UNKNOWN_TOPIC_OR_PARTITION; other resource types
// INVALID_REQUEST. Documentation says which configs are accepted for compatibility but change nothing here.
// Authorization (with the ACL authorizer): DESCRIBE_CONFIGS on the topic (TOPIC_AUTHORIZATION_FAILED) or on
// the cluster for broker resources (CLUSTER_AUTHORIZATION_FAILED).
// Version notes: v0 has IsDefault instead of ConfigSource (true for anything not set on the resource
// itself); v1+ synonyms on request; v3+ config types and (on request) documentation; v4 flexible.

import AccessControl
import KafkaProtocol
import NIOCore

enum DescribeConfigsHandler {
    static let topicResource: Int8 = 2
    static let brokerResource: Int8 = 4

    static func handle(_ request: DescribeConfigsRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let version = context.version
        var response = DescribeConfigsResponse(throttleTimeMs: 0, results: [])
        for resource in request.resources {
            var result = DescribeConfigsResponse.DescribeConfigsResult(errorCode: 0, errorMessage: nil, resourceType: resource.resourceType, resourceName: resource.resourceName, configs: [])
            let descriptions: [ConfigDescription]
            if let refusal = ConfigChanges.refusal(resourceType: resource.resourceType, name: resource.resourceName, operation: .describeConfigs, context: context) {
                result.errorCode = refusal.code.rawValue
                result.errorMessage = refusal.message
                response.results.append(result)
                continue
            }
            switch resource.resourceType {
            case topicResource:
                guard let topic = broker.topics.topic(named: resource.resourceName) else {
                    result.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                    result.errorMessage = "Topic \(resource.resourceName) does not exist."
                    response.results.append(result)
                    continue
                }
                descriptions = ConfigDescriptions.topic(topic, broker: broker)
            case brokerResource:
                guard resource.resourceName.isEmpty || resource.resourceName == String(broker.configuration.nodeId) else {
                    result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                    result.errorMessage = "Unexpected broker id, expected \(broker.configuration.nodeId) or empty string, but received \(resource.resourceName)"
                    response.results.append(result)
                    continue
                }
                descriptions = ConfigDescriptions.broker(broker, clusterDefault: resource.resourceName.isEmpty)
            default:
                result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                result.errorMessage = "Resource type \(resource.resourceType) is not supported; topic (2) and broker (4) are."
                response.results.append(result)
                continue
            }
            let keys = resource.configurationKeys.map(Set.init)
            for description in descriptions where keys?.contains(description.name) ?? true {
                var entry = DescribeConfigsResponse.DescribeConfigsResourceResult(name: description.name, value: description.value, readOnly: description.readOnly, isSensitive: description.isSensitive)
                if version == 0 {
                    // v0 only says whether the value is a default; v1+ say where it comes from.
                    entry.isDefault = switch description.source {
                    case .defaultConfig: true
                    case .topicConfig: false
                    // A topic's value that comes from the broker is a default from the topic's point of view.
                    case .staticBrokerConfig, .dynamicBrokerConfig, .dynamicDefaultBrokerConfig, .unknown: resource.resourceType == topicResource
                    }
                } else {
                    entry.configSource = description.source.rawValue
                }
                if version >= 1 && request.includeSynonyms {
                    entry.synonyms = description.synonyms.map { .init(name: $0.name, value: $0.value, source: $0.source.rawValue) }
                }
                if version >= 3 {
                    entry.configType = description.type
                    if request.includeDocumentation { entry.documentation = description.documentation }
                }
                result.configs.append(entry)
            }
            response.results.append(result)
        }
        return context.serial(response)
    }
}
