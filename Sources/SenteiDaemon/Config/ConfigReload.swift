import Synchronization

/// What a reload changes, decided per section: budgets, level bounds, detection, calibration, the daemon section
/// and outputs apply to running pipelines; a camera whose capture settings changed restarts alone; a different model
/// (manifest, ladder, input sizes, threads) restarts every pipeline.
public struct ConfigChangeSet: Sendable, Equatable {
    public var modelChanged = false
    public var daemonChanged = false
    public var addedCameras: [String] = []
    public var removedCameras: [String] = []
    /// Cameras whose source, size, format or rate changed: their capture must be reopened.
    public var restartedCameras: [String] = []
    public var budgetsChanged = false
    public var detectionChanged = false
    public var outputsChanged = false
    public var calibrationChanged = false
    /// `[healing]`: each camera's scene guard restarts with the new settings; the pipelines keep running.
    public var healingChanged = false

    public init() {}

    public static func between(_ old: SenteiConfig, _ new: SenteiConfig) -> ConfigChangeSet {
        var c = ConfigChangeSet()
        c.modelChanged = old.model != new.model
        c.daemonChanged = old.daemon != new.daemon
        let oldNames = Set(old.cameras.map(\.name)), newNames = Set(new.cameras.map(\.name))
        c.addedCameras = new.cameras.map(\.name).filter { !oldNames.contains($0) }
        c.removedCameras = old.cameras.map(\.name).filter { !newNames.contains($0) }
        c.restartedCameras = new.cameras.filter { camera in
            old.cameras.first { $0.name == camera.name }.map { $0 != camera } ?? false
        }.map(\.name)
        c.budgetsChanged = old.budgets != new.budgets
        c.detectionChanged = old.detection != new.detection
        c.outputsChanged = old.outputs != new.outputs
        c.calibrationChanged = old.calibration != new.calibration
        c.healingChanged = old.healing != new.healing
        return c
    }

    /// True when every running camera keeps capturing (nothing changed that the capture or the ladder depends on).
    public var keepsCameras: Bool {
        !modelChanged && removedCameras.isEmpty && restartedCameras.isEmpty
    }

    public var isEmpty: Bool { self == ConfigChangeSet() }

    /// `budgets, detection` — for logs and STATUS=.
    public var summary: String {
        var parts: [String] = []
        if modelChanged { parts.append("model") }
        if daemonChanged { parts.append("daemon") }
        if !addedCameras.isEmpty { parts.append("added cameras \(addedCameras.joined(separator: ","))") }
        if !removedCameras.isEmpty { parts.append("removed cameras \(removedCameras.joined(separator: ","))") }
        if !restartedCameras.isEmpty { parts.append("changed cameras \(restartedCameras.joined(separator: ","))") }
        if budgetsChanged { parts.append("budgets") }
        if detectionChanged { parts.append("detection") }
        if outputsChanged { parts.append("outputs") }
        if calibrationChanged { parts.append("calibration") }
        if healingChanged { parts.append("healing") }
        return parts.isEmpty ? "nothing" : parts.joined(separator: ", ")
    }
}

/// Holds the running config and re-reads the file on SIGHUP: a valid file replaces it and reports what changed;
/// an invalid one leaves the running config untouched and returns every error (file, line, key).
public final class ConfigReloader: Sendable {
    public enum Outcome: Sendable {
        case applied(old: SenteiConfig, new: SenteiConfig, changes: ConfigChangeSet)
        case unchanged
        case rejected(ConfigValidationError)
    }

    public let path: String
    private let environment: ConfigEnvironment
    private let state: Mutex<SenteiConfig>
    private let labels: @Sendable (ModelSettings) -> [String]?

    /// `labels` gives the class names of a model (from its manifest) so a reload checks `[detection]` class names
    /// against the model the new file names; nil skips that check.
    public init(path: String, initial: SenteiConfig, environment: ConfigEnvironment = .system,
                labels: @escaping @Sendable (ModelSettings) -> [String]? = { _ in nil }) {
        self.path = path
        self.environment = environment
        self.state = Mutex(initial)
        self.labels = labels
    }

    public var current: SenteiConfig { state.withLock { $0 } }

    public func reload() -> Outcome {
        let candidate: SenteiConfig
        do {
            let unchecked = try SenteiConfig.load(path: path, environment: environment)
            let running = current.model
            if unchecked.model.ladder != running.ladder || unchecked.model.manifest != running.manifest {
                // A new model is checked whole (ladder hashes, manifest) before anything switches to it: a broken
                // one is rejected here and the running model keeps going, instead of failing its cameras later.
                candidate = try SenteiConfig.loadWithModel(path: path, environment: environment).config
            } else {
                candidate = try SenteiConfig.load(path: path, environment: environment, labels: labels(unchecked.model))
            }
        } catch {
            return .rejected(error)
        }
        return state.withLock { running in
            let changes = ConfigChangeSet.between(running, candidate)
            if changes.isEmpty { return .unchanged }
            let old = running
            running = candidate
            return .applied(old: old, new: candidate, changes: changes)
        }
    }
}
