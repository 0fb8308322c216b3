import CSenteiKernels
import Testing
@testable import SenteiEngine

/// Forward passes flush denormals to zero (they cost a microcode assist per instruction on x86) on every thread that
/// runs kernel parts, and leave the calling thread's float mode as it was.
@Suite struct DenormalTests {
    /// y = 1e-20 · x + 0 for x = 1e-20: the exact product 1e-40 is a denormal; flushed, it is 0.
    func tinyProductModel(threads: Int) throws -> Model {
        var b = ONNXGraphBuilder()
        b.input("x", [1, 1, 4, 40])
        try b.floats("w", [1, 1, 1, 1], [1e-20])
        try b.floats("b", [1], [0])
        b.node("Conv", ["x", "w", "b"], ["y"], ["kernel_shape": .ints([1, 1])])
        b.output("y")
        return Model(graph: Pipeline.optimize(try b.graph()), options: .init(threads: threads))
    }

    /// Out of the optimiser's reach, so the product is computed at run time in this thread's float mode.
    @inline(never) static func multiply(_ a: Float, _ b: Float) -> Float { a * b }

    static func currentFloatMode() -> UInt32 {
        let mode = sk_flush_denormals()
        sk_restore_float_mode(mode)
        return mode
    }

    @Test(arguments: [1, 2]) func denormalResultsAreFlushedAndTheCallersModeIsKept(_ threads: Int) throws {
        #if arch(x86_64)
        let product = Self.multiply(1e-20, 1e-20)
        #expect(product != 0 && !product.isNormal, "this thread computes IEEE denormals before the pass")
        let before = Self.currentFloatMode()
        let model = try tinyProductModel(threads: threads)
        let out = try model.run([Tensor(shape: [1, 1, 4, 40], data: [Float](repeating: 1e-20, count: 160))])
        #expect(out[0].data.allSatisfy { $0 == 0 }, "denormal outputs: \(out[0].data.prefix(4))")
        #expect(Self.currentFloatMode() == before)
        #expect(Self.multiply(1e-20, 1e-20) == product, "the caller's float mode was changed")
        #endif
    }
}
