public import NIOCore

/// One MQTT control packet of either version. Fields a version cannot carry (properties and reason codes
/// before 5.0) are left out when encoding for that version and come back empty or as success when decoding.
public enum MQTTPacket: Sendable, Equatable {
    case connect(MQTTConnect)
    case connAck(MQTTConnAck)
    case publish(MQTTPublish)
    case pubAck(MQTTPacketAcknowledgement)
    case pubRec(MQTTPacketAcknowledgement)
    case pubRel(MQTTPacketAcknowledgement)
    case pubComp(MQTTPacketAcknowledgement)
    case subscribe(MQTTSubscribe)
    case subAck(MQTTSubAck)
    case unsubscribe(MQTTUnsubscribe)
    case unsubAck(MQTTUnsubAck)
    case pingReq
    case pingResp
    case disconnect(MQTTDisconnect)
    case auth(MQTTAuth)

    var type: MQTTPacketType {
        switch self {
        case .connect: .connect
        case .connAck: .connAck
        case .publish: .publish
        case .pubAck: .pubAck
        case .pubRec: .pubRec
        case .pubRel: .pubRel
        case .pubComp: .pubComp
        case .subscribe: .subscribe
        case .subAck: .subAck
        case .unsubscribe: .unsubscribe
        case .unsubAck: .unsubAck
        case .pingReq: .pingReq
        case .pingResp: .pingResp
        case .disconnect: .disconnect
        case .auth: .auth
        }
    }

    /// "CONNECT", "PUBLISH", ...: the specification's name, for logs and events.
    public var name: String {
        type.name.description
    }

    /// Encodes the packet in `version`'s layout; see `MQTTPacketCodec.encode`.
    public func encode(into buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTEncodingError) {
        try MQTTPacketCodec.encode(self, version: version, into: &buffer)
    }
}
