/// Loss / duplicate / out-of-order accounting per stream (a stream = one publisher's sequence as seen by one
/// receiver). Sequences start at 0.
///
/// Per stream the tracker keeps the highest sequence seen and the missing sequences below it as sorted,
/// disjoint ranges, so memory and time grow with the number of gaps, not with the number of messages: a
/// stream losing a million consecutive messages holds one range.
///
/// - A sequence one above the highest (or 0, first) is in order.
/// - A sequence further above is in order too, and the skipped ones become missing; they may still arrive.
/// - A sequence at or below the highest is out of order when it was missing (it no longer is), else a duplicate.
public struct SequenceTracker: Sendable {
    /// How one received message relates to what the stream delivered before it.
    public enum Outcome: Sendable, Equatable { case inOrder, outOfOrder, duplicate }

    private var streams: [Int: StreamState] = [:]

    /// An empty tracker.
    public init() {}

    /// Accounts for one received message of `stream` carrying `sequence`.
    @discardableResult
    public mutating func record(stream: Int, sequence: UInt64) -> Outcome {
        streams[stream, default: StreamState()].record(sequence)
    }

    /// Counts when `sent[stream]` messages were sent on each stream (streams never received count as wholly lost).
    ///
    /// A stream that was received but has no entry in `sentPerStream` is taken to have sent up to its highest
    /// sequence seen (so only gaps count as lost). Received sequences at or above the sent count count as received.
    public func counts(sentPerStream: [Int: UInt64]) -> DeliveryCounts {
        var total = DeliveryCounts()
        for (stream, sent) in sentPerStream where streams[stream] == nil {
            total = total + DeliveryCounts(expected: sent, lost: sent)
        }
        for (stream, state) in streams {
            total = total + state.counts(sent: sentPerStream[stream])
        }
        return total
    }

    /// The counts of one stream, `sent` messages having been sent on it.
    public func counts(stream: Int, sent: UInt64) -> DeliveryCounts {
        streams[stream]?.counts(sent: sent) ?? DeliveryCounts(expected: sent, lost: sent)
    }

    /// The highest sequence received on `stream`, nil if none was.
    public func highestSequence(stream: Int) -> UInt64? {
        streams[stream]?.highest
    }

    /// The streams that received at least one message.
    public var streamIDs: [Int] { streams.keys.sorted() }

    /// Merges another tracker's streams into this one. Disjoint streams are taken over; a stream present in both
    /// is treated as one receiver's deliveries split over two trackers: a sequence received by both counts once as
    /// received and once as a duplicate, and it is missing only if neither received it. Out-of-order counts add up.
    public mutating func merge(_ other: SequenceTracker) {
        for (stream, theirs) in other.streams {
            if let ours = streams[stream] {
                streams[stream] = StreamState.union(ours, theirs)
            } else {
                streams[stream] = theirs
            }
        }
    }
}

private struct StreamState: Sendable {
    var highest: UInt64?
    /// Missing sequences below `highest`: sorted, disjoint, non-empty ranges.
    var gaps: [Range<UInt64>] = []
    var missing: UInt64 = 0
    var unique: UInt64 = 0
    var duplicated: UInt64 = 0
    var outOfOrder: UInt64 = 0

    mutating func record(_ sequence: UInt64) -> SequenceTracker.Outcome {
        guard let highest else {
            self.highest = sequence
            unique = 1
            if sequence > 0 {
                gaps.append(0..<sequence)
                missing = sequence
            }
            return .inOrder
        }
        if sequence > highest {
            if sequence > highest + 1 {
                gaps.append((highest + 1)..<sequence)
                missing += sequence - highest - 1
            }
            self.highest = sequence
            unique += 1
            return .inOrder
        }
        // At or below the highest: a late arrival fills a gap, anything else was delivered before.
        guard let index = gapIndex(containing: sequence) else {
            duplicated += 1
            return .duplicate
        }
        let gap = gaps[index]
        if gap.count == 1 {
            gaps.remove(at: index)
        } else if sequence == gap.lowerBound {
            gaps[index] = (sequence + 1)..<gap.upperBound
        } else if sequence == gap.upperBound - 1 {
            gaps[index] = gap.lowerBound..<sequence
        } else {
            gaps[index] = gap.lowerBound..<sequence
            gaps.insert((sequence + 1)..<gap.upperBound, at: index + 1)
        }
        missing -= 1
        unique += 1
        outOfOrder += 1
        return .outOfOrder
    }

    /// Binary search for the gap holding `sequence`.
    private func gapIndex(containing sequence: UInt64) -> Int? {
        // Late arrivals are usually recent: check the last gap before searching.
        if let last = gaps.last, last.contains(sequence) { return gaps.count - 1 }
        var low = 0
        var high = gaps.count
        while low < high {
            let mid = (low + high) / 2
            if gaps[mid].upperBound <= sequence { low = mid + 1 } else { high = mid }
        }
        guard low < gaps.count, gaps[low].contains(sequence) else { return nil }
        return low
    }

    /// Missing sequences below `limit`.
    private func missingCount(below limit: UInt64) -> UInt64 {
        var result = missing
        for gap in gaps.reversed() {
            guard gap.upperBound > limit else { break }
            result -= gap.upperBound - max(gap.lowerBound, limit)
        }
        return result
    }

    func counts(sent: UInt64?) -> DeliveryCounts {
        guard let highest else {
            let sent = sent ?? 0
            return DeliveryCounts(expected: sent, lost: sent)
        }
        let reached = highest == .max ? UInt64.max : highest + 1
        let expected = sent ?? reached
        let neverReached = expected > reached ? expected - reached : 0
        return DeliveryCounts(
            expected: expected,
            received: unique,
            lost: missingCount(below: expected) + neverReached,
            duplicated: duplicated,
            outOfOrder: outOfOrder
        )
    }

    static func union(_ a: StreamState, _ b: StreamState) -> StreamState {
        guard let highestA = a.highest else { return b }
        guard let highestB = b.highest else { return a }
        let highest = max(highestA, highestB)
        let end = highest == .max ? UInt64.max : highest + 1
        // Not received by a side, within 0...highest: its gaps plus whatever lies above its own highest.
        func notReceived(_ s: StreamState, _ ownHighest: UInt64) -> [Range<UInt64>] {
            ownHighest < highest ? s.gaps + [(ownHighest + 1)..<end] : s.gaps
        }
        let left = notReceived(a, highestA)
        let right = notReceived(b, highestB)
        var gaps: [Range<UInt64>] = []
        var missing: UInt64 = 0
        var i = 0
        var j = 0
        while i < left.count, j < right.count {
            let lower = max(left[i].lowerBound, right[j].lowerBound)
            let upper = min(left[i].upperBound, right[j].upperBound)
            if lower < upper {
                gaps.append(lower..<upper)
                missing += upper - lower
            }
            if left[i].upperBound < right[j].upperBound { i += 1 } else { j += 1 }
        }
        let unique = end - missing
        let deliveries = a.unique + a.duplicated + b.unique + b.duplicated
        var merged = StreamState(highest: highest, gaps: gaps, missing: missing, unique: unique)
        merged.duplicated = deliveries >= unique ? deliveries - unique : 0
        merged.outOfOrder = a.outOfOrder + b.outOfOrder
        return merged
    }
}

/// What a workload delivered, summed over its streams.
public struct DeliveryCounts: Codable, Sendable, Equatable {
    /// Messages sent (each expected once per receiving stream).
    public var expected: UInt64
    /// Distinct messages received.
    public var received: UInt64
    /// Messages sent but never received.
    public var lost: UInt64
    /// Receptions of a message already received.
    public var duplicated: UInt64
    /// Messages received after a later one of the same stream.
    public var outOfOrder: UInt64

    public init(expected: UInt64 = 0, received: UInt64 = 0, lost: UInt64 = 0, duplicated: UInt64 = 0, outOfOrder: UInt64 = 0) {
        self.expected = expected
        self.received = received
        self.lost = lost
        self.duplicated = duplicated
        self.outOfOrder = outOfOrder
    }

    /// Field-wise sum (saturating).
    public static func + (a: DeliveryCounts, b: DeliveryCounts) -> DeliveryCounts {
        func add(_ x: UInt64, _ y: UInt64) -> UInt64 {
            let (sum, overflow) = x.addingReportingOverflow(y)
            return overflow ? .max : sum
        }
        return DeliveryCounts(
            expected: add(a.expected, b.expected),
            received: add(a.received, b.received),
            lost: add(a.lost, b.lost),
            duplicated: add(a.duplicated, b.duplicated),
            outOfOrder: add(a.outOfOrder, b.outOfOrder)
        )
    }

    /// Nothing lost and nothing duplicated. Out-of-order deliveries are reported but are not a failure by themselves.
    public var isClean: Bool { lost == 0 && duplicated == 0 }
}
