import Testing
@testable import SenteiEngine

/// The buffers the kernels read and write in 64-byte vectors start on cache lines: calloc's and malloc's large blocks
/// start 16 bytes past one, and with every tensor row straddling two lines the 1×1 convs of YOLOX-Nano ran about a
/// third slower.
@Suite("Buffer alignment")
struct BufferAlignmentTests {
    /// A dense 3×3 conv (direct, with im2col scratch: too narrow for Winograd) into a 1×1 conv, for 1 to 3 parts.
    @Test(arguments: 1...3)
    func arenaAndConvScratchStartOnCacheLines(threads: Int) throws {
        var b = ONNXGraphBuilder()
        b.input("x", [1, 12, 20, 20])
        try b.floats("w1", [16, 12, 3, 3], randomFloats(16 * 12 * 9, seed: 3))
        try b.floats("w2", [24, 16, 1, 1], randomFloats(24 * 16, seed: 4))
        b.node("Conv", ["x", "w1"], ["h"], ["pads": .ints([1, 1, 1, 1]), "kernel_shape": .ints([3, 3])])
        b.node("Conv", ["h", "w2"], ["y"], ["kernel_shape": .ints([1, 1])])
        b.output("y")
        let model = Model(graph: Pipeline.optimize(try b.graph()), options: .init(threads: threads))
        let program = model.program
        #expect(UInt(bitPattern: program.arena) % 64 == 0, "arena at \(program.arena)")
        #expect(program.convScratchPerPart > 0 && program.convScratchPerPart % 16 == 0,
                "each part's conv scratch slice is whole lines: \(program.convScratchPerPart) floats")
        #expect(UInt(bitPattern: program.scratch) % 64 == 0, "conv scratch at \(program.scratch)")
        // The input and output live in the arena at the plan's offsets, which are whole lines here.
        for tensor in [model.graph.inputs[0], model.graph.outputs[0].node] {
            #expect(UInt(bitPattern: program.pointer(tensor)) % 64 == 0)
        }
    }
}
