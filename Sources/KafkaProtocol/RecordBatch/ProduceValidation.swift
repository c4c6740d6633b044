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

    /// Walks the records without building them: each must use exactly the bytes its length announces. It
    /// reads the raw bytes with a cursor (`RecordCursor`) rather than through `ByteBuffer`'s reading methods:
    /// this runs for every produced record, and the per-call bookkeeping of those was most of its cost.
    static func scanRecords(_ body: ByteBuffer, header: RecordBatchHeader, rules: ProduceValidationRules, now: Int64) throws(RecordBatchError) -> RecordsSummary {
        let checkTimestamps = !rules.logAppendTime && (rules.timestampBeforeMaxMilliseconds != .max || rules.timestampAfterMaxMilliseconds != .max)
        let result: Result<RecordsSummary, RecordBatchError> = body.withUnsafeReadableBytes { raw in
            var summary = RecordsSummary()
            var cursor = RecordCursor(bytes: raw)
            var index = 0
            while !cursor.isAtEnd {
                guard index < Int(header.recordCount) else {
                    return .failure(.recordCountMismatch(declared: header.recordCount, actual: index + 1))
                }
                func invalid(_ reason: String) -> Result<RecordsSummary, RecordBatchError> {
                    .failure(.invalidRecord(index: index, reason: reason))
                }
                guard let length = cursor.varint(), length >= 0, let recordEnd = cursor.end(after: Int(length)) else {
                    return invalid("the record's length is malformed or exceeds the batch")
                }
                var record = RecordCursor(bytes: raw, from: cursor.position, to: recordEnd)
                cursor.position = recordEnd
                guard record.skip(1), let timestampDelta = record.varlong(), let offsetDelta = record.varint() else {
                    return invalid("the record ends inside its attributes, timestamp or offset delta")
                }
                guard offsetDelta == Int32(truncatingIfNeeded: index) else {
                    return invalid("offset delta \(offsetDelta) where \(index) was expected")
                }
                let (timestamp, overflow) = header.baseTimestamp.addingReportingOverflow(timestampDelta)
                guard !overflow else {
                    return invalid("timestamp delta \(timestampDelta) overflows the base timestamp \(header.baseTimestamp)")
                }
                summary.maximumTimestamp = max(summary.maximumTimestamp, timestamp)
                if checkTimestamps, let problem = timestampProblem(timestamp, index: index, now: now, rules: rules) {
                    summary.badTimestamps.append(.init(index: index, message: problem))
                }
                guard let keyLength = record.varint(), keyLength >= -1, keyLength < 0 || record.skip(Int(keyLength)) else {
                    return invalid("the key's length is malformed or exceeds the record")
                }
                if keyLength < 0 && rules.requireKeys { summary.missingKeys.append(index) }
                guard let valueLength = record.varint(), valueLength >= -1, valueLength < 0 || record.skip(Int(valueLength)) else {
                    return invalid("the value's length is malformed or exceeds the record")
                }
                guard let headerCount = record.varint(), headerCount >= 0, Int(headerCount) <= record.remaining / 2 else {
                    return invalid("the header count is malformed or exceeds the record")
                }
                for _ in 0..<headerCount {
                    guard let keyLength = record.varint(), keyLength >= 0, record.skip(Int(keyLength)),
                          let valueLength = record.varint(), valueLength >= -1, valueLength < 0 || record.skip(Int(valueLength))
                    else { return invalid("a header is malformed or exceeds the record") }
                }
                guard record.isAtEnd else { return invalid("\(record.remaining) bytes follow the record's last header") }
                index += 1
            }
            guard index == Int(header.recordCount) else {
                return .failure(.recordCountMismatch(declared: header.recordCount, actual: index))
            }
            return .success(summary)
        }
        return try result.get()
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

/// Reads the varints and lengths of records from raw bytes, refusing (nil, false) anything that runs past its
/// end; it never traps. Kafka's record fields: zig-zag varints (int32) and varlongs (int64).
struct RecordCursor {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let limit: Int

    init(bytes: UnsafeRawBufferPointer, from position: Int = 0, to limit: Int? = nil) {
        self.bytes = bytes
        self.position = position
        self.limit = limit ?? bytes.count
    }

    var isAtEnd: Bool { position >= limit }
    var remaining: Int { limit - position }

    /// The position `count` bytes further, if that is within the cursor's bytes.
    func end(after count: Int) -> Int? {
        count <= remaining ? position + count : nil
    }

    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, count <= remaining else { return false }
        position += count
        return true
    }

    /// An unsigned LEB128 value of at most `maximumBytes` bytes whose last byte fits in `lastByteBits` bits.
    private mutating func unsigned(maximumBytes: Int, lastByteMaximum: UInt8) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        for count in 1...maximumBytes {
            guard position < limit else { return nil }
            let byte = bytes[position]
            position += 1
            if count == maximumBytes && byte > lastByteMaximum { return nil }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }

    mutating func varint() -> Int32? {
        guard let raw = unsigned(maximumBytes: 5, lastByteMaximum: 0x0F) else { return nil }
        let value = UInt32(truncatingIfNeeded: raw)
        return Int32(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
    }

    mutating func varlong() -> Int64? {
        guard let raw = unsigned(maximumBytes: 10, lastByteMaximum: 0x01) else { return nil }
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }
}
