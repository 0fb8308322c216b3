import Foundation

/// The distillation objective on raw head tensors (logits, see `LogitGraph`), per image, normalised by the sum of the
/// teacher's objectness so that a frame with many objects does not outweigh one with few:
///   KL(σ(student obj) ‖ σ(teacher obj)) over all anchors
/// + teacher-objectness-weighted KL of the class logits
/// + `boxWeight` × teacher-objectness-weighted L1 of the raw box regressions,
/// plus `featureWeight` × the relative squared error of matched neck features. KL is binary cross-entropy minus
/// the teacher's entropy: the same gradient, and 0 when the student matches.
package struct DistillationLoss: Sendable {
    package var boxWeight: Float = 2
    package var featureWeight: Float = 1

    package struct Terms: Sendable {
        package var objectness = 0.0
        package var classes = 0.0
        package var box = 0.0
        package var features = 0.0
        package var total: Double { objectness + classes + box + features }

        package static func + (a: Terms, b: Terms) -> Terms {
            Terms(objectness: a.objectness + b.objectness, classes: a.classes + b.classes, box: a.box + b.box, features: a.features + b.features)
        }

        package func scaled(_ s: Double) -> Terms {
            Terms(objectness: objectness * s, classes: classes * s, box: box * s, features: features * s)
        }
    }

    package init() {}

    /// Loss of one YOLOX-layout output [1, anchors, 5 + classes] (logits in channels 4…), and dLoss/dStudent·`scale`
    /// written into `gradient`.
    package func head(student: UnsafeBufferPointer<Float>, teacher: UnsafeBufferPointer<Float>, shape: [Int], scale: Float,
                      gradient: inout [Float]) -> Terms {
        precondition(student.count == teacher.count && gradient.count == student.count, "distillation: size mismatch")
        let width = shape[2], anchors = shape[1]
        var norm = 0.0
        for a in 0..<anchors { norm += Double(Self.sigmoid(teacher[a * width + 4])) }
        norm = max(norm, 1)
        let inverse = Float(1 / norm) * scale
        var terms = Terms()
        for a in 0..<anchors {
            let row = a * width
            let tObj = Self.sigmoid(teacher[row + 4])
            terms.objectness += Self.kl(student[row + 4], tObj)
            gradient[row + 4] = (Self.sigmoid(student[row + 4]) - tObj) * inverse
            var classes = 0.0
            for c in 5..<width {
                let t = Self.sigmoid(teacher[row + c])
                classes += Self.kl(student[row + c], t)
                gradient[row + c] = tObj * (Self.sigmoid(student[row + c]) - t) * inverse
            }
            terms.classes += Double(tObj) * classes
            var box = 0.0
            for k in 0..<4 {
                let d = student[row + k] - teacher[row + k]
                box += Double(abs(d))
                gradient[row + k] = boxWeight * tObj * (d > 0 ? 1 : d < 0 ? -1 : 0) * inverse
            }
            terms.box += Double(boxWeight) * Double(tObj) * box
        }
        return terms.scaled(1 / norm)
    }

    /// featureWeight · Σ(s − t)² / Σt², gradient·`scale` into `gradient`.
    package func feature(student: UnsafeBufferPointer<Float>, teacher: UnsafeBufferPointer<Float>, scale: Float,
                         gradient: inout [Float]) -> Double {
        precondition(student.count == teacher.count && gradient.count == student.count, "distillation: size mismatch")
        var energy = 1e-6, error = 0.0
        for j in 0..<teacher.count {
            energy += Double(teacher[j]) * Double(teacher[j])
            let d = Double(student[j] - teacher[j])
            error += d * d
        }
        let factor = Float(2 * Double(featureWeight) / energy) * scale
        for j in 0..<teacher.count { gradient[j] = factor * (student[j] - teacher[j]) }
        return Double(featureWeight) * error / energy
    }

    static func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

    /// Binary cross-entropy of logit z against soft target t, minus the entropy of t (≥ 0, 0 at σ(z) = t).
    static func kl(_ z: Float, _ t: Float) -> Double {
        let zd = Double(z), td = Double(t)
        let softplus = max(zd, 0) + log1p(exp(-abs(zd)))
        var entropy = 0.0
        if td > 0 { entropy -= td * log(td) }
        if td < 1 { entropy -= (1 - td) * log(1 - td) }
        return max(softplus - td * zd - entropy, 0)
    }
}
