/// Finds the line a dotted key was written on. TOMLKit reports positions only for syntax errors, so semantic errors
/// (a value out of range, an unknown key) are located by scanning the text the way TOML scopes keys: `[a.b]` and
/// `[[a]]` headers set the prefix, `k = v` and `x.y = v` add keys under it, `[[a]]` counts array elements.
struct KeyLocator: Sendable {
    private var lines: [String: Int] = [:]

    init(text: String) {
        var prefix = ""
        var arrayCounts: [String: Int] = [:]
        var lineNumber = 0
        // Split on the byte: "\r\n" is one Character, so splitting the String on "\n" would leave a CRLF file as one line.
        for rawLine in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = Self.stripComment(Substring(rawLine)).trimming(" \t\r")
            if line.isEmpty { continue }
            if line.hasPrefix("[[") && line.hasSuffix("]]") {
                let name = Self.normalize(String(line.dropFirst(2).dropLast(2)))
                let index = arrayCounts[name, default: 0]
                arrayCounts[name] = index + 1
                prefix = "\(name)[\(index)]"
                record(prefix, lineNumber)
                // Sub-tables of an array element ([[cameras]] then [cameras.x]) refer to the latest element.
                arrayCounts = arrayCounts.filter { !$0.key.hasPrefix(name + ".") }
            } else if line.hasPrefix("[") && line.hasSuffix("]") {
                let name = Self.normalize(String(line.dropFirst().dropLast()))
                prefix = Self.resolveArrays(name, arrayCounts)
                record(prefix, lineNumber)
            } else if let equals = Self.assignmentKeyEnd(line) {
                let key = Self.normalize(String(line[..<equals]))
                record(prefix.isEmpty ? key : "\(prefix).\(key)", lineNumber)
            }
        }
    }

    /// The line of `key`, or of its closest written ancestor (a key inside an inline table is reported at the
    /// line of the table's key).
    func line(of key: String) -> Int? {
        var candidate = key
        while true {
            if let line = lines[candidate] { return line }
            guard let cut = candidate.lastIndex(where: { $0 == "." || $0 == "[" }) else { return nil }
            candidate = String(candidate[..<cut])
        }
    }

    private mutating func record(_ key: String, _ line: Int) {
        if lines[key] == nil { lines[key] = line }
    }

    private static func resolveArrays(_ name: String, _ counts: [String: Int]) -> String {
        // [cameras.detection] after two [[cameras]] means cameras[1].detection.
        var parts = name.split(separator: ".").map(String.init)
        var path = ""
        for i in parts.indices {
            path = path.isEmpty ? parts[i] : path + "." + parts[i]
            if let count = counts[path], count > 0 { parts[i] += "[\(count - 1)]" }
        }
        return parts.joined(separator: ".")
    }

    private static func stripComment(_ line: Substring) -> Substring {
        var inString: Character? = nil
        for index in line.indices {
            let c = line[index]
            if let quote = inString {
                if c == quote { inString = nil }
            } else if c == "\"" || c == "'" {
                inString = c
            } else if c == "#" {
                return line[..<index]
            }
        }
        return line
    }

    /// Index of the `=` that ends a key, ignoring `=` inside quoted keys.
    private static func assignmentKeyEnd(_ line: String) -> String.Index? {
        var inString: Character? = nil
        for index in line.indices {
            let c = line[index]
            if let quote = inString {
                if c == quote { inString = nil }
            } else if c == "\"" || c == "'" {
                inString = c
            } else if c == "=" {
                return index
            }
        }
        return nil
    }

    /// `a . "b c"` → `a.b c`.
    private static func normalize(_ key: String) -> String {
        key.split(separator: ".").map {
            var part = $0.trimming(" \t")
            if part.count >= 2, let first = part.first, first == "\"" || first == "'", part.last == first {
                part = String(part.dropFirst().dropLast())
            }
            return part
        }.joined(separator: ".")
    }
}

extension StringProtocol {
    func trimming(_ set: String) -> String {
        var slice = Substring(self)
        while let f = slice.first, set.contains(f) { slice = slice.dropFirst() }
        while let l = slice.last, set.contains(l) { slice = slice.dropLast() }
        return String(slice)
    }
}
