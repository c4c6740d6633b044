// Produce (key 0), versions 0-11 advertised; 0-2 answered UNSUPPORTED_VERSION per partition.
//
// Behavior: each partition's records must be exactly one record batch with magic 2 and a valid CRC
// (INVALID_RECORD / CORRUPT_MESSAGE / UNSUPPORTED_COMPRESSION_TYPE as Kafka answers; nothing is written).
// Batches are stored as received (no recompression); the broker only assigns offsets. acks=-1 waits for
// the group-commit flush, acks=1 for the write, acks=0 gets no response. Unknown topics are auto-created
// when auto.create.topics.enable is on. Compacted topics refuse records without a key (INVALID_RECORD
// with RecordErrors). Appends are queued in request order before the next request on the connection
// starts, so pipelined produces keep their order.
// Idempotent batches (producer id set) are checked against the partition's producer state under the
// append lock: a duplicate gets the original offsets, a gap OUT_OF_ORDER_SEQUENCE_NUMBER, an old epoch
// INVALID_PRODUCER_EPOCH. Transactional batches get INVALID_RECORD: transactions are not supported.
// Version notes: v3+ carry batches with magic 2 only; v7+ may use zstd; v8+ responses carry RecordErrors
// and ErrorMessage; v9+ flexible; v10+ may report the current leader (not needed with one broker).

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
        let missing = names.filter { broker.topics.topic(named: $0) == nil }
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
        let responsePromise = context.eventLoop.makePromise(of: ByteBuffer.self)
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

    static func appendAll(_ request: ProduceRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        let eventLoop = context.eventLoop
        var outcomes: [EventLoopFuture<PartitionOutcome>] = []
        let durability: AppendDurability = request.acks == -1 ? .durable : .written
        let acksValid = request.acks == -1 || request.acks == 0 || request.acks == 1
        for (topicIndex, topicData) in request.topicData.enumerated() {
            let topic = broker.topics.topic(named: topicData.name)
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
                guard let topic else {
                    let code: KafkaErrorCode = (try? TopicRegistry.validateName(topicData.name)) == nil ? .invalidTopicException : .unknownTopicOrPartition
                    outcomes.append(failed(code))
                    continue
                }
                guard let log = broker.log(topic: topic.name, partition: partitionData.index) else {
                    outcomes.append(failed(.unknownTopicOrPartition))
                    continue
                }
                if request.acks == -1, let minimum = topic.configs["min.insync.replicas"].flatMap(Int.init), minimum > 1 {
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
                let config = log.currentConfig
                if config.cleanupPolicy.compacts {
                    if let recordErrors = missingKeys(in: batch, partition: log.topicPartition) {
                        outcomes.append(failed(.invalidRecord, "Compacted topic cannot accept message without key in topic partition \(log.topicPartition).", recordErrors: recordErrors))
                        continue
                    }
                }
                let promise = eventLoop.makePromise(of: PartitionOutcome.self)
                let index = partitionData.index
                log.append(batch, durability: durability) { result in
                    switch result {
                    case .success(let appended):
                        promise.succeed(PartitionOutcome(topicIndex: topicIndex, partition: ProduceResponse.PartitionProduceResponse(
                            index: index, errorCode: 0, baseOffset: appended.baseOffset, logAppendTimeMs: appended.logAppendTime,
                            logStartOffset: appended.logStartOffset)))
                    case .failure(let error):
                        promise.succeed(PartitionOutcome(topicIndex: topicIndex, partition: errorPartition(index, error.kafkaErrorCode, message: error.description)))
                    }
                }
                outcomes.append(promise.futureResult)
            }
        }
        let ready = eventLoop.makeSucceededVoidFuture()
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

    static func errorPartition(_ index: Int32, _ code: KafkaErrorCode, message: String? = nil, recordErrors: [ProduceResponse.BatchIndexAndErrorMessage] = []) -> ProduceResponse.PartitionProduceResponse {
        ProduceResponse.PartitionProduceResponse(
            index: index, errorCode: code.rawValue, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1,
            recordErrors: recordErrors, errorMessage: message)
    }

    /// Record errors for every record without a key, or nil when all have one.
    static func missingKeys(in batch: RecordBatch, partition: TopicPartition) -> [ProduceResponse.BatchIndexAndErrorMessage]? {
        guard let records = try? batch.records() else {
            return [ProduceResponse.BatchIndexAndErrorMessage(batchIndex: 0, batchIndexErrorMessage: "unreadable records")]
        }
        let errors = records.enumerated().compactMap { index, record -> ProduceResponse.BatchIndexAndErrorMessage? in
            record.key == nil ? ProduceResponse.BatchIndexAndErrorMessage(batchIndex: Int32(index), batchIndexErrorMessage: "Compacted topic cannot accept message without key.") : nil
        }
        return errors.isEmpty ? nil : errors
    }
}
