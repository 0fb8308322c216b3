/// The JSON lines `sentei detect --json` and `sentei eval --json` print. Written by hand so key order is fixed and
/// numbers keep full precision (the reference check re-reads them).

package func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

package func jsonNumber(_ v: Double) -> String { v.isFinite ? "\(v)" : "null" }

extension ImageDetections {
    /// `{"image": …, "width": …, "height": …, "detections": [{"label", "class", "score", "box": [x1, y1, x2, y2]}]}`
    public var jsonLine: String {
        let dets = detections.map { d in
            "{\"label\": \(jsonString(d.label)), \"class\": \(d.classIndex), \"score\": \(jsonNumber(d.score)), "
                + "\"box\": [\([d.box.x1, d.box.y1, d.box.x2, d.box.y2].map(jsonNumber).joined(separator: ", "))]}"
        }
        return "{\"image\": \(jsonString(image)), \"width\": \(width), \"height\": \(height), "
            + "\"detections\": [\(dets.joined(separator: ", "))]}"
    }
}

extension EvaluationResult {
    /// `{"map50_95": …, "map50": …, "images": …, "per_class": {label: AP@[.5:.95]}}`, APs in 0–1.
    public func jsonLine(labels: [String]) -> String {
        let perClassText = perClass.keys.sorted().map { c in
            "\(jsonString(c < labels.count ? labels[c] : "\(c)")): \(jsonNumber(perClass[c]!))"
        }
        return "{\"map50_95\": \(jsonNumber(map50_95)), \"map50\": \(jsonNumber(map50)), \"images\": \(images), "
            + "\"per_class\": {\(perClassText.joined(separator: ", "))}}"
    }
}
