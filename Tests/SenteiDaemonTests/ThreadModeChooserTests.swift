import Testing
@testable import SenteiDaemon

@Suite struct ThreadModeChooserTests {
    /// Runs `frames` frames whose inference takes `allThreadsMs` on all threads and `oneThreadMs` on one; returns the
    /// modes the frames ran in (true = one thread).
    func drive(_ chooser: inout ThreadModeChooser, frames: Int, allThreadsMs: Double, oneThreadMs: Double) -> [Bool] {
        (0..<frames).map { _ in
            let single = chooser.nextRunsSingle()
            chooser.record(single: single, inferMs: single ? oneThreadMs : allThreadsMs)
            return single
        }
    }

    @Test func followsTheFasterModeBothWaysAndOnlyExploresTheOther() {
        var chooser = ThreadModeChooser(threads: 2)
        // Idle machine: two threads are faster; one frame in 25 tries one thread.
        let idle = drive(&chooser, frames: 250, allThreadsMs: 3.5, oneThreadMs: 4.8)
        #expect(!chooser.prefersSingle)
        #expect(idle.filter { $0 }.count == 10)
        // A busy process takes a core: two threads now take 20 ms; the switch comes within a few frames.
        let busy = drive(&chooser, frames: 250, allThreadsMs: 20, oneThreadMs: 5.5)
        let switched = busy.firstIndex(of: true).map { busy[$0...].prefix(20).allSatisfy { $0 } } ?? false
        #expect(chooser.prefersSingle)
        #expect((busy.firstIndex(of: true) ?? 99) < 10, "switched after \(busy.firstIndex(of: true) ?? -1) frames")
        #expect(switched)
        #expect(busy.filter { !$0 }.count <= 15, "two-thread frames while a core was taken: \(busy.filter { !$0 }.count)")
        // The core comes back: exploring frames see it, and two threads take over within about three of them.
        let back = drive(&chooser, frames: 250, allThreadsMs: 3.5, oneThreadMs: 4.8)
        #expect(!chooser.prefersSingle)
        let firstParallelRun = (0..<(back.count - 10)).first { i in back[i..<(i + 10)].allSatisfy { !$0 } }
        #expect((firstParallelRun ?? 999) <= 4 * ThreadModeChooser.exploreEvery, "back to two threads at frame \(firstParallelRun ?? -1)")
    }

    @Test func noiseBelowTheSwitchRatioDoesNotFlip() {
        var chooser = ThreadModeChooser(threads: 2)
        // One thread only 10% faster (within the 0.85 ratio): stays on all threads.
        _ = drive(&chooser, frames: 500, allThreadsMs: 5.0, oneThreadMs: 4.6)
        #expect(!chooser.prefersSingle)
    }

    @Test func aOneThreadModelNeverSwitches() {
        var chooser = ThreadModeChooser(threads: 1)
        let modes = drive(&chooser, frames: 100, allThreadsMs: 50, oneThreadMs: 1)
        #expect(modes.allSatisfy { !$0 })
        #expect(!chooser.prefersSingle)
    }
}
