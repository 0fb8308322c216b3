/// A structural TOML check run before TOMLKit: its bundled toml++ (3.x) asserts instead of reporting an error on
/// some malformed inputs (`[[ }` as a table header, `[ }` inside an array), and SwiftPM builds C++ dependencies
/// without NDEBUG, so the assertion aborts the process — `sentei config check` and a SIGHUP reload must not die on a
/// typo. Found by scripts/fuzz-config.sh.
///
/// This walks the TOML 1.0 grammar at the token level — headers, dotted keys, `=`, strings, arrays, inline tables,
/// comments, newlines — and accepts number, boolean and date tokens by their first character and their alphabet,
/// leaving their exact syntax (and everything semantic) to toml++. It rejects only what toml++ rejects too, and
/// reports the first problem with its line and column.
struct TOMLPrecheck {
    struct Problem: Error, Equatable {
        var line: Int
        var column: Int
        var expected: String
        var found: String
    }

    private let chars: [Unicode.Scalar]
    private var i = 0
    private var line = 1
    private var lineStart = 0
    /// Arrays and inline tables open around the current value. The grammar is walked recursively, so a file of
    /// nothing but `[` (a config may be up to 1 MiB) would overflow the stack; toml++ refuses more than 256 levels
    /// (TOML_MAX_NESTED_VALUES), so a limit above that still rejects only what toml++ rejects.
    private var depth = 0
    static let maxDepth = 300

    static func check(_ text: String) -> Problem? {
        var checker = TOMLPrecheck(chars: Array(text.unicodeScalars))
        do {
            try checker.document()
            return nil
        } catch {
            return error
        }
    }

    private init(chars: [Unicode.Scalar]) { self.chars = chars }

    // MARK: Grammar

    private mutating func document() throws(Problem) {
        while true {
            skipSpaces()
            guard let c = peek() else { return }
            switch c {
            case "\n", "\r", "#": break
            case "[": try header()
            default: try keyValue()
            }
            try endOfLine()
        }
    }

    private mutating func header() throws(Problem) {
        advance()
        let array = peek() == "["
        if array { advance() }
        skipSpaces()
        try key()
        skipSpaces()
        try expect("]", "']' closing the table name")
        if array { try expect("]", "']]' closing the array-of-tables name") }
    }

    private mutating func keyValue() throws(Problem) {
        try key()
        skipSpaces()
        try expect("=", "'=' after the key")
        skipSpaces()
        try value()
    }

    /// `a`, `"a b"`, `'a'`, `a.b."c"`.
    private mutating func key() throws(Problem) {
        while true {
            guard let c = peek() else { throw problem("a key", found: "the end of the file") }
            if c == "\"" || c == "'" {
                try singleLineString(c)
            } else if Self.isBareKey(c) {
                while let c = peek(), Self.isBareKey(c) { advance() }
            } else {
                throw problem("a key (letters, digits, _ and -, or a quoted string)")
            }
            skipSpaces()
            guard peek() == "." else { return }
            advance()
            skipSpaces()
        }
    }

    private mutating func value() throws(Problem) {
        guard let c = peek() else { throw problem("a value", found: "the end of the file") }
        switch c {
        case "\"", "'":
            if peek(1) == c && peek(2) == c { try multiLineString(c) } else { try singleLineString(c) }
        case "[": try array()
        case "{": try inlineTable()
        default:
            // Numbers, booleans, dates and times: one token (a date and a time may be split by one space).
            guard ("0"..."9").contains(c) || c == "+" || c == "-" || c == "t" || c == "f" || c == "i" || c == "n" else {
                throw problem("a value (string, number, boolean, date, array or inline table)")
            }
            let start = i
            while let c = peek(), Self.isValueToken(c) { advance() }
            if peek() == " ", let next = peek(1), ("0"..."9").contains(next), (i >= 1 && ("0"..."9").contains(chars[i - 1])) {
                advance()
                while let c = peek(), Self.isValueToken(c) { advance() }
            }
            try dateOrTime(from: start)
        }
    }

    /// toml++ asserts on date/time tokens with misplaced digits (`1979-05-27T:0072:30Z`), so anything that looks
    /// like a date or a time must have the exact TOML 1.0 shape (seconds optional, as toml++ accepts).
    private mutating func dateOrTime(from start: Int) throws(Problem) {
        var token = String.UnicodeScalarView()
        token.append(contentsOf: chars[start..<i])
        let text = String(token)
        guard text.contains(":") || text.prefixMatch(of: /\d{4}-/) != nil else { return }
        let time = #"\d{2}:\d{2}(:\d{2}(\.\d+)?)?"#
        let dateTime = try? Regex(#"\d{4}-\d{2}-\d{2}([Tt ]"# + time + #"([Zz]|[+-]\d{2}:\d{2})?)?"#)
        let localTime = try? Regex(time)
        if let dateTime, text.wholeMatch(of: dateTime) != nil { return }
        if let localTime, text.wholeMatch(of: localTime) != nil { return }
        let end = i
        i = start
        let problem = problem("a date-time like 1979-05-27T07:32:00Z or a time like 07:32:00", found: "'\(text)'")
        i = end
        throw problem
    }

    private mutating func enterNested() throws(Problem) {
        depth += 1
        if depth > Self.maxDepth { throw problem("at most \(Self.maxDepth) nested arrays and inline tables") }
    }

    private mutating func array() throws(Problem) {
        try enterNested()
        defer { depth -= 1 }
        advance()
        while true {
            try skipBlankAndComments()
            guard let c = peek() else { throw problem("']' closing the array", found: "the end of the file") }
            if c == "]" { advance(); return }
            try value()
            try skipBlankAndComments()
            guard let next = peek() else { throw problem("',' or ']' in the array", found: "the end of the file") }
            if next == "," { advance(); continue }
            if next == "]" { advance(); return }
            throw problem("',' or ']' in the array")
        }
    }

    private mutating func inlineTable() throws(Problem) {
        try enterNested()
        defer { depth -= 1 }
        advance()
        skipSpaces()
        if peek() == "}" { advance(); return }
        while true {
            try keyValue()
            skipSpaces()
            guard let c = peek() else { throw problem("'}' closing the inline table", found: "the end of the file") }
            if c == "," { advance(); skipSpaces(); continue }
            if c == "}" { advance(); return }
            throw problem("',' or '}' in the inline table (inline tables stay on one line)")
        }
    }

    private mutating func singleLineString(_ quote: Unicode.Scalar) throws(Problem) {
        advance()
        while let c = peek() {
            if c == "\n" || c == "\r" { break }
            advance()
            if c == quote { return }
            if c == "\\" && quote == "\"" {
                guard let escaped = peek(), escaped != "\n", escaped != "\r" else { break }
                advance()
            }
        }
        throw problem("a closing \(quote) on the same line")
    }

    private mutating func multiLineString(_ quote: Unicode.Scalar) throws(Problem) {
        advance(); advance(); advance()
        while let c = peek() {
            if c == quote && peek(1) == quote && peek(2) == quote {
                advance(); advance(); advance()
                // Up to two more quotes right before the delimiter belong to the string.
                if peek() == quote { advance() }
                if peek() == quote { advance() }
                return
            }
            if c == "\\" && quote == "\"" {
                advance()
                guard peek() != nil else { break }
            }
            if peek() == "\n" { newline() } else { advance() }
        }
        throw problem("the closing \(quote)\(quote)\(quote)", found: "the end of the file")
    }

    private mutating func endOfLine() throws(Problem) {
        skipSpaces()
        if peek() == "#" { skipComment() }
        if peek() == "\r" { advance() }
        guard let c = peek() else { return }
        guard c == "\n" else { throw problem("the end of the line (or a # comment)") }
        newline()
    }

    // MARK: Characters

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? { i + offset < chars.count ? chars[i + offset] : nil }
    private mutating func advance() { i += 1 }

    private mutating func newline() {
        i += 1
        line += 1
        lineStart = i
    }

    private mutating func skipSpaces() {
        while let c = peek(), c == " " || c == "\t" { advance() }
    }

    private mutating func skipComment() {
        while let c = peek(), c != "\n" { advance() }
    }

    /// Inside arrays: spaces, newlines and comments may come between values.
    private mutating func skipBlankAndComments() throws(Problem) {
        while let c = peek() {
            switch c {
            case " ", "\t", "\r": advance()
            case "\n": newline()
            case "#": skipComment()
            default: return
            }
        }
    }

    private mutating func expect(_ c: Unicode.Scalar, _ what: String) throws(Problem) {
        guard peek() == c else { throw problem(what) }
        advance()
    }

    private func problem(_ expected: String, found: String? = nil) -> Problem {
        let description = found ?? peek().map { c in
            c.value < 0x20 || c.value == 0x7F ? "control character U+\(String(c.value, radix: 16, uppercase: true))" : "'\(c)'"
        } ?? "the end of the file"
        return Problem(line: line, column: i - lineStart + 1, expected: expected, found: description)
    }

    private static func isBareKey(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "_" || c == "-"
    }

    private static func isValueToken(_ c: Unicode.Scalar) -> Bool {
        isBareKey(c) || c == "+" || c == "." || c == ":"
    }
}
