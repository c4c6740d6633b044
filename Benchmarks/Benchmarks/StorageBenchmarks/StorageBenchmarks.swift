import Benchmark
import Foundation
import KafkaProtocol
import LogStore
import Logging
import NIOCore
import NIOPosix

// Segment appends with group commit and fetch reads, on the machine's real disk (a temporary directory).
// Each operation is one append of one batch; "× N appenders" runs N concurrent appenders whose appends
// share flushes. Throughput is appends per second; the bytes per append are in the name.

func batch(recordBytes: Int, records: Int) -> RecordBatch {
    var builder = RecordBatchBuilder()
    let value = ByteBuffer(repeating: 0x61, count: recordBytes)
    for index in 0..<records {
        builder.append(key: nil, value: value, timestamp: 1_700_000_000_000 + Int64(index))
    }
    var bytes = try! builder.build()
    return try! RecordBatch.read(from: &bytes)
}

final class StorageFixture: @unchecked Sendable {
    let directory = NSTemporaryDirectory() + "tributary-bench-\(UUID().uuidString)"
    let pool = NIOThreadPool(numberOfThreads: 4)
    let manager: LogManager

    init() {
        pool.start()
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        manager = LogManager(dataDirectory: directory, threadPool: pool, logger: logger)
        try! manager.start()
    }

    func log(_ name: String, flushPolicy: FlushPolicy) -> SegmentedLog {
        var config = LogConfig()
        config.flushPolicy = flushPolicy
        config.segmentBytes = 256 << 20
        return try! manager.openLog(TopicPartition(topic: name, partition: 0), config: config).log
    }

    func close() {
        manager.shutdown()
        try? pool.syncShutdownGracefully()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock],
        warmupIterations: 10,
        maxDuration: .seconds(3),
        maxIterations: 100_000
    )

    // The largest batch is kept under the default max.message.bytes (1 MiB + 12 bytes).
    for (label, recordBytes, records) in [("100 × 100 B", 100, 100), ("1 × 1 KiB", 1024, 1), ("1000 × 1 KiB", 1024, 1000)] {
        let appended = batch(recordBytes: recordBytes, records: records)
        for appenders in [1, 8] {
            // One iteration is one round of `appenders` concurrent appends.
            Benchmark("Append \(label) batch, group commit (fdatasync), \(appenders) concurrent append\(appenders > 1 ? "s" : "") per iteration") { benchmark in
                let fixture = StorageFixture()
                let log = fixture.log("group-commit", flushPolicy: .everyWrite)
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    if appenders == 1 {
                        _ = try await log.append(appended, durability: .durable)
                    } else {
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for _ in 0..<appenders {
                                group.addTask { _ = try await log.append(appended, durability: .durable) }
                            }
                            try await group.waitForAll()
                        }
                    }
                }
                benchmark.stopMeasurement()
                fixture.close()
            }
        }
        Benchmark("Append \(label) batch, no flush (acks=1 / flush policy os)") { benchmark in
            let fixture = StorageFixture()
            let log = fixture.log("no-flush", flushPolicy: .operatingSystem)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                _ = try await log.append(appended, durability: .written)
            }
            benchmark.stopMeasurement()
            fixture.close()
        }
    }

    Benchmark("Fetch read of 1 MiB (whole batches) from a 64 MiB partition") { benchmark in
        let fixture = StorageFixture()
        let log = fixture.log("reads", flushPolicy: .operatingSystem)
        let appended = batch(recordBytes: 1024, records: 64)
        for _ in 0..<1024 { _ = try await log.append(appended, durability: .written) }
        let end = log.offsets.logEndOffset
        var offset: Int64 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let result = try log.read(from: offset, maxBytes: 1 << 20, minimumOneBatch: true)
            blackHole(result.records)
            offset = (offset + 16 * 1024) % end
        }
        benchmark.stopMeasurement()
        fixture.close()
    }
}
