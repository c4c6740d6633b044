public import Foundation
public import KafkaProtocol
public import LogStore
import NIOConcurrencyHelpers
import NIOCore

/// The keyed records of one change, appended durably as one batch (all or none of them) to one of the
/// compacted internal topics the access-control stores keep (`__users`, `__acls`), and awaited.
final class DurableAppend: Sendable {
    private let state = NIOLockedValueBox<(result: Result<Void, LogError>?, waiter: CheckedContinuation<Void, any Error>?)>((nil, nil))

    /// Appends the records (a nil value is a tombstone) as one batch; `value()` waits until it is durable.
    static func queue(_ records: [(key: String, value: Data?)], to log: any PartitionLog) throws -> DurableAppend {
        let timestamp = Int64(Date().timeIntervalSince1970 * 1000)
        var builder = RecordBatchBuilder()
        for record in records {
            builder.append(key: ByteBuffer(string: record.key), value: record.value.map { ByteBuffer(bytes: $0) }, headers: [], timestamp: timestamp)
        }
        var bytes = try builder.build()
        let batch = try RecordBatch.read(from: &bytes)
        let append = DurableAppend()
        log.append(batch, durability: .durable) { append.complete($0.map { _ in }) }
        return append
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

/// Runs a store's changes one at a time, in the order they were asked for: each computes from what the
/// previous ones left, writes its batch, and takes effect before the next starts, so what is in force
/// always matches the log's order. Changes are rare administrative requests; waiting for each other costs
/// nothing that matters.
actor SerialChanges {
    private var last: Task<Void, Never>? = nil

    func run<T: Sendable>(_ change: @escaping @Sendable () async throws -> T) async throws -> T {
        let previous = last
        let task = Task { () async throws -> T in
            await previous?.value
            return try await change()
        }
        last = Task { _ = try? await task.value }
        return try await task.value
    }
}
