import Synchronization

/// Where a pipeline's events go: the socket and the journal implement it; `MemoryEventSink` keeps them for tests.
/// `emit` is called on the pipeline's processing thread, once per event in order, so it must not block: queue the
/// event and return.
public protocol EventSink: AnyObject, Sendable {
    func emit(_ event: Event)
}

/// Keeps every event in memory (tests, `sentei` one-shot runs).
public final class MemoryEventSink: EventSink {
    private let storage = Mutex<[Event]>([])

    public init() {}

    public func emit(_ event: Event) { storage.withLock { $0.append(event) } }

    public var events: [Event] { storage.withLock { $0 } }

    public func events(ofType type: String) -> [Event] { events.filter { $0.type == type } }
}

/// Sends every event to several sinks (socket + journal).
public final class FanOutEventSink: EventSink {
    public let sinks: [any EventSink]
    public init(_ sinks: [any EventSink]) { self.sinks = sinks }
    public func emit(_ event: Event) { for sink in sinks { sink.emit(event) } }
}
