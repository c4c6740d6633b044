public import MQTTProtocol
public import NIOCore

/// A partition of a topic that MQTT messages are appended to.
public struct PartitionKey: Hashable, Sendable, Codable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)-\(partition)" }
}

/// Where a message was stored.
public struct LogPosition: Hashable, Sendable, Codable {
    public var partition: PartitionKey
    public var offset: Int64

    public init(partition: PartitionKey, offset: Int64) {
        self.partition = partition
        self.offset = offset
    }
}

/// An application message as the broker routes it.
public struct MQTTMessage: Sendable, Equatable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    public var retain: Bool
    /// The message's own MQTT 5 properties (payload format, expiry, content type, response topic, correlation
    /// data, user properties); connection-level ones (topic alias, subscription identifiers) are not kept.
    public var properties: MQTTProperties
    public var publisherClientId: String?
    public var publisherUsername: String?
    public var receivedAtMilliseconds: Int64
    /// Set once the message is in the log.
    public var position: LogPosition?

    public init(topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, properties: MQTTProperties,
                publisherClientId: String?, publisherUsername: String?, receivedAtMilliseconds: Int64, position: LogPosition? = nil) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.publisherClientId = publisherClientId
        self.publisherUsername = publisherUsername
        self.receivedAtMilliseconds = receivedAtMilliseconds
        self.position = position
    }

    /// Whether the message's expiry interval (MQTT 5) has passed at `now`.
    public func isExpired(now: Int64) -> Bool {
        guard let expiry = properties.messageExpiryInterval else { return false }
        return elapsedMilliseconds(now: now) >= Int64(expiry) * 1000
    }

    /// Time since the message was received. The receive time may come from a record any Kafka client wrote:
    /// a difference that does not fit counts as "very long ago", never as a trap.
    func elapsedMilliseconds(now: Int64) -> Int64 {
        let (elapsed, overflow) = now.subtractingReportingOverflow(receivedAtMilliseconds)
        return overflow ? (receivedAtMilliseconds > now ? 0 : .max) : max(0, elapsed)
    }

    /// The properties to forward at `now`: the expiry interval counts down (MQTT 5 3.3.2.3.3).
    public func forwardedProperties(now: Int64) -> MQTTProperties {
        var forwarded = properties
        if let expiry = properties.messageExpiryInterval {
            let elapsed = elapsedMilliseconds(now: now) / 1000
            forwarded.messageExpiryInterval = UInt32(max(0, Int64(expiry) - elapsed))
        }
        forwarded.topicAlias = nil
        forwarded.subscriptionIdentifiers = []
        return forwarded
    }

    /// Keeps only the properties that belong to the message, as a PUBLISH is forwarded.
    public static func messageProperties(of properties: MQTTProperties) -> MQTTProperties {
        var kept = MQTTProperties()
        kept.payloadFormatIndicator = properties.payloadFormatIndicator
        kept.messageExpiryInterval = properties.messageExpiryInterval
        kept.contentType = properties.contentType
        kept.responseTopic = properties.responseTopic
        kept.correlationData = properties.correlationData
        kept.userProperties = properties.userProperties
        return kept
    }
}

/// Where published messages are stored: the ingress routes. The broker appends every message (QoS 1 and 2
/// durably, QoS 0 written) and reads them back for sessions that were offline.
public protocol MQTTMessageLog: Sendable {
    /// Queues the append synchronously (appends to one partition stay in call order) and returns the
    /// partition; `completion` runs once the message is written, or flushed when `durable`.
    func append(_ message: MQTTMessage, durable: Bool, completion: @escaping @Sendable (Result<LogPosition, any Error>) -> Void) -> PartitionKey
    /// MQTT messages at or after `start` and before `end` in each partition, at most `limit` of them, and
    /// where to continue. Records that are not MQTT messages are skipped.
    func read(from start: [PartitionKey: Int64], until end: [PartitionKey: Int64], limit: Int) async throws -> (messages: [MQTTMessage], next: [PartitionKey: Int64])
    /// The messages at these positions (those still in the log), for redelivery.
    func read(positions: [LogPosition]) async throws -> [MQTTMessage]
    /// The end offset of every partition MQTT messages may be in, read at start: a session whose cursor
    /// lacks a partition that already existed must not read it from its beginning.
    func endOffsets() async throws -> [PartitionKey: Int64]
}

/// A lifecycle event of a device (client.connected, session.subscribed, ...), written to the events topic.
public struct MQTTEvent: Sendable {
    public enum Value: Sendable, Equatable {
        case string(String)
        case integer(Int64)
        case bool(Bool)
        case null
        case strings([String])
    }

    public var name: String
    public var clientId: String
    public var username: String?
    public var timestampMilliseconds: Int64
    public var fields: [(String, Value)]

    public init(name: String, clientId: String, username: String?, timestampMilliseconds: Int64, fields: [(String, Value)]) {
        self.name = name
        self.clientId = clientId
        self.username = username
        self.timestampMilliseconds = timestampMilliseconds
        self.fields = fields
    }
}

public protocol MQTTEventSink: Sendable {
    func emit(_ event: MQTTEvent)
}

/// A session as it is persisted (in `__mqtt_sessions`, key = client id).
public struct StoredSession: Sendable, Codable, Equatable {
    public struct Subscription: Sendable, Codable, Equatable {
        public var filter: String
        public var qos: UInt8
        public var noLocal: Bool
        public var retainAsPublished: Bool
        public var retainHandling: UInt8
        public var identifier: UInt32?
    }

    public struct CursorEntry: Sendable, Codable, Equatable {
        public var topic: String
        public var partition: Int32
        public var offset: Int64
    }

    /// A message handed to the client but not yet acknowledged (or queued behind the inflight window).
    /// Messages from the log are referred to by position; a retained message (not in a routed topic) by
    /// its MQTT topic, and restored only if that topic still holds it.
    public struct Pending: Sendable, Codable, Equatable {
        public var position: LogPosition?
        public var retainedTopic: String?
        public var packetId: UInt16?
        public var qos: UInt8
        /// For QoS 2: PUBREC received, PUBREL sent; only PUBCOMP is missing.
        public var released: Bool
        public var subscriptionIdentifiers: [UInt32]
        public var retain: Bool
    }

    public struct Will: Sendable, Codable, Equatable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: UInt8
        public var retain: Bool
        public var delaySeconds: UInt32
        public var contentType: String?
        public var responseTopic: String?
        public var correlationData: [UInt8]?
        public var payloadFormatIndicator: UInt8?
        public var messageExpiryInterval: UInt32?
        public var userProperties: [[String]]
    }

    public var version: Int = 1
    public var clientId: String
    public var protocolVersion: UInt8
    public var username: String?
    /// Seconds the session outlives its connection; UInt32.max never expires.
    public var expiryIntervalSeconds: UInt32
    /// When an offline session expires (wall-clock milliseconds), nil while connected.
    public var expiresAtMilliseconds: Int64?
    public var subscriptions: [Subscription]
    /// Where the session's catch-up reading resumes in each partition.
    public var cursor: [CursorEntry]
    public var pending: [Pending]
    /// QoS 2 packet ids received from the client and awaiting its PUBREL.
    public var awaitingRelease: [UInt16]
    /// A will waiting for its delay or for the session's end.
    public var pendingWill: Will?
    public var willDueAtMilliseconds: Int64?
}

/// Persistence of sessions and retained messages (compacted internal topics).
public protocol MQTTStateStore: Sendable {
    func loadSessions() async throws -> [StoredSession]
    func loadRetained() async throws -> [MQTTMessage]
    /// Writes (or with nil deletes) a session; `completion` runs once it is flushed when `durable`, once
    /// written otherwise (periodic cursor checkpoints).
    func saveSession(clientId: String, _ session: StoredSession?, durable: Bool, completion: @escaping @Sendable (Result<Void, any Error>) -> Void)
    /// Writes (or with nil clears) the retained message of a topic durably.
    func saveRetained(topic: String, _ message: MQTTMessage?, completion: @escaping @Sendable (Result<Void, any Error>) -> Void)
}
