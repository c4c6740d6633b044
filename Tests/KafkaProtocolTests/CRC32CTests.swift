import KafkaProtocol
import Testing

/// RFC 3720 (iSCSI) appendix B.4 test vectors, plus the common "123456789" check value.
@Suite struct CRC32CTests {
    static let vectors: [(String, [UInt8], UInt32)] = [
        ("32 zero bytes", [UInt8](repeating: 0, count: 32), 0x8A91_36AA),
        ("32 0xFF bytes", [UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
        ("32 incrementing bytes", (0..<32).map { UInt8($0) }, 0x46DD_794E),
        ("32 decrementing bytes", (0..<32).reversed().map { UInt8($0) }, 0x113F_DB5C),
        ("iSCSI read command PDU", [
            0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
            0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ], 0xD996_3A56),
        ("check value", Array("123456789".utf8), 0xE306_9283),
    ]

    @Test func rfc3720Vectors() {
        for (name, bytes, expected) in Self.vectors {
            #expect(CRC32C.checksum(bytes) == expected, "\(name)")
            let portable = bytes.withUnsafeBytes { CRC32C.portableChecksum($0) }
            #expect(portable == expected, "\(name), portable")
        }
    }

    @Test func incrementalEqualsWhole() {
        let bytes: [UInt8] = (0..<10_007).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let whole = CRC32C.checksum(bytes)
        for split in [0, 1, 7, 8, 9, 4096, 10_006] {
            let first = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<split])) }
            let both = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[split...]), continuing: first) }
            #expect(both == whole, "split at \(split)")
        }
        let portable = bytes.withUnsafeBytes { CRC32C.portableChecksum($0) }
        #expect(portable == whole)
    }
}
