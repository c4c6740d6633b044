import BenchHarness
import NIOCore

/// Sends on one event loop at a constant offered rate (open loop): send i is due at its intended time
/// whatever happened to earlier sends. `send(index, intended, now)` returns false when it cannot send now
/// (an inflight window is full): the pacer retries shortly and the late send keeps its intended time, so
/// its latency includes the wait (coordinated-omission correction as wrk2 does it).
///
/// The pacer wakes at most every `minimumTick`: at high rates it sends every send due since its last wake
/// in one go instead of arming a timer per send. At 900,000 sends/s a timer per send cost the load
/// generator a sixth of its CPU (`timerfd_settime`), on the same two cores as the broker. A send may then
/// leave up to one tick after its intended time; that wait counts in its latency, as above.
final class Pacer: @unchecked Sendable {
    let loop: any EventLoop
    let schedule: OpenLoopSchedule
    let total: Int
    let clock: any BenchClock
    private let send: (_ index: Int, _ intended: UInt64, _ now: UInt64) -> Bool
    private let flush: () -> Void
    private(set) var sent = 0
    /// How many times a send found its window full.
    private(set) var blocked = 0
    /// 50 µs: a twentieth of a 1 ms linger, well under the latencies measured.
    static let minimumTick: UInt64 = 50_000

    /// - Parameters:
    ///   - rate: sends per second on this loop.
    ///   - end: no send whose intended time is at or after this.
    init(loop: any EventLoop, rate: Double, start: UInt64, end: UInt64, clock: any BenchClock,
         send: @escaping (Int, UInt64, UInt64) -> Bool, flush: @escaping () -> Void) {
        self.loop = loop
        self.clock = clock
        schedule = OpenLoopSchedule(ratePerSecond: rate, start: start)
        total = end > start ? schedule.dueCount(at: end - 1) : 0
        self.send = send
        self.flush = flush
    }

    func start() {
        loop.execute { self.tick() }
    }

    private func tick() {
        let now = clock.now()
        var due = schedule.sendsDue(at: now, alreadySent: sent, limit: total)
        var wasBlocked = false
        while due > 0 {
            if !send(sent, schedule.intendedTime(ofSend: sent), now) {
                wasBlocked = true
                blocked += 1
                break
            }
            sent += 1
            due -= 1
        }
        flush()
        guard sent < total else { return }
        let next: UInt64 = wasBlocked ? now + 200_000 : max(schedule.intendedTime(ofSend: sent), now + Self.minimumTick)
        loop.scheduleTask(in: .nanoseconds(Int64(next - now))) { self.tick() }
    }
}

/// Spreads `count` senders over the loops round-robin and returns, per loop, the indices it owns.
func assign(_ count: Int, over loops: Int) -> [[Int]] {
    var owned = [[Int]](repeating: [], count: loops)
    for index in 0..<count { owned[index % loops].append(index) }
    return owned
}

extension EventLoopFuture {
    /// Waits and rethrows with `what` in the message.
    func wait(_ what: String) throws -> Value {
        do {
            return try wait()
        } catch {
            throw BenchFailure("\(what): \(error)")
        }
    }
}
