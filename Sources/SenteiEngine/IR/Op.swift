/// The engine's op set: small and exhaustive. Every `switch` over `Op` lists all cases (no `default:`), so adding an
/// op breaks the build wherever it must be handled.
package enum Op: Sendable {
    /// A graph input (name as in the ONNX file).
    case input(String)
    /// A constant tensor (an initializer, a Constant node, or a folded subgraph).
    case constant(ConstantData)
    /// Convolution with its weights, optional bias and fused epilogue. Inputs: [x] or [x, residual].
    case conv(Conv)
    /// Per-channel affine y = x·scale[c] + shift[c] over axis 1 (an unfused BatchNormalization).
    case channelAffine(scale: [Float], shift: [Float])
    case unary(UnaryKind)
    /// Numpy-broadcasting binary op. Inputs: [a, b].
    case binary(BinaryKind)
    /// Inputs: the tensors to join along `axis` (non-negative).
    case concat(axis: Int)
    /// One strided slice per axis, already clamped: start, step and count for every axis of the input.
    case slice(starts: [Int], steps: [Int])
    case maxPool(Pool)
    /// Nearest-neighbour resize: for each output axis, the source index of every output coordinate.
    case resizeNearest(sourceIndex: [[Int]])
    /// Same elements, new shape.
    case reshape
    case transpose(perm: [Int])
    /// Softmax over one axis (non-negative).
    case softmax(axis: Int)
    /// Numpy matmul with broadcasting over leading axes. Inputs: [a, b].
    case matMul
    /// Gather along `axis` with constant indices (already normalised to non-negative).
    case gather(axis: Int, indices: [Int], indexShape: [Int])
}

package enum UnaryKind: String, Sendable, CaseIterable {
    case relu, sigmoid, silu, identity
}

package enum BinaryKind: String, Sendable, CaseIterable {
    case add, sub, mul, div
}

/// Activation fused into a producer's epilogue; raw values are the kernels' activation codes.
package enum Activation: Int, Sendable {
    case none = 0, relu = 1, sigmoid = 2, silu = 3

    /// The kernels' activation code for the int8 layers' SiLU (`sk_i8_silu`), which the fp32 convs of a model with
    /// int8 layers use in place of `silu` (3).
    package static let int8SiLUCode = 4
    /// The kernels' codes for `silu` and `sigmoid` computed with a divide, which AVX-512 kernels take where the
    /// divider is fast (`KernelTable.activationCode`).
    package static let siluDivideCode = 5
    package static let sigmoidDivideCode = 6
}

package struct Conv: Sendable {
    package var outChannels: Int
    package var inChannels: Int
    package var group: Int
    package var kernel: (h: Int, w: Int)
    package var stride: (h: Int, w: Int)
    package var dilation: (h: Int, w: Int)
    /// top, left, bottom, right
    package var pads: (t: Int, l: Int, b: Int, r: Int)
    /// [outChannels, inChannels / group, kh, kw] row-major.
    package var weights: [Float]
    package var bias: [Float]?
    package var activation: Activation = .none
    /// True when input 1 is added after the activation (a fused residual Add).
    package var hasResidual: Bool = false

    package var isDepthwise: Bool { group > 1 && group == inChannels && group == outChannels }
    package var macsPerOutput: Int { inChannels / group * kernel.h * kernel.w }
}

package struct Pool: Sendable {
    package var kernel: (h: Int, w: Int)
    package var stride: (h: Int, w: Int)
    package var dilation: (h: Int, w: Int)
    package var pads: (t: Int, l: Int, b: Int, r: Int)
}

/// Constant values keep their ONNX integer-ness so shape arithmetic (Shape → Gather → Concat → Reshape) folds
/// exactly; only float data ever reaches the runtime.
package struct ConstantData: Sendable {
    package enum Values: Sendable {
        case float([Float])
        case int([Int64])
    }
    package var values: Values

    package var floats: [Float] {
        switch values {
        case .float(let v): return v
        case .int(let v): return v.map { Float($0) }
        }
    }

    package var ints: [Int64] {
        switch values {
        case .float(let v): return v.map { Int64($0) }
        case .int(let v): return v
        }
    }

    package var isInteger: Bool {
        if case .int = values { return true }
        return false
    }

    package var count: Int {
        switch values {
        case .float(let v): return v.count
        case .int(let v): return v.count
        }
    }
}

extension Op {
    /// Short name for listings (`sentei inspect`) and errors.
    package var kindName: String {
        switch self {
        case .input: return "Input"
        case .constant: return "Constant"
        case .conv(let c):
            var name = c.isDepthwise ? "DepthwiseConv" : "Conv"
            name += "\(c.kernel.h)x\(c.kernel.w)"
            if c.stride.h > 1 || c.stride.w > 1 { name += "/s\(c.stride.h)" }
            if c.activation != .none { name += "+\(c.activation)" }
            if c.hasResidual { name += "+Add" }
            return name
        case .channelAffine: return "ChannelAffine"
        case .unary(let k): return k.rawValue.capitalized
        case .binary(let k): return k.rawValue.capitalized
        case .concat: return "Concat"
        case .slice: return "Slice"
        case .maxPool: return "MaxPool"
        case .resizeNearest: return "ResizeNearest"
        case .reshape: return "Reshape"
        case .transpose: return "Transpose"
        case .softmax: return "Softmax"
        case .matMul: return "MatMul"
        case .gather: return "Gather"
        }
    }
}
