/// UNSUBSCRIBE (3.1.1 section 3.10, 5.0 section 3.10).
public struct MQTTUnsubscribe: Sendable, Equatable {
    public var packetId: UInt16
    /// As received; in 5.0 an invalid filter is answered per filter in the UNSUBACK, as for SUBSCRIBE.
    public var filters: [String]
    public var properties: MQTTProperties

    public init(packetId: UInt16, filters: [String], properties: MQTTProperties = MQTTProperties()) {
        self.packetId = packetId
        self.filters = filters
        self.properties = properties
    }
}

extension MQTTUnsubscribe {
    init(from reader: inout MQTTPacketReader, version: MQTTProtocolVersion) throws(MQTTDecodingError) {
        let packetId = try reader.readPacketIdentifier()
        var properties = MQTTProperties()
        if version == .v5 {
            properties = try MQTTProperties.decode(from: &reader, context: .unsubscribe)
        }
        var filters: [String] = []
        while !reader.isAtEnd {
            let filter = try reader.readString("topic filter")
            if version != .v5 && !MQTTTopic.validateFilter(filter) {
                throw reader.error(.topicFilterInvalid, "topic filter", "not a valid topic filter")
            }
            filters.append(filter)
        }
        guard !filters.isEmpty else {
            throw reader.protocolError("payload", "UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]")
        }
        self.init(packetId: packetId, filters: filters, properties: properties)
    }

    func write<Sink: MQTTByteSink>(to sink: inout Sink, version: MQTTProtocolVersion) throws(MQTTEncodingError) {
        guard !filters.isEmpty else {
            throw MQTTEncodingError(packet: "UNSUBSCRIBE", detail: "at least one topic filter is required")
        }
        try sink.writePacketIdentifier(packetId, packet: "UNSUBSCRIBE")
        if version == .v5 {
            try properties.write(to: &sink, context: .unsubscribe, packet: "UNSUBSCRIBE")
        }
        for filter in filters {
            try sink.writeString(filter, packet: "UNSUBSCRIBE", field: "topic filter")
        }
    }
}
