import Testing
@testable import SenteiEngine

/// Malformed graphs end with one clear error naming the node, its op and the reason.
@Suite struct ImporterErrorTests {
    func importError(_ build: (inout ONNXGraphBuilder) throws -> Void) throws -> EngineError? {
        var b = ONNXGraphBuilder()
        try build(&b)
        do {
            _ = try b.graph()
            return nil
        } catch let error as EngineError {
            return error
        }
    }

    @Test func unsupportedOpNamesNodeAndOp() throws {
        let error = try importError { b in
            b.input("x", [1, 3])
            b.node("LSTM", ["x"], ["y"])
            b.output("y")
        }
        #expect(error?.code == .unsupportedOp)
        #expect(error?.message.contains("LSTM_0") == true)
        #expect(error?.message.contains("(LSTM, opset 13)") == true)
    }

    @Test func missingInitializerIsADanglingEdge() throws {
        let error = try importError { b in
            b.input("x", [1, 3, 4, 4])
            b.node("Conv", ["x", "weights_that_do_not_exist"], ["y"])
            b.output("y")
        }
        #expect(error?.code == .danglingEdge)
        #expect(error?.message.contains("weights_that_do_not_exist") == true)
    }

    @Test func cycleIsRefused() throws {
        let error = try importError { b in
            b.input("x", [1, 4])
            b.node("Add", ["x", "b"], ["a"])
            b.node("Relu", ["a"], ["b"])
            b.output("b")
        }
        #expect(error?.code == .danglingEdge)
        #expect(error?.message.contains("cycle") == true)
    }

    @Test func shapeMismatchNamesBothShapes() throws {
        let error = try importError { b in
            b.input("x", [1, 3, 4, 4])
            try b.floats("w", [8, 5, 3, 3], [Float](repeating: 0, count: 360))
            b.node("Conv", ["x", "w"], ["y"])
            b.output("y")
        }
        #expect(error?.code == .shapeMismatch)
        #expect(error?.message.contains("[8, 5, 3, 3]") == true)
    }

    @Test func absurdOrNegativeDimsAreRefused() throws {
        let negative = try importError { b in
            b.input("x", [1, 3, 4, 4])
            try b.ints("shape", [1, -5, 16])
            b.node("Reshape", ["x", "shape"], ["y"])
            b.output("y")
        }
        #expect(negative?.code == .shapeMismatch)
        let huge = try importError { b in
            b.input("x", [1, 1 << 20, 1 << 20])
            b.node("Relu", ["x"], ["y"])
            b.output("y")
        }
        #expect(huge?.code == .shapeMismatch)
        let hugeResize = try importError { b in
            b.input("x", [1, 4, 8, 8])
            try b.floats("roi", [0], [])
            try b.floats("scales", [4], [1, 1, 9000, 9000])
            b.node("Resize", ["x", "roi", "scales"], ["y"], ["mode": .string("nearest")])
            b.output("y")
        }
        #expect(hugeResize?.code == .shapeMismatch)
    }

    @Test func runtimeShapeInputsAreRefused() throws {
        let error = try importError { b in
            b.input("x", [1, 12])
            b.input("s", [2])
            b.node("Reshape", ["x", "s"], ["y"])
            b.output("y")
        }
        #expect(error?.code == .unsupportedOp)
        #expect(error?.message.contains("must be a constant") == true)
    }

    @Test func nonNearestResizeIsRefused() throws {
        let error = try importError { b in
            b.input("x", [1, 1, 2, 2])
            try b.floats("roi", [0], [])
            try b.floats("scales", [4], [1, 1, 2, 2])
            b.node("Resize", ["x", "roi", "scales"], ["y"], ["mode": .string("linear")])
            b.output("y")
        }
        #expect(error?.code == .unsupportedOp)
        #expect(error?.message.contains("linear") == true)
    }

    @Test func symbolicInputNeedsAShape() throws {
        var b = ONNXGraphBuilder()
        b.inputs.append(ONNXValueInfo(name: "x", elemType: .float, shape: [.value(1), .value(3), .param("h"), .param("w")]))
        b.node("Relu", ["x"], ["y"])
        b.output("y")
        #expect(throws: EngineError.self) { try b.graph() }
        let graph = try b.graph(inputShapes: ["x": [1, 3, 32, 48]])
        #expect(graph[graph.outputs[0].node].shape == [1, 3, 32, 48])
    }
}
