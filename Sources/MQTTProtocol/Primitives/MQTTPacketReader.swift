import NIOCore

/// Reads the fields of one packet's body (everything after the fixed header). The fixed header's
/// remaining length has already been checked against the bytes received, so running out of bytes inside
/// a field means the length and the contents disagree: a Malformed Packet, never "wait for more".
///
/// Readers check every length against what remains before slicing, and throw instead of trapping.
struct MQTTPacketReader {
    private(set) var buffer: ByteBuffer
    let packet: StaticString

    init(_ buffer: ByteBuffer, packet: StaticString) {
        self.buffer = buffer
        self.packet = packet
    }

    var remainingBytes: Int { buffer.readableBytes }
    var isAtEnd: Bool { buffer.readableBytes == 0 }

    func error(_ reasonCode: MQTTReasonCode, _ field: StaticString, _ detail: String) -> MQTTDecodingError {
        MQTTDecodingError(reasonCode: reasonCode, packet: packet.description, field: field.description, detail: detail)
    }

    func malformed(_ field: StaticString, _ detail: String) -> MQTTDecodingError {
        error(.malformedPacket, field, detail)
    }

    func protocolError(_ field: StaticString, _ detail: String) -> MQTTDecodingError {
        error(.protocolError, field, detail)
    }

    private func truncated(_ field: StaticString, needed: Int) -> MQTTDecodingError {
        malformed(field, "the packet ends inside the field: it needs \(needed) bytes, \(buffer.readableBytes) remain")
    }

    mutating func readByte(_ field: StaticString) throws(MQTTDecodingError) -> UInt8 {
        guard let value = buffer.readInteger(as: UInt8.self) else { throw truncated(field, needed: 1) }
        return value
    }

    mutating func readUInt16(_ field: StaticString) throws(MQTTDecodingError) -> UInt16 {
        guard let value = buffer.readInteger(as: UInt16.self) else { throw truncated(field, needed: 2) }
        return value
    }

    mutating func readUInt32(_ field: StaticString) throws(MQTTDecodingError) -> UInt32 {
        guard let value = buffer.readInteger(as: UInt32.self) else { throw truncated(field, needed: 4) }
        return value
    }

    /// A packet identifier; 0 is never a valid one ([MQTT-2.2.1-3] / [MQTT-2.3.1-1]), and an
    /// acknowledgement of 0 can only answer a packet that was itself invalid.
    mutating func readPacketIdentifier() throws(MQTTDecodingError) -> UInt16 {
        let identifier = try readUInt16("packet identifier")
        guard identifier != 0 else { throw protocolError("packet identifier", "must not be 0") }
        return identifier
    }

    /// A Variable Byte Integer: 7 bits a byte, least significant first, at most 4 bytes (MQTT 5.0 1.5.5).
    /// Non-minimal encodings (`80 00`) are accepted: their value is unambiguous and the 4-byte bound
    /// still holds.
    mutating func readVariableByteInteger(_ field: StaticString) throws(MQTTDecodingError) -> Int {
        var value = 0
        for byteIndex in 0..<4 {
            guard let byte = buffer.readInteger(as: UInt8.self) else { throw truncated(field, needed: 1) }
            value |= Int(byte & 0x7F) << (7 * byteIndex)
            if byte & 0x80 == 0 { return value }
        }
        throw malformed(field, "variable byte integer longer than 4 bytes")
    }

    /// A UTF-8 Encoded String (MQTT 5.0 1.5.4): a two-byte length, then well-formed UTF-8 without U+0000.
    /// Surrogates and overlong forms are ill-formed UTF-8 and rejected by the validation; other control
    /// characters and non-characters are legal (a receiver only "MAY" refuse them) and kept.
    mutating func readString(_ field: StaticString) throws(MQTTDecodingError) -> String {
        let length = Int(try readUInt16(field))
        guard length <= buffer.readableBytes else {
            throw malformed(field, "string length \(length) exceeds the \(buffer.readableBytes) bytes that remain")
        }
        if length == 0 { return "" }
        enum Outcome {
            case valid(String)
            case containsNull
            case invalid
        }
        let outcome: Outcome = buffer.withUnsafeReadableBytes { bytes in
            let encoded = UnsafeRawBufferPointer(rebasing: bytes[0..<length])
            if encoded.contains(0) { return .containsNull }
            guard let string = String(validating: encoded, as: UTF8.self) else { return .invalid }
            return .valid(string)
        }
        switch outcome {
        case .valid(let string):
            buffer.moveReaderIndex(forwardBy: length)
            return string
        case .containsNull:
            throw malformed(field, "the string contains U+0000")
        case .invalid:
            throw malformed(field, "the string is not well-formed UTF-8")
        }
    }

    /// Binary Data (MQTT 5.0 1.5.6): a two-byte length, then that many bytes, as a slice of the packet.
    mutating func readBinary(_ field: StaticString) throws(MQTTDecodingError) -> ByteBuffer {
        let length = Int(try readUInt16(field))
        guard let bytes = buffer.readSlice(length: length) else {
            throw malformed(field, "data length \(length) exceeds the \(buffer.readableBytes) bytes that remain")
        }
        return bytes
    }

    /// Everything that remains (a PUBLISH payload).
    mutating func readRemainingBytes() -> ByteBuffer {
        buffer.readSlice(length: buffer.readableBytes)!
    }

    /// A reader over the next `length` bytes (a property block), which this reader skips.
    mutating func readSubReader(length: Int, _ field: StaticString) throws(MQTTDecodingError) -> MQTTPacketReader {
        guard let slice = buffer.readSlice(length: length) else {
            throw malformed(field, "length \(length) exceeds the \(buffer.readableBytes) bytes that remain")
        }
        return MQTTPacketReader(slice, packet: packet)
    }

    /// A packet must consume exactly its remaining length ([MQTT-2.1.4] and 5.0 section 4.13).
    func expectEnd(_ field: StaticString) throws(MQTTDecodingError) {
        guard buffer.readableBytes == 0 else {
            throw malformed(field, "\(buffer.readableBytes) bytes follow the last field")
        }
    }
}
