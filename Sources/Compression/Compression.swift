/// The compression codecs of Kafka record batches, by the value of the batch attributes' low three bits.
public enum CompressionCodec: Int8, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case gzip = 1
    case snappy = 2
    case lz4 = 3
    case zstd = 4

    public var description: String {
        switch self {
        case .none: return "none"
        case .gzip: return "gzip"
        case .snappy: return "snappy"
        case .lz4: return "lz4"
        case .zstd: return "zstd"
        }
    }

    /// Parses Kafka's `compression.type` names.
    public init?(name: String) {
        switch name.lowercased() {
        case "none", "uncompressed": self = .none
        case "gzip": self = .gzip
        case "snappy": self = .snappy
        case "lz4": self = .lz4
        case "zstd": self = .zstd
        default: return nil
        }
    }
}

public struct CompressionError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// The input is not valid for the codec (a library error, bad framing, truncation).
        case corrupt(String)
        /// Decompressing would exceed the caller's bound (a "zip bomb", or a bound set too low).
        case outputLimitExceeded(limit: Int)
        /// The library could not allocate its state.
        case resourceFailure(String)
    }

    public var codec: CompressionCodec
    public var reason: Reason

    public init(codec: CompressionCodec, reason: Reason) {
        self.codec = codec
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .corrupt(let why): return "\(codec) data is corrupt: \(why)"
        case .outputLimitExceeded(let limit): return "\(codec) data decompresses to more than \(limit) bytes"
        case .resourceFailure(let why): return "\(codec): \(why)"
        }
    }
}

/// Compresses and decompresses whole buffers with the system libraries.
public enum Compressor {
    /// Compresses `input`. Snappy output uses the xerial framing the Java client writes (librdkafka and the
    /// Java client both read it); lz4 output is an LZ4 frame; gzip output is one gzip member.
    public static func compress(_ input: UnsafeRawBufferPointer, codec: CompressionCodec) throws(CompressionError) -> [UInt8] {
        try compress(input, codec: codec, level: nil)
    }

    /// Compresses `input` at `level`, as Kafka's `compression.gzip.level`, `compression.lz4.level` and
    /// `compression.zstd.level` give it: gzip 1...9 or -1 (zlib's default), lz4 1...17 (the frame library's
    /// compression level; values above its maximum act as the maximum), zstd -131072...22. nil is the codec's
    /// default here (zlib's default, lz4's fast mode, zstd 3). Snappy and none have no level.
    public static func compress(_ input: UnsafeRawBufferPointer, codec: CompressionCodec, level: Int32?) throws(CompressionError) -> [UInt8] {
        switch codec {
        case .none: return Array(input)
        case .gzip: return try Gzip.compress(input, level: level ?? Gzip.defaultLevel)
        case .snappy: return try Snappy.compressXerial(input)
        case .lz4: return try LZ4Frame.compress(input, level: level ?? LZ4Frame.defaultLevel)
        case .zstd: return try Zstd.compress(input, level: level ?? Zstd.defaultLevel)
        }
    }

    /// Decompresses `input`, refusing to produce more than `maximumOutputBytes`.
    /// Snappy accepts both the raw format (librdkafka) and the xerial framing (the Java client).
    public static func decompress(
        _ input: UnsafeRawBufferPointer, codec: CompressionCodec, maximumOutputBytes: Int
    ) throws(CompressionError) -> [UInt8] {
        precondition(maximumOutputBytes >= 0)
        switch codec {
        case .none:
            guard input.count <= maximumOutputBytes else {
                throw CompressionError(codec: .none, reason: .outputLimitExceeded(limit: maximumOutputBytes))
            }
            return Array(input)
        case .gzip: return try Gzip.decompress(input, maximumOutputBytes: maximumOutputBytes)
        case .snappy: return try Snappy.decompress(input, maximumOutputBytes: maximumOutputBytes)
        case .lz4: return try LZ4Frame.decompress(input, maximumOutputBytes: maximumOutputBytes)
        case .zstd: return try Zstd.decompress(input, maximumOutputBytes: maximumOutputBytes)
        }
    }

    public static func compress(_ input: [UInt8], codec: CompressionCodec, level: Int32? = nil) throws(CompressionError) -> [UInt8] {
        // Array.withUnsafeBytes rethrows untyped errors; carry the typed one out in a Result.
        let result: Result<[UInt8], CompressionError> = input.withUnsafeBytes { bytes in
            Result { () throws(CompressionError) -> [UInt8] in try compress(bytes, codec: codec, level: level) }
        }
        return try result.get()
    }

    public static func decompress(_ input: [UInt8], codec: CompressionCodec, maximumOutputBytes: Int) throws(CompressionError) -> [UInt8] {
        let result: Result<[UInt8], CompressionError> = input.withUnsafeBytes { bytes in
            Result { () throws(CompressionError) -> [UInt8] in try decompress(bytes, codec: codec, maximumOutputBytes: maximumOutputBytes) }
        }
        return try result.get()
    }
}

/// Grows an output array in steps, bounded by a limit, for the streaming decoders.
struct BoundedOutput {
    var bytes: [UInt8] = []
    var count = 0
    let limit: Int
    let codec: CompressionCodec

    init(limit: Int, codec: CompressionCodec, expected: Int) {
        self.limit = limit
        self.codec = codec
        let initial = Swift.max(Swift.min(expected, limit), 64)
        bytes = [UInt8](repeating: 0, count: initial)
    }

    /// Makes room for at least one more byte, or throws at the limit.
    mutating func grow() throws(CompressionError) {
        guard bytes.count < limit else {
            throw CompressionError(codec: codec, reason: .outputLimitExceeded(limit: limit))
        }
        let target = Swift.min(Swift.max(bytes.count * 2, 4096), limit)
        bytes.append(contentsOf: repeatElement(0, count: target - bytes.count))
    }

    var spare: Int { bytes.count - count }

    func finish() -> [UInt8] {
        Array(bytes[0..<count])
    }
}
