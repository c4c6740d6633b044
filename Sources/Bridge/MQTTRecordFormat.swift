public import KafkaProtocol
public import MQTTBroker
import MQTTProtocol
import NIOCore

/// How an MQTT message is stored as a Kafka record: value = payload, timestamp = when the broker
/// received it, and the MQTT metadata in headers a Kafka consumer can read (`mqtt.topic`, `mqtt.qos`,
/// `mqtt.retain`, `mqtt.client_id`, `mqtt.username`, and MQTT 5's content type, response topic,
/// correlation data, payload format, expiry; user properties as headers of their own name).
///
/// Header names starting with `mqtt.` are the server's: a client cannot write one. A user property whose
/// name starts with `mqtt.` is stored as `mqtt.user_property.` + its name (and read back as the property
/// the client sent), so a device that sends `mqtt.topic` or `mqtt.client_id` as a user property cannot
/// rewrite its topic, client id or user name when the record is replayed (offline catch-up, retained
/// messages, rules, restarts). Of a server header only the first occurrence counts.
public enum MQTTRecordFormat {
    static let reservedPrefix = "mqtt."
    static let escapedUserPropertyPrefix = "mqtt.user_property."

    /// The header name of a user property.
    static func headerName(ofUserProperty name: String) -> String {
        name.hasPrefix(reservedPrefix) ? escapedUserPropertyPrefix + name : name
    }

    public static let topicHeader = "mqtt.topic"
    static let qosHeader = "mqtt.qos"
    static let retainHeader = "mqtt.retain"
    static let clientIdHeader = "mqtt.client_id"
    static let usernameHeader = "mqtt.username"
    static let contentTypeHeader = "mqtt.content_type"
    static let responseTopicHeader = "mqtt.response_topic"
    static let correlationDataHeader = "mqtt.correlation_data"
    static let payloadFormatHeader = "mqtt.payload_format"
    static let messageExpiryHeader = "mqtt.message_expiry"

    public static func headers(of message: MQTTMessage) -> [RecordHeader] {
        var headers: [RecordHeader] = [
            RecordHeader(key: topicHeader, value: ByteBuffer(string: message.topic)),
            RecordHeader(key: qosHeader, value: ByteBuffer(string: String(message.qos.rawValue))),
            RecordHeader(key: retainHeader, value: ByteBuffer(string: message.retain ? "true" : "false")),
        ]
        if let clientId = message.publisherClientId { headers.append(RecordHeader(key: clientIdHeader, value: ByteBuffer(string: clientId))) }
        if let username = message.publisherUsername { headers.append(RecordHeader(key: usernameHeader, value: ByteBuffer(string: username))) }
        let properties = message.properties
        if let contentType = properties.contentType { headers.append(RecordHeader(key: contentTypeHeader, value: ByteBuffer(string: contentType))) }
        if let responseTopic = properties.responseTopic { headers.append(RecordHeader(key: responseTopicHeader, value: ByteBuffer(string: responseTopic))) }
        if let correlationData = properties.correlationData { headers.append(RecordHeader(key: correlationDataHeader, value: correlationData)) }
        if let format = properties.payloadFormatIndicator { headers.append(RecordHeader(key: payloadFormatHeader, value: ByteBuffer(string: String(format)))) }
        if let expiry = properties.messageExpiryInterval { headers.append(RecordHeader(key: messageExpiryHeader, value: ByteBuffer(string: String(expiry)))) }
        for property in properties.userProperties {
            headers.append(RecordHeader(key: headerName(ofUserProperty: property.name), value: ByteBuffer(string: property.value)))
        }
        return headers
    }

    /// The same headers as text pairs (what a rule reads as `headers.'name'`).
    public static func headerPairs(of message: MQTTMessage) -> [(name: String, value: String)] {
        var pairs: [(name: String, value: String)] = [
            (topicHeader, message.topic), (qosHeader, String(message.qos.rawValue)), (retainHeader, message.retain ? "true" : "false"),
        ]
        if let clientId = message.publisherClientId { pairs.append((clientIdHeader, clientId)) }
        if let username = message.publisherUsername { pairs.append((usernameHeader, username)) }
        let properties = message.properties
        if let contentType = properties.contentType { pairs.append((contentTypeHeader, contentType)) }
        if let responseTopic = properties.responseTopic { pairs.append((responseTopicHeader, responseTopic)) }
        if let correlationData = properties.correlationData {
            pairs.append((correlationDataHeader, String(decoding: correlationData.readableBytesView, as: UTF8.self)))
        }
        if let format = properties.payloadFormatIndicator { pairs.append((payloadFormatHeader, String(format))) }
        if let expiry = properties.messageExpiryInterval { pairs.append((messageExpiryHeader, String(expiry))) }
        for property in properties.userProperties { pairs.append((headerName(ofUserProperty: property.name), property.value)) }
        return pairs
    }

    /// The MQTT message a record holds, or nil when the record was not written by the MQTT broker (no
    /// `mqtt.topic` header).
    public static func message(from record: Record, timestamp: Int64, position: LogPosition?) -> MQTTMessage? {
        var topic: String? = nil
        var qos = MQTTQoS.atMostOnce
        var retain = false
        var clientId: String? = nil
        var username: String? = nil
        var properties = MQTTProperties()
        var seen: Set<String> = []
        for header in record.headers {
            let text = header.value.map { String(decoding: $0.readableBytesView, as: UTF8.self) }
            if header.key.hasPrefix(escapedUserPropertyPrefix) {
                properties.userProperties.append(MQTTUserProperty(name: String(header.key.dropFirst(escapedUserPropertyPrefix.count)), value: text ?? ""))
                continue
            }
            if header.key.hasPrefix(reservedPrefix) {
                // The first server header of a name is the server's; a later one was not written by it.
                guard seen.insert(header.key).inserted else { continue }
            }
            switch header.key {
            case topicHeader: topic = text
            case qosHeader: qos = text.flatMap { UInt8($0) }.flatMap(MQTTQoS.init(rawValue:)) ?? .atMostOnce
            case retainHeader: retain = text == "true"
            case clientIdHeader: clientId = text
            case usernameHeader: username = text
            case contentTypeHeader: properties.contentType = text
            case responseTopicHeader: properties.responseTopic = text
            case correlationDataHeader: properties.correlationData = header.value ?? ByteBuffer()
            case payloadFormatHeader: properties.payloadFormatIndicator = text.flatMap { UInt8($0) }
            case messageExpiryHeader: properties.messageExpiryInterval = text.flatMap { UInt32($0) }
            case _ where header.key.hasPrefix(reservedPrefix):
                // A server header this version does not know: not a user property.
                continue
            default: properties.userProperties.append(MQTTUserProperty(name: header.key, value: text ?? ""))
            }
        }
        guard let topic else { return nil }
        return MQTTMessage(
            topic: topic, payload: record.value ?? ByteBuffer(), qos: qos, retain: retain, properties: properties,
            publisherClientId: clientId, publisherUsername: username, receivedAtMilliseconds: timestamp, position: position)
    }

    /// One record batch holding one record.
    static func batch(key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader], timestamp: Int64) throws -> RecordBatch {
        var builder = RecordBatchBuilder()
        builder.append(key: key, value: value, headers: headers, timestamp: timestamp)
        var bytes = try builder.build()
        return try RecordBatch.read(from: &bytes)
    }
}
