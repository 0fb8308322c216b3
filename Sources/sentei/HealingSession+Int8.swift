import ArgumentParser
import Foundation
import SenteiDaemon
import SenteiEngine
import SenteiPrune
import SenteiVision

/// `sentei heal --int8`: the int8 version of a healed rung. Post-training int8 (PTQ) is calibrated on the training
/// frames and scored on the held-out frames against the same reference as the fp32 rung; when it loses more than
/// `--int8-max-drop` agreement mAP50, healing continues quantization-aware (the PTQ table's int8 convs fake-quantized
/// in the student, fp32 master weights), then the table is both kept as trained and re-calibrated on the new weights,
/// and the better-agreeing int8 version wins, QAT only if it beats PTQ.
extension HealingSession {
    struct Int8Outcome {
        enum Decision: String { case ptq, qat }
        var decision: Decision
        /// Why, in one sentence (log and report).
        var reason: String
        /// The weights the int8 rung runs (the healed fp32 graph, or the QAT graph) and its table.
        var graph: Graph
        var table: QuantizationTable
        var agreement: EvaluationResult
        var fp32Agreement: EvaluationResult
        var ptqAgreement: EvaluationResult
        var ptqMOT: EvaluationResult?
        /// QAT, when it ran: agreement with the table it trained against, and with the re-calibrated one.
        var qatSteps = 0
        var qatFrozenAgreement: EvaluationResult?
        var qatRecalibratedAgreement: EvaluationResult?
        var qatTableKind: String?
        var qatMOT: EvaluationResult?
        /// The QAT weights and their table whether or not they won (a rejected pair is still written, for inspection).
        var qatGraph: Graph?
        var qatTable: QuantizationTable?
        /// CPU seconds of calibration, QAT and scoring.
        var cpuSeconds: Double
        var energyJ: Double?
    }

    /// Builds the int8 version of `healed` (the healed rung `name`); `teacherPath` is its healing teacher,
    /// `referencePath` what agreement is scored against (as in `heal`).
    func int8Rung(for healed: Result, teacherPath: String, referencePath: String?) throws -> Int8Outcome {
        let cpuStart = processCPUSeconds()
        let energy = powerMeter.map { EnergyIntegrator(meter: $0, nowNs: clock.nowNs()) }
        let name = healed.name
        let size = healed.graph.inputs.first.map { healed.graph[$0].shape[3] } ?? manifest.inputWidth
        let sized = size == manifest.inputWidth ? manifest : try manifest.atInputSize(size)
        let reference = try referencePath.map { path -> Detector in
            let graph = try loadGraph(path, size: nil)
            let size = graph.inputs.first.map { graph[$0].shape[3] } ?? manifest.inputWidth
            return try detector(graph, manifest: size == manifest.inputWidth ? manifest : try manifest.atInputSize(size))
        } ?? detector(try loadGraph(teacherPath, size: size), manifest: sized)
        let scorer = try AgreementScorer(reference: reference, frames: holdout)
        func int8Detector(_ graph: Graph, _ table: QuantizationTable) throws -> Detector {
            try Detector(manifest: sized, model: Model(graph: graph, options: .init(threads: threads, quantization: table)))
        }
        let letterbox = try Detector(manifest: sized) { _ in Tensor(zeros: [1]) }
        let calibration = try trainJPEGs.prefix(command.int8CalibCount).map { frame in
            try frame.jpeg.withUnsafeBytes { try letterbox.prepare(jpeg: $0, name: frame.name).tensor }
        }
        var options = CalibrationOptions()
        options.threads = threads
        func calibrate(_ graph: Graph) throws -> QuantizationTable {
            let table = try QuantizationTable.calibrate(graph: graph, frames: calibration, options: options)
            log("\(name): int8 calibration: \(table.int8Layers.count) of \(table.layers.count) convs int8 on \(calibration.count) frames")
            return table
        }

        let fp32 = try healed.agreementAfter ?? scorer.score(try detector(healed.graph, manifest: sized))
        let ptqTable = try calibrate(healed.graph)
        let ptqDetector = try int8Detector(healed.graph, ptqTable)
        let ptq = try scorer.score(ptqDetector)
        let drop = fp32.map50 - ptq.map50
        var outcome = Int8Outcome(decision: .ptq, reason: "", graph: healed.graph, table: ptqTable, agreement: ptq, fp32Agreement: fp32,
                                  ptqAgreement: ptq, ptqMOT: evaluateMOT(ptqDetector), cpuSeconds: 0)
        log(String(format: "%@: int8 (post-training) agreement mAP50 %.3f (mAP %.3f) vs fp32 %.3f: drop %.3f, limit %.3f%@", name,
                   ptq.map50, ptq.map50_95, fp32.map50, drop, command.int8MaxDrop,
                   outcome.ptqMOT.map { String(format: "; person AP50 %.3f AP50-95 %.3f", $0.map50, $0.map50_95) } ?? ""))
        // A limit of 0 asks for QAT whatever post-training int8 measures (the held-out frames may be too few to see a drop).
        if command.int8MaxDrop > 0 && drop <= command.int8MaxDrop {
            outcome.reason = String(format: "post-training int8 loses %.3f agreement mAP50 (limit %.3f): no QAT", drop, command.int8MaxDrop)
        } else {
            try quantizationAwareHealing(healed, teacherPath: teacherPath, size: size, manifest: sized, ptqTable: ptqTable,
                                         scorer: scorer, int8Detector: int8Detector, calibrate: calibrate, drop: drop, outcome: &outcome)
        }
        outcome.cpuSeconds = processCPUSeconds() - cpuStart
        if let energy {
            energy.sample(nowNs: clock.nowNs())
            outcome.energyJ = energy.isComplete ? energy.joules : nil
        }
        log("\(name): int8 rung: \(outcome.decision.rawValue) — \(outcome.reason)")
        return outcome
    }

    private func quantizationAwareHealing(
        _ healed: Result, teacherPath: String, size: Int, manifest sized: ModelManifest, ptqTable: QuantizationTable,
        scorer: AgreementScorer, int8Detector: (Graph, QuantizationTable) throws -> Detector,
        calibrate: (Graph) throws -> QuantizationTable, drop: Double, outcome: inout Int8Outcome
    ) throws {
        let name = healed.name
        var settings = healerSettings()
        settings.quantization = ptqTable
        if let lr = command.qatLr { settings.optimizer.learningRate = lr }
        let budget: RungHealer.Budget
        if let steps = command.qatSteps { budget = .steps(steps) } else if let minutes = command.qatMinutes {
            budget = .cpuSeconds(minutes * 60)
        } else if let steps = command.steps { budget = .steps(max(1, steps / 4)) } else { budget = .cpuSeconds(command.minutes! * 60 / 4) }
        let teacher = try loadGraph(teacherPath, size: size)
        let start = processCPUSeconds()
        let healer = try RungHealer(student: healed.graph, teacher: teacher, frames: train, manifest: sized, settings: settings, budget: budget)
        log(String(format: "%@: quantization-aware healing (%d convs fake-quantized), %@", name,
                   healer.trainer.student.fakeQuantizedLayers.count, budget.description))
        try healer.run(cpuStart: start) { progress in
            var agreement: Double?
            if progress.step % command.evalEvery == 0 {
                agreement = try scorer.score(try int8Detector(healer.healedGraph, ptqTable)).map50
            }
            let t = progress.stats.terms
            FileHandle.standardError.write(Data(String(
                format: "\r%@ qat step %d/%d  loss %.4f (obj %.3f cls %.3f box %.3f feat %.3f)  int8 agreement %@  %.2f s/step  cpu %.0f s   ",
                name, progress.step, progress.totalSteps, t.total, t.objectness, t.classes, t.box, t.features,
                agreement.map { String(format: "%.3f", $0) } ?? "  -  ", progress.stepCPU, progress.cpuSeconds).utf8))
            if agreement != nil { FileHandle.standardError.write(Data("\n".utf8)) }
        }
        FileHandle.standardError.write(Data("\n".utf8))
        let trained = healer.healedGraph
        outcome.qatSteps = healer.trainer.optimizer.step
        // The table QAT trained against, and one calibrated afresh on the new weights: the better one is kept.
        let frozenDetector = try int8Detector(trained, ptqTable)
        let frozen = try scorer.score(frozenDetector)
        let recalibratedTable = try calibrate(trained)
        let recalibratedDetector = try int8Detector(trained, recalibratedTable)
        let recalibrated = try scorer.score(recalibratedDetector)
        outcome.qatFrozenAgreement = frozen
        outcome.qatRecalibratedAgreement = recalibrated
        let keepFrozen = frozen.map50 >= recalibrated.map50
        let (table, agreement, detector) = keepFrozen ? (ptqTable, frozen, frozenDetector) : (recalibratedTable, recalibrated, recalibratedDetector)
        outcome.qatTableKind = keepFrozen ? "trained-against" : "re-calibrated"
        outcome.qatGraph = trained
        outcome.qatTable = table
        outcome.qatMOT = evaluateMOT(detector)
        log(String(format: "%@: after %d QAT steps (%.0f CPU s): int8 agreement mAP50 %.3f with the trained-against table, %.3f re-calibrated (post-training %.3f)%@",
                   name, outcome.qatSteps, processCPUSeconds() - start, frozen.map50, recalibrated.map50, outcome.ptqAgreement.map50,
                   outcome.qatMOT.map { String(format: "; person AP50 %.3f AP50-95 %.3f", $0.map50, $0.map50_95) } ?? ""))
        if agreement.map50 > outcome.ptqAgreement.map50 {
            outcome.decision = .qat
            outcome.graph = trained
            outcome.table = table
            outcome.agreement = agreement
            outcome.reason = String(format: "post-training int8 lost %.3f agreement mAP50 (limit %.3f); QAT (%@ table) raised int8 agreement %.3f → %.3f",
                                    drop, command.int8MaxDrop, outcome.qatTableKind!, outcome.ptqAgreement.map50, agreement.map50)
        } else {
            outcome.reason = String(format: "post-training int8 lost %.3f agreement mAP50 (limit %.3f); QAT reached %.3f, not above post-training %.3f: post-training kept",
                                    drop, command.int8MaxDrop, agreement.map50, outcome.ptqAgreement.map50)
        }
    }

    /// The report's `int8` object of one rung.
    static func reportJSON(_ o: Int8Outcome?) -> String {
        guard let o else { return "null" }
        func eval(_ e: EvaluationResult?) -> String {
            e.map { String(format: "{\"map50\": %.4f, \"map50_95\": %.4f}", $0.map50, $0.map50_95) } ?? "null"
        }
        return """
            {"decision": "\(o.decision.rawValue)", "reason": \(jsonString(o.reason)), "int8_layers": \(o.table.int8Layers.count), \
            "agreement_fp32": \(eval(o.fp32Agreement)), "agreement_ptq": \(eval(o.ptqAgreement)), \
            "agreement_qat_trained_table": \(eval(o.qatFrozenAgreement)), "agreement_qat_recalibrated": \(eval(o.qatRecalibratedAgreement)), \
            "qat_steps": \(o.qatSteps), "mot_ptq": \(eval(o.ptqMOT)), "mot_qat": \(eval(o.qatMOT)), "cpu_seconds": \(String(format: "%.1f", o.cpuSeconds))}
            """
    }
}

extension RungHealer.Budget {
    var description: String {
        switch self {
        case .steps(let n): return "\(n) steps"
        case .cpuSeconds(let s): return String(format: "%.0f CPU s", s)
        }
    }
}
