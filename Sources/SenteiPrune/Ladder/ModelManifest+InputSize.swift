import SenteiVision

extension ModelManifest {
    /// The same detector at a square input of `size` pixels: input shape and the head's anchor count follow.
    package func atInputSize(_ size: Int) throws -> ModelManifest {
        let strides = head.strides ?? [8, 16, 32]
        let largest = strides.max() ?? 32
        guard size > 0, size % largest == 0 else {
            throw PruneError(.invalidPlan, "input size \(size) for \(name) must be a positive multiple of \(largest)")
        }
        var copy = self
        copy.input.shape = [1, 3, size, size]
        let anchors = strides.reduce(0) { $0 + (size / $1) * (size / $1) }
        switch output.layout {
        case .nac: copy.output.shape = [1, anchors, output.shape[2]]
        case .nca: copy.output.shape = [1, output.shape[1], anchors]
        }
        try copy.validate(name: "\(name)@\(size)")
        return copy
    }
}

extension ModelManifest {
    /// The detector manifest of one ladder rung: its input size and, for a class-pruned head, its classes.
    package func forLevel(_ level: LadderManifest.Level) throws -> ModelManifest {
        var copy = try atInputSize(level.inputSize)
        if let classes = level.classes {
            guard head.kind == .yolox, output.layout == .nac else {
                throw PruneError(.unsupportedExport, "\(name): class-pruned levels need a YOLOX head")
            }
            copy.labels = classes
            copy.labelsFile = nil
            copy.output.shape[2] = 5 + classes.count
            try copy.validate(name: "\(name)@\(level.name)")
        }
        return copy
    }

    /// Model-order indices of `level`'s classes (nil when the head keeps every class).
    package func classIndices(of level: LadderManifest.Level) throws -> [Int]? {
        try level.classes.map { names in
            try names.map { name in
                guard let index = classNames.firstIndex(of: name) else {
                    throw PruneError(.invalidPlan, "\(self.name) has no class '\(name)'")
                }
                return index
            }
        }
    }
}
