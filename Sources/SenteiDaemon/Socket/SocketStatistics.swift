/// Counters of the event socket; `droppedClients` is keyed by reason.
public struct SocketStatistics: Sendable, Equatable {
    public var connectedClients = 0
    public var acceptedClients: UInt64 = 0
    public var publishedEvents: UInt64 = 0
    /// Events discarded because the publisher outran the socket thread (the inbox is bounded too).
    public var droppedEvents: UInt64 = 0
    /// Reasons: `slow_consumer` (queue limit reached), `over_capacity` (max clients), `write_error`. A client that
    /// hangs up itself is counted in `disconnectedClients`, not here.
    public var droppedClients: [String: UInt64] = [:]
    public var disconnectedClients: UInt64 = 0

    public init() {}

    public enum DropReason: String, Sendable {
        case slowConsumer = "slow_consumer"
        case overCapacity = "over_capacity"
        case writeError = "write_error"
    }
}
