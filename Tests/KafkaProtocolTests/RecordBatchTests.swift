import Compression
import KafkaProtocol
import NIOCore
import Testing

@Suite struct RecordBatchTests {
    /// One record (key "k", value "v") laid out by hand; the CRC was computed independently with a bitwise
    /// CRC-32C over the bytes from the attributes onward.
    static let handMadeBatch = hex("""
        0000000000000000        # base offset
        0000003a                # batch length: 49 + 9
        00000000                # partition leader epoch
        02                      # magic
        e99b8dd8                # CRC-32C
        0000                    # attributes: no compression, create time
        00000000                # last offset delta
        0000018bcfe56800        # base timestamp 1700000000000
        0000018bcfe56800        # max timestamp
        ffffffffffffffff ffff ffffffff   # no producer id, epoch, sequence
        00000001                # record count
        10                      # record length 8 (zig-zag varint)
          00 00 00              # attributes, timestamp delta, offset delta
          02 "k" 02 "v"         # key, value
          00                    # no headers
        """)

    @Test func parsesAHandMadeBatch() throws {
        var input = Self.handMadeBatch
        let batches = try RecordBatch.validatedBatches(in: &input)
        #expect(batches.count == 1)
        let header = batches[0].header
        #expect(header.totalSize == Self.handMadeBatch.readableBytes)
        #expect(header.baseTimestamp == 1_700_000_000_000)
        #expect(header.compression == CompressionCodec.none)
        #expect(!header.hasProducerId)
        let records = try batches[0].records()
        #expect(records == [Record(timestampDelta: 0, offsetDelta: 0, key: ByteBuffer(string: "k"), value: ByteBuffer(string: "v"))])
    }

    @Test func builderProducesTheSameBytes() throws {
        var builder = RecordBatchBuilder()
        builder.partitionLeaderEpoch = 0
        builder.append(key: ByteBuffer(string: "k"), value: ByteBuffer(string: "v"), timestamp: 1_700_000_000_000)
        #expect(try builder.build() == Self.handMadeBatch)
    }

    @Test(arguments: CompressionCodec.allCases)
    func buildsAndReadsEveryCodec(_ codec: CompressionCodec) throws {
        var builder = RecordBatchBuilder(compression: codec)
        builder.producerId = 42
        builder.producerEpoch = 3
        builder.baseSequence = 100
        var expected: [Record] = []
        for index in 0..<500 {
            let headers = index % 3 == 0 ? [RecordHeader(key: "h\(index)", value: ByteBuffer(string: "x")), RecordHeader(key: "null", value: nil)] : []
            let key: ByteBuffer? = index % 5 == 0 ? nil : ByteBuffer(string: "key-\(index % 17)")
            let value = ByteBuffer(string: String(repeating: "payload-\(index) ", count: 3))
            builder.append(key: key, value: value, headers: headers, timestamp: 1_000 + Int64(index))
            expected.append(Record(timestampDelta: Int64(index), offsetDelta: Int32(index), key: key, value: value, headers: headers))
        }
        let bytes = try builder.build()
        var input = bytes
        let batch = try RecordBatch.validateForProduce(bytes, apiVersion: 9)
        #expect(try RecordBatch.validatedBatches(in: &input) == [batch])
        #expect(batch.header.compression == codec)
        #expect(batch.header.recordCount == 500 && batch.header.lastOffsetDelta == 499)
        #expect(batch.header.maxTimestamp == 1_499)
        #expect(batch.header.lastSequence == 599)
        #expect(try batch.records() == expected)
    }

    @Test func offsetAssignmentKeepsTheChecksumValid() throws {
        var input = Self.handMadeBatch
        var batch = try RecordBatch.read(from: &input)
        batch.assign(baseOffset: 123_456, partitionLeaderEpoch: 7)
        try batch.verifyChecksum()
        var reread = batch.bytes
        let again = try RecordBatch.read(from: &reread)
        #expect(again.header.baseOffset == 123_456)
        #expect(again.header.partitionLeaderEpoch == 7)
        #expect(again.header.crc == 0xE99B_8DD8)
    }

    @Test func detectsEveryFlippedBitInTheCheckedRange() throws {
        let original = Self.handMadeBatch
        for byteIndex in RecordBatchHeader.attributesOffset..<original.readableBytes {
            var corrupted = original
            let value = corrupted.getInteger(at: byteIndex, as: UInt8.self)!
            corrupted.setInteger(value ^ 0x10, at: byteIndex)
            var input = corrupted
            #expect(throws: RecordBatchError.self) { _ = try RecordBatch.validatedBatches(in: &input) }
        }
    }

    @Test func refusesWhatKafkaRefuses() throws {
        // Magic 1 message set (offset, size, crc, magic 1, ...): Kafka answers INVALID_RECORD.
        let legacy = hex("0000000000000000 00000016 12345678 01 00 0000018bcfe56800 ffffffff 00000001 76")
        #expect(throws: RecordBatchError.unsupportedMagic(1)) { _ = try RecordBatch.validateForProduce(legacy, apiVersion: 3) }
        #expect(RecordBatchError.unsupportedMagic(1).errorCode == .invalidRecord)

        var twoBatches = Self.handMadeBatch
        twoBatches.writeImmutableBuffer(Self.handMadeBatch)
        #expect(throws: RecordBatchError.notExactlyOneBatch(count: 2)) { _ = try RecordBatch.validateForProduce(twoBatches, apiVersion: 9) }

        var zstd = RecordBatchBuilder(compression: .zstd)
        zstd.append(key: nil, value: ByteBuffer(string: "v"), timestamp: 0)
        let zstdBytes = try zstd.build()
        #expect(throws: RecordBatchError.compressionNeedsNewerProduce(version: 6)) { _ = try RecordBatch.validateForProduce(zstdBytes, apiVersion: 6) }
        #expect(RecordBatchError.compressionNeedsNewerProduce(version: 6).errorCode == .unsupportedCompressionType)

        var badChecksum = Self.handMadeBatch
        badChecksum.setInteger(UInt32(0), at: RecordBatchHeader.crcOffset)
        #expect(throws: RecordBatchError.checksumMismatch(stored: 0, computed: 0xE99B_8DD8)) { _ = try RecordBatch.validateForProduce(badChecksum, apiVersion: 9) }
        #expect(RecordBatchError.checksumMismatch(stored: 0, computed: 1).errorCode == .corruptMessage)

        let truncated = Self.handMadeBatch.getSlice(at: 0, length: 40)!
        #expect(throws: RecordBatchError.truncated(neededBytes: 61, availableBytes: 40)) { _ = try RecordBatch.validateForProduce(truncated, apiVersion: 9) }

        var tooShort = Self.handMadeBatch
        tooShort.setInteger(Int32(10), at: 8)
        #expect(throws: RecordBatchError.invalidBatchLength(10)) { _ = try RecordBatch.validateForProduce(tooShort, apiVersion: 9) }
    }

    @Test func controlRecordKeys() throws {
        let key = ControlRecordKey(type: .commit)
        #expect(key.encode() == hex("0000 0001"))
        #expect(try ControlRecordKey(from: hex("0000 0000")) == ControlRecordKey(type: .abort))
        #expect(throws: KafkaDecodingError.self) { _ = try ControlRecordKey(from: hex("0000 0009")) }
    }
}
