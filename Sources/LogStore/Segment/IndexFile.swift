import NIOCore

/// The file behind a segment's index. The index is derived data, so its file never decides the fate of an
/// append: the first failed write stops further writes (a torn entry is cut), and the next start rebuilds
/// what is missing. The descriptor is held only while the segment is written (or truncated) and released
/// once it is not, so inactive segments cost one descriptor (their log), not three.
///
/// Owned by the segment's writer; not thread-safe.
final class IndexFile {
    let entrySize: Int
    private(set) var path: String
    private var file: LogFile?
    /// Set when writing failed: the file is no longer updated (the in-memory entries still are).
    private(set) var failure: StorageError? = nil

    init(path: String, entrySize: Int) throws(StorageError) {
        self.path = path
        self.entrySize = entrySize
        self.file = try LogFile(path: path)
    }

    /// The open file, opened again if it was released.
    func handle() throws(StorageError) -> LogFile {
        if let file { return file }
        let opened = try LogFile(path: path)
        file = opened
        return opened
    }

    /// The open file, if any (for a flush that must not open one).
    var openFile: LogFile? { file }

    func readAll() throws(StorageError) -> ByteBuffer {
        let file = try handle()
        return try file.read(at: 0, length: try file.size())
    }

    /// Writes entry number `index`. Returns the error the first time writing fails.
    func write(_ entry: ByteBuffer, entry index: Int) -> StorageError? {
        guard failure == nil else { return nil }
        do {
            try handle().write(entry, at: index * entrySize)
            return nil
        } catch {
            failure = error
            // Cut a possibly torn entry; if even that fails, loading drops entries that do not increase.
            try? file?.truncate(to: index * entrySize)
            return error
        }
    }

    /// Keeps the first `count` entries of the file (when it is still being written).
    func truncate(toEntries count: Int) throws(StorageError) {
        guard failure == nil else { return }
        try handle().truncate(to: count * entrySize)
    }

    /// Empties the file and writes it again from now on.
    func reset() throws(StorageError) {
        failure = nil
        try handle().truncate(to: 0)
    }

    func synchronizeIfOpen() throws(StorageError) {
        guard failure == nil, let file else { return }
        try file.synchronizeData()
    }

    func release() {
        file = nil
    }

    /// The file was renamed (descriptors stay valid across renames).
    func moved(to newPath: String) {
        path = newPath
    }
}
