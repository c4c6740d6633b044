import Foundation

/// A schema version specification: "none", "N", "N+", or "N-M".
struct VersionRange: Equatable {
    /// Inclusive bounds; `upper == nil` means open-ended. `isEmpty` for "none".
    var lower: Int16
    var upper: Int16?
    var isEmpty: Bool

    static let none = VersionRange(lower: 0, upper: nil, isEmpty: true)

    init(lower: Int16, upper: Int16?, isEmpty: Bool = false) {
        self.lower = lower
        self.upper = upper
        self.isEmpty = isEmpty
    }

    init(parsing text: String, source: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "none" || trimmed.isEmpty {
            self = .none
            return
        }
        if trimmed.hasSuffix("+") {
            guard let lower = Int16(trimmed.dropLast()) else {
                throw GeneratorError.invalidSchema(source, "bad version range '\(text)'")
            }
            self.init(lower: lower, upper: nil)
            return
        }
        let parts = trimmed.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count == 1, let single = Int16(parts[0]) {
            self.init(lower: single, upper: single)
            return
        }
        guard parts.count == 2, let lower = Int16(parts[0]), let upper = Int16(parts[1]), lower <= upper else {
            throw GeneratorError.invalidSchema(source, "bad version range '\(text)'")
        }
        self.init(lower: lower, upper: upper)
    }

    func contains(_ version: Int16) -> Bool {
        if isEmpty { return false }
        if version < lower { return false }
        if let upper, version > upper { return false }
        return true
    }
}
