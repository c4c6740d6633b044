/// Why bytes could not be decoded as an MQTT packet. Every decoder in this module throws this type.
///
/// `reasonCode` is what the broker should say about it to a 5.0 client (in the CONNACK when the CONNECT
/// failed, in a DISCONNECT otherwise) before closing; a 3.x connection is simply closed.
public struct MQTTDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reasonCode: MQTTReasonCode
    /// "CONNECT", "PUBLISH", ...: the packet whose bytes were being read.
    public var packet: String
    /// "topic name", "remaining length", "property 0x23 (topic alias)", ...
    public var field: String
    public var detail: String
    /// For a CONNECT with an unsupported protocol level or name: the level the client asked for, so the
    /// broker can answer in the CONNACK layout that client reads (3.1.1 return code 1, or 5.0 reason 0x84).
    public var requestedProtocolLevel: UInt8?

    public init(
        reasonCode: MQTTReasonCode,
        packet: String,
        field: String,
        detail: String,
        requestedProtocolLevel: UInt8? = nil
    ) {
        self.reasonCode = reasonCode
        self.packet = packet
        self.field = field
        self.detail = detail
        self.requestedProtocolLevel = requestedProtocolLevel
    }

    public var description: String {
        var text = "cannot decode \(packet) \(field): \(detail) (\(reasonCode))"
        if let requestedProtocolLevel {
            text += " [requested protocol level \(requestedProtocolLevel)]"
        }
        return text
    }
}

/// Why a packet could not be encoded: a value the wire format cannot carry (a string longer than
/// 65,535 bytes), or one the specification forbids the sender to send (a property or reason code the
/// packet does not allow). Nothing is written when encoding fails.
public struct MQTTEncodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var packet: String
    public var detail: String

    public init(packet: String, detail: String) {
        self.packet = packet
        self.detail = detail
    }

    public var description: String {
        "cannot encode \(packet): \(detail)"
    }
}
