import MQTTProtocol

/// What the non-shared subscriptions of one session that match a message add up to, for live fan-out and
/// for a session's backlog alike: one delivery at the highest QoS they grant (never above the message's),
/// retained as published if any of them asks, with every subscription identifier [MQTT-3.3.4-3, 3.3.4-4,
/// 3.3.4-5]. A no-local subscription does not count for the message's own publisher [MQTT-3.8.3-3].
struct MergedSubscriptions {
    private(set) var qos = MQTTQoS.atMostOnce
    private(set) var retainAsPublished = false
    private(set) var identifiers: [UInt32] = []

    /// Whether `entry` (a subscription matching the message's topic) counts for the message.
    static func counts(_ entry: SubscriptionEntry, for message: MQTTMessage) -> Bool {
        !(entry.options.noLocal && entry.clientId == message.publisherClientId)
    }

    /// Adds a subscription that counts for the message.
    mutating func add(_ entry: SubscriptionEntry, for message: MQTTMessage) {
        qos = max(qos, min(message.qos, entry.options.qos))
        retainAsPublished = retainAsPublished || entry.options.retainAsPublished
        if let identifier = entry.identifier { identifiers.append(identifier) }
    }

    func outbound(for message: MQTTMessage) -> Outbound {
        Outbound(message: message, qos: qos, retain: retainAsPublished && message.retain, subscriptionIdentifiers: identifiers.sorted())
    }
}
