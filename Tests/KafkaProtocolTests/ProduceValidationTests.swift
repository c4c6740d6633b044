import Compression
import KafkaProtocol
import NIOCore
import Testing

/// Kafka's per-record validation of produced batches: nothing a producer sends decides the batch-level
/// fields, and no compressed batch is stored unchecked.
@Suite struct ProduceValidationTests {
    static let now: Int64 = 1_700_000_000_000

    func produced(_ values: [String?], keys: [String?]? = nil, compression: CompressionCodec = .none, timestamps: [Int64]? = nil) throws -> RecordBatch {
        var builder = RecordBatchBuilder(compression: compression)
        for (index, value) in values.enumerated() {
            builder.append(key: keys?[index].map { ByteBuffer(string: $0) }, value: value.map { ByteBuffer(string: $0) },
                           timestamp: timestamps?[index] ?? Self.now + Int64(index))
        }
        return try RecordBatch.validateForProduce(try builder.build(), apiVersion: 9)
    }

    /// Rewrites header bytes (and the CRC, so that only the validation can catch the lie).
    func patched(_ batch: RecordBatch, _ change: (inout ByteBuffer, Int) -> Void) throws -> RecordBatch {
        var bytes = batch.bytes
        change(&bytes, bytes.readerIndex)
        var result = try RecordBatch.read(from: &bytes)
        let crc = result.computedChecksum
        result.bytes.setInteger(crc, at: result.bytes.readerIndex + RecordBatchHeader.crcOffset)
        result.header.crc = crc
        return try RecordBatch.validateForProduce(result.bytes, apiVersion: 9)
    }

    @Test func aMaxTimestampOfMinusOneIsRecomputedFromTheRecords() throws {
        let batch = try patched(try produced(["a", "b", "c"], timestamps: [5_000, 9_000, 7_000])) { bytes, start in
            bytes.setInteger(Int64(-1), at: start + 35)
        }
        #expect(batch.header.maxTimestamp == -1)
        let stored = try batch.validatedForAppend(rules: ProduceValidationRules(), nowMilliseconds: Self.now)
        #expect(stored.header.maxTimestamp == 9_000)
        try stored.verifyChecksum()
        var bytes = stored.bytes
        #expect(try RecordBatch.read(from: &bytes).header.maxTimestamp == 9_000)
    }

    @Test(arguments: CompressionCodec.allCases)
    func validBatchesOfEveryCodecPass(_ codec: CompressionCodec) throws {
        let batch = try produced((0..<200).map { "value-\($0)" }, compression: codec)
        let stored = try batch.validatedForAppend(rules: ProduceValidationRules(), nowMilliseconds: Self.now)
        #expect(stored.bytes == batch.bytes)
    }

    @Test func gzipOfRandomBytesIsRefused() throws {
        var garbage = ByteBuffer()
        for index in 0..<4096 { garbage.writeInteger(UInt8(truncatingIfNeeded: index &* 2_654_435_761 >> 7)) }
        let batch = try compressedBatch(body: garbage, codec: .gzip)
        #expect(throws: ProduceValidationError.self) { try batch.validatedForAppend(rules: ProduceValidationRules(), nowMilliseconds: Self.now) }
        do {
            _ = try batch.validatedForAppend(rules: ProduceValidationRules(), nowMilliseconds: Self.now)
        } catch {
            #expect(error.errorCode == .corruptMessage)
        }
    }

    @Test func aGzipBombIsRefusedAtTheBound() throws {
        // 200 MiB of zeros compress to about 200 KiB.
        let zeros = [UInt8](repeating: 0, count: 200 << 20)
        let compressed = try Compressor.compress(zeros, codec: .gzip)
        let batch = try compressedBatch(body: ByteBuffer(bytes: compressed), codec: .gzip, recordCount: 1)
        var rules = ProduceValidationRules()
        rules.maximumUncompressedBytes = 8 << 20
        do {
            _ = try batch.validatedForAppend(rules: rules, nowMilliseconds: Self.now)
            Issue.record("a decompression bomb was accepted")
        } catch {
            #expect(error.errorCode == .messageTooLarge)
        }
    }

    @Test func offsetDeltasMustRunFromZero() throws {
        // Two records whose offset deltas are 0 and 5 while the header says the last delta is 1.
        var records = ByteBuffer()
        Record(timestampDelta: 0, offsetDelta: 0, key: nil, value: ByteBuffer(string: "a")).encode(into: &records)
        Record(timestampDelta: 0, offsetDelta: 5, key: nil, value: ByteBuffer(string: "b")).encode(into: &records)
        let batch = try compressedBatch(body: records, codec: .none, recordCount: 2)
        do {
            _ = try batch.validatedForAppend(rules: ProduceValidationRules(), nowMilliseconds: Self.now)
            Issue.record("a batch with wrong offset deltas was accepted")
        } catch {
            #expect(error.errorCode == .corruptMessage)
        }
    }

    @Test func aRecordCountThatDisagreesIsRefused() throws {
        var records = ByteBuffer()
        Record(timestampDelta: 0, offsetDelta: 0, key: nil, value: ByteBuffer(string: "a")).encode(into: &records)
        let batch = try compressedBatch(body: records, codec: .lz4, recordCount: 3)
        #expect(throws: ProduceValidationError.self) { try batch.validatedForAppend(rules: ProduceValidationRules(), nowMilliseconds: Self.now) }
    }

    @Test func compactedTopicsNeedKeys() throws {
        let batch = try produced(["a", "b", "c"], keys: ["k", nil, "k"])
        var rules = ProduceValidationRules()
        rules.requireKeys = true
        do {
            _ = try batch.validatedForAppend(rules: rules, nowMilliseconds: Self.now)
            Issue.record("a record without a key reached a compacted topic")
        } catch {
            #expect(error.errorCode == .invalidRecord)
            if case .records(_, _, let problems) = error { #expect(problems.map(\.index) == [1]) }
        }
    }

    @Test func timestampsOutsideTheWindowAreRefused() throws {
        var rules = ProduceValidationRules()
        rules.timestampBeforeMaxMilliseconds = 60_000
        rules.timestampAfterMaxMilliseconds = 60_000
        let batch = try produced(["old", "fine", "future"], timestamps: [Self.now - 120_000, Self.now, Self.now + 120_000])
        do {
            _ = try batch.validatedForAppend(rules: rules, nowMilliseconds: Self.now)
            Issue.record("records outside the timestamp window were accepted")
        } catch {
            #expect(error.errorCode == .invalidTimestamp)
            if case .records(_, _, let problems) = error { #expect(problems.map(\.index) == [0, 2]) }
        }
        // The defaults (Long.MAX_VALUE) check nothing and never overflow.
        _ = try produced(["x"], timestamps: [Int64.max - 1]).validatedForAppend(rules: ProduceValidationRules(), nowMilliseconds: Self.now)
    }

    @Test func aTimestampDeltaThatOverflowsIsRefused() throws {
        var records = ByteBuffer()
        Record(timestampDelta: 1, offsetDelta: 0, key: nil, value: ByteBuffer(string: "a")).encode(into: &records)
        let batch = try compressedBatch(body: records, codec: .none, recordCount: 1, baseTimestamp: .max)
        #expect(throws: ProduceValidationError.self) { try batch.validatedForAppend(rules: ProduceValidationRules(), nowMilliseconds: Self.now) }
    }

    @Test(arguments: [CompressionCodec.none, .gzip, .snappy, .lz4, .zstd])
    func theTopicsCompressionTypeRecompresses(_ target: CompressionCodec) throws {
        let batch = try produced((0..<50).map { "value-\($0)" }, keys: (0..<50).map { "k\($0)" }, compression: target == .zstd ? .gzip : .zstd)
        var rules = ProduceValidationRules()
        rules.compression = target
        let stored = try batch.validatedForAppend(rules: rules, nowMilliseconds: Self.now)
        #expect(stored.header.compression == target)
        try stored.verifyChecksum()
        #expect(try stored.records() == batch.records())
        #expect(stored.header.baseTimestamp == batch.header.baseTimestamp)
        #expect(stored.header.maxTimestamp == batch.header.maxTimestamp)
    }

    /// A batch around `body` (already compressed with `codec`), with a correct CRC.
    func compressedBatch(body: ByteBuffer, codec: CompressionCodec, recordCount: Int32 = 1, baseTimestamp: Int64 = now) throws -> RecordBatch {
        var header = RecordBatchHeader(
            attributes: RecordBatchHeader.attributes(compression: codec), lastOffsetDelta: recordCount - 1,
            baseTimestamp: baseTimestamp, maxTimestamp: baseTimestamp, recordCount: recordCount)
        header.batchLength = Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead + body.readableBytes)
        var bytes = ByteBuffer()
        header.write(into: &bytes)
        bytes.writeImmutableBuffer(body)
        var batch = try RecordBatch.read(from: &bytes)
        let crc = batch.computedChecksum
        batch.bytes.setInteger(crc, at: batch.bytes.readerIndex + RecordBatchHeader.crcOffset)
        batch.header.crc = crc
        return try RecordBatch.validateForProduce(batch.bytes, apiVersion: 9)
    }
}
