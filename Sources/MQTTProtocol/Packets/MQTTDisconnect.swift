/// DISCONNECT (3.1.1 section 3.14, 5.0 section 3.14). Empty before 5.0. In 5.0 the reason code and the
/// properties may each be left out from the end (remaining length 0: normal disconnection; 1: a reason
/// code only), and the encoder writes the shortest form that carries the values.
public struct MQTTDisconnect: Sendable, Equatable {
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(reasonCode: MQTTReasonCode = .normalDisconnection, properties: MQTTProperties = MQTTProperties()) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// AUTH (5.0 section 3.15): enhanced authentication. Not part of 3.x, where packet type 15 is reserved.
public struct MQTTAuth: Sendable, Equatable {
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = MQTTProperties()) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// DISCONNECT and AUTH share the 5.0 layout: an optional reason code, then optional properties.
enum MQTTReasonAndProperties {
    static func decode(
        from reader: inout MQTTPacketReader, type: MQTTPacketType, context: MQTTPropertyContext
    ) throws(MQTTDecodingError) -> (MQTTReasonCode, MQTTProperties) {
        var reasonCode = MQTTReasonCode.success
        var properties = MQTTProperties()
        if !reader.isAtEnd {
            reasonCode = MQTTReasonCode(rawValue: try reader.readByte("reason code"))
            guard reasonCode.isAllowed(in: type) else {
                throw reader.malformed("reason code", "\(reasonCode) is not a \(type.name) reason code")
            }
        }
        // "If the Remaining Length is less than 2, a value of 0 is used" for the property length.
        if !reader.isAtEnd {
            properties = try MQTTProperties.decode(from: &reader, context: context)
        }
        return (reasonCode, properties)
    }

    static func write<Sink: MQTTByteSink>(
        reasonCode: MQTTReasonCode, properties: MQTTProperties, to sink: inout Sink, type: MQTTPacketType, context: MQTTPropertyContext
    ) throws(MQTTEncodingError) {
        guard reasonCode.isAllowed(in: type) else {
            throw MQTTEncodingError(packet: type.name.description, detail: "\(reasonCode) is not a \(type.name) reason code")
        }
        let hasProperties = !properties.isEmpty
        if reasonCode == .success && !hasProperties { return }
        sink.writeByte(reasonCode.rawValue)
        // AUTH's section only describes omitting both; writing the property length for AUTH keeps
        // to the form every receiver must accept.
        if hasProperties || type == .auth {
            try properties.write(to: &sink, context: context, packet: type.name)
        }
    }
}
