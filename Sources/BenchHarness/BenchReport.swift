public import Foundation

/// The broker a run measured.
public struct BrokerInfo: Codable, Sendable, Equatable {
    /// e.g. "tributary", "mosquitto", "kafka".
    public var name: String
    /// As the broker reports it, or as given on the command line ("unknown" when neither).
    public var version: String
    /// "host:port" the workload connected to.
    public var address: String

    public init(name: String, version: String, address: String) {
        self.name = name
        self.version = version
        self.address = address
    }
}

/// One figure of a run.
public struct Metric: Codable, Sendable, Equatable {
    /// e.g. "deliveries", "produce throughput".
    public var name: String
    public var value: Double
    /// e.g. "msg/s", "MB/s", "bytes".
    public var unit: String
    /// true when bigger is better (throughput), false for latencies/memory; used by the comparison to say which side wins.
    public var higherIsBetter: Bool

    public init(name: String, value: Double, unit: String, higherIsBetter: Bool) {
        self.name = name
        self.value = value
        self.unit = unit
        self.higherIsBetter = higherIsBetter
    }
}

/// Everything one workload run measured, with what it ran on and against.
public struct BenchReport: Codable, Sendable, Equatable {
    /// "tributary-bench".
    public var tool: String
    public var toolVersion: String
    /// The run's name, e.g. "mqtt-fanout 1x100 qos1"; comparisons pair runs by it.
    public var label: String
    /// The workload, e.g. "mqtt-fanout".
    public var workload: String
    /// When the run started, ISO 8601 UTC.
    public var startedAt: String
    public var parameters: [String: String]
    public var machine: MachineInfo
    public var broker: BrokerInfo
    /// Measured duration, warm-up excluded.
    public var measuredSeconds: Double
    public var warmupSeconds: Double
    /// Throughput and other figures, in display order.
    public var metrics: [Metric]
    /// Latency from the intended send time (coordinated-omission corrected).
    public var latency: LatencySummary?
    /// Latency from the actual send time (service time, uncorrected).
    public var serviceTime: LatencySummary?
    public var delivery: DeliveryCounts
    public var verdict: Verdict
    public var notes: [String]

    public init(
        tool: String = "tributary-bench",
        toolVersion: String,
        label: String,
        workload: String,
        startedAt: String = BenchReport.timestamp(),
        parameters: [String: String] = [:],
        machine: MachineInfo,
        broker: BrokerInfo,
        measuredSeconds: Double,
        warmupSeconds: Double = 0,
        metrics: [Metric] = [],
        latency: LatencySummary? = nil,
        serviceTime: LatencySummary? = nil,
        delivery: DeliveryCounts = DeliveryCounts(),
        verdict: Verdict,
        notes: [String] = []
    ) {
        self.tool = tool
        self.toolVersion = toolVersion
        self.label = label
        self.workload = workload
        self.startedAt = startedAt
        self.parameters = parameters
        self.machine = machine
        self.broker = broker
        self.measuredSeconds = measuredSeconds
        self.warmupSeconds = warmupSeconds
        self.metrics = metrics
        self.latency = latency
        self.serviceTime = serviceTime
        self.delivery = delivery
        self.verdict = verdict
        self.notes = notes
    }

    /// `date` as ISO 8601 UTC with seconds ("2025-06-01T12:00:00Z"), the `startedAt` format.
    public static func timestamp(_ date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// The metric named `name`, if the run has one.
    public func metric(named name: String) -> Metric? {
        metrics.first { $0.name == name }
    }
}

/// Whether a run passed, with the one-line reason.
public struct Verdict: Codable, Sendable, Equatable {
    public var passed: Bool
    /// e.g. "PASS: 100000 delivered, 0 lost, 0 duplicated, 0 out of order".
    public var summary: String

    public init(passed: Bool, summary: String) {
        self.passed = passed
        self.summary = summary
    }

    /// passed = delivery.isClean && failures.isEmpty; summary e.g. "PASS: 100000 delivered, 0 lost, 0 duplicated, 0 out of order"
    /// or "FAIL: 99988 delivered, 12 lost, 0 duplicated, 0 out of order; p99 42 ms above the 50 ms goal" (extra
    /// failure reasons appended, separated by "; ").
    public static func judge(_ delivery: DeliveryCounts, failures: [String] = []) -> Verdict {
        let passed = delivery.isClean && failures.isEmpty
        let counts = "\(delivery.received) delivered, \(delivery.lost) lost, \(delivery.duplicated) duplicated, "
            + "\(delivery.outOfOrder) out of order"
        let summary = ([(passed ? "PASS: " : "FAIL: ") + counts] + failures).joined(separator: "; ")
        return Verdict(passed: passed, summary: summary)
    }
}

/// Why a report file could not be read or written.
public enum BenchReportFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case malformed(path: String, reason: String)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read \(path): \(reason)"
        case let .malformed(path, reason): "\(path) is not a tributary-bench report file: \(reason)"
        case let .unwritable(path, reason): "cannot write \(path): \(reason)"
        }
    }
}

/// A JSON file holds one or more reports: {"reports":[...]}; writing pretty-printed, sorted keys.
public struct BenchReportFile: Codable, Sendable, Equatable {
    public var reports: [BenchReport]

    public init(reports: [BenchReport]) {
        self.reports = reports
    }

    /// Reads a report file. A file holding a single bare report object is accepted too.
    public static func read(from path: String) throws(BenchReportFileError) -> BenchReportFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: error.localizedDescription)
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return try decoder.decode(BenchReportFile.self, from: data)
        } catch {
            if let single = try? decoder.decode(BenchReport.self, from: data) {
                return BenchReportFile(reports: [single])
            }
            throw .malformed(path: path, reason: String(describing: error))
        }
    }

    /// Writes the file (atomically), pretty-printed with sorted keys and a final newline.
    public func write(to path: String) throws(BenchReportFileError) {
        do {
            var data = try encoded()
            data.append(UInt8(ascii: "\n"))
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .unwritable(path: path, reason: error.localizedDescription)
        }
    }

    /// The file's JSON text, as `write(to:)` writes it (without the final newline).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // A rate over an empty interval must not make the whole file unwritable.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }
}
