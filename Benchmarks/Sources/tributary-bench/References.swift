import ArgumentParser
import BenchHarness
import Foundation

// MARK: - references

/// The Kafka figures next to the machine's physical limits measured in the same run: the disk's sequential
/// write bandwidth with fdatasync (what acks=all must pay) and TCP bandwidth over loopback (what any broker's
/// clients on this machine can move).
struct References: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "references",
        abstract: "Kafka throughput figures of a report file as ratios of the disk and loopback bandwidth.")

    @Argument(help: "The report file with the Kafka runs.")
    var reports: String

    @Option(name: .customLong("disk-mbs"), help: "Sequential write bandwidth of the data directory's disk with fdatasync, MB/s (dd ... conv=fdatasync).")
    var diskMBs: Double

    @Option(name: .customLong("loopback-mbs"), help: "TCP loopback bandwidth, MB/s (tributary-bench loopback).")
    var loopbackMBs: Double

    @Option(help: "text or markdown.")
    var format: String = "text"

    func validate() throws {
        guard format == "text" || format == "markdown" else { throw ValidationError("--format must be text or markdown") }
    }

    func run() throws {
        let file = try BenchReportFile.read(from: reports)
        var rows: [[String]] = []
        for report in file.reports where report.workload.hasPrefix("kafka-") || report.workload == "mqtt-to-kafka" {
            let megabytes = report.metrics.first { $0.name == "MB/s" }?.value
            // The run's record throughput: produced, consumed or fetched records per second.
            let records = report.metrics.first { $0.unit == "rec/s" }?.value
            let p99 = report.latency.flatMap { $0.count > 0 ? ReportRendering.formatMicros($0.p99Micros) : nil } ?? "-"
            rows.append([
                report.label,
                records.map { ReportRendering.formatNumber($0) } ?? "-",
                megabytes.map { String(format: "%.1f", $0) } ?? "-",
                megabytes.map { String(format: "%.2fx", $0 / diskMBs) } ?? "-",
                megabytes.map { String(format: "%.2fx", $0 / loopbackMBs) } ?? "-",
                p99,
                report.verdict.passed ? "PASS" : "FAIL",
            ])
        }
        rows.append(["disk: sequential write + fdatasync (dd)", "-", String(format: "%.1f", diskMBs), "1.00x", String(format: "%.2fx", diskMBs / loopbackMBs), "-", "-"])
        rows.append(["network: TCP over loopback, one connection", "-", String(format: "%.1f", loopbackMBs), String(format: "%.2fx", loopbackMBs / diskMBs), "1.00x", "-", "-"])
        let header = ["run", "records/s", "MB/s", "of disk", "of loopback", "p99", "verdict"]
        print(render(header: header, rows: rows, markdown: format == "markdown"))
    }

    private func render(header: [String], rows: [[String]], markdown: Bool) -> String {
        if markdown {
            var lines = ["| " + header.joined(separator: " | ") + " |", "|" + header.enumerated().map { $0.offset == 0 ? "---|" : "---:|" }.joined()]
            for row in rows { lines.append("| " + row.joined(separator: " | ") + " |") }
            return lines.joined(separator: "\n")
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return index == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
