import ArgumentParser
import BenchHarness
import Foundation
import KafkaClient
import KafkaProtocol
import NIOCore
import NIOPosix

/// `kafka-connect-rate`: how many new connections per second a Kafka listener takes, each one connected,
/// (with --kafka-tls-ca) through a full TLS handshake, answered one ApiVersions, and closed; `--parallel`
/// at a time. Run against the plaintext and the TLS listener in one session, the ratio is what a TLS
/// handshake costs the broker.
struct KafkaConnectRate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka-connect-rate",
        abstract: "New connections per second: connect (TLS handshake with --kafka-tls-ca), one ApiVersions, close.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var kafkaOptions: KafkaOptions

    @Option(help: "Connections being set up at once.")
    var parallel: Int = 8

    mutating func validate() throws {
        try common.validateCommon()
        guard parallel >= 1 else { throw ValidationError("--parallel must be positive") }
    }

    /// Counts, shared by the workers on their loops.
    final class Tally: @unchecked Sendable {
        let lock = NSLock()
        var completed = 0
        var failed = 0
        var errors: [String] = []

        func record(_ ok: Bool, at time: UInt64, window: ClosedRange<UInt64>, error: String?) {
            lock.lock()
            defer { lock.unlock() }
            guard window.contains(time) else { return }
            if ok { completed += 1 } else { failed += 1 }
            if let error, errors.count < 10 { errors.append(error) }
        }
    }

    func run() throws {
        let address = try resolve(kafkaOptions.kafka, option: "--kafka")
        let run = BenchRun(options: common)
        defer { run.shutdown() }
        let tls = try BenchTLS.setup(caFile: kafkaOptions.kafkaTlsCa)
        let started = run.clock.now()
        let measuredFrom = started + UInt64(common.warmup * 1e9)
        let end = measuredFrom + UInt64(common.duration * 1e9)
        let window = measuredFrom...end
        let tally = Tally()
        let clock = run.clock
        let workersDone = (0..<parallel).map { index -> EventLoopFuture<Void> in
            let loop = run.loop(index)
            let done = loop.makePromise(of: Void.self)
            func next() {
                guard clock.now() < end else {
                    done.succeed(())
                    return
                }
                KafkaBenchConnection.connect(on: loop, to: address, clientId: "tributary-bench-connect-\(index)", tls: tls)
                    .flatMap { connection in
                        connection.send(.apiVersions(ApiVersionsRequest()), version: 0).map { _ in connection }
                            .flatMapErrorThrowing { error in
                                connection.close()
                                throw error
                            }
                    }
                    .whenComplete { result in
                        switch result {
                        case .success(let connection):
                            tally.record(true, at: clock.now(), window: window, error: nil)
                            connection.close()
                        case .failure(let error):
                            tally.record(false, at: clock.now(), window: window, error: "\(error)")
                        }
                        next()
                    }
            }
            loop.execute { next() }
            return done.futureResult
        }
        for worker in workersDone { try worker.wait("connection workers") }
        let seconds = common.duration
        tally.lock.lock()
        let (completed, failed, errors) = (tally.completed, tally.failed, tally.errors)
        tally.lock.unlock()
        var parameters = kafkaOptions.parameters.filter { ["tls"].contains($0.key) }
        parameters["parallel"] = String(parallel)
        let code = run.finishFixedWindow(
            seconds: seconds, workload: "kafka-connect-rate",
            label: common.label ?? "kafka-connect-rate \(kafkaOptions.kafkaTlsCa == nil ? "plaintext" : "tls")", parameters: parameters,
            brokerAddress: kafkaOptions.kafka,
            metrics: [Metric(name: "connections", value: Double(completed) / seconds, unit: "conn/s", higherIsBetter: true)],
            delivery: DeliveryCounts(expected: UInt64(completed + failed), received: UInt64(completed), lost: UInt64(failed)),
            failures: errors, notes: ["each connection: TCP connect\(kafkaOptions.kafkaTlsCa == nil ? "" : ", TLS handshake"), ApiVersions v0, close"])
        throw ExitCode(code)
    }
}
