import Foundation
public import LogStore

// The topic-level configs of Kafka 3.9 and 4.x, parsed and validated the way Kafka's ConfigDef does it
// (apache/kafka storage/.../log/LogConfig.java, clients/.../config/ConfigDef.java), so that a refused value
// gets Kafka's own INVALID_CONFIG message: "Invalid value <v> for configuration <name>: <reason>".

/// One topic-level config: its Kafka name, DescribeConfigs type, broker synonym, Kafka default and validator.
public struct TopicConfigDefinition: Sendable {
    /// DescribeConfigs' ConfigType values (v3+).
    public enum ValueType: Int8, Sendable {
        case boolean = 1, string = 2, int = 3, short = 4, long = 5, double = 6, list = 7, `class` = 8, password = 9
    }

    /// Whether a value changes what Tributary does.
    public enum Handling: Sendable, Equatable {
        /// The log, the cleaner or the produce path follows the value.
        case honoured
        /// Validated, stored and reported by DescribeConfigs; nothing depends on it (replication, tiered
        /// storage, message-format and segment-file settings of features a single broker here lacks).
        case accepted
    }

    public var name: String
    public var type: ValueType
    /// The broker config that supplies the default (the first of Kafka's synonyms; nil when Kafka has none).
    public var brokerSynonym: String?
    /// Kafka's built-in default (Kafka 3.9's where 3.9 and 4.x differ), as DescribeConfigs prints it.
    public var kafkaDefault: String
    /// Kafka's "Valid Values" text.
    public var validValues: String
    /// Defined by Kafka 3.9 and removed in 4.0; accepted here as 3.9 accepts it.
    public var removedInKafka4: Bool
    public var handling: Handling
    /// What the config does here (DescribeConfigs documentation, v3+).
    public var documentation: String
    /// Why a value is unacceptable, or nil. Applied to the text as received.
    public var validate: @Sendable (String) -> ConfigRejection?
}

/// A refused config value, in the pieces of Kafka's ConfigException message.
public struct ConfigRejection: Sendable, Equatable, Error {
    /// The value Kafka names: the text as sent when it does not parse, the parsed value when it is out of
    /// range, the offending element of a list.
    public var shownValue: String
    public var reason: String

    public init(shownValue: String, reason: String) {
        self.shownValue = shownValue
        self.reason = reason
    }

    /// Kafka's message: "Invalid value <value> for configuration <name>: <reason>".
    public func message(configName: String) -> String {
        "Invalid value \(shownValue) for configuration \(configName): \(reason)"
    }
}

// MARK: - Parsing as ConfigDef.parseType does

/// Kafka's parsing of config strings (ConfigDef.parseType): the text is trimmed the way Java's String.trim
/// trims, then read as the config's type.
public enum KafkaConfigParsing {
    /// Java's String.trim: removes every character up to U+0020 at both ends (not Unicode whitespace).
    public static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { $0.value > 0x20 }),
              let last = scalars.lastIndex(where: { $0.value > 0x20 }) else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }

    /// Integer.parseInt: an optional sign and decimal digits, 32 bits.
    public static func int32(_ text: String) -> Int32? { Int32(trimmed(text)) }

    /// Long.parseLong: an optional sign and decimal digits, 64 bits.
    public static func int64(_ text: String) -> Int64? { Int64(trimmed(text)) }

    /// "true" or "false", any case.
    public static func boolean(_ text: String) -> Bool? {
        switch trimmed(text).lowercased() {
        case "true": return true
        case "false": return false
        default: return nil
        }
    }

    /// Double.parseDouble: decimal or hexadecimal (with a binary exponent) notation, "NaN", "Infinity", and an
    /// optional d/D/f/F suffix. Swift's own parser alone would also take "nan", "inf" and hexadecimal without
    /// an exponent, which Java refuses.
    public static func double(_ text: String) -> Double? {
        var body = Substring(trimmed(text))
        var negative = false
        if let sign = body.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            body = body.dropFirst()
        }
        if body == "NaN" { return .nan }
        if body == "Infinity" { return negative ? -.infinity : .infinity }
        let hexadecimal = body.hasPrefix("0x") || body.hasPrefix("0X")
        if let last = body.last, "dDfF".contains(last), !hexadecimal || body.contains(where: { $0 == "p" || $0 == "P" }) {
            body = body.dropLast()
        }
        guard let first = body.first, first != "+", first != "-" else { return nil }
        if hexadecimal {
            guard body.contains(where: { $0 == "p" || $0 == "P" }) else { return nil }
        } else {
            let allowed = body.allSatisfy { $0.isASCII && ($0.isNumber || $0 == "." || $0 == "e" || $0 == "E" || $0 == "+" || $0 == "-") }
            guard allowed, body.contains(where: { $0.isASCII && $0.isNumber }) else { return nil }
        }
        guard let magnitude = Double(String(body)), !magnitude.isNaN else { return nil }
        return negative ? -magnitude : magnitude
    }

    /// LIST: empty text is the empty list; otherwise the pieces between commas with the regex `\s` around
    /// them removed, empty pieces kept (Java's `split("\\s*,\\s*", -1)`).
    public static func list(_ text: String) -> [String] {
        let whole = trimmed(text)
        if whole.isEmpty { return [] }
        return whole.split(separator: ",", omittingEmptySubsequences: false).map { piece in
            let scalars = piece.unicodeScalars
            guard let first = scalars.firstIndex(where: { !isRegexSpace($0) }),
                  let last = scalars.lastIndex(where: { !isRegexSpace($0) }) else { return "" }
            return String(String.UnicodeScalarView(scalars[first...last]))
        }
    }

    /// The characters Java's regex class `\s` matches.
    static func isRegexSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D: return true
        default: return false
        }
    }

    /// Java's Double.toString, which Kafka's messages use for a parsed double: plain notation with at least
    /// one fractional digit for magnitudes in [0.001, 10^7), computerized scientific notation ("1.0E-5")
    /// otherwise.
    public static func javaText(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description gives the shortest digits that round-trip, as Java's does; only the layout differs.
        var text = value.magnitude.description
        var exponent = 0
        if let marker = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: marker)...]) ?? 0
            text = String(text[..<marker])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let integerDigits = String(parts.first ?? "")
        let fractionDigits = parts.count > 1 ? String(parts[1]) : ""
        // digits × 10^(pointPosition - digits.count): the value without its decimal point.
        var digits = integerDigits + fractionDigits
        var pointPosition = integerDigits.count + exponent
        while digits.count > 1, digits.first == "0" {
            digits.removeFirst()
            pointPosition -= 1
        }
        while digits.count > 1, digits.last == "0" { digits.removeLast() }
        let sign = value < 0 ? "-" : ""
        let magnitude = value.magnitude
        if magnitude >= 1e-3 && magnitude < 1e7 {
            if pointPosition <= 0 {
                return sign + "0." + String(repeating: "0", count: -pointPosition) + digits
            }
            if pointPosition >= digits.count {
                return sign + digits + String(repeating: "0", count: pointPosition - digits.count) + ".0"
            }
            let split = digits.index(digits.startIndex, offsetBy: pointPosition)
            return sign + digits[..<split] + "." + digits[split...]
        }
        let leading = digits.prefix(1)
        let rest = digits.dropFirst()
        return sign + leading + "." + (rest.isEmpty ? "0" : rest) + "E" + String(pointPosition - 1)
    }
}

// MARK: - Validators (ConfigDef.Range, ValidString, ValidList and Kafka's own)

/// Validators with Kafka's rules and messages, shared by topic and broker configs.
public enum KafkaConfigValidators {
    public typealias Validator = @Sendable (String) -> ConfigRejection?

    public static func boolean() -> Validator {
        { raw in
            KafkaConfigParsing.boolean(raw) == nil ? ConfigRejection(shownValue: raw, reason: "Expected value to be either true or false") : nil
        }
    }

    /// STRING without a validator: any text.
    public static func anyString() -> Validator { { _ in nil } }

    /// LIST without a validator: any text.
    public static func anyList() -> Validator { { _ in nil } }

    /// INT, with Range.atLeast / Range.between when bounds are given.
    public static func int(atLeast minimum: Int32? = nil, atMost maximum: Int32? = nil) -> Validator {
        { raw in
            guard let number = KafkaConfigParsing.int32(raw) else {
                return ConfigRejection(shownValue: raw, reason: "Not a number of type INT")
            }
            if let minimum, number < minimum { return ConfigRejection(shownValue: String(number), reason: "Value must be at least \(minimum)") }
            if let maximum, number > maximum { return ConfigRejection(shownValue: String(number), reason: "Value must be no more than \(maximum)") }
            return nil
        }
    }

    /// SHORT (some broker configs), with Range.atLeast when given.
    public static func short(atLeast minimum: Int16? = nil) -> Validator {
        { raw in
            guard let number = Int16(KafkaConfigParsing.trimmed(raw)) else {
                return ConfigRejection(shownValue: raw, reason: "Not a number of type SHORT")
            }
            if let minimum, number < minimum { return ConfigRejection(shownValue: String(number), reason: "Value must be at least \(minimum)") }
            return nil
        }
    }

    /// LONG, with Range.atLeast when a bound is given.
    public static func long(atLeast minimum: Int64? = nil) -> Validator {
        { raw in
            guard let number = KafkaConfigParsing.int64(raw) else {
                return ConfigRejection(shownValue: raw, reason: "Not a number of type LONG")
            }
            if let minimum, number < minimum { return ConfigRejection(shownValue: String(number), reason: "Value must be at least \(minimum)") }
            return nil
        }
    }

    /// DOUBLE, with Range.between(minimum, maximum) when given. As in Kafka, NaN passes a range (both
    /// comparisons are false).
    public static func double(between minimum: Int? = nil, and maximum: Int? = nil) -> Validator {
        { raw in
            guard let number = KafkaConfigParsing.double(raw) else {
                return ConfigRejection(shownValue: raw, reason: "Not a number of type DOUBLE")
            }
            if let minimum, number < Double(minimum) {
                return ConfigRejection(shownValue: KafkaConfigParsing.javaText(number), reason: "Value must be at least \(minimum)")
            }
            if let maximum, number > Double(maximum) {
                return ConfigRejection(shownValue: KafkaConfigParsing.javaText(number), reason: "Value must be no more than \(maximum)")
            }
            return nil
        }
    }

    /// STRING with ValidString.in: the trimmed value must be one of `allowed`, case-sensitively.
    public static func string(oneOf allowed: [String]) -> Validator {
        { raw in
            let value = KafkaConfigParsing.trimmed(raw)
            return allowed.contains(value) ? nil : ConfigRejection(shownValue: value, reason: "String must be one of: \(allowed.joined(separator: ", "))")
        }
    }

    /// LIST with ValidList.in (Kafka 3.9): every element one of `allowed`; the empty list passes. The message
    /// names the first offending element.
    public static func list(eachOneOf allowed: [String]) -> Validator {
        { raw in
            for element in KafkaConfigParsing.list(raw) where !allowed.contains(element) {
                return ConfigRejection(shownValue: element, reason: "String must be one of: \(allowed.joined(separator: ", "))")
            }
            return nil
        }
    }

    /// GzipCompression's level validator: 1...9 or -1.
    public static func gzipLevel() -> Validator {
        { raw in
            guard let level = KafkaConfigParsing.int32(raw) else {
                return ConfigRejection(shownValue: raw, reason: "Not a number of type INT")
            }
            if level > 9 || (level < 1 && level != -1) {
                return ConfigRejection(shownValue: String(level), reason: "Value must be between 1 and 9 or equal to -1")
            }
            return nil
        }
    }

    /// ThrottledReplicaListValidator: every trimmed element `<digits>:<digits>` (or empty), or all of them
    /// together exactly "*". The message shows the list as Java prints one.
    public static func throttledReplicas(configName: String) -> Validator {
        { raw in
            let elements = KafkaConfigParsing.list(raw)
            let trimmed = elements.map(KafkaConfigParsing.trimmed)
            if trimmed.allSatisfy(isReplicaEntry) || trimmed.joined() == "*" { return nil }
            return ConfigRejection(
                shownValue: "[" + elements.joined(separator: ", ") + "]",
                reason: "\(configName) must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
            )
        }
    }

    /// `([0-9]+:[0-9]+)?` over the whole element.
    static func isReplicaEntry(_ element: String) -> Bool {
        if element.isEmpty { return true }
        let parts = element.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { part in !part.isEmpty && part.allSatisfy { $0.isASCII && $0.isNumber } }
    }

    /// MetadataVersionValidator of Kafka 3.9 (message.format.version).
    public static func metadataVersion() -> Validator {
        { raw in
            let value = KafkaConfigParsing.trimmed(raw)
            return isMetadataVersion(value) ? nil : ConfigRejection(shownValue: value, reason: "Version \(value) is not a valid version")
        }
    }

    /// MetadataVersion.fromVersionString (3.9): "0.x" versions keep three dot-separated parts, others two;
    /// the key must then be an exact version or a release prefix. (Java's split drops trailing empty parts.)
    static func isMetadataVersion(_ version: String) -> Bool {
        var parts = version.split(separator: ".", omittingEmptySubsequences: false)
        while parts.count > 1, parts.last?.isEmpty == true { parts.removeLast() }
        let kept = version.hasPrefix("0.") ? 3 : 2
        let key = parts.count <= kept ? version : parts.prefix(kept).joined(separator: ".")
        return metadataVersions.contains(key) || metadataReleases.contains(key)
    }

    /// Every MetadataVersion Kafka 3.9 knows (its documentation lists them for message.format.version).
    static let metadataVersions: Set<String> = [
        "0.8.0", "0.8.1", "0.8.2", "0.9.0",
        "0.10.0-IV0", "0.10.0-IV1", "0.10.1-IV0", "0.10.1-IV1", "0.10.1-IV2", "0.10.2-IV0",
        "0.11.0-IV0", "0.11.0-IV1", "0.11.0-IV2", "1.0-IV0", "1.1-IV0",
        "2.0-IV0", "2.0-IV1", "2.1-IV0", "2.1-IV1", "2.1-IV2", "2.2-IV0", "2.2-IV1", "2.3-IV0", "2.3-IV1",
        "2.4-IV0", "2.4-IV1", "2.5-IV0", "2.6-IV0", "2.7-IV0", "2.7-IV1", "2.7-IV2", "2.8-IV0", "2.8-IV1",
        "3.0-IV0", "3.0-IV1", "3.1-IV0", "3.2-IV0", "3.3-IV0", "3.3-IV1", "3.3-IV2", "3.3-IV3", "3.4-IV0",
        "3.5-IV0", "3.5-IV1", "3.5-IV2", "3.6-IV0", "3.6-IV1", "3.6-IV2",
        "3.7-IV0", "3.7-IV1", "3.7-IV2", "3.7-IV3", "3.7-IV4", "3.8-IV0", "3.9-IV0", "4.0-IV0", "4.0-IV1",
    ]

    /// Release prefixes of 3.9's production versions ("4.0" alone is not one in 3.9).
    static let metadataReleases: Set<String> = [
        "0.8.0", "0.8.1", "0.8.2", "0.9.0", "0.10.0", "0.10.1", "0.10.2", "0.11.0", "1.0", "1.1",
        "2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8",
        "3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "3.8", "3.9",
    ]
}

// MARK: - The table

public enum TopicConfigs {
    static let longMax = String(Int64.max)
    public static let compressionTypes = ["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]
    public static let cleanupPolicies = ["compact", "delete"]
    public static let timestampTypes = ["CreateTime", "LogAppendTime"]
    /// Said of every config that is stored and reported but changes nothing here.
    static let acceptedOnly = " Accepted and reported for compatibility; it has no effect on this broker."

    private static func config(
        _ name: String, _ type: TopicConfigDefinition.ValueType, synonym: String?, default kafkaDefault: String, valid: String,
        removedInKafka4: Bool = false, handling: TopicConfigDefinition.Handling = .honoured, _ documentation: String,
        _ validate: @escaping KafkaConfigValidators.Validator
    ) -> TopicConfigDefinition {
        TopicConfigDefinition(
            name: name, type: type, brokerSynonym: synonym, kafkaDefault: kafkaDefault, validValues: valid, removedInKafka4: removedInKafka4,
            handling: handling, documentation: handling == .accepted ? documentation + acceptedOnly : documentation, validate: validate
        )
    }

    /// Every topic config of Kafka 3.9 and 4.x, in the order Kafka's LogConfig defines them, which is the
    /// order in which Kafka reports the first bad value of a request.
    public static let definitions: [TopicConfigDefinition] = [
        config("segment.bytes", .int, synonym: "log.segment.bytes", default: "1073741824", valid: "[14,...]",
               "Size at which a segment is closed and a new one started.",
               KafkaConfigValidators.int(atLeast: 14)),
        config("segment.ms", .long, synonym: "log.roll.ms", default: "604800000", valid: "[1,...]",
               "Age at which a segment is closed and a new one started (for a compacted topic, at most max.compaction.lag.ms).",
               KafkaConfigValidators.long(atLeast: 1)),
        config("segment.jitter.ms", .long, synonym: "log.roll.jitter.ms", default: "0", valid: "[0,...]", handling: .accepted,
               "Largest random amount taken off each segment's roll deadline.",
               KafkaConfigValidators.long(atLeast: 0)),
        config("segment.index.bytes", .int, synonym: "log.index.size.max.bytes", default: "10485760", valid: "[4,...]", handling: .accepted,
               "Largest size of a segment's offset index; this broker's indexes grow as needed.",
               KafkaConfigValidators.int(atLeast: 4)),
        config("flush.messages", .long, synonym: "log.flush.interval.messages", default: longMax, valid: "[1,...]",
               "1 (this broker's default) flushes every write, with group commit; a larger value leaves flushing to flush.ms or the operating system.",
               KafkaConfigValidators.long(atLeast: 1)),
        config("flush.ms", .long, synonym: "log.flush.interval.ms", default: longMax, valid: "[0,...]",
               "With flush.messages above 1: flush at most this often (acks=all waits for it). The maximum leaves flushing to the operating system.",
               KafkaConfigValidators.long(atLeast: 0)),
        config("retention.bytes", .long, synonym: "log.retention.bytes", default: "-1", valid: "",
               "Largest size of a partition before its oldest segments are deleted; negative for no limit.",
               KafkaConfigValidators.long()),
        config("retention.ms", .long, synonym: "log.retention.ms", default: "604800000", valid: "[-1,...]",
               "How long segments are kept; -1 keeps them forever.",
               KafkaConfigValidators.long(atLeast: -1)),
        config("max.message.bytes", .int, synonym: "message.max.bytes", default: "1048588", valid: "[0,...]",
               "The largest record batch the topic accepts, after the broker's recompression.",
               KafkaConfigValidators.int(atLeast: 0)),
        config("index.interval.bytes", .int, synonym: "log.index.interval.bytes", default: "4096", valid: "[0,...]",
               "Bytes of log between two offset index entries.",
               KafkaConfigValidators.int(atLeast: 0)),
        config("delete.retention.ms", .long, synonym: "log.cleaner.delete.retention.ms", default: "86400000", valid: "[0,...]",
               "How long a tombstone survives in a compacted topic after the record it deletes was cleaned.",
               KafkaConfigValidators.long(atLeast: 0)),
        config("min.compaction.lag.ms", .long, synonym: "log.cleaner.min.compaction.lag.ms", default: "0", valid: "[0,...]",
               "Records younger than this are not compacted.",
               KafkaConfigValidators.long(atLeast: 0)),
        config("max.compaction.lag.ms", .long, synonym: "log.cleaner.max.compaction.lag.ms", default: longMax, valid: "[1,...]",
               "A segment with records older than this is compacted even below min.cleanable.dirty.ratio; it also caps segment.ms of a compacted topic.",
               KafkaConfigValidators.long(atLeast: 1)),
        config("file.delete.delay.ms", .long, synonym: "log.segment.delete.delay.ms", default: "60000", valid: "[0,...]", handling: .accepted,
               "Wait before a deleted segment's files are removed; this broker removes them at once.",
               KafkaConfigValidators.long(atLeast: 0)),
        config("min.cleanable.dirty.ratio", .double, synonym: "log.cleaner.min.cleanable.ratio", default: "0.5", valid: "[0,...,1]",
               "Share of the compactable log that must be not yet compacted before compaction runs.",
               KafkaConfigValidators.double(between: 0, and: 1)),
        config("cleanup.policy", .list, synonym: "log.cleanup.policy", default: "delete", valid: "[compact, delete]",
               "delete: remove old segments by time and size; compact: keep the latest record per key; both, comma-separated; empty: neither.",
               KafkaConfigValidators.list(eachOneOf: cleanupPolicies)),
        config("unclean.leader.election.enable", .boolean, synonym: "unclean.leader.election.enable", default: "false", valid: "", handling: .accepted,
               "Whether an out-of-sync replica may become leader; this broker is the only replica.",
               KafkaConfigValidators.boolean()),
        config("min.insync.replicas", .int, synonym: "min.insync.replicas", default: "1", valid: "[1,...]",
               "acks=all produces need this many in-sync replicas; a single broker has one, so a value above 1 refuses them (NOT_ENOUGH_REPLICAS).",
               KafkaConfigValidators.int(atLeast: 1)),
        config("compression.type", .string, synonym: "compression.type", default: "producer", valid: "[uncompressed, zstd, lz4, snappy, gzip, producer]",
               "producer keeps the producer's codec; uncompressed, gzip, snappy, lz4 or zstd make the broker recompress every batch it stores with that codec.",
               KafkaConfigValidators.string(oneOf: compressionTypes)),
        config("compression.gzip.level", .int, synonym: "compression.gzip.level", default: "-1", valid: "[1,...,9] or -1",
               "zlib level of batches the broker recompresses to gzip; -1 is zlib's default.",
               KafkaConfigValidators.gzipLevel()),
        config("compression.lz4.level", .int, synonym: "compression.lz4.level", default: "9", valid: "[1,...,17]",
               "lz4 level of batches the broker recompresses to lz4.",
               KafkaConfigValidators.int(atLeast: 1, atMost: 17)),
        config("compression.zstd.level", .int, synonym: "compression.zstd.level", default: "3", valid: "[-131072,...,22]",
               "zstd level of batches the broker recompresses to zstd.",
               KafkaConfigValidators.int(atLeast: -131_072, atMost: 22)),
        config("preallocate", .boolean, synonym: "log.preallocate", default: "false", valid: "", handling: .accepted,
               "Whether new segment files are created at their full size.",
               KafkaConfigValidators.boolean()),
        config("message.format.version", .string, synonym: "log.message.format.version", default: "3.0-IV1",
               valid: "[0.8.0, 0.8.1, 0.8.2, 0.9.0, 0.10.0-IV0, ..., 3.9-IV0, 4.0-IV0, 4.0-IV1]", removedInKafka4: true, handling: .accepted,
               "Deprecated record format version (Kafka 3.x ignores it too; removed in Kafka 4.0); batches are always stored in format v2.",
               KafkaConfigValidators.metadataVersion()),
        config("message.timestamp.type", .string, synonym: "log.message.timestamp.type", default: "CreateTime", valid: "[CreateTime, LogAppendTime]",
               "CreateTime keeps producer timestamps; LogAppendTime stamps batches with the broker's clock.",
               KafkaConfigValidators.string(oneOf: timestampTypes)),
        config("message.timestamp.difference.max.ms", .long, synonym: "log.message.timestamp.difference.max.ms", default: longMax, valid: "[0,...]",
               removedInKafka4: true,
               "Deprecated (removed in Kafka 4.0): how far a CreateTime timestamp may be from the broker's clock; used for before/after.max.ms while those are unbounded.",
               KafkaConfigValidators.long(atLeast: 0)),
        config("message.timestamp.before.max.ms", .long, synonym: "log.message.timestamp.before.max.ms", default: longMax, valid: "[0,...]",
               "How far in the past a CreateTime record may be; older records are refused with INVALID_TIMESTAMP.",
               KafkaConfigValidators.long(atLeast: 0)),
        config("message.timestamp.after.max.ms", .long, synonym: "log.message.timestamp.after.max.ms", default: longMax, valid: "[0,...]",
               "How far in the future a CreateTime record may be; later records are refused with INVALID_TIMESTAMP (Kafka 3.9's default: unbounded).",
               KafkaConfigValidators.long(atLeast: 0)),
        config("leader.replication.throttled.replicas", .list, synonym: nil, default: "",
               valid: "[partitionId]:[brokerId],[partitionId]:[brokerId],...", handling: .accepted,
               "Replicas whose replication is throttled on the leader.",
               KafkaConfigValidators.throttledReplicas(configName: "leader.replication.throttled.replicas")),
        config("follower.replication.throttled.replicas", .list, synonym: nil, default: "",
               valid: "[partitionId]:[brokerId],[partitionId]:[brokerId],...", handling: .accepted,
               "Replicas whose replication is throttled on the follower.",
               KafkaConfigValidators.throttledReplicas(configName: "follower.replication.throttled.replicas")),
        config("message.downconversion.enable", .boolean, synonym: "log.message.downconversion.enable", default: "true", valid: "",
               removedInKafka4: true, handling: .accepted,
               "Deprecated (removed in Kafka 4.0): whether fetches may down-convert to old formats; this broker never down-converts.",
               KafkaConfigValidators.boolean()),
        config("remote.storage.enable", .boolean, synonym: nil, default: "false", valid: "", handling: .accepted,
               "Tiered storage for the topic; this broker has none, so true is refused.",
               KafkaConfigValidators.boolean()),
        config("local.retention.ms", .long, synonym: "log.local.retention.ms", default: "-2", valid: "[-2,...]", handling: .accepted,
               "Local retention time under tiered storage; -2 means retention.ms.",
               KafkaConfigValidators.long(atLeast: -2)),
        config("local.retention.bytes", .long, synonym: "log.local.retention.bytes", default: "-2", valid: "[-2,...]", handling: .accepted,
               "Local retention size under tiered storage; -2 means retention.bytes.",
               KafkaConfigValidators.long(atLeast: -2)),
        config("remote.log.copy.disable", .boolean, synonym: nil, default: "false", valid: "", handling: .accepted,
               "Stops copying segments to tiered storage.",
               KafkaConfigValidators.boolean()),
        config("remote.log.delete.on.disable", .boolean, synonym: nil, default: "false", valid: "", handling: .accepted,
               "Deletes tiered data when tiered storage is turned off.",
               KafkaConfigValidators.boolean()),
    ]

    private static let byName: [String: TopicConfigDefinition] = Dictionary(uniqueKeysWithValues: definitions.map { ($0.name, $0) })
    private static let bySynonym: [String: TopicConfigDefinition] = Dictionary(
        uniqueKeysWithValues: definitions.compactMap { definition in definition.brokerSynonym.map { ($0, definition) } }
    )

    public static func definition(named name: String) -> TopicConfigDefinition? {
        byName[name]
    }

    /// The topic config whose default the broker config `name` supplies (e.g. log.retention.ms → retention.ms).
    public static func definition(forBrokerSynonym name: String) -> TopicConfigDefinition? {
        bySynonym[name]
    }

    /// Why a set of topic configs is unacceptable, in Kafka's order and words, or nil (every failure is
    /// INVALID_CONFIG): an unknown name first ("Unknown topic config name: <name>", LogConfig.validateNames),
    /// then the first bad value in definition order (ConfigDef.parse), then the rules across configs
    /// (LogConfig.validateValues and the tiered-storage check), judged on `configs` over `brokerDefaults`
    /// (the effective broker defaults by topic config name, as `effectiveDefaults` gives them).
    public static func problem(with configs: [String: String], brokerDefaults: [String: String] = [:]) -> String? {
        for name in configs.keys.sorted() where byName[name] == nil {
            return "Unknown topic config name: \(name)"
        }
        for definition in definitions {
            guard let value = configs[definition.name] else { continue }
            if let rejection = definition.validate(value) { return rejection.message(configName: definition.name) }
        }
        let merged = brokerDefaults.merging(configs) { _, topicValue in topicValue }
        let minimumLag = merged["min.compaction.lag.ms"].flatMap(KafkaConfigParsing.int64) ?? 0
        let maximumLag = merged["max.compaction.lag.ms"].flatMap(KafkaConfigParsing.int64) ?? .max
        if minimumLag > maximumLag {
            return "conflict topic config setting min.compaction.lag.ms (\(minimumLag)) > max.compaction.lag.ms (\(maximumLag))"
        }
        // Kafka refuses this while remote.log.storage.system.enable is false, its default; this broker has no
        // tiered storage at all.
        if configs["remote.storage.enable"].flatMap(KafkaConfigParsing.boolean) == true {
            return "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."
        }
        return nil
    }

    /// Kafka's built-in default of every topic config.
    public static var kafkaDefaults: [String: String] {
        Dictionary(uniqueKeysWithValues: definitions.map { ($0.name, $0.kafkaDefault) })
    }

    /// The value of every topic config that `defaults` (the broker's static log settings) gives, with Kafka's
    /// built-in defaults for the configs LogConfig does not hold.
    public static func defaultValues(_ defaults: LogConfig) -> [String: String] {
        var values = kafkaDefaults
        values["cleanup.policy"] = cleanupPolicyText(defaults.cleanupPolicy)
        values["delete.retention.ms"] = String(defaults.deleteRetentionMilliseconds)
        values["index.interval.bytes"] = String(defaults.indexIntervalBytes)
        values["max.message.bytes"] = String(defaults.maxMessageBytes)
        values["message.timestamp.type"] = defaults.logAppendTime ? "LogAppendTime" : "CreateTime"
        values["min.compaction.lag.ms"] = String(defaults.minCompactionLagMilliseconds)
        values["max.compaction.lag.ms"] = String(defaults.maxCompactionLagMilliseconds)
        values["min.cleanable.dirty.ratio"] = KafkaConfigParsing.javaText(defaults.minCleanableDirtyRatio)
        values["min.insync.replicas"] = String(defaults.minInsyncReplicas)
        values["retention.bytes"] = String(defaults.retentionBytes)
        values["retention.ms"] = String(defaults.retentionMilliseconds)
        values["segment.bytes"] = String(defaults.segmentBytes)
        values["segment.ms"] = String(defaults.segmentMilliseconds)
        values["message.timestamp.before.max.ms"] = String(defaults.messageTimestampBeforeMaxMilliseconds)
        values["message.timestamp.after.max.ms"] = String(defaults.messageTimestampAfterMaxMilliseconds)
        values["message.timestamp.difference.max.ms"] = String(defaults.messageTimestampDifferenceMaxMilliseconds)
        switch defaults.compression {
        case .producer: values["compression.type"] = "producer"
        case .uncompressed: values["compression.type"] = "uncompressed"
        case .snappy: values["compression.type"] = "snappy"
        case .gzip(let level):
            values["compression.type"] = "gzip"
            values["compression.gzip.level"] = String(level)
        case .lz4(let level):
            values["compression.type"] = "lz4"
            values["compression.lz4.level"] = String(level)
        case .zstd(let level):
            values["compression.type"] = "zstd"
            values["compression.zstd.level"] = String(level)
        }
        switch defaults.flushPolicy {
        case .everyWrite:
            values["flush.messages"] = "1"
            values["flush.ms"] = longMax
        case .interval(let milliseconds):
            values["flush.messages"] = longMax
            values["flush.ms"] = String(milliseconds)
        case .operatingSystem:
            values["flush.messages"] = longMax
            values["flush.ms"] = longMax
        }
        return values
    }

    static func cleanupPolicyText(_ policy: CleanupPolicy) -> String {
        switch policy {
        case .delete: return "delete"
        case .compact: return "compact"
        case .compactAndDelete: return "compact,delete"
        case .neither: return ""
        }
    }

    /// The log settings for a topic: `defaults` (the broker's static log settings) overridden by `overrides`
    /// (dynamic broker defaults, then the topic's own configs, all validated). Values that do not parse leave
    /// the default in place.
    public static func logConfig(overrides: [String: String], defaults: LogConfig) -> LogConfig {
        var config = defaults
        func long(_ name: String) -> Int64? { overrides[name].flatMap(KafkaConfigParsing.int64) }
        func int(_ name: String) -> Int? { overrides[name].flatMap(KafkaConfigParsing.int32).map(Int.init) }
        if let value = overrides["cleanup.policy"] {
            let policies = Set(KafkaConfigParsing.list(value))
            switch (policies.contains("compact"), policies.contains("delete")) {
            case (true, true): config.cleanupPolicy = .compactAndDelete
            case (true, false): config.cleanupPolicy = .compact
            case (false, true): config.cleanupPolicy = .delete
            case (false, false): config.cleanupPolicy = .neither
            }
        }
        if let value = long("delete.retention.ms") { config.deleteRetentionMilliseconds = value }
        if let value = int("index.interval.bytes") { config.indexIntervalBytes = value }
        if let value = int("max.message.bytes") { config.maxMessageBytes = value }
        if let value = overrides["message.timestamp.type"] { config.logAppendTime = KafkaConfigParsing.trimmed(value) == "LogAppendTime" }
        if let value = long("min.compaction.lag.ms") { config.minCompactionLagMilliseconds = value }
        if let value = int("min.insync.replicas") { config.minInsyncReplicas = value }
        if let value = long("max.compaction.lag.ms") { config.maxCompactionLagMilliseconds = value }
        if let value = overrides["min.cleanable.dirty.ratio"].flatMap(KafkaConfigParsing.double) { config.minCleanableDirtyRatio = value }
        if let value = long("retention.bytes") { config.retentionBytes = value }
        if let value = long("retention.ms") { config.retentionMilliseconds = value }
        if let value = int("segment.bytes") { config.segmentBytes = value }
        if let value = long("segment.ms") { config.segmentMilliseconds = value }
        if let value = long("message.timestamp.before.max.ms") { config.messageTimestampBeforeMaxMilliseconds = value }
        if let value = long("message.timestamp.after.max.ms") { config.messageTimestampAfterMaxMilliseconds = value }
        if let value = long("message.timestamp.difference.max.ms") { config.messageTimestampDifferenceMaxMilliseconds = value }
        config.compression = compression(overrides: overrides, defaults: defaults.compression)
        let messages = long("flush.messages")
        let interval = long("flush.ms")
        if messages != nil || interval != nil {
            if messages == 1 {
                config.flushPolicy = .everyWrite
            } else if let interval, interval < Int64.max {
                config.flushPolicy = .interval(milliseconds: interval)
            } else if messages != nil {
                config.flushPolicy = .operatingSystem
            }
        }
        // Kafka rolls the active segment of a compacted log by max.compaction.lag.ms at the latest
        // (LogConfig.maxSegmentMs): the active segment is never compacted, so its records would otherwise wait
        // longer than the lag promises.
        if config.cleanupPolicy.compacts {
            config.segmentMilliseconds = min(config.segmentMilliseconds, max(1, config.maxCompactionLagMilliseconds))
        }
        return config
    }

    /// compression.type with the level of its codec; levels given without a codec change keep applying to
    /// the codec the defaults name.
    static func compression(overrides: [String: String], defaults: TopicCompression) -> TopicCompression {
        var gzipLevel: Int32 = -1
        var lz4Level: Int32 = 9
        var zstdLevel: Int32 = 3
        var type = "producer"
        switch defaults {
        case .producer: type = "producer"
        case .uncompressed: type = "uncompressed"
        case .snappy: type = "snappy"
        case .gzip(let level): type = "gzip"; gzipLevel = level
        case .lz4(let level): type = "lz4"; lz4Level = level
        case .zstd(let level): type = "zstd"; zstdLevel = level
        }
        if let value = overrides["compression.type"] { type = KafkaConfigParsing.trimmed(value) }
        if let value = overrides["compression.gzip.level"].flatMap(KafkaConfigParsing.int32) { gzipLevel = value }
        if let value = overrides["compression.lz4.level"].flatMap(KafkaConfigParsing.int32) { lz4Level = value }
        if let value = overrides["compression.zstd.level"].flatMap(KafkaConfigParsing.int32) { zstdLevel = value }
        switch type {
        case "uncompressed": return .uncompressed
        case "gzip": return .gzip(level: gzipLevel)
        case "snappy": return .snappy
        case "lz4": return .lz4(level: lz4Level)
        case "zstd": return .zstd(level: zstdLevel)
        default: return .producer
        }
    }

    /// The produce-time timestamp bounds of a log: before/after.max.ms, each falling back to Kafka 3.x's
    /// message.timestamp.difference.max.ms while it is still unbounded
    /// (LogConfig.getMessageTimestampBeforeMaxMs / AfterMaxMs in 3.x).
    public static func timestampBounds(of config: LogConfig) -> (beforeMilliseconds: Int64, afterMilliseconds: Int64) {
        let difference = config.messageTimestampDifferenceMaxMilliseconds
        let before = config.messageTimestampBeforeMaxMilliseconds == .max ? difference : config.messageTimestampBeforeMaxMilliseconds
        let after = config.messageTimestampAfterMaxMilliseconds == .max ? difference : config.messageTimestampAfterMaxMilliseconds
        return (before, after)
    }
}
