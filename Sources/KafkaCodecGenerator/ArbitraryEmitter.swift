/// Emits, for the test target, a random-value constructor per generated type: values that set exactly the
/// fields a version carries (nullable ones sometimes null, tagged ones sometimes default, plus unknown tagged
/// fields), so that `encode` then `decode` must give back an equal value for every message and version.
struct ArbitraryEmitter {
    let emitter: MessageEmitter

    init(message: MessageSpec) {
        self.emitter = MessageEmitter(message: message)
    }

    var message: MessageSpec { emitter.message }

    func emitFile() throws -> String {
        var builder = CodeBuilder()
        builder.line(GeneratedHeader.text)
        builder.line("import KafkaProtocol")
        builder.line("import NIOCore")
        builder.line()
        try emitStruct(name: message.name, qualifiedName: message.name, fields: message.fields, isTopLevel: true, into: &builder)
        for spec in message.structs {
            builder.line()
            try emitStruct(name: spec.name, qualifiedName: "\(message.name).\(spec.name)", fields: spec.fields, isTopLevel: false, into: &builder)
        }
        return builder.text
    }

    func emitStruct(name: String, qualifiedName: String, fields: [FieldSpec], isTopLevel: Bool, into builder: inout CodeBuilder) throws {
        let plans = try fields.map { try emitter.plan($0, structName: name) }
        let conformance = isTopLevel ? ": ArbitraryKafkaMessage" : ""
        try builder.block("extension \(qualifiedName)\(conformance)") { builder in
            try builder.block("static func arbitrary(version: Int16, using generator: inout ArbitraryGenerator) -> \(qualifiedName)") { builder in
                builder.line("var value: \(qualifiedName) = \(qualifiedName)()")
                for plan in plans where !plan.present.isEmpty {
                    if let condition = plan.present.condition(within: plan.context) {
                        try builder.block("if \(condition)") { builder in
                            try emitAssignment(plan, into: &builder)
                        }
                    } else {
                        try emitAssignment(plan, into: &builder)
                    }
                }
                if let first = message.firstFlexibleVersion {
                    let knownTags = plans.compactMap { $0.spec.tag }
                    let firstUnknownTag = (knownTags.max().map { $0 + 1 }) ?? 0
                    builder.block("if version >= \(first)") { builder in
                        builder.line("value.unknownTaggedFields = generator.unknownTaggedFields(firstTag: \(firstUnknownTag))")
                    }
                }
                builder.line("return value")
            }
        }
    }

    func emitAssignment(_ plan: MessageEmitter.FieldPlan, into builder: inout CodeBuilder) throws {
        let target = "value.\(plan.property)"
        let expression = valueExpression(plan.spec.type, generator: "generator", compactLimit: plan.compactExpression)
        if plan.nullable.isEmpty {
            builder.line("\(target) = \(expression)")
            return
        }
        let nullTerm: String
        if plan.nullable.isSuperset(of: plan.present) {
            nullTerm = "generator.null()"
        } else {
            nullTerm = "\(plan.nullable.groupedCondition(within: plan.present)!) && generator.null()"
        }
        builder.ifElse(nullTerm) { builder in
            builder.line("\(target) = nil")
        } else: { builder in
            builder.line("\(target) = \(expression)")
        }
    }

    func valueExpression(_ type: FieldType, generator: String, compactLimit: String) -> String {
        switch type {
        case .bool: return "\(generator).bool()"
        case .int8: return "\(generator).int8()"
        case .int16: return "\(generator).int16()"
        case .uint16: return "\(generator).uint16()"
        case .int32: return "\(generator).int32()"
        case .uint32: return "\(generator).uint32()"
        case .int64: return "\(generator).int64()"
        case .float64: return "\(generator).float64()"
        case .string: return "\(generator).string()"
        case .uuid: return "\(generator).uuid()"
        case .bytes, .records: return "\(generator).bytes()"
        case .structure(let name):
            return "\(message.name).\(name).arbitrary(version: version, using: &\(generator))"
        case .array(let element):
            let elementType = arbitraryTypeName(element)
            let elementExpression = valueExpression(element, generator: "elementGenerator", compactLimit: compactLimit)
            return "\(generator).array { (elementGenerator: inout ArbitraryGenerator) -> \(elementType) in \(elementExpression) }"
        }
    }

    func arbitraryTypeName(_ type: FieldType) -> String {
        if case .structure(let name) = type { return "\(message.name).\(name)" }
        return emitter.swiftType(type)
    }
}
