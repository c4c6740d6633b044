/// SUBACK (3.1.1 section 3.9, 5.0 section 3.9): one reason code per subscription, in order. 3.x knows
/// only granted QoS 0/1/2 and failure 0x80; any 5.0 error code is written as 0x80 to a 3.x client.
public struct MQTTSubAck: Sendable, Equatable {
    public var packetId: UInt16
    public var reasonCodes: [MQTTReasonCode]
    public var properties: MQTTProperties

    public init(packetId: UInt16, reasonCodes: [MQTTReasonCode], properties: MQTTProperties = MQTTProperties()) {
        self.packetId = packetId
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

extension MQTTSubAck {
    init(from reader: inout MQTTPacketReader, version: MQTTProtocolVersion) throws(MQTTDecodingError) {
        let packetId = try reader.readPacketIdentifier()
        var properties = MQTTProperties()
        if version == .v5 {
            properties = try MQTTProperties.decode(from: &reader, context: .subAck)
        }
        var reasonCodes: [MQTTReasonCode] = []
        reasonCodes.reserveCapacity(reader.remainingBytes)
        while !reader.isAtEnd {
            let code = MQTTReasonCode(rawValue: try reader.readByte("reason code"))
            let valid = version == .v5 ? code.isAllowed(in: .subAck) : (code.rawValue <= 2 || code == .unspecifiedError)
            guard valid else { throw reader.malformed("reason code", "\(code) is not a SUBACK reason code") }
            reasonCodes.append(code)
        }
        guard !reasonCodes.isEmpty else {
            throw reader.protocolError("payload", "SUBACK without a reason code")
        }
        self.init(packetId: packetId, reasonCodes: reasonCodes, properties: properties)
    }

    func write<Sink: MQTTByteSink>(to sink: inout Sink, version: MQTTProtocolVersion) throws(MQTTEncodingError) {
        guard !reasonCodes.isEmpty else {
            throw MQTTEncodingError(packet: "SUBACK", detail: "at least one reason code is required")
        }
        try sink.writePacketIdentifier(packetId, packet: "SUBACK")
        if version == .v5 {
            try properties.write(to: &sink, context: .subAck, packet: "SUBACK")
        }
        for code in reasonCodes {
            if version == .v5 {
                guard code.isAllowed(in: .subAck) else {
                    throw MQTTEncodingError(packet: "SUBACK", detail: "\(code) is not a SUBACK reason code")
                }
                sink.writeByte(code.rawValue)
            } else {
                sink.writeByte(code.rawValue <= 2 ? code.rawValue : MQTTReasonCode.unspecifiedError.rawValue)
            }
        }
    }
}
