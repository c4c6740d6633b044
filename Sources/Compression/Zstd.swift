import CZstd

/// Zstandard. Decompression streams, because producers do not always record the content size in the frame.
enum Zstd {
    /// Kafka's default `compression.zstd.level`, and ZSTD_CLEVEL_DEFAULT.
    static let defaultLevel: Int32 = 3

    /// `level` is zstd's: negative levels trade ratio for speed; the library clamps values outside its range.
    static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = defaultLevel) throws(CompressionError) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { outputBytes in
            ZSTD_compress(outputBytes.baseAddress, bound, input.baseAddress, input.count, level)
        }
        if ZSTD_isError(written) != 0 {
            throw CompressionError(codec: .zstd, reason: .resourceFailure(String(cString: ZSTD_getErrorName(written))))
        }
        output.removeLast(bound - written)
        return output
    }

    static func decompress(_ input: UnsafeRawBufferPointer, maximumOutputBytes: Int) throws(CompressionError) -> [UInt8] {
        guard let stream = ZSTD_createDStream() else {
            throw CompressionError(codec: .zstd, reason: .resourceFailure("cannot create a decompression stream"))
        }
        defer { ZSTD_freeDStream(stream) }
        var output = BoundedOutput(limit: maximumOutputBytes, codec: .zstd, expected: input.count * 4)
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            if output.spare == 0 { try output.grow() }
            let before = output.count
            let spareBefore = output.spare
            var produced = 0
            let hint = output.bytes.withUnsafeMutableBytes { outputBytes in
                var outBuffer = ZSTD_outBuffer(dst: outputBytes.baseAddress!.advanced(by: before), size: outputBytes.count - before, pos: 0)
                let result = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                produced = outBuffer.pos
                return result
            }
            if ZSTD_isError(hint) != 0 {
                throw CompressionError(codec: .zstd, reason: .corrupt(String(cString: ZSTD_getErrorName(hint))))
            }
            output.count += produced
            let inputDone = inBuffer.pos == inBuffer.size
            if hint == 0 && inputDone { break }
            // With all input read and room left in the output, a frame that is not finished never will be.
            if inputDone && produced < spareBefore {
                throw CompressionError(codec: .zstd, reason: .corrupt("input ends before the end of the frame"))
            }
        }
        return output.finish()
    }
}
