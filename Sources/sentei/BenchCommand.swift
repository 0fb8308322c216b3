import ArgumentParser
import Foundation
import SenteiEngine

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Time a model's forward pass (input: a fixed pseudo-random image).")

    @OptionGroup var options: ModelOptions

    @Option(name: .long, help: "Timed runs.")
    var runs = 50

    @Option(name: .long, help: "Untimed warm-up runs.")
    var warmup = 5

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    @Flag(name: .long, help: "Also print the time per layer (to stderr), slowest first: mean and fastest run.")
    var profile = false

    @Flag(name: .long, help: "With --profile: every layer, not only the 40 slowest.")
    var allLayers = false

    @Option(name: .long, help: "Start a run every this many ms (40 = a 25 fps camera), idle in between, as the daemon is; default: back to back.")
    var periodMs: Double?

    func run() throws {
        guard runs >= 1, warmup >= 0 else { throw ValidationError("--runs must be ≥ 1 and --warmup ≥ 0") }
        if let periodMs, !(periodMs > 0 && periodMs < 10_000) { throw ValidationError("--period-ms must be in (0, 10000)") }
        let model = try options.load()
        var seed: UInt32 = 12345
        let inputs = model.inputs.map { info -> Tensor in
            let count = info.shape.reduce(1, *)
            let data = (0..<count).map { _ -> Float in
                seed = seed &* 1_664_525 &+ 1_013_904_223
                return Float(seed >> 24)  // 0…255, like image pixels
            }
            return Tensor(shape: info.shape, data: data)
        }
        // The daemon's path: the input is written into the arena and the outputs are read in place (no copies).
        // A run is timed from the moment its input is in place: the copy here stands for the daemon's letterbox,
        // which writes straight into the arena and is timed as a stage of its own, and ONNX Runtime (which
        // bench/compare_ort.py times alongside) reads the caller's array in place — its run and a run with
        // pre-bound buffers time the same. The copy of YOLOX's 2 MB input took 2–4% of a frame. Models with
        // several inputs go through run(_:), copies included.
        func runOnce() throws -> UInt64 {
            var start = DispatchTime.now().uptimeNanoseconds
            if inputs.count == 1 {
                try model.run(fill: { arena in
                    inputs[0].data.withUnsafeBufferPointer { arena.baseAddress!.update(from: $0.baseAddress!, count: $0.count) }
                    start = DispatchTime.now().uptimeNanoseconds
                }) { _ in }
            } else {
                _ = try model.run(inputs)
            }
            return start
        }
        for _ in 0..<warmup { _ = try runOnce() }
        if profile { model.enableProfiling() }
        var times: [Double] = []
        times.reserveCapacity(runs)
        for _ in 0..<runs {
            let start = try runOnce()
            let end = DispatchTime.now().uptimeNanoseconds
            times.append(Double(end - start) / 1e6)
            if let periodMs {
                let idle = periodMs * 1e6 - Double(end - start)
                if idle > 0 { usleep(useconds_t(idle / 1e3)) }
            }
        }
        times.sort()
        func percentile(_ p: Double) -> Double { times[min(times.count - 1, Int((Double(times.count - 1) * p).rounded()))] }
        let macs = model.totalMACs
        let report: [(String, String)] = [
            ("model", "\"\((options.model as NSString).lastPathComponent)\""),
            ("threads", "\(model.threads)"),
            ("kernels", "\"\(model.kernelName)\(model.int8Summary.map { " + " + $0 } ?? "")\""),
            ("runs", "\(runs)"),
            ("min_ms", String(format: "%.3f", times[0])),
            ("p50_ms", String(format: "%.3f", percentile(0.5))),
            ("p90_ms", String(format: "%.3f", percentile(0.9))),
            ("mean_ms", String(format: "%.3f", times.reduce(0, +) / Double(times.count))),
            ("gmacs", String(format: "%.4f", Double(macs) / 1e9)),
            ("gflops_at_min", String(format: "%.1f", 2 * Double(macs) / times[0] / 1e6)),
            ("arena_bytes", "\(model.arenaBytes)"),
            ("weight_bytes", "\(model.weightBytes)"),
            ("peak_rss_bytes", "\(peakResidentBytes())"),
            // Measured after the runs, so it neither warms nor disturbs them.
            ("fp32_peak_gflops_per_core", String(format: "%.1f", KernelISA.best.measuredFP32PeakGFLOPS())),
        ]
        if profile {
            let rows = model.profile.sorted { $0.nanoseconds > $1.nanoseconds }
            let total = rows.reduce(0) { $0 + $1.nanoseconds }
            // Mean and fastest run per step: on a shared host the minimum is what the kernel costs.
            FileHandle.standardError.write("    mean      min  share\n".data(using: .utf8)!)
            for row in rows.prefix(allLayers ? rows.count : 40) {
                let ms = Double(row.nanoseconds) / Double(runs) / 1e6, minMs = Double(row.minimumNanoseconds) / 1e6
                FileHandle.standardError.write("\(String(format: "%8.3f %8.3f %5.1f%%", ms, minMs, 100 * Double(row.nanoseconds) / Double(max(total, 1))))  \(row.kind)  \(row.name)\n".data(using: .utf8)!)
            }
            // Totals per kernel kind show where time goes beyond the 40 slowest layers.
            var byKind: [String: (ns: UInt64, minNs: UInt64, count: Int)] = [:]
            for row in rows {
                byKind[row.kind, default: (0, 0, 0)].ns += row.nanoseconds
                byKind[row.kind, default: (0, 0, 0)].minNs += row.minimumNanoseconds
                byKind[row.kind, default: (0, 0, 0)].count += 1
            }
            for (kind, sum) in byKind.sorted(by: { $0.value.ns > $1.value.ns }) {
                let ms = Double(sum.ns) / Double(runs) / 1e6, minMs = Double(sum.minNs) / 1e6
                FileHandle.standardError.write("\(String(format: "%8.3f %8.3f %5.1f%%", ms, minMs, 100 * Double(sum.ns) / Double(max(total, 1))))  \(kind) ×\(sum.count) (all)\n".data(using: .utf8)!)
            }
        }
        if json {
            print("{" + report.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
        } else {
            for (key, value) in report { print("\(key): \(value)") }
        }
    }
}

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "List the model's nodes after fusion: kernel, output shape, MACs.")

    @OptionGroup var options: ModelOptions

    func run() throws {
        let model = try options.load()
        print("inputs:  " + model.inputs.map(\.description).joined(separator: ", "))
        print("outputs: " + model.outputs.map(\.description).joined(separator: ", "))
        let layers = model.layers
        let width = min(48, layers.map(\.name.count).max() ?? 10)
        let kindWidth = max(26, (layers.map(\.kind.count).max() ?? 0) + 2)
        for layer in layers {
            let name = layer.name.count > width ? "…" + layer.name.suffix(width - 1) : layer.name
            let shape = layer.shape.map(String.init).joined(separator: "×")
            let macs = layer.macs > 0 ? String(format: "%10.2f M", Double(layer.macs) / 1e6) : ""
            print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + layer.kind.padding(toLength: kindWidth, withPad: " ", startingAt: 0)
                  + shape.padding(toLength: 18, withPad: " ", startingAt: 0) + macs)
        }
        print(String(format: "%d nodes, %.3f GMACs, arena %.2f MB, weights %.2f MB, kernels %@", layers.count,
                     Double(model.totalMACs) / 1e9, Double(model.arenaBytes) / 1e6, Double(model.weightBytes) / 1e6, model.kernelName))
        for line in model.laneSummary { print("lanes (\(model.threads) threads): " + line) }
    }
}

/// This process image's peak resident set (VmHWM). Not getrusage's ru_maxrss: Linux carries that across fork and
/// exec, so a bench started by a big parent (Python) reported the parent's peak.
func peakResidentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kb = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
    else { return 0 }
    return kb * 1024
}
