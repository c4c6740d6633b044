import CSnappy

/// Snappy, raw (what librdkafka writes) and in the xerial framing (what the Java client's
/// SnappyOutputStream writes): an 8-byte magic, two big-endian int32s (version, compatible version), then
/// blocks of a big-endian int32 length and a raw snappy block.
enum Snappy {
    static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
    static let xerialHeaderSize = 16
    /// The Java client's block size.
    static let xerialBlockSize = 32 * 1024

    static func isXerial(_ input: UnsafeRawBufferPointer) -> Bool {
        input.count >= xerialHeaderSize && zip(input.prefix(8), xerialMagic).allSatisfy { $0 == $1 }
    }

    static func compressRaw(_ input: UnsafeRawBufferPointer, appendingTo output: inout [UInt8]) throws(CompressionError) {
        let bound = snappy_max_compressed_length(input.count)
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: bound))
        var length = bound
        // An empty input may have no base address; snappy still wants a valid pointer.
        var placeholder: CChar = 0
        let status = withUnsafePointer(to: &placeholder) { placeholderPointer in
            output.withUnsafeMutableBytes { outputBytes in
                snappy_compress(
                    input.baseAddress?.assumingMemoryBound(to: CChar.self) ?? placeholderPointer, input.count,
                    outputBytes.baseAddress!.advanced(by: start).assumingMemoryBound(to: CChar.self), &length
                )
            }
        }
        guard status == SNAPPY_OK else {
            throw CompressionError(codec: .snappy, reason: .resourceFailure("snappy_compress returned \(status)"))
        }
        output.removeLast(bound - length)
    }

    static func compressXerial(_ input: UnsafeRawBufferPointer) throws(CompressionError) -> [UInt8] {
        var output = xerialMagic
        output.append(contentsOf: [0, 0, 0, 1, 0, 0, 0, 1])
        var offset = 0
        repeat {
            let blockLength = min(xerialBlockSize, input.count - offset)
            let block = UnsafeRawBufferPointer(rebasing: input[offset..<(offset + blockLength)])
            let lengthIndex = output.count
            output.append(contentsOf: [0, 0, 0, 0])
            try compressRaw(block, appendingTo: &output)
            let compressedLength = UInt32(output.count - lengthIndex - 4)
            output[lengthIndex] = UInt8(truncatingIfNeeded: compressedLength >> 24)
            output[lengthIndex + 1] = UInt8(truncatingIfNeeded: compressedLength >> 16)
            output[lengthIndex + 2] = UInt8(truncatingIfNeeded: compressedLength >> 8)
            output[lengthIndex + 3] = UInt8(truncatingIfNeeded: compressedLength)
            offset += blockLength
        } while offset < input.count
        return output
    }

    static func decompress(_ input: UnsafeRawBufferPointer, maximumOutputBytes: Int) throws(CompressionError) -> [UInt8] {
        var output: [UInt8] = []
        if isXerial(input) {
            var offset = xerialHeaderSize
            while offset < input.count {
                guard offset + 4 <= input.count else {
                    throw CompressionError(codec: .snappy, reason: .corrupt("truncated xerial block length"))
                }
                let length = Int(input[offset]) << 24 | Int(input[offset + 1]) << 16 | Int(input[offset + 2]) << 8 | Int(input[offset + 3])
                offset += 4
                guard length <= input.count - offset else {
                    throw CompressionError(codec: .snappy, reason: .corrupt("xerial block of \(length) bytes exceeds the input"))
                }
                try decompressRaw(UnsafeRawBufferPointer(rebasing: input[offset..<(offset + length)]), appendingTo: &output, maximumOutputBytes: maximumOutputBytes)
                offset += length
            }
        } else {
            try decompressRaw(input, appendingTo: &output, maximumOutputBytes: maximumOutputBytes)
        }
        return output
    }

    static func decompressRaw(_ input: UnsafeRawBufferPointer, appendingTo output: inout [UInt8], maximumOutputBytes: Int) throws(CompressionError) {
        let compressed = input.baseAddress?.assumingMemoryBound(to: CChar.self)
        guard let compressed else {
            throw CompressionError(codec: .snappy, reason: .corrupt("empty block"))
        }
        var length = 0
        guard snappy_uncompressed_length(compressed, input.count, &length) == SNAPPY_OK else {
            throw CompressionError(codec: .snappy, reason: .corrupt("unreadable block header"))
        }
        guard length <= maximumOutputBytes - output.count else {
            throw CompressionError(codec: .snappy, reason: .outputLimitExceeded(limit: maximumOutputBytes))
        }
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: length))
        var produced = length
        let status = output.withUnsafeMutableBytes { outputBytes in
            snappy_uncompress(compressed, input.count, outputBytes.baseAddress!.advanced(by: start).assumingMemoryBound(to: CChar.self), &produced)
        }
        guard status == SNAPPY_OK, produced == length else {
            throw CompressionError(codec: .snappy, reason: .corrupt("snappy_uncompress returned \(status)"))
        }
    }
}
