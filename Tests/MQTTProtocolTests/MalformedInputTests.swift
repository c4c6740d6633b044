import MQTTProtocol
import NIOCore
import Testing

/// Bad bytes give a typed error carrying the reason code a 5.0 peer should be told, the packet and the
/// field; they never trap, and nothing is consumed.
@Suite struct MalformedInputTests {
    func decodeError(
        _ bytes: ByteBuffer, version: MQTTProtocolVersion? = .v5, maximumPacketSize: Int = .max,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> MQTTDecodingError? {
        var input = bytes
        do {
            let packet = try MQTTPacketCodec.decode(from: &input, version: version, maximumPacketSize: maximumPacketSize)
            Issue.record("decoded \(String(describing: packet)) from \(bytes.hexDump)", sourceLocation: sourceLocation)
            return nil
        } catch {
            #expect(input.readerIndex == bytes.readerIndex, "a failed decode consumes nothing", sourceLocation: sourceLocation)
            return error
        }
    }

    func expectError(
        _ bytes: ByteBuffer, version: MQTTProtocolVersion? = .v5, _ reasonCode: MQTTReasonCode,
        packet: String? = nil, field: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let error = decodeError(bytes, version: version, sourceLocation: sourceLocation) else { return }
        #expect(error.reasonCode == reasonCode, "\(error)", sourceLocation: sourceLocation)
        if let packet { #expect(error.packet == packet, "\(error)", sourceLocation: sourceLocation) }
        if let field { #expect(error.field == field, "\(error)", sourceLocation: sourceLocation) }
    }

    func decode(_ bytes: ByteBuffer, version: MQTTProtocolVersion? = .v5) throws -> MQTTPacket? {
        var input = bytes
        return try MQTTPacketCodec.decode(from: &input, version: version, maximumPacketSize: .max)
    }

    /// Every CONNECT error names the level the client asked for, so the refusal can be a CONNACK it reads.
    @Test func connectErrorsCarryTheRequestedLevel() {
        // MQTT 5 CONNECT with the reserved connect flag set; then one with a byte after the client id.
        let reserved = ByteBuffer(bytes: [0x10, 0x0E, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x05, 0x03, 0x00, 0x3C, 0x00, 0x00, 0x01, 0x61])
        #expect(decodeError(reserved, version: nil)?.requestedProtocolLevel == 5)
        let trailing = ByteBuffer(bytes: [0x10, 0x0E, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x61, 0xFF])
        let error = decodeError(trailing, version: nil)
        #expect(error?.requestedProtocolLevel == 4)
        #expect(error?.reasonCode == .malformedPacket)
    }

    // MARK: Fixed header

    @Test func remainingLengthOfFiveBytes() {
        expectError(hex("30 ff ff ff ff 01"), .malformedPacket, packet: "PUBLISH", field: "remaining length")
        // The fourth byte's continuation bit is already enough to know.
        expectError(hex("30 80 80 80 80"), .malformedPacket, field: "remaining length")
    }

    @Test func incompleteRemainingLengthWaits() throws {
        for bytes in [hex(""), hex("30"), hex("30 ff"), hex("30 ff ff ff")] {
            var input = bytes
            #expect(try MQTTPacketCodec.decode(from: &input, version: .v5, maximumPacketSize: .max) == nil)
            #expect(input.readableBytes == bytes.readableBytes)
        }
    }

    @Test func reservedPacketTypes() {
        expectError(hex("00 00"), .malformedPacket, packet: "packet type 0")
        expectError(hex("f0 00"), version: .v3_1_1, .malformedPacket, packet: "packet type 15")
    }

    @Test func reservedFlags() {
        expectError(hex("60 02 0001  # PUBREL needs 0010"), .malformedPacket, packet: "PUBREL", field: "fixed header flags")
        expectError(hex("80 06 0001 0001 \"a\" 00  # SUBSCRIBE"), version: .v3_1_1, .malformedPacket, field: "fixed header flags")
        expectError(hex("a0 05 0001 0001 \"a\"  # UNSUBSCRIBE"), version: .v3_1_1, .malformedPacket, field: "fixed header flags")
        expectError(hex("41 02 0001  # PUBACK"), .malformedPacket, field: "fixed header flags")
        expectError(hex("c2 00  # PINGREQ"), .malformedPacket, field: "fixed header flags")
        expectError(hex("e8 00  # DISCONNECT"), .malformedPacket, field: "fixed header flags")
        expectError(hex("21 02 00 00  # CONNACK"), version: .v3_1_1, .malformedPacket, field: "fixed header flags")
        expectError(hex("12 0c 0004 \"MQTT\" 04 02 003c 0000  # CONNECT"), version: nil, .malformedPacket, packet: "CONNECT", field: "fixed header flags")
    }

    @Test func mqtt31AllowsTheFlagsItDidNotReserve() throws {
        // 3.1 sent PUBREL at QoS 1 with DUP on retries, and had no fixed flags for the others.
        #expect(try decode(hex("6a 02 0001"), version: .v3_1) == .pubRel(MQTTPacketAcknowledgement(packetId: 1)))
        #expect(try decode(hex("41 02 0001"), version: .v3_1) == .pubAck(MQTTPacketAcknowledgement(packetId: 1)))
        #expect(try decode(hex("11 0e 0006 \"MQIsdp\" 03 03 000a 0000"), version: nil)
            == .connect(MQTTConnect(protocolVersion: .v3_1, cleanStart: true, keepAliveSeconds: 10, clientId: "")))
    }

    @Test func publishQoS3AndDupOnQoS0() {
        expectError(hex("36 05 0001 \"t\" 0001"), .malformedPacket, packet: "PUBLISH", field: "fixed header flags")
        expectError(hex("38 03 0001 \"t\""), .malformedPacket, packet: "PUBLISH", field: "fixed header flags")
    }

    @Test func packetTooLargeIsRefusedBeforeTheBytesArrive() {
        // Remaining length 16,383 announced; only the fixed header is here.
        let error = decodeError(hex("30 ff 7f"), maximumPacketSize: 1024)
        #expect(error?.reasonCode == .packetTooLarge)
        #expect(error?.field == "remaining length")
        // The limit counts the fixed header: 2 + 8 = 10 bytes.
        let exact = hex("30 08 0001 \"t\" \"abcde\"")
        #expect(decodeError(exact, version: .v3_1_1, maximumPacketSize: 9)?.reasonCode == .packetTooLarge)
        var input = exact
        #expect((try? MQTTPacketCodec.decode(from: &input, version: .v3_1_1, maximumPacketSize: 10)) != nil)
    }

    @Test func firstPacketMustBeConnect() {
        expectError(hex("30 03 0001 \"t\""), version: nil, .protocolError, packet: "PUBLISH")
        expectError(hex("c0 00"), version: nil, .protocolError, packet: "PINGREQ")
    }

    // MARK: Lengths inside the packet

    @Test func truncatedPacketsWaitThenMustParseExactly() throws {
        let publish = hex("32 0a 0003 \"a/b\" 0007 00 \"xy\"")
        for length in 0..<publish.readableBytes {
            var prefix = publish.getSlice(at: 0, length: length)!
            #expect(try MQTTPacketCodec.decode(from: &prefix, version: .v5, maximumPacketSize: .max) == nil)
            #expect(prefix.readableBytes == length, "nothing consumed")
        }
        #expect(try decode(publish) != nil)
        // A remaining length shorter than the fields: the string runs past the end.
        expectError(hex("30 03 0005 \"a\""), .malformedPacket, packet: "PUBLISH", field: "topic name")
        // The packet identifier is cut off.
        expectError(hex("32 04 0001 \"t\" 00"), .malformedPacket, field: "packet identifier")
        // The property length runs past the end.
        expectError(hex("30 05 0001 \"t\" 05 01"), .malformedPacket, field: "property length")
        // A property's value is cut off by the property length.
        expectError(hex("30 07 0001 \"t\" 02 02 00 00"), .malformedPacket, field: "property 0x02 (message expiry interval)")
        // Bytes left over after the last field.
        expectError(hex("c0 01 00"), .malformedPacket, packet: "PINGREQ", field: "remaining length")
        expectError(hex("40 03 0001 00"), version: .v3_1_1, .malformedPacket, packet: "PUBACK", field: "remaining length")
        expectError(hex("e0 01 00"), version: .v3_1_1, .malformedPacket, packet: "DISCONNECT")
        expectError(hex("20 03 00 00 00"), version: .v3_1_1, .malformedPacket, packet: "CONNACK")
        // A property-length varint longer than 4 bytes.
        expectError(hex("30 08 0001 \"t\" ff ff ff ff 01"), .malformedPacket, field: "property length")
    }

    // MARK: Strings

    @Test func invalidUTF8() {
        expectError(hex("30 05 0002 c328 00"), .malformedPacket, packet: "PUBLISH", field: "topic name")
        // An encoded surrogate (U+D800) and an overlong '/' are not well-formed UTF-8.
        expectError(hex("30 06 0003 eda080 00"), .malformedPacket, field: "topic name")
        expectError(hex("30 05 0002 c0af 00"), .malformedPacket, field: "topic name")
        expectError(hex("10 0f 0004 \"MQTT\" 04 02 003c 0003 ff \"ab\""), version: nil, .malformedPacket, packet: "CONNECT", field: "client identifier")
    }

    @Test func nullCharacterInStrings() {
        expectError(hex("30 05 0003 \"a\" 00 \"b\""), version: .v3_1_1, .malformedPacket, field: "topic name")
        expectError(hex("30 0b 0001 \"t\" 07 26 0001 00 0001 \"v\""), .malformedPacket, field: "property 0x26 (user property)")
        expectError(hex("82 08 0001 00 0002 \"a\" 00 00"), .malformedPacket, packet: "SUBSCRIBE", field: "topic filter")
    }

    @Test func byteOrderMarkIsKept() throws {
        let packet = try decode(hex("30 06 0003 efbbbf 00"))
        guard case .publish(let publish)? = packet else { Issue.record("not a PUBLISH"); return }
        #expect(Array(publish.topic.utf8) == [0xEF, 0xBB, 0xBF])
    }

    // MARK: PUBLISH

    @Test func wildcardInTopicName() {
        expectError(hex("30 06 0003 \"a/+\" 00"), .topicNameInvalid, packet: "PUBLISH", field: "topic name")
        expectError(hex("30 04 0001 \"#\" 00"), .topicNameInvalid, field: "topic name")
        expectError(hex("30 05 0003 \"a/#\""), version: .v3_1_1, .topicNameInvalid)
    }

    @Test func emptyTopicName() throws {
        expectError(hex("30 03 0000 00"), .protocolError, field: "topic name")
        expectError(hex("30 02 0000"), version: .v3_1_1, .topicNameInvalid, field: "topic name")
        #expect(try decode(hex("30 06 0000 03 230001")) != nil)
    }

    @Test func packetIdentifierZero() {
        expectError(hex("32 06 0001 \"t\" 0000 00"), .protocolError, packet: "PUBLISH", field: "packet identifier")
        expectError(hex("34 05 0001 \"t\" 0000"), version: .v3_1_1, .protocolError, field: "packet identifier")
        expectError(hex("40 02 0000"), .protocolError, packet: "PUBACK", field: "packet identifier")
        expectError(hex("82 07 0000 00 0001 \"a\" 00"), .protocolError, packet: "SUBSCRIBE")
    }

    // MARK: Properties

    @Test func propertyNotAllowedInPacket() {
        // Session expiry interval in PUBLISH.
        expectError(hex("30 09 0001 \"t\" 05 11 00000001"), .malformedPacket, packet: "PUBLISH", field: "property identifier")
        // Topic alias in CONNECT.
        expectError(hex("10 10 0004 \"MQTT\" 05 02 003c 03 230001 0000"), version: nil, .malformedPacket, packet: "CONNECT", field: "property identifier")
        // Session expiry interval among the will properties (it is a CONNECT property, not a will one).
        expectError(hex("""
            10 18 0004 "MQTT" 05 06 003c 00 0000
            05 11 00000001       # will properties
            0001 "w" 0000
            """), version: nil, .malformedPacket, packet: "CONNECT", field: "property identifier")
        // An unknown identifier, and one that needs two varint bytes.
        expectError(hex("30 06 0001 \"t\" 02 7f 00"), .malformedPacket, field: "property identifier")
        expectError(hex("30 07 0001 \"t\" 03 8101 00"), .malformedPacket, field: "property identifier")
        // Topic alias in PUBACK.
        expectError(hex("40 07 0001 00 03 23 0001"), .malformedPacket, packet: "PUBACK", field: "property identifier")
    }

    @Test func duplicateProperty() throws {
        expectError(hex("30 0e 0001 \"t\" 0a 02 00000001 02 00000002"), .protocolError, field: "property 0x02 (message expiry interval)")
        expectError(hex("82 0b 0001 04 0b 01 0b 02 0001 \"a\" 00"), .protocolError, packet: "SUBSCRIBE", field: "property 0x0B (subscription identifier)")
        // A PUBLISH may carry several subscription identifiers, and any number of user properties.
        let packet = try decode(hex("30 13 0001 \"t\" 0e 0b 01 0b 02 26 0000 0000 26 0000 0000 \"p\""))
        guard case .publish(let publish)? = packet else { Issue.record("not a PUBLISH"); return }
        #expect(publish.properties.subscriptionIdentifiers == [1, 2])
        #expect(publish.properties.userProperties.count == 2)
    }

    @Test func propertyValues() {
        expectError(hex("30 07 0001 \"t\" 03 23 0000"), .topicAliasInvalid, field: "property 0x23 (topic alias)")
        expectError(hex("30 06 0001 \"t\" 02 0b 00"), .protocolError, field: "property 0x0B (subscription identifier)")
        expectError(hex("30 06 0001 \"t\" 02 01 02"), .protocolError, field: "property 0x01 (payload format indicator)")
        expectError(hex("30 09 0001 \"t\" 05 08 0002 \"a#\""), .protocolError, field: "property 0x08 (response topic)")
        expectError(hex("20 06 00 00 03 21 0000"), .protocolError, packet: "CONNACK", field: "property 0x21 (receive maximum)")
        expectError(hex("20 08 00 00 05 27 00000000"), .protocolError, field: "property 0x27 (maximum packet size)")
        expectError(hex("20 05 00 00 02 24 02"), .protocolError, field: "property 0x24 (maximum QoS)")
        expectError(hex("20 05 00 00 02 25 07"), .protocolError, field: "property 0x25 (retain available)")
        expectError(hex("10 0f 0004 \"MQTT\" 05 02 003c 02 17 02 0000"), version: nil, .protocolError, field: "property 0x17 (request problem information)")
        // Authentication data without a method.
        expectError(hex("10 12 0004 \"MQTT\" 05 02 003c 05 16 0002 abcd 0000"), version: nil, .protocolError, packet: "CONNECT")
    }

    // MARK: CONNECT

    @Test func unsupportedProtocolLevelCarriesTheLevel() {
        for (bytes, level) in [
            (hex("10 0c 0004 \"MQTT\" 06 02 003c 0000"), UInt8(6)),
            (hex("10 0c 0004 \"MQTT\" 03 02 003c 0000"), 3),
            (hex("10 0e 0006 \"MQIsdp\" 04 02 003c 0000"), 4),
            (hex("10 0b 0003 \"MQX\" 04 02 003c 0000"), 4),
        ] {
            let error = decodeError(bytes, version: nil)
            #expect(error?.reasonCode == .unsupportedProtocolVersion)
            #expect(error?.requestedProtocolLevel == level)
            #expect(error?.packet == "CONNECT")
        }
    }

    @Test func connectFlags() throws {
        func connect(flags: UInt8, level: UInt8 = 4, payload: String = "0000") -> ByteBuffer {
            var bytes = hex("0004 \"MQTT\"")
            bytes.writeInteger(level)
            bytes.writeInteger(flags)
            bytes.writeImmutableBuffer(hex("003c"))
            if level == 5 { bytes.writeInteger(UInt8(0)) }
            bytes.writeImmutableBuffer(hex(payload))
            var packet = ByteBuffer()
            packet.writeInteger(UInt8(0x10))
            packet.writeInteger(UInt8(bytes.readableBytes))
            packet.writeBuffer(&bytes)
            return packet
        }
        expectError(connect(flags: 0x03), version: nil, .malformedPacket, field: "connect flags")        // reserved bit
        expectError(connect(flags: 0x1e), version: nil, .malformedPacket, field: "connect flags")        // will QoS 3
        expectError(connect(flags: 0x0a), version: nil, .malformedPacket, field: "connect flags")        // will QoS 1 without will
        expectError(connect(flags: 0x22), version: nil, .malformedPacket, field: "connect flags")        // will retain without will
        expectError(connect(flags: 0x42, payload: "0000 0001 ab"), version: nil, .malformedPacket, field: "connect flags")  // password without user name (3.1.1)
        #expect(try decode(connect(flags: 0x42, level: 5, payload: "0000 0001 ab"), version: nil) != nil)  // allowed in 5.0
        // Flags promise fields the packet does not have.
        expectError(connect(flags: 0x82), version: nil, .malformedPacket, field: "user name")
        expectError(connect(flags: 0x06, payload: "0000 0001 \"w\""), version: nil, .malformedPacket, field: "will payload")
        // Will topics are topic names.
        expectError(connect(flags: 0x06, payload: "0000 0001 \"#\" 0000"), version: nil, .topicNameInvalid, field: "will topic")
    }

    @Test func willPayloadMustMatchItsFormat() {
        expectError(hex("""
            10 17 0004 "MQTT" 05 06 003c 00 0000
            02 01 01             # will properties: payload format UTF-8
            0001 "w" 0002 c328   # will payload: not UTF-8
            """), version: nil, .payloadFormatInvalid, field: "will payload")
    }

    // MARK: SUBSCRIBE and UNSUBSCRIBE

    @Test func subscribeWithoutSubscriptions() {
        expectError(hex("82 03 0001 00"), .protocolError, packet: "SUBSCRIBE", field: "payload")
        expectError(hex("82 02 0001"), version: .v3_1_1, .protocolError, packet: "SUBSCRIBE")
        expectError(hex("a2 03 0001 00"), .protocolError, packet: "UNSUBSCRIBE", field: "payload")
        expectError(hex("a2 02 0001"), version: .v3_1_1, .protocolError, packet: "UNSUBSCRIBE")
    }

    @Test func subscriptionOptions() throws {
        expectError(hex("82 06 0001 0001 \"a\" 04"), version: .v3_1_1, .malformedPacket, field: "requested QoS")
        expectError(hex("82 06 0001 0001 \"a\" 03"), version: .v3_1_1, .malformedPacket, field: "requested QoS")
        expectError(hex("82 07 0001 00 0001 \"a\" 40"), .malformedPacket, field: "subscription options")
        expectError(hex("82 07 0001 00 0001 \"a\" 03"), .protocolError, field: "subscription options")
        expectError(hex("82 07 0001 00 0001 \"a\" 30"), .protocolError, field: "subscription options")
        // The options byte is missing.
        expectError(hex("82 06 0001 00 0001 \"a\""), .malformedPacket, field: "subscription options")
    }

    @Test func invalidFilters() throws {
        // 3.1.1: the connection is closed.
        expectError(hex("82 0a 0001 0005 \"a/#/b\" 00"), version: .v3_1_1, .topicFilterInvalid, field: "topic filter")
        expectError(hex("a2 09 0001 0005 \"a/#/b\""), version: .v3_1_1, .topicFilterInvalid, field: "topic filter")
        // 5.0: kept, so that the broker refuses just that subscription in the SUBACK.
        let packet = try decode(hex("82 0e 0001 00 0005 \"a/#/b\" 00 0000 00"))
        guard case .subscribe(let subscribe)? = packet else { Issue.record("not a SUBSCRIBE"); return }
        #expect(subscribe.subscriptions.map(\.filter) == ["a/#/b", ""])
        #expect(!MQTTTopic.validateFilter(subscribe.subscriptions[0].filter))
        // No Local on a shared subscription is the broker's to refuse: decoding keeps going.
        #expect(try decode(hex("82 10 0001 00 000a \"$share/g/a\" 04")) != nil)
    }

    // MARK: Reason codes

    @Test func reasonCodesMustBelongToThePacket() {
        expectError(hex("40 03 0001 04"), .malformedPacket, packet: "PUBACK", field: "reason code")
        expectError(hex("62 03 0001 10"), .malformedPacket, packet: "PUBREL", field: "reason code")
        expectError(hex("e0 01 84"), .malformedPacket, packet: "DISCONNECT", field: "reason code")
        expectError(hex("f0 01 04"), .malformedPacket, packet: "AUTH", field: "reason code")
        expectError(hex("90 04 0001 00 03"), .malformedPacket, packet: "SUBACK", field: "reason code")
        expectError(hex("90 03 0001 87"), version: .v3_1_1, .malformedPacket, packet: "SUBACK", field: "reason code")
        expectError(hex("b0 04 0001 00 01"), .malformedPacket, packet: "UNSUBACK", field: "reason code")
        expectError(hex("20 03 00 10 00"), .malformedPacket, packet: "CONNACK", field: "reason code")
        expectError(hex("20 02 00 06"), version: .v3_1_1, .malformedPacket, packet: "CONNACK", field: "return code")
        expectError(hex("20 03 02 00 00"), .malformedPacket, packet: "CONNACK", field: "acknowledge flags")
    }

    @Test func errorDescriptionNamesPacketFieldAndReason() throws {
        let error = try #require(decodeError(hex("30 06 0003 \"a/+\" 00")))
        #expect(error.description.contains("PUBLISH"))
        #expect(error.description.contains("topic name"))
        #expect(error.description.contains("0x90"))
    }
}
