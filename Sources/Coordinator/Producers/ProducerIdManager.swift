import LogStore
import NIOConcurrencyHelpers

/// Hands out producer ids, never the same one twice, across restarts: ids come in blocks whose end is
/// written durably (`producer-id-block` in the data directory) before the first id of the block is used.
///
/// Sendable: state guarded by `lock`.
public final class ProducerIdManager: @unchecked Sendable {
    public static let fileName = "producer-id-block"
    public static let blockSize: Int64 = 1000

    let path: String
    private let lock = NIOLock()
    private var next: Int64 = 0
    private var blockEnd: Int64 = 0

    public init(dataDirectory: String) {
        self.path = dataDirectory + "/" + Self.fileName
    }

    /// Reads where the last block ended; ids continue from there.
    public func load() throws {
        guard FileSystem.exists(path) else { return }
        let text = String(decoding: try FileSystem.readAll(path), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("next="), let stored = Int64(text.dropFirst(5)), stored >= 0, stored <= Int64.max - 2 * Self.blockSize else {
            throw StorageError(operation: "parse (expected next=<id>)", path: path, errorNumber: 22)
        }
        lock.withLock {
            next = stored
            blockEnd = stored
        }
    }

    public func nextProducerId() throws -> Int64 {
        try lock.withLock {
            if next >= blockEnd {
                let end = next + Self.blockSize
                try FileSystem.writeAtomically(Array("next=\(end)\n".utf8), to: path)
                blockEnd = end
            }
            defer { next += 1 }
            return next
        }
    }
}

import Foundation
