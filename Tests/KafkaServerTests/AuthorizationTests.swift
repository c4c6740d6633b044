import AccessControl
import KafkaProtocol
@testable import KafkaServer
import NIOCore
import Testing

/// The ACL authorizer as handlers apply it, for the principal of a plaintext connection (User:ANONYMOUS).
@Suite struct AuthorizationTests {
    let handling = RequestHandlingTests()

    func allow(_ operation: AclOperation, _ type: AclResourceType, _ name: String) -> AclBinding {
        AclBinding(resourceType: type, resourceName: name, principal: "User:ANONYMOUS", operation: operation, permission: .allow)
    }

    @Test func fetchSaysTheSameForMissingAndForbiddenTopics() async throws {
        let fixture = try await BrokerFixture()
        defer { Task { await fixture.shutdown() } }
        #expect(try await handling.produce(fixture, topic: "readable", batch: handling.batch(["a"], timestamps: [1])).errorCode == 0)
        #expect(try await handling.produce(fixture, topic: "secret", batch: handling.batch(["b"], timestamps: [1])).errorCode == 0)
        fixture.broker.attach(acls: AclStore(bindings: [allow(.read, .topic, "readable")], policy: AclPolicy()))
        #expect(try await handling.fetch(fixture, topic: "readable", offset: 0).errorCode == 0)
        // Whether or not it exists, a topic the principal may not read answers TOPIC_AUTHORIZATION_FAILED:
        // the answer does not tell which topics exist.
        #expect(try await handling.fetch(fixture, topic: "secret", offset: 0).errorCode == KafkaErrorCode.topicAuthorizationFailed.rawValue)
        #expect(try await handling.fetch(fixture, topic: "no-such-topic", offset: 0).errorCode == KafkaErrorCode.topicAuthorizationFailed.rawValue)
        // Producing needs WRITE.
        #expect(try await handling.produce(fixture, topic: "readable", batch: handling.batch(["c"], timestamps: [1])).errorCode
            == KafkaErrorCode.topicAuthorizationFailed.rawValue)
    }

    func initProducerId(_ fixture: BrokerFixture) async throws -> Int16 {
        guard case .initProducerId(let response)? = try await fixture.send(.initProducerId(InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60_000)), version: 4) else {
            throw FixtureError("no InitProducerId response")
        }
        return response.errorCode
    }

    @Test func idempotentProducersNeedIdempotentWriteOrWriteSomewhere() async throws {
        let fixture = try await BrokerFixture()
        defer { Task { await fixture.shutdown() } }
        fixture.broker.attach(acls: AclStore(policy: AclPolicy()))
        #expect(try await initProducerId(fixture) == KafkaErrorCode.clusterAuthorizationFailed.rawValue)
        // allow.everyone.if.no.acl.found covers it, as in Kafka's authorizeByResourceType.
        fixture.broker.attach(acls: AclStore(policy: AclPolicy(allowEveryoneIfNoAclFound: true)))
        #expect(try await initProducerId(fixture) == 0)
        fixture.broker.attach(acls: AclStore(bindings: [allow(.write, .topic, "orders")], policy: AclPolicy()))
        #expect(try await initProducerId(fixture) == 0)
        // A DENY covering the only topic it may write takes that away.
        let deny = AclBinding(resourceType: .topic, resourceName: "ord", patternType: .prefixed, principal: "User:*", operation: .write, permission: .deny)
        fixture.broker.attach(acls: AclStore(bindings: [allow(.write, .topic, "orders"), deny], policy: AclPolicy()))
        #expect(try await initProducerId(fixture) == KafkaErrorCode.clusterAuthorizationFailed.rawValue)
    }
}
