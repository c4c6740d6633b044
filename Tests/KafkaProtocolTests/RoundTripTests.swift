import KafkaProtocol
import NIOCore
import Testing

/// Every generated message × every valid version: random values encode, decode to an equal value, and
/// encode again to the same bytes.
@Suite struct RoundTripTests {
    static let messageTypes: [any ArbitraryKafkaMessage.Type] = {
        var types: [any ArbitraryKafkaMessage.Type] = [RequestHeader.self, ResponseHeader.self]
        for key in KafkaApiKey.allCases {
            types.append(key.requestType as! any ArbitraryKafkaMessage.Type)
            types.append(key.responseType as! any ArbitraryKafkaMessage.Type)
        }
        return types
    }()

    @Test func everyBrokerApiIsGenerated() {
        #expect(KafkaApiKey.allCases.count == 72)
        #expect(Self.messageTypes.count == 146)
    }

    @Test(arguments: messageTypes.map { MessageTypeArgument(type: $0) })
    func roundTrip(_ argument: MessageTypeArgument) throws {
        let type = argument.type
        var nonDefaultValues = 0
        for version in type.validVersions {
            for iteration in 0..<25 {
                var generator = ArbitraryGenerator(seed: Self.seed(type.messageName, version: version, iteration: iteration))
                if try Self.check(type, version: version, generator: &generator) {
                    nonDefaultValues += 1
                }
            }
        }
        // Guards against a generator that only ever produces empty messages.
        #expect(nonDefaultValues > 0, "\(type.messageName): every random value was the default")
    }

    /// Stable across runs (FNV-1a of the name), so a failure reproduces.
    static func seed(_ name: String, version: Int16, iteration: Int) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
        }
        return hash &+ UInt64(version) &* 1_000_003 &+ UInt64(iteration)
    }

    /// Returns whether the random value differed from the default value.
    static func check<Message: ArbitraryKafkaMessage>(_ type: Message.Type, version: Int16, generator: inout ArbitraryGenerator) throws -> Bool {
        let original = Message.arbitrary(version: version, using: &generator)
        var encoded = ByteBuffer()
        try original.encode(into: &encoded, version: version)
        let bytes = encoded
        let decoded = try Message(from: &encoded, version: version)
        #expect(encoded.readableBytes == 0, "\(Message.messageName) v\(version) left \(encoded.readableBytes) bytes")
        #expect(decoded == original, "\(Message.messageName) v\(version) did not round-trip")
        var reencoded = ByteBuffer()
        try decoded.encode(into: &reencoded, version: version)
        #expect(reencoded == bytes, "\(Message.messageName) v\(version) re-encoded differently")
        return original != Message()
    }
}

/// Wraps a metatype so that Swift Testing can name each parameterised case.
struct MessageTypeArgument: CustomTestStringConvertible, Sendable {
    let type: any ArbitraryKafkaMessage.Type
    var testDescription: String { type.messageName }
}
