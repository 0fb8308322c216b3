import Logging
import SenteiDaemon
import SenteiVision

typealias SenteiVisionManifest = ModelManifest

/// Config errors as log metadata, so `journalctl SENTEI_KEY=budgets.latency_ms` finds them.
enum ConfigLog {
    static func metadata(_ error: ConfigError) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "sentei.file": "\(error.file)", "sentei.key": "\(error.key)", "sentei.code": "\(error.code)",
            "sentei.expected": "\(error.expected)", "sentei.found": "\(error.found)", "sentei.error": "\(error)",
        ]
        if let line = error.line { metadata["sentei.line"] = "\(line)" }
        return metadata
    }
}
