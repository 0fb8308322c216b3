/// A controller set-up the ladder cannot honour; the message names the config key.
public struct ControllerError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
