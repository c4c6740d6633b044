import MQTTProtocol
import NIOCore
import Testing

/// 100,000 random and mutated inputs, seeded from the golden packets and from generated ones. The
/// decoder must not trap; a failed or incomplete decode consumes nothing; and whatever decodes must
/// re-encode (with `encodedSize` agreeing) to bytes that decode to an equal packet.
@Suite struct RandomInputTests {
    /// Golden packets from GoldenBytesTests, without the annotations, with the version they are read in.
    static let goldenSeeds: [(hex: String, version: MQTTProtocolVersion?)] = [
        ("10 31 0004 \"MQTT\" 04 ee 003c 0006 \"client\" 000a \"will/topic\" 0003 \"bye\" 0004 \"user\" 0006 \"secret\"", nil),
        ("10 11 0006 \"MQIsdp\" 03 02 000a 0003 \"abc\"", nil),
        ("""
        10 67 0004 "MQTT" 05 86 001e 28 11 00000e10 15 0005 "SCRAM" 16 0002 0102 17 00 19 01 21 0014 22 000a
        26 0001 "k" 0001 "v" 27 00010000 0005 "dev-1" 14 01 01 03 000a "text/plain" 18 00000005 0006 "status"
        0007 "offline" 0005 "alice"
        """, nil),
        ("10 10 0004 \"MQTT\" 05 40 0000 00 0000 0001 ab", nil),
        ("20 02 01 00", .v3_1_1),
        ("20 02 00 05", .v3_1_1),
        ("20 24 00 00 21 12 0006 \"auto-1\" 13 003c 21 000a 22 0005 24 01 25 01 27 00100000 28 01 29 00 2a 01", .v5),
        ("20 0d 00 9c 0a 1c 0007 \"other:1\"", .v5),
        ("30 0a 0003 \"a/b\" \"hello\"", .v3_1_1),
        ("3b 09 0003 \"a/b\" 000a \"hi\"", .v3_1_1),
        ("34 06 0001 \"t\" 1234 \"x\"", .v3_1),
        ("""
        32 43 0003 "s/1" 0007 39 01 01 02 0000003c 03 0010 "application/json" 08 0005 "r/s/1" 09 0004 deadbeef
        0b 05 0b 8001 23 0001 26 0001 "a" 0002 "bc" "{}"
        """, .v5),
        ("30 0a 0000 03 23 0001 \"data\"", .v5),
        ("35 07 0001 \"t\" 0002 00 \"x\"", .v5),
        ("40 02 0007", .v3_1_1),
        ("62 02 0007", .v3_1_1),
        ("40 03 0007 10", .v5),
        ("50 0a 0007 99 06 1f 0003 \"bad\"", .v5),
        ("62 03 0007 92", .v5),
        ("70 0b 0007 00 07 26 0001 \"k\" 0001 \"v\"", .v5),
        ("82 0e 000a 0003 \"a/b\" 01 0003 \"c/#\" 02", .v3_1_1),
        ("82 1c 000b 02 0b 2a 0003 \"a/+\" 2d 000e \"$share/g/x/y/#\" 10", .v5),
        ("90 05 000a 01 02 80", .v3_1_1),
        ("90 0b 000b 05 1f 0002 \"ok\" 01 8f a2", .v5),
        ("a2 0a 000c 0003 \"a/b\" 0001 \"#\"", .v3_1_1),
        ("a2 08 000c 00 0003 \"a/b\"", .v5),
        ("b0 02 000c", .v3_1_1),
        ("b0 05 000c 00 00 11", .v5),
        ("c0 00", .v5),
        ("d0 00", .v3_1_1),
        ("e0 00", .v3_1_1),
        ("e0 01 04", .v5),
        ("e0 0e 8e 0c 11 00000000 1f 0004 \"gone\"", .v5),
        ("f0 00", .v5),
        ("f0 10 18 0e 15 0005 \"SCRAM\" 16 0003 010203", .v5),
    ]

    struct Outcome {
        var decoded = 0
        var failed = 0
        var incomplete = 0
        var problems: [String] = []
    }

    @Test func randomAndMutatedPackets() throws {
        var generator = PacketGenerator(seed: 0x5EED)
        var seeds: [(bytes: [UInt8], version: MQTTProtocolVersion?)] = Self.goldenSeeds.map {
            (Array(hex($0.hex).readableBytesView), $0.version)
        }
        for version in MQTTProtocolVersion.allCases {
            for type in 1...(version == .v5 ? 15 : 14) {
                for _ in 0..<4 {
                    var buffer = ByteBuffer()
                    try MQTTPacketCodec.encode(generator.packet(type, version: version), version: version, into: &buffer)
                    seeds.append((Array(buffer.readableBytesView), type == 1 ? nil : version))
                }
            }
        }
        let versions: [MQTTProtocolVersion?] = [nil, .v3_1, .v3_1_1, .v5]
        var outcome = Outcome()
        for iteration in 0..<100_000 {
            var bytes: [UInt8]
            var version: MQTTProtocolVersion?
            if iteration % 10 == 0 {
                bytes = (0..<generator.below(48)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                version = generator.pick(versions)
            } else {
                let seed = generator.pick(seeds)
                bytes = seed.bytes
                version = generator.chance(85) ? seed.version : generator.pick(versions)
                for _ in 0..<(1 + generator.below(3)) {
                    mutate(&bytes, generator: &generator, seeds: seeds)
                }
                // Most mutations would otherwise only be caught by the length check; make the fixed
                // header agree with the body so that the fields get exercised too.
                if generator.chance(70) && bytes.count >= 2 && bytes.count - 2 < 128 {
                    bytes[1] = UInt8(bytes.count - 2)
                }
            }
            let maximumPacketSize = generator.chance(90) ? Int.max : generator.below(300)
            check(bytes, version: version, maximumPacketSize: maximumPacketSize, outcome: &outcome)
            if outcome.problems.count >= 5 { break }
        }
        for problem in outcome.problems { Issue.record(Comment(rawValue: problem)) }
        // The test is only worth something if a fair share of the inputs get through the decoder.
        #expect(outcome.decoded > 10_000, "decoded \(outcome.decoded), failed \(outcome.failed), incomplete \(outcome.incomplete)")
        #expect(outcome.failed > 20_000)
    }

    func mutate(_ bytes: inout [UInt8], generator: inout PacketGenerator, seeds: [(bytes: [UInt8], version: MQTTProtocolVersion?)]) {
        let randomByte = UInt8(truncatingIfNeeded: generator.next())
        switch generator.below(9) {
        case 0 where !bytes.isEmpty:
            bytes[generator.below(bytes.count)] ^= 1 << UInt8(generator.below(8))
        case 1 where !bytes.isEmpty:
            bytes[generator.below(bytes.count)] = randomByte
        case 2:
            bytes.insert(randomByte, at: generator.below(bytes.count + 1))
        case 3 where !bytes.isEmpty:
            bytes.remove(at: generator.below(bytes.count))
        case 4:
            bytes.removeLast(generator.below(bytes.count + 1))
        case 5:
            bytes += generator.pick(seeds).bytes
        case 6 where bytes.count > 1:
            bytes[1] = randomByte
        case 7 where !bytes.isEmpty:
            // Another packet type or flags.
            bytes[0] = generator.bool() ? (bytes[0] & 0x0F) | (randomByte & 0xF0) : (bytes[0] & 0xF0) | (randomByte & 0x0F)
        case 8 where bytes.count > 2:
            // Duplicate a run of bytes (repeated properties, fields).
            let start = generator.below(bytes.count)
            let end = min(bytes.count, start + 1 + generator.below(8))
            bytes.insert(contentsOf: bytes[start..<end], at: generator.below(bytes.count + 1))
        default:
            bytes.append(randomByte)
        }
    }

    func check(_ bytes: [UInt8], version initialVersion: MQTTProtocolVersion?, maximumPacketSize: Int, outcome: inout Outcome) {
        var buffer = ByteBuffer(bytes: bytes)
        var version = initialVersion
        // Bounded by the input: every successful decode consumes at least the 2-byte fixed header.
        while true {
            let before = buffer.readerIndex
            let packet: MQTTPacket?
            do {
                packet = try MQTTPacketCodec.decode(from: &buffer, version: version, maximumPacketSize: maximumPacketSize)
            } catch {
                outcome.failed += 1
                if buffer.readerIndex != before { outcome.problems.append("a failed decode consumed bytes: \(hexString(bytes))") }
                _ = error.description
                return
            }
            guard let packet else {
                outcome.incomplete += 1
                if buffer.readerIndex != before { outcome.problems.append("an incomplete decode consumed bytes: \(hexString(bytes))") }
                return
            }
            outcome.decoded += 1
            guard buffer.readerIndex >= before + 2 else {
                outcome.problems.append("a decode consumed less than a fixed header: \(hexString(bytes))")
                return
            }
            var encodingVersion = version ?? .v5
            if case .connect(let connect) = packet {
                encodingVersion = connect.protocolVersion
            }
            var encoded = ByteBuffer()
            do {
                try MQTTPacketCodec.encode(packet, version: encodingVersion, into: &encoded)
                let size = try MQTTPacketCodec.encodedSize(packet, version: encodingVersion)
                if size != encoded.readableBytes {
                    outcome.problems.append("encodedSize \(size) but \(encoded.readableBytes) bytes written for \(packet)")
                }
            } catch {
                outcome.problems.append("decoded \(packet) from \(hexString(bytes)) does not re-encode: \(error)")
                return
            }
            var again = encoded
            do {
                let redecoded = try MQTTPacketCodec.decode(from: &again, version: version, maximumPacketSize: .max)
                if redecoded != packet || again.readableBytes != 0 {
                    outcome.problems.append("re-encoded \(packet) decodes as \(String(describing: redecoded)); input \(hexString(bytes))")
                }
            } catch {
                outcome.problems.append("re-encoded \(packet) does not decode: \(error); input \(hexString(bytes))")
            }
            if version == nil, case .connect(let connect) = packet {
                version = connect.protocolVersion
            }
        }
    }

    func hexString(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
    }
}
