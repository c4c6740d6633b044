public import NIOCore

/// The message the broker publishes for a client whose connection ends without a DISCONNECT.
public struct MQTTWill: Sendable, Equatable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    public var retain: Bool
    /// 5.0 will properties (will delay, message expiry, content type, ...); their own set, not CONNECT's.
    public var properties: MQTTProperties

    public init(topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false, properties: MQTTProperties = MQTTProperties()) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}

/// CONNECT (MQTT 3.1.1 section 3.1, 5.0 section 3.1). Its protocol level chooses the layout of every
/// later packet on the connection.
public struct MQTTConnect: Sendable, Equatable {
    public var protocolVersion: MQTTProtocolVersion
    /// "Clean Session" before 5.0.
    public var cleanStart: Bool
    public var keepAliveSeconds: UInt16
    /// Any well-formed string, empty included: which identifiers to accept is the broker's decision.
    public var clientId: String
    public var will: MQTTWill?
    public var username: String?
    public var password: ByteBuffer?
    public var properties: MQTTProperties

    public init(
        protocolVersion: MQTTProtocolVersion,
        cleanStart: Bool = true,
        keepAliveSeconds: UInt16 = 60,
        clientId: String,
        will: MQTTWill? = nil,
        username: String? = nil,
        password: ByteBuffer? = nil,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.protocolVersion = protocolVersion
        self.cleanStart = cleanStart
        self.keepAliveSeconds = keepAliveSeconds
        self.clientId = clientId
        self.will = will
        self.username = username
        self.password = password
        self.properties = properties
    }
}

extension MQTTConnect {
    private enum Flag {
        static let username: UInt8 = 0x80
        static let password: UInt8 = 0x40
        static let willRetain: UInt8 = 0x20
        static let willQoSMask: UInt8 = 0x18
        static let willQoSShift: UInt8 = 3
        static let will: UInt8 = 0x04
        static let cleanStart: UInt8 = 0x02
        static let reserved: UInt8 = 0x01
    }

    init(from reader: inout MQTTPacketReader, fixedHeaderFlags: UInt8) throws(MQTTDecodingError) {
        // The level decides everything else, so the name and level are read first; a client asking for a
        // version we do not speak gets an error carrying its level, so the broker can refuse it in the
        // CONNACK layout that client understands (3.1.1: return code 1; 5.0: reason 0x84).
        let protocolName = try reader.readString("protocol name")
        let level = try reader.readByte("protocol level")
        let version: MQTTProtocolVersion
        switch (protocolName, level) {
        case ("MQIsdp", 3): version = .v3_1
        case ("MQTT", 4): version = .v3_1_1
        case ("MQTT", 5): version = .v5
        default:
            throw MQTTDecodingError(
                reasonCode: .unsupportedProtocolVersion, packet: "CONNECT", field: "protocol level",
                detail: "unsupported protocol \"\(protocolName)\" level \(level)", requestedProtocolLevel: level)
        }
        // 3.1 left the fixed header's low nibble and the connect flags' bit 0 unused rather than
        // reserved-as-zero; requiring zero there would refuse 3.1 clients that the 3.1 spec allowed.
        if version != .v3_1 && fixedHeaderFlags != 0 {
            throw reader.malformed("fixed header flags", "must be 0b0000, not 0b\(String(fixedHeaderFlags, radix: 2))")
        }
        let flags = try reader.readByte("connect flags")
        if version != .v3_1 && flags & Flag.reserved != 0 {
            throw reader.malformed("connect flags", "the reserved bit 0 must be 0 [MQTT-3.1.2-3]")
        }
        let hasWill = flags & Flag.will != 0
        let willQoSValue = (flags & Flag.willQoSMask) >> Flag.willQoSShift
        let willRetain = flags & Flag.willRetain != 0
        guard let willQoS = MQTTQoS(rawValue: willQoSValue) else {
            throw reader.malformed("connect flags", "will QoS 3 [MQTT-3.1.2-14]")
        }
        if !hasWill && (willQoS != .atMostOnce || willRetain) {
            throw reader.malformed("connect flags", "will QoS or will retain set without the will flag [MQTT-3.1.2-11, -13]")
        }
        let hasUsername = flags & Flag.username != 0
        let hasPassword = flags & Flag.password != 0
        // 5.0 allows a password without a user name (e.g. a token); 3.x does not [MQTT-3.1.2-22].
        if version != .v5 && hasPassword && !hasUsername {
            throw reader.malformed("connect flags", "password flag without the user name flag [MQTT-3.1.2-22]")
        }
        let keepAlive = try reader.readUInt16("keep alive")
        var properties = MQTTProperties()
        if version == .v5 {
            properties = try MQTTProperties.decode(from: &reader, context: .connect)
            if properties.authenticationData != nil && properties.authenticationMethod == nil {
                throw reader.protocolError("property 0x16 (authentication data)", "authentication data without an authentication method")
            }
        }
        let clientId = try reader.readString("client identifier")
        var will: MQTTWill? = nil
        if hasWill {
            var willProperties = MQTTProperties()
            if version == .v5 {
                willProperties = try MQTTProperties.decode(from: &reader, context: .will)
            }
            let topic = try reader.readString("will topic")
            guard MQTTTopic.validateName(topic) else {
                throw reader.error(.topicNameInvalid, "will topic", "not a valid topic name (empty or with a wildcard)")
            }
            let payload = try reader.readBinary("will payload")
            // The only answer to a bad will is the CONNACK, so checking the declared format here (which
            // the receiver "MAY" do) costs the broker nothing and keeps junk out of the will store.
            if willProperties.payloadFormatIndicator == 1 && !MQTTPayloadFormat.isValidUTF8(payload) {
                throw reader.error(.payloadFormatInvalid, "will payload", "the payload format indicator says UTF-8, the payload is not")
            }
            will = MQTTWill(topic: topic, payload: payload, qos: willQoS, retain: willRetain, properties: willProperties)
        }
        var username: String? = nil
        if hasUsername { username = try reader.readString("user name") }
        var password: ByteBuffer? = nil
        if hasPassword { password = try reader.readBinary("password") }
        self.init(
            protocolVersion: version, cleanStart: flags & Flag.cleanStart != 0, keepAliveSeconds: keepAlive,
            clientId: clientId, will: will, username: username, password: password, properties: properties)
    }

    /// The layout follows `protocolVersion`, whatever the connection's version (CONNECT is what sets it).
    func write<Sink: MQTTByteSink>(to sink: inout Sink) throws(MQTTEncodingError) {
        let version = protocolVersion
        if version != .v5 && password != nil && username == nil {
            throw MQTTEncodingError(packet: "CONNECT", detail: "MQTT \(version == .v3_1 ? "3.1" : "3.1.1") does not allow a password without a user name")
        }
        try sink.writeString(version.protocolName, packet: "CONNECT", field: "protocol name")
        sink.writeByte(version.rawValue)
        var flags: UInt8 = 0
        if username != nil { flags |= Flag.username }
        if password != nil { flags |= Flag.password }
        if let will {
            flags |= Flag.will
            flags |= will.qos.rawValue << Flag.willQoSShift
            if will.retain { flags |= Flag.willRetain }
        }
        if cleanStart { flags |= Flag.cleanStart }
        sink.writeByte(flags)
        sink.writeUInt16(keepAliveSeconds)
        if version == .v5 {
            try properties.write(to: &sink, context: .connect, packet: "CONNECT")
        }
        try sink.writeString(clientId, packet: "CONNECT", field: "client identifier")
        if let will {
            if version == .v5 {
                try will.properties.write(to: &sink, context: .will, packet: "CONNECT")
            }
            try sink.writeString(will.topic, packet: "CONNECT", field: "will topic")
            try sink.writeBinary(will.payload, packet: "CONNECT", field: "will payload")
        }
        if let username {
            try sink.writeString(username, packet: "CONNECT", field: "user name")
        }
        if let password {
            try sink.writeBinary(password, packet: "CONNECT", field: "password")
        }
    }
}
