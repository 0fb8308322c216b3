/// What to ask a V4L2 camera for. Every field has a default that suits a 640×480 surveillance stream.
public struct CaptureConfiguration: Sendable {
    /// Device node, e.g. `/dev/video0`.
    public var devicePath: String
    /// Requested size in pixels; the closest the device offers is used (exact, else the smallest covering one).
    public var width: Int = 640
    public var height: Int = 480
    /// Requested frames per second (set with VIDIOC_S_PARM); nil keeps the driver's rate. The granted rate is
    /// reported in `NegotiatedFormat.grantedFps`.
    public var fps: Double? = 25
    /// Restrict negotiation to one format; nil means the preference order of `FormatNegotiation`.
    public var format: PixelFormat? = nil
    /// From this many pixels up, MJPEG is preferred over raw formats.
    public var highResolutionPixels: Int = 1280 * 720
    /// Use libv4l2's converted formats when the driver offers none we understand.
    public var allowConversion: Bool = true
    /// mmap ring size (REQBUFS count); drivers may grant fewer, at least 2 are required.
    public var bufferCount: Int = 4
    /// No frame within this time counts as "camera lost".
    public var frameTimeoutMs: Int32 = 2000
    /// Reconnection back-off: starts here and doubles up to `retryMaxDelayMs`.
    public var retryInitialDelayMs: Int = 250
    public var retryMaxDelayMs: Int = 5000
    /// Give up (throw `deviceUnavailable`) after this many failed reconnection attempts; nil retries forever.
    public var maxReconnectAttempts: Int? = nil
    /// When the device is absent at start: wait for it (daemon) or fail at once (the CLI check).
    public var waitForDeviceAtStart: Bool = false

    public init(devicePath: String) { self.devicePath = devicePath }
}

/// The outcome of one negotiation, reported on `negotiated` and `found` events and by `V4L2Camera.current`.
public struct NegotiatedFormat: Sendable, CustomStringConvertible {
    public var device: String
    public var driver: String
    public var card: String
    public var format: PixelFormat
    public var width: Int
    public var height: Int
    public var bytesPerLine: Int
    public var imageBytes: Int
    public var requestedFps: Double?
    /// What VIDIOC_S_PARM/G_PARM reported; nil when the driver has no frame-interval control.
    public var grantedFps: Double?
    public var bufferCount: Int
    /// True when frames come through libv4l2 conversion.
    public var converted: Bool
    /// Everything VIDIOC_ENUM_FMT listed, in driver order.
    public var offered: [DeviceFormat]

    public var description: String {
        func f(_ v: Double?) -> String {
            guard let v else { return "driver default" }
            let hundredths = Int((v * 100).rounded())
            let frac = hundredths % 100
            return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
        }
        return "\(device) (\(driver), \(card)): \(format) \(width)x\(height) bytesPerLine=\(bytesPerLine) "
            + "imageBytes=\(imageBytes) fps granted=\(f(grantedFps)) requested=\(f(requestedFps)) "
            + "buffers=\(bufferCount)\(converted ? " via libv4l2 conversion" : "")"
    }
}
