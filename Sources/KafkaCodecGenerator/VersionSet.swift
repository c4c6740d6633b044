/// A set of versions within a message's valid range, used to turn the schema's ranges into the
/// simplest `version` condition for each piece of generated code.
struct VersionSet: Equatable {
    let lowest: Int16
    let highest: Int16
    private(set) var members: [Bool]

    init(lowest: Int16, highest: Int16, range: VersionRange) {
        self.lowest = lowest
        self.highest = highest
        self.members = (lowest...highest).map { range.contains($0) }
    }

    private init(lowest: Int16, highest: Int16, members: [Bool]) {
        self.lowest = lowest
        self.highest = highest
        self.members = members
    }

    var isEmpty: Bool { !members.contains(true) }
    var isFull: Bool { !members.contains(false) }

    func contains(_ version: Int16) -> Bool {
        guard version >= lowest && version <= highest else { return false }
        return members[Int(version - lowest)]
    }

    func intersection(_ other: VersionSet) -> VersionSet {
        VersionSet(lowest: lowest, highest: highest, members: zip(members, other.members).map { $0 && $1 })
    }

    func union(_ other: VersionSet) -> VersionSet {
        VersionSet(lowest: lowest, highest: highest, members: zip(members, other.members).map { $0 || $1 })
    }

    func subtracting(_ other: VersionSet) -> VersionSet {
        VersionSet(lowest: lowest, highest: highest, members: zip(members, other.members).map { $0 && !$1 })
    }

    var complement: VersionSet {
        VersionSet(lowest: lowest, highest: highest, members: members.map { !$0 })
    }

    /// Whether `self` holds every version of `other`.
    func isSuperset(of other: VersionSet) -> Bool {
        other.subtracting(self).isEmpty
    }

    /// A Swift boolean expression over `version` that is true exactly for the members, assuming the
    /// version lies in the valid range; nil when every valid version is a member.
    var condition: String? { condition(within: nil) }

    /// `groupedCondition` wrapped so it can be combined with `&&`, for versions within `context`.
    func groupedCondition(within context: VersionSet?) -> String? {
        guard let condition = condition(within: context) else { return nil }
        return condition.contains("||") ? "(\(condition))" : condition
    }

    /// The simplest expression that is true for the members and false for the other versions of
    /// `context`; versions outside `context` never reach the code and may go either way.
    /// Nil when no test is needed.
    func condition(within context: VersionSet?) -> String? {
        let relevant = context ?? VersionSet(lowest: lowest, highest: highest, members: members.map { _ in true })
        let widened = VersionSet(lowest: lowest, highest: highest, members: zip(members, relevant.members).map { $0 || !$1 })
        if widened.isFull { return nil }
        if self.intersection(relevant).isEmpty { return "false" }
        var runs: [(Int16, Int16)] = []
        var start: Int16? = nil
        for version in lowest...highest {
            if widened.contains(version) {
                if start == nil { start = version }
            } else if let first = start {
                runs.append((first, version - 1))
                start = nil
            }
        }
        if let first = start { runs.append((first, highest)) }
        // A run made only of versions outside the context needs no term.
        runs = runs.filter { run in (run.0...run.1).contains { self.contains($0) && relevant.contains($0) } }
        let terms: [String] = runs.map { run in
            let (first, last) = run
            if first == last { return "version == \(first)" }
            if first == lowest { return "version <= \(last)" }
            if last == highest { return "version >= \(first)" }
            return "(version >= \(first) && version <= \(last))"
        }
        return terms.joined(separator: " || ")
    }
}
