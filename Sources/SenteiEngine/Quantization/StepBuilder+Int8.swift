import CSenteiKernels

extension StepBuilder {
    /// The step of a conv that the program's int8 plan runs in int8, else nil (the fp32 step is built instead).
    func int8ConvStep(_ index: Int) -> Program.Step? {
        guard let call = int8ConvCall(index) else { return nil }
        let fixed = call.params
        return Program.Step(node: index, parallel: call.parallel) { ith, nth, slot in
            withUnsafePointer(to: fixed) { call.run($0, ith, nth, slot) }
        }
    }

    /// An int8 conv's kernel parameters (pointers into the program) and the call that runs part ith of nth with
    /// them and a scratch slot; the parameters may be changed per call (a band of rows: `BandFusion`).
    struct Int8ConvCall {
        let params: sk_i8_conv
        let parallel: Bool
        let run: (UnsafePointer<sk_i8_conv>, _ ith: Int, _ nth: Int, _ slot: Int) -> Void
    }

    func int8ConvCall(_ index: Int) -> Int8ConvCall? {
        guard let plan = program.int8, let layer = plan.layers[index] else { return nil }
        let node = graph.nodes[index]
        let inShape = graph[node.inputs[0]].shape
        let (h, w) = (inShape[2], inShape[3])
        let plane = node.shape[2] * node.shape[3]
        let x = UnsafePointer(program.pointer(node.inputs[0]))
        // A band-fused producer has no buffer: its calls get the band's (`StepBuilder.bandFusedStep`).
        let out = program.storedPointer(index)
        let residual: UnsafePointer<Float>? = layer.conv.hasResidual ? UnsafePointer(program.pointer(node.inputs[1])) : nil
        guard let isa = plan.isa else {
            // Reference mode (never band-fused: the parameters are not read).
            return Int8ConvCall(params: sk_i8_conv(), parallel: false) { _, _, _, _ in
                Int8Reference.conv2d(layer, input: x, inputChannelStride: h * w, h: h, w: w, output: out!,
                                     outputChannelStride: plane, residual: residual, residualChannelStride: plane)
            }
        }
        let c = layer.conv
        let k = c.inChannels * c.kernel.h * c.kernel.w
        let rowOffset = UnsafeMutableRawPointer(program.allocateOwned(c.outChannels)).bindMemory(to: Int32.self, capacity: c.outChannels)
        for co in 0..<c.outChannels { rowOffset[co] = layer.rowOffset[co] }
        var params = layer.kernelParams(
            input: x, inputChannelStride: h * w, h: h, w: w, packedWeights: nil, output: out, outputChannelStride: plane,
            residual: residual, residualChannelStride: plane, scale: UnsafePointer(program.copyOwned(layer.scale)),
            bias: UnsafePointer(program.copyOwned(layer.bias)), rowOffset: UnsafePointer(rowOffset))
        let (scratch, partBytes, parts) = (plan.scratch, plan.scratchBytesPerPart, plan.parts)
        // Packed weights are owned by the program (counted in its weight bytes), as the fp32 packed weights are.
        if layer.usesSpaceToDepthKernel(h: h, w: w) {
            let packedBytes = isa.spaceToDepthPackedWeightBytes(&params)
            let packed = UnsafeMutableRawPointer(program.allocateOwned((packedBytes + 3) / 4))
            let packedOK = layer.weights.withUnsafeBufferPointer { isa.spaceToDepthPackWeights(&params, $0.baseAddress!, into: packed) }
            if packedOK {
                params.packedWeights = UnsafeRawPointer(packed)
                return Int8ConvCall(params: params, parallel: true) { p, ith, nth, slot in
                    isa.spaceToDepthConv2d(p, scratch: scratch + (slot % parts) * partBytes, ith: ith, nth: nth)
                }
            }
        }
        let packedBytes = isa.packedWeightBytes(m: c.outChannels, k: k, inputBits: layer.inputBits)
        let packed = UnsafeMutableRawPointer(program.allocateOwned((packedBytes + 3) / 4))
        layer.weights.withUnsafeBufferPointer {
            isa.packWeights($0.baseAddress!, m: c.outChannels, k: k, inputBits: layer.inputBits, into: packed)
        }
        params.packedWeights = UnsafeRawPointer(packed)
        return Int8ConvCall(params: params, parallel: true) { p, ith, nth, slot in
            isa.conv2d(p, scratch: scratch + (slot % parts) * partBytes, ith: ith, nth: nth)
        }
    }
}
