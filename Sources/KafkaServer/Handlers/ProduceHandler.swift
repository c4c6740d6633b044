// Produce (key 0), versions 0-11 advertised; 0-2 answered UNSUPPORTED_VERSION per partition.
//
// Behavior: each partition's records must be exactly one record batch with magic 2 and a valid CRC
// (INVALID_RECORD / CORRUPT_MESSAGE / UNSUPPORTED_COMPRESSION_TYPE as Kafka answers; nothing is written).
// Every record is then checked as Kafka's LogValidator does (offset deltas, lengths, count, the
// decompressed size bound, keys for compacted topics, timestamps within message.timestamp.before/after.max.ms)
// and the batch-level max timestamp is recomputed from the records (clients such as sarama send -1);
// a topic whose compression.type names a codec gets the batch recompressed. Uncompressed small batches are
// checked on the event loop; compressed or large ones on the I/O pool, so no event loop inflates a batch.
// Internal topics (`__consumer_offsets`, the MQTT state) refuse client writes with INVALID_TOPIC_EXCEPTION;
// topics only the server writes (the MQTT events topic) with TOPIC_AUTHORIZATION_FAILED, and so do topics
// the principal may not WRITE (with the ACL authorizer); auto-creating a topic also needs CREATE on the
// cluster or the topic.
// acks=-1 waits for the group-commit flush, acks=1 for the write, acks=0 gets no response. Unknown
// topics are auto-created when auto.create.topics.enable is on. Appends are queued in request order before
// the next request on the connection starts, so pipelined produces keep their order; when a partition's
// append queue is past its bound, the next request waits for room (the connection stops being read).
// Idempotent batches (producer id set) are checked against the partition's producer state by its writer:
// a duplicate gets the original offsets, a gap OUT_OF_ORDER_SEQUENCE_NUMBER, an old epoch
// INVALID_PRODUCER_EPOCH. Transactional batches get INVALID_RECORD: transactions are not supported.
// Version notes: v3+ carry batches with magic 2 only; v7+ may use zstd; v8+ responses carry RecordErrors
// and ErrorMessage; v9+ flexible; v10+ may report the current leader (not needed with one broker).

import AccessControl
import Coordinator
import KafkaProtocol
import LogStore
import NIOCore

enum ProduceHandler {
    struct PartitionOutcome {
        var topicIndex: Int
        var partition: ProduceResponse.PartitionProduceResponse
    }

    static func handle(_ request: ProduceRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let names = request.topicData.map(\.name)
        let missing = names.filter {
            broker.topics.topic(named: $0) == nil && context.authorized(.write, .topic, $0, quietly: true)
                && (context.authorizedOnCluster(.create, quietly: true) || context.authorized(.create, .topic, $0))
        }
        if missing.isEmpty {
            return appendAll(request, context: context)
        }
        // Creating topics is blocking I/O: do it on the pool, then queue the appends. The next request on
        // the connection waits until they are queued.
        let created = broker.blocking(on: context.eventLoop) { () -> Void in
            for name in Set(missing) {
                do throws(TopicError) {
                    try TopicRegistry.validateName(name)
                    _ = try broker.topicCreatingIfAllowed(name, allowed: true)
                } catch {
                    if case .storage = error {
                        context.logger.error("auto-creating a topic failed", metadata: ["topic": "\(name)", "error": "\(error)"])
                    }
                }
            }
        }
        let readyPromise = context.eventLoop.makePromise(of: Void.self)
        let responsePromise = context.eventLoop.makePromise(of: OutboundResponse.self)
        created.whenComplete { _ in
            let started = appendAll(request, context: context)
            readyPromise.completeWith(started.ready)
            if let response = started.response {
                responsePromise.completeWith(response)
            } else {
                responsePromise.fail(NoResponseForAcksZero())
            }
        }
        return StartedRequest(ready: readyPromise.futureResult, response: request.acks == 0 ? nil : responsePromise.futureResult)
    }

    struct NoResponseForAcksZero: Error {}

    /// One partition's batch on its way to the log.
    struct PendingPartition {
        var topicIndex: Int
        var partition: Int32
        var log: any PartitionLog
        var batch: RecordBatch
        var rules: ProduceValidationRules
    }

    static func appendAll(_ request: ProduceRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let eventLoop = context.eventLoop
        var outcomes: [EventLoopFuture<PartitionOutcome>] = []
        var queued: [EventLoopFuture<AppendAdmission>] = []
        let durability: AppendDurability = request.acks == -1 ? .durable : .written
        let acksValid = request.acks == -1 || request.acks == 0 || request.acks == 1
        var offloaded: [(PendingPartition, EventLoopPromise<PartitionOutcome>)] = []
        let now = LogManager.wallClockMilliseconds()
        for (topicIndex, topicData) in request.topicData.enumerated() {
            let topic = broker.topics.topic(named: topicData.name)
            let writable = context.authorized(.write, .topic, topicData.name)
            for partitionData in topicData.partitionData {
                func failed(_ code: KafkaErrorCode, _ message: String? = nil, recordErrors: [ProduceResponse.BatchIndexAndErrorMessage] = []) -> EventLoopFuture<PartitionOutcome> {
                    eventLoop.makeSucceededFuture(PartitionOutcome(topicIndex: topicIndex, partition: errorPartition(partitionData.index, code, message: message, recordErrors: recordErrors)))
                }
                guard acksValid else {
                    outcomes.append(failed(.invalidRequiredAcks))
                    continue
                }
                guard context.version >= 3 else {
                    outcomes.append(failed(.unsupportedVersion, "Produce versions below 3 (message format v0/v1) are not supported"))
                    continue
                }
                guard writable else {
                    outcomes.append(failed(.topicAuthorizationFailed))
                    continue
                }
                guard let topic else {
                    let code: KafkaErrorCode = (try? TopicRegistry.validateName(topicData.name)) == nil ? .invalidTopicException : .unknownTopicOrPartition
                    outcomes.append(failed(code))
                    continue
                }
                if topic.isInternal {
                    outcomes.append(failed(.invalidTopicException, "Cannot append to internal topic \(topic.name)"))
                    continue
                }
                if broker.configuration.serverWrittenTopics.contains(topic.name) {
                    // What the server writes about clients (device events) no client may write.
                    context.logger.warning("refused a produce to a topic only the server writes", metadata: [
                        "topic": "\(topic.name)", "principal": "\(context.session.principal)",
                    ])
                    outcomes.append(failed(.topicAuthorizationFailed, "Only the server writes to \(topic.name)"))
                    continue
                }
                guard let log = broker.log(topic: topic.name, partition: partitionData.index) else {
                    outcomes.append(failed(.unknownTopicOrPartition))
                    continue
                }
                // The topic's value or the broker's default (this broker is the only replica).
                if request.acks == -1, case let minimum = log.currentConfig.minInsyncReplicas, minimum > 1 {
                    outcomes.append(failed(.notEnoughReplicas, "min.insync.replicas is \(minimum) but this broker is the only replica"))
                    continue
                }
                let batch: RecordBatch
                do throws(RecordBatchError) {
                    batch = try RecordBatch.validateForProduce(partitionData.records ?? ByteBuffer(), apiVersion: context.version)
                } catch {
                    context.logger.info("refused a produce batch", metadata: ["topic": "\(topic.name)", "partition": "\(partitionData.index)", "error": "\(error)"])
                    outcomes.append(failed(error.errorCode, error.description))
                    continue
                }
                if batch.header.isTransactional || request.transactionalId != nil {
                    outcomes.append(failed(.invalidRecord, "transactional produce is not supported"))
                    continue
                }
                let pending = PendingPartition(topicIndex: topicIndex, partition: partitionData.index, log: log, batch: batch,
                                               rules: broker.validationRules(for: topic, log: log))
                let promise = eventLoop.makePromise(of: PartitionOutcome.self)
                outcomes.append(promise.futureResult)
                if batch.validationIsExpensive(rules: pending.rules) {
                    offloaded.append((pending, promise))
                } else {
                    queued.append(eventLoop.makeSucceededFuture(validateAndAppend(pending, now: now, durability: durability, promise: promise, context: context)))
                }
            }
        }
        if !offloaded.isEmpty {
            // Decompression and recompression run on the I/O pool; the appends are queued from there, in
            // request order, before the next request on the connection may start.
            let items = offloaded
            queued.append(broker.blocking(on: eventLoop) { () -> AppendAdmission in
                var admission = AppendAdmission.queued
                for (pending, promise) in items where validateAndAppend(pending, now: now, durability: durability, promise: promise, context: context) == .queuedPastBound {
                    admission = .queuedPastBound
                }
                return admission
            })
        }
        let ready = EventLoopFuture.whenAllSucceed(queued, on: eventLoop).flatMap { admissions -> EventLoopFuture<Void> in
            // A log past its append bound holds the connection's next request until it has room.
            let crowded = admissions.contains(.queuedPastBound)
            guard crowded else { return eventLoop.makeSucceededVoidFuture() }
            return waitForRoom(in: Self.logs(of: request, broker: broker), eventLoop: eventLoop)
        }
        guard request.acks != 0 else {
            // No response; still log failures so that a client that cannot see them leaves a trace.
            EventLoopFuture.whenAllComplete(outcomes, on: eventLoop).whenSuccess { results in
                for case .success(let outcome) in results where outcome.partition.errorCode != 0 {
                    context.logger.info("acks=0 produce failed", metadata: ["errorCode": "\(outcome.partition.errorCode)"])
                }
            }
            return StartedRequest(ready: ready, response: nil)
        }
        let response = EventLoopFuture.whenAllSucceed(outcomes, on: eventLoop).map { results -> ProduceResponse in
            var response = ProduceResponse(responses: request.topicData.map { .init(name: $0.name, partitionResponses: []) }, throttleTimeMs: 0)
            for outcome in results {
                response.responses[outcome.topicIndex].partitionResponses.append(outcome.partition)
            }
            return response
        }
        return StartedRequest(ready: ready, response: context.encode(response))
    }

    /// Validates one partition's batch (Kafka's record checks) and queues it; completes `promise` with the
    /// partition's answer. Runs on the event loop or the I/O pool.
    static func validateAndAppend(_ pending: PendingPartition, now: Int64, durability: AppendDurability, promise: EventLoopPromise<PartitionOutcome>, context: RequestContext) -> AppendAdmission {
        let topicIndex = pending.topicIndex
        let index = pending.partition
        let batch: RecordBatch
        do throws(ProduceValidationError) {
            batch = try pending.batch.validatedForAppend(rules: pending.rules, nowMilliseconds: now)
        } catch {
            context.logger.info("refused a produce batch", metadata: ["partition": "\(pending.log.topicPartition)", "error": "\(error)"])
            var recordErrors: [ProduceResponse.BatchIndexAndErrorMessage] = []
            if case .records(_, _, let problems) = error {
                recordErrors = problems.map { .init(batchIndex: Int32(clamping: $0.index), batchIndexErrorMessage: $0.message) }
            }
            promise.succeed(PartitionOutcome(topicIndex: topicIndex, partition: errorPartition(index, error.errorCode, message: error.description, recordErrors: recordErrors)))
            return .queued
        }
        return pending.log.append(batch, durability: durability) { result in
            switch result {
            case .success(let appended):
                promise.succeed(PartitionOutcome(topicIndex: topicIndex, partition: ProduceResponse.PartitionProduceResponse(
                    index: index, errorCode: 0, baseOffset: appended.baseOffset, logAppendTimeMs: appended.logAppendTime,
                    logStartOffset: appended.logStartOffset)))
            case .failure(let error):
                promise.succeed(PartitionOutcome(topicIndex: topicIndex, partition: errorPartition(index, error.kafkaErrorCode, message: error.description)))
            }
        }
    }

    static func logs(of request: ProduceRequest, broker: Broker) -> [any PartitionLog] {
        request.topicData.flatMap { topic in topic.partitionData.compactMap { broker.log(topic: topic.name, partition: $0.index) } }
    }

    /// Completes once every log has room in its append queue.
    static func waitForRoom(in logs: [any PartitionLog], eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let waits = logs.map { log -> EventLoopFuture<Void> in
            let promise = eventLoop.makePromise(of: Void.self)
            log.whenAppendQueueHasRoom { promise.succeed(()) }
            return promise.futureResult
        }
        return EventLoopFuture.andAllSucceed(waits, on: eventLoop)
    }

    static func errorPartition(_ index: Int32, _ code: KafkaErrorCode, message: String? = nil, recordErrors: [ProduceResponse.BatchIndexAndErrorMessage] = []) -> ProduceResponse.PartitionProduceResponse {
        ProduceResponse.PartitionProduceResponse(
            index: index, errorCode: code.rawValue, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1,
            recordErrors: recordErrors, errorMessage: message)
    }
}
