// IncrementalAlterConfigs (key 44), versions 0-1.
//
// Behavior: applies SET (0), DELETE (1), APPEND (2) and SUBTRACT (3) to a topic's configs; APPEND and
// SUBTRACT only apply to list configs (cleanup.policy), otherwise INVALID_CONFIG. The result is validated
// as a whole before it is stored; ValidateOnly checks only. A config named twice for one resource gets
// INVALID_REQUEST. Internal topics' configs belong to the server: INVALID_REQUEST. Broker settings are
// static: INVALID_REQUEST.
// Version notes: v1 flexible.

import Coordinator
import KafkaProtocol
import NIOCore

enum IncrementalAlterConfigsHandler {
    static func handle(_ request: IncrementalAlterConfigsRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let response = broker.blocking(on: context.eventLoop) { () -> IncrementalAlterConfigsResponse in
            var response = IncrementalAlterConfigsResponse(throttleTimeMs: 0, responses: [])
            for resource in request.resources {
                var result = IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(errorCode: 0, errorMessage: nil, resourceType: resource.resourceType, resourceName: resource.resourceName)
                func fail(_ code: KafkaErrorCode, _ message: String) {
                    result.errorCode = code.rawValue
                    result.errorMessage = message
                }
                switch resource.resourceType {
                case DescribeConfigsHandler.topicResource:
                    guard let topic = broker.topics.topic(named: resource.resourceName) else {
                        fail(.unknownTopicOrPartition, "Topic \(resource.resourceName) does not exist.")
                        break
                    }
                    if topic.isInternal {
                        fail(.invalidRequest, "The configs of internal topic \(topic.name) belong to the server.")
                        break
                    }
                    let names = resource.configs.map(\.name)
                    if Set(names).count != names.count {
                        fail(.invalidRequest, "A config is named more than once for \(resource.resourceName).")
                        break
                    }
                    var configs = topic.configs
                    var problem: String? = nil
                    for change in resource.configs {
                        guard let definition = TopicConfigs.definition(named: change.name) else {
                            problem = "Unknown topic config name: \(change.name)"
                            break
                        }
                        switch change.configOperation {
                        case 0:
                            guard let value = change.value else {
                                problem = "Null value not supported for: \(change.name)"
                                break
                            }
                            configs[change.name] = value
                        case 1:
                            configs[change.name] = nil
                        case 2, 3:
                            guard definition.type == .list else {
                                problem = "Config value append/subtract is not allowed for config key: \(change.name)"
                                break
                            }
                            let current = configs[change.name] ?? TopicConfigs.defaultValues(broker.configuration.logDefaults)[change.name] ?? ""
                            var items = current.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                            let given = (change.value ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
                            if change.configOperation == 2 {
                                for item in given where !items.contains(item) { items.append(item) }
                            } else {
                                items.removeAll { given.contains($0) }
                            }
                            configs[change.name] = items.joined(separator: ",")
                        default:
                            problem = "Unknown config operation \(change.configOperation) for \(change.name)"
                        }
                        if problem != nil { break }
                    }
                    if let problem {
                        fail(.invalidConfig, problem)
                        break
                    }
                    do throws(TopicError) {
                        _ = try broker.setTopicConfigs(name: topic.name, configs: configs, validateOnly: request.validateOnly)
                    } catch {
                        fail(error.errorCode, error.description)
                    }
                case DescribeConfigsHandler.brokerResource:
                    fail(.invalidRequest, "Cannot update these configs dynamically: broker settings are set at start-up (flags, environment or the config file).")
                default:
                    fail(.invalidRequest, "Resource type \(resource.resourceType) is not supported.")
                }
                response.responses.append(result)
            }
            return response
        }
        return context.serial(response)
    }
}

import Foundation
