import Foundation

/// Emits one Swift file per message: a value type for the message and nested types for its structs, with
/// `init(from:version:)` and `encode(into:version:)` that follow the schema version by version.
///
/// The generated code is deliberately plain: explicit types, one statement per field, no result builders or
/// long chained expressions, so that the type checker does little work per line (it must build quickly on
/// two cores).
struct MessageEmitter {
    let message: MessageSpec
    let lowest: Int16
    let highest: Int16
    let flexible: VersionSet
    /// Top-level type name used in generated code, e.g. `ProduceRequest`.
    var typeName: String { message.name }

    /// For each struct, the versions in which it can occur at all; conditions are simplified against them.
    let contexts: [String: VersionSet]

    init(message: MessageSpec) {
        self.message = message
        self.lowest = message.lowestVersion
        self.highest = message.highestVersion
        self.flexible = VersionSet(lowest: message.lowestVersion, highest: message.highestVersion, range: message.flexibleVersions)
        let all = VersionSet(lowest: lowest, highest: highest, range: message.validVersions)
        let empty = VersionSet(lowest: lowest, highest: highest, range: .none)
        var contexts: [String: VersionSet] = [message.name: all]
        let scopes: [(String, [FieldSpec])] = [(message.name, message.fields)] + message.structs.map { ($0.name, $0.fields) }
        var changed = true
        while changed {
            changed = false
            for (name, fields) in scopes {
                guard let context = contexts[name] else { continue }
                for field in fields {
                    guard let child = field.type.structName else { continue }
                    let reach = VersionSet(lowest: lowest, highest: highest, range: field.versions).intersection(context)
                    let before = contexts[child] ?? empty
                    let after = before.union(reach)
                    if after != before {
                        contexts[child] = after
                        changed = true
                    }
                }
            }
        }
        self.contexts = contexts
    }

    func set(_ range: VersionRange) -> VersionSet {
        VersionSet(lowest: lowest, highest: highest, range: range)
    }

    // MARK: Field plans

    /// What the generator needs to know about one field within this message.
    struct FieldPlan {
        var spec: FieldSpec
        var property: String
        var declaredName: String
        var swiftType: String
        var isOptional: Bool
        var defaultExpression: String
        var present: VersionSet
        var regular: VersionSet
        var tagged: VersionSet
        var absent: VersionSet
        var nullable: VersionSet
        /// The versions in which the enclosing struct occurs.
        var context: VersionSet
        var compactExpression: String
        var fieldLiteral: String
    }

    func plan(_ field: FieldSpec, structName: String) throws -> FieldPlan {
        let property = SwiftNames.property(field.name)
        if SwiftNames.reserved.contains(property) {
            throw GeneratorError.invalidSchema(message.name, "field \(field.name) collides with a name the generated code uses")
        }
        let context = contexts[structName] ?? set(.none)
        let present = set(field.versions).intersection(context)
        let tagged = set(field.taggedVersions).intersection(present)
        let regular = present.subtracting(tagged)
        let absent = context.subtracting(present)
        let nullable = set(field.nullableVersions).intersection(present)
        let isOptional = !field.nullableVersions.isEmpty || field.type == .records || field.defaultValue == "null"
        if field.defaultValue == "null" && field.nullableVersions.isEmpty && field.type != .records {
            throw GeneratorError.invalidSchema(message.name, "field \(field.name) defaults to null but is never nullable")
        }
        let compact: String
        if let override = field.flexibleVersionsOverride {
            let compactSet = flexible.intersection(set(override))
            if compactSet == flexible {
                compact = "flexible"
            } else if compactSet.isEmpty {
                compact = "false"
            } else {
                compact = "(\(compactSet.condition(within: context) ?? "true"))"
            }
        } else {
            compact = "flexible"
        }
        let baseType = swiftType(field.type)
        return FieldPlan(
            spec: field,
            property: property,
            declaredName: SwiftNames.escaped(property),
            swiftType: isOptional ? "\(baseType)?" : baseType,
            isOptional: isOptional,
            defaultExpression: try defaultExpression(field, isOptional: isOptional),
            present: present,
            regular: regular,
            tagged: tagged,
            absent: absent,
            nullable: nullable,
            context: context,
            compactExpression: compact,
            fieldLiteral: SwiftNames.stringLiteral("\(message.name).\(structName == message.name ? "" : structName + ".")\(field.name)")
        )
    }

    func swiftType(_ type: FieldType) -> String {
        switch type {
        case .bool: return "Bool"
        case .int8: return "Int8"
        case .int16: return "Int16"
        case .uint16: return "UInt16"
        case .int32: return "Int32"
        case .uint32: return "UInt32"
        case .int64: return "Int64"
        case .float64: return "Double"
        case .string: return "String"
        case .uuid: return "KafkaUUID"
        case .bytes, .records: return "ByteBuffer"
        case .structure(let name): return name
        case .array(let element): return "[\(swiftType(element))]"
        }
    }

    func defaultExpression(_ field: FieldSpec, isOptional: Bool) throws -> String {
        if field.defaultValue == "null" { return "nil" }
        if field.type == .records { return "nil" }
        let given = field.defaultValue
        func integer(min: Int64, max: Int64) throws -> String {
            guard let given else { return "0" }
            let parsed: Int64?
            if given.hasPrefix("0x") || given.hasPrefix("-0x") {
                let negative = given.hasPrefix("-")
                let digits = given.dropFirst(negative ? 3 : 2)
                parsed = Int64(digits, radix: 16).map { negative ? -$0 : $0 }
            } else {
                parsed = Int64(given)
            }
            guard let value = parsed, value >= min, value <= max else {
                throw GeneratorError.invalidSchema(message.name, "field \(field.name): default \(given) does not fit")
            }
            return String(value)
        }
        switch field.type {
        case .bool:
            guard let given else { return "false" }
            guard given == "true" || given == "false" else {
                throw GeneratorError.invalidSchema(message.name, "field \(field.name): bad boolean default \(given)")
            }
            return given
        case .int8: return try integer(min: Int64(Int8.min), max: Int64(Int8.max))
        case .int16: return try integer(min: Int64(Int16.min), max: Int64(Int16.max))
        case .uint16: return try integer(min: 0, max: Int64(UInt16.max))
        case .int32: return try integer(min: Int64(Int32.min), max: Int64(Int32.max))
        case .uint32: return try integer(min: 0, max: Int64(UInt32.max))
        case .int64: return try integer(min: Int64.min, max: Int64.max)
        case .float64:
            guard let given else { return "0" }
            guard let value = Double(given) else {
                throw GeneratorError.invalidSchema(message.name, "field \(field.name): bad float default \(given)")
            }
            return "\(value)"
        case .string:
            return SwiftNames.stringLiteral(given ?? "")
        case .uuid:
            return "KafkaUUID.zero"
        case .bytes:
            return "ByteBuffer()"
        case .records:
            return "nil"
        case .structure(let name):
            return "\(name)()"
        case .array:
            return "[]"
        }
    }

    // MARK: Files

    func emitFile() throws -> String {
        var builder = CodeBuilder()
        builder.line(GeneratedHeader.text)
        builder.line("public import NIOCore")
        builder.line()
        try emitStruct(name: message.name, fields: message.fields, isTopLevel: true, into: &builder)
        if !message.structs.isEmpty {
            builder.line()
            try builder.block("extension \(message.name)") { builder in
                for (index, spec) in message.structs.enumerated() {
                    if index > 0 { builder.line() }
                    try emitStruct(name: spec.name, fields: spec.fields, isTopLevel: false, into: &builder)
                }
            }
        }
        return builder.text
    }

    func conformances(isTopLevel: Bool) -> String {
        guard isTopLevel else { return "Sendable, Equatable" }
        switch message.kind {
        case .request: return "KafkaRequestMessage"
        case .response: return "KafkaResponseMessage"
        case .header, .data: return "KafkaMessage"
        }
    }

    var hasFlexibleVersions: Bool { !flexible.isEmpty }

    func emitStruct(name: String, fields: [FieldSpec], isTopLevel: Bool, into builder: inout CodeBuilder) throws {
        let plans = try fields.map { try plan($0, structName: name) }
        try builder.block("public struct \(name): \(conformances(isTopLevel: isTopLevel))") { builder in
            if isTopLevel {
                emitStaticMembers(into: &builder)
            }
            for plan in plans {
                builder.doc(plan.spec.about)
                builder.line("public var \(plan.declaredName): \(plan.swiftType) = \(plan.defaultExpression)")
            }
            if hasFlexibleVersions {
                builder.line("/// Tagged fields this version does not know, kept so that re-encoding preserves them.")
                builder.line("public var unknownTaggedFields: [KafkaTaggedField] = []")
            }
            builder.line()
            builder.line("public init() {}")
            if !plans.isEmpty {
                builder.line()
                builder.line("public init(")
                builder.indent { builder in
                    for (index, plan) in plans.enumerated() {
                        let comma = index == plans.count - 1 ? "" : ","
                        builder.line("\(plan.declaredName): \(plan.swiftType) = \(plan.defaultExpression)\(comma)")
                    }
                }
                builder.block(")") { builder in
                    for plan in plans {
                        builder.line("self.\(plan.property) = \(plan.declaredName)")
                    }
                }
            }
            builder.line()
            try emitDecoder(name: name, plans: plans, isTopLevel: isTopLevel, into: &builder)
            builder.line()
            try emitEncoder(name: name, plans: plans, isTopLevel: isTopLevel, into: &builder)
        }
    }

    func emitStaticMembers(into builder: inout CodeBuilder) {
        switch message.kind {
        case .request:
            let responseName = message.name.replacingOccurrences(of: "Request", with: "Response", options: .backwards)
            builder.line("public typealias Response = \(responseName)")
            builder.line("public static let apiKey: KafkaApiKey = .\(SwiftNames.apiCase(message.name))")
        case .response:
            let requestName = String(message.name.dropLast("Response".count)) + "Request"
            builder.line("public static let apiKey: KafkaApiKey = .\(SwiftNames.apiCase(requestName))")
        case .header, .data:
            break
        }
        builder.line("public static let messageName: String = \(SwiftNames.stringLiteral(message.name))")
        builder.line("public static let validVersions: ClosedRange<Int16> = \(lowest)...\(highest)")
        if let first = message.firstFlexibleVersion {
            builder.line("public static let firstFlexibleVersion: Int16? = \(first)")
        } else {
            builder.line("public static let firstFlexibleVersion: Int16? = nil")
        }
        builder.line()
    }

    var flexibleDeclaration: String {
        if let first = message.firstFlexibleVersion {
            return "let flexible: Bool = version >= \(first)"
        }
        return "let flexible: Bool = false"
    }

    // MARK: Decoding

    func emitDecoder(name: String, plans: [FieldPlan], isTopLevel: Bool, into builder: inout CodeBuilder) throws {
        let structLiteral = SwiftNames.stringLiteral(name == message.name ? message.name : "\(message.name).\(name)")
        try builder.block("public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError)") { builder in
            var body = CodeBuilder()
            if isTopLevel {
                body.block("guard version >= \(lowest) && version <= \(highest) else") { body in
                    body.line("throw KafkaDecodingError(\(structLiteral), .unsupportedVersion(version))")
                }
            }
            for plan in plans {
                guard !plan.regular.isEmpty else { continue }
                if let condition = plan.regular.condition(within: plan.context) {
                    try body.block("if \(condition)") { body in
                        try emitRead(plan, within: plan.regular, buffer: "buffer", compact: plan.compactExpression, into: &body)
                    }
                } else {
                    try emitRead(plan, within: plan.regular, buffer: "buffer", compact: plan.compactExpression, into: &body)
                }
            }
            if hasFlexibleVersions {
                let taggedPlans = plans.filter { !$0.tagged.isEmpty }
                try body.block("if flexible") { body in
                    if taggedPlans.isEmpty {
                        body.line("self.unknownTaggedFields = try buffer.readKafkaUnknownTaggedFields(field: \(structLiteral))")
                        return
                    }
                    body.line("let taggedFieldCount: Int = try buffer.readKafkaTaggedFieldCount(field: \(structLiteral))")
                    body.line("var previousTag: Int64 = -1")
                    try body.block("for _ in 0..<taggedFieldCount") { body in
                        body.line("let taggedField: KafkaTaggedField = try buffer.readKafkaTaggedField(field: \(structLiteral), previousTag: &previousTag)")
                        body.line("switch taggedField.tag {")
                        for plan in taggedPlans {
                            let guardText = plan.tagged.condition(within: plan.context).map { " where \($0)" } ?? ""
                            body.line("case \(plan.spec.tag!)\(guardText):")
                            try body.indent { body in
                                body.line("var taggedData: ByteBuffer = taggedField.data")
                                try emitRead(plan, within: plan.tagged, buffer: "taggedData", compact: "true", into: &body)
                                body.line("try taggedData.kafkaExpectFullyConsumed(field: \(plan.fieldLiteral))")
                            }
                        }
                        body.line("default:")
                        body.indent { body in
                            body.line("self.unknownTaggedFields.append(taggedField)")
                        }
                        body.line("}")
                    }
                }
            }
            if body.text.contains("flexible") {
                builder.line(flexibleDeclaration)
            }
            builder.append(body)
        }
    }

    /// Reads one field for the versions in `within`, choosing the nullable or non-nullable form per version.
    func emitRead(_ plan: FieldPlan, within versions: VersionSet, buffer: String, compact: String, into builder: inout CodeBuilder) throws {
        let nullableHere = plan.nullable.intersection(versions)
        let target = "self.\(plan.property)"
        func emit(nullable: Bool, into builder: inout CodeBuilder) throws {
            if case .structure(let structName) = plan.spec.type, nullable {
                builder.ifElse("try \(buffer).readKafkaStructPresence(field: \(plan.fieldLiteral))") { builder in
                    builder.line("\(target) = try \(structName)(from: &\(buffer), version: version)")
                } else: { builder in
                    builder.line("\(target) = nil")
                }
                return
            }
            try emitReadExpression(plan.spec.type, nullable: nullable, compact: compact, buffer: buffer, field: plan.fieldLiteral, assignTo: target, into: &builder)
        }
        if nullableHere.isEmpty {
            try emit(nullable: false, into: &builder)
        } else if nullableHere == versions {
            try emit(nullable: true, into: &builder)
        } else {
            try builder.ifElse(plan.nullable.condition(within: versions)!) { builder in
                try emit(nullable: true, into: &builder)
            } else: { builder in
                try emit(nullable: false, into: &builder)
            }
        }
    }

    func primitiveReader(_ type: FieldType) -> String? {
        switch type {
        case .bool: return "readKafkaBool"
        case .int8: return "readKafkaInt8"
        case .int16: return "readKafkaInt16"
        case .uint16: return "readKafkaUInt16"
        case .int32: return "readKafkaInt32"
        case .uint32: return "readKafkaUInt32"
        case .int64: return "readKafkaInt64"
        case .float64: return "readKafkaFloat64"
        case .uuid: return "readKafkaUUID"
        default: return nil
        }
    }

    /// `<assignTo> = <read expression>` for a non-struct or non-nullable value; arrays read their elements
    /// through a closure with an explicit signature.
    func emitReadExpression(
        _ type: FieldType, nullable: Bool, compact: String, buffer: String, field: String, assignTo target: String,
        into builder: inout CodeBuilder
    ) throws {
        switch type {
        case .array(let element):
            let elementType = swiftType(element)
            let reader = nullable ? "readKafkaNullableArray" : "readKafkaArray"
            builder.line("\(target) = try \(buffer).\(reader)(compact: \(compact), field: \(field)) { (elementBuffer: inout ByteBuffer) throws(KafkaDecodingError) -> \(elementType) in")
            builder.indent { builder in
                builder.line("return " + scalarReadExpression(element, nullable: false, compact: compact, buffer: "elementBuffer", field: field))
            }
            builder.line("}")
        default:
            builder.line("\(target) = " + scalarReadExpression(type, nullable: nullable, compact: compact, buffer: buffer, field: field))
        }
    }

    func scalarReadExpression(_ type: FieldType, nullable: Bool, compact: String, buffer: String, field: String) -> String {
        if let reader = primitiveReader(type) {
            return "try \(buffer).\(reader)(field: \(field))"
        }
        switch type {
        case .string:
            return "try \(buffer).readKafka\(nullable ? "Nullable" : "")String(compact: \(compact), field: \(field))"
        case .bytes, .records:
            return "try \(buffer).readKafka\(nullable ? "Nullable" : "")Bytes(compact: \(compact), field: \(field))"
        case .structure(let name):
            return "try \(name)(from: &\(buffer), version: version)"
        default:
            preconditionFailure("arrays are handled by emitReadExpression")
        }
    }

    // MARK: Encoding

    func emitEncoder(name: String, plans: [FieldPlan], isTopLevel: Bool, into builder: inout CodeBuilder) throws {
        let structLiteral = SwiftNames.stringLiteral(name == message.name ? message.name : "\(message.name).\(name)")
        try builder.block("public func encode(into buffer: inout ByteBuffer, version: Int16) throws(KafkaEncodingError)") { builder in
            var body = CodeBuilder()
            if isTopLevel {
                body.block("guard version >= \(lowest) && version <= \(highest) else") { body in
                    body.line("throw KafkaEncodingError(\(structLiteral), .unsupportedVersion, version: version)")
                }
            }
            for plan in plans {
                if !plan.regular.isEmpty {
                    if let condition = plan.regular.condition(within: plan.context) {
                        try body.block("if \(condition)") { body in
                            try emitWrite(plan, within: plan.regular, buffer: "buffer", compact: plan.compactExpression, into: &body)
                        }
                    } else {
                        try emitWrite(plan, within: plan.regular, buffer: "buffer", compact: plan.compactExpression, into: &body)
                    }
                }
                if !plan.spec.ignorable && !plan.absent.isEmpty {
                    // Apache Kafka refuses to drop information silently: a non-default value in a version
                    // that cannot carry it is an error unless the schema marks the field ignorable.
                    let absentTerm = plan.absent.groupedCondition(within: plan.context).map { "\($0) && " } ?? ""
                    body.block("if \(absentTerm)self.\(plan.property) != \(plan.defaultExpression)") { body in
                        body.line("throw KafkaEncodingError(\(plan.fieldLiteral), .nonDefaultValueUnsupported, version: version)")
                    }
                }
            }
            if hasFlexibleVersions {
                let taggedPlans = plans.filter { !$0.tagged.isEmpty }
                try body.block("if flexible") { body in
                    if taggedPlans.isEmpty {
                        body.line("buffer.writeKafkaTaggedFields(self.unknownTaggedFields)")
                        return
                    }
                    body.line("var taggedFields: [KafkaTaggedField] = self.unknownTaggedFields")
                    for plan in taggedPlans {
                        let versionTerm = plan.tagged.groupedCondition(within: plan.context).map { "\($0) && " } ?? ""
                        try body.block("if \(versionTerm)self.\(plan.property) != \(plan.defaultExpression)") { body in
                            body.line("var taggedData: ByteBuffer = ByteBuffer()")
                            try emitWrite(plan, within: plan.tagged, buffer: "taggedData", compact: "true", into: &body)
                            body.line("taggedFields.append(KafkaTaggedField(tag: \(plan.spec.tag!), data: taggedData))")
                        }
                    }
                    body.line("buffer.writeKafkaTaggedFields(taggedFields)")
                }
            }
            if body.text.contains("flexible") {
                builder.line(flexibleDeclaration)
            }
            builder.append(body)
        }
    }

    func emitWrite(_ plan: FieldPlan, within versions: VersionSet, buffer: String, compact: String, into builder: inout CodeBuilder) throws {
        let nullableHere = plan.nullable.intersection(versions)
        let value = "self.\(plan.property)"
        func emitNonNullable(into builder: inout CodeBuilder) throws {
            if plan.isOptional {
                let unwrapped = "\(plan.property)Value"
                builder.block("guard let \(unwrapped) = \(value) else") { builder in
                    builder.line("throw KafkaEncodingError(\(plan.fieldLiteral), .unexpectedNull, version: version)")
                }
                try emitWriteValue(plan.spec.type, value: unwrapped, nullable: false, compact: compact, buffer: buffer, field: plan.fieldLiteral, into: &builder)
            } else {
                try emitWriteValue(plan.spec.type, value: value, nullable: false, compact: compact, buffer: buffer, field: plan.fieldLiteral, into: &builder)
            }
        }
        if nullableHere.isEmpty {
            try emitNonNullable(into: &builder)
        } else if nullableHere == versions {
            try emitWriteValue(plan.spec.type, value: value, nullable: true, compact: compact, buffer: buffer, field: plan.fieldLiteral, into: &builder)
        } else {
            try builder.ifElse(plan.nullable.condition(within: versions)!) { builder in
                try emitWriteValue(plan.spec.type, value: value, nullable: true, compact: compact, buffer: buffer, field: plan.fieldLiteral, into: &builder)
            } else: { builder in
                try emitNonNullable(into: &builder)
            }
        }
    }

    func emitWriteValue(
        _ type: FieldType, value: String, nullable: Bool, compact: String, buffer: String, field: String,
        into builder: inout CodeBuilder
    ) throws {
        switch type {
        case .bool:
            builder.line("\(buffer).writeKafkaBool(\(value))")
        case .int8, .int16, .uint16, .int32, .uint32, .int64:
            builder.line("\(buffer).writeInteger(\(value))")
        case .float64:
            builder.line("\(buffer).writeKafkaFloat64(\(value))")
        case .uuid:
            builder.line("\(buffer).writeKafkaUUID(\(value))")
        case .string:
            builder.line("try \(buffer).writeKafka\(nullable ? "Nullable" : "")String(\(value), compact: \(compact), field: \(field))")
        case .bytes, .records:
            builder.line("try \(buffer).writeKafka\(nullable ? "Nullable" : "")Bytes(\(value), compact: \(compact), field: \(field))")
        case .structure:
            if nullable {
                builder.ifElse("let present = \(value)") { builder in
                    builder.line("\(buffer).writeInteger(Int8(1))")
                    builder.line("try present.encode(into: &\(buffer), version: version)")
                } else: { builder in
                    builder.line("\(buffer).writeInteger(Int8(-1))")
                }
            } else {
                builder.line("try \(value).encode(into: &\(buffer), version: version)")
            }
        case .array(let element):
            let writer = nullable ? "writeKafkaNullableArray" : "writeKafkaArray"
            builder.line("try \(buffer).\(writer)(\(value), compact: \(compact), field: \(field)) { (elementBuffer: inout ByteBuffer, element: \(swiftType(element))) throws(KafkaEncodingError) in")
            try builder.indent { builder in
                try emitWriteValue(element, value: "element", nullable: false, compact: compact, buffer: "elementBuffer", field: field, into: &builder)
            }
            builder.line("}")
        }
    }
}

enum GeneratedHeader {
    static let text = """
        // Generated by `make generate` (Sources/generate-kafka-codec) from Apache Kafka's message schemas.
        // Do not edit. The schemas and the field descriptions carried here as doc comments are
        // Apache Kafka's, licensed under the Apache License 2.0 (see ../shared/kafka-protocol/NOTICE).

        """
}
