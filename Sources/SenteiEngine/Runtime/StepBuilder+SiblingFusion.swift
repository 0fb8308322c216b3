import CSenteiKernels

extension StepBuilder {
    /// One int8 kernel call for a sibling pair (`SiblingFusion`): the first conv's rows, then the second's, as one
    /// conv of both output counts whose rows from the split on go to the second's buffer with its activation.
    func siblingStep(_ pair: SiblingFusion) -> Program.Step {
        guard let plan = program.int8, let isa = plan.isa, let a = plan.layers[pair.first],
              let b = plan.layers[pair.second], let out = program.storedPointer(pair.first),
              let out2 = program.storedPointer(pair.second)
        else { preconditionFailure("sibling fusion of nodes \(pair.first) and \(pair.second): both must be stored int8 convs") }
        let node = graph.nodes[pair.first]
        let inShape = graph[node.inputs[0]].shape
        let (h, w) = (inShape[2], inShape[3])
        let plane = node.shape[2] * node.shape[3]
        let merged = Int8Layer.merging(a, b)
        let (k, m) = (merged.conv.inChannels, merged.conv.outChannels)
        let rowOffset = UnsafeMutableRawPointer(program.allocateOwned(m)).bindMemory(to: Int32.self, capacity: m)
        for co in 0..<m { rowOffset[co] = merged.rowOffset[co] }
        var params = merged.kernelParams(
            input: UnsafePointer(program.pointer(node.inputs[0])), inputChannelStride: h * w, h: h, w: w,
            packedWeights: nil, output: out, outputChannelStride: plane, residual: nil, residualChannelStride: plane,
            scale: UnsafePointer(program.copyOwned(merged.scale)), bias: UnsafePointer(program.copyOwned(merged.bias)),
            rowOffset: UnsafePointer(rowOffset))
        params.setSecond(output: out2, splitRow: a.conv.outChannels, activation: b.conv.activation)
        let packedBytes = isa.packedWeightBytes(m: m, k: k, inputBits: merged.inputBits)
        let packed = UnsafeMutableRawPointer(program.allocateOwned((packedBytes + 3) / 4))
        merged.weights.withUnsafeBufferPointer {
            isa.packWeights($0.baseAddress!, m: m, k: k, inputBits: merged.inputBits, into: packed)
        }
        params.packedWeights = UnsafeRawPointer(packed)
        let fixed = params
        let (scratch, partBytes, parts) = (plan.scratch, plan.scratchBytesPerPart, plan.parts)
        return Program.Step(node: pair.first, parallel: true) { ith, nth, slot in
            withUnsafePointer(to: fixed) { isa.conv2d($0, scratch: scratch + (slot % parts) * partBytes, ith: ith, nth: nth) }
        }
    }
}

extension Int8Layer {
    /// Two layers of one input (the same activation quantization) as one of both output counts: a's rows, then b's.
    /// The merged conv has a's geometry and activation; the kernel call gives b's rows their own output and
    /// activation (`sk_i8_conv.setSecond`).
    package static func merging(_ a: Int8Layer, _ b: Int8Layer) -> Int8Layer {
        precondition(a.inputBits == b.inputBits && a.inputInvScale == b.inputInvScale && a.zeroPoint == b.zeroPoint
                     && a.conv.inChannels == b.conv.inChannels, "merging int8 layers of different inputs")
        var merged = a
        merged.conv.outChannels = a.conv.outChannels + b.conv.outChannels
        merged.conv.weights = a.conv.weights + b.conv.weights
        merged.conv.bias = (a.conv.bias ?? [Float](repeating: 0, count: a.conv.outChannels))
            + (b.conv.bias ?? [Float](repeating: 0, count: b.conv.outChannels))
        merged.weights = a.weights + b.weights
        merged.weightScales = a.weightScales + b.weightScales
        merged.scale = a.scale + b.scale
        merged.rowOffset = a.rowOffset + b.rowOffset
        merged.bias = a.bias + b.bias
        return merged
    }
}

extension sk_i8_conv {
    /// Sends output rows from `splitRow` on to `output` with `activation` (the second of a merged pair).
    package mutating func setSecond(output: UnsafeMutablePointer<Float>?, splitRow: Int, activation: Activation) {
        output2 = output
        self.splitRow = Int32(splitRow)
        activation2 = Int32(activation.rawValue)
    }
}
