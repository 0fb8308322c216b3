import Testing

@testable import SenteiEngine

/// Bad input of every kind gives a typed error naming the file and the field, never a crash.
@Suite struct ONNXReaderErrorTests {
    typealias T = ONNXField.Tensor
    typealias A = ONNXField.Attribute

    @Test func lengthBeyondTheEndNamesThePathAndTheNumbers() throws {
        // node[1].attribute[0] claims a 4096-byte string with 3 bytes left in the attribute.
        let badAttribute = ProtoBytes().string(A.name, "k").key(A.s, 2).raw(ProtoBytes.varint(4096)).raw([1, 2, 3])
        let good = ProtoBytes().string(ONNXField.Node.opType, "Relu")
        let bad = ProtoBytes().string(ONNXField.Node.opType, "Relu").message(ONNXField.Node.attribute, badAttribute)
        let graph = ProtoBytes().message(ONNXField.Graph.node, good).message(ONNXField.Graph.node, bad)
        let error = engineError { _ = try readONNXModel(bytes: modelBytes(graph: graph), source: "yolox_nano.onnx") }
        #expect(error?.code == .malformedModel)
        let message = error?.message ?? ""
        #expect(message.hasPrefix("yolox_nano.onnx: ModelProto.graph.node[1].attribute[0]"))
        #expect(message.contains("length 4096 exceeds the 3 bytes left"))
    }

    @Test func notAnONNXModel() {
        let inputs: [(String, [UInt8])] = [
            ("photo.jpg", [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46]),
            ("image.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
            ("notes.txt", Array("hello world, this is not a model\n".utf8)),
            ("config.json", Array("{\"model\": 1}".utf8)),
            ("empty.onnx", []),
        ]
        for (name, bytes) in inputs {
            let error = engineError { _ = try readONNXModel(bytes: bytes, source: name) }
            #expect(error?.code == .malformedModel, "\(name)")
            #expect(error?.message.hasPrefix("\(name): ") == true, "\(name)")
            #expect(error?.message.contains("not an ONNX model") == true, "\(name): \(error?.message ?? "no error")")
        }
    }

    @Test func missingGraphAndMissingOpsetAreRefused() {
        let noGraph = ProtoBytes().int(ONNXField.Model.irVersion, 8).message(
            ONNXField.Model.opsetImport, ProtoBytes().int(2, 13))
        let error = engineError { _ = try readONNXModel(bytes: noGraph.bytes, source: "m.onnx") }
        #expect(error?.code == .malformedModel)
        #expect(error?.message.contains("no graph") == true)
        let noOpset = ProtoBytes().int(ONNXField.Model.irVersion, 8).message(ONNXField.Model.graph, ProtoBytes())
        #expect(
            engineError { _ = try readONNXModel(bytes: noOpset.bytes, source: "m.onnx") }?.message.contains(
                "no opset_import") == true)
    }

    @Test func everyTruncationOfAValidModelThrows() throws {
        let model = TinyModel.bytes
        _ = try readONNXModel(bytes: model, source: "tiny.onnx")
        for length in 0..<model.count {
            let error = engineError { _ = try readONNXModel(bytes: Array(model[..<length]), source: "tiny.onnx") }
            #expect(error?.code == .malformedModel, "truncated to \(length) bytes")
        }
    }

    @Test func everyTruncationOfATensorThrowsOrReadsFewerFields() throws {
        // A bare TensorProto has no required field after its data, so a cut at a field boundary is a valid, smaller
        // tensor; what must hold is: no crash, and any tensor read back still validates its element count.
        let tensor = bytes(hex: "0802080210014207696e7075745f304a100000c03f000000c00000404000008840")
        for length in 0..<tensor.count {
            let truncated = Array(tensor[..<length])
            if let decoded = try? readONNXTensor(bytes: truncated, source: "input_0.pb") {
                let values = try? decoded.floats()
                #expect(values == nil || values?.count == decoded.elementCount, "truncated to \(length) bytes")
            }
        }
    }

    @Test func malformedVarintsAndWireTypes() {
        let cases: [(String, [UInt8], String)] = [
            ("11-byte varint", [0x08] + [UInt8](repeating: 0xFF, count: 10) + [0x01], "does not fit in 64 bits"),
            ("group", ProtoBytes().int(1, 8).key(7, 3).bytes, "group"),
            ("wire type 6", ProtoBytes().int(1, 8).key(7, 6).bytes, "invalid wire type 6"),
            ("field 0", [0x08, 0x08, 0x00, 0x00], "invalid field number 0"),
            ("ir_version as string", ProtoBytes().int(1, 8).string(1, "8").bytes, "ir_version"),
            ("graph as varint", ProtoBytes().int(1, 8).int(7, 1).bytes, "graph"),
        ]
        for (what, input, expected) in cases {
            let error = engineError { _ = try readONNXModel(bytes: input, source: "m.onnx") }
            #expect(error?.code == .malformedModel, "\(what)")
            #expect(error?.message.contains(expected) == true, "\(what): \(error?.message ?? "no error")")
        }
    }

    @Test func packedFixedWidthLengthMustBeAMultipleOfTheElementSize() {
        let tensor = ProtoBytes().int(T.dims, 1).int(T.dataType, 1).data(T.floatData, [0, 0, 0x80, 0x3F, 0])
        let error = engineError { _ = try readInitializer(tensor) }
        #expect(error?.code == .malformedModel)
        #expect(error?.message.contains("not a multiple of 4") == true)
    }

    @Test func externalDataIsRefusedNamingTheTensor() {
        let byLocation = ProtoBytes().int(T.dims, 4).int(T.dataType, 1).string(T.name, "conv.weight").int(
            T.dataLocation, 1)
        let byEntries = ProtoBytes().int(T.dims, 4).int(T.dataType, 1).string(T.name, "conv.weight")
            .message(T.externalData, ProtoBytes().string(1, "location").string(2, "weights.bin"))
        for tensor in [byLocation, byEntries] {
            let error = engineError { _ = try readInitializer(tensor) }
            #expect(error?.code == .externalData)
            #expect(error?.message.contains("'conv.weight'") == true)
            #expect(error?.message.hasPrefix("t.onnx: ModelProto.graph.initializer[0]") == true)
        }
    }

    @Test func negativeOrAbsurdDimsAreShapeMismatches() {
        let cases: [[Int64]] = [[2, -1], [1 << 20, 1 << 20], [1 << 62, 4], [Int64.max, Int64.max]]
        for dims in cases {
            let tensor = ProtoBytes().packedInts(T.dims, dims).int(T.dataType, 1).string(T.name, "huge")
            let error = engineError { _ = try readInitializer(tensor) }
            #expect(error?.code == .shapeMismatch, "\(dims)")
            #expect(error?.message.contains("'huge'") == true, "\(dims)")
        }
    }

    @Test func elementCountMustMatchDims() throws {
        let shortRaw = try readInitializer(
            ProtoBytes().int(T.dims, 3).int(T.dataType, 1).data(T.rawData, [0, 0, 0, 0]).string(T.name, "w"))
        let rawError = engineError { _ = try shortRaw.floats() }
        #expect(rawError?.code == .shapeMismatch)
        #expect(rawError?.message.contains("raw_data is 4 bytes, dims need 12") == true)
        let longTyped = try readInitializer(
            ProtoBytes().int(T.dims, 1).int(T.dataType, 7).packedInts(T.int64Data, [1, 2]))
        #expect(engineError { _ = try longTyped.int64s() }?.code == .shapeMismatch)
        let noData = try readInitializer(ProtoBytes().int(T.dims, 5).int(T.dataType, 1).string(T.name, "hollow"))
        #expect(engineError { _ = try noData.floats() }?.message.contains("'hollow'") == true)
        // Absurd dims with no data: refused by count, and nothing of the dims' size is allocated.
        let bigButEmpty = try readInitializer(ProtoBytes().packedInts(T.dims, [1 << 15, 1 << 15]).int(T.dataType, 1))
        #expect(engineError { _ = try bigButEmpty.floats() }?.code == .malformedModel)
    }

    @Test func twoDataFieldsOrAMismatchedFieldAreRefused() throws {
        let both = ProtoBytes().int(T.dims, 1).int(T.dataType, 1).float(T.floatData, 1).data(T.rawData, [0, 0, 0, 0])
        #expect(engineError { _ = try readInitializer(both) }?.message.contains("float_data and raw_data") == true)
        let wrongField = try readInitializer(
            ProtoBytes().int(T.dims, 1).int(T.dataType, 1).packedInts(T.int64Data, [1]))
        #expect(engineError { _ = try wrongField.floats() }?.code == .malformedModel)
        let stringTensor = try readInitializer(ProtoBytes().int(T.dims, 1).int(T.dataType, 8).string(6, "abc"))
        #expect(engineError { _ = try stringTensor.floats() }?.code == .unsupportedData)
        #expect(
            engineError { _ = try readInitializer(ProtoBytes().int(T.dims, 1).int(T.dataType, 99)) }?.message.contains(
                "data_type 99") == true)
    }

    @Test func attributeTypeMustAgreeWithItsValue() {
        let mismatch = ProtoBytes().string(A.name, "axis").int(A.type, 2).float(A.f, 1)
        let error = engineError { _ = try readSingleNode([mismatch]) }
        #expect(error?.code == .malformedModel)
        #expect(error?.message.contains("attribute 'axis' has type INT but a FLOAT value") == true)
        let untyped = ProtoBytes().string(A.name, "odd")
        #expect(
            engineError { _ = try readSingleNode([untyped]) }?.message.contains("not exactly one value field") == true)
        let unknownType = ProtoBytes().string(A.name, "odd").int(A.type, 77)
        #expect(engineError { _ = try readSingleNode([unknownType]) }?.message.contains("unknown type 77") == true)
    }

    @Test func typedGettersNameFileNodeAndAttribute() throws {
        let node = try readSingleNode(
            [ProtoBytes().string(A.name, "pads").packedInts(A.ints, [1, 1]).int(A.type, 7)], source: "net.onnx")
        let error = engineError { _ = try node.int("pads") }
        #expect(error?.code == .malformedModel)
        #expect(error?.message == "net.onnx: node 'n0' (Op): attribute 'pads' is INTS, expected INT")
        #expect(engineError { _ = try node.float("pads") }?.message.contains("expected FLOAT") == true)
        #expect(engineError { _ = try node.string("pads") }?.message.contains("expected STRING") == true)
        #expect(engineError { _ = try node.tensor("pads") }?.message.contains("expected TENSOR") == true)
        #expect(try node.ints("pads") == [1, 1])
    }

    @Test func sparseInitializerIsRefusedByName() {
        let sparse = ProtoBytes().message(1, ProtoBytes().int(T.dataType, 1).string(T.name, "sparse_w"))
        let graph = ProtoBytes().message(ONNXField.Graph.sparseInitializer, sparse)
        let error = engineError { _ = try readONNXModel(bytes: modelBytes(graph: graph), source: "s.onnx") }
        #expect(error?.code == .unsupportedData)
        #expect(error?.message.contains("'sparse_w'") == true)
    }

    @Test func fileErrorsAreIOErrors() {
        let missing = engineError { _ = try readONNXModel(path: "/nonexistent/dir/model.onnx") }
        #expect(missing?.code == .io)
        #expect(missing?.message.hasPrefix("model.onnx: ") == true)
        #expect(engineError { _ = try readONNXModel(path: "/tmp") }?.code == .io)
    }
}
