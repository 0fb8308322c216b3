import Glibc

/// A blocking reader of the event socket, one JSON line at a time (for `sentei watch`, `sentei status` and tests).
/// Owned by one thread at a time (it may be handed to another, hence Sendable); it has no internal locking.
public final class EventSocketClient: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var chunk = [UInt8](repeating: 0, count: 65536)
    /// A line longer than this is a protocol error, not a reason to grow without bound.
    public static let maxLineBytes = 1 << 20

    public init(path: String, receiveBufferBytes: Int? = nil) throws(SocketError) {
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.systemCall("socket", path, errno: errno) }
        if var size = receiveBufferBytes.map(Int32.init) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        do throws(SocketError) {
            while true {
                let rc = try withUnixAddress(path) { connect(fd, $0, $1) }
                if rc == 0 { break }
                if errno == EINTR { continue }
                throw SocketError.systemCall("connect", path, errno: errno)
            }
        } catch {
            close(fd)
            throw error
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Raw bytes as they arrive (anything `nextLine` buffered first), for pass-through consumers that do not need
    /// lines split. Returns nil on timeout; throws `.closed` when the daemon hung up.
    public func nextChunk(timeoutMs: Int32? = nil) throws(SocketError) -> [UInt8]? {
        if start < buffer.count {
            defer { buffer.removeAll(keepingCapacity: true); start = 0 }
            return Array(buffer[start...])
        }
        if let timeoutMs {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, timeoutMs)
            if ready == 0 { return nil }
            if ready < 0 && errno != EINTR { throw SocketError.systemCall("poll", path, errno: errno) }
        }
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SocketError.systemCall("recv", path, errno: errno)
            }
            if n == 0 { throw SocketError(code: .closed, message: "\(path) closed the connection") }
            return Array(chunk[..<n])
        }
    }

    /// Waits up to `timeoutMs` (nil = forever) for the next line, without its newline. Returns nil on timeout;
    /// throws `.closed` when the daemon hung up.
    public func nextLine(timeoutMs: Int32? = nil) throws(SocketError) -> String? {
        while true {
            let found = buffer.withUnsafeBufferPointer { $0[start...].firstIndex(of: UInt8(ascii: "\n")) }
            if let newline = found {
                let line = String(decoding: buffer[start..<newline], as: UTF8.self)
                start = newline + 1
                if start > 65536 && start * 2 > buffer.count {
                    buffer.removeFirst(start)
                    start = 0
                }
                return line
            }
            guard buffer.count - start <= Self.maxLineBytes else {
                throw SocketError(code: .closed, message: "\(path) sent a line longer than \(Self.maxLineBytes) bytes")
            }
            if let timeoutMs {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&pfd, 1, timeoutMs)
                if ready == 0 { return nil }
                if ready < 0 {
                    if errno == EINTR { continue }
                    throw SocketError.systemCall("poll", path, errno: errno)
                }
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SocketError.systemCall("recv", path, errno: errno)
            }
            if n == 0 { throw SocketError(code: .closed, message: "\(path) closed the connection") }
            buffer.append(contentsOf: chunk[..<n])
        }
    }
}
