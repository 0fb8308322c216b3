import CSenteiKernels
#if canImport(Glibc)
import Glibc
#endif

/// Scalar, single-threaded definitions of every fp32 kernel in `KernelTable`: the ground truth the SIMD kernels
/// are tested against, and a slow path for bisecting. Same layouts and activation codes as `FloatKernels`, except
/// that weights are never packed (conv weights are [Cout, Cin, kh, kw] row-major, GEMM A is M×K row-major).
public enum ReferenceKernels {
    public static func activate(_ x: Float, _ activation: Int) -> Float {
        switch activation {
        case 1: return max(x, 0)
        case 2, Activation.sigmoidDivideCode: return 1 / (1 + expf(-x))
        case 3, Activation.siluDivideCode: return x / (1 + expf(-x))
        case Activation.int8SiLUCode:
            // The form the fp32 kernels of this machine's ISA compute (sk_i8_silu is numbered as KernelISA).
            var y = x
            withUnsafeMutablePointer(to: &y) { sk_i8_silu(Int32(KernelISA.best.rawValue), $0, $0, 1) }
            return y
        default: return x
        }
    }

    /// C = act(A·B + bias[row]) (+ residual).
    public static func gemm(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
        ldr: Int, activation: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var acc: Double = 0
                for kk in 0..<k { acc += Double(a[i * k + kk]) * Double(b[kk * ldb + j]) }
                var y = activate(Float(acc) + (bias?[i] ?? 0), activation)
                if let residual { y += residual[i * ldr + j] }
                c[i * ldc + j] = y
            }
        }
    }

    public static func convOutputSize(input: Int, kernel: Int, stride: Int, padBegin: Int, padEnd: Int, dilation: Int)
        -> Int
    {
        (input + padBegin + padEnd - dilation * (kernel - 1) - 1) / stride + 1
    }

    /// Direct convolution, groups = 1; weights [cout, cin, kh, kw].
    public static func conv2d(
        input: UnsafePointer<Float>, inputChannelStride: Int, cin: Int, h: Int, w: Int,
        weights: UnsafePointer<Float>, cout: Int, kh: Int, kw: Int,
        strideH: Int, strideW: Int, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int,
        dilationH: Int, dilationW: Int, output: UnsafeMutablePointer<Float>, outputChannelStride: Int,
        bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, residualChannelStride: Int, activation: Int
    ) {
        let ho = convOutputSize(input: h, kernel: kh, stride: strideH, padBegin: padTop, padEnd: padBottom,
                                dilation: dilationH)
        let wo = convOutputSize(input: w, kernel: kw, stride: strideW, padBegin: padLeft, padEnd: padRight,
                                dilation: dilationW)
        for co in 0..<cout {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    var acc: Double = 0
                    for ci in 0..<cin {
                        for ky in 0..<kh {
                            let iy = oy * strideH - padTop + ky * dilationH
                            if iy < 0 || iy >= h { continue }
                            for kx in 0..<kw {
                                let ix = ox * strideW - padLeft + kx * dilationW
                                if ix < 0 || ix >= w { continue }
                                acc += Double(weights[((co * cin + ci) * kh + ky) * kw + kx])
                                    * Double(input[ci * inputChannelStride + iy * w + ix])
                            }
                        }
                    }
                    var y = activate(Float(acc) + (bias?[co] ?? 0), activation)
                    if let residual { y += residual[co * residualChannelStride + oy * wo + ox] }
                    output[co * outputChannelStride + oy * wo + ox] = y
                }
            }
        }
    }

    /// Depthwise convolution; weights [channels, kh, kw].
    public static func depthwiseConv2d(
        input: UnsafePointer<Float>, inputChannelStride: Int, channels: Int, h: Int, w: Int,
        weights: UnsafePointer<Float>, kh: Int, kw: Int,
        strideH: Int, strideW: Int, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int,
        dilationH: Int, dilationW: Int, output: UnsafeMutablePointer<Float>, outputChannelStride: Int,
        bias: UnsafePointer<Float>?, activation: Int
    ) {
        let ho = convOutputSize(input: h, kernel: kh, stride: strideH, padBegin: padTop, padEnd: padBottom,
                                dilation: dilationH)
        let wo = convOutputSize(input: w, kernel: kw, stride: strideW, padBegin: padLeft, padEnd: padRight,
                                dilation: dilationW)
        for c in 0..<channels {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    var acc: Double = 0
                    for ky in 0..<kh {
                        let iy = oy * strideH - padTop + ky * dilationH
                        if iy < 0 || iy >= h { continue }
                        for kx in 0..<kw {
                            let ix = ox * strideW - padLeft + kx * dilationW
                            if ix < 0 || ix >= w { continue }
                            acc += Double(weights[(c * kh + ky) * kw + kx]) * Double(input[c * inputChannelStride + iy * w + ix])
                        }
                    }
                    output[c * outputChannelStride + oy * wo + ox] = activate(Float(acc) + (bias?[c] ?? 0), activation)
                }
            }
        }
    }

    /// Max over the part of each window inside the image.
    public static func maxPool2d(
        input: UnsafePointer<Float>, inputChannelStride: Int, channels: Int, h: Int, w: Int, kh: Int, kw: Int,
        strideH: Int, strideW: Int, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int,
        output: UnsafeMutablePointer<Float>, outputChannelStride: Int
    ) {
        let ho = convOutputSize(input: h, kernel: kh, stride: strideH, padBegin: padTop, padEnd: padBottom, dilation: 1)
        let wo = convOutputSize(input: w, kernel: kw, stride: strideW, padBegin: padLeft, padEnd: padRight, dilation: 1)
        for c in 0..<channels {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    var m = -Float.infinity
                    for ky in 0..<kh {
                        let iy = oy * strideH - padTop + ky
                        if iy < 0 || iy >= h { continue }
                        for kx in 0..<kw {
                            let ix = ox * strideW - padLeft + kx
                            if ix >= 0 && ix < w { m = max(m, input[c * inputChannelStride + iy * w + ix]) }
                        }
                    }
                    output[c * outputChannelStride + oy * wo + ox] = m
                }
            }
        }
    }

    public static func resizeNearest(
        input: UnsafePointer<Float>, inputChannelStride: Int, channels: Int, h: Int, w: Int,
        scaleH: Int, scaleW: Int, output: UnsafeMutablePointer<Float>, outputChannelStride: Int
    ) {
        for c in 0..<channels {
            for y in 0..<(h * scaleH) {
                for x in 0..<(w * scaleW) {
                    output[c * outputChannelStride + y * w * scaleW + x] =
                        input[c * inputChannelStride + (y / scaleH) * w + x / scaleW]
                }
            }
        }
    }

    /// activation: 1 relu, 2 sigmoid, 3 silu.
    public static func unary(
        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, activation: Int
    ) {
        for i in 0..<count { y[i] = activate(x[i], activation) }
    }

    public enum BinaryOp: Sendable, CaseIterable { case add, sub, mul, div }

    public static func binary(
        _ op: BinaryOp, a: UnsafePointer<Float>, b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count {
            switch op {
            case .add: y[i] = a[i] + b[i]
            case .sub: y[i] = a[i] - b[i]
            case .mul: y[i] = a[i] * b[i]
            case .div: y[i] = a[i] / b[i]
            }
        }
    }
}
