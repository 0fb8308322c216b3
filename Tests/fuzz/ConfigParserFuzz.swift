// libFuzzer entry point for the daemon's config parser (TOMLKit/toml++ underneath, then Sentei's validation),
// compiled with the config sources by scripts/fuzz-config.sh (not part of the SwiftPM package). Every input is
// parsed as a config file. A rejected file is the expected outcome for most inputs, but every rejection must be
// precise (file, a line inside the text or none, what was expected and found) and every accepted file must hold
// the invariants the daemon relies on. A trap, a sanitizer report or a timeout is a finding. Checks go through
// `require`, whose fatalError prints its message in optimised builds (a failed `precondition` traps silently there).

let fuzzLabels = ["person", "bicycle", "car", "dog"]
let fuzzEnvironment = ConfigEnvironment(videoDevices: { [] }, replayCandidates: ["/nonexistent/replay"],
                                        directoryExists: { _ in false })

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfigParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // `SenteiConfig.load` refuses a file that is not UTF-8 before parsing ("expected UTF-8 text"), so the parser
    // only ever sees valid text; lossy decoding here would feed it U+FFFD text no real file produces.
    guard let text = String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self) else { return 0 }
    // Bytes, not Characters: "\r\n" is one Character and would hide a CRLF file's line breaks.
    let lineCount = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count
    do {
        let config = try SenteiConfig.parse(text, file: "fuzz.toml", environment: fuzzEnvironment, labels: fuzzLabels)
        check(config)
    } catch {
        require(!error.errors.isEmpty, "a rejection without a reason")
        for problem in error.errors {
            require(problem.file == "fuzz.toml", "error names another file: \(problem)")
            if let line = problem.line { require((1...lineCount + 1).contains(line), "line \(line) of \(lineCount): \(problem)") }
            require(!problem.expected.isEmpty && !problem.found.isEmpty, "vague error: \(problem)")
            _ = problem.description
        }
    }
    return 0
}

/// What `senteid` assumes of a config that passed validation.
private func check(_ config: SenteiConfig) {
    require(!config.cameras.isEmpty, "no camera")
    require(Set(config.cameras.map(\.name)).count == config.cameras.count, "duplicate camera names")
    for camera in config.cameras {
        require((1...32).contains(camera.name.count))
        require((16...8192).contains(camera.width) && (16...8192).contains(camera.height))
        require(camera.fps.isFinite && (0...240).contains(camera.fps))
    }
    let sizes = config.model.inputSizes
    require(!sizes.isEmpty && sizes == sizes.sorted(by: >) && Set(sizes).count == sizes.count)
    require(sizes.allSatisfy { $0 % 32 == 0 && (32...1280).contains($0) })
    require((1...256).contains(config.model.threads))
    let b = config.budgets
    require(b.latencyMs.map { $0.isFinite && $0 > 0 } ?? true)
    require(b.powerW.map { $0.isFinite && $0 > 0 } ?? true)
    require(b.maxLevel.map { $0 >= b.minLevel } ?? true)
    require(config.detection.threshold.isFinite && (0.01...1).contains(config.detection.threshold))
    require(config.detection.classes.allSatisfy(fuzzLabels.contains))
    require(config.detection.classThresholds.keys.allSatisfy(fuzzLabels.contains))
    require(config.outputs.socket.path.hasPrefix("/") && config.outputs.socket.path.utf8.count < 108)
    require(config.outputs.socket.mode <= 0o777)
    require(config.outputs.snapshots.maxBytes >= 1 << 20 && config.calibration.maxBytes >= 1 << 20)
    require(config.outputs.journal.events.allSatisfy(SenteiConfig.eventTypes.contains))
}

private func require(_ condition: Bool, _ message: @autoclosure () -> String = "",
                     file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fatalError("invariant broken: \(message())", file: file, line: line) }
}
