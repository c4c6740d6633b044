#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers

/// A source of monotonic time in nanoseconds. The harness never reads the wall clock for measurements, so
/// tests can drive every time-dependent piece with a ``FakeClock``.
public protocol BenchClock: Sendable {
    /// The current time in nanoseconds of a monotonic clock (arbitrary origin, never goes backwards).
    func now() -> UInt64
}

/// The system's monotonic clock (`clock_gettime(CLOCK_MONOTONIC)`).
public struct MonotonicClock: BenchClock {
    /// Creates the clock; it has no state.
    public init() {}

    /// Nanoseconds since an arbitrary point (boot on Linux).
    public func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// A clock that only moves when told to, for tests. Safe to share between threads.
public final class FakeClock: BenchClock, Sendable {
    private let time: NIOLockedValueBox<UInt64>

    /// Creates a clock that reads `start` until advanced.
    public init(start: UInt64 = 0) {
        time = NIOLockedValueBox(start)
    }

    /// The current fake time.
    public func now() -> UInt64 {
        time.withLockedValue { $0 }
    }

    /// Moves the clock forward by `nanoseconds` (saturating at `UInt64.max`).
    public func advance(by nanoseconds: UInt64) {
        time.withLockedValue { t in
            let (sum, overflow) = t.addingReportingOverflow(nanoseconds)
            t = overflow ? .max : sum
        }
    }

    /// Sets the clock to `t`. Tests may move it backwards; a real monotonic clock never does.
    public func set(_ t: UInt64) {
        time.withLockedValue { $0 = t }
    }
}
