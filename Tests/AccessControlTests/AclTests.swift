import Foundation
import LogStore
import Logging
import NIOPosix
import Testing

@testable import AccessControl

@Suite struct AclDecisionTests {
    func allow(_ principal: String, _ operation: AclOperation, _ name: String, type: AclResourceType = .topic, pattern: AclPatternType = .literal, host: String = "*") -> AclBinding {
        AclBinding(resourceType: type, resourceName: name, patternType: pattern, principal: principal, host: host, operation: operation, permission: .allow)
    }

    func deny(_ principal: String, _ operation: AclOperation, _ name: String, type: AclResourceType = .topic, pattern: AclPatternType = .literal) -> AclBinding {
        AclBinding(resourceType: type, resourceName: name, patternType: pattern, principal: principal, operation: operation, permission: .deny)
    }

    func decide(_ store: AclStore, _ principal: String, _ operation: AclOperation, _ name: String, type: AclResourceType = .topic, host: String = "10.0.0.1") -> Bool {
        store.authorize(principal: principal, host: host, operation: operation, resourceType: type, resourceName: name)
    }

    @Test func nothingIsAllowedWithoutAnAclUnlessConfigured() {
        let closed = AclStore(policy: AclPolicy())
        #expect(!decide(closed, "User:alice", .read, "telemetry"))
        let open = AclStore(bindings: [allow("User:bob", .read, "other")], policy: AclPolicy(allowEveryoneIfNoAclFound: true))
        #expect(decide(open, "User:alice", .read, "telemetry"))
        // A resource that has ACLs is not open to everyone, even with allow.everyone.if.no.acl.found.
        #expect(!decide(open, "User:alice", .read, "other"))
    }

    @Test func superUsersMayDoAnything() {
        let store = AclStore(bindings: [deny("User:admin", .all, "telemetry")], policy: AclPolicy(superUsers: ["User:admin"]))
        #expect(decide(store, "User:admin", .delete, "telemetry"))
        #expect(decide(store, "User:admin", .alter, kafkaClusterResourceName, type: .cluster))
    }

    @Test func impliedOperations() {
        let store = AclStore(bindings: [allow("User:alice", .read, "a"), allow("User:alice", .alterConfigs, "b"), allow("User:alice", .all, "c")], policy: AclPolicy())
        #expect(decide(store, "User:alice", .describe, "a"))
        #expect(!decide(store, "User:alice", .write, "a"))
        #expect(decide(store, "User:alice", .describeConfigs, "b"))
        #expect(!decide(store, "User:alice", .describe, "b"))
        #expect(decide(store, "User:alice", .delete, "c"))
    }

    @Test func denyWinsAndPatternsMatch() {
        let store = AclStore(bindings: [
            allow("User:*", .read, "*"),
            deny("User:mallory", .read, "secret-", pattern: .prefixed),
            allow("User:alice", .write, "devices.", pattern: .prefixed),
            deny("User:alice", .all, "devices.locked"),
        ], policy: AclPolicy())
        #expect(decide(store, "User:anyone", .read, "telemetry"))
        #expect(decide(store, "User:mallory", .read, "telemetry"))
        #expect(!decide(store, "User:mallory", .read, "secret-plans"))
        #expect(decide(store, "User:mallory", .read, "secret"))
        #expect(decide(store, "User:alice", .write, "devices.kitchen"))
        #expect(!decide(store, "User:alice", .write, "devices.locked"))
        #expect(!decide(store, "User:alice", .write, "telemetry"))
        // Other resource types are not touched by topic ACLs.
        #expect(!decide(store, "User:anyone", .read, "telemetry", type: .group))
    }

    @Test func hostsMatchExactlyOrByWildcard() {
        let store = AclStore(bindings: [allow("User:alice", .read, "t", host: "10.0.0.1")], policy: AclPolicy())
        #expect(decide(store, "User:alice", .read, "t", host: "10.0.0.1"))
        #expect(!decide(store, "User:alice", .read, "t", host: "10.0.0.2"))
    }

    @Test func writeOnSomeTopicCountsForIdempotentProducers() {
        let store = AclStore(bindings: [allow("User:alice", .write, "t")], policy: AclPolicy())
        #expect(store.authorizeAny(principal: "User:alice", host: "h", operation: .write, resourceType: .topic))
        #expect(!store.authorizeAny(principal: "User:bob", host: "h", operation: .write, resourceType: .topic))
    }

    @Test func filtersSelectAsKafkaDoes() {
        let literal = allow("User:alice", .read, "t")
        let wildcard = allow("User:bob", .read, "*")
        let prefixed = allow("User:carol", .read, "t", pattern: .prefixed)
        let group = allow("User:alice", .read, "t", type: .group)
        let all = [literal, wildcard, prefixed, group]
        func selected(_ filter: AclBindingFilter) -> Set<AclBinding> { Set(all.filter(filter.matches)) }
        #expect(selected(AclBindingFilter()) == Set(all))
        #expect(selected(AclBindingFilter(resourceType: .topic, resourceName: "t", patternType: .literal)) == [literal])
        #expect(selected(AclBindingFilter(resourceType: .topic, resourceName: "t", patternType: .any)) == [literal, prefixed])
        #expect(selected(AclBindingFilter(resourceType: .topic, resourceName: "tx", patternType: .match)) == [wildcard, prefixed])
        #expect(selected(AclBindingFilter(principal: "User:alice")) == [literal, group])
        #expect(AclBindingFilter(operation: .unknown).invalidReason != nil)
    }

    @Test func invalidBindingsAreRefused() {
        #expect(allow("User:a", .read, "t").invalidReason == nil)
        #expect(allow("User:a", .read, "t", type: .any).invalidReason != nil)
        #expect(allow("User:a", .any, "t").invalidReason != nil)
        #expect(allow("alice", .read, "t").invalidReason != nil)
        #expect(allow("User:a", .read, "").invalidReason != nil)
        #expect(allow("User:a", .alter, "other", type: .cluster).invalidReason != nil)
        #expect(allow("User:a", .alter, kafkaClusterResourceName, type: .cluster).invalidReason == nil)
        #expect(allow("User:a", .read, "t", pattern: .match).invalidReason != nil)
    }

    @Test func survivesARestartThroughTheLog() async throws {
        let directory = NSTemporaryDirectory() + "tributary-acls-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let partition = TopicPartition(topic: AclStore.topic, partition: 0)
        var config = LogConfig()
        config.cleanupPolicy = .compact
        var manager = LogManager(dataDirectory: directory, threadPool: pool, logger: Logger(label: "test"))
        try manager.start()
        var store = try await AclStore.load(from: try manager.openLog(partition, config: config).log, policy: AclPolicy(), logger: Logger(label: "test"))
        let kept = allow("User:alice", .read, "t")
        let gone = allow("User:bob", .write, "t")
        try await store.create([kept, gone, kept])
        let removed = try await store.delete([AclBindingFilter(principal: "User:bob"), AclBindingFilter(principal: "User:nobody")])
        #expect(removed == [[gone], []])
        manager.shutdown()

        manager = LogManager(dataDirectory: directory, threadPool: pool, logger: Logger(label: "test"))
        try manager.start()
        store = try await AclStore.load(from: try manager.openLog(partition, config: config).log, policy: AclPolicy(), logger: Logger(label: "test"))
        #expect(store.bindings == [kept])
        #expect(decide(store, "User:alice", .read, "t"))
        #expect(!decide(store, "User:bob", .write, "t"))
        manager.shutdown()
        try await pool.shutdownGracefully()
    }
}

@Suite struct AclAuthorizeByResourceTypeTests {
    func binding(_ name: String, _ pattern: AclPatternType = .literal, _ permission: AclPermission = .allow, operation: AclOperation = .write) -> AclBinding {
        AclBinding(resourceType: .topic, resourceName: name, patternType: pattern, principal: "User:alice", operation: operation, permission: permission)
    }

    func any(_ bindings: [AclBinding], _ policy: AclPolicy = AclPolicy()) -> Bool {
        AclStore(bindings: bindings, policy: policy).authorizeAny(principal: "User:alice", host: "h", operation: .write, resourceType: .topic)
    }

    @Test func asKafkasDefaultImplementation() {
        #expect(!any([]))
        #expect(any([], AclPolicy(allowEveryoneIfNoAclFound: true)))
        #expect(any([], AclPolicy(superUsers: ["User:alice"])))
        #expect(any([binding("t")]))
        #expect(any([binding("t", operation: .all)]))
        #expect(!any([binding("t", operation: .read)]))  // no implied operations here
        #expect(!any([binding("t"), binding("t", .literal, .deny)]))
        #expect(!any([binding("t"), binding("*", .literal, .deny)]))
        #expect(!any([binding("topic-1"), binding("topic-", .prefixed, .deny)]))
        #expect(!any([binding("topic-1", .prefixed), binding("topic-", .prefixed, .deny)]))
        #expect(any([binding("topic-1"), binding("other-", .prefixed, .deny)]))
        #expect(any([binding("*")]))
    }
}
