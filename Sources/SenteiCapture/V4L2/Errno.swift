import Glibc

/// A POSIX errno value with its symbolic name, so messages say `ENODEV`, not 19.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    public static let interrupted = Errno(EINTR)
    public static let wouldBlock = Errno(EAGAIN)
    public static let noDevice = Errno(ENODEV)
    public static let noSuchDeviceOrAddress = Errno(ENXIO)
    public static let io = Errno(EIO)
    public static let noEntry = Errno(ENOENT)
    public static let invalid = Errno(EINVAL)
    public static let busy = Errno(EBUSY)
    public static let noMemory = Errno(ENOMEM)
    public static let badFileDescriptor = Errno(EBADF)
    public static let fault = Errno(EFAULT)
    public static let permission = Errno(EACCES)

    /// The device is gone (unplugged, driver unloaded, disconnected): recover by reconnecting.
    public var meansDeviceGone: Bool {
        [ENODEV, ENXIO, EIO, ENOENT, ESHUTDOWN, EPIPE].contains(rawValue)
    }

    public var description: String {
        let names: [Int32: String] = [
            EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO", EBADF: "EBADF",
            EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY",
            ENODEV: "ENODEV", EINVAL: "EINVAL", ENOTTY: "ENOTTY", EPIPE: "EPIPE", ESHUTDOWN: "ESHUTDOWN",
            ETIMEDOUT: "ETIMEDOUT",
        ]
        return names[rawValue] ?? "errno \(rawValue)"
    }
}
