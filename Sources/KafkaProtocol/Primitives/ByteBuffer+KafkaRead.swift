public import NIOCore

// Readers for the Kafka protocol's primitive types. Each consumes exactly what it reads and throws a
// `KafkaDecodingError` naming the field, never traps: lengths are checked against what remains before
// anything is allocated or sliced.

extension ByteBuffer {
    @inlinable
    @inline(__always)
    func kafkaTruncated(_ field: StaticString, needed: Int) -> KafkaDecodingError {
        KafkaDecodingError(field, .truncated(neededBytes: needed, availableBytes: self.readableBytes))
    }

    @inlinable
    public mutating func readKafkaInt8(field: StaticString) throws(KafkaDecodingError) -> Int8 {
        guard let value = self.readInteger(as: Int8.self) else { throw kafkaTruncated(field, needed: 1) }
        return value
    }

    @inlinable
    public mutating func readKafkaInt16(field: StaticString) throws(KafkaDecodingError) -> Int16 {
        guard let value = self.readInteger(as: Int16.self) else { throw kafkaTruncated(field, needed: 2) }
        return value
    }

    @inlinable
    public mutating func readKafkaUInt16(field: StaticString) throws(KafkaDecodingError) -> UInt16 {
        guard let value = self.readInteger(as: UInt16.self) else { throw kafkaTruncated(field, needed: 2) }
        return value
    }

    @inlinable
    public mutating func readKafkaInt32(field: StaticString) throws(KafkaDecodingError) -> Int32 {
        guard let value = self.readInteger(as: Int32.self) else { throw kafkaTruncated(field, needed: 4) }
        return value
    }

    @inlinable
    public mutating func readKafkaUInt32(field: StaticString) throws(KafkaDecodingError) -> UInt32 {
        guard let value = self.readInteger(as: UInt32.self) else { throw kafkaTruncated(field, needed: 4) }
        return value
    }

    @inlinable
    public mutating func readKafkaInt64(field: StaticString) throws(KafkaDecodingError) -> Int64 {
        guard let value = self.readInteger(as: Int64.self) else { throw kafkaTruncated(field, needed: 8) }
        return value
    }

    @inlinable
    public mutating func readKafkaFloat64(field: StaticString) throws(KafkaDecodingError) -> Double {
        guard let bits = self.readInteger(as: UInt64.self) else { throw kafkaTruncated(field, needed: 8) }
        return Double(bitPattern: bits)
    }

    /// Kafka reads any non-zero byte as true.
    @inlinable
    public mutating func readKafkaBool(field: StaticString) throws(KafkaDecodingError) -> Bool {
        guard let value = self.readInteger(as: UInt8.self) else { throw kafkaTruncated(field, needed: 1) }
        return value != 0
    }

    @inlinable
    public mutating func readKafkaUUID(field: StaticString) throws(KafkaDecodingError) -> KafkaUUID {
        guard let high = self.readInteger(as: UInt64.self) else { throw kafkaTruncated(field, needed: 16) }
        guard let low = self.readInteger(as: UInt64.self) else { throw kafkaTruncated(field, needed: 8) }
        return KafkaUUID(high: high, low: low)
    }

    /// An unsigned LEB128 varint of at most 5 bytes (a `uint32`).
    @inlinable
    public mutating func readKafkaUnsignedVarint(field: StaticString) throws(KafkaDecodingError) -> UInt32 {
        var result: UInt32 = 0
        var shift: UInt32 = 0
        var index = self.readerIndex
        let end = self.writerIndex
        while true {
            guard index < end else { throw kafkaTruncated(field, needed: index - self.readerIndex + 1) }
            let byte = self.getInteger(at: index, as: UInt8.self)!
            index += 1
            if shift == 28 && byte > 0x0F {
                throw KafkaDecodingError(field, .malformedVarint)
            }
            result |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        self.moveReaderIndex(to: index)
        return result
    }

    /// An unsigned LEB128 varint of at most 10 bytes.
    @inlinable
    public mutating func readKafkaUnsignedVarlong(field: StaticString) throws(KafkaDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var index = self.readerIndex
        let end = self.writerIndex
        while true {
            guard index < end else { throw kafkaTruncated(field, needed: index - self.readerIndex + 1) }
            let byte = self.getInteger(at: index, as: UInt8.self)!
            index += 1
            if shift == 63 && byte > 0x01 {
                throw KafkaDecodingError(field, .malformedVarint)
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        self.moveReaderIndex(to: index)
        return result
    }

    /// A zig-zag encoded signed varint (record fields).
    @inlinable
    public mutating func readKafkaVarint(field: StaticString) throws(KafkaDecodingError) -> Int32 {
        let raw = try self.readKafkaUnsignedVarint(field: field)
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A zig-zag encoded signed varlong (record fields).
    @inlinable
    public mutating func readKafkaVarlong(field: StaticString) throws(KafkaDecodingError) -> Int64 {
        let raw = try self.readKafkaUnsignedVarlong(field: field)
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// Reads a length prefix: int16 (strings) or int32 (bytes, arrays) when not compact, an unsigned varint
    /// holding length + 1 when compact. Returns nil for null (-1, or 0 when compact).
    @inlinable
    mutating func readKafkaLength(
        compact: Bool, wide: Bool, field: StaticString
    ) throws(KafkaDecodingError) -> Int? {
        let length: Int64
        if compact {
            length = Int64(try self.readKafkaUnsignedVarint(field: field)) - 1
        } else if wide {
            length = Int64(try self.readKafkaInt32(field: field))
        } else {
            length = Int64(try self.readKafkaInt16(field: field))
        }
        if length == -1 { return nil }
        if length < -1 { throw KafkaDecodingError(field, .negativeLength(length)) }
        guard length <= Int64(self.readableBytes) else {
            throw KafkaDecodingError(field, .lengthExceedsFrame(length: length, availableBytes: self.readableBytes))
        }
        return Int(length)
    }

    @inlinable
    public mutating func readKafkaNullableString(compact: Bool, field: StaticString) throws(KafkaDecodingError) -> String? {
        guard let length = try self.readKafkaLength(compact: compact, wide: false, field: field) else { return nil }
        return try self.readKafkaUTF8(length: length, field: field)
    }

    @inlinable
    public mutating func readKafkaString(compact: Bool, field: StaticString) throws(KafkaDecodingError) -> String {
        guard let length = try self.readKafkaLength(compact: compact, wide: false, field: field) else {
            throw KafkaDecodingError(field, .unexpectedNull)
        }
        return try self.readKafkaUTF8(length: length, field: field)
    }

    @inlinable
    mutating func readKafkaUTF8(length: Int, field: StaticString) throws(KafkaDecodingError) -> String {
        if length == 0 { return "" }
        let start = self.readerIndex
        let decoded: String? = self.withUnsafeReadableBytes { bytes in
            String(validating: UnsafeRawBufferPointer(rebasing: bytes[0..<length]), as: UTF8.self)
        }
        guard let string = decoded else { throw KafkaDecodingError(field, .invalidUTF8) }
        self.moveReaderIndex(to: start + length)
        return string
    }

    @inlinable
    public mutating func readKafkaNullableBytes(compact: Bool, field: StaticString) throws(KafkaDecodingError) -> ByteBuffer? {
        guard let length = try self.readKafkaLength(compact: compact, wide: true, field: field) else { return nil }
        return self.readSlice(length: length)!
    }

    @inlinable
    public mutating func readKafkaBytes(compact: Bool, field: StaticString) throws(KafkaDecodingError) -> ByteBuffer {
        guard let length = try self.readKafkaLength(compact: compact, wide: true, field: field) else {
            throw KafkaDecodingError(field, .unexpectedNull)
        }
        return self.readSlice(length: length)!
    }

    /// Reads exactly `length` bytes as a slice sharing this buffer's storage.
    @inlinable
    public mutating func readKafkaSlice(length: Int, field: StaticString) throws(KafkaDecodingError) -> ByteBuffer {
        guard length >= 0 else { throw KafkaDecodingError(field, .negativeLength(Int64(length))) }
        guard let slice = self.readSlice(length: length) else { throw kafkaTruncated(field, needed: length) }
        return slice
    }

    /// An array's element count; each element takes at least one byte in every encoding that can carry
    /// elements of interest, so a count above the remaining bytes is malformed (as in Apache Kafka).
    @inlinable
    public mutating func readKafkaNullableArrayCount(compact: Bool, field: StaticString) throws(KafkaDecodingError) -> Int? {
        try self.readKafkaLength(compact: compact, wide: true, field: field)
    }

    @inlinable
    public mutating func readKafkaArray<Element>(
        compact: Bool,
        field: StaticString,
        element: (inout ByteBuffer) throws(KafkaDecodingError) -> Element
    ) throws(KafkaDecodingError) -> [Element] {
        guard let count = try self.readKafkaLength(compact: compact, wide: true, field: field) else {
            throw KafkaDecodingError(field, .unexpectedNull)
        }
        return try self.readKafkaArrayElements(count: count, element: element)
    }

    @inlinable
    public mutating func readKafkaNullableArray<Element>(
        compact: Bool,
        field: StaticString,
        element: (inout ByteBuffer) throws(KafkaDecodingError) -> Element
    ) throws(KafkaDecodingError) -> [Element]? {
        guard let count = try self.readKafkaLength(compact: compact, wide: true, field: field) else { return nil }
        return try self.readKafkaArrayElements(count: count, element: element)
    }

    @inlinable
    mutating func readKafkaArrayElements<Element>(
        count: Int,
        element: (inout ByteBuffer) throws(KafkaDecodingError) -> Element
    ) throws(KafkaDecodingError) -> [Element] {
        var elements: [Element] = []
        // The count is bounded by the frame, not by memory: reserve a bounded amount and let the
        // array grow only as elements actually decode.
        elements.reserveCapacity(Swift.min(count, 1024))
        for _ in 0..<count {
            elements.append(try element(&self))
        }
        return elements
    }

    /// Nullable struct fields carry a presence byte: -1 for null, 1 for present.
    @inlinable
    public mutating func readKafkaStructPresence(field: StaticString) throws(KafkaDecodingError) -> Bool {
        try self.readKafkaInt8(field: field) >= 0
    }

    /// Reads a tagged-field section's count.
    @inlinable
    public mutating func readKafkaTaggedFieldCount(field: StaticString) throws(KafkaDecodingError) -> Int {
        let count = Int(try self.readKafkaUnsignedVarint(field: field))
        // Every tagged field takes at least two bytes (tag and size).
        guard count <= self.readableBytes / 2 else {
            throw KafkaDecodingError(field, .lengthExceedsFrame(length: Int64(count), availableBytes: self.readableBytes))
        }
        return count
    }

    /// Reads one tagged field. Tags must be strictly ascending within a section (`previousTag` starts at -1):
    /// a duplicate or out-of-order tag would make the value ambiguous, so it is refused.
    @inlinable
    public mutating func readKafkaTaggedField(field: StaticString, previousTag: inout Int64) throws(KafkaDecodingError) -> KafkaTaggedField {
        let tag = try self.readKafkaUnsignedVarint(field: field)
        guard Int64(tag) > previousTag else {
            throw KafkaDecodingError(field, .invalidValue("tagged field \(tag) follows tag \(previousTag); tags must ascend"))
        }
        previousTag = Int64(tag)
        let size = Int(try self.readKafkaUnsignedVarint(field: field))
        let data = try self.readKafkaSlice(length: size, field: field)
        return KafkaTaggedField(tag: tag, data: data)
    }

    /// Reads a whole tagged-field section for a struct that knows no tags in this version.
    @inlinable
    public mutating func readKafkaUnknownTaggedFields(field: StaticString) throws(KafkaDecodingError) -> [KafkaTaggedField] {
        let count = try self.readKafkaTaggedFieldCount(field: field)
        if count == 0 { return [] }
        var fields: [KafkaTaggedField] = []
        fields.reserveCapacity(count)
        var previousTag: Int64 = -1
        for _ in 0..<count {
            fields.append(try self.readKafkaTaggedField(field: field, previousTag: &previousTag))
        }
        return fields
    }

    /// Throws unless everything was consumed (a tagged field's value, a whole message body).
    @inlinable
    public func kafkaExpectFullyConsumed(field: StaticString) throws(KafkaDecodingError) {
        if self.readableBytes != 0 {
            throw KafkaDecodingError(field, .trailingBytes(self.readableBytes))
        }
    }
}
