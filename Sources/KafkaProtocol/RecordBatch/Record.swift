public import Compression
public import NIOCore

/// A record header: a string key and an optional value.
public struct RecordHeader: Sendable, Equatable {
    public var key: String
    public var value: ByteBuffer?

    public init(key: String, value: ByteBuffer?) {
        self.key = key
        self.value = value
    }
}

/// One record of a v2 batch: a varint length, then attributes, deltas against the batch's base timestamp
/// and offset, key, value and headers.
public struct Record: Sendable, Equatable {
    public var attributes: Int8
    public var timestampDelta: Int64
    public var offsetDelta: Int32
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]

    public init(attributes: Int8 = 0, timestampDelta: Int64, offsetDelta: Int32, key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = []) {
        self.attributes = attributes
        self.timestampDelta = timestampDelta
        self.offsetDelta = offsetDelta
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// Reads one record, which must use exactly the bytes its length announces.
    public init(from buffer: inout ByteBuffer) throws(KafkaDecodingError) {
        let length = try buffer.readKafkaVarint(field: "Record.Length")
        guard length >= 0 else { throw KafkaDecodingError("Record.Length", .negativeLength(Int64(length))) }
        var body = try buffer.readKafkaSlice(length: Int(length), field: "Record.Length")
        self.attributes = try body.readKafkaInt8(field: "Record.Attributes")
        self.timestampDelta = try body.readKafkaVarlong(field: "Record.TimestampDelta")
        self.offsetDelta = try body.readKafkaVarint(field: "Record.OffsetDelta")
        self.key = try body.readRecordBytes(field: "Record.Key")
        self.value = try body.readRecordBytes(field: "Record.Value")
        let headerCount = try body.readKafkaVarint(field: "Record.HeaderCount")
        guard headerCount >= 0 else { throw KafkaDecodingError("Record.HeaderCount", .negativeLength(Int64(headerCount))) }
        guard Int(headerCount) <= body.readableBytes / 2 else {
            throw KafkaDecodingError("Record.HeaderCount", .lengthExceedsFrame(length: Int64(headerCount), availableBytes: body.readableBytes))
        }
        var headers: [RecordHeader] = []
        headers.reserveCapacity(Int(headerCount))
        for _ in 0..<headerCount {
            let keyLength = try body.readKafkaVarint(field: "Record.Header.Key")
            guard keyLength >= 0 else { throw KafkaDecodingError("Record.Header.Key", .negativeLength(Int64(keyLength))) }
            guard Int(keyLength) <= body.readableBytes else {
                throw KafkaDecodingError("Record.Header.Key", .lengthExceedsFrame(length: Int64(keyLength), availableBytes: body.readableBytes))
            }
            let key = try body.readKafkaUTF8(length: Int(keyLength), field: "Record.Header.Key")
            let value = try body.readRecordBytes(field: "Record.Header.Value")
            headers.append(RecordHeader(key: key, value: value))
        }
        self.headers = headers
        try body.kafkaExpectFullyConsumed(field: "Record")
    }

    public func encode(into buffer: inout ByteBuffer) {
        var body = ByteBuffer()
        body.writeInteger(attributes)
        body.writeKafkaVarlong(timestampDelta)
        body.writeKafkaVarint(offsetDelta)
        body.writeRecordBytes(key)
        body.writeRecordBytes(value)
        body.writeKafkaVarint(Int32(headers.count))
        for header in headers {
            body.writeKafkaVarint(Int32(header.key.utf8.count))
            body.writeString(header.key)
            body.writeRecordBytes(header.value)
        }
        buffer.writeKafkaVarint(Int32(body.readableBytes))
        buffer.writeImmutableBuffer(body)
    }
}

extension ByteBuffer {
    /// Varint length (-1 for null) and bytes, as record keys, values and header values are written.
    mutating func readRecordBytes(field: StaticString) throws(KafkaDecodingError) -> ByteBuffer? {
        let length = try readKafkaVarint(field: field)
        if length == -1 { return nil }
        guard length >= 0 else { throw KafkaDecodingError(field, .negativeLength(Int64(length))) }
        return try readKafkaSlice(length: Int(length), field: field)
    }

    mutating func writeRecordBytes(_ bytes: ByteBuffer?) {
        guard let bytes else {
            writeKafkaVarint(-1)
            return
        }
        writeKafkaVarint(Int32(bytes.readableBytes))
        writeImmutableBuffer(bytes)
    }
}

/// Builds a v2 record batch: records are appended with absolute timestamps, then `build` compresses them
/// and computes the CRC. Used for the server's own writes (internal topics, MQTT ingress) and by tests.
public struct RecordBatchBuilder: Sendable {
    public var baseOffset: Int64 = 0
    public var partitionLeaderEpoch: Int32 = -1
    public var compression: CompressionCodec = .none
    public var timestampType: TimestampType = .createTime
    public var producerId: Int64 = -1
    public var producerEpoch: Int16 = -1
    public var baseSequence: Int32 = -1
    public var isTransactional = false
    public var isControl = false
    public private(set) var records: [Record] = []
    private var firstTimestamp: Int64? = nil
    private var maxTimestamp: Int64 = -1

    public init(compression: CompressionCodec = .none) {
        self.compression = compression
    }

    public var isEmpty: Bool { records.isEmpty }
    public var count: Int { records.count }

    public mutating func append(key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = [], timestamp: Int64) {
        let base = firstTimestamp ?? timestamp
        if firstTimestamp == nil { firstTimestamp = timestamp }
        maxTimestamp = max(maxTimestamp, timestamp)
        records.append(Record(timestampDelta: timestamp - base, offsetDelta: Int32(records.count), key: key, value: value, headers: headers))
    }

    public func build() throws(CompressionError) -> ByteBuffer {
        precondition(!records.isEmpty, "a record batch holds at least one record")
        let header = RecordBatchHeader(
            baseOffset: baseOffset,
            partitionLeaderEpoch: partitionLeaderEpoch,
            magic: 2,
            attributes: RecordBatchHeader.attributes(compression: compression, timestampType: timestampType, isTransactional: isTransactional, isControl: isControl),
            lastOffsetDelta: Int32(records.count - 1),
            baseTimestamp: firstTimestamp ?? 0,
            maxTimestamp: maxTimestamp,
            producerId: producerId,
            producerEpoch: producerEpoch,
            baseSequence: baseSequence
        )
        return try RecordBatch.assemble(header: header, records: records, compression: compression)
    }
}

extension RecordBatch {
    /// A batch with no records covering `baseOffset ... baseOffset + lastOffsetDelta`, as compaction leaves
    /// behind: readers move past its offsets.
    public static func empty(baseOffset: Int64, lastOffsetDelta: Int32, timestamp: Int64) -> RecordBatch {
        var header = RecordBatchHeader(baseOffset: baseOffset, partitionLeaderEpoch: 0, lastOffsetDelta: lastOffsetDelta, baseTimestamp: timestamp, maxTimestamp: timestamp)
        header.batchLength = Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead)
        var bytes = ByteBuffer()
        header.write(into: &bytes)
        var batch = RecordBatch(header: header, bytes: bytes)
        let crc = batch.computedChecksum
        batch.bytes.setInteger(crc, at: batch.bytes.readerIndex + RecordBatchHeader.crcOffset)
        batch.header.crc = crc
        return batch
    }

    /// Encodes `records`, compresses them with `compression`, and writes `header` (with its length,
    /// record count and CRC filled in) in front of them.
    static func assemble(header: RecordBatchHeader, records: [Record], compression: CompressionCodec, level: Int32? = nil) throws(CompressionError) -> ByteBuffer {
        var body = ByteBuffer()
        for record in records { record.encode(into: &body) }
        if compression != .none && !records.isEmpty {
            let compressed = try body.withUnsafeReadableBytes { (raw: UnsafeRawBufferPointer) throws(CompressionError) -> [UInt8] in
                try Compressor.compress(raw, codec: compression, level: level)
            }
            body = ByteBuffer(bytes: compressed)
        }
        var header = header
        header.batchLength = Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead + body.readableBytes)
        header.recordCount = Int32(records.count)
        header.crc = 0
        var batch = ByteBuffer()
        batch.reserveCapacity(RecordBatchHeader.size + body.readableBytes)
        header.write(into: &batch)
        batch.writeImmutableBuffer(body)
        let crc = batch.withUnsafeReadableBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[RecordBatchHeader.attributesOffset...]))
        }
        batch.setInteger(crc, at: RecordBatchHeader.crcOffset)
        return batch
    }
}

/// The key of a control record: version and type (0 abort, 1 commit).
public struct ControlRecordKey: Sendable, Equatable {
    public enum ControlType: Int16, Sendable {
        case abort = 0
        case commit = 1
    }

    public var version: Int16
    public var type: ControlType

    public init(version: Int16 = 0, type: ControlType) {
        self.version = version
        self.type = type
    }

    public init(from buffer: ByteBuffer) throws(KafkaDecodingError) {
        var input = buffer
        self.version = try input.readKafkaInt16(field: "ControlRecordKey.Version")
        let rawType = try input.readKafkaInt16(field: "ControlRecordKey.Type")
        guard let type = ControlType(rawValue: rawType) else {
            throw KafkaDecodingError(field: "ControlRecordKey.Type", problem: .invalidValue("unknown control record type \(rawType)"))
        }
        self.type = type
    }

    public func encode() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(version)
        buffer.writeInteger(type.rawValue)
        return buffer
    }
}

extension RecordBatch {
    /// A copy of this batch that holds only `records` (a subset of its own, in order), as the log cleaner
    /// writes it: the same base offset, last offset delta, timestamps, producer fields, attributes and
    /// codec, so consumers skip the removed offsets and producer state stays intact. The CRC is
    /// recomputed. With no records left it is a header-only batch.
    public func rebuilt(keeping records: [Record]) throws(CompressionError) -> ByteBuffer {
        try Self.assemble(header: header, records: records, compression: header.compression ?? .none)
    }
}
