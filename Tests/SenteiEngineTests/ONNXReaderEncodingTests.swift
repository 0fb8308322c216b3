import Testing

@testable import SenteiEngine

/// Every typed-field encoding the reader must understand, fed as hand-built protobuf bytes.
@Suite struct ONNXReaderEncodingTests {
    typealias T = ONNXField.Tensor
    typealias A = ONNXField.Attribute

    @Test func floatDataPackedAndUnpackedReadTheSame() throws {
        let packed = try readInitializer(
            ProtoBytes().int(T.dims, 3).int(T.dataType, 1).packedFloats(T.floatData, [1.5, -2, 0.25]).string(
                T.name, "p"))
        let unpacked = try readInitializer(
            ProtoBytes().int(T.dims, 3).int(T.dataType, 1).float(T.floatData, 1.5).float(T.floatData, -2)
                .float(T.floatData, 0.25).string(T.name, "u"))
        #expect(try packed.floats() == [1.5, -2, 0.25])
        #expect(try unpacked.floats() == [1.5, -2, 0.25])
        #expect(packed.dims == [3])
        #expect(packed.name == "p")
    }

    @Test func rawFloatDataIsLittleEndian() throws {
        let raw: [UInt8] = [0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x00, 0xC0]  // 1.5, -2.0
        let tensor = try readInitializer(
            ProtoBytes().packedInts(T.dims, [1, 2]).int(T.dataType, 1).data(T.rawData, raw).string(T.name, "w"))
        #expect(tensor.dims == [1, 2])
        #expect(try tensor.floats() == [1.5, -2])
    }

    @Test func int64DataPackedUnpackedAndNegative() throws {
        let packed = try readInitializer(
            ProtoBytes().int(T.dims, 3).int(T.dataType, 7).packedInts(T.int64Data, [1, -1, Int64.max]))
        let unpacked = try readInitializer(
            ProtoBytes().int(T.dims, 3).int(T.dataType, 7).int(T.int64Data, 1).int(T.int64Data, -1)
                .int(T.int64Data, Int64.max))
        #expect(try packed.int64s() == [1, -1, Int64.max])
        #expect(try unpacked.int64s() == [1, -1, Int64.max])
        #expect(try packed.floats() == [1, -1, Float(Int64.max)])
    }

    @Test func int32DataHoldsNarrowTypesAndNegativesAsTenByteVarints() throws {
        // Negative int32 values are sign-extended to 64 bits on the wire (10 bytes).
        let int32 = try readInitializer(
            ProtoBytes().int(T.dims, 2).int(T.dataType, 6).packedInts(T.int32Data, [-7, 300]))
        #expect(try int32.int64s() == [-7, 300])
        #expect(try int32.floats() == [-7, 300])
        let uint8 = try readInitializer(
            ProtoBytes().int(T.dims, 2).int(T.dataType, 2).int(T.int32Data, 255).int(T.int32Data, 0))
        #expect(try uint8.int64s() == [255, 0])
        let bool = try readInitializer(ProtoBytes().int(T.dims, 1).int(T.dataType, 9).packedInts(T.int32Data, [1]))
        #expect(try bool.int64s() == [1])
    }

    @Test func rawIntegerTypesAreSignOrZeroExtended() throws {
        let int32Raw = try readInitializer(
            ProtoBytes().int(T.dims, 2).int(T.dataType, 6).data(T.rawData, [0xFF, 0xFF, 0xFF, 0xFF, 5, 0, 0, 0]))
        #expect(try int32Raw.int64s() == [-1, 5])
        let int8Raw = try readInitializer(ProtoBytes().int(T.dims, 2).int(T.dataType, 3).data(T.rawData, [0xFE, 0x02]))
        #expect(try int8Raw.int64s() == [-2, 2])
        let uint8Raw = try readInitializer(
            ProtoBytes().int(T.dims, 2).int(T.dataType, 2).data(T.rawData, [0xFE, 0x02]))
        #expect(try uint8Raw.int64s() == [254, 2])
        let int64Raw = try readInitializer(
            ProtoBytes().int(T.dims, 1).int(T.dataType, 7).data(
                T.rawData, [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]))
        #expect(try int64Raw.int64s() == [-2])
    }

    @Test func doubleAndHalfConvertToFloat() throws {
        let doubles = try readInitializer(
            ProtoBytes().int(T.dims, 2).int(T.dataType, 11).packedDoubles(T.doubleData, [0.5, -3]))
        #expect(try doubles.floats() == [0.5, -3])
        let doublesUnpacked = try readInitializer(
            ProtoBytes().int(T.dims, 1).int(T.dataType, 11).fixed64(T.doubleData, (0.75 as Double).bitPattern))
        #expect(try doublesUnpacked.floats() == [0.75])
        // FLOAT16 bit patterns: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF, smallest subnormal 0x0001 = 2^-24.
        let halfRaw = try readInitializer(
            ProtoBytes().int(T.dims, 4).int(T.dataType, 10).data(
                T.rawData, [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00]))
        #expect(try halfRaw.floats() == [1, -2, 65504, 1.0 / 16_777_216])
        let halfInt32Data = try readInitializer(
            ProtoBytes().int(T.dims, 1).int(T.dataType, 10).packedInts(T.int32Data, [0x3800]))
        #expect(try halfInt32Data.floats() == [0.5])
        let bfloat = try readInitializer(ProtoBytes().int(T.dims, 1).int(T.dataType, 16).data(T.rawData, [0xC0, 0x3F]))
        #expect(try bfloat.floats() == [1.5])
    }

    @Test func uint64DataHoldsUnsignedTypes() throws {
        let uint32 = try readInitializer(
            ProtoBytes().int(T.dims, 1).int(T.dataType, 12).int(T.uint64Data, 4_000_000_000))
        #expect(try uint32.int64s() == [4_000_000_000])
        let tooLarge = try readInitializer(ProtoBytes().int(T.dims, 1).int(T.dataType, 13).int(T.uint64Data, -1))
        #expect(engineError { _ = try tooLarge.int64s() }?.code == .unsupportedData)
    }

    @Test func scalarAndEmptyTensors() throws {
        let scalar = try readInitializer(ProtoBytes().int(T.dataType, 1).float(T.floatData, 4))
        #expect(scalar.dims.isEmpty)
        #expect(try scalar.floats() == [4])
        let empty = try readInitializer(ProtoBytes().int(T.dims, 0).int(T.dataType, 1).string(T.name, "nothing"))
        #expect(empty.storage == .none)
        #expect(try empty.floats() == [])
    }

    @Test func attributesOfEveryKindWithAndWithoutTypeField() throws {
        let tensor = ProtoBytes().int(T.dims, 1).int(T.dataType, 7).packedInts(T.int64Data, [42])
        let node = try readSingleNode([
            ProtoBytes().string(A.name, "f").float(A.f, 0.5).int(A.type, 1),
            ProtoBytes().string(A.name, "i").int(A.i, -3),  // no type field: inferred from the populated field
            ProtoBytes().string(A.name, "s").string(A.s, "nearest").int(A.type, 3),
            ProtoBytes().string(A.name, "t").message(A.t, tensor).int(A.type, 4),
            ProtoBytes().string(A.name, "floats").packedFloats(A.floats, [1, 2]).int(A.type, 6),
            ProtoBytes().string(A.name, "ints_unpacked").int(A.ints, 3).int(A.ints, -4).int(A.type, 7),
            ProtoBytes().string(A.name, "ints_packed").packedInts(A.ints, [3, -4]).int(A.type, 7),
            ProtoBytes().string(A.name, "ints_empty").int(A.type, 7),
            ProtoBytes().string(A.name, "strings").string(A.strings, "a").string(A.strings, "bc").int(A.type, 8),
            ProtoBytes().string(A.name, "g").message(A.g, singleNodeGraph(attributes: [])).int(A.type, 5),
            ProtoBytes().string(A.name, "tensors").message(A.tensors, tensor).int(A.type, 9),
        ])
        #expect(try node.float("f") == 0.5)
        #expect(try node.int("i") == -3)
        #expect(try node.string("s") == "nearest")
        #expect(try node.tensor("t")?.int64s() == [42])
        #expect(try node.floats("floats") == [1, 2])
        #expect(try node.ints("ints_unpacked") == [3, -4])
        #expect(try node.ints("ints_packed") == [3, -4])
        #expect(try node.ints("ints_empty") == [])
        #expect(try node.strings("strings") == ["a", "bc"])
        #expect(node.attribute(named: "g")?.value == .graph)
        #expect(node.attribute(named: "tensors")?.value == .unsupported("TENSORS"))
        #expect(try node.int("absent") == nil)
        #expect(try node.int("absent", default: 7) == 7)
        #expect(try node.float("absent", default: 1.5) == 1.5)
        #expect(try node.string("absent", default: "x") == "x")
    }

    @Test func unknownFieldsOfEveryWireTypeAreSkipped() throws {
        func withUnknowns(_ message: ProtoBytes) -> ProtoBytes {
            message.int(900, 12345).fixed64(901, 7).data(902, [1, 2, 3]).fixed32(903, 9)
        }
        let tensor = withUnknowns(ProtoBytes().int(T.dims, 1).int(T.dataType, 1).float(T.floatData, 2))
        let node = withUnknowns(
            ProtoBytes().string(ONNXField.Node.opType, "Relu").string(ONNXField.Node.input, "x")
                .message(ONNXField.Node.attribute, withUnknowns(ProtoBytes().string(A.name, "k").int(A.i, 1))))
        let graph = withUnknowns(
            ProtoBytes().message(ONNXField.Graph.node, node).message(ONNXField.Graph.initializer, tensor))
        let model = withUnknowns(
            ProtoBytes().int(ONNXField.Model.irVersion, 9).message(ONNXField.Model.graph, graph)
                .message(ONNXField.Model.opsetImport, withUnknowns(ProtoBytes().int(2, 21))))
        let decoded = try readONNXModel(bytes: model.bytes, source: "unknowns.onnx")
        #expect(decoded.irVersion == 9)
        #expect(decoded.opsetVersion() == 21)
        #expect(decoded.graph.nodes.map(\.opType) == ["Relu"])
        #expect(try decoded.graph.nodes[0].int("k") == 1)
        #expect(try decoded.graph.initializers[0].floats() == [2])
    }

    @Test func bareTensorProtoFromPythonONNX() throws {
        // numpy_helper.from_array(np.array([[1.5, -2], [3, 4.25]], np.float32), "input_0").SerializeToString()
        let tensor = try readONNXTensor(
            bytes: bytes(hex: "0802080210014207696e7075745f304a100000c03f000000c00000404000008840"),
            source: "input_0.pb")
        #expect(tensor.name == "input_0")
        #expect(tensor.dims == [2, 2])
        #expect(tensor.dataType == .float)
        #expect(try tensor.floats() == [1.5, -2, 3, 4.25])
    }

    @Test func opsetLookupTreatsAIONNXAsDefaultDomain() throws {
        let model = ProtoBytes().int(1, 8).message(7, ProtoBytes())
            .message(8, ProtoBytes().string(1, "ai.onnx").int(2, 12)).message(
                8, ProtoBytes().string(1, "com.microsoft").int(2, 1))
        let decoded = try readONNXModel(bytes: model.bytes, source: "m.onnx")
        #expect(decoded.opsetVersion() == 12)
        #expect(decoded.opsetVersion(domain: "com.microsoft") == 1)
        #expect(decoded.opsetVersion(domain: "x") == nil)
    }
}
