public import Foundation

/// The bootstrap file of the user base (`users-file`): one user credential per line, `#` comments.
///
///     # name  mechanism      iterations  salt (base64)  stored key (base64)  server key (base64)
///     alice   SCRAM-SHA-256  4096        c2FsdA==       ...                  ...
///     # a one-time import: hashed at start into SCRAM-SHA-256 and SCRAM-SHA-512, then the line can go
///     bob     PLAIN          the password is the rest of the line
///
/// `tributary users hash NAME` prints the hashed lines for a password read from standard input. At start
/// the server adds the users the user base never had; the user base (changed with
/// AlterUserScramCredentials) wins over the file afterwards, so removing a user through the API is not
/// undone by a restart while its line is still in the file.
public enum UsersFile {
    public enum Entry: Sendable, Equatable {
        case hashed(user: String, mechanism: ScramMechanism, credential: ScramCredential)
        case plaintext(user: String, password: String)

        public var user: String {
            switch self {
            case .hashed(let user, _, _), .plaintext(let user, _): return user
            }
        }
    }

    public static func parse(_ text: String, source: String) throws -> [Entry] {
        var entries: [Entry] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            func fail(_ problem: String) -> UserStoreError { UserStoreError("\(source) line \(index + 1): \(problem)") }
            guard fields.count >= 3 else { throw fail("expected NAME MECHANISM ...") }
            let user = fields[0]
            if fields[1].uppercased() == "PLAIN" {
                // The password is the rest of the line after the mechanism, spaces included.
                guard let name = line.range(of: user), let range = line.range(of: fields[1], range: name.upperBound..<line.endIndex) else {
                    throw fail("expected NAME PLAIN PASSWORD")
                }
                let password = line[range.upperBound...].trimmingCharacters(in: .whitespaces)
                entries.append(.plaintext(user: user, password: password))
                continue
            }
            guard let mechanism = ScramMechanism(rawValue: fields[1].uppercased()) else {
                throw fail("unknown mechanism \(fields[1]) (SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN)")
            }
            guard fields.count == 6, let iterations = Int(fields[2]),
                  (ScramMechanism.minimumIterations...ScramMechanism.maximumIterations).contains(iterations),
                  let salt = Data(base64Encoded: fields[3]), let stored = Data(base64Encoded: fields[4]), let server = Data(base64Encoded: fields[5]),
                  stored.count == mechanism.hashByteCount, server.count == mechanism.hashByteCount, !salt.isEmpty
            else {
                throw fail("expected NAME \(mechanism.rawValue) ITERATIONS(4096-16384) SALT STORED_KEY SERVER_KEY (base64)")
            }
            entries.append(.hashed(
                user: user, mechanism: mechanism,
                credential: ScramCredential(salt: Array(salt), storedKey: Array(stored), serverKey: Array(server), iterations: iterations)))
        }
        return entries
    }

    /// The line for one credential, as `parse` reads it.
    public static func line(user: String, mechanism: ScramMechanism, credential: ScramCredential) -> String {
        [
            user, mechanism.rawValue, String(credential.iterations), Data(credential.salt).base64EncodedString(),
            Data(credential.storedKey).base64EncodedString(), Data(credential.serverKey).base64EncodedString(),
        ].joined(separator: " ")
    }

    /// The changes that bring `store` up to the file: users it never had (a user removed through the API
    /// stays removed). Plaintext entries are hashed here (PBKDF2: blocking).
    public static func missingChanges(_ entries: [Entry], in store: UserStore) throws -> [UserChange] {
        var changes: [UserChange] = []
        for entry in entries {
            guard UserNames.problem(entry.user) == nil else { throw UserStoreError("user name \(entry.user): \(UserNames.problem(entry.user)!)") }
            if store.knows(entry.user) { continue }
            switch entry {
            case .hashed(let user, let mechanism, let credential):
                changes.append(.upsert(user: user, mechanism: mechanism, credential: credential))
            case .plaintext(let user, let password):
                for mechanism in ScramMechanism.allCases {
                    changes.append(.upsert(user: user, mechanism: mechanism, credential: try ScramCredential(mechanism: mechanism, password: password)))
                }
            }
        }
        return changes
    }
}

public enum UserNames {
    /// Why `name` cannot be a user name, or nil. Kafka refuses empty names; control characters would
    /// confuse logs and the files.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.utf8.count > 255 { return "longer than 255 bytes" }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == " " }) {
            return "contains spaces or control characters"
        }
        return nil
    }
}
