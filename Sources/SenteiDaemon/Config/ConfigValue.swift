import TOMLKit

/// A TOML document as plain Sendable data. TOMLKit's tables are classes over a C++ tree; copying out at once keeps
/// them out of the rest of the daemon and lets validation run without the parser's types.
indirect enum ConfigValue: Sendable, Equatable {
    case table([(key: String, value: ConfigValue)])
    case array([ConfigValue])
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    /// Dates and times: valid TOML, but no Sentei key takes one.
    case dateTime(String)

    static func == (a: ConfigValue, b: ConfigValue) -> Bool {
        switch (a, b) {
        case (.table(let x), .table(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.array(let x), .array(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.integer(let x), .integer(let y)): x == y
        case (.float(let x), .float(let y)): x == y
        case (.boolean(let x), .boolean(let y)): x == y
        case (.dateTime(let x), .dateTime(let y)): x == y
        default: false
        }
    }

    /// How an error message names what the file holds: `string "abc"`, `integer 5`, `a table`.
    var foundDescription: String {
        switch self {
        case .table: "a table"
        case .array(let items): "an array of \(items.count) item\(items.count == 1 ? "" : "s")"
        case .string(let s): "string \"\(s.count > 60 ? String(s.prefix(60)) + "…" : s)\""
        case .integer(let i): "integer \(i)"
        case .float(let d): "float \(d)"
        case .boolean(let b): "boolean \(b)"
        case .dateTime(let s): "date/time \(s)"
        }
    }

    /// Parses TOML text. Syntax errors carry the parser's line and column.
    static func parse(_ text: String, file: String) throws(ConfigError) -> ConfigValue {
        if let problem = TOMLPrecheck.check(text) {
            throw ConfigError(code: .syntax, file: file, line: problem.line, column: problem.column, key: "",
                              expected: problem.expected, found: problem.found)
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(code: .syntax, file: file, line: error.source.begin.line, column: error.source.begin.column,
                              key: "", expected: "valid TOML", found: error.description)
        } catch {
            throw ConfigError(code: .syntax, file: file, key: "", expected: "valid TOML", found: "\(error)")
        }
        return convert(table)
    }

    private static func convert(_ table: TOMLTable) -> ConfigValue {
        var entries: [(key: String, value: ConfigValue)] = []
        for key in table.keys {
            guard let value = table[key] else { continue }
            entries.append((key, convert(value)))
        }
        return .table(entries)
    }

    private static func convert(_ value: any TOMLValueConvertible) -> ConfigValue {
        switch value.type {
        case .table: value.table.map(convert) ?? .table([])
        case .array: .array((value.array.map { Array($0) } ?? []).map { convert($0) })
        case .string: .string(value.string ?? "")
        case .int: .integer(value.int ?? 0)
        case .double: .float(value.double ?? 0)
        case .bool: .boolean(value.bool ?? false)
        case .date, .time, .dateTime: .dateTime(value.tomlValue.debugDescription)
        }
    }
}
