import Foundation

/// Bounded hand-off between the capture and processing threads. Drop policy: when full, the OLDEST frame is dropped
/// (and counted), so capture never blocks and the processing thread always gets the freshest frames.
final class FrameQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private var head = 0
    private var closed = false
    let capacity: Int
    private(set) var droppedCount: UInt64 = 0

    init(capacity: Int) {
        precondition(capacity > 0, "a frame queue holds at least one frame")
        self.capacity = capacity
        items.reserveCapacity(2 * capacity + 2)
    }

    /// Adds `item`, dropping the oldest queued one when full. Returns false after `close()`.
    @discardableResult
    func push(_ item: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        if items.count - head >= capacity {
            head += 1
            droppedCount += 1
        }
        items.append(item)
        compact()
        condition.signal()
        return true
    }

    /// The oldest queued item; blocks while empty; nil once closed and drained.
    func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while items.count == head && !closed { condition.wait() }
        guard items.count > head else { return nil }
        let item = items[head]
        head += 1
        compact()
        return item
    }

    /// Wakes the consumer; items already queued are still delivered.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Drops everything queued (counted as dropped): frames that waited through a profiling pass are stale and
    /// would report latencies no level can cause.
    func discardAll() {
        condition.lock()
        droppedCount += UInt64(items.count - head)
        items.removeAll(keepingCapacity: true)
        head = 0
        condition.unlock()
    }

    var dropped: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return droppedCount
    }

    /// Keeps the backing array bounded: slide live items to the front once the dead prefix is as long as the queue.
    private func compact() {
        if head > capacity {
            items.removeFirst(head)
            head = 0
        }
    }
}
