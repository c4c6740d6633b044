public import NIOCore

/// Frames and parses MQTT packets: a fixed header (type and flags, then the remaining length as a
/// Variable Byte Integer of at most 4 bytes) followed by exactly remaining-length bytes of body.
public enum MQTTPacketCodec {
    /// The largest remaining length the 4-byte Variable Byte Integer holds (about 256 MiB).
    public static let maximumRemainingLength = 268_435_455

    /// Decodes one whole packet from the front of `buffer` and consumes it; returns nil (consuming nothing)
    /// when the packet is incomplete.
    ///
    /// - Parameters:
    ///   - version: nil until CONNECT was decoded: then only CONNECT is acceptable (anything else is a
    ///     protocol error). CONNECT itself is always read in the layout of the level it names.
    ///   - maximumPacketSize: the largest whole packet (fixed header included) accepted. A larger one
    ///     throws Packet too large as soon as its remaining length is known, before its bytes arrive,
    ///     so a peer cannot make the connection buffer what will be refused anyway.
    /// - Throws: a malformed remaining length (more than 4 bytes), a reserved packet type, wrong fixed
    ///   header flags, or any violation inside the packet; the error's reason code is what a 5.0 peer
    ///   should be told. Nothing is consumed when this throws.
    public static func decode(
        from buffer: inout ByteBuffer, version: MQTTProtocolVersion?, maximumPacketSize: Int
    ) throws(MQTTDecodingError) -> MQTTPacket? {
        let start = buffer.readerIndex
        guard let firstByte = buffer.getInteger(at: start, as: UInt8.self) else { return nil }
        let flags = firstByte & 0x0F
        // Checked before waiting for the body: a reserved type or a first packet that is not CONNECT is
        // wrong whatever follows.
        guard let type = MQTTPacketType(rawValue: firstByte >> 4), type != .auth || version == nil || version == .v5 else {
            throw MQTTDecodingError(
                reasonCode: .malformedPacket, packet: "packet type \(firstByte >> 4)", field: "fixed header",
                detail: "reserved control packet type")
        }
        if version == nil && type != .connect {
            throw MQTTDecodingError(
                reasonCode: .protocolError, packet: type.name.description, field: "fixed header",
                detail: "the first packet on a connection must be CONNECT [MQTT-3.1.0-1]")
        }
        var remainingLength = 0
        var index = start + 1
        for byteIndex in 0..<4 {
            guard let byte = buffer.getInteger(at: index, as: UInt8.self) else { return nil }
            index += 1
            remainingLength |= Int(byte & 0x7F) << (7 * byteIndex)
            if byte & 0x80 == 0 { break }
            if byteIndex == 3 {
                throw MQTTDecodingError(
                    reasonCode: .malformedPacket, packet: type.name.description, field: "remaining length",
                    detail: "variable byte integer longer than 4 bytes")
            }
        }
        let headerLength = index - start
        let packetSize = headerLength + remainingLength
        guard packetSize <= maximumPacketSize else {
            throw MQTTDecodingError(
                reasonCode: .packetTooLarge, packet: type.name.description, field: "remaining length",
                detail: "the packet is \(packetSize) bytes; the maximum is \(maximumPacketSize)")
        }
        guard let body = buffer.getSlice(at: index, length: remainingLength) else { return nil }
        var reader = MQTTPacketReader(body, packet: type.name)
        let packet: MQTTPacket
        do {
            packet = try decodeBody(type: type, flags: flags, version: version, reader: &reader)
            try reader.expectEnd("remaining length")
        } catch {
            // A bad CONNECT is answered by a CONNACK in the layout of the level the client asked for, so
            // every CONNECT error carries that level when the body gets that far.
            var failure = error
            if type == .connect && failure.requestedProtocolLevel == nil { failure.requestedProtocolLevel = requestedLevel(ofConnectBody: body) }
            throw failure
        }
        buffer.moveReaderIndex(to: start + packetSize)
        return packet
    }

    /// The protocol level byte of a CONNECT body (after the length-prefixed protocol name), if present.
    static func requestedLevel(ofConnectBody body: ByteBuffer) -> UInt8? {
        guard let nameLength = body.getInteger(at: body.readerIndex, as: UInt16.self) else { return nil }
        return body.getInteger(at: body.readerIndex + 2 + Int(nameLength), as: UInt8.self)
    }

    private static func decodeBody(
        type: MQTTPacketType, flags: UInt8, version connectionVersion: MQTTProtocolVersion?, reader: inout MQTTPacketReader
    ) throws(MQTTDecodingError) -> MQTTPacket {
        if type == .connect {
            return .connect(try MQTTConnect(from: &reader, fixedHeaderFlags: flags))
        }
        // Only CONNECT gets here without a version (checked by the caller).
        let version = connectionVersion ?? .v5
        // 3.1 named these bits DUP, QoS and RETAIN on every packet and sent PUBREL, SUBSCRIBE and
        // UNSUBSCRIBE at QoS 1 with DUP set on retries; only 3.1.1 made them fixed. Accept what 3.1 allowed.
        if let required = type.requiredFlags, flags != required, version != .v3_1 {
            throw reader.malformed("fixed header flags", "must be 0b\(String(required, radix: 2)), not 0b\(String(flags, radix: 2))")
        }
        switch type {
        case .connect:
            preconditionFailure("handled above")
        case .connAck:
            return .connAck(try MQTTConnAck(from: &reader, version: version))
        case .publish:
            return .publish(try MQTTPublish(from: &reader, flags: flags, version: version))
        case .pubAck:
            return .pubAck(try MQTTPacketAcknowledgement(from: &reader, type: type, version: version))
        case .pubRec:
            return .pubRec(try MQTTPacketAcknowledgement(from: &reader, type: type, version: version))
        case .pubRel:
            return .pubRel(try MQTTPacketAcknowledgement(from: &reader, type: type, version: version))
        case .pubComp:
            return .pubComp(try MQTTPacketAcknowledgement(from: &reader, type: type, version: version))
        case .subscribe:
            return .subscribe(try MQTTSubscribe(from: &reader, version: version))
        case .subAck:
            return .subAck(try MQTTSubAck(from: &reader, version: version))
        case .unsubscribe:
            return .unsubscribe(try MQTTUnsubscribe(from: &reader, version: version))
        case .unsubAck:
            return .unsubAck(try MQTTUnsubAck(from: &reader, version: version))
        case .pingReq:
            return .pingReq
        case .pingResp:
            return .pingResp
        case .disconnect:
            guard version == .v5 else { return .disconnect(MQTTDisconnect()) }
            let (reasonCode, properties) = try MQTTReasonAndProperties.decode(from: &reader, type: type, context: .disconnect)
            return .disconnect(MQTTDisconnect(reasonCode: reasonCode, properties: properties))
        case .auth:
            let (reasonCode, properties) = try MQTTReasonAndProperties.decode(from: &reader, type: type, context: .auth)
            return .auth(MQTTAuth(reasonCode: reasonCode, properties: properties))
        }
    }

    /// Appends `packet` in `version`'s layout (CONNECT: in the layout of its own `protocolVersion`).
    /// On error nothing is written.
    public static func encode(_ packet: MQTTPacket, version: MQTTProtocolVersion, into buffer: inout ByteBuffer) throws(MQTTEncodingError) {
        var counter = MQTTByteCounter()
        try writeBody(packet, version: version, to: &counter)
        let remainingLength = counter.byteCount
        guard remainingLength <= maximumRemainingLength else {
            throw MQTTEncodingError(packet: packet.name, detail: "the body is \(remainingLength) bytes; the maximum remaining length is 268,435,455")
        }
        buffer.reserveCapacity(minimumWritableBytes: 1 + mqttVariableByteIntegerSize(remainingLength) + remainingLength)
        buffer.writeInteger(packet.type.rawValue << 4 | fixedHeaderFlags(packet))
        buffer.writeVariableByteInteger(remainingLength)
        let bodyStart = buffer.writerIndex
        try writeBody(packet, version: version, to: &buffer)
        assert(buffer.writerIndex - bodyStart == remainingLength, "counted \(remainingLength) bytes, wrote \(buffer.writerIndex - bodyStart)")
    }

    /// The encoded size of a packet, fixed header included (to honour a client's Maximum Packet Size
    /// before sending).
    public static func encodedSize(_ packet: MQTTPacket, version: MQTTProtocolVersion) throws(MQTTEncodingError) -> Int {
        var counter = MQTTByteCounter()
        try writeBody(packet, version: version, to: &counter)
        guard counter.byteCount <= maximumRemainingLength else {
            throw MQTTEncodingError(packet: packet.name, detail: "the body is \(counter.byteCount) bytes; the maximum remaining length is 268,435,455")
        }
        return 1 + mqttVariableByteIntegerSize(counter.byteCount) + counter.byteCount
    }

    private static func fixedHeaderFlags(_ packet: MQTTPacket) -> UInt8 {
        if case .publish(let publish) = packet { return publish.fixedHeaderFlags }
        return packet.type.requiredFlags ?? 0
    }

    private static func writeBody<Sink: MQTTByteSink>(_ packet: MQTTPacket, version: MQTTProtocolVersion, to sink: inout Sink) throws(MQTTEncodingError) {
        switch packet {
        case .connect(let connect):
            try connect.write(to: &sink)
        case .connAck(let connAck):
            try connAck.write(to: &sink, version: version)
        case .publish(let publish):
            try publish.write(to: &sink, version: version)
        case .pubAck(let acknowledgement), .pubRec(let acknowledgement), .pubRel(let acknowledgement), .pubComp(let acknowledgement):
            try acknowledgement.write(to: &sink, type: packet.type, version: version)
        case .subscribe(let subscribe):
            try subscribe.write(to: &sink, version: version)
        case .subAck(let subAck):
            try subAck.write(to: &sink, version: version)
        case .unsubscribe(let unsubscribe):
            try unsubscribe.write(to: &sink, version: version)
        case .unsubAck(let unsubAck):
            try unsubAck.write(to: &sink, version: version)
        case .pingReq, .pingResp:
            break
        case .disconnect(let disconnect):
            guard version == .v5 else { return }
            try MQTTReasonAndProperties.write(
                reasonCode: disconnect.reasonCode, properties: disconnect.properties, to: &sink, type: .disconnect, context: .disconnect)
        case .auth(let auth):
            guard version == .v5 else {
                throw MQTTEncodingError(packet: "AUTH", detail: "AUTH does not exist before MQTT 5.0")
            }
            try MQTTReasonAndProperties.write(
                reasonCode: auth.reasonCode, properties: auth.properties, to: &sink, type: .auth, context: .auth)
        }
    }
}
