/// Kafka's `uuid` type: 16 bytes, written most significant half first. Its text form is the URL-safe
/// base64 of those bytes without padding (22 characters), as `org.apache.kafka.common.Uuid` prints it.
public struct KafkaUUID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The all-zero id, which Kafka uses for "no topic id".
    public static let zero = KafkaUUID(high: 0, low: 0)

    /// A random version-4 UUID that is neither zero nor reserved and whose text form does not start with
    /// '-' (Kafka avoids those so that ids are never mistaken for command-line flags).
    public static func random() -> KafkaUUID {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    public static func random(using generator: inout some RandomNumberGenerator) -> KafkaUUID {
        while true {
            var high = generator.next() as UInt64
            var low = generator.next() as UInt64
            high = (high & ~0xF000) | 0x4000  // version 4
            low = (low & ~(UInt64(0xC) << 60)) | (UInt64(0x8) << 60)  // IETF variant
            let candidate = KafkaUUID(high: high, low: low)
            // Kafka reserves zero and 1 (the metadata topic id).
            if candidate == .zero || candidate == KafkaUUID(high: 0, low: 1) { continue }
            if candidate.description.first == "-" { continue }
            return candidate
        }
    }

    public var bytes: [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(16)
        for shift in stride(from: 56, through: 0, by: -8) { result.append(UInt8(truncatingIfNeeded: high >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { result.append(UInt8(truncatingIfNeeded: low >> UInt64(shift))) }
        return result
    }

    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public var description: String {
        let input = bytes
        var output: [UInt8] = []
        output.reserveCapacity(22)
        var index = 0
        while index + 3 <= input.count {
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            output.append(Self.alphabet[Int((chunk >> 18) & 63)])
            output.append(Self.alphabet[Int((chunk >> 12) & 63)])
            output.append(Self.alphabet[Int((chunk >> 6) & 63)])
            output.append(Self.alphabet[Int(chunk & 63)])
            index += 3
        }
        // 16 bytes leave one byte: two characters, no padding.
        let last = UInt32(input[15])
        output.append(Self.alphabet[Int(last >> 2)])
        output.append(Self.alphabet[Int((last & 3) << 4)])
        return String(decoding: output, as: UTF8.self)
    }

    /// Parses the 22-character text form.
    public init?(_ text: String) {
        let characters = Array(text.utf8)
        guard characters.count == 22 else { return nil }
        var values: [UInt32] = []
        values.reserveCapacity(22)
        for character in characters {
            guard let value = Self.alphabet.firstIndex(of: character) else { return nil }
            values.append(UInt32(value))
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(16)
        var index = 0
        while index + 4 <= 20 {
            let chunk = values[index] << 18 | values[index + 1] << 12 | values[index + 2] << 6 | values[index + 3]
            decoded.append(UInt8(truncatingIfNeeded: chunk >> 16))
            decoded.append(UInt8(truncatingIfNeeded: chunk >> 8))
            decoded.append(UInt8(truncatingIfNeeded: chunk))
            index += 4
        }
        guard values[21] & 15 == 0 else { return nil }
        decoded.append(UInt8(truncatingIfNeeded: values[20] << 2 | values[21] >> 4))
        var high: UInt64 = 0
        var low: UInt64 = 0
        for byte in decoded[0..<8] { high = high << 8 | UInt64(byte) }
        for byte in decoded[8..<16] { low = low << 8 | UInt64(byte) }
        self.init(high: high, low: low)
    }

    public static func < (lhs: KafkaUUID, rhs: KafkaUUID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }
}
