/// CONNACK (3.1.1 section 3.2, 5.0 section 3.2). The broker decides in 5.0 terms; for a 3.x client the
/// reason code is written as the nearest 3.1.1 return code (`MQTTConnectReturnCode(reasonCode:)`) and
/// the properties are left out.
public struct MQTTConnAck: Sendable, Equatable {
    /// Not sent to 3.1 clients: 3.1 had no such flag, its CONNACK's first byte is unused.
    public var sessionPresent: Bool
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(sessionPresent: Bool = false, reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = MQTTProperties()) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

extension MQTTConnAck {
    init(from reader: inout MQTTPacketReader, version: MQTTProtocolVersion) throws(MQTTDecodingError) {
        let flags = try reader.readByte("acknowledge flags")
        var sessionPresent = false
        if version != .v3_1 {
            guard flags & 0xFE == 0 else {
                throw reader.malformed("acknowledge flags", "bits 7-1 are reserved and must be 0")
            }
            sessionPresent = flags & 0x01 != 0
        }
        let code = try reader.readByte("reason code")
        if version == .v5 {
            let reasonCode = MQTTReasonCode(rawValue: code)
            guard reasonCode.isAllowed(in: .connAck) else {
                throw reader.malformed("reason code", "\(reasonCode) is not a CONNACK reason code")
            }
            let properties = try MQTTProperties.decode(from: &reader, context: .connAck)
            self.init(sessionPresent: sessionPresent, reasonCode: reasonCode, properties: properties)
        } else {
            guard let returnCode = MQTTConnectReturnCode(rawValue: code) else {
                throw reader.malformed("return code", "\(code) is reserved")
            }
            self.init(sessionPresent: sessionPresent, reasonCode: returnCode.reasonCode)
        }
    }

    func write<Sink: MQTTByteSink>(to sink: inout Sink, version: MQTTProtocolVersion) throws(MQTTEncodingError) {
        sink.writeByte(sessionPresent && version != .v3_1 ? 0x01 : 0x00)
        if version == .v5 {
            guard reasonCode.isAllowed(in: .connAck) else {
                throw MQTTEncodingError(packet: "CONNACK", detail: "\(reasonCode) is not a CONNACK reason code")
            }
            sink.writeByte(reasonCode.rawValue)
            try properties.write(to: &sink, context: .connAck, packet: "CONNACK")
        } else {
            sink.writeByte(MQTTConnectReturnCode(reasonCode: reasonCode).rawValue)
        }
    }
}
