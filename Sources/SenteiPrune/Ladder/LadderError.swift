/// A ladder directory that cannot be used: names the file and, when one is at fault, the field
/// (`levels[2].sha256`). Compare by `code`.
public struct LadderError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// `manifest.json` is missing, unreadable, not JSON, or a field has the wrong type or an invalid value.
        public static let invalidManifest = Code("invalid_manifest")
        /// A level's file is missing or its bytes do not match the manifest's `sha256`.
        public static let fileMismatch = Code("file_mismatch")
        /// `--level NAME` names no level of the ladder.
        public static let unknownLevel = Code("unknown_level")
    }

    public let code: Code
    public let file: String
    /// The JSON path of the offending field, or nil when the whole file is at fault.
    public let field: String?
    public let reason: String

    public init(_ code: Code, file: String, field: String? = nil, _ reason: String) {
        self.code = code
        self.file = file
        self.field = field
        self.reason = reason
    }

    public var description: String {
        if let field { return "\(file): \(field): \(reason)" }
        return "\(file): \(reason)"
    }
}
