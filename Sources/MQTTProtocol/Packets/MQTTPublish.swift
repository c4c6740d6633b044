public import NIOCore

/// PUBLISH (3.1.1 section 3.3, 5.0 section 3.3).
public struct MQTTPublish: Sendable, Equatable {
    /// Only meaningful at QoS 1 and 2; written as 0 at QoS 0, where it must be 0 [MQTT-3.3.1-2].
    public var dup: Bool
    public var qos: MQTTQoS
    public var retain: Bool
    /// Empty only in 5.0 with a `topicAlias` property: the alias stands for a topic set earlier.
    public var topic: String
    /// Present (and non-zero) exactly when QoS > 0; ignored when encoding at QoS 0, so that a message
    /// downgraded to a QoS 0 subscription can be sent without clearing it.
    public var packetId: UInt16?
    public var properties: MQTTProperties
    public var payload: ByteBuffer

    public init(
        dup: Bool = false,
        qos: MQTTQoS = .atMostOnce,
        retain: Bool = false,
        topic: String,
        packetId: UInt16? = nil,
        properties: MQTTProperties = MQTTProperties(),
        payload: ByteBuffer
    ) {
        self.dup = dup
        self.qos = qos
        self.retain = retain
        self.topic = topic
        self.packetId = packetId
        self.properties = properties
        self.payload = payload
    }
}

extension MQTTPublish {
    init(from reader: inout MQTTPacketReader, flags: UInt8, version: MQTTProtocolVersion) throws(MQTTDecodingError) {
        guard let qos = MQTTQoS(rawValue: (flags >> 1) & 0b11) else {
            throw reader.malformed("fixed header flags", "QoS 3 [MQTT-3.3.1-4]")
        }
        let dup = flags & 0b1000 != 0
        if dup && qos == .atMostOnce {
            throw reader.malformed("fixed header flags", "DUP set on a QoS 0 message [MQTT-3.3.1-2]")
        }
        let topic = try reader.readString("topic name")
        var packetId: UInt16? = nil
        if qos != .atMostOnce {
            packetId = try reader.readPacketIdentifier()
        }
        var properties = MQTTProperties()
        if version == .v5 {
            properties = try MQTTProperties.decode(from: &reader, context: .publish)
        }
        if topic.isEmpty {
            // 5.0 3.3.2.1: "It is a Protocol Error if the Topic Name is zero length and there is no Topic Alias."
            if version != .v5 {
                throw reader.error(.topicNameInvalid, "topic name", "empty [MQTT-4.7.3-1]")
            } else if properties.topicAlias == nil {
                throw reader.protocolError("topic name", "empty without a topic alias")
            }
        } else if !MQTTTopic.validateName(topic) {
            throw reader.error(.topicNameInvalid, "topic name", "contains a wildcard character [MQTT-3.3.2-2]")
        }
        self.init(
            dup: dup, qos: qos, retain: flags & 0b0001 != 0, topic: topic, packetId: packetId,
            properties: properties, payload: reader.readRemainingBytes())
    }

    var fixedHeaderFlags: UInt8 {
        var flags = qos.rawValue << 1
        if dup && qos != .atMostOnce { flags |= 0b1000 }
        if retain { flags |= 0b0001 }
        return flags
    }

    func write<Sink: MQTTByteSink>(to sink: inout Sink, version: MQTTProtocolVersion) throws(MQTTEncodingError) {
        try sink.writeString(topic, packet: "PUBLISH", field: "topic name")
        if qos != .atMostOnce {
            guard let packetId else {
                throw MQTTEncodingError(packet: "PUBLISH", detail: "QoS \(qos.rawValue) needs a packet identifier")
            }
            try sink.writePacketIdentifier(packetId, packet: "PUBLISH")
        }
        if version == .v5 {
            try properties.write(to: &sink, context: .publish, packet: "PUBLISH")
        }
        sink.writeBytes(payload)
    }
}
