/// A string that compares and hashes by its UTF-8 bytes. MQTT topics and client ids match byte for byte
/// with no Unicode normalization [MQTT-4.7.3-4], while Swift's `String` treats canonically equivalent
/// strings ("é" precomposed and decomposed) as equal; dictionaries keyed by this keep them apart.
public struct ExactString: Hashable, Sendable, CustomStringConvertible {
    public let string: String

    public init(_ string: String) {
        self.string = string
    }

    public init(_ substring: Substring) {
        self.string = String(substring)
    }

    public static func == (lhs: ExactString, rhs: ExactString) -> Bool {
        lhs.string.utf8.elementsEqual(rhs.string.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        var string = string
        string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    public var description: String { string }
}
