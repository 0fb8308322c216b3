import Glibc
import Synchronization

/// The NDJSON event socket: a Unix stream socket where every connected client receives every event as one JSON line.
///
/// Plain POSIX `poll` on one dedicated thread rather than swift-nio: the job is one listening socket plus at most a
/// few hundred write-only clients, NIOPosix would add 1–2 minutes to every clean build, and owning the loop keeps
/// the two guarantees explicit: `publish` only takes a lock and appends (the pipeline never waits for a client), and
/// each client has a bounded queue; a client that stops reading is disconnected when its queue is full, and the drop
/// is counted by reason.
///
/// On connect a client first gets a `hello` line (`{"v":1,"type":"hello","retained":N,…}`) followed by the N latest
/// state lines (stats, level change, camera lost/found per camera), so `sentei status` needs no request protocol.
public final class EventSocketServer: @unchecked Sendable {
    public struct Options: Sendable {
        public var path: String
        public var mode: UInt32 = 0o660
        /// Group owning the socket node; nil keeps the process's group.
        public var group: String? = nil
        /// Lines a client may have queued before it is dropped as a slow consumer.
        public var clientQueueLines = 4096
        public var maxClients = 256
        /// Events published but not yet fanned out; beyond this the oldest are discarded and counted.
        public var inboxCapacity = 16384

        public init(path: String) { self.path = path }

        public init(_ settings: SocketSettings) {
            path = settings.path
            mode = settings.mode
            group = settings.group
            clientQueueLines = settings.clientQueueLines
            maxClients = settings.maxClients
        }
    }

    public let options: Options
    private let listenFd: Int32
    private let wakeReadFd: Int32
    private let wakeWriteFd: Int32
    private let shared = Mutex(Shared())
    private let thread = Mutex<pthread_t?>(nil)

    private struct Shared: ~Copyable {
        var inbox: [Event] = []
        var wakePending = false
        var stopping = false
        var statistics = SocketStatistics()
    }

    // Confined to the socket thread.
    private var clients: [Int32: ClientQueue] = [:]
    /// A closed descriptor number can be reused by the next accept within one loop pass; the id tells the old
    /// client's poll result from the new client's.
    private var clientIDs: [Int32: UInt64] = [:]
    private var nextClientID: UInt64 = 0
    private var statistics = SocketStatistics()
    /// camera → slot ("stats", "level", "camera") → latest line, replayed to each new client.
    private var retained: [String: [String: [UInt8]]] = [:]
    private var scratch = [UInt8](repeating: 0, count: 64 << 10)

    /// Creates the socket node (removing a stale one left by a crashed daemon, never a live one or a non-socket),
    /// then applies mode and group. Call `start()` to begin accepting.
    public init(options: Options) throws(SocketError) {
        self.options = options
        signal(SIGPIPE, SIG_IGN)  // sends use MSG_NOSIGNAL; this also covers any library write to a closed peer.
        try Self.removeStaleSocket(at: options.path)
        let directory = Self.parentDirectory(of: options.path)
        if !directory.isEmpty && access(directory, F_OK) != 0 { _ = mkdir(directory, 0o755) }

        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.systemCall("socket", options.path, errno: errno) }
        do throws(SocketError) {
            let bound = try withUnixAddress(options.path) { bind(fd, $0, $1) }
            guard bound == 0 else { throw SocketError.systemCall("bind", options.path, errno: errno) }
            guard chmod(options.path, mode_t(options.mode)) == 0 else {
                throw SocketError.systemCall("chmod", options.path, errno: errno)
            }
            if let group = options.group {
                let gid = try Self.groupID(group)
                guard chown(options.path, uid_t.max, gid) == 0 else {
                    throw SocketError.systemCall("chown", "\(options.path), group \(group)", errno: errno)
                }
            }
            guard listen(fd, 128) == 0 else { throw SocketError.systemCall("listen", options.path, errno: errno) }
        } catch {
            close(fd)
            unlink(options.path)
            throw error
        }
        listenFd = fd
        // A self-pipe wakes the poll loop; both ends non-blocking so a full pipe never stalls the publisher.
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            let error = errno
            close(fd)
            unlink(options.path)
            throw SocketError.systemCall("pipe", options.path, errno: error)
        }
        for end in ends { Self.setNonBlockingCloseOnExec(end) }
        wakeReadFd = ends[0]
        wakeWriteFd = ends[1]
    }

    private static func setNonBlockingCloseOnExec(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
    }

    deinit {
        close(wakeReadFd)
        close(wakeWriteFd)
        close(listenFd)
    }

    /// Starts the socket thread.
    public func start() throws(SocketError) {
        try thread.withLock { (handle: inout pthread_t?) throws(SocketError) in
            guard handle == nil else { return }
            var tid = pthread_t()
            let box = Unmanaged.passRetained(self).toOpaque()
            let rc = pthread_create(&tid, nil, { arg in
                let server = Unmanaged<EventSocketServer>.fromOpaque(arg!).takeRetainedValue()
                server.run()
                return nil
            }, box)
            guard rc == 0 else {
                Unmanaged<EventSocketServer>.fromOpaque(box).release()
                throw SocketError.systemCall("pthread_create", options.path, errno: rc)
            }
            handle = tid
        }
    }

    /// Hands an event to the socket thread and returns at once: a lock, an append, and at most one non-blocking
    /// eventfd write per burst. Never waits for clients.
    public func publish(_ event: Event) {
        let wake = shared.withLock { state -> Bool in
            if state.stopping { return false }
            if state.inbox.count >= options.inboxCapacity {
                state.inbox.removeFirst()
                state.statistics.droppedEvents += 1
            }
            state.inbox.append(event)
            state.statistics.publishedEvents += 1
            if state.wakePending { return false }
            state.wakePending = true
            return true
        }
        if wake { signalWake() }
    }

    public var currentStatistics: SocketStatistics { shared.withLock { $0.statistics } }

    /// Stops the thread, closes every client (after a last non-blocking flush) and removes the socket node.
    public func stop() {
        shared.withLock { $0.stopping = true }
        signalWake()
        if let tid = thread.withLock({ handle -> pthread_t? in
            defer { handle = nil }
            return handle
        }) {
            pthread_join(tid, nil)
        }
        unlink(options.path)
    }

    private func signalWake() {
        var one: UInt8 = 1
        _ = write(wakeWriteFd, &one, 1)  // EAGAIN means the pipe is full: the thread will wake anyway.
    }

    // MARK: - Socket thread

    private func run() {
        nameCurrentThread("sentei-socket")
        var pollFds: [pollfd] = []
        var order: [(fd: Int32, id: UInt64)] = []
        while true {
            pollFds.removeAll(keepingCapacity: true)
            order.removeAll(keepingCapacity: true)
            pollFds.append(pollfd(fd: wakeReadFd, events: Int16(POLLIN), revents: 0))
            pollFds.append(pollfd(fd: listenFd, events: Int16(POLLIN), revents: 0))
            for (fd, queue) in clients {
                order.append((fd, clientIDs[fd]!))
                pollFds.append(pollfd(fd: fd, events: Int16(POLLIN) | (queue.isEmpty ? 0 : Int16(POLLOUT)), revents: 0))
            }
            let ready = poll(&pollFds, nfds_t(pollFds.count), -1)
            if ready < 0 { continue }  // EINTR; other poll errors (EFAULT, EINVAL) cannot happen with this array.

            if pollFds[0].revents != 0 {
                var drained = [UInt8](repeating: 0, count: 256)
                while read(wakeReadFd, &drained, drained.count) > 0 {}
                let (events, stopping) = shared.withLock { state -> ([Event], Bool) in
                    state.wakePending = false
                    defer { state.inbox.removeAll(keepingCapacity: true) }
                    return (state.inbox, state.stopping)
                }
                if stopping {
                    closeAllClients()
                    return
                }
                distribute(events)
            }
            if pollFds[1].revents & Int16(POLLIN) != 0 { acceptClients() }
            for (index, (fd, id)) in order.enumerated() where clientIDs[fd] == id {
                let revents = pollFds[index + 2].revents
                if revents & Int16(POLLIN) != 0 { drainInput(fd) }
                if clients[fd] != nil, revents & Int16(POLLOUT) != 0 { flush(fd) }
                if clients[fd] != nil, revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { disconnect(fd, reason: nil) }
            }
            publishStatistics()
        }
    }

    private func distribute(_ events: [Event]) {
        for event in events {
            let line = Array((event.jsonLine() + "\n").utf8)
            retain(event, line)
            for fd in Array(clients.keys) {
                guard clients[fd]!.count < options.clientQueueLines else {
                    disconnect(fd, reason: .slowConsumer)
                    continue
                }
                clients[fd]!.append(line)
            }
        }
        for fd in Array(clients.keys) where clients[fd]?.isEmpty == false { flush(fd) }
    }

    private func retain(_ event: Event, _ line: [UInt8]) {
        switch event {
        case .stats(let e): retained[e.camera, default: [:]]["stats"] = line
        case .levelChange(let e): retained[e.camera, default: [:]]["level"] = line
        case .cameraLost(let e), .cameraFound(let e): retained[e.camera, default: [:]]["camera"] = line
        case .detections, .trackNew, .trackUpdate, .trackEnd, .error, .rungWithdrawn, .rungReadmitted: break
        }
    }

    private func acceptClients() {
        while true {
            let fd = accept(listenFd, nil, nil)
            if fd >= 0 { Self.setNonBlockingCloseOnExec(fd) }
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return  // EAGAIN: no more pending; EMFILE and friends: retried on the next readiness.
            }
            guard clients.count < options.maxClients else {
                // One best-effort line saying why, so a refused client is not left guessing.
                let refusal = Array("{\"v\":\(Event.schemaVersion),\"type\":\"refused\",\"reason\":\"over_capacity\",\"max_clients\":\(options.maxClients)}\n".utf8)
                _ = refusal.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
                close(fd)
                statistics.droppedClients[SocketStatistics.DropReason.overCapacity.rawValue, default: 0] += 1
                continue
            }
            statistics.acceptedClients += 1
            var queue = ClientQueue()
            let state = retained.keys.sorted().flatMap { camera in
                ["camera", "level", "stats"].compactMap { retained[camera]?[$0] }
            }
            queue.append(Array(helloLine(retainedCount: state.count).utf8))
            for line in state { queue.append(line) }
            clients[fd] = queue
            nextClientID += 1
            clientIDs[fd] = nextClientID
            flush(fd)
        }
    }

    private func helloLine(retainedCount: Int) -> String {
        let drops = statistics.droppedClients.keys.sorted().map { "\"\($0)\":\(statistics.droppedClients[$0]!)" }
        return "{\"v\":\(Event.schemaVersion),\"type\":\"hello\",\"pid\":\(getpid()),\"clients\":\(clients.count + 1),"
            + "\"retained\":\(retainedCount),\"dropped_clients\":{\(drops.joined(separator: ","))}}\n"
    }

    /// Clients are listeners; anything they send is read and ignored so their socket never looks stuck.
    private func drainInput(_ fd: Int32) {
        while true {
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { continue }
            if n == 0 { disconnect(fd, reason: nil); return }
            if errno == EINTR { continue }
            if errno != EAGAIN && errno != EWOULDBLOCK { disconnect(fd, reason: nil) }
            return
        }
    }

    /// Writes as much of the client's queue as the kernel takes, coalescing lines into one send per 64 KiB.
    private func flush(_ fd: Int32) {
        while var queue = clients[fd], !queue.isEmpty {
            var filled = 0
            var skip = queue.sentOfFirst
            for line in queue.pending(max: 4096) {
                let take = min(line.count - skip, scratch.count - filled)
                if take <= 0 { break }
                scratch.withUnsafeMutableBytes { dst in
                    line.withUnsafeBytes { src in
                        dst.baseAddress!.advanced(by: filled).copyMemory(from: src.baseAddress!.advanced(by: skip), byteCount: take)
                    }
                }
                filled += take
                skip = 0
                if filled == scratch.count { break }
            }
            let sent = scratch.withUnsafeBytes { send(fd, $0.baseAddress, filled, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            if sent < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                disconnect(fd, reason: errno == EPIPE || errno == ECONNRESET ? nil : .writeError)
                return
            }
            queue.consume(sent)
            clients[fd] = queue
            if sent < filled { return }
        }
    }

    private func disconnect(_ fd: Int32, reason: SocketStatistics.DropReason?) {
        guard clients.removeValue(forKey: fd) != nil else { return }
        clientIDs[fd] = nil
        close(fd)
        if let reason {
            statistics.droppedClients[reason.rawValue, default: 0] += 1
        } else {
            statistics.disconnectedClients += 1
        }
    }

    private func closeAllClients() {
        for fd in Array(clients.keys) {
            flush(fd)
            if clients[fd] != nil { disconnect(fd, reason: nil) }
        }
        publishStatistics()
    }

    private func publishStatistics() {
        let local = statistics
        let connected = clients.count
        shared.withLock { state in
            state.statistics.connectedClients = connected
            state.statistics.acceptedClients = local.acceptedClients
            state.statistics.droppedClients = local.droppedClients
            state.statistics.disconnectedClients = local.disconnectedClients
        }
    }

    // MARK: - Setup helpers

    private static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[..<slash])
    }

    /// A socket node left by a dead daemon refuses connections and is removed; a live one or any other file stays.
    private static func removeStaleSocket(at path: String) throws(SocketError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw SocketError(code: .notASocket, message: "\(path) exists and is not a socket; not removing it")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { throw SocketError.systemCall("socket", path, errno: errno) }
        defer { close(probe) }
        let connected = try withUnixAddress(path) { connect(probe, $0, $1) }
        if connected == 0 {
            throw SocketError(code: .addressInUse, message: "another process is listening on \(path)")
        }
        unlink(path)
    }

    private static func groupID(_ name: String) throws(SocketError) -> gid_t {
        var group = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>? = nil
        var buffer = [CChar](repeating: 0, count: 16384)
        let rc = getgrnam_r(name, &group, &buffer, buffer.count, &result)
        guard rc == 0, let found = result else {
            throw SocketError(code: .unknownGroup, message: "socket group \(name) does not exist")
        }
        return found.pointee.gr_gid
    }
}
