public import KafkaProtocol
import NIOCore

extension SegmentedLog {
    /// Reads whole batches from `offset` below the high watermark, over the snapshot taken at the call: no
    /// lock is held during the file reads. A corrupt batch ends the answer there, or throws when it is the
    /// first (never an empty answer below the high watermark). Blocking file I/O.
    public func read(from offset: Int64, maxBytes: Int, minimumOneBatch: Bool) throws(LogError) -> ReadResult {
        let found = try readVisible(from: offset) { snapshot, view throws(LogError) -> ByteBuffer? in
            try view.read(from: offset, maxBytes: maxBytes, endOffset: snapshot.highWatermark, minimumOneBatch: minimumOneBatch)
        }
        return ReadResult(records: found.records, highWatermark: found.snapshot.highWatermark, logStartOffset: found.snapshot.logStartOffset, logEndOffset: found.snapshot.logEndOffset)
    }

    public func readForSending(from offset: Int64, maxBytes: Int, minimumOneBatch: Bool) throws(LogError) -> SendableRead {
        let found = try readVisible(from: offset) { snapshot, view throws(LogError) -> StoredRecords? in
            if let visible = snapshot.visibleSize(of: view),
               let range = try view.sendableRange(from: offset, maxBytes: maxBytes, visibleSize: visible, endOffset: snapshot.highWatermark, minimumOneBatch: minimumOneBatch) {
                return .file(view.file, range)
            }
            // Not verified yet (or the visible end is not known by position): read, check, send the bytes.
            return try view.read(from: offset, maxBytes: maxBytes, endOffset: snapshot.highWatermark, minimumOneBatch: minimumOneBatch).map { .bytes($0) }
        }
        return SendableRead(records: found.records, highWatermark: found.snapshot.highWatermark, logStartOffset: found.snapshot.logStartOffset, logEndOffset: found.snapshot.logEndOffset)
    }

    /// The first answer `body` gives for the segments from the one holding `offset` on (compaction can leave
    /// gaps at a segment's end), below the high watermark of the snapshot taken now; corruption is logged
    /// once and thrown.
    private func readVisible<Records>(from offset: Int64, _ body: (LogSnapshot, SegmentView) throws(LogError) -> Records?) throws(LogError) -> (snapshot: LogSnapshot, records: Records?) {
        let snapshot = currentSnapshot
        guard offset >= snapshot.logStartOffset && offset <= snapshot.logEndOffset else {
            throw .offsetOutOfRange(requested: offset, logStartOffset: snapshot.logStartOffset, logEndOffset: snapshot.logEndOffset)
        }
        guard offset < snapshot.highWatermark else { return (snapshot, nil) }
        var index = snapshot.segmentIndex(containing: offset)
        while index < snapshot.segmentCount {
            do {
                if let records = try body(snapshot, snapshot[index]) { return (snapshot, records) }
            } catch .corrupt(let corruption) {
                throw reportCorruption(corruption)
            }
            index += 1
        }
        return (snapshot, nil)
    }

    /// Headers of every batch from `offset` (the batch holding it) to the log end, in order. Blocking I/O.
    public func batchHeaders(from offset: Int64) throws(LogError) -> [RecordBatchHeader] {
        let snapshot = currentSnapshot
        var headers: [RecordBatchHeader] = []
        for index in snapshot.segmentIndex(containing: offset)..<snapshot.segmentCount {
            let view = snapshot[index]
            guard view.nextOffset > offset else { continue }
            let start = offset > view.baseOffset ? try view.locate(offset)?.position : 0
            guard let start else { continue }
            var walker = SegmentBatchWalker(view: view, from: start)
            do {
                while let (_, header) = try walker.next() {
                    guard header.baseOffset < snapshot.logEndOffset else { break }
                    headers.append(header)
                }
            } catch .corrupt(let corruption) {
                throw reportCorruption(corruption)
            }
        }
        return headers
    }

    // MARK: Offsets by time

    /// The earliest record with a timestamp at or after `timestamp` below the high watermark: its offset
    /// and timestamp, or nil. Blocking I/O.
    public func offset(forTimestamp timestamp: Int64) throws(LogError) -> (offset: Int64, timestamp: Int64)? {
        let snapshot = currentSnapshot
        let start = snapshot.logStartOffset
        for index in 0..<snapshot.segmentCount {
            let view = snapshot[index]
            guard view.maxTimestamp >= timestamp, view.nextOffset > start else { continue }
            let from = view.offsetIndex.position(atOrBelow: view.timeIndex.relativeOffset(before: timestamp))
            var walker = SegmentBatchWalker(view: view, from: from)
            do {
                while let (position, header) = try walker.next() {
                    if header.baseOffset >= snapshot.highWatermark { return nil }
                    guard header.maxTimestamp >= timestamp, header.lastOffset >= start else { continue }
                    let batch = try view.readBatch(at: position, header: header)
                    if let found = Self.firstRecord(in: batch, atOrAfter: timestamp, notBefore: start) { return found }
                }
            } catch .corrupt(let corruption) {
                throw reportCorruption(corruption)
            }
        }
        return nil
    }

    /// The first record of `batch` at or after `timestamp` and `start`. A batch whose records cannot be
    /// read counts as having none (it passed its checksum, so this only happens for a client's own garbage).
    static func firstRecord(in batch: RecordBatch, atOrAfter timestamp: Int64, notBefore start: Int64) -> (offset: Int64, timestamp: Int64)? {
        if batch.header.timestampType == .logAppendTime {
            let offset = max(batch.header.baseOffset, start)
            return offset <= batch.header.lastOffset ? (offset, batch.header.maxTimestamp) : nil
        }
        guard let records = try? batch.records() else { return nil }
        for record in records {
            let offset = batch.header.baseOffset &+ Int64(record.offsetDelta)
            let recordTimestamp = batch.header.baseTimestamp &+ record.timestampDelta
            if offset >= start && recordTimestamp >= timestamp { return (offset, recordTimestamp) }
        }
        return nil
    }

    /// The offset and timestamp of the record with the largest timestamp below the high watermark
    /// (ListOffsets -3), nil when there is none.
    public func maxTimestampOffset() throws(LogError) -> (offset: Int64, timestamp: Int64)? {
        let snapshot = currentSnapshot
        let start = snapshot.logStartOffset
        var best: SegmentView? = nil
        for index in 0..<snapshot.segmentCount {
            let view = snapshot[index]
            guard view.maxTimestamp >= 0, view.offsetOfMaxTimestamp < snapshot.highWatermark, view.offsetOfMaxTimestamp >= start else { continue }
            if best.map({ view.maxTimestamp > $0.maxTimestamp }) ?? true { best = view }
        }
        guard let best else { return nil }
        do {
            guard let (position, header) = try best.locate(best.offsetOfMaxTimestamp) else { return nil }
            let batch = try best.readBatch(at: position, header: header)
            return Self.firstRecord(in: batch, atOrAfter: best.maxTimestamp, notBefore: start) ?? (best.offsetOfMaxTimestamp, best.maxTimestamp)
        } catch .corrupt(let corruption) {
            throw reportCorruption(corruption)
        }
    }
}

extension SegmentedLog {
    public func readAsync(from offset: Int64, maxBytes: Int, minimumOneBatch: Bool) async throws(LogError) -> ReadResult {
        let result: Result<ReadResult, LogError> = await withCheckedContinuation { continuation in
            threadPool.submit { _ in
                continuation.resume(returning: Result { () throws(LogError) in try self.read(from: offset, maxBytes: maxBytes, minimumOneBatch: minimumOneBatch) })
            }
        }
        return try result.get()
    }
}

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
                    try body(record, batch.header.baseOffset &+ Int64(record.offsetDelta), batch.header.baseTimestamp &+ record.timestampDelta)
                }
            }
        }
    }
}
