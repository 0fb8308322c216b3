/// A frame size a device offers for one format (VIDIOC_ENUM_FRAMESIZES).
public enum FrameSizeOption: Sendable, Equatable {
    case discrete(width: Int, height: Int)
    /// Stepwise and continuous ranges (continuous has step 1).
    case range(minWidth: Int, maxWidth: Int, stepWidth: Int, minHeight: Int, maxHeight: Int, stepHeight: Int)
}

/// One entry of VIDIOC_ENUM_FMT plus its sizes.
public struct DeviceFormat: Sendable, Equatable {
    public var fourCC: FourCC
    public var description: String
    public var compressed: Bool
    /// Offered by libv4l2 conversion, not by the driver.
    public var emulated: Bool
    /// Empty when the driver does not implement ENUM_FRAMESIZES: S_FMT then decides.
    public var sizes: [FrameSizeOption]

    public init(fourCC: FourCC, description: String = "", compressed: Bool = false, emulated: Bool = false,
                sizes: [FrameSizeOption]) {
        self.fourCC = fourCC
        self.description = description
        self.compressed = compressed
        self.emulated = emulated
        self.sizes = sizes
    }
}

/// A format and size to ask S_FMT for.
public struct FormatChoice: Sendable, Equatable {
    public var format: PixelFormat
    public var width: Int
    public var height: Int

    public init(format: PixelFormat, width: Int, height: Int) {
        self.format = format
        self.width = width
        self.height = height
    }
}

/// Pure format choice, separate from the ioctls so it can be tested on tables.
public enum FormatNegotiation {
    /// MJPEG first at high resolutions (raw 4:2:2 at 1280×720 and up exceeds USB 2 bandwidth at useful rates and
    /// the decode cost is small against that); at lower ones raw formats first, as they need no decoding.
    public static func preferenceOrder(width: Int, height: Int, highResolutionPixels: Int) -> [PixelFormat] {
        let raw: [PixelFormat] = [.yuyv, .nv12, .yu12, .grey]
        return width * height >= highResolutionPixels ? [.mjpeg] + raw : raw + [.mjpeg]
    }

    /// The size of `options` closest to the request: exact, else the smallest that covers it, else the largest.
    public static func bestSize(_ options: [FrameSizeOption], width: Int, height: Int) -> (width: Int, height: Int) {
        if options.isEmpty { return (width, height) }
        var candidates: [(width: Int, height: Int)] = []
        for option in options {
            switch option {
            case .discrete(let w, let h): candidates.append((w, h))
            case .range(let minW, let maxW, let stepW, let minH, let maxH, let stepH):
                func fit(_ v: Int, _ lo: Int, _ hi: Int, _ step: Int) -> Int {
                    let clamped = min(max(v, lo), hi)
                    let s = max(step, 1)
                    let up = lo + (clamped - lo + s - 1) / s * s  // round up to the step grid so it still covers
                    return up <= hi ? up : lo + (clamped - lo) / s * s
                }
                candidates.append((fit(width, minW, maxW, stepW), fit(height, minH, maxH, stepH)))
            }
        }
        if let exact = candidates.first(where: { $0.width == width && $0.height == height }) { return exact }
        let covering = candidates.filter { $0.width >= width && $0.height >= height }
        if let smallest = covering.min(by: { $0.width * $0.height < $1.width * $1.height }) { return smallest }
        return candidates.max(by: { $0.width * $0.height < $1.width * $1.height })!
    }

    /// Candidates in the order S_FMT should try them: formats we understand, in preference order, those offering the
    /// exact requested size first. `forced` restricts the list to one format. Emulated formats count only when
    /// `includeEmulated` (the libv4l2 fallback).
    public static func candidates(
        offered: [DeviceFormat], width: Int, height: Int, forced: PixelFormat?, highResolutionPixels: Int,
        includeEmulated: Bool
    ) -> [FormatChoice] {
        let order = forced.map { [$0] } ?? preferenceOrder(width: width, height: height,
                                                             highResolutionPixels: highResolutionPixels)
        var exact: [FormatChoice] = []
        var other: [FormatChoice] = []
        for format in order {
            guard let offer = offered.first(where: { PixelFormat(fourCC: $0.fourCC) == format
                && (includeEmulated || !$0.emulated) }) else { continue }
            let size = bestSize(offer.sizes, width: width, height: height)
            let choice = FormatChoice(format: format, width: size.width, height: size.height)
            if size.width == width && size.height == height { exact.append(choice) } else { other.append(choice) }
        }
        return exact + other
    }

    /// The discrete or stepwise rate closest to `fps` among `intervals` (seconds per frame as fractions).
    public static func closestInterval(_ intervals: [(numerator: Int, denominator: Int)], fps: Double)
        -> (numerator: Int, denominator: Int)?
    {
        intervals.filter { $0.numerator > 0 && $0.denominator > 0 }.min(by: {
            abs(Double($0.denominator) / Double($0.numerator) - fps)
                < abs(Double($1.denominator) / Double($1.numerator) - fps)
        })
    }
}
