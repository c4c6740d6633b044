/// Why a Kafka message could not be decoded. Every decoder in this module throws this type; the
/// `field` names the message and field being read (`ProduceRequest.PartitionProduceData.Records`), and the
/// request decoder adds the API key and version it was decoding.
public struct KafkaDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Problem: Sendable, Equatable {
        /// Fewer bytes remained than the field needs.
        case truncated(neededBytes: Int, availableBytes: Int)
        /// A length or count below -1 (or below 0 where null is not allowed by the encoding).
        case negativeLength(Int64)
        /// A length or count larger than the bytes that remain in the frame.
        case lengthExceedsFrame(length: Int64, availableBytes: Int)
        /// A varint longer than its type allows.
        case malformedVarint
        case invalidUTF8
        /// Null where this version of the field is not nullable.
        case unexpectedNull
        case unsupportedVersion(Int16)
        case unknownApiKey(Int16)
        /// Bytes left over after a message or tagged field that should have consumed its slice exactly.
        case trailingBytes(Int)
        /// A value outside the field's domain (a frame size below the header, an impossible enum value, ...).
        case invalidValue(String)
    }

    public var field: String
    public var problem: Problem
    public var apiKey: Int16?
    public var version: Int16?

    public init(field: String, problem: Problem, apiKey: Int16? = nil, version: Int16? = nil) {
        self.field = field
        self.problem = problem
        self.apiKey = apiKey
        self.version = version
    }

    @usableFromInline
    init(_ field: StaticString, _ problem: Problem) {
        self.field = field.description
        self.problem = problem
        self.apiKey = nil
        self.version = nil
    }

    public var description: String {
        var text = "cannot decode \(field)"
        if let apiKey {
            text += " (api key \(apiKey)"
            if let version { text += ", version \(version)" }
            text += ")"
        } else if let version {
            text += " (version \(version))"
        }
        switch problem {
        case .truncated(let needed, let available):
            text += ": truncated, needs \(needed) bytes, \(available) remain"
        case .negativeLength(let length):
            text += ": negative length \(length)"
        case .lengthExceedsFrame(let length, let available):
            text += ": length \(length) exceeds the \(available) bytes that remain"
        case .malformedVarint:
            text += ": malformed varint"
        case .invalidUTF8:
            text += ": invalid UTF-8"
        case .unexpectedNull:
            text += ": null is not allowed here"
        case .unsupportedVersion(let version):
            text += ": unsupported version \(version)"
        case .unknownApiKey(let key):
            text += ": unknown api key \(key)"
        case .trailingBytes(let count):
            text += ": \(count) unexpected trailing bytes"
        case .invalidValue(let why):
            text += ": \(why)"
        }
        return text
    }
}

/// Why a message could not be encoded at the requested version.
public struct KafkaEncodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Problem: Sendable, Equatable {
        /// A non-ignorable field holds a non-default value that this version cannot carry.
        case nonDefaultValueUnsupported
        /// Null in a version where the field is not nullable.
        case unexpectedNull
        /// A string or byte array too long for its length prefix.
        case tooLong(length: Int, limit: Int)
        case unsupportedVersion
    }

    public var field: String
    public var version: Int16?
    public var problem: Problem

    public init(field: String, version: Int16? = nil, problem: Problem) {
        self.field = field
        self.version = version
        self.problem = problem
    }

    @usableFromInline
    init(_ field: StaticString, _ problem: Problem, version: Int16? = nil) {
        self.field = field.description
        self.version = version
        self.problem = problem
    }

    public var description: String {
        let at = version.map { " at version \($0)" } ?? ""
        switch problem {
        case .nonDefaultValueUnsupported:
            return "cannot encode \(field)\(at): the field holds a non-default value this version cannot carry"
        case .unexpectedNull:
            return "cannot encode \(field)\(at): null is not allowed in this version"
        case .tooLong(let length, let limit):
            return "cannot encode \(field)\(at): length \(length) exceeds \(limit)"
        case .unsupportedVersion:
            return "cannot encode \(field)\(at): unsupported version"
        }
    }
}
