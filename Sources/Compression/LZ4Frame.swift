import CLZ4

/// The LZ4 frame format, which Kafka uses for lz4 batches with magic 1 and 2 (the Java client writes
/// 64 KiB independent blocks; any valid frame decodes).
enum LZ4Frame {
    /// 0: the fast (non-HC) compressor, the frame library's default.
    static let defaultLevel: Int32 = 0

    /// `level` is LZ4F's compressionLevel: up to 2 the fast compressor, 3 and above the high-compression one
    /// (the library treats levels above its maximum as the maximum, and negative ones as acceleration).
    static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = defaultLevel) throws(CompressionError) -> [UInt8] {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max64KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.compressionLevel = level
        let bound = LZ4F_compressFrameBound(input.count, &preferences)
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { outputBytes in
            LZ4F_compressFrame(outputBytes.baseAddress, bound, input.baseAddress, input.count, &preferences)
        }
        if LZ4F_isError(written) != 0 {
            throw CompressionError(codec: .lz4, reason: .resourceFailure(String(cString: LZ4F_getErrorName(written))))
        }
        output.removeLast(bound - written)
        return output
    }

    static func decompress(_ input: UnsafeRawBufferPointer, maximumOutputBytes: Int) throws(CompressionError) -> [UInt8] {
        var context: OpaquePointer? = nil
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(created) == 0, let context else {
            throw CompressionError(codec: .lz4, reason: .resourceFailure("cannot create a decompression context"))
        }
        defer { LZ4F_freeDecompressionContext(context) }
        var output = BoundedOutput(limit: maximumOutputBytes, codec: .lz4, expected: input.count * 4)
        var consumed = 0
        while true {
            if output.spare == 0 { try output.grow() }
            var sourceSize = input.count - consumed
            var destinationSize = output.spare
            let before = output.count
            let hint = output.bytes.withUnsafeMutableBytes { outputBytes in
                LZ4F_decompress(context, outputBytes.baseAddress!.advanced(by: before), &destinationSize, input.baseAddress?.advanced(by: consumed), &sourceSize, nil)
            }
            if LZ4F_isError(hint) != 0 {
                throw CompressionError(codec: .lz4, reason: .corrupt(String(cString: LZ4F_getErrorName(hint))))
            }
            consumed += sourceSize
            output.count += destinationSize
            if hint == 0 {
                // End of a frame. Anything after it would be a second frame; Kafka writes one.
                guard consumed == input.count else {
                    throw CompressionError(codec: .lz4, reason: .corrupt("\(input.count - consumed) bytes after the end of the frame"))
                }
                return output.finish()
            }
            if consumed == input.count && destinationSize == 0 && sourceSize == 0 {
                throw CompressionError(codec: .lz4, reason: .corrupt("input ends before the end of the frame"))
            }
        }
    }
}
