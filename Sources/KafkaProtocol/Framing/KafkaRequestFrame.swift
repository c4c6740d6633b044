public import NIOCore

/// A request as it arrives on the wire, after the 4-byte size prefix: a request header whose version depends
/// on the API key and version it names, then the body.
public struct KafkaRequestFrame: Sendable, Equatable {
    public var header: RequestHeader
    public var body: KafkaRequest

    public init(header: RequestHeader, body: KafkaRequest) {
        self.header = header
        self.body = body
    }

    public var apiKey: KafkaApiKey { body.apiKey }
    public var version: Int16 { header.requestApiVersion }

    /// Reads the request header. The API key and version in its first four bytes choose the header version;
    /// an API key the codec does not know is read with header v1 (which every such client sends) so that the
    /// caller still learns the correlation id.
    public static func decodeHeader(from frame: inout ByteBuffer) throws(KafkaDecodingError) -> RequestHeader {
        guard let rawKey = frame.getInteger(at: frame.readerIndex, as: Int16.self),
              let version = frame.getInteger(at: frame.readerIndex + 2, as: Int16.self)
        else {
            throw KafkaDecodingError("RequestHeader", .truncated(neededBytes: 4, availableBytes: frame.readableBytes))
        }
        let headerVersion = KafkaApiKey(rawValue: rawKey)?.requestHeaderVersion(for: version) ?? 1
        return try RequestHeader(from: &frame, version: headerVersion)
    }

    /// Reads the body that follows `header`. Bytes after the body's last field are left in `frame`: Apache
    /// Kafka ignores them, and real clients send some (librdkafka's Metadata v12 for all topics carries 3),
    /// so a server answers such requests; `decode` refuses them for strict uses (tests, the fuzzer).
    public static func decodeBody(header: RequestHeader, from frame: inout ByteBuffer) throws(KafkaDecodingError) -> KafkaRequest {
        guard let apiKey = KafkaApiKey(rawValue: header.requestApiKey) else {
            throw KafkaDecodingError(field: "RequestHeader.RequestApiKey", problem: .unknownApiKey(header.requestApiKey), apiKey: header.requestApiKey, version: header.requestApiVersion)
        }
        guard apiKey.validVersions.contains(header.requestApiVersion) else {
            throw KafkaDecodingError(field: "\(apiKey.name)Request", problem: .unsupportedVersion(header.requestApiVersion), apiKey: apiKey.rawValue, version: header.requestApiVersion)
        }
        return try KafkaRequest.decode(apiKey: apiKey, version: header.requestApiVersion, from: &frame)
    }

    /// Reads a whole frame (without the size prefix).
    public static func decode(from frame: inout ByteBuffer) throws(KafkaDecodingError) -> KafkaRequestFrame {
        let header = try decodeHeader(from: &frame)
        let body = try decodeBody(header: header, from: &frame)
        if frame.readableBytes != 0 {
            throw KafkaDecodingError(field: "\(KafkaApiKey(rawValue: header.requestApiKey)?.name ?? "Unknown")Request", problem: .trailingBytes(frame.readableBytes), apiKey: header.requestApiKey, version: header.requestApiVersion)
        }
        return KafkaRequestFrame(header: header, body: body)
    }

    /// Writes the frame with its 4-byte size prefix, as a client sends it.
    public func encode(into buffer: inout ByteBuffer) throws(KafkaEncodingError) {
        let sizeIndex = buffer.writerIndex
        buffer.writeInteger(Int32(0))
        try header.encode(into: &buffer, version: apiKey.requestHeaderVersion(for: version))
        try body.encode(into: &buffer, version: version)
        try Self.setFrameSize(in: &buffer, sizeIndex: sizeIndex)
    }
}

/// Writes a response frame: size prefix, response header (v0, or v1 for flexible versions except
/// ApiVersions), body.
public enum KafkaResponseFrame {
    public static func encode(
        _ body: some KafkaResponseMessage,
        correlationId: Int32,
        version: Int16,
        into buffer: inout ByteBuffer
    ) throws(KafkaEncodingError) {
        let sizeIndex = buffer.writerIndex
        buffer.writeInteger(Int32(0))
        let header = ResponseHeader(correlationId: correlationId)
        try header.encode(into: &buffer, version: type(of: body).apiKey.responseHeaderVersion(for: version))
        try body.encode(into: &buffer, version: version)
        try KafkaRequestFrame.setFrameSize(in: &buffer, sizeIndex: sizeIndex)
    }
}

extension KafkaRequestFrame {
    /// Writes the int32 size of the frame that starts at `sizeIndex`; a frame over 2 GiB cannot be sent.
    static func setFrameSize(in buffer: inout ByteBuffer, sizeIndex: Int) throws(KafkaEncodingError) {
        let size = buffer.writerIndex - sizeIndex - 4
        guard let encoded = Int32(exactly: size) else {
            throw KafkaEncodingError(field: "frame size", problem: .tooLong(length: size, limit: Int(Int32.max)))
        }
        buffer.setInteger(encoded, at: sizeIndex)
    }
}
