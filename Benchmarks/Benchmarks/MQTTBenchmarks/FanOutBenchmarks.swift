import Benchmark
import Logging
import MQTTBroker
import MQTTProtocol
import NIOCore
import NIOEmbedded

// MQTT publish fan-out to one subscriber through the real broker core (`MQTTBrokerCore`), driven the way
// `Tests/MQTTBrokerTests` drive it: on an `EmbeddedEventLoop`, one thread, step by step.
//
// One measured operation = one incoming PUBLISH (200-byte payload, topic `devices/d-000123/telemetry`,
// MQTT 3.1.1) from a publisher connection, routed to the one session subscribed to `devices/+/telemetry`.
//
// Included: decoding the incoming PUBLISH bytes (the same `MQTTPacketCodec.decode` call the channel handler
// makes), the hop onto the broker's loop (`received`), the publish checks, the append call into the message
// log and the hop back on its completion, the in-order routing queue, the subscription trie match and the
// per-session merge, delivery (QoS 1: packet id, inflight window), encoding the outgoing PUBLISH (and, at
// QoS 1, the PUBACK to the publisher) into fresh buffers, and the connection's outbound queue with its
// drain task down to `channel.write`/`flush`. At QoS 1 the subscriber's PUBACK is part of the cycle too
// (decoded and handled: the inflight entry is released), so the session stays in a steady state.
//
// Not included: sockets and the NIO channel pipeline below `MQTTConnectionHandle` (the write ends in a handler
// that counts and drops the bytes), the packet decoder in front of `MQTTChannelHandler` (`MQTTPacketDecoder`),
// and the storage append itself: the message log here is a null log that hands out offsets and completes at
// once (appending to LogStore is measured by StorageBenchmarks). Events and the rules observer are off (the
// defaults: message.delivered/acked events are not emitted).
//
// Counted but not the broker's: the embedded event loop's own bookkeeping. At QoS 0 (32 mallocs per publish
// when this was written, 27 since the topic is split only as far as the trie reaches, the routing queue of a
// partition stays, and a client's publish waits in its route without a closure or box of its own) about 15
// come from `EmbeddedEventLoop.execute`/`scheduleTask`/`run` for the three hops (received, append
// completion, connection drain); a `SelectableEventLoop` allocates less per `execute`.
// The count is still a fixed, deterministic number, so it works as a regression threshold.

/// A message log that stores nothing: every append succeeds at once with the next offset of one partition.
final class NullMessageLog: MQTTMessageLog, @unchecked Sendable {
    // Only used on the embedded loop's (the benchmark's) thread.
    let partition = PartitionKey(topic: "mqtt.messages", partition: 0)
    private var nextOffset: Int64 = 0

    func append(_ message: MQTTMessage, durable: Bool, completion: @escaping @Sendable (Result<LogPosition, any Error>) -> Void) -> PartitionKey {
        let offset = nextOffset
        nextOffset += 1
        completion(.success(LogPosition(partition: partition, offset: offset)))
        return partition
    }

    func read(from start: [PartitionKey: Int64], until end: [PartitionKey: Int64], limit: Int) async throws -> (messages: [MQTTMessage], next: [PartitionKey: Int64]) {
        ([], end)
    }

    func read(positions: [LogPosition]) async throws -> [MQTTMessage] { [] }
    func endOffsets() async throws -> [PartitionKey: Int64] { [:] }
}

final class NullStateStore: MQTTStateStore, @unchecked Sendable {
    func loadSessions() async throws -> [StoredSession] { [] }
    func loadRetained() async throws -> [MQTTMessage] { [] }
    func saveSession(clientId: String, _ session: StoredSession?, durable: Bool, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        completion(.success(()))
    }
    func saveRetained(topic: String, _ message: MQTTMessage?, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        completion(.success(()))
    }
}

final class NullEventSink: MQTTEventSink {
    func emit(_ event: MQTTEvent) {}
}

/// The network end of a client connection: counts the packets the broker wrote and drops them, remembering
/// the packet id of the last PUBLISH (so the benchmark can acknowledge it). Reads the fixed header and the
/// variable header in place, without decoding (the client's work is not the broker's).
final class CountingSink: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer

    private(set) var packets = 0
    private(set) var publishes = 0
    private(set) var acknowledgements = 0
    private(set) var lastPublishPacketId: UInt16 = 0

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        if let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) {
            packets += 1
            switch first >> 4 {
            case 3:
                publishes += 1
                if (first >> 1) & 0b11 != 0 {
                    // Remaining length (variable-length integer), topic (UInt16 length + bytes), packet id.
                    var index = buffer.readerIndex + 1
                    while let byte = buffer.getInteger(at: index, as: UInt8.self), byte & 0x80 != 0 { index += 1 }
                    index += 1
                    if let topicLength = buffer.getInteger(at: index, as: UInt16.self),
                       let packetId = buffer.getInteger(at: index + 2 + Int(topicLength), as: UInt16.self) {
                        lastPublishPacketId = packetId
                    }
                }
            case 4:
                acknowledgements += 1
            default:
                break
            }
        }
        promise?.succeed(())
    }

    func flush(context: ChannelHandlerContext) {}
}

/// The broker core with a publisher and one subscriber connected (clean sessions) and subscribed.
final class FanOutHarness: @unchecked Sendable {
    // Everything runs on the benchmark's thread: the embedded loop runs its tasks in `loop.run()`.
    let loop = EmbeddedEventLoop()
    let core: MQTTBrokerCore
    let version: MQTTProtocolVersion
    let publisherSink = CountingSink()
    let subscriberSink = CountingSink()
    private(set) var publisherId: UInt64 = 0
    private(set) var subscriberId: UInt64 = 0
    private var ackBuffer = ByteBuffer()

    init(version: MQTTProtocolVersion, subscriptionQoS: MQTTQoS) throws {
        self.version = version
        core = MQTTBrokerCore(
            eventLoop: loop, configuration: MQTTBrokerConfiguration(), messageLog: NullMessageLog(), stateStore: NullStateStore(),
            events: NullEventSink(), logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }), clock: { 1_700_000_000_000 })
        publisherId = try open("publisher", sink: publisherSink)
        subscriberId = try open("subscriber", sink: subscriberSink)
        core.received(.subscribe(MQTTSubscribe(packetId: 1, subscriptions: [MQTTSubscription(filter: "devices/+/telemetry", options: MQTTSubscriptionOptions(qos: subscriptionQoS))])), bytes: 0, on: subscriberId)
        loop.run()
        precondition(publisherSink.packets == 1 && subscriberSink.packets == 2, "expected CONNACKs and a SUBACK")
        ackBuffer.reserveCapacity(16)
    }

    private func open(_ clientId: String, sink: CountingSink) throws -> UInt64 {
        let channel = EmbeddedChannel(handler: sink, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
        let id = core.makeConnectionId()
        core.connectionOpened(MQTTConnectionHandle(id: id, channel: channel))
        core.received(.connect(MQTTConnect(protocolVersion: version, cleanStart: true, keepAliveSeconds: 0, clientId: clientId)), bytes: 0, on: id)
        loop.run()
        return id
    }

    /// Decodes one packet from the client's bytes and hands it to the core, then runs the loop until idle.
    @inline(__always)
    func receive(_ bytes: ByteBuffer, from connectionId: UInt64) throws {
        var input = bytes
        guard let packet = try MQTTPacketCodec.decode(from: &input, version: version, maximumPacketSize: 1 << 20) else {
            fatalError("incomplete packet")
        }
        core.received(packet, bytes: bytes.readableBytes, on: connectionId)
        loop.run()
    }

    /// The subscriber acknowledges the last QoS 1 PUBLISH it got.
    @inline(__always)
    func acknowledgeLastPublish() throws {
        ackBuffer.clear()
        ackBuffer.writeInteger(UInt16(0x4002))  // PUBACK, remaining length 2
        ackBuffer.writeInteger(subscriberSink.lastPublishPacketId)
        try receive(ackBuffer, from: subscriberId)
    }
}

/// Builds the harness on first use, on the thread that runs the benchmark (each benchmark runs in its own
/// process, so registering does not pay for harnesses of benchmarks that are not run).
final class LazyFanOutHarness: @unchecked Sendable {
    private let version: MQTTProtocolVersion
    private let qos: MQTTQoS
    private var harness: FanOutHarness? = nil

    init(version: MQTTProtocolVersion, qos: MQTTQoS) {
        self.version = version
        self.qos = qos
    }

    func get() throws -> FanOutHarness {
        if let harness { return harness }
        let made = try FanOutHarness(version: version, subscriptionQoS: qos)
        harness = made
        return made
    }
}

/// Registers the fan-out benchmarks: a readable one for `make bench` (the target's default metrics) and a
/// twin that `make bench-check` runs with the allocation-count configuration `checkConfiguration`.
func fanOutBenchmarks(checkConfiguration: Benchmark.Configuration) {
    let payload = ByteBuffer(repeating: 0x61, count: 200)
    let version = MQTTProtocolVersion.v3_1_1
    for qos in [MQTTQoS.atMostOnce, .atLeastOnce] {
        var encoded = ByteBuffer()
        try! MQTTPacketCodec.encode(
            .publish(MQTTPublish(qos: qos, topic: "devices/d-000123/telemetry", packetId: qos == .atMostOnce ? nil : 42, payload: payload)),
            version: version, into: &encoded)
        let incoming = encoded

        // The broker stays up across iterations (warm-up included), so what is measured is the steady state.
        let state = LazyFanOutHarness(version: version, qos: qos)
        let body: @Sendable (Benchmark) throws -> Void = { benchmark in
            let harness = try state.get()
            let deliveredBefore = harness.subscriberSink.publishes
            let acknowledgedBefore = harness.publisherSink.acknowledgements
            for _ in benchmark.scaledIterations {
                try harness.receive(incoming, from: harness.publisherId)
                if qos == .atLeastOnce { try harness.acknowledgeLastPublish() }
            }
            // Every publish reached the subscriber (and at QoS 1 the publisher got its PUBACK).
            let iterations = benchmark.scaledIterations.count
            precondition(harness.subscriberSink.publishes - deliveredBefore == iterations, "a publish was not delivered")
            precondition(qos == .atMostOnce || harness.publisherSink.acknowledgements - acknowledgedBefore == iterations, "a publish was not acknowledged")
            blackHole(harness.subscriberSink.publishes)
        }

        Benchmark("MQTT publish fan-out to one subscriber, QoS \(qos.rawValue), 200 B payload (\(version))") { benchmark in
            try body(benchmark)
        }
        // Shell-safe name: package-benchmark 1.38.1 writes threshold files with spaces and slashes replaced by
        // `_` but looks them up by the unmodified name.
        Benchmark("alloc.mqtt-fanout-1-subscriber.qos\(qos.rawValue).3.1.1", configuration: checkConfiguration) { benchmark in
            try body(benchmark)
        }
    }
}
