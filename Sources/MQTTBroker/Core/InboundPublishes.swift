import DequeModule
import MQTTProtocol

/// One connection's side of the PUBLISH packets its client sends, as a state machine with no I/O: the
/// core feeds it what happened and carries out what it answers (and it is tested without NIO).
///
/// - topic aliases the client sets and uses (MQTT 5 3.3.2.3.4);
/// - the quota that the broker's Receive Maximum bounds: QoS 1 publishes not yet acknowledged, QoS 2 ones
///   being stored (with the session's, awaiting PUBREL) (MQTT 5 4.9);
/// - acknowledgments (PUBACK, PUBREC) in the order of their PUBLISH packets, each sent once its message is
///   stored or refused (MQTT 4.6);
/// - publishes being stored, any QoS: past `maximumBeingStored` the connection's reads are held back
///   until half of them are stored (3.1.1 and 5.0 alike).
///
/// Bounds: the acknowledgments waiting here are publishes being stored, at most `maximumBeingStored` plus
/// what one socket read held; the aliases at most the broker's Topic Alias Maximum.
struct InboundPublishes {
    enum Kind: Equatable {
        case pubAck
        case pubRec
    }

    /// An acknowledgment to send, in order.
    struct Acknowledgement: Equatable {
        var kind: Kind
        var packetId: UInt16
        var reasonCode: MQTTReasonCode
        var reasonString: String?
    }

    /// A publish whose acknowledgment waits for its append.
    struct Ticket: Equatable, Sendable {
        fileprivate let sequence: UInt64
        let kind: Kind
        let packetId: UInt16
    }

    /// Why a publish ends its connection.
    struct Violation: Error, Equatable {
        var reasonCode: MQTTReasonCode
        var reasonString: String
    }

    private struct Slot {
        let kind: Kind
        let packetId: UInt16
        var reasonCode: MQTTReasonCode? = nil
        var reasonString: String? = nil
    }

    let topicAliasMaximum: UInt16
    let maximumBeingStored: Int

    private var aliases: [UInt16: String] = [:]
    /// Acknowledgments in PUBLISH order; the head's sequence number is `headSequence`.
    private var slots: Deque<Slot> = []
    private var headSequence: UInt64 = 0
    private(set) var unacknowledgedQoS1 = 0
    /// QoS 2 packet ids whose message is being appended: a resent PUBLISH meanwhile is not stored again.
    private(set) var qos2Appending: Set<UInt16> = []
    private(set) var beingStored = 0
    private(set) var readingHeld = false

    init(topicAliasMaximum: UInt16, maximumBeingStored: Int) {
        self.topicAliasMaximum = topicAliasMaximum
        self.maximumBeingStored = maximumBeingStored
    }

    // MARK: Topic aliases

    /// The topic a PUBLISH goes to: its topic name, or the one its alias stands for. A topic name with an
    /// alias sets the alias.
    mutating func resolveTopic(_ topic: String, alias: UInt16?) -> Result<String, Violation> {
        guard let alias else { return .success(topic) }
        guard alias >= 1, alias <= topicAliasMaximum else {
            return .failure(Violation(reasonCode: .topicAliasInvalid, reasonString: "topic alias \(alias) above the maximum \(topicAliasMaximum)"))
        }
        if topic.isEmpty {
            guard let mapped = aliases[alias] else {
                return .failure(Violation(reasonCode: .protocolError, reasonString: "topic alias \(alias) was never set"))
            }
            return .success(mapped)
        }
        aliases[alias] = topic
        return .success(topic)
    }

    // MARK: QoS 1 and 2

    /// Whether a QoS 2 PUBLISH with this packet id is being stored now (a resend: it is not stored again,
    /// and its PUBREC follows the first one's).
    func isBeingStored(qos2 packetId: UInt16) -> Bool {
        qos2Appending.contains(packetId)
    }

    /// Checks the Receive Maximum for one more QoS 1/2 publish; `awaitingRelease` is the session's count of
    /// stored QoS 2 publishes awaiting PUBREL.
    func admits(awaitingRelease: Int, receiveMaximum: Int) -> Bool {
        unacknowledgedQoS1 + qos2Appending.count + awaitingRelease < receiveMaximum
    }

    /// Queues the acknowledgment of a QoS 1/2 publish about to be stored; `decide` it when the append ends.
    mutating func expect(_ kind: Kind, packetId: UInt16) -> Ticket {
        let ticket = Ticket(sequence: headSequence + UInt64(slots.count), kind: kind, packetId: packetId)
        slots.append(Slot(kind: kind, packetId: packetId))
        switch kind {
        case .pubAck: unacknowledgedQoS1 += 1
        case .pubRec: qos2Appending.insert(packetId)
        }
        return ticket
    }

    /// Queues an acknowledgment decided at once (a refusal, or the PUBREC owed to a resent QoS 2 PUBLISH).
    mutating func acknowledgeNow(_ kind: Kind, packetId: UInt16, reasonCode: MQTTReasonCode, reasonString: String? = nil) {
        slots.append(Slot(kind: kind, packetId: packetId, reasonCode: reasonCode, reasonString: reasonString))
    }

    /// The append of a ticket's message ended: `reasonCode` is success or why it was not stored.
    mutating func decide(_ ticket: Ticket, reasonCode: MQTTReasonCode, reasonString: String? = nil) {
        switch ticket.kind {
        case .pubAck: unacknowledgedQoS1 -= 1
        case .pubRec: qos2Appending.remove(ticket.packetId)
        }
        guard ticket.sequence >= headSequence else { return }
        let index = Int(ticket.sequence - headSequence)
        guard index < slots.count else { return }
        slots[index].reasonCode = reasonCode
        slots[index].reasonString = reasonString
    }

    /// The next acknowledgment that may be sent now: the head's, once decided (PUBLISH order).
    mutating func nextDecided() -> Acknowledgement? {
        guard let head = slots.first, let reasonCode = head.reasonCode else { return nil }
        slots.removeFirst()
        headSequence += 1
        return Acknowledgement(kind: head.kind, packetId: head.packetId, reasonCode: reasonCode, reasonString: head.reasonString)
    }

    // MARK: Read back-pressure

    /// A publish (any QoS) starts being stored. Returns true when the connection's reads must now be held.
    mutating func storing() -> Bool {
        beingStored += 1
        guard !readingHeld, beingStored >= maximumBeingStored else { return false }
        readingHeld = true
        return true
    }

    /// A publish's append ended. Returns true when held reads may go on again (half are stored).
    mutating func storedOne() -> Bool {
        beingStored -= 1
        guard readingHeld, beingStored <= maximumBeingStored / 2 else { return false }
        readingHeld = false
        return true
    }
}
