public import NIOCore

/// Checks for the Payload Format Indicator: 1 promises a UTF-8 payload (MQTT 5.0 3.3.2.3.2).
public enum MQTTPayloadFormat {
    /// Whether `payload` is well-formed UTF-8. U+0000 is allowed here: the ban applies to UTF-8 Encoded
    /// Strings in the protocol, not to "UTF-8 Encoded Character Data" in a payload.
    public static func isValidUTF8(_ payload: ByteBuffer) -> Bool {
        payload.withUnsafeReadableBytes { bytes in
            String(validating: bytes, as: UTF8.self) != nil
        }
    }
}
