import KafkaProtocol
import Testing

@Suite struct KafkaPartitionerTests {
    /// Values Apache Kafka's own partitioner test expects of murmur2, as signed 32-bit integers.
    @Test func murmur2MatchesKafka() {
        let cases: [(String, Int32)] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            ("abc", 479_470_107),
        ]
        for (text, expected) in cases {
            #expect(Int32(bitPattern: KafkaPartitioner.murmur2(Array(text.utf8))) == expected, "\(text)")
        }
        #expect(KafkaPartitioner.partition(forKey: Array("anything".utf8), partitions: 1) == 0)
        let partition = KafkaPartitioner.partition(forKey: Array("foobar".utf8), partitions: 7)
        #expect(partition == Int32((UInt32(bitPattern: -790_332_482) & 0x7fff_ffff) % 7))
    }

    @Test func aKeyThatIsNotContiguousHashesAsItsBytes() {
        let bytes = Array("a-little-bit-long-string".utf8)
        #expect(KafkaPartitioner.murmur2(bytes.lazy.map { $0 }) == KafkaPartitioner.murmur2(bytes))
        #expect(KafkaPartitioner.murmur2("a-little-bit-long-string".utf8) == UInt32(bitPattern: -985_981_536))
    }
}
