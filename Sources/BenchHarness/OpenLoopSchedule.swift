/// Open-loop (constant-rate) send schedule, wrk2 style: send `i` is due at `start + i * interval` regardless of
/// how late earlier sends were; latency is measured from the intended time so stalls are not hidden.
///
/// Intended times are computed from the send index each time (never by adding up intervals), so fractional
/// intervals do not accumulate rounding drift over long runs.
public struct OpenLoopSchedule: Sendable {
    /// The intended time of send 0 (nanoseconds of the run's monotonic clock).
    public let start: UInt64
    /// Nanoseconds between consecutive intended sends (`1e9 / ratePerSecond`), fractional.
    public let intervalNanoseconds: Double
    /// The offered rate this schedule was made for.
    public let ratePerSecond: Double

    /// A schedule offering `ratePerSecond` sends per second from `start`.
    /// - Precondition: `ratePerSecond` is finite and greater than zero.
    public init(ratePerSecond: Double, start: UInt64) {
        precondition(ratePerSecond > 0 && ratePerSecond.isFinite, "an open-loop rate must be finite and positive")
        self.ratePerSecond = ratePerSecond
        self.start = start
        self.intervalNanoseconds = 1_000_000_000 / ratePerSecond
    }

    /// When send `index` (0-based) is due: `start + floor(index * 1e9 / rate)`. Negative indexes are treated as 0.
    public func intendedTime(ofSend index: Int) -> UInt64 {
        guard index > 0 else { return start }
        let offset = (Double(index) * 1_000_000_000 / ratePerSecond).rounded(.down)
        // Double(UInt64.max) is 2^64, so anything below it converts; beyond, the time saturates.
        guard offset < Double(UInt64.max) else { return .max }
        let (time, overflow) = start.addingReportingOverflow(UInt64(offset))
        return overflow ? .max : time
    }

    /// Number of sends whose intended time is <= now, i.e. how many should have been sent by now (index of next not-yet-due send).
    public func dueCount(at now: UInt64) -> Int {
        guard now >= start else { return 0 }
        // intendedTime(i) <= now  <=>  floor(i * interval) <= elapsed  <=>  i < (elapsed + 1) / interval.
        let estimate = ((Double(now - start) + 1) * ratePerSecond / 1_000_000_000).rounded(.up)
        // Far beyond any real run; keeps the Int conversion and the `+ 1` below from trapping.
        guard estimate < Double(Int.max / 2) else { return Int.max / 2 }
        var count = Int(estimate)
        // The estimate can be off by one from floating-point rounding; settle it against `intendedTime`, which
        // is the definition callers see. Bounded: near UInt64.max intended times saturate and compare equal.
        var steps = 0
        while steps < 64, intendedTime(ofSend: count) <= now {
            count += 1
            steps += 1
        }
        steps = 0
        while steps < 64, count > 0, intendedTime(ofSend: count - 1) > now {
            count -= 1
            steps += 1
        }
        return count
    }

    /// How many more sends to make now, given `sent` so far (dueCount - sent, >= 0), optionally capped by `limit` (a total).
    ///
    /// After a stall this returns every send that fell due meanwhile: an open-loop sender catches up rather than
    /// skipping, so the stalled sends are measured (late) instead of silently omitted.
    public func sendsDue(at now: UInt64, alreadySent sent: Int, limit: Int? = nil) -> Int {
        var due = dueCount(at: now)
        if let limit { due = min(due, limit) }
        return max(0, due - sent)
    }
}
