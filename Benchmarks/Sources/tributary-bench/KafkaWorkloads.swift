import ArgumentParser
import BenchHarness
import Compression
import Foundation
import KafkaProtocol
import NIOCore
import NIOPosix

struct KafkaOptions: ParsableArguments {
    @Option(help: "The Kafka broker, HOST:PORT (a single-node cluster: every partition's leader).")
    var kafka: String = "127.0.0.1:9092"

    @Option(help: "Connect with TLS (Kafka's SSL), trusting the CAs in this PEM file.")
    var kafkaTlsCa: String?

    @Option(help: "Topic (default: a new one per run, tributary-bench-<workload>-<id>).")
    var topic: String?

    @Option(help: "Partitions of the topic the run creates.")
    var partitions: Int = 6

    @Option(help: "Bytes per record value (at least \(Stamp.size): the stamp).")
    var recordSize: Int = 100

    @Option(help: "Record batch size in bytes per partition (the producer's batch.size).")
    var batchBytes: Int = 65536

    @Option(help: "Milliseconds a partial batch may wait for more records (linger.ms, the Java client's default since Kafka 4.0; open-loop runs only).")
    var lingerMs: Double = 5

    @Option(help: "Producer acknowledgments: all (-1) or 1.")
    var acks: String = "all"

    @Option(help: "Batch compression: none, gzip, snappy, lz4, zstd.")
    var compression: String = "none"

    @Option(help: "Producer connections.")
    var producers: Int = 1

    @Option(help: "Most unanswered Produce requests per producer (max.in.flight.requests.per.connection).")
    var maxInflight: Int = 5

    var acksValue: Int16 {
        get throws {
            switch acks {
            case "all", "-1": return -1
            case "1": return 1
            case "0": throw ValidationError("acks=0 has no acknowledgment to time or to count losses by; use all or 1")
            default: throw ValidationError("--acks must be all or 1")
            }
        }
    }

    var codec: CompressionCodec {
        get throws {
            guard let codec = CompressionCodec.allCases.first(where: { $0.description == compression }) else {
                throw ValidationError("--compression must be none, gzip, snappy, lz4 or zstd")
            }
            return codec
        }
    }

    func validateKafka() throws {
        _ = try acksValue
        _ = try codec
        guard partitions >= 1, producers >= 1, maxInflight >= 1 else { throw ValidationError("--partitions, --producers and --max-inflight must be positive") }
        guard recordSize >= Stamp.size else { throw ValidationError("--record-size must be at least \(Stamp.size)") }
        guard batchBytes >= recordSize else { throw ValidationError("--batch-bytes must hold at least one record") }
    }

    func topicName(workload: String, runId: UInt32) -> String {
        topic ?? "tributary-bench-\(workload)-\(runId)"
    }

    var parameters: [String: String] {
        ["partitions": String(partitions), "record-size": String(recordSize), "batch-bytes": String(batchBytes),
         "linger-ms": String(lingerMs), "acks": acks, "compression": compression, "producers": String(producers),
         "max-inflight": String(maxInflight), "tls": kafkaTlsCa == nil ? "no" : "yes"]
    }
}

/// One producer connection. Closed loop: keeps `maxInflight` requests of full batches (one per partition)
/// outstanding. Open loop: records are enqueued by a pacer at their intended times and sent when a batch is
/// full or has lingered, or at once with linger 0.
final class BenchProducer: @unchecked Sendable {
    let run: BenchRun
    let connection: KafkaBenchConnection
    let index: Int
    let topic: String
    let partitions: Int
    let options: KafkaOptions
    let acks: Int16
    let codec: CompressionCodec
    let recordsPerBatch: Int
    let stats: LoopStats
    /// Sequence numbers per partition; stream id = index * partitions + partition.
    var sequences: [UInt64]
    var nextPartition = 0
    private var pending: [[PendingRecord]]
    private var oldestPending: UInt64?
    var recordAcknowledgments = true
    var acknowledgedRecords: UInt64 = 0
    var failedRecords: UInt64 = 0
    private var stopAt: UInt64 = 0

    init(run: BenchRun, connection: KafkaBenchConnection, index: Int, topic: String, options: KafkaOptions) throws {
        self.run = run
        self.connection = connection
        self.index = index
        self.topic = topic
        partitions = options.partitions
        self.options = options
        acks = try options.acksValue
        codec = try options.codec
        recordsPerBatch = max(1, options.batchBytes / options.recordSize)
        stats = run.stats(on: connection.eventLoop)
        sequences = [UInt64](repeating: 0, count: options.partitions)
        pending = [[PendingRecord]](repeating: [], count: options.partitions)
    }

    func stream(_ partition: Int) -> Int { index * partitions + partition }

    private func makeRecord(partition: Int, intended: UInt64, now: UInt64) -> PendingRecord {
        let sequence = sequences[partition]
        sequences[partition] = sequence + 1
        return PendingRecord(intended: intended, actual: now, sequence: sequence)
    }

    // MARK: Closed loop

    func startClosedLoop(until end: UInt64) {
        stopAt = end
        connection.eventLoop.execute { self.fillWindow() }
    }

    private func fillWindow() {
        var wrote = false
        while connection.inflight < options.maxInflight && run.clock.now() < stopAt && !connection.closed {
            let now = run.clock.now()
            var batches: [(partition: Int, records: [PendingRecord])] = []
            for partition in 0..<partitions {
                var records: [PendingRecord] = []
                records.reserveCapacity(recordsPerBatch)
                for _ in 0..<recordsPerBatch { records.append(makeRecord(partition: partition, intended: now, now: now)) }
                batches.append((partition, records))
            }
            sendRequest(batches, sentAt: now, closedLoop: true, flush: false)
            wrote = true
        }
        if wrote { connection.flush() }
    }

    // MARK: Open loop

    /// Adds one record (round-robin over partitions); returns false when the window is full and the
    /// record could not even be queued (the pacer retries and the wait counts in its latency).
    func enqueue(intended: UInt64, now: UInt64) -> Bool {
        if connection.closed { return false }
        let partition = nextPartition
        nextPartition = (nextPartition + 1) % partitions
        pending[partition].append(makeRecord(partition: partition, intended: intended, now: now))
        if oldestPending == nil { oldestPending = now }
        stats.sent += 1
        if run.inMeasuredWindow(intended) { stats.measuredSends += 1 }
        return true
    }

    /// Sends what is pending when a batch is full or lingered long enough (or linger is 0), as many requests
    /// as the window allows, each with at most one batch of `--batch-bytes` per partition: records that
    /// queued up behind a full window go out in batches of the configured size, never in one oversized batch.
    func sendPendingIfReady(now: UInt64, force: Bool = false) {
        while let oldest = oldestPending, connection.inflight < options.maxInflight, !connection.closed {
            let full = pending.contains { $0.count >= recordsPerBatch }
            let lingered = Double(now - oldest) / 1e6 >= options.lingerMs
            guard force || full || lingered else { return }
            var batches: [(partition: Int, records: [PendingRecord])] = []
            for partition in 0..<partitions where !pending[partition].isEmpty {
                let take = min(recordsPerBatch, pending[partition].count)
                batches.append((partition, Array(pending[partition].prefix(take))))
                pending[partition].removeFirst(take)
            }
            // What stays behind has waited since at least `oldest`.
            oldestPending = pending.contains { !$0.isEmpty } ? oldest : nil
            sendRequest(batches, sentAt: now, closedLoop: false, flush: true)
        }
    }

    /// Records waiting for the window.
    var pendingCount: Int { pending.reduce(0) { $0 + $1.count } }

    // MARK: Requests

    private func sendRequest(_ batches: [(partition: Int, records: [PendingRecord])], sentAt: UInt64, closedLoop: Bool, flush: Bool) {
        var request = ProduceRequest()
        request.acks = acks
        request.timeoutMs = 30_000
        var topicData = ProduceRequest.TopicProduceData()
        topicData.name = topic
        let timestamp = Int64(Date().timeIntervalSince1970 * 1000)
        var recordCount = 0
        var bytes = 0
        for batch in batches {
            var partitionData = ProduceRequest.PartitionProduceData()
            partitionData.index = Int32(batch.partition)
            do {
                partitionData.records = try StampedBatch.build(
                    batch.records, run: run.runId, stream: UInt32(stream(batch.partition)), recordSize: options.recordSize,
                    timestamp: timestamp, compression: codec)
                bytes += batch.records.count * options.recordSize
            } catch {
                stats.fail("building a \(codec) batch: \(error)")
                continue
            }
            recordCount += batch.records.count
            topicData.partitionData.append(partitionData)
        }
        request.topicData = [topicData]
        if closedLoop {
            stats.sent += UInt64(recordCount)
            if run.inMeasuredWindow(sentAt) { stats.measuredSends += UInt64(recordCount) }
        }
        let sentBytes = bytes
        connection.send(.produce(request), version: KafkaVersions.produce, flush: flush).whenComplete { result in
            let now = self.run.clock.now()
            var failedPartitions = Set<Int32>()
            switch result {
            case .success(.produce(let response)):
                for topicResponse in response.responses {
                    for partition in topicResponse.partitionResponses where partition.errorCode != 0 {
                        failedPartitions.insert(partition.index)
                        self.stats.fail("Produce \(self.topic)-\(partition.index): error \(partition.errorCode) \(KafkaErrorCode(rawValue: partition.errorCode)) \(partition.errorMessage ?? "")")
                    }
                }
            case .success:
                self.stats.fail("unexpected response to Produce")
                failedPartitions = Set(batches.map { Int32($0.partition) })
            case .failure(let error):
                self.stats.fail("Produce: \(error)")
                failedPartitions = Set(batches.map { Int32($0.partition) })
            }
            var acknowledged: UInt64 = 0
            for batch in batches {
                if failedPartitions.contains(Int32(batch.partition)) {
                    self.failedRecords += UInt64(batch.records.count)
                    continue
                }
                acknowledged += UInt64(batch.records.count)
                if self.recordAcknowledgments {
                    let stream = self.stream(batch.partition)
                    for record in batch.records {
                        self.stats.tracker.record(stream: stream, sequence: record.sequence)
                        if !closedLoop {
                            self.stats.recorder.record(intendedStart: record.intended, actualStart: sentAt, end: now)
                            self.stats.interval.record(intendedStart: record.intended, actualStart: sentAt, end: now)
                        }
                    }
                }
            }
            self.acknowledgedRecords += acknowledged
            if self.recordAcknowledgments {
                if closedLoop && acknowledged > 0 {
                    // Request latency: in a closed loop the next request waits for a free slot, so this is service time.
                    self.stats.recorder.record(intendedStart: sentAt, actualStart: sentAt, end: now)
                    self.stats.interval.record(intendedStart: sentAt, actualStart: sentAt, end: now)
                }
                self.stats.received += acknowledged
                if self.run.inMeasuredWindow(now) {
                    self.stats.measuredEvents += acknowledged
                    if acknowledged > 0 { self.stats.measuredBytes += UInt64(sentBytes) * acknowledged / UInt64(max(recordCount, 1)) }
                }
            }
            if closedLoop {
                self.fillWindow()
            } else {
                self.sendPendingIfReady(now: now)
            }
        }
    }
}

/// A record the producer owes: its stamp's fields.
struct PendingRecord {
    var intended: UInt64
    var actual: UInt64
    var sequence: UInt64
}

/// Writes a record batch of stamped records straight into one buffer (a record's value is its stamp and
/// padding; no key, no headers), the way a client library does, so the load generator spends its time
/// on the network and not on building values one allocation at a time.
enum StampedBatch {
    static func build(_ records: [PendingRecord], run: UInt32, stream: UInt32, recordSize: Int, timestamp: Int64, compression: CompressionCodec) throws -> ByteBuffer {
        var body = ByteBuffer()
        body.reserveCapacity(records.count * (recordSize + 16))
        for (index, record) in records.enumerated() {
            let offsetDelta = Int32(index)
            // attributes(1) + timestampDelta(0) + offsetDelta + key length(-1) + value length + value + header count(0)
            let bodyLength = 1 + 1 + varintSize(offsetDelta) + 1 + varintSize(Int32(recordSize)) + recordSize + 1
            body.writeKafkaVarint(Int32(bodyLength))
            body.writeInteger(UInt8(0))
            body.writeKafkaVarint(0)
            body.writeKafkaVarint(offsetDelta)
            body.writeKafkaVarint(-1)
            body.writeKafkaVarint(Int32(recordSize))
            body.writeInteger(Stamp.magic)
            body.writeInteger(run)
            body.writeInteger(stream)
            body.writeInteger(UInt32(0))
            body.writeInteger(record.sequence)
            body.writeInteger(record.intended)
            body.writeInteger(record.actual)
            if recordSize > Stamp.size { body.writeRepeatingByte(0x2E, count: recordSize - Stamp.size) }
            body.writeKafkaVarint(0)
        }
        if compression != .none {
            let compressed = try body.withUnsafeReadableBytes { raw in try Compressor.compress(raw, codec: compression) }
            body = ByteBuffer(bytes: compressed)
        }
        let header = RecordBatchHeader(
            batchLength: Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead + body.readableBytes),
            attributes: RecordBatchHeader.attributes(compression: compression, timestampType: .createTime, isTransactional: false, isControl: false),
            lastOffsetDelta: Int32(records.count - 1), baseTimestamp: timestamp, maxTimestamp: timestamp, recordCount: Int32(records.count))
        var batch = ByteBuffer()
        batch.reserveCapacity(RecordBatchHeader.size + body.readableBytes)
        header.write(into: &batch)
        batch.writeImmutableBuffer(body)
        let crc = batch.withUnsafeReadableBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[RecordBatchHeader.attributesOffset...]))
        }
        batch.setInteger(crc, at: RecordBatchHeader.crcOffset)
        return batch
    }

    private static func varintSize(_ value: Int32) -> Int {
        var zigzag = UInt32(bitPattern: (value << 1) ^ (value >> 31))
        var size = 1
        while zigzag >= 0x80 {
            zigzag >>= 7
            size += 1
        }
        return size
    }
}

/// Fetches partitions of one topic from given offsets, long-polling, and hands every record to `onRecord`
/// on the connection's loop. Stops at `endOffsets` when given, otherwise when stopped.
final class BenchFetcher: @unchecked Sendable {
    let connection: KafkaBenchConnection
    let topic: String
    var offsets: [Int: Int64]
    let endOffsets: [Int: Int64]?
    let maxWaitMs: Int32
    let onRecord: (_ partition: Int, _ offset: Int64, _ value: ByteBuffer?, _ now: UInt64) -> Void
    let clock: any BenchClock
    var stopped = false
    var fetchedBytes: UInt64 = 0
    var errors: [String] = []
    let done: EventLoopPromise<Void>

    init(connection: KafkaBenchConnection, topic: String, from offsets: [Int: Int64], to endOffsets: [Int: Int64]?, maxWaitMs: Int32, clock: any BenchClock,
         onRecord: @escaping (Int, Int64, ByteBuffer?, UInt64) -> Void) {
        self.connection = connection
        self.topic = topic
        self.offsets = offsets
        self.endOffsets = endOffsets
        self.maxWaitMs = maxWaitMs
        self.clock = clock
        self.onRecord = onRecord
        done = connection.eventLoop.makePromise(of: Void.self)
    }

    func start() {
        connection.eventLoop.execute { self.fetch() }
    }

    func stop() {
        connection.eventLoop.execute { self.stopped = true }
    }

    private var finished: Bool {
        guard let endOffsets else { return false }
        return endOffsets.allSatisfy { partition, end in (offsets[partition] ?? 0) >= end }
    }

    private func fetch() {
        if stopped || finished || connection.closed {
            if connection.closed && !finished && !stopped { errors.append("the Kafka connection closed while fetching") }
            done.succeed(())
            return
        }
        var request = FetchRequest()
        request.replicaId = -1
        request.maxWaitMs = maxWaitMs
        request.minBytes = 1
        request.maxBytes = 52_428_800
        var fetchTopic = FetchRequest.FetchTopic()
        fetchTopic.topic = topic
        for (partition, offset) in offsets.sorted(by: { $0.key < $1.key }) {
            if let end = endOffsets?[partition], offset >= end { continue }
            var entry = FetchRequest.FetchPartition()
            entry.partition = Int32(partition)
            entry.fetchOffset = offset
            entry.partitionMaxBytes = 1_048_576
            fetchTopic.partitions.append(entry)
        }
        request.topics = [fetchTopic]
        connection.send(.fetch(request), version: KafkaVersions.fetch).whenComplete { result in
            switch result {
            case .success(.fetch(let response)):
                self.handle(response)
                self.fetch()
            case .success:
                self.errors.append("unexpected response to Fetch")
                self.done.succeed(())
            case .failure(let error):
                if !self.stopped { self.errors.append("Fetch: \(error)") }
                self.done.succeed(())
            }
        }
    }

    private func handle(_ response: FetchResponse) {
        let now = clock.now()
        if response.errorCode != 0 { errors.append("Fetch: error \(response.errorCode)") }
        for topicResponse in response.responses {
            for partition in topicResponse.partitions {
                let index = Int(partition.partitionIndex)
                guard partition.errorCode == 0 else {
                    if errors.count < 20 { errors.append("Fetch \(topic)-\(index): error \(partition.errorCode)") }
                    continue
                }
                guard var records = partition.records, var offset = offsets[index] else { continue }
                fetchedBytes += UInt64(records.readableBytes)
                while records.readableBytes >= RecordBatchHeader.size {
                    let batch: RecordBatch
                    do {
                        batch = try RecordBatch.read(from: &records)
                    } catch {
                        break  // a partial batch at the end of a fetch is normal
                    }
                    guard batch.header.lastOffset >= offset else { continue }
                    if batch.header.isControl {
                        offset = batch.header.lastOffset + 1
                        continue
                    }
                    do {
                        for record in try batch.records() {
                            let recordOffset = batch.header.baseOffset + Int64(record.offsetDelta)
                            if recordOffset < offset { continue }
                            onRecord(index, recordOffset, record.value, now)
                        }
                    } catch {
                        if errors.count < 20 { errors.append("decoding a batch of \(topic)-\(index) at \(batch.header.baseOffset): \(error)") }
                    }
                    offset = batch.header.lastOffset + 1
                }
                offsets[index] = offset
            }
        }
    }
}

/// Connects, checks the broker answers ApiVersions, and makes sure the topic exists with its partitions.
func prepareKafka(run: BenchRun, options: KafkaOptions, topic: String, create: Bool) throws -> (address: SocketAddress, admin: KafkaBenchConnection, partitions: Int, apis: String) {
    let address = try resolve(options.kafka, option: "--kafka")
    let admin = try KafkaBenchConnection.connect(on: run.loop(0), to: address, tls: try BenchTLS.setup(caFile: options.kafkaTlsCa)).wait("connecting to \(options.kafka)")
    let apis = try run.loop(0).flatSubmit { admin.apiVersionSummary() }.wait("ApiVersions")
    if create {
        try run.loop(0).flatSubmit { admin.ensureTopic(topic, partitions: options.partitions) }.wait("creating \(topic)")
        return (address, admin, options.partitions, apis)
    }
    let count = try run.loop(0).flatSubmit { admin.partitionCount(topic) }.wait("metadata of \(topic)")
    guard count > 0 else { throw BenchFailure("topic \(topic) does not exist") }
    return (address, admin, count, apis)
}

func connectProducers(run: BenchRun, address: SocketAddress, topic: String, options: KafkaOptions) throws -> [BenchProducer] {
    try (0..<options.producers).map { index in
        let connection = try KafkaBenchConnection.connect(on: run.loop(index), to: address, clientId: "tributary-bench-producer-\(index)", tls: try BenchTLS.setup(caFile: options.kafkaTlsCa)).wait("connecting producer \(index)")
        return try run.loop(index).submit { try BenchProducer(run: run, connection: connection, index: index, topic: topic, options: options) }.wait()
    }
}

/// Produces as fast as the producers' windows allow until `end`, then waits for the answers.
func produceClosedLoop(run: BenchRun, producers: [BenchProducer], until end: UInt64) throws {
    for producer in producers { producer.startClosedLoop(until: end) }
    while run.clock.now() < end { usleep(50_000) }
    for _ in 0..<600 {
        let inflight = try producers.reduce(0) { total, producer in total + (try producer.connection.eventLoop.submit { producer.connection.inflight }.wait()) }
        if inflight == 0 { return }
        usleep(50_000)
    }
    throw BenchFailure("Produce requests still unanswered 30 s after the end")
}

// MARK: - kafka-produce

struct KafkaProduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka-produce",
        abstract: "Producers x partitions x record size x batch size/linger x acks x compression: records/s, MB/s, request latency.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var kafkaOptions: KafkaOptions

    @Option(help: "Offered records per second (open loop, latency per record with coordinated-omission correction); 0 = as fast as the window allows (closed loop, request latency).")
    var rate: Double = 0

    mutating func validate() throws {
        try common.validateCommon()
        try kafkaOptions.validateKafka()
        guard rate >= 0 else { throw ValidationError("--rate must not be negative") }
    }

    func run() throws {
        let run = BenchRun(options: common)
        defer { run.shutdown() }
        let topic = kafkaOptions.topicName(workload: "produce", runId: run.runId)
        let prepared = try prepareKafka(run: run, options: kafkaOptions, topic: topic, create: true)
        let producers = try connectProducers(run: run, address: prepared.address, topic: topic, options: kafkaOptions)
        run.beginTimeline()
        if rate == 0 {
            while run.clock.now() < run.start { usleep(1000) }
            try produceClosedLoop(run: run, producers: producers, until: run.sendEnd)
        } else {
            let owned = assign(producers.count, over: 1)
            _ = owned
            var pacers: [Pacer] = []
            for producer in producers {
                let pacer = Pacer(
                    loop: producer.connection.eventLoop, rate: rate / Double(producers.count), start: run.start, end: run.sendEnd, clock: run.clock,
                    send: { _, intended, now in producer.enqueue(intended: intended, now: now) },
                    flush: { producer.sendPendingIfReady(now: run.clock.now()) })
                pacers.append(pacer)
            }
            for pacer in pacers { pacer.start() }
            // Lingering batches need a timer of their own when no new record arrives.
            let lingerTasks = producers.map { producer in
                producer.connection.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(1), delay: .milliseconds(1)) { _ in
                    producer.sendPendingIfReady(now: run.clock.now(), force: run.clock.now() >= run.sendEnd)
                }
            }
            let planned = UInt64(pacers.reduce(0) { $0 + $1.total })
            run.waitForEnd { run.snapshot().received >= planned }
            for task in lingerTasks { task.cancel() }
        }
        let gathered = try run.gather()
        var perStream: [Int: UInt64] = [:]
        for producer in producers {
            let sequences = try producer.connection.eventLoop.submit { producer.sequences }.wait()
            for (partition, count) in sequences.enumerated() { perStream[producer.stream(partition)] = count }
        }
        for producer in producers { producer.connection.close() }
        prepared.admin.close()
        let seconds = run.measuredSeconds
        var parameters = kafkaOptions.parameters
        parameters["rate"] = rate == 0 ? "max" : String(rate)
        parameters["topic"] = topic
        let metrics = [
            Metric(name: "records/s", value: Double(gathered.events) / seconds, unit: "rec/s", higherIsBetter: true),
            Metric(name: "MB/s", value: Double(gathered.bytes) / seconds / 1e6, unit: "MB/s", higherIsBetter: true),
        ]
        let label = "kafka-produce \(kafkaOptions.recordSize) B acks=\(kafkaOptions.acks) \(kafkaOptions.partitions)p"
            + (kafkaOptions.producers > 1 ? " \(kafkaOptions.producers) producers" : "") + (rate > 0 ? " \(shortCount(rate))/s" : "") + (kafkaOptions.compression == "none" ? "" : " \(kafkaOptions.compression)")
        let code = run.finish(
            workload: "kafka-produce", label: label, parameters: parameters, brokerAddress: kafkaOptions.kafka, metrics: metrics,
            latency: gathered.recorder, delivery: gathered.tracker.counts(sentPerStream: perStream), failures: gathered.failures,
            notes: [rate == 0 ? "closed loop (\(kafkaOptions.maxInflight) requests in flight per producer): latency is Produce request latency" : "open loop: latency per record from its intended send time to its acknowledgment",
                    "broker APIs: \(prepared.apis)"])
        throw ExitCode(code)
    }
}

// MARK: - kafka-consume

struct KafkaConsume: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka-consume",
        abstract: "Fetch throughput from the earliest offset, by partition assignment or in a consumer group.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var kafkaOptions: KafkaOptions

    @Option(help: "Records to produce first (closed loop, not measured); 0 = consume what --topic holds.")
    var produceRecords: Int = 2_000_000

    @Option(help: "Consumer connections; the partitions are divided between them.")
    var consumers: Int = 1

    @Option(help: "Join this consumer group (FindCoordinator, JoinGroup, SyncGroup with range assignment) instead of assigning partitions.")
    var group: String?

    mutating func validate() throws {
        try common.validateCommon()
        try kafkaOptions.validateKafka()
        guard consumers >= 1, produceRecords >= 0 else { throw ValidationError("--consumers must be positive") }
        guard produceRecords > 0 || kafkaOptions.topic != nil else { throw ValidationError("--produce-records 0 needs --topic") }
    }

    func run() throws {
        let run = BenchRun(options: common)
        defer { run.shutdown() }
        let topic = kafkaOptions.topicName(workload: "consume", runId: run.runId)
        let prepared = try prepareKafka(run: run, options: kafkaOptions, topic: topic, create: produceRecords > 0)
        let partitions = prepared.partitions
        var producedPerStream: [Int: UInt64] = [:]
        if produceRecords > 0 {
            if !common.quiet { print("producing \(produceRecords) records of \(kafkaOptions.recordSize) B to \(topic)...") }
            let producers = try connectProducers(run: run, address: prepared.address, topic: topic, options: kafkaOptions)
            for producer in producers { try producer.connection.eventLoop.submit { producer.recordAcknowledgments = false }.wait() }
            let perRequest = max(1, kafkaOptions.batchBytes / kafkaOptions.recordSize) * partitions
            let goal = UInt64(produceRecords)
            let startedProducing = run.clock.now()
            var acknowledged: UInt64 = 0
            while acknowledged < goal {
                try produceClosedLoop(run: run, producers: producers, until: run.clock.now() + 200_000_000)
                acknowledged = try producers.reduce(0) { $0 + (try $1.connection.eventLoop.submit { [p = $1] in p.acknowledgedRecords }.wait()) }
                if run.clock.now() - startedProducing > 600_000_000_000 { throw BenchFailure("producing the records took over 10 minutes") }
            }
            _ = perRequest
            for producer in producers {
                let sequences = try producer.connection.eventLoop.submit { producer.sequences }.wait()
                for (partition, count) in sequences.enumerated() { producedPerStream[producer.stream(partition)] = count }
                producer.connection.close()
            }
            for loop in run.loops { try loop.submit { run.stats(on: loop).reset() }.wait() }
        }
        let earliest = try run.loop(0).flatSubmit { prepared.admin.offsets(topic, partitions: partitions, timestamp: -2) }.wait("ListOffsets")
        let latest = try run.loop(0).flatSubmit { prepared.admin.offsets(topic, partitions: partitions, timestamp: -1) }.wait("ListOffsets")
        let expected = zip(earliest, latest).reduce(UInt64(0)) { $0 + UInt64(max(0, $1.1 - $1.0)) }

        // Who fetches which partitions: a range assignment, or the group's.
        var connections: [KafkaBenchConnection] = []
        for index in 0..<consumers {
            connections.append(try KafkaBenchConnection.connect(on: run.loop(index), to: prepared.address, clientId: "tributary-bench-consumer-\(index)", tls: try BenchTLS.setup(caFile: kafkaOptions.kafkaTlsCa)).wait("connecting consumer \(index)"))
        }
        var assignment: [[Int]]
        var members: [GroupMember] = []
        if let group {
            members = try joinGroup(run: run, connections: connections, group: group, topic: topic, partitions: partitions)
            assignment = members.map(\.partitions)
        } else {
            assignment = rangeAssignment(partitions: partitions, members: consumers)
        }

        // The measured window is the whole fetch: no warm-up (the data is read once).
        run.beginTimeline(lead: 0)
        let started = run.clock.now()
        var fetchers: [BenchFetcher] = []
        for (index, connection) in connections.enumerated() where !assignment[index].isEmpty {
            let loop = connection.eventLoop
            let stats = run.stats(on: loop)
            var from: [Int: Int64] = [:]
            var to: [Int: Int64] = [:]
            for partition in assignment[index] {
                from[partition] = earliest[partition]
                to[partition] = latest[partition]
            }
            let runId = run.runId
            let fetcher = BenchFetcher(connection: connection, topic: topic, from: from, to: to, maxWaitMs: 500, clock: run.clock) { _, _, value, _ in
                stats.received += 1
                stats.measuredEvents += 1
                if let value {
                    stats.measuredBytes += UInt64(value.readableBytes)
                    if let stamp = Stamp.read(value, run: runId) {
                        stats.tracker.record(stream: Int(stamp.stream), sequence: stamp.sequence)
                    }
                }
            }
            fetchers.append(fetcher)
        }
        for fetcher in fetchers { fetcher.start() }
        let heartbeats = members.map { member in
            member.connection.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(3), delay: .seconds(3)) { _ in
                member.heartbeat()
            }
        }
        for fetcher in fetchers { try fetcher.done.futureResult.wait("fetching") }
        let elapsed = Double(run.clock.now() - started) / 1e9
        for task in heartbeats { task.cancel() }
        for member in members { try? member.leave().wait() }
        let gathered = try run.gather()
        var errors: [String] = []
        for fetcher in fetchers { errors += try fetcher.connection.eventLoop.submit { fetcher.errors }.wait() }
        for connection in connections { connection.close() }
        prepared.admin.close()

        // Every record between the earliest and latest offsets was fetched once: the offsets say how many;
        // the stamps say whether any was fetched twice.
        // With records this run produced, the stamps also say which ones were missed or read twice.
        var delivery = produceRecords > 0 ? gathered.tracker.counts(sentPerStream: producedPerStream) : DeliveryCounts()
        delivery.expected = expected
        delivery.received = min(gathered.received, expected)
        delivery.lost = max(delivery.lost, expected > gathered.received ? expected - gathered.received : 0)
        delivery.duplicated = max(delivery.duplicated, gathered.received > expected ? gathered.received - expected : 0)
        var parameters = kafkaOptions.parameters
        parameters["consumers"] = String(consumers)
        parameters["group"] = group ?? "-"
        parameters["records"] = String(expected)
        parameters["topic"] = topic
        let metrics = [
            Metric(name: "records/s", value: Double(gathered.received) / elapsed, unit: "rec/s", higherIsBetter: true),
            Metric(name: "MB/s", value: Double(gathered.bytes) / elapsed / 1e6, unit: "MB/s", higherIsBetter: true),
            Metric(name: "seconds to read all", value: elapsed, unit: "s", higherIsBetter: false),
        ]
        let code = run.finishFixedWindow(
            seconds: elapsed, workload: "kafka-consume",
            label: "kafka-consume \(kafkaOptions.recordSize) B \(partitions)p" + (group == nil ? (consumers > 1 ? " \(consumers) consumers" : "") : " group of \(consumers)"),
            parameters: parameters, brokerAddress: kafkaOptions.kafka, metrics: metrics, delivery: delivery, failures: gathered.failures + errors,
            notes: ["reads \(expected) records from the earliest offsets to the end offsets listed at the start", "broker APIs: \(prepared.apis)"])
        throw ExitCode(code)
    }
}

func rangeAssignment(partitions: Int, members: Int) -> [[Int]] {
    var result = [[Int]](repeating: [], count: members)
    let per = partitions / members
    let extra = partitions % members
    var next = 0
    for member in 0..<members {
        let count = per + (member < extra ? 1 : 0)
        result[member] = Array(next..<(next + count))
        next += count
    }
    return result
}

// MARK: - kafka-e2e

struct KafkaEndToEnd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka-e2e",
        abstract: "End-to-end latency from produce to fetch at a fixed offered rate.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var kafkaOptions: KafkaOptions

    @Option(help: "Offered records per second.")
    var rate: Double = 10_000

    @Option(help: "Fetch long-poll wait, ms (fetch.max.wait.ms; the broker answers as soon as data arrives).")
    var fetchWaitMs: Int32 = 500

    mutating func validate() throws {
        try common.validateCommon()
        try kafkaOptions.validateKafka()
        guard rate > 0 else { throw ValidationError("--rate must be positive") }
    }

    func run() throws {
        let run = BenchRun(options: common)
        defer { run.shutdown() }
        let topic = kafkaOptions.topicName(workload: "e2e", runId: run.runId)
        let prepared = try prepareKafka(run: run, options: kafkaOptions, topic: topic, create: true)
        let partitions = prepared.partitions
        let latest = try run.loop(0).flatSubmit { prepared.admin.offsets(topic, partitions: partitions, timestamp: -1) }.wait("ListOffsets")
        let producers = try connectProducers(run: run, address: prepared.address, topic: topic, options: kafkaOptions)
        for producer in producers { try producer.connection.eventLoop.submit { producer.recordAcknowledgments = false }.wait() }
        // The consumer runs on the last loop, the producers from the first.
        let consumerLoop = run.loop(run.loops.count - 1)
        let consumer = try KafkaBenchConnection.connect(on: consumerLoop, to: prepared.address, clientId: "tributary-bench-consumer", tls: try BenchTLS.setup(caFile: kafkaOptions.kafkaTlsCa)).wait("connecting the consumer")
        let stats = run.stats(on: consumerLoop)
        let runId = run.runId
        var from: [Int: Int64] = [:]
        for partition in 0..<partitions { from[partition] = latest[partition] }
        let fetcher = BenchFetcher(connection: consumer, topic: topic, from: from, to: nil, maxWaitMs: fetchWaitMs, clock: run.clock) { _, _, value, now in
            guard let value, let stamp = Stamp.read(value, run: runId) else { return }
            stats.received += 1
            stats.tracker.record(stream: Int(stamp.stream), sequence: stamp.sequence)
            stats.recorder.record(intendedStart: stamp.intended, actualStart: stamp.actual, end: now)
            stats.interval.record(intendedStart: stamp.intended, actualStart: stamp.actual, end: now)
            if run.inMeasuredWindow(now) {
                stats.measuredEvents += 1
                stats.measuredBytes += UInt64(value.readableBytes)
            }
        }
        fetcher.start()
        run.beginTimeline()
        var pacers: [Pacer] = []
        for producer in producers {
            pacers.append(Pacer(
                loop: producer.connection.eventLoop, rate: rate / Double(producers.count), start: run.start, end: run.sendEnd, clock: run.clock,
                send: { _, intended, now in producer.enqueue(intended: intended, now: now) },
                flush: { producer.sendPendingIfReady(now: run.clock.now()) }))
        }
        for pacer in pacers { pacer.start() }
        let lingerTasks = producers.map { producer in
            producer.connection.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(1), delay: .milliseconds(1)) { _ in
                producer.sendPendingIfReady(now: run.clock.now(), force: run.clock.now() >= run.sendEnd)
            }
        }
        let planned = UInt64(pacers.reduce(0) { $0 + $1.total })
        run.waitForEnd { run.snapshot().received >= planned }
        for task in lingerTasks { task.cancel() }
        fetcher.stop()
        let gathered = try run.gather()
        var perStream: [Int: UInt64] = [:]
        var failedRecords: UInt64 = 0
        for producer in producers {
            let (sequences, failed) = try producer.connection.eventLoop.submit { (producer.sequences, producer.failedRecords) }.wait()
            failedRecords += failed
            for (partition, count) in sequences.enumerated() { perStream[producer.stream(partition)] = count }
        }
        let errors = try consumerLoop.submit { fetcher.errors }.wait()
        for producer in producers { producer.connection.close() }
        consumer.close()
        prepared.admin.close()
        var parameters = kafkaOptions.parameters
        parameters["rate"] = String(rate)
        parameters["fetch-wait-ms"] = String(fetchWaitMs)
        parameters["topic"] = topic
        let seconds = run.measuredSeconds
        let metrics = [
            Metric(name: "consumed records/s", value: Double(gathered.events) / seconds, unit: "rec/s", higherIsBetter: true),
            Metric(name: "offered records/s", value: Double(gathered.sends) / seconds, unit: "rec/s", higherIsBetter: true),
        ]
        var failures = gathered.failures + errors
        if failedRecords > 0 { failures.append("\(failedRecords) records were refused by the broker") }
        let code = run.finish(
            workload: "kafka-e2e", label: "kafka-e2e \(kafkaOptions.recordSize) B \(shortCount(rate))/s acks=\(kafkaOptions.acks)",
            parameters: parameters, brokerAddress: kafkaOptions.kafka, metrics: metrics, latency: gathered.recorder,
            delivery: gathered.tracker.counts(sentPerStream: perStream), failures: failures,
            notes: ["latency: from a record's intended send time to its arrival in a Fetch response", "broker APIs: \(prepared.apis)"])
        throw ExitCode(code)
    }
}
