import Foundation
@testable import SenteiEngine
@testable import SenteiPrune

/// Shared data: `$SENTEI_SHARED`, or `../shared` beside the package root; nil (tests skip) when absent.
let sharedDirectory: String? = {
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    let root = ProcessInfo.processInfo.environment["SENTEI_SHARED"] ?? packageRoot + "/../shared"
    return FileManager.default.fileExists(atPath: root + "/models/yolox_nano.onnx") ? root : nil
}()

/// Deterministic pseudo-random floats in [-scale, scale].
struct Noise {
    var state: UInt64
    mutating func next(_ scale: Float = 1) -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
    mutating func array(_ count: Int, _ scale: Float = 1) -> [Float] { (0..<count).map { _ in next(scale) } }
}

func makeConv(out: Int, in cin: Int, kernel: Int = 1, group: Int = 1, stride: Int = 1, activation: Activation = .silu,
              residual: Bool = false, noise: inout Noise) -> Conv {
    let pad = kernel / 2
    var conv = Conv(outChannels: out, inChannels: cin, group: group, kernel: (kernel, kernel), stride: (stride, stride),
                    dilation: (1, 1), pads: (pad, pad, pad, pad),
                    weights: noise.array(out * cin / group * kernel * kernel, 0.5), bias: noise.array(out, 0.2))
    conv.activation = activation
    conv.hasResidual = residual
    return conv
}

/// A small graph with every coupling the pruner handles: a stem, a depthwise conv, a fused residual, a channel
/// concat, max pooling, a nearest resize, a channel slice (YOLOv8's Split) and two outputs.
func couplingGraph(seed: UInt64 = 7) -> Graph {
    var noise = Noise(state: seed)
    var g = Graph()
    func conv(_ c: Conv, _ inputs: [NodeID], _ shape: [Int], _ name: String) -> NodeID { g.add(.conv(c), inputs, shape: shape, name: name) }
    let x = g.add(.input("x"), [], shape: [1, 3, 8, 8], name: "x")
    g.inputs = [x]
    let stem = conv(makeConv(out: 16, in: 3, kernel: 3, noise: &noise), [x], [1, 16, 8, 8], "stem")
    let a = conv(makeConv(out: 24, in: 16, noise: &noise), [stem], [1, 24, 8, 8], "a")
    let dw = conv(makeConv(out: 24, in: 24, kernel: 3, group: 24, noise: &noise), [a], [1, 24, 8, 8], "dw")
    let b = conv(makeConv(out: 24, in: 24, residual: true, noise: &noise), [dw, a], [1, 24, 8, 8], "b_res")
    let c = conv(makeConv(out: 16, in: 16, noise: &noise), [stem], [1, 16, 8, 8], "c")
    let cat = g.add(.concat(axis: 1), [b, c], shape: [1, 40, 8, 8], name: "cat")
    let pool = g.add(.maxPool(Pool(kernel: (3, 3), stride: (1, 1), dilation: (1, 1), pads: (1, 1, 1, 1))), [cat], shape: [1, 40, 8, 8], name: "pool")
    let d = conv(makeConv(out: 32, in: 40, stride: 2, noise: &noise), [pool], [1, 32, 4, 4], "d")
    let up = g.add(.resizeNearest(sourceIndex: [[0], Array(0..<32), (0..<8).map { $0 / 2 }, (0..<8).map { $0 / 2 }]), [d], shape: [1, 32, 8, 8], name: "up")
    let split = g.add(.slice(starts: [0, 8, 0, 0], steps: [1, 1, 1, 1]), [up], shape: [1, 24, 8, 8], name: "split")
    let e = conv(makeConv(out: 16, in: 24, noise: &noise), [split], [1, 16, 8, 8], "e")
    let add = g.add(.binary(.add), [e, c], shape: [1, 16, 8, 8], name: "add")
    let head = conv(makeConv(out: 5, in: 16, activation: .sigmoid, noise: &noise), [add], [1, 5, 8, 8], "head")
    let head2 = conv(makeConv(out: 3, in: 40, activation: .none, noise: &noise), [pool], [1, 3, 8, 8], "head2")
    g.outputs = [(name: "out", node: head), (name: "out2", node: head2)]
    return g
}

func run(_ graph: Graph, _ input: Tensor, reference: Bool = false) throws -> [Tensor] {
    try Model(graph: graph, options: .init(threads: 1, useReferenceKernels: reference)).run([input])
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
