import Testing
@testable import SenteiEngine
@testable import SenteiPrune

@Suite struct ONNXWriterTests {
    /// Write → read → import → optimise gives a graph computing the same outputs (and the same fused structure).
    @Test func roundTripOfTheCouplingGraph() throws {
        let graph = couplingGraph()
        let bytes = try ONNXWriter.encode(graph)
        let back = Pipeline.optimize(try ONNXImporter.importModel(try readONNXModel(bytes: bytes, source: "rt.onnx"), source: "rt.onnx"))
        #expect(back.outputs.map(\.name) == ["out", "out2"])
        #expect(ChannelPruner.macs(back) == ChannelPruner.macs(graph))
        var noise = Noise(state: 5)
        let input = Tensor(shape: [1, 3, 8, 8], data: noise.array(192, 2))
        let expected = try run(graph, input), actual = try run(back, input)
        for (a, e) in zip(actual, expected) {
            #expect(a.shape == e.shape)
            #expect(maxAbsDifference(a.data, e.data) < 1e-5)
        }
    }

    @Test func resizeModesAreRecovered() {
        // YOLOX's 2× upsample: asymmetric + floor.
        let map = ResizeModes.map(("asymmetric", "floor"), inSize: 13, outSize: 26)
        #expect(map == (0..<26).map { $0 / 2 })
        #expect(ResizeModes.find([[0], [0, 1], map], inShape: [1, 2, 13], outShape: [1, 2, 26])! == ("asymmetric", "floor"))
    }
}

@Test func outputsThatShareANodeOrAreInputsKeepTheirNames() throws {
    var g = Graph()
    let x = g.add(.input("x"), [], shape: [1, 2, 2, 2], name: "x")
    g.inputs = [x]
    let r = g.add(.unary(.relu), [x], shape: [1, 2, 2, 2], name: "r")
    g.outputs = [(name: "a", node: r), (name: "b", node: r), (name: "passthrough", node: x)]
    let back = try ONNXImporter.importModel(try readONNXModel(bytes: try ONNXWriter.encode(g), source: "o.onnx"), source: "o.onnx")
    #expect(back.inputs.map { back[$0].name } == ["x"])
    #expect(back.outputs.map(\.name) == ["a", "b", "passthrough"])
    let input = Tensor(shape: [1, 2, 2, 2], data: [-1, 2, -3, 4, 5, -6, 7, -8])
    let outputs = try run(back, input, reference: true)
    #expect(outputs[0].data == [0, 2, 0, 4, 5, 0, 7, 0] && outputs[1].data == outputs[0].data && outputs[2].data == input.data)
}
