#if canImport(Glibc)
import Glibc
#endif
import KafkaProtocol
import NIOCore

/// One segment of a partition log: `<base offset>.log` with its `.index` and `.timeindex`, named by the
/// 20-digit base offset as Kafka names them.
///
/// Owned by the partition's writer: only the writer mutates it (appends, truncation, renames). Readers
/// never touch a `Segment`; they use the `SegmentView`s the writer publishes.
final class Segment {
    let baseOffset: Int64
    let directory: String
    let log: LogFile
    let offsetIndex: OffsetIndex
    let timeIndex: TimeIndex
    let indexIntervalBytes: Int
    let integrity: SegmentIntegrity
    /// Wall-clock milliseconds when the segment was created or, after a restart, when it was opened.
    let createdAtMilliseconds: Int64

    /// Bytes that belong to the log: whole batches (a corrupt region found at start stays inside, so that
    /// reads report it instead of skipping it).
    private(set) var size: Int = 0
    /// The offset after the last batch's last offset; `baseOffset` while empty.
    private(set) var nextOffset: Int64
    /// Largest batch max-timestamp seen, -1 while none has one.
    private(set) var maxTimestamp: Int64 = -1
    private(set) var offsetOfMaxTimestamp: Int64 = -1
    private var bytesSinceLastIndexEntry = 0
    /// Appended to each file name while the segment is not (yet) the live copy: ".cleaned" while the
    /// cleaner writes it.
    private(set) var fileSuffix: String

    static let fileKinds = [".log", ".index", ".timeindex"]

    static func fileName(_ baseOffset: Int64, _ suffix: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    /// Parses `00000000000000001234.log` into 1234.
    static func baseOffset(ofLogFile name: String) -> Int64? {
        guard name.hasSuffix(".log") else { return nil }
        let digits = name.dropLast(4)
        guard digits.count == 20, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let offset = Int64(digits) else { return nil }
        // A segment must be able to hold its relative offsets: bases beyond that are not ours.
        return offset <= maximumBaseOffset ? offset : nil
    }

    /// The largest base offset a segment may have (its relative offsets are u32).
    static let maximumBaseOffset = Int64.max - Int64(UInt32.max) - 1

    func path(_ kind: String, suffix: String? = nil) -> String {
        directory + "/" + Self.fileName(baseOffset, kind + (suffix ?? fileSuffix))
    }

    private init(baseOffset: Int64, directory: String, indexIntervalBytes: Int, nowMilliseconds: Int64, fileSuffix: String) throws(StorageError) {
        self.baseOffset = baseOffset
        self.directory = directory
        self.indexIntervalBytes = indexIntervalBytes
        self.fileSuffix = fileSuffix
        self.createdAtMilliseconds = nowMilliseconds
        self.nextOffset = baseOffset
        self.integrity = SegmentIntegrity()
        let stem = directory + "/" + Self.fileName(baseOffset, "")
        self.log = try LogFile(path: stem + ".log" + fileSuffix)
        self.offsetIndex = try OffsetIndex(path: stem + ".index" + fileSuffix)
        self.timeIndex = try TimeIndex(path: stem + ".timeindex" + fileSuffix)
    }

    /// A new, empty segment. When a file cannot be created, the ones that were are removed again.
    static func create(baseOffset: Int64, directory: String, indexIntervalBytes: Int, nowMilliseconds: Int64, fileSuffix: String = "") throws(StorageError) -> Segment {
        do {
            let segment = try Segment(baseOffset: baseOffset, directory: directory, indexIntervalBytes: indexIntervalBytes, nowMilliseconds: nowMilliseconds, fileSuffix: fileSuffix)
            try segment.log.truncate(to: 0)
            try segment.offsetIndex.reset()
            try segment.timeIndex.reset()
            return segment
        } catch {
            for kind in fileKinds {
                try? FileSystem.remove(directory + "/" + fileName(baseOffset, kind + fileSuffix))
            }
            throw error
        }
    }

    /// An existing segment with its indexes loaded but nothing of the log read yet (see `SegmentRecovery`).
    static func openFiles(baseOffset: Int64, directory: String, indexIntervalBytes: Int, nowMilliseconds: Int64) throws(StorageError) -> Segment {
        try Segment(baseOffset: baseOffset, directory: directory, indexIntervalBytes: indexIntervalBytes, nowMilliseconds: nowMilliseconds, fileSuffix: "")
    }

    func view() -> SegmentView {
        SegmentView(
            file: log, baseOffset: baseOffset, size: size, nextOffset: nextOffset, maxTimestamp: maxTimestamp,
            offsetOfMaxTimestamp: offsetOfMaxTimestamp, createdAtMilliseconds: createdAtMilliseconds,
            offsetIndex: offsetIndex.entries.entries, timeIndex: timeIndex.entries.entries, integrity: integrity)
    }

    /// What a failed append left behind.
    enum AppendFailure: Error {
        /// Nothing of the batch remains; the segment is as before (a full disk, say).
        case refused(StorageError)
        /// The batch could not be removed again: the file's end is unknown.
        case damaged(StorageError)
    }

    /// Appends one batch whose offsets are assigned. A failed write is cut off again, so no partial batch
    /// stays. Returns an index-file error to report (the append itself succeeded).
    ///
    /// With `rewritingPrefix`, the batch's first 16 bytes (base offset, length, partition leader epoch, all
    /// outside the CRC) are written from `header` instead: the batch's bytes, often a slice of the request
    /// they came in, are sent to the file as they are, never copied to change them.
    func append(_ batch: ByteBuffer, header: RecordBatchHeader, rewritingPrefix: Bool = false) throws(AppendFailure) -> StorageError? {
        guard header.baseOffset >= nextOffset, header.lastOffset - baseOffset <= Int64(UInt32.max), batch.readableBytes == header.totalSize else {
            throw .refused(StorageError(operation: "append offsets \(header.baseOffset)-\(header.lastOffset) after \(nextOffset - 1) to", path: log.path, errorNumber: EINVAL))
        }
        let position = size
        do {
            if rewritingPrefix {
                var prefix = ByteBuffer()
                prefix.writeInteger(header.baseOffset)
                prefix.writeInteger(header.batchLength)
                prefix.writeInteger(header.partitionLeaderEpoch)
                let rest = batch.getSlice(at: batch.readerIndex + 16, length: batch.readableBytes - 16) ?? ByteBuffer()
                try log.write(prefix, then: rest, at: position)
            } else {
                try log.write(batch, at: position)
            }
        } catch {
            do {
                try log.truncate(to: position)
            } catch let cut {
                throw .damaged(cut)
            }
            throw .refused(error)
        }
        integrity.markVerified(position..<(position + header.totalSize))
        return noteAppended(header: header, position: position, updateIndexes: true)
    }

    /// Updates size, offsets, timestamps and (when the interval has passed) the indexes for a batch at
    /// `position`. Returns an index-file error to report.
    @discardableResult
    func noteAppended(header: RecordBatchHeader, position: Int, updateIndexes: Bool) -> StorageError? {
        // A batch without timestamps (max -1, as some clients send) still marks where the segment's
        // records end, so the time index never points before the segment.
        if header.maxTimestamp > maxTimestamp || offsetOfMaxTimestamp < baseOffset {
            maxTimestamp = max(maxTimestamp, header.maxTimestamp)
            offsetOfMaxTimestamp = header.lastOffset
        }
        var failure: StorageError? = nil
        if updateIndexes {
            if bytesSinceLastIndexEntry >= indexIntervalBytes, let relative = UInt32(exactly: header.lastOffset - baseOffset),
               let filePosition = UInt32(exactly: position) {
                failure = offsetIndex.append(relativeOffset: relative, position: filePosition)
                if maxTimestamp >= 0, let timeRelative = UInt32(exactly: offsetOfMaxTimestamp - baseOffset) {
                    failure = timeIndex.maybeAppend(timestamp: maxTimestamp, relativeOffset: timeRelative) ?? failure
                }
                bytesSinceLastIndexEntry = 0
            }
            bytesSinceLastIndexEntry += header.totalSize
        }
        size = position + header.totalSize
        nextOffset = header.lastOffset + 1
        return failure
    }

    /// Sets the tail state after a recovery scan that kept bytes it could not verify (a corrupt region):
    /// they stay part of the segment so that reads report them.
    func extend(toSize newSize: Int) {
        size = max(size, newSize)
    }

    /// Restarts the index bookkeeping for a scan from `position` (after the index entries were cut there).
    func resetTail(size newSize: Int, nextOffset newNextOffset: Int64) {
        size = newSize
        nextOffset = newNextOffset
        bytesSinceLastIndexEntry = 0
    }

    /// The largest timestamp the time index knows, for batches a partial scan does not read.
    func restoreMaximumTimestampFromIndex() {
        if let last = timeIndex.last {
            maxTimestamp = last.timestamp
            offsetOfMaxTimestamp = baseOffset &+ Int64(last.relativeOffset)
        }
    }

    func resetTimestamps() {
        maxTimestamp = -1
        offsetOfMaxTimestamp = -1
    }

    /// Flushes the log and both indexes, as before a segment becomes inactive or at shutdown.
    func flushAll() throws(StorageError) {
        try log.synchronizeData()
        try offsetIndex.file.synchronizeIfOpen()
        try timeIndex.file.synchronizeIfOpen()
    }

    /// The index files' descriptors, while open (a flush of a segment rolled away from syncs them).
    var openIndexFiles: [LogFile] {
        [offsetIndex.file.openFile, timeIndex.file.openFile].compactMap { $0 }
    }

    /// Lets go of the index files once the segment is no longer written; they reopen if it ever is again.
    func releaseIndexFiles() {
        offsetIndex.file.release()
        timeIndex.file.release()
    }

    /// Whether appending `bytes` more would pass `segmentBytes`, the relative offsets would overflow, or
    /// the segment is older than `segmentMilliseconds`.
    func isFull(appending bytes: Int, lastOffset: Int64, segmentBytes: Int, segmentMilliseconds: Int64, nowMilliseconds: Int64) -> Bool {
        guard size > 0 else { return false }
        if bytes > segmentBytes - size { return true }
        if lastOffset - baseOffset > Int64(Int32.max) { return true }
        if nowMilliseconds - createdAtMilliseconds >= segmentMilliseconds { return true }
        return false
    }

    /// Removes every batch at or after `offset` (whole batches: one containing `offset` goes too), then
    /// rebuilds the tail state from what remains.
    func truncate(toOffset offset: Int64) throws(LogError) {
        guard offset < nextOffset else { return }
        guard let (position, _) = try view().locate(offset) else { return }
        do {
            try log.truncate(to: position)
            try offsetIndex.truncate(toPosition: position)
            try timeIndex.truncate(toRelativeOffset: UInt32(clamping: max(0, offset - baseOffset)))
        } catch {
            throw .storage(error)
        }
        integrity.forget(from: position)
        do {
            _ = try SegmentRecovery.scanAll(self, fileSize: position)
        } catch {
            throw .storage(error)
        }
    }

    func deleteFiles() throws(StorageError) {
        for kind in Self.fileKinds {
            try FileSystem.remove(path(kind))
        }
    }

    /// Makes this (cleaned) copy the live segment: `.cleaned` → `.swap` for the indexes, then the log (the
    /// commit point a restart recognises), then `.swap` → final names, log last. Descriptors stay valid
    /// across renames, so the segment keeps working; readers of the replaced segment keep reading its
    /// unlinked files until they let go.
    func promote() throws(StorageError) {
        guard !fileSuffix.isEmpty else { return }
        for kind in Self.fileKinds.reversed() {
            try FileSystem.rename(path(kind), to: path(kind, suffix: ".swap"))
        }
        try FileSystem.synchronizeDirectory(directory)
        for kind in Self.fileKinds.reversed() {
            try FileSystem.rename(path(kind, suffix: ".swap"), to: path(kind, suffix: ""))
        }
        try FileSystem.synchronizeDirectory(directory)
        fileSuffix = ""
        offsetIndex.file.moved(to: path(".index"))
        timeIndex.file.moved(to: path(".timeindex"))
    }
}
