public import NIOCore

/// A User Property: a name and value pair the application defines. A packet may carry several, with
/// repeated names; their order is kept ([MQTT-3.3.2-18]).
public struct MQTTUserProperty: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// The MQTT 5.0 properties of a packet (or of a will), each as an optional typed field: nil is absent,
/// which is not the same as the default value for every property (an absent Message Expiry Interval means
/// "never expires"). 3.x packets have no properties; encoding for 3.x leaves them out.
public struct MQTTProperties: Sendable, Equatable {
    /// 0x01: 0 unspecified bytes, 1 UTF-8 payload.
    public var payloadFormatIndicator: UInt8?
    /// 0x02, seconds.
    public var messageExpiryInterval: UInt32?
    /// 0x03.
    public var contentType: String?
    /// 0x08: a topic name (no wildcards).
    public var responseTopic: String?
    /// 0x09.
    public var correlationData: ByteBuffer?
    /// 0x0B: 1...268,435,455. SUBSCRIBE carries at most one; a PUBLISH to a subscriber carries one per
    /// matching subscription that had one. Empty means none.
    public var subscriptionIdentifiers: [UInt32]
    /// 0x11, seconds.
    public var sessionExpiryInterval: UInt32?
    /// 0x12.
    public var assignedClientIdentifier: String?
    /// 0x13, seconds.
    public var serverKeepAlive: UInt16?
    /// 0x15.
    public var authenticationMethod: String?
    /// 0x16.
    public var authenticationData: ByteBuffer?
    /// 0x17: 0 or 1.
    public var requestProblemInformation: UInt8?
    /// 0x18, seconds.
    public var willDelayInterval: UInt32?
    /// 0x19: 0 or 1.
    public var requestResponseInformation: UInt8?
    /// 0x1A.
    public var responseInformation: String?
    /// 0x1C.
    public var serverReference: String?
    /// 0x1F.
    public var reasonString: String?
    /// 0x21: not 0.
    public var receiveMaximum: UInt16?
    /// 0x22.
    public var topicAliasMaximum: UInt16?
    /// 0x23: not 0.
    public var topicAlias: UInt16?
    /// 0x24: 0 or 1 (absent means 2).
    public var maximumQoS: UInt8?
    /// 0x25: 0 or 1.
    public var retainAvailable: UInt8?
    /// 0x26, in order.
    public var userProperties: [MQTTUserProperty]
    /// 0x27, bytes: not 0.
    public var maximumPacketSize: UInt32?
    /// 0x28: 0 or 1.
    public var wildcardSubscriptionAvailable: UInt8?
    /// 0x29: 0 or 1.
    public var subscriptionIdentifierAvailable: UInt8?
    /// 0x2A: 0 or 1.
    public var sharedSubscriptionAvailable: UInt8?

    public init() {
        self.subscriptionIdentifiers = []
        self.userProperties = []
    }

    /// True when no property is set: the property block is a single 0 byte.
    public var isEmpty: Bool {
        self == MQTTProperties()
    }
}

/// The property identifiers of MQTT 5.0 table 2-4.
enum MQTTPropertyIdentifier: UInt8, CaseIterable {
    case payloadFormatIndicator = 0x01
    case messageExpiryInterval = 0x02
    case contentType = 0x03
    case responseTopic = 0x08
    case correlationData = 0x09
    case subscriptionIdentifier = 0x0B
    case sessionExpiryInterval = 0x11
    case assignedClientIdentifier = 0x12
    case serverKeepAlive = 0x13
    case authenticationMethod = 0x15
    case authenticationData = 0x16
    case requestProblemInformation = 0x17
    case willDelayInterval = 0x18
    case requestResponseInformation = 0x19
    case responseInformation = 0x1A
    case serverReference = 0x1C
    case reasonString = 0x1F
    case receiveMaximum = 0x21
    case topicAliasMaximum = 0x22
    case topicAlias = 0x23
    case maximumQoS = 0x24
    case retainAvailable = 0x25
    case userProperty = 0x26
    case maximumPacketSize = 0x27
    case wildcardSubscriptionAvailable = 0x28
    case subscriptionIdentifierAvailable = 0x29
    case sharedSubscriptionAvailable = 0x2A

    /// How errors name the property (static, so naming costs nothing until an error is thrown).
    var field: StaticString {
        switch self {
        case .payloadFormatIndicator: "property 0x01 (payload format indicator)"
        case .messageExpiryInterval: "property 0x02 (message expiry interval)"
        case .contentType: "property 0x03 (content type)"
        case .responseTopic: "property 0x08 (response topic)"
        case .correlationData: "property 0x09 (correlation data)"
        case .subscriptionIdentifier: "property 0x0B (subscription identifier)"
        case .sessionExpiryInterval: "property 0x11 (session expiry interval)"
        case .assignedClientIdentifier: "property 0x12 (assigned client identifier)"
        case .serverKeepAlive: "property 0x13 (server keep alive)"
        case .authenticationMethod: "property 0x15 (authentication method)"
        case .authenticationData: "property 0x16 (authentication data)"
        case .requestProblemInformation: "property 0x17 (request problem information)"
        case .willDelayInterval: "property 0x18 (will delay interval)"
        case .requestResponseInformation: "property 0x19 (request response information)"
        case .responseInformation: "property 0x1A (response information)"
        case .serverReference: "property 0x1C (server reference)"
        case .reasonString: "property 0x1F (reason string)"
        case .receiveMaximum: "property 0x21 (receive maximum)"
        case .topicAliasMaximum: "property 0x22 (topic alias maximum)"
        case .topicAlias: "property 0x23 (topic alias)"
        case .maximumQoS: "property 0x24 (maximum QoS)"
        case .retainAvailable: "property 0x25 (retain available)"
        case .userProperty: "property 0x26 (user property)"
        case .maximumPacketSize: "property 0x27 (maximum packet size)"
        case .wildcardSubscriptionAvailable: "property 0x28 (wildcard subscription available)"
        case .subscriptionIdentifierAvailable: "property 0x29 (subscription identifier available)"
        case .sharedSubscriptionAvailable: "property 0x2A (shared subscription available)"
        }
    }

    var bit: UInt64 { 1 << UInt64(rawValue) }
}

/// Which property block is being read or written: each packet allows its own properties (the "used in"
/// column of table 2-4), and a will's properties are a set of their own inside CONNECT.
enum MQTTPropertyContext {
    case connect, will, connAck, publish, acknowledgement, subscribe, subAck, unsubscribe, unsubAck, disconnect, auth

    var allowed: UInt64 {
        typealias P = MQTTPropertyIdentifier
        let identifiers: [P]
        switch self {
        case .connect:
            identifiers = [.sessionExpiryInterval, .receiveMaximum, .maximumPacketSize, .topicAliasMaximum,
                           .requestResponseInformation, .requestProblemInformation, .userProperty,
                           .authenticationMethod, .authenticationData]
        case .will:
            identifiers = [.willDelayInterval, .payloadFormatIndicator, .messageExpiryInterval, .contentType,
                           .responseTopic, .correlationData, .userProperty]
        case .connAck:
            identifiers = [.sessionExpiryInterval, .receiveMaximum, .maximumQoS, .retainAvailable,
                           .maximumPacketSize, .assignedClientIdentifier, .topicAliasMaximum, .reasonString,
                           .userProperty, .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable,
                           .sharedSubscriptionAvailable, .serverKeepAlive, .responseInformation,
                           .serverReference, .authenticationMethod, .authenticationData]
        case .publish:
            identifiers = [.payloadFormatIndicator, .messageExpiryInterval, .topicAlias, .responseTopic,
                           .correlationData, .userProperty, .subscriptionIdentifier, .contentType]
        case .acknowledgement, .subAck, .unsubAck:
            identifiers = [.reasonString, .userProperty]
        case .subscribe:
            identifiers = [.subscriptionIdentifier, .userProperty]
        case .unsubscribe:
            identifiers = [.userProperty]
        case .disconnect:
            identifiers = [.sessionExpiryInterval, .reasonString, .userProperty, .serverReference]
        case .auth:
            identifiers = [.authenticationMethod, .authenticationData, .reasonString, .userProperty]
        }
        return identifiers.reduce(0) { $0 | $1.bit }
    }

    /// Computed once per context: the masks are consulted for every property of every packet.
    static let connectMask = MQTTPropertyContext.connect.allowed
    static let willMask = MQTTPropertyContext.will.allowed
    static let connAckMask = MQTTPropertyContext.connAck.allowed
    static let publishMask = MQTTPropertyContext.publish.allowed
    static let acknowledgementMask = MQTTPropertyContext.acknowledgement.allowed
    static let subscribeMask = MQTTPropertyContext.subscribe.allowed
    static let unsubscribeMask = MQTTPropertyContext.unsubscribe.allowed
    static let disconnectMask = MQTTPropertyContext.disconnect.allowed
    static let authMask = MQTTPropertyContext.auth.allowed

    var allowedMask: UInt64 {
        switch self {
        case .connect: Self.connectMask
        case .will: Self.willMask
        case .connAck: Self.connAckMask
        case .publish: Self.publishMask
        case .acknowledgement, .subAck, .unsubAck: Self.acknowledgementMask
        case .subscribe: Self.subscribeMask
        case .unsubscribe: Self.unsubscribeMask
        case .disconnect: Self.disconnectMask
        case .auth: Self.authMask
        }
    }

    var name: String {
        switch self {
        case .will: "will properties"
        default: "this packet"
        }
    }
}

// MARK: Decoding

extension MQTTProperties {
    /// Reads a property block: its length, then properties until the length is used up.
    ///
    /// MQTT 5.0 sorts the failures into two reason codes. An identifier the packet does not allow (or an
    /// unknown one) means the bytes cannot be parsed as this packet: Malformed Packet (2.2.2.2). A property
    /// repeated where it may appear once, or a value outside its domain, parses but breaks a rule: Protocol
    /// Error, as each property's section says ("It is a Protocol Error to include ... more than once or for
    /// it to have the value 0"). Topic Alias 0 has its own code, Topic Alias invalid (3.3.4).
    static func decode(from reader: inout MQTTPacketReader, context: MQTTPropertyContext) throws(MQTTDecodingError) -> MQTTProperties {
        let length = try reader.readVariableByteInteger("property length")
        var block = try reader.readSubReader(length: length, "property length")
        var properties = MQTTProperties()
        let allowed = context.allowedMask
        var seen: UInt64 = 0
        while !block.isAtEnd {
            let rawIdentifier = try block.readVariableByteInteger("property identifier")
            guard rawIdentifier <= Int(UInt8.max),
                let identifier = MQTTPropertyIdentifier(rawValue: UInt8(rawIdentifier)),
                identifier.bit & allowed != 0
            else {
                throw block.malformed("property identifier", "property 0x\(String(rawIdentifier, radix: 16, uppercase: true)) is not allowed in \(context.name)")
            }
            let repeatable = identifier == .userProperty || (identifier == .subscriptionIdentifier && context == .publish)
            if !repeatable && seen & identifier.bit != 0 {
                throw block.protocolError(identifier.field, "the property appears more than once")
            }
            seen |= identifier.bit
            let field = identifier.field
            switch identifier {
            case .payloadFormatIndicator:
                properties.payloadFormatIndicator = try block.readBooleanByte(field)
            case .messageExpiryInterval:
                properties.messageExpiryInterval = try block.readUInt32(field)
            case .contentType:
                properties.contentType = try block.readString(field)
            case .responseTopic:
                let topic = try block.readString(field)
                // [MQTT-3.3.2-14]: the response topic is used as a Topic Name, so it must be one.
                guard MQTTTopic.validateName(topic) else {
                    throw block.protocolError(field, "not a valid topic name (empty or with a wildcard)")
                }
                properties.responseTopic = topic
            case .correlationData:
                properties.correlationData = try block.readBinary(field)
            case .subscriptionIdentifier:
                let value = try block.readVariableByteInteger(field)
                guard value != 0 else { throw block.protocolError(field, "must not be 0") }
                properties.subscriptionIdentifiers.append(UInt32(value))
            case .sessionExpiryInterval:
                properties.sessionExpiryInterval = try block.readUInt32(field)
            case .assignedClientIdentifier:
                properties.assignedClientIdentifier = try block.readString(field)
            case .serverKeepAlive:
                properties.serverKeepAlive = try block.readUInt16(field)
            case .authenticationMethod:
                properties.authenticationMethod = try block.readString(field)
            case .authenticationData:
                properties.authenticationData = try block.readBinary(field)
            case .requestProblemInformation:
                properties.requestProblemInformation = try block.readBooleanByte(field)
            case .willDelayInterval:
                properties.willDelayInterval = try block.readUInt32(field)
            case .requestResponseInformation:
                properties.requestResponseInformation = try block.readBooleanByte(field)
            case .responseInformation:
                properties.responseInformation = try block.readString(field)
            case .serverReference:
                properties.serverReference = try block.readString(field)
            case .reasonString:
                properties.reasonString = try block.readString(field)
            case .receiveMaximum:
                let value = try block.readUInt16(field)
                guard value != 0 else { throw block.protocolError(field, "must not be 0") }
                properties.receiveMaximum = value
            case .topicAliasMaximum:
                properties.topicAliasMaximum = try block.readUInt16(field)
            case .topicAlias:
                let value = try block.readUInt16(field)
                guard value != 0 else { throw block.error(.topicAliasInvalid, field, "must not be 0") }
                properties.topicAlias = value
            case .maximumQoS:
                properties.maximumQoS = try block.readBooleanByte(field)
            case .retainAvailable:
                properties.retainAvailable = try block.readBooleanByte(field)
            case .userProperty:
                let name = try block.readString(field)
                let value = try block.readString(field)
                properties.userProperties.append(MQTTUserProperty(name: name, value: value))
            case .maximumPacketSize:
                let value = try block.readUInt32(field)
                guard value != 0 else { throw block.protocolError(field, "must not be 0") }
                properties.maximumPacketSize = value
            case .wildcardSubscriptionAvailable:
                properties.wildcardSubscriptionAvailable = try block.readBooleanByte(field)
            case .subscriptionIdentifierAvailable:
                properties.subscriptionIdentifierAvailable = try block.readBooleanByte(field)
            case .sharedSubscriptionAvailable:
                properties.sharedSubscriptionAvailable = try block.readBooleanByte(field)
            }
        }
        return properties
    }
}

extension MQTTPacketReader {
    /// The byte-valued properties are all flags whose sections make any value but 0 and 1 a Protocol
    /// Error (Maximum QoS too: absent already means 2).
    fileprivate mutating func readBooleanByte(_ field: StaticString) throws(MQTTDecodingError) -> UInt8 {
        let value = try readByte(field)
        guard value <= 1 else { throw protocolError(field, "must be 0 or 1, not \(value)") }
        return value
    }
}

// MARK: Encoding

extension MQTTProperties {
    /// Writes the property block: its length, then each property in identifier order (user properties
    /// and subscription identifiers in the order given). A property the context does not allow is refused
    /// rather than dropped, so that a broker bug shows up as an error instead of a silently missing value.
    func write<Sink: MQTTByteSink>(to sink: inout Sink, context: MQTTPropertyContext, packet: StaticString) throws(MQTTEncodingError) {
        var counter = MQTTByteCounter()
        try writeProperties(to: &counter, context: context, packet: packet)
        guard counter.byteCount <= mqttVariableByteIntegerMaximum else {
            throw MQTTEncodingError(packet: packet.description, detail: "the properties take \(counter.byteCount) bytes; the limit is 268,435,455")
        }
        sink.writeVariableByteInteger(counter.byteCount)
        try writeProperties(to: &sink, context: context, packet: packet)
    }

    private func writeProperties<Sink: MQTTByteSink>(to sink: inout Sink, context: MQTTPropertyContext, packet: StaticString) throws(MQTTEncodingError) {
        if isEmpty { return }
        let allowed = context.allowedMask
        func begin(_ identifier: MQTTPropertyIdentifier, _ sink: inout Sink) throws(MQTTEncodingError) {
            guard identifier.bit & allowed != 0 else {
                throw MQTTEncodingError(packet: packet.description, detail: "\(identifier.field) is not allowed in \(context.name)")
            }
            sink.writeByte(identifier.rawValue)
        }
        if let value = payloadFormatIndicator {
            try begin(.payloadFormatIndicator, &sink)
            sink.writeByte(value)
        }
        if let value = messageExpiryInterval {
            try begin(.messageExpiryInterval, &sink)
            sink.writeUInt32(value)
        }
        if let value = contentType {
            try begin(.contentType, &sink)
            try sink.writeString(value, packet: packet, field: MQTTPropertyIdentifier.contentType.field)
        }
        if let value = responseTopic {
            try begin(.responseTopic, &sink)
            try sink.writeString(value, packet: packet, field: MQTTPropertyIdentifier.responseTopic.field)
        }
        if let value = correlationData {
            try begin(.correlationData, &sink)
            try sink.writeBinary(value, packet: packet, field: MQTTPropertyIdentifier.correlationData.field)
        }
        if !subscriptionIdentifiers.isEmpty {
            if context == .subscribe && subscriptionIdentifiers.count > 1 {
                throw MQTTEncodingError(packet: packet.description, detail: "SUBSCRIBE carries at most one subscription identifier")
            }
            for value in subscriptionIdentifiers {
                guard value >= 1 && value <= UInt32(mqttVariableByteIntegerMaximum) else {
                    throw MQTTEncodingError(packet: packet.description, detail: "subscription identifier \(value) is outside 1...268,435,455")
                }
                try begin(.subscriptionIdentifier, &sink)
                sink.writeVariableByteInteger(Int(value))
            }
        }
        if let value = sessionExpiryInterval {
            try begin(.sessionExpiryInterval, &sink)
            sink.writeUInt32(value)
        }
        if let value = assignedClientIdentifier {
            try begin(.assignedClientIdentifier, &sink)
            try sink.writeString(value, packet: packet, field: MQTTPropertyIdentifier.assignedClientIdentifier.field)
        }
        if let value = serverKeepAlive {
            try begin(.serverKeepAlive, &sink)
            sink.writeUInt16(value)
        }
        if let value = authenticationMethod {
            try begin(.authenticationMethod, &sink)
            try sink.writeString(value, packet: packet, field: MQTTPropertyIdentifier.authenticationMethod.field)
        }
        if let value = authenticationData {
            try begin(.authenticationData, &sink)
            try sink.writeBinary(value, packet: packet, field: MQTTPropertyIdentifier.authenticationData.field)
        }
        if let value = requestProblemInformation {
            try begin(.requestProblemInformation, &sink)
            sink.writeByte(value)
        }
        if let value = willDelayInterval {
            try begin(.willDelayInterval, &sink)
            sink.writeUInt32(value)
        }
        if let value = requestResponseInformation {
            try begin(.requestResponseInformation, &sink)
            sink.writeByte(value)
        }
        if let value = responseInformation {
            try begin(.responseInformation, &sink)
            try sink.writeString(value, packet: packet, field: MQTTPropertyIdentifier.responseInformation.field)
        }
        if let value = serverReference {
            try begin(.serverReference, &sink)
            try sink.writeString(value, packet: packet, field: MQTTPropertyIdentifier.serverReference.field)
        }
        if let value = reasonString {
            try begin(.reasonString, &sink)
            try sink.writeString(value, packet: packet, field: MQTTPropertyIdentifier.reasonString.field)
        }
        if let value = receiveMaximum {
            try begin(.receiveMaximum, &sink)
            sink.writeUInt16(value)
        }
        if let value = topicAliasMaximum {
            try begin(.topicAliasMaximum, &sink)
            sink.writeUInt16(value)
        }
        if let value = topicAlias {
            try begin(.topicAlias, &sink)
            sink.writeUInt16(value)
        }
        if let value = maximumQoS {
            try begin(.maximumQoS, &sink)
            sink.writeByte(value)
        }
        if let value = retainAvailable {
            try begin(.retainAvailable, &sink)
            sink.writeByte(value)
        }
        for property in userProperties {
            try begin(.userProperty, &sink)
            try sink.writeString(property.name, packet: packet, field: MQTTPropertyIdentifier.userProperty.field)
            try sink.writeString(property.value, packet: packet, field: MQTTPropertyIdentifier.userProperty.field)
        }
        if let value = maximumPacketSize {
            try begin(.maximumPacketSize, &sink)
            sink.writeUInt32(value)
        }
        if let value = wildcardSubscriptionAvailable {
            try begin(.wildcardSubscriptionAvailable, &sink)
            sink.writeByte(value)
        }
        if let value = subscriptionIdentifierAvailable {
            try begin(.subscriptionIdentifierAvailable, &sink)
            sink.writeByte(value)
        }
        if let value = sharedSubscriptionAvailable {
            try begin(.sharedSubscriptionAvailable, &sink)
            sink.writeByte(value)
        }
    }
}
