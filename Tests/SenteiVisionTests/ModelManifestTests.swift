import Testing
import SenteiVision

@Suite struct ModelManifestTests {
    @Test func yoloxNanoManifest() throws {
        let m = try loadYOLOXManifest()
        #expect(m.input.name == "images" && m.input.shape == [1, 3, 416, 416] && m.input.colourOrder == .bgr)
        #expect(m.output.name == "output" && m.output.shape == [1, 3549, 85] && m.head.kind == .yolox)
        #expect(m.classCount == 80 && m.classNames.count == 80 && m.classNames[0] == "person" && m.classNames[79] == "toothbrush")
        let spec = m.letterboxSpec
        #expect(spec.valueScale == 1 && spec.padValue == 114 && spec.placement == .topLeft)
        try m.verify(inputs: [("images", [1, 3, 416, 416])], outputs: [("output", [1, 3549, 85])])
    }

    @Test func ultralyticsManifest() throws {
        let m = try ModelManifest.load(path: packageRoot + "/Models/yolov8n.json")
        #expect(m.head.kind == .ultralytics && m.classCount == 80 && m.letterboxSpec.valueScale == 1.0 / 255)
        #expect(m.letterboxSpec.placement == .center && m.letterboxSpec.colourOrder == .rgb)
    }

    @Test func verifyNamesTheField() throws {
        let m = try loadYOLOXManifest()
        let cases: [([(name: String, shape: [Int])], [(name: String, shape: [Int])], String)] = [
            ([("input", [1, 3, 416, 416])], [("output", [1, 3549, 85])], "input.name"),
            ([("images", [1, 3, 640, 640])], [("output", [1, 3549, 85])], "input.shape"),
            ([("images", [1, 3, 416, 416])], [("output0", [1, 3549, 85])], "output.name"),
            ([("images", [1, 3, 416, 416])], [("output", [1, 85, 3549])], "output.shape"),
        ]
        for (inputs, outputs, field) in cases {
            let error = #expect(throws: VisionError.self) { try m.verify(inputs: inputs, outputs: outputs) }
            #expect(error?.code == .manifestMismatch && error?.message.contains("'\(field)'") == true, "\(error?.message ?? "")")
        }
    }

    @Test func malformedManifestsNameTheField() throws {
        let good = String(decoding: try readFile(packageRoot + "/Models/yolox_nano.json"), as: UTF8.self)
        let cases: [(String, String)] = [
            (good.replacing("\"colourOrder\": \"BGR\",", with: ""), "input.colourOrder"),
            (good.replacing("\"BGR\"", with: "\"YUV\""), "input.colourOrder"),
            (good.replacing("\"strides\": [8, 16, 32]", with: "\"strides\": [8, 16]"), "head.strides"),
            (good.replacing("\"toothbrush\"", with: "\"toothbrush\", \"extra\""), "labels"),
            (good.replacing("\"NAC\"", with: "\"NCA\""), "output.layout"),
            (good.replacing("\"NCHW\"", with: "\"NHWC\""), "input.layout"),
            ("{", ""),
        ]
        for (text, field) in cases {
            let error = #expect(throws: VisionError.self) { try ModelManifest.decode(Array(text.utf8), name: "m.json") }
            #expect(error?.code == .invalidManifest)
            #expect(error?.message.contains("m.json") == true)
            if !field.isEmpty { #expect(error?.message.contains(field) == true, "\(error?.message ?? "") should name \(field)") }
        }
    }

    @Test func classNamesResolve() throws {
        let labels = try loadYOLOXManifest().classNames
        #expect(try DetectionOptions.classIndices(["person", " car"], labels: labels) == [0, 2])
        let error = #expect(throws: VisionError.self) { try DetectionOptions.classIndices(["persn"], labels: labels) }
        #expect(error?.code == .unknownClass && error?.message.contains("persn") == true)
    }
}
