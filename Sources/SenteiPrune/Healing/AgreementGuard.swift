/// When a healed rung has stopped agreeing with the unpruned model: a healed rung is a specialist for the scene it
/// was healed on, so its agreement on fresh frames is checked now and then, and a sustained fall well below the
/// agreement it was admitted with means the scene changed (night, a moved camera, a new kind of object).
///
/// Pure: the caller measures agreement (mAP50 against the unpruned model's detections on a batch of fresh frames)
/// and passes it in; one noisy batch never withdraws a rung, `sustained` batches in a row below the threshold do.
package struct AgreementGuard: Sendable, Equatable {
    package struct Settings: Sendable, Equatable {
        /// A check fails below `ratio` × the admitted agreement.
        package var ratio = 0.7
        /// Consecutive failed checks that withdraw the rung.
        package var sustained = 3
        package init(ratio: Double = 0.7, sustained: Int = 3) {
            self.ratio = ratio
            self.sustained = sustained
        }
    }

    package enum Verdict: Sendable, Equatable {
        case agrees
        /// Below the threshold for `checks` checks in a row, not yet enough to withdraw.
        case below(checks: Int)
        /// Sustained drop: withdraw the rung. `meanMAP50` is the mean over the failed checks.
        case dropped(meanMAP50: Double)
    }

    package let admittedMAP50: Double
    package let settings: Settings
    /// The failed checks since the last passing one.
    package private(set) var failing: [Double] = []

    package init(admittedMAP50: Double, settings: Settings = Settings()) throws {
        guard admittedMAP50.isFinite, (0...1).contains(admittedMAP50) else {
            throw PruneError(.invalidPlan, "guard: admitted agreement must be in [0, 1], got \(admittedMAP50)")
        }
        guard settings.ratio > 0, settings.ratio <= 1, settings.sustained >= 1 else {
            throw PruneError(.invalidPlan, "guard: ratio must be in (0, 1] and sustained ≥ 1, got \(settings.ratio), \(settings.sustained)")
        }
        self.admittedMAP50 = admittedMAP50
        self.settings = settings
    }

    package var threshold: Double { admittedMAP50 * settings.ratio }

    package mutating func record(_ map50: Double) -> Verdict {
        guard map50 < threshold else {
            failing.removeAll()
            return .agrees
        }
        failing.append(map50)
        guard failing.count >= settings.sustained else { return .below(checks: failing.count) }
        let mean = failing.reduce(0, +) / Double(failing.count)
        failing.removeAll()
        return .dropped(meanMAP50: mean)
    }
}
