/// Every failure the vision module reports: a stable `code` to match on, and a message that names the image, file,
/// field or tensor at fault. Compare errors by `code` only; the message is for people.
public struct VisionError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The JPEG could not be decoded (empty, truncated, corrupt, not a JPEG).
        public static let corruptImage = Code("corrupt_image")
        /// A raw frame's buffer is too small for its declared format and size, or the size is absurd.
        public static let invalidFrame = Code("invalid_frame")
        /// A model manifest is malformed or inconsistent with itself.
        public static let invalidManifest = Code("invalid_manifest")
        /// A model's inputs or outputs differ from what its manifest says.
        public static let manifestMismatch = Code("manifest_mismatch")
        /// The head could not be chosen from the output shape, or the output does not fit the head.
        public static let invalidOutput = Code("invalid_output")
        /// A dataset file (labels, gt.txt) is malformed or missing.
        public static let invalidDataset = Code("invalid_dataset")
        /// A class name that is not in the model's labels.
        public static let unknownClass = Code("unknown_class")
        /// Reading or writing a file, or a TurboJPEG handle, failed.
        public static let io = Code("io")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
