/// Whether retained messages are sent when a subscription is made (5.0 3.8.3.1).
public enum MQTTRetainHandling: UInt8, Sendable, CaseIterable {
    case sendOnSubscribe = 0
    /// Only when the subscription did not exist before.
    case sendOnNewSubscribe = 1
    case doNotSend = 2
}

/// A subscription's options byte. Before 5.0 only the QoS exists; the other options take their 3.1.1
/// meaning (false, false, send on subscribe) and are not sent to a 3.x peer.
public struct MQTTSubscriptionOptions: Sendable, Equatable {
    public var qos: MQTTQoS
    public var noLocal: Bool
    public var retainAsPublished: Bool
    public var retainHandling: MQTTRetainHandling

    public init(qos: MQTTQoS, noLocal: Bool = false, retainAsPublished: Bool = false, retainHandling: MQTTRetainHandling = .sendOnSubscribe) {
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }
}

public struct MQTTSubscription: Sendable, Equatable {
    /// As received. In 5.0 an invalid filter is not a decoding error: the broker refuses that one
    /// subscription with Topic Filter invalid (0x8F) in the SUBACK. Check it with `MQTTTopic.validateFilter`.
    public var filter: String
    public var options: MQTTSubscriptionOptions

    public init(filter: String, options: MQTTSubscriptionOptions) {
        self.filter = filter
        self.options = options
    }
}

/// SUBSCRIBE (3.1.1 section 3.8, 5.0 section 3.8).
public struct MQTTSubscribe: Sendable, Equatable {
    public var packetId: UInt16
    public var subscriptions: [MQTTSubscription]
    public var properties: MQTTProperties

    public init(packetId: UInt16, subscriptions: [MQTTSubscription], properties: MQTTProperties = MQTTProperties()) {
        self.packetId = packetId
        self.subscriptions = subscriptions
        self.properties = properties
    }
}

extension MQTTSubscribe {
    init(from reader: inout MQTTPacketReader, version: MQTTProtocolVersion) throws(MQTTDecodingError) {
        let packetId = try reader.readPacketIdentifier()
        var properties = MQTTProperties()
        if version == .v5 {
            properties = try MQTTProperties.decode(from: &reader, context: .subscribe)
        }
        var subscriptions: [MQTTSubscription] = []
        // Each subscription takes at least 3 bytes (empty filter, options); the packet bounds the loop.
        while !reader.isAtEnd {
            let filter = try reader.readString("topic filter")
            let optionsByte = try reader.readByte("subscription options")
            let options: MQTTSubscriptionOptions
            if version == .v5 {
                guard optionsByte & 0b1100_0000 == 0 else {
                    throw reader.malformed("subscription options", "reserved bits 7-6 must be 0 [MQTT-3.8.3-5]")
                }
                guard let qos = MQTTQoS(rawValue: optionsByte & 0b11) else {
                    throw reader.protocolError("subscription options", "maximum QoS 3")
                }
                guard let retainHandling = MQTTRetainHandling(rawValue: (optionsByte >> 4) & 0b11) else {
                    throw reader.protocolError("subscription options", "retain handling 3")
                }
                options = MQTTSubscriptionOptions(
                    qos: qos, noLocal: optionsByte & 0b0100 != 0, retainAsPublished: optionsByte & 0b1000 != 0,
                    retainHandling: retainHandling)
            } else {
                // 3.1.1 [MQTT-3-8.3-4]: the upper 6 bits are reserved; they or QoS 3 make the packet malformed.
                guard optionsByte & 0b1111_1100 == 0, let qos = MQTTQoS(rawValue: optionsByte) else {
                    throw reader.malformed("requested QoS", "reserved bits set or QoS 3 (byte 0x\(String(optionsByte, radix: 16)))")
                }
                // A 3.x client has no per-filter refusal that says "invalid filter" (0x80 is any failure),
                // and 3.1.1 4.7 makes it a protocol violation: the connection is closed.
                guard MQTTTopic.validateFilter(filter) else {
                    throw reader.error(.topicFilterInvalid, "topic filter", "not a valid topic filter")
                }
                options = MQTTSubscriptionOptions(qos: qos)
            }
            subscriptions.append(MQTTSubscription(filter: filter, options: options))
        }
        guard !subscriptions.isEmpty else {
            throw reader.protocolError("payload", "SUBSCRIBE without a subscription [MQTT-3.8.3-3]")
        }
        self.init(packetId: packetId, subscriptions: subscriptions, properties: properties)
    }

    func write<Sink: MQTTByteSink>(to sink: inout Sink, version: MQTTProtocolVersion) throws(MQTTEncodingError) {
        guard !subscriptions.isEmpty else {
            throw MQTTEncodingError(packet: "SUBSCRIBE", detail: "at least one subscription is required")
        }
        try sink.writePacketIdentifier(packetId, packet: "SUBSCRIBE")
        if version == .v5 {
            try properties.write(to: &sink, context: .subscribe, packet: "SUBSCRIBE")
        }
        for subscription in subscriptions {
            try sink.writeString(subscription.filter, packet: "SUBSCRIBE", field: "topic filter")
            let options = subscription.options
            var byte = options.qos.rawValue
            if version == .v5 {
                if options.noLocal { byte |= 0b0100 }
                if options.retainAsPublished { byte |= 0b1000 }
                byte |= options.retainHandling.rawValue << 4
            }
            sink.writeByte(byte)
        }
    }
}
