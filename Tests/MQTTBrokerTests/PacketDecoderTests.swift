import Logging
@testable import MQTTBroker
import MQTTProtocol
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@Suite struct PacketDecoderTests {
    private static func bytes(_ packets: [MQTTPacket], version: MQTTProtocolVersion) throws -> (ByteBuffer, [MQTTFramedPacket]) {
        var all = ByteBuffer()
        var framed: [MQTTFramedPacket] = []
        for packet in packets {
            var one = ByteBuffer()
            try MQTTPacketCodec.encode(packet, version: version, into: &one)
            framed.append(MQTTFramedPacket(packet: packet, bytes: one.readableBytes))
            all.writeImmutableBuffer(one)
        }
        return (all, framed)
    }

    /// NIO's verifier feeds the bytes whole, byte by byte and in other splits, and checks the decoder
    /// gives the same packets each way; the CONNECT's protocol level decides how the packets after it are
    /// read (a 5.0 PUBLISH has properties, a 3.1.1 one does not).
    @Test func framesPacketsHoweverTheBytesAreSplit() throws {
        let publish = MQTTPublish(qos: .atLeastOnce, topic: "devices/d1/telemetry", packetId: 9, payload: ByteBuffer(string: "{\"t\":21.5}"))
        let subscribe = MQTTSubscribe(packetId: 2, subscriptions: [MQTTSubscription(filter: "commands/#", options: MQTTSubscriptionOptions(qos: .atLeastOnce))])
        // One connection per protocol version, each verified on its own (a connection starts with CONNECT).
        for version in [MQTTProtocolVersion.v5, .v3_1_1] {
            let connect = MQTTConnect(protocolVersion: version, cleanStart: true, keepAliveSeconds: 30, clientId: "d1")
            let stream = try Self.bytes([.connect(connect), .publish(publish), .subscribe(subscribe), .pingReq, .publish(publish)], version: version)
            try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [stream]) {
                MQTTPacketDecoder(maximumPacketSize: 1 << 20)
            }
        }
    }

    @Test func aPacketTooLargeIsRefusedFromItsFixedHeaderAlone() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTPacketDecoder(maximumPacketSize: 1024)))
        let (connect, _) = try Self.bytes([.connect(MQTTConnect(protocolVersion: .v5, cleanStart: true, keepAliveSeconds: 0, clientId: "big"))], version: .v5)
        try channel.writeInbound(connect)
        #expect(try channel.readInbound(as: MQTTFramedPacket.self) != nil)
        // PUBLISH, remaining length 2,000,000: refused before a byte of its body arrives.
        let header = ByteBuffer(bytes: [0x30, 0x80, 0x89, 0x7A])
        do {
            try channel.writeInbound(header)
            Issue.record("a packet over the maximum was accepted")
        } catch let error as MQTTDecodingError {
            #expect(error.reasonCode == .packetTooLarge)
        }
        _ = try? channel.finish()
    }

    @Test func aMalformedRemainingLengthIsAnError() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTPacketDecoder(maximumPacketSize: 1 << 20)))
        do {
            try channel.writeInbound(ByteBuffer(bytes: [0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]))
            Issue.record("five bytes of remaining length were accepted")
        } catch let error as MQTTDecodingError {
            #expect(error.reasonCode == .malformedPacket)
        }
        _ = try? channel.finish()
    }

    /// A malformed packet sent right behind the CONNECT is answered after the CONNECT: CONNACK first, then
    /// DISCONNECT with Malformed Packet, although the decoder meets it while the CONNECT is still being
    /// authenticated.
    @Test func anErrorBehindTheConnectIsAnsweredAfterIt() throws {
        let harness = Harness()
        let channel = EmbeddedChannel(handler: MQTTChannelHandler(core: harness.core), loop: harness.loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
        var (bytes, _) = try Self.bytes([.connect(MQTTConnect(protocolVersion: .v5, cleanStart: true, keepAliveSeconds: 0, clientId: "eager"))], version: .v5)
        bytes.writeBytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        try? channel.writeInbound(bytes)
        let client = Client(channel: channel, version: .v5, harness: harness)
        guard case .connAck(let ack) = try client.receive() else {
            Issue.record("expected the CONNACK first")
            return
        }
        #expect(ack.reasonCode == .success)
        guard case .disconnect(let disconnect) = try client.receive() else {
            Issue.record("expected a DISCONNECT after the CONNACK")
            return
        }
        #expect(disconnect.reasonCode == .malformedPacket)
        _ = try? channel.finish()
    }
}
