import NIOCore

/// The sparse offset index of a segment (`.index`): entries of relative offset (u32) and file position
/// (u32), big-endian, one about every `index.interval.bytes` of log. An entry says "the batch whose last
/// offset is base + relative starts at position"; lookups return the last entry at or below a target.
///
/// The whole index is kept in memory; the file mirrors it and is rebuilt from the log when it cannot be
/// trusted. Not thread-safe: its segment's partition log serialises access.
final class OffsetIndex {
    static let entrySize = 8

    let file: LogFile
    private(set) var relativeOffsets: [UInt32] = []
    private(set) var positions: [UInt32] = []

    init(file: LogFile) {
        self.file = file
    }

    var count: Int { relativeOffsets.count }
    var lastRelativeOffset: UInt32? { relativeOffsets.last }
    var lastPosition: UInt32? { positions.last }

    /// Loads the file's entries, keeping the longest prefix that is strictly increasing and within `logSize`.
    /// Returns how many trailing bytes were dropped (0 when the file was intact).
    @discardableResult
    func load(logSize: Int) throws(StorageError) -> Int {
        let bytes = try file.read(at: 0, length: try file.size())
        relativeOffsets.removeAll(keepingCapacity: true)
        positions.removeAll(keepingCapacity: true)
        var reader = bytes
        while reader.readableBytes >= Self.entrySize {
            let relative = reader.readInteger(as: UInt32.self)!
            let position = reader.readInteger(as: UInt32.self)!
            if let last = relativeOffsets.last, relative <= last || position <= positions.last! { break }
            if Int(position) >= logSize { break }
            relativeOffsets.append(relative)
            positions.append(position)
        }
        let kept = relativeOffsets.count * Self.entrySize
        let dropped = bytes.readableBytes - kept
        if dropped > 0 { try file.truncate(to: kept) }
        return dropped
    }

    func append(relativeOffset: UInt32, position: UInt32) throws(StorageError) {
        precondition(relativeOffsets.last.map { relativeOffset > $0 } ?? true, "offset index entries must increase")
        var entry = ByteBuffer()
        entry.writeInteger(relativeOffset)
        entry.writeInteger(position)
        try file.write(entry, at: relativeOffsets.count * Self.entrySize)
        relativeOffsets.append(relativeOffset)
        positions.append(position)
    }

    /// The position of the last entry whose offset is at or below `relativeOffset`; 0 when there is none.
    func lookup(relativeOffset: UInt32) -> Int {
        var low = 0
        var high = relativeOffsets.count - 1
        var found = -1
        while low <= high {
            let middle = (low + high) / 2
            if relativeOffsets[middle] <= relativeOffset {
                found = middle
                low = middle + 1
            } else {
                high = middle - 1
            }
        }
        return found < 0 ? 0 : Int(positions[found])
    }

    /// Drops entries for batches at or beyond `position` (after a truncation).
    func truncate(toPosition position: Int) throws(StorageError) {
        while let last = positions.last, Int(last) >= position {
            positions.removeLast()
            relativeOffsets.removeLast()
        }
        try file.truncate(to: relativeOffsets.count * Self.entrySize)
    }

    func reset() throws(StorageError) {
        relativeOffsets.removeAll()
        positions.removeAll()
        try file.truncate(to: 0)
    }
}

/// The sparse time index of a segment (`.timeindex`): entries of timestamp (i64) and relative offset (u32),
/// appended when the segment's largest timestamp grows, alongside offset index entries.
final class TimeIndex {
    static let entrySize = 12

    let file: LogFile
    private(set) var timestamps: [Int64] = []
    private(set) var relativeOffsets: [UInt32] = []

    init(file: LogFile) {
        self.file = file
    }

    var count: Int { timestamps.count }
    var lastTimestamp: Int64? { timestamps.last }

    @discardableResult
    func load(maximumRelativeOffset: UInt32?) throws(StorageError) -> Int {
        let bytes = try file.read(at: 0, length: try file.size())
        timestamps.removeAll(keepingCapacity: true)
        relativeOffsets.removeAll(keepingCapacity: true)
        var reader = bytes
        while reader.readableBytes >= Self.entrySize {
            let timestamp = reader.readInteger(as: Int64.self)!
            let relative = reader.readInteger(as: UInt32.self)!
            if let last = timestamps.last, timestamp <= last || relative < relativeOffsets.last! { break }
            if let maximumRelativeOffset, relative > maximumRelativeOffset { break }
            timestamps.append(timestamp)
            relativeOffsets.append(relative)
        }
        let kept = timestamps.count * Self.entrySize
        let dropped = bytes.readableBytes - kept
        if dropped > 0 { try file.truncate(to: kept) }
        return dropped
    }

    /// Appends when `timestamp` exceeds the last entry's.
    func maybeAppend(timestamp: Int64, relativeOffset: UInt32) throws(StorageError) {
        if let last = timestamps.last, timestamp <= last { return }
        var entry = ByteBuffer()
        entry.writeInteger(timestamp)
        entry.writeInteger(relativeOffset)
        try file.write(entry, at: timestamps.count * Self.entrySize)
        timestamps.append(timestamp)
        relativeOffsets.append(relativeOffset)
    }

    /// The relative offset from which to scan for the first record at or after `timestamp`: the entry
    /// before the first entry reaching `timestamp` (records before it are all older), or 0.
    func lookup(timestamp: Int64) -> UInt32 {
        var low = 0
        var high = timestamps.count - 1
        var found = -1
        while low <= high {
            let middle = (low + high) / 2
            if timestamps[middle] < timestamp {
                found = middle
                low = middle + 1
            } else {
                high = middle - 1
            }
        }
        return found < 0 ? 0 : relativeOffsets[found]
    }

    func truncate(toRelativeOffset relativeOffset: UInt32) throws(StorageError) {
        while let last = relativeOffsets.last, last >= relativeOffset {
            relativeOffsets.removeLast()
            timestamps.removeLast()
        }
        try file.truncate(to: timestamps.count * Self.entrySize)
    }

    func reset() throws(StorageError) {
        timestamps.removeAll()
        relativeOffsets.removeAll()
        try file.truncate(to: 0)
    }
}
