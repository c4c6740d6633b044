import KafkaProtocol
import LogStore
public import MQTTBroker
import MQTTProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The MQTT broker's message log over the topics of the ingress routes: each PUBLISH becomes one record
/// in the topic of its route, keyed by the route's template and partitioned like a Kafka producer would.
public final class LogMessageLog: MQTTMessageLog {
    let routes: RouteTable
    let topics: TopicCache

    public init(routes: RouteTable, provider: any TopicProvider) {
        self.routes = routes
        self.topics = TopicCache(provider: provider)
    }

    /// Creates the routes' topics that do not exist yet (blocking).
    public func prepareTopics() throws {
        for (topic, partitions) in routes.targetTopics {
            _ = try topics.logs(of: topic, partitions: partitions)
        }
    }

    public func append(_ message: MQTTMessage, durable: Bool, completion: @escaping @Sendable (Result<LogPosition, any Error>) -> Void) -> PartitionKey {
        let route = routes.route(for: message.topic)
        let key = route.key.render(clientId: message.publisherClientId, username: message.publisherUsername, topic: message.topic)
        let logs: [PartitionLog]
        do {
            logs = try topics.logs(of: route.to, partitions: route.partitions)
            guard !logs.isEmpty else { throw NoPartitions(topic: route.to) }
        } catch {
            completion(.failure(error))
            return PartitionKey(topic: route.to, partition: 0)
        }
        let partition = KafkaPartitioner.partition(forKey: key.utf8, partitions: Int32(logs.count))
        let partitionKey = PartitionKey(topic: route.to, partition: partition)
        let pending = PendingRecord(key: ByteBuffer(string: key), message: message, completion: completion)
        let log = logs[Int(partition)]
        guard let eventLoop = MultiThreadedEventLoopGroup.currentEventLoop else {
            // Not on an event loop (tests, tools): nothing to gather with.
            write([pending], durable: durable, to: log, partition: partitionKey)
            return partitionKey
        }
        // Appends made during one turn of the event loop go to the log as one batch per partition (and
        // durability): one write, one index entry and one completion hop instead of one per message.
        // Order is kept: a change of durability writes what was gathered first.
        let (toWrite, scheduleTurnEnd): ([([PendingRecord], Bool)], Bool) = gathering.withLockedValue { gathered in
            var toWrite: [([PendingRecord], Bool)] = []
            // Taken out of the dictionary while it grows, so that appending does not copy the array.
            var buffer = gathered.buffers.removeValue(forKey: partitionKey) ?? Gathered(log: log, durable: durable)
            if buffer.durable != durable && !buffer.records.isEmpty {
                toWrite.append((buffer.records, buffer.durable))
                buffer.records = []
                buffer.bytes = 0
            }
            buffer.durable = durable
            buffer.records.append(pending)
            // An estimate of the record's size (payload, key, headers), to stay well below max.message.bytes.
            buffer.bytes += message.payload.readableBytes + key.utf8.count + message.topic.utf8.count * 2 + 128
            if buffer.records.count >= Self.maximumRecordsPerBatch || buffer.bytes >= Self.maximumBatchBytes {
                toWrite.append((buffer.records, durable))
                buffer.records = []
                buffer.bytes = 0
            }
            gathered.buffers[partitionKey] = buffer
            let schedule = !gathered.turnEndScheduled
            gathered.turnEndScheduled = true
            return (toWrite, schedule)
        }
        // Everything here runs on one event loop (the broker's), so these writes and the turn-end flush
        // are issued in call order.
        for (records, recordsDurable) in toWrite {
            write(records, durable: recordsDurable, to: log, partition: partitionKey)
        }
        if scheduleTurnEnd {
            eventLoop.execute { self.flushGathered() }
        }
        return partitionKey
    }

    static let maximumRecordsPerBatch = 500
    static let maximumBatchBytes = 256 << 10

    /// Records waiting for the end of the event loop's turn, per partition.
    private struct Gathered {
        let log: PartitionLog
        var durable: Bool
        var records: [PendingRecord] = []
        var bytes = 0
    }

    private struct GatheringState {
        var buffers: [PartitionKey: Gathered] = [:]
        var turnEndScheduled = false
    }

    struct PendingRecord: Sendable {
        let key: ByteBuffer
        let message: MQTTMessage
        let completion: @Sendable (Result<LogPosition, any Error>) -> Void
    }

    private let gathering = NIOLockedValueBox(GatheringState())

    private func flushGathered() {
        let buffers: [PartitionKey: Gathered] = gathering.withLockedValue { gathered in
            let buffers = gathered.buffers
            gathered.buffers = [:]
            gathered.turnEndScheduled = false
            return buffers
        }
        for (partition, buffer) in buffers where !buffer.records.isEmpty {
            write(buffer.records, durable: buffer.durable, to: buffer.log, partition: partition)
        }
    }

    /// Appends records as one batch; each completion gets its own record's position.
    private func write(_ records: [PendingRecord], durable: Bool, to log: PartitionLog, partition: PartitionKey) {
        var builder = RecordBatchBuilder()
        for record in records {
            builder.append(
                key: record.key, value: record.message.payload, headers: MQTTRecordFormat.headers(of: record.message),
                timestamp: record.message.receivedAtMilliseconds)
        }
        let batch: RecordBatch
        do {
            var bytes = try builder.build()
            batch = try RecordBatch.read(from: &bytes)
        } catch {
            for record in records { record.completion(.failure(error)) }
            return
        }
        let topics = self.topics
        log.append(batch, durability: durable ? .durable : .written) { result in
            switch result {
            case .success(let appended):
                for (index, record) in records.enumerated() {
                    record.completion(.success(LogPosition(partition: partition, offset: appended.baseOffset + Int64(index))))
                }
            case .failure(let error):
                topics.invalidate(partition.topic)
                for record in records { record.completion(.failure(error)) }
            }
        }
    }

    public func read(from start: [PartitionKey: Int64], until end: [PartitionKey: Int64], limit: Int) async throws -> (messages: [MQTTMessage], next: [PartitionKey: Int64]) {
        var messages: [MQTTMessage] = []
        var next = start
        for (partition, startOffset) in start.sorted(by: { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }) {
            guard messages.count < limit else { break }
            let endOffset = end[partition] ?? startOffset
            guard startOffset < endOffset else { continue }
            guard let log = try existingLog(partition) else {
                next[partition] = endOffset  // the topic is gone: nothing to read
                continue
            }
            var offset = startOffset
            reading: while offset < endOffset && messages.count < limit {
                let result: ReadResult
                switch await Self.read(log, from: offset, maxBytes: 1 << 20) {
                case .records(let read):
                    result = read
                case .before(let logStartOffset):
                    // Deleted by retention: continue from what is left.
                    if logStartOffset > offset { offset = logStartOffset; continue } else { break reading }
                case .failure(let error):
                    throw error
                }
                guard var bytes = result.records else { break }
                for batch in try RecordBatch.validatedBatches(in: &bytes) {
                    if batch.header.lastOffset < offset { continue }
                    if batch.header.baseOffset >= endOffset { break reading }
                    if !batch.header.isControl {
                        for record in try batch.records() {
                            let recordOffset = batch.header.baseOffset + Int64(record.offsetDelta)
                            guard recordOffset >= offset, recordOffset < endOffset else { continue }
                            let timestamp = batch.header.baseTimestamp + record.timestampDelta
                            if let message = MQTTRecordFormat.message(from: record, timestamp: timestamp, position: LogPosition(partition: partition, offset: recordOffset)) {
                                messages.append(message)
                            }
                        }
                    }
                    offset = batch.header.lastOffset + 1
                }
            }
            next[partition] = min(offset, endOffset)
        }
        return (messages, next)
    }

    public func read(positions: [LogPosition]) async throws -> [MQTTMessage] {
        var messages: [MQTTMessage] = []
        for position in positions {
            guard let log = try existingLog(position.partition) else { continue }
            let result: ReadResult
            switch await Self.read(log, from: position.offset, maxBytes: 1) {
            case .records(let read): result = read
            case .before: continue
            case .failure(let error): throw error
            }
            guard var bytes = result.records else { continue }
            search: for batch in try RecordBatch.validatedBatches(in: &bytes) where !batch.header.isControl {
                for record in try batch.records() where batch.header.baseOffset + Int64(record.offsetDelta) == position.offset {
                    if let message = MQTTRecordFormat.message(from: record, timestamp: batch.header.baseTimestamp + record.timestampDelta, position: position) {
                        messages.append(message)
                    }
                    break search
                }
            }
        }
        return messages
    }

    public func endOffsets() async throws -> [PartitionKey: Int64] {
        var ends: [PartitionKey: Int64] = [:]
        for (topic, partitions) in routes.targetTopics {
            let logs = try topics.logs(of: topic, partitions: partitions)
            for (index, log) in logs.enumerated() {
                ends[PartitionKey(topic: topic, partition: Int32(index))] = log.offsets.logEndOffset
            }
        }
        return ends
    }

    enum ReadOutcome {
        case records(ReadResult)
        /// The offset was deleted; the log starts here.
        case before(Int64)
        case failure(LogError)
    }

    static func read(_ log: PartitionLog, from offset: Int64, maxBytes: Int) async -> ReadOutcome {
        do {
            return .records(try await log.readAsync(from: offset, maxBytes: maxBytes, minimumOneBatch: true))
        } catch {
            if case .offsetOutOfRange(_, let logStartOffset, _) = error { return .before(logStartOffset) }
            return .failure(error)
        }
    }

    private func existingLog(_ partition: PartitionKey) throws -> PartitionLog? {
        let logs = try topics.logs(of: partition.topic, partitions: 1)
        return Int(partition.partition) < logs.count ? logs[Int(partition.partition)] : nil
    }
}
