@testable import Bridge
import Foundation
import KafkaProtocol
import MQTTBroker
import MQTTProtocol
import NIOCore
import Testing

@Suite struct BridgeTests {
    @Test func keyTemplatesRenderClientUserTopicAndLevels() throws {
        let template = try KeyTemplate(parsing: "${topic.2}/${clientid}:${username}|${topic}|${topic.9}")
        #expect(template.render(clientId: "c1", username: nil, topic: "devices/d7/telemetry") == "d7/c1:|devices/d7/telemetry|")
        #expect(throws: RouteError.self) { try KeyTemplate(parsing: "${device}") }
        #expect(throws: RouteError.self) { try KeyTemplate(parsing: "${topic.0}") }
        #expect(throws: RouteError.self) { try KeyTemplate(parsing: "${clientid") }
    }

    @Test func firstMatchingRouteWinsAndTheFallbackFollows() throws {
        let table = try RouteTable([
            IngressRoute(from: "devices/+/telemetry", to: "telemetry", key: try KeyTemplate(parsing: "${topic.2}")),
            IngressRoute(from: "devices/#", to: "device-other"),
        ])
        #expect(table.route(for: "devices/d1/telemetry").to == "telemetry")
        #expect(table.route(for: "devices/d1/status").to == "device-other")
        #expect(table.route(for: "other").to == "mqtt.messages")
        #expect(table.route(for: "$dollar/topic").to == "mqtt.messages")
        #expect(throws: RouteError.self) { try RouteTable([IngressRoute(from: "a/#/b", to: "x")]) }
    }

    @Test func messagesSurviveTheRecordFormat() throws {
        var properties = MQTTProperties()
        properties.contentType = "application/json"
        properties.responseTopic = "replies/1"
        properties.correlationData = ByteBuffer(bytes: [0, 1, 2])
        properties.messageExpiryInterval = 60
        properties.payloadFormatIndicator = 1
        properties.userProperties = [MQTTUserProperty(name: "site", value: "north")]
        let message = MQTTMessage(
            topic: "devices/d1/telemetry", payload: ByteBuffer(string: "{\"t\":1}"), qos: .exactlyOnce, retain: true, properties: properties,
            publisherClientId: "d1", publisherUsername: "alice", receivedAtMilliseconds: 1234)
        let headers = MQTTRecordFormat.headers(of: message)
        #expect(headers.map(\.key) == [
            "mqtt.topic", "mqtt.qos", "mqtt.retain", "mqtt.client_id", "mqtt.username", "mqtt.content_type", "mqtt.response_topic",
            "mqtt.correlation_data", "mqtt.payload_format", "mqtt.message_expiry", "site",
        ])
        let batch = try MQTTRecordFormat.batch(key: ByteBuffer(string: "d1"), value: message.payload, headers: headers, timestamp: 1234)
        let record = try #require(try batch.records().first)
        let position = LogPosition(partition: PartitionKey(topic: "telemetry", partition: 0), offset: 0)
        let decoded = MQTTRecordFormat.message(from: record, timestamp: batch.header.baseTimestamp + record.timestampDelta, position: position)
        var expected = message
        expected.position = position
        #expect(decoded == expected)
        // A record some Kafka producer wrote is not an MQTT message.
        let plain = Record(timestampDelta: 0, offsetDelta: 0, key: nil, value: ByteBuffer(string: "x"))
        #expect(MQTTRecordFormat.message(from: plain, timestamp: 0, position: nil) == nil)
    }

    /// A device that sends the server's header names as MQTT 5 user properties cannot rewrite its topic,
    /// client id or user name when the record is read back; its properties come back as it sent them.
    @Test func userPropertiesCannotSpoofServerHeaders() throws {
        var properties = MQTTProperties()
        properties.userProperties = [
            MQTTUserProperty(name: "mqtt.topic", value: "devices/victim/cmd"), MQTTUserProperty(name: "mqtt.client_id", value: "victim"),
            MQTTUserProperty(name: "mqtt.username", value: "admin"), MQTTUserProperty(name: "mqtt.qos", value: "2"),
            MQTTUserProperty(name: "site", value: "north"),
        ]
        let message = MQTTMessage(
            topic: "devices/mallory/telemetry", payload: ByteBuffer(string: "x"), qos: .atLeastOnce, retain: false, properties: properties,
            publisherClientId: "mallory", publisherUsername: "mallory", receivedAtMilliseconds: 1)
        let headers = MQTTRecordFormat.headers(of: message)
        #expect(headers.filter { $0.key == "mqtt.topic" }.count == 1)
        #expect(headers.contains { $0.key == "mqtt.user_property.mqtt.client_id" })
        let batch = try MQTTRecordFormat.batch(key: nil, value: message.payload, headers: headers, timestamp: 1)
        let spoofRecord = try #require(try batch.records().first)
        let decoded = try #require(MQTTRecordFormat.message(from: spoofRecord, timestamp: 1, position: nil))
        #expect(decoded.topic == "devices/mallory/telemetry")
        #expect(decoded.publisherClientId == "mallory")
        #expect(decoded.publisherUsername == "mallory")
        #expect(decoded.qos == .atLeastOnce)
        #expect(decoded.properties.userProperties == properties.userProperties)
        #expect(MQTTRecordFormat.headerPairs(of: message).first { $0.name == "mqtt.topic" }?.value == "devices/mallory/telemetry")

        // A record with a server header twice (not written by the server): the first counts.
        let doubled = try MQTTRecordFormat.batch(key: nil, value: ByteBuffer(), headers: [
            RecordHeader(key: "mqtt.topic", value: ByteBuffer(string: "a")), RecordHeader(key: "mqtt.topic", value: ByteBuffer(string: "b")),
        ], timestamp: 1)
        let doubledRecord = try #require(try doubled.records().first)
        #expect(MQTTRecordFormat.message(from: doubledRecord, timestamp: 1, position: nil)?.topic == "a")
    }

    @Test func eventsAreJSONObjects() throws {
        let event = MQTTEvent(
            name: "client.disconnected", clientId: "dev \"7\"", username: nil, timestampMilliseconds: 42,
            fields: [("reason", .string("connection_lost")), ("n", .integer(3)), ("ok", .bool(true)), ("none", .null), ("list", .strings(["a", "b\n"]))])
        let text = EventTopicSink.json(event)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["event"] as? String == "client.disconnected")
        #expect(object["clientid"] as? String == "dev \"7\"")
        #expect(object["timestamp"] as? Int == 42)
        #expect(object["username"] is NSNull)
        #expect(object["reason"] as? String == "connection_lost")
        #expect(object["list"] as? [String] == ["a", "b\n"])
    }
}
