import BenchHarness
import Testing

@Suite struct SequenceTrackerTests {
    @Test func inOrderStreamIsClean() {
        var tracker = SequenceTracker()
        for sequence in UInt64(0)..<100 {
            #expect(tracker.record(stream: 1, sequence: sequence) == .inOrder)
        }
        let counts = tracker.counts(sentPerStream: [1: 100])
        #expect(counts == DeliveryCounts(expected: 100, received: 100))
        #expect(counts.isClean)
    }

    @Test func gapFilledLaterIsOutOfOrderNotLost() {
        var tracker = SequenceTracker()
        #expect(tracker.record(stream: 7, sequence: 0) == .inOrder)
        #expect(tracker.record(stream: 7, sequence: 1) == .inOrder)
        #expect(tracker.record(stream: 7, sequence: 5) == .inOrder)  // 2, 3, 4 missing for now
        #expect(tracker.counts(sentPerStream: [7: 6]).lost == 3)
        #expect(tracker.record(stream: 7, sequence: 3) == .outOfOrder)
        #expect(tracker.record(stream: 7, sequence: 2) == .outOfOrder)
        #expect(tracker.record(stream: 7, sequence: 4) == .outOfOrder)
        #expect(tracker.record(stream: 7, sequence: 6) == .inOrder)
        let counts = tracker.counts(sentPerStream: [7: 7])
        #expect(counts == DeliveryCounts(expected: 7, received: 7, lost: 0, duplicated: 0, outOfOrder: 3))
        #expect(counts.isClean)
    }

    @Test func firstMessageAfterZeroLeavesTheStartMissing() {
        var tracker = SequenceTracker()
        #expect(tracker.record(stream: 1, sequence: 3) == .inOrder)
        #expect(tracker.record(stream: 1, sequence: 0) == .outOfOrder)
        #expect(tracker.counts(sentPerStream: [1: 4]).lost == 2)
    }

    @Test func duplicatesOfInOrderAndOutOfOrderMessages() {
        var tracker = SequenceTracker()
        tracker.record(stream: 1, sequence: 0)
        tracker.record(stream: 1, sequence: 2)
        #expect(tracker.record(stream: 1, sequence: 0) == .duplicate)  // in-order one again
        #expect(tracker.record(stream: 1, sequence: 2) == .duplicate)  // the highest again
        #expect(tracker.record(stream: 1, sequence: 1) == .outOfOrder)
        #expect(tracker.record(stream: 1, sequence: 1) == .duplicate)  // out-of-order one again
        let counts = tracker.counts(sentPerStream: [1: 3])
        #expect(counts == DeliveryCounts(expected: 3, received: 3, lost: 0, duplicated: 3, outOfOrder: 1))
        #expect(!counts.isClean)
    }

    @Test func tailLoss() {
        var tracker = SequenceTracker()
        for sequence in UInt64(0)..<90 { tracker.record(stream: 1, sequence: sequence) }
        let counts = tracker.counts(sentPerStream: [1: 100])
        #expect(counts == DeliveryCounts(expected: 100, received: 90, lost: 10))
        #expect(!counts.isClean)
    }

    @Test func streamNeverReceivedIsWhollyLost() {
        var tracker = SequenceTracker()
        for sequence in UInt64(0)..<10 { tracker.record(stream: 1, sequence: sequence) }
        let counts = tracker.counts(sentPerStream: [1: 10, 2: 25])
        #expect(counts == DeliveryCounts(expected: 35, received: 10, lost: 25))
        #expect(SequenceTracker().counts(sentPerStream: [3: 4]).lost == 4)
        #expect(SequenceTracker().counts(stream: 3, sent: 4) == DeliveryCounts(expected: 4, lost: 4))
    }

    @Test func sequencesBeyondWhatWasSentAreJustReceived() {
        var tracker = SequenceTracker()
        tracker.record(stream: 1, sequence: 0)
        tracker.record(stream: 1, sequence: 20)
        let counts = tracker.counts(sentPerStream: [1: 10])
        #expect(counts.received == 2)
        #expect(counts.lost == 9)  // 1...9; 10...19 were never sent
        tracker.record(stream: 1, sequence: .max)
        #expect(tracker.counts(sentPerStream: [1: 10]).lost == 9)
    }

    @Test func unknownSentCountInfersItFromTheHighest() {
        var tracker = SequenceTracker()
        tracker.record(stream: 1, sequence: 0)
        tracker.record(stream: 1, sequence: 4)
        #expect(tracker.counts(sentPerStream: [:]) == DeliveryCounts(expected: 5, received: 2, lost: 3))
    }

    @Test func mergeOfDisjointStreams() {
        var a = SequenceTracker()
        var b = SequenceTracker()
        for sequence in UInt64(0)..<50 { a.record(stream: 1, sequence: sequence) }
        for sequence in UInt64(0)..<10 where sequence != 5 { b.record(stream: 2, sequence: sequence) }
        b.record(stream: 2, sequence: 3)
        a.merge(b)
        let counts = a.counts(sentPerStream: [1: 50, 2: 10])
        #expect(counts == DeliveryCounts(expected: 60, received: 59, lost: 1, duplicated: 1, outOfOrder: 0))
        #expect(a.streamIDs == [1, 2])
    }

    @Test func mergeOfOverlappingStreamsKeepsExactCounts() {
        var a = SequenceTracker()
        var b = SequenceTracker()
        // a: 0..<60 without 10 and 55; b: 40..<100 without 70 and 55, with one duplicate of 90.
        for sequence in UInt64(0)..<60 where sequence != 10 && sequence != 55 { a.record(stream: 1, sequence: sequence) }
        for sequence in UInt64(40)..<100 where sequence != 70 && sequence != 55 { b.record(stream: 1, sequence: sequence) }
        b.record(stream: 1, sequence: 90)
        var merged = a
        merged.merge(b)
        let counts = merged.counts(sentPerStream: [1: 100])
        // Never received by either: 10 (a's gap below b's range) and 55; 70 was received by neither as well.
        #expect(counts.lost == 3)
        #expect(counts.received == 97)
        // Received by both: 40..<60 except 55 = 19, plus b's own duplicate.
        #expect(counts.duplicated == 20)
        // The merged tracker keeps tracking: 55 arriving now fills the gap.
        #expect(merged.record(stream: 1, sequence: 55) == .outOfOrder)
        #expect(merged.record(stream: 1, sequence: 41) == .duplicate)
        #expect(merged.counts(sentPerStream: [1: 100]).lost == 2)

        var reversed = b
        reversed.merge(a)
        #expect(reversed.counts(sentPerStream: [1: 100]) == counts)
    }

    @Test func aMillionMessagesHalfLostIsQuick() {
        let started = ContinuousClock.now
        var tracker = SequenceTracker()
        for sequence in stride(from: UInt64(0), to: 1_000_000, by: 2) {
            tracker.record(stream: 1, sequence: sequence)
        }
        let counts = tracker.counts(sentPerStream: [1: 1_000_000])
        #expect(counts.lost == 500_000)
        #expect(counts.received == 500_000)
        // Late arrivals in the middle of a long gap list stay correct.
        #expect(tracker.record(stream: 1, sequence: 500_001) == .outOfOrder)
        #expect(tracker.record(stream: 1, sequence: 500_001) == .duplicate)
        #expect(tracker.counts(sentPerStream: [1: 1_000_000]).lost == 499_999)
        // A single huge gap is one range.
        var big = SequenceTracker()
        big.record(stream: 1, sequence: 0)
        big.record(stream: 1, sequence: 100_000_000)
        #expect(big.counts(sentPerStream: [1: 100_000_001]).lost == 99_999_999)
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func deliveryCountsAdd() {
        let a = DeliveryCounts(expected: 1, received: 2, lost: 3, duplicated: 4, outOfOrder: 5)
        #expect(a + a == DeliveryCounts(expected: 2, received: 4, lost: 6, duplicated: 8, outOfOrder: 10))
        #expect(DeliveryCounts(outOfOrder: 3).isClean)
        #expect(!DeliveryCounts(duplicated: 1).isClean)
    }
}
