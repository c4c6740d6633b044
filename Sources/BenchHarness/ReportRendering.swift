import Foundation

/// Text renderings of reports: the end-of-run summary, the side-by-side comparison, the live progress line.
public enum ReportRendering {
    /// The end-of-run summary table (plain text, aligned columns): parameters line, each metric, latency p50/p90/p99/p99.9/max (corrected, and service time), delivery counts, verdict line.
    public static func summary(_ report: BenchReport) -> String {
        var lines: [String] = []
        lines.append("\(report.tool) \(report.toolVersion): \(report.label) (workload \(report.workload))")
        let header = TextTable(
            header: nil,
            rows: [
                ["broker", "\(report.broker.name) \(report.broker.version) at \(report.broker.address)"],
                ["machine", describe(report.machine)],
                ["started", "\(report.startedAt), measured \(formatSeconds(report.measuredSeconds)) after a "
                    + "\(formatSeconds(report.warmupSeconds)) warm-up"],
                ["parameters", describe(report.parameters)],
            ],
            rightAligned: []
        )
        lines.append(contentsOf: header.plainLines())

        if !report.metrics.isEmpty {
            lines.append("")
            let table = TextTable(
                header: ["metric", "value", "unit"],
                rows: report.metrics.map { metric in
                    let (value, unit) = formatMetric(metric.value, unit: metric.unit)
                    return [metric.name, value, unit]
                },
                rightAligned: [1]
            )
            lines.append(contentsOf: table.plainLines())
        }

        let latencies = [("latency", report.latency), ("service time", report.serviceTime)]
            .compactMap { name, summary in summary.map { (name, $0) } }
        if !latencies.isEmpty {
            lines.append("")
            let table = TextTable(
                header: ["", "count", "mean", "p50", "p90", "p99", "p99.9", "max"],
                rows: latencies.map { name, s in
                    [name, "\(s.count)"] + [s.meanMicros, s.p50Micros, s.p90Micros, s.p99Micros, s.p999Micros, s.maxMicros]
                        .map { s.count == 0 ? "-" : formatMicros($0) }
                },
                rightAligned: Set(1...7)
            )
            lines.append(contentsOf: table.plainLines())
        }

        lines.append("")
        let d = report.delivery
        lines.append("delivery: expected \(d.expected), received \(d.received), lost \(d.lost), "
            + "duplicated \(d.duplicated), out of order \(d.outOfOrder)")
        for note in report.notes { lines.append("note: \(note)") }
        lines.append(report.verdict.summary)
        return lines.joined(separator: "\n") + "\n"
    }

    /// Side-by-side: for every label present in both (and those only in one, with "-"), rows for each metric and latency percentile, columns: metric | A broker name | B broker name | B/A ratio, plus delivery counts and verdicts. `markdown: true` renders a GitHub markdown table (for README/bench-results), false aligned plain text for terminals.
    ///
    /// A fifth column, "better", names the side that wins each row (by `Metric.higherIsBetter`; latencies and
    /// losses are better lower), or says "same" within 1%.
    public static func comparison(_ a: [BenchReport], _ b: [BenchReport], markdown: Bool) -> String {
        var nameA = a.first?.broker.name ?? "A"
        var nameB = b.first?.broker.name ?? "B"
        if nameA == nameB {
            nameA += " (A)"
            nameB += " (B)"
        }
        var labels: [String] = []
        for report in a + b where !labels.contains(report.label) { labels.append(report.label) }

        var out: [String] = []
        let describeSide = { (side: String, reports: [BenchReport]) -> String in
            guard let first = reports.first else { return "\(side): no runs" }
            return "\(side): \(first.broker.name) \(first.broker.version) at \(first.broker.address), "
                + "\(first.startedAt), \(describe(first.machine))"
        }
        if markdown {
            out.append("- " + describeSide("A", a))
            out.append("- " + describeSide("B", b))
        } else {
            out.append(describeSide("A", a))
            out.append(describeSide("B", b))
        }

        for label in labels {
            let left = a.first { $0.label == label }
            let right = b.first { $0.label == label }
            let table = TextTable(
                header: ["metric", nameA, nameB, "B/A", "better"],
                rows: comparisonRows(left, right, nameA: nameA, nameB: nameB),
                rightAligned: [1, 2, 3]
            )
            out.append("")
            if markdown {
                out.append("#### \(label)")
                out.append("")
                out.append(contentsOf: table.markdownLines())
            } else {
                out.append("== \(label) ==")
                out.append(contentsOf: table.plainLines())
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    private static func comparisonRows(_ a: BenchReport?, _ b: BenchReport?, nameA: String, nameB: String) -> [[String]] {
        var rows: [[String]] = []
        func row(_ title: String, _ x: Double?, _ y: Double?, higherIsBetter: Bool?, format: (Double) -> String, ratio: Bool = true) {
            let ratioText: String
            if ratio, let x, let y, x != 0, x.isFinite, y.isFinite {
                ratioText = String(format: "%.2fx", y / x)
            } else {
                ratioText = "-"
            }
            var better = "-"
            if let higherIsBetter, let x, let y, x.isFinite, y.isFinite {
                let scale = max(abs(x), abs(y))
                if scale == 0 || abs(x - y) <= 0.01 * scale {
                    better = "same"
                } else {
                    better = (y > x) == higherIsBetter ? nameB : nameA
                }
            }
            rows.append([title, x.map(format) ?? "-", y.map(format) ?? "-", ratioText, better])
        }

        // Metrics in A's order, then those only B has.
        var metricNames: [String] = []
        for metric in (a?.metrics ?? []) + (b?.metrics ?? []) where !metricNames.contains(metric.name) {
            metricNames.append(metric.name)
        }
        for name in metricNames {
            let x = a?.metric(named: name)
            let y = b?.metric(named: name)
            guard let any = x ?? y else { continue }
            let unit = any.unit
            let title = unit.isEmpty || unit == "us" ? name : "\(name) (\(unit))"
            row(title, x?.value, y?.value, higherIsBetter: any.higherIsBetter) { value in
                unit == "us" ? formatMicros(value) : formatNumber(value)
            }
        }

        let percentiles: [(String, KeyPath<LatencySummary, Double>)] = [
            ("p50", \.p50Micros), ("p90", \.p90Micros), ("p99", \.p99Micros), ("p99.9", \.p999Micros),
            ("p99.99", \.p9999Micros), ("max", \.maxMicros),
        ]
        for (title, keyA, keyB) in [
            ("latency", a?.latency, b?.latency),
            ("service time", a?.serviceTime, b?.serviceTime),
        ] where keyA != nil || keyB != nil {
            let usableA = keyA.flatMap { $0.count > 0 ? $0 : nil }
            let usableB = keyB.flatMap { $0.count > 0 ? $0 : nil }
            for (name, path) in percentiles {
                row("\(title) \(name)", usableA?[keyPath: path], usableB?[keyPath: path], higherIsBetter: false, format: formatMicros)
            }
        }

        let counts: [(String, KeyPath<DeliveryCounts, UInt64>, Bool?)] = [
            ("delivered", \.received, nil), ("lost", \.lost, false), ("duplicated", \.duplicated, false),
            ("out of order", \.outOfOrder, false),
        ]
        for (name, path, higherIsBetter) in counts {
            row(name, a.map { Double($0.delivery[keyPath: path]) }, b.map { Double($0.delivery[keyPath: path]) },
                higherIsBetter: higherIsBetter, format: { String(format: "%.0f", $0) }, ratio: path == \.received)
        }
        let verdict = { (report: BenchReport?) -> String in
            report.map { $0.verdict.passed ? "PASS" : "FAIL" } ?? "-"
        }
        rows.append(["verdict", verdict(a), verdict(b), "-", "-"])
        return rows
    }

    /// The live progress line (no newline): "elapsed 12.0 s | sent 12000 (1000/s) | received 1199000 (99900/s) | p99 3.2 ms | outstanding 1000".
    /// `outstanding` is what was sent and not (yet) received: in flight now, lost only if it never arrives.
    public static func progressLine(
        elapsedSeconds: Double, sent: UInt64, sentRate: Double, received: UInt64, receivedRate: Double,
        p99Micros: Double?, outstanding: UInt64
    ) -> String {
        let p99 = p99Micros.map(formatMicrosShort) ?? "-"
        return "elapsed \(String(format: "%.1f", elapsedSeconds)) s | sent \(sent) (\(formatRate(sentRate))/s) | "
            + "received \(received) (\(formatRate(receivedRate))/s) | p99 \(p99) | outstanding \(outstanding)"
    }

    /// Duration formatting helper: 850 -> "850 us", 3200 -> "3.20 ms", 1_500_000 -> "1.50 s".
    public static func formatMicros(_ micros: Double) -> String {
        guard micros.isFinite else { return "-" }
        if micros < 999.5 { return String(format: "%.0f us", micros) }
        if micros < 999_995 { return String(format: "%.2f ms", micros / 1_000) }
        return String(format: "%.2f s", micros / 1_000_000)
    }

    /// Like `formatMicros` with one decimal for milliseconds, for the progress line: "3.2 ms".
    static func formatMicrosShort(_ micros: Double) -> String {
        guard micros.isFinite else { return "-" }
        if micros < 999.5 { return String(format: "%.0f us", micros) }
        if micros < 999_950 { return String(format: "%.1f ms", micros / 1_000) }
        return String(format: "%.2f s", micros / 1_000_000)
    }

    private static func formatRate(_ rate: Double) -> String {
        rate.isFinite ? String(format: "%.0f", rate) : "-"
    }

    /// A metric value for tables: integers (with thousands separators) from 100 up, 1-2 decimals below.
    public static func formatNumber(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        let magnitude = abs(value)
        if magnitude >= 100 {
            let digits = String(format: "%.0f", magnitude)
            var grouped = ""
            for (index, digit) in digits.enumerated() {
                if index > 0, (digits.count - index) % 3 == 0 { grouped.append(",") }
                grouped.append(digit)
            }
            return (value < 0 ? "-" : "") + grouped
        }
        if magnitude >= 10 { return String(format: "%.1f", value) }
        return String(format: "%.2f", value)
    }

    private static func formatMetric(_ value: Double, unit: String) -> (String, String) {
        unit == "us" ? (formatMicros(value), "") : (formatNumber(value), unit)
    }

    private static func formatSeconds(_ seconds: Double) -> String {
        seconds.isFinite ? String(format: "%.1f s", seconds) : "-"
    }

    private static func describe(_ machine: MachineInfo) -> String {
        let gib = Double(machine.memoryBytes) / Double(1 << 30)
        return "\(machine.hostname): \(machine.cores) cores, \(String(format: "%.1f", gib)) GiB, \(machine.cpuModel), "
            + "\(machine.kernel), \(machine.os)"
    }

    private static func describe(_ parameters: [String: String]) -> String {
        parameters.isEmpty ? "-" : parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }
}

/// Columns padded to their widest cell, or a GitHub markdown table.
struct TextTable {
    var header: [String]?
    var rows: [[String]]
    var rightAligned: Set<Int>

    func plainLines() -> [String] {
        let all = (header.map { [$0] } ?? []) + rows
        let columns = all.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in all {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return all.map { row in
            var line = ""
            for (index, cell) in row.enumerated() {
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                if index > 0 { line += "  " }
                line += rightAligned.contains(index) ? padding + cell : cell + padding
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
    }

    func markdownLines() -> [String] {
        let columns = max(header?.count ?? 0, rows.map(\.count).max() ?? 0)
        func line(_ cells: [String]) -> String {
            let padded = cells + [String](repeating: "", count: max(0, columns - cells.count))
            return "| " + padded.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |"
        }
        var lines = [line(header ?? [String](repeating: "", count: columns))]
        lines.append("|" + (0..<columns).map { rightAligned.contains($0) ? " ---: " : " --- " }.joined(separator: "|") + "|")
        lines.append(contentsOf: rows.map(line))
        return lines
    }
}
