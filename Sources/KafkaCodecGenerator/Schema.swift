import Foundation

/// A field's type as the schemas spell it: a primitive, a struct name, or `[]` followed by either.
indirect enum FieldType: Equatable {
    case bool, int8, int16, uint16, int32, uint32, int64, float64
    case string, uuid, bytes, records
    case structure(String)
    case array(FieldType)

    init(parsing text: String, source: String) throws {
        if text.hasPrefix("[]") {
            let element = try FieldType(parsing: String(text.dropFirst(2)), source: source)
            if case .array = element {
                throw GeneratorError.invalidSchema(source, "nested arrays are not part of the schema language: \(text)")
            }
            self = .array(element)
            return
        }
        switch text {
        case "bool": self = .bool
        case "int8": self = .int8
        case "int16": self = .int16
        case "uint16": self = .uint16
        case "int32": self = .int32
        case "uint32": self = .uint32
        case "int64": self = .int64
        case "float64": self = .float64
        case "string": self = .string
        case "uuid": self = .uuid
        case "bytes": self = .bytes
        case "records": self = .records
        default:
            guard let first = text.first, first.isUppercase else {
                throw GeneratorError.invalidSchema(source, "unknown field type '\(text)'")
            }
            self = .structure(text)
        }
    }

    var isArray: Bool {
        if case .array = self { return true }
        return false
    }

    var structName: String? {
        switch self {
        case .structure(let name): return name
        case .array(let element): return element.structName
        default: return nil
        }
    }

    /// Types that may be null in the versions their `nullableVersions` name.
    var canBeNullable: Bool {
        switch self {
        case .string, .bytes, .records, .uuid, .array, .structure: return true
        default: return false
        }
    }
}

struct FieldSpec {
    var name: String
    var type: FieldType
    var versions: VersionRange
    var nullableVersions: VersionRange
    var taggedVersions: VersionRange
    var tag: UInt32?
    /// The schema's `default`, normalised to text; nil when absent.
    var defaultValue: String?
    var ignorable: Bool
    /// A field-level `flexibleVersions` override (only `RequestHeader.ClientId` has one: "none").
    var flexibleVersionsOverride: VersionRange?
    var fields: [FieldSpec]
    var about: String

    init(parsing object: [String: Any], source: String) throws {
        guard let name = object["name"] as? String else {
            throw GeneratorError.invalidSchema(source, "a field without a name")
        }
        let where_ = "\(source) field \(name)"
        guard let typeText = object["type"] as? String else {
            throw GeneratorError.invalidSchema(where_, "no type")
        }
        self.name = name
        self.type = try FieldType(parsing: typeText, source: where_)
        guard let versionsText = object["versions"] as? String else {
            throw GeneratorError.invalidSchema(where_, "no versions")
        }
        self.versions = try VersionRange(parsing: versionsText, source: where_)
        self.nullableVersions = try (object["nullableVersions"] as? String).map { try VersionRange(parsing: $0, source: where_) } ?? .none
        self.taggedVersions = try (object["taggedVersions"] as? String).map { try VersionRange(parsing: $0, source: where_) } ?? .none
        if let tag = object["tag"] {
            guard let value = FieldSpec.integer(tag) else {
                throw GeneratorError.invalidSchema(where_, "bad tag \(tag)")
            }
            self.tag = UInt32(value)
        } else {
            self.tag = nil
        }
        if (self.tag == nil) != self.taggedVersions.isEmpty {
            throw GeneratorError.invalidSchema(where_, "a tag needs taggedVersions and taggedVersions need a tag")
        }
        if let value = object["default"] {
            self.defaultValue = FieldSpec.text(value)
        } else {
            self.defaultValue = nil
        }
        self.ignorable = (object["ignorable"] as? Bool) ?? false
        self.flexibleVersionsOverride = try (object["flexibleVersions"] as? String).map { try VersionRange(parsing: $0, source: where_) }
        self.about = (object["about"] as? String) ?? ""
        let children = (object["fields"] as? [[String: Any]]) ?? []
        self.fields = try children.map { try FieldSpec(parsing: $0, source: "\(source).\(name)") }
        if !self.nullableVersions.isEmpty && !self.type.canBeNullable {
            throw GeneratorError.invalidSchema(where_, "type \(typeText) cannot be nullable")
        }
    }

    static func integer(_ value: Any) -> Int? {
        Int(text(value))
    }

    static func text(_ value: Any) -> String {
        if let text = value as? String { return text }
        if let number = value as? NSNumber {
            // JSONSerialization gives JSON booleans as NSNumber with the `char` encoding; `as? Bool`
            // would also accept the numbers 0 and 1, which are integer defaults.
            if String(cString: number.objCType) == "c" { return number.boolValue ? "true" : "false" }
            return number.stringValue
        }
        return "\(value)"
    }
}

/// A struct type: a message's top level, an inline struct, or one of the message's `commonStructs`.
struct StructSpec {
    var name: String
    var fields: [FieldSpec]
}

struct MessageSpec {
    enum Kind: String {
        case request, response, header, data
    }

    var name: String
    var kind: Kind
    var apiKey: Int16?
    var validVersions: VersionRange
    var flexibleVersions: VersionRange
    var listeners: [String]
    var latestVersionUnstable: Bool
    var fields: [FieldSpec]
    /// Every struct type the message defines (inline or common), each once, in order of first use.
    var structs: [StructSpec]

    init(parsing object: [String: Any], source: String) throws {
        guard let name = object["name"] as? String else {
            throw GeneratorError.invalidSchema(source, "no name")
        }
        guard let kindText = object["type"] as? String, let kind = Kind(rawValue: kindText) else {
            throw GeneratorError.invalidSchema(source, "unknown message type \(object["type"] ?? "nil")")
        }
        self.name = name
        self.kind = kind
        self.apiKey = object["apiKey"].flatMap(FieldSpec.integer).map { Int16($0) }
        guard let valid = object["validVersions"] as? String else {
            throw GeneratorError.invalidSchema(source, "no validVersions")
        }
        self.validVersions = try VersionRange(parsing: valid, source: source)
        if self.validVersions.isEmpty || self.validVersions.upper == nil {
            throw GeneratorError.invalidSchema(source, "validVersions must be a closed range")
        }
        self.flexibleVersions = try VersionRange(parsing: (object["flexibleVersions"] as? String) ?? "none", source: source)
        self.listeners = (object["listeners"] as? [String]) ?? []
        self.latestVersionUnstable = (object["latestVersionUnstable"] as? Bool) ?? false
        let fieldObjects = (object["fields"] as? [[String: Any]]) ?? []
        self.fields = try fieldObjects.map { try FieldSpec(parsing: $0, source: name) }
        var common: [String: StructSpec] = [:]
        var commonOrder: [String] = []
        for structObject in (object["commonStructs"] as? [[String: Any]]) ?? [] {
            guard let structName = structObject["name"] as? String else {
                throw GeneratorError.invalidSchema(source, "a common struct without a name")
            }
            let structFields = try ((structObject["fields"] as? [[String: Any]]) ?? []).map {
                try FieldSpec(parsing: $0, source: "\(name).\(structName)")
            }
            common[structName] = StructSpec(name: structName, fields: structFields)
            commonOrder.append(structName)
        }
        var collected: [StructSpec] = []
        var seen: Set<String> = []
        func collect(_ fields: [FieldSpec]) throws {
            for field in fields {
                guard let structName = field.type.structName else { continue }
                if !field.fields.isEmpty {
                    if seen.insert(structName).inserted {
                        collected.append(StructSpec(name: structName, fields: field.fields))
                    }
                    try collect(field.fields)
                } else if let shared = common[structName] {
                    if seen.insert(structName).inserted {
                        collected.append(shared)
                        try collect(shared.fields)
                    }
                } else {
                    throw GeneratorError.invalidSchema(source, "field \(field.name) names struct \(structName), which is neither inline nor common")
                }
            }
        }
        try collect(self.fields)
        for structName in commonOrder where !seen.contains(structName) {
            // A common struct nobody references still belongs to the message's vocabulary.
            seen.insert(structName)
            collected.append(common[structName]!)
            try collect(common[structName]!.fields)
        }
        self.structs = collected
    }

    var lowestVersion: Int16 { validVersions.lower }
    var highestVersion: Int16 { validVersions.upper! }

    var firstFlexibleVersion: Int16? {
        if flexibleVersions.isEmpty { return nil }
        return max(flexibleVersions.lower, lowestVersion) <= highestVersion ? flexibleVersions.lower : nil
    }
}
