// sentei-capture-check: drives SenteiCapture against real V4L2 drivers (run inside the QEMU guest by Tests/vm/run,
// or by hand against a real camera). Every check prints one line "CHECK <name> PASS|FAIL <details>" and the exit
// status is 0 only when it passed.
import Glibc
import SenteiCapture

func report(_ name: String, _ passed: Bool, _ details: String) -> Never {
    print("CHECK \(name) \(passed ? "PASS" : "FAIL") \(details)")
    fflush(nil)
    exit(passed ? 0 : 1)
}

let arguments: Arguments
do { arguments = try Arguments(CommandLine.arguments) } catch {
    print("sentei-capture-check: \(error)")
    exit(2)
}
let checkName = arguments.string("name") ?? arguments.command
do {
    switch arguments.command {
    case "stream": try streamCheck(arguments, name: checkName)
    case "open-error": try openErrorCheck(arguments, name: checkName)
    case "cycles": try cyclesCheck(arguments, name: checkName)
    case "replug": try replugCheck(arguments, name: checkName)
    case "feed": try feedLoopback(arguments)
    case "capture": try saveFrames(arguments)
    default:
        print("sentei-capture-check: unknown command \(arguments.command) (stream, open-error, cycles, replug, feed, capture)")
        exit(2)
    }
} catch {
    report(checkName, false, "error: \(error)")
}
