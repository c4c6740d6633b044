// Fetch (key 1), versions 4-17.
//
// Behavior: returns stored batches (as produced, never recompressed) from the batch holding the fetch
// offset, up to the partition's and the request's byte limits, but always the first batch of the first
// non-empty partition even when it is larger (KIP-74); as on Kafka, the last batch may be cut at the byte
// limit (clients drop the partial batch). On plaintext listeners, ranges of a segment already verified are
// sent from the file with sendfile(2), never copied through the server; others (and everything on TLS
// listeners) are read, checked and sent as bytes, and a corrupt
// batch answers KAFKA_STORAGE_ERROR. Only records below the high watermark are returned, which is the
// flushed offset under group commit: a consumer never sees a record a crash could lose. With fewer than
// MinBytes available the request waits up to MaxWaitMs for new data (long poll) and answers as soon as any
// fetched partition grows.
// Sessions (KIP-227): this broker does not create incremental fetch sessions; it answers session id 0,
// which tells clients to keep sending full fetch requests. A request naming a session id gets
// FETCH_SESSION_ID_NOT_FOUND.
// Authorization (with the ACL authorizer): READ on the topic, else TOPIC_AUTHORIZATION_FAILED.
// Isolation: read_committed reads up to the last stable offset, equal to the high watermark while there
// are no transactions.
// Version notes: below v10 a topic whose compression.type is zstd answers UNSUPPORTED_COMPRESSION_TYPE (as
// Kafka does: those clients predate zstd); v7+ carry sessions; v11+ rack id (preferred read replica stays -1); v12+ flexible;
// v13+ name topics by id (unknown ids get UNKNOWN_TOPIC_ID); v15+ move the replica id into ReplicaState.

import AccessControl
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
            // Unknown topic ids (v13+) stay UNKNOWN_TOPIC_ID; a name is checked whether or not it exists, so
            // that the answer does not tell who may not read it which topics exist (as Kafka).
            if Broker.isHidden(topic: name) || ((topicKnown || context.version < 13) && !context.authorized(.read, .topic, name)) {
                // The user base and the ACLs are no client's to read; with ACLs, reading needs READ.
                topicKnown = false
                unknownCode = .topicAuthorizationFailed
            }
            response.responses.append(FetchResponse.FetchableTopicResponse(topic: context.version >= 13 ? "" : name, topicId: fetchTopic.topicId, partitions: []))
            for (partitionIndex, fetchPartition) in fetchTopic.partitions.enumerated() {
                var log = topicKnown ? broker.log(topic: name, partition: fetchPartition.partition) : nil
                var code: KafkaErrorCode = log == nil ? unknownCode : .noError
                if context.version < 10, case .zstd = log?.currentConfig.compression {
                    // As Kafka: a topic stored as zstd cannot be read by clients older than zstd (Fetch v10).
                    code = .unsupportedCompressionType
                    log = nil
                }
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
        let sendsFiles = context.endpoint.sendsFiles
        let first = broker.blocking(on: eventLoop) { read(targets, into: template, totalMaxBytes: totalMaxBytes, sendsFiles: sendsFiles) }
        let answered = first.flatMap { (result: FetchAnswer) -> EventLoopFuture<FetchAnswer> in
            let hasErrors = result.response.responses.contains { $0.partitions.contains { $0.errorCode != 0 } }
            if result.bytes >= minBytes || request.maxWaitMs <= 0 || hasErrors || targets.isEmpty {
                return eventLoop.makeSucceededFuture(result)
            }
            return waitForData(targets, timeoutMilliseconds: Int64(request.maxWaitMs), eventLoop: eventLoop).flatMap {
                broker.blocking(on: eventLoop) { read(targets, into: template, totalMaxBytes: totalMaxBytes, sendsFiles: sendsFiles) }
            }
        }
        let correlationId = context.header.correlationId
        let version = context.version
        let encoded = answered.flatMapThrowing { answer -> OutboundResponse in
            var buffer = ByteBuffer()
            try KafkaResponseFrame.encode(answer.response, correlationId: correlationId, version: version, into: &buffer)
            return try answer.splicer.splice(buffer, compact: version >= 12)
        }
        // A waiting fetch must not hold up the connection's later requests.
        return StartedRequest(ready: eventLoop.makeSucceededVoidFuture(), response: encoded)
    }

    struct FetchAnswer: Sendable {
        var response: FetchResponse
        /// Record bytes the response carries (in memory or as file ranges).
        var bytes: Int
        var splicer: RecordsSplicer
    }

    /// Reads every target in order within the byte budget. Without `sendsFiles` (TLS, which encrypts in the
    /// process) every answer is read into memory.
    static func read(_ targets: [Target], into template: FetchResponse, totalMaxBytes: Int, sendsFiles: Bool) -> FetchAnswer {
        var response = template
        var total = 0
        var splicer = RecordsSplicer()
        for target in targets {
            guard let log = target.log else { continue }
            var partition = response.responses[target.topicIndex].partitions[target.partitionIndex]
            let budget = min(target.maxBytes, max(0, totalMaxBytes - total))
            do throws(LogError) {
                let result: SendableRead
                if sendsFiles {
                    result = try log.readForSending(from: target.fetchOffset, maxBytes: budget, minimumOneBatch: total == 0)
                } else {
                    let read = try log.read(from: target.fetchOffset, maxBytes: budget, minimumOneBatch: total == 0)
                    result = SendableRead(records: read.records.map { .bytes($0) }, highWatermark: read.highWatermark, logStartOffset: read.logStartOffset, logEndOffset: read.logEndOffset)
                }
                partition.highWatermark = result.highWatermark
                partition.lastStableOffset = result.highWatermark
                partition.logStartOffset = result.logStartOffset
                switch result.records {
                case .bytes(let bytes)?:
                    partition.records = bytes
                    total += bytes.readableBytes
                case .file(let file, let range)?:
                    partition.records = splicer.placeholder(for: file, range)
                    total += range.count
                case nil:
                    break
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
        return FetchAnswer(response: response, bytes: total, splicer: splicer)
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
