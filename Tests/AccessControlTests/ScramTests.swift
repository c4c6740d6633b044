import Crypto
import Foundation
import KafkaProtocol
import LogStore
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import AccessControl

/// The client side of SCRAM, written here from RFC 5802 so the server is checked against an independent
/// computation.
struct ScramTestClient {
    let mechanism: ScramMechanism
    let user: String
    let password: String
    let nonce = "fyko+d2lbbFgONRv9qkxdawL"
    var clientFirstBare: String { "n=\(user),r=\(nonce)" }
    var clientFirst: [UInt8] { Array("n,,\(clientFirstBare)".utf8) }

    /// client-final for a server-first, and the server signature expected in server-final.
    func clientFinal(serverFirst: [UInt8]) throws -> (message: [UInt8], expectedServerSignature: String) {
        let text = String(decoding: serverFirst, as: UTF8.self)
        var fields: [String: String] = [:]
        for part in text.split(separator: ",") { fields[String(part.prefix(1))] = String(part.dropFirst(2)) }
        let salt = Array(Data(base64Encoded: fields["s"]!)!)
        let iterations = Int(fields["i"]!)!
        let salted = try mechanism.saltedPassword(password, salt: salt, iterations: iterations)
        let clientKey = mechanism.hmac(key: salted, Array("Client Key".utf8))
        let storedKey = mechanism.hash(clientKey)
        let withoutProof = "c=biws,r=\(fields["r"]!)"
        let authMessage = Array("\(clientFirstBare),\(text),\(withoutProof)".utf8)
        let signature = mechanism.hmac(key: storedKey, authMessage)
        let proof = zip(clientKey, signature).map { $0 ^ $1 }
        let serverKey = mechanism.hmac(key: salted, Array("Server Key".utf8))
        let serverSignature = mechanism.hmac(key: serverKey, authMessage)
        return (Array("\(withoutProof),p=\(Data(proof).base64EncodedString())".utf8), "v=\(Data(serverSignature).base64EncodedString())")
    }
}

@Suite struct ScramTests {
    /// RFC 7677 section 3: SCRAM-SHA-256 for user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==,
    /// 4096 iterations: the client proof and server signature of its exchange follow from our credential.
    @Test func rfc7677TestVector() throws {
        let salt = Array(Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")!)
        let mechanism = ScramMechanism.sha256
        let salted = try mechanism.saltedPassword("pencil", salt: salt, iterations: 4096)
        let credential = ScramCredential(mechanism: mechanism, saltedPassword: salted, salt: salt, iterations: 4096)
        let authMessage = Array(("n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            + "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0").utf8)
        let clientKey = mechanism.hmac(key: salted, Array("Client Key".utf8))
        let proof = zip(clientKey, mechanism.hmac(key: credential.storedKey, authMessage)).map { $0 ^ $1 }
        #expect(Data(proof).base64EncodedString() == "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        #expect(Data(mechanism.hmac(key: credential.serverKey, authMessage)).base64EncodedString() == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        #expect(credential.matches(password: "pencil", mechanism: mechanism))
        #expect(!credential.matches(password: "pencil ", mechanism: mechanism))
    }

    @Test(arguments: ScramMechanism.allCases) func exchangeSucceedsWithTheRightPassword(mechanism: ScramMechanism) throws {
        let credential = try ScramCredential(mechanism: mechanism, password: "s3cret")
        let client = ScramTestClient(mechanism: mechanism, user: "alice", password: "s3cret")
        var server = ScramServerExchange(mechanism: mechanism, fakeSaltKey: [1, 2, 3])
        guard case .challenge(let serverFirst) = try server.receive(client.clientFirst, credential: { $0 == "alice" ? credential : nil }) else {
            Issue.record("expected a challenge")
            return
        }
        #expect(String(decoding: serverFirst, as: UTF8.self).hasPrefix("r=\(client.nonce)"))
        let (final, expected) = try client.clientFinal(serverFirst: serverFirst)
        guard case .authenticated(let user, let serverFinal) = try server.receive(final, credential: { _ in nil }) else {
            Issue.record("expected success")
            return
        }
        #expect(user == "alice")
        #expect(String(decoding: serverFinal, as: UTF8.self) == expected)
        #expect(server.isComplete)
    }

    @Test func wrongPasswordAndUnknownUserFailAtTheProof() throws {
        let credential = try ScramCredential(mechanism: .sha256, password: "s3cret")
        for (user, password) in [("alice", "wrong"), ("mallory", "s3cret")] {
            let client = ScramTestClient(mechanism: .sha256, user: user, password: password)
            var server = ScramServerExchange(mechanism: .sha256, fakeSaltKey: [9, 9, 9])
            // An unknown user still gets a challenge (with a fake salt), so the exchange does not say who exists.
            guard case .challenge(let serverFirst) = try server.receive(client.clientFirst, credential: { $0 == "alice" ? credential : nil }) else {
                Issue.record("expected a challenge")
                continue
            }
            let (final, _) = try client.clientFinal(serverFirst: serverFirst)
            #expect(throws: AuthenticationFailure.self) { try server.receive(final, credential: { _ in nil }) }
        }
    }

    @Test func malformedMessagesAreRefused() throws {
        let messages: [String] = [
            "", "n,,", "p=tls-unique,,n=alice,r=abc", "n,,r=abc,n=alice", "n,,n=al=ice,r=abc", "n,,n=alice,r=abc,tokenauth=true",
            "n,a=bob,n=alice,r=abc",
        ]
        for message in messages {
            var server = ScramServerExchange(mechanism: .sha512, fakeSaltKey: [1])
            #expect(throws: AuthenticationFailure.self, "\(message)") { try server.receive(Array(message.utf8), credential: { _ in nil }) }
        }
        // Bytes that are not UTF-8.
        var server = ScramServerExchange(mechanism: .sha256, fakeSaltKey: [1])
        #expect(throws: AuthenticationFailure.self) { try server.receive([0xff, 0xfe], credential: { _ in nil }) }
        // A client-final with a nonce the server did not send.
        let credential = try ScramCredential(mechanism: .sha256, password: "pw")
        var exchange = ScramServerExchange(mechanism: .sha256, fakeSaltKey: [1])
        _ = try exchange.receive(Array("n,,n=alice,r=abc".utf8), credential: { _ in credential })
        #expect(throws: AuthenticationFailure.self) { try exchange.receive(Array("c=biws,r=abcOTHER,p=AAAA".utf8), credential: { _ in nil }) }
    }

    @Test func userNamesAreUnescaped() throws {
        #expect(try ScramServerExchange.unescape("a=2Cb=3Dc") == "a,b=c")
        #expect(throws: AuthenticationFailure.self) { try ScramServerExchange.unescape("a=2") }
    }

    @Test func plainMessages() throws {
        #expect(try PlainMessage.parse(Array("\u{0}alice\u{0}pw".utf8)) == ("alice", "pw"))
        #expect(try PlainMessage.parse(Array("alice\u{0}alice\u{0}pw with spaces".utf8)) == ("alice", "pw with spaces"))
        for bad in ["alice", "\u{0}alice", "\u{0}\u{0}pw", "bob\u{0}alice\u{0}pw", "\u{0}alice\u{0}"] {
            #expect(throws: AuthenticationFailure.self, "\(bad)") { try PlainMessage.parse(Array(bad.utf8)) }
        }
    }
}

@Suite struct UserStoreTests {
    @Test func verifiesPasswordsAndForgetsChangedOnes() async throws {
        let store = UserStore()
        try await store.apply([.upsert(user: "alice", mechanism: .sha512, credential: try ScramCredential(mechanism: .sha512, password: "one"))])
        #expect(store.verify(user: "alice", password: "one"))
        #expect(store.verify(user: "alice", password: "one"))  // from the cache
        #expect(!store.verify(user: "alice", password: "two"))
        #expect(!store.verify(user: "bob", password: "one"))
        try await store.apply([.upsert(user: "alice", mechanism: .sha512, credential: try ScramCredential(mechanism: .sha512, password: "two"))])
        #expect(!store.verify(user: "alice", password: "one"))
        #expect(store.verify(user: "alice", password: "two"))
        try await store.apply([.delete(user: "alice", mechanism: .sha512)])
        #expect(store.user("alice") == nil)
        #expect(!store.verify(user: "alice", password: "two"))
    }

    @Test func survivesARestartThroughTheLog() async throws {
        let directory = NSTemporaryDirectory() + "tributary-users-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let partition = TopicPartition(topic: UserStore.topic, partition: 0)
        var config = LogConfig()
        config.cleanupPolicy = .compact

        var manager = LogManager(dataDirectory: directory, threadPool: pool, logger: Logger(label: "test"))
        try manager.start()
        var store = try await UserStore.load(from: try manager.openLog(partition, config: config).log, logger: Logger(label: "test"))
        #expect(store.isEmpty)
        try await store.apply([
            .upsert(user: "alice", mechanism: .sha256, credential: try ScramCredential(mechanism: .sha256, password: "a")),
            .upsert(user: "bob", mechanism: .sha256, credential: try ScramCredential(mechanism: .sha256, password: "b")),
            .upsert(user: "bob", mechanism: .sha512, credential: try ScramCredential(mechanism: .sha512, password: "b")),
        ])
        try await store.apply([.delete(user: "alice", mechanism: .sha256), .delete(user: "bob", mechanism: .sha256)])
        manager.shutdown()

        manager = LogManager(dataDirectory: directory, threadPool: pool, logger: Logger(label: "test"))
        try manager.start()
        store = try await UserStore.load(from: try manager.openLog(partition, config: config).log, logger: Logger(label: "test"))
        #expect(store.users.map(\.name) == ["bob"])
        #expect(store.user("bob")?.mechanisms == [.sha512])
        #expect(store.verify(user: "bob", password: "b"))
        // alice was removed: the store remembers her, so a users file does not bring her back.
        #expect(store.knows("alice") && store.user("alice") == nil)
        #expect(try UsersFile.missingChanges([.plaintext(user: "alice", password: "a")], in: store).isEmpty)
        manager.shutdown()
        try await pool.shutdownGracefully()
        // Nothing in the data directory holds the password.
        for file in FileManager.default.enumerator(atPath: directory)?.compactMap({ $0 as? String }) ?? [] {
            let data = FileManager.default.contents(atPath: directory + "/" + file) ?? Data()
            #expect(data.range(of: Data("\"b\"".utf8)) == nil)
        }
    }

    @Test func usersFileParsesHashedAndPlainLines() throws {
        let credential = try ScramCredential(mechanism: .sha256, password: "x")
        let text = """
            # users
            \(UsersFile.line(user: "alice", mechanism: .sha256, credential: credential))
            bob PLAIN pass word with spaces

            """
        let entries = try UsersFile.parse(text, source: "users.txt")
        #expect(entries == [.hashed(user: "alice", mechanism: .sha256, credential: credential), .plaintext(user: "bob", password: "pass word with spaces")])
        let store = UserStore(users: [UserRecord(name: "alice", credentials: ["SCRAM-SHA-256": credential])])
        let changes = try UsersFile.missingChanges(entries, in: store)
        #expect(changes.map(\.user) == ["bob", "bob"])
        #expect(throws: (any Error).self) { try UsersFile.parse("carol SCRAM-SHA-256 100 AA== AA== AA==", source: "f") }
        #expect(throws: (any Error).self) { try UsersFile.parse("carol MD5 x", source: "f") }
    }
}
