import Foundation

/// How parameters move: Adam (decoupled weight decay, as AdamW) or SGD with momentum, on a warm-up + cosine learning
/// rate schedule, with the gradient clipped to a global norm first. Weight decay applies to conv weights only (not
/// biases, scales or shifts).
package struct OptimizerSettings: Sendable, Equatable, Codable {
    package enum Kind: String, Sendable, Codable, CaseIterable { case adam, sgd }
    package var kind: Kind = .adam
    package var learningRate: Float = 1e-4
    package var beta1: Float = 0.9
    package var beta2: Float = 0.999
    package var epsilon: Float = 1e-8
    package var momentum: Float = 0.9
    package var weightDecay: Float = 0
    /// Linear warm-up from 0 over this many steps, then cosine decay to `finalFraction`·learningRate at `totalSteps`.
    package var warmupSteps: Int = 20
    package var totalSteps: Int = 1000
    package var finalFraction: Float = 0.05
    /// Global L2 norm the gradient is clipped to (0 = no clipping).
    package var clipNorm: Float = 10

    package init() {}

    package func learningRate(at step: Int) -> Float {
        if step < warmupSteps { return learningRate * Float(step + 1) / Float(warmupSteps) }
        let span = max(totalSteps - warmupSteps, 1)
        let t = min(Float(step - warmupSteps) / Float(span), 1)
        let cosine = 0.5 * (1 + cos(Float.pi * t))
        return learningRate * (finalFraction + (1 - finalFraction) * cosine)
    }
}

/// Optimiser state over a `ParameterSet`'s flat layout: fp32 master weights are the set's values; moments live here.
package struct Optimizer: Sendable {
    package var settings: OptimizerSettings
    /// Updates applied so far.
    package var step: Int = 0
    package var firstMoment: [Float]
    package var secondMoment: [Float]
    let decays: [Bool]

    package init(settings: OptimizerSettings, parameters: ParameterSet) {
        self.settings = settings
        firstMoment = [Float](repeating: 0, count: parameters.count)
        secondMoment = settings.kind == .adam ? [Float](repeating: 0, count: parameters.count) : []
        var decays = [Bool](repeating: false, count: parameters.count)
        for e in parameters.entries where e.role == .weight {
            for j in e.offset..<(e.offset + e.count) { decays[j] = true }
        }
        self.decays = decays
    }

    /// One update of `values` from `gradients` (already averaged over the batch). Returns the gradient norm before
    /// clipping and the learning rate used.
    @discardableResult
    package mutating func update(_ values: inout [Float], gradients: [Float]) -> (gradientNorm: Float, learningRate: Float) {
        precondition(values.count == gradients.count && values.count == firstMoment.count, "optimizer: layout mismatch")
        var squares: Double = 0
        for g in gradients { squares += Double(g) * Double(g) }
        let norm = Float(squares.squareRoot())
        let clip: Float = settings.clipNorm > 0 && norm > settings.clipNorm ? settings.clipNorm / norm : 1
        let lr = settings.learningRate(at: step)
        step += 1
        let s = settings
        switch s.kind {
        case .adam:
            let c1 = 1 - powf(s.beta1, Float(step)), c2 = 1 - powf(s.beta2, Float(step))
            for j in values.indices {
                let g = gradients[j] * clip
                firstMoment[j] = s.beta1 * firstMoment[j] + (1 - s.beta1) * g
                secondMoment[j] = s.beta2 * secondMoment[j] + (1 - s.beta2) * g * g
                let mHat = firstMoment[j] / c1, vHat = secondMoment[j] / c2
                var update = mHat / (vHat.squareRoot() + s.epsilon)
                if decays[j] { update += s.weightDecay * values[j] }
                values[j] -= lr * update
            }
        case .sgd:
            for j in values.indices {
                var g = gradients[j] * clip
                if decays[j] { g += s.weightDecay * values[j] }
                firstMoment[j] = s.momentum * firstMoment[j] + g
                values[j] -= lr * firstMoment[j]
            }
        }
        return (norm, lr)
    }
}
