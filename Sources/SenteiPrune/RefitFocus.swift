import SenteiEngine

/// Where the unpruned model sees objects in one frame, as weights for the layer-by-layer refit's positions
/// (`PruneOptions.refitFocus`). Unweighted, the refit's least squares is ruled by background: most positions of a
/// frame show nothing, and there the head's logits are large and negative, so the fit spends its few kept channels on
/// reproducing "nothing here" values that any strongly negative logit would serve as well.
///
/// Every feature map of a dense detector covers the same (letterboxed) input, so a position of an H×W map and a cell
/// of a stride's anchor grid are matched by their relative place in the input.
package struct FocusMap: Sendable, Equatable {
    /// One stride's anchor grid: per cell the highest detection score within its 3×3 neighbourhood (a feature there
    /// also feeds the neighbouring anchors through the head's 3×3 convs).
    package struct Grid: Sendable, Equatable {
        package var height: Int
        package var width: Int
        package var scores: [Float]
    }

    package var grids: [Grid]

    /// The map of one output [1, anchors, 5 + classes] with sigmoided objectness and class scores (YOLOX's export):
    /// per anchor objectness × its best class. `segments` are the strides' anchor ranges (`OutputShare.anchorSegments`),
    /// each row-major on a grid of the input's aspect ratio.
    package static func detectionScores(output: Tensor, segments: [Range<Int>], inputHeight: Int, inputWidth: Int) throws -> FocusMap {
        guard output.shape.count == 3, output.shape[0] == 1, output.shape[2] > 5 else {
            throw PruneError(.unsupportedOption, "refit focus needs a detection output [1, anchors, 5 + classes], got \(output.shape)")
        }
        let width = output.shape[2], anchors = output.shape[1]
        guard inputHeight > 0, inputWidth > 0 else {
            throw PruneError(.unsupportedOption, "refit focus needs an image input, got \(inputHeight)×\(inputWidth)")
        }
        var grids: [Grid] = []
        for segment in segments {
            guard segment.lowerBound >= 0, segment.upperBound <= anchors, !segment.isEmpty else {
                throw PruneError(.unsupportedOption, "refit focus: anchor range \(segment) outside the output's \(anchors) anchors")
            }
            let count = segment.count
            let rows = Int((Double(count) * Double(inputHeight) / Double(inputWidth)).squareRoot().rounded())
            guard rows > 0, count % rows == 0 else {
                throw PruneError(.unsupportedOption, "refit focus: \(count) anchors do not form a grid of the input's \(inputHeight)×\(inputWidth) aspect")
            }
            let columns = count / rows
            var cell = [Float](repeating: 0, count: count)
            for (k, a) in segment.enumerated() {
                let row = a * width
                var best: Float = 0
                for c in 5..<width { best = max(best, output.data[row + c]) }
                cell[k] = output.data[row + 4] * best
            }
            var spread = cell
            for y in 0..<rows {
                for x in 0..<columns {
                    var best: Float = 0
                    for dy in -1...1 where (0..<rows).contains(y + dy) {
                        for dx in -1...1 where (0..<columns).contains(x + dx) { best = max(best, cell[(y + dy) * columns + x + dx]) }
                    }
                    spread[y * columns + x] = best
                }
            }
            grids.append(Grid(height: rows, width: columns, scores: spread))
        }
        return FocusMap(grids: grids)
    }

    /// Weights of the listed positions (row-major indices) of an H×W map: 1 + strength × the highest score any
    /// stride's grid has at the position's centre.
    package func weights(height: Int, width: Int, positions: [Int], strength: Double) -> [Float] {
        positions.map { p in
            let v = (Double(p / width) + 0.5) / Double(height), u = (Double(p % width) + 0.5) / Double(width)
            var score: Float = 0
            for grid in grids {
                let y = min(Int(v * Double(grid.height)), grid.height - 1), x = min(Int(u * Double(grid.width)), grid.width - 1)
                score = max(score, grid.scores[y * grid.width + x])
            }
            return Float(1 + strength * Double(score))
        }
    }
}
