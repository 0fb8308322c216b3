import CSenteiKernels
import Foundation

/// A quantization table resolved against one compiled graph: the prepared int8 layers by node index, the kernel set,
/// and one scratch area shared by every int8 step (steps run one at a time; each part owns a slice).
package final class Int8Plan: @unchecked Sendable {
    /// nil runs the scalar `Int8Reference` (reference mode).
    package let isa: Int8ISA?
    package private(set) var layers: [Int: Int8Layer]
    let scratch: UnsafeMutableRawPointer
    let scratchBytesPerPart: Int
    let parts: Int

    /// Entries that do not fit the graph are skipped: `QuantizationTable.validate` reports them first.
    package init(table: QuantizationTable, graph: Graph, isa: Int8ISA?, threads: Int) {
        self.isa = isa
        var layers: [Int: Int8Layer] = [:]
        var largest = 64
        for (index, node) in graph.nodes.enumerated() {
            guard case .conv(let conv) = node.op, let entry = table.layers[node.name], entry.precision != .fp32,
                  Int8Layer.isQuantizable(conv, shape: node.shape), let activation = table.activations[entry.input],
                  activation.scale > 0, activation.scale.isFinite, (0...255).contains(activation.zeroPoint),
                  entry.precision == .int8 || Int8Layer.allowsSixteenBitActivations(conv, shape: node.shape),
                  entry.biasCorrection == nil || entry.biasCorrection!.count == conv.outChannels else { continue }
            let bits = entry.precision == .w8a16 ? 16 : 8
            layers[index] = Int8Layer(conv: conv, activation: activation, biasCorrection: entry.biasCorrection, inputBits: bits)
            if let isa {
                largest = max(largest, isa.scratchBytes(cin: conv.inChannels, kh: conv.kernel.h, kw: conv.kernel.w, inputBits: bits))
                let inShape = graph[node.inputs[0]].shape
                if inShape.count == 4, layers[index]!.usesSpaceToDepthKernel(h: inShape[2], w: inShape[3]) {
                    var params = layers[index]!.kernelParams(
                        input: nil, inputChannelStride: inShape[2] * inShape[3], h: inShape[2], w: inShape[3],
                        packedWeights: nil, output: nil, outputChannelStride: 0, residual: nil, residualChannelStride: 0,
                        scale: nil, bias: nil, rowOffset: nil)
                    largest = max(largest, isa.spaceToDepthScratchBytes(&params))
                }
            }
        }
        self.layers = layers
        scratchBytesPerPart = (largest + 63) / 64 * 64
        parts = max(threads, 1)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytesPerPart * parts, alignment: 64)
        scratch.initializeMemory(as: UInt8.self, repeating: 0, count: scratchBytesPerPart * parts)
    }

    deinit { scratch.deallocate() }

    /// Once the program's steps are built, the native kernels' steps hold packed copies of all they use, and the
    /// layers' own weights (fp32 and s8) only add to the resident size. The reference steps read the layers, so a
    /// plan without an ISA keeps them. Called once by `Program.init`, before any other thread can see the plan.
    func releaseWeights() {
        guard isa != nil else { return }
        layers = layers.mapValues { layer in
            var stripped = layer
            stripped.weights = []
            stripped.conv.weights = []
            return stripped
        }
    }

    /// For reports: "int8-vnni, 52 of 61 convs", or "…, 52 of 61 convs (2 with 16-bit activations)".
    package func summary(convCount: Int) -> String {
        let wide = layers.values.filter { $0.inputBits == 16 }.count
        return "\(isa?.description ?? "int8-reference"), \(layers.count) of \(convCount) convs"
            + (wide > 0 ? " (\(wide) with 16-bit activations)" : "")
    }
}

extension Model {
    /// "int8-vnni, 52 of 61 convs" when the model runs int8 layers, else nil.
    public var int8Summary: String? {
        guard let plan = program.int8 else { return nil }
        let convs = graph.nodes.filter { if case .conv = $0.op { return true } else { return false } }.count
        return plan.summary(convCount: convs)
    }
}
