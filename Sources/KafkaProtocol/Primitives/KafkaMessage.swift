public import NIOCore

/// A tagged field this version of a struct does not know, kept byte-exact so that re-encoding a decoded
/// message preserves it.
public struct KafkaTaggedField: Hashable, Sendable {
    public var tag: UInt32
    public var data: ByteBuffer

    public init(tag: UInt32, data: ByteBuffer) {
        self.tag = tag
        self.data = data
    }
}

/// A top-level message generated from Apache Kafka's JSON schemas: a request, a response or a header.
/// One value type carries every version; `version` selects the wire layout when reading and writing.
public protocol KafkaMessage: Sendable, Equatable {
    /// The schema's name, e.g. `ProduceRequest`.
    static var messageName: String { get }
    static var validVersions: ClosedRange<Int16> { get }
    /// The first version using the flexible encoding (compact types, tagged fields), nil if none does.
    static var firstFlexibleVersion: Int16? { get }

    init()
    /// Decodes one message of `version`; it consumes what the version defines and leaves the rest.
    init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError)
    func encode(into buffer: inout ByteBuffer, version: Int16) throws(KafkaEncodingError)
}

extension KafkaMessage {
    public static func isFlexible(version: Int16) -> Bool {
        guard let firstFlexibleVersion else { return false }
        return version >= firstFlexibleVersion
    }

    /// Compares with a message whose type is only known at run time.
    public func isEqual(to other: any KafkaMessage) -> Bool {
        guard let other = other as? Self else { return false }
        return self == other
    }
}

public protocol KafkaRequestMessage: KafkaMessage {
    associatedtype Response: KafkaResponseMessage
    static var apiKey: KafkaApiKey { get }
}

public protocol KafkaResponseMessage: KafkaMessage {
    static var apiKey: KafkaApiKey { get }
}
