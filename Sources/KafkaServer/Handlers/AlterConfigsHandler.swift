// AlterConfigs (key 33), versions 0-2.
//
// Behavior: replaces a topic's whole set of configs with the ones given (configs left out return to their
// defaults), after validating them all (INVALID_CONFIG names the bad one). ValidateOnly checks only.
// Internal topics' configs belong to the server: INVALID_REQUEST.
// Broker settings are static: altering them gets INVALID_REQUEST. Other resource types: INVALID_REQUEST.
// Version notes: v2 flexible.

import Coordinator
import KafkaProtocol
import NIOCore

enum AlterConfigsHandler {
    static func handle(_ request: AlterConfigsRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let response = broker.blocking(on: context.eventLoop) { () -> AlterConfigsResponse in
            var response = AlterConfigsResponse(throttleTimeMs: 0, responses: [])
            for resource in request.resources {
                var result = AlterConfigsResponse.AlterConfigsResourceResponse(errorCode: 0, errorMessage: nil, resourceType: resource.resourceType, resourceName: resource.resourceName)
                switch resource.resourceType {
                case DescribeConfigsHandler.topicResource:
                    if broker.topics.topic(named: resource.resourceName)?.isInternal == true {
                        result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                        result.errorMessage = "The configs of internal topic \(resource.resourceName) belong to the server."
                        break
                    }
                    var configs: [String: String] = [:]
                    var nullName: String? = nil
                    for config in resource.configs {
                        if let value = config.value { configs[config.name] = value } else { nullName = config.name }
                    }
                    if let nullName {
                        result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                        result.errorMessage = "Null value not supported for: \(nullName)"
                        break
                    }
                    do throws(TopicError) {
                        _ = try broker.setTopicConfigs(name: resource.resourceName, configs: configs, validateOnly: request.validateOnly)
                    } catch {
                        result.errorCode = error.errorCode.rawValue
                        result.errorMessage = error.description
                    }
                case DescribeConfigsHandler.brokerResource:
                    result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                    result.errorMessage = "Cannot update these configs dynamically: broker settings are set at start-up (flags, environment or the config file)."
                default:
                    result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                    result.errorMessage = "Resource type \(resource.resourceType) is not supported."
                }
                response.responses.append(result)
            }
            return response
        }
        return context.serial(response)
    }
}
