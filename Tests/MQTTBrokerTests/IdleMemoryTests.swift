@testable import MQTTBroker
import MQTTProtocol
import Testing

/// What an idle connection's broker state costs: with 15,000 devices connected every byte of it counts
/// (`tributary-bench mqtt-connections` measures the whole process; these pin the parts that are ours).
@Suite struct IdleMemoryTests {
    #if os(Linux)
    @Test func anIdleSessionKeepsItsSeldomSetStateOutOfLine() {
        let session = Session(clientId: "device-000001", protocolVersion: .v3_1_1, expiryIntervalSeconds: 0)
        let bytes = mallocUsableSize(Unmanaged.passUnretained(session).toOpaque())
        // About 1 KiB while the will, the pending will and the last stored state were inline.
        #expect(bytes <= 384, "a session takes \(bytes) bytes")
    }
    #endif

    @Test func anOutOfLineValueKeepsValueSemantics() {
        struct Holder {
            @OutOfLine var value: [Int]? = nil
        }
        var first = Holder()
        #expect(first.value == nil)
        first.value = [1, 2]
        var second = first
        second.value?.append(3)
        #expect(first.value == [1, 2])
        #expect(second.value == [1, 2, 3])
        second.value = nil
        #expect(second.value == nil && first.value == [1, 2])
    }
}

#if os(Linux)
/// glibc's `malloc_usable_size` (in malloc.h, which the Glibc module does not bring in): the bytes an
/// allocation really takes.
@_silgen_name("malloc_usable_size")
private func mallocUsableSize(_ pointer: UnsafeMutableRawPointer?) -> Int
#endif
