@testable import KafkaCodecGenerator
import Testing

@Suite struct SchemaParsingTests {
    @Test func commentsOutsideStringsAreRemoved() throws {
        let text = """
            // licence
            { "about": "see http://kafka.apache.org", // trailing
              "escaped": "a \\" // still a string" }
            """
        let object = try JSONWithComments.parseObject(text, source: "test")
        #expect(object["about"] as? String == "see http://kafka.apache.org")
        #expect(object["escaped"] as? String == "a \" // still a string")
    }

    @Test func versionRanges() throws {
        let open = try VersionRange(parsing: "3+", source: "t")
        #expect(open.contains(3) && open.contains(100) && !open.contains(2))
        let closed = try VersionRange(parsing: "1-4", source: "t")
        #expect(closed.contains(1) && closed.contains(4) && !closed.contains(5))
        let single = try VersionRange(parsing: "7", source: "t")
        #expect(single.contains(7) && !single.contains(6))
        #expect(try VersionRange(parsing: "none", source: "t").isEmpty)
        #expect(throws: GeneratorError.self) { try VersionRange(parsing: "4-1", source: "t") }
    }

    @Test func conditionsAreSimplifiedAgainstTheirContext() {
        let all = VersionSet(lowest: 0, highest: 11, range: VersionRange(lower: 0, upper: nil))
        let fromThree = VersionSet(lowest: 0, highest: 11, range: VersionRange(lower: 3, upper: nil))
        let middle = VersionSet(lowest: 0, highest: 11, range: VersionRange(lower: 3, upper: 5))
        #expect(all.condition(within: nil) == nil)
        #expect(fromThree.condition(within: nil) == "version >= 3")
        #expect(middle.condition(within: nil) == "(version >= 3 && version <= 5)")
        // Within a struct that only occurs from version 3, a field present from 3 needs no test.
        #expect(fromThree.condition(within: fromThree) == nil)
        #expect(middle.condition(within: fromThree) == "version <= 5")
    }

    @Test func defaultsKeepBooleansAndIntegersApart() throws {
        let integerDefault = try FieldSpec(parsing: ["name": "A", "type": "int32", "versions": "0+", "default": 0], source: "t")
        let booleanDefault = try FieldSpec(parsing: ["name": "B", "type": "bool", "versions": "0+", "default": false], source: "t")
        #expect(integerDefault.defaultValue == "0")
        #expect(booleanDefault.defaultValue == "false")
    }
}
