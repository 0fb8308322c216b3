/// Typed capture error. Compare on `code`; `message` names the device or file and, for syscalls, the call and errno.
public struct CaptureError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String {
            case notACaptureDevice, noStreaming, noUsableFormat, syscallFailed, deviceUnavailable, notEnoughBuffers
            case badFile, badJPEGFraming, badY4M, noFrames
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }
        public static let notACaptureDevice = Code(.notACaptureDevice)
        public static let noStreaming = Code(.noStreaming)
        public static let noUsableFormat = Code(.noUsableFormat)
        public static let syscallFailed = Code(.syscallFailed)
        /// The device is absent or gone (ENOENT/ENODEV/EIO…) and reconnection was not allowed or gave up.
        public static let deviceUnavailable = Code(.deviceUnavailable)
        public static let notEnoughBuffers = Code(.notEnoughBuffers)
        /// A replay input could not be opened or read.
        public static let badFile = Code(.badFile)
        public static let badJPEGFraming = Code(.badJPEGFraming)
        public static let badY4M = Code(.badY4M)
        /// A replay input held no usable frame at all.
        public static let noFrames = Code(.noFrames)
        public var description: String { kind.rawValue }
    }

    public let code: Code
    public let message: String
    /// For syscall failures: the errno.
    public let errno: Errno?

    public init(_ code: Code, _ message: String, errno: Errno? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    static func syscall(_ call: String, device: String, _ errno: Errno) -> CaptureError {
        CaptureError(
            errno.meansDeviceGone ? .deviceUnavailable : .syscallFailed, "\(call) on \(device) failed with \(errno)",
            errno: errno)
    }

    public var description: String { message }
}
