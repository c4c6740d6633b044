import MQTTProtocol
import NIOCore

/// One decoded MQTT packet and how many bytes it took on the wire.
struct MQTTFramedPacket: Equatable {
    var packet: MQTTPacket
    var bytes: Int
}

/// Frames and decodes MQTT packets (run by NIO's `NIOSingleStepByteToMessageProcessor`, which keeps the
/// cumulation buffer): the fixed header's remaining length says where a packet ends, and a packet larger
/// than the maximum is refused as soon as its length is known, before its bytes arrive. The first CONNECT
/// sets the protocol version the later packets are decoded with (3.1.1 and 5.0 differ in most packets).
/// It keeps no state between packets but that version: a decode starts again from the buffer's start.
///
/// A decode error (malformed packet, packet too large, protocol error in a packet) is thrown as an
/// `MQTTDecodingError`.
struct MQTTPacketDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = MQTTFramedPacket

    let maximumPacketSize: Int
    private(set) var version: MQTTProtocolVersion?

    init(maximumPacketSize: Int, version: MQTTProtocolVersion? = nil) {
        self.maximumPacketSize = maximumPacketSize
        self.version = version
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> MQTTFramedPacket? {
        let before = buffer.readableBytes
        guard let packet = try MQTTPacketCodec.decode(from: &buffer, version: version, maximumPacketSize: maximumPacketSize) else { return nil }
        if version == nil, case .connect(let connect) = packet {
            version = connect.protocolVersion
        }
        return MQTTFramedPacket(packet: packet, bytes: before - buffer.readableBytes)
    }

    /// At the end of the stream: the complete packets still buffered; a partial one is dropped (the
    /// connection is gone).
    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MQTTFramedPacket? {
        try decode(buffer: &buffer)
    }
}
