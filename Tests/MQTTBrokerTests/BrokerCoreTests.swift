import Logging
@testable import MQTTBroker
import MQTTProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

/// A message log whose appends complete only when the test says so, to show that acknowledgments wait
/// for the append.
final class ManualLog: MQTTMessageLog, @unchecked Sendable {
    struct Append {
        var message: MQTTMessage
        var durable: Bool
        var completion: @Sendable (Result<LogPosition, any Error>) -> Void
    }

    var appends: [Append] = []
    var nextOffset: Int64 = 0
    let partition = PartitionKey(topic: "mqtt.messages", partition: 0)

    func append(_ message: MQTTMessage, durable: Bool, completion: @escaping @Sendable (Result<LogPosition, any Error>) -> Void) -> PartitionKey {
        appends.append(Append(message: message, durable: durable, completion: completion))
        return partition
    }

    func completeAll() {
        let pending = appends
        appends = []
        for append in pending {
            append.completion(.success(LogPosition(partition: partition, offset: nextOffset)))
            nextOffset += 1
        }
    }

    /// Completes the oldest `count` appends.
    func complete(first count: Int) {
        let pending = appends.prefix(count)
        appends.removeFirst(min(count, appends.count))
        for append in pending {
            append.completion(.success(LogPosition(partition: partition, offset: nextOffset)))
            nextOffset += 1
        }
    }

    func failAll() {
        let pending = appends
        appends = []
        for append in pending { append.completion(.failure(TestFailure())) }
    }

    func read(from start: [PartitionKey: Int64], until end: [PartitionKey: Int64], limit: Int) async throws -> (messages: [MQTTMessage], next: [PartitionKey: Int64]) {
        ([], end)
    }

    func read(positions: [LogPosition]) async throws -> [MQTTMessage] { [] }
    func endOffsets() async throws -> [PartitionKey: Int64] { [:] }
}

struct TestFailure: Error {}

final class MemoryStateStore: MQTTStateStore, @unchecked Sendable {
    var sessions: [String: StoredSession] = [:]
    var retained: [String: MQTTMessage] = [:]
    func loadSessions() async throws -> [StoredSession] { Array(sessions.values) }
    func loadRetained() async throws -> [MQTTMessage] { Array(retained.values) }
    func saveSession(clientId: String, _ session: StoredSession?, durable: Bool, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        sessions[clientId] = session
        completion(.success(()))
    }
    func saveRetained(topic: String, _ message: MQTTMessage?, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        retained[topic] = message
        completion(.success(()))
    }
}

final class CollectedEvents: MQTTEventSink {
    let events = NIOLockedValueBox<[MQTTEvent]>([])
    func emit(_ event: MQTTEvent) { events.withLockedValue { $0.append(event) } }
    var names: [String] { events.withLockedValue { $0.map(\.name) } }
}

/// The broker core on an embedded event loop with embedded channels as clients: everything runs on the
/// test's thread, step by step.
final class Harness {
    let loop = EmbeddedEventLoop()
    let log = ManualLog()
    let store = MemoryStateStore()
    let events = CollectedEvents()
    let core: MQTTBrokerCore

    init(configure: (inout MQTTBrokerConfiguration) -> Void = { _ in }) {
        var configuration = MQTTBrokerConfiguration()
        configure(&configuration)
        core = MQTTBrokerCore(
            eventLoop: loop, configuration: configuration, messageLog: log, stateStore: store, events: events,
            logger: Logger(label: "test"), clock: { 1_000_000 })
    }

    func connect(_ clientId: String, version: MQTTProtocolVersion = .v5, cleanStart: Bool = true) throws -> Client {
        let channel = EmbeddedChannel(handler: MQTTChannelHandler(core: core), loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
        let client = Client(channel: channel, version: version, harness: self)
        try client.send(.connect(MQTTConnect(protocolVersion: version, cleanStart: cleanStart, keepAliveSeconds: 0, clientId: clientId)))
        guard case .connAck(let ack) = try client.receive() else { throw TestFailure() }
        #expect(ack.reasonCode == .success)
        return client
    }
}

struct Client {
    let channel: EmbeddedChannel
    let version: MQTTProtocolVersion
    let harness: Harness

    func send(_ packet: MQTTPacket) throws {
        var buffer = ByteBuffer()
        try MQTTPacketCodec.encode(packet, version: version, into: &buffer)
        try channel.writeInbound(buffer)
        harness.loop.run()
    }

    /// The next packet the broker wrote, or nil.
    func receive() throws -> MQTTPacket? {
        harness.loop.run()
        guard var buffer = try channel.readOutbound(as: ByteBuffer.self) else { return nil }
        while buffer.readableBytes == 0 {
            guard let next = try channel.readOutbound(as: ByteBuffer.self) else { return nil }
            buffer = next
        }
        return try MQTTPacketCodec.decode(from: &buffer, version: version, maximumPacketSize: 1 << 24)
    }
}

@Suite struct BrokerCoreTests {
    @Test func pubAckWaitsForTheAppend() throws {
        let harness = Harness()
        let client = try harness.connect("device")
        try client.send(.publish(MQTTPublish(qos: .atLeastOnce, topic: "t", packetId: 7, payload: ByteBuffer(string: "x"))))
        #expect(harness.log.appends.count == 1)
        #expect(harness.log.appends.first?.durable == true)
        #expect(try client.receive() == nil, "no PUBACK before the append completed")
        harness.log.completeAll()
        guard case .pubAck(let ack) = try client.receive() else {
            Issue.record("expected a PUBACK")
            return
        }
        #expect(ack.packetId == 7 && ack.reasonCode == .success)
    }

    @Test func acknowledgmentsKeepPublishOrder() throws {
        let harness = Harness()
        let client = try harness.connect("device")
        try client.send(.publish(MQTTPublish(qos: .atLeastOnce, topic: "t", packetId: 1, payload: ByteBuffer(string: "1"))))
        try client.send(.publish(MQTTPublish(qos: .exactlyOnce, topic: "t", packetId: 2, payload: ByteBuffer(string: "2"))))
        // The second append completes first: its PUBREC must still follow the first PUBACK.
        let second = harness.log.appends.removeLast()
        second.completion(.success(LogPosition(partition: harness.log.partition, offset: 1)))
        #expect(try client.receive() == nil)
        harness.log.completeAll()
        guard case .pubAck(let first) = try client.receive(), case .pubRec(let then) = try client.receive() else {
            Issue.record("expected PUBACK then PUBREC")
            return
        }
        #expect(first.packetId == 1 && then.packetId == 2)
    }

    @Test func aFailedAppendIsNeverAcknowledged() throws {
        let harness = Harness()
        let five = try harness.connect("five")
        try five.send(.publish(MQTTPublish(qos: .atLeastOnce, topic: "t", packetId: 3, payload: ByteBuffer(string: "x"))))
        harness.log.failAll()
        guard case .pubAck(let ack) = try five.receive() else {
            Issue.record("expected a PUBACK with a failure code")
            return
        }
        #expect(ack.reasonCode == .implementationSpecificError)

        let three = try harness.connect("three", version: .v3_1_1)
        try three.send(.publish(MQTTPublish(qos: .atLeastOnce, topic: "t", packetId: 4, payload: ByteBuffer(string: "x"))))
        harness.log.failAll()
        harness.loop.run()
        #expect(try three.receive() == nil, "3.1.1 has no failing PUBACK")
        #expect(!three.channel.isActive, "the 3.1.1 connection is closed instead")
    }

    @Test func overlappingSubscriptionsDeliverOnceAtTheHighestQoS() throws {
        let harness = Harness()
        let subscriber = try harness.connect("sub")
        var properties = MQTTProperties()
        properties.subscriptionIdentifiers = [5]
        try subscriber.send(.subscribe(MQTTSubscribe(packetId: 1, subscriptions: [MQTTSubscription(filter: "a/+", options: MQTTSubscriptionOptions(qos: .atMostOnce))], properties: properties)))
        properties.subscriptionIdentifiers = [9]
        try subscriber.send(.subscribe(MQTTSubscribe(packetId: 2, subscriptions: [MQTTSubscription(filter: "a/#", options: MQTTSubscriptionOptions(qos: .atLeastOnce))], properties: properties)))
        guard case .subAck = try subscriber.receive(), case .subAck = try subscriber.receive() else {
            Issue.record("expected two SUBACKs")
            return
        }
        let publisher = try harness.connect("pub")
        try publisher.send(.publish(MQTTPublish(qos: .exactlyOnce, topic: "a/b", packetId: 1, payload: ByteBuffer(string: "hello"))))
        harness.log.completeAll()
        guard case .publish(let delivered) = try subscriber.receive() else {
            Issue.record("expected a PUBLISH")
            return
        }
        #expect(delivered.qos == .atLeastOnce)
        #expect(delivered.properties.subscriptionIdentifiers == [5, 9])
        #expect(String(buffer: delivered.payload) == "hello")
        #expect(try subscriber.receive() == nil, "delivered once")
    }

    @Test func willIsPublishedWhenTheSocketIsLostButNotAfterDisconnect() throws {
        let harness = Harness()
        for (clientId, graceful) in [("lost", false), ("polite", true)] {
            let channel = EmbeddedChannel(handler: MQTTChannelHandler(core: harness.core), loop: harness.loop)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
            let client = Client(channel: channel, version: .v3_1_1, harness: harness)
            let will = MQTTWill(topic: "status/\(clientId)", payload: ByteBuffer(string: "offline"), qos: .atLeastOnce)
            try client.send(.connect(MQTTConnect(protocolVersion: .v3_1_1, cleanStart: true, keepAliveSeconds: 0, clientId: clientId, will: will)))
            _ = try client.receive()
            if graceful { try client.send(.disconnect(MQTTDisconnect())) }
            _ = try? channel.finish()
            harness.loop.run()
        }
        #expect(harness.log.appends.map(\.message.topic) == ["status/lost"])
        harness.log.completeAll()
        harness.loop.run()
        #expect(harness.events.names.contains("will.published"))
        let reasons = harness.events.events.withLockedValue { $0 }.filter { $0.name == "client.disconnected" }.compactMap { event in
            event.fields.first { $0.0 == "reason" }.map { "\(event.clientId)=\($0.1)" }
        }
        #expect(reasons == ["lost=string(\"connection_lost\")", "polite=string(\"normal\")"])
    }

    @Test func secondConnectIsAProtocolError() throws {
        let harness = Harness()
        let client = try harness.connect("twice")
        try client.send(.connect(MQTTConnect(protocolVersion: .v5, cleanStart: true, keepAliveSeconds: 0, clientId: "twice")))
        guard case .disconnect(let disconnect) = try client.receive() else {
            Issue.record("expected a DISCONNECT")
            return
        }
        #expect(disconnect.reasonCode == .protocolError)
    }
}
