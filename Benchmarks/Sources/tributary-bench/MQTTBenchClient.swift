import BenchHarness
import MQTTProtocol
import NIOCore
import NIOPosix

/// What a benchmark sent in one QoS 1/2 PUBLISH, kept until the broker acknowledges it.
struct OutgoingPublish {
    var stream: Int
    var sequence: UInt64
    var intended: UInt64
    var actual: UInt64
}

/// A minimal MQTT client for load generation: CONNECT, SUBSCRIBE, PUBLISH at QoS 0/1/2 in both directions
/// with the acknowledgment flows, nothing else. Every callback and every method runs on the channel's event
/// loop; the workload that owns the client is confined to the same loop.
final class MQTTBenchClient: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let version: MQTTProtocolVersion
    let clock: any BenchClock
    /// Most unacknowledged outgoing QoS 1/2 publishes (the broker's receive maximum in 5.0 terms).
    let maximumInflight: Int

    /// An incoming PUBLISH and the clock reading when its packet was decoded.
    var onPublish: ((MQTTPublish, UInt64) -> Void)?
    /// An outgoing QoS 1 publish's PUBACK or QoS 2 publish's PUBCOMP arrived.
    var onAcknowledged: ((OutgoingPublish, MQTTReasonCode, UInt64) -> Void)?
    /// The connection closed (expectedly or not) or failed with an error.
    var onClose: ((String?) -> Void)?

    private var context: ChannelHandlerContext?
    private var cumulation: ByteBuffer?
    private var connAckPromise: EventLoopPromise<MQTTConnAck>?
    private var subAckPromises: [UInt16: EventLoopPromise<MQTTSubAck>] = [:]
    private var inflight: [UInt16: OutgoingPublish] = [:]
    private var incomingQoS2: Set<UInt16> = []
    private var nextPacketId: UInt16 = 1
    /// Acknowledgments produced while reading, written as one buffer when the read completes.
    private var pendingAcks: ByteBuffer?
    private var closing = false
    private(set) var closed = false
    private(set) var protocolErrors = 0

    init(version: MQTTProtocolVersion, clock: any BenchClock, maximumInflight: Int) {
        self.version = version
        self.clock = clock
        self.maximumInflight = maximumInflight
    }

    var inflightCount: Int { inflight.count }
    var canPublishAcknowledged: Bool { !closed && inflight.count < maximumInflight }

    /// Connects a TCP channel with this client as its handler; `source` binds the local address first, `tls`
    /// adds TLS in front.
    static func connect(
        on loop: any EventLoop, to address: SocketAddress, source: SocketAddress? = nil,
        version: MQTTProtocolVersion, clock: any BenchClock, maximumInflight: Int, tls: (@Sendable (any Channel) throws -> Void)? = nil
    ) -> EventLoopFuture<MQTTBenchClient> {
        let client = MQTTBenchClient(version: version, clock: clock, maximumInflight: maximumInflight)
        var bootstrap = ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                do {
                    try tls?(channel)
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                return channel.pipeline.addHandler(client)
            }
        if let source {
            bootstrap = bootstrap.bind(to: source)
        }
        return bootstrap.connect(to: address).map { _ in client }
    }

    // MARK: Requests

    /// Sends CONNECT and completes with the CONNACK (failing if it refuses or the connection closes).
    func handshake(clientId: String, cleanStart: Bool = true, keepAliveSeconds: UInt16 = 60) -> EventLoopFuture<MQTTConnAck> {
        guard let context else { return failed("not connected") }
        let promise = context.eventLoop.makePromise(of: MQTTConnAck.self)
        connAckPromise = promise
        var properties = MQTTProperties()
        if version == .v5 {
            properties.receiveMaximum = 65535
        }
        send(.connect(MQTTConnect(protocolVersion: version, cleanStart: cleanStart, keepAliveSeconds: keepAliveSeconds, clientId: clientId, properties: properties)), flush: true)
        return promise.futureResult.flatMapThrowing { connAck in
            guard connAck.reasonCode == .success else {
                throw BenchFailure("CONNACK refused \(clientId): \(connAck.reasonCode)")
            }
            return connAck
        }
    }

    func subscribe(_ filter: String, qos: MQTTQoS) -> EventLoopFuture<MQTTSubAck> {
        guard let context else { return failed("not connected") }
        let packetId = allocatePacketId() ?? 1
        let promise = context.eventLoop.makePromise(of: MQTTSubAck.self)
        subAckPromises[packetId] = promise
        send(.subscribe(MQTTSubscribe(packetId: packetId, subscriptions: [MQTTSubscription(filter: filter, options: MQTTSubscriptionOptions(qos: qos))])), flush: true)
        return promise.futureResult.flatMapThrowing { subAck in
            if let code = subAck.reasonCodes.first, code.rawValue >= 0x80 {
                throw BenchFailure("SUBSCRIBE \(filter) refused: \(code)")
            }
            return subAck
        }
    }

    /// Writes (without flushing) a PUBLISH. At QoS 1/2 it returns false, sending nothing, when the inflight
    /// window is full or the connection is gone: the caller tries again later and the open-loop latency
    /// grows by the wait, as it should.
    @discardableResult
    func publish(topic: String, qos: MQTTQoS, payload: ByteBuffer, outgoing: OutgoingPublish) -> Bool {
        guard !closed, context != nil else { return false }
        if qos == .atMostOnce {
            send(.publish(MQTTPublish(qos: qos, topic: topic, payload: payload)), flush: false)
            return true
        }
        guard inflight.count < maximumInflight, let packetId = allocatePacketId() else { return false }
        inflight[packetId] = outgoing
        send(.publish(MQTTPublish(qos: qos, topic: topic, packetId: packetId, payload: payload)), flush: false)
        return true
    }

    func flush() {
        context?.flush()
    }

    /// Sends DISCONNECT and closes.
    func disconnect() -> EventLoopFuture<Void> {
        guard let context, !closed else { return eventLoopForCalls.makeSucceededVoidFuture() }
        closing = true
        send(.disconnect(MQTTDisconnect()), flush: true)
        return context.close().recover { _ in () }
    }

    /// Closes without DISCONNECT (used when the run gives up on a connection).
    func abort() {
        closing = true
        context?.close(promise: nil)
    }

    private func allocatePacketId() -> UInt16? {
        for _ in 0..<65535 {
            let id = nextPacketId
            nextPacketId = nextPacketId == 65535 ? 1 : nextPacketId + 1
            if inflight[id] == nil && subAckPromises[id] == nil { return id }
        }
        return nil
    }

    /// Appends a PUBACK/PUBREC/PUBREL/PUBCOMP to the acknowledgments written at the end of this read.
    private func acknowledge(_ packet: MQTTPacket) {
        guard let context else { return }
        if pendingAcks == nil { pendingAcks = context.channel.allocator.buffer(capacity: 1024) }
        do {
            try packet.encode(into: &pendingAcks!, version: version)
        } catch {
            fail("encoding \(packet.name): \(error)")
        }
    }

    private func send(_ packet: MQTTPacket, flush: Bool) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        do {
            try packet.encode(into: &buffer, version: version)
        } catch {
            fail("encoding \(packet.name): \(error)")
            return
        }
        if flush {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    private func failed<T>(_ message: String) -> EventLoopFuture<T> {
        let loop = context?.eventLoop ?? MultiThreadedEventLoopGroup.currentEventLoop!
        return loop.makeFailedFuture(BenchFailure(message))
    }

    private func fail(_ reason: String) {
        protocolErrors += 1
        let error = BenchFailure(reason)
        connAckPromise?.fail(error)
        connAckPromise = nil
        for promise in subAckPromises.values { promise.fail(error) }
        subAckPromises.removeAll()
        context?.close(promise: nil)
    }

    // MARK: ChannelInboundHandler

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        eventLoopForCalls = context.eventLoop
    }

    /// The loop this client runs on (set when its channel is created).
    private(set) var eventLoopForCalls: (any EventLoop)! = nil

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if cumulation == nil {
            cumulation = incoming
        } else {
            cumulation!.writeBuffer(&incoming)
        }
        let now = clock.now()
        while var buffer = cumulation {
            cumulation = nil
            let packet: MQTTPacket?
            do {
                packet = try MQTTPacketCodec.decode(from: &buffer, version: version, maximumPacketSize: MQTTPacketCodec.maximumRemainingLength)
            } catch {
                fail("malformed packet from the broker: \(error)")
                return
            }
            cumulation = buffer.readableBytes > 0 ? buffer : nil
            guard let packet else {
                cumulation = buffer
                break
            }
            handle(packet, now: now)
        }
        if let buffer = cumulation, buffer.readerIndex > 65536 {
            var compacted = buffer
            compacted.discardReadBytes()
            cumulation = compacted
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let acks = pendingAcks {
            pendingAcks = nil
            context.write(wrapOutboundOut(acks), promise: nil)
        }
        context.flush()
    }

    private func handle(_ packet: MQTTPacket, now: UInt64) {
        switch packet {
        case .connAck(let connAck):
            connAckPromise?.succeed(connAck)
            connAckPromise = nil
        case .subAck(let subAck):
            subAckPromises.removeValue(forKey: subAck.packetId)?.succeed(subAck)
        case .publish(let publish):
            switch publish.qos {
            case .atMostOnce:
                onPublish?(publish, now)
            case .atLeastOnce:
                onPublish?(publish, now)
                if let id = publish.packetId { acknowledge(.pubAck(MQTTPacketAcknowledgement(packetId: id))) }
            case .exactlyOnce:
                guard let id = publish.packetId else { return }
                // Delivered once: a re-sent PUBLISH before our PUBREC reached the broker is the same message.
                if incomingQoS2.insert(id).inserted { onPublish?(publish, now) }
                acknowledge(.pubRec(MQTTPacketAcknowledgement(packetId: id)))
            }
        case .pubRel(let ack):
            incomingQoS2.remove(ack.packetId)
            acknowledge(.pubComp(MQTTPacketAcknowledgement(packetId: ack.packetId)))
        case .pubAck(let ack), .pubComp(let ack):
            if let outgoing = inflight.removeValue(forKey: ack.packetId) {
                onAcknowledged?(outgoing, ack.reasonCode, now)
            }
        case .pubRec(let ack):
            if ack.reasonCode.rawValue >= 0x80 {
                if let outgoing = inflight.removeValue(forKey: ack.packetId) { onAcknowledged?(outgoing, ack.reasonCode, now) }
            } else {
                acknowledge(.pubRel(MQTTPacketAcknowledgement(packetId: ack.packetId)))
            }
        case .disconnect(let disconnect):
            fail("the broker sent DISCONNECT \(disconnect.reasonCode)")
        case .pingResp, .unsubAck, .auth:
            break
        case .connect, .subscribe, .unsubscribe, .pingReq:
            fail("unexpected \(packet.name) from the broker")
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        let reason: String? = closing ? nil : "connection closed by the broker"
        connAckPromise?.fail(BenchFailure(reason ?? "closed"))
        connAckPromise = nil
        for promise in subAckPromises.values { promise.fail(BenchFailure(reason ?? "closed")) }
        subAckPromises.removeAll()
        onClose?(reason)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !closing { protocolErrors += 1 }
        context.close(promise: nil)
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
