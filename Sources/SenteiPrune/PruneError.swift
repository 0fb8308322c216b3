/// Every failure the pruning module reports: a stable `code` and a message naming the node, group or file at fault.
/// Compare errors by `code` only.
package struct PruneError: Error, CustomStringConvertible, Sendable {
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        package var description: String { name }

        /// A keep-set names a channel outside its group, keeps nothing, or a group that does not exist.
        package static let invalidPlan = Code("invalid_plan")
        /// The MACs target cannot be reached within the allowed per-group cuts.
        package static let targetUnreachable = Code("target_unreachable")
        /// Calibration data missing or not matching the model's input.
        package static let invalidCalibration = Code("invalid_calibration")
        /// An op or op variant the ONNX writer cannot express.
        package static let unsupportedExport = Code("unsupported_export")
        /// An option the model cannot serve (e.g. a refit focus without a detection output).
        package static let unsupportedOption = Code("unsupported_option")
        /// Reading or writing a file failed.
        package static let io = Code("io")
    }

    package let code: Code
    package let message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { message }
}
