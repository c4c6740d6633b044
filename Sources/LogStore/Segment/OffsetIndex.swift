import NIOCore

/// One `.index` entry: the batch whose last offset is `base + relativeOffset` starts at `position`.
struct OffsetIndexEntry: BitwiseCopyable, Sendable, Equatable {
    var relativeOffset: UInt32
    var position: UInt32
}

extension IndexEntries<OffsetIndexEntry> {
    /// The position of the last entry at or below `relativeOffset`; 0 when there is none.
    func position(atOrBelow relativeOffset: UInt32) -> Int {
        lastIndex { $0.relativeOffset <= relativeOffset }.map { Int(self[$0].position) } ?? 0
    }

    /// The entry before the last one at or below `relativeOffset` (where to retry when that one is unusable).
    func position(before relativeOffset: UInt32) -> Int {
        guard let found = lastIndex(where: { $0.relativeOffset <= relativeOffset }), found > 0 else { return 0 }
        return Int(self[found - 1].position)
    }
}

/// The sparse offset index of a segment (`.index`): big-endian entries of relative offset (u32) and file
/// position (u32), one about every `index.interval.bytes` of log, as Kafka writes them.
///
/// The entries live in memory (`IndexEntriesWriter`, shared with readers as views); the file (`IndexFile`)
/// mirrors them and is only read at start. The index is derived data: it is rebuilt from the log whenever
/// it cannot be trusted. Owned by the segment's writer.
final class OffsetIndex {
    static let entrySize = 8

    let file: IndexFile
    private(set) var entries = IndexEntriesWriter<OffsetIndexEntry>()

    init(path: String) throws(StorageError) {
        self.file = try IndexFile(path: path, entrySize: Self.entrySize)
    }

    var count: Int { entries.count }
    var last: OffsetIndexEntry? { entries.last }

    /// Loads the file's entries, keeping the longest prefix that increases strictly and points inside
    /// `logSize`. The file is cut to that prefix.
    func load(logSize: Int) throws(StorageError) {
        let bytes = try file.readAll()
        entries.truncate(to: 0)
        var reader = bytes
        while reader.readableBytes >= Self.entrySize,
              let relative = reader.readInteger(as: UInt32.self), let position = reader.readInteger(as: UInt32.self) {
            if let last = entries.last, relative <= last.relativeOffset || position <= last.position { break }
            if Int(position) >= logSize { break }
            entries.append(OffsetIndexEntry(relativeOffset: relative, position: position))
        }
        if entries.count * Self.entrySize != bytes.readableBytes { try file.truncate(toEntries: entries.count) }
    }

    /// Adds an entry. Returns the error when the file could not be written (the first time only).
    func append(relativeOffset: UInt32, position: UInt32) -> StorageError? {
        if let last = entries.last, relativeOffset <= last.relativeOffset || position <= last.position { return nil }
        entries.append(OffsetIndexEntry(relativeOffset: relativeOffset, position: position))
        var bytes = ByteBuffer()
        bytes.writeInteger(relativeOffset)
        bytes.writeInteger(position)
        return file.write(bytes, entry: entries.count - 1)
    }

    /// Drops the entries for batches at or beyond `position`.
    func truncate(toPosition position: Int) throws(StorageError) {
        var keep = entries.count
        while keep > 0, Int(entries.entries[keep - 1].position) >= position { keep -= 1 }
        entries.truncate(to: keep)
        try file.truncate(toEntries: keep)
    }

    func reset() throws(StorageError) {
        entries.truncate(to: 0)
        try file.reset()
    }
}
