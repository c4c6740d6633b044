import KafkaProtocol
import NIOCore

/// Random field values for the generated round-trip test, reproducible from a seed.
struct ArbitraryGenerator {
    private var state: UInt64
    /// Nesting depth of arrays being filled; deeper arrays get fewer elements so values stay small.
    private var depth = 0

    init(seed: UInt64) {
        self.state = seed &+ 0x9E37_79B9_7F4A_7C15
    }

    /// SplitMix64.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    mutating func bool() -> Bool { next() & 1 == 1 }
    mutating func int8() -> Int8 { Int8(truncatingIfNeeded: next()) }
    mutating func int16() -> Int16 { Int16(truncatingIfNeeded: next()) }
    mutating func uint16() -> UInt16 { UInt16(truncatingIfNeeded: next()) }
    mutating func int32() -> Int32 { Int32(truncatingIfNeeded: next()) }
    mutating func uint32() -> UInt32 { UInt32(truncatingIfNeeded: next()) }
    mutating func int64() -> Int64 { Int64(bitPattern: next()) }

    /// A finite value (NaN would never compare equal to itself).
    mutating func float64() -> Double {
        Double(Int32(truncatingIfNeeded: next())) / 7.0
    }

    mutating func string() -> String {
        let pieces = ["a", "topic", "-", "_", ".", "é", "日本", "🙂", "0", "Z", " "]
        var text = ""
        for _ in 0..<below(6) {
            text += pieces[below(pieces.count)]
        }
        return text
    }

    mutating func uuid() -> KafkaUUID {
        KafkaUUID(high: next(), low: next())
    }

    mutating func bytes() -> ByteBuffer {
        var buffer = ByteBuffer()
        for _ in 0..<below(20) {
            buffer.writeInteger(UInt8(truncatingIfNeeded: next()))
        }
        return buffer
    }

    /// True about one time in four: a nullable field becomes null.
    mutating func null() -> Bool { below(4) == 0 }

    mutating func array<Element>(_ element: (inout ArbitraryGenerator) -> Element) -> [Element] {
        let limit = depth >= 2 ? 2 : 4
        depth += 1
        defer { depth -= 1 }
        var elements: [Element] = []
        for _ in 0..<below(limit) {
            elements.append(element(&self))
        }
        return elements
    }

    /// Sometimes a few tagged fields the schema does not define, with tags at or above `firstTag`.
    mutating func unknownTaggedFields(firstTag: UInt32) -> [KafkaTaggedField] {
        guard below(3) == 0 else { return [] }
        var fields: [KafkaTaggedField] = []
        var tag = firstTag + UInt32(below(3))
        for _ in 0..<(1 + below(2)) {
            fields.append(KafkaTaggedField(tag: tag, data: bytes()))
            tag += 1 + UInt32(below(100))
        }
        return fields
    }
}

/// Implemented by the generated `Arbitrary+<Message>.swift` files.
protocol ArbitraryKafkaMessage: KafkaMessage {
    static func arbitrary(version: Int16, using generator: inout ArbitraryGenerator) -> Self
}
