import KafkaProtocol
import LogStore
public import MQTTBroker
import MQTTProtocol
import NIOCore

/// The MQTT broker's message log over the topics of the ingress routes: each PUBLISH becomes one record
/// in the topic of its route, keyed by the route's template and partitioned like a Kafka producer would.
public final class LogMessageLog: MQTTMessageLog {
    let routes: RouteTable
    let writer: KeyedRecordWriter

    public init(routes: RouteTable, provider: any TopicProvider) {
        self.routes = routes
        self.writer = KeyedRecordWriter(provider: provider)
    }

    /// Creates the routes' topics that do not exist yet (blocking).
    public func prepareTopics() throws {
        for (topic, partitions) in routes.targetTopics {
            try writer.prepare(topic, partitions: partitions)
        }
    }

    public func append(_ message: MQTTMessage, durable: Bool, completion: @escaping @Sendable (Result<LogPosition, any Error>) -> Void) -> PartitionKey {
        let route = routes.route(for: message.topic)
        let key = route.key.render(clientId: message.publisherClientId, username: message.publisherUsername, topic: message.topic)
        return writer.write(
            to: route.to, creatingWith: route.partitions, key: key, value: message.payload, headers: MQTTRecordFormat.headers(of: message),
            timestamp: message.receivedAtMilliseconds, durable: durable, completion: completion)
    }

    public func read(from start: [PartitionKey: Int64], until end: [PartitionKey: Int64], limit: Int) async throws -> (messages: [MQTTMessage], next: [PartitionKey: Int64]) {
        var messages: [MQTTMessage] = []
        var next = start
        for (partition, startOffset) in start.sorted(by: { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }) {
            guard messages.count < limit else { break }
            let endOffset = end[partition] ?? startOffset
            guard startOffset < endOffset else { continue }
            guard let log = existingLog(partition) else {
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
            guard let log = existingLog(position.partition) else { continue }
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

    /// The end offsets of the routes' topics that exist (reading creates none).
    public func endOffsets() async throws -> [PartitionKey: Int64] {
        var ends: [PartitionKey: Int64] = [:]
        for topic in routes.targetTopics.keys {
            guard let logs = writer.topics.existingLogs(of: topic) else { continue }
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

    /// The log of a partition of an existing topic; nil when the topic or partition is gone (a deleted
    /// topic is not created again by reading it).
    private func existingLog(_ partition: PartitionKey) -> (any PartitionLog)? {
        guard let logs = writer.topics.existingLogs(of: partition.topic), partition.partition >= 0, Int(partition.partition) < logs.count else { return nil }
        return logs[Int(partition.partition)]
    }
}
