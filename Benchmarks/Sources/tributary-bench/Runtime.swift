import ArgumentParser
import BenchHarness
import Foundation
import NIOCore
import NIOPosix

/// Options every workload takes.
struct CommonOptions: ParsableArguments {
    @Option(help: "Measured seconds (after the warm-up).")
    var duration: Double = 15

    @Option(help: "Warm-up seconds: sent and checked for loss, but not in the figures.")
    var warmup: Double = 3

    @Option(help: "Seconds to wait after the last send for outstanding deliveries before counting them lost.")
    var drainTimeout: Double = 10

    @Option(help: "Write the report as JSON to this file (see --append).")
    var json: String?

    @Flag(help: "Add the report to the reports already in the --json file instead of replacing them.")
    var append = false

    @Option(help: "Write an SVG latency-by-percentile plot of this run to this file.")
    var plot: String?

    @Option(help: "The run's name in reports and comparisons (default: the workload and its main parameters).")
    var label: String?

    @Option(help: "The broker's name for the report (e.g. tributary, mosquitto, kafka).")
    var brokerName: String = "broker"

    @Option(help: "The broker's version for the report.")
    var brokerVersion: String = "unknown"

    @Option(help: "The broker's process id: its resident memory is recorded before and after the run.")
    var brokerPid: Int32?

    @Option(help: "Event loop threads of the load generator (default: the number of cores).")
    var threads: Int = System.coreCount

    @Flag(help: "No live progress line.")
    var quiet = false

    func validateCommon() throws {
        guard duration > 0 else { throw ValidationError("--duration must be positive") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }
}

/// Parses HOST:PORT into a socket address (names resolved once, here).
func resolve(_ text: String, option: String) throws -> SocketAddress {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
        throw ValidationError("\(option) must be HOST:PORT, not '\(text)'")
    }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    do {
        return try SocketAddress.makeAddressResolvingHost(host, port: port)
    } catch {
        throw ValidationError("\(option) \(text): \(error)")
    }
}

/// The 40 bytes at the front of every message the bench sends: who sent it, its sequence number on that
/// stream, and when it was meant to go and did go (monotonic clock of this process), so a receiver in the
/// same process measures latency without clock skew.
enum Stamp {
    static let size = 40
    static let magic: UInt32 = 0x5442_4E43  // "TBNC"

    struct Fields: Equatable {
        var run: UInt32
        var stream: UInt32
        var sequence: UInt64
        var intended: UInt64
        var actual: UInt64
    }

    static func make(_ fields: Fields, totalSize: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: max(totalSize, size))
        buffer.writeInteger(magic)
        buffer.writeInteger(fields.run)
        buffer.writeInteger(fields.stream)
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(fields.sequence)
        buffer.writeInteger(fields.intended)
        buffer.writeInteger(fields.actual)
        if totalSize > size {
            buffer.writeRepeatingByte(0x2E, count: totalSize - size)
        }
        return buffer
    }

    /// The stamp of a message of this run, or nil for anything else (other runs' messages on a shared topic).
    static func read(_ buffer: ByteBuffer, run: UInt32) -> Fields? {
        let start = buffer.readerIndex
        guard buffer.readableBytes >= size,
              buffer.getInteger(at: start, as: UInt32.self) == magic,
              buffer.getInteger(at: start + 4, as: UInt32.self) == run,
              let stream = buffer.getInteger(at: start + 8, as: UInt32.self),
              let sequence = buffer.getInteger(at: start + 16, as: UInt64.self),
              let intended = buffer.getInteger(at: start + 24, as: UInt64.self),
              let actual = buffer.getInteger(at: start + 32, as: UInt64.self)
        else { return nil }
        return Fields(run: run, stream: stream, sequence: sequence, intended: intended, actual: actual)
    }
}

/// Figures one event loop gathers; only that loop touches it until the run is over.
final class LoopStats: @unchecked Sendable {
    var recorder: LatencyRecorder
    /// Reset at every progress line, for the "current p99".
    var interval: LatencyRecorder
    var tracker = SequenceTracker()
    /// Messages (or records) handed to the network, warm-up included.
    var sent: UInt64 = 0
    /// Deliveries / acknowledgments received, warm-up included.
    var received: UInt64 = 0
    /// Received within the measured window (by arrival time), and their payload bytes.
    var measuredEvents: UInt64 = 0
    var measuredBytes: UInt64 = 0
    /// Sent within the measured window (by intended time).
    var measuredSends: UInt64 = 0
    var failures: [String] = []
    var negativeAcknowledgments: UInt64 = 0

    init(warmupEnd: UInt64) {
        recorder = LatencyRecorder(warmupEnd: warmupEnd)
        interval = LatencyRecorder(warmupEnd: 0)
    }

    func fail(_ message: String) {
        if failures.count < 20 { failures.append(message) }
    }

    /// Clears the figures for a new round.
    func reset() {
        recorder = LatencyRecorder(warmupEnd: UInt64.max)
        interval = LatencyRecorder(warmupEnd: 0)
        tracker = SequenceTracker()
        sent = 0
        received = 0
        measuredEvents = 0
        measuredBytes = 0
        measuredSends = 0
        failures = []
        negativeAcknowledgments = 0
    }
}

/// The timeline of one run and the loops it runs on.
final class BenchRun: @unchecked Sendable {
    let clock = MonotonicClock()
    let group: MultiThreadedEventLoopGroup
    let loops: [any EventLoop]
    let stats: [ObjectIdentifier: LoopStats]
    let options: CommonOptions
    let runId: UInt32
    private(set) var start: UInt64 = 0
    private(set) var warmupEnd: UInt64 = 0
    private(set) var sendEnd: UInt64 = 0
    let brokerMemoryBefore: UInt64?

    init(options: CommonOptions) {
        self.options = options
        group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
        loops = Array(group.makeIterator())
        var stats: [ObjectIdentifier: LoopStats] = [:]
        for loop in loops { stats[ObjectIdentifier(loop)] = LoopStats(warmupEnd: UInt64.max) }
        self.stats = stats
        runId = UInt32.random(in: 1...UInt32.max)
        brokerMemoryBefore = options.brokerPid.flatMap { ProcessMemory.residentBytes(pid: $0) }
    }

    func loop(_ index: Int) -> any EventLoop { loops[index % loops.count] }

    /// Only on `loop`'s thread.
    func stats(on loop: any EventLoop) -> LoopStats { stats[ObjectIdentifier(loop)]! }

    /// Fixes the timeline: sending starts `lead` from now, the warm-up ends `warmup` later, sending stops
    /// `duration` after that.
    func beginTimeline(lead: Double = 0.2) {
        start = clock.now() + UInt64(lead * 1e9)
        warmupEnd = start + UInt64(options.warmup * 1e9)
        sendEnd = warmupEnd + UInt64(options.duration * 1e9)
        for loop in loops {
            let warmupEnd = self.warmupEnd
            let stats = self.stats[ObjectIdentifier(loop)]!
            try? loop.submit { stats.recorder.warmupEnd = warmupEnd }.wait()
        }
    }

    /// Set by workloads whose measured window is not the send window (reading a topic to its end).
    var measuredSecondsOverride: Double?

    var measuredSeconds: Double { measuredSecondsOverride ?? Double(sendEnd - warmupEnd) / 1e9 }

    func inMeasuredWindow(_ time: UInt64) -> Bool { time >= warmupEnd && time < sendEnd }

    /// Collects every loop's figures (on their loops) into one.
    func gather() throws -> (recorder: LatencyRecorder, tracker: SequenceTracker, sent: UInt64, received: UInt64, events: UInt64, bytes: UInt64, sends: UInt64, failures: [String], nacks: UInt64) {
        var recorder = LatencyRecorder(warmupEnd: warmupEnd)
        var tracker = SequenceTracker()
        var sent: UInt64 = 0, received: UInt64 = 0, events: UInt64 = 0, bytes: UInt64 = 0, sends: UInt64 = 0, nacks: UInt64 = 0
        var failures: [String] = []
        for loop in loops {
            let stats = self.stats[ObjectIdentifier(loop)]!
            let part = try loop.submit { (stats.recorder, stats.tracker, stats.sent, stats.received, stats.measuredEvents, stats.measuredBytes, stats.measuredSends, stats.failures, stats.negativeAcknowledgments) }.wait()
            recorder.merge(part.0)
            tracker.merge(part.1)
            sent += part.2
            received += part.3
            events += part.4
            bytes += part.5
            sends += part.6
            failures += part.7
            nacks += part.8
        }
        return (recorder, tracker, sent, received, events, bytes, sends, failures, nacks)
    }

    /// Totals for the progress line: (sent, received, p99 of the last interval in micros, failures).
    func snapshot() -> (sent: UInt64, received: UInt64, p99: Double?) {
        var sent: UInt64 = 0, received: UInt64 = 0
        var interval = LatencyRecorder(warmupEnd: 0)
        for loop in loops {
            let stats = self.stats[ObjectIdentifier(loop)]!
            guard let part = try? loop.submit({ () -> (UInt64, UInt64, LatencyRecorder) in
                let result = (stats.sent, stats.received, stats.interval)
                stats.interval = LatencyRecorder(warmupEnd: 0)
                return result
            }).wait() else { continue }
            sent += part.0
            received += part.1
            interval.merge(part.2)
        }
        let summary = interval.summary()
        return (sent, received, summary.count > 0 ? summary.p99Micros : nil)
    }

    /// Waits until sending is over and `isDone` says every expected delivery arrived, or nothing new arrived
    /// for --drain-timeout seconds after the end; prints the progress line once a second on a terminal.
    /// `deliveriesPerSend`: how many arrivals each send should cause (the subscribers of a fan-out).
    func waitForEnd(deliveriesPerSend: UInt64 = 1, isDone: () -> Bool) {
        let showProgress = !options.quiet && isatty(1) != 0
        var lastSent: UInt64 = 0, lastReceived: UInt64 = 0
        var lastTime = clock.now()
        var lastChange = lastTime
        var lastPrint = lastTime
        while true {
            usleep(100_000)
            let now = clock.now()
            let sendingOver = now >= sendEnd
            if sendingOver && isDone() { break }
            if now - lastPrint >= 1_000_000_000 || sendingOver {
                let snapshot = snapshot()
                if snapshot.received != lastReceived || snapshot.sent != lastSent { lastChange = now }
                if showProgress && now - lastPrint >= 1_000_000_000 {
                    let seconds = Double(now - lastTime) / 1e9
                    let line = ReportRendering.progressLine(
                        elapsedSeconds: Double(Int64(now) - Int64(start)) / 1e9,
                        sent: snapshot.sent, sentRate: Double(snapshot.sent - min(lastSent, snapshot.sent)) / seconds,
                        received: snapshot.received, receivedRate: Double(snapshot.received - min(lastReceived, snapshot.received)) / seconds,
                        p99Micros: snapshot.p99,
                        outstanding: snapshot.sent * deliveriesPerSend > snapshot.received ? snapshot.sent * deliveriesPerSend - snapshot.received : 0)
                    FileHandle.standardOutput.write(Data(("\r" + line + "\u{1B}[K").utf8))
                    lastPrint = now
                    lastTime = now
                    lastSent = snapshot.sent
                    lastReceived = snapshot.received
                } else if !showProgress {
                    lastPrint = now
                    lastSent = snapshot.sent
                    lastReceived = snapshot.received
                }
                if sendingOver && now - max(lastChange, sendEnd) > UInt64(options.drainTimeout * 1e9) { break }
            }
        }
        if showProgress { print("") }
    }

    /// `finish` for a run measured over `seconds` of its own (no open-loop latency figures).
    func finishFixedWindow(
        seconds: Double, workload: String, label: String, parameters: [String: String], brokerAddress: String,
        metrics: [Metric], delivery: DeliveryCounts, failures: [String], notes: [String]
    ) -> Int32 {
        measuredSecondsOverride = seconds
        return finish(workload: workload, label: label, parameters: parameters, brokerAddress: brokerAddress, metrics: metrics,
                      latency: nil, delivery: delivery, failures: failures, notes: notes)
    }

    func shutdown() {
        try? group.syncShutdownGracefully()
    }

    /// Assembles, prints and stores the report; returns the process exit code (0 when the verdict passed).
    func finish(
        workload: String, label: String, parameters: [String: String], brokerAddress: String,
        metrics: [Metric], latency: LatencyRecorder?, delivery: DeliveryCounts, failures: [String], notes: [String]
    ) -> Int32 {
        var metrics = metrics
        var notes = notes
        // The same error from many requests is one failure with a count.
        var distinct: [String] = []
        var repeats: [String: Int] = [:]
        for failure in failures {
            if repeats[failure] == nil { distinct.append(failure) }
            repeats[failure, default: 0] += 1
        }
        var failures = distinct.prefix(5).map { repeats[$0]! > 1 ? "\($0) (x\(repeats[$0]!))" : $0 }
        if distinct.count > 5 { failures.append("and \(distinct.count - 5) other errors") }
        if let pid = options.brokerPid, !metrics.contains(where: { $0.name.hasPrefix("broker RSS") }),
           let after = ProcessMemory.residentBytes(pid: pid) {
            metrics.append(Metric(name: "broker RSS after", value: Double(after) / 1_048_576, unit: "MiB", higherIsBetter: false))
            if let before = brokerMemoryBefore {
                notes.append("broker RSS \(before / 1_048_576) MiB before the run, \(after / 1_048_576) MiB after")
            }
        }
        var parameters = parameters
        parameters["duration"] = String(options.duration)
        parameters["warmup"] = String(options.warmup)
        parameters["threads"] = String(options.threads)
        let report = BenchReport(
            tool: "tributary-bench", toolVersion: benchVersion, label: options.label ?? label, workload: workload,
            startedAt: ISO8601DateFormatter().string(from: Date()), parameters: parameters, machine: MachineInfo.current(),
            broker: BrokerInfo(name: options.brokerName, version: options.brokerVersion, address: brokerAddress),
            measuredSeconds: measuredSeconds, warmupSeconds: measuredSecondsOverride == nil ? options.warmup : 0, metrics: metrics,
            latency: latency.map { $0.summary(corrected: true) }, serviceTime: latency.map { $0.summary(corrected: false) },
            delivery: delivery, verdict: Verdict.judge(delivery, failures: failures), notes: notes)
        print(ReportRendering.summary(report))
        do {
            try store(report)
        } catch {
            print("error: \(error)")
            return 2
        }
        return report.verdict.passed ? 0 : 1
    }

    func store(_ report: BenchReport) throws {
        if let path = options.json {
            var reports: [BenchReport] = []
            if options.append, FileManager.default.fileExists(atPath: path) {
                reports = try BenchReportFile.read(from: path).reports
            }
            reports.append(report)
            try BenchReportFile(reports: reports).write(to: path)
        }
        if let path = options.plot, let latency = report.latency, latency.count > 0 {
            let svg = PercentilePlot.svg(title: "\(report.label) — \(report.broker.name)", series: [(label: report.broker.name, points: latency.distribution)])
            try svg.write(toFile: path, atomically: true, encoding: .utf8)
        }
    }
}

let benchVersion = "0.1.0"

/// Formats a rate for labels: 1000 -> "1k", 1500 -> "1.5k", 50 -> "50".
func shortCount(_ value: Double) -> String {
    if value >= 1000 && value.truncatingRemainder(dividingBy: 1000) == 0 { return "\(Int(value / 1000))k" }
    if value >= 1000 { return String(format: "%.1fk", value / 1000) }
    if value == value.rounded() { return String(Int(value)) }
    return String(format: "%.1f", value)
}
