#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import NIOConcurrencyHelpers
public import NIOCore
import Synchronization

/// A storage failure with the path and the system's error number. Kafka answers these with
/// `KAFKA_STORAGE_ERROR`; the partition that hit one goes offline rather than risk serving a torn log.
public struct StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errorNumber: Int32

    public init(operation: String, path: String, errorNumber: Int32) {
        self.operation = operation
        self.path = path
        self.errorNumber = errorNumber
    }

    public var description: String {
        "\(operation) \(path): \(String(cString: strerror(errorNumber))) (errno \(errorNumber))"
    }
}

/// An open file used with positional reads and writes only, so that one descriptor can serve appends and
/// concurrent readers without a shared file position.
///
/// Sendable: the descriptor is immutable after `init`; positional I/O on one descriptor from several threads
/// is safe in POSIX. Closing is the owner's job, after every reader is done with it.
public final class LogFile: Sendable {
    public let path: String
    public let descriptor: Int32

    public enum Mode: Sendable {
        case readWrite
        case readOnly
    }

    public init(path: String, mode: Mode = .readWrite, create: Bool = true) throws(StorageError) {
        var flags: Int32 = mode == .readWrite ? O_RDWR : O_RDONLY
        if create { flags |= O_CREAT }
        flags |= O_CLOEXEC
        let descriptor = open(path, flags, 0o644)
        guard descriptor >= 0 else {
            throw StorageError(operation: "open", path: path, errorNumber: errno)
        }
        self.path = path
        self.descriptor = descriptor
        Self.openFiles.add(1, ordering: .relaxed)
    }

    deinit {
        close(descriptor)
        Self.openFiles.subtract(1, ordering: .relaxed)
    }

    /// How many log files are open: the server keeps this many descriptors (plus a reserve) away from
    /// connections.
    public static var openCount: Int { openFiles.load(ordering: .relaxed) }
    private static let openFiles = Atomic<Int>(0)

    public func size() throws(StorageError) -> Int {
        var information = stat()
        guard fstat(descriptor, &information) == 0 else {
            throw StorageError(operation: "fstat", path: path, errorNumber: errno)
        }
        return Int(information.st_size)
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageError) {
        var written = 0
        while written < bytes.count {
            let result = pwrite(descriptor, bytes.baseAddress!.advanced(by: written), bytes.count - written, off_t(offset + written))
            if result < 0 {
                if errno == EINTR { continue }
                throw StorageError(operation: "pwrite", path: path, errorNumber: errno)
            }
            written += result
        }
    }

    public func write(_ buffer: ByteBuffer, at offset: Int) throws(StorageError) {
        let result: Result<Void, StorageError> = buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(StorageError) in try self.write(bytes, at: offset) }
        }
        try result.get()
    }

    /// Writes `head` followed by `tail` at `offset` with one pwritev(2) where it takes everything, so that a
    /// caller can replace a prefix of a shared buffer without copying the buffer.
    public func write(_ head: ByteBuffer, then tail: ByteBuffer, at offset: Int) throws(StorageError) {
        let written: Int = head.withUnsafeReadableBytes { first in
            tail.withUnsafeReadableBytes { second in
                var vectors = [
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: first.baseAddress), iov_len: first.count),
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: second.baseAddress), iov_len: second.count),
                ]
                while true {
                    let result = pwritev(descriptor, &vectors, 2, off_t(offset))
                    if result < 0 && errno == EINTR { continue }
                    return result
                }
            }
        }
        if written < 0 { throw StorageError(operation: "pwritev", path: path, errorNumber: errno) }
        let total = head.readableBytes + tail.readableBytes
        guard written < total else { return }
        // A short write: the rest one part at a time.
        if written < head.readableBytes {
            try write(head.getSlice(at: head.readerIndex + written, length: head.readableBytes - written) ?? ByteBuffer(), at: offset + written)
            try write(tail, at: offset + head.readableBytes)
        } else {
            let done = written - head.readableBytes
            try write(tail.getSlice(at: tail.readerIndex + done, length: tail.readableBytes - done) ?? ByteBuffer(), at: offset + written)
        }
    }

    /// Reads up to `length` bytes at `offset`; fewer only at the end of the file.
    public func read(at offset: Int, length: Int, allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(StorageError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: length)
        var failure: StorageError? = nil
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { bytes in
            var total = 0
            while total < length {
                let count = pread(descriptor, bytes.baseAddress!.advanced(by: total), length - total, off_t(offset + total))
                if count < 0 {
                    if errno == EINTR { continue }
                    failure = StorageError(operation: "pread", path: path, errorNumber: errno)
                    return 0
                }
                if count == 0 { break }
                total += count
            }
            return total
        }
        if let failure { throw failure }
        return buffer
    }

    /// Flushes the file's data (and the metadata needed to read it back) to stable storage.
    public func synchronizeData() throws(StorageError) {
        #if os(Linux)
        let result = fdatasync(descriptor)
        #else
        let result = fsync(descriptor)
        #endif
        guard result == 0 else {
            throw StorageError(operation: "fdatasync", path: path, errorNumber: errno)
        }
    }

    public func truncate(to size: Int) throws(StorageError) {
        guard ftruncate(descriptor, off_t(size)) == 0 else {
            throw StorageError(operation: "ftruncate", path: path, errorNumber: errno)
        }
    }
}

/// Directory and whole-file operations the log needs.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var information = stat()
        return stat(path, &information) == 0 && (information.st_mode & S_IFMT) == S_IFDIR
    }

    public static func createDirectory(_ path: String) throws(StorageError) {
        if isDirectory(path) { return }
        // Create parents first.
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try createDirectory(String(path[..<slash]))
        }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw StorageError(operation: "mkdir", path: path, errorNumber: errno)
        }
    }

    public static func contentsOfDirectory(_ path: String) throws(StorageError) -> [String] {
        guard let directory = opendir(path) else {
            throw StorageError(operation: "opendir", path: path, errorNumber: errno)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public static func remove(_ path: String) throws(StorageError) {
        guard unlink(path) == 0 || errno == ENOENT else {
            throw StorageError(operation: "unlink", path: path, errorNumber: errno)
        }
    }

    public static func removeTree(_ path: String) throws(StorageError) {
        if isDirectory(path) {
            for name in try contentsOfDirectory(path) {
                try removeTree(path + "/" + name)
            }
            guard rmdir(path) == 0 || errno == ENOENT else {
                throw StorageError(operation: "rmdir", path: path, errorNumber: errno)
            }
        } else {
            try remove(path)
        }
    }

    public static func rename(_ from: String, to: String) throws(StorageError) {
        guard systemRename(from, to) == 0 else {
            throw StorageError(operation: "rename", path: "\(from) -> \(to)", errorNumber: errno)
        }
    }

    /// Makes a directory's entries (creations, renames, removals) durable.
    public static func synchronizeDirectory(_ path: String) throws(StorageError) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw StorageError(operation: "open directory", path: path, errorNumber: errno)
        }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw StorageError(operation: "fsync directory", path: path, errorNumber: errno)
        }
    }

    /// Replaces `path` with `contents` atomically and durably: write a temporary file, sync it, rename it
    /// over the target, sync the directory.
    public static func writeAtomically(_ contents: [UInt8], to path: String) throws(StorageError) {
        let temporary = path + ".tmp"
        do {
            let file = try LogFile(path: temporary)
            try file.truncate(to: 0)
            try file.write(ByteBuffer(bytes: contents), at: 0)
            try file.synchronizeData()
        }
        try rename(temporary, to: path)
        try synchronizeDirectory(directoryName(of: path))
    }

    public static func readAll(_ path: String) throws(StorageError) -> [UInt8] {
        let file = try LogFile(path: path, mode: .readOnly, create: false)
        let size = try file.size()
        let buffer = try file.read(at: 0, length: size)
        return Array(buffer.readableBytesView)
    }

    public static func directoryName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// Free and total bytes of the file system holding `path`.
    public static func capacity(of path: String) throws(StorageError) -> (total: Int64, usable: Int64) {
        var information = statvfs()
        guard statvfs(path, &information) == 0 else {
            throw StorageError(operation: "statvfs", path: path, errorNumber: errno)
        }
        let blockSize = Int64(information.f_frsize)
        return (Int64(information.f_blocks) * blockSize, Int64(information.f_bavail) * blockSize)
    }
}

#if canImport(Glibc)
private let systemRename = Glibc.rename
#else
private let systemRename = Darwin.rename
#endif

extension NIOLock {
    /// `withLock` for closures with typed throws (`withLock` rethrows them as `any Error`).
    @inlinable
    public func withTypedLock<Value, Failure: Error>(_ body: () throws(Failure) -> Value) throws(Failure) -> Value {
        self.lock()
        defer { self.unlock() }
        return try body()
    }
}
