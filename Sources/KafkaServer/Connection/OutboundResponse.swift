import KafkaProtocol
import LogStore
import NIOCore

/// An encoded response on its way to the socket: bytes, with the stored batches of a Fetch spliced in as
/// file ranges that the connection sends with sendfile(2), so they never pass through the server's memory.
struct OutboundResponse: Sendable {
    enum Part: Sendable {
        case bytes(ByteBuffer)
        case file(LogFile, Range<Int>)
    }

    var parts: [Part]

    init(_ buffer: ByteBuffer) {
        parts = [.bytes(buffer)]
    }

    init(parts: [Part]) {
        self.parts = parts
    }
}

/// Stands in for file ranges while a response is encoded by the generated code, then is replaced by them.
///
/// Each placeholder is a 16-byte record set: a random 12-byte tag of the response and a 4-byte index. The
/// encoder writes it with its length prefix (int32 before flexible versions, an unsigned varint of length + 1
/// after); splicing finds the tags, drops prefix and placeholder, and puts the real length and the file range
/// in their place, then corrects the frame size. Without file ranges the encoded buffer goes out as it is.
struct RecordsSplicer {
    static let placeholderBytes = 16
    private let tag: [UInt8]
    private(set) var ranges: [(LogFile, Range<Int>)] = []

    init() {
        var generator = SystemRandomNumberGenerator()
        tag = (0..<12).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// The placeholder to encode in place of `range` of `file`.
    mutating func placeholder(for file: LogFile, _ range: Range<Int>) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes(tag)
        buffer.writeInteger(UInt32(ranges.count))
        ranges.append((file, range))
        return buffer
    }

    /// `frame` (with its size prefix) with every placeholder replaced. `compact` says how record lengths are
    /// written in this response version.
    func splice(_ frame: ByteBuffer, compact: Bool) throws -> OutboundResponse {
        guard !ranges.isEmpty else { return OutboundResponse(frame) }
        var parts: [OutboundResponse.Part] = []
        var cut = frame.readerIndex
        var found = 0
        var searchFrom = frame.readerIndex + 4
        var frameSize = frame.readableBytes - 4
        let prefixBytes = compact ? 1 : 4
        while found < ranges.count, let position = frame.firstIndex(of: tag, from: searchFrom) {
            guard frame.getInteger(at: position + 12, as: UInt32.self) == UInt32(found), position - prefixBytes >= cut else {
                throw SpliceError(description: "placeholder \(found) not found in order")
            }
            let (file, range) = ranges[found]
            var length = ByteBuffer()
            if compact {
                length.writeKafkaUnsignedVarint(UInt32(range.count + 1))
            } else {
                length.writeInteger(Int32(range.count))
            }
            if let before = frame.getSlice(at: cut, length: position - prefixBytes - cut) { parts.append(.bytes(before)) }
            parts.append(.bytes(length))
            parts.append(.file(file, range))
            frameSize += length.readableBytes + range.count - prefixBytes - Self.placeholderBytes
            cut = position + Self.placeholderBytes
            searchFrom = cut
            found += 1
        }
        guard found == ranges.count, let rest = frame.getSlice(at: cut, length: frame.writerIndex - cut) else {
            throw SpliceError(description: "found \(found) of \(ranges.count) placeholders")
        }
        parts.append(.bytes(rest))
        guard let size = Int32(exactly: frameSize), case .bytes(var head) = parts[0] else {
            throw SpliceError(description: "a response of \(frameSize) bytes")
        }
        head.setInteger(size, at: head.readerIndex)
        parts[0] = .bytes(head)
        return OutboundResponse(parts: parts)
    }

    struct SpliceError: Error, CustomStringConvertible {
        var description: String
    }
}

extension ByteBuffer {
    /// The index of the first occurrence of `pattern` at or after `start`.
    func firstIndex(of pattern: [UInt8], from start: Int) -> Int? {
        guard let first = pattern.first, start >= readerIndex else { return nil }
        return withUnsafeReadableBytes { raw -> Int? in
            var offset = start - readerIndex
            while offset + pattern.count <= raw.count {
                guard let hit = raw[offset...].firstIndex(of: first) else { return nil }
                if hit + pattern.count <= raw.count, raw[hit..<(hit + pattern.count)].elementsEqual(pattern) {
                    return readerIndex + hit
                }
                offset = hit + 1
            }
            return nil
        }
    }
}
