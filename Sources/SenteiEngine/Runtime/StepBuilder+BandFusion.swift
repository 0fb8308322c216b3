#if canImport(Glibc)
import Glibc
#endif

extension StepBuilder {
    /// Producer rows [lo, hi) written at dst (channel stride in floats), with scratch slot `slot`.
    typealias RowProducer = (_ rows: Range<Int>, _ dst: UnsafeMutablePointer<Float>, _ channelStride: Int, _ slot: Int) -> Void

    /// One step for a fused producer and its depthwise reader (`BandFusion`): each part takes a run of bands; per band
    /// it keeps the producer rows its previous band already made (the kernel's overlap), computes the rest into its
    /// own buffer, and runs the depthwise conv on the buffer for the band's output rows.
    func bandFusedStep(_ fusion: BandFusion, kernels: KernelTable) -> Program.Step {
        let node = graph.nodes[fusion.consumer], producer = graph.nodes[fusion.producer]
        guard case .conv(let dw) = node.op, case .conv(let conv) = producer.op else {
            preconditionFailure("band fusion of \(producer.name) into \(node.name): both must be convs")
        }
        let produce = rowProducer(fusion.producer, conv, kernels: kernels)
        let (channels, width) = (producer.shape[1], producer.shape[3])
        let capacity = fusion.capacityRows * width
        let bufferFloats = fusion.partBufferFloats
        precondition(bufferFloats == channels * capacity, "band buffer of \(producer.name)")
        let buffers = program.bandBuffers(fusion.producer)
        let weights = UnsafePointer(program.copyOwned(dw.weights))
        let bias = ownedBias(dw)
        let act = activationCode(dw)
        let out = program.pointer(fusion.consumer)
        let plane = node.shape[2] * node.shape[3], ow = node.shape[3]
        let (kernel, stride, pads, dilation) = (dw.kernel, dw.stride, dw.pads, dw.dilation)
        let threads = self.threads
        let bandCount = fusion.bandCount
        return Program.Step(node: fusion.consumer, parallel: true) { ith, nth, slot in
            let buffer = buffers + (slot % threads) * bufferFloats
            var held = 0..<0
            for band in (bandCount * ith / nth)..<(bandCount * (ith + 1) / nth) {
                let rows = fusion.outputRange(band: band)
                let need = fusion.producerWindow(rows)
                var from = need.lo
                if held.contains(need.lo) {
                    let shift = need.lo - held.lowerBound, keep = held.upperBound - need.lo
                    if shift > 0 {
                        for c in 0..<channels {
                            memmove(buffer + c * capacity, buffer + c * capacity + shift * width,
                                    keep * width * MemoryLayout<Float>.stride)
                        }
                    }
                    from = held.upperBound
                }
                if from < need.hi { produce(from..<need.hi, buffer + (from - need.lo) * width, capacity, slot) }
                held = need.lo..<need.hi
                kernels.depthwiseConv2d(buffer, capacity, channels, need.hi - need.lo, width, weights, kernel.h,
                                        kernel.w, stride.h, stride.w, need.padTop, pads.l, need.padBottom, pads.r,
                                        dilation.h, dilation.w, out + rows.lowerBound * ow, plane, bias, act, 0, 1)
            }
        }
    }

    /// The call that computes a band of a producer's output rows: its int8 kernel when the int8 plan runs it,
    /// else the direct fp32 kernel (`BandFusion.plan` admits only these).
    private func rowProducer(_ index: Int, _ conv: Conv, kernels: KernelTable) -> RowProducer {
        let inShape = graph[graph.nodes[index].inputs[0]].shape
        let (h, w) = (inShape[2], inShape[3])
        // The closures capture the vertical geometry, never `conv` (it holds the unpacked weights).
        let extent = (conv.kernel.h - 1) * conv.dilation.h + 1
        let (stride, padTop) = (conv.stride.h, conv.pads.t)
        if let call = int8ConvCall(index) {
            let base = call.params
            return { rows, dst, channelStride, slot in
                let window = BandFusion.window(rows, extent: extent, stride: stride, padTop: padTop, size: h)
                var params = base
                params.input = base.input.map { $0 + window.lo * w }
                params.h = Int32(window.hi - window.lo)
                params.padTop = Int32(window.padTop)
                params.padBottom = Int32(window.padBottom)
                params.output = dst
                params.outputChannelStride = channelStride
                withUnsafePointer(to: params) { call.run($0, 0, 1, slot) }
            }
        }
        let run = directConv(index, conv, kernels: kernels)
        return { rows, dst, channelStride, slot in
            let window = BandFusion.window(rows, extent: extent, stride: stride, padTop: padTop, size: h)
            run(ConvRows(inputRow: window.lo, rows: window.hi - window.lo, padTop: window.padTop,
                         padBottom: window.padBottom, output: dst, outputChannelStride: channelStride), 0, 1, slot)
        }
    }
}
