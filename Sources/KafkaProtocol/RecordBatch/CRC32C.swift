import CCRC32C
public import NIOCore

/// CRC-32C (Castagnoli), the checksum of record batches v2.
public enum CRC32C {
    /// Whether the CPU's crc32 instruction is in use.
    public static var isHardwareAccelerated: Bool { tributary_crc32c_is_hardware_accelerated() != 0 }

    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        tributary_crc32c(crc, bytes.baseAddress, bytes.count)
    }

    /// The same result as `checksum` from the portable table-driven code, for cross-checks.
    public static func portableChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        tributary_crc32c_portable(crc, bytes.baseAddress, bytes.count)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// The checksum of a buffer's readable bytes.
    public static func checksum(_ buffer: ByteBuffer) -> UInt32 {
        buffer.withUnsafeReadableBytes { checksum($0) }
    }
}
