import MQTTProtocol

/// Where a published MQTT message goes in the log: the first route whose filter matches its topic, or
/// the fallback `#` → `mqtt.messages` that always follows the configured ones.
public struct IngressRoute: Sendable, Equatable {
    /// An MQTT topic filter.
    public var from: String
    /// The topic the message is appended to.
    public var to: String
    /// The record key template: `${clientid}`, `${username}`, `${topic}`, `${topic.N}` (1-based level).
    public var key: KeyTemplate
    /// Partitions when the topic is created by the bridge (an existing topic keeps its own).
    public var partitions: Int32

    public init(from: String, to: String, key: KeyTemplate = KeyTemplate.clientId, partitions: Int32 = 1) {
        self.from = from
        self.to = to
        self.key = key
        self.partitions = partitions
    }

    public static let fallback = IngressRoute(from: "#", to: "mqtt.messages")
}

public struct RouteTable: Sendable {
    public let routes: [IngressRoute]

    /// The configured routes followed by the fallback. Throws for an invalid filter.
    public init(_ configured: [IngressRoute]) throws(RouteError) {
        for route in configured {
            guard MQTTTopic.validateFilter(route.from), MQTTTopic.sharedSubscription(route.from) == nil else {
                throw RouteError("route from '\(route.from)': not a valid MQTT topic filter")
            }
            guard !route.to.isEmpty else { throw RouteError("route from '\(route.from)': 'to' must name a topic") }
        }
        routes = configured + [.fallback]
    }

    /// The first route matching the topic (the fallback matches every topic not starting with `$`; a
    /// `$` topic that nothing else matches, such as a will on `$...`, goes to the fallback too).
    public func route(for topic: String) -> IngressRoute {
        for route in routes where MQTTTopic.matches(filter: route.from, topic: topic) { return route }
        return routes[routes.count - 1]
    }

    /// Every topic a message may be appended to.
    public var targetTopics: [String: Int32] {
        var topics: [String: Int32] = [:]
        for route in routes where topics[route.to] == nil { topics[route.to] = route.partitions }
        return topics
    }
}

public struct RouteError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A record key template, parsed once: literal text and `${clientid}`, `${username}`, `${topic}`,
/// `${topic.N}` placeholders. A placeholder with no value (no username, fewer levels) renders empty.
public struct KeyTemplate: Sendable, Equatable, CustomStringConvertible {
    public enum Part: Sendable, Equatable {
        case literal(String)
        case clientId
        case username
        case topic
        case topicLevel(Int)
    }

    public let parts: [Part]
    public let description: String

    public static let clientId = try! KeyTemplate(parsing: "${clientid}")

    public init(parsing text: String) throws(RouteError) {
        parts = try TemplateText.parse(text, literal: Part.literal) { name throws(RouteError) in
            switch name {
            case "clientid": return .clientId
            case "username": return .username
            case "topic": return .topic
            default:
                guard name.hasPrefix("topic."), let level = Int(name.dropFirst("topic.".count)), level >= 1 else {
                    throw RouteError("key template '\(text)': unknown placeholder '${\(name)}' (use clientid, username, topic or topic.N)")
                }
                return .topicLevel(level)
            }
        }
        self.description = text
    }

    public func render(clientId: String?, username: String?, topic: String) -> String {
        var result = ""
        var levels: [Substring]? = nil
        for part in parts {
            switch part {
            case .literal(let text): result += text
            case .clientId: result += clientId ?? ""
            case .username: result += username ?? ""
            case .topic: result += topic
            case .topicLevel(let level):
                if levels == nil { levels = topic.split(separator: "/", omittingEmptySubsequences: false) }
                if level <= levels!.count { result += levels![level - 1] }
            }
        }
        return result
    }
}

/// Literal text with `${name}` placeholders, the syntax of every template in the config file.
enum TemplateText {
    static func parse<Part>(
        _ text: String, literal: (String) -> Part, placeholder: (Substring) throws(RouteError) -> Part
    ) throws(RouteError) -> [Part] {
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            if open.lowerBound > rest.startIndex { parts.append(literal(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                throw RouteError("template '\(text)': '${' without '}'")
            }
            parts.append(try placeholder(rest[open.upperBound..<close]))
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { parts.append(literal(String(rest))) }
        return parts
    }
}
