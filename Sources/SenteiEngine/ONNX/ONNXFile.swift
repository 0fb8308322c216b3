#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a whole regular file into memory with plain POSIX calls, so the engine needs no Foundation.
/// Files larger than `maxBytes` are refused before anything is allocated.
func readWholeFile(path: String, maxBytes: Int = 1 << 31) throws -> [UInt8] {
    let name = fileName(of: path)
    func ioError(_ what: String) -> EngineError {
        let reason = String(cString: strerror(errno))
        return EngineError(.io, "\(name): \(what) '\(path)' failed: \(reason)")
    }
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw ioError("open") }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw ioError("fstat") }
    guard (status.st_mode & S_IFMT) == S_IFREG else {
        throw EngineError(.io, "\(name): '\(path)' is not a regular file")
    }
    let size = Int(status.st_size)
    guard size <= maxBytes else {
        throw EngineError(.io, "\(name): file is \(size) bytes, more than the \(maxBytes) a model may have")
    }
    var filled = 0
    let bytes = try [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
        while filled < size {
            let count = read(descriptor, buffer.baseAddress! + filled, size - filled)
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw ioError("read") }
            // The file shrank while we read it: keep what is there, the decoder reports the truncation.
            if count == 0 { break }
            filled += count
        }
        initialized = filled
    }
    return bytes
}
