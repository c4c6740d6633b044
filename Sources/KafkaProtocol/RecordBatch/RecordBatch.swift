public import Compression
public import NIOCore

/// Why a record batch was refused. `errorCode` is the code Apache Kafka answers a producer with.
public enum RecordBatchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Fewer bytes than the batch header or the declared batch length.
    case truncated(neededBytes: Int, availableBytes: Int)
    /// A batch length below the v2 header size or above what the caller allows.
    case invalidBatchLength(Int32)
    /// Magic 0 or 1 (legacy message sets), or an unknown magic.
    case unsupportedMagic(Int8)
    case checksumMismatch(stored: UInt32, computed: UInt32)
    /// Produce v3+ carries exactly one batch per partition.
    case notExactlyOneBatch(count: Int)
    /// Header fields that contradict each other (count, offset range, sequence, control flag, ...).
    case invalidHeader(String)
    case unsupportedCompression(codec: Int8)
    /// zstd needs Produce v7 or later.
    case compressionNeedsNewerProduce(version: Int16)
    case decompression(CompressionError)
    case invalidRecord(index: Int, reason: String)
    case recordCountMismatch(declared: Int32, actual: Int)

    public var errorCode: KafkaErrorCode {
        switch self {
        case .truncated, .invalidBatchLength, .checksumMismatch, .decompression, .invalidRecord, .recordCountMismatch:
            return .corruptMessage
        case .unsupportedMagic, .notExactlyOneBatch, .invalidHeader:
            return .invalidRecord
        case .unsupportedCompression, .compressionNeedsNewerProduce:
            return .unsupportedCompressionType
        }
    }

    public var description: String {
        switch self {
        case .truncated(let needed, let available):
            return "record batch truncated: needs \(needed) bytes, \(available) available"
        case .invalidBatchLength(let length):
            return "invalid record batch length \(length)"
        case .unsupportedMagic(let magic):
            return "record batches with magic \(magic) are not supported; only magic 2 (Kafka 0.11+ clients)"
        case .checksumMismatch(let stored, let computed):
            return "record batch CRC-32C mismatch: stored \(stored), computed \(computed)"
        case .notExactlyOneBatch(let count):
            return "produce requests must carry exactly one record batch per partition, found \(count)"
        case .invalidHeader(let why):
            return "invalid record batch header: \(why)"
        case .unsupportedCompression(let codec):
            return "unknown compression codec \(codec)"
        case .compressionNeedsNewerProduce(let version):
            return "produce requests with version \(version) are not allowed to use zstd compression"
        case .decompression(let error):
            return "cannot decompress record batch: \(error)"
        case .invalidRecord(let index, let reason):
            return "record \(index) is invalid: \(reason)"
        case .recordCountMismatch(let declared, let actual):
            return "record batch declares \(declared) records but holds \(actual)"
        }
    }
}

public enum TimestampType: Sendable, Equatable {
    case createTime
    case logAppendTime
}

/// The 61-byte header of a record batch with magic 2.
public struct RecordBatchHeader: Sendable, Equatable {
    /// Offset and length fields that precede every batch: Kafka's "log overhead".
    public static let logOverhead = 12
    public static let size = 61
    /// The batch length counts the bytes after the length field.
    public static let minimumBatchLength = Int32(size - logOverhead)
    public static let magicOffset = 16
    public static let crcOffset = 17
    public static let attributesOffset = 21
    public static let partitionLeaderEpochOffset = 12

    public var baseOffset: Int64
    public var batchLength: Int32
    public var partitionLeaderEpoch: Int32
    public var magic: Int8
    public var crc: UInt32
    public var attributes: Int16
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var recordCount: Int32

    public init(
        baseOffset: Int64 = 0, batchLength: Int32 = 0, partitionLeaderEpoch: Int32 = -1, magic: Int8 = 2, crc: UInt32 = 0,
        attributes: Int16 = 0, lastOffsetDelta: Int32 = 0, baseTimestamp: Int64 = 0, maxTimestamp: Int64 = 0,
        producerId: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1, recordCount: Int32 = 0
    ) {
        self.baseOffset = baseOffset
        self.batchLength = batchLength
        self.partitionLeaderEpoch = partitionLeaderEpoch
        self.magic = magic
        self.crc = crc
        self.attributes = attributes
        self.lastOffsetDelta = lastOffsetDelta
        self.baseTimestamp = baseTimestamp
        self.maxTimestamp = maxTimestamp
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.recordCount = recordCount
    }

    /// Reads the header at `index` without moving the reader index. Checks that the header is there and that
    /// the magic is 2; the batch body and checksum are checked by `RecordBatch`.
    public init(from buffer: ByteBuffer, at index: Int) throws(RecordBatchError) {
        let available = buffer.writerIndex - index
        guard available >= Self.logOverhead + 5 else {
            throw .truncated(neededBytes: Self.logOverhead + 5, availableBytes: max(available, 0))
        }
        let magic = buffer.getInteger(at: index + Self.magicOffset, as: Int8.self)!
        guard magic == 2 else { throw .unsupportedMagic(magic) }
        guard available >= Self.size else {
            throw .truncated(neededBytes: Self.size, availableBytes: available)
        }
        self.baseOffset = buffer.getInteger(at: index, as: Int64.self)!
        self.batchLength = buffer.getInteger(at: index + 8, as: Int32.self)!
        self.partitionLeaderEpoch = buffer.getInteger(at: index + 12, as: Int32.self)!
        self.magic = magic
        self.crc = buffer.getInteger(at: index + 17, as: UInt32.self)!
        self.attributes = buffer.getInteger(at: index + 21, as: Int16.self)!
        self.lastOffsetDelta = buffer.getInteger(at: index + 23, as: Int32.self)!
        self.baseTimestamp = buffer.getInteger(at: index + 27, as: Int64.self)!
        self.maxTimestamp = buffer.getInteger(at: index + 35, as: Int64.self)!
        self.producerId = buffer.getInteger(at: index + 43, as: Int64.self)!
        self.producerEpoch = buffer.getInteger(at: index + 51, as: Int16.self)!
        self.baseSequence = buffer.getInteger(at: index + 53, as: Int32.self)!
        self.recordCount = buffer.getInteger(at: index + 57, as: Int32.self)!
        guard batchLength >= Self.minimumBatchLength else { throw .invalidBatchLength(batchLength) }
    }

    public func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(baseOffset)
        buffer.writeInteger(batchLength)
        buffer.writeInteger(partitionLeaderEpoch)
        buffer.writeInteger(magic)
        buffer.writeInteger(crc)
        buffer.writeInteger(attributes)
        buffer.writeInteger(lastOffsetDelta)
        buffer.writeInteger(baseTimestamp)
        buffer.writeInteger(maxTimestamp)
        buffer.writeInteger(producerId)
        buffer.writeInteger(producerEpoch)
        buffer.writeInteger(baseSequence)
        buffer.writeInteger(recordCount)
    }

    /// Whole batch size on the wire and on disk.
    public var totalSize: Int { Int(batchLength) + Self.logOverhead }
    /// Wraps instead of trapping for headers read from damaged files; `headerProblem` (LogStore) refuses those.
    public var lastOffset: Int64 { baseOffset &+ Int64(lastOffsetDelta) }
    public var compressionCodecValue: Int8 { Int8(attributes & 0x07) }
    public var compression: CompressionCodec? { CompressionCodec(rawValue: compressionCodecValue) }
    public var timestampType: TimestampType { attributes & 0x08 != 0 ? .logAppendTime : .createTime }
    public var isTransactional: Bool { attributes & 0x10 != 0 }
    public var isControl: Bool { attributes & 0x20 != 0 }
    public var hasDeleteHorizon: Bool { attributes & 0x40 != 0 }
    public var hasProducerId: Bool { producerId >= 0 }
    /// The sequence of the last record, wrapping at Int32.max as Kafka's sequences do.
    public var lastSequence: Int32 {
        guard baseSequence >= 0 else { return -1 }
        let last = Int64(baseSequence) + Int64(lastOffsetDelta)
        return Int32(last > Int64(Int32.max) ? last - Int64(Int32.max) - 1 : last)
    }

    public static func attributes(
        compression: CompressionCodec, timestampType: TimestampType = .createTime, isTransactional: Bool = false, isControl: Bool = false
    ) -> Int16 {
        var value = Int16(compression.rawValue)
        if timestampType == .logAppendTime { value |= 0x08 }
        if isTransactional { value |= 0x10 }
        if isControl { value |= 0x20 }
        return value
    }
}

/// One record batch (magic 2) as bytes, with its parsed header. Batches are stored and served exactly as
/// producers sent them; only `baseOffset` and `partitionLeaderEpoch` are rewritten, and those lie outside
/// the range the CRC covers.
public struct RecordBatch: Sendable, Equatable {
    public var header: RecordBatchHeader
    /// The whole batch, header included.
    public var bytes: ByteBuffer

    public init(header: RecordBatchHeader, bytes: ByteBuffer) {
        self.header = header
        self.bytes = bytes
    }

    /// Upper bound on the decompressed records of one batch (a decompression bomb stops here).
    public static let defaultMaximumUncompressedBytes = 256 * 1024 * 1024

    /// Reads the batch at the reader index of `buffer` and advances past it. The header and length are
    /// checked; the checksum is not (see `verifyChecksum`).
    public static func read(from buffer: inout ByteBuffer, maximumBatchBytes: Int = Int(Int32.max)) throws(RecordBatchError) -> RecordBatch {
        let header = try RecordBatchHeader(from: buffer, at: buffer.readerIndex)
        guard header.totalSize <= maximumBatchBytes else { throw .invalidBatchLength(header.batchLength) }
        guard let bytes = buffer.readSlice(length: header.totalSize) else {
            throw .truncated(neededBytes: header.totalSize, availableBytes: buffer.readableBytes)
        }
        return RecordBatch(header: header, bytes: bytes)
    }

    /// Every batch in `buffer`, each complete, with magic 2 and a correct checksum.
    public static func validatedBatches(in buffer: inout ByteBuffer) throws(RecordBatchError) -> [RecordBatch] {
        var batches: [RecordBatch] = []
        while buffer.readableBytes > 0 {
            let batch = try read(from: &buffer)
            try batch.verifyChecksum()
            batches.append(batch)
        }
        return batches
    }

    /// The CRC-32C over everything from the attributes to the end of the batch.
    public var computedChecksum: UInt32 {
        bytes.withUnsafeReadableBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[RecordBatchHeader.attributesOffset...]))
        }
    }

    public func verifyChecksum() throws(RecordBatchError) {
        let computed = computedChecksum
        guard computed == header.crc else { throw .checksumMismatch(stored: header.crc, computed: computed) }
    }

    /// Checks a Produce request's records for one partition the way Apache Kafka does before appending:
    /// exactly one complete batch, magic 2, a codec the request version allows, a consistent header and a
    /// correct checksum. Client batches may not be control batches.
    public static func validateForProduce(_ records: ByteBuffer, apiVersion: Int16) throws(RecordBatchError) -> RecordBatch {
        var remaining = records
        let batch = try read(from: &remaining)
        if remaining.readableBytes > 0 {
            // A second batch that does not even parse is still "more than one".
            throw .notExactlyOneBatch(count: 2)
        }
        guard let codec = batch.header.compression else {
            throw .unsupportedCompression(codec: batch.header.compressionCodecValue)
        }
        if codec == .zstd && apiVersion < 7 { throw .compressionNeedsNewerProduce(version: apiVersion) }
        try batch.verifyChecksum()
        let header = batch.header
        guard header.recordCount > 0 else { throw .invalidHeader("invalid record count \(header.recordCount)") }
        guard header.lastOffsetDelta >= 0, Int64(header.lastOffsetDelta) + 1 == Int64(header.recordCount) else {
            throw .invalidHeader("offset range (last offset delta \(header.lastOffsetDelta)) and record count \(header.recordCount) disagree")
        }
        if header.isControl { throw .invalidHeader("clients may not write control batches") }
        if header.hasProducerId && header.baseSequence < 0 {
            throw .invalidHeader("a batch with producer id \(header.producerId) has sequence \(header.baseSequence)")
        }
        return batch
    }

    /// The record bytes after the header, decompressed.
    public func recordBytes(maximumUncompressedBytes: Int = defaultMaximumUncompressedBytes) throws(RecordBatchError) -> ByteBuffer {
        let body = bytes.getSlice(at: bytes.readerIndex + RecordBatchHeader.size, length: bytes.readableBytes - RecordBatchHeader.size)!
        guard let codec = header.compression else {
            throw .unsupportedCompression(codec: header.compressionCodecValue)
        }
        if codec == .none { return body }
        do {
            let output = try body.withUnsafeReadableBytes { (raw: UnsafeRawBufferPointer) throws(CompressionError) -> [UInt8] in
                try Compressor.decompress(raw, codec: codec, maximumOutputBytes: maximumUncompressedBytes)
            }
            return ByteBuffer(bytes: output)
        } catch {
            throw .decompression(error)
        }
    }

    /// Decodes every record. The count must match the header, and offset deltas must run 0, 1, 2, ...
    public func records(maximumUncompressedBytes: Int = defaultMaximumUncompressedBytes) throws(RecordBatchError) -> [Record] {
        var body = try recordBytes(maximumUncompressedBytes: maximumUncompressedBytes)
        var records: [Record] = []
        records.reserveCapacity(Int(max(0, min(header.recordCount, 10_000))))
        var index = 0
        while body.readableBytes > 0 {
            let record: Record
            do {
                record = try Record(from: &body)
            } catch {
                throw .invalidRecord(index: index, reason: error.description)
            }
            records.append(record)
            index += 1
        }
        guard records.count == Int(header.recordCount) else {
            throw .recordCountMismatch(declared: header.recordCount, actual: records.count)
        }
        return records
    }

    /// Rewrites the base offset of the batch that starts at `index` in `buffer` (outside the CRC's range).
    public static func setBaseOffset(_ offset: Int64, in buffer: inout ByteBuffer, at index: Int) {
        buffer.setInteger(offset, at: index)
    }

    /// Rewrites the partition leader epoch of the batch that starts at `index` (outside the CRC's range).
    public static func setPartitionLeaderEpoch(_ epoch: Int32, in buffer: inout ByteBuffer, at index: Int) {
        buffer.setInteger(epoch, at: index + RecordBatchHeader.partitionLeaderEpochOffset)
    }

    /// Assigns `baseOffset` (and the leader epoch) to this batch in place.
    public mutating func assign(baseOffset: Int64, partitionLeaderEpoch: Int32) {
        Self.setBaseOffset(baseOffset, in: &bytes, at: bytes.readerIndex)
        Self.setPartitionLeaderEpoch(partitionLeaderEpoch, in: &bytes, at: bytes.readerIndex)
        header.baseOffset = baseOffset
        header.partitionLeaderEpoch = partitionLeaderEpoch
    }
}
