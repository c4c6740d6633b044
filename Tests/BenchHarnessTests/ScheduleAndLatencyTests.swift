import BenchHarness
import Histogram
import Testing

private let ms: UInt64 = 1_000_000

@Suite struct OpenLoopScheduleTests {
    let t: UInt64 = 5_000_000_000

    @Test func sendsAreDueAtStartPlusIndexTimesInterval() {
        let schedule = OpenLoopSchedule(ratePerSecond: 1000, start: t)
        #expect(schedule.intervalNanoseconds == 1_000_000)
        #expect(schedule.intendedTime(ofSend: 0) == t)
        #expect(schedule.intendedTime(ofSend: 1) == t + 1 * ms)
        #expect(schedule.intendedTime(ofSend: 999) == t + 999 * ms)
    }

    @Test func dueCountCountsSendsWhoseTimeHasCome() {
        let schedule = OpenLoopSchedule(ratePerSecond: 1000, start: t)
        #expect(schedule.dueCount(at: 0) == 0)
        #expect(schedule.dueCount(at: t - 1) == 0)
        #expect(schedule.dueCount(at: t) == 1)
        #expect(schedule.dueCount(at: t + 1) == 1)
        #expect(schedule.dueCount(at: t + 1 * ms - 1) == 1)
        #expect(schedule.dueCount(at: t + 1 * ms) == 2)
        #expect(schedule.dueCount(at: t + 1_500_000) == 2)
        #expect(schedule.dueCount(at: t + 999 * ms) == 1000)
    }

    @Test func catchesUpAfterAStallInsteadOfSkipping() {
        let clock = FakeClock(start: t)
        let schedule = OpenLoopSchedule(ratePerSecond: 1000, start: clock.now())
        #expect(schedule.sendsDue(at: clock.now(), alreadySent: 0) == 1)
        clock.advance(by: 100 * ms)  // stalled, nothing sent
        #expect(schedule.sendsDue(at: clock.now(), alreadySent: 0) == 101)
        #expect(schedule.sendsDue(at: clock.now(), alreadySent: 60) == 41)
        #expect(schedule.sendsDue(at: clock.now(), alreadySent: 101) == 0)
        #expect(schedule.sendsDue(at: clock.now(), alreadySent: 150) == 0)  // ahead: never negative
    }

    @Test func limitCapsTheTotal() {
        let schedule = OpenLoopSchedule(ratePerSecond: 1000, start: t)
        #expect(schedule.sendsDue(at: t + 100 * ms, alreadySent: 0, limit: 50) == 50)
        #expect(schedule.sendsDue(at: t + 100 * ms, alreadySent: 40, limit: 50) == 10)
        #expect(schedule.sendsDue(at: t + 100 * ms, alreadySent: 50, limit: 50) == 0)
        #expect(schedule.sendsDue(at: t + 100 * ms, alreadySent: 0, limit: 500) == 101)
    }

    @Test func fractionalRatesDoNotDrift() {
        let schedule = OpenLoopSchedule(ratePerSecond: 3, start: t)
        for i in 0..<10_000 {
            let exact = Double(t) + Double(i) * 1e9 / 3
            let intended = schedule.intendedTime(ofSend: i)
            #expect(abs(Double(intended) - exact) <= 1, "send \(i)")
            // dueCount agrees with intendedTime at the boundary.
            #expect(schedule.dueCount(at: intended) == i + 1)
            if intended > 0 { #expect(schedule.dueCount(at: intended - 1) == i) }
        }
        #expect(schedule.intendedTime(ofSend: 9_999) == t + 3_333_000_000_000)
    }

    @Test func highRatesAndLongRuns() {
        let schedule = OpenLoopSchedule(ratePerSecond: 1_000_000_000_000, start: 0)  // 1000 per ns
        #expect(schedule.intendedTime(ofSend: 10_999) == 10)
        #expect(schedule.dueCount(at: 10) == 11_000)
        let slow = OpenLoopSchedule(ratePerSecond: 0.5, start: 0)
        #expect(slow.dueCount(at: 3_999_999_999) == 2)
        #expect(slow.dueCount(at: UInt64.max) > 0)
    }
}

@Suite struct FakeClockTests {
    @Test func movesOnlyWhenTold() {
        let clock = FakeClock(start: 42)
        #expect(clock.now() == 42)
        clock.advance(by: 8)
        #expect(clock.now() == 50)
        clock.set(7)
        #expect(clock.now() == 7)
        clock.advance(by: .max)
        #expect(clock.now() == .max)
    }

    @Test func monotonicClockDoesNotGoBackwards() {
        let clock = MonotonicClock()
        let a = clock.now()
        let b = clock.now()
        #expect(a > 0 && b >= a)
    }
}

@Suite struct LatencyRecorderTests {
    let t: UInt64 = 1_000_000_000

    /// Open loop at 1000/s for 1 s; the server stalls for 200 ms at 500 ms, and the sender, blocked on it, sends
    /// what fell due meanwhile at 700 ms. Every response takes 1 ms once the server serves again.
    func stalledRun(warmup: UInt64 = 0) -> LatencyRecorder {
        let clock = FakeClock(start: t)
        let schedule = OpenLoopSchedule(ratePerSecond: 1000, start: clock.now())
        var recorder = LatencyRecorder(warmupEnd: t + warmup)
        var sent = 0
        while sent < 1000 {
            let now = clock.now()
            if now >= t + 500 * ms, now < t + 700 * ms {
                clock.set(t + 700 * ms)  // the sender is blocked until the server comes back
                continue
            }
            let due = schedule.sendsDue(at: now, alreadySent: sent, limit: 1000)
            for _ in 0..<due {
                recorder.record(intendedStart: schedule.intendedTime(ofSend: sent), actualStart: now, end: now + 1 * ms)
                sent += 1
            }
            clock.advance(by: 100_000)
        }
        return recorder
    }

    @Test func correctionShowsTheStallThatServiceTimeHides() {
        let recorder = stalledRun()
        #expect(recorder.corrected.totalCount == 1000)
        #expect(recorder.uncorrected.totalCount == 1000)
        let corrected = recorder.summary()
        let service = recorder.summary(corrected: false)
        #expect(corrected.p99Micros > 150_000)
        #expect(corrected.p99Micros < 205_000)
        #expect(corrected.maxMicros > 200_000 && corrected.maxMicros < 202_000)
        #expect(corrected.p50Micros < 1_100)
        #expect(service.p99Micros < 1_100)
        #expect(service.maxMicros < 1_100)
        // 20% of the sends waited for the stall: p90 is inside it.
        #expect(corrected.p90Micros > 100_000)
    }

    @Test func warmupIsExcluded() {
        let recorder = stalledRun(warmup: 100 * ms)
        #expect(recorder.warmupSkipped == 100)
        #expect(recorder.corrected.totalCount == 900)
        #expect(recorder.uncorrected.totalCount == 900)
        #expect(recorder.summary().count == 900)
    }

    @Test func mergeAddsCounts() {
        var a = LatencyRecorder(warmupEnd: 10)
        var b = LatencyRecorder(warmupEnd: 10)
        for i in UInt64(0)..<20 {
            a.record(intendedStart: 10 + i, actualStart: 10 + i, end: 10 + i + 2_000)
            b.record(intendedStart: 10 + i, actualStart: 10 + i, end: 10 + i + 4_000_000)
        }
        a.record(intendedStart: 5, actualStart: 5, end: 100)
        b.record(intendedStart: 5, actualStart: 5, end: 100)
        b.record(intendedStart: 5, actualStart: 5, end: 100)
        a.merge(b)
        #expect(a.corrected.totalCount == 40)
        #expect(a.uncorrected.totalCount == 40)
        #expect(a.warmupSkipped == 3)
        #expect(a.summary().maxMicros >= 4_000 && a.summary().maxMicros < 4_010)
    }

    @Test func closedLoopCorrectionBackfillsLikeHdrHistogram() {
        var recorder = LatencyRecorder()
        for i in UInt64(0)..<10 {
            recorder.recordClosedLoop(start: i * ms, end: i * ms + 1 * ms, expectedInterval: 1 * ms)
        }
        recorder.recordClosedLoop(start: 10 * ms, end: 110 * ms, expectedInterval: 1 * ms)
        #expect(recorder.uncorrected.totalCount == 11)
        // 100 ms with a 1 ms interval: 100, 99, ..., 1 ms.
        #expect(recorder.corrected.totalCount == 10 + 100)
        #expect(recorder.summary().p50Micros > 10_000)
        #expect(recorder.summary(corrected: false).p50Micros < 1_100)
    }

    @Test func valuesBeyondTheRangeClampAndOutOfOrderTimesCountAsZero() {
        var recorder = LatencyRecorder()
        recorder.record(intendedStart: 0, actualStart: 0, end: 500_000_000_000)  // 500 s
        recorder.record(intendedStart: 10, actualStart: 10, end: 5)
        #expect(recorder.corrected.totalCount == 2)
        let summary = recorder.summary()
        #expect(summary.maxMicros >= 119_000_000 && summary.maxMicros <= 121_000_000)
    }

    @Test func summaryIsInMicrosWithAMonotonicDistribution() {
        var recorder = LatencyRecorder()
        for i in UInt64(1)...1000 {
            recorder.record(intendedStart: 0, actualStart: 0, end: i * 1_000)  // 1 us ... 1 ms
        }
        let summary = recorder.summary()
        #expect(summary.count == 1000)
        #expect(abs(summary.p50Micros - 500) <= 1)
        #expect(abs(summary.p90Micros - 900) <= 1)
        #expect(abs(summary.p99Micros - 990) <= 1)
        #expect(abs(summary.maxMicros - 1000) <= 1)
        #expect(abs(summary.meanMicros - 500.5) <= 1)
        #expect(!summary.distribution.isEmpty)
        #expect(summary.distribution.last?.percentile == 100)
        for (previous, next) in zip(summary.distribution, summary.distribution.dropFirst()) {
            #expect(next.percentile > previous.percentile)
            #expect(next.valueMicros >= previous.valueMicros)
        }
        #expect(LatencyRecorder().summary() == .empty)
        #expect(LatencySummary.empty.distribution.isEmpty)
    }
}
