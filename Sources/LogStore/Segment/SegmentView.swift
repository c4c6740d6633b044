public import KafkaProtocol
import NIOConcurrencyHelpers
public import NIOCore

/// A batch that failed its checks where it is stored: its file, position and what is wrong with it.
public struct CorruptBatch: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var position: Int
    public var reason: String

    public var description: String { "corrupt record batch in \(path) at position \(position): \(reason)" }
}

/// Bytes of a segment that hold no readable batch, with the valid batch after them (if any).
struct DamagedRange: Sendable, Equatable {
    var positions: Range<Int>
    /// The first offset the damage may hold: after the previous valid batch.
    var firstOffset: Int64
    /// The base offset of the first valid batch after the damage; nil when none follows in the segment.
    var resumeOffset: Int64?
    var reason: String
}

/// What is known about the integrity of a segment file: the byte ranges known to hold valid batches
/// (checksums verified, or appended by this process after validation), which reads verify once and add
/// to, and damaged ranges found by recovery or by reads, which walks skip or report.
///
/// Sendable: the state is guarded by a lock.
final class SegmentIntegrity: Sendable {
    /// Bound on the remembered valid ranges; past it the smallest are forgotten (they are verified again).
    static let maximumRanges = 32
    /// Bound on remembered damage; past it the walk finds (and searches past) further damage again.
    static let maximumDamagedRanges = 64

    private struct State {
        var verified: [Range<Int>] = []
        var damaged: [DamagedRange] = []
    }

    private let state = NIOLockedValueBox(State())

    init() {}

    func isVerified(_ range: Range<Int>) -> Bool {
        if range.isEmpty { return true }
        return state.withLockedValue { $0.verified.contains { $0.lowerBound <= range.lowerBound && range.upperBound <= $0.upperBound } }
    }

    func markVerified(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        state.withLockedValue { state in
            var merged = range
            state.verified.removeAll { existing in
                guard existing.overlaps(merged) || existing.upperBound == merged.lowerBound || merged.upperBound == existing.lowerBound else { return false }
                merged = min(existing.lowerBound, merged.lowerBound)..<max(existing.upperBound, merged.upperBound)
                return true
            }
            state.verified.append(merged)
            if state.verified.count > Self.maximumRanges {
                state.verified.sort { $0.count > $1.count }
                state.verified.removeLast(state.verified.count - Self.maximumRanges)
            }
            state.verified.sort { $0.lowerBound < $1.lowerBound }
        }
    }

    func damage(at position: Int) -> DamagedRange? {
        state.withLockedValue { $0.damaged.first { $0.positions.lowerBound == position } }
    }

    var damagedRanges: [DamagedRange] { state.withLockedValue { $0.damaged } }

    func recordDamage(_ range: DamagedRange) {
        state.withLockedValue { state in
            guard !state.damaged.contains(where: { $0.positions.lowerBound == range.positions.lowerBound }),
                  state.damaged.count < Self.maximumDamagedRanges else { return }
            state.damaged.append(range)
        }
    }

    /// Forgets everything at or after `position` (the file was cut there).
    func forget(from position: Int) {
        state.withLockedValue { state in
            state.verified = state.verified.compactMap { range in
                range.upperBound <= position ? range : (range.lowerBound < position ? range.lowerBound..<position : nil)
            }
            state.damaged.removeAll { $0.positions.lowerBound >= position }
        }
    }
}

/// A reader's picture of a segment, taken when the writer published it: the file and everything needed
/// to find batches in it. Bytes below `size` never change while the segment is part of the log, so a view
/// is read without any lock.
struct SegmentView: Sendable {
    let file: LogFile
    let baseOffset: Int64
    /// Bytes of the file that belong to the log (whole batches, possibly a corrupt region among them).
    let size: Int
    /// The offset after the last batch's last offset; `baseOffset` while empty.
    let nextOffset: Int64
    /// The largest batch max-timestamp, -1 when no batch has one.
    let maxTimestamp: Int64
    let offsetOfMaxTimestamp: Int64
    let createdAtMilliseconds: Int64
    let offsetIndex: IndexEntries<OffsetIndexEntry>
    let timeIndex: IndexEntries<TimeIndexEntry>
    let integrity: SegmentIntegrity

    var path: String { file.path }

    /// `offset` relative to the base, clamped into the index's range.
    func relative(_ offset: Int64) -> UInt32 {
        let (difference, overflow) = offset.subtractingReportingOverflow(baseOffset)
        return overflow ? (offset < 0 ? 0 : .max) : UInt32(clamping: max(0, difference))
    }
}

/// Checks what can be checked of a batch header without its body: a length that fits the segment, offsets
/// inside the segment's range and after the previous batch, a record count its offsets can hold.
/// Returns why the header is unacceptable, or nil.
func headerProblem(_ header: RecordBatchHeader, remainingBytes: Int, segmentBaseOffset: Int64, previousLastOffset: Int64?) -> String? {
    if header.totalSize > remainingBytes {
        return "the batch declares \(header.totalSize) bytes but \(remainingBytes) remain in the segment"
    }
    if header.lastOffsetDelta < 0 { return "negative last offset delta \(header.lastOffsetDelta)" }
    if header.baseOffset < segmentBaseOffset { return "base offset \(header.baseOffset) is below the segment's base \(segmentBaseOffset)" }
    let (lastOffset, overflow) = header.baseOffset.addingReportingOverflow(Int64(header.lastOffsetDelta))
    if overflow || lastOffset - segmentBaseOffset > Int64(UInt32.max) {
        return "offsets \(header.baseOffset)+\(header.lastOffsetDelta) are beyond the segment's range"
    }
    if let previousLastOffset, header.baseOffset <= previousLastOffset {
        return "base offset \(header.baseOffset) does not follow the previous batch's last offset \(previousLastOffset)"
    }
    if header.recordCount < 0 || Int64(header.recordCount) > Int64(header.lastOffsetDelta) + 1 {
        return "record count \(header.recordCount) does not fit last offset delta \(header.lastOffsetDelta)"
    }
    return nil
}

/// The first valid batch (a checked header following `previousLastOffset`, a correct checksum) after
/// `position`, searching at most `windowBytes`; nil when there is none. Used past damage: by recovery, and by
/// reads that meet damage nobody has seen yet.
func findNextValidBatch(
    in file: LogFile, segmentBaseOffset: Int64, after position: Int, limit: Int, previousLastOffset: Int64?,
    windowBytes: Int = 16 << 20
) throws(StorageError) -> (position: Int, header: RecordBatchHeader)? {
    let windowEnd = min(limit, position + windowBytes)
    guard windowEnd - position > RecordBatchHeader.size else { return nil }
    let window = try file.read(at: position, length: windowEnd - position)
    var candidate = 1
    while candidate + RecordBatchHeader.size <= window.readableBytes {
        defer { candidate += 1 }
        let index = window.readerIndex + candidate
        guard window.getInteger(at: index + RecordBatchHeader.magicOffset, as: Int8.self) == 2,
              let header = try? RecordBatchHeader(from: window, at: index),
              headerProblem(header, remainingBytes: limit - (position + candidate), segmentBaseOffset: segmentBaseOffset,
                            previousLastOffset: previousLastOffset) == nil
        else { continue }
        let bytes: ByteBuffer
        if candidate + header.totalSize <= window.readableBytes, let slice = window.getSlice(at: index, length: header.totalSize) {
            bytes = slice
        } else {
            bytes = try file.read(at: position + candidate, length: header.totalSize)
        }
        if (try? RecordBatch(header: header, bytes: bytes).verifyChecksum()) != nil {
            return (position + candidate, header)
        }
    }
    return nil
}

/// Walks the batches of a segment file from a position, reading it in chunks, checking every header (and,
/// when asked, every checksum). Reads at most one chunk ahead of the batch it returns.
///
/// With the segment's `integrity`, the walk knows damaged ranges: a walk looking for an offset after one
/// jumps over it, and a walk that meets unknown damage on a path of valid batches searches past it once
/// and records what it found, so that later reads jump too.
struct SegmentBatchWalker {
    let file: LogFile
    let segmentBaseOffset: Int64
    /// Where the walk stops: the end of the segment's bytes.
    let limit: Int
    let chunkBytes: Int
    let integrity: SegmentIntegrity?
    private(set) var position: Int
    private(set) var previousLastOffset: Int64?
    /// Whether `position` is known to be a batch boundary (the segment start, or reached from one through
    /// valid batches), as opposed to an index entry that may be wrong.
    private var onBoundary: Bool
    private var chunk = ByteBuffer()
    private var chunkStart = 0

    init(file: LogFile, segmentBaseOffset: Int64, from position: Int, limit: Int, previousLastOffset: Int64? = nil,
         integrity: SegmentIntegrity? = nil, chunkBytes: Int = 256 * 1024) {
        self.file = file
        self.segmentBaseOffset = segmentBaseOffset
        self.position = position
        self.limit = limit
        self.previousLastOffset = previousLastOffset
        self.integrity = integrity
        self.onBoundary = position == 0
        self.chunkBytes = max(chunkBytes, RecordBatchHeader.size)
        self.chunkStart = position
    }

    init(view: SegmentView, from position: Int, previousLastOffset: Int64? = nil, chunkBytes: Int = 256 * 1024) {
        self.init(file: view.file, segmentBaseOffset: view.baseOffset, from: position, limit: view.size, previousLastOffset: previousLastOffset,
                  integrity: view.integrity, chunkBytes: chunkBytes)
    }

    /// Loads bytes so that the chunk covers `position ..< position + count` (or up to the limit).
    private mutating func ensure(_ count: Int) throws(StorageError) {
        let wanted = min(count, limit - position)
        if position >= chunkStart && position + wanted <= chunkStart + chunk.readableBytes { return }
        chunk = try file.read(at: position, length: min(max(chunkBytes, wanted), limit - position))
        chunkStart = position
    }

    /// The header of the next batch and its position, checked; nil at the limit. Does not advance, except
    /// over damage that lies wholly before `target` (when given).
    mutating func peek(target: Int64? = nil) throws(LogError) -> (position: Int, header: RecordBatchHeader)? {
        while position < limit {
            if let damage = integrity?.damage(at: position) {
                try pass(damage, target: target)
                continue
            }
            do {
                try ensure(RecordBatchHeader.size)
            } catch {
                throw .storage(error)
            }
            let local = chunk.readerIndex + (position - chunkStart)
            var problem: String
            do {
                let header = try RecordBatchHeader(from: chunk, at: local)
                guard let found = headerProblem(header, remainingBytes: limit - position, segmentBaseOffset: segmentBaseOffset, previousLastOffset: previousLastOffset) else {
                    return (position, header)
                }
                problem = found
            } catch {
                problem = error.description
            }
            guard let integrity, onBoundary else {
                throw .corrupt(CorruptBatch(path: file.path, position: position, reason: problem))
            }
            // Damage on a path of valid batches: find where valid batches resume, once.
            let resumed: (position: Int, header: RecordBatchHeader)?
            do {
                resumed = try findNextValidBatch(in: file, segmentBaseOffset: segmentBaseOffset, after: position, limit: limit, previousLastOffset: previousLastOffset)
            } catch {
                throw .storage(error)
            }
            let damage = DamagedRange(
                positions: position..<(resumed?.position ?? limit), firstOffset: (previousLastOffset ?? segmentBaseOffset - 1) + 1,
                resumeOffset: resumed?.header.baseOffset, reason: problem)
            integrity.recordDamage(damage)
            try pass(damage, target: target)
        }
        return nil
    }

    /// Jumps over `damage` when the walk looks for an offset after it; otherwise reports it.
    private mutating func pass(_ damage: DamagedRange, target: Int64?) throws(LogError) {
        guard let target, let resume = damage.resumeOffset, target >= resume else {
            throw .corrupt(CorruptBatch(path: file.path, position: position, reason: damage.reason))
        }
        position = damage.positions.upperBound
        previousLastOffset = resume - 1
        onBoundary = true
    }

    /// The whole bytes of the batch `peek` returned.
    mutating func bytes(of header: RecordBatchHeader) throws(LogError) -> ByteBuffer {
        do {
            try ensure(header.totalSize)
        } catch {
            throw .storage(error)
        }
        let local = chunk.readerIndex + (position - chunkStart)
        guard let slice = chunk.getSlice(at: local, length: header.totalSize) else {
            throw .corrupt(CorruptBatch(path: file.path, position: position, reason: "the file ends inside the batch"))
        }
        return slice
    }

    /// Verifies the checksum of the batch `peek` returned.
    mutating func verify(_ header: RecordBatchHeader) throws(LogError) {
        let batch = RecordBatch(header: header, bytes: try bytes(of: header))
        do {
            try batch.verifyChecksum()
        } catch {
            throw .corrupt(CorruptBatch(path: file.path, position: position, reason: error.description))
        }
    }

    /// The bytes `from ..< from + length` when the current chunk holds them.
    func buffered(from start: Int, length: Int) -> ByteBuffer? {
        guard start >= chunkStart, start + length <= chunkStart + chunk.readableBytes else { return nil }
        return chunk.getSlice(at: chunk.readerIndex + (start - chunkStart), length: length)
    }

    /// Moves past the batch `peek` returned.
    mutating func advance(past header: RecordBatchHeader) {
        position += header.totalSize
        previousLastOffset = header.lastOffset
        onBoundary = true
    }

    /// The next batch (checked, and verified when `verifying`), advancing past it; nil at the limit.
    mutating func next(verifying: Bool = false) throws(LogError) -> (position: Int, header: RecordBatchHeader)? {
        guard let found = try peek() else { return nil }
        if verifying { try verify(found.header) }
        advance(past: found.header)
        return found
    }
}

extension SegmentView {
    /// The first batch whose last offset is at least `offset`, walking from the offset index's entry (over
    /// known damage before it). An index entry that does not lead to a batch is not trusted: the walk starts
    /// over from the segment's start. Nil when the segment holds nothing at or after `offset`.
    func locate(_ offset: Int64) throws(LogError) -> (position: Int, header: RecordBatchHeader)? {
        guard offset < nextOffset else { return nil }
        let indexed = offsetIndex.position(atOrBelow: relative(offset))
        do {
            return try locate(offset, from: indexed)
        } catch .corrupt(let corruption) where indexed > 0 && corruption.position == indexed && integrity.damage(at: indexed) == nil {
            return try locate(offset, from: 0)
        }
    }

    private func locate(_ offset: Int64, from start: Int) throws(LogError) -> (position: Int, header: RecordBatchHeader)? {
        var walker = SegmentBatchWalker(view: self, from: start, chunkBytes: 16 * 1024)
        while let found = try walker.peek(target: offset) {
            if found.header.lastOffset >= offset { return found }
            walker.advance(past: found.header)
        }
        return nil
    }

    /// Whole batches from the one holding `offset`: up to `maxBytes` (or the first batch whole when
    /// `minimumOneBatch`), none at or after `endOffset`. Batches not yet known to be valid are verified
    /// (checksums) first; a corrupt one ends the result, or throws when it is the first. Nil when nothing
    /// qualifies.
    func read(from offset: Int64, maxBytes: Int, endOffset: Int64, minimumOneBatch: Bool) throws(LogError) -> ByteBuffer? {
        guard let (start, first) = try locate(offset), first.baseOffset < endOffset else { return nil }
        let wanted = min(max(maxBytes, minimumOneBatch ? first.totalSize : 0), size - start)
        guard wanted >= first.totalSize else { return nil }
        // One read covers the whole answer; the walk below only looks at headers inside it.
        var walker = SegmentBatchWalker(view: self, from: start, chunkBytes: wanted)
        var taken = 0
        let verified = integrity.isVerified(start..<(start + wanted))
        while wanted - taken >= RecordBatchHeader.size {
            do {
                guard let found = try walker.peek(), found.header.baseOffset < endOffset, taken + found.header.totalSize <= wanted else { break }
                if !verified { try walker.verify(found.header) }
                walker.advance(past: found.header)
                taken += found.header.totalSize
            } catch .corrupt(let corruption) {
                if taken == 0 { throw .corrupt(corruption) }
                break
            }
        }
        guard taken > 0 else { return nil }
        if !verified { integrity.markVerified(start..<(start + taken)) }
        if let bytes = walker.buffered(from: start, length: taken) { return bytes }
        do {
            return try file.read(at: start, length: taken)
        } catch {
            throw .storage(error)
        }
    }

    /// The byte range a fetch may send as it is: from the batch holding `offset` to `maxBytes` further (the
    /// first batch whole when `minimumOneBatch`; the last may be cut, as Kafka sends it), within the visible
    /// bytes. Nil when the range has not been verified (the caller reads and checks it instead) or holds
    /// nothing to send.
    func sendableRange(from offset: Int64, maxBytes: Int, visibleSize: Int, endOffset: Int64, minimumOneBatch: Bool) throws(LogError) -> Range<Int>? {
        guard let (start, first) = try locate(offset), first.baseOffset < endOffset, start < visibleSize else { return nil }
        var end = min(start + max(0, maxBytes), visibleSize)
        if end - start < first.totalSize {
            guard minimumOneBatch else { return nil }
            end = start + first.totalSize
        }
        guard end <= visibleSize, integrity.isVerified(start..<end) else { return nil }
        return start..<end
    }

    /// Headers of every batch from `position` to the end of the view, checked; known damage is skipped.
    func batches(from position: Int = 0) throws(LogError) -> [(position: Int, header: RecordBatchHeader)] {
        var result: [(position: Int, header: RecordBatchHeader)] = []
        var walker = SegmentBatchWalker(view: self, from: position)
        while let found = try walker.peek(target: .max) {
            result.append(found)
            walker.advance(past: found.header)
        }
        return result
    }

    func readBatch(at position: Int, header: RecordBatchHeader) throws(LogError) -> RecordBatch {
        do {
            return RecordBatch(header: header, bytes: try file.read(at: position, length: header.totalSize))
        } catch {
            throw .storage(error)
        }
    }
}
