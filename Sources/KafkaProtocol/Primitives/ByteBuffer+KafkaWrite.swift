public import NIOCore

// Writers for the Kafka protocol's primitive types, mirroring ByteBuffer+KafkaRead.swift.

extension ByteBuffer {
    @inlinable
    public mutating func writeKafkaBool(_ value: Bool) {
        self.writeInteger(value ? UInt8(1) : UInt8(0))
    }

    @inlinable
    public mutating func writeKafkaFloat64(_ value: Double) {
        self.writeInteger(value.bitPattern)
    }

    @inlinable
    public mutating func writeKafkaUUID(_ value: KafkaUUID) {
        self.writeInteger(value.high)
        self.writeInteger(value.low)
    }

    @inlinable
    public mutating func writeKafkaUnsignedVarint(_ value: UInt32) {
        var remaining = value
        while remaining >= 0x80 {
            self.writeInteger(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        self.writeInteger(UInt8(truncatingIfNeeded: remaining))
    }

    @inlinable
    public mutating func writeKafkaUnsignedVarlong(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            self.writeInteger(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        self.writeInteger(UInt8(truncatingIfNeeded: remaining))
    }

    @inlinable
    public mutating func writeKafkaVarint(_ value: Int32) {
        self.writeKafkaUnsignedVarint(UInt32(bitPattern: (value << 1) ^ (value >> 31)))
    }

    @inlinable
    public mutating func writeKafkaVarlong(_ value: Int64) {
        self.writeKafkaUnsignedVarlong(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Writes a length prefix; `nil` writes null.
    @inlinable
    mutating func writeKafkaLength(
        _ length: Int?, compact: Bool, wide: Bool, field: StaticString
    ) throws(KafkaEncodingError) {
        guard let length else {
            if compact {
                self.writeKafkaUnsignedVarint(0)
            } else if wide {
                self.writeInteger(Int32(-1))
            } else {
                self.writeInteger(Int16(-1))
            }
            return
        }
        if compact {
            guard length < Int(UInt32.max) else {
                throw KafkaEncodingError(field, .tooLong(length: length, limit: Int(UInt32.max) - 1))
            }
            self.writeKafkaUnsignedVarint(UInt32(length + 1))
        } else if wide {
            guard length <= Int(Int32.max) else {
                throw KafkaEncodingError(field, .tooLong(length: length, limit: Int(Int32.max)))
            }
            self.writeInteger(Int32(length))
        } else {
            guard length <= Int(Int16.max) else {
                throw KafkaEncodingError(field, .tooLong(length: length, limit: Int(Int16.max)))
            }
            self.writeInteger(Int16(length))
        }
    }

    @inlinable
    public mutating func writeKafkaString(_ value: String, compact: Bool, field: StaticString) throws(KafkaEncodingError) {
        try self.writeKafkaLength(value.utf8.count, compact: compact, wide: false, field: field)
        self.writeString(value)
    }

    @inlinable
    public mutating func writeKafkaNullableString(_ value: String?, compact: Bool, field: StaticString) throws(KafkaEncodingError) {
        guard let value else {
            try self.writeKafkaLength(nil, compact: compact, wide: false, field: field)
            return
        }
        try self.writeKafkaString(value, compact: compact, field: field)
    }

    @inlinable
    public mutating func writeKafkaBytes(_ value: ByteBuffer, compact: Bool, field: StaticString) throws(KafkaEncodingError) {
        try self.writeKafkaLength(value.readableBytes, compact: compact, wide: true, field: field)
        self.writeImmutableBuffer(value)
    }

    @inlinable
    public mutating func writeKafkaNullableBytes(_ value: ByteBuffer?, compact: Bool, field: StaticString) throws(KafkaEncodingError) {
        guard let value else {
            try self.writeKafkaLength(nil, compact: compact, wide: true, field: field)
            return
        }
        try self.writeKafkaBytes(value, compact: compact, field: field)
    }

    @inlinable
    public mutating func writeKafkaArray<Element>(
        _ elements: [Element],
        compact: Bool,
        field: StaticString,
        element: (inout ByteBuffer, Element) throws(KafkaEncodingError) -> Void
    ) throws(KafkaEncodingError) {
        try self.writeKafkaLength(elements.count, compact: compact, wide: true, field: field)
        for item in elements {
            try element(&self, item)
        }
    }

    @inlinable
    public mutating func writeKafkaNullableArray<Element>(
        _ elements: [Element]?,
        compact: Bool,
        field: StaticString,
        element: (inout ByteBuffer, Element) throws(KafkaEncodingError) -> Void
    ) throws(KafkaEncodingError) {
        guard let elements else {
            try self.writeKafkaLength(nil, compact: compact, wide: true, field: field)
            return
        }
        try self.writeKafkaArray(elements, compact: compact, field: field, element: element)
    }

    /// Writes a tagged-field section: the count, then each field in ascending tag order.
    @inlinable
    public mutating func writeKafkaTaggedFields(_ fields: [KafkaTaggedField]) {
        self.writeKafkaUnsignedVarint(UInt32(fields.count))
        if fields.isEmpty { return }
        let ordered = fields.count == 1 ? fields : fields.sorted { $0.tag < $1.tag }
        for field in ordered {
            self.writeKafkaUnsignedVarint(field.tag)
            self.writeKafkaUnsignedVarint(UInt32(field.data.readableBytes))
            self.writeImmutableBuffer(field.data)
        }
    }
}
