import NIOCore

/// Bytes written as annotated hex: whitespace is ignored, `#` starts a comment to the end of the line,
/// and `"text"` stands for the text's UTF-8 bytes.
func hex(_ annotated: String) -> ByteBuffer {
    var buffer = ByteBuffer()
    var pendingNibble: UInt8? = nil
    var iterator = annotated.unicodeScalars.makeIterator()
    while let scalar = iterator.next() {
        switch scalar {
        case "#":
            while let next = iterator.next(), next != "\n" {}
        case "\"":
            var text = ""
            while let next = iterator.next(), next != "\"" { text.unicodeScalars.append(next) }
            precondition(pendingNibble == nil, "odd number of hex digits before a string")
            buffer.writeString(text)
        case " ", "\n", "\t", "|":
            continue
        default:
            guard let value = UInt8(String(scalar), radix: 16) else {
                preconditionFailure("not a hex digit: \(scalar)")
            }
            if let high = pendingNibble {
                buffer.writeInteger(high << 4 | value)
                pendingNibble = nil
            } else {
                pendingNibble = value
            }
        }
    }
    precondition(pendingNibble == nil, "odd number of hex digits")
    return buffer
}

extension ByteBuffer {
    var hexDump: String {
        readableBytesView.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
            .joined(separator: " ")
    }
}
