#if canImport(Glibc)
import Glibc
#endif

/// Why a power meter could not be read: a stable `code` plus a message naming the file and, for syscalls, the errno.
public struct PowerMeterError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String { case unreadable, permissionDenied, malformed, absent }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }
        /// open/read failed for a reason other than permissions (ENOENT, EIO, ENODATA…).
        public static let unreadable = Code(.unreadable)
        /// EACCES/EPERM: common for RAPL `energy_uj` as non-root since Linux 5.10 (CVE-2020-8694).
        public static let permissionDenied = Code(.permissionDenied)
        /// The file did not hold a non-negative integer.
        public static let malformed = Code(.malformed)
        /// The directory or file the meter needs does not exist.
        public static let absent = Code(.absent)
        public var description: String { kind.rawValue }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Symbolic errno names for the failures sysfs reads actually give; anything else prints as a number.
func errnoName(_ value: Int32) -> String {
    switch value {
    case EACCES: "EACCES"
    case EPERM: "EPERM"
    case ENOENT: "ENOENT"
    case EIO: "EIO"
    case ENODATA: "ENODATA"
    case ENXIO: "ENXIO"
    case ENODEV: "ENODEV"
    case EINVAL: "EINVAL"
    case EISDIR: "EISDIR"
    case EOPNOTSUPP: "EOPNOTSUPP"
    default: "errno \(value)"
    }
}
