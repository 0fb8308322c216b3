import CSenteiKernels
import SenteiKernelsAVX2
import SenteiKernelsAVX512
import SenteiKernelsBase

/// The instruction sets the kernels are compiled for, lowest first.
public enum KernelISA: Int, Sendable, CaseIterable, CustomStringConvertible {
    case base = 0, avx2 = 1, avx512 = 2

    /// What this CPU runs (sk_best_isa; SENTEI_ISA=base|avx2|avx512 lowers it, never raises it).
    public static let best = KernelISA(rawValue: Int(sk_best_isa())) ?? .base
    /// Every ISA up to `best`, lowest first: what tests may run here.
    public static var supported: [KernelISA] { allCases.filter { $0.rawValue <= best.rawValue } }

    /// One core's fp32 multiply-add peak with this ISA's vectors, measured now over about `seconds` of CPU time
    /// (GFLOP/s): what "% of peak" means on this machine.
    public func measuredFP32PeakGFLOPS(seconds: Double = 0.05) -> Double {
        sk_fp32_peak_gflops(Int32(rawValue), seconds)
    }

    public var description: String {
        switch self {
        case .base: "base"
        case .avx2: "avx2"
        case .avx512: "avx512"
        }
    }
}

/// What every per-ISA module's `FloatKernels` provides; the conformances below are how the table reaches them
/// without a switch per kernel.
protocol FloatKernelSet: SendableMetatype {
    static var isa: String { get }
    static var tileRows: Int { get }
    static var tileColumns: Int { get }
    static func packedWeightCount(m: Int, k: Int) -> Int
    static func packWeights(src: UnsafePointer<Float>, m: Int, k: Int, dst: UnsafeMutablePointer<Float>)
    static func gemm(
        m: Int, n: Int, k: Int, packedA: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
        ldr: Int, activation: Int, ith: Int, nth: Int)
    static func conv2dScratchCount(cin: Int, kh: Int, kw: Int) -> Int
    static func conv2d(
        input: UnsafePointer<Float>, inputChannelStride: Int, cin: Int, h: Int, w: Int,
        packedWeights: UnsafePointer<Float>, cout: Int, kh: Int, kw: Int,
        strideH: Int, strideW: Int, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int,
        dilationH: Int, dilationW: Int, output: UnsafeMutablePointer<Float>, outputChannelStride: Int,
        bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, residualChannelStride: Int, activation: Int,
        scratch: UnsafeMutablePointer<Float>, ith: Int, nth: Int)
    static func winogradPackedWeightCount(cout: Int, cin: Int) -> Int
    static func winogradScratchCount(cin: Int, cout: Int) -> Int
    static func conv3x3Winograd(
        input: UnsafePointer<Float>, inputChannelStride: Int, cin: Int, h: Int, w: Int,
        packedWeights: UnsafePointer<Float>, cout: Int, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int,
        output: UnsafeMutablePointer<Float>, outputChannelStride: Int,
        bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, residualChannelStride: Int, activation: Int,
        scratch: UnsafeMutablePointer<Float>, ith: Int, nth: Int)
    static func depthwiseConv2d(
        input: UnsafePointer<Float>, inputChannelStride: Int, channels: Int, h: Int, w: Int,
        weights: UnsafePointer<Float>, kh: Int, kw: Int,
        strideH: Int, strideW: Int, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int,
        dilationH: Int, dilationW: Int, output: UnsafeMutablePointer<Float>, outputChannelStride: Int,
        bias: UnsafePointer<Float>?, activation: Int, ith: Int, nth: Int)
    static func maxPool2d(
        input: UnsafePointer<Float>, inputChannelStride: Int, channels: Int, h: Int, w: Int, kh: Int, kw: Int,
        strideH: Int, strideW: Int, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int,
        output: UnsafeMutablePointer<Float>, outputChannelStride: Int, ith: Int, nth: Int)
    static func resizeNearest(
        input: UnsafePointer<Float>, inputChannelStride: Int, channels: Int, h: Int, w: Int,
        scaleH: Int, scaleW: Int, output: UnsafeMutablePointer<Float>, outputChannelStride: Int, ith: Int, nth: Int)
    static func softmax(
        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, outer: Int, dim: Int, inner: Int, ith: Int, nth: Int)
    static func relu(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, ith: Int, nth: Int)
    static func sigmoid(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, ith: Int, nth: Int)
    static func silu(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, ith: Int, nth: Int)
    static func add(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, ith: Int, nth: Int)
    static func sub(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, ith: Int, nth: Int)
    static func mul(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, ith: Int, nth: Int)
    static func div(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int, ith: Int, nth: Int)
}

extension SenteiKernelsAVX512.FloatKernels: FloatKernelSet {}
extension SenteiKernelsAVX2.FloatKernels: FloatKernelSet {}
extension SenteiKernelsBase.FloatKernels: FloatKernelSet {}

/// The fp32 kernels of one ISA as plain function references, chosen once at start-up (`KernelTable.best`); kernels
/// never test CPU features per call. Weights packed by one table's `packWeights` are only valid for that table's
/// `gemm`/`conv2d` (tile shapes differ between ISAs). Semantics of every entry: see `FloatKernels` in
/// Sources/SenteiKernelsAVX512; the scalar `ReferenceKernels` compute the same things.
public struct KernelTable: Sendable {
    public typealias Unary = @Sendable (
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int, _ ith: Int, _ nth: Int) -> Void
    public typealias Binary = @Sendable (
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int,
        _ ith: Int, _ nth: Int) -> Void

    public let isa: KernelISA
    /// The ISA's name for reports ("avx512", "avx2", "base").
    public let name: String
    /// Microkernel tile: rows of packed weights per panel, output columns per tile.
    public let tileRows: Int
    public let tileColumns: Int

    public let packedWeightCount: @Sendable (_ m: Int, _ k: Int) -> Int
    public let packWeights: @Sendable (
        _ src: UnsafePointer<Float>, _ m: Int, _ k: Int, _ dst: UnsafeMutablePointer<Float>) -> Void
    /// (m, n, k, packedA, b, ldb, c, ldc, bias, residual, ldr, activation, ith, nth)
    public let gemm: @Sendable (
        _ m: Int, _ n: Int, _ k: Int, _ packedA: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ bias: UnsafePointer<Float>?,
        _ residual: UnsafePointer<Float>?, _ ldr: Int, _ activation: Int, _ ith: Int, _ nth: Int) -> Void
    public let conv2dScratchCount: @Sendable (_ cin: Int, _ kh: Int, _ kw: Int) -> Int
    /// (input, inputChannelStride, cin, h, w, packedWeights, cout, kh, kw, strideH, strideW, padTop, padLeft,
    ///  padBottom, padRight, dilationH, dilationW, output, outputChannelStride, bias, residual,
    ///  residualChannelStride, activation, scratch, ith, nth)
    public let conv2d: @Sendable (
        _ input: UnsafePointer<Float>, _ inputChannelStride: Int, _ cin: Int, _ h: Int, _ w: Int,
        _ packedWeights: UnsafePointer<Float>, _ cout: Int, _ kh: Int, _ kw: Int,
        _ strideH: Int, _ strideW: Int, _ padTop: Int, _ padLeft: Int, _ padBottom: Int, _ padRight: Int,
        _ dilationH: Int, _ dilationW: Int, _ output: UnsafeMutablePointer<Float>, _ outputChannelStride: Int,
        _ bias: UnsafePointer<Float>?, _ residual: UnsafePointer<Float>?, _ residualChannelStride: Int,
        _ activation: Int, _ scratch: UnsafeMutablePointer<Float>, _ ith: Int, _ nth: Int) -> Void
    /// Floats of Winograd-transformed packed weights for a 3×3 conv (`packWinogradWeights`): (cout, cin).
    public let winogradPackedWeightCount: @Sendable (_ cout: Int, _ cin: Int) -> Int
    /// Scratch floats per part for `conv3x3Winograd`: (cin, cout).
    public let winogradScratchCount: @Sendable (_ cin: Int, _ cout: Int) -> Int
    /// 3×3, stride 1, dilation 1 conv by Winograd F(4×4, 3×3); same results as `conv2d` up to rounding.
    /// (input, inputChannelStride, cin, h, w, packedWeights (from `packWinogradWeights`), cout, padTop, padLeft,
    ///  padBottom, padRight, output, outputChannelStride, bias, residual, residualChannelStride, activation,
    ///  scratch, ith, nth)
    public let conv3x3Winograd: @Sendable (
        _ input: UnsafePointer<Float>, _ inputChannelStride: Int, _ cin: Int, _ h: Int, _ w: Int,
        _ packedWeights: UnsafePointer<Float>, _ cout: Int,
        _ padTop: Int, _ padLeft: Int, _ padBottom: Int, _ padRight: Int,
        _ output: UnsafeMutablePointer<Float>, _ outputChannelStride: Int,
        _ bias: UnsafePointer<Float>?, _ residual: UnsafePointer<Float>?, _ residualChannelStride: Int,
        _ activation: Int, _ scratch: UnsafeMutablePointer<Float>, _ ith: Int, _ nth: Int) -> Void
    /// (input, inputChannelStride, channels, h, w, weights, kh, kw, strideH, strideW, padTop, padLeft, padBottom,
    ///  padRight, dilationH, dilationW, output, outputChannelStride, bias, activation, ith, nth)
    public let depthwiseConv2d: @Sendable (
        _ input: UnsafePointer<Float>, _ inputChannelStride: Int, _ channels: Int, _ h: Int, _ w: Int,
        _ weights: UnsafePointer<Float>, _ kh: Int, _ kw: Int,
        _ strideH: Int, _ strideW: Int, _ padTop: Int, _ padLeft: Int, _ padBottom: Int, _ padRight: Int,
        _ dilationH: Int, _ dilationW: Int, _ output: UnsafeMutablePointer<Float>, _ outputChannelStride: Int,
        _ bias: UnsafePointer<Float>?, _ activation: Int, _ ith: Int, _ nth: Int) -> Void
    /// (input, inputChannelStride, channels, h, w, kh, kw, strideH, strideW, padTop, padLeft, padBottom, padRight,
    ///  output, outputChannelStride, ith, nth)
    public let maxPool2d: @Sendable (
        _ input: UnsafePointer<Float>, _ inputChannelStride: Int, _ channels: Int, _ h: Int, _ w: Int,
        _ kh: Int, _ kw: Int, _ strideH: Int, _ strideW: Int, _ padTop: Int, _ padLeft: Int, _ padBottom: Int,
        _ padRight: Int, _ output: UnsafeMutablePointer<Float>, _ outputChannelStride: Int, _ ith: Int, _ nth: Int
    ) -> Void
    /// (input, inputChannelStride, channels, h, w, scaleH, scaleW, output, outputChannelStride, ith, nth)
    public let resizeNearest: @Sendable (
        _ input: UnsafePointer<Float>, _ inputChannelStride: Int, _ channels: Int, _ h: Int, _ w: Int,
        _ scaleH: Int, _ scaleW: Int, _ output: UnsafeMutablePointer<Float>, _ outputChannelStride: Int,
        _ ith: Int, _ nth: Int) -> Void
    /// (x, y, outer, dim, inner, ith, nth): softmax along the middle axis of [outer, dim, inner]; y may alias x.
    public let softmax: @Sendable (
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ outer: Int, _ dim: Int, _ inner: Int,
        _ ith: Int, _ nth: Int) -> Void
    public let relu: Unary
    public let sigmoid: Unary
    public let silu: Unary
    public let add: Binary
    public let sub: Binary
    public let mul: Binary
    public let div: Binary

    /// Whether this table's SiLU and sigmoid epilogues divide (codes 5 and 6): AVX-512 on a CPU whose vdivps
    /// keeps up (`sk_divide_is_fast`: AMD Zen 4 on, or SENTEI_SIGMOID=divide).
    public let dividesSigmoid: Bool

    /// The activation code this table's conv, GEMM and depthwise kernels take for `activation`.
    package func activationCode(_ activation: Activation) -> Int {
        switch activation {
        case .silu where dividesSigmoid: return Activation.siluDivideCode
        case .sigmoid where dividesSigmoid: return Activation.sigmoidDivideCode
        default: return activation.rawValue
        }
    }

    /// The table for the best ISA this CPU runs (honouring SENTEI_ISA), filled once.
    public static let best = KernelTable(isa: KernelISA.best)

    /// The table for one ISA. Calling its kernels on a CPU without that ISA dies with SIGILL: use `best`, or an
    /// entry of `KernelISA.supported`.
    public init(isa: KernelISA) {
        switch isa {
        case .avx512: self.init(isa: isa, SenteiKernelsAVX512.FloatKernels.self)
        case .avx2: self.init(isa: isa, SenteiKernelsAVX2.FloatKernels.self)
        case .base: self.init(isa: isa, SenteiKernelsBase.FloatKernels.self)
        }
    }

    private init<K: FloatKernelSet>(isa: KernelISA, _ kernels: K.Type) {
        self.isa = isa
        dividesSigmoid = isa == .avx512 && sk_divide_is_fast() != 0
        name = K.isa
        tileRows = K.tileRows
        tileColumns = K.tileColumns
        packedWeightCount = { K.packedWeightCount(m: $0, k: $1) }
        packWeights = { K.packWeights(src: $0, m: $1, k: $2, dst: $3) }
        gemm = {
            K.gemm(m: $0, n: $1, k: $2, packedA: $3, b: $4, ldb: $5, c: $6, ldc: $7, bias: $8, residual: $9,
                   ldr: $10, activation: $11, ith: $12, nth: $13)
        }
        conv2dScratchCount = { K.conv2dScratchCount(cin: $0, kh: $1, kw: $2) }
        conv2d = {
            K.conv2d(input: $0, inputChannelStride: $1, cin: $2, h: $3, w: $4, packedWeights: $5, cout: $6, kh: $7,
                     kw: $8, strideH: $9, strideW: $10, padTop: $11, padLeft: $12, padBottom: $13, padRight: $14,
                     dilationH: $15, dilationW: $16, output: $17, outputChannelStride: $18, bias: $19,
                     residual: $20, residualChannelStride: $21, activation: $22, scratch: $23, ith: $24, nth: $25)
        }
        winogradPackedWeightCount = { K.winogradPackedWeightCount(cout: $0, cin: $1) }
        winogradScratchCount = { K.winogradScratchCount(cin: $0, cout: $1) }
        conv3x3Winograd = {
            K.conv3x3Winograd(input: $0, inputChannelStride: $1, cin: $2, h: $3, w: $4, packedWeights: $5, cout: $6,
                              padTop: $7, padLeft: $8, padBottom: $9, padRight: $10, output: $11,
                              outputChannelStride: $12, bias: $13, residual: $14, residualChannelStride: $15,
                              activation: $16, scratch: $17, ith: $18, nth: $19)
        }
        depthwiseConv2d = {
            K.depthwiseConv2d(input: $0, inputChannelStride: $1, channels: $2, h: $3, w: $4, weights: $5, kh: $6,
                              kw: $7, strideH: $8, strideW: $9, padTop: $10, padLeft: $11, padBottom: $12,
                              padRight: $13, dilationH: $14, dilationW: $15, output: $16, outputChannelStride: $17,
                              bias: $18, activation: $19, ith: $20, nth: $21)
        }
        maxPool2d = {
            K.maxPool2d(input: $0, inputChannelStride: $1, channels: $2, h: $3, w: $4, kh: $5, kw: $6, strideH: $7,
                        strideW: $8, padTop: $9, padLeft: $10, padBottom: $11, padRight: $12, output: $13,
                        outputChannelStride: $14, ith: $15, nth: $16)
        }
        resizeNearest = {
            K.resizeNearest(input: $0, inputChannelStride: $1, channels: $2, h: $3, w: $4, scaleH: $5, scaleW: $6,
                            output: $7, outputChannelStride: $8, ith: $9, nth: $10)
        }
        softmax = { K.softmax(x: $0, y: $1, outer: $2, dim: $3, inner: $4, ith: $5, nth: $6) }
        relu = { K.relu(x: $0, y: $1, count: $2, ith: $3, nth: $4) }
        sigmoid = { K.sigmoid(x: $0, y: $1, count: $2, ith: $3, nth: $4) }
        silu = { K.silu(x: $0, y: $1, count: $2, ith: $3, nth: $4) }
        add = { K.add(a: $0, b: $1, y: $2, count: $3, ith: $4, nth: $5) }
        sub = { K.sub(a: $0, b: $1, y: $2, count: $3, ith: $4, nth: $5) }
        mul = { K.mul(a: $0, b: $1, y: $2, count: $3, ith: $4, nth: $5) }
        div = { K.div(a: $0, b: $1, y: $2, count: $3, ith: $4, nth: $5) }
    }
}
