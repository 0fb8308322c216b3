import SenteiEngine

/// How channels inside a group are ranked for removal.
package enum ImportanceKind: String, Sendable, CaseIterable {
    /// Mean |activation| on calibration frames, summed over the group's conv nodes (each normalised by its mean).
    case activation
    /// L1 norm of the producers' output rows (and depthwise filters), each normalised by its mean: no data needed.
    case l1
}

package enum Importance {
    /// Per group: a score for each position; higher means more important.
    package static func scores(_ graph: Graph, _ groups: ChannelGroups, kind: ImportanceKind, stats: CalibrationStats?) throws -> [Int: [Double]] {
        if kind == .activation, stats == nil {
            throw PruneError(.invalidCalibration, "activation importance needs calibration statistics")
        }
        var result: [Int: [Double]] = [:]
        for group in groups.groups where group.isPrunable {
            var score = [Double](repeating: 0, count: group.size)
            for member in group.members {
                guard case .conv(let conv) = graph[member.node].op else { continue }
                let perChannel: [Double]
                switch kind {
                case .activation:
                    guard let values = stats?.meanAbs[member.node.index] else { continue }
                    perChannel = values
                case .l1:
                    let perRow = conv.weights.count / conv.outChannels
                    perChannel = (0..<conv.outChannels).map { r in
                        conv.weights[(r * perRow)..<((r + 1) * perRow)].reduce(0) { $0 + Double(abs($1)) }
                    }
                }
                let mean = perChannel.reduce(0, +) / Double(max(perChannel.count, 1))
                guard mean > 0 else { continue }
                for (position, channel) in member.channels.enumerated() { score[position] += perChannel[channel] / mean }
            }
            result[group.id] = score
        }
        return result
    }

    /// The positions to keep when `keep` of the group's channels survive: the highest-scoring ones, in channel order.
    package static func keep(_ keep: Int, scores: [Double]) -> [Int] {
        let ranked = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        return ranked.prefix(keep).sorted()
    }
}
