import NIOCore

/// A request size outside 0...`socket.request.max.bytes`. Kafka closes such connections.
struct InvalidFrameSize: Error, CustomStringConvertible {
    var size: Int32
    var limit: Int

    var description: String {
        "invalid request size \(size) (allowed 0...\(limit)); closing the connection"
    }
}

/// Splits the byte stream into request frames: a big-endian int32 size, then that many bytes.
struct KafkaFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    let maximumFrameBytes: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return .needMoreData }
        guard size >= 0 && Int(size) <= maximumFrameBytes else {
            throw InvalidFrameSize(size: size, limit: maximumFrameBytes)
        }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let frame = buffer.readSlice(length: Int(size))!
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // Whatever is left when the peer closes is a partial frame; nothing can answer it.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
