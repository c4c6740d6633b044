public import MQTTProtocol

/// MQTT topic rules, as mosquitto's acl_file and EMQX's file authorizer give them: each rule allows or
/// denies publish, subscribe or both on topic filters, for everyone, a user name or a client id; filters
/// may hold `${clientid}` and `${username}`. Rules are read in order and the first that matches decides;
/// when none matches, `noMatch` does (deny unless configured otherwise, once there are rules).
///
/// A topic starting with `$` (`$SYS/...`) is only granted by a rule whose filter starts with `$` too: `#`
/// does not reach it (as in MQTT's own matching). A subscription is allowed when the rule's filter covers
/// every topic the subscription's filter can match (`devices/${clientid}/#` covers `devices/d1/+/temp`,
/// not `devices/#`). A placeholder whose value holds `+`, `#` or `/` (a client id chosen to widen a rule)
/// makes the rule not apply.
public struct MQTTTopicAuthorizer: Sendable, Equatable {
    public enum Action: String, Sendable, Equatable {
        case publish, subscribe, all
    }

    public enum Subject: Sendable, Equatable {
        case everyone
        case user(String)
        case client(String)
    }

    public struct Rule: Sendable, Equatable {
        public var allow: Bool
        public var subject: Subject
        public var action: Action
        public var filters: [String]

        public init(allow: Bool, subject: Subject, action: Action, filters: [String]) {
            self.allow = allow
            self.subject = subject
            self.action = action
            self.filters = filters
        }
    }

    public var rules: [Rule]
    /// What happens when no rule matches.
    public var noMatchAllows: Bool

    public init(rules: [Rule] = [], noMatchAllows: Bool = true) {
        self.rules = rules
        self.noMatchAllows = noMatchAllows
    }

    /// Whether `clientId` (logged in as `username`) may publish to `topic`.
    public func mayPublish(_ topic: String, clientId: String, username: String?) -> Bool {
        decide(.publish, dollar: topic.hasPrefix("$"), clientId: clientId, username: username) { filter in
            MQTTTopic.matches(filter: filter, topic: topic)
        }
    }

    /// Whether `clientId` may subscribe to `filter` (a shared subscription is judged by its topic filter).
    public func maySubscribe(_ filter: String, clientId: String, username: String?) -> Bool {
        let topicFilter = MQTTTopic.sharedSubscription(filter)?.filter ?? filter
        return decide(.subscribe, dollar: topicFilter.hasPrefix("$"), clientId: clientId, username: username) { ruleFilter in
            Self.covers(ruleFilter, topicFilter)
        }
    }

    private func decide(_ action: Action, dollar: Bool, clientId: String, username: String?, _ matches: (String) -> Bool) -> Bool {
        for rule in rules where rule.action == action || rule.action == .all {
            switch rule.subject {
            case .everyone: break
            case .user(let name): guard username == name else { continue }
            case .client(let id): guard clientId == id else { continue }
            }
            for filter in rule.filters {
                guard let expanded = Self.expand(filter, clientId: clientId, username: username) else { continue }
                if matches(expanded) { return rule.allow }
            }
        }
        // With rules, a `$` topic is never granted by default.
        return noMatchAllows && !(dollar && !rules.isEmpty)
    }

    /// The filter with its placeholders filled in, or nil when a value is missing or could widen it.
    static func expand(_ filter: String, clientId: String, username: String?) -> String? {
        var result = filter
        for (placeholder, value) in [("${clientid}", Optional(clientId)), ("${username}", username)] where result.contains(placeholder) {
            guard let value, !value.isEmpty, !value.contains(where: { $0 == "+" || $0 == "#" || $0 == "/" }) else { return nil }
            result = result.replacing(placeholder, with: value)
        }
        return result
    }

    /// A rule filter with its placeholders replaced by a plain level, to check its syntax.
    public static func expandForValidation(_ filter: String) -> String {
        filter.replacing("${clientid}", with: "x").replacing("${username}", with: "x")
    }

    /// Whether every topic `filter` matches is matched by `rule` (both topic filters).
    static func covers(_ rule: String, _ filter: String) -> Bool {
        if filter.hasPrefix("$") != rule.hasPrefix("$") { return false }
        let ruleLevels = rule.split(separator: "/", omittingEmptySubsequences: false)
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        var index = 0
        while index < ruleLevels.count {
            let ruleLevel = ruleLevels[index]
            if ruleLevel == "#" { return true }
            guard index < levels.count else { return false }
            let level = levels[index]
            if ruleLevel == "+" {
                // One level of anything, but not the rest of the tree.
                if level == "#" { return false }
            } else if ruleLevel != level {
                return false
            }
            index += 1
        }
        return index == levels.count
    }
}
