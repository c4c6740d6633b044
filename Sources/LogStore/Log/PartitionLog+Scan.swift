public import KafkaProtocol

extension PartitionLog {
    /// Calls `body` with every record from the log start to the high watermark, in order, with its offset
    /// and timestamp; control batches are skipped. For the compacted internal topics that are read back
    /// whole at start (`__consumer_offsets`, the MQTT state).
    public func scanRecords(_ body: (_ record: Record, _ offset: Int64, _ timestamp: Int64) throws -> Void) async throws {
        var offset = offsets.logStartOffset
        while true {
            let result = try await readAsync(from: offset, maxBytes: 4 << 20, minimumOneBatch: true)
            guard var bytes = result.records else { break }
            for batch in try RecordBatch.validatedBatches(in: &bytes) {
                offset = batch.header.lastOffset + 1
                if batch.header.isControl { continue }
                for record in try batch.records() {
                    try body(record, batch.header.baseOffset + Int64(record.offsetDelta), batch.header.baseTimestamp + record.timestampDelta)
                }
            }
        }
    }
}
