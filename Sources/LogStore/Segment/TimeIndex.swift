import NIOCore

/// One `.timeindex` entry: records up to `base + relativeOffset` have timestamps up to `timestamp`.
struct TimeIndexEntry: BitwiseCopyable, Sendable, Equatable {
    var timestamp: Int64
    var relativeOffset: UInt32
}

extension IndexEntries<TimeIndexEntry> {
    /// The relative offset from which to scan for the first record at or after `timestamp`: that of the last
    /// entry whose timestamp is below it (every record up to there is older), or 0.
    func relativeOffset(before timestamp: Int64) -> UInt32 {
        lastIndex { $0.timestamp < timestamp }.map { self[$0].relativeOffset } ?? 0
    }
}

/// The sparse time index of a segment (`.timeindex`): big-endian entries of timestamp (i64) and relative
/// offset (u32), added beside offset index entries when the segment's largest timestamp grew, as Kafka
/// writes them. Derived data with the same failure rules as `OffsetIndex`. Owned by the segment's writer.
final class TimeIndex {
    static let entrySize = 12

    let file: LogFile
    private(set) var entries = IndexEntriesWriter<TimeIndexEntry>()
    private(set) var fileFailure: StorageError? = nil

    init(file: LogFile) {
        self.file = file
    }

    var last: TimeIndexEntry? { entries.last }

    /// Loads the longest prefix of entries whose timestamps increase and whose offsets do not decrease and
    /// stay at or below `maximumRelativeOffset`; the file is cut to it.
    func load(maximumRelativeOffset: UInt32?) throws(StorageError) {
        let bytes = try file.read(at: 0, length: try file.size())
        entries.truncate(to: 0)
        var reader = bytes
        while reader.readableBytes >= Self.entrySize,
              let timestamp = reader.readInteger(as: Int64.self), let relative = reader.readInteger(as: UInt32.self) {
            if let last = entries.last, timestamp <= last.timestamp || relative < last.relativeOffset { break }
            if let maximumRelativeOffset, relative > maximumRelativeOffset { break }
            entries.append(TimeIndexEntry(timestamp: timestamp, relativeOffset: relative))
        }
        let kept = entries.count * Self.entrySize
        if kept != bytes.readableBytes { try file.truncate(to: kept) }
    }

    /// Adds an entry when `timestamp` exceeds the last one's. Returns the error when the file could not be
    /// written (the first time only).
    func maybeAppend(timestamp: Int64, relativeOffset: UInt32) -> StorageError? {
        if let last = entries.last, timestamp <= last.timestamp || relativeOffset < last.relativeOffset { return nil }
        entries.append(TimeIndexEntry(timestamp: timestamp, relativeOffset: relativeOffset))
        guard fileFailure == nil else { return nil }
        var bytes = ByteBuffer()
        bytes.writeInteger(timestamp)
        bytes.writeInteger(relativeOffset)
        do {
            try file.write(bytes, at: (entries.count - 1) * Self.entrySize)
            return nil
        } catch {
            fileFailure = error
            try? file.truncate(to: (entries.count - 1) * Self.entrySize)
            return error
        }
    }

    /// Drops the entries at or beyond `relativeOffset`.
    func truncate(toRelativeOffset relativeOffset: UInt32) throws(StorageError) {
        var keep = entries.count
        while keep > 0, entries.entries[keep - 1].relativeOffset >= relativeOffset { keep -= 1 }
        entries.truncate(to: keep)
        if fileFailure == nil { try file.truncate(to: keep * Self.entrySize) }
    }

    func reset() throws(StorageError) {
        entries.truncate(to: 0)
        fileFailure = nil
        try file.truncate(to: 0)
    }
}
