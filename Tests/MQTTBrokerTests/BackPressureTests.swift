import Logging
@testable import MQTTBroker
import MQTTProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

/// Counts the reads that get past the MQTT handler towards the socket.
final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    var reads = 0

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

@Suite struct BackPressureTests {
    /// 3.1.1 has no Receive Maximum: a publisher that outruns storage is simply not read any further
    /// once `maximumPublishesBeingStored` of its publishes (QoS 0 included) wait for their append, and is
    /// read again when half of them are stored.
    @Test(arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func aPublisherThatOutrunsStorageStopsBeingRead(version: MQTTProtocolVersion) throws {
        let harness = Harness { $0.maximumPublishesBeingStored = 10 }
        let counter = ReadCounter()
        let channel = EmbeddedChannel(handlers: [counter, MQTTChannelHandler(core: harness.core)], loop: harness.loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
        let client = Client(channel: channel, version: version, harness: harness)
        try client.send(.connect(MQTTConnect(protocolVersion: version, cleanStart: true, keepAliveSeconds: 0, clientId: "flood-\(version)")))
        guard case .connAck = try client.receive() else {
            Issue.record("expected a CONNACK")
            return
        }
        channel.read()
        #expect(counter.reads == 1, "reads pass while nothing is being stored")

        for index in 0..<10 {
            let qos: MQTTQoS = index % 2 == 0 ? .atLeastOnce : .atMostOnce
            try client.send(.publish(MQTTPublish(qos: qos, topic: "flood/\(index)", packetId: qos == .atMostOnce ? nil : UInt16(index + 1), payload: ByteBuffer(string: "x"))))
        }
        #expect(harness.log.appends.count == 10)
        harness.loop.run()
        channel.read()
        #expect(counter.reads == 1, "the 10th publish being stored holds the reads back")

        harness.log.complete(first: 4)
        harness.loop.run()
        channel.read()
        #expect(counter.reads == 1, "6 still being stored: still held")

        harness.log.complete(first: 1)
        harness.loop.run()
        #expect(counter.reads == 2, "5 being stored: the owed read goes out")
        channel.read()
        #expect(counter.reads == 3)

        // The stored QoS 1 publishes were acknowledged in order meanwhile.
        var acknowledged: [UInt16] = []
        while let packet = try client.receive() {
            if case .pubAck(let ack) = packet { acknowledged.append(ack.packetId) }
        }
        #expect(acknowledged == [1, 3, 5])
        harness.log.completeAll()
        harness.loop.run()
        _ = try? channel.finish()
    }

    /// A subscriber whose socket does not keep up (its channel not writable): QoS 0 messages to it are
    /// dropped and counted (message.dropped, queue_full); QoS 1 messages wait in its session's queue and go
    /// out in order once the channel is writable again.
    @Test func aSlowSubscriberLosesQoS0AndKeepsQoS1() throws {
        let harness = Harness { $0.enabledEvents.insert("message.dropped") }
        let subscriber = try harness.connect("slow")
        try subscriber.send(.subscribe(MQTTSubscribe(packetId: 1, subscriptions: [MQTTSubscription(filter: "t/#", options: MQTTSubscriptionOptions(qos: .atLeastOnce))])))
        guard case .subAck = try subscriber.receive() else {
            Issue.record("expected a SUBACK")
            return
        }
        let publisher = try harness.connect("fast")
        subscriber.channel.isWritable = false
        for index in 0..<6 {
            let qos: MQTTQoS = index % 2 == 0 ? .atMostOnce : .atLeastOnce
            try publisher.send(.publish(MQTTPublish(qos: qos, topic: "t/\(index)", packetId: qos == .atMostOnce ? nil : UInt16(index), payload: ByteBuffer(string: "m\(index)"))))
        }
        harness.log.completeAll()
        harness.loop.run()
        #expect(try subscriber.receive() == nil, "nothing is written to a connection without room")
        let dropped = harness.events.events.withLockedValue { $0 }.filter { $0.name == "message.dropped" }
        #expect(dropped.map { event in event.fields.first { $0.0 == "reason" }.map { "\($0.1)" } ?? "" } == Array(repeating: "string(\"queue_full\")", count: 3))
        #expect(dropped.map { event in event.fields.first { $0.0 == "topic" }.map { "\($0.1)" } ?? "" } == ["string(\"t/0\")", "string(\"t/2\")", "string(\"t/4\")"])

        subscriber.channel.isWritable = true
        subscriber.channel.pipeline.fireChannelWritabilityChanged()
        harness.loop.run()
        var delivered: [String] = []
        while let packet = try subscriber.receive() {
            if case .publish(let publish) = packet { delivered.append(publish.topic) }
        }
        #expect(delivered == ["t/1", "t/3", "t/5"])
    }
}
