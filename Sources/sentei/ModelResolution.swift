import SenteiEngine
import SenteiPrune

/// `--model` takes a model file or a ladder directory; `--level NAME` picks a rung (default: the ladder's most
/// accurate Pareto rung). One place for every command, so they all accept the same things.
enum ModelResolution {
    static func ladderSelection(model: String, level: String?) throws -> LadderSelection? {
        try LadderSelection.resolve(model: model, level: level)
    }

    /// Compiles the model file, or the ladder rung with its int8 table unless `options` has one.
    static func load(model: String, level: String?, options: Model.Options) throws -> (model: Model, selection: LadderSelection?) {
        guard let selection = try ladderSelection(model: model, level: level) else {
            return (try Model(path: model, options: options), nil)
        }
        return (try selection.load(options: options), selection)
    }
}
