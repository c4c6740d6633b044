import BenchHarness
import Foundation
import Testing

func sampleReport(
    broker: String = "tributary", label: String = "mqtt-fanout 1x100 qos1", throughput: Double = 1000,
    p99Micros: Double = 3_200, delivery: DeliveryCounts = DeliveryCounts(expected: 100_000, received: 100_000)
) -> BenchReport {
    let latency = LatencySummary(
        count: 100_000, meanMicros: 900, p50Micros: 850, p90Micros: 1_500, p99Micros: p99Micros, p999Micros: 8_000,
        p9999Micros: 12_000, maxMicros: 20_000,
        distribution: [PercentilePoint(percentile: 0, valueMicros: 100), PercentilePoint(percentile: 50, valueMicros: 850),
                       PercentilePoint(percentile: 99, valueMicros: p99Micros), PercentilePoint(percentile: 100, valueMicros: 20_000)]
    )
    return BenchReport(
        toolVersion: "0.1.0",
        label: label,
        workload: "mqtt-fanout",
        startedAt: "2025-06-01T12:00:00Z",
        parameters: ["publishers": "1", "subscribers": "100", "qos": "1", "rate": "1000"],
        machine: MachineInfo(hostname: "bench", cores: 2, memoryBytes: 8 << 30, cpuModel: "Test CPU", kernel: "Linux 6.8", os: "Debian"),
        broker: BrokerInfo(name: broker, version: "1.0", address: "127.0.0.1:1883"),
        measuredSeconds: 30,
        warmupSeconds: 5,
        metrics: [
            Metric(name: "deliveries", value: throughput, unit: "msg/s", higherIsBetter: true),
            Metric(name: "broker memory", value: 50_000_000, unit: "bytes", higherIsBetter: false),
        ],
        latency: latency,
        serviceTime: latency,
        delivery: delivery,
        verdict: .judge(delivery),
        notes: ["a note"]
    )
}

@Suite struct ReportTests {
    @Test func verdictPassesOnlyCleanRunsWithoutFailures() {
        let clean = Verdict.judge(DeliveryCounts(expected: 100_000, received: 100_000, outOfOrder: 0))
        #expect(clean.passed)
        #expect(clean.summary == "PASS: 100000 delivered, 0 lost, 0 duplicated, 0 out of order")
        #expect(Verdict.judge(DeliveryCounts(expected: 10, received: 10, outOfOrder: 4)).passed)

        let lossy = Verdict.judge(DeliveryCounts(expected: 100, received: 88, lost: 12))
        #expect(!lossy.passed)
        #expect(lossy.summary.hasPrefix("FAIL: "))
        #expect(lossy.summary.contains("12 lost"))

        let slow = Verdict.judge(DeliveryCounts(expected: 1, received: 1), failures: ["p99 62 ms above the 50 ms goal"])
        #expect(!slow.passed)
        #expect(slow.summary == "FAIL: 1 delivered, 0 lost, 0 duplicated, 0 out of order; p99 62 ms above the 50 ms goal")
    }

    @Test func reportFileRoundTrips() throws {
        let file = BenchReportFile(reports: [sampleReport(), sampleReport(broker: "mosquitto", label: "other")])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try file.write(to: path)
        #expect(try BenchReportFile.read(from: path) == file)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("{\n  \"reports\" : ["))
        #expect(text.range(of: "\"broker\"")!.lowerBound < text.range(of: "\"delivery\"")!.lowerBound)  // sorted keys
    }

    @Test func aBareReportIsReadAsAFileOfOne() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try JSONEncoder().encode(sampleReport()).write(to: URL(fileURLWithPath: path))
        #expect(try BenchReportFile.read(from: path).reports == [sampleReport()])
    }

    @Test func unreadableAndMalformedFilesThrowTypedErrors() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            try BenchReportFile.read(from: path)
        } throws: { error in
            if case .unreadable = error as? BenchReportFileError { true } else { false }
        }
        try Data("{\"reports\": 3}".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            try BenchReportFile.read(from: path)
        } throws: { error in
            if case .malformed = error as? BenchReportFileError { true } else { false }
        }
        #expect(throws: BenchReportFileError.self) {
            try BenchReportFile(reports: []).write(to: "/nonexistent-directory/x.json")
        }
    }

    @Test func nonFiniteNumbersDoNotBreakWriting() throws {
        var report = sampleReport()
        report.metrics.append(Metric(name: "rate", value: .infinity, unit: "msg/s", higherIsBetter: true))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try BenchReportFile(reports: [report]).write(to: path)
        #expect(try BenchReportFile.read(from: path).reports == [report])
    }

    @Test func startedAtIsISO8601UTC() {
        #expect(BenchReport.timestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
    }

    @Test func currentMachineAndProcessMemory() {
        let machine = MachineInfo.current()
        #expect(machine.cores > 0)
        #expect(machine.memoryBytes > 0)
        #expect(!machine.hostname.isEmpty)
        #if os(Linux)
        #expect(machine.kernel.hasPrefix("Linux "))
        #expect(ProcessMemory.residentBytes(pid: getpid()).map { $0 > 1 << 20 } == true)
        #endif
        #expect(ProcessMemory.residentBytes(pid: -1) == nil)
        #expect(ProcessMemory.residentBytes(pid: Int32.max) == nil)
    }
}

@Suite struct RenderingTests {
    @Test func formatMicros() {
        #expect(ReportRendering.formatMicros(850) == "850 us")
        #expect(ReportRendering.formatMicros(3_200) == "3.20 ms")
        #expect(ReportRendering.formatMicros(1_500_000) == "1.50 s")
        #expect(ReportRendering.formatMicros(0) == "0 us")
        #expect(ReportRendering.formatMicros(999.7) == "1.00 ms")
        #expect(ReportRendering.formatMicros(.nan) == "-")
    }

    @Test func progressLine() {
        let line = ReportRendering.progressLine(
            elapsedSeconds: 12, sent: 12_000, sentRate: 1_000, received: 1_199_000, receivedRate: 99_900,
            p99Micros: 3_200, outstanding: 1_000
        )
        #expect(line == "elapsed 12.0 s | sent 12000 (1000/s) | received 1199000 (99900/s) | p99 3.2 ms | outstanding 1000")
        #expect(!line.contains("\n"))
        let early = ReportRendering.progressLine(
            elapsedSeconds: 0.5, sent: 1, sentRate: 2, received: 0, receivedRate: 0, p99Micros: nil, outstanding: 1
        )
        #expect(early.contains("p99 -"))
    }

    @Test func summaryTable() {
        let text = ReportRendering.summary(sampleReport(delivery: DeliveryCounts(expected: 100, received: 90, lost: 10)))
        #expect(text.contains("mqtt-fanout 1x100 qos1"))
        #expect(text.contains("publishers=1 qos=1 rate=1000 subscribers=100"))
        #expect(text.contains("deliveries"))
        #expect(text.contains("1,000"))
        #expect(text.contains("p99.9"))
        #expect(text.contains("3.20 ms"))
        #expect(text.contains("service time"))
        #expect(text.contains("lost 10"))
        #expect(text.contains("note: a note"))
        #expect(text.hasSuffix("FAIL: 90 delivered, 10 lost, 0 duplicated, 0 out of order\n"))
    }

    @Test func comparisonShowsBothBrokersAndRatios() {
        let a = [sampleReport(broker: "tributary", throughput: 1_000, p99Micros: 2_000), sampleReport(label: "only in A")]
        let b = [sampleReport(broker: "mosquitto", throughput: 2_000, p99Micros: 2_000), sampleReport(broker: "mosquitto", label: "only in B")]
        for markdown in [false, true] {
            let text = ReportRendering.comparison(a, b, markdown: markdown)
            #expect(text.contains("tributary"))
            #expect(text.contains("mosquitto"))
            #expect(text.contains("2.00x"))
            #expect(text.contains("only in A"))
            #expect(text.contains("only in B"))
            #expect(text.contains("PASS"))
            let deliveries = text.split(separator: "\n").first { $0.contains("deliveries") }
            #expect(deliveries?.contains("mosquitto") == true)  // the better side named
            let p99 = text.split(separator: "\n").first { $0.contains("latency p99 ") || $0.contains("latency p99 |") }
            #expect(p99?.contains("same") == true)
        }
        let markdown = ReportRendering.comparison(a, b, markdown: true)
        let tableLines = markdown.split(separator: "\n").filter { $0.contains("deliveries") || $0.contains("lost") || $0.contains("---") }
        #expect(!tableLines.isEmpty)
        #expect(tableLines.allSatisfy { $0.hasPrefix("|") })
        let plain = ReportRendering.comparison(a, b, markdown: false)
        #expect(!plain.split(separator: "\n").contains { $0.hasPrefix("|") })
    }

    @Test func comparisonOfTheSameBrokerTellsTheSidesApart() {
        let text = ReportRendering.comparison([sampleReport()], [sampleReport(throughput: 500)], markdown: false)
        #expect(text.contains("tributary (A)"))
        #expect(text.contains("tributary (B)"))
        #expect(text.contains("0.50x"))
    }

    @Test func percentilePlot() {
        let recorded = sampleReport().latency?.distribution ?? []
        let svg = PercentilePlot.svg(
            title: "fan-out <qos1>",
            series: [(label: "tributary", points: recorded), (label: "mosquitto & co", points: recorded.map {
                PercentilePoint(percentile: $0.percentile, valueMicros: $0.valueMicros * 2)
            })]
        )
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.contains("tributary"))
        #expect(svg.contains("mosquitto &amp; co"))
        #expect(svg.contains("fan-out &lt;qos1&gt;"))
        #expect(svg.contains("99.9%"))
        #expect(svg.contains("<polyline"))
        #expect(svg.hasSuffix("</svg>\n"))
        #expect(!svg.contains("nan"))
        let empty = PercentilePlot.svg(title: "nothing", series: [(label: "none", points: [])])
        #expect(empty.hasPrefix("<svg") && empty.contains("no data"))
    }
}
