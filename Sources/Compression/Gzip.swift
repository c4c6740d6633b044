import CZlib

/// gzip through zlib. Decompression accepts several concatenated members, as Java's GZIPInputStream does.
enum Gzip {
    /// zlib's own default (level 6), what Kafka's gzip level -1 means.
    static let defaultLevel: Int32 = Z_DEFAULT_COMPRESSION

    /// `level` is zlib's: 0...9, or -1 for the default; anything else makes deflateInit2 fail, which is
    /// reported as an error rather than trusted.
    static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = defaultLevel) throws(CompressionError) -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 16 selects the gzip wrapper.
        let initStatus = deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard initStatus == Z_OK else {
            throw CompressionError(codec: .gzip, reason: .resourceFailure("deflateInit2 returned \(initStatus)"))
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count)))
        var output = [UInt8](repeating: 0, count: bound)
        let status: Int32 = output.withUnsafeMutableBytes { outputBytes in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = outputBytes.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(outputBytes.count)
            return deflate(&stream, Z_FINISH)
        }
        guard status == Z_STREAM_END else {
            throw CompressionError(codec: .gzip, reason: .resourceFailure("deflate returned \(status)"))
        }
        output.removeLast(output.count - Int(stream.total_out))
        return output
    }

    static func decompress(_ input: UnsafeRawBufferPointer, maximumOutputBytes: Int) throws(CompressionError) -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 32: detect the gzip or zlib wrapper from the header.
        let initStatus = inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard initStatus == Z_OK else {
            throw CompressionError(codec: .gzip, reason: .resourceFailure("inflateInit2 returned \(initStatus)"))
        }
        defer { inflateEnd(&stream) }
        var output = BoundedOutput(limit: maximumOutputBytes, codec: .gzip, expected: input.count * 4)
        guard let inputBase = input.baseAddress, input.count > 0 else {
            throw CompressionError(codec: .gzip, reason: .corrupt("empty input"))
        }
        stream.next_in = UnsafeMutablePointer(mutating: inputBase.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        while true {
            if output.spare == 0 { try output.grow() }
            let before = output.count
            let status: Int32 = output.bytes.withUnsafeMutableBytes { outputBytes in
                stream.next_out = outputBytes.baseAddress!.advanced(by: before).assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(outputBytes.count - before)
                return inflate(&stream, Z_NO_FLUSH)
            }
            output.count = output.bytes.count - Int(stream.avail_out)
            switch status {
            case Z_STREAM_END:
                // Another member may follow (ignore trailing zero padding, which some writers add).
                let rest = UnsafeRawBufferPointer(start: stream.next_in, count: Int(stream.avail_in))
                if rest.allSatisfy({ $0 == 0 }) { return output.finish() }
                let resetStatus = inflateReset(&stream)
                guard resetStatus == Z_OK else {
                    throw CompressionError(codec: .gzip, reason: .corrupt("inflateReset returned \(resetStatus)"))
                }
            case Z_OK:
                continue
            case Z_BUF_ERROR:
                // No progress possible: either the output is full (grow) or the input ended early.
                if stream.avail_out == 0 { continue }
                throw CompressionError(codec: .gzip, reason: .corrupt("input ends before the end of the stream"))
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "inflate returned \(status)"
                throw CompressionError(codec: .gzip, reason: .corrupt(message))
            }
        }
    }
}
