import KafkaProtocol
import LogStore
import MQTTBroker
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Appends single records to partition logs, gathering those made during one turn of the calling event
/// loop into one batch per partition (and durability): one write, one index entry and one completion
/// per batch instead of per record. Order per partition is kept: a change of durability writes what was
/// gathered first, and everything is issued from the calling loop in call order.
///
/// Callers must append to one partition from one event loop (the broker's, a rule engine's); off any
/// event loop each record is written at once.
final class BatchingAppender: Sendable {
    struct Pending: Sendable {
        let key: ByteBuffer?
        let value: ByteBuffer?
        let headers: [RecordHeader]
        let timestamp: Int64
        /// The record's offset, or why it was not stored.
        let completion: @Sendable (Result<Int64, any Error>) -> Void

        /// A size estimate, to stay well below max.message.bytes.
        var estimatedBytes: Int {
            (key?.readableBytes ?? 0) + (value?.readableBytes ?? 0) + headers.reduce(0) { $0 + $1.key.utf8.count + ($1.value?.readableBytes ?? 0) + 4 } + 32
        }
    }

    static let maximumRecordsPerBatch = 500
    static let maximumBatchBytes = 256 << 10

    private struct Gathered {
        let log: any PartitionLog
        var durable: Bool
        var records: [Pending] = []
        var bytes = 0
    }

    private struct State {
        var buffers: [PartitionKey: Gathered] = [:]
        var turnEndScheduled = false
    }

    private let state = NIOLockedValueBox(State())
    /// Told of an append failure (to drop a cached log of a deleted topic).
    private let onFailure: @Sendable (PartitionKey) -> Void

    init(onFailure: @escaping @Sendable (PartitionKey) -> Void) {
        self.onFailure = onFailure
    }

    func append(_ record: Pending, durable: Bool, to log: any PartitionLog, partition: PartitionKey) {
        guard let eventLoop = MultiThreadedEventLoopGroup.currentEventLoop else {
            write([record], durable: durable, to: log, partition: partition)
            return
        }
        let (toWrite, scheduleTurnEnd): ([([Pending], Bool)], Bool) = state.withLockedValue { state in
            var toWrite: [([Pending], Bool)] = []
            // Taken out of the dictionary while it grows, so that appending does not copy the array.
            var buffer = state.buffers.removeValue(forKey: partition) ?? Gathered(log: log, durable: durable)
            if buffer.durable != durable && !buffer.records.isEmpty {
                toWrite.append((buffer.records, buffer.durable))
                buffer.records = []
                buffer.bytes = 0
            }
            buffer.durable = durable
            buffer.records.append(record)
            buffer.bytes += record.estimatedBytes
            if buffer.records.count >= Self.maximumRecordsPerBatch || buffer.bytes >= Self.maximumBatchBytes {
                toWrite.append((buffer.records, durable))
                buffer.records = []
                buffer.bytes = 0
            }
            state.buffers[partition] = buffer
            let schedule = !state.turnEndScheduled
            state.turnEndScheduled = true
            return (toWrite, schedule)
        }
        for (records, recordsDurable) in toWrite {
            write(records, durable: recordsDurable, to: log, partition: partition)
        }
        if scheduleTurnEnd {
            eventLoop.execute { self.flushGathered() }
        }
    }

    private func flushGathered() {
        let buffers: [PartitionKey: Gathered] = state.withLockedValue { state in
            let buffers = state.buffers
            state.buffers = [:]
            state.turnEndScheduled = false
            return buffers
        }
        for (partition, buffer) in buffers where !buffer.records.isEmpty {
            write(buffer.records, durable: buffer.durable, to: buffer.log, partition: partition)
        }
    }

    /// Appends records as one batch; each completion gets its own record's offset.
    private func write(_ records: [Pending], durable: Bool, to log: any PartitionLog, partition: PartitionKey) {
        var builder = RecordBatchBuilder()
        for record in records {
            builder.append(key: record.key, value: record.value, headers: record.headers, timestamp: record.timestamp)
        }
        let batch: RecordBatch
        do {
            var bytes = try builder.build()
            batch = try RecordBatch.read(from: &bytes)
        } catch {
            for record in records { record.completion(.failure(error)) }
            return
        }
        let onFailure = self.onFailure
        log.append(batch, durability: durable ? .durable : .written) { result in
            switch result {
            case .success(let appended):
                for (index, record) in records.enumerated() {
                    record.completion(.success(appended.baseOffset + Int64(index)))
                }
            case .failure(let error):
                onFailure(partition)
                for record in records { record.completion(.failure(error)) }
            }
        }
    }
}
