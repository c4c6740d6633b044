public import Foundation
public import KafkaProtocol
public import LogStore
import NIOConcurrencyHelpers
import NIOCore

/// A keyed record appended durably to one of the compacted internal topics the access-control stores keep
/// (`__users`, `__acls`): queued in order (call `queue` under the store's lock, so that the log's order is
/// the order of the changes) and awaited outside it.
final class DurableAppend: Sendable {
    private let state = NIOLockedValueBox<(result: Result<Void, LogError>?, waiter: CheckedContinuation<Void, any Error>?)>((nil, nil))

    /// One record per entry, each in its own batch; a nil value is a tombstone.
    static func queue(_ records: [(key: String, value: Data?)], to log: any PartitionLog) throws -> [DurableAppend] {
        let timestamp = Int64(Date().timeIntervalSince1970 * 1000)
        return try records.map { record in
            var builder = RecordBatchBuilder()
            builder.append(key: ByteBuffer(string: record.key), value: record.value.map { ByteBuffer(bytes: $0) }, headers: [], timestamp: timestamp)
            var bytes = try builder.build()
            let batch = try RecordBatch.read(from: &bytes)
            let append = DurableAppend()
            log.append(batch, durability: .durable) { append.complete($0.map { _ in }) }
            return append
        }
    }

    private func complete(_ result: Result<Void, LogError>) {
        let waiter: CheckedContinuation<Void, any Error>? = state.withLockedValue { state in
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result.mapError { $0 as any Error })
    }

    /// Returns once the record is durable; throws what the log reported.
    func value() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let result: Result<Void, LogError>? = state.withLockedValue { state in
                if state.result == nil { state.waiter = continuation }
                return state.result
            }
            if let result { continuation.resume(with: result.mapError { $0 as any Error }) }
        }
    }
}
