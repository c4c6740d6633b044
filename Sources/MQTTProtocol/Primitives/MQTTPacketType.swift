/// The control packet type in the high nibble of the fixed header's first byte. 0 is reserved in every
/// version; 15 (AUTH) is reserved before 5.0.
enum MQTTPacketType: UInt8, Sendable {
    case connect = 1
    case connAck = 2
    case publish = 3
    case pubAck = 4
    case pubRec = 5
    case pubRel = 6
    case pubComp = 7
    case subscribe = 8
    case subAck = 9
    case unsubscribe = 10
    case unsubAck = 11
    case pingReq = 12
    case pingResp = 13
    case disconnect = 14
    case auth = 15

    var name: StaticString {
        switch self {
        case .connect: "CONNECT"
        case .connAck: "CONNACK"
        case .publish: "PUBLISH"
        case .pubAck: "PUBACK"
        case .pubRec: "PUBREC"
        case .pubRel: "PUBREL"
        case .pubComp: "PUBCOMP"
        case .subscribe: "SUBSCRIBE"
        case .subAck: "SUBACK"
        case .unsubscribe: "UNSUBSCRIBE"
        case .unsubAck: "UNSUBACK"
        case .pingReq: "PINGREQ"
        case .pingResp: "PINGRESP"
        case .disconnect: "DISCONNECT"
        case .auth: "AUTH"
        }
    }

    /// The low nibble the fixed header must carry; nil for PUBLISH, whose nibble holds DUP, QoS and RETAIN.
    /// PUBREL, SUBSCRIBE and UNSUBSCRIBE keep 0b0010 from MQTT 3.1, where they were sent at QoS 1.
    var requiredFlags: UInt8? {
        switch self {
        case .publish: nil
        case .pubRel, .subscribe, .unsubscribe: 0b0010
        default: 0b0000
        }
    }
}
