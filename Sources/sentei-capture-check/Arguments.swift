/// `--key value` options of the probe; it is a test tool, so a flat dictionary is enough.
struct Arguments {
    let command: String
    private var values: [String: String] = [:]

    init(_ argv: [String]) throws(ProbeError) {
        guard argv.count >= 2 else { throw ProbeError("usage: sentei-capture-check <command> [--key value]…") }
        command = argv[1]
        var i = 2
        while i < argv.count {
            let key = argv[i]
            guard key.hasPrefix("--"), i + 1 < argv.count else { throw ProbeError("expected --key value at \(key)") }
            values[String(key.dropFirst(2))] = argv[i + 1]
            i += 2
        }
    }

    func string(_ key: String) -> String? { values[key] }

    func required(_ key: String) throws(ProbeError) -> String {
        guard let v = values[key] else { throw ProbeError("\(command) needs --\(key)") }
        return v
    }

    func int(_ key: String, default value: Int) throws(ProbeError) -> Int {
        guard let s = values[key] else { return value }
        guard let v = Int(s) else { throw ProbeError("--\(key) \(s) is not an integer") }
        return v
    }

    func double(_ key: String) throws(ProbeError) -> Double? {
        guard let s = values[key] else { return nil }
        guard let v = Double(s) else { throw ProbeError("--\(key) \(s) is not a number") }
        return v
    }

    /// `WxH`.
    func size(_ key: String) throws(ProbeError) -> (width: Int, height: Int)? {
        guard let s = values[key] else { return nil }
        let parts = s.split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else {
            throw ProbeError("--\(key) \(s) is not WxH")
        }
        return (w, h)
    }
}

struct ProbeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
