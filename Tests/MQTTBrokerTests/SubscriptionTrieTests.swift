@testable import MQTTBroker
import MQTTProtocol
import Testing

@Suite struct SubscriptionTrieTests {
    func entry(_ client: String, _ filter: String, qos: MQTTQoS = .atLeastOnce) -> SubscriptionEntry {
        SubscriptionEntry(
            clientId: client, filter: filter, options: MQTTSubscriptionOptions(qos: qos), identifier: nil,
            shareGroup: MQTTTopic.sharedSubscription(filter)?.group)
    }

    func clients(_ trie: SubscriptionTrie, _ topic: String) -> [String] {
        trie.matches(topic: topic).subscriptions.map { "\($0.clientId):\($0.filter)" }.sorted()
    }

    @Test func wildcardsMatchAsTheSpecificationSays() {
        let trie = SubscriptionTrie()
        for filter in ["a/b", "a/+", "a/#", "#", "+/+", "a/b/c", "+", "a/+/c", "/+"] { trie.insert(entry("c", filter)) }
        #expect(clients(trie, "a/b") == ["c:#", "c:+/+", "c:a/#", "c:a/+", "c:a/b"])
        // "a/#" also matches the parent level "a".
        #expect(clients(trie, "a") == ["c:#", "c:+", "c:a/#"])
        #expect(clients(trie, "a/x/c") == ["c:#", "c:a/#", "c:a/+/c"])
        #expect(clients(trie, "/x") == ["c:#", "c:+/+", "c:/+"])
        #expect(trie.count == 9)
    }

    @Test func topicLevelsSplitAsTheFilterLevelsDo() {
        for topic in ["", "/", "a", "a/", "/a", "a//b", "a/b/c", "//", "caf\u{E9}/\u{1F600}/x", "$SYS/broker"] {
            var levels = TopicLevels(topic)
            var split: [ExactString] = []
            var index = 0
            while let level = levels.level(index) {
                split.append(level)
                index += 1
            }
            #expect(split == SubscriptionTrie.levels(of: topic), "\(topic)")
            // Asking again, or out of order, gives the same levels.
            #expect(levels.level(0) == split.first)
            #expect(levels.level(split.count) == nil)
        }
    }

    @Test func emptyLevelsAndAnEmptyTrieMatchAsTheSpecificationSays() {
        let trie = SubscriptionTrie()
        #expect(clients(trie, "a/b").isEmpty)
        for filter in ["a//b", "a/+/b", "a/", "+/", "/#", "+"] { trie.insert(entry("c", filter)) }
        #expect(clients(trie, "a//b") == ["c:a/+/b", "c:a//b"])
        #expect(clients(trie, "a/") == ["c:+/", "c:a/"])
        #expect(clients(trie, "/x/y") == ["c:/#"])
        #expect(clients(trie, "/") == ["c:+/", "c:/#"])
        #expect(clients(trie, "b/c/d").isEmpty)
    }

    @Test func dollarTopicsAreNotMatchedByLeadingWildcards() {
        let trie = SubscriptionTrie()
        for filter in ["#", "+/broker/#", "$SYS/#", "$SYS/broker/+"] { trie.insert(entry("c", filter)) }
        #expect(clients(trie, "$SYS/broker/uptime") == ["c:$SYS/#", "c:$SYS/broker/+"])
        #expect(clients(trie, "x/broker/uptime") == ["c:#", "c:+/broker/#"])
    }

    @Test func topicsCompareByteForByte() {
        let trie = SubscriptionTrie()
        trie.insert(entry("c", "caf\u{E9}"))  // precomposed
        #expect(clients(trie, "cafe\u{301}").isEmpty)  // decomposed: a different topic in MQTT
        #expect(clients(trie, "caf\u{E9}") == ["c:caf\u{E9}"])
    }

    @Test func sharedSubscriptionsAreGroupedPerFilter() {
        let trie = SubscriptionTrie()
        trie.insert(entry("a", "$share/g/t/+"))
        trie.insert(entry("b", "$share/g/t/+"))
        trie.insert(entry("c", "$share/h/t/#"))
        trie.insert(entry("d", "t/x"))
        let (subscriptions, groups) = trie.matches(topic: "t/x")
        #expect(subscriptions.map(\.clientId) == ["d"])
        #expect(groups.keys.map(\.string).sorted() == ["$share/g/t/+", "$share/h/t/#"])
        #expect(groups[ExactString("$share/g/t/+")]?.map(\.clientId).sorted() == ["a", "b"])
    }

    @Test func removingPrunesAndReplacingDoesNotDuplicate() {
        let trie = SubscriptionTrie()
        let first = trie.insert(entry("c", "a/b/c"))
        let replaced = trie.insert(entry("c", "a/b/c", qos: .exactlyOnce))
        #expect(!first && replaced)
        #expect(trie.count == 1)
        #expect(trie.matches(topic: "a/b/c").subscriptions.first?.options.qos == .exactlyOnce)
        let removed = trie.remove(clientId: "c", filter: "a/b/c")
        let removedAgain = trie.remove(clientId: "c", filter: "a/b/c")
        #expect(removed && !removedAgain)
        #expect(trie.count == 0)
        #expect(trie.matches(topic: "a/b/c").subscriptions.isEmpty)
        trie.insert(entry("c", "$share/g/a"))
        let removedShared = trie.remove(clientId: "c", filter: "$share/g/a")
        #expect(removedShared)
        #expect(trie.matches(topic: "a").groups.isEmpty)
    }
}
