// Fetch (key 1), versions 4-17.
//
// Behavior: returns whole stored batches (as produced, never recompressed) from the batch holding the
// fetch offset, up to the partition's and the request's byte limits, but always the first batch of the
// first non-empty partition even when it is larger (KIP-74). Only records below the high watermark are
// returned, which is the flushed offset under group commit: a consumer never sees a record a crash could
// lose. With fewer than MinBytes available the request waits up to MaxWaitMs for new data (long poll)
// and answers as soon as any fetched partition grows.
// Sessions (KIP-227): this broker does not create incremental fetch sessions; it answers session id 0,
// which tells clients to keep sending full fetch requests. A request naming a session id gets
// FETCH_SESSION_ID_NOT_FOUND.
// Isolation: read_committed reads up to the last stable offset, equal to the high watermark while there
// are no transactions.
// Version notes: v7+ carry sessions; v11+ rack id (preferred read replica stays -1); v12+ flexible;
// v13+ name topics by id (unknown ids get UNKNOWN_TOPIC_ID); v15+ move the replica id into ReplicaState.

import KafkaProtocol
import LogStore
import NIOConcurrencyHelpers
import NIOCore

enum FetchHandler {
    struct Target {
        var topicIndex: Int
        var partitionIndex: Int
        var partition: Int32
        var log: (any PartitionLog)?
        var errorCode: KafkaErrorCode
        var fetchOffset: Int64
        var maxBytes: Int
    }

    static func handle(_ request: FetchRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        var response = FetchResponse(throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: [])
        if request.sessionId != 0 {
            response.errorCode = KafkaErrorCode.fetchSessionIdNotFound.rawValue
            return context.serial(response)
        }
        if request.sessionEpoch != 0 && request.sessionEpoch != -1 {
            response.errorCode = KafkaErrorCode.invalidFetchSessionEpoch.rawValue
            return context.serial(response)
        }
        var collected: [Target] = []
        for (topicIndex, fetchTopic) in request.topics.enumerated() {
            var name = fetchTopic.topic
            var topicKnown = true
            var unknownCode = KafkaErrorCode.unknownTopicOrPartition
            if context.version >= 13 {
                if let topic = broker.topics.topic(id: fetchTopic.topicId) {
                    name = topic.name
                } else {
                    topicKnown = false
                    unknownCode = .unknownTopicId
                }
            } else if broker.topics.topic(named: name) == nil {
                topicKnown = false
            }
            response.responses.append(FetchResponse.FetchableTopicResponse(topic: context.version >= 13 ? "" : name, topicId: fetchTopic.topicId, partitions: []))
            for (partitionIndex, fetchPartition) in fetchTopic.partitions.enumerated() {
                let log = topicKnown ? broker.log(topic: name, partition: fetchPartition.partition) : nil
                let code: KafkaErrorCode = log == nil ? unknownCode : .noError
                collected.append(Target(
                    topicIndex: topicIndex, partitionIndex: partitionIndex, partition: fetchPartition.partition, log: log,
                    errorCode: code, fetchOffset: fetchPartition.fetchOffset, maxBytes: Int(max(0, fetchPartition.partitionMaxBytes))))
                response.responses[topicIndex].partitions.append(FetchResponse.PartitionData(
                    partitionIndex: fetchPartition.partition, errorCode: code.rawValue, highWatermark: -1, lastStableOffset: -1,
                    logStartOffset: -1, abortedTransactions: nil, preferredReadReplica: -1, records: ByteBuffer()))
            }
        }
        let template = response
        let targets = collected
        // A response frame has an int32 size: keep the records well inside it.
        let totalMaxBytes = min(Int(max(0, request.maxBytes)), Int(Int32.max) - (64 << 20))
        let minBytes = Int(request.minBytes)
        let eventLoop = context.eventLoop
        let first = broker.blocking(on: eventLoop) { read(targets, into: template, totalMaxBytes: totalMaxBytes) }
        let answered = first.flatMap { (result: (FetchResponse, Int)) -> EventLoopFuture<FetchResponse> in
            let (response, bytes) = result
            let hasErrors = response.responses.contains { $0.partitions.contains { $0.errorCode != 0 } }
            if bytes >= minBytes || request.maxWaitMs <= 0 || hasErrors || targets.isEmpty {
                return eventLoop.makeSucceededFuture(response)
            }
            return waitForData(targets, timeoutMilliseconds: Int64(request.maxWaitMs), eventLoop: eventLoop).flatMap {
                broker.blocking(on: eventLoop) { read(targets, into: template, totalMaxBytes: totalMaxBytes).0 }
            }
        }
        // A waiting fetch must not hold up the connection's later requests.
        return StartedRequest(ready: eventLoop.makeSucceededVoidFuture(), response: context.encode(answered))
    }

    /// Reads every target in order within the byte budget. Returns the response and the bytes it carries.
    static func read(_ targets: [Target], into template: FetchResponse, totalMaxBytes: Int) -> (FetchResponse, Int) {
        var response = template
        var total = 0
        for target in targets {
            guard let log = target.log else { continue }
            var partition = response.responses[target.topicIndex].partitions[target.partitionIndex]
            let budget = min(target.maxBytes, max(0, totalMaxBytes - total))
            do throws(LogError) {
                let result = try log.read(from: target.fetchOffset, maxBytes: budget, minimumOneBatch: total == 0)
                partition.highWatermark = result.highWatermark
                partition.lastStableOffset = result.highWatermark
                partition.logStartOffset = result.logStartOffset
                if let records = result.records {
                    partition.records = records
                    total += records.readableBytes
                }
            } catch {
                let offsets = log.offsets
                partition.highWatermark = offsets.highWatermark
                partition.lastStableOffset = offsets.highWatermark
                partition.logStartOffset = offsets.logStartOffset
                partition.errorCode = error.kafkaErrorCode.rawValue
            }
            response.responses[target.topicIndex].partitions[target.partitionIndex] = partition
        }
        return (response, total)
    }

    /// Completes when any target's high watermark passes its fetch offset, or after the timeout.
    static func waitForData(_ targets: [Target], timeoutMilliseconds: Int64, eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let waiter = FetchWaiter(promise: eventLoop.makePromise(of: Void.self))
        for target in targets {
            guard let log = target.log else { continue }
            if let identifier = log.onHighWatermarkAdvance(beyond: target.fetchOffset, { waiter.fire() }) {
                waiter.add(log: log, identifier: identifier)
            } else {
                waiter.fire()
            }
        }
        let timeout = eventLoop.scheduleTask(in: .milliseconds(timeoutMilliseconds)) { waiter.fire() }
        waiter.promise.futureResult.whenComplete { _ in
            timeout.cancel()
            waiter.removeListeners()
        }
        return waiter.promise.futureResult
    }
}

/// One long-polling fetch: fires once, from whichever partition or timer gets there first.
///
/// Sendable: `fired` and `registrations` are guarded by `lock`; the promise is thread-safe.
final class FetchWaiter: @unchecked Sendable {
    let promise: EventLoopPromise<Void>
    private let lock = NIOLock()
    private var fired = false
    private var registrations: [(any PartitionLog, UInt64)] = []

    init(promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func add(log: any PartitionLog, identifier: UInt64) {
        let alreadyFired = lock.withLock { () -> Bool in
            if !fired { registrations.append((log, identifier)) }
            return fired
        }
        if alreadyFired { log.removeListener(identifier) }
    }

    func fire() {
        let first = lock.withLock { () -> Bool in
            defer { fired = true }
            return !fired
        }
        if first { promise.succeed(()) }
    }

    func removeListeners() {
        let taken = lock.withLock { () -> [(any PartitionLog, UInt64)] in
            defer { registrations.removeAll() }
            return registrations
        }
        for (log, identifier) in taken { log.removeListener(identifier) }
    }
}
