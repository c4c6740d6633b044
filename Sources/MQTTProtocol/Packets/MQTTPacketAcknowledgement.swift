/// PUBACK, PUBREC, PUBREL and PUBCOMP share one layout: a packet identifier, then in 5.0 a reason code
/// and properties, both of which may be left out (5.0 3.4.2.1: "The Reason Code and Property Length can
/// be omitted if the Reason Code is 0x00 (Success) and there are no Properties"; a remaining length below
/// 4 means no property length). The encoder writes the shortest form that carries the values.
public struct MQTTPacketAcknowledgement: Sendable, Equatable {
    public var packetId: UInt16
    /// 5.0 only; 3.x acknowledgements carry no reason and decode as success.
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(packetId: UInt16, reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = MQTTProperties()) {
        self.packetId = packetId
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

extension MQTTPacketAcknowledgement {
    init(from reader: inout MQTTPacketReader, type: MQTTPacketType, version: MQTTProtocolVersion) throws(MQTTDecodingError) {
        let packetId = try reader.readPacketIdentifier()
        var reasonCode = MQTTReasonCode.success
        var properties = MQTTProperties()
        if version == .v5 {
            if !reader.isAtEnd {
                reasonCode = MQTTReasonCode(rawValue: try reader.readByte("reason code"))
                guard reasonCode.isAllowed(in: type) else {
                    throw reader.malformed("reason code", "\(reasonCode) is not a \(type.name) reason code")
                }
            }
            if !reader.isAtEnd {
                properties = try MQTTProperties.decode(from: &reader, context: .acknowledgement)
            }
        }
        self.init(packetId: packetId, reasonCode: reasonCode, properties: properties)
    }

    func write<Sink: MQTTByteSink>(to sink: inout Sink, type: MQTTPacketType, version: MQTTProtocolVersion) throws(MQTTEncodingError) {
        try sink.writePacketIdentifier(packetId, packet: type.name)
        guard version == .v5 else { return }
        guard reasonCode.isAllowed(in: type) else {
            throw MQTTEncodingError(packet: type.name.description, detail: "\(reasonCode) is not a \(type.name) reason code")
        }
        let hasProperties = !properties.isEmpty
        if reasonCode != .success || hasProperties {
            sink.writeByte(reasonCode.rawValue)
        }
        if hasProperties {
            try properties.write(to: &sink, context: .acknowledgement, packet: type.name)
        }
    }
}
