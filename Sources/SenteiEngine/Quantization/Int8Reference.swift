import Foundation

/// The scalar definition of an int8 conv: what every int8 kernel computes (integer accumulation exact; the float
/// epilogue in Double). Used by tests and by `Options.useReferenceKernels` for int8 layers.
package enum Int8Reference {
    package static func conv2d(
        _ layer: Int8Layer, input: UnsafePointer<Float>, inputChannelStride: Int, h: Int, w: Int,
        output: UnsafeMutablePointer<Float>, outputChannelStride: Int,
        residual: UnsafePointer<Float>?, residualChannelStride: Int
    ) {
        let c = layer.conv
        let (kh, kw) = (c.kernel.h, c.kernel.w)
        let ho = (h + c.pads.t + c.pads.b - c.dilation.h * (kh - 1) - 1) / c.stride.h + 1
        let wo = (w + c.pads.l + c.pads.r - c.dilation.w * (kw - 1) - 1) / c.stride.w + 1
        guard ho > 0, wo > 0 else { return }
        let cin = c.inChannels, k = cin * kh * kw
        let zp = Int32(layer.zeroPoint)
        // Quantize the whole input once: padding reads zp, the quantized real zero.
        var q = [Int32](repeating: zp, count: cin * h * w)
        for ci in 0..<cin {
            for i in 0..<(h * w) {
                q[ci * h * w + i] = Int8Layer.quantize(input[ci * inputChannelStride + i], invScale: layer.inputInvScale,
                                                       zeroPoint: layer.zeroPoint)
            }
        }
        for co in 0..<c.outChannels {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    var acc: Int32 = 0
                    for ci in 0..<cin {
                        for ky in 0..<kh {
                            let iy = oy * c.stride.h - c.pads.t + ky * c.dilation.h
                            for kx in 0..<kw {
                                let ix = ox * c.stride.w - c.pads.l + kx * c.dilation.w
                                let value = iy >= 0 && iy < h && ix >= 0 && ix < w ? q[(ci * h + iy) * w + ix] : zp
                                acc += Int32(layer.weights[co * k + (ci * kh + ky) * kw + kx]) * value
                            }
                        }
                    }
                    var y = Double(acc - layer.rowOffset[co]) * Double(layer.scale[co]) + Double(layer.bias[co])
                    switch c.activation {
                    case .none: break
                    case .relu: y = max(y, 0)
                    case .sigmoid: y = 1 / (1 + exp(-y))
                    case .silu: y = y / (1 + exp(-y))
                    }
                    let p = oy * wo + ox
                    if let residual { y += Double(residual[co * residualChannelStride + p]) }
                    output[co * outputChannelStride + p] = Float(y)
                }
            }
        }
    }
}
