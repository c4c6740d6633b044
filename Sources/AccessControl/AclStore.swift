public import Foundation
public import LogStore
public import Logging
import NIOConcurrencyHelpers

public struct AclStoreError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The Kafka ACLs, kept in the compacted internal topic `__acls` (key = the binding as canonical JSON,
/// value = the same JSON, or a tombstone when the binding is deleted), as Apache Kafka keeps ACLs in its
/// metadata log. Read whole at start; a change is appended durably before it is acknowledged or used.
///
/// Thread-safe: a decision takes the lock to copy the index (a value with copy-on-write storage). Changes run
/// one at a time (`SerialChanges`): each is computed from the ACLs in force, written as one batch, and put in
/// force once durable, so what is in force is always what the log says.
public final class AclStore: Sendable {
    public static let topic = "__acls"
    public static let topicConfigs = ["cleanup.policy": "compact", "retention.ms": "-1"]

    private struct State {
        /// What decisions use: bindings whose record is durable.
        var committed = AclIndex()
    }

    private let state = NIOLockedValueBox(State())
    private let changes = SerialChanges()
    private let log: (any PartitionLog)?
    private let logger: Logger
    public let policy: AclPolicy

    /// A store on `log`, loaded from it. A record this version cannot read is skipped and logged (the ACL
    /// it held is not in force; with ACLs, what is not granted is refused), never guessed at.
    public static func load(from log: any PartitionLog, policy: AclPolicy, logger: Logger) async throws -> AclStore {
        let decoder = JSONDecoder()
        var index = AclIndex()
        try await log.scanRecords { record, offset, _ in
            guard let key = record.key else { return }
            do {
                let binding = try decoder.decode(AclBinding.self, from: Data(key.readableBytesView))
                if record.value == nil { index.remove(binding) } else { index.insert(binding) }
            } catch {
                logger.error("skipped an unreadable \(topic) record", metadata: ["offset": "\(offset)", "error": "\(error)"])
            }
        }
        return AclStore(log: log, bindings: index.bindings, policy: policy, logger: logger)
    }

    /// A store kept in memory only (tests).
    public convenience init(bindings: [AclBinding] = [], policy: AclPolicy, logger: Logger = Logger(label: "tributary.acls")) {
        self.init(log: nil, bindings: Set(bindings), policy: policy, logger: logger)
    }

    private init(log: (any PartitionLog)?, bindings: Set<AclBinding>, policy: AclPolicy, logger: Logger) {
        self.log = log
        self.logger = logger
        self.policy = policy
        state.withLockedValue { $0.committed = AclIndex(bindings) }
    }

    public var bindings: Set<AclBinding> { state.withLockedValue { $0.committed.bindings } }

    public func authorize(principal: String, host: String, operation: AclOperation, resourceType: AclResourceType, resourceName: String) -> Bool {
        let index = state.withLockedValue { $0.committed }
        return policy.authorize(index, principal: principal, host: host, operation: operation, resourceType: resourceType, resourceName: resourceName)
    }

    public func authorizeAny(principal: String, host: String, operation: AclOperation, resourceType: AclResourceType) -> Bool {
        let index = state.withLockedValue { $0.committed }
        return policy.authorizeAny(index, principal: principal, host: host, operation: operation, resourceType: resourceType)
    }

    /// The bindings the filter selects, in a stable order.
    public func describe(_ filter: AclBindingFilter) -> [AclBinding] {
        state.withLockedValue { $0.committed.bindings }.filter(filter.matches).sorted(by: Self.order)
    }

    /// Adds the bindings (ones already present are left as they are) and returns once they are durable.
    public func create(_ bindings: [AclBinding]) async throws {
        _ = try await change(adding: bindings, removing: { _ in [] })
    }

    /// Removes what each filter selects; returns, per filter, the bindings it removed, once durable.
    public func delete(_ filters: [AclBindingFilter]) async throws -> [[AclBinding]] {
        try await change(adding: [], removing: { index in filters.map { filter in index.bindings.filter(filter.matches).sorted(by: Self.order) } })
    }

    /// One change: computed from the ACLs in force, written as one batch, in force once durable.
    private func change(adding: [AclBinding], removing: @escaping @Sendable (AclIndex) -> [[AclBinding]]) async throws -> [[AclBinding]] {
        try await changes.run { [self] in
            let current = state.withLockedValue { $0.committed }
            let removedPerFilter = removing(current)
            let added = Array(Set(adding.filter { !current.bindings.contains($0) }))
            let removed = Array(Set(removedPerFilter.joined()).subtracting(adding))
            guard !added.isEmpty || !removed.isEmpty else { return removedPerFilter }
            if let log {
                do {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = .sortedKeys
                    var records: [(key: String, value: Data?)] = []
                    for binding in added {
                        let json = try encoder.encode(binding)
                        records.append((String(decoding: json, as: UTF8.self), json))
                    }
                    for binding in removed { records.append((String(decoding: try encoder.encode(binding), as: UTF8.self), nil)) }
                    try await DurableAppend.queue(records, to: log).value()
                } catch {
                    logger.error("could not store a change to the ACLs", metadata: ["error": "\(error)"])
                    throw AclStoreError("the ACLs could not be written: \(error)")
                }
            }
            state.withLockedValue { state in
                for binding in added { state.committed.insert(binding) }
                for binding in removed { state.committed.remove(binding) }
            }
            logger.info("ACLs changed", metadata: ["added": "\(added.count)", "removed": "\(removed.count)"])
            return removedPerFilter
        }
    }

    static func order(_ a: AclBinding, _ b: AclBinding) -> Bool {
        // (Tuples compare up to six elements: operation and permission share one.)
        (a.resourceType.rawValue, a.resourceName, a.patternType.rawValue, a.principal, a.host, Int(a.operation.rawValue) * 8 + Int(a.permission.rawValue))
            < (b.resourceType.rawValue, b.resourceName, b.patternType.rawValue, b.principal, b.host, Int(b.operation.rawValue) * 8 + Int(b.permission.rawValue))
    }
}
