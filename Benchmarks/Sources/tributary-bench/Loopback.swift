import ArgumentParser
import BenchHarness
import Foundation
import NIOCore
import NIOPosix

/// Discards what it reads and counts the bytes.
final class DiscardHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var bytes: UInt64 = 0
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes += UInt64(unwrapInboundIn(data).readableBytes)
    }
}

/// Writes one buffer over and over while the channel is writable.
final class BlastHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let chunk: ByteBuffer
    var stopped = false
    init(chunkSize: Int) {
        chunk = ByteBuffer(repeating: 0x61, count: chunkSize)
    }
    func channelActive(context: ChannelHandlerContext) {
        pump(context: context)
    }
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        pump(context: context)
    }
    private func pump(context: ChannelHandlerContext) {
        while context.channel.isWritable && !stopped {
            context.write(wrapOutboundOut(chunk), promise: nil)
        }
        context.flush()
    }
}

// MARK: - loopback

struct LoopbackBandwidth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loopback",
        abstract: "TCP bandwidth over loopback in this process (one connection): the network reference for the broker figures.")

    @Option(help: "Seconds to measure.")
    var duration: Double = 5

    @Option(help: "Bytes per write.")
    var chunkSize: Int = 65536

    @Option(help: "Write the result as a JSON report to this file.")
    var json: String?

    @Flag(help: "Add to the reports already in the --json file.")
    var append = false

    func run() throws {
        // Receiver and sender on a thread each, as a broker and its client would be.
        let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer {
            try? clientGroup.syncShutdownGracefully()
            try? serverGroup.syncShutdownGracefully()
        }
        let sink = DiscardHandler()
        let serverLoop = serverGroup.next()
        let server = try ServerBootstrap(group: serverGroup)
            .childChannelInitializer { channel in channel.pipeline.addHandler(sink) }
            .bind(host: "127.0.0.1", port: 0).wait()
        let blaster = BlastHandler(chunkSize: chunkSize)
        let client = try ClientBootstrap(group: clientGroup)
            .channelInitializer { channel in channel.pipeline.addHandler(blaster) }
            .connect(to: server.localAddress!).wait()
        Thread.sleep(forTimeInterval: 0.5)
        let clock = MonotonicClock()
        let startBytes = try serverLoop.submit { sink.bytes }.wait()
        let start = clock.now()
        Thread.sleep(forTimeInterval: duration)
        let endBytes = try serverLoop.submit { sink.bytes }.wait()
        let seconds = Double(clock.now() - start) / 1e9
        try client.eventLoop.submit { blaster.stopped = true }.wait()
        try client.close().wait()
        try server.close().wait()
        let megabytes = Double(endBytes - startBytes) / seconds / 1e6
        print(String(format: "loopback TCP: %.0f MB/s (%.1f s, %d-byte writes)", megabytes, seconds, chunkSize))
        if let json {
            let delivery = DeliveryCounts()
            let report = BenchReport(
                tool: "tributary-bench", toolVersion: benchVersion, label: "loopback TCP bandwidth", workload: "loopback",
                startedAt: ISO8601DateFormatter().string(from: Date()), parameters: ["chunk-size": String(chunkSize), "duration": String(duration)],
                machine: MachineInfo.current(), broker: BrokerInfo(name: "none", version: "-", address: "127.0.0.1"),
                measuredSeconds: seconds, warmupSeconds: 0.5,
                metrics: [Metric(name: "MB/s", value: megabytes, unit: "MB/s", higherIsBetter: true)],
                latency: nil, serviceTime: nil, delivery: delivery, verdict: Verdict.judge(delivery), notes: [])
            var reports: [BenchReport] = []
            if append, FileManager.default.fileExists(atPath: json) { reports = try BenchReportFile.read(from: json).reports }
            reports.append(report)
            try BenchReportFile(reports: reports).write(to: json)
        }
    }
}
