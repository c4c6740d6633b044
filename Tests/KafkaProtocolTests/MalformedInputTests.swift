import KafkaProtocol
import NIOCore
import Testing

/// Bad bytes give a typed error that names the API key, version and field; they never trap.
@Suite struct MalformedInputTests {
    static func frame(apiKey: Int16, version: Int16, correlationId: Int32 = 1, clientId: String? = "t", body: ByteBuffer) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(apiKey)
        buffer.writeInteger(version)
        buffer.writeInteger(correlationId)
        if let clientId {
            buffer.writeInteger(Int16(clientId.utf8.count))
            buffer.writeString(clientId)
        } else {
            buffer.writeInteger(Int16(-1))
        }
        if KafkaApiKey(rawValue: apiKey)?.isFlexible(version: version) == true {
            buffer.writeInteger(UInt8(0))  // header tagged fields
        }
        buffer.writeImmutableBuffer(body)
        return buffer
    }

    func decodeError(_ frame: ByteBuffer) -> KafkaDecodingError? {
        var input = frame
        do {
            _ = try KafkaRequestFrame.decode(from: &input)
            return nil
        } catch {
            return error
        }
    }

    @Test func truncatedBody() throws {
        // Metadata v1: topics array of 1, then a string whose length promises more than remains.
        let error = try #require(decodeError(Self.frame(apiKey: 3, version: 1, body: hex("00000001 0005 \"ab\""))))
        #expect(error.apiKey == 3)
        #expect(error.version == 1)
        #expect(error.field == "MetadataRequest.MetadataRequestTopic.Name")
        #expect(error.problem == .lengthExceedsFrame(length: 5, availableBytes: 2))
    }

    @Test func truncatedFixedWidthField() throws {
        let error = try #require(decodeError(Self.frame(apiKey: 0, version: 3, body: hex("ffff ffff 0000"))))
        #expect(error.apiKey == 0 && error.version == 3)
        #expect(error.field == "ProduceRequest.TimeoutMs")
        #expect(error.problem == .truncated(neededBytes: 4, availableBytes: 2))
    }

    @Test func negativeLengths() throws {
        // A string length of -2 and an array length of -5.
        let string = try #require(decodeError(Self.frame(apiKey: 3, version: 1, body: hex("00000001 fffe"))))
        #expect(string.problem == .negativeLength(-2))
        #expect(string.field == "MetadataRequest.MetadataRequestTopic.Name")
        let array = try #require(decodeError(Self.frame(apiKey: 0, version: 3, body: hex("ffff ffff 00007530 fffffffb"))))
        #expect(array.problem == .negativeLength(-5))
        #expect(array.field == "ProduceRequest.TopicData")
    }

    @Test func nullWhereNotNullable() throws {
        // Metadata v0 topics are not nullable.
        let error = try #require(decodeError(Self.frame(apiKey: 3, version: 0, body: hex("ffffffff"))))
        #expect(error.problem == .unexpectedNull)
        #expect(error.field == "MetadataRequest.Topics")
    }

    @Test func oversizedCounts() throws {
        // An array claiming two billion elements in a frame of a few bytes.
        let error = try #require(decodeError(Self.frame(apiKey: 0, version: 3, body: hex("ffff ffff 00007530 7fffffff"))))
        #expect(error.problem == .lengthExceedsFrame(length: Int64(Int32.max), availableBytes: 0))
        // The same in a compact array (flexible Produce v9).
        let compact = try #require(decodeError(Self.frame(apiKey: 0, version: 9, body: hex("00 ffff 00007530 ffffffff0f"))))
        #expect(compact.field == "ProduceRequest.TopicData")
        #expect(compact.problem == .lengthExceedsFrame(length: Int64(UInt32.max) - 1, availableBytes: 0))
    }

    @Test func badVarints() throws {
        // Six continuation bytes where an unsigned varint allows five.
        let error = try #require(decodeError(Self.frame(apiKey: 18, version: 3, body: hex("ffffffffff01"))))
        #expect(error.problem == .malformedVarint)
        #expect(error.field == "ApiVersionsRequest.ClientSoftwareName")
        #expect(error.apiKey == 18 && error.version == 3)
        // A varint that ends with the frame.
        let cut = try #require(decodeError(Self.frame(apiKey: 18, version: 3, body: hex("80"))))
        #expect(cut.problem == .truncated(neededBytes: 2, availableBytes: 1))
    }

    @Test func invalidUTF8() throws {
        let error = try #require(decodeError(Self.frame(apiKey: 3, version: 1, body: hex("00000001 0002 c328"))))
        #expect(error.problem == .invalidUTF8)
    }

    @Test func unknownApiKey() throws {
        let error = try #require(decodeError(Self.frame(apiKey: 999, version: 0, body: hex(""))))
        #expect(error.problem == .unknownApiKey(999))
        #expect(error.apiKey == 999)
        // The header was still readable, so a server can log the correlation id.
        var input = Self.frame(apiKey: 999, version: 0, correlationId: 77, body: hex(""))
        #expect(try KafkaRequestFrame.decodeHeader(from: &input).correlationId == 77)
    }

    @Test func unsupportedVersion() throws {
        let error = try #require(decodeError(Self.frame(apiKey: 0, version: 99, body: hex(""))))
        #expect(error.problem == .unsupportedVersion(99))
        #expect(error.apiKey == 0 && error.version == 99)
        #expect(error.description.contains("api key 0"))
        // ApiVersions beyond the known range still has a readable (flexible) header, as KIP-511 needs.
        var input = Self.frame(apiKey: 18, version: 9, correlationId: 5, clientId: "x", body: hex("00"))
        let header = try KafkaRequestFrame.decodeHeader(from: &input)
        #expect(header.correlationId == 5 && header.requestApiVersion == 9)
    }

    @Test func trailingBytes() throws {
        let error = try #require(decodeError(Self.frame(apiKey: 18, version: 0, body: hex("01 02"))))
        #expect(error.problem == .trailingBytes(2))
        #expect(error.apiKey == 18)
    }

    /// librdkafka 2.16 sends Metadata v12 for all topics as `00 00 00 00 01 00 00`: read as Kafka reads it,
    /// a null topic array (the compact varint 0), two false booleans and no tagged fields, then 3 bytes more.
    /// Apache Kafka answers it; so does the server, which decodes the body and leaves the rest.
    @Test func bodyDecodingLeavesTrailingBytesAsKafkaDoes() throws {
        var input = Self.frame(apiKey: 3, version: 12, body: hex("00 00 00 00 01 00 00"))
        let header = try KafkaRequestFrame.decodeHeader(from: &input)
        guard case .metadata(let request) = try KafkaRequestFrame.decodeBody(header: header, from: &input) else {
            Issue.record("not a Metadata request")
            return
        }
        #expect(request.topics == nil)
        #expect(!request.allowAutoTopicCreation)
        #expect(input.readableBytes == 3)
    }

    /// Found by the fuzzer: repeated or descending tags decoded, but re-encoding sorted them into a different
    /// value. Tags must ascend strictly.
    @Test func taggedFieldsMustAscend() throws {
        let duplicate = try #require(decodeError(hex("0016 0002 00000096 0001 \"x\" 02 00 00 00 00  00 00007530 00")))
        #expect(duplicate.field == "RequestHeader")
        #expect(duplicate.problem == .invalidValue("tagged field 0 follows tag 0; tags must ascend"))
        let descending = try #require(decodeError(hex("0012 0003 00000001 0001 \"x\" 00  01 01 02 07 00 03 00")))
        #expect(descending.field == "ApiVersionsRequest")
        #expect(descending.apiKey == 18)
        var ascending = hex("0012 0003 00000001 0001 \"x\" 00  01 01 02 03 00 07 00")
        let request = try KafkaRequestFrame.decode(from: &ascending)
        guard case .apiVersions(let body) = request.body else { Issue.record("not ApiVersions"); return }
        #expect(body.unknownTaggedFields.map(\.tag) == [3, 7])
    }

    @Test func truncatedHeader() throws {
        let error = try #require(decodeError(hex("00 12")))
        #expect(error.problem == .truncated(neededBytes: 4, availableBytes: 2))
        let noClientId = try #require(decodeError(hex("0012 0000 00000001 00")))
        #expect(noClientId.field == "RequestHeader.ClientId")
    }

    /// 100,000 frames: random bytes, random bytes behind a valid header, and valid requests with bytes
    /// flipped, cut, or inserted. None may trap; whatever decodes must encode again.
    @Test func randomAndMutatedFramesNeverTrap() throws {
        var generator = ArbitraryGenerator(seed: 0x5EED)
        var seeds: [ByteBuffer] = []
        for key in KafkaApiKey.allCases {
            for version in [key.validVersions.lowerBound, key.validVersions.upperBound] {
                let type = key.requestType as! any ArbitraryKafkaMessage.Type
                let body = Self.encodeArbitrary(type, version: version, generator: &generator)
                seeds.append(Self.frame(apiKey: key.rawValue, version: version, body: body))
            }
        }
        var decoded = 0
        for iteration in 0..<100_000 {
            var frame: ByteBuffer
            switch iteration % 4 {
            case 0:
                frame = ByteBuffer()
                for _ in 0..<generator.below(64) { frame.writeInteger(UInt8(truncatingIfNeeded: generator.next())) }
            case 1:
                let key = KafkaApiKey.allCases[generator.below(KafkaApiKey.allCases.count)]
                var body = ByteBuffer()
                for _ in 0..<generator.below(96) { body.writeInteger(UInt8(truncatingIfNeeded: generator.next())) }
                frame = Self.frame(apiKey: key.rawValue, version: Int16(generator.below(Int(key.validVersions.upperBound) + 2)), body: body)
            default:
                frame = seeds[generator.below(seeds.count)]
                Self.mutate(&frame, generator: &generator)
            }
            var input = frame
            guard let request = try? KafkaRequestFrame.decode(from: &input) else { continue }
            decoded += 1
            var encoded = ByteBuffer()
            do {
                try request.encode(into: &encoded)
            } catch {
                guard case .tooLong = error.problem else {
                    Issue.record("decoded request does not re-encode: \(error)")
                    continue
                }
            }
        }
        // The mutations leave a share of frames valid; if none decoded the test would prove little.
        #expect(decoded > 1_000)
    }

    static func encodeArbitrary<Message: ArbitraryKafkaMessage>(_ type: Message.Type, version: Int16, generator: inout ArbitraryGenerator) -> ByteBuffer {
        var buffer = ByteBuffer()
        try! Message.arbitrary(version: version, using: &generator).encode(into: &buffer, version: version)
        return buffer
    }

    static func mutate(_ frame: inout ByteBuffer, generator: inout ArbitraryGenerator) {
        guard frame.readableBytes > 0 else { return }
        switch generator.below(4) {
        case 0:
            let index = generator.below(frame.readableBytes)
            let value = frame.getInteger(at: index, as: UInt8.self)!
            frame.setInteger(value ^ UInt8(1 << generator.below(8)), at: index)
        case 1:
            frame.moveWriterIndex(to: generator.below(frame.readableBytes))
        case 2:
            let index = generator.below(frame.readableBytes)
            frame.setInteger(UInt8(truncatingIfNeeded: [0xFF, 0x7F, 0x80, 0x00][generator.below(4)]), at: index)
        default:
            var copy = ByteBuffer()
            let index = generator.below(frame.readableBytes)
            copy.writeImmutableBuffer(frame.getSlice(at: 0, length: index)!)
            for _ in 0..<(1 + generator.below(4)) { copy.writeInteger(UInt8(truncatingIfNeeded: generator.next())) }
            copy.writeImmutableBuffer(frame.getSlice(at: index, length: frame.readableBytes - index)!)
            frame = copy
        }
    }
}
