import MQTTProtocol
import NIOCore

/// Random packets for the round-trip tests, reproducible from a seed. Values are what a conforming peer
/// of `version` can send, in the canonical form the decoder returns (3.x: no properties, reason codes
/// that survive the 3.1.1 mapping), so that encode → decode must give back an equal packet.
struct PacketGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed &+ 0x9E37_79B9_7F4A_7C15
    }

    /// SplitMix64.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func bool() -> Bool { next() & 1 == 1 }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func uint16() -> UInt16 { UInt16(truncatingIfNeeded: next()) }
    mutating func uint32() -> UInt32 { UInt32(truncatingIfNeeded: next()) }
    mutating func packetId() -> UInt16 { UInt16(1 + below(Int(UInt16.max))) }
    mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }

    mutating func string(maximumPieces: Int = 5) -> String {
        let pieces = ["a", "sensor", "-", "_", ".", "é", "e\u{301}", "日本", "🙂", "0", "Z", " ", "\u{FEFF}", "\u{7F}"]
        var text = ""
        for _ in 0..<below(maximumPieces + 1) { text += pick(pieces) }
        return text
    }

    mutating func topicName() -> String {
        var levels: [String] = []
        for _ in 0..<(1 + below(4)) { levels.append(string(maximumPieces: 3)) }
        let topic = (bool() ? "" : pick(["$SYS/", "/", ""])) + levels.joined(separator: "/")
        return topic.isEmpty ? "t" : topic
    }

    mutating func topicFilter() -> String {
        var levels: [String] = []
        let count = 1 + below(4)
        for index in 0..<count {
            if index == count - 1 && chance(25) {
                levels.append("#")
            } else if chance(25) {
                levels.append("+")
            } else {
                levels.append(string(maximumPieces: 3))
            }
        }
        var filter = levels.joined(separator: "/")
        if filter.isEmpty { filter = "f" }  // empty levels are fine, an empty filter is not
        return chance(15) ? "$share/\(pick(["g", "group-1", "é"]))/\(filter)" : filter
    }

    mutating func bytes(maximumCount: Int = 24) -> ByteBuffer {
        var buffer = ByteBuffer()
        for _ in 0..<below(maximumCount + 1) { buffer.writeInteger(UInt8(truncatingIfNeeded: next())) }
        return buffer
    }

    mutating func qos() -> MQTTQoS { pick(MQTTQoS.allCases) }
    mutating func flag() -> UInt8 { UInt8(below(2)) }

    mutating func userProperties() -> [MQTTUserProperty] {
        (0..<below(3)).map { _ in MQTTUserProperty(name: string(), value: string()) }
    }

    /// Properties allowed in `context`, each present with a legal value about half the time.
    mutating func properties(_ context: PropertyContext) -> MQTTProperties {
        var properties = MQTTProperties()
        func maybe(_ generator: inout PacketGenerator) -> Bool { generator.chance(40) }
        switch context {
        case .connect:
            if maybe(&self) { properties.sessionExpiryInterval = uint32() }
            if maybe(&self) { properties.receiveMaximum = max(1, uint16()) }
            if maybe(&self) { properties.maximumPacketSize = max(1, uint32()) }
            if maybe(&self) { properties.topicAliasMaximum = uint16() }
            if maybe(&self) { properties.requestResponseInformation = flag() }
            if maybe(&self) { properties.requestProblemInformation = flag() }
            if maybe(&self) {
                properties.authenticationMethod = string()
                if maybe(&self) { properties.authenticationData = bytes() }
            }
        case .will:
            if maybe(&self) { properties.willDelayInterval = uint32() }
            if maybe(&self) { properties.payloadFormatIndicator = 0 }
            if maybe(&self) { properties.messageExpiryInterval = uint32() }
            if maybe(&self) { properties.contentType = string() }
            if maybe(&self) { properties.responseTopic = topicName() }
            if maybe(&self) { properties.correlationData = bytes() }
        case .connAck:
            if maybe(&self) { properties.sessionExpiryInterval = uint32() }
            if maybe(&self) { properties.receiveMaximum = max(1, uint16()) }
            if maybe(&self) { properties.maximumQoS = flag() }
            if maybe(&self) { properties.retainAvailable = flag() }
            if maybe(&self) { properties.maximumPacketSize = max(1, uint32()) }
            if maybe(&self) { properties.assignedClientIdentifier = string() }
            if maybe(&self) { properties.topicAliasMaximum = uint16() }
            if maybe(&self) { properties.reasonString = string() }
            if maybe(&self) { properties.wildcardSubscriptionAvailable = flag() }
            if maybe(&self) { properties.subscriptionIdentifierAvailable = flag() }
            if maybe(&self) { properties.sharedSubscriptionAvailable = flag() }
            if maybe(&self) { properties.serverKeepAlive = uint16() }
            if maybe(&self) { properties.responseInformation = string() }
            if maybe(&self) { properties.serverReference = string() }
            if maybe(&self) { properties.authenticationMethod = string() }
            if maybe(&self) { properties.authenticationData = bytes() }
        case .publish:
            if maybe(&self) { properties.payloadFormatIndicator = flag() }
            if maybe(&self) { properties.messageExpiryInterval = uint32() }
            if maybe(&self) { properties.topicAlias = max(1, uint16()) }
            if maybe(&self) { properties.responseTopic = topicName() }
            if maybe(&self) { properties.correlationData = bytes() }
            if maybe(&self) { properties.contentType = string() }
            if maybe(&self) {
                properties.subscriptionIdentifiers = (0..<(1 + below(3))).map { _ in UInt32(1 + below(268_435_455)) }
            }
        case .acknowledgement:
            if maybe(&self) { properties.reasonString = string() }
        case .subscribe:
            if maybe(&self) { properties.subscriptionIdentifiers = [UInt32(1 + below(268_435_455))] }
        case .unsubscribe:
            break
        case .disconnect:
            if maybe(&self) { properties.sessionExpiryInterval = uint32() }
            if maybe(&self) { properties.reasonString = string() }
            if maybe(&self) { properties.serverReference = string() }
        case .auth:
            if maybe(&self) { properties.authenticationMethod = string() }
            if maybe(&self) { properties.authenticationData = bytes() }
            if maybe(&self) { properties.reasonString = string() }
        }
        if maybe(&self) { properties.userProperties = userProperties() }
        return properties
    }

    enum PropertyContext {
        case connect, will, connAck, publish, acknowledgement, subscribe, unsubscribe, disconnect, auth
    }

    /// Reason codes each 5.0 packet allows (MQTT 5.0 chapter 3), written out independently of the module.
    static let connAckReasons: [UInt8] = [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F]
    static let pubAckReasons: [UInt8] = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]
    static let pubRelReasons: [UInt8] = [0x00, 0x92]
    static let subAckReasons: [UInt8] = [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2]
    static let unsubAckReasons: [UInt8] = [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]
    static let disconnectReasons: [UInt8] = [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2]
    static let authReasons: [UInt8] = [0x00, 0x18, 0x19]

    mutating func reason(_ codes: [UInt8]) -> MQTTReasonCode { MQTTReasonCode(rawValue: pick(codes)) }

    // MARK: Packets

    mutating func connect(_ version: MQTTProtocolVersion) -> MQTTConnect {
        let v5 = version == .v5
        var will: MQTTWill? = nil
        if bool() {
            will = MQTTWill(
                topic: topicName(), payload: bytes(), qos: qos(), retain: bool(),
                properties: v5 ? properties(.will) : MQTTProperties())
        }
        let username: String? = bool() ? string() : nil
        // 3.x: a password needs a user name.
        let password: ByteBuffer? = (v5 || username != nil) && bool() ? bytes() : nil
        return MQTTConnect(
            protocolVersion: version, cleanStart: bool(), keepAliveSeconds: uint16(), clientId: string(),
            will: will, username: username, password: password, properties: v5 ? properties(.connect) : MQTTProperties())
    }

    mutating func packet(_ type: Int, version: MQTTProtocolVersion) -> MQTTPacket {
        let v5 = version == .v5
        func props(_ generator: inout PacketGenerator, _ context: PropertyContext) -> MQTTProperties {
            v5 ? generator.properties(context) : MQTTProperties()
        }
        switch type {
        case 1:
            return .connect(connect(version))
        case 2:
            let reasonCode = v5 ? reason(Self.connAckReasons) : pick(MQTTConnectReturnCode.allCases).reasonCode
            return .connAck(MQTTConnAck(sessionPresent: version != .v3_1 && bool(), reasonCode: reasonCode, properties: props(&self, .connAck)))
        case 3:
            let qos = qos()
            var properties = props(&self, .publish)
            var topic = topicName()
            if v5 && chance(20) {
                topic = ""
                properties.topicAlias = max(1, uint16())
            }
            return .publish(MQTTPublish(
                dup: qos != .atMostOnce && bool(), qos: qos, retain: bool(), topic: topic,
                packetId: qos == .atMostOnce ? nil : packetId(), properties: properties, payload: bytes(maximumCount: 64)))
        case 4, 5, 6, 7:
            let codes = type <= 5 ? Self.pubAckReasons : Self.pubRelReasons
            let acknowledgement = MQTTPacketAcknowledgement(
                packetId: packetId(), reasonCode: v5 ? reason(codes) : .success, properties: props(&self, .acknowledgement))
            switch type {
            case 4: return .pubAck(acknowledgement)
            case 5: return .pubRec(acknowledgement)
            case 6: return .pubRel(acknowledgement)
            default: return .pubComp(acknowledgement)
            }
        case 8:
            let subscriptions = (0..<(1 + below(4))).map { _ in
                MQTTSubscription(
                    filter: topicFilter(),
                    options: v5
                        ? MQTTSubscriptionOptions(qos: qos(), noLocal: bool(), retainAsPublished: bool(), retainHandling: pick(MQTTRetainHandling.allCases))
                        : MQTTSubscriptionOptions(qos: qos()))
            }
            return .subscribe(MQTTSubscribe(packetId: packetId(), subscriptions: subscriptions, properties: props(&self, .subscribe)))
        case 9:
            let codes: [UInt8] = v5 ? Self.subAckReasons : [0x00, 0x01, 0x02, 0x80]
            let reasonCodes = (0..<(1 + below(5))).map { _ in reason(codes) }
            return .subAck(MQTTSubAck(packetId: packetId(), reasonCodes: reasonCodes, properties: props(&self, .acknowledgement)))
        case 10:
            let filters = (0..<(1 + below(4))).map { _ in topicFilter() }
            return .unsubscribe(MQTTUnsubscribe(packetId: packetId(), filters: filters, properties: props(&self, .unsubscribe)))
        case 11:
            let reasonCodes = v5 ? (0..<(1 + below(5))).map { _ in reason(Self.unsubAckReasons) } : []
            return .unsubAck(MQTTUnsubAck(packetId: packetId(), reasonCodes: reasonCodes, properties: props(&self, .acknowledgement)))
        case 12:
            return .pingReq
        case 13:
            return .pingResp
        case 14:
            return .disconnect(MQTTDisconnect(reasonCode: v5 ? reason(Self.disconnectReasons) : .normalDisconnection, properties: props(&self, .disconnect)))
        default:
            precondition(v5, "AUTH exists only in 5.0")
            return .auth(MQTTAuth(reasonCode: reason(Self.authReasons), properties: props(&self, .auth)))
        }
    }
}
