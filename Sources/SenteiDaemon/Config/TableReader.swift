/// Collects every problem of one file while the sections are read, so a check reports them all at once.
final class ConfigDiagnostics {
    let file: String
    let locator: KeyLocator
    private(set) var errors: [ConfigError] = []

    init(file: String, text: String) {
        self.file = file
        self.locator = KeyLocator(text: text)
    }

    func report(_ code: ConfigError.Code, key: String, expected: String, found: String) {
        errors.append(ConfigError(code: code, file: file, line: locator.line(of: key), key: key, expected: expected,
                                  found: found))
    }
}

/// Reads one TOML table by key, checking type and range, and remembers which keys were read so that `finish()`
/// can reject the rest as unknown. Invalid values are reported and replaced by the default so reading goes on.
final class TableReader {
    let path: String
    private let entries: [(key: String, value: ConfigValue)]
    private let diagnostics: ConfigDiagnostics
    private var known: [String] = []

    init(path: String, entries: [(key: String, value: ConfigValue)], diagnostics: ConfigDiagnostics) {
        self.path = path
        self.entries = entries
        self.diagnostics = diagnostics
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func value(_ key: String) -> ConfigValue? {
        known.append(key)
        return entries.first { $0.key == key }?.value
    }

    /// Whether the file sets `key`; counts as reading it (it is a known key).
    func has(_ key: String) -> Bool {
        known.append(key)
        return entries.contains { $0.key == key }
    }

    func report(_ code: ConfigError.Code, _ key: String, expected: String, found: String) {
        diagnostics.report(code, key: keyPath(key), expected: expected, found: found)
    }

    func string(_ key: String, default fallback: String, expected: String = "a string",
                accept: (String) -> Bool = { _ in true }) -> String {
        optionalString(key, expected: expected, accept: accept) ?? fallback
    }

    func optionalString(_ key: String, expected: String = "a string", accept: (String) -> Bool = { _ in true }) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let s) = value else {
            report(.wrongType, key, expected: expected, found: value.foundDescription)
            return nil
        }
        guard accept(s) else {
            report(.invalidValue, key, expected: expected, found: value.foundDescription)
            return nil
        }
        return s
    }

    func path(_ key: String, default fallback: String?) -> String? {
        let expected = "an absolute path (starting with /)"
        return optionalString(key, expected: expected, accept: { $0.hasPrefix("/") && !$0.contains("\0") }) ?? fallback
    }

    func int(_ key: String, default fallback: Int, range: ClosedRange<Int>, unit: String = "") -> Int {
        let expected = "an integer in \(range.lowerBound)...\(range.upperBound)\(unit.isEmpty ? "" : " (\(unit))")"
        guard let value = value(key) else { return fallback }
        guard case .integer(let i) = value else {
            report(.wrongType, key, expected: expected, found: value.foundDescription)
            return fallback
        }
        guard range.contains(i) else {
            report(.outOfRange, key, expected: expected, found: value.foundDescription)
            return fallback
        }
        return i
    }

    /// Integers are accepted where a number is expected: `latency_ms = 100` must not need `100.0`.
    func double(_ key: String, default fallback: Double, range: ClosedRange<Double>, unit: String = "") -> Double {
        optionalDouble(key, range: range, unit: unit) ?? fallback
    }

    func optionalDouble(_ key: String, range: ClosedRange<Double>, unit: String = "") -> Double? {
        let expected = "a number in \(Self.format(range.lowerBound))...\(Self.format(range.upperBound))"
            + (unit.isEmpty ? "" : " (\(unit))")
        guard let value = value(key) else { return nil }
        return number(value, key: key, expected: expected, range: range)
    }

    func number(_ value: ConfigValue, key: String, expected: String, range: ClosedRange<Double>) -> Double? {
        let number: Double
        switch value {
        case .integer(let i): number = Double(i)
        case .float(let d): number = d
        default:
            report(.wrongType, key, expected: expected, found: value.foundDescription)
            return nil
        }
        guard number.isFinite, range.contains(number) else {
            report(.outOfRange, key, expected: expected, found: value.foundDescription)
            return nil
        }
        return number
    }

    func bool(_ key: String, default fallback: Bool) -> Bool {
        guard let value = value(key) else { return fallback }
        guard case .boolean(let b) = value else {
            report(.wrongType, key, expected: "true or false", found: value.foundDescription)
            return fallback
        }
        return b
    }

    func stringArray(_ key: String, default fallback: [String], expected: String = "an array of strings",
                     accept: (String) -> Bool = { _ in true }) -> [String] {
        guard let value = value(key) else { return fallback }
        guard case .array(let items) = value else {
            report(.wrongType, key, expected: expected, found: value.foundDescription)
            return fallback
        }
        var result: [String] = []
        for (index, item) in items.enumerated() {
            guard case .string(let s) = item else {
                report(.wrongType, "\(key)[\(index)]", expected: expected, found: item.foundDescription)
                continue
            }
            guard accept(s) else {
                report(.invalidValue, "\(key)[\(index)]", expected: expected, found: item.foundDescription)
                continue
            }
            result.append(s)
        }
        return result
    }

    /// A sub-table; an absent one reads as empty so every default applies.
    func table(_ key: String) -> TableReader {
        let value = value(key)
        var entries: [(key: String, value: ConfigValue)] = []
        switch value {
        case .table(let e)?: entries = e
        case nil: break
        case let other?: report(.wrongType, key, expected: "a table ([\(keyPath(key))])", found: other.foundDescription)
        }
        return TableReader(path: keyPath(key), entries: entries, diagnostics: diagnostics)
    }

    /// `[[key]]` elements; nil when the key is absent.
    func tableArray(_ key: String) -> [TableReader]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value else {
            report(.wrongType, key, expected: "an array of tables ([[\(keyPath(key))]])", found: value.foundDescription)
            return nil
        }
        var readers: [TableReader] = []
        for (index, item) in items.enumerated() {
            guard case .table(let entries) = item else {
                report(.wrongType, "\(key)[\(index)]", expected: "a table", found: item.foundDescription)
                continue
            }
            readers.append(TableReader(path: keyPath("\(key)[\(index)]"), entries: entries, diagnostics: diagnostics))
        }
        return readers
    }

    /// The raw entries, for tables whose keys are data (per-class thresholds).
    func allEntries() -> [(key: String, value: ConfigValue)] {
        known.append(contentsOf: entries.map(\.key))
        return entries
    }

    /// Reports every key that was never read. Call after reading the table's last key.
    func finish() {
        for (key, _) in entries where !known.contains(key) {
            let suggestion = Self.closest(to: key, in: known).map { " (did you mean \"\($0)\"?)" } ?? ""
            report(.unknownKey, key, expected: "one of: \(Set(known).sorted().joined(separator: ", "))",
                   found: "unknown key \"\(key)\"\(suggestion)")
        }
    }

    private static func closest(to key: String, in candidates: [String]) -> String? {
        let scored = Set(candidates).map { ($0, editDistance(key, $0)) }.filter { $0.1 <= max(2, key.count / 3) }
        return scored.min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }?.0
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }

    static func format(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
    }
}
