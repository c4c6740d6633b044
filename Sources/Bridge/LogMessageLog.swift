import KafkaProtocol
import LogStore
public import MQTTBroker
import MQTTProtocol
import NIOCore

/// The MQTT broker's message log over the topics of the ingress routes: each PUBLISH becomes one record
/// in the topic of its route, keyed by the route's template and partitioned like a Kafka producer would.
public final class LogMessageLog: MQTTMessageLog {
    let routes: RouteTable
    let topics: TopicCache
    let appender: BatchingAppender

    public init(routes: RouteTable, provider: any TopicProvider) {
        self.routes = routes
        let topics = TopicCache(provider: provider)
        self.topics = topics
        self.appender = BatchingAppender { partition in topics.invalidate(partition.topic) }
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
        let logs: [any PartitionLog]
        do {
            logs = try topics.logs(of: route.to, partitions: route.partitions)
            guard !logs.isEmpty else { throw NoPartitions(topic: route.to) }
        } catch {
            completion(.failure(error))
            return PartitionKey(topic: route.to, partition: 0)
        }
        let partition = KafkaPartitioner.partition(forKey: key.utf8, partitions: Int32(logs.count))
        let partitionKey = PartitionKey(topic: route.to, partition: partition)
        let record = BatchingAppender.Pending(
            key: ByteBuffer(string: key), value: message.payload, headers: MQTTRecordFormat.headers(of: message),
            timestamp: message.receivedAtMilliseconds
        ) { result in
            completion(result.map { LogPosition(partition: partitionKey, offset: $0) })
        }
        appender.append(record, durable: durable, to: logs[Int(partition)], partition: partitionKey)
        return partitionKey
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
                            let timestamp = batch.header.baseTimestamp &+ record.timestampDelta
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
                    if let message = MQTTRecordFormat.message(from: record, timestamp: batch.header.baseTimestamp &+ record.timestampDelta, position: position) {
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

    static func read(_ log: any PartitionLog, from offset: Int64, maxBytes: Int) async -> ReadOutcome {
        do {
            return .records(try await log.readAsync(from: offset, maxBytes: maxBytes, minimumOneBatch: true))
        } catch {
            if case .offsetOutOfRange(_, let logStartOffset, _) = error { return .before(logStartOffset) }
            return .failure(error)
        }
    }

    private func existingLog(_ partition: PartitionKey) throws -> (any PartitionLog)? {
        let logs = try topics.logs(of: partition.topic, partitions: 1)
        return Int(partition.partition) < logs.count ? logs[Int(partition.partition)] : nil
    }
}
