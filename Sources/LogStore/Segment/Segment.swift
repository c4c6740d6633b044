import KafkaProtocol
import NIOCore

/// One segment of a partition log: `<base offset>.log` with its `.index` and `.timeindex`, named by the
/// 20-digit base offset as Kafka names them.
///
/// Not thread-safe by itself: the owning `PartitionLog` serialises every mutation under its lock. Reads of
/// bytes below `size` may run concurrently with appends, because bytes once written never change (until a
/// truncation, which the partition log excludes while it runs).
final class Segment {
    let baseOffset: Int64
    let directory: String
    let log: LogFile
    let offsetIndex: OffsetIndex
    let timeIndex: TimeIndex
    let indexIntervalBytes: Int

    /// Bytes of whole, valid batches.
    private(set) var size: Int
    /// The offset after the last batch's last offset; `baseOffset` while empty.
    private(set) var nextOffset: Int64
    /// Largest batch max-timestamp seen, -1 while empty.
    private(set) var maxTimestamp: Int64 = -1
    private(set) var offsetOfMaxTimestamp: Int64 = -1
    private var bytesSinceLastIndexEntry = 0
    /// Wall-clock milliseconds when the segment was created or, after a restart, when it was opened.
    let createdAtMilliseconds: Int64
    /// Bytes appended since the last `flush`.
    private(set) var hasUnflushedData = false

    static func fileName(_ baseOffset: Int64, _ suffix: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    /// Parses `00000000000000001234.log` into 1234.
    static func baseOffset(ofLogFile name: String) -> Int64? {
        guard name.hasSuffix(".log") else { return nil }
        let digits = name.dropLast(4)
        guard digits.count == 20, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return Int64(digits)
    }

    /// Appended to each file name while the segment is not (yet) the live copy: ".cleaned" while the
    /// cleaner writes it. Changed only under the partition's lock, when the files are renamed.
    private(set) var fileSuffix: String

    static let fileKinds = [".log", ".index", ".timeindex"]

    func path(_ kind: String, suffix: String? = nil) -> String {
        directory + "/" + Self.fileName(baseOffset, kind + (suffix ?? fileSuffix))
    }

    private init(baseOffset: Int64, directory: String, indexIntervalBytes: Int, nowMilliseconds: Int64, fileSuffix: String = "") throws(StorageError) {
        self.baseOffset = baseOffset
        self.directory = directory
        self.indexIntervalBytes = indexIntervalBytes
        self.fileSuffix = fileSuffix
        let stem = directory + "/" + Self.fileName(baseOffset, "")
        self.log = try LogFile(path: stem + ".log" + fileSuffix)
        self.offsetIndex = OffsetIndex(file: try LogFile(path: stem + ".index" + fileSuffix))
        self.timeIndex = TimeIndex(file: try LogFile(path: stem + ".timeindex" + fileSuffix))
        self.size = 0
        self.nextOffset = baseOffset
        self.createdAtMilliseconds = nowMilliseconds
    }

    /// A new, empty segment.
    static func create(baseOffset: Int64, directory: String, indexIntervalBytes: Int, nowMilliseconds: Int64, fileSuffix: String = "") throws(StorageError) -> Segment {
        let segment = try Segment(baseOffset: baseOffset, directory: directory, indexIntervalBytes: indexIntervalBytes, nowMilliseconds: nowMilliseconds, fileSuffix: fileSuffix)
        try segment.log.truncate(to: 0)
        try segment.offsetIndex.reset()
        try segment.timeIndex.reset()
        return segment
    }

    /// How much of a segment to verify when opening it.
    enum Verification {
        /// Taken as written (a clean shutdown, or entirely below the recovery point): only the batches after
        /// the last index entry are read, to find the next offset.
        case none
        /// Everything below the offset was flushed: verify from the batch that holds it.
        case from(offset: Int64)
        /// Verify every batch and rebuild both indexes.
        case all
    }

    /// Opens an existing segment, verifying as much of it as `verification` says. Verified batches have
    /// their length, checksum and offset order checked; the file is cut at the first invalid byte.
    static func open(
        baseOffset: Int64, directory: String, indexIntervalBytes: Int, nowMilliseconds: Int64, verification: Verification
    ) throws(StorageError) -> (segment: Segment, recovery: SegmentRecoveryReport?) {
        let segment = try Segment(baseOffset: baseOffset, directory: directory, indexIntervalBytes: indexIntervalBytes, nowMilliseconds: nowMilliseconds)
        let fileSize = try segment.log.size()
        switch verification {
        case .all:
            return (segment, try segment.recover(fileSize: fileSize))
        case .none:
            try segment.loadIndexes(logSize: fileSize)
            let start = Int(segment.offsetIndex.lastPosition ?? 0)
            let report = try segment.scan(from: start, fileSize: fileSize, verifyChecksums: false, rebuildIndexes: false)
            return (segment, report.truncatedBytes > 0 ? report : nil)
        case .from(let offset):
            try segment.loadIndexes(logSize: fileSize)
            // Start at the last index entry at or below the flushed offset whose batch really is there; the
            // entries after it may describe data that did not survive, so they are rebuilt by the scan.
            var start = segment.offsetIndex.lookup(relativeOffset: UInt32(clamping: max(0, offset - baseOffset)))
            let headerBytes = try segment.log.read(at: start, length: min(RecordBatchHeader.size, max(0, fileSize - start)))
            if let header = try? RecordBatchHeader(from: headerBytes, at: headerBytes.readerIndex), header.baseOffset >= baseOffset, header.lastOffset <= offset {
                try segment.offsetIndex.truncate(toPosition: start + 1)
                try segment.timeIndex.truncate(toRelativeOffset: UInt32(clamping: header.baseOffset - baseOffset))
            } else {
                start = 0
                try segment.offsetIndex.reset()
                try segment.timeIndex.reset()
            }
            segment.restoreMaximumTimestampFromIndex()
            segment.bytesSinceLastIndexEntry = 0
            return (segment, try segment.scan(from: start, fileSize: fileSize, verifyChecksums: true, rebuildIndexes: true))
        }
    }

    private func loadIndexes(logSize: Int) throws(StorageError) {
        try offsetIndex.load(logSize: logSize)
        try timeIndex.load(maximumRelativeOffset: nil)
        restoreMaximumTimestampFromIndex()
    }

    /// The largest timestamp the time index knows, for the batches a partial scan does not read.
    private func restoreMaximumTimestampFromIndex() {
        if let timestamp = timeIndex.lastTimestamp, let relative = timeIndex.relativeOffsets.last {
            maxTimestamp = timestamp
            offsetOfMaxTimestamp = baseOffset + Int64(relative)
        }
    }

    /// Verifies every batch, truncates at the first invalid byte and rebuilds both indexes.
    func recover(fileSize: Int? = nil) throws(StorageError) -> SegmentRecoveryReport {
        let total: Int
        if let fileSize { total = fileSize } else { total = try log.size() }
        try offsetIndex.reset()
        try timeIndex.reset()
        size = 0
        nextOffset = baseOffset
        maxTimestamp = -1
        offsetOfMaxTimestamp = -1
        bytesSinceLastIndexEntry = 0
        return try scan(from: 0, fileSize: total, verifyChecksums: true, rebuildIndexes: true)
    }

    /// Reads batches from `start` to the end of the file, stopping at the first invalid one and cutting the
    /// file there. Keeps the in-memory state (size, next offset, timestamps) current as it goes.
    private func scan(from start: Int, fileSize: Int, verifyChecksums: Bool, rebuildIndexes: Bool) throws(StorageError) -> SegmentRecoveryReport {
        var position = start
        var validBatches = 0
        var problem: String? = nil
        let chunkBytes = 1 << 20
        var chunk = ByteBuffer()
        var chunkStart = position
        scanning: while position < fileSize {
            // Make sure the chunk holds at least the batch header at `position`.
            if position + RecordBatchHeader.size > chunkStart + chunk.readableBytes {
                chunk = try log.read(at: position, length: min(chunkBytes, fileSize - position))
                chunkStart = position
            }
            let local = chunk.readerIndex + (position - chunkStart)
            let header: RecordBatchHeader
            do {
                header = try RecordBatchHeader(from: chunk, at: local)
            } catch {
                problem = error.description
                break scanning
            }
            let total = header.totalSize
            guard total <= fileSize - position else {
                problem = "batch at position \(position) declares \(total) bytes, \(fileSize - position) remain"
                break scanning
            }
            guard header.baseOffset >= nextOffset, header.lastOffsetDelta >= 0 else {
                problem = "batch at position \(position) has offsets \(header.baseOffset)-\(header.lastOffset) after \(nextOffset - 1)"
                break scanning
            }
            guard header.lastOffset - baseOffset <= Int64(UInt32.max) else {
                problem = "batch at position \(position) has offset \(header.lastOffset), beyond this segment's range"
                break scanning
            }
            if verifyChecksums {
                let bytes: ByteBuffer
                if position + total <= chunkStart + chunk.readableBytes {
                    bytes = chunk.getSlice(at: local, length: total)!
                } else {
                    bytes = try log.read(at: position, length: total)
                }
                let batch = RecordBatch(header: header, bytes: bytes)
                do {
                    try batch.verifyChecksum()
                } catch {
                    problem = "batch at position \(position) (offsets \(header.baseOffset)-\(header.lastOffset)): \(error)"
                    break scanning
                }
            }
            try noteAppended(header: header, position: position, updateIndexes: rebuildIndexes)
            position += total
            validBatches += 1
        }
        let truncated = fileSize - position
        if truncated > 0 {
            try log.truncate(to: position)
            try offsetIndex.truncate(toPosition: position)
        }
        size = position
        return SegmentRecoveryReport(
            baseOffset: baseOffset, validBatches: validBatches, truncatedBytes: truncated,
            truncatedAtPosition: truncated > 0 ? position : nil, nextOffset: nextOffset, problem: truncated > 0 ? problem : nil
        )
    }

    /// Updates size, offsets, timestamps and (when the interval has passed) the indexes for a batch
    /// written at `position`.
    private func noteAppended(header: RecordBatchHeader, position: Int, updateIndexes: Bool) throws(StorageError) {
        if header.maxTimestamp > maxTimestamp {
            maxTimestamp = header.maxTimestamp
            offsetOfMaxTimestamp = header.lastOffset
        }
        if updateIndexes {
            let relative = UInt32(header.lastOffset - baseOffset)
            let advances = offsetIndex.lastRelativeOffset.map { relative > $0 } ?? true
            if bytesSinceLastIndexEntry >= indexIntervalBytes && advances && (offsetIndex.lastPosition.map { UInt32(position) > $0 } ?? true) {
                try offsetIndex.append(relativeOffset: relative, position: UInt32(position))
                try timeIndex.maybeAppend(timestamp: maxTimestamp, relativeOffset: UInt32(offsetOfMaxTimestamp - baseOffset))
                bytesSinceLastIndexEntry = 0
            }
            bytesSinceLastIndexEntry += header.totalSize
        }
        size = position + header.totalSize
        nextOffset = header.lastOffset + 1
    }

    /// Appends one batch whose offsets are already assigned.
    func append(_ batch: ByteBuffer, header: RecordBatchHeader) throws(StorageError) {
        precondition(header.baseOffset >= nextOffset, "offsets must increase")
        let position = size
        try log.write(batch, at: position)
        hasUnflushedData = true
        try noteAppended(header: header, position: position, updateIndexes: true)
    }

    func flush() throws(StorageError) {
        guard hasUnflushedData else { return }
        try log.synchronizeData()
        hasUnflushedData = false
    }

    /// Flushes the log and both indexes, as before a segment becomes inactive or at shutdown.
    func flushAll() throws(StorageError) {
        try log.synchronizeData()
        try offsetIndex.file.synchronizeData()
        try timeIndex.file.synchronizeData()
        hasUnflushedData = false
    }

    /// Whether appending `bytes` more would exceed `segmentBytes`, the relative offsets would overflow, or
    /// the segment is older than `segmentMilliseconds`.
    func isFull(appending bytes: Int, lastOffset: Int64, segmentBytes: Int, segmentMilliseconds: Int64, nowMilliseconds: Int64) -> Bool {
        guard size > 0 else { return false }
        if size + bytes > segmentBytes { return true }
        if lastOffset - baseOffset > Int64(Int32.max) { return true }
        if nowMilliseconds - createdAtMilliseconds >= segmentMilliseconds { return true }
        return false
    }

    /// A consistent view of the segment for readers: taken under the partition's lock, used outside it.
    /// Bytes below `size` never change while the segment is live, so reads through a view need no lock.
    struct View {
        let segment: Segment
        let size: Int
        let nextOffset: Int64
        let maxTimestamp: Int64
        let offsetOfMaxTimestamp: Int64
        var baseOffset: Int64 { segment.baseOffset }
        var log: LogFile { segment.log }
    }

    /// Must be called with the partition's lock held (the indexes are read).
    func view() -> View {
        View(segment: self, size: size, nextOffset: nextOffset, maxTimestamp: maxTimestamp, offsetOfMaxTimestamp: offsetOfMaxTimestamp)
    }

    /// Where to start scanning for `offset`, from the offset index. Must be called with the partition's lock held.
    func indexPosition(for offset: Int64) -> Int {
        offsetIndex.lookup(relativeOffset: UInt32(clamping: max(0, offset - baseOffset)))
    }

    /// Where to start scanning for the first record at or after `timestamp`. Lock held.
    func indexPosition(forTimestamp timestamp: Int64) -> Int {
        let relative = timeIndex.lookup(timestamp: timestamp)
        return offsetIndex.lookup(relativeOffset: relative)
    }

    func readBatch(at position: Int, header: RecordBatchHeader) throws(StorageError) -> RecordBatch {
        RecordBatch(header: header, bytes: try log.read(at: position, length: header.totalSize))
    }

    /// Removes every batch at or after `offset`    /// Removes every batch at or after `offset` (whole batches only: a batch containing `offset` goes too).
    func truncate(toOffset offset: Int64) throws(StorageError) {
        guard offset < nextOffset else { return }
        guard let position = try view().position(ofBatchContaining: offset, from: indexPosition(for: offset)) else { return }
        try log.truncate(to: position)
        try offsetIndex.truncate(toPosition: position)
        try timeIndex.truncate(toRelativeOffset: UInt32(clamping: max(0, offset - baseOffset)))
        // Recompute the tail state from what remains.
        _ = try recover(fileSize: position)
    }

    func deleteFiles() throws(StorageError) {
        for kind in Self.fileKinds {
            try FileSystem.remove(path(kind))
        }
    }

    /// Makes this (cleaned) copy the live segment: `.cleaned` → `.swap` for the indexes, then the log (the
    /// commit point a restart recognises), then `.swap` → final names, log last. Descriptors stay valid
    /// across renames, so the segment keeps working. Readers of the replaced segment keep reading its
    /// unlinked files until they let go.
    func promote() throws(StorageError) {
        precondition(!fileSuffix.isEmpty, "only a cleaned copy is promoted")
        for kind in Self.fileKinds.reversed() {
            try FileSystem.rename(path(kind), to: path(kind, suffix: ".swap"))
        }
        try FileSystem.synchronizeDirectory(directory)
        for kind in Self.fileKinds.reversed() {
            try FileSystem.rename(path(kind, suffix: ".swap"), to: path(kind, suffix: ""))
        }
        try FileSystem.synchronizeDirectory(directory)
        fileSuffix = ""
    }
}

/// What opening or recovering a segment found.
public struct SegmentRecoveryReport: Sendable, Equatable {
    public var baseOffset: Int64
    public var validBatches: Int
    public var truncatedBytes: Int
    public var truncatedAtPosition: Int?
    public var nextOffset: Int64
    public var problem: String?
}

extension Segment.View {
    /// The position of the first batch whose last offset is at least `offset`, scanning from `start`.
    func position(ofBatchContaining offset: Int64, from start: Int) throws(StorageError) -> Int? {
        guard offset < nextOffset else { return nil }
        var position = start
        while position < size {
            let headerBytes = try log.read(at: position, length: min(RecordBatchHeader.size, size - position))
            guard let header = try? RecordBatchHeader(from: headerBytes, at: headerBytes.readerIndex) else { return nil }
            if header.lastOffset >= offset { return position }
            position += header.totalSize
        }
        return nil
    }

    /// Whole batches starting with the one that holds `offset`, up to `maxBytes` (or one whole batch when
    /// `minimumOneBatch` and the first is larger), none at or beyond `endOffset`.
    func read(from offset: Int64, indexPosition: Int, maxBytes: Int, endOffset: Int64, minimumOneBatch: Bool) throws(StorageError) -> ByteBuffer? {
        guard let start = try position(ofBatchContaining: offset, from: indexPosition), start < size else { return nil }
        let available = size - start
        var chunk = try log.read(at: start, length: min(max(maxBytes, RecordBatchHeader.size), available))
        var taken = 0
        while chunk.readableBytes - taken >= RecordBatchHeader.size {
            guard let header = try? RecordBatchHeader(from: chunk, at: chunk.readerIndex + taken) else { break }
            if header.baseOffset >= endOffset { break }
            if taken + header.totalSize > chunk.readableBytes {
                // The batch does not fit in what was read. The first batch is returned whole when asked to.
                if taken == 0 && minimumOneBatch && header.totalSize <= available {
                    chunk = try log.read(at: start, length: header.totalSize)
                    taken = header.totalSize
                }
                break
            }
            taken += header.totalSize
        }
        guard taken > 0 else { return nil }
        return chunk.getSlice(at: chunk.readerIndex, length: taken)
    }

    /// Headers of every batch from `position` to the end of the view.
    func batches(from position: Int = 0) throws(StorageError) -> [(position: Int, header: RecordBatchHeader)] {
        var result: [(Int, RecordBatchHeader)] = []
        var cursor = position
        while cursor < size {
            let bytes = try log.read(at: cursor, length: min(RecordBatchHeader.size, size - cursor))
            guard let header = try? RecordBatchHeader(from: bytes, at: bytes.readerIndex) else { break }
            result.append((cursor, header))
            cursor += header.totalSize
        }
        return result
    }

    func readBatch(at position: Int, header: RecordBatchHeader) throws(StorageError) -> RecordBatch {
        try segment.readBatch(at: position, header: header)
    }
}
