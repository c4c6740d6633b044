// The partitioner the bridge uses for keyed records; with the Kafka protocol code because it is Kafka's
// behaviour (the Java client's and librdkafka's murmur2_random), not the bridge's.

/// Kafka's default partitioner for keyed records: murmur2 of the key bytes, made positive, modulo the
/// partition count — so a Kafka producer and the bridge put the same key in the same partition.
public enum KafkaPartitioner {
    public static func partition(forKey key: some Collection<UInt8>, partitions: Int32) -> Int32 {
        guard partitions > 1 else { return 0 }
        return Int32((murmur2(key) & 0x7fff_ffff) % UInt32(partitions))
    }

    public static func murmur2(_ data: some Collection<UInt8>) -> UInt32 {
        if let hash = data.withContiguousStorageIfAvailable({ murmur2(bytes: $0) }) { return hash }
        return Array(data).withUnsafeBufferPointer { murmur2(bytes: $0) }
    }

    private static func murmur2(bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: bytes.count)
        let whole = bytes.count / 4
        for index in 0..<whole {
            let base = index * 4
            var k = UInt32(bytes[base]) | UInt32(bytes[base + 1]) << 8 | UInt32(bytes[base + 2]) << 16 | UInt32(bytes[base + 3]) << 24
            k &*= m
            k ^= k >> r
            k &*= m
            h &*= m
            h ^= k
        }
        let tail = whole * 4
        switch bytes.count % 4 {
        case 3:
            h ^= UInt32(bytes[tail + 2]) << 16
            fallthrough
        case 2:
            h ^= UInt32(bytes[tail + 1]) << 8
            fallthrough
        case 1:
            h ^= UInt32(bytes[tail])
            h &*= m
        default:
            break
        }
        h ^= h >> 13
        h &*= m
        h ^= h >> 15
        return h
    }
}
