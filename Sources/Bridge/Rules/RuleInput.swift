public import MQTTBroker
public import NIOCore

/// What a rule reads: an MQTT message (payload and metadata) or a device event.
///
/// The payload is parsed as JSON the first time a rule needs it and kept, so several rules evaluated on
/// the same input (`evaluate` takes it `inout`) parse it once. A payload that is not JSON is still there:
/// `payload` is then the raw payload, a string when it is UTF-8 and bytes otherwise.
public struct RuleInput: Sendable {
    /// The MQTT topic the message was published to (empty for an event).
    public var topic: String
    public var payload: ByteBuffer {
        didSet { payloadState = .unparsed }
    }
    public var qos: UInt8
    public var retain: Bool
    public var clientId: String?
    public var username: String?
    /// When the broker received the message, in milliseconds since the Unix epoch.
    public var timestampMilliseconds: Int64
    /// Read as `headers.'name'`: whatever the caller attaches (for instance the Kafka record headers of a
    /// message read from the log). The first header of a name wins.
    public var headers: [(name: String, value: String)]
    /// MQTT 5 user properties, read as `user_properties.'name'`; the first property of a name wins.
    public var userProperties: [(name: String, value: String)]
    /// Set for a device event: its name (`client.disconnected`) and the whole event object, whose members
    /// a rule reads as plain names (`clientid`, `reason`).
    public private(set) var eventName: String?
    public private(set) var eventFields: [(String, RuleValue)]

    enum PayloadState {
        case unparsed
        case json(RuleValue)
        /// Not JSON: the raw payload as `.string` or `.bytes`.
        case raw(RuleValue)
    }

    private var payloadState = PayloadState.unparsed

    public init(
        topic: String, payload: ByteBuffer, qos: UInt8 = 0, retain: Bool = false, clientId: String? = nil, username: String? = nil,
        timestampMilliseconds: Int64 = 0, headers: [(name: String, value: String)] = [], userProperties: [(name: String, value: String)] = []
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.clientId = clientId
        self.username = username
        self.timestampMilliseconds = timestampMilliseconds
        self.headers = headers
        self.userProperties = userProperties
        self.eventName = nil
        self.eventFields = []
    }

    /// A message as the broker routes it; `headers` are the caller's to choose (see `headers`).
    public init(message: MQTTMessage, headers: [(name: String, value: String)] = []) {
        self.init(
            topic: message.topic, payload: message.payload, qos: message.qos.rawValue, retain: message.retain, clientId: message.publisherClientId,
            username: message.publisherUsername, timestampMilliseconds: message.receivedAtMilliseconds, headers: headers,
            userProperties: message.properties.userProperties.map { ($0.name, $0.value) })
    }

    /// An event given as its name and the whole event object (`event`, `timestamp`, `clientid`, `username`
    /// and the event's own fields).
    public init(eventName: String, fields: [(String, RuleValue)]) {
        self.init(topic: "", payload: ByteBuffer())
        self.eventName = eventName
        self.eventFields = fields
        var timestamp: Int64 = 0
        for (name, value) in fields where name == "timestamp" {
            if case .int(let milliseconds) = value { timestamp = milliseconds }
            break
        }
        self.timestampMilliseconds = timestamp
    }

    /// The event as the events topic stores it (see `RuleValue.fields(of:)`).
    public init(event: MQTTEvent) {
        self.init(eventName: event.name, fields: RuleValue.fields(of: event))
    }

    var isEvent: Bool { eventName != nil }

    func eventField(_ name: String) -> RuleValue {
        for (key, value) in eventFields where key == name { return value }
        return .null
    }

    /// The payload as rules see it: its JSON value, or the raw payload when it is not JSON.
    mutating func payloadValue() -> RuleValue {
        switch payloadState {
        case .json(let value), .raw(let value): return value
        case .unparsed:
            parsePayload()
            return payloadValue()
        }
    }

    /// The payload's JSON value; nil when it is not JSON.
    mutating func payloadJSON() -> RuleValue? {
        switch payloadState {
        case .json(let value): return value
        case .raw: return nil
        case .unparsed:
            parsePayload()
            return payloadJSON()
        }
    }

    private mutating func parsePayload() {
        let view = payload.readableBytesView
        if let value = RuleValue.parseJSON(view) {
            payloadState = .json(value)
        } else if let text = String(validating: view, as: UTF8.self) {
            payloadState = .raw(.string(text))
        } else {
            payloadState = .raw(.bytes(Array(view)))
        }
    }
}

extension RuleValue {
    /// A device event as one JSON object's members: `event`, `timestamp`, `clientid`, `username`, then the
    /// event's own fields. What the events topic stores and what event rules read.
    public static func fields(of event: MQTTEvent) -> [(String, RuleValue)] {
        var fields: [(String, RuleValue)] = [
            ("event", .string(event.name)), ("timestamp", .int(event.timestampMilliseconds)), ("clientid", .string(event.clientId)),
            ("username", event.username.map(RuleValue.string) ?? .null),
        ]
        for (name, value) in event.fields {
            switch value {
            case .string(let text): fields.append((name, .string(text)))
            case .integer(let number): fields.append((name, .int(number)))
            case .bool(let flag): fields.append((name, .bool(flag)))
            case .null: fields.append((name, .null))
            case .strings(let list): fields.append((name, .array(list.map(RuleValue.string))))
            }
        }
        return fields
    }
}
