import CSenteiKernels

/// A dense conv whose only reader is a depthwise conv, run inside that reader's step a band of rows at a time: the
/// producer's rows go to a small per-part buffer that stays in the core's cache, and its whole map is never stored.
/// YOLOX-Nano's stem writes a 2.8 MB map (16 × 208 × 208 floats, more than a core's 2 MB L2) that the stride-2
/// depthwise conv after it read straight back: fused, the pair took 1.16 ms instead of 1.30 on one thread (fp32),
/// and the one-thread arena shrank from 4.85 to 4.03 MB. Each part computes whole bands on its own, so on two
/// threads it reads only rows it produced itself. `SENTEI_DISABLE_PASSES=band-fusion` runs the two convs as separate
/// steps (for A/B timing).
package struct BandFusion: Sendable {
    package let producer: Int
    package let consumer: Int
    /// Consumer output rows per band.
    package let bandRows: Int
    /// Producer rows one band reads at most: the per-part buffer's height.
    package let capacityRows: Int
    /// The consumer's output rows, the producer's, and the consumer's vertical geometry (rows a window covers).
    let outputRows: Int
    let producerRows: Int
    let extent: Int, stride: Int, padTop: Int
    /// Floats of one producer row of all channels (channels × width).
    let producerRowFloats: Int

    /// Floats of one part's band buffer: capacityRows rows of every producer channel.
    package var partBufferFloats: Int { capacityRows * producerRowFloats }
    /// The band buffers of every part, in the arena for the consumer's step (`MemoryPlan.Location.bands`).
    package func bufferFloats(threads: Int) -> Int { partBufferFloats * max(threads, 1) }

    static let disabled = Pipeline.disabledPasses.contains("band-fusion")

    /// When a pair is fused and how tall its bands are.
    package struct Policy: Sendable {
        /// Producer maps smaller than this stay in a core's cache between the two steps; fusing them gains nothing.
        package var minimumProducerBytes: Int
        /// Budget for one part's band buffer: well inside a core's L2 next to the kernels' own working sets. Smaller
        /// bands cost more calls: on YOLOX's int8 stem 64 KB bands took 1.5× the time of 128 KB ones, while 256 KB
        /// to 1 MB gained nothing more.
        package var bufferBytes: Int

        package init(minimumProducerBytes: Int = 1 << 20, bufferBytes: Int = 128 << 10) {
            self.minimumProducerBytes = minimumProducerBytes
            self.bufferBytes = bufferBytes
        }
    }

    /// The fusions for a compiled graph, keyed by consumer. `int8` is the program's int8 plan: an int8 producer is
    /// fused when its kernel can compute a band of rows with the weights packed for the whole map.
    package static func plan(_ graph: Graph, schedule: LaneSchedule, int8: Int8Plan?, policy: Policy) -> [Int: BandFusion] {
        guard !disabled else { return [:] }
        let uses = graph.useCounts()
        let outputs = Set(graph.outputs.map(\.node.index))
        let laneOf = schedule.placeOf
        var fusions: [Int: BandFusion] = [:]
        for (index, node) in graph.nodes.enumerated() {
            guard case .conv(let dw) = node.op, dw.isDepthwise, int8?.layers[index] == nil, node.shape.count == 4,
                  node.shape[0] == 1, let p = node.inputs.first?.index, case .conv(let conv) = graph.nodes[p].op,
                  conv.group == 1, !conv.hasResidual, uses[p] == 1, !outputs.contains(p),
                  graph.nodes[p].shape.count == 4,
                  graph.nodes[p].elementCount * MemoryLayout<Float>.stride >= policy.minimumProducerBytes,
                  laneOf[p] == laneOf[index] else { continue }
            let producerShape = graph.nodes[p].shape, inShape = graph[graph.nodes[p].inputs[0]].shape
            if int8?.layers[p] == nil,
               WinogradConv.applies(conv, inputShape: inShape, outputShape: producerShape) { continue }
            let rowFloats = producerShape[1] * producerShape[3]
            let extent = (dw.kernel.h - 1) * dw.dilation.h + 1
            let fitting = (policy.bufferBytes / (rowFloats * MemoryLayout<Float>.stride) - extent) / dw.stride.h + 1
            let fusion = BandFusion(
                producer: p, consumer: index, bandRows: max(1, min(node.shape[2], fitting)), outputRows: node.shape[2],
                producerRows: producerShape[2], extent: extent, stride: dw.stride.h, padTop: dw.pads.t,
                producerRowFloats: rowFloats)
            if let layer = int8?.layers[p], !layer.computesBands(of: fusion, inputShape: inShape) { continue }
            fusions[index] = fusion
        }
        return fusions
    }

    init(producer: Int, consumer: Int, bandRows: Int, outputRows: Int, producerRows: Int, extent: Int, stride: Int,
         padTop: Int, producerRowFloats: Int) {
        self.producer = producer
        self.consumer = consumer
        self.bandRows = bandRows
        self.capacityRows = (bandRows - 1) * stride + extent
        self.outputRows = outputRows
        self.producerRows = producerRows
        self.extent = extent
        self.stride = stride
        self.padTop = padTop
        self.producerRowFloats = producerRowFloats
    }

    package var bandCount: Int { (outputRows + bandRows - 1) / bandRows }

    /// Consumer output rows of band b.
    package func outputRange(band b: Int) -> Range<Int> { b * bandRows..<min(outputRows, (b + 1) * bandRows) }

    /// The producer rows consumer output rows `rows` read, and the padding rows above and below them.
    package func producerWindow(_ rows: Range<Int>) -> Window {
        Self.window(rows, extent: extent, stride: stride, padTop: padTop, size: producerRows)
    }

    /// Input rows [lo, hi) of a map of `size` rows that output rows `rows` of a conv (kernel extent, stride, top
    /// padding) read, clipped to the map; padTop + (hi − lo) + padBottom rows give exactly rows.count outputs.
    package struct Window: Equatable {
        package var lo: Int, hi: Int, padTop: Int, padBottom: Int
    }

    package static func window(_ rows: Range<Int>, extent: Int, stride: Int, padTop: Int, size: Int) -> Window {
        let first = rows.lowerBound * stride - padTop, end = (rows.upperBound - 1) * stride - padTop + extent
        let lo = max(0, first), hi = min(size, end)
        return Window(lo: lo, hi: hi, padTop: lo - first, padBottom: end - hi)
    }

    /// Every producer window a run asks for, whichever parts run which bands: a band's rows that the part's previous
    /// band did not hold, or all of them when the band is a part's first.
    package var producerWindows: [Range<Int>] {
        var windows = Set<Range<Int>>()
        for b in 0..<bandCount {
            let need = producerWindow(outputRange(band: b))
            windows.insert(need.lo..<need.hi)
            if b > 0 {
                let held = producerWindow(outputRange(band: b - 1))
                if held.hi > need.lo, held.hi < need.hi { windows.insert(held.hi..<need.hi) }
            }
        }
        return windows.sorted { ($0.lowerBound, $0.upperBound) < ($1.lowerBound, $1.upperBound) }
    }
}

extension Int8Layer {
    /// Whether this layer's kernel computes any band of output rows of `fusion`'s producer from the weights packed
    /// for the whole map. The generic kernel's packing ignores the geometry; the space-to-depth kernel's depends on
    /// the top padding's phase, the same for every band when the padding is a multiple of the stride.
    func computesBands(of fusion: BandFusion, inputShape: [Int]) -> Bool {
        guard usesSpaceToDepthKernel(h: inputShape[2], w: inputShape[3]) else { return true }
        guard conv.pads.t % conv.stride.h == 0 else { return false }
        let extent = (conv.kernel.h - 1) * conv.dilation.h + 1
        return fusion.producerWindows.allSatisfy { rows in
            let window = BandFusion.window(rows, extent: extent, stride: conv.stride.h, padTop: conv.pads.t,
                                           size: inputShape[2])
            var params = kernelParams(
                input: nil, inputChannelStride: inputShape[2] * inputShape[3], h: window.hi - window.lo,
                w: inputShape[3], packedWeights: nil, output: nil, outputChannelStride: 0, residual: nil,
                residualChannelStride: 0, scale: nil, bias: nil, rowOffset: nil)
            params.padTop = Int32(window.padTop)
            params.padBottom = Int32(window.padBottom)
            return sk_i8_s2d_supported(&params) != 0
        }
    }
}
