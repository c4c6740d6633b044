import DequeModule
import MQTTProtocol
import NIOCore

/// A message on its way to one client: its QoS and retain flag for that client, the subscription ids
/// that matched, and (once sent) its packet id.
struct Outbound {
    /// Nil only for a QoS 2 message restored after a restart in its PUBREL phase: the client has the
    /// message already, only the PUBREL/PUBCOMP exchange remains.
    var message: MQTTMessage?
    var qos: MQTTQoS
    var retain: Bool
    var subscriptionIdentifiers: [UInt32]
    var packetId: UInt16? = nil
    /// QoS 2: PUBREC received and PUBREL sent; only PUBCOMP is missing.
    var released = false
}

/// A reconnected session reading what it missed from the log: from its cursor up to `end`, the routing
/// position when it reconnected. Live messages routed meanwhile wait in `liveBuffer` and follow.
final class CatchUp: @unchecked Sendable {
    let end: [PartitionKey: Int64]
    var liveBuffer: [Outbound] = []
    /// A read is in progress.
    var reading = false
    /// Reading waits for the client to drain its queue.
    var paused = false

    init(end: [PartitionKey: Int64]) {
        self.end = end
    }
}

/// A client's session: subscriptions, messages in flight, and what survives its connection.
///
/// Sendable: confined to the broker's event loop (like `MQTTBrokerCore`, which owns it).
final class Session: @unchecked Sendable {
    let clientId: String
    var protocolVersion: MQTTProtocolVersion
    var username: String?
    /// Seconds the session outlives its connection (UInt32.max: never expires).
    var expiryIntervalSeconds: UInt32
    var subscriptions: [ExactString: SubscriptionEntry] = [:]
    /// The connection serving the session, nil while offline.
    var connectionId: UInt64? = nil
    var expiresAtMilliseconds: Int64? = nil
    /// Incremented with each connection, so that work started for an earlier one (a log read) is dropped.
    var generation: UInt64 = 0

    // Outbound (broker → client).
    var nextPacketId: UInt16 = 1
    var inflight: [UInt16: Outbound] = [:]
    /// Packet ids in the order they were sent, for redelivery in order.
    var inflightOrder: Deque<UInt16> = []
    var queue: Deque<Outbound> = []

    // Inbound QoS 2 (client → broker): packet ids stored and awaiting PUBREL.
    var awaitingRelease: Set<UInt16> = []

    /// The will of the current connection.
    @OutOfLine var will: MQTTWill? = nil
    /// A will waiting for its delay (MQTT 5) or the session's end.
    @OutOfLine var pendingWill: MQTTWill? = nil
    var pendingWillUsername: String? = nil
    var willDueAtMilliseconds: Int64? = nil

    /// Where catch-up reading resumes in each partition (kept while offline and during catch-up).
    var cursor: [PartitionKey: Int64] = [:]
    var catchUp: CatchUp? = nil
    /// Messages owed to the client from before a restart, read from the log when it reconnects.
    var restoredPending: [StoredSession.Pending] = []
    /// What was last written to the state store, to skip unchanged checkpoints.
    @OutOfLine var lastStored: StoredSession? = nil

    init(clientId: String, protocolVersion: MQTTProtocolVersion, expiryIntervalSeconds: UInt32) {
        self.clientId = clientId
        self.protocolVersion = protocolVersion
        self.expiryIntervalSeconds = expiryIntervalSeconds
    }

    var key: ExactString { ExactString(clientId) }
    var isOnline: Bool { connectionId != nil }
    var isPersistent: Bool { expiryIntervalSeconds > 0 }

    /// The next free packet id (1...65535), skipping ids still in flight.
    func allocatePacketId() -> UInt16? {
        guard inflight.count < Int(UInt16.max) else { return nil }
        while true {
            let candidate = nextPacketId
            nextPacketId = nextPacketId == UInt16.max ? 1 : nextPacketId + 1
            if inflight[candidate] == nil { return candidate }
        }
    }

    func addInflight(_ outbound: Outbound, packetId: UInt16) {
        inflight[packetId] = outbound
        inflightOrder.append(packetId)
    }

    func removeInflight(_ packetId: UInt16) -> Outbound? {
        guard let removed = inflight.removeValue(forKey: packetId) else { return nil }
        if let index = inflightOrder.firstIndex(of: packetId) { inflightOrder.remove(at: index) }
        return removed
    }
}

/// What the broker knows about one network connection.
///
/// Sendable: confined to the broker's event loop.
final class ConnectionState: @unchecked Sendable {
    let handle: MQTTConnectionHandle
    var clientId: String? = nil
    var version: MQTTProtocolVersion? = nil
    var username: String? = nil
    /// The session it was attached to at CONNECT (`MQTTBrokerCore.session(of:)` checks it still is).
    var session: Session? = nil
    var outboundAliases: [ExactString: UInt16] = [:]
    var clientReceiveMaximum = Int(UInt16.max)
    var clientMaximumPacketSize = Int.max
    var clientTopicAliasMaximum: UInt16 = 0
    /// The client asked for no reason strings or user properties on acknowledgments (MQTT 5 3.1.2.11.7).
    var problemInformation = true
    /// The publishes the client sends: aliases, quota, acknowledgments in order, read back-pressure.
    var inbound: InboundPublishes
    /// Why the connection ends, for the client.disconnected event; nil means the network went away.
    var disconnectReason: String? = nil
    /// A DISCONNECT with reason 0x00 (or a 3.1.1 DISCONNECT) discards the will.
    var willDiscarded = false
    var closed = false
    /// When the connection was accepted, to close it if CONNECT never comes.
    let openedAtMilliseconds: Int64

    init(handle: MQTTConnectionHandle, now: Int64, configuration: MQTTBrokerConfiguration) {
        self.handle = handle
        self.openedAtMilliseconds = now
        self.inbound = InboundPublishes(topicAliasMaximum: configuration.topicAliasMaximum, maximumBeingStored: configuration.maximumPublishesBeingStored)
    }

    var isConnected: Bool { clientId != nil }
}

