@testable import Bridge
import MQTTBroker
import MQTTProtocol
import NIOCore
import Testing

/// A payload with a field for each kind of test: `t`/`f` are the booleans and `missing` is absent, for the
/// three-valued logic table; `s` is a string for the type errors.
let telemetry = #"""
    {"temperature": 120, "humidity": 40.5, "name": "Sensor-7", "tags": ["a", "b", "c"], "nested": {"deep": {"value": 3}},
     "odd key": 1, "end": "kw", "t": true, "f": false, "nothing": null, "s": "a", "zero": 0, "i": 1, "neg": -1, "k": "name",
     "empty": ""}
    """#

@Suite struct RuleEvaluatorTests {
    private func value(_ expression: String, payload: String = telemetry, sourceLocation: SourceLocation = #_sourceLocation) -> RuleValue? {
        ruleValue(expression, payload: payload, sourceLocation: sourceLocation)
    }

    private func error(_ expression: String, payload: String = telemetry) -> RuleEvaluationError? {
        ruleEvaluationError(expression, payload: payload)
    }

    // MARK: The rules of the issue

    @Test func hotDevicesAreSelected() {
        let rule = "SELECT payload.temperature AS t, clientid FROM 'devices/+/telemetry' WHERE payload.temperature > 100"
        let hot = ruleOutput(rule, ruleMessage(#"{"temperature": 120, "humidity": 3}"#))
        #expect(hot == .object([("t", 120), ("clientid", "d1")]))
        #expect(hot?.value?.jsonText == #"{"t":120,"clientid":"d1"}"#)
        #expect(ruleOutput(rule, ruleMessage(#"{"temperature": 100.5}"#)) == .object([("t", 100.5), ("clientid", "d1")]))
        #expect(ruleOutput(rule, ruleMessage(#"{"temperature": 90}"#)) == nil)
        #expect(ruleOutput(rule, ruleMessage(#"{"humidity": 3}"#)) == nil, "a missing field is null, and null > 100 is not true")
        #expect(ruleOutput(rule, ruleMessage("temperature=120")) == nil, "a payload that is not JSON has no fields")
        // A temperature of the wrong type is an error the caller counts, not a silent skip.
        var input = ruleMessage(#"{"temperature": "hot"}"#)
        #expect(throws: RuleEvaluationError.self) { try RuleStatement(parsing: rule).evaluate(&input) }
    }

    @Test func abnormalDisconnectsAreSelected() throws {
        let rule = try RuleStatement(parsing: "SELECT clientid, reason FROM '$events/client.disconnected' WHERE reason != 'normal'")
        func event(_ reason: String?) -> RuleInput {
            var fields: [(String, MQTTEvent.Value)] = [("peer", .string("10.0.0.7:50122"))]
            if let reason { fields.insert(("reason", .string(reason)), at: 0) }
            return RuleInput(event: MQTTEvent(name: "client.disconnected", clientId: "d7", username: nil, timestampMilliseconds: 42, fields: fields))
        }
        var lost = event("keepalive_timeout")
        #expect(try rule.evaluate(&lost) == .object([("clientid", "d7"), ("reason", "keepalive_timeout")]))
        var normal = event("normal")
        #expect(try rule.evaluate(&normal) == nil)
        var unknown = event(nil)
        #expect(try rule.evaluate(&unknown) == nil, "no reason: null != 'normal' is null")
    }

    @Test func eventsExposeEveryMember() throws {
        let input = RuleInput(event: MQTTEvent(
            name: "session.subscribed", clientId: "d7", username: "bob", timestampMilliseconds: 42,
            fields: [("filter", .string("devices/d7/cmd")), ("qos", .integer(1)), ("clean", .bool(true)), ("none", .null), ("list", .strings(["x", "y"]))]))
        #expect(input.timestampMilliseconds == 42)
        #expect(ruleOutput("SELECT * FROM '$events/session.subscribed'", input) == .object([
            ("event", "session.subscribed"), ("timestamp", 42), ("clientid", "d7"), ("username", "bob"), ("filter", "devices/d7/cmd"),
            ("qos", 1), ("clean", true), ("none", .null), ("list", ["x", "y"]),
        ]))
        #expect(ruleOutput("""
            SELECT event, timestamp + 1 AS next, username, list[1] AS second, missing, upper(filter) AS f FROM '$events/session.subscribed'
            WHERE filter =~ 'devices/+/cmd' AND qos = 1 AND clean
            """, input) == .object([("event", "session.subscribed"), ("next", 43), ("username", "bob"), ("second", "y"), ("missing", .null), ("f", "DEVICES/D7/CMD")]))
        let will = RuleInput(eventName: "will.published", fields: [("event", "will.published"), ("topic", "devices/d7/status"), ("clientid", "d7")])
        #expect(ruleOutput("SELECT topic_level(2) AS device, payload, headers.x AS h FROM '$events/will.published'", will)
            == .object([("device", "d7"), ("payload", .null), ("h", .null)]))
        // A rule over messages and events: message names work for messages, other names are null there.
        let mixed = "SELECT clientid, reason FROM 'devices/#', '$events/client.disconnected'"
        #expect(ruleOutput(mixed, ruleMessage("{}")) == .object([("clientid", "d1"), ("reason", .null)]))
    }

    // MARK: Operators

    @Test func arithmetic() {
        let cases: [(String, RuleValue)] = [
            ("payload.i + 2", 3), ("payload.i - 5", -4), ("payload.i * 2.5", 2.5), ("payload.humidity + payload.i", 41.5),
            ("payload.temperature / 8", 15.0), ("7 / 2", 3.5), ("payload.i / 4", 0.25), ("7 % 3", 1), ("-7 % 3", -1), ("7.5 % 2", 1.5),
            ("payload.temperature % -7", 1), ("-9223372036854775808 % -1", 0), ("2 + 3 * 4", 14), ("(2 + 3) * 4", 20), ("10 - 4 - 3", 3),
            ("-payload.temperature", -120), ("- payload.humidity", -40.5), ("+payload.i", 1), ("-(-payload.i)", 1),
            ("payload.nothing + 1", .null), ("payload.missing * 2", .null), ("1 / payload.missing", .null), ("-payload.missing", .null),
            ("payload.missing * 'a'", .null),
        ]
        for (expression, expected) in cases {
            #expect(value(expression) == expected, "\(expression)")
        }
    }

    @Test func arithmeticErrorsAreTypedAndPlaced() throws {
        let mismatch = try #require(error("payload.s * 2"))
        #expect(mismatch == RuleEvaluationError(.typeMismatch, "operator * needs numbers, found string and integer", at: RuleSourceLocation(line: 1, column: 18)))
        #expect(mismatch.description == "line 1, column 18: operator * needs numbers, found string and integer")
        #expect(error("payload.s + 'b'")?.message == "operator + needs numbers, found string and string (concat joins strings)")
        #expect(error("payload.t + 1")?.kind == .typeMismatch)
        #expect(error("-payload.s")?.kind == .typeMismatch)
        #expect(error("payload.tags * 2")?.message == "operator * needs numbers, found array and integer")
        #expect(error("payload.i / payload.zero") == RuleEvaluationError(.divisionByZero, "division by zero", at: RuleSourceLocation(line: 1, column: 18)))
        #expect(error("payload.humidity / payload.zero")?.kind == .divisionByZero)
        #expect(error("payload.i % payload.zero")?.kind == .divisionByZero)
        #expect(error("payload.humidity % payload.zero")?.kind == .divisionByZero)
        #expect(error("9223372036854775807 + payload.i")?.kind == .overflow)
        #expect(error("-9223372036854775808 - payload.i")?.kind == .overflow)
        #expect(error("4611686018427387904 * (payload.i + 1)")?.kind == .overflow)
        #expect(error("-(payload.i - 9223372036854775807 - 2)")?.kind == .overflow)
        #expect(error("1e308 * (payload.i + 9)")?.kind == .overflow, "a decimal result beyond Double")
    }

    @Test func comparisons() {
        let cases: [(String, RuleValue)] = [
            ("payload.temperature = 120", true), ("payload.temperature = 120.0", true), ("payload.humidity > 40", true),
            ("payload.humidity <= 40.5", true), ("payload.humidity < 40.5", false), ("payload.temperature >= 121", false),
            ("payload.i <> 1", false), ("payload.i != 2", true), ("payload.name = 'Sensor-7'", true), ("payload.name < 'T'", true),
            ("payload.name >= 'sensor'", false), ("payload.t = true", true), ("payload.f != false", false), ("payload.s = 1", false),
            ("payload.s != 1", true), ("payload.tags = json_decode('[\"a\",\"b\",\"c\"]')", true),
            ("payload.nested = json_decode('{\"deep\":{\"value\":3.0}}')", true), ("payload.tags = payload.nested", false),
            ("9007199254740993 > 9007199254740992.0 + payload.zero", true), ("9007199254740993 = 9007199254740992.0 + payload.zero", false),
            ("payload.missing = 1", .null), ("payload.nothing != 1", .null), ("payload.nothing = null", .null), ("1 < payload.missing", .null),
            ("hex_decode('6869') = 'hi'", true), ("hex_decode('6869') < hex_decode('6870')", true),
        ]
        for (expression, expected) in cases {
            #expect(value(expression) == expected, "\(expression)")
        }
        #expect(error("payload.s < 1")?.message == "operator < cannot order string and integer")
        #expect(error("payload.t < true")?.kind == .typeMismatch)
        #expect(error("payload.tags >= payload.tags")?.kind == .typeMismatch)
    }

    @Test func threeValuedLogic() {
        // t = true, f = false, n = null (a missing field).
        let names = ["t": "payload.t", "f": "payload.f", "n": "payload.missing"]
        let truth: [String: RuleValue] = ["t": true, "f": false, "n": .null]
        let and: [String: String] = ["tt": "t", "tf": "f", "tn": "n", "ft": "f", "ff": "f", "fn": "f", "nt": "n", "nf": "f", "nn": "n"]
        let or: [String: String] = ["tt": "t", "tf": "t", "tn": "t", "ft": "t", "ff": "f", "fn": "n", "nt": "t", "nf": "n", "nn": "n"]
        for (pair, result) in and {
            let (a, b) = (String(pair.first!), String(pair.last!))
            #expect(value("\(names[a]!) AND \(names[b]!)") == truth[result], "\(a) AND \(b)")
        }
        for (pair, result) in or {
            let (a, b) = (String(pair.first!), String(pair.last!))
            #expect(value("\(names[a]!) OR \(names[b]!)") == truth[result], "\(a) OR \(b)")
        }
        #expect(value("NOT payload.t") == false)
        #expect(value("NOT payload.f") == true)
        #expect(value("NOT payload.missing") == .null)
        #expect(value("NOT NOT payload.t") == true)
        // The literals fold to the same answers.
        #expect(value("null AND false") == false)
        #expect(value("null OR true") == true)
        #expect(value("NOT null") == .null)
        // Precedence: NOT > AND > OR.
        #expect(value("payload.t OR payload.t AND payload.f") == true)
        #expect(value("NOT payload.t OR payload.t") == true)
        // The right side is not evaluated when the left decides (here it would fail).
        #expect(value("payload.f AND payload.s * 2 = 1") == false)
        #expect(value("payload.t OR payload.s * 2 = 1") == true)
        #expect(error("payload.i AND payload.t")?.message == "AND needs a boolean, found integer")
        #expect(error("payload.f OR 'yes' = payload.s OR payload.s")?.message == "OR needs a boolean, found string")
        #expect(error("NOT payload.s")?.message == "NOT needs a boolean, found string")
    }

    @Test func wherePassesOnlyOnTrue() throws {
        func passes(_ condition: String) throws -> Bool {
            var input = ruleMessage(telemetry)
            return try RuleStatement(parsing: "SELECT qos FROM '#' WHERE \(condition)").evaluate(&input) != nil
        }
        #expect(try passes("payload.t"))
        #expect(try !passes("payload.f"))
        #expect(try !passes("payload.missing"))
        #expect(try !passes("payload.missing = payload.missing"))
        #expect(try !passes("NOT (payload.missing > 1)"))
        #expect(try passes("payload.missing IS NULL"))
        var input = ruleMessage(telemetry)
        let rule = try RuleStatement(parsing: "SELECT qos FROM '#'\nWHERE payload.i")
        #expect(throws: RuleEvaluationError(.typeMismatch, "WHERE needs a boolean, found integer", at: RuleSourceLocation(line: 2, column: 7))) {
            try rule.evaluate(&input)
        }
    }

    @Test func inLists() {
        let cases: [(String, RuleValue)] = [
            ("qos IN (0, 1)", true), ("qos IN (2, 3)", false), ("qos IN (2, null)", .null), ("qos IN (1, null)", true),
            ("payload.missing IN (1)", .null), ("qos NOT IN (2, 3)", true), ("qos NOT IN (1)", false), ("qos NOT IN (2, null)", .null),
            ("payload.humidity IN (40.5)", true), ("payload.i IN (1.0)", true), ("clientid IN ('d2', 'd1')", true),
            ("payload.i IN (payload.i + 1, payload.temperature / 120)", true), ("payload.s IN (1, true)", false),
        ]
        for (expression, expected) in cases {
            #expect(value(expression) == expected, "\(expression)")
        }
    }

    @Test func likePatterns() {
        let cases: [(String, RuleValue)] = [
            ("payload.name LIKE 'Sensor-%'", true), ("payload.name LIKE 'sensor-%'", false), ("payload.name LIKE 'Sensor-_'", true),
            ("payload.name LIKE 'Sensor-__'", false), ("payload.name LIKE '%-%'", true), ("payload.name LIKE '%'", true),
            ("payload.empty LIKE '%'", true), ("payload.empty LIKE '_'", false), ("'héllo' LIKE 'h_llo'", true), ("'héllo' LIKE 'h__llo'", false),
            ("'😀x' LIKE '_x'", true), ("'100%' LIKE '100\\%'", true), ("'100x' LIKE '100\\%'", false), ("'a_b' LIKE 'a\\_b'", true),
            ("'axb' LIKE 'a\\_b'", false), ("'a\\b' LIKE 'a\\\\b'", true), ("'aaa' LIKE '%a%a%a%'", true), ("'ab' LIKE '%a%a%'", false),
            ("'mississippi' LIKE 'm%iss%ppi'", true), ("'mississippi' LIKE '%ss%ss%'", true), ("'mississippi' LIKE '%ss%ss%ss%'", false),
            ("payload.name NOT LIKE 'Sensor-%'", false), ("payload.missing LIKE 'x'", .null),
            ("payload.name LIKE concat(substr(payload.name, 1, 3), '%')", true), ("payload.name LIKE payload.missing", .null),
        ]
        for (expression, expected) in cases {
            #expect(value(expression) == expected, "\(expression)")
        }
        #expect(error("payload.i LIKE 'x'")?.message == "LIKE needs a string, found integer")
        #expect(error("payload.name LIKE payload.i")?.kind == .typeMismatch)
        // Many % against a long text stays fast (one backtrack point).
        let long = String(repeating: "a", count: 10_000)
        #expect(value("'\(long)' LIKE '%a%a%a%a%a%a%a%a%b'") == false)
    }

    @Test func topicFilterMatch() {
        let cases: [(String, RuleValue)] = [
            ("topic =~ 'devices/+/telemetry'", true), ("topic =~ 'devices/#'", true), ("topic =~ '#'", true), ("topic =~ 'other/#'", false),
            ("topic =~ 'devices/+'", false), ("'$SYS/x' =~ '#'", false), ("'$SYS/x' =~ '$SYS/#'", true), ("payload.missing =~ '#'", .null),
            ("topic =~ concat('devices/', clientid, '/#')", true), ("topic =~ concat('devices/', clientid, '/#/x')", false),
            ("NOT topic =~ 'devices/#'", false),
        ]
        for (expression, expected) in cases {
            #expect(value(expression) == expected, "\(expression)")
        }
        #expect(error("payload.i =~ '#'")?.message == "=~ needs a topic string on its left, found integer")
    }

    @Test func caseExpressions() {
        let grade = "CASE WHEN payload.temperature > 100 THEN 'hot' WHEN payload.temperature > 50 THEN 'warm' ELSE 'cold' END"
        #expect(value(grade, payload: #"{"temperature": 120}"#) == "hot")
        #expect(value(grade, payload: #"{"temperature": 60}"#) == "warm")
        #expect(value(grade, payload: #"{"temperature": 6}"#) == "cold")
        #expect(value(grade, payload: "{}") == "cold", "null conditions do not match")
        #expect(value("CASE WHEN payload.f THEN 1 END") == .null, "no ELSE: null")
        #expect(value("CASE qos WHEN 0 THEN 'at most once' WHEN 1 THEN 'at least once' ELSE 'exactly once' END") == "at least once")
        #expect(value("CASE payload.missing WHEN null THEN 'matched' ELSE 'not' END") == "not", "null equals nothing")
        #expect(value("CASE payload.humidity WHEN 40.5 THEN payload.i * 10 END") == 10)
        #expect(value("CASE WHEN payload.f THEN payload.s * 2 ELSE 0 END") == 0, "branches not taken are not evaluated")
        #expect(error("CASE WHEN payload.i THEN 1 END")?.message == "WHEN needs a boolean, found integer")
    }

    @Test func nullTests() {
        let cases: [(String, RuleValue)] = [
            ("payload.missing IS NULL", true), ("payload.nothing IS NULL", true), ("payload.i IS NULL", false), ("payload.i IS NOT NULL", true),
            ("payload.x.y.z IS NULL", true), ("payload.nothing IS NOT NULL", false), ("username IS NOT NULL", true),
        ]
        for (expression, expected) in cases {
            #expect(value(expression) == expected, "\(expression)")
        }
    }

    // MARK: Reading the input

    @Test func payloadPaths() {
        let cases: [(String, RuleValue)] = [
            ("payload.nested.deep.value", 3), ("payload.tags[0]", "a"), ("payload.tags[2]", "c"), ("payload.tags[3]", .null),
            ("payload.tags[-1]", "c"), ("payload.tags[-3]", "a"), ("payload.tags[-4]", .null), ("payload['odd key']", 1),
            (#"payload."odd key""#, 1), ("payload.'odd key'", 1), (#"payload["odd key"]"#, 1), ("payload.end", "kw"),
            ("payload.tags[payload.i]", "b"), ("payload[payload.k]", "Sensor-7"), ("payload.tags.x", .null), ("payload.name.x", .null),
            ("payload.name[0]", .null), ("payload.tags[payload.nothing]", .null), ("payload.missing.deeper[0].still", .null),
            ("payload.nested['deep'].value", 3), ("json_decode('{\"a\":{\"b\":[5]}}').a.b[0]", 5), ("(payload.nested).deep.value", 3),
            ("payload.nothing", .null),
        ]
        for (expression, expected) in cases {
            #expect(value(expression) == expected, "\(expression)")
        }
        #expect(error("payload.tags[payload.t]")?.message == "an index must be an integer or a string, found boolean")
        #expect(value("payload", payload: #"{"b":1,"a":[true]}"#) == .object([("b", 1), ("a", [true])]))
    }

    @Test func messageMetadata() throws {
        let input = ruleMessage(
            "{}", topic: "devices/d9/telemetry", clientId: "d9", username: nil, qos: 2, retain: true,
            headers: [("x-trace", "abc"), ("x-trace", "second")], userProperties: [("site", "north"), ("odd name", "v")])
        let rule = """
            SELECT topic, clientid, username, qos, retain, timestamp, headers.'x-trace', headers.missing AS h2, user_properties.site,
                   user_properties.'odd name' AS odd, user_properties["nope"] AS nope, topic_level(1) AS l1, topic_level(2) AS l2,
                   topic_level(3) AS l3, topic_level(4) AS l4, headers, user_properties
            FROM '#'
            """
        #expect(ruleOutput(rule, input) == .object([
            ("topic", "devices/d9/telemetry"), ("clientid", "d9"), ("username", .null), ("qos", 2), ("retain", true), ("timestamp", 1_700_000_000_123),
            ("x-trace", "abc"), ("h2", .null), ("site", "north"), ("odd", "v"), ("nope", .null), ("l1", "devices"), ("l2", "d9"), ("l3", "telemetry"),
            ("l4", .null), ("headers", .object([("x-trace", "abc"), ("x-trace", "second")])), ("user_properties", ["site": "north", "odd name": "v"]),
        ]))
        #expect(ruleValue("topic_level(2)", input: ruleMessage("{}", topic: "a//b")) == "")
        #expect(ruleValue("topic_level(3)", input: ruleMessage("{}", topic: "a//b/")) == "b")
        #expect(ruleValue("topic_level(4)", input: ruleMessage("{}", topic: "a//b/")) == "")
        #expect(ruleValue("clientid", input: ruleMessage("{}", clientId: nil)) == .null)
    }

    @Test func inputFromABrokerMessage() {
        var properties = MQTTProperties()
        properties.userProperties = [MQTTUserProperty(name: "site", value: "north")]
        let message = MQTTMessage(
            topic: "devices/d1/telemetry", payload: ByteBuffer(string: #"{"t":1}"#), qos: .atLeastOnce, retain: true, properties: properties,
            publisherClientId: "d1", publisherUsername: "alice", receivedAtMilliseconds: 1234)
        let input = RuleInput(message: message, headers: [("mqtt.topic", "devices/d1/telemetry")])
        #expect(ruleOutput("SELECT payload.t, clientid, username, qos, retain, timestamp, user_properties.site, headers.'mqtt.topic' AS h FROM '#'", input)
            == .object([("t", 1), ("clientid", "d1"), ("username", "alice"), ("qos", 1), ("retain", true), ("timestamp", 1234), ("site", "north"),
                        ("h", "devices/d1/telemetry")]))
    }

    @Test func selectStarOutputsTheObjectOrTheOriginal() {
        #expect(ruleOutput("SELECT * FROM '#'", ruleMessage(#"{"b": 1, "a": {"c": [true]}}"#)) == .object([("b", 1), ("a", ["c": [true]])]))
        #expect(ruleOutput("SELECT * FROM '#' WHERE payload.b = 1", ruleMessage(#"{"b": 1}"#)) == .object([("b", 1)]))
        #expect(ruleOutput("SELECT * FROM '#' WHERE payload.b = 2", ruleMessage(#"{"b": 1}"#)) == nil)
        #expect(ruleOutput("SELECT * FROM '#'", ruleMessage("hello world")) == .original)
        #expect(ruleOutput("SELECT * FROM '#'", ruleMessage("[1, 2]")) == .original, "JSON but not an object")
        #expect(ruleOutput("SELECT * FROM '#'", ruleMessage("42")) == .original)
        #expect(ruleOutput("SELECT * FROM '#'", ruleMessage("")) == .original)
        #expect(RuleOutput.original.value == nil)
    }

    @Test func payloadsThatAreNotJSONNeverBreakARule() {
        let text = ruleMessage("hello world")
        #expect(ruleValue("payload", input: text) == "hello world")
        #expect(ruleValue("payload.x", input: text) == .null)
        #expect(ruleValue("payload[0]", input: text) == .null)
        #expect(ruleValue("upper(payload)", input: text) == "HELLO WORLD")
        #expect(ruleValue("payload LIKE 'hello%'", input: text) == true)
        #expect(ruleOutput("SELECT clientid FROM '#' WHERE payload.x > 1", text) == nil, "field predicates are null, not true")
        #expect(ruleOutput("SELECT clientid FROM '#' WHERE NOT (payload.x > 1)", text) == nil)
        #expect(ruleOutput("SELECT clientid FROM '#' WHERE payload = 'hello world'", text) == .object([("clientid", "d1")]))
        let binary = RuleInput(topic: "raw", payload: ByteBuffer(bytes: [0xff, 0x00, 0x41]))
        #expect(ruleOutput("SELECT payload, hex_encode(payload) AS hex, base64_encode(payload) AS b64, payload.x FROM '#'", binary) == .object([("payload", .bytes([0xff, 0x00, 0x41])), ("hex", "ff0041"), ("b64", "/wBB"), ("x", .null)]))
        #expect(ruleOutput("SELECT * FROM '#'", binary) == .original)
        #expect(ruleEvaluationError("str(payload)", payload: "\u{ff}") == nil, "valid UTF-8 text is a string")
        // A payload nested past the bound is not JSON to a rule: it is the raw text.
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(ruleValue("is_str(payload)", input: ruleMessage(deep)) == true)
        #expect(ruleValue("payload", input: ruleMessage("42")) == 42, "a JSON scalar payload is that scalar")
        #expect(ruleValue("payload", input: ruleMessage("")) == "")
    }

    @Test func thePayloadIsParsedAgainWhenReplaced() throws {
        let rule = try RuleStatement(parsing: "SELECT payload.a FROM '#'")
        var input = ruleMessage(#"{"a": 1}"#)
        #expect(try rule.evaluate(&input) == .object([("a", 1)]))
        #expect(try rule.evaluate(&input) == .object([("a", 1)]), "the cached parse")
        input.payload = ByteBuffer(string: #"{"a": 2}"#)
        #expect(try rule.evaluate(&input) == .object([("a", 2)]))
    }

    // MARK: Functions

    @Test func mathFunctions() {
        let cases: [(String, RuleValue)] = [
            ("abs(-3)", 3), ("abs(-2.5)", 2.5), ("abs(payload.neg)", 1), ("round(2.5)", 3), ("round(-2.5)", -3), ("round(2.4)", 2),
            ("round(2.3456, 2)", 2.35), ("round(7)", 7), ("round(7, 3)", 7), ("floor(2.7)", 2), ("floor(-2.1)", -3), ("ceil(2.1)", 3),
            ("ceil(-2.9)", -2), ("ceil(1e300)", 1e300), ("floor(payload.humidity)", 40), ("sqrt(16)", 4.0), ("sqrt(2.25)", 1.5),
            ("min(3, 1, 2)", 1), ("max(1, 2.5)", 2.5), ("max(3, 2.5)", 3), ("min('b', 'a', 'c')", "a"), ("max(payload.i)", 1),
            ("min(1, payload.missing)", .null), ("abs(payload.missing)", .null),
        ]
        for (expression, expected) in cases {
            #expect(value(expression) == expected, "\(expression)")
        }
        #expect(error("sqrt(payload.neg)") == RuleEvaluationError(.invalidArgument, "sqrt: the square root of a negative number", at: RuleSourceLocation(line: 1, column: 8)))
        #expect(error("abs(payload.s)")?.message == "abs needs a number, found string")
        #expect(error("abs(payload.i - 9223372036854775807 - 2)")?.kind == .overflow)
        #expect(error("round(payload.humidity, 16)")?.kind == .invalidArgument)
        #expect(error("min(payload.i, payload.s)")?.message == "min cannot order string and integer")
        #expect(error("max(payload.tags)")?.kind == .typeMismatch)
    }

    @Test func stringFunctions() {
        let cases: [(String, RuleValue)] = [
            ("lower('AbC é')", "abc é"), ("upper(payload.name)", "SENSOR-7"), ("trim('  x y \n')", "x y"),
            ("concat('a', 1, true, null, 2.5, payload.missing)", "a1true2.5"), ("concat(payload.tags)", #"["a","b","c"]"#),
            ("concat(hex_decode('6869'), '!')", "hi!"), ("substr('hello', 2, 3)", "ell"), ("substr('hello', 2)", "ello"),
            ("substr('hello', 0, 3)", "he"), ("substr('hello', -5, 7)", "h"), ("substr('hello', 10)", ""), ("substr('hello', 1, 0)", ""),
            ("substr('héllo', 2, 1)", "é"), ("substr('hello', 3, 9223372036854775807)", "llo"), ("split('a/b//c', '/')", ["a", "b", "", "c"]),
            ("split(topic, '/')", ["devices", "d1", "telemetry"]), ("split('', ',')", [""]), ("replace('a-b-c', '-', '+')", "a+b+c"),
            ("replace('aaa', 'aa', 'b')", "ba"), ("replace('abc', '', 'x')", "abc"), ("length('héllo')", 5), ("length(payload.tags)", 3),
            ("length(payload.nested)", 1), ("length(hex_decode('00ff'))", 2), ("regex_match(payload.name, '^Sensor-[0-9]+$')", true),
            ("regex_match(clientid, '^x')", false), ("regex_match(payload.name, '[0-9]')", true), ("regex_match(payload.missing, 'a')", .null),
            ("upper(payload.missing)", .null), ("substr(payload.name, payload.missing)", .null),
        ]
        for (expression, expected) in cases {
            #expect(value(expression) == expected, "\(expression)")
        }
        #expect(error("upper(payload.i)") == RuleEvaluationError(.typeMismatch, "upper needs a string, found integer", at: RuleSourceLocation(line: 1, column: 8)))
        #expect(error("substr('x', 1, payload.neg)")?.kind == .invalidArgument)
        #expect(error("substr('x', payload.humidity)")?.message == "substr needs an integer, found number")
        #expect(error("split(payload.name, payload.empty)")?.message == "split: the separator must not be empty")
        #expect(error("regex_match(payload.i, 'a')")?.kind == .typeMismatch)
        #expect(error("concat(hex_decode(concat('ff', payload.empty)))")?.kind == .invalidArgument, "bytes that are not text")
    }

    @Test func typeFunctions() {
        let cases: [(String, RuleValue)] = [
            ("is_num(1)", true), ("is_num(1.5)", true), ("is_num('1')", false), ("is_num(payload.missing)", false), ("is_str('a')", true),
            ("is_str(1)", false), ("is_null(payload.missing)", true), ("is_null(payload.nothing)", true), ("is_null(0)", false),
            ("is_bool(false)", true), ("is_bool('false')", false), ("is_array(payload.tags)", true), ("is_array(payload.nested)", false),
            ("is_object(payload.nested)", true), ("str(12)", "12"), ("str(2.5)", "2.5"), ("str(100.0)", "100.0"), ("str(true)", "true"),
            ("str('x')", "x"), ("str(payload.tags)", #"["a","b","c"]"#), ("str(payload.missing)", .null), ("str(hex_decode('6869'))", "hi"),
            ("int('42')", 42), ("int(' 42 ')", 42), ("int('-4.9')", -4), ("int('1e3')", 1000), ("int(-4.9)", -4), ("int(4.9)", 4),
            ("int(true)", 1), ("int(7)", 7), ("float(3)", 3.0), ("float('2.5')", 2.5), ("float(false)", 0.0), ("float(1.5)", 1.5),
            ("bool('TRUE')", true), ("bool('false')", false), ("bool(0)", false), ("bool(1)", true), ("bool(1.0)", true), ("bool(true)", true),
            ("coalesce(payload.missing, payload.nothing, 'x', 'y')", "x"), ("coalesce(payload.missing)", .null), ("int(payload.missing)", .null),
        ]
        for (expression, expected) in cases {
            #expect(value(expression) == expected, "\(expression)")
        }
        #expect(error("int(payload.s)") == RuleEvaluationError(.invalidArgument, "int: 'a' is not a number", at: RuleSourceLocation(line: 1, column: 8)))
        #expect(error("int(concat('nan', payload.empty))")?.kind == .invalidArgument)
        #expect(error("int(payload.humidity * 1e300)")?.kind == .overflow)
        #expect(error("int(payload.tags)")?.kind == .typeMismatch)
        #expect(error("float(payload.s)")?.kind == .invalidArgument)
        #expect(error("bool(payload.i + 1)")?.message == "bool: 2 is not true, false, 1 or 0")
        #expect(error("bool(payload.s)")?.kind == .invalidArgument)
        #expect(error("bool(payload.tags)")?.kind == .typeMismatch)
    }

    @Test func jsonFunctions() {
        #expect(value(#"json_decode('{"a":[1,2.5,"x"]}')"#) == ["a": [1, 2.5, "x"]])
        #expect(value("json_decode('7')") == 7)
        #expect(value("json_decode(hex_decode('5b315d'))") == [1], "bytes decode too")
        #expect(value("json_encode(payload.nested)") == #"{"deep":{"value":3}}"#)
        #expect(value("json_encode(payload.missing)") == "null")
        #expect(value("json_encode('a\"b')") == #""a\"b""#)
        #expect(value("json_decode(json_encode(payload))") == RuleValue.parseJSON(Array(telemetry.utf8)))
        #expect(error("json_decode(payload.s)") == RuleEvaluationError(.invalidArgument, "json_decode: not valid JSON", at: RuleSourceLocation(line: 1, column: 8)))
        #expect(error("json_decode(payload.i)")?.kind == .typeMismatch)
    }

    @Test func timeFunctions() throws {
        let now = try #require(value("now_ms()"))
        guard case .int(let milliseconds) = now else {
            Issue.record("now_ms() is not an integer: \(now)")
            return
        }
        #expect(milliseconds > 1_600_000_000_000)
        let cases: [(String, RuleValue)] = [
            ("format_date(0)", "1970-01-01T00:00:00.000Z"), ("format_date(951782400123, 'iso8601')", "2000-02-29T00:00:00.123Z"),
            ("format_date(-1, 'RFC3339')", "1969-12-31T23:59:59.999Z"), ("format_date(timestamp)", "2023-11-14T22:13:20.123Z"),
            ("format_date(timestamp, '%Y/%m/%d %H:%M:%S.%L %j %s %z %Z %%')", "2023/11/14 22:13:20.123 318 1700000000 +0000 Z %"),
            ("format_date(1709164800000, '%j')", "060"), ("format_date(1.5e12)", "2017-07-14T02:40:00.000Z"),
            ("format_date(-62135596800000)", "0001-01-01T00:00:00.000Z"), ("format_date(253402300799999)", "9999-12-31T23:59:59.999Z"),
            ("format_date(payload.missing)", .null),
        ]
        for (expression, expected) in cases {
            #expect(value(expression) == expected, "\(expression)")
        }
        #expect(error("format_date(timestamp, '%Q')")?.message == "format_date: unknown directive %Q in the date format")
        #expect(error("format_date(timestamp, '%')")?.kind == .invalidArgument)
        #expect(error("format_date(payload.s)")?.kind == .typeMismatch)
        #expect(error("format_date(payload.humidity * 1e300)")?.kind == .overflow)
        // Every day for 800 years round-trips through the civil calendar, and dates only move forward.
        var mismatches: [Int64] = []
        var previous = RuleDateFormat.civil(fromDays: -150_001)
        for days in Int64(-150_000)...150_000 {
            let date = RuleDateFormat.civil(fromDays: days)
            if RuleDateFormat.days(fromCivil: date.year, date.month, date.day) != days || (date.year, date.month, date.day) <= (previous.year, previous.month, previous.day) {
                mismatches.append(days)
            }
            previous = date
        }
        #expect(mismatches.isEmpty)
    }

    @Test func encodingFunctions() {
        let cases: [(String, RuleValue)] = [
            ("base64_encode('hello')", "aGVsbG8="), ("base64_encode('')", ""), ("base64_encode('he')", "aGU="), ("base64_encode('hel')", "aGVs"),
            ("str(base64_decode('aGVsbG8='))", "hello"), ("str(base64_decode('aGVsbG8'))", "hello"), ("base64_decode('/wBB')", .bytes([0xff, 0, 0x41])),
            ("base64_decode('aGVsbG8=') = 'hello'", true), ("hex_encode('AB')", "4142"), ("hex_encode(hex_decode('00fF'))", "00ff"),
            ("hex_decode('4a4B')", .bytes([0x4a, 0x4b])), ("hex_decode('')", .bytes([])), ("base64_encode(payload.missing)", .null),
        ]
        for (expression, expected) in cases {
            #expect(value(expression) == expected, "\(expression)")
        }
        let bad = [
            "payload.s", "concat('aGVsbG8=', payload.s)", "concat('aGV', payload.empty, 't=')", "concat('aG', payload.empty, '==x')",
            "concat('aGVsbG9', payload.empty, '=')", "concat('aGVs bG8=', payload.empty)", "concat('aGVsbG8-', payload.empty)",
        ]
        for bad in bad {
            #expect(error("base64_decode(\(bad))")?.message == "base64_decode: not valid base64", "\(bad)")
        }
        #expect(error("hex_decode(payload.s)")?.message == "hex_decode: not valid hex")
        #expect(error("hex_decode(concat('0g', payload.empty))")?.kind == .invalidArgument)
        #expect(error("hex_encode(payload.i)")?.message == "hex_encode needs a string or bytes, found integer")
        // Every byte string up to 3 bytes round-trips through both encodings.
        for length in 0...3 {
            for seed in 0..<64 {
                let bytes = (0..<length).map { UInt8(truncatingIfNeeded: seed * 37 + $0 * 101) }
                #expect(RuleEncoding.base64Decode(RuleEncoding.base64Encode(bytes)) == bytes)
                #expect(RuleEncoding.hexDecode(RuleEncoding.hexEncode(bytes)) == bytes)
            }
        }
    }
}
