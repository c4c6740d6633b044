public import Compression
public import NIOCore

/// How a topic wants produced batches checked and shaped before they are appended: Kafka's validation of
/// magic-2 batches (its `LogValidator`), which recomputes batch-level fields from the records instead of
/// trusting the producer.
public struct ProduceValidationRules: Sendable, Equatable {
    /// Compacted topics refuse records without a key.
    public var requireKeys = false
    /// `message.timestamp.type=LogAppendTime`: record timestamps are not checked (the log stamps the batch).
    public var logAppendTime = false
    /// `message.timestamp.before.max.ms` / `after.max.ms`: how far a CreateTime record may lie in the past
    /// or the future of the broker's clock.
    public var timestampBeforeMaxMilliseconds: Int64 = .max
    public var timestampAfterMaxMilliseconds: Int64 = .max
    /// The codec stored batches get (`compression.type`); nil keeps the producer's (`producer`).
    public var compression: CompressionCodec? = nil
    /// The level recompression uses (`compression.gzip.level`, `.lz4.level`, `.zstd.level`); nil: the codec's default.
    public var compressionLevel: Int32? = nil
    /// `max.message.bytes`, checked again after recompression.
    public var maximumBatchBytes = 1_048_588
    /// Bound on a batch's decompressed records: a decompression bomb is refused at this size.
    public var maximumUncompressedBytes = RecordBatch.defaultMaximumProduceUncompressedBytes

    public init() {}
}

/// Why a produced batch was refused, with the Kafka error code the producer gets.
public enum ProduceValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct RecordProblem: Sendable, Equatable {
        public var index: Int
        public var message: String
    }

    case batch(RecordBatchError)
    /// Records that break the topic's rules: their indexes and why (INVALID_RECORD, INVALID_TIMESTAMP).
    case records(code: KafkaErrorCode, message: String, problems: [RecordProblem])
    /// The decompressed records, or the recompressed batch, are larger than allowed.
    case tooLarge(String)

    public var errorCode: KafkaErrorCode {
        switch self {
        case .batch(let error): return error.errorCode
        case .records(let code, _, _): return code
        case .tooLarge: return .messageTooLarge
        }
    }

    public var description: String {
        switch self {
        case .batch(let error): return error.description
        case .records(_, let message, _): return message
        case .tooLarge(let why): return why
        }
    }
}

extension RecordBatch {
    /// The default bound on one produced batch's decompressed records.
    public static let defaultMaximumProduceUncompressedBytes = 64 << 20

    /// Whether validating this batch may take long (decompression or recompression): such batches are
    /// validated off the event loops.
    public func validationIsExpensive(rules: ProduceValidationRules) -> Bool {
        header.compression != CompressionCodec.none || (rules.compression != nil && rules.compression != header.compression) || bytes.readableBytes > 256 * 1024
    }

    /// Checks every record of a batch that passed `validateForProduce` and returns the batch to store:
    /// offset deltas 0, 1, 2... matching the header, every record well formed, the count and the
    /// decompressed size within bounds, keys where the topic needs them, timestamps within the topic's
    /// window. The header's max timestamp is recomputed from the records (some clients send -1) and the
    /// CRC with it; when the topic's `compression.type` names another codec, the batch is recompressed.
    public func validatedForAppend(rules: ProduceValidationRules, nowMilliseconds now: Int64) throws(ProduceValidationError) -> RecordBatch {
        let body: ByteBuffer
        do {
            body = try recordBytes(maximumUncompressedBytes: rules.maximumUncompressedBytes)
        } catch .decompression(let error) where error.reason == .outputLimitExceeded(limit: rules.maximumUncompressedBytes) {
            throw .tooLarge("the batch's records decompress to more than \(rules.maximumUncompressedBytes) bytes")
        } catch {
            throw .batch(error)
        }
        let summary: RecordsSummary
        do {
            summary = try Self.scanRecords(body, header: header, rules: rules, now: now)
        } catch {
            throw .batch(error)
        }
        if !summary.missingKeys.isEmpty {
            throw .records(code: .invalidRecord, message: "Compacted topic cannot accept message without key.",
                           problems: summary.missingKeys.map { .init(index: $0, message: "Compacted topic cannot accept message without key.") })
        }
        if !summary.badTimestamps.isEmpty {
            throw .records(code: .invalidTimestamp, message: "One or more records have been rejected due to invalid timestamp",
                           problems: summary.badTimestamps)
        }
        if let target = rules.compression, target != header.compression {
            return try recompressed(body: body, codec: target, maximumTimestamp: summary.maximumTimestamp, rules: rules)
        }
        var result = self
        if !rules.logAppendTime && header.maxTimestamp != summary.maximumTimestamp {
            result.setMaxTimestamp(summary.maximumTimestamp)
        }
        return result
    }

    /// Rewrites the header's max timestamp (inside the CRC's range) and the CRC.
    mutating func setMaxTimestamp(_ timestamp: Int64) {
        let start = bytes.readerIndex
        bytes.setInteger(timestamp, at: start + 35)
        header.maxTimestamp = timestamp
        let crc = computedChecksum
        bytes.setInteger(crc, at: start + RecordBatchHeader.crcOffset)
        header.crc = crc
    }

    private func recompressed(body: ByteBuffer, codec: CompressionCodec, maximumTimestamp: Int64, rules: ProduceValidationRules) throws(ProduceValidationError) -> RecordBatch {
        var input = body
        var records: [Record] = []
        records.reserveCapacity(Int(max(0, min(header.recordCount, 100_000))))
        while input.readableBytes > 0 {
            do {
                records.append(try Record(from: &input))
            } catch {
                throw .batch(.invalidRecord(index: records.count, reason: error.description))
            }
        }
        var shaped = header
        shaped.attributes = (header.attributes & ~0x07) | Int16(codec.rawValue)
        if !rules.logAppendTime { shaped.maxTimestamp = maximumTimestamp }
        var bytes: ByteBuffer
        do {
            bytes = try Self.assemble(header: shaped, records: records, compression: codec, level: rules.compressionLevel)
        } catch {
            throw .batch(.decompression(error))
        }
        guard bytes.readableBytes <= rules.maximumBatchBytes else {
            throw .tooLarge("the batch recompressed with \(codec) is \(bytes.readableBytes) bytes, more than max.message.bytes \(rules.maximumBatchBytes)")
        }
        do {
            return try RecordBatch.read(from: &bytes)
        } catch {
            throw .batch(error)
        }
    }

    struct RecordsSummary {
        var maximumTimestamp: Int64 = -1
        var missingKeys: [Int] = []
        var badTimestamps: [ProduceValidationError.RecordProblem] = []
    }

    /// Walks the records without building them: each must use exactly the bytes its length announces.
    static func scanRecords(_ body: ByteBuffer, header: RecordBatchHeader, rules: ProduceValidationRules, now: Int64) throws(RecordBatchError) -> RecordsSummary {
        var summary = RecordsSummary()
        var input = body
        var index = 0
        let checkTimestamps = !rules.logAppendTime && (rules.timestampBeforeMaxMilliseconds != .max || rules.timestampAfterMaxMilliseconds != .max)
        while input.readableBytes > 0 {
            guard index < Int(header.recordCount) else {
                throw .recordCountMismatch(declared: header.recordCount, actual: index + 1)
            }
            do {
                let length = try input.readKafkaVarint(field: "Record.Length")
                guard length >= 0 else { throw KafkaDecodingError("Record.Length", .negativeLength(Int64(length))) }
                var record = try input.readKafkaSlice(length: Int(length), field: "Record.Length")
                _ = try record.readKafkaInt8(field: "Record.Attributes")
                let timestampDelta = try record.readKafkaVarlong(field: "Record.TimestampDelta")
                let offsetDelta = try record.readKafkaVarint(field: "Record.OffsetDelta")
                guard offsetDelta == Int32(truncatingIfNeeded: index) else {
                    throw RecordBatchError.invalidRecord(index: index, reason: "offset delta \(offsetDelta) where \(index) was expected")
                }
                let (timestamp, overflow) = header.baseTimestamp.addingReportingOverflow(timestampDelta)
                guard !overflow else {
                    throw RecordBatchError.invalidRecord(index: index, reason: "timestamp delta \(timestampDelta) overflows the base timestamp \(header.baseTimestamp)")
                }
                summary.maximumTimestamp = max(summary.maximumTimestamp, timestamp)
                if checkTimestamps, let problem = timestampProblem(timestamp, index: index, now: now, rules: rules) {
                    summary.badTimestamps.append(.init(index: index, message: problem))
                }
                let keyLength = try record.readKafkaVarint(field: "Record.Key")
                if keyLength < 0 {
                    if rules.requireKeys { summary.missingKeys.append(index) }
                } else {
                    _ = try record.readKafkaSlice(length: Int(keyLength), field: "Record.Key")
                }
                let valueLength = try record.readKafkaVarint(field: "Record.Value")
                if valueLength >= 0 { _ = try record.readKafkaSlice(length: Int(valueLength), field: "Record.Value") }
                let headerCount = try record.readKafkaVarint(field: "Record.HeaderCount")
                guard headerCount >= 0, Int(headerCount) <= record.readableBytes / 2 else {
                    throw KafkaDecodingError("Record.HeaderCount", .lengthExceedsFrame(length: Int64(headerCount), availableBytes: record.readableBytes))
                }
                for _ in 0..<headerCount {
                    let headerKeyLength = try record.readKafkaVarint(field: "Record.Header.Key")
                    guard headerKeyLength >= 0 else { throw KafkaDecodingError("Record.Header.Key", .negativeLength(Int64(headerKeyLength))) }
                    _ = try record.readKafkaSlice(length: Int(headerKeyLength), field: "Record.Header.Key")
                    let headerValueLength = try record.readKafkaVarint(field: "Record.Header.Value")
                    if headerValueLength >= 0 { _ = try record.readKafkaSlice(length: Int(headerValueLength), field: "Record.Header.Value") }
                }
                try record.kafkaExpectFullyConsumed(field: "Record")
            } catch let error as RecordBatchError {
                throw error
            } catch let error as KafkaDecodingError {
                throw .invalidRecord(index: index, reason: error.description)
            } catch {
                throw .invalidRecord(index: index, reason: "\(error)")
            }
            index += 1
        }
        guard index == Int(header.recordCount) else {
            throw .recordCountMismatch(declared: header.recordCount, actual: index)
        }
        return summary
    }

    /// Kafka's window check for a CreateTime record, with Kafka's message (wrapping arithmetic as Java's, so
    /// the defaults of Long.MAX_VALUE never trap). -1 means "no timestamp" and is not checked.
    static func timestampProblem(_ timestamp: Int64, index: Int, now: Int64, rules: ProduceValidationRules) -> String? {
        guard timestamp != -1 else { return nil }
        guard now &- timestamp > rules.timestampBeforeMaxMilliseconds || timestamp &- now > rules.timestampAfterMaxMilliseconds else { return nil }
        return "Timestamp \(timestamp) of message with offset \(index) is out of range. The timestamp should be within "
            + "[\(now &- rules.timestampBeforeMaxMilliseconds), \(now &+ rules.timestampAfterMaxMilliseconds)]"
    }
}
