import Foundation
import SenteiEngine
import Testing

@Suite struct SingleThreadedModelTests {
    /// A two-thread model switched to its caller alone (and back) between runs gives the same outputs: every kernel
    /// splits by its part arguments, so one part of one covers the whole op.
    @Test func switchingToOneThreadAndBackKeepsTheOutputs() throws {
        guard let shared = engineSharedDirectory else {
            print("skipping: ../shared/models/yolox_nano.onnx not found (set SENTEI_SHARED)")
            return
        }
        let model = try Model(path: shared + "/models/yolox_nano.onnx",
                              options: .init(threads: 2, inputShapes: ["images": [1, 3, 160, 160]]))
        let input = Tensor(shape: [1, 3, 160, 160], data: randomFloats(3 * 160 * 160, seed: 9).map { abs($0) * 255 })
        let parallel = try model.run([input])[0].data
        model.singleThreaded = true
        #expect(model.singleThreaded)
        let single = try model.run([input])[0].data
        model.singleThreaded = false
        let again = try model.run([input])[0].data
        #expect(single.count == parallel.count)
        let worst = zip(single, parallel).map { abs($0 - $1) }.max() ?? .infinity
        let scale = parallel.map { abs($0) }.max() ?? 1
        #expect(worst <= 1e-6 * scale, "one thread differs from two by \(worst) (max |output| \(scale))")
        #expect(again == parallel)
    }
}
