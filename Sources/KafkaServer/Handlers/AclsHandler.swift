// DescribeAcls (key 29), CreateAcls (key 30) and DeleteAcls (key 31), versions 0-3.
//
// Behavior: the ACLs of the authorizer (AccessControl/Acl.swift), stored in the compacted internal topic
// `__acls` and durable before the answer. Without the authorizer (`kafka-authorizer` not `acl`) every
// request answers SECURITY_DISABLED ("No Authorizer is configured on the broker"), as Kafka does.
// CreateAcls: per creation, INVALID_REQUEST for what Kafka refuses (UNKNOWN or ANY resource type, pattern
// type other than LITERAL/PREFIXED, UNKNOWN or ANY operation or permission, an empty resource name, a
// CLUSTER resource not named kafka-cluster, a principal without `Type:`); creating an ACL that exists
// succeeds and changes nothing. DescribeAcls: the bindings the filter matches, grouped by resource pattern
// (a filter with UNKNOWN elements: INVALID_REQUEST). DeleteAcls: per filter, the bindings it removed.
// Authorization: DESCRIBE on the cluster for DescribeAcls, ALTER on the cluster to create or delete, else
// CLUSTER_AUTHORIZATION_FAILED (super users always may).
// Version notes: v0 has no pattern types (LITERAL); v1+ pattern types; v2+ flexible; v3 adds the USER
// resource type.

import AccessControl
import KafkaProtocol
import NIOCore

enum AclsHandler {
    static let securityDisabled = "No Authorizer is configured on the broker"
    static let clusterRefused = "Cluster authorization failed."

    static func filter(
        resourceType: Int8, resourceName: String?, patternType: Int8, principal: String?, host: String?, operation: Int8, permission: Int8
    ) -> AclBindingFilter {
        AclBindingFilter(
            resourceType: AclResourceType(rawValue: resourceType) ?? .unknown, resourceName: resourceName,
            patternType: AclPatternType(rawValue: patternType) ?? .unknown, principal: principal, host: host,
            operation: AclOperation(rawValue: operation) ?? .unknown, permission: AclPermission(rawValue: permission) ?? .unknown)
    }

    static func describe(_ request: DescribeAclsRequest, context: RequestContext) -> StartedRequest {
        func refused(_ code: KafkaErrorCode, _ message: String) -> StartedRequest {
            context.serial(DescribeAclsResponse(throttleTimeMs: 0, errorCode: code.rawValue, errorMessage: message, resources: []))
        }
        guard let acls = context.broker.acls else { return refused(.securityDisabled, securityDisabled) }
        guard context.authorizedOnCluster(.describe) else { return refused(.clusterAuthorizationFailed, clusterRefused) }
        let wanted = filter(
            resourceType: request.resourceTypeFilter, resourceName: request.resourceNameFilter, patternType: request.patternTypeFilter,
            principal: request.principalFilter, host: request.hostFilter, operation: request.operation, permission: request.permissionType)
        if let problem = wanted.invalidReason { return refused(.invalidRequest, problem) }
        var resources: [DescribeAclsResponse.DescribeAclsResource] = []
        for binding in acls.describe(wanted) {
            let description = DescribeAclsResponse.AclDescription(
                principal: binding.principal, host: binding.host, operation: binding.operation.rawValue, permissionType: binding.permission.rawValue)
            if let last = resources.last, last.resourceType == binding.resourceType.rawValue, last.resourceName == binding.resourceName,
                last.patternType == binding.patternType.rawValue
            {
                resources[resources.count - 1].acls.append(description)
            } else {
                resources.append(.init(
                    resourceType: binding.resourceType.rawValue, resourceName: binding.resourceName, patternType: binding.patternType.rawValue,
                    acls: [description]))
            }
        }
        return context.serial(DescribeAclsResponse(throttleTimeMs: 0, errorCode: 0, errorMessage: nil, resources: resources))
    }

    static func create(_ request: CreateAclsRequest, context: RequestContext) -> StartedRequest {
        func everyCreation(_ code: KafkaErrorCode, _ message: String?) -> CreateAclsResponse {
            CreateAclsResponse(throttleTimeMs: 0, results: request.creations.map { _ in .init(errorCode: code.rawValue, errorMessage: message) })
        }
        guard let acls = context.broker.acls else { return context.serial(everyCreation(.securityDisabled, securityDisabled)) }
        guard context.authorizedOnCluster(.alter) else { return context.serial(everyCreation(.clusterAuthorizationFailed, clusterRefused)) }
        var results: [CreateAclsResponse.AclCreationResult] = []
        var valid: [AclBinding] = []
        for creation in request.creations {
            let binding = AclBinding(
                resourceType: AclResourceType(rawValue: creation.resourceType) ?? .unknown, resourceName: creation.resourceName,
                patternType: AclPatternType(rawValue: creation.resourcePatternType) ?? .unknown, principal: creation.principal, host: creation.host,
                operation: AclOperation(rawValue: creation.operation) ?? .unknown, permission: AclPermission(rawValue: creation.permissionType) ?? .unknown)
            if let problem = binding.invalidReason {
                results.append(.init(errorCode: KafkaErrorCode.invalidRequest.rawValue, errorMessage: problem))
            } else {
                valid.append(binding)
                results.append(.init(errorCode: 0, errorMessage: nil))
            }
        }
        let logger = context.logger
        let principal = context.session.principal
        let answered = results
        let toCreate = valid
        let promise = context.eventLoop.makePromise(of: CreateAclsResponse.self)
        promise.completeWithTask {
            guard !toCreate.isEmpty else { return CreateAclsResponse(throttleTimeMs: 0, results: answered) }
            do {
                try await acls.create(toCreate)
                logger.info("ACLs created", metadata: ["principal": "\(principal)", "acls": "\(toCreate.count)"])
                return CreateAclsResponse(throttleTimeMs: 0, results: answered)
            } catch {
                return CreateAclsResponse(throttleTimeMs: 0, results: answered.map {
                    $0.errorCode != 0 ? $0 : .init(errorCode: KafkaErrorCode.kafkaStorageError.rawValue, errorMessage: "\(error)")
                })
            }
        }
        return context.serial(promise.futureResult)
    }

    static func delete(_ request: DeleteAclsRequest, context: RequestContext) -> StartedRequest {
        func everyFilter(_ code: KafkaErrorCode, _ message: String?) -> DeleteAclsResponse {
            DeleteAclsResponse(throttleTimeMs: 0, filterResults: request.filters.map { _ in .init(errorCode: code.rawValue, errorMessage: message, matchingAcls: []) })
        }
        guard let acls = context.broker.acls else { return context.serial(everyFilter(.securityDisabled, securityDisabled)) }
        guard context.authorizedOnCluster(.alter) else { return context.serial(everyFilter(.clusterAuthorizationFailed, clusterRefused)) }
        let filters = request.filters.map {
            filter(
                resourceType: $0.resourceTypeFilter, resourceName: $0.resourceNameFilter, patternType: $0.patternTypeFilter,
                principal: $0.principalFilter, host: $0.hostFilter, operation: $0.operation, permission: $0.permissionType)
        }
        let validIndexes = filters.indices.filter { filters[$0].invalidReason == nil }
        let logger = context.logger
        let principal = context.session.principal
        let promise = context.eventLoop.makePromise(of: DeleteAclsResponse.self)
        promise.completeWithTask {
            var removed: [Int: [AclBinding]] = [:]
            var storeError: String? = nil
            do {
                let perFilter = try await acls.delete(validIndexes.map { filters[$0] })
                for (index, bindings) in zip(validIndexes, perFilter) { removed[index] = bindings }
                let count = perFilter.reduce(0) { $0 + $1.count }
                if count > 0 { logger.info("ACLs deleted", metadata: ["principal": "\(principal)", "acls": "\(count)"]) }
            } catch {
                storeError = "\(error)"
            }
            return DeleteAclsResponse(throttleTimeMs: 0, filterResults: filters.indices.map { index in
                if let problem = filters[index].invalidReason {
                    return .init(errorCode: KafkaErrorCode.invalidRequest.rawValue, errorMessage: problem, matchingAcls: [])
                }
                if let storeError { return .init(errorCode: KafkaErrorCode.kafkaStorageError.rawValue, errorMessage: storeError, matchingAcls: []) }
                return .init(errorCode: 0, errorMessage: nil, matchingAcls: (removed[index] ?? []).map { binding in
                    .init(
                        errorCode: 0, errorMessage: nil, resourceType: binding.resourceType.rawValue, resourceName: binding.resourceName,
                        patternType: binding.patternType.rawValue, principal: binding.principal, host: binding.host,
                        operation: binding.operation.rawValue, permissionType: binding.permission.rawValue)
                })
            })
        }
        return context.serial(promise.futureResult)
    }
}
