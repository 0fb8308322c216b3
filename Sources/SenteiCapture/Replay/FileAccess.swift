import Glibc

/// A read-only mapping of a whole file, so multi-gigabyte MJPEG recordings cost address space, not memory.
final class MappedFile {
    let path: String
    let bytes: UnsafeRawBufferPointer
    private let address: UnsafeMutableRawPointer?

    init(path: String) throws(CaptureError) {
        self.path = path
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CaptureError(.badFile, "cannot open \(path): \(Errno(errno))", errno: Errno(errno)) }
        defer { _ = Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CaptureError(.badFile, "cannot stat \(path): \(Errno(errno))") }
        guard st.st_mode & S_IFMT == S_IFREG else { throw CaptureError(.badFile, "\(path) is not a regular file") }
        let size = Int(st.st_size)
        if size == 0 {
            address = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let p = Glibc.mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw CaptureError(.badFile, "cannot map \(path): \(Errno(errno))")
        }
        address = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit { if let address { _ = Glibc.munmap(address, bytes.count) } }
}

/// Sequential buffered reads for streamed formats (Y4M), with exact-length reads that report truncation.
final class FileReader {
    let path: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var position = 0
    private(set) var offset = 0  // bytes consumed from the file

    init(path: String) throws(CaptureError) {
        self.path = path
        fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CaptureError(.badFile, "cannot open \(path): \(Errno(errno))", errno: Errno(errno)) }
    }

    deinit { _ = Glibc.close(fd) }

    func rewind() throws(CaptureError) {
        guard lseek(fd, 0, SEEK_SET) == 0 else { throw CaptureError(.badFile, "cannot seek \(path): \(Errno(errno))") }
        buffer.removeAll(keepingCapacity: true)
        position = 0
        offset = 0
    }

    /// Returns false at end of file.
    private func fill() throws(CaptureError) -> Bool {
        if position < buffer.count { return true }
        buffer = [UInt8](repeating: 0, count: 1 << 16)
        position = 0
        while true {
            let r = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if r < 0 && errno == EINTR { continue }
            guard r >= 0 else { throw CaptureError(.badFile, "cannot read \(path): \(Errno(errno))") }
            buffer.removeSubrange(r...)
            return r > 0
        }
    }

    /// A line without its "\n"; nil at a clean end of file. Lines longer than `limit` are an error.
    func readLine(limit: Int) throws(CaptureError) -> [UInt8]? {
        var line: [UInt8] = []
        while true {
            guard try fill() else {
                if line.isEmpty { return nil }
                throw CaptureError(.badY4M, "\(path): file ends inside a header line at offset \(offset)")
            }
            let byte = buffer[position]
            position += 1
            offset += 1
            if byte == UInt8(ascii: "\n") { return line }
            line.append(byte)
            if line.count > limit {
                throw CaptureError(.badY4M, "\(path): header line longer than \(limit) bytes at offset \(offset)")
            }
        }
    }

    /// Exactly `count` bytes, or what was left with `complete == false` when the file ends first.
    func read(count: Int) throws(CaptureError) -> (bytes: [UInt8], complete: Bool) {
        var out: [UInt8] = []
        out.reserveCapacity(min(count, 1 << 22))  // grow with the data actually read, not with a header's claim
        while out.count < count {
            guard try fill() else { return (out, false) }
            let take = min(count - out.count, buffer.count - position)
            out.append(contentsOf: buffer[position..<position + take])
            position += take
            offset += take
        }
        return (out, true)
    }
}

/// Regular files in `directory` whose extension matches, sorted by name (frame numbers are zero-padded).
func listFiles(in directory: String, extensions: Set<String>) throws(CaptureError) -> [String] {
    guard let dir = opendir(directory) else {
        throw CaptureError(.badFile, "cannot open directory \(directory): \(Errno(errno))", errno: Errno(errno))
    }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) {
            String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        guard let dot = name.lastIndex(of: "."), !name.hasPrefix(".") else { continue }
        if extensions.contains(name[name.index(after: dot)...].lowercased()) { names.append(name) }
    }
    let base = directory.hasSuffix("/") ? directory : directory + "/"
    return names.sorted().map { base + $0 }
}
