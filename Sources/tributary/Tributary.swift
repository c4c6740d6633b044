import AccessControl
import ArgumentParser
import Foundation
import KafkaProtocol
import Logging
import TributaryServer

@main
struct Tributary: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tributary",
        abstract: "A Kafka-wire-compatible log server with an MQTT broker alongside.",
        version: TributaryServer.version,
        subcommands: [Serve.self, Users.self, ApiKeys.self],
        defaultSubcommand: Serve.self
    )
}

/// `tributary serve`: every setting can come from a flag, an environment variable (TRIBUTARY_ + the flag
/// name in capitals, dashes as underscores) or the YAML file given with --config; flags win, then the
/// environment, then the file.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the server.",
        discussion: ServerConfiguration.settings.map { "  \($0.name): \($0.help)" }.joined(separator: "\n")
    )

    @Option(help: "YAML config file whose keys are the flag names (environment: TRIBUTARY_CONFIG).")
    var config: String?

    @Option(help: "Data directory.") var data: String?
    @Option(name: .customLong("kafka-listen"), help: "Kafka listener (PLAINTEXT), HOST:PORT or off.") var kafkaListen: String?
    @Option(name: .customLong("kafka-tls-listen"), help: "Kafka listener with TLS (SSL), HOST:PORT or off.") var kafkaTlsListen: String?
    @Option(help: "Kafka address advertised to clients, HOST:PORT.") var advertised: String?
    @Option(name: .customLong("node-id"), help: "Broker id.") var nodeId: String?
    @Option(name: .customLong("default-partitions"), help: "Partitions of auto-created topics.") var defaultPartitions: String?
    @Option(name: .customLong("auto-create-topics"), help: "true or false.") var autoCreateTopics: String?
    @Option(name: .customLong("max-request-bytes"), help: "Largest Kafka request.") var maxRequestBytes: String?
    @Option(name: .customLong("connections-max-idle-ms"), help: "Idle connection timeout.") var connectionsMaxIdleMs: String?
    @Option(name: .customLong("log-level"), help: "trace ... critical.") var logLevel: String?
    @Option(name: .customLong("flush-policy"), help: "every-write, interval:MS or os.") var flushPolicy: String?
    @Option(name: .customLong("log-segment-bytes"), help: "Segment size.") var logSegmentBytes: String?
    @Option(name: .customLong("log-segment-ms"), help: "Segment age before rolling.") var logSegmentMs: String?
    @Option(name: .customLong("log-retention-ms"), help: "Retention time (-1: forever).") var logRetentionMs: String?
    @Option(name: .customLong("log-retention-bytes"), help: "Retention size per partition (-1: none).") var logRetentionBytes: String?
    @Option(name: .customLong("log-retention-check-interval-ms"), help: "How often retention runs.") var logRetentionCheckIntervalMs: String?
    @Option(name: .customLong("checkpoint-interval-ms"), help: "How often recovery points are checkpointed.") var checkpointIntervalMs: String?
    @Option(name: .customLong("group-min-session-timeout-ms"), help: "Smallest session timeout accepted.") var groupMinSessionTimeoutMs: String?
    @Option(name: .customLong("group-max-session-timeout-ms"), help: "Largest session timeout accepted.") var groupMaxSessionTimeoutMs: String?
    @Option(name: .customLong("group-initial-rebalance-delay-ms"), help: "Initial rebalance delay of new groups.") var groupInitialRebalanceDelayMs: String?
    @Option(name: .customLong("offsets-topic-partitions"), help: "Partitions of __consumer_offsets.") var offsetsTopicPartitions: String?
    @Option(name: .customLong("offsets-retention-minutes"), help: "Retention of offsets of empty groups.") var offsetsRetentionMinutes: String?
    @Option(name: .customLong("mqtt-listen"), help: "MQTT listener, HOST:PORT or off (default 0.0.0.0:1883).") var mqttListen: String?
    @Option(name: .customLong("mqtt-ws-listen"), help: "MQTT over WebSocket listener, HOST:PORT or off.") var mqttWsListen: String?
    @Option(name: .customLong("mqtt-tls-listen"), help: "MQTT over TLS listener, HOST:PORT or off.") var mqttTlsListen: String?
    @Option(name: .customLong("mqtt-wss-listen"), help: "MQTT over WebSocket with TLS listener, HOST:PORT or off.") var mqttWssListen: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain of the TLS listeners.") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key of the TLS listeners.") var tlsKey: String?
    @Option(name: .customLong("tls-ca"), help: "PEM CAs that client certificates must chain to.") var tlsCa: String?
    @Option(name: .customLong("tls-client-auth"), help: "none, optional or require.") var tlsClientAuth: String?
    @Option(name: .customLong("mqtt-max-packet-size"), help: "Largest MQTT packet accepted.") var mqttMaxPacketSize: String?
    @Option(name: .customLong("mqtt-receive-maximum"), help: "Unacknowledged publishes a client may send.") var mqttReceiveMaximum: String?
    @Option(name: .customLong("mqtt-max-inflight"), help: "Unacknowledged messages sent to a client.") var mqttMaxInflight: String?
    @Option(name: .customLong("mqtt-max-queued-messages"), help: "Messages queued per client.") var mqttMaxQueuedMessages: String?
    @Option(name: .customLong("mqtt-max-connections"), help: "Simultaneous MQTT connections.") var mqttMaxConnections: String?
    @Option(name: .customLong("mqtt-max-topic-length"), help: "Longest topic, bytes.") var mqttMaxTopicLength: String?
    @Option(name: .customLong("mqtt-max-topic-levels"), help: "Most topic levels.") var mqttMaxTopicLevels: String?
    @Option(name: .customLong("mqtt-topic-alias-maximum"), help: "Topic aliases a client may use.") var mqttTopicAliasMaximum: String?
    @Option(name: .customLong("mqtt-connect-timeout-ms"), help: "Time allowed for CONNECT.") var mqttConnectTimeoutMs: String?
    @Option(name: .customLong("mqtt-max-keepalive"), help: "Longest keep alive accepted, seconds (0: any).") var mqttMaxKeepalive: String?
    @Option(name: .customLong("mqtt-sys-interval-seconds"), help: "How often $SYS topics are refreshed.") var mqttSysIntervalSeconds: String?
    @Option(name: .customLong("mqtt-allow-anonymous"), help: "true or false.") var mqttAllowAnonymous: String?
    @Option(name: .customLong("mqtt-users"), help: ArgumentHelp("Refused: passwords on a command line show in ps. Use TRIBUTARY_MQTT_USERS, the config file or --users-file.", visibility: .hidden)) var mqttUsers: String?
    @Option(name: .customLong("jwt-jwks-file"), help: "JWKS file for JWT passwords.") var jwtJwksFile: String?
    @Option(name: .customLong("jwt-hmac-secret-file"), help: "HS256 secret file for JWT passwords.") var jwtHmacSecretFile: String?
    @Option(name: .customLong("jwt-issuer"), help: "Required iss claim.") var jwtIssuer: String?
    @Option(name: .customLong("jwt-audience"), help: "Required aud entry.") var jwtAudience: String?
    @Option(name: .customLong("mqtt-cert-as-username"), help: "off, cn, dn or san.") var mqttCertAsUsername: String?
    @Option(name: .customLong("mqtt-cert-as-clientid"), help: "off, cn, dn or san.") var mqttCertAsClientid: String?
    @Option(name: .customLong("mqtt-acl-no-match"), help: "allow or deny when no MQTT topic rule matches.") var mqttAclNoMatch: String?
    @Option(name: .customLong("users-file"), help: "Users to add to the user base at start (hashed lines, or NAME PLAIN PASSWORD).") var usersFile: String?
    @Option(name: .customLong("sasl-enabled-mechanisms"), help: "SASL mechanisms of SASL listeners.") var saslEnabledMechanisms: String?
    @Option(name: .customLong("connections-max-reauth-ms"), help: "SASL session lifetime (0: unlimited).") var connectionsMaxReauthMs: String?
    @Option(name: .customLong("super-users"), help: "Principals allowed everything, User:a;User:b.") var superUsers: String?
    @Option(name: .customLong("mqtt-auth-http-url"), help: "HTTP service that decides MQTT logins.") var mqttAuthHttpUrl: String?
    @Option(name: .customLong("mqtt-auth-http-timeout-ms"), help: "Timeout of the HTTP authentication service.") var mqttAuthHttpTimeoutMs: String?
    @Option(name: .customLong("mqtt-auth-http-cache-ttl-ms"), help: "How long its answers are reused (0: never).") var mqttAuthHttpCacheTtlMs: String?
    @Option(name: .customLong("mqtt-device-secrets-file"), help: "PRODUCT_KEY DEVICE_NAME SECRET lines for signed passwords.") var mqttDeviceSecretsFile: String?
    @Option(name: .customLong("mqtt-signed-password-max-skew-ms"), help: "Largest clock difference of a signed password's timestamp (0: unchecked).") var mqttSignedPasswordMaxSkewMs: String?
    @Option(name: .customLong("mqtt-authenticators"), help: "MQTT authenticator chain: jwt,cert,signed,users,http.") var mqttAuthenticators: String?
    @Option(name: .customLong("mqtt-authenticators-tcp"), help: "Chain of the plain MQTT listener.") var mqttAuthenticatorsTcp: String?
    @Option(name: .customLong("mqtt-authenticators-ws"), help: "Chain of the MQTT WebSocket listener.") var mqttAuthenticatorsWs: String?
    @Option(name: .customLong("mqtt-authenticators-tls"), help: "Chain of the MQTT TLS listener.") var mqttAuthenticatorsTls: String?
    @Option(name: .customLong("mqtt-authenticators-wss"), help: "Chain of the MQTT secure WebSocket listener.") var mqttAuthenticatorsWss: String?
    @Option(name: .customLong("kafka-authorizer"), help: "none, or acl: Kafka ACLs decide what each principal may do.") var kafkaAuthorizer: String?
    @Option(name: .customLong("allow-everyone-if-no-acl-found"), help: "With the acl authorizer: resources no ACL names are open to all (true/false).") var allowEveryoneIfNoAclFound: String?
    @Option(name: .customLong("mqtt-events-topic"), help: "Topic of device events.") var mqttEventsTopic: String?

    var flags: [String: String] {
        let pairs: [(String, String?)] = [
            ("data", data), ("kafka-listen", kafkaListen), ("kafka-tls-listen", kafkaTlsListen), ("advertised", advertised), ("node-id", nodeId),
            ("default-partitions", defaultPartitions), ("auto-create-topics", autoCreateTopics),
            ("max-request-bytes", maxRequestBytes), ("connections-max-idle-ms", connectionsMaxIdleMs),
            ("log-level", logLevel), ("flush-policy", flushPolicy), ("log-segment-bytes", logSegmentBytes),
            ("log-segment-ms", logSegmentMs), ("log-retention-ms", logRetentionMs), ("log-retention-bytes", logRetentionBytes),
            ("log-retention-check-interval-ms", logRetentionCheckIntervalMs), ("checkpoint-interval-ms", checkpointIntervalMs),
            ("group-min-session-timeout-ms", groupMinSessionTimeoutMs), ("group-max-session-timeout-ms", groupMaxSessionTimeoutMs),
            ("group-initial-rebalance-delay-ms", groupInitialRebalanceDelayMs), ("offsets-topic-partitions", offsetsTopicPartitions),
            ("offsets-retention-minutes", offsetsRetentionMinutes),
            ("mqtt-listen", mqttListen), ("mqtt-ws-listen", mqttWsListen), ("mqtt-tls-listen", mqttTlsListen), ("mqtt-wss-listen", mqttWssListen),
            ("tls-cert", tlsCert), ("tls-key", tlsKey), ("tls-ca", tlsCa), ("tls-client-auth", tlsClientAuth),
            ("mqtt-max-packet-size", mqttMaxPacketSize),
            ("mqtt-receive-maximum", mqttReceiveMaximum), ("mqtt-max-inflight", mqttMaxInflight), ("mqtt-max-queued-messages", mqttMaxQueuedMessages),
            ("mqtt-max-connections", mqttMaxConnections), ("mqtt-max-topic-length", mqttMaxTopicLength), ("mqtt-max-topic-levels", mqttMaxTopicLevels),
            ("mqtt-topic-alias-maximum", mqttTopicAliasMaximum), ("mqtt-connect-timeout-ms", mqttConnectTimeoutMs), ("mqtt-max-keepalive", mqttMaxKeepalive),
            ("mqtt-sys-interval-seconds", mqttSysIntervalSeconds), ("mqtt-allow-anonymous", mqttAllowAnonymous),
            ("users-file", usersFile), ("mqtt-acl-no-match", mqttAclNoMatch),
            ("jwt-jwks-file", jwtJwksFile), ("jwt-hmac-secret-file", jwtHmacSecretFile), ("jwt-issuer", jwtIssuer), ("jwt-audience", jwtAudience),
            ("mqtt-cert-as-username", mqttCertAsUsername), ("mqtt-cert-as-clientid", mqttCertAsClientid), ("sasl-enabled-mechanisms", saslEnabledMechanisms), ("connections-max-reauth-ms", connectionsMaxReauthMs),
            ("mqtt-auth-http-url", mqttAuthHttpUrl), ("mqtt-auth-http-timeout-ms", mqttAuthHttpTimeoutMs), ("mqtt-auth-http-cache-ttl-ms", mqttAuthHttpCacheTtlMs),
            ("mqtt-device-secrets-file", mqttDeviceSecretsFile), ("mqtt-signed-password-max-skew-ms", mqttSignedPasswordMaxSkewMs),
            ("mqtt-authenticators", mqttAuthenticators), ("mqtt-authenticators-tcp", mqttAuthenticatorsTcp), ("mqtt-authenticators-ws", mqttAuthenticatorsWs),
            ("mqtt-authenticators-tls", mqttAuthenticatorsTls), ("mqtt-authenticators-wss", mqttAuthenticatorsWss),
            ("super-users", superUsers), ("kafka-authorizer", kafkaAuthorizer), ("allow-everyone-if-no-acl-found", allowEveryoneIfNoAclFound),
            ("mqtt-events-topic", mqttEventsTopic),
        ]
        var result: [String: String] = [:]
        for (name, value) in pairs { if let value { result[name] = value } }
        return result
    }

    func validate() throws {
        if mqttUsers != nil {
            throw ValidationError(
                "--mqtt-users puts passwords on the command line, where every local user sees them in ps; "
                    + "set TRIBUTARY_MQTT_USERS, mqtt-users in the config file, or a --users-file instead")
        }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration: ServerConfiguration
        do {
            configuration = try ServerConfiguration.resolve(configFile: config ?? environment["TRIBUTARY_CONFIG"], environment: environment, flags: flags)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "tributary")
        do {
            try await TributaryServer.run(configuration: configuration, logger: logger)
        } catch {
            logger.critical("tributary failed", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}

/// `tributary users`: the user base. `add`, `remove` and `list` work on a running server through Kafka's
/// AlterUserScramCredentials and DescribeUserScramCredentials (UsersCommands.swift); `hash` prints
/// users-file lines, which seed it.
struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the user base of a running server, or print users-file lines.", subcommands: [Add.self, Remove.self, List.self, Hash.self])

    /// Prints the users-file lines of a password read from standard input: salted SCRAM keys, never the
    /// password, ready for `users-file`.
    struct Hash: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print users-file lines (SCRAM-SHA-256 and -512) for NAME; the password is read from standard input.")

        @Argument(help: "The user name.") var name: String
        @Option(help: "PBKDF2 iterations, 4096 to 16384.") var iterations: Int = 4096

        func validate() throws {
            if let problem = UserNames.problem(name) { throw ValidationError("user name \(problem)") }
            guard (ScramMechanism.minimumIterations...ScramMechanism.maximumIterations).contains(iterations) else {
                throw ValidationError("iterations must be from \(ScramMechanism.minimumIterations) to \(ScramMechanism.maximumIterations)")
            }
        }

        func run() throws {
            guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                throw ValidationError("no password on standard input")
            }
            for mechanism in ScramMechanism.allCases {
                let credential = try ScramCredential(mechanism: mechanism, password: line, iterations: iterations)
                print(UsersFile.line(user: name, mechanism: mechanism, credential: credential))
            }
        }
    }
}

/// Lists the API keys and versions the codec reads and writes.
struct ApiKeys: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "api-keys", abstract: "List the Kafka API keys the codec supports.")

    func run() {
        for key in KafkaApiKey.allCases {
            let versions = key.validVersions
            print("\(key.rawValue)\t\(key.name)\t\(versions.lowerBound)-\(versions.upperBound)")
        }
    }
}
