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
/// writes them. Derived data, like `OffsetIndex`. Owned by the segment's writer.
final class TimeIndex {
    static let entrySize = 12

    let file: IndexFile
    private(set) var entries = IndexEntriesWriter<TimeIndexEntry>()

    init(path: String) throws(StorageError) {
        self.file = try IndexFile(path: path, entrySize: Self.entrySize)
    }

    var last: TimeIndexEntry? { entries.last }

    /// Loads the longest prefix of entries whose timestamps increase and whose offsets do not decrease and
    /// stay at or below `maximumRelativeOffset`; the file is cut to it.
    func load(maximumRelativeOffset: UInt32?) throws(StorageError) {
        let bytes = try file.readAll()
        entries.truncate(to: 0)
        var reader = bytes
        while reader.readableBytes >= Self.entrySize,
              let timestamp = reader.readInteger(as: Int64.self), let relative = reader.readInteger(as: UInt32.self) {
            if let last = entries.last, timestamp <= last.timestamp || relative < last.relativeOffset { break }
            if let maximumRelativeOffset, relative > maximumRelativeOffset { break }
            entries.append(TimeIndexEntry(timestamp: timestamp, relativeOffset: relative))
        }
        if entries.count * Self.entrySize != bytes.readableBytes { try file.truncate(toEntries: entries.count) }
    }

    /// Adds an entry when `timestamp` exceeds the last one's. Returns the error when the file could not be
    /// written (the first time only).
    func maybeAppend(timestamp: Int64, relativeOffset: UInt32) -> StorageError? {
        if let last = entries.last, timestamp <= last.timestamp || relativeOffset < last.relativeOffset { return nil }
        entries.append(TimeIndexEntry(timestamp: timestamp, relativeOffset: relativeOffset))
        var bytes = ByteBuffer()
        bytes.writeInteger(timestamp)
        bytes.writeInteger(relativeOffset)
        return file.write(bytes, entry: entries.count - 1)
    }

    /// Drops the entries at or beyond `relativeOffset`.
    func truncate(toRelativeOffset relativeOffset: UInt32) throws(StorageError) {
        var keep = entries.count
        while keep > 0, entries.entries[keep - 1].relativeOffset >= relativeOffset { keep -= 1 }
        entries.truncate(to: keep)
        try file.truncate(toEntries: keep)
    }

    func reset() throws(StorageError) {
        entries.truncate(to: 0)
        try file.reset()
    }
}
