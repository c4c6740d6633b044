/// The protocol level a client asks for in CONNECT. Every later packet on the connection is read and
/// written in that level's layout; 3.1 and 3.1.1 share one layout except for the CONNECT protocol name.
public enum MQTTProtocolVersion: UInt8, Sendable, CaseIterable {
    case v3_1 = 3
    case v3_1_1 = 4
    case v5 = 5

    /// The protocol name CONNECT carries before the level: 3.1 predates the OASIS standard and its name.
    public var protocolName: String {
        switch self {
        case .v3_1: "MQIsdp"
        case .v3_1_1, .v5: "MQTT"
        }
    }

    /// 5.0 added properties, reason codes on acknowledgements and AUTH; 3.x has none of them.
    @inlinable
    public var hasProperties: Bool { self == .v5 }
}

public enum MQTTQoS: UInt8, Sendable, Comparable, CaseIterable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    /// Raw-valued enums get no synthesized `Comparable`; the order is the delivery guarantee's strength,
    /// which is what a broker compares when it downgrades to a subscription's maximum QoS.
    @inlinable
    public static func < (lhs: MQTTQoS, rhs: MQTTQoS) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}
