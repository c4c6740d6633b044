import Foundation

/// An SVG line chart of latency by percentile (x axis log scale of 1/(1-p): 0%, 90%, 99%, 99.9%, 99.99%, 99.999%; y linear in ms), one line per series, legend, axis labels, title. Self-contained SVG text, no external fonts.
///
/// The x axis runs to 99.999% (to 99.9999% when the data goes past 99.999%); the 100% point (the maximum) is
/// drawn at the right edge.
public enum PercentilePlot {
    static let width = 800.0
    static let height = 480.0
    static let left = 70.0
    static let right = 20.0
    static let top = 40.0
    static let bottom = 60.0
    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    public static func svg(title: String, series: [(label: String, points: [PercentilePoint])]) -> String {
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom

        // x in decades of 1/(1-p): 0 at 0%, 1 at 90%, 2 at 99%, ...
        func decades(_ percentile: Double) -> Double? {
            guard percentile < 100 else { return nil }
            return log10(100 / (100 - max(0, percentile)))
        }
        let highestDecade = series.flatMap { $0.points.compactMap { decades($0.percentile) } }.max() ?? 0
        let xDecades = min(6, max(5, highestDecade.rounded(.up)))
        let maxMillis = series.flatMap { $0.points.map { $0.valueMicros / 1_000 } }.filter(\.isFinite).max() ?? 0
        let (yMax, yStep) = niceScale(maxMillis)

        func x(_ percentile: Double) -> Double {
            left + plotWidth * min(xDecades, decades(percentile) ?? xDecades) / xDecades
        }
        func y(_ millis: Double) -> Double {
            top + plotHeight * (1 - min(max(millis, 0), yMax) / yMax)
        }
        func f(_ value: Double) -> String { String(format: "%.1f", value) }

        var svg: [String] = []
        svg.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
            + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">")
        svg.append("<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"white\"/>")
        svg.append("<text x=\"\(f(width / 2))\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">\(escape(title))</text>")

        // Grid and tick labels.
        for decade in 0...Int(xDecades) {
            let px = left + plotWidth * Double(decade) / xDecades
            svg.append("<line x1=\"\(f(px))\" y1=\"\(f(top))\" x2=\"\(f(px))\" y2=\"\(f(top + plotHeight))\" stroke=\"#dddddd\"/>")
            svg.append("<text x=\"\(f(px))\" y=\"\(f(top + plotHeight + 18))\" text-anchor=\"middle\">\(percentLabel(decade))</text>")
        }
        var tick = 0.0
        while tick <= yMax + yStep / 2 {
            let py = y(tick)
            svg.append("<line x1=\"\(f(left))\" y1=\"\(f(py))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(py))\" stroke=\"#dddddd\"/>")
            svg.append("<text x=\"\(f(left - 6))\" y=\"\(f(py + 4))\" text-anchor=\"end\">\(formatTick(tick, step: yStep))</text>")
            tick += yStep
        }
        svg.append("<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"#333333\"/>")
        svg.append("<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 16))\" text-anchor=\"middle\">percentile</text>")
        svg.append("<text x=\"18\" y=\"\(f(top + plotHeight / 2))\" text-anchor=\"middle\" "
            + "transform=\"rotate(-90 18 \(f(top + plotHeight / 2)))\">latency (ms)</text>")

        // Lines.
        for (index, entry) in series.enumerated() {
            let color = colors[index % colors.count]
            let coordinates = entry.points
                .filter { $0.percentile.isFinite && $0.valueMicros.isFinite }
                .sorted { $0.percentile < $1.percentile }
                .map { "\(f(x($0.percentile))),\(f(y($0.valueMicros / 1_000)))" }
            guard !coordinates.isEmpty else { continue }
            svg.append("<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(coordinates.joined(separator: " "))\"/>")
        }
        if series.allSatisfy({ $0.points.isEmpty }) {
            svg.append("<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(top + plotHeight / 2))\" text-anchor=\"middle\" fill=\"#888888\">no data</text>")
        }

        // Legend, top left inside the plot (latencies rise to the right, so that corner stays clear).
        if !series.isEmpty {
            let longest = series.map(\.label.count).max() ?? 0
            svg.append("<rect x=\"\(f(left + 6))\" y=\"\(f(top + 6))\" width=\"\(f(46 + 7 * Double(longest)))\" "
                + "height=\"\(f(18 * Double(series.count) + 6))\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#cccccc\"/>")
        }
        for (index, entry) in series.enumerated() {
            let color = colors[index % colors.count]
            let ly = top + 18 + Double(index) * 18
            svg.append("<line x1=\"\(f(left + 12))\" y1=\"\(f(ly - 4))\" x2=\"\(f(left + 36))\" y2=\"\(f(ly - 4))\" stroke=\"\(color)\" stroke-width=\"2\"/>")
            svg.append("<text x=\"\(f(left + 42))\" y=\"\(f(ly))\">\(escape(entry.label))</text>")
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    private static func percentLabel(_ decade: Int) -> String {
        switch decade {
        case 0: "0%"
        case 1: "90%"
        case 2: "99%"
        default: "99." + String(repeating: "9", count: decade - 2) + "%"
        }
    }

    /// A y axis ceiling and step (1, 2 or 5 times a power of ten) giving about five ticks.
    static func niceScale(_ maximum: Double) -> (max: Double, step: Double) {
        guard maximum > 0, maximum.isFinite else { return (1, 0.2) }
        let rough = maximum / 5
        let power = pow(10, (log10(rough)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= rough } ?? 10 * power
        return ((maximum / step).rounded(.up) * step, step)
    }

    private static func formatTick(_ value: Double, step: Double) -> String {
        let decimals = step >= 1 ? 0 : Int((-log10(step)).rounded(.up))
        return String(format: "%.\(decimals)f", value)
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;")
            .replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}
