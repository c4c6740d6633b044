// Kafka's authorization model: ACL bindings (a resource pattern and an access control entry), filters as
// DescribeAcls and DeleteAcls send them, and the decision Apache Kafka's standard authorizer makes. The
// numeric codes are Kafka's (org.apache.kafka.common.resource / acl), as they travel in the ACL APIs.

/// `ResourceType`
public enum AclResourceType: Int8, Sendable, Codable, CaseIterable {
    case unknown = 0, any = 1, topic = 2, group = 3, cluster = 4, transactionalId = 5, delegationToken = 6, user = 7
}

/// `PatternType`: bindings are literal or prefixed; filters may also say any, or match (what would apply
/// to a resource name).
public enum AclPatternType: Int8, Sendable, Codable, CaseIterable {
    case unknown = 0, any = 1, match = 2, literal = 3, prefixed = 4
}

/// `AclOperation`
public enum AclOperation: Int8, Sendable, Codable, CaseIterable {
    case unknown = 0, any = 1, all = 2, read = 3, write = 4, create = 5, delete = 6, alter = 7, describe = 8
    case clusterAction = 9, describeConfigs = 10, alterConfigs = 11, idempotentWrite = 12, createTokens = 13, describeTokens = 14

    /// What an ALLOW for this operation also allows, as Kafka implies them: READ, WRITE, DELETE and ALTER
    /// allow DESCRIBE; ALTER_CONFIGS allows DESCRIBE_CONFIGS; ALL allows everything.
    func allowsToo(_ wanted: AclOperation) -> Bool {
        if self == wanted || self == .all { return true }
        switch wanted {
        case .describe: return [.read, .write, .delete, .alter].contains(self)
        case .describeConfigs: return self == .alterConfigs
        default: return false
        }
    }
}

/// `AclPermissionType`
public enum AclPermission: Int8, Sendable, Codable, CaseIterable {
    case unknown = 0, any = 1, deny = 2, allow = 3
}

/// The name of the one CLUSTER resource.
public let kafkaClusterResourceName = "kafka-cluster"

/// One ACL: who (principal, host) may or may not do what (operation) to which resources (type, name, and
/// whether the name is literal or a prefix).
public struct AclBinding: Sendable, Hashable, Codable {
    public var resourceType: AclResourceType
    public var resourceName: String
    public var patternType: AclPatternType
    public var principal: String
    public var host: String
    public var operation: AclOperation
    public var permission: AclPermission

    public init(
        resourceType: AclResourceType, resourceName: String, patternType: AclPatternType = .literal, principal: String, host: String = "*",
        operation: AclOperation, permission: AclPermission
    ) {
        self.resourceType = resourceType
        self.resourceName = resourceName
        self.patternType = patternType
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission = permission
    }

    /// Why Kafka would refuse to create this binding (INVALID_REQUEST), or nil when it is valid.
    public var invalidReason: String? {
        switch resourceType {
        case .unknown, .any: return "Invalid resourceType \(resourceType)"
        default: break
        }
        guard patternType == .literal || patternType == .prefixed else { return "Invalid patternType \(patternType)" }
        guard operation != .unknown && operation != .any else { return "Invalid operation \(operation)" }
        guard permission == .allow || permission == .deny else { return "Invalid permissionType \(permission)" }
        guard !resourceName.isEmpty else { return "Resource name should not be empty" }
        if resourceType == .cluster && resourceName != kafkaClusterResourceName {
            return "The only valid name for the CLUSTER resource is \(kafkaClusterResourceName)"
        }
        guard let colon = principal.firstIndex(of: ":"), colon != principal.startIndex, principal.index(after: colon) != principal.endIndex else {
            return "Could not parse principal from `\(principal)` (no colon is present separating the principal type from the principal name)"
        }
        guard !host.isEmpty else { return "Invalid host: the host must be * or an address" }
        return nil
    }
}

/// What DescribeAcls and DeleteAcls select: nil strings and the ANY codes match everything.
public struct AclBindingFilter: Sendable, Equatable {
    public var resourceType: AclResourceType
    public var resourceName: String?
    public var patternType: AclPatternType
    public var principal: String?
    public var host: String?
    public var operation: AclOperation
    public var permission: AclPermission

    public init(
        resourceType: AclResourceType = .any, resourceName: String? = nil, patternType: AclPatternType = .any, principal: String? = nil,
        host: String? = nil, operation: AclOperation = .any, permission: AclPermission = .any
    ) {
        self.resourceType = resourceType
        self.resourceName = resourceName
        self.patternType = patternType
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission = permission
    }

    /// Why Kafka would refuse this filter (INVALID_REQUEST), or nil.
    public var invalidReason: String? {
        if resourceType == .unknown { return "Filter contains UNKNOWN elements: resourceType" }
        if patternType == .unknown { return "Filter contains UNKNOWN elements: patternType" }
        if operation == .unknown { return "Filter contains UNKNOWN elements: operation" }
        if permission == .unknown { return "Filter contains UNKNOWN elements: permissionType" }
        return nil
    }

    public func matches(_ binding: AclBinding) -> Bool {
        if resourceType != .any && resourceType != binding.resourceType { return false }
        switch patternType {
        case .any:
            if let resourceName, resourceName != binding.resourceName { return false }
        case .match:
            // The bindings that would apply to a resource of this name.
            if let resourceName {
                switch binding.patternType {
                case .literal: if binding.resourceName != resourceName && binding.resourceName != "*" { return false }
                case .prefixed: if !resourceName.hasPrefix(binding.resourceName) { return false }
                default: return false
                }
            }
        case .literal, .prefixed:
            if binding.patternType != patternType { return false }
            if let resourceName, resourceName != binding.resourceName { return false }
        case .unknown:
            return false
        }
        if let principal, principal != binding.principal { return false }
        if let host, host != binding.host { return false }
        if operation != .any && operation != binding.operation { return false }
        if permission != .any && permission != binding.permission { return false }
        return true
    }
}

/// The ACLs in force, indexed for decisions: literal bindings by resource type and name, prefixed ones by
/// type (scanned; they are few). A value: the store swaps in a new one on every change.
public struct AclIndex: Sendable {
    private var literal: [AclResourceType: [String: [AclBinding]]] = [:]
    private var prefixed: [AclResourceType: [AclBinding]] = [:]
    public private(set) var bindings: Set<AclBinding> = []

    public init(_ bindings: some Sequence<AclBinding> = []) {
        for binding in bindings { insert(binding) }
    }

    public mutating func insert(_ binding: AclBinding) {
        guard bindings.insert(binding).inserted else { return }
        if binding.patternType == .prefixed {
            prefixed[binding.resourceType, default: []].append(binding)
        } else {
            literal[binding.resourceType, default: [:]][binding.resourceName, default: []].append(binding)
        }
    }

    public mutating func remove(_ binding: AclBinding) {
        guard bindings.remove(binding) != nil else { return }
        if binding.patternType == .prefixed {
            prefixed[binding.resourceType]?.removeAll { $0 == binding }
        } else {
            literal[binding.resourceType]?[binding.resourceName]?.removeAll { $0 == binding }
            if literal[binding.resourceType]?[binding.resourceName]?.isEmpty == true { literal[binding.resourceType]?[binding.resourceName] = nil }
        }
    }

    /// Every binding that applies to the resource: its literal name, the literal wildcard `*`, and
    /// prefixes of its name.
    func applying(to type: AclResourceType, name: String) -> [AclBinding] {
        var found = literal[type]?[name] ?? []
        if name != "*" { found += literal[type]?["*"] ?? [] }
        for binding in prefixed[type] ?? [] where name.hasPrefix(binding.resourceName) { found.append(binding) }
        return found
    }

    /// Every binding of a resource type.
    func all(of type: AclResourceType) -> [AclBinding] {
        (literal[type]?.values.joined().map { $0 } ?? []) + (prefixed[type] ?? [])
    }

    static func covers(_ binding: AclBinding, principal: String, host: String) -> Bool {
        (binding.principal == principal || binding.principal == "User:*") && (binding.host == "*" || binding.host == host)
    }
}

/// Kafka's decision, as its standard authorizer makes it: super users may do anything; otherwise a
/// matching DENY wins, then a matching ALLOW (with the implied operations); a resource no ACL names at all
/// is allowed only with `allow.everyone.if.no.acl.found`.
public struct AclPolicy: Sendable {
    public var superUsers: Set<String>
    public var allowEveryoneIfNoAclFound: Bool

    public init(superUsers: Set<String> = [], allowEveryoneIfNoAclFound: Bool = false) {
        self.superUsers = superUsers
        self.allowEveryoneIfNoAclFound = allowEveryoneIfNoAclFound
    }

    public func authorize(
        _ index: AclIndex, principal: String, host: String, operation: AclOperation, resourceType: AclResourceType, resourceName: String
    ) -> Bool {
        if superUsers.contains(principal) { return true }
        let applying = index.applying(to: resourceType, name: resourceName)
        if applying.isEmpty { return allowEveryoneIfNoAclFound }
        var allowed = false
        for binding in applying where AclIndex.covers(binding, principal: principal, host: host) {
            switch binding.permission {
            case .deny:
                if binding.operation == operation || binding.operation == .all { return false }
            case .allow:
                if binding.operation.allowsToo(operation) { allowed = true }
            default:
                break
            }
        }
        return allowed
    }

    /// Whether the principal may do `operation` to some resource of the type, as Kafka's
    /// `Authorizer.authorizeByResourceType` decides it (used for InitProducerId without a transactional id):
    /// first the decision for a made-up literal name (super users, allow.everyone.if.no.acl.found, `*`
    /// ACLs); then an ALLOW for the operation (or ALL) that no DENY covers: a literal `*` DENY refuses all,
    /// a literal `*` ALLOW grants, a prefixed ALLOW counts unless a DENY prefix is a prefix of it, a literal
    /// ALLOW unless a literal DENY of that name or a DENY prefix covers it.
    public func authorizeAny(_ index: AclIndex, principal: String, host: String, operation: AclOperation, resourceType: AclResourceType) -> Bool {
        if authorize(index, principal: principal, host: host, operation: operation, resourceType: resourceType, resourceName: "hardcode") {
            return true
        }
        var denyLiterals: Set<String> = [], denyPrefixes: [String] = [], allowLiterals: Set<String> = [], allowPrefixes: [String] = []
        for binding in index.all(of: resourceType)
        where AclIndex.covers(binding, principal: principal, host: host) && (binding.operation == operation || binding.operation == .all) {
            switch (binding.permission, binding.patternType) {
            case (.deny, .literal): denyLiterals.insert(binding.resourceName)
            case (.deny, .prefixed): denyPrefixes.append(binding.resourceName)
            case (.allow, .literal): allowLiterals.insert(binding.resourceName)
            case (.allow, .prefixed): allowPrefixes.append(binding.resourceName)
            default: break
            }
        }
        if denyLiterals.contains("*") { return false }
        if allowLiterals.contains("*") { return true }
        if allowPrefixes.contains(where: { prefix in !denyPrefixes.contains { prefix.hasPrefix($0) } }) { return true }
        return allowLiterals.contains { name in !denyLiterals.contains(name) && !denyPrefixes.contains { name.hasPrefix($0) } }
    }
}
