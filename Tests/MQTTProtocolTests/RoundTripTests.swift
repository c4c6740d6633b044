import MQTTProtocol
import NIOCore
import Testing

/// Every packet type × version with random field values: encoding then decoding gives back the packet,
/// `encodedSize` is what `encode` writes, and the decoder waits (returning nil, consuming nothing) for
/// every proper prefix.
@Suite struct RoundTripTests {
    static let cases: [(type: Int, version: MQTTProtocolVersion)] = MQTTProtocolVersion.allCases.flatMap { version in
        (1...(version == .v5 ? 15 : 14)).map { (type: $0, version: version) }
    }

    @Test(arguments: cases)
    func roundTrip(type: Int, version: MQTTProtocolVersion) throws {
        var generator = PacketGenerator(seed: UInt64(type) << 8 | UInt64(version.rawValue))
        for _ in 0..<300 {
            let packet = generator.packet(type, version: version)
            var encoded = ByteBuffer()
            try MQTTPacketCodec.encode(packet, version: version, into: &encoded)
            #expect(encoded.getInteger(at: 0, as: UInt8.self)! >> 4 == UInt8(type))
            #expect(try MQTTPacketCodec.encodedSize(packet, version: version) == encoded.readableBytes)

            let connectionVersion: MQTTProtocolVersion? = type == 1 ? nil : version
            var input = encoded
            input.writeString("next")  // a following packet's first bytes must be left alone
            let decoded = try MQTTPacketCodec.decode(from: &input, version: connectionVersion, maximumPacketSize: .max)
            #expect(decoded == packet, "\(packet)\n\(encoded.hexDump)")
            #expect(input.readableBytes == 4)

            // Every proper prefix is "not yet".
            for length in stride(from: 0, to: encoded.readableBytes, by: max(1, encoded.readableBytes / 16)) {
                var prefix = encoded.getSlice(at: 0, length: length)!
                #expect(try MQTTPacketCodec.decode(from: &prefix, version: connectionVersion, maximumPacketSize: .max) == nil)
                #expect(prefix.readableBytes == length)
            }
        }
    }

    /// Several packets in one buffer come out one at a time, in order.
    @Test func consecutivePackets() throws {
        var generator = PacketGenerator(seed: 99)
        var packets: [MQTTPacket] = []
        var stream = ByteBuffer()
        for _ in 0..<200 {
            let packet = generator.packet(2 + generator.below(14), version: .v5)
            packets.append(packet)
            try MQTTPacketCodec.encode(packet, version: .v5, into: &stream)
        }
        var decoded: [MQTTPacket] = []
        while let packet = try MQTTPacketCodec.decode(from: &stream, version: .v5, maximumPacketSize: .max) {
            decoded.append(packet)
        }
        #expect(decoded == packets)
        #expect(stream.readableBytes == 0)
    }

    /// Remaining lengths at the Variable Byte Integer boundaries: 127/128, 16,383/16,384.
    @Test(arguments: [0, 1, 127, 128, 16_383, 16_384, 70_000])
    func remainingLengthBoundaries(payloadBytes: Int) throws {
        let topic = "t"
        let bodyOverhead = 2 + topic.utf8.count  // topic name
        let payload = ByteBuffer(repeating: 0x5A, count: max(0, payloadBytes - bodyOverhead))
        let packet = MQTTPacket.publish(MQTTPublish(topic: topic, payload: payload))
        var encoded = ByteBuffer()
        try MQTTPacketCodec.encode(packet, version: .v3_1_1, into: &encoded)
        let remainingLength = bodyOverhead + payload.readableBytes
        let lengthBytes = remainingLength < 128 ? 1 : remainingLength < 16_384 ? 2 : 3
        #expect(encoded.readableBytes == 1 + lengthBytes + remainingLength)
        #expect(try MQTTPacketCodec.encodedSize(packet, version: .v3_1_1) == encoded.readableBytes)
        var input = encoded
        #expect(try MQTTPacketCodec.decode(from: &input, version: .v3_1_1, maximumPacketSize: .max) == packet)
    }

    @Test func encodingRefusesWhatTheWireCannotCarry() throws {
        var buffer = ByteBuffer()
        let long = String(repeating: "a", count: 65_536)
        let tooLong = #expect(throws: MQTTEncodingError.self) {
            try MQTTPacketCodec.encode(.publish(MQTTPublish(topic: long, payload: ByteBuffer())), version: .v5, into: &buffer)
        }
        #expect(tooLong?.packet == "PUBLISH")
        #expect(buffer.readableBytes == 0, "nothing is written on error")

        var notAllowed = MQTTProperties()
        notAllowed.topicAlias = 3
        let propertyError = #expect(throws: MQTTEncodingError.self) {
            try MQTTPacketCodec.encode(.pubAck(MQTTPacketAcknowledgement(packetId: 1, properties: notAllowed)), version: .v5, into: &buffer)
        }
        #expect(propertyError?.detail.contains("0x23") == true)
        #expect(throws: MQTTEncodingError.self) {
            try MQTTPacketCodec.encode(.publish(MQTTPublish(qos: .atLeastOnce, topic: "t", packetId: nil, payload: ByteBuffer())), version: .v5, into: &buffer)
        }
        #expect(throws: MQTTEncodingError.self) {
            try MQTTPacketCodec.encode(.pubAck(MQTTPacketAcknowledgement(packetId: 0)), version: .v5, into: &buffer)
        }
        #expect(throws: MQTTEncodingError.self) {
            try MQTTPacketCodec.encode(.pubRel(MQTTPacketAcknowledgement(packetId: 1, reasonCode: .noMatchingSubscribers)), version: .v5, into: &buffer)
        }
        #expect(throws: MQTTEncodingError.self) {
            try MQTTPacketCodec.encode(.connect(MQTTConnect(protocolVersion: .v3_1_1, clientId: "c", password: ByteBuffer())), version: .v3_1_1, into: &buffer)
        }
        var twoIdentifiers = MQTTProperties()
        twoIdentifiers.subscriptionIdentifiers = [1, 2]
        #expect(throws: MQTTEncodingError.self) {
            try MQTTPacketCodec.encode(.subscribe(MQTTSubscribe(packetId: 1, subscriptions: [MQTTSubscription(filter: "a", options: MQTTSubscriptionOptions(qos: .atMostOnce))], properties: twoIdentifiers)), version: .v5, into: &buffer)
        }
        #expect(buffer.readableBytes == 0)
    }

    @Test func qos0IgnoresPacketIdentifierAndDup() throws {
        var buffer = ByteBuffer()
        try MQTTPacketCodec.encode(.publish(MQTTPublish(dup: true, qos: .atMostOnce, topic: "t", packetId: 5, payload: ByteBuffer())), version: .v3_1_1, into: &buffer)
        #expect(buffer == hex("30 03 0001 \"t\""))
    }
}
