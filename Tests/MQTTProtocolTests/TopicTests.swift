import MQTTProtocol
import Testing

@Suite struct TopicTests {
    static let matching: [(filter: String, topic: String, matches: Bool)] = [
        ("a/b", "a/b", true),
        ("a/b", "a/c", false),
        ("a/b", "a/b/c", false),
        ("a/b/c", "a/b", false),
        ("#", "a", true),
        ("#", "a/b/c", true),
        ("#", "/", true),
        ("a/#", "a", true),           // '#' includes the parent level
        ("a/#", "a/b", true),
        ("a/#", "a/b/c", true),
        ("a/#", "ab", false),
        ("a/#", "b/a", false),
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
        ("sport/+", "sport", false),
        ("sport/+", "sport/", true),   // an empty level is a level
        ("+", "a", true),
        ("+", "a/b", false),
        ("+", "/a", false),
        ("+/+", "/a", true),
        ("+/+", "/", true),
        ("/+", "/finance", true),
        ("+/b", "a/b", true),
        ("a/+/c", "a/x/c", true),
        ("a/+/c", "a/x/y/c", false),
        ("+/#", "a", true),
        ("+/+/#", "a", false),
        ("a//b", "a//b", true),
        ("a/+/b", "a//b", true),
        // '$' topics are not matched by a leading wildcard, only by a filter that names the '$' level.
        ("#", "$SYS/broker/load", false),
        ("+/broker/load", "$SYS/broker/load", false),
        ("+", "$SYS", false),
        ("$SYS/#", "$SYS/broker/load", true),
        ("$SYS/#", "$SYS", true),
        ("$SYS/+/load", "$SYS/broker/load", true),
        ("a/$x", "a/$x", true),
        ("a/+", "a/$x", true),         // only the first level is special
        // Byte comparison, no Unicode normalization and case sensitive.
        ("caf\u{E9}", "cafe\u{301}", false),
        ("caf\u{E9}", "caf\u{E9}", true),
        ("ACCOUNTS", "accounts", false),
        // Shared subscriptions match as their inner filter.
        ("$share/g/a/+", "a/b", true),
        ("$share/g/#", "x/y", true),
        ("$share/g/#", "$SYS/x", false),
        // Invalid filters and topics match nothing.
        ("a/#/b", "a/x/b", false),
        ("a+", "a+", false),
        ("$share/g", "g", false),
        ("a/+", "a/+", false),
        ("", "", false),
    ]

    @Test(arguments: matching)
    func matches(filter: String, topic: String, matches: Bool) {
        #expect(MQTTTopic.matches(filter: filter, topic: topic) == matches, "\(filter) vs \(topic)")
    }

    @Test func validNames() {
        for name in ["a", "/", "a/b", "$SYS/x", " ", "日本/🙂", "a//b", "\u{FEFF}x"] {
            #expect(MQTTTopic.validateName(name), "\(name)")
        }
        for name in ["", "a/+", "+", "#", "a/#", "a+b", "a#", "a\u{0}b", String(repeating: "x", count: 65_536)] {
            #expect(!MQTTTopic.validateName(name), "\(name)")
        }
        #expect(MQTTTopic.validateName(String(repeating: "x", count: 65_535)))
    }

    @Test func validFilters() {
        for filter in ["#", "+", "a/#", "+/+", "/+", "a/+/b", "+/#", "a//b", "/", "$SYS/#", "$share", "$share/g/a", "$share/g/#", "$share/g/+/x", "$sharex/y"] {
            #expect(MQTTTopic.validateFilter(filter), "\(filter)")
        }
        for filter in ["", "a/#/b", "#/a", "a#", "a/b#", "+a", "a+/b", "a/+b", "##", "a\u{0}", "$share/", "$share/g", "$share/g/", "$share//a", "$share/g+/a", "$share/g#/a", "$share/g/a/#/b"] {
            #expect(!MQTTTopic.validateFilter(filter), "\(filter)")
        }
    }

    @Test func sharedSubscriptions() throws {
        let shared = try #require(MQTTTopic.sharedSubscription("$share/consumers/sensors/+/temperature"))
        #expect(shared.group == "consumers")
        #expect(shared.filter == "sensors/+/temperature")
        let nested = try #require(MQTTTopic.sharedSubscription("$share/g/$share/x"))
        #expect(nested.group == "g" && nested.filter == "$share/x")
        for notShared in ["sensors/#", "$share", "$sharex/g/a", "$share/", "$share/g", "$share/g/", "$share/+/a", "$share/g/a/#/b", "/$share/g/a"] {
            #expect(MQTTTopic.sharedSubscription(notShared) == nil, "\(notShared)")
        }
    }
}
