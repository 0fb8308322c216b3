/// Where the resized image sits inside the model input. YOLOX trains with the image in the top-left corner;
/// Ultralytics centres it.
public enum LetterboxPlacement: String, Codable, Sendable {
    case topLeft
    case center
}

/// Channel order of the model's input planes.
public enum ColourOrder: String, Codable, Sendable {
    case rgb = "RGB"
    case bgr = "BGR"
}

/// What the model wants as input: size, channel order, value scale, and how the image is letterboxed.
public struct LetterboxSpec: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var placement: LetterboxPlacement
    /// Pad value in 0-255 pixel units (before `valueScale`).
    public var padValue: Float
    public var colourOrder: ColourOrder
    /// Multiplies 0-255 pixel values: 1 for YOLOX (0-255), 1/255 for Ultralytics (0-1).
    public var valueScale: Float

    public init(width: Int, height: Int, placement: LetterboxPlacement, padValue: Float = 114,
                colourOrder: ColourOrder, valueScale: Float) {
        self.width = width
        self.height = height
        self.placement = placement
        self.padValue = padValue
        self.colourOrder = colourOrder
        self.valueScale = valueScale
    }
}

/// How model-input pixels map back to the original image: `original = (input - offset) / scale`.
public struct LetterboxMapping: Sendable, Equatable {
    /// Resized size / original size (the same on both axes: aspect is kept).
    public var scale: Double
    public var offsetX: Int
    public var offsetY: Int
    /// Size of the resized image inside the input.
    public var resizedWidth: Int
    public var resizedHeight: Int
    /// Size of the original image, for clipping.
    public var originalWidth: Int
    public var originalHeight: Int

    /// The geometry both the Swift code and scripts/reference/vision_reference.py use:
    /// r = min(W'/W, H'/H); top-left: floor(W·r) × floor(H·r) at (0, 0) (as YOLOX's preproc);
    /// centre: round-half-even(W·r) × … at (round(dw − 0.1), round(dh − 0.1)) (as Ultralytics' LetterBox).
    public init(originalWidth: Int, originalHeight: Int, spec: LetterboxSpec) {
        let r = min(Double(spec.width) / Double(originalWidth), Double(spec.height) / Double(originalHeight))
        self.scale = r
        self.originalWidth = originalWidth
        self.originalHeight = originalHeight
        switch spec.placement {
        case .topLeft:
            resizedWidth = max(1, Int((Double(originalWidth) * r).rounded(.down)))
            resizedHeight = max(1, Int((Double(originalHeight) * r).rounded(.down)))
            offsetX = 0
            offsetY = 0
        case .center:
            resizedWidth = max(1, Int((Double(originalWidth) * r).rounded(.toNearestOrEven)))
            resizedHeight = max(1, Int((Double(originalHeight) * r).rounded(.toNearestOrEven)))
            offsetX = Int((Double(spec.width - resizedWidth) / 2 - 0.1).rounded(.toNearestOrEven))
            offsetY = Int((Double(spec.height - resizedHeight) / 2 - 0.1).rounded(.toNearestOrEven))
        }
    }

    /// Maps a box in model-input pixels back to original pixels, clipped to the image.
    public func toOriginal(_ box: Box) -> Box {
        func mapX(_ v: Double) -> Double { min(max((v - Double(offsetX)) / scale, 0), Double(originalWidth)) }
        func mapY(_ v: Double) -> Double { min(max((v - Double(offsetY)) / scale, 0), Double(originalHeight)) }
        return Box(x1: mapX(box.x1), y1: mapY(box.y1), x2: mapX(box.x2), y2: mapY(box.y2))
    }
}

/// Bilinear taps along one axis, with cv2 INTER_LINEAR's half-pixel centres:
/// s = (d + 0.5)·(src/dst) − 0.5, clamped at 0; i0 = ⌊s⌋, f = s − i0; at the last pixel i0 = i1 = src − 1, f = 0.
/// Weights are rounded to Float once, here, exactly as the numpy reference does.
package struct AxisTaps: Equatable {
    package var first: [Int32]
    package var second: [Int32]
    package var weight: [Float]
    /// 1 − weight, in Float as numpy's `np.float32(1) - fx`.
    package var weightLeft: [Float]
    package var source: Int

    package init(source: Int, destination: Int) {
        self.source = source
        let step = Double(source) / Double(destination)
        first = []
        second = []
        weight = []
        first.reserveCapacity(destination)
        second.reserveCapacity(destination)
        weight.reserveCapacity(destination)
        for d in 0..<destination {
            let s = max((Double(d) + 0.5) * step - 0.5, 0)
            var i0 = Int(s.rounded(.down))
            var f = s - Double(i0)
            if i0 >= source - 1 {
                i0 = source - 1
                f = 0
            }
            first.append(Int32(i0))
            second.append(Int32(min(i0 + 1, source - 1)))
            weight.append(Float(f))
        }
        weightLeft = weight.map { 1 - $0 }
    }
}
