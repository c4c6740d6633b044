import NIOCore

/// Where a packet body is written: a `ByteBuffer`, or a counter that only adds up sizes. Encoding runs
/// the same body writer twice, once into a counter (the remaining length precedes the body and is
/// variable-length, and a property block is prefixed by its own length) and once into the buffer, so
/// the size and the bytes cannot disagree.
protocol MQTTByteSink {
    mutating func writeByte(_ value: UInt8)
    mutating func writeUInt16(_ value: UInt16)
    mutating func writeUInt32(_ value: UInt32)
    mutating func writeBytes(_ value: ByteBuffer)
    /// The string's UTF-8 bytes, without a length.
    mutating func writeStringBytes(_ value: String)
}

struct MQTTByteCounter: MQTTByteSink {
    var byteCount = 0

    mutating func writeByte(_ value: UInt8) { byteCount += 1 }
    mutating func writeUInt16(_ value: UInt16) { byteCount += 2 }
    mutating func writeUInt32(_ value: UInt32) { byteCount += 4 }
    mutating func writeBytes(_ value: ByteBuffer) { byteCount += value.readableBytes }
    mutating func writeStringBytes(_ value: String) { byteCount += value.utf8.count }
}

extension ByteBuffer: MQTTByteSink {
    mutating func writeByte(_ value: UInt8) { writeInteger(value) }
    mutating func writeUInt16(_ value: UInt16) { writeInteger(value) }
    mutating func writeUInt32(_ value: UInt32) { writeInteger(value) }
    mutating func writeBytes(_ value: ByteBuffer) { writeImmutableBuffer(value) }
    mutating func writeStringBytes(_ value: String) { writeString(value) }
}

/// The largest value a Variable Byte Integer holds (4 bytes of 7 bits): the bound on a remaining length,
/// a property block's length and a subscription identifier.
let mqttVariableByteIntegerMaximum = 268_435_455

/// The bytes a Variable Byte Integer of `value` takes (`value` at most `mqttVariableByteIntegerMaximum`).
func mqttVariableByteIntegerSize(_ value: Int) -> Int {
    switch value {
    case ..<128: 1
    case ..<16_384: 2
    case ..<2_097_152: 3
    default: 4
    }
}

extension MQTTByteSink {
    mutating func writeVariableByteInteger(_ value: Int) {
        assert(value >= 0 && value <= mqttVariableByteIntegerMaximum, "variable byte integer out of range: \(value)")
        var remaining = value
        repeat {
            var byte = UInt8(truncatingIfNeeded: remaining & 0x7F)
            remaining >>= 7
            if remaining > 0 { byte |= 0x80 }
            writeByte(byte)
        } while remaining > 0
    }

    /// A UTF-8 Encoded String: two-byte length, then the bytes.
    mutating func writeString(_ value: String, packet: StaticString, field: StaticString) throws(MQTTEncodingError) {
        let length = value.utf8.count
        guard length <= Int(UInt16.max) else {
            throw MQTTEncodingError(packet: packet.description, detail: "\(field) is \(length) bytes of UTF-8; the limit is 65,535")
        }
        writeUInt16(UInt16(length))
        writeStringBytes(value)
    }

    /// Binary Data: two-byte length, then the bytes.
    mutating func writeBinary(_ value: ByteBuffer, packet: StaticString, field: StaticString) throws(MQTTEncodingError) {
        let length = value.readableBytes
        guard length <= Int(UInt16.max) else {
            throw MQTTEncodingError(packet: packet.description, detail: "\(field) is \(length) bytes; the limit is 65,535")
        }
        writeUInt16(UInt16(length))
        writeBytes(value)
    }

    mutating func writePacketIdentifier(_ identifier: UInt16, packet: StaticString) throws(MQTTEncodingError) {
        guard identifier != 0 else {
            throw MQTTEncodingError(packet: packet.description, detail: "packet identifier 0 is not allowed")
        }
        writeUInt16(identifier)
    }
}
