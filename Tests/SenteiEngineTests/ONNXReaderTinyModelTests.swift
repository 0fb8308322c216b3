import Testing

@testable import SenteiEngine

/// A small model written by Python `onnx` 1.23 (`onnx.helper`, see the test below for what it holds), so the reader is
/// checked against the reference encoder's bytes: proto2 unpacked `dims` and `ints`, packed `float_data`/`int64_data`,
/// raw_data, a tensor attribute, a symbolic dim, an unset dim, a custom domain. ModelProto.opset_import is its last
/// field, so every truncation cuts a required part.
enum TinyModel {
    static let bytes = SenteiEngineTests.bytes(
        hex: [
            "0808120b73656e7465692d746573743aae040a500a01780a01770a01621201631a04636f6e762204436f6e762a0c0a05",
            "67726f75701801a001022a150a0c6b65726e656c5f736861706540024002a001072a110a047061647340004000400140",
            "01a001070a290a01631201721a056c65616b7922094c65616b7952656c752a0f0a05616c706861150000003ea001010a",
            "3812016b1a05636f6e73742208436f6e7374616e742a220a0576616c75652a16080310062a0c07f8ffffffffffffffff",
            "010942026b76a001040a350a01720a000a067363616c6573120275701a06726573697a652206526573697a652a120a04",
            "6d6f646522076e656172657374a001030a200a0275700a0573686170651201791a077265736861706522075265736861",
            "70650a500a017912017a1a06637573746f6d220b437573746f6d5468696e672a140a056761696e733d0000c03f3d0000",
            "2040a001062a100a04746167734a01614a026263a001083a0b636f6d2e6578616d706c65120474696e792a2f08020801",
            "0802080210014201774a20000000000000003f0000803f0000c03f000000400000204000004040000060402a11080210",
            "0122080000803e0000c0bf4201622a18080210073a0b01ffffffffffffffffff01420573686170652a1e080410014206",
            "7363616c65734a100000803f0000803f00000040000000405a200a0178121b0a19080112150a07120562617463680a02",
            "08010a0208030a02080362090a017a12040a0208016a190a016312140a120801120e0a0208010a0208020a000a020803",
            "42040a00100d",
        ].joined())
}

@Suite struct ONNXReaderTinyModelTests {
    @Test func decodesWhatPythonONNXWrote() throws {
        let model = try readONNXModel(bytes: TinyModel.bytes, source: "tiny.onnx")
        #expect(model.irVersion == 8)
        #expect(model.producerName == "sentei-test")
        #expect(model.opsetImports == [ONNXOpsetImport(domain: "", version: 13)])
        let graph = model.graph
        #expect(graph.name == "tiny")
        #expect(graph.nodes.map(\.opType) == ["Conv", "LeakyRelu", "Constant", "Resize", "Reshape", "CustomThing"])
        #expect(graph.nodes.map(\.name) == ["conv", "leaky", "const", "resize", "reshape", "custom"])

        let conv = graph.nodes[0]
        #expect(conv.inputs == ["x", "w", "b"])
        #expect(conv.outputs == ["c"])
        #expect(try conv.ints("kernel_shape") == [2, 2])
        #expect(try conv.ints("pads") == [0, 0, 1, 1])
        #expect(try conv.int("group") == 1)
        #expect(try graph.nodes[1].float("alpha") == 0.125)
        let constant = try #require(try graph.nodes[2].tensor("value"))
        #expect(constant.name == "kv")
        #expect(constant.dataType == .int32)
        #expect(try constant.int64s() == [7, -8, 9])
        #expect(graph.nodes[3].inputs == ["r", "", "scales"])
        #expect(try graph.nodes[3].string("mode") == "nearest")
        let custom = graph.nodes[5]
        #expect(custom.domain == "com.example")
        #expect(try custom.floats("gains") == [1.5, 2.5])
        #expect(try custom.strings("tags") == ["a", "bc"])

        #expect(graph.initializers.map(\.name) == ["w", "b", "shape", "scales"])
        #expect(graph.initializers[0].dims == [2, 1, 2, 2])
        #expect(try graph.initializers[0].floats() == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5])
        #expect(try graph.initializers[1].floats() == [0.25, -1.5])
        #expect(try graph.initializers[2].int64s() == [1, -1])
        #expect(try graph.initializers[3].floats() == [1, 1, 2, 2])

        #expect(
            graph.inputs == [
                ONNXValueInfo(name: "x", elemType: .float, shape: [.param("batch"), .value(1), .value(3), .value(3)])
            ])
        #expect(graph.outputs == [ONNXValueInfo(name: "z", elemType: .float, shape: [], hasShape: false)])
        #expect(
            graph.valueInfo == [
                ONNXValueInfo(name: "c", elemType: .float, shape: [.value(1), .value(2), .unknown, .value(3)])
            ])
    }
}
