public import Crypto
import CryptoExtras
public import Foundation

/// The SCRAM mechanisms (RFC 5802 with the hashes of RFC 7677 and Kafka's SCRAM-SHA-512), with the
/// numbers Kafka's AlterUserScramCredentials and DescribeUserScramCredentials use for them.
public enum ScramMechanism: String, Sendable, CaseIterable, Codable, Hashable {
    case sha256 = "SCRAM-SHA-256"
    case sha512 = "SCRAM-SHA-512"

    /// Kafka's `ScramMechanism` type: 1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512 (0 is UNKNOWN).
    public init?(kafkaType: Int8) {
        switch kafkaType {
        case 1: self = .sha256
        case 2: self = .sha512
        default: return nil
        }
    }

    public var kafkaType: Int8 { self == .sha256 ? 1 : 2 }

    /// Kafka's bounds on iterations (`ScramMechanism.minIterations`/`maxIterations`).
    public static let minimumIterations = 4096
    public static let maximumIterations = 16384

    /// Bytes of one hash (and of a salted password, stored key or server key).
    public var hashByteCount: Int { self == .sha256 ? 32 : 64 }

    func hmac(key: some ContiguousBytes, _ message: some DataProtocol) -> [UInt8] {
        let key = SymmetricKey(data: key)
        switch self {
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: message, using: key))
        }
    }

    func hash(_ data: some DataProtocol) -> [UInt8] {
        switch self {
        case .sha256: return Array(SHA256.hash(data: data))
        case .sha512: return Array(SHA512.hash(data: data))
        }
    }

    /// Hi(password, salt, i) of RFC 5802: PBKDF2 with this mechanism's HMAC. Costs `iterations` HMACs
    /// (a few milliseconds at 4096): call it off the event loops.
    public func saltedPassword(_ password: String, salt: [UInt8], iterations: Int) throws -> [UInt8] {
        // PBKDF2 from swift-crypto; its checked entry point insists on 210,000 rounds, far above what
        // SCRAM clients use (Kafka's range is 4096...16384), so the unchecked one with SCRAM's count.
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: salt, using: self == .sha256 ? .sha256 : .sha512,
            outputByteCount: hashByteCount, unsafeUncheckedRounds: iterations)
        return key.withUnsafeBytes { Array($0) }
    }
}

/// What the server keeps of a SCRAM password: never the password, only its salted derivatives.
public struct ScramCredential: Sendable, Equatable, Codable {
    public var salt: [UInt8]
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]
    public var iterations: Int

    public init(salt: [UInt8], storedKey: [UInt8], serverKey: [UInt8], iterations: Int) {
        self.salt = salt
        self.storedKey = storedKey
        self.serverKey = serverKey
        self.iterations = iterations
    }

    /// From a salted password, as AlterUserScramCredentials carries it (the client did the PBKDF2).
    public init(mechanism: ScramMechanism, saltedPassword: [UInt8], salt: [UInt8], iterations: Int) {
        let clientKey = mechanism.hmac(key: saltedPassword, Array("Client Key".utf8))
        self.init(
            salt: salt, storedKey: mechanism.hash(clientKey),
            serverKey: mechanism.hmac(key: saltedPassword, Array("Server Key".utf8)), iterations: iterations)
    }

    /// From a password, with a fresh random salt.
    public init(mechanism: ScramMechanism, password: String, iterations: Int = ScramMechanism.minimumIterations) throws {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let salted = try mechanism.saltedPassword(password, salt: salt, iterations: iterations)
        self.init(mechanism: mechanism, saltedPassword: salted, salt: salt, iterations: iterations)
    }

    /// Whether `password` is the one this credential was made from (PBKDF2: off the event loops). The
    /// comparison takes the same time wherever the keys differ.
    public func matches(password: String, mechanism: ScramMechanism) -> Bool {
        guard let salted = try? mechanism.saltedPassword(password, salt: salt, iterations: iterations) else { return false }
        let clientKey = mechanism.hmac(key: salted, Array("Client Key".utf8))
        return ConstantTime.equal(mechanism.hash(clientKey), storedKey)
    }

    enum CodingKeys: String, CodingKey {
        case salt, storedKey = "stored_key", serverKey = "server_key", iterations
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func bytes(_ key: CodingKeys) throws -> [UInt8] {
            let text = try container.decode(String.self, forKey: key)
            guard let data = Data(base64Encoded: text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "not base64")
            }
            return Array(data)
        }
        self.init(
            salt: try bytes(.salt), storedKey: try bytes(.storedKey), serverKey: try bytes(.serverKey),
            iterations: try container.decode(Int.self, forKey: .iterations))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Data(salt).base64EncodedString(), forKey: .salt)
        try container.encode(Data(storedKey).base64EncodedString(), forKey: .storedKey)
        try container.encode(Data(serverKey).base64EncodedString(), forKey: .serverKey)
        try container.encode(iterations, forKey: .iterations)
    }
}

public enum ConstantTime {
    /// Equal contents, compared in time that depends only on the lengths.
    public static func equal(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}

/// Why an authentication exchange failed. The message goes to the client and the log; it never holds a
/// password or key.
public struct AuthenticationFailure: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The server side of one SCRAM exchange (RFC 5802 section 5): client-first → server-first,
/// client-final → server-final. Channel binding is not offered (gs2 flag "n" or "y" only), and Kafka's
/// delegation-token extension (`tokenauth=true`) is refused: Tributary has no delegation tokens.
public struct ScramServerExchange: Sendable {
    public enum Step: Sendable {
        /// Send these bytes and wait for the next message.
        case challenge([UInt8])
        /// Authenticated as this user; send these bytes (server-final).
        case authenticated(user: String, final: [UInt8])
    }

    public let mechanism: ScramMechanism
    private var state: State = .initial
    /// Unknown users get a fake salt derived from this per-process key, so that the exchange does not tell
    /// who exists before the proof is checked (RFC 5802 section 5.1's advice).
    private let fakeSaltKey: [UInt8]

    private enum State: Sendable {
        case initial
        case sentServerFirst(user: String, credential: ScramCredential?, clientFirstBare: String, serverFirst: String, nonce: String, gs2Header: String)
        case done
    }

    public init(mechanism: ScramMechanism, fakeSaltKey: [UInt8]) {
        self.mechanism = mechanism
        self.fakeSaltKey = fakeSaltKey
    }

    public var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    public mutating func receive(_ message: [UInt8], credential lookup: (String) -> ScramCredential?) throws(AuthenticationFailure) -> Step {
        guard let text = String(validating: message, as: UTF8.self) else {
            throw AuthenticationFailure("SCRAM message is not UTF-8")
        }
        switch state {
        case .initial:
            return try receiveClientFirst(text, lookup: lookup)
        case .sentServerFirst(let user, let credential, let clientFirstBare, let serverFirst, let nonce, let gs2Header):
            state = .done
            return try receiveClientFinal(
                text, user: user, credential: credential, clientFirstBare: clientFirstBare, serverFirst: serverFirst, nonce: nonce,
                gs2Header: gs2Header)
        case .done:
            throw AuthenticationFailure("SCRAM exchange already completed")
        }
    }

    private mutating func receiveClientFirst(_ text: String, lookup: (String) -> ScramCredential?) throws(AuthenticationFailure) -> Step {
        // gs2-header: flag "," [authzid] ","
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw AuthenticationFailure("invalid SCRAM client-first message") }
        guard parts[0] == "n" || parts[0] == "y" else {
            throw AuthenticationFailure("SCRAM channel binding is not supported")
        }
        let authorizationId = parts[1].isEmpty ? nil : try Self.attribute("a", of: String(parts[1]))
        let gs2Header = "\(parts[0]),\(parts[1]),"
        let bare = String(parts[2])
        let attributes = bare.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard attributes.count >= 2, attributes[0].hasPrefix("n="), attributes[1].hasPrefix("r=") else {
            throw AuthenticationFailure("invalid SCRAM client-first message")
        }
        let user = try Self.unescape(String(attributes[0].dropFirst(2)))
        let clientNonce = String(attributes[1].dropFirst(2))
        guard !user.isEmpty, !clientNonce.isEmpty, !clientNonce.contains(",") else {
            throw AuthenticationFailure("invalid SCRAM client-first message")
        }
        for extensionAttribute in attributes.dropFirst(2) where extensionAttribute.hasPrefix("tokenauth=") {
            if extensionAttribute.lowercased() == "tokenauth=true" {
                throw AuthenticationFailure("delegation tokens are not supported")
            }
        }
        if let authorizationId, authorizationId != user {
            throw AuthenticationFailure("authorization id differs from the user name")
        }
        let credential = lookup(user)
        var generator = SystemRandomNumberGenerator()
        let serverNonce = Data((0..<24).map { _ in UInt8.random(in: .min ... .max, using: &generator) }).base64EncodedString()
            .replacingOccurrences(of: ",", with: "")
        let nonce = clientNonce + serverNonce
        let salt = credential?.salt ?? Array(mechanism.hmac(key: fakeSaltKey, Array(user.utf8)).prefix(32))
        let iterations = credential?.iterations ?? ScramMechanism.minimumIterations
        let serverFirst = "r=\(nonce),s=\(Data(salt).base64EncodedString()),i=\(iterations)"
        state = .sentServerFirst(user: user, credential: credential, clientFirstBare: bare, serverFirst: serverFirst, nonce: nonce, gs2Header: gs2Header)
        return .challenge(Array(serverFirst.utf8))
    }

    private func receiveClientFinal(
        _ text: String, user: String, credential: ScramCredential?, clientFirstBare: String, serverFirst: String, nonce: String, gs2Header: String
    ) throws(AuthenticationFailure) -> Step {
        guard let proofRange = text.range(of: ",p=", options: .backwards) else {
            throw AuthenticationFailure("invalid SCRAM client-final message")
        }
        let withoutProof = String(text[..<proofRange.lowerBound])
        let attributes = withoutProof.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard attributes.count >= 2, attributes[0].hasPrefix("c="), attributes[1].hasPrefix("r=") else {
            throw AuthenticationFailure("invalid SCRAM client-final message")
        }
        guard let binding = Data(base64Encoded: String(attributes[0].dropFirst(2))), binding == Data(gs2Header.utf8) else {
            throw AuthenticationFailure("SCRAM channel binding does not match")
        }
        // The nonce must end with the one the server sent (Apache Kafka's check: the Java client sends its
        // own nonce again in front of it; the proof covers what was sent either way).
        guard String(attributes[1].dropFirst(2)).hasSuffix(nonce) else {
            throw AuthenticationFailure("SCRAM nonce does not match")
        }
        guard let proof = Data(base64Encoded: String(text[proofRange.upperBound...])), proof.count == mechanism.hashByteCount else {
            throw AuthenticationFailure("invalid SCRAM client proof")
        }
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        guard let credential else {
            throw AuthenticationFailure("Authentication failed during authentication due to invalid credentials with SASL mechanism \(mechanism.rawValue)")
        }
        let clientSignature = mechanism.hmac(key: credential.storedKey, authMessage)
        let clientKey = zip(proof, clientSignature).map { $0 ^ $1 }
        guard ConstantTime.equal(mechanism.hash(clientKey), credential.storedKey) else {
            throw AuthenticationFailure("Authentication failed during authentication due to invalid credentials with SASL mechanism \(mechanism.rawValue)")
        }
        let serverSignature = mechanism.hmac(key: credential.serverKey, authMessage)
        return .authenticated(user: user, final: Array("v=\(Data(serverSignature).base64EncodedString())".utf8))
    }

    private static func attribute(_ name: Character, of text: String) throws(AuthenticationFailure) -> String {
        guard text.first == name, text.dropFirst().first == "=" else { throw AuthenticationFailure("invalid SCRAM attribute") }
        return try unescape(String(text.dropFirst(2)))
    }

    /// saslname: "=2C" is ",", "=3D" is "="; any other "=" is malformed (RFC 5802 section 5.1).
    static func unescape(_ name: String) throws(AuthenticationFailure) -> String {
        guard name.contains("=") else { return name }
        var result = ""
        var rest = Substring(name)
        while let index = rest.firstIndex(of: "=") {
            result += rest[..<index]
            let code = rest[index...].prefix(3)
            switch code {
            case "=2C": result += ","
            case "=3D": result += "="
            default: throw AuthenticationFailure("invalid SCRAM user name")
            }
            rest = rest[rest.index(index, offsetBy: 3)...]
        }
        return result + rest
    }
}

/// SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`.
public enum PlainMessage {
    public static func parse(_ bytes: [UInt8]) throws(AuthenticationFailure) -> (user: String, password: String) {
        let parts = bytes.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let authzid = String(validating: parts[0], as: UTF8.self),
              let user = String(validating: parts[1], as: UTF8.self), let password = String(validating: parts[2], as: UTF8.self),
              !user.isEmpty, !password.isEmpty
        else {
            throw AuthenticationFailure("invalid SASL/PLAIN message: expected authzid NUL user NUL password")
        }
        if !authzid.isEmpty && authzid != user {
            throw AuthenticationFailure("SASL/PLAIN authorization id differs from the user name")
        }
        return (user, password)
    }
}
