/// The lines one client has yet to receive, oldest first, with how much of the first was already written. Lines are
/// shared arrays (copy-on-write), so one event fanned out to 64 clients is stored once.
struct ClientQueue {
    private var lines: [[UInt8]] = []
    private var head = 0
    /// Bytes of `lines[head]` already sent.
    private(set) var sentOfFirst = 0

    var count: Int { lines.count - head }
    var isEmpty: Bool { head == lines.count }

    mutating func append(_ line: [UInt8]) { lines.append(line) }

    /// The first `max` pending lines (the first one from `sentOfFirst`).
    func pending(max: Int) -> ArraySlice<[UInt8]> { lines[head..<min(lines.count, head + max)] }

    /// Marks `bytes` as written, popping finished lines.
    mutating func consume(_ bytes: Int) {
        var remaining = bytes
        while remaining > 0, head < lines.count {
            let left = lines[head].count - sentOfFirst
            if remaining >= left {
                remaining -= left
                head += 1
                sentOfFirst = 0
            } else {
                sentOfFirst += remaining
                remaining = 0
            }
        }
        // Compact once the consumed prefix dominates, so memory follows the backlog rather than the history.
        if head > 1024 && head * 2 > lines.count {
            lines.removeFirst(head)
            head = 0
        }
    }
}
