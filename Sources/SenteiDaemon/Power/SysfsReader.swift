#if canImport(Glibc)
import Glibc
#endif

/// Reads small sysfs attribute files below an injectable root, so tests can build a faithful fake tree
/// (same names, same units) in a temporary directory.
public struct SysfsReader: Sendable {
    /// "/" on a real machine; a temporary directory in tests. Paths passed in are absolute sysfs paths
    /// ("/sys/class/powercap"), joined under the root.
    public let root: String

    public init(root: String = "/") {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    /// `path` under the root.
    public func resolve(_ path: String) -> String { root + path }

    /// Entries of a directory (names only, sorted), or [] when it does not exist.
    public func list(_ path: String) -> [String] {
        guard let dir = opendir(resolve(path)) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func exists(_ path: String) -> Bool { access(resolve(path), F_OK) == 0 }

    /// The file's first line, trimmed. Sysfs attributes are tiny; 256 bytes is plenty and bounds the read.
    public func readLine(_ path: String) throws(PowerMeterError) -> String {
        let full = resolve(path)
        let fd = open(full, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("open", path, errno) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        var count = 0
        while true {
            count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count >= 0 || errno != EINTR { break }
        }
        guard count >= 0 else { throw Self.failure("read", path, errno) }
        let text = String(decoding: buffer[..<count], as: UTF8.self)
        return String(text.split(whereSeparator: \.isNewline).first ?? "").trimmingCharacters(in: " \t")
    }

    /// A non-negative integer attribute (µJ, µW, mV, mA…).
    public func readInteger(_ path: String) throws(PowerMeterError) -> UInt64 {
        let text = try readLine(path)
        guard let value = UInt64(text) else {
            throw PowerMeterError(.malformed, "\(path) holds '\(text.prefix(40))', not a non-negative integer")
        }
        return value
    }

    private static func failure(_ call: String, _ path: String, _ code: Int32) -> PowerMeterError {
        let kind: PowerMeterError.Code =
            code == EACCES || code == EPERM ? .permissionDenied : code == ENOENT ? .absent : .unreadable
        return PowerMeterError(kind, "\(call) \(path) failed with \(errnoName(code))")
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let first = s.first, chars.contains(first) { s.removeFirst() }
        while let last = s.last, chars.contains(last) { s.removeLast() }
        return String(s)
    }
}
