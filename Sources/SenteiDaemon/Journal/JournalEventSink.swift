import Foundation
import Synchronization

/// Journal writes leave the pipeline thread: sd_journal_sendv can block when journald is slow, and the pipeline
/// must never wait. Events go into a bounded queue (oldest dropped and counted when full) drained by one thread.
public final class JournalEventSink: EventSink, @unchecked Sendable {
    private struct State {
        var queue: [Event] = []
        var journal: EventJournal
        var stopping = false
        var dropped: UInt64 = 0
    }

    public let capacity: Int
    private let state: Mutex<State>
    private let wake = NSCondition()
    private let finished = DispatchSemaphore(value: 0)

    public init(journal: EventJournal, capacity: Int = 1024) {
        self.capacity = capacity
        self.state = Mutex(State(journal: journal))
        let thread = Thread { [self] in
            nameCurrentThread("sentei-journal")
            drain()
        }
        thread.name = "sentei-journal"
        thread.start()
    }

    public func emit(_ event: Event) {
        let wanted = state.withLock { state -> Bool in
            guard !state.stopping, state.journal.types.contains(event.type) else { return false }
            if state.queue.count >= capacity {
                state.queue.removeFirst()
                state.dropped += 1
            }
            state.queue.append(event)
            return true
        }
        if wanted {
            wake.lock()
            wake.signal()
            wake.unlock()
        }
    }

    /// Swaps the event filter (a reload of `[outputs.journal]`).
    public func setJournal(_ journal: EventJournal) { state.withLock { $0.journal = journal } }

    public var droppedEvents: UInt64 { state.withLock { $0.dropped } }

    /// Writes what is queued, then ends the thread.
    public func stop() {
        state.withLock { $0.stopping = true }
        wake.lock()
        wake.signal()
        wake.unlock()
        finished.wait()
    }

    private func drain() {
        while true {
            let (batch, journal, stopping) = state.withLock { state in
                defer { state.queue.removeAll(keepingCapacity: true) }
                return (state.queue, state.journal, state.stopping)
            }
            for event in batch { journal.write(event) }
            if stopping {
                finished.signal()
                return
            }
            if batch.isEmpty {
                wake.lock()
                if state.withLock({ $0.queue.isEmpty && !$0.stopping }) { _ = wake.wait(until: Date() + 1) }
                wake.unlock()
            }
        }
    }
}
