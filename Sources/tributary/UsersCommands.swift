import AccessControl
import ArgumentParser
import Foundation
import KafkaClient
import KafkaProtocol
import NIOCore
import NIOPosix
import NIOSSL

/// How `tributary users add/remove/list` reach a running server: its Kafka listener, as an administrator
/// (a super user, or with ALTER/DESCRIBE on the cluster under the ACL authorizer), through Kafka's own
/// AlterUserScramCredentials and DescribeUserScramCredentials, as `kafka-configs` does.
struct AdminConnectionOptions: ParsableArguments {
    @Option(name: .customLong("bootstrap-server"), help: "The Kafka listener, HOST:PORT.") var bootstrapServer = "127.0.0.1:9092"
    @Option(name: .customLong("security-protocol"), help: "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.") var securityProtocol = "SASL_PLAINTEXT"
    @Option(name: .customLong("tls-ca"), help: "PEM file of the CAs the server's certificate must chain to (SSL, SASL_SSL).") var tlsCA: String?
    @Option(name: .customLong("admin-user"), help: "Who logs in (SASL PLAIN); the password is TRIBUTARY_ADMIN_PASSWORD.") var adminUser = "admin"

    func validate() throws {
        guard ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].contains(securityProtocol.uppercased()) else {
            throw ValidationError("--security-protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
        }
    }

    /// Connects, authenticates and runs `body`; the connection is closed afterwards.
    func withConnection<T: Sendable>(_ body: @Sendable (KafkaClientConnection) async throws -> T) async throws -> T {
        let parts = bootstrapServer.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 2, let port = Int(parts.last!) else { throw ValidationError("--bootstrap-server must be HOST:PORT") }
        let host = parts.dropLast().joined(separator: ":")
        let securityProtocol = securityProtocol.uppercased()
        let usesTLS = securityProtocol.hasSuffix("SSL")
        var tls: (@Sendable (any Channel) throws -> Void)? = nil
        if usesTLS {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let tlsCA { configuration.trustRoots = .file(tlsCA) }
            let context = try NIOSSLContext(configuration: configuration)
            // SNI and name checks for a host name; an address literal has neither.
            let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
            let serverName = isAddress ? nil : host
            tls = { channel in
                try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
            }
        }
        let group = MultiThreadedEventLoopGroup.singleton
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let connection = try await KafkaClientConnection.connect(on: group.next(), to: address, clientId: "tributary-users", tls: tls).get()
        do {
            if securityProtocol.hasPrefix("SASL") {
                guard let password = ProcessInfo.processInfo.environment["TRIBUTARY_ADMIN_PASSWORD"] else {
                    throw ValidationError("set TRIBUTARY_ADMIN_PASSWORD to the password of \(adminUser) (never on the command line)")
                }
                if !usesTLS && !isLoopback(host) {
                    // SASL PLAIN sends the password as it is: say so when nothing encrypts it.
                    FileHandle.standardError.write(Data("warning: \(adminUser)'s password goes to \(bootstrapServer) unencrypted (SASL PLAIN over SASL_PLAINTEXT); use --security-protocol SASL_SSL\n".utf8))
                }
                try await authenticate(connection, user: adminUser, password: password)
            }
            let result = try await body(connection)
            connection.eventLoop.execute { connection.close() }
            return result
        } catch {
            connection.eventLoop.execute { connection.close() }
            throw error
        }
    }

    private func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host.hasPrefix("127.") || host == "::1"
    }

    private func authenticate(_ connection: KafkaClientConnection, user: String, password: String) async throws {
        let handshake = try await connection.call(.saslHandshake(SaslHandshakeRequest(mechanism: "PLAIN")), version: 1)
        guard case .saslHandshake(let shake) = handshake else { throw KafkaClientError("unexpected SaslHandshake response") }
        guard shake.errorCode == 0 else {
            throw KafkaClientError("the server does not offer SASL PLAIN (it offers \(shake.mechanisms.joined(separator: ", ")))")
        }
        let token = ByteBuffer(bytes: [0] + Array(user.utf8) + [0] + Array(password.utf8))
        let answer = try await connection.call(.saslAuthenticate(SaslAuthenticateRequest(authBytes: token)), version: 2)
        guard case .saslAuthenticate(let authenticated) = answer else { throw KafkaClientError("unexpected SaslAuthenticate response") }
        guard authenticated.errorCode == 0 else {
            throw KafkaClientError("authentication as \(user) failed: \(authenticated.errorMessage ?? "error \(authenticated.errorCode)")")
        }
    }
}

extension KafkaClientConnection {
    /// Sends a request from outside the event loop and waits for its response.
    func call(_ request: KafkaRequest, version: Int16) async throws -> KafkaResponse {
        try await eventLoop.flatSubmit { self.send(request, version: version) }.get()
    }

    func describeUsers(_ names: [String]?) async throws -> DescribeUserScramCredentialsResponse {
        let request = DescribeUserScramCredentialsRequest(users: names?.map { .init(name: $0) })
        guard case .describeUserScramCredentials(let response) = try await call(.describeUserScramCredentials(request), version: 0) else {
            throw KafkaClientError("unexpected DescribeUserScramCredentials response")
        }
        if response.errorCode != 0 {
            throw KafkaClientError("the server refused to describe users: \(response.errorMessage ?? "error \(response.errorCode)")")
        }
        return response
    }

    func alterUsers(_ request: AlterUserScramCredentialsRequest) async throws {
        guard case .alterUserScramCredentials(let response) = try await call(.alterUserScramCredentials(request), version: 0) else {
            throw KafkaClientError("unexpected AlterUserScramCredentials response")
        }
        let failures = response.results.filter { $0.errorCode != 0 }
        if !failures.isEmpty {
            throw KafkaClientError(failures.map { "\($0.user): \($0.errorMessage ?? "error \($0.errorCode)") (Kafka error \($0.errorCode))" }.joined(separator: "; "))
        }
    }
}

extension Users {
    /// Adds a user, or sets a new password: SCRAM-SHA-256 and -512 credentials computed here (the password
    /// never leaves this process), sent with AlterUserScramCredentials.
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add NAME to a running server's user base, or change their password; the password is read from standard input.")

        @Argument(help: "The user name.") var name: String
        @Option(help: "PBKDF2 iterations, 4096 to 16384.") var iterations: Int = 4096
        @OptionGroup var server: AdminConnectionOptions

        func validate() throws {
            if let problem = UserNames.problem(name) { throw ValidationError("user name \(problem)") }
            guard (ScramMechanism.minimumIterations...ScramMechanism.maximumIterations).contains(iterations) else {
                throw ValidationError("iterations must be from \(ScramMechanism.minimumIterations) to \(ScramMechanism.maximumIterations)")
            }
        }

        func run() async throws {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else { throw ValidationError("no password on standard input") }
            var request = AlterUserScramCredentialsRequest()
            for mechanism in ScramMechanism.allCases {
                var generator = SystemRandomNumberGenerator()
                let salt = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
                let salted = try mechanism.saltedPassword(password, salt: salt, iterations: iterations)
                request.upsertions.append(.init(
                    name: name, mechanism: mechanism.kafkaType, iterations: Int32(iterations), salt: ByteBuffer(bytes: salt),
                    saltedPassword: ByteBuffer(bytes: salted)))
            }
            let change = request
            try await server.withConnection { try await $0.alterUsers(change) }
            print("\(name): SCRAM-SHA-256 and SCRAM-SHA-512 credentials stored")
        }
    }

    /// Removes every credential of a user (they can no longer log in; a users file does not bring them back).
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove NAME from a running server's user base.")

        @Argument(help: "The user name.") var name: String
        @OptionGroup var server: AdminConnectionOptions

        func run() async throws {
            let name = self.name
            try await server.withConnection { connection in
                let described = try await connection.describeUsers([name])
                guard let result = described.results.first, result.errorCode == 0 else {
                    throw KafkaClientError("\(name): \(described.results.first?.errorMessage ?? "no such user")")
                }
                var request = AlterUserScramCredentialsRequest()
                request.deletions = result.credentialInfos.map { .init(name: name, mechanism: $0.mechanism) }
                try await connection.alterUsers(request)
            }
            print("\(name): removed")
        }
    }

    /// Lists users and their mechanisms (never salts or keys: the server does not give them out).
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the users of a running server and their SCRAM mechanisms.")

        @OptionGroup var server: AdminConnectionOptions

        func run() async throws {
            let described = try await server.withConnection { try await $0.describeUsers(nil) }
            for result in described.results.sorted(by: { $0.user < $1.user }) {
                let mechanisms = result.credentialInfos.map { info in
                    "\(ScramMechanism(kafkaType: info.mechanism)?.rawValue ?? "mechanism \(info.mechanism)") (\(info.iterations) iterations)"
                }
                print("\(result.user)\t\(mechanisms.joined(separator: ", "))")
            }
        }
    }
}
