public import Crypto
public import Foundation
public import KafkaProtocol
public import LogStore
public import Logging
import NIOConcurrencyHelpers
import NIOCore

/// One user of both protocols and their SCRAM credentials (salted hashes only).
public struct UserRecord: Sendable, Equatable, Codable {
    public var name: String
    /// By mechanism name ("SCRAM-SHA-256", "SCRAM-SHA-512").
    public var credentials: [String: ScramCredential]

    public init(name: String, credentials: [String: ScramCredential] = [:]) {
        self.name = name
        self.credentials = credentials
    }

    public func credential(_ mechanism: ScramMechanism) -> ScramCredential? { credentials[mechanism.rawValue] }
    public var mechanisms: [ScramMechanism] { ScramMechanism.allCases.filter { credentials[$0.rawValue] != nil } }
}

/// A change to the user base, as AlterUserScramCredentials and `tributary users` make them.
public enum UserChange: Sendable, Equatable {
    case upsert(user: String, mechanism: ScramMechanism, credential: ScramCredential)
    case delete(user: String, mechanism: ScramMechanism)

    public var user: String {
        switch self {
        case .upsert(let user, _, _), .delete(let user, _): return user
        }
    }
}

public struct UserStoreError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The user base of both protocols, kept in the compacted internal topic `__users` (key = user name,
/// value = the user's credentials as JSON; a user whose last credential went keeps a record with none, so
/// that the users file does not bring them back at the next start), as Apache Kafka
/// keeps SCRAM credentials in its metadata log. Read whole at start; every change is appended durably
/// before it is acknowledged or used.
///
/// Thread-safe: lookups take a lock for a dictionary read. Changes run one at a time (`SerialChanges`): each
/// is computed from the users in force, written as one batch, and in force once durable, so what is in
/// force is always what the log says.
public final class UserStore: Sendable {
    public static let topic = "__users"
    public static let topicConfigs = ["cleanup.policy": "compact", "retention.ms": "-1"]

    private struct State {
        /// What authentication uses: changes whose record is durable.
        var committed: [String: UserRecord] = [:]
        /// Passwords already checked with PBKDF2, as a keyed hash (never the password), so that a device
        /// reconnecting does not pay thousands of HMACs each time. One entry per user (bounded by the user
        /// count); dropped whenever the user changes.
        var verifiedPasswords: [String: [UInt8]] = [:]
        /// Users whose credentials were all removed (their record stays, with none).
        var removed: Set<String> = []
    }

    private let state = NIOLockedValueBox(State())
    private let changes = SerialChanges()
    private let log: (any PartitionLog)?
    private let logger: Logger
    /// Per-process secrets: the key of the verified-password cache, and of the fake salts SCRAM shows for
    /// users that do not exist.
    private let cacheKey = SymmetricKey(size: .bits256)
    public let fakeSaltKey: [UInt8] = (0..<32).map { _ in UInt8.random(in: .min ... .max) }

    /// A store on `log`, loaded from it. A record this version cannot read is skipped and logged (that user
    /// cannot log in), never guessed at.
    public static func load(from log: any PartitionLog, logger: Logger) async throws -> UserStore {
        let decoder = JSONDecoder()
        var users: [String: UserRecord] = [:]
        var removed: Set<String> = []
        try await log.scanRecords { record, offset, _ in
            guard let key = record.key else { return }
            let name = String(decoding: key.readableBytesView, as: UTF8.self)
            guard let value = record.value else {
                users[name] = nil
                return
            }
            do {
                let user = try decoder.decode(UserRecord.self, from: Data(value.readableBytesView))
                users[name] = user.name == name && !user.credentials.isEmpty ? user : nil
                if user.credentials.isEmpty { removed.insert(name) } else { removed.remove(name) }
                if user.name != name {
                    logger.error("skipped a \(topic) record whose key and user name differ", metadata: ["offset": "\(offset)"])
                }
            } catch {
                users[name] = nil
                logger.error("skipped an unreadable \(topic) record; that user cannot log in until it is set again", metadata: [
                    "user": "\(name)", "offset": "\(offset)", "error": "\(error)",
                ])
            }
        }
        let store = UserStore(log: log, users: users, logger: logger)
        store.state.withLockedValue { $0.removed = removed.subtracting(users.keys) }
        return store
    }

    /// A store kept in memory only (tests, and tools that read a copy).
    public convenience init(users: [UserRecord] = [], logger: Logger = Logger(label: "tributary.users")) {
        self.init(log: nil, users: Dictionary(users.map { ($0.name, $0) }, uniquingKeysWith: { $1 }), logger: logger)
    }

    private init(log: (any PartitionLog)?, users: [String: UserRecord], logger: Logger) {
        self.log = log
        self.logger = logger
        state.withLockedValue { $0.committed = users }
    }

    public var isEmpty: Bool { state.withLockedValue { $0.committed.isEmpty } }

    public func user(_ name: String) -> UserRecord? { state.withLockedValue { $0.committed[name] } }

    /// Whether the user base has or had this user (a removed user keeps a record without credentials).
    public func knows(_ name: String) -> Bool {
        state.withLockedValue { $0.committed[name] != nil || $0.removed.contains(name) }
    }

    public func credential(user: String, mechanism: ScramMechanism) -> ScramCredential? {
        state.withLockedValue { $0.committed[user]?.credential(mechanism) }
    }

    /// Every user, by name.
    public var users: [UserRecord] {
        state.withLockedValue { $0.committed.values.sorted { $0.name < $1.name } }
    }

    /// Whether `password` is `user`'s, checked against their SCRAM credential (SCRAM-SHA-256 first). Costs
    /// a PBKDF2 the first time a password is seen: call it off the event loops.
    public func verify(user: String, password: String) -> Bool {
        let (record, cached) = state.withLockedValue { ($0.committed[user], $0.verifiedPasswords[user]) }
        guard let record, let mechanism = record.mechanisms.first, let credential = record.credential(mechanism) else {
            // Spend about the same time as for a real user, so timing does not tell who exists.
            _ = try? ScramMechanism.sha256.saltedPassword(password, salt: fakeSaltKey, iterations: ScramMechanism.minimumIterations)
            return false
        }
        let digest = Array(HMAC<SHA256>.authenticationCode(for: Array("\(user)\u{0}\(password)".utf8), using: cacheKey))
        if let cached, ConstantTime.equal(cached, digest) {
            return true
        }
        guard credential.matches(password: password, mechanism: mechanism) else { return false }
        state.withLockedValue { state in
            // Only if the user did not change meanwhile.
            if state.committed[user] == record { state.verifiedPasswords[user] = digest }
        }
        return true
    }

    /// Applies `changes` in order and returns once they are durable in the log (and in use). A delete of
    /// a credential that does not exist is not an error here: the API handler checks that first.
    public func apply(_ changes: [UserChange]) async throws {
        try await self.changes.run { [self] in
            // Each touched user's whole record after the changes, from the users in force.
            var records: [(name: String, record: UserRecord?)] = []
            state.withLockedValue { state in
                var working: [String: UserRecord?] = [:]
                for change in changes {
                    var record = (working[change.user] ?? state.committed[change.user]) ?? UserRecord(name: change.user)
                    switch change {
                    case .upsert(_, let mechanism, let credential): record.credentials[mechanism.rawValue] = credential
                    case .delete(_, let mechanism): record.credentials[mechanism.rawValue] = nil
                    }
                    working[change.user] = .some(record.credentials.isEmpty ? nil : record)
                    if !records.contains(where: { $0.name == change.user }) { records.append((change.user, nil)) }
                }
                records = records.map { ($0.name, working[$0.name] ?? nil) }
            }
            if let log {
                do {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = .sortedKeys
                    let keyed = try records.map { (key: $0.name, value: Optional(try encoder.encode($0.record ?? UserRecord(name: $0.name)))) }
                    try await DurableAppend.queue(keyed, to: log).value()
                } catch {
                    logger.error("could not store a change to the user base", metadata: ["error": "\(error)"])
                    throw UserStoreError("the user base could not be written: \(error)")
                }
            }
            state.withLockedValue { state in
                for (name, record) in records {
                    state.committed[name] = record
                    state.verifiedPasswords[name] = nil
                    if record == nil { state.removed.insert(name) } else { state.removed.remove(name) }
                }
            }
            logger.info("user base changed", metadata: ["users": "\(records.map(\.name).joined(separator: ","))"])
        }
    }
}
