import KafkaProtocol
import NIOCore

/// libFuzzer entry point: one request frame (without the size prefix) per input.
///
/// Beyond "does not trap", it checks a property: whatever decodes must encode again, and the re-encoded
/// bytes must decode to an equal value (a decoder that accepted bytes its encoder cannot reproduce would
/// be answering a different request than the client sent). Record batches inside Produce requests are
/// parsed and validated too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKafkaRequestDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var frame = ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size))
    let decoded: KafkaRequestFrame
    do {
        decoded = try KafkaRequestFrame.decode(from: &frame)
    } catch {
        _ = error.description
        return 0
    }
    var encoded = ByteBuffer()
    do {
        try decoded.encode(into: &encoded)
    } catch {
        // Possible and legitimate: e.g. a string that decodes from a compact form but exceeds an
        // int16 length in a non-flexible header field. Anything else is a bug.
        if case .tooLong = error.problem { return 0 }
        fatalError("decoded request does not re-encode: \(error)")
    }
    encoded.moveReaderIndex(forwardBy: 4)
    do {
        let again = try KafkaRequestFrame.decode(from: &encoded)
        precondition(again == decoded, "re-encoded request decodes differently")
    } catch {
        fatalError("re-encoded request does not decode: \(error)")
    }
    if case .produce(let produce) = decoded.body {
        for topic in produce.topicData {
            for partition in topic.partitionData {
                guard var records = partition.records else { continue }
                _ = try? RecordBatch.validatedBatches(in: &records)
            }
        }
    }
    return 0
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
@_cdecl("FuzzKafkaRequestDecoder_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return llvmFuzzerRunDriver(&count, &arguments) { data, size in
        fuzzKafkaRequestDecoder(data, size)
    }
}
