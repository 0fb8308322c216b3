/// One problem in a config file, precise enough to fix without reading the code: file, line, dotted key, what the
/// key accepts and what the file holds. Compare on `code`; the text is for people.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable { case unreadable, syntax, unknownKey, wrongType, outOfRange, invalidValue, missingKey, conflict }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }
        /// The file could not be opened or is not UTF-8.
        public static let unreadable = Code(.unreadable)
        /// TOML itself is malformed (reported by the parser with its position).
        public static let syntax = Code(.syntax)
        /// A key Sentei does not know: typos must not be silently ignored.
        public static let unknownKey = Code(.unknownKey)
        public static let wrongType = Code(.wrongType)
        public static let outOfRange = Code(.outOfRange)
        /// Right type and range, but not an accepted value (an unknown class name, a malformed mode string).
        public static let invalidValue = Code(.invalidValue)
        public static let missingKey = Code(.missingKey)
        /// Two keys that exclude each other, or a duplicate name.
        public static let conflict = Code(.conflict)
        public var description: String { kind.rawValue }
    }

    public var code: Code
    public var file: String
    /// 1-based; nil when the key is absent from the file (a missing key) or its position cannot be found.
    public var line: Int?
    public var column: Int?
    /// Dotted path, e.g. `cameras[0].width`; empty for file-level errors.
    public var key: String
    public var expected: String
    public var found: String

    public init(code: Code, file: String, line: Int? = nil, column: Int? = nil, key: String, expected: String, found: String) {
        self.code = code
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.expected = expected
        self.found = found
    }

    public static func == (a: ConfigError, b: ConfigError) -> Bool { a.code == b.code && a.key == b.key }

    /// `sentei.toml:12: budgets.latency_ms: expected an integer in 1...60000 (milliseconds), found integer -5`
    public var description: String {
        var place = file
        if let line { place += ":\(line)" }
        if let column { place += ":\(column)" }
        let subject = key.isEmpty ? "" : "\(key): "
        return "\(place): \(subject)expected \(expected), found \(found)"
    }
}

/// Everything wrong with one file: the validator reports all problems at once rather than one per edit-run cycle.
public struct ConfigValidationError: Error, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]
    public init(errors: [ConfigError]) { self.errors = errors }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
