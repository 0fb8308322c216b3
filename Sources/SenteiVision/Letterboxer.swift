public import SenteiEngine

/// A letterboxed model input and the mapping back to the frame it came from.
public struct InputTensor: Sendable {
    public var tensor: Tensor
    public var mapping: LetterboxMapping
}

/// Converts a frame of any `PixelFormat` into the model's planar float32 CHW input in one pass: colour conversion,
/// bilinear letterbox resize, channel order, value scaling and layout change are fused per row.
///
/// Only two source rows are ever converted to float RGB at a time (a two-slot row cache), so no full-size RGB copy
/// of the frame exists. Sampling is `AxisTaps` on both axes; each output row is first blended vertically
/// (`(1 − fy)·row(y0) + fy·row(y1)`, a contiguous loop the compiler vectorises) and then sampled horizontally
/// (`((1 − fx)·v(x0) + fx·v(x1))·valueScale`). scripts/reference/vision_reference.py does the same float32 operations
/// in the same order.
///
/// Holds scratch buffers, so one instance serves one thread; reuse it across frames to allocate nothing per frame.
public final class Letterboxer {
    public let spec: LetterboxSpec
    private var rowCache: [Float] = []
    private var cachedRows: (Int, Int) = (-1, -1)
    private var blended: [Float] = []
    private var columnTaps: (source: Int, destination: Int, taps: AxisTaps)?
    private var rowTaps: (source: Int, destination: Int, taps: AxisTaps)?

    public init(spec: LetterboxSpec) {
        self.spec = spec
    }

    public var inputCount: Int { 3 * spec.width * spec.height }

    /// Letterboxes `frame` into a new tensor of shape [1, 3, H, W].
    public func letterbox(_ frame: PixelBuffer, originalWidth: Int? = nil, originalHeight: Int? = nil) -> InputTensor {
        var data = [Float](repeating: 0, count: inputCount)
        let mapping = data.withUnsafeMutableBufferPointer {
            letterbox(frame, into: $0, originalWidth: originalWidth, originalHeight: originalHeight)
        }
        return InputTensor(tensor: Tensor(shape: [1, 3, spec.height, spec.width], data: data), mapping: mapping)
    }

    /// Letterboxes `frame` into `output` (3·H·W floats, CHW). `originalWidth/Height` give the geometry when the frame
    /// is a DCT-downscaled decode of a larger image: the letterbox is laid out for the original size (so boxes map back
    /// to original pixels) and sampled from the smaller frame.
    public func letterbox(_ frame: PixelBuffer, into output: UnsafeMutableBufferPointer<Float>,
                          originalWidth: Int? = nil, originalHeight: Int? = nil) -> LetterboxMapping {
        precondition(output.count >= inputCount, "letterbox output holds \(output.count) floats, needs \(inputCount)")
        let mapping = LetterboxMapping(originalWidth: originalWidth ?? frame.width,
                                       originalHeight: originalHeight ?? frame.height, spec: spec)
        let width = spec.width, height = spec.height, plane = width * height
        let resizedW = min(mapping.resizedWidth, width - mapping.offsetX)
        let resizedH = min(mapping.resizedHeight, height - mapping.offsetY)
        fillPadding(output, mapping: mapping, resizedW: resizedW, resizedH: resizedH)

        let xTaps = taps(&columnTaps, source: frame.width, destination: mapping.resizedWidth)
        let yTaps = taps(&rowTaps, source: frame.height, destination: mapping.resizedHeight)
        let srcW = frame.width
        if rowCache.count < 2 * 3 * srcW { rowCache = [Float](repeating: 0, count: 2 * 3 * srcW) }
        if blended.count < 3 * srcW { blended = [Float](repeating: 0, count: 3 * srcW) }
        cachedRows = (-1, -1)
        // Output plane of R, G, B: BGR models take blue first.
        let planeOfChannel = spec.colourOrder == .rgb ? [0, 1, 2] : [2, 1, 0]
        let valueScale = spec.valueScale

        rowCache.withUnsafeMutableBufferPointer { cache in
            blended.withUnsafeMutableBufferPointer { blend in
                xTaps.weightLeft.withUnsafeBufferPointer { wLeft in
                    xTaps.first.withUnsafeBufferPointer { x0 in
                        xTaps.second.withUnsafeBufferPointer { x1 in
                            xTaps.weight.withUnsafeBufferPointer { wRight in
                                for dy in 0..<resizedH {
                                    let y0 = Int(yTaps.first[dy]), y1 = Int(yTaps.second[dy])
                                    let fy = yTaps.weight[dy], wTop = yTaps.weightLeft[dy]
                                    let top = row(y0, avoiding: y1, frame: frame, cache: cache.baseAddress!)
                                    let bottom = row(y1, avoiding: y0, frame: frame, cache: cache.baseAddress!)
                                    blendRows(top, bottom, wTop: wTop, fy: fy, count: 3 * srcW, into: blend.baseAddress!)
                                    for channel in 0..<3 {
                                        let src = blend.baseAddress! + channel * srcW
                                        let dst = output.baseAddress! + planeOfChannel[channel] * plane
                                            + (mapping.offsetY + dy) * width + mapping.offsetX
                                        for dx in 0..<resizedW {
                                            let v = wLeft[dx] * src[Int(x0[dx])] + wRight[dx] * src[Int(x1[dx])]
                                            dst[dx] = v * valueScale
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return mapping
    }

    private func taps(_ slot: inout (source: Int, destination: Int, taps: AxisTaps)?, source: Int,
                      destination: Int) -> AxisTaps {
        if let cached = slot, cached.source == source, cached.destination == destination { return cached.taps }
        let made = AxisTaps(source: source, destination: destination)
        slot = (source, destination, made)
        return made
    }

    private func fillPadding(_ output: UnsafeMutableBufferPointer<Float>, mapping: LetterboxMapping,
                             resizedW: Int, resizedH: Int) {
        let pad = spec.padValue * spec.valueScale
        let width = spec.width, height = spec.height
        for plane in 0..<3 {
            let base = output.baseAddress! + plane * width * height
            for y in 0..<height {
                let line = base + y * width
                if y < mapping.offsetY || y >= mapping.offsetY + resizedH {
                    line.update(repeating: pad, count: width)
                } else {
                    line.update(repeating: pad, count: mapping.offsetX)
                    let right = mapping.offsetX + resizedW
                    (line + right).update(repeating: pad, count: width - right)
                }
            }
        }
    }

    /// Returns source row `y` as three float planes R, G, B (each `frame.width` long), converting it into the cache
    /// slot not holding `avoiding` unless it is already cached.
    private func row(_ y: Int, avoiding other: Int, frame: PixelBuffer, cache: UnsafeMutablePointer<Float>)
        -> UnsafeMutablePointer<Float>
    {
        let slotSize = 3 * frame.width
        if cachedRows.0 == y { return cache }
        if cachedRows.1 == y { return cache + slotSize }
        let slot = cachedRows.0 == other ? 1 : 0
        let dst = cache + slot * slotSize
        convertRow(y, of: frame, r: dst, g: dst + frame.width, b: dst + 2 * frame.width)
        if slot == 0 { cachedRows.0 = y } else { cachedRows.1 = y }
        return dst
    }
}

/// `(1 − fy)·top + fy·bottom`, the vertical half of the bilinear sample, over whole converted rows.
@inline(__always)
private func blendRows(_ top: UnsafePointer<Float>, _ bottom: UnsafePointer<Float>, wTop: Float, fy: Float, count: Int,
                       into out: UnsafeMutablePointer<Float>) {
    var i = 0
    while i + 8 <= count {
        let a = UnsafeRawPointer(top + i).loadUnaligned(as: SIMD8<Float>.self)
        let b = UnsafeRawPointer(bottom + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(out + i).storeBytes(of: wTop * a + fy * b, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count {
        out[i] = wTop * top[i] + fy * bottom[i]
        i += 1
    }
}
