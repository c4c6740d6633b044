import MQTTProtocol
import NIOCore

/// libFuzzer entry point. The first input byte chooses the connection state (bits 0-1: no CONNECT yet,
/// 3.1, 3.1.1 or 5.0; bit 7: a 64-byte maximum packet size instead of none); the rest is a byte stream
/// decoded packet by packet, as a connection would.
///
/// Beyond "does not trap", it checks the properties the broker relies on: a failed or incomplete decode
/// consumes nothing; whatever decodes re-encodes, `encodedSize` agrees with the bytes written, the
/// re-encoded bytes decode to an equal packet, and every proper prefix of them is "incomplete" (nil).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMQTTPacketDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let versions: [MQTTProtocolVersion?] = [nil, .v3_1, .v3_1_1, .v5]
    var version = versions[Int(data[0] & 0b11)]
    let maximumPacketSize = data[0] & 0x80 != 0 ? 64 : Int.max
    var stream = ByteBuffer(bytes: UnsafeBufferPointer(start: data + 1, count: size - 1))
    // Every decoded packet consumes at least its 2-byte fixed header, so the loop ends.
    while true {
        let before = stream.readerIndex
        let packet: MQTTPacket?
        do {
            packet = try MQTTPacketCodec.decode(from: &stream, version: version, maximumPacketSize: maximumPacketSize)
        } catch {
            precondition(stream.readerIndex == before, "a failed decode consumed bytes")
            _ = error.description
            return 0
        }
        guard let packet else {
            precondition(stream.readerIndex == before, "an incomplete decode consumed bytes")
            return 0
        }
        precondition(stream.readerIndex >= before + 2, "a decode consumed less than a fixed header")
        var encodingVersion = version ?? .v5
        if case .connect(let connect) = packet {
            encodingVersion = connect.protocolVersion
        }
        var encoded = ByteBuffer()
        do {
            try MQTTPacketCodec.encode(packet, version: encodingVersion, into: &encoded)
            let size = try MQTTPacketCodec.encodedSize(packet, version: encodingVersion)
            precondition(size == encoded.readableBytes, "encodedSize \(size), encoded \(encoded.readableBytes) bytes")
        } catch {
            fatalError("decoded packet does not re-encode: \(error)\n\(packet)")
        }
        do {
            var again = encoded
            let redecoded = try MQTTPacketCodec.decode(from: &again, version: version, maximumPacketSize: .max)
            precondition(redecoded == packet, "re-encoded packet decodes differently:\n\(packet)\n\(String(describing: redecoded))")
            precondition(again.readableBytes == 0, "re-encoded packet not consumed exactly")
            var prefix = encoded.getSlice(at: encoded.readerIndex, length: encoded.readableBytes - 1)!
            let partial = try MQTTPacketCodec.decode(from: &prefix, version: version, maximumPacketSize: .max)
            precondition(partial == nil && prefix.readableBytes == encoded.readableBytes - 1, "a proper prefix decoded or was consumed")
        } catch {
            fatalError("re-encoded packet does not decode: \(error)\n\(packet)")
        }
        if version == nil, case .connect(let connect) = packet {
            version = connect.protocolVersion
        }
    }
}

/// libFuzzer's driver, linked in by `-sanitize=fuzzer`.
@_silgen_name("LLVMFuzzerRunDriver")
func llvmFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

/// SwiftPM links an executable's entry point under this name (so that tests can import the module);
/// hand the command line to libFuzzer.
@_cdecl("FuzzMQTTPacketDecoder_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return llvmFuzzerRunDriver(&count, &arguments) { data, size in
        fuzzMQTTPacketDecoder(data, size)
    }
}
