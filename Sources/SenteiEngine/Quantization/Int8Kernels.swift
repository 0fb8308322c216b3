import CSenteiKernels

/// Which int8 kernel set runs (the C functions in Sources/CSenteiKernels/int8_conv.c), derived from the fp32
/// kernel ISA so that SENTEI_ISA lowers both: AVX-512 with VNNI → vpdpbusd; AVX-512 without VNNI or AVX2 →
/// vpmaddwd on 16-bit pairs; baseline → portable C.
package enum Int8ISA: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// `amx`: the VNNI kernels, with AMX-INT8 tiles for the GEMMs of k a multiple of 64 and ≥ 128.
    case portable = 0, avx2 = 1, avx512vnni = 2, amx = 3

    package init(_ isa: KernelISA) {
        switch isa {
        case .avx512: self = sk_has_vnni() == 0 ? .avx2 : sk_has_amx() != 0 ? .amx : .avx512vnni
        case .avx2: self = .avx2
        case .base: self = .portable
        }
    }

    /// The kernel set the engine runs here (from KernelISA.best, so SENTEI_ISA lowers it; SENTEI_AMX=off keeps
    /// VNNI alone).
    package static let best = Int8ISA(KernelISA.best)

    /// Every int8 kernel set this CPU runs (for tests), lowest first: VNNI alone as well as with AMX.
    package static var supported: [Int8ISA] {
        var sets = Set(KernelISA.supported.map(Int8ISA.init))
        if sets.contains(.amx) { sets.insert(.avx512vnni) }
        return sets.sorted { $0.rawValue < $1.rawValue }
    }

    package var description: String {
        switch self {
        case .portable: "int8-portable"
        case .avx2: "int8-avx2"
        case .avx512vnni: "int8-vnni"
        case .amx: "int8-vnni+amx"
        }
    }

    /// Microkernel rows, columns and k values per 32-bit lane.
    package var tile: (rows: Int, columns: Int, kGroup: Int) {
        var r: Int32 = 0, c: Int32 = 0, g: Int32 = 0
        sk_i8_tile(rawValue, &r, &c, &g)
        return (Int(r), Int(c), Int(g))
    }

    /// The C kernel code for this set and an activation width: 16-bit activations run on their own kernels
    /// (vpdpwssd under VNNI; AVX2's vpmaddwd kernel takes both widths).
    package func kernel(inputBits: Int) -> Int32 { sk_i8_kernel(rawValue, Int32(inputBits)) }

    package func packedWeightBytes(m: Int, k: Int, inputBits: Int = 8) -> Int {
        sk_i8_packed_weight_bytes(kernel(inputBits: inputBits), Int32(m), Int32(k))
    }

    package func packWeights(_ weights: UnsafePointer<Int8>, m: Int, k: Int, inputBits: Int = 8, into dst: UnsafeMutableRawPointer) {
        sk_i8_pack_weights(kernel(inputBits: inputBits), weights, Int32(m), Int32(k), dst)
    }

    package func scratchBytes(cin: Int, kh: Int, kw: Int, inputBits: Int = 8) -> Int {
        sk_i8_conv2d_scratch_bytes(kernel(inputBits: inputBits), Int32(cin), Int32(kh), Int32(kw))
    }

    /// Runs part ith of nth with the kernel for `params.inputBits`.
    package func conv2d(_ params: UnsafePointer<sk_i8_conv>, scratch: UnsafeMutableRawPointer, ith: Int, nth: Int) {
        sk_i8_conv2d(kernel(inputBits: Int(params.pointee.inputBits)), params, scratch, Int32(ith), Int32(nth))
    }

    // The space-to-depth kernel (sk_i8_s2d_* in int8_conv.c): geometry-dependent packing and scratch.
    package func spaceToDepthPackedWeightBytes(_ params: UnsafePointer<sk_i8_conv>) -> Int {
        sk_i8_s2d_packed_weight_bytes(rawValue, params)
    }

    /// False when the geometry is unsupported or the temporary reorder buffer cannot be allocated.
    package func spaceToDepthPackWeights(_ params: UnsafePointer<sk_i8_conv>, _ weights: UnsafePointer<Int8>,
                                         into dst: UnsafeMutableRawPointer) -> Bool {
        sk_i8_s2d_pack_weights(rawValue, params, weights, dst) != 0
    }

    package func spaceToDepthScratchBytes(_ params: UnsafePointer<sk_i8_conv>) -> Int {
        sk_i8_s2d_scratch_bytes(rawValue, params)
    }

    package func spaceToDepthConv2d(_ params: UnsafePointer<sk_i8_conv>, scratch: UnsafeMutableRawPointer, ith: Int, nth: Int) {
        _ = sk_i8_s2d_conv2d(rawValue, params, scratch, Int32(ith), Int32(nth))
    }
}

extension Int8Layer {
    /// The kernel parameters for this layer on an h×w input (pointers the caller's; weights packed separately).
    package func kernelParams(
        input: UnsafePointer<Float>?, inputChannelStride: Int, h: Int, w: Int, packedWeights: UnsafeRawPointer?,
        output: UnsafeMutablePointer<Float>?, outputChannelStride: Int, residual: UnsafePointer<Float>?,
        residualChannelStride: Int, scale: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
        rowOffset: UnsafePointer<Int32>?
    ) -> sk_i8_conv {
        let c = conv
        return sk_i8_conv(
            input: input, inputChannelStride: inputChannelStride, cin: Int32(c.inChannels), h: Int32(h), w: Int32(w),
            packedWeights: packedWeights, cout: Int32(c.outChannels), kh: Int32(c.kernel.h), kw: Int32(c.kernel.w),
            strideH: Int32(c.stride.h), strideW: Int32(c.stride.w), padTop: Int32(c.pads.t), padLeft: Int32(c.pads.l),
            padBottom: Int32(c.pads.b), padRight: Int32(c.pads.r), dilationH: Int32(c.dilation.h),
            dilationW: Int32(c.dilation.w), output: output, outputChannelStride: outputChannelStride, residual: residual,
            residualChannelStride: residualChannelStride, scale: scale, bias: bias, rowOffset: rowOffset,
            inputInvScale: inputInvScale, inputZeroPoint: Int32(zeroPoint), activation: Int32(c.activation.rawValue),
            inputBits: Int32(inputBits), output2: nil, splitRow: 0, activation2: 0)
    }

    /// Whether the engine runs this layer with the space-to-depth kernel on an h×w input: image stems (at most 4
    /// input channels, e.g. YOLOX's Focus folded into a 6×6/s2 conv or a 3×3/s2 first conv on RGB), where the
    /// generic kernel's float im2col with strided gathers costs several times the int8 arithmetic.
    package func usesSpaceToDepthKernel(h: Int, w: Int) -> Bool {
        guard conv.inChannels <= 4 else { return false }
        var params = kernelParams(input: nil, inputChannelStride: h * w, h: h, w: w, packedWeights: nil, output: nil,
                                  outputChannelStride: 0, residual: nil, residualChannelStride: 0, scale: nil, bias: nil,
                                  rowOffset: nil)
        return sk_i8_s2d_supported(&params) != 0
    }
}

extension Int8ISA {
    /// Runs one int8 conv outside a program: packs the weights, then calls every part (in reverse order, each with
    /// its own scratch), as a program would across threads. For tests and benchmarks. `spaceToDepth` runs the
    /// sk_i8_s2d kernel (the geometry must be one it handles). `second` sends the rows from its split on to their own
    /// output (a merged sibling pair, `Int8Layer.merging`).
    package func conv2dOnce(
        _ layer: Int8Layer, input: UnsafePointer<Float>, inputChannelStride: Int, h: Int, w: Int,
        output: UnsafeMutablePointer<Float>, outputChannelStride: Int, residual: UnsafePointer<Float>?,
        residualChannelStride: Int, parts: Int, spaceToDepth: Bool = false,
        second: (output: UnsafeMutablePointer<Float>, splitRow: Int, activation: Activation)? = nil
    ) {
        let c = layer.conv
        let k = c.inChannels * c.kernel.h * c.kernel.w
        layer.scale.withUnsafeBufferPointer { scale in
            layer.bias.withUnsafeBufferPointer { bias in
                layer.rowOffset.withUnsafeBufferPointer { rowOffset in
                    var params = layer.kernelParams(
                        input: input, inputChannelStride: inputChannelStride, h: h, w: w, packedWeights: nil,
                        output: output, outputChannelStride: outputChannelStride, residual: residual,
                        residualChannelStride: residualChannelStride, scale: scale.baseAddress, bias: bias.baseAddress,
                        rowOffset: rowOffset.baseAddress)
                    if let second { params.setSecond(output: second.output, splitRow: second.splitRow, activation: second.activation) }
                    let packedBytes = spaceToDepth ? spaceToDepthPackedWeightBytes(&params)
                        : packedWeightBytes(m: c.outChannels, k: k, inputBits: layer.inputBits)
                    precondition(packedBytes > 0, "conv2dOnce: the space-to-depth kernel does not handle this geometry")
                    let packed = UnsafeMutableRawPointer.allocate(byteCount: packedBytes, alignment: 64)
                    defer { packed.deallocate() }
                    layer.weights.withUnsafeBufferPointer {
                        if spaceToDepth {
                            // Called outside precondition: -Ounchecked (release) does not evaluate its condition.
                            let packedOK = spaceToDepthPackWeights(&params, $0.baseAddress!, into: packed)
                            precondition(packedOK)
                        } else {
                            packWeights($0.baseAddress!, m: c.outChannels, k: k, inputBits: layer.inputBits, into: packed)
                        }
                    }
                    params.packedWeights = UnsafeRawPointer(packed)
                    let partBytes = ((spaceToDepth ? spaceToDepthScratchBytes(&params)
                                      : scratchBytes(cin: c.inChannels, kh: c.kernel.h, kw: c.kernel.w,
                                                     inputBits: layer.inputBits)) + 63) / 64 * 64
                    let scratch = UnsafeMutableRawPointer.allocate(byteCount: partBytes * parts, alignment: 64)
                    defer { scratch.deallocate() }
                    for ith in (0..<parts).reversed() {
                        if spaceToDepth {
                            spaceToDepthConv2d(&params, scratch: scratch + ith * partBytes, ith: ith, nth: parts)
                        } else {
                            conv2d(&params, scratch: scratch + ith * partBytes, ith: ith, nth: parts)
                        }
                    }
                }
            }
        }
    }
}
