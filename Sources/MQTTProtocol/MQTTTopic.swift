/// Topic names and topic filters (MQTT 3.1.1 section 4.7, 5.0 section 4.7 and 4.8.2).
///
/// Everything here compares UTF-8 bytes, never `String`s: Swift's `String ==` treats canonically
/// equivalent strings as equal ("é" precomposed and decomposed), while MQTT topics match byte for byte
/// with no normalization ([MQTT-4.7.3-4]).
public enum MQTTTopic {
    private static let separator = UInt8(ascii: "/")
    private static let singleLevel = UInt8(ascii: "+")
    private static let multiLevel = UInt8(ascii: "#")
    private static let dollar = UInt8(ascii: "$")
    private static let sharePrefix = Array("$share/".utf8)
    private static let maximumLength = Int(UInt16.max)

    /// A topic a PUBLISH may name: non-empty, no '+' or '#', no U+0000, at most 65,535 UTF-8 bytes.
    public static func validateName(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { bytes in
            guard !bytes.isEmpty, bytes.count <= maximumLength else { return false }
            for byte in bytes where byte == singleLevel || byte == multiLevel || byte == 0 {
                return false
            }
            return true
        }
    }

    /// A filter a SUBSCRIBE may carry: non-empty, no U+0000, at most 65,535 UTF-8 bytes, '#' only as the
    /// whole last level, '+' only as a whole level. A filter starting with `$share/` must be a well-formed
    /// shared subscription (see `sharedSubscription`).
    public static func validateFilter(_ filter: String) -> Bool {
        var filter = filter
        return filter.withUTF8 { bytes in
            guard !bytes.isEmpty, bytes.count <= maximumLength else { return false }
            if hasSharePrefix(bytes) {
                return splitShared(bytes) != nil
            }
            return isValidPlainFilter(bytes)
        }
    }

    /// `$share/{group}/{filter}`: the share name (non-empty, without '+', '#' or '/') and the inner filter.
    /// Nil when the filter is not a shared subscription, and also when it starts with `$share/` but is
    /// not well-formed (such a filter is invalid, not an ordinary one [MQTT-4.8.2-1, -2]).
    public static func sharedSubscription(_ filter: String) -> (group: String, filter: String)? {
        var filter = filter
        return filter.withUTF8 { bytes -> (group: String, filter: String)? in
            guard hasSharePrefix(bytes), let (group, inner) = splitShared(bytes) else { return nil }
            return (String(decoding: UnsafeBufferPointer(rebasing: bytes[group]), as: UTF8.self),
                    String(decoding: UnsafeBufferPointer(rebasing: bytes[inner]), as: UTF8.self))
        }
    }

    /// Whether `topic` matches `filter`: '+' matches exactly one level, '#' this level and everything
    /// below it, including the parent itself ("a/#" matches "a"). A filter that starts with a wildcard
    /// does not match a topic that starts with '$' ([MQTT-4.7.2-1]: "#" does not see "$SYS/..."). A shared
    /// subscription matches as its inner filter. An invalid filter or topic name matches nothing.
    public static func matches(filter: String, topic: String) -> Bool {
        var filter = filter
        var topic = topic
        return filter.withUTF8 { filterBytes in
            topic.withUTF8 { topicBytes in
                guard !filterBytes.isEmpty, !topicBytes.isEmpty else { return false }
                var plainFilter = filterBytes
                if hasSharePrefix(filterBytes) {
                    guard let (_, inner) = splitShared(filterBytes) else { return false }
                    plainFilter = UnsafeBufferPointer(rebasing: filterBytes[inner])
                } else if !isValidPlainFilter(filterBytes) {
                    return false
                }
                return matchPlain(filter: plainFilter, topic: topicBytes)
            }
        }
    }

    // MARK: Byte-level helpers

    private static func hasSharePrefix(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.count >= sharePrefix.count && bytes.prefix(sharePrefix.count).elementsEqual(sharePrefix)
    }

    /// The ranges of the share name and the inner filter of a `$share/` filter, if it is well-formed.
    private static func splitShared(_ bytes: UnsafeBufferPointer<UInt8>) -> (group: Range<Int>, filter: Range<Int>)? {
        let groupStart = sharePrefix.count
        guard let groupEnd = bytes[groupStart...].firstIndex(of: separator), groupEnd > groupStart else { return nil }
        for byte in bytes[groupStart..<groupEnd] where byte == singleLevel || byte == multiLevel {
            return nil
        }
        let inner = (groupEnd + 1)..<bytes.count
        guard !inner.isEmpty, isValidPlainFilter(UnsafeBufferPointer(rebasing: bytes[inner])) else { return nil }
        return (groupStart..<groupEnd, inner)
    }

    private static func isValidPlainFilter(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !bytes.isEmpty else { return false }
        var levelStart = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            switch byte {
            case 0:
                return false
            case singleLevel:
                // Alone in its level: preceded by the start or '/', followed by the end or '/'.
                guard index == levelStart, index + 1 == bytes.count || bytes[index + 1] == separator else { return false }
            case multiLevel:
                // Alone in the last level.
                guard index == levelStart, index + 1 == bytes.count else { return false }
            case separator:
                levelStart = index + 1
            default:
                break
            }
        }
        return true
    }

    private static func matchPlain(filter: UnsafeBufferPointer<UInt8>, topic: UnsafeBufferPointer<UInt8>) -> Bool {
        if topic[0] == dollar && (filter[0] == singleLevel || filter[0] == multiLevel) { return false }
        var filterIndex = 0
        var topicIndex = 0
        // Each pass handles one level: filterIndex and topicIndex point at the start of a level (the
        // topic's may be its end when the topic has run out of levels).
        var topicExhausted = false
        while true {
            let filterLevelEnd = filter[filterIndex...].firstIndex(of: separator) ?? filter.count
            let filterLevel = filter[filterIndex..<filterLevelEnd]
            if filterLevel.count == 1 && filterLevel.first == multiLevel {
                return true
            }
            if topicExhausted { return false }
            let topicLevelEnd = topic[topicIndex...].firstIndex(of: separator) ?? topic.count
            let topicLevel = topic[topicIndex..<topicLevelEnd]
            for byte in topicLevel where byte == singleLevel || byte == multiLevel || byte == 0 {
                return false
            }
            if !(filterLevel.count == 1 && filterLevel.first == singleLevel) && !filterLevel.elementsEqual(topicLevel) {
                return false
            }
            let filterDone = filterLevelEnd == filter.count
            let topicDone = topicLevelEnd == topic.count
            if filterDone { return topicDone }
            filterIndex = filterLevelEnd + 1
            if topicDone {
                // The filter has more levels: only a trailing "#" can still match ("a/#" matches "a").
                topicExhausted = true
            } else {
                topicIndex = topicLevelEnd + 1
            }
        }
    }
}
