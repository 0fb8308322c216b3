import Foundation
public import SenteiVision

extension SenteiConfig {
    /// Loads the file and the model manifest it names, then checks what needs the model: class names against its
    /// labels, input sizes against its strides. This is what `senteid` and `sentei config check` run, so a file that
    /// passes the check starts.
    public static func loadWithModel(path: String, environment: ConfigEnvironment = .system)
        throws(ConfigValidationError) -> (config: SenteiConfig, manifest: ModelManifest)
    {
        let unchecked = try load(path: path, environment: environment)
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let locator = KeyLocator(text: text)
        func error(_ key: String, expected: String, found: String) -> ConfigValidationError {
            ConfigValidationError(errors: [ConfigError(code: .invalidValue, file: path, line: locator.line(of: key), key: key,
                                                       expected: expected, found: found)])
        }
        let manifest: ModelManifest
        if let ladder = unchecked.model.ladder {
            // The ladder replaces model.manifest and model.input_sizes: its rungs are the levels.
            do {
                _ = try Ladder.verify(directory: ladder)
                manifest = try Ladder.detectorManifest(directory: ladder)
            } catch let cause {
                throw error("model.ladder", expected: "a ladder directory built by `sentei prune` (manifest.json with "
                            + "Pareto rungs whose files match their sha256)", found: "\(cause)")
            }
        } else {
            do {
                manifest = try ModelManifest.load(path: unchecked.model.manifest)
            } catch let cause {
                throw error("model.manifest", expected: "a readable model manifest (JSON)", found: "\(cause)")
            }
        }
        let config = try load(path: path, environment: environment, labels: manifest.classNames)
        let largestStride = manifest.head.strides?.max() ?? 32
        if config.model.ladder == nil, let bad = config.model.inputSizes.first(where: { $0 % largestStride != 0 }) {
            throw error("model.input_sizes", expected: "multiples of \(largestStride) (the model's largest stride)",
                        found: "integer \(bad)")
        }
        return (config, manifest)
    }

    /// The ONNX file a manifest names, relative to the manifest's directory.
    public static func modelPath(manifestPath: String, manifest: ModelManifest) -> String {
        if manifest.file.hasPrefix("/") { return manifest.file }
        let directory = (manifestPath as NSString).deletingLastPathComponent
        return directory.isEmpty ? manifest.file : directory + "/" + manifest.file
    }
}
