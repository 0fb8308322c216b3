import Glibc

/// A socket failure naming the call, the path and the errno: "bind(/run/sentei/events.sock) failed: EACCES …".
public struct SocketError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable { case systemCall, pathTooLong, addressInUse, notASocket, unknownGroup, closed }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }
        public static let systemCall = Code(.systemCall)
        public static let pathTooLong = Code(.pathTooLong)
        /// Another live process already listens on the path.
        public static let addressInUse = Code(.addressInUse)
        /// The path exists and is not a socket; it is never removed.
        public static let notASocket = Code(.notASocket)
        public static let unknownGroup = Code(.unknownGroup)
        /// The peer closed the connection.
        public static let closed = Code(.closed)
        public var description: String { kind.rawValue }
    }

    public var code: Code
    public var message: String
    public var errno: Int32?

    public init(code: Code, message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    static func systemCall(_ call: String, _ subject: String, errno: Int32) -> SocketError {
        SocketError(code: .systemCall, message: "\(call)(\(subject)) failed: \(String(cString: strerror(errno)))", errno: errno)
    }

    public static func == (a: SocketError, b: SocketError) -> Bool { a.code == b.code }
    public var description: String { message }
}

enum SyscallResult<T> {
    case value(T)
    case wouldBlock
}

/// Every socket call goes through here: EINTR is retried, EAGAIN becomes `.wouldBlock`, anything else throws with
/// the call's name.
func socketCall<T: BinaryInteger>(_ name: String, _ subject: String, _ body: () -> T) throws(SocketError) -> SyscallResult<T> {
    while true {
        let result = body()
        if result >= 0 { return .value(result) }
        let error = errno
        if error == EINTR { continue }
        if error == EAGAIN || error == EWOULDBLOCK { return .wouldBlock }
        throw SocketError.systemCall(name, subject, errno: error)
    }
}

/// Fills a sockaddr_un for `path`; the path must fit sun_path with its NUL.
func withUnixAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) throws(SocketError) -> R {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    guard !bytes.isEmpty, bytes.count < capacity else {
        throw SocketError(code: .pathTooLong, message: "socket path \(path) is \(bytes.count) bytes; at most \(capacity - 1) fit")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}
