public import Bridge
import Coordinator
import Foundation
public import KafkaServer
public import MQTTBroker
import MQTTProtocol
public import LogStore
public import Logging
import Yams

/// `host:port`.
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(parsing text: String) {
        // "[::1]:9092", "localhost:9092", ":9092"
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let colon = trimmed.lastIndex(of: ":"), let port = Int(trimmed[trimmed.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(trimmed[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The certificates of the TLS listeners.
public struct TLSSettings: Sendable, Equatable {
    public enum ClientAuthentication: String, Sendable {
        case none
        /// A client may present a certificate; one that does not chain to `tls-ca` is refused.
        case optional
        case require
    }

    public var certificateChainFile: String? = nil
    public var privateKeyFile: String? = nil
    public var trustedCertificateAuthoritiesFile: String? = nil
    public var clientAuthentication = ClientAuthentication.none

    public init() {}
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Everything `tributary serve` can be told. Each setting has one name used three ways: the flag
/// `--kafka-listen`, the environment variable `TRIBUTARY_KAFKA_LISTEN`, and the YAML key `kafka-listen`.
/// Flags win over the environment, which wins over the file, which wins over the defaults.
public struct ServerConfiguration: Sendable {
    public var dataDirectory = "./data"
    /// The plaintext Kafka listener; nil turns it off (`kafka-listen: off`).
    public var kafkaListen: HostPort? = HostPort(host: "0.0.0.0", port: 9092)
    /// The Kafka listener with TLS (Kafka's `SSL` security protocol); off unless set.
    public var kafkaTLSListen: HostPort? = nil
    /// The security protocols of the two Kafka listeners: `kafka-listen: SASL_PLAINTEXT://0.0.0.0:9092`,
    /// `kafka-tls-listen: SASL_SSL://0.0.0.0:9093` ask for SASL authentication on them.
    public var kafkaListenProtocol: KafkaEndpoint.SecurityProtocol = .plaintext
    public var kafkaTLSListenProtocol: KafkaEndpoint.SecurityProtocol = .ssl
    /// The bootstrap file of the user base (AccessControl/UsersFile.swift).
    public var usersFile: String? = nil
    /// Users given as `mqtt-users` (environment or config file only): imported into the user base, hashed.
    public var plaintextUsers: [(user: String, password: String)] = []
    /// OAUTHBEARER is left out when no JWT keys are configured.
    public var saslMechanisms = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
    public var maxReauthMilliseconds: Int64 = 0
    public var superUsers: Set<String> = []
    /// `kafka-authorizer: acl` turns on Kafka's ACL authorizer (ACLs in `__acls`, managed with CreateAcls,
    /// DescribeAcls and DeleteAcls); off, every Kafka principal may do everything.
    public var aclAuthorizer = false
    /// `allow.everyone.if.no.acl.found`: with the authorizer, whether a resource no ACL names is open to all.
    public var allowEveryoneIfNoAclFound = false
    /// What of a verified MQTT client certificate becomes the user name and client id (off, cn, dn, san).
    public var mqttCertificateAsUsername = "off"
    public var mqttCertificateAsClientId = "off"
    /// The HTTP authentication service (EMQX's HTTP authenticator), its timeout and how long answers are cached.
    public var mqttAuthHTTPURL: String? = nil
    public var mqttAuthHTTPTimeoutMilliseconds: Int64 = 5000
    public var mqttAuthHTTPCacheTTLMilliseconds: Int64 = 60_000
    /// Secrets of devices that log in with signed passwords (`PRODUCT DEVICE SECRET` lines), and how far their
    /// timestamp may be from the server's clock (nil: not checked).
    public var mqttDeviceSecretsFile: String? = nil
    public var mqttSignedPasswordMaxSkewMilliseconds: Int64? = nil
    /// The MQTT authenticator chain, by name in order (jwt, cert, signed, users, http); nil: every configured
    /// one in that order. Per listener kind, a chain of its own.
    public var mqttAuthenticators: [String]? = nil
    public var mqttListenerAuthenticators: [MQTTListenerKind: [String]] = [:]
    /// Keys MQTT passwords that are JWTs are checked against: a JWKS file, an HMAC (HS256) secret file.
    public var jwtJWKSFile: String? = nil
    public var jwtHMACSecretFile: String? = nil
    public var jwtIssuer: String? = nil
    public var jwtAudience: String? = nil
    /// What clients are told to connect to; by default the listener's address, with "localhost" for a
    /// wildcard host.
    public var advertised: HostPort? = nil
    public var nodeId: Int32 = 0
    public var defaultPartitions: Int32 = 1
    public var autoCreateTopics = true
    public var maxRequestBytes = 100 * 1024 * 1024
    public var connectionsMaxIdleMilliseconds: Int64 = 600_000
    public var logLevel: Logger.Level = .info
    public var logDefaults = LogConfig()
    public var retentionCheckIntervalMilliseconds: Int64 = 300_000
    /// How often recovery points and log start offsets are checkpointed.
    public var checkpointIntervalMilliseconds: Int64 = 10_000
    public var groupSettings = GroupCoordinator.Settings()
    /// The MQTT listener; nil turns it off (`mqtt-listen: off`).
    public var mqttListen: HostPort? = HostPort(host: "0.0.0.0", port: 1883)
    /// MQTT over WebSocket (path /mqtt, subprotocol mqtt); off unless set.
    public var mqttWebSocketListen: HostPort? = nil
    /// MQTT over TLS (usually port 8883) and over WebSocket with TLS; off unless set.
    public var mqttTLSListen: HostPort? = nil
    public var mqttSecureWebSocketListen: HostPort? = nil
    /// Certificates of every TLS listener.
    public var tls = TLSSettings()
    public var mqtt = MQTTBrokerConfiguration()
    /// Ingress routes from the config file's `routes:`; the fallback `#` → mqtt.messages follows them.
    public var routes: [IngressRoute] = []
    /// Device events topic (`events: {topic: ...}`).
    public var eventsTopic = "mqtt.events"
    /// Rules (`rules:`) and downlink routes (`downlinks:`), reloaded from the file on SIGHUP.
    public var rules: [RuleDefinition] = []
    public var downlinks: [DownlinkDefinition] = []
    /// The config file, for reloads.
    public var configFile: String? = nil

    public init() {}

    /// The settings, their meaning, and how each is parsed. Names are the flag names without dashes.
    public static let settings: [(name: String, help: String)] = [
        ("data", "Data directory (default ./data)."),
        ("kafka-listen", "Kafka listener without TLS, [PLAINTEXT|SASL_PLAINTEXT://]HOST:PORT, or off (default 0.0.0.0:9092, PLAINTEXT)."),
        ("kafka-tls-listen", "Kafka listener with TLS, [SSL|SASL_SSL://]HOST:PORT, or off (default off; SSL)."),
        ("users-file", "File of users to add to the user base at start: hashed SCRAM lines, or NAME PLAIN PASSWORD to import (default none)."),
        ("sasl-enabled-mechanisms", "SASL mechanisms of SASL listeners, comma-separated (default PLAIN,SCRAM-SHA-256,SCRAM-SHA-512, and OAUTHBEARER with JWT keys)."),
        ("connections-max-reauth-ms", "Lifetime of an authenticated SASL session; clients re-authenticate before it ends (default 0: unlimited)."),
        ("super-users", "Principals allowed everything, e.g. User:admin;User:ops (default none)."),
        ("kafka-authorizer", "none, or acl: Kafka ACLs (CreateAcls/DescribeAcls/DeleteAcls) decide what each principal may do (default none)."),
        ("allow-everyone-if-no-acl-found", "With kafka-authorizer acl, whether resources no ACL names are open to everyone, true or false (default false)."),
        ("advertised", "Kafka address advertised to clients, HOST:PORT (default: the listener, localhost for 0.0.0.0)."),
        ("node-id", "Broker id (default 0)."),
        ("default-partitions", "Partitions of auto-created topics, num.partitions (default 1)."),
        ("auto-create-topics", "Create unknown topics on Metadata and Produce, true or false (default true)."),
        ("max-request-bytes", "Largest Kafka request, socket.request.max.bytes (default 104857600)."),
        ("connections-max-idle-ms", "Close Kafka connections idle this long (default 600000)."),
        ("log-level", "trace, debug, info, notice, warning, error or critical (default info)."),
        ("flush-policy", "every-write (group commit, the default), interval:MILLISECONDS, or os."),
        ("log-segment-bytes", "Segment size, log.segment.bytes (default 1073741824)."),
        ("log-segment-ms", "Segment age before rolling, log.roll.ms (default 604800000)."),
        ("log-retention-ms", "Retention time, log.retention.ms; -1 keeps forever (default 604800000)."),
        ("log-retention-bytes", "Retention size per partition, log.retention.bytes; -1 for none (default -1)."),
        ("log-retention-check-interval-ms", "How often retention runs (default 300000)."),
        ("checkpoint-interval-ms", "How often recovery points are checkpointed (default 10000)."),
        ("group-min-session-timeout-ms", "Smallest consumer session timeout accepted, group.min.session.timeout.ms (default 6000)."),
        ("group-max-session-timeout-ms", "Largest consumer session timeout accepted, group.max.session.timeout.ms (default 1800000)."),
        ("group-initial-rebalance-delay-ms", "How long a new group's first rebalance waits for more members (default 3000)."),
        ("offsets-topic-partitions", "Partitions of __consumer_offsets, offsets.topic.num.partitions (default 50)."),
        ("offsets-retention-minutes", "How long offsets of empty groups are kept, offsets.retention.minutes (default 10080)."),
        ("mqtt-listen", "MQTT listener, HOST:PORT, or off (default 0.0.0.0:1883)."),
        ("mqtt-ws-listen", "MQTT over WebSocket listener (path /mqtt), HOST:PORT, or off (default off)."),
        ("mqtt-tls-listen", "MQTT over TLS listener, HOST:PORT (usually :8883), or off (default off)."),
        ("mqtt-wss-listen", "MQTT over WebSocket with TLS listener (path /mqtt), HOST:PORT, or off (default off)."),
        ("tls-cert", "PEM file with the certificate chain of the TLS listeners (server certificate first)."),
        ("tls-key", "PEM file with the private key of that certificate."),
        ("tls-ca", "PEM file of the CAs that client certificates must chain to."),
        ("tls-client-auth", "Client certificates on TLS listeners: none, optional (checked when given) or require (default none)."),
        ("mqtt-max-packet-size", "Largest MQTT packet accepted, bytes (default 1048576)."),
        ("mqtt-receive-maximum", "Unacknowledged QoS 1/2 publishes a client may send (default 100)."),
        ("mqtt-max-inflight", "Unacknowledged QoS 1/2 messages sent to a client (default 100)."),
        ("mqtt-max-queued-messages", "Messages queued per connected client behind the inflight window (default 10000)."),
        ("mqtt-max-connections", "Simultaneous MQTT connections (default 100000)."),
        ("mqtt-max-topic-length", "Longest topic name or filter, bytes (default 65535)."),
        ("mqtt-max-topic-levels", "Most levels in a topic name or filter (default 128)."),
        ("mqtt-topic-alias-maximum", "Topic aliases a client may use (default 64)."),
        ("mqtt-max-keepalive", "Longest MQTT keep alive accepted, seconds; 0 for any (default 0). MQTT 5 clients asking for more are told this one."),
        ("mqtt-connect-timeout-ms", "Close connections that send no CONNECT in this time (default 10000)."),
        ("mqtt-sys-interval-seconds", "How often $SYS topics are refreshed (default 10)."),
        ("mqtt-allow-anonymous", "Accept clients without a user name, true or false (default true)."),
        ("jwt-jwks-file", "JWKS file of the public keys MQTT passwords that are JWTs are checked against (default none)."),
        ("jwt-hmac-secret-file", "File holding the HS256 secret (32 bytes or more) for JWT passwords (default none)."),
        ("jwt-issuer", "Required iss claim of JWTs (default: not checked)."),
        ("jwt-audience", "Audience JWTs must name in aud (default: not checked)."),
        ("mqtt-cert-as-username", "off, cn, dn or san: a verified MQTT client certificate logs the client in as this name (default off)."),
        ("mqtt-auth-http-url", "URL of an HTTP service that decides MQTT logins (POST JSON; answers allow, deny or ignore) (default none)."),
        ("mqtt-auth-http-timeout-ms", "How long the HTTP authentication service may take before it is ignored (default 5000)."),
        ("mqtt-auth-http-cache-ttl-ms", "How long its answers are reused for the same client, user name and password; 0 for never (default 60000)."),
        ("mqtt-device-secrets-file", "File of PRODUCT_KEY DEVICE_NAME SECRET lines for devices with signed passwords (default none)."),
        ("mqtt-signed-password-max-skew-ms", "Refuse signed passwords whose timestamp is further than this from the clock; 0 for no check (default 0)."),
        ("mqtt-authenticators", "MQTT authenticator chain, comma-separated from jwt, cert, signed, users, http (default: every configured one, in that order)."),
        ("mqtt-authenticators-tcp", "Authenticator chain of the plain MQTT listener (default: mqtt-authenticators)."),
        ("mqtt-authenticators-ws", "Authenticator chain of the MQTT WebSocket listener (default: mqtt-authenticators)."),
        ("mqtt-authenticators-tls", "Authenticator chain of the MQTT TLS listener (default: mqtt-authenticators)."),
        ("mqtt-authenticators-wss", "Authenticator chain of the MQTT secure WebSocket listener (default: mqtt-authenticators)."),
        ("mqtt-cert-as-clientid", "off, cn, dn or san: and uses it as the client id (default off)."),
        ("mqtt-acl-no-match", "allow or deny: what MQTT topic rules (mqtt-acl in the config file) decide when none matches (default deny once there are rules)."),
        ("mqtt-users", "user:password pairs imported into the user base at start (environment or config file only; default none)."),
        ("mqtt-events-topic", "Topic of device events (default mqtt.events; also events: {topic: ...})."),
    ]

    /// Keys of the config file that hold structures rather than one value.
    static let structuredKeys: Set<String> = ["routes", "events", "rules", "downlinks", "mqtt-acl"]

    /// Builds the configuration from a YAML file (optional), environment variables and flags, each a map
    /// from setting name to text.
    public static func resolve(configFile: String?, environment: [String: String], flags: [String: String]) throws -> ServerConfiguration {
        var values: [String: String] = [:]
        var configuration = ServerConfiguration()
        if let configFile {
            let file = try readFile(configFile)
            values = file.values
            try configuration.applyStructured(file.sections)
            configuration.configFile = configFile
        }
        for (name, _) in settings {
            let variable = "TRIBUTARY_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
            if let value = environment[variable] { values[name] = value }
        }
        for (key, value) in flags { values[key] = value }
        try configuration.apply(values)
        try configuration.validate()
        return configuration
    }

    /// Reads a YAML config file: the scalar settings, and the structured sections (`routes`, `events`,
    /// `rules`, `downlinks`) as nodes. Unknown keys are errors (a typo should not be silently ignored).
    static func readFile(_ path: String) throws -> (values: [String: String], sections: [String: Node]) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError("cannot read the config file \(path): \(error.localizedDescription)")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationError("the config file \(path) is not valid YAML: \(error)")
        }
        guard let node else { return ([:], [:]) }
        guard let mapping = node.mapping else {
            throw ConfigurationError("the config file \(path) must be a mapping of settings")
        }
        let known = Set(settings.map(\.name))
        var values: [String: String] = [:]
        var sections: [String: Node] = [:]
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.string else { throw ConfigurationError("\(path): a key that is not a string") }
            if structuredKeys.contains(key) {
                sections[key] = valueNode
                continue
            }
            guard known.contains(key) else {
                throw ConfigurationError("\(path): unknown setting '\(key)'; known settings: \(settings.map(\.name).joined(separator: ", "))")
            }
            guard let scalar = valueNode.scalar else {
                throw ConfigurationError("\(path): setting '\(key)' must be a single value")
            }
            values[key] = scalar.string
        }
        return (values, sections)
    }

    /// The rules and downlinks of a config file, read again (SIGHUP); throws what is wrong with them.
    /// The MQTT topic rules of the config file (for a SIGHUP reload): `mqtt-acl` and `mqtt-acl-no-match`.
    public static func readMQTTAuthorizer(_ path: String) throws -> MQTTTopicAuthorizer {
        let file = try readFile(path)
        var configuration = ServerConfiguration()
        try configuration.applyStructured(file.sections.filter { $0.key == "mqtt-acl" })
        try configuration.apply(file.values.filter { $0.key == "mqtt-acl-no-match" })
        return configuration.mqtt.authorizer
    }

    public static func readRulesAndDownlinks(_ path: String) throws -> (rules: [RuleDefinition], downlinks: [DownlinkDefinition]) {
        let sections = try readFile(path).sections
        var configuration = ServerConfiguration()
        try configuration.applyStructured(sections.filter { $0.key == "rules" || $0.key == "downlinks" })
        return (configuration.rules, configuration.downlinks)
    }

    mutating func applyStructured(_ sections: [String: Node]) throws {
        if let aclNode = sections["mqtt-acl"] {
            mqtt.authorizer.rules = try Self.parseMQTTACL(aclNode)
            // Once there are rules, what they do not allow is denied (mosquitto's acl_file), unless
            // mqtt-acl-no-match says otherwise.
            mqtt.authorizer.noMatchAllows = mqtt.authorizer.rules.isEmpty
        }
        if let rulesNode = sections["rules"] {
            rules = try Self.parseRules(rulesNode)
        }
        if let downlinksNode = sections["downlinks"] {
            downlinks = try Self.parseDownlinks(downlinksNode)
        }
        if let routesNode = sections["routes"] {
            guard let list = routesNode.sequence else { throw ConfigurationError("routes must be a list of {from, to, key}") }
            var routes: [IngressRoute] = []
            for (index, item) in list.enumerated() {
                guard let entry = item.mapping else { throw ConfigurationError("routes[\(index)] must be a mapping with from, to and key") }
                var fields: [String: String] = [:]
                for (keyNode, valueNode) in entry {
                    guard let key = keyNode.string, let value = valueNode.scalar?.string else {
                        throw ConfigurationError("routes[\(index)]: every field must be a single value")
                    }
                    guard ["from", "to", "key", "partitions"].contains(key) else {
                        throw ConfigurationError("routes[\(index)]: unknown field '\(key)'; known fields: from, to, key, partitions")
                    }
                    fields[key] = value
                }
                guard let from = fields["from"], let to = fields["to"] else { throw ConfigurationError("routes[\(index)] needs from and to") }
                do {
                    try TopicRegistry.validateName(to)
                } catch {
                    throw ConfigurationError("routes[\(index)]: '\(to)' is not a valid topic name: \(error)")
                }
                var partitions: Int32 = 1
                if let text = fields["partitions"] {
                    guard let value = Int32(text), value >= 1 else { throw ConfigurationError("routes[\(index)]: partitions must be a positive integer") }
                    partitions = value
                }
                do {
                    let key = try fields["key"].map { text throws(RouteError) in try KeyTemplate(parsing: text) } ?? KeyTemplate.clientId
                    routes.append(IngressRoute(from: from, to: to, key: key, partitions: partitions))
                } catch {
                    throw ConfigurationError("routes[\(index)]: \(error)")
                }
            }
            do {
                _ = try RouteTable(routes)
            } catch {
                throw ConfigurationError(error.description)
            }
            self.routes = routes
        }
        if let eventsNode = sections["events"] {
            guard let entry = eventsNode.mapping else { throw ConfigurationError("events must be a mapping with topic and enabled") }
            for (keyNode, valueNode) in entry {
                switch keyNode.string {
                case "topic":
                    guard let topic = valueNode.scalar?.string, !topic.isEmpty else { throw ConfigurationError("events.topic must be a topic name") }
                    eventsTopic = topic
                case "enabled":
                    guard let list = valueNode.sequence else { throw ConfigurationError("events.enabled must be a list of event names") }
                    var enabled: Set<String> = []
                    for item in list {
                        guard let name = item.scalar?.string, MQTTBrokerConfiguration.allEvents.contains(name) else {
                            throw ConfigurationError("events.enabled: unknown event '\(item.scalar?.string ?? "?")'; known: \(MQTTBrokerConfiguration.allEvents.sorted().joined(separator: ", "))")
                        }
                        enabled.insert(name)
                    }
                    mqtt.enabledEvents = enabled
                default:
                    throw ConfigurationError("events: unknown field '\(keyNode.string ?? "?")'; known fields: topic, enabled")
                }
            }
        }
    }

    /// The fields of one list entry as single values (with `headers` as a mapping).
    private static func fields(of item: Node, _ what: String, known: [String]) throws -> (scalars: [String: String], headers: [(String, String)]) {
        guard let entry = item.mapping else { throw ConfigurationError("\(what) must be a mapping") }
        var scalars: [String: String] = [:]
        var headers: [(String, String)] = []
        for (keyNode, valueNode) in entry {
            guard let key = keyNode.string else { throw ConfigurationError("\(what): a key that is not a string") }
            guard known.contains(key) else { throw ConfigurationError("\(what): unknown field '\(key)'; known fields: \(known.joined(separator: ", "))") }
            if key == "headers" {
                guard let mapping = valueNode.mapping else { throw ConfigurationError("\(what): headers must map header names to templates") }
                for (nameNode, templateNode) in mapping {
                    guard let name = nameNode.string, let template = templateNode.scalar?.string else {
                        throw ConfigurationError("\(what): headers must map header names to templates")
                    }
                    headers.append((name, template))
                }
                continue
            }
            guard let value = valueNode.scalar?.string else { throw ConfigurationError("\(what): field '\(key)' must be a single value") }
            scalars[key] = value
        }
        return (scalars, headers)
    }

    private static func qos(_ text: String?, _ what: String) throws -> MQTTQoS {
        guard let text else { return .atLeastOnce }
        guard let value = UInt8(text), let qos = MQTTQoS(rawValue: value) else { throw ConfigurationError("\(what): qos must be 0, 1 or 2, not '\(text)'") }
        return qos
    }

    private static func flag(_ text: String?, _ what: String) throws -> Bool {
        switch text?.lowercased() {
        case nil, "false", "no", "0": return false
        case "true", "yes", "1": return true
        default: throw ConfigurationError("\(what): retain must be true or false, not '\(text ?? "")'")
        }
    }

    static func parseRules(_ node: Node) throws -> [RuleDefinition] {
        guard let list = node.sequence else { throw ConfigurationError("rules must be a list of {name, sql, to | mqtt, key}") }
        var rules: [RuleDefinition] = []
        var names = Set<String>()
        for (index, item) in list.enumerated() {
            let (fields, headerFields) = try fields(of: item, "rules[\(index)]", known: ["name", "sql", "to", "mqtt", "key", "headers", "qos", "retain", "partitions"])
            let name = fields["name"] ?? "rule-\(index + 1)"
            let what = "rules[\(index)] (\(name))"
            guard names.insert(name).inserted else { throw ConfigurationError("\(what): another rule has this name") }
            guard let sql = fields["sql"] else { throw ConfigurationError("\(what) needs sql") }
            let statement: RuleStatement
            do {
                statement = try RuleStatement(parsing: sql)
            } catch {
                throw ConfigurationError("\(what): sql: \(error.description)")
            }
            let action: RuleDefinition.Action
            do {
                switch (fields["to"], fields["mqtt"]) {
                case (let topic?, nil):
                    do {
                        try TopicRegistry.validateName(topic)
                    } catch {
                        throw ConfigurationError("\(what): '\(topic)' is not a valid topic name: \(error)")
                    }
                    var partitions: Int32 = 1
                    if let text = fields["partitions"] {
                        guard let value = Int32(text), value >= 1 else { throw ConfigurationError("\(what): partitions must be a positive integer") }
                        partitions = value
                    }
                    let key = try fields["key"].map { text throws(RouteError) in try KeyTemplate(parsing: text) } ?? KeyTemplate.clientId
                    var headers: [(String, KeyTemplate)] = []
                    for (headerName, template) in headerFields { headers.append((headerName, try KeyTemplate(parsing: template))) }
                    action = .topic(name: topic, key: key, headers: headers, partitions: partitions)
                case (nil, let template?):
                    action = .mqtt(topic: try KeyTemplate(parsing: template), qos: try qos(fields["qos"], what), retain: try flag(fields["retain"], what))
                default:
                    throw ConfigurationError("\(what) needs exactly one of to (a topic) and mqtt (a topic template)")
                }
            } catch let error as RouteError {
                throw ConfigurationError("\(what): \(error.description)")
            }
            rules.append(RuleDefinition(name: name, statement: statement, action: action))
        }
        return rules
    }

    static func parseDownlinks(_ node: Node) throws -> [DownlinkDefinition] {
        guard let list = node.sequence else { throw ConfigurationError("downlinks must be a list of {from, to, qos}") }
        var downlinks: [DownlinkDefinition] = []
        var names = Set<String>()
        for (index, item) in list.enumerated() {
            let (fields, _) = try fields(of: item, "downlinks[\(index)]", known: ["name", "from", "to", "qos", "retain"])
            let what = "downlinks[\(index)]"
            guard let from = fields["from"], let to = fields["to"] else { throw ConfigurationError("\(what) needs from (a topic) and to (an MQTT topic template)") }
            do {
                try TopicRegistry.validateName(from)
            } catch {
                throw ConfigurationError("\(what): '\(from)' is not a valid topic name: \(error)")
            }
            let template: DownlinkTemplate
            do {
                template = try DownlinkTemplate(parsing: to)
            } catch {
                throw ConfigurationError("\(what): \(error.description)")
            }
            let downlink = DownlinkDefinition(name: fields["name"], from: from, to: template, qos: try qos(fields["qos"], what), retain: try flag(fields["retain"], what))
            guard names.insert(downlink.name).inserted else { throw ConfigurationError("\(what): another downlink is named \(downlink.name)") }
            downlinks.append(downlink)
        }
        return downlinks
    }

    /// `mqtt-acl:` a list of `{permission: allow|deny, action: publish|subscribe|all, who: all|user:NAME|client:ID,
    /// topics: [filters with ${clientid} and ${username}]}`, first match wins.
    static func parseMQTTACL(_ node: Node) throws -> [MQTTTopicAuthorizer.Rule] {
        guard let list = node.sequence else { throw ConfigurationError("mqtt-acl must be a list of {permission, action, who, topics}") }
        var rules: [MQTTTopicAuthorizer.Rule] = []
        for (index, item) in list.enumerated() {
            let what = "mqtt-acl[\(index)]"
            guard let entry = item.mapping else { throw ConfigurationError("\(what) must be a mapping") }
            var fields: [String: String] = [:]
            var topics: [String] = []
            for (keyNode, valueNode) in entry {
                guard let key = keyNode.string else { throw ConfigurationError("\(what): a key that is not a string") }
                switch key {
                case "topics":
                    if let single = valueNode.scalar?.string {
                        topics = [single]
                    } else if let sequence = valueNode.sequence {
                        topics = try sequence.map { node in
                            guard let text = node.scalar?.string else { throw ConfigurationError("\(what): topics must be strings") }
                            return text
                        }
                    } else {
                        throw ConfigurationError("\(what): topics must be a filter or a list of filters")
                    }
                case "permission", "action", "who":
                    guard let value = valueNode.scalar?.string else { throw ConfigurationError("\(what): \(key) must be a single value") }
                    fields[key] = value
                default:
                    throw ConfigurationError("\(what): unknown field '\(key)'; known fields: permission, action, who, topics")
                }
            }
            let allow: Bool
            switch fields["permission"]?.lowercased() {
            case "allow": allow = true
            case "deny": allow = false
            default: throw ConfigurationError("\(what): permission must be allow or deny")
            }
            guard let action = MQTTTopicAuthorizer.Action(rawValue: (fields["action"] ?? "all").lowercased()) else {
                throw ConfigurationError("\(what): action must be publish, subscribe or all")
            }
            let who = fields["who"] ?? "all"
            let subject: MQTTTopicAuthorizer.Subject
            if who == "all" {
                subject = .everyone
            } else if who.hasPrefix("user:"), who.count > 5 {
                subject = .user(String(who.dropFirst(5)))
            } else if who.hasPrefix("client:"), who.count > 7 {
                subject = .client(String(who.dropFirst(7)))
            } else {
                throw ConfigurationError("\(what): who must be all, user:NAME or client:ID")
            }
            guard !topics.isEmpty else { throw ConfigurationError("\(what) needs topics") }
            for topic in topics {
                let probe = MQTTTopicAuthorizer.expandForValidation(topic)
                guard MQTTTopic.validateFilter(probe) else { throw ConfigurationError("\(what): '\(topic)' is not a topic filter") }
            }
            rules.append(MQTTTopicAuthorizer.Rule(allow: allow, subject: subject, action: action, filters: topics))
        }
        return rules
    }

    mutating func apply(_ values: [String: String]) throws {
        func kafkaListener(_ name: String, _ text: String, allowed: [KafkaEndpoint.SecurityProtocol]) throws -> (KafkaEndpoint.SecurityProtocol?, HostPort?) {
            guard let separator = text.range(of: "://") else { return (nil, try listenAddress(name, text)) }
            let protocolName = text[..<separator.lowerBound].uppercased()
            guard let securityProtocol = KafkaEndpoint.SecurityProtocol(rawValue: protocolName), allowed.contains(securityProtocol) else {
                throw ConfigurationError("\(name) takes \(allowed.map(\.rawValue).joined(separator: " or ")), not \(protocolName)")
            }
            guard let address = try listenAddress(name, String(text[separator.upperBound...])) else {
                throw ConfigurationError("\(name) must be PROTOCOL://HOST:PORT or off, not '\(text)'")
            }
            return (securityProtocol, address)
        }
        func listenAddress(_ name: String, _ text: String) throws -> HostPort? {
            if ["off", "none", ""].contains(text.lowercased()) { return nil }
            guard let address = HostPort(parsing: text) else { throw ConfigurationError("\(name) must be HOST:PORT or off, not '\(text)'") }
            return address
        }
        func integer<T: FixedWidthInteger>(_ name: String, _ text: String, min: T, max: T = .max) throws -> T {
            guard let value = T(text.trimmingCharacters(in: .whitespaces)), value >= min, value <= max else {
                throw ConfigurationError("\(name) must be an integer from \(min) to \(max), not '\(text)'")
            }
            return value
        }
        for (name, text) in values {
            switch name {
            case "data":
                guard !text.isEmpty else { throw ConfigurationError("data must not be empty") }
                dataDirectory = text
            case "kafka-listen":
                let (securityProtocol, address) = try kafkaListener(name, text, allowed: [.plaintext, .saslPlaintext])
                kafkaListen = address
                kafkaListenProtocol = securityProtocol ?? .plaintext
            case "kafka-tls-listen":
                let (securityProtocol, address) = try kafkaListener(name, text, allowed: [.ssl, .saslSSL])
                kafkaTLSListen = address
                kafkaTLSListenProtocol = securityProtocol ?? .ssl
            case "users-file": usersFile = text.isEmpty ? nil : text
            case "sasl-enabled-mechanisms":
                let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() }.filter { !$0.isEmpty }
                let known = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
                if let unknown = names.first(where: { !known.contains($0) }) {
                    throw ConfigurationError("sasl-enabled-mechanisms: \(unknown) is not one of \(known.joined(separator: ", "))")
                }
                guard !names.isEmpty else { throw ConfigurationError("sasl-enabled-mechanisms must name at least one mechanism") }
                saslMechanisms = names
            case "connections-max-reauth-ms": maxReauthMilliseconds = try integer(name, text, min: 0)
            case "super-users":
                superUsers = Set(text.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
                if let bad = superUsers.first(where: { !$0.hasPrefix("User:") || $0.count == 5 }) {
                    throw ConfigurationError("super-users must be principals like User:admin separated by semicolons, not '\(bad)'")
                }
            case "mqtt-auth-http-url":
                if text.isEmpty || text == "off" {
                    mqttAuthHTTPURL = nil
                } else {
                    guard let url = URL(string: text), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                        throw ConfigurationError("mqtt-auth-http-url must be an http:// or https:// URL, not '\(text)'")
                    }
                    mqttAuthHTTPURL = text
                }
            case "mqtt-auth-http-timeout-ms": mqttAuthHTTPTimeoutMilliseconds = try integer(name, text, min: 1)
            case "mqtt-auth-http-cache-ttl-ms": mqttAuthHTTPCacheTTLMilliseconds = try integer(name, text, min: 0)
            case "mqtt-device-secrets-file": mqttDeviceSecretsFile = text.isEmpty ? nil : text
            case "mqtt-signed-password-max-skew-ms":
                let skew: Int64 = try integer(name, text, min: 0)
                mqttSignedPasswordMaxSkewMilliseconds = skew == 0 ? nil : skew
            case "mqtt-authenticators", "mqtt-authenticators-tcp", "mqtt-authenticators-ws", "mqtt-authenticators-tls", "mqtt-authenticators-wss":
                let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
                let known = ["jwt", "cert", "signed", "users", "http"]
                if let unknown = names.first(where: { !known.contains($0) }) {
                    throw ConfigurationError("\(name): \(unknown) is not one of \(known.joined(separator: ", "))")
                }
                guard !names.isEmpty else {
                    throw ConfigurationError("\(name) must name at least one of \(known.joined(separator: ", ")) (anonymous clients: mqtt-allow-anonymous)")
                }
                if name == "mqtt-authenticators" {
                    mqttAuthenticators = names
                } else if let kind = MQTTListenerKind(rawValue: String(name.dropFirst("mqtt-authenticators-".count))) {
                    mqttListenerAuthenticators[kind] = names
                }
            case "kafka-authorizer":
                switch text.lowercased() {
                case "acl": aclAuthorizer = true
                case "none", "off", "": aclAuthorizer = false
                default: throw ConfigurationError("kafka-authorizer must be none or acl, not '\(text)'")
                }
            case "allow-everyone-if-no-acl-found":
                switch text.lowercased() {
                case "true", "yes", "1": allowEveryoneIfNoAclFound = true
                case "false", "no", "0": allowEveryoneIfNoAclFound = false
                default: throw ConfigurationError("allow-everyone-if-no-acl-found must be true or false, not '\(text)'")
                }
            case "mqtt-tls-listen": mqttTLSListen = try listenAddress(name, text)
            case "mqtt-wss-listen": mqttSecureWebSocketListen = try listenAddress(name, text)
            case "tls-cert": tls.certificateChainFile = text.isEmpty ? nil : text
            case "tls-key": tls.privateKeyFile = text.isEmpty ? nil : text
            case "tls-ca": tls.trustedCertificateAuthoritiesFile = text.isEmpty ? nil : text
            case "tls-client-auth":
                guard let mode = TLSSettings.ClientAuthentication(rawValue: text.lowercased()) else {
                    throw ConfigurationError("tls-client-auth must be none, optional or require, not '\(text)'")
                }
                tls.clientAuthentication = mode
            case "advertised":
                guard let address = HostPort(parsing: text), address.port > 0 else { throw ConfigurationError("advertised must be HOST:PORT, not '\(text)'") }
                advertised = address
            case "node-id": nodeId = try integer(name, text, min: 0)
            case "default-partitions": defaultPartitions = try integer(name, text, min: 1)
            case "auto-create-topics":
                switch text.lowercased() {
                case "true", "yes", "1": autoCreateTopics = true
                case "false", "no", "0": autoCreateTopics = false
                default: throw ConfigurationError("auto-create-topics must be true or false, not '\(text)'")
                }
            case "max-request-bytes": maxRequestBytes = try integer(name, text, min: 1024)
            case "connections-max-idle-ms": connectionsMaxIdleMilliseconds = try integer(name, text, min: 1)
            case "log-level":
                guard let level = Logger.Level(rawValue: text.lowercased()) else {
                    throw ConfigurationError("log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
                }
                logLevel = level
            case "flush-policy":
                if text == "every-write" {
                    logDefaults.flushPolicy = .everyWrite
                } else if text == "os" {
                    logDefaults.flushPolicy = .operatingSystem
                } else if text.hasPrefix("interval:"), let milliseconds = Int64(text.dropFirst("interval:".count)), milliseconds > 0 {
                    logDefaults.flushPolicy = .interval(milliseconds: milliseconds)
                } else {
                    throw ConfigurationError("flush-policy must be every-write, interval:MILLISECONDS or os, not '\(text)'")
                }
            case "log-segment-bytes": logDefaults.segmentBytes = try integer(name, text, min: 1024, max: Int(Int32.max))
            case "log-segment-ms": logDefaults.segmentMilliseconds = try integer(name, text, min: 1)
            case "log-retention-ms": logDefaults.retentionMilliseconds = try integer(name, text, min: -1)
            case "log-retention-bytes": logDefaults.retentionBytes = try integer(name, text, min: -1)
            case "log-retention-check-interval-ms": retentionCheckIntervalMilliseconds = try integer(name, text, min: 1)
            case "checkpoint-interval-ms": checkpointIntervalMilliseconds = try integer(name, text, min: 1)
            case "group-min-session-timeout-ms": groupSettings.groups.minSessionTimeoutMilliseconds = try integer(name, text, min: 1)
            case "group-max-session-timeout-ms": groupSettings.groups.maxSessionTimeoutMilliseconds = try integer(name, text, min: 1)
            case "group-initial-rebalance-delay-ms": groupSettings.groups.initialRebalanceDelayMilliseconds = try integer(name, text, min: 0, max: Int64(Int32.max))
            case "offsets-topic-partitions": groupSettings.offsetsTopicPartitions = try integer(name, text, min: 1)
            case "offsets-retention-minutes": groupSettings.offsetsRetentionMilliseconds = try integer(name, text, min: 1, max: Int64(Int32.max)) * 60_000
            case "mqtt-listen": mqttListen = try listenAddress(name, text)
            case "mqtt-ws-listen": mqttWebSocketListen = try listenAddress(name, text)
            case "mqtt-max-packet-size": mqtt.maximumPacketSize = try integer(name, text, min: 64, max: 268_435_460)
            case "mqtt-receive-maximum": mqtt.receiveMaximum = try integer(name, text, min: 1)
            case "mqtt-max-inflight": mqtt.maximumInflight = try integer(name, text, min: 1)
            case "mqtt-max-queued-messages": mqtt.maximumQueuedMessages = try integer(name, text, min: 0)
            case "mqtt-max-connections": mqtt.maximumConnections = try integer(name, text, min: 1)
            case "mqtt-max-topic-length": mqtt.maximumTopicLength = try integer(name, text, min: 1)
            case "mqtt-max-topic-levels": mqtt.maximumTopicLevels = try integer(name, text, min: 1)
            case "mqtt-topic-alias-maximum": mqtt.topicAliasMaximum = try integer(name, text, min: 0)
            case "mqtt-max-keepalive": mqtt.maximumKeepAliveSeconds = try integer(name, text, min: 0)
            case "mqtt-connect-timeout-ms": mqtt.connectTimeoutMilliseconds = try integer(name, text, min: 1)
            case "mqtt-sys-interval-seconds": mqtt.systemTopicIntervalSeconds = try integer(name, text, min: 1)
            case "mqtt-allow-anonymous":
                switch text.lowercased() {
                case "true", "yes", "1": mqtt.allowAnonymous = true
                case "false", "no", "0": mqtt.allowAnonymous = false
                default: throw ConfigurationError("mqtt-allow-anonymous must be true or false, not '\(text)'")
                }
            case "jwt-jwks-file": jwtJWKSFile = text.isEmpty ? nil : text
            case "jwt-hmac-secret-file": jwtHMACSecretFile = text.isEmpty ? nil : text
            case "jwt-issuer": jwtIssuer = text.isEmpty ? nil : text
            case "jwt-audience": jwtAudience = text.isEmpty ? nil : text
            case "mqtt-cert-as-username", "mqtt-cert-as-clientid":
                let field = text.lowercased()
                guard ["off", "cn", "dn", "san"].contains(field) else { throw ConfigurationError("\(name) must be off, cn, dn or san, not '\(text)'") }
                if name == "mqtt-cert-as-username" { mqttCertificateAsUsername = field } else { mqttCertificateAsClientId = field }
            case "mqtt-acl-no-match":
                switch text.lowercased() {
                case "allow": mqtt.authorizer.noMatchAllows = true
                case "deny": mqtt.authorizer.noMatchAllows = false
                default: throw ConfigurationError("mqtt-acl-no-match must be allow or deny, not '\(text)'")
                }
            case "mqtt-users":
                plaintextUsers = []
                for pair in text.split(separator: ",") {
                    let parts = pair.split(separator: ":", maxSplits: 1)
                    guard parts.count == 2, !parts[0].isEmpty else { throw ConfigurationError("mqtt-users must be user:password pairs separated by commas") }
                    plaintextUsers.append((String(parts[0]), String(parts[1])))
                }
            case "mqtt-events-topic":
                guard !text.isEmpty else { throw ConfigurationError("mqtt-events-topic must not be empty") }
                eventsTopic = text
            default:
                throw ConfigurationError("unknown setting '\(name)'")
            }
        }
    }

    /// The address clients of the plaintext listener are told to use (the TLS listener's when only it runs).
    public var advertisedAddress: HostPort {
        if let advertised { return advertised }
        let listener = kafkaListen ?? kafkaTLSListen ?? HostPort(host: "0.0.0.0", port: 9092)
        let wildcard = listener.host == "0.0.0.0" || listener.host == "::"
        return HostPort(host: wildcard ? "localhost" : listener.host, port: listener.port)
    }

    /// The Kafka listeners and what each advertises: the TLS one the advertised host with its own port.
    public var kafkaEndpoints: [(listen: HostPort, endpoint: KafkaEndpoint)] {
        var endpoints: [(HostPort, KafkaEndpoint)] = []
        if let kafkaListen {
            endpoints.append((kafkaListen, KafkaEndpoint(securityProtocol: kafkaListenProtocol, advertisedHost: advertisedAddress.host, advertisedPort: Int32(advertisedAddress.port))))
        }
        if let kafkaTLSListen {
            let port = kafkaListen == nil ? advertisedAddress.port : kafkaTLSListen.port
            endpoints.append((kafkaTLSListen, KafkaEndpoint(securityProtocol: kafkaTLSListenProtocol, advertisedHost: advertisedAddress.host, advertisedPort: Int32(port))))
        }
        return endpoints
    }

    /// Whether any listener uses TLS.
    public var usesTLS: Bool { kafkaTLSListen != nil || mqttTLSListen != nil || mqttSecureWebSocketListen != nil }

    /// Checks combinations single settings cannot: TLS listeners need a certificate and key, client
    /// certificates need the CAs to check them against, and Kafka needs a listener.
    func validate() throws {
        if kafkaListen == nil && kafkaTLSListen == nil {
            throw ConfigurationError("kafka-listen and kafka-tls-listen are both off: Kafka clients (and the server's own tools) need one")
        }
        if usesTLS && (tls.certificateChainFile == nil || tls.privateKeyFile == nil) {
            throw ConfigurationError("a TLS listener needs tls-cert and tls-key (PEM files)")
        }
        if tls.clientAuthentication != .none && tls.trustedCertificateAuthoritiesFile == nil {
            throw ConfigurationError("tls-client-auth \(tls.clientAuthentication.rawValue) needs tls-ca (the CAs client certificates must chain to)")
        }
    }

    public var summary: Logger.Metadata {
        [
            "data": "\(dataDirectory)", "kafkaListen": "\(kafkaListen.map { "\($0)" } ?? "off")",
            "kafkaListenProtocol": "\(kafkaListenProtocol.rawValue)", "kafkaTLSListenProtocol": "\(kafkaTLSListenProtocol.rawValue)",
            "kafkaTLSListen": "\(kafkaTLSListen.map { "\($0)" } ?? "off")", "advertised": "\(advertisedAddress)",
            "mqttTLSListen": "\(mqttTLSListen.map { "\($0)" } ?? "off")", "mqttSecureWebSocketListen": "\(mqttSecureWebSocketListen.map { "\($0)" } ?? "off")",
            "nodeId": "\(nodeId)", "defaultPartitions": "\(defaultPartitions)", "autoCreateTopics": "\(autoCreateTopics)",
            "flushPolicy": "\(logDefaults.flushPolicy)", "segmentBytes": "\(logDefaults.segmentBytes)",
            "retentionMs": "\(logDefaults.retentionMilliseconds)", "retentionBytes": "\(logDefaults.retentionBytes)",
            "mqttListen": "\(mqttListen.map { "\($0)" } ?? "off")", "mqttWebSocketListen": "\(mqttWebSocketListen.map { "\($0)" } ?? "off")",
            "routes": "\(routes.count)", "eventsTopic": "\(eventsTopic)", "rules": "\(rules.count)", "downlinks": "\(downlinks.count)",
        ]
    }
}
