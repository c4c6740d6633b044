@testable import Bridge
import Testing

@Suite struct RuleParserTests {
    @Test func theTelemetryRuleOfTheIssue() throws {
        let rule = try RuleStatement(parsing: "SELECT payload.temperature AS t, clientid FROM 'devices/+/telemetry' WHERE payload.temperature > 100")
        #expect(rule.sources == [.topicFilter("devices/+/telemetry")])
        #expect(rule.columnNames == ["t", "clientid"])
        #expect(rule.matches(topic: "devices/d1/telemetry"))
        #expect(!rule.matches(topic: "devices/d1/status"))
        #expect(!rule.matches(topic: "devices/d1/telemetry/extra"))
        #expect(!rule.matches(event: "client.disconnected"))
    }

    @Test func theDisconnectRuleOfTheIssue() throws {
        let rule = try RuleStatement(parsing: "SELECT clientid, reason FROM '$events/client.disconnected' WHERE reason != 'normal'")
        #expect(rule.sources == [.event("client.disconnected")])
        #expect(rule.columnNames == ["clientid", "reason"])
        #expect(rule.matches(event: "client.disconnected"))
        #expect(!rule.matches(event: "client.connected"))
        #expect(!rule.matches(topic: "$events/client.disconnected"))
    }

    @Test func severalSourcesFollowMQTTMatching() throws {
        let rule = try RuleStatement(parsing: "SELECT * FROM 'a/+', 'b/#', '$events/client.connected'")
        #expect(rule.sources == [.topicFilter("a/+"), .topicFilter("b/#"), .event("client.connected")])
        #expect(rule.columnNames == nil)
        #expect(rule.matches(topic: "a/x"))
        #expect(rule.matches(topic: "b"))
        #expect(rule.matches(topic: "b/c/d"))
        #expect(!rule.matches(topic: "a/x/y"))
        #expect(rule.matches(event: "client.connected"))
        let everything = try RuleStatement(parsing: "SELECT * FROM '#'")
        #expect(everything.matches(topic: "x/y"))
        #expect(!everything.matches(topic: "$SYS/broker/uptime"), "a wildcard first level does not match a $ topic")
    }

    @Test func keywordsAreCaseInsensitiveAndKeysAfterADotMayBeKeywords() throws {
        let rule = try RuleStatement(parsing: #"select payload.end, payload.select As s, payload."x" aS q FrOm 'x' WhErE payload.a iS nOt NuLl"#)
        #expect(rule.columnNames == ["end", "s", "q"])
    }

    @Test func unnamedColumnsAreNamedAfterTheirLastFieldOrTheirText() throws {
        let rule = try RuleStatement(parsing: """
            SELECT payload.temperature, clientid, upper(clientid), payload.list[0], payload["odd key"], payload.'other key', headers.'x',
                   user_properties.site, qos + 1, topic_level(2), "quoted name", payload, 'literal', CASE WHEN retain THEN 1 END
            FROM '#', '$events/client.connected'
            """)
        #expect(rule.columnNames == [
            "temperature", "clientid", "upper(clientid)", "payload.list[0]", "odd key", "other key", "x", "site", "qos + 1", "topic_level(2)",
            "quoted name", "payload", "'literal'", "CASE WHEN retain THEN 1 END",
        ])
    }

    @Test func multiLineRulesWithComments() throws {
        let rule = try RuleStatement(parsing: """
            -- hot devices
            SELECT payload.temperature AS t,   -- degrees
                   clientid
            FROM 'devices/+/telemetry'
            WHERE payload.temperature > 100 -- threshold
              AND qos >= 1
            """)
        #expect(rule.columnNames == ["t", "clientid"])
    }

    @Test func integerLiteralBounds() {
        #expect(ruleValue("-9223372036854775808") == .int(.min))
        #expect(ruleValue("9223372036854775807") == .int(.max))
        #expect(ruleValue("9223372036854775808") == .double(9_223_372_036_854_775_808.0))
        #expect(ruleValue("2.50") == .double(2.5))
        #expect(ruleValue("1e3") == .double(1000))
        #expect(ruleValue("- 3") == .int(-3))
        #expect(ruleValue("'it''s'") == .string("it's"))
    }

    /// (rule, line, column, message)
    static let errors: [(String, Int, Int, String)] = [
        ("SELECT payload.a WHERE payload.a > 1", 1, 18, "expected FROM after the select list, found 'WHERE'"),
        ("select payload.t\n  from 'a/b'\n where payload.t >> 100", 3, 19, "expected an expression, found '>'"),
        ("SELECT payload.a\n-- a comment WHERE\nFORM 'x'", 3, 1, "expected FROM after the select list, found 'FORM'"),
        ("SELECT clientid FROM 'abc", 1, 22, "unterminated string: no closing '"),
        ("SELECT \"abc FROM 'x'", 1, 8, "unterminated quoted name: no closing \""),
        ("SELECT foo(1) FROM '#'", 1, 8, "unknown function 'foo'"),
        ("SELECT * FROM 'a/#/b'", 1, 15, "'a/#/b' is not a valid MQTT topic filter"),
        ("SELECT * FROM '$share/g/a/b'", 1, 15, "'$share/g/a/b' is not a valid MQTT topic filter"),
        ("SELECT * FROM devices", 1, 15, "expected a quoted MQTT topic filter or '$events/<name>' after FROM, found 'devices'"),
        ("SELECT abs(1, 2) FROM '#'", 1, 8, "abs takes 1 argument, found 2"),
        ("SELECT substr('x') FROM '#'", 1, 8, "substr takes 2 to 3 arguments, found 1"),
        ("SELECT concat() FROM '#'", 1, 8, "concat takes at least 1 argument, found 0"),
        ("SELECT * FROM '#' WHERE payload.a IS 1", 1, 38, "expected NULL or NOT NULL after IS, found '1'"),
        ("SELECT * FROM '#' WHERE payload.a IS NOT 1", 1, 42, "expected NULL after IS NOT, found '1'"),
        ("SELECT * FROM '#' WHERE payload.a NOT 1", 1, 39, "expected IN or LIKE after NOT, found '1'"),
        ("SELECT * FROM '#' WHERE qos IN 1", 1, 32, "expected '(' after IN, found '1'"),
        ("SELECT * FROM '#' WHERE qos IN (1 2)", 1, 35, "expected ',' or ')' in the IN list, found '2'"),
        ("SELECT CASE WHEN qos = 1 'x' END AS c FROM '#'", 1, 26, "expected THEN after the WHEN condition, found string 'x'"),
        ("SELECT CASE qos END AS c FROM '#'", 1, 17, "expected WHEN after CASE, found 'END'"),
        ("SELECT CASE WHEN retain THEN 1 ELSE 2 AS c FROM '#'", 1, 39, "expected END after ELSE, found 'AS'"),
        ("SELECT * FROM '$events/'", 1, 15, "'$events/' names no event (write '$events/client.connected', ...)"),
        ("SELECT *, clientid FROM '#'", 1, 9, "'*' must be the whole select list; list the fields instead"),
        ("SELECT * FROM '#' WHERE qos = 1 clientid", 1, 33, "expected the end of the rule after the WHERE condition, found 'clientid'"),
        ("SELECT * FROM '#' clientid", 1, 19, "expected WHERE or the end of the rule after the FROM sources, found 'clientid'"),
        ("SELECT * FROM '#' WHERE qos = 1 = 1", 1, 33, "expected the end of the rule after the WHERE condition, found '='"),
        ("SELECT payload.a # 1 FROM 'x'", 1, 18, "unexpected character '#'"),
        ("SELECT payload.a ! 1 FROM 'x'", 1, 18, "unexpected character '!' (did you mean '!='?)"),
        ("SELECT 12abc FROM 'x'", 1, 10, "unexpected character 'a' after a number"),
        ("SELECT 1e FROM 'x'", 1, 9, "expected digits in the exponent of a number"),
        ("SELECT 1e400 AS x FROM '#'", 1, 8, "the number 1e400 is out of range"),
        ("SELECT payload. FROM 'x'", 1, 17, "expected a field name after '.', found 'FROM'"),
        ("SELECT payload[1 FROM 'x'", 1, 18, "expected ']' after the index, found 'FROM'"),
        ("SELECT payload[true] FROM 'x'", 1, 16, "an index must be an integer or a string, found boolean"),
        ("SELECT (qos FROM 'x'", 1, 13, "expected ')', found 'FROM'"),
        ("SELECT abs(qos FROM 'x'", 1, 16, "expected ',' or ')' after a function argument, found 'FROM'"),
        ("SELECT payload.x AS FROM 'a'", 1, 21, "expected a name after AS, found 'FROM'"),
        ("SELECT FROM 'a'", 1, 8, "expected an expression, found 'FROM'"),
        ("", 1, 1, "expected SELECT at the start of the rule, found end of input"),
        ("SELECT * FROM '#' WHERE", 1, 24, "expected an expression, found end of input"),
        ("SELECT 1 / 0 AS x FROM '#'", 1, 10, "division by zero"),
        ("SELECT 'a' * 2 AS x FROM '#'", 1, 12, "operator * needs numbers, found string and integer"),
        ("SELECT regex_match(clientid, '(') AS r FROM '#'", 1, 30, "invalid regular expression '('"),
        ("SELECT regex_match(clientid, clientid) AS r FROM '#'", 1, 30, "regex_match needs the pattern as a string literal"),
        ("SELECT * FROM '#' WHERE topic =~ 'a/#/b'", 1, 34, "'a/#/b' is not a valid MQTT topic filter"),
        ("SELECT * FROM '#' WHERE topic =~ 3", 1, 34, "=~ needs a topic filter string, found integer"),
        ("SELECT * FROM '#' WHERE topic LIKE 3", 1, 36, "LIKE needs a string pattern, found integer"),
        ("SELECT topic_level(0) FROM '#'", 1, 20, "topic_level needs a level number of 1 or more"),
        ("SELECT 'héllo' AS a, payload.b AS a FROM '#'", 1, 22, "a second column named 'a'; give one of them another name with AS"),
        ("SELECT payload.a, payload.b.a FROM '#'", 1, 19, "a second column named 'a'; give one of them another name with AS"),
    ]

    @Test(arguments: errors) func parseErrorsSayWhatAndWhere(_ text: String, _ line: Int, _ column: Int, _ message: String) {
        #expect(ruleParseError(text) == RuleParseError(line: line, column: column, message: message), "\(text)")
    }

    @Test func unknownNamesInMessageRulesPointAtThePayload() throws {
        let error = try #require(ruleParseError("SELECT clientid FROM 'devices/#' WHERE temperature > 1"))
        #expect(error.line == 1 && error.column == 40)
        #expect(error.message.hasPrefix("unknown name 'temperature': a message has payload, topic, clientid, username, qos, retain, timestamp"))
        #expect(error.message.hasSuffix("(payload fields are read as payload.temperature)"))
        #expect(error.description == "line 1, column 40: " + error.message)
        // Names are case-sensitive, like the JSON keys and MQTT names they stand for.
        #expect(ruleParseError("SELECT ClientId FROM 'x'")?.message.hasPrefix("unknown name 'ClientId'") == true)
        // In an event rule every name may be a member of the event.
        #expect(ruleParseError("SELECT reason, peer FROM '$events/client.disconnected' WHERE reason != 'normal'") == nil)
    }

    @Test func descriptionNamesLineAndColumn() {
        let error = RuleParseError(line: 1, column: 23, message: "expected FROM after the select list, found 'WHERE'")
        #expect(error.description == "line 1, column 23: expected FROM after the select list, found 'WHERE'")
    }

    @Test func pathologicalNestingFailsToParseInsteadOfCrashing() throws {
        let deep = String(repeating: "(", count: 5_000) + "1" + String(repeating: ")", count: 5_000)
        let parentheses = try #require(ruleParseError("SELECT \(deep) AS x FROM '#'"))
        #expect(parentheses.message == "expressions nest deeper than 128 levels")
        let nots = try #require(ruleParseError("SELECT * FROM '#' WHERE " + String(repeating: "NOT ", count: 5_000) + "retain"))
        #expect(nots.message == "expressions nest deeper than 128 levels")
        let minus = try #require(ruleParseError("SELECT " + String(repeating: "- ", count: 5_000) + "qos AS x FROM '#'"))
        #expect(minus.message == "expressions nest deeper than 128 levels")
        // Chains grow the tree without nesting the parser; the tree's height is bounded too.
        let chain = try #require(ruleParseError("SELECT " + Array(repeating: "qos", count: 10_000).joined(separator: " + ") + " AS x FROM '#'"))
        #expect(chain.message == "the expression is too deep: more than 256 operations inside one another")
        let path = try #require(ruleParseError("SELECT payload" + String(repeating: ".a", count: 300) + " AS x FROM '#'"))
        #expect(path.message == "the expression is too deep: more than 256 operations inside one another")
        #expect(ruleParseError("SELECT * FROM '#' WHERE " + Array(repeating: "qos = 1", count: 200).joined(separator: " AND ")) == nil)
        #expect(ruleParseError(String(repeating: " ", count: 65_537)) == RuleParseError(line: 1, column: 1, message: "the rule is longer than 65536 characters"))
        // Within the bound all is well.
        let fine = String(repeating: "(", count: 100) + "1" + String(repeating: ")", count: 100)
        #expect(ruleValue(fine) == .int(1))
    }

    @Test func anyPrefixOfAValidRuleFailsCleanly() {
        // Every truncation of a rich rule is either a rule or a parse error; none traps.
        let text = """
            SELECT payload.a.b[0] AS x, CASE WHEN qos IN (1, 2) THEN 'q' ELSE lower(topic) END AS y
            FROM 'devices/+/x', '$events/client.connected' WHERE NOT (payload.t IS NULL) AND topic =~ 'devices/#' OR clientid LIKE 'd\\_%'
            """
        let scalars = Array(text.unicodeScalars)
        for length in 0...scalars.count {
            var prefix = ""
            prefix.unicodeScalars.append(contentsOf: scalars[0..<length])
            _ = ruleParseError(prefix)
        }
    }
}
