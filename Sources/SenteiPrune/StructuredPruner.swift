import Foundation
import SenteiEngine

/// Settings of one pruning run.
package struct PruneOptions: Sendable {
    /// Fraction of the model's MACs to remove (0.25 = a 25% cut).
    package var macsCut: Double
    /// Every pruned group keeps a multiple of this many channels (the kernels' vector width).
    package var roundTo: Int = 8
    /// No group loses more than this fraction of its channels ("never starve" a layer).
    package var maxGroupCut: Double = 0.75
    /// Lowers a group's limit by the share of the output that depends on it (`OutputShare`): the limit is
    /// maxGroupCut × (1 − shareProtection × share), so groups every anchor reads (backbone, neck, the stride-8 head)
    /// keep more than the head of a coarse stride. 0 = the same limit everywhere.
    package var shareProtection: Double = 0
    /// Cut fractions at which each group's sensitivity is measured (rounded to `roundTo`).
    package var levels: [Double] = [0.125, 0.25, 0.375, 0.5, 0.625, 0.75]
    package var importance: ImportanceKind = .activation
    /// How the layers downstream of removed channels are refit (see `ReconstructionKind`).
    package var reconstruction: ReconstructionKind = .best
    /// Calibration frames (the first ones) run through the pruned network by the sequential refit.
    package var refitFrames: Int = 64
    /// Sequential refit of every conv downstream of a cut (true) or only of the 1×1 convs that lost inputs (false).
    package var refitDownstream: Bool = true
    /// Ridge of the sequential refit's least squares, relative to the mean diagonal of the input's Gram matrix.
    package var refitRidge: Double = 1e-3
    /// The sequential refit also sees every refit frame mirrored left to right (twice the data, same images).
    package var refitMirror: Bool = false
    /// The sequential refit weighs each position by 1 + refitFocus × the unpruned model's detection score near it in
    /// that frame (`FocusMap`), so object positions, not background, decide the fit. 0 = every position alike.
    package var refitFocus: Double = 0
    /// > 1: the sequential refit also sees every refit frame's top-left 1/refitZoom of each side enlarged back to full
    /// size (objects at another scale, same images; a top-left letterbox keeps the picture there). 1 = off.
    package var refitZoom: Double = 1
    /// False = no refit at all; true = the per-cut best refit unless another kind is already chosen.
    package var reconstruct: Bool {
        get { reconstruction != .none }
        set { reconstruction = newValue ? (reconstruction == .none ? .best : reconstruction) : .none }
    }
    /// Measure per-group sensitivity and cut where it costs least; false = the same fraction everywhere (uniform).
    package var sensitivityAware: Bool = true
    /// The head error averages each output stride's own relative error (`OutputShare.anchorSegments`) instead of
    /// pooling all anchors. Pooled, the stride-8 maps weigh little (large objects score higher, at coarse strides)
    /// and the allocation silences their class scores already at a 10% cut; weighing each stride equally keeps them
    /// alive but spends the cut on the coarse strides instead, which costs more mAP on coco128 (an ablation: off).
    package var errorPerStride: Bool = false
    /// Calibration frames used for the sensitivity runs (the first ones; all frames feed the statistics).
    package var sensitivityFrames: Int = 4
    /// Sensitivity-aware allocation reaches the MACs target in this many equal steps, re-measuring every group's cost
    /// curve on top of the plan reached so far: one-group cuts of the unpruned model miss how cuts compound.
    package var allocationRounds: Int = 1
    package var threads: Int = 1

    package init(macsCut: Double) { self.macsCut = macsCut }
}

/// How the pruned network's remaining weights are refit after channels are removed.
package enum ReconstructionKind: String, Sendable, CaseIterable {
    /// Weights kept as they are.
    case none
    /// Each 1×1 consumer that lost inputs is refit by least squares from the unpruned model's Gram statistics
    /// (`Reconstruction`): blind to the error accumulated upstream.
    case teacher
    /// The teacher refit, then a layer-by-layer refit of every conv downstream of a cut on the pruned network's own
    /// activations against the unpruned outputs (`StudentRefit`). Sensitivities use the teacher refit (cheaper).
    case sequential
    /// Both the teacher and the sequential refit; the cut keeps the one whose head output is nearer the unpruned
    /// model's on the sensitivity frames (on coco128 it picked the teacher refit at 10/25% and the sequential at 50%).
    case best
}

/// One measured point of a group's cost curve: cutting `removed` channels of the group alone saves `macsSaved` and
/// changes the head's output by `error`.
package struct SensitivityPoint: Sendable {
    package var removed: Int
    package var macsSaved: Int
    package var error: Double
}

/// The result of a pruning run.
package struct PruneResult: Sendable {
    package var graph: Graph
    package var plan: PrunePlan
    package var macsBefore: Int
    package var macsAfter: Int
    package var refitConvs: Int
    /// The refit this cut kept (`.best` resolves to `.teacher` or `.sequential`).
    package var refit: ReconstructionKind
    /// Head-output error of the final model on the sensitivity frames (same metric as the sensitivities).
    package var error: Double
    package var sensitivities: [Int: [SensitivityPoint]]
}

/// Structured pruning of an optimised graph: coupled groups → importance → (sensitivity-aware) allocation under a
/// global MACs target → physical removal → least-squares refit of the consumers.
package final class StructuredPruner {
    package let graph: Graph
    package let groups: ChannelGroups
    package let stats: CalibrationStats?
    package let options: PruneOptions
    package let scores: [Int: [Double]]
    /// Per group: the fraction of the output's anchors that depend on it.
    package let outputShare: [Double]
    private let frames: [Tensor]
    private let refitFrames: [Tensor]
    /// Per refit frame: where the unpruned model sees objects (only with `options.refitFocus` > 0).
    private let refitFocus: [FocusMap]?
    package var focusMapCount: Int { refitFocus?.count ?? 0 }
    private let teacher: [[Float]]
    /// Anchor ranges the head error is averaged over (nil = all anchors pooled).
    private let segments: [Range<Int>]?
    package let macsBefore: Int
    /// Called with (done, total) while sensitivities are measured.
    package var progress: (@Sendable (Int, Int) -> Void)?

    package init(graph: Graph, calibration frames: [Tensor], options: PruneOptions) throws {
        guard options.macsCut >= 0, options.macsCut < 1 else {
            throw PruneError(.invalidPlan, "--macs-cut must be in [0, 1), got \(options.macsCut)")
        }
        guard options.roundTo >= 1 else { throw PruneError(.invalidPlan, "round-to must be ≥ 1, got \(options.roundTo)") }
        self.graph = graph
        self.groups = ChannelGroups(graph)
        self.outputShare = OutputShare.perGroup(graph, groups)
        self.options = options
        let needsData = options.importance == .activation || options.reconstruction != .none || options.sensitivityAware
        if needsData, frames.isEmpty { throw PruneError(.invalidCalibration, "this configuration needs calibration frames") }
        self.stats = needsData ? try CalibrationStats.collect(graph, frames: frames, threads: options.threads) : nil
        self.scores = try Importance.scores(graph, groups, kind: options.importance, stats: stats)
        self.frames = Array(frames.prefix(options.sensitivityFrames))
        let refitFrames = [.sequential, .best].contains(options.reconstruction) ? Array(frames.prefix(max(1, options.refitFrames))) : []
        guard options.refitZoom >= 1, options.refitZoom.isFinite else {
            throw PruneError(.invalidPlan, "refit zoom must be ≥ 1, got \(options.refitZoom)")
        }
        self.refitFrames = refitFrames + (options.refitMirror ? refitFrames.map(Self.mirrored) : [])
            + (options.refitZoom > 1 ? refitFrames.map { Self.zoomed($0, by: options.refitZoom) } : [])
        self.macsBefore = ChannelPruner.macs(graph)
        self.segments = options.errorPerStride ? OutputShare.anchorSegments(graph) : nil
        let model = Model(graph: graph, options: .init(threads: options.threads))
        self.refitFocus = options.refitFocus > 0 && !self.refitFrames.isEmpty
            ? try Self.focusMaps(graph, model: model, frames: self.refitFrames) : nil
        self.teacher = try self.frames.map { try model.run([$0])[0].data }
    }

    /// The largest fraction of `group` the allocator may remove.
    package func maxCut(_ group: ChannelGroup) -> Double {
        options.maxGroupCut * (1 - options.shareProtection * outputShare[group.id])
    }

    /// Kept counts the allocator may choose for a group: multiples of `roundTo` below the full size, within the
    /// per-group cut limit, largest first.
    package func keepChoices(_ group: ChannelGroup) -> [Int] {
        let floor = Int((Double(group.size) * (1 - maxCut(group))).rounded(.up))
        var choices: [Int] = []
        var keep = (group.size - 1) / options.roundTo * options.roundTo
        while keep >= max(floor, options.roundTo) {
            choices.append(keep)
            keep -= options.roundTo
        }
        return choices
    }

    /// The plan that keeps `keep[g]` channels of each listed group (the most important ones).
    package func plan(_ keep: [Int: Int]) -> PrunePlan {
        var plan = PrunePlan()
        for (gid, count) in keep where count < groups.groups[gid].size {
            plan.kept[gid] = Importance.keep(count, scores: scores[gid]!)
        }
        return plan
    }

    /// Applies a plan: removes channels, then refits consumers from the teacher's statistics when reconstruction is
    /// on; `final` adds the sequential refit when chosen (sensitivity runs skip it: it costs forward passes), and with
    /// `.best` keeps whichever of the two refits has the lower head error.
    package func build(_ plan: PrunePlan, final: Bool = false) throws -> (graph: Graph, refit: Int, kind: ReconstructionKind) {
        var pruned = try ChannelPruner.apply(graph, groups, plan)
        guard options.reconstruction != .none, let stats else { return (pruned, 0, .none) }
        let kept = try ChannelPruner.keptChannels(graph, groups, plan)
        let teacherRefit = Reconstruction.refit(original: graph, pruned: &pruned, kept: kept, stats: stats)
        guard final, options.reconstruction != .teacher, !plan.kept.isEmpty else { return (pruned, teacherRefit, .teacher) }
        let teacherGraph = pruned
        let refit = try StudentRefit.refit(original: graph, pruned: &pruned, kept: kept, frames: refitFrames, threads: options.threads,
                                           downstream: options.refitDownstream, ridge: options.refitRidge,
                                           focus: refitFocus, focusStrength: options.refitFocus)
        if options.reconstruction == .best, !frames.isEmpty, try error(of: teacherGraph) <= error(of: pruned) {
            return (teacherGraph, teacherRefit, .teacher)
        }
        return (pruned, refit, .sequential)
    }

    /// The unpruned model's detection-score map of each frame, for the focused refit.
    static func focusMaps(_ graph: Graph, model: Model, frames: [Tensor]) throws -> [FocusMap] {
        guard let segments = OutputShare.anchorSegments(graph) else {
            throw PruneError(.unsupportedOption, "refit focus needs a detector whose output joins per-stride anchor maps; this model's first output has none")
        }
        return try frames.map { frame in
            guard frame.shape.count == 4 else {
                throw PruneError(.invalidCalibration, "refit focus needs NCHW frames, got \(frame.shape)")
            }
            return try FocusMap.detectionScores(output: try model.run([frame])[0], segments: segments,
                                                inputHeight: frame.shape[2], inputWidth: frame.shape[3])
        }
    }

    /// An NCHW frame's top-left (H/factor)×(W/factor) window enlarged to H×W by bilinear interpolation.
    static func zoomed(_ frame: Tensor, by factor: Double) -> Tensor {
        guard frame.shape.count == 4, factor > 1 else { return frame }
        let height = frame.shape[2], width = frame.shape[3], planes = frame.data.count / max(height * width, 1)
        // Source coordinate of an output pixel centre, clamped to the window's last pixel.
        func source(_ i: Int, _ size: Int) -> (Int, Int, Float) {
            let limit = Double(size) / factor - 0.5
            let x = min(max((Double(i) + 0.5) / factor - 0.5, 0), max(limit, 0))
            let low = min(Int(x), size - 1)
            return (low, min(low + 1, size - 1), Float(x - Double(low)))
        }
        let ys = (0..<height).map { source($0, height) }, xs = (0..<width).map { source($0, width) }
        var data = [Float](repeating: 0, count: frame.data.count)
        for plane in 0..<planes {
            let base = plane * height * width
            for (y, (y0, y1, fy)) in ys.enumerated() {
                for (x, (x0, x1, fx)) in xs.enumerated() {
                    let top = frame.data[base + y0 * width + x0] * (1 - fx) + frame.data[base + y0 * width + x1] * fx
                    let bottom = frame.data[base + y1 * width + x0] * (1 - fx) + frame.data[base + y1 * width + x1] * fx
                    data[base + y * width + x] = top * (1 - fy) + bottom * fy
                }
            }
        }
        return Tensor(shape: frame.shape, data: data)
    }

    /// An NCHW frame flipped along its width.
    static func mirrored(_ frame: Tensor) -> Tensor {
        guard frame.shape.count == 4 else { return frame }
        let width = frame.shape[3]
        var data = frame.data
        for row in 0..<(frame.data.count / max(width, 1)) {
            data[(row * width)..<((row + 1) * width)].reverse()
        }
        return Tensor(shape: frame.shape, data: data)
    }

    /// Head-output error of `graph` against the unpruned model on the sensitivity frames.
    package func error(of pruned: Graph) throws -> Double {
        let model = Model(graph: pruned, options: .init(threads: options.threads))
        var total = 0.0
        for (frame, reference) in zip(frames, teacher) {
            let out = try model.run([frame])[0]
            total += HeadError.measure(student: out.data, teacher: reference, shape: out.shape, segments: segments)
        }
        return total / Double(max(frames.count, 1))
    }

    /// Each prunable group's cost curve, cut alone at the configured levels on top of `base` (kept counts of groups
    /// already cut): `removed` counts from the full group, `macsSaved` and `error` are relative to `base`.
    package func sensitivities(base: [Int: Int] = [:]) throws -> [Int: [SensitivityPoint]] {
        let baseMACs = base.isEmpty ? macsBefore : ChannelPruner.macs(try ChannelPruner.apply(graph, groups, plan(base)))
        let baseError = base.isEmpty ? 0 : try error(of: try build(plan(base)).graph)
        var work: [(ChannelGroup, [Int])] = []
        for group in groups.prunable {
            let current = base[group.id] ?? group.size
            let choices = keepChoices(group).filter { $0 < current }
            guard !choices.isEmpty else { continue }
            var picked: [Int] = []
            for level in options.levels {
                let target = Double(group.size) * (1 - level)
                if let best = choices.min(by: { abs(Double($0) - target) < abs(Double($1) - target) }), !picked.contains(best) {
                    picked.append(best)
                }
            }
            work.append((group, picked.sorted(by: >)))
        }
        let total = work.reduce(0) { $0 + $1.1.count }
        var done = 0
        var result: [Int: [SensitivityPoint]] = [:]
        for (group, keeps) in work {
            var points: [SensitivityPoint] = []
            for keep in keeps {
                let built = try build(plan(base.merging([group.id: keep]) { $1 }))
                points.append(SensitivityPoint(removed: group.size - keep, macsSaved: baseMACs - ChannelPruner.macs(built.graph),
                                               error: try error(of: built.graph) - baseError))
                done += 1
                progress?(done, total)
            }
            result[group.id] = points
        }
        return result
    }

    private var measured: [Int: [SensitivityPoint]]?

    /// Prunes to the MACs target (`cut` overrides `options.macsCut`; sensitivities are measured once and reused).
    package func run(cut: Double? = nil) throws -> PruneResult {
        let cut = cut ?? options.macsCut
        guard cut >= 0, cut < 1 else { throw PruneError(.invalidPlan, "a MACs cut must be in [0, 1), got \(cut)") }
        let target = Int((Double(macsBefore) * cut).rounded())
        var sensitivities: [Int: [SensitivityPoint]] = [:]
        var keep: [Int: Int]
        if cut == 0 {
            keep = [:]
        } else if options.sensitivityAware {
            if measured == nil { measured = try self.sensitivities() }
            sensitivities = measured!
            let rounds = max(1, options.allocationRounds)
            keep = [:]
            for round in 1...rounds {
                let curves = round == 1 ? sensitivities : try self.sensitivities(base: keep)
                keep = try allocate(curves, target: target * round / rounds, start: keep)
            }
        } else {
            keep = try uniform(target: target)
        }
        let plan = plan(keep)
        let built = try build(plan, final: true)
        return PruneResult(graph: built.graph, plan: plan, macsBefore: macsBefore, macsAfter: ChannelPruner.macs(built.graph),
                           refitConvs: built.refit, refit: built.kind, error: frames.isEmpty ? 0 : try error(of: built.graph), sensitivities: sensitivities)
    }

    /// Greedy: repeatedly take the next measured level of the group with the least error per MAC saved, until the
    /// exact MACs of the combined plan reach the target (savings are not additive where producer and consumer
    /// groups are both cut, so the exact count is re-measured and the greedy continues when short).
    /// `start`: kept counts the curves were measured on top of.
    func allocate(_ curves: [Int: [SensitivityPoint]], target: Int, start: [Int: Int] = [:]) throws -> [Int: Int] {
        var level: [Int: Int] = [:]  // group → index of the last taken point (absent = as in `start`)
        var keep = start
        while true {
            let saved = macsBefore - ChannelPruner.macs(try ChannelPruner.apply(graph, groups, plan(keep)))
            if saved >= target { return keep }
            var best: (gid: Int, ratio: Double)?
            for (gid, points) in curves {
                let next = (level[gid] ?? -1) + 1
                guard next < points.count else { continue }
                let previous = next == 0 ? SensitivityPoint(removed: 0, macsSaved: 0, error: 0) : points[next - 1]
                let gain = Double(points[next].macsSaved - previous.macsSaved)
                guard gain > 0 else { continue }
                let ratio = max(points[next].error - previous.error, 0) / gain
                if best == nil || ratio < best!.ratio || (ratio == best!.ratio && gid < best!.gid) { best = (gid, ratio) }
            }
            guard let best else {
                throw PruneError(.targetUnreachable, "cannot remove \(target) MACs of \(macsBefore) with at most \(Int(options.maxGroupCut * 100))% of each prunable group")
            }
            let next = (level[best.gid] ?? -1) + 1
            level[best.gid] = next
            keep[best.gid] = groups.groups[best.gid].size - curves[best.gid]![next].removed
        }
    }

    /// The same cut fraction everywhere, as near as rounding allows: the group with the smallest removed fraction
    /// loses the next `roundTo` channels, until the target is met.
    func uniform(target: Int) throws -> [Int: Int] {
        var keep: [Int: Int] = [:]
        var choices = Dictionary(uniqueKeysWithValues: groups.prunable.map { ($0.id, keepChoices($0)) })
        while true {
            let saved = macsBefore - ChannelPruner.macs(try ChannelPruner.apply(graph, groups, plan(keep)))
            if saved >= target { return keep }
            func fraction(_ gid: Int) -> Double { 1 - Double(keep[gid] ?? groups.groups[gid].size) / Double(groups.groups[gid].size) }
            guard let gid = choices.keys.filter({ !choices[$0]!.isEmpty }).min(by: { (fraction($0), $0) < (fraction($1), $1) }) else {
                throw PruneError(.targetUnreachable, "a uniform cut of at most \(Int(options.maxGroupCut * 100))% per group removes fewer than \(target) MACs")
            }
            keep[gid] = choices[gid]!.removeFirst()
        }
    }
}

/// How far a pruned model's head output is from the unpruned one's.
package enum HeadError {
    /// For a YOLOX-style [1, anchors, 5 + classes] output (sigmoided obj and class scores): the squared error of the
    /// detection scores obj·cls relative to the teacher's, plus the teacher-objectness-weighted squared error of the
    /// raw box regressions. For any other output: relative squared error.
    /// `segments`: anchor ranges (one per stride) whose errors are measured apart and averaged.
    package static func measure(student: [Float], teacher: [Float], shape: [Int], segments: [Range<Int>]? = nil) -> Double {
        if shape.count == 3, shape[2] > 5 {
            let width = shape[2], anchors = student.count / width
            guard let segments, segments.allSatisfy({ $0.lowerBound >= 0 && $0.upperBound <= anchors }), !segments.isEmpty else {
                return measure(student: student, teacher: teacher, width: width, anchors: 0..<anchors)
            }
            return segments.reduce(0) { $0 + measure(student: student, teacher: teacher, width: width, anchors: $1) } / Double(segments.count)
        }
        var error = 0.0, norm = 1e-12
        for (s, t) in zip(student, teacher) {
            error += Double(s - t) * Double(s - t)
            norm += Double(t) * Double(t)
        }
        return error / norm
    }

    /// The pooled YOLOX error over one range of anchors.
    static func measure(student: [Float], teacher: [Float], width: Int, anchors: Range<Int>) -> Double {
        var scoreError = 0.0, scoreNorm = 1e-12, boxError = 0.0, weight = 1e-12
        for a in anchors {
            let s = a * width
            let objT = Double(teacher[s + 4]), objS = Double(student[s + 4])
            for c in 5..<width {
                let t = objT * Double(teacher[s + c]), d = objS * Double(student[s + c]) - t
                scoreError += d * d
                scoreNorm += t * t
            }
            var box = 0.0
            for k in 0..<4 { let d = Double(student[s + k] - teacher[s + k]); box += d * d }
            boxError += objT * box
            weight += objT
        }
        return scoreError / scoreNorm + boxError / weight
    }
}
