import MQTTProtocol
import Testing

@testable import MQTTBroker

@Suite struct MQTTAuthorizationTests {
    let authorizer = MQTTTopicAuthorizer(rules: [
        .init(allow: true, subject: .user("admin"), action: .all, filters: ["#", "$SYS/#"]),
        .init(allow: false, subject: .everyone, action: .publish, filters: ["devices/+/config"]),
        .init(allow: true, subject: .everyone, action: .all, filters: ["devices/${clientid}/#", "users/${username}/+"]),
        .init(allow: true, subject: .client("monitor"), action: .subscribe, filters: ["devices/+/status"]),
    ], noMatchAllows: false)

    @Test func placeholdersAndFirstMatch() {
        #expect(authorizer.mayPublish("devices/d1/telemetry", clientId: "d1", username: "alice"))
        #expect(!authorizer.mayPublish("devices/d2/telemetry", clientId: "d1", username: "alice"))
        #expect(!authorizer.mayPublish("devices/d1/config", clientId: "d1", username: "alice"))  // the deny comes first
        #expect(authorizer.mayPublish("users/alice/x", clientId: "d1", username: "alice"))
        #expect(!authorizer.mayPublish("users/alice/x", clientId: "d1", username: nil))  // no user name: the rule does not apply
        #expect(authorizer.mayPublish("anything", clientId: "x", username: "admin"))
    }

    @Test func subscriptionsMustBeCovered() {
        #expect(authorizer.maySubscribe("devices/d1/#", clientId: "d1", username: nil))
        #expect(authorizer.maySubscribe("devices/d1/+/temp", clientId: "d1", username: nil))
        #expect(!authorizer.maySubscribe("devices/#", clientId: "d1", username: nil))
        #expect(!authorizer.maySubscribe("#", clientId: "d1", username: nil))
        #expect(!authorizer.maySubscribe("devices/+/telemetry", clientId: "d1", username: nil))
        #expect(authorizer.maySubscribe("devices/+/status", clientId: "monitor", username: nil))
        #expect(!authorizer.maySubscribe("devices/#", clientId: "monitor", username: nil))
        #expect(authorizer.maySubscribe("$share/g/devices/d1/#", clientId: "d1", username: nil))
    }

    @Test func dollarTopicsNeedAnExplicitGrant() {
        let open = MQTTTopicAuthorizer(rules: [.init(allow: true, subject: .everyone, action: .all, filters: ["#"])], noMatchAllows: false)
        #expect(!open.maySubscribe("$SYS/#", clientId: "c", username: nil))
        #expect(!open.mayPublish("$SYS/broker/x", clientId: "c", username: nil))
        #expect(authorizer.maySubscribe("$SYS/#", clientId: "c", username: "admin"))
        let lenient = MQTTTopicAuthorizer(rules: [.init(allow: false, subject: .everyone, action: .all, filters: ["secret/#"])], noMatchAllows: true)
        #expect(lenient.maySubscribe("a/#", clientId: "c", username: nil))
        #expect(!lenient.maySubscribe("$SYS/#", clientId: "c", username: nil))
    }

    @Test func placeholderValuesCannotWidenARule() {
        // A client id with wildcards or levels would turn devices/${clientid}/# into something wider.
        #expect(!authorizer.maySubscribe("devices/#", clientId: "#", username: nil))
        #expect(!authorizer.maySubscribe("devices/+/#", clientId: "+", username: nil))
        #expect(!authorizer.mayPublish("devices/a/b/c", clientId: "a/b", username: nil))
    }

    @Test func withoutRulesEverythingIsAllowed() {
        let none = MQTTTopicAuthorizer()
        #expect(none.maySubscribe("#", clientId: "c", username: nil))
        #expect(none.mayPublish("a/b", clientId: "c", username: nil))
    }
}
