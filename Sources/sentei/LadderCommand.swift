import ArgumentParser
import Foundation
import SenteiEngine
import SenteiPrune
import SenteiVision

/// `sentei ladder …`: looks at a ladder directory built by `sentei prune`.
struct LadderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ladder", abstract: "Inspect and measure a ladder directory built by `sentei prune`.",
        subcommands: [LadderReportCommand.self])
}

struct LadderReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Per level: MACs, params, p50 latency at 1 and 2 threads, mAP on a YOLO-format set, person AP on a MOT sequence, agreement with the unpruned model.")

    @Argument(help: "The ladder directory.")
    var ladder: String

    @Option(name: .long, help: "A YOLO-format dataset (images/ + labels/) for mAP@[.5:.95], mAP@.5 and agreement.")
    var data: String?

    @Option(name: .long, help: "Skip this many (sorted) images of --data.")
    var skip = 0

    @Option(name: .long, help: "Use at most this many images of --data (after --skip).")
    var limit: Int?

    @Option(name: .long, help: "Also score the images of --data from this index on separately (e.g. 64: the coco128 images a ladder calibrated on the first 64 never saw).")
    var split: Int?

    @Option(name: .long, help: "A MOTChallenge sequence for person AP.")
    var mot: String?

    @Option(name: .long, help: "Only these levels (comma-separated names); default all.")
    var levels: String?

    @Option(name: .long, help: "Timed runs per level and thread count (0 = report the manifest's latency instead).")
    var runs = 15

    @Option(name: .long, help: "Untimed warm-up runs.")
    var warmup = 3

    @Option(name: .long, help: "Threads for the accuracy runs.")
    var threads = 2

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func run() throws {
        guard runs >= 0, warmup >= 0, skip >= 0, threads >= 1 else { throw ValidationError("--runs, --warmup, --skip ≥ 0 and --threads ≥ 1") }
        var reporter = try LadderReporter(directory: ladder)
        reporter.threads = threads
        var chosen = reporter.ladder.levels
        if let levels {
            chosen = try levels.split(separator: ",").map { try reporter.ladder.requireLevel(named: String($0), directory: ladder) }
        }
        var dataset = try data.map { try LabeledDataset.yolo(root: $0) }
        if var set = dataset {
            set.images = Array(set.images.dropFirst(skip).prefix(limit ?? Int.max))
            guard !set.images.isEmpty else { throw ValidationError("--skip/--limit leave no images of \(data!)") }
            dataset = set
        }
        let sequence = try mot.map { try LabeledDataset.mot(root: $0) }
        var referenceGT: [[GroundTruth]]?
        if let dataset {
            guard let reference = reporter.reference else {
                throw ValidationError("\(ladder) has no cut-0 fp32 level at \(reporter.manifest.inputWidth) px to measure agreement against")
            }
            referenceGT = LadderReporter.groundTruth(from: try reporter.detections(reference, on: dataset))
        }

        var rows: [LadderReportRow] = []
        for (index, level) in chosen.enumerated() {
            var row = LadderReportRow(level: level)
            if let dataset, let referenceGT {
                let detections = try reporter.detections(level, on: dataset)
                var labels = dataset
                let truth = try reporter.restrict(dataset.images.map(\.groundTruth), to: level)
                for i in labels.images.indices { labels.images[i].groundTruth = truth[i] }
                row.labelled = Evaluator.evaluate(dataset: labels, detections: detections, classCount: reporter.manifest.classCount)
                let reference = try reporter.restrict(referenceGT, to: level)
                row.agreement = COCOEvaluator.evaluate(groundTruth: reference, detections: detections, classCount: reporter.manifest.classCount)
                if let split, split > 0, split < labels.images.count {
                    var tail = labels
                    tail.images = Array(labels.images[split...])
                    row.labelledSplit = Evaluator.evaluate(dataset: tail, detections: Array(detections[split...]), classCount: reporter.manifest.classCount)
                    row.agreementSplit = COCOEvaluator.evaluate(groundTruth: Array(reference[split...]), detections: Array(detections[split...]),
                                                                classCount: reporter.manifest.classCount)
                }
            }
            if let sequence {
                row.mot = Evaluator.evaluate(dataset: sequence, detections: try reporter.detections(level, on: sequence),
                                             classCount: reporter.manifest.classCount)
            }
            if runs > 0 {
                row.latency1 = try LatencyMeter.measure(reporter.model(level, threads: 1), warmup: warmup, runs: runs)
                row.latency2 = try LatencyMeter.measure(reporter.model(level, threads: 2), warmup: warmup, runs: runs)
            }
            rows.append(row)
            FileHandle.standardError.write(Data("\rmeasured \(index + 1)/\(chosen.count) \(level.name)        ".utf8))
        }
        FileHandle.standardError.write(Data("\n".utf8))
        if json { print(jsonReport(rows, reporter: reporter)) } else { printTable(rows, reporter: reporter) }
    }

    func latency(_ row: LadderReportRow) -> (Double, Double) {
        (row.latency1?.p50 ?? row.level.latencyMs.threads1, row.latency2?.p50 ?? row.level.latencyMs.threads2)
    }

    func printTable(_ rows: [LadderReportRow], reporter: LadderReporter) {
        let baseMACs = Double(reporter.reference?.macs ?? rows.first?.level.macs ?? 1)
        let baseLatency = rows.first { $0.level.name == reporter.reference?.name }.map(latency)
        print("level                 pareto  GMACs  macs%  params   p50 1t  p50 2t  lat%(1t)  mAP     mAP50   personAP  agree   agree50  calib-agree  split-mAP split-mAP50 split-agree")
        for row in rows {
            let (one, two) = latency(row)
            let share = baseLatency.map { String(format: "%7.1f", 100 * one / $0.0) } ?? "      -"
            func pct(_ value: Double?) -> String { value.map { String(format: "%6.1f", 100 * $0) } ?? "     -" }
            print(String(format: "%-20@  %-6@ %6.3f %6.1f %7.2fM %7.1f %7.1f  %@   %@  %@  %@    %@  %@   %6.1f       %@    %@      %@",
                         row.level.name, row.level.pareto ? "yes" : "no", Double(row.level.macs) / 1e9, 100 * Double(row.level.macs) / baseMACs,
                         Double(row.level.params) / 1e6, one, two, share, pct(row.labelled?.map50_95), pct(row.labelled?.map50),
                         pct(row.mot?.map50), pct(row.agreement?.map50_95), pct(row.agreement?.map50), 100 * row.level.agreement,
                         pct(row.labelledSplit?.map50_95), pct(row.labelledSplit?.map50), pct(row.agreementSplit?.map50_95)))
        }
        let measured = rows.first?.latency1 != nil ? "measured now (p50 of \(runs) runs)" : "from the manifest"
        print("latency \(measured); mAP, person AP (AP@.5) and agreement in percent; calib-agree: held-out agreement from the manifest")
    }

    func jsonReport(_ rows: [LadderReportRow], reporter: LadderReporter) -> String {
        func number(_ value: Double?) -> String { value.map { $0.isFinite ? String(format: "%.6g", $0) : "null" } ?? "null" }
        let items = rows.map { row -> String in
            let (one, two) = latency(row)
            let fields: [(String, String)] = [
                ("name", "\"\(row.level.name)\""), ("input_size", "\(row.level.inputSize)"), ("cut", number(row.level.cut)),
                ("precision", "\"\(row.level.precision.rawValue)\""), ("pareto", "\(row.level.pareto)"),
                ("macs", "\(row.level.macs)"), ("params", "\(row.level.params)"),
                ("p50_ms_1_thread", number(one)), ("p50_ms_2_threads", number(two)),
                ("min_ms_1_thread", number(row.latency1?.min)), ("min_ms_2_threads", number(row.latency2?.min)),
                ("map50_95", number(row.labelled?.map50_95)), ("map50", number(row.labelled?.map50)),
                ("person_ap50", number(row.mot?.map50)), ("person_ap50_95", number(row.mot?.map50_95)),
                ("agreement_map50_95", number(row.agreement?.map50_95)), ("agreement_map50", number(row.agreement?.map50)),
                ("calibration_agreement", number(row.level.agreement)),
                ("split_map50_95", number(row.labelledSplit?.map50_95)), ("split_map50", number(row.labelledSplit?.map50)),
                ("split_agreement_map50_95", number(row.agreementSplit?.map50_95)),
            ]
            return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
        }
        return "{\"ladder\": \"\(ladder)\", \"images\": \(data == nil ? "null" : "\"\(data!)\""), \"levels\": [\n  " + items.joined(separator: ",\n  ") + "\n]}"
    }
}
