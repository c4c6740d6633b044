import Benchmark
import Compression
import KafkaProtocol
import NIOCore

// Throughput figures are operations per second; each benchmark's name carries the bytes one operation
// handles, so MB/s = throughput × size. Compare runs as ratios on the same machine.

let mebibyte = 1 << 20

/// A 1 MiB record batch: 1 KiB JSON-like records, the shape of device telemetry.
func telemetryBatch(compression: CompressionCodec) -> ByteBuffer {
    var builder = RecordBatchBuilder(compression: compression)
    var index = 0
    while builder.count * 1_100 < mebibyte {
        let value = "{\"device\":\"dev-\(index % 1000)\",\"temperature\":\(index % 120),\"pad\":\"" + String(repeating: "x", count: 960) + "\"}"
        builder.append(key: ByteBuffer(string: "dev-\(index % 1000)"), value: ByteBuffer(string: value), timestamp: 1_700_000_000_000 + Int64(index))
        index += 1
    }
    return try! builder.build()
}

/// A Produce v9 request with one 1 MiB batch for each of `partitions` partitions, without the size prefix.
func produceRequestFrame(partitions: Int, batch: ByteBuffer) -> ByteBuffer {
    let request = ProduceRequest(transactionalId: nil, acks: -1, timeoutMs: 30_000, topicData: [
        .init(name: "telemetry", partitionData: (0..<partitions).map { .init(index: Int32($0), records: batch) }),
    ])
    let frame = KafkaRequestFrame(header: RequestHeader(requestApiKey: 0, requestApiVersion: 9, correlationId: 1, clientId: "bench"), body: .produce(request))
    var buffer = ByteBuffer()
    try! frame.encode(into: &buffer)
    buffer.moveReaderIndex(forwardBy: 4)
    return buffer
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        warmupIterations: 3,
        maxDuration: .seconds(2),
        maxIterations: 10_000
    )

    let plainBatch = telemetryBatch(compression: .none)
    let random: [UInt8] = (0..<mebibyte).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }

    Benchmark("CRC-32C, 1 MiB") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(CRC32C.checksum(random))
        }
    }

    Benchmark("CRC-32C portable slicing-by-8, 1 MiB") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(random.withUnsafeBytes { CRC32C.portableChecksum($0) })
        }
    }

    Benchmark("Record batch header decode + CRC validation, 1 MiB batch") { benchmark in
        for _ in benchmark.scaledIterations {
            var input = plainBatch
            blackHole(try RecordBatch.validatedBatches(in: &input))
        }
    }

    Benchmark("Record batch produce validation (header, CRC, limits), 1 MiB batch") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try RecordBatch.validateForProduce(plainBatch, apiVersion: 9))
        }
    }

    Benchmark("Record batch full record decode, 1 MiB batch") { benchmark in
        let batch = try RecordBatch.validateForProduce(plainBatch, apiVersion: 9)
        for _ in benchmark.scaledIterations {
            blackHole(try batch.records())
        }
    }

    let produceFrame = produceRequestFrame(partitions: 6, batch: plainBatch)
    let decodeLargeProduce: @Sendable (Benchmark) throws -> Void = { benchmark in
        for _ in benchmark.scaledIterations {
            var input = produceFrame
            blackHole(try KafkaRequestFrame.decode(from: &input))
        }
    }
    Benchmark("Produce v9 request decode, 6 partitions × 1 MiB") { benchmark in
        try decodeLargeProduce(benchmark)
    }

    let smallProduceFrame = produceRequestFrame(partitions: 1, batch: { () -> ByteBuffer in
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: ByteBuffer(string: String(repeating: "v", count: 100)), timestamp: 0)
        return try! builder.build()
    }())
    let decodeSmallProduce: @Sendable (Benchmark) throws -> Void = { benchmark in
        for _ in benchmark.scaledIterations {
            var input = smallProduceFrame
            blackHole(try KafkaRequestFrame.decode(from: &input))
        }
    }
    Benchmark("Produce v9 request decode, 1 partition × one 100-byte record") { benchmark in
        try decodeSmallProduce(benchmark)
    }

    // Checked by `make bench-check` against Benchmarks/Thresholds: the same decodes, mallocs only. Shell-safe
    // names: package-benchmark 1.38.1 writes threshold files with spaces and slashes replaced by `_` but looks
    // them up by the unmodified name.
    Benchmark("alloc.produce-v9-request-decode.1-partition-1x100B", configuration: allocationCheckConfiguration()) { benchmark in
        try decodeSmallProduce(benchmark)
    }
    Benchmark("alloc.produce-v9-request-decode.6-partitions-6x1MiB", configuration: allocationCheckConfiguration()) { benchmark in
        try decodeLargeProduce(benchmark)
    }

    for codec in [CompressionCodec.gzip, .snappy, .lz4, .zstd] {
        let compressed = telemetryBatch(compression: codec)
        let batch = try! RecordBatch.validateForProduce(compressed, apiVersion: 9)
        let uncompressedSize = try! batch.recordBytes().readableBytes
        Benchmark("Decompress \(codec), \(uncompressedSize / 1024) KiB out of \(compressed.readableBytes / 1024) KiB") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try batch.recordBytes())
            }
        }
    }
}

/// The configuration of the `alloc.*` benchmarks that `make bench-check` runs with
/// `benchmark thresholds check`: only the malloc count (time is too noisy on shared machines), compared at
/// p90 with the value stored in Benchmarks/Thresholds/CodecBenchmarks.<name>.p90.json. Any increase is a
/// regression; a decrease is reported as an improvement (then refresh the stored value).
func allocationCheckConfiguration() -> Benchmark.Configuration {
    .init(
        metrics: [.mallocCountTotal],
        warmupIterations: 10,
        maxDuration: .seconds(1),
        maxIterations: 1_000,
        thresholds: [.mallocCountTotal: BenchmarkThresholds(absolute: [.p90: 0])]
    )
}
