import CSenteiKernels
import Foundation

/// The scalar definition of an int8 conv: what every int8 kernel computes (integer accumulation exact; the float
/// epilogue in Double, then this machine's int8 SiLU, `sk_i8_silu` of `Int8ISA.best`, so that reference runs and
/// the QAT forward agree with the kernels). Used by tests and by `Options.useReferenceKernels` for int8 layers.
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
                                                       zeroPoint: layer.zeroPoint, bits: layer.inputBits)
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
                    case .silu:
                        var v = Float(y)
                        withUnsafeMutablePointer(to: &v) { sk_i8_silu(Int8ISA.best.rawValue, $0, $0, 1) }
                        y = Double(v)
                    }
                    let p = oy * wo + ox
                    if let residual { y += Double(residual[co * residualChannelStride + p]) }
                    output[co * outputChannelStride + p] = Float(y)
                }
            }
        }
    }

    /// The int8 layers' SiLU: x·σ(x) to 8e-5 relative with a degree-3 2^f (int8/conv_template.h, silu_generic, the
    /// same steps: the portable and AVX2 kernels compute it bit for bit; the VNNI kernels take 1/d from vrcp14ps,
    /// 2^−14 relative). conv2d and the QAT forward run the kernels' own form (`sk_i8_silu`), not this.
    package static func silu(_ x: Float) -> Float {
        let clamped = min(max(x, -80), 80)
        let t = clamped * -1.442_695_040_888_963_41
        let n = t.rounded(.down)
        let f = t - n
        var p = sk_silu_c2.addingProduct(sk_silu_c3, f)
        p = sk_silu_c1.addingProduct(p, f)
        p = sk_silu_c0.addingProduct(p, f)
        let d = p * Float(sign: .plus, exponent: Int(n), significand: 1) + 1
        return x / d
    }
}
