import ArgumentParser
import BenchHarness
import Foundation

/// `tributary-bench`: load workloads against any Kafka or MQTT broker, and the comparison of their reports.
@main
struct TributaryBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tributary-bench",
        abstract: "Throughput and latency workloads against a Kafka or MQTT broker (Tributary, mosquitto, Apache Kafka, ...).",
        discussion: """
        Each workload prints a live progress line on a terminal and a summary at the end, writes --json FILE, \
        and exits 0 when nothing was lost or duplicated and no error occurred, 1 otherwise (2 when the report cannot be written, 64 on a usage error). \
        `tributary-bench --compare A.json B.json` prints the side-by-side table of two sets of reports with ratios.
        """,
        subcommands: [
            KafkaProduce.self, KafkaConsume.self, KafkaEndToEnd.self, KafkaConnectRate.self,
            MQTTFanout.self, MQTTIngest.self, MQTTToKafka.self, MQTTConnections.self,
            LoopbackBandwidth.self, References.self,
        ])

    @Option(name: .customLong("compare"), parsing: .upToNextOption, help: "Two report files, A then B: the side-by-side table with B/A ratios.")
    var compare: [String] = []

    @Flag(help: "With --compare: a Markdown table.")
    var markdown = false

    @Option(help: "With --compare: also write an SVG plot per run label present in both, into this directory.")
    var plotDir: String?

    mutating func validate() throws {
        guard compare.isEmpty || compare.count == 2 else { throw ValidationError("--compare takes two files: A.json B.json") }
    }

    func run() throws {
        guard compare.count == 2 else {
            print(TributaryBench.helpMessage())
            throw ExitCode.validationFailure
        }
        try Compare.render(a: compare[0], b: compare[1], markdown: markdown, plotDir: plotDir)
    }
}

/// The side-by-side table (and plots) of two report files: `tributary-bench --compare A.json B.json`.
enum Compare {
    static func render(a: String, b: String, markdown: Bool, plotDir: String?) throws {
        let first = try BenchReportFile.read(from: a).reports
        let second = try BenchReportFile.read(from: b).reports
        print(ReportRendering.comparison(first, second, markdown: markdown))
        guard let plotDir else { return }
        try FileManager.default.createDirectory(atPath: plotDir, withIntermediateDirectories: true)
        for report in first {
            guard let other = second.first(where: { $0.label == report.label }),
                  let left = report.latency, let right = other.latency, left.count > 0, right.count > 0 else { continue }
            let svg = PercentilePlot.svg(
                title: report.label,
                series: [(label: report.broker.name, points: left.distribution), (label: other.broker.name, points: right.distribution)])
            let name = report.label.map { $0.isLetter || $0.isNumber ? $0 : "-" }
            try svg.write(toFile: "\(plotDir)/\(String(name)).svg", atomically: true, encoding: .utf8)
        }
    }
}
