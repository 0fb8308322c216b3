/// The socket is a pipeline sink: `emit` is `publish`, which never waits for clients.
extension EventSocketServer: EventSink {
    public func emit(_ event: Event) { publish(event) }
}
