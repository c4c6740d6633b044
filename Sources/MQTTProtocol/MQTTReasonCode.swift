/// An MQTT 5.0 reason code. A struct rather than an enum because the specification gives one byte
/// several names depending on the packet (0x00 is Success, Normal disconnection and Granted QoS 0), and
/// because a decoder must be able to carry a code it received before deciding whether the packet allows it.
public struct MQTTReasonCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8

    @inlinable
    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    public static let success = MQTTReasonCode(rawValue: 0x00)
    public static let normalDisconnection = MQTTReasonCode(rawValue: 0x00)
    public static let grantedQoS0 = MQTTReasonCode(rawValue: 0x00)
    public static let grantedQoS1 = MQTTReasonCode(rawValue: 0x01)
    public static let grantedQoS2 = MQTTReasonCode(rawValue: 0x02)
    public static let disconnectWithWillMessage = MQTTReasonCode(rawValue: 0x04)
    public static let noMatchingSubscribers = MQTTReasonCode(rawValue: 0x10)
    public static let noSubscriptionExisted = MQTTReasonCode(rawValue: 0x11)
    public static let continueAuthentication = MQTTReasonCode(rawValue: 0x18)
    public static let reAuthenticate = MQTTReasonCode(rawValue: 0x19)
    public static let unspecifiedError = MQTTReasonCode(rawValue: 0x80)
    public static let malformedPacket = MQTTReasonCode(rawValue: 0x81)
    public static let protocolError = MQTTReasonCode(rawValue: 0x82)
    public static let implementationSpecificError = MQTTReasonCode(rawValue: 0x83)
    public static let unsupportedProtocolVersion = MQTTReasonCode(rawValue: 0x84)
    public static let clientIdentifierNotValid = MQTTReasonCode(rawValue: 0x85)
    public static let badUserNameOrPassword = MQTTReasonCode(rawValue: 0x86)
    public static let notAuthorized = MQTTReasonCode(rawValue: 0x87)
    public static let serverUnavailable = MQTTReasonCode(rawValue: 0x88)
    public static let serverBusy = MQTTReasonCode(rawValue: 0x89)
    public static let banned = MQTTReasonCode(rawValue: 0x8A)
    public static let serverShuttingDown = MQTTReasonCode(rawValue: 0x8B)
    public static let badAuthenticationMethod = MQTTReasonCode(rawValue: 0x8C)
    public static let keepAliveTimeout = MQTTReasonCode(rawValue: 0x8D)
    public static let sessionTakenOver = MQTTReasonCode(rawValue: 0x8E)
    public static let topicFilterInvalid = MQTTReasonCode(rawValue: 0x8F)
    public static let topicNameInvalid = MQTTReasonCode(rawValue: 0x90)
    public static let packetIdentifierInUse = MQTTReasonCode(rawValue: 0x91)
    public static let packetIdentifierNotFound = MQTTReasonCode(rawValue: 0x92)
    public static let receiveMaximumExceeded = MQTTReasonCode(rawValue: 0x93)
    public static let topicAliasInvalid = MQTTReasonCode(rawValue: 0x94)
    public static let packetTooLarge = MQTTReasonCode(rawValue: 0x95)
    public static let messageRateTooHigh = MQTTReasonCode(rawValue: 0x96)
    public static let quotaExceeded = MQTTReasonCode(rawValue: 0x97)
    public static let administrativeAction = MQTTReasonCode(rawValue: 0x98)
    public static let payloadFormatInvalid = MQTTReasonCode(rawValue: 0x99)
    public static let retainNotSupported = MQTTReasonCode(rawValue: 0x9A)
    public static let qosNotSupported = MQTTReasonCode(rawValue: 0x9B)
    public static let useAnotherServer = MQTTReasonCode(rawValue: 0x9C)
    public static let serverMoved = MQTTReasonCode(rawValue: 0x9D)
    public static let sharedSubscriptionsNotSupported = MQTTReasonCode(rawValue: 0x9E)
    public static let connectionRateExceeded = MQTTReasonCode(rawValue: 0x9F)
    public static let maximumConnectTime = MQTTReasonCode(rawValue: 0xA0)
    public static let subscriptionIdentifiersNotSupported = MQTTReasonCode(rawValue: 0xA1)
    public static let wildcardSubscriptionsNotSupported = MQTTReasonCode(rawValue: 0xA2)

    /// Codes from 0x80 up report failure (MQTT 5.0 section 2.4).
    @inlinable
    public var isError: Bool { rawValue >= 0x80 }

    /// The SUBACK code granting `qos`.
    @inlinable
    public static func granted(_ qos: MQTTQoS) -> MQTTReasonCode {
        MQTTReasonCode(rawValue: qos.rawValue)
    }

    /// The specification's name for the code; the packet-neutral one where a byte has several.
    public var name: String {
        switch rawValue {
        case 0x00: "Success"
        case 0x01: "Granted QoS 1"
        case 0x02: "Granted QoS 2"
        case 0x04: "Disconnect with Will Message"
        case 0x10: "No matching subscribers"
        case 0x11: "No subscription existed"
        case 0x18: "Continue authentication"
        case 0x19: "Re-authenticate"
        case 0x80: "Unspecified error"
        case 0x81: "Malformed Packet"
        case 0x82: "Protocol Error"
        case 0x83: "Implementation specific error"
        case 0x84: "Unsupported Protocol Version"
        case 0x85: "Client Identifier not valid"
        case 0x86: "Bad User Name or Password"
        case 0x87: "Not authorized"
        case 0x88: "Server unavailable"
        case 0x89: "Server busy"
        case 0x8A: "Banned"
        case 0x8B: "Server shutting down"
        case 0x8C: "Bad authentication method"
        case 0x8D: "Keep Alive timeout"
        case 0x8E: "Session taken over"
        case 0x8F: "Topic Filter invalid"
        case 0x90: "Topic Name invalid"
        case 0x91: "Packet Identifier in use"
        case 0x92: "Packet Identifier not found"
        case 0x93: "Receive Maximum exceeded"
        case 0x94: "Topic Alias invalid"
        case 0x95: "Packet too large"
        case 0x96: "Message rate too high"
        case 0x97: "Quota exceeded"
        case 0x98: "Administrative action"
        case 0x99: "Payload format invalid"
        case 0x9A: "Retain not supported"
        case 0x9B: "QoS not supported"
        case 0x9C: "Use another server"
        case 0x9D: "Server moved"
        case 0x9E: "Shared Subscriptions not supported"
        case 0x9F: "Connection rate exceeded"
        case 0xA0: "Maximum connect time"
        case 0xA1: "Subscription Identifiers not supported"
        case 0xA2: "Wildcard Subscriptions not supported"
        default: "unknown"
        }
    }

    public var description: String {
        "\(hexByte(rawValue)) \(name)"
    }
}

/// `0x8F`: the form the specification uses, without Foundation's `String(format:)`.
func hexByte(_ value: UInt8) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return value < 0x10 ? "0x0" + digits : "0x" + digits
}

extension MQTTReasonCode {
    /// Whether a 5.0 packet of `type` may carry this code (the per-packet tables of MQTT 5.0 chapter 3).
    /// A sender "MUST use one of" them, so anything else cannot be parsed as that packet: the decoder
    /// reports it as Malformed Packet, and the encoder refuses to send it.
    func isAllowed(in type: MQTTPacketType) -> Bool {
        switch type {
        case .connAck:
            switch rawValue {
            case 0x00, 0x80...0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99...0x9D, 0x9F: return true
            default: return false
            }
        case .pubAck, .pubRec:
            switch rawValue {
            case 0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99: return true
            default: return false
            }
        case .pubRel, .pubComp:
            return rawValue == 0x00 || rawValue == 0x92
        case .subAck:
            switch rawValue {
            case 0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2: return true
            default: return false
            }
        case .unsubAck:
            switch rawValue {
            case 0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91: return true
            default: return false
            }
        case .disconnect:
            switch rawValue {
            case 0x00, 0x04, 0x80...0x83, 0x87, 0x89, 0x8B, 0x8D...0x90, 0x93...0xA2: return true
            default: return false
            }
        case .auth:
            return rawValue == 0x00 || rawValue == 0x18 || rawValue == 0x19
        case .connect, .publish, .subscribe, .unsubscribe, .pingReq, .pingResp:
            return false
        }
    }
}

/// The MQTT 3.1 and 3.1.1 CONNACK return codes, the only refusals a 3.x client understands.
public enum MQTTConnectReturnCode: UInt8, Sendable, CaseIterable {
    case accepted = 0
    case unacceptableProtocolVersion = 1
    case identifierRejected = 2
    case serverUnavailable = 3
    case badUserNameOrPassword = 4
    case notAuthorized = 5

    /// The nearest 3.1.1 code for a 5.0 reason code, so that the broker decides once, in 5.0 terms, and
    /// the codec speaks to each client in its version. Refusals without a 3.1.1 counterpart become
    /// "server unavailable": it tells the client to try again later rather than to change its credentials.
    public init(reasonCode: MQTTReasonCode) {
        switch reasonCode {
        case .success:
            self = .accepted
        case .unsupportedProtocolVersion:
            self = .unacceptableProtocolVersion
        case .clientIdentifierNotValid:
            self = .identifierRejected
        case .badUserNameOrPassword, .badAuthenticationMethod:
            self = .badUserNameOrPassword
        case .notAuthorized, .banned:
            self = .notAuthorized
        default:
            self = .serverUnavailable
        }
    }

    /// The 5.0 code a 3.x CONNACK decodes to; `init(reasonCode:)` maps it back to this return code.
    public var reasonCode: MQTTReasonCode {
        switch self {
        case .accepted: .success
        case .unacceptableProtocolVersion: .unsupportedProtocolVersion
        case .identifierRejected: .clientIdentifierNotValid
        case .serverUnavailable: .serverUnavailable
        case .badUserNameOrPassword: .badUserNameOrPassword
        case .notAuthorized: .notAuthorized
        }
    }
}
