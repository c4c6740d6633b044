// How handlers ask the ACL authorizer (AccessControl/Acl.swift) whether the connection's principal may do
// an operation. Without an authorizer everything is allowed, as on a Kafka broker without one.

public import AccessControl

extension RequestContext {
    /// The client's address as ACL hosts name it ("127.0.0.1"); an IPv4 client of an IPv6 listener
    /// (`::ffff:10.0.0.1`) is named by its IPv4 address, as Java does.
    var aclHost: String {
        let host = clientHost.hasPrefix("/") ? String(clientHost.dropFirst()) : clientHost
        let mapped = "::ffff:"
        if host.lowercased().hasPrefix(mapped), case let rest = host.dropFirst(mapped.count), rest.contains(".") { return String(rest) }
        return host
    }

    /// Whether the principal may do `operation` on the resource. A denial is logged unless `quietly` (Kafka
    /// too keeps quiet when it only filters what a listing shows).
    func authorized(_ operation: AclOperation, _ type: AclResourceType, _ name: String, quietly: Bool = false) -> Bool {
        guard let acls = broker.acls else { return true }
        let allowed = acls.authorize(principal: session.principal, host: aclHost, operation: operation, resourceType: type, resourceName: name)
        if !allowed && !quietly {
            logger.info("authorization denied", metadata: [
                "principal": "\(session.principal)", "host": "\(aclHost)", "operation": "\(operation)", "resource": "\(type):\(name)",
            ])
        }
        return allowed
    }

    func authorizedOnCluster(_ operation: AclOperation, quietly: Bool = false) -> Bool {
        authorized(operation, .cluster, kafkaClusterResourceName, quietly: quietly)
    }

    /// Kafka's bit field of authorized operations (topicAuthorizedOperations and the like): the operations
    /// of `candidates` the principal may do on the resource.
    func authorizedOperations(_ type: AclResourceType, _ name: String, candidates: [AclOperation]) -> Int32 {
        candidates.reduce(Int32(0)) { bits, operation in
            authorized(operation, type, name, quietly: true) ? bits | (1 << Int32(operation.rawValue)) : bits
        }
    }
}

extension AclOperation {
    /// What Kafka reports in topicAuthorizedOperations.
    static let topicOperations: [AclOperation] = [.read, .write, .create, .delete, .alter, .describe, .describeConfigs, .alterConfigs]
    static let groupOperations: [AclOperation] = [.read, .delete, .describe]
    static let clusterOperations: [AclOperation] = [.create, .alter, .describe, .clusterAction, .describeConfigs, .alterConfigs, .idempotentWrite]
}

extension ConfigChanges {
    /// The config APIs' authorization: `operation` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on the topic, or on
    /// the cluster for broker resources; nil when allowed (or for other resource types, which the handlers
    /// refuse themselves).
    static func refusal(resourceType: Int8, name: String, operation: AclOperation, context: RequestContext) -> ConfigChangeFailure? {
        switch resourceType {
        case DescribeConfigsHandler.topicResource where !context.authorized(operation, .topic, name):
            return ConfigChangeFailure(.topicAuthorizationFailed, "Authorization failed.")
        case DescribeConfigsHandler.brokerResource where !context.authorizedOnCluster(operation):
            return ConfigChangeFailure(.clusterAuthorizationFailed, "Cluster authorization failed.")
        default:
            return nil
        }
    }
}
