/// UNSUBACK (3.1.1 section 3.11, 5.0 section 3.11). Before 5.0 it is only the packet identifier: reason
/// codes and properties are not sent, and a decoded 3.x UNSUBACK has none.
public struct MQTTUnsubAck: Sendable, Equatable {
    public var packetId: UInt16
    public var reasonCodes: [MQTTReasonCode]
    public var properties: MQTTProperties

    public init(packetId: UInt16, reasonCodes: [MQTTReasonCode] = [], properties: MQTTProperties = MQTTProperties()) {
        self.packetId = packetId
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

extension MQTTUnsubAck {
    init(from reader: inout MQTTPacketReader, version: MQTTProtocolVersion) throws(MQTTDecodingError) {
        let packetId = try reader.readPacketIdentifier()
        guard version == .v5 else {
            self.init(packetId: packetId)
            return
        }
        let properties = try MQTTProperties.decode(from: &reader, context: .unsubAck)
        var reasonCodes: [MQTTReasonCode] = []
        reasonCodes.reserveCapacity(reader.remainingBytes)
        while !reader.isAtEnd {
            let code = MQTTReasonCode(rawValue: try reader.readByte("reason code"))
            guard code.isAllowed(in: .unsubAck) else {
                throw reader.malformed("reason code", "\(code) is not an UNSUBACK reason code")
            }
            reasonCodes.append(code)
        }
        guard !reasonCodes.isEmpty else {
            throw reader.protocolError("payload", "UNSUBACK without a reason code")
        }
        self.init(packetId: packetId, reasonCodes: reasonCodes, properties: properties)
    }

    func write<Sink: MQTTByteSink>(to sink: inout Sink, version: MQTTProtocolVersion) throws(MQTTEncodingError) {
        try sink.writePacketIdentifier(packetId, packet: "UNSUBACK")
        guard version == .v5 else { return }
        guard !reasonCodes.isEmpty else {
            throw MQTTEncodingError(packet: "UNSUBACK", detail: "5.0 needs one reason code per topic filter")
        }
        try properties.write(to: &sink, context: .unsubAck, packet: "UNSUBACK")
        for code in reasonCodes {
            guard code.isAllowed(in: .unsubAck) else {
                throw MQTTEncodingError(packet: "UNSUBACK", detail: "\(code) is not an UNSUBACK reason code")
            }
            sink.writeByte(code.rawValue)
        }
    }
}
