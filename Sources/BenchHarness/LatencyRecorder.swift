public import Histogram

/// Latency recording with coordinated-omission correction. `corrected` holds end - intendedStart (the
/// latency a user of an open-loop system sees), `uncorrected` holds end - actualStart (service time). Values
/// whose intendedStart is before `warmupEnd` are not recorded (counted in `warmupSkipped`). Values are kept in
/// nanoseconds, lowest 1_000 (1 us), highest 120 s, 3 significant digits; larger values clamp to the highest.
public struct LatencyRecorder: Sendable {
    /// The smallest value told apart from zero: 1 us.
    public static let lowestDiscernibleNanoseconds: UInt64 = 1_000
    /// The largest value kept: 120 s. Larger values are recorded as this.
    public static let highestTrackableNanoseconds: UInt64 = 120_000_000_000

    /// Measurements whose (intended) start is before this time are warm-up and are skipped.
    public var warmupEnd: UInt64
    /// Latency from the intended start (open loop), or corrected with HdrHistogram's backfill (closed loop).
    public private(set) var corrected: Histogram<UInt64>
    /// Latency from the actual start: the service time.
    public private(set) var uncorrected: Histogram<UInt64>
    /// How many measurements fell in the warm-up and were not recorded.
    public private(set) var warmupSkipped: Int

    /// An empty recorder that skips measurements starting before `warmupEnd`.
    public init(warmupEnd: UInt64 = 0) {
        self.warmupEnd = warmupEnd
        self.corrected = Self.makeHistogram()
        self.uncorrected = Self.makeHistogram()
        self.warmupSkipped = 0
    }

    /// A histogram with the recorder's layout (1 us to 120 s in nanoseconds, 3 significant digits).
    public static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(
            lowestDiscernibleValue: lowestDiscernibleNanoseconds,
            highestTrackableValue: highestTrackableNanoseconds,
            numberOfSignificantValueDigits: .three
        )
    }

    /// Records one open-loop operation: it was due at `intendedStart`, actually started at `actualStart`
    /// (later when the sender was held up) and completed at `end`. Times out of order count as zero latency.
    public mutating func record(intendedStart: UInt64, actualStart: UInt64, end: UInt64) {
        guard intendedStart >= warmupEnd else {
            warmupSkipped += 1
            return
        }
        corrected.record(Self.clamp(end, minus: intendedStart))
        uncorrected.record(Self.clamp(end, minus: actualStart))
    }

    /// Closed-loop alternative (HdrHistogram's correction): records `end - actualStart` in both, with
    /// recordCorrectedValue(expectedInterval:) into `corrected`.
    ///
    /// A measurement longer than `expectedInterval` adds the values the sends that could not be made meanwhile
    /// would have seen (`value - interval`, `value - 2 * interval`, ...). Skipped when `start < warmupEnd`.
    public mutating func recordClosedLoop(start: UInt64, end: UInt64, expectedInterval: UInt64) {
        guard start >= warmupEnd else {
            warmupSkipped += 1
            return
        }
        let value = Self.clamp(end, minus: start)
        uncorrected.record(value)
        corrected.recordCorrectedValue(value, expectedInterval: expectedInterval)
    }

    /// Adds `other`'s measurements (for example another connection's) to this recorder.
    public mutating func merge(_ other: LatencyRecorder) {
        corrected.add(other.corrected)
        uncorrected.add(other.uncorrected)
        warmupSkipped += other.warmupSkipped
    }

    /// The percentiles of the corrected latencies (default) or of the service times, in microseconds.
    public func summary(corrected useCorrected: Bool = true) -> LatencySummary {
        LatencySummary(useCorrected ? corrected : uncorrected)
    }

    private static func clamp(_ end: UInt64, minus start: UInt64) -> UInt64 {
        guard end > start else { return 0 }
        return min(end - start, highestTrackableNanoseconds)
    }
}

/// A latency distribution reduced to the figures reports show, in microseconds.
public struct LatencySummary: Codable, Sendable, Equatable {
    /// Number of measurements.
    public var count: UInt64
    public var meanMicros: Double
    public var p50Micros: Double
    public var p90Micros: Double
    public var p99Micros: Double
    public var p999Micros: Double
    public var p9999Micros: Double
    public var maxMicros: Double
    /// The percentile distribution for plots (HdrHistogram percentile iteration, 5 ticks per half distance):
    public var distribution: [PercentilePoint]

    /// A summary of no measurements: all zero, no distribution.
    public static let empty = LatencySummary(
        count: 0, meanMicros: 0, p50Micros: 0, p90Micros: 0, p99Micros: 0, p999Micros: 0, p9999Micros: 0,
        maxMicros: 0, distribution: []
    )

    /// A summary from its figures.
    public init(
        count: UInt64, meanMicros: Double, p50Micros: Double, p90Micros: Double, p99Micros: Double,
        p999Micros: Double, p9999Micros: Double, maxMicros: Double, distribution: [PercentilePoint]
    ) {
        self.count = count
        self.meanMicros = meanMicros
        self.p50Micros = p50Micros
        self.p90Micros = p90Micros
        self.p99Micros = p99Micros
        self.p999Micros = p999Micros
        self.p9999Micros = p9999Micros
        self.maxMicros = maxMicros
        self.distribution = distribution
    }

    /// Summarizes a histogram of nanosecond values.
    public init(_ histogram: Histogram<UInt64>) {
        guard histogram.totalCount > 0 else {
            self = .empty
            return
        }
        func micros(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1_000 }
        self.init(
            count: histogram.totalCount,
            meanMicros: histogram.mean / 1_000,
            p50Micros: micros(histogram.valueAtPercentile(50)),
            p90Micros: micros(histogram.valueAtPercentile(90)),
            p99Micros: micros(histogram.valueAtPercentile(99)),
            p999Micros: micros(histogram.valueAtPercentile(99.9)),
            p9999Micros: micros(histogram.valueAtPercentile(99.99)),
            maxMicros: micros(histogram.max),
            distribution: histogram.percentiles(ticksPerHalfDistance: 5).map {
                PercentilePoint(percentile: $0.percentileLevelIteratedTo, valueMicros: micros($0.value))
            }
        )
    }
}

/// One point of a percentile distribution: `percentile` in 0...100, the latency at it in microseconds.
public struct PercentilePoint: Codable, Sendable, Equatable {
    public var percentile: Double
    public var valueMicros: Double

    public init(percentile: Double, valueMicros: Double) {
        self.percentile = percentile
        self.valueMicros = valueMicros
    }
}
