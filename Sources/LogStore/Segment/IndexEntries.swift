/// Append-only storage for a segment's index entries, shared by its writer and any number of readers
/// without a lock.
///
/// Readers hold an `IndexEntries` view: a storage and the count the writer had published. The writer only
/// writes slots at or beyond every count it ever published from that storage, and it replaces the storage
/// (it never rewrites a slot) when the entries outgrow its capacity or are truncated. So the slots a view can
/// see never change while the view exists. Views are published through the partition's state lock, which
/// orders the writer's stores before a reader's loads.
///
/// Sendable under that protocol: `base` is written only by the one writer, at slots no published view covers.
final class IndexStorage<Entry: BitwiseCopyable & Sendable>: @unchecked Sendable {
    let capacity: Int
    let base: UnsafeMutablePointer<Entry>

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.base = UnsafeMutablePointer<Entry>.allocate(capacity: capacity)
    }

    deinit {
        base.deallocate()
    }
}

/// A reader's view of a prefix of an index: immutable while it exists.
struct IndexEntries<Entry: BitwiseCopyable & Sendable>: Sendable, RandomAccessCollection {
    let storage: IndexStorage<Entry>?
    let count: Int

    static var empty: IndexEntries { IndexEntries(storage: nil, count: 0) }

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    subscript(position: Int) -> Entry {
        precondition(position >= 0 && position < count, "index entry \(position) outside 0..<\(count)")
        return storage!.base[position]
    }

    /// The index of the last entry for which `isAtOrBelow` holds, where it holds for a prefix of the entries
    /// (binary search); nil when it holds for none.
    func lastIndex(where isAtOrBelow: (Entry) -> Bool) -> Int? {
        var low = 0
        var high = count - 1
        var found: Int? = nil
        while low <= high {
            let middle = low + (high - low) / 2
            if isAtOrBelow(self[middle]) {
                found = middle
                low = middle + 1
            } else {
                high = middle - 1
            }
        }
        return found
    }
}

/// The writer's side of an index's entries. Not Sendable: only the segment's writer holds it.
struct IndexEntriesWriter<Entry: BitwiseCopyable & Sendable> {
    private(set) var storage: IndexStorage<Entry>?
    private(set) var count = 0

    var entries: IndexEntries<Entry> { IndexEntries(storage: storage, count: count) }
    var last: Entry? { count > 0 ? storage!.base[count - 1] : nil }

    mutating func append(_ entry: Entry) {
        if storage == nil || count == storage!.capacity {
            // A new storage: slots of the old one stay as readers saw them.
            let grown = IndexStorage<Entry>(capacity: max(64, count * 2))
            if let storage { grown.base.initialize(from: storage.base, count: count) }
            storage = grown
        }
        (storage!.base + count).initialize(to: entry)
        count += 1
    }

    /// Keeps the first `newCount` entries. Later appends go to a fresh storage, so views taken before the
    /// truncation keep seeing the entries they had.
    mutating func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count)
        guard newCount < count else { return }
        if newCount == 0 {
            storage = nil
        } else {
            let copy = IndexStorage<Entry>(capacity: max(64, newCount * 2))
            copy.base.initialize(from: storage!.base, count: newCount)
            storage = copy
        }
        count = newCount
    }
}
