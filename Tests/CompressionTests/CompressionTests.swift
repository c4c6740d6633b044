import Compression
import Testing

@Suite struct CompressionTests {
    static let codecs: [CompressionCodec] = [.gzip, .snappy, .lz4, .zstd]

    static func sample(_ size: Int) -> [UInt8] {
        // Compressible but not trivial: a repeating JSON-ish record with a counter.
        var bytes: [UInt8] = []
        var counter = 0
        while bytes.count < size {
            bytes.append(contentsOf: Array("{\"device\":\"dev-\(counter % 97)\",\"temperature\":\(counter % 120)}\n".utf8))
            counter += 1
        }
        return Array(bytes.prefix(size))
    }

    @Test(arguments: codecs)
    func roundTripsItsOwnOutput(_ codec: CompressionCodec) throws {
        for size in [0, 1, 100, 70_000, 1_000_000] {
            let input = Self.sample(size)
            let compressed = try Compressor.compress(input, codec: codec)
            if size >= 70_000 { #expect(compressed.count < input.count / 2, "\(codec) did not compress") }
            let output = try Compressor.decompress(compressed, codec: codec, maximumOutputBytes: size + 1)
            #expect(output == input, "\(codec) size \(size)")
        }
    }

    @Test(arguments: codecs)
    func refusesOutputBeyondTheLimit(_ codec: CompressionCodec) throws {
        let input = Self.sample(100_000)
        let compressed = try Compressor.compress(input, codec: codec)
        #expect(throws: CompressionError(codec: codec, reason: .outputLimitExceeded(limit: 50_000))) {
            _ = try Compressor.decompress(compressed, codec: codec, maximumOutputBytes: 50_000)
        }
    }

    @Test(arguments: codecs)
    func rejectsCorruptAndTruncatedInput(_ codec: CompressionCodec) throws {
        let input = Self.sample(10_000)
        let compressed = try Compressor.compress(input, codec: codec)
        let truncated = Array(compressed.prefix(compressed.count / 2))
        #expect(throws: CompressionError.self) {
            _ = try Compressor.decompress(truncated, codec: codec, maximumOutputBytes: 1 << 20)
        }
        let garbage: [UInt8] = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        #expect(throws: CompressionError.self) {
            _ = try Compressor.decompress(garbage, codec: codec, maximumOutputBytes: 1 << 20)
        }
    }

    @Test func snappyReadsRawBlocksAsLibrdkafkaWritesThem() throws {
        // A raw snappy block (no xerial header): varint length 5, literal tag (len-1)<<2, "hello".
        let raw: [UInt8] = [0x05, 0x10] + Array("hello".utf8)
        #expect(try Compressor.decompress(raw, codec: .snappy, maximumOutputBytes: 100) == Array("hello".utf8))
    }

    @Test func snappyWritesTheXerialFraming() throws {
        let compressed = try Compressor.compress(Self.sample(100_000), codec: .snappy)
        #expect(Array(compressed.prefix(8)) == [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00])
        #expect(Array(compressed[8..<16]) == [0, 0, 0, 1, 0, 0, 0, 1])
    }

    @Test func gzipReadsConcatenatedMembers() throws {
        let first = try Compressor.compress(Array("first ".utf8), codec: .gzip)
        let second = try Compressor.compress(Array("second".utf8), codec: .gzip)
        #expect(try Compressor.decompress(first + second, codec: .gzip, maximumOutputBytes: 100) == Array("first second".utf8))
    }

    @Test func namesFollowKafkaConfiguration() {
        #expect(CompressionCodec(name: "zstd") == .zstd)
        #expect(CompressionCodec(name: "uncompressed") == CompressionCodec.none)
        #expect(CompressionCodec(name: "brotli") == nil)
    }
}
