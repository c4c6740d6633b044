import Foundation
public import LogStore

/// A JSON file of server state in the data directory (the topic registry, the dynamic broker configs):
/// written atomically and durably, read back at start. A file that does not parse is never deleted: it is
/// renamed `<name>.damaged-<milliseconds>` for the operator, and the caller rebuilds or starts without it.
public enum StateFile {
    public enum Loaded<Value> {
        case missing
        case loaded(Value)
        /// The file did not parse; it was kept under `keptAs`.
        case damaged(keptAs: String, error: any Error)
    }

    public static func load<Value: Decodable>(_ type: Value.Type, from path: String) throws(StorageError) -> Loaded<Value> {
        guard FileSystem.exists(path) else { return .missing }
        let bytes = try FileSystem.readAll(path)
        do {
            return .loaded(try JSONDecoder().decode(Value.self, from: Data(bytes)))
        } catch {
            let kept = path + ".damaged-\(Int64(Date().timeIntervalSince1970 * 1000))"
            try FileSystem.rename(path, to: kept)
            return .damaged(keptAs: kept, error: error)
        }
    }

    /// Pretty-printed with sorted keys, so the file reads and diffs well.
    public static func save<Value: Encodable>(_ value: Value, to path: String) throws(StateFileError) {
        let data: Data
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            data = try encoder.encode(value)
        } catch {
            throw .encoding("\(error)")
        }
        do {
            try FileSystem.writeAtomically(Array(data), to: path)
        } catch {
            throw .storage(error)
        }
    }
}

public enum StateFileError: Error, CustomStringConvertible {
    case encoding(String)
    case storage(StorageError)

    public var description: String {
        switch self {
        case .encoding(let why): return "cannot encode: \(why)"
        case .storage(let error): return "\(error)"
        }
    }
}
