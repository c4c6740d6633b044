@testable import MQTTBroker
import MQTTProtocol
import Testing

/// The connection's side of its client's publishes, without NIO or a broker.
@Suite struct InboundPublishesTests {
    typealias Flow = InboundPublishes

    @Test func topicAliasesAreSetByATopicNameAndUsedByAnEmptyOne() {
        var flow = Flow(topicAliasMaximum: 10, maximumBeingStored: 100)
        func resolve(_ topic: String, _ alias: UInt16?) -> Result<String, Flow.Violation> {
            flow.resolveTopic(topic, alias: alias)
        }
        #expect(resolve("a/b", nil) == .success("a/b"))
        #expect(resolve("", 3) == .failure(Flow.Violation(reasonCode: .protocolError, reasonString: "topic alias 3 was never set")))
        #expect(resolve("devices/1", 3) == .success("devices/1"))
        #expect(resolve("", 3) == .success("devices/1"))
        // A new topic name replaces what the alias stands for.
        #expect(resolve("devices/2", 3) == .success("devices/2"))
        #expect(resolve("", 3) == .success("devices/2"))
        #expect(resolve("x", 0) == .failure(Flow.Violation(reasonCode: .topicAliasInvalid, reasonString: "topic alias 0 above the maximum 10")))
        #expect(resolve("x", 11) == .failure(Flow.Violation(reasonCode: .topicAliasInvalid, reasonString: "topic alias 11 above the maximum 10")))
    }

    @Test func acknowledgmentsGoOutInPublishOrderWhateverOrderTheAppendsEndIn() {
        var flow = Flow(topicAliasMaximum: 0, maximumBeingStored: 100)
        let first = flow.expect(.pubAck, packetId: 1)
        let second = flow.expect(.pubRec, packetId: 2)
        flow.acknowledgeNow(.pubAck, packetId: 3, reasonCode: .notAuthorized, reasonString: "no")
        let fourth = flow.expect(.pubAck, packetId: 4)
        #expect(flow.unacknowledgedQoS1 == 2 && flow.isBeingStored(qos2: 2))

        flow.decide(second, reasonCode: .success)
        flow.decide(fourth, reasonCode: .implementationSpecificError, reasonString: "disk")
        var taken = flow.takeDecided()
        #expect(taken.isEmpty, "the first is still being stored")
        #expect(!flow.isBeingStored(qos2: 2))

        flow.decide(first, reasonCode: .success)
        taken = flow.takeDecided()
        #expect(taken == [
            Flow.Acknowledgement(kind: .pubAck, packetId: 1, reasonCode: .success),
            Flow.Acknowledgement(kind: .pubRec, packetId: 2, reasonCode: .success),
            Flow.Acknowledgement(kind: .pubAck, packetId: 3, reasonCode: .notAuthorized, reasonString: "no"),
            Flow.Acknowledgement(kind: .pubAck, packetId: 4, reasonCode: .implementationSpecificError, reasonString: "disk"),
        ])
        #expect(flow.unacknowledgedQoS1 == 0)
        taken = flow.takeDecided()
        #expect(taken.isEmpty)

        // Tickets keep their place after the queue moved on.
        let fifth = flow.expect(.pubAck, packetId: 5)
        let sixth = flow.expect(.pubAck, packetId: 6)
        flow.decide(sixth, reasonCode: .success)
        flow.decide(fifth, reasonCode: .success)
        taken = flow.takeDecided()
        #expect(taken.map(\.packetId) == [5, 6])
    }

    @Test func theReceiveMaximumCountsQoS1UnacknowledgedAndQoS2BeingStoredOrAwaitingRelease() {
        var flow = Flow(topicAliasMaximum: 0, maximumBeingStored: 100)
        _ = flow.expect(.pubAck, packetId: 1)
        let qos2 = flow.expect(.pubRec, packetId: 2)
        #expect(flow.admits(awaitingRelease: 0, receiveMaximum: 3))
        #expect(!flow.admits(awaitingRelease: 1, receiveMaximum: 3))
        flow.decide(qos2, reasonCode: .success)
        #expect(flow.admits(awaitingRelease: 1, receiveMaximum: 3))
    }

    @Test func readsAreHeldAtTheBoundAndLetGoAtHalf() {
        var flow = Flow(topicAliasMaximum: 0, maximumBeingStored: 4)
        let holds = (0..<5).map { _ in flow.storing() }
        #expect(holds == [false, false, false, true, false], "the 4th publish being stored holds the reads (once)")
        let releases = (0..<3).map { _ in flow.storedOne() }
        #expect(releases == [false, false, true], "2 of 4 being stored: reads go on")
        #expect(!flow.readingHeld && flow.beingStored == 2)
    }
}

extension InboundPublishes {
    /// Every acknowledgment that may be sent now, in order.
    mutating func takeDecided() -> [Acknowledgement] {
        var ready: [Acknowledgement] = []
        while let next = nextDecided() { ready.append(next) }
        return ready
    }
}
